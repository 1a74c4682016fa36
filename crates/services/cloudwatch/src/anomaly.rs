//! Anomaly detection bands, as a documented simple model (an approximation of AWS's, which
//! learns trends and daily and weekly seasonality): for a metric and statistic, the values of
//! the statistic per period over the training window, the two weeks before the end of the
//! query (less the detector's `Configuration.ExcludedTimeRanges`), give a mean μ and a standard
//! deviation σ; the band is `[μ − k·σ, μ + k·σ]`, constant over the query's timestamps.
//! `ANOMALY_DETECTION_BAND(m, k)` (k defaults to 2) answers it as two results of the
//! expression's id, labelled `<label> Lower` and `<label> Upper`, at the timestamps of `m`'s
//! period. A detector is `TRAINED` once its metric has [`MIN_TRAINING_POINTS`] values in the
//! window (`PENDING_TRAINING` before).

use serde_json::Value;
use snapstack_engine::{Partition, Snapshot};

use crate::expr::{Ast, Series};
use crate::metrics::{MetricId, bucket_stat};
use crate::*;

/// The training window (AWS trains on up to two weeks of data).
pub const TRAINING_MS: u64 = 14 * 86_400_000;
/// Values a model needs before it is trained.
pub const MIN_TRAINING_POINTS: usize = 3;

/// `ANOMALY_DETECTION_BAND(id[, k])`: the id and k, if the expression is one.
pub(crate) fn band_call(ast: &Ast) -> Option<Result<(String, f64), String>> {
    let Ast::Call(f, args) = ast else { return None };
    if f != "ANOMALY_DETECTION_BAND" {
        return None;
    }
    Some(match args.as_slice() {
        [Ast::Id(id)] => Ok((id.clone(), 2.0)),
        [Ast::Id(id), Ast::Num(k)] if *k > 0.0 && k.is_finite() => Ok((id.clone(), *k)),
        _ => Err(
            "ANOMALY_DETECTION_BAND takes the id of a metric and a positive number of standard deviations."
                .into(),
        ),
    })
}

/// The comparison operators of an alarm on an anomaly detection band.
pub const BAND_OPERATORS: [&str; 3] = [
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];

pub fn is_band_operator(op: &str) -> bool {
    BAND_OPERATORS.contains(&op)
}

/// Whether `x` breaches the band `[lo, hi]` by the operator.
pub fn outside_band(op: &str, x: f64, lo: f64, hi: f64) -> bool {
    match op {
        "LessThanLowerOrGreaterThanUpperThreshold" => x < lo || x > hi,
        "LessThanLowerThreshold" => x < lo,
        "GreaterThanUpperThreshold" => x > hi,
        _ => false,
    }
}

/// Each of `n` windows' band (from `start`, one per `period`), from GetMetricData's results of
/// the band's id (`<label> Lower`, then `<label> Upper`).
pub(crate) fn band_windows(
    results: &[Value],
    id: &str,
    start: u64,
    period: u64,
    n: usize,
) -> Vec<Option<(f64, f64)>> {
    let mut lo = vec![None; n];
    let mut hi = vec![None; n];
    for r in results.iter().filter(|r| r["Id"] == id) {
        let label = r["Label"].as_str().unwrap_or_default();
        let side = if label.ends_with("Upper") {
            &mut hi
        } else {
            &mut lo
        };
        let ts = r["Timestamps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let vs = r["Values"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (t, v) in ts.iter().zip(vs) {
            let (Some(t), Some(v)) = (t.as_f64(), v.as_f64()) else {
                continue;
            };
            let t = (t * 1000.0) as u64;
            if t < start {
                continue;
            }
            if let Some(slot) = side.get_mut(((t - start) / period.max(1)) as usize) {
                *slot = Some(v);
            }
        }
    }
    lo.into_iter()
        .zip(hi)
        .map(|(l, h)| Some((l?, h?)))
        .collect()
}

/// The state reason of an alarm on a band, as AWS words it.
pub(crate) fn band_reason(
    op: &str,
    state: &str,
    breaching: usize,
    n: usize,
    m: usize,
    recent: &[String],
    bands: &[(f64, f64)],
) -> String {
    let lows: Vec<String> = bands.iter().map(|b| b.0.to_string()).collect();
    let highs: Vec<String> = bands.iter().map(|b| b.1.to_string()).collect();
    let (lows, highs) = (lows.join(", "), highs.join(", "));
    let words = match op {
        "LessThanLowerThreshold" => format!("less than the lower thresholds [{lows}]"),
        "GreaterThanUpperThreshold" => format!("greater than the upper thresholds [{highs}]"),
        _ => format!(
            "less than the lower thresholds [{lows}] or greater than the upper thresholds [{highs}]"
        ),
    };
    format!(
        "Thresholds Crossed: {breaching} out of the last {n} datapoints [{}] {} {}{words} (minimum {m} datapoint{} for OK -> ALARM transition).",
        recent.join(", "),
        if breaching == 1 { "was" } else { "were" },
        if state == "ALARM" { "" } else { "not " },
        if m == 1 { "" } else { "s" },
    )
}

/// The values of a statistic per period over `[from, to)`, minus excluded ranges.
fn training_values(
    snap: &Snapshot<CwRecord>,
    p: &Partition,
    m: &MetricId<'_>,
    stat: &str,
    period: u64,
    (from, to): (u64, u64),
    excluded: &[(u64, u64)],
) -> Vec<f64> {
    bucket_stat(snap, p, m, (from, to, period), None, stat)
        .into_iter()
        .filter(|(b, _)| !excluded.iter().any(|(s, e)| b >= s && b < e))
        .map(|(_, x)| x)
        .filter(|x| x.is_finite())
        .collect()
}

/// Mean and (population) standard deviation.
pub fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

fn excluded_ranges(d: &Value) -> Vec<(u64, u64)> {
    d.pointer("/Configuration/ExcludedTimeRanges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let s = time_of(r, "StartTime")?.max(0) as u64;
            let e = time_of(r, "EndTime")?.max(0) as u64;
            Some((s, e))
        })
        .collect()
}

impl CloudWatch {
    /// The band of a MetricStat query (`ms`) with `k` deviations, over `grid`: (lower, upper).
    pub(crate) fn band(
        &self,
        snap: &Snapshot<CwRecord>,
        p: &Partition,
        ms: &Value,
        k: f64,
        end: u64,
        grid: &[u64],
    ) -> (Series, Series) {
        let metric = ms.get("Metric").cloned().unwrap_or_default();
        let (Some(ns), Some(name), Some(stat)) = (
            str_of(&metric, "Namespace"),
            str_of(&metric, "MetricName"),
            str_of(ms, "Stat"),
        ) else {
            return Default::default();
        };
        let dims = dims_of(&metric, "Dimensions");
        let period = int_of(ms, "Period").unwrap_or(60).max(1) as u64 * 1000;
        let detector_key = resource_key(
            p,
            crate::catalog::ANOMALY_DETECTOR,
            &format!("single:{ns}\u{1}{name}\u{1}{}\u{1}{stat}", dim_key(&dims)),
        );
        let excluded = match snap.get(&detector_key) {
            Some(CwRecord::Resource(r)) => {
                excluded_ranges(&serde_json::from_str(&r.body).unwrap_or_default())
            }
            _ => Vec::new(),
        };
        let m = MetricId {
            ns,
            name,
            dims: &dims,
        };
        let window = (end.saturating_sub(TRAINING_MS), end);
        let xs = training_values(snap, p, &m, stat, period, window, &excluded);
        let Some((mean, sd)) = mean_std(&xs) else {
            return Default::default();
        };
        let lo = grid.iter().map(|t| (*t, mean - k * sd)).collect();
        let hi = grid.iter().map(|t| (*t, mean + k * sd)).collect();
        (lo, hi)
    }

    /// A single-metric detector's state at `now`: TRAINED once its metric has enough values in
    /// the training window.
    pub(crate) fn detector_state(&self, p: &Partition, d: &Value, now: u64) -> &'static str {
        let s = d.get("SingleMetricAnomalyDetector").unwrap_or(d);
        let (Some(ns), Some(name), Some(stat)) = (
            str_of(s, "Namespace"),
            str_of(s, "MetricName"),
            str_of(s, "Stat"),
        ) else {
            // Metric math detectors: trained like their first metric is not modelled.
            return "PENDING_TRAINING";
        };
        let dims = dims_of(s, "Dimensions");
        let m = MetricId {
            ns,
            name,
            dims: &dims,
        };
        let snap = self.store.snapshot();
        let xs = training_values(
            &snap,
            p,
            &m,
            stat,
            300_000,
            (now.saturating_sub(TRAINING_MS), now),
            &excluded_ranges(d),
        );
        if xs.len() >= MIN_TRAINING_POINTS {
            "TRAINED"
        } else {
            "PENDING_TRAINING"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use snapstack_service::RequestContext;

    const NOW: u64 = 1_700_002_800_000;

    #[test]
    fn band_is_mean_plus_minus_k_sigma_of_the_training_window() {
        let c = CloudWatch::new();
        c.set_clock(NOW);
        let ctx = RequestContext::from_scope(None);
        let det = json!({"SingleMetricAnomalyDetector": {"Namespace": "A", "MetricName": "m", "Stat": "Average"}});
        c.handle(&ctx, "PutAnomalyDetector", &det).unwrap();
        let state = |c: &CloudWatch| {
            c.handle(&ctx, "DescribeAnomalyDetectors", &json!({"Namespace": "A"}))
                .unwrap()
                .value["AnomalyDetectors"][0]["StateValue"]
                .clone()
        };
        assert_eq!(state(&c), "PENDING_TRAINING");
        // One value per 5 minutes over the last hour: 10, 20, 10, 20, ... (μ 15, σ 5).
        let data: Vec<Value> = (0..12u64)
            .map(|i| {
                json!({"MetricName": "m", "Value": if i % 2 == 0 { 10.0 } else { 20.0 },
                "Timestamp": (NOW - 3_600_000 + i * 300_000) as f64 / 1000.0})
            })
            .collect();
        c.handle(
            &ctx,
            "PutMetricData",
            &json!({"Namespace": "A", "MetricData": data}),
        )
        .unwrap();
        assert_eq!(state(&c), "TRAINED");
        let r = c
            .handle(&ctx, "GetMetricData", &json!({
                "StartTime": (NOW - 3_600_000) as f64 / 1000.0, "EndTime": NOW as f64 / 1000.0,
                "MetricDataQueries": [
                    {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "A", "MetricName": "m"}, "Period": 300, "Stat": "Average"}},
                    {"Id": "ad", "Expression": "ANOMALY_DETECTION_BAND(m1, 3)", "Label": "band"},
                ]}))
            .unwrap()
            .value;
        let res = r["MetricDataResults"].as_array().unwrap();
        let lower = res.iter().find(|x| x["Label"] == "band Lower").unwrap();
        let upper = res.iter().find(|x| x["Label"] == "band Upper").unwrap();
        assert_eq!(lower["Values"][0], 0.0);
        assert_eq!(upper["Values"][0], 30.0);
        assert_eq!(lower["Values"].as_array().unwrap().len(), 12);
        let bad = c.handle(&ctx, "GetMetricData", &json!({
            "StartTime": (NOW - 3_600_000) as f64 / 1000.0, "EndTime": NOW as f64 / 1000.0,
            "MetricDataQueries": [
                {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "A", "MetricName": "m"}, "Period": 300, "Stat": "Average"}},
                {"Id": "ad", "Expression": "ANOMALY_DETECTION_BAND(m1, -1)"},
            ]}));
        assert_eq!(bad.err().unwrap().code, "InvalidParameterValueException");
    }

    /// An alarm on `ANOMALY_DETECTION_BAND(m1, 2)` with each band operator, evaluated on a
    /// fake clock: in the band it is OK, above it ALARM for the upper operators only, below it
    /// for the lower ones only.
    #[test]
    fn alarms_on_a_band_compare_with_its_bounds() {
        let c = CloudWatch::new();
        let ctx = RequestContext::from_scope(None);
        let t0: u64 = 1_700_000_000_000 / 60_000 * 60_000;
        // Training data: 10, 20, 10, 20 ... per minute over two hours (μ 15, σ 5: band [5, 25]
        // with k = 2, nearly so once the evaluated points join the window).
        c.set_clock(t0 + 7_200_000);
        let data: Vec<Value> = (0..120u64)
            .map(|i| {
                json!({"MetricName": "lat", "Value": if i % 2 == 0 { 10.0 } else { 20.0 },
                "Timestamp": (t0 + i * 60_000) as f64 / 1000.0})
            })
            .collect();
        for chunk in data.chunks(100) {
            c.handle(
                &ctx,
                "PutMetricData",
                &json!({"Namespace": "B", "MetricData": chunk}),
            )
            .unwrap();
        }
        let alarm = |name: &str, op: &str| {
            json!({"AlarmName": name, "ComparisonOperator": op, "EvaluationPeriods": 1,
                "ThresholdMetricId": "ad1", "Metrics": [
                    {"Id": "m1", "ReturnData": true, "MetricStat": {"Metric": {"Namespace": "B", "MetricName": "lat"}, "Period": 60, "Stat": "Average"}},
                    {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "lat (expected)", "ReturnData": true}]})
        };
        for (name, op) in [
            ("both", BAND_OPERATORS[0]),
            ("low", BAND_OPERATORS[1]),
            ("high", BAND_OPERATORS[2]),
        ] {
            c.handle(&ctx, "PutMetricAlarm", &alarm(name, op)).unwrap();
        }
        let state = |c: &CloudWatch, name: &str| {
            c.handle(&ctx, "DescribeAlarms", &json!({"AlarmNames": [name]}))
                .unwrap()
                .value["MetricAlarms"][0]["StateValue"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let states = |c: &CloudWatch| ["both", "low", "high"].map(|n| state(c, n));
        let put = |c: &CloudWatch, minute: u64, x: f64| {
            c.handle(&ctx, "PutMetricData", &json!({"Namespace": "B", "MetricData": [
                {"MetricName": "lat", "Value": x, "Timestamp": (t0 + minute * 60_000) as f64 / 1000.0}]})).unwrap();
        };
        // Minute 120 holds 15: inside the band.
        put(&c, 120, 15.0);
        c.set_clock(t0 + 121 * 60_000 + 1000);
        c.evaluate_due(c.now_ms());
        assert_eq!(states(&c), ["OK", "OK", "OK"]);
        // Minute 121 holds 100: above the band.
        put(&c, 121, 100.0);
        c.set_clock(t0 + 122 * 60_000 + 1000);
        c.evaluate_due(c.now_ms());
        assert_eq!(states(&c), ["ALARM", "OK", "ALARM"]);
        let reason = c
            .handle(&ctx, "DescribeAlarms", &json!({"AlarmNames": ["high"]}))
            .unwrap()
            .value["MetricAlarms"][0]["StateReason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            reason.starts_with("Thresholds Crossed: 1 out of the last 1 datapoints [100 ("),
            "{reason}"
        );
        assert!(
            reason.contains("was greater than the upper thresholds ["),
            "{reason}"
        );
        // Minute 122 holds -100: below it.
        put(&c, 122, -100.0);
        c.set_clock(t0 + 123 * 60_000 + 1000);
        c.evaluate_due(c.now_ms());
        assert_eq!(states(&c), ["ALARM", "ALARM", "OK"]);
        // Validation: band operators need ThresholdMetricId naming a band, and the reverse.
        let mut bad = alarm("x", BAND_OPERATORS[0]);
        bad.as_object_mut().unwrap().remove("ThresholdMetricId");
        bad["Threshold"] = json!(1);
        assert_eq!(
            c.handle(&ctx, "PutMetricAlarm", &bad).err().unwrap().code,
            "InvalidParameterValueException"
        );
        let bad = alarm("x", "GreaterThanThreshold");
        assert_eq!(
            c.handle(&ctx, "PutMetricAlarm", &bad).err().unwrap().code,
            "InvalidParameterValueException"
        );
        let mut bad = alarm("x", BAND_OPERATORS[2]);
        bad["ThresholdMetricId"] = json!("m1");
        assert_eq!(
            c.handle(&ctx, "PutMetricAlarm", &bad).err().unwrap().code,
            "InvalidParameterValueException"
        );
    }

    /// A metric math alarm with 10-second periods is evaluated every 10 seconds, as the
    /// evaluator's loop would (every second, due alarms only): a datum out of the band in any
    /// 10-second period takes it to ALARM, not only one in the period before a minute boundary.
    #[test]
    fn ten_second_band_alarm_is_evaluated_every_period() {
        let c = CloudWatch::new();
        let ctx = RequestContext::from_scope(None);
        let t0: u64 = 1_700_000_000_000 / 60_000 * 60_000;
        c.set_clock(t0 + 1_800_000);
        let data: Vec<Value> = (0..175u64)
            .map(|i| {
                json!({"MetricName": "lat", "Value": if i % 2 == 0 { 10.0 } else { 20.0 },
                "Timestamp": (t0 + i * 10_000) as f64 / 1000.0})
            })
            .collect();
        c.handle(
            &ctx,
            "PutMetricData",
            &json!({"Namespace": "B", "MetricData": data}),
        )
        .unwrap();
        c.handle(&ctx, "PutMetricAlarm", &json!({"AlarmName": "band",
            "ComparisonOperator": BAND_OPERATORS[0], "EvaluationPeriods": 1, "ThresholdMetricId": "ad1",
            "Metrics": [
                {"Id": "m1", "ReturnData": true, "MetricStat": {"Metric": {"Namespace": "B", "MetricName": "lat"}, "Period": 10, "Stat": "Average"}},
                {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "lat (expected)", "ReturnData": true}]}))
            .unwrap();
        // The out-of-band datum lands 12 s into a minute: its period ends 20 s into it.
        let at = t0 + 1_800_000 + 12_000;
        c.handle(
            &ctx,
            "PutMetricData",
            &json!({"Namespace": "B", "MetricData": [
            {"MetricName": "lat", "Value": 100.0, "Timestamp": at as f64 / 1000.0}]}),
        )
        .unwrap();
        let state = || {
            c.handle(&ctx, "DescribeAlarms", &json!({"AlarmNames": ["band"]}))
                .unwrap()
                .value["MetricAlarms"][0]["StateValue"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut went = None;
        for s in 0..60u64 {
            let now = t0 + 1_800_000 + s * 1000;
            c.set_clock(now);
            c.evaluate_due(now);
            if state() == "ALARM" {
                went = Some(s);
                break;
            }
        }
        assert_eq!(
            went,
            Some(21),
            "evaluated just after the period [10 s, 20 s) ends"
        );
    }

    #[test]
    fn band_operators() {
        assert!(outside_band(BAND_OPERATORS[0], 4.0, 5.0, 25.0));
        assert!(outside_band(BAND_OPERATORS[0], 26.0, 5.0, 25.0));
        assert!(!outside_band(BAND_OPERATORS[0], 25.0, 5.0, 25.0));
        assert!(outside_band(BAND_OPERATORS[1], 4.0, 5.0, 25.0));
        assert!(!outside_band(BAND_OPERATORS[1], 26.0, 5.0, 25.0));
        assert!(outside_band(BAND_OPERATORS[2], 26.0, 5.0, 25.0));
        assert!(!outside_band("GreaterThanThreshold", 26.0, 5.0, 25.0));
    }

    #[test]
    fn mean_and_deviation() {
        assert_eq!(mean_std(&[10.0, 20.0]), Some((15.0, 5.0)));
        assert_eq!(mean_std(&[]), None);
    }
}

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
use crate::metrics::{MetricId, buckets};
use crate::stats::Agg;
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
    buckets(snap, p, m, from, to, period, None)
        .into_iter()
        .filter(|(b, _)| !excluded.iter().any(|(s, e)| b >= s && b < e))
        .filter_map(|(_, pts)| Agg::of(pts.iter().copied())?.stat(stat))
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

    #[test]
    fn mean_and_deviation() {
        assert_eq!(mean_std(&[10.0, 20.0]), Some((15.0, 5.0)));
        assert_eq!(mean_std(&[]), None);
    }
}

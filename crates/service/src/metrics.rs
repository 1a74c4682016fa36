//! The metrics a service publishes about itself to CloudWatch, as AWS does (`AWS/SQS`,
//! `AWS/DynamoDB`, `AWS/Lambda`): counters updated on the request path (a short mutex over a
//! small map, no allocation once a resource has its entry), drained once per report interval by
//! a task that sends them through `Runtime::invoke(ctx, "cloudwatch", "PutMetricData", ...)`.
//!
//! The counters are runtime machinery, never saved: what was counted since the last report is
//! lost when the process stops or crashes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use snapstack_engine::Partition;

use crate::{RequestContext, Runtime};

/// Datums in one PutMetricData call (AWS's limit).
pub const MAX_DATUMS: usize = 1000;
/// The report interval when none is configured (AWS reports every minute).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Whether a service publishes its metrics, and how often.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    pub interval: Duration,
}

impl Settings {
    /// From the environment: `disable` (`1`/`true` turns publishing off) and `interval`
    /// (seconds, default 60; a value that is not a positive number is ignored).
    pub fn from_env(disable: &str, interval: &str) -> Self {
        Self::resolve(|k| std::env::var(k).ok(), disable, interval)
    }

    pub fn resolve(env: impl Fn(&str) -> Option<String>, disable: &str, interval: &str) -> Self {
        let enabled = !env(disable).is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        let interval = match env(interval) {
            Some(v) => match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
                _ => {
                    tracing::warn!(variable = interval, value = %v, "ignored: not a number of seconds");
                    DEFAULT_INTERVAL
                }
            },
            None => DEFAULT_INTERVAL,
        };
        Settings { enabled, interval }
    }
}

/// A statistic set (count, sum, minimum, maximum) of the values seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatSet {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for StatSet {
    fn default() -> Self {
        StatSet {
            count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl StatSet {
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            self.count += 1.0;
            self.sum += x;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0.0
    }
}

/// What a datum carries: one value, or a statistic set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    Value(f64),
    Stats(StatSet),
}

/// One datum of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    pub name: &'static str,
    pub dims: Vec<(&'static str, String)>,
    pub unit: &'static str,
    pub sample: Sample,
}

impl Datum {
    pub fn value(
        name: &'static str,
        dims: &[(&'static str, &str)],
        unit: &'static str,
        x: f64,
    ) -> Self {
        Self::new(name, dims, unit, Sample::Value(x))
    }

    /// A statistic set; an empty one is sent as a single 0 (AWS reports zeros for an active
    /// resource).
    pub fn stats(
        name: &'static str,
        dims: &[(&'static str, &str)],
        unit: &'static str,
        s: StatSet,
    ) -> Self {
        let sample = if s.is_empty() {
            Sample::Value(0.0)
        } else {
            Sample::Stats(s)
        };
        Self::new(name, dims, unit, sample)
    }

    fn new(
        name: &'static str,
        dims: &[(&'static str, &str)],
        unit: &'static str,
        sample: Sample,
    ) -> Self {
        Datum {
            name,
            dims: dims.iter().map(|(n, v)| (*n, v.to_string())).collect(),
            unit,
            sample,
        }
    }

    fn json(&self, ts_secs: f64) -> Value {
        let mut d = json!({
            "MetricName": self.name,
            "Dimensions": self.dims.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
            "Unit": self.unit,
            "Timestamp": ts_secs,
        });
        match self.sample {
            Sample::Value(x) => d["Value"] = json!(x),
            Sample::Stats(s) => {
                d["StatisticValues"] = json!({"SampleCount": s.count, "Sum": s.sum, "Minimum": s.min, "Maximum": s.max})
            }
        }
        d
    }
}

/// The PutMetricData inputs (neutral JSON shape) that carry `data`, at most [`MAX_DATUMS`]
/// each, stamped `ts_ms`.
pub fn put_metric_data_inputs(namespace: &str, data: &[Datum], ts_ms: u64) -> Vec<Value> {
    let ts = ts_ms as f64 / 1000.0;
    data.chunks(MAX_DATUMS)
        .map(|c| {
            json!({
                "Namespace": namespace,
                "MetricData": c.iter().map(|d| d.json(ts)).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Counters by partition and resource name. [`Tally::with`] finds an existing entry without
/// allocating; [`Tally::drain`] takes everything counted so far.
pub struct Tally<V> {
    map: Mutex<HashMap<Partition, HashMap<String, V>>>,
}

impl<V> Default for Tally<V> {
    fn default() -> Self {
        Tally {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Default> Tally<V> {
    /// Update the counters of one resource.
    pub fn with(&self, p: &Partition, name: &str, f: impl FnOnce(&mut V)) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(per) = m.get_mut(p) {
            Self::bump(per, name, f);
            return;
        }
        Self::bump(m.entry(p.clone()).or_default(), name, f);
    }

    fn bump(per: &mut HashMap<String, V>, name: &str, f: impl FnOnce(&mut V)) {
        if let Some(v) = per.get_mut(name) {
            f(v);
            return;
        }
        f(per.entry(name.to_string()).or_default());
    }

    /// Everything counted since the last drain.
    pub fn drain(&self) -> HashMap<Partition, HashMap<String, V>> {
        std::mem::take(&mut *self.map.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Send one partition's report to CloudWatch. An error (CloudWatch not served, say) drops the
/// report.
pub async fn publish(rt: &dyn Runtime, p: &Partition, namespace: &str, data: &[Datum], ts_ms: u64) {
    if data.is_empty() {
        return;
    }
    let ctx = RequestContext {
        access_key: p.account.clone(),
        partition: p.clone(),
        scope_service: None,
        request_id: snapstack_protocol::request::new_request_id(),
    };
    for input in put_metric_data_inputs(namespace, data, ts_ms) {
        if let Err(e) = rt.invoke(&ctx, "cloudwatch", "PutMetricData", input).await {
            tracing::debug!(namespace, code = %e.code, message = %e.message, "a metrics report was dropped");
            return;
        }
    }
}

/// What a report holds: per partition, its datums.
pub type Report = Vec<(Partition, Vec<Datum>)>;

/// Start the task that, every `settings.interval` until `stop`, asks `collect` for a report (the
/// time now in epoch ms given) and publishes it under `namespace`. Nothing runs when publishing
/// is off; `collect` is called only once `service`'s state is loaded.
pub fn spawn_reporter(
    rt: Arc<dyn Runtime>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    settings: Settings,
    service: &'static str,
    namespace: &'static str,
    mut collect: impl FnMut(u64) -> Report + Send + 'static,
) {
    if !settings.enabled {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !rt.is_ready(service) {
                continue;
            }
            let now = now_ms();
            // Collecting may walk the service's state: keep other tasks off this worker.
            let report = match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(|| collect(now))
                }
                _ => collect(now),
            };
            for (p, data) in report {
                publish(rt.as_ref(), &p, namespace, &data, now).await;
            }
        }
    });
}

/// The wall clock in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_variables() {
        let s = Settings::resolve(|_| None, "D", "I");
        assert_eq!(
            s,
            Settings {
                enabled: true,
                interval: DEFAULT_INTERVAL
            }
        );
        let env = |k: &str| match k {
            "D" => Some("1".to_string()),
            "I" => Some("2.5".to_string()),
            _ => None,
        };
        let s = Settings::resolve(env, "D", "I");
        assert!(!s.enabled);
        assert_eq!(s.interval, Duration::from_millis(2500));
        for bad in ["0", "-1", "x", "NaN", "1e9"] {
            let s = Settings::resolve(|k| (k == "I").then(|| bad.to_string()), "D", "I");
            assert_eq!(s.interval, DEFAULT_INTERVAL, "{bad}");
            assert!(s.enabled);
        }
        let s = Settings::resolve(|k| (k == "D").then(|| "0".to_string()), "D", "I");
        assert!(s.enabled);
    }

    #[test]
    fn stat_sets_and_datums() {
        let mut s = StatSet::default();
        assert!(s.is_empty());
        for x in [3.0, 1.0, f64::NAN, 2.0] {
            s.add(x);
        }
        assert_eq!(
            s,
            StatSet {
                count: 3.0,
                sum: 6.0,
                min: 1.0,
                max: 3.0
            }
        );
        let d = Datum::stats("Size", &[("QueueName", "q")], "Bytes", s).json(1.5);
        assert_eq!(
            d,
            json!({"MetricName": "Size", "Dimensions": [{"Name": "QueueName", "Value": "q"}],
                   "Unit": "Bytes", "Timestamp": 1.5,
                   "StatisticValues": {"SampleCount": 3.0, "Sum": 6.0, "Minimum": 1.0, "Maximum": 3.0}})
        );
        let z = Datum::stats("Size", &[], "Bytes", StatSet::default()).json(0.0);
        assert_eq!(z["Value"], 0.0);
        assert!(z.get("StatisticValues").is_none());
    }

    #[test]
    fn inputs_are_chunked_by_the_datum_limit() {
        let data: Vec<Datum> = (0..2500)
            .map(|i| Datum::value("N", &[("Q", "q")], "Count", i as f64))
            .collect();
        let inputs = put_metric_data_inputs("AWS/SQS", &data, 60_000);
        assert_eq!(inputs.len(), 3);
        assert_eq!(inputs[0]["MetricData"].as_array().unwrap().len(), 1000);
        assert_eq!(inputs[2]["MetricData"].as_array().unwrap().len(), 500);
        assert_eq!(inputs[2]["MetricData"][499]["Value"], 2499.0);
        assert_eq!(inputs[0]["Namespace"], "AWS/SQS");
        assert_eq!(inputs[0]["MetricData"][0]["Timestamp"], 60.0);
        assert!(put_metric_data_inputs("AWS/SQS", &[], 0).is_empty());
    }

    #[test]
    fn tally_counts_and_drains() {
        let t: Tally<(u64, StatSet)> = Tally::default();
        let a = Partition::new("1", "us-east-1");
        let b = Partition::new("2", "us-east-1");
        for i in 0..5 {
            t.with(&a, "q", |v| {
                v.0 += 1;
                v.1.add(i as f64)
            });
        }
        t.with(&b, "q", |v| v.0 += 7);
        t.with(&a, "r", |v| v.0 += 1);
        let d = t.drain();
        assert_eq!(d[&a]["q"].0, 5);
        assert_eq!(d[&a]["q"].1.sum, 10.0);
        assert_eq!(d[&a]["r"].0, 1);
        assert_eq!(d[&b]["q"].0, 7);
        assert!(t.drain().is_empty());
    }
}

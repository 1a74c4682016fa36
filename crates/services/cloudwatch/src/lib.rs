//! CloudWatch: metrics, alarms, dashboards. Spoken in all three protocols of its model:
//! smithy-rpc-v2-cbor (current botocore), JSON 1.0 (`X-Amz-Target`) and query (older SDKs, AWS
//! CLI v1); the operations work on the neutral JSON shape and [`wire`] translates.
//!
//! Records, each keyed under the request's partition:
//! - `("m", namespace, name, dims)`: a metric (ListMetrics);
//! - `("d", namespace, name, dims, timestamp, seq)`: one datum, or one rollup of coarser
//!   resolution ([`rollup`]), so a metric's data is one ordered range and a time range a
//!   sub-range;
//! - `("w", namespace, name, dims)`: the metric's rollup watermarks and next due time;
//! - `("y", id)`: a metric stream's records owed to its Firehose ([`streams`]);
//! - `("a", name)`: an alarm, with its state and the absolute time of its next evaluation;
//! - `("h", alarm, timestamp, seq)`: alarm history;
//! - `("b", name)`: a dashboard; `("t", arn)`: tags;
//! - `("x", id)`: an alarm action owed, written with the state change ([`actions`]);
//! - `("r", kind, id)`: a metric stream, anomaly detector, insight rule, alarm mute rule or the
//!   OTel enrichment switch, as a JSON document.
//!
//! Alarms are evaluated by a background task ([`eval`]) on absolute times from the stored data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use snapstack_engine::Store;
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

pub mod actions;
mod alarms;
pub mod anomaly;
mod catalog;
mod dashboards;
pub mod eval;
pub mod expr;
mod metrics;
pub mod model;
mod mute;
pub mod rollup;
pub use snapstack_service::schedule;
mod service;
pub mod stats;
pub mod streams;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
mod widget;
mod wire;

pub use model::*;

pub const NAME: &str = "cloudwatch";

/// The CloudWatch service.
pub struct CloudWatch {
    pub store: Arc<Store<CwRecord>>,
    seq: AtomicU64,
    /// A fixed clock for tests (0: the system clock).
    clock: AtomicU64,
}

impl Default for CloudWatch {
    fn default() -> Self {
        Self::new()
    }
}

/// A handled call: the output value and the store version a change produced.
pub struct Out {
    pub value: Value,
    pub version: Option<u64>,
    /// Alarm state changes whose actions are to run (SetAlarmState).
    pub transitions: Vec<eval::Transition>,
}

pub(crate) fn out(value: Value, version: Option<u64>) -> Result<Out, AwsError> {
    Ok(Out {
        value,
        version,
        transitions: Vec::new(),
    })
}

pub(crate) fn sys_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn invalid_value(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterValueException", message)
}

pub(crate) fn invalid_combination(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterCombinationException", message)
}

pub(crate) fn missing(name: &str) -> AwsError {
    AwsError::new(
        "MissingRequiredParameterException",
        format!("The parameter {name} is required."),
    )
}

pub(crate) fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

pub(crate) fn num_of(v: &Value, k: &str) -> Option<f64> {
    match v.get(k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

pub(crate) fn int_of(v: &Value, k: &str) -> Option<i64> {
    num_of(v, k).filter(|f| f.is_finite()).map(|f| f as i64)
}

/// A timestamp member (epoch seconds in the neutral value) in ms.
pub(crate) fn time_of(v: &Value, k: &str) -> Option<i64> {
    num_of(v, k)
        .filter(|f| f.is_finite())
        .map(|f| (f * 1000.0).round() as i64)
}

pub(crate) fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `Dimensions` as sorted (name, value) pairs.
pub(crate) fn dims_of(v: &Value, k: &str) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = v
        .get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        str_of(x, "Name")?.to_string(),
                        str_of(x, "Value")?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    d.sort();
    d
}

pub(crate) fn dims_json(d: &[(String, String)]) -> Value {
    Value::Array(
        d.iter()
            .map(|(n, v)| serde_json::json!({"Name": n, "Value": v}))
            .collect(),
    )
}

/// An opaque page token (hex of a position).
pub(crate) fn token(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn untoken(t: &str) -> Result<String, AwsError> {
    let bad = || {
        AwsError::new(
            "InvalidNextToken",
            "The service couldn't process your request because the NextToken is not valid.",
        )
    };
    if !t.len().is_multiple_of(2) || t.len() > 8192 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())
}

impl CloudWatch {
    pub fn new() -> Self {
        CloudWatch {
            store: Store::new(NAME),
            // Unique across restarts: sequence numbers start from the clock.
            seq: AtomicU64::new(sys_now_ms().saturating_mul(1000)),
            clock: AtomicU64::new(0),
        }
    }

    pub fn now_ms(&self) -> u64 {
        match self.clock.load(Ordering::Relaxed) {
            0 => sys_now_ms(),
            t => t,
        }
    }

    /// Fix the clock (tests).
    pub fn set_clock(&self, ms: u64) {
        self.clock.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Handle one operation on its input (the neutral JSON shape). Alarm changes that need
    /// actions run them through [`eval`] afterwards (the service does, with the runtime).
    pub fn handle(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Out, AwsError> {
        let p = &ctx.partition;
        match op {
            "PutMetricData" => self.put_metric_data(p, v),
            "GetMetricStatistics" => self.get_metric_statistics(p, v),
            "GetMetricData" => self.get_metric_data(p, v),
            "ListMetrics" => self.list_metrics(p, v),
            "PutMetricAlarm" => self.put_alarm(p, v, false),
            "PutCompositeAlarm" => self.put_alarm(p, v, true),
            "DescribeAlarms" => self.describe_alarms(p, v),
            "DescribeAlarmsForMetric" => self.describe_alarms_for_metric(p, v),
            "DeleteAlarms" => self.delete_alarms(p, v),
            "SetAlarmState" => self.set_alarm_state(p, v),
            "EnableAlarmActions" => self.enable_actions(p, v, true),
            "DisableAlarmActions" => self.enable_actions(p, v, false),
            "DescribeAlarmHistory" => self.describe_alarm_history(p, v),
            "PutDashboard" => self.put_dashboard(p, v),
            "GetDashboard" => self.get_dashboard(p, v),
            "DeleteDashboards" => self.delete_dashboards(p, v),
            "ListDashboards" => self.list_dashboards(p, v),
            "TagResource" => self.tag_resource(p, v),
            "UntagResource" => self.untag_resource(p, v),
            "ListTagsForResource" => self.list_tags(p, v),
            "PutMetricStream" => self.put_metric_stream(p, v),
            "GetMetricStream" => self.get_metric_stream(p, v),
            "DeleteMetricStream" => self.delete_metric_stream(p, v),
            "ListMetricStreams" => self.list_metric_streams(p, v),
            "StartMetricStreams" => self.set_metric_streams(p, v, true),
            "StopMetricStreams" => self.set_metric_streams(p, v, false),
            "PutAnomalyDetector" => self.put_anomaly_detector(p, v),
            "DeleteAnomalyDetector" => self.delete_anomaly_detector(p, v),
            "DescribeAnomalyDetectors" => self.describe_anomaly_detectors(p, v),
            "PutInsightRule" => self.put_insight_rule(p, v),
            "DescribeInsightRules" => self.describe_insight_rules(p, v),
            "DeleteInsightRules" => self.update_insight_rules(p, v, "delete"),
            "EnableInsightRules" => self.update_insight_rules(p, v, "ENABLED"),
            "DisableInsightRules" => self.update_insight_rules(p, v, "DISABLED"),
            "GetInsightRuleReport" => self.get_insight_rule_report(p, v),
            "PutManagedInsightRules" => self.put_managed_insight_rules(p, v),
            "ListManagedInsightRules" => self.list_managed_insight_rules(p, v),
            "PutAlarmMuteRule" => self.put_alarm_mute_rule(p, v),
            "GetAlarmMuteRule" => self.get_alarm_mute_rule(p, v),
            "DeleteAlarmMuteRule" => self.delete_alarm_mute_rule(p, v),
            "ListAlarmMuteRules" => self.list_alarm_mute_rules(p, v),
            "StartOTelEnrichment" => self.set_otel(p, true),
            "StopOTelEnrichment" => self.set_otel(p, false),
            "GetOTelEnrichment" => self.get_otel(p),
            "DescribeAlarmContributors" => self.describe_alarm_contributors(p, v),
            "GetMetricWidgetImage" => self.get_metric_widget_image(p, v),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("CloudWatch", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "InvalidAction",
                format!("Operation {op} is not supported by this emulator's CloudWatch."),
            )),
        }
    }
}

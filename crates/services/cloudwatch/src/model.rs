//! CloudWatch records and their keys. Append new variants at the END of [`CwRecord`]; never
//! reorder (docs/FORMAT.md, "Record types").

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Partition, Record};

/// One record of the CloudWatch store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CwRecord {
    Metric(MetricRec),
    Point(PointRec),
    Alarm(AlarmRec),
    History(HistoryRec),
    Dashboard(DashboardRec),
    Tags(TagsRec),
    /// An alarm action owed (an outbox entry written with the state change), with its deadline.
    Action(ActionRec),
    /// A stored resource whose state is one JSON document (metric streams, anomaly detectors,
    /// insight rules, alarm mute rules, the OTel enrichment switch).
    Resource(ResourceRec),
    /// Data rolled up into a coarser resolution by the retention sweeper ([`crate::rollup`]),
    /// keyed like a datum at its bucket's start.
    Rollup(RollupRec),
    /// A metric's rollup watermarks (one per resolution step) and when its next step is due.
    RollupMark(MarkRec),
    /// Datapoints of a metric stream owed to its Firehose (the outbox of [`crate::streams`]).
    StreamDelivery(StreamDeliveryRec),
}

impl Record for CwRecord {}

/// A metric: its identity, and when it last received data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRec {
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dims: Vec<(String, String)>,
    pub last_ms: u64,
}

/// The data of one datum of PutMetricData: a value, values with counts, or a statistic set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointRec {
    pub ts_ms: u64,
    pub unit: Option<String>,
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// (value, count) pairs, for percentiles; empty for a statistic set.
    pub values: Vec<(f64, f64)>,
    pub high_resolution: bool,
}

/// A metric or composite alarm: its configuration (the Put input, as JSON), its state and the
/// absolute time of its next evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmRec {
    pub name: String,
    pub composite: bool,
    pub config: String,
    pub state: String,
    pub reason: String,
    pub reason_data: Option<String>,
    pub state_updated_ms: u64,
    pub state_transitioned_ms: u64,
    pub config_updated_ms: u64,
    pub next_eval_ms: u64,
    pub actions_enabled: bool,
}

/// One alarm history item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRec {
    pub alarm: String,
    pub composite: bool,
    pub ts_ms: u64,
    pub kind: String,
    pub summary: String,
    pub data: String,
}

/// A dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardRec {
    pub name: String,
    pub body: String,
    pub modified_ms: u64,
}

/// The tags of a resource (alarm, dashboard, ...), keyed by its ARN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagsRec {
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

/// An alarm action owed: the SNS Publish input built at the state change, and when the next
/// attempt is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRec {
    pub id: String,
    pub alarm: String,
    pub composite: bool,
    pub arn: String,
    /// The Publish input (JSON).
    pub input: String,
    pub state_ms: u64,
    pub due_ms: u64,
    pub attempts: u32,
}

/// A stored resource: its family, its id in the family, its document (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRec {
    pub kind: String,
    pub id: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub body: String,
}

/// The statistics of one bucket of `res_ms` (60 s, 5 min or 1 h): SampleCount, Sum, Minimum
/// and Maximum exactly; `point.values` the kept values (see [`crate::rollup`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupRec {
    pub res_ms: u64,
    pub point: PointRec,
}

/// A metric's rollup progress: `done[l]` is the time before which data of level `l` (0: as
/// put, 1: 60 s, 2: 5 min, 3: 1 h) has been rolled into the next level (or, for 3, deleted);
/// `due_ms` the absolute time the next step is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkRec {
    pub namespace: String,
    pub name: String,
    pub dims: Vec<(String, String)>,
    pub done: Vec<u64>,
    pub due_ms: u64,
}

/// A batch of a metric stream's records owed to its Firehose delivery stream: the
/// newline-delimited records (JSON or OpenTelemetry JSON), and when the next attempt is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamDeliveryRec {
    pub id: String,
    pub stream: String,
    pub firehose_arn: String,
    pub records: Vec<String>,
    pub created_ms: u64,
    pub due_ms: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

pub fn mark_key(p: &Partition, ns: &str, name: &str, dk: &str) -> Key {
    p.key().str("w").str(ns).str(name).str(dk).build()
}

pub fn stream_delivery_key(p: &Partition, id: &str) -> Key {
    p.key().str("y").str(id).build()
}

pub fn stream_deliveries_prefix(p: &Partition) -> Key {
    p.key().str("y").build()
}

pub fn action_key(p: &Partition, id: &str) -> Key {
    p.key().str("x").str(id).build()
}

pub fn actions_prefix(p: &Partition) -> Key {
    p.key().str("x").build()
}

pub fn resource_key(p: &Partition, kind: &str, id: &str) -> Key {
    p.key().str("r").str(kind).str(id).build()
}

pub fn resources_prefix(p: &Partition, kind: &str) -> Key {
    p.key().str("r").str(kind).build()
}

/// Dimensions as one unambiguous key part: `len:name len:value` for each, sorted by name.
pub fn dim_key(dims: &[(String, String)]) -> String {
    let mut s = String::new();
    for (n, v) in dims {
        s.push_str(&format!("{}:{n}{}:{v}", n.len(), v.len()));
    }
    s
}

pub fn metric_key(p: &Partition, ns: &str, name: &str, dims: &[(String, String)]) -> Key {
    p.key()
        .str("m")
        .str(ns)
        .str(name)
        .str(&dim_key(dims))
        .build()
}

pub fn metrics_prefix(p: &Partition) -> Key {
    p.key().str("m").build()
}

pub fn metrics_ns_prefix(p: &Partition, ns: &str) -> Key {
    p.key().str("m").str(ns).build()
}

pub fn metrics_name_prefix(p: &Partition, ns: &str, name: &str) -> Key {
    p.key().str("m").str(ns).str(name).build()
}

pub fn point_key(p: &Partition, ns: &str, name: &str, dk: &str, ts: u64, seq: u64) -> Key {
    p.key()
        .str("d")
        .str(ns)
        .str(name)
        .str(dk)
        .u64(ts)
        .u64(seq)
        .build()
}

pub fn points_prefix(p: &Partition, ns: &str, name: &str, dk: &str) -> Key {
    p.key().str("d").str(ns).str(name).str(dk).build()
}

pub fn alarm_key(p: &Partition, name: &str) -> Key {
    p.key().str("a").str(name).build()
}

pub fn alarms_prefix(p: &Partition) -> Key {
    p.key().str("a").build()
}

pub fn history_key(p: &Partition, alarm: &str, ts: u64, seq: u64) -> Key {
    p.key().str("h").str(alarm).u64(ts).u64(seq).build()
}

pub fn history_prefix(p: &Partition, alarm: &str) -> Key {
    p.key().str("h").str(alarm).build()
}

pub fn all_history_prefix(p: &Partition) -> Key {
    p.key().str("h").build()
}

pub fn dashboard_key(p: &Partition, name: &str) -> Key {
    p.key().str("b").str(name).build()
}

pub fn dashboards_prefix(p: &Partition) -> Key {
    p.key().str("b").build()
}

pub fn tags_key(p: &Partition, arn: &str) -> Key {
    p.key().str("t").str(arn).build()
}

//! CloudWatch Logs records and their keys. Append new variants at the END of [`LogsRecord`];
//! never reorder (docs/FORMAT.md, "Record types").

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Partition, Record};

/// One record of the CloudWatch Logs store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LogsRecord {
    Group(GroupRec),
    Stream(StreamRec),
    Event(EventRec),
    MetricFilter(FilterRec),
    SubscriptionFilter(FilterRec),
    Query(QueryRec),
    /// A stored resource of one of the families whose state is a JSON document (destinations,
    /// policies, deliveries, query definitions, transformers, anomaly detectors, lookup
    /// tables, scheduled queries, integrations, import and export tasks).
    Resource(ResourceRec),
    /// A subscription delivery owed to a destination (an outbox entry), with its deadline.
    Outbox(OutboxRec),
}

impl Record for LogsRecord {}

/// A log group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRec {
    pub name: String,
    pub created_ms: u64,
    pub retention_days: Option<u32>,
    pub kms_key_id: Option<String>,
    pub class: String,
    pub deletion_protection: bool,
    pub tags: Vec<(String, String)>,
}

/// A log stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRec {
    pub group: String,
    pub name: String,
    pub created_ms: u64,
    pub first_event_ms: Option<u64>,
    pub last_event_ms: Option<u64>,
    pub last_ingestion_ms: Option<u64>,
    /// The sequence number the next event gets (orders events of equal timestamps).
    pub next_seq: u64,
    pub stored_bytes: u64,
}

/// One log event (its group and stream are its key's; its timestamp and seq are too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRec {
    pub timestamp: u64,
    pub seq: u64,
    pub ingestion_ms: u64,
    pub message: String,
}

/// A metric or subscription filter: its members other than group, name and pattern kept as the
/// JSON object DescribeMetricFilters / DescribeSubscriptionFilters answer with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterRec {
    pub group: String,
    pub name: String,
    pub pattern: String,
    pub created_ms: u64,
    pub body: String,
}

/// A Logs Insights query, run when started; its results kept (bounded) as JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRec {
    pub id: String,
    pub query: String,
    pub groups: Vec<String>,
    pub created_ms: u64,
    pub status: String,
    pub results: String,
    pub statistics: String,
}

/// A stored resource: its family (`kind`), its id within the family, and its document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRec {
    pub kind: String,
    pub id: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The resource as the JSON its Describe/Get answers (plus private members starting `_`).
    pub body: String,
}

/// A subscription filter's delivery owed to its destination: the gzip-compressed payload AWS
/// sends, the destination ARN, and when the next attempt is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxRec {
    pub id: String,
    pub destination_arn: String,
    pub filter: String,
    pub group: String,
    pub payload: Vec<u8>,
    pub created_ms: u64,
    pub due_ms: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
}

pub fn resource_key(p: &Partition, kind: &str, id: &str) -> Key {
    p.key().str("r").str(kind).str(id).build()
}

pub fn resources_prefix(p: &Partition, kind: &str) -> Key {
    p.key().str("r").str(kind).build()
}

pub fn outbox_key(p: &Partition, id: &str) -> Key {
    p.key().str("o").str(id).build()
}

pub fn outbox_prefix(p: &Partition) -> Key {
    p.key().str("o").build()
}

pub fn group_key(p: &Partition, name: &str) -> Key {
    p.key().str("g").str(name).build()
}

pub fn groups_prefix(p: &Partition) -> Key {
    p.key().str("g").build()
}

pub fn stream_key(p: &Partition, group: &str, name: &str) -> Key {
    p.key().str("s").str(group).str(name).build()
}

pub fn streams_prefix(p: &Partition, group: &str) -> Key {
    p.key().str("s").str(group).build()
}

pub fn event_key(p: &Partition, group: &str, stream: &str, ts: u64, seq: u64) -> Key {
    p.key()
        .str("e")
        .str(group)
        .str(stream)
        .u64(ts)
        .u64(seq)
        .build()
}

pub fn events_prefix(p: &Partition, group: &str, stream: &str) -> Key {
    p.key().str("e").str(group).str(stream).build()
}

pub fn group_events_prefix(p: &Partition, group: &str) -> Key {
    p.key().str("e").str(group).build()
}

pub fn metric_filter_key(p: &Partition, group: &str, name: &str) -> Key {
    p.key().str("m").str(group).str(name).build()
}

pub fn metric_filters_prefix(p: &Partition, group: &str) -> Key {
    p.key().str("m").str(group).build()
}

pub fn sub_filter_key(p: &Partition, group: &str, name: &str) -> Key {
    p.key().str("f").str(group).str(name).build()
}

pub fn sub_filters_prefix(p: &Partition, group: &str) -> Key {
    p.key().str("f").str(group).build()
}

pub fn query_key(p: &Partition, id: &str) -> Key {
    p.key().str("q").str(id).build()
}

pub fn queries_prefix(p: &Partition) -> Key {
    p.key().str("q").build()
}

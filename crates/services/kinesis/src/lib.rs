//! Kinesis Data Streams (JSON 1.1 as boto3 sends it, and the same operations in CBOR as the Java
//! SDK and the KCL send them; `X-Amz-Target: Kinesis_20131202.<Op>`).
//!
//! Records and keys are in [`model`]; sequence numbers, hash keys and iterators in [`seq`].
//! Streams and their settings are in `streams.rs`, resharding in `shards.rs`, writes and reads
//! in `records.rs`, consumers in `consumers.rs`, retention in [`sweep`], the wire in
//! `service.rs`.
//!
//! Write throttling (`ProvisionedThroughputExceededException` beyond 1 MiB/s or 1,000 records/s
//! per shard of a provisioned stream, as AWS applies it) is on unless
//! `SNAPSTACK_KINESIS_THROTTLE=0` (tests and benchmarks that write faster). On-demand streams are
//! not throttled per shard. `SNAPSTACK_KINESIS_ITERATOR_SECONDS` (tests only) shortens the
//! iterators' 5 minutes; `SNAPSTACK_KINESIS_HOUR_SECONDS` (tests only) makes a retention hour
//! that many seconds long.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use snapstack_engine::{Engine, Partition, Snapshot, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

mod consumers;
pub mod model;
mod records;
pub mod seq;
mod service;
mod settings;
mod shards;
mod streams;
mod subscribe;
pub mod sweep;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
#[cfg(test)]
mod tests_reshard;
#[cfg(test)]
mod tests_retention;
mod uniform;
#[cfg(test)]
mod wire_tests;

pub use model::*;

pub const NAME: &str = "kinesis";
/// Shards an account may have open in a region (AWS's default quota).
pub const SHARD_LIMIT: u64 = 500;
/// On-demand streams an account may have in a region.
pub const ON_DEMAND_STREAM_LIMIT: u64 = 50;
/// Shards of a new on-demand stream.
pub const ON_DEMAND_SHARDS: u64 = 4;
/// Records in one PutRecords call.
pub const MAX_PUT_RECORDS: usize = 500;
/// Bytes (data plus partition keys) in one PutRecords call.
pub const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// Bytes one GetRecords answer holds at most.
pub const MAX_GET_BYTES: usize = 10 * 1024 * 1024;
/// Default and bounds of the retention period, in hours.
pub const DEFAULT_RETENTION_HOURS: u32 = 24;
pub const MAX_RETENTION_HOURS: u32 = 8760;
/// Consumers per stream.
pub const MAX_CONSUMERS: usize = 20;
/// Tags per stream.
pub const MAX_TAGS: usize = 50;
/// The shard-level metrics `ALL` stands for.
pub const ALL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// The Kinesis service.
pub struct Kinesis {
    pub store: Arc<Store<KinesisRecord>>,
    /// The engine whose chunk store holds large payloads.
    engine: Arc<Engine>,
    /// A fixed clock for tests (0: the system clock).
    clock: AtomicU64,
    ids: AtomicU64,
    throttle: Option<Mutex<HashMap<String, Window>>>,
    /// How long a shard iterator stays valid ([`seq::ITERATOR_TTL_MS`], shorter in tests).
    pub(crate) iterator_ttl_ms: u64,
    /// How long a retention hour is ([`HOUR_MS`], shorter in tests).
    pub(crate) hour_ms: u64,
}

/// An hour, in ms.
pub const HOUR_MS: u64 = 3_600_000;

/// One shard's writes in the current second (runtime-only: throttling is not state).
#[derive(Clone, Copy, Default)]
struct Window {
    second: u64,
    bytes: u64,
    records: u64,
}

/// Whether a `SNAPSTACK_KINESIS_THROTTLE` value leaves throttling on: everything but `0`,
/// `false`, `off` and `no`.
pub fn throttle_setting(v: &str) -> bool {
    !["0", "false", "off", "no"]
        .iter()
        .any(|off| v.trim().eq_ignore_ascii_case(off))
}

pub(crate) fn sys_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidArgumentException", message)
}

pub(crate) fn in_use(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceInUseException", message)
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", message)
}

pub(crate) fn limit(message: impl Into<String>) -> AwsError {
    AwsError::new("LimitExceededException", message)
}

pub(crate) fn stream_missing(p: &Partition, name: &str) -> AwsError {
    not_found(format!(
        "Stream {name} under account {} not found.",
        p.account
    ))
}

pub(crate) fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

pub(crate) fn int_of(v: &Value, k: &str) -> Option<i64> {
    v.get(k)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

/// A timestamp member (epoch seconds in the neutral shape) in ms.
pub(crate) fn time_ms_of(v: &Value, k: &str) -> Option<u64> {
    v.get(k)
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0).round().max(0.0) as u64)
}

/// A timestamp for the neutral output (epoch seconds).
pub(crate) fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn stream_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:kinesis:{}:{}:stream/{name}", p.region, p.account)
}

/// The partition and stream name an ARN names (`arn:aws:kinesis:r:a:stream/NAME`, or a consumer's
/// `.../stream/NAME/consumer/C:T`), with the consumer part if any.
pub(crate) fn parse_arn(arn: &str) -> Option<(Partition, String, Option<String>)> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("kinesis"), Some(region), Some(account), Some(rest)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let rest = rest.strip_prefix("stream/")?;
    let (stream, consumer) = match rest.split_once("/consumer/") {
        Some((s, c)) => (s, Some(c.to_string())),
        None => (rest, None),
    };
    if stream.is_empty() || stream.contains('/') || region.is_empty() || account.is_empty() {
        return None;
    }
    Some((
        Partition::new(account, region),
        stream.to_string(),
        consumer,
    ))
}

/// The stream a request addresses: `StreamARN` (its account and region) or `StreamName`.
pub(crate) fn target(p: &Partition, v: &Value) -> Result<(Partition, String), AwsError> {
    if let Some(arn) = str_of(v, "StreamARN") {
        let (ap, name, consumer) = parse_arn(arn)
            .filter(|(_, _, c)| c.is_none())
            .ok_or_else(|| invalid(format!("Invalid StreamARN {arn}.")))?;
        let _ = consumer;
        if let Some(n) = str_of(v, "StreamName")
            && n != name
        {
            return Err(invalid(format!(
                "StreamName {n} does not match the stream named by StreamARN {arn}."
            )));
        }
        return Ok((ap, name));
    }
    match str_of(v, "StreamName") {
        Some(n) => Ok((p.clone(), n.to_string())),
        None => Err(invalid(
            "Either StreamName or StreamARN should be provided.",
        )),
    }
}

/// A handled call: the output value and the store version a change produced.
pub struct Out {
    pub value: Value,
    pub version: Option<u64>,
}

pub(crate) fn out(value: Value, version: Option<u64>) -> Result<Out, AwsError> {
    Ok(Out { value, version })
}

pub(crate) fn load_stream(
    snap: &Snapshot<KinesisRecord>,
    p: &Partition,
    name: &str,
) -> Result<StreamRec, AwsError> {
    match snap.get(&stream_key(p, name)) {
        Some(KinesisRecord::Stream(s)) => Ok(s.clone()),
        _ => Err(stream_missing(p, name)),
    }
}

pub(crate) fn load_shards(
    snap: &Snapshot<KinesisRecord>,
    p: &Partition,
    name: &str,
) -> Vec<ShardRec> {
    snap.scan_prefix(&shards_prefix(p, name))
        .filter_map(|(_, r)| match r {
            KinesisRecord::Shard(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

impl Kinesis {
    /// Kinesis whose large payloads go to `engine`'s chunk store; throttling on unless the
    /// environment turns it off (`SNAPSTACK_KINESIS_THROTTLE=0`).
    pub fn new(engine: Arc<Engine>) -> Self {
        let throttle = std::env::var("SNAPSTACK_KINESIS_THROTTLE")
            .map(|v| throttle_setting(&v))
            .unwrap_or(true);
        let mut k = Self::with_throttle(engine, throttle);
        // Tests only: a shorter iterator lifetime, so that expiry can be seen end to end.
        if let Some(s) = std::env::var("SNAPSTACK_KINESIS_ITERATOR_SECONDS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            k.iterator_ttl_ms = s.saturating_mul(1000);
        }
        // Tests only: a shorter retention hour, so that a record past retention can be seen end
        // to end.
        if let Some(s) = std::env::var("SNAPSTACK_KINESIS_HOUR_SECONDS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        {
            k.hour_ms = ((s * 1000.0) as u64).clamp(1, HOUR_MS);
        }
        k
    }

    /// Kinesis with throttling on or off (and AWS's iterator lifetime and retention hour).
    pub fn with_throttle(engine: Arc<Engine>, throttle: bool) -> Self {
        Kinesis {
            store: Store::new(NAME),
            engine,
            clock: AtomicU64::new(0),
            ids: AtomicU64::new(sys_now_ms().wrapping_mul(2_654_435_761)),
            throttle: throttle.then(|| Mutex::new(HashMap::new())),
            iterator_ttl_ms: seq::ITERATOR_TTL_MS,
            hour_ms: HOUR_MS,
        }
    }

    /// The current time in ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        match self.clock.load(Ordering::Relaxed) {
            0 => sys_now_ms(),
            t => t,
        }
    }

    /// The arrival time before which a record of `s` is past its retention at `now`.
    pub(crate) fn retention_cutoff(&self, s: &StreamRec, now: u64) -> u64 {
        now.saturating_sub(u64::from(s.retention_hours).saturating_mul(self.hour_ms))
    }

    /// Set the length of a retention hour (tests).
    pub fn set_hour_ms(&mut self, ms: u64) {
        self.hour_ms = ms.max(1);
    }

    /// Fix the clock (tests).
    pub fn set_clock(&self, ms: u64) {
        self.clock.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn next_id(&self) -> u64 {
        let x = self.ids.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        // splitmix64
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Handle one operation on its input (the neutral JSON shape).
    pub fn handle(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Out, AwsError> {
        let p = &ctx.partition;
        match op {
            "CreateStream" => self.create_stream(p, v),
            "DeleteStream" => self.delete_stream(p, v),
            "DescribeStream" => self.describe_stream(p, v),
            "DescribeStreamSummary" => self.describe_stream_summary(p, v),
            "ListStreams" => self.list_streams(p, v),
            "IncreaseStreamRetentionPeriod" => self.change_retention(p, v, true),
            "DecreaseStreamRetentionPeriod" => self.change_retention(p, v, false),
            "StartStreamEncryption" => self.start_encryption(p, v),
            "StopStreamEncryption" => self.stop_encryption(p, v),
            "EnableEnhancedMonitoring" => self.enhanced_monitoring(p, v, true),
            "DisableEnhancedMonitoring" => self.enhanced_monitoring(p, v, false),
            "UpdateStreamMode" => self.update_stream_mode(p, v),
            "UpdateMaxRecordSize" => self.update_max_record_size(p, v),
            "UpdateStreamWarmThroughput" => self.update_warm_throughput(p, v),
            "AddTagsToStream" => self.add_tags_to_stream(p, v),
            "RemoveTagsFromStream" => self.remove_tags_from_stream(p, v),
            "ListTagsForStream" => self.list_tags_for_stream(p, v),
            "TagResource" => self.tag_resource(p, v),
            "UntagResource" => self.untag_resource(p, v),
            "ListTagsForResource" => self.list_tags_for_resource(p, v),
            "PutResourcePolicy" => self.put_resource_policy(p, v),
            "GetResourcePolicy" => self.get_resource_policy(p, v),
            "DeleteResourcePolicy" => self.delete_resource_policy(p, v),
            "DescribeLimits" => self.describe_limits(p),
            "DescribeAccountSettings" => self.describe_account_settings(p),
            "UpdateAccountSettings" => self.update_account_settings(p, v),
            "ListShards" => self.list_shards(p, v),
            "SplitShard" => self.split_shard(p, v),
            "MergeShards" => self.merge_shards(p, v),
            "UpdateShardCount" => self.update_shard_count(p, v),
            "PutRecord" => self.put_record(p, v),
            "PutRecords" => self.put_records(p, v),
            "GetShardIterator" => self.get_shard_iterator(p, v),
            "GetRecords" => self.get_records(p, v),
            "RegisterStreamConsumer" => self.register_consumer(p, v),
            "DescribeStreamConsumer" => self.describe_consumer(p, v),
            "ListStreamConsumers" => self.list_consumers(p, v),
            "DeregisterStreamConsumer" => self.deregister_consumer(p, v),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("Kinesis", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's Kinesis."),
            )),
        }
    }
}

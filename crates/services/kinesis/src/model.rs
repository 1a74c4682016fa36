//! Kinesis records and their keys. Append new variants at the END of [`KinesisRecord`] (and new
//! fields only in new variants); never reorder (docs/FORMAT.md, "Record types").
//!
//! Keys, each under the request's partition:
//! - `("s", stream)`: a stream (settings, tags, policy, the sequence counter);
//! - `("h", stream, shard index)`: a shard (hash-key range, lineage, sequence range);
//! - `("r", stream, shard index, counter)`: one data record, so a shard's records are one ordered
//!   range and a flush writes only the records that are new; payloads above [`INLINE_MAX`] bytes
//!   are engine blobs;
//! - `("c", stream, consumer)`: an enhanced fan-out consumer;
//! - `("a",)`: the account settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use snapstack_engine::{BlobId, Key, Partition, Record};

/// Payloads up to this many bytes are kept inside the record; larger ones are blobs.
pub const INLINE_MAX: usize = 4096;

/// One record of the Kinesis store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KinesisRecord {
    Stream(StreamRec),
    Shard(ShardRec),
    Data(DataRec),
    Consumer(ConsumerRec),
    Account(AccountRec),
}

impl Record for KinesisRecord {
    fn blobs(&self) -> Vec<BlobId> {
        match self {
            KinesisRecord::Data(DataRec {
                payload: Payload::Blob(id),
                ..
            }) => vec![*id],
            _ => Vec::new(),
        }
    }
}

/// A stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRec {
    pub name: String,
    /// Creation time (ms); also tells a re-created stream of the same name from the old one.
    pub created_ms: u64,
    pub status: String,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    pub retention_hours: u32,
    /// `NONE` or `KMS`.
    pub encryption: String,
    pub key_id: Option<String>,
    pub shard_level_metrics: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub policy: Option<String>,
    pub max_record_kib: u32,
    pub warm_throughput_mibps: Option<u32>,
    /// The index the next shard created gets.
    pub next_shard: u64,
    /// The next value of the stream's sequence counter: every record, shard opening and
    /// closing takes one, so sequence numbers increase across the whole stream.
    pub next_counter: u64,
    /// A random id (`StreamId`).
    pub stream_id: String,
}

/// A shard. Its `ShardId` is `shardId-` and its index on 12 digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRec {
    pub index: u64,
    pub start_hash: u128,
    pub end_hash: u128,
    pub parent: Option<u64>,
    pub adjacent_parent: Option<u64>,
    /// The counter of its starting sequence number.
    pub start_counter: u64,
    /// The counter of its ending sequence number, once closed.
    pub end_counter: Option<u64>,
    pub created_ms: u64,
    pub closed_ms: Option<u64>,
}

/// A record's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    Inline(Vec<u8>),
    Blob(BlobId),
}

/// One data record (its stream, shard and counter are its key's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRec {
    pub partition_key: String,
    pub arrival_ms: u64,
    pub payload: Payload,
    /// `NONE` or `KMS`: the stream's encryption when the record was written.
    pub encrypted: bool,
}

/// An enhanced fan-out consumer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumerRec {
    pub name: String,
    pub arn: String,
    pub created_ms: u64,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    pub policy: Option<String>,
}

/// The account's settings (DescribeAccountSettings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountRec {
    pub commitment_status: String,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
}

pub fn stream_key(p: &Partition, name: &str) -> Key {
    p.key().str("s").str(name).build()
}

pub fn streams_prefix(p: &Partition) -> Key {
    p.key().str("s").build()
}

pub fn shard_key(p: &Partition, stream: &str, index: u64) -> Key {
    p.key().str("h").str(stream).u64(index).build()
}

pub fn shards_prefix(p: &Partition, stream: &str) -> Key {
    p.key().str("h").str(stream).build()
}

pub fn data_key(p: &Partition, stream: &str, shard: u64, counter: u64) -> Key {
    p.key().str("r").str(stream).u64(shard).u64(counter).build()
}

pub fn shard_data_prefix(p: &Partition, stream: &str, shard: u64) -> Key {
    p.key().str("r").str(stream).u64(shard).build()
}

pub fn stream_data_prefix(p: &Partition, stream: &str) -> Key {
    p.key().str("r").str(stream).build()
}

pub fn consumer_key(p: &Partition, stream: &str, name: &str) -> Key {
    p.key().str("c").str(stream).str(name).build()
}

pub fn consumers_prefix(p: &Partition, stream: &str) -> Key {
    p.key().str("c").str(stream).build()
}

pub fn account_key(p: &Partition) -> Key {
    p.key().str("a").build()
}

/// `shardId-000000000003`.
pub fn shard_id(index: u64) -> String {
    format!("shardId-{index:012}")
}

/// The index a `ShardId` names (`shardId-000000000003`, or AWS's shorter forms like `3`).
pub fn shard_index(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("shardId-").unwrap_or(id);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

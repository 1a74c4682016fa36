//! Firehose records: delivery streams (configuration, version, buffer state), the records
//! buffered for delivery, and the read positions of Kinesis sources.
//!
//! Encoded with postcard (docs/FORMAT.md): append new variants at the end of an enum, never
//! reorder, never change a struct's fields.

use serde::{Deserialize, Serialize};
use snapstack_engine::{BlobId, Key, Partition, Record};

/// One record of the Firehose store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // records live behind an Arc in the store
pub enum FirehoseRecord {
    Stream(StreamRec),
    Buffered(BufRec),
    Checkpoint(Checkpoint),
}

impl Record for FirehoseRecord {
    fn blobs(&self) -> Vec<BlobId> {
        match self {
            FirehoseRecord::Buffered(BufRec {
                data: Data::Blob(id),
                ..
            }) => vec![*id],
            _ => Vec::new(),
        }
    }
}

/// A destination of a delivery stream: its kind (the configuration member's name without
/// `DestinationConfiguration`: `ExtendedS3`, `S3`, `HttpEndpoint`, `Redshift`, ...) and its
/// configuration as JSON text, in the shape of the `<Kind>DestinationConfiguration` input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub id: String,
    pub kind: String,
    pub config: String,
}

/// Server-side encryption of a stream (`DeliveryStreamEncryptionConfiguration`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    /// `ENABLED` or `DISABLED`.
    pub status: String,
    pub key_type: Option<String>,
    pub key_arn: Option<String>,
}

/// The records buffered and not yet delivered: counts, the oldest arrival, and the absolute
/// deadline by which the buffer is flushed. Retry state of a failing delivery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Buffer {
    pub count: u64,
    pub bytes: u64,
    /// When the current buffer started filling (epoch ms).
    pub opened_ms: u64,
    /// The interval deadline of the current buffer (epoch ms).
    pub deadline_ms: u64,
    /// Failed delivery attempts of the current batch.
    pub attempts: u32,
    /// Not before this time (after a failed attempt).
    pub retry_at_ms: u64,
    /// When the first attempt of the current batch was made (0: none yet).
    pub first_attempt_ms: u64,
}

/// A delivery stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRec {
    pub name: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The stream is `CREATING` until this time, then `ACTIVE`.
    pub active_ms: u64,
    /// `Some(t)`: `DELETING`; the sweeper removes it (and its buffered records) at `t`.
    pub deleting_ms: Option<u64>,
    pub version: u64,
    /// `DirectPut`, `KinesisStreamAsSource`, `MSKAsSource`, `DatabaseAsSource`.
    pub stream_type: String,
    /// The source's configuration as JSON text (the `KinesisStreamSourceConfiguration`,
    /// `DirectPutSourceConfiguration`, ... input member), with its member name.
    pub source: Option<(String, String)>,
    pub destinations: Vec<Destination>,
    pub encryption: Option<Encryption>,
    pub tags: Vec<(String, String)>,
    /// The sequence number the next buffered record gets.
    pub next_seq: u64,
    pub buffer: Buffer,
    /// `(Type, Details)` of the last delivery failure (`FailureDescription`).
    pub failure: Option<(String, String)>,
}

impl StreamRec {
    pub fn arn(&self, p: &Partition) -> String {
        format!(
            "arn:aws:firehose:{}:{}:deliverystream/{}",
            p.region, p.account, self.name
        )
    }

    pub fn status(&self, now: u64) -> &'static str {
        if self.deleting_ms.is_some() {
            "DELETING"
        } else if now < self.active_ms {
            "CREATING"
        } else {
            "ACTIVE"
        }
    }
}

/// A record's payload: inline when small, an engine blob otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Data {
    Inline(Vec<u8>),
    Blob(BlobId),
}

/// One record accepted and not yet delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BufRec {
    pub seq: u64,
    pub arrival_ms: u64,
    pub size: u64,
    pub data: Data,
}

/// Where a Kinesis-sourced stream has read a shard to (the last sequence number buffered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub shard_id: String,
    pub sequence: String,
}

/// Keys: `<partition> "s" <name>` streams, `<partition> "r" <name> <seq>` buffered records,
/// `<partition> "c" <name> <shard>` Kinesis checkpoints.
pub mod rk {
    use super::*;

    pub fn stream(p: &Partition, name: &str) -> Key {
        p.key().str("s").str(name).build()
    }

    pub fn streams(p: &Partition) -> Key {
        p.key().str("s").build()
    }

    pub fn record(p: &Partition, name: &str, seq: u64) -> Key {
        p.key().str("r").str(name).u64(seq).build()
    }

    pub fn records(p: &Partition, name: &str) -> Key {
        p.key().str("r").str(name).build()
    }

    pub fn checkpoint(p: &Partition, name: &str, shard: &str) -> Key {
        p.key().str("c").str(name).str(shard).build()
    }

    pub fn checkpoints(p: &Partition, name: &str) -> Key {
        p.key().str("c").str(name).build()
    }
}

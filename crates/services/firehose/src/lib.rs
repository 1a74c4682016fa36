//! Amazon Data Firehose (JSON 1.1, `X-Amz-Target: Firehose_20150804.<Op>`).
//!
//! Delivery streams, their destinations' configurations and their buffer state are records of
//! the `firehose` store ([`model`]). Every record a `PutRecord` or `PutRecordBatch` accepts is
//! its own store record (payloads above [`INLINE_MAX`] bytes as engine blobs), written in the
//! same store write that acknowledges it, together with the buffer's absolute flush deadline.
//! The delivery task started by [`Service::start`](snapstack_service::Service::start) flushes
//! due buffers (by size or interval) to the destination and then removes the delivered records
//! in one store write, so a restart delivers what was buffered and nothing twice: the S3 object
//! key of a batch is a function of the stream and of the batch's first record, so a delivery
//! retried after a crash overwrites the object it may already have written.
//!
//! Destinations delivered to: S3 (`ExtendedS3DestinationConfiguration`,
//! `S3DestinationConfiguration`) through `Runtime::invoke(ctx, "s3", "PutObject", ...)`, and
//! HTTP endpoints (`http://` only). Others (Redshift, OpenSearch, Splunk, Snowflake, Iceberg)
//! are stored and described; their deliveries fail, the failure is in the stream's
//! `FailureDescription`, and the records go to the backup S3 bucket as failed records, as
//! Firehose does when a destination stays unreachable.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use snapstack_engine::{Engine, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{Handled, RequestContext};

mod deliver;
mod describe;
pub mod model;
pub mod prefix;
mod put;
mod service;
mod source;
mod streams;
#[cfg(test)]
mod tests;

pub use model::*;

pub const NAME: &str = "firehose";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Payloads longer than this are engine blobs; shorter ones live inside their record.
pub const INLINE_MAX: usize = 4096;

/// How long a new stream stays `CREATING`.
pub const CREATING_MS: u64 = 1000;

/// How long a deleted stream stays `DELETING` before its records are removed.
pub const DELETING_MS: u64 = 1000;

/// The time source: epoch milliseconds. Tests substitute their own.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// The Firehose service.
pub struct Firehose {
    pub store: Arc<Store<FirehoseRecord>>,
    engine: Arc<Engine>,
    clock: Clock,
    /// Wakes the delivery task when a buffer became due by size.
    wake: tokio::sync::Notify,
    /// Streams whose flush is in progress (runtime only).
    flights: std::sync::Mutex<std::collections::HashSet<(snapstack_engine::Partition, String)>>,
}

pub(crate) fn ok(v: Value, write_version: Option<u64>) -> Result<Handled, AwsError> {
    Ok(Handled {
        body: v.to_string(),
        content_type: CONTENT_TYPE,
        write_version,
    })
}

/// Epoch seconds as the JSON protocol sends timestamps.
pub(crate) fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidArgumentException", message)
}

pub(crate) fn in_use(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceInUseException", message)
}

pub(crate) fn not_found(name: &str, account: &str) -> AwsError {
    AwsError::new(
        "ResourceNotFoundException",
        format!("Firehose {name} under account {account} not found."),
    )
}

impl Firehose {
    /// A Firehose whose blobs go to `engine`'s chunk store.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self::with_clock(engine, system_clock())
    }

    pub fn with_clock(engine: Arc<Engine>, clock: Clock) -> Self {
        Firehose {
            store: Store::new(NAME),
            engine,
            clock,
            wake: tokio::sync::Notify::new(),
            flights: Default::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// Handle one operation on its (already parsed and model-validated) JSON input.
    pub fn handle(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Handled, AwsError> {
        let empty = Map::new();
        let m = v.as_object().unwrap_or(&empty);
        let p = &ctx.partition;
        match op {
            "CreateDeliveryStream" => self.create(p, m),
            "DescribeDeliveryStream" => self.describe(p, m),
            "ListDeliveryStreams" => self.list(p, m),
            "DeleteDeliveryStream" => self.delete(p, m),
            "UpdateDestination" => self.update_destination(p, m),
            "PutRecord" => self.put_record(p, m),
            "PutRecordBatch" => self.put_record_batch(p, m),
            "TagDeliveryStream" => self.tag(p, m),
            "UntagDeliveryStream" => self.untag(p, m),
            "ListTagsForDeliveryStream" => self.list_tags(p, m),
            "StartDeliveryStreamEncryption" => self.start_encryption(p, m),
            "StopDeliveryStreamEncryption" => self.stop_encryption(p, m),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("Firehose", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's Firehose."),
            )),
        }
    }
}

/// A string member of an input.
pub(crate) fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

//! Amazon SQS, in both wire protocols on the same port: JSON 1.0 (`X-Amz-Target:
//! AmazonSQS.<Op>`, current SDKs) and the query protocol (form-encoded `Action=`, older SDKs and
//! tools). Both are decoded into the JSON shape of the request, handled once, and the JSON shape
//! of the result is encoded back in the protocol the client spoke.
//!
//! State lives in one store of [`model::Rec`] records; every timer (delay, visibility, retention,
//! deduplication window) is an absolute deadline in a record and is evaluated when a request looks
//! at it. The only runtime parts are the long-poll waiters (one `Notify` per queue, created on
//! demand, never saved) and an optional sweep that drops expired records.

pub mod access;
mod describe;
pub mod endpoint;
pub mod error;
pub mod json;
pub mod md5;
pub mod message;
pub mod metrics;
pub mod model;
pub mod query;
pub mod queue;
mod service;
pub mod sse;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::Value;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use tokio::sync::Notify;

use crate::endpoint::SqsEndpointStrategy;
pub use error::SqsError;
use model::Rec;
use snapstack_engine::{Partition, Store};
use snapstack_protocol::request::DEFAULT_LOCALSTACK_HOSTNAME;
use snapstack_service::RequestContext;
use snapstack_service::Runtime;

pub const NAME: &str = "sqs";

/// Every operation of the SQS API (the query protocol names them in `Action`).
pub const OPERATIONS: &[&str] = &[
    "AddPermission",
    "CancelMessageMoveTask",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "CreateQueue",
    "DeleteMessage",
    "DeleteMessageBatch",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "RemovePermission",
    "SendMessage",
    "SendMessageBatch",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];

/// Whether `action` is an SQS operation (a query request with no SigV4 scope is routed by it).
pub fn is_operation(action: &str) -> bool {
    OPERATIONS.contains(&action)
}

/// The wall clock, behind a trait so tests can move time without sleeping.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// The wire protocol a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Json,
    Query,
}

/// What an operation answered: the JSON shape of its result and the store version a change
/// produced (`None` when nothing changed).
#[derive(Clone, Debug, PartialEq)]
pub struct Out {
    pub body: Value,
    pub version: Option<u64>,
}

impl Out {
    pub fn read(body: Value) -> Self {
        Out {
            body,
            version: None,
        }
    }

    pub fn write(body: Value, version: Option<u64>) -> Self {
        Out { body, version }
    }
}

/// Who asks and at which address: what an operation needs besides its input.
pub struct Req<'a> {
    pub ctx: &'a RequestContext,
    /// The request's `Host` (queue URLs under the `dynamic` strategy).
    pub host: &'a str,
    /// How queue URLs are spelled.
    pub urls: &'a queue::QueueUrls,
    /// The runtime, to call KMS (SSE-KMS); `None` where there is none (KMS is then unreachable).
    pub rt: Option<&'a dyn Runtime>,
}

/// The SQS service.
pub struct Sqs {
    pub store: Arc<Store<Rec>>,
    clock: Arc<dyn Clock>,
    waiters: Mutex<HashMap<(Partition, String), Arc<Notify>>>,
    nonce: AtomicU64,
    /// Set when the server stops: long polls answer at once instead of holding the shutdown.
    stopping: AtomicBool,
    stop: Notify,
    /// How queue URLs are spelled; set from the configuration once the port is known.
    urls: RwLock<Arc<queue::QueueUrls>>,
    /// The `AWS/SQS` counters of the current report interval ([`metrics`]).
    pub metrics: metrics::SqsMetrics,
    /// The running message move tasks: an index of their records (`queue::move_task`), rebuilt
    /// from them by a scan after a load.
    move_runs: Mutex<std::collections::BTreeSet<queue::RunId>>,
    /// Plaintext SSE keys held in memory ([`sse`]).
    keys: sse::Keys,
}

impl Default for Sqs {
    fn default() -> Self {
        Self::new()
    }
}

impl Sqs {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let seed = RandomState::new().build_hasher().finish();
        Sqs {
            store: Store::new(NAME),
            clock,
            waiters: Mutex::new(HashMap::new()),
            nonce: AtomicU64::new(seed),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            urls: RwLock::new(Arc::new(queue::QueueUrls::new(
                SqsEndpointStrategy::Standard,
                format!("{DEFAULT_LOCALSTACK_HOSTNAME}:4566"),
            ))),
            metrics: metrics::SqsMetrics::from_env(),
            move_runs: Mutex::new(std::collections::BTreeSet::new()),
            keys: sse::Keys::default(),
        }
    }

    /// An SQS that spells queue URLs by this strategy (the host follows once the server is
    /// bound: [`snapstack_service::Service::bound`]).
    pub fn with_strategy(strategy: SqsEndpointStrategy) -> Self {
        let sqs = Self::new();
        sqs.set_urls(queue::QueueUrls::new(
            strategy,
            format!("{DEFAULT_LOCALSTACK_HOSTNAME}:4566"),
        ));
        sqs
    }

    /// Spell queue URLs this way from now on.
    pub fn set_urls(&self, urls: queue::QueueUrls) {
        *self.urls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(urls);
    }

    /// How queue URLs are spelled now.
    pub fn urls(&self) -> Arc<queue::QueueUrls> {
        self.urls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// A fresh receipt nonce: unique in this process and, from its random seed, across restarts.
    fn next_nonce(&self) -> u64 {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.finish()
    }

    /// The server is stopping: waiting receives answer now (with what they have, usually
    /// nothing) so connections can close.
    pub fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The long-poll waiters of a queue.
    fn notifier(&self, p: &Partition, queue: &str) -> Arc<Notify> {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        w.entry((p.clone(), queue.to_string()))
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Wake the receivers waiting on a queue (a message arrived or became visible).
    fn wake(&self, p: &Partition, queue: &str) {
        let w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = w.get(&(p.clone(), queue.to_string())) {
            n.notify_waiters();
        }
    }

    fn forget_waiters(&self, p: &Partition, queue: &str) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = w.remove(&(p.clone(), queue.to_string())) {
            n.notify_waiters();
        }
    }

    /// Handle one operation whose input is in the JSON shape.
    pub async fn handle(&self, req: &Req<'_>, op: &str, input: Value) -> Result<Out, SqsError> {
        self.authorize(req, op, &input)?;
        match op {
            "CreateQueue" => self.create_queue(req, parse(input)?),
            "GetQueueUrl" => self.get_queue_url(req, parse(input)?),
            "ListQueues" => self.list_queues(req, parse(input)?),
            "DeleteQueue" => self.delete_queue(req, parse(input)?),
            "GetQueueAttributes" => self.get_queue_attributes(req, parse(input)?),
            "SetQueueAttributes" => self.set_queue_attributes(req, parse(input)?),
            "TagQueue" => self.tag_queue(req, parse(input)?),
            "UntagQueue" => self.untag_queue(req, parse(input)?),
            "ListQueueTags" => self.list_queue_tags(req, parse(input)?),
            "PurgeQueue" => self.purge_queue(req, parse(input)?),
            "ListDeadLetterSourceQueues" => self.list_dead_letter_sources(req, parse(input)?),
            "StartMessageMoveTask" => self.start_move_task(req, parse(input)?),
            "ListMessageMoveTasks" => self.list_move_tasks(req, parse(input)?),
            "CancelMessageMoveTask" => self.cancel_move_task(req, parse(input)?),
            "SendMessage" => self.send_message(req, parse(input)?).await,
            "SendMessageBatch" => self.send_message_batch(req, parse(input)?).await,
            "ReceiveMessage" => self.receive_message(req, parse(input)?).await,
            "DeleteMessage" => self.delete_message(req, parse(input)?),
            "DeleteMessageBatch" => self.delete_message_batch(req, parse(input)?),
            "ChangeMessageVisibility" => self.change_visibility(req, parse(input)?),
            "ChangeMessageVisibilityBatch" => self.change_visibility_batch(req, parse(input)?),
            "AddPermission" => self.add_permission(req, parse(input)?),
            "RemovePermission" => self.remove_permission(req, parse(input)?),
            _ => Err(SqsError::unknown_operation(op)),
        }
    }

    /// Drop expired messages and deduplication entries, and the KMS data keys no message needs
    /// any more (none refers to them and their longest reuse period is over). State is right
    /// without it (expiry is evaluated on every request); it only frees memory. Returns how many
    /// records went.
    pub fn sweep(&self) -> usize {
        let now = self.now();
        let snap = self.store.snapshot();
        let mut doomed = Vec::new();
        let mut needed = std::collections::BTreeSet::new();
        for (_, rec) in snap.iter() {
            if let Some(model::BodyKey::Kms {
                account,
                region,
                id,
            }) = rec.sealed_body().map(|b| &b.key)
            {
                let p = Partition::new(account.clone(), region.clone());
                needed.insert(model::data_key_key(&p, *id));
            }
        }
        let key_life = sse::MAX_REUSE_SECONDS * 1000;
        for (k, rec) in snap.iter() {
            match rec {
                Rec::DataKey(d)
                    if d.created_ms.saturating_add(key_life) <= now && !needed.contains(k) =>
                {
                    doomed.push((k.clone(), None))
                }
                Rec::Dedup(d) if d.expires_at <= now => doomed.push((k.clone(), None)),
                Rec::Attempt(a) if a.expires_at <= now => doomed.push((k.clone(), None)),
                Rec::Queue(q) => {
                    let Some(p) = model::partition_of(k) else {
                        continue;
                    };
                    let retention = queue::retention_ms(q);
                    for (mk, m) in snap.scan_prefix(&model::messages_prefix(&p, &q.name)) {
                        if let Some(m) = m.message()
                            && m.sent_ms.saturating_add(retention) <= now
                        {
                            doomed.push((mk.clone(), Some(m.id.clone())));
                        }
                    }
                }
                _ => {}
            }
        }
        if doomed.is_empty() {
            return 0;
        }
        let (n, _) = self.store.write(|t| {
            let mut n = 0;
            for (k, id) in &doomed {
                // Re-check under the write lock: the record may have changed since the scan.
                let still = match (t.get(k), id) {
                    (Some(Rec::Dedup(d)), None) => d.expires_at <= now,
                    (Some(Rec::Attempt(a)), None) => a.expires_at <= now,
                    (Some(Rec::DataKey(_)), None) => true,
                    (Some(r), Some(id)) => r.message().is_some_and(|m| &m.id == id),
                    _ => false,
                };
                if still && t.remove(k).is_some() {
                    n += 1;
                }
            }
            n
        });
        n
    }
}

/// Decode an operation's input from its JSON shape.
fn parse<T: DeserializeOwned>(input: Value) -> Result<T, SqsError> {
    serde_json::from_value(input).map_err(|e| SqsError::serialization(e.to_string()))
}

/// How often the sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How often running message move tasks move what is due.
pub const MOVE_STEP_INTERVAL: Duration = Duration::from_millis(200);
/// How often the index of running move tasks is rebuilt from the records.
pub const MOVE_RESCAN_INTERVAL: Duration = Duration::from_secs(30);

/// Serve one SQS request: decode it, handle it, wait for durability if it changed state, and
/// encode the answer (or error) in the protocol it came in.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    sqs: &Sqs,
    persistence: &dyn Runtime,
    ctx: &RequestContext,
    parts: &Parts,
    wire: Wire,
    op: &str,
    body: &[u8],
    params: &[(String, String)],
) -> Response {
    persistence.ensure_loaded(NAME).await;
    let host = host_of(parts);
    let urls = sqs.urls();
    let req = Req {
        ctx,
        host: &host,
        urls: &urls,
        rt: Some(persistence),
    };
    let input = match wire {
        Wire::Json => json::decode(body),
        Wire::Query => query::decode(op, params, parts.uri.path()).map(|mut input| {
            // POSTed to the queue's URL: the queue is the path on this host, whose name may
            // say the region (`sqs.<region>.…`, `<region>.queue.…`).
            if !params.iter().any(|(k, _)| k == "QueueUrl")
                && let Some(Value::String(path)) = input.get_mut("QueueUrl")
            {
                *path = format!("http://{host}{path}");
            }
            input
        }),
    };
    let result = match input {
        Ok(input) => sqs.handle(&req, op, input).await,
        Err(e) => Err(e),
    };
    let result = match result {
        Ok(out) => match out.version {
            Some(v) => match persistence.wait_durable(NAME, v).await {
                Ok(()) => Ok(out),
                Err(e) => Err(SqsError::internal(format!(
                    "The change could not be saved durably: {e}"
                ))),
            },
            None => Ok(out),
        },
        Err(e) => Err(e),
    };
    match (wire, result) {
        (Wire::Json, Ok(out)) => json::response(op, &out.body, &ctx.request_id),
        (Wire::Json, Err(e)) => json::error(&e, &ctx.request_id),
        (Wire::Query, Ok(out)) => query::response(op, &out.body, &ctx.request_id),
        (Wire::Query, Err(e)) => query::error(&e, &ctx.request_id),
    }
}

/// The host for queue URLs: the request's `Host` header when it is a plausible host name.
fn host_of(parts: &Parts) -> String {
    let h = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        h.to_string()
    } else {
        "localhost:4566".to_string()
    }
}

/// A test clock that moves only when told.
#[cfg(test)]
pub struct ManualClock(pub AtomicU64);

#[cfg(test)]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod test_env;
#[cfg(test)]
mod tests;

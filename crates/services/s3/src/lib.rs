//! Amazon S3 (REST-XML): buckets, objects, listing, multipart uploads, tagging, versioning.
//!
//! Object bodies stream into the engine's chunk store as blobs (FastCDC pieces), sealed on the way
//! with AES-256-GCM under a data key of their own (`seal.rs`, `keyring.rs`, `plain.rs`); the
//! records hold only blob ids and the wrapped keys, so a snapshot never copies a body, and a flush
//! after adding one object writes that object's new pieces plus a path of the tree.

mod attributes;
pub mod body;
pub mod chunksig;
mod config;
mod cors;
mod describe;
pub mod durability;
mod encryption;
mod error;
mod headers;
mod invoke;
mod keyring;
mod lifecycle;
mod lock;
mod metadata;
pub mod model;
mod ops;
mod out;
mod plain;
mod routing;
mod seal;
mod select;
mod service;
mod sse_c;
mod subres;
mod time;
mod validation;
pub mod xml;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use snapstack_engine::{Engine, Key, Store};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderMap, Method, StatusCode};
use snapstack_protocol::request_log;
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::RequestContext;

use self::headers::{header, set};
use self::model::{S3Record, keys};
use self::time::now_ms;

pub use self::error::S3Error;
pub(crate) use self::error::S3Result;
pub use self::time::iso8601;

pub const NAME: &str = "s3";
/// Bucket-level request bodies (XML documents) are at most this large.
const MAX_DOCUMENT: usize = 1 << 20;
/// Every part but the last of a multipart upload is at least this large.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_NUMBER: u32 = 10_000;
const MAX_KEY_LEN: usize = 1024;
const MAX_TAGS: usize = 50;

/// What a request produced: the response, and the store version of its change, if it made one
/// (so the gateway can hold the answer until the change is durable).
pub struct Outcome {
    pub response: Response,
    pub write_version: Option<u64>,
}

/// The S3 service.
pub struct S3 {
    pub store: Arc<Store<S3Record>>,
    engine: Arc<Engine>,
    ids: AtomicU64,
    /// The clock lifecycle rules and object lock retention are judged by (injectable for
    /// tests: [`S3::with_clock`]).
    clock: Clock,
    /// How long a lifecycle "day" is, in milliseconds: 86,400,000, or, for tests only,
    /// `SNAPSTACK_S3_LIFECYCLE_DAY_SECONDS`.
    day_ms: u64,
    /// Plaintext S3 Bucket Keys in memory (`keyring.rs`).
    bucket_keys: keyring::BucketKeyCache,
    /// The `host[:port]` the URLs handed out name (`LOCALSTACK_HOST`), set when the server binds.
    advertised_host: std::sync::RwLock<String>,
}

/// A clock in milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A parsed request: who, which bucket and key, the query.
struct Req<'a> {
    ctx: &'a RequestContext,
    method: Method,
    /// The operation of the S3 model this request was matched to.
    operation: &'static str,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
    uri: &'a snapstack_protocol::http::Uri,
    /// The route's path labels, raw (what the rest codec's `parse_request` takes).
    labels: Vec<(&'static str, String)>,
    /// The chunk signature chain of a signed `aws-chunked` upload, when the gateway's policy
    /// enforcement verified its seed signature (`chunksig.rs`).
    chunk_signing: Option<snapstack_policy::sigv4::ChunkVerifier>,
    /// The runtime, to call other services (KMS for the AWS managed key `aws/s3`); `None` when
    /// the service is driven without one (tests, fuzzing).
    rt: Option<&'a dyn snapstack_service::Runtime>,
}

impl Req<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn h(&self, name: &str) -> Option<&str> {
        header(self.headers, name)
    }

    fn account(&self) -> &str {
        &self.ctx.partition.account
    }

    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or("")
    }

    fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
}

/// Bodies up to this size are written and read in place on the async worker: hashing and
/// copying 64 KiB costs microseconds, less than handing the worker's core to another thread
/// (`block_in_place`) or a blocking-pool task and a channel. Larger bodies stream off the worker.
pub(crate) const INLINE_BODY: u64 = 64 * 1024;

/// Run blocking engine work (hashing and writing a body's pieces) off the async worker where the
/// runtime allows it (a multi-threaded runtime); on a current-thread runtime, in place.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

impl S3 {
    pub fn new(engine: Arc<Engine>) -> Self {
        S3 {
            store: Store::new(NAME),
            engine,
            ids: AtomicU64::new(now_ms() << 16),
            clock: Arc::new(now_ms),
            day_ms: lifecycle::day_ms_from_env(),
            bucket_keys: keyring::BucketKeyCache::default(),
            advertised_host: std::sync::RwLock::new("localhost.localstack.cloud:4566".into()),
        }
    }

    /// A bucket's absolute URL, as LocalStack hands it out (`Location` of CompleteMultipartUpload,
    /// and of CreateBucket outside us-east-1): `http://<bucket>.s3.<LOCALSTACK_HOST>/`.
    pub(crate) fn bucket_url(&self, bucket: &str) -> String {
        let host = self
            .advertised_host
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        format!("http://{bucket}.s3.{host}/")
    }

    /// Name `host[:port]` in the URLs handed out.
    pub(crate) fn set_advertised_host(&self, host: &str) {
        *self
            .advertised_host
            .write()
            .unwrap_or_else(|e| e.into_inner()) = host.to_string();
    }

    /// The same service judging time by `clock`, with lifecycle days of `day_ms` (tests).
    pub fn with_clock(mut self, clock: Clock, day_ms: u64) -> Self {
        self.clock = clock;
        self.day_ms = day_ms.max(1);
        self
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    fn new_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!(
            "{n:016x}{:08x}",
            (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
        )
    }

    /// The operation a request is (matched from the model), with its bucket, key and query.
    /// `prerouted`: this request's [`routing::Prerouted`], when it was matched already
    /// ([`snapstack_service::Service::route`]).
    fn request<'a>(
        &self,
        ctx: &'a RequestContext,
        parts: &'a Parts,
        prerouted: Option<routing::Prerouted>,
    ) -> S3Result<Req<'a>> {
        let (routed, query) = match prerouted {
            Some(p) => (p.routed, p.query),
            None => {
                let query = routing::parse_query(parts.uri.query())?;
                let routed =
                    routing::route(&parts.method, &parts.headers, parts.uri.path(), &query)?;
                (routed, query)
            }
        };
        Ok(Req {
            ctx,
            method: parts.method.clone(),
            operation: routed.operation,
            bucket: routed.bucket,
            key: routed.key,
            query,
            headers: &parts.headers,
            uri: &parts.uri,
            labels: routed.labels,
            chunk_signing: parts
                .extensions
                .get::<snapstack_policy::sigv4::ChunkVerifier>()
                .cloned(),
            rt: None,
        })
    }

    /// Handle one S3 request.
    pub async fn handle(&self, ctx: &RequestContext, parts: &Parts, body: Body) -> Outcome {
        self.handle_in(None, ctx, parts, body).await
    }

    /// Handle one S3 request with the runtime that serves it (other services reachable).
    pub async fn handle_in(
        &self,
        rt: Option<&dyn snapstack_service::Runtime>,
        ctx: &RequestContext,
        parts: &Parts,
        body: Body,
    ) -> Outcome {
        self.handle_routed(rt, ctx, parts, body, None).await
    }

    /// [`S3::handle_in`] of a request S3 has matched already, when `prerouted` says so (for
    /// IAM enforcement: [`snapstack_service::Service::route`]).
    pub(crate) async fn handle_routed(
        &self,
        rt: Option<&dyn snapstack_service::Runtime>,
        ctx: &RequestContext,
        parts: &Parts,
        body: Body,
        prerouted: Option<routing::Prerouted>,
    ) -> Outcome {
        if parts.method == Method::OPTIONS {
            let response = self.preflight(ctx, parts);
            return Outcome {
                response: request_log::tag(response, "s3", "OPTIONS (CORS preflight)"),
                write_version: None,
            };
        }
        let head = parts.method == Method::HEAD;
        let req = match self.request(ctx, parts, prerouted) {
            Ok(r) => Req { rt, ..r },
            Err(e) => {
                return Outcome {
                    response: e.into_response(&ctx.request_id, head),
                    write_version: None,
                };
            }
        };
        let head = req.method == Method::HEAD;
        let operation = req.operation;
        let (mut response, write_version) = match self.dispatch(&req, body).await {
            Ok((mut response, write_version)) => {
                set(response.headers_mut(), "x-amz-request-id", &ctx.request_id);
                (response, write_version)
            }
            Err(e) => (e.into_response(&ctx.request_id, head), None),
        };
        self.cors_actual(
            ctx,
            &req.method,
            req.headers,
            req.bucket.as_deref(),
            &mut response,
        );
        Outcome {
            response: request_log::tag(response, "s3", operation),
            write_version,
        }
    }
}

async fn read_document(body: Body) -> S3Result<Bytes> {
    snapstack_protocol::body::to_bytes(body, MAX_DOCUMENT)
        .await
        .map_err(|_| S3Error::bad("MaxMessageLengthExceeded", "Your request was too big."))
}

/// The key of a bucket record (for tests and tools).
pub fn bucket_key(account: &str, bucket: &str) -> Key {
    keys::bucket(account, bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::http::HeaderValue;

    #[test]
    fn addressing() {
        let route = |host: &'static str, path: &str| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static(host));
            let r = routing::route(&Method::GET, &h, path, &[]).unwrap();
            (r.bucket, r.key)
        };
        let local = "127.0.0.1:4566";
        assert_eq!(
            route(local, "/b/a%20b/c"),
            (Some("b".into()), Some("a b/c".into()))
        );
        assert_eq!(route(local, "/b"), (Some("b".into()), None));
        assert_eq!(route(local, "/b/"), (Some("b".into()), None));
        assert_eq!(route(local, "/"), (None, None));
        assert_eq!(
            route("mybucket.localhost:4566", "/k"),
            (Some("mybucket".into()), Some("k".into()))
        );
        assert_eq!(
            route("mybucket.s3.localhost.localstack.cloud", "/"),
            (Some("mybucket".into()), None)
        );
        assert_eq!(
            route("mybucket.s3.localhost.localstack.cloud", "/dir/"),
            (Some("mybucket".into()), Some("dir/".into()))
        );
    }
}

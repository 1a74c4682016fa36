//! AWS Lambda (rest-json): functions, versions, aliases, permissions, tags, concurrency, and
//! invocations that run the function's code on this machine, without Docker.
//!
//! Code zips are engine blobs (identical code is stored once, however many versions hold it).
//! An invocation runs in a process started by the [`exec`] module: our own bootstrap for
//! Python and Node.js, the function's own `bootstrap` for `provided.*`, each talking to a Lambda
//! Runtime API served on loopback. Asynchronous invocations are records with absolute
//! deadlines, run by a task started in `Service::start` ([`queue`]), so one accepted before a
//! kill -9 runs after the restart.

pub mod code;
mod durable;
mod error;
mod esm;
pub mod exec;
mod invoke;
mod invoke_stream;
pub mod model;
mod names;
mod ops;
mod output;
mod queue;
mod service;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
mod urls;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use snapstack_engine::{Engine, Store};

pub use error::LambdaError;
use model::LambdaRecord;

pub const NAME: &str = "lambda";

/// A clock in milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub(crate) type LResult<T> = Result<T, LambdaError>;

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where the server is: the host URLs name (`Code.Location`), and the URL functions call back.
#[derive(Clone, Debug, Default)]
pub struct Where {
    pub advertised_host: String,
    pub internal_url: String,
}

/// The Lambda service.
pub struct Lambda {
    pub store: Arc<Store<LambdaRecord>>,
    engine: Arc<Engine>,
    clock: Clock,
    ids: AtomicU64,
    pub(crate) exec: Arc<exec::ProcessExecutor>,
    pub(crate) place: RwLock<Where>,
    /// Delays before the second and third attempt of an asynchronous invocation (AWS: 1 and
    /// 2 minutes; `SNAPSTACK_LAMBDA_RETRY_SECONDS` scales them down for tests).
    pub(crate) retry_delays_ms: [u64; 2],
    pub(crate) queue_wake: tokio::sync::Notify,
    /// Invocations running now, by function (reserved concurrency).
    pub(crate) inflight: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    /// At most this many invocations run at once on this machine (each is a process):
    /// `SNAPSTACK_LAMBDA_MAX_CONCURRENCY`, default 64; more are throttled (429).
    pub(crate) max_running: usize,
    /// The runtime, once started (function logs go to CloudWatch Logs through it).
    pub(crate) runtime: std::sync::OnceLock<Arc<dyn snapstack_service::Runtime>>,
    /// Invocation counts for CloudWatch (`AWS/Lambda`), this instance's own.
    pub(crate) metrics: invoke::metrics::Metrics,
}

impl Lambda {
    /// A Lambda service whose code blobs live in `engine` and whose unpacked code and runtime
    /// files go under `work_dir`.
    pub fn new(engine: Arc<Engine>, work_dir: PathBuf) -> Self {
        let retry = std::env::var("SNAPSTACK_LAMBDA_RETRY_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0) as u64);
        let retry_delays_ms = match retry {
            Some(ms) => [ms, ms * 2],
            None => [60_000, 120_000],
        };
        Lambda {
            store: Store::new(NAME),
            engine,
            clock: Arc::new(now_ms),
            ids: AtomicU64::new(now_ms() << 12),
            exec: Arc::new(exec::ProcessExecutor::new(work_dir)),
            place: RwLock::new(Where {
                advertised_host: "localhost.localstack.cloud:4566".into(),
                internal_url: "http://127.0.0.1:4566".into(),
            }),
            retry_delays_ms,
            queue_wake: tokio::sync::Notify::new(),
            inflight: Default::default(),
            max_running: std::env::var("SNAPSTACK_LAMBDA_MAX_CONCURRENCY")
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(64),
            runtime: std::sync::OnceLock::new(),
            metrics: Default::default(),
        }
    }

    /// The same service judging time by `clock` (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    pub(crate) fn place(&self) -> Where {
        self.place.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_place(&self, w: Where) {
        *self.place.write().unwrap_or_else(|e| e.into_inner()) = w;
    }

    /// A fresh UUID-shaped id (revision ids, request ids, statement ids).
    pub(crate) fn uuid(&self) -> String {
        use sha2::Digest;
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let h = sha2::Sha256::digest(format!("{n}:{}:{:p}", now_ms(), self).as_bytes());
        let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-4{}-a{}-{}",
            &x[0..8],
            &x[8..12],
            &x[13..16],
            &x[17..20],
            &x[20..32]
        )
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

/// Run blocking work (hashing and storing a zip) off the async worker where the runtime allows.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

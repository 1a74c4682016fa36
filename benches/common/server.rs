//! The product's server (`server::build` and its router) in the bench process, on a free
//! loopback port, with persistence on in a volume the caller keeps. Shared by the HTTP benches so
//! that each measures the same server setup.

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use snapstack::server::config::{Config, LoadStrategy, SaveStrategy};
use snapstack::server::gateway::{App, router};

/// A running in-process server.
pub struct InProcessServer {
    pub app: Arc<App>,
    pub addr: String,
    /// The serving task (the latency bench aborts it between targets; the others let it run).
    pub task: tokio::task::JoinHandle<()>,
}

/// Persistence on, nothing loaded at start, saves by `save` (the benches use `MANUAL`, or a
/// strategy under test), `flush_interval` for `SCHEDULED`.
pub fn config(
    volume: &Path,
    save: SaveStrategy,
    flush_interval: Duration,
    direct_writes: bool,
) -> Config {
    Config {
        extra_listen: Vec::new(),
        services: None,
        eager_service_loading: false,
        init_dir: std::path::PathBuf::from("/nonexistent"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        persistence: true,
        persist_mode: snapstack::server::config::PersistMode::ReadWrite,
        not_persisted: Vec::new(),
        enforce_iam: false,
        iam_soft_mode: false,
        save_strategy: save,
        load_strategy: LoadStrategy::Manual,
        flush_interval,
        volume_dir: volume.to_path_buf(),
        direct_writes,
        write_ahead_log: true,
        connections: Default::default(),
        sqs_endpoint_strategy: snapstack::server::config::SqsEndpointStrategy::Standard,
        localstack_host: None,
    }
}

/// Build the app, start its persistence tasks if `start_persistence`, and serve `wrap(router)`.
pub async fn start(
    config: &Config,
    start_persistence: bool,
    wrap: impl FnOnce(axum::Router) -> axum::Router,
) -> InProcessServer {
    let app = snapstack::server::build(config).await.expect("build");
    if start_persistence {
        app.persistence.start(config.flush_interval);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let r = wrap(router(app.clone()));
    let task = tokio::spawn(async move {
        let _ = axum::serve(snapstack::server::no_delay(listener), r).await;
    });
    InProcessServer { app, addr, task }
}

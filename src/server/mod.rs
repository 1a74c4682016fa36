//! `snapstack serve`: the AWS gateway, the services, and the persistence runtime around the
//! engine. The engine knows nothing of HTTP; the services know nothing of files.

pub mod aws_request;
pub mod bench;
pub mod config;
pub mod errors;
pub mod gateway;
pub mod listener;
pub mod persistence;
pub mod request_log;
pub mod services;
pub mod state_api;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{Engine, EngineOptions};
use config::{Config, LoadStrategy, SaveStrategy};
use gateway::App;
use persistence::Persistence;
use services::{dynamodb, s3, sqs, ssm, sts};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the state directory {dir}: {source}")]
    State {
        dir: String,
        #[source]
        source: crate::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

/// How often, without persistence, unreferenced S3 bodies are dropped from memory.
const MEMORY_GC_INTERVAL: Duration = Duration::from_secs(30);

/// Build the application: services, stores, and (with persistence on) the engine.
pub async fn build(config: &Config) -> Result<Arc<App>, ServeError> {
    let ssm = ssm::Ssm::new();
    let sts = sts::Sts::new();
    let sqs = sqs::Sqs::new();
    sqs.set_urls(sqs::queue::QueueUrls::new(
        config.sqs_endpoint_strategy,
        config.advertised_host(config.listen.port()),
    ));
    let dynamodb = dynamodb::DynamoDb::new();
    let services = vec![s3::NAME, sqs::NAME, ssm::NAME, sts::NAME, dynamodb::NAME];
    let engine = if config.persistence {
        let dir = config.state_dir();
        let (ssm_store, sts_store) = (ssm.store.clone(), sts.store.clone());
        let sqs_store = sqs.store.clone();
        let ddb_store = dynamodb.store.clone();
        let d = dir.clone();
        let options = EngineOptions {
            direct_writes: config.direct_writes,
            write_ahead_log: config.write_ahead_log
                && config.save_strategy == SaveStrategy::OnRequest,
            ..EngineOptions::default()
        };
        let engine = tokio::task::spawn_blocking(move || -> crate::Result<Engine> {
            std::fs::create_dir_all(&d).map_err(|e| crate::Error::Io {
                file: d.display().to_string(),
                source: e,
            })?;
            let engine = Engine::open(&d, options)?;
            engine.register(ssm_store)?;
            engine.register(sts_store)?;
            engine.register(sqs_store)?;
            engine.register(ddb_store)?;
            Ok(engine)
        })
        .await
        .map_err(|e| ServeError::Internal(e.to_string()))?
        .map_err(|source| ServeError::State {
            dir: dir.display().to_string(),
            source,
        })?;
        Some(Arc::new(engine))
    } else {
        None
    };
    // S3 bodies live in the chunk store: the persistent one, or one in memory.
    let blob_engine = match &engine {
        Some(e) => e.clone(),
        None => Arc::new(Engine::in_memory().map_err(|source| ServeError::State {
            dir: "memory".into(),
            source,
        })?),
    };
    let s3 = s3::S3::new(blob_engine.clone());
    blob_engine
        .register(s3.store.clone())
        .map_err(|source| ServeError::State {
            dir: config.state_dir().display().to_string(),
            source,
        })?;
    if engine.is_none() {
        // Without persistence nothing saves or collects: the bodies of deleted and overwritten
        // objects would stay in memory for good. Collect them now and then.
        let e = blob_engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMORY_GC_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let e = e.clone();
                match tokio::task::spawn_blocking(move || e.gc()).await {
                    Ok(Ok(r)) => tracing::debug!(?r, "collected unreferenced S3 bodies"),
                    Ok(Err(err)) => warn!(error = %err, "collecting S3 bodies failed"),
                    Err(err) => warn!(error = %err, "the collection task failed"),
                }
            }
        });
    }
    let persistence =
        Persistence::new(engine, config.save_strategy, config.load_strategy, services);
    let app = Arc::new(App {
        s3,
        sqs,
        ssm,
        sts,
        dynamodb,
        persistence,
        started: std::time::Instant::now(),
        session_id: aws_request::new_request_id(),
    });
    sqs::spawn_sweeper(&app);
    Ok(app)
}

/// Run the server until SIGTERM or SIGINT; then save as the strategy says and return.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    info!(
        listen = %config.listen,
        persistence = config.persistence,
        save = %config.save_strategy,
        load = %config.load_strategy,
        flush_interval = ?config.flush_interval,
        state_dir = %config.state_dir().display(),
        pid = std::process::id(),
        "starting snapstack {}",
        crate::VERSION
    );
    let nofile = listener::raise_nofile_limit();
    let max_connections = listener::connection_limit(config.connections.max_connections, nofile);
    listener::log_limits(&config.connections, max_connections, nofile);
    let app = build(&config).await?;
    if config.persistence && config.load_strategy == LoadStrategy::OnStartup {
        app.persistence.load_on_startup().await;
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
    let local = listener.local_addr()?;
    // The URLs handed out name the port actually bound (GATEWAY_LISTEN may ask for port 0).
    app.sqs.set_urls(sqs::queue::QueueUrls::new(
        config.sqs_endpoint_strategy,
        config.advertised_host(local.port()),
    ));
    app.persistence.start(config.flush_interval);
    spawn_ttl_sweeper(app.clone());
    // Stdout: the bound address (tests and scripts read it), then `Ready.` on its own line, the
    // line LocalStack prints and test frameworks (testcontainers: `.*Ready\.\n`) wait for.
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "snapstack listening on {local}");
        let _ = writeln!(out, "Ready.");
        let _ = out.flush();
    }
    info!(%local, "Ready.");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let (mut sqs_stop, stopping) = (stop_rx.clone(), app.clone());
    tokio::spawn(async move {
        let _ = sqs_stop.wait_for(|s| *s).await;
        stopping.sqs.stop_waiting();
    });
    let server = listener::serve(
        listener,
        gateway::router(app.clone()),
        config.connections,
        max_connections,
        stop_rx.clone(),
    );
    let mut deadline = stop_rx.clone();
    tokio::select! {
        _ = server => {},
        _ = async move {
            let _ = deadline.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        } => warn!("connections did not close within 10 s of the shutdown signal"),
    }
    info!("shutting down");
    app.persistence.shutdown().await;
    info!("bye");
    Ok(())
}

/// How often expired DynamoDB items are looked for.
const TTL_SWEEP_INTERVAL: Duration = Duration::from_secs(3);

/// Delete expired DynamoDB items now and then (once the service's state is loaded).
fn spawn_ttl_sweeper(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TTL_SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let p = &app.persistence;
            let ready = !p.enabled()
                || p.load_strategy() != LoadStrategy::OnRequest
                || p.is_loaded(dynamodb::NAME);
            if !ready {
                continue;
            }
            let a = app.clone();
            let now = a.dynamodb.now_ms();
            match tokio::task::spawn_blocking(move || a.dynamodb.sweep_expired(now)).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(n, "deleted expired DynamoDB items"),
                Err(e) => warn!(error = %e, "the DynamoDB TTL sweep failed"),
            }
        }
    });
}

/// The listener with `TCP_NODELAY` on every connection: a response written in parts (headers,
/// then a streamed body) must not wait on Nagle's algorithm for the client's delayed ACK.
pub fn no_delay(
    listener: TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = async {
            match signal(SignalKind::terminate()) {
                Ok(mut term) => loop {
                    if term.recv().await.is_some() {
                        info!("SIGTERM received");
                        return;
                    }
                    warn!("the SIGTERM stream ended; no longer listening for SIGTERM");
                    std::future::pending::<()>().await;
                },
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                    std::future::pending::<()>().await;
                }
            }
        };
        let int = async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => info!("SIGINT received"),
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! `snapstack serve`: the AWS gateway, the services, and the persistence runtime around the
//! engine. The engine knows nothing of HTTP; the services know nothing of files.

pub mod bench;
pub mod config;
pub mod diagnose;
pub mod enforce;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod init_hooks;
pub mod listener;
pub mod loadgen;
pub mod metrics;
pub mod persistence;
#[cfg(feature = "pods")]
pub mod pods_api;
pub mod registry;
pub mod runtime;
pub mod state_api;
pub mod unserved;

pub use snapstack_service::{Service, describe};

/// What a request says about its sender (kept at its old path for tests and tools).
pub mod aws_request {
    pub use snapstack_protocol::request::*;
    pub use snapstack_service::RequestContext;
}

/// The services, by crate (kept at their old paths for tests and tools).
pub mod services {
    pub use snapstack_dynamodb as dynamodb;
    pub use snapstack_s3 as s3;
    pub use snapstack_service::Handled;
    pub use snapstack_sqs as sqs;
    pub use snapstack_ssm as ssm;
    pub use snapstack_sts as sts;
}

pub use snapstack_protocol::request_log;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use config::{Config, LoadStrategy, PersistMode, SaveStrategy};
use gateway::App;
use persistence::{Persistence, Switches};
use snapstack_engine::{Engine, EngineOptions};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the state directory {dir}: {source}")]
    State {
        dir: String,
        #[source]
        source: snapstack_engine::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Locked(#[from] snapstack_engine::lock::LockError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

/// How often, without persistence, unreferenced S3 bodies are dropped from memory.
const MEMORY_GC_INTERVAL: Duration = Duration::from_secs(30);

/// Build the application: services, stores, and (with persistence on) the engine.
pub async fn build(config: &Config) -> Result<Arc<App>, ServeError> {
    let engine = if config.persistence {
        let dir = config.state_dir();
        let d = dir.clone();
        let options = EngineOptions {
            direct_writes: config.direct_writes,
            write_ahead_log: config.write_ahead_log
                && config.save_strategy == SaveStrategy::OnRequest,
            ..EngineOptions::default()
        };
        let restore_only = config.persist_mode == PersistMode::RestoreOnly;
        // The engine creates the state directory, owner-only (it holds key material). Restoring
        // only, it creates and changes nothing there: a missing directory is an empty state.
        let engine = tokio::task::spawn_blocking(move || -> snapstack_engine::Result<Engine> {
            if restore_only {
                if !d.is_dir() {
                    return Engine::in_memory();
                }
                Engine::open_restore_only(&d, options)
            } else {
                Engine::open(&d, options)
            }
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
    // Blobs (S3 bodies) live in the chunk store: the persistent one, or one in memory.
    let blob_engine = match &engine {
        Some(e) => e.clone(),
        None => Arc::new(Engine::in_memory().map_err(|source| ServeError::State {
            dir: "memory".into(),
            source,
        })?),
    };
    let services = registry::build(&registry::Env {
        config,
        blob_engine: blob_engine.clone(),
    });
    unserved::set_disabled(services.disabled());
    for service in services.all() {
        service
            .register(&blob_engine)
            .map_err(|source| ServeError::State {
                dir: config.state_dir().display().to_string(),
                source,
            })?;
        service.bound(&snapstack_service::Endpoint {
            advertised_host: config.advertised_host(config.listen.port()),
            internal_url: Some(format!("http://127.0.0.1:{}", config.listen.port())),
        });
    }
    if engine.is_none() {
        // Without persistence nothing saves or collects: the blobs of deleted and overwritten
        // objects would stay in memory for good. Collect them now and then.
        let e = blob_engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMORY_GC_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let e = e.clone();
                match tokio::task::spawn_blocking(move || e.gc()).await {
                    Ok(Ok(r)) => tracing::debug!(?r, "collected unreferenced blobs"),
                    Ok(Err(err)) => warn!(error = %err, "collecting blobs failed"),
                    Err(err) => warn!(error = %err, "the collection task failed"),
                }
            }
        });
    }
    // The services that own a store (DynamoDB Streams reads DynamoDB's and owns none).
    let stores = blob_engine.services();
    let persisted: Vec<&'static str> = services
        .names()
        .into_iter()
        .filter(|n| stores.iter().any(|s| s == n))
        .collect();
    let not_persisted: Vec<&'static str> = persisted
        .iter()
        .copied()
        .filter(|n| config.not_persisted.iter().any(|x| x == n))
        .collect();
    let metrics = Arc::new(metrics::Metrics::new(services.all(), |s| {
        !not_persisted.contains(&s)
    }));
    let persistence = Persistence::with_switches(
        engine,
        config.save_strategy,
        config.load_strategy,
        persisted,
        Switches {
            not_persisted,
            restore_only: config.persist_mode == PersistMode::RestoreOnly,
            metrics: Some(metrics.clone()),
        },
    );
    let services = Arc::new(services);
    let runtime = Arc::new(runtime::AppRuntime {
        persistence: persistence.clone(),
        services: services.clone(),
        enforcing: std::sync::OnceLock::new(),
    });
    let app = Arc::new(App {
        services,
        persistence,
        blob_engine,
        runtime,
        init: Arc::new(init_hooks::InitHooks::discover(&config.init_dir)),
        metrics,
        started: std::time::Instant::now(),
        session_id: snapstack_protocol::request::new_request_id(),
        config: config.clone(),
        enforcer: (config.enforce_iam || config.iam_soft_mode).then(|| {
            listener::CLIENT_ADDRESSES.store(true, std::sync::atomic::Ordering::Relaxed);
            // Soft mode logs what enforcement would refuse and refuses nothing.
            Arc::new(enforce::Enforcer::with_soft_mode(config.iam_soft_mode))
        }),
    });
    if app.enforcer.is_some() {
        // Calls made for a caller are checked by the enforcer (weakly held: the runtime is
        // the app's).
        let _ = app.runtime.enforcing.set(Arc::downgrade(&app));
    }
    Ok(app)
}

/// Start every service's background tasks; they stop when `stop` turns true.
pub fn start_services(app: &Arc<App>, stop: &watch::Receiver<bool>) {
    let rt: Arc<dyn snapstack_service::Runtime> = app.runtime.clone();
    for service in app.services.all() {
        service.clone().start(rt.clone(), stop.clone());
    }
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
        persist_mode = %config.persist_mode,
        not_persisted = ?config.not_persisted,
        enforce_iam = config.enforce_iam,
        iam_soft_mode = config.iam_soft_mode,
        "starting snapstack {}",
        snapstack_engine::VERSION
    );
    // One server writes a volume at a time, and `snapstack snapshot gc`/`import` wait for none
    // to hold it: exclusive while saving, shared while only restoring. Held until the process
    // ends.
    let _volume_lock = if config.persistence {
        let mode = match config.persist_mode {
            PersistMode::ReadWrite => snapstack_engine::lock::LockMode::Exclusive,
            PersistMode::RestoreOnly => snapstack_engine::lock::LockMode::Shared,
        };
        let volume = config.volume_dir.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                snapstack_engine::lock::VolumeLock::try_acquire(&volume, mode)
            })
            .await
            .map_err(|e| ServeError::Internal(e.to_string()))??,
        )
    } else {
        None
    };
    let nofile = listener::raise_nofile_limit();
    let max_connections = listener::connection_limit(config.connections.max_connections, nofile);
    listener::log_limits(&config.connections, max_connections, nofile);
    for var in config::ignored_variables(|k| std::env::var(k).ok()) {
        match config::replacement(var) {
            Some(new) => warn!("{var} is set but ignored: LocalStack replaced it with {new}"),
            None => warn!("{var} is set but ignored: this emulator has no such behaviour"),
        }
    }
    let app = build(&config).await?;
    let local_url = format!("http://127.0.0.1:{}", config.listen.port());
    app.init.run(init_hooks::Stage::Boot, &local_url).await;
    if config.persistence
        && (config.load_strategy == LoadStrategy::OnStartup || config.eager_service_loading)
    {
        app.persistence.load_on_startup().await;
    }
    #[cfg(feature = "pods")]
    pods_api::auto_load(&app).await;
    let mut listeners = Vec::new();
    for addr in std::iter::once(&config.listen).chain(&config.extra_listen) {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        listeners.push(l);
    }
    let local = listeners[0].local_addr()?;
    // The URLs handed out name the port actually bound (GATEWAY_LISTEN may ask for port 0).
    for service in app.services.all() {
        service.bound(&snapstack_service::Endpoint {
            advertised_host: config.advertised_host(local.port()),
            internal_url: Some(format!("http://127.0.0.1:{}", local.port())),
        });
    }
    app.persistence.start(config.flush_interval);
    let endpoint = format!("http://127.0.0.1:{}", local.port());
    // START: requests are not served yet, as in LocalStack; one that comes is answered 503 at
    // once rather than waiting for the scripts (a script calling AWS would wait for itself).
    let listeners = {
        let (done_tx, done_rx) = watch::channel(false);
        let held: Vec<_> = listeners
            .into_iter()
            .map(|l| tokio::spawn(init_hooks::refuse_while_starting(l, done_rx.clone())))
            .collect();
        app.init.run(init_hooks::Stage::Start, &endpoint).await;
        let _ = done_tx.send(true);
        let mut back = Vec::new();
        for h in held {
            back.push(h.await.map_err(|e| ServeError::Internal(e.to_string()))?);
        }
        back
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    start_services(&app, &stop_rx);
    let mut servers = tokio::task::JoinSet::new();
    for l in listeners {
        servers.spawn(listener::serve(
            l,
            gateway::router(app.clone()),
            config.connections,
            max_connections,
            stop_rx.clone(),
        ));
    }
    // Stdout: the bound address (tests and scripts read it); then, once the ready.d scripts have
    // run (requests are served meanwhile, as in LocalStack), `Ready.` on its own line, the line
    // LocalStack prints and test frameworks (testcontainers: `.*Ready\.\n`) wait for.
    print_line(&format!("snapstack listening on {local}"));
    let ready = {
        let (app, endpoint) = (app.clone(), endpoint.clone());
        tokio::spawn(async move { app.init.run(init_hooks::Stage::Ready, &endpoint).await })
    };
    let mut stopping = stop_rx.clone();
    tokio::select! {
        _ = ready => {
            print_line("Ready.");
            info!(%local, extra = ?config.extra_listen, "Ready.");
        }
        _ = stopping.wait_for(|s| *s) => {}
    }
    let server = async move { while servers.join_next().await.is_some() {} };
    let mut deadline = stop_rx.clone();
    tokio::select! {
        _ = server => {},
        _ = async move {
            let _ = deadline.wait_for(|s| *s).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        } => warn!("connections did not close within 10 s of the shutdown signal"),
    }
    info!("shutting down");
    app.init.run(init_hooks::Stage::Shutdown, &endpoint).await;
    app.persistence.shutdown().await;
    info!("bye");
    Ok(())
}

/// One line on stdout, flushed at once (a pipe would hold it otherwise).
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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

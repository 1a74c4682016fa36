//! The persistence runtime: when to save and load, on top of the engine.
//!
//! - `ON_REQUEST` save: a mutating request waits for [`Persistence::wait_durable`]; one flusher
//!   task batches every waiting request into one `engine.save` (group commit).
//! - `SCHEDULED`: a timer saves every changed service each interval.
//! - `ON_SHUTDOWN` (and, harmlessly, `ON_REQUEST`/`SCHEDULED`): a save of everything on shutdown.
//! - Loads: lazily on first touch (`ON_REQUEST`), all before the port opens (`ON_STARTUP`), or
//!   only through the endpoints (`MANUAL`).
//!
//! Every engine call is blocking file I/O and runs on `spawn_blocking`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::config::{LoadStrategy, SaveStrategy};
use crate::{Engine, LoadReport, SaveReport};

/// Saves that wrote something between two background garbage collections.
const GC_EVERY_SAVES: u64 = 20;
/// And at least this long between two collections.
const GC_MIN_INTERVAL: Duration = Duration::from_secs(30);

struct Waiter {
    service: &'static str,
    version: u64,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The persistence runtime of a server. With persistence off it does nothing.
pub struct Persistence {
    engine: Option<Arc<Engine>>,
    save: SaveStrategy,
    load: LoadStrategy,
    services: Vec<&'static str>,
    loaded: BTreeMap<&'static str, OnceCell<()>>,
    flusher: std::sync::Mutex<Option<mpsc::UnboundedSender<Waiter>>>,
    saves_since_gc: AtomicU64,
    last_gc: std::sync::Mutex<Instant>,
    gc_running: Arc<AtomicBool>,
}

/// The outcome of one service's save, load or reset, for the endpoints.
pub type OpResult = Result<String, String>;

impl Persistence {
    /// `engine` is `None` when persistence is off. `services` are the registered store names.
    pub fn new(
        engine: Option<Arc<Engine>>,
        save: SaveStrategy,
        load: LoadStrategy,
        services: Vec<&'static str>,
    ) -> Arc<Self> {
        let loaded = services.iter().map(|s| (*s, OnceCell::new())).collect();
        Arc::new(Persistence {
            engine,
            save,
            load,
            services,
            loaded,
            flusher: std::sync::Mutex::new(None),
            saves_since_gc: AtomicU64::new(0),
            last_gc: std::sync::Mutex::new(Instant::now()),
            gc_running: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn enabled(&self) -> bool {
        self.engine.is_some()
    }

    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.engine.as_ref()
    }

    pub fn services(&self) -> &[&'static str] {
        &self.services
    }

    pub fn save_strategy(&self) -> SaveStrategy {
        self.save
    }

    pub fn load_strategy(&self) -> LoadStrategy {
        self.load
    }

    /// The registered name matching `name`, if any.
    pub fn service_name(&self, name: &str) -> Option<&'static str> {
        self.services.iter().copied().find(|s| *s == name)
    }

    /// Start the background tasks the save strategy needs. Call once, inside the runtime.
    pub fn start(self: &Arc<Self>, flush_interval: Duration) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        match self.save {
            SaveStrategy::OnRequest => {
                let (tx, rx) = mpsc::unbounded_channel();
                *self.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
                tokio::spawn(flusher(self.clone(), engine, rx));
            }
            SaveStrategy::Scheduled => {
                let this = self.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(flush_interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        let e = engine.clone();
                        match tokio::task::spawn_blocking(move || e.save_all()).await {
                            Ok(results) => this.after_save(&results, "scheduled"),
                            Err(e) => error!(error = %e, "the scheduled save task failed"),
                        }
                    }
                });
            }
            SaveStrategy::OnShutdown | SaveStrategy::Manual => {}
        }
    }

    /// Log a save's results and run a garbage collection in the background now and then.
    fn after_save(&self, results: &[(String, crate::Result<SaveReport>)], why: &str) {
        let mut wrote = false;
        for (service, r) in results {
            match r {
                Ok(rep) if rep.generation.is_some() => {
                    wrote = true;
                    debug!(service, why, generation = ?rep.generation, version = rep.version, new_chunks = rep.new_chunks, "saved");
                }
                Ok(_) => {}
                Err(e) => error!(service, why, error = %e, "save failed"),
            }
        }
        if wrote {
            let n = self.saves_since_gc.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= GC_EVERY_SAVES {
                self.maybe_gc();
            }
        }
    }

    fn maybe_gc(&self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        // A collection also saves every changed service: only strategies that save on their
        // own anyway may run one in the background.
        if !matches!(self.save, SaveStrategy::OnRequest | SaveStrategy::Scheduled) {
            return;
        }
        {
            let mut last = self.last_gc.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < GC_MIN_INTERVAL {
                return;
            }
            if self.gc_running.swap(true, Ordering::SeqCst) {
                return;
            }
            *last = Instant::now();
        }
        self.saves_since_gc.store(0, Ordering::Relaxed);
        let running = self.gc_running.clone();
        tokio::task::spawn_blocking(move || {
            match engine.gc() {
                Ok(r) => {
                    info!(live_chunks = r.live_chunks, duration = ?r.duration, "garbage collection done")
                }
                Err(e) => warn!(error = %e, "garbage collection failed"),
            }
            running.store(false, Ordering::SeqCst);
        });
    }

    /// Make sure a service's saved state is loaded before a request touches it (`ON_REQUEST`
    /// load). Concurrent first requests wait for the one load. A failed load is logged and the
    /// service serves what it has.
    pub async fn ensure_loaded(&self, service: &'static str) {
        let Some(engine) = &self.engine else {
            return;
        };
        if self.load != LoadStrategy::OnRequest {
            return;
        }
        let Some(cell) = self.loaded.get(service) else {
            return;
        };
        if cell.initialized() {
            return;
        }
        cell.get_or_init(|| async {
            let e = engine.clone();
            let r = tokio::task::spawn_blocking(move || e.load(service)).await;
            log_load(service, r.map_err(|e| e.to_string()));
        })
        .await;
    }

    /// Whether a service's state has been loaded (or a load was not needed).
    pub fn is_loaded(&self, service: &str) -> bool {
        self.loaded.get(service).is_some_and(|c| c.initialized())
    }

    /// Mark a service as loaded: its state is now what it should be (after an explicit load or
    /// reset), so a lazy load must not replace it later.
    fn mark_loaded(&self, service: &str) {
        if let Some(c) = self.loaded.get(service) {
            let _ = c.set(());
        }
    }

    /// Load every saved service (`ON_STARTUP`), before the port opens.
    pub async fn load_on_startup(&self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        for &service in &self.services {
            let e = engine.clone();
            let r = tokio::task::spawn_blocking(move || e.load(service)).await;
            log_load(service, r.map_err(|e| e.to_string()));
            self.mark_loaded(service);
        }
    }

    /// `ON_REQUEST` save: return once the change at `version` of `service` is durable. Other
    /// strategies return at once.
    pub async fn wait_durable(&self, service: &'static str, version: u64) -> Result<(), String> {
        if self.engine.is_none() || self.save != SaveStrategy::OnRequest {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        let sent = {
            let guard = self.flusher.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(tx) => tx
                    .send(Waiter {
                        service,
                        version,
                        reply,
                    })
                    .is_ok(),
                None => false,
            }
        };
        if !sent {
            return Err("the flusher is not running".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("the flusher stopped before the save finished".into()))
    }

    /// Save the named services (the endpoints), as one group. Unchanged services cost nothing.
    pub async fn save(&self, services: Vec<&'static str>) -> Vec<(&'static str, OpResult)> {
        let Some(engine) = self.engine.clone() else {
            return disabled(&services);
        };
        let names = services.clone();
        let r = tokio::task::spawn_blocking(move || engine.save(&names)).await;
        match r {
            Ok(results) => {
                self.after_save(&results, "endpoint");
                services
                    .iter()
                    .zip(results)
                    .map(|(s, (_, r))| {
                        (
                            *s,
                            r.map(|rep| match rep.generation {
                                Some(g) => format!("saved generation {g}"),
                                None => "unchanged".to_string(),
                            })
                            .map_err(|e| e.to_string()),
                        )
                    })
                    .collect()
            }
            Err(e) => services.iter().map(|s| (*s, Err(e.to_string()))).collect(),
        }
    }

    /// Load one service (the endpoints).
    pub async fn load(&self, service: &'static str) -> OpResult {
        let Some(engine) = self.engine.clone() else {
            return Err("persistence is disabled".into());
        };
        let r = tokio::task::spawn_blocking(move || engine.load(service)).await;
        self.mark_loaded(service);
        let r = r.map_err(|e| e.to_string());
        let out = match &r {
            Ok(Ok(rep)) => Ok(match rep.generation {
                Some(g) => format!("loaded generation {g}"),
                None => "no snapshot".to_string(),
            }),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.clone()),
        };
        log_load(service, r);
        out
    }

    /// Reset one service to empty (the endpoints).
    pub async fn reset(&self, service: &'static str) -> OpResult {
        let Some(engine) = self.engine.clone() else {
            return Err("persistence is disabled".into());
        };
        let r = tokio::task::spawn_blocking(move || engine.reset(service)).await;
        self.mark_loaded(service);
        match r {
            // Under ON_REQUEST a reset is a change like any other: answered once durable.
            Ok(Ok(v)) => match self.wait_durable(service, v).await {
                Ok(()) => Ok(format!("reset at version {v}")),
                Err(e) => Err(format!(
                    "reset in memory at version {v}, but it could not be saved durably: {e}"
                )),
            },
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// On a graceful shutdown: save everything, unless the strategy is `MANUAL`.
    pub async fn shutdown(&self) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        if self.save == SaveStrategy::Manual {
            return;
        }
        info!("saving state before shutdown");
        match tokio::task::spawn_blocking(move || engine.save_all()).await {
            Ok(results) => {
                for (service, r) in results {
                    match r {
                        Ok(rep) => {
                            info!(service, generation = ?rep.generation, version = rep.version, "saved on shutdown")
                        }
                        Err(e) => error!(service, error = %e, "save on shutdown failed"),
                    }
                }
            }
            Err(e) => error!(error = %e, "the shutdown save task failed"),
        }
    }
}

fn disabled(services: &[&'static str]) -> Vec<(&'static str, OpResult)> {
    services
        .iter()
        .map(|s| (*s, Err("persistence is disabled".to_string())))
        .collect()
}

fn log_load(service: &str, r: Result<crate::Result<LoadReport>, String>) {
    match r {
        Ok(Ok(rep)) => match rep.generation {
            Some(g) => {
                for s in &rep.skipped {
                    warn!(service, skipped = %s, "a newer generation was damaged and skipped");
                }
                info!(service, generation = g, records = rep.records, duration = ?rep.duration, "state loaded")
            }
            None => debug!(service, "no saved state to load"),
        },
        Ok(Err(e)) => {
            error!(service, error = %e, "loading saved state failed; serving without it (nothing was deleted)")
        }
        Err(e) => error!(service, error = %e, "the load task failed"),
    }
}

/// The group-commit flusher: take every waiting request, save their services in one group,
/// answer each.
async fn flusher(
    this: Arc<Persistence>,
    engine: Arc<Engine>,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(w) = rx.try_recv() {
            batch.push(w);
        }
        let names: Vec<&'static str> = batch
            .iter()
            .map(|w| w.service)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let e = engine.clone();
        let n = names.clone();
        let results = match tokio::task::spawn_blocking(move || e.save_urgent(&n)).await {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("the save task failed: {e}");
                for w in batch {
                    let _ = w.reply.send(Err(msg.clone()));
                }
                continue;
            }
        };
        this.after_save(&results, "on request");
        let by_service: BTreeMap<&str, Result<u64, String>> = results
            .iter()
            .map(|(s, r)| {
                (
                    s.as_str(),
                    r.as_ref().map(|rep| rep.version).map_err(|e| e.to_string()),
                )
            })
            .collect();
        let mut retry = Vec::new();
        for w in batch {
            match by_service.get(w.service) {
                Some(Ok(v)) if *v >= w.version => {
                    let _ = w.reply.send(Ok(()));
                }
                Some(Ok(_)) => retry.push(w),
                Some(Err(e)) => {
                    let _ = w.reply.send(Err(e.clone()));
                }
                None => {
                    let _ = w.reply.send(Err("the service was not saved".into()));
                }
            }
        }
        // A save captures the store after the write it waits for, so this should not happen;
        // if it does, the waiter simply joins the next group.
        for w in retry {
            let f = this
                .flusher
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            match f {
                Some(f) => {
                    if let Err(mpsc::error::SendError(w)) = f.send(w) {
                        let _ = w.reply.send(Err("the flusher stopped".into()));
                    }
                }
                None => {
                    let _ = w.reply.send(Err("the flusher stopped".into()));
                }
            }
        }
    }
}

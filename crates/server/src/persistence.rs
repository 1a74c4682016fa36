//! The persistence runtime: when to save and load, on top of the engine.
//!
//! - `ON_REQUEST` save: a mutating request waits for [`Persistence::wait_durable`]; one flusher
//!   task batches every waiting request into one `engine.save` (group commit). Changes no
//!   request waits for (background tasks: deliveries, timers, sweeps) are noticed by a ticker
//!   and join a group commit within [`BACKGROUND_BOUND`] ([`background_commits`]).
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

use crate::config::{LoadStrategy, SaveStrategy, persist_variable};
use crate::metrics::Metrics;
use snapstack_engine::{Engine, LoadReport, SaveReport};

/// Saves that wrote something between two background garbage collections.
const GC_EVERY_SAVES: u64 = 20;
/// And at least this long between two collections.
const GC_MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Under `ON_REQUEST`, how often the runtime looks for changes that no request made durable.
const BACKGROUND_TICK_MS: u64 = 50;
const BACKGROUND_TICK: Duration = Duration::from_millis(BACKGROUND_TICK_MS);
/// Under `ON_REQUEST`, a change made outside any request (a background task's: a delivery
/// removed from its outbox, a timer fired, a sweep) has joined a group commit at most this long
/// after it was made; it is durable once that commit ends. Two ticks: the first sees the
/// change, the second finds it still not durable.
pub const BACKGROUND_BOUND: Duration = Duration::from_millis(2 * BACKGROUND_TICK_MS);
/// After a background commit failed (a full disk), how long before the next try.
const BACKGROUND_RETRY: Duration = Duration::from_secs(5);

struct Waiter {
    service: &'static str,
    version: u64,
    reply: oneshot::Sender<Result<(), String>>,
    /// Sent by [`background_commits`], not by a request: a failed commit undoes nothing of it
    /// (there is no one to tell), and it is never retried by the flusher.
    background: bool,
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
    /// Services whose saved state failed to load: automatic saves skip them so the snapshot on
    /// disk is never overwritten (and its old generations never pruned) until an endpoint says so.
    load_failed: std::sync::Mutex<BTreeSet<&'static str>>,
    /// `ON_REQUEST` group commits so far (for the benchmark).
    groups: AtomicU64,
    /// Per service, the highest store version a group commit made durable (`ON_REQUEST`).
    durable: BTreeMap<&'static str, AtomicU64>,
    /// `PERSIST_<SERVICE>=0`: services never loaded or saved.
    not_persisted: BTreeSet<&'static str>,
    /// `SNAPSTACK_PERSIST_MODE=restore-only`: loads only; nothing is ever saved.
    restore_only: bool,
    metrics: Option<Arc<Metrics>>,
}

/// The per-service switches and the metrics of a [`Persistence`].
#[derive(Default)]
pub struct Switches {
    /// Registered services whose state is neither restored nor saved (`PERSIST_<SERVICE>=0`).
    pub not_persisted: Vec<&'static str>,
    /// Restore saved state but never save (`SNAPSTACK_PERSIST_MODE=restore-only`).
    pub restore_only: bool,
    /// Where saves, loads and log commits are counted.
    pub metrics: Option<Arc<Metrics>>,
}

/// The outcome of one service's save, load or reset, for the endpoints.
pub type OpResult = Result<String, String>;

/// Under `ON_REQUEST`, how many recent versions of each store are kept so that a change that
/// could not be made durable can be undone (its group is far smaller).
pub const UNDO_WINDOW: usize = 1024;

impl Persistence {
    /// `engine` is `None` when persistence is off. `services` are the registered store names.
    pub fn new(
        engine: Option<Arc<Engine>>,
        save: SaveStrategy,
        load: LoadStrategy,
        services: Vec<&'static str>,
    ) -> Arc<Self> {
        Self::with_switches(engine, save, load, services, Switches::default())
    }

    /// [`Persistence::new`] with per-service switches, the restore-only mode and metrics.
    pub fn with_switches(
        engine: Option<Arc<Engine>>,
        save: SaveStrategy,
        load: LoadStrategy,
        services: Vec<&'static str>,
        switches: Switches,
    ) -> Arc<Self> {
        if let Some(e) = &engine {
            for s in &switches.not_persisted {
                e.set_not_persisted(s);
            }
        }
        let loaded = services.iter().map(|s| (*s, OnceCell::new())).collect();
        let durable = services.iter().map(|s| (*s, AtomicU64::new(0))).collect();
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
            load_failed: std::sync::Mutex::new(BTreeSet::new()),
            groups: AtomicU64::new(0),
            durable,
            not_persisted: switches.not_persisted.into_iter().collect(),
            restore_only: switches.restore_only,
            metrics: switches.metrics,
        })
    }

    /// Whether a service's state is restored and saved (persistence on, and not
    /// `PERSIST_<SERVICE>=0`).
    pub fn persists(&self, service: &str) -> bool {
        self.engine.is_some() && !self.not_persisted.contains(service)
    }

    /// Whether the server only restores (`SNAPSTACK_PERSIST_MODE=restore-only`).
    pub fn restore_only(&self) -> bool {
        self.restore_only
    }

    /// Services whose persistence `PERSIST_<SERVICE>=0` turned off.
    pub fn not_persisted(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.not_persisted.iter().copied()
    }

    /// Why an explicit save of `service` is refused, if it is.
    fn save_refused(&self, service: &str) -> Option<String> {
        if self.not_persisted.contains(service) {
            return Some(format!(
                "persistence of {service} is off ({}=0): its state is neither restored nor saved",
                persist_variable(service)
            ));
        }
        self.restore_only.then(|| {
            "the server runs with SNAPSTACK_PERSIST_MODE=restore-only: state is restored but never saved".to_string()
        })
    }

    /// `ON_REQUEST` group commits so far.
    pub fn group_commits(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
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

    fn failed(&self) -> std::sync::MutexGuard<'_, BTreeSet<&'static str>> {
        self.load_failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a service's saved state failed to load (automatic saves skip it).
    pub fn load_failed(&self, service: &str) -> bool {
        self.failed().contains(service)
    }

    /// Record the outcome of a load: log it, and protect a snapshot that did not load.
    fn note_load(
        &self,
        service: &'static str,
        r: Result<snapstack_engine::Result<LoadReport>, String>,
    ) {
        let ok = matches!(r, Ok(Ok(_)));
        if let Some(m) = &self.metrics {
            match &r {
                Ok(Ok(rep)) if rep.generation.is_some() => {
                    let st = self.engine.as_ref().and_then(|e| e.status(service).ok());
                    m.loaded(
                        service,
                        rep.duration,
                        st.as_ref().map_or(0, |s| s.tree_bytes),
                        st.as_ref().map_or(0, |s| s.tree_chunks),
                        rep.records,
                    );
                }
                Ok(Ok(_)) => {}
                _ => m.load_failed(service),
            }
        }
        log_load(service, r);
        if ok {
            self.failed().remove(service);
        } else {
            warn!(
                service,
                "automatic saves of this service are suspended so its snapshot is not overwritten; POST /_localstack/state/{service}/load to retry or /_localstack/state/{service}/save to save the current state anyway"
            );
            self.failed().insert(service);
        }
    }

    /// The services automatic saves may write.
    fn auto_save_services(&self) -> Vec<&'static str> {
        if self.restore_only {
            return Vec::new();
        }
        let failed = self.failed();
        self.services
            .iter()
            .copied()
            .filter(|s| !failed.contains(s) && !self.not_persisted.contains(s))
            .collect()
    }

    /// Start the background tasks the save strategy needs. Call once, inside the runtime.
    pub fn start(self: &Arc<Self>, flush_interval: Duration) {
        let Some(engine) = self.engine.clone() else {
            return;
        };
        if self.restore_only {
            return;
        }
        match self.save {
            SaveStrategy::OnRequest => {
                // A change that cannot be made durable is undone before its error is answered.
                engine.keep_recent(UNDO_WINDOW);
                let (tx, rx) = mpsc::unbounded_channel();
                *self.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
                if engine.log_appends() {
                    // Group commits go to the log; generations are saved in the background.
                    self.spawn_checkpoints(engine.clone(), flush_interval);
                }
                tokio::spawn(background_commits(self.clone(), engine.clone()));
                tokio::spawn(flusher(self.clone(), engine, rx));
            }
            SaveStrategy::Scheduled => {
                self.spawn_periodic_saves(engine, flush_interval, "scheduled")
            }
            SaveStrategy::OnShutdown | SaveStrategy::Manual => {}
        }
    }

    /// Under `ON_REQUEST` with the write-ahead log: save a generation of what the log holds every
    /// `interval` (at background priority), so the covered log segments can be removed.
    fn spawn_checkpoints(self: &Arc<Self>, engine: Arc<Engine>, interval: Duration) {
        self.spawn_periodic_saves(engine, interval, "log checkpoint");
    }

    /// Every `interval`, save each service whose state changed (`SCHEDULED`'s flushes and the
    /// log's checkpoints); `what` names them in the logs.
    fn spawn_periodic_saves(
        self: &Arc<Self>,
        engine: Arc<Engine>,
        interval: Duration,
        what: &'static str,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let e = engine.clone();
                let names = this.auto_save_services();
                match tokio::task::spawn_blocking(move || e.save(&names)).await {
                    Ok(results) => this.after_save(&results, what),
                    Err(e) => error!(error = %e, task = what, "the periodic save task failed"),
                }
            }
        });
    }

    /// Log a save's results and run a garbage collection in the background now and then.
    fn after_save(&self, results: &[(String, snapstack_engine::Result<SaveReport>)], why: &str) {
        for (service, r) in results {
            if let Some(m) = &self.metrics {
                match r {
                    Ok(rep) if rep.generation.is_some() => m.saved(
                        service,
                        rep.duration,
                        rep.new_bytes,
                        rep.new_chunks,
                        rep.records,
                    ),
                    Ok(_) => {}
                    Err(_) => m.save_failed(service),
                }
            }
            if let Err(e) = r {
                error!(service, why, error = %e, "save failed");
            }
        }
        let wrote = log_saves(results, why);
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
        if !matches!(self.save, SaveStrategy::OnRequest | SaveStrategy::Scheduled)
            || !self.failed().is_empty()
        {
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
        if self.load != LoadStrategy::OnRequest || self.not_persisted.contains(service) {
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
            self.note_load(service, r.map_err(|e| e.to_string()));
        })
        .await;
    }

    /// Whether a service's state has been loaded (or a load was not needed).
    pub fn is_loaded(&self, service: &str) -> bool {
        self.not_persisted.contains(service)
            || self.loaded.get(service).is_some_and(|c| c.initialized())
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
            if self.not_persisted.contains(service) {
                continue;
            }
            let e = engine.clone();
            let r = tokio::task::spawn_blocking(move || e.load(service)).await;
            self.note_load(service, r.map_err(|e| e.to_string()));
            self.mark_loaded(service);
        }
    }

    /// `ON_REQUEST` save: return once the change at `version` of `service` is durable. Other
    /// strategies return at once.
    pub async fn wait_durable(&self, service: &'static str, version: u64) -> Result<(), String> {
        if self.engine.is_none()
            || self.save != SaveStrategy::OnRequest
            || self.restore_only
            || self.not_persisted.contains(service)
        {
            return Ok(());
        }
        if self.load_failed(service) {
            return Err(format!(
                "the saved state of {service} failed to load, so it is not saved over automatically; POST /_localstack/state/{service}/save to save the current state anyway"
            ));
        }
        match self.enqueue(service, version, false) {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err("the flusher stopped before the save finished".into())),
            None => Err("the flusher is not running".into()),
        }
    }

    /// Hand a waiter to the flusher; `None` if it is not running.
    fn enqueue(
        &self,
        service: &'static str,
        version: u64,
        background: bool,
    ) -> Option<oneshot::Receiver<Result<(), String>>> {
        let (reply, rx) = oneshot::channel();
        let guard = self.flusher.lock().unwrap_or_else(|e| e.into_inner());
        let tx = guard.as_ref()?;
        tx.send(Waiter {
            service,
            version,
            reply,
            background,
        })
        .ok()?;
        Some(rx)
    }

    /// The highest store version of `service` a group commit made durable.
    fn durable_version(&self, service: &str) -> u64 {
        self.durable
            .get(service)
            .map_or(0, |v| v.load(Ordering::Acquire))
    }

    /// Record that a group commit made `service` durable up to `version`.
    fn note_durable(&self, service: &str, version: u64) {
        if let Some(v) = self.durable.get(service) {
            v.fetch_max(version, Ordering::AcqRel);
        }
    }

    /// Save the named services (the endpoints), as one group. Unchanged services cost nothing.
    pub async fn save(&self, services: Vec<&'static str>) -> Vec<(&'static str, OpResult)> {
        let Some(engine) = self.engine.clone() else {
            return disabled(&services);
        };
        let (refused, services): (Vec<_>, Vec<_>) = services
            .into_iter()
            .partition(|s| self.save_refused(s).is_some());
        let refused: Vec<(&'static str, OpResult)> = refused
            .into_iter()
            .map(|s| (s, Err(self.save_refused(s).unwrap_or_default())))
            .collect();
        if services.is_empty() {
            return refused;
        }
        // An explicit save is the user's say-so to save over a snapshot that did not load.
        {
            let mut failed = self.failed();
            for s in &services {
                failed.remove(s);
            }
        }
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
                    .chain(refused)
                    .collect()
            }
            Err(e) => services
                .iter()
                .map(|s| (*s, Err(e.to_string())))
                .chain(refused)
                .collect(),
        }
    }

    /// Load one service (the endpoints).
    pub async fn load(&self, service: &'static str) -> OpResult {
        let Some(engine) = self.engine.clone() else {
            return Err("persistence is disabled".into());
        };
        if self.not_persisted.contains(service) {
            return Err(self.save_refused(service).unwrap_or_default());
        }
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
        self.note_load(service, r);
        out
    }

    /// Make one service's state that of its saved generation `generation` (the endpoint's
    /// `load?generation=N`): an ordinary change, durable before the answer under `ON_REQUEST`
    /// and saved by the next save otherwise; newer generations stay on disk.
    pub async fn restore(&self, service: &'static str, generation: u64) -> OpResult {
        let Some(engine) = self.engine.clone() else {
            return Err("persistence is disabled".into());
        };
        if self.not_persisted.contains(service) {
            return Err(self.save_refused(service).unwrap_or_default());
        }
        self.ensure_loaded(service).await;
        let r = tokio::task::spawn_blocking(move || engine.restore_generation(service, generation))
            .await
            .map_err(|e| e.to_string())?;
        let (report, version) = r.map_err(|e| e.to_string())?;
        self.wait_durable(service, version).await?;
        Ok(format!(
            "restored generation {generation} ({} records)",
            report.records
        ))
    }

    /// Reset one service to empty (the endpoints).
    pub async fn reset(&self, service: &'static str) -> OpResult {
        let Some(engine) = self.engine.clone() else {
            return Err("persistence is disabled".into());
        };
        let r = tokio::task::spawn_blocking(move || engine.reset(service)).await;
        self.mark_loaded(service);
        self.failed().remove(service);
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
        if self.save == SaveStrategy::Manual || self.restore_only {
            return;
        }
        debug!("saving state before shutdown");
        let names = self.auto_save_services();
        match tokio::task::spawn_blocking(move || engine.save(&names)).await {
            Ok(results) => {
                for (service, r) in &results {
                    if let Err(e) = r {
                        error!(service, error = %e, "save on shutdown failed");
                    }
                }
                if !log_saves(&results, "shutdown") {
                    info!("nothing changed since the last save: nothing to save on shutdown");
                }
            }
            Err(e) => error!(error = %e, "the shutdown save task failed"),
        }
    }
}

/// One line for a save that wrote something: its services (with their new generations), the
/// records they hold, the new bytes written, and how long it took. Nothing is logged (and
/// `false` returned) when no service had anything to save.
fn log_saves(results: &[(String, snapstack_engine::Result<SaveReport>)], why: &str) -> bool {
    let saved: Vec<(&str, &SaveReport)> = results
        .iter()
        .filter_map(|(s, r)| match r {
            Ok(rep) if rep.generation.is_some() => Some((s.as_str(), rep)),
            _ => None,
        })
        .collect();
    if saved.is_empty() {
        return false;
    }
    let services = saved
        .iter()
        .map(|(s, rep)| format!("{s}@{}", rep.generation.unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    let records: u64 = saved.iter().map(|(_, r)| r.records).sum();
    let new_bytes: u64 = saved.iter().map(|(_, r)| r.new_bytes).sum();
    let duration = saved
        .iter()
        .map(|(_, r)| r.duration)
        .max()
        .unwrap_or_default();
    info!(why, services = %services, records, new_bytes, duration = ?duration, "saved");
    true
}

fn disabled(services: &[&'static str]) -> Vec<(&'static str, OpResult)> {
    services
        .iter()
        .map(|s| (*s, Err("persistence is disabled".to_string())))
        .collect()
}

fn log_load(service: &str, r: Result<snapstack_engine::Result<LoadReport>, String>) {
    match r {
        Ok(Ok(rep)) => match rep.generation {
            Some(g) => {
                for s in &rep.skipped {
                    warn!(service, skipped = %s, "a newer generation was damaged and skipped");
                }
                info!(service, generation = g, records = rep.records, duration = ?rep.duration, "state loaded")
            }
            // No generation, but the write-ahead log held changes.
            None if rep.records > 0 => {
                info!(service, from = "write-ahead log", records = rep.records, duration = ?rep.duration, "state loaded")
            }
            None => debug!(service, "nothing on disk to load"),
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
        this.groups.fetch_add(1, Ordering::Relaxed);
        let e = engine.clone();
        let n = names.clone();
        let by_service: BTreeMap<String, Result<u64, String>> = if engine.log_appends() {
            // The write-ahead log: one frame, one fdatasync for the whole group.
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || e.commit_log(&n)).await {
                Ok(r) => r
                    .into_iter()
                    .map(|(s, r)| {
                        if let Some(m) = &this.metrics {
                            match &r {
                                Ok(_) => m.logged(&s, started.elapsed()),
                                Err(_) => m.log_failed(&s),
                            }
                        }
                        (s, r.map_err(|e| e.to_string()))
                    })
                    .collect(),
                Err(e) => {
                    let msg = format!("the log commit task failed: {e}");
                    for w in batch {
                        let _ = w.reply.send(Err(msg.clone()));
                    }
                    continue;
                }
            }
        } else {
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
            results
                .into_iter()
                .map(|(s, r)| (s, r.map(|rep| rep.version).map_err(|e| e.to_string())))
                .collect()
        };
        for (service, r) in &by_service {
            if let Ok(v) = r {
                this.note_durable(service, *v);
            }
        }
        // Undo the changes of a group that could not be made durable, newest first, before
        // anyone is answered: a client that gets the error finds nothing of its change. A
        // background task's change is kept: the next commit carries it.
        let mut failed: Vec<(&'static str, u64)> = batch
            .iter()
            .filter(|w| !w.background)
            .filter(|w| matches!(by_service.get(w.service), Some(Err(_)) | None))
            .map(|w| (w.service, w.version))
            .collect();
        failed.sort_by_key(|f| std::cmp::Reverse(f.1));
        let mut undone = BTreeSet::new();
        for (service, version) in failed {
            let e = engine.clone();
            if let Ok(Ok(Some(_))) =
                tokio::task::spawn_blocking(move || e.undo(service, version)).await
            {
                undone.insert((service, version));
            }
        }
        let explain = |w: &Waiter, e: &str| {
            if w.background {
                e.to_string()
            } else if undone.contains(&(w.service, w.version)) {
                format!("{e} (the change was undone)")
            } else {
                format!("{e} (a later change of the same records was kept)")
            }
        };
        let mut retry = Vec::new();
        for w in batch {
            match by_service.get(w.service) {
                Some(Ok(v)) if *v >= w.version || w.background => {
                    let _ = w.reply.send(Ok(()));
                }
                Some(Ok(_)) => retry.push(w),
                Some(Err(e)) => {
                    let msg = explain(&w, e);
                    let _ = w.reply.send(Err(msg));
                }
                None => {
                    let msg = explain(&w, "the service was not saved");
                    let _ = w.reply.send(Err(msg));
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

/// Under `ON_REQUEST`: make changes durable that no request waits for. Requests wait for their
/// own writes; background tasks (SNS and EventBridge deliveries removing what they delivered,
/// timers, sweeps, Lambda's asynchronous invocations, alarm evaluations) write their stores on
/// their own, and without this their changes would wait for the next request to the same
/// service or for the next checkpoint.
///
/// Every [`BACKGROUND_TICK`], each service's store version is read (an atomic load per
/// service; nothing on the request path). A service whose version at the previous tick is still
/// not durable gets a waiter of its own, which joins the flusher's next group like a request's:
/// under a stream of requests to the same service their commits cover the change first, so this
/// adds no commit; otherwise it is one group commit (one `fdatasync` with the log). So a
/// background change has joined a commit within [`BACKGROUND_BOUND`] of being made.
async fn background_commits(this: Arc<Persistence>, engine: Arc<Engine>) {
    let mut seen: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval(BACKGROUND_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut resume_at: Option<Instant> = None;
    loop {
        tick.tick().await;
        if resume_at.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        let mut replies = Vec::new();
        for service in this.auto_save_services() {
            // A service whose lazy load has not happened yet has nothing of its own to save
            // (background tasks wait for the load too).
            if this.load == LoadStrategy::OnRequest && !this.is_loaded(service) {
                continue;
            }
            let Ok(version) = engine.version(service) else {
                continue;
            };
            let before = seen.insert(service, version).unwrap_or(0);
            if before > this.durable_version(service)
                && let Some(rx) = this.enqueue(service, version, true)
            {
                replies.push((service, rx));
            }
        }
        let mut failed = false;
        for (service, rx) in replies {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failed = true;
                    warn!(service, error = %e, "making a background change durable failed; retrying in {BACKGROUND_RETRY:?}");
                }
                Err(_) => return,
            }
        }
        resume_at = failed.then(|| Instant::now() + BACKGROUND_RETRY);
    }
}

#[cfg(test)]
#[path = "persistence_tests.rs"]
mod tests;

//! The engine: the registry of stores, and the save, load, reset and garbage-collection operations
//! over them. It knows nothing of HTTP or AWS: a service hands it a [`Store`] and names the
//! moments to save and load.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tracing::{debug, info, trace, warn};

use crate::backend::{Backend, LocalBackend};
use crate::blob::{Blob, BlobId, BlobWriter};
use crate::chunk_store::{ChunkStats, ChunkStore, GcStats, PackStore};
use crate::error::{Error, Result};
use crate::manifest::{Manifests, valid_service_name};
use crate::store::{Record, Store};
use crate::tree::collect_tree_chunks;
use crate::wal::{LogStatus, Wal, WalOptions};
use crate::writer::{Ctx, LoadReport, Persisted, SaveReport, Service, ServiceStatus};

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Saved generations kept per service (at least 1).
    pub keep_generations: usize,
    /// Run [`Engine::save`] and [`Engine::gc`] on a thread at the lowest CPU priority (nice 19),
    /// so that a large save never competes with requests for a core. Default on.
    pub background_saves: bool,
    /// [`Engine::open`]: write packs of 1 MiB and more past the page cache (`O_DIRECT`) where the
    /// filesystem allows, so a save does not slow requests down (see `backend/direct.rs`).
    /// Default on.
    pub direct_writes: bool,
    /// [`Engine::open`]: append changes to the write-ahead log (`<state>/log/`,
    /// [`Engine::commit_log`]), and save generations of what the log holds. Default off. An
    /// existing log is replayed by loads either way.
    pub write_ahead_log: bool,
    /// Bytes preallocated per log segment.
    pub log_segment_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            keep_generations: 3,
            background_saves: true,
            direct_writes: true,
            write_ahead_log: false,
            log_segment_bytes: crate::wal::DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Give the calling thread the lowest CPU priority (Linux: nice 19 for this thread only; threads
/// it starts inherit it). Best effort: failure leaves the priority as it was.
pub fn lower_current_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` are plain syscalls with no memory arguments; they act on
    // the calling thread only.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// What a garbage collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub live_chunks: u64,
    pub chunks: GcStats,
    pub duration: Duration,
}

/// The persistence engine for a set of stores sharing one chunk store.
pub struct Engine {
    backend: Arc<dyn Backend>,
    chunks: Arc<PackStore>,
    services: RwLock<BTreeMap<String, Arc<dyn Service>>>,
    save_lock: Mutex<()>,
    keep: usize,
    background: bool,
    /// Blob writers in progress: id → the epoch they started in. Their chunks are never collected.
    writers: Arc<Mutex<Writers>>,
    next_writer: AtomicU64,
    /// The epoch the previous collection started in: chunks put since survive one more collection.
    last_gc_epoch: AtomicU64,
    /// The same for [`Engine::prune_unsaved`].
    last_prune_epoch: AtomicU64,
    /// Reads of stored data that failed verification, per service (see [`Engine::damaged_read`]).
    damaged_reads: Mutex<BTreeMap<String, u64>>,
    /// The write-ahead log (replayed by loads; appended to when `log_appends`).
    wal: Option<Arc<Wal>>,
    log_appends: bool,
    /// One log commit at a time.
    log_lock: Mutex<()>,
    /// Registered services whose state is not persisted (`PERSIST_<SERVICE>=0`): a garbage
    /// collection does not save them (their blobs are still kept while they live).
    not_persisted: RwLock<HashSet<String>>,
}

/// Blob writers in progress (id → the epoch they started in), and the earliest start epoch of
/// those finished since the last prune of unsaved chunks: a finished blob is not in a store until
/// its request writes the record, so its chunks stay protected through one more prune.
#[derive(Default)]
struct Writers {
    active: HashMap<u64, u64>,
    finished_min: Option<u64>,
}

impl Engine {
    /// Open (or create) the state directory `dir` on the local disk.
    pub fn open(dir: impl AsRef<Path>, options: EngineOptions) -> Result<Engine> {
        let dir = dir.as_ref();
        let backend = LocalBackend::open(dir)
            .map_err(|e| Error::io(dir.display().to_string(), e))?
            .with_direct_writes(options.direct_writes);
        let wal = Wal::open(
            dir.join("log"),
            WalOptions {
                segment_bytes: options.log_segment_bytes,
                hook: None,
            },
        )?;
        Self::with_backend_and_log(Arc::new(backend), options, Some(wal))
    }

    /// Open the engine on any backend, without a write-ahead log.
    pub fn with_backend(backend: Arc<dyn Backend>, options: EngineOptions) -> Result<Engine> {
        Self::with_backend_and_log(backend, options, None)
    }

    /// Open the engine on any backend with a write-ahead log (appended to when
    /// [`EngineOptions::write_ahead_log`] is set).
    pub fn with_backend_and_log(
        backend: Arc<dyn Backend>,
        options: EngineOptions,
        wal: Option<Wal>,
    ) -> Result<Engine> {
        let chunks = Arc::new(PackStore::open(backend.clone())?);
        let log_appends = options.write_ahead_log && wal.is_some();
        Ok(Engine {
            backend,
            chunks,
            services: RwLock::new(BTreeMap::new()),
            save_lock: Mutex::new(()),
            keep: options.keep_generations.max(1),
            background: options.background_saves,
            writers: Arc::new(Mutex::new(Writers::default())),
            next_writer: AtomicU64::new(0),
            last_gc_epoch: AtomicU64::new(0),
            last_prune_epoch: AtomicU64::new(0),
            damaged_reads: Mutex::new(BTreeMap::new()),
            wal: wal.map(Arc::new),
            log_appends,
            log_lock: Mutex::new(()),
            not_persisted: RwLock::new(HashSet::new()),
        })
    }

    /// Open the state directory `dir` for a server that restores saved state but never changes
    /// the directory: loads read it (and replay its write-ahead log); everything written (saves,
    /// the packs of new blobs) stays in memory ([`crate::backend::OverlayBackend`]); nothing is
    /// created, written or removed under `dir`, which must exist.
    pub fn open_restore_only(dir: impl AsRef<Path>, options: EngineOptions) -> Result<Engine> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::io(
                dir.display().to_string(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no saved state to restore (the directory does not exist)",
                ),
            ));
        }
        let lower = LocalBackend::open(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let backend = crate::backend::OverlayBackend::new(Arc::new(lower));
        let wal = Wal::open(
            dir.join("log"),
            WalOptions {
                segment_bytes: options.log_segment_bytes,
                hook: None,
            },
        )?;
        Self::with_backend_and_log(
            Arc::new(backend),
            EngineOptions {
                write_ahead_log: false,
                direct_writes: false,
                ..options
            },
            Some(wal),
        )
    }

    /// Mark a registered service as not persisted: the server never saves or loads it, and a
    /// garbage collection does not save it either.
    pub fn set_not_persisted(&self, service: &str) {
        self.not_persisted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service.to_string());
    }

    /// Whether [`Engine::set_not_persisted`] named the service.
    pub fn is_persisted(&self, service: &str) -> bool {
        !self
            .not_persisted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(service)
    }

    pub(crate) fn pack_store(&self) -> &Arc<PackStore> {
        &self.chunks
    }

    pub(crate) fn manifest_files(&self) -> Manifests<'_> {
        self.manifests()
    }

    /// The log-version floor of a service (see `docs/FORMAT.md` §11.1).
    pub(crate) fn log_floor(&self, service: &str) -> u64 {
        self.version_floor(service)
    }

    /// Make a store durable under its name. Registering a second store under one name fails.
    pub fn register<V: Record>(&self, store: Arc<Store<V>>) -> Result<()> {
        let name = store.name().to_string();
        if !valid_service_name(&name) {
            return Err(Error::InvalidServiceName(name));
        }
        let mut services = self.services.write().unwrap_or_else(|e| e.into_inner());
        if services.contains_key(&name) {
            return Err(Error::InvalidServiceName(format!(
                "{name} (registered twice)"
            )));
        }
        let svc = Persisted::new(store);
        svc.set_floor(self.version_floor(&name));
        services.insert(name, Arc::new(svc));
        Ok(())
    }

    /// Above every log version a service's entries and manifests use, so that the log versions
    /// of this process never repeat one from before.
    fn version_floor(&self, service: &str) -> u64 {
        let log = self.wal.as_ref().map_or(0, |w| w.max_version());
        let m = self.manifests();
        let saved = m
            .generations(service)
            .unwrap_or_default()
            .iter()
            .filter_map(|g| m.read(service, *g).ok())
            .map(|m| m.store_version)
            .max()
            .unwrap_or(0);
        log.max(saved)
    }

    /// Registered service names, sorted.
    pub fn services(&self) -> Vec<String> {
        self.read_services().keys().cloned().collect()
    }

    /// Services with at least one saved generation on disk.
    pub fn saved_services(&self) -> Result<Vec<String>> {
        let m = self.manifests();
        let mut out = Vec::new();
        for s in m.services()? {
            if !m.generations(&s)?.is_empty() {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn read_services(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<dyn Service>>> {
        self.services.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The chunk store, for the modules that move chunks in and out (`import.rs`).
    pub(crate) fn chunk_store(&self) -> Arc<dyn ChunkStore> {
        self.chunks.clone()
    }

    pub(crate) fn service(&self, name: &str) -> Result<Arc<dyn Service>> {
        if !valid_service_name(name) {
            return Err(Error::InvalidServiceName(name.to_string()));
        }
        self.read_services()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownService(name.to_string()))
    }

    fn manifests(&self) -> Manifests<'_> {
        Manifests {
            backend: self.backend.as_ref(),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            chunks: self.chunks.as_ref(),
            manifests: self.manifests(),
            keep: self.keep,
            wal: self.wal.as_deref(),
            from_log: self.log_appends,
        }
    }

    fn save_guard(&self) -> MutexGuard<'_, ()> {
        self.save_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a service changed since its last save.
    pub fn is_dirty(&self, service: &str) -> Result<bool> {
        Ok(self.service(service)?.status().dirty)
    }

    /// The current version of a service's store.
    pub fn version(&self, service: &str) -> Result<u64> {
        Ok(self.service(service)?.version())
    }

    /// A reader of a service's store version that is looked up once, not on every read (by
    /// name, under the registry's lock): for callers that read a version per request. A
    /// registered service is never replaced, so the reader stays the service's.
    pub fn version_reader(&self, service: &str) -> Result<VersionReader> {
        Ok(VersionReader(self.service(service)?))
    }

    /// Save the named services that changed since their last save, as one group: their new chunks
    /// share one pack, and each manifest is committed once the pack is durable. Unchanged services
    /// cost nothing. One service failing never stops the others. Results come in the given order.
    ///
    /// The work runs on a background-priority thread (see [`EngineOptions::background_saves`]) so
    /// that it takes CPU from requests only when they leave it idle.
    pub fn save(&self, names: &[&str]) -> Vec<(String, Result<SaveReport>)> {
        // Nothing changed: answer here, without starting the save thread.
        let unchanged = names
            .iter()
            .all(|n| self.service(n).is_ok_and(|s| !s.is_dirty()));
        if unchanged {
            let _g = self.save_guard();
            return self.save_locked(names, false);
        }
        self.in_background(|| {
            let _g = self.save_guard();
            self.save_locked(names, false)
        })
    }

    /// [`Engine::save`] on the calling thread at its own priority: for saves that requests wait
    /// on (a durable-on-request write), where a background priority would make them wait longer.
    pub fn save_urgent(&self, names: &[&str]) -> Vec<(String, Result<SaveReport>)> {
        let _g = self.save_guard();
        self.save_locked(names, false)
    }

    /// Run `f` on a scoped helper thread at the lowest CPU priority, when so configured.
    fn in_background<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        if !self.background {
            return f();
        }
        let job = Mutex::new(Some(f));
        let run = || {
            job.lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|f| f())
        };
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("snapstack-save".into())
                .spawn_scoped(scope, || {
                    lower_current_thread_priority();
                    run()
                });
            let done = match spawned {
                Ok(handle) => match handle.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(_) => None,
            };
            // Out of threads: run the job here, at the caller's priority.
            done.or_else(run).expect("the save job runs exactly once")
        })
    }

    /// Save every registered service that changed.
    pub fn save_all(&self) -> Vec<(String, Result<SaveReport>)> {
        let names = self.services();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.save(&refs)
    }

    /// Save the named services whether or not they changed (a new generation each).
    pub fn save_forced(&self, names: &[&str]) -> Vec<(String, Result<SaveReport>)> {
        self.in_background(|| {
            let _g = self.save_guard();
            self.save_locked(names, true)
        })
    }

    fn save_locked(&self, names: &[&str], force: bool) -> Vec<(String, Result<SaveReport>)> {
        let results = self.save_locked_inner(names, force);
        if results
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|r| r.generation.is_some()))
        {
            self.drop_covered_log();
        }
        results
    }

    fn save_locked_inner(&self, names: &[&str], force: bool) -> Vec<(String, Result<SaveReport>)> {
        let recovering = self.chunks.failing();
        if recovering {
            self.prune_unsaved();
        }
        if self.log_appends {
            // Generations are saved at logged versions: log what changed first.
            for (name, r) in self.commit_log(names) {
                if let Err(e) = r {
                    warn!(service = name, error = %e, "appending to the log before a save failed; saving what the log holds");
                }
            }
        }
        let ctx = self.ctx();
        let mut results: Vec<(String, Option<Result<SaveReport>>)> =
            names.iter().map(|n| (n.to_string(), None)).collect();
        let services: Vec<Option<Arc<dyn Service>>> =
            names.iter().map(|n| self.service(n).ok()).collect();
        // Phase 1: capture and encode. Locks are taken in name order by the caller's order; the
        // save lock makes this the only save in progress, so no two saves lock out of order.
        let mut pending = Vec::new();
        for (i, svc) in services.iter().enumerate() {
            let Some(svc) = svc else {
                results[i].1 = Some(Err(Error::UnknownService(names[i].to_string())));
                continue;
            };
            match svc.begin_save(&ctx, force) {
                Ok(None) => {
                    results[i].1 = Some(Ok(SaveReport {
                        version: svc.version(),
                        ..SaveReport::default()
                    }))
                }
                Ok(Some(p)) => pending.push((i, p)),
                Err(e) => {
                    svc.record_error(&e);
                    results[i].1 = Some(Err(e.in_service(names[i])));
                }
            }
        }
        if pending.is_empty() {
            return finish(results);
        }
        // Phase 2: one durable write of every new chunk.
        if let Err(e) = self.chunks.sync() {
            warn!(error = %e, "saving chunks failed; the previous snapshots stay in place");
            for (i, p) in pending {
                p.fail(&e);
                results[i].1 = Some(Err(Error::Service {
                    service: names[i].to_string(),
                    source: Box::new(clone_error(&e)),
                }));
            }
            return finish(results);
        }
        if recovering {
            // The outage is over: give back what its buffers took.
            release_free_memory();
        }
        // Phase 3: the manifests.
        for (i, p) in pending {
            match ctx.manifests.write(p.manifest()) {
                Ok(()) => {
                    let report = p.commit(&ctx);
                    // The server logs the one line per save (services, records, bytes).
                    trace!(service = names[i], ?report, "saved");
                    results[i].1 = Some(Ok(report));
                }
                Err(e) => {
                    p.fail(&e);
                    results[i].1 = Some(Err(e.in_service(names[i])));
                }
            }
        }
        finish(results)
    }

    /// Whether group commits go to the write-ahead log ([`EngineOptions::write_ahead_log`]).
    pub fn log_appends(&self) -> bool {
        self.log_appends
    }

    /// Make the named services' changes durable in the write-ahead log: one frame with every
    /// changed record of every service, one `fdatasync`. Returns, per service, the store version
    /// now durable. Without log appends this is [`Engine::save_urgent`].
    pub fn commit_log(&self, names: &[&str]) -> Vec<(String, Result<u64>)> {
        let Some(wal) = self.wal.as_ref().filter(|_| self.log_appends) else {
            return self
                .save_urgent(names)
                .into_iter()
                .map(|(n, r)| (n, r.map(|r| r.version)))
                .collect();
        };
        self.relieve();
        let _g = self.log_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, Option<Result<u64>>)> =
            names.iter().map(|n| (n.to_string(), None)).collect();
        let mut captured = Vec::new();
        let mut entries = Vec::new();
        let mut blobs = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let svc = match self.service(n) {
                Ok(s) => s,
                Err(e) => {
                    out[i].1 = Some(Err(e));
                    continue;
                }
            };
            match svc.log_capture() {
                Ok(None) => out[i].1 = Some(Ok(svc.logged_version())),
                Ok(Some(c)) => {
                    entries.push(c.entry);
                    blobs.extend(c.blobs);
                    captured.push((i, svc, c.version));
                }
                Err(e) => {
                    svc.record_error(&e);
                    out[i].1 = Some(Err(e.in_service(n)));
                }
            }
        }
        if !captured.is_empty() {
            // Blob pieces the records reference are durable before the records.
            let r = if blobs.is_empty() {
                Ok(())
            } else {
                self.chunks.sync().map(|_| ())
            }
            .and_then(|()| wal.append(&entries, &blobs));
            match r {
                Ok(stats) => {
                    for (i, svc, v) in captured {
                        svc.log_done(true);
                        out[i].1 = Some(Ok(v));
                    }
                    let _ = stats;
                }
                Err(e) => {
                    warn!(error = %e, "appending to the write-ahead log failed; nothing was acknowledged");
                    for (i, svc, _) in captured {
                        svc.log_done(false);
                        svc.record_error(&e);
                        out[i].1 = Some(Err(Error::Service {
                            service: names[i].to_string(),
                            source: Box::new(clone_error(&e)),
                        }));
                    }
                }
            }
        }
        out.into_iter()
            .map(|(n, r)| {
                let r = r.unwrap_or_else(|| Err(Error::UnknownService(n.clone())));
                (n, r)
            })
            .collect()
    }

    /// Per registered service, the log version of its newest durable generation.
    fn saved_log_versions(&self) -> HashMap<String, u64> {
        self.read_services()
            .iter()
            .filter_map(|(n, s)| s.saved_log_version().map(|v| (n.clone(), v)))
            .collect()
    }

    /// Remove the log segments every durable generation covers.
    fn drop_covered_log(&self) {
        let Some(wal) = &self.wal else { return };
        let saved = self.saved_log_versions();
        match wal.drop_covered(&crate::wal::covered_by(&saved)) {
            Ok(0) => {}
            Ok(n) => debug!(segments = n, "removed log segments covered by generations"),
            Err(e) => {
                warn!(error = %e, "removing covered log segments failed; they stay (harmless)")
            }
        }
    }

    /// What the write-ahead log holds (`None` without a log). An entry counts as pending until a
    /// generation covers it: the service's last saved or loaded one, or for a service not loaded
    /// here, its newest readable manifest.
    pub fn log_status(&self) -> Option<LogStatus> {
        let wal = self.wal.as_ref()?;
        let m = self.manifests();
        let mut saved = HashMap::new();
        for service in m.services().unwrap_or_default() {
            let newest = m
                .generations(&service)
                .unwrap_or_default()
                .iter()
                .rev()
                .find_map(|g| m.read(&service, *g).ok());
            if let Some(man) = newest {
                saved.insert(service, man.store_version);
            }
        }
        saved.extend(self.saved_log_versions());
        Some(wal.status(&crate::wal::covered_by(&saved)))
    }

    /// Load the newest generation of a service that verifies, replacing its state. Damaged
    /// generations are skipped (and named in the report); nothing is ever deleted. A service
    /// with no snapshot is left as it is.
    pub fn load(&self, service: &str) -> Result<LoadReport> {
        let svc = self.service(service)?;
        svc.load(&self.ctx())
    }

    /// Make a service's live state that of one of its saved generations (verified), as an
    /// ordinary change: the write-ahead log and the next save carry it like any write, so newer
    /// generations stay on disk and the choice survives a restart once durable. Returns the
    /// report and the store version of the change.
    pub fn restore_generation(&self, service: &str, generation: u64) -> Result<(LoadReport, u64)> {
        let svc = self.service(service)?;
        svc.restore_generation(&self.ctx(), generation)
    }

    /// Undo the write of `service` that produced `version`, unless later writes changed the
    /// same records again (theirs stay). For a change that could not be made durable: the
    /// caller is answered with an error, and nothing of the change remains. Needs
    /// [`Engine::keep_recent`]. Returns the version of the undo, if anything was undone.
    pub fn undo(&self, service: &str, version: u64) -> Result<Option<u64>> {
        Ok(self.service(service)?.undo(version))
    }

    /// Keep the roots of every registered store's last `n` versions, so that their writes can
    /// be undone ([`Engine::undo`]).
    pub fn keep_recent(&self, n: usize) {
        for name in self.services() {
            if let Ok(s) = self.service(&name) {
                s.keep_recent(n);
            }
        }
    }

    /// Reset a service's state to empty (in memory; the next save persists the reset).
    pub fn reset(&self, service: &str) -> Result<u64> {
        Ok(self.service(service)?.reset())
    }

    /// The persistence status of a service.
    pub fn status(&self, service: &str) -> Result<ServiceStatus> {
        Ok(self.service(service)?.status())
    }

    /// Every saved generation of every service in the state directory, whether or not its
    /// service is registered, with its manifest or why it does not read. Read-only.
    pub fn generations_on_disk(&self) -> Result<Vec<crate::inspect::GenerationInfo>> {
        crate::inspect::generations(&self.manifests())
    }

    /// Read every chunk every saved generation references (tree nodes, blob indexes, blob
    /// pieces) and check it against its hash; report per generation. Read-only: nothing is
    /// repaired or removed.
    pub fn verify(&self) -> Result<crate::inspect::VerifyReport> {
        crate::inspect::verify(
            &self.manifests(),
            self.chunks.clone(),
            self.chunks.damaged(),
        )
    }

    /// Compare generation `from` of `service` with generation `to`, record by record in key
    /// order; the first `limit` changes are listed, all are counted. Read-only.
    pub fn diff_generations(
        &self,
        service: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<crate::inspect::DiffReport> {
        crate::inspect::diff(
            &self.manifests(),
            self.chunks.as_ref(),
            service,
            from,
            to,
            limit,
        )
    }

    /// Totals of the chunk store.
    pub fn chunk_stats(&self) -> ChunkStats {
        self.chunks.stats()
    }

    /// Start writing a blob. Its chunks are protected from garbage collection while the writer
    /// lives and through the next collection after it finishes.
    pub fn blob_writer(&self) -> EngineBlobWriter {
        let id = self.next_writer.fetch_add(1, Ordering::Relaxed);
        let epoch = self.chunks.advance_epoch();
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .insert(id, epoch);
        EngineBlobWriter {
            inner: Some(BlobWriter::new(self.chunks.clone())),
            chunks: self.chunks.clone(),
            id,
            writers: self.writers.clone(),
        }
    }

    /// A blob holding the bytes of `parts` in order, sharing their pieces (nothing is copied).
    pub fn concat_blobs(&self, parts: &[BlobId]) -> Result<BlobId> {
        crate::blob::concat(self.chunks.as_ref(), parts)
    }

    /// Open the engine on memory only: nothing survives the process. For running without
    /// persistence while large values still go through the chunk store.
    pub fn in_memory() -> Result<Engine> {
        Self::with_backend(
            Arc::new(crate::backend::MemoryBackend::new()),
            EngineOptions {
                background_saves: false,
                // Nothing survives the process, so older generations serve no one: keep one,
                // and memory held by deleted values is freed at the next collections.
                keep_generations: 1,
                direct_writes: false,
                ..EngineOptions::default()
            },
        )
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, id: &BlobId) -> Result<Blob> {
        Blob::open(self.chunks.clone(), id)
    }

    /// Report a read of `service`'s stored data that failed (a blob whose index or piece does not
    /// verify, or is missing): logged with the service, what was read and the error (which names
    /// the file and the chunk), and counted ([`Engine::damaged_reads`]).
    pub fn damaged_read(&self, service: &str, what: &str, err: &Error) {
        warn!(service, what, error = %err, "stored data failed verification while being read");
        *self
            .damaged_reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(service.to_string())
            .or_default() += 1;
    }

    /// How many reads of `service`'s stored data failed verification since the start.
    pub fn damaged_reads(&self, service: &str) -> u64 {
        self.damaged_reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .copied()
            .unwrap_or(0)
    }

    /// Make every chunk put so far durable (blobs written outside a save).
    pub fn sync_chunks(&self) -> Result<()> {
        self.chunks.sync().map(|_| ())
    }

    /// After failed pack writes (a full disk): drop the unwritten chunks that the next save does
    /// not need, so that a save succeeds as soon as there is room for the state itself. Kept:
    /// every chunk of the blobs that records changed since their service's last save reference,
    /// the chunks of blob writers in progress or finished since the previous prune, and chunks
    /// put since the previous prune. Dropped: chunks of bodies whose request was refused (and
    /// rolled back, or never stored) and tree nodes of failed saves (the next save encodes them
    /// again). Runs under the save lock, before a save encodes anything.
    /// While the disk refuses writes, drop the unwritten chunks that no state references (the
    /// bodies of refused requests, nodes of failed saves), unless a save is running (it prunes
    /// itself). Costs one flag check when nothing is failing; returns whether it pruned. Called
    /// before new data arrives (a log commit, a blob upload), so that memory held for refused
    /// requests is given back before a new request could be refused for it.
    pub fn relieve(&self) -> bool {
        if !self.chunks.failing() {
            return false;
        }
        let Ok(_g) = self.save_lock.try_lock() else {
            return false;
        };
        self.prune_unsaved();
        true
    }

    fn prune_unsaved(&self) {
        let epoch = self.chunks.advance_epoch();
        let prev = self.last_prune_epoch.swap(epoch, Ordering::SeqCst);
        let writers_min = {
            let mut w = self.writers.lock().unwrap_or_else(|e| e.into_inner());
            let min = w.active.values().copied().chain(w.finished_min).min();
            w.finished_min = None;
            min
        };
        let protect_from = writers_min.map_or(prev, |w| w.min(prev));
        let mut blobs = Vec::new();
        for svc in self.read_services().values() {
            svc.unsaved_blobs(&mut blobs);
        }
        let mut keep = HashSet::new();
        for b in blobs {
            if !keep.insert(b.index) {
                continue;
            }
            match Blob::open(self.chunks.clone(), &b) {
                Ok(blob) => keep.extend(blob.piece_ids().copied()),
                Err(e) => {
                    // Cannot tell what the blob needs: drop nothing.
                    warn!(error = %e, "a changed record's blob does not open; unwritten chunks are all kept");
                    return;
                }
            }
        }
        let (chunks, bytes) = self.chunks.prune_unsaved(&keep, protect_from);
        if chunks > 0 {
            info!(
                chunks,
                bytes,
                "dropped unwritten chunks no state references (refused requests, failed saves)"
            );
            release_free_memory();
        }
    }

    /// Save every changed service, then remove the chunks that no kept generation of any service
    /// references. Stops, deleting nothing, at the first error.
    pub fn gc(&self) -> Result<GcReport> {
        self.in_background(|| self.gc_inner(false))
    }

    /// A garbage collection of a state directory no server is using (`snapstack snapshot gc`,
    /// under the volume lock): every chunk that no kept generation (and no record in the
    /// write-ahead log) references is removed now. [`Engine::gc`] spares chunks put since its
    /// previous run, which here, in a fresh engine, would be all of them.
    pub fn gc_stopped(&self) -> Result<GcReport> {
        self.gc_inner(true)
    }

    fn gc_inner(&self, stopped: bool) -> Result<GcReport> {
        let started = Instant::now();
        let _g = self.save_guard();
        let epoch = self.chunks.advance_epoch();
        let names: Vec<String> = self
            .services()
            .into_iter()
            .filter(|n| self.is_persisted(n))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        for (name, r) in self.save_locked(&refs, false) {
            if let Err(e) = r {
                return Err(Error::Service {
                    service: name,
                    source: Box::new(Error::corrupt(
                        "garbage collection",
                        format!("stopped because a save failed: {e}"),
                    )),
                });
            }
        }
        let mut live = HashSet::new();
        let mut blobs = Vec::new();
        for svc in self.read_services().values() {
            svc.live(&mut live, &mut blobs);
        }
        // Records in the log not yet in a generation keep their blobs alive.
        if let Some(w) = &self.wal {
            blobs.extend(w.blobs());
        }
        let m = self.manifests();
        for service in m.services()? {
            for g in m.generations(&service)? {
                let manifest = m.read(&service, g)?;
                if let Some(root) = manifest.root {
                    collect_tree_chunks(self.chunks.as_ref(), root, &mut live, &mut blobs)
                        .map_err(|e| e.in_service(&service))?;
                }
            }
        }
        let mut seen_blobs = HashSet::new();
        for b in blobs {
            if !seen_blobs.insert(b.index) {
                continue;
            }
            live.insert(b.index);
            let blob = Blob::open(self.chunks.clone(), &b)?;
            live.extend(blob.piece_ids().copied());
        }
        let writers_min = self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .values()
            .copied()
            .min();
        let prev = self.last_gc_epoch.swap(epoch, Ordering::SeqCst);
        let prev = if stopped { epoch } else { prev };
        let protect_from = writers_min.map_or(prev, |w| w.min(prev));
        let chunks = self.chunks.retain(&live, protect_from)?;
        Ok(GcReport {
            live_chunks: live.len() as u64,
            chunks,
            duration: started.elapsed(),
        })
    }
}

/// Hand memory the allocator keeps on its free lists back to the system. glibc keeps freed
/// buffers in per-thread arenas, so the megabytes of bodies buffered during a disk-full outage
/// would stay resident after they are dropped. Called only on that path (it walks the heap).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and only returns free pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn finish(results: Vec<(String, Option<Result<SaveReport>>)>) -> Vec<(String, Result<SaveReport>)> {
    results
        .into_iter()
        .map(|(n, r)| {
            let r = r.unwrap_or_else(|| Err(Error::UnknownService(n.clone())));
            (n, r)
        })
        .collect()
}

/// Errors are not `Clone` (they hold `io::Error`); a shared failure is reported to each service
/// with the same message.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Io { file, source } => Error::Io {
            file: file.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => Error::corrupt("chunk store", other.to_string()),
    }
}

/// A blob being written through the engine.
pub struct EngineBlobWriter {
    inner: Option<BlobWriter>,
    chunks: Arc<PackStore>,
    id: u64,
    writers: Arc<Mutex<Writers>>,
}

impl EngineBlobWriter {
    /// Add bytes to the blob. While the disk refuses writes and more than
    /// [`MAX_UNSAVED_WHILE_FAILING`](crate::chunk_store::MAX_UNSAVED_WHILE_FAILING) bytes wait in
    /// memory, this fails with [`Error::Unavailable`] instead of buffering more.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(held) = self.chunks.unsaved_backlog() {
            return Err(Error::Unavailable(format!(
                "the disk refused the last save and {} MiB of unsaved data wait in memory (the limit is {} MiB); new uploads are refused until a save succeeds",
                held >> 20,
                crate::chunk_store::MAX_UNSAVED_WHILE_FAILING >> 20
            )));
        }
        match &mut self.inner {
            Some(w) => w.write(data),
            None => Ok(()),
        }
    }

    /// Finish the blob; returns its id and how many bytes of pieces were new to the chunk store
    /// (the rest were already stored: deduplicated).
    pub fn finish(mut self) -> Result<(BlobId, u64)> {
        match self.inner.take() {
            Some(w) => w.finish_counting(),
            None => Err(Error::TooLarge("blob writer already finished".into())),
        }
    }
}

impl Drop for EngineBlobWriter {
    fn drop(&mut self) {
        let mut w = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(epoch) = w.active.remove(&self.id) {
            w.finished_min = Some(w.finished_min.map_or(epoch, |m| m.min(epoch)));
        }
    }
}

/// Reads one registered service's store version ([`Engine::version_reader`]).
#[derive(Clone)]
pub struct VersionReader(Arc<dyn Service>);

impl VersionReader {
    /// The store's current version (one atomic load).
    pub fn get(&self) -> u64 {
        self.0.version()
    }
}

impl std::fmt::Debug for VersionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VersionReader").field(&self.get()).finish()
    }
}

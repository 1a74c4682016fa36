//! Saving and loading one store: capture its root, encode what changed since the last save into
//! chunks, and, once the engine has made the chunks durable, commit the manifest.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, trace, warn};

use crate::blob::BlobId;
use crate::chunk_id::ChunkId;
use crate::chunk_store::ChunkStore;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, Manifests};
use crate::store::{Map, Record, Store};
use crate::tree::{Tree, UpdateStats};
use crate::wal::frame::{Entry, FLAG_REPLACE, encode_entry};
use crate::wal::{LogItem, Wal};

/// What a save of one service did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaveReport {
    /// The generation written; `None` when the state had not changed since the last save.
    pub generation: Option<u64>,
    /// The store version the snapshot holds: every write acknowledged at or below it is durable.
    pub version: u64,
    pub records: u64,
    /// The root chunk of the saved tree (equal states have equal roots).
    pub root: Option<ChunkId>,
    pub changed_records: u64,
    pub nodes_encoded: u64,
    pub new_chunks: u64,
    pub new_bytes: u64,
    /// Time spent capturing and encoding the changed nodes.
    pub encode_duration: Duration,
    /// Total time, from capture to the committed manifest.
    pub duration: Duration,
}

/// What a load of one service did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The generation loaded; `None` when the service has no snapshot.
    pub generation: Option<u64>,
    pub records: u64,
    /// Newer generations that could not be loaded, with why.
    pub skipped: Vec<String>,
    pub duration: Duration,
}

/// The persistence status of one service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceStatus {
    pub service: String,
    pub version: u64,
    pub saved_version: u64,
    pub dirty: bool,
    pub generation: Option<u64>,
    /// The root chunk of the last saved or loaded tree.
    pub root: Option<ChunkId>,
    pub records: u64,
    pub tree_bytes: u64,
    pub tree_chunks: u64,
    pub last_save_unix_ms: Option<u64>,
    pub last_save_duration: Option<Duration>,
    pub last_error: Option<String>,
    pub loaded_generation: Option<u64>,
    /// The store version the write-ahead log holds durably (0 when nothing was logged).
    pub logged_version: u64,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) struct Ctx<'a> {
    pub chunks: &'a dyn ChunkStore,
    pub manifests: Manifests<'a>,
    pub keep: usize,
    /// The write-ahead log, replayed by loads.
    pub wal: Option<&'a Wal>,
    /// Saves capture what the log holds (the engine appends to the log first) rather than the
    /// live store, so every generation is at a logged version.
    pub from_log: bool,
}

/// A service's changes since its last log append, encoded as a log entry.
pub(crate) struct LogCapture {
    pub entry: Vec<u8>,
    pub blobs: Vec<BlobId>,
    /// The store version the entry brings the log to.
    pub version: u64,
}

/// A save that has encoded its chunks and waits for them to be durable before committing.
pub(crate) trait PendingSave {
    fn manifest(&self) -> &Manifest;
    /// The manifest is durable: adopt the new tree and prune old generations.
    fn commit(self: Box<Self>, ctx: &Ctx<'_>) -> SaveReport;
    /// The save failed at `err`: keep the previous tree.
    fn fail(self: Box<Self>, err: &Error);
}

/// A store as the engine sees it, whatever its record type.
pub(crate) trait Service: Send + Sync {
    /// Whether the store changed since its last save (cheap: two version reads).
    fn is_dirty(&self) -> bool;
    fn version(&self) -> u64;
    /// Capture the current root and encode what changed. `None` if nothing changed.
    fn begin_save<'a>(
        &'a self,
        ctx: &Ctx<'_>,
        force: bool,
    ) -> Result<Option<Box<dyn PendingSave + 'a>>>;
    fn load(&self, ctx: &Ctx<'_>) -> Result<LoadReport>;
    /// Make the live state that of generation `generation` (verified), as an ordinary change:
    /// the log and the next save carry it like any write. Returns the report and the new store
    /// version.
    fn restore_generation(&self, ctx: &Ctx<'_>, generation: u64) -> Result<(LoadReport, u64)>;
    fn reset(&self) -> u64;
    /// Load the tree under `root` from `chunks` and merge it into the store
    /// ([`crate::Engine::import`]).
    fn import(
        &self,
        root: Option<ChunkId>,
        height: u8,
        chunks: &dyn ChunkStore,
        merge: crate::import::Merge,
        dry_run: bool,
    ) -> Result<(crate::import::ImportReport, Option<u64>)>;
    /// Undo the write that produced `version` ([`Store::undo`]).
    fn undo(&self, version: u64) -> Option<u64>;
    /// Keep the last `n` roots so that writes can be undone ([`Store::keep_recent`]).
    fn keep_recent(&self, n: usize);
    /// The chunks the last saved tree references, and the blobs its records reference.
    fn live(&self, chunks: &mut HashSet<ChunkId>, blobs: &mut Vec<BlobId>);
    /// The blobs referenced by records added or changed since the last save (cost: the change).
    fn unsaved_blobs(&self, blobs: &mut Vec<BlobId>);
    fn status(&self) -> ServiceStatus;
    fn record_error(&self, err: &Error);
    /// Log versions of this service are store versions plus `floor`: above every version in the
    /// log and in any manifest, so versions never repeat across restarts.
    fn set_floor(&self, floor: u64);
    /// Encode the changes since the last log append (kept pending until [`Service::log_done`]).
    fn log_capture(&self) -> Result<Option<LogCapture>>;
    /// The pending capture was made durable (`true`) or not.
    fn log_done(&self, durable: bool);
    /// The store version the log holds durably.
    fn logged_version(&self) -> u64;
    /// The log version of the newest durable generation, if any.
    fn saved_log_version(&self) -> Option<u64>;
}

/// What the log holds of one service: the state at its last durable append.
struct LogState<V> {
    map: Map<V>,
    /// Store version of `map`.
    version: u64,
    /// Log version naming `map` in the log's history; `None` until the service was loaded or
    /// logged (its first entry then starts from an empty state).
    chain: Option<u64>,
    pending: Option<(Map<V>, u64, u64)>,
}

struct FlushState<V> {
    tree: Tree<V>,
    saved_version: u64,
    /// Generations on disk, oldest first; `None` until listed.
    generations: Option<Vec<u64>>,
    loaded_generation: Option<u64>,
    /// The log version the newest durable generation holds.
    saved_log: Option<u64>,
}

#[derive(Default)]
struct Stats {
    last_save_unix_ms: Option<u64>,
    last_save_duration: Option<Duration>,
    last_error: Option<String>,
    generation: Option<u64>,
}

/// A registered store with its persistence state.
pub(crate) struct Persisted<V> {
    store: Arc<Store<V>>,
    state: Mutex<FlushState<V>>,
    stats: Mutex<Stats>,
    log: Mutex<LogState<V>>,
    floor: AtomicU64,
}

impl<V: Record> Persisted<V> {
    pub(crate) fn new(store: Arc<Store<V>>) -> Self {
        let saved_version = store.version();
        Persisted {
            store,
            state: Mutex::new(FlushState {
                tree: Tree::empty(),
                // A store registered empty has nothing to save yet.
                saved_version: if saved_version == 0 { 0 } else { u64::MAX },
                generations: None,
                loaded_generation: None,
                saved_log: None,
            }),
            stats: Mutex::new(Stats::default()),
            log: Mutex::new(LogState {
                map: Map::default(),
                version: 0,
                chain: None,
                pending: None,
            }),
            floor: AtomicU64::new(0),
        }
    }

    fn log_state(&self) -> MutexGuard<'_, LogState<V>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_version_of(&self, store_version: u64) -> u64 {
        store_version + self.floor.load(Ordering::SeqCst)
    }

    /// Replay the log's entries of this service on top of `base` (the loaded generation at log
    /// version `applied`, or nothing). Returns whether anything was applied and the reports.
    fn replay(
        &self,
        items: Vec<LogItem>,
        mut applied: u64,
        base: Option<&Map<V>>,
        skipped: &mut Vec<String>,
    ) -> (bool, u64) {
        let service = self.store.name();
        let mut started = false;
        for item in items {
            let (at, entry) = match item {
                LogItem::Damage(msg) => {
                    warn!(service, damage = %msg, "the write-ahead log is damaged here; entries of this service after it apply only if they follow on from what was replayed");
                    skipped.push(format!("write-ahead log: {msg}"));
                    continue;
                }
                LogItem::Entry { at, entry } => (at, entry),
            };
            if entry.service != service || entry.version <= applied {
                continue;
            }
            if !entry.replace() && entry.base != applied {
                let msg = format!(
                    "write-ahead log {at}: the entry of {service} at log version {} follows version {}, not the replayed {applied}; skipped",
                    entry.version, entry.base
                );
                warn!(service, "{msg}");
                skipped.push(msg);
                continue;
            }
            let changes = match decode_changes::<V>(&entry) {
                Ok(c) => c,
                Err(e) => {
                    let msg = format!("write-ahead log {at}: {e}; skipped");
                    warn!(service, "{msg}");
                    skipped.push(msg);
                    continue;
                }
            };
            if !started {
                started = true;
                self.store.replace(base.cloned().unwrap_or_default());
            }
            // The same path as a request's write.
            self.store.write(|t| {
                if entry.replace() {
                    let keys: Vec<_> = t.range(..).map(|(k, _)| k.clone()).collect();
                    for k in keys {
                        t.remove(&k);
                    }
                }
                for (k, v) in changes {
                    match v {
                        Some(v) => {
                            t.insert(k, v);
                        }
                        None => {
                            t.remove(&k);
                        }
                    }
                }
            });
            applied = entry.version;
        }
        (started, applied)
    }

    /// The log's items for a load (none without a log). A log from a newer build fails the load.
    fn log_items(&self, ctx: &Ctx<'_>) -> Result<Vec<LogItem>> {
        match ctx.wal {
            Some(w) => w.read_all().inspect_err(|e| self.record_error(e)),
            None => Ok(Vec::new()),
        }
    }

    /// After a load: the log holds the loaded state, named by log version `applied`.
    fn after_load(&self, version: u64, applied: u64) {
        let mut ls = self.log_state();
        ls.map = self.store.snapshot().map().clone();
        ls.version = version;
        ls.chain = Some(applied);
        ls.pending = None;
    }

    fn lock(&self) -> MutexGuard<'_, FlushState<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn generations<'g>(
    gens: &'g mut Option<Vec<u64>>,
    ctx: &Ctx<'_>,
    service: &str,
) -> Result<&'g mut Vec<u64>> {
    if gens.is_none() {
        *gens = Some(ctx.manifests.generations(service)?);
    }
    Ok(gens.get_or_insert_with(Vec::new))
}

struct Pending<'a, V> {
    owner: &'a Persisted<V>,
    guard: MutexGuard<'a, FlushState<V>>,
    tree: Tree<V>,
    manifest: Manifest,
    /// The store version of the saved state (the manifest holds its log version).
    saved_version: u64,
    stats: UpdateStats,
    started: Instant,
    encoded: Duration,
}

impl<V: Record> PendingSave for Pending<'_, V> {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn commit(self: Box<Self>, ctx: &Ctx<'_>) -> SaveReport {
        let Pending {
            owner,
            mut guard,
            tree,
            manifest,
            saved_version,
            stats,
            started,
            encoded,
        } = *self;
        let service = owner.store.name();
        guard.tree = tree;
        guard.saved_version = saved_version;
        guard.saved_log = Some(manifest.store_version);
        let gens = guard.generations.get_or_insert_with(Vec::new);
        gens.push(manifest.generation);
        // Keep the newest `keep` generations. A failed removal only leaves an old file behind.
        while gens.len() > ctx.keep.max(1) {
            let old = gens.remove(0);
            if let Err(e) = ctx.manifests.remove(service, old) {
                warn!(service, generation = old, error = %e, "could not remove an old generation");
            }
        }
        let duration = started.elapsed();
        let mut st = owner.stats();
        st.last_save_unix_ms = Some(manifest.created_unix_ms);
        st.last_save_duration = Some(duration);
        st.last_error = None;
        st.generation = Some(manifest.generation);
        SaveReport {
            generation: Some(manifest.generation),
            version: saved_version,
            records: manifest.records,
            root: manifest.root,
            changed_records: stats.changed_records,
            nodes_encoded: stats.nodes_encoded,
            new_chunks: stats.new_chunks,
            new_bytes: stats.new_bytes,
            encode_duration: encoded,
            duration,
        }
    }

    fn fail(self: Box<Self>, err: &Error) {
        self.owner.record_error(err);
    }
}

impl<V: Record> Service for Persisted<V> {
    fn is_dirty(&self) -> bool {
        self.store.version() != self.lock().saved_version
    }

    fn version(&self) -> u64 {
        self.store.version()
    }

    fn begin_save<'a>(
        &'a self,
        ctx: &Ctx<'_>,
        force: bool,
    ) -> Result<Option<Box<dyn PendingSave + 'a>>> {
        let started = Instant::now();
        let mut guard = self.lock();
        // What to save: the live state, or (log mode) the state the log holds.
        let (map, version, log_version) = if ctx.from_log {
            let ls = self.log_state();
            let lv = ls.chain.unwrap_or_else(|| self.log_version_of(ls.version));
            (ls.map.clone(), ls.version, lv)
        } else {
            let snapshot = self.store.snapshot();
            let v = snapshot.version();
            (snapshot.map().clone(), v, self.log_version_of(v))
        };
        if version == guard.saved_version && !force {
            return Ok(None);
        }
        let service = self.store.name();
        let mut stats = UpdateStats::default();
        let tree = guard.tree.update(service, &map, ctx.chunks, &mut stats)?;
        let gens = generations(&mut guard.generations, ctx, service)?;
        let generation = gens.last().map_or(1, |g| g + 1);
        let root = tree.root();
        let manifest = Manifest {
            service: service.to_string(),
            generation,
            store_version: log_version,
            root: root.map(|n| n.id),
            height: tree.height() as u8,
            records: root.map_or(0, |n| n.records),
            tree_bytes: root.map_or(0, |n| n.bytes),
            tree_chunks: root.map_or(0, |n| n.nodes),
            created_unix_ms: unix_ms(),
        };
        Ok(Some(Box::new(Pending {
            owner: self,
            guard,
            tree,
            manifest,
            saved_version: version,
            stats,
            started,
            encoded: started.elapsed(),
        })))
    }

    fn load(&self, ctx: &Ctx<'_>) -> Result<LoadReport> {
        let started = Instant::now();
        let service = self.store.name();
        let mut guard = self.lock();
        let gens = ctx.manifests.generations(service)?;
        guard.generations = Some(gens.clone());
        let mut skipped = Vec::new();
        let mut attempts = Vec::new();
        for &g in gens.iter().rev() {
            let attempt = ctx.manifests.read(service, g).and_then(|m| {
                let file = ctx
                    .manifests
                    .backend
                    .location(&crate::manifest::manifest_path(service, g));
                Tree::<V>::load(m.root, usize::from(m.height), ctx.chunks)
                    .map_err(|e| Error::InGeneration {
                        file,
                        source: Box::new(e),
                    })
                    .map(|t| (m, t))
            });
            match attempt {
                Ok((m, tree)) => {
                    let items = self.log_items(ctx)?;
                    let (replayed, applied) =
                        self.replay(items, m.store_version, Some(tree.data()), &mut skipped);
                    let version = if replayed {
                        self.store.version()
                    } else {
                        self.store.replace(tree.data().clone())
                    };
                    guard.tree = tree;
                    // After a replay the store holds more than the tree: dirty until saved.
                    guard.saved_version = if replayed { version - 1 } else { version };
                    guard.saved_log = Some(m.store_version);
                    guard.loaded_generation = Some(g);
                    self.after_load(version, applied);
                    let mut st = self.stats();
                    st.generation = Some(g);
                    st.last_error = None;
                    // The server logs the one line per load.
                    trace!(service, generation = g, records = m.records, "loaded");
                    return Ok(LoadReport {
                        generation: Some(g),
                        records: self.store.snapshot().len() as u64,
                        skipped,
                        duration: started.elapsed(),
                    });
                }
                Err(e) => {
                    warn!(service, generation = g, error = %e, "generation does not load; trying an older one");
                    skipped.push(e.to_string());
                    attempts.push(e);
                }
            }
        }
        if attempts.is_empty() {
            // No snapshot: the log alone, from an empty state.
            let items = self.log_items(ctx)?;
            let (replayed, applied) = self.replay(items, 0, None, &mut skipped);
            if replayed {
                let version = self.store.version();
                guard.saved_version = version - 1;
                self.after_load(version, applied);
                trace!(
                    service,
                    version = applied,
                    "loaded from the write-ahead log"
                );
            }
            return Ok(LoadReport {
                records: if replayed {
                    self.store.snapshot().len() as u64
                } else {
                    0
                },
                skipped,
                duration: started.elapsed(),
                ..LoadReport::default()
            });
        }
        let err = Error::NoGoodGeneration {
            service: service.to_string(),
            attempts,
        };
        self.record_error(&err);
        Err(err)
    }

    fn restore_generation(&self, ctx: &Ctx<'_>, generation: u64) -> Result<(LoadReport, u64)> {
        let started = Instant::now();
        let service = self.store.name();
        let m = ctx.manifests.read(service, generation)?;
        let file = ctx
            .manifests
            .backend
            .location(&crate::manifest::manifest_path(service, generation));
        let tree = Tree::<V>::load(m.root, usize::from(m.height), ctx.chunks).map_err(|e| {
            Error::InGeneration {
                file,
                source: Box::new(e),
            }
        })?;
        let version = self.store.replace(tree.data().clone());
        // The live state is now that generation's (as a change, saved as a new generation).
        self.lock().loaded_generation = Some(generation);
        info!(
            service,
            generation,
            records = m.records,
            "restored generation"
        );
        Ok((
            LoadReport {
                generation: Some(generation),
                records: m.records,
                skipped: Vec::new(),
                duration: started.elapsed(),
            },
            version,
        ))
    }

    fn reset(&self) -> u64 {
        self.store.replace(Default::default())
    }

    fn import(
        &self,
        root: Option<ChunkId>,
        height: u8,
        chunks: &dyn ChunkStore,
        merge: crate::import::Merge,
        dry_run: bool,
    ) -> Result<(crate::import::ImportReport, Option<u64>)> {
        let tree = Tree::<V>::load(root, usize::from(height), chunks)?;
        let (report, version) = crate::import::merge_into(&self.store, tree.data(), merge, dry_run);
        if version.is_some() {
            info!(
                service = self.store.name(),
                added = report.added,
                changed = report.changed,
                removed = report.removed,
                "imported state"
            );
        }
        Ok((report, version))
    }

    fn undo(&self, version: u64) -> Option<u64> {
        self.store.undo(version)
    }

    fn keep_recent(&self, n: usize) {
        self.store.keep_recent(n);
    }

    fn live(&self, chunks: &mut HashSet<ChunkId>, blobs: &mut Vec<BlobId>) {
        let guard = self.lock();
        for (id, b) in guard.tree.chunk_ids() {
            chunks.insert(id);
            if let Some(b) = b {
                blobs.extend(b.iter().copied());
            }
        }
    }

    fn unsaved_blobs(&self, blobs: &mut Vec<BlobId>) {
        let saved = self.lock().tree.data().clone();
        let current = self.store.snapshot();
        for d in saved.diff(current.map()) {
            match d {
                imbl::ordmap::DiffItem::Add(_, v)
                | imbl::ordmap::DiffItem::Update { new: (_, v), .. } => blobs.extend(v.blobs()),
                imbl::ordmap::DiffItem::Remove(..) => {}
            }
        }
    }

    fn status(&self) -> ServiceStatus {
        let (saved_version, tree_info, loaded) = {
            let g = self.lock();
            let root = g.tree.root().cloned();
            (g.saved_version, root, g.loaded_generation)
        };
        let version = self.store.version();
        let st = self.stats();
        ServiceStatus {
            service: self.store.name().to_string(),
            version,
            saved_version: if saved_version == u64::MAX {
                0
            } else {
                saved_version
            },
            dirty: version != saved_version,
            generation: st.generation,
            root: tree_info.as_ref().map(|n| n.id),
            records: tree_info.as_ref().map_or(0, |n| n.records),
            tree_bytes: tree_info.as_ref().map_or(0, |n| n.bytes),
            tree_chunks: tree_info.as_ref().map_or(0, |n| n.nodes),
            last_save_unix_ms: st.last_save_unix_ms,
            last_save_duration: st.last_save_duration,
            last_error: st.last_error.clone(),
            loaded_generation: loaded,
            logged_version: self.log_state().version,
        }
    }

    fn record_error(&self, err: &Error) {
        self.stats().last_error = Some(err.to_string());
    }

    fn set_floor(&self, floor: u64) {
        self.floor.store(floor, Ordering::SeqCst);
    }

    fn log_capture(&self) -> Result<Option<LogCapture>> {
        let snap = self.store.snapshot();
        let mut ls = self.log_state();
        ls.pending = None;
        if snap.version() == ls.version {
            return Ok(None);
        }
        let service = self.store.name();
        let version = self.log_version_of(snap.version());
        let (flags, base) = match ls.chain {
            Some(c) => (0, c),
            None => (FLAG_REPLACE, 0),
        };
        let mut keys: Vec<&crate::key::Key> = Vec::new();
        let mut values: Vec<Option<Vec<u8>>> = Vec::new();
        let mut blobs = Vec::new();
        for d in ls.map.diff(snap.map()) {
            let (k, v) = match d {
                imbl::ordmap::DiffItem::Add(k, v) => (k, Some(v)),
                imbl::ordmap::DiffItem::Update { new: (k, v), .. } => (k, Some(v)),
                imbl::ordmap::DiffItem::Remove(k, _) => (k, None),
            };
            keys.push(k);
            values.push(match v {
                Some(v) => {
                    blobs.extend(v.blobs());
                    Some(postcard::to_allocvec(&**v).map_err(|e| Error::Encode {
                        service: service.to_string(),
                        reason: e.to_string(),
                    })?)
                }
                None => None,
            });
        }
        let changes: Vec<(&[u8], Option<&[u8]>)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (k.as_bytes(), v.as_deref()))
            .collect();
        let mut entry = Vec::new();
        encode_entry(&mut entry, service, flags, base, version, &changes);
        ls.pending = Some((snap.map().clone(), snap.version(), version));
        Ok(Some(LogCapture {
            entry,
            blobs,
            version: snap.version(),
        }))
    }

    fn log_done(&self, durable: bool) {
        let mut ls = self.log_state();
        if let Some((map, version, log_version)) = ls.pending.take()
            && durable
        {
            ls.map = map;
            ls.version = version;
            ls.chain = Some(log_version);
            drop(ls);
            self.stats().last_error = None;
        }
    }

    fn logged_version(&self) -> u64 {
        self.log_state().version
    }

    fn saved_log_version(&self) -> Option<u64> {
        self.lock().saved_log
    }
}

fn decode_changes<V: Record>(entry: &Entry) -> Result<Vec<(crate::key::Key, Option<V>)>> {
    entry
        .changes
        .iter()
        .map(|(k, v)| {
            let key = crate::key::Key::from_bytes(k);
            let value = match v {
                Some(b) => Some(postcard::from_bytes::<V>(b).map_err(|e| {
                    Error::corrupt(
                        "write-ahead log",
                        format!("a record of {} does not decode: {e}", entry.service),
                    )
                })?),
                None => None,
            };
            Ok((key, value))
        })
        .collect()
}

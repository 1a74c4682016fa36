//! Saving and loading one store: capture its root, encode what changed since the last save into
//! chunks, and, once the engine has made the chunks durable, commit the manifest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use crate::blob::BlobId;
use crate::chunk_id::ChunkId;
use crate::chunk_store::ChunkStore;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, Manifests};
use crate::store::{Record, Store};
use crate::tree::{Tree, UpdateStats};

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
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) struct Ctx<'a> {
    pub chunks: &'a dyn ChunkStore,
    pub manifests: Manifests<'a>,
    pub keep: usize,
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
    fn reset(&self) -> u64;
    /// The chunks the last saved tree references, and the blobs its records reference.
    fn live(&self, chunks: &mut HashSet<ChunkId>, blobs: &mut Vec<BlobId>);
    /// The blobs referenced by records added or changed since the last save (cost: the change).
    fn unsaved_blobs(&self, blobs: &mut Vec<BlobId>);
    fn status(&self) -> ServiceStatus;
    fn record_error(&self, err: &Error);
}

struct FlushState<V> {
    tree: Tree<V>,
    saved_version: u64,
    /// Generations on disk, oldest first; `None` until listed.
    generations: Option<Vec<u64>>,
    loaded_generation: Option<u64>,
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
            }),
            stats: Mutex::new(Stats::default()),
        }
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
            stats,
            started,
            encoded,
        } = *self;
        let service = owner.store.name();
        guard.tree = tree;
        guard.saved_version = manifest.store_version;
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
            version: manifest.store_version,
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
        let snapshot = self.store.snapshot();
        if snapshot.version() == guard.saved_version && !force {
            return Ok(None);
        }
        let service = self.store.name();
        let mut stats = UpdateStats::default();
        let tree = guard
            .tree
            .update(service, snapshot.map(), ctx.chunks, &mut stats)?;
        let gens = generations(&mut guard.generations, ctx, service)?;
        let generation = gens.last().map_or(1, |g| g + 1);
        let root = tree.root();
        let manifest = Manifest {
            service: service.to_string(),
            generation,
            store_version: snapshot.version(),
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
                    let version = self.store.replace(tree.data().clone());
                    guard.tree = tree;
                    guard.saved_version = version;
                    guard.loaded_generation = Some(g);
                    let mut st = self.stats();
                    st.generation = Some(g);
                    st.last_error = None;
                    info!(service, generation = g, records = m.records, "loaded");
                    return Ok(LoadReport {
                        generation: Some(g),
                        records: m.records,
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
            return Ok(LoadReport {
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

    fn reset(&self) -> u64 {
        self.store.replace(Default::default())
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
        }
    }

    fn record_error(&self, err: &Error) {
        self.stats().last_error = Some(err.to_string());
    }
}

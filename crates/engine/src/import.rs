//! Bringing saved state from elsewhere (a pod fetched from a remote) into live stores, and
//! listing what a generation references so that it can be sent elsewhere.
//!
//! A generation travels as its chunks: the tree nodes under its root, and the index chunk and
//! pieces of every blob its leaves reference. [`Engine::generation_chunks`] lists them;
//! [`Engine::import`] loads a tree whose chunks are in another [`ChunkStore`] (checked against
//! their hashes as always) and merges its records into the live store as one ordinary write, so
//! the write-ahead log and the next save carry it like any change.

use std::collections::HashSet;
use std::sync::Arc;

use crate::blob::Blob;
use crate::chunk_id::ChunkId;
use crate::chunk_store::{ChunkStats, ChunkStore, GcStats, SyncStats};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::key::{Key, Partition};
use crate::manifest::Manifest;
use crate::store::{Map, Record, Store};
use crate::tree::{RawRecords, collect_tree_chunks};

/// How records from outside meet the live ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The service's whole state becomes the incoming one: live records it lacks are removed.
    Overwrite,
    /// For each account and region the incoming state has records in, that partition becomes
    /// the incoming one; other partitions stay as they are (LocalStack's `account-region-merge`).
    AccountRegion,
}

/// What an import changed (or, dry, would change) in one service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Records the incoming state holds.
    pub records: u64,
}

/// The chunks one generation references, tree nodes first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerationChunks {
    /// Every node of the tree with its length in bytes, the root first.
    pub tree: Vec<(ChunkId, u32)>,
    /// Every blob index and blob piece the records reference, each once, with its length.
    pub blobs: Vec<(ChunkId, u32)>,
    /// Distinct blobs referenced, and their total size in bytes.
    pub blob_count: u64,
    pub blob_bytes: u64,
}

/// Two chunk stores read as one: `first`, then `second`. Read-only (`put` is refused).
pub struct Layered<'a> {
    pub first: &'a dyn ChunkStore,
    pub second: &'a dyn ChunkStore,
}

impl ChunkStore for Layered<'_> {
    fn contains(&self, id: &ChunkId) -> bool {
        self.first.contains(id) || self.second.contains(id)
    }
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        if self.first.contains(id) {
            self.first.get(id)
        } else {
            self.second.get(id)
        }
    }
    fn put(&self, id: ChunkId, _data: &[u8]) -> Result<bool> {
        Err(Error::corrupt(
            format!("chunk {id}"),
            "a layered chunk store is read-only",
        ))
    }
    fn sync(&self) -> Result<SyncStats> {
        Ok(SyncStats::default())
    }
    fn advance_epoch(&self) -> u64 {
        0
    }
    fn retain(&self, _live: &HashSet<ChunkId>, _protect_from: u64) -> Result<GcStats> {
        Ok(GcStats::default())
    }
    fn stats(&self) -> ChunkStats {
        ChunkStats::default()
    }
}

/// Every chunk the tree under `root` references: its nodes, then every blob index and piece.
/// Reads (and so checks) every node and blob index; blob pieces are listed, not read.
pub fn generation_chunks(
    chunks: Arc<dyn ChunkStore>,
    root: Option<ChunkId>,
) -> Result<GenerationChunks> {
    let mut out = GenerationChunks::default();
    let Some(root) = root else {
        return Ok(out);
    };
    let mut nodes = HashSet::new();
    let mut blobs = Vec::new();
    collect_tree_chunks(chunks.as_ref(), root, &mut nodes, &mut blobs)?;
    // `collect_tree_chunks` fills a set: list the nodes again, root first, with their lengths
    // (node chunks are small next to blobs: reading them twice costs little).
    let len_of =
        |id: &ChunkId| -> Result<(ChunkId, u32)> { Ok((*id, chunks.get(id)?.len() as u32)) };
    out.tree.push(len_of(&root)?);
    for n in nodes.iter().filter(|n| **n != root) {
        out.tree.push(len_of(n)?);
    }
    let mut seen = HashSet::new();
    for b in blobs {
        if !seen.insert(b.index) {
            continue;
        }
        let blob = Blob::open(chunks.clone(), &b)?;
        out.blob_count += 1;
        out.blob_bytes += blob.size();
        out.blobs
            .push((b.index, chunks.get(&b.index)?.len() as u32));
        for &(piece, len) in blob.pieces() {
            if seen.insert(piece) {
                out.blobs.push((piece, len));
            }
        }
    }
    Ok(out)
}

/// Call `f` with every record (raw key and value bytes) of the tree under `root`, in key order,
/// every node checked against its hash. Needs no record type.
pub fn walk_records(
    chunks: &dyn ChunkStore,
    root: Option<ChunkId>,
    f: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<()> {
    let mut records = RawRecords::new(chunks, root);
    while let Some((k, v)) = records.next_record()? {
        f(&k, &v);
    }
    Ok(())
}

/// Merge `incoming` into `store` as one write (none when `dry_run` or nothing differs).
/// Returns the counts and the store version of the write.
pub(crate) fn merge_into<V: Record>(
    store: &Store<V>,
    incoming: &Map<V>,
    merge: Merge,
    dry_run: bool,
) -> (ImportReport, Option<u64>) {
    let live = store.snapshot();
    let mut report = ImportReport {
        records: incoming.len() as u64,
        ..ImportReport::default()
    };
    let covered: HashSet<Option<Partition>> = match merge {
        Merge::Overwrite => HashSet::new(),
        Merge::AccountRegion => incoming.keys().map(Partition::of).collect(),
    };
    let mut removes: Vec<Key> = Vec::new();
    for (k, _) in live.iter() {
        let replaced = merge == Merge::Overwrite || covered.contains(&Partition::of(k));
        if replaced && !incoming.contains_key(k) {
            removes.push(k.clone());
        }
    }
    let mut puts: Vec<(Key, Arc<V>)> = Vec::new();
    for (k, v) in incoming.iter() {
        match live.get(k) {
            None => report.added += 1,
            Some(old) if old != v.as_ref() => report.changed += 1,
            Some(_) => continue,
        }
        puts.push((k.clone(), v.clone()));
    }
    report.removed = removes.len() as u64;
    if dry_run || (removes.is_empty() && puts.is_empty()) {
        return (report, None);
    }
    let ((), version) = store.write(|txn| {
        for k in &removes {
            txn.remove(k);
        }
        for (k, v) in puts {
            txn.insert(k, Arc::unwrap_or_clone(v));
        }
    });
    (report, Some(version))
}

impl Engine {
    /// Whether this engine's chunk store holds the chunk.
    pub fn has_chunk(&self, id: &ChunkId) -> bool {
        self.chunk_store().contains(id)
    }

    /// A chunk's bytes, checked against its id.
    pub fn get_chunk(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.chunk_store().get(id)
    }

    /// Add a chunk from outside; its bytes must hash to `id`. Durable after
    /// [`Engine::sync_chunks`]. Returns whether it was new.
    pub fn put_chunk(&self, id: ChunkId, data: &[u8]) -> Result<bool> {
        if ChunkId::of(data) != id {
            return Err(Error::corrupt(
                format!("chunk {id}"),
                "its bytes do not hash to its id",
            ));
        }
        self.chunk_store().put(id, data)
    }

    /// The newest generation of every saved service whose manifest reads (a damaged newest one
    /// falls back to the one before, as a load does). Sorted by service.
    pub fn newest_manifests(&self) -> Result<Vec<Manifest>> {
        let mut out: Vec<Manifest> = Vec::new();
        for g in self.generations_on_disk()?.into_iter().rev() {
            if out.iter().any(|m| m.service == g.service) {
                continue;
            }
            if let Ok(m) = g.manifest {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(out)
    }

    /// The chunks a saved generation references (see [`generation_chunks`]).
    pub fn generation_chunks(&self, manifest: &Manifest) -> Result<GenerationChunks> {
        let chunks: Arc<dyn ChunkStore> = self.chunk_store();
        generation_chunks(chunks, manifest.root).map_err(|e| e.in_service(&manifest.service))
    }

    /// Load the tree under `root` (of `height`) from `source` or this engine's chunk store,
    /// every chunk verified, and merge its records into the registered store `service`. With
    /// `dry_run` nothing changes; the report says what would. Blobs the records reference must
    /// already be in this engine's chunk store (put them first). Returns the store version of
    /// the change, if any.
    pub fn import(
        &self,
        service: &str,
        root: Option<ChunkId>,
        height: u8,
        source: &dyn ChunkStore,
        merge: Merge,
        dry_run: bool,
    ) -> Result<(ImportReport, Option<u64>)> {
        let svc = self.service(service)?;
        let own = self.chunk_store();
        let layered = Layered {
            first: own.as_ref(),
            second: source,
        };
        svc.import(root, height, &layered, merge, dry_run)
            .map_err(|e| e.in_service(service))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{BlobId, EngineOptions};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        text: String,
        body: Option<BlobId>,
    }
    impl Record for Doc {
        fn blobs(&self) -> Vec<BlobId> {
            self.body.into_iter().collect()
        }
    }

    fn key(account: &str, region: &str, i: u64) -> Key {
        Partition::new(account, region).key().u64(i).build()
    }

    fn doc(t: &str) -> Doc {
        Doc {
            text: t.into(),
            body: None,
        }
    }

    /// A saved engine with records in two partitions and a blob.
    fn source(dir: &std::path::Path) -> (Engine, Arc<Store<Doc>>) {
        let engine = Engine::open(dir, EngineOptions::default()).unwrap();
        let store = Store::<Doc>::new("docs");
        engine.register(store.clone()).unwrap();
        let mut w = engine.blob_writer();
        w.write(&vec![9u8; 200_000]).unwrap();
        let (body, _) = w.finish().unwrap();
        store.write(|t| {
            for i in 0..50 {
                t.insert(key("111111111111", "us-east-1", i), doc("a"));
            }
            t.insert(
                key("111111111111", "eu-west-1", 0),
                Doc {
                    text: "with body".into(),
                    body: Some(body),
                },
            );
        });
        assert!(engine.save(&["docs"])[0].1.is_ok());
        (engine, store)
    }

    #[test]
    fn generation_chunks_list_nodes_and_blob_pieces_once() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = source(dir.path());
        let m = engine.newest_manifests().unwrap();
        assert_eq!(m.len(), 1);
        let c = engine.generation_chunks(&m[0]).unwrap();
        assert_eq!(c.tree.len() as u64, m[0].tree_chunks);
        assert_eq!(c.tree[0].0, m[0].root.unwrap());
        let tree_bytes: u64 = c.tree.iter().map(|(_, l)| u64::from(*l)).sum();
        assert_eq!(tree_bytes, m[0].tree_bytes);
        assert_eq!(c.blob_count, 1);
        assert_eq!(c.blob_bytes, 200_000);
        // 200 KB of one byte: FastCDC cuts equal pieces, stored once; plus the index.
        let distinct: HashSet<_> = c.blobs.iter().collect();
        assert_eq!(distinct.len(), c.blobs.len());
        assert!(c.blobs.len() >= 2);
    }

    #[test]
    fn import_merges_by_account_and_region_or_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (src, _) = source(dir.path());
        let m = src.newest_manifests().unwrap().remove(0);
        let chunks = src.generation_chunks(&m).unwrap();

        let target = Engine::in_memory().unwrap();
        let store = Store::<Doc>::new("docs");
        target.register(store.clone()).unwrap();
        store.write(|t| {
            // Same partition as the pod: replaced. Another partition: kept.
            t.insert(key("111111111111", "us-east-1", 0), doc("old"));
            t.insert(key("111111111111", "us-east-1", 999), doc("gone"));
            t.insert(key("222222222222", "us-east-1", 0), doc("kept"));
        });
        // The blob chunks must be there before the records that reference them.
        for (id, _) in chunks.blobs.iter() {
            target.put_chunk(*id, &src.get_chunk(id).unwrap()).unwrap();
        }
        let source_chunks = src.chunk_store();
        let (dry, v) = target
            .import(
                "docs",
                m.root,
                m.height,
                source_chunks.as_ref(),
                Merge::AccountRegion,
                true,
            )
            .unwrap();
        assert_eq!(v, None);
        assert_eq!(
            (dry.added, dry.changed, dry.removed, dry.records),
            (50, 1, 1, 51)
        );
        assert_eq!(store.snapshot().len(), 3, "a dry run changes nothing");
        let (rep, v) = target
            .import(
                "docs",
                m.root,
                m.height,
                source_chunks.as_ref(),
                Merge::AccountRegion,
                false,
            )
            .unwrap();
        assert_eq!(rep, dry);
        assert!(v.is_some());
        let snap = store.snapshot();
        assert_eq!(snap.len(), 52);
        assert_eq!(
            snap.get(&key("222222222222", "us-east-1", 0)).unwrap().text,
            "kept"
        );
        assert!(snap.get(&key("111111111111", "us-east-1", 999)).is_none());
        let with_body = snap.get(&key("111111111111", "eu-west-1", 0)).unwrap();
        let blob = target.open_blob(&with_body.body.unwrap()).unwrap();
        assert_eq!(blob.size(), 200_000);
        // Again: nothing differs, nothing is written.
        let (again, v) = target
            .import(
                "docs",
                m.root,
                m.height,
                source_chunks.as_ref(),
                Merge::AccountRegion,
                false,
            )
            .unwrap();
        assert_eq!(
            (again.added, again.changed, again.removed, v),
            (0, 0, 0, None)
        );
        // Overwrite drops the other account too.
        let (over, _) = target
            .import(
                "docs",
                m.root,
                m.height,
                source_chunks.as_ref(),
                Merge::Overwrite,
                false,
            )
            .unwrap();
        assert_eq!(over.removed, 1);
        assert_eq!(store.snapshot().len(), 51);
    }

    #[test]
    fn a_damaged_source_chunk_is_named_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (src, _) = source(dir.path());
        let m = src.newest_manifests().unwrap().remove(0);
        let mem =
            crate::chunk_store::PackStore::open(Arc::new(crate::backend::MemoryBackend::new()))
                .unwrap();
        // An empty source: the root is missing.
        let target = Engine::in_memory().unwrap();
        let store = Store::<Doc>::new("docs");
        target.register(store.clone()).unwrap();
        store.write(|t| t.insert(key("1", "r", 1), doc("x")));
        let err = target
            .import("docs", m.root, m.height, &mem, Merge::Overwrite, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("docs"), "{err}");
        assert_eq!(store.snapshot().len(), 1);
    }

    #[test]
    fn walk_records_visits_every_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (src, store) = source(dir.path());
        let m = src.newest_manifests().unwrap().remove(0);
        let mut keys = Vec::new();
        walk_records(src.chunk_store().as_ref(), m.root, &mut |k, _| {
            keys.push(k.to_vec())
        })
        .unwrap();
        let want: Vec<Vec<u8>> = store
            .snapshot()
            .iter()
            .map(|(k, _)| k.as_bytes().to_vec())
            .collect();
        assert_eq!(keys, want);
    }
}

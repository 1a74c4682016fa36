//! Immutable, content-addressed chunks.
//!
//! A [`ChunkStore`] keeps byte chunks under their blake3 id. `put` is cheap and buffered; `sync`
//! makes every chunk put so far durable with a constant number of fsyncs (the local implementation
//! packs new chunks into pack files, see [`PackStore`]). `get` always verifies the bytes against
//! the id.

use std::collections::HashSet;

use crate::chunk_id::ChunkId;
use crate::error::Result;

mod pack;

pub use pack::{MAX_CHUNK_LEN, MAX_UNSAVED_WHILE_FAILING, PackStore};

/// What a `sync` wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub chunks: u64,
    pub bytes: u64,
    pub files: u64,
}

/// What a garbage collection removed and kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub chunks_removed: u64,
    pub bytes_removed: u64,
    pub chunks_kept: u64,
    pub chunks_repacked: u64,
    pub files_removed: u64,
}

/// Totals of what the store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkStats {
    pub chunks: u64,
    pub bytes: u64,
    pub files: u64,
    pub pending_chunks: u64,
}

/// A store of immutable chunks addressed by their blake3 hash.
pub trait ChunkStore: Send + Sync {
    /// Whether the chunk is stored (durably or pending).
    fn contains(&self, id: &ChunkId) -> bool;
    /// The chunk's bytes, verified against `id`.
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>>;
    /// Add a chunk whose id is `ChunkId::of(data)`. Returns whether it was new. Not durable
    /// before [`ChunkStore::sync`]. Putting an existing chunk marks it as used now (see `retain`).
    fn put(&self, id: ChunkId, data: &[u8]) -> Result<bool>;
    /// Make every chunk put so far durable.
    fn sync(&self) -> Result<SyncStats>;
    /// Start a new epoch and return it. Chunks put (or put again) from now on carry it.
    fn advance_epoch(&self) -> u64;
    /// Remove every durable chunk that is not in `live` and was last put before `protect_from`.
    fn retain(&self, live: &HashSet<ChunkId>, protect_from: u64) -> Result<GcStats>;
    /// What the store holds.
    fn stats(&self) -> ChunkStats;
}

//! The pack-file chunk store: new chunks are buffered and written together into pack files, so a
//! flush costs one atomic file write (two fsyncs) per pack, never one per chunk. The layout is in
//! `docs/FORMAT.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::warn;

use super::{ChunkStats, ChunkStore, GcStats, SyncStats};
use crate::backend::Backend;
use crate::chunk_id::ChunkId;
use crate::codec::{DecodeError, Reader, err};
use crate::error::{Error, Result};

/// The largest chunk accepted, written or read.
pub const MAX_CHUNK_LEN: usize = 16 << 20;
/// Packs are cut at about this many bytes.
const PACK_TARGET: usize = 32 << 20;
/// A pack whose live bytes fall under this fraction is rewritten by `retain`.
const REPACK_BELOW: f64 = 0.5;

const PACK_MAGIC: &[u8; 8] = b"SNAPPACK";
const PACK_END_MAGIC: &[u8; 8] = b"SNAPPEND";
const PACK_VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
const ENTRY_HEADER_LEN: u64 = 36;
const INDEX_ENTRY_LEN: u64 = 44;
const TRAILER_LEN: u64 = 56;
const PACK_DIR: &str = "packs";

#[derive(Clone, Copy, Debug)]
struct Loc {
    pack: u64,
    offset: u64,
    len: u32,
    epoch: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct PackMeta {
    chunks: u64,
    data_bytes: u64,
}

#[derive(Default)]
struct Inner {
    index: HashMap<ChunkId, Loc>,
    packs: BTreeMap<u64, PackMeta>,
    pending: HashMap<ChunkId, (Arc<[u8]>, u64)>,
    pending_order: Vec<ChunkId>,
    pending_bytes: usize,
    next_pack: u64,
    epoch: u64,
    damaged: Vec<String>,
}

/// Chunks in pack files on a [`Backend`].
pub struct PackStore {
    backend: Arc<dyn Backend>,
    inner: Mutex<Inner>,
    write_lock: Mutex<()>,
}

fn pack_path(n: u64) -> String {
    format!("{PACK_DIR}/{n:016x}.pack")
}

fn parse_pack_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".pack")?;
    if stem.len() != 16 {
        return None;
    }
    u64::from_str_radix(stem, 16).ok()
}

/// One chunk's place in a pack, as listed by the pack's index.
struct IndexEntry {
    id: ChunkId,
    offset: u64,
    len: u32,
}

/// Encode a pack from chunks: header, entries, index, trailer.
fn encode_pack(chunks: &[(ChunkId, Arc<[u8]>)]) -> (Vec<u8>, Vec<IndexEntry>) {
    let total: usize = chunks.iter().map(|(_, d)| d.len() + 36 + 44).sum();
    let mut buf = Vec::with_capacity(total + 72);
    buf.extend_from_slice(PACK_MAGIC);
    buf.extend_from_slice(&PACK_VERSION.to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    let mut entries = Vec::with_capacity(chunks.len());
    for (id, data) in chunks {
        buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
        buf.extend_from_slice(&id.0);
        let offset = buf.len() as u64;
        buf.extend_from_slice(data);
        entries.push(IndexEntry {
            id: *id,
            offset,
            len: data.len() as u32,
        });
    }
    let index_offset = buf.len() as u64;
    for e in &entries {
        buf.extend_from_slice(&e.id.0);
        buf.extend_from_slice(&e.offset.to_le_bytes());
        buf.extend_from_slice(&e.len.to_le_bytes());
    }
    let index_hash = blake3::hash(&buf[index_offset as usize..]);
    buf.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    buf.extend_from_slice(&index_offset.to_le_bytes());
    buf.extend_from_slice(index_hash.as_bytes());
    buf.extend_from_slice(PACK_END_MAGIC);
    (buf, entries)
}

fn check_header(header: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(header);
    if r.take(8)? != PACK_MAGIC {
        return err("not a pack file (bad magic)");
    }
    let version = r.u32_le()?;
    if version != PACK_VERSION {
        return err(format!("unsupported pack version {version}"));
    }
    Ok(())
}

/// Parse a pack's trailer; `size` is the file size. Returns the index offset and its checksum.
fn parse_trailer(size: u64, t: &[u8]) -> Result<(u64, [u8; 32]), DecodeError> {
    let mut r = Reader::new(t);
    let count = r.u64_le()?;
    let index_offset = r.u64_le()?;
    let hash: [u8; 32] = r.array()?;
    if r.take(8)? != PACK_END_MAGIC {
        return err("bad trailer magic (the pack is truncated or was never finished)");
    }
    let index_end = size - TRAILER_LEN;
    if index_offset < HEADER_LEN || index_offset > index_end {
        return err(format!("index offset {index_offset} out of range"));
    }
    if count.checked_mul(INDEX_ENTRY_LEN) != Some(index_end - index_offset) {
        return err(format!("index of {count} entries does not fit its space"));
    }
    Ok((index_offset, hash))
}

fn decode_index(
    index: &[u8],
    index_offset: u64,
    expected_hash: &[u8; 32],
) -> Result<Vec<IndexEntry>, DecodeError> {
    if blake3::hash(index).as_bytes() != expected_hash {
        return err("index checksum mismatch");
    }
    let mut r = Reader::new(index);
    let mut out = Vec::with_capacity(index.len() / INDEX_ENTRY_LEN as usize);
    while !r.is_empty() {
        let id = ChunkId(r.array()?);
        let offset = r.u64_le()?;
        let len = r.u32_le()?;
        if len as usize > MAX_CHUNK_LEN {
            return err(format!("chunk length {len} exceeds the limit"));
        }
        if offset < HEADER_LEN + ENTRY_HEADER_LEN || offset + u64::from(len) > index_offset {
            return err(format!(
                "chunk at offset {offset} lies outside the data area"
            ));
        }
        out.push(IndexEntry { id, offset, len });
    }
    Ok(out)
}

/// Walk the entries of a pack whose index is unreadable, verifying each chunk; stops at the first
/// damaged entry. Used to salvage what a damaged pack still holds.
fn scan_entries(bytes: &[u8]) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN as usize;
    while pos + ENTRY_HEADER_LEN as usize <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[pos + 4..pos + 36]);
        let start = pos + ENTRY_HEADER_LEN as usize;
        if len > MAX_CHUNK_LEN || start + len > bytes.len() {
            break;
        }
        if ChunkId::of(&bytes[start..start + len]).0 != id {
            break;
        }
        out.push(IndexEntry {
            id: ChunkId(id),
            offset: start as u64,
            len: len as u32,
        });
        pos = start + len;
    }
    out
}

impl PackStore {
    /// Open the chunk store on a backend, reading every pack's index. A damaged pack is reported
    /// (and what can be verified of it salvaged), never removed.
    pub fn open(backend: Arc<dyn Backend>) -> Result<Self> {
        let names = backend
            .list(PACK_DIR)
            .map_err(|e| Error::io(backend.location(PACK_DIR), e))?;
        let mut inner = Inner {
            epoch: 1,
            next_pack: 1,
            ..Inner::default()
        };
        for name in names {
            let Some(n) = parse_pack_name(&name) else {
                continue;
            };
            inner.next_pack = inner.next_pack.max(n + 1);
            let path = pack_path(n);
            match read_pack_index(backend.as_ref(), &path) {
                Ok(entries) => add_pack(&mut inner, n, entries),
                Err(reason) => {
                    let file = backend.location(&path);
                    warn!(%file, %reason, "damaged pack file; salvaging its verifiable chunks");
                    inner.damaged.push(format!("{file}: {reason}"));
                    if let Ok(bytes) = backend.read(&path) {
                        add_pack(&mut inner, n, scan_entries(&bytes));
                    }
                }
            }
        }
        Ok(PackStore {
            backend,
            inner: Mutex::new(inner),
            write_lock: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write chunks into new pack files and index them.
    fn write_packs(&self, chunks: Vec<(ChunkId, Arc<[u8]>)>, stats: &mut SyncStats) -> Result<()> {
        let mut start = 0;
        while start < chunks.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < chunks.len() && (end == start || bytes + chunks[end].1.len() <= PACK_TARGET)
            {
                bytes += chunks[end].1.len();
                end += 1;
            }
            let batch = &chunks[start..end];
            let n = {
                let mut inner = self.lock();
                let n = inner.next_pack;
                inner.next_pack += 1;
                n
            };
            let path = pack_path(n);
            let (buf, entries) = encode_pack(batch);
            self.backend
                .write(&path, &buf)
                .map_err(|e| Error::io(self.backend.location(&path), e))?;
            stats.files += 1;
            stats.bytes += buf.len() as u64;
            stats.chunks += entries.len() as u64;
            let mut inner = self.lock();
            for e in &entries {
                let epoch = inner
                    .pending
                    .get(&e.id)
                    .map(|p| p.1)
                    .or(inner.index.get(&e.id).map(|l| l.epoch));
                if let Some(old) = inner.index.get(&e.id).copied()
                    && let Some(meta) = inner.packs.get_mut(&old.pack)
                {
                    meta.chunks = meta.chunks.saturating_sub(1);
                    meta.data_bytes = meta.data_bytes.saturating_sub(u64::from(old.len));
                }
                let epoch = epoch.unwrap_or(inner.epoch);
                inner.index.insert(
                    e.id,
                    Loc {
                        pack: n,
                        offset: e.offset,
                        len: e.len,
                        epoch,
                    },
                );
                if inner.pending.remove(&e.id).is_some() {
                    inner.pending_bytes -= e.len as usize;
                }
            }
            let meta = inner.packs.entry(n).or_default();
            meta.chunks += entries.len() as u64;
            meta.data_bytes += entries.iter().map(|e| u64::from(e.len)).sum::<u64>();
            let pending = &inner.pending;
            let order: Vec<ChunkId> = inner
                .pending_order
                .iter()
                .filter(|id| pending.contains_key(id))
                .copied()
                .collect();
            inner.pending_order = order;
            start = end;
        }
        Ok(())
    }

    fn missing(&self, id: &ChunkId) -> Error {
        let inner = self.lock();
        let hint = if inner.damaged.is_empty() {
            String::new()
        } else {
            format!(" (damaged pack files: {})", inner.damaged.join("; "))
        };
        Error::MissingChunk { id: *id, hint }
    }
}

fn add_pack(inner: &mut Inner, n: u64, entries: Vec<IndexEntry>) {
    let mut meta = PackMeta::default();
    for e in entries {
        if inner.index.contains_key(&e.id) {
            continue;
        }
        meta.chunks += 1;
        meta.data_bytes += u64::from(e.len);
        inner.index.insert(
            e.id,
            Loc {
                pack: n,
                offset: e.offset,
                len: e.len,
                epoch: 0,
            },
        );
    }
    inner.packs.insert(n, meta);
}

fn read_pack_index(backend: &dyn Backend, path: &str) -> Result<Vec<IndexEntry>, DecodeError> {
    let io = |e: std::io::Error| DecodeError(format!("cannot read: {e}"));
    let size = backend.size(path).map_err(io)?;
    if size < HEADER_LEN + TRAILER_LEN {
        return err(format!("only {size} bytes, too short for a pack"));
    }
    check_header(&backend.read_at(path, 0, HEADER_LEN as usize).map_err(io)?)?;
    let trailer = backend
        .read_at(path, size - TRAILER_LEN, TRAILER_LEN as usize)
        .map_err(io)?;
    let (index_offset, hash) = parse_trailer(size, &trailer)?;
    let index_len = (size - TRAILER_LEN - index_offset) as usize;
    let index = backend.read_at(path, index_offset, index_len).map_err(io)?;
    decode_index(&index, index_offset, &hash)
}

impl ChunkStore for PackStore {
    fn contains(&self, id: &ChunkId) -> bool {
        let inner = self.lock();
        inner.pending.contains_key(id) || inner.index.contains_key(id)
    }

    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let loc = {
            let inner = self.lock();
            if let Some((data, _)) = inner.pending.get(id) {
                return Ok(data.to_vec());
            }
            inner.index.get(id).copied()
        };
        let Some(loc) = loc else {
            return Err(self.missing(id));
        };
        let path = pack_path(loc.pack);
        let data = self
            .backend
            .read_at(&path, loc.offset, loc.len as usize)
            .map_err(|e| Error::io(self.backend.location(&path), e))?;
        if ChunkId::of(&data) != *id {
            return Err(Error::corrupt(
                self.backend.location(&path),
                format!(
                    "chunk {id} at byte {} does not match its hash (the bytes were changed)",
                    loc.offset
                ),
            ));
        }
        Ok(data)
    }

    fn put(&self, id: ChunkId, data: &[u8]) -> Result<bool> {
        if data.len() > MAX_CHUNK_LEN {
            return Err(Error::TooLarge(format!(
                "chunk of {} bytes exceeds the {MAX_CHUNK_LEN}-byte limit",
                data.len()
            )));
        }
        debug_assert_eq!(ChunkId::of(data), id);
        let flush_now = {
            let mut inner = self.lock();
            let epoch = inner.epoch;
            if let Some(p) = inner.pending.get_mut(&id) {
                p.1 = epoch;
                return Ok(false);
            }
            if let Some(l) = inner.index.get_mut(&id) {
                l.epoch = epoch;
                return Ok(false);
            }
            inner.pending.insert(id, (Arc::from(data), epoch));
            inner.pending_order.push(id);
            inner.pending_bytes += data.len();
            inner.pending_bytes >= PACK_TARGET
        };
        if flush_now {
            // Bound the memory that buffered chunks take: write a full pack now.
            self.sync()?;
        }
        Ok(true)
    }

    fn sync(&self) -> Result<SyncStats> {
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let chunks: Vec<(ChunkId, Arc<[u8]>)> = {
            let inner = self.lock();
            inner
                .pending_order
                .iter()
                .filter_map(|id| inner.pending.get(id).map(|(d, _)| (*id, d.clone())))
                .collect()
        };
        let mut stats = SyncStats::default();
        if chunks.is_empty() {
            return Ok(stats);
        }
        self.write_packs(chunks, &mut stats)?;
        Ok(stats)
    }

    fn advance_epoch(&self) -> u64 {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.epoch
    }

    fn retain(&self, live: &HashSet<ChunkId>, protect_from: u64) -> Result<GcStats> {
        let _w = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = GcStats::default();
        // Decide per pack, under the lock; do the I/O after.
        let (remove_packs, repack) = {
            let inner = self.lock();
            let mut by_pack: BTreeMap<u64, (u64, Vec<(ChunkId, Loc)>)> = BTreeMap::new();
            for (id, loc) in &inner.index {
                let keep = live.contains(id) || loc.epoch >= protect_from;
                let e = by_pack.entry(loc.pack).or_default();
                if keep {
                    e.0 += u64::from(loc.len);
                    e.1.push((*id, *loc));
                }
            }
            let mut remove_packs = Vec::new();
            let mut repack = Vec::new();
            for (n, meta) in &inner.packs {
                let (live_bytes, keep) = by_pack.remove(n).unwrap_or_default();
                if keep.is_empty() {
                    remove_packs.push(*n);
                } else if (live_bytes as f64) < REPACK_BELOW * meta.data_bytes as f64 {
                    remove_packs.push(*n);
                    repack.extend(keep);
                }
            }
            (remove_packs, repack)
        };
        // Rewrite the live chunks of sparse packs first, so nothing live is ever without a copy.
        let mut rewrite = Vec::with_capacity(repack.len());
        for (id, loc) in &repack {
            let path = pack_path(loc.pack);
            let data = self
                .backend
                .read_at(&path, loc.offset, loc.len as usize)
                .map_err(|e| Error::io(self.backend.location(&path), e))?;
            if ChunkId::of(&data) != *id {
                return Err(Error::corrupt(
                    self.backend.location(&path),
                    format!("chunk {id} does not match its hash; garbage collection stopped"),
                ));
            }
            rewrite.push((*id, Arc::from(data)));
        }
        stats.chunks_repacked = rewrite.len() as u64;
        let mut sync = SyncStats::default();
        self.write_packs(rewrite, &mut sync)?;
        for n in remove_packs {
            let path = pack_path(n);
            self.backend
                .remove(&path)
                .map_err(|e| Error::io(self.backend.location(&path), e))?;
            stats.files_removed += 1;
            let mut inner = self.lock();
            inner.packs.remove(&n);
            let gone: Vec<(ChunkId, u32)> = inner
                .index
                .iter()
                .filter(|(_, l)| l.pack == n)
                .map(|(id, l)| (*id, l.len))
                .collect();
            for (id, len) in gone {
                inner.index.remove(&id);
                stats.chunks_removed += 1;
                stats.bytes_removed += u64::from(len);
            }
        }
        stats.chunks_kept = self.lock().index.len() as u64;
        Ok(stats)
    }

    fn stats(&self) -> ChunkStats {
        let inner = self.lock();
        ChunkStats {
            chunks: inner.index.len() as u64,
            bytes: inner.packs.values().map(|m| m.data_bytes).sum(),
            files: inner.packs.len() as u64,
            pending_chunks: inner.pending.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::LocalBackend;

    fn store(dir: &std::path::Path) -> PackStore {
        PackStore::open(Arc::new(LocalBackend::open(dir).unwrap())).unwrap()
    }

    #[test]
    fn put_sync_reopen_get() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let a = b"alpha".to_vec();
        let id = ChunkId::of(&a);
        assert!(s.put(id, &a).unwrap());
        assert!(!s.put(id, &a).unwrap());
        assert_eq!(s.get(&id).unwrap(), a);
        let st = s.sync().unwrap();
        assert_eq!((st.chunks, st.files), (1, 1));
        assert_eq!(s.sync().unwrap(), SyncStats::default());
        let s = store(dir.path());
        assert_eq!(s.get(&id).unwrap(), a);
        assert!(matches!(
            s.get(&ChunkId::of(b"nope")),
            Err(Error::MissingChunk { .. })
        ));
    }

    #[test]
    fn flipped_byte_is_detected_and_truncated_pack_salvaged() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let ids: Vec<ChunkId> = (0..3u8)
            .map(|i| {
                let d = vec![i; 100];
                let id = ChunkId::of(&d);
                s.put(id, &d).unwrap();
                id
            })
            .collect();
        s.sync().unwrap();
        let pack = dir.path().join("packs/0000000000000001.pack");
        let mut bytes = std::fs::read(&pack).unwrap();
        bytes[16 + 36 + 5] ^= 0x40;
        std::fs::write(&pack, &bytes).unwrap();
        let s2 = store(dir.path());
        let e = s2.get(&ids[0]).unwrap_err();
        assert!(e.to_string().contains("0000000000000001.pack"), "{e}");
        assert!(s2.get(&ids[1]).is_ok());
        // Truncate inside the index: the trailer is gone; the verifiable chunks are salvaged.
        bytes[16 + 36 + 5] ^= 0x40;
        std::fs::write(&pack, &bytes[..bytes.len() - 100]).unwrap();
        let s3 = store(dir.path());
        for id in &ids {
            assert!(s3.get(id).is_ok());
        }
        assert_eq!(
            std::fs::read(&pack).unwrap().len(),
            bytes.len() - 100,
            "never rewritten"
        );
    }

    #[test]
    fn retain_removes_and_repacks() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let mut ids = Vec::new();
        for i in 0..10u8 {
            let d = vec![i; 1000];
            let id = ChunkId::of(&d);
            s.put(id, &d).unwrap();
            ids.push(id);
        }
        s.sync().unwrap();
        let protect = s.advance_epoch();
        let live: HashSet<ChunkId> = ids[..2].iter().copied().collect();
        let st = s.retain(&live, protect).unwrap();
        assert_eq!(st.chunks_repacked, 2);
        assert_eq!(st.chunks_removed, 8);
        let s = store(dir.path());
        assert_eq!(s.stats().chunks, 2);
        assert!(s.get(&ids[0]).is_ok() && s.get(&ids[1]).is_ok());
        assert!(s.get(&ids[2]).is_err());
    }
}

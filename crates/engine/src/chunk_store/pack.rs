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
/// While pack writes fail (a full disk), chunks that could not be written wait in memory for the
/// next save. Beyond this many bytes of them, new blobs are refused
/// ([`PackStore::unsaved_backlog`]) instead of buffered, so an outage cannot exhaust memory. It
/// equals the pack size, so blobs are refused before a put would try to write a full pack to a
/// disk that refuses writes.
pub const MAX_UNSAVED_WHILE_FAILING: usize = PACK_TARGET;

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

/// A pack being filled in memory: the header and entries exactly as they will be on disk, so
/// sealing it only appends the index and trailer. Chunks are copied once, into `buf`.
#[derive(Default)]
struct OpenPack {
    buf: Vec<u8>,
    entries: Vec<IndexEntry>,
    /// Chunk id → (entry number, epoch it was last put in).
    ids: HashMap<ChunkId, (usize, u64)>,
}

impl OpenPack {
    fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(PACK_MAGIC);
        buf.extend_from_slice(&PACK_VERSION.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        OpenPack {
            buf,
            entries: Vec::new(),
            ids: HashMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn data_len(&self) -> usize {
        self.buf.len()
    }

    fn push(&mut self, id: ChunkId, data: &[u8], epoch: u64) {
        if self.buf.is_empty() {
            *self = OpenPack::with_buffer(std::mem::take(&mut self.buf));
        }
        self.buf
            .extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&id.0);
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(data);
        self.ids.insert(id, (self.entries.len(), epoch));
        self.entries.push(IndexEntry {
            id,
            offset,
            len: data.len() as u32,
        });
    }

    fn get(&self, id: &ChunkId) -> Option<&[u8]> {
        let (i, _) = self.ids.get(id)?;
        let e = &self.entries[*i];
        Some(&self.buf[e.offset as usize..e.offset as usize + e.len as usize])
    }

    /// The index and trailer that follow the entries on disk.
    fn tail(&self) -> Vec<u8> {
        let index_offset = self.buf.len() as u64;
        let mut tail = Vec::with_capacity(self.entries.len() * INDEX_ENTRY_LEN as usize + 56);
        for e in &self.entries {
            tail.extend_from_slice(&e.id.0);
            tail.extend_from_slice(&e.offset.to_le_bytes());
            tail.extend_from_slice(&e.len.to_le_bytes());
        }
        let index_hash = blake3::hash(&tail);
        tail.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        tail.extend_from_slice(&index_offset.to_le_bytes());
        tail.extend_from_slice(index_hash.as_bytes());
        tail.extend_from_slice(PACK_END_MAGIC);
        tail
    }
}

#[derive(Default)]
struct Inner {
    index: HashMap<ChunkId, Loc>,
    packs: BTreeMap<u64, PackMeta>,
    /// New chunks not yet handed to a pack write.
    open: OpenPack,
    /// Packs being written now, by number; their chunks stay readable.
    sealing: Vec<(u64, Arc<OpenPack>)>,
    /// Chunks of `sealing` packs put again while they were written: id → epoch.
    sealing_touched: HashMap<ChunkId, u64>,
    /// A buffer kept from the last pack write, so the next one does not fault in fresh pages.
    spare: Vec<u8>,
    next_pack: u64,
    epoch: u64,
    damaged: Vec<String>,
    /// The last pack write failed (its chunks went back to `open`); cleared by the next success.
    failing: bool,
}

/// Chunks in pack files on a [`Backend`].
pub struct PackStore {
    backend: Arc<dyn Backend>,
    inner: Mutex<Inner>,
    /// Serializes pack writes. Holds the one pack write that may run in the background while the
    /// caller keeps encoding (so a large save overlaps its I/O with its CPU work).
    write_lock: Mutex<Option<InFlight>>,
    pack_target: usize,
}

struct InFlight {
    n: u64,
    pack: Arc<OpenPack>,
    handle: std::thread::JoinHandle<std::io::Result<u64>>,
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
#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    id: ChunkId,
    offset: u64,
    len: u32,
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
    // Reserved, written as 0: anything else is damage (the rest of the header is checked too).
    let reserved = r.u32_le()?;
    if reserved != 0 {
        return err(format!("reserved header field is {reserved:#x}, not 0"));
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
    // Every entry takes at least its 36-byte header in the data area.
    if count.checked_mul(ENTRY_HEADER_LEN) > Some(index_offset - HEADER_LEN) {
        return err(format!(
            "index of {count} entries for a data area of {} bytes",
            index_offset - HEADER_LEN
        ));
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
            write_lock: Mutex::new(None),
            pack_target: PACK_TARGET,
        })
    }

    /// Pack files whose index could not be read at open, each with the reason.
    pub(crate) fn damaged(&self) -> Vec<String> {
        self.lock().damaged.clone()
    }

    /// The same store cutting packs at about `bytes` (tests use small packs).
    pub fn with_pack_target(mut self, bytes: usize) -> Self {
        self.pack_target = bytes.clamp(1, MAX_CHUNK_LEN * 4);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take the open pack for writing; it stays readable until `finish_sealed`.
    fn seal_open(&self) -> Option<(u64, Arc<OpenPack>)> {
        let mut inner = self.lock();
        if inner.open.is_empty() {
            return None;
        }
        let spare = std::mem::take(&mut inner.spare);
        let open = std::mem::replace(&mut inner.open, OpenPack::with_buffer(spare));
        let pack = Arc::new(open);
        let n = inner.next_pack;
        inner.next_pack += 1;
        inner.sealing.push((n, pack.clone()));
        Some((n, pack))
    }

    /// Write a sealed pack: its entries, index and trailer, atomically and durably.
    fn write_sealed(backend: &dyn Backend, n: u64, pack: &OpenPack) -> std::io::Result<u64> {
        let tail = pack.tail();
        backend.write_parts(&pack_path(n), &[&pack.buf, &tail])?;
        Ok((pack.buf.len() + tail.len()) as u64)
    }

    /// Index the chunks of a written pack, or, if the write failed, put them back in the open pack
    /// to be retried by the next sync.
    fn finish_sealed(
        &self,
        n: u64,
        result: std::io::Result<u64>,
        stats: &mut SyncStats,
    ) -> Result<()> {
        let mut inner = self.lock();
        let Some(pos) = inner.sealing.iter().position(|(m, _)| *m == n) else {
            return Ok(());
        };
        let (_, pack) = inner.sealing.remove(pos);
        let mut pack = Arc::try_unwrap(pack).unwrap_or_else(|shared| OpenPack {
            buf: shared.buf.clone(),
            entries: shared.entries.clone(),
            ids: shared.ids.clone(),
        });
        let mut touched = |id: &ChunkId, epoch: u64| {
            inner
                .sealing_touched
                .remove(id)
                .map_or(epoch, |t| t.max(epoch))
        };
        let mut epochs = Vec::with_capacity(pack.entries.len());
        for e in &pack.entries {
            let epoch = pack.ids.get(&e.id).map_or(0, |x| x.1);
            epochs.push(touched(&e.id, epoch));
        }
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(err) => {
                // Put the chunks back in front of what was added meanwhile.
                let later = std::mem::take(&mut inner.open);
                for (e, epoch) in pack.entries.clone().iter().zip(&epochs) {
                    if let Some(slot) = pack.ids.get_mut(&e.id) {
                        slot.1 = *epoch;
                    }
                }
                for e in &later.entries {
                    if let Some(data) = later.get(&e.id) {
                        let epoch = later.ids.get(&e.id).map_or(0, |x| x.1);
                        pack.push(e.id, data, epoch);
                    }
                }
                inner.open = pack;
                inner.failing = true;
                return Err(Error::io(self.backend.location(&pack_path(n)), err));
            }
        };
        inner.failing = false;
        stats.files += 1;
        stats.bytes += bytes;
        stats.chunks += pack.entries.len() as u64;
        let mut meta = PackMeta::default();
        for (e, mut epoch) in pack.entries.iter().zip(epochs) {
            if let Some(old) = inner.index.get(&e.id).copied() {
                // A repacked chunk: it leaves its old pack.
                epoch = epoch.max(old.epoch);
                if let Some(m) = inner.packs.get_mut(&old.pack) {
                    m.chunks = m.chunks.saturating_sub(1);
                    m.data_bytes = m.data_bytes.saturating_sub(u64::from(old.len));
                }
            }
            inner.index.insert(
                e.id,
                Loc {
                    pack: n,
                    offset: e.offset,
                    len: e.len,
                    epoch,
                },
            );
            meta.chunks += 1;
            meta.data_bytes += u64::from(e.len);
        }
        inner.packs.insert(n, meta);
        pack.buf.clear();
        if pack.buf.capacity() <= 2 * self.pack_target && inner.spare.capacity() == 0 {
            inner.spare = pack.buf;
        }
        Ok(())
    }

    /// Wait for the background pack write, if any.
    fn join_in_flight(&self, slot: &mut Option<InFlight>, stats: &mut SyncStats) -> Result<()> {
        let Some(f) = slot.take() else {
            return Ok(());
        };
        let result = f
            .handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the pack writer thread panicked")));
        drop(f.pack);
        self.finish_sealed(f.n, result, stats)
    }

    /// Write the open pack on the calling thread, after any background write; everything put
    /// before this call is durable when it returns `Ok`.
    fn write_open(&self, slot: &mut Option<InFlight>, stats: &mut SyncStats) -> Result<()> {
        let earlier = self.join_in_flight(slot, stats);
        if let Some((n, pack)) = self.seal_open() {
            let result = Self::write_sealed(self.backend.as_ref(), n, &pack);
            drop(pack);
            self.finish_sealed(n, result, stats)?;
        }
        earlier
    }

    /// The open pack is full: write it in the background and let the caller go on encoding.
    /// At most one pack is in flight, which bounds the memory a save holds.
    fn write_full_pack(&self) -> Result<()> {
        let mut slot = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = SyncStats::default();
        self.join_in_flight(&mut slot, &mut stats)?;
        let Some((n, pack)) = self.seal_open() else {
            return Ok(());
        };
        let backend = self.backend.clone();
        let for_thread = pack.clone();
        let spawned = std::thread::Builder::new()
            .name("snapstack-pack".into())
            .spawn(move || Self::write_sealed(backend.as_ref(), n, &for_thread));
        match spawned {
            Ok(handle) => {
                *slot = Some(InFlight { n, pack, handle });
                Ok(())
            }
            Err(_) => {
                let result = Self::write_sealed(self.backend.as_ref(), n, &pack);
                drop(pack);
                self.finish_sealed(n, result, &mut stats)
            }
        }
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

    /// Whether the last pack write failed (chunks wait in memory for the next save).
    pub(crate) fn failing(&self) -> bool {
        self.lock().failing
    }

    /// While pack writes fail: the bytes of unwritten chunks held in memory (buffered or being
    /// written), if they reached
    /// [`MAX_UNSAVED_WHILE_FAILING`] (new blobs should then be refused). `None` otherwise.
    pub(crate) fn unsaved_backlog(&self) -> Option<usize> {
        let inner = self.lock();
        let sealing: usize = inner.sealing.iter().map(|(_, p)| p.data_len()).sum();
        let held = inner.open.data_len() + sealing;
        (inner.failing && held >= MAX_UNSAVED_WHILE_FAILING).then_some(held)
    }

    /// Drop the unwritten chunks nothing needs any more: keep those in `keep`, those put (or put
    /// again) at epoch `protect_from` or later, and those also held by a written pack. Used after
    /// failed writes, so that chunks of refused requests are not owed to the next save. Returns
    /// the chunks and bytes dropped.
    pub(crate) fn prune_unsaved(&self, keep: &HashSet<ChunkId>, protect_from: u64) -> (u64, u64) {
        // No pack write may take the open pack meanwhile.
        let _slot = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut inner = self.lock();
        let old = std::mem::take(&mut inner.open);
        let (mut dropped, mut bytes) = (0u64, 0u64);
        let mut kept = OpenPack::default();
        for e in &old.entries {
            let epoch = old.ids.get(&e.id).map_or(0, |x| x.1);
            if keep.contains(&e.id) || epoch >= protect_from || inner.index.contains_key(&e.id) {
                if let Some(data) = old.get(&e.id) {
                    kept.push(e.id, data, epoch);
                }
            } else {
                dropped += 1;
                bytes += u64::from(e.len);
            }
        }
        inner.open = if dropped == 0 { old } else { kept };
        (dropped, bytes)
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
        inner.open.ids.contains_key(id)
            || inner.index.contains_key(id)
            || inner.sealing.iter().any(|(_, p)| p.ids.contains_key(id))
    }

    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let loc = {
            let inner = self.lock();
            if let Some(data) = inner.open.get(id) {
                return Ok(data.to_vec());
            }
            if let Some(data) = inner.sealing.iter().find_map(|(_, p)| p.get(id)) {
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
            if let Some(p) = inner.open.ids.get_mut(&id) {
                p.1 = epoch;
                return Ok(false);
            }
            if let Some(l) = inner.index.get_mut(&id) {
                l.epoch = epoch;
                return Ok(false);
            }
            if inner.sealing.iter().any(|(_, p)| p.ids.contains_key(&id)) {
                inner.sealing_touched.insert(id, epoch);
                return Ok(false);
            }
            inner.open.push(id, data, epoch);
            inner.open.data_len() >= self.pack_target
        };
        if flush_now {
            // Bound the memory that buffered chunks take: write a full pack now.
            self.write_full_pack()?;
        }
        Ok(true)
    }

    fn sync(&self) -> Result<SyncStats> {
        let mut slot = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = SyncStats::default();
        self.write_open(&mut slot, &mut stats)?;
        Ok(stats)
    }

    fn advance_epoch(&self) -> u64 {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.epoch
    }

    fn retain(&self, live: &HashSet<ChunkId>, protect_from: u64) -> Result<GcStats> {
        let mut slot = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut sync = SyncStats::default();
        self.join_in_flight(&mut slot, &mut sync)?;
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
        // They join the open pack (with any chunks put meanwhile) and are written below.
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
            let mut inner = self.lock();
            if !inner.open.ids.contains_key(id) {
                inner.open.push(*id, &data, loc.epoch);
            }
        }
        stats.chunks_repacked = repack.len() as u64;
        self.write_open(&mut slot, &mut sync)?;
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
            pending_chunks: inner.open.entries.len() as u64,
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
    fn a_flipped_reserved_header_byte_is_reported_and_the_pack_salvaged() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let d = vec![7u8; 100];
        let id = ChunkId::of(&d);
        s.put(id, &d).unwrap();
        s.sync().unwrap();
        let pack = dir.path().join("packs/0000000000000001.pack");
        let mut bytes = std::fs::read(&pack).unwrap();
        bytes[14] ^= 0x01;
        std::fs::write(&pack, &bytes).unwrap();
        let s2 = store(dir.path());
        let damaged = s2.lock().damaged.clone();
        assert_eq!(damaged.len(), 1, "{damaged:?}");
        assert!(damaged[0].contains("0000000000000001.pack") && damaged[0].contains("reserved"));
        assert_eq!(s2.get(&id).unwrap(), d, "salvaged");
    }

    /// A huge sparse file whose trailer claims a 64 GiB index made the open abort the process
    /// (`vec![0; len]` of the claimed length). Now the claim is checked against the data area,
    /// reads of untrusted lengths fail instead of aborting, and the pack is reported.
    #[test]
    fn a_pack_claiming_a_huge_index_is_reported_not_fatal() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("packs/0000000000000001.pack");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for index_offset in [16u64, 1 << 20] {
            let count: u64 = (64u64 << 30) / 44;
            let size = index_offset + 56 + 44 * count;
            let f = std::fs::File::create(&path).unwrap();
            f.set_len(size).unwrap();
            f.write_all_at(b"SNAPPACK\x01\0\0\0\0\0\0\0", 0).unwrap();
            let mut t = Vec::new();
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&index_offset.to_le_bytes());
            t.extend_from_slice(&[0u8; 32]);
            t.extend_from_slice(PACK_END_MAGIC);
            f.write_all_at(&t, size - 56).unwrap();
            let s = store(dir.path());
            let damaged = s.lock().damaged.clone();
            assert_eq!(damaged.len(), 1, "{damaged:?}");
        }
        // And a length no allocator can satisfy is an error from the backend, not an abort.
        let b = LocalBackend::open(dir.path()).unwrap();
        let e = b
            .read_at("packs/0000000000000001.pack", 0, usize::MAX / 2)
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
    }

    #[test]
    fn full_packs_are_written_in_the_background_and_failures_retried() {
        use crate::backend::{FaultKind, FaultPlan, WriteStep};
        let dir = tempfile::tempdir().unwrap();
        // The second pack's data write fails once.
        let plan = FaultPlan::on_step(WriteStep::WriteData, 1, FaultKind::NoSpace);
        let backend = LocalBackend::open(dir.path())
            .unwrap()
            .with_hook(plan.hook());
        let s = PackStore::open(Arc::new(backend))
            .unwrap()
            .with_pack_target(10_000);
        let mut ids = Vec::new();
        let mut failed = false;
        for i in 0..100u32 {
            let d = i.to_le_bytes().repeat(300);
            let id = ChunkId::of(&d);
            // A failed background write surfaces at the next pack boundary or at sync.
            failed |= s.put(id, &d).is_err();
            ids.push(id);
            assert_eq!(
                s.get(&id).unwrap(),
                d,
                "readable while buffered or in flight"
            );
        }
        failed |= s.sync().is_err();
        assert!(failed && plan.tripped());
        s.sync().unwrap();
        assert_eq!(s.stats().pending_chunks, 0);
        let reopened = store(dir.path());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(
                reopened.get(id).unwrap(),
                (i as u32).to_le_bytes().repeat(300)
            );
        }
        assert!(reopened.stats().files >= 10);
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

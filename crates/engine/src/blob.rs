//! Large byte values as blobs: split by content-defined chunking (FastCDC v2020, pinned), each
//! piece stored once in the chunk store, and a blob index chunk listing the pieces. A blob is
//! written and read as a stream; it is never held whole in memory.

use std::sync::Arc;

use fastcdc::v2020::FastCDC;
use serde::{Deserialize, Serialize};

use crate::chunk_id::ChunkId;
use crate::chunk_store::{ChunkStore, MAX_CHUNK_LEN};
use crate::codec::{Reader, put_varint};
use crate::error::{Error, Result};

/// FastCDC parameters. They decide the cut points, so they are part of the format.
pub const CDC_MIN: usize = 16 << 10;
pub const CDC_AVG: usize = 64 << 10;
pub const CDC_MAX: usize = 256 << 10;

const BLOB_INDEX_TAG: u8 = 0x03;

/// A reference to a stored blob: the id of its index chunk and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobId {
    pub index: ChunkId,
    pub size: u64,
}

/// Streams bytes into the chunk store.
pub struct BlobWriter {
    chunks: Arc<dyn ChunkStore>,
    buf: Vec<u8>,
    start: usize,
    pieces: Vec<(ChunkId, u32)>,
    size: u64,
    new_bytes: u64,
}

impl BlobWriter {
    pub fn new(chunks: Arc<dyn ChunkStore>) -> Self {
        BlobWriter {
            chunks,
            buf: Vec::new(),
            start: 0,
            pieces: Vec::new(),
            size: 0,
            new_bytes: 0,
        }
    }

    /// Add bytes to the blob.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(data);
        // A cut point depends only on the bytes from the chunk's start to at most CDC_MAX past it,
        // so once that many bytes are buffered the next cut is final.
        while self.buf.len() - self.start >= CDC_MAX {
            let avail = &self.buf[self.start..];
            let (_, end) = FastCDC::new(avail, CDC_MIN, CDC_AVG, CDC_MAX).cut(0, avail.len());
            self.emit(self.start, self.start + end)?;
            self.start += end;
        }
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(())
    }

    fn emit(&mut self, from: usize, to: usize) -> Result<()> {
        let piece = &self.buf[from..to];
        let id = ChunkId::of(piece);
        if self.chunks.put(id, piece)? {
            self.new_bytes += piece.len() as u64;
        }
        self.pieces.push((id, piece.len() as u32));
        Ok(())
    }

    /// Finish the blob: store the remaining pieces and the index chunk.
    pub fn finish(self) -> Result<BlobId> {
        self.finish_counting().map(|(id, _)| id)
    }

    /// Finish the blob; also return how many bytes of pieces were new to the chunk store.
    pub fn finish_counting(mut self) -> Result<(BlobId, u64)> {
        while self.start < self.buf.len() {
            let avail = &self.buf[self.start..];
            let (_, end) = FastCDC::new(avail, CDC_MIN, CDC_AVG, CDC_MAX).cut(0, avail.len());
            let end = end.max(1);
            self.emit(self.start, self.start + end)?;
            self.start += end;
        }
        let mut index = Vec::with_capacity(16 + self.pieces.len() * 36);
        index.push(BLOB_INDEX_TAG);
        put_varint(&mut index, self.size);
        put_varint(&mut index, self.pieces.len() as u64);
        for (id, len) in &self.pieces {
            index.extend_from_slice(&id.0);
            put_varint(&mut index, u64::from(*len));
        }
        if index.len() > MAX_CHUNK_LEN {
            return Err(Error::TooLarge(format!(
                "a blob of {} bytes needs an index larger than a chunk",
                self.size
            )));
        }
        let id = ChunkId::of(&index);
        self.chunks.put(id, &index)?;
        let blob = BlobId {
            index: id,
            size: self.size,
        };
        Ok((blob, self.new_bytes))
    }

    /// Bytes of new (not deduplicated) pieces stored so far.
    pub fn new_bytes(&self) -> u64 {
        self.new_bytes
    }
}

/// Decode a blob index chunk into its pieces.
pub(crate) fn decode_index(bytes: &[u8]) -> Result<(u64, Vec<(ChunkId, u32)>), String> {
    let mut r = Reader::new(bytes);
    let e = |x: crate::codec::DecodeError| x.0;
    if r.u8().map_err(e)? != BLOB_INDEX_TAG {
        return Err("not a blob index chunk".into());
    }
    let size = r.varint().map_err(e)?;
    let count = r
        .varint_max((bytes.len() / 33) as u64, "piece count")
        .map_err(e)?;
    let mut pieces = Vec::with_capacity(count as usize);
    let mut total: u64 = 0;
    for _ in 0..count {
        let id = ChunkId(r.array().map_err(e)?);
        let len = r
            .varint_max(MAX_CHUNK_LEN as u64, "piece length")
            .map_err(e)?;
        total += len;
        pieces.push((id, len as u32));
    }
    if total != size || !r.is_empty() {
        return Err(format!(
            "blob index lists {total} bytes in pieces but a size of {size}"
        ));
    }
    Ok((size, pieces))
}

/// A blob made of the pieces of `parts`, in order, without reading or copying their bytes (how a
/// multipart upload is completed). Only a new index chunk is written.
pub(crate) fn concat(chunks: &dyn ChunkStore, parts: &[BlobId]) -> Result<BlobId> {
    let mut size = 0u64;
    let mut pieces = Vec::new();
    for part in parts {
        let bytes = chunks.get(&part.index)?;
        let (s, p) = decode_index(&bytes)
            .map_err(|reason| Error::corrupt(format!("blob index chunk {}", part.index), reason))?;
        size += s;
        pieces.extend(p);
    }
    let mut index = Vec::with_capacity(16 + pieces.len() * 36);
    index.push(BLOB_INDEX_TAG);
    put_varint(&mut index, size);
    put_varint(&mut index, pieces.len() as u64);
    for (id, len) in &pieces {
        index.extend_from_slice(&id.0);
        put_varint(&mut index, u64::from(*len));
    }
    if index.len() > MAX_CHUNK_LEN {
        return Err(Error::TooLarge(format!(
            "a blob of {size} bytes needs an index larger than a chunk"
        )));
    }
    let id = ChunkId::of(&index);
    chunks.put(id, &index)?;
    Ok(BlobId { index: id, size })
}

/// An opened blob: its pieces, read lazily.
pub struct Blob {
    chunks: Arc<dyn ChunkStore>,
    size: u64,
    pieces: Vec<(ChunkId, u32)>,
}

impl Blob {
    pub(crate) fn open(chunks: Arc<dyn ChunkStore>, id: &BlobId) -> Result<Self> {
        let bytes = chunks.get(&id.index)?;
        let (size, pieces) = decode_index(&bytes)
            .map_err(|reason| Error::corrupt(format!("blob index chunk {}", id.index), reason))?;
        if size != id.size {
            return Err(Error::corrupt(
                format!("blob index chunk {}", id.index),
                format!("size {size} differs from the referenced size {}", id.size),
            ));
        }
        Ok(Blob {
            chunks,
            size,
            pieces,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The pieces in order, each with the length the index gives it.
    pub(crate) fn pieces(&self) -> &[(ChunkId, u32)] {
        &self.pieces
    }

    /// The ids of the pieces (for garbage collection).
    pub(crate) fn piece_ids(&self) -> impl Iterator<Item = &ChunkId> {
        self.pieces.iter().map(|(id, _)| id)
    }

    /// Stream the bytes in `start..end` (clamped to the blob) as a sequence of verified pieces.
    pub fn read_range(&self, start: u64, end: u64) -> impl Iterator<Item = Result<Vec<u8>>> + '_ {
        let end = end.min(self.size);
        let mut offset = 0u64;
        self.pieces.iter().filter_map(move |(id, len)| {
            let (p_start, p_end) = (offset, offset + u64::from(*len));
            offset = p_end;
            if p_end <= start || p_start >= end {
                return None;
            }
            Some(self.chunks.get(id).map(|data| {
                let from = start.saturating_sub(p_start) as usize;
                let to = (end.min(p_end) - p_start) as usize;
                data[from..to].to_vec()
            }))
        })
    }

    /// Stream the whole blob.
    pub fn read_all(&self) -> impl Iterator<Item = Result<Vec<u8>>> + '_ {
        self.read_range(0, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::LocalBackend;
    use crate::chunk_store::PackStore;
    use proptest::prelude::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn chunks() -> (tempfile::TempDir, Arc<dyn ChunkStore>) {
        let dir = tempfile::tempdir().unwrap();
        let s = PackStore::open(Arc::new(LocalBackend::open(dir.path()).unwrap())).unwrap();
        (dir, Arc::new(s))
    }

    fn store_blob(c: &Arc<dyn ChunkStore>, data: &[u8], step: usize) -> (BlobId, u64) {
        let mut w = BlobWriter::new(c.clone());
        for part in data.chunks(step.max(1)) {
            w.write(part).unwrap();
        }
        w.finish_counting().unwrap()
    }

    #[test]
    fn cut_points_do_not_depend_on_write_sizes_and_dedup_works() {
        let (_d, c) = chunks();
        let data = pseudo_random(3 << 20, 7);
        let (a, new_a) = store_blob(&c, &data, 1 << 20);
        let (b, new_b) = store_blob(&c, &data, 4093);
        assert_eq!(a, b);
        assert_eq!(new_a, data.len() as u64);
        assert_eq!(new_b, 0);
        // Inserting bytes near the start changes few pieces.
        let mut edited = data.clone();
        edited.splice(1000..1000, b"hello".iter().copied());
        let (_, new_c) = store_blob(&c, &edited, 65536);
        assert!(
            new_c < 600_000,
            "only the pieces around the edit are new: {new_c}"
        );
        let blob = Blob::open(c.clone(), &a).unwrap();
        let all: Vec<u8> = blob.read_all().flat_map(|p| p.unwrap()).collect();
        assert_eq!(all, data);
        let part: Vec<u8> = blob
            .read_range(100_000, 400_123)
            .flat_map(|p| p.unwrap())
            .collect();
        assert_eq!(part, &data[100_000..400_123]);
    }

    proptest! {
        #[test]
        fn blob_roundtrip(len in 0usize..600_000, step in 1usize..300_000, seed in any::<u64>()) {
            let (_d, c) = chunks();
            let data = pseudo_random(len, seed);
            let (id, _) = store_blob(&c, &data, step);
            prop_assert_eq!(id.size, len as u64);
            let blob = Blob::open(c.clone(), &id).unwrap();
            let all: Vec<u8> = blob.read_all().flat_map(|p| p.unwrap()).collect();
            prop_assert_eq!(all, data);
        }

        #[test]
        fn index_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_index(&bytes);
        }
    }
}

//! The bytes of the write-ahead log: segment headers, frames and the entries inside a frame
//! (`docs/FORMAT.md` §11).

use crate::blob::BlobId;
use crate::chunk_id::ChunkId;
use crate::codec::{DecodeError, Reader, err, put_bytes, put_varint};

/// Magic at the start of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SNAPWLOG";
/// The log version this build writes and the newest it reads.
pub const LOG_VERSION: u32 = 1;
/// Bytes of the segment header; the first frame starts here.
pub const SEGMENT_HEADER: usize = 32;
/// Bytes of a frame header.
pub const FRAME_HEADER: usize = 24;
/// Frames start at multiples of this.
pub const FRAME_ALIGN: usize = 8;
/// The largest frame payload accepted (a group commit of huge records).
pub const MAX_PAYLOAD: usize = 1 << 30;
/// Entry flag: the entry's changes apply to an empty state (its base is not a logged version).
pub const FLAG_REPLACE: u8 = 1;

const MAX_KEY: usize = 64 * 1024;
const MAX_VALUE: usize = 256 * 1024 * 1024;

/// The segment header: magic, log version, segment number, and a crc32c of the 24 bytes before it.
pub fn segment_header(segment: u64) -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&LOG_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&segment.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment header says.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    Ok,
    /// Written by a newer build: refused by name, never overwritten.
    Newer(u32),
    Bad(String),
}

pub fn check_segment_header(h: &[u8], segment: u64) -> HeaderCheck {
    if h.len() < SEGMENT_HEADER {
        return HeaderCheck::Bad("shorter than a segment header".into());
    }
    if &h[..8] != SEGMENT_MAGIC {
        return HeaderCheck::Bad("bad magic".into());
    }
    let crc = u32::from_le_bytes(h[24..28].try_into().unwrap());
    if crc != crc32c::crc32c(&h[..24]) {
        return HeaderCheck::Bad("segment header checksum mismatch".into());
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap());
    if version > LOG_VERSION {
        return HeaderCheck::Newer(version);
    }
    if version == 0 || h[12..16] != [0; 4] || h[28..32] != [0; 4] {
        return HeaderCheck::Bad("bad version or reserved bytes".into());
    }
    let seq = u64::from_le_bytes(h[16..24].try_into().unwrap());
    if seq != segment {
        return HeaderCheck::Bad(format!("header names segment {seq}"));
    }
    HeaderCheck::Ok
}

/// A whole frame (header, payload, zero padding to [`FRAME_ALIGN`]).
pub fn encode_frame(segment: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
    let padded = (FRAME_HEADER + payload.len()).next_multiple_of(FRAME_ALIGN);
    let mut f = Vec::with_capacity(padded);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&segment.to_le_bytes());
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(payload);
    let crc = frame_crc(&f);
    f[4..8].copy_from_slice(&crc.to_le_bytes());
    f.resize(padded, 0);
    f
}

/// crc32c over the length field, the rest of the header and the payload (not the crc field).
fn frame_crc(frame: &[u8]) -> u32 {
    let c = crc32c::crc32c(&frame[..4]);
    crc32c::crc32c_append(c, &frame[8..])
}

/// A frame found intact at `offset` of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAt {
    pub offset: usize,
    pub seq: u64,
    /// Bytes the frame occupies, padding included.
    pub len: usize,
}

impl FrameAt {
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let n = u32::from_le_bytes(buf[self.offset..self.offset + 4].try_into().unwrap()) as usize;
        &buf[self.offset + FRAME_HEADER..self.offset + FRAME_HEADER + n]
    }
}

/// The frame at `offset` if it is intact and belongs to `segment`.
pub fn frame_at(buf: &[u8], offset: usize, segment: u64) -> Result<FrameAt, String> {
    let Some(h) = buf.get(offset..offset + FRAME_HEADER) else {
        return Err("a frame header runs past the end of the segment".into());
    };
    if h.iter().all(|&b| b == 0) {
        return Err("no frame (zeros)".into());
    }
    let n = u32::from_le_bytes(h[..4].try_into().unwrap()) as usize;
    if n == 0 || n > MAX_PAYLOAD || offset + FRAME_HEADER + n > buf.len() {
        return Err(format!("frame length {n} does not fit the segment"));
    }
    let crc = u32::from_le_bytes(h[4..8].try_into().unwrap());
    let seg = u64::from_le_bytes(h[8..16].try_into().unwrap());
    if seg != segment {
        return Err(format!("frame names segment {seg}"));
    }
    let end = offset + FRAME_HEADER + n;
    let c = crc32c::crc32c(&buf[offset..offset + 4]);
    if crc32c::crc32c_append(c, &buf[offset + 8..end]) != crc {
        return Err("frame checksum mismatch".into());
    }
    let seq = u64::from_le_bytes(h[16..24].try_into().unwrap());
    Ok(FrameAt {
        offset,
        seq,
        len: (FRAME_HEADER + n).next_multiple_of(FRAME_ALIGN),
    })
}

/// One key's change in an entry: the new encoded record, or `None` for a removal.
pub type Change = (Vec<u8>, Option<Vec<u8>>);

/// One service's changes in a frame: from the state at log version `base` (or, with
/// [`FLAG_REPLACE`], from an empty state) to the state at log version `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub service: String,
    pub flags: u8,
    pub base: u64,
    pub version: u64,
    pub changes: Vec<Change>,
}

impl Entry {
    pub fn replace(&self) -> bool {
        self.flags & FLAG_REPLACE != 0
    }
}

/// Encode one entry (appended to a payload by [`encode_payload`]).
pub fn encode_entry(
    buf: &mut Vec<u8>,
    service: &str,
    flags: u8,
    base: u64,
    version: u64,
    changes: &[(&[u8], Option<&[u8]>)],
) {
    put_bytes(buf, service.as_bytes());
    buf.push(flags);
    put_varint(buf, base);
    put_varint(buf, version);
    put_varint(buf, changes.len() as u64);
    for (k, v) in changes {
        put_bytes(buf, k);
        match v {
            Some(v) => {
                buf.push(1);
                put_bytes(buf, v);
            }
            None => buf.push(0),
        }
    }
}

/// A frame payload: the encoded entries (each from [`encode_entry`]) and the blobs they reference.
pub fn encode_payload(entries: &[Vec<u8>], blobs: &[BlobId]) -> Vec<u8> {
    let mut p = Vec::with_capacity(entries.iter().map(Vec::len).sum::<usize>() + 16);
    put_varint(&mut p, entries.len() as u64);
    for e in entries {
        p.extend_from_slice(e);
    }
    put_varint(&mut p, blobs.len() as u64);
    for b in blobs {
        p.extend_from_slice(&b.index.0);
        put_varint(&mut p, b.size);
    }
    p
}

/// A decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub entries: Vec<Entry>,
    pub blobs: Vec<BlobId>,
}

pub fn decode_payload(payload: &[u8]) -> Result<Payload, DecodeError> {
    let mut r = Reader::new(payload);
    let n = r.varint_max(1 << 16, "entry count")? as usize;
    let mut entries = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let service = std::str::from_utf8(r.bytes(64, "service name")?)
            .map_err(|_| DecodeError("service name is not UTF-8".into()))?
            .to_string();
        if !crate::manifest::valid_service_name(&service) {
            return err(format!("invalid service name {service:?}"));
        }
        let flags = r.u8()?;
        if flags & !FLAG_REPLACE != 0 {
            return err(format!("unknown entry flags {flags:#x}"));
        }
        let base = r.varint()?;
        let version = r.varint()?;
        let count = r.varint_max(r.remaining() as u64, "change count")? as usize;
        let mut changes = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let k = r.bytes(MAX_KEY, "key")?.to_vec();
            let v = match r.u8()? {
                0 => None,
                1 => Some(r.bytes(MAX_VALUE, "value")?.to_vec()),
                t => return err(format!("unknown change tag {t}")),
            };
            changes.push((k, v));
        }
        entries.push(Entry {
            service,
            flags,
            base,
            version,
            changes,
        });
    }
    let nb = r.varint_max(r.remaining() as u64 / 33, "blob count")? as usize;
    let mut blobs = Vec::with_capacity(nb);
    for _ in 0..nb {
        let index = ChunkId(r.array::<32>()?);
        let size = r.varint()?;
        blobs.push(BlobId { index, size });
    }
    if !r.is_empty() {
        return err("trailing bytes after the blob list");
    }
    Ok(Payload { entries, blobs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_roundtrip_and_every_flipped_byte_is_caught() {
        let mut e = Vec::new();
        encode_entry(&mut e, "ssm", 0, 7, 9, &[(b"k", Some(b"v")), (b"x", None)]);
        let p = encode_payload(&[e], &[]);
        let f = encode_frame(3, 11, &p);
        assert_eq!(f.len() % FRAME_ALIGN, 0);
        let at = frame_at(&f, 0, 3).unwrap();
        assert_eq!(at.seq, 11);
        let d = decode_payload(at.payload(&f)).unwrap();
        assert_eq!(d.entries[0].base, 7);
        assert_eq!(d.entries[0].changes[1], (b"x".to_vec(), None));
        assert!(frame_at(&f, 0, 4).is_err());
        for i in 0..FRAME_HEADER + p.len() {
            let mut g = f.clone();
            g[i] ^= 0x10;
            assert!(frame_at(&g, 0, 3).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn segment_headers_check_version_and_number() {
        let h = segment_header(5);
        assert_eq!(check_segment_header(&h, 5), HeaderCheck::Ok);
        assert!(matches!(check_segment_header(&h, 6), HeaderCheck::Bad(_)));
        let mut n = h;
        n[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32c::crc32c(&n[..24]);
        n[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(check_segment_header(&n, 5), HeaderCheck::Newer(2));
    }

    proptest::proptest! {
        #[test]
        fn payload_decoder_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode_payload(&bytes);
        }
    }
}

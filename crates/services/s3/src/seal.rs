//! Encryption at rest of object bodies: AES-256-GCM over fixed-size segments, the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its
//! Nonce-Reuse Misuse-Resistance"). A body (or each part of a multipart object: a *run*) is cut
//! into segments of `segment` plaintext bytes (the last may be shorter, and an empty run is one
//! empty segment); segment `i` is sealed under the body's data key with the nonce
//! `prefix(7 random bytes) ‖ i (u32, big-endian) ‖ last (1 byte)` and the same five bytes
//! `i ‖ last` as associated data, and stored as its ciphertext followed by its 16-byte tag. A
//! segment moved, dropped, or a run cut short therefore fails authentication: the flag of the
//! segment that ends up last is wrong. A read decrypts only the segments its range touches.
//!
//! Data keys are random (32 bytes from the OS generator) and are kept wrapped (AES-256-GCM with a
//! random 12-byte nonce, `snapstack_service::envelope`, shared with SQS) by a key that is not
//! stored beside them (`keyring.rs`). All primitives are RustCrypto's `aes-gcm`; nothing here is
//! hand-written cryptography.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use serde::{Deserialize, Serialize};

/// Plaintext bytes per segment of bodies written now.
pub const SEGMENT: u32 = 64 * 1024;
/// The tag after every segment.
pub const TAG: u64 = 16;
/// Random bytes of a run's nonce prefix.
pub const PREFIX: usize = 7;
/// Segment sizes a stored layout may name (bounds what one read allocates).
pub const MIN_SEGMENT: u32 = 512;
const MAX_SEGMENT: u32 = 16 << 20;

/// One run of a sealed body: `plain` bytes sealed with its own nonce prefix. A body written by
/// one PUT is one run; a multipart object has one run per part, in order (its part boundaries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub plain: u64,
    pub prefix: [u8; PREFIX],
}

pub use snapstack_service::envelope::{random, unwrap, wrap};

/// The number of segments of a run of `plain` bytes.
pub fn segments(plain: u64, segment: u32) -> u64 {
    plain.div_ceil(u64::from(segment.max(1))).max(1)
}

/// The stored (ciphertext) length of a run of `plain` bytes.
pub fn sealed_len(plain: u64, segment: u32) -> u64 {
    plain + TAG * segments(plain, segment)
}

fn nonce(prefix: &[u8; PREFIX], index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..PREFIX].copy_from_slice(prefix);
    n[PREFIX..PREFIX + 4].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn aad(index: u32, last: bool) -> [u8; 5] {
    let mut a = [0u8; 5];
    a[..4].copy_from_slice(&index.to_be_bytes());
    a[4] = u8::from(last);
    a
}

/// A data key, ready to seal and open segments.
#[derive(Clone)]
pub struct DataKey(Aes256Gcm);

impl DataKey {
    pub fn new(key: &[u8; 32]) -> Self {
        DataKey(Aes256Gcm::new(&aes_gcm::Key::<Aes256Gcm>::from(*key)))
    }

    fn seal(&self, prefix: &[u8; PREFIX], index: u32, last: bool, plain: &[u8]) -> Vec<u8> {
        let n = nonce(prefix, index, last);
        let a = aad(index, last);
        self.0
            .encrypt(
                &Nonce::<Aes256Gcm>::from(n),
                Payload {
                    msg: plain,
                    aad: &a,
                },
            )
            // Encryption fails only for messages beyond GCM's limit (64 GiB), far above a segment.
            .unwrap_or_default()
    }

    fn open(
        &self,
        prefix: &[u8; PREFIX],
        index: u32,
        last: bool,
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let n = nonce(prefix, index, last);
        let a = aad(index, last);
        self.0
            .decrypt(
                &Nonce::<Aes256Gcm>::from(n),
                Payload {
                    msg: sealed,
                    aad: &a,
                },
            )
            .ok()
    }
}

/// Encrypts one run as it streams by, handing sealed segments to a sink.
pub struct Sealer {
    key: DataKey,
    prefix: [u8; PREFIX],
    segment: usize,
    index: u32,
    buf: Vec<u8>,
    plain: u64,
}

/// A run too long for 2^32 segments (never, for S3's 5 TiB objects).
#[derive(Debug)]
pub struct TooLong;

impl Sealer {
    pub fn new(key: DataKey) -> Self {
        Self::with_segment(key, SEGMENT)
    }

    /// A sealer with segments of `segment` bytes (tests use small ones).
    pub fn with_segment(key: DataKey, segment: u32) -> Self {
        Sealer {
            key,
            prefix: random(),
            segment: segment.clamp(MIN_SEGMENT, MAX_SEGMENT) as usize,
            index: 0,
            buf: Vec::new(),
            plain: 0,
        }
    }

    /// Seal `data`, passing every complete segment to `out`. A full segment is held back until
    /// more data arrives, since only then is it known not to be the last.
    pub fn write<E: From<TooLong>>(
        &mut self,
        mut data: &[u8],
        out: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.plain += data.len() as u64;
        while !data.is_empty() {
            if self.buf.len() == self.segment {
                let sealed = self.key.seal(&self.prefix, self.index, false, &self.buf);
                out(&sealed)?;
                self.buf.clear();
                self.index = self.index.checked_add(1).ok_or(TooLong)?;
            }
            let take = (self.segment - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seal the last segment; the run's description.
    pub fn finish<E>(self, out: &mut dyn FnMut(&[u8]) -> Result<(), E>) -> Result<Run, E> {
        let sealed = self.key.seal(&self.prefix, self.index, true, &self.buf);
        out(&sealed)?;
        Ok(Run {
            plain: self.plain,
            prefix: self.prefix,
        })
    }
}

/// Why a sealed body could not be read.
#[derive(Debug)]
pub enum OpenError<E> {
    /// Reading the stored bytes failed.
    Read(E),
    /// A segment did not authenticate (changed, moved, truncated), or the layout does not fit.
    Tampered(String),
}

/// The layout of a sealed body, checked against its stored length: runs with their plaintext and
/// stored offsets.
#[derive(Clone, Debug)]
pub struct Layout {
    segment: u32,
    /// (run, plaintext offset, stored offset)
    runs: Vec<(Run, u64, u64)>,
    plain: u64,
}

impl Layout {
    /// Check `runs` of `segment` against the plaintext `size` the record gives and the `stored`
    /// length of the blob.
    pub fn new(segment: u32, runs: &[Run], size: u64, stored: u64) -> Result<Layout, String> {
        if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&segment) {
            return Err(format!("segment size {segment} is out of bounds"));
        }
        let (mut p, mut c) = (0u64, 0u64);
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            if segments(run.plain, segment) > u64::from(u32::MAX) {
                return Err("a run has more than 2^32 segments".into());
            }
            out.push((run.clone(), p, c));
            p = p.checked_add(run.plain).ok_or("run sizes overflow")?;
            c = c
                .checked_add(sealed_len(run.plain, segment))
                .ok_or("run sizes overflow")?;
        }
        if runs.is_empty() || p != size || c != stored {
            return Err(format!(
                "the sealed layout ({p} plaintext, {c} stored bytes in {} runs) does not fit the object ({size} bytes, {stored} stored)",
                runs.len()
            ));
        }
        Ok(Layout {
            segment,
            runs: out,
            plain: p,
        })
    }

    pub fn size(&self) -> u64 {
        self.plain
    }

    /// The plaintext range of run `n` (0-based): a multipart object's part boundaries.
    #[cfg(test)]
    pub fn run_range(&self, n: usize) -> Option<(u64, u64)> {
        self.runs.get(n).map(|(r, p, _)| (*p, *p + r.plain))
    }
}

/// A reader of stored bytes: an iterator of pieces of `start..end`.
pub type ReadFn<'a, E> =
    Box<dyn FnMut(u64, u64) -> Box<dyn Iterator<Item = Result<Vec<u8>, E>> + 'a> + 'a>;

/// The plaintext of `start..end` of a sealed body, decrypting only the segments the range
/// touches, each read once.
pub struct OpenRange<'a, E> {
    key: DataKey,
    layout: &'a Layout,
    read: ReadFn<'a, E>,
    pos: u64,
    end: u64,
    inner: Option<Box<dyn Iterator<Item = Result<Vec<u8>, E>> + 'a>>,
    run: usize,
    seg: u32,
    seg_last: u32,
    buf: Vec<u8>,
    failed: bool,
}

impl<'a, E> OpenRange<'a, E> {
    pub fn new(
        key: DataKey,
        layout: &'a Layout,
        start: u64,
        end: u64,
        read: ReadFn<'a, E>,
    ) -> Self {
        OpenRange {
            key,
            layout,
            read,
            pos: start,
            end: end.min(layout.plain),
            inner: None,
            run: 0,
            seg: 0,
            seg_last: 0,
            buf: Vec::new(),
            failed: false,
        }
    }

    fn step(&mut self) -> Result<Vec<u8>, OpenError<E>> {
        let layout = self.layout;
        let seg = u64::from(layout.segment);
        let stored_seg = seg + TAG;
        if self.inner.is_none() {
            // The run holding `pos` (empty runs hold nothing and are skipped).
            let run = self
                .layout
                .runs
                .iter()
                .position(|(r, p, _)| *p <= self.pos && self.pos < *p + r.plain)
                .ok_or_else(|| OpenError::Tampered("a position outside every run".into()))?;
            let (r, p, c) = &layout.runs[run];
            let first = (self.pos - p) / seg;
            let last = (self.end.min(p + r.plain) - 1 - p) / seg;
            let from = c + first * stored_seg;
            let to = c + ((last + 1) * stored_seg).min(sealed_len(r.plain, layout.segment));
            self.inner = Some((self.read)(from, to));
            self.run = run;
            // Bounded by `Layout::new`: every run has at most 2^32 segments.
            self.seg = first as u32;
            self.seg_last = last as u32;
            self.buf.clear();
        }
        let (r, p, _) = &layout.runs[self.run];
        let seg_start = u64::from(self.seg) * seg;
        let plain_len = seg.min(r.plain - seg_start);
        let need = (plain_len + TAG) as usize;
        while self.buf.len() < need {
            match self.inner.as_mut().and_then(Iterator::next) {
                Some(Ok(piece)) => self.buf.extend_from_slice(&piece),
                Some(Err(e)) => return Err(OpenError::Read(e)),
                None => return Err(OpenError::Tampered("the stored body is short".into())),
            }
        }
        let is_last = u64::from(self.seg) + 1 == segments(r.plain, layout.segment);
        let plain = self
            .key
            .open(&r.prefix, self.seg, is_last, &self.buf[..need])
            .ok_or_else(|| {
                OpenError::Tampered(format!(
                    "segment {} of run {} does not authenticate",
                    self.seg, self.run
                ))
            })?;
        self.buf.drain(..need);
        let abs = p + seg_start;
        let lo = (self.pos - abs) as usize;
        let hi = (self.end.min(abs + plain_len) - abs) as usize;
        self.pos = abs + hi as u64;
        if self.seg == self.seg_last {
            self.inner = None;
        } else {
            self.seg += 1;
        }
        Ok(if lo == 0 && hi == plain.len() {
            plain
        } else {
            plain[lo..hi].to_vec()
        })
    }
}

impl<E> Iterator for OpenRange<'_, E> {
    type Item = Result<Vec<u8>, OpenError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.end {
            return None;
        }
        let item = self.step();
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests;

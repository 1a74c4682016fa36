//! Large file writes that bypass the page cache (`O_DIRECT` on Linux).
//!
//! Why: a save writes its new chunks as packs of up to 32 MiB. Written through the page cache
//! (`write` of the whole pack, then `fsync`), the copy into fresh page-cache pages ran beside the
//! encoder for hundreds of milliseconds, and requests of the same process answered late the whole
//! time: on the 2-core VM of `docs/BENCHMARKS.md`, paced request p99 rose 11–97× while a save
//! ran, against 0.9–1.2× with the same packs written by this module (same run, A/B). Direct
//! writes leave the data in the caller's buffer until the device has it: no page-cache pages to
//! allocate, fill and write back.
//!
//! The data is copied into one reused, aligned 4 MiB bounce buffer and written in 4 MiB pieces at
//! aligned offsets (about 1 GB/s on that disk, the same as buffered writes). The last piece is
//! padded with zeros to the alignment and the file is then cut to its real length, so the file's
//! bytes are exactly the caller's. A filesystem that refuses direct I/O (`EINVAL`: tmpfs on older
//! kernels, some network filesystems, an alignment it does not accept) turns it off for this
//! backend; the caller then writes through the page cache as before.
//!
//! Durability is unchanged: the caller still `fsync`s the file (which also flushes the device's
//! write cache) before it renames it into place.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

/// Files smaller than this are written through the page cache: a manifest or a small pack costs
/// little either way, and the bounce copy would dominate.
pub(super) const DIRECT_MIN: usize = 1 << 20;
/// Buffer address, file offset and length alignment of every direct write. 4096 is the logical
/// block size of every common disk (512-byte disks accept it too).
const ALIGN: usize = 4096;
/// Size of one direct write.
const PIECE: usize = 4 << 20;

/// A heap buffer with an `ALIGN`-aligned window of `PIECE` bytes.
struct Bounce {
    buf: Vec<u8>,
}

impl Bounce {
    fn new() -> Self {
        Bounce {
            buf: vec![0; PIECE + 2 * ALIGN],
        }
    }

    /// The aligned window, moved `skew` bytes off the alignment (tests use 1 to provoke the
    /// kernel's refusal; `skew` < ALIGN).
    fn window(&mut self, skew: usize) -> &mut [u8] {
        let skip = self.buf.as_ptr().align_offset(ALIGN) + skew;
        // `align_offset` of a `u8` pointer is always < ALIGN, so the window fits.
        assert!(skip < 2 * ALIGN, "alignment offset {skip} out of range");
        &mut self.buf[skip..skip + PIECE]
    }
}

/// Direct writes for one backend: whether they work here, and the reused bounce buffer.
pub(super) struct DirectWriter {
    enabled: AtomicBool,
    bounce: Mutex<Option<Bounce>>,
    /// Bytes the buffer is moved off its alignment: always 0 but in tests of the fallback.
    skew: usize,
}

impl DirectWriter {
    pub(super) fn new(enabled: bool) -> Self {
        DirectWriter {
            enabled: AtomicBool::new(enabled && cfg!(target_os = "linux")),
            bounce: Mutex::new(None),
            skew: 0,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn disable(&self, path: &Path, err: &io::Error) {
        if self.enabled.swap(false, Ordering::Relaxed) {
            warn!(file = %path.display(), error = %err, "direct I/O refused here; writing through the page cache from now on");
        }
    }

    /// Write `parts`, one after another, into the new, empty file at `path` without the page
    /// cache. `Ok(false)`: nothing was written (too small, turned off, or refused by the
    /// filesystem) and the file is empty again; the caller writes it the ordinary way.
    pub(super) fn write(&self, path: &Path, parts: &[&[u8]]) -> io::Result<bool> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total < DIRECT_MIN || !self.enabled() {
            return Ok(false);
        }
        let file = match open_direct(path) {
            Ok(f) => f,
            Err(e) if refused(&e) => {
                self.disable(path, &e);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        // One bounce buffer serves the usual case of one big write at a time; a concurrent one
        // gets its own for the duration.
        let mut shared = self.bounce.try_lock().ok();
        let mut own = None;
        let bounce = match shared.as_mut() {
            Some(guard) => guard.get_or_insert_with(Bounce::new),
            None => own.insert(Bounce::new()),
        };
        match write_pieces(&file, bounce.window(self.skew), parts, total) {
            Ok(()) => Ok(true),
            Err(e) if refused(&e) => {
                self.disable(path, &e);
                file.set_len(0)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

fn refused(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(libc::EINVAL)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        true
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> io::Result<File> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Copy `parts` through `window` and write it at aligned offsets; pad the last piece and cut the
/// file back to `total` bytes.
fn write_pieces(file: &File, window: &mut [u8], parts: &[&[u8]], total: usize) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    debug_assert_eq!(window.len(), PIECE);
    let mut offset = 0u64;
    let mut fill = 0;
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            let n = (PIECE - fill).min(rest.len());
            window[fill..fill + n].copy_from_slice(&rest[..n]);
            fill += n;
            rest = &rest[n..];
            if fill == PIECE {
                file.write_all_at(window, offset)?;
                offset += PIECE as u64;
                fill = 0;
            }
        }
    }
    if fill > 0 {
        let padded = fill.next_multiple_of(ALIGN);
        window[fill..padded].fill(0);
        file.write_all_at(&window[..padded], offset)?;
        offset += padded as u64;
    }
    if offset != total as u64 {
        file.set_len(total as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_of(total: usize) -> (Vec<u8>, Vec<u8>) {
        let a: Vec<u8> = (0..total / 3).map(|i| (i * 7 + 1) as u8).collect();
        let b: Vec<u8> = (0..total - total / 3).map(|i| (i * 13 + 5) as u8).collect();
        (a, b)
    }

    #[test]
    fn the_file_holds_exactly_the_parts_at_every_interesting_length() {
        let dir = tempfile::tempdir().unwrap();
        let w = DirectWriter::new(true);
        for total in [
            DIRECT_MIN - 1,
            DIRECT_MIN,
            DIRECT_MIN + 1,
            PIECE - 1,
            PIECE,
            PIECE + ALIGN,
            2 * PIECE + 12345,
        ] {
            let (a, b) = parts_of(total);
            let path = dir.path().join(format!("f{total}"));
            File::create(&path).unwrap();
            let direct = w.write(&path, &[&a, &b]).unwrap();
            if !direct {
                // Too small, or this filesystem refuses direct I/O: nothing was written.
                assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
                continue;
            }
            let got = std::fs::read(&path).unwrap();
            assert_eq!(got.len(), total);
            assert_eq!(&got[..a.len()], &a[..]);
            assert_eq!(&got[a.len()..], &b[..]);
        }
    }

    #[test]
    fn small_or_disabled_writes_are_left_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        let big = vec![1u8; DIRECT_MIN];
        assert!(!DirectWriter::new(true).write(&path, &[&big[1..]]).unwrap());
        assert!(!DirectWriter::new(false).write(&path, &[&big]).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        /// Whatever the lengths and the split into parts, the file holds exactly the parts'
        /// bytes in order (or, where direct I/O is refused, nothing, and the caller writes it).
        #[test]
        fn any_split_roundtrips(
            total in (DIRECT_MIN - 3000)..(2 * PIECE + 5000),
            cuts in proptest::collection::vec(0usize..(2 * PIECE + 5000), 0..4),
            seed in 0u8..255,
        ) {
            let data: Vec<u8> = (0..total).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (total + 1)).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([total]) {
                parts.push(&data[at..c]);
                at = c;
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            File::create(&path).unwrap();
            let direct = DirectWriter::new(true).write(&path, &parts).unwrap();
            let got = std::fs::read(&path).unwrap();
            if direct {
                proptest::prop_assert!(got == data, "file differs from the parts ({} vs {} bytes)", got.len(), data.len());
            } else {
                proptest::prop_assert!(got.is_empty() || total < DIRECT_MIN);
            }
        }
    }

    #[test]
    fn a_refused_direct_write_leaves_an_empty_file_and_turns_itself_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap();
        let mut w = DirectWriter::new(true);
        // A buffer off its alignment: the kernel refuses it with EINVAL, as a filesystem
        // without direct I/O would.
        w.skew = 1;
        let data = vec![5u8; DIRECT_MIN + 100];
        if w.write(&path, &[&data]).unwrap() {
            // This filesystem takes unaligned direct I/O (tmpfs does): nothing to refuse.
            assert_eq!(std::fs::read(&path).unwrap(), data);
            return;
        }
        assert!(!w.enabled(), "turned off after a refusal");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "file left empty"
        );
        // Later writes go straight to the caller's buffered path.
        assert!(!w.write(&path, &[&data]).unwrap());
    }

    #[test]
    fn the_bounce_window_is_aligned() {
        let mut b = Bounce::new();
        let w = b.window(0);
        assert_eq!(w.len(), PIECE);
        assert_eq!(w.as_ptr() as usize % ALIGN, 0);
    }
}

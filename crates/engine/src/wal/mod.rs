//! The write-ahead log (`docs/FORMAT.md` §11): under `ON_REQUEST`, a group commit appends one
//! frame with every changed record of every service in the group to a preallocated segment and
//! calls `fdatasync` once. Tree saves go on in the background; once a manifest is durable, the
//! segments it covers are removed. A load replays the entries after its generation.

pub mod frame;
pub mod segment;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::backend::{WriteHook, WriteStep, create_private_dir_all, private_file};
use crate::blob::BlobId;
use crate::error::{Error, Result};
use frame::{
    Entry, HeaderCheck, LOG_VERSION, SEGMENT_HEADER, check_segment_header, decode_payload,
    encode_frame, segment_header,
};
use segment::{parse_segment_name, scan, segment_name};

/// Default bytes preallocated per segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Log settings.
#[derive(Clone)]
pub struct WalOptions {
    /// Bytes preallocated for each segment (a larger frame gets a segment of its own size).
    pub segment_bytes: u64,
    /// Called before every write step (fault injection in tests).
    pub hook: Option<WriteHook>,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            hook: None,
        }
    }
}

impl std::fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalOptions")
            .field("segment_bytes", &self.segment_bytes)
            .finish()
    }
}

/// One service's entry in a frame, as kept in memory (no records).
#[derive(Clone, Debug)]
struct EntryMeta {
    service: String,
    version: u64,
    changes: u64,
}

#[derive(Clone, Debug, Default)]
struct SegMeta {
    /// Bytes of frames (header, payload, padding) and the frames' entries.
    frames: Vec<(u64, Vec<EntryMeta>)>,
    blobs: Vec<BlobId>,
    /// Damage found in this segment (kept, never removed automatically).
    damaged: Vec<String>,
}

struct Current {
    seq: u64,
    file: File,
    pos: u64,
    cap: u64,
}

struct Inner {
    segments: BTreeMap<u64, SegMeta>,
    current: Option<Current>,
    next_frame: u64,
    /// A segment written by a newer build: nothing is appended, and loads fail naming it.
    refused: Option<String>,
}

/// A log item in log order, for a load.
#[derive(Debug)]
pub enum LogItem {
    /// An intact entry; `at` names the segment file and offset.
    Entry { at: String, entry: Entry },
    /// A frame that does not verify, with intact frames after it.
    Damage(String),
}

/// What the log holds, for the state endpoint and the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogStatus {
    pub segments: u64,
    pub frames: u64,
    pub bytes: u64,
    /// Frames with at least one entry not yet in a generation, and their bytes.
    pub pending_frames: u64,
    pub pending_bytes: u64,
    /// Per service: record changes not yet in a generation.
    pub pending_records: BTreeMap<String, u64>,
    pub damaged: Vec<String>,
    pub refused: Option<String>,
}

/// The write-ahead log of a state directory (`<state>/log/`).
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).finish()
    }
}

fn read_segment(path: &Path, seq: u64) -> io::Result<Vec<u8>> {
    let _ = seq;
    fs::read(path)
}

/// Segments of a log directory, sorted. A missing directory has none.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dir.display().to_string(), e))?;
        if let Some(s) = e.file_name().to_str().and_then(parse_segment_name) {
            out.push(s);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The bytes of one segment checked: `Ok(None)` when its header is damaged (reason in `Err`
/// of the inner result), an error for a newer version.
enum Read {
    Ok(Vec<u8>, segment::Scan),
    Damaged(String),
    Newer(String),
}

fn read_checked(dir: &Path, seq: u64) -> Result<Read> {
    let path = dir.join(segment_name(seq));
    let file = path.display().to_string();
    let buf = read_segment(&path, seq).map_err(|e| Error::io(&file, e))?;
    match check_segment_header(&buf, seq) {
        HeaderCheck::Ok => {
            let s = scan(&buf, seq);
            Ok(Read::Ok(buf, s))
        }
        HeaderCheck::Newer(v) => Ok(Read::Newer(
            Error::NewerFormat {
                file,
                found: v,
                supported: LOG_VERSION,
            }
            .to_string(),
        )),
        HeaderCheck::Bad(why) => Ok(Read::Damaged(format!("{file} is damaged: {why}"))),
    }
}

impl Wal {
    /// Open the log in `dir` (created on the first append), reading what it holds.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let dir = dir.as_ref().to_path_buf();
        let seqs = list_segments(&dir)?;
        let mut segments = BTreeMap::new();
        let mut refused = None;
        let mut next_frame = 1;
        let mut tail: Option<(u64, u64, u64)> = None; // seq, end, len
        let mut torn: Vec<(u64, String)> = Vec::new();
        for &seq in &seqs {
            let mut meta = SegMeta::default();
            match read_checked(&dir, seq)? {
                Read::Newer(msg) => {
                    refused.get_or_insert(msg);
                    tail = None;
                }
                Read::Damaged(msg) => {
                    meta.damaged.push(msg);
                    tail = None;
                }
                Read::Ok(buf, s) => {
                    let name = dir.join(segment_name(seq)).display().to_string();
                    for (off, why) in &s.damaged {
                        meta.damaged
                            .push(format!("{name} is damaged at offset {off}: {why}"));
                    }
                    if let Some((off, why)) = &s.torn_tail {
                        torn.push((seq, format!("{name} is damaged at offset {off}: {why}")));
                    }
                    for f in &s.frames {
                        next_frame = next_frame.max(f.seq + 1);
                        match decode_payload(f.payload(&buf)) {
                            Ok(p) => {
                                let entries = p
                                    .entries
                                    .iter()
                                    .map(|e| EntryMeta {
                                        service: e.service.clone(),
                                        version: e.version,
                                        changes: e.changes.len() as u64,
                                    })
                                    .collect();
                                meta.frames.push((f.len as u64, entries));
                                meta.blobs.extend(p.blobs);
                            }
                            Err(e) => meta
                                .damaged
                                .push(format!("{name} is damaged at offset {}: {e}", f.offset)),
                        }
                    }
                    tail = Some((seq, s.end as u64, buf.len() as u64));
                }
            }
            segments.insert(seq, meta);
        }
        // A torn tail anywhere but in the last segment with frames is damage in the middle.
        let last_with_frames = segments
            .iter()
            .rev()
            .find(|(_, m)| !m.frames.is_empty())
            .map(|(s, _)| *s);
        for (seq, msg) in torn {
            if last_with_frames.is_some_and(|l| l > seq)
                && let Some(m) = segments.get_mut(&seq)
            {
                m.damaged.push(msg);
            }
        }
        // Appends continue in the last segment when it is the newest and intact.
        let current = match tail {
            Some((seq, end, len)) if Some(&seq) == seqs.last() && refused.is_none() => {
                let path = dir.join(segment_name(seq));
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io(path.display().to_string(), e))?;
                Some(Current {
                    seq,
                    file,
                    pos: end,
                    cap: len,
                })
            }
            _ => None,
        };
        Ok(Wal {
            dir,
            opts,
            inner: Mutex::new(Inner {
                segments,
                current,
                next_frame,
                refused,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn step(&self, step: WriteStep, name: &str) -> io::Result<()> {
        match &self.opts.hook {
            Some(h) => h(step, &format!("log/{name}")),
            None => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The error that refuses this log (a segment from a newer build), if any.
    pub fn refused(&self) -> Option<String> {
        self.lock().refused.clone()
    }

    /// The highest log version of any entry (0 for an empty log).
    pub fn max_version(&self) -> u64 {
        let inner = self.lock();
        inner
            .segments
            .values()
            .flat_map(|m| m.frames.iter().flat_map(|(_, es)| es.iter()))
            .map(|e| e.version)
            .max()
            .unwrap_or(0)
    }

    /// Every blob an entry of the log references (garbage collection keeps them).
    pub fn blobs(&self) -> Vec<BlobId> {
        let inner = self.lock();
        inner
            .segments
            .values()
            .flat_map(|m| m.blobs.iter().copied())
            .collect()
    }

    /// Create segment `seq` of `cap` bytes (or, when the disk has less room, of as much as it has
    /// down to `min`): header, preallocation, fsync, then the name. Returns the file and its size.
    fn create_segment(&self, seq: u64, cap: u64, min: u64) -> io::Result<(File, u64)> {
        // A segment takes at most an eighth of the free space: on a small volume the log must
        // not hold the room that data (packs, manifests) needs.
        let mut cap = match free_bytes(&self.dir) {
            Some(free) => cap.min((free / 8).max(min)),
            None => cap,
        };
        loop {
            match self.create_segment_of(seq, cap) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cap / 2 >= min => cap /= 2,
                r => return r.map(|f| (f, cap)),
            }
        }
    }

    fn create_segment_of(&self, seq: u64, cap: u64) -> io::Result<File> {
        let name = segment_name(seq);
        if !self.dir.is_dir() {
            self.step(WriteStep::CreateDir, &name)?;
            create_private_dir_all(&self.dir)?;
            if let Some(p) = self.dir.parent() {
                File::open(p)?.sync_all()?;
            }
        }
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let fin = self.dir.join(&name);
        let r = (|| {
            self.step(WriteStep::LogCreate, &name)?;
            let f = private_file()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all_at(&segment_header(seq), 0)?;
            preallocate(&f, cap)?;
            f.sync_all()?;
            self.step(WriteStep::Rename, &name)?;
            fs::rename(&tmp, &fin)?;
            Ok(f)
        })();
        let f = match r {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.step(WriteStep::SyncDir, &name)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(f)
    }

    /// Append one frame holding `entries` (each from [`frame::encode_entry`]) and the blobs they
    /// reference, and make it durable with one `fdatasync`. On error nothing is acknowledged and
    /// the next append writes over whatever part of this one reached the disk.
    pub fn append(&self, entries: &[Vec<u8>], blobs: &[BlobId]) -> Result<AppendStats> {
        let mut inner = self.lock();
        if let Some(r) = &inner.refused {
            return Err(Error::corrupt(
                self.dir.display().to_string(),
                format!("the log is not appended to: {r}"),
            ));
        }
        let payload = frame::encode_payload(entries, blobs);
        let seq_frame = inner.next_frame;
        // The frame's bytes depend on its segment; size them first.
        let probe_len = encode_frame(0, seq_frame, &payload).len() as u64;
        let mut created = false;
        let fits = inner
            .current
            .as_ref()
            .is_some_and(|c| c.pos + probe_len <= c.cap);
        if !fits {
            let seq = inner.segments.keys().next_back().map_or(1, |s| s + 1);
            let min = SEGMENT_HEADER as u64 + probe_len;
            let (file, cap) = self
                .create_segment(seq, self.opts.segment_bytes.max(min), min)
                .map_err(|e| {
                    Error::io(self.dir.join(segment_name(seq)).display().to_string(), e)
                })?;
            inner.segments.insert(seq, SegMeta::default());
            inner.current = Some(Current {
                seq,
                file,
                pos: SEGMENT_HEADER as u64,
                cap,
            });
            created = true;
        }
        let cur = inner.current.as_mut().expect("a current segment");
        let name = segment_name(cur.seq);
        let bytes = encode_frame(cur.seq, seq_frame, &payload);
        let file_name = || self.dir.join(&name).display().to_string();
        if let Err(e) = self.step(WriteStep::LogAppend, &name) {
            // A torn write: half the frame reaches the file.
            let _ = cur.file.write_all_at(&bytes[..bytes.len() / 2], cur.pos);
            return Err(Error::io(file_name(), e));
        }
        cur.file
            .write_all_at(&bytes, cur.pos)
            .map_err(|e| Error::io(file_name(), e))?;
        self.step(WriteStep::LogSync, &name)
            .and_then(|()| cur.file.sync_data())
            .map_err(|e| Error::io(file_name(), e))?;
        cur.pos += bytes.len() as u64;
        let seg = cur.seq;
        inner.next_frame += 1;
        let metas = decode_payload(&payload)
            .map(|p| {
                p.entries
                    .iter()
                    .map(|e| EntryMeta {
                        service: e.service.clone(),
                        version: e.version,
                        changes: e.changes.len() as u64,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let m = inner.segments.entry(seg).or_default();
        m.frames.push((bytes.len() as u64, metas));
        m.blobs.extend_from_slice(blobs);
        Ok(AppendStats {
            bytes: bytes.len() as u64,
            new_segment: created,
        })
    }

    /// Remove every segment but the one being appended to whose entries are all covered by a
    /// durable generation (`covered(service, version)`). Damaged segments are kept. Returns how
    /// many were removed. A crash between removals leaves covered segments, which a load skips.
    pub fn drop_covered(&self, covered: &dyn Fn(&str, u64) -> bool) -> Result<usize> {
        let mut inner = self.lock();
        let current = inner.current.as_ref().map(|c| c.seq);
        let doomed: Vec<u64> = inner
            .segments
            .iter()
            .filter(|(s, m)| {
                Some(**s) != current
                    && m.damaged.is_empty()
                    && m.frames
                        .iter()
                        .all(|(_, es)| es.iter().all(|e| covered(&e.service, e.version)))
            })
            .map(|(s, _)| *s)
            .collect();
        let mut n = 0;
        for seq in doomed {
            let name = segment_name(seq);
            let path = self.dir.join(&name);
            self.step(WriteStep::Remove, &name)
                .and_then(|()| match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                })
                .map_err(|e| Error::io(path.display().to_string(), e))?;
            inner.segments.remove(&seq);
            n += 1;
        }
        Ok(n)
    }

    /// Every entry and every damaged frame of the log, in log order, read from disk.
    pub fn read_all(&self) -> Result<Vec<LogItem>> {
        if let Some(r) = self.refused() {
            return Err(Error::corrupt(
                self.dir.display().to_string(),
                format!("the log cannot be replayed: {r}"),
            ));
        }
        read_items(&self.dir)
    }

    /// What the log holds; `covered` says which entries a durable generation already holds.
    pub fn status(&self, covered: &dyn Fn(&str, u64) -> bool) -> LogStatus {
        let inner = self.lock();
        let mut st = LogStatus {
            segments: inner.segments.len() as u64,
            refused: inner.refused.clone(),
            ..LogStatus::default()
        };
        for m in inner.segments.values() {
            st.damaged.extend(m.damaged.iter().cloned());
            for (bytes, es) in &m.frames {
                st.frames += 1;
                st.bytes += bytes;
                let mut pending = false;
                for e in es {
                    if !covered(&e.service, e.version) {
                        pending = true;
                        *st.pending_records.entry(e.service.clone()).or_default() += e.changes;
                    }
                }
                if pending {
                    st.pending_frames += 1;
                    st.pending_bytes += bytes;
                }
            }
        }
        st
    }
}

/// What one append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendStats {
    pub bytes: u64,
    pub new_segment: bool,
}

/// Read every item of the log in `dir` (read-only; for loads and `snapstack snapshot`).
pub fn read_items(dir: &Path) -> Result<Vec<LogItem>> {
    let seqs = list_segments(dir)?;
    let mut out = Vec::new();
    let mut torn_at: Option<(usize, String)> = None;
    for seq in seqs {
        let name = dir.join(segment_name(seq)).display().to_string();
        match read_checked(dir, seq)? {
            Read::Newer(msg) => {
                return Err(Error::corrupt(
                    dir.display().to_string(),
                    format!("the log cannot be replayed: {msg}"),
                ));
            }
            Read::Damaged(msg) => out.push(LogItem::Damage(msg)),
            Read::Ok(buf, s) => {
                let mut frames = s.frames.iter().peekable();
                let mut damaged = s.damaged.iter().peekable();
                if !s.frames.is_empty()
                    && let Some((i, msg)) = torn_at.take()
                {
                    // The previous segment's torn tail had frames after it: damage.
                    out.insert(i, LogItem::Damage(msg));
                }
                loop {
                    let next_frame = frames.peek().map(|f| f.offset);
                    let next_damage = damaged.peek().map(|d| d.0);
                    match (next_frame, next_damage) {
                        (Some(f), d) if d.is_none_or(|d| f < d) => {
                            let f = frames.next().unwrap();
                            match decode_payload(f.payload(&buf)) {
                                Ok(p) => {
                                    for entry in p.entries {
                                        out.push(LogItem::Entry {
                                            at: format!("{name} offset {}", f.offset),
                                            entry,
                                        });
                                    }
                                }
                                Err(e) => out.push(LogItem::Damage(format!(
                                    "{name} is damaged at offset {}: {e}",
                                    f.offset
                                ))),
                            }
                        }
                        (_, Some(_)) => {
                            let (off, why) = damaged.next().unwrap();
                            out.push(LogItem::Damage(format!(
                                "{name} is damaged at offset {off}: {why}"
                            )));
                        }
                        _ => break,
                    }
                }
                if let Some((off, why)) = s.torn_tail {
                    torn_at = Some((
                        out.len(),
                        format!("{name} is damaged at offset {off}: {why}"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Reserve `len` bytes for `f` so appends neither grow the file nor find the disk full.
/// Free bytes on the filesystem of `dir` (or of its parent, before it exists).
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let probe = if dir.exists() { dir } else { dir.parent()? };
    let c = std::ffi::CString::new(probe.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a zeroed, properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn preallocate(f: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on a file descriptor we own.
        let r = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
        if r != libc::EOPNOTSUPP && r != libc::EINVAL {
            return Err(io::Error::from_raw_os_error(r));
        }
    }
    f.set_len(len)
}

/// A map from service to its durable generation's log version, as a `covered` function.
pub fn covered_by(saved: &HashMap<String, u64>) -> impl Fn(&str, u64) -> bool + '_ {
    move |service, version| saved.get(service).is_some_and(|s| version <= *s)
}

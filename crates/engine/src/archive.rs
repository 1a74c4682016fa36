//! Snapshot archives (`docs/FORMAT.md` §12): one file holding a generation of chosen services,
//! their manifests and every chunk those reference (tree nodes, blob indexes, blob pieces), each
//! with its hash, for `snapstack snapshot export` / `import`.
//!
//! Both directions stream: a chunk at a time, so memory stays bounded by the largest chunk
//! (16 MiB) plus one 32-byte id per distinct chunk (the set that keeps each chunk once). An
//! import reads the archive twice: the first pass verifies everything (every hash, every
//! reference, the counts, the hash of the whole file) and writes nothing; only then does the
//! second pass store the chunks and write one new generation per service.

use std::collections::HashSet;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::blob::{BlobId, decode_index};
use crate::chunk_id::ChunkId;
use crate::chunk_store::{ChunkStore, MAX_CHUNK_LEN};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::manifest::{FORMAT_VERSION, Manifest};
use crate::tree::node_references;

/// The first 8 bytes of an archive.
pub const ARCHIVE_MAGIC: &[u8; 8] = b"SNAPARCH";
/// The last 8 bytes of an archive.
pub const ARCHIVE_END_MAGIC: &[u8; 8] = b"SNAPAEND";
/// The archive container version this build writes and the newest it reads.
pub const ARCHIVE_VERSION: u32 = 1;
/// The largest header body accepted.
const MAX_HEADER: usize = 1 << 20;
/// The largest manifest entry accepted (a manifest file is at most this long, §7).
const MAX_MANIFEST: usize = 16 + (64 << 10) + 32;

const KIND_END: u8 = 0;
const KIND_MANIFEST: u8 = 1;
const KIND_NODE: u8 = 2;
const KIND_BLOB_INDEX: u8 = 3;
const KIND_PIECE: u8 = 4;

fn kind_name(kind: u8) -> &'static str {
    match kind {
        KIND_MANIFEST => "manifest",
        KIND_NODE => "tree node",
        KIND_BLOB_INDEX => "blob index",
        KIND_PIECE => "blob piece",
        _ => "end",
    }
}

/// The archive's header: what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// The snapstack version that wrote it.
    pub snapstack_version: String,
    /// The snapshot format version of its manifests and chunks (§10).
    pub format_version: u32,
    pub created_unix_ms: u64,
    /// One entry per service, in the order of the manifests.
    pub services: Vec<ArchivedService>,
    /// Distinct chunks, and the bytes of their data.
    pub chunks: u64,
    pub chunk_bytes: u64,
}

/// One service's generation in an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedService {
    pub service: String,
    /// The generation exported (its number in the source volume).
    pub generation: u64,
    pub records: u64,
    pub tree_chunks: u64,
    pub tree_bytes: u64,
    /// Distinct blobs first reached from this service, and their bytes.
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// What an export will write, worked out before writing (so a progress bar knows the total).
#[derive(Clone, Debug)]
pub struct ExportPlan {
    pub header: ArchiveHeader,
    manifests: Vec<Manifest>,
}

/// What an import did, per service: the generation it created in the volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedService {
    pub service: String,
    pub archived_generation: u64,
    pub generation: u64,
    pub records: u64,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    pub header: ArchiveHeader,
    pub services: Vec<ImportedService>,
    /// Chunks the volume did not hold yet, and their bytes (the rest were already there).
    pub new_chunks: u64,
    pub new_bytes: u64,
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A chunk reached from a manifest, in the order the archive holds them.
enum Step {
    Node(ChunkId),
    Blob(BlobId),
}

/// What [`walk`] hands its visitor.
enum Visit<'a> {
    Node(&'a ChunkId, &'a [u8]),
    /// A blob: its id, the bytes of its index chunk, and its pieces.
    Blob(&'a BlobId, &'a [u8], &'a [(ChunkId, u32)]),
}

/// Walk the tree under `root` depth first, parents before children (no recursion: an explicit
/// stack), visiting each distinct tree node and each distinct blob (its pieces are the
/// visitor's to read, skipping those in `seen`).
fn walk(
    chunks: &dyn ChunkStore,
    root: Option<ChunkId>,
    seen: &mut HashSet<ChunkId>,
    visit: &mut dyn FnMut(Visit<'_>, &mut HashSet<ChunkId>) -> Result<()>,
) -> Result<()> {
    let mut stack: Vec<Step> = root.map(Step::Node).into_iter().collect();
    while let Some(step) = stack.pop() {
        match step {
            Step::Node(id) => {
                if !seen.insert(id) {
                    continue;
                }
                let bytes = chunks.get(&id)?;
                visit(Visit::Node(&id, &bytes), seen)?;
                let (children, blobs) = node_references(&id, &bytes)?;
                // Reversed, so that they come off the stack in order: a leaf's blobs right
                // after it, then the next child.
                stack.extend(children.into_iter().rev().map(Step::Node));
                stack.extend(blobs.into_iter().rev().map(Step::Blob));
            }
            Step::Blob(b) => {
                if !seen.insert(b.index) {
                    continue;
                }
                let bytes = chunks.get(&b.index)?;
                let (_, pieces) = decode_index(&bytes)
                    .map_err(|r| Error::corrupt(format!("blob index chunk {}", b.index), r))?;
                visit(Visit::Blob(&b, &bytes, &pieces), seen)?;
            }
        }
    }
    Ok(())
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    hasher: blake3::Hasher,
    written: u64,
}

impl HashingWriter<'_> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn entry(&mut self, kind: u8, id: Option<&ChunkId>, data: &[u8]) -> io::Result<()> {
        self.put(&[kind])?;
        self.put(&(data.len() as u32).to_le_bytes())?;
        if let Some(id) = id {
            self.put(&id.0)?;
        }
        self.put(data)
    }
}

impl Engine {
    /// Work out an export of `services` (default: every service with a saved generation) at
    /// `generation` (default: each one's newest): reads the manifests, the tree nodes and the
    /// blob indexes (not the blob pieces) to count what the archive will hold. Read-only.
    pub fn plan_export(
        &self,
        services: Option<&[String]>,
        generation: Option<u64>,
    ) -> Result<ExportPlan> {
        let m = self.manifest_files();
        let names: Vec<String> = match services {
            Some(s) => s.to_vec(),
            None => self.saved_services()?,
        };
        let mut manifests = Vec::new();
        for name in &names {
            let gens = m.generations(name)?;
            let g = match generation {
                Some(g) if gens.contains(&g) => g,
                Some(g) => {
                    return Err(Error::Service {
                        service: name.clone(),
                        source: Box::new(Error::corrupt(
                            "export",
                            format!("no saved generation {g} (saved generations: {gens:?})"),
                        )),
                    });
                }
                None => *gens.last().ok_or_else(|| Error::Service {
                    service: name.clone(),
                    source: Box::new(Error::corrupt("export", "no saved generation")),
                })?,
            };
            manifests.push(m.read(name, g).map_err(|e| e.in_service(name))?);
        }
        let chunks = self.pack_store().as_ref();
        let mut seen = HashSet::new();
        let mut services_out = Vec::new();
        let (mut total_chunks, mut total_bytes) = (0u64, 0u64);
        for man in &manifests {
            let mut svc = ArchivedService {
                service: man.service.clone(),
                generation: man.generation,
                records: man.records,
                tree_chunks: 0,
                tree_bytes: 0,
                blobs: 0,
                blob_bytes: 0,
            };
            walk(chunks, man.root, &mut seen, &mut |v, seen| {
                match v {
                    Visit::Node(_, bytes) => {
                        svc.tree_chunks += 1;
                        svc.tree_bytes += bytes.len() as u64;
                    }
                    Visit::Blob(b, index, pieces) => {
                        svc.blobs += 1;
                        svc.blob_bytes += b.size;
                        total_chunks += 1;
                        total_bytes += index.len() as u64;
                        for (id, len) in pieces {
                            if seen.insert(*id) {
                                total_chunks += 1;
                                total_bytes += u64::from(*len);
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(|e| e.in_service(&man.service))?;
            total_chunks += svc.tree_chunks;
            total_bytes += svc.tree_bytes;
            services_out.push(svc);
        }
        Ok(ExportPlan {
            header: ArchiveHeader {
                snapstack_version: crate::VERSION.to_string(),
                format_version: FORMAT_VERSION,
                created_unix_ms: now_unix_ms(),
                services: services_out,
                chunks: total_chunks,
                chunk_bytes: total_bytes,
            },
            manifests,
        })
    }

    /// Write the archive of `plan` to `out`, a chunk at a time, every chunk read from the store
    /// verified against its id. `progress` is called with the bytes written so far. Returns the
    /// archive's size.
    pub fn export_archive(
        &self,
        plan: &ExportPlan,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let io = |e: io::Error| Error::io("the archive", e);
        let mut w = HashingWriter {
            inner: out,
            hasher: blake3::Hasher::new(),
            written: 0,
        };
        let header = postcard::to_allocvec(&plan.header)
            .map_err(|e| Error::corrupt("archive header", e.to_string()))?;
        w.put(ARCHIVE_MAGIC).map_err(io)?;
        w.put(&ARCHIVE_VERSION.to_le_bytes()).map_err(io)?;
        w.put(&(header.len() as u32).to_le_bytes()).map_err(io)?;
        w.put(&header).map_err(io)?;
        let sum = *w.hasher.finalize().as_bytes();
        w.put(&sum).map_err(io)?;
        let chunks = self.pack_store().clone();
        let mut seen = HashSet::new();
        let (mut n_chunks, mut n_bytes) = (0u64, 0u64);
        for man in &plan.manifests {
            w.entry(KIND_MANIFEST, None, &man.encode()).map_err(io)?;
            let mut wrote = |kind: u8, id: &ChunkId, data: &[u8]| {
                n_chunks += 1;
                n_bytes += data.len() as u64;
                w.entry(kind, Some(id), data).map_err(io)?;
                progress(w.written);
                Ok::<(), Error>(())
            };
            walk(chunks.as_ref(), man.root, &mut seen, &mut |v, seen| {
                match v {
                    Visit::Node(id, bytes) => wrote(KIND_NODE, id, bytes)?,
                    Visit::Blob(b, index, pieces) => {
                        wrote(KIND_BLOB_INDEX, &b.index, index)?;
                        for (id, _) in pieces {
                            if seen.insert(*id) {
                                let data = chunks.get(id)?;
                                wrote(KIND_PIECE, id, &data)?;
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(|e| e.in_service(&man.service))?;
        }
        if n_chunks != plan.header.chunks || n_bytes != plan.header.chunk_bytes {
            return Err(Error::corrupt(
                "export",
                format!(
                    "the state changed while it was exported ({n_chunks} chunks of {n_bytes} bytes written, {} of {} planned); export again",
                    plan.header.chunks, plan.header.chunk_bytes
                ),
            ));
        }
        w.put(&[KIND_END]).map_err(io)?;
        w.put(&(plan.manifests.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.put(&n_chunks.to_le_bytes()).map_err(io)?;
        w.put(&n_bytes.to_le_bytes()).map_err(io)?;
        let sum = *w.hasher.finalize().as_bytes();
        w.put(&sum).map_err(io)?;
        w.put(ARCHIVE_END_MAGIC).map_err(io)?;
        w.inner.flush().map_err(io)?;
        progress(w.written);
        Ok(w.written)
    }

    /// Import the archive at `path`: verify all of it first (nothing is written if any byte is
    /// wrong: the error names the entry, its offset and what is wrong), then store its chunks
    /// and write, for each service, a new generation (the volume's newest + 1). `progress` gets
    /// the pass (1 verifying, 2 importing) and the bytes read so far in it. Run it only while
    /// no server uses the volume (see [`crate::lock`]).
    pub fn import_archive(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(u8, u64),
    ) -> Result<ImportReport> {
        let name = path.display().to_string();
        let open = || {
            std::fs::File::open(path)
                .map(|f| BufReader::with_capacity(1 << 20, f))
                .map_err(|e| Error::io(name.clone(), e))
        };
        // Pass 1: verify, writing nothing.
        verify_pass(&mut open()?, &name, &mut |pos| progress(1, pos))?;
        // Pass 2: store the chunks (verified again as they are read), then the manifests.
        let chunks = self.pack_store().clone();
        let (mut new_chunks, mut new_bytes) = (0u64, 0u64);
        let mut manifests = Vec::new();
        let header = read_archive(&mut open()?, &name, &mut |pos, e| {
            progress(2, pos);
            match e {
                Entry::Manifest(m) => manifests.push(m),
                Entry::Chunk(_, id, data) => {
                    if chunks.put(id, data)? {
                        new_chunks += 1;
                        new_bytes += data.len() as u64;
                    }
                }
            }
            Ok(())
        })?;
        chunks.sync()?;
        let files = self.manifest_files();
        let mut services = Vec::new();
        for m in manifests {
            let last = files.generations(&m.service)?.last().copied().unwrap_or(0);
            let store_version = self.log_floor(&m.service).max(m.store_version) + 1;
            let new = Manifest {
                generation: last + 1,
                store_version,
                created_unix_ms: now_unix_ms(),
                ..m.clone()
            };
            files.write(&new).map_err(|e| e.in_service(&m.service))?;
            services.push(ImportedService {
                service: m.service.clone(),
                archived_generation: m.generation,
                generation: new.generation,
                records: m.records,
            });
        }
        Ok(ImportReport {
            header,
            services,
            new_chunks,
            new_bytes,
        })
    }
}

/// One entry of an archive, verified.
enum Entry<'a> {
    Manifest(Manifest),
    Chunk(u8, ChunkId, &'a [u8]),
}

/// A reader that hashes and counts what it reads.
struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: blake3::Hasher,
    pos: u64,
}

impl HashingReader<'_> {
    fn exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        self.hasher.update(buf);
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }
}

/// Read and verify an archive from start to end, handing each entry to `visit` with the offset
/// reached. Checks the magic, versions, the header's hash and canonical encoding, every chunk
/// against its id, every manifest (its own hash, and that the header lists it), the trailer's
/// counts, the hash of the whole file and that nothing follows it. Returns the header.
fn read_archive(
    input: &mut dyn Read,
    name: &str,
    visit: &mut dyn FnMut(u64, Entry<'_>) -> Result<()>,
) -> Result<ArchiveHeader> {
    let mut r = HashingReader {
        inner: input,
        hasher: blake3::Hasher::new(),
        pos: 0,
    };
    let bad = |pos: u64, what: String| {
        Error::corrupt(
            name,
            format!("at offset {pos}: {what}; nothing was imported"),
        )
    };
    let eof = |pos: u64, e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            bad(pos, "the archive ends early (truncated)".into())
        } else {
            Error::io(name, e)
        }
    };
    let magic: [u8; 8] = r.array().map_err(|e| eof(0, e))?;
    if &magic != ARCHIVE_MAGIC {
        return Err(bad(0, "not a snapstack archive (bad magic)".into()));
    }
    let version = u32::from_le_bytes(r.array().map_err(|e| eof(8, e))?);
    if version > ARCHIVE_VERSION || version == 0 {
        return Err(bad(
            8,
            format!(
                "archive version {version}; this build reads versions 1 to {ARCHIVE_VERSION}{}",
                if version > ARCHIVE_VERSION {
                    ": upgrade snapstack to import it"
                } else {
                    ""
                }
            ),
        ));
    }
    let len = u32::from_le_bytes(r.array().map_err(|e| eof(12, e))?) as usize;
    if len > MAX_HEADER {
        return Err(bad(
            12,
            format!("a header of {len} bytes (at most {MAX_HEADER})"),
        ));
    }
    let mut body = vec![0u8; len];
    r.exact(&mut body).map_err(|e| eof(16, e))?;
    let expected = *r.hasher.finalize().as_bytes();
    let sum: [u8; 32] = r.array().map_err(|e| eof(r.pos, e))?;
    if sum != expected {
        return Err(bad(16, "the header does not match its hash".into()));
    }
    let header: ArchiveHeader = postcard::from_bytes(&body)
        .map_err(|e| bad(16, format!("the header does not decode: {e}")))?;
    if postcard::to_allocvec(&header).ok().as_deref() != Some(&body[..]) {
        return Err(bad(16, "the header is not in canonical form".into()));
    }
    if header.format_version > FORMAT_VERSION {
        return Err(Error::NewerFormat {
            file: name.to_string(),
            found: header.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let mut buf = Vec::new();
    let (mut n_manifests, mut n_chunks, mut n_bytes) = (0u64, 0u64, 0u64);
    let mut entry = 0u64;
    loop {
        let at = r.pos;
        let [kind] = r.array::<1>().map_err(|e| eof(at, e))?;
        if kind == KIND_END {
            break;
        }
        entry += 1;
        if !matches!(
            kind,
            KIND_MANIFEST | KIND_NODE | KIND_BLOB_INDEX | KIND_PIECE
        ) {
            return Err(bad(at, format!("entry {entry} has unknown kind {kind}")));
        }
        let len = u32::from_le_bytes(r.array().map_err(|e| eof(at, e))?) as usize;
        let max = if kind == KIND_MANIFEST {
            MAX_MANIFEST
        } else {
            MAX_CHUNK_LEN
        };
        if len > max {
            return Err(bad(
                at,
                format!(
                    "entry {entry} ({}) claims {len} bytes (at most {max})",
                    kind_name(kind)
                ),
            ));
        }
        let id = if kind == KIND_MANIFEST {
            None
        } else {
            Some(ChunkId(r.array().map_err(|e| eof(at, e))?))
        };
        buf.resize(len, 0);
        r.exact(&mut buf).map_err(|e| eof(at, e))?;
        match id {
            None => {
                let what = format!("{name}: entry {entry} (manifest) at offset {at}");
                let m = Manifest::decode(&buf, &what)?;
                if !header
                    .services
                    .iter()
                    .any(|s| s.service == m.service && s.generation == m.generation)
                {
                    return Err(bad(
                        at,
                        format!(
                            "entry {entry} is a manifest of {} generation {}, which the header does not list",
                            m.service, m.generation
                        ),
                    ));
                }
                n_manifests += 1;
                visit(r.pos, Entry::Manifest(m))?;
            }
            Some(id) => {
                if ChunkId::of(&buf) != id {
                    return Err(bad(
                        at,
                        format!(
                            "entry {entry} ({} {id}) does not match its hash: the archive is damaged",
                            kind_name(kind)
                        ),
                    ));
                }
                n_chunks += 1;
                n_bytes += len as u64;
                visit(r.pos, Entry::Chunk(kind, id, &buf)).map_err(|e| {
                    bad(at, format!("entry {entry} ({} {id}): {e}", kind_name(kind)))
                })?;
            }
        }
    }
    let at = r.pos;
    let counts: [u8; 24] = r.array().map_err(|e| eof(at, e))?;
    let count =
        |i: usize| u64::from_le_bytes(counts[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (t_manifests, t_chunks, t_bytes) = (count(0), count(1), count(2));
    let expected = *r.hasher.finalize().as_bytes();
    let sum: [u8; 32] = r.array().map_err(|e| eof(at, e))?;
    let end: [u8; 8] = r.array().map_err(|e| eof(at, e))?;
    if sum != expected {
        return Err(bad(
            at,
            "the archive does not match its hash (a byte of its framing was changed)".into(),
        ));
    }
    if &end != ARCHIVE_END_MAGIC {
        return Err(bad(at, "bad end magic".into()));
    }
    if (t_manifests, t_chunks, t_bytes) != (n_manifests, n_chunks, n_bytes)
        || n_manifests != header.services.len() as u64
        || n_chunks != header.chunks
        || n_bytes != header.chunk_bytes
    {
        return Err(bad(
            at,
            format!(
                "the archive holds {n_manifests} manifests and {n_chunks} chunks of {n_bytes} bytes, but says {t_manifests} manifests and {t_chunks} chunks of {t_bytes} bytes (header: {} services, {} chunks of {} bytes)",
                header.services.len(),
                header.chunks,
                header.chunk_bytes
            ),
        ));
    }
    let mut extra = [0u8; 1];
    match r.inner.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => {
            return Err(bad(r.pos, "bytes follow the end of the archive".into()));
        }
        Err(e) => return Err(Error::io(name, e)),
    }
    Ok(header)
}

/// Pass 1 of an import: read all of an archive and check it (every hash, every reference
/// present, the counts), writing nothing.
fn verify_pass(
    input: &mut dyn Read,
    name: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<ArchiveHeader> {
    let mut present = HashSet::new();
    let mut referenced = HashSet::new();
    let header = read_archive(input, name, &mut |pos, e| {
        progress(pos);
        match e {
            Entry::Manifest(m) => {
                referenced.extend(m.root);
            }
            Entry::Chunk(kind, id, data) => {
                present.insert(id);
                match kind {
                    KIND_NODE => {
                        let (children, blobs) = node_references(&id, data)?;
                        referenced.extend(children);
                        referenced.extend(blobs.iter().map(|b| b.index));
                    }
                    KIND_BLOB_INDEX => {
                        let (_, pieces) = decode_index(data)
                            .map_err(|r| Error::corrupt(format!("blob index chunk {id}"), r))?;
                        referenced.extend(pieces.iter().map(|p| p.0));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    })?;
    if let Some(missing) = referenced.iter().find(|id| !present.contains(*id)) {
        return Err(Error::corrupt(
            name,
            format!(
                "chunk {missing} is referenced by the archive but not in it (the archive is incomplete); nothing was imported"
            ),
        ));
    }
    Ok(header)
}

/// Check all of the archive at `path` (what `import` does before it writes anything), without a
/// volume. Returns its header.
pub fn verify_archive(path: &Path, progress: &mut dyn FnMut(u64)) -> Result<ArchiveHeader> {
    let name = path.display().to_string();
    let mut f = BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(path).map_err(|e| Error::io(name.clone(), e))?,
    );
    verify_pass(&mut f, &name, progress)
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;

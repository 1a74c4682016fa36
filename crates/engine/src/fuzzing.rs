//! Entry points for the engine's fuzz targets (`fuzz/`) and hostile-input tests: each feeds
//! arbitrary bytes to one decoder the way the engine would, and must return (an error is fine)
//! without panicking, hanging or allocating without bound. Not a stable API.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::chunk_store::{ChunkStore, PackStore};
use crate::manifest::Manifest;
use crate::tree::Tree;
use crate::{ChunkId, Key, Record};

/// Files in memory: a [`Backend`] for feeding fuzzed files to the real readers without a disk.
#[derive(Debug, Default)]
pub struct MemBackend {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemBackend {
    pub fn with_file(path: &str, data: &[u8]) -> Self {
        let b = MemBackend::default();
        b.lock().insert(path.to_string(), data.to_vec());
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.to_string())
}

impl Backend for MemBackend {
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()> {
        self.lock().insert(path.to_string(), parts.concat());
        Ok(())
    }
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.lock()
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }
    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let files = self.lock();
        let f = files.get(path).ok_or_else(|| not_found(path))?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start.checked_add(len).ok_or(io::ErrorKind::UnexpectedEof)?;
        f.get(start..end)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }
    fn size(&self, path: &str) -> io::Result<u64> {
        self.lock()
            .get(path)
            .map(|f| f.len() as u64)
            .ok_or_else(|| not_found(path))
    }
    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = format!("{dir}/");
        Ok(self
            .lock()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/') && !rest.starts_with('.'))
            .map(str::to_string)
            .collect())
    }
    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = format!("{dir}/");
        let mut out: Vec<String> = self
            .lock()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once('/').map(|(d, _)| d.to_string()))
            .collect();
        out.dedup();
        Ok(out)
    }
    fn remove(&self, path: &str) -> io::Result<()> {
        self.lock().remove(path);
        Ok(())
    }
    fn location(&self, path: &str) -> String {
        format!("mem:{path}")
    }
}

/// A record type for decoding fuzzed trees: any postcard byte string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bytes(pub Vec<u8>);
impl Record for Bytes {}

/// A manifest file (`manifests/<service>/<generation>.manifest`).
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::decode(data, "fuzz.manifest") {
        // What decodes must encode back to the same bytes (there is one encoding).
        assert_eq!(
            m.encode(),
            data,
            "a manifest decoded from bytes it does not encode to"
        );
    }
}

/// A pack file: open a chunk store holding it as its only pack (the index and trailer parser,
/// and the salvage walk of a damaged pack), then read every chunk its index or entries name.
pub fn pack(data: &[u8]) {
    let backend = Arc::new(MemBackend::with_file("packs/0000000000000001.pack", data));
    let store = PackStore::open(backend).expect("opening a damaged pack must not fail the store");
    let mut ids = Vec::new();
    // The first entry's id, and the ids of the last 64 index slots before the trailer.
    if let Some(b) = data.get(20..52) {
        ids.push(ChunkId(b.try_into().unwrap()));
    }
    if data.len() >= 56 {
        let mut end = data.len() - 56;
        for _ in 0..64 {
            let Some(start) = end.checked_sub(44) else {
                break;
            };
            ids.push(ChunkId(data[start..start + 32].try_into().unwrap()));
            end = start;
        }
    }
    for id in ids {
        if let Ok(bytes) = store.get(&id) {
            assert_eq!(ChunkId::of(&bytes), id, "a chunk read back unverified");
        }
    }
    let _ = store.stats();
}

/// A tree node (and, through it, any tree) from arbitrary bytes: `data[0]` picks the height the
/// manifest would claim, the rest is the root chunk.
pub fn tree_node(data: &[u8]) {
    let Some((&h, node)) = data.split_first() else {
        return;
    };
    let store = PackStore::open(Arc::new(MemBackend::default())).unwrap();
    let id = ChunkId::of(node);
    store.put(id, node).unwrap();
    let _ = Tree::<Bytes>::load(Some(id), usize::from(h % 16), &store);
}

/// A blob index chunk.
pub fn blob_index(data: &[u8]) {
    let _ = crate::blob::decode_index(data);
}

/// A key's parts.
pub fn key(data: &[u8]) {
    let _ = Key::from_bytes(data).parts();
}

//! The locking-snapshot baseline, for benchmarks only: what LocalStack's persistence does, in
//! Rust. A service's state is a `Mutex<BTreeMap>`; every request takes the lock; a snapshot holds
//! the same lock for the whole serialize-and-write of the full state (every record encoded with
//! postcard into one buffer, written to one file, fsynced), so no request of that service is
//! served until the file is durable.
//!
//! It is compiled into `benches/latency.rs` and `tests/locking_baseline.rs` by path; the product
//! never uses it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use snapstack::Key;

/// What one snapshot did.
#[derive(Clone, Copy, Debug)]
pub struct LockingSave {
    pub bytes: u64,
    /// Time the service lock was held: serialize, write and fsync.
    pub duration: Duration,
}

/// A service store guarded by one lock, saved while holding it.
pub struct LockingStore<V> {
    map: Mutex<BTreeMap<Key, V>>,
    file: PathBuf,
}

impl<V: Serialize + DeserializeOwned + Clone> LockingStore<V> {
    /// A store whose snapshots go to `dir/<name>.state`.
    pub fn new(dir: &Path, name: &str) -> Self {
        LockingStore {
            map: Mutex::new(BTreeMap::new()),
            file: dir.join(format!("{name}.state")),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, V>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, key: Key, value: V) -> Option<V> {
        self.lock().insert(key, value)
    }

    /// Run `f` on the record under `key`, holding the lock (a request reading state).
    pub fn read<R>(&self, key: &Key, f: impl FnOnce(Option<&V>) -> R) -> R {
        f(self.lock().get(key))
    }

    /// Insert many records under one lock.
    pub fn extend(&self, records: impl IntoIterator<Item = (Key, V)>) {
        self.lock().extend(records)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Take a snapshot the locking way: hold the service lock while every record is serialized
    /// into one buffer, the buffer is written to the state file and the file is fsynced.
    pub fn save(&self) -> io::Result<LockingSave> {
        let map = self.lock();
        let started = Instant::now();
        let buf = encode(&map)?;
        let mut f = File::create(&self.file)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        let duration = started.elapsed();
        drop(map);
        Ok(LockingSave {
            bytes: buf.len() as u64,
            duration,
        })
    }

    /// Replace the state with the one in the state file.
    pub fn load(&self) -> io::Result<usize> {
        let bytes = std::fs::read(&self.file)?;
        let map = decode(&bytes)?;
        let n = map.len();
        *self.lock() = map;
        Ok(n)
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The state file: a postcard varint record count, then each record as postcard
/// `(key bytes, value)`.
pub fn encode<V: Serialize>(map: &BTreeMap<Key, V>) -> io::Result<Vec<u8>> {
    let mut buf = postcard::to_allocvec(&(map.len() as u64)).map_err(invalid)?;
    for (k, v) in map {
        buf = postcard::to_extend(&(k.as_bytes(), v), buf).map_err(invalid)?;
    }
    Ok(buf)
}

pub fn decode<V: DeserializeOwned>(mut bytes: &[u8]) -> io::Result<BTreeMap<Key, V>> {
    let (n, rest): (u64, _) = postcard::take_from_bytes(bytes).map_err(invalid)?;
    bytes = rest;
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let ((k, v), rest): ((Vec<u8>, V), _) =
            postcard::take_from_bytes(bytes).map_err(invalid)?;
        map.insert(Key::from_bytes(&k), v);
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(invalid("trailing bytes after the last record"));
    }
    Ok(map)
}

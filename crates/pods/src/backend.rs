//! The engine's [`Backend`] over any object store: whole files under `/`-separated paths, so an
//! engine (or a tool built on one) can keep its files on a remote as on a disk. A write is one
//! PUT, which object stores make atomic: a reader sees the old object or the new one, never a
//! torn one.
//!
//! The trait is blocking; each call runs on this backend's own runtime and the caller waits for
//! it, so it may be called from any thread, including a runtime's blocking threads.

use std::io;
use std::sync::Arc;

use snapstack_engine::backend::Backend;

use crate::remote::Remote;

pub struct ObjectStoreBackend {
    remote: Remote,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectStoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStoreBackend({})", self.remote.display)
    }
}

fn io_err(e: crate::PodError) -> io::Error {
    io::Error::other(e.0)
}

impl ObjectStoreBackend {
    pub fn new(remote: Remote) -> io::Result<Arc<Self>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(Arc::new(ObjectStoreBackend { remote, rt }))
    }

    /// Run `f` on this backend's runtime and wait for its result.
    fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = crate::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| io::Error::other("the object store task stopped"))?
            .map_err(io_err)
    }
}

impl Backend for ObjectStoreBackend {
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()> {
        let data = parts.concat();
        let r = self.remote.clone();
        let p = path.to_string();
        self.run(async move { r.put(&p, data).await })
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let r = self.remote.clone();
        let p = path.to_string();
        self.run(async move { r.get(&p).await })?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{path} not found")))
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let store = self.remote.store.clone();
        let p = object_store::path::Path::from(path);
        let display = self.remote.display.clone();
        let bytes = self.run(async move {
            store
                .get_range(&p, offset..offset + len as u64)
                .await
                .map_err(|e| crate::PodError(format!("reading {p} on {display}: {e}")))
        })?;
        if bytes.len() != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: {} bytes at {offset}, not {len}", bytes.len()),
            ));
        }
        Ok(bytes.to_vec())
    }

    fn size(&self, path: &str) -> io::Result<u64> {
        let store = self.remote.store.clone();
        let p = object_store::path::Path::from(path);
        let display = self.remote.display.clone();
        self.run(async move {
            store
                .head(&p)
                .await
                .map(|m| m.size)
                .map_err(|e| crate::PodError(format!("reading {p} on {display}: {e}")))
        })
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let r = self.remote.clone();
        let d = dir.to_string();
        self.run(async move { r.list_names(&d).await })
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        let r = self.remote.clone();
        let d = dir.to_string();
        self.run(async move { r.list_dirs(&d).await })
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        let r = self.remote.clone();
        let p = path.to_string();
        self.run(async move { r.delete(&p).await })
    }

    fn location(&self, path: &str) -> String {
        format!("{}/{path}", self.remote.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole engine runs on a directory remote through the trait: save, reopen, load.
    #[test]
    fn an_engine_saves_and_loads_through_an_object_store() {
        use snapstack_engine::{Engine, EngineOptions, Key, Record, Store};
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Note(String);
        impl Record for Note {}
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let options = EngineOptions {
            background_saves: false,
            direct_writes: false,
            ..EngineOptions::default()
        };
        {
            let backend = ObjectStoreBackend::new(Remote::open(&url).unwrap()).unwrap();
            let engine = Engine::with_backend(backend, options.clone()).unwrap();
            let store = Store::<Note>::new("notes");
            engine.register(store.clone()).unwrap();
            store.write(|t| {
                for i in 0..300u64 {
                    t.insert(Key::builder().u64(i).build(), Note(format!("note {i}")));
                }
            });
            let r = engine.save(&["notes"]);
            assert!(r[0].1.is_ok(), "{r:?}");
        }
        let backend = ObjectStoreBackend::new(Remote::open(&url).unwrap()).unwrap();
        assert!(backend.size("nope").is_err());
        let engine = Engine::with_backend(backend, options).unwrap();
        let store = Store::<Note>::new("notes");
        engine.register(store.clone()).unwrap();
        let rep = engine.load("notes").unwrap();
        assert_eq!(rep.generation, Some(1));
        assert_eq!(store.snapshot().len(), 300);
        assert!(engine.verify().unwrap().is_clean());
    }
}

//! The local-filesystem backend: files under one root directory, written atomically with a
//! temporary file, `fsync`, `rename` and a directory `fsync`.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::direct::DirectWriter;
use super::{Backend, create_private_dir_all, invalid_path, private_file, valid_path};

/// One step of an atomic file write, as seen by a [`WriteHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteStep {
    /// Create the parent directory (only when it is missing).
    CreateDir,
    /// Create the temporary file.
    CreateTemp,
    /// Write the bytes into the temporary file. A hook error here leaves half of them written.
    WriteData,
    /// `fsync` the temporary file.
    SyncFile,
    /// Rename the temporary file over the final name.
    Rename,
    /// `fsync` the directory so the rename is durable.
    SyncDir,
    /// Remove a file.
    Remove,
    /// Create a write-ahead log segment (`log/`): header, preallocation and `fsync`.
    LogCreate,
    /// Write a frame into a log segment. A hook error here leaves half of it written.
    LogAppend,
    /// `fdatasync` a log segment after an append.
    LogSync,
}

/// Called before every step of a write or removal; an error aborts the operation at that step as
/// if the disk had failed there. Used to inject faults in tests.
pub type WriteHook = Arc<dyn Fn(WriteStep, &str) -> io::Result<()> + Send + Sync>;

/// Files on the local disk under one directory.
pub struct LocalBackend {
    root: PathBuf,
    hook: Option<WriteHook>,
    files: Mutex<HashMap<String, Arc<File>>>,
    temp_counter: AtomicU64,
    direct: DirectWriter,
}

impl fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBackend")
            .field("root", &self.root)
            .field("direct_writes", &self.direct.enabled())
            .finish()
    }
}

impl LocalBackend {
    /// A backend rooted at `root`, which is created if missing. Files of 1 MiB and more are
    /// written past the page cache where the filesystem allows it (see `direct.rs`).
    pub fn open(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref().to_path_buf();
        create_private_dir_all(&root)?;
        Ok(LocalBackend {
            root,
            hook: None,
            files: Mutex::new(HashMap::new()),
            temp_counter: AtomicU64::new(0),
            direct: DirectWriter::new(true),
        })
    }

    /// The same backend writing every file through the page cache (`false`), or large files past
    /// it where the filesystem allows (`true`, the default).
    pub fn with_direct_writes(mut self, on: bool) -> Self {
        self.direct = DirectWriter::new(on);
        self
    }

    /// The same backend with a hook called before every write step.
    pub fn with_hook(mut self, hook: WriteHook) -> Self {
        self.hook = Some(hook);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn step(&self, step: WriteStep, path: &str) -> io::Result<()> {
        match &self.hook {
            Some(h) => h(step, path),
            None => Ok(()),
        }
    }

    fn full(&self, path: &str) -> io::Result<PathBuf> {
        if !valid_path(path) {
            return Err(invalid_path(path));
        }
        Ok(self.root.join(path))
    }

    fn dir(&self, dir: &str) -> io::Result<PathBuf> {
        if dir.is_empty() {
            Ok(self.root.clone())
        } else {
            self.full(dir)
        }
    }

    fn forget(&self, path: &str) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }

    fn handle(&self, path: &str) -> io::Result<Arc<File>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.full(path)?)?);
        if files.len() >= 256 {
            files.clear();
        }
        files.insert(path.to_string(), f.clone());
        Ok(f)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Backend for LocalBackend {
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()> {
        let full = self.full(path)?;
        let dir = full
            .parent()
            .ok_or_else(|| invalid_path(path))?
            .to_path_buf();
        if !dir.is_dir() {
            self.step(WriteStep::CreateDir, path)?;
            create_private_dir_all(&dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let name = full
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| invalid_path(path))?;
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        self.step(WriteStep::CreateTemp, path)?;
        let mut file = private_file().write(true).create_new(true).open(&tmp)?;
        let result = (|| {
            if let Err(e) = self.step(WriteStep::WriteData, path) {
                // A torn write: part of the data reached the temporary file.
                if let Some(first) = parts.first() {
                    file.write_all(&first[..first.len() / 2])?;
                }
                return Err(e);
            }
            if !self.direct.write(&tmp, parts)? {
                for part in parts {
                    file.write_all(part)?;
                }
            }
            self.step(WriteStep::SyncFile, path)?;
            file.sync_all()?;
            drop(file);
            self.step(WriteStep::Rename, path)?;
            fs::rename(&tmp, &full)
        })();
        if let Err(e) = result {
            // The temporary file is ours and holds nothing anyone references.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.forget(path);
        self.step(WriteStep::SyncDir, path)?;
        sync_dir(&dir)
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.full(path)?)
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let f = self.handle(path)?;
        // `len` may come from a damaged or hostile file: fail, never abort, if it cannot be had.
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot allocate {len} bytes to read"),
            )
        })?;
        buf.resize(len, 0);
        f.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn size(&self, path: &str) -> io::Result<u64> {
        Ok(fs::metadata(self.full(path)?)?.len())
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        list(&self.dir(dir)?, false)
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        list(&self.dir(dir)?, true)
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        let full = self.full(path)?;
        self.step(WriteStep::Remove, path)?;
        self.forget(path);
        match fs::remove_file(&full) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn location(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }
}

fn list(dir: &Path, dirs: bool) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() == dirs {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::open(dir.path()).unwrap();
        b.write("a/x.bin", b"hello").unwrap();
        b.write("a/x.bin", b"world!").unwrap();
        assert_eq!(b.read("a/x.bin").unwrap(), b"world!");
        assert_eq!(b.read_at("a/x.bin", 1, 3).unwrap(), b"orl");
        assert_eq!(b.size("a/x.bin").unwrap(), 6);
        assert_eq!(b.list("a").unwrap(), vec!["x.bin"]);
        assert_eq!(b.list_dirs("").unwrap(), vec!["a"]);
        b.remove("a/x.bin").unwrap();
        b.remove("a/x.bin").unwrap();
        assert!(b.list("a").unwrap().is_empty());
        assert!(b.list("missing").unwrap().is_empty());
        assert!(b.write("../escape", b"x").is_err());
    }

    #[test]
    fn large_files_read_back_the_same_written_directly_or_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let head: Vec<u8> = (0..3_000_001u32).map(|i| (i % 251) as u8).collect();
        let tail = b"trailer".to_vec();
        for direct in [true, false] {
            let b = LocalBackend::open(dir.path())
                .unwrap()
                .with_direct_writes(direct);
            let name = format!("big-{direct}.pack");
            b.write_parts(&name, &[&head, &tail]).unwrap();
            let got = b.read(&name).unwrap();
            assert_eq!(got.len(), head.len() + tail.len());
            assert!(got[..head.len()] == head[..] && got[head.len()..] == tail[..]);
            assert_eq!(b.size(&name).unwrap(), got.len() as u64);
        }
        let names = dir_names(dir.path());
        assert_eq!(
            names,
            vec!["big-false.pack", "big-true.pack"],
            "no temp file left"
        );
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let hook: WriteHook = Arc::new(|step, _| {
            if step == WriteStep::WriteData {
                Err(io::Error::other("injected"))
            } else {
                Ok(())
            }
        });
        let plain = LocalBackend::open(dir.path()).unwrap();
        plain.write("f", b"old").unwrap();
        let b = LocalBackend::open(dir.path()).unwrap().with_hook(hook);
        assert!(b.write("f", b"new contents").is_err());
        assert_eq!(plain.read("f").unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}

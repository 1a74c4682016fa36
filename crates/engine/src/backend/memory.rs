//! An in-memory backend: the same files, kept in a map. For running without persistence (large
//! values still go through the chunk store) and for tests. Nothing survives the process.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;

use super::{Backend, invalid_path, valid_path};

/// Files in memory.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn check(path: &str) -> io::Result<()> {
        if valid_path(path) {
            Ok(())
        } else {
            Err(invalid_path(path))
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn not_found(path: &str) -> io::Error {
        io::Error::new(io::ErrorKind::NotFound, format!("{path}: no such file"))
    }

    fn children(&self, dir: &str, dirs: bool) -> Vec<String> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out: Vec<String> = self
            .files()
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| match rest.split_once('/') {
                Some((d, _)) if dirs => Some(d.to_string()),
                None if !dirs => Some(rest.to_string()),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }
}

impl Backend for MemoryBackend {
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()> {
        Self::check(path)?;
        let data = parts.concat();
        self.files().insert(path.to_string(), data);
        Ok(())
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        Self::check(path)?;
        self.files()
            .get(path)
            .cloned()
            .ok_or_else(|| Self::not_found(path))
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        Self::check(path)?;
        let files = self.files();
        let f = files.get(path).ok_or_else(|| Self::not_found(path))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        f.get(start..start.saturating_add(len))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))
    }

    fn size(&self, path: &str) -> io::Result<u64> {
        Self::check(path)?;
        self.files()
            .get(path)
            .map(|f| f.len() as u64)
            .ok_or_else(|| Self::not_found(path))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        Ok(self.children(dir, false))
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        Ok(self.children(dir, true))
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        Self::check(path)?;
        self.files().remove(path);
        Ok(())
    }

    fn location(&self, path: &str) -> String {
        format!("memory:{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_directory_tree() {
        let b = MemoryBackend::new();
        b.write("packs/1.pack", b"abc").unwrap();
        b.write_parts("manifests/s3/1.manifest", &[b"x", b"y"])
            .unwrap();
        assert_eq!(b.read("manifests/s3/1.manifest").unwrap(), b"xy");
        assert_eq!(b.read_at("packs/1.pack", 1, 2).unwrap(), b"bc");
        assert!(b.read_at("packs/1.pack", 2, 5).is_err());
        assert_eq!(b.list("packs").unwrap(), vec!["1.pack"]);
        assert_eq!(b.list_dirs("manifests").unwrap(), vec!["s3"]);
        assert_eq!(b.list_dirs("").unwrap(), vec!["manifests", "packs"]);
        b.remove("packs/1.pack").unwrap();
        assert!(b.read("packs/1.pack").is_err());
    }
}

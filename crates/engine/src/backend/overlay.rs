//! A read-only view of a backend with writes kept in memory: for a server that restores saved
//! state but must leave the state directory exactly as it found it
//! (`SNAPSTACK_PERSIST_MODE=restore-only`). Reads see what was written in this process first,
//! then the files below; removals only hide files below, they never touch them.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};

use super::{Backend, MemoryBackend};

/// Files of `lower` (never written to), overlaid by files written in this process.
#[derive(Debug)]
pub struct OverlayBackend {
    lower: Arc<dyn Backend>,
    upper: MemoryBackend,
    /// Files of `lower` removed in this process (hidden, not deleted).
    hidden: Mutex<BTreeSet<String>>,
}

impl OverlayBackend {
    pub fn new(lower: Arc<dyn Backend>) -> Self {
        OverlayBackend {
            lower,
            upper: MemoryBackend::new(),
            hidden: Mutex::new(BTreeSet::new()),
        }
    }

    fn hidden(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.hidden.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_upper(&self, path: &str) -> bool {
        self.upper.size(path).is_ok()
    }

    fn lower_visible(&self, path: &str) -> io::Result<()> {
        if self.hidden().contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path}: no such file"),
            ));
        }
        Ok(())
    }

    fn merge(
        &self,
        dir: &str,
        mut upper: Vec<String>,
        lower: Vec<String>,
        dirs: bool,
    ) -> Vec<String> {
        let hidden = self.hidden();
        for name in lower {
            let path = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if dirs || !hidden.contains(&path) {
                upper.push(name);
            }
        }
        upper.sort();
        upper.dedup();
        upper
    }
}

impl Backend for OverlayBackend {
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()> {
        self.upper.write_parts(path, parts)?;
        self.hidden().insert(path.to_string());
        Ok(())
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if self.in_upper(path) {
            return self.upper.read(path);
        }
        self.lower_visible(path)?;
        self.lower.read(path)
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if self.in_upper(path) {
            return self.upper.read_at(path, offset, len);
        }
        self.lower_visible(path)?;
        self.lower.read_at(path, offset, len)
    }

    fn size(&self, path: &str) -> io::Result<u64> {
        if let Ok(n) = self.upper.size(path) {
            return Ok(n);
        }
        self.lower_visible(path)?;
        self.lower.size(path)
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let upper = self.upper.list(dir)?;
        let lower = self.lower.list(dir)?;
        Ok(self.merge(dir, upper, lower, false))
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        let upper = self.upper.list_dirs(dir)?;
        let lower = self.lower.list_dirs(dir)?;
        Ok(self.merge(dir, upper, lower, true))
    }

    fn remove(&self, path: &str) -> io::Result<()> {
        self.upper.remove(path)?;
        self.hidden().insert(path.to_string());
        Ok(())
    }

    fn location(&self, path: &str) -> String {
        if self.in_upper(path) {
            format!("memory (restore-only):{path}")
        } else {
            self.lower.location(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_removals_never_reach_the_files_below() {
        let lower = Arc::new(MemoryBackend::new());
        lower.write("packs/1.pack", b"disk").unwrap();
        lower.write("manifests/s3/1.manifest", b"m1").unwrap();
        let o = OverlayBackend::new(lower.clone());
        assert_eq!(o.read("packs/1.pack").unwrap(), b"disk");
        o.write("packs/2.pack", b"memory").unwrap();
        o.write("packs/1.pack", b"shadow").unwrap();
        assert_eq!(o.read("packs/1.pack").unwrap(), b"shadow");
        assert_eq!(o.list("packs").unwrap(), vec!["1.pack", "2.pack"]);
        o.remove("packs/1.pack").unwrap();
        o.remove("manifests/s3/1.manifest").unwrap();
        assert!(o.read("packs/1.pack").is_err());
        assert!(o.size("manifests/s3/1.manifest").is_err());
        assert_eq!(o.list("packs").unwrap(), vec!["2.pack"]);
        assert!(o.list("manifests/s3").unwrap().is_empty());
        // Below, nothing changed.
        assert_eq!(lower.read("packs/1.pack").unwrap(), b"disk");
        assert_eq!(lower.list("packs").unwrap(), vec!["1.pack"]);
        assert_eq!(lower.read("manifests/s3/1.manifest").unwrap(), b"m1");
        assert_eq!(o.read_at("packs/2.pack", 2, 3).unwrap(), b"mor");
    }
}

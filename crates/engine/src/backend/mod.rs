//! Where snapshot files live. A [`Backend`] stores whole files under relative, `/`-separated paths;
//! the chunk store and the manifests are built on top of it, so a new place to keep snapshots
//! (object storage, a fault-injecting wrapper) only has to implement this small trait.

use std::fmt;
use std::io;

mod direct;
mod faults;
mod local;
mod memory;
mod overlay;
mod private;

pub use faults::{FaultKind, FaultPlan};
pub use local::{LocalBackend, WriteHook, WriteStep};
pub use memory::MemoryBackend;
pub use overlay::OverlayBackend;
pub(crate) use private::{create_private_dir_all, private_file};

/// A place to keep files.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Write a whole file atomically and durably: once this returns `Ok`, the file holds exactly
    /// `data`, even after a crash; if it fails or the process dies, the path holds its old
    /// contents or does not exist. Never a torn file under the final name.
    fn write(&self, path: &str, data: &[u8]) -> io::Result<()> {
        self.write_parts(path, &[data])
    }
    /// [`Backend::write`] of the concatenation of `parts`, without concatenating them in memory.
    fn write_parts(&self, path: &str, parts: &[&[u8]]) -> io::Result<()>;
    /// Read a whole file.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// Read exactly `len` bytes at `offset`.
    fn read_at(&self, path: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// The size of a file in bytes.
    fn size(&self, path: &str) -> io::Result<u64>;
    /// The names of the files directly under `dir` (no temporary files). A missing directory is
    /// empty.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    /// The names of the subdirectories directly under `dir`.
    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Remove a file. Removing a missing file is not an error.
    fn remove(&self, path: &str) -> io::Result<()>;
    /// A human-readable location for error messages (a full path on disk).
    fn location(&self, path: &str) -> String;
}

/// Whether `path` is a safe relative path: non-empty `/`-separated components of
/// `[A-Za-z0-9._-]`, none of them `.` or `..`, none starting with `.`.
pub(crate) fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 255
        && path.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

pub(crate) fn invalid_path(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid snapshot path {path:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn paths_are_validated() {
        assert!(valid_path("packs/0001.pack"));
        assert!(valid_path("manifests/ssm/0000000000000001.manifest"));
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", ".hidden", "a/.tmp", "a b", "a\\b",
        ] {
            assert!(!valid_path(bad), "{bad:?}");
        }
    }
}

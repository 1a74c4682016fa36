//! The volume lock: one server writes a volume at a time, and offline tools that rewrite it
//! (`snapstack snapshot gc`, `snapshot import`) run only while no server holds it.
//!
//! An advisory `flock(2)` on `<volume>/.snapstack.lock`: exclusive for a server that saves and for
//! the rewriting tools, shared for a server that only restores (several of those may share a
//! volume). The kernel drops the lock when its holder exits, however it exits, so a crashed server
//! never leaves the volume locked. The file holds the holder's pid, for the messages.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::backend::{create_private_dir_all, private_file};

/// The lock file's name inside the volume directory.
pub const LOCK_FILE: &str = ".snapstack.lock";

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Alone: a server that saves, or a tool that rewrites the state.
    Exclusive,
    /// Beside other shared holders: a server that only restores.
    Shared,
}

/// A held volume lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct VolumeLock {
    file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the volume {volume} is in use by a running snapstack server{holder}; stop it first (the lock is {file})"
    )]
    Busy {
        volume: String,
        file: String,
        holder: String,
    },
    #[error("cannot lock the volume {volume}: {source}")]
    Io {
        volume: String,
        #[source]
        source: io::Error,
    },
}

impl VolumeLock {
    /// Take the lock of the volume directory `volume` (created if missing), without waiting.
    pub fn try_acquire(volume: &Path, mode: LockMode) -> Result<VolumeLock, LockError> {
        let io_err = |source| LockError::Io {
            volume: volume.display().to_string(),
            source,
        };
        create_private_dir_all(volume).map_err(io_err)?;
        let path = volume.join(LOCK_FILE);
        let mut file = private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let op = match mode {
            LockMode::Exclusive => libc::LOCK_EX,
            LockMode::Shared => libc::LOCK_SH,
        } | libc::LOCK_NB;
        // SAFETY: `flock` takes a file descriptor this function owns (open until `file` drops)
        // and an integer; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::Busy {
                    volume: volume.display().to_string(),
                    file: path.display().to_string(),
                    holder: if pid.is_empty() || pid.len() > 20 {
                        String::new()
                    } else {
                        format!(" (pid {pid})")
                    },
                });
            }
            return Err(io_err(e));
        }
        // Best effort: the pid only makes the message of a refused lock friendlier (of several
        // shared holders, the last one's is kept).
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        Ok(VolumeLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for VolumeLock {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release the lock too.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_everyone_and_shared_holders_share() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("volume");
        let a = VolumeLock::try_acquire(&v, LockMode::Exclusive).unwrap();
        let e = VolumeLock::try_acquire(&v, LockMode::Exclusive).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("in use by a running snapstack server"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(VolumeLock::try_acquire(&v, LockMode::Shared).is_err());
        drop(a);
        let s1 = VolumeLock::try_acquire(&v, LockMode::Shared).unwrap();
        let s2 = VolumeLock::try_acquire(&v, LockMode::Shared).unwrap();
        assert!(VolumeLock::try_acquire(&v, LockMode::Exclusive).is_err());
        drop((s1, s2));
        VolumeLock::try_acquire(&v, LockMode::Exclusive).unwrap();
    }
}

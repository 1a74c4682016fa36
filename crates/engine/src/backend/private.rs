//! The state directory holds key material and secret values (KMS, Secrets Manager, IAM): every
//! directory the engine creates is `0700` and every file `0600`, whatever the process's umask.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The permission bits of a directory the engine creates: owner only.
pub const DIR_MODE: u32 = 0o700;
/// The permission bits of a file the engine creates: owner read and write only.
pub const FILE_MODE: u32 = 0o600;

/// `fs::create_dir_all`, with owner-only permissions on every directory it creates (existing
/// ones keep theirs: a volume the user made is theirs to set).
pub(crate) fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// Options that create a file with owner-only permissions.
pub(crate) fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_files_and_directories_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir_all(&nested).unwrap();
        for d in [dir.path().join("a"), nested.clone()] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, DIR_MODE, "{}", d.display());
        }
        let f = nested.join("f");
        private_file()
            .write(true)
            .create_new(true)
            .open(&f)
            .unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
    }
}

//! Function code: a zip checked as Lambda checks it, hashed as Lambda reports it (`CodeSha256`
//! is the base64 of the zip's SHA-256, `CodeSize` its length), stored as an engine blob
//! (FastCDC pieces, so the same zip stored twice costs one copy), and unpacked on demand into a
//! cache directory named by its hash.

use std::io::{Read, Write};
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use snapstack_engine::{BlobId, Engine};

use crate::{LResult, LambdaError};

/// The largest zip accepted in a request (AWS: 50 MB zipped, direct upload).
pub const MAX_ZIP: usize = 50 * 1024 * 1024 + 1024 * 1024;
/// The largest unzipped code (AWS: 250 MB).
pub const MAX_UNZIPPED: u64 = 262_144_000;
/// At most this many entries in one zip.
const MAX_ENTRIES: usize = 100_000;

/// Stored code: its blob and what Lambda reports of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub blob: BlobId,
    pub sha256: String,
    pub size: u64,
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

fn unzip_error() -> LambdaError {
    LambdaError::invalid(
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
    )
}

/// Check that `bytes` is a zip Lambda would take: it opens, its entries are readable names, and
/// its unzipped size is within the limit. Returns the unzipped size.
pub fn check(bytes: &[u8]) -> LResult<u64> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| unzip_error())?;
    if archive.len() > MAX_ENTRIES {
        return Err(unzip_error());
    }
    let mut total: u64 = 0;
    let mut archive = archive;
    for i in 0..archive.len() {
        let f = archive.by_index_raw(i).map_err(|_| unzip_error())?;
        total = total.saturating_add(f.size());
    }
    if total > MAX_UNZIPPED {
        return Err(LambdaError::invalid(format!(
            "Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
        )));
    }
    Ok(total)
}

/// Check and store a zip.
pub fn store(engine: &Engine, bytes: &[u8]) -> LResult<Code> {
    check(bytes)?;
    let mut w = engine.blob_writer();
    w.write(bytes)
        .map_err(|e| LambdaError::service(format!("The code could not be stored: {e}")))?;
    let (blob, _) = w
        .finish()
        .map_err(|e| LambdaError::service(format!("The code could not be stored: {e}")))?;
    Ok(Code {
        blob,
        sha256: sha256_b64(bytes),
        size: bytes.len() as u64,
    })
}

/// Read stored code back, whole.
pub fn read(engine: &Engine, blob: &BlobId) -> LResult<Vec<u8>> {
    let err = |e: snapstack_engine::Error| {
        engine.damaged_read(crate::NAME, "function code", &e);
        LambdaError::service(format!("The function's code could not be read: {e}"))
    };
    let b = engine.open_blob(blob).map_err(err)?;
    let mut out = Vec::with_capacity(b.size().min(MAX_ZIP as u64) as usize);
    for piece in b.read_all() {
        out.extend_from_slice(&piece.map_err(err)?);
    }
    Ok(out)
}

/// Unpack a zip into `dest` (created; entries that would leave it are skipped), keeping Unix
/// modes (a `bootstrap` stays executable), writing at most [`MAX_UNZIPPED`] bytes.
pub fn unpack(bytes: &[u8], dest: &Path) -> std::io::Result<()> {
    let bad = |e: zip::result::ZipError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    std::fs::create_dir_all(dest)?;
    let mut budget = MAX_UNZIPPED;
    for i in 0..archive.len().min(MAX_ENTRIES) {
        let mut f = archive.by_index(i).map_err(bad)?;
        let Some(rel) = f.enclosed_name() else {
            continue;
        };
        let path = dest.join(rel);
        if f.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&path)?;
        let mut limited = (&mut f).take(budget + 1);
        let n = std::io::copy(&mut limited, &mut out)?;
        if n > budget {
            return Err(std::io::Error::other("the unzipped code is too large"));
        }
        budget -= n;
        out.flush()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = f.unix_mode().unwrap_or(0o644) & 0o777;
            // Lambda makes every file readable; executables keep their bits.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode | 0o444))?;
        }
    }
    Ok(())
}

/// A zip holding `files` (name, content, mode): for tests and fixtures.
pub fn make_zip(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, content, mode) in files {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            if z.start_file(*name, opts).is_ok() {
                let _ = z.write_all(content);
            }
        }
        let _ = z.finish();
    }
    buf.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sha_size_store_and_dedup() {
        let engine = Engine::in_memory().unwrap();
        let z = make_zip(&[("index.py", b"def handler(e, c):\n    return e\n", 0o644)]);
        let before = engine.chunk_stats();
        let a = store(&engine, &z).unwrap();
        let mid = engine.chunk_stats();
        let b = store(&engine, &z).unwrap();
        let after = engine.chunk_stats();
        assert_eq!(a, b);
        assert_eq!(a.size, z.len() as u64);
        assert_eq!(a.sha256, sha256_b64(&z));
        assert_eq!(a.sha256.len(), 44);
        assert!(format!("{mid:?}") != format!("{before:?}"));
        assert_eq!(
            format!("{mid:?}"),
            format!("{after:?}"),
            "the same zip twice adds nothing"
        );
        assert_eq!(read(&engine, &a.blob).unwrap(), z);
    }

    #[test]
    fn refuses_what_is_not_a_zip_and_unpacks_safely() {
        assert_eq!(
            check(b"not a zip").unwrap_err().code,
            "InvalidParameterValueException"
        );
        let z = make_zip(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755),
            ("dir/lib.py", b"x = 1\n", 0o644),
            ("../escape.txt", b"no", 0o644),
        ]);
        let d = tempfile::tempdir().unwrap();
        unpack(&z, &d.path().join("code")).unwrap();
        assert_eq!(
            std::fs::read(d.path().join("code/dir/lib.py")).unwrap(),
            b"x = 1\n"
        );
        assert!(!d.path().join("escape.txt").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(d.path().join("code/bootstrap")).unwrap();
            assert_eq!(m.permissions().mode() & 0o111, 0o111);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_bytes_are_checked_without_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = check(&data);
        }

        #[test]
        fn zips_round_trip(content in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let z = make_zip(&[("f.bin", &content, 0o644)]);
            prop_assert_eq!(check(&z).unwrap(), content.len() as u64);
            let d = tempfile::tempdir().unwrap();
            unpack(&z, d.path()).unwrap();
            prop_assert_eq!(std::fs::read(d.path().join("f.bin")).unwrap(), content);
        }
    }
}

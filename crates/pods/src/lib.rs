//! snapstack-pods: named, versioned snapshots of a snapstack's state ("pods") on any
//! S3-compatible object store (AWS S3, MinIO, Ceph, another snapstack, moto) or a local
//! directory, reached through `object_store`.
//!
//! The engine's state is content-addressed, so a pod version is a set of manifests (one per
//! service: the root of its tree) over chunks, and moving it means sending only the chunks the
//! other side lacks. The layout on the remote is specified in `docs/FORMAT.md` (section "Pods").
//!
//! - [`remote`]: opening a remote from a URL (`file:///dir`, `s3://bucket/prefix?endpoint=…`) and
//!   the object layout.
//! - [`backend`]: the engine's [`snapstack_engine::backend::Backend`] over any remote, so an
//!   engine (or a tool built on one) keeps its whole state directory in a bucket:
//!   `Engine::with_backend(ObjectStoreBackend::new(Remote::open("s3://bucket/dir?endpoint=…")?)?,
//!   options)`. Tested on moto's and snapstack's S3 (`tests/pods_e2e.rs`).
//! - [`layout`]: the version object (metadata and manifests) and the chunk list.
//! - [`save`]: sending a pod version (only missing chunks, in parallel, resumable).
//! - [`load`]: fetching a pod version (only chunks the engine lacks, every one verified) and
//!   merging it into a running engine's stores.
//! - [`commit`]: taking a version number, safe for concurrent saves of one pod on any store.
//! - [`lease`]: a save or a gc in progress, announced on the remote.
//! - [`gc`]: deleting the chunks no version references.
//! - [`remotes`]: named remotes kept in the volume directory.

pub mod backend;
pub mod client;
pub mod commit;
pub mod gc;
pub mod layout;
pub mod lease;
pub mod load;
pub mod progress;
pub mod remote;
pub mod remotes;
pub mod save;

use std::fmt;

/// What went wrong, as a message that names the pod, the version, the remote object or chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodError(pub String);

impl fmt::Display for PodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PodError {}

impl From<snapstack_engine::Error> for PodError {
    fn from(e: snapstack_engine::Error) -> Self {
        PodError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, PodError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(PodError(msg.into()))
}

/// Whether `name` can name a pod (or a remote): 1 to 64 of `[A-Za-z0-9._-]`, not starting with
/// `.` or `-`.
pub fn valid_pod_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `NAME` or `NAME:VERSION`.
pub fn parse_pod_ref(s: &str) -> Result<(String, Option<u64>)> {
    let (name, version) = match s.rsplit_once(':') {
        Some((n, v)) => match v.parse::<u64>() {
            Ok(v) if v > 0 => (n, Some(v)),
            _ => {
                return err(format!(
                    "{s:?}: the version after ':' must be a number from 1"
                ));
            }
        },
        None => (s, None),
    };
    if !valid_pod_name(name) {
        return err(format!(
            "invalid pod name {name:?}: 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-', not starting with '.' or '-'"
        ));
    }
    Ok((name.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_refs() {
        assert_eq!(parse_pod_ref("team-db").unwrap(), ("team-db".into(), None));
        assert_eq!(
            parse_pod_ref("a.b_c:12").unwrap(),
            ("a.b_c".into(), Some(12))
        );
        for bad in [
            "",
            ":1",
            "a:0",
            "a:x",
            "../x",
            ".h",
            "-x",
            "a/b",
            "a b",
            "x".repeat(65).as_str(),
        ] {
            assert!(parse_pod_ref(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod roundtrip_tests;

#[cfg(test)]
mod concurrency_tests;

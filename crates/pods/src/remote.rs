//! A remote: any object store `object_store` reaches, opened from a URL.
//!
//! - `file:///abs/dir` (or `/abs/dir`): a local directory (created if missing), for tests and
//!   for a shared disk. A pod holds the whole state (secrets and key material included), so
//!   what this remote writes is its owner's only: directories it creates are `0700`, the
//!   objects it writes `0600`.
//! - `s3://bucket[/prefix][?endpoint=URL&region=R&path_style=true|false&access_key_id=K&secret_access_key=S]`:
//!   AWS S3 or any S3-compatible store. Without parameters, the usual `AWS_*` variables apply
//!   (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …). With an `endpoint`, requests
//!   are path-style unless `path_style=false`, plain HTTP is allowed, and the credentials
//!   default to `test`/`test` (what local emulators accept) when none are given.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use crate::{PodError, Result, err};

/// One object found by [`Remote::list_meta`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's path on the remote (below its prefix), `/`-separated.
    pub path: String,
    pub size: u64,
    /// Its last modification, by the store's clock (ms since the epoch).
    pub modified_ms: u64,
}

impl ObjectInfo {
    /// The last component of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// An opened remote.
#[derive(Clone)]
pub struct Remote {
    pub store: Arc<dyn ObjectStore>,
    /// The URL without credentials, for messages.
    pub display: String,
    /// A directory remote's root: what it writes is made owner-only (see the module doc).
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.display)
    }
}

fn decode_component(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Remote {
    /// Open the remote a URL names (see the module documentation).
    pub fn open(url: &str) -> Result<Remote> {
        let url = url.trim();
        if let Some(path) = url
            .strip_prefix("file://")
            .or_else(|| url.starts_with('/').then_some(url))
        {
            if !path.starts_with('/') {
                return err(format!(
                    "{url:?}: a file remote needs an absolute path (file:///dir)"
                ));
            }
            owner_only::create_dir_all(std::path::Path::new(path))
                .map_err(|e| PodError(format!("cannot create the remote directory {path}: {e}")))?;
            let fs = LocalFileSystem::new_with_prefix(path)
                .map_err(|e| PodError(format!("cannot open the remote directory {path}: {e}")))?;
            return Ok(Remote {
                store: Arc::new(fs),
                display: format!("file://{path}"),
                local_root: Some(PathBuf::from(path)),
            });
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return err(format!(
                "{url:?}: a remote is file:///dir or s3://bucket[/prefix][?endpoint=…]"
            ));
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return err(format!("{url:?}: no bucket"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut endpoint = None;
        let mut path_style = None;
        let mut key = None;
        let mut secret = None;
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = decode_component(v);
            match k {
                "endpoint" | "endpoint_url" => endpoint = Some(v),
                "region" => builder = builder.with_region(v),
                "path_style" => path_style = Some(v != "false" && v != "0"),
                "access_key_id" => key = Some(v),
                "secret_access_key" => secret = Some(v),
                other => {
                    return err(format!(
                        "{url:?}: unknown parameter {other:?} (endpoint, region, path_style, access_key_id, secret_access_key)"
                    ));
                }
            }
        }
        if let Some(ep) = &endpoint {
            builder = builder
                .with_endpoint(ep.trim_end_matches('/'))
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(!path_style.unwrap_or(true));
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && key.is_none() {
                key = Some("test".into());
                secret = secret.or(Some("test".into()));
            }
        }
        if let Some(k) = key {
            builder = builder.with_access_key_id(k);
        }
        if let Some(s) = secret {
            builder = builder.with_secret_access_key(s);
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            && !query.contains("region=")
        {
            builder = builder.with_region("us-east-1");
        }
        let s3 = builder
            .build()
            .map_err(|e| PodError(format!("{url:?}: {e}")))?;
        let display = match &endpoint {
            Some(ep) => format!("s3://{location} at {ep}"),
            None => format!("s3://{location}"),
        };
        let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix.trim_matches('/')))
        };
        Ok(Remote {
            store,
            display,
            local_root: None,
        })
    }

    /// An object store opened elsewhere (tests, embedders).
    pub fn from_store(store: Arc<dyn ObjectStore>, display: String) -> Remote {
        Remote {
            store,
            display,
            local_root: None,
        }
    }

    /// After a write to a directory remote: the object `0600`, the directories above it up to
    /// the root `0700` (`object_store` creates both with the process's umask).
    fn restrict(&self, path: &str) -> Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        owner_only::restrict(root, path).map_err(|e| {
            PodError(format!(
                "cannot make {path} on {} owner-only: {e}",
                self.display
            ))
        })
    }

    fn fail(&self, what: &str, path: &str, e: object_store::Error) -> PodError {
        PodError(format!("{what} {path} on {}: {e}", self.display))
    }

    /// An object's bytes; `None` when it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.store.get(&Path::from(path)).await {
            Ok(r) => match r.bytes().await {
                Ok(b) => Ok(Some(b.to_vec())),
                Err(e) => Err(self.fail("reading", path, e)),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("reading", path, e)),
        }
    }

    /// Write an object (replacing it).
    pub async fn put(&self, path: &str, data: Vec<u8>) -> Result<()> {
        self.store
            .put(&Path::from(path), PutPayload::from(data))
            .await
            .map_err(|e| self.fail("writing", path, e))?;
        self.restrict(path)
    }

    /// Write an object only if none exists under the name: `Ok(false)` when one does.
    pub async fn put_new(&self, path: &str, data: Vec<u8>) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&Path::from(path), PutPayload::from(data), opts)
            .await
        {
            Ok(_) => self.restrict(path).map(|()| true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.fail("creating", path, e)),
        }
    }

    /// The names of the objects directly under `dir`.
    pub async fn list_names(&self, dir: &str) -> Result<Vec<String>> {
        match self.store.list_with_delimiter(Some(&Path::from(dir))).await {
            Ok(r) => Ok(r
                .objects
                .into_iter()
                .filter_map(|o| o.location.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.fail("listing", dir, e)),
        }
    }

    /// The names of the "directories" directly under `dir`.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>> {
        match self.store.list_with_delimiter(Some(&Path::from(dir))).await {
            Ok(r) => Ok(r
                .common_prefixes
                .into_iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.fail("listing", dir, e)),
        }
    }

    /// Every object under `prefix` (recursively), as (file name, size).
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let stream = self.store.list(Some(&Path::from(prefix)));
        match stream.try_collect::<Vec<_>>().await {
            Ok(v) => Ok(v
                .into_iter()
                .filter_map(|o| Some((o.location.filename()?.to_string(), o.size)))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.fail("listing", prefix, e)),
        }
    }

    /// Every object under `prefix` (recursively): its path on the remote, size and last
    /// modification time (the store's clock, in ms since the epoch).
    pub async fn list_meta(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let stream = self.store.list(Some(&Path::from(prefix)));
        match stream.try_collect::<Vec<_>>().await {
            Ok(v) => Ok(v
                .into_iter()
                .map(|o| ObjectInfo {
                    path: o.location.to_string(),
                    size: o.size,
                    modified_ms: u64::try_from(o.last_modified.timestamp_millis()).unwrap_or(0),
                })
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.fail("listing", prefix, e)),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.store.head(&Path::from(path)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail("reading", path, e)),
        }
    }

    /// Remove an object; a missing one is not an error.
    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&Path::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("deleting", path, e)),
        }
    }
}

/// Owner-only modes for a directory remote.
mod owner_only {
    use std::io;
    use std::path::Path;

    #[cfg(unix)]
    pub fn create_dir_all(dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if dir.is_dir() {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }

    #[cfg(not(unix))]
    pub fn create_dir_all(dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    /// `root/path` becomes `0600`, each directory between it and `root` `0700`.
    #[cfg(unix)]
    pub fn restrict(root: &Path, path: &str) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| -> io::Result<()> {
            let m = std::fs::metadata(p)?;
            if m.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        };
        let mut at = root.to_path_buf();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            set(&at, if i + 1 == parts.len() { 0o600 } else { 0o700 })?;
        }
        Ok(())
    }

    #[cfg(not(unix))]
    pub fn restrict(_root: &Path, _path: &str) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(Remote::open("ftp://x").is_err());
        assert!(Remote::open("s3://").is_err());
        assert!(Remote::open("s3://b?bogus=1").is_err());
        assert!(Remote::open("file://relative").is_err());
        let r = Remote::open("s3://bucket/pre/fix?endpoint=http%3A%2F%2F127.0.0.1%3A4566").unwrap();
        assert_eq!(r.display, "s3://bucket/pre/fix at http://127.0.0.1:4566");
        assert_eq!(decode_component("a%2Fb+c%"), "a/b c%");
    }

    #[tokio::test]
    async fn a_directory_remote_puts_lists_and_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = Remote::open(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(r.get("a/b").await.unwrap(), None);
        assert!(r.list_names("a").await.unwrap().is_empty());
        r.put("a/b", b"1".to_vec()).await.unwrap();
        assert_eq!(r.get("a/b").await.unwrap(), Some(b"1".to_vec()));
        assert!(r.put_new("a/c", b"2".to_vec()).await.unwrap());
        assert!(!r.put_new("a/c", b"3".to_vec()).await.unwrap());
        assert_eq!(r.get("a/c").await.unwrap(), Some(b"2".to_vec()));
        let mut names = r.list_names("a").await.unwrap();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(r.list_dirs("").await.unwrap(), ["a"]);
        assert_eq!(r.list_all("a").await.unwrap().len(), 2);
        let meta = r.list_meta("a").await.unwrap();
        assert_eq!(meta.len(), 2);
        assert!(
            meta.iter()
                .any(|m| m.path == "a/c" && m.name() == "c" && m.size == 1)
        );
        assert!(meta.iter().all(|m| m.modified_ms > 1_600_000_000_000));
        assert!(r.exists("a/c").await.unwrap());
        assert!(!r.exists("a/zz").await.unwrap());
        r.delete("a/b").await.unwrap();
        r.delete("a/b").await.unwrap();
        assert_eq!(r.list_names("a").await.unwrap(), ["c"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_directory_remote_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("remote");
        let r = Remote::open(&format!("file://{}", root.display())).unwrap();
        r.put("chunks/ab/abcd", b"1".to_vec()).await.unwrap();
        assert!(r.put_new("pods/p/versions/1", b"2".to_vec()).await.unwrap());
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        for d in [
            "",
            "chunks",
            "chunks/ab",
            "pods",
            "pods/p",
            "pods/p/versions",
        ] {
            assert_eq!(mode(d), 0o700, "{d:?}");
        }
        assert_eq!(mode("chunks/ab/abcd"), 0o600);
        assert_eq!(mode("pods/p/versions/1"), 0o600);
    }
}

//! Named remotes, kept in `<volume>/pods/remotes.json` (`{"name": "url", …}`), so that
//! `--remote NAME` and `AUTO_LOAD_POD` need no URL. A remote named `default` is used when none is
//! named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{PodError, Result, err, valid_pod_name};

pub const DEFAULT_REMOTE: &str = "default";

pub fn remotes_file(volume_dir: &Path) -> PathBuf {
    volume_dir.join("pods").join("remotes.json")
}

/// The remotes configured in a volume directory (none when the file does not exist).
pub fn read(volume_dir: &Path) -> Result<BTreeMap<String, String>> {
    let file = remotes_file(volume_dir);
    match std::fs::read(&file) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| PodError(format!("{}: not a remotes file: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => err(format!("cannot read {}: {e}", file.display())),
    }
}

fn write(volume_dir: &Path, remotes: &BTreeMap<String, String>) -> Result<()> {
    let file = remotes_file(volume_dir);
    let dir = file.parent().unwrap_or(volume_dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| PodError(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(".remotes.json.tmp");
    let body = serde_json::to_vec_pretty(remotes).unwrap_or_default();
    // Credentials may be in a URL: owner-only, like the state directory.
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| PodError(format!("cannot write {}: {e}", tmp.display())))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(|e| PodError(format!("cannot write {}: {e}", tmp.display())))?;
    }
    std::fs::rename(&tmp, &file)
        .map_err(|e| PodError(format!("cannot write {}: {e}", file.display())))
}

pub fn add(volume_dir: &Path, name: &str, url: &str) -> Result<()> {
    if !valid_pod_name(name) {
        return err(format!("invalid remote name {name:?}"));
    }
    // Refuse a URL that does not parse now rather than at the first save.
    crate::remote::Remote::open(url)?;
    let mut all = read(volume_dir)?;
    all.insert(name.to_string(), url.to_string());
    write(volume_dir, &all)
}

/// Remove a remote; `Ok(false)` when there was none of that name.
pub fn remove(volume_dir: &Path, name: &str) -> Result<bool> {
    let mut all = read(volume_dir)?;
    let had = all.remove(name).is_some();
    if had {
        write(volume_dir, &all)?;
    }
    Ok(had)
}

/// The URL for `--remote`: a URL as it is, a configured name, or (none given) the `default`
/// remote.
pub fn resolve(volume_dir: &Path, remote: Option<&str>) -> Result<String> {
    let name = remote.unwrap_or(DEFAULT_REMOTE);
    if name.contains("://") || name.starts_with('/') {
        return Ok(name.to_string());
    }
    match read(volume_dir)?.get(name) {
        Some(url) => Ok(url.clone()),
        None if remote.is_none() => err(format!(
            "no remote given and no remote named {DEFAULT_REMOTE:?} in {}: pass --remote URL or run `snapstack pod remote add default URL`",
            remotes_file(volume_dir).display()
        )),
        None => err(format!(
            "no remote named {name:?} in {} (`snapstack pod remote list`)",
            remotes_file(volume_dir).display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_resolve_remove() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path();
        assert!(resolve(v, None).is_err());
        assert_eq!(resolve(v, Some("file:///x")).unwrap(), "file:///x");
        let remote_dir = v.join("r");
        let url = format!("file://{}", remote_dir.display());
        add(v, "default", &url).unwrap();
        add(v, "other", "s3://b?endpoint=http://127.0.0.1:1").unwrap();
        assert!(add(v, "bad name", &url).is_err());
        assert!(add(v, "x", "ftp://nope").is_err());
        assert_eq!(resolve(v, None).unwrap(), url);
        assert_eq!(
            resolve(v, Some("other")).unwrap(),
            "s3://b?endpoint=http://127.0.0.1:1"
        );
        assert!(resolve(v, Some("missing")).is_err());
        assert!(remove(v, "other").unwrap());
        assert!(!remove(v, "other").unwrap());
        assert_eq!(read(v).unwrap().len(), 1);
    }
}

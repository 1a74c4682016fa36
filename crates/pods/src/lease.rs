//! Leases: a save or a gc in progress announces itself on the remote, so that a gc never deletes
//! a chunk a concurrent save counted as present (`docs/FORMAT.md` §13, "Garbage collection").
//!
//! A lease is the object `locks/<kind>-<nonce>` (JSON: kind, pod, host, pid, start and expiry in
//! ms since the epoch), rewritten every minute with an expiry ten minutes ahead while its holder
//! works, removed when it is done. One that a crashed holder left expires by itself.
//!
//! Each side writes its lease *before* it lists the other's: a save (after writing its lease)
//! waits while a live gc lease exists, and a gc (after writing its lease) gives up while a live
//! save lease exists. Since both write before they list, at least one sees the other: a gc never
//! deletes while a save is between listing the remote's chunks and writing its version.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::commit::{host, nonce};
use crate::layout::{LOCKS_DIR, lease_path};
use crate::remote::Remote;
use crate::{Result, err};

/// How long a lease lives without being renewed.
pub const LEASE_TTL_MS: u64 = 10 * 60 * 1000;
/// How often a holder renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(60);

pub const SAVE: &str = "save";
pub const GC: &str = "gc";

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a lease object says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub kind: String,
    /// The pod a save writes (empty for a gc).
    #[serde(default)]
    pub pod: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
    pub started_unix_ms: u64,
    pub expires_unix_ms: u64,
}

impl LeaseInfo {
    /// "a save of pod p (pid 12 on host h, started …, expires in N s)", for messages.
    pub fn describe(&self, path: &str) -> String {
        let what = if self.pod.is_empty() {
            format!("a {}", self.kind)
        } else {
            format!("a {} of pod {}", self.kind, self.pod)
        };
        format!(
            "{what} (lease {path}: pid {} on host {:?}, expires in {} s unless renewed)",
            self.pid,
            self.host,
            self.expires_unix_ms.saturating_sub(now_ms()) / 1000
        )
    }
}

/// A lease this process holds, renewed in the background until [`Lease::release`] (or drop,
/// which stops renewing and leaves the object to expire).
pub struct Lease {
    remote: Remote,
    pub path: String,
    pub info: LeaseInfo,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

impl Lease {
    /// Write a lease of `kind` (for `pod`, empty for none) and keep it renewed.
    pub async fn take(remote: &Remote, kind: &str, pod: &str) -> Result<Lease> {
        let path = lease_path(kind, &nonce());
        let now = now_ms();
        let info = LeaseInfo {
            kind: kind.to_string(),
            pod: pod.to_string(),
            host: host(),
            pid: std::process::id(),
            started_unix_ms: now,
            expires_unix_ms: now + LEASE_TTL_MS,
        };
        let body = serde_json::to_vec(&info).unwrap_or_default();
        remote.put(&path, body).await?;
        let (r, p, mut i) = (remote.clone(), path.clone(), info.clone());
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                i.expires_unix_ms = now_ms() + LEASE_TTL_MS;
                if let Err(e) = r.put(&p, serde_json::to_vec(&i).unwrap_or_default()).await {
                    tracing::warn!("renewing the lease {p}: {e}");
                }
            }
        });
        Ok(Lease {
            remote: remote.clone(),
            path,
            info,
            renew,
        })
    }

    /// Stop renewing and remove the lease object.
    pub async fn release(self) {
        self.renew.abort();
        if let Err(e) = self.remote.delete(&self.path).await {
            tracing::warn!("removing the lease {}: {e}", self.path);
        }
    }
}

/// Every lease object on the remote: its path, what it says (none when unreadable), and whether
/// it is live (not expired; an unreadable one is live for [`LEASE_TTL_MS`] after it was written).
pub async fn all(remote: &Remote) -> Result<Vec<(String, Option<LeaseInfo>, bool)>> {
    let now = now_ms();
    let mut out = Vec::new();
    for o in remote.list_meta(LOCKS_DIR).await? {
        let info = remote
            .get(&o.path)
            .await?
            .and_then(|b| serde_json::from_slice::<LeaseInfo>(&b).ok());
        let live = match &info {
            Some(i) => i.expires_unix_ms > now,
            None => o.modified_ms + LEASE_TTL_MS > now,
        };
        out.push((o.path, info, live));
    }
    Ok(out)
}

/// The live leases of `kind`, other than `mine`.
pub async fn live(remote: &Remote, kind: &str, mine: &str) -> Result<Vec<(String, LeaseInfo)>> {
    let prefix = format!("{LOCKS_DIR}/{kind}-");
    Ok(all(remote)
        .await?
        .into_iter()
        .filter(|(p, _, live)| *live && p != mine && p.starts_with(&prefix))
        .map(|(p, i, _)| {
            let info = i.unwrap_or_else(|| LeaseInfo {
                kind: kind.to_string(),
                pod: String::new(),
                host: String::new(),
                pid: 0,
                started_unix_ms: 0,
                expires_unix_ms: now_ms() + LEASE_TTL_MS,
            });
            (p, info)
        })
        .collect())
}

/// Wait (polling every 2 s, at most `max`) until no live lease of `kind` other than `mine`
/// remains; `say` is told once what is waited for.
pub async fn wait_clear(
    remote: &Remote,
    kind: &str,
    mine: &str,
    max: Duration,
    say: impl Fn(&str),
) -> Result<()> {
    let start = std::time::Instant::now();
    let mut told = false;
    loop {
        let others = live(remote, kind, mine).await?;
        let Some((path, info)) = others.first() else {
            return Ok(());
        };
        if start.elapsed() >= max {
            return err(format!(
                "{} on {} is still running after {} s; try again later",
                info.describe(path),
                remote.display,
                max.as_secs()
            ));
        }
        if !told {
            say(&format!(
                "waiting for {} on {}",
                info.describe(path),
                remote.display
            ));
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leases_are_seen_released_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let r = Remote::open(&format!("file://{}", dir.path().display())).unwrap();
        let save = Lease::take(&r, SAVE, "p").await.unwrap();
        let gc = Lease::take(&r, GC, "").await.unwrap();
        let saves = live(&r, SAVE, &gc.path).await.unwrap();
        assert_eq!(saves.len(), 1);
        assert_eq!(saves[0].1.pod, "p");
        assert!(saves[0].1.describe(&saves[0].0).contains("a save of pod p"));
        assert!(live(&r, SAVE, &save.path).await.unwrap().is_empty());
        assert_eq!(live(&r, GC, &save.path).await.unwrap().len(), 1);
        // Waiting gives up after `max`, naming the holder.
        let e = wait_clear(&r, GC, &save.path, Duration::ZERO, |_| {})
            .await
            .unwrap_err()
            .0;
        assert!(e.contains("a gc") && e.contains("locks/gc-"), "{e}");
        gc.release().await;
        wait_clear(&r, GC, &save.path, Duration::ZERO, |_| {})
            .await
            .unwrap();
        // An expired lease (its holder died) no longer counts; an unreadable one counts while
        // young.
        let mut old = save.info.clone();
        old.expires_unix_ms = now_ms() - 1;
        r.put(&lease_path(SAVE, "dead"), serde_json::to_vec(&old).unwrap())
            .await
            .unwrap();
        r.put(&lease_path(SAVE, "junk"), b"?".to_vec())
            .await
            .unwrap();
        let saves = live(&r, SAVE, "").await.unwrap();
        let mut paths: Vec<&str> = saves.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, [save.path.as_str(), "locks/save-junk"]);
        save.release().await;
        assert_eq!(all(&r).await.unwrap().len(), 2);
    }
}

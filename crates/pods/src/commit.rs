//! Taking a version number: the last step of a save, safe when several clients save versions of
//! the same pod at once, on any store whose listings are strongly consistent (AWS S3 since 2020,
//! MinIO, Ceph, snapstack, moto, a directory), whether or not it makes `If-None-Match: *` atomic.
//!
//! 1. `n` = the first number above the pod's highest version that no other save holds a claim
//!    on (a claim holds its number for [`CLAIM_TTL_MS`] by the store's clock).
//! 2. Write the claim `pods/<pod>/claims/<n>-<nonce>` (a name only this save uses: it never
//!    replaces anything), then list the pod's claims.
//! 3. If another live claim on `n` is listed, or version `n` exists, remove this claim, wait a
//!    random moment and start again. Two claimants cannot both see themselves alone: each wrote
//!    before it listed, so the later lister sees the earlier claim. (Both may see each other;
//!    both then retry, and the next round most likely separates them onto `n` and `n + 1`.)
//!    The winner's claim stays, so a later claimant on `n` loses too.
//! 4. Write the version object create-only (`If-None-Match: *` on S3, an exclusive create on a
//!    directory) — a second guard against writers that do not claim — then
//! 5. read it back: if the bytes differ, another writer replaced it (a store without atomic
//!    conditional puts and a writer that does not claim); take the next number.
//!
//! A claim left by a save that died keeps its number from others for [`CLAIM_TTL_MS`]; a save
//! then may skip that number. `pod gc` removes claims older than its grace period.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use snapstack_engine::ChunkId;

use crate::layout::{PodVersion, claim_path, claims_dir, parse_claim_name, version_path};
use crate::remote::Remote;
use crate::save::versions;
use crate::{Result, err};

/// Attempts before a save gives up taking a number.
pub const MAX_ATTEMPTS: u32 = 64;

/// A name no other save, gc or process uses: 16 hex digits of blake3 over the process, the time
/// and a counter.
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{}-{nanos}-{n}-{}", std::process::id(), host());
    ChunkId::of(seed.as_bytes()).to_hex()[..16].to_string()
}

/// This machine's name, for leases and claims (empty when unknown).
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// A random pause before retry `attempt`: up to 25 ms × (attempt + 1), at most 1 s.
pub async fn pause(seed: &str, attempt: u32) {
    let h = ChunkId::of(format!("{seed}-{attempt}-{}", nonce()).as_bytes());
    let r = u64::from(u16::from_le_bytes([h.0[0], h.0[1]]));
    let span = (25 * u64::from(attempt + 1)).min(1000);
    tokio::time::sleep(Duration::from_millis(5 + r % span)).await;
}

/// How long a claim holds its number against other claimants, by the store's clock (the
/// modification times of the claims): far longer than a claimant takes from its claim to its
/// version object (milliseconds), so that only a claim its save left behind, dying, expires.
pub const CLAIM_TTL_MS: u64 = 10 * 60 * 1000;

/// One claim on a version number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub version: u64,
    pub nonce: String,
    /// Its last modification by the store's clock (ms).
    pub modified_ms: u64,
}

/// The claims on a pod's version numbers.
pub async fn claims(remote: &Remote, pod: &str) -> Result<Vec<Claim>> {
    Ok(remote
        .list_meta(&claims_dir(pod))
        .await?
        .iter()
        .filter_map(|o| {
            parse_claim_name(o.name()).map(|(version, nonce)| Claim {
                version,
                nonce: nonce.to_string(),
                modified_ms: o.modified_ms,
            })
        })
        .collect())
}

fn local_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Give `version` the next number of its pod and write it (steps 1–5 above). Called once its
/// chunk list and every chunk are on the remote.
pub async fn commit(remote: &Remote, version: &mut PodVersion) -> Result<()> {
    let pod = version.pod.clone();
    let me = nonce();
    // The store's clock, as our last claim's modification time showed it.
    let mut store_now: Option<u64> = None;
    for attempt in 0..MAX_ATTEMPTS {
        let highest = versions(remote, &pod).await?.last().copied().unwrap_or(0);
        let now = store_now.unwrap_or_else(local_now_ms);
        let held = |all: &[Claim], n: u64, at: u64| {
            all.iter()
                .any(|c| c.version == n && c.nonce != me && c.modified_ms + CLAIM_TTL_MS > at)
        };
        let before = claims(remote, &pod).await?;
        let mut n = highest + 1;
        while held(&before, n, now) {
            n += 1;
        }
        let claim = claim_path(&pod, n, &me);
        let body = serde_json::json!({
            "pod": pod,
            "version": n,
            "nonce": me,
            "host": host(),
            "pid": std::process::id(),
            "created_unix_ms": version.created_unix_ms,
        });
        remote.put(&claim, body.to_string().into_bytes()).await?;
        let after = claims(remote, &pod).await?;
        let Some(mine) = after.iter().find(|c| c.version == n && c.nonce == me) else {
            return err(format!(
                "pod {pod}: the claim {claim} just written on {} is not listed: this protocol needs a store whose listings show what was written",
                remote.display
            ));
        };
        store_now = Some(mine.modified_ms);
        let path = version_path(&pod, n);
        if held(&after, n, mine.modified_ms) || remote.exists(&path).await? {
            remote.delete(&claim).await?;
            pause(&me, attempt).await;
            continue;
        }
        version.version = n;
        let bytes = version.encode();
        if !remote.put_new(&path, bytes.clone()).await? {
            // A writer that does not claim took the number first.
            pause(&me, attempt).await;
            continue;
        }
        match remote.get(&path).await? {
            Some(b) if b == bytes => return Ok(()),
            // Replaced by a writer that does not claim, on a store whose create-only put is not
            // atomic: that version stands, this one takes the next number.
            _ => pause(&me, attempt).await,
        }
    }
    err(format!(
        "pod {pod}: could not take a version number after {MAX_ATTEMPTS} attempts (many concurrent saves?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        let a = nonce();
        let b = nonce();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(parse_claim_name(&format!("{:020}-{a}", 1)).is_some());
    }
}

//! `pod gc`: delete the chunks (and chunk lists) no version of any pod on the remote references,
//! as `pod delete` leaves them (`docs/FORMAT.md` §13, "Garbage collection").
//!
//! 1. Take a gc lease, then give up if a live save lease exists (`lease`: a save in progress may
//!    rely on chunks it found present and has not named in a version yet).
//! 2. Read every version of every pod and its chunk list (each verified): the chunks they name
//!    are kept. A version gc cannot read (damaged, or a newer format that may name chunks
//!    differently) stops it before anything is deleted.
//! 3. List the chunks one directory (`chunks/<h2>/`) at a time, `parallel` directories at once,
//!    and delete each unreferenced one last modified before the grace period (by default an
//!    hour): a second guard, for saves by clients that take no lease.
//! 4. The same for chunk lists; claims older than the grace period; leases that expired.
//!
//! Memory holds the referenced chunk ids (32 bytes each) and one directory's listing per
//! directory in flight.

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt, stream};
use snapstack_engine::ChunkId;

use crate::layout::{LOCKS_DIR, claims_dir, parse_chunk_path, parse_claim_name};
use crate::lease::{self, GC, Lease, SAVE, now_ms};
use crate::load::{chunk_list, pods, read_version};
use crate::remote::Remote;
use crate::save::versions;
use crate::{PodError, Result, err};

/// How a gc runs.
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Count what would be deleted; delete nothing (and take no lease).
    pub dry_run: bool,
    /// Unreferenced objects modified less than this long ago (ms) are kept.
    pub grace_ms: u64,
    /// Directories listed and objects deleted at once.
    pub parallel: usize,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            grace_ms: DEFAULT_GRACE_MS,
            parallel: 16,
        }
    }
}

/// The default grace period: an hour.
pub const DEFAULT_GRACE_MS: u64 = 60 * 60 * 1000;

/// What a gc found and did (with `dry_run`, `deleted_*` count what it would delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub pods: u64,
    pub versions: u64,
    /// Distinct chunks the versions reference.
    pub referenced_chunks: u64,
    /// Chunk objects on the remote, and their bytes.
    pub chunks: u64,
    pub bytes: u64,
    /// Chunk objects no version references, and their bytes.
    pub unreferenced_chunks: u64,
    pub unreferenced_bytes: u64,
    /// Of those, deleted (older than the grace period) and kept (younger).
    pub deleted_chunks: u64,
    pub deleted_bytes: u64,
    pub young_chunks: u64,
    pub young_bytes: u64,
    pub unreferenced_lists: u64,
    pub deleted_lists: u64,
    pub young_lists: u64,
    pub deleted_claims: u64,
    pub deleted_leases: u64,
}

/// Collect the unreferenced chunks of a remote (see the module documentation).
pub async fn gc(remote: &Remote, opts: &GcOptions) -> Result<GcReport> {
    if opts.dry_run {
        return run(remote, opts).await;
    }
    let lease = Lease::take(remote, GC, "").await?;
    let r = async {
        if let Some((path, info)) = lease::live(remote, SAVE, &lease.path).await?.first() {
            return err(format!(
                "{} is in progress on {}: gc deletes nothing while a save runs; try again when it is done",
                info.describe(path),
                remote.display
            ));
        }
        run(remote, opts).await
    }
    .await;
    lease.release().await;
    r
}

async fn run(remote: &Remote, opts: &GcOptions) -> Result<GcReport> {
    let parallel = opts.parallel.max(1);
    let cutoff = now_ms().saturating_sub(opts.grace_ms);
    let mut report = GcReport::default();

    // 2. What the versions reference.
    let mut targets = Vec::new();
    let all_pods = pods(remote).await?;
    for pod in &all_pods {
        for v in versions(remote, pod).await? {
            targets.push((pod.clone(), v));
        }
    }
    report.pods = all_pods.len() as u64;
    report.versions = targets.len() as u64;
    let mut chunks: HashSet<ChunkId> = HashSet::new();
    let mut lists: HashSet<ChunkId> = HashSet::new();
    let mut read = stream::iter(targets)
        .map(|(pod, v)| async move {
            let refuse = |e: PodError| {
                PodError(format!(
                    "gc deletes nothing while a version cannot be read (it may name chunks gc cannot see): {e}; delete it (`snapstack pod delete {pod}:{v}`) or use a newer snapstack"
                ))
            };
            let pv = read_version(remote, &pod, Some(v)).await.map_err(refuse)?;
            let list = chunk_list(remote, &pv).await.map_err(refuse)?;
            Ok::<_, PodError>((pv, list))
        })
        .buffer_unordered(parallel);
    while let Some((pv, list)) = read.try_next().await? {
        if let Some(id) = pv.chunk_list_id() {
            lists.insert(id);
        }
        chunks.extend(list.chunks.iter().map(|(id, _)| *id));
    }
    drop(read);
    report.referenced_chunks = chunks.len() as u64;

    // 3. The chunks, one directory at a time.
    let dirs: Vec<String> = remote
        .list_dirs("chunks")
        .await?
        .into_iter()
        .filter(|d| d.len() == 2 && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .collect();
    let chunks = &chunks;
    let per_dir: Vec<GcReport> = stream::iter(dirs)
        .map(|d| async move {
            let mut r = GcReport::default();
            for o in remote.list_meta(&format!("chunks/{d}")).await? {
                let Some(id) = parse_chunk_path(&o.path) else {
                    continue;
                };
                r.chunks += 1;
                r.bytes += o.size;
                if chunks.contains(&id) {
                    continue;
                }
                r.unreferenced_chunks += 1;
                r.unreferenced_bytes += o.size;
                if o.modified_ms >= cutoff {
                    r.young_chunks += 1;
                    r.young_bytes += o.size;
                    continue;
                }
                if !opts.dry_run {
                    remote.delete(&o.path).await?;
                }
                r.deleted_chunks += 1;
                r.deleted_bytes += o.size;
            }
            Ok::<_, PodError>(r)
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await?;
    for r in per_dir {
        report.chunks += r.chunks;
        report.bytes += r.bytes;
        report.unreferenced_chunks += r.unreferenced_chunks;
        report.unreferenced_bytes += r.unreferenced_bytes;
        report.deleted_chunks += r.deleted_chunks;
        report.deleted_bytes += r.deleted_bytes;
        report.young_chunks += r.young_chunks;
        report.young_bytes += r.young_bytes;
    }

    // 4. Chunk lists, claims, expired leases.
    let mut doomed = Vec::new();
    for o in remote.list_meta("chunk-lists").await? {
        let Some(id) = ChunkId::from_hex(o.name()) else {
            continue;
        };
        if lists.contains(&id) {
            continue;
        }
        report.unreferenced_lists += 1;
        if o.modified_ms >= cutoff {
            report.young_lists += 1;
        } else {
            report.deleted_lists += 1;
            doomed.push(o.path);
        }
    }
    for pod in &all_pods {
        for o in remote.list_meta(&claims_dir(pod)).await? {
            if parse_claim_name(o.name()).is_some() && o.modified_ms < cutoff {
                report.deleted_claims += 1;
                doomed.push(o.path);
            }
        }
    }
    for (path, _, live) in lease::all(remote).await? {
        if !live && path.starts_with(&format!("{LOCKS_DIR}/")) {
            report.deleted_leases += 1;
            doomed.push(path);
        }
    }
    if !opts.dry_run {
        stream::iter(doomed)
            .map(|p| async move { remote.delete(&p).await })
            .buffer_unordered(parallel)
            .try_collect::<Vec<()>>()
            .await?;
    }
    Ok(report)
}

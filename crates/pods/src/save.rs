//! `pod save`: send the newest saved generation of each service as a new version of a pod.
//!
//! 1. List every chunk the generations reference (tree nodes, blob indexes, blob pieces).
//! 2. Ask the remote which it has, one listing per chunk directory (`chunks/<2 hex>/`): a batch
//!    of up to 1/256 of the chunk space per request, several at once.
//! 3. Send the others, `parallel` at a time: memory holds at most that many chunks. A chunk
//!    object appears whole or not at all, so an interrupted save leaves only complete chunks,
//!    which the next save finds and does not send again.
//! 4. Write the chunk list (named by its hash), then the version object under a number this
//!    save claimed (`commit`): concurrent saves of one pod each get their own number.
//!
//! From before step 2 to the end the save holds a lease on the remote (`lease`), and waits
//! while a `pod gc` holds one: a gc never deletes a chunk this save found present.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use snapstack_engine::{ChunkId, Engine};

use crate::commit::commit;
use crate::layout::{
    ChunkList, POD_FORMAT, PodService, PodVersion, chunk_list_path, chunk_path, parse_version_name,
    versions_dir,
};
use crate::lease::{self, Lease};
use crate::progress::Progress;
use crate::remote::Remote;
use crate::{PodError, Result, err};

/// How a save runs.
#[derive(Clone, Debug)]
pub struct SaveOptions {
    /// Only these services (default: every saved one).
    pub services: Option<Vec<String>>,
    pub message: String,
    /// Chunks in flight at once.
    pub parallel: usize,
    /// No progress output.
    pub quiet: bool,
    /// Tests: stop (as if killed) once this many chunks were sent.
    pub stop_after: Option<u64>,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            services: None,
            message: String::new(),
            parallel: 16,
            quiet: false,
            stop_after: None,
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PodError(format!("a worker failed: {e}")))?
}

/// The version numbers of a pod on the remote, ascending.
pub async fn versions(remote: &Remote, pod: &str) -> Result<Vec<u64>> {
    let mut v: Vec<u64> = remote
        .list_names(&versions_dir(pod))
        .await?
        .iter()
        .filter_map(|n| parse_version_name(n))
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Which of `ids` the remote holds, asking one chunk directory at a time (`parallel` at once).
pub async fn present(
    remote: &Remote,
    ids: &[ChunkId],
    parallel: usize,
) -> Result<HashSet<ChunkId>> {
    let dirs: BTreeSet<String> = ids.iter().map(|id| id.to_hex()[..2].to_string()).collect();
    let names: Vec<Vec<String>> = stream::iter(dirs)
        .map(|d| async move { remote.list_names(&format!("chunks/{d}")).await })
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await?;
    Ok(names
        .into_iter()
        .flatten()
        .filter_map(|n| ChunkId::from_hex(&n))
        .collect())
}

/// Save a new version of `pod` from the newest saved generations in `engine`.
pub async fn save(
    engine: Arc<Engine>,
    remote: &Remote,
    pod: &str,
    opts: &SaveOptions,
) -> Result<PodVersion> {
    if !crate::valid_pod_name(pod) {
        return err(format!("invalid pod name {pod:?}"));
    }
    let lease = Lease::take(remote, lease::SAVE, pod).await?;
    let r = async {
        let quiet = opts.quiet;
        lease::wait_clear(
            remote,
            lease::GC,
            &lease.path,
            Duration::from_millis(lease::LEASE_TTL_MS),
            |m| {
                if !quiet {
                    eprintln!("pod {pod}: {m}");
                }
            },
        )
        .await?;
        save_leased(engine, remote, pod, opts).await
    }
    .await;
    lease.release().await;
    r
}

async fn save_leased(
    engine: Arc<Engine>,
    remote: &Remote,
    pod: &str,
    opts: &SaveOptions,
) -> Result<PodVersion> {
    // 1. What to send.
    let e = engine.clone();
    let wanted = opts.services.clone();
    let (services, list) = blocking(move || {
        let mut manifests = e.newest_manifests()?;
        if let Some(w) = &wanted {
            for s in w {
                if !manifests.iter().any(|m| &m.service == s) {
                    return err(format!("service {s:?} has no saved state to put in a pod"));
                }
            }
            manifests.retain(|m| w.contains(&m.service));
        }
        if manifests.is_empty() {
            return err("there is no saved state to put in a pod (save first: POST /_localstack/state/save, or run the server with PERSISTENCE=1)");
        }
        let mut services = Vec::new();
        let mut tree = Vec::new();
        let mut blobs = Vec::new();
        let mut seen = HashSet::new();
        for m in &manifests {
            let c = e.generation_chunks(m)?;
            services.push(PodService {
                service: m.service.clone(),
                generation: m.generation,
                store_version: m.store_version,
                root: m.root.map(|r| r.to_hex()),
                height: m.height,
                records: m.records,
                tree_chunks: m.tree_chunks,
                tree_bytes: m.tree_bytes,
                blobs: c.blob_count,
                blob_bytes: c.blob_bytes,
            });
            tree.extend(c.tree.into_iter().filter(|(id, _)| seen.insert(*id)));
            blobs.extend(c.blobs);
        }
        let tree_chunks = tree.len() as u64;
        tree.extend(blobs.into_iter().filter(|(id, _)| seen.insert(*id)));
        Ok((services, (ChunkList { chunks: tree }, tree_chunks)))
    })
    .await?;
    let (list, tree_chunks) = list;
    let bytes: u64 = list.chunks.iter().map(|(_, l)| u64::from(*l)).sum();

    // 2. What the remote lacks.
    let ids: Vec<ChunkId> = list.chunks.iter().map(|(id, _)| *id).collect();
    let have = present(remote, &ids, opts.parallel).await?;
    let missing: Vec<(ChunkId, u32)> = list
        .chunks
        .iter()
        .filter(|(id, _)| !have.contains(id))
        .copied()
        .collect();
    if !opts.quiet {
        let missing_bytes: u64 = missing.iter().map(|(_, l)| u64::from(*l)).sum();
        eprintln!(
            "pod {pod}: {} chunks ({bytes} bytes), {} already on {}; sending {} ({missing_bytes} bytes)",
            list.chunks.len(),
            list.chunks.len() - missing.len(),
            remote.display,
            missing.len()
        );
    }

    // 3. Send them.
    let progress = Progress::new(
        &format!("sending pod {pod}"),
        missing.len() as u64,
        opts.quiet,
    );
    let sent = AtomicU64::new(0);
    let result: Result<()> = stream::iter(missing.iter().copied())
        .map(|(id, len)| {
            let engine = engine.clone();
            let progress = &progress;
            let sent = &sent;
            async move {
                let data = blocking(move || Ok(engine.get_chunk(&id)?)).await?;
                if data.len() != len as usize {
                    return err(format!(
                        "chunk {id} is {} bytes where its generation says {len}",
                        data.len()
                    ));
                }
                remote.put(&chunk_path(&id), data).await?;
                progress.inc(u64::from(len));
                // Tests: stop as a kill would, dropping the chunks still in flight.
                let n = sent.fetch_add(1, Ordering::SeqCst) + 1;
                if opts.stop_after.is_some_and(|k| n >= k) {
                    return err(format!(
                        "interrupted after {n} chunks (SNAPSTACK_POD_STOP_AFTER)"
                    ));
                }
                Ok(())
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_collect()
        .await;
    progress.finish();
    result?;
    let (sent_chunks, sent_bytes) = progress.done();

    // 4. The chunk list, then the version object.
    let list_bytes = list.encode();
    let list_id = ChunkId::of(&list_bytes);
    remote.put(&chunk_list_path(&list_id), list_bytes).await?;
    let mut version = PodVersion {
        format: POD_FORMAT,
        pod: pod.to_string(),
        version: 0,
        created_unix_ms: now_ms(),
        snapstack_version: snapstack_engine::VERSION.to_string(),
        engine_format: snapstack_engine::manifest::FORMAT_VERSION,
        message: opts.message.clone(),
        records: services.iter().map(|s| s.records).sum(),
        services,
        chunks: list.chunks.len() as u64,
        bytes,
        tree_chunks,
        chunk_list: list_id.to_hex(),
        sent_chunks,
        sent_bytes,
    };
    commit(remote, &mut version).await?;
    Ok(version)
}

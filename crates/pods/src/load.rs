//! Reading pods: listing them, reading a version, fetching its chunks (only those the engine
//! lacks, each checked against its id on arrival) into a staging chunk store, and merging the
//! version's services into a running engine's stores.
//!
//! Nothing of the engine is touched until every chunk has arrived and verified and every
//! service's tree has loaded from them (a dry run of the merge): a damaged or missing chunk
//! refuses the whole version, naming the chunk.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use snapstack_engine::backend::LocalBackend;
use snapstack_engine::chunk_store::{ChunkStore, PackStore};
use snapstack_engine::{ChunkId, Engine, ImportReport, Merge};

use crate::layout::{ChunkList, PodVersion, chunk_list_path, chunk_path, version_path};
use crate::progress::Progress;
use crate::remote::Remote;
use crate::save::versions;
use crate::{PodError, Result, err};

/// The pods on a remote, sorted.
pub async fn pods(remote: &Remote) -> Result<Vec<String>> {
    let mut p: Vec<String> = remote
        .list_dirs("pods")
        .await?
        .into_iter()
        .filter(|n| crate::valid_pod_name(n))
        .collect();
    p.sort();
    Ok(p)
}

/// Version `version` of `pod` (the newest when `None`).
pub async fn read_version(remote: &Remote, pod: &str, version: Option<u64>) -> Result<PodVersion> {
    let v = match version {
        Some(v) => v,
        None => match versions(remote, pod).await?.last() {
            Some(v) => *v,
            None => return err(format!("no pod named {pod:?} on {}", remote.display)),
        },
    };
    let path = version_path(pod, v);
    let what = format!("pod {pod} version {v} ({path} on {})", remote.display);
    let Some(bytes) = remote.get(&path).await? else {
        return err(format!(
            "pod {pod} has no version {v} on {}",
            remote.display
        ));
    };
    let pv = PodVersion::decode(&bytes, &what)?;
    if pv.pod != pod || pv.version != v {
        return err(format!(
            "{what}: names pod {} version {}",
            pv.pod, pv.version
        ));
    }
    Ok(pv)
}

/// The chunk list of a version, checked against the hash the version names.
pub async fn chunk_list(remote: &Remote, v: &PodVersion) -> Result<ChunkList> {
    let Some(id) = v.chunk_list_id() else {
        return err(format!(
            "pod {} version {}: bad chunk list name",
            v.pod, v.version
        ));
    };
    let path = chunk_list_path(&id);
    let what = format!(
        "pod {} version {}: chunk list {path} on {}",
        v.pod, v.version, remote.display
    );
    let Some(bytes) = remote.get(&path).await? else {
        return err(format!("{what} is missing"));
    };
    if ChunkId::of(&bytes) != id {
        return err(format!(
            "{what} is damaged: its bytes do not hash to its name"
        ));
    }
    let list = ChunkList::decode(&bytes, &what)?;
    if list.chunks.len() as u64 != v.chunks {
        return err(format!(
            "{what} lists {} chunks, the version says {}",
            list.chunks.len(),
            v.chunks
        ));
    }
    Ok(list)
}

/// Remove a version of a pod (every version, and the pod's claims, when `None`). Chunks stay:
/// other versions and pods share them (`pod gc` removes those no version references). Returns
/// the versions removed.
pub async fn delete(remote: &Remote, pod: &str, version: Option<u64>) -> Result<Vec<u64>> {
    let all = versions(remote, pod).await?;
    let targets: Vec<u64> = match version {
        Some(v) if all.contains(&v) => vec![v],
        Some(v) => {
            return err(format!(
                "pod {pod} has no version {v} on {}",
                remote.display
            ));
        }
        None if all.is_empty() => {
            return err(format!("no pod named {pod:?} on {}", remote.display));
        }
        None => all,
    };
    for v in &targets {
        remote.delete(&version_path(pod, *v)).await?;
    }
    if version.is_none() {
        for c in crate::commit::claims(remote, pod).await? {
            remote
                .delete(&crate::layout::claim_path(pod, c.version, &c.nonce))
                .await?;
        }
    }
    Ok(targets)
}

/// Chunks fetched for one pod version, verified, on disk in a directory of their own (removed
/// when this is dropped).
pub struct Staging {
    dir: PathBuf,
    pub store: Arc<PackStore>,
    /// The chunks fetched (the engine lacked them).
    pub fetched: Vec<ChunkId>,
    pub fetched_bytes: u64,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn staging_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("snapstack-pod-{}-{nanos}", std::process::id()))
}

/// How far a fetch is: chunks fetched of `total`, and their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
}

/// Fetch the chunks of `list` (the first `limit` of them) that `engine` lacks, `parallel` at a
/// time, each checked against its id and length on arrival.
pub async fn fetch(
    engine: &Arc<Engine>,
    remote: &Remote,
    v: &PodVersion,
    list: &ChunkList,
    limit: usize,
    parallel: usize,
    quiet: bool,
) -> Result<Staging> {
    fetch_reporting(engine, remote, v, list, limit, parallel, quiet, &|_| {}).await
}

/// [`fetch`], telling `report` how far it is: once before the first chunk (`done` 0) and after
/// every chunk.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_reporting(
    engine: &Arc<Engine>,
    remote: &Remote,
    v: &PodVersion,
    list: &ChunkList,
    limit: usize,
    parallel: usize,
    quiet: bool,
    report: &(dyn Fn(Fetched) + Sync),
) -> Result<Staging> {
    let dir = staging_dir();
    let backend = LocalBackend::open(&dir)
        .map_err(|e| PodError(format!("cannot create {}: {e}", dir.display())))?
        .with_direct_writes(false);
    let store = Arc::new(PackStore::open(Arc::new(backend))?);
    let mut staging = Staging {
        dir,
        store: store.clone(),
        fetched: Vec::new(),
        fetched_bytes: 0,
    };
    let needed: Vec<(ChunkId, u32)> = list
        .chunks
        .iter()
        .take(limit)
        .filter(|(id, _)| !engine.has_chunk(id))
        .copied()
        .collect();
    let progress = Progress::new(
        &format!("fetching pod {} version {}", v.pod, v.version),
        needed.len() as u64,
        quiet,
    );
    let (pod, version) = (v.pod.as_str(), v.version);
    let total = needed.len() as u64;
    report(Fetched {
        done: 0,
        total,
        bytes: 0,
    });
    let r: Result<()> = stream::iter(needed.iter().copied())
        .map(|(id, len)| {
            let store = store.clone();
            let progress = &progress;
            async move {
                let path = chunk_path(&id);
                let what = format!("chunk {id} of pod {pod} version {version} ({path} on {})", remote.display);
                let Some(data) = remote.get(&path).await? else {
                    return err(format!("{what} is missing"));
                };
                let got = ChunkId::of(&data);
                if got != id || data.len() != len as usize {
                    return err(format!(
                        "{what} is damaged: {} bytes hashing to {got}; the version is refused and nothing was changed",
                        data.len()
                    ));
                }
                store.put(id, &data)?;
                let (done, bytes) = progress.inc(u64::from(len));
                report(Fetched { done, total, bytes });
                Ok(())
            }
        })
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await;
    progress.finish();
    r?;
    staging.fetched = needed.iter().map(|(id, _)| *id).collect();
    staging.fetched_bytes = needed.iter().map(|(_, l)| u64::from(*l)).sum();
    Ok(staging)
}

/// What a load did (or would do) to one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOutcome {
    pub service: String,
    pub report: ImportReport,
    /// The store version of the change, when something changed.
    pub version: Option<u64>,
}

/// Merge the version's services into `engine` (blocking). `services`: the ones to touch (each
/// registered). `reset`: registered services the pod does not hold that an `overwrite` empties.
/// Every tree is loaded and checked (a dry run) before anything changes; then the fetched
/// chunks are copied into the engine's chunk store and made durable, then the records merged.
pub fn apply(
    engine: &Engine,
    staging: &Staging,
    v: &PodVersion,
    services: &[String],
    reset: &[String],
    merge: Merge,
    dry_run: bool,
) -> Result<Vec<ServiceOutcome>> {
    let run = |dry: bool| -> Result<Vec<ServiceOutcome>> {
        let mut out = Vec::new();
        for s in v.services.iter().filter(|s| services.contains(&s.service)) {
            let (report, version) = engine.import(
                &s.service,
                s.root_id()?,
                s.height,
                staging.store.as_ref(),
                merge,
                dry,
            )?;
            out.push(ServiceOutcome {
                service: s.service.clone(),
                report,
                version,
            });
        }
        for s in reset {
            let (report, version) =
                engine.import(s, None, 0, staging.store.as_ref(), Merge::Overwrite, dry)?;
            out.push(ServiceOutcome {
                service: s.clone(),
                report,
                version,
            });
        }
        Ok(out)
    };
    let planned = run(true).map_err(|e| {
        PodError(format!(
            "pod {} version {} does not load, nothing was changed: {e}",
            v.pod, v.version
        ))
    })?;
    if dry_run {
        return Ok(planned);
    }
    for id in &staging.fetched {
        let data = staging.store.get(id)?;
        engine.put_chunk(*id, &data)?;
    }
    engine.sync_chunks()?;
    run(false)
}

//! Concurrent saves on a store whose create-only put is not atomic (as moto's: it looks, then
//! writes), saves and gc against each other's leases, and gc itself.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde::{Deserialize, Serialize};
use snapstack_engine::{BlobId, ChunkId, Engine, EngineOptions, Merge, Partition, Record, Store};

use crate::gc::{GcOptions, gc};
use crate::layout::{chunk_list_path, chunk_path, version_path};
use crate::lease::{self, Lease};
use crate::load::{apply, chunk_list, delete, fetch, read_version};
use crate::remote::Remote;
use crate::save::{SaveOptions, save, versions};

/// An object store that honours `If-None-Match: *` the way moto does: it checks, waits a little
/// (a thread switch), then writes; two such puts can both succeed.
#[derive(Debug)]
struct LookThenWrite(InMemory);

impl std::fmt::Display for LookThenWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookThenWrite")
    }
}

#[async_trait::async_trait]
impl ObjectStore for LookThenWrite {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if matches!(opts.mode, PutMode::Create) {
            if self.0.head(location).await.is_ok() {
                return Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: "exists".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
            return self.0.put(location, payload).await;
        }
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.get_opts(location, options).await
    }
    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.0.delete(location).await
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.0.copy(from, to).await
    }
    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.0.copy_if_not_exists(from, to).await
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Doc {
    text: String,
    body: Option<BlobId>,
}
impl Record for Doc {
    fn blobs(&self) -> Vec<BlobId> {
        self.body.into_iter().collect()
    }
}

fn key(i: u64) -> snapstack_engine::Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .u64(i)
        .build()
}

fn quiet() -> SaveOptions {
    SaveOptions {
        quiet: true,
        ..SaveOptions::default()
    }
}

/// A saved engine of 300 records named after `tag`, the first with a 300 KB blob made from `tag`.
fn client(dir: &std::path::Path, tag: &str) -> (Arc<Engine>, Arc<Store<Doc>>) {
    let engine = Arc::new(Engine::open(dir, EngineOptions::default()).unwrap());
    let store = Store::<Doc>::new("docs");
    engine.register(store.clone()).unwrap();
    let body = blob(&engine, tag);
    store.write(|t| {
        for i in 0..300 {
            t.insert(
                key(i),
                Doc {
                    text: format!("{tag} {i}"),
                    body: (i == 0).then_some(body),
                },
            );
        }
    });
    assert!(engine.save(&["docs"])[0].1.is_ok());
    (engine, store)
}

fn blob(engine: &Engine, tag: &str) -> BlobId {
    let seed = ChunkId::of(tag.as_bytes()).0;
    let data: Vec<u8> = (0..300_000u64)
        .map(|i| seed[(i % 32) as usize] ^ (i.wrapping_mul(7919) % 251) as u8)
        .collect();
    let mut w = engine.blob_writer();
    w.write(&data).unwrap();
    w.finish().unwrap().0
}

/// Version `v` of `pod`, loaded into a fresh engine: its records.
async fn load(remote: &Remote, pod: &str, v: u64) -> Vec<(snapstack_engine::Key, Doc)> {
    let target = Arc::new(Engine::in_memory().unwrap());
    let store = Store::<Doc>::new("docs");
    target.register(store.clone()).unwrap();
    let pv = read_version(remote, pod, Some(v)).await.unwrap();
    let list = chunk_list(remote, &pv).await.unwrap();
    let staging = fetch(&target, remote, &pv, &list, list.chunks.len(), 4, true)
        .await
        .unwrap();
    apply(
        &target,
        &staging,
        &pv,
        &["docs".into()],
        &[],
        Merge::Overwrite,
        false,
    )
    .unwrap();
    // Blob bodies must read back whole.
    for (_, d) in store.snapshot().iter() {
        if let Some(b) = d.body {
            let n: usize = target
                .open_blob(&b)
                .unwrap()
                .read_all()
                .map(|r| r.unwrap().len())
                .sum();
            assert_eq!(n, 300_000);
        }
    }
    store
        .snapshot()
        .iter()
        .map(|(k, d)| (k.clone(), d.clone()))
        .collect()
}

fn records(store: &Store<Doc>) -> Vec<(snapstack_engine::Key, Doc)> {
    store
        .snapshot()
        .iter()
        .map(|(k, d)| (k.clone(), d.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_on_a_look_then_write_store_each_get_their_version() {
    let remote = Remote::from_store(Arc::new(LookThenWrite(InMemory::new())), "memory".into());
    // The store really is racy: two create-only puts of one name both succeed.
    let (a, b) = tokio::join!(
        remote.put_new("race", b"a".to_vec()),
        remote.put_new("race", b"b".to_vec())
    );
    assert!(
        a.unwrap() && b.unwrap(),
        "the test store should let both through"
    );

    let dir = tempfile::tempdir().unwrap();
    let clients: Vec<_> = (0..5)
        .map(|i| client(&dir.path().join(format!("c{i}")), &format!("client {i}")))
        .collect();
    let mut tasks = Vec::new();
    for (i, (engine, _)) in clients.iter().enumerate() {
        let (e, r) = (engine.clone(), remote.clone());
        let opts = SaveOptions {
            message: format!("client {i}"),
            ..quiet()
        };
        tasks.push(tokio::spawn(
            async move { save(e, &r, "shared", &opts).await },
        ));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap().version);
    }
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "every save has its own version: {got:?}");
    assert_eq!(versions(&remote, "shared").await.unwrap(), sorted);
    // Each version is the one its client saved, and loads equal to that client's records.
    for (i, v) in got.iter().enumerate() {
        let pv = read_version(&remote, "shared", Some(*v)).await.unwrap();
        assert_eq!(pv.message, format!("client {i}"));
        assert_eq!(load(&remote, "shared", *v).await, records(&clients[i].1));
    }
    // No lease is left behind.
    assert!(lease::all(&remote).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_only_what_no_version_references() {
    let dir = tempfile::tempdir().unwrap();
    let rdir = dir.path().join("remote");
    let remote = Remote::open(&format!("file://{}", rdir.display())).unwrap();
    let (engine, store) = client(&dir.path().join("state"), "first");
    let v1 = save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    let l1 = chunk_list(&remote, &v1).await.unwrap();
    // A new blob replaces the first: its chunks are only in version 1.
    let body = blob(&engine, "second");
    store.write(|t| {
        t.insert(
            key(0),
            Doc {
                text: "replaced".into(),
                body: Some(body),
            },
        )
    });
    assert!(engine.save(&["docs"])[0].1.is_ok());
    let v2 = save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    let l2 = chunk_list(&remote, &v2).await.unwrap();
    // Another pod sharing most chunks keeps them.
    let (other, _) = client(&dir.path().join("other"), "first");
    let o1 = save(other, &remote, "o", &quiet()).await.unwrap();
    let lo = chunk_list(&remote, &o1).await.unwrap();
    assert!(o1.sent_chunks * 2 < o1.chunks, "{o1:?}");
    let want = load(&remote, "p", v2.version).await;

    // Nothing is unreferenced yet.
    let none = gc(
        &remote,
        &GcOptions {
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (none.unreferenced_chunks, none.deleted_chunks),
        (0, 0),
        "{none:?}"
    );
    assert_eq!((none.pods, none.versions), (2, 3));

    // Version 1 of p and the pod o go: the first blob's chunks are orphaned.
    delete(&remote, "p", Some(1)).await.unwrap();
    delete(&remote, "o", None).await.unwrap();
    let in2: std::collections::HashSet<ChunkId> = l2.chunks.iter().map(|(id, _)| *id).collect();
    let mut orphans: Vec<(ChunkId, u32)> = l1
        .chunks
        .iter()
        .chain(&lo.chunks)
        .filter(|(id, _)| !in2.contains(id))
        .copied()
        .collect();
    orphans.sort_unstable_by_key(|(id, _)| id.0);
    orphans.dedup();
    let dead_lists: std::collections::HashSet<String> =
        [v1.chunk_list.clone(), o1.chunk_list.clone()].into();
    let dead_lists = dead_lists.len() as u64;
    let orphan_bytes: u64 = orphans.iter().map(|(_, l)| u64::from(*l)).sum();
    assert!(orphans.len() >= 2, "{orphans:?}");

    // A dry run counts them and deletes nothing; the default grace keeps them (they are new).
    let dry = gc(
        &remote,
        &GcOptions {
            dry_run: true,
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(dry.unreferenced_chunks, orphans.len() as u64, "{dry:?}");
    assert_eq!(dry.deleted_chunks, orphans.len() as u64);
    assert_eq!(dry.unreferenced_bytes, orphan_bytes);
    assert_eq!(dry.deleted_lists, dead_lists);
    let young = gc(&remote, &GcOptions::default()).await.unwrap();
    assert_eq!(young.deleted_chunks, 0);
    assert_eq!(young.young_chunks, orphans.len() as u64);
    assert_eq!(young.young_bytes, orphan_bytes);
    for (id, _) in &orphans {
        assert!(rdir.join(chunk_path(id)).exists());
    }

    let done = gc(
        &remote,
        &GcOptions {
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(done.deleted_chunks, orphans.len() as u64, "{done:?}");
    assert_eq!(done.deleted_bytes, orphan_bytes);
    assert_eq!(done.deleted_lists, dead_lists);
    assert_eq!(done.chunks, (l2.chunks.len() + orphans.len()) as u64);
    for (id, _) in &orphans {
        assert!(!rdir.join(chunk_path(id)).exists(), "{id} should be gone");
    }
    for (id, _) in &l2.chunks {
        assert!(rdir.join(chunk_path(id)).exists(), "{id} is referenced");
    }
    assert!(
        !rdir
            .join(chunk_list_path(&v1.chunk_list_id().unwrap()))
            .exists()
    );
    assert!(
        rdir.join(chunk_list_path(&v2.chunk_list_id().unwrap()))
            .exists()
    );
    // o's claims went with it; p's old claims went with the gc.
    assert!(
        crate::commit::claims(&remote, "o")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        crate::commit::claims(&remote, "p")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(load(&remote, "p", v2.version).await, want);
    let again = gc(
        &remote,
        &GcOptions {
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((again.unreferenced_chunks, again.deleted_chunks), (0, 0));
    // A new save after the gc takes the next number and sends the chunks it needs again.
    let (third, _) = client(&dir.path().join("third"), "first");
    let v3 = save(third, &remote, "p", &quiet()).await.unwrap();
    assert_eq!(v3.version, v2.version + 1);
    assert!(v3.sent_chunks > 0, "{v3:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_and_saves_respect_each_others_leases() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Remote::open(&format!("file://{}", dir.path().join("r").display())).unwrap();
    let (engine, _) = client(&dir.path().join("state"), "x");
    save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    delete(&remote, "p", None).await.unwrap();

    // A save in progress: gc refuses and deletes nothing; a dry run still counts.
    let held = Lease::take(&remote, lease::SAVE, "busy").await.unwrap();
    let e = gc(
        &remote,
        &GcOptions {
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap_err()
    .0;
    assert!(
        e.contains("a save of pod busy") && e.contains("in progress"),
        "{e}"
    );
    let dry = gc(
        &remote,
        &GcOptions {
            dry_run: true,
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(dry.unreferenced_chunks > 0);
    assert_eq!(
        lease::all(&remote).await.unwrap().len(),
        1,
        "gc left no lease"
    );
    held.release().await;

    // A gc in progress: a save waits for it.
    let held = Lease::take(&remote, lease::GC, "").await.unwrap();
    let (e, r) = (engine.clone(), remote.clone());
    let task = tokio::spawn(async move { save(e, &r, "q", &quiet()).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!task.is_finished(), "the save waits for the gc");
    assert!(versions(&remote, "q").await.unwrap().is_empty());
    held.release().await;
    let v = task.await.unwrap().unwrap();
    assert_eq!(v.version, 1);

    // An unreadable version stops gc before it deletes anything.
    remote
        .put(&version_path("bad", 1), b"{\"format\": 9}".to_vec())
        .await
        .unwrap();
    let before = remote.list_meta("chunks").await.unwrap().len();
    let e = gc(
        &remote,
        &GcOptions {
            grace_ms: 0,
            ..GcOptions::default()
        },
    )
    .await
    .unwrap_err()
    .0;
    assert!(
        e.contains("pod delete bad:1") && e.contains("format 9"),
        "{e}"
    );
    assert_eq!(remote.list_meta("chunks").await.unwrap().len(), before);
}

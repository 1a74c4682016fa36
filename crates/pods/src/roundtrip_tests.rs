//! Save and load through a directory remote, in process: only missing chunks move, concurrent
//! saves both keep their versions, a damaged chunk refuses the version.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snapstack_engine::{BlobId, Engine, EngineOptions, Merge, Partition, Record, Store};

use crate::load::{apply, chunk_list, fetch, read_version};
use crate::remote::Remote;
use crate::save::{SaveOptions, save, versions};

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

/// An engine with 500 records and a 1 MB blob, saved.
fn source(dir: &std::path::Path) -> (Arc<Engine>, Arc<Store<Doc>>) {
    let engine = Arc::new(Engine::open(dir, EngineOptions::default()).unwrap());
    let store = Store::<Doc>::new("docs");
    engine.register(store.clone()).unwrap();
    let mut w = engine.blob_writer();
    let data: Vec<u8> = (0..1_000_000u64)
        .map(|i| (i.wrapping_mul(7919) % 251) as u8)
        .collect();
    w.write(&data).unwrap();
    let (body, _) = w.finish().unwrap();
    store.write(|t| {
        for i in 0..500 {
            t.insert(
                key(i),
                Doc {
                    text: format!("doc {i}"),
                    body: (i == 0).then_some(body),
                },
            );
        }
    });
    assert!(engine.save(&["docs"])[0].1.is_ok());
    (engine, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_twice_sends_only_the_change_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, store) = source(&dir.path().join("state"));
    let remote = Remote::open(&format!("file://{}", dir.path().join("remote").display())).unwrap();
    let v1 = save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.sent_chunks, v1.chunks);
    assert!(v1.chunks > 5, "{v1:?}");
    assert_eq!(v1.records, 500);
    // Nothing changed: nothing sent.
    let v2 = save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    assert_eq!((v2.version, v2.sent_chunks), (2, 0));
    store.write(|t| {
        t.insert(
            key(7),
            Doc {
                text: "changed".into(),
                body: None,
            },
        )
    });
    assert!(engine.save(&["docs"])[0].1.is_ok());
    let v3 = save(engine.clone(), &remote, "p", &quiet()).await.unwrap();
    assert!(v3.sent_chunks >= 1 && v3.sent_chunks <= 3, "{v3:?}");
    assert_eq!(versions(&remote, "p").await.unwrap(), [1, 2, 3]);

    // Into a fresh in-memory engine.
    let target = Arc::new(Engine::in_memory().unwrap());
    let tstore = Store::<Doc>::new("docs");
    target.register(tstore.clone()).unwrap();
    let v = read_version(&remote, "p", None).await.unwrap();
    assert_eq!(v, v3);
    let list = chunk_list(&remote, &v).await.unwrap();
    let staging = fetch(&target, &remote, &v, &list, list.chunks.len(), 4, true)
        .await
        .unwrap();
    assert_eq!(staging.fetched.len() as u64, v.chunks);
    let dry = apply(
        &target,
        &staging,
        &v,
        &["docs".into()],
        &[],
        Merge::AccountRegion,
        true,
    )
    .unwrap();
    assert_eq!(dry[0].report.added, 500);
    assert!(tstore.snapshot().is_empty());
    let done = apply(
        &target,
        &staging,
        &v,
        &["docs".into()],
        &[],
        Merge::AccountRegion,
        false,
    )
    .unwrap();
    assert!(done[0].version.is_some());
    let snap = tstore.snapshot();
    assert_eq!(snap.len(), 500);
    assert_eq!(snap.get(&key(7)).unwrap().text, "changed");
    let body = snap.get(&key(0)).unwrap().body.unwrap();
    let read: Vec<u8> = target
        .open_blob(&body)
        .unwrap()
        .read_all()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(read.len(), 1_000_000);
    // A second fetch needs nothing.
    let again = fetch(&target, &remote, &v, &list, list.chunks.len(), 4, true)
        .await
        .unwrap();
    assert!(again.fetched.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_keep_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = source(&dir.path().join("state"));
    let url = format!("file://{}", dir.path().join("remote").display());
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let e = engine.clone();
        let r = Remote::open(&url).unwrap();
        tasks.push(tokio::spawn(
            async move { save(e, &r, "c", &quiet()).await },
        ));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap().version);
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 4, "{got:?}");
    let remote = Remote::open(&url).unwrap();
    assert_eq!(versions(&remote, "c").await.unwrap(), got);
    for v in got {
        let pv = read_version(&remote, "c", Some(v)).await.unwrap();
        assert_eq!(pv.version, v);
        chunk_list(&remote, &pv).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_chunk_refuses_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = source(&dir.path().join("state"));
    let rdir = dir.path().join("remote");
    let remote = Remote::open(&format!("file://{}", rdir.display())).unwrap();
    let v = save(engine, &remote, "d", &quiet()).await.unwrap();
    let list = chunk_list(&remote, &v).await.unwrap();
    let (victim, _) = list.chunks[list.chunks.len() - 1];
    let path = rdir.join(crate::layout::chunk_path(&victim));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let target = Arc::new(Engine::in_memory().unwrap());
    let e = match fetch(&target, &remote, &v, &list, list.chunks.len(), 4, true).await {
        Ok(_) => panic!("a damaged chunk was accepted"),
        Err(e) => e.0,
    };
    assert!(e.contains(&victim.to_hex()) && e.contains("damaged"), "{e}");
    std::fs::remove_file(&path).unwrap();
    let e = match fetch(&target, &remote, &v, &list, list.chunks.len(), 4, true).await {
        Ok(_) => panic!("a missing chunk was accepted"),
        Err(e) => e.0,
    };
    assert!(e.contains(&victim.to_hex()) && e.contains("missing"), "{e}");
    // An interrupted save (the stop after 2 chunks) leaves no version; the next one completes.
    let remote2 = Remote::open(&format!("file://{}", dir.path().join("r2").display())).unwrap();
    let (engine2, _) = source(&dir.path().join("state2"));
    let stop = SaveOptions {
        stop_after: Some(2),
        parallel: 1,
        ..quiet()
    };
    assert!(save(engine2.clone(), &remote2, "i", &stop).await.is_err());
    assert!(versions(&remote2, "i").await.unwrap().is_empty());
    let v = save(engine2, &remote2, "i", &quiet()).await.unwrap();
    assert_eq!(v.sent_chunks, v.chunks - 2);
}

//! Tests of the persistence runtime: group commits, lazy loads, switches, background commits.

use super::*;
use serde::{Deserialize, Serialize};
use snapstack_engine::{EngineOptions, Key, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct V(u64);
impl Record for V {}

fn setup(
    dir: &std::path::Path,
    save: SaveStrategy,
    load: LoadStrategy,
) -> (Arc<Store<V>>, Arc<Engine>, Arc<Persistence>) {
    let store = Store::<V>::new("svc");
    let engine = Arc::new(Engine::open(dir, EngineOptions::default()).unwrap());
    engine.register(store.clone()).unwrap();
    let p = Persistence::new(Some(engine.clone()), save, load, vec!["svc"]);
    (store, engine, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_request_answers_only_durable_writes_and_groups_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, p) = setup(dir.path(), SaveStrategy::OnRequest, LoadStrategy::OnRequest);
    p.start(Duration::from_secs(3600));
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let (store, p) = (store.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let ((), v) = store.write(|t| {
                t.insert(Key::builder().u64(i).build(), V(i));
            });
            p.wait_durable("svc", v).await.map(|()| v)
        }));
    }
    let mut max = 0;
    for t in tasks {
        let v = t.await.unwrap().unwrap();
        // Once answered, the write is durable: the saved version covers it.
        assert!(engine.status("svc").unwrap().saved_version >= v);
        max = max.max(v);
    }
    let st = engine.status("svc").unwrap();
    assert_eq!(st.saved_version, max);
    assert!(!st.dirty);
    // Group commit: fewer saves than writes.
    assert!(st.generation.unwrap() <= 64);
}

/// A write no request waits for (a background task's) is made durable on its own, with the
/// log and without it, and a restart finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_request_makes_background_writes_durable_without_a_request() {
    for log in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let options = EngineOptions {
            write_ahead_log: log,
            ..EngineOptions::default()
        };
        let open = || {
            let store = Store::<V>::new("svc");
            let engine = Arc::new(Engine::open(dir.path(), options.clone()).unwrap());
            engine.register(store.clone()).unwrap();
            (store, engine)
        };
        let (store, engine) = open();
        let p = Persistence::new(
            Some(engine.clone()),
            SaveStrategy::OnRequest,
            LoadStrategy::OnStartup,
            vec!["svc"],
        );
        p.start(Duration::from_secs(3600));
        // A request's write, then a background task's write nobody waits for.
        let ((), v) = store.write(|t| {
            t.insert(Key::builder().u64(1).build(), V(1));
        });
        p.wait_durable("svc", v).await.unwrap();
        let ((), v) = store.write(|t| {
            t.remove(&Key::builder().u64(1).build());
            t.insert(Key::builder().u64(2).build(), V(2));
        });
        let durable = || {
            let st = engine.status("svc").unwrap();
            if log {
                st.logged_version
            } else {
                st.saved_version
            }
        };
        let started = Instant::now();
        while durable() < v {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the background write was not made durable (log: {log})"
            );
            tokio::time::sleep(BACKGROUND_TICK / 5).await;
        }
        // Nothing more to do: no further commits once it is durable.
        let groups = p.group_commits();
        tokio::time::sleep(BACKGROUND_BOUND * 3).await;
        assert_eq!(p.group_commits(), groups, "log: {log}");
        drop((p, engine, store));
        let (store, engine) = open();
        engine.load("svc").unwrap();
        let snap = store.snapshot();
        assert_eq!(snap.len(), 1, "log: {log}");
        assert_eq!(snap.get(&Key::builder().u64(2).build()), Some(&V(2)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_load_happens_once_and_failed_loads_suspend_automatic_saves() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, engine, _) = setup(dir.path(), SaveStrategy::Manual, LoadStrategy::Manual);
        store.write(|t| {
            t.insert(Key::builder().u64(1).build(), V(1));
        });
        for (_, r) in engine.save_all() {
            r.unwrap();
        }
    }
    let (store, _engine, p) = setup(dir.path(), SaveStrategy::Scheduled, LoadStrategy::OnRequest);
    assert!(!p.is_loaded("svc"));
    let (a, b) = tokio::join!(p.ensure_loaded("svc"), p.ensure_loaded("svc"));
    let _ = (a, b);
    assert!(p.is_loaded("svc"));
    assert_eq!(store.snapshot().len(), 1);
    assert!(!p.load_failed("svc"));

    // Damage the snapshot: a new runtime fails to load it and will not save over it.
    let mdir = dir.path().join("manifests/svc");
    for e in std::fs::read_dir(&mdir).unwrap() {
        std::fs::write(e.unwrap().path(), b"damaged").unwrap();
    }
    let (store, _engine, p) = setup(dir.path(), SaveStrategy::Scheduled, LoadStrategy::OnStartup);
    p.load_on_startup().await;
    assert!(p.load_failed("svc"));
    store.write(|t| {
        t.insert(Key::builder().u64(2).build(), V(2));
    });
    assert!(p.auto_save_services().is_empty());
    // An explicit save is the user's decision and clears the flag.
    let r = p.save(vec!["svc"]).await;
    assert!(r[0].1.is_ok(), "{r:?}");
    assert!(!p.load_failed("svc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_switched_off_is_neither_saved_nor_loaded_and_restore_only_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let (a, b) = (Store::<V>::new("a"), Store::<V>::new("b"));
    engine.register(a.clone()).unwrap();
    engine.register(b.clone()).unwrap();
    let p = Persistence::with_switches(
        Some(engine.clone()),
        SaveStrategy::OnRequest,
        LoadStrategy::OnRequest,
        vec!["a", "b"],
        Switches {
            not_persisted: vec!["b"],
            ..Switches::default()
        },
    );
    p.start(Duration::from_secs(3600));
    assert!(p.persists("a") && !p.persists("b"));
    for (name, s) in [("a", &a), ("b", &b)] {
        let ((), v) = s.write(|t| {
            t.insert(Key::builder().u64(1).build(), V(1));
        });
        p.wait_durable(name, v).await.unwrap();
    }
    let r = p.save(vec!["a", "b"]).await;
    let b_result = &r.iter().find(|(s, _)| *s == "b").unwrap().1;
    assert!(
        b_result.as_ref().unwrap_err().contains("PERSIST_B=0"),
        "{r:?}"
    );
    p.shutdown().await;
    // The garbage collection saves every service but the one switched off.
    engine.gc().unwrap();
    assert_eq!(engine.saved_services().unwrap(), ["a"]);
    drop((p, engine));

    // Restore-only: loads, never writes.
    let before = std::fs::read_dir(dir.path().join("manifests/a"))
        .unwrap()
        .count();
    let engine = Arc::new(Engine::open_restore_only(dir.path(), EngineOptions::default()).unwrap());
    let a = Store::<V>::new("a");
    engine.register(a.clone()).unwrap();
    let p = Persistence::with_switches(
        Some(engine.clone()),
        SaveStrategy::OnRequest,
        LoadStrategy::OnRequest,
        vec!["a"],
        Switches {
            restore_only: true,
            ..Switches::default()
        },
    );
    p.start(Duration::from_secs(3600));
    p.ensure_loaded("a").await;
    assert_eq!(a.snapshot().len(), 1);
    let ((), v) = a.write(|t| {
        t.insert(Key::builder().u64(2).build(), V(2));
    });
    p.wait_durable("a", v).await.unwrap();
    assert!(p.save(vec!["a"]).await[0].1.is_err());
    p.shutdown().await;
    let after = std::fs::read_dir(dir.path().join("manifests/a"))
        .unwrap()
        .count();
    assert_eq!(before, after);
}

//! Garbage collection under crashes and disk faults (the save path has its own tests in
//! `tests/engine.rs`). A collection rewrites half-empty packs and removes dead ones: a crash at any
//! of its write or remove steps, or an ENOSPC/EIO there, must leave every kept generation
//! loadable with exactly its state, and a later collection must finish the job.

#[path = "fsutil/mod.rs"]
mod fsutil;

use fsutil::{copy_dir, files};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use snapstack::backend::{FaultKind, FaultPlan, LocalBackend};
use snapstack::{Engine, EngineOptions, Key, Partition, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Item(u64, Vec<u8>);
impl Record for Item {}

fn key(k: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .u64(k)
        .build()
}

fn open(dir: &Path, plan: Option<&Arc<FaultPlan>>) -> (Engine, Arc<Store<Item>>) {
    let mut backend = LocalBackend::open(dir).unwrap();
    if let Some(p) = plan {
        backend = backend.with_hook(p.hook());
    }
    let engine = Engine::with_backend(Arc::new(backend), EngineOptions::default()).unwrap();
    let store = Store::<Item>::new("svc");
    engine.register(store.clone()).unwrap();
    (engine, store)
}

fn contents(store: &Store<Item>) -> BTreeMap<Key, Item> {
    store
        .snapshot()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A state directory with garbage to collect: eight saves of overlapping overwrites (three
/// generations kept), so some packs are dead and some half live. Returns the kept generations'
/// states, oldest first.
fn churned(dir: &Path) -> Vec<BTreeMap<Key, Item>> {
    let (engine, store) = open(dir, None);
    let mut states = Vec::new();
    for round in 0..8u64 {
        store.write(|t| {
            for i in 0..700 {
                let k = (round * 250 + i) % 2000;
                t.insert(key(k), Item(round, vec![round as u8; 40]));
            }
        });
        let r = engine.save(&["svc"]).pop().unwrap().1.unwrap();
        assert!(r.generation.is_some());
        states.push(contents(&store));
    }
    states.split_off(states.len() - 3)
}

/// Every kept generation of `dir` loads with exactly its state.
fn check_generations(dir: &Path, states: &[BTreeMap<Key, Item>], what: &str) {
    let manifests = files(&dir.join("manifests/svc"));
    assert!(!manifests.is_empty(), "{what}");
    for (i, m) in manifests.iter().enumerate().rev() {
        // Load generation i alone: a probe without the newer manifests.
        let probe = tempfile::tempdir().unwrap();
        copy_dir(dir, probe.path());
        for newer in &manifests[i + 1..] {
            fs::remove_file(probe.path().join(newer.strip_prefix(dir).unwrap())).unwrap();
        }
        let (engine, store) = open(probe.path(), None);
        let r = engine
            .load("svc")
            .unwrap_or_else(|e| panic!("{what}: {} does not load: {e}", m.display()));
        assert!(r.skipped.is_empty(), "{what}: {:?}", r.skipped);
        let state = &states[states.len() - manifests.len() + i];
        assert!(
            contents(&store) == *state,
            "{what}: {} loads another state",
            m.display()
        );
    }
}

#[test]
fn a_crash_at_every_step_of_a_collection_loses_nothing() {
    let base = tempfile::tempdir().unwrap();
    let states = churned(base.path());
    let packs_before = files(&base.path().join("packs")).len();
    let mut step = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(base.path(), dir.path());
        let plan = FaultPlan::crash(step);
        {
            let (engine, _store) = open(dir.path(), Some(&plan));
            engine.load("svc").unwrap();
            // The first collection after an open protects every chunk (it may be in use by a
            // writer of the previous epoch); the second one collects.
            let _ = engine.gc();
            let _ = engine.gc();
        }
        let what = format!("crash at gc step {step}");
        check_generations(dir.path(), &states, &what);
        // After the "restart", a collection completes and the state still loads.
        {
            let (engine, _store) = open(dir.path(), None);
            engine.load("svc").unwrap();
            engine.gc().unwrap();
            engine.gc().unwrap();
        }
        check_generations(dir.path(), &states, &format!("{what}, then a full gc"));
        if !plan.tripped() {
            let packs_after = files(&dir.path().join("packs")).len();
            println!(
                "gc crash points: {step} (packs {packs_before} before, {packs_after} after a full collection)"
            );
            assert!(packs_after < packs_before, "the collection removed nothing");
            break;
        }
        step += 1;
    }
    assert!(step >= 4, "a collection has several write steps: {step}");
}

#[test]
fn disk_faults_during_a_collection_are_reported_and_retried() {
    let base = tempfile::tempdir().unwrap();
    churned(base.path());
    let mut faults = 0;
    for kind in [FaultKind::NoSpace, FaultKind::Io] {
        for step in 0.. {
            let dir = tempfile::tempdir().unwrap();
            copy_dir(base.path(), dir.path());
            let plan = FaultPlan::once(step, kind);
            let (engine, store) = open(dir.path(), Some(&plan));
            engine.load("svc").unwrap();
            let r = engine.gc().and_then(|_| engine.gc());
            if !plan.tripped() {
                r.unwrap();
                break;
            }
            faults += 1;
            let what = format!("{kind:?} at gc step {step}");
            // Still serving, still saving; the next collection succeeds.
            store.write(|t| t.insert(key(99_999), Item(1, vec![])));
            let expected = contents(&store);
            engine.save(&["svc"]).pop().unwrap().1.unwrap();
            for _ in 0..2 {
                engine
                    .gc()
                    .unwrap_or_else(|e| panic!("{what}: the retry: {e}"));
            }
            drop(engine);
            let (engine, store) = open(dir.path(), None);
            engine.load("svc").unwrap();
            assert!(contents(&store) == expected, "{what}");
        }
    }
    println!("gc disk faults injected: {faults}");
    assert!(faults >= 4);
}

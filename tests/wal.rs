//! The write-ahead log: group commits append to it, loads replay it, saves let it drop covered
//! segments; crashes and disk faults at every step of an append and of a truncation, torn and
//! damaged frames, a newer log version, and a proptest against a model.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use snapstack::backend::{FaultKind, FaultPlan, LocalBackend, WriteStep};
use snapstack::wal::{Wal, WalOptions};
use snapstack::{BlobId, Engine, EngineOptions, Key, Partition, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Item {
    n: u64,
    blob: Option<BlobId>,
}

impl Record for Item {
    fn blobs(&self) -> Vec<BlobId> {
        self.blob.into_iter().collect()
    }
}

type Model = BTreeMap<Key, Item>;

fn key(k: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .u64(k)
        .build()
}

fn opts() -> EngineOptions {
    EngineOptions {
        write_ahead_log: true,
        background_saves: false,
        log_segment_bytes: 4096,
        ..EngineOptions::default()
    }
}

/// An engine with the log on (small segments, so appends rotate), optionally with a fault plan
/// on every write step of the backend and of the log.
fn open(dir: &Path, plan: Option<&Arc<FaultPlan>>) -> (Engine, Arc<Store<Item>>) {
    let mut backend = LocalBackend::open(dir).unwrap();
    if let Some(p) = plan {
        backend = backend.with_hook(p.hook());
    }
    let wal = Wal::open(
        dir.join("log"),
        WalOptions {
            segment_bytes: 4096,
            hook: plan.map(|p| p.hook()),
        },
    )
    .unwrap();
    let engine = Engine::with_backend_and_log(Arc::new(backend), opts(), Some(wal)).unwrap();
    let store = Store::<Item>::new("svc");
    engine.register(store.clone()).unwrap();
    (engine, store)
}

fn reopen_and_load(dir: &Path) -> (Engine, Arc<Store<Item>>, snapstack::LoadReport) {
    let (engine, store) = open(dir, None);
    let r = engine.load("svc").unwrap();
    (engine, store, r)
}

fn contents(store: &Store<Item>) -> Model {
    store
        .snapshot()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn put(store: &Store<Item>, model: &mut Model, k: u64, n: u64) -> u64 {
    model.insert(key(k), Item { n, blob: None });
    store
        .write(|t| {
            t.insert(key(k), Item { n, blob: None });
        })
        .1
}

fn del(store: &Store<Item>, model: &mut Model, k: u64) -> u64 {
    model.remove(&key(k));
    store
        .write(|t| {
            t.remove(&key(k));
        })
        .1
}

fn commit(engine: &Engine) -> snapstack::Result<u64> {
    engine.commit_log(&["svc"]).pop().unwrap().1
}

fn segments(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.join("log"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".wal"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn acknowledged_log_commits_survive_without_any_save_and_replay_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let (engine, store) = open(dir.path(), None);
        for i in 0..50 {
            let v = put(&store, &mut model, i % 17, i);
            if i % 5 == 0 {
                del(&store, &mut model, (i + 3) % 17);
            }
            assert!(commit(&engine).unwrap() >= v);
        }
        // No generation was written: only the log holds the state.
        assert!(!dir.path().join("manifests").exists());
        assert!(segments(dir.path()).len() > 1, "small segments rotate");
    }
    for _ in 0..2 {
        let (engine, store, r) = reopen_and_load(dir.path());
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);
        assert_eq!(contents(&store), model);
        // Loading again in the same process gives the same state.
        engine.load("svc").unwrap();
        assert_eq!(contents(&store), model);
    }
    // Writes after a replay chain on from it, across restarts.
    {
        let (engine, store, _) = reopen_and_load(dir.path());
        put(&store, &mut model, 100, 1);
        commit(&engine).unwrap();
    }
    let (_e, store, _) = reopen_and_load(dir.path());
    assert_eq!(contents(&store), model);
}

#[test]
fn a_save_covers_the_log_and_its_segments_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let (engine, store) = open(dir.path(), None);
    for i in 0..200 {
        put(&store, &mut model, i, i);
        commit(&engine).unwrap();
    }
    let before = segments(dir.path()).len();
    assert!(before > 2);
    let st = engine.log_status().unwrap();
    assert_eq!(st.pending_records["svc"], 200);
    let r = engine.save(&["svc"]).pop().unwrap().1.unwrap();
    assert!(r.generation.is_some());
    // Everything but the segment being appended to is gone.
    assert_eq!(segments(dir.path()).len(), 1);
    let st = engine.log_status().unwrap();
    assert_eq!(st.pending_records.get("svc").copied().unwrap_or(0), 0);
    for i in 200..230 {
        put(&store, &mut model, i, i);
        commit(&engine).unwrap();
    }
    drop(engine);
    let (_e, store, r) = reopen_and_load(dir.path());
    assert_eq!(r.generation, Some(1));
    assert_eq!(contents(&store), model);
}

#[test]
fn a_torn_final_frame_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let (engine, store) = open(dir.path(), None);
    for i in 0..3 {
        put(&store, &mut model, i, i);
        commit(&engine).unwrap();
    }
    let acknowledged = model.clone();
    put(&store, &mut model, 9, 9);
    commit(&engine).unwrap();
    drop(engine);
    // Tear the last frame: zero its second half, as a crash mid-write would leave it.
    let seg = dir
        .path()
        .join("log")
        .join(segments(dir.path()).pop().unwrap());
    let mut bytes = fs::read(&seg).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    for b in &mut bytes[end - 8..=end] {
        *b = 0;
    }
    fs::write(&seg, &bytes).unwrap();
    let (engine, store, r) = reopen_and_load(dir.path());
    assert!(
        r.skipped.is_empty(),
        "a torn tail is not damage: {:?}",
        r.skipped
    );
    assert_eq!(contents(&store), acknowledged);
    // The next append goes where the torn frame was, and loads.
    let mut model = acknowledged;
    put(&store, &mut model, 10, 10);
    commit(&engine).unwrap();
    drop(engine);
    let (_e, store, r) = reopen_and_load(dir.path());
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(contents(&store), model);
}

#[test]
fn a_flipped_byte_in_a_middle_frame_is_named_and_the_state_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let (engine, store) = open(dir.path(), None);
    let mut states = Vec::new();
    for i in 0..6 {
        put(&store, &mut model, i, i);
        commit(&engine).unwrap();
        states.push(model.clone());
    }
    drop(engine);
    let seg_name = segments(dir.path()).pop().unwrap();
    let seg = dir.path().join("log").join(&seg_name);
    let mut bytes = fs::read(&seg).unwrap();
    // Frames are written back to back from offset 32: find the third one's payload.
    let mut off = 32;
    for _ in 0..2 {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        off += (24 + len).next_multiple_of(8);
    }
    bytes[off + 30] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();
    let (_e, store, r) = reopen_and_load(dir.path());
    assert!(
        r.skipped
            .iter()
            .any(|s| s.contains(&seg_name) && s.contains("damaged")),
        "the damage is named: {:?}",
        r.skipped
    );
    // Every entry after the damaged one follows on from it, so none applies: the state just
    // before the damage.
    assert_eq!(contents(&store), states[1]);
}

#[test]
fn a_crash_at_every_step_of_an_append_and_of_a_truncation_loses_nothing_acknowledged() {
    // Count the steps of one round: a few appends (one rotating to a new segment), a save, and
    // the removal of the covered segments.
    let round = |dir: &Path, plan: Option<&Arc<FaultPlan>>, model: &mut Model| -> Model {
        let (engine, store) = open(dir, plan);
        let _ = engine.load("svc");
        let mut acked = contents(&store);
        *model = acked.clone();
        for i in 0..40u64 {
            put(&store, model, i % 13, i);
            if commit(&engine).is_err() {
                return acked;
            }
            acked = model.clone();
        }
        if engine.save(&["svc"]).pop().unwrap().1.is_err() {
            return acked;
        }
        for i in 0..5u64 {
            put(&store, model, 50 + i, i);
            if commit(&engine).is_err() {
                return acked;
            }
            acked = model.clone();
        }
        acked
    };
    let counter = FaultPlan::crash(u64::MAX);
    let probe = tempfile::tempdir().unwrap();
    round(probe.path(), Some(&counter), &mut Model::new());
    let steps = counter.steps_seen();
    assert!(steps > 20, "{steps}");
    for step in 0..steps {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Model::new();
        // A first round without faults leaves a log and a generation behind.
        round(dir.path(), None, &mut model);
        let plan = FaultPlan::crash(step);
        let acked = round(dir.path(), Some(&plan), &mut model);
        let (_e, store, r) = reopen_and_load(dir.path());
        let got = contents(&store);
        // Everything acknowledged is there; at most the one unacknowledged commit more.
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, v)| acked.get(*k) != Some(*v))
            .collect();
        assert!(
            extra.len() <= 1 && acked.keys().all(|k| got.contains_key(k)),
            "step {step}: acknowledged {acked:?}\n got {got:?}\n {:?}",
            r.skipped
        );
        assert!(r.skipped.is_empty(), "step {step}: {:?}", r.skipped);
    }
}

#[test]
fn no_space_while_appending_fails_the_commit_and_loses_nothing() {
    for (step, at) in [
        (WriteStep::LogAppend, 3),
        (WriteStep::LogSync, 3),
        (WriteStep::LogCreate, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::on_step(step, at, FaultKind::NoSpace);
        let (engine, store) = open(dir.path(), Some(&plan));
        let mut model = Model::new();
        for i in 0..30 {
            put(&store, &mut model, i, i);
            let r = commit(&engine);
            if let Err(e) = r
                && plan.tripped()
            {
                assert!(e.to_string().contains("No space left"), "{e}");
                break;
            }
        }
        assert!(plan.tripped(), "{step:?}");
        // The change that was refused stays in memory and is in the next commit.
        put(&store, &mut model, 1000, 1);
        commit(&engine).unwrap();
        drop(engine);
        let (_e, store, r) = reopen_and_load(dir.path());
        assert!(r.skipped.is_empty(), "{step:?}: {:?}", r.skipped);
        assert_eq!(contents(&store), model, "{step:?}");
    }
}

#[test]
fn a_log_from_a_newer_build_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (engine, store) = open(dir.path(), None);
        put(&store, &mut Model::new(), 1, 1);
        commit(&engine).unwrap();
    }
    let name = segments(dir.path()).pop().unwrap();
    let seg = dir.path().join("log").join(&name);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c(&bytes[..24]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    fs::write(&seg, &bytes).unwrap();
    let (engine, store) = open(dir.path(), None);
    let err = engine.load("svc").unwrap_err().to_string();
    assert!(err.contains(&name) && err.contains("version 2"), "{err}");
    // Nothing is appended to it either.
    put(&store, &mut Model::new(), 2, 2);
    assert!(commit(&engine).is_err());
    assert_eq!(fs::read(&seg).unwrap(), bytes);
}

/// crc32c (Castagnoli), bitwise: the test's own, independent of the engine's crate.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn blobs_referenced_only_by_the_log_survive_garbage_collection() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    {
        let (engine, store) = open(dir.path(), None);
        let mut w = engine.blob_writer();
        w.write(&body).unwrap();
        let (blob, _) = w.finish().unwrap();
        store.write(|t| {
            t.insert(
                key(1),
                Item {
                    n: 1,
                    blob: Some(blob),
                },
            );
        });
        commit(&engine).unwrap();
    }
    {
        // Another process collects garbage before the service is ever loaded.
        let (engine, _store) = open(dir.path(), None);
        engine.gc().unwrap();
        engine.gc().unwrap();
    }
    let (engine, store, _) = reopen_and_load(dir.path());
    let blob = store.snapshot().get(&key(1)).unwrap().blob.unwrap();
    let mut got = Vec::new();
    for piece in engine.open_blob(&blob).unwrap().read_all() {
        got.extend(piece.unwrap());
    }
    assert_eq!(got, body);
}

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u64),
    Del(u8),
    Commit,
    Save,
    Reset,
    /// Kill the process at this step of the next few write steps, then restart and load.
    Crash(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, any::<u64>()).prop_map(|(k, n)| Op::Put(k, n)),
        2 => (0u8..24).prop_map(Op::Del),
        4 => Just(Op::Commit),
        1 => Just(Op::Save),
        1 => Just(Op::Reset),
        1 => (0u8..12).prop_map(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random writes, commits, saves, resets and crashes at random write steps: after every
    /// restart the state is the model at the last acknowledged commit (or, when the crash hit a
    /// commit, possibly that commit's state too).
    #[test]
    fn load_is_the_model_at_the_last_acknowledged_commit(ops in proptest::collection::vec(op(), 1..50)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut engine, mut store) = open(dir.path(), None);
        let mut model = Model::new();
        let mut acked = Model::new();
        let mut plan: Option<Arc<FaultPlan>> = None;
        let mut in_flight: Option<Model> = None;
        let restart = |plan: &mut Option<Arc<FaultPlan>>| {
            *plan = None;
            let (e, s) = open(dir.path(), None);
            e.load("svc").unwrap();
            (e, s)
        };
        for op in ops {
            match op {
                Op::Put(k, n) => { put(&store, &mut model, u64::from(k), n); }
                Op::Del(k) => { del(&store, &mut model, u64::from(k)); }
                Op::Reset => {
                    engine.reset("svc").unwrap();
                    model.clear();
                }
                Op::Commit => match commit(&engine) {
                    Ok(_) => { acked = model.clone(); in_flight = None; }
                    Err(_) => { in_flight = Some(model.clone()); }
                },
                Op::Save => {
                    // A save logs what changed first (done here, to see whether it was
                    // acknowledged), then saves what the log holds.
                    match commit(&engine) {
                        Ok(_) => { acked = model.clone(); in_flight = None; }
                        Err(_) => { in_flight = Some(model.clone()); }
                    }
                    let _ = engine.save(&["svc"]);
                }
                Op::Crash(at) => {
                    if plan.is_none() {
                        // Arm a crash: the engine is reopened with a fault plan, first loading.
                        drop(engine);
                        let p = FaultPlan::crash(u64::from(at));
                        let (e, s) = open(dir.path(), Some(&p));
                        e.load("svc").unwrap();
                        prop_assert_eq!(&contents(&s), &acked);
                        model = acked.clone();
                        engine = e;
                        store = s;
                        plan = Some(p);
                    } else {
                        drop(engine);
                        let (e, s) = restart(&mut plan);
                        let got = contents(&s);
                        prop_assert!(got == acked || in_flight.as_ref() == Some(&got),
                            "got {:?}\nacked {:?}", got, acked);
                        acked = got.clone();
                        model = got;
                        in_flight = None;
                        engine = e;
                        store = s;
                    }
                }
            }
        }
        drop(engine);
        let (_e, s) = restart(&mut plan);
        let got = contents(&s);
        prop_assert!(got == acked || in_flight.as_ref() == Some(&got), "got {:?}\nacked {:?}", got, acked);
    }
}

//! Many writers, readers, a flush loop and garbage collections on one store, checked against a
//! model. Complements `tests/engine.rs::writers_during_flushes_lose_nothing_and_each_save_is_its_capture`
//! with a multi-key invariant: every transaction moves money between accounts (sometimes moving a
//! whole account to a new key and deleting the old one) and bumps its writer's counter, so
//!
//! - the sum of all balances is constant and the number of accounts too: a reader that ever sees
//!   another sum or count has seen a torn state;
//! - a reader's versions never go backwards, nor does any writer's counter in what it sees;
//! - every saved generation, loaded back, is exactly the model's state at its captured version
//!   (the model replays the transaction log, recorded under the write lock in version order);
//! - the final state is the model's final state: no lost update.

#[path = "fsutil/mod.rs"]
mod fsutil;

use fsutil::files;
use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde::{Deserialize, Serialize};
use snapstack::{Engine, EngineOptions, Key, Partition, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Rec {
    Account(u64),
    Counter(u64),
}
impl Record for Rec {}

const ACCOUNTS: u64 = 64;
const START: u64 = 1_000;
const WRITERS: u64 = 4;
const READERS: usize = 3;
/// Each writer runs at least this many transactions, and on until the flush loop has done
/// `SAVES` saves and `GCS` collections (at most `MAX_TXNS`).
const TXNS: u64 = 1_500;
const MAX_TXNS: u64 = 100_000;
const SAVES: u64 = 8;
const GCS: u64 = 1;

fn acct(n: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .str("acct")
        .u64(n)
        .build()
}

fn counter(w: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .str("ctr")
        .u64(w)
        .build()
}

fn is_acct(k: &Key) -> bool {
    k.as_bytes() > acct(0).as_bytes() && k.as_bytes() < counter(0).as_bytes() || *k == acct(0)
}

/// The changes of one transaction, in version order.
type Log = Vec<(u64, Vec<(Key, Option<Rec>)>)>;

fn check_invariant(m: &BTreeMap<Key, Rec>, what: &str) {
    let mut sum = 0;
    let mut n = 0;
    for (k, v) in m {
        if let Rec::Account(b) = v {
            assert!(is_acct(k), "{what}: an account under a counter key");
            sum += b;
            n += 1;
        }
    }
    assert_eq!(sum, ACCOUNTS * START, "{what}: torn state (sum)");
    assert_eq!(n, ACCOUNTS, "{what}: torn state (accounts)");
}

#[test]
fn many_writers_readers_and_flushes_never_tear_or_lose() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let store = Store::<Rec>::new("bank");
    engine.register(store.clone()).unwrap();
    let mut initial = Vec::new();
    store.write(|t| {
        for a in 0..ACCOUNTS {
            t.insert(acct(a), Rec::Account(START));
            initial.push((acct(a), Some(Rec::Account(START))));
        }
    });
    let log: Arc<Mutex<Log>> = Arc::new(Mutex::new(vec![(1, initial)]));
    let next_key = Arc::new(AtomicU64::new(ACCOUNTS));
    let stop = Arc::new(AtomicBool::new(false));
    let saves = Arc::new(AtomicU64::new(0));
    let collections = Arc::new(AtomicU64::new(0));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, log, next_key) = (store.clone(), log.clone(), next_key.clone());
            let (saves, collections) = (saves.clone(), collections.clone());
            thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (w + 1);
                let mut rnd = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let mut i = 0;
                while i < MAX_TXNS
                    && (i < TXNS
                        || saves.load(Ordering::SeqCst) < SAVES
                        || collections.load(Ordering::SeqCst) < GCS)
                {
                    let (r1, r2, r3) = (rnd(), rnd(), rnd());
                    store.write(|t| {
                        let accts: Vec<(Key, u64)> = t
                            .range(acct(0)..counter(0))
                            .filter_map(|(k, v)| match v {
                                Rec::Account(b) => Some((k.clone(), *b)),
                                Rec::Counter(_) => None,
                            })
                            .collect();
                        let (from, fb) = accts[(r1 % accts.len() as u64) as usize].clone();
                        let (to, tb) = accts[(r2 % accts.len() as u64) as usize].clone();
                        let mut changes = Vec::new();
                        if r3 % 10 == 0 {
                            // Move the whole account to a fresh key.
                            let k = acct(next_key.fetch_add(1, Ordering::SeqCst));
                            t.remove(&from);
                            t.insert(k.clone(), Rec::Account(fb));
                            changes.push((from, None));
                            changes.push((k, Some(Rec::Account(fb))));
                        } else if from != to {
                            let amount = r3 % (fb + 1);
                            t.insert(from.clone(), Rec::Account(fb - amount));
                            t.insert(to.clone(), Rec::Account(tb + amount));
                            changes.push((from, Some(Rec::Account(fb - amount))));
                            changes.push((to, Some(Rec::Account(tb + amount))));
                        }
                        t.insert(counter(w), Rec::Counter(i + 1));
                        changes.push((counter(w), Some(Rec::Counter(i + 1))));
                        // Under the write lock: the log order is the version order.
                        let mut l = log.lock().unwrap();
                        let v = l.last().unwrap().0 + 1;
                        l.push((v, changes));
                    });
                    i += 1;
                }
                i
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            thread::spawn(move || {
                let mut last_version = 0;
                let mut last_ctr = [0u64; WRITERS as usize];
                let mut reads = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let snap = store.snapshot();
                    assert!(snap.version() >= last_version, "a version went backwards");
                    last_version = snap.version();
                    let m: BTreeMap<Key, Rec> =
                        snap.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    check_invariant(&m, "a reader's snapshot");
                    for (w, last) in last_ctr.iter_mut().enumerate() {
                        if let Some(Rec::Counter(c)) = m.get(&counter(w as u64)) {
                            assert!(c >= last, "writer {w}'s counter went backwards");
                            *last = *c;
                        }
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    let saver = {
        let (engine, stop) = (engine.clone(), stop.clone());
        let (saves, collections) = (saves.clone(), collections.clone());
        thread::spawn(move || {
            let mut reports = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                if i.is_multiple_of(5) {
                    engine.gc().unwrap();
                    collections.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                // Alternate background-priority saves and urgent ones (the ON_REQUEST path).
                let r = if i.is_multiple_of(2) {
                    engine.save(&["bank"])
                } else {
                    engine.save_urgent(&["bank"])
                };
                if let Ok(r) = r.into_iter().next().unwrap().1
                    && r.generation.is_some()
                {
                    reports.push(r);
                    saves.fetch_add(1, Ordering::SeqCst);
                }
            }
            reports
        })
    };

    let txns: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, Ordering::SeqCst);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let reports = saver.join().unwrap();
    let gcs = collections.load(Ordering::SeqCst);
    let last = engine.save(&["bank"]).pop().unwrap().1.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len() as u64, 1 + txns);

    let state_at = |version: u64| -> BTreeMap<Key, Rec> {
        let mut m = BTreeMap::new();
        for (v, changes) in &log {
            if *v > version {
                break;
            }
            for (k, r) in changes {
                match r {
                    Some(r) => m.insert(k.clone(), r.clone()),
                    None => m.remove(k),
                };
            }
        }
        m
    };
    let final_state: BTreeMap<Key, Rec> = store
        .snapshot()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(final_state, state_at(u64::MAX), "a lost update");
    check_invariant(&final_state, "the final state");

    // Every kept generation loads back as exactly the model's state at its captured version.
    let kept: Vec<u64> = files(&dir.path().join("manifests/bank"))
        .iter()
        .map(|f| u64::from_str_radix(f.file_stem().unwrap().to_str().unwrap(), 16).unwrap())
        .collect();
    let mut checked = 0;
    // The final save finds nothing to write when the save loop already caught the last write.
    let last_written = last.generation.is_some().then_some(&last);
    for r in reports.iter().chain(last_written) {
        let Some(g) = r.generation else {
            continue;
        };
        if !kept.contains(&g) {
            continue;
        }
        let probe = tempfile::tempdir().unwrap();
        for f in files(dir.path()) {
            let rel = f.strip_prefix(dir.path()).unwrap();
            if rel.starts_with("manifests") {
                let stem = f.file_stem().unwrap().to_str().unwrap();
                if u64::from_str_radix(stem, 16).unwrap() > g {
                    continue;
                }
            }
            let dst = probe.path().join(rel);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::copy(&f, &dst).unwrap();
        }
        let e = Engine::open(probe.path(), EngineOptions::default()).unwrap();
        let s = Store::<Rec>::new("bank");
        e.register(s.clone()).unwrap();
        assert_eq!(e.load("bank").unwrap().generation, Some(g));
        let loaded: BTreeMap<Key, Rec> = s
            .snapshot()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        check_invariant(&loaded, "a loaded generation");
        assert_eq!(loaded, state_at(r.version), "generation {g}");
        checked += 1;
    }
    assert!(checked >= 1);
    println!(
        "concurrency: {} transactions by {WRITERS} writers, {reads} consistent reader snapshots, {} saves and {gcs} collections during the writes, {checked} generations loaded back exactly",
        txns,
        reports.len()
    );
}

//! The on-disk format is a public contract: a snapshot written by format version 1 and committed
//! under `tests/fixtures/format-v1/` must keep loading, with the same contents and the same root
//! hash, and today's encoder must still produce that root for the same state.
//!
//! To regenerate the fixture after a deliberate format change (bump the format version first, and
//! keep the old fixture): `cargo test --test format_fixture -- --ignored regenerate`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use snapstack::{BlobId, Engine, EngineOptions, Key, Partition, Record, Store};

/// The record type of the fixture. Its serde shape is frozen with the fixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FixtureItem {
    name: String,
    n: u64,
    tags: Vec<String>,
    blob: Option<BlobId>,
}

impl Record for FixtureItem {
    fn blobs(&self) -> Vec<BlobId> {
        self.blob.into_iter().collect()
    }
}

/// The root of generation 2 of the fixture, as written by format version 1.
const FIXTURE_ROOT: &str = include_str!("fixtures/format-v1/ROOT");

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1/state")
}

fn blob_bytes() -> Vec<u8> {
    let mut x = 0x0123_4567_89ab_cdefu64;
    (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn key(p: &Partition, i: u64) -> Key {
    p.key().str("items").u64(i).build()
}

/// The fixture's final state, without the blob reference (which the writer fills in).
fn expected(blob: Option<BlobId>) -> BTreeMap<Key, FixtureItem> {
    let mut m = BTreeMap::new();
    for (a, p) in [
        Partition::new("000000000000", "us-east-1"),
        Partition::new("123456789012", "eu-west-1"),
    ]
    .iter()
    .enumerate()
    {
        for i in 0..300u64 {
            if i % 7 == 3 {
                continue; // deleted in generation 2
            }
            let n = if i % 5 == 0 { i * 10 } else { i };
            m.insert(
                key(p, i),
                FixtureItem {
                    name: format!("item-{a}-{i} ünïcødé"),
                    n,
                    tags: (0..i % 3).map(|t| format!("t{t}")).collect(),
                    blob: (i == 42).then_some(blob).flatten(),
                },
            );
        }
    }
    m
}

/// Write the fixture state in two generations into `dir`; returns the second save's root.
fn write_fixture(dir: &Path) -> String {
    let engine = Engine::open(dir, EngineOptions::default()).unwrap();
    let store = Store::<FixtureItem>::new("fixture");
    engine.register(store.clone()).unwrap();
    let mut w = engine.blob_writer();
    w.write(&blob_bytes()).unwrap();
    let (blob, _) = w.finish().unwrap();
    let last = expected(Some(blob));
    // Generation 1: every item, original values.
    store.write(|t| {
        for (k, v) in &last {
            let mut v = v.clone();
            v.n = 1;
            t.insert(k.clone(), v);
        }
        for (k, _) in expected(None).iter().take(3) {
            // Items deleted later, present in generation 1.
            let mut parts = k.clone().as_bytes().to_vec();
            parts.push(0);
            t.insert(
                Key::from_bytes(&parts),
                FixtureItem {
                    name: "doomed".into(),
                    n: 0,
                    tags: vec![],
                    blob: None,
                },
            );
        }
    });
    engine.save(&["fixture"]).pop().unwrap().1.unwrap();
    // Generation 2: the final state.
    store.write(|t| {
        let keys: Vec<Key> = t.range(..).map(|(k, _)| k.clone()).collect();
        for k in keys {
            t.remove(&k);
        }
        for (k, v) in &last {
            t.insert(k.clone(), v.clone());
        }
    });
    let r = engine.save(&["fixture"]).pop().unwrap().1.unwrap();
    r.root.unwrap().to_hex()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_dir(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn the_v1_fixture_still_loads_with_the_same_contents_and_root() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(), dir.path());
    let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let store = Store::<FixtureItem>::new("fixture");
    engine.register(store.clone()).unwrap();
    let report = engine.load("fixture").unwrap();
    assert_eq!(report.generation, Some(2));
    assert!(report.skipped.is_empty());
    let status = engine.status("fixture").unwrap();
    assert_eq!(status.root.unwrap().to_hex(), FIXTURE_ROOT.trim());
    let snap = store.snapshot();
    let blob = snap
        .iter()
        .find_map(|(_, v)| v.blob)
        .expect("the fixture references a blob");
    let got: BTreeMap<Key, FixtureItem> =
        snap.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(got, expected(Some(blob)));
    let b = engine.open_blob(&blob).unwrap();
    let bytes: Vec<u8> = b.read_all().flat_map(|p| p.unwrap()).collect();
    assert_eq!(bytes, blob_bytes());
}

#[test]
fn todays_encoder_writes_the_fixture_root() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(write_fixture(dir.path()), FIXTURE_ROOT.trim());
}

#[test]
#[ignore = "writes the committed fixture; run only after a deliberate format change"]
fn regenerate() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(base.join("state")).unwrap();
    let root = write_fixture(&base.join("state"));
    fs::write(base.join("ROOT"), format!("{root}\n")).unwrap();
}

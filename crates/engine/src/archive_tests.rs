//! Archive round trips and damage: an export imported elsewhere gives the same records and
//! blobs, byte for byte; a damaged archive is refused, naming what is wrong, with nothing written.

use std::path::Path;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::{EngineOptions, Key, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Obj {
    text: Vec<u8>,
    body: Option<BlobId>,
}

impl Record for Obj {
    fn blobs(&self) -> Vec<BlobId> {
        self.body.into_iter().collect()
    }
}

/// A record to store: its key number, its value bytes, and the bytes of its blob if it has one.
type Spec = (u64, Vec<u8>, Option<Vec<u8>>);

fn key(i: u64) -> Key {
    Key::builder().str("k").u64(i).build()
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A volume with service `name` holding `records` (value bytes, and a blob's bytes or none),
/// saved as one generation.
fn source(dir: &Path, name: &str, records: &[Spec]) -> Engine {
    let engine = Engine::open(dir, EngineOptions::default()).unwrap();
    let store = Store::<Obj>::new(name);
    engine.register(store.clone()).unwrap();
    let mut blobs = Vec::new();
    for (_, _, b) in records {
        blobs.push(b.as_ref().map(|bytes| {
            let mut w = engine.blob_writer();
            w.write(bytes).unwrap();
            w.finish().unwrap().0
        }));
    }
    store.write(|t| {
        for ((k, v, _), body) in records.iter().zip(blobs) {
            t.insert(
                key(*k),
                Obj {
                    text: v.clone(),
                    body,
                },
            );
        }
    });
    for (_, r) in engine.save(&[name]) {
        r.unwrap();
    }
    engine
}

fn export(engine: &Engine, services: Option<&[String]>, file: &Path) -> ExportPlan {
    let plan = engine.plan_export(services, None).unwrap();
    let mut f = std::fs::File::create(file).unwrap();
    let mut last = 0;
    let size = engine
        .export_archive(&plan, &mut f, &mut |n| last = n)
        .unwrap();
    assert_eq!(last, size);
    assert_eq!(std::fs::metadata(file).unwrap().len(), size);
    plan
}

/// The records of `name` in the newest generation saved in `dir`, each with its blob's bytes.
fn contents(dir: &Path, name: &str) -> Vec<(Key, Vec<u8>, Option<Vec<u8>>)> {
    let engine = Engine::open(dir, EngineOptions::default()).unwrap();
    let store = Store::<Obj>::new(name);
    engine.register(store.clone()).unwrap();
    engine.load(name).unwrap();
    store
        .snapshot()
        .iter()
        .map(|(k, v)| {
            let body = v.body.map(|b| {
                let blob = engine.open_blob(&b).unwrap();
                blob.read_all().flat_map(|r| r.unwrap()).collect()
            });
            (k.clone(), v.text.clone(), body)
        })
        .collect()
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn sample() -> Vec<Spec> {
    (0..400u64)
        .map(|i| {
            let blob = (i % 97 == 0).then(|| pseudo_random(150_000 + i as usize, i));
            (i, format!("value {i}").into_bytes(), blob)
        })
        .collect()
}

#[test]
fn export_then_import_gives_the_same_records_and_blobs_as_a_new_generation() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let src = source(a.path(), "objs", &sample());
    let file = a.path().join("x.snaparchive");
    let plan = export(&src, None, &file);
    assert_eq!(plan.header.services.len(), 1);
    assert_eq!(plan.header.services[0].records, 400);
    assert_eq!(plan.header.services[0].blobs, 5);

    let dst = Engine::open(b.path().join("state"), EngineOptions::default()).unwrap();
    let mut passes = Vec::new();
    let report = dst
        .import_archive(&file, &mut |pass, _| {
            if passes.last() != Some(&pass) {
                passes.push(pass)
            }
        })
        .unwrap();
    assert_eq!(passes, [1, 2]);
    assert_eq!(report.services[0].generation, 1);
    assert_eq!(report.new_chunks, plan.header.chunks);
    assert_eq!(
        contents(&b.path().join("state"), "objs"),
        contents(a.path(), "objs")
    );
    drop(dst);
    // Importing again adds a generation and no chunk.
    let dst = Engine::open(b.path().join("state"), EngineOptions::default()).unwrap();
    let again = dst.import_archive(&file, &mut |_, _| {}).unwrap();
    assert_eq!(again.services[0].generation, 2);
    assert_eq!(again.new_chunks, 0);
    assert_eq!(
        contents(&b.path().join("state"), "objs"),
        contents(a.path(), "objs")
    );
}

#[test]
fn services_are_chosen_and_a_missing_generation_is_named() {
    let a = tempfile::tempdir().unwrap();
    let src = source(a.path(), "one", &sample()[..20]);
    let store = Store::<Obj>::new("two");
    src.register(store.clone()).unwrap();
    store.write(|t| {
        t.insert(
            key(1),
            Obj {
                text: b"x".to_vec(),
                body: None,
            },
        )
    });
    src.save(&["two"])[0].1.as_ref().unwrap();
    let only = vec!["two".to_string()];
    let plan = src.plan_export(Some(&only), None).unwrap();
    assert_eq!(plan.header.services.len(), 1);
    assert_eq!(plan.header.services[0].service, "two");
    let e = src
        .plan_export(Some(&only), Some(7))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("two") && e.contains("no saved generation 7"),
        "{e}"
    );
    let all = src.plan_export(None, None).unwrap();
    assert_eq!(all.header.services.len(), 2);
}

#[test]
fn a_damaged_archive_is_refused_naming_the_damage_and_nothing_is_written() {
    let a = tempfile::tempdir().unwrap();
    let src = source(a.path(), "objs", &sample()[..150]);
    let file = a.path().join("x.snaparchive");
    export(&src, None, &file);
    let good = std::fs::read(&file).unwrap();
    let b = tempfile::tempdir().unwrap();
    let state = b.path().join("state");
    let dst = Engine::open(&state, EngineOptions::default()).unwrap();
    let before = files(&state);
    let bad = a.path().join("bad.snaparchive");
    let len = good.len();
    for (what, at, expect) in [
        ("magic", 0, "bad magic"),
        ("header", 20, "header"),
        ("a chunk in the middle", len / 2, "offset"),
        ("the trailer's hash", len - 20, "hash"),
        ("the end magic", len - 3, "end magic"),
    ] {
        let mut bytes = good.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&bad, &bytes).unwrap();
        let e = dst.import_archive(&bad, &mut |_, _| {}).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(expect), "{what}: {msg}");
        assert!(msg.contains("bad.snaparchive"), "{what}: {msg}");
        assert_eq!(files(&state), before, "{what}: nothing written");
    }
    // Truncated anywhere, or with bytes after its end.
    for cut in [10, len / 3, len - 1] {
        std::fs::write(&bad, &good[..cut]).unwrap();
        let msg = dst
            .import_archive(&bad, &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
    }
    let mut longer = good.clone();
    longer.push(0);
    std::fs::write(&bad, &longer).unwrap();
    let msg = dst
        .import_archive(&bad, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("bytes follow"), "{msg}");
    assert_eq!(files(&state), before);
    // The intact archive still imports.
    dst.import_archive(&file, &mut |_, _| {}).unwrap();
    assert!(verify_archive(&file, &mut |_| {}).is_ok());
}

#[test]
fn a_chunk_replaced_by_another_valid_chunk_is_caught_as_incomplete() {
    // Every entry's hash checks, the framing hash is recomputed: only the references tell.
    let a = tempfile::tempdir().unwrap();
    let src = source(a.path(), "objs", &sample()[..40]);
    let plan = src.plan_export(None, None).unwrap();
    let mut out = Vec::new();
    src.export_archive(&plan, &mut out, &mut |_| {}).unwrap();
    // Find the last blob piece entry and rewrite it as the piece of other bytes.
    let mut r = &out[..];
    let _ = read_archive(&mut r, "x", &mut |_, _| Ok(())).unwrap();
    let mut offsets = Vec::new();
    let mut pos = 16 + u32::from_le_bytes(out[12..16].try_into().unwrap()) as usize + 32;
    loop {
        let kind = out[pos];
        if kind == KIND_END {
            break;
        }
        let len = u32::from_le_bytes(out[pos + 1..pos + 5].try_into().unwrap()) as usize;
        let id_len = if kind == KIND_MANIFEST { 0 } else { 32 };
        offsets.push((kind, pos, len));
        pos += 5 + id_len + len;
    }
    let (_, at, len) = *offsets.iter().rev().find(|e| e.0 == KIND_NODE).unwrap();
    let other = vec![0x01u8, 0, 1, 1, b'z', 1, b'z', 0];
    let mut forged = out[..at].to_vec();
    forged.push(KIND_NODE);
    forged.extend_from_slice(&(other.len() as u32).to_le_bytes());
    forged.extend_from_slice(&ChunkId::of(&other).0);
    forged.extend_from_slice(&other);
    let rest_start = at + 5 + 32 + len;
    let trailer_at = out.len() - (1 + 24 + 32 + 8);
    forged.extend_from_slice(&out[rest_start..trailer_at + 1]);
    let mut n = [0u64; 3];
    for (i, x) in n.iter_mut().enumerate() {
        *x = u64::from_le_bytes(
            out[trailer_at + 1 + i * 8..trailer_at + 9 + i * 8]
                .try_into()
                .unwrap(),
        );
    }
    n[2] = n[2] - len as u64 + other.len() as u64;
    for x in n {
        forged.extend_from_slice(&x.to_le_bytes());
    }
    let sum = blake3::hash(&forged);
    forged.extend_from_slice(sum.as_bytes());
    forged.extend_from_slice(ARCHIVE_END_MAGIC);
    let file = a.path().join("forged");
    std::fs::write(&file, &forged).unwrap();
    let msg = verify_archive(&file, &mut |_| {}).unwrap_err().to_string();
    // Either the counts disagree with the header or a reference is missing: refused either way.
    assert!(
        msg.contains("not in it") || msg.contains("says") || msg.contains("header"),
        "{msg}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Any store, exported and imported into an empty volume, loads as the same records with the
    /// same blob bytes.
    #[test]
    fn round_trip_of_generated_stores(
        records in proptest::collection::btree_map(
            any::<u64>(),
            (proptest::collection::vec(any::<u8>(), 0..64), proptest::option::weighted(0.1, 0usize..100_000)),
            0..300,
        )
    ) {
        let records: Vec<Spec> = records
            .into_iter()
            .map(|(k, (v, blob))| (k, v, blob.map(|n| pseudo_random(n, k))))
            .collect();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let src = source(a.path(), "gen", &records);
        let file = a.path().join("x");
        export(&src, None, &file);
        let dst = Engine::open(b.path(), EngineOptions::default()).unwrap();
        dst.import_archive(&file, &mut |_, _| {}).unwrap();
        drop((src, dst));
        let got = contents(b.path(), "gen");
        prop_assert_eq!(&got, &contents(a.path(), "gen"));
        prop_assert_eq!(got.len(), records.len());
    }
}

//! Looking at a state directory without loading it: which generations each service has, and
//! whether every byte they reference is still there and intact. Read-only: nothing is written,
//! repaired or removed, so it is safe beside a running server and on a damaged directory.
//!
//! It needs no record types: tree nodes, blob indexes and blob pieces are walked by their
//! format (`docs/FORMAT.md` §5), and every chunk read is checked against its blake3 id.

use std::collections::HashSet;

use std::sync::Arc;

use crate::chunk_store::ChunkStore;
use crate::manifest::{Manifest, Manifests};
use crate::tree::{RawRecords, collect_tree_chunks};
use crate::{Blob, BlobId, ChunkId, Key, Result};

/// One saved generation of one service, as found on disk.
#[derive(Clone, Debug)]
pub struct GenerationInfo {
    pub service: String,
    pub generation: u64,
    /// The manifest, or why it could not be read (the error names the file).
    pub manifest: std::result::Result<Manifest, String>,
}

/// What checking one generation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationCheck {
    pub service: String,
    pub generation: u64,
    /// Records, tree chunks and blobs the generation holds (from its manifest and its leaves).
    pub records: u64,
    pub tree_chunks: u64,
    pub blobs: u64,
    /// `None`: the manifest, every tree node, blob index and blob piece it references were read
    /// and match their hashes. Otherwise the first problem found, naming the file.
    pub problem: Option<String>,
}

/// The result of checking every generation of every service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub generations: Vec<GenerationCheck>,
    /// Pack files whose index could not be read when the directory was opened (each names the
    /// file and the reason); what could be verified of them is still used.
    pub damaged_packs: Vec<String>,
    /// Distinct chunks read and checked.
    pub chunks_checked: u64,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.damaged_packs.is_empty() && self.generations.iter().all(|g| g.problem.is_none())
    }

    /// Whether every service's newest generation checks out (what a load would use).
    pub fn newest_are_good(&self) -> bool {
        let mut newest: std::collections::BTreeMap<&str, &GenerationCheck> = Default::default();
        for g in &self.generations {
            let e = newest.entry(g.service.as_str()).or_insert(g);
            if g.generation > e.generation {
                *e = g;
            }
        }
        newest.values().all(|g| g.problem.is_none())
    }
}

/// How one key differs between two generations of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    /// Only in the later generation; `size` is its encoded value's length.
    Added { key: Key, size: usize },
    /// Only in the earlier generation.
    Removed { key: Key, size: usize },
    /// In both, with different encoded values.
    Changed {
        key: Key,
        old_size: usize,
        new_size: usize,
    },
}

/// What changed between two generations of one service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    pub service: String,
    pub from: u64,
    pub to: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// The first changes in key order, at most the limit asked for.
    pub changes: Vec<RecordChange>,
}

/// Compare two generations of `service` record by record, in key order. Values are compared as
/// encoded bytes, so no record type is needed.
pub(crate) fn diff(
    manifests: &Manifests<'_>,
    chunks: &dyn ChunkStore,
    service: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<DiffReport> {
    let a = manifests.read(service, from)?;
    let b = manifests.read(service, to)?;
    let mut report = DiffReport {
        service: service.to_string(),
        from,
        to,
        ..DiffReport::default()
    };
    let mut left = RawRecords::new(chunks, a.root);
    let mut right = RawRecords::new(chunks, b.root);
    let (mut l, mut r) = (left.next_record()?, right.next_record()?);
    loop {
        use std::cmp::Ordering::{Greater, Less};
        let order = match (&l, &r) {
            (None, None) => break,
            (Some(_), None) => Less,
            (None, Some(_)) => Greater,
            (Some((lk, _)), Some((rk, _))) => lk.cmp(rk),
        };
        // The side(s) whose key comes first leave their record and advance.
        let old = if order != Greater { l.take() } else { None };
        let new = if order != Less { r.take() } else { None };
        if old.is_some() {
            l = left.next_record()?;
        }
        if new.is_some() {
            r = right.next_record()?;
        }
        let change = match (old, new) {
            (Some((k, v)), None) => {
                report.removed += 1;
                Some(RecordChange::Removed {
                    key: Key::from_bytes(&k),
                    size: v.len(),
                })
            }
            (None, Some((k, v))) => {
                report.added += 1;
                Some(RecordChange::Added {
                    key: Key::from_bytes(&k),
                    size: v.len(),
                })
            }
            (Some((k, old)), Some((_, new))) => {
                if old == new {
                    report.unchanged += 1;
                    None
                } else {
                    report.changed += 1;
                    Some(RecordChange::Changed {
                        key: Key::from_bytes(&k),
                        old_size: old.len(),
                        new_size: new.len(),
                    })
                }
            }
            // Not reached: the loop stops when both sides are done.
            (None, None) => None,
        };
        if let Some(c) = change
            && report.changes.len() < limit
        {
            report.changes.push(c);
        }
    }
    Ok(report)
}

/// Every generation of every service, oldest first within a service.
pub(crate) fn generations(manifests: &Manifests<'_>) -> Result<Vec<GenerationInfo>> {
    let mut out = Vec::new();
    for service in manifests.services()? {
        for generation in manifests.generations(&service)? {
            let manifest = manifests
                .read(&service, generation)
                .map_err(|e| e.to_string());
            out.push(GenerationInfo {
                service: service.clone(),
                generation,
                manifest,
            });
        }
    }
    Ok(out)
}

/// Read and check everything every generation references. A chunk shared by several
/// generations is read once.
pub(crate) fn verify(
    manifests: &Manifests<'_>,
    chunks: Arc<dyn ChunkStore>,
    damaged_packs: Vec<String>,
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        damaged_packs,
        ..VerifyReport::default()
    };
    // Chunks already read and found good, shared across generations.
    let mut good: HashSet<ChunkId> = HashSet::new();
    for info in generations(manifests)? {
        let mut check = GenerationCheck {
            service: info.service.clone(),
            generation: info.generation,
            records: 0,
            tree_chunks: 0,
            blobs: 0,
            problem: None,
        };
        match info.manifest {
            Err(e) => check.problem = Some(e),
            Ok(m) => {
                check.records = m.records;
                check.tree_chunks = m.tree_chunks;
                if let Err(e) = verify_generation(&m, &chunks, &mut good, &mut check.blobs) {
                    check.problem = Some(e.in_service(&info.service).to_string());
                }
            }
        }
        report.generations.push(check);
    }
    report.chunks_checked = good.len() as u64;
    Ok(report)
}

fn verify_generation(
    m: &Manifest,
    chunks: &Arc<dyn ChunkStore>,
    good: &mut HashSet<ChunkId>,
    blob_count: &mut u64,
) -> Result<()> {
    let Some(root) = m.root else {
        return Ok(());
    };
    // `collect_tree_chunks` reads (and so checks) every node not yet in `good`, and skips the
    // subtrees under nodes already there.
    let mut blobs: Vec<BlobId> = Vec::new();
    collect_tree_chunks(chunks.as_ref(), root, good, &mut blobs)?;
    let mut seen = HashSet::new();
    for b in blobs {
        if !seen.insert(b.index) {
            continue;
        }
        *blob_count += 1;
        if good.contains(&b.index) {
            continue;
        }
        // Reads and checks the index chunk, and its size against the record's.
        let blob = Blob::open(chunks.clone(), &b)?;
        good.insert(b.index);
        for &(piece, len) in blob.pieces() {
            if good.contains(&piece) {
                continue;
            }
            let data = chunks.get(&piece)?;
            if data.len() != len as usize {
                return Err(crate::Error::corrupt(
                    format!("blob piece {piece}"),
                    format!("{} bytes where its index says {len}", data.len()),
                ));
            }
            good.insert(piece);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::{BlobId, Engine, EngineOptions, Key, Record, Store};

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

    fn key(i: u32) -> Key {
        Key::builder().str("docs").u64(u64::from(i)).build()
    }

    /// Two generations of a store with records and one blob.
    fn saved(dir: &std::path::Path) -> Engine {
        let engine = Engine::open(dir, EngineOptions::default()).unwrap();
        let store = Store::<Doc>::new("docs");
        engine.register(store.clone()).unwrap();
        let mut w = engine.blob_writer();
        w.write(&vec![7u8; 300_000]).unwrap();
        let (body, _) = w.finish().unwrap();
        store.write(|t| {
            for i in 0..500 {
                let body = (i == 3).then_some(body);
                t.insert(
                    key(i),
                    Doc {
                        text: format!("doc {i}"),
                        body,
                    },
                );
            }
        });
        assert!(engine.save(&["docs"])[0].1.is_ok());
        store.write(|t| {
            t.insert(
                key(1),
                Doc {
                    text: "changed".into(),
                    body: None,
                },
            )
        });
        assert!(engine.save(&["docs"])[0].1.is_ok());
        engine
    }

    #[test]
    fn a_version_reader_follows_its_store_and_only_a_registered_one_is_given() {
        let engine = Engine::in_memory().unwrap();
        assert!(engine.version_reader("docs").is_err());
        let store = Store::<Doc>::new("docs");
        engine.register(store.clone()).unwrap();
        let reader = engine.version_reader("docs").unwrap();
        let before = reader.get();
        assert_eq!(before, engine.version("docs").unwrap());
        store.write(|t| {
            t.insert(
                key(1),
                Doc {
                    text: "one".into(),
                    body: None,
                },
            )
        });
        assert!(reader.get() > before);
        assert_eq!(reader.get(), engine.version("docs").unwrap());
    }

    #[test]
    fn a_good_directory_lists_and_verifies_clean() {
        let dir = tempfile::tempdir().unwrap();
        drop(saved(dir.path()));
        let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
        let gens = e.generations_on_disk().unwrap();
        assert_eq!(gens.len(), 2);
        assert!(gens.iter().all(|g| g.service == "docs"));
        assert_eq!(gens[1].manifest.as_ref().unwrap().records, 500);
        let r = e.verify().unwrap();
        assert!(r.is_clean(), "{r:?}");
        assert!(r.newest_are_good());
        assert_eq!(r.generations.len(), 2);
        assert!(r.generations.iter().all(|g| g.blobs == 1));
        // Both generations' nodes, the blob index and its pieces (300 KB: several).
        assert!(r.chunks_checked > 4, "{r:?}");
    }

    #[test]
    fn a_flipped_byte_is_found_and_named_and_nothing_is_changed() {
        let dir = tempfile::tempdir().unwrap();
        drop(saved(dir.path()));
        let packs: Vec<_> = std::fs::read_dir(dir.path().join("packs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Flip one byte in the middle of the data region of every pack.
        for p in &packs {
            let mut bytes = std::fs::read(p).unwrap();
            let at = bytes.len() / 3;
            bytes[at] ^= 0x40;
            std::fs::write(p, &bytes).unwrap();
        }
        let before: Vec<_> = packs.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
        let r = e.verify().unwrap();
        assert!(!r.is_clean());
        let problems: Vec<&String> = r
            .generations
            .iter()
            .filter_map(|g| g.problem.as_ref())
            .collect();
        assert!(!problems.is_empty(), "{r:?}");
        assert!(
            problems.iter().any(|p| p.contains(".pack")),
            "a problem names the pack file: {problems:?}"
        );
        let after: Vec<_> = packs.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(before, after, "verify writes nothing");
    }

    #[test]
    fn diff_of_two_generations_names_each_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        drop(saved(dir.path()));
        let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
        let d = e.diff_generations("docs", 1, 2, 10).unwrap();
        assert_eq!((d.added, d.removed, d.changed, d.unchanged), (0, 0, 1, 499));
        assert!(
            matches!(&d.changes[..], [super::RecordChange::Changed { key, .. }] if *key == super::tests::key(1)),
            "{d:?}"
        );
        // The same generation against itself: nothing.
        let same = e.diff_generations("docs", 2, 2, 10).unwrap();
        assert_eq!((same.added, same.removed, same.changed), (0, 0, 0));
        assert_eq!(same.unchanged, 500);
        // A generation that does not exist is an error naming it.
        let err = e
            .diff_generations("docs", 1, 9, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("0000000000000009"), "{err}");
    }

    #[test]
    fn diff_counts_added_and_removed_records_and_keeps_only_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
        let store = Store::<Doc>::new("docs");
        engine.register(store.clone()).unwrap();
        let doc = |t: &str| Doc {
            text: t.into(),
            body: None,
        };
        store.write(|t| {
            for i in 0..100 {
                t.insert(key(i), doc("a"));
            }
        });
        assert!(engine.save(&["docs"])[0].1.is_ok());
        store.write(|t| {
            for i in 0..10 {
                t.remove(&key(i));
            }
            for i in 100..130 {
                t.insert(key(i), doc("b"));
            }
            t.insert(key(50), doc("changed"));
        });
        assert!(engine.save(&["docs"])[0].1.is_ok());
        let d = engine.diff_generations("docs", 1, 2, 5).unwrap();
        assert_eq!(
            (d.added, d.removed, d.changed, d.unchanged),
            (30, 10, 1, 89)
        );
        assert_eq!(d.changes.len(), 5);
        assert!(matches!(d.changes[0], super::RecordChange::Removed { .. }));
        let back = engine.diff_generations("docs", 2, 1, 1000).unwrap();
        assert_eq!((back.added, back.removed, back.changed), (10, 30, 1));
        assert_eq!(back.changes.len(), 41);
    }

    #[test]
    fn an_unreadable_manifest_is_listed_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(saved(dir.path()));
        let mdir = dir.path().join("manifests").join("docs");
        let newest = std::fs::read_dir(&mdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max()
            .unwrap();
        std::fs::write(&newest, b"not a manifest").unwrap();
        let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
        let gens = e.generations_on_disk().unwrap();
        assert!(gens[1].manifest.is_err());
        assert!(gens[0].manifest.is_ok());
        let r = e.verify().unwrap();
        assert!(!r.newest_are_good());
        assert!(r.generations[0].problem.is_none());
        let p = r.generations[1].problem.as_deref().unwrap();
        assert!(p.contains(".manifest"), "{p}");
    }
}

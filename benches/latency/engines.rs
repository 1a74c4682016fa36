//! The engines under test (part of `benches/latency.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use snapstack::{Engine, EngineOptions, Key, Store};

use crate::locking::LockingStore;
use crate::{Config, Kind, SERVICE, Value, key, value};

/// What one snapshot did.
pub(crate) struct Snap {
    pub(crate) bytes: u64,
}

pub(crate) enum Target {
    Cow {
        store: Arc<Store<Value>>,
        engine: Engine,
        _dir: tempfile::TempDir,
    },
    CowFull {
        store: Arc<Store<Value>>,
        parent: PathBuf,
    },
    Locking {
        store: LockingStore<Value>,
        _dir: tempfile::TempDir,
    },
}

impl Target {
    pub(crate) fn new(kind: Kind, cfg: &Config) -> Target {
        let dir = || tempfile::tempdir_in(&cfg.dir).expect("temp dir");
        match kind {
            Kind::Cow | Kind::CowBuffered | Kind::CowFg | Kind::CowIdle => {
                let d = dir();
                let engine = Engine::open(
                    d.path(),
                    EngineOptions {
                        background_saves: matches!(kind, Kind::Cow | Kind::CowBuffered),
                        direct_writes: kind != Kind::CowBuffered,
                        ..EngineOptions::default()
                    },
                )
                .expect("engine");
                let store = Store::new(SERVICE);
                engine.register(store.clone()).expect("register");
                Target::Cow {
                    store,
                    engine,
                    _dir: d,
                }
            }
            Kind::CowFull => Target::CowFull {
                store: Store::new(SERVICE),
                parent: cfg.dir.clone(),
            },
            Kind::Locking => {
                let d = dir();
                Target::Locking {
                    store: LockingStore::new(d.path(), SERVICE),
                    _dir: d,
                }
            }
        }
    }

    pub(crate) fn fill(&self, n: u64) {
        let batch = 10_000;
        let mut i = 0;
        while i < n {
            let end = (i + batch).min(n);
            match self {
                Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                    store.write(|t| {
                        for j in i..end {
                            t.insert(key(j), value(j));
                        }
                    });
                }
                Target::Locking { store, .. } => store.extend((i..end).map(|j| (key(j), value(j)))),
            }
            i = end;
        }
    }

    #[inline]
    pub(crate) fn write(&self, k: Key, v: Value) {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                store.write(|t| {
                    t.insert(k, v);
                });
            }
            Target::Locking { store, .. } => {
                store.insert(k, v);
            }
        }
    }

    #[inline]
    pub(crate) fn read(&self, k: &Key) -> usize {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                store.snapshot().get(k).map_or(0, |v| v.0.len())
            }
            Target::Locking { store, .. } => store.read(k, |v| v.map_or(0, |v| v.0.len())),
        }
    }

    pub(crate) fn cow_store(&self) -> Option<&Arc<Store<Value>>> {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => Some(store),
            Target::Locking { .. } => None,
        }
    }

    /// Take one snapshot. Returns what it wrote and, for the full-save variant, a directory to
    /// remove once the snapshot's window is closed.
    pub(crate) fn snapshot(&self) -> (Snap, Option<(Engine, tempfile::TempDir)>) {
        match self {
            Target::Cow { engine, .. } => {
                let r = engine
                    .save(&[SERVICE])
                    .pop()
                    .expect("one result")
                    .1
                    .expect("save");
                (Snap { bytes: r.new_bytes }, None)
            }
            Target::CowFull { store, parent } => {
                // A full save from an empty tree: a fresh engine and directory each time.
                let d = tempfile::tempdir_in(parent).expect("temp dir");
                let engine = Engine::open(d.path(), EngineOptions::default()).expect("engine");
                let s = Store::<Value>::new(SERVICE);
                s.replace(store.snapshot().map().clone());
                engine.register(s).expect("register");
                let r = engine
                    .save(&[SERVICE])
                    .pop()
                    .expect("one result")
                    .1
                    .expect("save");
                (Snap { bytes: r.new_bytes }, Some((engine, d)))
            }
            Target::Locking { store, .. } => {
                let r = store.save().expect("save");
                (Snap { bytes: r.bytes }, None)
            }
        }
    }
}

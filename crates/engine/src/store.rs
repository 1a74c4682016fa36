//! Copy-on-write service stores.
//!
//! A [`Store`] holds one service's state: an ordered persistent map (`imbl::OrdMap`) from [`Key`] to
//! records, published as an immutable root behind an `ArcSwap`. Readers load the root without a
//! lock. Writers take the store's write lock, edit a copy of the map (which shares all untouched
//! nodes with the old one), and publish it with a new version. A [`Snapshot`] is a clone of the
//! root's `Arc`: O(1), no copying, and nobody waits for it.

use std::fmt;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use imbl::OrdMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blob::BlobId;
use crate::key::Key;

/// A value kept in a store. Records are encoded with `postcard` when saved, so their serde shape is
/// part of the on-disk format of the service that owns them.
pub trait Record:
    Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync + fmt::Debug + 'static
{
    /// The blobs this record references. They are kept alive (not garbage-collected) for as long
    /// as a saved generation holds the record.
    fn blobs(&self) -> Vec<BlobId> {
        Vec::new()
    }
}

/// The map type behind every store.
pub type Map<V> = OrdMap<Key, Arc<V>>;

struct Root<V> {
    version: u64,
    map: Map<V>,
}

/// An immutable view of a store at one version. Cloning is O(1).
pub struct Snapshot<V> {
    root: Arc<Root<V>>,
}

impl<V> Clone for Snapshot<V> {
    fn clone(&self) -> Self {
        Snapshot {
            root: self.root.clone(),
        }
    }
}

impl<V: Record> Snapshot<V> {
    /// The store version this snapshot was taken at. Every published write advances it by one.
    pub fn version(&self) -> u64 {
        self.root.version
    }

    pub fn get(&self, key: &Key) -> Option<&V> {
        self.root.map.get(key).map(|v| &**v)
    }

    pub fn len(&self) -> usize {
        self.root.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.root.map.is_empty()
    }

    /// Records whose keys start with `prefix`, in key order.
    pub fn scan_prefix<'a>(&'a self, prefix: &Key) -> impl Iterator<Item = (&'a Key, &'a V)> + 'a {
        self.root
            .map
            .range(prefix.prefix_range())
            .map(|(k, v)| (k, &**v))
    }

    /// Records in a key range, in key order.
    pub fn range<'a, R: RangeBounds<Key>>(
        &'a self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&'a Key, &'a V)> + 'a {
        self.root.map.range(range).map(|(k, v)| (k, &**v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.root.map.iter().map(|(k, v)| (k, &**v))
    }

    /// The underlying persistent map (shares structure with the store; cloning it is O(1)).
    pub fn map(&self) -> &Map<V> {
        &self.root.map
    }
}

/// A write transaction on one store: a private copy of the map that is published on commit.
/// Writers of one store are serialized by the store's write lock.
pub struct Txn<'a, V> {
    map: Map<V>,
    _lock: MutexGuard<'a, Recent<V>>,
}

/// The roots of the most recent versions, kept so a write can be undone (see [`Store::undo`]).
/// Held under the write lock; empty unless [`Store::keep_recent`] asked for some.
struct Recent<V> {
    keep: usize,
    roots: std::collections::VecDeque<Arc<Root<V>>>,
}

impl<V> Recent<V> {
    fn push(&mut self, root: &Arc<Root<V>>) {
        if self.keep == 0 {
            return;
        }
        self.roots.push_back(root.clone());
        while self.roots.len() > self.keep {
            self.roots.pop_front();
        }
    }
}

impl<V: Record> Txn<'_, V> {
    pub fn get(&self, key: &Key) -> Option<&V> {
        self.map.get(key).map(|v| &**v)
    }

    pub fn contains(&self, key: &Key) -> bool {
        self.map.contains_key(key)
    }

    /// Insert or replace a record, returning the old one.
    pub fn insert(&mut self, key: Key, value: V) -> Option<Arc<V>> {
        self.map.insert(key, Arc::new(value))
    }

    pub fn remove(&mut self, key: &Key) -> Option<Arc<V>> {
        self.map.remove(key)
    }

    /// Remove every record whose key starts with `prefix`; returns how many were removed.
    pub fn remove_prefix(&mut self, prefix: &Key) -> usize {
        let keys: Vec<Key> = self
            .map
            .range(prefix.prefix_range())
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.map.remove(k);
        }
        keys.len()
    }

    pub fn scan_prefix<'b>(&'b self, prefix: &Key) -> impl Iterator<Item = (&'b Key, &'b V)> + 'b {
        self.map
            .range(prefix.prefix_range())
            .map(|(k, v)| (k, &**v))
    }

    pub fn range<'b, R: RangeBounds<Key>>(
        &'b self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&'b Key, &'b V)> + 'b {
        self.map.range(range).map(|(k, v)| (k, &**v))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// One service's state.
pub struct Store<V> {
    name: String,
    root: ArcSwap<Root<V>>,
    write_lock: Mutex<Recent<V>>,
}

impl<V: Record> Store<V> {
    /// A new, empty store. `name` is the service name the engine saves it under: 1 to 64 bytes of
    /// `[a-z0-9_-]`.
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(Store {
            name: name.to_string(),
            root: ArcSwap::from_pointee(Root {
                version: 0,
                map: OrdMap::new(),
            }),
            write_lock: Mutex::new(Recent {
                keep: 0,
                roots: std::collections::VecDeque::new(),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current root, in O(1). Neither readers nor writers wait for it.
    pub fn snapshot(&self) -> Snapshot<V> {
        Snapshot {
            root: self.root.load_full(),
        }
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.root.load().version
    }

    /// Run `f` on a private copy of the state and publish the result once, with a new version if
    /// anything changed. Returns `f`'s result and the version that holds the change (the current
    /// version if nothing changed).
    ///
    /// A panic inside `f` publishes nothing.
    pub fn write<R>(&self, f: impl FnOnce(&mut Txn<'_, V>) -> R) -> (R, u64) {
        let lock = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.root.load_full();
        let mut txn = Txn {
            map: current.map.clone(),
            _lock: lock,
        };
        let out = f(&mut txn);
        if txn.map.ptr_eq(&current.map) {
            return (out, current.version);
        }
        let version = current.version + 1;
        let Txn {
            map,
            _lock: mut lock,
        } = txn;
        let root = Arc::new(Root { version, map });
        if lock.keep > 0 {
            if lock
                .roots
                .back()
                .is_none_or(|r| r.version != current.version)
            {
                lock.push(&current);
            }
            lock.push(&root);
        }
        self.root.store(root);
        (out, version)
    }

    /// Keep the roots of the last `n` versions so that their writes can be undone ([`Store::undo`]);
    /// `0` (the default) keeps none. Old roots share their nodes with the current one, so the
    /// cost is the paths the kept writes changed.
    pub fn keep_recent(&self, n: usize) {
        let mut lock = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        lock.keep = n;
        while lock.roots.len() > n {
            lock.roots.pop_front();
        }
    }

    /// Undo the write that produced `version`: every key it changed goes back to its value
    /// before it, unless a later write changed that key again (then the later value stays).
    /// Returns the new version if anything was undone; `None` when nothing was, or when the
    /// roots around `version` are no longer kept.
    pub fn undo(&self, version: u64) -> Option<u64> {
        let mut lock = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.root.load_full();
        let find = |v: u64| {
            if current.version == v {
                Some(current.clone())
            } else {
                lock.roots.iter().find(|r| r.version == v).cloned()
            }
        };
        let (before, after) = (find(version.checked_sub(1)?)?, find(version)?);
        let mut map = current.map.clone();
        for change in before.map.diff(&after.map) {
            match change {
                imbl::ordmap::DiffItem::Add(k, written) => {
                    if map.get(k).is_some_and(|v| Arc::ptr_eq(v, written)) {
                        map.remove(k);
                    }
                }
                imbl::ordmap::DiffItem::Update {
                    old: (k, was),
                    new: (_, written),
                } => {
                    if map.get(k).is_some_and(|v| Arc::ptr_eq(v, written)) {
                        map.insert(k.clone(), was.clone());
                    }
                }
                imbl::ordmap::DiffItem::Remove(k, was) => {
                    if !map.contains_key(k) {
                        map.insert(k.clone(), was.clone());
                    }
                }
            }
        }
        if map.ptr_eq(&current.map) {
            return None;
        }
        let root = Arc::new(Root {
            version: current.version + 1,
            map,
        });
        lock.push(&root);
        let v = root.version;
        self.root.store(root);
        Some(v)
    }

    /// Replace the whole state (used by load and reset). The version still advances, so a
    /// replaced state is never mistaken for an older one.
    pub fn replace(&self, map: Map<V>) -> u64 {
        let mut lock = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.root.load().version + 1;
        let root = Arc::new(Root { version, map });
        // Nothing before a replacement can be undone across it.
        lock.roots.clear();
        lock.push(&root);
        self.root.store(root);
        version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn a_write_is_undone_unless_overwritten_since() {
        let s = Store::<V>::new("t");
        let (_, v0) = s.write(|t| {
            t.insert(k("a"), V(1));
            t.insert(k("gone"), V(9));
        });
        assert_eq!(s.undo(v0), None, "nothing is kept by default");
        s.keep_recent(8);
        let (_, v1) = s.write(|t| {
            t.insert(k("a"), V(2));
            t.insert(k("b"), V(2));
            t.remove(&k("gone"));
        });
        let (_, v2) = s.write(|t| {
            t.insert(k("b"), V(3));
            t.insert(k("c"), V(3));
        });
        // Undo v1: a goes back, gone comes back, b keeps v2's value.
        assert!(s.undo(v1).is_some());
        let snap = s.snapshot();
        assert_eq!(snap.get(&k("a")), Some(&V(1)));
        assert_eq!(snap.get(&k("gone")), Some(&V(9)));
        assert_eq!(snap.get(&k("b")), Some(&V(3)));
        assert_eq!(snap.get(&k("c")), Some(&V(3)));
        // Undo v2: b (added by v1, updated by v2) goes back to v1's value; c disappears.
        assert!(s.undo(v2).is_some());
        let snap = s.snapshot();
        assert_eq!(snap.get(&k("b")), Some(&V(2)));
        assert_eq!(snap.get(&k("c")), None);
        // Undoing twice changes nothing more.
        assert_eq!(s.undo(v2), None);
        // Roots beyond what is kept cannot be undone.
        s.keep_recent(1);
        let (_, v3) = s.write(|t| {
            t.insert(k("d"), V(4));
        });
        s.write(|t| {
            t.insert(k("e"), V(5));
        });
        assert_eq!(s.undo(v3), None);
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct V(u32);
    impl Record for V {}

    fn k(s: &str) -> Key {
        Key::builder().str(s).build()
    }

    #[test]
    fn snapshot_is_isolated_from_later_writes() {
        let s = Store::<V>::new("t");
        let ((), v1) = s.write(|t| {
            t.insert(k("a"), V(1));
        });
        assert_eq!(v1, 1);
        let snap = s.snapshot();
        s.write(|t| {
            t.insert(k("a"), V(2));
            t.insert(k("b"), V(3));
        });
        assert_eq!(snap.get(&k("a")), Some(&V(1)));
        assert_eq!(snap.len(), 1);
        assert_eq!(s.snapshot().get(&k("a")), Some(&V(2)));
        assert_eq!(s.version(), 2);
    }

    #[test]
    fn a_write_that_changes_nothing_keeps_the_version() {
        let s = Store::<V>::new("t");
        let (got, v) = s.write(|t| t.get(&k("a")).cloned());
        assert_eq!((got, v), (None, 0));
    }

    #[test]
    fn prefix_scan_and_remove() {
        let s = Store::<V>::new("t");
        s.write(|t| {
            for (i, name) in ["a/1", "a/2", "b/1"].iter().enumerate() {
                let key = Key::builder().str(&name[..1]).str(&name[2..]).build();
                t.insert(key, V(i as u32));
            }
        });
        let pa = Key::builder().str("a").build();
        assert_eq!(s.snapshot().scan_prefix(&pa).count(), 2);
        let (n, _) = s.write(|t| t.remove_prefix(&pa));
        assert_eq!(n, 2);
        assert_eq!(s.snapshot().len(), 1);
    }

    #[test]
    fn a_panic_inside_a_write_publishes_nothing_and_does_not_wedge_the_store() {
        let s = Store::<V>::new("t");
        s.write(|t| {
            t.insert(k("a"), V(1));
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.write(|t| {
                t.insert(k("a"), V(2));
                t.insert(k("b"), V(3));
                panic!("a bug in a handler")
            })
        }));
        assert!(r.is_err());
        // The lock was poisoned while held; the next write takes it anyway.
        assert_eq!((s.snapshot().get(&k("a")), s.version()), (Some(&V(1)), 1));
        let ((), v) = s.write(|t| {
            t.insert(k("b"), V(4));
        });
        assert_eq!((v, s.snapshot().get(&k("b"))), (2, Some(&V(4))));
        assert_eq!(s.replace(Map::new()), 3);
    }
}

//! Per-operation costs of a store (criterion): capture, and a one-record write through
//! `Store::write` against the bare updates it is built from.

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use snapstack::{Key, Partition, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Value(u64, String);
impl Record for Value {}

fn key(i: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .u64(i)
        .build()
}

fn bench(c: &mut Criterion) {
    const N: u64 = 100_000;
    let keys: Vec<Key> = (0..N).map(key).collect();
    let store = Store::<Value>::new("bench");
    store.write(|t| {
        for (i, k) in keys.iter().enumerate() {
            t.insert(k.clone(), Value(i as u64, "v".into()));
        }
    });
    c.bench_function("capture (snapshot) at 100k entries", |b| {
        b.iter(|| std::hint::black_box(store.snapshot()))
    });
    let mut i = 0usize;
    c.bench_function("Store::write, one insert, 100k entries", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            store.write(|t| t.insert(keys[i].clone(), Value(i as u64, "v".into())));
        })
    });
    let mut map: imbl::OrdMap<Key, Arc<Value>> = store.snapshot().map().clone();
    c.bench_function("bare imbl::OrdMap insert, 100k entries", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            map.insert(keys[i].clone(), Arc::new(Value(i as u64, "v".into())));
        })
    });
    let mut hm: HashMap<Key, Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), Value(i as u64, "v".into())))
        .collect();
    c.bench_function("std HashMap insert, 100k entries", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            hm.insert(keys[i].clone(), Value(i as u64, "v".into()));
        })
    });
}

// No HTML plots: this machine has no system fonts for criterion's plotting backend.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);

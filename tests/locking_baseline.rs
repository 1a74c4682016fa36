//! The locking-snapshot baseline used by `benches/latency.rs`: its snapshot file round-trips.

#[allow(dead_code)]
#[path = "../benches/common/locking.rs"]
mod locking;

use locking::{LockingStore, decode};
use snapstack::Key;

#[test]
fn snapshot_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let s = LockingStore::<String>::new(dir.path(), "svc");
    for i in 0..1000u64 {
        let k = Key::builder().str("items").u64(i).build();
        s.insert(k, format!("value-{i}"));
    }
    let saved = s.save().unwrap();
    assert_eq!(saved.bytes, std::fs::metadata(s.file()).unwrap().len());

    let t = LockingStore::<String>::new(dir.path(), "svc");
    assert_eq!(t.load().unwrap(), 1000);
    for i in [0u64, 1, 500, 999] {
        let k = Key::builder().str("items").u64(i).build();
        assert_eq!(
            t.read(&k, |v| v.cloned()),
            Some(format!("value-{i}")),
            "record {i}"
        );
    }
    // A truncated file is an error, not a shorter state.
    let bytes = std::fs::read(s.file()).unwrap();
    assert!(decode::<String>(&bytes[..bytes.len() - 1]).is_err());
}

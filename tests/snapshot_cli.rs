//! `snapstack snapshot list|verify` on a real state directory, through the real binary.

use std::process::Command;

use serde::{Deserialize, Serialize};
use snapstack::{Engine, EngineOptions, Key, Record, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Item(String);
impl Record for Item {}

fn run(volume: &std::path::Path, action: &str) -> (i32, String) {
    run_with(volume, action, &[])
}

fn run_with(volume: &std::path::Path, action: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_snapstack"))
        .args(["snapshot", action, "--volume-dir"])
        .arg(volume)
        .args(extra)
        .env_remove("LOCALSTACK_VOLUME_DIR")
        .output()
        .expect("run snapstack");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn list_and_verify_a_saved_directory_then_find_a_flipped_byte() {
    let volume = tempfile::tempdir().unwrap();
    let state = volume.path().join("state");
    {
        let engine = Engine::open(&state, EngineOptions::default()).unwrap();
        let store = Store::<Item>::new("items");
        engine.register(store.clone()).unwrap();
        for round in 0..2 {
            store.write(|t| {
                for i in 0..300u64 {
                    let key = Key::builder().str("i").u64(i).build();
                    t.insert(key, Item(format!("value {i} of round {round}")));
                }
            });
            assert!(engine.save(&["items"])[0].1.is_ok());
        }
    }
    let (code, out) = run(volume.path(), "list");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("items") && out.contains("300"), "{out}");
    assert!(out.contains("2*"), "the newest generation is marked: {out}");

    let (code, out) = run(volume.path(), "verify");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 generations checked, 0 damaged"), "{out}");

    // Every value changed between the two rounds; 3 are shown, the rest counted.
    let (code, out) = run_with(
        volume.path(),
        "diff",
        &["--service", "items", "--limit", "3"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("items: generation 1 -> 2: 0 added, 0 removed, 300 changed, 0 unchanged"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("~ ")).count(),
        3,
        "{out}"
    );
    assert!(out.contains("297 more changes not shown"), "{out}");
    let (code, out) = run_with(volume.path(), "diff", &[]);
    assert_eq!(code, 2, "diff needs --service: {out}");

    // Damage the newest pack inside the data of its first chunk (docs/FORMAT.md §4: the
    // trailer gives the index, the index gives each chunk's offset and length).
    let mut packs: Vec<_> = std::fs::read_dir(state.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packs.sort();
    let newest = packs.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let trailer = bytes.len() - 56;
    let index_offset =
        u64::from_le_bytes(bytes[trailer + 8..trailer + 16].try_into().unwrap()) as usize;
    let entry = &bytes[index_offset..index_offset + 44];
    let offset = u64::from_le_bytes(entry[32..40].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(entry[40..44].try_into().unwrap()) as usize;
    bytes[offset + len / 2] ^= 0x01;
    std::fs::write(newest, &bytes).unwrap();

    let (code, out) = run(volume.path(), "verify");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DAMAGED  items generation 2"), "{out}");
    assert!(out.contains(".pack"), "names the file: {out}");
    assert!(out.contains("ok       items generation 1"), "{out}");
    assert_eq!(
        std::fs::read(newest).unwrap(),
        bytes,
        "nothing is repaired or removed"
    );
}

#[test]
fn a_directory_without_state_is_a_clear_error() {
    let volume = tempfile::tempdir().unwrap();
    let (code, out) = run(volume.path(), "verify");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no saved state"), "{out}");
    assert!(!volume.path().join("state").exists(), "nothing is created");
}

/// `diff` names a service's records as its resources: DynamoDB items by table name and key
/// attributes, the generic path form for a store no service describes.
#[test]
fn diff_names_resources() {
    use snapstack::server::services::dynamodb::DynamoDb;
    let volume = tempfile::tempdir().unwrap();
    let state = volume.path().join("state");
    {
        let engine = std::sync::Arc::new(Engine::open(&state, EngineOptions::default()).unwrap());
        let d = DynamoDb::new();
        snapstack::server::Service::register(&d, &engine).unwrap();
        let ctx = snapstack::server::aws_request::RequestContext::from_scope(None);
        let call = |op: &str, body: serde_json::Value| {
            d.handle(&ctx, op, body.to_string().as_bytes()).unwrap();
        };
        call(
            "CreateTable",
            serde_json::json!({"TableName": "orders",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"}),
        );
        assert!(engine.save(&["dynamodb"])[0].1.is_ok());
        for id in ["a-1", "b-2"] {
            call(
                "PutItem",
                serde_json::json!({"TableName": "orders", "Item": {"id": {"S": id}}}),
            );
        }
        assert!(engine.save(&["dynamodb"])[0].1.is_ok());
        let store = Store::<Item>::new("items");
        engine.register(store.clone()).unwrap();
        for round in 0..2u64 {
            store.write(|t| t.insert(Key::builder().str("i").u64(round).build(), Item("v".into())));
            assert!(engine.save(&["items"])[0].1.is_ok());
        }
    }
    let (code, out) = run_with(volume.path(), "diff", &["--service", "dynamodb"]);
    assert_eq!(code, 0, "{out}");
    for line in [
        "+ item id=\"a-1\" in table orders [000000000000 us-east-1]",
        "+ item id=\"b-2\" in table orders [000000000000 us-east-1]",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    let (code, out) = run_with(volume.path(), "diff", &["--service", "items"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ i/1 ("), "{out}");
}

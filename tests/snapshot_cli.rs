//! `snapstack snapshot list|verify|diff|export|import|gc` on a real state directory, through the
//! real binary; and the server's per-service persistence switches, restore-only mode, volume lock
//! and metrics, end to end with boto3 (`tests/e2e/persistence_switches.py`).

mod common;

use std::path::Path;
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

/// Every file under `dir` (but the volume lock and logs) with its bytes, sorted.
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

fn switches(server: &mut common::Server, args: &[&str]) {
    server.script("persistence_switches.py", args);
}

const SAVING: &[(&str, &str)] = &[
    ("PERSISTENCE", "1"),
    ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
];

/// The newest generation of `service` that `snapshot list` shows.
fn newest(volume: &Path, service: &str) -> u64 {
    let (code, out) = run(volume, "list");
    assert_eq!(code, 0, "{out}");
    out.lines()
        .filter(|l| l.split_whitespace().next() == Some(service))
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|g| g.trim_end_matches('*').parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no generation of {service}: {out}"))
}

/// Export → import round trips through the binary: into a fresh volume (every resource back,
/// byte for byte) and into the source volume itself, where `snapshot diff` between the exported
/// generation and the imported one finds no record changed. A damaged archive is refused and
/// nothing is written.
#[test]
fn export_and_import_round_trip_and_refuse_a_damaged_archive() {
    let a = common::tempdir();
    let mut server = common::Server::start(a.path(), SAVING);
    switches(&mut server, &["make", "x", "putbig", "x", "7"]);
    assert!(server.term().success());

    let archive = a.path().join("all.snaparchive");
    let (code, out) = run_with(a.path(), "export", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("exported") && out.contains("s3") && out.contains("sqs"),
        "{out}"
    );
    assert!(
        out.contains("export: done"),
        "plain progress lines off a terminal: {out}"
    );
    let partial = a.path().join("some.snaparchive");
    let (code, out) = run_with(
        a.path(),
        "export",
        &[partial.to_str().unwrap(), "--services", "s3,ssm"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("sqs"), "{out}");

    // Into fresh volumes: all of it, or the chosen services.
    let b = common::tempdir();
    let (code, out) = run_with(b.path(), "import", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("-> generation 1"), "{out}");
    let c = common::tempdir();
    let (code, out) = run_with(c.path(), "import", &[partial.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for (volume, sqs) in [(&b, "1"), (&c, "0")] {
        let mut s = common::Server::start(volume.path(), SAVING);
        switches(&mut s, &["expect", "x", sqs, "1", "1", "getbig", "x", "7"]);
        assert!(s.term().success());
    }

    // Into the source volume: a new generation equal record for record to the exported one.
    let exported = newest(a.path(), "s3");
    let (code, out) = run_with(a.path(), "import", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    for service in ["s3", "sqs", "ssm"] {
        let (code, out) = run_with(a.path(), "diff", &["--service", service]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("0 added, 0 removed, 0 changed"),
            "{service}: {out}"
        );
    }
    assert_eq!(newest(a.path(), "s3"), exported + 1);

    // A flipped byte anywhere: refused, naming the damage; nothing is written.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    let bad = a.path().join("bad.snaparchive");
    std::fs::write(&bad, &bytes).unwrap();
    let d = common::tempdir();
    let before = files(d.path());
    let (code, out) = run_with(d.path(), "import", &[bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("refused") && out.contains("bad.snaparchive"),
        "{out}"
    );
    assert!(out.contains("nothing was imported"), "{out}");
    let after: Vec<_> = files(d.path())
        .into_iter()
        .filter(|(p, _)| !p.ends_with(".snapstack.lock"))
        .collect();
    assert!(
        after.iter().all(|(p, _)| !p.contains(".manifest")),
        "no manifest written: {after:?}"
    );
    assert!(before.is_empty());
}

/// `snapshot gc` (and `import`) refuse while a server holds the volume; after it stops, gc frees
/// the chunks of the generations that were dropped, and the volume still loads.
#[test]
fn gc_is_refused_while_a_server_runs_and_frees_dropped_generations_after() {
    let v = common::tempdir();
    // Without the write-ahead log: its current segment lists the blobs of every frame in it
    // (kept alive until the segment is removed), which would keep the dropped bodies.
    let env = &[
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_WAL", "0"),
    ];
    let mut server = common::Server::start(v.path(), env);
    switches(&mut server, &["make", "g"]);
    // Five generations of a changing 300 KiB object: the oldest two are dropped (3 are kept),
    // and with them the only references to their bodies.
    for seed in 1..=5 {
        switches(&mut server, &["putbig", "g", &seed.to_string()]);
        let (status, body) = server.http("POST", "/_localstack/state/save");
        assert_eq!(status, 200, "{body}");
    }
    let (code, out) = run(v.path(), "gc");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("in use by a running snapstack server"),
        "{out}"
    );
    assert!(out.contains(&format!("pid {}", server.pid())), "{out}");
    let archive = v.path().join("x.snaparchive");
    let (code, out) = run_with(v.path(), "export", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "export only reads: {out}");
    let (code, out) = run_with(v.path(), "import", &[archive.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("in use"), "{out}");
    // A second server on the same volume does not start.
    let second = Command::new(common::BIN)
        .arg("serve")
        .env("PERSISTENCE", "1")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("LOCALSTACK_VOLUME_DIR", v.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use by a running snapstack server"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(server.term().success());

    let (code, out) = run(v.path(), "gc");
    assert_eq!(code, 0, "{out}");
    let freed: u64 = out
        .split("freed ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // Two dropped bodies of ~300 KiB: several pieces each.
    assert!(freed >= 4, "{out}");
    let (code, out) = run(v.path(), "verify");
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(v.path(), "gc");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("freed 0 chunks"),
        "a second gc finds nothing: {out}"
    );
    let mut server = common::Server::start(v.path(), SAVING);
    switches(
        &mut server,
        &["expect", "g", "1", "1", "1", "getbig", "g", "5"],
    );
}

/// `PERSIST_SQS=0`: SQS is neither saved nor restored, S3 and SSM are; the switch shows in
/// `/_localstack/diagnose` and an explicit save of SQS is refused naming it.
#[test]
fn a_service_switched_off_is_gone_after_a_restart_while_the_others_are_kept() {
    let v = common::tempdir();
    let env = &[
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("PERSIST_SQS", "0"),
    ];
    let mut server = common::Server::start(v.path(), env);
    switches(&mut server, &["make", "p", "expect", "p", "1", "1", "1"]);
    let (status, body) = server.http("GET", "/_localstack/diagnose");
    assert_eq!(status, 200);
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["config"]["PERSIST"]["PERSIST_SQS"], false, "{body}");
    assert_eq!(d["config"]["PERSIST"]["PERSIST_S3"], true, "{body}");
    assert_eq!(d["config"]["SNAPSTACK_PERSIST_MODE"], "read-write");
    assert_eq!(d["persistence"]["services"]["sqs"]["persisted"], false);
    let (status, body) = server.http("POST", "/_localstack/state/sqs/save");
    assert!(body.contains("PERSIST_SQS=0"), "{status} {body}");
    assert!(server.term().success());
    let mut server = common::Server::start(v.path(), env);
    switches(&mut server, &["expect", "p", "0", "1", "1"]);
    assert!(server.term().success());
    assert!(
        !v.path().join("state/manifests/sqs").exists(),
        "nothing of SQS was saved"
    );
}

/// `PERSIST_SQS=1` without `PERSISTENCE=1`: only SQS is persisted; S3 and SSM start empty.
#[test]
fn a_service_switched_on_alone_is_the_only_one_kept() {
    let v = common::tempdir();
    let env = &[
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("PERSIST_SQS", "1"),
    ];
    let mut server = common::Server::start(v.path(), env);
    switches(&mut server, &["make", "q", "expect", "q", "1", "1", "1"]);
    let (status, body) = server.http("GET", "/_localstack/diagnose");
    assert_eq!(status, 200);
    let d: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["config"]["PERSIST"]["PERSIST_SQS"], true, "{body}");
    assert_eq!(d["config"]["PERSIST"]["PERSIST_S3"], false, "{body}");
    assert!(server.term().success());
    let mut server = common::Server::start(v.path(), env);
    switches(&mut server, &["expect", "q", "1", "0", "0"]);
    assert!(server.term().success());
    assert!(v.path().join("state/manifests/sqs").exists());
    assert!(!v.path().join("state/manifests/s3").exists());
}

/// `SNAPSTACK_PERSIST_MODE=restore-only`: the saved state is restored, changes are served, and
/// the state directory is left exactly as it was, byte for byte, whatever the strategy tries.
#[test]
fn restore_only_restores_and_writes_nothing() {
    let v = common::tempdir();
    let mut server = common::Server::start(v.path(), SAVING);
    switches(&mut server, &["make", "r"]);
    assert!(server.term().success());
    let state = v.path().join("state");
    let before = files(&state);
    let env = &[
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "SCHEDULED"),
        ("SNAPSHOT_FLUSH_INTERVAL", "0.2"),
        ("SNAPSTACK_PERSIST_MODE", "restore-only"),
    ];
    let mut server = common::Server::start(v.path(), env);
    switches(
        &mut server,
        &[
            "expect", "r", "1", "1", "1", "make", "w", "putbig", "w", "3",
        ],
    );
    let (_, body) = server.http("POST", "/_localstack/state/save");
    assert!(body.contains("restore-only"), "{body}");
    // Several scheduled intervals pass; gc is refused (the server holds a shared lock).
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (code, out) = run(v.path(), "gc");
    assert_eq!(code, 2, "{out}");
    assert!(server.term().success());
    assert_eq!(files(&state), before, "the state directory is unchanged");
    let mut server = common::Server::start(v.path(), SAVING);
    switches(
        &mut server,
        &["expect", "r", "1", "1", "1", "expect", "w", "0", "0", "0"],
    );
}

/// `GET /_localstack/metrics`: Prometheus text with request counts per service and operation,
/// latency histograms, and the persistence counters.
#[test]
fn metrics_count_requests_and_saves_per_service_and_operation() {
    use std::io::{Read, Write};
    let v = common::tempdir();
    let mut server = common::Server::start(v.path(), SAVING);
    switches(&mut server, &["make", "m", "expect", "m", "1", "1", "1"]);
    let (status, body) = server.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "GET /_localstack/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        common::dechunk(body)
    } else {
        body.to_string()
    };
    for line in [
        "snapstack_requests_total{service=\"sqs\",operation=\"CreateQueue\"} 1",
        "snapstack_requests_total{service=\"sqs\",operation=\"SendMessage\"} 1",
        "snapstack_requests_total{service=\"s3\",operation=\"PutObject\"} 1",
        "snapstack_requests_total{service=\"ssm\",operation=\"GetParameter\"} 1",
        "snapstack_request_duration_seconds_count{service=\"ssm\",operation=\"PutParameter\"} 1",
        "snapstack_request_duration_seconds_bucket{service=\"s3\",operation=\"CreateBucket\",le=\"+Inf\"} 1",
        "snapstack_request_errors_total{service=\"s3\",operation=\"GetObject\"} 0",
        "snapstack_service_persisted{service=\"s3\"} 1",
        "snapstack_persistence_enabled 1",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line}:\n{body}");
    }
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name}:\n{body}"))
    };
    // ON_REQUEST with the write-ahead log: writes are log commits, the endpoint's save a
    // generation.
    assert!(value("snapstack_log_commits_total{service=\"sqs\"}") >= 2.0);
    assert_eq!(value("snapstack_saves_total{service=\"s3\"}"), 1.0);
    assert!(value("snapstack_save_bytes_total{service=\"s3\"}") > 0.0);
    assert!(value("snapstack_save_chunks_total{service=\"s3\"}") >= 1.0);
    assert_eq!(value("snapstack_save_errors_total{service=\"s3\"}"), 0.0);
    // The requests to /_localstack are not counted; every histogram's count matches its total.
    assert!(!body.contains("_localstack"));
}

/// `GET /_localstack/metrics` as text (200, de-chunked).
fn metrics_text(server: &common::Server) -> String {
    let (status, body) = server.http("GET", "/_localstack/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the series named exactly `series` (name and labels).
fn series(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {series}:\n{body}"))
}

/// After a restart the saved state is loaded (lazily, at the first request of each service):
/// `snapstack_loads_total`, the load durations, chunks and records count it per service, and
/// a service nobody asked for is not loaded.
#[test]
fn metrics_count_loads_after_a_restart() {
    let v = common::tempdir();
    let mut server = common::Server::start(v.path(), SAVING);
    switches(&mut server, &["make", "m"]);
    let (status, body) = server.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    let before = metrics_text(&server);
    assert_eq!(
        series(&before, "snapstack_loads_total{service=\"sqs\"}"),
        0.0
    );
    assert!(server.term().success());

    let mut server = common::Server::start(v.path(), SAVING);
    switches(&mut server, &["expect", "m", "1", "1", "1"]);
    let body = metrics_text(&server);
    for s in ["sqs", "s3", "ssm"] {
        let loads = series(&body, &format!("snapstack_loads_total{{service=\"{s}\"}}"));
        assert_eq!(loads, 1.0, "{s}:\n{body}");
        assert_eq!(
            series(
                &body,
                &format!("snapstack_load_duration_seconds_count{{service=\"{s}\"}}")
            ),
            1.0,
            "{s}"
        );
        assert!(
            series(
                &body,
                &format!("snapstack_load_duration_seconds_sum{{service=\"{s}\"}}")
            ) > 0.0,
            "{s}: a load takes time"
        );
        assert!(
            series(
                &body,
                &format!("snapstack_load_chunks_total{{service=\"{s}\"}}")
            ) >= 1.0,
            "{s}"
        );
        assert!(
            series(
                &body,
                &format!("snapstack_load_records_total{{service=\"{s}\"}}")
            ) >= 1.0,
            "{s}"
        );
        assert_eq!(
            series(
                &body,
                &format!("snapstack_load_errors_total{{service=\"{s}\"}}")
            ),
            0.0
        );
    }
    assert_eq!(
        series(&body, "snapstack_loads_total{service=\"dynamodb\"}"),
        0.0,
        "nothing of DynamoDB was saved or asked for"
    );
}

/// `snapshot export` writes its archive (the whole state, KMS key material included) readable
/// by its owner only, whatever the umask.
#[cfg(unix)]
#[test]
fn an_exported_archive_is_its_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let a = common::tempdir();
    let mut server = common::Server::start(a.path(), SAVING);
    switches(&mut server, &["make", "o"]);
    assert!(server.term().success());
    let archive = a.path().join("owner.snaparchive");
    let (code, out) = run_with(a.path(), "export", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // Exported again over the first: still owner-only, and a whole archive.
    let (code, out) = run_with(a.path(), "export", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let b = common::tempdir();
    let (code, out) = run_with(b.path(), "import", &[archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}

//! SQS end to end: the real server driven by boto3 (`tests/e2e/sqs_client.py`) in both wire
//! protocols (JSON, and query through a copy of the model switched to `query`), FIFO ordering and
//! deduplication, long polling, and restarts in the middle of visibility timeouts and delays
//! (kill -9 under ON_REQUEST, SIGTERM under ON_SHUTDOWN): in-flight and delayed messages appear
//! at their original deadlines, old receipt handles still delete, deduplication and redrive to
//! the dead-letter queue still apply.

mod common;

use common::{Server, tempdir};

#[test]
fn every_operation_in_the_json_protocol() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script(
        "sqs_client.py",
        &["suite", "fifo", "longpoll", "raw", "concurrent", "accounts"],
    );
}

#[test]
fn every_operation_in_the_query_protocol() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script(
        "sqs_client.py",
        &["--query", "suite", "fifo", "longpoll", "accounts"],
    );
}

#[test]
fn timers_survive_a_kill9_under_on_request() {
    let vol = tempdir();
    let state = vol.path().join("client-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["check", state]);
}

#[test]
fn timers_survive_a_clean_stop_under_on_shutdown_in_the_query_protocol() {
    let vol = tempdir();
    let state = vol.path().join("client-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
        ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["--query", "prepare", state]);
    assert!(server.term().success());
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["--query", "check", state]);
}

/// Queue URLs as LocalStack spells them (`SQS_ENDPOINT_STRATEGY`, `LOCALSTACK_HOST`), in both
/// protocols: two regions give two URLs for one name, and every strategy's URL reaches its queue.
/// boto3 keeps sending to its endpoint whatever host a QueueUrl names (none of these resolve).
#[test]
fn queue_urls_follow_the_endpoint_strategy() {
    let vol = tempdir();
    // The default: standard, on localhost.localstack.cloud:<the port listened on>.
    let mut server = Server::start(vol.path(), &[]);
    server.script("sqs_client.py", &["urls", "standard", "-"]);
    server.script("sqs_client.py", &["--query", "urls", "standard", "-"]);
    drop(server);
    for (strategy, host) in [
        ("standard", "snapstack.test:4599"),
        ("path", "snapstack.test:4599"),
        ("domain", "snapstack.test:4599"),
    ] {
        let env = [
            ("SQS_ENDPOINT_STRATEGY", strategy),
            ("LOCALSTACK_HOST", host),
        ];
        let mut server = Server::start(vol.path(), &env);
        server.script("sqs_client.py", &["urls", strategy, host]);
        server.script("sqs_client.py", &["--query", "urls", strategy, host]);
    }
    let mut server = Server::start(vol.path(), &[("SQS_ENDPOINT_STRATEGY", "dynamic")]);
    server.script("sqs_client.py", &["urls", "dynamic", "-"]);
}

/// Issue 17: message bodies are encrypted at rest. Queues with SSE-KMS (a customer managed key
/// and the AWS managed `alias/aws/sqs`), SSE-SQS (asked for, and the default) and one without
/// SSE hold messages carrying a marker (`sqs_client.py sse-write`); after a kill -9 the marker is
/// in no file of the volume; after the restart every body comes back with its MD5. Then, with
/// nothing held in memory after a second restart, DisableKey makes sends and receives on the
/// SSE-KMS queue fail with `KMS.DisabledException` as boto3 sees it, in both wire protocols.
/// A queue without SSE is the control: its bodies are found in the clear.
#[test]
fn bodies_are_encrypted_at_rest_and_kms_failures_surface() {
    const MARKER: &[u8] = b"SNAPSTACK-SQS-AT-REST-MARKER-5eed";
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["sse-write"]);
    server.kill9();
    let hits = common::files_containing(vol.path(), MARKER);
    assert!(hits.is_empty(), "plaintext found in {hits:?}");
    // The scan sees bodies where they are stored: the queue without SSE keeps its own in clear.
    let control = common::files_containing(vol.path(), b"SNAPSTACK-SQS-PLAIN-CONTROL");
    assert!(
        !control.is_empty(),
        "a body stored as sent is not where the scan looks"
    );
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["sse-read"]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["sse-kms-off"]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("sqs_client.py", &["--query", "sse-kms-off", "sse-read"]);
    assert!(server.term().success());
    let hits = common::files_containing(vol.path(), MARKER);
    assert!(
        hits.is_empty(),
        "plaintext found after a clean stop in {hits:?}"
    );
}

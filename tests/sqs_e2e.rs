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

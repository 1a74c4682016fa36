//! Lambda end to end beyond `server_e2e.rs`'s two tests: function URLs under a custom
//! `LOCALSTACK_HOST`, layers, Kinesis event source mappings, provisioned concurrency and code
//! signing, and 100 queued asynchronous invocations across a kill -9
//! (`tests/e2e/lambda_more.py`, driven with boto3 and plain urllib); recursion, runtime
//! management and scaling configurations, capacity providers, image functions, response
//! streams and durable executions (`tests/e2e/lambda_managed.py`).

mod common;

use common::*;

/// Function URLs: the URL the API hands out names `LOCALSTACK_HOST`, is served on this port
/// (host form and path form), maps the 2.0 event and results, applies CORS and AWS_IAM, and
/// still answers after a kill -9 and a restart.
#[test]
fn lambda_function_urls_under_localstack_host() {
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("LOCALSTACK_HOST", "snapstack.test"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["urls", "snapstack.test"]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["urls-after", "snapstack.test"]);
}

/// Layers (published from a zip and from S3, listed, shared, deleted while in use) and the
/// functions that import from them in order; provisioned concurrency and code signing.
#[test]
fn lambda_layers_provisioned_concurrency_and_code_signing() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("lambda_more.py", &["layers", "extras"]);
}

/// A Kinesis event source mapping: batches, bisection, retries and the on-failure destination;
/// after a kill -9 it resumes right after its checkpoint (every record processed once);
/// LATEST and AT_TIMESTAMP mappings.
#[test]
fn lambda_kinesis_mapping_resumes_after_kill9() {
    let vol = tempdir();
    let state = vol.path().join("kinesis-mapping.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["kinesis-prepare", state]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["kinesis-check", state]);
}

/// 100 asynchronous invocations accepted (202), a kill -9, a restart: every one runs; the
/// duplicates (at-least-once: an attempt cut short by the kill runs again) are counted and
/// reported.
#[test]
fn lambda_hundred_queued_invocations_survive_kill9() {
    let vol = tempdir();
    let out = vol.path().join("ran.txt");
    let out = out.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["queue-prepare", "100", out]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_more.py", &["queue-check", "100", out]);
    let dups: usize = std::fs::read_to_string(format!("{out}.dups"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // At most the attempts running at the kill (reserved concurrency 1) may run twice.
    assert!(dups <= 1, "{dups} duplicates");
}

/// The operations added last (`tests/e2e/lambda_managed.py`): recursion, runtime management
/// and scaling configurations, capacity providers, image functions, InvokeWithResponseStream;
/// the settings survive a kill -9.
#[test]
fn lambda_managed_settings_images_and_response_streams() {
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_managed.py", &["managed"]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_managed.py", &["managed-after"]);
}

/// Durable executions: a synchronous one to its end, one waiting on a callback, one stopped,
/// one on a timer; after a kill -9 the timer fires and the callback completes its execution.
#[test]
fn lambda_durable_executions_survive_kill9() {
    let vol = tempdir();
    let state = vol.path().join("durable.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_managed.py", &["durable-prepare", state]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("lambda_managed.py", &["durable-check", state]);
}

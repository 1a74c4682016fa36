//! The tools LocalStack users drive it with, against the real server, each across a kill -9 and
//! a restart on the same volume:
//!
//! - Terraform with the real hashicorp/aws provider (`tests/e2e/terraform/*.tf`): a stack of ~70
//!   resources over every served service (S3, SQS, DynamoDB, SSM, STS, KMS, Secrets Manager, SNS,
//!   CloudWatch Logs, CloudWatch, IAM, EventBridge, Kinesis, Lambda, Firehose) applies, a plan
//!   right after finds no drift, the plan is still clean after the restart, and destroy succeeds. Terraform runs offline: the provider comes from
//!   a local filesystem mirror (`tf.sh` looks in the usual places, or `SNAPSTACK_TF_MIRROR`).
//! - The AWS SDK for JavaScript v3 (`tests/e2e/js/suite.mjs`): the main calls of every service
//!   served (S3 with a 12 MiB `@aws-sdk/lib-storage` multipart upload, SQS, DynamoDB and its
//!   streams, SSM, STS, KMS, Secrets Manager, IAM, SNS → SQS, EventBridge → SQS, Kinesis,
//!   Firehose → S3, Lambda, CloudWatch Logs, CloudWatch), AWS's error codes as the SDK's error
//!   names, and the state read back after the restart.
//!
//! - Kinesis as the AWS SDK for Java v2 and the KCL speak it (`tests/e2e/kinesis_h2.py`): HTTP/2
//!   with prior knowledge and CBOR bodies (Jackson's indefinite-length maps, byte strings,
//!   millisecond timestamps under tag 1), SubscribeToShard's CBOR events, AWS's errors in CBOR.
//!   The SDK's and the KCL's jars come from Maven Central, which this project's machines do not
//!   reach: curl (built with nghttp2) carries their wire instead.
//!
//! Without the tool (Terraform and the provider; Node.js and `tests/e2e/js/node_modules`, which
//! `npm ci --prefix tests/e2e/js` installs; curl with HTTP/2) a test says so on stderr and passes without running.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, tempdir};

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/js");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/terraform/tf.sh");
/// One Terraform step at most: creating a queue alone takes the provider ~25 s of polling.
const STEP_TIMEOUT: Duration = Duration::from_secs(900);

/// Run `tf.sh args…` with its output in `work/<name>.log`; its exit code, and the log.
fn tf(work: &Path, name: &str, args: &[&str]) -> (i32, String) {
    let log_path = work.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        // Its own process group, so that a step that hangs is ended with its provider.
        .process_group(0)
        .spawn()
        .expect("run bash");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > STEP_TIMEOUT {
            let pgid = libc::pid_t::try_from(child.id()).unwrap();
            // SAFETY: kill(2) on the process group we created above; no memory is involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "terraform {name} did not finish in {STEP_TIMEOUT:?}; output:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log_path).unwrap_or_default();
    (status.code().unwrap_or(-1), out)
}

fn must(work: &Path, server: &Server, name: &str, args: &[&str], want: i32) -> String {
    let (code, out) = tf(work, name, args);
    assert_eq!(
        code,
        want,
        "terraform {name} exited {code}, expected {want}; output:\n{out}\nserver log:\n{}",
        server.log()
    );
    out
}

#[test]
fn a_terraform_stack_applies_and_plans_clean_across_a_restart() {
    let check = Command::new("bash")
        .arg(SCRIPT)
        .arg("check")
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&check.stdout).trim().to_string();
    if !check.status.success() {
        eprintln!(
            "SKIPPED: the Terraform end-to-end test needs Terraform and hashicorp/aws: {said}"
        );
        return;
    }
    eprintln!("{said}");
    let vol = tempdir();
    let work = tempdir();
    let w = work.path();
    let w_s = w.to_str().unwrap();
    let (code, out) = tf(w, "init", &[w_s, "init"]);
    assert_eq!(code, 0, "terraform init failed:\n{out}");

    // Queue URLs name a fixed host, as they do for a user whose port does not move.
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("LOCALSTACK_HOST", "localhost.localstack.cloud:4566"),
    ];
    let server = Server::start(vol.path(), &env);
    let ep = server.endpoint.clone();
    let out = must(w, &server, "apply", &[w_s, &ep, "apply"], 0);
    assert!(out.contains("Apply complete!"), "{out}");
    must(w, &server, "plan-after-apply", &[w_s, &ep, "plan"], 0);

    // kill -9: ON_REQUEST answered each change only once it was on disk.
    server.kill9();
    let server = Server::start(vol.path(), &env);
    let ep = server.endpoint.clone();
    must(w, &server, "plan-after-restart", &[w_s, &ep, "plan"], 0);

    let out = must(w, &server, "destroy", &[w_s, &ep, "destroy"], 0);
    assert!(out.contains("Destroy complete!"), "{out}");
    let (status, body) = server.http("GET", "/_localstack/health");
    assert_eq!(status, 200, "{body}");
}

/// Run `node suite.mjs ENDPOINT phase STATE`; it must succeed.
fn js(server: &Server, phase: &str, state: &Path) {
    let state = state.to_str().expect("a UTF-8 path");
    node(server, "suite.mjs", &[phase, state]);
}

/// Run `node SCRIPT ENDPOINT ARGS...` in `tests/e2e/js`; it must succeed.
fn node(server: &Server, script: &str, args: &[&str]) {
    let start = Instant::now();
    let out = Command::new("node")
        .arg("--no-warnings")
        .arg(script)
        .arg(&server.endpoint)
        .args(args)
        .current_dir(JS_DIR)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let what = format!("node {script} {}", args.first().unwrap_or(&""));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{what}: {:.1?}", start.elapsed());
}

#[test]
fn the_javascript_sdk_v3_across_a_restart() {
    let node = Command::new("node").arg("--version").output().ok();
    let Some(node) = node.filter(|o| o.status.success()) else {
        eprintln!(
            "SKIPPED: the JavaScript SDK end-to-end test needs Node.js (node is not on PATH)"
        );
        return;
    };
    if !Path::new(JS_DIR)
        .join("node_modules/@aws-sdk/lib-storage")
        .is_dir()
    {
        eprintln!(
            "SKIPPED: the JavaScript SDK end-to-end test needs its packages: npm ci --prefix tests/e2e/js"
        );
        return;
    }
    eprintln!("node {}", String::from_utf8_lossy(&node.stdout).trim());
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let work = tempdir();
    let state = work.path().join("state.json");
    let server = Server::start(vol.path(), &env);
    js(&server, "write", &state);
    server.kill9();
    let server = Server::start(vol.path(), &env);
    js(&server, "check", &state);
}

/// The JavaScript SDK v3 under `ENFORCE_IAM=1` (`tests/e2e/js/enforce.mjs`): its own SigV4
/// (S3 uploads as `aws-chunked` with a trailing checksum, multipart parts, the JSON protocols)
/// verified, an IAM user's policy deciding S3, SQS and DynamoDB, the errors as each protocol
/// names them.
#[test]
fn the_javascript_sdk_v3_under_enforce_iam() {
    if Command::new("node").arg("--version").output().is_err()
        || !Path::new(JS_DIR)
            .join("node_modules/@aws-sdk/lib-storage")
            .is_dir()
    {
        eprintln!("SKIPPED: needs Node.js and npm ci --prefix tests/e2e/js");
        return;
    }
    let vol = tempdir();
    let server = Server::start(vol.path(), &[("ENFORCE_IAM", "1")]);
    node(&server, "enforce.mjs", &[]);
}

/// KMS and Secrets Manager with the AWS CLI, every operation of both models, the cryptography
/// checked with the openssl CLI (`tests/e2e/kms_cli.py`, `tests/e2e/secrets_cli.py`): openssl
/// verifies KMS's signatures (RSA 2048/3072/4096 with all six algorithms, the four ECC curves,
/// RAW and DIGEST messages) against GetPublicKey's key, makes RSA-OAEP (SHA-1 and SHA-256)
/// ciphertexts that KMS decrypts, computes the MACs of imported HMAC keys, the ECDH secret and
/// the data key pairs' public halves; an encryption context mismatch, a disabled key, a malformed
/// grant token and a secret whose key is pending deletion are refused. Under ON_SHUTDOWN, a
/// SIGTERM saves, and after the restart every ciphertext, signature, MAC and secret version made
/// before is checked again; then both scripts require every operation of the model to have been
/// answered through the CLI.
#[test]
fn kms_and_secrets_with_the_aws_cli_and_openssl_across_sigterm() {
    for tool in ["aws", "openssl"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("{tool} is not installed; skipping (kms_client.py covers the same ground)");
            return;
        }
    }
    let dir = tempdir();
    let work = dir.path().join("kms-cli");
    std::fs::create_dir_all(&work).unwrap();
    let work = work.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_SHUTDOWN"),
    ];
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_cli.py", &["prepare", work]);
    s.script("secrets_cli.py", &["prepare", work]);
    assert!(s.term().success());
    let mut s = Server::start(dir.path(), &env);
    s.script("kms_cli.py", &["check", work]);
    s.script("secrets_cli.py", &["check", work]);
}

#[test]
fn kinesis_over_http2_and_cbor_as_the_java_sdk_speaks_it() {
    let curl = Command::new("curl").arg("-V").output().ok();
    let h2 = curl.is_some_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("HTTP2")
    });
    if !h2 {
        eprintln!(
            "SKIPPED: the Kinesis HTTP/2 + CBOR end-to-end test needs curl built with HTTP/2 (nghttp2)"
        );
        return;
    }
    let vol = tempdir();
    let work = tempdir();
    let state = work.path().join("kinesis_h2.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("kinesis_h2.py", &["prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("kinesis_h2.py", &["check", state]);
}

//! SNS and EventBridge deliveries end to end (`tests/e2e/messaging.py`): real message
//! signatures verified against the served certificate (across a restart), https endpoints
//! trusted through `SNAPSTACK_CA_BUNDLE`, EventBridge API destinations with each
//! authorization type, targets into Lambda, Kinesis, Firehose and a Step Functions state
//! machine (which fails into its dead-letter queue), SNS lambda and firehose subscriptions,
//! a kill -9 in the middle of 1,000 publishes to three queues, and deliveries made before a
//! kill -9 not sent again (background writes durable on their own under ON_REQUEST). Also FIFO
//! order by SequenceNumber (interleaved groups, deduplication ids, PublishBatch, concurrent
//! publishers) and a kill -9 on a FIFO topic without duplicates; the delivery policy's backoff
//! observed; every SNS filter operator and AWS's exact filter policy messages
//! (`sns_client.py`); EventBridge bus to bus and PutEvents' limits (`events.py`); and the
//! operations of both services the suites do not drive.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, tempdir};

fn script_path() -> String {
    format!("{}/tests/e2e/messaging.py", env!("CARGO_MANIFEST_DIR"))
}

/// Signatures of both versions, retries, a dead-letter queue and the inspection endpoints; then
/// a kill -9 (ON_REQUEST): the same certificate is served and old messages still verify.
#[test]
fn sns_signatures_verify_and_survive_a_restart() {
    let vol = tempdir();
    let state = vol.path().join("sig.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut s = Server::start(vol.path(), &env);
    s.script("messaging.py", &["signatures", state]);
    s.kill9();
    let mut s = Server::start(vol.path(), &env);
    s.script("messaging.py", &["sig-check", state]);
}

/// https deliveries: SNS, EventBridge API destinations (API key, basic, OAuth), Firehose.
#[test]
fn https_endpoints_are_trusted_through_the_ca_bundle() {
    let vol = tempdir();
    let certs = vol.path().join("certs");
    let certs = certs.to_str().unwrap();
    let out = Command::new("python3")
        .args([&script_path(), "http://unused", "mkcert", certs])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = format!("{certs}/cert.pem");
    let mut s = Server::start(vol.path(), &[("SNAPSTACK_CA_BUNDLE", bundle.as_str())]);
    s.script("messaging.py", &["https", certs]);
}

/// EventBridge targets into Lambda, Kinesis, Firehose (into S3) and Step Functions (the DLQ);
/// SNS lambda and firehose subscriptions.
#[test]
fn eventbridge_and_sns_reach_lambda_kinesis_and_firehose() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("messaging.py", &["targets"]);
}

/// kill -9 during a burst of 1,000 publishes (16 threads) to a topic with 3 SQS subscriptions
/// under ON_REQUEST: every acknowledged publish reaches every queue after the restart.
#[test]
fn every_acknowledged_publish_reaches_every_queue_after_a_kill9() {
    let vol = tempdir();
    let state = vol.path().join("burst.txt");
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let s = Server::start(vol.path(), &env);
    let mut burst = Command::new("python3")
        .args([
            &script_path(),
            &s.endpoint,
            "burst",
            state.to_str().unwrap(),
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    // Kill once a good part of the burst is acknowledged (or it ended).
    let start = Instant::now();
    loop {
        let acked = std::fs::read_to_string(&state)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()) && !l.is_empty())
            .count();
        if acked >= 300 || burst.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the burst did not progress; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill9();
    let out = burst.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "burst: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Server::start(vol.path(), &env);
    s.script("messaging.py", &["burst-check", state.to_str().unwrap()]);
}

/// Background work is made durable on its own under ON_REQUEST: an SNS publish into an SQS
/// queue and an EventBridge event into another, delivered, then nothing but requests to other
/// services, and a kill -9: after the restart each queue holds its message exactly once. The
/// delivery task's removal of the outbox record is a write no request waits for; the runtime
/// commits it within `BACKGROUND_BOUND` (the checkpoints, which would also carry it, are pushed
/// out of the way with `SNAPSHOT_FLUSH_INTERVAL=3600`). With the write-ahead log and without.
#[test]
fn a_delivery_made_before_a_kill9_is_not_sent_again() {
    for wal in ["1", "0"] {
        let vol = tempdir();
        let state = vol.path().join("settle.json");
        let state = state.to_str().unwrap();
        let env = [
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
            ("SNAPSHOT_FLUSH_INTERVAL", "3600"),
            ("SNAPSTACK_WAL", wal),
        ];
        let mut s = Server::start(vol.path(), &env);
        s.script("messaging.py", &["settle", state]);
        s.kill9();
        let mut s = Server::start(vol.path(), &env);
        s.script("messaging.py", &["settle-check", state]);
    }
}

/// FIFO topic into FIFO queues: interleaved groups, deduplication ids, PublishBatch and
/// concurrent publishers; per group the queues' order is the SequenceNumbers'.
#[test]
fn fifo_deliveries_follow_the_sequence_numbers() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("messaging.py", &["fifo"]);
}

/// kill -9 during publishes to a FIFO topic with two FIFO queue subscriptions under
/// ON_REQUEST: after the restart every acknowledged publish is in each queue exactly once, in
/// SequenceNumber order per group (a delivery sent again after the crash is deduplicated by
/// the queue, as AWS allows no duplicates on FIFO).
#[test]
fn fifo_topic_survives_a_kill9_without_duplicates() {
    let vol = tempdir();
    let state = vol.path().join("fburst.txt");
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let s = Server::start(vol.path(), &env);
    let mut burst = Command::new("python3")
        .args([
            &script_path(),
            &s.endpoint,
            "fifo-burst",
            state.to_str().unwrap(),
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let start = Instant::now();
    loop {
        let acked = std::fs::read_to_string(&state)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').count() == 2)
            .count();
        if acked >= 200 || burst.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the burst did not progress; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill9();
    let out = burst.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "burst: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Server::start(vol.path(), &env);
    s.script(
        "messaging.py",
        &["fifo-burst-check", state.to_str().unwrap()],
    );
}

fn sns_script(s: &mut Server, args: &[&str]) {
    s.script("sns_client.py", args);
}

/// Every SNS filter operator through the binary, on attributes and on the body, with messages
/// that match and messages that do not (`tests/e2e/sns_client.py filters`).
#[test]
fn sns_filter_operators_end_to_end() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    sns_script(&mut s, &["filters"]);
}

/// Refused filter policies carry AWS's messages, worded per call.
#[test]
fn sns_filter_policy_errors_are_aws_words() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    sns_script(&mut s, &["filter-errors"]);
}

/// EventBridge bus to bus (a rule on A targets B, B's rule routes to SQS), and PutEvents' size
/// and entry-count limits through boto3 (`tests/e2e/events.py routing`).
#[test]
fn eventbridge_routes_bus_to_bus_and_enforces_put_events_limits() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("events.py", &["routing"]);
}

/// SNS HTTP retries follow the delivery policy's phases (`messaging.py backoff`): no gap
/// shorter than its phase's delay, exactly numRetries + 1 attempts.
#[test]
fn sns_http_retries_follow_the_delivery_policy_backoff() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("messaging.py", &["backoff"]);
}

/// The SNS operations the suite does not drive (`sns_client.py ops`).
#[test]
fn sns_remaining_operations_through_boto3() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    sns_script(&mut s, &["ops"]);
}

/// The EventBridge operations the suite does not drive (`events.py ops`).
#[test]
fn eventbridge_remaining_operations_through_boto3() {
    let vol = tempdir();
    let mut s = Server::start(vol.path(), &[]);
    s.script("events.py", &["ops"]);
}

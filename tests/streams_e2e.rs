//! Kinesis and Firehose end to end beyond `server_e2e.rs`'s suites: the real server driven by
//! boto3 (`tests/e2e/kinesis.py`, `tests/e2e/firehose.py`) with AWS's defaults (throttling on),
//! retention seen through the binary, dynamic partitioning, and Kinesis -> Firehose -> S3 across
//! a kill -9.

mod common;

use common::{Server, tempdir};

/// Kinesis as AWS limits it, on a server with the defaults (`kinesis.py throttle retention`):
/// PutRecords and PutRecord past a provisioned shard's 1 MiB a second are refused with
/// ProvisionedThroughputExceededException and not stored, an on-demand stream is not held to it;
/// and a record past its retention (an hour of 0.5 s here) is no longer read, before any sweep.
#[test]
fn kinesis_throttles_and_expires_as_aws_does() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[("SNAPSTACK_KINESIS_HOUR_SECONDS", "0.5")]);
    s.script("kinesis.py", &["throttle", "retention"]);
}

/// Firehose's dynamic partitioning into S3 (`firehose.py dynamic`): objects under the keys the
/// query extracts, records it cannot partition under the error prefix as `partitioning-failed`,
/// and a buffer delivered when it reaches its size, long before its interval.
#[test]
fn firehose_dynamic_partitioning_and_size_flush() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("firehose.py", &["dynamic"]);
}

/// Kinesis -> Firehose -> S3 across a kill -9 under ON_REQUEST (`firehose.py prepare-kin` /
/// `check-kin`): every record put into the source stream is in S3 exactly once.
#[test]
fn firehose_from_kinesis_into_s3_across_kill9() {
    let vol = tempdir();
    let state = vol.path().join("firehose-kin.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["prepare-kin", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("firehose.py", &["check-kin", state]);
}

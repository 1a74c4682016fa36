//! DynamoDB end to end: the real server driven by boto3 (`tests/e2e/dynamodb_client.py`): every
//! operation with its errors, the expression grammar table, and restarts under PERSISTENCE=1 that
//! keep items and index query results.

mod common;

use common::{Server, tempdir};

fn ddb(server: &mut Server, args: &[&str]) {
    server.script("dynamodb_client.py", args);
}

#[test]
fn table_management_through_boto3() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    ddb(&mut server, &["tables"]);
}

#[test]
fn items_reads_batches_and_transactions_through_boto3() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    ddb(&mut server, &["items", "reads", "batch", "resource"]);
}

#[test]
fn the_expression_grammar_table() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    ddb(&mut server, &["grammar"]);
}

#[test]
fn expired_items_disappear() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    ddb(&mut server, &["ttl"]);
}

/// Items, index entries and counts survive a restart: every read gives exactly what it gave
/// before (`dump` then `compare`).
#[test]
fn items_and_index_queries_survive_a_restart() {
    for (strategy, kill) in [("ON_REQUEST", true), ("ON_SHUTDOWN", false)] {
        let vol = tempdir();
        let env = [("PERSISTENCE", "1"), ("SNAPSHOT_SAVE_STRATEGY", strategy)];
        let mut server = Server::start(vol.path(), &env);
        let dump = vol.path().join("before.json");
        let dump = dump.to_str().unwrap();
        ddb(&mut server, &["fill", "300", "dump", dump]);
        if kill {
            server.kill9();
        } else {
            assert!(server.term().success());
        }
        let mut server = Server::start(vol.path(), &env);
        ddb(&mut server, &["compare", dump]);
    }
}

/// PartiQL statements, batches and transactions through boto3.
#[test]
fn partiql_through_boto3() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("dynamodb_partiql.py", &["partiql"]);
}

/// A backup, PITR and the table settings survive a restart; restores give the backed-up items
/// and (point in time) the current ones.
#[test]
fn backups_and_settings_survive_a_restart() {
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("dynamodb_partiql.py", &["prepare"]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("dynamodb_partiql.py", &["restored"]);
}

/// DynamoDB Streams (`tests/e2e/streams.py`): a NEW_AND_OLD_IMAGES table's stream from writes of
/// every kind, read before and after a kill -9 under ON_REQUEST (the same records and sequence
/// numbers, iterators issued before the kill still valid), a Lambda function triggered by the
/// stream that resumes after its checkpoint (every change delivered once), and an iterator that
/// expires.
#[test]
fn streams_and_their_lambda_trigger_survive_kill9() {
    let vol = tempdir();
    let state = vol.path().join("streams-state.json");
    let state = state.to_str().unwrap();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ("SNAPSTACK_DYNAMODBSTREAMS_ITERATOR_SECONDS", "20"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("streams.py", &["prepare", state]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("streams.py", &["check", state]);
}

/// DynamoDB Streams' view types other than NEW_AND_OLD_IMAGES (`streams.py views`): KEYS_ONLY,
/// NEW_IMAGE and OLD_IMAGE records carry the keys and exactly the images they name.
#[test]
fn streams_view_types_carry_their_images() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("streams.py", &["views"]);
}

/// Firehose into S3 through a Lambda processor: Ok records transformed, Dropped ones gone,
/// ProcessingFailed ones under the error prefix.
#[test]
fn firehose_lambda_processing_into_s3() {
    let vol = tempdir();
    let mut server = Server::start(vol.path(), &[]);
    server.script("streams.py", &["firehose"]);
}

/// Exports to S3 (AWS's layout, read back) and imports from S3 (DynamoDB JSON with GZIP, CSV)
/// through boto3; transfers and imported tables survive a kill -9.
#[test]
fn exports_and_imports_through_s3_survive_a_restart() {
    let vol = tempdir();
    let env = [
        ("PERSISTENCE", "1"),
        ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
    ];
    let mut server = Server::start(vol.path(), &env);
    server.script("dynamodb_transfer.py", &["run"]);
    server.kill9();
    let mut server = Server::start(vol.path(), &env);
    server.script("dynamodb_transfer.py", &["restarted"]);
}

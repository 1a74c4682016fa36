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

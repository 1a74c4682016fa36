//! Stream records from every kind of write, and the DynamoDB Streams API over them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::RETENTION_MS;
use super::api::ITERATOR_TTL_MS;
use crate::{DdbError, DynamoDb};
use snapstack_service::RequestContext;

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn setup(view: &str) -> (DynamoDb, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let n = now.clone();
    let d = DynamoDb::with_clock(Arc::new(move || n.load(Ordering::SeqCst)));
    call(
        &d,
        "CreateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": view}}),
    )
    .unwrap();
    (d, now)
}

fn call(d: &DynamoDb, op: &str, body: Value) -> Result<Value, DdbError> {
    Ok(d.handle(&ctx(), op, body.to_string().as_bytes())?.value)
}

fn streams(d: &DynamoDb, op: &str, body: Value) -> Result<Value, DdbError> {
    Ok(d.handle_streams(&ctx(), op, &body)?.value)
}

fn arn(d: &DynamoDb) -> String {
    let t = call(d, "DescribeTable", json!({"TableName": "tbl"})).unwrap();
    t["Table"]["LatestStreamArn"].as_str().unwrap().to_string()
}

fn iterator(d: &DynamoDb, arn: &str, kind: &str, seq: Option<&str>) -> Result<String, DdbError> {
    let desc = streams(d, "DescribeStream", json!({"StreamArn": arn}))?;
    let shard = desc["StreamDescription"]["Shards"][0]["ShardId"].clone();
    let mut body = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": kind});
    if let Some(s) = seq {
        body["SequenceNumber"] = json!(s);
    }
    Ok(streams(d, "GetShardIterator", body)?["ShardIterator"]
        .as_str()
        .unwrap()
        .to_string())
}

fn read_all(d: &DynamoDb, arn: &str) -> Vec<Value> {
    let it = iterator(d, arn, "TRIM_HORIZON", None).unwrap();
    let out = streams(d, "GetRecords", json!({"ShardIterator": it})).unwrap();
    out["Records"].as_array().unwrap().clone()
}

fn item(pk: &str, v: i64) -> Value {
    json!({"pk": {"S": pk}, "v": {"N": v.to_string()}})
}

#[test]
fn every_kind_of_write_makes_a_record_in_order() {
    let (d, _) = setup("NEW_AND_OLD_IMAGES");
    let t = json!("tbl");
    call(&d, "PutItem", json!({"TableName": t, "Item": item("a", 1)})).unwrap();
    // A write that changes nothing makes no record.
    call(&d, "PutItem", json!({"TableName": t, "Item": item("a", 1)})).unwrap();
    call(
        &d,
        "UpdateItem",
        json!({"TableName": t, "Key": {"pk": {"S": "a"}},
        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}}),
    )
    .unwrap();
    call(
        &d,
        "BatchWriteItem",
        json!({"RequestItems": {"tbl": [
        {"PutRequest": {"Item": item("b", 1)}}, {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}}),
    )
    .unwrap();
    call(
        &d,
        "TransactWriteItems",
        json!({"TransactItems": [
        {"Put": {"TableName": "tbl", "Item": item("c", 1)}}]}),
    )
    .unwrap();
    call(
        &d,
        "ExecuteStatement",
        json!({"Statement": "UPDATE tbl SET v = 5 WHERE pk = 'c'"}),
    )
    .unwrap();
    call(
        &d,
        "DeleteItem",
        json!({"TableName": t, "Key": {"pk": {"S": "b"}}}),
    )
    .unwrap();
    let recs = read_all(&d, &arn(&d));
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "INSERT", "MODIFY", "INSERT", "REMOVE", "INSERT", "MODIFY", "REMOVE"
        ]
    );
    let seqs: Vec<&str> = recs
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap())
        .collect();
    assert!(
        seqs.windows(2)
            .all(|w| w[0] < w[1] && w[0].len() == w[1].len())
    );
    assert_eq!(recs[1]["dynamodb"]["OldImage"]["v"], json!({"N": "1"}));
    assert_eq!(recs[1]["dynamodb"]["NewImage"]["v"], json!({"N": "2"}));
    assert_eq!(recs[3]["dynamodb"]["Keys"], json!({"pk": {"S": "a"}}));
    assert!(recs[3]["dynamodb"].get("NewImage").is_none());
    assert_eq!(recs[0]["eventSource"], "aws:dynamodb");
    assert_eq!(recs[0]["eventVersion"], "1.1");
    assert_eq!(recs[0]["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert!(recs[0].get("userIdentity").is_none());
}

#[test]
fn view_types_choose_the_images() {
    for (view, new, old) in [
        ("KEYS_ONLY", false, false),
        ("NEW_IMAGE", true, false),
        ("OLD_IMAGE", false, true),
    ] {
        let (d, _) = setup(view);
        call(
            &d,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 1)}),
        )
        .unwrap();
        call(
            &d,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", 2)}),
        )
        .unwrap();
        let recs = read_all(&d, &arn(&d));
        let r = &recs[1]["dynamodb"];
        assert_eq!(r.get("NewImage").is_some(), new, "{view}");
        assert_eq!(r.get("OldImage").is_some(), old, "{view}");
        assert_eq!(r["Keys"], json!({"pk": {"S": "a"}}));
    }
}

#[test]
fn ttl_deletions_name_the_dynamodb_service() {
    let (d, now) = setup("KEYS_ONLY");
    call(
        &d,
        "UpdateTimeToLive",
        json!({"TableName": "tbl",
        "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
    )
    .unwrap();
    let secs = now.load(Ordering::SeqCst) / 1000;
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl",
        "Item": {"pk": {"S": "x"}, "exp": {"N": (secs + 10).to_string()}}}),
    )
    .unwrap();
    now.fetch_add(20_000, Ordering::SeqCst);
    assert_eq!(d.sweep_expired(now.load(Ordering::SeqCst)), 1);
    let recs = read_all(&d, &arn(&d));
    assert_eq!(recs[1]["eventName"], "REMOVE");
    assert_eq!(
        recs[1]["userIdentity"],
        json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"})
    );
}

#[test]
fn iterators_positions_and_expiry() {
    let (d, now) = setup("NEW_IMAGE");
    let arn = arn(&d);
    let latest = iterator(&d, &arn, "LATEST", None).unwrap();
    for i in 0..5 {
        call(
            &d,
            "PutItem",
            json!({"TableName": "tbl", "Item": item("a", i)}),
        )
        .unwrap();
    }
    let out = streams(
        &d,
        "GetRecords",
        json!({"ShardIterator": latest, "Limit": 2}),
    )
    .unwrap();
    assert_eq!(out["Records"].as_array().unwrap().len(), 2);
    let next = out["NextShardIterator"].as_str().unwrap().to_string();
    let seq2 = out["Records"][1]["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let out = streams(&d, "GetRecords", json!({"ShardIterator": next})).unwrap();
    assert_eq!(out["Records"].as_array().unwrap().len(), 3);
    let after = iterator(&d, &arn, "AFTER_SEQUENCE_NUMBER", Some(&seq2)).unwrap();
    let out = streams(&d, "GetRecords", json!({"ShardIterator": after})).unwrap();
    assert_eq!(
        out["Records"][0]["dynamodb"]["NewImage"]["v"],
        json!({"N": "2"})
    );
    let at = iterator(&d, &arn, "AT_SEQUENCE_NUMBER", Some(&seq2)).unwrap();
    let out = streams(&d, "GetRecords", json!({"ShardIterator": at})).unwrap();
    assert_eq!(out["Records"][0]["dynamodb"]["SequenceNumber"], json!(seq2));
    assert_eq!(
        iterator(&d, &arn, "AT_SEQUENCE_NUMBER", None)
            .unwrap_err()
            .code,
        "ValidationException"
    );
    now.fetch_add(ITERATOR_TTL_MS + 1, Ordering::SeqCst);
    let e = streams(&d, "GetRecords", json!({"ShardIterator": at})).unwrap_err();
    assert_eq!(e.code, "ExpiredIteratorException");
    let e = streams(&d, "GetRecords", json!({"ShardIterator": "bm9wZQ=="})).unwrap_err();
    assert_eq!(e.code, "ValidationException");
}

#[test]
fn records_expire_after_a_day_and_old_iterators_are_trimmed() {
    let (d, now) = setup("KEYS_ONLY");
    let arn = arn(&d);
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": item("a", 1)}),
    )
    .unwrap();
    let old = iterator(&d, &arn, "TRIM_HORIZON", None).unwrap();
    now.fetch_add(RETENTION_MS - 1000, Ordering::SeqCst);
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": item("b", 1)}),
    )
    .unwrap();
    now.fetch_add(2000, Ordering::SeqCst);
    d.sweep_expired(now.load(Ordering::SeqCst));
    let recs = read_all(&d, &arn);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["dynamodb"]["Keys"]["pk"], json!({"S": "b"}));
    // The old iterator is expired anyway (15 minutes); one issued just now at the old position
    // would be trimmed: shown through AT_SEQUENCE_NUMBER.
    let _ = old;
    let e = iterator(&d, &arn, "AT_SEQUENCE_NUMBER", Some(&super::format_seq(1))).unwrap_err();
    assert_eq!(e.code, "TrimmedDataAccessException");
}

#[test]
fn disabling_closes_the_stream_and_enabling_opens_a_new_one() {
    let (d, now) = setup("KEYS_ONLY");
    let first = arn(&d);
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": item("a", 1)}),
    )
    .unwrap();
    call(
        &d,
        "UpdateTable",
        json!({"TableName": "tbl", "StreamSpecification": {"StreamEnabled": false}}),
    )
    .unwrap();
    let desc = streams(&d, "DescribeStream", json!({"StreamArn": first})).unwrap();
    assert_eq!(desc["StreamDescription"]["StreamStatus"], "DISABLED");
    let range = &desc["StreamDescription"]["Shards"][0]["SequenceNumberRange"];
    assert_eq!(
        range["EndingSequenceNumber"],
        range["StartingSequenceNumber"]
    );
    // A closed shard read to its end has no next iterator.
    let it = iterator(&d, &first, "TRIM_HORIZON", None).unwrap();
    let out = streams(&d, "GetRecords", json!({"ShardIterator": it})).unwrap();
    assert_eq!(out["Records"].as_array().unwrap().len(), 1);
    assert!(out.get("NextShardIterator").is_none());
    // Writes with the stream off make no record.
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": item("b", 1)}),
    )
    .unwrap();
    now.fetch_add(1000, Ordering::SeqCst);
    call(
        &d,
        "UpdateTable",
        json!({"TableName": "tbl",
        "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}}),
    )
    .unwrap();
    let second = arn(&d);
    assert_ne!(first, second);
    call(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": item("c", 1)}),
    )
    .unwrap();
    let recs = read_all(&d, &second);
    assert_eq!(recs.len(), 1);
    let list = streams(&d, "ListStreams", json!({"TableName": "tbl"})).unwrap();
    assert_eq!(list["Streams"].as_array().unwrap().len(), 2);
    let page = streams(&d, "ListStreams", json!({"Limit": 1})).unwrap();
    assert_eq!(page["Streams"].as_array().unwrap().len(), 1);
    let rest = streams(
        &d,
        "ListStreams",
        json!({"ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}),
    )
    .unwrap();
    assert_eq!(rest["Streams"].as_array().unwrap().len(), 1);
    // Deleting the table closes its stream; a closed stream goes a day after its records.
    call(&d, "DeleteTable", json!({"TableName": "tbl"})).unwrap();
    let desc = streams(&d, "DescribeStream", json!({"StreamArn": second})).unwrap();
    assert_eq!(desc["StreamDescription"]["StreamStatus"], "DISABLED");
    now.fetch_add(RETENTION_MS + 1000, Ordering::SeqCst);
    d.sweep_expired(now.load(Ordering::SeqCst));
    let e = streams(&d, "DescribeStream", json!({"StreamArn": second})).unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

#[test]
fn unknown_streams_and_shards_are_not_found() {
    let (d, _) = setup("KEYS_ONLY");
    let e = streams(&d, "DescribeStream",
        json!({"StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/nope/stream/2024-01-01T00:00:00.000"}))
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = streams(
        &d,
        "GetShardIterator",
        json!({"StreamArn": arn(&d),
        "ShardId": "shardId-00000000000000000000-00000000", "ShardIteratorType": "LATEST"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

mod props {
    use super::super::api::Iter;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn iterator_round_trip(table in "[a-zA-Z0-9_.-]{3,255}", label in "[0-9T:.-]{1,30}",
            id in any::<u64>(), seq in any::<u64>(), issued in any::<u64>()) {
            let it = Iter { table, label, table_id: id, seq, issued_ms: issued };
            prop_assert_eq!(Iter::decode(&it.encode()), Some(it));
        }

        #[test]
        fn iterator_decode_never_panics(s in ".{0,300}") {
            let _ = Iter::decode(&s);
        }
    }
}

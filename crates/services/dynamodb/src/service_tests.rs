//! Unit tests of the service: items, indexes, queries, batches, transactions and TTL, through
//! `DynamoDb::handle` as the gateway calls it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::*;

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn call(d: &DynamoDb, op: &str, body: Value) -> DdbResult<Value> {
    let h = d.handle(&ctx(), op, body.to_string().as_bytes())?;
    Ok(crate::as_sent(op, &h))
}

fn err(d: &DynamoDb, op: &str, body: Value) -> DdbError {
    call(d, op, body).unwrap_err()
}

/// A table `tbl` (pk S, sk N) with a GSI `by-g` (g S, sk N, KEYS_ONLY + INCLUDE x) and an LSI
/// `by-l` (pk, l S, KEYS_ONLY).
fn setup() -> DynamoDb {
    let d = DynamoDb::new();
    call(
        &d,
        "CreateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}],
            "LocalSecondaryIndexes": [{"IndexName": "by-l", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}]}),
    )
    .unwrap();
    d
}

fn put(d: &DynamoDb, pk: &str, sk: i64, extra: Value) {
    let mut item = json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}});
    for (k, v) in extra.as_object().unwrap() {
        item[k] = v.clone();
    }
    call(d, "PutItem", json!({"TableName": "tbl", "Item": item})).unwrap();
}

fn sks(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sk"]["N"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn put_get_update_delete() {
    let d = setup();
    put(&d, "a", 1, json!({"x": {"S": "one"}, "n": {"N": "10"}}));
    let g = call(
        &d,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
    )
    .unwrap();
    assert_eq!(g["Item"]["x"]["S"], "one");
    let g = call(&d, "GetItem", json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1.0"}}, "ProjectionExpression": "n"})).unwrap();
    assert_eq!(g["Item"], json!({"n": {"N": "10"}}));
    let u = call(&d, "UpdateItem", json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "UpdateExpression": "SET n = n + :one REMOVE x", "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"})).unwrap();
    assert_eq!(u["Attributes"], json!({"n": {"N": "11"}}));
    let e = err(
        &d,
        "UpdateItem",
        json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "UpdateExpression": "SET pk = :v", "ExpressionAttributeValues": {":v": {"S": "b"}}}),
    );
    assert_eq!(
        e.message,
        "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    );
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    );
    assert_eq!(e.code, "ConditionalCheckFailedException");
    assert_eq!(e.extra["Item"]["n"]["N"], "11");
    let r = call(&d, "DeleteItem", json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ReturnValues": "ALL_OLD"})).unwrap();
    assert_eq!(r["Attributes"]["n"]["N"], "11");
    let g = call(
        &d,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
    )
    .unwrap();
    assert_eq!(g, json!({}));
    let t = d.table(&ctx().partition, "tbl").unwrap();
    assert_eq!((t.item_count, t.size_bytes), (0, 0));
    assert!(t.indexes().all(|i| i.item_count == 0 && i.size_bytes == 0));
}

#[test]
fn key_errors_have_dynamodb_messages() {
    let d = setup();
    let e = err(
        &d,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}}}),
    );
    assert_eq!(
        e.message,
        "The provided key element does not match the schema"
    );
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}}}),
    );
    assert_eq!(
        e.message,
        "One or more parameter values were invalid: Missing the key sk in the item"
    );
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}),
    );
    assert_eq!(
        e.message,
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"
    );
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"N": "1"}}}),
    );
    assert_eq!(
        e.message,
        "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S Actual: N IndexName: by-g"
    );
    let e = err(
        &d,
        "GetItem",
        json!({"TableName": "nope", "Key": {"pk": {"S": "a"}}}),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        ("ResourceNotFoundException", "Requested resource not found")
    );
    let big = "x".repeat(400 * 1024);
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": big}}}),
    );
    assert_eq!(e.message, "Item size has exceeded the maximum allowed size");
    let e = err(
        &d,
        "PutItem",
        json!({"TableName": "tbl", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ExpressionAttributeValues": {":v": {"S": "x"}}, "ConditionExpression": "attribute_exists(pk)"}),
    );
    assert_eq!(
        e.message,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}"
    );
}

#[test]
fn query_ranges_order_and_pages() {
    let d = setup();
    for i in 0..20 {
        put(
            &d,
            "h",
            i,
            json!({"g": {"S": if i % 2 == 0 { "even" } else { "odd" }}, "l": {"S": format!("l{:02}", 19 - i)}, "x": {"N": i.to_string()}}),
        );
    }
    put(&d, "other", 5, json!({}));
    let q = |extra: Value| {
        let mut b = json!({"TableName": "tbl", "KeyConditionExpression": "pk = :h AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":h": {"S": "h"}, ":a": {"N": "3"}, ":b": {"N": "-7E-1000"}}});
        b["ExpressionAttributeValues"][":b"] = json!({"N": "7"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        call(&d, "Query", b).unwrap()
    };
    assert_eq!(sks(&q(json!({}))["Items"]), ["3", "4", "5", "6", "7"]);
    assert_eq!(
        sks(&q(json!({"ScanIndexForward": false}))["Items"]),
        ["7", "6", "5", "4", "3"]
    );
    let p1 = q(json!({"Limit": 2}));
    assert_eq!(sks(&p1["Items"]), ["3", "4"]);
    let p2 = q(json!({"Limit": 2, "ExclusiveStartKey": p1["LastEvaluatedKey"]}));
    assert_eq!(sks(&p2["Items"]), ["5", "6"]);
    let p3 = q(json!({"Limit": 2, "ExclusiveStartKey": p2["LastEvaluatedKey"]}));
    assert_eq!(sks(&p3["Items"]), ["7"]);
    assert!(p3.get("LastEvaluatedKey").is_none());
    let c = q(json!({"Select": "COUNT", "FilterExpression": "x > :a"}));
    assert_eq!(
        (c["Count"].as_u64(), c["ScannedCount"].as_u64()),
        (Some(4), Some(5))
    );
    assert!(c.get("Items").is_none());
    // The GSI: only "even" items, in sk order, projected.
    let g = call(&d, "Query", json!({"TableName": "tbl", "IndexName": "by-g", "KeyConditionExpression": "g = :g AND sk >= :s",
        "ExpressionAttributeValues": {":g": {"S": "even"}, ":s": {"N": "14"}}})).unwrap();
    assert_eq!(sks(&g["Items"]), ["14", "16", "18"]);
    assert_eq!(g["Items"][0].as_object().unwrap().len(), 4, "{g}");
    // The LSI orders by l (reversed sk); ALL_ATTRIBUTES reads the table's items.
    let l = call(&d, "Query", json!({"TableName": "tbl", "IndexName": "by-l", "KeyConditionExpression": "pk = :h AND begins_with(l, :p)",
        "ExpressionAttributeValues": {":h": {"S": "h"}, ":p": {"S": "l0"}}, "Select": "ALL_ATTRIBUTES", "Limit": 3})).unwrap();
    assert_eq!(sks(&l["Items"]), ["19", "18", "17"]);
    assert_eq!(l["Items"][0]["g"]["S"], "odd");
    let l2 = call(&d, "Query", json!({"TableName": "tbl", "IndexName": "by-l", "KeyConditionExpression": "pk = :h AND begins_with(l, :p)",
        "ExpressionAttributeValues": {":h": {"S": "h"}, ":p": {"S": "l0"}}, "ExclusiveStartKey": l["LastEvaluatedKey"]})).unwrap();
    assert_eq!(
        sks(&l2["Items"]),
        ["16", "15", "14", "13", "12", "11", "10"]
    );
    let e = err(
        &d,
        "Query",
        json!({"TableName": "tbl", "IndexName": "by-g", "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "even"}}, "Select": "ALL_ATTRIBUTES"}),
    );
    assert!(
        e.message.contains(
            "Select type ALL_ATTRIBUTES is not supported for global secondary index by-g"
        ),
        "{}",
        e.message
    );
    let e = err(
        &d,
        "Query",
        json!({"TableName": "tbl", "KeyConditionExpression": "pk = :h", "FilterExpression": "sk > :h",
        "ExpressionAttributeValues": {":h": {"S": "h"}}}),
    );
    assert_eq!(
        e.message,
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"
    );
    let e = err(
        &d,
        "Query",
        json!({"TableName": "tbl", "IndexName": "nope", "KeyConditionExpression": "pk = :h", "ExpressionAttributeValues": {":h": {"S": "h"}}}),
    );
    assert_eq!(
        e.message,
        "The table does not have the specified index: nope"
    );
}

#[test]
fn scan_segments_cover_the_table_once() {
    let d = setup();
    for i in 0..50 {
        put(&d, &format!("h{i}"), i, json!({}));
    }
    let mut seen = Vec::new();
    for s in 0..3 {
        let mut start: Option<Value> = None;
        loop {
            let mut b = json!({"TableName": "tbl", "Segment": s, "TotalSegments": 3, "Limit": 7});
            if let Some(k) = &start {
                b["ExclusiveStartKey"] = k.clone();
            }
            let r = call(&d, "Scan", b).unwrap();
            seen.extend(sks(&r["Items"]));
            match r.get("LastEvaluatedKey") {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
    }
    seen.sort_by_key(|s| s.parse::<i64>().unwrap());
    assert_eq!(seen, (0..50).map(|i| i.to_string()).collect::<Vec<_>>());
    let e = err(
        &d,
        "Scan",
        json!({"TableName": "tbl", "Segment": 3, "TotalSegments": 3}),
    );
    assert_eq!(
        e.message,
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 3 is not less than TotalSegments: 3"
    );
}

#[test]
fn transactions_are_all_or_nothing() {
    let d = setup();
    put(&d, "a", 1, json!({"n": {"N": "1"}}));
    put(&d, "c", 1, json!({"n": {"N": "1"}}));
    let tx = |cond: &str| {
        call(
            &d,
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}},
                {"Update": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": "tbl", "Key": {"pk": {"S": "c"}, "sk": {"N": "1"}}, "ConditionExpression": cond, "ExpressionAttributeValues": {":v": {"N": "1"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            ]}),
        )
    };
    // Fails: nothing written.
    let e = tx("n > :v").unwrap_err();
    assert_eq!(e.code, "TransactionCanceledException");
    assert_eq!(
        e.message,
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]"
    );
    assert_eq!(e.extra["CancellationReasons"][2]["Item"]["n"]["N"], "1");
    assert_eq!(
        call(
            &d,
            "GetItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "b"}, "sk": {"N": "1"}}})
        )
        .unwrap(),
        json!({})
    );
    // The same item twice is refused.
    let e = err(
        &d,
        "TransactWriteItems",
        json!({"TransactItems": [
        {"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}},
        {"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}]}),
    );
    assert_eq!(
        e.message,
        "Transaction request cannot include multiple operations on one item"
    );
    tx("n = :v").unwrap();
    let g = call(
        &d,
        "TransactGetItems",
        json!({"TransactItems": [
        {"Get": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}},
        {"Get": {"TableName": "tbl", "Key": {"pk": {"S": "b"}, "sk": {"N": "1"}}}},
        {"Get": {"TableName": "tbl", "Key": {"pk": {"S": "d"}, "sk": {"N": "1"}}}}]}),
    )
    .unwrap();
    assert_eq!(g["Responses"][0]["Item"]["n"]["N"], "2");
    assert_eq!(g["Responses"][1]["Item"]["pk"]["S"], "b");
    assert_eq!(g["Responses"][2], json!({}));
}

#[test]
fn idempotent_transactions() {
    let d = setup();
    let body = json!({"ClientRequestToken": "tok", "TransactItems": [
        {"Update": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}]});
    call(&d, "TransactWriteItems", body.clone()).unwrap();
    call(&d, "TransactWriteItems", body.clone()).unwrap();
    let g = call(
        &d,
        "GetItem",
        json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
    )
    .unwrap();
    assert_eq!(g["Item"]["n"]["N"], "1");
    let mut other = body.clone();
    other["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":one"] = json!({"N": "2"});
    assert_eq!(
        err(&d, "TransactWriteItems", other).code,
        "IdempotentParameterMismatchException"
    );
}

#[test]
fn tokens_live_in_the_state_expire_and_are_only_claimed_by_applied_transactions() {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let n2 = now.clone();
    let d = DynamoDb::with_clock(Arc::new(move || n2.load(Ordering::SeqCst)));
    call(
        &d,
        "CreateTable",
        json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}),
    )
    .unwrap();
    let add = |cond: Option<&str>| {
        let mut u = json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}});
        if let Some(c) = cond {
            u["ConditionExpression"] = json!(c);
        }
        json!({"ClientRequestToken": "tok", "TransactItems": [{"Update": u}]})
    };
    let n = |d: &DynamoDb| {
        call(
            d,
            "GetItem",
            json!({"TableName": "tbl", "Key": {"pk": {"S": "a"}}}),
        )
        .unwrap()["Item"]["n"]["N"]
            .as_str()
            .map(str::to_string)
    };
    // A cancelled transaction does not claim its token: the same token may be used again.
    let cancelled = add(Some("attribute_exists(n)"));
    assert_eq!(
        err(&d, "TransactWriteItems", cancelled).code,
        "TransactionCanceledException"
    );
    call(&d, "TransactWriteItems", add(None)).unwrap();
    assert_eq!(n(&d).as_deref(), Some("1"));

    // The token is a record of the state: a restart (the state replaced by its saved copy)
    // keeps it, so the retry applies nothing.
    let saved = d.store.snapshot().map().clone();
    let after = DynamoDb::with_clock({
        let n3 = now.clone();
        Arc::new(move || n3.load(Ordering::SeqCst))
    });
    after.store.replace(saved);
    call(&after, "TransactWriteItems", add(None)).unwrap();
    assert_eq!(n(&after).as_deref(), Some("1"));
    assert_eq!(
        err(
            &after,
            "TransactWriteItems",
            add(Some("attribute_exists(pk)"))
        )
        .code,
        "IdempotentParameterMismatchException"
    );

    // Ten minutes later the token is forgotten: swept away, and the same request applies again.
    let token_records = |d: &DynamoDb| {
        d.store
            .snapshot()
            .map()
            .values()
            .filter(|r| matches!(r.as_ref(), Rec::Token { .. }))
            .count()
    };
    assert_eq!(token_records(&after), 1);
    now.fetch_add(10 * 60 * 1000, Ordering::SeqCst);
    after.sweep_expired(now.load(Ordering::SeqCst));
    assert_eq!(token_records(&after), 0);
    call(&after, "TransactWriteItems", add(None)).unwrap();
    assert_eq!(n(&after).as_deref(), Some("2"));
}

#[test]
fn batches() {
    let d = setup();
    let puts: Vec<Value> = (0..25)
        .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": i.to_string()}}}}))
        .collect();
    call(&d, "BatchWriteItem", json!({"RequestItems": {"tbl": puts}})).unwrap();
    let mut too_many = puts.clone();
    too_many.push(json!({"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": "99"}}}}));
    assert_eq!(
        err(
            &d,
            "BatchWriteItem",
            json!({"RequestItems": {"tbl": too_many}})
        )
        .code,
        "ValidationException"
    );
    let dup = vec![puts[0].clone(), puts[0].clone()];
    assert_eq!(
        err(&d, "BatchWriteItem", json!({"RequestItems": {"tbl": dup}})).message,
        "Provided list of item keys contains duplicates"
    );
    let keys: Vec<Value> = (20..30)
        .map(|i| json!({"pk": {"S": "b"}, "sk": {"N": i.to_string()}}))
        .collect();
    let r = call(
        &d,
        "BatchGetItem",
        json!({"RequestItems": {"tbl": {"Keys": keys}}}),
    )
    .unwrap();
    assert_eq!(r["Responses"]["tbl"].as_array().unwrap().len(), 5);
    assert_eq!(r["UnprocessedKeys"], json!({}));
    assert_eq!(d.table(&ctx().partition, "tbl").unwrap().item_count, 25);
}

#[test]
fn ttl_sweep_deletes_expired_items_and_their_index_entries() {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let n2 = now.clone();
    let d = DynamoDb::with_clock(Arc::new(move || n2.load(Ordering::SeqCst)));
    call(&d, "CreateTable", json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}]})).unwrap();
    for (k, exp) in [
        ("old", "1699999999"),
        ("new", "1700000500"),
        ("none", ""),
        ("ancient", "1"),
    ] {
        let mut item = json!({"pk": {"S": k}, "g": {"S": "x"}});
        if !exp.is_empty() {
            item["exp"] = json!({"N": exp});
        }
        call(&d, "PutItem", json!({"TableName": "tbl", "Item": item})).unwrap();
    }
    // Enabling TTL indexes the items already there.
    call(&d, "UpdateTimeToLive", json!({"TableName": "tbl", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}})).unwrap();
    assert_eq!(d.sweep_expired(now.load(Ordering::SeqCst)), 1);
    now.store(1_800_000_000_000, Ordering::SeqCst);
    assert_eq!(d.sweep_expired(now.load(Ordering::SeqCst)), 1);
    let q = call(&d, "Query", json!({"TableName": "tbl", "IndexName": "by-g", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}})).unwrap();
    // A TTL more than five years old is left alone, as DynamoDB does.
    let left: Vec<&str> = q["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pk"]["S"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["ancient", "none"]);
    let t = d.table(&ctx().partition, "tbl").unwrap();
    assert_eq!((t.item_count, t.gsis[0].item_count), (2, 2));
}

#[test]
fn a_new_gsi_is_backfilled_and_a_deleted_table_leaves_nothing() {
    let d = setup();
    for i in 0..10 {
        put(&d, "h", i, json!({"z": {"S": format!("z{}", i % 3)}}));
    }
    call(&d, "UpdateTable", json!({"TableName": "tbl", "AttributeDefinitions": [{"AttributeName": "z", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "by-z", "KeySchema": [{"AttributeName": "z", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}}]})).unwrap();
    let q = call(&d, "Query", json!({"TableName": "tbl", "IndexName": "by-z", "KeyConditionExpression": "z = :z", "ExpressionAttributeValues": {":z": {"S": "z0"}}})).unwrap();
    assert_eq!(q["Count"], 4);
    call(&d, "DeleteTable", json!({"TableName": "tbl"})).unwrap();
    // Only the table id sequence is left.
    assert_eq!(d.store.snapshot().len(), 1);
}

mod invariants {
    use super::*;
    use crate::items;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum W {
        Put(u8, u8, Option<u8>, Option<u8>),
        Update(u8, u8, Option<u8>),
        Delete(u8, u8),
        Batch(Vec<(u8, u8)>),
    }

    fn w() -> impl Strategy<Value = W> {
        prop_oneof![
            (
                0u8..4,
                0u8..4,
                proptest::option::of(0u8..3),
                proptest::option::of(0u8..3)
            )
                .prop_map(|(a, b, c, d)| W::Put(a, b, c, d)),
            (0u8..4, 0u8..4, proptest::option::of(0u8..3)).prop_map(|(a, b, c)| W::Update(a, b, c)),
            (0u8..4, 0u8..4).prop_map(|(a, b)| W::Delete(a, b)),
            proptest::collection::vec((0u8..4, 0u8..4), 1..4).prop_map(W::Batch),
        ]
    }

    fn apply(d: &DynamoDb, op: &W) {
        let k = |a: u8, b: u8| json!({"pk": {"S": format!("h{a}")}, "sk": {"N": b.to_string()}});
        let _ = match op {
            W::Put(a, b, g, e) => {
                let mut item = k(*a, *b);
                if let Some(g) = g {
                    item["g"] = json!({"S": format!("g{g}")});
                    item["l"] = json!({"S": format!("l{g}")});
                }
                if let Some(e) = e {
                    item["exp"] = json!({"N": (1000 + *e as u64 * 1000).to_string()});
                }
                item["x"] = json!({"S": "payload"});
                call(d, "PutItem", json!({"TableName": "tbl", "Item": item}))
            }
            W::Update(a, b, g) => match g {
                Some(g) => call(
                    d,
                    "UpdateItem",
                    json!({"TableName": "tbl", "Key": k(*a, *b), "UpdateExpression": "SET g = :g, exp = :e",
                    "ExpressionAttributeValues": {":g": {"S": format!("g{g}")}, ":e": {"N": "1500"}}}),
                ),
                None => call(
                    d,
                    "UpdateItem",
                    json!({"TableName": "tbl", "Key": k(*a, *b), "UpdateExpression": "REMOVE g, l"}),
                ),
            },
            W::Delete(a, b) => call(
                d,
                "DeleteItem",
                json!({"TableName": "tbl", "Key": k(*a, *b)}),
            ),
            W::Batch(keys) => {
                let mut seen = Vec::new();
                let reqs: Vec<Value> = keys
                    .iter()
                    .filter(|x| {
                        let new = !seen.contains(*x);
                        seen.push(**x);
                        new
                    })
                    .map(|(a, b)| json!({"DeleteRequest": {"Key": k(*a, *b)}}))
                    .collect();
                call(d, "BatchWriteItem", json!({"RequestItems": {"tbl": reqs}}))
            }
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// After any sequence of writes (and TTL sweeps), the index and TTL entries and the
        /// counts are exactly what the items imply.
        #[test]
        fn indexes_ttl_entries_and_counts_follow_the_items(ops in proptest::collection::vec(w(), 1..40), sweep_at in 0usize..40) {
            let d = setup();
            call(&d, "UpdateTimeToLive", json!({"TableName": "tbl", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}})).unwrap();
            for (i, op) in ops.iter().enumerate() {
                apply(&d, op);
                if i == sweep_at {
                    d.sweep_expired(2_000_000);
                }
            }
            let p = ctx().partition;
            let t = d.table(&p, "tbl").unwrap();
            let snap = d.store.snapshot();
            let mut items_seen = Vec::new();
            let (mut count, mut size) = (0u64, 0u64);
            let mut want_index: Vec<(Key, Rec)> = Vec::new();
            let mut want_ttl: Vec<Key> = Vec::new();
            for (_, r) in snap.scan_prefix(&keys::items(&p, t.id)) {
                let Rec::Item(i) = r else { panic!("not an item") };
                count += 1;
                size += value::item_size(i) as u64;
                items_seen.push(i.clone());
            }
            prop_assert_eq!((t.item_count, t.size_bytes), (count, size));
            // Rebuild what the entries should be in a fresh store, from the items alone.
            let fresh = DynamoDb::new();
            let (_, _) = fresh.store.write(|txn| {
                let mut t2 = t.clone();
                t2.item_count = 0;
                t2.size_bytes = 0;
                for idx in t2.gsis.iter_mut().chain(t2.lsis.iter_mut()) {
                    idx.item_count = 0;
                    idx.size_bytes = 0;
                }
                for i in &items_seen {
                    let pk = items::key_of_item(&t2, i).unwrap();
                    items::write_item(&p, &mut t2, txn, &pk, None, Some(i), 0);
                }
                for idx in t2.indexes() {
                    let live = t.index(&idx.name).unwrap();
                    assert_eq!((live.item_count, live.size_bytes), (idx.item_count, idx.size_bytes), "{}", idx.name);
                }
                for (k, r) in txn.scan_prefix(&keys::index_entries(&p, t.id)) {
                    want_index.push((k.clone(), r.clone()));
                }
                for (k, _) in txn.scan_prefix(&keys::expiries(&p, t.id)) {
                    want_ttl.push(k.clone());
                }
            });
            let got_index: Vec<(Key, Rec)> = snap.scan_prefix(&keys::index_entries(&p, t.id)).map(|(k, r)| (k.clone(), r.clone())).collect();
            let got_ttl: Vec<Key> = snap.scan_prefix(&keys::expiries(&p, t.id)).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(got_index, want_index);
            prop_assert_eq!(got_ttl, want_ttl);
        }
    }
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    const OPS: &[&str] = &[
        "CreateTable",
        "DescribeTable",
        "ListTables",
        "DeleteTable",
        "UpdateTable",
        "TagResource",
        "UntagResource",
        "ListTagsOfResource",
        "UpdateTimeToLive",
        "DescribeTimeToLive",
        "PutItem",
        "GetItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
        "Nope",
    ];

    /// JSON built from the members requests use, with values of every shape.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            prop_oneof![
                Just("tbl".to_string()),
                Just("pk".to_string()),
                Just("S".to_string()),
                Just(":v".to_string()),
                Just("#n".to_string()),
                Just("pk = :v".to_string()),
                Just("SET a = :v".to_string()),
                ".{0,8}".prop_map(|s| s)
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                Just("TableName"),
                Just("Key"),
                Just("Item"),
                Just("S"),
                Just("N"),
                Just("B"),
                Just("L"),
                Just("M"),
                Just("SS"),
                Just("pk"),
                Just("sk"),
                Just(":v"),
                Just("#n"),
                Just("ExpressionAttributeValues"),
                Just("ExpressionAttributeNames"),
                Just("KeyConditionExpression"),
                Just("ConditionExpression"),
                Just("UpdateExpression"),
                Just("FilterExpression"),
                Just("ProjectionExpression"),
                Just("ExclusiveStartKey"),
                Just("RequestItems"),
                Just("TransactItems"),
                Just("Put"),
                Just("Update"),
                Just("Keys"),
                Just("PutRequest"),
                Just("DeleteRequest"),
                Just("IndexName"),
                Just("Limit"),
                Just("Segment"),
                Just("TotalSegments"),
                Just("KeySchema"),
                Just("AttributeDefinitions"),
                Just("GlobalSecondaryIndexUpdates"),
                Just("ResourceArn"),
                Just("Tags"),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key, inner), 0..5).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// No request body makes an operation panic; a failed one changes nothing.
        #[test]
        fn hostile_bodies_get_errors_not_panics(op in 0..OPS.len(), body in json_value()) {
            let d = setup();
            put(&d, "a", 1, json!({"g": {"S": "x"}}));
            let before = d.store.snapshot().map().clone();
            let mut body = body;
            if let Value::Object(m) = &mut body
                && !m.contains_key("TableName")
            {
                m.insert("TableName".into(), json!("tbl"));
            }
            let r = d.handle(&ctx(), OPS[op], body.to_string().as_bytes());
            if r.is_err() {
                prop_assert!(d.store.snapshot().map() == &before);
            }
        }
    }
}

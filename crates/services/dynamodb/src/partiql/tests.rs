//! PartiQL: the statements against a table, their errors, and that the parser never panics.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::parse::parse;
use crate::DynamoDb;
use crate::{DdbResult, RequestContext};

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn call(d: &DynamoDb, op: &str, body: Value) -> DdbResult<Value> {
    let h = d.handle(&ctx(), op, body.to_string().as_bytes())?;
    Ok(crate::as_sent(op, &h))
}

fn stmt(d: &DynamoDb, s: &str) -> DdbResult<Value> {
    call(d, "ExecuteStatement", json!({"Statement": s}))
}

fn setup() -> DynamoDb {
    let d = DynamoDb::with_clock(Arc::new(|| 1_700_000_000_000));
    call(&d, "CreateTable", json!({"TableName": "tbl",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST"})).unwrap();
    d
}

fn insert(d: &DynamoDb, pk: &str, sk: i64, extra: &str) {
    stmt(
        d,
        &format!("INSERT INTO \"tbl\" VALUE {{'pk': '{pk}', 'sk': {sk}{extra}}}"),
    )
    .unwrap();
}

#[test]
fn insert_select_update_delete() {
    let d = setup();
    insert(
        &d,
        "a",
        1,
        ", 'n': 5, 'g': 'x', 'tags': <<'p', 'q'>>, 'm': {'k': [1, 'two', true, null]}",
    );
    insert(&d, "a", 2, ", 'n': 7");
    insert(&d, "b", 1, ", 'n': 9, 'g': 'x'");
    let e = stmt(&d, "INSERT INTO tbl VALUE {'pk': 'a', 'sk': 1}").unwrap_err();
    assert_eq!(e.code, "DuplicateItemException");
    assert_eq!(e.message, "Duplicate primary key exists in table");
    // Key lookups, partitions, scans, filters, projections.
    let r = stmt(&d, "SELECT * FROM \"tbl\" WHERE pk = 'a' AND sk = 1").unwrap();
    assert_eq!(r["Items"][0]["m"]["M"]["k"]["L"][1]["S"], "two");
    assert_eq!(r["Items"][0]["tags"]["SS"], json!(["p", "q"]));
    let r = stmt(&d, "SELECT sk, n FROM tbl WHERE pk = 'a' AND n > 5").unwrap();
    assert_eq!(r["Items"], json!([{"sk": {"N": "2"}, "n": {"N": "7"}}]));
    let r = stmt(&d, "SELECT pk FROM tbl WHERE n BETWEEN 6 AND 10").unwrap();
    assert_eq!(r["Items"].as_array().unwrap().len(), 2);
    let r = stmt(&d, "SELECT sk FROM tbl WHERE pk IN ['a', 'b'] AND sk = 1").unwrap();
    assert_eq!(r["Items"].as_array().unwrap().len(), 2);
    let r = stmt(&d, "SELECT sk FROM tbl WHERE pk = 'a' ORDER BY sk DESC").unwrap();
    assert_eq!(r["Items"], json!([{"sk": {"N": "2"}}, {"sk": {"N": "1"}}]));
    let r = stmt(&d, "SELECT pk FROM \"tbl\".\"byg\" WHERE g = 'x'").unwrap();
    assert_eq!(r["Items"].as_array().unwrap().len(), 2);
    let r = stmt(&d, "SELECT pk FROM tbl WHERE g IS MISSING").unwrap();
    assert_eq!(r["Items"], json!([{"pk": {"S": "a"}}]));
    let r = stmt(
        &d,
        "SELECT pk FROM tbl WHERE begins_with(pk, 'b') OR contains(tags, 'q')",
    )
    .unwrap();
    assert_eq!(r["Items"].as_array().unwrap().len(), 2);
    let r = stmt(&d, "SELECT m.k[1] FROM tbl WHERE attribute_type(m, 'M')").unwrap();
    assert_eq!(
        r["Items"],
        json!([{"m": {"M": {"k": {"L": [{"S": "two"}]}}}}])
    );
    // Parameters.
    let r = call(
        &d,
        "ExecuteStatement",
        json!({"Statement": "SELECT n FROM tbl WHERE pk = ? AND sk = ?",
        "Parameters": [{"S": "b"}, {"N": "1"}]}),
    )
    .unwrap();
    assert_eq!(r["Items"], json!([{"n": {"N": "9"}}]));
    let e = call(
        &d,
        "ExecuteStatement",
        json!({"Statement": "SELECT n FROM tbl WHERE pk = ?",
        "Parameters": [{"S": "b"}, {"N": "1"}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Number of parameters in request and statement don't match."
    );
    // UPDATE: SET, REMOVE, RETURNING, condition, absent item.
    let r = stmt(&d, "UPDATE tbl SET n = n + 1 SET x = 'new' REMOVE g WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *").unwrap();
    assert_eq!(r["Items"][0]["n"]["N"], "6");
    assert!(r["Items"][0].get("g").is_none());
    let r = stmt(&d, "UPDATE tbl SET tags = set_add(tags, <<'r'>>) WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED NEW *").unwrap();
    assert_eq!(r["Items"], json!([{"tags": {"SS": ["p", "q", "r"]}}]));
    let e = stmt(
        &d,
        "UPDATE tbl SET n = 1 WHERE pk = 'a' AND sk = 1 AND n = 100",
    )
    .unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    let e = stmt(&d, "UPDATE tbl SET n = 1 WHERE pk = 'zz' AND sk = 1").unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    let e = stmt(&d, "UPDATE tbl SET n = 1 WHERE pk = 'a'").unwrap_err();
    assert_eq!(
        e.message,
        "Where clause does not contain a mandatory equality on all key attributes"
    );
    let e = stmt(&d, "UPDATE tbl SET pk = 'q' WHERE pk = 'a' AND sk = 1").unwrap_err();
    assert!(
        e.message.contains("This attribute is part of the key"),
        "{}",
        e.message
    );
    // The index followed the update (g removed from a/1).
    let r = stmt(&d, "SELECT pk FROM tbl.byg WHERE g = 'x'").unwrap();
    assert_eq!(r["Items"], json!([{"pk": {"S": "b"}}]));
    // DELETE.
    stmt(&d, "DELETE FROM tbl WHERE pk = 'nope' AND sk = 1").unwrap();
    let e = stmt(&d, "DELETE FROM tbl WHERE pk = 'a' AND sk = 2 AND n = 0").unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    let r = stmt(
        &d,
        "DELETE FROM tbl WHERE pk = 'a' AND sk = 2 RETURNING ALL OLD *",
    )
    .unwrap();
    assert_eq!(r["Items"][0]["n"]["N"], "7");
    assert_eq!(
        stmt(&d, "SELECT * FROM tbl").unwrap()["Items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let t = call(&d, "DescribeTable", json!({"TableName": "tbl"})).unwrap();
    assert_eq!(t["Table"]["ItemCount"], 2);
    // Errors.
    let e = stmt(&d, "SELECT * FROM nope").unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = stmt(&d, "SELEC * FROM tbl").unwrap_err();
    assert!(
        e.message.starts_with("Statement wasn't well formed"),
        "{}",
        e.message
    );
    let e = stmt(&d, "SELECT * FROM tbl.nope").unwrap_err();
    assert_eq!(
        e.message,
        "The table does not have the specified index: nope"
    );
}

#[test]
fn select_pages_with_limit_and_next_token() {
    let d = setup();
    for i in 0..7 {
        insert(&d, "p", i, "");
    }
    for desc in [false, true] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"Statement": format!("SELECT sk FROM tbl WHERE pk = 'p'{}", if desc { " ORDER BY sk DESC" } else { "" }), "Limit": 3});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let r = call(&d, "ExecuteStatement", body).unwrap();
            for i in r["Items"].as_array().unwrap() {
                seen.push(i["sk"]["N"].as_str().unwrap().parse::<i64>().unwrap());
            }
            match r.get("NextToken") {
                Some(t) => token = Some(t.as_str().unwrap().to_string()),
                None => break,
            }
        }
        let mut want: Vec<i64> = (0..7).collect();
        if desc {
            want.reverse();
        }
        assert_eq!(seen, want);
    }
    let e = call(
        &d,
        "ExecuteStatement",
        json!({"Statement": "SELECT * FROM tbl", "NextToken": "AAAA"}),
    )
    .unwrap_err();
    assert_eq!(e.message, "Invalid NextToken");
}

#[test]
fn batches_and_transactions() {
    let d = setup();
    insert(&d, "a", 1, ", 'n': 1");
    let r = call(&d, "BatchExecuteStatement", json!({"Statements": [
        {"Statement": "INSERT INTO tbl VALUE {'pk': 'b', 'sk': 1}"},
        {"Statement": "INSERT INTO tbl VALUE {'pk': 'a', 'sk': 1}"},
        {"Statement": "SELECT * FROM tbl WHERE pk = ? AND sk = ?", "Parameters": [{"S": "a"}, {"N": "1"}]},
        {"Statement": "SELECT * FROM tbl WHERE pk = 'a'"},
        {"Statement": "UPDATE nope SET a = 1 WHERE pk = 'a' AND sk = 1"},
    ]})).unwrap();
    let rs = r["Responses"].as_array().unwrap();
    assert_eq!(rs[0], json!({"TableName": "tbl"}));
    assert_eq!(rs[1]["Error"]["Code"], "DuplicateItem");
    assert_eq!(rs[2]["Item"]["n"]["N"], "1");
    assert_eq!(rs[3]["Error"]["Code"], "ValidationError");
    assert_eq!(rs[4]["Error"]["Code"], "ResourceNotFound");
    // A transaction: all or nothing.
    let e = call(
        &d,
        "ExecuteTransaction",
        json!({"TransactStatements": [
            {"Statement": "INSERT INTO tbl VALUE {'pk': 'c', 'sk': 1}"},
            {"Statement": "UPDATE tbl SET n = 2 WHERE pk = 'a' AND sk = 1 AND n = 5"},
        ]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "TransactionCanceledException");
    assert_eq!(
        e.message,
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"
    );
    assert!(
        stmt(&d, "SELECT * FROM tbl WHERE pk = 'c'").unwrap()["Items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    call(
        &d,
        "ExecuteTransaction",
        json!({"TransactStatements": [
        {"Statement": "INSERT INTO tbl VALUE {'pk': 'c', 'sk': 1}"},
        {"Statement": "UPDATE tbl SET n = 2 WHERE pk = 'a' AND sk = 1 AND n = 1"},
        {"Statement": "EXISTS(SELECT * FROM tbl WHERE pk = 'b' AND sk = 1)"},
    ], "ClientRequestToken": "tok"}),
    )
    .unwrap();
    let r = call(
        &d,
        "ExecuteTransaction",
        json!({"TransactStatements": [
            {"Statement": "SELECT n FROM tbl WHERE pk = 'a' AND sk = 1"},
            {"Statement": "SELECT n FROM tbl WHERE pk = 'zz' AND sk = 1"},
        ]}),
    )
    .unwrap();
    assert_eq!(r["Responses"], json!([{"Item": {"n": {"N": "2"}}}, {}]));
    let e = call(
        &d,
        "ExecuteTransaction",
        json!({"TransactStatements": [
            {"Statement": "SELECT n FROM tbl WHERE pk = 'a' AND sk = 1"},
            {"Statement": "DELETE FROM tbl WHERE pk = 'a' AND sk = 1"},
        ]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    let e = call(
        &d,
        "ExecuteTransaction",
        json!({"TransactStatements": [
            {"Statement": "DELETE FROM tbl WHERE pk = 'a' AND sk = 1"},
            {"Statement": "UPDATE tbl SET n = 3 WHERE pk = 'a' AND sk = 1"},
        ]}),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "Transaction request cannot include multiple operations on one item"
    );
}

#[test]
fn statements_are_bounded() {
    let long = format!("SELECT * FROM tbl WHERE a = '{}'", "x".repeat(8200));
    assert!(parse(&long, &[]).unwrap_err().contains("8192"));
    let deep = format!(
        "SELECT * FROM tbl WHERE {}a = 1{}",
        "(".repeat(100),
        ")".repeat(100)
    );
    assert!(parse(&deep, &[]).unwrap_err().contains("nesting"));
    let deep = format!("INSERT INTO tbl VALUE {}", "[".repeat(200));
    assert!(parse(&deep, &[]).unwrap_err().contains("nesting"));
    let nots = format!("SELECT * FROM tbl WHERE {} a = 1", "NOT ".repeat(200));
    assert!(parse(&nots, &[]).unwrap_err().contains("nesting"));
}

const WORDS: &[&str] = &[
    "SELECT",
    "*",
    "FROM",
    "\"tbl\"",
    "tbl",
    "WHERE",
    "a",
    "=",
    "'s'",
    "1",
    "-",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<<",
    ">>",
    ",",
    ".",
    ":",
    "?",
    "IN",
    "BETWEEN",
    "IS",
    "MISSING",
    "NULL",
    "INSERT",
    "INTO",
    "VALUE",
    "UPDATE",
    "SET",
    "REMOVE",
    "DELETE",
    "RETURNING",
    "ALL",
    "NEW",
    "OLD",
    "begins_with",
    "size",
    "EXISTS",
    "ORDER",
    "BY",
    "DESC",
    "set_add",
    "list_append",
    "<",
    ">=",
    "<>",
    "+",
];

proptest! {
    #[test]
    fn the_parser_never_panics(src in "\\PC{0,200}") {
        let _ = parse(&src, &[]);
    }

    #[test]
    fn token_soup_never_panics(words in proptest::collection::vec(0..WORDS.len(), 0..60)) {
        let src: Vec<&str> = words.iter().map(|i| WORDS[*i]).collect();
        let _ = parse(&src.join(" "), &[crate::value::AttributeValue::Null]);
    }

    #[test]
    fn statements_on_a_table_never_panic(words in proptest::collection::vec(0..WORDS.len(), 0..40)) {
        let d = setup();
        insert(&d, "a", 1, ", 'a': 1");
        let src: Vec<&str> = words.iter().map(|i| WORDS[*i]).collect();
        let _ = stmt(&d, &src.join(" "));
    }
}

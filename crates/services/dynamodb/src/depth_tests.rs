//! Client-controlled size and depth: no request may recurse once per element of what it sends.
//!
//! A legacy `Expected` / `ScanFilter` / `QueryFilter` map of 4,000 entries once overflowed the
//! stack and aborted the process (the translation chained one `AND`/`OR` level per entry).
//! Every test here runs on a thread with an explicit 2 MiB stack — the size of the server's
//! tokio worker threads and of the default test thread — in a debug build, so a recursion per
//! entry would overflow here too, whatever `RUST_MIN_STACK` says.

use serde_json::{Value, json};

use super::*;

/// The stack of a tokio worker thread (and of a default test thread).
const STACK: usize = 2 << 20;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn call(d: &DynamoDb, op: &str, body: &Value) -> DdbResult<Value> {
    let h = d.handle(&ctx(), op, body.to_string().as_bytes())?;
    Ok(crate::as_sent(op, &h))
}

/// A table `tbl` (pk S, sk N) with items sk 0..3, each with `a` = sk.
fn setup() -> DynamoDb {
    let d = DynamoDb::new();
    call(
        &d,
        "CreateTable",
        &json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]}),
    )
    .unwrap();
    for sk in 0..3 {
        let item =
            json!({"pk": {"S": "p"}, "sk": {"N": sk.to_string()}, "a": {"N": sk.to_string()}});
        call(&d, "PutItem", &json!({"TableName": "tbl", "Item": item})).unwrap();
    }
    d
}

const ENTRIES: usize = 10_000;

/// `n` filter conditions on absent attributes `x0..`: NULL (true for every item) or NOT_NULL
/// (false), then one on `a` = 1.
fn filter_map(n: usize, absent_op: &str) -> Value {
    let mut m = serde_json::Map::new();
    for i in 0..n {
        m.insert(format!("x{i}"), json!({"ComparisonOperator": absent_op}));
    }
    m.insert(
        "a".into(),
        json!({"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}),
    );
    Value::Object(m)
}

fn count(v: &Value) -> u64 {
    v["Count"].as_u64().unwrap()
}

#[test]
fn a_10000_entry_scan_filter_evaluates_with_and_and_or() {
    on_small_stack(|| {
        let d = setup();
        // AND: every NULL holds, so only a = 1 decides.
        let and = json!({"TableName": "tbl", "ScanFilter": filter_map(ENTRIES, "NULL"), "ConditionalOperator": "AND"});
        assert_eq!(count(&call(&d, "Scan", &and).unwrap()), 1);
        // OR: every NOT_NULL fails, so every entry is evaluated and a = 1 decides.
        let or = json!({"TableName": "tbl", "ScanFilter": filter_map(ENTRIES, "NOT_NULL"), "ConditionalOperator": "OR"});
        assert_eq!(count(&call(&d, "Scan", &or).unwrap()), 1);
        // NOT_CONTAINS translates to two nodes per entry.
        let mut m = serde_json::Map::new();
        for i in 0..ENTRIES {
            m.insert(
                format!("x{i}"),
                json!({"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]}),
            );
        }
        let nc = json!({"TableName": "tbl", "ScanFilter": m, "ConditionalOperator": "OR"});
        assert_eq!(count(&call(&d, "Scan", &nc).unwrap()), 0);
    });
}

#[test]
fn a_10000_entry_query_filter_evaluates_with_and_and_or() {
    on_small_stack(|| {
        let d = setup();
        for (op, absent) in [("AND", "NULL"), ("OR", "NOT_NULL")] {
            let q = json!({"TableName": "tbl",
                "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}},
                "QueryFilter": filter_map(ENTRIES, absent), "ConditionalOperator": op});
            let r = call(&d, "Query", &q).unwrap();
            assert_eq!(
                (count(&r), r["ScannedCount"].as_u64()),
                (1, Some(3)),
                "{op}"
            );
        }
    });
}

#[test]
fn a_10000_entry_expected_map_evaluates_with_and_and_or() {
    on_small_stack(|| {
        let d = setup();
        let item = json!({"pk": {"S": "p"}, "sk": {"N": "1"}, "a": {"N": "9"}});
        let mut all_absent = serde_json::Map::new();
        let mut none_present = serde_json::Map::new();
        for i in 0..ENTRIES {
            all_absent.insert(format!("x{i}"), json!({"ComparisonOperator": "NULL"}));
            none_present.insert(format!("x{i}"), json!({"ComparisonOperator": "NOT_NULL"}));
        }
        let mut and = json!({"TableName": "tbl", "Item": item.clone(), "Expected": all_absent, "ConditionalOperator": "AND"});
        call(&d, "PutItem", &and).unwrap();
        // OR of 10,000 false conditions fails as a whole.
        let or = json!({"TableName": "tbl", "Item": item.clone(), "Expected": none_present, "ConditionalOperator": "OR"});
        assert_eq!(
            call(&d, "PutItem", &or).unwrap_err().code,
            "ConditionalCheckFailedException"
        );
        // The legacy Exists form, without ConditionalOperator (AND).
        let mut m = serde_json::Map::new();
        for i in 0..ENTRIES {
            m.insert(format!("x{i}"), json!({"Exists": false}));
        }
        and["Expected"] = Value::Object(m);
        and.as_object_mut().unwrap().remove("ConditionalOperator");
        call(&d, "PutItem", &and).unwrap();
        // UpdateItem and DeleteItem take the same map.
        let key = json!({"pk": {"S": "p"}, "sk": {"N": "1"}});
        let upd = json!({"TableName": "tbl", "Key": key, "Expected": and["Expected"],
            "AttributeUpdates": {"b": {"Action": "PUT", "Value": {"S": "x"}}}});
        call(&d, "UpdateItem", &upd).unwrap();
        let del = json!({"TableName": "tbl", "Key": key, "Expected": and["Expected"]});
        call(&d, "DeleteItem", &del).unwrap();
    });
}

/// The deepest parentheses, NOTs and functions the parser takes, and far more than it takes,
/// get an answer (a result or a ValidationException), never a stack overflow.
#[test]
fn deep_expressions_are_answered_on_a_small_stack() {
    on_small_stack(|| {
        let d = setup();
        let scan = |f: String| {
            call(
                &d,
                "Scan",
                &json!({"TableName": "tbl", "FilterExpression": f,
                    "ExpressionAttributeValues": {":v": {"N": "1"}}}),
            )
        };
        // `(a = :v AND (a = :v AND (...)))` at the parser's nesting limit: evaluated.
        let depth = expr::MAX_NESTING - 1;
        let nested = "(a = :v AND ".repeat(depth) + "a = :v" + &")".repeat(depth);
        assert_eq!(count(&scan(nested).unwrap()), 1);
        // Beyond it, and up to the 4 KB size limit: refused.
        for src in [
            "(a = :v AND ".repeat(300) + "a = :v" + &")".repeat(300),
            "(".repeat(2000) + "a = :v" + &")".repeat(2000),
            "NOT ".repeat(1000) + "a = :v",
            "size(".repeat(600) + "a" + &")".repeat(600) + " = :v",
            "(".repeat(4000),
        ] {
            let e = scan(src.clone()).unwrap_err();
            assert_eq!(e.code, "ValidationException", "{src:.40}: {e:?}");
        }
        // Redundant parentheses around a whole condition are DynamoDB's own error.
        let e = scan("((a = :v))".into()).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid FilterExpression: The expression has redundant parentheses;"
        );
        // Update and projection expressions.
        let key = json!({"pk": {"S": "p"}, "sk": {"N": "1"}});
        for u in [
            "SET b = ".to_string() + &"list_append(".repeat(1000) + "b" + &", b)".repeat(1000),
            "SET b = ".to_string() + &"(".repeat(2000) + ":v" + &")".repeat(2000),
            "SET b = ".to_string() + &"if_not_exists(b, ".repeat(800) + ":v" + &")".repeat(800),
        ] {
            let r = call(
                &d,
                "UpdateItem",
                &json!({"TableName": "tbl", "Key": key, "UpdateExpression": u,
                    "ExpressionAttributeValues": {":v": {"N": "1"}}}),
            );
            assert_eq!(r.unwrap_err().code, "ValidationException");
        }
        let p = "a".to_string() + &"[0]".repeat(1000);
        let r = call(
            &d,
            "GetItem",
            &json!({"TableName": "tbl", "Key": key, "ProjectionExpression": p}),
        );
        assert_eq!(r.unwrap_err().code, "ValidationException");
    });
}

/// L and M nested beyond DynamoDB's 32 levels are refused with its message, in items, in
/// expression values and in legacy value lists; 31 levels are stored and read back.
#[test]
fn deep_list_and_map_nesting_is_refused_with_dynamodb_message() {
    on_small_stack(|| {
        let d = setup();
        let nest = |levels: usize, map: bool| {
            let mut v = json!({"S": "leaf"});
            for _ in 0..levels {
                v = if map {
                    json!({"M": {"k": v}})
                } else {
                    json!({"L": [v]})
                };
            }
            v
        };
        let max = value::MAX_NESTING - 1;
        for map in [false, true] {
            let item = json!({"pk": {"S": "p"}, "sk": {"N": "7"}, "deep": nest(max, map)});
            call(&d, "PutItem", &json!({"TableName": "tbl", "Item": item})).unwrap();
            let got = call(
                &d,
                "GetItem",
                &json!({"TableName": "tbl", "Key": {"pk": {"S": "p"}, "sk": {"N": "7"}}}),
            )
            .unwrap();
            assert_eq!(got["Item"]["deep"], nest(max, map));
            // One level more (and far more, as deep as JSON parsing allows), anywhere.
            for levels in [max + 1, 60] {
                let deep = nest(levels, map);
                let item = json!({"pk": {"S": "p"}, "sk": {"N": "8"}, "deep": deep});
                let e =
                    call(&d, "PutItem", &json!({"TableName": "tbl", "Item": item})).unwrap_err();
                assert_eq!(e.code, "ValidationException");
                assert!(
                    e.message
                        .contains("Nesting Levels have exceeded supported limits")
                );
                let scan = json!({"TableName": "tbl", "FilterExpression": "a = :v",
                    "ExpressionAttributeValues": {":v": deep}});
                let e = call(&d, "Scan", &scan).unwrap_err();
                assert!(
                    e.message
                        .contains("Nesting Levels have exceeded supported limits")
                );
                let legacy = json!({"TableName": "tbl", "ScanFilter": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [deep]}}});
                let e = call(&d, "Scan", &legacy).unwrap_err();
                assert!(
                    e.message
                        .contains("Nesting Levels have exceeded supported limits")
                );
            }
        }
        // Deeper than serde_json's recursion limit (128): a SerializationException, no overflow.
        let body = "{\"TableName\":\"t\",\"Item\":".to_string()
            + &"{\"L\":[".repeat(5000)
            + &"]}".repeat(5000)
            + "}";
        let e = d.handle(&ctx(), "PutItem", body.as_bytes()).unwrap_err();
        assert_eq!(e.code, "SerializationException");
    });
}

#[test]
fn serde_json_keeps_its_recursion_limit() {
    // `serde_json`'s `unbounded_depth` feature would turn the limit off; the parse of any request
    // body must keep refusing 129 levels.
    let deep = "[".repeat(129) + &"]".repeat(129);
    let e = serde_json::from_str::<Value>(&deep).unwrap_err();
    assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    /// One legacy condition: its operator, and for EQ a number or an L/M value nested `depth`
    /// levels.
    #[derive(Clone, Debug)]
    enum Cond {
        Null,
        NotNull,
        EqNumber(u8),
        EqNested { depth: usize, map: bool },
    }

    fn cond() -> impl Strategy<Value = Cond> {
        prop_oneof![
            Just(Cond::Null),
            Just(Cond::NotNull),
            (0u8..3).prop_map(Cond::EqNumber),
            (0usize..40, any::<bool>()).prop_map(|(depth, map)| Cond::EqNested { depth, map }),
        ]
    }

    /// A legacy map: conditions on absent attributes `x0..`, and maybe one on `a` (= sk).
    fn legacy_map() -> impl Strategy<Value = (Vec<Cond>, Option<Cond>, bool)> {
        let size = prop_oneof![0usize..40, 1_000usize..12_000];
        (
            size.prop_flat_map(|n| proptest::collection::vec(cond(), n)),
            proptest::option::of(cond()),
            any::<bool>(),
        )
    }

    fn to_json(c: &Cond) -> Value {
        match c {
            Cond::Null => json!({"ComparisonOperator": "NULL"}),
            Cond::NotNull => json!({"ComparisonOperator": "NOT_NULL"}),
            Cond::EqNumber(k) => {
                json!({"ComparisonOperator": "EQ", "AttributeValueList": [{"N": k.to_string()}]})
            }
            Cond::EqNested { depth, map } => {
                let mut v = json!({"N": "1"});
                for _ in 0..*depth {
                    v = if *map {
                        json!({"M": {"k": v}})
                    } else {
                        json!({"L": [v]})
                    };
                }
                json!({"ComparisonOperator": "EQ", "AttributeValueList": [v]})
            }
        }
    }

    /// The reference: whether the condition holds for the item with `a` = `sk` (`on_a`) or
    /// for an absent attribute.
    fn holds(c: &Cond, on_a: bool, sk: u8) -> bool {
        match c {
            Cond::Null => !on_a,
            Cond::NotNull => on_a,
            Cond::EqNumber(k) => on_a && *k == sk,
            Cond::EqNested { depth, .. } => on_a && *depth == 0 && sk == 1,
        }
    }

    fn too_deep(c: &Cond) -> bool {
        matches!(c, Cond::EqNested { depth, .. } if *depth >= value::MAX_NESTING)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Legacy `ScanFilter`, `QueryFilter` and `Expected` maps of any size (up to 12,000
        /// entries) with values of any nesting evaluate as the reference says, on a 2 MiB
        /// stack, or are refused for nesting with DynamoDB's message.
        #[test]
        fn legacy_maps_of_any_size_and_nesting((absent, on_a, or) in legacy_map()) {
            on_small_stack(move || {
                let d = setup();
                let mut m = serde_json::Map::new();
                for (i, c) in absent.iter().enumerate() {
                    m.insert(format!("x{i}"), to_json(c));
                }
                if let Some(c) = &on_a {
                    m.insert("a".into(), to_json(c));
                }
                let op = if or { "OR" } else { "AND" };
                let refused = absent.iter().chain(&on_a).any(too_deep);
                let empty = m.is_empty();
                let matches = |sk: u8| {
                    let mut all = absent.iter().map(|c| holds(c, false, sk))
                        .chain(on_a.iter().map(|c| holds(c, true, sk)));
                    match (empty, or) {
                        (true, _) => true,
                        (false, true) => all.any(|b| b),
                        (false, false) => all.all(|b| b),
                    }
                };
                let want = (0..3).filter(|&sk| matches(sk)).count() as u64;
                let map = Value::Object(m);
                let scan = json!({"TableName": "tbl", "ScanFilter": map, "ConditionalOperator": op});
                let query = json!({"TableName": "tbl", "QueryFilter": map, "ConditionalOperator": op,
                    "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}});
                let item = json!({"pk": {"S": "p"}, "sk": {"N": "1"}, "a": {"N": "1"}});
                let put = json!({"TableName": "tbl", "Item": item, "Expected": map, "ConditionalOperator": op});
                for (name, body) in [("Scan", &scan), ("Query", &query)] {
                    match call(&d, name, body) {
                        Ok(r) => {
                            assert!(!refused, "{name} accepted a value nested too deep");
                            assert_eq!(count(&r), want, "{name}");
                        }
                        Err(e) => {
                            assert!(refused, "{name}: {e:?}");
                            assert!(e.message.contains("Nesting Levels have exceeded"), "{e:?}");
                        }
                    }
                }
                match call(&d, "PutItem", &put) {
                    Ok(_) => assert!(!refused && matches(1)),
                    Err(e) if refused => assert!(e.message.contains("Nesting Levels"), "{e:?}"),
                    Err(e) => {
                        assert!(!matches(1));
                        assert_eq!(e.code, "ConditionalCheckFailedException");
                    }
                }
            });
        }
    }
}

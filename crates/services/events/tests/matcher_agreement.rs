//! SNS filter policies (body scope) and EventBridge event patterns are one matcher family: where
//! their semantics agree (the operators both accept, documents without `null`, which only
//! EventBridge's anything-but counts as a value), a policy and a pattern of the same text give
//! the same answer on the same JSON, including arrays of objects flattened on the way.

use proptest::prelude::*;
use serde_json::{Value, json};
use snapstack_events::pattern;
use snapstack_sns::filter::{self, Scope};

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "x", "xy", "Xy", "yx", "10.0.1.5", "10.0.2.9", "a*b", "",
    ])
    .prop_map(str::to_string)
}

fn cond() -> impl Strategy<Value = Value> {
    prop_oneof![
        word().prop_map(Value::from),
        (0i64..5).prop_map(Value::from),
        word().prop_map(|w| json!({"prefix": w})),
        word().prop_map(|w| json!({"suffix": w})),
        word().prop_map(|w| json!({"equals-ignore-case": w})),
        prop::sample::select(vec!["x*", "*y", "*", "1*5", "X*y"])
            .prop_map(|w| json!({"wildcard": w})),
        word().prop_map(|w| json!({"anything-but": w})),
        prop::collection::vec(word(), 1..3).prop_map(|w| json!({"anything-but": w})),
        (0i64..5).prop_map(|n| json!({"anything-but": [n]})),
        word()
            .prop_filter("non-empty", |w| !w.is_empty())
            .prop_map(|w| json!({"anything-but": {"prefix": w}})),
        (0i64..5).prop_map(|n| json!({"numeric": [">", n]})),
        (0i64..3, 3i64..6).prop_map(|(a, b)| json!({"numeric": [">=", a, "<", b]})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
        prop::sample::select(vec!["10.0.1.0/24", "10.0.0.0/16", "10.0.2.0/30"])
            .prop_map(|c| json!({"cidr": c})),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(cond(), 1..3).prop_map(Value::from)
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string)
}

/// A policy: up to 3 keys, a leaf or one level of nesting, maybe an `$or` of two.
fn policy() -> impl Strategy<Value = Value> {
    let obj = prop::collection::btree_map(
        key(),
        prop_oneof![
            3 => leaf(),
            1 => prop::collection::btree_map(key(), leaf(), 1..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ],
        1..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<serde_json::Map<_, _>>()))
    .boxed();
    (obj.clone(), prop::option::of((obj.clone(), obj))).prop_map(|(mut base, or)| {
        if let Some((l, r)) = or {
            base["$or"] = json!([l, r]);
        }
        base
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        word().prop_map(Value::from),
        (0i64..6).prop_map(Value::from),
        Just(json!(2.5)),
        any::<bool>().prop_map(Value::from),
    ]
}

/// A document: keys a, b, c with scalars, arrays of scalars, objects, arrays of objects.
fn document() -> impl Strategy<Value = Value> {
    let inner = prop::collection::btree_map(
        key(),
        prop_oneof![
            scalar(),
            prop::collection::vec(scalar(), 0..3).prop_map(Value::from)
        ],
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
    .boxed();
    let field = prop_oneof![
        3 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::from),
        2 => inner.clone(),
        2 => prop::collection::vec(inner, 0..3).prop_map(Value::from),
    ];
    prop::collection::btree_map(key(), field, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sns_body_policies_and_event_patterns_agree(p in policy(), doc in document()) {
        let text = p.to_string();
        let sns = filter::compile(&text, Scope::MessageBody);
        let events = pattern::compile(&text);
        let events = events.unwrap_or_else(|e| panic!("{text}: {e}"));
        // SNS's limits (5 keys, 150 combinations) refuse some; the rest must agree.
        let Ok(sns) = sns else { return Ok(()); };
        prop_assert_eq!(sns.matcher().leaves.len(), events.matcher().leaves.len());
        prop_assert_eq!(
            sns.matches_body(&doc.to_string()),
            events.matches(&doc),
            "policy {} on {}", text, doc
        );
    }
}

/// The agreement is not vacuous: on these the answers differ only where the semantics do.
#[test]
fn where_the_services_differ_it_is_by_design() {
    let p = r#"{"a": [{"anything-but": "x"}]}"#;
    let sns = filter::compile(p, Scope::MessageBody).unwrap();
    let events = pattern::compile(p).unwrap();
    // null: a value to EventBridge's anything-but, not to SNS's.
    assert!(events.matches(&json!({"a": null})));
    assert!(!sns.matches_body(r#"{"a": null}"#));
    // Both flatten arrays of objects.
    let q = r#"{"a": {"b": ["y"]}}"#;
    let doc = json!({"a": [{"b": "x"}, {"b": "y"}]});
    assert!(pattern::compile(q).unwrap().matches(&doc));
    assert!(
        filter::compile(q, Scope::MessageBody)
            .unwrap()
            .matches_body(&doc.to_string())
    );
}

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn s(v: &str) -> Value {
    json!({"DataType": "String", "StringValue": v})
}

fn n(v: &str) -> Value {
    json!({"DataType": "Number", "StringValue": v})
}

fn arr(v: &str) -> Value {
    json!({"DataType": "String.Array", "StringValue": v})
}

fn a(policy: &str, a: Value) -> bool {
    compile(policy, Scope::MessageAttributes)
        .unwrap()
        .matches_attributes(&attrs(a))
}

fn b(policy: &str, body: &str) -> bool {
    compile(policy, Scope::MessageBody)
        .unwrap()
        .matches_body(body)
}

#[test]
fn exact_strings_and_numbers() {
    let p = r#"{"color": ["red", "blue"]}"#;
    assert!(a(p, json!({"color": s("red")})));
    assert!(a(p, json!({"color": s("blue"), "other": s("x")})));
    assert!(!a(p, json!({"color": s("green")})));
    assert!(!a(p, json!({})));
    let p = r#"{"size": [5, 10.5]}"#;
    assert!(a(p, json!({"size": n("5")})));
    assert!(a(p, json!({"size": n("10.50")})));
    assert!(!a(p, json!({"size": n("6")})));
    // A string "5" is not the number 5.
    assert!(!a(p, json!({"size": s("5")})));
    // Every key must match.
    let p = r#"{"color": ["red"], "size": [5]}"#;
    assert!(a(p, json!({"color": s("red"), "size": n("5")})));
    assert!(!a(p, json!({"color": s("red")})));
}

#[test]
fn string_arrays_match_any_element() {
    let p = r#"{"tags": ["b"]}"#;
    assert!(a(p, json!({"tags": arr(r#"["a","b"]"#)})));
    assert!(!a(p, json!({"tags": arr(r#"["a","c"]"#)})));
    assert!(!a(p, json!({"tags": arr("not json")})));
    let p = r#"{"nums": [{"numeric": [">", 3]}]}"#;
    assert!(a(p, json!({"nums": arr("[1, 4]")})));
}

#[test]
fn prefix_suffix_ignore_case_wildcard() {
    assert!(a(r#"{"k": [{"prefix": "ab"}]}"#, json!({"k": s("abc")})));
    assert!(!a(r#"{"k": [{"prefix": "ab"}]}"#, json!({"k": s("xab")})));
    assert!(a(
        r#"{"k": [{"suffix": ".png"}]}"#,
        json!({"k": s("a.png")})
    ));
    assert!(!a(
        r#"{"k": [{"suffix": ".png"}]}"#,
        json!({"k": s("a.jpg")})
    ));
    assert!(a(
        r#"{"k": [{"equals-ignore-case": "HeLLo"}]}"#,
        json!({"k": s("hello")})
    ));
    assert!(a(
        r#"{"k": [{"wildcard": "a*c*e"}]}"#,
        json!({"k": s("abcde")})
    ));
    assert!(!a(
        r#"{"k": [{"wildcard": "a*c*e"}]}"#,
        json!({"k": s("abcd")})
    ));
    assert!(matcher::wildcard("*", ""));
    assert!(matcher::wildcard("a*", "a"));
    assert!(!matcher::wildcard("a", ""));
}

#[test]
fn anything_but() {
    let p = r#"{"k": [{"anything-but": ["red", "blue"]}]}"#;
    assert!(a(p, json!({"k": s("green")})));
    assert!(!a(p, json!({"k": s("red")})));
    assert!(!a(p, json!({})), "anything-but needs the key");
    let p = r#"{"k": [{"anything-but": "red"}]}"#;
    assert!(!a(p, json!({"k": s("red")})));
    let p = r#"{"k": [{"anything-but": [100]}]}"#;
    assert!(a(p, json!({"k": n("99")})));
    assert!(!a(p, json!({"k": n("100")})));
    let p = r#"{"k": [{"anything-but": {"prefix": "tmp"}}]}"#;
    assert!(a(p, json!({"k": s("data")})));
    assert!(!a(p, json!({"k": s("tmp-1")})));
    let p = r#"{"k": [{"anything-but": {"suffix": ".tmp"}}]}"#;
    assert!(!a(p, json!({"k": s("x.tmp")})));
}

#[test]
fn numeric_ranges() {
    let p = r#"{"price": [{"numeric": [">=", 10, "<", 20]}]}"#;
    assert!(a(p, json!({"price": n("10")})));
    assert!(a(p, json!({"price": n("19.99")})));
    assert!(!a(p, json!({"price": n("20")})));
    assert!(!a(p, json!({"price": n("9")})));
    assert!(!a(p, json!({"price": s("15")})));
    assert!(a(
        r#"{"p": [{"numeric": ["=", 3]}]}"#,
        json!({"p": n("3.0")})
    ));
    assert!(a(
        r#"{"p": [{"numeric": ["<", 0]}]}"#,
        json!({"p": n("-1")})
    ));
}

#[test]
fn exists() {
    let yes = r#"{"k": [{"exists": true}]}"#;
    let no = r#"{"k": [{"exists": false}]}"#;
    assert!(a(yes, json!({"k": s("x")})));
    assert!(!a(yes, json!({"j": s("x")})));
    assert!(a(no, json!({"j": s("x")})));
    assert!(!a(no, json!({"k": s("x")})));
    assert!(b(yes, r#"{"k": 1}"#));
    assert!(b(no, r#"{"j": 1}"#));
}

#[test]
fn cidr() {
    let p = r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#;
    assert!(a(p, json!({"ip": s("10.0.0.255")})));
    assert!(!a(p, json!({"ip": s("10.0.1.1")})));
    assert!(!a(p, json!({"ip": s("nope")})));
    let p = r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#;
    assert!(a(p, json!({"ip": s("2001:db8::1")})));
    assert!(
        compile(
            r#"{"ip": [{"cidr": "10.0.0.0"}]}"#,
            Scope::MessageAttributes
        )
        .is_err()
    );
    assert!(
        compile(
            r#"{"ip": [{"cidr": "10.0.0.0/33"}]}"#,
            Scope::MessageAttributes
        )
        .is_err()
    );
}

#[test]
fn or_combinations() {
    let p = r#"{"source": ["aws.cloudwatch"], "$or": [{"metric": ["CPU"]}, {"ns": ["EC2"]}]}"#;
    assert!(a(
        p,
        json!({"source": s("aws.cloudwatch"), "metric": s("CPU")})
    ));
    assert!(a(p, json!({"source": s("aws.cloudwatch"), "ns": s("EC2")})));
    assert!(!a(p, json!({"source": s("aws.cloudwatch")})));
    assert!(!a(p, json!({"metric": s("CPU")})));
}

#[test]
fn body_scope_nested_keys() {
    let p = r#"{"order": {"status": ["paid"], "total": [{"numeric": [">", 100]}]}}"#;
    assert!(b(p, r#"{"order": {"status": "paid", "total": 150}}"#));
    assert!(!b(p, r#"{"order": {"status": "paid", "total": 50}}"#));
    assert!(!b(p, r#"{"order": {"status": "open", "total": 150}}"#));
    assert!(!b(p, "not json"));
    assert!(!b(p, r#"["order"]"#));
    // Arrays in the body match on any element; booleans and null are values.
    assert!(b(r#"{"tags": ["x"]}"#, r#"{"tags": ["a", "x"]}"#));
    assert!(b(r#"{"ok": [true]}"#, r#"{"ok": true}"#));
    assert!(b(r#"{"v": [null]}"#, r#"{"v": null}"#));
    assert!(!b(r#"{"v": [null]}"#, r#"{"w": null}"#));
    // An object where the policy expects a value matches nothing.
    assert!(!b(r#"{"order": ["x"]}"#, r#"{"order": {"a": 1}}"#));
}

#[test]
fn validation_messages() {
    let e = |p: &str, scope| compile(p, scope).unwrap_err();
    let attr = Scope::MessageAttributes;
    let body = Scope::MessageBody;
    // The reason, and the whole message as each call words it (AWS's, as LocalStack's
    // snapshot tests against AWS record them).
    let six = r#"{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}"#;
    assert_eq!(
        on_subscribe(&e(six, attr)),
        "Invalid parameter: Attributes Reason: FilterPolicy: Filter policy can not have more than 5 keys"
    );
    assert_eq!(
        on_set_attributes(&e(six, attr)),
        "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
    );
    assert_eq!(
        on_subscribe(&e(r#"{"k": {"nested": ["a"]}}"#, attr)),
        "Invalid parameter: Attributes Reason: Filter policy scope MessageAttributes does not support nested filter policy"
    );
    let cases: &[(&str, &str)] = &[
        (
            r#"{"k": [{"prefixx": "a"}]}"#,
            "Unrecognized match type prefixx",
        ),
        (r#"{"k": []}"#, "Empty arrays are not allowed"),
        (r#"{"k": "x"}"#, "\"k\" must be an object or an array"),
        (
            r#"{"k": [[1]]}"#,
            "Match value must be String, number, true, false, or null",
        ),
        (
            r#"{"k": [{"prefix": "a", "suffix": "b"}]}"#,
            "Only one key allowed in match expression",
        ),
        (
            r#"{"k": [{"prefix": 1}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"k": [{"suffix": 1}]}"#,
            "suffix match pattern must be a string",
        ),
        (
            r#"{"k": [{"equals-ignore-case": 1}]}"#,
            "equals-ignore-case match pattern must be a string",
        ),
        (
            r#"{"k": [{"exists": "yes"}]}"#,
            "exists match pattern must be either true or false.",
        ),
        (
            r#"{"k": [{"anything-but": {"wildcard": "a*"}}]}"#,
            "Unsupported anything-but pattern: wildcard",
        ),
        (
            r#"{"k": [{"numeric": []}]}"#,
            "Invalid member in numeric match: ]",
        ),
        (
            r#"{"k": [{"numeric": [5]}]}"#,
            "Invalid member in numeric match: 5",
        ),
        (
            r#"{"k": [{"numeric": ["<>", 1]}]}"#,
            "Unrecognized numeric range operator: <>",
        ),
        (
            r#"{"k": [{"numeric": ["=", "a"]}]}"#,
            "Value of equals must be numeric",
        ),
        (
            r#"{"k": [{"numeric": [">", "a"]}]}"#,
            "Value of > must be numeric",
        ),
        (
            r#"{"k": [{"numeric": ["<", 1, ">", 0]}]}"#,
            "Too many elements in numeric expression",
        ),
        (
            r#"{"k": [{"numeric": [">", 0, 1, 2]}]}"#,
            "Bad value in numeric range: 1",
        ),
        (
            r#"{"k": [{"numeric": [">", 0, ">", 2]}]}"#,
            "Bad numeric range operator: >",
        ),
        (
            r#"{"k": [{"numeric": [">", 5, "<", 1]}]}"#,
            "Bottom must be less than top",
        ),
        (
            r#"{"k": [{"numeric": [">", 0, "<", 5, "<", 9]}]}"#,
            "Too many terms in numeric range expression",
        ),
        (
            r#"{"k": [{"cidr": 1}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"k": [{"cidr": "10.0.0.0"}]}"#,
            "Malformed CIDR, one '/' required",
        ),
        (
            r#"{"k": [{"cidr": "10.0.0.0/x"}]}"#,
            "Malformed CIDR, mask bits must be an integer",
        ),
        (
            r#"{"k": [{"cidr": "10.0.0/8"}]}"#,
            "Nonstandard IP address: 10.0.0",
        ),
        (
            r#"{"k": [{"wildcard": "a**b"}]}"#,
            "Consecutive wildcard characters at pos 2",
        ),
        ("{", "failed to parse JSON."),
    ];
    for (p, want) in cases {
        assert_eq!(e(p, attr), format!("FilterPolicy: {want}"), "{p}");
    }
    assert!(compile(r#"{"k": {"nested": ["a"]}}"#, body).is_ok());
    // AWS accepts numbers outside its documented range.
    assert!(compile(r#"{"k": [1e10]}"#, attr).is_ok());
    // Complexity: 6 * 5 * 6 = 180 combinations > 150.
    let many = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
    let p = json!({"a": many(6), "b": many(5), "c": many(6)}).to_string();
    assert_eq!(e(&p, attr), "FilterPolicy: Filter policy is too complex");
    // AWS's nested example: 3 (key_c: 4 values at depth 3 → 4 x 3) and 2 (key_e: 3 at depth 2)
    // → 12 x 6 = 72 allowed; key_f's 3 more values at depth 1 → 216 refused.
    let nested = json!({"key_a": {"key_b": {"key_c": many(4)}}, "key_d": {"key_e": many(3)}});
    assert!(compile(&nested.to_string(), body).is_ok());
    let mut over = nested.clone();
    over["key_f"] = json!(many(3));
    assert_eq!(
        e(&over.to_string(), body),
        "FilterPolicy: Filter policy is too complex"
    );
    // Only parent keys count: 5 top-level keys with many nested ones pass; a sixth does not.
    let wide = json!({"a": {"x": ["1"], "y": ["1"]}, "b": {"x": ["1"], "y": ["1"]},
                      "c": ["1"], "d": ["1"], "e": ["1"]});
    assert!(compile(&wide.to_string(), body).is_ok());
    let mut six_parents = wide.clone();
    six_parents["f"] = json!(["1"]);
    assert_eq!(
        e(&six_parents.to_string(), body),
        "FilterPolicy: Filter policy can not have more than 5 keys"
    );
    // The size limit.
    let big = format!(r#"{{"k": ["{}"]}}"#, "x".repeat(MAX_POLICY_BYTES));
    assert!(e(&big, attr).starts_with("FilterPolicy: Filter policy is too long"));
    assert!(e(r#"{"$or": [{"a": ["x"]}]}"#, attr).contains("$or"));
}

#[test]
fn body_arrays_of_objects_are_flattened() {
    let body = r#"{"order": {"items": [{"sku": "a1", "qty": 1}, {"sku": "b2", "qty": 7}]}}"#;
    assert!(b(r#"{"order": {"items": {"sku": ["b2"]}}}"#, body));
    assert!(!b(r#"{"order": {"items": {"sku": ["c3"]}}}"#, body));
    assert!(b(
        r#"{"order": {"items": {"qty": [{"numeric": [">", 5]}]}}}"#,
        body
    ));
    assert!(b(
        r#"{"order": {"items": {"sku": [{"exists": true}]}}}"#,
        body
    ));
    assert!(!b(
        r#"{"order": {"items": {"gone": [{"exists": true}]}}}"#,
        body
    ));
    // Any element may satisfy each key (AWS matches per value, not per element).
    assert!(b(
        r#"{"order": {"items": {"sku": ["a1"], "qty": [7]}}}"#,
        body
    ));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2_000_000_000i64..2_000_000_000).prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z*/.:0-9<>=-]{0,8}".prop_map(Value::String),
        prop_oneof![
            Just("prefix"),
            Just("suffix"),
            Just("anything-but"),
            Just("numeric"),
            Just("exists"),
            Just("cidr"),
            Just("wildcard"),
            Just("equals-ignore-case"),
            Just("$or"),
            Just("<"),
            Just(">="),
            Just("=")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("prefix".to_string()),
                    Just("anything-but".to_string()),
                    Just("numeric".to_string()),
                    Just("exists".to_string()),
                    Just("cidr".to_string()),
                    Just("$or".to_string()),
                    Just("wildcard".to_string()),
                    "[a-c]{1,2}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn the_matcher_never_panics(policy in arb_json(), msg in arb_json(), body in arb_json()) {
        let text = policy.to_string();
        for scope in [Scope::MessageAttributes, Scope::MessageBody] {
            if let Ok(p) = compile(&text, scope) {
                let mut attrs = Map::new();
                if let Value::Object(m) = &msg {
                    for (k, v) in m {
                        let (dt, sv) = match v {
                            Value::Number(n) => ("Number", n.to_string()),
                            Value::Array(_) => ("String.Array", v.to_string()),
                            Value::String(s) => ("String", s.clone()),
                            other => ("String", other.to_string()),
                        };
                        attrs.insert(k.clone(), json!({"DataType": dt, "StringValue": sv}));
                    }
                }
                let _ = p.matches_attributes(&attrs);
                let _ = p.matches_body(&body.to_string());
                let _ = p.matches_body(&text);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}", body in ".{0,64}") {
        for scope in [Scope::MessageAttributes, Scope::MessageBody] {
            if let Ok(p) = compile(&text, scope) {
                let _ = p.matches_body(&body);
            }
        }
    }

    #[test]
    fn exact_string_policies_match_exactly(v in "[a-z]{0,6}", w in "[a-z]{0,6}") {
        let p = json!({"k": [v.clone()]}).to_string();
        let m = a(&p, json!({"k": s(&w)}));
        prop_assert_eq!(m, v == w);
    }

    #[test]
    fn wildcard_agrees_with_a_regex(p in "[ab*]{0,6}", s in "[ab]{0,8}") {
        let re = format!("^{}$", p.replace('*', ".*"));
        let re = regex::Regex::new(&re).unwrap();
        prop_assert_eq!(matcher::wildcard(&p, &s), re.is_match(&s));
    }
}

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
    assert!(wildcard(b"*", b""));
    assert!(wildcard(b"a*", b"a"));
    assert!(!wildcard(b"a", b""));
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
    assert_eq!(
        e(r#"{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}"#, attr),
        "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"
    );
    assert!(e(r#"{"k": [{"prefixx": "a"}]}"#, attr).contains("Unrecognized match type prefixx"));
    assert!(e(r#"{"k": {"nested": ["a"]}}"#, attr).contains("does not support nested"));
    assert!(compile(r#"{"k": {"nested": ["a"]}}"#, Scope::MessageBody).is_ok());
    assert!(e(r#"{"k": []}"#, attr).contains("Empty arrays"));
    assert!(e("[1]", attr).contains("JSON object"));
    assert!(e("{", attr).contains("failed to parse JSON"));
    assert!(e(r#"{"k": [{"numeric": ["<>", 1]}]}"#, attr).contains("numeric range operator"));
    assert!(e(r#"{"k": [{"numeric": [">", "a"]}]}"#, attr).contains("must be numeric"));
    assert!(e(r#"{"k": [{"numeric": [">", 5, "<", 1]}]}"#, attr).contains("Bottom"));
    assert!(e(r#"{"k": [{"exists": "yes"}]}"#, attr).contains("exists"));
    assert!(e(r#"{"k": [[1]]}"#, attr).contains("Match value"));
    assert!(e(r#"{"k": [1e10]}"#, attr).contains("Numeric value"));
    // 6 * 5 * 6 = 180 combinations > 150.
    let many = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
    let p = json!({"a": many(6), "b": many(5), "c": many(6)}).to_string();
    assert!(e(&p, attr).contains("too complex"));
    assert!(e(r#"{"$or": [{"a": ["x"]}]}"#, attr).contains("$or"));
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
        prop_assert_eq!(wildcard(p.as_bytes(), s.as_bytes()), re.is_match(&s));
    }
}

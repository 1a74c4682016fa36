//! Policy document validation: IAM's `MalformedPolicyDocument` messages and size limits, and
//! properties (parsing never panics; parse → serialize → parse is stable).

use proptest::prelude::*;
use serde_json::{Value, json};
use snapstack_policy::{Policy, PolicyError, PolicyKind, Version, statement_positions};

const SYNTAX: &str = "Syntax errors in policy.";

fn err(kind: PolicyKind, doc: &str) -> String {
    match Policy::parse(doc, kind) {
        Ok(_) => panic!("accepted: {doc}"),
        Err(e) => {
            assert_eq!(e.code(), "MalformedPolicyDocument", "{doc}");
            e.message()
        }
    }
}

fn v(doc: Value) -> String {
    doc.to_string()
}

fn stmt(s: Value) -> String {
    v(json!({"Version": "2012-10-17", "Statement": s}))
}

#[test]
fn accepts_the_usual_forms() {
    let ok = [
        stmt(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
        stmt(
            json!([{"Sid": "A1", "Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "arn:aws:s3:::b/*"}]),
        ),
        stmt(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                     "Condition": {"Bool": {"aws:SecureTransport": false}, "NumericLessThan": {"s3:max-keys": 10}}})),
        stmt(
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}/*"}),
        ),
    ];
    for doc in ok {
        Policy::parse(&doc, PolicyKind::Managed).unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
    // Inline policies may omit the version (2008-10-17).
    let p = Policy::parse(
        r#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#,
        PolicyKind::InlineUser,
    )
    .unwrap();
    assert_eq!(p.version, Version::V2008_10_17);
    assert!(!p.variables_enabled());
}

#[test]
fn syntax_errors() {
    let k = PolicyKind::Managed;
    for doc in [
        "not json".to_owned(),
        "[]".into(),
        "{}".into(),
        v(json!({"Version": "2012-10-17"})),
        v(json!({"Version": "2012-10-17", "Statement": []})),
        v(json!({"Version": "2012-10-17", "Statement": "x"})),
        v(
            json!({"Version": "2019-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
        ),
        v(
            json!({"Version": "2012-10-17", "Foo": 1, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
        ),
        stmt(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Extra": 1})),
        stmt(json!({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"})),
        stmt(json!({"Action": "s3:*", "Resource": "*"})),
        stmt(json!({"Effect": "Allow", "Action": 5, "Resource": "*"})),
        stmt(json!({"Effect": "Allow", "Action": ["s3:*", 1], "Resource": "*"})),
        stmt(json!({"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:*", "Resource": "*"})),
        stmt(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "*"})),
        stmt(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": "x"})),
        stmt(
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualz": {"a": "b"}}}),
        ),
        stmt(
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NullIfExists": {"a": "true"}}}),
        ),
        stmt(
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"a": null}}}),
        ),
        stmt(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Sid": 3})),
        v(
            json!({"Version": "2012-10-17", "Id": 3, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),
        ),
    ] {
        assert_eq!(err(k, &doc), SYNTAX, "{doc}");
    }
    // An unknown operator with nothing under it is let through, as IAM does.
    Policy::parse(
        &stmt(json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Whatever": {}}})),
        k,
    )
    .unwrap();
}

#[test]
fn iam_messages() {
    let m = PolicyKind::Managed;
    let no_version = r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#;
    assert_eq!(
        err(m, no_version),
        "Policy document must be version 2012-10-17 or greater."
    );
    let old = r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#;
    assert_eq!(
        err(m, old),
        "Policy document must be version 2012-10-17 or greater."
    );
    let cases = [
        (
            json!({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
            "The policy failed legacy parsing",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}),
            "The policy failed legacy parsing",
        ),
        (
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
            "Policy document should not specify a principal.",
        ),
        (
            json!({"Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "s3:*", "Resource": "*"}),
            "Policy document should not specify a principal.",
        ),
        (
            json!([{"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Sid": "A", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]),
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            json!({"Sid": "not ok", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
        ),
        (
            json!({"Effect": "Allow", "Resource": "*"}),
            "Policy statement must contain actions.",
        ),
        (
            json!({"Effect": "Allow", "Action": [], "Resource": "*"}),
            "Policy statement must contain actions.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*"}),
            "Policy statement must contain resources.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": []}),
            "Policy statement must contain resources.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}),
            "Resource bucket must be in ARN format or \"*\".",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:iam:us-east-1:123456789012:user/x"}),
            "IAM resource arn:aws:iam:us-east-1:123456789012:user/x cannot contain region information.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:us-east-1::b"}),
            "Resource arn:aws:s3:us-east-1::b can not contain region information.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:foo:s3:::b"}),
            "Partition \"foo\" is not valid for resource \"arn:foo:s3:*:*:b\".",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:*:::b"}),
            "Resource vendor must be fully qualified and cannot contain regexes.",
        ),
        (
            json!({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s3:a:b", "Resource": "*"}),
            "Actions/Condition can contain only one colon.",
        ),
        (
            json!({"Effect": "Allow", "Action": "s 3:Get", "Resource": "*"}),
            "Vendor s 3 is not valid",
        ),
    ];
    for (s, message) in cases {
        assert_eq!(err(m, &stmt(s.clone())), message, "{s}");
    }
}

#[test]
fn trust_and_resource_policies() {
    let t = PolicyKind::Trust;
    let ok = stmt(
        json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
    );
    Policy::parse(&ok, t).unwrap();
    let ok = stmt(
        json!({"Effect": "Allow", "Principal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:role/x"]},
                          "Action": ["sts:AssumeRole", "sts:TagSession"]}),
    );
    Policy::parse(&ok, t).unwrap();
    assert_eq!(
        err(
            t,
            &stmt(json!({"Effect": "Allow", "Action": "sts:AssumeRole"}))
        ),
        "Missing required field Principal"
    );
    assert_eq!(
        err(
            t,
            &stmt(
                json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"})
            )
        ),
        "Has prohibited field Resource"
    );
    assert_eq!(
        err(
            t,
            &stmt(json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}))
        ),
        "AssumeRole policy may only specify STS AssumeRole actions."
    );
    assert_eq!(
        err(
            t,
            &stmt(
                json!({"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "sts:AssumeRole"})
            )
        ),
        "Invalid principal in policy: \"AWS\":\"bob\""
    );
    assert_eq!(
        err(
            t,
            &stmt(
                json!({"Effect": "Allow", "Principal": {"Robot": "x"}, "Action": "sts:AssumeRole"})
            )
        ),
        SYNTAX
    );
    let r = PolicyKind::Resource;
    assert_eq!(
        err(
            r,
            &stmt(json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}))
        ),
        "Missing required field Resource"
    );
    // Resource policies may have SIDs with spaces (S3 and SQS accept them).
    Policy::parse(
        &stmt(json!({"Sid": "Public read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})),
        r,
    )
    .unwrap();
}

#[test]
fn size_limits_ignore_white_space() {
    let limits = [
        (
            PolicyKind::Managed,
            6_144,
            "LimitExceeded",
            "Cannot exceed quota for PolicySize: 6144",
        ),
        (
            PolicyKind::InlineUser,
            2_048,
            "LimitExceeded",
            "Maximum policy size of 2048 bytes exceeded for user bob",
        ),
        (
            PolicyKind::InlineGroup,
            5_120,
            "LimitExceeded",
            "Maximum policy size of 5120 bytes exceeded for group bob",
        ),
        (
            PolicyKind::InlineRole,
            10_240,
            "LimitExceeded",
            "Maximum policy size of 10240 bytes exceeded for role bob",
        ),
        (
            PolicyKind::Trust,
            2_048,
            "LimitExceeded",
            "Cannot exceed quota for ACLSizePerRole: 2048",
        ),
    ];
    for (kind, limit, code, message) in limits {
        let base =
            stmt(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::"}));
        // Pad the resource so the document is exactly `limit` characters.
        let pad = limit - base.len();
        let at_limit = base.replace(
            "arn:aws:s3:::",
            &format!("arn:aws:s3:::{}", "x".repeat(pad)),
        );
        assert_eq!(at_limit.len(), limit);
        if kind == PolicyKind::Trust {
            let e = Policy::parse(&format!("{at_limit}x"), kind).unwrap_err();
            assert_eq!((e.code(), e.message_for("bob").as_str()), (code, message));
            continue;
        }
        Policy::parse(&at_limit, kind).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        // White space does not count.
        let spaced = at_limit.replace(",", ",\n      ");
        Policy::parse(&spaced, kind).unwrap();
        let over = at_limit.replace("arn:aws:s3:::", "arn:aws:s3:::y");
        let e = Policy::parse(&over, kind).unwrap_err();
        assert!(matches!(e, PolicyError::TooLarge { .. }));
        assert_eq!((e.code(), e.message_for("bob").as_str()), (code, message));
    }
}

#[test]
fn serialization_round_trips() {
    let doc = v(json!({
        "Version": "2012-10-17",
        "Id": "x",
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject"], "NotResource": "arn:aws:s3:::b/*",
             "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b"]}, "Bool": {"aws:SecureTransport": true}}},
        ]
    }));
    let p = Policy::parse(&doc, PolicyKind::Managed).unwrap();
    let again = Policy::parse(&p.to_json_string(), PolicyKind::Managed).unwrap();
    // Booleans and numbers in conditions come back as their text.
    assert_eq!(again.statements[0].conditions, p.statements[0].conditions);
    assert_eq!(again.to_json_string(), p.to_json_string());
    let resource = stmt(
        json!({"Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333"], "Service": "s.amazonaws.com"},
                                "Action": "*", "Resource": "*"}),
    );
    let p = Policy::parse(&resource, PolicyKind::Resource).unwrap();
    assert_eq!(
        Policy::parse(&p.to_json_string(), PolicyKind::Resource).unwrap(),
        p
    );
}

/// Arbitrary JSON, biased toward policy-shaped documents.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("2012-10-17".to_owned()),
            Just("Allow".to_owned()),
            Just("Deny".to_owned()),
            Just("*".to_owned()),
            Just("s3:GetObject".to_owned()),
            Just("arn:aws:s3:::b/*".to_owned()),
            Just("${aws:username}".to_owned()),
            Just("2020-01-01T00:00:00Z".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("Version".to_owned()),
        Just("Statement".to_owned()),
        Just("Effect".to_owned()),
        Just("Action".to_owned()),
        Just("NotAction".to_owned()),
        Just("Resource".to_owned()),
        Just("Principal".to_owned()),
        Just("AWS".to_owned()),
        Just("Condition".to_owned()),
        Just("StringLike".to_owned()),
        Just("ForAllValues:DateLessThanIfExists".to_owned()),
        Just("Sid".to_owned()),
        "[A-Za-z:]{1,8}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KINDS: [PolicyKind; 7] = [
    PolicyKind::Managed,
    PolicyKind::InlineUser,
    PolicyKind::InlineGroup,
    PolicyKind::InlineRole,
    PolicyKind::Trust,
    PolicyKind::Resource,
    PolicyKind::Session,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_never_panics_and_round_trips(doc in arb_json(), k in 0usize..7) {
        let kind = KINDS[k];
        let _ = statement_positions(&doc.to_string());
        if let Ok(p) = Policy::parse(&doc.to_string(), kind) {
            let spans = statement_positions(&doc.to_string()).map(|s| s.len());
            prop_assert_eq!(spans, Some(p.statements.len()));
            let text = p.to_json_string();
            let again = Policy::parse(&text, kind);
            prop_assert!(again.is_ok(), "{} -> {} -> {:?}", doc, text, again);
            let again = again.unwrap();
            prop_assert_eq!(again.to_json_string(), text);
        }
    }

    #[test]
    fn parsing_never_panics_on_text(text in ".{0,200}") {
        for kind in KINDS {
            let _ = Policy::parse(&text, kind);
        }
        let _ = statement_positions(&text);
    }

    #[test]
    fn valid_statements_round_trip(
        effect in prop_oneof![Just("Allow"), Just("Deny")],
        actions in prop::collection::vec("[a-z0-9]{1,6}:[A-Za-z*?]{1,8}", 1..4),
        resources in prop::collection::vec("arn:aws:(sqs|sns|dynamodb):[a-z0-9*-]{0,10}:[0-9*]{0,12}:[A-Za-z0-9/*?${}:-]{0,16}", 1..4),
        list in any::<bool>(),
        value in "[ -~]{0,12}",
    ) {
        let action = if list { json!(actions) } else { json!(actions[0]) };
        let doc = stmt(json!({"Effect": effect, "Action": action, "Resource": resources,
                              "Condition": {"StringLike": {"aws:UserAgent": value}}}));
        let p = Policy::parse(&doc, PolicyKind::Managed);
        prop_assert!(p.is_ok(), "{} {:?}", doc, p);
        let p = p.unwrap();
        prop_assert_eq!(statement_positions(&doc).map(|s| s.len()), Some(1));
        let again = Policy::parse(&p.to_json_string(), PolicyKind::Managed).unwrap();
        prop_assert_eq!(again, p);
    }
}

#[test]
fn condition_keys_read_are_found_by_prefix() {
    let p = Policy::parse(
        &stmt(json!([
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEquals": {"AWS:ResourceTag/Team": "a"}}}
        ])),
        PolicyKind::Managed,
    )
    .unwrap();
    assert!(p.reads_key_prefix("aws:resourcetag/"));
    assert!(!p.reads_key_prefix("aws:requesttag/"));
    let plain = Policy::parse(
        &stmt(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])),
        PolicyKind::Managed,
    )
    .unwrap();
    assert!(!plain.reads_key_prefix("aws:resourcetag/"));
}

//! The decision and its reasons, on parsed policies.

use super::*;
use principal::Principal;

fn policy(text: &str, kind: PolicyKind) -> Policy {
    Policy::parse(text, kind).unwrap()
}

fn user(identity: &[&str]) -> Principal {
    let arn = "arn:aws:iam::000000000000:user/alice";
    Principal {
        arn: arn.into(),
        account: "000000000000".into(),
        user_id: "AIDA".into(),
        caller: Caller::aws(arn),
        root: false,
        identity: identity
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), policy(t, PolicyKind::InlineUser)))
            .collect(),
        boundary: None,
        session: Vec::new(),
        tags: Vec::new(),
    }
}

fn req(p: &Principal, action: &str, resource: &str) -> Request {
    let mut r = Request::new(p.caller.clone(), action, resource);
    r.resource_account = Some("000000000000".into());
    r
}

const GET_PREFIX: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/*"}]}"#;

#[test]
fn identity_policies_allow_and_deny() {
    let p = user(&[GET_PREFIX]);
    assert_eq!(
        decide(
            &req(&p, "s3:GetObject", "arn:aws:s3:::b/public/x"),
            Some(&p),
            None,
            false
        ),
        None
    );
    assert_eq!(
        decide(
            &req(&p, "s3:GetObject", "arn:aws:s3:::b/private/x"),
            Some(&p),
            None,
            false
        ),
        Some(Reason::NoAllow(Source::Identity))
    );
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;
    let p = user(&[GET_PREFIX, deny]);
    assert_eq!(
        decide(
            &req(&p, "s3:GetObject", "arn:aws:s3:::b/public/x"),
            Some(&p),
            None,
            false
        ),
        Some(Reason::ExplicitDeny(Source::Identity))
    );
}

#[test]
fn session_policies_narrow_and_resource_policies_grant() {
    let all =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let mut p = user(&[all]);
    p.session = vec![("s".into(), policy(GET_PREFIX, PolicyKind::Session))];
    assert_eq!(
        decide(
            &req(&p, "s3:PutObject", "arn:aws:s3:::b/public/x"),
            Some(&p),
            None,
            false
        ),
        Some(Reason::NoAllow(Source::Session))
    );
    let p = user(&[]);
    let bucket = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        PolicyKind::Resource,
    );
    assert_eq!(
        decide(
            &req(&p, "s3:GetObject", "arn:aws:s3:::b/x"),
            Some(&p),
            Some(&bucket),
            false
        ),
        None
    );
}

#[test]
fn key_policies_must_grant_or_delegate() {
    let kms_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    let p = user(&[kms_all]);
    let key = "arn:aws:kms:us-east-1:000000000000:key/k";
    let delegating = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#,
        PolicyKind::Resource,
    );
    assert_eq!(
        decide(
            &req(&p, "kms:Encrypt", key),
            Some(&p),
            Some(&delegating),
            true
        ),
        None
    );
    let other = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"kms:*","Resource":"*"}]}"#,
        PolicyKind::Resource,
    );
    assert_eq!(
        decide(&req(&p, "kms:Encrypt", key), Some(&p), Some(&other), true),
        Some(Reason::NoAllow(Source::Resource))
    );
}

#[test]
fn anonymous_needs_a_resource_policy() {
    let r = Request::new(Caller::Anonymous, "s3:GetObject", "arn:aws:s3:::b/x");
    assert_eq!(
        decide(&r, None, None, false),
        Some(Reason::NoAllow(Source::Identity))
    );
    let public = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        PolicyKind::Resource,
    );
    assert_eq!(decide(&r, None, Some(&public), false), None);
}

#[test]
fn a_bucket_is_decided_once_only_when_its_keys_cannot_differ() {
    assert_eq!(
        s3_object_prefix("arn:aws:s3:::b/public/x"),
        Some("arn:aws:s3:::b/")
    );
    assert_eq!(s3_object_prefix("arn:aws:s3:::b"), None);
    assert_eq!(s3_object_prefix("arn:aws:sqs:us-east-1:1:q/x"), None);
    let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::b/*","arn:aws:s3:::other"]}]}"#;
    let deny_other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::b*"}]}"#;
    assert!(alike_under(
        &user(&[all, deny_other]),
        None,
        "arn:aws:s3:::b/"
    ));
    // A pattern under the bucket tells keys apart: every key is its own question.
    assert!(!alike_under(&user(&[GET_PREFIX]), None, "arn:aws:s3:::b/"));
    // So does the bucket's own policy.
    let bucket = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret"}]}"#,
        PolicyKind::Resource,
    );
    assert!(!alike_under(
        &user(&[all]),
        Some(&bucket),
        "arn:aws:s3:::b/"
    ));
    // Policy variables can name a key.
    let home = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#;
    assert!(!alike_under(&user(&[home]), None, "arn:aws:s3:::b/"));
}

#[test]
fn cbor_bodies_name_their_resources_as_json_ones_do() {
    let model = snapstack_protocol::model::named("kinesis").expect("embedded");
    let parts = |content_type: &str| {
        let (parts, ()) = axum::http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", content_type)
            .body(())
            .unwrap()
            .into_parts();
        parts
    };
    let input = serde_json::json!({"StreamName": "orders", "Limit": 5});
    let mut cbor = Vec::new();
    snapstack_protocol::codec::cbor::encode::generic(&mut cbor, &input);
    for (content_type, body) in [
        ("application/x-amz-cbor-1.1", cbor.clone()),
        // The content type's case does not matter (as Kinesis reads it).
        ("application/X-Amz-CBOR-1.1", cbor.clone()),
        ("application/x-amz-json-1.1", input.to_string().into_bytes()),
    ] {
        let fields = body_fields(model, Some("GetRecords"), &parts(content_type), &body);
        assert_eq!(
            fields.get("StreamName"),
            Some(&Value::String("orders".into())),
            "{content_type}"
        );
        // Only what enforcement reads.
        assert!(!fields.contains_key("Limit"), "{content_type}");
    }
    // A body that does not decode names nothing (the service refuses it).
    assert!(
        body_fields(
            model,
            Some("GetRecords"),
            &parts("application/x-amz-cbor-1.1"),
            &[0xff, 0x00]
        )
        .is_empty()
    );
}

//! Unit tests of the operations and of their wire form through the query codec.

use serde_json::{Value, json};
use snapstack_protocol::codec::query::{parse_input, serialize_output};
use snapstack_protocol::request::parse_authorization;
use snapstack_service::RequestContext;

use crate::model::{self, StsRecord};
use crate::{Answer, Sts};

const NOW: u64 = 1_700_000_000_000;

fn ctx(key: &str) -> RequestContext {
    RequestContext::from_scope(parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-west-2/sts/aws4_request"
    )))
}

fn call(
    sts: &Sts,
    key: &str,
    op: &str,
    input: Value,
) -> Result<Answer, snapstack_protocol::errors::AwsError> {
    sts.handle_at(&ctx(key), op, &input, NOW)
}

fn ok(sts: &Sts, key: &str, op: &str, input: Value) -> Value {
    call(sts, key, op, input).unwrap().output
}

fn err(sts: &Sts, key: &str, op: &str, input: Value) -> (String, String) {
    let e = call(sts, key, op, input).unwrap_err();
    (e.code, e.message)
}

fn assume(sts: &Sts, key: &str, role: &str, session: &str) -> Value {
    ok(
        sts,
        key,
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": session}),
    )
}

fn key_of(out: &Value) -> String {
    out["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn caller_identity_names_the_account() {
    let sts = Sts::new();
    let out = ok(&sts, "111122223333", "GetCallerIdentity", json!({}));
    assert_eq!(
        out,
        json!({"UserId": "111122223333", "Account": "111122223333", "Arn": "arn:aws:iam::111122223333:root"})
    );
    let a = call(&sts, "111122223333", "GetCallerIdentity", json!({})).unwrap();
    assert_eq!(a.write_version, None);
    let out = ok(&sts, "test", "GetCallerIdentity", json!({}));
    assert_eq!(out["Arn"], "arn:aws:iam::000000000000:root");
}

#[test]
fn assumed_role_credentials_are_the_role_session() {
    let sts = Sts::new();
    let role = "arn:aws:iam::123456789012:role/path/Deployer";
    let out = assume(&sts, "test", role, "ci-run");
    let key = key_of(&out);
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(out["Credentials"]["Expiration"], json!(NOW / 1000 + 3600));
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/Deployer/ci-run"
    );
    let id = out["AssumedRoleUser"]["AssumedRoleId"].as_str().unwrap();
    assert!(id.starts_with("AROA") && id.ends_with(":ci-run"), "{id}");
    assert!(out.get("PackedPolicySize").is_none());
    let again = assume(&sts, "test", role, "other");
    assert_eq!(
        again["AssumedRoleUser"]["AssumedRoleId"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        id.split(':').next(),
        "one role, one role id"
    );

    let who = ok(&sts, &key, "GetCallerIdentity", json!({}));
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::123456789012:assumed-role/Deployer/ci-run"
    );
    assert_eq!(who["UserId"], id);
    assert_eq!(who["Account"], "123456789012");
    let info = ok(
        &sts,
        "test",
        "GetAccessKeyInfo",
        json!({"AccessKeyId": key}),
    );
    assert_eq!(info["Account"], "123456789012");
}

#[test]
fn sessions_keep_their_scope_for_enforcement() {
    let sts = Sts::new();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let out = ok(
        &sts,
        "test",
        "AssumeRole",
        json!({"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1",
               "Policy": policy, "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}),
    );
    let key = key_of(&out);
    let r = sts.resolve_credentials(&json!({"AccessKeyId": key}));
    assert_eq!(r["Found"], true);
    assert_eq!(r["Kind"], "assumed-role");
    assert_eq!(r["SourceArn"], "arn:aws:iam::123456789012:role/r");
    assert_eq!(r["Policy"], policy);
    assert_eq!(
        r["PolicyArns"],
        json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    );
    assert_eq!(r["SecretAccessKey"], out["Credentials"]["SecretAccessKey"]);
    let v = r["Version"].as_u64().unwrap();
    assert_eq!(
        sts.resolve_credentials(&json!({"AccessKeyId": key, "KnownVersion": v}))["Unchanged"],
        true
    );
    let s = ok(&sts, "AKIAUSERKEY000000000", "GetSessionToken", json!({}));
    let r = sts.resolve_credentials(&json!({"AccessKeyId": key_of(&s)}));
    assert_eq!(r["Kind"], "session");
    assert_eq!(r["SourceArn"], "accesskey/AKIAUSERKEY000000000");
    assert_eq!(
        sts.resolve_credentials(&json!({"AccessKeyId": "ASIANOPE"}))["Found"],
        false
    );
}

#[test]
fn expired_credentials_stop_resolving_and_are_swept() {
    let sts = Sts::new();
    let out = ok(
        &sts,
        "test",
        "AssumeRole",
        json!({"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1", "DurationSeconds": 900}),
    );
    let key = key_of(&out);
    let later = NOW + 900_000;
    let who = sts
        .handle_at(&ctx(&key), "GetCallerIdentity", &json!({}), later - 1000)
        .unwrap();
    assert_eq!(who.output["Account"], "123456789012");
    let who = sts
        .handle_at(&ctx(&key), "GetCallerIdentity", &json!({}), later)
        .unwrap();
    assert_eq!(who.output["Arn"], "arn:aws:iam::000000000000:root");
    // The key still names its account (it is encoded in the id).
    let info = sts
        .handle_at(
            &ctx("test"),
            "GetAccessKeyInfo",
            &json!({"AccessKeyId": key}),
            later,
        )
        .unwrap();
    assert_eq!(info.output["Account"], "123456789012");
    // The credentials, their expiry index entry and their session scope.
    assert_eq!(sts.store.snapshot().len(), 3);
    // The next issuance drops the expired record, its index entry and its scope.
    sts.handle_at(&ctx("test"), "GetSessionToken", &json!({}), later)
        .unwrap();
    let snap = sts.store.snapshot();
    assert_eq!(snap.len(), 3);
    assert!(snap.get(&model::credentials_key(&key)).is_none());
    assert!(snap.get(&model::scope_key(&key)).is_none());
}

#[test]
fn default_durations_and_identities_per_operation() {
    let sts = Sts::new();
    let out = ok(&sts, "111122223333", "GetSessionToken", json!({}));
    assert_eq!(out["Credentials"]["Expiration"], json!(NOW / 1000 + 43_200));
    let who = ok(&sts, &key_of(&out), "GetCallerIdentity", json!({}));
    assert_eq!(who["Arn"], "arn:aws:iam::111122223333:root");
    assert_eq!(who["UserId"], "111122223333");

    let out = ok(
        &sts,
        "111122223333",
        "GetFederationToken",
        json!({"Name": "bob", "Policy": "{\"Version\": \"2012-10-17\"}"}),
    );
    assert_eq!(out["Credentials"]["Expiration"], json!(NOW / 1000 + 43_200));
    assert_eq!(
        out["FederatedUser"]["Arn"],
        "arn:aws:sts::111122223333:federated-user/bob"
    );
    assert_eq!(out["FederatedUser"]["FederatedUserId"], "111122223333:bob");
    assert!(out["PackedPolicySize"].as_u64().unwrap() >= 1);
    let who = ok(&sts, &key_of(&out), "GetCallerIdentity", json!({}));
    assert_eq!(who["Arn"], "arn:aws:sts::111122223333:federated-user/bob");

    let out = ok(
        &sts,
        "111122223333",
        "AssumeRoot",
        json!({"TargetPrincipal": "444455556666", "TaskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}}),
    );
    assert_eq!(out["Credentials"]["Expiration"], json!(NOW / 1000 + 900));
    let who = ok(&sts, &key_of(&out), "GetCallerIdentity", json!({}));
    assert_eq!(who["Arn"], "arn:aws:iam::444455556666:root");
    assert_eq!(who["Account"], "444455556666");
    assert_eq!(
        err(
            &sts,
            "1",
            "AssumeRoot",
            json!({"TargetPrincipal": "444455556666", "TaskPolicyArn": {}})
        )
        .0,
        "ValidationError"
    );
    assert_eq!(
        err(&sts, "1", "AssumeRoot", json!({"TargetPrincipal": "not-an-account", "TaskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/x"}})).0,
        "ValidationError"
    );

    // Session credentials cannot get session or federation tokens.
    let (code, msg) = err(&sts, &key_of(&out), "GetSessionToken", json!({}));
    assert_eq!(
        (code.as_str(), msg.as_str()),
        (
            "AccessDenied",
            "Cannot call GetSessionToken with session credentials"
        )
    );
    let (code, _) = err(
        &sts,
        &key_of(&out),
        "GetFederationToken",
        json!({"Name": "bob"}),
    );
    assert_eq!(code, "AccessDenied");
}

#[test]
fn validation_is_aws_worded() {
    let sts = Sts::new();
    let role = "arn:aws:iam::123456789012:role/r";
    let (code, msg) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "bad name"}),
    );
    assert_eq!(code, "ValidationError");
    assert_eq!(
        msg,
        "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    );
    let (_, msg) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "s", "DurationSeconds": 100}),
    );
    assert_eq!(
        msg,
        "2 validation errors detected: Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900; Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
    );
    let (_, msg) = err(&sts, "t", "AssumeRole", json!({}));
    assert!(
        msg.starts_with("2 validation errors detected: Value null at 'roleArn'"),
        "{msg}"
    );
    let (_, msg) = err(
        &sts,
        "t",
        "GetSessionToken",
        json!({"DurationSeconds": 129_601}),
    );
    assert!(
        msg.ends_with("Member must have value less than or equal to 129600"),
        "{msg}"
    );
    let (_, msg) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": "not-an-arn-but-long-enough", "RoleSessionName": "ok"}),
    );
    assert_eq!(msg, "not-an-arn-but-long-enough is invalid");
    let (_, msg) = err(
        &sts,
        "t",
        "GetAccessKeyInfo",
        json!({"AccessKeyId": "ASIA-1234567890123"}),
    );
    assert!(
        msg.contains("at 'accessKeyId'") && msg.contains("pattern: [\\w]*"),
        "{msg}"
    );
    let (code, _) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "ok", "Policy": "{not json"}),
    );
    assert_eq!(code, "MalformedPolicyDocument");
    let (_, msg) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "ok", "Tags": [{"Key": "a*", "Value": "v"}]}),
    );
    assert!(msg.contains("at 'tags.1.member.key'"), "{msg}");
}

#[test]
fn session_tags_and_role_chaining() {
    let sts = Sts::new();
    let role = "arn:aws:iam::123456789012:role/r";
    let (code, msg) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "ok", "Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]}),
    );
    assert_eq!(code, "InvalidParameterValue");
    assert!(msg.starts_with("Duplicate tag keys found"), "{msg}");
    let (code, _) = err(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "ok", "Tags": [{"Key": "Team", "Value": "a"}], "TransitiveTagKeys": ["Other"]}),
    );
    assert_eq!(code, "InvalidParameterValue");
    let first = ok(
        &sts,
        "t",
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "ok", "Tags": [{"Key": "Team", "Value": "a"}], "TransitiveTagKeys": ["Team"]}),
    );
    assert!(first["PackedPolicySize"].as_u64().is_some());
    let k = key_of(&first);
    // Chained: at most an hour, the transitive tag carried and not overridable.
    let (code, msg) = err(
        &sts,
        &k,
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "two", "DurationSeconds": 7200}),
    );
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("role chaining"), "{msg}");
    let (code, _) = err(
        &sts,
        &k,
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "two", "Tags": [{"Key": "team", "Value": "z"}]}),
    );
    assert_eq!(code, "InvalidParameterValue");
    let second = ok(
        &sts,
        &k,
        "AssumeRole",
        json!({"RoleArn": role, "RoleSessionName": "two"}),
    );
    match sts
        .store
        .snapshot()
        .get(&model::credentials_key(&key_of(&second)))
    {
        Some(StsRecord::Credentials(c)) => {
            assert_eq!(c.tags, vec![("Team".to_string(), "a".to_string())]);
            assert_eq!(c.transitive_tag_keys, vec!["team".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn federated_sign_ins() {
    let sts = Sts::new();
    let out = ok(
        &sts,
        "t",
        "AssumeRoleWithSAML",
        json!({
            "RoleArn": "arn:aws:iam::111122223333:role/r",
            "PrincipalArn": "arn:aws:iam::111122223333:saml-provider/idp",
            "SAMLAssertion": crate::federation::saml_fixture("alice", Some(1800)),
        }),
    );
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::111122223333:assumed-role/r/alice"
    );
    assert_eq!(out["Credentials"]["Expiration"], json!(NOW / 1000 + 1800));
    assert_eq!(out["Subject"], "user&1");
    assert_eq!(out["SubjectType"], "persistent");
    assert_eq!(out["Issuer"], "https://idp.example.com/saml");
    assert_eq!(out["Audience"], "https://signin.aws.amazon.com/saml");
    assert_eq!(out["NameQualifier"].as_str().unwrap().len(), 28);
    let (code, _) = err(
        &sts,
        "t",
        "AssumeRoleWithSAML",
        json!({"RoleArn": "arn:aws:iam::111122223333:role/r", "PrincipalArn": "arn:aws:iam::111122223333:saml-provider/idp", "SAMLAssertion": "garbage"}),
    );
    assert_eq!(code, "ValidationError");

    use base64::Engine as _;
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.sig",
        e("{}"),
        e(r#"{"sub":"user-123","iss":"https://oidc.example.com","aud":"client"}"#)
    );
    let out = ok(
        &sts,
        "t",
        "AssumeRoleWithWebIdentity",
        json!({"RoleArn": "arn:aws:iam::111122223333:role/web", "RoleSessionName": "ww", "WebIdentityToken": token}),
    );
    assert_eq!(out["SubjectFromWebIdentityToken"], "user-123");
    assert_eq!(out["Provider"], "https://oidc.example.com");
    assert_eq!(out["Audience"], "client");
    let who = ok(&sts, &key_of(&out), "GetCallerIdentity", json!({}));
    assert_eq!(who["Arn"], "arn:aws:sts::111122223333:assumed-role/web/ww");
    let out = ok(
        &sts,
        "t",
        "AssumeRoleWithWebIdentity",
        json!({"RoleArn": "arn:aws:iam::111122223333:role/web", "RoleSessionName": "ww", "WebIdentityToken": "opaque", "ProviderId": "www.amazon.com"}),
    );
    assert_eq!(out["Provider"], "www.amazon.com");
    assert!(out.get("SubjectFromWebIdentityToken").is_none());
}

#[test]
fn access_key_info_decode_and_unimplemented() {
    let sts = Sts::new();
    let out = ok(
        &sts,
        "t",
        "GetAccessKeyInfo",
        json!({"AccessKeyId": "ASIAY34FZKBOKMUTVV7A"}),
    );
    assert_eq!(out["Account"], "609629065308");
    let out = ok(
        &sts,
        "111122223333",
        "GetAccessKeyInfo",
        json!({"AccessKeyId": "some_local_key_id"}),
    );
    assert_eq!(out["Account"], "111122223333");
    let out = ok(
        &sts,
        "t",
        "DecodeAuthorizationMessage",
        json!({"EncodedMessage": "opaque-message"}),
    );
    assert_eq!(out["DecodedMessage"], "opaque-message");
    let out = ok(
        &sts,
        "t",
        "DecodeAuthorizationMessage",
        json!({"EncodedMessage": "eyJhbGxvd2VkIjpmYWxzZX0="}),
    );
    assert_eq!(out["DecodedMessage"], "{\"allowed\":false}");
    assert_eq!(err(&sts, "t", "Nope", json!({})).0, "InvalidAction");
    // Without IAM's outbound federation (the service asks IAM), the feature is off.
    let e = call(
        &sts,
        "t",
        "GetWebIdentityToken",
        json!({"Audience": ["a"], "SigningAlgorithm": "RS256"}),
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.status.as_u16()),
        ("OutboundWebIdentityFederationDisabledException", 403)
    );
}

#[test]
fn the_wire_through_the_query_codec() {
    let model = snapstack_protocol::model::named("sts").unwrap();
    let params: Vec<(String, String)> = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/r"),
        ("RoleSessionName", "wire"),
        ("DurationSeconds", "900"),
        ("Tags.member.1.Key", "k"),
        ("Tags.member.1.Value", "v"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let input = parse_input(model, "AssumeRole", &params).unwrap();
    assert_eq!(input["Tags"], json!([{"Key": "k", "Value": "v"}]));
    let sts = Sts::new();
    let a = sts.handle_at(&ctx("t"), "AssumeRole", &input, NOW).unwrap();
    assert!(a.write_version.is_some());
    let xml = serialize_output(model, "AssumeRole", &a.output, "rid");
    assert!(xml.starts_with("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"), "{xml}");
    assert!(
        xml.contains("<Arn>arn:aws:sts::123456789012:assumed-role/r/wire</Arn>"),
        "{xml}"
    );
    assert!(
        xml.contains("<Expiration>2023-11-14T22:28:20.000Z</Expiration>"),
        "{xml}"
    );
    assert!(xml.contains("<PackedPolicySize>"), "{xml}");
}

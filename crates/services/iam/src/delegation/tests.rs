//! The delegation request's state machine, its permissions and its follow-ups.

use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::request::parse_authorization;
use snapstack_service::RequestContext;

use super::*;
use crate::{Answer, Iam};

const NOW: u64 = 1_700_000_000_000;
const PARTNER: &str = "111111111111";
const CUSTOMER: &str = "222222222222";
const OTHER: &str = "333333333333";
const TOPIC: &str = "arn:aws:sns:us-east-1:111111111111:delegations";
const TEMPLATE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::@{bucketName}/*"}]}"#;

fn ctx(key: &str) -> RequestContext {
    RequestContext::from_scope(parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/iam/aws4_request"
    )))
}

fn at(iam: &Iam, key: &str, now: u64, op: &str, input: Value) -> Result<Answer, AwsError> {
    iam.handle_at(&ctx(key), op, &input, now)
}

fn ok(iam: &Iam, key: &str, op: &str, input: Value) -> Answer {
    at(iam, key, NOW, op, input).unwrap_or_else(|e| panic!("{op}: {} {}", e.code, e.message))
}

fn code(r: Result<Answer, AwsError>) -> (String, u16) {
    let e = r.expect_err("an error");
    (e.code, e.status.as_u16())
}

/// The partner's template policy and a request for `bucket`.
fn setup(iam: &Iam, workflow: &str, owner: Option<&str>) -> String {
    let _ = at(
        iam,
        PARTNER,
        NOW,
        "CreatePolicy",
        json!({"PolicyName": "S3Template", "PolicyDocument": TEMPLATE}),
    );
    let mut input = json!({
        "Description": "Deploy the agent",
        "Permissions": {
            "PolicyTemplateArn": format!("arn:aws:iam::{PARTNER}:policy/S3Template"),
            "Parameters": [{"Name": "bucketName", "Values": ["customer-data"], "Type": "string"}],
        },
        "RequestorWorkflowId": workflow,
        "NotificationChannel": TOPIC,
        "SessionDuration": 3600,
    });
    if let Some(o) = owner {
        input["OwnerAccountId"] = json!(o);
    }
    let a = ok(iam, PARTNER, "CreateDelegationRequest", input);
    assert!(a.followups.is_empty());
    let id = a.output["DelegationRequestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(a.output["ConsoleDeepLink"].as_str().unwrap().ends_with(&id));
    id
}

fn get(iam: &Iam, key: &str, now: u64, id: &str) -> Result<Value, AwsError> {
    at(
        iam,
        key,
        now,
        "GetDelegationRequest",
        json!({"DelegationRequestId": id}),
    )
    .map(|a| a.output["DelegationRequest"].clone())
}

fn states(f: &[Followup]) -> Vec<String> {
    f.iter()
        .filter_map(|f| match f {
            Followup::Notify { topic, message } => {
                assert_eq!(topic, TOPIC);
                let m: Value = serde_json::from_str(message).unwrap();
                Some(m["State"].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_request_moves_through_aws_lifecycle_and_issues_its_token() {
    let iam = Iam::new();
    let id = setup(&iam, "wf-00001", None);
    let r = get(&iam, PARTNER, NOW, &id).unwrap();
    assert_eq!(r["State"], "UNASSIGNED");
    assert_eq!(r["RequestorId"], PARTNER);
    let policy: Value = serde_json::from_str(r["PermissionPolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy,
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::customer-data/*"}]})
    );
    // Unassigned for a day.
    assert_eq!(r["ExpirationTime"], util::date(NOW + UNASSIGNED_TTL_MS));
    // Any account may read and associate an untargeted request.
    assert!(get(&iam, OTHER, NOW, &id).is_ok());
    let a = ok(
        &iam,
        CUSTOMER,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(states(&a.followups), ["ASSIGNED"]);
    let r = get(&iam, CUSTOMER, NOW, &id).unwrap();
    assert_eq!(r["State"], "ASSIGNED");
    assert_eq!(r["OwnerAccountId"], CUSTOMER);
    assert_eq!(r["OwnerId"], format!("arn:aws:iam::{CUSTOMER}:root"));
    // Owned: other accounts no longer see it; the partner still does.
    let e = get(&iam, OTHER, NOW, &id).unwrap_err();
    assert_eq!((e.code.as_str(), e.status.as_u16()), ("NoSuchEntity", 404));
    assert!(get(&iam, PARTNER, NOW, &id).is_ok());
    // Only the owner account may move it on.
    let e = at(
        &iam,
        OTHER,
        NOW,
        "AcceptDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(code(e).0, "NoSuchEntity");
    // Forwarded for approval, then accepted.
    let a = ok(
        &iam,
        CUSTOMER,
        "UpdateDelegationRequest",
        json!({"DelegationRequestId": id, "Notes": "please approve"}),
    );
    assert_eq!(states(&a.followups), ["PENDING_APPROVAL"]);
    let a = ok(
        &iam,
        CUSTOMER,
        "AcceptDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(states(&a.followups), ["ACCEPTED"]);
    let r = get(&iam, CUSTOMER, NOW, &id).unwrap();
    assert_eq!(r["State"], "ACCEPTED");
    assert_eq!(r["Notes"], "please approve");
    assert_eq!(r["ApproverId"], format!("arn:aws:iam::{CUSTOMER}:root"));
    // Accepting twice is a conflict; associating again is refused.
    let e = at(
        &iam,
        CUSTOMER,
        NOW,
        "AcceptDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(code(e), ("ConcurrentModification".into(), 409));
    let e = at(
        &iam,
        CUSTOMER,
        NOW,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(code(e), ("InvalidInput".into(), 400));
    // The token: registered with STS for the customer's root, then sent to the partner.
    let a = ok(
        &iam,
        CUSTOMER,
        "SendDelegationToken",
        json!({"DelegationRequestId": id}),
    );
    let [
        Followup::IssueToken { account, input },
        Followup::Notify { message, .. },
    ] = a.followups.as_slice()
    else {
        panic!("{:?}", a.followups);
    };
    assert_eq!(account, CUSTOMER);
    assert_eq!(
        input["PrincipalArn"],
        format!("arn:aws:iam::{CUSTOMER}:root")
    );
    assert_eq!(input["Kind"], "session");
    assert_eq!(input["RedeemerAccount"], PARTNER);
    assert_eq!(input["ExpiresAtMs"], NOW + 3_600_000);
    assert!(input["Policy"].as_str().unwrap().contains("customer-data"));
    let m: Value = serde_json::from_str(message).unwrap();
    assert_eq!(m["State"], "FINALIZED");
    assert_eq!(m["ExchangeToken"], input["TradeInToken"]);
    assert_eq!(m["RequestorWorkflowId"], "wf-00001");
    // Finalized is final.
    let r = get(&iam, CUSTOMER, NOW, &id).unwrap();
    assert_eq!(r["State"], "FINALIZED");
    for op in [
        "RejectDelegationRequest",
        "SendDelegationToken",
        "UpdateDelegationRequest",
    ] {
        let e = at(&iam, CUSTOMER, NOW, op, json!({"DelegationRequestId": id}));
        assert_eq!(code(e).0, "InvalidInput", "{op}");
    }
    // Listed for its owner account only.
    let l = ok(&iam, CUSTOMER, "ListDelegationRequests", json!({})).output;
    assert_eq!(l["DelegationRequests"].as_array().unwrap().len(), 1);
    assert_eq!(l["isTruncated"], false);
    let l = ok(&iam, OTHER, "ListDelegationRequests", json!({})).output;
    assert!(l["DelegationRequests"].as_array().unwrap().is_empty());
    let l = ok(
        &iam,
        CUSTOMER,
        "ListDelegationRequests",
        json!({"OwnerId": "arn:aws:iam::222222222222:user/nobody"}),
    )
    .output;
    assert!(l["DelegationRequests"].as_array().unwrap().is_empty());
}

#[test]
fn targeted_requests_rejections_and_owner_only_sends() {
    let iam = Iam::new();
    let id = setup(&iam, "wf-00002", Some(CUSTOMER));
    // Targeted: only the target account reads or associates it.
    assert_eq!(
        code(at(
            &iam,
            OTHER,
            NOW,
            "AssociateDelegationRequest",
            json!({"DelegationRequestId": id})
        ))
        .0,
        "NoSuchEntity"
    );
    // An unassigned request cannot be accepted.
    assert_eq!(
        code(at(
            &iam,
            CUSTOMER,
            NOW,
            "AcceptDelegationRequest",
            json!({"DelegationRequestId": id})
        ))
        .0,
        "ConcurrentModification"
    );
    ok(
        &iam,
        CUSTOMER,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    ok(
        &iam,
        CUSTOMER,
        "AcceptDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    // An accepted request may still be rejected, before its token is sent.
    let a = ok(
        &iam,
        CUSTOMER,
        "RejectDelegationRequest",
        json!({"DelegationRequestId": id, "Notes": "not now"}),
    );
    assert_eq!(states(&a.followups), ["REJECTED"]);
    let r = get(&iam, CUSTOMER, NOW, &id).unwrap();
    assert_eq!(
        (r["State"].as_str(), r["RejectionReason"].as_str()),
        (Some("REJECTED"), Some("not now"))
    );
    assert_eq!(
        code(at(
            &iam,
            CUSTOMER,
            NOW,
            "SendDelegationToken",
            json!({"DelegationRequestId": id})
        ))
        .0,
        "InvalidInput"
    );
    // The workflow id is unique per partner.
    let e = at(
        &iam,
        PARTNER,
        NOW,
        "CreateDelegationRequest",
        json!({"Description": "d", "Permissions": {"PolicyTemplateArn": format!("arn:aws:iam::{PARTNER}:policy/S3Template"),
            "Parameters": [{"Name": "bucketName", "Values": ["b"], "Type": "string"}]},
            "RequestorWorkflowId": "wf-00002", "NotificationChannel": TOPIC, "SessionDuration": 900}),
    );
    assert_eq!(code(e), ("EntityAlreadyExists".into(), 409));

    // OnlySendByOwner: the user who associated it must send it.
    let iam = Iam::new();
    let _ = setup(&iam, "wf-template", None);
    let a = ok(
        &iam,
        PARTNER,
        "CreateDelegationRequest",
        json!({"Description": "d", "Permissions": {"PolicyTemplateArn": format!("arn:aws:iam::{PARTNER}:policy/S3Template"),
            "Parameters": [{"Name": "bucketName", "Values": ["b"], "Type": "string"}]},
            "RequestorWorkflowId": "wf-00003", "NotificationChannel": TOPIC, "SessionDuration": 900,
            "OnlySendByOwner": true}),
    );
    let id = a.output["DelegationRequestId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&iam, CUSTOMER, "CreateUser", json!({"UserName": "dev"}));
    let key = ok(
        &iam,
        CUSTOMER,
        "CreateAccessKey",
        json!({"UserName": "dev"}),
    )
    .output["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &iam,
        &key,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    let r = get(&iam, CUSTOMER, NOW, &id).unwrap();
    assert_eq!(r["OwnerId"], format!("arn:aws:iam::{CUSTOMER}:user/dev"));
    // The admin (the root) approves; only the owner sends.
    ok(
        &iam,
        CUSTOMER,
        "AcceptDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(
        code(at(
            &iam,
            CUSTOMER,
            NOW,
            "SendDelegationToken",
            json!({"DelegationRequestId": id})
        )),
        ("AccessDenied".into(), 403)
    );
    let a = ok(
        &iam,
        &key,
        "SendDelegationToken",
        json!({"DelegationRequestId": id}),
    );
    let Followup::IssueToken { input, .. } = &a.followups[0] else {
        panic!();
    };
    // The approver's identity is the one delegated: the root, scoped by the policy.
    assert_eq!(
        input["PrincipalArn"],
        format!("arn:aws:iam::{CUSTOMER}:root")
    );
    assert!(input.get("SourceArn").is_none());
}

#[test]
fn deadlines_expire_requests_across_time_and_the_sweep_removes_them() {
    let iam = Iam::new();
    let id = setup(&iam, "wf-00004", None);
    // A day later the unassigned request reads as expired and cannot be associated.
    let later = NOW + UNASSIGNED_TTL_MS;
    assert_eq!(
        get(&iam, PARTNER, later - 1000, &id).unwrap()["State"],
        "UNASSIGNED"
    );
    assert_eq!(get(&iam, PARTNER, later, &id).unwrap()["State"], "EXPIRED");
    let e = at(
        &iam,
        CUSTOMER,
        later,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert_eq!(code(e).0, "InvalidInput");
    // The sweep records it (and tells the partner), then removes it after retention.
    assert!(iam.sweep_delegations(later - 1000).is_empty());
    assert_eq!(states(&iam.sweep_delegations(later)), ["EXPIRED"]);
    assert!(iam.sweep_delegations(later + 1000).is_empty());
    assert_eq!(
        get(&iam, PARTNER, later + 1000, &id).unwrap()["State"],
        "EXPIRED"
    );
    let v = iam.store.version();
    iam.sweep_delegations(later + RETENTION_MS);
    assert_ne!(iam.store.version(), v);
    assert_eq!(
        code(at(
            &iam,
            PARTNER,
            later + RETENTION_MS,
            "GetDelegationRequest",
            json!({"DelegationRequestId": id})
        ))
        .0,
        "NoSuchEntity"
    );
    // Each state change restarts the 7-day deadline.
    let id = setup(&iam, "wf-00005", None);
    at(
        &iam,
        CUSTOMER,
        NOW + 5000,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    )
    .unwrap();
    let r = get(&iam, CUSTOMER, NOW + 5000, &id).unwrap();
    assert_eq!(r["ExpirationTime"], util::date(NOW + 5000 + STATE_TTL_MS));
}

#[test]
fn permissions_are_checked_as_iam_does() {
    let iam = Iam::new();
    let _ = setup(&iam, "wf-00006", None);
    let base = json!({"Description": "d", "RequestorWorkflowId": "wf-00007",
        "NotificationChannel": TOPIC, "SessionDuration": 900});
    let with = |perms: Value| {
        let mut i = base.clone();
        i["Permissions"] = perms;
        at(&iam, PARTNER, NOW, "CreateDelegationRequest", i)
    };
    let tpl = format!("arn:aws:iam::{PARTNER}:policy/S3Template");
    // No template, an unknown one, a missing or unused parameter.
    assert_eq!(code(with(json!({}))).0, "InvalidInput");
    assert_eq!(
        code(with(
            json!({"PolicyTemplateArn": format!("arn:aws:iam::{PARTNER}:policy/Nope")})
        ))
        .0,
        "InvalidInput"
    );
    assert_eq!(
        code(with(json!({"PolicyTemplateArn": tpl}))).0,
        "InvalidInput"
    );
    let e = with(json!({"PolicyTemplateArn": tpl, "Parameters": [
        {"Name": "bucketName", "Values": ["b"], "Type": "string"},
        {"Name": "unused", "Values": ["x"], "Type": "string"}]}))
    .unwrap_err();
    assert!(e.message.contains("unused"), "{}", e.message);
    // Another account's template is not the partner's.
    ok(
        &iam,
        OTHER,
        "CreatePolicy",
        json!({"PolicyName": "T", "PolicyDocument": TEMPLATE}),
    );
    assert_eq!(
        code(with(
            json!({"PolicyTemplateArn": format!("arn:aws:iam::{OTHER}:policy/T")})
        ))
        .0,
        "InvalidInput"
    );
    // The channel must be an SNS topic.
    let mut i = base.clone();
    i["Permissions"] =
        json!({"PolicyTemplateArn": tpl, "Parameters": [{"Name": "bucketName", "Values": ["b"]}]});
    i["NotificationChannel"] = json!("my-topic");
    assert_eq!(
        code(at(&iam, PARTNER, NOW, "CreateDelegationRequest", i)).0,
        "InvalidInput"
    );
    // The model's constraints come first (SessionDuration 300..43200).
    let mut i = base.clone();
    i["Permissions"] = json!({"PolicyTemplateArn": tpl});
    i["SessionDuration"] = json!(60);
    assert_eq!(
        code(at(&iam, PARTNER, NOW, "CreateDelegationRequest", i)).0,
        "ValidationError"
    );
    // A list parameter: every bucket.
    let a = with(json!({"PolicyTemplateArn": tpl, "Parameters": [
        {"Name": "bucketName", "Values": ["a", "b"], "Type": "stringList"}]}))
    .unwrap();
    let id = a.output["DelegationRequestId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get(&iam, PARTNER, NOW, &id).unwrap();
    let p: Value = serde_json::from_str(r["PermissionPolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        p["Statement"][0]["Resource"],
        json!(["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"])
    );
    assert_eq!(r["Permissions"]["Parameters"][0]["Type"], "stringList");
}

#[test]
fn the_permission_check_and_the_summary() {
    let iam = Iam::new();
    let id = setup(&iam, "wf-00008", None);
    ok(
        &iam,
        CUSTOMER,
        "AssociateDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    // The root may do everything.
    let a = ok(
        &iam,
        CUSTOMER,
        "GetDelegationRequest",
        json!({"DelegationRequestId": id, "DelegationPermissionCheck": true}),
    );
    assert_eq!(a.output["PermissionCheckStatus"], "COMPLETE");
    assert_eq!(a.output["PermissionCheckResult"], "ALLOWED");
    // A user allowed only GetObject does not cover PutObject.
    ok(&iam, CUSTOMER, "CreateUser", json!({"UserName": "reader"}));
    ok(
        &iam,
        CUSTOMER,
        "PutUserPolicy",
        json!({"UserName": "reader", "PolicyName": "p",
        "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#}),
    );
    let key = ok(
        &iam,
        CUSTOMER,
        "CreateAccessKey",
        json!({"UserName": "reader"}),
    )
    .output["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let check = |iam: &Iam| {
        ok(
            iam,
            &key,
            "GetDelegationRequest",
            json!({"DelegationRequestId": id, "DelegationPermissionCheck": true}),
        )
        .output["PermissionCheckResult"]
            .clone()
    };
    assert_eq!(check(&iam), "DENIED");
    ok(
        &iam,
        CUSTOMER,
        "PutUserPolicy",
        json!({"UserName": "reader", "PolicyName": "p",
        "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#}),
    );
    assert_eq!(check(&iam), "ALLOWED");
    // Without the flag, no check.
    let a = ok(
        &iam,
        &key,
        "GetDelegationRequest",
        json!({"DelegationRequestId": id}),
    );
    assert!(a.output.get("PermissionCheckStatus").is_none());

    // The summary: deterministic, from the policy.
    let arn = format!("arn:aws:iam::{PARTNER}:delegation-request/{id}");
    let s = ok(
        &iam,
        CUSTOMER,
        "GetHumanReadableSummary",
        json!({"EntityArn": arn}),
    )
    .output;
    assert_eq!(s["SummaryState"], "AVAILABLE");
    assert_eq!(s["Locale"], "en-US");
    let text = s["SummaryContent"].as_str().unwrap();
    assert!(text.starts_with("111111111111 (AWS account 111111111111) requests temporary access to AWS account 222222222222 for 1 hour"), "{text}");
    assert!(
        text.contains("1. Allows s3: GetObject, PutObject\n   on arn:aws:s3:::customer-data/*"),
        "{text}"
    );
    let again = ok(
        &iam,
        CUSTOMER,
        "GetHumanReadableSummary",
        json!({"EntityArn": arn}),
    )
    .output;
    assert_eq!(again, s);
    // Other languages are not rendered; unknown locales, bad ARNs and other entities.
    let s = ok(
        &iam,
        CUSTOMER,
        "GetHumanReadableSummary",
        json!({"EntityArn": arn, "Locale": "ja-JP"}),
    )
    .output;
    assert_eq!(s["SummaryState"], "NOT_AVAILABLE");
    assert_eq!(
        code(at(
            &iam,
            CUSTOMER,
            NOW,
            "GetHumanReadableSummary",
            json!({"EntityArn": arn, "Locale": "xx-XX"})
        ))
        .0,
        "InvalidInput"
    );
    assert_eq!(
        code(at(
            &iam,
            CUSTOMER,
            NOW,
            "GetHumanReadableSummary",
            json!({"EntityArn": "not-an-arn-at-all-really"})
        ))
        .0,
        "InvalidInput"
    );
    let s = ok(
        &iam,
        CUSTOMER,
        "GetHumanReadableSummary",
        json!({"EntityArn": format!("arn:aws:iam::{CUSTOMER}:user/reader")}),
    )
    .output;
    assert_eq!(s["SummaryState"], "NOT_SUPPORTED");
    assert_eq!(
        code(at(
            &iam,
            OTHER,
            NOW,
            "GetHumanReadableSummary",
            json!({"EntityArn": arn})
        ))
        .0,
        "NoSuchEntity"
    );
}

#[test]
fn records_round_trip_through_postcard() {
    let iam = Iam::new();
    let id = setup(&iam, "wf-00009", None);
    let snap = iam.store.snapshot();
    let Some(rec) = snap.get(&delegation_key(&id)) else {
        panic!()
    };
    let bytes = postcard::to_allocvec(rec).unwrap();
    let back: IamRecord = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(&back, rec);
}

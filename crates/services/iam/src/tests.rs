//! Unit tests of the operations, and of their wire form through the query codec.

use serde_json::{Value, json};
use snapstack_protocol::codec::query::{parse_input, serialize_output};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::request::parse_authorization;
use snapstack_service::RequestContext;

use crate::{Answer, Iam};

const NOW: u64 = 1_700_000_000_000;
const ACCOUNT: &str = "111122223333";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

fn ctx(key: &str) -> RequestContext {
    RequestContext::from_scope(parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/eu-west-1/iam/aws4_request"
    )))
}

fn call_as(iam: &Iam, key: &str, op: &str, input: Value) -> Result<Answer, AwsError> {
    iam.handle_at(&ctx(key), op, &input, NOW)
}

fn ok(iam: &Iam, op: &str, input: Value) -> Value {
    match call_as(iam, ACCOUNT, op, input) {
        Ok(a) => a.output,
        Err(e) => panic!("{op}: {} {}", e.code, e.message),
    }
}

fn err(iam: &Iam, op: &str, input: Value) -> (String, u16, String) {
    let e = call_as(iam, ACCOUNT, op, input).unwrap_err();
    (e.code, e.status.as_u16(), e.message)
}

fn decode(doc: &Value) -> String {
    percent_encoding::percent_decode_str(doc.as_str().unwrap())
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[test]
fn roles_with_trust_policy_boundary_tags_and_errors() {
    let iam = Iam::new();
    ok(
        &iam,
        "CreatePolicy",
        json!({"PolicyName": "Boundary", "PolicyDocument": DOC}),
    );
    let boundary = format!("arn:aws:iam::{ACCOUNT}:policy/Boundary");
    let out = ok(
        &iam,
        "CreateRole",
        json!({"RoleName": "App", "Path": "/svc/", "AssumeRolePolicyDocument": TRUST,
               "MaxSessionDuration": 7200, "PermissionsBoundary": boundary,
               "Tags": [{"Key": "team", "Value": "a"}], "Description": "d"}),
    );
    let role = &out["Role"];
    assert_eq!(role["Arn"], format!("arn:aws:iam::{ACCOUNT}:role/svc/App"));
    let id = role["RoleId"].as_str().unwrap();
    assert!(id.starts_with("AROA") && id.len() == 21, "{id}");
    assert_eq!(decode(&role["AssumeRolePolicyDocument"]), TRUST);
    assert_eq!(role["CreateDate"], json!(NOW / 1000));
    let got = ok(&iam, "GetRole", json!({"RoleName": "app"}))["Role"].clone();
    assert_eq!(got["RoleName"], "App");
    assert_eq!(got["MaxSessionDuration"], 7200);
    assert_eq!(
        got["PermissionsBoundary"]["PermissionsBoundaryArn"],
        boundary
    );
    assert_eq!(got["Tags"], json!([{"Key": "team", "Value": "a"}]));
    assert_eq!(got["RoleLastUsed"], json!({}));
    let (code, status, msg) = err(
        &iam,
        "CreateRole",
        json!({"RoleName": "APP", "AssumeRolePolicyDocument": TRUST}),
    );
    assert_eq!((code.as_str(), status), ("EntityAlreadyExists", 409));
    assert_eq!(msg, "Role with name APP already exists.");
    let (code, status, msg) = err(&iam, "GetRole", json!({"RoleName": "nope"}));
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    assert_eq!(msg, "The role with name nope cannot be found.");
    let (code, _, _) = err(
        &iam,
        "CreateRole",
        json!({"RoleName": "Bad", "AssumeRolePolicyDocument": "{nope"}),
    );
    assert_eq!(code, "MalformedPolicyDocument");
    let (code, _, msg) = err(
        &iam,
        "CreateRole",
        json!({"RoleName": "a b", "AssumeRolePolicyDocument": TRUST}),
    );
    assert_eq!(code, "ValidationError");
    assert!(msg.contains("at 'roleName'"), "{msg}");
    let (code, _, _) = err(
        &iam,
        "CreateRole",
        json!({"RoleName": "Long", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 60}),
    );
    assert_eq!(code, "ValidationError");
    // Tags, update, delete with conflicts.
    ok(
        &iam,
        "TagRole",
        json!({"RoleName": "App", "Tags": [{"Key": "env", "Value": "p"}]}),
    );
    ok(
        &iam,
        "UntagRole",
        json!({"RoleName": "App", "TagKeys": ["team"]}),
    );
    assert_eq!(
        ok(&iam, "ListRoleTags", json!({"RoleName": "App"}))["Tags"],
        json!([{"Key": "env", "Value": "p"}])
    );
    ok(
        &iam,
        "UpdateRole",
        json!({"RoleName": "App", "MaxSessionDuration": 3600}),
    );
    ok(
        &iam,
        "PutRolePolicy",
        json!({"RoleName": "App", "PolicyName": "inline", "PolicyDocument": DOC}),
    );
    let (code, status, msg) = err(&iam, "DeleteRole", json!({"RoleName": "App"}));
    assert_eq!((code.as_str(), status), ("DeleteConflict", 409));
    assert_eq!(msg, "Cannot delete entity, must delete policies first.");
    ok(
        &iam,
        "DeleteRolePolicy",
        json!({"RoleName": "App", "PolicyName": "inline"}),
    );
    ok(
        &iam,
        "DeleteRolePermissionsBoundary",
        json!({"RoleName": "App"}),
    );
    ok(&iam, "DeleteRole", json!({"RoleName": "App"}));
    assert_eq!(ok(&iam, "ListRoles", json!({}))["Roles"], json!([]));
}

#[test]
fn managed_policies_versions_and_attachments() {
    let iam = Iam::new();
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/team/P");
    let out = ok(
        &iam,
        "CreatePolicy",
        json!({"PolicyName": "P", "Path": "/team/", "PolicyDocument": DOC, "Description": "x"}),
    );
    assert_eq!(out["Policy"]["Arn"], arn);
    assert!(
        out["Policy"]["PolicyId"]
            .as_str()
            .unwrap()
            .starts_with("ANPA")
    );
    assert_eq!(out["Policy"]["DefaultVersionId"], "v1");
    for _ in 0..4 {
        ok(
            &iam,
            "CreatePolicyVersion",
            json!({"PolicyArn": arn, "PolicyDocument": DOC}),
        );
    }
    let (code, status, msg) = err(
        &iam,
        "CreatePolicyVersion",
        json!({"PolicyArn": arn, "PolicyDocument": DOC}),
    );
    assert_eq!((code.as_str(), status), ("LimitExceeded", 409));
    assert!(msg.starts_with("A managed policy can have up to 5 versions."));
    ok(
        &iam,
        "SetDefaultPolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v3"}),
    );
    let (code, _, msg) = err(
        &iam,
        "DeletePolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v3"}),
    );
    assert_eq!(code, "DeleteConflict");
    assert_eq!(msg, "Cannot delete the default version of a policy.");
    ok(
        &iam,
        "DeletePolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v1"}),
    );
    let v = ok(
        &iam,
        "CreatePolicyVersion",
        json!({"PolicyArn": arn, "PolicyDocument": DOC, "SetAsDefault": true}),
    );
    assert_eq!(v["PolicyVersion"]["VersionId"], "v6");
    let versions = ok(&iam, "ListPolicyVersions", json!({"PolicyArn": arn}))["Versions"].clone();
    assert_eq!(versions.as_array().unwrap().len(), 5);
    assert_eq!(versions[0]["VersionId"], "v6");
    assert_eq!(versions[0]["IsDefaultVersion"], true);
    let got = ok(
        &iam,
        "GetPolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v2"}),
    );
    assert_eq!(decode(&got["PolicyVersion"]["Document"]), DOC);
    let (code, _, _) = err(
        &iam,
        "GetPolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v1"}),
    );
    assert_eq!(code, "NoSuchEntity");

    // Attach to a user, a group and a role; counts follow.
    ok(&iam, "CreateUser", json!({"UserName": "u"}));
    ok(&iam, "CreateGroup", json!({"GroupName": "g"}));
    ok(
        &iam,
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    );
    ok(
        &iam,
        "AttachUserPolicy",
        json!({"UserName": "u", "PolicyArn": arn}),
    );
    ok(
        &iam,
        "AttachGroupPolicy",
        json!({"GroupName": "g", "PolicyArn": arn}),
    );
    ok(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": arn}),
    );
    ok(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": arn}),
    );
    let aws = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    ok(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": aws}),
    );
    let p = ok(&iam, "GetPolicy", json!({"PolicyArn": arn}))["Policy"].clone();
    assert_eq!(p["AttachmentCount"], 3);
    let attached = ok(&iam, "ListAttachedRolePolicies", json!({"RoleName": "r"}));
    assert_eq!(
        attached["AttachedPolicies"],
        json!([{"PolicyName": "P", "PolicyArn": arn}, {"PolicyName": "ReadOnlyAccess", "PolicyArn": aws}])
    );
    let e = ok(&iam, "ListEntitiesForPolicy", json!({"PolicyArn": arn}));
    assert_eq!(e["PolicyRoles"][0]["RoleName"], "r");
    assert_eq!(e["PolicyUsers"][0]["UserName"], "u");
    assert_eq!(e["PolicyGroups"][0]["GroupName"], "g");
    let (code, _, msg) = err(&iam, "DeletePolicy", json!({"PolicyArn": arn}));
    assert_eq!(code, "DeleteConflict");
    assert_eq!(msg, "Cannot delete a policy attached to entities.");
    let missing = format!("arn:aws:iam::{ACCOUNT}:policy/none");
    let (code, _, msg) = err(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": missing}),
    );
    assert_eq!(code, "NoSuchEntity");
    assert_eq!(
        msg,
        format!("Policy {missing} does not exist or is not attachable.")
    );
    let aws_policy = ok(&iam, "GetPolicy", json!({"PolicyArn": aws}))["Policy"].clone();
    assert_eq!(aws_policy["AttachmentCount"], 1);
    let only = ok(&iam, "ListPolicies", json!({"OnlyAttached": true}))["Policies"].clone();
    assert_eq!(only.as_array().unwrap().len(), 2);
    let local = ok(&iam, "ListPolicies", json!({"Scope": "Local"}))["Policies"].clone();
    assert_eq!(local.as_array().unwrap().len(), 1);
    let page = ok(
        &iam,
        "ListPolicies",
        json!({"Scope": "AWS", "MaxItems": 10}),
    );
    assert_eq!(page["IsTruncated"], true);
    assert_eq!(page["Policies"].as_array().unwrap().len(), 10);
    let version = ok(
        &iam,
        "GetPolicyVersion",
        json!({"PolicyArn": aws, "VersionId": aws_policy["DefaultVersionId"]}),
    );
    assert!(decode(&version["PolicyVersion"]["Document"]).contains("Statement"));
    ok(
        &iam,
        "DetachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": aws}),
    );
    let (code, _, _) = err(
        &iam,
        "DetachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": aws}),
    );
    assert_eq!(code, "NoSuchEntity");
    let first = ok(
        &iam,
        "GetAccountAuthorizationDetails",
        json!({"MaxItems": 2}),
    );
    assert_eq!(first["IsTruncated"], true);
    assert_eq!(first["UserDetailList"][0]["UserName"], "u");
    assert_eq!(first["GroupDetailList"][0]["GroupName"], "g");
    assert_eq!(first["RoleDetailList"], json!([]));
    let rest = ok(
        &iam,
        "GetAccountAuthorizationDetails",
        json!({"Marker": first["Marker"]}),
    );
    assert_eq!(rest["RoleDetailList"][0]["RoleName"], "r");
    assert_eq!(rest["UserDetailList"], json!([]));
    let details = ok(&iam, "GetAccountAuthorizationDetails", json!({}));
    assert_eq!(
        details["RoleDetailList"][0]["AttachedManagedPolicies"][0]["PolicyArn"],
        arn
    );
    assert_eq!(
        details["Policies"][0]["PolicyVersionList"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn inline_policy_sizes_and_documents() {
    let iam = Iam::new();
    ok(&iam, "CreateUser", json!({"UserName": "u"}));
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "a".repeat(2100)
    );
    let (code, status, msg) = err(
        &iam,
        "PutUserPolicy",
        json!({"UserName": "u", "PolicyName": "p", "PolicyDocument": big}),
    );
    assert_eq!((code.as_str(), status), ("LimitExceeded", 409));
    assert_eq!(msg, "Maximum policy size of 2048 bytes exceeded for user u");
    ok(
        &iam,
        "PutUserPolicy",
        json!({"UserName": "u", "PolicyName": "p", "PolicyDocument": DOC}),
    );
    let got = ok(
        &iam,
        "GetUserPolicy",
        json!({"UserName": "u", "PolicyName": "p"}),
    );
    assert_eq!(decode(&got["PolicyDocument"]), DOC);
    assert_eq!(
        ok(&iam, "ListUserPolicies", json!({"UserName": "u"}))["PolicyNames"],
        json!(["p"])
    );
    let (code, _, msg) = err(
        &iam,
        "GetUserPolicy",
        json!({"UserName": "u", "PolicyName": "q"}),
    );
    assert_eq!(code, "NoSuchEntity");
    assert_eq!(msg, "The user policy with name q cannot be found.");
}

#[test]
fn users_groups_keys_and_profiles() {
    let iam = Iam::new();
    let u = ok(
        &iam,
        "CreateUser",
        json!({"UserName": "alice", "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    assert!(u["User"]["UserId"].as_str().unwrap().starts_with("AIDA"));
    ok(&iam, "CreateGroup", json!({"GroupName": "devs"}));
    ok(
        &iam,
        "AddUserToGroup",
        json!({"GroupName": "devs", "UserName": "alice"}),
    );
    let g = ok(&iam, "GetGroup", json!({"GroupName": "devs"}));
    assert_eq!(g["Users"][0]["UserName"], "alice");
    assert!(g["Group"]["GroupId"].as_str().unwrap().starts_with("AGPA"));
    assert_eq!(
        ok(&iam, "ListGroupsForUser", json!({"UserName": "alice"}))["Groups"][0]["GroupName"],
        "devs"
    );
    let (code, _, _) = err(&iam, "DeleteGroup", json!({"GroupName": "devs"}));
    assert_eq!(code, "DeleteConflict");

    let k1 = ok(&iam, "CreateAccessKey", json!({"UserName": "alice"}))["AccessKey"].clone();
    let id = k1["AccessKeyId"].as_str().unwrap().to_string();
    assert!(id.starts_with("AKIA") && id.len() == 20);
    assert_eq!(k1["SecretAccessKey"].as_str().unwrap().len(), 40);
    ok(&iam, "CreateAccessKey", json!({"UserName": "alice"}));
    let (code, _, msg) = err(&iam, "CreateAccessKey", json!({"UserName": "alice"}));
    assert_eq!(code, "LimitExceeded");
    assert_eq!(msg, "Cannot exceed quota for AccessKeysPerUser: 2");
    let owner = iam.key_owner(&id).unwrap();
    assert_eq!(owner.arn, format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    // Signed with the key: the caller is alice, in her account.
    let me = call_as(&iam, &id, "GetUser", json!({})).unwrap().output;
    assert_eq!(me["User"]["UserName"], "alice");
    let last = ok(&iam, "GetAccessKeyLastUsed", json!({"AccessKeyId": id}));
    assert_eq!(last["UserName"], "alice");
    let (code, status, _) = err(
        &iam,
        "GetAccessKeyLastUsed",
        json!({"AccessKeyId": "AKIAUNKNOWNKEY000000"}),
    );
    assert_eq!((code.as_str(), status), ("AccessDenied", 403));
    assert_eq!(last["AccessKeyLastUsed"]["ServiceName"], "N/A");
    let (v, _) =
        iam.lookup_access_key(&ctx("x"), &json!({"AccessKeyId": id, "ServiceName": "sts"}));
    assert_eq!(v["UserName"], "alice");
    let last = ok(&iam, "GetAccessKeyLastUsed", json!({"AccessKeyId": id}));
    assert_eq!(last["AccessKeyLastUsed"]["ServiceName"], "sts");
    assert_eq!(last["AccessKeyLastUsed"]["Region"], "eu-west-1");
    ok(
        &iam,
        "UpdateAccessKey",
        json!({"UserName": "alice", "AccessKeyId": id, "Status": "Inactive"}),
    );
    assert!(iam.key_owner(&id).is_none());
    let (code, _, msg) = err(&iam, "DeleteUser", json!({"UserName": "alice"}));
    assert_eq!(code, "DeleteConflict");
    assert_eq!(msg, "Cannot delete entity, must delete access keys first.");
    for k in ok(&iam, "ListAccessKeys", json!({"UserName": "alice"}))["AccessKeyMetadata"]
        .as_array()
        .unwrap()
    {
        ok(
            &iam,
            "DeleteAccessKey",
            json!({"UserName": "alice", "AccessKeyId": k["AccessKeyId"]}),
        );
    }
    ok(
        &iam,
        "CreateLoginProfile",
        json!({"UserName": "alice", "Password": "Secret-123"}),
    );
    let (code, _, _) = err(
        &iam,
        "CreateLoginProfile",
        json!({"UserName": "alice", "Password": "x"}),
    );
    assert_eq!(code, "EntityAlreadyExists");
    ok(&iam, "DeleteLoginProfile", json!({"UserName": "alice"}));
    ok(
        &iam,
        "UpdateUser",
        json!({"UserName": "alice", "NewUserName": "alicia"}),
    );
    assert_eq!(
        ok(&iam, "GetGroup", json!({"GroupName": "devs"}))["Users"][0]["UserName"],
        "alicia"
    );
    ok(
        &iam,
        "RemoveUserFromGroup",
        json!({"GroupName": "devs", "UserName": "alicia"}),
    );
    ok(&iam, "DeleteUser", json!({"UserName": "alicia"}));

    ok(
        &iam,
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    );
    let p = ok(
        &iam,
        "CreateInstanceProfile",
        json!({"InstanceProfileName": "ip"}),
    );
    assert!(
        p["InstanceProfile"]["InstanceProfileId"]
            .as_str()
            .unwrap()
            .starts_with("AIPA")
    );
    ok(
        &iam,
        "AddRoleToInstanceProfile",
        json!({"InstanceProfileName": "ip", "RoleName": "r"}),
    );
    let (code, _, _) = err(
        &iam,
        "AddRoleToInstanceProfile",
        json!({"InstanceProfileName": "ip", "RoleName": "r"}),
    );
    assert_eq!(code, "LimitExceeded");
    let (code, _, msg) = err(&iam, "DeleteRole", json!({"RoleName": "r"}));
    assert_eq!(code, "DeleteConflict");
    assert_eq!(
        msg,
        "Cannot delete entity, must remove roles from instance profile first."
    );
    assert_eq!(
        ok(
            &iam,
            "ListInstanceProfilesForRole",
            json!({"RoleName": "r"})
        )["InstanceProfiles"][0]["Roles"][0]["RoleName"],
        "r"
    );
}

#[test]
fn account_settings_providers_and_reports() {
    let iam = Iam::new();
    ok(
        &iam,
        "CreateAccountAlias",
        json!({"AccountAlias": "my-alias"}),
    );
    assert_eq!(
        ok(&iam, "ListAccountAliases", json!({}))["AccountAliases"],
        json!(["my-alias"])
    );
    let (code, _, _) = err(&iam, "GetAccountPasswordPolicy", json!({}));
    assert_eq!(code, "NoSuchEntity");
    ok(
        &iam,
        "UpdateAccountPasswordPolicy",
        json!({"MinimumPasswordLength": 12, "RequireNumbers": true}),
    );
    assert_eq!(
        ok(&iam, "GetAccountPasswordPolicy", json!({}))["PasswordPolicy"]["MinimumPasswordLength"],
        12
    );
    ok(&iam, "CreateUser", json!({"UserName": "u"}));
    let (code, _, _) = err(
        &iam,
        "CreateLoginProfile",
        json!({"UserName": "u", "Password": "short1"}),
    );
    assert_eq!(code, "PasswordPolicyViolation");
    let oidc = ok(
        &iam,
        "CreateOpenIDConnectProvider",
        json!({"Url": "https://token.example.com", "ClientIDList": ["a"], "ThumbprintList": ["0123456789012345678901234567890123456789"]}),
    );
    let arn = oidc["OpenIDConnectProviderArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.example.com")
    );
    ok(
        &iam,
        "AddClientIDToOpenIDConnectProvider",
        json!({"OpenIDConnectProviderArn": arn, "ClientID": "b"}),
    );
    let got = ok(
        &iam,
        "GetOpenIDConnectProvider",
        json!({"OpenIDConnectProviderArn": arn}),
    );
    assert_eq!(got["ClientIDList"], json!(["a", "b"]));
    assert_eq!(got["Url"], "token.example.com");
    let (code, _, _) = err(
        &iam,
        "CreateOpenIDConnectProvider",
        json!({"Url": "https://token.example.com"}),
    );
    assert_eq!(code, "EntityAlreadyExists");
    let first = ok(&iam, "GenerateCredentialReport", json!({}));
    assert_eq!(first["State"], "STARTED");
    assert_eq!(
        ok(&iam, "GenerateCredentialReport", json!({}))["State"],
        "COMPLETE"
    );
    let report = ok(&iam, "GetCredentialReport", json!({}));
    use base64::Engine as _;
    let csv = base64::engine::general_purpose::STANDARD
        .decode(report["Content"].as_str().unwrap())
        .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.lines()
            .nth(2)
            .unwrap()
            .starts_with("u,arn:aws:iam::111122223333:user/u,"),
        "{csv}"
    );
    let summary = ok(&iam, "GetAccountSummary", json!({}));
    assert_eq!(summary["SummaryMap"]["Users"], 1);
    assert_eq!(summary["SummaryMap"]["Providers"], 1);
    let mfa = ok(
        &iam,
        "CreateVirtualMFADevice",
        json!({"VirtualMFADeviceName": "dev"}),
    );
    let serial = mfa["VirtualMFADevice"]["SerialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &iam,
        "EnableMFADevice",
        json!({"UserName": "u", "SerialNumber": serial, "AuthenticationCode1": "123456", "AuthenticationCode2": "654321"}),
    );
    let (code, _, _) = err(&iam, "DeleteUser", json!({"UserName": "u"}));
    assert_eq!(code, "DeleteConflict");
    assert_eq!(
        ok(&iam, "ListMFADevices", json!({"UserName": "u"}))["MFADevices"][0]["SerialNumber"],
        serial
    );
    ok(
        &iam,
        "DeactivateMFADevice",
        json!({"UserName": "u", "SerialNumber": serial}),
    );
    ok(
        &iam,
        "DeleteVirtualMFADevice",
        json!({"SerialNumber": serial}),
    );
    let ssh = ok(
        &iam,
        "UploadSSHPublicKey",
        json!({"UserName": "u", "SSHPublicKeyBody": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 me@host"}),
    );
    assert_eq!(
        ssh["SSHPublicKey"]["Fingerprint"].as_str().unwrap().len(),
        47
    );
    let slr = ok(
        &iam,
        "CreateServiceLinkedRole",
        json!({"AWSServiceName": "autoscaling.amazonaws.com"}),
    );
    assert_eq!(slr["Role"]["RoleName"], "AWSServiceRoleForAutoScaling");
    assert_eq!(
        slr["Role"]["Path"],
        "/aws-service-role/autoscaling.amazonaws.com/"
    );
    let task = ok(
        &iam,
        "DeleteServiceLinkedRole",
        json!({"RoleName": "AWSServiceRoleForAutoScaling"}),
    );
    let status = ok(
        &iam,
        "GetServiceLinkedRoleDeletionStatus",
        json!({"DeletionTaskId": task["DeletionTaskId"]}),
    );
    assert_eq!(status["Status"], "SUCCEEDED");
}

#[test]
fn context_keys_service_access_federation_and_organizations() {
    let iam = Iam::new();
    let cond = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    ok(
        &iam,
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    );
    ok(
        &iam,
        "PutRolePolicy",
        json!({"RoleName": "r", "PolicyName": "q", "PolicyDocument": cond}),
    );
    ok(
        &iam,
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}),
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/r");
    let keys = ok(
        &iam,
        "GetContextKeysForPrincipalPolicy",
        json!({"PolicySourceArn": role}),
    );
    assert_eq!(keys["ContextKeyNames"], json!(["aws:SourceIp"]));
    let keys = ok(
        &iam,
        "GetContextKeysForCustomPolicy",
        json!({"PolicyInputList": [cond]}),
    );
    assert_eq!(keys["ContextKeyNames"], json!(["aws:SourceIp"]));
    let out = ok(
        &iam,
        "ListPoliciesGrantingServiceAccess",
        json!({"Arn": role, "ServiceNamespaces": ["s3", "sqs", "kms"]}),
    );
    let e = &out["PoliciesGrantingServiceAccess"];
    assert_eq!(e[0]["Policies"][0]["PolicyName"], "AmazonS3ReadOnlyAccess");
    assert_eq!(
        e[1]["Policies"][0],
        json!({"PolicyName": "q", "PolicyType": "INLINE", "EntityType": "ROLE", "EntityName": "r"})
    );
    assert_eq!(e[2]["Policies"], json!([]));
    assert_eq!(
        err(&iam, "GetOutboundWebIdentityFederationInfo", json!({})).0,
        "FeatureDisabled"
    );
    let issuer =
        ok(&iam, "EnableOutboundWebIdentityFederation", json!({}))["IssuerIdentifier"].clone();
    assert_eq!(
        ok(&iam, "GetOutboundWebIdentityFederationInfo", json!({}))["IssuerIdentifier"],
        issuer
    );
    assert_eq!(
        err(&iam, "EnableOutboundWebIdentityFederation", json!({})).1,
        409
    );
    ok(&iam, "DisableOutboundWebIdentityFederation", json!({}));
    assert_eq!(
        err(&iam, "ListOrganizationsFeatures", json!({})).0,
        "OrganizationNotFoundException"
    );
}

#[test]
fn refusals_change_nothing_and_reads_write_nothing() {
    let iam = Iam::new();
    let a = call_as(&iam, ACCOUNT, "CreateUser", json!({"UserName": "u"})).unwrap();
    assert!(a.write_version.is_some());
    let v = iam.store.version();
    let r = call_as(&iam, ACCOUNT, "GetUser", json!({"UserName": "u"})).unwrap();
    assert_eq!(r.write_version, None);
    assert!(call_as(&iam, ACCOUNT, "CreateUser", json!({"UserName": "u"})).is_err());
    assert_eq!(iam.store.version(), v);
    // Another account sees nothing; regions do not matter.
    let e = call_as(&iam, "444455556666", "GetUser", json!({"UserName": "u"})).unwrap_err();
    assert_eq!(e.code, "NoSuchEntity");
    let r = call_as(
        &iam,
        ACCOUNT,
        "GetHumanReadableSummary",
        json!({"EntityArn": "arn:aws:iam::111122223333:user/u"}),
    )
    .unwrap();
    assert_eq!(r.output["SummaryState"], "NOT_SUPPORTED");
    assert_eq!(r.write_version, None);
    // A simulation reads and writes nothing.
    let r = call_as(
        &iam,
        ACCOUNT,
        "SimulateCustomPolicy",
        json!({"PolicyInputList": [DOC], "ActionNames": ["s3:GetObject"]}),
    )
    .unwrap();
    assert_eq!(r.write_version, None);
    assert_eq!(iam.store.version(), v);
}

#[test]
fn the_wire_through_the_query_codec() {
    let model = snapstack_protocol::model::named("iam").unwrap();
    let params: Vec<(String, String)> = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", "wire"),
        ("AssumeRolePolicyDocument", TRUST),
        ("Tags.member.1.Key", "k"),
        ("Tags.member.1.Value", "v"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let input = parse_input(model, "CreateRole", &params).unwrap();
    let iam = Iam::new();
    let a = iam
        .handle_at(&ctx(ACCOUNT), "CreateRole", &input, NOW)
        .unwrap();
    let xml = serialize_output(model, "CreateRole", &a.output, "rid");
    assert!(xml.starts_with("<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateRoleResult><Role>"), "{xml}");
    assert!(
        xml.contains("<AssumeRolePolicyDocument>%7B%22Version%22"),
        "{xml}"
    );
    assert!(
        xml.contains("<Tags><member><Key>k</Key><Value>v</Value></member></Tags>"),
        "{xml}"
    );
    assert!(xml.contains("<CreateDate>2023-11-14T22:13:20"), "{xml}");
}

/// The simulator answers from the principal's policies (its own, its groups', managed ones),
/// its permissions boundary, and a resource policy, with the statements that decided.
#[test]
fn policy_simulation_of_principals_and_custom_policies() {
    let iam = Iam::new();
    ok(&iam, "CreateUser", json!({"UserName": "alice"}));
    ok(&iam, "CreateGroup", json!({"GroupName": "readers"}));
    ok(
        &iam,
        "AddUserToGroup",
        json!({"GroupName": "readers", "UserName": "alice"}),
    );
    ok(
        &iam,
        "PutGroupPolicy",
        json!({"GroupName": "readers", "PolicyName": "read",
               "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::data/*"}]}"#}),
    );
    ok(
        &iam,
        "PutUserPolicy",
        json!({"UserName": "alice", "PolicyName": "nodelete",
               "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Sid":"No","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#}),
    );
    ok(
        &iam,
        "AttachUserPolicy",
        json!({"UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"}),
    );
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let out = ok(
        &iam,
        "SimulatePrincipalPolicy",
        json!({"PolicySourceArn": arn,
               "ActionNames": ["s3:GetObject", "s3:DeleteObject", "sqs:ListQueues", "sqs:SendMessage"],
               "ResourceArns": ["arn:aws:s3:::data/k"]}),
    );
    let results = out["EvaluationResults"].as_array().unwrap();
    let decision = |action: &str| {
        results
            .iter()
            .find(|r| r["EvalActionName"] == action)
            .map(|r| r["EvalDecision"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(decision("s3:GetObject"), "allowed");
    assert_eq!(decision("s3:DeleteObject"), "explicitDeny");
    assert_eq!(decision("sqs:ListQueues"), "allowed");
    assert_eq!(decision("sqs:SendMessage"), "implicitDeny");
    let get = results
        .iter()
        .find(|r| r["EvalActionName"] == "s3:GetObject")
        .unwrap();
    assert_eq!(get["MatchedStatements"][0]["SourcePolicyId"], "read");
    assert_eq!(get["MatchedStatements"][0]["SourcePolicyType"], "group");
    assert!(
        get["MatchedStatements"][0]["StartPosition"]["Line"].is_u64(),
        "{get}"
    );

    // A custom policy, a boundary that narrows it, a condition key left missing.
    let out = ok(
        &iam,
        "SimulateCustomPolicy",
        json!({"PolicyInputList": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#],
               "PermissionsBoundaryPolicyInputList": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}"#],
               "ActionNames": ["dynamodb:GetItem", "dynamodb:PutItem"],
               "ContextEntries": [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyType": "string", "ContextKeyValues": ["eu-west-1"]}]}),
    );
    let r = out["EvaluationResults"].as_array().unwrap();
    assert_eq!(r[0]["EvalDecision"], "allowed", "{out}");
    assert_eq!(r[1]["EvalDecision"], "implicitDeny", "{out}");
    let out = ok(
        &iam,
        "SimulateCustomPolicy",
        json!({"PolicyInputList": [r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#],
               "ActionNames": ["dynamodb:GetItem"]}),
    );
    assert_eq!(out["EvaluationResults"][0]["EvalDecision"], "implicitDeny");
    assert_eq!(
        out["EvaluationResults"][0]["MissingContextValues"],
        json!(["aws:requestedregion"])
    );
    // Errors: an unknown principal, a malformed input policy.
    let (code, status, _) = err(
        &iam,
        "SimulatePrincipalPolicy",
        json!({"PolicySourceArn": format!("arn:aws:iam::{ACCOUNT}:user/nobody"), "ActionNames": ["s3:GetObject"]}),
    );
    assert_eq!((code.as_str(), status), ("NoSuchEntity", 404));
    let (code, _, _) = err(
        &iam,
        "SimulateCustomPolicy",
        json!({"PolicyInputList": ["{not json"], "ActionNames": ["s3:GetObject"]}),
    );
    assert_eq!(code, "MalformedPolicyDocument");
}

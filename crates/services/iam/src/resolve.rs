//! What the gateway's policy enforcement (`ENFORCE_IAM=1`) asks of IAM through
//! `Runtime::invoke`, read from a snapshot of the store (no write lock, no change):
//!
//! - [`RESOLVE_PRINCIPAL`]: who an access key or an IAM ARN is, with the secret of the key and
//!   every policy that applies to the identity (its own inline and attached policies, its
//!   groups', its permissions boundary), a role's trust policy, and the documents of managed
//!   policies passed as session policies. Input `{"AccessKeyId"}` or `{"Arn"}` (a user or role
//!   ARN), optional `"PolicyArns": [..]` and `"KnownVersion"`: when the store's version is
//!   still that one, the answer is only `{"Version", "Unchanged": true}` (the caller's cache is
//!   current).
//! - [`FIND_OIDC_PROVIDER`]: the OIDC provider of an account for an issuer URL
//!   (`{"Account", "Url"}` → `{"Arn", "ClientIds"}` or `{}`).

use serde_json::{Value, json};
use snapstack_engine::Snapshot;

use crate::model::*;
use crate::{Iam, aws_managed, util};

pub const RESOLVE_PRINCIPAL: &str = "ResolvePrincipal";
pub const FIND_OIDC_PROVIDER: &str = "FindOidcProvider";

/// The default version's document of a managed policy, by ARN (AWS managed or the account's).
fn managed_document(snap: &Snapshot<IamRecord>, arn: &str) -> Option<String> {
    if let Some(p) = aws_managed::by_arn(arn) {
        return Some(p.document.clone());
    }
    let account = arn.split(':').nth(4)?;
    let rest = arn
        .strip_prefix(&format!("arn:aws:iam::{account}:policy"))?
        .to_string();
    let name = rest.rsplit('/').next()?;
    match snap.get(&named_key(account, POLICY, name)) {
        Some(IamRecord::Policy(p)) if util::arn(account, "policy", &p.path, &p.name) == arn => p
            .versions
            .iter()
            .find(|v| v.number == p.default_version)
            .map(|v| v.document.clone()),
        _ => None,
    }
}

fn doc(id: &str, document: &str) -> Value {
    json!({"Id": id, "Document": document})
}

fn policies_of(
    snap: &Snapshot<IamRecord>,
    owner: &str,
    inline: &[(String, String)],
    attached: &[String],
    out: &mut Vec<Value>,
) {
    for (name, d) in inline {
        out.push(doc(&format!("{owner}/{name}"), d));
    }
    for arn in attached {
        if let Some(d) = managed_document(snap, arn) {
            out.push(doc(arn, &d));
        }
    }
}

fn tags(t: &[(String, String)]) -> Value {
    Value::Array(
        t.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn user(snap: &Snapshot<IamRecord>, account: &str, name: &str) -> Option<Value> {
    let Some(IamRecord::User(u)) = snap.get(&named_key(account, USER, name)) else {
        return None;
    };
    let mut policies = Vec::new();
    policies_of(snap, "user", &u.inline, &u.attached, &mut policies);
    for (_, r) in snap.scan_prefix(&kind_prefix(account, GROUP)) {
        if let IamRecord::Group(g) = r
            && g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name))
        {
            policies_of(
                snap,
                &format!("group/{}", g.name),
                &g.inline,
                &g.attached,
                &mut policies,
            );
        }
    }
    let mut out = json!({
        "Found": true,
        "Kind": "user",
        "Account": account,
        "Arn": util::arn(account, "user", &u.path, &u.name),
        "UserName": u.name,
        "UserId": u.id,
        "Policies": policies,
        "Tags": tags(&u.tags),
    });
    if let Some(b) = &u.boundary
        && let Some(d) = managed_document(snap, b)
    {
        out["Boundary"] = doc(b, &d);
    }
    Some(out)
}

fn role(snap: &Snapshot<IamRecord>, account: &str, name: &str) -> Option<Value> {
    let Some(IamRecord::Role(r)) = snap.get(&named_key(account, ROLE, name)) else {
        return None;
    };
    let mut policies = Vec::new();
    policies_of(snap, "role", &r.inline, &r.attached, &mut policies);
    let mut out = json!({
        "Found": true,
        "Kind": "role",
        "Account": account,
        "Arn": util::arn(account, "role", &r.path, &r.name),
        "RoleName": r.name,
        "UserId": r.id,
        "Policies": policies,
        "TrustPolicy": r.trust_policy,
        "MaxSessionDuration": r.max_session_duration,
        "Tags": tags(&r.tags),
    });
    if let Some(b) = &r.boundary
        && let Some(d) = managed_document(snap, b)
    {
        out["Boundary"] = doc(b, &d);
    }
    Some(out)
}

impl Iam {
    /// [`RESOLVE_PRINCIPAL`].
    pub fn resolve_principal(&self, input: &Value) -> Value {
        let snap = self.store.snapshot();
        let version = snap.version();
        if input.get("KnownVersion").and_then(Value::as_u64) == Some(version) {
            return json!({"Version": version, "Unchanged": true});
        }
        let s = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
        let mut out = if !s("AccessKeyId").is_empty() {
            match snap.get(&access_key_key(s("AccessKeyId"))) {
                Some(IamRecord::AccessKey(k)) if k.active => {
                    user(&snap, &k.account, &k.user).map(|mut u| {
                        u["SecretAccessKey"] = json!(k.secret);
                        u
                    })
                }
                _ => None,
            }
        } else {
            let arn = s("Arn");
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            match parts.as_slice() {
                [_, _, "iam", _, account, resource] => {
                    let name = resource.rsplit('/').next().unwrap_or("");
                    if resource.starts_with("user/") {
                        user(&snap, account, name)
                    } else if resource.starts_with("role/") {
                        role(&snap, account, name)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
        .unwrap_or_else(|| json!({"Found": false}));
        let session: Vec<Value> = input
            .get("PolicyArns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|arn| managed_document(&snap, arn).map(|d| doc(arn, &d)))
            .collect();
        out["SessionPolicies"] = Value::Array(session);
        out["Version"] = json!(version);
        out
    }

    /// [`FIND_OIDC_PROVIDER`].
    pub fn find_oidc_provider(&self, input: &Value) -> Value {
        let s = |k: &str| input.get(k).and_then(Value::as_str).unwrap_or("");
        let account = s("Account");
        let url = s("Url");
        let url = url
            .strip_prefix("https://")
            .unwrap_or(url)
            .trim_end_matches('/');
        match self.store.snapshot().get(&id_key(account, OIDC, url)) {
            Some(IamRecord::Oidc(p)) => json!({
                "Arn": format!("arn:aws:iam::{account}:oidc-provider/{}", p.url),
                "ClientIds": p.client_ids,
            }),
            _ => json!({}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_service::RequestContext;

    fn call(iam: &Iam, op: &str, input: Value) -> Value {
        let ctx = RequestContext::from_scope(None);
        iam.handle(&ctx, op, &input).unwrap().output
    }

    #[test]
    fn resolves_users_groups_roles_and_keys() {
        let iam = Iam::new();
        call(&iam, "CreateUser", json!({"UserName": "alice"}));
        let pol = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        call(
            &iam,
            "PutUserPolicy",
            json!({"UserName": "alice", "PolicyName": "p", "PolicyDocument": pol}),
        );
        call(&iam, "CreateGroup", json!({"GroupName": "g"}));
        call(
            &iam,
            "AddUserToGroup",
            json!({"GroupName": "g", "UserName": "alice"}),
        );
        call(
            &iam,
            "AttachGroupPolicy",
            json!({"GroupName": "g", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        );
        let key = call(&iam, "CreateAccessKey", json!({"UserName": "alice"}));
        let akid = key["AccessKey"]["AccessKeyId"].as_str().unwrap();
        let out = iam.resolve_principal(&json!({"AccessKeyId": akid}));
        assert_eq!(out["Found"], true);
        assert_eq!(out["Arn"], "arn:aws:iam::000000000000:user/alice");
        assert_eq!(out["SecretAccessKey"], key["AccessKey"]["SecretAccessKey"]);
        let ids: Vec<&str> = out["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["user/p", "arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "{out}"
        );
        let v = out["Version"].as_u64().unwrap();
        let again = iam.resolve_principal(&json!({"AccessKeyId": akid, "KnownVersion": v}));
        assert_eq!(again["Unchanged"], true);
        assert_eq!(
            iam.resolve_principal(&json!({"AccessKeyId": "AKIANOPE"}))["Found"],
            false
        );

        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
        call(
            &iam,
            "CreateRole",
            json!({"RoleName": "r", "AssumeRolePolicyDocument": trust}),
        );
        let out = iam.resolve_principal(&json!({
            "Arn": "arn:aws:iam::000000000000:role/r",
            "PolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/Nope"],
        }));
        assert_eq!(out["Kind"], "role");
        assert_eq!(out["TrustPolicy"], trust);
        assert_eq!(out["SessionPolicies"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn finds_oidc_providers_by_issuer() {
        let iam = Iam::new();
        call(
            &iam,
            "CreateOpenIDConnectProvider",
            json!({"Url": "https://issuer.example.com", "ClientIDList": ["app"], "ThumbprintList": ["a".repeat(40)]}),
        );
        let out = iam.find_oidc_provider(
            &json!({"Account": "000000000000", "Url": "https://issuer.example.com/"}),
        );
        assert_eq!(
            out["Arn"],
            "arn:aws:iam::000000000000:oidc-provider/issuer.example.com"
        );
        assert_eq!(out["ClientIds"], json!(["app"]));
        assert_eq!(
            iam.find_oidc_provider(&json!({"Account": "000000000000", "Url": "other"})),
            json!({})
        );
    }
}

//! What IAM answers from the policies it holds without evaluating them (the context keys a
//! policy's conditions name, which policies grant a service), outbound web identity federation
//! (an account setting), and the organizations features (this account is in no organization).

use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::model::*;
use crate::policies::{self, PolicyRef};
use crate::util::*;
use crate::{Op, done};

/// The statements of a policy document (one object or an array of them).
fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => vec![],
    }
}

fn parse(doc: &str) -> Result<Value, AwsError> {
    serde_json::from_str(doc).map_err(|_| invalid_input("Syntax errors in policy."))
}

/// The condition keys of a document's statements, added to `keys` once each (case-insensitive).
fn condition_keys(doc: &Value, keys: &mut Vec<String>) {
    for st in statements(doc) {
        let Some(Value::Object(ops)) = st.get("Condition") else {
            continue;
        };
        for block in ops.values() {
            if let Value::Object(b) = block {
                for k in b.keys() {
                    if !keys.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                        keys.push(k.clone());
                    }
                }
            }
        }
    }
}

/// Every policy document that applies to the user, group or role an ARN names:
/// (name, type, managed ARN, owner kind, owner name, document).
type Applied = (
    String,
    &'static str,
    Option<String>,
    &'static str,
    String,
    String,
);

fn applied(op: &Op<'_, '_>, arn: &str) -> Result<Vec<Applied>, AwsError> {
    let missing = || no_such(format!("Entity {arn} does not exist."));
    let prefix = format!("arn:aws:iam::{}:", op.account);
    let rest = arn.strip_prefix(&prefix).ok_or_else(missing)?;
    let (kind, path_name) = rest.split_once('/').ok_or_else(missing)?;
    let name = path_name.rsplit('/').next().unwrap_or(path_name);
    let mut out: Vec<Applied> = Vec::new();
    let mut add =
        |op: &Op<'_, '_>, owner: &'static str, who: &str, inline: &Inline, attached: &[String]| {
            for (n, d) in inline {
                out.push((n.clone(), "INLINE", None, owner, who.to_string(), d.clone()));
            }
            for a in attached {
                if let Some(p) = policies::find(op, a) {
                    let doc = match &p {
                        PolicyRef::Local(l) => l
                            .versions
                            .iter()
                            .find(|v| v.number == l.default_version)
                            .map(|v| v.document.clone())
                            .unwrap_or_default(),
                        PolicyRef::Aws(w) => w.document.clone(),
                    };
                    out.push((
                        p.name().to_string(),
                        "MANAGED",
                        Some(a.clone()),
                        owner,
                        who.to_string(),
                        doc,
                    ));
                }
            }
        };
    match kind {
        "user" => {
            let u = op.user(name).map_err(|_| missing())?;
            add(op, "USER", &u.name, &u.inline, &u.attached);
            for g in op.groups() {
                if g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)) {
                    add(op, "GROUP", &g.name, &g.inline, &g.attached);
                }
            }
        }
        "group" => {
            let g = op.group(name).map_err(|_| missing())?;
            add(op, "GROUP", &g.name, &g.inline, &g.attached);
        }
        "role" => {
            let r = op.role(name).map_err(|_| missing())?;
            add(op, "ROLE", &r.name, &r.inline, &r.attached);
        }
        _ => return Err(invalid_input(format!("ARN {arn} is not valid."))),
    }
    Ok(out)
}

pub fn context_keys_custom(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut keys = Vec::new();
    for doc in strings(op.input, "PolicyInputList") {
        condition_keys(&parse(&doc)?, &mut keys);
    }
    Ok(json!({ "ContextKeyNames": keys }))
}

pub fn context_keys_principal(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut keys = Vec::new();
    for (.., doc) in applied(op, op.s("PolicySourceArn"))? {
        if let Ok(v) = serde_json::from_str::<Value>(&doc) {
            condition_keys(&v, &mut keys);
        }
    }
    for doc in strings(op.input, "PolicyInputList") {
        condition_keys(&parse(&doc)?, &mut keys);
    }
    Ok(json!({ "ContextKeyNames": keys }))
}

/// The namespaces a document's `Allow` statements name outright (`ns:Action`, `ns:*`).
pub(crate) fn named_namespaces(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for st in statements(doc) {
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let actions: Vec<&str> = match st.get("Action") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for a in actions {
            if let Some((ns, _)) = a.split_once(':') {
                let ns = ns.to_ascii_lowercase();
                if !ns.is_empty() && !ns.contains(['*', '?']) && !out.contains(&ns) {
                    out.push(ns);
                }
            }
        }
    }
    out
}

/// Whether a document allows some action of `namespace` (`ns:...`, `ns:*`, `*`).
pub(crate) fn grants(doc: &Value, namespace: &str) -> bool {
    statements(doc).into_iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && match st.get("Action") {
                Some(Value::String(a)) => action_in(a, namespace),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| action_in(a, namespace)),
                _ => false,
            }
    })
}

fn action_in(action: &str, namespace: &str) -> bool {
    action == "*"
        || action
            .split_once(':')
            .is_some_and(|(ns, _)| ns.eq_ignore_ascii_case(namespace))
}

pub fn policies_granting_service_access(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let applied = applied(op, op.s("Arn"))?;
    let parsed: Vec<(Applied, Value)> = applied
        .into_iter()
        .filter_map(|a| {
            let v = serde_json::from_str(&a.5).ok()?;
            Some((a, v))
        })
        .collect();
    let mut entries = Vec::new();
    for ns in strings(op.input, "ServiceNamespaces") {
        let list: Vec<Value> = parsed
            .iter()
            .filter(|(_, doc)| grants(doc, &ns))
            .map(|((name, kind, arn, owner, who, _), _)| {
                let mut p = json!({"PolicyName": name, "PolicyType": kind});
                match arn {
                    Some(a) => p["PolicyArn"] = json!(a),
                    None => {
                        p["EntityType"] = json!(owner);
                        p["EntityName"] = json!(who);
                    }
                }
                p
            })
            .collect();
        entries.push(json!({"ServiceNamespace": ns, "Policies": list}));
    }
    Ok(json!({"PoliciesGrantingServiceAccess": entries, "IsTruncated": false}))
}

pub fn enable_outbound_federation(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut a = op.settings();
    if a.outbound_issuer.is_some() {
        return Err(AwsError::new(
            "FeatureEnabled",
            "Outbound web identity federation is already enabled for this account.",
        )
        .with_status(StatusCode::CONFLICT));
    }
    let issuer = format!(
        "https://{:016x}{:016x}.tokens.sts.global.api.aws",
        random_u64(),
        random_u64()
    );
    a.outbound_issuer = Some(issuer.clone());
    op.put_settings(a);
    Ok(json!({ "IssuerIdentifier": issuer }))
}

fn federation_disabled() -> AwsError {
    AwsError::new(
        "FeatureDisabled",
        "Outbound web identity federation is disabled for this account.",
    )
    .with_status(StatusCode::NOT_FOUND)
}

pub fn disable_outbound_federation(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut a = op.settings();
    if a.outbound_issuer.take().is_none() {
        return Err(federation_disabled());
    }
    op.put_settings(a);
    done()
}

pub fn outbound_federation_info(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let issuer = op
        .settings()
        .outbound_issuer
        .ok_or_else(federation_disabled)?;
    Ok(json!({"IssuerIdentifier": issuer, "JwtVendingEnabled": true}))
}

/// The organizations features need an organization; this account belongs to none.
pub fn no_organization(_op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "OrganizationNotFoundException",
        "The request was rejected because no organization is associated with your account.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_keys_and_grants_are_read_from_documents() {
        let doc: Value = serde_json::from_str(
            r#"{"Statement":[{"Effect":"Allow","Action":["S3:GetObject"],"Resource":"*",
                "Condition":{"StringEquals":{"aws:username":"x","s3:prefix":"p"},"Bool":{"AWS:UserName":"y"}}}]}"#,
        )
        .unwrap();
        let mut keys = Vec::new();
        condition_keys(&doc, &mut keys);
        assert_eq!(keys, ["AWS:UserName", "s3:prefix"]);
        assert!(grants(&doc, "s3"));
        assert!(!grants(&doc, "sqs"));
        let all: Value =
            serde_json::from_str(r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#).unwrap();
        assert!(grants(&all, "sqs"));
        let deny: Value =
            serde_json::from_str(r#"{"Statement":{"Effect":"Deny","Action":"*"}}"#).unwrap();
        assert!(!grants(&deny, "sqs"));
    }
}

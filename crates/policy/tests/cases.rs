//! The evaluation table (`cases.json`): policy sets, requests and the decision AWS's documented
//! evaluation logic gives, each checked against `evaluate`.

use std::collections::HashMap;

use serde_json::Value;
use snapstack_policy::{
    Caller, Decision, NamedPolicy, Policy, PolicyKind, PolicySet, Request, evaluate,
    principal_context,
};

fn kind(name: &str) -> PolicyKind {
    match name {
        "Managed" => PolicyKind::Managed,
        "InlineRole" => PolicyKind::InlineRole,
        "Trust" => PolicyKind::Trust,
        "Resource" => PolicyKind::Resource,
        "Session" => PolicyKind::Session,
        other => panic!("kind {other}"),
    }
}

fn caller(v: &Value) -> Caller {
    match v {
        Value::String(s) if s == "anonymous" => Caller::Anonymous,
        Value::String(arn) => Caller::aws(arn),
        Value::Object(m) => {
            let get = |k: &str| m.get(k).and_then(Value::as_str);
            if let (Some(session), Some(role)) = (get("session"), get("role")) {
                Caller::session(session, role)
            } else if let Some(s) = get("service") {
                Caller::Service(s.into())
            } else if let Some(s) = get("federated") {
                Caller::Federated(s.into())
            } else if let Some(s) = get("canonical") {
                Caller::CanonicalUser(s.into())
            } else {
                panic!("caller {v}")
            }
        }
        _ => panic!("caller {v}"),
    }
}

fn decision(s: &str) -> Decision {
    match s {
        "Allow" => Decision::Allow,
        "ExplicitDeny" => Decision::ExplicitDeny,
        "ImplicitDeny" => Decision::ImplicitDeny,
        other => panic!("decision {other}"),
    }
}

#[test]
fn evaluation_table() {
    let table: Value = serde_json::from_str(include_str!("cases.json")).unwrap();
    let mut policies: HashMap<String, Policy> = HashMap::new();
    for (name, p) in table["policies"].as_object().unwrap() {
        let text = serde_json::to_string(&p["document"]).unwrap();
        let parsed = Policy::parse(&text, kind(p["kind"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("policy {name}: {e}"));
        policies.insert(name.clone(), parsed);
    }
    let named = |v: &Value| -> Vec<NamedPolicy<'_>> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|n| {
                        let (id, policy) = policies.get_key_value(n.as_str().unwrap()).unwrap();
                        NamedPolicy { id, policy }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let who = caller(&case["caller"]);
        let tags: Vec<(String, String)> = case["tags"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let userid = case["userid"].as_str().unwrap_or("AIDAEXAMPLE");
        let mut request = Request::new(
            who.clone(),
            case["action"].as_str().unwrap(),
            case["resource"].as_str().unwrap(),
        );
        request.context = principal_context(&who, userid, &tags);
        if let Some(ctx) = case["context"].as_object() {
            for (k, v) in ctx {
                match v {
                    Value::Array(items) => request.context.insert_multi(
                        k,
                        items
                            .iter()
                            .map(|i| i.as_str().unwrap().to_owned())
                            .collect(),
                    ),
                    other => request.context.insert(k, other.as_str().unwrap()),
                }
            }
        }
        request.resource_account = case["resource_account"].as_str().map(str::to_owned);
        let set = PolicySet {
            identity: named(&case["identity"]),
            resource: named(&case["resource_policies"]),
            permissions_boundary: case["boundary"].as_str().map(|n| {
                let (id, policy) = policies.get_key_value(n).unwrap();
                NamedPolicy { id, policy }
            }),
            session: named(&case["session"]),
        };
        let got = evaluate(&request, &set);
        let want = decision(case["expect"].as_str().unwrap());
        if got.decision != want {
            failures.push(format!(
                "{name}: expected {want:?}, got {:?} ({:?})",
                got.decision, got.matched
            ));
            continue;
        }
        if let Some(matched) = case["matched"].as_array() {
            let got: Vec<String> = got
                .matched
                .iter()
                .map(|m| format!("{}#{}", m.policy_id, m.index))
                .collect();
            let want: Vec<String> = matched
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            if got != want {
                failures.push(format!("{name}: matched {got:?}, expected {want:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

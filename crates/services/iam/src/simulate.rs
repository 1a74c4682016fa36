//! The policy simulator: SimulateCustomPolicy and SimulatePrincipalPolicy, answered by the
//! policy crate's evaluator (the decision logic AWS documents), one result per action and
//! resource.

use serde_json::{Map, Value, json};
use snapstack_policy::{
    Caller, Context, Evaluation, NamedPolicy, Policy, PolicyKind, PolicySet, Request,
    principal_context, statement_positions,
};
use snapstack_protocol::errors::AwsError;

use crate::policies::{self, PolicyRef};
use crate::util::{self, invalid_input, no_such};
use crate::{Group, Op};

/// How many action × resource results one simulation may produce (AWS bounds the inputs to
/// lists of 100s; this bounds their product).
const MAX_RESULTS: usize = 10_000;

/// A policy the simulation uses: its id and type as MatchedStatements names them, its text
/// (for statement positions) and its parsed form.
struct Source {
    id: String,
    kind: &'static str,
    text: String,
    policy: Policy,
}

fn parse(
    id: String,
    kind: &'static str,
    text: &str,
    as_kind: PolicyKind,
) -> Result<Source, AwsError> {
    let policy = Policy::parse(text, as_kind).map_err(|e| crate::util::malformed(e.message()))?;
    Ok(Source {
        id,
        kind,
        text: text.to_string(),
        policy,
    })
}

/// The documents of a policy input list (`PolicyInputList`, ...), ids `PolicyInputList.1`...
fn inputs(op: &Op<'_, '_>, member: &str) -> Result<Vec<Source>, AwsError> {
    util::strings(op.input, member)
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            parse(
                format!("{member}.{}", i + 1),
                "none",
                doc,
                PolicyKind::InlineRole,
            )
        })
        .collect()
}

/// A managed policy's default version, by ARN.
fn managed(op: &Op<'_, '_>, arn: &str) -> Result<Option<Source>, AwsError> {
    let Some(p) = policies::find(op, arn) else {
        return Ok(None);
    };
    let (kind, text) = match &p {
        PolicyRef::Local(m) => (
            "user-managed",
            m.versions
                .iter()
                .find(|v| v.number == m.default_version)
                .map(|v| v.document.clone())
                .unwrap_or_default(),
        ),
        PolicyRef::Aws(a) => ("aws-managed", a.document.clone()),
    };
    // Stored documents were checked when they were put; one that no longer parses (an older
    // check) is left out rather than failing the simulation.
    Ok(parse(arn.to_string(), kind, &text, PolicyKind::Managed).ok())
}

/// What a principal's identity brings: its (and its groups') inline and attached policies, and
/// its permissions boundary.
struct Principal {
    caller: Caller,
    user_id: String,
    tags: Vec<(String, String)>,
    identity: Vec<Source>,
    boundary: Option<Source>,
}

fn collect(
    op: &Op<'_, '_>,
    owner_kind: &'static str,
    inline: &[(String, String)],
    attached: &[String],
    out: &mut Vec<Source>,
) -> Result<(), AwsError> {
    for (name, doc) in inline {
        if let Ok(s) = parse(name.clone(), owner_kind, doc, PolicyKind::InlineRole) {
            out.push(s);
        }
    }
    for arn in attached {
        out.extend(managed(op, arn)?);
    }
    Ok(())
}

fn principal(op: &Op<'_, '_>, arn: &str) -> Result<Principal, AwsError> {
    let bad = || invalid_input(format!("Invalid ARN: {arn}"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, "iam", _, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    if *account != op.account {
        return Err(no_such(format!("Entity {arn} does not exist.")));
    }
    let (kind, rest) = resource.split_once('/').ok_or_else(bad)?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let mut identity = Vec::new();
    let (boundary, user_id, tags) = match kind {
        "user" => {
            let u = op.user(name)?;
            collect(op, "user", &u.inline, &u.attached, &mut identity)?;
            let groups: Vec<Group> = op
                .groups()
                .into_iter()
                .filter(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
                .collect();
            for g in &groups {
                collect(op, "group", &g.inline, &g.attached, &mut identity)?;
            }
            (u.boundary.clone(), u.id.clone(), u.tags.clone())
        }
        "group" => {
            let g = op.group(name)?;
            collect(op, "group", &g.inline, &g.attached, &mut identity)?;
            (None, g.id.clone(), Vec::new())
        }
        "role" => {
            let r = op.role(name)?;
            collect(op, "role", &r.inline, &r.attached, &mut identity)?;
            (r.boundary.clone(), r.id.clone(), r.tags.clone())
        }
        _ => return Err(bad()),
    };
    let boundary = match boundary {
        Some(b) => managed(op, &b)?,
        None => None,
    };
    Ok(Principal {
        caller: Caller::aws(arn),
        user_id,
        tags: tags.into_iter().map(|t| (t.0, t.1)).collect(),
        identity,
        boundary,
    })
}

/// `ContextEntries` as condition keys.
fn context_entries(op: &Op<'_, '_>, ctx: &mut Context) -> Result<(), AwsError> {
    let Some(Value::Array(entries)) = op.input.get("ContextEntries") else {
        return Ok(());
    };
    for e in entries {
        let name = e["ContextKeyName"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(invalid_input("ContextKeyName is required"));
        }
        let values: Vec<String> = e["ContextKeyValues"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let multi = e["ContextKeyType"]
            .as_str()
            .is_some_and(|t| t.ends_with("List"));
        if multi {
            ctx.insert_multi(name, values);
        } else if let Some(v) = values.into_iter().next() {
            ctx.insert(name, v);
        }
    }
    Ok(())
}

fn statement_out(sources: &[&Source], m: &snapstack_policy::MatchedStatement) -> Value {
    let src = sources.iter().find(|s| s.id == m.policy_id);
    let mut out = json!({
        "SourcePolicyId": m.policy_id,
        "SourcePolicyType": src.map_or("none", |s| s.kind),
    });
    if let Some(s) = src
        && let Some(pos) = statement_positions(&s.text)
        && let Some((start, end)) = pos.get(m.index)
    {
        out["StartPosition"] = json!({"Line": start.line, "Column": start.column});
        out["EndPosition"] = json!({"Line": end.line, "Column": end.column});
    }
    out
}

/// Run the simulation for every action × resource; `principal` is `None` for a custom policy.
fn simulate(op: &Op<'_, '_>, principal: Option<Principal>) -> Result<Value, AwsError> {
    let actions = util::strings(op.input, "ActionNames");
    if actions.is_empty() {
        return Err(invalid_input("ActionNames must not be empty"));
    }
    let mut resources = util::strings(op.input, "ResourceArns");
    if resources.is_empty() {
        resources.push("*".to_string());
    }
    if actions.len().saturating_mul(resources.len()) > MAX_RESULTS {
        return Err(invalid_input(format!(
            "The simulation would produce more than {MAX_RESULTS} results"
        )));
    }
    let mut identity = inputs(op, "PolicyInputList")?;
    let custom_boundary = inputs(op, "PermissionsBoundaryPolicyInputList")?;
    let resource_policy = match op.opt("ResourcePolicy") {
        Some(doc) => Some(parse(
            "ResourcePolicy".into(),
            "resource",
            doc,
            PolicyKind::Resource,
        )?),
        None => None,
    };
    let (caller, user_id, tags, boundary) = match principal {
        Some(p) => {
            identity.extend(p.identity);
            (p.caller, p.user_id, p.tags, p.boundary)
        }
        None => (
            Caller::aws(&format!("arn:aws:iam::{}:user/SimulatedUser", op.account)),
            String::new(),
            Vec::new(),
            None,
        ),
    };
    let caller = match op.opt("CallerArn") {
        Some(arn) => Caller::aws(arn),
        None => caller,
    };
    // A boundary given in the request replaces the principal's own.
    let boundaries: Vec<Source> = if custom_boundary.is_empty() {
        boundary.into_iter().collect()
    } else {
        custom_boundary
    };
    let mut ctx = principal_context(&caller, &user_id, &tags);
    context_entries(op, &mut ctx)?;
    let resource_account = op
        .opt("ResourceOwner")
        .map(|o| o.split(':').nth(4).map_or(o, |a| a).to_string());
    let all: Vec<&Source> = identity
        .iter()
        .chain(boundaries.iter())
        .chain(resource_policy.iter())
        .collect();
    let mut keys: Vec<String> = all.iter().flat_map(|s| s.policy.context_keys()).collect();
    keys.sort();
    keys.dedup();
    let mut results = Vec::new();
    for action in &actions {
        for resource in &resources {
            let mut req = Request::new(caller.clone(), action, resource);
            req.context = ctx.clone();
            req.resource_account = resource_account.clone();
            let mut set = PolicySet {
                identity: identity
                    .iter()
                    .map(|s| NamedPolicy {
                        id: &s.id,
                        policy: &s.policy,
                    })
                    .collect(),
                resource: resource_policy
                    .iter()
                    .map(|s| NamedPolicy {
                        id: &s.id,
                        policy: &s.policy,
                    })
                    .collect(),
                ..PolicySet::default()
            };
            // Several boundaries: each must allow (the most restrictive decides).
            let mut eval: Option<Evaluation> = None;
            if boundaries.is_empty() {
                eval = Some(snapstack_policy::evaluate(&req, &set));
            } else {
                for b in &boundaries {
                    set.permissions_boundary = Some(NamedPolicy {
                        id: &b.id,
                        policy: &b.policy,
                    });
                    let e = snapstack_policy::evaluate(&req, &set);
                    let worse = eval.as_ref().is_none_or(|prev| {
                        prev.decision == snapstack_policy::Decision::Allow
                            && e.decision != snapstack_policy::Decision::Allow
                    });
                    if worse {
                        eval = Some(e);
                    }
                }
            }
            let eval = eval.expect("one evaluation at least");
            let missing: Vec<&String> = keys.iter().filter(|k| ctx.get(k).is_none()).collect();
            let mut r = json!({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": eval.decision.as_simulation_str(),
                "MatchedStatements": eval.matched.iter().map(|m| statement_out(&all, m)).collect::<Vec<_>>(),
                "MissingContextValues": missing,
            });
            if resource_policy.is_some() {
                let mut details = Map::new();
                details.insert(
                    "IAM Policy".into(),
                    json!(eval.decision.as_simulation_str()),
                );
                r["EvalDecisionDetails"] = Value::Object(details);
            }
            results.push(r);
        }
    }
    Ok(util::page(op.input, "EvaluationResults", results))
}

pub fn simulate_custom(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    simulate(op, None)
}

pub fn simulate_principal(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicySourceArn").to_string();
    let p = principal(op, &arn)?;
    simulate(op, Some(p))
}

/// Whether the identity `source` (a user or role ARN of the account; `caller_arn` the calling
/// identity, a session of the role for one) may already do everything `asked` allows, as
/// `GetDelegationRequest`'s permission check asks: `ALLOWED`, `DENIED` (an action on a
/// resource, both named without wildcards, that its policies do not allow), or `UNSURE`
/// (conditions, negated elements, or wildcards the evaluator cannot settle).
pub(crate) fn covers(
    op: &Op<'_, '_>,
    source: &str,
    caller_arn: &str,
    asked: &Policy,
) -> Result<&'static str, AwsError> {
    let p = principal(op, source)?;
    let caller = if caller_arn != source {
        Caller::session(caller_arn, source)
    } else {
        Caller::aws(caller_arn)
    };
    let ctx = principal_context(&caller, &p.user_id, &p.tags);
    let set = PolicySet {
        identity: p
            .identity
            .iter()
            .map(|s| NamedPolicy {
                id: &s.id,
                policy: &s.policy,
            })
            .collect(),
        permissions_boundary: p.boundary.as_ref().map(|s| NamedPolicy {
            id: &s.id,
            policy: &s.policy,
        }),
        ..PolicySet::default()
    };
    let mut unsure = false;
    for s in &asked.statements {
        if s.effect != snapstack_policy::Effect::Allow {
            continue;
        }
        let (Some(actions), Some(resources)) = (&s.action, &s.resource) else {
            unsure = true;
            continue;
        };
        if actions.negated || resources.negated {
            unsure = true;
            continue;
        }
        unsure |= !s.conditions.is_empty();
        let wild = |x: &str| x.contains(['*', '?']);
        let allows = |action: &str, resource: &str| {
            let mut req = Request::new(caller.clone(), action, resource);
            req.context = ctx.clone();
            snapstack_policy::evaluate(&req, &set).decision == snapstack_policy::Decision::Allow
        };
        for action in &actions.values.items {
            for resource in &resources.values.items {
                if allows(action, resource) {
                    continue;
                }
                if wild(action) {
                    unsure = true;
                    continue;
                }
                // A resource pattern: one resource it names that is denied settles it.
                let sample = resource.replace(['*', '?'], "x");
                if !wild(resource) || !allows(action, &sample) {
                    return Ok("DENIED");
                }
                unsure = true;
            }
        }
    }
    Ok(if unsure { "UNSURE" } else { "ALLOWED" })
}

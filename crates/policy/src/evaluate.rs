//! Policy evaluation as AWS documents it
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//!
//! 1. An explicit `Deny` in any policy (identity, resource, permissions boundary, session)
//!    decides: `ExplicitDeny`.
//! 2. Within one account, a resource-based policy that names the caller's own ARN (an IAM user
//!    or a role session) allows on its own; one that names the role (of a session) or `*`
//!    allows within the limits of the permissions boundary and session policies; one that names
//!    only the account delegates to the identity-based policies.
//! 3. Identity-based policies allow only within the permissions boundary (when there is one) and
//!    the session policies (when there are some).
//! 4. Across accounts, the identity side (3) and the resource-based policy must both allow.
//! 5. Otherwise: `ImplicitDeny`.

use crate::condition;
use crate::context::Context;
use crate::document::{Effect, Policy, PrincipalSpec, PrincipalType, Statement};
use crate::wildcard;

/// Who sends the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An IAM identity: a user, a role session, a federated user, or the account's root.
    Aws {
        /// `arn:aws:iam::123456789012:user/path/name`,
        /// `arn:aws:sts::123456789012:assumed-role/name/session`,
        /// `arn:aws:sts::123456789012:federated-user/name`, `arn:aws:iam::123456789012:root`.
        arn: String,
        account: String,
        /// For a session, what it was made from: the role's ARN (with its path) for a role
        /// session, the IAM user's ARN for a federated user session (GetFederationToken). A
        /// resource-based policy naming it grants within the limits of the session policies
        /// (and of the permissions boundary).
        role_arn: Option<String>,
    },
    /// An AWS service principal (`sns.amazonaws.com`).
    Service(String),
    /// A web identity or SAML provider (`cognito-identity.amazonaws.com`, a provider ARN).
    Federated(String),
    /// An S3 canonical user ID.
    CanonicalUser(String),
    /// An unsigned request.
    Anonymous,
}

impl Caller {
    /// The caller for an IAM user or the root, from its ARN.
    pub fn aws(arn: &str) -> Caller {
        Caller::Aws {
            arn: arn.to_owned(),
            account: arn_account(arn),
            role_arn: None,
        }
    }

    /// The caller for a role session.
    pub fn session(session_arn: &str, role_arn: &str) -> Caller {
        Caller::Aws {
            arn: session_arn.to_owned(),
            account: arn_account(session_arn),
            role_arn: Some(role_arn.to_owned()),
        }
    }

    fn account(&self) -> Option<&str> {
        match self {
            Caller::Aws { account, .. } => Some(account),
            _ => None,
        }
    }

    fn is_root(&self) -> bool {
        match self {
            Caller::Aws { arn, account, .. } => *arn == root_arn(account),
            _ => false,
        }
    }
}

fn arn_account(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or("").to_owned()
}

fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// One request to decide.
#[derive(Clone, Debug)]
pub struct Request {
    pub caller: Caller,
    /// `service:Action`.
    pub action: String,
    /// The resource's ARN (`*` when the action has none).
    pub resource: String,
    /// The account owning the resource; `None` means the caller's.
    pub resource_account: Option<String>,
    /// Condition keys (the global ones a request supplies, the service's own).
    pub context: Context,
}

impl Request {
    pub fn new(caller: Caller, action: &str, resource: &str) -> Request {
        Request {
            caller,
            action: action.to_owned(),
            resource: resource.to_owned(),
            resource_account: None,
            context: Context::default(),
        }
    }
}

/// A policy and the name it is reported under (a policy ARN, `user/inline-name`, ...).
#[derive(Clone, Copy, Debug)]
pub struct NamedPolicy<'a> {
    pub id: &'a str,
    pub policy: &'a Policy,
}

/// Every policy that applies to a request.
#[derive(Clone, Debug, Default)]
pub struct PolicySet<'a> {
    /// The caller's identity-based policies (its own, its groups', its role's).
    pub identity: Vec<NamedPolicy<'a>>,
    /// The resource's policy (a bucket policy, a trust policy for AssumeRole, ...).
    pub resource: Vec<NamedPolicy<'a>>,
    /// The caller's permissions boundary.
    pub permissions_boundary: Option<NamedPolicy<'a>>,
    /// The session policies of a role or federated session.
    pub session: Vec<NamedPolicy<'a>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    /// The decision as IAM's policy simulator spells it (`EvalDecision`).
    pub fn as_simulation_str(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }
}

/// Which kind of policy a statement came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Identity,
    Resource,
    PermissionsBoundary,
    Session,
}

/// A statement that took part in a decision (SimulatePrincipalPolicy's `MatchedStatements`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedStatement {
    pub source: Source,
    pub policy_id: String,
    /// The statement's index in its policy.
    pub index: usize,
    pub sid: Option<String>,
}

/// The decision and the statements that made it (none for an implicit deny).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    pub matched: Vec<MatchedStatement>,
}

/// How a resource-based statement names the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Naming {
    /// Names only the account: delegates to the identity side.
    Account,
    /// `*` or the session's role: limited by the boundary and session policies.
    Limited,
    /// The caller's own ARN (user, session), or a non-IAM caller: allows on its own.
    Direct,
}

struct Hit {
    matched: MatchedStatement,
    effect: Effect,
    naming: Naming,
}

/// Decide a request.
pub fn evaluate(request: &Request, policies: &PolicySet<'_>) -> Evaluation {
    let mut hits = Vec::new();
    for p in &policies.identity {
        collect(request, *p, Source::Identity, &mut hits);
    }
    for p in &policies.resource {
        collect(request, *p, Source::Resource, &mut hits);
    }
    if let Some(p) = policies.permissions_boundary {
        collect(request, p, Source::PermissionsBoundary, &mut hits);
    }
    for p in &policies.session {
        collect(request, *p, Source::Session, &mut hits);
    }
    let denies: Vec<MatchedStatement> = hits
        .iter()
        .filter(|h| h.effect == Effect::Deny)
        .map(|h| h.matched.clone())
        .collect();
    if !denies.is_empty() {
        return Evaluation {
            decision: Decision::ExplicitDeny,
            matched: denies,
        };
    }
    let allows = |source: Source| -> Vec<&Hit> {
        hits.iter().filter(|h| h.matched.source == source).collect()
    };
    let identity = allows(Source::Identity);
    let resource = allows(Source::Resource);
    let boundary = allows(Source::PermissionsBoundary);
    let session = allows(Source::Session);
    let boundary_ok = policies.permissions_boundary.is_none() || !boundary.is_empty();
    let session_ok = policies.session.is_empty() || !session.is_empty();
    let allow = |parts: &[&[&Hit]]| Evaluation {
        decision: Decision::Allow,
        matched: parts
            .iter()
            .flat_map(|p| p.iter().map(|h| h.matched.clone()))
            .collect(),
    };
    let deny = Evaluation {
        decision: Decision::ImplicitDeny,
        matched: Vec::new(),
    };

    let Some(account) = request.caller.account() else {
        // Services, federated and anonymous callers have only resource-based policies.
        return if resource.is_empty() {
            deny
        } else {
            allow(&[&resource])
        };
    };
    let root = request.caller.is_root();
    let identity_side = (root || !identity.is_empty()) && boundary_ok && session_ok;
    let same_account = request
        .resource_account
        .as_deref()
        .is_none_or(|a| a == account);
    if !same_account {
        return if identity_side && !resource.is_empty() {
            allow(&[&identity, &boundary, &session, &resource])
        } else {
            deny
        };
    }
    let direct: Vec<&Hit> = resource
        .iter()
        .copied()
        .filter(|h| h.naming == Naming::Direct)
        .collect();
    if !direct.is_empty() {
        return allow(&[&direct]);
    }
    let limited: Vec<&Hit> = resource
        .iter()
        .copied()
        .filter(|h| h.naming == Naming::Limited)
        .collect();
    if !limited.is_empty() && boundary_ok && session_ok {
        return allow(&[&limited, &boundary, &session]);
    }
    if identity_side {
        return allow(&[&identity, &boundary, &session]);
    }
    deny
}

/// Every statement of `policy` that applies to the request.
fn collect(request: &Request, named: NamedPolicy<'_>, source: Source, hits: &mut Vec<Hit>) {
    let vars = named.policy.variables_enabled().then_some(&request.context);
    for (index, s) in named.policy.statements.iter().enumerate() {
        let naming = if source == Source::Resource {
            match principal_naming(s, &request.caller) {
                Some(n) => n,
                None => continue,
            }
        } else {
            Naming::Direct
        };
        if statement_applies(s, request, vars) {
            hits.push(Hit {
                matched: MatchedStatement {
                    source,
                    policy_id: named.id.to_owned(),
                    index,
                    sid: s.sid.clone(),
                },
                effect: s.effect,
                naming,
            });
        }
    }
}

/// Whether the statement's action, resource and conditions match (its principal aside).
pub fn statement_applies(s: &Statement, request: &Request, vars: Option<&Context>) -> bool {
    let Some(action) = &s.action else {
        return false;
    };
    let action_hit = action
        .values
        .items
        .iter()
        .any(|p| wildcard::glob(p, &request.action, true));
    if action_hit == action.negated {
        return false;
    }
    if let Some(resource) = &s.resource {
        let hit = resource.values.items.iter().any(|p| {
            if vars.is_some() && p.contains("${") {
                wildcard::compile(p, vars)
                    .is_some_and(|t| wildcard::arn_matches(&t, &request.resource))
            } else {
                wildcard::arn_glob(p, &request.resource)
            }
        });
        if hit == resource.negated {
            return false;
        }
    }
    s.conditions
        .iter()
        .all(|c| condition::evaluate(c, &request.context, vars))
}

/// How the statement's `Principal`/`NotPrincipal` names the caller; `None` if it does not.
fn principal_naming(s: &Statement, caller: &Caller) -> Option<Naming> {
    let block = s.principal.as_ref()?;
    if block.negated {
        // The statement applies unless every entity of the request (the account, the role,
        // the session or user) is listed.
        let listed = |entity: &str| match &block.spec {
            PrincipalSpec::Any => true,
            PrincipalSpec::Named(entries) => entries.iter().any(|(t, values)| {
                values.items.iter().any(|v| match (t, caller) {
                    (PrincipalType::Aws, Caller::Aws { .. }) => {
                        v == "*" || normalize_aws(v) == entity
                    }
                    (PrincipalType::Service, Caller::Service(_))
                    | (PrincipalType::Federated, Caller::Federated(_))
                    | (PrincipalType::CanonicalUser, Caller::CanonicalUser(_)) => v == entity,
                    _ => false,
                })
            }),
        };
        let all_listed = entities(caller).iter().all(|e| listed(e));
        return (!all_listed).then_some(Naming::Limited);
    }
    match &block.spec {
        PrincipalSpec::Any => Some(wildcard_naming(caller)),
        PrincipalSpec::Named(entries) => entries
            .iter()
            .flat_map(|(t, values)| values.items.iter().map(move |v| (*t, v)))
            .filter_map(|(t, v)| name_one(t, v, caller))
            .max(),
    }
}

fn wildcard_naming(caller: &Caller) -> Naming {
    match caller {
        Caller::Aws { .. } => Naming::Limited,
        _ => Naming::Direct,
    }
}

/// A 12-digit account as its root ARN; anything else as written.
fn normalize_aws(v: &str) -> String {
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        root_arn(v)
    } else {
        v.to_owned()
    }
}

/// The entities a request is made by, as `NotPrincipal` sees them.
fn entities(caller: &Caller) -> Vec<String> {
    match caller {
        Caller::Aws {
            arn,
            account,
            role_arn,
        } => {
            let mut e = vec![root_arn(account)];
            e.extend(role_arn.iter().cloned());
            if *arn != e[0] {
                e.push(arn.clone());
            }
            e
        }
        Caller::Service(s) | Caller::Federated(s) | Caller::CanonicalUser(s) => vec![s.clone()],
        Caller::Anonymous => vec!["*".into()],
    }
}

fn name_one(t: PrincipalType, v: &str, caller: &Caller) -> Option<Naming> {
    match (t, caller) {
        (PrincipalType::Aws, _) if v == "*" => Some(wildcard_naming(caller)),
        (
            PrincipalType::Aws,
            Caller::Aws {
                arn,
                account,
                role_arn,
            },
        ) => {
            let v = normalize_aws(v);
            if v == *arn && !caller.is_root() {
                Some(Naming::Direct)
            } else if role_arn.as_deref() == Some(v.as_str()) {
                Some(Naming::Limited)
            } else if v == root_arn(account) {
                Some(if caller.is_root() {
                    Naming::Direct
                } else {
                    Naming::Account
                })
            } else {
                None
            }
        }
        (PrincipalType::Service, Caller::Service(s))
        | (PrincipalType::Federated, Caller::Federated(s))
        | (PrincipalType::CanonicalUser, Caller::CanonicalUser(s)) => {
            (v == s).then_some(Naming::Direct)
        }
        _ => None,
    }
}

/// The global condition keys describing the caller: `aws:PrincipalArn`, `aws:PrincipalAccount`,
/// `aws:PrincipalType`, `aws:userid`, `aws:username` (IAM users), `aws:PrincipalTag/<key>`.
pub fn principal_context(caller: &Caller, user_id: &str, tags: &[(String, String)]) -> Context {
    let mut ctx = Context::default();
    if let Caller::Aws {
        arn,
        account,
        role_arn,
    } = caller
    {
        let principal_arn = match role_arn {
            Some(role) if arn.contains(":assumed-role/") => role.clone(),
            _ => arn.clone(),
        };
        ctx.insert("aws:PrincipalArn", principal_arn);
        ctx.insert("aws:PrincipalAccount", account.clone());
        ctx.insert("aws:userid", user_id);
        let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
        let kind = if caller.is_root() {
            "Account"
        } else if resource.starts_with("user/") {
            let name = resource.rsplit('/').next().unwrap_or("");
            ctx.insert("aws:username", name);
            "User"
        } else if resource.starts_with("assumed-role/") {
            "AssumedRole"
        } else if resource.starts_with("federated-user/") {
            "FederatedUser"
        } else {
            "User"
        };
        ctx.insert("aws:PrincipalType", kind);
        for (k, v) in tags {
            ctx.insert(&format!("aws:PrincipalTag/{k}"), v.clone());
        }
    } else if matches!(caller, Caller::Anonymous) {
        ctx.insert("aws:PrincipalType", "Anonymous");
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::PolicyKind;

    const USER: &str = "arn:aws:iam::111122223333:user/team/alice";

    #[test]
    fn principal_keys() {
        let tags = [("team".to_owned(), "blue".to_owned())];
        let ctx = principal_context(&Caller::aws(USER), "AIDA1", &tags);
        assert_eq!(ctx.single("aws:username"), Some("alice"));
        assert_eq!(ctx.single("AWS:UserId"), Some("AIDA1"));
        assert_eq!(ctx.single("aws:PrincipalAccount"), Some("111122223333"));
        assert_eq!(ctx.single("aws:PrincipalType"), Some("User"));
        assert_eq!(ctx.single("aws:principaltag/team"), Some("blue"));
        let session = Caller::session(
            "arn:aws:sts::111122223333:assumed-role/R/s",
            "arn:aws:iam::111122223333:role/p/R",
        );
        let ctx = principal_context(&session, "AROA1:s", &[]);
        assert_eq!(ctx.single("aws:username"), None);
        assert_eq!(
            ctx.single("aws:PrincipalArn"),
            Some("arn:aws:iam::111122223333:role/p/R")
        );
        assert_eq!(ctx.single("aws:PrincipalType"), Some("AssumedRole"));
        let root = principal_context(&Caller::aws("arn:aws:iam::111122223333:root"), "1", &[]);
        assert_eq!(root.single("aws:PrincipalType"), Some("Account"));
        assert_eq!(
            principal_context(&Caller::Anonymous, "", &[]).single("aws:PrincipalType"),
            Some("Anonymous")
        );
    }

    #[test]
    fn matched_statements_name_their_source() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},
                {"Sid":"B","Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#,
            PolicyKind::Managed,
        )
        .unwrap();
        let set = PolicySet {
            identity: vec![NamedPolicy {
                id: "arn:aws:iam::111122223333:policy/p",
                policy: &p,
            }],
            ..PolicySet::default()
        };
        let e = evaluate(&Request::new(Caller::aws(USER), "s3:GetObject", "*"), &set);
        assert_eq!(e.decision, Decision::Allow);
        assert_eq!(e.decision.as_simulation_str(), "allowed");
        let sids: Vec<_> = e
            .matched
            .iter()
            .map(|m| m.sid.as_deref().unwrap())
            .collect();
        assert_eq!(sids, ["A", "B"]);
        assert!(e.matched.iter().all(|m| m.source == Source::Identity));
        let e = evaluate(
            &Request::new(Caller::aws(USER), "sqs:SendMessage", "*"),
            &set,
        );
        assert_eq!((e.decision, e.matched.len()), (Decision::ImplicitDeny, 0));
    }

    #[test]
    fn context_keys_are_listed_once() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:*","Resource":"*",
                 "Condition":{"StringEquals":{"aws:SourceVpc":"v"},"Null":{"AWS:SourceVPC":"false"},
                              "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
            PolicyKind::Managed,
        )
        .unwrap();
        assert_eq!(p.context_keys(), ["aws:sourceip", "aws:sourcevpc"]);
    }

    #[test]
    fn trust_principal_wildcards_are_refused() {
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::*:role/x"},"Action":"sts:AssumeRole"}}"#;
        assert_eq!(
            Policy::parse(doc, PolicyKind::Trust).unwrap_err().message(),
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::*:role/x\""
        );
    }
}

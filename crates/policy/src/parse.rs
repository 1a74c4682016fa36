//! Parsing and validating a policy document the way IAM does, with IAM's `MalformedPolicyDocument`
//! messages, in the order IAM checks them: size, JSON grammar ("Syntax errors in policy."),
//! version, legacy parsing, principals for the kind of policy, statement IDs, actions,
//! resources, resource and action formats.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::condition::{self, Operator};
use crate::document::{
    Condition, Effect, Patterns, Policy, PrincipalBlock, PrincipalSpec, PrincipalType, Statement,
    Values, Version,
};

/// Where a policy document is used: it decides the size limit and which elements are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A customer managed policy (CreatePolicy, CreatePolicyVersion); also a permissions boundary.
    Managed,
    /// An inline policy of a user (PutUserPolicy).
    InlineUser,
    /// An inline policy of a group (PutGroupPolicy).
    InlineGroup,
    /// An inline policy of a role (PutRolePolicy).
    InlineRole,
    /// A role's trust policy (CreateRole, UpdateAssumeRolePolicy).
    Trust,
    /// A resource-based policy (S3 bucket, SQS queue, SNS topic, KMS key, ...).
    Resource,
    /// A session policy passed to AssumeRole / GetFederationToken.
    Session,
}

impl PolicyKind {
    /// The size limit in characters, not counting white space; `None` when IAM sets none here
    /// (resource policies are limited by their own services).
    pub fn size_limit(self) -> Option<usize> {
        match self {
            PolicyKind::Managed => Some(6_144),
            PolicyKind::InlineUser => Some(2_048),
            PolicyKind::InlineGroup => Some(5_120),
            PolicyKind::InlineRole => Some(10_240),
            PolicyKind::Trust => Some(2_048),
            PolicyKind::Session => Some(2_048),
            PolicyKind::Resource => None,
        }
    }

    /// Identity-based kinds: no principal allowed, resources required.
    pub fn is_identity(self) -> bool {
        matches!(
            self,
            PolicyKind::Managed
                | PolicyKind::InlineUser
                | PolicyKind::InlineGroup
                | PolicyKind::InlineRole
                | PolicyKind::Session
        )
    }
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// `MalformedPolicyDocument` with IAM's message.
    Malformed(String),
    /// The document is over its kind's size limit (`LimitExceeded` in IAM).
    TooLarge { kind: PolicyKind, limit: usize },
}

impl PolicyError {
    fn malformed(m: impl Into<String>) -> PolicyError {
        PolicyError::Malformed(m.into())
    }

    /// The error code IAM (or STS, for session policies) answers with.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Malformed(_) => "MalformedPolicyDocument",
            PolicyError::TooLarge {
                kind: PolicyKind::Session,
                ..
            } => "PackedPolicyTooLarge",
            PolicyError::TooLarge { .. } => "LimitExceeded",
        }
    }

    /// IAM's message.
    pub fn message(&self) -> String {
        self.message_for("")
    }

    /// IAM's message, naming the user, group or role an inline policy was put on.
    pub fn message_for(&self, entity: &str) -> String {
        match self {
            PolicyError::Malformed(m) => m.clone(),
            PolicyError::TooLarge { kind, limit } => {
                let who = match kind {
                    PolicyKind::InlineUser => "user",
                    PolicyKind::InlineGroup => "group",
                    PolicyKind::InlineRole => "role",
                    PolicyKind::Managed | PolicyKind::Resource => {
                        return format!("Cannot exceed quota for PolicySize: {limit}");
                    }
                    PolicyKind::Trust => {
                        return format!("Cannot exceed quota for ACLSizePerRole: {limit}");
                    }
                    PolicyKind::Session => {
                        return "Packed policy consumes more than the allowed size.".into();
                    }
                };
                if entity.is_empty() {
                    format!("Maximum policy size of {limit} bytes exceeded for {who}")
                } else {
                    format!("Maximum policy size of {limit} bytes exceeded for {who} {entity}")
                }
            }
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for PolicyError {}

pub(crate) const SYNTAX: &str = "Syntax errors in policy.";
const LEGACY: &str = "The policy failed legacy parsing";

const TOP_ELEMENTS: [&str; 3] = ["Version", "Id", "Statement"];
const STATEMENT_ELEMENTS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// The number of characters IAM counts against the size limits: all but white space.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

impl Policy {
    /// Parse and validate `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if let Some(limit) = kind.size_limit()
            && policy_size(text) > limit
        {
            return Err(PolicyError::TooLarge { kind, limit });
        }
        Self::parse_stored(text, kind)
    }

    /// [`Policy::parse`] without the size limit: for documents checked when they were stored
    /// (AWS managed policies are larger than a customer's may be).
    pub fn parse_stored(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| PolicyError::malformed(SYNTAX))?;
        let raw = syntax(&value).ok_or_else(|| PolicyError::malformed(SYNTAX))?;
        raw.validate(kind)?;
        Ok(raw.policy)
    }
}

/// A document that passed the grammar, with what later checks need of its raw form.
struct Raw {
    policy: Policy,
    /// Each statement's `Effect` exactly as written (the grammar accepts any case; legacy
    /// parsing wants `Allow`/`Deny`).
    effects: Vec<String>,
}

fn strings(v: &Value) -> Option<Values> {
    match v {
        Value::String(s) => Some(Values::one(s.clone())),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some(Values { items, list: true })
        }
        _ => None,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn condition_values(v: &Value) -> Option<Values> {
    match v {
        Value::Array(items) => {
            let items = items.iter().map(scalar).collect::<Option<Vec<_>>>()?;
            Some(Values { items, list: true })
        }
        other => scalar(other).map(Values::one),
    }
}

/// The JSON grammar. `None` is "Syntax errors in policy."
fn syntax(value: &Value) -> Option<Raw> {
    let doc = value.as_object()?;
    if doc.keys().any(|k| !TOP_ELEMENTS.contains(&k.as_str())) {
        return None;
    }
    let (version, version_given) = match doc.get("Version") {
        None => (Version::V2008_10_17, false),
        Some(Value::String(v)) if v == "2012-10-17" => (Version::V2012_10_17, true),
        Some(Value::String(v)) if v == "2008-10-17" => (Version::V2008_10_17, true),
        Some(_) => return None,
    };
    let id = match doc.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    let (raw_statements, statement_list): (Vec<&Value>, bool) = match doc.get("Statement")? {
        Value::Array(items) => (items.iter().collect(), true),
        one @ Value::Object(_) => (vec![one], false),
        _ => return None,
    };
    if raw_statements.is_empty() {
        return None;
    }
    let mut statements = Vec::with_capacity(raw_statements.len());
    let mut effects = Vec::with_capacity(raw_statements.len());
    for s in raw_statements {
        let (statement, effect) = statement_syntax(s.as_object()?)?;
        statements.push(statement);
        effects.push(effect);
    }
    Some(Raw {
        policy: Policy {
            version,
            version_given,
            id,
            statements,
            statement_list,
        },
        effects,
    })
}

fn statement_syntax(s: &Map<String, Value>) -> Option<(Statement, String)> {
    if s.keys().any(|k| !STATEMENT_ELEMENTS.contains(&k.as_str())) {
        return None;
    }
    let both = |a: &str, b: &str| s.contains_key(a) && s.contains_key(b);
    if both("Action", "NotAction")
        || both("Resource", "NotResource")
        || both("Principal", "NotPrincipal")
    {
        return None;
    }
    let effect_text = s.get("Effect")?.as_str()?.to_owned();
    let effect = if effect_text.eq_ignore_ascii_case("allow") {
        Effect::Allow
    } else if effect_text.eq_ignore_ascii_case("deny") {
        Effect::Deny
    } else {
        return None;
    };
    let sid = match s.get("Sid") {
        None => None,
        Some(v) => Some(v.as_str()?.to_owned()),
    };
    let patterns = |pos: &str, neg: &str| -> Option<Option<Patterns>> {
        match (s.get(pos), s.get(neg)) {
            (Some(v), _) => Some(Some(Patterns {
                negated: false,
                values: strings(v)?,
            })),
            (None, Some(v)) => Some(Some(Patterns {
                negated: true,
                values: strings(v)?,
            })),
            (None, None) => Some(None),
        }
    };
    let action = patterns("Action", "NotAction")?;
    let resource = patterns("Resource", "NotResource")?;
    let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(v), _) => Some(PrincipalBlock {
            negated: false,
            spec: principal_syntax(v)?,
        }),
        (None, Some(v)) => Some(PrincipalBlock {
            negated: true,
            spec: principal_syntax(v)?,
        }),
        (None, None) => None,
    };
    let mut conditions = Vec::new();
    if let Some(block) = s.get("Condition") {
        for (op_name, keys) in block.as_object()? {
            let keys = keys.as_object()?;
            let operator = match Operator::parse(op_name) {
                Some(op) => op,
                // IAM lets an unknown operator through only with nothing under it.
                None if keys.is_empty() => continue,
                None => return None,
            };
            for (key, values) in keys {
                conditions.push(Condition {
                    operator_name: op_name.clone(),
                    operator,
                    key: key.clone(),
                    values: condition_values(values)?,
                });
            }
        }
    }
    Some((
        Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
        },
        effect_text,
    ))
}

fn principal_syntax(v: &Value) -> Option<PrincipalSpec> {
    match v {
        Value::String(s) if s == "*" => Some(PrincipalSpec::Any),
        Value::Object(m) if !m.is_empty() => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, v) in m {
                entries.push((PrincipalType::from_name(k)?, strings(v)?));
            }
            Some(PrincipalSpec::Named(entries))
        }
        _ => None,
    }
}

impl Raw {
    fn validate(&self, kind: PolicyKind) -> Result<(), PolicyError> {
        let p = &self.policy;
        if kind == PolicyKind::Managed && p.version != Version::V2012_10_17 {
            return Err(PolicyError::malformed(
                "Policy document must be version 2012-10-17 or greater.",
            ));
        }
        // Legacy parsing: effects exactly `Allow`/`Deny`, date values readable.
        if self.effects.iter().any(|e| e != "Allow" && e != "Deny") {
            return Err(PolicyError::malformed(LEGACY));
        }
        for c in p.statements.iter().flat_map(|s| &s.conditions) {
            if c.operator.base.is_date()
                && c.values
                    .items
                    .iter()
                    .any(|v| condition::parse_date(v).is_none())
            {
                return Err(PolicyError::malformed(LEGACY));
            }
        }
        self.validate_principals(kind)?;
        let mut sids = HashSet::new();
        for s in &p.statements {
            if let Some(sid) = s.sid.as_deref().filter(|s| !s.is_empty())
                && !sids.insert(sid)
            {
                return Err(PolicyError::malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
        }
        if kind != PolicyKind::Resource
            && p.statements
                .iter()
                .filter_map(|s| s.sid.as_deref())
                .any(|sid| !sid.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(PolicyError::malformed(
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the \
                 regular expression [0-9A-Za-z]*",
            ));
        }
        if p.statements
            .iter()
            .any(|s| s.action.as_ref().is_none_or(|a| a.values.items.is_empty()))
        {
            return Err(PolicyError::malformed(
                "Policy statement must contain actions.",
            ));
        }
        if kind != PolicyKind::Trust
            && p.statements.iter().any(|s| {
                s.resource
                    .as_ref()
                    .is_none_or(|r| r.values.items.is_empty())
            })
        {
            return Err(PolicyError::malformed(if kind == PolicyKind::Resource {
                "Missing required field Resource"
            } else {
                "Policy statement must contain resources."
            }));
        }
        for s in &p.statements {
            if let Some(r) = &s.resource {
                for resource in &r.values.items {
                    resource_format(resource)?;
                }
            }
        }
        for s in &p.statements {
            if let Some(a) = &s.action {
                for action in &a.values.items {
                    action_format(action)?;
                }
            }
        }
        if kind == PolicyKind::Trust {
            for s in &p.statements {
                let only_sts = s.action.as_ref().is_some_and(|a| {
                    !a.negated && a.values.items.iter().all(|x| is_assume_role_action(x))
                });
                if !only_sts {
                    return Err(PolicyError::malformed(
                        "AssumeRole policy may only specify STS AssumeRole actions.",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_principals(&self, kind: PolicyKind) -> Result<(), PolicyError> {
        for s in &self.policy.statements {
            if kind.is_identity() {
                if s.principal.is_some() {
                    return Err(PolicyError::malformed(
                        "Policy document should not specify a principal.",
                    ));
                }
                continue;
            }
            let Some(principal) = &s.principal else {
                return Err(PolicyError::malformed("Missing required field Principal"));
            };
            if kind == PolicyKind::Trust && s.resource.is_some() {
                return Err(PolicyError::malformed("Has prohibited field Resource"));
            }
            if let PrincipalSpec::Named(entries) = &principal.spec {
                for (t, values) in entries {
                    for v in &values.items {
                        if !valid_principal(*t, v) {
                            return Err(PolicyError::malformed(format!(
                                "Invalid principal in policy: \"{}\":\"{}\"",
                                t.as_str(),
                                v
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_assume_role_action(action: &str) -> bool {
    let lower = action.to_ascii_lowercase();
    lower == "*"
        || lower.starts_with("sts:assumerole")
        || lower == "sts:*"
        || lower == "sts:tagsession"
        || lower == "sts:setsourceidentity"
        || lower == "sts:setcontext"
}

/// A principal value IAM accepts: `*`, a 12-digit account, an ARN (`AWS`); a service name
/// (`Service`); a provider name or ARN (`Federated`); a hex ID (`CanonicalUser`).
fn valid_principal(t: PrincipalType, v: &str) -> bool {
    match t {
        PrincipalType::Aws => {
            v == "*"
                || (v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
                || (v.starts_with("arn:") && v.split(':').count() >= 6 && !v.contains(['*', '?']))
        }
        PrincipalType::Service => !v.is_empty() && !v.contains(char::is_whitespace),
        PrincipalType::Federated => !v.is_empty(),
        PrincipalType::CanonicalUser => !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()),
    }
}

/// IAM's checks on a `Resource` value.
fn resource_format(resource: &str) -> Result<(), PolicyError> {
    if resource == "*" {
        return Ok(());
    }
    let mut parts = resource.splitn(6, ':');
    let (Some(_arn), Some(partition)) = (parts.next(), parts.next()) else {
        return Err(PolicyError::malformed(format!(
            "Resource {resource} must be in ARN format or \"*\"."
        )));
    };
    let service = parts.next();
    let region = parts.next();
    let account = parts.next();
    let rest = parts.next();
    if !matches!(
        partition,
        "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b" | "*"
    ) && !partition.contains('$')
    {
        let seg = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("*").to_owned();
        return Err(PolicyError::malformed(format!(
            "Partition \"{partition}\" is not valid for resource \"arn:{partition}:{}:{}:{}:{}\".",
            seg(service),
            seg(region),
            seg(account),
            seg(rest)
        )));
    }
    let Some(service) = service.filter(|s| !s.is_empty() && !s.contains(['*', '?'])) else {
        return Err(PolicyError::malformed(
            "Resource vendor must be fully qualified and cannot contain regexes.",
        ));
    };
    let region = region.unwrap_or("");
    match service {
        "iam" if !region.is_empty() => Err(PolicyError::malformed(format!(
            "IAM resource {resource} cannot contain region information."
        ))),
        "s3" if !region.is_empty() => Err(PolicyError::malformed(format!(
            "Resource {resource} can not contain region information."
        ))),
        _ => Ok(()),
    }
}

/// IAM's checks on an `Action` value.
fn action_format(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let mut parts = action.split(':');
    let vendor = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => {
            return Err(PolicyError::malformed(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(PolicyError::malformed(
                "Actions/Condition can contain only one colon.",
            ));
        }
        _ => {}
    }
    if vendor != "*"
        && !vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(PolicyError::malformed(format!(
            "Vendor {vendor} is not valid"
        )));
    }
    Ok(())
}

//! A policy document: its elements as IAM's grammar has them
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>), and their
//! serialization back to JSON. Parsing and validation live in `parse.rs`.

use serde_json::{Map, Value};

use crate::condition::Operator;

/// The policy language version. A document without `Version` is read as 2008-10-17, in which
/// policy variables are literal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2008_10_17,
    V2012_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2008_10_17 => "2008-10-17",
            Version::V2012_10_17 => "2012-10-17",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// One string or a list of strings, remembering which form the document used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values {
    pub items: Vec<String>,
    pub list: bool,
}

impl Values {
    pub fn one(s: impl Into<String>) -> Values {
        Values {
            items: vec![s.into()],
            list: false,
        }
    }

    fn to_json(&self) -> Value {
        if self.list {
            Value::Array(self.items.iter().cloned().map(Value::String).collect())
        } else {
            Value::String(self.items.first().cloned().unwrap_or_default())
        }
    }
}

/// `Action`/`NotAction`, `Resource`/`NotResource`: the patterns, and whether the element is the
/// negated one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patterns {
    pub negated: bool,
    pub values: Values,
}

/// The kinds of principal a `Principal` element names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<PrincipalType> {
        Some(match s {
            "AWS" => PrincipalType::Aws,
            "Service" => PrincipalType::Service,
            "Federated" => PrincipalType::Federated,
            "CanonicalUser" => PrincipalType::CanonicalUser,
            _ => return None,
        })
    }
}

/// What a `Principal`/`NotPrincipal` element names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// `"*"`: everyone, anonymous included.
    Any,
    /// `{"AWS": ..., "Service": ..., ...}`, in the document's order.
    Named(Vec<(PrincipalType, Values)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalBlock {
    pub negated: bool,
    pub spec: PrincipalSpec,
}

/// One `operator: { key: value(s) }` entry of a `Condition` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The operator as written (`ForAnyValue:StringLikeIfExists`).
    pub operator_name: String,
    pub operator: Operator,
    /// The condition key as written (compared case-insensitively).
    pub key: String,
    /// The values, as strings (JSON numbers and booleans are kept as their text).
    pub values: Values,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalBlock>,
    pub action: Option<Patterns>,
    pub resource: Option<Patterns>,
    pub conditions: Vec<Condition>,
}

/// A parsed, validated policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub version: Version,
    /// Whether the document had a `Version` element (serialization keeps its absence).
    pub version_given: bool,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
    /// Whether `Statement` was a list (rather than a single object).
    pub statement_list: bool,
}

impl Policy {
    /// Whether policy variables (`${...}`) are substituted: only in 2012-10-17 documents.
    pub fn variables_enabled(&self) -> bool {
        self.version == Version::V2012_10_17
    }

    /// The document as JSON. Parsing the result gives back an equal `Policy`.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        if self.version_given {
            doc.insert(
                "Version".into(),
                Value::String(self.version.as_str().into()),
            );
        }
        if let Some(id) = &self.id {
            doc.insert("Id".into(), Value::String(id.clone()));
        }
        let statements: Vec<Value> = self.statements.iter().map(Statement::to_json).collect();
        let statement = match (self.statement_list, statements.len()) {
            (false, 1) => statements.into_iter().next().unwrap_or(Value::Null),
            _ => Value::Array(statements),
        };
        doc.insert("Statement".into(), statement);
        Value::Object(doc)
    }

    /// The condition keys the document's conditions test, lower-cased, each once (what the
    /// policy simulator reports as `MissingContextValues` when the request lacks them).
    pub fn context_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .statements
            .iter()
            .flat_map(|s| &s.conditions)
            .map(|c| c.key.to_ascii_lowercase())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Whether evaluating the policy can read the request context: a statement with
    /// conditions, or a resource pattern with policy variables (`${aws:username}`). When no
    /// policy of a request reads it, the request's context need not be built at all.
    pub fn reads_context(&self) -> bool {
        self.statements.iter().any(|s| {
            !s.conditions.is_empty()
                || (self.variables_enabled()
                    && s.resource
                        .as_ref()
                        .is_some_and(|r| r.values.items.iter().any(|p| p.contains("${"))))
        })
    }

    /// Whether a condition of the policy reads a key starting with `prefix` (lower case:
    /// keys compare case-insensitively), such as `aws:resourcetag/`: what tells a caller
    /// whether the request's context needs the values behind such keys.
    pub fn reads_key_prefix(&self, prefix: &str) -> bool {
        debug_assert_eq!(prefix, prefix.to_ascii_lowercase());
        self.statements.iter().any(|s| {
            s.conditions.iter().any(|c| {
                c.key
                    .get(..prefix.len())
                    .is_some_and(|k| k.eq_ignore_ascii_case(prefix))
            })
        })
    }

    /// Whether every `Resource`/`NotResource` pattern matches all the ARNs that start with
    /// `prefix` or none of them (see [`crate::wildcard::arn_glob_over`]): then the document
    /// decides every resource under `prefix` alike (all the objects of one S3 bucket), its
    /// conditions aside. Patterns with policy variables count as deciding differently.
    pub fn resources_alike_under(&self, prefix: &str) -> bool {
        self.statements.iter().all(|s| {
            s.resource.as_ref().is_none_or(|r| {
                r.values.items.iter().all(|p| {
                    !(self.variables_enabled() && p.contains("${"))
                        && crate::wildcard::arn_glob_over(p, prefix)
                            != crate::wildcard::Over::Depends
                })
            })
        })
    }

    /// The document as compact JSON text.
    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }
}

impl Statement {
    fn to_json(&self) -> Value {
        let mut s = Map::new();
        if let Some(sid) = &self.sid {
            s.insert("Sid".into(), Value::String(sid.clone()));
        }
        s.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        if let Some(p) = &self.principal {
            let name = if p.negated {
                "NotPrincipal"
            } else {
                "Principal"
            };
            let value = match &p.spec {
                PrincipalSpec::Any => Value::String("*".into()),
                PrincipalSpec::Named(entries) => {
                    let mut m = Map::new();
                    for (t, v) in entries {
                        m.insert(t.as_str().into(), v.to_json());
                    }
                    Value::Object(m)
                }
            };
            s.insert(name.into(), value);
        }
        if let Some(a) = &self.action {
            let name = if a.negated { "NotAction" } else { "Action" };
            s.insert(name.into(), a.values.to_json());
        }
        if let Some(r) = &self.resource {
            let name = if r.negated { "NotResource" } else { "Resource" };
            s.insert(name.into(), r.values.to_json());
        }
        if !self.conditions.is_empty() {
            let mut block = Map::new();
            for c in &self.conditions {
                let entry = block
                    .entry(c.operator_name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(keys) = entry {
                    keys.insert(c.key.clone(), c.values.to_json());
                }
            }
            s.insert("Condition".into(), Value::Object(block));
        }
        Value::Object(s)
    }
}

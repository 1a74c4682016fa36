//! SNS subscription filter policies: validation (AWS's limits and messages) and matching, for
//! both scopes (`MessageAttributes` and `MessageBody`), on the matcher SNS shares with
//! EventBridge patterns ([`snapstack_service::matcher`]).
//!
//! A policy is a JSON object whose keys are attribute names (or, in the body scope, nested
//! objects down to the keys of the message's JSON), `$or` (a list of sub-policies, any of which
//! may match), and whose leaves are arrays of conditions, any of which may match:
//! exact strings, numbers, `true`/`false`/`null` (body scope), `{"prefix": s}`,
//! `{"suffix": s}`, `{"equals-ignore-case": s}`, `{"wildcard": s}`, `{"anything-but": v}` (a
//! value, a list, `{"prefix": s}` or `{"suffix": s}`), `{"numeric": [op, n, (op, n)]}`,
//! `{"exists": bool}` and `{"cidr": "10.0.0.0/24"}`. Every key must match (AND). In the body,
//! the values at a key path are every scalar reached through arrays on the way (arrays of
//! objects too), as AWS flattens them; a `String.Array` attribute's values are its elements.
//!
//! Limits (AWS's): at most 5 keys, counting only the top-level (parent) keys of a nested policy
//! and the largest branch of each `$or`; at most 150 combinations of values (the product of
//! each leaf's value count times its nesting depth, `$or` branches summed); at most 256 KB of
//! policy; nesting bounded.
//!
//! Errors are the reason after AWS's prefix, which depends on the call: [`on_subscribe`]
//! (`Invalid parameter: Attributes Reason: `) or [`on_set_attributes`] (`Invalid parameter: `).

use serde_json::{Map, Value};
use snapstack_service::matcher::{self, Cond, Lit, Matcher};

/// The policy applies to the message attributes or to the message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    MessageAttributes,
    MessageBody,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "MessageAttributes" => Some(Scope::MessageAttributes),
            "MessageBody" => Some(Scope::MessageBody),
            _ => None,
        }
    }
}

/// Most keys a policy may have.
const MAX_KEYS: usize = 5;
/// Most combinations of values.
const MAX_COMBINATIONS: u64 = 150;
/// Deepest nesting of objects and `$or`s accepted.
const MAX_DEPTH: usize = 16;
/// Largest policy: 256 KB.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// A compiled policy (the shared matcher).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy(Matcher);

fn err(message: impl std::fmt::Display) -> String {
    format!("FilterPolicy: {message}")
}

/// The whole message of a policy refused by Subscribe (or CreateTopic's subscription).
pub fn on_subscribe(reason: &str) -> String {
    format!("Invalid parameter: Attributes Reason: {reason}")
}

/// The whole message of a policy refused by SetSubscriptionAttributes.
pub fn on_set_attributes(reason: &str) -> String {
    format!("Invalid parameter: {reason}")
}

/// Parse and validate a filter policy for a scope. The error is AWS's reason, to be prefixed
/// with [`on_subscribe`] or [`on_set_attributes`].
pub fn compile(text: &str, scope: Scope) -> Result<Policy, String> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(err(format!(
            "Filter policy is too long; the maximum size is {MAX_POLICY_BYTES} bytes"
        )));
    }
    let v: Value =
        serde_json::from_str(text).map_err(|_| err("failed to parse JSON.".to_string()))?;
    let Value::Object(obj) = v else {
        return Err(err("Filter policy must be a JSON object"));
    };
    let m = compile_object(&obj, scope, &mut Vec::new(), 0)?;
    if parent_keys(&m) > MAX_KEYS {
        return Err(err(format!(
            "Filter policy can not have more than {MAX_KEYS} keys"
        )));
    }
    if combinations(&m) > MAX_COMBINATIONS {
        return Err(err("Filter policy is too complex"));
    }
    Ok(Policy(m))
}

fn compile_object(
    obj: &Map<String, Value>,
    scope: Scope,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Matcher, String> {
    if depth > MAX_DEPTH {
        return Err(err("Filter policy is too complex"));
    }
    let mut p = Matcher::default();
    for (k, v) in obj {
        if k == "$or" {
            let Value::Array(branches) = v else {
                return Err(err("$or must be an array of objects"));
            };
            if branches.len() < 2 {
                return Err(err("$or must have at least 2 elements"));
            }
            let mut group = Vec::with_capacity(branches.len());
            for b in branches {
                let Value::Object(bo) = b else {
                    return Err(err("$or must be an array of objects"));
                };
                group.push(compile_object(bo, scope, path, depth + 1)?);
            }
            p.ors.push(group);
            continue;
        }
        match v {
            Value::Array(conds) => {
                if conds.is_empty() {
                    return Err(err("Empty arrays are not allowed"));
                }
                let mut out = Vec::with_capacity(conds.len());
                for c in conds {
                    out.push(compile_cond(c)?);
                }
                let mut full = path.clone();
                full.push(k.clone());
                p.leaves.push((full, out));
            }
            Value::Object(inner) => {
                if scope == Scope::MessageAttributes {
                    // AWS's only reason without the `FilterPolicy: ` part.
                    return Err(
                        "Filter policy scope MessageAttributes does not support nested filter policy"
                            .to_string(),
                    );
                }
                path.push(k.clone());
                let sub = compile_object(inner, scope, path, depth + 1)?;
                path.pop();
                p.leaves.extend(sub.leaves);
                p.ors.extend(sub.ors);
            }
            _ => {
                return Err(err(format!("\"{k}\" must be an object or an array")));
            }
        }
    }
    if p.leaves.is_empty() && p.ors.is_empty() {
        return Err(err("Filter policy must not be empty"));
    }
    Ok(p)
}

/// Keys as AWS counts them: the distinct top-level keys of an AND-combination, each `$or`
/// adding its largest branch's.
fn parent_keys(m: &Matcher) -> usize {
    let mut own: Vec<&str> = m
        .leaves
        .iter()
        .filter_map(|(p, _)| p.first().map(String::as_str))
        .collect();
    own.sort_unstable();
    own.dedup();
    own.len()
        + m.ors
            .iter()
            .map(|g| g.iter().map(parent_keys).max().unwrap_or(0))
            .sum::<usize>()
}

/// Combinations as AWS counts them: each leaf's value count times its depth, multiplied; the
/// branches of an `$or` summed.
fn combinations(m: &Matcher) -> u64 {
    let own = m.leaves.iter().fold(1u64, |acc, (path, c)| {
        acc.saturating_mul(c.len() as u64)
            .saturating_mul(path.len().max(1) as u64)
    });
    m.ors.iter().fold(own, |acc, g| {
        acc.saturating_mul(
            g.iter()
                .map(combinations)
                .fold(0u64, |s, c| s.saturating_add(c)),
        )
    })
}

fn string_of(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(err(format!("{what} match pattern must be a string"))),
    }
}

fn compile_cond(c: &Value) -> Result<Cond, String> {
    let Value::Object(o) = c else {
        return Lit::of(c)
            .map(Cond::Exact)
            .ok_or_else(|| err("Match value must be String, number, true, false, or null"));
    };
    if o.len() != 1 {
        return Err(err("Only one key allowed in match expression"));
    }
    let Some((op, arg)) = o.iter().next() else {
        return Err(err("Empty objects are not allowed"));
    };
    match op.as_str() {
        "prefix" => Ok(Cond::Prefix {
            s: string_of(arg, "prefix")?,
            fold: false,
        }),
        "suffix" => Ok(Cond::Suffix {
            s: string_of(arg, "suffix")?,
            fold: false,
        }),
        "equals-ignore-case" => Ok(Cond::EqualsIgnoreCase(string_of(
            arg,
            "equals-ignore-case",
        )?)),
        "wildcard" => {
            let s = string_of(arg, "wildcard")?;
            matcher::check_wildcard(&s).map_err(err)?;
            Ok(Cond::Wildcard(s))
        }
        "exists" => match arg {
            Value::Bool(b) => Ok(Cond::Exists(*b)),
            _ => Err(err("exists match pattern must be either true or false.")),
        },
        "anything-but" => compile_anything_but(arg),
        "numeric" => matcher::compile_numeric(arg).map_err(err),
        "cidr" => matcher::compile_cidr(arg).map_err(err),
        other => Err(err(format!("Unrecognized match type {other}"))),
    }
}

fn compile_anything_but(arg: &Value) -> Result<Cond, String> {
    let any_but = |lits| Cond::AnythingBut {
        lits,
        null_matches: false,
    };
    match arg {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err("Empty arrays are not allowed"));
            }
            let mut lits = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::String(_) | Value::Number(_) => lits.extend(Lit::of(i)),
                    _ => {
                        return Err(err(
                            "Inside anything but list, start|null|boolean is not supported.",
                        ));
                    }
                }
            }
            Ok(any_but(lits))
        }
        Value::Object(inner) => {
            if inner.len() != 1 {
                return Err(err("Only one key allowed in match expression"));
            }
            match inner.iter().next() {
                Some((k, v)) if k == "prefix" => {
                    Ok(Cond::AnythingButPrefix(vec![string_of(v, "prefix")?]))
                }
                Some((k, v)) if k == "suffix" => {
                    Ok(Cond::AnythingButSuffix(vec![string_of(v, "suffix")?]))
                }
                Some((k, _)) => Err(err(format!("Unsupported anything-but pattern: {k}"))),
                None => Err(err("Empty objects are not allowed")),
            }
        }
        Value::String(_) | Value::Number(_) => Ok(any_but(Lit::of(arg).into_iter().collect())),
        _ => Err(err(
            "anything-but: unsupported value type; expected string, number, list or object",
        )),
    }
}

impl Policy {
    /// Whether a message's attributes match (the attributes as the neutral value of
    /// `MessageAttributes`: name → {DataType, StringValue, BinaryValue}). A `String.Array`
    /// attribute's values are its elements; a `Number` one's its number; binary ones are not
    /// compared (but exist).
    pub fn matches_attributes(&self, attributes: &Map<String, Value>) -> bool {
        self.0.matches_with(&|path: &[String]| {
            let name = path.last().map(String::as_str).unwrap_or("");
            let a = attributes.get(name)?.as_object()?;
            let dt = a.get("DataType").and_then(Value::as_str).unwrap_or("");
            let sv = a.get("StringValue").and_then(Value::as_str);
            Some(if dt.starts_with("String.Array") {
                match sv.and_then(|s| serde_json::from_str::<Value>(s).ok()) {
                    Some(Value::Array(items)) => {
                        items.into_iter().filter(|v| Lit::of(v).is_some()).collect()
                    }
                    _ => Vec::new(),
                }
            } else if dt.starts_with("Number") {
                sv.and_then(|s| s.trim().parse::<f64>().ok())
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| vec![Value::Number(n)])
                    .unwrap_or_default()
            } else if dt.starts_with("String") {
                sv.map(|s| vec![Value::String(s.to_string())])
                    .unwrap_or_default()
            } else {
                Vec::new()
            })
        })
    }

    /// Whether a message body matches (a body that is not a JSON object matches nothing).
    pub fn matches_body(&self, body: &str) -> bool {
        match serde_json::from_str::<Value>(body) {
            Ok(root @ Value::Object(_)) => self.0.matches_json(&root),
            _ => false,
        }
    }

    /// The shared matcher this policy compiled to.
    pub fn matcher(&self) -> &Matcher {
        &self.0
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;

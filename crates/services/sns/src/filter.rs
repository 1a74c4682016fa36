//! SNS subscription filter policies: validation (AWS's limits and messages) and matching, for
//! both scopes (`MessageAttributes` and `MessageBody`).
//!
//! A policy is a JSON object whose keys are attribute names (or, in the body scope, nested
//! objects down to the keys of the message's JSON), `$or` (a list of sub-policies, any of which
//! may match), and whose leaves are arrays of conditions, any of which may match:
//! exact strings, numbers, `true`/`false`/`null` (body scope), `{"prefix": s}`,
//! `{"suffix": s}`, `{"equals-ignore-case": s}`, `{"wildcard": s}`, `{"anything-but": v}` (a
//! value, a list, `{"prefix": s}` or `{"suffix": s}`), `{"numeric": [op, n, (op, n)]}`,
//! `{"exists": bool}` and `{"cidr": "10.0.0.0/24"}`. Every key must match (AND); a message
//! value that is an array matches if any element does.
//!
//! Limits: at most 5 keys per AND-combination (AWS counts the leaves of a policy after
//! expanding `$or`), at most 150 combinations of values, nesting bounded.

use serde_json::{Map, Value};

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

/// Most keys an AND-combination may have.
const MAX_KEYS: usize = 5;
/// Most combinations of values (product of the leaves' value counts, summed over `$or` paths).
const MAX_COMBINATIONS: u64 = 150;
/// Deepest nesting of objects and `$or`s accepted.
const MAX_DEPTH: usize = 16;
/// Numbers must lie within ±1e9 (AWS's range for numeric matching).
const MAX_NUMBER: f64 = 1e9;

/// A comparison of a numeric range.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Cond {
    Exact(Lit),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Lit>),
    AnythingButPrefix(String),
    AnythingButSuffix(String),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr { v6: bool, net: u128, bits: u32 },
}

/// A compiled policy: every leaf (a key path and its conditions) must match, and in each `$or`
/// group at least one branch.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    leaves: Vec<(Vec<String>, Vec<Cond>)>,
    ors: Vec<Vec<Policy>>,
}

fn err(message: impl std::fmt::Display) -> String {
    format!("Invalid parameter: FilterPolicy: {message}")
}

/// Parse and validate a filter policy for a scope. The error is the message of AWS's
/// `InvalidParameter`.
pub fn compile(text: &str, scope: Scope) -> Result<Policy, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|_| err("failed to parse JSON.".to_string()))?;
    let Value::Object(obj) = v else {
        return Err(err("Filter policy must be a JSON object"));
    };
    let p = compile_object(&obj, scope, &mut Vec::new(), 0)?;
    let (keys, combos) = p.complexity();
    if keys > MAX_KEYS {
        return Err(err(format!(
            "Filter policy can not have more than {MAX_KEYS} keys"
        )));
    }
    if combos > MAX_COMBINATIONS {
        return Err(err("Filter policy is too complex"));
    }
    Ok(p)
}

fn compile_object(
    obj: &Map<String, Value>,
    scope: Scope,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<Policy, String> {
    if depth > MAX_DEPTH {
        return Err(err("Filter policy is too complex"));
    }
    let mut p = Policy {
        leaves: Vec::new(),
        ors: Vec::new(),
    };
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
                    out.push(compile_cond(c, scope)?);
                }
                let mut full = path.clone();
                full.push(k.clone());
                p.leaves.push((full, out));
            }
            Value::Object(inner) => {
                if scope == Scope::MessageAttributes {
                    return Err(err(
                        "Filter policy scope MessageAttributes does not support nested filter policy",
                    ));
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

fn literal(v: &Value, scope: Scope) -> Result<Lit, String> {
    match v {
        Value::String(s) => Ok(Lit::Str(s.clone())),
        Value::Number(n) => Ok(Lit::Num(number(n)?)),
        Value::Bool(b) => Ok(Lit::Bool(*b)),
        Value::Null => Ok(Lit::Null),
        _ => {
            let _ = scope;
            Err(err(
                "Match value must be String, number, true, false, or null",
            ))
        }
    }
}

fn number(n: &serde_json::Number) -> Result<f64, String> {
    let f = n.as_f64().unwrap_or(f64::NAN);
    if !f.is_finite() || f.abs() > MAX_NUMBER {
        return Err(err(
            "Numeric value must be between -1.0E9 and 1.0E9 inclusive",
        ));
    }
    Ok(f)
}

fn string_of(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(err(format!("{what} match pattern must be a string"))),
    }
}

fn compile_cond(c: &Value, scope: Scope) -> Result<Cond, String> {
    let Value::Object(o) = c else {
        return literal(c, scope).map(Cond::Exact);
    };
    if o.len() != 1 {
        return Err(err("Only one key allowed in match expression"));
    }
    let Some((op, arg)) = o.iter().next() else {
        return Err(err("Empty objects are not allowed"));
    };
    match op.as_str() {
        "prefix" => Ok(Cond::Prefix(string_of(arg, "prefix")?)),
        "suffix" => Ok(Cond::Suffix(string_of(arg, "suffix")?)),
        "equals-ignore-case" => Ok(Cond::EqualsIgnoreCase(string_of(
            arg,
            "equals-ignore-case",
        )?)),
        "wildcard" => {
            let s = string_of(arg, "wildcard")?;
            if s.contains("**") {
                return Err(err("Consecutive wildcard characters at pos"));
            }
            Ok(Cond::Wildcard(s))
        }
        "exists" => match arg {
            Value::Bool(b) => Ok(Cond::Exists(*b)),
            _ => Err(err("exists match pattern must be either true or false.")),
        },
        "anything-but" => match arg {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(err("Empty arrays are not allowed"));
                }
                let mut lits = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        Value::String(_) | Value::Number(_) => lits.push(literal(i, scope)?),
                        _ => {
                            return Err(err(
                                "Inside anything but list, start|null|boolean is not supported.",
                            ));
                        }
                    }
                }
                Ok(Cond::AnythingBut(lits))
            }
            Value::Object(inner) => {
                if inner.len() != 1 {
                    return Err(err("Only one key allowed in match expression"));
                }
                match inner.iter().next() {
                    Some((k, v)) if k == "prefix" => {
                        Ok(Cond::AnythingButPrefix(string_of(v, "prefix")?))
                    }
                    Some((k, v)) if k == "suffix" => {
                        Ok(Cond::AnythingButSuffix(string_of(v, "suffix")?))
                    }
                    Some((k, _)) => Err(err(format!("Unsupported anything-but pattern: {k}"))),
                    None => Err(err("Empty objects are not allowed")),
                }
            }
            Value::String(_) | Value::Number(_) => {
                Ok(Cond::AnythingBut(vec![literal(arg, scope)?]))
            }
            _ => Err(err(
                "anything-but: unsupported value type; expected string, number, list or object",
            )),
        },
        "numeric" => compile_numeric(arg),
        "cidr" => compile_cidr(arg),
        other => Err(err(format!("Unrecognized match type {other}"))),
    }
}

fn compile_numeric(arg: &Value) -> Result<Cond, String> {
    let Value::Array(items) = arg else {
        return Err(err("Value of numeric must be an array."));
    };
    if items.is_empty() || items.len() > 4 || items.len() % 2 != 0 {
        return Err(err("Bad numeric range operator"));
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some("=") => Cmp::Eq,
            Some(">=") => Cmp::Ge,
            Some(">") => Cmp::Gt,
            Some(o) => return Err(err(format!("Unrecognized numeric range operator: {o}"))),
            None => return Err(err("Bad numeric range operator")),
        };
        let Value::Number(n) = &pair[1] else {
            return Err(err(format!(
                "Value of {} must be numeric",
                pair[0].as_str().unwrap_or("")
            )));
        };
        out.push((op, number(n)?));
    }
    if out.len() == 2 {
        let lower = matches!(out[0].0, Cmp::Gt | Cmp::Ge);
        let upper = matches!(out[1].0, Cmp::Lt | Cmp::Le);
        if !(lower && upper) {
            return Err(err("Too many elements in numeric expression"));
        }
        if out[0].1 >= out[1].1 {
            return Err(err("Bottom must be less than top"));
        }
    } else if out[0].0 == Cmp::Eq && items.len() > 2 {
        return Err(err("Bad numeric range operator"));
    }
    Ok(Cond::Numeric(out))
}

/// An IPv4 (mapped into the low 32 bits) or IPv6 address.
fn parse_ip(s: &str) -> Option<(bool, u128)> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some((false, u32::from(a) as u128));
    }
    s.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|a| (true, u128::from(a)))
}

fn compile_cidr(arg: &Value) -> Result<Cond, String> {
    let bad = || err(format!("Malformed CIDR, one '/' required: {arg}"));
    let s = arg.as_str().ok_or_else(bad)?;
    let (ip, bits) = s.split_once('/').ok_or_else(bad)?;
    let (v6, addr) = parse_ip(ip).ok_or_else(|| err(format!("Nonstandard IP address: {ip}")))?;
    let width = if v6 { 128 } else { 32 };
    let bits: u32 = bits
        .parse()
        .ok()
        .filter(|b| *b <= width)
        .ok_or_else(|| err(format!("Malformed CIDR, mask bits must be an integer: {s}")))?;
    Ok(Cond::Cidr {
        v6,
        net: mask(addr, bits, width),
        bits,
    })
}

fn mask(addr: u128, bits: u32, width: u32) -> u128 {
    if bits == 0 {
        return 0;
    }
    let keep = width - bits;
    (addr >> keep) << keep
}

impl Policy {
    /// (most keys in one AND-combination, number of value combinations), as AWS counts them.
    fn complexity(&self) -> (usize, u64) {
        let own_keys = self.leaves.len();
        let own_combos: u64 = self
            .leaves
            .iter()
            .fold(1u64, |acc, (_, c)| acc.saturating_mul(c.len() as u64));
        let mut keys = own_keys;
        let mut combos = own_combos;
        for group in &self.ors {
            let mut gk = 0;
            let mut gc = 0u64;
            for b in group {
                let (k, c) = b.complexity();
                gk = gk.max(k);
                gc = gc.saturating_add(c);
            }
            keys += gk;
            combos = combos.saturating_mul(gc);
        }
        (keys, combos)
    }

    /// Whether a message's attributes match (the attributes as the neutral value of
    /// `MessageAttributes`: name → {DataType, StringValue, BinaryValue}).
    pub fn matches_attributes(&self, attributes: &Map<String, Value>) -> bool {
        self.eval(&|path: &[String]| {
            let name = path.last().map(String::as_str).unwrap_or("");
            let a = attributes.get(name)?.as_object()?;
            let dt = a.get("DataType").and_then(Value::as_str).unwrap_or("");
            let sv = a.get("StringValue").and_then(Value::as_str);
            Some(if dt.starts_with("String.Array") {
                match sv.and_then(|s| serde_json::from_str::<Value>(s).ok()) {
                    Some(Value::Array(items)) => items.iter().filter_map(to_val).collect(),
                    _ => Vec::new(),
                }
            } else if dt.starts_with("Number") {
                sv.and_then(|s| s.trim().parse::<f64>().ok())
                    .map(|n| vec![Val::Num(n)])
                    .unwrap_or_default()
            } else if dt.starts_with("String") {
                sv.map(|s| vec![Val::Str(s.to_string())])
                    .unwrap_or_default()
            } else {
                Vec::new()
            })
        })
    }

    /// Whether a message body matches (a body that is not a JSON object matches nothing).
    pub fn matches_body(&self, body: &str) -> bool {
        let Ok(Value::Object(root)) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        self.eval(&|path: &[String]| {
            let mut cur: &Value = root.get(path.first()?)?;
            for k in &path[1..] {
                cur = cur.as_object()?.get(k)?;
            }
            Some(match cur {
                Value::Array(items) => items.iter().filter_map(to_val).collect(),
                Value::Object(_) => Vec::new(),
                v => to_val(v).into_iter().collect(),
            })
        })
    }

    /// `lookup(path)`: `None` when the key is absent, else the values to test (may be empty).
    fn eval(&self, lookup: &dyn Fn(&[String]) -> Option<Vec<Val>>) -> bool {
        self.leaves.iter().all(|(path, conds)| {
            let values = lookup(path);
            conds.iter().any(|c| cond_matches(c, values.as_deref()))
        }) && self
            .ors
            .iter()
            .all(|group| group.iter().any(|b| b.eval(lookup)))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

fn to_val(v: &Value) -> Option<Val> {
    match v {
        Value::String(s) => Some(Val::Str(s.clone())),
        Value::Number(n) => n.as_f64().map(Val::Num),
        Value::Bool(b) => Some(Val::Bool(*b)),
        Value::Null => Some(Val::Null),
        _ => None,
    }
}

fn lit_eq(l: &Lit, v: &Val) -> bool {
    match (l, v) {
        (Lit::Str(a), Val::Str(b)) => a == b,
        (Lit::Num(a), Val::Num(b)) => a == b,
        (Lit::Bool(a), Val::Bool(b)) => a == b,
        (Lit::Null, Val::Null) => true,
        _ => false,
    }
}

fn cond_matches(c: &Cond, values: Option<&[Val]>) -> bool {
    match c {
        Cond::Exists(want) => values.is_some() == *want,
        _ => values.is_some_and(|vs| vs.iter().any(|v| value_matches(c, v))),
    }
}

fn value_matches(c: &Cond, v: &Val) -> bool {
    let s = match v {
        Val::Str(s) => Some(s.as_str()),
        _ => None,
    };
    match c {
        Cond::Exact(l) => lit_eq(l, v),
        Cond::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
        Cond::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
        Cond::EqualsIgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
        Cond::Wildcard(p) => s.is_some_and(|s| wildcard(p.as_bytes(), s.as_bytes())),
        Cond::AnythingBut(lits) => {
            // A value of another type than the list's is "anything but" them, as AWS matches.
            !matches!(v, Val::Null) && !lits.iter().any(|l| lit_eq(l, v))
        }
        Cond::AnythingButPrefix(p) => s.is_some_and(|s| !s.starts_with(p.as_str())),
        Cond::AnythingButSuffix(p) => s.is_some_and(|s| !s.ends_with(p.as_str())),
        Cond::Numeric(ranges) => match v {
            Val::Num(n) => ranges.iter().all(|(op, x)| match op {
                Cmp::Lt => n < x,
                Cmp::Le => n <= x,
                Cmp::Eq => n == x,
                Cmp::Ge => n >= x,
                Cmp::Gt => n > x,
            }),
            _ => false,
        },
        Cond::Exists(_) => true,
        Cond::Cidr { v6, net, bits } => s.and_then(parse_ip).is_some_and(|(is6, a)| {
            is6 == *v6 && mask(a, *bits, if is6 { 128 } else { 32 }) == *net
        }),
    }
}

/// `*` matches any run of characters; iterative with one backtrack point (linear-ish, no
/// recursion).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;

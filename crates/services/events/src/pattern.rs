//! The event pattern language: compile (with AWS's validation messages) and match.
//!
//! A pattern is a JSON object. A key whose value is an object descends into the event's field of
//! that name; a key whose value is an array is a leaf: the event's value(s) at that path must
//! match one of the array's conditions. Every leaf must match (AND); `$or` (an array of
//! sub-patterns at any level) needs one branch to match. Conditions: exact strings, numbers,
//! `true`/`false`/`null`; `{"prefix": s}` (or `{"prefix": {"equals-ignore-case": s}}`),
//! `{"suffix": s}` (likewise), `{"equals-ignore-case": s}`, `{"wildcard": s}`,
//! `{"anything-but": v | [v...] | {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}}`,
//! `{"numeric": [op, n (, op, n)]}`, `{"exists": bool}`, `{"cidr": "net/bits"}`.
//!
//! Arrays in the event are flattened: the values at a path are every scalar reached through any
//! array elements on the way, and a leaf matches if any of them does (AWS's semantics). Only
//! scalars (and null) are values: an object at a leaf path does not "exist".

use serde_json::{Map, Value};

/// The prefix of every InvalidEventPatternException message.
pub const REASON: &str = "Event pattern is not valid. Reason: ";
/// Deepest nesting of objects and `$or`s accepted.
const MAX_DEPTH: usize = 64;
/// AWS's limit on wildcard characters in one wildcard pattern.
const MAX_WILDCARDS: usize = 5;

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
    Prefix { s: String, fold: bool },
    Suffix { s: String, fold: bool },
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Lit>),
    AnythingButPrefix(Vec<String>),
    AnythingButSuffix(Vec<String>),
    AnythingButIgnoreCase(Vec<String>),
    AnythingButWildcard(Vec<String>),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr { v6: bool, net: u128, bits: u32 },
}

/// A compiled pattern: every leaf must match, and each `$or` group needs one branch.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pattern {
    leaves: Vec<(Vec<String>, Vec<Cond>)>,
    ors: Vec<Vec<Pattern>>,
}

fn bad(reason: impl std::fmt::Display) -> String {
    format!("{REASON}{reason}")
}

/// Compile a pattern's text; the error is the whole InvalidEventPatternException message.
pub fn compile(text: &str) -> Result<Pattern, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("Filter is not valid JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(bad("Filter is not an object"));
    };
    compile_object(&m, &[], 0)
}

fn compile_object(
    m: &Map<String, Value>,
    path: &[String],
    depth: usize,
) -> Result<Pattern, String> {
    if depth > MAX_DEPTH {
        return Err(bad("Filter is too deeply nested"));
    }
    let mut p = Pattern::default();
    for (k, v) in m {
        if k == "$or" {
            let Value::Array(branches) = v else {
                return Err(bad("\"$or\" must be an object or an array"));
            };
            if branches.len() < 2 {
                return Err(bad("Or relationship must have at least two branches"));
            }
            let mut group = Vec::new();
            for b in branches {
                let Value::Object(bm) = b else {
                    return Err(bad("Or relationship branches must be objects"));
                };
                group.push(compile_object(bm, path, depth + 1)?);
            }
            p.ors.push(group);
            continue;
        }
        let mut sub = path.to_vec();
        sub.push(k.clone());
        match v {
            Value::Object(inner) => {
                let child = compile_object(inner, &sub, depth + 1)?;
                p.leaves.extend(child.leaves);
                p.ors.extend(child.ors);
            }
            Value::Array(conds) => {
                if conds.is_empty() {
                    return Err(bad("Empty arrays are not allowed"));
                }
                let conds = conds
                    .iter()
                    .map(compile_cond)
                    .collect::<Result<Vec<_>, _>>()?;
                p.leaves.push((sub, conds));
            }
            _ => return Err(bad(format!("\"{k}\" must be an object or an array"))),
        }
    }
    Ok(p)
}

fn literal(v: &Value) -> Option<Lit> {
    Some(match v {
        Value::String(s) => Lit::Str(s.clone()),
        Value::Number(n) => Lit::Num(n.as_f64()?),
        Value::Bool(b) => Lit::Bool(*b),
        Value::Null => Lit::Null,
        _ => return None,
    })
}

fn strings(v: &Value, err: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| bad(err)))
            .collect(),
        _ => Err(bad(err)),
    }
}

fn check_wildcard(s: &str) -> Result<(), String> {
    if let Some(i) = s.find("**") {
        return Err(bad(format!(
            "Consecutive wildcard characters at pos {}",
            i + 1
        )));
    }
    if s.matches('*').count() > MAX_WILDCARDS {
        return Err(bad(
            "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character",
        ));
    }
    Ok(())
}

fn compile_cond(c: &Value) -> Result<Cond, String> {
    if let Some(l) = literal(c) {
        return Ok(Cond::Exact(l));
    }
    let Value::Object(m) = c else {
        return Err(bad(
            "Match value must be String, number, true, false, or null",
        ));
    };
    if m.len() != 1 {
        return Err(bad("Only one key allowed in match expression"));
    }
    let (op, arg) = m.iter().next().expect("one key");
    match op.as_str() {
        "prefix" | "suffix" => {
            let (s, fold) = match arg {
                Value::String(s) => (s.clone(), false),
                Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
                    Some(Value::String(s)) => (s.clone(), true),
                    Some(_) => {
                        return Err(bad("equals-ignore-case match pattern must be a string"));
                    }
                    None => {
                        let k = o.keys().next().map(String::as_str).unwrap_or("");
                        return Err(bad(format!("Unsupported {op} pattern: {k}")));
                    }
                },
                _ => return Err(bad(format!("{op} match pattern must be a string"))),
            };
            Ok(if op == "prefix" {
                Cond::Prefix { s, fold }
            } else {
                Cond::Suffix { s, fold }
            })
        }
        "equals-ignore-case" => match arg {
            Value::String(s) => Ok(Cond::EqualsIgnoreCase(s.clone())),
            _ => Err(bad("equals-ignore-case match pattern must be a string")),
        },
        "wildcard" => match arg {
            Value::String(s) => {
                check_wildcard(s)?;
                Ok(Cond::Wildcard(s.clone()))
            }
            _ => Err(bad("wildcard match pattern must be a string")),
        },
        "exists" => match arg {
            Value::Bool(b) => Ok(Cond::Exists(*b)),
            _ => Err(bad("exists match pattern must be either true or false.")),
        },
        "numeric" => compile_numeric(arg),
        "cidr" => compile_cidr(arg),
        "anything-but" => compile_anything_but(arg),
        other => Err(bad(format!("Unrecognized match type {other}"))),
    }
}

fn compile_anything_but(arg: &Value) -> Result<Cond, String> {
    if let Some(l) = literal(arg) {
        return Ok(Cond::AnythingBut(vec![l]));
    }
    match arg {
        Value::Array(a) => {
            if a.is_empty() {
                return Err(bad("Empty arrays are not allowed"));
            }
            let lits = a
                .iter()
                .map(|x| match literal(x) {
                    Some(l) if !matches!(l, Lit::Null | Lit::Bool(_)) => Ok(l),
                    _ => Err(bad(
                        "Inside anything but list, start|null|boolean is not supported.",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Cond::AnythingBut(lits))
        }
        Value::Object(o) => {
            if o.len() != 1 {
                return Err(bad("Only one key allowed in match expression"));
            }
            let (op, v) = o.iter().next().expect("one key");
            match op.as_str() {
                "prefix" | "suffix" => {
                    if v.is_object() {
                        return Err(bad(
                            "Value of anything-but must be an array or single string/number value.",
                        ));
                    }
                    let s = strings(v, "prefix/suffix match pattern must be a string")?;
                    if s.iter().any(String::is_empty) {
                        return Err(bad("Null prefix/suffix not allowed"));
                    }
                    Ok(if op == "prefix" {
                        Cond::AnythingButPrefix(s)
                    } else {
                        Cond::AnythingButSuffix(s)
                    })
                }
                "equals-ignore-case" => Ok(Cond::AnythingButIgnoreCase(strings(
                    v,
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                )?)),
                "wildcard" => {
                    let s = strings(v, "wildcard match pattern must be a string")?;
                    for w in &s {
                        check_wildcard(w)?;
                    }
                    Ok(Cond::AnythingButWildcard(s))
                }
                other => Err(bad(format!("Unsupported anything-but pattern: {other}"))),
            }
        }
        _ => Err(bad(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

fn cmp_of(s: &str) -> Option<Cmp> {
    Some(match s {
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        "=" => Cmp::Eq,
        ">=" => Cmp::Ge,
        ">" => Cmp::Gt,
        _ => return None,
    })
}

fn compile_numeric(arg: &Value) -> Result<Cond, String> {
    let Value::Array(a) = arg else {
        return Err(bad("Value of numeric must be an array."));
    };
    let Some(first) = a.first() else {
        return Err(bad("Invalid member in numeric match: ]"));
    };
    let Some(op) = first.as_str() else {
        return Err(bad(format!("Invalid member in numeric match: {first}")));
    };
    let op1 =
        cmp_of(op).ok_or_else(|| bad(format!("Unrecognized numeric range operator: {op}")))?;
    let name = |op: &str| {
        if op == "=" {
            "equals".to_string()
        } else {
            op.to_string()
        }
    };
    let n1 = a
        .get(1)
        .and_then(Value::as_f64)
        .ok_or_else(|| bad(format!("Value of {} must be numeric", name(op))))?;
    if a.len() == 2 {
        return Ok(Cond::Numeric(vec![(op1, n1)]));
    }
    if !matches!(op1, Cmp::Gt | Cmp::Ge) {
        return Err(bad("Too many elements in numeric expression"));
    }
    let second = &a[2];
    let Some(op2s) = second.as_str() else {
        return Err(bad(format!("Bad value in numeric range: {second}")));
    };
    let op2 = match cmp_of(op2s) {
        Some(c @ (Cmp::Lt | Cmp::Le)) => c,
        _ => return Err(bad(format!("Bad numeric range operator: {op2s}"))),
    };
    let n2 = a
        .get(3)
        .and_then(Value::as_f64)
        .ok_or_else(|| bad(format!("Value of {op2s} must be numeric")))?;
    if n2 <= n1 {
        return Err(bad("Bottom must be less than top"));
    }
    if a.len() > 4 {
        return Err(bad("Too many terms in numeric range expression"));
    }
    Ok(Cond::Numeric(vec![(op1, n1), (op2, n2)]))
}

/// An IP address as (is v6, value as u128).
fn parse_ip(s: &str) -> Option<(bool, u128)> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some((false, u32::from(a) as u128));
    }
    s.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|a| (true, u128::from(a)))
}

fn mask(addr: u128, bits: u32, width: u32) -> u128 {
    if bits == 0 {
        return 0;
    }
    let keep = if width == 128 && bits >= 128 {
        u128::MAX
    } else {
        ((1u128 << bits) - 1) << (width - bits)
    };
    addr & keep
}

fn compile_cidr(arg: &Value) -> Result<Cond, String> {
    let Value::String(s) = arg else {
        return Err(bad("prefix match pattern must be a string"));
    };
    let Some((ip, bits)) = s.split_once('/') else {
        return Err(bad("Malformed CIDR, one '/' required"));
    };
    let bits: u32 = bits
        .parse()
        .map_err(|_| bad("Malformed CIDR, mask bits must be an integer"))?;
    let (v6, addr) = parse_ip(ip).ok_or_else(|| bad(format!("Nonstandard IP address: {ip}")))?;
    let width = if v6 { 128 } else { 32 };
    if bits > width {
        return Err(bad(format!(
            "Malformed CIDR, mask bits must be an integer between 0 and {width}"
        )));
    }
    Ok(Cond::Cidr {
        v6,
        net: mask(addr, bits, width),
        bits,
    })
}

/// Glob matching with `*` (any run, possibly empty) and `\*`/`\\` escapes; linear backtracking.
fn wildcard(pattern: &str, s: &str) -> bool {
    // Tokens: Some(c) a literal, None a star.
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push(Some(it.next().unwrap_or('\\'))),
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(p) {
            Some(Some(c)) if *c == s[i] => {
                p += 1;
                i += 1;
            }
            Some(None) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p.min(toks.len())..].iter().all(Option::is_none)
}

fn lit_eq(l: &Lit, v: &Value) -> bool {
    match (l, v) {
        (Lit::Str(a), Value::String(b)) => a == b,
        (Lit::Num(a), Value::Number(b)) => b.as_f64() == Some(*a),
        (Lit::Bool(a), Value::Bool(b)) => a == b,
        (Lit::Null, Value::Null) => true,
        _ => false,
    }
}

fn value_matches(c: &Cond, v: &Value) -> bool {
    let s = v.as_str();
    match c {
        Cond::Exact(l) => lit_eq(l, v),
        Cond::Prefix { s: p, fold } => s.is_some_and(|s| {
            if *fold {
                s.to_lowercase().starts_with(&p.to_lowercase())
            } else {
                s.starts_with(p.as_str())
            }
        }),
        Cond::Suffix { s: p, fold } => s.is_some_and(|s| {
            if *fold {
                s.to_lowercase().ends_with(&p.to_lowercase())
            } else {
                s.ends_with(p.as_str())
            }
        }),
        Cond::EqualsIgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
        Cond::Wildcard(p) => s.is_some_and(|s| wildcard(p, s)),
        Cond::AnythingBut(ls) => !ls.iter().any(|l| lit_eq(l, v)),
        Cond::AnythingButPrefix(ps) => {
            s.is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str())))
        }
        Cond::AnythingButSuffix(ps) => {
            s.is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str())))
        }
        Cond::AnythingButIgnoreCase(ps) => {
            s.is_some_and(|s| !ps.iter().any(|p| p.to_lowercase() == s.to_lowercase()))
        }
        Cond::AnythingButWildcard(ps) => s.is_some_and(|s| !ps.iter().any(|p| wildcard(p, s))),
        Cond::Numeric(ranges) => v.as_f64().is_some_and(|n| {
            ranges.iter().all(|(op, x)| match op {
                Cmp::Lt => n < *x,
                Cmp::Le => n <= *x,
                Cmp::Eq => n == *x,
                Cmp::Ge => n >= *x,
                Cmp::Gt => n > *x,
            })
        }),
        Cond::Exists(_) => true,
        Cond::Cidr { v6, net, bits } => s.and_then(parse_ip).is_some_and(|(is6, a)| {
            is6 == *v6 && mask(a, *bits, if *v6 { 128 } else { 32 }) == *net
        }),
    }
}

/// The scalar values at `path`, through any arrays on the way.
fn values_at<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for x in items {
                values_at(x, path, out);
            }
        }
        Value::Object(m) => {
            if let Some((first, rest)) = path.split_first()
                && let Some(x) = m.get(first)
            {
                values_at(x, rest, out);
            }
        }
        scalar => {
            if path.is_empty() {
                out.push(scalar);
            }
        }
    }
}

impl Pattern {
    /// Whether the event (a JSON value) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.leaves.iter().all(|(path, conds)| {
            let mut vals = Vec::new();
            values_at(event, path, &mut vals);
            conds.iter().any(|c| match c {
                Cond::Exists(want) => *want != vals.is_empty(),
                c => vals.iter().any(|v| value_matches(c, v)),
            })
        }) && self.ors.iter().all(|g| g.iter().any(|b| b.matches(event)))
    }
}

/// Whether `text` (a pattern) matches `event`; a pattern that does not compile matches nothing.
pub fn matches_text(text: &str, event: &Value) -> bool {
    compile(text).is_ok_and(|p| p.matches(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(pattern: Value, event: Value) -> bool {
        compile(&pattern.to_string())
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .matches(&event)
    }

    fn err(pattern: &str) -> String {
        compile(pattern)
            .unwrap_err()
            .trim_start_matches(REASON)
            .to_string()
    }

    #[test]
    fn operator_table() {
        let ev = json!({
            "source": "com.shop", "detail-type": "Order Placed",
            "detail": {"id": 7, "price": 12.5, "state": "Paid", "ip": "10.0.1.7",
                       "v6": "2001:db8::1", "file": "photos/cat.png", "tags": ["a", "b"],
                       "none": null, "flag": true, "items": [{"sku": "x1", "n": 2}, {"sku": "y2", "n": 5}]}
        });
        let cases: &[(Value, bool)] = &[
            (json!({"source": ["com.shop"]}), true),
            (json!({"source": ["com.other"]}), false),
            (json!({"source": ["com.other", "com.shop"]}), true),
            (json!({"detail": {"id": [7]}}), true),
            (json!({"detail": {"id": [7.0]}}), true),
            (json!({"detail": {"id": ["7"]}}), false),
            (json!({"detail": {"none": [null]}}), true),
            (json!({"detail": {"missing": [null]}}), false),
            (json!({"detail": {"flag": [true]}}), true),
            (json!({"source": [{"prefix": "com."}]}), true),
            (json!({"source": [{"prefix": "org."}]}), false),
            (
                json!({"source": [{"prefix": {"equals-ignore-case": "COM.S"}}]}),
                true,
            ),
            (json!({"detail": {"file": [{"suffix": ".png"}]}}), true),
            (json!({"detail": {"file": [{"suffix": ".jpg"}]}}), false),
            (
                json!({"detail": {"file": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}),
                true,
            ),
            (
                json!({"detail": {"state": [{"equals-ignore-case": "PAID"}]}}),
                true,
            ),
            (
                json!({"detail": {"state": [{"equals-ignore-case": "unpaid"}]}}),
                false,
            ),
            (
                json!({"detail": {"file": [{"wildcard": "photos/*.png"}]}}),
                true,
            ),
            (json!({"detail": {"file": [{"wildcard": "*/dog*"}]}}), false),
            (
                json!({"detail": {"state": [{"anything-but": "Refunded"}]}}),
                true,
            ),
            (
                json!({"detail": {"state": [{"anything-but": ["Paid", "Refunded"]}]}}),
                false,
            ),
            (json!({"detail": {"id": [{"anything-but": [1, 2]}]}}), true),
            (
                json!({"detail": {"state": [{"anything-but": {"prefix": "Pa"}}]}}),
                false,
            ),
            (
                json!({"detail": {"state": [{"anything-but": {"prefix": "Re"}}]}}),
                true,
            ),
            (
                json!({"detail": {"state": [{"anything-but": {"suffix": "id"}}]}}),
                false,
            ),
            (
                json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["paid"]}}]}}),
                false,
            ),
            (
                json!({"detail": {"file": [{"anything-but": {"wildcard": "*.gif"}}]}}),
                true,
            ),
            (
                json!({"detail": {"missing": [{"anything-but": "x"}]}}),
                false,
            ),
            (
                json!({"detail": {"price": [{"numeric": [">", 10, "<=", 12.5]}]}}),
                true,
            ),
            (
                json!({"detail": {"price": [{"numeric": [">", 12.5]}]}}),
                false,
            ),
            (
                json!({"detail": {"price": [{"numeric": ["=", 12.5]}]}}),
                true,
            ),
            (json!({"detail": {"state": [{"numeric": [">", 0]}]}}), false),
            (json!({"detail": {"price": [{"exists": true}]}}), true),
            (json!({"detail": {"missing": [{"exists": false}]}}), true),
            (json!({"detail": {"price": [{"exists": false}]}}), false),
            (json!({"detail": {"items": [{"exists": true}]}}), false),
            (json!({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}), true),
            (json!({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}), false),
            (json!({"detail": {"v6": [{"cidr": "2001:db8::/32"}]}}), true),
            (json!({"detail": {"tags": ["b"]}}), true),
            (json!({"detail": {"tags": ["c"]}}), false),
            (json!({"detail": {"items": {"sku": ["y2"]}}}), true),
            (
                json!({"detail": {"items": {"n": [{"numeric": [">", 4]}]}}}),
                true,
            ),
            (json!({"detail": {"items": {"sku": ["z"]}}}), false),
            (
                json!({"$or": [{"source": ["nope"]}, {"detail": {"id": [7]}}]}),
                true,
            ),
            (
                json!({"$or": [{"source": ["nope"]}, {"detail": {"id": [8]}}]}),
                false,
            ),
            (
                json!({"detail": {"$or": [{"id": [8]}, {"state": ["Paid"]}]}, "source": ["com.shop"]}),
                true,
            ),
            (
                json!({"source": ["com.shop"], "detail-type": ["Other"]}),
                false,
            ),
            (json!({}), true),
        ];
        for (p, want) in cases {
            assert_eq!(m(p.clone(), ev.clone()), *want, "{p}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYY"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "aXb"));
        assert!(wildcard("*.png", "x.png"));
        assert!(!wildcard("*.png", "x.pngx"));
        // Linear even on adversarial input.
        let s = "a".repeat(10_000);
        assert!(!wildcard("*a*a*a*a*b", &s));
    }

    #[test]
    fn validation_messages() {
        assert_eq!(err("[1]"), "Filter is not an object");
        assert_eq!(err(r#"{"a": "x"}"#), "\"a\" must be an object or an array");
        assert_eq!(err(r#"{"a": []}"#), "Empty arrays are not allowed");
        assert_eq!(
            err(r#"{"a": [[1]]}"#),
            "Match value must be String, number, true, false, or null"
        );
        assert_eq!(err(r#"{"a": [{"foo": 1}]}"#), "Unrecognized match type foo");
        assert_eq!(
            err(r#"{"a": [{"prefix": 1}]}"#),
            "prefix match pattern must be a string"
        );
        assert_eq!(
            err(r#"{"a": [{"exists": "yes"}]}"#),
            "exists match pattern must be either true or false."
        );
        assert_eq!(
            err(r#"{"a": [{"numeric": 5}]}"#),
            "Value of numeric must be an array."
        );
        assert_eq!(
            err(r#"{"a": [{"numeric": ["!", 5]}]}"#),
            "Unrecognized numeric range operator: !"
        );
        assert_eq!(
            err(r#"{"a": [{"numeric": ["=", "x"]}]}"#),
            "Value of equals must be numeric"
        );
        assert_eq!(
            err(r#"{"a": [{"numeric": ["<", 1, ">", 0]}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            err(r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#),
            "Bottom must be less than top"
        );
        assert_eq!(
            err(r#"{"a": [{"cidr": "10.0.0.0"}]}"#),
            "Malformed CIDR, one '/' required"
        );
        assert_eq!(
            err(r#"{"a": [{"cidr": "10.0.0/8"}]}"#),
            "Nonstandard IP address: 10.0.0"
        );
        assert_eq!(
            err(r#"{"a": [{"wildcard": "a**"}]}"#),
            "Consecutive wildcard characters at pos 2"
        );
        assert_eq!(
            err(r#"{"a": [{"anything-but": {"foo": "x"}}]}"#),
            "Unsupported anything-but pattern: foo"
        );
        assert_eq!(
            err(r#"{"a": [{"prefix": "a", "suffix": "b"}]}"#),
            "Only one key allowed in match expression"
        );
        assert!(err("{").starts_with("Filter is not valid JSON"));
    }

    #[test]
    fn deep_patterns_are_refused_not_overflowed() {
        let mut p = String::from("[1]");
        for _ in 0..100 {
            p = format!("{{\"a\": {p}}}");
        }
        assert!(compile(&p).is_err());
    }

    /// Reference glob matcher (dynamic programming) for the property test.
    fn glob_ref(p: &[char], s: &[char]) -> bool {
        let mut dp = vec![vec![false; s.len() + 1]; p.len() + 1];
        dp[0][0] = true;
        for i in 1..=p.len() {
            dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
            for j in 1..=s.len() {
                dp[i][j] = if p[i - 1] == '*' {
                    dp[i - 1][j] || dp[i][j - 1]
                } else {
                    dp[i - 1][j - 1] && p[i - 1] == s[j - 1]
                };
            }
        }
        dp[p.len()][s.len()]
    }

    proptest::proptest! {
        #[test]
        fn wildcard_agrees_with_a_reference(p in "[ab*]{0,8}", s in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            proptest::prop_assert_eq!(wildcard(&p, &s), glob_ref(&pc, &sc));
        }

        #[test]
        fn any_text_compiles_or_is_refused_without_panic(t in "[\\[\\]{}\":,a-z0-9 .$*<>=-]{0,60}") {
            if let Ok(p) = compile(&t) {
                let _ = p.matches(&json!({"a": [1, "x", {"b": null}]}));
            }
        }
    }
}

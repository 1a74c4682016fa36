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
use snapstack_service::matcher::{self, Cond, Lit, Matcher};

/// The prefix of every InvalidEventPatternException message.
pub const REASON: &str = "Event pattern is not valid. Reason: ";
/// Deepest nesting of objects and `$or`s accepted.
const MAX_DEPTH: usize = 64;

/// A compiled pattern (the matcher shared with SNS filter policies).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pattern(Matcher);

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
    compile_object(&m, &[], 0).map(Pattern)
}

fn compile_object(
    m: &Map<String, Value>,
    path: &[String],
    depth: usize,
) -> Result<Matcher, String> {
    if depth > MAX_DEPTH {
        return Err(bad("Filter is too deeply nested"));
    }
    let mut p = Matcher::default();
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
    Lit::of(v)
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
    matcher::check_wildcard(s).map_err(bad)
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
        "numeric" => matcher::compile_numeric(arg).map_err(bad),
        "cidr" => matcher::compile_cidr(arg).map_err(bad),
        "anything-but" => compile_anything_but(arg),
        other => Err(bad(format!("Unrecognized match type {other}"))),
    }
}

fn compile_anything_but(arg: &Value) -> Result<Cond, String> {
    let any_but = |lits| Cond::AnythingBut {
        lits,
        null_matches: true,
    };
    if let Some(l) = literal(arg) {
        return Ok(any_but(vec![l]));
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
            Ok(any_but(lits))
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

impl Pattern {
    /// Whether the event (a JSON value) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.0.matches_json(event)
    }

    /// The shared matcher this pattern compiled to.
    pub fn matcher(&self) -> &Matcher {
        &self.0
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

    proptest::proptest! {
        #[test]
        fn any_text_compiles_or_is_refused_without_panic(t in "[\\[\\]{}\":,a-z0-9 .$*<>=-]{0,60}") {
            if let Ok(p) = compile(&t) {
                let _ = p.matches(&json!({"a": [1, "x", {"b": null}]}));
            }
        }
    }
}

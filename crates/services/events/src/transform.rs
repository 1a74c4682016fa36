//! What a target receives: the event, its constant `Input`, the value at its `InputPath`, or its
//! `InputTransformer` (values picked by `InputPathsMap` JSONPaths placed into `InputTemplate`).
//!
//! JSONPath: `$`, `$.a.b`, `$['a']`, `$.a[0]`, `$.a[*]`. In a template, a `<name>` inside a
//! JSON string is replaced by the value's text (a string's characters, escaped for JSON); outside
//! a string, by the value's JSON. A path that finds nothing gives an empty string inside quotes
//! and `null` outside. Predefined: `<aws.events.event>`/`<aws.events.event.json>` (the event),
//! `<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    All,
}

/// Parse a JSONPath of the supported subset.
fn parse_path(path: &str) -> Option<Vec<Seg>> {
    let rest = path.trim().strip_prefix('$')?;
    let mut segs = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                let k = &rest[start..j];
                segs.push(if k == "*" {
                    Seg::All
                } else {
                    Seg::Key(k.to_string())
                });
                i = j;
            }
            b'[' => {
                let end = rest[i..].find(']')? + i;
                let inner = rest[i + 1..end].trim();
                let seg = if inner == "*" {
                    Seg::All
                } else if let Some(q) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    Seg::Key(q.to_string())
                } else {
                    Seg::Index(inner.parse().ok()?)
                };
                segs.push(seg);
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(segs)
}

pub fn valid_path(path: &str) -> bool {
    parse_path(path).is_some()
}

/// The value at a JSONPath (`[*]` collects into an array), if any.
pub fn select(v: &Value, path: &str) -> Option<Value> {
    let segs = parse_path(path)?;
    let mut cur = vec![v.clone()];
    let mut multi = false;
    for s in &segs {
        let mut next = Vec::new();
        for c in cur {
            match (s, c) {
                (Seg::Key(k), Value::Object(mut m)) => next.extend(m.remove(k)),
                (Seg::Index(n), Value::Array(mut a)) if *n < a.len() => {
                    next.push(a.swap_remove(*n))
                }
                (Seg::All, Value::Array(a)) => {
                    multi = true;
                    next.extend(a)
                }
                (Seg::All, Value::Object(m)) => {
                    multi = true;
                    next.extend(m.into_iter().map(|(_, v)| v))
                }
                _ => {}
            }
        }
        cur = next;
    }
    if multi {
        Some(Value::Array(cur))
    } else {
        cur.into_iter().next()
    }
}

/// Rule facts the predefined template variables name.
pub struct RuleInfo<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub ingestion_time: &'a str,
}

/// Fill a template.
pub fn render(
    template: &str,
    paths: &BTreeMap<String, String>,
    event: &Value,
    rule: &RuleInfo<'_>,
) -> String {
    let mut vars: BTreeMap<&str, Option<Value>> = BTreeMap::new();
    for (k, p) in paths {
        vars.insert(k.as_str(), select(event, p));
    }
    vars.insert("aws.events.event", Some(event.clone()));
    vars.insert("aws.events.event.json", Some(event.clone()));
    vars.insert("aws.events.rule-arn", Some(json!(rule.arn)));
    vars.insert("aws.events.rule-name", Some(json!(rule.name)));
    vars.insert(
        "aws.events.event.ingestion-time",
        Some(json!(rule.ingestion_time)),
    );
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
            && let Some(val) = vars.get(&rest[1..end])
        {
            match (in_string, val) {
                (true, Some(Value::String(s))) => {
                    let q = Value::String(s.clone()).to_string();
                    out.push_str(&q[1..q.len() - 1]);
                }
                (true, Some(v)) => {
                    let q = Value::String(v.to_string()).to_string();
                    out.push_str(&q[1..q.len() - 1]);
                }
                (true, None) => {}
                (false, Some(v)) => out.push_str(&v.to_string()),
                (false, None) => out.push_str("null"),
            }
            rest = &rest[end + 1..];
            continue;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' && in_string {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The body a target gets for an event, from the target's JSON.
pub fn body_for(target: &Value, event: &Value, rule: &RuleInfo<'_>) -> String {
    if let Some(input) = target.get("Input").and_then(Value::as_str) {
        return input.to_string();
    }
    if let Some(path) = target.get("InputPath").and_then(Value::as_str) {
        return select(event, path).unwrap_or(Value::Null).to_string();
    }
    if let Some(t) = target.get("InputTransformer") {
        let paths: BTreeMap<String, String> = t
            .get("InputPathsMap")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let template = t
            .get("InputTemplate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return render(template, &paths, event, rule);
    }
    event.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RuleInfo<'static> {
        RuleInfo {
            arn: "arn:aws:events:us-east-1:000000000000:rule/r",
            name: "r",
            ingestion_time: "t",
        }
    }

    #[test]
    fn paths() {
        let ev = json!({"detail": {"a": [1, {"b": "x"}], "k": "v"}});
        assert_eq!(select(&ev, "$"), Some(ev.clone()));
        assert_eq!(select(&ev, "$.detail.k"), Some(json!("v")));
        assert_eq!(select(&ev, "$['detail']['k']"), Some(json!("v")));
        assert_eq!(select(&ev, "$.detail.a[1].b"), Some(json!("x")));
        assert_eq!(select(&ev, "$.detail.a[*]"), Some(json!([1, {"b": "x"}])));
        assert_eq!(select(&ev, "$.nope"), None);
        assert!(!valid_path("detail.k"));
        assert!(!valid_path("$..a"));
    }

    #[test]
    fn templates() {
        let ev = json!({"detail": {"instance": "i-1", "state": "running", "n": 3, "o": {"x": 1}}});
        let paths: BTreeMap<String, String> = [
            ("instance", "$.detail.instance"),
            ("state", "$.detail.state"),
            ("n", "$.detail.n"),
            ("o", "$.detail.o"),
            ("missing", "$.detail.nope"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let r = rule();
        assert_eq!(
            render("\"<instance> is in state <state>\"", &paths, &ev, &r),
            "\"i-1 is in state running\""
        );
        assert_eq!(
            render(
                "{\"id\": <instance>, \"n\": <n>, \"o\": <o>, \"m\": <missing>, \"s\": \"<n>\"}",
                &paths,
                &ev,
                &r
            ),
            "{\"id\": \"i-1\", \"n\": 3, \"o\": {\"x\":1}, \"m\": null, \"s\": \"3\"}"
        );
        assert_eq!(
            render("{\"rule\": \"<aws.events.rule-name>\"}", &paths, &ev, &r),
            "{\"rule\": \"r\"}"
        );
        assert_eq!(
            render("<unknown> <state>", &paths, &ev, &r),
            "<unknown> \"running\""
        );
    }
}

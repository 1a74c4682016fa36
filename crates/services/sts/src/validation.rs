//! STS's input validation: the model's constraints (required members, lengths, ranges, via
//! `snapstack_protocol::validate`) and its patterns (`[\w+=,.@-]*` for session names, ...),
//! answered as STS answers them: `ValidationError`, 400, in AWS's wording:
//!
//! `1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint:
//! Member must satisfy regular expression pattern: [\w+=,.@-]*`
//!
//! Patterns are the model's Java-style ones, matched against the whole value; `\w` and `\d` are
//! ASCII as in Java, `\uXXXX` (and the model's `\u10000`-style astral escapes) are code points.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::validate;

/// AWS reports at most this many violations.
const MAX_REPORTED: usize = 10;
/// STS inputs nest three levels; nothing deeper is walked.
const MAX_DEPTH: usize = 6;

/// STS's validation error.
pub fn error(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", message)
}

/// Check an operation's input against the model.
pub fn check(model: &ServiceModel, operation: &str, input: &Value) -> Result<(), AwsError> {
    let mut found = validate::violations(model, operation, input);
    if let Some(shape) = model
        .operations
        .get(operation)
        .and_then(|o| o.input.as_ref())
    {
        patterns(model, &shape.shape, input, "", 0, &mut found);
    }
    if found.is_empty() {
        return Ok(());
    }
    found.truncate(MAX_REPORTED);
    Err(error(validate::message(&found)))
}

fn camel(member: &str) -> String {
    let mut chars = member.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect()
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        camel(member)
    } else {
        format!("{path}.{}", camel(member))
    }
}

fn patterns(
    model: &ServiceModel,
    shape_name: &str,
    value: &Value,
    path: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    let Some(shape) = model.shape(shape_name) else {
        return;
    };
    if depth > MAX_DEPTH || out.len() >= MAX_REPORTED {
        return;
    }
    match (shape.kind.as_str(), value) {
        ("string", Value::String(s)) => {
            if let Some(p) = &shape.pattern
                && !matches(p, s)
            {
                let shown: String = s.chars().take(256).collect();
                out.push(format!(
                    "Value '{shown}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {p}"
                ));
            }
        }
        ("structure", Value::Object(fields)) => {
            for (name, m) in &shape.members {
                if let Some(v) = fields.get(name) {
                    patterns(model, &m.shape, v, &join(path, name), depth + 1, out);
                }
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(m) = &shape.member {
                for (i, v) in items.iter().enumerate().take(100) {
                    let p = format!("{path}.{}.member", i + 1);
                    patterns(model, &m.shape, v, &p, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// Whether `text` matches the model's pattern whole. A pattern this translation cannot read
/// accepts everything (the model's other constraints still apply).
pub fn matches(pattern: &str, text: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = match cache.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    // Patterns come from the embedded model only, so the cache is bounded by it.
    let re = map
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(&format!("^(?:{})$", translate(pattern))).ok());
    re.as_ref().is_none_or(|r| r.is_match(text))
}

/// A Java-style pattern in Rust's syntax.
fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    // Inside a character class `\w` and `\d` are ranges; outside, a class of their own
    // (`\d{12}` is twelve digits).
    let mut in_class = false;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let (open, close) = if in_class { ("", "") } else { ("[", "]") };
            match chars[i + 1] {
                'w' => {
                    out.push_str(&format!("{open}a-zA-Z0-9_{close}"));
                    i += 2;
                    continue;
                }
                'd' => {
                    out.push_str(&format!("{open}0-9{close}"));
                    i += 2;
                    continue;
                }
                'u' => {
                    let digits: String = chars[i + 2..]
                        .iter()
                        .take(6)
                        .take_while(|c| c.is_ascii_hexdigit())
                        .collect();
                    // `\u10FFFF`: the longest run that is still a code point.
                    let mut n = digits.len();
                    while n > 4
                        && u32::from_str_radix(&digits[..n], 16).map_or(true, |v| v > 0x10FFFF)
                    {
                        n -= 1;
                    }
                    if n >= 4 {
                        out.push_str(&format!("\\x{{{}}}", &digits[..n]));
                        i += 2 + n;
                        continue;
                    }
                }
                _ => {}
            }
            out.push(chars[i]);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        match chars[i] {
            '[' => in_class = true,
            ']' => in_class = false,
            _ => {}
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_patterns_translate() {
        let session = r"[\w+=,.@-]*";
        assert!(matches(session, "my-session@x.com"));
        assert!(!matches(session, "bad session"));
        assert!(!matches(session, "é"));
        let arn =
            r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";
        assert!(matches(arn, "arn:aws:iam::123456789012:role/r"));
        assert!(matches(arn, "arn:aws:iam::123456789012:role/😀"));
        assert!(!matches(arn, "arn:\u{1}"));
        assert!(matches(r"[\d]*", "123456"));
        // Outside a class, `\d` is a digit class of its own.
        assert!(matches(r"\d{12}", "222222222222"));
        assert!(!matches(r"\d{12}", "2222"));
        assert!(matches(r"[\w-]+", "e4bdcdae-4f66-11eD"));
        assert!(!matches(r"[\d]*", "12345a"));
        let tag = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
        assert!(matches(tag, "Project Name"));
        assert!(!matches(tag, "a*b"));
    }
}

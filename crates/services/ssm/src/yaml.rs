//! The YAML that SSM documents are written in, read into JSON: block mappings and sequences
//! (a sequence item may open a mapping, `- name: x`), plain, single- and double-quoted scalars
//! (booleans, numbers and null typed as YAML 1.2's core schema types them), literal and folded
//! block scalars (`|`, `>`), flow sequences and mappings on one line, and comments. Anchors,
//! aliases, tags and multi-document streams are not read (`None`): the caller falls back to
//! what it can outline.

use serde_json::{Map, Value};

/// Nesting deeper than this is refused (client input: no unbounded recursion).
const MAX_DEPTH: usize = 64;

struct Line {
    indent: usize,
    /// The line without its comment, trimmed at the end.
    text: String,
    /// The line as written (block scalars keep `#`).
    raw: String,
}

fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &s[..i],
            _ => {}
        }
        prev = c;
    }
    s
}

/// Parse a YAML document into JSON, or `None` if it uses what this reader does not.
pub(super) fn parse(src: &str) -> Option<Value> {
    let mut lines: Vec<Line> = Vec::new();
    for raw in src.lines() {
        if raw.trim_start().starts_with("---") && lines.is_empty() {
            continue;
        }
        if raw.starts_with('\t') {
            return None;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let text = strip_comment(raw).trim_end().to_string();
        lines.push(Line {
            indent,
            text,
            raw: raw.to_string(),
        });
    }
    let mut i = 0;
    skip_blank(&lines, &mut i);
    if i >= lines.len() {
        return Some(Value::Null);
    }
    let indent = lines[i].indent;
    let v = block(&mut lines, &mut i, indent, 0)?;
    skip_blank(&lines, &mut i);
    (i >= lines.len()).then_some(v)
}

fn skip_blank(lines: &[Line], i: &mut usize) {
    while *i < lines.len() && lines[*i].text.trim().is_empty() {
        *i += 1;
    }
}

fn is_item(text: &str) -> bool {
    let t = text.trim_start();
    t == "-" || t.starts_with("- ")
}

/// The `key: value` split of a mapping line (outside quotes and flow collections).
fn split_key(text: &str) -> Option<(String, &str)> {
    let t = text.trim_start();
    let (mut single, mut double, mut depth) = (false, false, 0i32);
    let bytes = t.as_bytes();
    for (i, c) in t.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '[' | '{' if !single && !double => depth += 1,
            ']' | '}' if !single && !double => depth -= 1,
            ':' if !single && !double && depth == 0 => {
                let next = bytes.get(i + 1).copied();
                if next.is_none() || next == Some(b' ') {
                    let key = scalar(&t[..i]);
                    let key = match key {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    return Some((key, t[i + 1..].trim()));
                }
            }
            _ => {}
        }
    }
    None
}

fn block(lines: &mut Vec<Line>, i: &mut usize, indent: usize, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    skip_blank(lines, i);
    if *i >= lines.len() {
        return Some(Value::Null);
    }
    if is_item(&lines[*i].text) {
        sequence(lines, i, indent, depth)
    } else {
        mapping(lines, i, indent, depth)
    }
}

fn sequence(lines: &mut Vec<Line>, i: &mut usize, indent: usize, depth: usize) -> Option<Value> {
    let mut out = Vec::new();
    loop {
        skip_blank(lines, i);
        if *i >= lines.len() || lines[*i].indent != indent || !is_item(&lines[*i].text) {
            break;
        }
        let text = lines[*i].text.trim_start().to_string();
        let rest = text[1..].trim_start();
        if rest.is_empty() {
            *i += 1;
            skip_blank(lines, i);
            if *i < lines.len() && lines[*i].indent > indent {
                let child = lines[*i].indent;
                out.push(block(lines, i, child, depth + 1)?);
            } else {
                out.push(Value::Null);
            }
            continue;
        }
        // `- key: value` opens a mapping (or `- - x` a sequence) at the item's column.
        let column = indent + (text.len() - rest.len());
        if split_key(rest).is_some() || is_item(rest) {
            lines[*i].indent = column;
            lines[*i].text = format!("{}{rest}", " ".repeat(column));
            out.push(block(lines, i, column, depth + 1)?);
        } else {
            out.push(scalar(rest));
            *i += 1;
        }
    }
    Some(Value::Array(out))
}

fn mapping(lines: &mut Vec<Line>, i: &mut usize, indent: usize, depth: usize) -> Option<Value> {
    let mut out = Map::new();
    loop {
        skip_blank(lines, i);
        if *i >= lines.len() || lines[*i].indent != indent || is_item(&lines[*i].text) {
            break;
        }
        let text = lines[*i].text.clone();
        let (key, rest) = split_key(&text)?;
        let rest = rest.to_string();
        *i += 1;
        let value = if rest.is_empty() {
            skip_blank(lines, i);
            if *i < lines.len() && lines[*i].indent > indent {
                let child = lines[*i].indent;
                block(lines, i, child, depth + 1)?
            } else if *i < lines.len() && lines[*i].indent == indent && is_item(&lines[*i].text) {
                sequence(lines, i, indent, depth + 1)?
            } else {
                Value::Null
            }
        } else if rest.starts_with('|') || rest.starts_with('>') {
            block_scalar(lines, i, indent, &rest)
        } else if rest.starts_with('&') || rest.starts_with('*') || rest.starts_with('!') {
            return None;
        } else {
            scalar(&rest)
        };
        out.insert(key, value);
    }
    Some(Value::Object(out))
}

/// A literal (`|`) or folded (`>`) scalar: the lines indented more than its key.
fn block_scalar(lines: &[Line], i: &mut usize, indent: usize, header: &str) -> Value {
    let folded = header.starts_with('>');
    let keep = header.contains('+');
    let strip = header.contains('-');
    let mut body: Vec<&str> = Vec::new();
    let mut base: Option<usize> = None;
    while *i < lines.len() {
        let l = &lines[*i];
        if l.raw.trim().is_empty() {
            body.push("");
            *i += 1;
            continue;
        }
        if l.indent <= indent {
            break;
        }
        let b = *base.get_or_insert(l.indent);
        body.push(l.raw.get(b.min(l.indent)..).unwrap_or(""));
        *i += 1;
    }
    while !keep && body.last() == Some(&"") {
        body.pop();
    }
    let mut text = if folded {
        let mut s = String::new();
        for (n, line) in body.iter().enumerate() {
            if n > 0 {
                s.push(if line.is_empty() || body[n - 1].is_empty() {
                    '\n'
                } else {
                    ' '
                });
            }
            s.push_str(line);
        }
        s
    } else {
        body.join("\n")
    };
    if !strip && !text.is_empty() {
        text.push('\n');
    }
    Value::String(text)
}

/// Split a flow collection's inside at its top-level commas.
fn split_flow(inner: &str) -> Vec<&str> {
    let (mut single, mut double, mut depth, mut start) = (false, false, 0i32, 0);
    let mut out = Vec::new();
    for (i, c) in inner.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '[' | '{' if !single && !double => depth += 1,
            ']' | '}' if !single && !double => depth -= 1,
            ',' if !single && !double && depth == 0 => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

fn scalar(s: &str) -> Value {
    scalar_at(s, 0)
}

fn scalar_at(s: &str, depth: usize) -> Value {
    let s = s.trim();
    if depth > MAX_DEPTH {
        return Value::String(s.to_string());
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return serde_json::from_str::<String>(s)
            .map(Value::String)
            .unwrap_or_else(|_| Value::String(s[1..s.len() - 1].to_string()));
    }
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        return Value::String(s[1..s.len() - 1].replace("''", "'"));
    }
    if s.starts_with('[') && s.ends_with(']') {
        return Value::Array(
            split_flow(&s[1..s.len() - 1])
                .into_iter()
                .map(|x| scalar_at(x, depth + 1))
                .collect(),
        );
    }
    if s.starts_with('{') && s.ends_with('}') {
        let mut m = Map::new();
        for entry in split_flow(&s[1..s.len() - 1]) {
            match split_key(entry) {
                Some((k, v)) => m.insert(k, scalar_at(v, depth + 1)),
                None => m.insert(scalar_at(entry, depth + 1).to_string(), Value::Null),
            };
        }
        return Value::Object(m);
    }
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" | "~" | "" => return Value::Null,
        _ => {}
    }
    if let Ok(n) = s.parse::<i64>() {
        return Value::from(n);
    }
    if s.contains('.')
        && s.bytes().all(|b| {
            b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+' || b == b'e' || b == b'E'
        })
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn automation_runbooks_read_as_their_json() {
        let doc = r#"
# a runbook
schemaVersion: '0.3'
description: |
  Makes a queue.
  Then waits.
parameters:
  QueueName:
    type: String
    allowedValues: [a, "b c"]
  Count: {type: Integer, default: 3}
mainSteps:
  - name: make   # the first step
    action: aws:executeAwsApi
    inputs:
      Service: sqs
      Api: CreateQueue
      QueueName: '{{ QueueName }}'
    outputs:
      - Name: Url
        Selector: $.QueueUrl
        Type: String
  - name: nap
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT5S
outputs:
- make.Url
"#;
        let v = parse(doc).unwrap();
        assert_eq!(
            v,
            json!({
                "schemaVersion": "0.3",
                "description": "Makes a queue.\nThen waits.\n",
                "parameters": {
                    "QueueName": {"type": "String", "allowedValues": ["a", "b c"]},
                    "Count": {"type": "Integer", "default": 3}
                },
                "mainSteps": [
                    {"name": "make", "action": "aws:executeAwsApi",
                     "inputs": {"Service": "sqs", "Api": "CreateQueue", "QueueName": "{{ QueueName }}"},
                     "outputs": [{"Name": "Url", "Selector": "$.QueueUrl", "Type": "String"}]},
                    {"name": "nap", "action": "aws:sleep", "isEnd": true, "inputs": {"Duration": "PT5S"}}
                ],
                "outputs": ["make.Url"]
            })
        );
    }

    #[test]
    fn what_is_not_read_is_refused_and_depth_is_bounded() {
        assert_eq!(parse("a: &x 1\nb: *x\n"), None);
        assert_eq!(parse("just text"), None);
        let deep: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        assert_eq!(parse(&deep), None);
        assert_eq!(parse("x: [1, [2, 3]]").unwrap(), json!({"x": [1, [2, 3]]}));
        assert_eq!(parse("x: >\n  a\n  b\n").unwrap(), json!({"x": "a b\n"}));
    }
}

//! Log transformers: PutTransformer / GetTransformer / DeleteTransformer (one per log group) and
//! TestTransformer, which applies AWS's processors to sample messages.
//!
//! Processors applied: parseJSON, parseKeyValue, csv, grok (a table of the common patterns),
//! addKeys, deleteKeys, renameKeys, copyValue, moveKeys, lowerCaseString, upperCaseString,
//! trimString, splitString, substituteString (regular expressions), typeConverter, listToMap.
//! The vendor parsers (parseCloudfront, parseRoute53, parsePostgres, parseVPC, parseWAF,
//! parseToOCSF) and dateTimeConverter are accepted and stored but leave the event unchanged.

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

/// Processors in one transformer (AWS's limit).
const MAX_PROCESSORS: usize = 20;
/// Parsers: a transformer's first processor must be one of these.
const PARSERS: &[&str] = &[
    "parseJSON",
    "parseKeyValue",
    "csv",
    "grok",
    "parseCloudfront",
    "parseRoute53",
    "parsePostgres",
    "parseVPC",
    "parseWAF",
    "parseToOCSF",
];
/// Processors that may appear at most once.
const ONCE: &[&str] = &[
    "grok",
    "parseCloudfront",
    "parseRoute53",
    "parsePostgres",
    "parseVPC",
    "parseWAF",
    "parseToOCSF",
];

/// Check a transformer configuration as AWS does.
pub(crate) fn validate(config: &[Value]) -> Result<(), AwsError> {
    if config.is_empty() || config.len() > MAX_PROCESSORS {
        return Err(invalid(format!(
            "A transformer must have between 1 and {MAX_PROCESSORS} processors."
        )));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, proc) in config.iter().enumerate() {
        let Some(m) = proc.as_object().filter(|m| m.len() == 1) else {
            return Err(invalid(format!(
                "Processor {} must configure exactly one processor type.",
                i + 1
            )));
        };
        let name = m.keys().next().map(String::as_str).unwrap_or_default();
        if i == 0 && !PARSERS.contains(&name) {
            return Err(invalid(
                "The first processor in a transformer must be a parser.",
            ));
        }
        if ONCE.contains(&name) && seen.contains(&name) {
            return Err(invalid(format!(
                "The processor {name} can appear only once in a transformer."
            )));
        }
        if name == "grok"
            && let Some(p) = m[name]["match"].as_str()
        {
            grok_regex(p)?;
        }
        seen.push(name);
    }
    Ok(())
}

/// The value at a dotted path.
fn get_path<'a>(o: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = o.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    get_path(o.get(head)?.as_object()?, rest)
}

fn set_path(o: &mut Map<String, Value>, path: &str, v: Value, overwrite: bool) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let e = o.entry(head.to_string()).or_insert_with(|| json!({}));
            if !e.is_object() {
                if !overwrite {
                    return;
                }
                *e = json!({});
            }
            if let Some(m) = e.as_object_mut() {
                set_path(m, rest, v, overwrite);
            }
        }
        None => {
            if overwrite || !o.contains_key(path) {
                o.insert(path.to_string(), v);
            }
        }
    }
}

fn remove_path(o: &mut Map<String, Value>, path: &str) -> Option<Value> {
    if let Some(v) = o.remove(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    remove_path(o.get_mut(head)?.as_object_mut()?, rest)
}

/// The grok patterns understood, as regular expressions.
fn grok_pattern(name: &str) -> Option<&'static str> {
    Some(match name {
        "WORD" => r"\b\w+\b",
        "NOTSPACE" => r"\S+",
        "SPACE" => r"\s*",
        "DATA" => r".*?",
        "GREEDYDATA" => r".*",
        "INT" => r"[+-]?\d+",
        "NUMBER" | "BASE10NUM" => r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)",
        "POSINT" => r"\d+",
        "IP" | "IPV4" => r"(?:\d{1,3}\.){3}\d{1,3}",
        "HOSTNAME" => r"[A-Za-z0-9][A-Za-z0-9.\-]*",
        "USERNAME" | "USER" => r"[A-Za-z0-9._-]+",
        "LOGLEVEL" => {
            r"(?i:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRIT|CRITICAL|FATAL|SEVERE|EMERG)"
        }
        "QUOTEDSTRING" => r#""(?:[^"\\]|\\.)*""#,
        "UUID" => r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
        "TIMESTAMP_ISO8601" => {
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
        }
        "HTTPDATE" => r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
        "URIPATH" => r"/[^\s?#]*",
        "URIPATHPARAM" => r"/[^\s#]*",
        _ => return None,
    })
}

/// A grok expression (`%{PATTERN:name}` and literal text) as an anchored regular expression.
pub(crate) fn grok_regex(expr: &str) -> Result<(regex::Regex, Vec<String>), AwsError> {
    let mut re = String::from("^");
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("%{") {
        re.push_str(&regex::escape(&rest[..i]));
        let after = &rest[i + 2..];
        let j = after
            .find('}')
            .ok_or_else(|| invalid(format!("Invalid grok pattern: {expr}")))?;
        let spec = &after[..j];
        let mut parts = spec.splitn(2, ':');
        let pat = parts.next().unwrap_or_default();
        let body =
            grok_pattern(pat).ok_or_else(|| invalid(format!("Unsupported grok pattern: {pat}")))?;
        match parts.next() {
            Some(name) => {
                names.push(name.to_string());
                re.push_str(&format!("(?P<g{}>{body})", names.len() - 1));
            }
            None => re.push_str(&format!("(?:{body})")),
        }
        rest = &after[j + 1..];
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    let r = regex::RegexBuilder::new(&re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| invalid(format!("Invalid grok pattern: {e}")))?;
    Ok((r, names))
}

fn source_text(o: &Map<String, Value>, raw: &str, cfg: &Value) -> Option<String> {
    match cfg["source"].as_str().unwrap_or("@message") {
        "@message" => Some(raw.to_string()),
        s => get_path(o, s).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        }),
    }
}

fn merge_into(o: &mut Map<String, Value>, dest: Option<&str>, parsed: Map<String, Value>) {
    match dest {
        Some(d) => set_path(o, d, Value::Object(parsed), true),
        None => o.extend(parsed),
    }
}

fn with_keys(cfg: &Value) -> impl Iterator<Item = &str> {
    cfg["withKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn entries(cfg: &Value) -> impl Iterator<Item = &Value> {
    cfg["entries"].as_array().into_iter().flatten()
}

fn split_csv(line: &str, delim: char, quote: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            if quoted && chars.peek() == Some(&quote) {
                cur.push(quote);
                chars.next();
            } else {
                quoted = !quoted;
            }
        } else if c == delim && !quoted {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Apply a transformer to one message: the transformed event (a JSON object), or `None` when
/// the first parser does not apply.
pub(crate) fn apply(config: &[Value], raw: &str) -> Option<Value> {
    let mut o = Map::new();
    for proc in config {
        let Some((name, cfg)) = proc.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        match name.as_str() {
            "parseJSON" => {
                let text = source_text(&o, raw, cfg)?;
                let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text) else {
                    return None;
                };
                merge_into(&mut o, cfg["destination"].as_str(), m);
            }
            "parseKeyValue" => {
                let text = source_text(&o, raw, cfg)?;
                let fd = cfg["fieldDelimiter"].as_str().unwrap_or("&");
                let kd = cfg["keyValueDelimiter"].as_str().unwrap_or("=");
                let prefix = cfg["keyPrefix"].as_str().unwrap_or("");
                let overwrite = cfg["overwriteIfExists"].as_bool().unwrap_or(false);
                let mut m = Map::new();
                for pair in text.split(fd).filter(|p| !p.is_empty()) {
                    let (k, v) = match pair.split_once(kd) {
                        Some((k, v)) => (k, json!(v)),
                        None => (
                            pair,
                            cfg.get("nonMatchValue").cloned().unwrap_or(Value::Null),
                        ),
                    };
                    if v.is_null() {
                        continue;
                    }
                    let k = format!("{prefix}{k}");
                    if overwrite || !o.contains_key(&k) {
                        m.insert(k, v);
                    }
                }
                merge_into(&mut o, cfg["destination"].as_str(), m);
            }
            "csv" => {
                let text = source_text(&o, raw, cfg)?;
                let delim = cfg["delimiter"]
                    .as_str()
                    .and_then(|d| d.chars().next())
                    .unwrap_or(',');
                let quote = cfg["quoteCharacter"]
                    .as_str()
                    .and_then(|d| d.chars().next())
                    .unwrap_or('"');
                let cols: Vec<String> = cfg["columns"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let mut m = Map::new();
                for (i, val) in split_csv(&text, delim, quote).into_iter().enumerate() {
                    let k = cols
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("column_{}", i + 1));
                    m.insert(k, json!(val));
                }
                merge_into(&mut o, cfg["destination"].as_str(), m);
            }
            "grok" => {
                let text = source_text(&o, raw, cfg)?;
                let (re, names) = grok_regex(cfg["match"].as_str().unwrap_or_default()).ok()?;
                let caps = re.captures(&text)?;
                for (i, n) in names.iter().enumerate() {
                    if let Some(c) = caps.name(&format!("g{i}")) {
                        set_path(&mut o, n, json!(c.as_str()), true);
                    }
                }
            }
            "addKeys" => {
                for e in entries(cfg) {
                    if let Some(k) = e["key"].as_str() {
                        let ow = e["overwriteIfExists"].as_bool().unwrap_or(false);
                        set_path(&mut o, k, json!(e["value"].as_str().unwrap_or("")), ow);
                    }
                }
            }
            "deleteKeys" => {
                for k in with_keys(cfg) {
                    remove_path(&mut o, k);
                }
            }
            "renameKeys" | "moveKeys" | "copyValue" => {
                for e in entries(cfg) {
                    let (from, to) = if name == "renameKeys" {
                        (e["key"].as_str(), e["renameTo"].as_str())
                    } else {
                        (e["source"].as_str(), e["target"].as_str())
                    };
                    let (Some(from), Some(to)) = (from, to) else {
                        continue;
                    };
                    let ow = e["overwriteIfExists"].as_bool().unwrap_or(false);
                    if !ow && get_path(&o, to).is_some() {
                        continue;
                    }
                    let val = if name == "copyValue" {
                        match from {
                            "@message" => Some(json!(raw)),
                            f => get_path(&o, f).cloned(),
                        }
                    } else {
                        remove_path(&mut o, from)
                    };
                    if let Some(val) = val {
                        set_path(&mut o, to, val, true);
                    }
                }
            }
            "lowerCaseString" | "upperCaseString" | "trimString" => {
                for k in with_keys(cfg) {
                    if let Some(s) = get_path(&o, k).and_then(Value::as_str) {
                        let t = match name.as_str() {
                            "lowerCaseString" => s.to_lowercase(),
                            "upperCaseString" => s.to_uppercase(),
                            _ => s.trim().to_string(),
                        };
                        set_path(&mut o, k, json!(t), true);
                    }
                }
            }
            "splitString" => {
                for e in entries(cfg) {
                    let (Some(k), Some(d)) = (e["source"].as_str(), e["delimiter"].as_str()) else {
                        continue;
                    };
                    if let Some(s) = get_path(&o, k)
                        .and_then(Value::as_str)
                        .filter(|_| !d.is_empty())
                    {
                        let parts: Vec<Value> = s.split(d).map(|x| json!(x)).collect();
                        set_path(&mut o, k, Value::Array(parts), true);
                    }
                }
            }
            "substituteString" => {
                for e in entries(cfg) {
                    let (Some(k), Some(from), Some(to)) =
                        (e["source"].as_str(), e["from"].as_str(), e["to"].as_str())
                    else {
                        continue;
                    };
                    let Ok(re) = regex::RegexBuilder::new(from).size_limit(1 << 20).build() else {
                        continue;
                    };
                    if let Some(s) = get_path(&o, k).and_then(Value::as_str) {
                        let t = re.replace_all(s, to).into_owned();
                        set_path(&mut o, k, json!(t), true);
                    }
                }
            }
            "typeConverter" => {
                for e in entries(cfg) {
                    let (Some(k), Some(t)) = (e["key"].as_str(), e["type"].as_str()) else {
                        continue;
                    };
                    let Some(cur) = get_path(&o, k).cloned() else {
                        continue;
                    };
                    let text = cur
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| cur.to_string());
                    let conv = match t {
                        "integer" => text.trim().parse::<i64>().ok().map(|n| json!(n)),
                        "double" => text.trim().parse::<f64>().ok().map(|n| json!(n)),
                        "boolean" => match text.trim().to_ascii_lowercase().as_str() {
                            "true" => Some(json!(true)),
                            "false" => Some(json!(false)),
                            _ => None,
                        },
                        "string" => Some(json!(text)),
                        _ => None,
                    };
                    if let Some(c) = conv {
                        set_path(&mut o, k, c, true);
                    }
                }
            }
            "listToMap" => {
                let (Some(src), Some(key)) = (cfg["source"].as_str(), cfg["key"].as_str()) else {
                    continue;
                };
                let Some(list) = get_path(&o, src).and_then(Value::as_array).cloned() else {
                    continue;
                };
                let mut m = Map::new();
                for item in &list {
                    let Some(k) = item.get(key).and_then(Value::as_str) else {
                        continue;
                    };
                    let val = match cfg["valueKey"].as_str() {
                        Some(vk) => item.get(vk).cloned().unwrap_or(Value::Null),
                        None => item.clone(),
                    };
                    let last = cfg["flattenedElement"].as_str() == Some("last");
                    if cfg["flatten"].as_bool().unwrap_or(false) {
                        if last || !m.contains_key(k) {
                            m.insert(k.to_string(), val);
                        }
                    } else {
                        let e = m.entry(k.to_string()).or_insert_with(|| json!([]));
                        if let Some(a) = e.as_array_mut() {
                            a.push(val);
                        }
                    }
                }
                let target = cfg["target"].as_str();
                match target {
                    Some(t) => set_path(&mut o, t, Value::Object(m), true),
                    None => o.extend(m),
                }
            }
            _ => {}
        }
    }
    Some(Value::Object(o))
}

fn config_of(v: &Value) -> Vec<Value> {
    v.get("transformerConfig")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl Logs {
    pub(crate) fn put_transformer(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let config = config_of(v);
        validate(&config)?;
        let snap = self.store.snapshot();
        let group = existing_group(&snap, p, id)?;
        if crate::groups::load_group(&snap, p, &group)
            .is_some_and(|g| g.class == "INFREQUENT_ACCESS")
        {
            return Err(AwsError::new(
                "InvalidOperationException",
                "Transformers are not supported for log groups of the INFREQUENT_ACCESS class.",
            ));
        }
        drop(snap);
        let now = self.now_ms();
        let ((), ver) = self.store.write(|txn| {
            let created = load_txn(txn, p, TRANSFORMER, &group)
                .and_then(|d| d["creationTime"].as_u64())
                .unwrap_or(now);
            let d = json!({
                "logGroupIdentifier": id,
                "transformerConfig": config,
                "creationTime": created,
                "lastModifiedTime": now,
            });
            res::store(txn, p, TRANSFORMER, &group, &d, now);
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn get_transformer(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let snap = self.store.snapshot();
        let group = existing_group(&snap, p, id)?;
        let d = res::load(&snap, p, TRANSFORMER, &group)
            .ok_or_else(|| not_found("The specified log group does not have a transformer."))?;
        out(d, None)
    }

    pub(crate) fn delete_transformer(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "logGroupIdentifier").unwrap_or_default();
        let group = existing_group(&self.store.snapshot(), p, id)?;
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, TRANSFORMER, &group));
        if !found {
            return Err(not_found(
                "The specified log group does not have a transformer.",
            ));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn test_transformer(&self, v: &Value) -> Result<Out, AwsError> {
        let config = config_of(v);
        validate(&config)?;
        let logs: Vec<Value> = crate::groups::string_list(v, "logEventMessages")
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut o = json!({"eventNumber": i + 1, "eventMessage": m});
                if let Some(t) = apply(&config, m) {
                    o["transformedEventMessage"] = json!(t.to_string());
                }
                o
            })
            .collect();
        out(json!({ "transformedLogs": logs }), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Vec<Value> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn json_then_edits() {
        let c = cfg(r#"[{"parseJSON":{}},
            {"addKeys":{"entries":[{"key":"env","value":"prod"}]}},
            {"renameKeys":{"entries":[{"key":"lvl","renameTo":"level"}]}},
            {"copyValue":{"entries":[{"source":"user.name","target":"who"}]}},
            {"upperCaseString":{"withKeys":["level"]}},
            {"trimString":{"withKeys":["who"]}},
            {"deleteKeys":{"withKeys":["noise"]}},
            {"typeConverter":{"entries":[{"key":"n","type":"integer"}]}}]"#);
        validate(&c).unwrap();
        let t = apply(
            &c,
            r#"{"lvl":"warn","user":{"name":" ann "},"noise":1,"n":"42"}"#,
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"level":"WARN","user":{"name":" ann "},"who":"ann","env":"prod","n":42})
        );
        assert_eq!(apply(&c, "not json"), None);
    }

    #[test]
    fn key_value_csv_and_grok() {
        let kv = cfg(r#"[{"parseKeyValue":{"fieldDelimiter":" ","keyValueDelimiter":"="}}]"#);
        assert_eq!(apply(&kv, "a=1 b=2").unwrap(), json!({"a":"1","b":"2"}));
        let csv = cfg(r#"[{"csv":{"columns":["x","y"]}}]"#);
        assert_eq!(
            apply(&csv, r#"1,"a,b""#).unwrap(),
            json!({"x":"1","y":"a,b"})
        );
        let g = cfg(r#"[{"grok":{"match":"%{IP:ip} %{WORD:verb} %{NUMBER:ms}ms"}}]"#);
        assert_eq!(
            apply(&g, "10.0.0.1 GET 12.5ms").unwrap(),
            json!({"ip":"10.0.0.1","verb":"GET","ms":"12.5"})
        );
        assert_eq!(apply(&g, "nope"), None);
    }

    #[test]
    fn validation_rules() {
        assert!(validate(&[]).is_err());
        assert!(validate(&cfg(r#"[{"addKeys":{"entries":[]}}]"#)).is_err());
        assert!(validate(&cfg(r#"[{"parseJSON":{},"csv":{}}]"#)).is_err());
        assert!(validate(&cfg(r#"[{"grok":{"match":"%{NOPE:x}"}}]"#)).is_err());
        assert!(
            validate(&cfg(
                r#"[{"grok":{"match":"%{WORD:x}"}},{"grok":{"match":"%{WORD:y}"}}]"#
            ))
            .is_err()
        );
    }
}

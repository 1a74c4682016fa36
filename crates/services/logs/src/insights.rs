//! Logs Insights: StartQuery runs a query at once over the groups' events in the time range and
//! stores its (bounded) results; GetQueryResults, StopQuery and DescribeQueries read them.
//!
//! The language: commands joined by `|`: `fields f1, f2`, `filter <cond> [and|or <cond>]...`
//! (`=`, `!=`, `<`, `<=`, `>`, `>=`, `like /text/` or `like "text"`, `not like`), `sort f
//! [asc|desc]`, `limit n`, `stats count(*)|count(f)|sum(f)|avg(f)|min(f)|max(f) [as name], ...
//! [by f1, f2]`, and `parse @message "pre * post" as a, b`. Fields: `@timestamp`, `@message`,
//! `@logStream`, `@log`, `@ingestionTime`, and the members of JSON messages (`a.b` for nested).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::groups::string_list;
use crate::*;

use crate::insights_exec::MAX_ROWS;
/// Stored queries per partition: the oldest are forgotten beyond this.
const MAX_QUERIES: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cmd {
    Fields(Vec<String>),
    Filter(Vec<Vec<Cond>>),
    Sort(String, bool),
    Limit(usize),
    Stats(Vec<(String, String, String)>, Vec<String>),
    Parse(String, String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    pub(crate) field: String,
    pub(crate) op: String,
    pub(crate) value: String,
    pub(crate) negate: bool,
}

fn malformed(m: impl Into<String>) -> AwsError {
    AwsError::new("MalformedQueryException", m)
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for (a, b) in [('"', '"'), ('\'', '\''), ('/', '/')] {
        if s.len() >= 2 && s.starts_with(a) && s.ends_with(b) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

fn parse_cond(c: &str) -> Result<Cond, AwsError> {
    let c = c.trim();
    for (op, negate) in [(" not like ", true), (" like ", false)] {
        if let Some(i) = c.to_ascii_lowercase().find(op) {
            return Ok(Cond {
                field: c[..i].trim().to_string(),
                op: "like".into(),
                value: unquote(&c[i + op.len()..]),
                negate,
            });
        }
    }
    for op in ["!=", "<=", ">=", "=", "<", ">"] {
        if let Some(i) = c.find(op) {
            return Ok(Cond {
                field: c[..i].trim().to_string(),
                op: op.into(),
                value: unquote(&c[i + op.len()..]),
                negate: false,
            });
        }
    }
    Err(malformed(format!("unexpected filter condition: {c}")))
}

/// Split on a word (case-insensitive, surrounded by spaces) outside quotes.
fn split_word<'a>(s: &'a str, word: &str) -> Vec<&'a str> {
    let lower = s.to_ascii_lowercase();
    let pat = format!(" {word} ");
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted: Option<char> = None;
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let c = bytes[i] as char;
        match quoted {
            Some(q) if c == q => quoted = None,
            None if c == '"' || c == '\'' || c == '/' => quoted = Some(c),
            None if lower.as_bytes()[i..].starts_with(pat.as_bytes()) => {
                out.push(&s[start..i]);
                start = i + pat.len();
                i = start;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

pub(crate) fn parse_query(q: &str) -> Result<Vec<Cmd>, AwsError> {
    let mut cmds = Vec::new();
    for part in q.split('|') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (word, rest) = part.split_once(char::is_whitespace).unwrap_or((part, ""));
        let rest = rest.trim();
        let cmd = match word.to_ascii_lowercase().as_str() {
            "fields" | "display" => Cmd::Fields(list(rest)),
            "filter" => {
                let mut ors = Vec::new();
                for o in split_word(rest, "or") {
                    let ands = split_word(o, "and")
                        .into_iter()
                        .map(parse_cond)
                        .collect::<Result<Vec<_>, _>>()?;
                    ors.push(ands);
                }
                Cmd::Filter(ors)
            }
            "sort" => {
                let mut it = rest.split_whitespace();
                let f = it.next().ok_or_else(|| malformed("sort needs a field"))?;
                let desc = it.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                Cmd::Sort(f.to_string(), desc)
            }
            "limit" => Cmd::Limit(
                rest.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_ROWS).contains(n))
                    .ok_or_else(|| malformed(format!("limit must be between 1 and {MAX_ROWS}")))?,
            ),
            "stats" => {
                let (aggs, by) = match split_word(rest, "by").as_slice() {
                    [a] => (a.to_string(), Vec::new()),
                    [a, b] => (a.to_string(), list(b)),
                    _ => return Err(malformed("stats: more than one 'by'")),
                };
                let mut out = Vec::new();
                for a in list(&aggs) {
                    let (expr, alias) = match split_word(&a, "as").as_slice() {
                        [e, n] => (e.trim().to_string(), n.trim().to_string()),
                        _ => (a.clone(), a.clone()),
                    };
                    let (func, arg) = expr
                        .split_once('(')
                        .and_then(|(f, r)| {
                            Some((
                                f.trim().to_ascii_lowercase(),
                                r.strip_suffix(')')?.trim().to_string(),
                            ))
                        })
                        .ok_or_else(|| malformed(format!("stats: bad aggregation {expr}")))?;
                    if !["count", "sum", "avg", "min", "max"].contains(&func.as_str()) {
                        return Err(malformed(format!("stats: unsupported function {func}")));
                    }
                    out.push((func, arg, alias));
                }
                for b in &by {
                    if let Some(spec) = b.strip_prefix("bin(").and_then(|x| x.strip_suffix(')'))
                        && bin_ms(spec.rsplit(',').next().unwrap_or(spec)).is_none()
                    {
                        return Err(malformed(format!("stats: bad bin period in {b}")));
                    }
                }
                Cmd::Stats(out, by)
            }
            "parse" => {
                let (field, rest) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| malformed("parse needs a field"))?;
                let parts = split_word(rest, "as");
                let [glob, names] = parts.as_slice() else {
                    return Err(malformed("parse needs 'as'"));
                };
                Cmd::Parse(field.to_string(), unquote(glob), list(names))
            }
            w => return Err(malformed(format!("unexpected command: {w}"))),
        };
        cmds.push(cmd);
    }
    Ok(cmds)
}

pub(crate) type Row = BTreeMap<String, String>;
/// An aggregation's running (count, sum, min, max).
pub(crate) type Acc = (f64, f64, f64, f64);

pub(crate) fn flatten(prefix: &str, v: &Value, row: &mut Row, depth: usize) {
    match v {
        Value::Object(m) if depth < 8 => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, row, depth + 1);
            }
        }
        Value::String(s) => {
            row.insert(prefix.to_string(), s.clone());
        }
        Value::Null => {}
        x if !prefix.is_empty() => {
            row.insert(prefix.to_string(), x.to_string());
        }
        _ => {}
    }
}

/// Whether a condition holds for the fields `get` reads.
pub(crate) fn cond_ok<'v>(get: impl Fn(&str) -> Option<Cow<'v, str>>, c: &Cond) -> bool {
    let Some(v) = get(&c.field) else {
        return c.op == "!=" || (c.op == "like" && c.negate);
    };
    let v: &str = &v;
    let num = |s: &str| s.parse::<f64>().ok();
    let r = match c.op.as_str() {
        "like" => v.contains(c.value.as_str()),
        "=" => match (num(v), num(&c.value)) {
            (Some(a), Some(b)) => a == b,
            _ => v == c.value,
        },
        "!=" => match (num(v), num(&c.value)) {
            (Some(a), Some(b)) => a != b,
            _ => v != c.value,
        },
        op => match (num(v), num(&c.value)) {
            (Some(a), Some(b)) => match op {
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    };
    r != c.negate
}

pub(crate) fn glob_parse(text: &str, glob: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = glob.split('*').collect();
    let mut rest = text.strip_prefix(parts[0])?;
    let mut caps = Vec::new();
    for (i, p) in parts.iter().enumerate().skip(1) {
        if i == parts.len() - 1 && p.is_empty() {
            caps.push(rest.to_string());
            return Some(caps);
        }
        let at = rest.find(p)?;
        caps.push(rest[..at].to_string());
        rest = &rest[at + p.len()..];
    }
    Some(caps)
}

/// A `bin(5m)` period in ms (units ms, s, m, h, d, w).
fn bin_ms(spec: &str) -> Option<u64> {
    let spec = spec.trim();
    let split = spec.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = spec[..split].parse().ok().filter(|n| *n > 0)?;
    let unit = match &spec[split..] {
        "ms" => 1,
        "s" | "sec" => 1000,
        "m" | "min" => 60_000,
        "h" | "hr" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// The value a row groups by: a field, or `bin(period)` of its @timestamp.
pub(crate) fn group_value(r: &Row, by: &str) -> String {
    group_value_at(|f| r.get(f).map(|s| Cow::Borrowed(s.as_str())), None, by)
}

/// The value the fields `get` reads group by; `bin(period)` of the event's time `ts` when
/// known, else of its `@timestamp` field.
pub(crate) fn group_value_at<'v>(
    get: impl Fn(&str) -> Option<Cow<'v, str>>,
    ts: Option<u64>,
    by: &str,
) -> String {
    if let Some(spec) = by.strip_prefix("bin(").and_then(|x| x.strip_suffix(')')) {
        let ms = ts.unwrap_or_else(|| {
            get("@timestamp")
                .and_then(|t| {
                    snapstack_protocol::codec::time::parse_iso8601(&format!(
                        "{}Z",
                        t.replacen(' ', "T", 1)
                    ))
                })
                .unwrap_or(0)
                .max(0) as u64
        });
        let period = bin_ms(spec.rsplit(',').next().unwrap_or(spec)).unwrap_or(1);
        return fmt_ts(ms / period * period);
    }
    get(by).map(Cow::into_owned).unwrap_or_default()
}

/// The order of `sort`: numbers numerically, else as text (a missing value first).
pub(crate) fn compare_values(
    x: Option<&String>,
    y: Option<&String>,
    desc: bool,
) -> std::cmp::Ordering {
    let o = match (
        x.and_then(|s| s.parse::<f64>().ok()),
        y.and_then(|s| s.parse::<f64>().ok()),
    ) {
        (Some(m), Some(n)) => m.partial_cmp(&n).unwrap_or(std::cmp::Ordering::Equal),
        _ => x.cmp(&y),
    };
    if desc { o.reverse() } else { o }
}

/// Sort rows by a field (stable).
pub(crate) fn sort_rows(rows: &mut [Row], f: &str, desc: bool) {
    rows.sort_by(|a, b| compare_values(a.get(f), b.get(f), desc));
}

pub(crate) fn fmt_ts(ms: u64) -> String {
    let s = snapstack_protocol::codec::time::iso8601(ms as i64, true);
    // "2024-01-01T00:00:00.000Z" → "2024-01-01 00:00:00.000", as Insights shows @timestamp.
    s.replace('T', " ").trim_end_matches('Z').to_string()
}

impl Logs {
    pub(crate) fn start_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let mut groups = string_list(v, "logGroupNames");
        if let Some(g) = str_of(v, "logGroupName") {
            groups.push(g.to_string());
        }
        groups.extend(
            string_list(v, "logGroupIdentifiers")
                .iter()
                .map(|s| name_from_identifier(s)),
        );
        if groups.is_empty() {
            return Err(invalid("Log group names or identifiers must be specified."));
        }
        let q = str_of(v, "queryString").unwrap_or_default().to_string();
        let cmds = parse_query(&q)?;
        let start = int_of(v, "startTime").unwrap_or(0).max(0) as u64 * 1000;
        let end = int_of(v, "endTime").unwrap_or(0).max(0) as u64 * 1000 + 999;
        if end < start {
            return Err(invalid("End time must be after start time."));
        }
        let limit = int_of(v, "limit").map(|n| n.clamp(1, MAX_ROWS as i64) as usize);
        let (out_rows, stats) = self.run_query(p, &groups, &cmds, (start, end), limit)?;
        let id = format!(
            "{:032x}",
            (u128::from(self.next_id()) << 64) | u128::from(self.now_ms())
        );
        let id = format!(
            "{}-{}-{}-{}-{}",
            &id[0..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..32]
        );
        let rec = QueryRec {
            id: id.clone(),
            query: q,
            groups,
            created_ms: self.now_ms(),
            status: "Complete".into(),
            results: Value::Array(out_rows).to_string(),
            statistics: stats.to_string(),
        };
        let (_, ver) = self.store.write(|txn| {
            let n = txn.scan_prefix(&queries_prefix(p)).count();
            if n >= MAX_QUERIES {
                let mut old: Vec<(u64, snapstack_engine::Key)> = txn
                    .scan_prefix(&queries_prefix(p))
                    .filter_map(|(k, r)| match r {
                        LogsRecord::Query(q) => Some((q.created_ms, k.clone())),
                        _ => None,
                    })
                    .collect();
                old.sort();
                for (_, k) in old.into_iter().take(n + 1 - MAX_QUERIES) {
                    txn.remove(&k);
                }
            }
            txn.insert(query_key(p, &id), LogsRecord::Query(rec));
        });
        out(json!({ "queryId": id }), Some(ver))
    }

    fn load_query(&self, p: &Partition, v: &Value) -> Result<QueryRec, AwsError> {
        let id = str_of(v, "queryId").unwrap_or_default();
        match self.store.snapshot().get(&query_key(p, id)) {
            Some(LogsRecord::Query(q)) => Ok(q.clone()),
            _ => Err(not_found(format!("Query does not exist: {id}"))),
        }
    }

    pub(crate) fn get_query_results(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let q = self.load_query(p, v)?;
        let results: Value = serde_json::from_str(&q.results).unwrap_or(json!([]));
        let stats: Value = serde_json::from_str(&q.statistics).unwrap_or(json!({}));
        out(
            json!({"results": results, "statistics": stats, "status": q.status}),
            None,
        )
    }

    pub(crate) fn stop_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let q = self.load_query(p, v)?;
        // Queries run to completion when started: there is nothing left to stop.
        out(json!({ "success": q.status == "Running" }), None)
    }

    pub(crate) fn describe_queries(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = str_of(v, "logGroupName");
        let status = str_of(v, "status");
        let max = int_of(v, "maxResults").map_or(1000, |n| n.clamp(1, 1000) as usize);
        let snap = self.store.snapshot();
        let mut qs: Vec<&QueryRec> = snap
            .scan_prefix(&queries_prefix(p))
            .filter_map(|(_, r)| match r {
                LogsRecord::Query(q) => Some(q),
                _ => None,
            })
            .filter(|q| group.is_none_or(|g| q.groups.iter().any(|x| x == g)))
            .filter(|q| status.is_none_or(|s| q.status == s))
            .collect();
        qs.sort_by_key(|q| std::cmp::Reverse(q.created_ms));
        let items: Vec<Value> = qs
            .into_iter()
            .take(max)
            .map(|q| {
                json!({
                    "queryId": q.id, "queryString": q.query, "status": q.status,
                    "createTime": q.created_ms, "logGroupName": q.groups.first(),
                    "queryLanguage": "CWLI",
                })
            })
            .collect();
        out(json!({ "queries": items }), None)
    }
}

pub(crate) fn format_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The stream of an event's key (`(account, region, "e", group, stream, ts, seq)`).
pub(crate) fn stream_of_event_key(k: &snapstack_engine::Key) -> String {
    match k.parts().and_then(|ps| ps.get(4).cloned()) {
        Some(snapstack_engine::Part::Str(s)) => s,
        _ => String::new(),
    }
}

/// A Logs Insights pointer to one event (`@ptr`), which GetLogRecord reads back.
pub(crate) fn event_pointer(group: &str, stream: &str, e: &EventRec) -> String {
    token(&format!("{group}\0{stream}\0{}\0{}", e.timestamp, e.seq))
}

/// The fields of one event as Logs Insights sees them.
pub(crate) fn row(p: &Partition, group: &str, stream: &str, e: &EventRec) -> Row {
    let mut row = Row::new();
    if e.message.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(&e.message)
    {
        flatten("", &v, &mut row, 0);
    }
    row.insert("@timestamp".into(), fmt_ts(e.timestamp));
    row.insert("@message".into(), e.message.clone());
    row.insert("@ingestionTime".into(), fmt_ts(e.ingestion_ms));
    row.insert("@log".into(), format!("{}:{group}", p.account));
    row.insert("@logStream".into(), stream.to_string());
    row.insert("@ptr".into(), event_pointer(group, stream, e));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queries() {
        let c = parse_query("fields @timestamp, @message | filter level = \"error\" and latency > 10 | sort @timestamp desc | limit 20").unwrap();
        assert_eq!(c.len(), 4);
        assert!(matches!(&c[3], Cmd::Limit(20)));
        let c = parse_query("stats count(*) as n, avg(latency) by level").unwrap();
        let Cmd::Stats(a, by) = &c[0] else { panic!() };
        assert_eq!(a[0], ("count".into(), "*".into(), "n".into()));
        assert_eq!(by, &vec!["level".to_string()]);
        assert!(parse_query("bogus x").is_err());
        assert!(parse_query("limit 0").is_err());
        assert!(parse_query("stats count() by bin(5m)").is_ok());
        assert!(parse_query("stats count() by bin(5x)").is_err());
        let mut r = Row::new();
        r.insert("@timestamp".into(), "2024-01-01 00:07:30.000".into());
        assert_eq!(group_value(&r, "bin(5m)"), "2024-01-01 00:05:00.000");
        assert_eq!(
            glob_parse("user=bob id=7", "user=* id=*"),
            Some(vec!["bob".into(), "7".into()])
        );
    }
}

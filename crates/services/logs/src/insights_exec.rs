//! Running a Logs Insights query without building a row per event: the leading `filter`,
//! `parse` and `fields` commands run on a view of each event that reads its fields on demand
//! (`@message` borrowed, JSON members flattened only when a condition asks for one), so events
//! that do not match cost no row. Then:
//! - `stats` right after them aggregates the views as they stream by;
//! - `sort` / `limit` / `fields` alone order the matching views (by `@timestamp` from the
//!   event's time, by another field from its value), and only the rows returned are built;
//! - anything else builds the matching rows and runs the rest of the commands on them.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::groups::load_group;
use crate::insights::{
    Acc, Cmd, Row, cond_ok, event_pointer, flatten, fmt_ts, format_num, glob_parse, group_value,
    group_value_at, row, sort_rows, stream_of_event_key,
};
use crate::*;

/// Rows a query returns at most (AWS's limit).
pub(crate) const MAX_ROWS: usize = 10_000;
/// Events a query looks at at most.
const MAX_SCAN: usize = 1_000_000;

/// One event as the leading commands see it.
struct View<'a> {
    p: &'a Partition,
    group: &'a str,
    stream: String,
    e: &'a EventRec,
    json: OnceCell<Row>,
    /// Fields `parse` set (they hide the event's own).
    extra: Row,
}

impl<'a> View<'a> {
    fn get(&self, f: &str) -> Option<Cow<'_, str>> {
        if let Some(v) = self.extra.get(f) {
            return Some(Cow::Borrowed(v));
        }
        Some(match f {
            "@message" => Cow::Borrowed(self.e.message.as_str()),
            "@timestamp" => Cow::Owned(fmt_ts(self.e.timestamp)),
            "@ingestionTime" => Cow::Owned(fmt_ts(self.e.ingestion_ms)),
            "@log" => Cow::Owned(format!("{}:{}", self.p.account, self.group)),
            "@logStream" => Cow::Borrowed(self.stream.as_str()),
            "@ptr" => Cow::Owned(event_pointer(self.group, &self.stream, self.e)),
            _ => return self.json().get(f).map(|s| Cow::Borrowed(s.as_str())),
        })
    }

    fn json(&self) -> &Row {
        self.json.get_or_init(|| {
            let mut row = Row::new();
            if self.e.message.starts_with('{')
                && let Ok(v) = serde_json::from_str::<Value>(&self.e.message)
            {
                flatten("", &v, &mut row, 0);
            }
            row
        })
    }

    /// Run a per-event command: false when a filter drops the event.
    fn apply(&mut self, c: &Cmd) -> bool {
        match c {
            Cmd::Filter(ors) => ors
                .iter()
                .any(|and| and.iter().all(|c| cond_ok(|f| self.get(f), c))),
            Cmd::Parse(field, glob, names) => {
                let caps = self.get(field).and_then(|t| glob_parse(&t, glob));
                if let Some(caps) = caps {
                    for (n, c) in names.iter().zip(caps) {
                        self.extra.insert(n.clone(), c);
                    }
                }
                true
            }
            _ => true,
        }
    }

    fn into_row(self) -> Row {
        let mut r = row(self.p, self.group, &self.stream, self.e);
        r.extend(self.extra);
        r
    }
}

fn per_event(c: &Cmd) -> bool {
    matches!(c, Cmd::Filter(_) | Cmd::Parse(..) | Cmd::Fields(_))
}

/// Aggregations running over rows or views.
struct Stats<'q> {
    aggs: &'q [(String, String, String)],
    by: &'q [String],
    buckets: BTreeMap<Vec<String>, Vec<Acc>>,
}

impl<'q> Stats<'q> {
    fn new(aggs: &'q [(String, String, String)], by: &'q [String]) -> Self {
        Stats {
            aggs,
            by,
            buckets: BTreeMap::new(),
        }
    }

    fn add<'v>(&mut self, key: Vec<String>, get: impl Fn(&str) -> Option<Cow<'v, str>>) {
        let n = self.aggs.len();
        let acc = self
            .buckets
            .entry(key)
            .or_insert_with(|| vec![(0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY); n]);
        for (i, (func, arg, _)) in self.aggs.iter().enumerate() {
            let val = if arg == "*" || arg.is_empty() {
                Some(1.0)
            } else {
                get(arg).map(|s| s.parse::<f64>().unwrap_or(f64::NAN))
            };
            let Some(x) = val else { continue };
            let a = &mut acc[i];
            a.0 += 1.0;
            if func != "count" && x.is_finite() {
                a.1 += x;
                a.2 = a.2.min(x);
                a.3 = a.3.max(x);
            }
        }
    }

    fn rows(self) -> (Vec<Row>, Vec<String>) {
        let (aggs, by) = (self.aggs, self.by);
        let rows = self
            .buckets
            .into_iter()
            .map(|(key, acc)| {
                let mut row = Row::new();
                for (b, k) in by.iter().zip(key) {
                    row.insert(b.clone(), k);
                }
                for ((func, _, alias), a) in aggs.iter().zip(acc) {
                    let v = match func.as_str() {
                        "count" => a.0,
                        "sum" => a.1,
                        "avg" if a.0 > 0.0 => a.1 / a.0,
                        "min" if a.2.is_finite() => a.2,
                        "max" if a.3.is_finite() => a.3,
                        _ => continue,
                    };
                    row.insert(alias.clone(), format_num(v));
                }
                row
            })
            .collect();
        let display = by
            .iter()
            .cloned()
            .chain(aggs.iter().map(|a| a.2.clone()))
            .collect();
        (rows, display)
    }
}

/// What the events that pass the leading commands become.
enum Sink<'a, 'q> {
    Stats(Stats<'q>),
    Views(Vec<View<'a>>),
    Rows(Vec<(u64, Row)>),
}

impl Logs {
    /// Run a parsed query over the groups' events in [start, end] (ms): the result rows (as
    /// GetQueryResults answers them) and the statistics.
    pub(crate) fn run_query(
        &self,
        p: &Partition,
        groups: &[String],
        cmds: &[Cmd],
        (start, end): (u64, u64),
        limit: Option<usize>,
    ) -> Result<(Vec<Value>, Value), AwsError> {
        let snap = self.store.snapshot();
        for g in groups {
            if load_group(&snap, p, g).is_none() {
                return Err(not_found(format!(
                    "Log group '{g}' does not exist for account ID '{}'",
                    p.account
                )));
            }
        }
        let lead = cmds.iter().take_while(|c| per_event(c)).count();
        let (head, mut rest) = cmds.split_at(lead);
        let mut display: Option<Vec<String>> = None;
        for c in head {
            if let Cmd::Fields(f) = c {
                display = Some(f.clone());
            }
        }
        let only_order = rest
            .iter()
            .all(|c| matches!(c, Cmd::Sort(..) | Cmd::Limit(_) | Cmd::Fields(_)));
        let mut sink = match rest.first() {
            Some(Cmd::Stats(aggs, by)) => {
                rest = &rest[1..];
                Sink::Stats(Stats::new(aggs, by))
            }
            _ if only_order => Sink::Views(Vec::new()),
            _ => Sink::Rows(Vec::new()),
        };
        let (mut scanned, mut bytes) = (0u64, 0u64);
        'groups: for g in groups {
            for (k, r) in snap.scan_prefix(&group_events_prefix(p, g)) {
                let LogsRecord::Event(e) = r else { continue };
                if e.timestamp < start || e.timestamp > end {
                    continue;
                }
                scanned += 1;
                bytes += e.message.len() as u64;
                if scanned as usize > MAX_SCAN {
                    break 'groups;
                }
                let mut v = View {
                    p,
                    group: g,
                    stream: stream_of_event_key(k),
                    e,
                    json: OnceCell::new(),
                    extra: Row::new(),
                };
                if !head.iter().all(|c| v.apply(c)) {
                    continue;
                }
                match &mut sink {
                    Sink::Stats(s) => {
                        let key =
                            s.by.iter()
                                .map(|b| group_value_at(|f| v.get(f), Some(e.timestamp), b))
                                .collect();
                        s.add(key, |f| v.get(f));
                    }
                    Sink::Views(vs) => vs.push(v),
                    Sink::Rows(rs) => rs.push((e.timestamp, v.into_row())),
                }
            }
        }
        let mut cap = limit.unwrap_or(MAX_ROWS).min(MAX_ROWS);
        // Insights answers by @timestamp descending unless the query sorts (stable: events of
        // one time keep their order).
        let mut results: Vec<Row> = match sink {
            Sink::Stats(s) => {
                let (rows, d) = s.rows();
                display = Some(d);
                rows
            }
            Sink::Views(mut vs) => {
                vs.sort_by_key(|v| std::cmp::Reverse(v.e.timestamp));
                for c in rest {
                    match c {
                        Cmd::Fields(f) => display = Some(f.clone()),
                        Cmd::Limit(n) => cap = cap.min(*n),
                        Cmd::Sort(f, desc) => sort_views(&mut vs, f, *desc),
                        _ => {}
                    }
                }
                let matched = vs.len();
                vs.truncate(cap);
                let rows: Vec<Row> = vs.into_iter().map(View::into_row).collect();
                return Ok(answer(rows, &display, matched, scanned, bytes));
            }
            Sink::Rows(mut rs) => {
                rs.sort_by_key(|r| std::cmp::Reverse(r.0));
                rs.into_iter().map(|(_, r)| r).collect()
            }
        };
        for c in rest {
            match c {
                Cmd::Fields(f) => display = Some(f.clone()),
                Cmd::Filter(ors) => results.retain(|r| {
                    ors.iter().any(|and| {
                        and.iter()
                            .all(|c| cond_ok(|f| r.get(f).map(|s| Cow::Borrowed(s.as_str())), c))
                    })
                }),
                Cmd::Parse(field, glob, names) => {
                    for r in &mut results {
                        if let Some(caps) = r.get(field).and_then(|t| glob_parse(t, glob)) {
                            for (n, c) in names.iter().zip(caps) {
                                r.insert(n.clone(), c);
                            }
                        }
                    }
                }
                Cmd::Sort(f, desc) => sort_rows(&mut results, f, *desc),
                Cmd::Limit(n) => cap = cap.min(*n),
                Cmd::Stats(aggs, by) => {
                    let mut s = Stats::new(aggs, by);
                    for r in &results {
                        let key = by.iter().map(|b| group_value(r, b)).collect();
                        s.add(key, |f| r.get(f).map(|s| Cow::Borrowed(s.as_str())));
                    }
                    let (rows, d) = s.rows();
                    results = rows;
                    display = Some(d);
                }
            }
        }
        let matched = results.len();
        results.truncate(cap);
        Ok(answer(results, &display, matched, scanned, bytes))
    }
}

/// Order views by a field as `sort` does: numbers numerically, else as text, a missing value
/// first; `@timestamp` by the event's time.
fn sort_views(vs: &mut [View<'_>], f: &str, desc: bool) {
    if f == "@timestamp" && vs.iter().all(|v| !v.extra.contains_key(f)) {
        vs.sort_by(|a, b| {
            let o = a.e.timestamp.cmp(&b.e.timestamp);
            if desc { o.reverse() } else { o }
        });
        return;
    }
    let mut keyed: Vec<(Option<String>, usize)> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| (v.get(f).map(Cow::into_owned), i))
        .collect();
    keyed.sort_by(|(x, _), (y, _)| crate::insights::compare_values(x.as_ref(), y.as_ref(), desc));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(vs, &order);
}

/// Put `vs` in the order `order` gives (the index of the element each position takes).
fn permute<T>(vs: &mut [T], order: &[usize]) {
    let mut pos: Vec<usize> = (0..vs.len()).collect(); // where each original element is now
    let mut at: Vec<usize> = (0..vs.len()).collect(); // which original element is at each place
    for (i, &want) in order.iter().enumerate() {
        let j = pos[want];
        if j != i {
            vs.swap(i, j);
            let displaced = at[i];
            at.swap(i, j);
            pos[want] = i;
            pos[displaced] = j;
        }
    }
}

/// The rows as GetQueryResults answers them, and the statistics.
fn answer(
    rows: Vec<Row>,
    display: &Option<Vec<String>>,
    matched: usize,
    scanned: u64,
    bytes: u64,
) -> (Vec<Value>, Value) {
    let out_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let cols: Vec<Value> = match display {
                Some(f) => f
                    .iter()
                    .filter_map(|k| r.get(k).map(|v| json!({"field": k, "value": v})))
                    .chain(r.get("@ptr").map(|v| json!({"field": "@ptr", "value": v})))
                    .collect(),
                None => r
                    .iter()
                    .map(|(k, v)| json!({"field": k, "value": v}))
                    .collect(),
            };
            Value::Array(cols)
        })
        .collect();
    let stats = json!({"recordsMatched": matched as f64, "recordsScanned": scanned as f64, "bytesScanned": bytes as f64});
    (out_rows, stats)
}

#[cfg(test)]
mod tests {
    use super::permute;

    #[test]
    fn permute_puts_elements_in_order() {
        for order in [vec![2, 0, 1], vec![0, 1, 2], vec![1, 2, 0], vec![2, 1, 0]] {
            let mut v = vec!['a', 'b', 'c'];
            permute(&mut v, &order);
            let want: Vec<char> = order.iter().map(|i| ['a', 'b', 'c'][*i]).collect();
            assert_eq!(v, want, "{order:?}");
        }
    }
}

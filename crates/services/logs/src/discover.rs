//! Listing and discovery: ListLogGroups, ListAggregateLogGroupSummaries, GetLogGroupFields
//! (the fields of recent events and how many carry each), GetLogFields, GetLogRecord (an
//! Insights `@ptr` read back), GetLogObject, ListLogGroupsForQuery.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::insights::row;
use crate::*;

/// The window GetLogGroupFields looks at before its `time` (AWS: 15 minutes).
const FIELDS_WINDOW_MS: u64 = 15 * 60 * 1000;
/// Events GetLogGroupFields samples at most.
const FIELDS_SAMPLE: usize = 10_000;

fn tag_filter_matches(g: &GroupRec, filters: &[Value]) -> bool {
    filters.iter().all(|f| {
        let Some(k) = f["key"].as_str() else {
            return true;
        };
        let values: Vec<&str> = f["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        g.tags
            .iter()
            .any(|(tk, tv)| tk == k && (values.is_empty() || values.contains(&tv.as_str())))
    })
}

fn pattern_matches(pattern: Option<&str>, name: &str) -> bool {
    pattern.is_none_or(|p| name.to_lowercase().contains(&p.to_lowercase()))
}

impl Logs {
    fn groups_matching(&self, p: &Partition, v: &Value) -> Vec<GroupRec> {
        let pattern = str_of(v, "logGroupNamePattern");
        let class = str_of(v, "logGroupClass");
        let tags: Vec<Value> = v["logGroupTags"].as_array().cloned().unwrap_or_default();
        self.store
            .snapshot()
            .scan_prefix(&groups_prefix(p))
            .filter_map(|(_, r)| match r {
                LogsRecord::Group(g) => Some(g.clone()),
                _ => None,
            })
            .filter(|g| {
                pattern_matches(pattern, &g.name)
                    && class.is_none_or(|c| g.class == c)
                    && tag_filter_matches(g, &tags)
            })
            .collect()
    }

    pub(crate) fn list_log_groups(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let limit = limit_of(v, 50, 1000);
        let after = str_of(v, "nextToken").map(untoken).transpose()?;
        let mut items = Vec::new();
        let mut next = None;
        for g in self.groups_matching(p, v) {
            if after.as_ref().is_some_and(|a| g.name <= *a) {
                continue;
            }
            if items.len() == limit {
                next = items
                    .last()
                    .and_then(|x: &Value| x["logGroupName"].as_str())
                    .map(token);
                break;
            }
            items.push(json!({
                "logGroupName": g.name,
                "logGroupArn": group_arn(p, &g.name),
                "logGroupClass": g.class,
            }));
        }
        out(page(items, "logGroups", next), None)
    }

    /// Log groups counted by data source. Groups here record no data source (only vended logs
    /// have one), so they are counted under `unknown`.
    pub(crate) fn list_aggregate_summaries(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let n = self.groups_matching(p, v).len();
        let mut ids = vec![
            json!({"key": "dataSource.name", "value": "unknown"}),
            json!({"key": "dataSource.type", "value": "unknown"}),
        ];
        if str_of(v, "groupBy") == Some("DATA_SOURCE_NAME_TYPE_AND_FORMAT") {
            ids.push(json!({"key": "dataSource.format", "value": "unknown"}));
        }
        let items = if n == 0 {
            vec![]
        } else {
            vec![json!({"groupingIdentifiers": ids, "logGroupCount": n})]
        };
        out(json!({ "aggregateLogGroupSummaries": items }), None)
    }

    pub(crate) fn get_log_group_fields(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let snap = self.store.snapshot();
        if crate::groups::load_group(&snap, p, &group).is_none() {
            return Err(group_missing());
        }
        let end = int_of(v, "time")
            .map(|t| (t.max(0) as u64) * 1000)
            .unwrap_or_else(|| self.now_ms());
        let start = end.saturating_sub(FIELDS_WINDOW_MS);
        let streams: Vec<String> = snap
            .scan_prefix(&streams_prefix(p, &group))
            .filter_map(|(_, r)| match r {
                LogsRecord::Stream(s) => Some(s.name.clone()),
                _ => None,
            })
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut total = 0usize;
        'streams: for s in streams {
            let lo = event_key(p, &group, &s, start, 0);
            let hi = event_key(p, &group, &s, end, u64::MAX);
            for (_, r) in snap.range((Bound::Included(lo), Bound::Included(hi))) {
                let LogsRecord::Event(e) = r else { continue };
                total += 1;
                for k in row(p, &group, &s, e).into_keys() {
                    if k != "@ptr" && k != "@log" {
                        *counts.entry(k).or_default() += 1;
                    }
                }
                if total >= FIELDS_SAMPLE {
                    break 'streams;
                }
            }
        }
        let fields: Vec<Value> = counts
            .into_iter()
            .map(|(name, n)| json!({"name": name, "percent": (n * 100 / total.max(1)) as i64}))
            .collect();
        out(json!({ "logGroupFields": fields }), None)
    }

    /// Fields of a vended-log data source: no data source is ingested here.
    pub(crate) fn get_log_fields(&self, v: &Value) -> Result<Out, AwsError> {
        Err(not_found(format!(
            "The data source {}/{} does not exist.",
            str_of(v, "dataSourceName").unwrap_or_default(),
            str_of(v, "dataSourceType").unwrap_or_default()
        )))
    }

    pub(crate) fn get_log_record(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let ptr = str_of(v, "logRecordPointer").unwrap_or_default();
        let bad = || invalid(format!("The log record pointer is invalid: {ptr}"));
        let text = untoken(ptr).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split('\0').collect();
        let [group, stream, ts, seq] = parts[..] else {
            return Err(bad());
        };
        let (ts, seq) = (
            ts.parse().map_err(|_| bad())?,
            seq.parse().map_err(|_| bad())?,
        );
        let snap = self.store.snapshot();
        let Some(LogsRecord::Event(e)) = snap.get(&event_key(p, group, stream, ts, seq)) else {
            return Err(not_found("The specified log record does not exist."));
        };
        let mut rec = row(p, group, stream, e);
        rec.remove("@ptr");
        out(json!({ "logRecord": rec }), None)
    }

    /// Log objects are large fields stored apart from their events; events here are stored
    /// whole, so no pointer names one.
    pub(crate) fn get_log_object(&self, v: &Value) -> Result<Out, AwsError> {
        Err(not_found(format!(
            "The specified log object does not exist: {}",
            str_of(v, "logObjectPointer").unwrap_or_default()
        )))
    }

    pub(crate) fn list_log_groups_for_query(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "queryId").unwrap_or_default();
        let Some(LogsRecord::Query(q)) = self.store.snapshot().get(&query_key(p, id)).cloned()
        else {
            return Err(not_found(format!("Query does not exist: {id}")));
        };
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(50, 500) as usize)
            .unwrap_or(50);
        let start: usize = match str_of(v, "nextToken") {
            Some(t) => untoken(t)?
                .parse()
                .map_err(|_| invalid("The specified nextToken is invalid"))?,
            None => 0,
        };
        let ids: Vec<String> = q
            .groups
            .iter()
            .skip(start)
            .take(max)
            .map(|g| group_arn(p, g))
            .collect();
        let mut o = json!({ "logGroupIdentifiers": ids });
        if start + max < q.groups.len() {
            o["nextToken"] = json!(token(&(start + max).to_string()));
        }
        out(o, None)
    }
}

//! Metric filters (stored; matching events publish to CloudWatch metrics), subscription filters
//! (stored records), TestMetricFilter.

use std::ops::Bound;

use serde_json::{Map, Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_protocol::errors::AwsError;

use crate::groups::load_group;
use crate::pattern;
use crate::*;

/// Metric filters per log group (AWS's quota).
const MAX_METRIC_FILTERS: usize = 100;
/// Subscription filters per log group (AWS's quota).
const MAX_SUBSCRIPTION_FILTERS: usize = 2;
/// Datapoints in one PutMetricData call.
const MAX_DATUMS: usize = 1000;

fn parse_pattern(p: &str) -> Result<pattern::Pattern, AwsError> {
    pattern::parse(p).map_err(|e| invalid(e.0))
}

/// The CloudWatch datapoints the metric filters make of accepted events: one PutMetricData
/// input per namespace batch (`("PutMetricData", input)`).
pub(crate) fn metric_points(filters: &[FilterRec], events: &[(u64, &str)]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for f in filters {
        let Ok(pat) = pattern::parse(&f.pattern) else {
            continue;
        };
        let body: Value = serde_json::from_str(&f.body).unwrap_or_default();
        let Some(ts) = body["metricTransformations"].as_array() else {
            continue;
        };
        for t in ts {
            let (Some(ns), Some(name)) = (t["metricNamespace"].as_str(), t["metricName"].as_str())
            else {
                continue;
            };
            let spec = t["metricValue"].as_str().unwrap_or("1");
            let mut data = Vec::new();
            for &(ts_ms, msg) in events {
                if !pat.matches(msg) {
                    continue;
                }
                let Some(value) = pat.metric_value(spec, msg) else {
                    continue;
                };
                let mut d = json!({
                    "MetricName": name,
                    "Timestamp": ts_ms as f64 / 1000.0,
                    "Value": value,
                });
                if let Some(u) = t["unit"].as_str() {
                    d["Unit"] = json!(u);
                }
                if let Some(dims) = t["dimensions"].as_object() {
                    let dims: Vec<Value> = dims
                        .iter()
                        .filter_map(|(k, v)| {
                            let v = v.as_str()?;
                            let value = match v.strip_prefix('$') {
                                Some(_) => pat
                                    .extract(msg)
                                    .into_iter()
                                    .find(|(n, _)| n == v)
                                    .map(|(_, x)| x)?,
                                None => v.to_string(),
                            };
                            Some(json!({"Name": k, "Value": value}))
                        })
                        .collect();
                    d["Dimensions"] = json!(dims);
                }
                data.push(d);
            }
            for chunk in data.chunks(MAX_DATUMS) {
                out.push((
                    "PutMetricData".to_string(),
                    json!({"Namespace": ns, "MetricData": chunk}),
                ));
            }
        }
    }
    out
}

impl Logs {
    fn put_filter(
        &self,
        p: &Partition,
        v: &Value,
        metric: bool,
        body: Value,
    ) -> Result<Out, AwsError> {
        type KeyFn = fn(&Partition, &str, &str) -> Key;
        type PrefixFn = fn(&Partition, &str) -> Key;
        type WrapFn = fn(FilterRec) -> LogsRecord;
        let (key, prefix, max, wrap): (KeyFn, PrefixFn, usize, WrapFn) = if metric {
            (
                metric_filter_key,
                metric_filters_prefix,
                MAX_METRIC_FILTERS,
                LogsRecord::MetricFilter,
            )
        } else {
            (
                sub_filter_key,
                sub_filters_prefix,
                MAX_SUBSCRIPTION_FILTERS,
                LogsRecord::SubscriptionFilter,
            )
        };
        let group = group_name(v)?;
        let name = str_of(v, "filterName").unwrap_or_default().to_string();
        let pat = str_of(v, "filterPattern").unwrap_or_default().to_string();
        parse_pattern(&pat)?;
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            let k = key(p, &group, &name);
            let created = match txn.get(&k) {
                Some(LogsRecord::MetricFilter(f) | LogsRecord::SubscriptionFilter(f)) => {
                    f.created_ms
                }
                _ => {
                    if txn.scan_prefix(&prefix(p, &group)).count() >= max {
                        return Err(AwsError::new(
                            "LimitExceededException",
                            "Resource limit exceeded.",
                        ));
                    }
                    now
                }
            };
            txn.insert(
                k,
                wrap(FilterRec {
                    group: group.clone(),
                    name: name.clone(),
                    pattern: pat.clone(),
                    created_ms: created,
                    body: body.to_string(),
                }),
            );
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn put_metric_filter(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let mut body = Map::new();
        for k in [
            "metricTransformations",
            "applyOnTransformedLogs",
            "fieldSelectionCriteria",
            "emitSystemFieldDimensions",
        ] {
            if let Some(x) = v.get(k) {
                body.insert(k.into(), x.clone());
            }
        }
        if let Some(ts) = v["metricTransformations"].as_array() {
            for t in ts {
                let spec = t["metricValue"].as_str().unwrap_or("");
                if spec.parse::<f64>().is_err() && !spec.starts_with('$') {
                    return Err(invalid(format!("Invalid metric value: {spec}")));
                }
            }
        }
        self.put_filter(p, v, true, Value::Object(body))
    }

    pub(crate) fn put_subscription_filter(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let mut body = Map::new();
        for k in [
            "destinationArn",
            "roleArn",
            "applyOnTransformedLogs",
            "fieldSelectionCriteria",
            "emitSystemFields",
        ] {
            if let Some(x) = v.get(k) {
                body.insert(k.into(), x.clone());
            }
        }
        body.insert(
            "distribution".into(),
            json!(str_of(v, "distribution").unwrap_or("ByLogStream")),
        );
        self.put_filter(p, v, false, Value::Object(body))
    }

    fn describe_filters(&self, p: &Partition, v: &Value, metric: bool) -> Result<Out, AwsError> {
        let snap = self.store.snapshot();
        let group = match (metric, group_name(v)) {
            (_, Ok(g)) => Some(g),
            (true, Err(_)) => None,
            (false, Err(e)) => return Err(e),
        };
        if let Some(g) = &group
            && load_group(&snap, p, g).is_none()
        {
            return Err(group_missing());
        }
        let name_prefix = str_of(v, "filterNamePrefix");
        if metric && name_prefix.is_some() && group.is_none() {
            return Err(invalid(
                "If filterNamePrefix is specified, logGroupName is required.",
            ));
        }
        let (metric_name, metric_ns) = (str_of(v, "metricName"), str_of(v, "metricNamespace"));
        let limit = limit_of(v, 50, 50);
        let base = match (&group, metric) {
            (Some(g), true) => metric_filters_prefix(p, g),
            (Some(g), false) => sub_filters_prefix(p, g),
            (None, _) => p.key().str("m").build(),
        };
        let start = match str_of(v, "nextToken") {
            Some(t) => {
                let pos = untoken(t)?;
                let (g, n) = pos
                    .split_once('\0')
                    .ok_or_else(|| invalid("The specified nextToken is invalid"))?;
                let k = if metric {
                    metric_filter_key(p, g, n)
                } else {
                    sub_filter_key(p, g, n)
                };
                Bound::Excluded(k)
            }
            None => Bound::Included(base.clone()),
        };
        let mut items = Vec::new();
        let mut next = None;
        for (k, r) in snap.range((start, base.prefix_range().1)) {
            if !k.starts_with(&base) {
                break;
            }
            let (LogsRecord::MetricFilter(f) | LogsRecord::SubscriptionFilter(f)) = r else {
                continue;
            };
            if name_prefix.is_some_and(|pre| !f.name.starts_with(pre)) {
                continue;
            }
            let body: Value = serde_json::from_str(&f.body).unwrap_or_default();
            if metric && (metric_name.is_some() || metric_ns.is_some()) {
                let hit = body["metricTransformations"].as_array().is_some_and(|a| {
                    a.iter().any(|t| {
                        metric_name.is_none_or(|n| t["metricName"] == n)
                            && metric_ns.is_none_or(|n| t["metricNamespace"] == n)
                    })
                });
                if !hit {
                    continue;
                }
            }
            if items.len() == limit {
                next = items.last().map(|x: &Value| {
                    token(&format!(
                        "{}\0{}",
                        x["logGroupName"].as_str().unwrap_or(""),
                        x["filterName"].as_str().unwrap_or("")
                    ))
                });
                break;
            }
            let mut o = body;
            o["filterName"] = json!(f.name);
            o["filterPattern"] = json!(f.pattern);
            o["logGroupName"] = json!(f.group);
            o["creationTime"] = json!(f.created_ms);
            items.push(o);
        }
        let key = if metric {
            "metricFilters"
        } else {
            "subscriptionFilters"
        };
        out(page(items, key, next), None)
    }

    pub(crate) fn describe_metric_filters(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        self.describe_filters(p, v, true)
    }

    pub(crate) fn describe_subscription_filters(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        self.describe_filters(p, v, false)
    }

    fn delete_filter(&self, p: &Partition, v: &Value, metric: bool) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let name = str_of(v, "filterName").unwrap_or_default();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            let k = if metric {
                metric_filter_key(p, &group, name)
            } else {
                sub_filter_key(p, &group, name)
            };
            match txn.remove(&k) {
                Some(_) => Ok(()),
                None => Err(not_found("The specified resource does not exist.")),
            }
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_metric_filter(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        self.delete_filter(p, v, true)
    }

    pub(crate) fn delete_subscription_filter(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        self.delete_filter(p, v, false)
    }

    pub(crate) fn test_metric_filter(&self, v: &Value) -> Result<Out, AwsError> {
        let pat = parse_pattern(str_of(v, "filterPattern").unwrap_or_default())?;
        let msgs = crate::groups::string_list(v, "logEventMessages");
        let matches: Vec<Value> = msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| pat.matches(m))
            .map(|(i, m)| {
                let ex: Map<String, Value> = pat
                    .extract(m)
                    .into_iter()
                    .map(|(k, v)| (k, json!(v)))
                    .collect();
                json!({"eventNumber": i + 1, "eventMessage": m, "extractedValues": ex})
            })
            .collect();
        out(json!({ "matches": matches }), None)
    }
}

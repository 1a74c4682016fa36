//! Metrics: PutMetricData, GetMetricStatistics, GetMetricData (metric stats and metric math),
//! ListMetrics.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde_json::{Map, Value, json};
use snapstack_engine::{Partition, Snapshot};
use snapstack_protocol::errors::AwsError;

use crate::expr::{self, Series, Val};
use crate::stats::{Agg, is_extended, valid_stat};
use crate::*;

/// Datums in one PutMetricData call.
const MAX_DATUMS: usize = 1000;
/// Values (and counts) in one datum.
const MAX_VALUES: usize = 150;
/// Dimensions of one metric.
const MAX_DIMENSIONS: usize = 30;
/// Data older than this is refused by PutMetricData.
const MAX_PAST_MS: i64 = 14 * 24 * 3600 * 1000;
/// Data further in the future than this is refused.
const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// Datapoints GetMetricStatistics answers at most.
const MAX_STAT_POINTS: i64 = 1440;
/// Queries in one GetMetricData call.
const MAX_QUERIES: usize = 500;
/// Datapoints GetMetricData answers per call by default.
const DEFAULT_MAX_DATAPOINTS: usize = 100_800;
/// Metrics ListMetrics answers per page.
const LIST_PAGE: usize = 500;
/// Metrics that "RecentlyActive=PT3H" considers.
const RECENT_MS: u64 = 3 * 3600 * 1000;

pub(crate) struct MetricId<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub dims: &'a [(String, String)],
}

/// The points of a metric in [start, end), in time order, each with the start of its period,
/// only those with the unit when one is given: the data as put, and the rollups whose resolution
/// divides the period ([`crate::rollup`]).
fn points<'s>(
    snap: &'s Snapshot<CwRecord>,
    p: &Partition,
    m: &MetricId<'_>,
    (start, end, period): (u64, u64, u64),
    unit: Option<&'s str>,
) -> impl Iterator<Item = (u64, &'s PointRec)> + 's {
    let dk = dim_key(m.dims);
    let lo = point_key(p, m.ns, m.name, &dk, start, 0);
    let hi = point_key(p, m.ns, m.name, &dk, end, 0);
    let period = period.max(1);
    snap.range((Bound::Included(lo), Bound::Excluded(hi)))
        .filter_map(move |(_, r)| {
            let pt = match r {
                CwRecord::Point(pt) => pt,
                // Rolled-up data answers only periods that are multiples of its resolution.
                CwRecord::Rollup(r) if period.is_multiple_of(r.res_ms) => &r.point,
                _ => return None,
            };
            if unit.is_some_and(|u| pt.unit.as_deref().unwrap_or("None") != u) {
                return None;
            }
            Some((start + (pt.ts_ms - start) / period * period, pt))
        })
}

/// The points of a metric in [start, end), by period (bucket start → points): [`points`]
/// grouped.
pub(crate) fn buckets<'s>(
    snap: &'s Snapshot<CwRecord>,
    p: &Partition,
    m: &MetricId<'_>,
    start: u64,
    end: u64,
    period: u64,
    unit: Option<&'s str>,
) -> BTreeMap<u64, Vec<&'s PointRec>> {
    let mut out: BTreeMap<u64, Vec<&PointRec>> = BTreeMap::new();
    for (b, pt) in points(snap, p, m, (start, end, period), unit) {
        out.entry(b).or_default().push(pt);
    }
    out
}

/// The statistic `stat` of a metric's points in [start, end) per period (bucket start →
/// value), oldest first, only those with the unit when one is given: [`buckets`] in one pass,
/// each period aggregated as the time-ordered range reaches it, raw values kept only for an
/// extended statistic. This is what GetMetricData and the alarms read: a week of 1-minute data
/// per metric, without holding its points.
pub(crate) fn bucket_stat(
    snap: &Snapshot<CwRecord>,
    p: &Partition,
    m: &MetricId<'_>,
    range: (u64, u64, u64),
    unit: Option<&str>,
    stat: &str,
) -> Vec<(u64, f64)> {
    let values = is_extended(stat);
    let mut aggs: Vec<(u64, Agg)> = Vec::new();
    for (b, pt) in points(snap, p, m, range, unit) {
        match aggs.last_mut() {
            Some((last, a)) if *last == b => a.add(pt, values),
            Some((last, _)) if *last > b => {
                // Keys are in time order, so this does not happen; kept correct if it did.
                match aggs.binary_search_by_key(&b, |(t, _)| *t) {
                    Ok(i) => aggs[i].1.add(pt, values),
                    Err(i) => {
                        let mut a = Agg::empty();
                        a.add(pt, values);
                        aggs.insert(i, (b, a));
                    }
                }
            }
            _ => {
                let mut a = Agg::empty();
                a.add(pt, values);
                aggs.push((b, a));
            }
        }
    }
    aggs.into_iter()
        .filter_map(|(b, a)| Some((b, a.finish().stat(stat)?)))
        .collect()
}

fn check_period(period: i64, field: &str) -> Result<u64, AwsError> {
    if period < 1
        || (period >= 60 && period % 60 != 0)
        || (period < 60 && ![1, 5, 10, 20, 30].contains(&period))
    {
        return Err(invalid_value(format!(
            "The parameter {field} must be a multiple of 60 or one of 1, 5, 10, 20, 30."
        )));
    }
    Ok(period as u64 * 1000)
}

fn metric_json(m: &MetricRec) -> Value {
    json!({"Namespace": m.namespace, "MetricName": m.name, "Dimensions": dims_json(&m.dims)})
}

impl CloudWatch {
    pub(crate) fn put_metric_data(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        self.put_metric_data_as(p, v, false)
    }

    /// PutMetricData; `aws`: the caller is a service publishing its own metrics, into an
    /// `AWS/` namespace (refused to clients).
    pub(crate) fn put_metric_data_as(
        &self,
        p: &Partition,
        v: &Value,
        aws: bool,
    ) -> Result<Out, AwsError> {
        let ns = str_of(v, "Namespace")
            .ok_or_else(|| missing("Namespace"))?
            .to_string();
        if ns.starts_with("AWS/") && !aws {
            return Err(invalid_value(format!(
                "The value {ns} for parameter Namespace is invalid."
            )));
        }
        let data = v
            .get("MetricData")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if data.is_empty() && v.get("EntityMetricData").is_none() {
            return Err(missing("MetricData"));
        }
        if data.len() > MAX_DATUMS {
            return Err(invalid_value(format!(
                "The collection MetricData must not have a size greater than {MAX_DATUMS}."
            )));
        }
        let mut data = data;
        if let Some(entities) = v.get("EntityMetricData").and_then(Value::as_array) {
            for e in entities {
                data.extend(
                    e.get("MetricData")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            if data.len() > MAX_DATUMS {
                return Err(invalid_value(format!(
                    "The collection MetricData must not have a size greater than {MAX_DATUMS}."
                )));
            }
        }
        let now = self.now_ms() as i64;
        let mut points = Vec::with_capacity(data.len());
        for (i, d) in data.iter().enumerate() {
            let field = format!("MetricData.member.{}", i + 1);
            let name =
                str_of(d, "MetricName").ok_or_else(|| missing(&format!("{field}.MetricName")))?;
            let dims = dims_of(d, "Dimensions");
            if dims.len() > MAX_DIMENSIONS {
                return Err(invalid_value(format!(
                    "The collection {field}.Dimensions must not have a size greater than {MAX_DIMENSIONS}."
                )));
            }
            if dims.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(invalid_value(format!(
                    "No metric may have duplicate dimension names: {field}.Dimensions"
                )));
            }
            let ts = time_of(d, "Timestamp").unwrap_or(now);
            if ts < now - MAX_PAST_MS || ts > now + MAX_FUTURE_MS || ts < 0 {
                return Err(invalid_value(format!(
                    "The parameter {field}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future."
                )));
            }
            let finite = |x: f64, what: &str| -> Result<f64, AwsError> {
                if x.is_finite() && x.abs() <= 2f64.powi(360) {
                    Ok(x)
                } else {
                    Err(invalid_value(format!(
                        "The value {x} for parameter {field}.{what} is invalid."
                    )))
                }
            };
            let value = num_of(d, "Value");
            let stats = d.get("StatisticValues");
            let values = d.get("Values").and_then(Value::as_array);
            let given = [value.is_some(), stats.is_some(), values.is_some()];
            if given.iter().filter(|x| **x).count() > 1 {
                return Err(invalid_combination(format!(
                    "The parameters {field}.Value, {field}.Values and {field}.StatisticValues are mutually exclusive and you have specified more than one."
                )));
            }
            let mut pt = PointRec {
                ts_ms: ts as u64,
                unit: Some(str_of(d, "Unit").unwrap_or("None").to_string()),
                count: 0.0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                values: Vec::new(),
                high_resolution: int_of(d, "StorageResolution") == Some(1),
            };
            if let Some(x) = value {
                let x = finite(x, "Value")?;
                pt.values.push((x, 1.0));
            } else if let Some(s) = stats {
                let get = |k: &str| {
                    num_of(s, k).ok_or_else(|| missing(&format!("{field}.StatisticValues.{k}")))
                };
                let (c, sum, mn, mx) = (
                    get("SampleCount")?,
                    get("Sum")?,
                    get("Minimum")?,
                    get("Maximum")?,
                );
                for (x, k) in [
                    (c, "SampleCount"),
                    (sum, "Sum"),
                    (mn, "Minimum"),
                    (mx, "Maximum"),
                ] {
                    finite(x, &format!("StatisticValues.{k}"))?;
                }
                if c <= 0.0 || mn > mx {
                    return Err(invalid_value(format!(
                        "The values for parameter {field}.StatisticValues are invalid."
                    )));
                }
                pt.count = c;
                pt.sum = sum;
                pt.min = mn;
                pt.max = mx;
            } else if let Some(vals) = values {
                let counts = d.get("Counts").and_then(Value::as_array);
                if vals.len() > MAX_VALUES {
                    return Err(invalid_value(format!(
                        "The collection {field}.Values must not have a size greater than {MAX_VALUES}."
                    )));
                }
                if counts.is_some_and(|c| c.len() != vals.len()) {
                    return Err(invalid_value(format!(
                        "The parameters {field}.Values and {field}.Counts must be of the same size."
                    )));
                }
                for (j, x) in vals.iter().enumerate() {
                    let x = finite(x.as_f64().unwrap_or(f64::NAN), "Values")?;
                    let c = counts
                        .and_then(|c| c.get(j))
                        .and_then(Value::as_f64)
                        .unwrap_or(1.0);
                    if c > 0.0 && c.is_finite() {
                        pt.values.push((x, c));
                    }
                }
            } else {
                return Err(invalid_value(format!(
                    "One of {field}.Value, {field}.Values or {field}.StatisticValues must be specified."
                )));
            }
            if !pt.values.is_empty() {
                pt.count = pt.values.iter().map(|x| x.1).sum();
                pt.sum = pt.values.iter().map(|x| x.0 * x.1).sum();
                pt.min = pt.values.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
                pt.max = pt
                    .values
                    .iter()
                    .map(|x| x.0)
                    .fold(f64::NEG_INFINITY, f64::max);
            }
            points.push((name.to_string(), dims, pt));
        }
        let (_, ver) = self.store.write(|txn| {
            for (name, dims, pt) in points {
                let mk = metric_key(p, &ns, &name, &dims);
                let dk = dim_key(&dims);
                let last = match txn.get(&mk) {
                    Some(CwRecord::Metric(m)) => m.last_ms.max(pt.ts_ms),
                    _ => pt.ts_ms,
                };
                txn.insert(
                    mk,
                    CwRecord::Metric(MetricRec {
                        namespace: ns.clone(),
                        name: name.clone(),
                        dims,
                        last_ms: last.max(now as u64),
                    }),
                );
                txn.insert(
                    point_key(p, &ns, &name, &dk, pt.ts_ms, self.next_seq()),
                    CwRecord::Point(pt),
                );
            }
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn get_metric_statistics(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let ns = str_of(v, "Namespace").ok_or_else(|| missing("Namespace"))?;
        let name = str_of(v, "MetricName").ok_or_else(|| missing("MetricName"))?;
        let dims = dims_of(v, "Dimensions");
        let start = time_of(v, "StartTime")
            .ok_or_else(|| missing("StartTime"))?
            .max(0) as u64;
        let end = time_of(v, "EndTime")
            .ok_or_else(|| missing("EndTime"))?
            .max(0) as u64;
        let period = check_period(
            int_of(v, "Period").ok_or_else(|| missing("Period"))?,
            "Period",
        )?;
        let stats = strings(v, "Statistics");
        let ext = strings(v, "ExtendedStatistics");
        if stats.is_empty() && ext.is_empty() {
            return Err(missing("Statistics"));
        }
        if let Some(bad) = ext.iter().find(|s| !is_extended(s)) {
            return Err(invalid_value(format!(
                "The value {bad} for parameter ExtendedStatistics is not supported."
            )));
        }
        if start >= end {
            return Err(invalid_value(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let n = ((end - start) as i64 + period as i64 - 1) / period as i64;
        if n > MAX_STAT_POINTS {
            return Err(invalid_combination(format!(
                "You have requested up to {n} datapoints, which exceeds the limit of {MAX_STAT_POINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            )));
        }
        let unit = str_of(v, "Unit");
        let snap = self.store.snapshot();
        let m = MetricId {
            ns,
            name,
            dims: &dims,
        };
        let mut dps = Vec::new();
        for (b, pts) in buckets(&snap, p, &m, start, end, period, unit) {
            let Some(a) = Agg::of(pts.iter().copied()) else {
                continue;
            };
            let mut d = Map::new();
            d.insert("Timestamp".into(), json!(b as f64 / 1000.0));
            for s in &stats {
                if let Some(x) = a.stat(s) {
                    d.insert(s.clone(), json!(x));
                }
            }
            if !ext.is_empty() {
                let e: Map<String, Value> = ext
                    .iter()
                    .filter_map(|s| Some((s.clone(), json!(a.stat(s)?))))
                    .collect();
                d.insert("ExtendedStatistics".into(), Value::Object(e));
            }
            let u = unit
                .or_else(|| pts.first().and_then(|x| x.unit.as_deref()))
                .unwrap_or("None");
            d.insert("Unit".into(), json!(u));
            dps.push(Value::Object(d));
        }
        out(json!({"Label": name, "Datapoints": dps}), None)
    }

    pub(crate) fn list_metrics(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let ns = str_of(v, "Namespace");
        let name = str_of(v, "MetricName");
        let filters: Vec<(String, Option<String>)> = v
            .get("Dimensions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| {
                        Some((
                            str_of(d, "Name")?.to_string(),
                            str_of(d, "Value").map(str::to_string),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let recent = str_of(v, "RecentlyActive").is_some();
        let now = self.now_ms();
        let base = match (ns, name) {
            (Some(ns), Some(n)) => metrics_name_prefix(p, ns, n),
            (Some(ns), None) => metrics_ns_prefix(p, ns),
            _ => metrics_prefix(p),
        };
        let snap = self.store.snapshot();
        let start = match str_of(v, "NextToken") {
            Some(t) => {
                // ListMetrics refuses a bad token as an invalid value (its model lists no
                // InvalidNextToken).
                let bad =
                    || invalid_value(format!("The value {t} for parameter NextToken is invalid."));
                let pos = untoken(t).map_err(|_| bad())?;
                let mut it = pos.splitn(3, '\0');
                let (Some(a), Some(b), Some(c)) = (it.next(), it.next(), it.next()) else {
                    return Err(bad());
                };
                Bound::Excluded(p.key().str("m").str(a).str(b).str(c).build())
            }
            None => Bound::Included(base.clone()),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut last: Option<String> = None;
        for (k, r) in snap.range((start, base.prefix_range().1)) {
            if !k.starts_with(&base) {
                break;
            }
            let CwRecord::Metric(m) = r else { continue };
            if name.is_some_and(|n| n != m.name) {
                continue;
            }
            let dims_ok = filters.iter().all(|(fname, fval)| {
                m.dims
                    .iter()
                    .any(|(n, v)| n == fname && fval.as_ref().is_none_or(|fv| fv == v))
            });
            if !dims_ok || (recent && m.last_ms + RECENT_MS < now) {
                continue;
            }
            if items.len() == LIST_PAGE {
                // The token names the last metric returned.
                next = last.take();
                break;
            }
            last = Some(token(&format!(
                "{}\0{}\0{}",
                m.namespace,
                m.name,
                dim_key(&m.dims)
            )));
            items.push(metric_json(m));
        }
        let mut o = json!({ "Metrics": items });
        if let Some(n) = next {
            o["NextToken"] = json!(n);
        }
        out(o, None)
    }

    pub(crate) fn get_metric_data(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let queries = v
            .get("MetricDataQueries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if queries.is_empty() {
            return Err(missing("MetricDataQueries"));
        }
        if queries.len() > MAX_QUERIES {
            return Err(invalid_value(format!(
                "The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )));
        }
        let start = time_of(v, "StartTime")
            .ok_or_else(|| missing("StartTime"))?
            .max(0) as u64;
        let end = time_of(v, "EndTime")
            .ok_or_else(|| missing("EndTime"))?
            .max(0) as u64;
        if start >= end {
            return Err(invalid_value(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let ascending = str_of(v, "ScanBy") == Some("TimestampAscending");
        let max_points =
            int_of(v, "MaxDatapoints").map_or(DEFAULT_MAX_DATAPOINTS, |n| n.max(1) as usize);
        let offset: usize = match str_of(v, "NextToken") {
            Some(t) => untoken(t)?.parse().map_err(|_| {
                AwsError::new(
                    "InvalidNextToken",
                    "The service couldn't process your request because the NextToken is not valid.",
                )
            })?,
            None => 0,
        };
        let mut ids = BTreeSet::new();
        for q in &queries {
            let id = str_of(q, "Id").ok_or_else(|| missing("MetricDataQueries.member.Id"))?;
            if !id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(invalid_value(format!(
                    "The value {id} for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter and hold only letters, digits and underscores."
                )));
            }
            if !ids.insert(id.to_string()) {
                return Err(invalid_value(format!(
                    "The value {id} for parameter MetricDataQueries.member.Id is duplicated."
                )));
            }
            if q.get("MetricStat").is_some() == q.get("Expression").is_some() {
                return Err(invalid_combination(format!(
                    "Exactly one of MetricStat and Expression must be specified for the query {id}."
                )));
            }
        }
        let snap = self.store.snapshot();
        let mut series: BTreeMap<String, Series> = BTreeMap::new();
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        let mut min_period = u64::MAX;
        for q in &queries {
            let Some(ms) = q.get("MetricStat") else {
                continue;
            };
            let id = str_of(q, "Id").unwrap_or_default().to_string();
            let metric = ms.get("Metric").cloned().unwrap_or_default();
            let ns = str_of(&metric, "Namespace")
                .ok_or_else(|| missing("MetricStat.Metric.Namespace"))?;
            let name = str_of(&metric, "MetricName")
                .ok_or_else(|| missing("MetricStat.Metric.MetricName"))?;
            let dims = dims_of(&metric, "Dimensions");
            let period = check_period(
                int_of(ms, "Period").ok_or_else(|| missing("MetricStat.Period"))?,
                "MetricStat.Period",
            )?;
            min_period = min_period.min(period);
            let stat = str_of(ms, "Stat").ok_or_else(|| missing("MetricStat.Stat"))?;
            if !valid_stat(stat) {
                return Err(invalid_value(format!(
                    "The value {stat} for parameter MetricStat.Stat is invalid."
                )));
            }
            let m = MetricId {
                ns,
                name,
                dims: &dims,
            };
            let s: Series =
                bucket_stat(&snap, p, &m, (start, end, period), str_of(ms, "Unit"), stat)
                    .into_iter()
                    .collect();
            labels.insert(id.clone(), str_of(q, "Label").unwrap_or(name).to_string());
            series.insert(id, s);
        }
        if min_period == u64::MAX {
            min_period = queries
                .iter()
                .find_map(|q| int_of(q, "Period"))
                .map_or(Ok(60_000), |p| check_period(p, "Period"))?;
        }
        let grid: Vec<u64> = (0..)
            .map(|i: u64| start + i * min_period)
            .take_while(|t| *t < end)
            .take(100_800)
            .collect();
        // Expressions in dependency order (each may use stats and earlier-evaluated expressions).
        let mut pending: Vec<(String, expr::Ast)> = Vec::new();
        let mut messages = Vec::new();
        let mut many: BTreeMap<String, Vec<(String, Series)>> = BTreeMap::new();
        for q in &queries {
            if let Some(e) = str_of(q, "Expression") {
                let id = str_of(q, "Id").unwrap_or_default().to_string();
                let ast = expr::parse(e)
                    .map_err(|m| invalid_value(format!("Error in expression {id}: {m}")))?;
                labels.insert(id.clone(), str_of(q, "Label").unwrap_or(&id).to_string());
                if let Some(call) = crate::anomaly::band_call(&ast) {
                    let (of, k) =
                        call.map_err(|m| invalid_value(format!("Error in expression {id}: {m}")))?;
                    let ms = queries
                        .iter()
                        .find(|x| str_of(x, "Id") == Some(of.as_str()))
                        .and_then(|x| x.get("MetricStat"))
                        .ok_or_else(|| {
                            invalid_value(format!(
                                "Error in expression {id}: ANOMALY_DETECTION_BAND needs the id of a metric query."
                            ))
                        })?;
                    let period = int_of(ms, "Period").unwrap_or(60).max(1) as u64 * 1000;
                    let band_grid: Vec<u64> = (0..)
                        .map(|i: u64| start + i * period)
                        .take_while(|t| *t < end)
                        .take(100_800)
                        .collect();
                    let (lo, hi) = self.band(&snap, p, ms, k, end, &band_grid);
                    many.insert(id.clone(), vec![("Lower".into(), lo), ("Upper".into(), hi)]);
                    series.insert(id, Series::new());
                    continue;
                }
                pending.push((id, ast));
            }
        }
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for (id, ast) in pending {
                let mut refs = BTreeSet::new();
                expr::ids(&ast, &mut refs);
                if refs
                    .iter()
                    .any(|r| !series.contains_key(r) && ids.contains(r))
                {
                    rest.push((id, ast));
                    continue;
                }
                let env = expr::Env {
                    series: &series,
                    grid: &grid,
                };
                match expr::eval(&ast, &env, 0) {
                    Ok(Val::One(s)) => {
                        series.insert(id, s);
                    }
                    Ok(Val::Scalar(x)) => {
                        series.insert(id, grid.iter().map(|t| (*t, x)).collect());
                    }
                    Ok(Val::Many(m)) => {
                        many.insert(id.clone(), m);
                        series.insert(id, Series::new());
                    }
                    Err(m) => return Err(invalid_value(format!("Error in expression {id}: {m}"))),
                }
            }
            if rest.len() == before {
                return Err(invalid_value(
                    "The expressions refer to each other in a cycle or to an unknown id.",
                ));
            }
            pending = rest;
        }
        // The results in query order, paged over their datapoints.
        let mut results = Vec::new();
        let mut skip = offset;
        let mut room = max_points;
        let mut next = None;
        let mut emitted = offset;
        for q in &queries {
            let id = str_of(q, "Id").unwrap_or_default().to_string();
            if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let outs: Vec<(String, String, &Series)> = match many.get(&id) {
                Some(m) => m
                    .iter()
                    .map(|(sub, s)| (id.clone(), format!("{} {sub}", labels[&id]), s))
                    .collect(),
                None => vec![(
                    id.clone(),
                    labels.get(&id).cloned().unwrap_or_default(),
                    &series[&id],
                )],
            };
            for (rid, label, s) in outs {
                let mut pts: Vec<(u64, f64)> = s
                    .iter()
                    .map(|(t, x)| (*t, *x))
                    .filter(|(_, x)| x.is_finite())
                    .collect();
                if !ascending {
                    pts.reverse();
                }
                let n = pts.len();
                let from = skip.min(n);
                skip -= from;
                let take = (n - from).min(room);
                room -= take;
                emitted += take;
                let part = &pts[from..from + take];
                let complete = from + take == n;
                if !complete && next.is_none() {
                    next = Some(token(&emitted.to_string()));
                }
                if from == n && n > 0 {
                    continue;
                }
                results.push(json!({
                    "Id": rid,
                    "Label": label,
                    "Timestamps": part.iter().map(|(t, _)| *t as f64 / 1000.0).collect::<Vec<_>>(),
                    "Values": part.iter().map(|(_, x)| *x).collect::<Vec<_>>(),
                    "StatusCode": if complete { "Complete" } else { "PartialData" },
                }));
            }
        }
        if next.is_some() {
            messages.push(json!({"Code": "MaxDatapointsExceeded", "Value": "The maximum datapoints limit was exceeded; use the NextToken for more."}));
        }
        let mut o = json!({"MetricDataResults": results, "Messages": messages});
        if let Some(n) = next {
            o["NextToken"] = json!(n);
        }
        out(o, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use snapstack_service::RequestContext;

    const NOW: u64 = 1_700_002_800_000;

    proptest! {
        /// The one-pass statistic per period is the statistic of the points `buckets` groups,
        /// for every standard statistic and a percentile, over any period, range and unit.
        #[test]
        fn bucket_stat_is_the_stat_of_the_buckets(
            data in prop::collection::vec((0u64..7_200, -1e3f64..1e3, prop::bool::ANY), 1..200),
            period in prop::sample::select(vec![60u64, 300, 600, 3600]),
            from in 0u64..3_600,
            unit in prop::option::of(prop::bool::ANY),
        ) {
            let c = CloudWatch::new();
            c.set_clock(NOW);
            let ctx = RequestContext::from_scope(None);
            let start = NOW - 7_200_000;
            for chunk in data.chunks(500) {
                let datums: Vec<Value> = chunk.iter().map(|(s, v, sec)| json!({
                    "MetricName": "m", "Value": v, "Timestamp": (start + s * 1000) as f64 / 1000.0,
                    "Unit": if *sec { "Seconds" } else { "Count" }})).collect();
                c.handle(&ctx, "PutMetricData", &json!({"Namespace": "P", "MetricData": datums})).unwrap();
            }
            let p = ctx.partition.clone();
            let snap = c.store.snapshot();
            let m = MetricId { ns: "P", name: "m", dims: &[] };
            let unit = unit.map(|s| if s { "Seconds" } else { "Count" });
            let (lo, hi, per) = (start + from * 1000, NOW, period * 1000);
            for stat in ["SampleCount", "Sum", "Average", "Minimum", "Maximum", "p90"] {
                let want: Vec<(u64, f64)> = buckets(&snap, &p, &m, lo, hi, per, unit)
                    .into_iter()
                    .filter_map(|(b, pts)| Some((b, Agg::of(pts.iter().copied())?.stat(stat)?)))
                    .collect();
                prop_assert_eq!(bucket_stat(&snap, &p, &m, (lo, hi, per), unit, stat), want);
            }
        }
    }
}

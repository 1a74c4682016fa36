//! Stored resources: metric streams (with their running state), anomaly detectors, Contributor
//! Insights rules (and the managed ones), alarm mute rules, the OTel enrichment switch, and
//! alarm contributors.
//!
//! Simulated elsewhere: metric streams deliver to Firehose ([`crate::streams`]), anomaly
//! detectors train a simple band model ([`crate::anomaly`]), mute rules silence actions
//! ([`crate::mute`]). Not simulated: GetInsightRuleReport answers an empty report (rules are not
//! run over log events).

use serde_json::{Value, json};
use snapstack_engine::{Partition, Snapshot, Txn};
use snapstack_protocol::errors::AwsError;

use crate::*;

pub(crate) const METRIC_STREAM: &str = "metric-stream";
pub(crate) const ANOMALY_DETECTOR: &str = "anomaly-detector";
pub(crate) const INSIGHT_RULE: &str = "insight-rule";
pub(crate) use crate::mute::MUTE_RULE;
pub(crate) const OTEL: &str = "otel";

/// Insight rules per account and region (AWS's quota).
const MAX_INSIGHT_RULES: usize = 100;
/// Anomaly detectors per account and region (AWS's quota).
const MAX_ANOMALY_DETECTORS: usize = 500;

fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", message)
}

fn load(snap: &Snapshot<CwRecord>, p: &Partition, kind: &str, id: &str) -> Option<Value> {
    match snap.get(&resource_key(p, kind, id)) {
        Some(CwRecord::Resource(r)) => serde_json::from_str(&r.body).ok(),
        _ => None,
    }
}

fn load_txn(txn: &Txn<'_, CwRecord>, p: &Partition, kind: &str, id: &str) -> Option<Value> {
    match txn.get(&resource_key(p, kind, id)) {
        Some(CwRecord::Resource(r)) => serde_json::from_str(&r.body).ok(),
        _ => None,
    }
}

fn store(txn: &mut Txn<'_, CwRecord>, p: &Partition, kind: &str, id: &str, body: &Value, now: u64) {
    let k = resource_key(p, kind, id);
    let created_ms = match txn.get(&k) {
        Some(CwRecord::Resource(r)) => r.created_ms,
        _ => now,
    };
    txn.insert(
        k,
        CwRecord::Resource(ResourceRec {
            kind: kind.into(),
            id: id.into(),
            created_ms,
            updated_ms: now,
            body: body.to_string(),
        }),
    );
}

fn all(snap: &Snapshot<CwRecord>, p: &Partition, kind: &str) -> Vec<(String, Value)> {
    snap.scan_prefix(&resources_prefix(p, kind))
        .filter_map(|(_, r)| match r {
            CwRecord::Resource(r) => Some((r.id.clone(), serde_json::from_str(&r.body).ok()?)),
            _ => None,
        })
        .collect()
}

/// A page of `items` from the position a token names (an index), and the next token.
fn paged(
    items: Vec<Value>,
    v: &Value,
    max_key: &str,
    default: usize,
) -> Result<(Vec<Value>, Option<String>), AwsError> {
    let max = int_of(v, max_key)
        .map(|n| n.max(1) as usize)
        .unwrap_or(default);
    let start: usize = match str_of(v, "NextToken") {
        Some(t) => untoken(t)?.parse().map_err(|_| {
            AwsError::new(
                "InvalidNextToken",
                "The service couldn't process your request because the NextToken is not valid.",
            )
        })?,
        None => 0,
    };
    let next = (start + max < items.len()).then(|| token(&(start + max).to_string()));
    Ok((items.into_iter().skip(start).take(max).collect(), next))
}

fn with_next(mut o: Value, next: Option<String>) -> Value {
    if let Some(n) = next {
        o["NextToken"] = json!(n);
    }
    o
}

fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn stream_arn(p: &Partition, name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:metric-stream/{name}",
        p.region, p.account
    )
}

pub(crate) fn insight_rule_arn(p: &Partition, name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:insight-rule/{name}",
        p.region, p.account
    )
}

pub(crate) fn mute_rule_arn(p: &Partition, name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:alarm-mute-rule:{name}",
        p.region, p.account
    )
}

/// An anomaly detector's identity: the single metric (namespace, name, dimensions, stat) or the
/// metric math queries, as one canonical string.
fn detector_id(v: &Value) -> Result<(String, Value), AwsError> {
    if let Some(m) = v.get("MetricMathAnomalyDetector") {
        if v.get("SingleMetricAnomalyDetector").is_some() || v.get("MetricName").is_some() {
            return Err(invalid_combination(
                "MetricMathAnomalyDetector cannot be combined with a single metric.",
            ));
        }
        let q = m.get("MetricDataQueries").cloned().unwrap_or(json!([]));
        let returned = q
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["ReturnData"].as_bool().unwrap_or(true))
                    .count()
            })
            .unwrap_or(0);
        if returned != 1 {
            return Err(invalid_value(
                "Exactly one MetricDataQuery of a MetricMathAnomalyDetector must return data.",
            ));
        }
        return Ok((
            format!("math:{q}"),
            json!({"MetricMathAnomalyDetector": {"MetricDataQueries": q}}),
        ));
    }
    let s = v
        .get("SingleMetricAnomalyDetector")
        .cloned()
        .unwrap_or_else(|| {
            let mut o = json!({});
            for k in ["Namespace", "MetricName", "Dimensions", "Stat"] {
                if let Some(x) = v.get(k) {
                    o[k] = x.clone();
                }
            }
            o
        });
    let ns = str_of(&s, "Namespace").ok_or_else(|| missing("Namespace"))?;
    let name = str_of(&s, "MetricName").ok_or_else(|| missing("MetricName"))?;
    let stat = str_of(&s, "Stat").ok_or_else(|| missing("Stat"))?;
    if !crate::stats::valid_stat(stat) && !crate::stats::is_extended(stat) {
        return Err(invalid_value(format!(
            "The value {stat} for parameter Stat is not supported."
        )));
    }
    let dims = dims_of(&s, "Dimensions");
    let id = format!("single:{ns}\u{1}{name}\u{1}{}\u{1}{stat}", dim_key(&dims));
    let mut doc = json!({
        "Namespace": ns, "MetricName": name, "Dimensions": dims_json(&dims), "Stat": stat,
        "SingleMetricAnomalyDetector": {"Namespace": ns, "MetricName": name, "Dimensions": dims_json(&dims), "Stat": stat},
    });
    if let Some(a) = str_of(&s, "AccountId") {
        doc["SingleMetricAnomalyDetector"]["AccountId"] = json!(a);
    }
    Ok((id, doc))
}

impl CloudWatch {
    fn tag(&self, txn: &mut Txn<'_, CwRecord>, p: &Partition, arn: &str, v: &Value) {
        let tags: Vec<(String, String)> = v["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some((
                    str_of(t, "Key")?.to_string(),
                    str_of(t, "Value").unwrap_or("").to_string(),
                ))
            })
            .collect();
        if !tags.is_empty() {
            txn.insert(
                tags_key(p, arn),
                CwRecord::Tags(TagsRec {
                    arn: arn.into(),
                    tags,
                }),
            );
        }
    }

    // ---- metric streams ----

    pub(crate) fn put_metric_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "Name")
            .ok_or_else(|| missing("Name"))?
            .to_string();
        let firehose = str_of(v, "FirehoseArn").ok_or_else(|| missing("FirehoseArn"))?;
        if !firehose.starts_with("arn:") || !firehose.contains(":deliverystream/") {
            return Err(invalid_value(format!("Invalid FirehoseArn: {firehose}")));
        }
        if v.get("IncludeFilters")
            .is_some_and(|x| x.as_array().is_some_and(|a| !a.is_empty()))
            && v.get("ExcludeFilters")
                .is_some_and(|x| x.as_array().is_some_and(|a| !a.is_empty()))
        {
            return Err(invalid_combination(
                "You cannot specify both IncludeFilters and ExcludeFilters.",
            ));
        }
        let arn = stream_arn(p, &name);
        let now = self.now_ms();
        let ((), ver) = self.store.write(|txn| {
            let cur = load_txn(txn, p, METRIC_STREAM, &name);
            let mut d = json!({
                "Arn": arn, "Name": name, "FirehoseArn": firehose,
                "RoleArn": str_of(v, "RoleArn"), "OutputFormat": str_of(v, "OutputFormat"),
                "State": cur.as_ref().and_then(|c| c["State"].as_str()).unwrap_or("running"),
                "CreationDate": cur.as_ref().map(|c| c["CreationDate"].clone()).unwrap_or_else(|| secs(now)),
                "LastUpdateDate": secs(now),
                "IncludeLinkedAccountsMetrics": v["IncludeLinkedAccountsMetrics"].as_bool().unwrap_or(false),
            });
            for k in ["IncludeFilters", "ExcludeFilters", "StatisticsConfigurations"] {
                d[k] = v.get(k).cloned().unwrap_or(json!([]));
            }
            // The minute the stream streams from (crate::streams).
            d["_from"] = cur
                .as_ref()
                .and_then(|c| c.get("_from").cloned())
                .unwrap_or_else(|| json!(crate::streams::first_minute(now)));
            store(txn, p, METRIC_STREAM, &name, &d, now);
            self.tag(txn, p, &arn, v);
        });
        out(json!({ "Arn": arn }), Some(ver))
    }

    pub(crate) fn get_metric_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "Name").ok_or_else(|| missing("Name"))?;
        let mut d = load(&self.store.snapshot(), p, METRIC_STREAM, name)
            .ok_or_else(|| not_found(format!("The metric stream {name} does not exist.")))?;
        if let Some(m) = d.as_object_mut() {
            m.retain(|k, _| !k.starts_with('_'));
        }
        out(d, None)
    }

    pub(crate) fn delete_metric_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "Name").ok_or_else(|| missing("Name"))?;
        let arn = stream_arn(p, name);
        let ((), ver) = self.store.write(|txn| {
            txn.remove(&resource_key(p, METRIC_STREAM, name));
            txn.remove(&tags_key(p, &arn));
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_metric_streams(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let items: Vec<Value> = all(&self.store.snapshot(), p, METRIC_STREAM)
            .into_iter()
            .map(|(_, d)| {
                let mut o = json!({});
                for k in [
                    "Arn",
                    "CreationDate",
                    "LastUpdateDate",
                    "Name",
                    "FirehoseArn",
                    "State",
                    "OutputFormat",
                ] {
                    o[k] = d[k].clone();
                }
                o
            })
            .collect();
        let (items, next) = paged(items, v, "MaxResults", 500)?;
        out(with_next(json!({ "Entries": items }), next), None)
    }

    pub(crate) fn set_metric_streams(
        &self,
        p: &Partition,
        v: &Value,
        running: bool,
    ) -> Result<Out, AwsError> {
        let names = strings(v, "Names");
        if names.is_empty() {
            return Err(missing("Names"));
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            for n in &names {
                let mut d = load_txn(txn, p, METRIC_STREAM, n)
                    .ok_or_else(|| not_found(format!("The metric stream {n} does not exist.")))?;
                if running && d["State"] != "running" {
                    d["_from"] = json!(crate::streams::first_minute(now));
                }
                d["State"] = json!(if running { "running" } else { "stopped" });
                d["LastUpdateDate"] = secs(now);
                store(txn, p, METRIC_STREAM, n, &d, now);
            }
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    // ---- anomaly detectors ----

    pub(crate) fn put_anomaly_detector(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (id, mut doc) = detector_id(v)?;
        for k in ["Configuration", "MetricCharacteristics"] {
            if let Some(x) = v.get(k) {
                doc[k] = x.clone();
            }
        }
        doc["StateValue"] = json!("PENDING_TRAINING");
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if load_txn(txn, p, ANOMALY_DETECTOR, &id).is_none()
                && txn
                    .scan_prefix(&resources_prefix(p, ANOMALY_DETECTOR))
                    .count()
                    >= MAX_ANOMALY_DETECTORS
            {
                return Err(AwsError::new(
                    "LimitExceededException",
                    "The maximum number of anomaly detectors was reached.",
                ));
            }
            store(txn, p, ANOMALY_DETECTOR, &id, &doc, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_anomaly_detector(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let (id, _) = detector_id(v)?;
        let (found, ver) = self.store.write(|txn| {
            txn.remove(&resource_key(p, ANOMALY_DETECTOR, &id))
                .is_some()
        });
        if !found {
            return Err(not_found("This anomaly detection model does not exist."));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_anomaly_detectors(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let (ns, name) = (str_of(v, "Namespace"), str_of(v, "MetricName"));
        let dims = dims_of(v, "Dimensions");
        let types = strings(v, "AnomalyDetectorTypes");
        let now = self.now_ms();
        let items: Vec<Value> = all(&self.store.snapshot(), p, ANOMALY_DETECTOR)
            .into_iter()
            .filter(|(id, d)| {
                let math = id.starts_with("math:");
                let kind = if math { "METRIC_MATH" } else { "SINGLE_METRIC" };
                (types.is_empty() || types.iter().any(|t| t == kind))
                    && ns.is_none_or(|n| d["Namespace"] == n)
                    && name.is_none_or(|n| d["MetricName"] == n)
                    && (dims.is_empty() || dims_of(d, "Dimensions") == dims)
            })
            .map(|(_, mut d)| {
                d["StateValue"] = json!(self.detector_state(p, &d, now));
                d
            })
            .collect();
        let (items, next) = paged(items, v, "MaxResults", 100)?;
        out(with_next(json!({ "AnomalyDetectors": items }), next), None)
    }

    // ---- Contributor Insights rules ----

    pub(crate) fn put_insight_rule(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "RuleName")
            .ok_or_else(|| missing("RuleName"))?
            .to_string();
        let def = str_of(v, "RuleDefinition").ok_or_else(|| missing("RuleDefinition"))?;
        let parsed: Value = serde_json::from_str(def)
            .map_err(|_| invalid_value("The RuleDefinition is not valid JSON."))?;
        let schema = format!(
            "{}/{}",
            parsed
                .pointer("/Schema/Name")
                .and_then(Value::as_str)
                .unwrap_or("CloudWatchLogRule"),
            parsed
                .pointer("/Schema/Version")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        );
        if parsed
            .pointer("/Contribution/Keys")
            .and_then(Value::as_array)
            .is_none_or(|k| k.is_empty() || k.len() > 4)
        {
            return Err(invalid_value(
                "The RuleDefinition must have Contribution.Keys (1 to 4 keys).",
            ));
        }
        let state = str_of(v, "RuleState").unwrap_or("ENABLED");
        if state != "ENABLED" && state != "DISABLED" {
            return Err(invalid_value(format!(
                "The value {state} for parameter RuleState is invalid."
            )));
        }
        let now = self.now_ms();
        let arn = insight_rule_arn(p, &name);
        let (r, ver) = self.store.write(|txn| {
            if load_txn(txn, p, INSIGHT_RULE, &name).is_none()
                && txn.scan_prefix(&resources_prefix(p, INSIGHT_RULE)).count() >= MAX_INSIGHT_RULES
            {
                return Err(AwsError::new("LimitExceededException", "The maximum number of Contributor Insights rules was reached."));
            }
            let mut d = json!({"Name": name, "State": state, "Schema": schema, "Definition": def, "ManagedRule": false});
            if let Some(b) = v.get("ApplyOnTransformedLogs") {
                d["ApplyOnTransformedLogs"] = b.clone();
            }
            store(txn, p, INSIGHT_RULE, &name, &d, now);
            self.tag(txn, p, &arn, v);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_insight_rules(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let items: Vec<Value> = all(&self.store.snapshot(), p, INSIGHT_RULE)
            .into_iter()
            .map(|(_, mut d)| {
                if let Some(m) = d.as_object_mut() {
                    m.retain(|k, _| !k.starts_with('_'));
                }
                d
            })
            .collect();
        let (items, next) = paged(items, v, "MaxResults", 500)?;
        out(with_next(json!({ "InsightRules": items }), next), None)
    }

    /// Delete, enable or disable rules: the missing ones are reported as failures.
    pub(crate) fn update_insight_rules(
        &self,
        p: &Partition,
        v: &Value,
        action: &str,
    ) -> Result<Out, AwsError> {
        let names = strings(v, "RuleNames");
        if names.is_empty() {
            return Err(missing("RuleNames"));
        }
        let now = self.now_ms();
        let (failures, ver) = self.store.write(|txn| {
            let mut failures = Vec::new();
            for n in &names {
                let Some(mut d) = load_txn(txn, p, INSIGHT_RULE, n) else {
                    failures.push(json!({"FailureResource": n, "ExceptionType": "ResourceNotFoundException", "FailureCode": "404", "FailureDescription": format!("The rule {n} does not exist.")}));
                    continue;
                };
                match action {
                    "delete" => {
                        txn.remove(&resource_key(p, INSIGHT_RULE, n));
                        txn.remove(&tags_key(p, &insight_rule_arn(p, n)));
                    }
                    s => {
                        d["State"] = json!(s);
                        store(txn, p, INSIGHT_RULE, n, &d, now);
                    }
                }
            }
            failures
        });
        out(json!({ "Failures": failures }), Some(ver))
    }

    /// The report of a rule: rules are not run over log events here, so the report is empty.
    pub(crate) fn get_insight_rule_report(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "RuleName").ok_or_else(|| missing("RuleName"))?;
        let d = load(&self.store.snapshot(), p, INSIGHT_RULE, name)
            .ok_or_else(|| not_found(format!("The rule {name} does not exist.")))?;
        let (start, end) = (time_of(v, "StartTime"), time_of(v, "EndTime"));
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(invalid_value(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let def: Value =
            serde_json::from_str(d["Definition"].as_str().unwrap_or("{}")).unwrap_or_default();
        let labels: Vec<Value> = def
            .pointer("/Contribution/Keys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let stat = def
            .get("AggregateOn")
            .and_then(Value::as_str)
            .unwrap_or("Count");
        out(
            json!({
                "KeyLabels": labels,
                "AggregationStatistic": stat.to_lowercase(),
                "AggregateValue": 0.0,
                "ApproximateUniqueCount": 0,
                "Contributors": [],
                "MetricDatapoints": [],
            }),
            None,
        )
    }

    pub(crate) fn put_managed_insight_rules(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let rules: Vec<Value> = v["ManagedRules"].as_array().cloned().unwrap_or_default();
        if rules.is_empty() {
            return Err(missing("ManagedRules"));
        }
        let now = self.now_ms();
        let (failures, ver) = self.store.write(|txn| {
            let mut failures = Vec::new();
            for r in &rules {
                let (Some(res), Some(tpl)) = (str_of(r, "ResourceARN"), str_of(r, "TemplateName")) else {
                    continue;
                };
                if !res.starts_with("arn:") {
                    failures.push(json!({"FailureResource": res, "ExceptionType": "InvalidParameterValueException", "FailureCode": "400", "FailureDescription": format!("Invalid ResourceARN: {res}")}));
                    continue;
                }
                let mut h: u64 = 0xcbf29ce484222325;
                for b in res.bytes().chain(tpl.bytes()) {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
                }
                let name = format!("{tpl}-{:012x}", h & 0xffff_ffff_ffff);
                let d = json!({
                    "Name": name, "State": "ENABLED", "Schema": "CloudWatchLogRule/1", "ManagedRule": true,
                    "Definition": json!({"Schema": {"Name": "CloudWatchLogRule", "Version": 1}, "TemplateName": tpl, "ResourceARN": res}).to_string(),
                    "_resource": res, "_template": tpl,
                });
                store(txn, p, INSIGHT_RULE, &name, &d, now);
                self.tag(txn, p, &insight_rule_arn(p, &name), r);
            }
            failures
        });
        out(json!({ "Failures": failures }), Some(ver))
    }

    pub(crate) fn list_managed_insight_rules(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let res = str_of(v, "ResourceARN").ok_or_else(|| missing("ResourceARN"))?;
        let items: Vec<Value> = all(&self.store.snapshot(), p, INSIGHT_RULE)
            .into_iter()
            .filter(|(_, d)| d["_resource"] == res)
            .map(|(_, d)| json!({"TemplateName": d["_template"], "ResourceARN": res, "RuleState": {"RuleName": d["Name"], "State": d["State"]}}))
            .collect();
        let (items, next) = paged(items, v, "MaxResults", 500)?;
        out(with_next(json!({ "ManagedRules": items }), next), None)
    }

    // ---- alarm mute rules ----

    fn mute_status(d: &Value, now: u64) -> &'static str {
        let ms = |k: &str| d[k].as_f64().map(|s| (s * 1000.0) as u64);
        if ms("ExpireDate").is_some_and(|e| now >= e) {
            "EXPIRED"
        } else if ms("StartDate").is_some_and(|s| now < s) {
            "SCHEDULED"
        } else {
            "ACTIVE"
        }
    }

    pub(crate) fn put_alarm_mute_rule(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "Name")
            .ok_or_else(|| missing("Name"))?
            .to_string();
        let sched = v.pointer("/Rule/Schedule").ok_or_else(|| missing("Rule"))?;
        let expr = str_of(sched, "Expression").unwrap_or_default();
        if !(expr.starts_with("cron(") || expr.starts_with("at("))
            || crate::schedule::parse(expr).is_err()
        {
            return Err(invalid_value(format!(
                "Invalid schedule expression: {expr}"
            )));
        }
        let dur = str_of(sched, "Duration").unwrap_or_default();
        if crate::schedule::duration_ms(dur).is_none_or(|d| d == 0) {
            return Err(invalid_value(format!(
                "Invalid duration: {dur} (an ISO 8601 duration such as PT2H)"
            )));
        }
        if let (Some(s), Some(e)) = (num_of(v, "StartDate"), num_of(v, "ExpireDate"))
            && e <= s
        {
            return Err(invalid_value("ExpireDate must be after StartDate."));
        }
        let now = self.now_ms();
        let arn = mute_rule_arn(p, &name);
        let mut d = json!({
            "Name": name, "AlarmMuteRuleArn": arn, "Rule": v["Rule"],
            "MuteType": if expr.starts_with("at(") { "ONE_TIME" } else { "RECURRING" },
            "LastUpdatedTimestamp": secs(now),
        });
        for k in ["Description", "MuteTargets", "StartDate", "ExpireDate"] {
            if let Some(x) = v.get(k) {
                d[k] = x.clone();
            }
        }
        let ((), ver) = self.store.write(|txn| {
            store(txn, p, MUTE_RULE, &name, &d, now);
            self.tag(txn, p, &arn, v);
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn get_alarm_mute_rule(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmMuteRuleName").ok_or_else(|| missing("AlarmMuteRuleName"))?;
        let mut d = load(&self.store.snapshot(), p, MUTE_RULE, name)
            .ok_or_else(|| not_found(format!("The alarm mute rule {name} does not exist.")))?;
        d["Status"] = json!(Self::mute_status(&d, self.now_ms()));
        out(d, None)
    }

    pub(crate) fn delete_alarm_mute_rule(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmMuteRuleName").ok_or_else(|| missing("AlarmMuteRuleName"))?;
        let arn = mute_rule_arn(p, name);
        let ((), ver) = self.store.write(|txn| {
            txn.remove(&resource_key(p, MUTE_RULE, name));
            txn.remove(&tags_key(p, &arn));
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_alarm_mute_rules(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let alarm = str_of(v, "AlarmName");
        let statuses = strings(v, "Statuses");
        let now = self.now_ms();
        let items: Vec<Value> = all(&self.store.snapshot(), p, MUTE_RULE)
            .into_iter()
            .filter_map(|(_, d)| {
                let st = Self::mute_status(&d, now);
                let targets = d.pointer("/MuteTargets/AlarmNames").and_then(Value::as_array);
                let ok = (statuses.is_empty() || statuses.iter().any(|s| s == st))
                    && alarm.is_none_or(|a| targets.is_some_and(|t| t.iter().any(|x| x == a)));
                ok.then(|| {
                    let mut o = json!({"AlarmMuteRuleArn": d["AlarmMuteRuleArn"], "Status": st, "MuteType": d["MuteType"], "LastUpdatedTimestamp": d["LastUpdatedTimestamp"]});
                    if let Some(e) = d.get("ExpireDate") {
                        o["ExpireDate"] = e.clone();
                    }
                    o
                })
            })
            .collect();
        let (items, next) = paged(items, v, "MaxRecords", 100)?;
        out(
            with_next(json!({ "AlarmMuteRuleSummaries": items }), next),
            None,
        )
    }

    // ---- OTel enrichment, alarm contributors ----

    pub(crate) fn set_otel(&self, p: &Partition, running: bool) -> Result<Out, AwsError> {
        let now = self.now_ms();
        let ((), ver) = self.store.write(|txn| {
            store(
                txn,
                p,
                OTEL,
                "status",
                &json!({"Status": if running { "Running" } else { "Stopped" }}),
                now,
            )
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn get_otel(&self, p: &Partition) -> Result<Out, AwsError> {
        let d = load(&self.store.snapshot(), p, OTEL, "status")
            .unwrap_or_else(|| json!({"Status": "Stopped"}));
        out(d, None)
    }

    /// Contributors of a multi-contributor (Contributor Insights) alarm: alarms here watch
    /// metrics and math, never contributors, so the list is empty.
    pub(crate) fn describe_alarm_contributors(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmName").ok_or_else(|| missing("AlarmName"))?;
        if !matches!(
            self.store.snapshot().get(&alarm_key(p, name)),
            Some(CwRecord::Alarm(_))
        ) {
            return Err(not_found(format!("Alarm {name} does not exist.")));
        }
        out(json!({ "AlarmContributors": [] }), None)
    }

    /// Whether an ARN names one of this module's resources.
    pub(crate) fn catalog_resource_exists(&self, p: &Partition, arn: &str) -> bool {
        let snap = self.store.snapshot();
        let prefix = format!("arn:aws:cloudwatch:{}:{}:", p.region, p.account);
        let Some(rest) = arn.strip_prefix(&prefix) else {
            return false;
        };
        if let Some(n) = rest.strip_prefix("metric-stream/") {
            return load(&snap, p, METRIC_STREAM, n).is_some();
        }
        if let Some(n) = rest.strip_prefix("insight-rule/") {
            return load(&snap, p, INSIGHT_RULE, n).is_some();
        }
        if let Some(n) = rest.strip_prefix("alarm-mute-rule:") {
            return load(&snap, p, MUTE_RULE, n).is_some();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_identity() {
        let (a, _) =
            detector_id(&json!({"Namespace": "n", "MetricName": "m", "Stat": "Average"})).unwrap();
        let (b, _) = detector_id(&json!({"SingleMetricAnomalyDetector": {"Namespace": "n", "MetricName": "m", "Stat": "Average"}})).unwrap();
        assert_eq!(a, b);
        assert!(
            detector_id(&json!({"Namespace": "n", "MetricName": "m", "Stat": "Nope"})).is_err()
        );
        assert!(
            detector_id(&json!({"MetricMathAnomalyDetector": {"MetricDataQueries": []}})).is_err()
        );
    }
}

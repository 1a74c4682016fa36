//! Alarms: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms, DescribeAlarmsForMetric,
//! DeleteAlarms, SetAlarmState, Enable/DisableAlarmActions, DescribeAlarmHistory.

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;

use crate::eval::{Transition, rule_children};
use crate::stats::{is_extended, valid_stat};
use crate::*;

/// Alarms per partition.
const MAX_ALARMS: usize = 10_000;
/// History items kept per alarm (the oldest go first; the sweeper also drops items older than
/// 30 days, as AWS keeps them).
pub(crate) const MAX_HISTORY_PER_ALARM: usize = 1000;

pub(crate) const STATES: [&str; 3] = ["OK", "ALARM", "INSUFFICIENT_DATA"];

pub(crate) fn alarm_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", p.region, p.account)
}

pub(crate) fn config(a: &AlarmRec) -> Value {
    serde_json::from_str(&a.config).unwrap_or_else(|_| json!({}))
}

/// The alarm as DescribeAlarms answers (MetricAlarm or CompositeAlarm shape).
pub(crate) fn alarm_json(p: &Partition, a: &AlarmRec) -> Value {
    let mut o = config(a);
    o["AlarmName"] = json!(a.name);
    o["AlarmArn"] = json!(alarm_arn(p, &a.name));
    o["ActionsEnabled"] = json!(a.actions_enabled);
    o["StateValue"] = json!(a.state);
    o["StateReason"] = json!(a.reason);
    if let Some(d) = &a.reason_data {
        o["StateReasonData"] = json!(d);
    }
    o["StateUpdatedTimestamp"] = json!(a.state_updated_ms as f64 / 1000.0);
    o["StateTransitionedTimestamp"] = json!(a.state_transitioned_ms as f64 / 1000.0);
    o["AlarmConfigurationUpdatedTimestamp"] = json!(a.config_updated_ms as f64 / 1000.0);
    for k in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        if o.get(k).is_none() {
            o[k] = json!([]);
        }
    }
    if !a.composite && o.get("Dimensions").is_none() && o.get("Metrics").is_none() {
        o["Dimensions"] = json!([]);
    }
    o
}

fn check_arns(v: &Value) -> Result<(), AwsError> {
    for k in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        let list = strings(v, k);
        if list.len() > 5 {
            return Err(invalid_value(format!(
                "The collection {k} must not have a size greater than 5."
            )));
        }
        for a in list {
            if !a.starts_with("arn:") || a.split(':').count() < 6 {
                return Err(invalid_value(format!("Invalid arn syntax: {a}")));
            }
        }
    }
    Ok(())
}

/// Record one history item (and keep at most [`MAX_HISTORY_PER_ALARM`] per alarm).
pub(crate) fn add_history(txn: &mut Txn<'_, CwRecord>, p: &Partition, seq: u64, h: HistoryRec) {
    let prefix = history_prefix(p, &h.alarm);
    let n = txn.scan_prefix(&prefix).count();
    if n >= MAX_HISTORY_PER_ALARM {
        let old: Vec<_> = txn
            .scan_prefix(&prefix)
            .take(n + 1 - MAX_HISTORY_PER_ALARM)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            txn.remove(&k);
        }
    }
    txn.insert(history_key(p, &h.alarm, h.ts_ms, seq), CwRecord::History(h));
}

/// A state an alarm is to take (its reason, the reason data), at `now`; `next_eval` sets when
/// the evaluator looks at it again.
pub(crate) struct Change<'a> {
    pub state: &'a str,
    pub reason: &'a str,
    pub data: Option<String>,
    pub now: u64,
    pub next_eval: Option<u64>,
}

/// An alarm on an anomaly detection band: the band operators go with `ThresholdMetricId`,
/// which names an `ANOMALY_DETECTION_BAND` expression of `Metrics` (and no `Threshold`).
fn check_band_alarm(v: &Value) -> Result<(), AwsError> {
    let op = str_of(v, "ComparisonOperator").unwrap_or_default();
    let band_op = crate::anomaly::is_band_operator(op);
    let Some(tid) = str_of(v, "ThresholdMetricId") else {
        if band_op {
            return Err(invalid_value(format!(
                "ThresholdMetricId must be specified for the comparison operator {op}."
            )));
        }
        return Ok(());
    };
    if !band_op {
        return Err(invalid_value(format!(
            "The comparison operator {op} cannot be used with ThresholdMetricId: use LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold or GreaterThanUpperThreshold."
        )));
    }
    if v.get("Threshold").is_some() {
        return Err(invalid_combination(
            "Threshold and ThresholdMetricId cannot both be specified.",
        ));
    }
    let is_band = v
        .get("Metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|q| str_of(q, "Id") == Some(tid))
        .filter_map(|q| str_of(q, "Expression"))
        .any(|e| {
            crate::expr::parse(e)
                .ok()
                .and_then(|ast| crate::anomaly::band_call(&ast))
                .is_some_and(|c| c.is_ok())
        });
    if !is_band {
        return Err(invalid_value(format!(
            "ThresholdMetricId {tid} must be the id of an ANOMALY_DETECTION_BAND expression of Metrics."
        )));
    }
    Ok(())
}

pub(crate) fn alarm_type(composite: bool) -> &'static str {
    if composite {
        "CompositeAlarm"
    } else {
        "MetricAlarm"
    }
}

impl CloudWatch {
    pub(crate) fn put_alarm(
        &self,
        p: &Partition,
        v: &Value,
        composite: bool,
    ) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmName")
            .ok_or_else(|| missing("AlarmName"))?
            .to_string();
        check_arns(v)?;
        if composite {
            let rule = str_of(v, "AlarmRule").ok_or_else(|| missing("AlarmRule"))?;
            let children = rule_children(rule).map_err(invalid_value)?;
            if children.contains(&name) {
                return Err(invalid_value(
                    "An alarm rule cannot refer to the alarm itself.",
                ));
            }
        } else {
            let has_metric = v.get("MetricName").is_some();
            let has_metrics = v.get("Metrics").is_some();
            if has_metric == has_metrics {
                return Err(invalid_combination(
                    "Exactly one of MetricName and Metrics must be specified.",
                ));
            }
            if has_metric {
                if v.get("Namespace").is_none() {
                    return Err(missing("Namespace"));
                }
                if v.get("Period").is_none() {
                    return Err(missing("Period"));
                }
                match (str_of(v, "Statistic"), str_of(v, "ExtendedStatistic")) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(invalid_combination(
                            "Exactly one of Statistic and ExtendedStatistic must be specified.",
                        ));
                    }
                    (_, Some(e)) if !is_extended(e) => {
                        return Err(invalid_value(format!(
                            "The value {e} for parameter ExtendedStatistic is not supported."
                        )));
                    }
                    (Some(s), _) if !valid_stat(s) => {
                        return Err(invalid_value(format!(
                            "The value {s} for parameter Statistic is invalid."
                        )));
                    }
                    _ => {}
                }
                let period = int_of(v, "Period").unwrap_or(0);
                if !(period == 10
                    || period == 20
                    || period == 30
                    || (period >= 60 && period % 60 == 0))
                {
                    return Err(invalid_value(
                        "The parameter Period must be 10, 20, 30 or a multiple of 60.",
                    ));
                }
                let n = int_of(v, "EvaluationPeriods").unwrap_or(1);
                if period * n > 7 * 86_400 {
                    return Err(invalid_value(
                        "The evaluation period (Period * EvaluationPeriods) must not exceed 7 days.",
                    ));
                }
            }
            let n = int_of(v, "EvaluationPeriods").ok_or_else(|| missing("EvaluationPeriods"))?;
            if int_of(v, "DatapointsToAlarm").is_some_and(|m| m > n) {
                return Err(invalid_value(
                    "DatapointsToAlarm must be less than or equal to EvaluationPeriods.",
                ));
            }
            if v.get("Threshold").is_none() && v.get("ThresholdMetricId").is_none() {
                return Err(invalid_value(
                    "Threshold or ThresholdMetricId must be specified.",
                ));
            }
            check_band_alarm(v)?;
            if let Some(t) = str_of(v, "TreatMissingData")
                && !["breaching", "notBreaching", "ignore", "missing"].contains(&t)
            {
                return Err(invalid_value(format!(
                    "The value {t} for parameter TreatMissingData is invalid."
                )));
            }
        }
        let mut cfg = v.clone();
        if let Some(o) = cfg.as_object_mut() {
            o.remove("Tags");
            o.remove("ActionsEnabled");
        }
        let tags: Vec<(String, String)> = v
            .get("Tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        Some((
                            str_of(t, "Key")?.to_string(),
                            str_of(t, "Value")?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let now = self.now_ms();
        let actions_enabled = v
            .get("ActionsEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let (r, ver) = self.store.write(|txn| {
            let k = alarm_key(p, &name);
            let (rec, summary) = match txn.get(&k) {
                Some(CwRecord::Alarm(a)) => {
                    if a.composite != composite {
                        return Err(invalid_value(format!(
                            "The alarm {name} exists and is of another type."
                        )));
                    }
                    let mut a = a.clone();
                    a.config = cfg.to_string();
                    a.config_updated_ms = now;
                    a.actions_enabled = actions_enabled;
                    a.next_eval_ms = now;
                    (a, format!("Alarm \"{name}\" updated"))
                }
                _ => {
                    if txn.scan_prefix(&alarms_prefix(p)).count() >= MAX_ALARMS {
                        return Err(AwsError::new(
                            "LimitExceededFault",
                            "The maximum number of alarms for this account has been reached.",
                        ));
                    }
                    let rec = AlarmRec {
                        name: name.clone(),
                        composite,
                        config: cfg.to_string(),
                        state: "INSUFFICIENT_DATA".into(),
                        reason: "Unchecked: Initial alarm creation".into(),
                        reason_data: None,
                        state_updated_ms: now,
                        state_transitioned_ms: now,
                        config_updated_ms: now,
                        next_eval_ms: now,
                        actions_enabled,
                    };
                    if !tags.is_empty() {
                        txn.insert(
                            tags_key(p, &alarm_arn(p, &name)),
                            CwRecord::Tags(TagsRec {
                                arn: alarm_arn(p, &name),
                                tags: tags.clone(),
                            }),
                        );
                    }
                    (rec, format!("Alarm \"{name}\" created"))
                }
            };
            add_history(
                txn,
                p,
                self.next_seq(),
                HistoryRec {
                    alarm: name.clone(),
                    composite,
                    ts_ms: now,
                    kind: "ConfigurationUpdate".into(),
                    summary,
                    data: json!({"type": "Update", "updatedAlarm": alarm_json(p, &rec)})
                        .to_string(),
                },
            );
            txn.insert(k, CwRecord::Alarm(rec));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    fn alarms(&self, p: &Partition) -> Vec<AlarmRec> {
        self.store
            .snapshot()
            .scan_prefix(&alarms_prefix(p))
            .filter_map(|(_, r)| match r {
                CwRecord::Alarm(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn describe_alarms(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let names = strings(v, "AlarmNames");
        let prefix = str_of(v, "AlarmNamePrefix");
        if !names.is_empty() && prefix.is_some() {
            return Err(invalid_combination(
                "AlarmNames and AlarmNamePrefix cannot be used together.",
            ));
        }
        let types = strings(v, "AlarmTypes");
        let (want_metric, want_composite) = if types.is_empty() {
            (true, false)
        } else {
            (
                types.iter().any(|t| t == "MetricAlarm"),
                types.iter().any(|t| t == "CompositeAlarm"),
            )
        };
        let state = str_of(v, "StateValue");
        let action_prefix = str_of(v, "ActionPrefix");
        let max = int_of(v, "MaxRecords").map_or(50, |n| n.clamp(1, 100) as usize);
        let all = self.alarms(p);
        let children: Option<Vec<String>> = match str_of(v, "ChildrenOfAlarmName") {
            Some(parent) => {
                let a = all.iter().find(|a| a.name == parent && a.composite);
                Some(match a {
                    Some(a) => rule_children(config(a)["AlarmRule"].as_str().unwrap_or(""))
                        .unwrap_or_default(),
                    None => Vec::new(),
                })
            }
            None => None,
        };
        let parents_of = str_of(v, "ParentsOfAlarmName");
        let after = str_of(v, "NextToken").map(untoken).transpose()?;
        let (mut metric, mut comp) = (Vec::new(), Vec::new());
        let mut next = None;
        let mut n = 0;
        let mut last: Option<&str> = None;
        for a in &all {
            if after.as_ref().is_some_and(|t| a.name <= *t) {
                continue;
            }
            if (a.composite && !want_composite) || (!a.composite && !want_metric) {
                continue;
            }
            if (!names.is_empty() && !names.contains(&a.name))
                || prefix.is_some_and(|pre| !a.name.starts_with(pre))
                || state.is_some_and(|s| s != a.state)
            {
                continue;
            }
            let cfg = config(a);
            if let Some(pre) = action_prefix {
                let any = ["OKActions", "AlarmActions", "InsufficientDataActions"]
                    .iter()
                    .any(|k| strings(&cfg, k).iter().any(|x| x.starts_with(pre)));
                if !any {
                    continue;
                }
            }
            if children.as_ref().is_some_and(|c| !c.contains(&a.name)) {
                continue;
            }
            if let Some(child) = parents_of {
                let refers = a.composite
                    && rule_children(cfg["AlarmRule"].as_str().unwrap_or(""))
                        .is_ok_and(|c| c.iter().any(|x| x == child));
                if !refers {
                    continue;
                }
            }
            if n == max {
                next = last.map(token);
                break;
            }
            n += 1;
            last = Some(a.name.as_str());
            let j = alarm_json(p, a);
            if a.composite {
                comp.push(j);
            } else {
                metric.push(j);
            }
        }
        let mut o = json!({"MetricAlarms": metric, "CompositeAlarms": comp});
        if let Some(t) = next {
            o["NextToken"] = json!(t);
        }
        out(o, None)
    }

    pub(crate) fn describe_alarms_for_metric(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let ns = str_of(v, "Namespace").ok_or_else(|| missing("Namespace"))?;
        let name = str_of(v, "MetricName").ok_or_else(|| missing("MetricName"))?;
        let dims = dims_of(v, "Dimensions");
        let list: Vec<Value> = self
            .alarms(p)
            .iter()
            .filter(|a| !a.composite)
            .filter(|a| {
                let c = config(a);
                str_of(&c, "Namespace") == Some(ns)
                    && str_of(&c, "MetricName") == Some(name)
                    && dims_of(&c, "Dimensions") == dims
                    && ["Statistic", "ExtendedStatistic", "Unit"]
                        .iter()
                        .all(|k| v.get(*k).is_none_or(|x| c.get(*k) == Some(x)))
                    && v.get("Period")
                        .is_none_or(|x| int_of(&c, "Period") == x.as_i64())
            })
            .map(|a| alarm_json(p, a))
            .collect();
        out(json!({ "MetricAlarms": list }), None)
    }

    pub(crate) fn delete_alarms(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let names = strings(v, "AlarmNames");
        if names.len() > 100 {
            return Err(invalid_value(
                "The collection AlarmNames must not have a size greater than 100.",
            ));
        }
        let (r, ver) = self.store.write(|txn| {
            // AWS deletes none if one is missing.
            for n in &names {
                if !matches!(txn.get(&alarm_key(p, n)), Some(CwRecord::Alarm(_))) {
                    return Err(AwsError::new(
                        "ResourceNotFound",
                        format!("Alarm {n} not found"),
                    ));
                }
            }
            for n in &names {
                txn.remove(&alarm_key(p, n));
                txn.remove(&tags_key(p, &alarm_arn(p, n)));
            }
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    /// Change an alarm's state (SetAlarmState and the evaluator): the record, its history, and
    /// the transition whose actions the caller runs (when the state changed).
    pub(crate) fn transition(
        &self,
        txn: &mut Txn<'_, CwRecord>,
        p: &Partition,
        name: &str,
        c: Change<'_>,
    ) -> Option<Transition> {
        let Change {
            state: new_state,
            reason,
            data: reason_data,
            now,
            next_eval,
        } = c;
        let k = alarm_key(p, name);
        let Some(CwRecord::Alarm(a)) = txn.get(&k) else {
            return None;
        };
        let mut a = a.clone();
        if let Some(n) = next_eval {
            a.next_eval_ms = n;
        }
        if a.state == new_state {
            txn.insert(k, CwRecord::Alarm(a));
            return None;
        }
        let old = std::mem::replace(&mut a.state, new_state.to_string());
        a.reason = reason.to_string();
        a.reason_data = reason_data.clone();
        a.state_updated_ms = now;
        a.state_transitioned_ms = now;
        let mut data = json!({
            "version": "1.0",
            "oldState": {"stateValue": old},
            "newState": {"stateValue": new_state, "stateReason": reason},
        });
        if let Some(d) = &reason_data {
            data["newState"]["stateReasonData"] = serde_json::from_str(d).unwrap_or(json!(d));
        }
        add_history(
            txn,
            p,
            self.next_seq(),
            HistoryRec {
                alarm: name.to_string(),
                composite: a.composite,
                ts_ms: now,
                kind: "StateUpdate".into(),
                summary: format!("Alarm updated from {old} to {new_state}"),
                data: data.to_string(),
            },
        );
        let cfg = config(&a);
        let key = match new_state {
            "ALARM" => "AlarmActions",
            "OK" => "OKActions",
            _ => "InsufficientDataActions",
        };
        let mut actions = if a.actions_enabled {
            strings(&cfg, key)
        } else {
            Vec::new()
        };
        if !actions.is_empty()
            && let Some(rule) = crate::mute::muted_by(txn, p, name, now)
        {
            add_history(
                txn,
                p,
                self.next_seq(),
                HistoryRec {
                    alarm: name.to_string(),
                    composite: a.composite,
                    ts_ms: now,
                    kind: "Action".into(),
                    summary: format!("Actions of alarm {name} muted by alarm mute rule {rule}"),
                    data:
                        json!({"actionState": "Muted", "alarmMuteRule": rule, "actions": actions})
                            .to_string(),
                },
            );
            actions.clear();
        }
        let t = Transition {
            partition: p.clone(),
            alarm: name.to_string(),
            composite: a.composite,
            old,
            new: new_state.to_string(),
            reason: reason.to_string(),
            actions,
            alarm_json: alarm_json(p, &a),
            at_ms: now,
        };
        txn.insert(k, CwRecord::Alarm(a));
        crate::actions::queue_actions(txn, &t, self.next_seq());
        Some(t)
    }

    pub(crate) fn set_alarm_state(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmName").ok_or_else(|| missing("AlarmName"))?;
        let state = str_of(v, "StateValue").ok_or_else(|| missing("StateValue"))?;
        if !STATES.contains(&state) {
            return Err(invalid_value(format!(
                "The value {state} for parameter StateValue is invalid."
            )));
        }
        let reason = str_of(v, "StateReason").ok_or_else(|| missing("StateReason"))?;
        let data = str_of(v, "StateReasonData").map(str::to_string);
        if let Some(d) = &data
            && serde_json::from_str::<Value>(d).is_err()
        {
            return Err(AwsError::new(
                "InvalidFormatFault",
                "StateReasonData is not valid JSON.",
            ));
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&alarm_key(p, name)), Some(CwRecord::Alarm(_))) {
                return Err(AwsError::new(
                    "ResourceNotFound",
                    format!("Alarm {name} not found"),
                ));
            }
            Ok(self.transition(
                txn,
                p,
                name,
                Change {
                    state,
                    reason,
                    data: data.clone(),
                    now,
                    next_eval: None,
                },
            ))
        });
        let t = r?;
        Ok(Out {
            value: json!({}),
            version: Some(ver),
            transitions: t.into_iter().collect(),
        })
    }

    pub(crate) fn enable_actions(
        &self,
        p: &Partition,
        v: &Value,
        on: bool,
    ) -> Result<Out, AwsError> {
        let names = strings(v, "AlarmNames");
        let (_, ver) = self.store.write(|txn| {
            for n in &names {
                let k = alarm_key(p, n);
                if let Some(CwRecord::Alarm(a)) = txn.get(&k) {
                    let mut a = a.clone();
                    a.actions_enabled = on;
                    txn.insert(k, CwRecord::Alarm(a));
                }
            }
        });
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_alarm_history(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "AlarmName");
        let kind = str_of(v, "HistoryItemType");
        let types = strings(v, "AlarmTypes");
        let start = time_of(v, "StartDate").map(|t| t.max(0) as u64);
        let end = time_of(v, "EndDate").map(|t| t.max(0) as u64);
        let ascending = str_of(v, "ScanBy") == Some("TimestampAscending");
        let max = int_of(v, "MaxRecords").map_or(100, |n| n.clamp(1, 100) as usize);
        let offset: usize = match str_of(v, "NextToken") {
            Some(t) => untoken(t)?.parse().map_err(|_| {
                AwsError::new(
                    "InvalidNextToken",
                    "The service couldn't process your request because the NextToken is not valid.",
                )
            })?,
            None => 0,
        };
        let snap = self.store.snapshot();
        let prefix = match name {
            Some(n) => history_prefix(p, n),
            None => all_history_prefix(p),
        };
        let mut items: Vec<&HistoryRec> = snap
            .scan_prefix(&prefix)
            .filter_map(|(_, r)| match r {
                CwRecord::History(h) => Some(h),
                _ => None,
            })
            .filter(|h| kind.is_none_or(|k| h.kind == k))
            .filter(|h| types.is_empty() || types.iter().any(|t| t == alarm_type(h.composite)))
            .filter(|h| start.is_none_or(|s| h.ts_ms >= s) && end.is_none_or(|e| h.ts_ms <= e))
            .collect();
        items.sort_by_key(|h| h.ts_ms);
        if !ascending {
            items.reverse();
        }
        let page: Vec<Value> = items
            .iter()
            .skip(offset)
            .take(max)
            .map(|h| {
                json!({
                    "AlarmName": h.alarm,
                    "AlarmType": alarm_type(h.composite),
                    "Timestamp": h.ts_ms as f64 / 1000.0,
                    "HistoryItemType": h.kind,
                    "HistorySummary": h.summary,
                    "HistoryData": h.data,
                })
            })
            .collect();
        let mut o = json!({ "AlarmHistoryItems": page });
        if items.len() > offset + max {
            o["NextToken"] = json!(token(&(offset + max).to_string()));
        }
        out(o, None)
    }
}

//! Durable alarm actions: an outbox. A state change writes, in the same store write as the new
//! state, one [`ActionRec`] per action of the new state (the SNS Publish input AWS sends); the
//! evaluator's task delivers due ones through `Runtime::invoke(ctx, "sns", "Publish", ...)`,
//! records the outcome in the alarm's history and deletes the record, or reschedules it with a
//! backoff when SNS fails. Actions owed when the server stops are delivered after a restart.

use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_service::{RequestContext, Runtime};

use crate::alarms::add_history;
use crate::eval::{Transition, fmt_time};
use crate::*;

/// Attempts before an action is given up (and recorded as failed).
pub const MAX_ATTEMPTS: u32 = 10;
/// Actions delivered per pass.
const PASS: usize = 256;

pub fn backoff_ms(n: u32) -> u64 {
    (1000u64 << n.min(10)).min(300_000)
}

/// The SNS Publish input for one action of a state change (AWS's alarm notification).
pub(crate) fn sns_input(t: &Transition, arn: &str) -> Value {
    let a = &t.alarm_json;
    let message = json!({
        "AlarmName": t.alarm,
        "AlarmDescription": a.get("AlarmDescription"),
        "AWSAccountId": t.partition.account,
        "AlarmConfigurationUpdatedTimestamp": fmt_time((a["AlarmConfigurationUpdatedTimestamp"].as_f64().unwrap_or(0.0) * 1000.0) as u64),
        "NewStateValue": t.new,
        "NewStateReason": t.reason,
        "StateChangeTime": fmt_time(t.at_ms),
        "Region": t.partition.region,
        "AlarmArn": a.get("AlarmArn"),
        "OldStateValue": t.old,
        "Trigger": {
            "MetricName": a.get("MetricName"),
            "Namespace": a.get("Namespace"),
            "Statistic": a.get("Statistic"),
            "Dimensions": a.get("Dimensions"),
            "Period": a.get("Period"),
            "EvaluationPeriods": a.get("EvaluationPeriods"),
            "ComparisonOperator": a.get("ComparisonOperator"),
            "Threshold": a.get("Threshold"),
            "TreatMissingData": a.get("TreatMissingData"),
        },
    });
    json!({
        "TopicArn": arn,
        "Subject": format!("{}: \"{}\" in {}", t.new, t.alarm, t.partition.region),
        "Message": message.to_string(),
    })
}

/// Write the actions of a state change into the outbox (same write as the change).
pub(crate) fn queue_actions(txn: &mut Txn<'_, CwRecord>, t: &Transition, seq: u64) {
    for (i, arn) in t.actions.iter().enumerate() {
        let id = format!("{:016x}{seq:016x}{i:02x}", t.at_ms);
        txn.insert(
            action_key(&t.partition, &id),
            CwRecord::Action(ActionRec {
                id,
                alarm: t.alarm.clone(),
                composite: t.composite,
                arn: arn.clone(),
                input: sns_input(t, arn).to_string(),
                state_ms: t.at_ms,
                due_ms: t.at_ms,
                attempts: 0,
            }),
        );
    }
}

impl CloudWatch {
    fn due_actions(&self, now: u64) -> Vec<(Partition, ActionRec)> {
        let snap = self.store.snapshot();
        let mut due = Vec::new();
        for p in self.partitions() {
            let base = actions_prefix(&p);
            for (k, r) in snap.range((Bound::Included(base.clone()), base.prefix_range().1)) {
                if !k.starts_with(&base) {
                    break;
                }
                if let CwRecord::Action(a) = r
                    && a.due_ms <= now
                {
                    due.push((p.clone(), a.clone()));
                    if due.len() >= PASS {
                        return due;
                    }
                }
            }
        }
        due
    }

    /// Deliver every due action. Returns the store version of the last write.
    pub async fn deliver_actions(&self, rt: &dyn Runtime) -> Option<u64> {
        let mut version = None;
        for (p, a) in self.due_actions(self.now_ms()) {
            let ctx = RequestContext {
                access_key: p.account.clone(),
                partition: p.clone(),
                scope_service: None,
                request_id: snapstack_protocol::request::new_request_id(),
            };
            let result = if a.arn.starts_with("arn:aws:sns:") {
                let input: Value = serde_json::from_str(&a.input).unwrap_or_default();
                rt.invoke(&ctx, "sns", "Publish", input)
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            e.status.as_u16() >= 500 || e.code.contains("Throttl"),
                            format!("{}: {}", e.code, e.message),
                        )
                    })
            } else {
                Err((
                    false,
                    "this emulator runs only SNS topic actions".to_string(),
                ))
            };
            let now = self.now_ms();
            let k = action_key(&p, &a.id);
            let ((), v) = self.store.write(|txn| {
                if !txn.contains(&k) {
                    return;
                }
                let attempts = a.attempts + 1;
                let finished = match &result {
                    Ok(()) => Some(Ok(())),
                    Err((retry, e)) if *retry && attempts < MAX_ATTEMPTS => {
                        let mut n = a.clone();
                        n.attempts = attempts;
                        n.due_ms = now + backoff_ms(a.attempts);
                        txn.insert(k.clone(), CwRecord::Action(n));
                        let _ = e;
                        None
                    }
                    Err((_, e)) => Some(Err(e.clone())),
                };
                let Some(outcome) = finished else { return };
                txn.remove(&k);
                let summary = match &outcome {
                    Ok(()) => format!("Successfully executed action {}", a.arn),
                    Err(e) => format!("Failed to execute action {}. Received error: \"{e}\"", a.arn),
                };
                let data = json!({"actionState": if outcome.is_ok() { "Succeeded" } else { "Failed" }, "notificationResource": a.arn, "stateUpdateTimestamp": a.state_ms, "error": outcome.err()});
                add_history(
                    txn,
                    &p,
                    self.next_seq(),
                    HistoryRec {
                        alarm: a.alarm.clone(),
                        composite: a.composite,
                        ts_ms: now,
                        kind: "Action".into(),
                        summary,
                        data: data.to_string(),
                    },
                );
            });
            version = Some(v);
        }
        version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_caps() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(30), 300_000);
    }
}

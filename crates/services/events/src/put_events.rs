//! PutEvents, TestEventPattern, and routing: an event matched against a bus's rules becomes
//! one delivery record per target (and an archived copy per matching archive), in the caller's
//! store write.

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::codec::time::iso8601;
use snapstack_protocol::errors::AwsError;

use crate::buses::bus_of;
use crate::model::{self, Delivery, EventsRecord, Rule};
use crate::transform::{RuleInfo, body_for};
use crate::{Answer, Events, Input, bad_pattern, bus_name, new_id, str_of, validation};

/// The most a PutEvents request's entries may weigh (AWS's 256 KB).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The delay before a delivery's first attempt (tests: `SNAPSTACK_EVENTS_FIRST_ATTEMPT_DELAY_MS`
/// holds events undelivered for a while, to observe the outbox across a restart).
pub fn first_attempt_delay_ms() -> u64 {
    std::env::var("SNAPSTACK_EVENTS_FIRST_ATTEMPT_DELAY_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// An entry's size as AWS counts it.
fn entry_size(e: &Value) -> usize {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map_or(0, str::len);
    let resources: usize = e.get("Resources").and_then(Value::as_array).map_or(0, |a| {
        a.iter().filter_map(Value::as_str).map(str::len).sum()
    });
    (if e.get("Time").is_some() { 14 } else { 0 })
        + s("Source")
        + s("DetailType")
        + s("Detail")
        + resources
}

/// Where an event is routed from a replay: its name and the rules it may reach.
pub(crate) struct ReplayCtx<'a> {
    pub name: &'a str,
    pub filter_arns: &'a [String],
}

/// Route one event on a bus inside `txn`: a delivery per (matching enabled rule, target), and
/// (unless a replay) an archived copy per matching archive of the bus. Returns the deliveries
/// written.
pub(crate) fn route(
    txn: &mut Txn<'_, EventsRecord>,
    p: &Partition,
    bus: &str,
    event: &Value,
    now: u64,
    replay: Option<&ReplayCtx<'_>>,
) -> usize {
    let rules: Vec<Rule> = txn
        .scan_prefix(&model::rules_of_bus(p, bus))
        .filter_map(|(_, r)| match r {
            EventsRecord::Rule(r) if r.state != "DISABLED" && r.event_pattern.is_some() => {
                Some((**r).clone())
            }
            _ => None,
        })
        .collect();
    let mut n = 0;
    let due = now + first_attempt_delay_ms();
    for r in rules {
        if let Some(rp) = replay
            && !rp.filter_arns.is_empty()
            && !rp.filter_arns.contains(&r.arn)
        {
            continue;
        }
        let matched = r
            .event_pattern
            .as_deref()
            .is_some_and(|pat| crate::pattern::matches_text(pat, event));
        if matched {
            n += deliver_to_targets(txn, p, &r, event, now, due);
        }
    }
    if replay.is_none() {
        archive(txn, p, bus, event, now);
    }
    n
}

/// One delivery record per target of `rule`.
pub(crate) fn deliver_to_targets(
    txn: &mut Txn<'_, EventsRecord>,
    p: &Partition,
    rule: &Rule,
    event: &Value,
    now: u64,
    due: u64,
) -> usize {
    let event_text = event.to_string();
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ingestion = iso8601(now as i64, false);
    let info = RuleInfo {
        arn: &rule.arn,
        name: &rule.name,
        ingestion_time: &ingestion,
    };
    for t in &rule.targets {
        let tv: Value = serde_json::from_str(&t.json).unwrap_or(Value::Null);
        let d = Delivery {
            id: format!("{now:013}-{}", new_id()),
            account: p.account.clone(),
            region: p.region.clone(),
            rule_arn: rule.arn.clone(),
            event_id: event_id.clone(),
            target: t.json.clone(),
            body: body_for(&tv, event, &info),
            event: event_text.clone(),
            attempts: 0,
            due_ms: due,
            created_ms: now,
        };
        txn.insert(
            model::delivery_key(due, &d.id),
            EventsRecord::Delivery(Box::new(d)),
        );
    }
    rule.targets.len()
}

/// Archived copies of an event, one per enabled archive of the bus whose pattern matches.
fn archive(txn: &mut Txn<'_, EventsRecord>, p: &Partition, bus: &str, event: &Value, now: u64) {
    let bus_arn = crate::bus_arn(p, bus);
    let archives: Vec<model::Archive> = txn
        .scan_prefix(&model::archives_prefix(p))
        .filter_map(|(_, r)| match r {
            EventsRecord::Archive(a) if a.source_arn == bus_arn && a.state == "ENABLED" => {
                Some((**a).clone())
            }
            _ => None,
        })
        .collect();
    if archives.is_empty() {
        return;
    }
    let text = event.to_string();
    let id = event.get("id").and_then(Value::as_str).unwrap_or_default();
    let time = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(snapstack_protocol::codec::time::parse_iso8601)
        .map_or(now, |t| t.max(0) as u64);
    for mut a in archives {
        let ok = a
            .event_pattern
            .as_deref()
            .is_none_or(|pat| crate::pattern::matches_text(pat, event));
        if !ok {
            continue;
        }
        txn.insert(
            model::archived_key(p, &a.name, time, id),
            EventsRecord::Archived(text.clone()),
        );
        a.event_count += 1;
        a.size_bytes += text.len() as u64;
        txn.insert(
            model::archive_key(p, &a.name),
            EventsRecord::Archive(Box::new(a)),
        );
    }
}

/// The event EventBridge sends for an entry.
pub(crate) fn event_of(p: &Partition, e: &Value, detail: Value, now: u64) -> Value {
    let time = e
        .get("Time")
        .and_then(Value::as_f64)
        .map_or(now as i64, |s| (s * 1000.0) as i64);
    json!({
        "version": "0",
        "id": new_id(),
        "detail-type": e.get("DetailType").and_then(Value::as_str).unwrap_or_default(),
        "source": e.get("Source").and_then(Value::as_str).unwrap_or_default(),
        "account": p.account,
        "time": iso8601(time, false),
        "region": p.region,
        "resources": e.get("Resources").cloned().unwrap_or_else(|| json!([])),
        "detail": detail,
    })
}

/// An entry's refusal (code, message), or its detail.
fn check_entry(e: &Value, trusted: bool) -> Result<Value, (&'static str, String)> {
    let missing = |f: &str| {
        (
            "InvalidArgument",
            format!("Parameter {f} is not valid. Reason: {f} is a required argument."),
        )
    };
    let Some(source) = e
        .get("Source")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(missing("Source"));
    };
    if e.get("DetailType")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(missing("DetailType"));
    }
    let Some(detail) = e.get("Detail").and_then(Value::as_str) else {
        return Err(missing("Detail"));
    };
    if source.starts_with("aws.") && !trusted {
        return Err((
            "NotAuthorizedForSourceException",
            "Not authorized for the source.".into(),
        ));
    }
    match serde_json::from_str::<Value>(detail) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(("MalformedDetail", "Detail is malformed.".into())),
    }
}

impl Events {
    /// PutEvents; `trusted`: called by another service, which may use `aws.*` sources.
    pub(crate) fn put_events(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
        trusted: bool,
    ) -> Result<Answer, AwsError> {
        let entries: Vec<Value> = input
            .get("Entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total: usize = entries.iter().map(entry_size).sum();
        if total > MAX_REQUEST_BYTES {
            return Err(validation(
                "Total size of the entries in the request is over the limit.",
            ));
        }
        let (results, v) = self.store.write(|txn| {
            let mut results = Vec::new();
            for e in &entries {
                let detail = match check_entry(e, trusted) {
                    Ok(d) => d,
                    Err((code, message)) => {
                        results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                        continue;
                    }
                };
                let bus = bus_name(e.get("EventBusName").and_then(Value::as_str));
                if bus_of(txn.get(&model::bus_key(p, &bus)), p, &bus).is_none() {
                    results.push(json!({
                        "ErrorCode": "ResourceNotFoundException",
                        "ErrorMessage": format!("Event bus {bus} does not exist."),
                    }));
                    continue;
                }
                let event = event_of(p, e, detail, now);
                route(txn, p, &bus, &event, now, None);
                results.push(json!({"EventId": event["id"]}));
            }
            results
        });
        let failed = results
            .iter()
            .filter(|r| r.get("ErrorCode").is_some())
            .count();
        self.wake.notify_one();
        Ok(Answer::wrote(
            json!({"FailedEntryCount": failed, "Entries": results}),
            v,
        ))
    }
}

pub(crate) fn test_event_pattern(input: &Input) -> Result<Value, AwsError> {
    let pattern = crate::pattern::compile(str_of(input, "EventPattern").unwrap_or_default())
        .map_err(bad_pattern)?;
    let event: Value = serde_json::from_str(str_of(input, "Event").unwrap_or_default())
        .map_err(|_| validation("Parameter Event is not valid."))?;
    let required = ["id", "account", "source", "time", "region", "detail-type"];
    let Some(obj) = event.as_object() else {
        return Err(validation("Parameter Event is not valid."));
    };
    let absent: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !obj.contains_key(*k))
        .collect();
    if !absent.is_empty() {
        return Err(validation(format!(
            "Parameter Event is not valid. Reason: Provided Event is missing required fields: {}",
            absent.join(", ")
        )));
    }
    Ok(json!({"Result": pattern.matches(&event)}))
}

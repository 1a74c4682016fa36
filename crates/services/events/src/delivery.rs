//! The background task: fires scheduled rules whose deadline passed, runs pending replays, and
//! sends due deliveries of the outbox, removing each once its target has it. Its only state
//! besides the store is the set of deliveries in flight in this process, so after a crash every
//! record left is sent again (at-least-once), and a fire time missed while the server was down
//! fires once when it is back, the schedule then continuing from now.
//!
//! A delivery that fails in a way worth retrying (the target answered 5xx or throttled) is
//! retried with exponential backoff (1 s doubling, at most 60 s) until the target's RetryPolicy
//! runs out (MaximumRetryAttempts, default 185; MaximumEventAgeInSeconds, default 86,400); one
//! refused for good (the target does not exist) is not retried. Either way it then goes to the
//! target's DeadLetterConfig queue (with AWS's ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN
//! and RETRY_ATTEMPTS attributes), or is dropped with a log line.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, Runtime, ServiceCaller};

use crate::model::{self, Delivery, EventsRecord, Fire};
use crate::{Events, NAME, new_id, now_ms, parse_arn};

/// Most deliveries looked at per pass.
const SCAN_LIMIT: usize = 10_000;
/// Longest sleep between passes when nothing is due sooner.
const IDLE: Duration = Duration::from_millis(1000);
/// How often archived events past their archive's retention are removed.
const ARCHIVE_SWEEP_MS: u64 = 60_000;
/// AWS's defaults for a target without a RetryPolicy.
pub const DEFAULT_MAX_RETRIES: u32 = 185;
pub const DEFAULT_MAX_AGE_S: u64 = 86_400;

/// What an attempt gave.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Worth retrying (5xx, throttling).
    Retry(String, String),
    /// Not worth retrying (the target does not exist, or refuses the input).
    Fail(String, String),
}

fn ctx_for(account: &str, region: &str) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: Partition::new(account, region),
        scope_service: Some(NAME.to_string()),
        request_id: new_id(),
    }
}

fn classify(e: &AwsError) -> Outcome {
    if e.status.as_u16() >= 500 || e.code.contains("Throttl") {
        Outcome::Retry(e.code.clone(), e.message.clone())
    } else {
        Outcome::Fail(e.code.clone(), e.message.clone())
    }
}

/// The backoff before retry number `retry` (1-based).
pub fn backoff_ms(retry: u32) -> u64 {
    (1000u64 << retry.saturating_sub(1).min(6)).min(60_000)
}

/// The queue URL and partition of an SQS ARN.
pub fn queue_url(host: &str, arn: &str) -> Option<(String, String, String)> {
    let a = parse_arn(arn)?;
    if a.service != "sqs" {
        return None;
    }
    Some((
        format!(
            "http://{host}/queue/{}/{}/{}",
            a.region, a.account, a.resource
        ),
        a.account.to_string(),
        a.region.to_string(),
    ))
}

/// EventBridge acting for the rule `rule_arn`: what a target's resource policy (queue, topic,
/// function) must allow under `ENFORCE_IAM`.
fn as_rule(rule_arn: &str) -> ServiceCaller<'_> {
    ServiceCaller {
        principal: "events.amazonaws.com",
        source_arn: rule_arn,
        source_account: parse_arn(rule_arn).map_or("", |a| a.account),
    }
}

/// Call a target's service: as EventBridge's service principal (`caller`) for a target reached
/// by its resource policy (queue, topic, function), else plainly.
async fn call(
    rt: &dyn Runtime,
    caller: Option<ServiceCaller<'_>>,
    account: &str,
    region: &str,
    service: &str,
    op: &str,
    input: Value,
) -> Outcome {
    let ctx = ctx_for(account, region);
    let out = match caller {
        Some(caller) => rt.invoke_as_service(&ctx, caller, service, op, input).await,
        None => rt.invoke(&ctx, service, op, input).await,
    };
    match out {
        Ok(_) => Outcome::Delivered,
        Err(e) => classify(&e),
    }
}

/// A message for an SQS target or dead-letter queue.
struct SqsMessage<'a> {
    body: &'a str,
    /// The message group of a FIFO queue (`default` when none).
    group: Option<&'a str>,
    dedup: &'a str,
    attributes: Option<Value>,
}

async fn send_sqs(
    rt: &dyn Runtime,
    caller: ServiceCaller<'_>,
    host: &str,
    arn: &str,
    message: SqsMessage<'_>,
) -> Outcome {
    let SqsMessage {
        body,
        group,
        dedup,
        attributes,
    } = message;
    let Some((url, account, region)) = queue_url(host, arn) else {
        return Outcome::Fail(
            "InvalidTarget".into(),
            format!("{arn} is not an SQS queue ARN"),
        );
    };
    let mut input = json!({"QueueUrl": url, "MessageBody": body});
    if arn.ends_with(".fifo") {
        input["MessageGroupId"] = json!(group.unwrap_or("default"));
        input["MessageDeduplicationId"] = json!(dedup);
    }
    if let Some(a) = attributes {
        input["MessageAttributes"] = a;
    }
    call(
        rt,
        Some(caller),
        &account,
        &region,
        "sqs",
        "SendMessage",
        input,
    )
    .await
}

/// One attempt of a delivery to its target.
pub async fn attempt(events: &Events, rt: &dyn Runtime, d: &Delivery) -> Outcome {
    let target: Value = serde_json::from_str(&d.target).unwrap_or(Value::Null);
    let arn = target
        .get("Arn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(a) = parse_arn(arn) else {
        return Outcome::Fail("InvalidTarget".into(), format!("{arn} is not an ARN"));
    };
    let event: Value = serde_json::from_str(&d.event).unwrap_or(Value::Null);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    match a.service {
        "sqs" => {
            let group = target
                .pointer("/SqsParameters/MessageGroupId")
                .and_then(Value::as_str);
            let caller = as_rule(&d.rule_arn);
            let message = SqsMessage {
                body: &d.body,
                group,
                dedup: &d.event_id,
                attributes: None,
            };
            send_sqs(rt, caller, &events.host(), arn, message).await
        }
        "sns" => {
            let mut input = json!({"TopicArn": arn, "Message": d.body});
            if arn.ends_with(".fifo") {
                input["MessageGroupId"] = json!(d.rule_arn);
                input["MessageDeduplicationId"] = json!(d.event_id);
            }
            let caller = as_rule(&d.rule_arn);
            call(
                rt,
                Some(caller),
                a.account,
                a.region,
                "sns",
                "Publish",
                input,
            )
            .await
        }
        "logs" => {
            let group = a
                .resource
                .strip_prefix("log-group:")
                .map(|g| g.strip_suffix(":*").unwrap_or(g))
                .unwrap_or_default()
                .to_string();
            let stream = d.event_id.clone();
            let ctx = ctx_for(a.account, a.region);
            let create = json!({"logGroupName": group, "logStreamName": stream});
            if let Err(e) = rt.invoke(&ctx, "logs", "CreateLogStream", create).await
                && e.code != "ResourceAlreadyExistsException"
            {
                return classify(&e);
            }
            let time = event
                .get("time")
                .and_then(Value::as_str)
                .and_then(snapstack_protocol::codec::time::parse_iso8601)
                .unwrap_or(d.created_ms as i64);
            let put = json!({"logGroupName": group, "logStreamName": stream,
                             "logEvents": [{"timestamp": time, "message": d.body}]});
            call(rt, None, a.account, a.region, "logs", "PutLogEvents", put).await
        }
        "lambda" => {
            let input =
                json!({"FunctionName": arn, "InvocationType": "Event", "Payload": b64(&d.body)});
            let caller = as_rule(&d.rule_arn);
            call(
                rt,
                Some(caller),
                a.account,
                a.region,
                "lambda",
                "Invoke",
                input,
            )
            .await
        }
        "events" if a.resource.starts_with("event-bus/") => {
            let mut entry = json!({
                "Source": event.get("source"), "DetailType": event.get("detail-type"),
                "Detail": event.get("detail").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                "Resources": event.get("resources").cloned().unwrap_or_else(|| json!([])),
                "EventBusName": arn,
            });
            if let Some(t) = event
                .get("time")
                .and_then(Value::as_str)
                .and_then(snapstack_protocol::codec::time::parse_iso8601)
            {
                entry["Time"] = json!(t as f64 / 1000.0);
            }
            let ctx = ctx_for(a.account, a.region);
            match rt
                .invoke(&ctx, NAME, "PutEvents", json!({"Entries": [entry]}))
                .await
            {
                Ok(out)
                    if out
                        .get("FailedEntryCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                        == 0 =>
                {
                    Outcome::Delivered
                }
                Ok(out) => {
                    let e = &out["Entries"][0];
                    Outcome::Fail(
                        e["ErrorCode"].as_str().unwrap_or("Failed").to_string(),
                        e["ErrorMessage"].as_str().unwrap_or_default().to_string(),
                    )
                }
                Err(e) => classify(&e),
            }
        }
        "kinesis" => {
            let stream = a.resource.strip_prefix("stream/").unwrap_or(a.resource);
            let key = target
                .pointer("/KinesisParameters/PartitionKeyPath")
                .and_then(Value::as_str)
                .and_then(|p| crate::transform::select(&event, p))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_else(|| d.event_id.clone());
            let input = json!({"StreamName": stream, "Data": b64(&d.body), "PartitionKey": key});
            call(rt, None, a.account, a.region, "kinesis", "PutRecord", input).await
        }
        "firehose" => {
            let name = a
                .resource
                .strip_prefix("deliverystream/")
                .unwrap_or(a.resource);
            let input = json!({"DeliveryStreamName": name, "Record": {"Data": b64(&d.body)}});
            call(
                rt,
                None,
                a.account,
                a.region,
                "firehose",
                "PutRecord",
                input,
            )
            .await
        }
        "events" if a.resource.starts_with("api-destination/") => {
            events.send_api_destination(&a, &target, &d.body).await
        }
        "states" => {
            let input = json!({"stateMachineArn": arn, "input": d.body});
            call(
                rt,
                None,
                a.account,
                a.region,
                "stepfunctions",
                "StartExecution",
                input,
            )
            .await
        }
        _ => Outcome::Fail(
            "UnsupportedTarget".into(),
            format!(
                "Targets of service {} are not served by this emulator.",
                a.service
            ),
        ),
    }
}

impl Events {
    /// Due deliveries not in flight, grouped by (rule, target) in order.
    pub fn due_deliveries(&self, now: u64, in_flight: &HashSet<String>) -> Vec<Vec<Delivery>> {
        let snap = self.store.snapshot();
        let mut groups: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        let hi = model::due_bound("delivery", now);
        for (_, r) in snap
            .range((
                std::ops::Bound::Included(model::deliveries_prefix()),
                std::ops::Bound::Excluded(hi),
            ))
            .take(SCAN_LIMIT)
        {
            let EventsRecord::Delivery(d) = r else {
                continue;
            };
            if in_flight.contains(&d.id) {
                continue;
            }
            let target_id = serde_json::from_str::<Value>(&d.target)
                .ok()
                .and_then(|t| t.get("Id").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            groups
                .entry(format!("{}\n{target_id}", d.rule_arn))
                .or_default()
                .push((**d).clone());
        }
        groups
            .into_values()
            .map(|mut v| {
                v.sort_by(|a, b| a.id.cmp(&b.id));
                v
            })
            .collect()
    }

    /// The earliest deadline among deliveries, fires and pending replays.
    pub fn next_due(&self) -> Option<u64> {
        let snap = self.store.snapshot();
        if snap
            .scan_prefix(&model::replaying_prefix())
            .next()
            .is_some()
        {
            return Some(0);
        }
        let first = |prefix: snapstack_engine::Key| {
            snap.scan_prefix(&prefix).next().and_then(|(_, r)| match r {
                EventsRecord::Delivery(d) => Some(d.due_ms),
                _ => None,
            })
        };
        let fire = snap
            .scan_prefix(&model::fires_prefix())
            .next()
            .and_then(|(k, _)| match k.parts()?.get(1)? {
                snapstack_engine::Part::U64(n) => Some(*n),
                _ => None,
            });
        [first(model::deliveries_prefix()), fire]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fire every scheduled rule whose deadline passed: its targets get a "Scheduled Event",
    /// and its next fire time is armed (a fire missed while down happens once).
    pub fn fire_due(&self, now: u64) -> usize {
        let hi = model::due_bound("fire", now);
        let due: Vec<(snapstack_engine::Key, Fire)> = self
            .store
            .snapshot()
            .range((
                std::ops::Bound::Included(model::fires_prefix()),
                std::ops::Bound::Excluded(hi),
            ))
            .filter_map(|(k, r)| match r {
                EventsRecord::Fire(f) => Some((k.clone(), (**f).clone())),
                _ => None,
            })
            .take(SCAN_LIMIT)
            .collect();
        let n = due.len();
        for (key, f) in due {
            let p = Partition::new(&f.account, &f.region);
            self.store.write(|txn| {
                if txn.remove(&key).is_none() {
                    return;
                }
                let rkey = model::rule_key(&p, crate::DEFAULT_BUS, &f.rule);
                let mut r = match txn.get(&rkey) {
                    Some(EventsRecord::Rule(r)) => (**r).clone(),
                    _ => return,
                };
                let Some(fire_at) = r.next_fire_ms else {
                    return;
                };
                // A record left from an earlier arming (the rule's fire is later): not due.
                if r.state == "DISABLED" || fire_at > now {
                    return;
                }
                let event = json!({
                    "version": "0", "id": new_id(), "detail-type": "Scheduled Event",
                    "source": "aws.events", "account": p.account,
                    "time": snapstack_protocol::codec::time::iso8601(fire_at as i64, false),
                    "region": p.region, "resources": [r.arn], "detail": {},
                });
                crate::put_events::deliver_to_targets(txn, &p, &r, &event, now, now);
                let sched = r
                    .schedule
                    .as_deref()
                    .and_then(|s| crate::parse_schedule(s).ok());
                let next = sched.and_then(|s| {
                    let n = s.next_after(fire_at)?;
                    if n > now { Some(n) } else { s.next_after(now) }
                });
                r.next_fire_ms = next;
                if let Some(due) = next {
                    txn.insert(
                        model::fire_key(due, &p.account, &p.region, &r.name),
                        EventsRecord::Fire(Box::new(f.clone())),
                    );
                }
                txn.insert(rkey, EventsRecord::Rule(Box::new(r)));
            });
        }
        n
    }

    /// Run every pending replay.
    pub fn run_replays(&self, now: u64) -> usize {
        let pending: Vec<(String, String, String)> = self
            .store
            .snapshot()
            .scan_prefix(&model::replaying_prefix())
            .filter_map(|(k, _)| {
                let parts = k.parts()?;
                let s = |i: usize| match parts.get(i) {
                    Some(snapstack_engine::Part::Str(s)) => Some(s.clone()),
                    _ => None,
                };
                Some((s(1)?, s(2)?, s(3)?))
            })
            .collect();
        for (a, r, n) in &pending {
            self.run_replay(a, r, n, now);
        }
        pending.len()
    }

    /// Make one attempt of a delivery and record its result; whether it was delivered.
    pub async fn deliver(&self, rt: &dyn Runtime, d: Delivery) -> bool {
        let outcome = attempt(self, rt, &d).await;
        let (code, message, retry) = match outcome {
            Outcome::Delivered => {
                self.finish(&d);
                return true;
            }
            Outcome::Retry(c, m) => (c, m, true),
            Outcome::Fail(c, m) => (c, m, false),
        };
        let target: Value = serde_json::from_str(&d.target).unwrap_or(Value::Null);
        let max_retries = target
            .pointer("/RetryPolicy/MaximumRetryAttempts")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_MAX_RETRIES, |n| n as u32);
        let max_age_ms = target
            .pointer("/RetryPolicy/MaximumEventAgeInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_AGE_S)
            * 1000;
        let attempts = d.attempts + 1;
        let now = now_ms();
        let next = now + backoff_ms(attempts);
        if retry && attempts <= max_retries && next.saturating_sub(d.created_ms) <= max_age_ms {
            tracing::debug!(rule = %d.rule_arn, attempts, %code, %message, "EventBridge delivery failed; retrying");
            self.reschedule(&d, attempts, next);
        } else {
            self.give_up(rt, &d, &target, attempts, &code, &message)
                .await;
        }
        false
    }

    fn finish(&self, d: &Delivery) {
        let key = model::delivery_key(d.due_ms, &d.id);
        self.store.write(|txn| {
            txn.remove(&key);
        });
    }

    fn reschedule(&self, d: &Delivery, attempts: u32, due: u64) {
        let old = model::delivery_key(d.due_ms, &d.id);
        let mut next = d.clone();
        next.attempts = attempts;
        next.due_ms = due;
        self.store.write(|txn| {
            if txn.remove(&old).is_some() {
                txn.insert(
                    model::delivery_key(due, &next.id),
                    EventsRecord::Delivery(Box::new(next)),
                );
            }
        });
    }

    async fn give_up(
        &self,
        rt: &dyn Runtime,
        d: &Delivery,
        target: &Value,
        attempts: u32,
        code: &str,
        message: &str,
    ) {
        let target_arn = target
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match target
            .pointer("/DeadLetterConfig/Arn")
            .and_then(Value::as_str)
        {
            Some(dlq) => {
                let attr = |v: String| json!({"DataType": "String", "StringValue": v});
                let attributes = json!({
                    "ERROR_CODE": attr(code.to_string()),
                    "ERROR_MESSAGE": attr(if message.is_empty() { code.to_string() } else { message.to_string() }),
                    "RULE_ARN": attr(d.rule_arn.clone()),
                    "TARGET_ARN": attr(target_arn.to_string()),
                    "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": (attempts - 1).to_string()},
                });
                let dedup = format!("{}-dlq", d.event_id);
                let message = SqsMessage {
                    body: &d.event,
                    group: Some(&d.rule_arn),
                    dedup: &dedup,
                    attributes: Some(attributes),
                };
                match send_sqs(rt, as_rule(&d.rule_arn), &self.host(), dlq, message).await {
                    Outcome::Delivered => {
                        tracing::info!(rule = %d.rule_arn, target = %target_arn, %dlq, %code,
                        "EventBridge delivery failed; sent to the dead-letter queue")
                    }
                    Outcome::Retry(c, _) => {
                        tracing::warn!(%dlq, error = %c, "EventBridge dead-letter queue unavailable; retrying");
                        self.reschedule(d, attempts, now_ms() + 20_000);
                        return;
                    }
                    Outcome::Fail(c, m) => tracing::warn!(rule = %d.rule_arn, %dlq, error = %c, %m,
                        "EventBridge delivery failed and its dead-letter queue refused it; event dropped"),
                }
            }
            None => {
                tracing::warn!(rule = %d.rule_arn, target = %target_arn, attempts, %code, %message,
                "EventBridge delivery failed; event dropped")
            }
        }
        self.finish(d);
    }
}

/// The background loop: wait for the state, then fire, replay and deliver what is due.
pub async fn run(
    events: Arc<Events>,
    rt: Arc<dyn Runtime>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Deliveries and schedules are obligations: load the state even when loads are lazy.
    rt.ensure_loaded(NAME).await;
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut next_sweep = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        if rt.is_ready(NAME) {
            let now = now_ms();
            events.fire_due(now);
            events.run_replays(now);
            if now >= next_sweep {
                events.sweep_archives(now);
                next_sweep = now + ARCHIVE_SWEEP_MS;
            }
            let busy = in_flight.lock().map(|s| s.clone()).unwrap_or_default();
            for group in events.due_deliveries(now_ms(), &busy) {
                if let Ok(mut f) = in_flight.lock() {
                    f.extend(group.iter().map(|d| d.id.clone()));
                }
                let (events, rt, in_flight) = (events.clone(), rt.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let mut rest = group.into_iter();
                    for d in rest.by_ref() {
                        let id = d.id.clone();
                        let ok = events.deliver(rt.as_ref(), d).await;
                        if let Ok(mut f) = in_flight.lock() {
                            f.remove(&id);
                        }
                        if !ok {
                            // The target failed: the rest (in order) wait for the next pass.
                            break;
                        }
                    }
                    if let Ok(mut f) = in_flight.lock() {
                        for d in rest {
                            f.remove(&d.id);
                        }
                    }
                    events.wake.notify_one();
                });
            }
        }
        let wait = match events.next_due() {
            Some(due) => Duration::from_millis(
                due.saturating_sub(now_ms())
                    .clamp(10, IDLE.as_millis() as u64),
            ),
            None => IDLE,
        };
        tokio::select! {
            _ = events.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

//! The delivery task: sends due deliveries of the outbox and removes each once its endpoint has
//! it. Runs from `Service::start`; its only state besides the store is the set of deliveries in
//! flight in this process, so after a crash every record left is sent again (at-least-once).
//!
//! Order: deliveries of a FIFO topic (they carry a group id) go out one at a time per
//! subscription and group, in the topic's sequence-number order, a retry holding back the later
//! ones: the outbox holds only the head of each (subscription, group) queue (see
//! [`crate::model`]), so the order never depends on how much of the outbox one pass reads.
//! Others go out as they fall due. Each subscription's due deliveries are sent by one task, in
//! order.
//!
//! Retries follow the delivery policy (AWS's phases: immediate retries, retries at the minimum
//! delay, backoff between minimum and maximum, retries at the maximum). HTTP/S endpoints use the
//! subscription's `DeliveryPolicy`, else the topic's `http.defaultHealthyRetryPolicy`, else
//! AWS's default (3 retries, 20 s). AWS-managed endpoints (SQS, Lambda, Firehose) use AWS's
//! policy for them (100,015 attempts over 23 days); their client errors (a queue that does not
//! exist) are not retried. A delivery out of attempts goes to the subscription's RedrivePolicy
//! dead-letter queue, or is dropped with a log line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, Runtime, ServiceCaller};

use crate::model::{self, Delivery, DeliveryKind, SentMessage, SnsRecord, Subscription};
use crate::{NAME, Sns, new_id, now_ms};

/// Most deliveries looked at per pass.
const SCAN_LIMIT: usize = 20_000;
/// Longest sleep between passes when nothing is due sooner.
const IDLE: Duration = Duration::from_millis(1000);

/// A delivery policy's retry schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub min_delay_s: u64,
    pub max_delay_s: u64,
    pub num_retries: u32,
    pub num_no_delay: u32,
    pub num_min_delay: u32,
    pub num_max_delay: u32,
    pub backoff: String,
}

impl RetryPolicy {
    /// AWS's default for HTTP/S endpoints.
    pub fn http_default() -> Self {
        RetryPolicy {
            min_delay_s: 20,
            max_delay_s: 20,
            num_retries: 3,
            num_no_delay: 0,
            num_min_delay: 0,
            num_max_delay: 0,
            backoff: "linear".into(),
        }
    }

    /// AWS's fixed policy for AWS-managed endpoints (SQS, Lambda, Firehose).
    pub fn managed() -> Self {
        RetryPolicy {
            min_delay_s: 1,
            max_delay_s: 20,
            num_retries: 100_015,
            num_no_delay: 3,
            num_min_delay: 2,
            num_max_delay: 100_000,
            backoff: "exponential".into(),
        }
    }

    fn from_json(v: &Value, base: RetryPolicy) -> RetryPolicy {
        let n = |k: &str, d: u64| v.get(k).and_then(Value::as_u64).unwrap_or(d);
        let min = n("minDelayTarget", base.min_delay_s).clamp(0, 3600);
        let max = n("maxDelayTarget", base.max_delay_s).clamp(min, 3600);
        RetryPolicy {
            min_delay_s: min,
            max_delay_s: max,
            num_retries: n("numRetries", base.num_retries as u64).min(100) as u32,
            num_no_delay: n("numNoDelayRetries", base.num_no_delay as u64).min(100) as u32,
            num_min_delay: n("numMinDelayRetries", base.num_min_delay as u64).min(100) as u32,
            num_max_delay: n("numMaxDelayRetries", base.num_max_delay as u64).min(100) as u32,
            backoff: v
                .get("backoffFunction")
                .and_then(Value::as_str)
                .unwrap_or(&base.backoff)
                .to_string(),
        }
    }

    /// The policy of a subscription (`topic_policy`: the topic's DeliveryPolicy attribute).
    pub fn for_subscription(sub: &Subscription, topic_policy: Option<&str>) -> RetryPolicy {
        Self::for_protocol(
            &sub.protocol,
            sub.attributes.get("DeliveryPolicy").map(String::as_str),
            topic_policy,
        )
    }

    fn for_protocol(
        protocol: &str,
        sub_policy: Option<&str>,
        topic_policy: Option<&str>,
    ) -> RetryPolicy {
        if !protocol.starts_with("http") {
            return Self::managed();
        }
        let parse = |s: Option<&str>| s.and_then(|s| serde_json::from_str::<Value>(s).ok());
        let mut p = Self::http_default();
        if let Some(t) = parse(topic_policy)
            && let Some(h) = t.pointer("/http/defaultHealthyRetryPolicy")
        {
            p = Self::from_json(h, p);
        }
        if let Some(s) = parse(sub_policy)
            && let Some(h) = s.get("healthyRetryPolicy")
        {
            p = Self::from_json(h, p);
        }
        p
    }

    pub fn to_json(&self) -> String {
        json!({"http": {
            "defaultHealthyRetryPolicy": {
                "minDelayTarget": self.min_delay_s, "maxDelayTarget": self.max_delay_s,
                "numRetries": self.num_retries, "numMaxDelayRetries": self.num_max_delay,
                "numNoDelayRetries": self.num_no_delay, "numMinDelayRetries": self.num_min_delay,
                "backoffFunction": self.backoff,
            },
            "disableSubscriptionOverrides": false,
            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}
        }})
        .to_string()
    }

    /// The delay before retry number `retry` (1-based), or `None` once retries are exhausted.
    pub fn delay_ms(&self, retry: u32) -> Option<u64> {
        if retry == 0 || retry > self.num_retries {
            return None;
        }
        let (min, max) = (self.min_delay_s as f64, self.max_delay_s as f64);
        let ms = |s: f64| (s * 1000.0).round() as u64;
        if retry <= self.num_no_delay {
            return Some(0);
        }
        let r = retry - self.num_no_delay;
        if r <= self.num_min_delay {
            return Some(ms(min));
        }
        let r = r - self.num_min_delay;
        let backoff_n = self
            .num_retries
            .saturating_sub(self.num_no_delay + self.num_min_delay + self.num_max_delay);
        if r <= backoff_n {
            let x = r as f64 / backoff_n.max(1) as f64;
            let d = match self.backoff.as_str() {
                "exponential" | "geometric" if min > 0.0 => min * (max / min).powf(x),
                "arithmetic" => min + (max - min) * x * x,
                _ => min + (max - min) * x,
            };
            return Some(ms(d.clamp(min, max)));
        }
        Some(ms(max))
    }
}

/// What an attempt gave.
enum Outcome {
    Delivered,
    /// Worth retrying (endpoint down, 5xx).
    Retry(String),
    /// Not worth retrying (the target does not exist).
    Fail(String),
}

fn ctx_for(account: &str, region: &str) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: Partition::new(account, region),
        scope_service: Some(NAME.to_string()),
        request_id: new_id(),
    }
}

/// The queue URL of an SQS ARN, in the path form SQS accepts whatever the endpoint strategy
/// (`http://<host>/queue/<region>/<account>/<name>`).
pub fn queue_url(host: &str, arn: &str) -> Option<(String, String, String)> {
    let a = model::parse_arn(arn)?;
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

fn classify(e: &AwsError) -> Outcome {
    if e.status.as_u16() >= 500 || e.code == "RequestThrottled" || e.code == "ThrottlingException" {
        Outcome::Retry(format!("{}: {}", e.code, e.message))
    } else {
        Outcome::Fail(format!("{}: {}", e.code, e.message))
    }
}

/// SNS acting for the topic `topic_arn`: what a subscribed queue's or function's policy must
/// allow under `ENFORCE_IAM`.
fn as_topic(topic_arn: &str) -> ServiceCaller<'_> {
    ServiceCaller {
        principal: "sns.amazonaws.com",
        source_arn: topic_arn,
        source_account: model::parse_arn(topic_arn).map_or("", |a| a.account),
    }
}

/// Send a delivery's message to an SQS queue by its ARN (the subscription's, or its dead-letter
/// queue), as SNS for the delivery's topic.
async fn send_sqs(rt: &dyn Runtime, host: &str, arn: &str, d: &Delivery) -> Outcome {
    let caller = as_topic(&d.topic_arn);
    let (body, attributes) = (&d.body, d.sqs_attributes.as_deref());
    let (group, dedup) = (d.group_id.as_deref(), d.dedup_id.as_deref());
    let Some((url, account, region)) = queue_url(host, arn) else {
        return Outcome::Fail(format!("{arn} is not an SQS queue ARN"));
    };
    let mut input = json!({"QueueUrl": url, "MessageBody": body});
    if let Some(a) = attributes.and_then(|a| serde_json::from_str::<Value>(a).ok()) {
        input["MessageAttributes"] = a;
    }
    if arn.ends_with(".fifo") {
        if let Some(g) = group {
            input["MessageGroupId"] = json!(g);
        }
        if let Some(d) = dedup {
            input["MessageDeduplicationId"] = json!(d);
        }
    }
    let ctx = ctx_for(&account, &region);
    match rt
        .invoke_as_service(&ctx, caller, "sqs", "SendMessage", input)
        .await
    {
        Ok(_) => Outcome::Delivered,
        Err(e) => classify(&e),
    }
}

async fn attempt(sns: &Sns, rt: &dyn Runtime, d: &Delivery) -> Outcome {
    let host = sns.host();
    match d.protocol.as_str() {
        "sqs" => send_sqs(rt, &host, &d.endpoint, d).await,
        "http" | "https" => {
            let kind = match d.kind {
                DeliveryKind::Notification => "Notification",
                DeliveryKind::SubscriptionConfirmation => "SubscriptionConfirmation",
            };
            let mut headers = vec![
                ("x-amz-sns-message-type", kind.to_string()),
                ("x-amz-sns-message-id", d.message_id.clone()),
                ("x-amz-sns-topic-arn", d.topic_arn.clone()),
                ("Content-Type", "text/plain; charset=UTF-8".to_string()),
                (
                    "User-Agent",
                    "Amazon Simple Notification Service Agent".to_string(),
                ),
            ];
            if d.kind == DeliveryKind::Notification {
                headers.push(("x-amz-sns-subscription-arn", d.subscription_arn.clone()));
                if d.raw {
                    headers.push(("x-amz-sns-rawdelivery", "true".to_string()));
                }
            }
            match snapstack_service::http_client::post(&d.endpoint, &headers, d.body.as_bytes())
                .await
            {
                Ok(s) if (200..300).contains(&s) => Outcome::Delivered,
                Ok(s) => Outcome::Retry(format!("{} answered {s}", d.endpoint)),
                Err(e) => Outcome::Retry(e),
            }
        }
        "lambda" => {
            let input = json!({
                "FunctionName": d.endpoint,
                "InvocationType": "Event",
                "Payload": base64::engine::general_purpose::STANDARD.encode(&d.body),
            });
            let ctx = ctx_for(&d.account, &d.region);
            match rt
                .invoke_as_service(&ctx, as_topic(&d.topic_arn), "lambda", "Invoke", input)
                .await
            {
                Ok(_) => Outcome::Delivered,
                Err(e) => classify(&e),
            }
        }
        "firehose" => {
            let name = model::parse_arn(&d.endpoint)
                .map(|a| a.resource.trim_start_matches("deliverystream/").to_string())
                .unwrap_or_default();
            let input = json!({
                "DeliveryStreamName": name,
                "Record": {"Data": base64::engine::general_purpose::STANDARD.encode(&d.body)},
            });
            match rt
                .invoke(
                    &ctx_for(&d.account, &d.region),
                    "firehose",
                    "PutRecord",
                    input,
                )
                .await
            {
                Ok(_) => Outcome::Delivered,
                Err(e) => classify(&e),
            }
        }
        // email, email-json, sms, application: recorded where they are finished.
        _ => Outcome::Delivered,
    }
}

impl Sns {
    /// The subscription a delivery is for, if it still exists.
    fn subscription_of(&self, d: &Delivery) -> Option<(Subscription, Option<String>)> {
        let (p, topic, id) = crate::sub_of_arn(&d.subscription_arn).ok()?;
        let snap = self.store.snapshot();
        let sub = match snap.get(&model::sub_key(&p, &topic, &id)) {
            Some(SnsRecord::Subscription(s)) => (**s).clone(),
            _ => return None,
        };
        let topic_policy = match snap.get(&model::topic_key(&p, &topic)) {
            Some(SnsRecord::Topic(t)) => t.attributes.get("DeliveryPolicy").cloned(),
            _ => None,
        };
        Some((sub, topic_policy))
    }

    /// Deliveries to send now, grouped by subscription, in order. At most one per FIFO
    /// (subscription, group): the outbox holds only each group's head (records written before
    /// the FIFO queues existed are held back here, oldest first, as they were then).
    pub fn due_deliveries(&self, now: u64, in_flight: &HashSet<String>) -> Vec<Vec<Delivery>> {
        let snap = self.store.snapshot();
        let mut by_sub: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        let mut fifo_heads: HashMap<(String, String), Delivery> = HashMap::new();
        for (_, r) in snap
            .scan_prefix(&model::deliveries_prefix())
            .take(SCAN_LIMIT)
        {
            let SnsRecord::Delivery(d) = r else { continue };
            if let Some(g) = &d.group_id {
                let k = (d.subscription_arn.clone(), g.clone());
                let older = fifo_heads.get(&k).is_none_or(|h| d.id < h.id);
                if older {
                    fifo_heads.insert(k, (**d).clone());
                }
                continue;
            }
            if d.due_ms <= now && !in_flight.contains(&d.id) {
                by_sub
                    .entry(d.subscription_arn.clone())
                    .or_default()
                    .push((**d).clone());
            }
        }
        for (_, d) in fifo_heads {
            if d.due_ms <= now && !in_flight.contains(&d.id) {
                by_sub
                    .entry(d.subscription_arn.clone())
                    .or_default()
                    .push(d);
            }
        }
        by_sub
            .into_values()
            .map(|mut v| {
                v.sort_by(|a, b| a.id.cmp(&b.id));
                v
            })
            .collect()
    }

    /// The earliest deadline of the outbox, if any.
    fn next_due(&self) -> Option<u64> {
        self.store
            .snapshot()
            .scan_prefix(&model::deliveries_prefix())
            .next()
            .and_then(|(_, r)| match r {
                SnsRecord::Delivery(d) => Some(d.due_ms),
                _ => None,
            })
    }

    /// Make one attempt of a delivery and record its result.
    pub async fn deliver(&self, rt: &dyn Runtime, d: Delivery) -> bool {
        let Some((sub, topic_policy)) = self.subscription_of(&d) else {
            // Unsubscribed (or the topic deleted) meanwhile: nothing is owed.
            self.finish(&d, None);
            return true;
        };
        let outcome = attempt(self, rt, &d).await;
        match outcome {
            Outcome::Delivered => {
                let sent = matches!(
                    d.protocol.as_str(),
                    "email" | "email-json" | "sms" | "application"
                )
                .then(|| SentMessage {
                    protocol: d.protocol.clone(),
                    endpoint: d.endpoint.clone(),
                    subscription_arn: Some(d.subscription_arn.clone()),
                    message_id: d.message_id.clone(),
                    body: d.body.clone(),
                    subject: None,
                    at_ms: now_ms(),
                });
                self.finish(&d, sent);
                true
            }
            Outcome::Retry(why) => {
                let policy = RetryPolicy::for_subscription(&sub, topic_policy.as_deref());
                let attempts = d.attempts + 1;
                match policy.delay_ms(attempts) {
                    Some(delay) => {
                        tracing::debug!(subscription = %d.subscription_arn, attempts, %why, "SNS delivery failed; retrying");
                        self.reschedule(&d, attempts, now_ms() + delay);
                    }
                    None => self.give_up(rt, &sub, &d, &why).await,
                }
                false
            }
            Outcome::Fail(why) => {
                self.give_up(rt, &sub, &d, &why).await;
                false
            }
        }
    }

    fn finish(&self, d: &Delivery, sent: Option<SentMessage>) {
        let now = now_ms();
        self.store.write(|txn| {
            if crate::publish::dequeue(txn, d, now)
                && let Some(s) = sent
            {
                Sns::record_sent(txn, &Partition::new(&d.account, &d.region), s);
            }
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
                    SnsRecord::Delivery(Box::new(next)),
                );
            }
        });
    }

    /// Out of attempts (or not worth retrying): the dead-letter queue, else dropped.
    async fn give_up(&self, rt: &dyn Runtime, sub: &Subscription, d: &Delivery, why: &str) {
        let dlq = sub
            .attributes
            .get("RedrivePolicy")
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|v| v.get("deadLetterTargetArn")?.as_str().map(str::to_string));
        match dlq {
            Some(arn) if d.kind == DeliveryKind::Notification => {
                let host = self.host();
                match send_sqs(rt, &host, &arn, d).await {
                    Outcome::Delivered => tracing::info!(
                        subscription = %d.subscription_arn, message = %d.message_id, dlq = %arn, %why,
                        "SNS delivery failed; sent to the dead-letter queue"
                    ),
                    Outcome::Retry(e) => {
                        // The dead-letter queue is down: keep the delivery and try it later.
                        tracing::warn!(dlq = %arn, error = %e, "SNS dead-letter queue unavailable; retrying");
                        self.reschedule(d, d.attempts + 1, now_ms() + 20_000);
                        return;
                    }
                    Outcome::Fail(e) => tracing::warn!(
                        subscription = %d.subscription_arn, message = %d.message_id, dlq = %arn, error = %e, %why,
                        "SNS delivery failed and its dead-letter queue refused it; message dropped"
                    ),
                }
            }
            _ => tracing::warn!(
                subscription = %d.subscription_arn, message = %d.message_id, attempts = d.attempts + 1, %why,
                "SNS delivery failed; message dropped"
            ),
        }
        self.finish(d, None);
    }
}

/// The delivery loop: wait for the state, then send what is due, forever.
pub async fn run(
    sns: Arc<Sns>,
    rt: Arc<dyn Runtime>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Deliveries are obligations: load the state even when loads are lazy.
    rt.ensure_loaded(NAME).await;
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if rt.is_ready(NAME) {
            let now = now_ms();
            let busy = in_flight.lock().map(|s| s.clone()).unwrap_or_default();
            for group in sns.due_deliveries(now, &busy) {
                if let Ok(mut f) = in_flight.lock() {
                    f.extend(group.iter().map(|d| d.id.clone()));
                }
                let (sns, rt, in_flight) = (sns.clone(), rt.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let mut rest = group.into_iter();
                    for d in rest.by_ref() {
                        let id = d.id.clone();
                        let fifo = d.group_id.is_some();
                        let ok = sns.deliver(rt.as_ref(), d).await;
                        if let Ok(mut f) = in_flight.lock() {
                            f.remove(&id);
                        }
                        if !ok && !fifo {
                            // The endpoint failed: the rest wait for the next pass.
                            break;
                        }
                    }
                    if let Ok(mut f) = in_flight.lock() {
                        for d in rest {
                            f.remove(&d.id);
                        }
                    }
                    sns.wake.notify_one();
                });
            }
        }
        let wait = match sns.next_due() {
            Some(due) => Duration::from_millis(
                due.saturating_sub(now_ms())
                    .clamp(10, IDLE.as_millis() as u64),
            ),
            None => IDLE,
        };
        tokio::select! {
            _ = sns.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_http_policy_is_three_retries_at_twenty_seconds() {
        let p = RetryPolicy::http_default();
        assert_eq!(p.delay_ms(1), Some(20_000));
        assert_eq!(p.delay_ms(3), Some(20_000));
        assert_eq!(p.delay_ms(4), None);
    }

    #[test]
    fn phases_and_backoff() {
        let p = RetryPolicy {
            min_delay_s: 1,
            max_delay_s: 16,
            num_retries: 10,
            num_no_delay: 2,
            num_min_delay: 1,
            num_max_delay: 3,
            backoff: "exponential".into(),
        };
        assert_eq!(p.delay_ms(1), Some(0));
        assert_eq!(p.delay_ms(2), Some(0));
        assert_eq!(p.delay_ms(3), Some(1000));
        // Backoff: 4 retries from 1 s to 16 s.
        assert_eq!(p.delay_ms(4), Some(2000));
        assert_eq!(p.delay_ms(7), Some(16_000));
        assert_eq!(p.delay_ms(10), Some(16_000));
        assert_eq!(p.delay_ms(11), None);
        let mut last = 0;
        for r in 1..=10 {
            let d = p.delay_ms(r).unwrap();
            assert!(d >= last, "non-decreasing");
            last = d;
        }
    }

    #[test]
    fn subscription_policy_overrides_the_topic() {
        let topic = r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":2,"maxDelayTarget":2}}}"#;
        let p = RetryPolicy::for_protocol("http", None, Some(topic));
        assert_eq!((p.num_retries, p.min_delay_s), (5, 2));
        let sub =
            r#"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":1,"maxDelayTarget":1}}"#;
        let p = RetryPolicy::for_protocol("https", Some(sub), Some(topic));
        assert_eq!((p.num_retries, p.min_delay_s), (1, 1));
        assert_eq!(
            RetryPolicy::for_protocol("sqs", Some(sub), None),
            RetryPolicy::managed()
        );
        // Garbage is ignored.
        assert_eq!(
            RetryPolicy::for_protocol("http", Some("{"), Some("[]")),
            RetryPolicy::http_default()
        );
    }

    #[test]
    fn queue_urls_from_arns() {
        assert_eq!(
            queue_url("h:1", "arn:aws:sqs:eu-west-1:111122223333:q.fifo"),
            Some((
                "http://h:1/queue/eu-west-1/111122223333/q.fifo".into(),
                "111122223333".into(),
                "eu-west-1".into()
            ))
        );
        assert_eq!(queue_url("h", "arn:aws:sns:r:a:t"), None);
    }
}

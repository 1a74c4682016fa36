//! The fan-out operations of `snapstack loadgen`: SNS Publish to a topic with 1 or 10 SQS
//! subscriptions (`sns-fanout-1`, `sns-fanout-10`) and EventBridge PutEvents matched by 1 or 10
//! rules, each into its own SQS target (`events-put`, `events-put-10`). Besides the request's
//! own latency, each message carries its send time (`t=<epoch µs>;`), and after the run every
//! queue is read back: the delivery latency of a message to a queue is the queue's
//! `SentTimestamp` (milliseconds, so ±1 ms) minus that time, and the percentiles are over every
//! (message, queue) delivery, so the slowest subscription counts. The same requests go to any
//! server (moto included).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

pub const FANOUT_OPS: &[&str] = &[
    "sns-fanout-1",
    "sns-fanout-10",
    "events-put",
    "events-put-10",
];

/// What a fan-out run publishes to, and the queues whose deliveries are timed (all of them).
#[derive(Clone, Debug)]
pub struct Fanout {
    pub target: String,
    pub probe_queues: Vec<String>,
}

/// Deliveries timed after a run.
#[derive(Clone, Debug, Default)]
pub struct DeliveryReport {
    /// Messages every queue got (the least any queue got).
    pub delivered: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn sqs(host: &str, action: &str, body: &Value) -> Vec<u8> {
    super::json_request(
        host,
        &format!("AmazonSQS.{action}"),
        "1.0",
        "sqs",
        &body.to_string(),
    )
}

fn events(host: &str, action: &str, body: &Value) -> Vec<u8> {
    super::json_request(
        host,
        &format!("AWSEvents.{action}"),
        "1.1",
        "events",
        &body.to_string(),
    )
}

async fn call(addr: &str, what: &str, req: &[u8]) -> Result<Vec<u8>, String> {
    let (s, b) = super::once(addr, req).await?;
    if s >= 300 {
        return Err(format!(
            "{what} got {s}: {}",
            String::from_utf8_lossy(&b)
                .chars()
                .take(300)
                .collect::<String>()
        ));
    }
    Ok(b)
}

/// A queue's URL and ARN (created if missing).
async fn queue(addr: &str, name: &str) -> Result<(String, String), String> {
    let r = call(
        addr,
        "CreateQueue",
        &sqs(addr, "CreateQueue", &json!({"QueueName": name})),
    )
    .await?;
    let v: Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
    let url = v["QueueUrl"]
        .as_str()
        .ok_or("CreateQueue answered no QueueUrl")?
        .to_string();
    let r = call(
        addr,
        "GetQueueAttributes",
        &sqs(
            addr,
            "GetQueueAttributes",
            &json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        ),
    )
    .await?;
    let v: Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
    let arn = v["Attributes"]["QueueArn"]
        .as_str()
        .ok_or("GetQueueAttributes answered no QueueArn")?
        .to_string();
    Ok((url, arn))
}

/// Create the topic and queues, or the rule and queue, of `op`.
pub async fn setup(op: &str, addr: &str) -> Result<Fanout, String> {
    let host = addr;
    if let Some(rest) = op.strip_prefix("events-put") {
        let n: usize = match rest {
            "" => 1,
            r => r
                .strip_prefix('-')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unknown fan-out op {op}"))?,
        };
        let mut probes = Vec::new();
        for q in 0..n {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!("-{q}")
            };
            let (url, arn) = queue(addr, &format!("events-load{suffix}")).await?;
            let rule = format!("load{suffix}");
            call(
                addr,
                "PutRule",
                &events(
                    host,
                    "PutRule",
                    &json!({"Name": rule, "EventPattern": "{\"source\":[\"load\"]}"}),
                ),
            )
            .await?;
            call(
                addr,
                "PutTargets",
                &events(
                    host,
                    "PutTargets",
                    &json!({"Rule": rule, "Targets": [{"Id": "q", "Arn": arn}]}),
                ),
            )
            .await?;
            probes.push(url);
        }
        return Ok(Fanout {
            target: "default".into(),
            probe_queues: probes,
        });
    }
    let n: usize = op
        .strip_prefix("sns-fanout-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unknown fan-out op {op}"))?;
    let name = format!("fanout-{n}");
    let r = call(
        addr,
        "CreateTopic",
        &super::form_request(
            host,
            "sns",
            &format!("Action=CreateTopic&Version=2010-03-31&Name={name}"),
        ),
    )
    .await?;
    let topic = super::between(&r, "<TopicArn>", "</TopicArn>")
        .ok_or("CreateTopic answered no TopicArn")?;
    let mut probes = Vec::new();
    for q in 0..n {
        let (url, arn) = queue(addr, &format!("{name}-{q}")).await?;
        probes.push(url);
        call(
            addr,
            "Subscribe",
            &super::form_request(
                host,
                "sns",
                &format!(
                    "Action=Subscribe&Version=2010-03-31&TopicArn={}&Protocol=sqs&Endpoint={}",
                    super::form_value(&topic),
                    super::form_value(&arn)
                ),
            ),
        )
        .await?;
    }
    Ok(Fanout {
        target: topic,
        probe_queues: probes,
    })
}

/// Request `i` of a fan-out op, stamped with the time it is made.
pub fn request(op: &str, host: &str, i: usize, target: &str) -> Vec<u8> {
    let t = now_us();
    if op.starts_with("events-put") {
        let detail = format!("{{\"m\":\"t={t};-{i}-xxxxxxxxxxxxxxxxxxxxxxxx\"}}");
        return events(
            host,
            "PutEvents",
            &json!({"Entries": [{"Source": "load", "DetailType": "load", "Detail": detail}]}),
        );
    }
    super::form_request(
        host,
        "sns",
        &format!(
            "Action=Publish&Version=2010-03-31&TopicArn={}&Message=t%3D{t}%3B-{i}-xxxxxxxxxxxxxxxxxxxxxxxx",
            super::form_value(target)
        ),
    )
}

/// The send time stamped in a message body.
fn stamp(body: &str) -> Option<u64> {
    let start = body.find("t=")? + 2;
    let len = body[start..].find(';')?;
    body[start..start + len].parse().ok()
}

/// Read every queue until `expected` messages are seen in it (or nothing new came for 10 s):
/// the delivery latencies of all of them.
pub async fn delivery_latency(
    addr: &str,
    queue_urls: &[String],
    expected: u64,
) -> Result<DeliveryReport, String> {
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let mut least = u64::MAX;
    for url in queue_urls {
        least = least.min(drain(addr, url, expected, &mut hist).await?);
    }
    Ok(DeliveryReport {
        delivered: if queue_urls.is_empty() { 0 } else { least },
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
    })
}

/// Read one queue until `expected` messages (or 10 s without a new one), recording each
/// message's delivery latency; returns how many came.
async fn drain(
    addr: &str,
    queue_url: &str,
    expected: u64,
    hist: &mut Histogram<u64>,
) -> Result<u64, String> {
    let mut delivered = 0u64;
    let mut last_new = Instant::now();
    while delivered < expected && last_new.elapsed() < Duration::from_secs(10) {
        let r = call(
            addr,
            "ReceiveMessage",
            &sqs(
                addr,
                "ReceiveMessage",
                &json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10,
                        "VisibilityTimeout": 3600, "AttributeNames": ["SentTimestamp"]}),
            ),
        )
        .await?;
        let v: Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
        let msgs = v["Messages"].as_array().cloned().unwrap_or_default();
        if msgs.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        last_new = Instant::now();
        for m in msgs {
            let body = m["Body"].as_str().unwrap_or_default();
            let sent_ms = m["Attributes"]["SentTimestamp"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok());
            if let (Some(t), Some(sent_ms)) = (stamp(body), sent_ms) {
                let _ = hist.record((sent_ms * 1000).saturating_sub(t).max(1));
                delivered += 1;
            }
        }
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_raw_bodies_and_envelopes() {
        assert_eq!(stamp("t=123;-4-xx"), Some(123));
        let env = json!({"Type": "Notification", "Message": "t=77;-1-x"}).to_string();
        assert_eq!(stamp(&env), Some(77));
        let event = json!({"detail": {"m": "t=9;-0"}}).to_string();
        assert_eq!(stamp(&event), Some(9));
        assert_eq!(stamp("nothing"), None);
    }
}

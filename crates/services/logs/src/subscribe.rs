//! Subscription filter deliveries: an outbox. PutLogEvents writes, in the same store write as the
//! events, one [`OutboxRec`] per subscription filter that matched (the gzip-compressed
//! `{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents}` AWS sends, and a
//! deadline); the delivery task sends due entries to Kinesis (`PutRecord`), Firehose
//! (`PutRecord`) or Lambda (`Invoke` with `{"awslogs":{"data":...}}`), directly or through a
//! Logs destination, and deletes them when delivered or reschedules them with a backoff. The
//! entries are records, so deliveries owed when the server stops are made after a restart.

use std::ops::Bound;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, Runtime};

use crate::export::gzip;
use crate::resources::{self as res, *};
use crate::*;

/// Attempts before a delivery is dropped (the last ~an hour apart: AWS retries for 24 hours).
pub const MAX_ATTEMPTS: u32 = 30;
/// Outbox entries one pass of the delivery task sends.
const PASS: usize = 256;

/// The backoff before attempt `n + 1` (n attempts made).
pub fn backoff_ms(n: u32) -> u64 {
    (1000u64 << n.min(12)).min(3_600_000)
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The outbox entries for accepted events `(timestamp, seq, message)` of one stream.
#[allow(clippy::too_many_arguments)]
pub(crate) fn outbox_entries(
    p: &Partition,
    group: &str,
    stream: &str,
    filters: &[FilterRec],
    events: &[(u64, u64, &str)],
    now: u64,
    seed: u64,
) -> Vec<(Key, LogsRecord)> {
    let mut out = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let Ok(pat) = crate::pattern::parse(&f.pattern) else {
            continue;
        };
        let body: Value = serde_json::from_str(&f.body).unwrap_or_default();
        let Some(dest) = body["destinationArn"].as_str() else {
            continue;
        };
        let matched: Vec<Value> = events
            .iter()
            .filter(|(_, _, m)| pat.matches(m))
            .map(|&(ts, seq, m)| {
                json!({"id": crate::events::event_id(stream, ts, seq), "timestamp": ts, "message": m})
            })
            .collect();
        if matched.is_empty() {
            continue;
        }
        let payload = json!({
            "messageType": "DATA_MESSAGE",
            "owner": p.account,
            "logGroup": group,
            "logStream": stream,
            "subscriptionFilters": [f.name],
            "logEvents": matched,
        });
        // Ids sort by creation time, so the outbox is delivered in order.
        let id = format!("{now:016x}{:016x}{i:04x}", seed);
        out.push((
            outbox_key(p, &id),
            LogsRecord::Outbox(OutboxRec {
                id,
                destination_arn: dest.to_string(),
                filter: f.name.clone(),
                group: group.to_string(),
                payload: gzip(payload.to_string().as_bytes()),
                created_ms: now,
                due_ms: now,
                attempts: 0,
                last_error: None,
            }),
        ));
    }
    out
}

/// The parts of an ARN: (service, region, account, resource).
fn arn_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut it = arn.splitn(6, ':');
    let (_, _, service, region, account, resource) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    Some((service, region, account, resource))
}

fn ctx_of(account: &str, region: &str) -> RequestContext {
    let mut c = crate::export::ctx_for(&Partition::new(account, region));
    c.scope_service = Some(NAME.to_string());
    c
}

impl Logs {
    /// Send one payload to a subscription target (following a Logs destination once).
    async fn send(
        &self,
        rt: &dyn Runtime,
        target: &str,
        payload: &[u8],
        hop: bool,
    ) -> Result<(), AwsError> {
        let bad = || invalid(format!("Unsupported subscription destination: {target}"));
        let (service, region, account, resource) = arn_parts(target).ok_or_else(bad)?;
        let ctx = ctx_of(account, region);
        match service {
            "kinesis" => {
                let name = resource.strip_prefix("stream/").ok_or_else(bad)?;
                let key = format!("{:x}", blake_like(payload));
                let input = json!({"StreamName": name, "Data": b64(payload), "PartitionKey": key});
                rt.invoke(&ctx, "kinesis", "PutRecord", input)
                    .await
                    .map(|_| ())
            }
            "firehose" => {
                let name = resource.strip_prefix("deliverystream/").ok_or_else(bad)?;
                let input = json!({"DeliveryStreamName": name, "Record": {"Data": b64(payload)}});
                rt.invoke(&ctx, "firehose", "PutRecord", input)
                    .await
                    .map(|_| ())
            }
            "lambda" => {
                let event = json!({"awslogs": {"data": b64(payload)}}).to_string();
                let input = json!({"FunctionName": target, "InvocationType": "Event", "Payload": b64(event.as_bytes())});
                rt.invoke(&ctx, "lambda", "Invoke", input).await.map(|_| ())
            }
            "logs" if hop => {
                let name = resource.strip_prefix("destination:").ok_or_else(bad)?;
                let p = Partition::new(account, region);
                let d =
                    res::load(&self.store.snapshot(), &p, DESTINATION, name).ok_or_else(|| {
                        not_found(format!("The destination {target} does not exist."))
                    })?;
                let next = d["targetArn"].as_str().unwrap_or_default().to_string();
                Box::pin(self.send(rt, &next, payload, false)).await
            }
            _ => Err(bad()),
        }
    }

    /// Due outbox entries, oldest first (at most [`PASS`]).
    fn due_outbox(&self, now: u64) -> Vec<(Partition, OutboxRec)> {
        let snap = self.store.snapshot();
        let mut due = Vec::new();
        for p in self.partitions() {
            let base = outbox_prefix(&p);
            for (k, r) in snap.range((Bound::Included(base.clone()), base.prefix_range().1)) {
                if !k.starts_with(&base) {
                    break;
                }
                if let LogsRecord::Outbox(o) = r
                    && o.due_ms <= now
                {
                    due.push((p.clone(), o.clone()));
                    if due.len() >= PASS {
                        return due;
                    }
                }
            }
        }
        due
    }

    /// The earliest deadline in the outbox.
    pub(crate) fn next_outbox_due(&self) -> Option<u64> {
        let snap = self.store.snapshot();
        let mut next: Option<u64> = None;
        for p in self.partitions() {
            for (_, r) in snap.scan_prefix(&outbox_prefix(&p)) {
                if let LogsRecord::Outbox(o) = r {
                    next = Some(next.map_or(o.due_ms, |n| n.min(o.due_ms)));
                }
            }
        }
        next
    }

    /// Deliver every due outbox entry; delivered ones are deleted, failed ones rescheduled
    /// (dropped after [`MAX_ATTEMPTS`]). Returns the last store version written.
    pub async fn deliver_outbox(&self, rt: &dyn Runtime) -> Option<u64> {
        let mut last = None;
        let now = self.now_ms();
        for (p, o) in self.due_outbox(now) {
            let result = self.send(rt, &o.destination_arn, &o.payload, true).await;
            let k = outbox_key(&p, &o.id);
            let ((), ver) = self.store.write(|txn| match &result {
                Ok(()) => {
                    txn.remove(&k);
                }
                Err(e) => {
                    let attempts = o.attempts + 1;
                    if attempts >= MAX_ATTEMPTS {
                        tracing::warn!(destination = %o.destination_arn, error = %e, "a subscription delivery was dropped after its last attempt");
                        txn.remove(&k);
                    } else if txn.contains(&k) {
                        let mut n = o.clone();
                        n.attempts = attempts;
                        n.due_ms = self.now_ms() + backoff_ms(o.attempts);
                        n.last_error = Some(format!("{}: {}", e.code, e.message));
                        txn.insert(k.clone(), LogsRecord::Outbox(n));
                    }
                }
            });
            last = Some(ver);
        }
        last
    }
}

/// A cheap, stable hash of a payload (the Kinesis partition key).
fn blake_like(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn outbox_payload_is_aws_shaped() {
        let p = Partition::new("111122223333", "us-east-1");
        let f = FilterRec {
            group: "g".into(),
            name: "f".into(),
            pattern: "ERROR".into(),
            created_ms: 0,
            body: json!({"destinationArn": "arn:aws:kinesis:us-east-1:111122223333:stream/s"})
                .to_string(),
        };
        let ev = [(1000, 1, "ERROR boom"), (1001, 2, "fine")];
        let out = outbox_entries(&p, "g", "s1", &[f], &ev, 5, 9);
        assert_eq!(out.len(), 1);
        let LogsRecord::Outbox(o) = &out[0].1 else {
            panic!()
        };
        let mut s = String::new();
        flate2::read::GzDecoder::new(&o.payload[..])
            .read_to_string(&mut s)
            .unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["messageType"], "DATA_MESSAGE");
        assert_eq!(v["owner"], "111122223333");
        assert_eq!(v["logStream"], "s1");
        assert_eq!(v["subscriptionFilters"], json!(["f"]));
        assert_eq!(v["logEvents"].as_array().unwrap().len(), 1);
        assert_eq!(v["logEvents"][0]["message"], "ERROR boom");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(1), 2000);
        assert_eq!(backoff_ms(40), 3_600_000);
        assert_eq!(
            arn_parts("arn:aws:kinesis:r:1:stream/s"),
            Some(("kinesis", "r", "1", "stream/s"))
        );
    }
}

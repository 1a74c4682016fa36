//! SubscribeToShard: an enhanced fan-out consumer's push of a shard's records, as an AWS event
//! stream (`application/vnd.amazon.eventstream`): an `initial-response` event, then a
//! `SubscribeToShardEvent` whenever records arrive (and at least every few seconds), for up to
//! five minutes as AWS does, or until the end of a closed shard (an event naming its children),
//! or until the client goes away. The position travels in the task only: a subscription is a
//! connection, and after a restart the consumer subscribes again from its
//! `ContinuationSequenceNumber`, as with AWS.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use snapstack_engine::{Engine, Partition, Store};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::codec::{cbor, eventstream};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::{HeaderValue, StatusCode};
use snapstack_protocol::response::Response;

use crate::records::counter_of;
use crate::seq::{Iter, format_seq};
use crate::service::{CBOR_CONTENT_TYPE, Wire, cbor_times, model};
use crate::*;

/// How long one subscription lasts (AWS: 5 minutes).
const SUBSCRIPTION: Duration = Duration::from_secs(300);
/// How often the shard is looked at for new records.
const POLL: Duration = Duration::from_millis(200);
/// An event is sent at least this often, records or not.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Records in one event at most.
const EVENT_RECORDS: usize = 10_000;

/// One event in the protocol the client spoke: JSON for botocore; CBOR (timestamps in epoch
/// milliseconds under tag 1, data as byte strings) for the Java SDK, which reads every event
/// with its CBOR unmarshaller.
fn event(wire: Wire, kind: &str, payload: &Value) -> Bytes {
    match wire {
        Wire::Json => Bytes::from(eventstream::json_event(
            kind,
            "application/x-amz-json-1.1",
            payload,
        )),
        Wire::Cbor => {
            let mut v = payload.clone();
            cbor_times(&mut v, true, 0);
            let mut body = Vec::with_capacity(256);
            match model().shape(kind) {
                Some(shape) => cbor::encode::write(&mut body, model(), shape, &v, 0),
                None => cbor::encode::generic(&mut body, &v),
            }
            Bytes::from(eventstream::message(
                &[
                    (":message-type", "event"),
                    (":event-type", kind),
                    (":content-type", CBOR_CONTENT_TYPE),
                ],
                &body,
            ))
        }
    }
}

/// What a subscription reads from: the stream's store and the engine holding large payloads.
struct Reader {
    store: Arc<Store<KinesisRecord>>,
    engine: Arc<Engine>,
    p: Partition,
    stream: String,
    created_ms: u64,
    shard: u64,
}

impl Reader {
    /// The next event from `counter`: its payload, the next counter, and whether the shard has
    /// ended (closed and read to its end). `None` when the stream or shard is gone.
    fn next(&self, counter: u64, now: u64) -> Option<(Value, u64, bool)> {
        let snap = self.store.snapshot();
        match snap.get(&stream_key(&self.p, &self.stream)) {
            Some(KinesisRecord::Stream(s)) if s.created_ms == self.created_ms => {}
            _ => return None,
        }
        let Some(KinesisRecord::Shard(sh)) =
            snap.get(&shard_key(&self.p, &self.stream, self.shard))
        else {
            return None;
        };
        let lo = data_key(&self.p, &self.stream, self.shard, counter);
        let hi = shard_data_prefix(&self.p, &self.stream, self.shard)
            .prefix_range()
            .1;
        let mut records = Vec::new();
        let mut next = counter;
        let mut behind = 0;
        let mut more = false;
        let mut bytes = 0usize;
        for (k, r) in snap.range((Bound::Included(lo), hi)) {
            let (KinesisRecord::Data(d), Some(c)) = (r, counter_of(k)) else {
                continue;
            };
            if records.len() >= EVENT_RECORDS || bytes >= MAX_GET_BYTES {
                behind = now.saturating_sub(d.arrival_ms);
                more = true;
                break;
            }
            let data = match &d.payload {
                Payload::Inline(b) => b.clone(),
                Payload::Blob(id) => {
                    let mut out = Vec::new();
                    let blob = self.engine.open_blob(id).ok()?;
                    for piece in blob.read_all() {
                        out.extend_from_slice(&piece.ok()?);
                    }
                    out
                }
            };
            bytes += data.len();
            let mut rec = json!({
                "SequenceNumber": format_seq(c, self.shard, self.created_ms),
                "ApproximateArrivalTimestamp": secs(d.arrival_ms),
                "Data": STANDARD.encode(&data),
                "PartitionKey": d.partition_key,
            });
            if d.encrypted {
                rec["EncryptionType"] = json!("KMS");
            }
            records.push(rec);
            next = c + 1;
        }
        let last = next.max(1) - 1;
        let mut ev = json!({
            "Records": records,
            "ContinuationSequenceNumber": format_seq(last.max(sh.start_counter), self.shard, self.created_ms),
            "MillisBehindLatest": behind,
        });
        let ended = sh.end_counter.is_some() && !more;
        if ended {
            let children: Vec<Value> = load_shards(&snap, &self.p, &self.stream)
                .into_iter()
                .filter(|c| c.parent == Some(self.shard) || c.adjacent_parent == Some(self.shard))
                .map(|c| {
                    json!({
                        "ShardId": shard_id(c.index),
                        "ParentShards": c.parent.into_iter().chain(c.adjacent_parent).map(shard_id).collect::<Vec<_>>(),
                        "HashKeyRange": {
                            "StartingHashKey": c.start_hash.to_string(),
                            "EndingHashKey": c.end_hash.to_string(),
                        },
                    })
                })
                .collect();
            ev["ChildShards"] = json!(children);
            // The end of a closed shard is the event without a continuation: AWS's, which the
            // KCL, Flink and Beam read as "shard ended" (`continuationSequenceNumber() == null`)
            // and which they refuse beside a continuation.
            if let Some(m) = ev.as_object_mut() {
                m.remove("ContinuationSequenceNumber");
            }
        }
        Some((ev, next, ended))
    }
}

impl Kinesis {
    /// Check a SubscribeToShard call and find where it starts; the response streams its events.
    pub(crate) fn subscribe(&self, v: &Value, wire: Wire) -> Result<Response, AwsError> {
        let carn = str_of(v, "ConsumerARN").unwrap_or_default();
        let Some((p, stream, Some(c))) = parse_arn(carn) else {
            return Err(invalid(format!("Invalid ConsumerARN {carn}.")));
        };
        let cname = c.split_once(':').map_or(c.as_str(), |(n, _)| n).to_string();
        let snap = self.store.snapshot();
        match snap.get(&consumer_key(&p, &stream, &cname)) {
            Some(KinesisRecord::Consumer(c)) if c.arn == carn => {}
            _ => {
                return Err(not_found(format!(
                    "Consumer {carn} under account {} not found.",
                    p.account
                )));
            }
        }
        let pos = v.get("StartingPosition").cloned().unwrap_or(json!({}));
        let mut q = json!({
            "StreamARN": stream_arn(&p, &stream),
            "ShardId": str_of(v, "ShardId").unwrap_or_default(),
            "ShardIteratorType": str_of(&pos, "Type").unwrap_or_default(),
        });
        if let Some(s) = pos.get("SequenceNumber") {
            q["StartingSequenceNumber"] = s.clone();
        }
        if let Some(t) = pos.get("Timestamp") {
            q["Timestamp"] = t.clone();
        }
        let it = self.get_shard_iterator(&p, &q)?.value;
        let it = Iter::decode(it["ShardIterator"].as_str().unwrap_or_default())
            .ok_or_else(|| invalid("Invalid StartingPosition."))?;
        let reader = Reader {
            store: self.store.clone(),
            engine: self.engine.clone(),
            p,
            stream,
            created_ms: it.created_ms,
            shard: it.shard,
        };
        let mut counter = it.counter;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let clock = self.clock.load(std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            let now = || if clock == 0 { sys_now_ms() } else { clock };
            if tx
                .send(Ok(event(wire, "initial-response", &json!({}))))
                .await
                .is_err()
            {
                return;
            }
            let until = tokio::time::Instant::now() + SUBSCRIPTION;
            let mut last_sent = tokio::time::Instant::now();
            while tokio::time::Instant::now() < until {
                let Some((ev, next, ended)) = reader.next(counter, now()) else {
                    return;
                };
                let has = ev["Records"].as_array().is_some_and(|a| !a.is_empty());
                if has || ended || last_sent.elapsed() >= HEARTBEAT {
                    if tx
                        .send(Ok(event(wire, "SubscribeToShardEvent", &ev)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                    counter = next;
                    if ended {
                        return;
                    }
                }
                if !has {
                    tokio::time::sleep(POLL).await;
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut resp = Response::new(Body::from_stream(stream));
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static(eventstream::CONTENT_TYPE),
        );
        Ok(resp)
    }
}

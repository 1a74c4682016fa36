//! Kinesis data streams as a source: the delivery task reads each shard of the source stream
//! through `Runtime::invoke(ctx, "kinesis", ...)` (`ListShards`, `GetShardIterator`,
//! `GetRecords`, in the neutral JSON shape of the Kinesis model), from the stream's creation
//! time (`AT_TIMESTAMP`) and then after the last sequence number buffered. The records read
//! and the shard's new position are one store write, so a restart neither loses nor repeats
//! them. Also: the partition keys of dynamic partitioning.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::Firehose;
use crate::model::{Checkpoint, FirehoseRecord, StreamRec, rk};
use crate::put::Incoming;

/// Records read from a shard per `GetRecords`.
const READ_LIMIT: u64 = 1000;
/// `GetRecords` calls per shard per pass.
const READS_PER_PASS: usize = 5;

fn ctx_of(p: &Partition) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: p.clone(),
        scope_service: None,
        request_id: snapstack_protocol::request::new_request_id(),
    }
}

async fn kinesis(
    rt: &dyn Runtime,
    ctx: &RequestContext,
    op: &str,
    input: Value,
) -> Result<Value, String> {
    rt.invoke(ctx, "kinesis", op, input)
        .await
        .map_err(|e| format!("kinesis {op}: {}: {}", e.code, e.message))
}

impl Firehose {
    /// One pass over every Kinesis-sourced stream: how many records were buffered.
    pub async fn read_sources(&self, rt: &dyn Runtime) -> usize {
        let now = self.now_ms();
        let mut n = 0;
        for (p, st) in self.all_streams() {
            if st.stream_type != "KinesisStreamAsSource"
                || st.deleting_ms.is_some()
                || st.status(now) != "ACTIVE"
            {
                continue;
            }
            match self.read_stream(rt, &p, &st).await {
                Ok(k) => n += k,
                Err(e) => {
                    tracing::debug!(stream = %st.name, error = %e, "Firehose could not read its Kinesis source")
                }
            }
        }
        n
    }

    async fn read_stream(
        &self,
        rt: &dyn Runtime,
        p: &Partition,
        st: &StreamRec,
    ) -> Result<usize, String> {
        let Some((_, text)) = &st.source else {
            return Ok(0);
        };
        let src: Value = serde_json::from_str(text).unwrap_or_default();
        let Some(arn) = src.get("KinesisStreamARN").and_then(Value::as_str) else {
            return Ok(0);
        };
        let ctx = ctx_of(p);
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let input = match &token {
                Some(t) => json!({"NextToken": t}),
                None => json!({"StreamARN": arn}),
            };
            let out = kinesis(rt, &ctx, "ListShards", input).await?;
            for s in out
                .get("Shards")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = s.get("ShardId").and_then(Value::as_str) {
                    shards.push(id.to_string());
                }
            }
            token = out
                .get("NextToken")
                .and_then(Value::as_str)
                .map(str::to_string);
            if token.is_none() || shards.len() > 100_000 {
                break;
            }
        }
        let mut n = 0;
        for shard in shards {
            let ck_key = rk::checkpoint(p, &st.name, &shard);
            let position = match self.store.snapshot().get(&ck_key) {
                Some(FirehoseRecord::Checkpoint(c)) => Some(c.sequence.clone()),
                _ => None,
            };
            let input = match &position {
                Some(seq) => json!({"StreamARN": arn, "ShardId": shard,
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": seq}),
                None => json!({"StreamARN": arn, "ShardId": shard,
                    "ShardIteratorType": "AT_TIMESTAMP",
                    "Timestamp": snapstack_protocol::codec::time::ms_to_value(st.created_ms as i64)}),
            };
            let out = kinesis(rt, &ctx, "GetShardIterator", input).await?;
            let mut iterator = out
                .get("ShardIterator")
                .and_then(Value::as_str)
                .map(str::to_string);
            for _ in 0..READS_PER_PASS {
                let Some(it) = iterator.take() else { break };
                let out = kinesis(
                    rt,
                    &ctx,
                    "GetRecords",
                    json!({"ShardIterator": it, "Limit": READ_LIMIT, "StreamARN": arn}),
                )
                .await?;
                let records = out
                    .get("Records")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                let now = self.now_ms();
                let mut last = None;
                let mut incoming = Vec::with_capacity(records.len());
                for r in &records {
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(r.get("Data").and_then(Value::as_str).unwrap_or(""))
                        .unwrap_or_default();
                    let arrival = r
                        .get("ApproximateArrivalTimestamp")
                        .and_then(Value::as_f64)
                        .map_or(now, |s| (s * 1000.0) as u64);
                    last = r
                        .get("SequenceNumber")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    incoming.push(Incoming {
                        data: self.payload(&data),
                        size: data.len() as u64,
                        arrival_ms: arrival,
                    });
                }
                let count = incoming.len();
                let Some(seq) = last else { break };
                let ck = Checkpoint {
                    shard_id: shard.clone(),
                    sequence: seq,
                };
                let key = ck_key.clone();
                let (_, _, v) = self
                    .append(p, &st.name, incoming, false, move |txn| {
                        txn.insert(key, FirehoseRecord::Checkpoint(ck));
                    })
                    .map_err(|e| e.message)?;
                rt.wait_durable(crate::NAME, v).await?;
                n += count;
                iterator = out
                    .get("NextShardIterator")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
        }
        Ok(n)
    }
}

/// The partition keys of a record for a `MetadataExtractionQuery` of the form
/// `{name: .path.to.field, other: .x}` (the JQ subset of member paths): each name with the
/// value at its path in the record's JSON (strings as they are, other values as JSON text).
/// A record that is not JSON, or lacks a field, gets an empty value for it.
pub fn partition_keys(query: &str, data: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let doc: Value =
        serde_json::from_slice(data).map_err(|e| format!("Non JSON record provided: {e}"))?;
    let inner = query
        .trim()
        .strip_prefix('{')
        .and_then(|q| q.strip_suffix('}'))
        .unwrap_or("");
    let mut out = BTreeMap::new();
    for pair in inner.split(',') {
        let Some((name, path)) = pair.split_once(':') else {
            continue;
        };
        let name = name.trim().trim_matches('"').to_string();
        let mut v = &doc;
        for seg in path.trim().trim_start_matches('.').split('.') {
            if seg.is_empty() {
                continue;
            }
            v = v.get(seg.trim_matches('"')).unwrap_or(&Value::Null);
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => {
                return Err(format!(
                    "The partition key {name} ({}) is missing from the record.",
                    path.trim()
                ));
            }
            other => other.to_string(),
        };
        out.insert(name, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_follow_member_paths() {
        let k = partition_keys(
            "{customer: .customer_id, region: .meta.region, n: .count}",
            br#"{"customer_id": "c1", "meta": {"region": "eu"}, "count": 3}"#,
        )
        .unwrap();
        assert_eq!(k["customer"], "c1");
        assert_eq!(k["region"], "eu");
        assert_eq!(k["n"], "3");
        // Partitioning fails on a record that is not JSON or lacks a key.
        let e = partition_keys("{customer: .customer_id}", b"not json").unwrap_err();
        assert!(e.starts_with("Non JSON record provided"), "{e}");
        let e = partition_keys("{customer: .customer_id}", br#"{"other": 1}"#).unwrap_err();
        assert!(e.contains("customer"), "{e}");
        let e = partition_keys("{r: .meta.region}", br#"{"meta": {}}"#).unwrap_err();
        assert!(e.contains(".meta.region"), "{e}");
    }
}

//! The Kinesis source: each shard is read through the Kinesis service (`ListShards`,
//! `GetShardIterator` after the shard's checkpoint or at the mapping's starting position,
//! `GetRecords` up to the batch size), and the batch goes through [`super::stream`]'s
//! processing (bisect, retries, on-failure destination, checkpoint per shard).
//!
//! `LATEST` is kept as "the records that arrived after the mapping was created" (an
//! `AT_TIMESTAMP` read at the creation time), so a restart before the first record still
//! delivers every record put after the mapping existed.

use serde_json::{Value, json};
use snapstack_service::Runtime;

use super::ctx_for;
use super::stream::{BatchInfo, StreamItem};
use crate::Lambda;
use crate::model::{Mapping, StreamMapping};
use crate::ops::s;

/// `arn:aws:kinesis:<region>:<account>:stream/<name>`: the stream's account and region.
fn stream_place(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "kinesis", region, account, rest] if rest.starts_with("stream/") => {
            Some((account, region))
        }
        _ => None,
    }
}

/// One Kinesis record as a record of Lambda's Kinesis event.
fn event_record(r: &Value, shard: &str, m: &Mapping, role: &str) -> Value {
    let seq = s(r, "SequenceNumber").unwrap_or("");
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": r.get("PartitionKey"),
            "sequenceNumber": seq,
            "data": r.get("Data"),
            "approximateArrivalTimestamp": r.get("ApproximateArrivalTimestamp"),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{shard}:{seq}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role,
        "awsRegion": m.region,
        "eventSourceARN": m.source_arn,
    })
}

impl Lambda {
    /// One poll of a Kinesis mapping: a batch from each shard.
    pub(super) async fn poll_kinesis(&self, rt: &dyn Runtime, m: &Mapping) {
        let Some(sm) = self.stream_settings(&m.uuid) else {
            return;
        };
        let Some((account, region)) = stream_place(&m.source_arn) else {
            return;
        };
        let kctx = ctx_for(account, region, self.uuid());
        let Ok(shards) = rt
            .invoke(
                &kctx,
                "kinesis",
                "ListShards",
                json!({ "StreamARN": m.source_arn }),
            )
            .await
        else {
            return;
        };
        let ids: Vec<String> = shards
            .get("Shards")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|sh| s(sh, "ShardId").map(String::from))
            .collect();
        let role = {
            let fctx = ctx_for(&m.account, &m.region, String::new());
            self.get_function(&fctx, &m.function)
                .map(|f| f.latest.role)
                .unwrap_or_default()
        };
        for shard in ids {
            let Some(items) = self.read_shard(rt, &kctx, m, &sm, &shard, &role).await else {
                continue;
            };
            let info = BatchInfo {
                key: "KinesisBatchInfo",
                shard_id: &shard,
                stream_arn: &m.source_arn,
            };
            self.process_stream_batch(rt, m, &sm, &info, items).await;
        }
    }

    /// Up to a batch of the shard's records after its checkpoint.
    async fn read_shard(
        &self,
        rt: &dyn Runtime,
        kctx: &snapstack_service::RequestContext,
        m: &Mapping,
        sm: &StreamMapping,
        shard: &str,
        role: &str,
    ) -> Option<Vec<StreamItem>> {
        let mut it = json!({ "StreamARN": m.source_arn, "ShardId": shard });
        match self
            .checkpoint(&m.uuid, shard)
            .map(|c| c.sequence)
            .filter(|s| !s.is_empty())
        {
            Some(seq) => {
                it["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                it["StartingSequenceNumber"] = json!(seq);
            }
            None => match sm.starting_position.as_str() {
                "TRIM_HORIZON" => it["ShardIteratorType"] = json!("TRIM_HORIZON"),
                "AT_TIMESTAMP" => {
                    it["ShardIteratorType"] = json!("AT_TIMESTAMP");
                    let ts = sm.starting_timestamp_ms.unwrap_or(0).min(self.now());
                    it["Timestamp"] = json!(ts as f64 / 1000.0);
                }
                _ => {
                    it["ShardIteratorType"] = json!("AT_TIMESTAMP");
                    let ts = sm.created_ms.min(self.now());
                    it["Timestamp"] = json!(ts as f64 / 1000.0);
                }
            },
        }
        let iter = rt
            .invoke(kctx, "kinesis", "GetShardIterator", it)
            .await
            .ok()?;
        let iterator = s(&iter, "ShardIterator")?.to_string();
        let got = rt
            .invoke(
                kctx,
                "kinesis",
                "GetRecords",
                json!({ "ShardIterator": iterator, "Limit": m.batch_size.clamp(1, 10_000) }),
            )
            .await
            .ok()?;
        let items: Vec<StreamItem> = got
            .get("Records")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| StreamItem {
                seq: s(r, "SequenceNumber").unwrap_or("").to_string(),
                arrival_ms: r
                    .get("ApproximateArrivalTimestamp")
                    .and_then(Value::as_f64)
                    .map_or(0, |t| (t * 1000.0) as u64),
                event: event_record(r, shard, m, role),
            })
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_name_their_place() {
        assert_eq!(
            stream_place("arn:aws:kinesis:eu-west-1:111122223333:stream/s"),
            Some(("111122223333", "eu-west-1"))
        );
        assert_eq!(stream_place("arn:aws:sqs:eu-west-1:111122223333:q"), None);
    }
}

//! The DynamoDB Streams source: a thin adapter over [`super::stream`], which does the shard's
//! batch (invoke, bisect on error, retries, on-failure destination, a [`Checkpoint`] per shard).
//! This file only reads: each shard of the table's stream through the `dynamodbstreams` service
//! (`DescribeStream`, `GetShardIterator` after the shard's checkpoint or from the oldest record,
//! `GetRecords` up to the batch size), and shapes Lambda's DynamoDB event.
//!
//! DynamoDB Streams have no `AT_TIMESTAMP`: `LATEST` is kept as "the records written after the
//! mapping was created" (older ones are skipped by their creation time), so a restart before
//! the first record still delivers every record written after the mapping existed.
//!
//! Mappings created before this adapter kept their checkpoints in one [`StreamCursor`] record;
//! [`Lambda::migrate_cursors`] turns each into the shared [`StreamMapping`] and [`Checkpoint`]
//! records (the cursor's variant stays readable: docs/FORMAT.md).
//!
//! [`StreamCursor`]: crate::model::StreamCursor

use serde_json::{Value, json};
use snapstack_service::{RequestContext, Runtime};

use super::ctx_for;
use super::stream::{BatchInfo, StreamItem};
use crate::model::{Checkpoint, LambdaRecord, Mapping, StreamMapping, keys};
use crate::ops::s;
use crate::{LResult, Lambda, LambdaError};

/// Whether an event source ARN is a DynamoDB stream's.
pub(crate) fn is_stream_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:dynamodb:") && arn.contains("/stream/")
}

/// The starting positions DynamoDB streams take.
pub(crate) fn check_start(input: &Value) -> LResult<()> {
    if s(input, "StartingPosition") == Some("AT_TIMESTAMP") {
        return Err(LambdaError::invalid(
            "Unsupported starting position for DynamoDB streams: AT_TIMESTAMP",
        ));
    }
    Ok(())
}

/// `arn:aws:dynamodb:<region>:<account>:table/<t>/stream/<label>`: the stream's place.
fn stream_place(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "dynamodb", region, account, _] => Some((account, region)),
        _ => None,
    }
}

fn seq_of(r: &Value) -> &str {
    r["dynamodb"]["SequenceNumber"].as_str().unwrap_or("")
}

fn created_ms(r: &Value) -> u64 {
    r["dynamodb"]["ApproximateCreationDateTime"]
        .as_f64()
        .map_or(0, |t| (t * 1000.0).round() as u64)
}

/// The stream members of a mapping whose checkpoints are still a [`StreamCursor`] (described
/// until the poller migrates it).
pub(crate) fn describe_cursor(lambda: &Lambda, uuid: &str, o: &mut Value) {
    if let Some(LambdaRecord::StreamCursor(c)) = lambda.store.snapshot().get(&keys::cursor(uuid)) {
        o["StartingPosition"] = json!(c.starting_position);
        o["MaximumRetryAttempts"] = json!(c.max_retries);
        o["BisectBatchOnFunctionError"] = json!(false);
        o["ParallelizationFactor"] = json!(1);
        o["MaximumRecordAgeInSeconds"] = json!(-1);
        o["DestinationConfig"] = json!({"OnFailure": {}});
    }
}

impl Lambda {
    /// Turn the checkpoints of mappings made before the shared stream code ([`StreamCursor`])
    /// into stream settings and per-shard checkpoints.
    pub(crate) fn migrate_cursors(&self) {
        let snap = self.store.snapshot();
        if snap.scan_prefix(&keys::cursors()).next().is_none() {
            return;
        }
        drop(snap);
        self.store.write(|txn| {
            let cursors: Vec<_> = txn
                .scan_prefix(&keys::cursors())
                .filter_map(|(k, r)| match r {
                    LambdaRecord::StreamCursor(c) => Some((k.clone(), c.clone())),
                    _ => None,
                })
                .collect();
            for (k, c) in cursors {
                txn.remove(&k);
                if !txn.contains(&keys::mapping(&c.uuid)) {
                    continue;
                }
                if !txn.contains(&keys::stream_mapping(&c.uuid)) {
                    txn.insert(
                        keys::stream_mapping(&c.uuid),
                        LambdaRecord::StreamMapping(StreamMapping {
                            uuid: c.uuid.clone(),
                            starting_position: c.starting_position.clone(),
                            starting_timestamp_ms: None,
                            bisect_on_error: false,
                            max_retries: c.max_retries,
                            max_record_age_s: -1,
                            on_failure: None,
                            parallelization: 1,
                            created_ms: c.created_ms,
                        }),
                    );
                }
                for (shard, seq) in &c.shards {
                    txn.insert(
                        keys::checkpoint(&c.uuid, shard),
                        LambdaRecord::Checkpoint(Checkpoint {
                            uuid: c.uuid.clone(),
                            shard_id: shard.clone(),
                            sequence: seq.clone(),
                            attempts: 0,
                        }),
                    );
                }
            }
        });
    }

    /// One poll of a DynamoDB stream mapping: a batch from each shard.
    pub(super) async fn poll_dynamodb(&self, rt: &dyn Runtime, m: &Mapping) {
        let Some(sm) = self.stream_settings(&m.uuid) else {
            return;
        };
        let Some((account, region)) = stream_place(&m.source_arn) else {
            return;
        };
        let sctx = ctx_for(account, region, self.uuid());
        let Ok(desc) = rt
            .invoke(
                &sctx,
                "dynamodbstreams",
                "DescribeStream",
                json!({"StreamArn": m.source_arn}),
            )
            .await
        else {
            return;
        };
        let shards: Vec<String> = desc["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|sh| sh["ShardId"].as_str().map(String::from))
            .collect();
        for shard in shards {
            let Some(items) = self.read_ddb_shard(rt, &sctx, m, &sm, &shard).await else {
                continue;
            };
            let info = BatchInfo {
                key: "DDBStreamBatchInfo",
                shard_id: &shard,
                stream_arn: &m.source_arn,
            };
            self.process_stream_batch(rt, m, &sm, &info, items).await;
        }
    }

    /// Up to a batch of the shard's records after its checkpoint.
    async fn read_ddb_shard(
        &self,
        rt: &dyn Runtime,
        sctx: &RequestContext,
        m: &Mapping,
        sm: &StreamMapping,
        shard: &str,
    ) -> Option<Vec<StreamItem>> {
        let checkpoint = self
            .checkpoint(&m.uuid, shard)
            .map(|c| c.sequence)
            .filter(|s| !s.is_empty());
        let mut req = json!({"StreamArn": m.source_arn, "ShardId": shard});
        match &checkpoint {
            Some(seq) => {
                req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(seq);
            }
            None => req["ShardIteratorType"] = json!("TRIM_HORIZON"),
        }
        let it = match rt
            .invoke(sctx, "dynamodbstreams", "GetShardIterator", req.clone())
            .await
        {
            Ok(v) => v,
            // The checkpoint was trimmed (older than 24 hours): go on from the oldest record.
            Err(e) if e.code == "TrimmedDataAccessException" => {
                req["ShardIteratorType"] = json!("TRIM_HORIZON");
                if let Some(o) = req.as_object_mut() {
                    o.remove("SequenceNumber");
                }
                rt.invoke(sctx, "dynamodbstreams", "GetShardIterator", req)
                    .await
                    .ok()?
            }
            Err(_) => return None,
        };
        let iterator = it["ShardIterator"].as_str()?.to_string();
        let got = rt
            .invoke(
                sctx,
                "dynamodbstreams",
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": m.batch_size.clamp(1, 1000)}),
            )
            .await
            .ok()?;
        let mut records: Vec<Value> = got["Records"].as_array().cloned().unwrap_or_default();
        if checkpoint.is_none() && sm.starting_position == "LATEST" {
            let old = records
                .iter()
                .take_while(|r| created_ms(r) < sm.created_ms)
                .count();
            if old == records.len() {
                // Only records from before the mapping: move past them.
                if let Some(last) = records.last() {
                    self.set_checkpoint(
                        rt,
                        Checkpoint {
                            uuid: m.uuid.clone(),
                            shard_id: shard.to_string(),
                            sequence: seq_of(last).to_string(),
                            attempts: 0,
                        },
                    )
                    .await;
                }
                return None;
            }
            records.drain(..old);
        }
        let items: Vec<StreamItem> = records
            .into_iter()
            .map(|mut r| {
                let item = StreamItem {
                    seq: seq_of(&r).to_string(),
                    arrival_ms: created_ms(&r),
                    event: Value::Null,
                };
                r["eventSourceARN"] = json!(m.source_arn);
                StreamItem { event: r, ..item }
            })
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_and_positions() {
        let arn = "arn:aws:dynamodb:eu-west-1:111122223333:table/t/stream/2024-01-01T00:00:00.000";
        assert!(is_stream_arn(arn));
        assert_eq!(stream_place(arn), Some(("111122223333", "eu-west-1")));
        assert!(!is_stream_arn(
            "arn:aws:kinesis:eu-west-1:111122223333:stream/s"
        ));
        assert!(check_start(&json!({"StartingPosition": "AT_TIMESTAMP"})).is_err());
        assert!(check_start(&json!({"StartingPosition": "LATEST"})).is_ok());
    }
}

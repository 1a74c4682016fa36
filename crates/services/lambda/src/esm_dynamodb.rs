//! Event source mappings for DynamoDB streams: the poller reads each shard of the table's
//! stream through the `dynamodbstreams` service (`DescribeStream`, `GetShardIterator`,
//! `GetRecords`), invokes the function with Lambda's DynamoDB event, and only after it
//! succeeded moves the shard's checkpoint (the last sequence number processed) past the batch.
//! Checkpoints are a [`StreamCursor`] record per mapping, so after a restart the mapping resumes
//! right after the last record the function processed. A failed batch is retried from the same
//! record until `MaximumRetryAttempts` (default -1: until the records expire) is used up, then
//! skipped; with `ReportBatchItemFailures` the checkpoint stops before the first failed record.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_engine::store::Txn;
use snapstack_service::{RequestContext, Runtime};

use crate::model::{LambdaRecord, Mapping, StreamCursor, keys};
use crate::names::{FnRef, function_arn};
use crate::ops::{Done, s};
use crate::{LResult, Lambda, LambdaError};

/// DynamoDB streams' largest batch (and the default, 100).
const MAX_BATCH: u64 = 10_000;
const DEFAULT_BATCH: u64 = 100;

/// Whether an event source ARN is a DynamoDB stream's.
pub(crate) fn is_stream_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:dynamodb:") && arn.contains("/stream/")
}

fn ctx_for(account: &str, region: &str, request_id: String) -> RequestContext {
    RequestContext {
        access_key: account.to_string(),
        partition: Partition::new(account, region),
        scope_service: None,
        request_id,
    }
}

/// The members a stream mapping adds to its description.
pub(crate) fn describe(lambda: &Lambda, m: &Mapping, o: &mut Value) {
    if !is_stream_arn(&m.source_arn) {
        return;
    }
    if let Some(LambdaRecord::StreamCursor(c)) = lambda.store.snapshot().get(&keys::cursor(&m.uuid))
    {
        o["StartingPosition"] = json!(c.starting_position);
        o["MaximumRetryAttempts"] = json!(c.max_retries);
        o["BisectBatchOnFunctionError"] = json!(false);
        o["ParallelizationFactor"] = json!(1);
        o["MaximumRecordAgeInSeconds"] = json!(-1);
        o["TumblingWindowInSeconds"] = json!(0);
    }
}

/// Forget a mapping's checkpoints (the mapping is deleted in the same write).
pub(crate) fn forget(txn: &mut Txn<'_, LambdaRecord>, uuid: &str) {
    txn.remove(&keys::cursor(uuid));
}

impl Lambda {
    /// CreateEventSourceMapping for a DynamoDB stream.
    pub(crate) fn create_stream_mapping(
        &self,
        ctx: &RequestContext,
        input: &Value,
        r: &FnRef,
        source: &str,
    ) -> LResult<Done> {
        let start = match s(input, "StartingPosition") {
            Some(p @ ("TRIM_HORIZON" | "LATEST")) => p,
            Some("AT_TIMESTAMP") => {
                return Err(LambdaError::invalid(
                    "Unsupported starting position for DynamoDB streams: AT_TIMESTAMP",
                ));
            }
            _ => {
                return Err(LambdaError::invalid(
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null",
                ));
            }
        };
        let batch = input
            .get("BatchSize")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_BATCH);
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(LambdaError::invalid(format!(
                "BatchSize must be between 1 and {MAX_BATCH} for DynamoDB streams"
            )));
        }
        let max_retries = input
            .get("MaximumRetryAttempts")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        if !(-1..=10_000).contains(&max_retries) {
            return Err(LambdaError::invalid(
                "MaximumRetryAttempts must be between -1 and 10000",
            ));
        }
        let existing = self
            .store
            .snapshot()
            .scan_prefix(&keys::mappings())
            .find_map(|(_, m)| match m {
                LambdaRecord::Mapping(m)
                    if m.source_arn == source
                        && m.function == r.name
                        && m.account == ctx.account()
                        && m.region == ctx.region() =>
                {
                    Some(m.uuid.clone())
                }
                _ => None,
            });
        if let Some(uuid) = existing {
            return Err(LambdaError::conflict(format!(
                "The event source arn (\" {source} \") and function (\" {} \") provided mapping already exists. Please update or delete the existing mapping with UUID {uuid}",
                r.name
            )));
        }
        let tags = crate::esm::tags::check_create_tags(input)?;
        let m = Mapping {
            uuid: self.uuid(),
            account: ctx.account().into(),
            region: ctx.region().into(),
            function: r.name.clone(),
            qualifier: r.qualifier.clone(),
            source_arn: source.into(),
            batch_size: batch as u32,
            window_s: input
                .get("MaximumBatchingWindowInSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(300) as u32,
            enabled: input
                .get("Enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            report_item_failures: input
                .get("FunctionResponseTypes")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                }),
            last_modified_ms: self.now(),
            last_result: "No records processed".into(),
        };
        let cursor = StreamCursor {
            uuid: m.uuid.clone(),
            starting_position: start.to_string(),
            max_retries,
            shards: Vec::new(),
            attempts: 0,
            created_ms: m.last_modified_ms,
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::mapping(&m.uuid), LambdaRecord::Mapping(m.clone()));
            txn.insert(keys::cursor(&m.uuid), LambdaRecord::StreamCursor(cursor));
            crate::esm::tags::put_tags(txn, &m.uuid, tags);
        });
        let mut out = json!({
            "UUID": m.uuid,
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.window_s,
            "EventSourceArn": m.source_arn,
            "FunctionArn": function_arn(ctx, &m.function, m.qualifier.as_deref()),
            "LastModified": m.last_modified_ms as f64 / 1000.0,
            "LastProcessingResult": m.last_result,
            "State": "Creating",
            "StateTransitionReason": "USER_INITIATED",
            "EventSourceMappingArn": format!("arn:aws:lambda:{}:{}:event-source-mapping:{}", m.region, m.account, m.uuid),
            "FunctionResponseTypes": if m.report_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        describe(self, &m, &mut out);
        Ok(Done::wrote(out, v))
    }

    /// One poll of a stream mapping: a batch from each shard that has new records.
    pub(crate) async fn poll_stream(&self, rt: &dyn Runtime, m: &Mapping) {
        let parts: Vec<&str> = m.source_arn.splitn(6, ':').collect();
        let ["arn", _, "dynamodb", region, account, _] = parts.as_slice() else {
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
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["ShardId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for shard in shards {
            if !self.poll_shard(rt, &sctx, m, &shard).await {
                return;
            }
        }
    }

    /// A batch of one shard; false when the function could not run (try again later).
    async fn poll_shard(
        &self,
        rt: &dyn Runtime,
        sctx: &RequestContext,
        m: &Mapping,
        shard: &str,
    ) -> bool {
        let Some(LambdaRecord::StreamCursor(cursor)) =
            self.store.snapshot().get(&keys::cursor(&m.uuid)).cloned()
        else {
            return false;
        };
        let checkpoint = cursor
            .shards
            .iter()
            .find(|(s, _)| s == shard)
            .map(|(_, seq)| seq.clone());
        let mut req = json!({"StreamArn": m.source_arn, "ShardId": shard});
        match &checkpoint {
            Some(seq) => {
                req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(seq);
            }
            // LATEST is where the stream was when the mapping was created: read from the
            // oldest record and skip those older than the mapping (below).
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
                match rt
                    .invoke(sctx, "dynamodbstreams", "GetShardIterator", req)
                    .await
                {
                    Ok(v) => v,
                    Err(_) => return true,
                }
            }
            Err(_) => return true,
        };
        let Some(iterator) = it["ShardIterator"].as_str() else {
            return true;
        };
        let Ok(got) = rt
            .invoke(
                sctx,
                "dynamodbstreams",
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": m.batch_size.clamp(1, 1000)}),
            )
            .await
        else {
            return true;
        };
        let records: Vec<Value> = got["Records"].as_array().cloned().unwrap_or_default();
        if records.is_empty() {
            return true;
        }
        if checkpoint.is_none() && cursor.starting_position == "LATEST" {
            let old = records
                .iter()
                .take_while(|r| {
                    r["dynamodb"]["ApproximateCreationDateTime"]
                        .as_f64()
                        .is_some_and(|t| ((t * 1000.0).round() as u64) < cursor.created_ms)
                })
                .last()
                .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str());
            if let Some(seq) = old {
                let (uuid, shard, seq) = (m.uuid.clone(), shard.to_string(), seq.to_string());
                self.store.write(|txn| {
                    if let Some(LambdaRecord::StreamCursor(mut c)) =
                        txn.get(&keys::cursor(&uuid)).cloned()
                    {
                        c.shards.retain(|(s, _)| *s != shard);
                        c.shards.push((shard, seq));
                        txn.insert(keys::cursor(&uuid), LambdaRecord::StreamCursor(c));
                    }
                });
                return true;
            }
        }
        let ctx = ctx_for(&m.account, &m.region, self.uuid());
        let r = FnRef {
            name: m.function.clone(),
            qualifier: m.qualifier.clone(),
        };
        let Ok((config, reserved)) = self.target(&ctx, &r) else {
            return false;
        };
        let Ok(slot) = self.slot(&ctx, &m.function, reserved) else {
            return false;
        };
        let event_records: Vec<Value> = records
            .iter()
            .map(|rec| {
                let mut rec = rec.clone();
                rec["eventSourceARN"] = json!(m.source_arn);
                rec
            })
            .collect();
        let event = json!({ "Records": event_records });
        let arn = function_arn(&ctx, &m.function, m.qualifier.as_deref());
        let out = self
            .run(
                &ctx,
                &m.function,
                &config,
                &arn,
                &ctx.request_id.clone(),
                event.to_string().into_bytes(),
            )
            .await;
        drop(slot);
        let seq_of = |r: &Value| r["dynamodb"]["SequenceNumber"].as_str().map(String::from);
        // How far the batch is done: all of it, none of it (a function error), or up to the
        // first failed record it reported.
        let done_upto: Option<Option<String>> = if out.function_error.is_some() {
            None
        } else if m.report_item_failures {
            let failed: Vec<String> = serde_json::from_slice::<Value>(&out.payload)
                .ok()
                .and_then(|v| {
                    v.get("batchItemFailures")
                        .and_then(Value::as_array)
                        .cloned()
                })
                .unwrap_or_default()
                .iter()
                .filter_map(|f| s(f, "itemIdentifier").map(String::from))
                .collect();
            match records
                .iter()
                .position(|r| seq_of(r).is_some_and(|q| failed.contains(&q)))
            {
                None => Some(records.last().and_then(seq_of)),
                Some(0) => None,
                Some(i) => Some(seq_of(&records[i - 1])),
            }
        } else {
            Some(records.last().and_then(seq_of))
        };
        let last = records.last().and_then(seq_of);
        let uuid = m.uuid.clone();
        let shard = shard.to_string();
        let result = if done_upto.as_ref().is_some_and(|d| *d == last) {
            "OK"
        } else {
            "PROBLEM: Function call failed"
        };
        let (_, v) = self.store.write(|txn| {
            let Some(LambdaRecord::StreamCursor(mut c)) = txn.get(&keys::cursor(&uuid)).cloned()
            else {
                return;
            };
            let advance_to = match &done_upto {
                Some(Some(seq)) if Some(seq) == last.as_ref() => {
                    c.attempts = 0;
                    Some(seq.clone())
                }
                Some(Some(seq)) => {
                    c.attempts += 1;
                    Some(seq.clone())
                }
                _ => {
                    c.attempts += 1;
                    // Retries used up: the batch is skipped.
                    if c.max_retries >= 0 && i64::from(c.attempts) > c.max_retries {
                        c.attempts = 0;
                        last.clone()
                    } else {
                        None
                    }
                }
            };
            if let Some(seq) = advance_to {
                match c.shards.iter_mut().find(|(s, _)| *s == shard) {
                    Some(e) => e.1 = seq,
                    None => c.shards.push((shard.clone(), seq)),
                }
            }
            txn.insert(keys::cursor(&uuid), LambdaRecord::StreamCursor(c));
            if let Some(LambdaRecord::Mapping(cur)) = txn.get(&keys::mapping(&uuid)).cloned()
                && cur.last_result != result
            {
                let mut cur = cur;
                cur.last_result = result.to_string();
                txn.insert(keys::mapping(&uuid), LambdaRecord::Mapping(cur));
            }
        });
        // The checkpoint is on disk before the next batch: a crash repeats at most this batch.
        if let Err(e) = rt.wait_durable(crate::NAME, v).await {
            tracing::warn!(mapping = %m.uuid, error = %e, "a stream mapping's checkpoint could not be made durable");
        }
        true
    }
}

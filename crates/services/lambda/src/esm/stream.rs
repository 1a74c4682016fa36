//! What stream sources (Kinesis, DynamoDB Streams: [`super::kinesis`], [`super::dynamodb`]) share: their settings
//! ([`StreamMapping`]: starting position, bisect on error, retry attempts, maximum record age,
//! on-failure destination), and the processing of one shard's batch: invoke the function,
//! bisect a failed batch when asked, retry, give up to the on-failure destination, and keep the
//! position per shard as a [`Checkpoint`] record, written after each success, so a restart
//! resumes right after the last record handled.

use serde_json::{Value, json};
use snapstack_service::{RequestContext, Runtime};

use super::ctx_for;
use crate::model::{Checkpoint, LambdaRecord, Mapping, StreamMapping, keys};
use crate::names::{FnRef, function_arn};
use crate::ops::s;
use crate::{LResult, Lambda, LambdaError, NAME};

/// One record read from a shard, already in the shape of the function's event.
pub(crate) struct StreamItem {
    pub seq: String,
    pub arrival_ms: u64,
    pub event: Value,
}

/// What a source calls its batch description in an on-failure record (`KinesisBatchInfo`,
/// `DDBStreamBatchInfo`).
pub(crate) struct BatchInfo<'a> {
    pub key: &'a str,
    pub shard_id: &'a str,
    pub stream_arn: &'a str,
}

/// The stream settings of a CreateEventSourceMapping input, checked as Lambda checks them.
pub(crate) fn settings(input: &Value, uuid: &str, now_ms: u64) -> LResult<StreamMapping> {
    let Some(start) = s(input, "StartingPosition") else {
        return Err(LambdaError::invalid(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null",
        ));
    };
    let ts = match start {
        "AT_TIMESTAMP" => Some(
            input
                .get("StartingPositionTimestamp")
                .and_then(Value::as_f64)
                .map(|t| (t * 1000.0).max(0.0) as u64)
                .ok_or_else(|| {
                    LambdaError::invalid(
                        "StartingPositionTimestamp must be specified when StartingPosition is AT_TIMESTAMP",
                    )
                })?,
        ),
        "TRIM_HORIZON" | "LATEST" => None,
        other => {
            return Err(LambdaError::invalid(format!(
                "Unsupported starting position {other} for this event source"
            )));
        }
    };
    let mut m = StreamMapping {
        uuid: uuid.to_string(),
        starting_position: start.to_string(),
        starting_timestamp_ms: ts,
        bisect_on_error: false,
        max_retries: -1,
        max_record_age_s: -1,
        on_failure: None,
        parallelization: 1,
        created_ms: now_ms,
    };
    update(&mut m, input)?;
    Ok(m)
}

/// Apply the members of an Update (or Create) input to stream settings.
pub(crate) fn update(m: &mut StreamMapping, input: &Value) -> LResult<()> {
    if let Some(b) = input
        .get("BisectBatchOnFunctionError")
        .and_then(Value::as_bool)
    {
        m.bisect_on_error = b;
    }
    if let Some(n) = input.get("MaximumRetryAttempts").and_then(Value::as_i64) {
        if !(-1..=10_000).contains(&n) {
            return Err(LambdaError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 10000"
            )));
        }
        m.max_retries = n;
    }
    if let Some(n) = input
        .get("MaximumRecordAgeInSeconds")
        .and_then(Value::as_i64)
    {
        if n != -1 && !(60..=604_800).contains(&n) {
            return Err(LambdaError::invalid(format!(
                "1 validation error detected: Value '{n}' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to -1"
            )));
        }
        m.max_record_age_s = n;
    }
    if let Some(n) = input.get("ParallelizationFactor").and_then(Value::as_u64) {
        m.parallelization = n.clamp(1, 10) as u32;
    }
    if let Some(d) = input.get("DestinationConfig") {
        let arn = d
            .get("OnFailure")
            .and_then(|o| o.get("Destination"))
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        if let Some(a) = arn
            && !(a.starts_with("arn:aws:sqs:") || a.starts_with("arn:aws:sns:"))
        {
            return Err(LambdaError::invalid(format!(
                "Unsupported destination {a}: the on-failure destination of a stream event source must be an SQS queue or an SNS topic"
            )));
        }
        m.on_failure = arn.map(String::from);
    }
    Ok(())
}

/// The members a stream mapping adds to its description.
pub(crate) fn describe(out: &mut Value, m: &StreamMapping) {
    out["StartingPosition"] = json!(m.starting_position);
    if let Some(ts) = m.starting_timestamp_ms {
        out["StartingPositionTimestamp"] = json!(ts as f64 / 1000.0);
    }
    out["BisectBatchOnFunctionError"] = json!(m.bisect_on_error);
    out["MaximumRetryAttempts"] = json!(m.max_retries);
    out["MaximumRecordAgeInSeconds"] = json!(m.max_record_age_s);
    out["ParallelizationFactor"] = json!(m.parallelization);
    out["DestinationConfig"] = match &m.on_failure {
        Some(a) => json!({"OnFailure": {"Destination": a}}),
        None => json!({"OnFailure": {}}),
    };
}

/// How a batch ended.
enum Ran {
    /// Every record processed; the checkpoint is past the last.
    Done,
    /// These records failed (after bisection, the smallest failing part); the checkpoint is
    /// right before them.
    Failed(usize, usize),
}

impl Lambda {
    pub(crate) fn stream_settings(&self, uuid: &str) -> Option<StreamMapping> {
        match self.store.snapshot().get(&keys::stream_mapping(uuid)) {
            Some(LambdaRecord::StreamMapping(m)) => Some(m.clone()),
            _ => None,
        }
    }

    /// The checkpoint of a shard, if the mapping has handled any of its records.
    pub(crate) fn checkpoint(&self, uuid: &str, shard: &str) -> Option<Checkpoint> {
        match self.store.snapshot().get(&keys::checkpoint(uuid, shard)) {
            Some(LambdaRecord::Checkpoint(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// Write a shard's checkpoint (only while the mapping exists), durably.
    pub(super) async fn set_checkpoint(&self, rt: &dyn Runtime, c: Checkpoint) {
        let (_, v) = self.store.write(|txn| {
            if txn.contains(&keys::mapping(&c.uuid)) {
                txn.insert(
                    keys::checkpoint(&c.uuid, &c.shard_id),
                    LambdaRecord::Checkpoint(c.clone()),
                );
            }
        });
        let _ = rt.wait_durable(NAME, v).await;
    }

    /// Process one batch read from a shard after its checkpoint.
    pub(crate) async fn process_stream_batch(
        &self,
        rt: &dyn Runtime,
        m: &Mapping,
        sm: &StreamMapping,
        info: &BatchInfo<'_>,
        items: Vec<StreamItem>,
    ) {
        if items.is_empty() {
            return;
        }
        let ctx = ctx_for(&m.account, &m.region, self.uuid());
        let r = FnRef {
            name: m.function.clone(),
            qualifier: m.qualifier.clone(),
        };
        let prior = self
            .checkpoint(&m.uuid, info.shard_id)
            .map_or(0, |c| c.attempts);
        let ran = self
            .run_part(rt, &ctx, m, &r, info, &items, 0, items.len())
            .await;
        let (from, to) = match ran {
            Some(Ran::Done) => {
                self.mapping_result(m, "OK");
                return;
            }
            Some(Ran::Failed(a, b)) => (a, b),
            // Throttled or gone: try again at the next poll.
            None => return,
        };
        self.mapping_result(m, "PROBLEM: Function call failed");
        let attempts = if from == 0 { prior + 1 } else { 1 };
        let now = self.now();
        let too_old = sm.max_record_age_s >= 0
            && items[from].arrival_ms + (sm.max_record_age_s as u64) * 1000 < now;
        let exhausted = sm.max_retries >= 0 && i64::from(attempts) > sm.max_retries;
        let before = if from == 0 {
            self.checkpoint(&m.uuid, info.shard_id)
                .map(|c| c.sequence)
                .unwrap_or_default()
        } else {
            items[from - 1].seq.clone()
        };
        if !(exhausted || too_old) {
            self.set_checkpoint(
                rt,
                Checkpoint {
                    uuid: m.uuid.clone(),
                    shard_id: info.shard_id.to_string(),
                    sequence: before,
                    attempts,
                },
            )
            .await;
            return;
        }
        // Give the failed records up: to the on-failure destination, then past them.
        if let Some(dest) = &sm.on_failure {
            let part = &items[from..to];
            let record = json!({
                "requestContext": {
                    "requestId": ctx.request_id,
                    "functionArn": function_arn(&ctx, &m.function, m.qualifier.as_deref()),
                    "condition": if too_old { "RecordAgeExceeded" } else { "RetryAttemptsExhausted" },
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": m.qualifier.clone().unwrap_or_else(|| "$LATEST".into()),
                    "functionError": "Unhandled",
                },
                "version": "1.0",
                "timestamp": crate::output::last_modified(now),
                info.key: {
                    "shardId": info.shard_id,
                    "startSequenceNumber": part[0].seq,
                    "endSequenceNumber": part[part.len() - 1].seq,
                    "approximateArrivalOfFirstRecord": crate::output::last_modified(part[0].arrival_ms),
                    "approximateArrivalOfLastRecord": crate::output::last_modified(part[part.len() - 1].arrival_ms),
                    "batchSize": part.len(),
                    "streamArn": info.stream_arn,
                },
            });
            self.send_to(rt, &ctx, dest, record.to_string()).await;
        }
        self.set_checkpoint(
            rt,
            Checkpoint {
                uuid: m.uuid.clone(),
                shard_id: info.shard_id.to_string(),
                sequence: items[to - 1].seq.clone(),
                attempts: 0,
            },
        )
        .await;
    }

    /// Invoke the function with `items[from..to]`; on failure with bisection, the halves in
    /// order (each success moves the checkpoint). `None`: the function could not run now.
    #[allow(clippy::too_many_arguments)]
    async fn run_part(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        m: &Mapping,
        r: &FnRef,
        info: &BatchInfo<'_>,
        items: &[StreamItem],
        from: usize,
        to: usize,
    ) -> Option<Ran> {
        let sm = self.stream_settings(&m.uuid)?;
        // Bisection is bounded: each level halves the part, so depth ≤ log2(batch size).
        let mut stack: Vec<(usize, usize)> = vec![(from, to)];
        while let Some((a, b)) = stack.pop() {
            let (config, reserved) = self.target(ctx, r).ok()?;
            let slot = self.slot(ctx, &m.function, reserved).ok()?;
            let records: Vec<Value> = items[a..b].iter().map(|i| i.event.clone()).collect();
            let event = json!({ "Records": records });
            let arn = function_arn(ctx, &m.function, m.qualifier.as_deref());
            let request_id = self.uuid();
            let out = self
                .run(
                    ctx,
                    &m.function,
                    &config,
                    &arn,
                    &request_id,
                    event.to_string().into_bytes(),
                )
                .await;
            drop(slot);
            let failed_at = if out.function_error.is_some() {
                Some(a)
            } else if m.report_item_failures {
                first_reported_failure(&out.payload, &items[a..b]).map(|i| a + i)
            } else {
                None
            };
            match failed_at {
                None => {
                    self.set_checkpoint(
                        rt,
                        Checkpoint {
                            uuid: m.uuid.clone(),
                            shard_id: info.shard_id.to_string(),
                            sequence: items[b - 1].seq.clone(),
                            attempts: 0,
                        },
                    )
                    .await;
                }
                Some(f) if f > a => {
                    // The function handled the records before the one it reported.
                    self.set_checkpoint(
                        rt,
                        Checkpoint {
                            uuid: m.uuid.clone(),
                            shard_id: info.shard_id.to_string(),
                            sequence: items[f - 1].seq.clone(),
                            attempts: 0,
                        },
                    )
                    .await;
                    return Some(Ran::Failed(f, b));
                }
                Some(_) if sm.bisect_on_error && b - a > 1 => {
                    let mid = a + (b - a) / 2;
                    stack.push((mid, b));
                    stack.push((a, mid));
                }
                Some(_) => return Some(Ran::Failed(a, b)),
            }
        }
        Some(Ran::Done)
    }

    fn mapping_result(&self, m: &Mapping, result: &str) {
        let uuid = m.uuid.clone();
        self.store.write(|txn| {
            if let Some(LambdaRecord::Mapping(cur)) = txn.get(&keys::mapping(&uuid)).cloned()
                && cur.last_result != result
            {
                let mut cur = cur;
                cur.last_result = result.to_string();
                txn.insert(keys::mapping(&uuid), LambdaRecord::Mapping(cur));
            }
        });
    }
}

/// With `ReportBatchItemFailures`: the index of the first record the function reported
/// (`batchItemFailures[].itemIdentifier` is a sequence number). A response naming a record not
/// in the batch fails the whole batch, as Lambda does.
fn first_reported_failure(payload: &[u8], items: &[StreamItem]) -> Option<usize> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let failures = v.get("batchItemFailures")?.as_array()?;
    let mut first: Option<usize> = None;
    for f in failures {
        let id = f
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .unwrap_or("");
        let i = items.iter().position(|it| it.seq == id).unwrap_or(0);
        first = Some(first.map_or(i, |x| x.min(i)));
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let m = settings(
            &json!({"StartingPosition": "TRIM_HORIZON", "MaximumRetryAttempts": 2,
                    "BisectBatchOnFunctionError": true,
                    "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}),
            "u",
            5,
        )
        .unwrap();
        assert!(m.bisect_on_error && m.max_retries == 2 && m.on_failure.is_some());
        assert!(settings(&json!({}), "u", 0).is_err());
        assert!(settings(&json!({"StartingPosition": "AT_TIMESTAMP"}), "u", 0).is_err());
        let t = settings(
            &json!({"StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 12.5}),
            "u",
            0,
        )
        .unwrap();
        assert_eq!(t.starting_timestamp_ms, Some(12_500));
        assert!(
            settings(
                &json!({"StartingPosition": "LATEST", "MaximumRetryAttempts": 10001}),
                "u",
                0
            )
            .is_err()
        );
        assert!(
            settings(
                &json!({"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 5}),
                "u",
                0
            )
            .is_err()
        );
    }

    #[test]
    fn reported_failures_pick_the_first() {
        let items: Vec<StreamItem> = (0..3)
            .map(|i| StreamItem {
                seq: format!("s{i}"),
                arrival_ms: 0,
                event: Value::Null,
            })
            .collect();
        let p = br#"{"batchItemFailures": [{"itemIdentifier": "s2"}, {"itemIdentifier": "s1"}]}"#;
        assert_eq!(first_reported_failure(p, &items), Some(1));
        assert_eq!(
            first_reported_failure(br#"{"batchItemFailures": []}"#, &items),
            None
        );
        assert_eq!(first_reported_failure(b"null", &items), None);
    }
}

//! Data transformation with Lambda (`ProcessingConfiguration` with a `Lambda` processor): before
//! a batch goes to S3, its records are sent to the function in Firehose's transformation event
//! (`invocationId`, `deliveryStreamArn`, `region`, `records` with `recordId`,
//! `approximateArrivalTimestamp` and base64 `data`), through Lambda's `Invoke`. Each record the
//! function returns `Ok` goes to the destination with its new data, `Dropped` goes nowhere, and
//! `ProcessingFailed` (or a record the answer leaves out, or every record of an invocation that
//! failed after its retries) goes to the bucket's error prefix (`processing-failed`) as the JSON
//! lines Firehose writes. Everything is a function of the batch, and the objects' keys of the
//! batch's seed, so a flush repeated after a crash writes the same objects again.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use super::{Batch, S3Target, gzip};
use crate::Firehose;
use crate::model::StreamRec;
use crate::prefix::{self, Values};

/// A Lambda processor's parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LambdaProcessor {
    pub arn: String,
    /// `NumberOfRetries` (default 3).
    pub retries: u32,
    /// `BufferSizeInMBs`: records per invocation, in bytes (default 1 MiB).
    pub buffer_bytes: u64,
}

/// The Lambda processor of a destination's `ProcessingConfiguration`, when enabled.
pub fn lambda_processor(c: &Value) -> Option<LambdaProcessor> {
    let pc = c.get("ProcessingConfiguration")?;
    if !pc.get("Enabled").and_then(Value::as_bool).unwrap_or(false) {
        return None;
    }
    let p = pc
        .get("Processors")?
        .as_array()?
        .iter()
        .find(|p| p.get("Type").and_then(Value::as_str) == Some("Lambda"))?;
    let params = p.get("Parameters").and_then(Value::as_array);
    let param = |name: &str| {
        params.into_iter().flatten().find_map(|x| {
            (x.get("ParameterName")?.as_str()? == name)
                .then(|| x.get("ParameterValue")?.as_str().map(str::to_string))
                .flatten()
        })
    };
    let arn = param("LambdaArn")?;
    let retries = param("NumberOfRetries")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3u32)
        .min(300);
    let mb = param("BufferSizeInMBs")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|m| *m > 0.0)
        .unwrap_or(1.0)
        .min(3.0);
    Some(LambdaProcessor {
        arn,
        retries,
        buffer_bytes: (mb * 1024.0 * 1024.0) as u64,
    })
}

/// A record that failed processing: (index in the batch, error code, message).
type Failed = (usize, &'static str, String);

impl Firehose {
    /// Run `batch` through the processor and deliver the result to `main`: the records the
    /// function kept to its prefix, the failed ones to its error prefix.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn process_and_put(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        p: &Partition,
        st: &StreamRec,
        main: &S3Target,
        l: &LambdaProcessor,
        batch: &Batch,
        seed: &str,
    ) -> Result<(), String> {
        let mut kept: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut failed: Vec<Failed> = Vec::new();
        let mut attempts_made = 1;
        // Invocations of at most `buffer_bytes` of records each.
        let mut start = 0;
        while start < batch.records.len() {
            let mut end = start;
            let mut bytes = 0u64;
            while end < batch.records.len()
                && (end == start || bytes + batch.records[end].1.len() as u64 <= l.buffer_bytes)
            {
                bytes += batch.records[end].1.len() as u64;
                end += 1;
            }
            let ids: Vec<String> = (start..end).map(|i| record_id(seed, i)).collect();
            let records: Vec<Value> = (start..end)
                .map(|i| {
                    let (rec, data) = &batch.records[i];
                    json!({
                        "recordId": ids[i - start],
                        "approximateArrivalTimestamp": rec.arrival_ms,
                        "data": STANDARD.encode(data),
                    })
                })
                .collect();
            let event = json!({
                "invocationId": prefix::uuid_from(format!("{seed}/invoke/{start}").as_bytes()),
                "deliveryStreamArn": st.arn(p),
                "region": p.region,
                "records": records,
            });
            let mut answer = Err(String::new());
            for attempt in 0..=l.retries {
                attempts_made = attempts_made.max(attempt + 1);
                answer = self.invoke_processor(rt, ctx, &l.arn, &event).await;
                if answer.is_ok() {
                    break;
                }
            }
            match answer {
                Ok(out) => {
                    let by_id: BTreeMap<&str, &Value> = out
                        .iter()
                        .filter_map(|r| Some((r.get("recordId")?.as_str()?, r)))
                        .collect();
                    for (k, id) in ids.iter().enumerate() {
                        let i = start + k;
                        let Some(r) = by_id.get(id.as_str()) else {
                            failed.push((
                                i,
                                "Lambda.MissingRecordId",
                                format!("recordId {id} is missing from the Lambda response"),
                            ));
                            continue;
                        };
                        match r.get("result").and_then(Value::as_str) {
                            Some("Ok") => {
                                match r
                                    .get("data")
                                    .and_then(Value::as_str)
                                    .map(|d| STANDARD.decode(d))
                                {
                                    Some(Ok(d)) => kept.push((i, d)),
                                    _ => failed.push((
                                        i,
                                        "Lambda.InvalidData",
                                        "The data of an Ok record is not valid base64".into(),
                                    )),
                                }
                            }
                            Some("Dropped") => {}
                            Some("ProcessingFailed") => failed.push((
                                i,
                                "Lambda.ProcessingFailedStatus",
                                "ProcessingFailed status set for record".into(),
                            )),
                            other => failed.push((
                                i,
                                "Lambda.InvalidResult",
                                format!(
                                    "Invalid result {} for record {id}",
                                    other.unwrap_or("null")
                                ),
                            )),
                        }
                    }
                }
                Err(e) => {
                    for i in start..end {
                        failed.push((i, "Lambda.FunctionError", e.clone()));
                    }
                }
            }
            start = end;
        }
        if !kept.is_empty() {
            let out = Batch {
                first_seq: batch.first_seq,
                oldest_ms: batch.oldest_ms,
                keys: Vec::new(),
                bytes: kept.iter().map(|(_, d)| d.len() as u64).sum(),
                records: kept
                    .into_iter()
                    .map(|(i, d)| (batch.records[i].0.clone(), d))
                    .collect(),
            };
            self.put_objects(rt, ctx, st, main, &out, seed).await?;
        }
        if !failed.is_empty() {
            self.put_processing_failed(rt, ctx, st, main, l, batch, &failed, seed, attempts_made)
                .await?;
        }
        Ok(())
    }

    /// One invocation: the records of the function's answer, or why it failed.
    async fn invoke_processor(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        arn: &str,
        event: &Value,
    ) -> Result<Vec<Value>, String> {
        let out = rt
            .invoke(
                ctx,
                "lambda",
                "Invoke",
                json!({"FunctionName": arn, "Payload": STANDARD.encode(event.to_string())}),
            )
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        let payload = out
            .get("Payload")
            .and_then(Value::as_str)
            .and_then(|p| STANDARD.decode(p).ok())
            .unwrap_or_default();
        if let Some(fe) = out.get("FunctionError").and_then(Value::as_str) {
            return Err(format!(
                "The Lambda function failed ({fe}): {}",
                String::from_utf8_lossy(&payload)
            ));
        }
        let v: Value = serde_json::from_slice(&payload)
            .map_err(|_| "The Lambda function's response is not valid JSON".to_string())?;
        v.get("records")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| "The Lambda function's response has no records".to_string())
    }

    /// The failed records as Firehose's JSON lines, one object under the error prefix.
    #[allow(clippy::too_many_arguments)]
    async fn put_processing_failed(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        st: &StreamRec,
        main: &S3Target,
        l: &LambdaProcessor,
        batch: &Batch,
        failed: &[Failed],
        seed: &str,
        attempts: u32,
    ) -> Result<(), String> {
        let now = self.now_ms();
        let mut body = Vec::new();
        for (i, code, message) in failed {
            let (rec, data) = &batch.records[*i];
            let line = json!({
                "attemptsMade": attempts,
                "arrivalTimestamp": rec.arrival_ms,
                "errorCode": code,
                "errorMessage": message,
                "attemptEndingTimestamp": now,
                "rawData": STANDARD.encode(data),
                "lambdaArn": l.arn,
            });
            body.extend_from_slice(line.to_string().as_bytes());
            body.push(b'\n');
        }
        let random = prefix::random_string(format!("{seed}/failed").as_bytes(), 11);
        let keys = BTreeMap::new();
        let v = Values {
            ts_ms: batch.oldest_ms,
            random: &random,
            error_type: Some("processing-failed"),
            keys: &keys,
        };
        let key = format!(
            "{}{}",
            prefix::error_prefix(&main.error_prefix, &main.prefix, &v),
            prefix::object_name(
                &st.name,
                st.version,
                batch.oldest_ms,
                &prefix::uuid_from(format!("{seed}/failed").as_bytes()),
                if main.gzip { ".gz" } else { "" }
            )
        );
        let body = if main.gzip { gzip(&body) } else { body };
        self.put_object(rt, ctx, &main.bucket, &key, &body).await
    }
}

/// A record's id in a transformation event: stable for the batch.
fn record_id(seed: &str, i: usize) -> String {
    let digest = prefix::uuid_from(format!("{seed}/record/{i}").as_bytes()).replace('-', "");
    format!("{digest}{i:08}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_processor_and_its_parameters() {
        let c = json!({"ProcessingConfiguration": {"Enabled": true, "Processors": [
            {"Type": "AppendDelimiterToRecord"},
            {"Type": "Lambda", "Parameters": [
                {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:us-east-1:000000000000:function:f"},
                {"ParameterName": "NumberOfRetries", "ParameterValue": "1"},
                {"ParameterName": "BufferSizeInMBs", "ParameterValue": "0.5"}]}]}});
        let l = lambda_processor(&c).unwrap();
        assert_eq!(l.arn, "arn:aws:lambda:us-east-1:000000000000:function:f");
        assert_eq!(l.retries, 1);
        assert_eq!(l.buffer_bytes, 512 * 1024);
        let mut off = c.clone();
        off["ProcessingConfiguration"]["Enabled"] = json!(false);
        assert_eq!(lambda_processor(&off), None);
        assert_eq!(lambda_processor(&json!({})), None);
    }

    #[test]
    fn record_ids_are_stable_and_distinct() {
        assert_eq!(record_id("s/1", 0), record_id("s/1", 0));
        assert_ne!(record_id("s/1", 0), record_id("s/1", 1));
        assert_ne!(record_id("s/1", 0), record_id("s/2", 0));
    }
}

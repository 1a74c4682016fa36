//! The SQS source: receive a batch through the SQS service, invoke the function with Lambda's
//! SQS event, and delete the messages only after the function succeeded (with
//! `ReportBatchItemFailures`, all but the failed ones). A failed batch is left to become
//! visible again, so SQS's own redrive policy moves it to its DLQ.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value, json};
use snapstack_service::Runtime;

use super::ctx_for;
use crate::Lambda;
use crate::model::{LambdaRecord, Mapping, keys};
use crate::names::function_arn;
use crate::ops::s;

impl Lambda {
    pub(super) async fn poll_sqs(&self, rt: &dyn Runtime, m: &Mapping) {
        let parts: Vec<&str> = m.source_arn.split(':').collect();
        let ["arn", _, "sqs", region, account, queue] = parts.as_slice() else {
            return;
        };
        let ctx = ctx_for(&m.account, &m.region, self.uuid());
        let r = crate::names::FnRef {
            name: m.function.clone(),
            qualifier: m.qualifier.clone(),
        };
        let Ok((config, reserved)) = self.target(&ctx, &r) else {
            return;
        };
        // The function must be able to run before messages are taken from the queue.
        let Ok(slot) = self.slot(&ctx, &m.function, reserved) else {
            return;
        };
        let qctx = ctx_for(account, region, self.uuid());
        let Ok(u) = rt
            .invoke(&qctx, "sqs", "GetQueueUrl", json!({ "QueueName": queue }))
            .await
        else {
            return;
        };
        let url = u.get("QueueUrl").cloned().unwrap_or_default();
        let mut messages: Vec<Value> = Vec::new();
        // Gather up to the batch size, waiting at most the batching window for more.
        let until = tokio::time::Instant::now() + Duration::from_secs(u64::from(m.window_s));
        loop {
            let want = (m.batch_size as usize)
                .saturating_sub(messages.len())
                .min(10);
            if want == 0 {
                break;
            }
            let got = rt
                .invoke(
                    &qctx,
                    "sqs",
                    "ReceiveMessage",
                    json!({
                        "QueueUrl": url,
                        "MaxNumberOfMessages": want,
                        "AttributeNames": ["All"],
                        "MessageAttributeNames": ["All"],
                    }),
                )
                .await
                .ok()
                .and_then(|v| v.get("Messages").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            let empty = got.is_empty();
            messages.extend(got);
            if messages.is_empty() || tokio::time::Instant::now() >= until {
                break;
            }
            if empty {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if messages.is_empty() {
            return;
        }
        let records: Vec<Value> = messages.iter().map(|msg| sqs_record(msg, m)).collect();
        let event = json!({ "Records": records });
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
        let failed: HashSet<String> = if out.function_error.is_some() {
            messages
                .iter()
                .filter_map(|m| s(m, "MessageId").map(String::from))
                .collect()
        } else if m.report_item_failures {
            serde_json::from_slice::<Value>(&out.payload)
                .ok()
                .and_then(|v| {
                    v.get("batchItemFailures")
                        .and_then(Value::as_array)
                        .cloned()
                })
                .unwrap_or_default()
                .iter()
                .filter_map(|f| s(f, "itemIdentifier").map(String::from))
                .collect()
        } else {
            HashSet::new()
        };
        let done: Vec<Value> = messages
            .iter()
            .filter(|msg| s(msg, "MessageId").is_some_and(|id| !failed.contains(id)))
            .enumerate()
            .map(|(i, msg)| json!({"Id": i.to_string(), "ReceiptHandle": msg["ReceiptHandle"]}))
            .collect();
        for chunk in done.chunks(10) {
            let _ = rt
                .invoke(
                    &qctx,
                    "sqs",
                    "DeleteMessageBatch",
                    json!({"QueueUrl": url, "Entries": chunk}),
                )
                .await;
        }
        let result = if failed.is_empty() {
            "OK"
        } else {
            "PROBLEM: Function call failed"
        };
        let uuid = m.uuid.clone();
        let result = result.to_string();
        self.store.write(|txn| {
            if let Some(LambdaRecord::Mapping(cur)) = txn.get(&keys::mapping(&uuid)).cloned()
                && cur.last_result != result
            {
                let mut cur = cur;
                cur.last_result = result.clone();
                txn.insert(keys::mapping(&uuid), LambdaRecord::Mapping(cur));
            }
        });
    }
}

/// One SQS message as a record of Lambda's SQS event.
fn sqs_record(msg: &Value, m: &Mapping) -> Value {
    let mut attrs = Map::new();
    if let Some(a) = msg.get("MessageAttributes").and_then(Value::as_object) {
        for (k, v) in a {
            let mut o = Map::new();
            o.insert(
                "stringValue".into(),
                v.get("StringValue").cloned().unwrap_or(Value::Null),
            );
            o.insert(
                "binaryValue".into(),
                v.get("BinaryValue")
                    .and_then(Value::as_str)
                    .map(|b| json!(b))
                    .unwrap_or(Value::Null),
            );
            o.insert("stringListValues".into(), json!([]));
            o.insert("binaryListValues".into(), json!([]));
            o.insert(
                "dataType".into(),
                v.get("DataType").cloned().unwrap_or(json!("String")),
            );
            attrs.insert(k.clone(), Value::Object(o));
        }
    }
    json!({
        "messageId": msg.get("MessageId"),
        "receiptHandle": msg.get("ReceiptHandle"),
        "body": msg.get("Body"),
        "attributes": msg.get("Attributes").cloned().unwrap_or(json!({})),
        "messageAttributes": attrs,
        "md5OfBody": msg.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": m.source_arn,
        "awsRegion": m.region,
    })
}

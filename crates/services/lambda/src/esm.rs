//! Event source mappings for SQS: Create/Get/List/Update/DeleteEventSourceMapping, and the
//! poller (a task started by `Service::start`) that receives a batch through the SQS service,
//! invokes the function with Lambda's SQS event, and deletes the messages only after the
//! function succeeded (with `ReportBatchItemFailures`, all but the failed ones). A failed batch
//! is left to become visible again, so SQS's own redrive policy moves it to its DLQ.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::model::{LambdaRecord, Mapping, keys};
use crate::names::{function_arn, parse};
use crate::ops::{Done, s};
use crate::{LResult, Lambda, LambdaError, NAME};

const POLL: Duration = Duration::from_millis(500);

fn ctx_for(account: &str, region: &str, request_id: String) -> RequestContext {
    RequestContext {
        access_key: account.to_string(),
        partition: Partition::new(account, region),
        scope_service: None,
        request_id,
    }
}

impl Lambda {
    fn mapping_out(&self, m: &Mapping) -> Value {
        let ctx = ctx_for(&m.account, &m.region, String::new());
        let mut o = json!({
            "UUID": m.uuid,
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.window_s,
            "EventSourceArn": m.source_arn,
            "FunctionArn": function_arn(&ctx, &m.function, m.qualifier.as_deref()),
            "LastModified": m.last_modified_ms as f64 / 1000.0,
            "LastProcessingResult": m.last_result,
            "State": if m.enabled { "Enabled" } else { "Disabled" },
            "StateTransitionReason": "USER_INITIATED",
            "EventSourceMappingArn": format!("arn:aws:lambda:{}:{}:event-source-mapping:{}", m.region, m.account, m.uuid),
            "FunctionResponseTypes": if m.report_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        if let Some(o) = o.as_object_mut() {
            o.retain(|_, v| !v.is_null());
        }
        crate::esm_dynamodb::describe(self, m, &mut o);
        o
    }

    fn get_mapping(&self, ctx: &RequestContext, uuid: &str) -> LResult<Mapping> {
        match self.store.snapshot().get(&keys::mapping(uuid)) {
            Some(LambdaRecord::Mapping(m))
                if m.account == ctx.account() && m.region == ctx.region() =>
            {
                Ok(m.clone())
            }
            _ => Err(LambdaError::not_found(format!(
                "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {})",
                ctx.request_id
            ))),
        }
    }

    pub(crate) fn create_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = parse(ctx, s(input, "FunctionName").unwrap_or(""))?;
        self.get_function(ctx, &r.name)?;
        let Some(source) = s(input, "EventSourceArn") else {
            return Err(LambdaError::invalid(
                "Unrecognized event source, must be kafka or specify an EventSourceArn",
            ));
        };
        if crate::esm_dynamodb::is_stream_arn(source) {
            return self.create_stream_mapping(ctx, input, &r, source);
        }
        if !source.starts_with("arn:aws:sqs:") {
            return Err(LambdaError::invalid(format!(
                "Unsupported event source {source}: this emulator maps SQS queues"
            )));
        }
        let batch = input.get("BatchSize").and_then(Value::as_u64).unwrap_or(10);
        let window = input
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if batch > 10 && window == 0 {
            return Err(LambdaError::invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            ));
        }
        if batch > 10_000 {
            return Err(LambdaError::invalid(
                "BatchSize must be at most 10000 for SQS",
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
                "An event source mapping with SQS arn (\" {source} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {uuid}",
                r.name
            )));
        }
        let m = Mapping {
            uuid: self.uuid(),
            account: ctx.account().into(),
            region: ctx.region().into(),
            function: r.name.clone(),
            qualifier: r.qualifier.clone(),
            source_arn: source.into(),
            batch_size: batch as u32,
            window_s: window as u32,
            enabled: input
                .get("Enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            report_item_failures: reports_failures(input).unwrap_or(false),
            last_modified_ms: self.now(),
            last_result: "No records processed".into(),
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::mapping(&m.uuid), LambdaRecord::Mapping(m.clone()));
        });
        let mut out = self.mapping_out(&m);
        out["State"] = json!("Creating");
        Ok(Done::wrote(out, v))
    }

    pub(crate) fn get_mapping_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        Ok(Done::read(self.mapping_out(&m)))
    }

    pub(crate) fn list_mappings(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let f = match s(input, "FunctionName") {
            Some(n) => Some(parse(ctx, n)?.name),
            None => None,
        };
        let src = s(input, "EventSourceArn");
        let all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::mappings())
            .filter_map(|(_, r)| match r {
                LambdaRecord::Mapping(m)
                    if m.account == ctx.account()
                        && m.region == ctx.region()
                        && f.as_ref().is_none_or(|f| *f == m.function)
                        && src.is_none_or(|s| s == m.source_arn) =>
                {
                    Some(self.mapping_out(m))
                }
                _ => None,
            })
            .collect();
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(100, |n| n.clamp(1, 10_000) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "EventSourceMappings": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn update_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let mut m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        if let Some(n) = s(input, "FunctionName") {
            let r = parse(ctx, n)?;
            self.get_function(ctx, &r.name)?;
            m.function = r.name;
            m.qualifier = r.qualifier;
        }
        if let Some(b) = input.get("BatchSize").and_then(Value::as_u64) {
            m.batch_size = b as u32;
        }
        if let Some(w) = input
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
        {
            m.window_s = w as u32;
        }
        if let Some(e) = input.get("Enabled").and_then(Value::as_bool) {
            m.enabled = e;
        }
        if let Some(r) = reports_failures(input) {
            m.report_item_failures = r;
        }
        m.last_modified_ms = self.now();
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::mapping(&m.uuid), LambdaRecord::Mapping(m.clone()));
        });
        let mut out = self.mapping_out(&m);
        out["State"] = json!("Updating");
        Ok(Done::wrote(out, v))
    }

    pub(crate) fn delete_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::mapping(&m.uuid));
            crate::esm_dynamodb::forget(txn, &m.uuid);
        });
        let mut out = self.mapping_out(&m);
        out["State"] = json!("Deleting");
        Ok(Done::wrote(out, v))
    }

    /// The poller task: each enabled mapping not already busy gets a batch.
    pub(crate) async fn run_mappings(
        self: Arc<Self>,
        rt: Arc<dyn Runtime>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let busy: Arc<Mutex<HashSet<String>>> = Default::default();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !rt.is_ready(NAME) {
                // Mappings are state: load it (a lazy load would otherwise wait for a request).
                rt.ensure_loaded(NAME).await;
                if !rt.is_ready(NAME) {
                    continue;
                }
            }
            let mappings: Vec<Mapping> = self
                .store
                .snapshot()
                .scan_prefix(&keys::mappings())
                .filter_map(|(_, r)| match r {
                    LambdaRecord::Mapping(m) if m.enabled => Some(m.clone()),
                    _ => None,
                })
                .collect();
            for m in mappings {
                if !busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(m.uuid.clone())
                {
                    continue;
                }
                let (me, rt, busy) = (self.clone(), rt.clone(), busy.clone());
                tokio::spawn(async move {
                    me.poll_once(rt.as_ref(), &m).await;
                    busy.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&m.uuid);
                });
            }
        }
    }

    async fn poll_once(&self, rt: &dyn Runtime, m: &Mapping) {
        if crate::esm_dynamodb::is_stream_arn(&m.source_arn) {
            return self.poll_stream(rt, m).await;
        }
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

fn reports_failures(input: &Value) -> Option<bool> {
    input
        .get("FunctionResponseTypes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        })
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

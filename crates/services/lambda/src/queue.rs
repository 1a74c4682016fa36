//! Asynchronous invocations: each accepted `Event` invocation is an [`AsyncInvocation`] record
//! with an absolute deadline; a task started by `Service::start` runs the due ones. A failed
//! attempt is retried (twice by default, `MaximumRetryAttempts`) after 1 and 2 minutes, then
//! the event goes to the function's dead-letter queue (SQS or SNS) and its on-failure
//! destination; a success goes to the on-success destination. Function logs go to CloudWatch
//! Logs (`/aws/lambda/<name>`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::exec::{FunctionSpec, Outcome};
use crate::model::{AsyncInvocation, LambdaRecord, keys};
use crate::names::{FnRef, function_arn};
use crate::{Lambda, NAME};

/// How often the queue is looked at even when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);
/// At most this many asynchronous attempts run at once.
const PARALLEL: usize = 16;
/// An attempt's claim lasts its function's timeout plus this (then a crash's attempt reruns).
const CLAIM_MARGIN_MS: u64 = 5_000;
/// Events older than this are dropped to the failure destination (AWS's default, 6 hours).
const DEFAULT_MAX_AGE_S: u64 = 21_600;

fn ctx_for(account: &str, region: &str, request_id: &str) -> RequestContext {
    RequestContext {
        access_key: account.to_string(),
        partition: Partition::new(account, region),
        scope_service: None,
        request_id: request_id.to_string(),
    }
}

impl Lambda {
    /// Queue an asynchronous invocation; the store version of the write.
    pub(crate) fn enqueue(
        &self,
        ctx: &RequestContext,
        name: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
    ) -> u64 {
        let now = self.now();
        let rec = AsyncInvocation {
            id: ctx.request_id.clone(),
            account: ctx.account().to_string(),
            region: ctx.region().to_string(),
            function: name.to_string(),
            qualifier: qualifier.map(str::to_string),
            payload,
            accepted_ms: now,
            due_ms: now,
            attempts: 0,
            last_error: None,
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::queued(&rec.id), LambdaRecord::Async(rec.clone()));
        });
        self.queue_wake.notify_one();
        v
    }

    /// The due invocations, claimed (their deadline pushed past their run).
    fn claim_due(&self, now: u64, max: usize) -> Vec<AsyncInvocation> {
        let snap = self.store.snapshot();
        let due: Vec<AsyncInvocation> = snap
            .scan_prefix(&keys::queue())
            .filter_map(|(_, r)| match r {
                LambdaRecord::Async(a) if a.due_ms <= now => Some(a.clone()),
                _ => None,
            })
            .take(max)
            .collect();
        if due.is_empty() {
            return due;
        }
        let mut claimed = Vec::with_capacity(due.len());
        self.store.write(|txn| {
            for mut a in due {
                let ctx = ctx_for(&a.account, &a.region, &a.id);
                let timeout_ms = self
                    .get_function(&ctx, &a.function)
                    .map_or(3_000, |f| u64::from(f.latest.timeout) * 1000);
                a.due_ms = now + timeout_ms + CLAIM_MARGIN_MS;
                txn.insert(keys::queued(&a.id), LambdaRecord::Async(a.clone()));
                claimed.push(a);
            }
        });
        claimed
    }

    /// The queue task.
    pub(crate) async fn run_queue(
        self: Arc<Self>,
        rt: Arc<dyn Runtime>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let running = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.queue_wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !rt.is_ready(NAME) {
                // The queue is state: load it (a lazy load would otherwise wait for a request).
                rt.ensure_loaded(NAME).await;
                if !rt.is_ready(NAME) {
                    continue;
                }
            }
            let free = running.available_permits();
            if free == 0 {
                continue;
            }
            for a in self.claim_due(self.now(), free) {
                let Ok(permit) = running.clone().acquire_owned().await else {
                    return;
                };
                let me = self.clone();
                let rt = rt.clone();
                tokio::spawn(async move {
                    me.attempt(rt.as_ref(), a).await;
                    drop(permit);
                });
            }
        }
    }

    async fn attempt(&self, rt: &dyn Runtime, mut a: AsyncInvocation) {
        let ctx = ctx_for(&a.account, &a.region, &a.id);
        let r = FnRef {
            name: a.function.clone(),
            qualifier: a.qualifier.clone(),
        };
        let settings = self.event_invoke_config(&ctx, &a.function);
        let max_retries = settings
            .as_ref()
            .and_then(|s| s.get("MaximumRetryAttempts"))
            .and_then(Value::as_u64)
            .unwrap_or(2) as u32;
        let max_age_ms = settings
            .as_ref()
            .and_then(|s| s.get("MaximumEventAgeInSeconds"))
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_AGE_S)
            * 1000;
        let target = self.target(&ctx, &r);
        let Ok((config, reserved)) = target else {
            // The function (or its version) is gone: the event has nowhere to run.
            self.finish(rt, &a.id).await;
            return;
        };
        let arn = function_arn(&ctx, &a.function, a.qualifier.as_deref());
        let outcome = match self.slot(&ctx, &a.function, reserved) {
            Ok(_slot) => {
                let out = self
                    .run(&ctx, &a.function, &config, &arn, &a.id, a.payload.clone())
                    .await;
                Some(out)
            }
            Err(_) => None,
        };
        let now = self.now();
        match outcome {
            Some(out) if out.function_error.is_none() => {
                self.destination(
                    rt,
                    &ctx,
                    &a,
                    &config.version,
                    &out,
                    "Success",
                    settings.as_ref(),
                )
                .await;
                self.finish(rt, &a.id).await;
            }
            Some(out) => {
                a.attempts += 1;
                a.last_error = Some(String::from_utf8_lossy(&out.payload).into_owned());
                let expired = now.saturating_sub(a.accepted_ms) > max_age_ms;
                if a.attempts > max_retries || expired {
                    self.dead_letter(rt, &ctx, &a, &config.dead_letter_arn)
                        .await;
                    self.destination(
                        rt,
                        &ctx,
                        &a,
                        &config.version,
                        &out,
                        "Failure",
                        settings.as_ref(),
                    )
                    .await;
                    self.finish(rt, &a.id).await;
                } else {
                    let i = (a.attempts as usize - 1).min(1);
                    a.due_ms = now + self.retry_delays_ms[i];
                    self.store.write(|txn| {
                        txn.insert(keys::queued(&a.id), LambdaRecord::Async(a.clone()));
                    });
                }
            }
            None => {
                // Throttled: try again shortly (throttles are retried for up to 6 hours).
                a.due_ms = now + 1_000;
                self.store.write(|txn| {
                    txn.insert(keys::queued(&a.id), LambdaRecord::Async(a.clone()));
                });
            }
        }
    }

    async fn finish(&self, rt: &dyn Runtime, id: &str) {
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::queued(id));
        });
        let _ = rt.wait_durable(NAME, v).await;
    }

    pub(crate) async fn send_to(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        arn: &str,
        body: String,
    ) {
        let parts: Vec<&str> = arn.split(':').collect();
        let result = match parts.as_slice() {
            ["arn", _, "sqs", region, account, queue] => {
                let qctx = ctx_for(account, region, &ctx.request_id);
                match rt
                    .invoke(&qctx, "sqs", "GetQueueUrl", json!({ "QueueName": queue }))
                    .await
                {
                    Ok(u) => rt
                        .invoke(
                            &qctx,
                            "sqs",
                            "SendMessage",
                            json!({
                                "QueueUrl": u.get("QueueUrl").cloned().unwrap_or_default(),
                                "MessageBody": body,
                            }),
                        )
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            ["arn", _, "sns", region, account, _] => {
                let sctx = ctx_for(account, region, &ctx.request_id);
                rt.invoke(
                    &sctx,
                    "sns",
                    "Publish",
                    json!({"TopicArn": arn, "Message": body}),
                )
                .await
                .map(|_| ())
            }
            [
                "arn",
                _,
                "lambda",
                region,
                account,
                "function",
                name,
                rest @ ..,
            ] => {
                let lctx = ctx_for(account, region, &format!("{}-dest", ctx.request_id));
                self.enqueue(&lctx, name, rest.first().copied(), body.into_bytes());
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(target = arn, error = %e.message, "a Lambda destination could not be reached");
        }
    }

    async fn dead_letter(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        a: &AsyncInvocation,
        dlq: &Option<String>,
    ) {
        if let Some(arn) = dlq {
            let body = String::from_utf8_lossy(&a.payload).into_owned();
            self.send_to(rt, ctx, arn, body).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn destination(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        a: &AsyncInvocation,
        version: &str,
        out: &Outcome,
        kind: &str,
        settings: Option<&Value>,
    ) {
        let Some(arn) = settings
            .and_then(|s| s.get("DestinationConfig"))
            .and_then(|d| d.get(format!("On{kind}")))
            .and_then(|d| d.get("Destination"))
            .and_then(Value::as_str)
        else {
            return;
        };
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
        let mut response = json!({"statusCode": 200, "executedVersion": version});
        if let Some(e) = &out.function_error {
            response["functionError"] = json!(e);
        }
        let record = json!({
            "version": "1.0",
            "timestamp": crate::output::last_modified(self.now()),
            "requestContext": {
                "requestId": a.id,
                "functionArn": function_arn(ctx, &a.function, Some(a.qualifier.as_deref().unwrap_or("$LATEST"))),
                "condition": if kind == "Success" { "Success" } else { "RetriesExhausted" },
                "approximateInvokeCount": a.attempts.max(1),
            },
            "requestPayload": parse(&a.payload),
            "responseContext": response,
            "responsePayload": parse(&out.payload),
        });
        self.send_to(rt, ctx, arn, record.to_string()).await;
    }

    /// Send an invocation's log lines to CloudWatch Logs, in the background.
    pub(crate) fn ship_logs(
        &self,
        ctx: &RequestContext,
        name: &str,
        spec: &FunctionSpec,
        out: &Outcome,
    ) {
        let Some(rt) = self.runtime.get().cloned() else {
            return;
        };
        let stream = spec
            .env
            .iter()
            .find(|(k, _)| k == "AWS_LAMBDA_LOG_STREAM_NAME")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let group = format!("/aws/lambda/{name}");
        let now = self.now();
        let events: Vec<Value> = out
            .log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(10_000)
            .map(|l| json!({"timestamp": now, "message": l}))
            .collect();
        if events.is_empty() {
            return;
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = rt
                .invoke(
                    &ctx,
                    "logs",
                    "CreateLogGroup",
                    json!({ "logGroupName": group }),
                )
                .await;
            let _ = rt
                .invoke(
                    &ctx,
                    "logs",
                    "CreateLogStream",
                    json!({"logGroupName": group, "logStreamName": stream}),
                )
                .await;
            let _ = rt
                .invoke(
                    &ctx,
                    "logs",
                    "PutLogEvents",
                    json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
                )
                .await;
        });
    }
}

//! CloudWatch Logs as a service of the registry (JSON 1.1, `X-Amz-Target: Logs_20140328.*`),
//! its retention sweeper, and the metrics its metric filters publish to CloudWatch.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use snapstack_engine::Engine;
use snapstack_protocol::codec::json;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::reply::model_violation;
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{Logs, NAME};

/// How often the retention sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How long the delivery task sleeps when the outbox is empty (PutLogEvents wakes it).
const OUTBOX_IDLE: Duration = Duration::from_secs(5);

pub(crate) fn response(
    status: u16,
    headers: &[(String, String)],
    body: Vec<u8>,
    request_id: &str,
) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn error(e: &AwsError, request_id: &str) -> Response {
    let model = snapstack_protocol::model::named(NAME).expect("the logs model is embedded");
    let (status, headers, body) = json::serialize_error(model, &e.code, &e.message);
    let status = if e.status.as_u16() != 400 {
        e.status.as_u16()
    } else {
        status
    };
    response(status, &headers, body, request_id)
}

impl Logs {
    /// Parse, validate and run one call; the output in the JSON shape and the version written.
    async fn call(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: Value,
    ) -> Result<(Value, Option<u64>), AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
            return Err(AwsError::new(validation_code(op), message));
        }
        rt.ensure_loaded(NAME).await;
        if op == "CreateExportTask" {
            self.check_export_bucket(rt, ctx, &input).await?;
        }
        let out = self.handle(ctx, op, &input)?;
        let mut version = out.version;
        if op == "CreateExportTask"
            && let Some(v) = self.run_pending_exports(rt).await
        {
            version = Some(v);
        }
        // Metric filters publish what matched to CloudWatch (best effort, as AWS's are).
        for (op, input) in out.metrics {
            if let Err(e) = rt.invoke(ctx, "cloudwatch", &op, input).await {
                tracing::debug!(error = %e, "a metric filter's datapoints were not published");
            }
        }
        Ok((out.value, version))
    }
}

/// The error an operation answers for input its model refuses: `InvalidParameterException`,
/// or `ValidationException` for the operations whose model lists only that one.
fn validation_code(op: &str) -> &'static str {
    let errors = snapstack_protocol::model::named(NAME)
        .and_then(|m| m.operations.get(op))
        .map(|o| o.errors.as_slice())
        .unwrap_or_default();
    let has = |c: &str| errors.iter().any(|e| e.shape == c);
    if !has("InvalidParameterException") && has("ValidationException") {
        "ValidationException"
    } else {
        "InvalidParameterException"
    }
}

impl Service for Logs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let model = self.model();
            let (Some(op), Payload::Bytes(body)) = (call.operation, &call.payload) else {
                return error(
                    &AwsError::new(
                        "UnknownOperationException",
                        "CloudWatch Logs requests must name their operation in the X-Amz-Target header",
                    ),
                    &ctx.request_id,
                );
            };
            if !model.operations.contains_key(op) {
                return error(
                    &AwsError::new(
                        "UnknownOperationException",
                        format!(
                            "Operation {op} is not supported by this emulator's CloudWatch Logs."
                        ),
                    ),
                    &ctx.request_id,
                );
            }
            let input = match json::parse_input(model, op, body) {
                Ok(v) => v,
                Err(e) => {
                    return error(
                        &AwsError::new(&e.code, e.message).with_status(
                            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                        ),
                        &ctx.request_id,
                    );
                }
            };
            if op == "StartLiveTail" {
                if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
                    return error(
                        &AwsError::new("InvalidParameterException", message),
                        &ctx.request_id,
                    );
                }
                rt.ensure_loaded(NAME).await;
                return match self.start_live_tail(&ctx.partition, &input, &ctx.request_id) {
                    Ok(resp) => resp,
                    Err(e) => error(&e, &ctx.request_id),
                };
            }
            match self.call(rt, ctx, op, input).await {
                Ok((out, version)) => {
                    if let Some(v) = version
                        && let Err(e) = rt.wait_durable(NAME, v).await
                    {
                        return error(
                            &AwsError::internal(
                                "ServiceUnavailableException",
                                format!(
                                    "The change was applied but could not be saved durably: {e}"
                                ),
                            ),
                            &ctx.request_id,
                        );
                    }
                    let body = json::serialize_output(model, op, &out);
                    let headers = [(
                        "Content-Type".to_string(),
                        json::content_type(model).to_string(),
                    )];
                    response(200, &headers, body, &ctx.request_id)
                }
                Err(e) => error(&e, &ctx.request_id),
            }
        })
    }

    /// CloudWatch Logs for other services (Lambda's function logs): the JSON shape.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), AwsError>> {
        Box::pin(async move { self.call(rt, ctx, operation, input).await })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        error(
            &AwsError::internal("ServiceUnavailableException", message),
            &ctx.request_id,
        )
    }

    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        // Subscription deliveries (the outbox), export tasks left PENDING by a restart, and
        // due scheduled queries and log anomaly detectors (checked at least every OUTBOX_IDLE).
        {
            let logs = self.clone();
            let rt = rt.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut exports_checked = false;
                loop {
                    if rt.is_ready(NAME) {
                        if !exports_checked {
                            exports_checked = true;
                            if let Some(v) = logs.run_pending_exports(rt.as_ref()).await {
                                let _ = rt.wait_durable(NAME, v).await;
                            }
                        }
                        if let Some(v) = logs.deliver_outbox(rt.as_ref()).await {
                            let _ = rt.wait_durable(NAME, v).await;
                        }
                        if let Some(v) = logs.run_scheduled_queries(rt.as_ref()).await {
                            let _ = rt.wait_durable(NAME, v).await;
                        }
                        let l = logs.clone();
                        let now = logs.now_ms();
                        let before = logs.store.version();
                        let _ =
                            tokio::task::spawn_blocking(move || l.evaluate_anomaly_detectors(now))
                                .await;
                        if logs.store.version() != before {
                            let _ = rt.wait_durable(NAME, logs.store.version()).await;
                        }
                    }
                    let wait = match logs.next_outbox_due() {
                        Some(due) => Duration::from_millis(
                            due.saturating_sub(logs.now_ms()).clamp(10, 60_000),
                        ),
                        None => OUTBOX_IDLE,
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = logs.outbox_wake.notified() => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            });
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let logs = self.clone();
                let now = logs.now_ms();
                match tokio::task::spawn_blocking(move || logs.sweep_retention(now)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(n, "deleted log events past their retention"),
                    Err(e) => tracing::warn!(error = %e, "the log retention sweep failed"),
                }
            }
        });
    }
}

//! SSM as a service of the registry (JSON 1.1, `X-Amz-Target: AmazonSSM.*`).

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish_json, json_error, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{Body, NAME, Ssm};

/// How often the automation task looks at unfinished executions.
const AUTOMATION_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Service for Ssm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe_key(&self, key: &snapstack_engine::Key) -> Option<String> {
        crate::describe::describe(key)
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn reuses_parsed_json(&self) -> bool {
        true
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let (Some(op), Payload::Bytes(body)) = (call.operation, &call.payload) else {
                return json_error(
                    self.model(),
                    &AwsError::new(
                        "UnknownOperationException",
                        "SSM requests must name their operation in the X-Amz-Target header",
                    ),
                    &ctx.request_id,
                );
            };
            // Parsed once: validated against the model, then handed to the operation. A body
            // that does not parse goes to SSM as bytes, whose parser answers with its
            // SerializationException.
            let empty = body.iter().all(u8::is_ascii_whitespace);
            let parsed: Option<serde_json::Value> = if call.parsed.is_some() {
                // Parsed before the call when enforcement read it.
                call.parsed
            } else if empty {
                None
            } else {
                serde_json::from_slice(body).ok()
            };
            if (empty || parsed.is_some())
                && let Some(message) = model_violation(NAME, op, parsed.as_ref(), usize::MAX)
            {
                return json_error(
                    self.model(),
                    &AwsError::new("ValidationException", message),
                    &ctx.request_id,
                );
            }
            rt.ensure_loaded(NAME).await;
            let result = match &parsed {
                Some(v) => self.handle_body(ctx, op, &Body::Json(v)),
                None => self.handle(ctx, op, body),
            };
            finish_json(rt, NAME, self.model(), op, ctx, result).await
        })
    }

    /// SSM for other services (parameter lookups): the JSON shape of the operation, validated
    /// as a request.
    fn invoke<'a>(
        &'a self,
        _rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            if let Some(message) = model_violation(NAME, operation, Some(&input), usize::MAX) {
                return Err(AwsError::new("ValidationException", message));
            }
            let h = self.handle_body(ctx, operation, &Body::Json(&input))?;
            Ok((h.value, h.write_version))
        })
    }

    /// Run automation executions: a pass every second over the unfinished ones, once the
    /// state is loaded (an execution a restart interrupted goes on from its record).
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(AUTOMATION_TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if rt.is_ready(NAME) {
                    let n = self.run_automations(rt.as_ref()).await;
                    if n > 0 {
                        tracing::debug!(n, "advanced SSM automation executions");
                    }
                }
            }
        });
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        json_error(
            self.model(),
            &AwsError::internal("InternalServerError", message),
            &ctx.request_id,
        )
    }
}

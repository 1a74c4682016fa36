//! Secrets Manager as a service of the registry (JSON 1.1, `X-Amz-Target: secretsmanager.*`),
//! with the sweeper that removes secrets whose recovery window has passed and runs scheduled
//! rotations.

use std::sync::Arc;
use std::time::Duration;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish_json, json_error, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{NAME, SecretsManager};

/// How often secrets past their deletion deadline are removed (lookups already treat them as
/// gone the moment the deadline passes).
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

impl Service for SecretsManager {
    fn name(&self) -> &'static str {
        NAME
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
                        "Secrets Manager requests must name their operation in the X-Amz-Target header",
                    ),
                    &ctx.request_id,
                );
            };
            // Parsed before the call when enforcement read it (`Call::parsed`).
            let input: serde_json::Value = if let Some(v) = call.parsed {
                v
            } else if body.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Object(Default::default())
            } else {
                match serde_json::from_slice(body) {
                    Ok(v @ serde_json::Value::Object(_)) => v,
                    _ => {
                        return json_error(
                            self.model(),
                            &AwsError::new(
                                "SerializationException",
                                "The request body is not a JSON object.",
                            ),
                            &ctx.request_id,
                        );
                    }
                }
            };
            if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
                return json_error(
                    self.model(),
                    &AwsError::new("ValidationException", message),
                    &ctx.request_id,
                );
            }
            rt.ensure_loaded(NAME).await;
            let result = self.handle(rt, ctx, op, &input).await;
            finish_json(rt, NAME, self.model(), op, ctx, result).await
        })
    }

    /// Secrets Manager for other services (secret lookups): the JSON shape of the operation,
    /// validated as a request.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            if let Some(message) = model_violation(NAME, operation, Some(&input), usize::MAX) {
                return Err(AwsError::new("ValidationException", message));
            }
            let h = self.handle(rt, ctx, operation, &input).await?;
            Ok((h.value, h.write_version))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        json_error(
            self.model(),
            &AwsError::internal("InternalServerError", message),
            &ctx.request_id,
        )
    }

    /// Remove secrets past their recovery window now and then, once the state is loaded.
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
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
                let n = self.sweep_deleted(self.now_ms());
                if n > 0 {
                    tracing::debug!(n, "removed secrets past their recovery window");
                }
                for (p, name) in self.due_rotations(self.now_ms()) {
                    self.rotate_scheduled(rt.as_ref(), &p, &name).await;
                }
            }
        });
    }
}

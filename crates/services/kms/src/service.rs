//! KMS as a service of the registry (JSON 1.1, `X-Amz-Target: TrentService.*`).

use std::sync::Arc;
use std::time::Duration;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish_json, json_error, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{Kms, NAME};

/// How often the sweeper looks for due deletions and rotations.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

impl Kms {
    fn run(
        &self,
        ctx: &RequestContext,
        op: &str,
        input: &serde_json::Value,
    ) -> Result<snapstack_service::Output, AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(input), usize::MAX) {
            return Err(AwsError::new("ValidationException", message));
        }
        self.handle(ctx, op, input)
    }
}

impl Service for Kms {
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
                        "KMS requests must name their operation in the X-Amz-Target header",
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
                    Ok(v) => v,
                    Err(e) => {
                        return json_error(
                            self.model(),
                            &AwsError::new("SerializationException", e.to_string()),
                            &ctx.request_id,
                        );
                    }
                }
            };
            rt.ensure_loaded(NAME).await;
            // Key generation (RSA) and the ciphers take CPU time: off the async workers.
            let multi = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            let result = if multi {
                tokio::task::block_in_place(|| self.run(ctx, op, &input))
            } else {
                self.run(ctx, op, &input)
            };
            finish_json(rt, NAME, self.model(), op, ctx, result).await
        })
    }

    /// KMS for other services (Secrets Manager's encryption): the JSON shape of the
    /// operation, blobs as base64 strings, validated as a request.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            rt.ensure_loaded(NAME).await;
            let h = self.run(ctx, operation, &input)?;
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
                let k = self.clone();
                let now = k.now_ms();
                match tokio::task::spawn_blocking(move || k.sweep(now)).await {
                    Ok((0, 0)) => {}
                    Ok((deleted, rotated)) => {
                        tracing::debug!(deleted, rotated, "KMS sweep deleted and rotated keys")
                    }
                    Err(e) => tracing::warn!(error = %e, "the KMS sweep failed"),
                }
            }
        });
    }
}

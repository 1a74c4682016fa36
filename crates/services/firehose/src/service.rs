//! Firehose as a service of the registry (JSON 1.1, `X-Amz-Target: Firehose_20150804.*`), and
//! its delivery task.

use std::sync::Arc;
use std::time::Duration;

use snapstack_engine::Engine;
use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish, internal_error, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{Firehose, NAME};

/// How often the delivery task looks for due buffers and reads Kinesis sources (a buffer
/// that fills up by size wakes it at once).
const TICK: Duration = Duration::from_millis(500);

impl Firehose {
    fn run(
        &self,
        ctx: &RequestContext,
        op: &str,
        input: &serde_json::Value,
    ) -> Result<snapstack_service::Handled, AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(input), usize::MAX) {
            return Err(AwsError::new("ValidationException", message));
        }
        self.handle(ctx, op, input)
    }

    /// One pass of the delivery task: read Kinesis sources, then start a flush of each due
    /// stream that has none in flight.
    async fn tick(self: &Arc<Self>, rt: &Arc<dyn Runtime>) {
        self.read_sources(rt.as_ref()).await;
        for (p, st, plan) in self.due() {
            let id = (p.clone(), st.name.clone());
            if !self.lock_flights().insert(id.clone()) {
                continue;
            }
            let (fh, rt) = (self.clone(), rt.clone());
            tokio::spawn(async move {
                fh.flush_stream(rt.as_ref(), &p, &st, &plan).await;
                fh.lock_flights().remove(&id);
                fh.wake.notify_one();
            });
        }
    }

    fn lock_flights(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(snapstack_engine::Partition, String)>>
    {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service for Firehose {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe_key(&self, key: &snapstack_engine::Key) -> Option<String> {
        use snapstack_engine::key::Part;
        let parts = key.parts()?;
        let text = |i: usize| match parts.get(i) {
            Some(Part::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        let scope = snapstack_service::describe::scope(text(0)?, text(1));
        let name = text(3)?;
        Some(match (text(2)?, parts.get(4)) {
            ("s", None) => format!("delivery stream {name} {scope}"),
            ("r", Some(Part::U64(seq))) => {
                format!("buffered record {seq} of delivery stream {name} {scope}")
            }
            ("c", Some(Part::Str(shard))) => {
                format!("Kinesis source position of {shard} for delivery stream {name} {scope}")
            }
            _ => return None,
        })
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
                return AwsError::new(
                    "UnknownOperationException",
                    "Firehose requests must name their operation in the X-Amz-Target header",
                )
                .into_response(Protocol::Json11, &ctx.request_id);
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
                        return AwsError::new("SerializationException", e.to_string())
                            .into_response(Protocol::Json11, &ctx.request_id);
                    }
                }
            };
            rt.ensure_loaded(NAME).await;
            let result = self.run(ctx, op, &input);
            finish(rt, NAME, Protocol::Json11, ctx, result).await
        })
    }

    /// Firehose for other services (CloudWatch Logs subscriptions, EventBridge targets):
    /// `PutRecord` and `PutRecordBatch` in the JSON shape of the model.
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
            let out = serde_json::from_str(&h.body).unwrap_or_default();
            Ok((out, h.write_version))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        internal_error(ctx, true, message)
    }

    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            // Buffered records are delivered after a restart even if no request comes to load
            // the state lazily.
            rt.ensure_loaded(NAME).await;
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.wake.notified() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                self.tick(&rt).await;
            }
        });
    }
}

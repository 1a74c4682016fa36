//! CloudWatch as a service of the registry: the three protocols, and the alarm evaluator and
//! retention sweeper started with the server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::model_violation;
use snapstack_service::{BoxFuture, Call, RequestContext, Runtime, Service};

use crate::wire::{self, Wire};
use crate::{CloudWatch, NAME};

/// How often the evaluator looks for due alarms.
pub const EVAL_TICK: Duration = Duration::from_secs(1);
/// How often the whole retention sweep (rollups and history) runs, in evaluator ticks.
const SWEEP_EVERY: u64 = 600;
/// How often the rollups alone run, in evaluator ticks: the 3-hour step moves every minute.
const ROLLUP_EVERY: u64 = 60;
/// How often metric streams turn complete minutes into deliveries, in evaluator ticks.
const STREAM_EVERY: u64 = 5;

impl CloudWatch {
    /// Run one operation. `internal`: the call is another service's ([`Service::invoke`]),
    /// which may publish into the `AWS/` namespaces a client may not write to.
    async fn call(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: Value,
        internal: bool,
    ) -> Result<(Value, Option<u64>), AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
            return Err(AwsError::new("ValidationError", message));
        }
        rt.ensure_loaded(NAME).await;
        let out = if internal && op == "PutMetricData" {
            self.put_metric_data_as(&ctx.partition, &input, true)?
        } else {
            self.handle(ctx, op, &input)?
        };
        let mut version = out.version;
        if !out.transitions.is_empty()
            && let Some(v) = self.run_actions(rt, out.transitions).await
        {
            version = Some(v);
        }
        Ok((out.value, version))
    }
}

impl Service for CloudWatch {
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
            let wire = Wire::of(call.parts, &call.payload);
            let rid = &ctx.request_id;
            let Some(op) = call.operation else {
                let e = match wire {
                    Wire::Query => AwsError::new(
                        "MissingAction",
                        "The request must contain the parameter Action.",
                    ),
                    _ => AwsError::new(
                        "UnknownOperationException",
                        "The request names no operation.",
                    ),
                };
                return wire::error(model, wire, &e, rid);
            };
            if !model.operations.contains_key(op) {
                let e = match wire {
                    Wire::Query => AwsError::new(
                        "InvalidAction",
                        format!(
                            "Could not find operation {op} for version {}",
                            model.metadata.api_version
                        ),
                    ),
                    _ => AwsError::new(
                        "UnknownOperationException",
                        format!("Operation {op} is not supported by this emulator's CloudWatch."),
                    ),
                };
                return wire::error(model, wire, &e, rid);
            }
            let input = match wire::parse(model, wire, op, &call.payload) {
                Ok(v) => v,
                Err(e) => return wire::error(model, wire, &e, rid),
            };
            match self.call(rt, ctx, op, input, false).await {
                Ok((out, version)) => {
                    if let Some(v) = version
                        && let Err(e) = rt.wait_durable(NAME, v).await
                    {
                        let e = AwsError::internal(
                            "InternalServiceFault",
                            format!("The change was applied but could not be saved durably: {e}"),
                        );
                        return wire::error(model, wire, &e, rid);
                    }
                    wire::ok(model, wire, op, &out, rid)
                }
                Err(e) => wire::error(model, wire, &e, rid),
            }
        })
    }

    /// CloudWatch for other services (metric filters of CloudWatch Logs, services publishing
    /// their metrics): the JSON shape.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), AwsError>> {
        Box::pin(async move { self.call(rt, ctx, operation, input, true).await })
    }

    fn internal_error(&self, ctx: &RequestContext, parts: &Parts, message: &str) -> Response {
        let wire = if parts.headers.contains_key("smithy-protocol") {
            Wire::Cbor
        } else if parts.headers.contains_key("x-amz-target") {
            Wire::Json
        } else {
            Wire::Query
        };
        wire::error(
            self.model(),
            wire,
            &AwsError::internal("InternalServiceFault", message),
            &ctx.request_id,
        )
    }

    /// The alarm evaluator: every [`EVAL_TICK`], the due alarms of every partition are
    /// evaluated from the stored data and their state changes' actions run; every
    /// [`ROLLUP_EVERY`] ticks data is rolled up by resolution (and expired data dropped), every
    /// [`SWEEP_EVERY`] expired history too; every [`STREAM_EVERY`] ticks metric streams queue
    /// their complete minutes, and due stream deliveries go to Firehose. Nothing runs before the
    /// state is loaded.
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVAL_TICK);
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                n += 1;
                let cw = self.clone();
                let now = cw.now_ms();
                let sweep = n.is_multiple_of(SWEEP_EVERY);
                let roll = n.is_multiple_of(ROLLUP_EVERY);
                let stream = n.is_multiple_of(STREAM_EVERY);
                let done = tokio::task::spawn_blocking(move || {
                    let t = cw.evaluate_due(now);
                    let swept = if sweep {
                        cw.sweep(now)
                    } else if roll {
                        cw.rollup(now)
                    } else {
                        0
                    };
                    let streamed = if stream { cw.stream_metrics(now) } else { 0 };
                    (t, swept, streamed)
                })
                .await;
                match done {
                    Ok((transitions, swept, streamed)) => {
                        if streamed > 0 {
                            let _ = rt.wait_durable(NAME, self.store.version()).await;
                        }
                        if let Some(v) = self.deliver_streams(rt.as_ref()).await {
                            let _ = rt.wait_durable(NAME, v).await;
                        }
                        if swept > 0 {
                            tracing::debug!(
                                swept,
                                "dropped expired CloudWatch datapoints and history"
                            );
                        }
                        // The state changes (and the actions they owe) are durable like a
                        // request's; then the due actions, new and retried, are delivered.
                        if !transitions.is_empty() {
                            let _ = rt.wait_durable(NAME, self.store.version()).await;
                        }
                        if let Some(v) = self.deliver_actions(rt.as_ref()).await {
                            let _ = rt.wait_durable(NAME, v).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the CloudWatch alarm evaluation failed"),
                }
            }
        });
    }
}

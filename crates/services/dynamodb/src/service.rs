//! DynamoDB as a service of the registry (JSON 1.0, `X-Amz-Target: DynamoDB_20120810.*`), with
//! its TTL sweeper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish_json, model_violation};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{DdbError, DynamoDb, NAME};

/// How often expired items are looked for.
const TTL_SWEEP_INTERVAL: Duration = Duration::from_secs(3);
/// How often exports and imports in progress are looked for.
const TRANSFER_INTERVAL: Duration = Duration::from_millis(250);

impl Service for DynamoDb {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe_key(&self, key: &snapstack_engine::Key) -> Option<String> {
        crate::describe::describe(key, &self.store.snapshot())
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
                return DdbError::new(
                    "UnknownOperationException",
                    "DynamoDB requests must name their operation in the X-Amz-Target header (DynamoDB_20120810.<Operation>)",
                )
                .into_response(&ctx.request_id);
            };
            // Parsed once (here, or before the call when enforcement read it): validated
            // against the model, then handed to the operation.
            let input = match call.parsed {
                Some(v) => v,
                None => match DynamoDb::parse_body(body) {
                    Ok(v) => v,
                    Err(e) => return e.into_response(&ctx.request_id),
                },
            };
            if let Some(message) = model_violation(NAME, op, Some(&input), 1) {
                return DdbError::validation(message).into_response(&ctx.request_id);
            }
            rt.ensure_loaded(NAME).await;
            // Deleting a table, adding an index (backfill), switching TTL on, backups and restores walk every item
            // of the table: let the runtime move other tasks off this worker meanwhile.
            let heavy = matches!(
                op,
                "DeleteTable"
                    | "UpdateTable"
                    | "UpdateTimeToLive"
                    | "CreateBackup"
                    | "DeleteBackup"
                    | "RestoreTableFromBackup"
                    | "RestoreTableToPointInTime"
            ) && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread;
            let timed = match crate::metrics::op_index(op) {
                Some(i) if self.metrics.enabled() => {
                    crate::metrics::take_units();
                    Some((i, Instant::now()))
                }
                _ => None,
            };
            let result = if heavy {
                tokio::task::block_in_place(|| self.handle_value(ctx, op, &input))
            } else {
                self.handle_value(ctx, op, &input)
            };
            if let (Some((i, t0)), Ok(out)) = (timed, &result) {
                let units = crate::metrics::take_units();
                self.metrics
                    .record(&ctx.partition, i, &input, &out.value, units, t0.elapsed());
            }
            match result {
                Ok(out) => finish_json(rt, NAME, self.model(), op, ctx, Ok(out)).await,
                Err(e) => e.into_response(&ctx.request_id),
            }
        })
    }

    /// DynamoDB for other services: the JSON shape of the operation, validated as a request.
    fn invoke<'a>(
        &'a self,
        _rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            let err = |e: DdbError| AwsError::new(e.code, e.message).with_status(e.status);
            if let Some(message) = model_violation(NAME, operation, Some(&input), 1) {
                return Err(err(DdbError::validation(message)));
            }
            let out = self.handle_value(ctx, operation, &input).map_err(err)?;
            Ok((out.value, out.write_version))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        DdbError::internal(message).into_response(&ctx.request_id)
    }

    /// Delete expired items now and then, once the state is loaded.
    /// The `AWS/DynamoDB` metrics go to CloudWatch once per report interval
    /// ([`crate::metrics`]).
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let reporting = Arc::downgrade(&self);
        snapstack_service::metrics::spawn_reporter(
            rt.clone(),
            stop.clone(),
            self.metrics.settings,
            NAME,
            crate::metrics::NAMESPACE,
            move |_| {
                reporting
                    .upgrade()
                    .map(|d| d.metrics.report())
                    .unwrap_or_default()
            },
        );
        // Exports and imports in progress (new ones, and those a restart interrupted).
        let (d, rt2, mut stop2) = (self.clone(), rt.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TRANSFER_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop2.wait_for(|s| *s) => return,
                }
                if rt2.is_ready(NAME) {
                    d.run_transfers(rt2.as_ref()).await;
                }
            }
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TTL_SWEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let d = self.clone();
                let now = d.now_ms();
                match tokio::task::spawn_blocking(move || d.sweep_expired(now)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(n, "deleted expired DynamoDB items"),
                    Err(e) => tracing::warn!(error = %e, "the DynamoDB TTL sweep failed"),
                }
            }
        });
    }
}

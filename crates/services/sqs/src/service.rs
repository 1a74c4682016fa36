//! SQS as a service of the registry: both wire protocols (JSON with `X-Amz-Target: AmazonSQS.*`,
//! and the query protocol its model is compatible with), the sweeper, and queue URLs that name
//! the bound address.

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::request::NotUtf8;
use snapstack_protocol::response::Response;
use snapstack_service::{BoxFuture, Call, Endpoint, Payload, RequestContext, Runtime, Service};

use crate::{
    MOVE_RESCAN_INTERVAL, MOVE_STEP_INTERVAL, NAME, Req, SWEEP_INTERVAL, Sqs, SqsError, Wire, json,
    query, queue, serve,
};
use snapstack_protocol::errors::AwsError;

impl Service for Sqs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe_key(&self, key: &snapstack_engine::Key) -> Option<String> {
        crate::describe::describe(key, &self.store.snapshot())
    }

    /// A query-protocol request to a queue URL (`/<account>/<queue>`) that names no action is
    /// SQS's.
    fn claims_path(&self, path: &str) -> bool {
        path.trim_matches('/').contains('/')
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let op = call.operation.unwrap_or("");
            match call.payload {
                Payload::Bytes(body) => {
                    serve(self, rt, call.ctx, call.parts, Wire::Json, op, &body, &[]).await
                }
                Payload::Form(Ok(params)) => {
                    serve(
                        self,
                        rt,
                        call.ctx,
                        call.parts,
                        Wire::Query,
                        op,
                        &[],
                        &params,
                    )
                    .await
                }
                Payload::Form(Err(bad)) => not_utf8(&bad, call.ctx),
                Payload::Stream(_) => query::error(
                    &SqsError::serialization("SQS requests are JSON or form-encoded"),
                    &call.ctx.request_id,
                ),
            }
        })
    }

    /// SQS for other services (SNS and EventBridge deliveries, Lambda event sources): the JSON
    /// shape of the operation, under the caller's account and region.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            let urls = self.urls();
            let host = urls.host.clone();
            let req = Req {
                ctx,
                host: &host,
                urls: &urls,
                rt: Some(rt),
            };
            self.handle(&req, operation, input)
                .await
                .map(|out| (out.body, out.version))
                .map_err(|e| AwsError::new(e.shape, e.message).with_status(e.status))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, parts: &Parts, message: &str) -> Response {
        let e = SqsError::internal(message);
        let json = parts.headers.contains_key("x-amz-target")
            || parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        if json {
            json::error(&e, &ctx.request_id)
        } else {
            query::error(&e, &ctx.request_id)
        }
    }

    /// Expired messages and deduplication entries are ignored by every request; the sweep only
    /// frees their memory, every [`SWEEP_INTERVAL`]. Before a lazy load the store is empty and
    /// there is nothing to sweep. Running message move tasks move what is due every
    /// [`MOVE_STEP_INTERVAL`], once the state is loaded (their index is rebuilt from the records
    /// then, and every [`MOVE_RESCAN_INTERVAL`]). On `stop`, long polls return at once.
    ///
    /// The `AWS/SQS` metrics go to CloudWatch once per report interval ([`crate::metrics`]).
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let weak = Arc::downgrade(&self);
        let reporting = Arc::downgrade(&self);
        let mut reporter = crate::metrics::Reporter::new();
        snapstack_service::metrics::spawn_reporter(
            rt.clone(),
            stop.clone(),
            self.metrics.settings,
            NAME,
            crate::metrics::NAMESPACE,
            move |_| {
                let Some(sqs) = reporting.upgrade() else {
                    return Vec::new();
                };
                let now = sqs.now();
                let counts = sqs.metrics.drain();
                let gauges = crate::metrics::gauges(&sqs.store.snapshot(), now);
                reporter.report(counts, gauges, now)
            },
        );
        let mover = Arc::downgrade(&self);
        let mut mover_stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MOVE_STEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut scanned: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = mover_stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let Some(sqs) = mover.upgrade() else { return };
                if scanned.is_none_or(|at| at.elapsed() >= MOVE_RESCAN_INTERVAL) {
                    let s = sqs.clone();
                    if tokio::task::spawn_blocking(move || s.rescan_move_tasks())
                        .await
                        .is_err()
                    {
                        continue;
                    }
                    scanned = Some(tokio::time::Instant::now());
                }
                let s = sqs.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || s.step_move_tasks()).await {
                    tracing::warn!(error = %e, "an SQS message move step failed");
                }
            }
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(sqs) = weak.upgrade() else { return };
                let n = sqs.sweep();
                if n > 0 {
                    tracing::debug!(records = n, "dropped expired SQS records");
                }
            }
        });
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            self.stop_waiting();
        });
    }

    fn bound(&self, endpoint: &Endpoint) {
        let strategy = self.urls().strategy;
        self.set_urls(queue::QueueUrls::new(
            strategy,
            endpoint.advertised_host.clone(),
        ));
    }
}

/// A query-protocol parameter that is not UTF-8 once percent-decoded. A message body gets SQS's
/// own answer for characters it cannot hold (InvalidMessageContents, worded as SQS words it,
/// naming the first offending byte); any other parameter a serialization error. Storing the text
/// with U+FFFD instead kept something the client never sent.
fn not_utf8(bad: &NotUtf8, ctx: &RequestContext) -> Response {
    if bad.name == "MessageBody" || bad.name.ends_with(".MessageBody") {
        let e = SqsError::invalid_contents(format!(
            "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].",
            bad.byte
        ));
        return query::error(&e, &ctx.request_id);
    }
    let message = format!(
        "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
        bad.name, bad.byte
    );
    query::error(&SqsError::serialization(message), &ctx.request_id)
}

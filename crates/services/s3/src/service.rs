//! S3 as a service of the registry (rest-xml). Its requests name no operation: the model's URI
//! templates do ([`crate::routing`]). Under `ON_REQUEST`, a write whose save fails is rolled
//! back before the 500 ([`crate::durability`]).

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::Method;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{NAME, S3, S3Error, durability, routing};

impl Service for S3 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe_key(&self, key: &snapstack_engine::Key) -> Option<String> {
        crate::describe::describe(key)
    }

    /// S3's model signs its operations as `s3`, S3 Express control operations
    /// (ListDirectoryBuckets, CreateSession) as `s3express`, WriteGetObjectResponse as
    /// `s3-object-lambda`: all of them are S3 requests.
    fn extra_signing_names(&self) -> &'static [&'static str] {
        &["s3express", "s3-object-lambda"]
    }

    /// S3's own matching, for IAM enforcement: the same reading [`S3::handle_routed`] makes,
    /// made once and handed back.
    fn route(&self, parts: &Parts) -> Option<snapstack_service::Routed> {
        routing::preroute(parts)
    }

    fn bound(&self, endpoint: &snapstack_service::Endpoint) {
        self.set_advertised_host(&endpoint.advertised_host);
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let (ctx, parts) = (call.ctx, call.parts);
            let body = match call.payload {
                Payload::Stream(b) => b,
                Payload::Bytes(b) => b.into(),
                Payload::Form(_) => snapstack_protocol::body::Body::empty(),
            };
            rt.ensure_loaded(NAME).await;
            let prerouted = call
                .routed
                .and_then(|state| state.downcast::<routing::Prerouted>().ok())
                .map(|p| *p);
            let (outcome, undo) =
                durability::with_undo(self.handle_routed(Some(rt), ctx, parts, body, prerouted))
                    .await;
            if let Some(v) = outcome.write_version
                && let Err(e) = rt.wait_durable(NAME, v).await
            {
                // A PutObject is undone, so its body is owed to no later save.
                // The runtime has undone the change already (a later write of the same object
                // is kept); an object write that is still current is rolled back here too.
                if let Some(u) = undo {
                    self.roll_back(u);
                }
                let message = format!("The change could not be saved durably: {e}");
                return S3Error::internal(message)
                    .into_response(&ctx.request_id, parts.method == Method::HEAD);
            }
            outcome.response
        })
    }

    /// The lifecycle sweeper: every bucket's rules applied to its records, every
    /// [`S3::lifecycle_interval`], once the state is loaded (so what fell due while the server
    /// was down goes at the first sweep).
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.lifecycle_interval());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let s3 = self.clone();
                let now = s3.now();
                match tokio::task::spawn_blocking(move || s3.sweep_lifecycle(now)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(n, "S3 lifecycle rules expired objects"),
                    Err(e) => tracing::warn!(error = %e, "the S3 lifecycle sweep failed"),
                }
            }
        });
    }

    /// S3 for other services (Lambda code from a bucket, Firehose deliveries): PutObject,
    /// GetObject, HeadObject, DeleteObject, ListObjectsV2, CreateBucket and HeadBucket in the
    /// model's neutral JSON shape ([`crate::invoke`]).
    /// (The runtime loads the state first and waits for the change to be durable after.)
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), AwsError>> {
        Box::pin(self.invoke_operation_in(Some(rt), ctx, operation, input))
    }

    fn internal_error(&self, ctx: &RequestContext, parts: &Parts, message: &str) -> Response {
        S3Error::internal(message.to_string())
            .into_response(&ctx.request_id, parts.method == Method::HEAD)
    }
}

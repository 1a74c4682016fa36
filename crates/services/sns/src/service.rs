//! SNS as a service of the registry: the query protocol through the model-driven codec
//! (`snapstack_protocol::codec::query`), and the delivery task.

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::{BoxFuture, Call, Endpoint, RequestContext, Runtime, Service};

use crate::{NAME, Sns};

/// An error in SNS's XML shape, with the status the model (or AWS's common errors) give its code.
pub fn error_response(ctx: &RequestContext, code: &str, message: &str) -> Response {
    snapstack_service::reply::query_error(Sns::model(), ctx, code, message)
}

impl Service for Sns {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    /// `/_aws/sns/...`: the signing certificates and the inspection endpoints (`inspect.rs`).
    fn claims_path(&self, path: &str) -> bool {
        path.starts_with("/_aws/sns/")
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        if self.claims_path(call.parts.uri.path()) {
            return Box::pin(async move {
                rt.ensure_loaded(NAME).await;
                match self.serve_inspection(call.parts) {
                    Some(r) => r,
                    None => (snapstack_protocol::http::StatusCode::NOT_FOUND, "Not found")
                        .into_response(),
                }
            });
        }
        Box::pin(snapstack_service::reply::serve_query(
            rt,
            NAME,
            Sns::model(),
            call,
            |ctx, operation, input| {
                self.handle(ctx, operation, input)
                    .map(|answer| (answer.output, answer.write_version))
            },
        ))
    }

    /// SNS for other services (EventBridge's topic targets): Publish and friends in the
    /// neutral JSON shape.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: serde_json::Value,
    ) -> BoxFuture<'a, Result<(serde_json::Value, Option<u64>), snapstack_protocol::errors::AwsError>>
    {
        Box::pin(async move {
            rt.ensure_loaded(NAME).await;
            self.handle(ctx, operation, &input)
                .map(|answer| (answer.output, answer.write_version))
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        error_response(ctx, "InternalError", message)
    }

    /// The delivery task (`delivery.rs`).
    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(crate::delivery::run(self, rt, stop));
    }

    fn bound(&self, endpoint: &Endpoint) {
        self.set_host(&endpoint.advertised_host);
    }
}

//! STS as a service of the registry (the query protocol).

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::response::Response;
use snapstack_service::reply::{finish, internal_error};
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{NAME, Sts};

impl Service for Sts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let params = match &call.payload {
                Payload::Form(Ok(p)) => p.as_slice(),
                Payload::Form(Err(bad)) => {
                    return AwsError::new(
                        "MalformedQueryString",
                        format!(
                            "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
                            bad.name, bad.byte
                        ),
                    )
                    .into_response(Protocol::Query, &ctx.request_id);
                }
                _ => &[],
            };
            let Some(action) = call.operation else {
                return AwsError::new("MissingAction", "Missing Action parameter")
                    .into_response(Protocol::Query, &ctx.request_id);
            };
            rt.ensure_loaded(NAME).await;
            let result = self.handle(ctx, action, params);
            finish(rt, NAME, Protocol::Query, ctx, result).await
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        internal_error(ctx, false, message)
    }
}

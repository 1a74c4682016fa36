//! SNS as a service of the registry: the query protocol through the model-driven codec
//! (`snapstack_protocol::codec::query`), and the delivery task.

use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_protocol::codec::query::{
    error_status, parse_input, serialize_error, serialize_output,
};
use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::reply::finish;
use snapstack_service::{
    BoxFuture, Call, Endpoint, Handled, Payload, RequestContext, Runtime, Service,
};

use crate::{NAME, Sns};

/// An error in SNS's XML shape, with the status the model gives its code.
pub fn error_response(ctx: &RequestContext, code: &str, message: &str) -> Response {
    let model = Sns::model();
    let status = error_status(model, code);
    let body = serialize_error(model, code, message, status < 500, &ctx.request_id);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn aws_error_response(ctx: &RequestContext, e: &AwsError) -> Response {
    error_response(ctx, &e.code, &e.message)
}

impl Service for Sns {
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
                    return error_response(
                        ctx,
                        "MalformedQueryString",
                        &format!(
                            "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
                            bad.name, bad.byte
                        ),
                    );
                }
                _ => &[],
            };
            let Some(operation) = call.operation else {
                return error_response(ctx, "MissingAction", "Missing Action parameter");
            };
            let model = Sns::model();
            let input = match parse_input(model, operation, params) {
                Ok(v) => v,
                Err(e) => return error_response(ctx, &e.code, &e.message),
            };
            rt.ensure_loaded(NAME).await;
            match self.handle(ctx, operation, &input) {
                Ok(answer) => {
                    let handled = Handled {
                        body: serialize_output(model, operation, &answer.output, &ctx.request_id),
                        content_type: "text/xml",
                        write_version: answer.write_version,
                    };
                    finish(rt, NAME, Protocol::Query, ctx, Ok(handled)).await
                }
                Err(e) => aws_error_response(ctx, &e),
            }
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

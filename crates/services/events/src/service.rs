//! EventBridge as a service of the registry (JSON 1.1, `X-Amz-Target: AWSEvents.*`), and its
//! background task (`delivery.rs`).

use std::sync::Arc;

use serde_json::Value;
use snapstack_engine::Engine;
use snapstack_protocol::codec::json;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::reply::model_violation;
use snapstack_service::{BoxFuture, Call, Endpoint, Payload, RequestContext, Runtime, Service};

use crate::{Events, NAME};

fn response(
    status: u16,
    headers: &[(String, String)],
    body: Vec<u8>,
    request_id: &str,
) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

fn error(e: &AwsError, request_id: &str) -> Response {
    let (status, headers, body) = json::serialize_error(Events::model(), &e.code, &e.message);
    let status = if e.status.as_u16() != 400 {
        e.status.as_u16()
    } else {
        status
    };
    response(status, &headers, body, request_id)
}

impl Events {
    /// Validate and run one call: the output (neutral JSON) and the version written.
    async fn call(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: Value,
        internal: bool,
    ) -> Result<(Value, Option<u64>), AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
            return Err(AwsError::new("ValidationException", message));
        }
        rt.ensure_loaded(NAME).await;
        let a = if internal {
            self.handle_internal(ctx, op, &input)?
        } else {
            self.handle(ctx, op, &input)?
        };
        Ok((a.output, a.write_version))
    }
}

impl Service for Events {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let model = Events::model();
            let (Some(op), Payload::Bytes(body)) = (call.operation, &call.payload) else {
                return error(
                    &AwsError::new(
                        "UnknownOperationException",
                        "EventBridge requests must name their operation in the X-Amz-Target header",
                    ),
                    &ctx.request_id,
                );
            };
            if !model.operations.contains_key(op) {
                return error(
                    &AwsError::new(
                        "UnknownOperationException",
                        format!("Operation {op} is not supported by this emulator's EventBridge."),
                    ),
                    &ctx.request_id,
                );
            }
            let input = match json::parse_input(model, op, body) {
                Ok(v) => v,
                Err(e) => {
                    return error(
                        &AwsError::new(&e.code, e.message).with_status(
                            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                        ),
                        &ctx.request_id,
                    );
                }
            };
            match self.call(rt, ctx, op, input, false).await {
                Ok((out, version)) => {
                    if let Some(v) = version
                        && let Err(e) = rt.wait_durable(NAME, v).await
                    {
                        return error(
                            &AwsError::internal(
                                "InternalException",
                                format!(
                                    "The change was applied but could not be saved durably: {e}"
                                ),
                            ),
                            &ctx.request_id,
                        );
                    }
                    let body = json::serialize_output(model, op, &out);
                    let headers = [(
                        "Content-Type".to_string(),
                        json::content_type(model).to_string(),
                    )];
                    response(200, &headers, body, &ctx.request_id)
                }
                Err(e) => error(&e, &ctx.request_id),
            }
        })
    }

    /// PutEvents for other services (and for event-bus targets): the neutral JSON shape.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), AwsError>> {
        Box::pin(async move {
            let out = self.call(rt, ctx, operation, input, true).await;
            if operation == "PutEvents" {
                self.wake.notify_one();
            }
            out
        })
    }

    fn internal_error(&self, ctx: &RequestContext, _parts: &Parts, message: &str) -> Response {
        error(
            &AwsError::internal("InternalException", message),
            &ctx.request_id,
        )
    }

    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(crate::delivery::run(self, rt, stop));
    }

    fn bound(&self, endpoint: &Endpoint) {
        self.set_host(&endpoint.advertised_host);
    }
}

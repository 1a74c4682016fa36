//! Answering a call: the success response of a [`Handled`], durability before the answer, and the
//! model's validation of a JSON input.

use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use crate::{Handled, RequestContext, Runtime};

/// A 200 with the handled body, its content type and the request id.
pub fn respond(h: Handled, request_id: &str) -> Response {
    let mut resp = (StatusCode::OK, h.body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(h.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", v);
    }
    resp
}

/// After a mutation: under `ON_REQUEST` save, answer only once the change is durable.
pub async fn finish(
    rt: &dyn Runtime,
    service: &'static str,
    protocol: Protocol,
    ctx: &RequestContext,
    result: Result<Handled, AwsError>,
) -> Response {
    match result {
        Ok(h) => {
            if let Some(v) = h.write_version
                && let Err(e) = rt.wait_durable(service, v).await
            {
                let code = match protocol {
                    Protocol::Json11 => "InternalServerError",
                    Protocol::Query => "InternalFailure",
                };
                return AwsError::internal(
                    code,
                    format!("The change could not be saved durably: {e}"),
                )
                .into_response(protocol, &ctx.request_id);
            }
            respond(h, &ctx.request_id)
        }
        Err(e) => e.into_response(protocol, &ctx.request_id),
    }
}

/// The model's validation of a JSON-protocol input (required members, enums, lengths, ranges),
/// in AWS's wording, to `depth` levels of nesting; `None` when it is valid.
pub fn model_violation(
    service: &str,
    op: &str,
    input: Option<&serde_json::Value>,
    depth: usize,
) -> Option<String> {
    use snapstack_protocol::{model, validate};
    let model = model::named(service)?;
    let empty = serde_json::Value::Object(Default::default());
    let v = validate::violations_to_depth(model, op, input.unwrap_or(&empty), depth);
    (!v.is_empty()).then(|| validate::message(&v))
}

/// The generic 500 for a panicked call, in the protocol the request looks like.
pub fn internal_error(ctx: &RequestContext, json: bool, message: &str) -> Response {
    if json {
        AwsError::internal("InternalServerError", message)
            .into_response(Protocol::Json11, &ctx.request_id)
    } else {
        AwsError::internal("InternalFailure", message)
            .into_response(Protocol::Query, &ctx.request_id)
    }
}

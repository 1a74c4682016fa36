//! Answering a call: the success response of a [`Handled`], a JSON-protocol [`Output`] and error
//! written by the model, durability before the answer, and the model's validation of a JSON
//! input.

use snapstack_protocol::codec::json;
use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode, header};
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::response::{IntoResponse, Response};

use crate::{Handled, Output, RequestContext, Runtime};

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

/// A query-protocol error in the model's XML shape, with the status the model (or AWS's
/// common errors) gives its code, `text/xml` and the request id.
pub fn query_error(
    model: &snapstack_protocol::model::ServiceModel,
    ctx: &RequestContext,
    code: &str,
    message: &str,
) -> Response {
    use snapstack_protocol::codec::query::{error_status, serialize_error};
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

/// One call of a query-protocol service, through the model-driven codec: the form parsed by
/// the operation's input shape, the service's state loaded, `handle` run on the neutral input
/// (returning the neutral output and the store version a change produced), and the output
/// written as XML once the change is durable; every refusal in the model's error shape.
pub async fn serve_query(
    rt: &dyn Runtime,
    service: &'static str,
    model: &snapstack_protocol::model::ServiceModel,
    call: crate::Call<'_>,
    handle: impl FnOnce(
        &RequestContext,
        &str,
        &serde_json::Value,
    ) -> Result<(serde_json::Value, Option<u64>), AwsError>,
) -> Response {
    use snapstack_protocol::codec::query::{parse_input, serialize_output};
    let ctx = call.ctx;
    let params = match &call.payload {
        crate::Payload::Form(Ok(p)) => p.as_slice(),
        crate::Payload::Form(Err(bad)) => {
            return query_error(
                model,
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
        return query_error(model, ctx, "MissingAction", "Missing Action parameter");
    };
    let input = match parse_input(model, operation, params) {
        Ok(v) => v,
        Err(e) => return query_error(model, ctx, &e.code, &e.message),
    };
    rt.ensure_loaded(service).await;
    match handle(ctx, operation, &input) {
        Ok((output, write_version)) => {
            let handled = Handled {
                body: serialize_output(model, operation, &output, &ctx.request_id),
                content_type: "text/xml",
                write_version,
            };
            finish(rt, service, Protocol::Query, ctx, Ok(handled)).await
        }
        Err(e) => query_error(model, ctx, &e.code, &e.message),
    }
}

/// A 200 of a JSON-protocol service: the operation's output written by the model
/// (`codec::json::serialize_output`: only the output shape's members, no `null`s), the
/// model's content type and the request id.
pub fn json_output(
    model: &ServiceModel,
    operation: &str,
    output: &serde_json::Value,
    request_id: &str,
) -> Response {
    let body = json::serialize_output(model, operation, output);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(json::content_type(model)),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// An error of a JSON-protocol service in the model's shape (`codec::json::serialize_error`:
/// the service's `__type` and message spelling, `x-amzn-ErrorType` or `x-amzn-query-error`).
/// The status is the one the service gave the error, except that a plain 400 for a code the
/// model lists takes the model's (its `httpStatusCode`, or 500 for a fault).
pub fn json_error(model: &ServiceModel, e: &AwsError, request_id: &str) -> Response {
    json_error_with(model, e, &serde_json::Map::new(), request_id)
}

/// [`json_error`] with members of the error shape besides the message (DynamoDB's `Item` of
/// `ConditionalCheckFailedException`), written by the model.
pub fn json_error_with(
    model: &ServiceModel,
    e: &AwsError,
    members: &serde_json::Map<String, serde_json::Value>,
    request_id: &str,
) -> Response {
    let (modelled, headers, body) = json::serialize_error_with(model, &e.code, &e.message, members);
    let listed = model.shape(&e.code).is_some_and(|s| s.exception);
    let status = if e.status == StatusCode::BAD_REQUEST && listed {
        StatusCode::from_u16(modelled).unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        e.status
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// After an operation of a JSON-protocol service: under `ON_REQUEST` save, wait until its change
/// is durable; then its output written by the model ([`json_output`]), or its error
/// ([`json_error`]).
pub async fn finish_json(
    rt: &dyn Runtime,
    service: &'static str,
    model: &ServiceModel,
    operation: &str,
    ctx: &RequestContext,
    result: Result<Output, AwsError>,
) -> Response {
    match result {
        Ok(out) => {
            if let Some(v) = out.write_version
                && let Err(e) = rt.wait_durable(service, v).await
            {
                let e = AwsError::internal(
                    "InternalServerError",
                    format!("The change could not be saved durably: {e}"),
                );
                return json_error(model, &e, &ctx.request_id);
            }
            json_output(model, operation, &out.value, &ctx.request_id)
        }
        Err(e) => json_error(model, &e, &ctx.request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use snapstack_protocol::model;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn parts(resp: Response) -> (u16, Vec<(String, String)>, String) {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let body = block(snapstack_protocol::body::to_bytes(
            resp.into_body(),
            1 << 20,
        ))
        .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn outputs_are_written_by_the_model_with_its_content_type() {
        let ssm = model::named("ssm").unwrap();
        let out = serde_json::json!({"Version": 2, "Tier": "Standard", "Gone": null});
        let (status, h, body) = parts(json_output(ssm, "PutParameter", &out, "rid"));
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"Tier":"Standard","Version":2}"#);
        assert_eq!(
            header(&h, "content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(header(&h, "x-amzn-requestid"), Some("rid"));
        let ddb = model::named("dynamodb").unwrap();
        let (_, h, body) = parts(json_output(ddb, "GetItem", &serde_json::json!({}), "r"));
        assert_eq!(body, "{}");
        assert_eq!(
            header(&h, "content-type"),
            Some("application/x-amz-json-1.0")
        );
    }

    #[test]
    fn errors_keep_their_status_unless_the_model_gives_a_listed_code_its_own() {
        let ssm = model::named("ssm").unwrap();
        let e = AwsError::new("ParameterNotFound", "Parameter /x not found.");
        let (status, h, body) = parts(json_error(ssm, &e, "rid"));
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"__type":"ParameterNotFound","message":"Parameter /x not found."}"#
        );
        assert_eq!(header(&h, "x-amzn-errortype"), Some("ParameterNotFound"));
        assert_eq!(header(&h, "x-amzn-requestid"), Some("rid"));
        // A fault of the model is a 500 even if the handler said 400.
        let kms = model::named("kms").unwrap();
        let e = AwsError::new("KMSInternalException", "m");
        assert_eq!(parts(json_error(kms, &e, "r")).0, 500);
        // Codes outside the model keep the handler's status.
        let sm = model::named("secretsmanager").unwrap();
        let e = AwsError::new("AccessDeniedException", "m");
        assert_eq!(parts(json_error(sm, &e, "r")).0, 400);
        let e = AwsError::new("NotImplemented", "m").with_status(StatusCode::NOT_IMPLEMENTED);
        assert_eq!(parts(json_error(sm, &e, "r")).0, 501);
        // DynamoDB's dialect, and the members an error shape has.
        let ddb = model::named("dynamodb").unwrap();
        let members = serde_json::json!({"Item": {"k": {"S": "v"}}});
        let e = AwsError::new("ConditionalCheckFailedException", "failed");
        let (status, h, body) = parts(json_error_with(ddb, &e, members.as_object().unwrap(), "r"));
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"Item":{"k":{"S":"v"}},"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"failed"}"#
        );
        assert_eq!(header(&h, "x-amzn-errortype"), None);
    }

    struct Failing;

    impl Runtime for Failing {
        fn ensure_loaded<'a>(&'a self, _: &'static str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn wait_durable<'a>(
            &'a self,
            _: &'static str,
            _: u64,
        ) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Err("disk full".to_string()) })
        }
        fn is_ready(&self, _: &str) -> bool {
            true
        }
        fn invoke<'a>(
            &'a self,
            _: &'a RequestContext,
            _: &'a str,
            _: &'a str,
            _: serde_json::Value,
        ) -> BoxFuture<'a, Result<serde_json::Value, AwsError>> {
            Box::pin(async { Err(AwsError::new("Nope", "m")) })
        }
    }

    #[test]
    fn a_change_that_is_not_durable_is_a_500_and_a_read_is_answered() {
        let ssm = model::named("ssm").unwrap();
        let ctx = RequestContext::from_scope(None);
        let out = Output::write(serde_json::json!({"Version": 1}), Some(3));
        let resp = block(finish_json(
            &Failing,
            "ssm",
            ssm,
            "PutParameter",
            &ctx,
            Ok(out),
        ));
        let (status, _, body) = parts(resp);
        assert_eq!(status, 500);
        assert!(body.contains(r#""__type":"InternalServerError""#), "{body}");
        assert!(body.contains("disk full"), "{body}");
        let out = Output::read(serde_json::json!({"Version": 1}));
        let resp = block(finish_json(
            &Failing,
            "ssm",
            ssm,
            "PutParameter",
            &ctx,
            Ok(out),
        ));
        let (status, _, body) = parts(resp);
        assert_eq!((status, body.as_str()), (200, r#"{"Version":1}"#));
    }
}

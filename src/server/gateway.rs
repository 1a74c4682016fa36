//! The AWS gateway: one HTTP endpoint for every service. A request goes to a service by its
//! `X-Amz-Target` (JSON protocols), its query `Action` (query protocol), or its SigV4 scope.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tracing::{debug, error};

use super::aws_request::{NotUtf8, RequestContext, parse_form};
use super::errors::{AwsError, Protocol};
use super::persistence::Persistence;
use super::services::{Handled, dynamodb, s3, sqs, ssm, sts};
use super::{request_log, state_api};

/// The largest request body accepted (larger ones get a 413).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Everything a request may reach.
pub struct App {
    pub s3: s3::S3,
    pub sqs: sqs::Sqs,
    pub ssm: ssm::Ssm,
    pub sts: sts::Sts,
    pub dynamodb: dynamodb::DynamoDb,
    pub persistence: Arc<Persistence>,
    /// When this server started, and the id of this run (`/_localstack/info`).
    pub started: std::time::Instant,
    pub session_id: String,
}

/// The HTTP router of the server.
pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

/// Every request. A panic while serving one is caught here and answered with a 500 in the
/// shape of the service addressed (nothing escapes to the connection task, and the process never
/// aborts: no profile sets `panic = "abort"`). Store writes publish nothing when they panic, and
/// every lock of the server recovers from poisoning, so the next request is served normally.
async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = RequestContext::from_request(&parts.headers, parts.uri.query());
    let started = std::time::Instant::now();
    let resp = match AssertUnwindSafe(route(&app, &parts, body, &ctx))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(panic) => panicked(&parts, &ctx, panic.as_ref()),
    };
    request_log::log(&parts, &resp, started);
    resp
}

/// The 500 for a request whose handler panicked: DynamoDB's, S3's or the protocol's
/// internal-error shape.
fn panicked(
    parts: &axum::http::request::Parts,
    ctx: &RequestContext,
    panic: &(dyn std::any::Any + Send),
) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    error!(
        method = %parts.method,
        path = parts.uri.path(),
        request_id = %ctx.request_id,
        panic = what,
        "a request handler panicked; answered 500"
    );
    let message = "We encountered an internal error. Please try again.";
    let target = header_str(&parts.headers, "x-amz-target");
    let content_type = header_str(&parts.headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if target.is_some_and(|t| t.starts_with("DynamoDB_")) {
        return dynamodb::DdbError::internal(message).into_response(&ctx.request_id);
    }
    if is_s3(parts, ctx, target.is_some(), &content_type) {
        return s3::S3Error::internal(message)
            .into_response(&ctx.request_id, parts.method == Method::HEAD);
    }
    if target.is_some() || content_type.contains("json") {
        AwsError::internal("InternalServerError", message)
            .into_response(Protocol::Json11, &ctx.request_id)
    } else {
        AwsError::internal("InternalFailure", message)
            .into_response(Protocol::Query, &ctx.request_id)
    }
}

async fn route(
    app: &Arc<App>,
    parts: &axum::http::request::Parts,
    body: Body,
    ctx: &RequestContext,
) -> Response {
    #[cfg(test)]
    tests::hook(app, parts);
    if parts.uri.path().starts_with("/_localstack") {
        return state_api::handle(app, parts, body).await;
    }
    let target = header_str(&parts.headers, "x-amz-target").map(str::to_string);
    let content_type = header_str(&parts.headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if is_s3(parts, ctx, target.is_some(), &content_type) {
        return serve_s3(app, ctx, parts, body).await;
    }
    let protocol = if target.is_some() || content_type.contains("json") {
        Protocol::Json11
    } else {
        Protocol::Query
    };
    let body = match read_body(body, &parts.headers).await {
        Ok(b) => b,
        Err(e) => return e.into_response(protocol, &ctx.request_id),
    };

    if let Some(target) = target {
        let Some((prefix, op)) = target.split_once('.') else {
            return AwsError::new(
                "UnknownOperationException",
                format!("Invalid X-Amz-Target header: {target}"),
            )
            .into_response(protocol, &ctx.request_id);
        };
        return match prefix {
            "AmazonSSM" => request_log::tag(serve_ssm(app, ctx, op, &body).await, "ssm", op),
            "DynamoDB_20120810" => {
                request_log::tag(serve_dynamodb(app, ctx, op, &body).await, "dynamodb", op)
            }
            "AmazonSQS" => request_log::tag(
                serve_sqs(app, ctx, parts, sqs::Wire::Json, op, &body, &[]).await,
                "sqs",
                op,
            ),
            _ => AwsError::new(
                "UnknownOperationException",
                format!("No service of this emulator handles X-Amz-Target {target}"),
            )
            .into_response(Protocol::Json11, &ctx.request_id),
        };
    }

    // The query protocol: parameters in the query string and, for a form POST, the body.
    // Parameters that are not UTF-8 once percent-decoded are refused, never altered.
    let mut params = match parse_form(parts.uri.query().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(bad) => return not_utf8(bad, parts, ctx),
    };
    if parts.method == Method::POST && content_type.starts_with("application/x-www-form-urlencoded")
    {
        match parse_form(&body) {
            Ok(p) => params.extend(p),
            Err(bad) => return not_utf8(bad, parts, ctx),
        }
    }
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone());
    let scope = ctx.scope_service.clone();
    match (action, scope.as_deref()) {
        // Signed for SQS, or unsigned and naming an SQS action.
        (Some(action), scope)
            if scope == Some("sqs") || (scope.is_none() && sqs::is_operation(&action)) =>
        {
            request_log::tag(
                serve_sqs(app, ctx, parts, sqs::Wire::Query, &action, &[], &params).await,
                "sqs",
                &action,
            )
        }
        (Some(action), None | Some("sts")) => {
            request_log::tag(serve_sts(app, ctx, &action, &params).await, "sts", &action)
        }
        (Some(action), Some(other)) => AwsError::new(
            "InvalidAction",
            format!("Service {other} (action {action}) is not supported by this emulator"),
        )
        .into_response(Protocol::Query, &ctx.request_id),
        (None, Some("sqs")) => {
            serve_sqs(app, ctx, parts, sqs::Wire::Query, "", &[], &params).await
        }
        (None, Some("ssm")) => AwsError::new(
            "UnknownOperationException",
            "SSM requests must name their operation in the X-Amz-Target header",
        )
        .into_response(Protocol::Json11, &ctx.request_id),
        (None, Some("dynamodb")) => dynamodb::DdbError::new(
            "UnknownOperationException",
            "DynamoDB requests must name their operation in the X-Amz-Target header (DynamoDB_20120810.<Operation>)",
        )
        .into_response(&ctx.request_id),
        (None, Some("sts")) => AwsError::new("MissingAction", "Missing Action parameter")
            .into_response(Protocol::Query, &ctx.request_id),
        (None, scope) => {
            let msg = match scope {
                Some(s) => format!("Service {s} is not supported by this emulator"),
                None => "The request names no service or operation (no X-Amz-Target, Action or SigV4 scope)".to_string(),
            };
            let code = if protocol == Protocol::Json11 {
                "UnknownOperationException"
            } else {
                "InvalidAction"
            };
            AwsError::new(code, msg).into_response(protocol, &ctx.request_id)
        }
    }
}

/// A query-protocol parameter that is not UTF-8 once percent-decoded. An SQS message body gets
/// SQS's own answer for characters it cannot hold (InvalidMessageContents, worded as SQS words it,
/// naming the first offending byte); any other parameter the query protocol's
/// MalformedQueryString, in SQS's error shape for an SQS request. Storing the text with U+FFFD
/// instead, as before, kept something the client never sent.
fn not_utf8(bad: NotUtf8, parts: &axum::http::request::Parts, ctx: &RequestContext) -> Response {
    if bad.name == "MessageBody" || bad.name.ends_with(".MessageBody") {
        let e = sqs::SqsError::invalid_contents(format!(
            "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].",
            bad.byte
        ));
        return sqs::query::error(&e, &ctx.request_id);
    }
    let message = format!(
        "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
        bad.name, bad.byte
    );
    let to_sqs = ctx.scope_service.as_deref() == Some("sqs")
        || (ctx.scope_service.is_none() && parts.uri.path().trim_matches('/').contains('/'));
    if to_sqs {
        return sqs::query::error(&sqs::SqsError::serialization(message), &ctx.request_id);
    }
    AwsError::new("MalformedQueryString", message).into_response(Protocol::Query, &ctx.request_id)
}

/// S3 is REST: its requests name no operation. They are signed for `s3`, or carry neither an
/// `X-Amz-Target` nor a query `Action` nor a form-encoded POST body.
fn is_s3(
    parts: &axum::http::request::Parts,
    ctx: &RequestContext,
    has_target: bool,
    content_type: &str,
) -> bool {
    if let Some(s) = ctx.scope_service.as_deref() {
        // S3's model signs its operations as `s3`, S3 Express control operations
        // (ListDirectoryBuckets, CreateSession) as `s3express`, WriteGetObjectResponse as
        // `s3-object-lambda`: all of them are S3 requests.
        return matches!(s, "s3" | "s3express" | "s3-object-lambda");
    }
    // A query-protocol call is a form POST (or names its Action in the query string).
    if has_target
        || (parts.method == Method::POST
            && content_type.starts_with("application/x-www-form-urlencoded"))
    {
        return false;
    }
    let query = parts.uri.query().unwrap_or("");
    !query
        .split('&')
        .any(|p| p.starts_with("Action=") || p == "Action")
}

async fn serve_s3(
    app: &App,
    ctx: &RequestContext,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Response {
    app.persistence.ensure_loaded(s3::NAME).await;
    let (outcome, undo) = s3::durability::with_undo(app.s3.handle(ctx, parts, body)).await;
    if let Some(v) = outcome.write_version
        && let Err(e) = app.persistence.wait_durable(s3::NAME, v).await
    {
        // A PutObject is undone, so its body is owed to no later save (`s3::durability`).
        let message = if undo.is_some_and(|u| app.s3.roll_back(u)) {
            format!("The object could not be saved durably, so it was not stored: {e}")
        } else {
            format!("The change was applied but could not be saved durably: {e}")
        };
        return s3::S3Error::internal(message)
            .into_response(&ctx.request_id, parts.method == Method::HEAD);
    }
    outcome.response
}

fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, AwsError> {
    let too_large = || {
        AwsError::new(
            "RequestEntityTooLarge",
            format!("The request body is larger than {MAX_BODY} bytes"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    if let Some(len) = header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
        && len > MAX_BODY as u64
    {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        debug!(error = %e, "reading a request body failed");
        body_error(e.into_inner().as_ref()).unwrap_or_else(too_large)
    })
}

/// A request body that failed other than by its size: the client stalled or went away.
fn body_error(e: &(dyn std::error::Error + 'static)) -> Option<AwsError> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.is::<http_body_util::LengthLimitError>() {
            return None;
        }
        cur = e.source();
    }
    let (code, message) = if super::listener::is_body_timeout(e) {
        (
            "RequestTimeout",
            format!(
                "Your socket connection to the server was not read from or written to within the timeout period: {e}"
            ),
        )
    } else {
        (
            "IncompleteBody",
            format!("The request body could not be read: {e}"),
        )
    };
    Some(AwsError::new(code, message).with_status(StatusCode::BAD_REQUEST))
}

fn respond(h: Handled, request_id: &str) -> Response {
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
async fn finish(
    app: &App,
    service: &'static str,
    protocol: Protocol,
    ctx: &RequestContext,
    result: Result<Handled, AwsError>,
) -> Response {
    match result {
        Ok(h) => {
            if let Some(v) = h.write_version
                && let Err(e) = app.persistence.wait_durable(service, v).await
            {
                let code = match protocol {
                    Protocol::Json11 => "InternalServerError",
                    Protocol::Query => "InternalFailure",
                };
                return AwsError::internal(
                    code,
                    format!("The change was applied but could not be saved durably: {e}"),
                )
                .into_response(protocol, &ctx.request_id);
            }
            respond(h, &ctx.request_id)
        }
        Err(e) => e.into_response(protocol, &ctx.request_id),
    }
}

/// The model's validation of a JSON-protocol input (required members, enums, lengths, ranges),
/// in AWS's wording; `None` when it is valid.
fn model_violation(
    service: &str,
    op: &str,
    input: Option<&serde_json::Value>,
    depth: usize,
) -> Option<String> {
    let model = crate::protocol::model::named(service)?;
    let empty = serde_json::Value::Object(Default::default());
    let v =
        crate::protocol::validate::violations_to_depth(model, op, input.unwrap_or(&empty), depth);
    (!v.is_empty()).then(|| crate::protocol::validate::message(&v))
}

async fn serve_ssm(app: &App, ctx: &RequestContext, op: &str, body: &[u8]) -> Response {
    // Parsed once: validated against the model, then handed to the operation. A body that does
    // not parse goes to SSM as bytes, whose parser answers with its SerializationException.
    let empty = body.iter().all(u8::is_ascii_whitespace);
    let parsed: Option<serde_json::Value> = if empty {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    if (empty || parsed.is_some())
        && let Some(message) = model_violation("ssm", op, parsed.as_ref(), usize::MAX)
    {
        return AwsError::new("ValidationException", message)
            .into_response(Protocol::Json11, &ctx.request_id);
    }
    app.persistence.ensure_loaded(ssm::NAME).await;
    let result = match &parsed {
        Some(v) => app.ssm.handle_body(ctx, op, &ssm::Body::Json(v)),
        None => app.ssm.handle(ctx, op, body),
    };
    finish(app, ssm::NAME, Protocol::Json11, ctx, result).await
}

async fn serve_dynamodb(app: &App, ctx: &RequestContext, op: &str, body: &[u8]) -> Response {
    // Parsed once: validated against the model, then handed to the operation.
    let input = match dynamodb::DynamoDb::parse_body(body) {
        Ok(v) => v,
        Err(e) => return e.into_response(&ctx.request_id),
    };
    if let Some(message) = model_violation("dynamodb", op, Some(&input), 1) {
        return dynamodb::DdbError::validation(message).into_response(&ctx.request_id);
    }
    app.persistence.ensure_loaded(dynamodb::NAME).await;
    // Deleting a table, adding an index (backfill) or switching TTL on walks every item of the
    // table: let the runtime move other tasks off this worker meanwhile.
    let heavy = matches!(op, "DeleteTable" | "UpdateTable" | "UpdateTimeToLive")
        && tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
    let result = if heavy {
        tokio::task::block_in_place(|| app.dynamodb.handle_value(ctx, op, &input))
    } else {
        app.dynamodb.handle_value(ctx, op, &input)
    };
    match result {
        Ok(h) => finish(app, dynamodb::NAME, Protocol::Json11, ctx, Ok(h)).await,
        Err(e) => e.into_response(&ctx.request_id),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_sqs(
    app: &App,
    ctx: &RequestContext,
    parts: &axum::http::request::Parts,
    wire: sqs::Wire,
    op: &str,
    body: &[u8],
    params: &[(String, String)],
) -> Response {
    sqs::serve(
        &app.sqs,
        &app.persistence,
        ctx,
        parts,
        wire,
        op,
        body,
        params,
    )
    .await
}

async fn serve_sts(
    app: &App,
    ctx: &RequestContext,
    action: &str,
    params: &[(String, String)],
) -> Response {
    app.persistence.ensure_loaded(sts::NAME).await;
    let result = app.sts.handle(ctx, action, params);
    finish(app, sts::NAME, Protocol::Query, ctx, result).await
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;

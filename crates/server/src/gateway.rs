//! The AWS gateway: one HTTP endpoint for every service. A request finds its service from the
//! models' metadata through the [`Registry`]: its `X-Amz-Target` prefix (JSON protocols), its
//! SigV4 scope, its query `Action` (query protocol), or, naming none of these, the REST service.
//! The gateway names no service.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tracing::{debug, error};

use crate::persistence::Persistence;
use crate::registry::{Registry, service_is_rest};
use crate::runtime::AppRuntime;
use crate::{state_api, unserved};
use snapstack_protocol::codec::cbor;
use snapstack_protocol::errors::{AwsError, Protocol};
use snapstack_protocol::request::parse_form;
use snapstack_protocol::request_log;
use snapstack_service::{Call, Payload, RequestContext, Service};

/// The largest request body accepted (larger ones get a 413).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Everything a request may reach.
pub struct App {
    pub services: Arc<Registry>,
    pub persistence: Arc<Persistence>,
    /// The engine whose chunk store holds the stores' blobs: the persistent one, or one in
    /// memory when persistence is off (pods load into it either way).
    pub blob_engine: Arc<snapstack_engine::Engine>,
    /// What services get from the server while they serve.
    pub runtime: Arc<AppRuntime>,
    /// The init hooks and how they ran (`/_localstack/init`).
    pub init: Arc<crate::init_hooks::InitHooks>,
    /// When this server started, and the id of this run (`/_localstack/info`).
    pub started: std::time::Instant,
    pub session_id: String,
    /// The configuration this server runs with (`/_localstack/diagnose`).
    pub config: crate::config::Config,
    /// Request and persistence counters (`/_localstack/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// IAM policy enforcement (`ENFORCE_IAM=1`); `None`: off, no work per request.
    pub enforcer: Option<Arc<crate::enforce::Enforcer>>,
}

impl App {
    /// A service by its concrete type (tests, benchmarks, fuzzing).
    pub fn service<T: Service>(&self) -> Arc<T> {
        self.services.get::<T>().expect("the service is registered")
    }
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
    let mut resp = match AssertUnwindSafe(route(&app, &parts, body, &ctx))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(panic) => panicked(&app, &parts, &ctx, panic.as_ref()),
    };
    if expects_continue(&parts.headers) && !resp.status().is_success() {
        close_after(&mut resp);
    }
    let elapsed = started.elapsed();
    if !parts.uri.path().starts_with("/_localstack") {
        let called = resp
            .extensions()
            .get::<request_log::Called>()
            .map(|c| (c.service, c.operation.as_str()));
        app.metrics.request(called, resp.status().as_u16(), elapsed);
    }
    request_log::log(&parts, &resp, started);
    resp
}

/// Whether the client asked `Expect: 100-continue` (boto3 does on every `PutObject` and
/// `UploadPart`): it sends the body only after `100 Continue`, or after its own timeout.
fn expects_continue(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Say `Connection: close` in an answer. An error answer to a request that expected
/// `100 Continue` may come before its body was read; whether the client will still send the
/// body is unknowable, so hyper closes such a connection after the answer. Saying so lets the
/// client open a new one rather than race the close and reuse the dying one (botocore then
/// takes the next request's answer for this one's: a 400 with no headers).
fn close_after(resp: &mut Response) {
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
}

/// The 500 for a request whose handler panicked, in the shape of the service it was routed to
/// (or of the protocol it looks like).
fn panicked(
    app: &App,
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
    if let Some(service) = service_of(app, parts, ctx) {
        return service.internal_error(ctx, parts, message);
    }
    snapstack_service::reply::internal_error(ctx, looks_json(parts), message)
}

fn looks_json(parts: &axum::http::request::Parts) -> bool {
    header_str(&parts.headers, "x-amz-target").is_some()
        || header_str(&parts.headers, "content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("json"))
}

fn is_form_post(parts: &axum::http::request::Parts) -> bool {
    parts.method == Method::POST
        && header_str(&parts.headers, "content-type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn query_names_action(parts: &axum::http::request::Parts) -> bool {
    parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| p.starts_with("Action=") || p == "Action")
}

/// The REST service a request goes to: the one its signature names, or, unsigned and naming no
/// target, form or `Action`, the registry's REST service.
fn rest_service<'a>(
    app: &'a App,
    parts: &axum::http::request::Parts,
    ctx: &RequestContext,
) -> Option<&'a Arc<dyn Service>> {
    if let Some(scope) = ctx.scope_service.as_deref() {
        return app
            .services
            .by_signing_name(scope)
            .filter(|s| service_is_rest(s.as_ref()));
    }
    if header_str(&parts.headers, "x-amz-target").is_some()
        || is_form_post(parts)
        || query_names_action(parts)
    {
        return None;
    }
    // An unsigned URL a REST service handed out (Lambda's Code.Location).
    if let Some(s) = app.services.rest_claiming_path(parts.uri.path()) {
        return Some(s);
    }
    app.services.default_rest()
}

/// The service that claims a request by its address alone (Lambda function URLs:
/// `<url-id>.lambda-url.<region>.<host>`), before any other routing: such a request may carry
/// any method, path, headers or body.
fn service_by_address<'a>(
    app: &'a App,
    parts: &axum::http::request::Parts,
) -> Option<&'a Arc<dyn Service>> {
    let host = header_str(&parts.headers, "host").or(parts.uri.host());
    let path = parts.uri.path();
    app.services
        .addressed()
        .iter()
        .find(|s| s.claims_address(host, path))
}

/// Which service a request is for, as far as its headers tell (for the 500 of a panic).
fn service_of<'a>(
    app: &'a App,
    parts: &axum::http::request::Parts,
    ctx: &RequestContext,
) -> Option<&'a Arc<dyn Service>> {
    if let Some(s) = service_by_address(app, parts) {
        return Some(s);
    }
    if let Some(rest) = rest_service(app, parts, ctx) {
        return Some(rest);
    }
    if let Some(target) = header_str(&parts.headers, "x-amz-target") {
        return app.services.by_target(target.split_once('.')?.0);
    }
    ctx.scope_service
        .as_deref()
        .and_then(|s| app.services.by_signing_name(s))
}

async fn route(
    app: &Arc<App>,
    parts: &axum::http::request::Parts,
    body: Body,
    ctx: &RequestContext,
) -> Response {
    #[cfg(test)]
    tests::hook(app, parts);
    #[cfg(feature = "pods")]
    if parts.uri.path().starts_with("/_localstack/pods") {
        return crate::pods_api::handle(app, parts, body).await;
    }
    if parts.uri.path().starts_with("/_localstack") {
        return state_api::handle(app, parts, body).await;
    }
    // A service's own addresses (Lambda function URLs), then `/_aws/<service>/...`: a
    // service's own endpoints (SNS's signing certificates and inspection listings), as
    // LocalStack serves them.
    let claimed = service_by_address(app, parts).or_else(|| {
        parts
            .uri
            .path()
            .strip_prefix("/_aws/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|name| app.services.by_name(name))
            .filter(|s| s.claims_path(parts.uri.path()))
    });
    if let Some(service) = claimed {
        let call = Call {
            ctx,
            parts,
            operation: None,
            payload: Payload::Stream(body),
            parsed: None,
            routed: None,
        };
        return service.serve(app.runtime.as_ref(), call).await;
    }
    // smithy-rpc-v2-cbor: `POST /service/<Service>/operation/<Operation>`.
    if parts.method == Method::POST
        && parts.headers.contains_key("smithy-protocol")
        && let Some((prefix, op)) = cbor::operation_from_path(parts.uri.path())
    {
        if let Some(service) = app.services.by_target(prefix).filter(|s| {
            let p = &s.model().metadata.protocols;
            p.iter().any(|p| p == "smithy-rpc-v2-cbor")
        }) {
            let body = match read_body(body, &parts.headers).await {
                Ok(b) => b,
                Err(e) => return e.into_response(Protocol::Json11, &ctx.request_id),
            };
            let call = Call {
                ctx,
                parts,
                operation: Some(op),
                payload: Payload::Bytes(body),
                parsed: None,
                routed: None,
            };
            let resp = dispatch(app, service, call, None).await;
            return request_log::tag(resp, service.name(), op);
        }
        if let Some(m) = unserved::by_target(prefix) {
            return unserved::cbor_request(m, op, &ctx.request_id);
        }
    }
    // Signed for a service whose model is embedded but that is not served yet: a REST one is
    // matched to its operation here; the others below, by target or action.
    if let Some(scope) = ctx.scope_service.as_deref()
        && app.services.by_signing_name(scope).is_none()
        && let Some(m) = unserved::by_signing_name(scope)
        && crate::registry::is_rest(m)
    {
        return unserved::rest_request(m, parts, &ctx.request_id);
    }
    if let Some(service) = rest_service(app, parts, ctx) {
        let call = Call {
            ctx,
            parts,
            operation: None,
            payload: Payload::Stream(body),
            parsed: None,
            routed: None,
        };
        return dispatch(app, service, call, None).await;
    }
    let target = header_str(&parts.headers, "x-amz-target").map(str::to_string);
    let protocol = if target.is_some() || looks_json(parts) {
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
        let Some(service) = app.services.by_target(prefix) else {
            if let Some(m) = unserved::by_target(prefix) {
                return unserved::json_request(m, op, &ctx.request_id);
            }
            return AwsError::new(
                "UnknownOperationException",
                format!("No service of this emulator handles X-Amz-Target {target}"),
            )
            .into_response(Protocol::Json11, &ctx.request_id);
        };
        let call = Call {
            ctx,
            parts,
            operation: Some(op),
            payload: Payload::Bytes(body),
            parsed: None,
            routed: None,
        };
        let resp = dispatch(app, service, call, None).await;
        return request_log::tag(resp, service.name(), op);
    }

    // The query protocol: parameters in the query string and, for a form POST, the body.
    // Parameters that are not UTF-8 once percent-decoded are refused, never altered: the
    // service addressed answers in its own shape.
    let form = parse_form(parts.uri.query().unwrap_or("").as_bytes()).and_then(|mut params| {
        if is_form_post(parts) {
            params.extend(parse_form(&body)?);
        }
        Ok(params)
    });
    let scope = ctx.scope_service.as_deref();
    let scoped = scope.and_then(|s| app.services.by_signing_name(s));
    let params = match form {
        Ok(p) => p,
        Err(bad) => {
            // The service the signature names, else the one whose action the request names
            // (read lossily: the action itself is plain ASCII), else the one the path is of.
            let path = parts.uri.path();
            let lossy_action = || {
                let mut pairs: Vec<(String, String)> =
                    serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
                if is_form_post(parts) {
                    pairs.extend(
                        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                            .unwrap_or_default(),
                    );
                }
                pairs
                    .into_iter()
                    .find(|(k, _)| k == "Action")
                    .map(|(_, v)| v)
            };
            let to = scoped.or_else(|| {
                if scope.is_some() {
                    return None;
                }
                lossy_action()
                    .and_then(|a| app.services.by_query_action(&a))
                    .or_else(|| app.services.claiming_path(path))
            });
            return match to {
                Some(service) => {
                    let call = Call {
                        ctx,
                        parts,
                        operation: None,
                        payload: Payload::Form(Err(bad.clone())),
                        parsed: None,
                        routed: None,
                    };
                    dispatch(app, service, call, Some(&body)).await
                }
                None => AwsError::new(
                    "MalformedQueryString",
                    format!(
                        "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
                        bad.name, bad.byte
                    ),
                )
                .into_response(Protocol::Query, &ctx.request_id),
            };
        }
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let action = param("Action");
    let version = param("Version");
    let service = match (&action, scope) {
        // Signed for a service: that service, if it speaks the query protocol.
        (Some(action), Some(s)) => {
            match scoped.filter(|s| crate::registry::speaks_query(s.model())) {
                Some(service) => service,
                None if scoped.is_none()
                    && unserved::by_signing_name(s).is_some_and(crate::registry::speaks_query) =>
                {
                    let m = unserved::by_signing_name(s).expect("checked just above");
                    return unserved::query_request(m, Some(action), &ctx.request_id);
                }
                None => {
                    return AwsError::new(
                        "InvalidAction",
                        format!("Service {s} (action {action}) is not supported by this emulator"),
                    )
                    .into_response(Protocol::Query, &ctx.request_id);
                }
            }
        }
        // Unsigned: the service whose model has the action, or whose API version it names.
        (Some(action), None) => match app.services.by_query_action(action).or_else(|| {
            version
                .as_deref()
                .and_then(|v| app.services.by_api_version(v))
        }) {
            Some(service) => service,
            None => {
                if let Some(m) = unserved::by_query_action(action) {
                    return unserved::query_request(m, Some(action), &ctx.request_id);
                }
                return AwsError::new(
                    "InvalidAction",
                    format!("Could not find operation {action} for this emulator"),
                )
                .into_response(Protocol::Query, &ctx.request_id);
            }
        },
        // No action: the service the signature names answers in its own shape.
        (None, Some(s)) => match scoped {
            Some(service) => service,
            None if unserved::by_signing_name(s).is_some_and(crate::registry::speaks_query) => {
                let m = unserved::by_signing_name(s).expect("checked just above");
                return unserved::query_request(m, None, &ctx.request_id);
            }
            None => {
                return AwsError::new(
                    if protocol == Protocol::Json11 {
                        "UnknownOperationException"
                    } else {
                        "InvalidAction"
                    },
                    format!("Service {s} is not supported by this emulator"),
                )
                .into_response(protocol, &ctx.request_id);
            }
        },
        (None, None) => {
            let msg = "The request names no service or operation (no X-Amz-Target, Action or SigV4 scope)";
            let code = if protocol == Protocol::Json11 {
                "UnknownOperationException"
            } else {
                "InvalidAction"
            };
            return AwsError::new(code, msg).into_response(protocol, &ctx.request_id);
        }
    };
    let call = Call {
        ctx,
        parts,
        operation: action.as_deref(),
        payload: Payload::Form(Ok(params)),
        parsed: None,
        routed: None,
    };
    let resp = dispatch(app, service, call, Some(&body)).await;
    match &action {
        Some(a) => request_log::tag(resp, service.name(), a),
        None => resp,
    }
}

/// Serve a call: straight to the service, or through IAM policy enforcement when it is on.
/// `raw_body` is the body as received, when the gateway read it (query requests).
async fn dispatch(
    app: &App,
    service: &Arc<dyn Service>,
    call: Call<'_>,
    raw_body: Option<&Bytes>,
) -> Response {
    match &app.enforcer {
        None => service.serve(app.runtime.as_ref(), call).await,
        Some(enforcer) => enforcer.serve(app, service, call, raw_body).await,
    }
}

fn header_str<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, AwsError> {
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
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        debug!(error = %e, "reading a request body failed");
        body_error(e.into_inner().as_ref()).unwrap_or_else(too_large)
    })?;
    if is_gzip(headers) {
        return gunzip(&bytes)
            .ok_or_else(|| {
                AwsError::new(
                    "SerializationException",
                    "The request body is not valid gzip (Content-Encoding: gzip)",
                )
            })?
            .ok_or_else(too_large);
    }
    Ok(bytes)
}

/// Whether a body of the JSON, query or CBOR protocols is gzip-compressed: SDKs compress the
/// bodies of operations with the `requestcompression` trait (CloudWatch PutMetricData) once
/// they pass 10 KiB, and say so with `Content-Encoding: gzip`. (REST bodies are not read here:
/// for S3 that header is object metadata.)
fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all("content-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|c| c.trim().eq_ignore_ascii_case("gzip"))
}

/// The gunzipped body: `None` when it is not gzip, `Some(None)` when it inflates past
/// [`MAX_BODY`] (read no further: a small bomb cannot take memory).
fn gunzip(bytes: &[u8]) -> Option<Option<Bytes>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(bytes).take(MAX_BODY as u64 + 1);
    d.read_to_end(&mut out).ok()?;
    if out.len() > MAX_BODY {
        return Some(None);
    }
    Some(Some(Bytes::from(out)))
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

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;

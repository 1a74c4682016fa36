//! Requests for services whose model is embedded (`snapstack_protocol::model::EMBEDDED`) but
//! that no registered service serves yet. Each is matched to its operation by the model and
//! answered 501 `NotImplemented`, naming the service and the operation, in the protocol the
//! client spoke (JSON, query XML, rest-json, rest-xml or CBOR). Nothing is read beyond what
//! routing needs and nothing is stored: an unknown request touches nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use snapstack_protocol::codec::{cbor, json, query};
use snapstack_protocol::errors::xml_escape;
use snapstack_protocol::model::{self, ServiceModel};
use snapstack_protocol::rest::{RestRequest, RestRouter};

/// The embedded models by what addresses them on the wire.
struct Index {
    by_target: HashMap<&'static str, &'static ServiceModel>,
    by_signing_name: HashMap<&'static str, &'static ServiceModel>,
    /// The embedded name (`sns`) of each model, by service id.
    names: HashMap<&'static str, &'static str>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_target = HashMap::new();
        let mut by_signing_name = HashMap::new();
        let mut names = HashMap::new();
        for name in model::EMBEDDED {
            let Some(m) = model::named(name) else {
                continue;
            };
            names.insert(m.metadata.service_id.as_str(), *name);
            if let Some(prefix) = m.metadata.target_prefix.as_deref() {
                by_target.entry(prefix).or_insert(m);
            }
            by_signing_name.entry(model::signing_name(m)).or_insert(m);
        }
        Index {
            by_target,
            by_signing_name,
            names,
        }
    })
}

/// The embedded model a JSON or CBOR target prefix names.
pub fn by_target(prefix: &str) -> Option<&'static ServiceModel> {
    index().by_target.get(prefix).copied()
}

/// The embedded model a SigV4 signing name names.
pub fn by_signing_name(name: &str) -> Option<&'static ServiceModel> {
    index().by_signing_name.get(name).copied()
}

/// The embedded query-protocol model with this action (unsigned requests).
pub fn by_query_action(action: &str) -> Option<&'static ServiceModel> {
    model::EMBEDDED
        .iter()
        .filter_map(|n| model::named(n))
        .find(|m| m.metadata.protocol == "query" && m.operations.contains_key(action))
}

/// The embedded name of a model (`sns`).
pub fn name_of(m: &ServiceModel) -> &'static str {
    index()
        .names
        .get(m.metadata.service_id.as_str())
        .copied()
        .unwrap_or("unknown")
}

/// Services this build has but `SERVICES` left out (set once at start).
static DISABLED: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Remember which services `SERVICES` left out, for the messages of their requests.
pub fn set_disabled(names: &[&'static str]) {
    let _ = DISABLED.set(names.to_vec());
}

fn message(m: &ServiceModel, operation: &str) -> String {
    let name = name_of(m);
    if DISABLED.get().is_some_and(|d| d.contains(&name)) {
        return format!(
            "Service '{name}' is not enabled. Please check your 'SERVICES' configuration variable. (operation {operation})"
        );
    }
    model::not_implemented_message(&m.metadata.service_id, operation)
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

fn raw(status: u16, headers: Vec<(String, String)>, body: Vec<u8>, request_id: &str) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_IMPLEMENTED),
        Body::from(body),
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    with_request_id(resp, request_id)
}

/// A JSON-protocol request (`X-Amz-Target: Prefix.Operation`).
pub fn json_request(m: &ServiceModel, operation: &str, request_id: &str) -> Response {
    let (code, msg, status) = if m.operations.contains_key(operation) {
        ("NotImplemented", message(m, operation), 501)
    } else {
        (
            "UnknownOperationException",
            format!("Unknown operation {operation}"),
            400,
        )
    };
    let (_, headers, body) = json::serialize_error(m, code, &msg);
    raw(status, headers, body, request_id)
}

/// A CBOR request (`POST /service/<Service>/operation/<Operation>`).
pub fn cbor_request(m: &ServiceModel, operation: &str, request_id: &str) -> Response {
    let (code, msg, status) = if m.operations.contains_key(operation) {
        ("NotImplemented", message(m, operation), 501)
    } else {
        (
            "UnknownOperationException",
            format!("Unknown operation {operation}"),
            400,
        )
    };
    let (_, headers, body) = cbor::serialize_error(m, code, &msg);
    raw(status, headers, body, request_id)
}

/// A query-protocol request (`Action=...`).
pub fn query_request(m: &ServiceModel, action: Option<&str>, request_id: &str) -> Response {
    let (code, msg, status) = match action {
        Some(a) if m.operations.contains_key(a) => ("NotImplemented", message(m, a), 501),
        Some(a) => (
            "InvalidAction",
            format!(
                "Could not find operation {a} for version {}",
                m.metadata.api_version
            ),
            400,
        ),
        None => ("MissingAction", "Missing Action parameter".to_string(), 400),
    };
    let body = query::serialize_error(m, code, &msg, status < 500, request_id);
    let mut resp = raw(status, Vec::new(), body.into_bytes(), request_id);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

fn router(m: &'static ServiceModel) -> Arc<RestRouter> {
    static ROUTERS: OnceLock<Mutex<HashMap<String, Arc<RestRouter>>>> = OnceLock::new();
    let routers = ROUTERS.get_or_init(Default::default);
    let mut map = routers.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(m.metadata.service_id.clone())
        .or_insert_with(|| Arc::new(RestRouter::from_model(m)))
        .clone()
}

/// A REST request (rest-json or rest-xml) for a service signed for but not served.
pub fn rest_request(m: &'static ServiceModel, parts: &Parts, request_id: &str) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let has_header = |name: &str| parts.headers.contains_key(name);
    let r = router(m);
    let matched = r.route(&RestRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        has_header: &has_header,
    });
    let (code, msg, status) = match matched {
        Ok(hit) => ("NotImplemented", message(m, hit.operation), 501),
        Err(_) => (
            "UnknownOperationException",
            format!(
                "No {} operation matches {} {}",
                m.metadata.service_id,
                parts.method,
                parts.uri.path()
            ),
            404,
        ),
    };
    if m.metadata.protocol == "rest-xml" {
        let kind = if status < 500 { "Sender" } else { "Receiver" };
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(&msg),
            xml_escape(request_id)
        );
        let mut resp = raw(status, Vec::new(), body.into_bytes(), request_id);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        return resp;
    }
    let body = serde_json::json!({ "message": msg, "Message": msg }).to_string();
    raw(
        status,
        vec![
            ("content-type".into(), "application/json".into()),
            ("x-amzn-ErrorType".into(), code.into()),
        ],
        body.into_bytes(),
        request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_are_indexed_by_their_wire_names() {
        assert_eq!(
            by_target("TrentService").unwrap().metadata.service_id,
            "KMS"
        );
        assert_eq!(by_signing_name("sns").unwrap().metadata.service_id, "SNS");
        assert_eq!(
            by_signing_name("lambda").unwrap().metadata.protocol,
            "rest-json"
        );
        assert_eq!(
            by_query_action("Publish").unwrap().metadata.service_id,
            "SNS"
        );
        assert!(by_target("Nope").is_none());
    }

    #[test]
    fn unserved_operations_are_501_naming_service_and_operation() {
        let kms = by_target("TrentService").unwrap();
        let r = json_request(kms, "Encrypt", "rid");
        assert_eq!(r.status(), 501);
        let r = json_request(kms, "Nope", "rid");
        assert_eq!(r.status(), 400);
        let sns = by_signing_name("sns").unwrap();
        assert_eq!(query_request(sns, Some("Publish"), "rid").status(), 501);
        assert_eq!(query_request(sns, Some("Nope"), "rid").status(), 400);
        let lambda = by_signing_name("lambda").unwrap();
        let (parts, _) = axum::http::Request::get("/2015-03-31/functions/f")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(rest_request(lambda, &parts, "rid").status(), 501);
    }
}

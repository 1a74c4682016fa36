//! CloudWatch's three wire protocols: smithy-rpc-v2-cbor (`smithy-protocol: rpc-v2-cbor`, the
//! path names the operation), JSON 1.0 (`X-Amz-Target`) and query (form with `Action`). A
//! request is parsed with the matching codec into the neutral JSON shape and answered in the
//! protocol it came in.

use serde_json::Value;
use snapstack_protocol::codec::{cbor, json, query};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode};
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::Payload;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Cbor,
    Json,
    Query,
}

impl Wire {
    pub fn of(parts: &Parts, payload: &Payload) -> Wire {
        match payload {
            Payload::Form(_) => Wire::Query,
            _ if parts.headers.contains_key("smithy-protocol") => Wire::Cbor,
            _ if parts.headers.contains_key("x-amz-target") => Wire::Json,
            _ => {
                let ct = parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if ct.contains("json") {
                    Wire::Json
                } else if ct.contains("cbor") {
                    Wire::Cbor
                } else {
                    Wire::Query
                }
            }
        }
    }
}

fn status(s: u16) -> StatusCode {
    StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_REQUEST)
}

pub fn response(
    code: u16,
    headers: &[(String, String)],
    body: Vec<u8>,
    request_id: &str,
) -> Response {
    let mut resp = (status(code), body).into_response();
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

/// The input of a call in the neutral shape.
pub fn parse(
    model: &ServiceModel,
    wire: Wire,
    op: &str,
    payload: &Payload,
) -> Result<Value, AwsError> {
    let codec_err = |e: snapstack_protocol::codec::CodecError| {
        AwsError::new(&e.code, e.message).with_status(status(e.status))
    };
    match (wire, payload) {
        (Wire::Cbor, Payload::Bytes(b)) => cbor::parse_input(model, op, b).map_err(codec_err),
        (Wire::Json, Payload::Bytes(b)) => json::parse_input(model, op, b).map_err(codec_err),
        (Wire::Query, Payload::Form(Ok(params))) => {
            query::parse_input(model, op, params).map_err(codec_err)
        }
        (_, Payload::Form(Err(bad))) => Err(AwsError::new(
            "InvalidParameterValue",
            format!(
                "The value of parameter {} is not valid UTF-8 (byte 0x{:02X}).",
                bad.name, bad.byte
            ),
        )),
        _ => Err(AwsError::new(
            "InvalidAction",
            "CloudWatch requests are CBOR, JSON or form-encoded.",
        )),
    }
}

/// A success in the call's protocol.
pub fn ok(model: &ServiceModel, wire: Wire, op: &str, out: &Value, request_id: &str) -> Response {
    match wire {
        Wire::Cbor => {
            let headers = [
                ("Content-Type".to_string(), cbor::CONTENT_TYPE.to_string()),
                ("smithy-protocol".to_string(), "rpc-v2-cbor".to_string()),
            ];
            response(
                200,
                &headers,
                cbor::serialize_output(model, op, out),
                request_id,
            )
        }
        Wire::Json => {
            let headers = [(
                "Content-Type".to_string(),
                json::content_type(model).to_string(),
            )];
            response(
                200,
                &headers,
                json::serialize_output(model, op, out),
                request_id,
            )
        }
        Wire::Query => {
            let headers = [("Content-Type".to_string(), "text/xml".to_string())];
            let body = query::serialize_output(model, op, out, request_id);
            response(200, &headers, body.into_bytes(), request_id)
        }
    }
}

/// An error in the call's protocol. Codes are the model's error shape names (the JSON and CBOR
/// `__type`); the query protocol, and the `x-amzn-query-error` header, use their query codes.
pub fn error(model: &ServiceModel, wire: Wire, e: &AwsError, request_id: &str) -> Response {
    let keep = |s: u16| {
        if e.status.as_u16() != 400 {
            e.status.as_u16()
        } else {
            s
        }
    };
    match wire {
        Wire::Cbor => {
            let (s, h, b) = cbor::serialize_error(model, &e.code, &e.message);
            response(keep(s), &h, b, request_id)
        }
        Wire::Json => {
            let (s, h, b) = json::serialize_error(model, &e.code, &e.message);
            response(keep(s), &h, b, request_id)
        }
        Wire::Query => {
            let code = json::query_code(model, &e.code).unwrap_or(&e.code);
            let s = keep(query::error_status(model, code));
            let body = query::serialize_error(
                model,
                code,
                &e.message,
                (400..500).contains(&s),
                request_id,
            );
            let headers = [("Content-Type".to_string(), "text/xml".to_string())];
            response(s, &headers, body.into_bytes(), request_id)
        }
    }
}

//! The `smithy-rpc-v2-cbor` protocol, driven by the model (current botocore speaks it to
//! CloudWatch: `metadata.protocols` lists it first).
//!
//! A request is `POST /service/{ServiceName}/operation/{OperationName}` with
//! `smithy-protocol: rpc-v2-cbor` and a CBOR body: the input structure as a map keyed by member
//! name. `ServiceName` is what botocore's `BaseRpcV2Serializer` puts there: the model's
//! `metadata.targetPrefix` (`GraniteServiceVersion20100801` for CloudWatch, the name of the
//! Smithy service shape). Responses are CBOR too (`Content-Type: application/cbor`,
//! `smithy-protocol: rpc-v2-cbor`); errors are a map with `__type` and `message`, plus the
//! `x-amzn-query-error` header for an `awsQueryCompatible` model (CloudWatch), from which
//! botocore's `RpcV2CBORParser` takes the error code. (botocore also sends
//! `x-amzn-query-mode: true` to such a service; nothing here depends on it.)
//!
//! Wire forms (botocore's `CBORSerializer` / `BaseCBORParser`): blobs are byte strings,
//! timestamps tag 1 around epoch seconds (an integer from botocore, a double from other
//! SDKs), doubles 64-bit floats, `NaN` and the infinities half-precision floats; lengths may be
//! indefinite. The neutral value holds blobs as base64 and timestamps as epoch seconds (see
//! [`super`]); non-finite floats are the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, as the
//! JSON protocols send them.
//!
//! No CBOR crate is used: the decoder ([`decode`]) is written here so that it bounds depth,
//! item count and allocation against the client's declared lengths.

pub mod decode;
pub mod encode;
#[cfg(test)]
pub(super) mod tests;

use serde_json::Value;

use super::CodecError;
use super::json::{error_status, query_code, query_error};
use crate::model::ServiceModel;

pub const CONTENT_TYPE: &str = "application/cbor";

/// Whether a request's body is CBOR by its content type (`application/cbor`,
/// `application/x-amz-cbor-1.1`), in any letter case: the one test of the services that take
/// both JSON and CBOR and of what reads their bodies before them.
pub fn is_cbor(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|t| {
        t.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"cbor"))
    })
}

/// The service and operation of a request path `/service/{ServiceName}/operation/{OperationName}`
/// (the caller compares the service with the model's `metadata.targetPrefix`).
pub fn operation_from_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (service, operation) = rest.split_once("/operation/")?;
    let name = |s: &str| !s.is_empty() && !s.contains('/');
    (name(service) && name(operation)).then_some((service, operation))
}

/// Decode a request body into the operation's input. An empty body is `{}`; anything that is not
/// one well-formed CBOR map is a 400 `SerializationException`.
pub fn parse_input(
    model: &ServiceModel,
    operation: &str,
    body: &[u8],
) -> Result<Value, CodecError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let shape = model
        .operations
        .get(operation)
        .and_then(|op| model.input_of(op));
    let mut d = decode::Decoder::new(model, body);
    let v = d.value(shape, 0)?;
    if !d.at_end() {
        return Err(decode::error("Unexpected data after the CBOR request body"));
    }
    match v {
        Some(v @ Value::Object(_)) => Ok(v),
        // A null input is an empty one.
        None => Ok(Value::Object(Default::default())),
        Some(_) => Err(decode::error("The CBOR request body must be a map")),
    }
}

/// Write an operation's output (an operation without an output shape has an empty body).
pub fn serialize_output(model: &ServiceModel, operation: &str, output: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    if let Some(shape) = model
        .operations
        .get(operation)
        .and_then(|op| model.output_of(op))
    {
        encode::write(&mut out, model, shape, output, 0);
    }
    out
}

/// The Smithy namespace of a service's shapes: `com.amazonaws.` and its `serviceId` in lower
/// case without spaces (`com.amazonaws.cloudwatch`), AWS's convention.
fn namespace(model: &ServiceModel) -> String {
    let id: String = model
        .metadata
        .service_id
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    format!("com.amazonaws.{id}")
}

/// An error: its status (as for the JSON protocols: the error shape's `error.httpStatusCode`,
/// else 500 for a fault, else 400), headers, and the CBOR map
/// `{"__type": "<namespace>#<Code>", "message": ..}`.
pub fn serialize_error(
    model: &ServiceModel,
    code: &str,
    message: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = error_status(model, code);
    let mut headers = vec![
        ("Content-Type".to_string(), CONTENT_TYPE.to_string()),
        ("smithy-protocol".to_string(), "rpc-v2-cbor".to_string()),
    ];
    if model.metadata.aws_query_compatible.is_some() {
        let query = query_code(model, code).unwrap_or(code);
        headers.push(("x-amzn-query-error".into(), query_error(query, status)));
    }
    let mut body = Vec::with_capacity(32 + code.len() + message.len());
    encode::head(&mut body, 5, 2);
    encode::text(&mut body, "__type");
    encode::text(&mut body, &format!("{}#{code}", namespace(model)));
    encode::text(&mut body, "message");
    encode::text(&mut body, message);
    (status, headers, body)
}

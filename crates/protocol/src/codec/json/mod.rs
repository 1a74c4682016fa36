//! The `json` protocols (`application/x-amz-json-1.0` and `1.1`, operation in `X-Amz-Target`),
//! driven by the model: parsing an input into the neutral value, writing an output and an error.
//!
//! The wire *is* the neutral value (see [`super`]) except for timestamps, which a client may send
//! as ISO 8601 strings (some SDKs do) and which an output may ask for in another format through
//! `timestampFormat`; and for what a service must never send: members its model does not have,
//! and `null`s.
//!
//! Depth: the body is parsed by serde_json, whose recursion limit (128 levels, kept on: a test
//! of DynamoDB's pins it) refuses anything deeper as a malformed body, so no deeper `Value` ever
//! exists. [`MAX_DEPTH`] (64) is not applied to the parse itself, because DynamoDB must answer 32
//! levels of nested `L`/`M` attribute values (up to ~70 JSON levels) with its own
//! `ValidationException`, not a `SerializationException`; it bounds the codec's own walks
//! instead: the timestamp normalization of an input and the model-driven writing of an output
//! descend at most [`MAX_DEPTH`] levels (beneath that an input is left as sent, an output is
//! written as it is). SQS refuses more than 16 levels up front, as it does today.
//!
//! Members keep their model names on the wire: no model of a `json` (or `smithy-rpc-v2-cbor`)
//! service renames a body member with `locationName` (a test checks every embedded model).

mod dialect;
#[cfg(test)]
mod tests;

use serde_json::Value;

use super::time::{self, Format};
use super::{CodecError, MAX_DEPTH};
use crate::model::{ServiceModel, Shape};

/// Parse a request body into the operation's input: an empty body is `{}`; a body that is not a
/// JSON object is a 400 `SerializationException` in the service's wording; timestamps sent as
/// ISO 8601 (or RFC 822) strings become epoch seconds. Nothing else is checked here: values of
/// the wrong type are left for the validator and the handler.
pub fn parse_input(
    model: &ServiceModel,
    operation: &str,
    body: &[u8],
) -> Result<Value, CodecError> {
    let d = dialect::of(model);
    let serialization = |m: String| CodecError::new(400, "SerializationException", m);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    if let Some((max, message)) = d.max_nesting
        && nesting(body) > max
    {
        return Err(serialization(message.to_string()));
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| serialization((d.malformed)(&e)))?;
    if !v.is_object() {
        return Err(serialization(d.not_object.to_string()));
    }
    if let Some(shape) = input_shape(model, operation) {
        normalize(model, shape, &mut v, 0);
    }
    Ok(v)
}

fn input_shape<'m>(model: &'m ServiceModel, operation: &str) -> Option<&'m Shape> {
    model.input_of(model.operations.get(operation)?)
}

fn output_shape<'m>(model: &'m ServiceModel, operation: &str) -> Option<&'m Shape> {
    model.output_of(model.operations.get(operation)?)
}

/// The deepest bracket nesting of a JSON text (brackets inside strings are skipped).
fn nesting(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Timestamps given as text become epoch seconds; a walk of at most [`MAX_DEPTH`] levels that
/// only enters values of the type their shape expects.
fn normalize(model: &ServiceModel, shape: &Shape, value: &mut Value, depth: usize) {
    if depth >= MAX_DEPTH {
        return;
    }
    match (shape.kind.as_str(), value) {
        ("timestamp", v @ Value::String(_)) => {
            if let Some(ms) = v.as_str().and_then(time::parse) {
                *v = time::ms_to_value(ms);
            }
        }
        ("structure", Value::Object(fields)) if !shape.document => {
            for (name, v) in fields.iter_mut() {
                if let Some(s) = shape.members.get(name).and_then(|m| model.shape(&m.shape)) {
                    normalize(model, s, v, depth + 1);
                }
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(s) = shape.member.as_ref().and_then(|m| model.shape(&m.shape)) {
                for v in items {
                    normalize(model, s, v, depth + 1);
                }
            }
        }
        ("map", Value::Object(entries)) => {
            if let Some(s) = shape.value.as_ref().and_then(|m| model.shape(&m.shape)) {
                for v in entries.values_mut() {
                    normalize(model, s, v, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Write an operation's output: the members of its output shape that are set (`null`s and
/// members the model does not have are left out; the latter is a bug of the service, caught
/// by a debug assertion), timestamps in epoch seconds unless the model asks for another format.
/// An operation without an output shape answers `{}`.
///
/// This runs on every response, so the walk only looks up the shapes of containers (to drop
/// what the model lacks) and of members with a `timestampFormat`: a scalar member is written as
/// it is, without a lookup (debug builds check that a timestamp is epoch seconds).
pub fn serialize_output(model: &ServiceModel, operation: &str, output: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    match output_shape(model, operation) {
        Some(shape) => write(&mut out, model, shape, None, output, 0),
        None => out.extend_from_slice(b"{}"),
    }
    out
}

/// A value as serde_json writes it (writing a `Value` to a `Vec` cannot fail).
fn raw(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write(
    out: &mut Vec<u8>,
    model: &ServiceModel,
    shape: &Shape,
    ts_format: Option<&str>,
    value: &Value,
    depth: usize,
) {
    if depth >= MAX_DEPTH {
        return raw(out, value);
    }
    match (shape.kind.as_str(), value) {
        ("structure", Value::Object(fields)) if !shape.document => {
            out.push(b'{');
            let mut first = true;
            for (name, v) in fields {
                if v.is_null() {
                    continue;
                }
                // A member the model does not have is left out, as AWS's serializers do: it
                // can be a service's slip or stored client input echoed back, so it is never
                // a panic, not even in a debug build.
                let Some(m) = shape.members.get(name) else {
                    continue;
                };
                if !first {
                    out.push(b',');
                }
                first = false;
                raw(out, name);
                out.push(b':');
                // The fast path: a scalar is its own wire form (no model of a JSON service
                // gives a timestamp shape a `timestampFormat`: a test checks them all), so
                // only containers and members with a format of their own need their shape.
                if !v.is_object() && !v.is_array() && m.timestamp_format.is_none() {
                    debug_assert!(
                        model.shape(&m.shape).is_none_or(|s| s.kind != "timestamp"
                            || (v.is_number() && s.timestamp_format.is_none())),
                        "output member {name}: a timestamp must be epoch seconds, not {v}"
                    );
                    raw(out, v);
                    continue;
                }
                match model.shape(&m.shape) {
                    Some(s) => write(out, model, s, m.timestamp_format.as_deref(), v, depth + 1),
                    None => raw(out, v),
                }
            }
            out.push(b'}');
        }
        ("map", Value::Object(entries)) => {
            let s = shape.value.as_ref().and_then(|r| model.shape(&r.shape));
            out.push(b'{');
            let mut first = true;
            for (k, v) in entries {
                if v.is_null() {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                raw(out, k);
                out.push(b':');
                match s {
                    Some(s) => write(out, model, s, None, v, depth + 1),
                    None => raw(out, v),
                }
            }
            out.push(b'}');
        }
        ("list", Value::Array(items)) => {
            let s = shape.member.as_ref().and_then(|r| model.shape(&r.shape));
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match s {
                    Some(s) => write(out, model, s, None, v, depth + 1),
                    None => raw(out, v),
                }
            }
            out.push(b']');
        }
        ("timestamp", v) => {
            let format = Format::from_trait(
                ts_format.or(shape.timestamp_format.as_deref()),
                Format::Epoch,
            );
            let ms = match v {
                Value::Number(n) => n.as_f64().and_then(time::seconds_to_ms),
                Value::String(s) => time::parse(s),
                _ => None,
            };
            match (format, ms) {
                // Epoch seconds as the service gave them (a number is already the wire form).
                (Format::Epoch, _) if v.is_number() => raw(out, v),
                (Format::Epoch, Some(ms)) => raw(out, &time::ms_to_value(ms)),
                (f, Some(ms)) => raw(out, &time::format(ms, f)),
                (_, None) => raw(out, v),
            }
        }
        _ => raw(out, value),
    }
}

/// An error as the service sends it in the `json` protocol: the status (the error shape's
/// `error.httpStatusCode`, else 500 for a `fault`, else 400; a few framework errors outside the
/// model have their own), the headers (`Content-Type` from `jsonVersion`, `x-amzn-ErrorType`
/// where the service sends it, and `x-amzn-query-error: <query code>;<Sender|Receiver>` for an
/// `awsQueryCompatible` model) and the body `{"__type": .., "message": ..}` in the service's
/// spelling.
pub fn serialize_error(
    model: &ServiceModel,
    code: &str,
    message: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    serialize_error_with(model, code, message, &serde_json::Map::new())
}

/// [`serialize_error`] with members of the error shape besides its message, in the neutral
/// JSON shape (DynamoDB's `Item` of `ConditionalCheckFailedException`, `CancellationReasons` of
/// `TransactionCanceledException`), written by the model like an output's: members the error
/// shape does not have and `null`s are left out. The body's keys are in the order serde_json
/// gives an object (sorted), as the hand-written errors' bodies had them.
pub fn serialize_error_with(
    model: &ServiceModel,
    code: &str,
    message: &str,
    members: &serde_json::Map<String, Value>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let d = dialect::of(model);
    let status = error_status(model, code);
    let mut headers = vec![("Content-Type".to_string(), content_type(model).to_string())];
    if d.error_type_header {
        headers.push(("x-amzn-ErrorType".into(), code.to_string()));
    }
    if model.metadata.aws_query_compatible.is_some() {
        let query = query_code(model, code).unwrap_or_else(|| d.query_code(code));
        headers.push(("x-amzn-query-error".into(), query_error(query, status)));
    }
    let type_value = Value::String(d.error_type(code));
    let message_value = Value::String(message.into());
    let message_key = d.message_key(code);
    let shape = model.shape(code).filter(|s| s.exception);
    // Every member with the shape it is written by (`None`: as it is), in key order.
    let mut fields: std::collections::BTreeMap<&str, (&Value, Option<&crate::model::Member>)> =
        std::collections::BTreeMap::new();
    for (name, v) in members {
        if v.is_null() || name == "__type" || name == message_key {
            continue;
        }
        if let Some(m) = shape.and_then(|s| s.members.get(name)) {
            fields.insert(name, (v, Some(m)));
        }
    }
    fields.insert("__type", (&type_value, None));
    fields.insert(message_key, (&message_value, None));
    let mut body = Vec::with_capacity(64 + message.len());
    body.push(b'{');
    for (i, (name, (v, m))) in fields.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        raw(&mut body, &name);
        body.push(b':');
        match m.and_then(|m| model.shape(&m.shape).map(|s| (m, s))) {
            Some((m, s)) => write(&mut body, model, s, m.timestamp_format.as_deref(), v, 1),
            None => raw(&mut body, v),
        }
    }
    body.push(b'}');
    (status, headers, body)
}

/// `application/x-amz-json-1.0` or `-1.1`, as the model's `jsonVersion` says (1.0 without one).
pub fn content_type(model: &ServiceModel) -> &'static str {
    match model.metadata.json_version.as_deref() {
        Some("1.1") => "application/x-amz-json-1.1",
        _ => "application/x-amz-json-1.0",
    }
}

/// The HTTP status of an error code: its shape's `error.httpStatusCode`, else 500 for a
/// `fault`, else 400; codes outside the model that the frameworks answer with their own status
/// (internal failures 500, `ServiceUnavailable` 503, `NotImplemented` 501, SQS's
/// `AccessDeniedException` 403).
pub fn error_status(model: &ServiceModel, code: &str) -> u16 {
    if let Some(shape) = model.shape(code).filter(|s| s.exception) {
        return match shape.error.as_ref().and_then(|e| e.http_status_code) {
            Some(s) => s,
            None if shape.fault => 500,
            None => 400,
        };
    }
    match code {
        "InternalFailure" | "InternalServerError" | "InternalError" | "ServiceFailure" => 500,
        "NotImplemented" => 501,
        "ServiceUnavailable" => 503,
        "AccessDeniedException" | "AccessDenied" => 403,
        _ => 400,
    }
}

/// The query code of a modeled error (its shape's `error.code` trait).
pub fn query_code<'m>(model: &'m ServiceModel, code: &str) -> Option<&'m str> {
    model
        .shape(code)
        .filter(|s| s.exception)
        .and_then(|s| s.error.as_ref())
        .and_then(|e| e.code.as_deref())
}

/// The `x-amzn-query-error` header's value: `<code>;Sender` for a client error, else
/// `<code>;Receiver`.
pub fn query_error(query_code: &str, status: u16) -> String {
    let fault = if (400..500).contains(&status) {
        "Sender"
    } else {
        "Receiver"
    };
    format!("{query_code};{fault}")
}

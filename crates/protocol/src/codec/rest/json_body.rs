//! rest-json bodies <-> the neutral value, by shape.
//!
//! The neutral value is already JSON-shaped; the body differs from it only where the model
//! says so: a member's `locationName` is its key on the wire, timestamps are epoch seconds
//! unless `timestampFormat` says `iso8601` or `rfc822` (API Gateway v2's `__timestampIso8601`),
//! and members bound to the URI, query or headers are not in the body. Unknown keys are ignored
//! and `null` is absence, as AWS's JSON services do. Depth is bounded by [`MAX_DEPTH`].

use serde_json::{Map, Value};

use super::{bad_output, shape_of, ts_format, wire_name};
use crate::codec::time::{self, Format};
use crate::codec::{CodecError, MAX_DEPTH};
use crate::model::{ServiceModel, Shape};

fn malformed(what: impl std::fmt::Display) -> CodecError {
    CodecError::new(400, "SerializationException", what.to_string())
}

/// Parse a JSON body (empty: `{}`) as `shape`.
pub fn parse_body(model: &ServiceModel, shape: &Shape, body: &[u8]) -> Result<Value, CodecError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    // serde_json bounds its own recursion (128 levels).
    let wire: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("The request body is not valid JSON: {e}")))?;
    from_wire(model, shape, &wire, 0)
}

/// A wire value as the neutral value of `shape`.
pub fn from_wire(
    model: &ServiceModel,
    shape: &Shape,
    wire: &Value,
    depth: usize,
) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(malformed("The request body is nested too deeply"));
    }
    let mismatch = || {
        malformed(format!(
            "Unexpected value type in the request body: expected {}",
            shape.kind
        ))
    };
    Ok(match (shape.kind.as_str(), wire) {
        ("structure", Value::Object(fields)) => {
            let mut out = Map::new();
            for (name, m) in &shape.members {
                if m.location.is_some() {
                    continue;
                }
                let Some(v) = fields.get(wire_name(name, m)).filter(|v| !v.is_null()) else {
                    continue;
                };
                let mshape = shape_of(model, &m.shape)?;
                let v = from_wire(model, mshape, v, depth + 1)?;
                out.insert(name.clone(), v);
            }
            Value::Object(out)
        }
        ("list", Value::Array(items)) => {
            let item = item_shape(model, shape)?;
            let mut out = Vec::with_capacity(items.len());
            for v in items.iter().filter(|v| !v.is_null()) {
                out.push(from_wire(model, item, v, depth + 1)?);
            }
            Value::Array(out)
        }
        ("map", Value::Object(entries)) => {
            let vshape = value_shape(model, shape)?;
            let mut out = Map::new();
            for (k, v) in entries.iter().filter(|(_, v)| !v.is_null()) {
                out.insert(k.clone(), from_wire(model, vshape, v, depth + 1)?);
            }
            Value::Object(out)
        }
        ("string" | "blob", Value::String(_)) | ("boolean", Value::Bool(_)) => wire.clone(),
        ("byte" | "short" | "integer" | "long", Value::Number(n)) if n.is_i64() || n.is_u64() => {
            wire.clone()
        }
        ("float" | "double", Value::Number(n)) => {
            n.as_f64().map(Value::from).ok_or_else(mismatch)?
        }
        // Numbers and strings both: clients send what the format says, and some send the
        // other.
        ("timestamp", Value::Number(n)) => {
            let ms = n
                .as_f64()
                .and_then(time::seconds_to_ms)
                .ok_or_else(mismatch)?;
            time::ms_to_value(ms)
        }
        ("timestamp", Value::String(s)) => time::ms_to_value(time::parse(s).ok_or_else(mismatch)?),
        _ if shape.document => wire.clone(),
        _ => return Err(mismatch()),
    })
}

fn item_shape<'m>(model: &'m ServiceModel, list: &Shape) -> Result<&'m Shape, CodecError> {
    let r = list
        .member
        .as_ref()
        .ok_or_else(|| super::missing_shape("(list member)"))?;
    shape_of(model, &r.shape)
}

fn value_shape<'m>(model: &'m ServiceModel, map: &Shape) -> Result<&'m Shape, CodecError> {
    let r = map
        .value
        .as_ref()
        .ok_or_else(|| super::missing_shape("(map value)"))?;
    shape_of(model, &r.shape)
}

/// A neutral value of `shape` as its wire value (for a response body).
pub fn to_wire(
    model: &ServiceModel,
    shape: &Shape,
    value: &Value,
    member_ts: Option<&str>,
    path: &str,
    depth: usize,
) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(bad_output(path, "value (nested too deeply)"));
    }
    Ok(match (shape.kind.as_str(), value) {
        ("structure", Value::Object(fields)) => {
            let mut out = Map::new();
            for (name, m) in &shape.members {
                if m.location.is_some() {
                    continue;
                }
                let Some(v) = fields.get(name).filter(|v| !v.is_null()) else {
                    continue;
                };
                let mshape = shape_of(model, &m.shape)?;
                let w = to_wire(
                    model,
                    mshape,
                    v,
                    m.timestamp_format.as_deref(),
                    name,
                    depth + 1,
                )?;
                out.insert(wire_name(name, m).to_string(), w);
            }
            Value::Object(out)
        }
        ("list", Value::Array(items)) => {
            let item = item_shape(model, shape)?;
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(to_wire(model, item, v, None, path, depth + 1)?);
            }
            Value::Array(out)
        }
        ("map", Value::Object(entries)) => {
            let vshape = value_shape(model, shape)?;
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k.clone(), to_wire(model, vshape, v, None, path, depth + 1)?);
            }
            Value::Object(out)
        }
        ("timestamp", Value::Number(n)) => {
            let ms = n
                .as_f64()
                .and_then(time::seconds_to_ms)
                .ok_or_else(|| bad_output(path, "timestamp"))?;
            match ts_format(member_ts, shape, Format::Epoch) {
                Format::Epoch => time::ms_to_value(ms),
                f => Value::String(time::format(ms, f)),
            }
        }
        ("structure" | "list" | "map" | "timestamp", _) if !shape.document => {
            return Err(bad_output(path, &shape.kind));
        }
        _ => value.clone(),
    })
}

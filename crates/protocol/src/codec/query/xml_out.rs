//! The neutral value of an output to a query-protocol XML answer, written into one `String`.
//!
//! ```xml
//! <GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//!   <GetCallerIdentityResult><Arn>..</Arn>..</GetCallerIdentityResult>
//!   <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata>
//! </GetCallerIdentityResponse>
//! ```
//!
//! (without the whitespace). Members come in the model's member order (botocore's `QueryParser`
//! looks elements up by name, so order is not significant); members absent from the value, or
//! null, are not written; values the model does not name are not written. Lists are wrapped in
//! `<member>` (or the list member's `locationName`); flattened lists and maps repeat the
//! member's element; maps are `<entry><key/><value/></entry>` (key and value `locationName`s
//! honoured). Timestamps are ISO 8601 with milliseconds unless the member or its shape says
//! `rfc822` or `unixTimestamp`; blobs are the base64 the value holds.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{escape_into, flat_item_name, flattened, member_name, namespace, ref_name};
use crate::codec::{MAX_DEPTH, time};
use crate::model::{Member, ServiceModel, Shape};

/// The XML body answering `operation` with `output` (its neutral value).
pub fn serialize_output(
    model: &ServiceModel,
    operation: &str,
    output: &Value,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(256);
    let ns = namespace(model);
    out.push('<');
    out.push_str(operation);
    out.push_str("Response xmlns=\"");
    escape_into(&mut out, &ns);
    out.push_str("\">");
    let op = model.operations.get(operation);
    let oref = op.and_then(|o| o.output.as_ref());
    if let Some((oref, shape)) = oref.and_then(|r| Some((r, model.shape(&r.shape)?))) {
        let members = output.as_object();
        match oref.result_wrapper.as_deref() {
            Some(wrapper) => {
                open(&mut out, wrapper);
                if let Some(m) = members {
                    write_members(&mut out, model, shape, m, 1);
                }
                close(&mut out, wrapper);
            }
            None => {
                if let Some(m) = members {
                    write_members(&mut out, model, shape, m, 1);
                }
            }
        }
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ResponseMetadata></");
    out.push_str(operation);
    out.push_str("Response>");
    out
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn write_members(
    out: &mut String,
    model: &ServiceModel,
    shape: &Shape,
    value: &Map<String, Value>,
    depth: usize,
) {
    for (key, m) in &shape.members {
        let Some(v) = value.get(key) else { continue };
        if v.is_null() || m.location.is_some() {
            continue;
        }
        let Some(target) = model.shape(&m.shape) else {
            continue;
        };
        let name = member_name(key, m, target);
        write_value(out, model, name, target, Some(m), v, depth);
    }
}

/// Write one value as the element `name` (or, for flattened lists and maps, as repeated
/// elements).
fn write_value(
    out: &mut String,
    model: &ServiceModel,
    name: &str,
    shape: &Shape,
    member: Option<&Member>,
    v: &Value,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match shape.kind.as_str() {
        "structure" => {
            open(out, name);
            if let Some(m) = v.as_object() {
                write_members(out, model, shape, m, depth + 1);
            }
            close(out, name);
        }
        "list" => {
            let Some(item) = shape.member.as_ref() else {
                return;
            };
            let Some(item_shape) = model.shape(&item.shape) else {
                return;
            };
            let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
            if flattened(member, shape) {
                let item_name = flat_item_name(model, shape, name);
                for i in items {
                    write_value(out, model, item_name, item_shape, None, i, depth + 1);
                }
            } else {
                let item_name = ref_name(model, item).unwrap_or("member");
                open(out, name);
                for i in items {
                    write_value(out, model, item_name, item_shape, None, i, depth + 1);
                }
                close(out, name);
            }
        }
        "map" => {
            let (Some(kref), Some(vref)) = (shape.key.as_ref(), shape.value.as_ref()) else {
                return;
            };
            let Some(value_shape) = model.shape(&vref.shape) else {
                return;
            };
            let key_name = ref_name(model, kref).unwrap_or("key");
            let value_name = ref_name(model, vref).unwrap_or("value");
            let Some(entries) = v.as_object() else { return };
            let flat = flattened(member, shape);
            let entry = if flat { name } else { "entry" };
            if !flat {
                open(out, name);
            }
            for (k, val) in entries {
                if val.is_null() {
                    continue;
                }
                open(out, entry);
                open(out, key_name);
                escape_into(out, k);
                close(out, key_name);
                write_value(out, model, value_name, value_shape, None, val, depth + 1);
                close(out, entry);
            }
            if !flat {
                close(out, name);
            }
        }
        "timestamp" => {
            let format = time::Format::from_trait(
                member
                    .and_then(|m| m.timestamp_format.as_deref())
                    .or(shape.timestamp_format.as_deref()),
                time::Format::Iso8601,
            );
            let ms = match v {
                Value::Number(n) => n.as_f64().and_then(time::seconds_to_ms),
                Value::String(s) => time::parse(s),
                _ => None,
            };
            open(out, name);
            match ms {
                Some(ms) => out.push_str(&time::format(ms, format)),
                None => scalar_into(out, v),
            }
            close(out, name);
        }
        _ => {
            open(out, name);
            scalar_into(out, v);
            close(out, name);
        }
    }
}

/// A scalar's text: strings escaped, numbers and booleans as JSON writes them.
fn scalar_into(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => escape_into(out, s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Null => {}
        other => escape_into(out, &other.to_string()),
    }
}

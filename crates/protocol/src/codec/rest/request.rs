//! A REST request (already routed to its operation) as the neutral value of the operation's
//! input: URI labels, query string, headers and body, by the input members' locations.

use base64::Engine;
use http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value};

use super::{
    BodyFormat, json_body, percent_decode, scalar_from_text, shape_of, ts_format, wire_name, xml,
};
use crate::codec::CodecError;
use crate::codec::time::Format;
use crate::model::{Member, ServiceModel, Shape};

/// At most this many query parameters are read.
pub const MAX_QUERY_PARAMS: usize = 1_000;
/// At most this many items are read from one comma-separated header list.
pub const MAX_HEADER_LIST_ITEMS: usize = 1_000;

/// Parse a routed request into the neutral value of its operation's input.
///
/// `labels` are the route's URI labels, raw (still percent-encoded), as
/// [`crate::rest::RouteMatch`] gives them. The body of an operation whose payload is
/// a streaming blob is not looked at (pass an empty slice and stream it yourself); any other
/// body must be whole.
pub fn parse_request(
    model: &ServiceModel,
    operation: &str,
    labels: &[(&str, String)],
    parts: (&Method, &Uri, &HeaderMap),
    body: &[u8],
) -> Result<Value, CodecError> {
    let (_method, uri, headers) = parts;
    let format = BodyFormat::of(model)?;
    let op = model.operations.get(operation).ok_or_else(|| {
        CodecError::new(
            500,
            "InternalError",
            format!("the model has no operation {operation}"),
        )
    })?;
    let Some(input_ref) = &op.input else {
        return Ok(Value::Object(Map::new()));
    };
    let input = shape_of(model, &input_ref.shape)?;
    let mut out = Map::new();

    // The body first: location members below are never body members.
    match input.payload.as_deref() {
        Some(payload) => {
            if let Some(m) = input.members.get(payload) {
                let mshape = shape_of(model, &m.shape)?;
                if let Some(v) = parse_payload(model, format, m, mshape, body)? {
                    out.insert(payload.to_string(), v);
                }
            }
        }
        None if input.members.values().any(|m| m.location.is_none()) => {
            let v = match format {
                BodyFormat::Json => json_body::parse_body(model, input, body)?,
                BodyFormat::Xml if body.iter().all(u8::is_ascii_whitespace) => {
                    Value::Object(Map::new())
                }
                BodyFormat::Xml => {
                    xml::parse_document(model, input, input_ref.location_name.as_deref(), body)?
                }
            };
            if let Value::Object(fields) = v {
                out.extend(fields);
            }
        }
        None => {}
    }

    let query = parse_query(uri.query().unwrap_or(""), format)?;
    // The query keys a map-typed querystring member must leave alone: literal ones of the
    // request URI and those of the other querystring members.
    let literal_query: Vec<&str> = op
        .http
        .as_ref()
        .and_then(|h| h.request_uri.split_once('?'))
        .map(|(_, q)| {
            q.split('&')
                .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
                .collect()
        })
        .unwrap_or_default();

    for (name, m) in &input.members {
        let Some(location) = m.location.as_deref() else {
            continue;
        };
        let mshape = shape_of(model, &m.shape)?;
        let wire = wire_name(name, m);
        let value = match location {
            "uri" => {
                let Some((_, raw)) = labels.iter().find(|(l, _)| *l == wire) else {
                    continue;
                };
                let text = percent_decode(raw)
                    .ok_or_else(|| format.bad_value("label", wire, raw, "UTF-8"))?;
                typed(format, "label", wire, mshape, m, &text, Format::Iso8601)?
            }
            "querystring" => match mshape.kind.as_str() {
                "map" => {
                    let taken = |k: &str| {
                        literal_query.contains(&k)
                            || input.members.iter().any(|(n, o)| {
                                o.location.as_deref() == Some("querystring")
                                    && shape_of(model, &o.shape).is_ok_and(|s| s.kind != "map")
                                    && wire_name(n, o) == k
                            })
                    };
                    let vshape = mshape
                        .value
                        .as_ref()
                        .map(|r| shape_of(model, &r.shape))
                        .transpose()?;
                    let is_list = vshape.is_some_and(|s| s.kind == "list");
                    let mut map = Map::new();
                    for (k, v) in query.iter().filter(|(k, _)| !taken(k)) {
                        if is_list {
                            let slot = map
                                .entry(k.clone())
                                .or_insert_with(|| Value::Array(Vec::new()));
                            if let Value::Array(items) = slot {
                                items.push(Value::String(v.clone()));
                            }
                        } else {
                            map.entry(k.clone())
                                .or_insert_with(|| Value::String(v.clone()));
                        }
                    }
                    if map.is_empty() {
                        continue;
                    }
                    Value::Object(map)
                }
                "list" => {
                    let item = list_item(model, mshape)?;
                    let mut items = Vec::new();
                    for (_, v) in query.iter().filter(|(k, _)| k == wire) {
                        items.push(typed(
                            format,
                            "query parameter",
                            wire,
                            item,
                            m,
                            v,
                            Format::Iso8601,
                        )?);
                    }
                    if items.is_empty() {
                        continue;
                    }
                    Value::Array(items)
                }
                _ => {
                    let Some((_, v)) = query.iter().find(|(k, _)| k == wire) else {
                        continue;
                    };
                    typed(
                        format,
                        "query parameter",
                        wire,
                        mshape,
                        m,
                        v,
                        Format::Iso8601,
                    )?
                }
            },
            "header" => {
                let mut values = headers.get_all(wire).iter().peekable();
                if values.peek().is_none() {
                    continue;
                }
                // Repeated headers are one comma-separated list (RFC 9110).
                let mut text = String::new();
                for (i, v) in values.enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&String::from_utf8_lossy(v.as_bytes()));
                }
                header_value(model, format, wire, m, mshape, &text)?
            }
            "headers" => {
                let prefix = wire.to_ascii_lowercase();
                let mut map = Map::new();
                for (k, v) in headers {
                    if let Some(key) = k.as_str().strip_prefix(&prefix) {
                        map.entry(key.to_string()).or_insert_with(|| {
                            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())
                        });
                    }
                }
                if map.is_empty() {
                    continue;
                }
                Value::Object(map)
            }
            _ => continue,
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn list_item<'m>(model: &'m ServiceModel, list: &Shape) -> Result<&'m Shape, CodecError> {
    let r = list
        .member
        .as_ref()
        .ok_or_else(|| super::missing_shape("(list member)"))?;
    shape_of(model, &r.shape)
}

/// A typed scalar from a label, query parameter or header.
fn typed(
    format: BodyFormat,
    what: &str,
    wire: &str,
    shape: &Shape,
    m: &Member,
    text: &str,
    default_ts: Format,
) -> Result<Value, CodecError> {
    let ts = ts_format(m.timestamp_format.as_deref(), shape, default_ts);
    scalar_from_text(shape, text, ts).map_err(|reason| format.bad_value(what, wire, text, reason))
}

/// The query string's parameters, decoded (`+` is a space), in order.
fn parse_query(raw: &str, format: BodyFormat) -> Result<Vec<(String, String)>, CodecError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    if raw.split('&').count() > MAX_QUERY_PARAMS {
        return Err(format.bad_value("query string", "", "", "within the limit on parameters"));
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
        .map_err(|_| format.bad_value("query string", "", raw, "decodable as UTF-8"))
}

/// A header's value by its member's shape.
fn header_value(
    model: &ServiceModel,
    format: BodyFormat,
    wire: &str,
    m: &Member,
    shape: &Shape,
    text: &str,
) -> Result<Value, CodecError> {
    if m.json_value {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| format.bad_value("header", wire, text, "base64-encoded JSON"))?;
        return serde_json::from_slice(&bytes)
            .map_err(|_| format.bad_value("header", wire, text, "base64-encoded JSON"));
    }
    if shape.kind == "list" {
        let item = list_item(model, shape)?;
        let mut items = Vec::new();
        for part in split_header_list(text, item.kind == "timestamp") {
            if items.len() >= MAX_HEADER_LIST_ITEMS {
                return Err(format.bad_value("header", wire, text, "a list of acceptable length"));
            }
            items.push(typed(
                format,
                "header",
                wire,
                item,
                m,
                &part,
                Format::Rfc822,
            )?);
        }
        return Ok(Value::Array(items));
    }
    typed(format, "header", wire, shape, m, text, Format::Rfc822)
}

/// Split a comma-separated header list: items trimmed, double-quoted items unquoted (botocore
/// quotes a string holding a comma or a quote, escaping quotes with `\`). RFC 822 dates hold a
/// comma of their own (`Sun, 29 Nov 2026 ...`): with `dates`, a day name joins the next item.
pub(crate) fn split_header_list(text: &str, dates: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    let mut quoted = false;
    let mut glue = false;
    let mut push = |item: String, out: &mut Vec<String>| {
        let item = item.trim().to_string();
        if glue && let Some(last) = out.last_mut() {
            last.push_str(", ");
            last.push_str(&item);
            glue = false;
            return;
        }
        glue = dates && item.len() == 3 && item.bytes().all(|b| b.is_ascii_alphabetic());
        out.push(item);
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if !quoted && cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            '"' if quoted => quoted = false,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => push(std::mem::take(&mut cur), &mut out),
            c => cur.push(c),
        }
    }
    push(cur, &mut out);
    out
}

/// The payload member from the body: a structure (XML or JSON document), or a non-streaming
/// blob (base64) or string. A streaming payload is the caller's: `None`.
fn parse_payload(
    model: &ServiceModel,
    format: BodyFormat,
    m: &Member,
    shape: &Shape,
    body: &[u8],
) -> Result<Option<Value>, CodecError> {
    match shape.kind.as_str() {
        "blob" if shape.streaming || m.streaming => Ok(None),
        _ if shape.eventstream => Ok(None),
        "blob" => Ok((!body.is_empty())
            .then(|| Value::String(base64::engine::general_purpose::STANDARD.encode(body)))),
        "string" => {
            if body.is_empty() {
                return Ok(None);
            }
            let s = std::str::from_utf8(body).map_err(|e| format.malformed_body(e))?;
            Ok(Some(Value::String(s.to_string())))
        }
        _ if body.iter().all(u8::is_ascii_whitespace) => Ok(None),
        _ => match format {
            BodyFormat::Json => json_body::parse_body(model, shape, body).map(Some),
            BodyFormat::Xml => {
                let root = m
                    .location_name
                    .as_deref()
                    .or(shape.location_name.as_deref());
                xml::parse_document(model, shape, root, body).map(Some)
            }
        },
    }
}

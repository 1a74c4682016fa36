//! Test helper: a request serializer written after botocore's `BaseRestSerializer`,
//! `RestXMLSerializer` and `RestJSONSerializer` (serialize.py), line for line where it matters,
//! and independent of the codec under test (its own XML writer escapes as ElementTree does).

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::codec::time;
use crate::model::{ServiceModel, Shape, XmlNamespace};

/// botocore's `percent_encode(value, safe='-_.~')`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Greedy labels keep `/`.
const GREEDY: &AsciiSet = &UNRESERVED.remove(b'/');

pub struct Serialized {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn shape<'m>(model: &'m ServiceModel, name: &str) -> &'m Shape {
    model.shape(name).expect("shape")
}

fn iso(seconds: f64) -> String {
    let ms = time::seconds_to_ms(seconds).unwrap();
    // botocore: microseconds only when there are some.
    time::iso8601(ms, ms % 1000 != 0)
}

fn uri_or_query_value(s: &Shape, v: &Value, ts_trait: Option<&str>) -> String {
    match (s.kind.as_str(), v) {
        ("boolean", Value::Bool(b)) => b.to_string(),
        ("timestamp", Value::Number(n)) => match ts_trait.or(s.timestamp_format.as_deref()) {
            Some("unixTimestamp") => n.to_string(),
            Some("rfc822") => time::rfc822(time::seconds_to_ms(n.as_f64().unwrap()).unwrap()),
            _ => iso(n.as_f64().unwrap()),
        },
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

fn header_value(
    model: &ServiceModel,
    s: &Shape,
    v: &Value,
    ts_trait: Option<&str>,
    json: bool,
) -> String {
    if json {
        let text = serde_json::to_string(v).unwrap();
        return base64::engine::general_purpose::STANDARD.encode(text);
    }
    match (s.kind.as_str(), v) {
        ("timestamp", Value::Number(n)) => {
            let ms = time::seconds_to_ms(n.as_f64().unwrap()).unwrap();
            match ts_trait.or(s.timestamp_format.as_deref()) {
                Some("iso8601") => time::iso8601(ms, false),
                Some("unixTimestamp") => (ms / 1000).to_string(),
                _ => time::rfc822(ms),
            }
        }
        ("list", Value::Array(items)) => {
            let item = shape(model, &s.member.as_ref().unwrap().shape);
            items
                .iter()
                .map(|x| {
                    if item.kind == "string" {
                        let x = x.as_str().unwrap();
                        if x.contains('"') || x.contains(',') {
                            format!("\"{}\"", x.replace('"', "\\\""))
                        } else {
                            x.to_string()
                        }
                    } else {
                        header_value(model, item, x, None, false)
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        ("boolean", Value::Bool(b)) => b.to_string(),
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// Serialize `params` (a neutral value) as botocore would for `operation`.
pub fn serialize(model: &ServiceModel, operation: &str, params: &Value) -> Serialized {
    let op = &model.operations[operation];
    let http = op.http.as_ref().unwrap();
    let input_ref = op.input.as_ref().unwrap();
    let input = shape(model, &input_ref.shape);
    let fields = params.as_object().unwrap();
    let mut uri_kwargs: Vec<(String, String)> = Vec::new();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body_kwargs = Map::new();
    for (name, v) in fields {
        let m = &input.members[name];
        let s = shape(model, &m.shape);
        let key = m.location_name.clone().unwrap_or(name.clone());
        match m.location.as_deref() {
            Some("uri") => {
                uri_kwargs.push((key, uri_or_query_value(s, v, m.timestamp_format.as_deref())))
            }
            Some("querystring") => match v {
                Value::Object(map) => {
                    for (k, x) in map {
                        match x {
                            Value::Array(xs) => {
                                for x in xs {
                                    query.push((k.clone(), x.as_str().unwrap().to_string()));
                                }
                            }
                            x => query.push((k.clone(), x.as_str().unwrap().to_string())),
                        }
                    }
                }
                Value::Array(xs) => {
                    let item = shape(model, &s.member.as_ref().unwrap().shape);
                    for x in xs {
                        query.push((key.clone(), uri_or_query_value(item, x, None)));
                    }
                }
                v => query.push((key, uri_or_query_value(s, v, m.timestamp_format.as_deref()))),
            },
            Some("header") => {
                if s.kind == "list" && v.as_array().is_some_and(Vec::is_empty) {
                    continue;
                }
                headers.push((
                    key,
                    header_value(model, s, v, m.timestamp_format.as_deref(), m.json_value),
                ));
            }
            Some("headers") => {
                for (k, x) in v.as_object().unwrap() {
                    headers.push((format!("{key}{k}"), x.as_str().unwrap().to_string()));
                }
            }
            _ => {
                body_kwargs.insert(name.clone(), v.clone());
            }
        }
    }
    // _render_uri_template, then the literal query of the template.
    let (template, literal) = http
        .request_uri
        .split_once('?')
        .unwrap_or((&http.request_uri, ""));
    let mut path = template.to_string();
    for (k, v) in &uri_kwargs {
        path = path
            .replace(
                &format!("{{{k}+}}"),
                &utf8_percent_encode(v, GREEDY).to_string(),
            )
            .replace(
                &format!("{{{k}}}"),
                &utf8_percent_encode(v, UNRESERVED).to_string(),
            );
    }
    let mut q: Vec<String> = literal
        .split('&')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for (k, v) in &query {
        q.push(format!(
            "{}={}",
            utf8_percent_encode(k, UNRESERVED),
            utf8_percent_encode(v, UNRESERVED)
        ));
    }
    let uri = if q.is_empty() {
        path
    } else {
        format!("{path}?{}", q.join("&"))
    };

    let json = model.metadata.protocol == "rest-json";
    let mut body = Vec::new();
    match input.payload.as_deref() {
        Some(p) => {
            let m = &input.members[p];
            let s = shape(model, &m.shape);
            if let Some(v) = fields.get(p) {
                match s.kind.as_str() {
                    "blob" => {
                        body = base64::engine::general_purpose::STANDARD
                            .decode(v.as_str().unwrap())
                            .unwrap()
                    }
                    "string" => body = v.as_str().unwrap().as_bytes().to_vec(),
                    _ if json => body = serde_json::to_vec(&json_value(model, s, v)).unwrap(),
                    _ => {
                        let root = m.location_name.clone().or(s.location_name.clone()).unwrap();
                        let ns = m.xml_namespace.as_ref().or(s.xml_namespace.as_ref());
                        let mut out = String::new();
                        xml(model, s, v, &root, ns, None, &mut out);
                        body = out.into_bytes();
                    }
                }
            } else if json && !matches!(s.kind.as_str(), "blob" | "string") {
                body = b"{}".to_vec();
            }
        }
        None if !body_kwargs.is_empty() => {
            if json {
                body = serde_json::to_vec(&json_value(model, input, &Value::Object(body_kwargs)))
                    .unwrap();
            } else {
                let root = input_ref.location_name.clone().unwrap();
                let mut out = String::new();
                xml(
                    model,
                    input,
                    &Value::Object(body_kwargs),
                    &root,
                    input_ref.xml_namespace.as_ref(),
                    None,
                    &mut out,
                );
                body = out.into_bytes();
            }
        }
        None if json && input.members.values().any(|m| m.location.is_none()) => {
            body = b"{}".to_vec()
        }
        None => {}
    }
    Serialized {
        method: http.method.clone(),
        uri,
        headers,
        body,
    }
}

/// JSONSerializer: keys by `locationName`, timestamps epoch seconds unless told otherwise.
fn json_value(model: &ServiceModel, s: &Shape, v: &Value) -> Value {
    json_member(model, s, v, None)
}

fn json_member(model: &ServiceModel, s: &Shape, v: &Value, ts: Option<&str>) -> Value {
    match (s.kind.as_str(), v) {
        ("structure", Value::Object(f)) => {
            let mut out = Map::new();
            for (k, x) in f {
                let m = &s.members[k];
                let ms = shape(model, &m.shape);
                let key = m.location_name.clone().unwrap_or(k.clone());
                out.insert(
                    key,
                    json_member(model, ms, x, m.timestamp_format.as_deref()),
                );
            }
            Value::Object(out)
        }
        ("list", Value::Array(xs)) => {
            let item = shape(model, &s.member.as_ref().unwrap().shape);
            Value::Array(
                xs.iter()
                    .map(|x| json_member(model, item, x, None))
                    .collect(),
            )
        }
        ("map", Value::Object(f)) => {
            let vs = shape(model, &s.value.as_ref().unwrap().shape);
            Value::Object(
                f.iter()
                    .map(|(k, x)| (k.clone(), json_member(model, vs, x, None)))
                    .collect(),
            )
        }
        ("timestamp", Value::Number(n)) => match ts.or(s.timestamp_format.as_deref()) {
            Some("iso8601") => Value::String(iso(n.as_f64().unwrap())),
            Some("rfc822") => Value::String(time::rfc822(
                time::seconds_to_ms(n.as_f64().unwrap()).unwrap(),
            )),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

fn et_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn et_attr(s: &str) -> String {
    et_text(s)
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
        .replace('\n', "&#10;")
        .replace('\t', "&#09;")
}

fn ns_attr(ns: Option<&XmlNamespace>) -> String {
    match ns {
        None => String::new(),
        Some(XmlNamespace::Full {
            uri,
            prefix: Some(p),
        }) => format!(" xmlns:{p}=\"{}\"", et_attr(uri)),
        Some(n) => format!(" xmlns=\"{}\"", et_attr(n.uri())),
    }
}

/// RestXMLSerializer._serialize.
fn xml(
    model: &ServiceModel,
    s: &Shape,
    v: &Value,
    name: &str,
    ns: Option<&XmlNamespace>,
    ts: Option<&str>,
    out: &mut String,
) {
    let ns = ns.or(s.xml_namespace.as_ref());
    match s.kind.as_str() {
        "structure" => {
            let f = v.as_object().unwrap();
            let mut attrs = ns_attr(ns);
            let mut inner = String::new();
            for (k, x) in f {
                let m = &s.members[k];
                let ms = shape(model, &m.shape);
                let mname = m.location_name.clone().unwrap_or(k.clone());
                if m.xml_attribute {
                    attrs.push_str(&format!(" {mname}=\"{}\"", et_attr(x.as_str().unwrap())));
                    continue;
                }
                let flattened = m.flattened || ms.flattened;
                if flattened && ms.kind == "list" {
                    let item = shape(model, &ms.member.as_ref().unwrap().shape);
                    for y in x.as_array().unwrap() {
                        xml(model, item, y, &mname, None, None, &mut inner);
                    }
                } else if flattened && ms.kind == "map" {
                    for (key, y) in x.as_object().unwrap() {
                        inner.push_str(&format!("<{mname}>"));
                        map_entry(model, ms, key, y, &mut inner);
                        inner.push_str(&format!("</{mname}>"));
                    }
                } else {
                    xml(
                        model,
                        ms,
                        x,
                        &mname,
                        m.xml_namespace.as_ref(),
                        m.timestamp_format.as_deref(),
                        &mut inner,
                    );
                }
            }
            out.push_str(&format!("<{name}{attrs}>{inner}</{name}>"));
        }
        "list" => {
            let r = s.member.as_ref().unwrap();
            let item = shape(model, &r.shape);
            let item_name = r
                .location_name
                .clone()
                .or(item.location_name.clone())
                .unwrap_or("member".into());
            out.push_str(&format!("<{name}{}>", ns_attr(ns)));
            for y in v.as_array().unwrap() {
                xml(
                    model,
                    item,
                    y,
                    &item_name,
                    r.xml_namespace.as_ref(),
                    None,
                    out,
                );
            }
            out.push_str(&format!("</{name}>"));
        }
        "map" => {
            out.push_str(&format!("<{name}{}>", ns_attr(ns)));
            for (key, y) in v.as_object().unwrap() {
                out.push_str("<entry>");
                map_entry(model, s, key, y, out);
                out.push_str("</entry>");
            }
            out.push_str(&format!("</{name}>"));
        }
        kind => {
            let text = match (kind, v) {
                ("boolean", Value::Bool(b)) => b.to_string(),
                ("timestamp", Value::Number(n)) => match ts.or(s.timestamp_format.as_deref()) {
                    Some("rfc822") => {
                        time::rfc822(time::seconds_to_ms(n.as_f64().unwrap()).unwrap())
                    }
                    Some("unixTimestamp") => n.to_string(),
                    _ => iso(n.as_f64().unwrap()),
                },
                (_, Value::String(s)) => s.clone(),
                (_, v) => v.to_string(),
            };
            out.push_str(&format!(
                "<{name}{}>{}</{name}>",
                ns_attr(ns),
                et_text(&text)
            ));
        }
    }
}

fn map_entry(model: &ServiceModel, map: &Shape, key: &str, v: &Value, out: &mut String) {
    let kr = map.key.as_ref().unwrap();
    let vr = map.value.as_ref().unwrap();
    let kname = kr.location_name.clone().unwrap_or("key".into());
    let vname = vr.location_name.clone().unwrap_or("value".into());
    out.push_str(&format!("<{kname}>{}</{kname}>", et_text(key)));
    xml(model, shape(model, &vr.shape), v, &vname, None, None, out);
}

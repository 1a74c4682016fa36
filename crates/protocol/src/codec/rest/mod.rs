//! The `rest-xml` (S3, Route 53, CloudFront) and `rest-json` (Lambda, API Gateway, AppSync, ...)
//! codecs: HTTP bindings driven by the model's member locations.
//!
//! A request is first routed by [`crate::rest::RestRouter`] (method + path + literal
//! query keys); [`parse_request`] then builds the neutral value of the operation's input from
//! the route's URI labels, the query string, the headers and the body. [`serialize_response`]
//! writes an output value back as status, headers and body, and [`error`] writes errors.
//!
//! Where a member travels (botocore's `BaseRestSerializer` is the reference):
//!
//! | location      | wire form                                                              |
//! |---------------|------------------------------------------------------------------------|
//! | `uri`         | a path label, percent-encoded (`{Key+}` keeps its `/`)                 |
//! | `querystring` | `name=value`; lists repeat the key; a map takes every other parameter  |
//! | `header`      | typed text; timestamps RFC 822 by default; lists comma-joined; `jsonvalue` strings base64 JSON |
//! | `headers`     | a map: one header per key, named prefix + key (`x-amz-meta-`)          |
//! | `statusCode`  | (output only) the HTTP status                                          |
//! | (none)        | the body: the `payload` member alone, else all body members             |
//!
//! Bodies are XML ([`xml`]) or JSON ([`json_body`]). A streaming blob payload is never read or
//! written here: the caller streams it.
//!
//! Malformed input answers 400. Bodies: `MalformedXML` (rest-xml, S3's message) or
//! `SerializationException` (rest-json). Typed header, query and label values that do not
//! parse: `InvalidArgument` for rest-xml (S3's code for a bad `x-amz-*` header or query value)
//! and `SerializationException` for rest-json (what Smithy-built REST services answer for a
//! malformed HTTP binding).

pub mod error;
pub mod json_body;
pub mod request;
pub mod response;
pub mod xml;

#[cfg(test)]
mod botocore_mirror;
#[cfg(test)]
mod test_values;
#[cfg(test)]
mod tests;

pub use error::{
    XmlErrorStyle, error_status, serialize_error_json, serialize_error_xml,
    serialize_error_xml_wrapped, xml_error_style,
};
pub use request::parse_request;
pub use response::{RestResponse, S3_NAMESPACE, default_namespace, serialize_response};

use serde_json::Value;

use crate::codec::CodecError;
use crate::codec::time::{self, Format};
use crate::model::{Member, ServiceModel, Shape};

/// The body format of a REST model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Xml,
    Json,
}

impl BodyFormat {
    /// `rest-xml` or `rest-json` (any other protocol is not ours).
    pub fn of(model: &ServiceModel) -> Result<BodyFormat, CodecError> {
        match model.metadata.protocol.as_str() {
            "rest-xml" => Ok(BodyFormat::Xml),
            "rest-json" => Ok(BodyFormat::Json),
            other => Err(CodecError::new(
                500,
                "InternalError",
                format!("the {other} protocol is not a REST protocol"),
            )),
        }
    }

    /// The 400 a malformed body answers.
    pub fn malformed_body(self, detail: impl std::fmt::Display) -> CodecError {
        match self {
            BodyFormat::Xml => xml::malformed(),
            BodyFormat::Json => CodecError::new(
                400,
                "SerializationException",
                format!("The request body could not be read: {detail}"),
            ),
        }
    }

    /// The 400 a typed header, query or label value that does not parse answers.
    pub fn bad_value(self, what: &str, name: &str, value: &str, reason: &str) -> CodecError {
        let shown: String = value.chars().take(128).collect();
        let message = format!("Invalid {what} {name}: '{shown}' is not {reason}");
        match self {
            BodyFormat::Xml => CodecError::new(400, "InvalidArgument", message),
            BodyFormat::Json => CodecError::new(400, "SerializationException", message),
        }
    }
}

/// An output's member value does not fit its shape (a handler bug, never the client's).
pub(crate) fn bad_output(path: &str, kind: &str) -> CodecError {
    CodecError::new(
        500,
        "InternalError",
        format!("the output member {path} is not a valid {kind}"),
    )
}

/// A model that names a shape it lacks.
pub(crate) fn missing_shape(name: &str) -> CodecError {
    CodecError::new(
        500,
        "InternalError",
        format!("the model has no shape {name}"),
    )
}

/// The shape a member points at.
pub(crate) fn shape_of<'m>(model: &'m ServiceModel, name: &str) -> Result<&'m Shape, CodecError> {
    model.shape(name).ok_or_else(|| missing_shape(name))
}

/// The wire name of a member: its `locationName`, else its member name.
pub(crate) fn wire_name<'a>(name: &'a str, member: &'a Member) -> &'a str {
    member.location_name.as_deref().unwrap_or(name)
}

/// The timestamp format of a member: its own trait, its shape's, else `default`.
pub(crate) fn ts_format(member_trait: Option<&str>, shape: &Shape, default: Format) -> Format {
    Format::from_trait(member_trait.or(shape.timestamp_format.as_deref()), default)
}

/// Why a scalar's text does not parse (the end of "... is not {reason}").
pub(crate) type Reason = &'static str;

/// A scalar's text (header, query, label or XML element) as its neutral value.
pub(crate) fn scalar_from_text(shape: &Shape, text: &str, ts: Format) -> Result<Value, Reason> {
    let _ = ts; // every format is accepted on input (clients are lenient in what they send)
    match shape.kind.as_str() {
        "string" | "blob" => Ok(Value::String(text.to_string())),
        "boolean" => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            t if t.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err("a boolean"),
        },
        "byte" | "short" | "integer" | "long" => {
            let n: i64 = text.trim().parse().map_err(|_| "an integer")?;
            let (lo, hi) = match shape.kind.as_str() {
                "byte" => (i64::from(i8::MIN), i64::from(i8::MAX)),
                "short" => (i64::from(i16::MIN), i64::from(i16::MAX)),
                "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
                _ => (i64::MIN, i64::MAX),
            };
            if n < lo || n > hi {
                return Err("an integer in range");
            }
            Ok(Value::from(n))
        }
        "float" | "double" => {
            let f: f64 = text.trim().parse().map_err(|_| "a number")?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or("a finite number")
        }
        "timestamp" => time::parse(text)
            .map(time::ms_to_value)
            .ok_or("a timestamp"),
        _ => Err("a scalar"),
    }
}

/// A neutral scalar as text; `None` when the value does not fit the shape.
pub(crate) fn scalar_to_text(shape: &Shape, value: &Value, ts: Format) -> Option<String> {
    match (shape.kind.as_str(), value) {
        ("string" | "blob", Value::String(s)) => Some(s.clone()),
        ("boolean", Value::Bool(b)) => Some(if *b { "true" } else { "false" }.to_string()),
        ("byte" | "short" | "integer" | "long", Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Some(n.to_string())
        }
        ("float" | "double", Value::Number(n)) => Some(float_text(n.as_f64()?)),
        ("timestamp", Value::Number(n)) => {
            let ms = time::seconds_to_ms(n.as_f64()?)?;
            Some(time::format(ms, ts))
        }
        _ => None,
    }
}

/// A float as botocore writes one (`1.5`, `3.0`, `1e+300` parse back the same).
fn float_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Percent-decode a URI label; `None` when the bytes are not UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

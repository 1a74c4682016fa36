//! REST error responses, as botocore's `RestXMLParser` and `RestJSONParser` read them.
//!
//! * rest-xml, S3: a bare `<Error><Code/><Message/>..<RequestId/></Error>` document.
//! * rest-xml, everyone else (Route 53, CloudFront): `<ErrorResponse><Error><Type>Sender</Type>
//!   <Code/><Message/></Error><RequestId/></ErrorResponse>`. botocore reads both forms.
//! * rest-json: the code in the `x-amzn-errortype` header (botocore reads it first, then a
//!   `code`/`Code` body key, then `__type`) and `{"message": ..}` in the body (botocore reads
//!   `message` or `Message`); modeled members of the error shape go beside it.
//!
//! The status is the error shape's `error.httpStatusCode` ([`error_status`]).

use serde_json::{Map, Value};

use super::xml::{PROLOG, escape_into};
use crate::model::ServiceModel;

/// How a rest-xml service wraps its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmlErrorStyle {
    /// S3: `<Error>..</Error>`.
    Bare,
    /// Route 53, CloudFront: `<ErrorResponse><Error>..</Error><RequestId/></ErrorResponse>`.
    Wrapped,
}

/// The error form of a rest-xml service.
pub fn xml_error_style(model: &ServiceModel) -> XmlErrorStyle {
    if model.metadata.endpoint_prefix == "s3" {
        XmlErrorStyle::Bare
    } else {
        XmlErrorStyle::Wrapped
    }
}

/// The HTTP status of an error shape (`error.httpStatusCode`).
pub fn error_status(model: &ServiceModel, shape_name: &str) -> Option<u16> {
    model.shape(shape_name)?.error.as_ref()?.http_status_code
}

fn elem(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, text, false);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// An S3 error document: `<Error><Code/><Message/>` then `extra` elements (`Key`,
/// `BucketName`, `Resource`, ...) then `<RequestId/>` (and `HostId` if given in `extra`).
pub fn serialize_error_xml(
    code: &str,
    message: &str,
    request_id: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    out.push_str("<Error>");
    elem(&mut out, "Code", code);
    elem(&mut out, "Message", message);
    for (k, v) in extra.iter().filter(|(k, _)| *k != "HostId") {
        elem(&mut out, k, v);
    }
    elem(&mut out, "RequestId", request_id);
    for (k, v) in extra.iter().filter(|(k, _)| *k == "HostId") {
        elem(&mut out, k, v);
    }
    out.push_str("</Error>");
    out.into_bytes()
}

/// A Route 53-style error document, `Type` `Sender` or `Receiver` (`sender_fault`), in the
/// service's namespace.
pub fn serialize_error_xml_wrapped(
    namespace: &str,
    code: &str,
    message: &str,
    request_id: &str,
    sender_fault: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    out.push_str("<ErrorResponse xmlns=\"");
    escape_into(&mut out, namespace, true);
    out.push_str("\"><Error>");
    elem(
        &mut out,
        "Type",
        if sender_fault { "Sender" } else { "Receiver" },
    );
    elem(&mut out, "Code", code);
    elem(&mut out, "Message", message);
    for (k, v) in extra {
        elem(&mut out, k, v);
    }
    out.push_str("</Error>");
    elem(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>");
    out.into_bytes()
}

/// A rest-json error: the headers to add (`x-amzn-errortype`) and the body
/// (`{"message": .., ..fields}`). `fields` are the error shape's other members, already in
/// wire form.
pub fn serialize_error_json(
    code: &str,
    message: &str,
    fields: &Map<String, Value>,
) -> (Vec<(String, String)>, Vec<u8>) {
    let mut body = Map::with_capacity(fields.len() + 1);
    for (k, v) in fields {
        if k != "message" && k != "Message" {
            body.insert(k.clone(), v.clone());
        }
    }
    body.insert("message".to_string(), Value::String(message.to_string()));
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_else(|_| b"{}".to_vec());
    (
        vec![("x-amzn-errortype".to_string(), code.to_string())],
        bytes,
    )
}

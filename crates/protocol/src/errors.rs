//! AWS-shaped errors, rendered the way each wire protocol sends them.

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The wire protocol of a service: it decides how a response and an error are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// JSON 1.1 (`X-Amz-Target`), e.g. SSM.
    Json11,
    /// The query protocol (form-encoded `Action`), answered in XML, e.g. STS.
    Query,
}

/// An error as AWS reports it: a code, a message and an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub status: StatusCode,
}

impl AwsError {
    /// A client error (400) with this code.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: code.to_string(),
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// A request parameter that must be present is missing.
    pub fn missing(field: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// A server-side failure (500).
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        Self::new(code, message).with_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whether the client is at fault (the query protocol's `Type`).
    pub fn is_sender_fault(&self) -> bool {
        self.status.is_client_error()
    }

    /// Render for a protocol.
    pub fn into_response(self, protocol: Protocol, request_id: &str) -> Response {
        match protocol {
            Protocol::Json11 => self.json_response(request_id),
            Protocol::Query => self.xml_response(request_id),
        }
    }

    fn json_response(self, request_id: &str) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message }).to_string();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-ErrorType", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-RequestId", v);
        }
        resp
    }

    fn xml_response(self, request_id: &str) -> Response {
        let kind = if self.is_sender_fault() {
            "Sender"
        } else {
            "Receiver"
        };
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(&self.code),
            xml_escape(&self.message),
            xml_escape(request_id)
        );
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-RequestId", v);
        }
        resp
    }
}

/// Escape text for an XML element or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Carriage returns and newlines as S3 writes them in keys, so that XML's end-of-line
            // normalization cannot change the text; other control characters as character
            // references (what S3 sends; `encoding-type=url` avoids them in listings). NUL has
            // no XML form at all: it becomes U+FFFD, and writers refuse it before it is stored.
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\0' => out.push('\u{FFFD}'),
            c if c.is_control() && c != '\t' => out.push_str(&format!("&#x{:X};", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// A plain JSON error for the internal endpoints: `{"error": "..."}`.
pub fn internal_api_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() }).to_string();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b&\"c'>"), "a&lt;b&amp;&quot;c&apos;&gt;");
        assert_eq!(
            xml_escape("a\r\nb\u{1}\tc\0"),
            "a&#13;&#10;b&#x1;\tc\u{FFFD}"
        );
    }

    #[test]
    fn status_and_fault() {
        assert!(AwsError::validation("x").is_sender_fault());
        assert!(!AwsError::internal("InternalFailure", "x").is_sender_fault());
    }
}

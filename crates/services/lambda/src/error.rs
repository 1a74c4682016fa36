//! Lambda's errors: rest-json, the code in `x-amzn-ErrorType`, `{"Type": "User", "message"}`.

use serde_json::{Map, Value, json};
use snapstack_protocol::body::Body;
use snapstack_protocol::codec::rest::serialize_error_json;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

/// An error as Lambda answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct LambdaError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Other members of the error shape (`Type`, `Reason`).
    pub fields: Map<String, Value>,
}

impl LambdaError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        let mut fields = Map::new();
        let kind = if status >= 500 { "Service" } else { "User" };
        fields.insert("Type".into(), json!(kind));
        LambdaError {
            status,
            code: code.to_string(),
            message: message.into(),
            fields,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterValueException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFoundException", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ResourceConflictException", message)
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(500, "ServiceException", message)
    }

    pub fn with(mut self, k: &str, v: Value) -> Self {
        self.fields.insert(k.into(), v);
        self
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let (headers, body) = serialize_error_json(&self.code, &self.message, &self.fields);
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut r = (status, Body::from(body)).into_response();
        let h = r.headers_mut();
        for (k, v) in headers {
            if let (Ok(n), Ok(v)) = (
                snapstack_protocol::http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                h.insert(n, v);
            }
        }
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", v);
        }
        r
    }

    pub fn into_aws(self) -> AwsError {
        AwsError::new(&self.code, self.message)
            .with_status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST))
    }
}

impl From<AwsError> for LambdaError {
    fn from(e: AwsError) -> Self {
        LambdaError::new(e.status.as_u16(), &e.code, e.message)
    }
}

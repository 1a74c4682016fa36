//! S3's errors: `<Error><Code>…` documents with the right status.

use snapstack_protocol::errors::xml_escape;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use crate::headers::set;

/// An S3 error: `<Error><Code>…` with the right status (HEAD responses carry no body).
#[derive(Debug, Clone)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub(crate) fn with(mut self, tag: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((tag, value.into()));
        self
    }

    pub(crate) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::bad("InvalidRequest", message)
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::bad("InvalidArgument", message)
    }

    /// A 412 naming the condition that did not hold.
    pub(crate) fn precondition(condition: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }

    pub(crate) fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    pub(crate) fn no_such_key(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    pub(crate) fn no_such_upload(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            message.into(),
        )
    }

    pub fn into_response(self, request_id: &str, head: bool) -> Response {
        let body = if head {
            String::new()
        } else {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
            x.push_str(&format!(
                "<Code>{}</Code><Message>{}</Message>",
                self.code,
                xml_escape(&self.message)
            ));
            for (tag, v) in &self.extra {
                x.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(v)));
            }
            x.push_str(&format!(
                "<RequestId>{}</RequestId></Error>",
                xml_escape(request_id)
            ));
            x
        };
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        set(h, "x-amz-request-id", request_id);
        resp
    }
}

pub(crate) type S3Result<T> = Result<T, S3Error>;

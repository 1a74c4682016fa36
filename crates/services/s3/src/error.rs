//! S3's errors: `<Error><Code>…` documents with the right status.

use snapstack_protocol::codec::rest::{error_status, serialize_error_xml};
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::model;
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

    /// The error as S3 answers it: `<Error><Code/><Message/>..<RequestId/></Error>` (the
    /// codec's S3 error document), with the status the model gives the code when it models
    /// it (`NoSuchKey` 404, `BucketAlreadyExists` 409, ...), else this error's own.
    pub fn into_response(self, request_id: &str, head: bool) -> Response {
        let status = error_status(model::s3(), self.code)
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(self.status);
        let body = if head {
            Vec::new()
        } else {
            let extra: Vec<(&str, &str)> =
                self.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            serialize_error_xml(self.code, &self.message, request_id, &extra)
        };
        let mut resp = (status, body).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_s3_documents_with_the_models_status() {
        let r = S3Error::no_such_key("a<b").into_response("rid", false);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["x-amz-request-id"], "rid");
        let r = S3Error::new(StatusCode::IM_A_TEAPOT, "NotModelled", "m").into_response("r", true);
        assert_eq!(r.status(), StatusCode::IM_A_TEAPOT);
        // Every code the model lists keeps the status the handlers give it.
        for (code, status) in [
            ("NoSuchBucket", 404),
            ("NoSuchUpload", 404),
            ("BucketAlreadyExists", 409),
            ("BucketAlreadyOwnedByYou", 409),
            ("InvalidObjectState", 403),
            ("InvalidRequest", 400),
            ("AccessDenied", 403),
        ] {
            assert_eq!(error_status(model::s3(), code), Some(status), "{code}");
        }
    }

    #[test]
    fn error_document_layout() {
        let extra = [("Key", "a<b")];
        let body = serialize_error_xml("NoSuchKey", "m", "rid", &extra);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>m</Message><Key>a&lt;b</Key><RequestId>rid</RequestId></Error>"
        );
    }
}

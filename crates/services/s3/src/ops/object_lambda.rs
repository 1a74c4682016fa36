//! WriteGetObjectResponse: an S3 Object Lambda function's answer to a GetObject made through an
//! Object Lambda access point. Such access points are S3 Control resources, which this emulator
//! does not serve, so no GetObject is ever waiting on a request route and token here: the call
//! is checked as S3 checks it (its route and token headers, a forwarded status that is an HTTP
//! status) and then refused the way S3 refuses a token it did not issue (400 `InvalidToken`),
//! never 501 and never a success that would pretend an answer reached someone.

use snapstack_protocol::response::Response;

use crate::{Req, S3, S3Error, S3Result};

impl S3 {
    pub(crate) fn write_get_object_response(&self, r: &Req<'_>) -> S3Result<Response> {
        let route = r.h("x-amz-request-route").unwrap_or("");
        let token = r.h("x-amz-request-token").unwrap_or("");
        if route.is_empty() || token.is_empty() {
            return Err(S3Error::invalid_request(
                "WriteGetObjectResponse requires the x-amz-request-route and x-amz-request-token headers",
            ));
        }
        if let Some(status) = r.h("x-amz-fwd-status")
            && !status
                .parse::<u16>()
                .is_ok_and(|s| (100..=599).contains(&s))
        {
            return Err(S3Error::invalid_argument("Invalid status code")
                .with("ArgumentName", "x-amz-fwd-status")
                .with("ArgumentValue", status));
        }
        Err(S3Error::bad(
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        )
        .with("Token-0", token))
    }
}

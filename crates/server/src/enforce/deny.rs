//! Refusals in the caller's protocol: AccessDenied with AWS's message, and the signature errors
//! (`SignatureDoesNotMatch`, `InvalidClientTokenId` / S3's `InvalidAccessKeyId`, ...).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use snapstack_policy::Source;
use snapstack_protocol::codec::rest::error::serialize_error_xml;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::model::ServiceModel;
use snapstack_service::reply::{json_error, query_error};
use snapstack_service::{RequestContext, Service};

/// Why a request was denied, as AWS's message words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    ExplicitDeny(Source),
    NoAllow(Source),
}

/// The kind of policy, with its article.
fn kind_of(source: Source) -> &'static str {
    match source {
        Source::Identity => "an identity-based policy",
        Source::Resource => "a resource-based policy",
        Source::PermissionsBoundary => "a permissions boundary",
        Source::Session => "a session policy",
    }
}

/// `User: <arn> is not authorized to perform: <action> on resource: <arn> because ...`.
pub fn message(principal: &str, action: &str, resource: &str, reason: Reason) -> String {
    let because = match reason {
        Reason::ExplicitDeny(s) => format!("with an explicit deny in {}", kind_of(s)),
        Reason::NoAllow(s) => {
            let kind = kind_of(s);
            let kind = kind.split_once(' ').map_or(kind, |(_, k)| k);
            format!("because no {kind} allows the {action} action")
        }
    };
    format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {because}"
    )
}

/// The protocol a service answers in.
fn protocol(model: &ServiceModel) -> &str {
    let p = &model.metadata.protocols;
    if p.iter().any(|p| p == "rest-xml") || model.metadata.protocol == "rest-xml" {
        "rest-xml"
    } else if model.metadata.protocol == "query" {
        "query"
    } else {
        "json"
    }
}

/// An error of `service` with `code`, `message` and `status`, in its protocol.
pub fn error(
    service: &dyn Service,
    ctx: &RequestContext,
    head: bool,
    code: &str,
    message: &str,
    status: StatusCode,
) -> Response {
    let model = service.model();
    match protocol(model) {
        "rest-xml" => {
            let body = if head {
                Vec::new()
            } else {
                serialize_error_xml(code, message, &ctx.request_id, &[])
            };
            let mut resp = (status, body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
                h.insert("x-amz-request-id", v);
            }
            resp
        }
        "query" => {
            let mut resp = query_error(model, ctx, code, message);
            *resp.status_mut() = status;
            resp
        }
        _ => {
            // JSON services name these errors with `Exception` (AccessDeniedException,
            // InvalidSignatureException, ...); SQS's query-compatible JSON carries the query
            // code (AccessDenied) in `x-amzn-query-error`.
            let query_compatible = model.metadata.aws_query_compatible.is_some();
            let (json_code, status) = if query_compatible {
                (code, status)
            } else {
                json_auth_error(&model.metadata.protocol, code, status)
            };
            let e = AwsError::new(json_code, message).with_status(status);
            let mut resp = json_error(model, &e, &ctx.request_id);
            if query_compatible && let Ok(v) = HeaderValue::from_str(&format!("{code};Sender")) {
                resp.headers_mut().insert("x-amzn-query-error", v);
            }
            resp
        }
    }
}

/// An authentication or authorization error's code and status as a JSON service answers it:
/// the query protocol's codes with `Exception` (`SignatureDoesNotMatch` becomes
/// `InvalidSignatureException`), and for the JSON RPC protocols (DynamoDB, KMS, SSM, Secrets
/// Manager, ...; not REST JSON such as Lambda's) HTTP 400, as their documentation lists them.
fn json_auth_error<'c>(protocol: &str, code: &'c str, status: StatusCode) -> (&'c str, StatusCode) {
    let renamed = match code {
        "AccessDenied" => "AccessDeniedException",
        "SignatureDoesNotMatch" => "InvalidSignatureException",
        "MissingAuthenticationToken" => "MissingAuthenticationTokenException",
        "IncompleteSignature" => "IncompleteSignatureException",
        "InvalidClientTokenId" => "UnrecognizedClientException",
        "ExpiredToken" => "ExpiredTokenException",
        c => c,
    };
    let auth = renamed != code
        || matches!(
            code,
            "AccessDeniedException"
                | "UnrecognizedClientException"
                | "ExpiredTokenException"
                | "InvalidSignatureException"
                | "IncompleteSignatureException"
                | "MissingAuthenticationTokenException"
        );
    let rpc = matches!(protocol, "json" | "smithy-rpc-v2-cbor");
    let status = if auth && rpc && status.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    (renamed, status)
}

/// AccessDenied (403) in `service`'s protocol.
pub fn access_denied(
    service: &dyn Service,
    ctx: &RequestContext,
    head: bool,
    message: &str,
) -> Response {
    error(
        service,
        ctx,
        head,
        "AccessDenied",
        message,
        StatusCode::FORBIDDEN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_services_answer_auth_errors_as_documented() {
        let f = StatusCode::FORBIDDEN;
        let b = StatusCode::BAD_REQUEST;
        assert_eq!(
            json_auth_error("json", "AccessDenied", f),
            ("AccessDeniedException", b)
        );
        assert_eq!(
            json_auth_error("json", "SignatureDoesNotMatch", f),
            ("InvalidSignatureException", b)
        );
        assert_eq!(
            json_auth_error("json", "UnrecognizedClientException", f),
            ("UnrecognizedClientException", b)
        );
        // REST JSON (Lambda) keeps its 403.
        assert_eq!(
            json_auth_error("rest-json", "AccessDenied", f),
            ("AccessDeniedException", f)
        );
        // Anything else is untouched.
        assert_eq!(
            json_auth_error("json", "NotImplemented", StatusCode::NOT_IMPLEMENTED),
            ("NotImplemented", StatusCode::NOT_IMPLEMENTED)
        );
    }

    #[test]
    fn messages_as_aws_words_them() {
        assert_eq!(
            message(
                "arn:aws:iam::000000000000:user/x",
                "sqs:SendMessage",
                "arn:aws:sqs:us-east-1:000000000000:q",
                Reason::NoAllow(Source::Identity)
            ),
            "User: arn:aws:iam::000000000000:user/x is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:q because no identity-based policy allows the sqs:SendMessage action"
        );
        assert!(
            message(
                "u",
                "s3:GetObject",
                "r",
                Reason::ExplicitDeny(Source::Resource)
            )
            .ends_with("with an explicit deny in a resource-based policy")
        );
    }
}

//! Errors in the query protocol, and the `x-amzn-query-error` header of JSON services that
//! query clients once called (SQS).
//!
//! ```xml
//! <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
//!   <Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
//!   <RequestId>..</RequestId>
//! </ErrorResponse>
//! ```

use super::{escape_into, namespace};
use crate::model::{ServiceModel, Shape};

/// The XML body of an error.
pub fn serialize_error(
    model: &ServiceModel,
    code: &str,
    message: &str,
    sender_fault: bool,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(200 + message.len());
    out.push_str("<ErrorResponse xmlns=\"");
    escape_into(&mut out, &namespace(model));
    out.push_str("\"><Error><Type>");
    out.push_str(if sender_fault { "Sender" } else { "Receiver" });
    out.push_str("</Type><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    out.push_str("</Message></Error><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    out
}

/// The query code of an error shape: its `error.code`, else the shape's name.
fn code_of<'m>(name: &'m str, shape: &'m Shape) -> &'m str {
    shape
        .error
        .as_ref()
        .and_then(|e| e.code.as_deref())
        .unwrap_or(name)
}

/// Whether an error shape is the client's fault: `error.senderFault`, else not `fault`.
fn is_sender(shape: &Shape) -> bool {
    match &shape.error {
        Some(e) if e.code.is_some() || e.sender_fault => e.sender_fault,
        _ => !shape.fault,
    }
}

/// The error shape answering with `code` (its `error.code`, or its name when it has none).
fn error_shape<'m>(model: &'m ServiceModel, code: &str) -> Option<&'m Shape> {
    if let Some(s) = model
        .shape(code)
        .filter(|s| s.exception && code_of(code, s) == code)
    {
        return Some(s);
    }
    model
        .shapes
        .iter()
        .find(|(name, s)| s.exception && code_of(name, s) == code)
        .map(|(_, s)| s)
}

/// The HTTP status of an error code: the model's `error.httpStatusCode` for it, else 400 for a
/// client's fault and 500 for the service's. Codes the model does not list are AWS's common
/// errors: `InternalFailure` 500, `ServiceUnavailable` 503, `NotImplemented` 501,
/// `MissingAuthenticationToken` 403, and 400 for the rest (`InvalidParameterValue`,
/// `MissingParameter`, `InvalidAction`, `Throttling`, ...).
pub fn error_status(model: &ServiceModel, code: &str) -> u16 {
    if let Some(shape) = error_shape(model, code) {
        if let Some(status) = shape.error.as_ref().and_then(|e| e.http_status_code) {
            return status;
        }
        return if is_sender(shape) { 400 } else { 500 };
    }
    match code {
        "InternalFailure" | "InternalError" | "InternalServerError" => 500,
        "ServiceUnavailable" => 503,
        "NotImplemented" => 501,
        "MissingAuthenticationToken"
        | "InvalidClientTokenId"
        | "AccessDenied"
        | "AccessDeniedException"
        | "SignatureDoesNotMatch" => 403,
        _ => 400,
    }
}

/// For a JSON service marked `awsQueryCompatible` (SQS), the `x-amzn-query-error` header value
/// of an error shape: `Code;Sender` or `Code;Receiver`, with the query code from the shape's
/// `error.code` (else its name), so query-era clients see the codes they know
/// (`AWS.SimpleQueueService.NonExistentQueue`). `None` for other services, or a name that is
/// not an error shape of the model.
pub fn query_compatible_header(model: &ServiceModel, error_shape_name: &str) -> Option<String> {
    model.metadata.aws_query_compatible.as_ref()?;
    let shape = model.shape(error_shape_name).filter(|s| s.exception)?;
    let kind = if is_sender(shape) {
        "Sender"
    } else {
        "Receiver"
    };
    Some(format!("{};{kind}", code_of(error_shape_name, shape)))
}

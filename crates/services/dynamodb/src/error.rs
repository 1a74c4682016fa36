//! DynamoDB's errors: JSON 1.0 bodies with a namespaced `__type`, a `message`, and for some codes
//! modeled members (`Item` of ConditionalCheckFailedException, `CancellationReasons` of
//! TransactionCanceledException) that botocore copies into the client's error response.

use serde_json::{Map, Value};
use snapstack_protocol::codec::json;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::response::Response;
use snapstack_service::reply;

/// An error as DynamoDB sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct DdbError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
    /// Extra members of the error body.
    pub extra: Map<String, Value>,
}

pub type DdbResult<T> = Result<T, DdbError>;

impl DdbError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        DdbError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            extra: Map::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// `One or more parameter values were invalid: <detail>`.
    pub fn invalid_param(detail: impl std::fmt::Display) -> Self {
        Self::validation(format!(
            "One or more parameter values were invalid: {detail}"
        ))
    }

    /// A constraint of the model was violated: `1 validation error detected: ...`.
    pub fn constraint(value: impl std::fmt::Display, field: &str, constraint: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// A required member is missing.
    pub fn missing(field: &str) -> Self {
        Self::validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    }

    pub fn not_found() -> Self {
        Self::new("ResourceNotFoundException", "Requested resource not found")
    }

    pub fn table_not_found(name: &str) -> Self {
        Self::new(
            "ResourceNotFoundException",
            format!("Requested resource not found: Table: {name} not found"),
        )
    }

    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let mut e = Self::new("InternalServerError", message);
        e.status = StatusCode::INTERNAL_SERVER_ERROR;
        e
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// The error as DynamoDB writes it (the model's JSON codec: `__type` namespaced as DynamoDB
    /// sends it, which botocore strips before the `#`; `message`, or `Message` where the model
    /// spells it so; the extra members the error shape has).
    fn wire(&self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        json::serialize_error_with(model(), self.code, &self.message, &self.extra)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        serde_json::from_slice(&self.wire().2).unwrap_or_default()
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let e = AwsError::new(self.code, self.message).with_status(self.status);
        reply::json_error_with(model(), &e, &self.extra, request_id)
    }
}

/// DynamoDB's model.
pub(crate) fn model() -> &'static ServiceModel {
    snapstack_protocol::model::named(crate::NAME).expect("the dynamodb model is embedded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_namespaced_and_carry_extra_members() {
        let e = DdbError::new(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        )
        .with("Item", serde_json::json!({"id": {"S": "a"}}));
        let b = e.body();
        assert_eq!(
            b["__type"],
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
        );
        assert_eq!(b["message"], "The conditional request failed");
        assert_eq!(b["Item"]["id"]["S"], "a");
        let v = DdbError::validation("x").body();
        assert_eq!(v["__type"], "com.amazon.coral.validate#ValidationException");
        let t = DdbError::new("TransactionCanceledException", "m").body();
        assert_eq!(t["Message"], "m");
        assert_eq!(
            DdbError::internal("x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

//! SQS errors. Each has the JSON protocol's type (the model's shape name, sent as
//! `com.amazonaws.sqs#<Shape>`) and the query protocol's legacy code (sent in XML, and in the
//! JSON protocol's `x-amzn-query-error` header, from which botocore takes the error code).

use snapstack_protocol::http::StatusCode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsError {
    /// The JSON protocol's error type (a shape name of the model, or a generic one).
    pub shape: &'static str,
    /// The query protocol's code.
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl std::fmt::Display for SqsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl SqsError {
    fn new(shape: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        SqsError {
            shape,
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// Whether the client is at fault.
    pub fn sender_fault(&self) -> bool {
        self.status.is_client_error()
    }

    pub fn no_queue() -> Self {
        Self::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    /// `GetQueueUrl` for a queue of another account that does not exist or is not shared.
    pub fn no_queue_or_no_access() -> Self {
        Self::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist or you do not have access to it.",
        )
    }

    /// A request on a queue of another account that its policy does not open to the caller.
    pub fn access_denied(resource: &str) -> Self {
        SqsError {
            status: StatusCode::FORBIDDEN,
            ..Self::new(
                "AccessDeniedException",
                "AccessDenied",
                format!("Access to the resource {resource} is denied."),
            )
        }
    }

    pub fn queue_exists(name: &str) -> Self {
        Self::new(
            "QueueNameExists",
            "QueueAlreadyExists",
            format!(
                "A queue already exists with the same name and a different value for attribute(s) {name}"
            ),
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            "InvalidParameterValueException",
            "InvalidParameterValue",
            message,
        )
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingRequiredParameterException",
            "MissingParameter",
            format!("The request must contain the parameter {param}."),
        )
    }

    pub fn receipt_invalid(handle: &str) -> Self {
        Self::new(
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    }

    pub fn invalid_attribute_name(name: &str) -> Self {
        Self::new(
            "InvalidAttributeName",
            "InvalidAttributeName",
            format!("Unknown Attribute {name}."),
        )
    }

    /// SSE-SQS and SSE-KMS asked for together (AWS's code and wording).
    pub fn two_kinds_of_sse() -> Self {
        Self::new(
            "InvalidAttributeName",
            "InvalidAttributeName",
            "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.",
        )
    }

    /// A KMS failure as SQS answers it: the model's `Kms*` shape, its query code
    /// (`KMS.<KMS exception>`), and KMS's message with what failed.
    pub fn kms(
        shape: &'static str,
        code: &'static str,
        message: impl Into<String>,
        status: StatusCode,
    ) -> Self {
        SqsError {
            status,
            ..Self::new(shape, code, message)
        }
    }

    pub fn invalid_attribute_value(message: impl Into<String>) -> Self {
        Self::new("InvalidAttributeValue", "InvalidAttributeValue", message)
    }

    pub fn invalid_contents(message: impl Into<String>) -> Self {
        Self::new("InvalidMessageContents", "InvalidMessageContents", message)
    }

    pub fn too_many_entries(n: usize) -> Self {
        Self::new(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!("Maximum number of entries per request are 10. You have sent {n}."),
        )
    }

    pub fn empty_batch() -> Self {
        Self::new(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        )
    }

    pub fn ids_not_distinct(id: &str) -> Self {
        Self::new(
            "BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            format!("Id {id} repeated."),
        )
    }

    pub fn invalid_batch_id(id: &str) -> Self {
        Self::new(
            "InvalidBatchEntryId",
            "AWS.SimpleQueueService.InvalidBatchEntryId",
            format!(
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long. Invalid id: {id}"
            ),
        )
    }

    pub fn batch_too_long(size: usize, max: usize) -> Self {
        Self::new(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {max} bytes. You have sent {size} bytes."
            ),
        )
    }

    pub fn purge_in_progress(name: &str) -> Self {
        Self::new(
            "PurgeQueueInProgress",
            "AWS.SimpleQueueService.PurgeQueueInProgress",
            format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
        )
    }

    pub fn not_in_flight() -> Self {
        Self::new(
            "MessageNotInflight",
            "AWS.SimpleQueueService.MessageNotInflight",
            "The message referred to isn't in flight.",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            "ResourceNotFoundException",
            "ResourceNotFoundException",
            message,
        )
    }

    pub fn invalid_address(url: &str) -> Self {
        Self::new(
            "InvalidAddress",
            "InvalidAddress",
            format!("The address {url} is not valid for this endpoint."),
        )
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", "MalformedQueryString", message)
    }

    pub fn unknown_operation(op: &str) -> Self {
        if op.is_empty() {
            return Self::new(
                "UnknownOperationException",
                "MissingAction",
                "The request must contain the parameter Action.",
            );
        }
        if snapstack_protocol::model::has_operation("sqs", op) {
            return SqsError {
                status: StatusCode::NOT_IMPLEMENTED,
                ..Self::new(
                    "NotImplemented",
                    "NotImplemented",
                    snapstack_protocol::model::not_implemented_message("SQS", op),
                )
            };
        }
        Self::new(
            "UnknownOperationException",
            "InvalidAction",
            format!("The action {op} is not valid for this endpoint."),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        SqsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Self::new("InternalFailure", "InternalFailure", message)
        }
    }
}

//! What AWS's JSON services differ in, though the model does not say: the `__type` namespace of
//! their errors, how `message` is spelled, which headers an error carries, and the wording of a
//! `SerializationException`. Each service's dialect is the one its hand-written handler speaks
//! today (`src/server/services/{dynamodb,sqs,ssm}`), byte for byte; any other JSON service
//! speaks the plain Coral dialect (a bare `__type`, `x-amzn-ErrorType`), which is what KMS,
//! Secrets Manager, CloudWatch Logs and the others send.

use crate::model::ServiceModel;

/// One service's JSON dialect.
pub(super) struct Dialect {
    /// The namespace written before `#` in `__type` (none: the bare code).
    pub namespace: Option<&'static str>,
    /// Codes that carry a namespace of their own (DynamoDB's Coral framework errors).
    pub namespaced: &'static [(&'static str, &'static str)],
    /// Error codes whose message member is spelled `Message` (as their model spells it).
    pub capital_message: &'static [&'static str],
    /// Whether errors carry `x-amzn-ErrorType: <code>`.
    pub error_type_header: bool,
    /// JSON nesting refused before parsing, with this message (else serde_json's own limit of
    /// 128 levels applies, reported as a malformed body).
    pub max_nesting: Option<(usize, &'static str)>,
    /// The message of a body that is not JSON.
    pub malformed: fn(&serde_json::Error) -> String,
    /// The message of a body that is JSON but not an object.
    pub not_object: &'static str,
    /// Query codes (`x-amzn-query-error`) of an `awsQueryCompatible` service's errors whose
    /// shape lacks the `error.code` trait (botocore's SQS model dropped them; these are the
    /// `@awsQueryError` codes of SQS's Smithy model).
    pub query_codes: &'static [(&'static str, &'static str)],
}

const PLAIN: Dialect = Dialect {
    namespace: None,
    namespaced: &[],
    capital_message: &[],
    error_type_header: true,
    max_nesting: None,
    malformed: |e| e.to_string(),
    not_object: "Start of structure or map expected",
    query_codes: &[],
};

const DYNAMODB: Dialect = Dialect {
    namespace: Some("com.amazonaws.dynamodb.v20120810"),
    namespaced: &[
        ("ValidationException", "com.amazon.coral.validate"),
        ("SerializationException", "com.amazon.coral.service"),
        ("UnknownOperationException", "com.amazon.coral.service"),
    ],
    capital_message: &["TransactionCanceledException"],
    error_type_header: false,
    max_nesting: None,
    malformed: |e| format!("Start of structure or map found where not expected: {e}"),
    not_object: "Start of structure or map expected",
    query_codes: &[],
};

const SQS: Dialect = Dialect {
    namespace: Some("com.amazonaws.sqs"),
    namespaced: &[],
    capital_message: &[],
    error_type_header: false,
    // SQS inputs are at most 4 levels deep.
    max_nesting: Some((16, "The request is nested too deeply.")),
    malformed: |e| format!("Malformed request body: {e}"),
    not_object: "The request body must be a JSON object.",
    query_codes: &[
        (
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
        ),
        ("QueueNameExists", "QueueAlreadyExists"),
        ("AccessDeniedException", "AccessDenied"),
        ("InvalidParameterValueException", "InvalidParameterValue"),
        ("MissingRequiredParameterException", "MissingParameter"),
        (
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        (
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        ),
        (
            "BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        (
            "InvalidBatchEntryId",
            "AWS.SimpleQueueService.InvalidBatchEntryId",
        ),
        (
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
        ),
        (
            "PurgeQueueInProgress",
            "AWS.SimpleQueueService.PurgeQueueInProgress",
        ),
        (
            "MessageNotInflight",
            "AWS.SimpleQueueService.MessageNotInflight",
        ),
        (
            "QueueDeletedRecently",
            "AWS.SimpleQueueService.QueueDeletedRecently",
        ),
        (
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
        ),
        ("InvalidIdFormat", "InvalidIdFormat"),
        ("OverLimit", "OverLimit"),
        ("RequestThrottled", "RequestThrottled"),
        ("KmsAccessDenied", "KMS.AccessDeniedException"),
        ("KmsDisabled", "KMS.DisabledException"),
        ("KmsInvalidKeyUsage", "KMS.InvalidKeyUsageException"),
        ("KmsInvalidState", "KMS.InvalidStateException"),
        ("KmsNotFound", "KMS.NotFoundException"),
        ("KmsOptInRequired", "KMS.OptInRequired"),
        ("KmsThrottled", "KMS.ThrottlingException"),
        ("SerializationException", "MalformedQueryString"),
        ("UnknownOperationException", "InvalidAction"),
    ],
};

/// The dialect of a model's service (by its `endpointPrefix`).
pub(super) fn of(model: &ServiceModel) -> &'static Dialect {
    match model.metadata.endpoint_prefix.as_str() {
        "dynamodb" => &DYNAMODB,
        "sqs" => &SQS,
        _ => &PLAIN,
    }
}

impl Dialect {
    /// `__type` of an error code.
    pub fn error_type(&self, code: &str) -> String {
        let ns = self
            .namespaced
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, ns)| *ns)
            .or(self.namespace);
        match ns {
            Some(ns) => format!("{ns}#{code}"),
            None => code.to_string(),
        }
    }

    /// The body member that holds an error's message.
    pub fn message_key(&self, code: &str) -> &'static str {
        if self.capital_message.contains(&code) {
            "Message"
        } else {
            "message"
        }
    }

    /// The query code of an error without an `error.code` trait.
    pub fn query_code<'a>(&self, code: &'a str) -> &'a str {
        self.query_codes
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code, |(_, q)| *q)
    }
}

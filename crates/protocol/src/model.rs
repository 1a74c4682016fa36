//! AWS service models: the facts of botocore's `service-2.json` that the wire needs.
//!
//! The models live in `crates/protocol/models/<service>.json`, stripped of documentation by `scripts/models.py`
//! (the botocore version they came from is in `crates/protocol/models/BOTOCORE_VERSION`). They are embedded in
//! the binary and parsed once, on first use; unknown keys are ignored, so a newer model file
//! with more traits still loads.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One service's model.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceModel {
    pub metadata: Metadata,
    pub operations: BTreeMap<String, Operation>,
    #[serde(default)]
    pub shapes: BTreeMap<String, Shape>,
}

/// What identifies a service on the wire.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub endpoint_prefix: String,
    pub protocol: String,
    #[serde(default)]
    pub protocols: Vec<String>,
    pub service_id: String,
    #[serde(default)]
    pub signing_name: Option<String>,
    #[serde(default)]
    pub target_prefix: Option<String>,
    #[serde(default)]
    pub json_version: Option<String>,
    /// The XML namespace of query and rest-xml responses.
    #[serde(default)]
    pub xml_namespace: Option<String>,
    /// Present on JSON services that query-protocol clients once called (SQS): errors then
    /// carry their query code in `x-amzn-query-error`.
    #[serde(default)]
    pub aws_query_compatible: Option<serde_json::Value>,
    #[serde(default)]
    pub global_endpoint: Option<String>,
}

/// One operation: its HTTP binding, input, output and errors.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub http: Option<Http>,
    #[serde(default)]
    pub input: Option<ShapeRef>,
    #[serde(default)]
    pub output: Option<ShapeRef>,
    #[serde(default)]
    pub errors: Vec<ShapeRef>,
    #[serde(default)]
    pub deprecated: bool,
    /// Endpoint-rule parameters fixed for this operation (S3 marks the operations served by the
    /// S3 Express control endpoint with `UseS3ExpressControlEndpoint`).
    #[serde(default)]
    pub static_context_params: BTreeMap<String, serde_json::Value>,
}

impl Operation {
    /// Whether the model sends this operation to S3 Express's control endpoint.
    pub fn uses_express_control_endpoint(&self) -> bool {
        self.static_context_params
            .get("UseS3ExpressControlEndpoint")
            .and_then(|v| v.get("value"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

/// An operation's HTTP binding.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    pub method: String,
    pub request_uri: String,
    #[serde(default)]
    pub response_code: Option<u16>,
}

/// A reference to a shape by name (an operation's input, output or error).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeRef {
    pub shape: String,
    /// Query protocol: the element that wraps an output (`GetCallerIdentityResult`).
    #[serde(default)]
    pub result_wrapper: Option<String>,
    /// rest-xml: the root element of an input payload, and its namespace.
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
}

/// An XML namespace trait: a bare URI, or `{"uri": .., "prefix": ..}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum XmlNamespace {
    Uri(String),
    Full {
        uri: String,
        #[serde(default)]
        prefix: Option<String>,
    },
}

impl XmlNamespace {
    /// The namespace URI.
    pub fn uri(&self) -> &str {
        match self {
            XmlNamespace::Uri(u) | XmlNamespace::Full { uri: u, .. } => u,
        }
    }
}

/// An error shape's wire facts (`"error": {"code": .., "httpStatusCode": .., "senderFault": ..}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorTrait {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub http_status_code: Option<u16>,
    #[serde(default)]
    pub sender_fault: bool,
}

/// A shape: its type, members and which of them are required, and its constraints.
#[derive(Clone, Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub members: BTreeMap<String, Member>,
    #[serde(default)]
    pub required: Vec<String>,
    /// A list's element shape.
    #[serde(default)]
    pub member: Option<ShapeRef>,
    /// A map's key and value shapes.
    #[serde(default)]
    pub key: Option<ShapeRef>,
    #[serde(default)]
    pub value: Option<ShapeRef>,
    /// Length (strings, blobs, lists, maps) or value (numbers) bounds.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default)]
    pub pattern: Option<String>,
    /// Timestamps: `iso8601`, `rfc822` or `unixTimestamp` (else the protocol's default).
    #[serde(default, rename = "timestampFormat")]
    pub timestamp_format: Option<String>,
    /// XML: a list or map written without a wrapping element.
    #[serde(default)]
    pub flattened: bool,
    /// Structures: the member that is the HTTP payload (rest protocols).
    #[serde(default)]
    pub payload: Option<String>,
    /// Blobs: a streaming body, never buffered by a codec.
    #[serde(default)]
    pub streaming: bool,
    /// Error structures.
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub error: Option<ErrorTrait>,
    #[serde(default)]
    pub fault: bool,
    /// Structures that are unions: exactly one member is set.
    #[serde(default)]
    pub union: bool,
    /// The element name of a shape used as an XML payload or list member.
    #[serde(default, rename = "locationName")]
    pub location_name: Option<String>,
    #[serde(default, rename = "xmlNamespace")]
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub document: bool,
    #[serde(default)]
    pub event: bool,
    #[serde(default)]
    pub eventstream: bool,
}

/// A structure member and where it travels (`uri`, `querystring`, `header`, `headers`,
/// `statusCode`, or the body when `location` is absent).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub shape: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub location_name: Option<String>,
    /// Query protocol (EC2 style): the member's name in a form.
    #[serde(default)]
    pub query_name: Option<String>,
    #[serde(default)]
    pub flattened: bool,
    #[serde(default)]
    pub xml_attribute: bool,
    #[serde(default)]
    pub xml_namespace: Option<XmlNamespace>,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub streaming: bool,
    #[serde(default)]
    pub idempotency_token: bool,
    #[serde(default)]
    pub host_label: bool,
    #[serde(default, rename = "jsonvalue")]
    pub json_value: bool,
}

impl ServiceModel {
    /// Parse a model file.
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("service model does not parse: {e}"))
    }

    /// A shape by name.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// An operation's output shape, if it has one.
    pub fn output_of(&self, op: &Operation) -> Option<&Shape> {
        op.output.as_ref().and_then(|r| self.shapes.get(&r.shape))
    }

    /// An operation's input shape, if it has one.
    pub fn input_of(&self, op: &Operation) -> Option<&Shape> {
        op.input.as_ref().and_then(|r| self.shapes.get(&r.shape))
    }
}

/// The embedded models: [`EMBEDDED`] lists them and [`named`] parses one on first use, from
/// one list of names.
macro_rules! embedded_models {
    ($($name:literal),* $(,)?) => {
        /// Every embedded model, by its file name (`crates/protocol/models/<name>.json`).
        pub const EMBEDDED: &[&str] = &[$($name),*];

        /// An embedded model, parsed on first use.
        pub fn named(service: &str) -> Option<&'static ServiceModel> {
            use std::sync::OnceLock;
            match service {
                $($name => {
                    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
                    Some(MODEL.get_or_init(|| {
                        ServiceModel::parse(include_str!(concat!("../models/", $name, ".json")))
                            .expect("an embedded model parses (checked by a unit test)")
                    }))
                })*
                _ => None,
            }
        }
    };
}

embedded_models!(
    "s3",
    "sqs",
    "dynamodb",
    "dynamodbstreams",
    "ssm",
    "sts",
    "secretsmanager",
    "kms",
    "sns",
    "kinesis",
    "iam",
    "cloudwatch",
    "logs",
    "cognito-idp",
    "cognito-identity",
    "lambda",
    "apigateway",
    "apigatewayv2",
    "stepfunctions",
    "route53",
    "acm",
    "appconfig",
    "appconfigdata",
    "appsync",
    "amplify",
    "rds",
    "events",
    "elasticache",
    "firehose",
);

/// The model's SigV4 signing name (`signingName`, else `endpointPrefix`).
pub fn signing_name(model: &ServiceModel) -> &str {
    model
        .metadata
        .signing_name
        .as_deref()
        .unwrap_or(&model.metadata.endpoint_prefix)
}

/// The S3 model.
pub fn s3() -> &'static ServiceModel {
    named("s3").expect("the S3 model is embedded")
}

/// Whether `operation` is an operation of the model of `service`.
pub fn has_operation(service: &str, operation: &str) -> bool {
    named(service).is_some_and(|m| m.operations.contains_key(operation))
}

/// The message of the 501 an operation of the model answers while it has no handler.
pub fn not_implemented_message(service: &str, operation: &str) -> String {
    format!("The {service} operation {operation} is not implemented by this emulator yet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_model_parses() {
        for (service, protocol) in [
            ("s3", "rest-xml"),
            ("sqs", "json"),
            ("dynamodb", "json"),
            ("ssm", "json"),
            ("sts", "query"),
        ] {
            let m = named(service).unwrap();
            assert_eq!(m.metadata.protocol, protocol, "{service}");
            assert!(!m.operations.is_empty());
        }
        // Every model in the folder is embedded, parses, and names shapes that exist.
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/models")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let service = path.file_stem().unwrap().to_str().unwrap();
            let m = named(service).unwrap_or_else(|| panic!("{service} is not embedded"));
            assert!(
                EMBEDDED.contains(&service),
                "{service} is missing from EMBEDDED"
            );
            for op in m.operations.values() {
                for r in op.input.iter().chain(&op.output).chain(&op.errors) {
                    assert!(m.shape(&r.shape).is_some(), "{service} {}", r.shape);
                }
            }
        }
        assert!(has_operation("ssm", "CreateDocument"));
        assert!(!has_operation("ssm", "Foo"));
        assert!(named("nope").is_none());
    }

    #[test]
    fn the_embedded_s3_model_parses() {
        let m = s3();
        assert_eq!(m.metadata.protocol, "rest-xml");
        assert!(m.operations.len() > 100, "{}", m.operations.len());
        let put = &m.operations["PutObject"];
        assert_eq!(put.http.as_ref().unwrap().method, "PUT");
        assert!(m.input_of(put).unwrap().members.contains_key("Key"));
    }
}

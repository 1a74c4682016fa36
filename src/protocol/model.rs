//! AWS service models: the facts of botocore's `service-2.json` that the wire needs.
//!
//! The models live in `models/<service>.json`, stripped of documentation by `scripts/models.py`
//! (the botocore version they came from is in `models/BOTOCORE_VERSION`). They are embedded in
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

/// A reference to a shape by name.
#[derive(Clone, Debug, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
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
}

impl ServiceModel {
    /// Parse a model file.
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("service model does not parse: {e}"))
    }

    /// An operation's input shape, if it has one.
    pub fn input_of(&self, op: &Operation) -> Option<&Shape> {
        op.input.as_ref().and_then(|r| self.shapes.get(&r.shape))
    }
}

/// The embedded model of a service this emulator serves, parsed on first use.
pub fn named(service: &str) -> Option<&'static ServiceModel> {
    use std::sync::OnceLock;
    macro_rules! embedded {
        ($($name:literal),*) => {
            match service {
                $($name => {
                    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
                    Some(MODEL.get_or_init(|| {
                        ServiceModel::parse(include_str!(concat!("../../models/", $name, ".json")))
                            .expect("an embedded model parses (checked by a unit test)")
                    }))
                })*
                _ => None,
            }
        };
    }
    embedded!("s3", "sqs", "dynamodb", "ssm", "sts")
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

//! Destinations: which configuration member names which kind, the description AWS returns for a
//! stored configuration (walked along the model's description shapes, with the defaults AWS
//! fills in), and how an `UpdateDestination` merges into a stored configuration.

use serde_json::{Map, Value, json};
use snapstack_protocol::model::ServiceModel;

use crate::NAME;

/// A destination kind: `(kind, configuration member, description member, update member)`.
pub const KINDS: &[(&str, &str, &str, &str)] = &[
    (
        "ExtendedS3",
        "ExtendedS3DestinationConfiguration",
        "ExtendedS3DestinationDescription",
        "ExtendedS3DestinationUpdate",
    ),
    (
        "S3",
        "S3DestinationConfiguration",
        "S3DestinationDescription",
        "S3DestinationUpdate",
    ),
    (
        "HttpEndpoint",
        "HttpEndpointDestinationConfiguration",
        "HttpEndpointDestinationDescription",
        "HttpEndpointDestinationUpdate",
    ),
    (
        "Redshift",
        "RedshiftDestinationConfiguration",
        "RedshiftDestinationDescription",
        "RedshiftDestinationUpdate",
    ),
    (
        "Elasticsearch",
        "ElasticsearchDestinationConfiguration",
        "ElasticsearchDestinationDescription",
        "ElasticsearchDestinationUpdate",
    ),
    (
        "Amazonopensearchservice",
        "AmazonopensearchserviceDestinationConfiguration",
        "AmazonopensearchserviceDestinationDescription",
        "AmazonopensearchserviceDestinationUpdate",
    ),
    (
        "AmazonOpenSearchServerless",
        "AmazonOpenSearchServerlessDestinationConfiguration",
        "AmazonOpenSearchServerlessDestinationDescription",
        "AmazonOpenSearchServerlessDestinationUpdate",
    ),
    (
        "Splunk",
        "SplunkDestinationConfiguration",
        "SplunkDestinationDescription",
        "SplunkDestinationUpdate",
    ),
    (
        "Snowflake",
        "SnowflakeDestinationConfiguration",
        "SnowflakeDestinationDescription",
        "SnowflakeDestinationUpdate",
    ),
    (
        "Iceberg",
        "IcebergDestinationConfiguration",
        "IcebergDestinationDescription",
        "IcebergDestinationUpdate",
    ),
];

fn model() -> Option<&'static ServiceModel> {
    snapstack_protocol::model::named(NAME)
}

/// The configuration member of `kind` (`ExtendedS3` → `ExtendedS3DestinationConfiguration`).
pub fn config_member(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map(|k| k.1)
        .unwrap_or("")
}

/// Whether a destination of `kind` writes to S3 as its destination.
pub fn is_s3(kind: &str) -> bool {
    kind == "S3" || kind == "ExtendedS3"
}

/// The configuration member a description (or update) member comes from.
fn source_member(member: &str) -> &str {
    match member {
        "S3DestinationDescription" | "S3Update" => "S3Configuration",
        "S3BackupDescription" | "S3BackupUpdate" => "S3BackupConfiguration",
        "VpcConfigurationDescription" => "VpcConfiguration",
        other => other,
    }
}

/// The value of `config` described along `shape` (a description shape): members the shape has
/// are copied (structures and lists of structures walked), secrets the shape does not name
/// (passwords, access keys, private keys) are left out, and required members AWS fills in get
/// their defaults.
pub fn describe_shape(config: &Value, shape: &str, kind: &str) -> Value {
    let Some(m) = model() else {
        return config.clone();
    };
    describe_in(m, config, shape, kind, 0)
}

fn describe_in(m: &ServiceModel, config: &Value, shape: &str, kind: &str, depth: usize) -> Value {
    let Some(sh) = m.shapes.get(shape) else {
        return config.clone();
    };
    if depth > 16 {
        return Value::Null;
    }
    match (sh.kind.as_str(), config) {
        ("structure", Value::Object(c)) => {
            let mut out = Map::new();
            for (name, member) in &sh.members {
                if let Some(v) = c.get(source_member(name)) {
                    out.insert(
                        name.clone(),
                        describe_in(m, v, &member.shape, kind, depth + 1),
                    );
                } else if let Some(d) = default_of(name, &member.shape, kind) {
                    out.insert(name.clone(), d);
                }
            }
            Value::Object(out)
        }
        ("list", Value::Array(items)) => {
            let inner = sh.member.as_ref().map(|r| r.shape.as_str()).unwrap_or("");
            Value::Array(
                items
                    .iter()
                    .map(|v| describe_in(m, v, inner, kind, depth + 1))
                    .collect(),
            )
        }
        _ => config.clone(),
    }
}

/// The interval AWS buffers for by default, per destination kind (seconds).
pub fn default_interval(kind: &str) -> u64 {
    match kind {
        "Splunk" => 60,
        _ => 300,
    }
}

/// The default of a member AWS always describes.
fn default_of(member: &str, shape: &str, kind: &str) -> Option<Value> {
    match member {
        "BufferingHints" => Some(json!({
            "SizeInMBs": 5,
            "IntervalInSeconds": default_interval(kind),
        })),
        "CompressionFormat" => Some(json!("UNCOMPRESSED")),
        "EncryptionConfiguration" => Some(json!({"NoEncryptionConfig": "NoEncryption"})),
        "CloudWatchLoggingOptions" => Some(json!({"Enabled": false})),
        "S3BackupMode" => Some(json!(match kind {
            "HttpEndpoint" | "Snowflake" => "FailedDataOnly",
            "Splunk" => "FailedEventsOnly",
            "Elasticsearch" | "Amazonopensearchservice" | "AmazonOpenSearchServerless" => {
                "FailedDocumentsOnly"
            }
            _ => "Disabled",
        })),
        "RetryOptions"
            if matches!(
                shape,
                "HttpEndpointRetryOptions"
                    | "SplunkRetryOptions"
                    | "RedshiftRetryOptions"
                    | "ElasticsearchRetryOptions"
                    | "AmazonopensearchserviceRetryOptions"
                    | "AmazonOpenSearchServerlessRetryOptions"
                    | "SnowflakeRetryOptions"
            ) =>
        {
            Some(json!({"DurationInSeconds": match kind {
                "Splunk" | "Redshift" => 3600,
                "Snowflake" => 60,
                _ => 300,
            }}))
        }
        _ => None,
    }
}

/// A destination's `DestinationDescription`: S3 destinations are described in both S3 shapes,
/// as AWS does.
pub fn destination_description(id: &str, kind: &str, config: &Value) -> Value {
    let mut out = Map::new();
    out.insert("DestinationId".into(), json!(id));
    if is_s3(kind) {
        out.insert(
            "S3DestinationDescription".into(),
            describe_shape(config, "S3DestinationDescription", kind),
        );
        out.insert(
            "ExtendedS3DestinationDescription".into(),
            describe_shape(config, "ExtendedS3DestinationDescription", "ExtendedS3"),
        );
    } else if let Some(k) = KINDS.iter().find(|k| k.0 == kind) {
        out.insert(k.2.to_string(), describe_shape(config, k.2, kind));
    }
    Value::Object(out)
}

/// Merge an update's members into a configuration: structures member by member, anything else
/// replaced.
pub fn merge(config: &mut Value, update: &Value) {
    let (Value::Object(c), Value::Object(u)) = (config, update) else {
        return;
    };
    for (k, v) in u {
        let target = source_member(k).to_string();
        match (c.get_mut(&target), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) if !is_free_map(k) => {
                merge(existing, v)
            }
            _ => {
                let mut fresh = Value::Object(Map::new());
                if v.is_object() && !is_free_map(k) {
                    merge(&mut fresh, v);
                } else {
                    fresh = v.clone();
                }
                c.insert(target, fresh);
            }
        }
    }
}

/// Members whose objects are data (not structures to merge into).
fn is_free_map(member: &str) -> bool {
    matches!(member, "CommonAttributes" | "Parameters")
}

/// The required members of a configuration shape that `config` lacks.
pub fn missing_required(config: &Value, config_member: &str) -> Vec<String> {
    let Some(m) = model() else { return Vec::new() };
    let Some(sh) = m.shapes.get(config_member) else {
        return Vec::new();
    };
    sh.required
        .iter()
        .filter(|r| config.get(r.as_str()).is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_description_fills_aws_defaults_and_drops_secrets() {
        let c = json!({"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b", "Prefix": "p/"});
        let d = destination_description("destinationId-000000000001", "ExtendedS3", &c);
        let e = &d["ExtendedS3DestinationDescription"];
        assert_eq!(
            e["BufferingHints"],
            json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
        );
        assert_eq!(e["CompressionFormat"], "UNCOMPRESSED");
        assert_eq!(
            e["EncryptionConfiguration"]["NoEncryptionConfig"],
            "NoEncryption"
        );
        assert_eq!(e["S3BackupMode"], "Disabled");
        assert_eq!(e["Prefix"], "p/");
        assert_eq!(d["S3DestinationDescription"]["BucketARN"], "arn:aws:s3:::b");
        assert!(d["S3DestinationDescription"].get("S3BackupMode").is_none());

        let h = json!({"EndpointConfiguration": {"Url": "http://x", "Name": "n", "AccessKey": "secret"},
            "S3Configuration": {"RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::b"}});
        let d = destination_description("destinationId-000000000001", "HttpEndpoint", &h);
        let e = &d["HttpEndpointDestinationDescription"];
        assert_eq!(
            e["EndpointConfiguration"],
            json!({"Url": "http://x", "Name": "n"})
        );
        assert_eq!(e["S3DestinationDescription"]["BucketARN"], "arn:aws:s3:::b");
        assert_eq!(e["RetryOptions"]["DurationInSeconds"], 300);
        assert_eq!(e["S3BackupMode"], "FailedDataOnly");
    }

    #[test]
    fn updates_merge_structures_and_rename_s3_members() {
        let mut c = json!({"BucketARN": "arn:aws:s3:::a", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "S3Configuration": {"BucketARN": "arn:aws:s3:::old"}});
        merge(
            &mut c,
            &json!({"BufferingHints": {"IntervalInSeconds": 10}, "S3Update": {"BucketARN": "arn:aws:s3:::new"}}),
        );
        assert_eq!(
            c["BufferingHints"],
            json!({"SizeInMBs": 1, "IntervalInSeconds": 10})
        );
        assert_eq!(c["S3Configuration"]["BucketARN"], "arn:aws:s3:::new");
        assert_eq!(c["BucketARN"], "arn:aws:s3:::a");
        assert_eq!(
            missing_required(
                &json!({"BucketARN": "x"}),
                "ExtendedS3DestinationConfiguration"
            ),
            vec!["RoleARN".to_string()]
        );
    }
}

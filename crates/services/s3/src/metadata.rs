//! S3 Metadata configurations of a general purpose bucket: the V2 API
//! (`?metadataConfiguration`: a journal table and an optional live inventory table in the
//! AWS-managed table bucket `aws-s3`) and the V1 API (`?metadataTable`: a journal table in a
//! table bucket of the caller's).
//!
//! A bucket has at most one metadata configuration, V1 or V2, kept as one configuration record
//! (a JSON document: the version, the configuration as sent, and the table ids given at
//! creation). As AWS does, the V2 Get answers for a V1 configuration too, and the V1 Get of a V2
//! configuration is `405 MethodNotAllowed`. There is no S3 Tables service here, so the tables are
//! reported `ACTIVE` at once and no journal rows are written: the configuration is what is
//! emulated, not the Iceberg tables behind it.

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::response::Response;

use crate::model::{BucketConfig, S3Record, keys};
use crate::out::reply;
use crate::subres::{malformed, parse_input};
use crate::{Req, S3, S3Error, S3Result};

/// The configuration record's kind (one per bucket, V1 or V2).
const KIND: &str = "metadata";

/// The least number of days journal records may be kept for when expiration is enabled.
const MIN_EXPIRATION_DAYS: i64 = 7;

fn not_found(bucket: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "MetadataConfigurationNotFound",
        "The metadata table configuration does not exist.",
    )
    .with("BucketName", bucket)
}

fn invalid(message: &str) -> S3Error {
    S3Error::bad("InvalidRequest", message)
}

/// S3's checks of an encryption configuration of a metadata table.
fn check_encryption(enc: Option<&Value>) -> S3Result<()> {
    let Some(enc) = enc else { return Ok(()) };
    let algorithm = enc.get("SseAlgorithm").and_then(Value::as_str);
    let key = enc.get("KmsKeyArn").and_then(Value::as_str);
    match (algorithm, key) {
        (Some("aws:kms"), None) => Err(invalid(
            "A KMS key ARN is required when the SSE algorithm is aws:kms.",
        )),
        (Some("AES256"), Some(_)) => Err(invalid(
            "A KMS key ARN can only be specified when the SSE algorithm is aws:kms.",
        )),
        _ => Ok(()),
    }
}

/// S3's checks of a journal table's record expiration.
fn check_expiration(exp: Option<&Value>) -> S3Result<()> {
    let Some(exp) = exp else { return Ok(()) };
    let days = exp.get("Days").and_then(Value::as_i64);
    match (exp.get("Expiration").and_then(Value::as_str), days) {
        (Some("ENABLED"), None) => Err(invalid(
            "Days must be specified when record expiration is ENABLED.",
        )),
        (Some("ENABLED"), Some(d)) if d < MIN_EXPIRATION_DAYS => Err(invalid(&format!(
            "Days must be at least {MIN_EXPIRATION_DAYS} when record expiration is ENABLED."
        ))),
        (Some("DISABLED"), Some(_)) => Err(invalid(
            "Days cannot be specified when record expiration is DISABLED.",
        )),
        _ => Ok(()),
    }
}

impl S3 {
    /// The bucket's metadata document, if it has one (after checking that the bucket exists).
    fn metadata_doc(&self, r: &Req<'_>) -> S3Result<Option<Value>> {
        let snap = self.store.snapshot();
        if !matches!(
            snap.get(&keys::bucket(r.account(), r.bucket())),
            Some(S3Record::Bucket(_))
        ) {
            return Err(S3Error::no_such_bucket(r.bucket()));
        }
        Ok(
            match snap.get(&keys::config(r.account(), r.bucket(), KIND)) {
                Some(S3Record::Config(c)) => serde_json::from_str(&c.document).ok(),
                _ => None,
            },
        )
    }

    /// Write (`Some`) or remove (`None`) the metadata document in one store write. `fresh`:
    /// refuse when one exists; otherwise refuse when none exists.
    fn write_metadata(&self, r: &Req<'_>, doc: Option<Value>, fresh: bool) -> S3Result<u64> {
        let (acct, bucket) = (r.account(), r.bucket());
        let key = keys::config(acct, bucket, KIND);
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(acct, bucket)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(bucket));
            }
            let exists = matches!(t.get(&key), Some(S3Record::Config(_)));
            if fresh && exists {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "MetadataConfigurationAlreadyExists",
                    "The metadata table configuration already exists.",
                )
                .with("BucketName", bucket));
            }
            if !fresh && !exists {
                return Err(not_found(bucket));
            }
            match doc {
                Some(doc) => {
                    t.insert(
                        key.clone(),
                        S3Record::Config(BucketConfig {
                            kind: KIND.to_string(),
                            document: doc.to_string(),
                        }),
                    );
                }
                None => {
                    t.remove(&key);
                }
            }
            Ok(())
        });
        res.map(|()| v)
    }

    /// The ARN of a table of the AWS-managed table bucket of this bucket's region.
    fn managed_table_bucket(&self, r: &Req<'_>) -> S3Result<String> {
        let region = self.bucket_meta(r)?.region;
        Ok(format!(
            "arn:aws:s3tables:{region}:{}:bucket/aws-s3",
            r.account()
        ))
    }

    /// CreateBucketMetadataConfiguration (V2).
    pub(crate) fn create_metadata_configuration(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let config = input
            .get("MetadataConfiguration")
            .cloned()
            .ok_or_else(malformed)?;
        let journal = config.get("JournalTableConfiguration");
        check_expiration(journal.and_then(|j| j.get("RecordExpiration")))?;
        check_encryption(journal.and_then(|j| j.get("EncryptionConfiguration")))?;
        check_encryption(config.pointer("/InventoryTableConfiguration/EncryptionConfiguration"))?;
        let table_bucket = self.managed_table_bucket(r)?;
        let doc = json!({
            "version": 2,
            "config": config,
            "tableBucket": table_bucket,
            "journalId": self.new_id(),
            "inventoryId": self.new_id(),
        });
        let v = self.write_metadata(r, Some(doc), true)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// GetBucketMetadataConfiguration (V2; answers for V1 configurations as well).
    pub(crate) fn get_metadata_configuration(&self, r: &Req<'_>) -> S3Result<Response> {
        let doc = self.metadata_doc(r)?.ok_or_else(|| not_found(r.bucket()))?;
        let config = &doc["config"];
        let result = if doc["version"] == 1 {
            let dest = &config["S3TablesDestination"];
            let name = dest["TableName"].clone();
            json!({
                "DestinationResult": {
                    "TableBucketType": "customer",
                    "TableBucketArn": dest["TableBucketArn"],
                    "TableNamespace": "aws_s3_metadata",
                },
                "JournalTableConfigurationResult": {
                    "TableStatus": "ACTIVE",
                    "TableName": name,
                    "TableArn": format!("{}/table/{}", str_of(&dest["TableBucketArn"]), str_of(&doc["journalId"])),
                    "RecordExpiration": {"Expiration": "DISABLED"},
                },
            })
        } else {
            let table_bucket = str_of(&doc["tableBucket"]);
            let journal = &config["JournalTableConfiguration"];
            let mut result = json!({
                "DestinationResult": {
                    "TableBucketType": "aws",
                    "TableBucketArn": table_bucket,
                    "TableNamespace": namespace(r.bucket()),
                },
                "JournalTableConfigurationResult": {
                    "TableStatus": "ACTIVE",
                    "TableName": "journal",
                    "TableArn": format!("{table_bucket}/table/{}", str_of(&doc["journalId"])),
                    "RecordExpiration": journal["RecordExpiration"],
                },
            });
            let inventory = &config["InventoryTableConfiguration"];
            let state = inventory["ConfigurationState"]
                .as_str()
                .unwrap_or("DISABLED");
            let mut inv = json!({"ConfigurationState": state});
            if state == "ENABLED" {
                inv["TableStatus"] = json!("ACTIVE");
                inv["TableName"] = json!("inventory");
                inv["TableArn"] = json!(format!(
                    "{table_bucket}/table/{}",
                    str_of(&doc["inventoryId"])
                ));
            }
            result["InventoryTableConfigurationResult"] = inv;
            result
        };
        reply(
            r.operation,
            &json!({"GetBucketMetadataConfigurationResult": {"MetadataConfigurationResult": result}}),
        )
    }

    /// DeleteBucketMetadataConfiguration (V2) and DeleteBucketMetadataTableConfiguration (V1):
    /// either removes the bucket's configuration, whichever version made it.
    pub(crate) fn delete_metadata_configuration(
        &self,
        r: &Req<'_>,
    ) -> S3Result<(Response, Option<u64>)> {
        let v = self.write_metadata(r, None, false)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// UpdateBucketMetadataJournalTableConfiguration and
    /// UpdateBucketMetadataInventoryTableConfiguration (V2 configurations only).
    pub(crate) fn update_metadata_table(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let mut doc = self.metadata_doc(r)?.ok_or_else(|| not_found(r.bucket()))?;
        if doc["version"] != 2 {
            return Err(invalid(
                "This operation applies to V2 metadata configurations only; delete the V1 configuration and create a V2 one.",
            ));
        }
        if let Some(journal) = input.get("JournalTableConfiguration") {
            check_expiration(journal.get("RecordExpiration"))?;
            doc["config"]["JournalTableConfiguration"]["RecordExpiration"] =
                journal["RecordExpiration"].clone();
        } else if let Some(inventory) = input.get("InventoryTableConfiguration") {
            check_encryption(inventory.get("EncryptionConfiguration"))?;
            doc["config"]["InventoryTableConfiguration"] = inventory.clone();
        } else {
            return Err(malformed());
        }
        let v = self.write_metadata(r, Some(doc), false)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// CreateBucketMetadataTableConfiguration (V1).
    pub(crate) fn create_metadata_table(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let config = input
            .get("MetadataTableConfiguration")
            .cloned()
            .ok_or_else(malformed)?;
        let arn = str_of(&config["S3TablesDestination"]["TableBucketArn"]);
        if !arn.starts_with("arn:aws:s3tables:") || !arn.contains(":bucket/") {
            return Err(invalid("The table bucket ARN is not valid."));
        }
        let name = str_of(&config["S3TablesDestination"]["TableName"]);
        if name.is_empty()
            || name.len() > 255
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(invalid(
                "The table name must be 1 to 255 characters of lowercase letters, numbers and underscores.",
            ));
        }
        let doc = json!({"version": 1, "config": config, "journalId": self.new_id()});
        let v = self.write_metadata(r, Some(doc), true)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// GetBucketMetadataTableConfiguration (V1; 405 for a V2 configuration, as AWS answers).
    pub(crate) fn get_metadata_table(&self, r: &Req<'_>) -> S3Result<Response> {
        let doc = self.metadata_doc(r)?.ok_or_else(|| not_found(r.bucket()))?;
        if doc["version"] != 1 {
            return Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The bucket has a V2 metadata configuration: use GetBucketMetadataConfiguration.",
            )
            .with("Method", "GET")
            .with("ResourceType", "BUCKET"));
        }
        let dest = &doc["config"]["S3TablesDestination"];
        let bucket_arn = str_of(&dest["TableBucketArn"]);
        reply(
            r.operation,
            &json!({"GetBucketMetadataTableConfigurationResult": {
                "MetadataTableConfigurationResult": {"S3TablesDestinationResult": {
                    "TableBucketArn": bucket_arn,
                    "TableName": dest["TableName"],
                    "TableArn": format!("{bucket_arn}/table/{}", str_of(&doc["journalId"])),
                    "TableNamespace": "aws_s3_metadata",
                }},
                "Status": "ACTIVE",
            }}),
        )
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The namespace of a bucket's tables in the AWS-managed table bucket: `b_` and the bucket name
/// with its dots and hyphens as underscores (namespaces allow lowercase letters, digits, `_`).
fn namespace(bucket: &str) -> String {
    let mut s = String::from("b_");
    s.extend(bucket.chars().map(|c| match c {
        '.' | '-' => '_',
        c => c,
    }));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_rules() {
        assert!(check_expiration(Some(&json!({"Expiration": "ENABLED", "Days": 7}))).is_ok());
        assert!(check_expiration(Some(&json!({"Expiration": "ENABLED", "Days": 6}))).is_err());
        assert!(check_expiration(Some(&json!({"Expiration": "ENABLED"}))).is_err());
        assert!(check_expiration(Some(&json!({"Expiration": "DISABLED"}))).is_ok());
        assert!(check_expiration(Some(&json!({"Expiration": "DISABLED", "Days": 9}))).is_err());
    }

    #[test]
    fn encryption_rules() {
        assert!(check_encryption(Some(&json!({"SseAlgorithm": "AES256"}))).is_ok());
        assert!(check_encryption(Some(&json!({"SseAlgorithm": "aws:kms"}))).is_err());
        assert!(
            check_encryption(Some(
                &json!({"SseAlgorithm": "aws:kms", "KmsKeyArn": "arn:aws:kms:us-east-1:1:key/k"})
            ))
            .is_ok()
        );
        assert!(
            check_encryption(Some(&json!({"SseAlgorithm": "AES256", "KmsKeyArn": "k"}))).is_err()
        );
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace("my-bucket.logs"), "b_my_bucket_logs");
    }
}

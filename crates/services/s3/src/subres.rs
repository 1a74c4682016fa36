//! Bucket sub-resources kept in the model's neutral JSON shape: lifecycle, website, logging,
//! notification, replication, Object Lock, ABAC, and the analytics, metrics, inventory and
//! Intelligent-Tiering configurations (several per bucket, each by its `Id`).
//!
//! A Put's request is read by the model-driven rest-xml codec
//! (`snapstack_protocol::codec::rest::parse_request`), checked against the model (a document
//! that does not fit the schema is `MalformedXML`, as S3 answers) and by the rules S3 adds, and
//! its payload member is stored as one `S3Record::Config` record whose `document` is that
//! member's neutral JSON. A Get serializes it back with the codec (`serialize_response`), so no
//! operation writes XML by hand.

use serde_json::{Map, Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::codec::CodecError;
use snapstack_protocol::codec::rest::parse_request;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::model;
use snapstack_protocol::response::Response;
use snapstack_protocol::validate;

use crate::model::{Bucket, BucketConfig, S3Record, keys};
pub(crate) use crate::out::reply;
use crate::{Req, S3, S3Error, S3Result, lifecycle};

/// At most this many configurations of one keyed kind (analytics, metrics, ...) per bucket.
const MAX_KEYED: usize = 1000;
/// At most this many configurations per page of a List*Configurations.
const LIST_PAGE: usize = 100;

/// A bucket sub-resource stored as neutral JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sub {
    Lifecycle,
    Website,
    Logging,
    Notification,
    Replication,
    ObjectLock,
    Analytics,
    Metrics,
    Inventory,
    IntelligentTiering,
    Abac,
}

impl Sub {
    /// The record's `kind` (and the last part of its key).
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Sub::Lifecycle => "lifecycle",
            Sub::Website => "website",
            Sub::Logging => "logging",
            Sub::Notification => "notification",
            Sub::Replication => "replication",
            Sub::ObjectLock => "objectLock",
            Sub::Analytics => "analytics",
            Sub::Metrics => "metrics",
            Sub::Inventory => "inventory",
            Sub::IntelligentTiering => "intelligentTiering",
            Sub::Abac => "abac",
        }
    }

    /// The payload member of the Put operation's input.
    fn member(self) -> &'static str {
        match self {
            Sub::Lifecycle => "LifecycleConfiguration",
            Sub::Website => "WebsiteConfiguration",
            Sub::Logging => "BucketLoggingStatus",
            Sub::Notification => "NotificationConfiguration",
            Sub::Replication => "ReplicationConfiguration",
            Sub::ObjectLock => "ObjectLockConfiguration",
            Sub::Analytics => "AnalyticsConfiguration",
            Sub::Metrics => "MetricsConfiguration",
            Sub::Inventory => "InventoryConfiguration",
            Sub::IntelligentTiering => "IntelligentTieringConfiguration",
            Sub::Abac => "AbacStatus",
        }
    }

    /// Several configurations per bucket, each named by the `id` query parameter.
    fn keyed(self) -> bool {
        matches!(
            self,
            Sub::Analytics | Sub::Metrics | Sub::Inventory | Sub::IntelligentTiering
        )
    }

    /// The list member of a List*Configurations output.
    fn list_member(self) -> &'static str {
        match self {
            Sub::Analytics => "AnalyticsConfigurationList",
            Sub::Metrics => "MetricsConfigurationList",
            Sub::Inventory => "InventoryConfigurationList",
            _ => "IntelligentTieringConfigurationList",
        }
    }

    /// What a Get answers when nothing was set: S3's empty document, or its error.
    fn absent(self, bucket: &str) -> S3Result<Value> {
        let not_found = |code: &'static str, message: &str| {
            Err(S3Error::new(StatusCode::NOT_FOUND, code, message).with("BucketName", bucket))
        };
        match self {
            Sub::Lifecycle => not_found(
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
            ),
            Sub::Website => not_found(
                "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration",
            ),
            Sub::Replication => not_found(
                "ReplicationConfigurationNotFoundError",
                "The replication configuration was not found",
            ),
            Sub::ObjectLock => not_found(
                "ObjectLockConfigurationNotFoundError",
                "Object Lock configuration does not exist for this bucket",
            ),
            Sub::Analytics | Sub::Metrics | Sub::Inventory | Sub::IntelligentTiering => not_found(
                "NoSuchConfiguration",
                "The specified configuration does not exist.",
            ),
            Sub::Logging | Sub::Notification => Ok(json!({})),
            Sub::Abac => Ok(json!({"Status": "Disabled"})),
        }
    }
}

pub(crate) fn malformed() -> S3Error {
    S3Error::bad(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// A codec error as S3's.
pub(crate) fn codec_error(e: CodecError) -> S3Error {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let code: &'static str = match e.code.as_str() {
        "MalformedXML" => return malformed(),
        "InvalidArgument" => "InvalidArgument",
        "InvalidRequest" => "InvalidRequest",
        _ if status.is_client_error() => "InvalidRequest",
        _ => "InternalError",
    };
    S3Error::new(status, code, e.message)
}

/// The request's input in the neutral shape, read by the codec (not checked against the
/// model's constraints: the handler judges the values, with S3's own errors).
pub(crate) fn read_input(r: &Req<'_>, body: &[u8]) -> S3Result<Value> {
    parse_request(
        model::s3(),
        r.operation,
        &r.labels,
        (&r.method, r.uri, r.headers),
        body,
    )
    .map_err(codec_error)
}

/// The request's input in the neutral shape, read by the codec and checked against the model.
pub(crate) fn parse_input(r: &Req<'_>, body: &[u8]) -> S3Result<Value> {
    let input = parse_request(
        model::s3(),
        r.operation,
        &r.labels,
        (&r.method, r.uri, r.headers),
        body,
    )
    .map_err(codec_error)?;
    if !validate::violations(model::s3(), r.operation, &input).is_empty() {
        return Err(malformed());
    }
    Ok(input)
}

/// The output value of a Get of `operation` holding `value`: the payload member, or `value`'s
/// members as the output's own.
pub(crate) fn wrap(operation: &str, value: Value) -> Value {
    let m = model::s3();
    let payload = m
        .operations
        .get(operation)
        .and_then(|op| m.output_of(op))
        .and_then(|s| s.payload.clone());
    match payload {
        Some(p) => json!({ p: value }),
        None => value,
    }
}

/// A stored sub-resource's value.
pub(crate) fn stored(rec: Option<&S3Record>) -> Option<Value> {
    match rec {
        Some(S3Record::Config(c)) => serde_json::from_str(&c.document).ok(),
        _ => None,
    }
}

/// A sub-resource's record.
pub(crate) fn record(sub: Sub, value: &Value) -> S3Record {
    S3Record::Config(BucketConfig {
        kind: sub.kind().to_string(),
        document: value.to_string(),
    })
}

fn id_of(r: &Req<'_>) -> S3Result<String> {
    r.q("id")
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| S3Error::invalid_argument("Missing required parameter: id"))
}

impl S3 {
    /// The value of a bucket's sub-resource, if set.
    pub(crate) fn sub_value(&self, acct: &str, bucket: &str, sub: Sub) -> Option<Value> {
        stored(
            self.store
                .snapshot()
                .get(&keys::config(acct, bucket, sub.kind())),
        )
    }

    /// Put*Configuration: read, check, store.
    pub(crate) fn put_sub(
        &self,
        r: &Req<'_>,
        sub: Sub,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = parse_input(r, &body)?;
        let bucket = self.bucket_meta(r)?;
        let value = match input.get(sub.member()) {
            Some(v) => v.clone(),
            None if matches!(sub, Sub::Notification | Sub::Logging) => json!({}),
            None => return Err(malformed()),
        };
        let value = self.check_sub(r, sub, &bucket, value)?;
        let (acct, name) = (r.account().to_string(), bucket.name.clone());
        let key = if sub.keyed() {
            let id = id_of(r)?;
            if value.get("Id").and_then(Value::as_str) != Some(id.as_str()) {
                return Err(S3Error::invalid_argument(
                    "The Id in the request does not match the Id in the configuration",
                )
                .with("ArgumentName", "id")
                .with("ArgumentValue", id));
            }
            keys::config_item(&acct, &name, sub.kind(), &id)
        } else {
            keys::config(&acct, &name, sub.kind())
        };
        let (res, v) = self.store.write(|t| {
            if !matches!(t.get(&keys::bucket(&acct, &name)), Some(S3Record::Bucket(_))) {
                return Err(S3Error::no_such_bucket(&name));
            }
            if sub.keyed()
                && t.get(&key).is_none()
                && t.scan_prefix(&keys::config(&acct, &name, sub.kind())).count() >= MAX_KEYED
            {
                return Err(S3Error::bad(
                    "TooManyConfigurations",
                    "You are attempting to create a new configuration but have already reached the 1,000-configuration limit.",
                ));
            }
            t.insert(key.clone(), record(sub, &value));
            if sub == Sub::Lifecycle {
                t.insert(
                    keys::lifecycle_index(&acct, &name),
                    S3Record::Config(BucketConfig {
                        kind: acct.clone(),
                        document: name.clone(),
                    }),
                );
            }
            Ok(())
        });
        res?;
        let output = match sub {
            Sub::Lifecycle => json!({
                "TransitionDefaultMinimumObjectSize": lifecycle::min_size(&input)
            }),
            _ => json!({}),
        };
        Ok((reply(r.operation, &output)?, Some(v)))
    }

    /// Get*Configuration: the stored value, or S3's default or error.
    pub(crate) fn get_sub(&self, r: &Req<'_>, sub: Sub) -> S3Result<Response> {
        let bucket = self.bucket_meta(r)?;
        let key = if sub.keyed() {
            keys::config_item(r.account(), &bucket.name, sub.kind(), &id_of(r)?)
        } else {
            keys::config(r.account(), &bucket.name, sub.kind())
        };
        let value = match stored(self.store.snapshot().get(&key)) {
            Some(v) => v,
            None => sub.absent(&bucket.name)?,
        };
        let mut output = wrap(r.operation, value);
        if sub == Sub::Lifecycle
            && let Value::Object(o) = &mut output
        {
            o.insert(
                "TransitionDefaultMinimumObjectSize".into(),
                json!("all_storage_classes_128K"),
            );
        }
        reply(r.operation, &output)
    }

    /// Delete*: remove it (204 whether or not one was set, as S3 answers).
    pub(crate) fn delete_sub(&self, r: &Req<'_>, sub: Sub) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let (acct, name) = (r.account().to_string(), bucket.name.clone());
        let key = if sub.keyed() {
            keys::config_item(&acct, &name, sub.kind(), &id_of(r)?)
        } else {
            keys::config(&acct, &name, sub.kind())
        };
        let (res, v) = self.store.write(|t| {
            if sub.keyed() && t.get(&key).is_none() {
                return Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchConfiguration",
                    "The specified configuration does not exist.",
                ));
            }
            t.remove(&key);
            if sub == Sub::Lifecycle {
                t.remove(&keys::lifecycle_index(&acct, &name));
            }
            Ok(())
        });
        res?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// List*Configurations: by id, a page of 100, continued by the next page's first id.
    pub(crate) fn list_sub(&self, r: &Req<'_>, sub: Sub) -> S3Result<Response> {
        let bucket = self.bucket_meta(r)?;
        let token = r.q("continuation-token").filter(|t| !t.is_empty());
        let snap = self.store.snapshot();
        let mut all = snap
            .scan_prefix(&keys::config(r.account(), &bucket.name, sub.kind()))
            .filter_map(|(_, rec)| stored(Some(rec)))
            .filter(|v| {
                token.is_none_or(|t| v.get("Id").and_then(Value::as_str).unwrap_or("") >= t)
            });
        let page: Vec<Value> = all.by_ref().take(LIST_PAGE).collect();
        let next = all
            .next()
            .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_string));
        let mut out = Map::new();
        out.insert("IsTruncated".into(), json!(next.is_some()));
        if !page.is_empty() {
            out.insert(sub.list_member().into(), Value::Array(page));
        }
        if let Some(t) = token {
            out.insert("ContinuationToken".into(), json!(t));
        }
        if let Some(n) = next {
            out.insert("NextContinuationToken".into(), json!(n));
        }
        reply(r.operation, &Value::Object(out))
    }

    /// S3's checks of a sub-resource beyond the schema; the value to store.
    fn check_sub(&self, r: &Req<'_>, sub: Sub, bucket: &Bucket, value: Value) -> S3Result<Value> {
        match sub {
            Sub::Lifecycle => lifecycle::validate(&value)?,
            Sub::Website => check_website(&value)?,
            Sub::Logging => {
                if let Some(target) = value
                    .pointer("/LoggingEnabled/TargetBucket")
                    .and_then(Value::as_str)
                    && !self.bucket_exists(r.account(), target)
                {
                    return Err(S3Error::bad(
                        "InvalidTargetBucketForLogging",
                        "The target bucket for logging does not exist",
                    )
                    .with("TargetBucket", target));
                }
            }
            Sub::Replication => {
                if bucket.versioning.as_deref() != Some("Enabled") {
                    return Err(S3Error::bad(
                        "InvalidRequest",
                        "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
                    )
                    .with("BucketName", &bucket.name));
                }
                let rules = value.get("Rules").and_then(Value::as_array);
                for rule in rules.into_iter().flatten() {
                    let dest = rule
                        .pointer("/Destination/Bucket")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let name = dest.strip_prefix("arn:aws:s3:::").unwrap_or(dest);
                    let target = self.store.snapshot();
                    match target.get(&keys::bucket(r.account(), name)) {
                        Some(S3Record::Bucket(b)) if b.versioning.as_deref() == Some("Enabled") => {
                        }
                        Some(S3Record::Bucket(_)) => {
                            return Err(S3Error::bad(
                                "InvalidRequest",
                                "Destination bucket must have versioning enabled.",
                            ));
                        }
                        _ => {
                            return Err(S3Error::bad(
                                "InvalidRequest",
                                "Destination bucket must exist.",
                            ));
                        }
                    }
                }
            }
            Sub::ObjectLock => crate::lock::check_lock_configuration(bucket, &value)?,
            Sub::Analytics | Sub::Metrics | Sub::Inventory | Sub::IntelligentTiering => {
                let id = value.get("Id").and_then(Value::as_str).unwrap_or("");
                if id.is_empty() || id.len() > 64 {
                    return Err(S3Error::invalid_argument("Invalid Id").with("ArgumentName", "Id"));
                }
            }
            Sub::Notification | Sub::Abac => {}
        }
        Ok(value)
    }

    pub(crate) fn bucket_exists(&self, acct: &str, bucket: &str) -> bool {
        matches!(
            self.store.snapshot().get(&keys::bucket(acct, bucket)),
            Some(S3Record::Bucket(_))
        )
    }
}

/// S3's rules for a website configuration.
fn check_website(v: &Value) -> S3Result<()> {
    let redirect_all = v.get("RedirectAllRequestsTo").is_some();
    let others = ["IndexDocument", "ErrorDocument", "RoutingRules"]
        .iter()
        .any(|m| v.get(*m).is_some());
    if redirect_all && others {
        return Err(S3Error::invalid_argument(
            "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
        )
        .with("ArgumentName", "RedirectAllRequestsTo"));
    }
    if !redirect_all {
        let suffix = v.pointer("/IndexDocument/Suffix").and_then(Value::as_str);
        match suffix {
            None => {
                return Err(S3Error::invalid_argument(
                    "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
                )
                .with("ArgumentName", "IndexDocument"));
            }
            Some(s) if s.is_empty() || s.contains('/') => {
                return Err(S3Error::invalid_argument(
                    "The IndexDocument Suffix is not well formed",
                )
                .with("ArgumentName", "IndexDocument")
                .with("ArgumentValue", s));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_are_checked_as_s3_checks_them() {
        assert!(check_website(&json!({"IndexDocument": {"Suffix": "index.html"}})).is_ok());
        assert!(check_website(&json!({"RedirectAllRequestsTo": {"HostName": "x"}})).is_ok());
        assert!(check_website(&json!({"ErrorDocument": {"Key": "e"}})).is_err());
        assert!(check_website(&json!({"IndexDocument": {"Suffix": "a/b"}})).is_err());
        assert!(
            check_website(&json!({
                "RedirectAllRequestsTo": {"HostName": "x"},
                "IndexDocument": {"Suffix": "i"}
            }))
            .is_err()
        );
    }

    #[test]
    fn gets_wrap_payload_members() {
        assert_eq!(
            wrap("GetBucketReplication", json!({"Role": "r"})),
            json!({"ReplicationConfiguration": {"Role": "r"}})
        );
        assert_eq!(
            wrap(
                "GetBucketWebsite",
                json!({"IndexDocument": {"Suffix": "i"}})
            ),
            json!({"IndexDocument": {"Suffix": "i"}})
        );
    }

    #[test]
    fn stored_values_come_back() {
        let v = json!({"Rules": [{"ID": "a", "Status": "Enabled"}]});
        assert_eq!(stored(Some(&record(Sub::Lifecycle, &v))), Some(v));
        assert_eq!(stored(None), None);
    }
}

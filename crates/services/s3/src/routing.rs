//! Which S3 operation a request is: matched from the S3 model (method, path template, the query
//! keys that select a sub-resource, the headers and query members an operation requires), then
//! handed to that operation's handler. A request the model does not match is refused, and an
//! operation of the model that has no handler yet answers 501 naming it: neither touches state.

use std::sync::OnceLock;

use percent_encoding::percent_decode_str;
use snapstack_protocol::body::Body;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderMap, Method, StatusCode};
use snapstack_protocol::response::Response;

use super::config::Kind;
use super::headers::header;
use super::ops::bucket::Field;
use super::subres::Sub;
use super::{Req, S3, S3Error, S3Result, read_document};
use snapstack_protocol::model;
use snapstack_protocol::rest::{RestRequest, RestRouter, RouteError};

/// The S3 model's routes, built once.
fn router() -> &'static RestRouter {
    static ROUTER: OnceLock<RestRouter> = OnceLock::new();
    ROUTER.get_or_init(|| RestRouter::from_model(model::s3()))
}

/// Percent-decode a path label or a query part. S3 refuses what does not decode to UTF-8.
pub(super) fn decode_strict(s: &str) -> S3Result<String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::bad("InvalidURI", "Couldn't parse the specified URI."))
}

/// The query string's parameters, decoded (`+` is a space, as S3 reads it).
pub(super) fn parse_query(q: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(q) = q else { return Ok(Vec::new()) };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((
                decode_strict(&k.replace('+', " "))?,
                decode_strict(&v.replace('+', " "))?,
            ))
        })
        .collect()
}

/// The bucket named by a virtual-host-style host (`<bucket>.localhost`, `<bucket>.s3.<anything>`).
pub(super) fn virtual_host_bucket(headers: &HeaderMap) -> Option<&str> {
    snapstack_protocol::request::virtual_host_bucket(header(headers, "host").unwrap_or(""))
}

/// The operation a request is, with its bucket and key decoded.
pub(super) struct Routed {
    pub operation: &'static str,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub labels: Vec<(&'static str, String)>,
}

/// Match a request to one operation of the S3 model.
pub(super) fn route(
    method: &Method,
    headers: &HeaderMap,
    raw_path: &str,
    query: &[(String, String)],
) -> S3Result<Routed> {
    // WriteGetObjectResponse names its request route as the host's first label (the model's
    // `{RequestRoute}.` host prefix), which is not a bucket.
    let object_lambda = *method == Method::POST
        && raw_path == "/WriteGetObjectResponse"
        && headers.contains_key("x-amz-request-route");
    let path = match virtual_host_bucket(headers).filter(|_| !object_lambda) {
        Some(bucket) if raw_path.starts_with('/') => format!("/{bucket}{raw_path}"),
        Some(bucket) => format!("/{bucket}/{raw_path}"),
        None => raw_path.to_string(),
    };
    let has_header = |name: &str| headers.contains_key(name);
    let req = RestRequest {
        method: method.as_str(),
        path: &path,
        query,
        has_header: &has_header,
    };
    let matched = router().route(&req).map_err(refusal)?;
    Ok(Routed {
        operation: matched.operation,
        bucket: matched.label("Bucket").map(decode_strict).transpose()?,
        key: matched.label("Key").map(decode_strict).transpose()?,
        labels: matched.labels,
    })
}

/// A request matched before S3 was called ([`preroute`]): what [`route`] and [`parse_query`]
/// gave for it.
pub(crate) struct Prerouted {
    pub routed: Routed,
    pub query: Vec<(String, String)>,
}

/// [`route`] of a request, for IAM enforcement, which reads its bucket and key before S3 is
/// called: with the members policies read (the query's parameters, then the path's labels, by
/// name), and the reading itself to hand back to S3. `None` for a request S3 refuses (it then
/// refuses it again, in its own words) and for a CORS preflight (which no operation is).
pub(crate) fn preroute(parts: &Parts) -> Option<snapstack_service::Routed> {
    if parts.method == Method::OPTIONS {
        return None;
    }
    let query = parse_query(parts.uri.query()).ok()?;
    let routed = route(&parts.method, &parts.headers, parts.uri.path(), &query).ok()?;
    let mut members = serde_json::Map::new();
    for (k, v) in &query {
        members.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    for (name, raw) in &routed.labels {
        let value = match *name {
            "Bucket" => routed.bucket.clone(),
            "Key" => routed.key.clone(),
            _ => decode_strict(raw).ok(),
        }?;
        members.insert(name.to_string(), serde_json::Value::String(value));
    }
    Some(snapstack_service::Routed {
        operation: routed.operation,
        members,
        state: Box::new(Prerouted { routed, query }),
    })
}

/// The S3 error for a request that matched no operation exactly.
fn refusal(e: RouteError) -> S3Error {
    let not_allowed = |detail: String| {
        S3Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The specified method is not allowed against this resource. ({detail})"),
        )
    };
    match e {
        RouteError::NoOperation { other_methods } if !other_methods.is_empty() => {
            not_allowed(format!("allowed: {}", other_methods.join(", ")))
        }
        RouteError::NoOperation { .. } => {
            S3Error::bad("InvalidURI", "Couldn't parse the specified URI.")
        }
        RouteError::UnexpectedSubresource { operation, key } => not_allowed(format!(
            "the query parameter '{key}' names a sub-resource that {operation} does not take"
        )),
        RouteError::MissingMember { operation, member } => S3Error::invalid_argument(format!(
            "{operation} requires '{member}', which the request does not carry"
        )),
        RouteError::Ambiguous(ops) => S3Error::internal(format!(
            "the request matches several operations of the S3 model: {}",
            ops.join(", ")
        )),
    }
}

/// The 501 for an operation of the model that this emulator does not implement yet.
fn not_implemented(operation: &str) -> S3Error {
    S3Error::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("The S3 operation {operation} is not implemented by this emulator yet"),
    )
    .with("Operation", operation)
}

impl S3 {
    /// Run the handler of the operation a request was matched to.
    pub(super) async fn dispatch(
        &self,
        r: &Req<'_>,
        body: Body,
    ) -> S3Result<(Response, Option<u64>)> {
        let none = |resp: Response| Ok((resp, None));
        if r.key().len() > super::MAX_KEY_LEN {
            return Err(S3Error::bad("KeyTooLongError", "Your key is too long"));
        }
        // No XML reply can carry a NUL (not even as a character reference), so a key holding
        // one could never be listed or named in DeleteObjects: refused before anything is kept.
        if r.key().contains('\0') {
            return Err(S3Error::invalid_argument(
                "Object key names may not contain the NUL character",
            ));
        }
        crate::validation::check_request_payer(r)?;
        match r.operation {
            // Buckets.
            "ListBuckets" => none(self.list_buckets(r)?),
            "CreateBucket" => self.create_bucket(r, read_document(body).await?),
            "HeadBucket" => none(self.head_bucket(r)?),
            "DeleteBucket" => self.delete_bucket(r),
            "GetBucketLocation" => none(self.get_location(r)?),
            "PutBucketTagging" => self.put_bucket_field(r, Field::Tags, read_document(body).await?),
            "GetBucketTagging" => none(self.get_bucket_field(r, Field::Tags)?),
            "DeleteBucketTagging" => self.delete_bucket_field(r, Field::Tags),
            "PutBucketVersioning" => {
                self.put_bucket_field(r, Field::Versioning, read_document(body).await?)
            }
            "GetBucketVersioning" => none(self.get_bucket_field(r, Field::Versioning)?),
            "PutBucketCors" => self.put_bucket_field(r, Field::Cors, read_document(body).await?),
            "GetBucketCors" => none(self.get_bucket_field(r, Field::Cors)?),
            "DeleteBucketCors" => self.delete_bucket_field(r, Field::Cors),
            "PutBucketPolicy" => {
                self.put_bucket_field(r, Field::Policy, read_document(body).await?)
            }
            "GetBucketPolicy" => none(self.get_bucket_field(r, Field::Policy)?),
            "DeleteBucketPolicy" => self.delete_bucket_field(r, Field::Policy),
            // Configurations kept as documents.
            "PutBucketAcl" => self.put_config(r, Kind::Acl, read_document(body).await?),
            "GetBucketAcl" => none(self.get_config(r, Kind::Acl)?),
            "PutBucketOwnershipControls" => {
                self.put_config(r, Kind::OwnershipControls, read_document(body).await?)
            }
            "GetBucketOwnershipControls" => none(self.get_config(r, Kind::OwnershipControls)?),
            "DeleteBucketOwnershipControls" => self.delete_config(r, Kind::OwnershipControls),
            "PutPublicAccessBlock" => {
                self.put_config(r, Kind::PublicAccessBlock, read_document(body).await?)
            }
            "GetPublicAccessBlock" => none(self.get_config(r, Kind::PublicAccessBlock)?),
            "DeletePublicAccessBlock" => self.delete_config(r, Kind::PublicAccessBlock),
            "PutBucketEncryption" => {
                self.put_config(r, Kind::Encryption, read_document(body).await?)
            }
            "GetBucketEncryption" => none(self.get_config(r, Kind::Encryption)?),
            "DeleteBucketEncryption" => self.delete_config(r, Kind::Encryption),
            "PutBucketRequestPayment" => {
                self.put_config(r, Kind::RequestPayment, read_document(body).await?)
            }
            "GetBucketRequestPayment" => none(self.get_config(r, Kind::RequestPayment)?),
            "PutBucketAccelerateConfiguration" => {
                self.put_config(r, Kind::Accelerate, read_document(body).await?)
            }
            "GetBucketAccelerateConfiguration" => none(self.get_config(r, Kind::Accelerate)?),
            // Sub-resources kept as the model's neutral JSON (`subres`).
            "PutBucketLifecycleConfiguration" | "PutBucketLifecycle" => {
                self.put_sub(r, Sub::Lifecycle, read_document(body).await?)
            }
            "GetBucketLifecycleConfiguration" | "GetBucketLifecycle" => {
                none(self.get_sub(r, Sub::Lifecycle)?)
            }
            "DeleteBucketLifecycle" => self.delete_sub(r, Sub::Lifecycle),
            "PutBucketWebsite" => self.put_sub(r, Sub::Website, read_document(body).await?),
            "GetBucketWebsite" => none(self.get_sub(r, Sub::Website)?),
            "DeleteBucketWebsite" => self.delete_sub(r, Sub::Website),
            "PutBucketLogging" => self.put_sub(r, Sub::Logging, read_document(body).await?),
            "GetBucketLogging" => none(self.get_sub(r, Sub::Logging)?),
            "PutBucketNotificationConfiguration" => {
                self.put_sub(r, Sub::Notification, read_document(body).await?)
            }
            "GetBucketNotificationConfiguration" => none(self.get_sub(r, Sub::Notification)?),
            "PutBucketReplication" => self.put_sub(r, Sub::Replication, read_document(body).await?),
            "GetBucketReplication" => none(self.get_sub(r, Sub::Replication)?),
            "DeleteBucketReplication" => self.delete_sub(r, Sub::Replication),
            "PutObjectLockConfiguration" => {
                self.put_sub(r, Sub::ObjectLock, read_document(body).await?)
            }
            "GetObjectLockConfiguration" => none(self.get_sub(r, Sub::ObjectLock)?),
            "PutBucketAbac" => self.put_sub(r, Sub::Abac, read_document(body).await?),
            "GetBucketAbac" => none(self.get_sub(r, Sub::Abac)?),
            "PutBucketAnalyticsConfiguration" => {
                self.put_sub(r, Sub::Analytics, read_document(body).await?)
            }
            "GetBucketAnalyticsConfiguration" => none(self.get_sub(r, Sub::Analytics)?),
            "DeleteBucketAnalyticsConfiguration" => self.delete_sub(r, Sub::Analytics),
            "ListBucketAnalyticsConfigurations" => none(self.list_sub(r, Sub::Analytics)?),
            "PutBucketMetricsConfiguration" => {
                self.put_sub(r, Sub::Metrics, read_document(body).await?)
            }
            "GetBucketMetricsConfiguration" => none(self.get_sub(r, Sub::Metrics)?),
            "DeleteBucketMetricsConfiguration" => self.delete_sub(r, Sub::Metrics),
            "ListBucketMetricsConfigurations" => none(self.list_sub(r, Sub::Metrics)?),
            "PutBucketInventoryConfiguration" => {
                self.put_sub(r, Sub::Inventory, read_document(body).await?)
            }
            "GetBucketInventoryConfiguration" => none(self.get_sub(r, Sub::Inventory)?),
            "DeleteBucketInventoryConfiguration" => self.delete_sub(r, Sub::Inventory),
            "ListBucketInventoryConfigurations" => none(self.list_sub(r, Sub::Inventory)?),
            "PutBucketIntelligentTieringConfiguration" => {
                self.put_sub(r, Sub::IntelligentTiering, read_document(body).await?)
            }
            "GetBucketIntelligentTieringConfiguration" => {
                none(self.get_sub(r, Sub::IntelligentTiering)?)
            }
            "DeleteBucketIntelligentTieringConfiguration" => {
                self.delete_sub(r, Sub::IntelligentTiering)
            }
            "ListBucketIntelligentTieringConfigurations" => {
                none(self.list_sub(r, Sub::IntelligentTiering)?)
            }
            "GetBucketPolicyStatus" => none(self.get_policy_status(r)?),
            // Object settings (`lock`).
            "PutObjectRetention" => self.put_object_retention(r, read_document(body).await?),
            "GetObjectRetention" => none(self.get_object_retention(r)?),
            "PutObjectLegalHold" => self.put_object_legal_hold(r, read_document(body).await?),
            "GetObjectLegalHold" => none(self.get_object_legal_hold(r)?),
            "PutObjectAcl" => self.put_object_acl(r, read_document(body).await?),
            "GetObjectAcl" => none(self.get_object_acl(r)?),
            "RestoreObject" => self.restore_object(r, read_document(body).await?),
            // Listings.
            "ListObjects" | "ListObjectsV2" => none(self.list_objects(r)?),
            "ListObjectVersions" => none(self.list_versions(r)?),
            "ListMultipartUploads" => none(self.list_uploads(r)?),
            // Objects.
            "PutObject" => self.put_object(r, body).await,
            "CopyObject" => self.copy_object(r).await,
            "GetObject" | "HeadObject" => none(self.get_object(r).await?),
            "GetObjectAttributes" => none(self.get_object_attributes(r)?),
            "DeleteObject" => self.delete_object(r),
            "DeleteObjects" => self.delete_objects(r, read_document(body).await?),
            "PutObjectTagging" => self.put_object_tagging(r, read_document(body).await?),
            "GetObjectTagging" => none(self.get_object_tagging(r)?),
            "DeleteObjectTagging" => self.delete_object_tagging(r),
            // Multipart uploads.
            "CreateMultipartUpload" => self.create_upload(r).await,
            "UploadPart" => self.upload_part(r, body).await,
            "UploadPartCopy" => self.upload_part_copy(r).await,
            "ListParts" => none(self.list_parts(r)?),
            "CompleteMultipartUpload" => {
                let doc = read_document(body).await?;
                self.complete_upload(r, doc)
            }
            "AbortMultipartUpload" => self.abort_upload(r),
            // S3 Metadata (V2 and V1), sessions, torrents.
            "CreateBucketMetadataConfiguration" => {
                self.create_metadata_configuration(r, read_document(body).await?)
            }
            "GetBucketMetadataConfiguration" => none(self.get_metadata_configuration(r)?),
            "DeleteBucketMetadataConfiguration" | "DeleteBucketMetadataTableConfiguration" => {
                self.delete_metadata_configuration(r)
            }
            "UpdateBucketMetadataJournalTableConfiguration"
            | "UpdateBucketMetadataInventoryTableConfiguration" => {
                self.update_metadata_table(r, read_document(body).await?)
            }
            "CreateBucketMetadataTableConfiguration" => {
                self.create_metadata_table(r, read_document(body).await?)
            }
            "GetBucketMetadataTableConfiguration" => none(self.get_metadata_table(r)?),
            "CreateSession" => none(self.create_session(r)?),
            "GetObjectTorrent" => none(self.get_object_torrent(r).await?),
            "RenameObject" => self.rename_object(r),
            "WriteGetObjectResponse" => none(self.write_get_object_response(r)?),
            "UpdateObjectEncryption" => {
                self.update_object_encryption(r, read_document(body).await?)
                    .await
            }
            "SelectObjectContent" => none(
                self.select_object_content(r, read_document(body).await?)
                    .await?,
            ),
            other => Err(not_implemented(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_get_object_response_names_a_route_not_a_bucket() {
        use snapstack_protocol::http::HeaderValue;
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("io-cell001.localhost:4566"),
        );
        h.insert(
            "x-amz-request-route",
            HeaderValue::from_static("io-cell001"),
        );
        h.insert("x-amz-request-token", HeaderValue::from_static("t"));
        let r = route(&Method::POST, &h, "/WriteGetObjectResponse", &[]).unwrap();
        assert_eq!((r.operation, r.bucket), ("WriteGetObjectResponse", None));
    }

    #[test]
    fn invalid_utf8_in_a_key_or_query_is_refused() {
        assert_eq!(decode_strict("%FF%FE").unwrap_err().code, "InvalidURI");
        assert_eq!(decode_strict("a%20b").unwrap(), "a b");
        assert!(parse_query(Some("prefix=%FF")).is_err());
        assert_eq!(
            parse_query(Some("a=1+2&acl")).unwrap(),
            vec![("a".into(), "1 2".into()), ("acl".into(), String::new())]
        );
    }
}

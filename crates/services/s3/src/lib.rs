//! Amazon S3 (REST-XML): buckets, objects, listing, multipart uploads, tagging, versioning.
//!
//! Object bodies stream into the engine's chunk store as deduplicated blobs (FastCDC pieces); the
//! records hold only blob ids, so a snapshot never copies a body, and a flush after adding one
//! object writes that object's new pieces plus a path of the tree.

mod attributes;
pub mod body;
mod config;
mod cors;
pub mod durability;
pub mod model;
mod routing;
mod service;
pub mod xml;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use self::body::{ChunkedDecoder, Digests};
use self::model::{Bucket, Object, ObjectHeaders, Part, S3Record, Upload, keys};
use self::xml::{Node, Xml};
use snapstack_engine::{BlobId, Engine, Key, Store};
use snapstack_protocol::errors::xml_escape;
use snapstack_protocol::request_log;
use snapstack_service::RequestContext;

pub const NAME: &str = "s3";
/// Bucket-level request bodies (XML documents) are at most this large.
const MAX_DOCUMENT: usize = 1 << 20;
/// Every part but the last of a multipart upload is at least this large.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_NUMBER: u32 = 10_000;
const MAX_KEY_LEN: usize = 1024;
const MAX_TAGS: usize = 50;

/// An S3 error: `<Error><Code>…` with the right status (HEAD responses carry no body).
#[derive(Debug, Clone)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    fn with(mut self, tag: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((tag, value.into()));
        self
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn invalid_argument(message: impl Into<String>) -> Self {
        Self::bad("InvalidArgument", message)
    }

    /// A 412 naming the condition that did not hold.
    fn precondition(condition: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }

    fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    fn no_such_key(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    fn no_such_upload(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            message.into(),
        )
    }

    pub fn into_response(self, request_id: &str, head: bool) -> Response {
        let body = if head {
            String::new()
        } else {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
            x.push_str(&format!(
                "<Code>{}</Code><Message>{}</Message>",
                self.code,
                xml_escape(&self.message)
            ));
            for (tag, v) in &self.extra {
                x.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(v)));
            }
            x.push_str(&format!(
                "<RequestId>{}</RequestId></Error>",
                xml_escape(request_id)
            ));
            x
        };
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        set(h, "x-amz-request-id", request_id);
        resp
    }
}

type S3Result<T> = Result<T, S3Error>;

/// What a request produced: the response, and the store version of its change, if it made one
/// (so the gateway can hold the answer until the change is durable).
pub struct Outcome {
    pub response: Response,
    pub write_version: Option<u64>,
}

/// The S3 service.
pub struct S3 {
    pub store: Arc<Store<S3Record>>,
    engine: Arc<Engine>,
    ids: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2026-11-29T04:05:06.789Z`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Characters S3 percent-encodes with `encoding-type=url` (everything but unreserved and `/`).
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A parsed request: who, which bucket and key, the query.
struct Req<'a> {
    ctx: &'a RequestContext,
    method: Method,
    /// The operation of the S3 model this request was matched to.
    operation: &'static str,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
}

impl Req<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn h(&self, name: &str) -> Option<&str> {
        header(self.headers, name)
    }

    fn account(&self) -> &str {
        &self.ctx.partition.account
    }

    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or("")
    }

    fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
}

/// The `encoding-type` of a listing: with `url`, every key-bearing field is percent-encoded, so
/// keys with characters that XML cannot carry list safely.
fn key_encoding(r: &Req<'_>) -> S3Result<(bool, impl Fn(&str) -> String + use<>)> {
    let url = match r.q("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    Ok((url, move |s: &str| -> String {
        if url {
            utf8_percent_encode(s, URL_ENCODE).to_string()
        } else {
            s.to_string()
        }
    }))
}

/// Run blocking engine work (hashing and writing a body's pieces) off the async worker where the
/// runtime allows it (a multi-threaded runtime); on a current-thread runtime, in place.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !name.contains("..")
}

fn ok_xml(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

impl S3 {
    pub fn new(engine: Arc<Engine>) -> Self {
        S3 {
            store: Store::new(NAME),
            engine,
            ids: AtomicU64::new(now_ms() << 16),
        }
    }

    fn new_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!(
            "{n:016x}{:08x}",
            (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
        )
    }

    /// Handle one S3 request.
    pub async fn handle(&self, ctx: &RequestContext, parts: &Parts, body: Body) -> Outcome {
        if parts.method == Method::OPTIONS {
            let response = self.preflight(ctx, parts);
            return Outcome {
                response: request_log::tag(response, "s3", "OPTIONS (CORS preflight)"),
                write_version: None,
            };
        }
        let head = parts.method == Method::HEAD;
        let routed = routing::parse_query(parts.uri.query()).and_then(|query| {
            let routed = routing::route(&parts.method, &parts.headers, parts.uri.path(), &query)?;
            Ok((routed, query))
        });
        let (routed, query) = match routed {
            Ok(r) => r,
            Err(e) => {
                return Outcome {
                    response: e.into_response(&ctx.request_id, head),
                    write_version: None,
                };
            }
        };
        let req = Req {
            ctx,
            method: parts.method.clone(),
            operation: routed.operation,
            bucket: routed.bucket,
            key: routed.key,
            query,
            headers: &parts.headers,
        };
        let head = req.method == Method::HEAD;
        let operation = req.operation;
        let (mut response, write_version) = match self.dispatch(&req, body).await {
            Ok((mut response, write_version)) => {
                set(response.headers_mut(), "x-amz-request-id", &ctx.request_id);
                (response, write_version)
            }
            Err(e) => (e.into_response(&ctx.request_id, head), None),
        };
        self.cors_actual(
            ctx,
            &req.method,
            req.headers,
            req.bucket.as_deref(),
            &mut response,
        );
        Outcome {
            response: request_log::tag(response, "s3", operation),
            write_version,
        }
    }

    // ----- buckets -----

    fn bucket_meta(&self, r: &Req<'_>) -> S3Result<Bucket> {
        match self
            .store
            .snapshot()
            .get(&keys::bucket(r.account(), r.bucket()))
        {
            Some(S3Record::Bucket(b)) => Ok(b.clone()),
            _ => Err(S3Error::no_such_bucket(r.bucket())),
        }
    }

    fn list_buckets(&self, r: &Req<'_>) -> Response {
        let snap = self.store.snapshot();
        let mut x = Xml::doc("ListAllMyBucketsResult");
        x.open("Owner")
            .elem("ID", r.account())
            .elem("DisplayName", "snapstack")
            .close("Owner");
        x.open("Buckets");
        for (_, rec) in snap.scan_prefix(&keys::buckets(r.account())) {
            if let S3Record::Bucket(b) = rec {
                x.open("Bucket")
                    .elem("Name", &b.name)
                    .elem("CreationDate", &iso8601(b.created_ms))
                    .elem("BucketRegion", &b.region)
                    .close("Bucket");
            }
        }
        x.close("Buckets");
        ok_xml(x.finish("ListAllMyBucketsResult"))
    }

    fn create_bucket(&self, r: &Req<'_>, doc: Bytes) -> S3Result<(Response, Option<u64>)> {
        let name = r.bucket().to_string();
        if !valid_bucket_name(&name) {
            return Err(
                S3Error::bad("InvalidBucketName", "The specified bucket is not valid.")
                    .with("BucketName", &name),
            );
        }
        let mut region = r.ctx.partition.region.clone();
        if !doc.is_empty() {
            let n = xml::parse(&doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
            if let Some(loc) = n.text_of("LocationConstraint")
                && !loc.is_empty()
            {
                region = loc.to_string();
            }
        }
        let key = keys::bucket(r.account(), &name);
        let owner_key = keys::owner(&name);
        let account = r.account().to_string();
        let (result, version) = self.store.write(|t| {
            if let Some(S3Record::Owner(owner)) = t.get(&owner_key)
                && *owner != account
            {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )
                .with("BucketName", &name));
            }
            if let Some(S3Record::Bucket(b)) = t.get(&key) {
                // us-east-1 answers a repeated create by the owner with success, as S3 does.
                if b.region == "us-east-1" && region == "us-east-1" {
                    return Ok(false);
                }
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
                .with("BucketName", &name));
            }
            t.insert(
                key.clone(),
                S3Record::Bucket(Bucket {
                    name: name.clone(),
                    region: region.clone(),
                    created_ms: now_ms(),
                    versioning: None,
                    tags: Vec::new(),
                    cors: None,
                    policy: None,
                }),
            );
            t.insert(owner_key.clone(), S3Record::Owner(account.clone()));
            Ok(true)
        });
        let created = result?;
        let mut resp = empty(StatusCode::OK);
        set(resp.headers_mut(), "location", &format!("/{name}"));
        Ok((resp, created.then_some(version)))
    }

    fn get_location(&self, r: &Req<'_>) -> S3Result<Response> {
        let b = self.bucket_meta(r)?;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if b.region == "us-east-1" {
            x.push_str(&format!("<LocationConstraint xmlns=\"{}\"/>", xml::NS));
        } else {
            x.push_str(&format!(
                "<LocationConstraint xmlns=\"{}\">{}</LocationConstraint>",
                xml::NS,
                xml_escape(&b.region)
            ));
        }
        Ok(ok_xml(x))
    }

    fn delete_bucket(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let acct = r.account().to_string();
        let bucket = r.bucket().to_string();
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(&acct, &bucket)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(&bucket));
            }
            let busy = t
                .scan_prefix(&keys::objects(&acct, &bucket))
                .next()
                .is_some()
                || t.scan_prefix(&keys::versions(&acct, &bucket))
                    .next()
                    .is_some();
            if busy {
                return Err(S3Error::new(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                )
                .with("BucketName", &bucket));
            }
            let uploads: Vec<String> = t
                .scan_prefix(&keys::uploads(&acct, &bucket))
                .filter_map(|(_, v)| match v {
                    S3Record::Upload(u) => Some(u.upload_id.clone()),
                    _ => None,
                })
                .collect();
            for id in uploads {
                t.remove_prefix(&keys::parts(&acct, &id));
            }
            t.remove_prefix(&keys::uploads(&acct, &bucket));
            t.remove_prefix(&keys::configs(&acct, &bucket));
            t.remove(&keys::bucket(&acct, &bucket));
            t.remove(&keys::owner(&bucket));
            Ok(())
        });
        res?;
        Ok((empty(StatusCode::NO_CONTENT), Some(v)))
    }

    fn put_bucket_field(
        &self,
        r: &Req<'_>,
        field: Field,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let value = match field {
            Field::Tags => FieldValue::Tags(parse_tagging(&doc)?),
            Field::Versioning => {
                let n = xml::parse(&doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
                let status = n.text_of("Status").unwrap_or("").to_string();
                if status != "Enabled" && status != "Suspended" {
                    return Err(S3Error::bad(
                        "IllegalVersioningConfigurationException",
                        "The Versioning element must be specified",
                    ));
                }
                FieldValue::Text(status)
            }
            Field::Cors => {
                // A missing bucket is named before the rules are checked.
                self.bucket_meta(r)?;
                cors::parse(&doc)?;
                FieldValue::Text(String::from_utf8_lossy(&doc).into_owned())
            }
            Field::Policy => {
                let text = String::from_utf8_lossy(&doc).into_owned();
                if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    return Err(S3Error::bad(
                        "MalformedPolicy",
                        "Policies must be valid JSON and the first byte must be '{'",
                    ));
                }
                FieldValue::Text(text)
            }
        };
        let status = if field == Field::Policy {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::OK
        };
        self.update_bucket(r, |b| match (field, value) {
            (Field::Tags, FieldValue::Tags(t)) => b.tags = t,
            (Field::Versioning, FieldValue::Text(s)) => b.versioning = Some(s),
            (Field::Cors, FieldValue::Text(s)) => b.cors = Some(s),
            (Field::Policy, FieldValue::Text(s)) => b.policy = Some(s),
            _ => {}
        })
        .map(|v| (empty(status), Some(v)))
    }

    fn delete_bucket_field(&self, r: &Req<'_>, field: Field) -> S3Result<(Response, Option<u64>)> {
        self.update_bucket(r, |b| match field {
            Field::Tags => b.tags.clear(),
            Field::Cors => b.cors = None,
            Field::Policy => b.policy = None,
            Field::Versioning => {}
        })
        .map(|v| (empty(StatusCode::NO_CONTENT), Some(v)))
    }

    fn update_bucket(&self, r: &Req<'_>, f: impl FnOnce(&mut Bucket)) -> S3Result<u64> {
        let key = keys::bucket(r.account(), r.bucket());
        let (res, v) = self.store.write(|t| match t.get(&key) {
            Some(S3Record::Bucket(b)) => {
                let mut b = b.clone();
                f(&mut b);
                t.insert(key.clone(), S3Record::Bucket(b));
                Ok(())
            }
            _ => Err(S3Error::no_such_bucket(r.bucket())),
        });
        res.map(|()| v)
    }

    fn get_bucket_field(&self, r: &Req<'_>, field: Field) -> S3Result<Response> {
        let b = self.bucket_meta(r)?;
        match field {
            Field::Tags => {
                if b.tags.is_empty() {
                    return Err(S3Error::new(
                        StatusCode::NOT_FOUND,
                        "NoSuchTagSet",
                        "The TagSet does not exist",
                    )
                    .with("BucketName", &b.name));
                }
                Ok(ok_xml(tagging_xml(&b.tags)))
            }
            Field::Versioning => {
                let mut x = Xml::doc("VersioningConfiguration");
                x.opt("Status", b.versioning.as_deref());
                Ok(ok_xml(x.finish("VersioningConfiguration")))
            }
            Field::Cors => match b.cors {
                Some(c) => Ok(ok_xml(c)),
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchCORSConfiguration",
                    "The CORS configuration does not exist",
                )
                .with("BucketName", &b.name)),
            },
            Field::Policy => match b.policy {
                Some(p) => {
                    let mut resp = (StatusCode::OK, p).into_response();
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Ok(resp)
                }
                None => Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucketPolicy",
                    "The bucket policy does not exist",
                )
                .with("BucketName", &b.name)),
            },
        }
    }

    // ----- listing -----

    fn list_objects(&self, r: &Req<'_>) -> S3Result<Response> {
        self.bucket_meta(r)?;
        let v2 = r.q("list-type") == Some("2");
        let prefix = r.q("prefix").unwrap_or("").to_string();
        let delimiter = r
            .q("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let max_keys = match r.q("max-keys") {
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| {
                    S3Error::invalid_argument(
                        "Provided max-keys not an integer or within integer range",
                    )
                })?
                .min(1000),
            None => 1000,
        };
        let (url, enc) = key_encoding(r)?;
        let token = if v2 { r.q("continuation-token") } else { None };
        let start = match token {
            Some(t) => Some(
                String::from_utf8(body::unbase64(t).unwrap_or_default()).map_err(|_| {
                    S3Error::invalid_argument("The continuation token provided is incorrect")
                })?,
            ),
            None if v2 => r.q("start-after").map(str::to_string),
            None => r.q("marker").map(str::to_string),
        };
        let snap = self.store.snapshot();
        let base = keys::objects(r.account(), r.bucket());
        let from = keys::object(r.account(), r.bucket(), &prefix);
        let (_, upper) = base.prefix_range();
        let mut contents = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last_seen: Option<String> = None;
        for (_, rec) in snap.range((std::ops::Bound::Included(from), upper)) {
            let S3Record::Object(o) = rec else { continue };
            if !o.key.starts_with(&prefix) {
                if o.key.as_str() > prefix.as_str() {
                    break;
                }
                continue;
            }
            if let Some(s) = &start
                && o.key.as_str() <= s.as_str()
            {
                continue;
            }
            if o.delete_marker {
                continue;
            }
            let grouped = delimiter.as_ref().and_then(|d| {
                o.key[prefix.len()..]
                    .find(d.as_str())
                    .map(|i| o.key[..prefix.len() + i + d.len()].to_string())
            });
            if let Some(cp) = &grouped {
                if prefixes.last() == Some(cp) {
                    continue;
                }
                if let Some(s) = &start
                    && cp.as_str() <= s.as_str()
                {
                    continue;
                }
            }
            if contents.len() + prefixes.len() >= max_keys {
                truncated = true;
                break;
            }
            match grouped {
                Some(cp) => {
                    last_seen = Some(cp.clone());
                    prefixes.push(cp);
                }
                None => {
                    last_seen = Some(o.key.clone());
                    contents.push(o.clone());
                }
            }
        }
        let root = "ListBucketResult";
        let mut x = Xml::doc(root);
        x.elem("Name", r.bucket());
        x.elem("Prefix", &enc(&prefix));
        if v2 {
            x.elem("KeyCount", &(contents.len() + prefixes.len()).to_string());
            if let Some(t) = token {
                x.elem("ContinuationToken", t);
            }
            if let Some(s) = r.q("start-after") {
                x.elem("StartAfter", &enc(s));
            }
        } else {
            x.elem("Marker", &enc(r.q("marker").unwrap_or("")));
        }
        x.elem("MaxKeys", &max_keys.to_string());
        if let Some(d) = &delimiter {
            x.elem("Delimiter", &enc(d));
        }
        if url {
            x.elem("EncodingType", "url");
        }
        x.elem("IsTruncated", if truncated { "true" } else { "false" });
        if truncated && let Some(last) = &last_seen {
            if v2 {
                x.elem("NextContinuationToken", &body::base64(last.as_bytes()));
            } else if delimiter.is_some() {
                x.elem("NextMarker", &enc(last));
            }
        }
        for o in &contents {
            x.open("Contents")
                .elem("Key", &enc(&o.key))
                .elem("LastModified", &iso8601(o.last_modified_ms))
                .elem("ETag", &o.etag)
                .elem("Size", &o.size.to_string())
                .elem("StorageClass", "STANDARD");
            for (alg, _) in &o.checksums {
                x.elem("ChecksumAlgorithm", alg);
            }
            if !v2 || r.q("fetch-owner") == Some("true") {
                x.open("Owner")
                    .elem("ID", r.account())
                    .elem("DisplayName", "snapstack")
                    .close("Owner");
            }
            x.close("Contents");
        }
        for p in &prefixes {
            x.open("CommonPrefixes")
                .elem("Prefix", &enc(p))
                .close("CommonPrefixes");
        }
        Ok(ok_xml(x.finish(root)))
    }

    fn list_versions(&self, r: &Req<'_>) -> S3Result<Response> {
        self.bucket_meta(r)?;
        let prefix = r.q("prefix").unwrap_or("");
        let max_keys = r
            .q("max-keys")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let snap = self.store.snapshot();
        // Current versions, then each key's older ones (newest first), in key order.
        let mut all: Vec<(Object, bool)> = Vec::new();
        for (_, rec) in snap.scan_prefix(&keys::objects(r.account(), r.bucket())) {
            let S3Record::Object(o) = rec else { continue };
            if !o.key.starts_with(prefix) {
                continue;
            }
            all.push((o.clone(), true));
            for (_, old) in snap.scan_prefix(&keys::versions_of(r.account(), r.bucket(), &o.key)) {
                if let S3Record::Object(v) = old {
                    all.push((v.clone(), false));
                }
            }
        }
        // Resume after the markers: past every version of `key-marker`, or, with
        // `version-id-marker`, past that version of it.
        let key_marker = r.q("key-marker").unwrap_or("");
        let vid_marker = r.q("version-id-marker").filter(|v| !v.is_empty());
        if !key_marker.is_empty() {
            let vid = |o: &Object| o.version_id.clone().unwrap_or_else(|| "null".into());
            let skip = match vid_marker {
                None => all
                    .iter()
                    .take_while(|(o, _)| o.key.as_str() <= key_marker)
                    .count(),
                Some(v) => all
                    .iter()
                    .position(|(o, _)| o.key == key_marker && vid(o) == v)
                    .map(|i| i + 1)
                    .unwrap_or_else(|| {
                        all.iter()
                            .take_while(|(o, _)| o.key.as_str() < key_marker)
                            .count()
                    }),
            };
            all.drain(..skip.min(all.len()));
        }
        let truncated = all.len() > max_keys;
        all.truncate(max_keys);
        let (url, enc) = key_encoding(r)?;
        let mut x = Xml::doc("ListVersionsResult");
        if url {
            x.elem("EncodingType", "url");
        }
        x.elem("Name", r.bucket())
            .elem("Prefix", &enc(prefix))
            .elem("KeyMarker", &enc(key_marker))
            .elem("VersionIdMarker", vid_marker.unwrap_or(""))
            .elem("MaxKeys", &max_keys.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" });
        if truncated && let Some((last, _)) = all.last() {
            x.elem("NextKeyMarker", &enc(&last.key)).elem(
                "NextVersionIdMarker",
                last.version_id.as_deref().unwrap_or("null"),
            );
        }
        for (o, latest) in &all {
            let tag = if o.delete_marker {
                "DeleteMarker"
            } else {
                "Version"
            };
            x.open(tag)
                .elem("Key", &enc(&o.key))
                .elem("VersionId", o.version_id.as_deref().unwrap_or("null"))
                .elem("IsLatest", if *latest { "true" } else { "false" })
                .elem("LastModified", &iso8601(o.last_modified_ms));
            if !o.delete_marker {
                x.elem("ETag", &o.etag)
                    .elem("Size", &o.size.to_string())
                    .elem("StorageClass", "STANDARD");
            }
            x.open("Owner")
                .elem("ID", r.account())
                .elem("DisplayName", "snapstack")
                .close("Owner");
            x.close(tag);
        }
        Ok(ok_xml(x.finish("ListVersionsResult")))
    }

    // ----- objects -----

    /// Stream a request body into a blob, decoding `aws-chunked` and computing digests.
    async fn store_body(
        &self,
        r: &Req<'_>,
        body: Body,
    ) -> S3Result<(BlobId, [u8; 16], Vec<(String, String)>)> {
        let chunked = r
            .h("content-encoding")
            .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
            || r.h("x-amz-content-sha256")
                .is_some_and(|s| s.starts_with("STREAMING-"));
        // Checksums the client sent or announced.
        let mut algorithms: Vec<String> = Vec::new();
        for a in body::ALGORITHMS {
            if r.h(&body::checksum_header(a)).is_some() {
                algorithms.push(a.to_string());
            }
        }
        if let Some(t) = r.h("x-amz-trailer") {
            for a in body::ALGORITHMS {
                if t.eq_ignore_ascii_case(&body::checksum_header(a)) {
                    algorithms.push(a.to_string());
                }
            }
        }
        if let Some(a) = r
            .h("x-amz-sdk-checksum-algorithm")
            .or(r.h("x-amz-checksum-algorithm"))
        {
            let a = a.to_ascii_uppercase();
            if body::ALGORITHMS.contains(&a.as_str()) && !algorithms.contains(&a) {
                algorithms.push(a);
            }
        }
        let mut digests = Digests::new(&algorithms);
        let mut decoder = chunked.then(ChunkedDecoder::new);
        // After a full disk, give back the memory of refused uploads before this one is judged
        // against the bound on unsaved data.
        self.engine.relieve();
        let mut writer = self.engine.blob_writer();
        let mut body = body;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let frame = match body.frame().await {
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    return Err(S3Error::bad(
                        "IncompleteBody",
                        format!("The request body could not be read: {e}"),
                    ));
                }
                None => break,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            match &mut decoder {
                Some(d) => d
                    .feed(&data, &mut |b| pending.extend_from_slice(b))
                    .map_err(|e| S3Error::bad("InvalidRequest", e))?,
                None => pending.extend_from_slice(&data),
            }
            if pending.len() >= 1 << 20 {
                digests.update(&pending);
                blocking(|| writer.write(&pending)).map_err(durability::blob_error)?;
                pending.clear();
            }
        }
        digests.update(&pending);
        let (blob, _) = blocking(|| {
            writer.write(&pending)?;
            writer.finish()
        })
        .map_err(durability::blob_error)?;
        if let Some(d) = &decoder
            && !d.is_done()
        {
            return Err(S3Error::bad(
                "IncompleteBody",
                "The aws-chunked body ended before its final chunk",
            ));
        }
        if let Some(expected) = r
            .h("x-amz-decoded-content-length")
            .and_then(|v| v.parse::<u64>().ok())
            && expected != digests.bytes_seen()
        {
            return Err(S3Error::bad(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ));
        }
        let trailers = decoder.map(|d| d.trailers).unwrap_or_default();
        let (md5, sums) = digests.finish();
        if let Some(sent) = r.h("content-md5")
            && body::unbase64(sent).as_deref() != Some(&md5[..])
        {
            return Err(S3Error::bad(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
        for (alg, value) in &sums {
            let name = body::checksum_header(alg);
            let sent = r.h(&name).map(str::to_string).or_else(|| {
                trailers
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            });
            if let Some(sent) = sent
                && sent.trim() != value
            {
                return Err(S3Error::bad(
                    "BadDigest",
                    format!("The {alg} you specified did not match the calculated checksum."),
                ));
            }
        }
        Ok((blob, md5, sums))
    }

    async fn put_object(&self, r: &Req<'_>, body: Body) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let tags = match r.h("x-amz-tagging") {
            Some(t) => parse_tag_query(t)?,
            None => Vec::new(),
        };
        let (blob, md5, checksums) = self.store_body(r, body).await?;
        let etag = format!("\"{}\"", body::hex(&md5));
        let obj = Object {
            key: r.key().to_string(),
            version_id: None,
            delete_marker: false,
            blob: Some(blob),
            size: blob.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            headers: object_headers(r.headers),
            metadata: user_metadata(r.headers),
            tags,
            checksums: checksums.clone(),
            parts_count: None,
        };
        let (version_id, v, undo) = self.write_object_undoable(r, &bucket, obj)?;
        // Rolled back if it cannot be made durable (see `durability`).
        durability::offer(undo);
        let mut resp = empty(StatusCode::OK);
        let h = resp.headers_mut();
        set(h, "etag", &etag);
        if let Some(id) = version_id {
            set(h, "x-amz-version-id", &id);
        }
        for (alg, v) in &checksums {
            set(h, header_static(alg), v);
        }
        Ok((resp, Some(v)))
    }

    /// Store an object as the current version, keeping the old one when versioning is on.
    fn write_object(
        &self,
        r: &Req<'_>,
        bucket: &Bucket,
        obj: Object,
    ) -> S3Result<(Option<String>, u64)> {
        self.write_object_undoable(r, bucket, obj)
            .map(|(id, v, _)| (id, v))
    }

    /// [`S3::write_object`], also returning how to undo the write.
    fn write_object_undoable(
        &self,
        r: &Req<'_>,
        bucket: &Bucket,
        mut obj: Object,
    ) -> S3Result<(Option<String>, u64, durability::PutUndo)> {
        let versioned = bucket.versioning.as_deref() == Some("Enabled");
        // Once versioning was ever set (Enabled or Suspended), a replaced current version is
        // kept as a noncurrent one; only a write of a `null` version replaces the `null` one.
        let keeps_versions = bucket.versioning.is_some();
        if versioned {
            obj.version_id = Some(self.new_id());
        }
        let seq = self.ids.fetch_add(1, Ordering::Relaxed);
        let acct = r.account().to_string();
        let key = keys::object(&acct, &bucket.name, &obj.key);
        let version_id = obj.version_id.clone();
        let condition = WriteCondition::of(r)?;
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(&acct, &bucket.name)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(&bucket.name));
            }
            // Checked in the same write as the put: no other write can slip in between.
            let current = match t.get(&key) {
                Some(S3Record::Object(o)) if !o.delete_marker => Some(o),
                _ => None,
            };
            condition.check(current, &obj.key)?;
            let previous = t.get(&key).cloned();
            let (moved_to, dropped_null) = if keeps_versions {
                retire_current(
                    t,
                    &acct,
                    &bucket.name,
                    &obj.key,
                    obj.version_id.is_none(),
                    seq,
                )
            } else {
                (None, None)
            };
            t.insert(key.clone(), S3Record::Object(obj.clone()));
            Ok(durability::PutUndo {
                key: key.clone(),
                written: obj,
                previous,
                moved_to,
                dropped_null,
            })
        });
        Ok((version_id, v, res?))
    }

    fn find_object(
        &self,
        r: &Req<'_>,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<Object> {
        let snap = self.store.snapshot();
        if !matches!(
            snap.get(&keys::bucket(r.account(), bucket)),
            Some(S3Record::Bucket(_))
        ) {
            return Err(S3Error::no_such_bucket(bucket));
        }
        let current = match snap.get(&keys::object(r.account(), bucket, key)) {
            Some(S3Record::Object(o)) => Some(o.clone()),
            _ => None,
        };
        let found = match version {
            None => current,
            Some(v) => current
                .filter(|o| o.version_id.as_deref().unwrap_or("null") == v)
                .or_else(|| {
                    snap.scan_prefix(&keys::versions_of(r.account(), bucket, key))
                        .find_map(|(_, rec)| match rec {
                            S3Record::Object(o)
                                if o.version_id.as_deref().unwrap_or("null") == v =>
                            {
                                Some(o.clone())
                            }
                            _ => None,
                        })
                }),
        };
        match found {
            Some(o) if !o.delete_marker => Ok(o),
            _ if version.is_some() => Err(S3Error::new(
                StatusCode::NOT_FOUND,
                "NoSuchVersion",
                "The specified version does not exist.",
            )
            .with("Key", key)
            .with("VersionId", version.unwrap_or(""))),
            _ => Err(S3Error::no_such_key(key)),
        }
    }

    async fn get_object(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.find_object(r, r.bucket(), r.key(), r.q("versionId"))?;
        let head = r.method == Method::HEAD;
        // Conditional requests, in S3's order of precedence.
        let modified_secs = o.last_modified_ms / 1000;
        let since = |name: &str| {
            r.h(name)
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        let etag_matches = |list: &str| {
            list.split(',')
                .any(|e| e.trim() == "*" || e.trim().trim_matches('"') == o.etag.trim_matches('"'))
        };
        let not_modified = || {
            let mut resp = empty(StatusCode::NOT_MODIFIED);
            set(resp.headers_mut(), "etag", &o.etag);
            set(
                resp.headers_mut(),
                "last-modified",
                &http_date(o.last_modified_ms),
            );
            resp
        };
        if let Some(m) = r.h("if-match") {
            if !etag_matches(m) {
                return Err(S3Error::precondition("If-Match"));
            }
        } else if let Some(t) = since("if-unmodified-since")
            && modified_secs > t
        {
            return Err(S3Error::precondition("If-Unmodified-Since"));
        }
        if let Some(m) = r.h("if-none-match") {
            if etag_matches(m) {
                return Ok(not_modified());
            }
        } else if let Some(t) = since("if-modified-since")
            && modified_secs <= t
        {
            return Ok(not_modified());
        }
        let range = match (r.h("range"), r.q("partNumber")) {
            (Some(_), Some(_)) => {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "Cannot specify both Range header and partNumber query parameter",
                ));
            }
            (Some(h), None) => parse_range(h, o.size)?,
            (None, Some(n)) => part_range(&o, n)?,
            (None, None) => None,
        };
        let (status, start, end) = match range {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
            None => (StatusCode::OK, 0, o.size),
        };
        // HEAD too: a damaged index is a 500 before any byte, not a 200 whose GET fails.
        let what = format!("object {}/{}", r.bucket(), r.key());
        let opened = match o.blob {
            Some(blob) => Some(self.engine.open_blob(&blob).map_err(|e| {
                self.engine.damaged_read(NAME, &what, &e);
                S3Error::internal(format!("The object's stored body is damaged: {e}"))
            })?),
            None => None,
        };
        let mut resp = if head || start == end {
            let mut resp = empty(status);
            set(
                resp.headers_mut(),
                "content-length",
                &(end - start).to_string(),
            );
            resp
        } else {
            let opened = opened.ok_or_else(|| S3Error::internal("an object without a body"))?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
            let engine = self.engine.clone();
            tokio::task::spawn_blocking(move || {
                for piece in opened.read_range(start, end) {
                    // A piece that does not verify ends the body with an error: the connection
                    // closes short of its Content-Length, so the client sees a failed read, never
                    // a shorter object.
                    let item = piece.map(Bytes::from).map_err(|e| {
                        engine.damaged_read(NAME, &what, &e);
                        std::io::Error::other(e.to_string())
                    });
                    let failed = item.is_err();
                    if tx.blocking_send(item).is_err() || failed {
                        break;
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            let mut resp = Response::new(Body::from_stream(stream));
            *resp.status_mut() = status;
            set(
                resp.headers_mut(),
                "content-length",
                &(end - start).to_string(),
            );
            resp
        };
        let h = resp.headers_mut();
        if status == StatusCode::PARTIAL_CONTENT {
            set(
                h,
                "content-range",
                &format!("bytes {start}-{}/{}", end - 1, o.size),
            );
        }
        // A checksum covers the whole object: S3 returns none for a range.
        let whole = status == StatusCode::OK;
        describe_object(
            h,
            &o,
            whole && r.h("x-amz-checksum-mode") == Some("ENABLED"),
        );
        Ok(resp)
    }

    fn delete_object(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let (marker, version, v) =
            self.delete_one(r.account(), &bucket, r.key(), r.q("versionId"))?;
        let mut resp = empty(StatusCode::NO_CONTENT);
        if let Some(id) = version {
            set(resp.headers_mut(), "x-amz-version-id", &id);
        }
        if marker {
            set(resp.headers_mut(), "x-amz-delete-marker", "true");
        }
        Ok((resp, v))
    }

    /// Delete a key (or one version of it). Returns whether a delete marker is involved, the
    /// version id concerned, and the write version if anything changed.
    fn delete_one(
        &self,
        acct: &str,
        bucket: &Bucket,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<(bool, Option<String>, Option<u64>)> {
        let versioned = bucket.versioning.as_deref() == Some("Enabled");
        let cur_key = keys::object(acct, &bucket.name, key);
        let marker_id = versioned.then(|| self.new_id());
        let seq = self.ids.fetch_add(1, Ordering::Relaxed);
        let (out, v) = self.store.write(|t| {
            let current = match t.get(&cur_key) {
                Some(S3Record::Object(o)) => Some(o.clone()),
                _ => None,
            };
            match version {
                Some(vid) => {
                    if current.as_ref().map(|o| o.version_id.as_deref().unwrap_or("null")) == Some(vid) {
                        t.remove(&cur_key);
                        // Promote the newest older version, if any.
                        let next = t
                            .scan_prefix(&keys::versions_of(acct, &bucket.name, key))
                            .next()
                            .map(|(k, v)| (k.clone(), v.clone()));
                        if let Some((k, rec)) = next {
                            t.remove(&k);
                            t.insert(cur_key.clone(), rec);
                        }
                        let marker = current.is_some_and(|o| o.delete_marker);
                        return (marker, Some(vid.to_string()));
                    }
                    let old = t
                        .scan_prefix(&keys::versions_of(acct, &bucket.name, key))
                        .find(|(_, rec)| matches!(rec, S3Record::Object(o) if o.version_id.as_deref().unwrap_or("null") == vid))
                        .map(|(k, rec)| (k.clone(), matches!(rec, S3Record::Object(o) if o.delete_marker)));
                    match old {
                        Some((k, marker)) => {
                            t.remove(&k);
                            (marker, Some(vid.to_string()))
                        }
                        None => (false, Some(vid.to_string())),
                    }
                }
                None if bucket.versioning.is_some() => {
                    // Enabled: a new delete marker; Suspended: a `null` one, replacing the
                    // `null` version. Either way the versions before it are kept.
                    retire_current(t, acct, &bucket.name, key, marker_id.is_none(), seq);
                    t.insert(
                        cur_key.clone(),
                        S3Record::Object(Object {
                            key: key.to_string(),
                            version_id: marker_id.clone(),
                            delete_marker: true,
                            blob: None,
                            size: 0,
                            etag: String::new(),
                            last_modified_ms: now_ms(),
                            headers: ObjectHeaders::default(),
                            metadata: Vec::new(),
                            tags: Vec::new(),
                            checksums: Vec::new(),
                            parts_count: None,
                        }),
                    );
                    (true, Some(marker_id.clone().unwrap_or_else(|| "null".into())))
                }
                None => {
                    t.remove(&cur_key);
                    (false, None)
                }
            }
        });
        Ok((out.0, out.1, Some(v)))
    }

    fn delete_objects(&self, r: &Req<'_>, doc: Bytes) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let n = xml::parse(&doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
        let quiet = n.text_of("Quiet") == Some("true");
        let objects: Vec<&Node> = n.all("Object").collect();
        if objects.len() > 1000 {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let mut x = Xml::doc("DeleteResult");
        let mut last = None;
        for o in objects {
            // Keys are bytes: never trimmed (`' lead'` is not `'lead'`).
            let key = o.raw_text_of("Key").unwrap_or("").to_string();
            let vid = o.text_of("VersionId").map(str::to_string);
            match self.delete_one(r.account(), &bucket, &key, vid.as_deref()) {
                Ok((marker, version, v)) => {
                    last = v.or(last);
                    if !quiet {
                        x.open("Deleted").elem("Key", &key);
                        x.opt("VersionId", vid.as_deref());
                        if marker {
                            x.elem("DeleteMarker", "true");
                            x.opt("DeleteMarkerVersionId", version.as_deref());
                        }
                        x.close("Deleted");
                    }
                }
                Err(e) => {
                    x.open("Error")
                        .elem("Key", &key)
                        .elem("Code", e.code)
                        .elem("Message", &e.message)
                        .close("Error");
                }
            }
        }
        Ok((ok_xml(x.finish("DeleteResult")), last))
    }

    fn copy_source(&self, r: &Req<'_>) -> S3Result<Object> {
        let raw = r.h("x-amz-copy-source").unwrap_or("");
        let decoded = routing::decode_strict(raw)?;
        let src = decoded.trim_start_matches('/');
        let (path, version) = match src.split_once("?versionId=") {
            Some((p, v)) => (p, Some(v)),
            None => (src, None),
        };
        let (bucket, key) = path
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                )
            })?;
        let o = self.find_object(r, bucket, key, version)?;
        copy_source_conditions(r, &o)?;
        Ok(o)
    }

    async fn copy_object(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let src = self.copy_source(r)?;
        let replace = r.h("x-amz-metadata-directive") == Some("REPLACE");
        let src_bucket_key = routing::decode_strict(r.h("x-amz-copy-source").unwrap_or(""))?
            .trim_start_matches('/')
            .to_string();
        let same = src_bucket_key == format!("{}/{}", r.bucket(), r.key());
        if same && !replace {
            return Err(S3Error::bad(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let tags = match r.h("x-amz-tagging-directive") {
            Some("REPLACE") => parse_tag_query(r.h("x-amz-tagging").unwrap_or(""))?,
            _ => src.tags.clone(),
        };
        let obj = Object {
            key: r.key().to_string(),
            version_id: None,
            delete_marker: false,
            blob: src.blob,
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: now_ms(),
            headers: if replace {
                object_headers(r.headers)
            } else {
                src.headers.clone()
            },
            metadata: if replace {
                user_metadata(r.headers)
            } else {
                src.metadata.clone()
            },
            tags,
            checksums: src.checksums.clone(),
            parts_count: src.parts_count,
        };
        let last_modified = obj.last_modified_ms;
        let (version_id, v) = self.write_object(r, &bucket, obj)?;
        let mut x = Xml::doc("CopyObjectResult");
        x.elem("LastModified", &iso8601(last_modified))
            .elem("ETag", &src.etag);
        for (alg, val) in &src.checksums {
            x.elem(&format!("Checksum{alg}"), val);
        }
        let mut resp = ok_xml(x.finish("CopyObjectResult"));
        if let Some(id) = version_id {
            set(resp.headers_mut(), "x-amz-version-id", &id);
        }
        if let Some(id) = &src.version_id {
            set(resp.headers_mut(), "x-amz-copy-source-version-id", id);
        }
        Ok((resp, Some(v)))
    }

    // ----- tagging -----

    fn put_object_tagging(&self, r: &Req<'_>, doc: Bytes) -> S3Result<(Response, Option<u64>)> {
        let tags = parse_tagging(&doc)?;
        self.update_object(r, |o| o.tags = tags)
            .map(|v| (empty(StatusCode::OK), Some(v)))
    }

    fn delete_object_tagging(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        self.update_object(r, |o| o.tags.clear())
            .map(|v| (empty(StatusCode::NO_CONTENT), Some(v)))
    }

    fn update_object(&self, r: &Req<'_>, f: impl FnOnce(&mut Object)) -> S3Result<u64> {
        self.find_object(r, r.bucket(), r.key(), None)?;
        let key = keys::object(r.account(), r.bucket(), r.key());
        let (res, v) = self.store.write(|t| match t.get(&key) {
            Some(S3Record::Object(o)) if !o.delete_marker => {
                let mut o = o.clone();
                f(&mut o);
                t.insert(key.clone(), S3Record::Object(o));
                Ok(())
            }
            _ => Err(S3Error::no_such_key(r.key())),
        });
        res.map(|()| v)
    }

    fn get_object_tagging(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.find_object(r, r.bucket(), r.key(), r.q("versionId"))?;
        Ok(ok_xml(tagging_xml(&o.tags)))
    }

    // ----- multipart -----

    fn upload_meta(&self, r: &Req<'_>) -> S3Result<Upload> {
        let id = r.q("uploadId").unwrap_or("");
        match self
            .store
            .snapshot()
            .get(&keys::upload(r.account(), r.bucket(), id))
        {
            Some(S3Record::Upload(u)) if u.key == r.key() => Ok(u.clone()),
            _ => Err(S3Error::no_such_upload(id)),
        }
    }

    fn create_upload(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        self.bucket_meta(r)?;
        let upload_id = self.new_id();
        let upload = Upload {
            bucket: r.bucket().to_string(),
            key: r.key().to_string(),
            upload_id: upload_id.clone(),
            initiated_ms: now_ms(),
            headers: object_headers(r.headers),
            metadata: user_metadata(r.headers),
            tags: match r.h("x-amz-tagging") {
                Some(t) => parse_tag_query(t)?,
                None => Vec::new(),
            },
            checksum_algorithm: r
                .h("x-amz-checksum-algorithm")
                .map(|a| a.to_ascii_uppercase())
                .filter(|a| body::ALGORITHMS.contains(&a.as_str())),
        };
        let key = keys::upload(r.account(), r.bucket(), &upload_id);
        let ((), v) = self.store.write(|t| {
            t.insert(key, S3Record::Upload(upload.clone()));
        });
        let mut x = Xml::doc("InitiateMultipartUploadResult");
        x.elem("Bucket", r.bucket())
            .elem("Key", r.key())
            .elem("UploadId", &upload_id);
        let mut resp = ok_xml(x.finish("InitiateMultipartUploadResult"));
        if let Some(a) = &upload.checksum_algorithm {
            set(resp.headers_mut(), "x-amz-checksum-algorithm", a);
        }
        Ok((resp, Some(v)))
    }

    fn part_number(r: &Req<'_>) -> S3Result<u32> {
        r.q("partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })
    }

    fn save_part(&self, r: &Req<'_>, upload: &Upload, part: Part) -> S3Result<u64> {
        let acct = r.account().to_string();
        let ukey = keys::upload(&acct, &upload.bucket, &upload.upload_id);
        let pkey = keys::part(&acct, &upload.upload_id, part.number);
        let (res, v) = self.store.write(|t| {
            if !matches!(t.get(&ukey), Some(S3Record::Upload(_))) {
                return Err(S3Error::no_such_upload(&upload.upload_id));
            }
            t.insert(pkey, S3Record::Part(part));
            Ok(())
        });
        res.map(|()| v)
    }

    async fn upload_part(&self, r: &Req<'_>, body: Body) -> S3Result<(Response, Option<u64>)> {
        let number = Self::part_number(r)?;
        let upload = self.upload_meta(r)?;
        let (blob, md5, checksums) = self.store_body(r, body).await?;
        let etag = format!("\"{}\"", body::hex(&md5));
        let part = Part {
            number,
            blob,
            size: blob.size,
            etag: etag.clone(),
            md5: md5.to_vec(),
            last_modified_ms: now_ms(),
            checksums: checksums.clone(),
        };
        let v = self.save_part(r, &upload, part)?;
        let mut resp = empty(StatusCode::OK);
        set(resp.headers_mut(), "etag", &etag);
        for (alg, val) in &checksums {
            set(resp.headers_mut(), header_static(alg), val);
        }
        Ok((resp, Some(v)))
    }

    async fn upload_part_copy(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let number = Self::part_number(r)?;
        let upload = self.upload_meta(r)?;
        let src = self.copy_source(r)?;
        let src_blob = src
            .blob
            .ok_or_else(|| S3Error::internal("an object without a body"))?;
        let (start, end) = match r.h("x-amz-copy-source-range") {
            Some(h) => parse_range(h, src.size)?.unwrap_or((0, src.size)),
            None => (0, src.size),
        };
        let engine = self.engine.clone();
        let copied = blocking(|| -> snapstack_engine::Result<(BlobId, [u8; 16])> {
            let blob = engine.open_blob(&src_blob)?;
            let mut w = engine.blob_writer();
            let mut d = Digests::new(&[]);
            for piece in blob.read_range(start, end) {
                let piece = piece?;
                d.update(&piece);
                w.write(&piece)?;
            }
            let (id, _) = w.finish()?;
            Ok((id, d.finish().0))
        })
        .map_err(durability::blob_error)?;
        let (blob, md5) = copied;
        let etag = format!("\"{}\"", body::hex(&md5));
        let now = now_ms();
        let part = Part {
            number,
            blob,
            size: blob.size,
            etag: etag.clone(),
            md5: md5.to_vec(),
            last_modified_ms: now,
            checksums: Vec::new(),
        };
        let v = self.save_part(r, &upload, part)?;
        let mut x = Xml::doc("CopyPartResult");
        x.elem("LastModified", &iso8601(now)).elem("ETag", &etag);
        Ok((ok_xml(x.finish("CopyPartResult")), Some(v)))
    }

    fn parts_of(&self, acct: &str, upload_id: &str) -> Vec<Part> {
        self.store
            .snapshot()
            .scan_prefix(&keys::parts(acct, upload_id))
            .filter_map(|(_, rec)| match rec {
                S3Record::Part(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn complete_upload(&self, r: &Req<'_>, doc: Bytes) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let upload = self.upload_meta(r)?;
        let n = xml::parse(&doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
        let listed: Vec<(u32, String)> = n
            .all("Part")
            .map(|p| {
                let num = p
                    .text_of("PartNumber")
                    .and_then(|s| s.parse::<u32>().ok())
                    .unwrap_or(0);
                (
                    num,
                    p.text_of("ETag")
                        .unwrap_or("")
                        .trim_matches('"')
                        .to_string(),
                )
            })
            .collect();
        if listed.is_empty() {
            return Err(S3Error::bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(S3Error::bad(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
            ));
        }
        let stored = self.parts_of(r.account(), &upload.upload_id);
        let mut chosen = Vec::with_capacity(listed.len());
        for (num, etag) in &listed {
            let part = stored
                .iter()
                .find(|p| p.number == *num && p.etag.trim_matches('"') == etag)
                .ok_or_else(|| {
                    S3Error::bad(
                        "InvalidPart",
                        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.",
                    )
                    .with("PartNumber", num.to_string())
                    .with("ETag", etag.clone())
                })?;
            chosen.push(part.clone());
        }
        if let Some(small) = chosen[..chosen.len() - 1]
            .iter()
            .find(|p| p.size < MIN_PART_SIZE)
        {
            return Err(S3Error::bad(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with("ProposedSize", small.size.to_string())
            .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
            .with("PartNumber", small.number.to_string()));
        }
        let blobs: Vec<BlobId> = chosen.iter().map(|p| p.blob).collect();
        let blob = self
            .engine
            .concat_blobs(&blobs)
            .map_err(|e| S3Error::internal(e.to_string()))?;
        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for p in &chosen {
            md5s.extend_from_slice(&p.md5);
        }
        let mut d = Digests::new(&[]);
        d.update(&md5s);
        let etag = format!("\"{}-{}\"", body::hex(&d.finish().0), chosen.len());
        let obj = Object {
            key: upload.key.clone(),
            version_id: None,
            delete_marker: false,
            blob: Some(blob),
            size: blob.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            headers: upload.headers.clone(),
            metadata: upload.metadata.clone(),
            tags: upload.tags.clone(),
            checksums: Vec::new(),
            parts_count: Some(chosen.len() as u32),
        };
        let (version_id, _) = self.write_object(r, &bucket, obj)?;
        let acct = r.account().to_string();
        let ((), v) = self.store.write(|t| {
            t.remove_prefix(&keys::parts(&acct, &upload.upload_id));
            t.remove(&keys::upload(&acct, &upload.bucket, &upload.upload_id));
        });
        let mut x = Xml::doc("CompleteMultipartUploadResult");
        x.elem("Location", &format!("/{}/{}", r.bucket(), upload.key))
            .elem("Bucket", r.bucket())
            .elem("Key", &upload.key)
            .elem("ETag", &etag);
        let mut resp = ok_xml(x.finish("CompleteMultipartUploadResult"));
        if let Some(id) = version_id {
            set(resp.headers_mut(), "x-amz-version-id", &id);
        }
        Ok((resp, Some(v)))
    }

    fn abort_upload(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let upload = self.upload_meta(r)?;
        let acct = r.account().to_string();
        let ((), v) = self.store.write(|t| {
            t.remove_prefix(&keys::parts(&acct, &upload.upload_id));
            t.remove(&keys::upload(&acct, &upload.bucket, &upload.upload_id));
        });
        Ok((empty(StatusCode::NO_CONTENT), Some(v)))
    }

    fn list_parts(&self, r: &Req<'_>) -> S3Result<Response> {
        let upload = self.upload_meta(r)?;
        let max = r
            .q("max-parts")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let marker = r
            .q("part-number-marker")
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        let parts: Vec<Part> = self
            .parts_of(r.account(), &upload.upload_id)
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = parts.len() > max;
        let shown = &parts[..parts.len().min(max)];
        let mut x = Xml::doc("ListPartsResult");
        x.elem("Bucket", r.bucket())
            .elem("Key", &upload.key)
            .elem("UploadId", &upload.upload_id)
            .elem("PartNumberMarker", &marker.to_string())
            .elem(
                "NextPartNumberMarker",
                &shown.last().map_or(0, |p| p.number).to_string(),
            )
            .elem("MaxParts", &max.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" })
            .elem("StorageClass", "STANDARD");
        for p in shown {
            x.open("Part")
                .elem("PartNumber", &p.number.to_string())
                .elem("LastModified", &iso8601(p.last_modified_ms))
                .elem("ETag", &p.etag)
                .elem("Size", &p.size.to_string());
            for (alg, v) in &p.checksums {
                x.elem(&format!("Checksum{alg}"), v);
            }
            x.close("Part");
        }
        Ok(ok_xml(x.finish("ListPartsResult")))
    }

    fn list_uploads(&self, r: &Req<'_>) -> S3Result<Response> {
        self.bucket_meta(r)?;
        let prefix = r.q("prefix").unwrap_or("");
        let snap = self.store.snapshot();
        let (url, enc) = key_encoding(r)?;
        let mut x = Xml::doc("ListMultipartUploadsResult");
        if url {
            x.elem("EncodingType", "url");
        }
        x.elem("Bucket", r.bucket())
            .elem("KeyMarker", "")
            .elem("UploadIdMarker", "")
            .elem("Prefix", &enc(prefix))
            .elem("MaxUploads", "1000")
            .elem("IsTruncated", "false");
        let mut uploads: Vec<Upload> = snap
            .scan_prefix(&keys::uploads(r.account(), r.bucket()))
            .filter_map(|(_, rec)| match rec {
                S3Record::Upload(u) if u.key.starts_with(prefix) => Some(u.clone()),
                _ => None,
            })
            .collect();
        uploads.sort_by(|a, b| (&a.key, a.initiated_ms).cmp(&(&b.key, b.initiated_ms)));
        for u in uploads {
            x.open("Upload")
                .elem("Key", &enc(&u.key))
                .elem("UploadId", &u.upload_id)
                .elem("Initiated", &iso8601(u.initiated_ms))
                .elem("StorageClass", "STANDARD")
                .close("Upload");
        }
        Ok(ok_xml(x.finish("ListMultipartUploadsResult")))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Tags,
    Versioning,
    Cors,
    Policy,
}

enum FieldValue {
    Tags(Vec<(String, String)>),
    Text(String),
}

/// `x-amz-copy-source-if-*`: a copy (or part copy) only from a source that passes them; a failed
/// one is a 412, never a 304. As S3 documents: a true `if-match` wins over a false
/// `if-unmodified-since`, and a false `if-none-match` fails even when `if-modified-since` holds.
fn copy_source_conditions(r: &Req<'_>, o: &Object) -> S3Result<()> {
    let etag = o.etag.trim_matches('"');
    let matches = |list: &str| {
        list.split(',')
            .any(|e| e.trim() == "*" || e.trim().trim_matches('"') == etag)
    };
    let date = |name: &str| {
        r.h(name)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    let modified = o.last_modified_ms / 1000;
    if let Some(m) = r.h("x-amz-copy-source-if-match") {
        if !matches(m) {
            return Err(S3Error::precondition("x-amz-copy-source-If-Match"));
        }
    } else if let Some(t) = date("x-amz-copy-source-if-unmodified-since")
        && modified > t
    {
        return Err(S3Error::precondition(
            "x-amz-copy-source-If-Unmodified-Since",
        ));
    }
    if let Some(m) = r.h("x-amz-copy-source-if-none-match") {
        if matches(m) {
            return Err(S3Error::precondition("x-amz-copy-source-If-None-Match"));
        }
    } else if let Some(t) = date("x-amz-copy-source-if-modified-since")
        && modified <= t
    {
        return Err(S3Error::precondition("x-amz-copy-source-If-Modified-Since"));
    }
    Ok(())
}

/// A conditional write (`If-None-Match: *` or `If-Match: <etag>` on PutObject and
/// CompleteMultipartUpload): checked against the current version inside the write.
enum WriteCondition {
    None,
    /// `If-None-Match: *`: only if no current object exists.
    Absent,
    /// `If-Match`: only if the current object's ETag is one of these.
    EtagIn(Vec<String>),
}

impl WriteCondition {
    fn of(r: &Req<'_>) -> S3Result<WriteCondition> {
        // CopyObject's conditions name its source (`x-amz-copy-source-if-*`), not the target.
        if r.h("x-amz-copy-source").is_some() {
            return Ok(WriteCondition::None);
        }
        if let Some(v) = r.h("if-none-match") {
            return match v.trim().trim_matches('"') {
                "*" => Ok(WriteCondition::Absent),
                _ => Err(S3Error::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented",
                )
                .with("Header", "If-None-Match")),
            };
        }
        if let Some(v) = r.h("if-match") {
            let tags: Vec<String> = v
                .split(',')
                .map(|e| e.trim().trim_matches('"').to_string())
                .filter(|e| !e.is_empty())
                .collect();
            return Ok(WriteCondition::EtagIn(tags));
        }
        Ok(WriteCondition::None)
    }

    fn check(&self, current: Option<&Object>, key: &str) -> S3Result<()> {
        match (self, current) {
            (WriteCondition::None, _) | (WriteCondition::Absent, None) => Ok(()),
            (WriteCondition::Absent, Some(_)) => Err(S3Error::precondition("If-None-Match")),
            (WriteCondition::EtagIn(_), None) => Err(S3Error::no_such_key(key)),
            (WriteCondition::EtagIn(tags), Some(o)) => {
                let etag = o.etag.trim_matches('"');
                if tags.iter().any(|t| t == "*" || t == etag) {
                    Ok(())
                } else {
                    Err(S3Error::precondition("If-Match"))
                }
            }
        }
    }
}

/// Make room for a new current version of `key`: the current one becomes noncurrent, unless it
/// is the `null` version and the new one is `null` too (which replaces it). A noncurrent `null`
/// version is dropped when a new `null` version arrives, as S3 keeps one `null` version a key.
fn retire_current(
    t: &mut snapstack_engine::Txn<'_, S3Record>,
    acct: &str,
    bucket: &str,
    key: &str,
    new_is_null: bool,
    seq: u64,
) -> (Option<Key>, Option<(Key, S3Record)>) {
    let cur_key = keys::object(acct, bucket, key);
    let mut dropped_null = None;
    if new_is_null {
        let old_null = t
            .scan_prefix(&keys::versions_of(acct, bucket, key))
            .find(|(_, rec)| matches!(rec, S3Record::Object(o) if o.version_id.is_none()))
            .map(|(k, rec)| (k.clone(), rec.clone()));
        if let Some((k, rec)) = old_null {
            t.remove(&k);
            dropped_null = Some((k, rec));
        }
    }
    let mut moved_to = None;
    if let Some(S3Record::Object(old)) = t.get(&cur_key).cloned()
        && !(new_is_null && old.version_id.is_none())
    {
        let to = keys::version(acct, bucket, key, seq);
        t.insert(to.clone(), S3Record::Object(old));
        moved_to = Some(to);
    }
    (moved_to, dropped_null)
}

async fn read_document(body: Body) -> S3Result<Bytes> {
    snapstack_protocol::body::to_bytes(body, MAX_DOCUMENT)
        .await
        .map_err(|_| S3Error::bad("MaxMessageLengthExceeded", "Your request was too big."))
}

/// The bytes of part `n` of an object (GetObject/HeadObject with `partNumber`). An object not
/// uploaded in parts is one part. The part boundaries of a multipart object are not kept in its
/// record (format v1), so asking for one of its parts answers 501 rather than wrong bytes.
fn part_range(o: &Object, n: &str) -> S3Result<Option<(u64, u64)>> {
    let n: u32 = n
        .parse()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
            .with("ArgumentName", "partNumber")
            .with("ArgumentValue", n)
        })?;
    match o.parts_count {
        None | Some(1) if n == 1 => Ok(None),
        None => Err(S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
        )
        .with("PartNumberRequested", n.to_string())
        .with("ActualPartCount", "1")),
        Some(count) if n > count => Err(S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable",
        )
        .with("PartNumberRequested", n.to_string())
        .with("ActualPartCount", count.to_string())),
        Some(_) => Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "GetObject with partNumber on an object uploaded in parts is not implemented by this emulator yet (its part boundaries are not recorded)",
        )),
    }
}

fn parse_range(h: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
    let invalid = || {
        S3Error::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", h)
        .with("ActualObjectSize", size.to_string())
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| invalid())?;
            if n == 0 {
                return Err(invalid());
            }
            (size.saturating_sub(n), size)
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| invalid())?;
            let end = if b.is_empty() {
                size
            } else {
                let e: u64 = b.parse().map_err(|_| invalid())?;
                if e < start {
                    return Ok(None);
                }
                (e + 1).min(size)
            };
            if start >= size {
                return Err(invalid());
            }
            (start, end)
        }
        (true, true) => return Err(invalid()),
    };
    Ok(Some(range))
}

fn object_headers(h: &HeaderMap) -> ObjectHeaders {
    let get = |n: &str| header(h, n).map(str::to_string);
    ObjectHeaders {
        content_type: get("content-type"),
        content_encoding: get("content-encoding").and_then(|e| {
            let rest: Vec<&str> = e
                .split(',')
                .map(str::trim)
                .filter(|p| *p != "aws-chunked" && !p.is_empty())
                .collect();
            (!rest.is_empty()).then(|| rest.join(", "))
        }),
        content_disposition: get("content-disposition"),
        content_language: get("content-language"),
        cache_control: get("cache-control"),
        expires: get("expires"),
    }
}

fn user_metadata(h: &HeaderMap) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = h
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    m.sort();
    m
}

fn header_static(alg: &str) -> &'static str {
    match alg {
        "CRC32" => "x-amz-checksum-crc32",
        "CRC32C" => "x-amz-checksum-crc32c",
        "SHA1" => "x-amz-checksum-sha1",
        _ => "x-amz-checksum-sha256",
    }
}

fn describe_object(h: &mut HeaderMap, o: &Object, checksums: bool) {
    set(h, "etag", &o.etag);
    set(h, "last-modified", &http_date(o.last_modified_ms));
    set(h, "accept-ranges", "bytes");
    set(
        h,
        "content-type",
        o.headers
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    let optional = [
        ("content-encoding", &o.headers.content_encoding),
        ("content-disposition", &o.headers.content_disposition),
        ("content-language", &o.headers.content_language),
        ("cache-control", &o.headers.cache_control),
        ("expires", &o.headers.expires),
    ];
    for (name, v) in optional {
        if let Some(v) = v {
            set(h, name, v);
        }
    }
    for (k, v) in &o.metadata {
        if let (Ok(name), Ok(value)) = (
            snapstack_protocol::http::HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(name, value);
        }
    }
    if let Some(id) = &o.version_id {
        set(h, "x-amz-version-id", id);
    }
    if !o.tags.is_empty() {
        set(h, "x-amz-tagging-count", &o.tags.len().to_string());
    }
    if let Some(n) = o.parts_count {
        set(h, "x-amz-mp-parts-count", &n.to_string());
    }
    if checksums {
        for (alg, v) in &o.checksums {
            set(h, header_static(alg), v);
        }
    }
}

fn tagging_xml(tags: &[(String, String)]) -> String {
    let mut x = Xml::doc("Tagging");
    x.open("TagSet");
    for (k, v) in tags {
        x.open("Tag").elem("Key", k).elem("Value", v).close("Tag");
    }
    x.close("TagSet");
    x.finish("Tagging")
}

fn check_tags(tags: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    if tags.len() > MAX_TAGS {
        return Err(
            S3Error::bad("BadRequest", "Object tags cannot be greater than 10")
                .with("TagCount", tags.len().to_string()),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in &tags {
        // Tags are letters, digits, spaces and a few symbols: control characters (NUL among
        // them, which no XML reply could carry) are refused, never stored.
        if k.is_empty()
            || k.chars().count() > 128
            || v.chars().count() > 256
            || k.chars().chain(v.chars()).any(char::is_control)
        {
            return Err(S3Error::bad(
                "InvalidTag",
                "The TagKey or TagValue you have provided is invalid",
            ));
        }
        if !seen.insert(k) {
            return Err(S3Error::bad(
                "InvalidTag",
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(tags)
}

fn parse_tagging(doc: &[u8]) -> S3Result<Vec<(String, String)>> {
    let n = xml::parse(doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
    let set = n.child("TagSet").ok_or_else(|| {
        S3Error::bad(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    })?;
    check_tags(
        set.all("Tag")
            .map(|t| {
                (
                    t.raw_text_of("Key").unwrap_or("").to_string(),
                    t.raw_text_of("Value").unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

fn parse_tag_query(q: &str) -> S3Result<Vec<(String, String)>> {
    check_tags(routing::parse_query(Some(q))?)
}

/// The key of a bucket record (for tests and tools).
pub fn bucket_key(account: &str, bucket: &str) -> Key {
    keys::bucket(account, bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_764_388_800_123), "2025-11-29T04:00:00.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn addressing() {
        let route = |host: &'static str, path: &str| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static(host));
            let r = routing::route(&Method::GET, &h, path, &[]).unwrap();
            (r.bucket, r.key)
        };
        let local = "127.0.0.1:4566";
        assert_eq!(
            route(local, "/b/a%20b/c"),
            (Some("b".into()), Some("a b/c".into()))
        );
        assert_eq!(route(local, "/b"), (Some("b".into()), None));
        assert_eq!(route(local, "/b/"), (Some("b".into()), None));
        assert_eq!(route(local, "/"), (None, None));
        assert_eq!(
            route("mybucket.localhost:4566", "/k"),
            (Some("mybucket".into()), Some("k".into()))
        );
        assert_eq!(
            route("mybucket.s3.localhost.localstack.cloud", "/"),
            (Some("mybucket".into()), None)
        );
        assert_eq!(
            route("mybucket.s3.localhost.localstack.cloud", "/dir/"),
            (Some("mybucket".into()), Some("dir/".into()))
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-1000", 100).unwrap(), Some((50, 100)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=x-1", 100).is_err());
    }

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("my-bucket.1"));
        for bad in ["ab", "-ab", "ab-", "Ab", "a..b", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}

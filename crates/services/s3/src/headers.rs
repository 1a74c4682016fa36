//! Reading HTTP headers (an object's stored headers and metadata), and how an output
//! describes an object.

use serde_json::{Map, Value};
use snapstack_protocol::http::{HeaderMap, HeaderValue};

use crate::model::{Object, ObjectHeaders};
use crate::out::{put_checksums, ts};

pub(crate) fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

pub(crate) fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn object_headers(h: &HeaderMap) -> ObjectHeaders {
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

pub(crate) fn user_metadata(h: &HeaderMap) -> Vec<(String, String)> {
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

/// How an object's checksums were computed: over the whole object, or (uploaded in parts) a
/// checksum of the parts' checksums.
pub(crate) fn checksum_type(o: &Object) -> &'static str {
    if o.parts_count.is_some() {
        "COMPOSITE"
    } else {
        "FULL_OBJECT"
    }
}

/// How a GetObject or HeadObject output describes an object (the model's member names; the
/// codec puts them in their headers), with its checksums if `checksums`.
pub(crate) fn object_output(o: &Object, checksums: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("ETag", Value::String(o.etag.clone()));
    put("LastModified", ts(o.last_modified_ms));
    put("AcceptRanges", Value::from("bytes"));
    put(
        "ContentType",
        Value::from(
            o.headers
                .content_type
                .as_deref()
                .unwrap_or("binary/octet-stream"),
        ),
    );
    let optional = [
        ("ContentEncoding", &o.headers.content_encoding),
        ("ContentDisposition", &o.headers.content_disposition),
        ("ContentLanguage", &o.headers.content_language),
        ("CacheControl", &o.headers.cache_control),
        ("Expires", &o.headers.expires),
    ];
    for (name, v) in optional {
        if let Some(v) = v {
            put(name, Value::String(v.clone()));
        }
    }
    if !o.metadata.is_empty() {
        let meta: Map<String, Value> = o
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        put("Metadata", Value::Object(meta));
    }
    if let Some(id) = &o.version_id {
        put("VersionId", Value::String(id.clone()));
    }
    if !o.tags.is_empty() {
        put("TagCount", Value::from(o.tags.len()));
    }
    if let Some(n) = o.parts_count {
        put("PartsCount", Value::from(n));
    }
    if checksums && !o.checksums.is_empty() {
        put_checksums(&mut out, &o.checksums);
        out.insert("ChecksumType".into(), Value::from(checksum_type(o)));
    }
    out
}

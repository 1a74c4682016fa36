//! Reading and writing HTTP headers: an object's stored headers and metadata, and how a
//! response describes an object.

use snapstack_protocol::http::{HeaderMap, HeaderValue};

use crate::model::{Object, ObjectHeaders};
use crate::time::http_date;

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

pub(crate) fn header_static(alg: &str) -> &'static str {
    match alg {
        "CRC32" => "x-amz-checksum-crc32",
        "CRC32C" => "x-amz-checksum-crc32c",
        "SHA1" => "x-amz-checksum-sha1",
        _ => "x-amz-checksum-sha256",
    }
}

pub(crate) fn describe_object(h: &mut HeaderMap, o: &Object, checksums: bool) {
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

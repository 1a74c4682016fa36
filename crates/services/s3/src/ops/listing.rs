//! Listings: ListObjects (v1 and v2) and ListObjectVersions, with `encoding-type`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use snapstack_protocol::response::Response;

use crate::body;
use crate::model::{Object, S3Record, keys};
use crate::out::{owner, reply, ts};
use crate::{Req, S3, S3Error, S3Result};

/// Characters S3 percent-encodes with `encoding-type=url` (everything but unreserved and `/`).
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The `encoding-type` of a listing: with `url`, every key-bearing field is percent-encoded, so
/// keys with characters that XML cannot carry list safely.
pub(crate) fn key_encoding(r: &Req<'_>) -> S3Result<(bool, impl Fn(&str) -> String + use<>)> {
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

impl S3 {
    pub(crate) fn list_objects(&self, r: &Req<'_>) -> S3Result<Response> {
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
        let fetch_owner = !v2 || r.q("fetch-owner") == Some("true");
        let contents: Vec<Value> = contents
            .iter()
            .map(|o| {
                let mut c = json!({
                    "Key": enc(&o.key),
                    "LastModified": ts(o.last_modified_ms),
                    "ETag": o.etag,
                    "Size": o.size,
                    "StorageClass": "STANDARD",
                });
                if !o.checksums.is_empty() {
                    c["ChecksumAlgorithm"] =
                        o.checksums.iter().map(|(alg, _)| json!(alg)).collect();
                }
                if fetch_owner {
                    c["Owner"] = owner(r.account());
                }
                c
            })
            .collect();
        let prefixes: Vec<Value> = prefixes.iter().map(|p| json!({"Prefix": enc(p)})).collect();
        let mut out = Map::new();
        let mut put = |k: &str, v: Value| {
            out.insert(k.to_string(), v);
        };
        put("Name", json!(r.bucket()));
        put("Prefix", json!(enc(&prefix)));
        if v2 {
            put("KeyCount", json!(contents.len() + prefixes.len()));
            if let Some(t) = token {
                put("ContinuationToken", json!(t));
            }
            if let Some(s) = r.q("start-after") {
                put("StartAfter", json!(enc(s)));
            }
        } else {
            put("Marker", json!(enc(r.q("marker").unwrap_or(""))));
        }
        put("MaxKeys", json!(max_keys));
        if let Some(d) = &delimiter {
            put("Delimiter", json!(enc(d)));
        }
        if url {
            put("EncodingType", json!("url"));
        }
        put("IsTruncated", json!(truncated));
        if truncated && let Some(last) = &last_seen {
            if v2 {
                put(
                    "NextContinuationToken",
                    json!(body::base64(last.as_bytes())),
                );
            } else if delimiter.is_some() {
                put("NextMarker", json!(enc(last)));
            }
        }
        put("Contents", Value::Array(contents));
        put("CommonPrefixes", Value::Array(prefixes));
        reply(r.operation, &Value::Object(out))
    }

    pub(crate) fn list_versions(&self, r: &Req<'_>) -> S3Result<Response> {
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
        let mut out = json!({
            "Name": r.bucket(),
            "Prefix": enc(prefix),
            "KeyMarker": enc(key_marker),
            "VersionIdMarker": vid_marker.unwrap_or(""),
            "MaxKeys": max_keys,
            "IsTruncated": truncated,
        });
        if url {
            out["EncodingType"] = json!("url");
        }
        if truncated && let Some((last, _)) = all.last() {
            out["NextKeyMarker"] = json!(enc(&last.key));
            out["NextVersionIdMarker"] = json!(last.version_id.as_deref().unwrap_or("null"));
        }
        let (mut versions, mut markers) = (Vec::new(), Vec::new());
        for (o, latest) in &all {
            let mut v = json!({
                "Key": enc(&o.key),
                "VersionId": o.version_id.as_deref().unwrap_or("null"),
                "IsLatest": latest,
                "LastModified": ts(o.last_modified_ms),
                "Owner": owner(r.account()),
            });
            if o.delete_marker {
                markers.push(v);
            } else {
                v["ETag"] = json!(o.etag);
                v["Size"] = json!(o.size);
                v["StorageClass"] = json!("STANDARD");
                versions.push(v);
            }
        }
        out["Versions"] = Value::Array(versions);
        out["DeleteMarkers"] = Value::Array(markers);
        reply(r.operation, &out)
    }
}

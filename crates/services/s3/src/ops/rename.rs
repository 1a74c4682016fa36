//! RenameObject: an atomic rename within a bucket, without moving data (the record and the
//! object's settings move; the blob it names stays). AWS offers it on directory buckets (S3 Express One Zone), which have no
//! versioning; here it works on any bucket whose versioning was never turned on, and is refused
//! on the others, where a rename would have to invent a version history S3 never defined.
//! Everything about the object is kept: metadata, tags, checksums, ETag, last-modified date.

use serde_json::json;
use snapstack_protocol::response::Response;
use std::time::UNIX_EPOCH;

use crate::model::{Object, S3Record, keys};
use crate::out::reply;
use crate::{Req, S3, S3Error, S3Result, routing};

/// Conditions on one side of a rename: `(if-match, if-none-match, if-modified-since,
/// if-unmodified-since)` header names.
type Conditions = [&'static str; 4];

const SOURCE: Conditions = [
    "x-amz-rename-source-if-match",
    "x-amz-rename-source-if-none-match",
    "x-amz-rename-source-if-modified-since",
    "x-amz-rename-source-if-unmodified-since",
];
const DESTINATION: Conditions = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

/// S3's conditional-request checks of `names` against `o` (`None`: no object there).
fn check(r: &Req<'_>, names: Conditions, o: Option<&Object>) -> S3Result<()> {
    let [if_match, if_none, since, unmodified] = names;
    let date = |name: &str| {
        r.h(name)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    let etag_in = |list: &str, o: &Object| {
        list.split(',')
            .any(|e| e.trim() == "*" || e.trim().trim_matches('"') == o.etag.trim_matches('"'))
    };
    if let Some(list) = r.h(if_match) {
        match o {
            Some(o) if etag_in(list, o) => {}
            _ => return Err(S3Error::precondition(if_match)),
        }
    }
    if let Some(list) = r.h(if_none)
        && let Some(o) = o
        && (list.trim() == "*" || etag_in(list, o))
    {
        return Err(S3Error::precondition(if_none));
    }
    if let Some(o) = o {
        let modified = o.last_modified_ms / 1000;
        if date(since).is_some_and(|t| modified <= t) {
            return Err(S3Error::precondition(since));
        }
        if date(unmodified).is_some_and(|t| modified > t) {
            return Err(S3Error::precondition(unmodified));
        }
    }
    Ok(())
}

impl S3 {
    pub(crate) fn rename_object(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let raw = r.h("x-amz-rename-source").unwrap_or("");
        let decoded = routing::decode_strict(raw)?;
        let source = decoded.trim_start_matches('/');
        let (bucket, from) = source
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                S3Error::invalid_argument("Invalid rename source: it must be bucket/key")
                    .with("ArgumentName", "x-amz-rename-source")
                    .with("ArgumentValue", raw)
            })?;
        if bucket != r.bucket() {
            return Err(S3Error::bad(
                "InvalidRequest",
                "The rename source must be in the same bucket as the destination.",
            ));
        }
        let to = r.key();
        if from.ends_with('/') || to.ends_with('/') {
            return Err(S3Error::bad(
                "InvalidRequest",
                "RenameObject does not rename objects whose names end with a slash.",
            ));
        }
        let meta = self.bucket_meta(r)?;
        if meta.versioning.is_some() {
            return Err(S3Error::bad(
                "InvalidRequest",
                "RenameObject is not supported on buckets that have had versioning enabled.",
            ));
        }
        let acct = r.account();
        let (from_key, to_key) = (
            keys::object(acct, bucket, from),
            keys::object(acct, bucket, to),
        );
        let (res, v) = self.store.write(|t| {
            let src = match t.get(&from_key) {
                Some(S3Record::Object(o)) if !o.delete_marker => o.clone(),
                _ => return Err(S3Error::no_such_key(from)),
            };
            check(r, SOURCE, Some(&src))?;
            let dst = match t.get(&to_key) {
                Some(S3Record::Object(o)) if !o.delete_marker => Some(o.clone()),
                _ => None,
            };
            check(r, DESTINATION, dst.as_ref())?;
            if from == to {
                return Ok(());
            }
            t.remove(&from_key);
            // The object's settings (ACL; retention and legal holds cannot occur, since object
            // lock needs versioning) move with it; the replaced object's go.
            let stale: Vec<_> = t
                .scan_prefix(&keys::object_configs_of(acct, bucket, to, "null"))
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                t.remove(&k);
            }
            let settings: Vec<_> = t
                .scan_prefix(&keys::object_configs_of(acct, bucket, from, "null"))
                .map(|(k, rec)| (k.clone(), rec.clone()))
                .collect();
            for (k, rec) in settings {
                t.remove(&k);
                if let S3Record::Config(c) = &rec {
                    t.insert(
                        keys::object_config(acct, bucket, to, "null", &c.kind),
                        rec.clone(),
                    );
                }
            }
            t.insert(
                to_key.clone(),
                S3Record::Object(Object {
                    key: to.to_string(),
                    ..src
                }),
            );
            Ok(())
        });
        res?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }
}

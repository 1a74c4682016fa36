//! Deletes: DeleteObject and DeleteObjects (a key, one version of it, or a delete marker).

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::response::Response;

use crate::model::{Bucket, Object, ObjectHeaders, S3Record, keys};
use crate::ops::object::retire_current;
use crate::out::reply;
use crate::subres::{malformed, read_input};
use crate::time::now_ms;
use crate::{Req, S3, S3Result};

impl S3 {
    pub(crate) fn delete_object(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        self.check_delete(r, &bucket.name, r.key(), r.q("versionId"))?;
        let (marker, version, v) =
            self.delete_one(r.account(), &bucket, r.key(), r.q("versionId"))?;
        let mut out = json!({});
        if let Some(id) = version {
            out["VersionId"] = json!(id);
        }
        if marker {
            out["DeleteMarker"] = json!(true);
        }
        Ok((reply(r.operation, &out)?, v))
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
                            sealed: None,
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

    /// Whether a key has a version (an object or a delete marker) with this id.
    fn version_exists(&self, acct: &str, bucket: &str, key: &str, vid: &str) -> bool {
        let snap = self.store.snapshot();
        let is = |rec: &S3Record| matches!(rec, S3Record::Object(o) if o.version_id.as_deref().unwrap_or("null") == vid);
        snap.get(&keys::object(acct, bucket, key)).is_some_and(is)
            || snap
                .scan_prefix(&keys::versions_of(acct, bucket, key))
                .any(|(_, rec)| is(rec))
    }

    pub(crate) fn delete_objects(
        &self,
        r: &Req<'_>,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let input = read_input(r, &doc)?;
        let delete = input.get("Delete").ok_or_else(malformed)?;
        let quiet = delete.get("Quiet") == Some(&Value::Bool(true));
        let objects: &[Value] = delete
            .get("Objects")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        if objects.len() > 1000 {
            return Err(malformed());
        }
        let (mut done, mut errors) = (Vec::new(), Vec::new());
        let mut last = None;
        for o in objects {
            // Keys are bytes: never trimmed (`' lead'` is not `'lead'`).
            let key = o
                .get("Key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let vid = o
                .get("VersionId")
                .and_then(Value::as_str)
                .map(|v| v.trim().to_string());
            // A version that does not exist is an error of its own, never reported deleted.
            if let Some(v) = &vid
                && !self.version_exists(r.account(), &bucket.name, &key, v)
            {
                errors.push(json!({
                    "Key": key,
                    "VersionId": v,
                    "Code": "NoSuchVersion",
                    "Message": "The specified version does not exist.",
                }));
                continue;
            }
            let deleted = self
                .check_delete(r, &bucket.name, &key, vid.as_deref())
                .and_then(|()| self.delete_one(r.account(), &bucket, &key, vid.as_deref()));
            match deleted {
                Ok((marker, version, v)) => {
                    last = v.or(last);
                    if !quiet {
                        let mut d = json!({"Key": key});
                        if let Some(vid) = &vid {
                            d["VersionId"] = json!(vid);
                        }
                        if marker {
                            d["DeleteMarker"] = json!(true);
                            if let Some(id) = &version {
                                d["DeleteMarkerVersionId"] = json!(id);
                            }
                        }
                        done.push(d);
                    }
                }
                Err(e) => errors.push(json!({"Key": key, "Code": e.code, "Message": e.message})),
            }
        }
        let out = json!({"Deleted": done, "Errors": errors});
        Ok((reply(r.operation, &out)?, last))
    }
}

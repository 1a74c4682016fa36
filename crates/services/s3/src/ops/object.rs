//! Objects: put (streaming bodies into blobs), get and head (conditional requests, ranges, part
//! numbers), copy, and the versioned write every new current version goes through.

use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use http_body_util::BodyExt;
use snapstack_engine::{BlobId, Key};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::http::{Method, StatusCode};
use snapstack_protocol::response::Response;

use crate::body::{self, ChunkedDecoder, Digests};
use serde_json::{Map, Value, json};

use crate::encryption::{put_encryption, sse_s3};
use crate::headers::{object_headers, object_output, user_metadata};
use crate::model::{Bucket, Object, S3Record, keys};
use crate::model::{Sealed, WrappedKey};
use crate::ops::tagging::parse_tag_query;
use crate::out::{put_checksums, reply, reply_streaming, ts};
use crate::plain::{PlainBody, Sink};
use crate::seal::{DataKey, Run, SEGMENT};
use crate::sse_c;
use crate::time::now_ms;
use crate::{
    INLINE_BODY, MAX_PART_NUMBER, NAME, Req, S3, S3Error, S3Result, blocking, durability, routing,
};

/// A request body as stored: its blob, plaintext size and digests, and its run when sealed.
pub(crate) struct StoredBody {
    pub blob: BlobId,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Vec<(String, String)>,
    pub run: Option<Run>,
}

impl S3 {
    /// Stream a request body into a blob, decoding `aws-chunked` and computing digests (over the
    /// plaintext), sealed with `key` (`None`: as sent, for parts of uploads begun before bodies
    /// were sealed).
    pub(crate) async fn store_body(
        &self,
        r: &Req<'_>,
        body: Body,
        key: Option<&DataKey>,
    ) -> S3Result<StoredBody> {
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
        // With enforcement on, the seed signature was verified and each chunk's must be too.
        let mut decoder = chunked.then(|| match &r.chunk_signing {
            Some(v) => ChunkedDecoder::with_signing(crate::chunksig::ChunkSigning::new(
                v.clone(),
                r.h("x-amz-content-sha256")
                    == Some(snapstack_policy::sigv4::STREAMING_PAYLOAD_TRAILER),
            )),
            None => ChunkedDecoder::new(),
        });
        // After a full disk, give back the memory of refused uploads before this one is judged
        // against the bound on unsaved data.
        self.engine.relieve();
        let mut writer = Sink::new(&self.engine, key);
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
                Some(d) => {
                    let fed = d.feed(&data, &mut |b| pending.extend_from_slice(b));
                    fed.map_err(|e| {
                        if d.signature_failed() {
                            crate::chunksig::mismatch()
                        } else {
                            S3Error::bad("InvalidRequest", e)
                        }
                    })?
                }
                None => pending.extend_from_slice(&data),
            }
            if pending.len() >= 1 << 20 {
                digests.update(&pending);
                blocking(|| writer.write(&pending)).map_err(durability::blob_error)?;
                pending.clear();
            }
        }
        digests.update(&pending);
        let last = || {
            writer.write(&pending)?;
            writer.finish()
        };
        // A body that never reached the 1 MiB step above and is small is finished in place.
        let small = digests.bytes_seen() <= INLINE_BODY;
        let (blob, run) =
            if small { last() } else { blocking(last) }.map_err(durability::blob_error)?;
        let size = digests.bytes_seen();
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
        if let Some(sent) = r.h("content-md5") {
            // Not the base64 of 16 bytes: S3's InvalidDigest; another digest: BadDigest (both
            // 400s, which SDKs do not retry).
            match body::unbase64(sent.trim()) {
                Some(d) if d.len() == 16 => {
                    if d[..] != md5[..] {
                        return Err(S3Error::bad(
                            "BadDigest",
                            "The Content-MD5 you specified did not match what we received.",
                        )
                        .with("ExpectedDigest", sent)
                        .with("CalculatedDigest", body::base64(&md5)));
                    }
                }
                _ => {
                    return Err(S3Error::bad(
                        "InvalidDigest",
                        "The Content-MD5 you specified was invalid.",
                    )
                    .with("Content-MD5", sent));
                }
            }
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
        Ok(StoredBody {
            blob,
            size,
            md5,
            checksums: sums,
            run,
        })
    }

    pub(crate) async fn put_object(
        &self,
        r: &Req<'_>,
        body: Body,
    ) -> S3Result<(Response, Option<u64>)> {
        crate::validation::check_object_write(r)?;
        let bucket = self.bucket_meta(r)?;
        let tags = match r.h("x-amz-tagging") {
            Some(t) => parse_tag_query(t)?,
            None => Vec::new(),
        };
        let sse = self.write_encryption(r, &bucket.name).await?;
        let customer = sse_c::presented_key(r, sse_c::Target::Object)?;
        let plan = self.plan(sse.as_ref(), customer.as_ref(), &bucket.name, r.key())?;
        let (data, wrapped) = self
            .new_data_key(r, &bucket.region, &bucket.name, &plan)
            .await?;
        let stored = self.store_body(r, body, Some(&DataKey::new(&data))).await?;
        let (md5, checksums) = (stored.md5, stored.checksums);
        let etag = format!("\"{}\"", body::hex(&md5));
        let obj = Object {
            key: r.key().to_string(),
            version_id: None,
            delete_marker: false,
            blob: Some(stored.blob),
            size: stored.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            headers: object_headers(r.headers),
            metadata: user_metadata(r.headers),
            tags,
            checksums: checksums.clone(),
            parts_count: None,
            sealed: sealed(wrapped, stored.run.into_iter().collect()),
        };
        let (version_id, v, undo) = self.write_object_undoable(r, &bucket, obj)?;
        let written = undo.written.clone();
        // Rolled back if it cannot be made durable (see `durability`).
        durability::offer(undo);
        let v = self
            .lock_new_object(r, &bucket.name, &written)?
            .map_or(v, |l| l.max(v));
        let v = self
            .record_encryption(r, &bucket.name, &written, sse.as_ref())?
            .map_or(v, |e| e.max(v));
        let mut out = Map::new();
        out.insert("ETag".into(), Value::String(etag));
        put_encryption(&mut out, sse.as_ref().unwrap_or(&sse_s3()));
        if let Some(id) = version_id {
            out.insert("VersionId".into(), Value::String(id));
        }
        if !checksums.is_empty() {
            put_checksums(&mut out, &checksums);
            out.insert("ChecksumType".into(), Value::from("FULL_OBJECT"));
        }
        Ok((reply(r.operation, &Value::Object(out))?, Some(v)))
    }

    /// Store an object as the current version, keeping the old one when versioning is on.
    pub(crate) fn write_object(
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

    pub(crate) fn find_object(
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

    pub(crate) async fn get_object(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.find_object(r, r.bucket(), r.key(), r.q("versionId"))?;
        let sse = self.encryption_of(r.account(), r.bucket(), &o);
        sse_c::check_read(r, sse_c::Target::Object, &sse)?;
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
        // 304: the validators only, no body.
        let not_modified = || -> S3Result<Response> {
            let out = json!({"ETag": o.etag, "LastModified": ts(o.last_modified_ms)});
            let mut resp = reply(r.operation, &out)?;
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            Ok(resp)
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
                return not_modified();
            }
        } else if let Some(t) = since("if-modified-since")
            && modified_secs <= t
        {
            return not_modified();
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
        // HEAD too: a damaged index is a 500 before any byte, not a 200 whose GET fails. A
        // GET of a sealed body unwraps its data key first (KMS `Decrypt` for SSE-KMS).
        let what = format!("object {}/{}", r.bucket(), r.key());
        let damaged = |e: snapstack_engine::Error| {
            self.engine.damaged_read(NAME, &what, &e);
            S3Error::internal(format!("The object's stored body is damaged: {e}"))
        };
        let opened = match o.blob {
            Some(blob) if head => {
                self.engine.open_blob(&blob).map_err(damaged)?;
                None
            }
            Some(blob) => {
                let key = self
                    .opener(r, o.sealed.as_deref(), sse_c::Target::Object)
                    .await?;
                let body = PlainBody::open(&self.engine, &blob, o.size, o.sealed.as_deref(), key);
                Some(body.map_err(damaged)?)
            }
            None => None,
        };
        // A checksum covers the whole object: S3 returns none for a range.
        let whole = status == StatusCode::OK;
        let mut out = object_output(&o, whole && r.h("x-amz-checksum-mode") == Some("ENABLED"));
        put_encryption(&mut out, &sse);
        out.insert("ContentLength".into(), Value::from(end - start));
        if status == StatusCode::PARTIAL_CONTENT {
            out.insert(
                "ContentRange".into(),
                Value::String(format!("bytes {start}-{}/{}", end - 1, o.size)),
            );
        }
        let out = Value::Object(out);
        let mut resp = if head || start == end {
            reply_streaming(r.operation, &out, Body::empty())?
        } else if end - start <= INLINE_BODY {
            // Small: read in place, and a damaged piece is a 500 before any byte is sent.
            let opened = opened.ok_or_else(|| S3Error::internal("an object without a body"))?;
            let mut data = Vec::with_capacity((end - start) as usize);
            for piece in opened.read_range(start, end) {
                let piece = piece.map_err(|e| {
                    self.engine.damaged_read(NAME, &what, &e);
                    S3Error::internal(format!("The object's stored body is damaged: {e}"))
                })?;
                data.extend_from_slice(&piece);
            }
            reply_streaming(r.operation, &out, Body::from(data))?
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
            reply_streaming(r.operation, &out, Body::from_stream(stream))?
        };
        *resp.status_mut() = status;
        Ok(resp)
    }

    /// The body of a copy of `src` encrypted as `sse` asks: the same stored body with its data
    /// key re-wrapped, or, for a body stored as sent, sealed now.
    async fn copy_body(
        &self,
        r: &Req<'_>,
        bucket: &Bucket,
        sse: Option<&Value>,
        src: &Object,
    ) -> S3Result<(Option<BlobId>, Option<Box<Sealed>>)> {
        let Some(src_blob) = src.blob else {
            return Ok((None, None));
        };
        let customer = sse_c::presented_key(r, sse_c::Target::Object)?;
        let plan = self.plan(sse, customer.as_ref(), &bucket.name, r.key())?;
        if let Some(s) = &src.sealed {
            let src_customer = sse_c::presented_key(r, sse_c::Target::CopySource)?;
            let data = self.unwrap_key(r, &s.key, src_customer.as_ref()).await?;
            let key = self
                .wrap_key(r, &bucket.region, &bucket.name, &plan, &data)
                .await?;
            let mut s = s.as_ref().clone();
            s.key = key;
            return Ok((Some(src_blob), Some(Box::new(s))));
        }
        let (data, wrapped) = self
            .new_data_key(r, &bucket.region, &bucket.name, &plan)
            .await?;
        let (blob, run) = self.seal_copy(src, 0, src.size, &DataKey::new(&data), None)?;
        Ok((Some(blob), sealed(wrapped, vec![run])))
    }

    /// Seal `start..end` of `src`'s plaintext (stored as sent, or opened with `src_key`) into a
    /// new blob with `key`, hashing it into `digests` as it goes.
    pub(crate) fn seal_copy(
        &self,
        src: &Object,
        start: u64,
        end: u64,
        key: &DataKey,
        src_key: Option<DataKey>,
    ) -> S3Result<(BlobId, Run)> {
        self.seal_copy_hashing(src, start, end, key, src_key, &mut Digests::new(&[]))
    }

    pub(crate) fn seal_copy_hashing(
        &self,
        src: &Object,
        start: u64,
        end: u64,
        key: &DataKey,
        src_key: Option<DataKey>,
        digests: &mut Digests,
    ) -> S3Result<(BlobId, Run)> {
        let src_blob = src
            .blob
            .ok_or_else(|| S3Error::internal("an object without a body"))?;
        let what = format!("object {}", src.key);
        let engine = self.engine.clone();
        blocking(|| {
            let body =
                PlainBody::open(&engine, &src_blob, src.size, src.sealed.as_deref(), src_key)?;
            crate::plain::seal_into(&engine, key, body.read_range(start, end), |b| {
                digests.update(b)
            })
        })
        .map_err(|e| {
            if matches!(e, snapstack_engine::Error::Corrupt { .. }) {
                self.engine.damaged_read(NAME, &what, &e);
            }
            durability::blob_error(e)
        })
    }

    pub(crate) fn copy_source(&self, r: &Req<'_>) -> S3Result<Object> {
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
        let sse = self.encryption_of(r.account(), bucket, &o);
        sse_c::check_read(r, sse_c::Target::CopySource, &sse)?;
        copy_source_conditions(r, &o)?;
        Ok(o)
    }

    pub(crate) async fn copy_object(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        crate::validation::check_object_write(r)?;
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
        let sse = self.write_encryption(r, &bucket.name).await?;
        let (blob, sealed) = self.copy_body(r, &bucket, sse.as_ref(), &src).await?;
        let obj = Object {
            key: r.key().to_string(),
            version_id: None,
            delete_marker: false,
            blob,
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
            sealed,
        };
        let last_modified = obj.last_modified_ms;
        let mut written = obj.clone();
        let (version_id, v) = self.write_object(r, &bucket, obj)?;
        written.version_id = version_id.clone();
        let v = self
            .record_encryption(r, &bucket.name, &written, sse.as_ref())?
            .map_or(v, |e| e.max(v));
        let mut result = Map::new();
        result.insert("LastModified".into(), ts(last_modified));
        result.insert("ETag".into(), Value::String(src.etag.clone()));
        put_checksums(&mut result, &src.checksums);
        let mut out = Map::new();
        out.insert("CopyObjectResult".into(), Value::Object(result));
        if let Some(id) = version_id {
            out.insert("VersionId".into(), Value::String(id));
        }
        if let Some(id) = &src.version_id {
            out.insert("CopySourceVersionId".into(), Value::String(id.clone()));
        }
        put_encryption(&mut out, sse.as_ref().unwrap_or(&sse_s3()));
        let resp = reply(r.operation, &Value::Object(out))?;
        Ok((resp, Some(v)))
    }
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
pub(crate) fn retire_current(
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

/// The bytes of part `n` of an object (GetObject/HeadObject with `partNumber`). An object not
/// uploaded in parts is one part. A sealed multipart object keeps its part boundaries (its runs);
/// one completed before bodies were sealed does not, so asking for one of its parts answers 501
/// rather than wrong bytes.
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
        // A sealed multipart body keeps one run per part: its part boundaries.
        Some(count) => match &o.sealed {
            Some(s) if s.runs.len() == count as usize => {
                let start: u64 = s.runs[..n as usize - 1].iter().map(|r| r.plain).sum();
                Ok(Some((start, start + s.runs[n as usize - 1].plain)))
            }
            _ => Err(S3Error::new(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "GetObject with partNumber on an object uploaded in parts before bodies were sealed is not implemented by this emulator (its part boundaries are not recorded)",
            )),
        },
    }
}

/// A body's encryption at rest, for a record.
pub(crate) fn sealed(key: WrappedKey, runs: Vec<Run>) -> Option<Box<Sealed>> {
    Some(Box::new(Sealed {
        scheme: 1,
        segment: SEGMENT,
        key,
        runs,
    }))
}

pub(crate) fn parse_range(h: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-1000", 100).unwrap(), Some((50, 100)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=x-1", 100).is_err());
    }
}

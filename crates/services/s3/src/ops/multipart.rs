//! Multipart uploads: create, upload part (and part copy), complete, abort, list parts, list uploads.

use serde_json::{Map, Value, json};
use snapstack_engine::{BlobId, Txn};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::response::Response;

use crate::body::{self, Digests};
use crate::encryption::{put_encryption, sse_s3};
use crate::headers::{object_headers, user_metadata};
use crate::model::{
    BucketConfig, Object, Part, S3Record, SealKey, Sealed, Upload, WrappedKey, keys,
};
use crate::ops::listing::key_encoding;
use crate::ops::object::parse_range;
use crate::ops::object::sealed;
use crate::ops::tagging::parse_tag_query;
use crate::out::{put_checksums, reply, ts};
use crate::plain::PlainBody;
use crate::seal::DataKey;
use crate::sse_c;
use crate::subres::{malformed, read_input};
use crate::time::now_ms;
use crate::{MAX_PART_NUMBER, MIN_PART_SIZE, Req, S3, S3Error, S3Result, blocking, durability};

/// The kind of the `Config` record that keeps an upload's encryption (key
/// `account · "s3" · "c" · bucket · "uploadEncryption" · upload id`, document: the encryption's
/// output members as JSON), from CreateMultipartUpload to its completion or abort.
pub(crate) const UPLOAD_ENCRYPTION: &str = "uploadEncryption";

/// Remove an upload, its parts and its encryption (inside a write).
pub(crate) fn remove_upload(t: &mut Txn<'_, S3Record>, acct: &str, upload: &Upload) {
    t.remove_prefix(&keys::parts(acct, &upload.upload_id));
    t.remove(&keys::upload(acct, &upload.bucket, &upload.upload_id));
    t.remove(&keys::config_item(
        acct,
        &upload.bucket,
        UPLOAD_ENCRYPTION,
        &upload.upload_id,
    ));
}

impl S3 {
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

    /// The encryption an upload was created with (kept until it completes or is aborted);
    /// `None`: SSE-S3.
    pub(crate) fn upload_encryption(&self, acct: &str, upload: &Upload) -> Option<Value> {
        let key = keys::config_item(acct, &upload.bucket, UPLOAD_ENCRYPTION, &upload.upload_id);
        match self.store.snapshot().get(&key) {
            Some(S3Record::Config(c)) => serde_json::from_str(&c.document).ok(),
            _ => None,
        }
    }

    /// The data key an upload's parts are sealed with (and how it is kept); `None` for an
    /// upload begun before bodies were sealed, whose parts are stored as sent.
    async fn upload_data_key(
        &self,
        r: &Req<'_>,
        upload: &Upload,
    ) -> S3Result<Option<(DataKey, WrappedKey)>> {
        let wrapped = match self
            .store
            .snapshot()
            .get(&keys::upload_key(r.account(), &upload.upload_id))
        {
            Some(S3Record::Key(SealKey::Upload(w))) => w.clone(),
            _ => return Ok(None),
        };
        let customer = sse_c::presented_key(r, sse_c::Target::Object)?;
        let data = self.unwrap_key(r, &wrapped, customer.as_ref()).await?;
        Ok(Some((DataKey::new(&data), wrapped)))
    }

    pub(crate) async fn create_upload(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        crate::validation::check_object_write(r)?;
        let bucket = self.bucket_meta(r)?;
        let sse = self.write_encryption(r, &bucket.name).await?;
        let customer = sse_c::presented_key(r, sse_c::Target::Object)?;
        let plan = self.plan(sse.as_ref(), customer.as_ref(), &bucket.name, r.key())?;
        // The data key every part is sealed with, kept wrapped as the object's will be.
        let (_, wrapped) = self
            .new_data_key(r, &bucket.region, &bucket.name, &plan)
            .await?;
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
        let sse_key = keys::config_item(r.account(), r.bucket(), UPLOAD_ENCRYPTION, &upload_id);
        let data_key = keys::upload_key(r.account(), &upload_id);
        let ((), v) = self.store.write(|t| {
            t.insert(key, S3Record::Upload(upload.clone()));
            t.insert(data_key, S3Record::Key(SealKey::Upload(wrapped)));
            if let Some(sse) = &sse {
                t.insert(
                    sse_key,
                    S3Record::Config(BucketConfig {
                        kind: UPLOAD_ENCRYPTION.to_string(),
                        document: sse.to_string(),
                    }),
                );
            }
        });
        let mut out = Map::new();
        out.insert("Bucket".into(), json!(r.bucket()));
        out.insert("Key".into(), json!(r.key()));
        out.insert("UploadId".into(), json!(upload_id));
        if let Some(a) = &upload.checksum_algorithm {
            out.insert("ChecksumAlgorithm".into(), json!(a));
        }
        put_encryption(&mut out, sse.as_ref().unwrap_or(&sse_s3()));
        Ok((reply(r.operation, &Value::Object(out))?, Some(v)))
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

    pub(crate) async fn upload_part(
        &self,
        r: &Req<'_>,
        body: Body,
    ) -> S3Result<(Response, Option<u64>)> {
        let number = Self::part_number(r)?;
        let upload = self.upload_meta(r)?;
        let sse = self.upload_encryption(r.account(), &upload);
        sse_c::check_part(r, sse.as_ref())?;
        let key = self.upload_data_key(r, &upload).await?;
        let stored = self
            .store_body(r, body, key.as_ref().map(|(k, _)| k))
            .await?;
        let (md5, checksums) = (stored.md5, stored.checksums);
        let etag = format!("\"{}\"", body::hex(&md5));
        let part = Part {
            number,
            blob: stored.blob,
            size: stored.size,
            etag: etag.clone(),
            md5: md5.to_vec(),
            last_modified_ms: now_ms(),
            checksums: checksums.clone(),
            sealed: key.and_then(|(_, w)| sealed(w, stored.run.into_iter().collect())),
        };
        let v = self.save_part(r, &upload, part)?;
        let mut out = Map::new();
        out.insert("ETag".into(), Value::String(etag));
        put_checksums(&mut out, &checksums);
        put_encryption(&mut out, sse.as_ref().unwrap_or(&sse_s3()));
        Ok((reply(r.operation, &Value::Object(out))?, Some(v)))
    }

    pub(crate) async fn upload_part_copy(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let number = Self::part_number(r)?;
        let upload = self.upload_meta(r)?;
        let sse = self.upload_encryption(r.account(), &upload);
        sse_c::check_part(r, sse.as_ref())?;
        let src = self.copy_source(r)?;
        let (start, end) = match r.h("x-amz-copy-source-range") {
            Some(h) => parse_range(h, src.size)?.unwrap_or((0, src.size)),
            None => (0, src.size),
        };
        let src_key = self
            .opener(r, src.sealed.as_deref(), sse_c::Target::CopySource)
            .await?;
        let mut d = Digests::new(&[]);
        let (blob, size, run, wrapped) = match self.upload_data_key(r, &upload).await? {
            Some((key, wrapped)) => {
                let (blob, run) =
                    self.seal_copy_hashing(&src, start, end, &key, src_key, &mut d)?;
                (blob, end - start, Some(run), Some(wrapped))
            }
            None => {
                // An upload begun before bodies were sealed: its parts are stored as sent.
                let src_blob = src
                    .blob
                    .ok_or_else(|| S3Error::internal("an object without a body"))?;
                let engine = self.engine.clone();
                let blob = blocking(|| -> snapstack_engine::Result<BlobId> {
                    let body = PlainBody::open(
                        &engine,
                        &src_blob,
                        src.size,
                        src.sealed.as_deref(),
                        src_key,
                    )?;
                    let mut w = engine.blob_writer();
                    for piece in body.read_range(start, end) {
                        let piece = piece?;
                        d.update(&piece);
                        w.write(&piece)?;
                    }
                    Ok(w.finish()?.0)
                })
                .map_err(durability::blob_error)?;
                (blob, end - start, None, None)
            }
        };
        let md5 = d.finish().0;
        let etag = format!("\"{}\"", body::hex(&md5));
        let now = now_ms();
        let part = Part {
            number,
            blob,
            size,
            etag: etag.clone(),
            md5: md5.to_vec(),
            last_modified_ms: now,
            checksums: Vec::new(),
            sealed: wrapped.and_then(|w| sealed(w, run.into_iter().collect())),
        };
        let v = self.save_part(r, &upload, part)?;
        let mut out = Map::new();
        out.insert(
            "CopyPartResult".into(),
            json!({"LastModified": ts(now), "ETag": etag}),
        );
        put_encryption(&mut out, sse.as_ref().unwrap_or(&sse_s3()));
        Ok((reply(r.operation, &Value::Object(out))?, Some(v)))
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

    pub(crate) fn complete_upload(
        &self,
        r: &Req<'_>,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let bucket = self.bucket_meta(r)?;
        let upload = self.upload_meta(r)?;
        let input = read_input(r, &doc)?;
        let listed: Vec<(u32, String)> = input
            .pointer("/MultipartUpload/Parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let num = p
                    .get("PartNumber")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
                let etag = p.get("ETag").and_then(Value::as_str).unwrap_or("");
                (num, etag.trim().trim_matches('"').to_string())
            })
            .collect();
        if listed.is_empty() {
            return Err(malformed());
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
        // Sealed parts keep one run each: the object's part boundaries. Parts of one upload are
        // all sealed with its data key, or (begun before bodies were sealed) all stored as sent.
        let sealed_obj = match chosen.first().and_then(|p| p.sealed.as_ref()) {
            Some(first) => {
                let mut runs = Vec::with_capacity(chosen.len());
                for p in &chosen {
                    match &p.sealed {
                        Some(s) if s.key == first.key && s.segment == first.segment => {
                            runs.extend(s.runs.iter().cloned())
                        }
                        _ => {
                            return Err(S3Error::internal(
                                "the parts of this upload are not sealed alike",
                            ));
                        }
                    }
                }
                Some(Box::new(Sealed {
                    runs,
                    ..first.as_ref().clone()
                }))
            }
            None if chosen.iter().any(|p| p.sealed.is_some()) => {
                return Err(S3Error::internal(
                    "the parts of this upload are not sealed alike",
                ));
            }
            None => None,
        };
        let size = chosen.iter().map(|p| p.size).sum();
        let obj = Object {
            key: upload.key.clone(),
            version_id: None,
            delete_marker: false,
            blob: Some(blob),
            size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            headers: upload.headers.clone(),
            metadata: upload.metadata.clone(),
            tags: upload.tags.clone(),
            checksums: Vec::new(),
            parts_count: Some(chosen.len() as u32),
            sealed: sealed_obj,
        };
        let sse = self.upload_encryption(r.account(), &upload);
        let mut written = obj.clone();
        let (version_id, _) = self.write_object(r, &bucket, obj)?;
        written.version_id = version_id.clone();
        // The object is encrypted as the upload asked when it was created, as a single PUT
        // with those headers would be.
        self.record_encryption(r, &bucket.name, &written, sse.as_ref())?;
        let acct = r.account().to_string();
        let ((), v) = self.store.write(|t| {
            remove_upload(t, &acct, &upload);
        });
        let mut out = json!({
            // Absolute, as S3 and LocalStack answer it.
            "Location": format!("{}{}", self.bucket_url(r.bucket()), upload.key),
            "Bucket": r.bucket(),
            "Key": upload.key,
            "ETag": etag,
        });
        if let Some(id) = version_id {
            out["VersionId"] = json!(id);
        }
        if let Value::Object(m) = &mut out {
            put_encryption(m, sse.as_ref().unwrap_or(&sse_s3()));
        }
        Ok((reply(r.operation, &out)?, Some(v)))
    }

    pub(crate) fn abort_upload(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let upload = self.upload_meta(r)?;
        let acct = r.account().to_string();
        let ((), v) = self.store.write(|t| {
            remove_upload(t, &acct, &upload);
        });
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn list_parts(&self, r: &Req<'_>) -> S3Result<Response> {
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
        let parts: Vec<Value> = shown
            .iter()
            .map(|p| {
                let mut part = Map::new();
                part.insert("PartNumber".into(), Value::from(p.number));
                part.insert("LastModified".into(), ts(p.last_modified_ms));
                part.insert("ETag".into(), Value::String(p.etag.clone()));
                part.insert("Size".into(), Value::from(p.size));
                put_checksums(&mut part, &p.checksums);
                Value::Object(part)
            })
            .collect();
        let out = json!({
            "Bucket": r.bucket(),
            "Key": upload.key,
            "UploadId": upload.upload_id,
            "PartNumberMarker": marker,
            "NextPartNumberMarker": shown.last().map_or(0, |p| p.number),
            "MaxParts": max,
            "IsTruncated": truncated,
            "StorageClass": "STANDARD",
            "Parts": parts,
        });
        reply(r.operation, &out)
    }

    pub(crate) fn list_uploads(&self, r: &Req<'_>) -> S3Result<Response> {
        self.bucket_meta(r)?;
        let prefix = r.q("prefix").unwrap_or("");
        let snap = self.store.snapshot();
        let (url, enc) = key_encoding(r)?;
        let mut uploads: Vec<Upload> = snap
            .scan_prefix(&keys::uploads(r.account(), r.bucket()))
            .filter_map(|(_, rec)| match rec {
                S3Record::Upload(u) if u.key.starts_with(prefix) => Some(u.clone()),
                _ => None,
            })
            .collect();
        uploads.sort_by(|a, b| (&a.key, a.initiated_ms).cmp(&(&b.key, b.initiated_ms)));
        let uploads: Vec<Value> = uploads
            .iter()
            .map(|u| {
                json!({
                    "Key": enc(&u.key),
                    "UploadId": u.upload_id,
                    "Initiated": ts(u.initiated_ms),
                    "StorageClass": "STANDARD",
                })
            })
            .collect();
        let mut out = json!({
            "Bucket": r.bucket(),
            "KeyMarker": "",
            "UploadIdMarker": "",
            "Prefix": enc(prefix),
            "MaxUploads": 1000,
            "IsTruncated": false,
            "Uploads": uploads,
        });
        if url {
            out["EncodingType"] = json!("url");
        }
        reply(r.operation, &out)
    }
}

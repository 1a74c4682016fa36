//! Server-side encryption of object versions. Every object S3 stores is encrypted: with SSE-S3
//! (`AES256`) by default, with SSE-KMS when the write asks for it (`x-amz-server-side-encryption`
//! headers, or the bucket's default encryption), and UpdateObjectEncryption changes a version's
//! encryption in place (same ETag, LastModified and body). A version that is not SSE-S3 keeps its
//! encryption as its `encryption` setting (`lock.rs`'s per-version settings, stamped with the
//! version's LastModified); none means SSE-S3. A customer key (SSE-C, `sse_c.rs`) is kept as
//! its MD5 the same way. GetObject, HeadObject, PutObject, CopyObject and the multipart
//! operations (from the upload's encryption, kept from CreateMultipartUpload) report it; SSE-KMS
//! without a key names the account's AWS managed key `aws/s3` by its key ARN, from KMS.

use serde_json::{Map, Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::response::Response;

use crate::model::{Object, S3Record, Sealed, keys};
use crate::out::{self, reply};
use crate::subres::read_input;
use crate::{Req, S3, S3Error, S3Result, sse_c};

pub(crate) const ENCRYPTION: &str = "encryption";

/// SSE-S3, what every version has unless it says otherwise.
pub(crate) fn sse_s3() -> Value {
    json!({"ServerSideEncryption": "AES256"})
}

/// Whether `arn` is a full KMS key ARN (`arn:aws[-a-z0-9]*:kms:[-a-z0-9]*:[0-9]{12}:key/.+`),
/// and its account.
fn kms_key_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_kw, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let part_ok = partition.strip_prefix("aws").is_some_and(|rest| {
        rest.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let region_ok = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok = arn_kw == "arn"
        && part_ok
        && service == "kms"
        && region_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("key/").is_some_and(|k| !k.is_empty());
    ok.then_some(account)
}

/// A KMS key named by id, alias or ARN, as the ARN S3 reports for it.
fn key_arn(r: &Req<'_>, key: &str) -> String {
    if key.starts_with("arn:") {
        key.to_string()
    } else {
        let (region, account) = (&r.ctx.partition.region, r.account());
        if key.starts_with("alias/") {
            format!("arn:aws:kms:{region}:{account}:{key}")
        } else {
            format!("arn:aws:kms:{region}:{account}:key/{key}")
        }
    }
}

impl S3 {
    /// A version's encryption as output members (`ServerSideEncryption`, `SSEKMSKeyId`,
    /// `BucketKeyEnabled`).
    pub(crate) fn encryption_of(&self, acct: &str, bucket: &str, o: &Object) -> Value {
        self.object_setting(acct, bucket, o, ENCRYPTION)
            .filter(Value::is_object)
            .unwrap_or_else(sse_s3)
    }

    /// The encryption a write asks for: its `x-amz-server-side-encryption*` headers, else the
    /// bucket's default encryption; `None` for SSE-S3 (kept as no setting).
    pub(crate) fn requested_encryption(&self, r: &Req<'_>, bucket: &str) -> Option<Value> {
        let (algorithm, key, bucket_key, context) = match r.h("x-amz-server-side-encryption") {
            Some(a) => (
                a.to_string(),
                r.h("x-amz-server-side-encryption-aws-kms-key-id")
                    .map(str::to_string),
                r.h("x-amz-server-side-encryption-bucket-key-enabled")
                    .map(|v| v.eq_ignore_ascii_case("true")),
                r.h("x-amz-server-side-encryption-context")
                    .map(str::to_string),
            ),
            None => {
                let snap = self.store.snapshot();
                let doc = match snap.get(&keys::config(r.account(), bucket, "encryption")) {
                    Some(S3Record::Config(c)) => c.document.clone(),
                    _ => return None,
                };
                let v = out::read_document("PutBucketEncryption", &doc)?;
                let rule = v.pointer("/Rules/0")?;
                let d = rule.get("ApplyServerSideEncryptionByDefault")?;
                (
                    d.get("SSEAlgorithm")?.as_str()?.to_string(),
                    d.get("KMSMasterKeyID")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    rule.get("BucketKeyEnabled").and_then(Value::as_bool),
                    None,
                )
            }
        };
        if algorithm == "AES256" {
            return None;
        }
        let mut m = Map::new();
        m.insert("ServerSideEncryption".into(), json!(algorithm));
        let key = key.unwrap_or_else(|| "alias/aws/s3".to_string());
        m.insert("SSEKMSKeyId".into(), json!(key_arn(r, &key)));
        if let Some(b) = bucket_key {
            m.insert("BucketKeyEnabled".into(), json!(b));
        }
        if let Some(c) = context {
            m.insert("SSEKMSEncryptionContext".into(), json!(c));
        }
        Some(Value::Object(m))
    }

    /// The encryption a write asks for, checked and resolved: a customer key (SSE-C, kept as
    /// its MD5), else [`S3::requested_encryption`] with the AWS managed key `aws/s3` named by
    /// its key ARN (created in KMS on first use, as AWS does) when SSE-KMS names no key.
    pub(crate) async fn write_encryption(
        &self,
        r: &Req<'_>,
        bucket: &str,
    ) -> S3Result<Option<Value>> {
        sse_c::check_exclusive(r)?;
        if let Some(md5) = sse_c::presented(r, sse_c::Target::Object)? {
            return Ok(Some(sse_c::setting(&md5)));
        }
        let mut sse = self.requested_encryption(r, bucket);
        if let Some(Value::Object(m)) = &mut sse
            && let Some(Value::String(key)) = m.get_mut("SSEKMSKeyId")
            && key.ends_with(&format!(":{MANAGED_ALIAS}"))
            && let Some(arn) = managed_key_arn(r).await
        {
            *key = arn;
        }
        Ok(sse)
    }

    /// Keep a new version's encryption (when it is not SSE-S3); returns the store version.
    pub(crate) fn record_encryption(
        &self,
        r: &Req<'_>,
        bucket: &str,
        o: &Object,
        sse: Option<&Value>,
    ) -> S3Result<Option<u64>> {
        match sse {
            Some(v) => self
                .set_object_setting(r.account(), bucket, o, ENCRYPTION, v.clone())
                .map(Some),
            None => Ok(None),
        }
    }

    /// UpdateObjectEncryption: a version's SSE-S3 or SSE-KMS encryption changed to SSE-KMS
    /// (another key, or S3 Bucket Keys) in place.
    pub(crate) async fn update_object_encryption(
        &self,
        r: &Req<'_>,
        body: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let input = read_input(r, &body)?;
        let bucket = self.bucket_meta(r)?;
        let invalid = |m: &'static str| S3Error::invalid_request(m.to_string());
        let kms = match input.pointer("/ObjectEncryption/SSEKMS") {
            Some(v) if v.is_object() => v,
            _ => {
                return Err(invalid(
                    "Requests that modify an object encryption configuration require a valid new encryption type. Valid values are SSEKMS. Modify the request to specify SSE-KMS for the updated encryption type, and then try again.",
                ));
            }
        };
        let arn = kms
            .get("KMSKeyArn")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                invalid(
                    "Requests that modify an object's encryption type to SSE-KMS require an AWS KMS key Amazon Resource Name (ARN). Modify the request to specify a KMS key ARN, and then try again.",
                )
            })?;
        let account = kms_key_account(arn).ok_or_else(|| {
            invalid(
                "Requests that modify an object's encryption type to SSE-KMS require a valid AWS KMS key Amazon Resource Name (ARN). Confirm that you have a correctly formatted KMS key ARN in your request, and then try again.",
            )
        })?;
        let bucket_key = match kms.get("BucketKeyEnabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(invalid(
                    "The BucketKeyEnabled value isn't valid. Valid values are true or false. Modify the request to specify a valid value, and then try again.",
                ));
            }
        };
        let denied = |m: &str| S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", m);
        if account != r.account() {
            return Err(denied(
                "The AWS KMS key in the request must be owned by the same account as the bucket. Modify the request to specify a KMS key from the same account, and then try again.",
            ));
        }
        let o = self.find_object(r, &bucket.name, r.key(), r.q("versionId"))?;
        let current = self.encryption_of(r.account(), &bucket.name, &o);
        if current.get("ServerSideEncryption").and_then(Value::as_str) == Some("aws:kms:dsse")
            || sse_c::key_md5_of(&current).is_some()
        {
            return Err(invalid(
                "The UpdateObjectEncryption operation doesn't support source objects with the encryption type DSSE-KMS or SSE-C. Only source objects encrypted with SSE-S3 or SSE-KMS are supported.",
            ));
        }
        if self.protected(r.account(), &bucket.name, &o, self.now(), false) {
            return Err(denied(
                "The encryption type for the specified object can't be updated because that object is protected by S3 Object Lock. If the object has a governance-mode retention period or a legal hold, you must first remove the Object Lock status on the object before you issue your UpdateObjectEncryption request. You can't use the UpdateObjectEncryption operation with objects that have an Object Lock compliance mode retention period applied to them.",
            ));
        }
        let value = json!({
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": arn,
            "BucketKeyEnabled": bucket_key,
        });
        // The stored body keeps its data key, now wrapped for the new key (KMS `Decrypt` of the
        // old wrapping when it was SSE-KMS, `Encrypt` or the bucket key for the new one).
        let resealed = match &o.sealed {
            Some(s) => {
                let data = self.unwrap_key(r, &s.key, None).await?;
                let plan = self.plan(Some(&value), None, &bucket.name, &o.key)?;
                let key = self
                    .wrap_key(r, &bucket.region, &bucket.name, &plan, &data)
                    .await?;
                let mut s = s.as_ref().clone();
                s.key = key;
                Some(s)
            }
            None => None,
        };
        let mut v = self.set_object_setting(r.account(), &bucket.name, &o, ENCRYPTION, value)?;
        if let Some(s) = resealed {
            v = v.max(self.replace_sealed(r.account(), &bucket.name, &o, s));
        }
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }
}

impl S3 {
    /// Put a version's new [`Sealed`] in its record, wherever the version now is (current or
    /// noncurrent; a version replaced meanwhile is left alone).
    fn replace_sealed(&self, acct: &str, bucket: &str, o: &Object, sealed: Sealed) -> u64 {
        let same = |x: &Object| {
            x.version_id == o.version_id
                && x.last_modified_ms == o.last_modified_ms
                && x.blob == o.blob
                && !x.delete_marker
        };
        let current = keys::object(acct, bucket, &o.key);
        let ((), v) = self.store.write(|t| {
            let found = match t.get(&current) {
                Some(S3Record::Object(x)) if same(x) => Some(current.clone()),
                _ => t
                    .scan_prefix(&keys::versions_of(acct, bucket, &o.key))
                    .find(|(_, rec)| matches!(rec, S3Record::Object(x) if same(x)))
                    .map(|(k, _)| k.clone()),
            };
            if let Some(k) = found
                && let Some(S3Record::Object(mut x)) = t.get(&k).cloned()
            {
                x.sealed = Some(Box::new(sealed));
                t.insert(k, S3Record::Object(x));
            }
        });
        v
    }
}

/// The alias of the AWS managed key S3 encrypts with when SSE-KMS names no key.
const MANAGED_ALIAS: &str = "alias/aws/s3";

/// The ARN of the account's AWS managed key for S3, from KMS (which creates it on first use);
/// `None` without a runtime or a KMS service (the alias's ARN is reported then).
async fn managed_key_arn(r: &Req<'_>) -> Option<String> {
    let rt = r.rt?;
    match rt
        .invoke(r.ctx, "kms", "DescribeKey", json!({"KeyId": MANAGED_ALIAS}))
        .await
    {
        Ok(out) => out
            .pointer("/KeyMetadata/Arn")
            .and_then(Value::as_str)
            .map(str::to_string),
        Err(e) => {
            tracing::debug!(error = %e.message, "the AWS managed key aws/s3 could not be resolved");
            None
        }
    }
}

/// Put a version's encryption members into an output.
pub(crate) fn put_encryption(out: &mut Map<String, Value>, sse: &Value) {
    if let Some(m) = sse.as_object() {
        for (k, v) in m {
            out.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_key_arns() {
        assert_eq!(
            kms_key_account("arn:aws:kms:us-east-1:000000000000:key/abc"),
            Some("000000000000")
        );
        assert_eq!(
            kms_key_account("arn:aws-cn:kms:cn-north-1:123456789012:key/a:b"),
            Some("123456789012")
        );
        for bad in [
            "abc",
            "arn:aws:kms:us-east-1:000000000000:alias/aws/s3",
            "arn:aws:s3:us-east-1:000000000000:key/abc",
            "arn:aws:kms:us-east-1:0000:key/abc",
            "arn:aws:kms:us-east-1:000000000000:key/",
        ] {
            assert_eq!(kms_key_account(bad), None, "{bad}");
        }
    }
}

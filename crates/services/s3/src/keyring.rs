//! The keys that seal object bodies (`seal.rs`), and where each data key is kept:
//!
//! - SSE-S3: a random data key per body, wrapped by S3's master key of the account and region
//!   (a [`SealKey::Master`] record, 32 bytes from the OS generator, made on first use). No KMS
//!   call, ever.
//! - SSE-KMS: a data key from KMS `GenerateDataKey` (encryption context
//!   `aws:s3:arn` = the object's ARN, plus the request's own context), its `CiphertextBlob`
//!   stored; every read calls KMS `Decrypt`, so a disabled key or one pending deletion makes the
//!   object unreadable, as in AWS (`KMS.DisabledException`, `KMS.KMSInvalidStateException`).
//!   With S3 Bucket Keys, one bucket-level key from KMS (context: the bucket's ARN) is kept as a
//!   [`SealKey::Bucket`] record (its blob only; the plaintext stays in memory) and wraps each
//!   body's random data key, so writes do not call KMS per object.
//! - SSE-C: a random data key wrapped by the customer's key, which is never stored.
//!
//! A copy or UpdateObjectEncryption re-wraps the same data key for the new encryption: the
//! stored body is shared, never re-encrypted.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::kms;

use crate::body::{base64, unbase64};
use crate::model::{S3Record, SealKey, Sealed, WrappedKey, keys};
use crate::seal::{self, DataKey};
use crate::time::now_ms;
use crate::{Req, S3, S3Error, S3Result, sse_c};

/// Associated data of wrapped keys, by what wraps them.
const AAD_MASTER: &[u8] = b"snapstack s3 sse-s3 data key";
const AAD_BUCKET: &[u8] = b"snapstack s3 bucket key data key";
const AAD_CUSTOMER: &[u8] = b"snapstack s3 sse-c data key";

/// Decrypted bucket keys kept in memory (by their KMS blob); cleared when it grows past this.
const MAX_CACHED_BUCKET_KEYS: usize = 1024;

/// Plaintext S3 Bucket Keys, by their KMS blob: never stored.
#[derive(Default)]
pub(crate) struct BucketKeyCache(Mutex<HashMap<Vec<u8>, [u8; 32]>>);

impl BucketKeyCache {
    fn get(&self, blob: &[u8]) -> Option<[u8; 32]> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(blob)
            .copied()
    }

    fn put(&self, blob: &[u8], key: [u8; 32]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_CACHED_BUCKET_KEYS {
            m.clear();
        }
        m.insert(blob.to_vec(), key);
    }
}

/// How a new body is to be encrypted: what [`S3::write_encryption`] resolved.
pub(crate) enum Plan<'a> {
    SseS3,
    Kms {
        key_id: String,
        bucket_key: bool,
        context: Vec<(String, String)>,
    },
    Customer(&'a [u8; 32]),
}

/// The object's ARN, S3's encryption context for it.
pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// A KMS error as S3 answers it: `KMS.<code>` with KMS's message, a 400 (AccessDenied a 403).
pub(crate) fn kms_error(e: AwsError) -> S3Error {
    let code = kms::name(&e).to_string();
    if code == "AccessDeniedException" {
        return S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", e.message);
    }
    if code == "ResourceNotFoundException" {
        // No KMS service on this server.
        return S3Error::new(StatusCode::BAD_REQUEST, "KMS.NotFoundException", e.message);
    }
    let code: &'static str = match code.as_str() {
        "DisabledException" => "KMS.DisabledException",
        "KMSInvalidStateException" => "KMS.KMSInvalidStateException",
        "NotFoundException" => "KMS.NotFoundException",
        "InvalidCiphertextException" => "KMS.InvalidCiphertextException",
        "InvalidKeyUsageException" => "KMS.InvalidKeyUsageException",
        "IncorrectKeyException" => "KMS.IncorrectKeyException",
        "KeyUnavailableException" => "KMS.KeyUnavailableException",
        "DependencyTimeoutException" => "KMS.DependencyTimeoutException",
        "ThrottlingException" => "KMS.ThrottlingException",
        "InvalidGrantTokenException" => "KMS.InvalidGrantTokenException",
        _ => "KMS.KMSInternalException",
    };
    let status = if e.status.is_server_error() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    };
    S3Error::new(status, code, e.message)
}

/// The runtime a request reaches KMS through.
fn runtime<'a>(r: &Req<'a>) -> S3Result<&'a dyn snapstack_service::Runtime> {
    r.rt.ok_or_else(|| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "KMS.NotFoundException",
            "KMS is not reachable from this request",
        )
    })
}

impl S3 {
    async fn kms(&self, r: &Req<'_>, op: &str, input: Value) -> S3Result<Value> {
        runtime(r)?
            .invoke(r.ctx, "kms", op, input)
            .await
            .map_err(kms_error)
    }

    /// A data key's plaintext through KMS `Decrypt`.
    async fn kms_decrypt(
        &self,
        r: &Req<'_>,
        key_id: &str,
        blob: &[u8],
        context: &[(String, String)],
    ) -> S3Result<[u8; 32]> {
        kms::decrypt_data_key(runtime(r)?, r.ctx, "s3", Some(key_id), blob, context)
            .await
            .map_err(kms_error)
    }

    /// A new data key from KMS `GenerateDataKey`.
    async fn kms_data_key(
        &self,
        r: &Req<'_>,
        key_id: &str,
        context: &[(String, String)],
    ) -> S3Result<kms::DataKey> {
        kms::generate_data_key(runtime(r)?, r.ctx, "s3", key_id, context)
            .await
            .map_err(kms_error)
    }

    /// S3's master key of the account and region, made (from the OS generator) on first use.
    fn master_key(&self, acct: &str, region: &str) -> [u8; 32] {
        let k = keys::master_key(acct, region);
        if let Some(S3Record::Key(SealKey::Master { key, .. })) = self.store.snapshot().get(&k) {
            return *key;
        }
        let fresh: [u8; 32] = seal::random();
        let (key, _) = self.store.write(|t| match t.get(&k) {
            Some(S3Record::Key(SealKey::Master { key, .. })) => *key,
            _ => {
                t.insert(
                    k.clone(),
                    S3Record::Key(SealKey::Master {
                        key: fresh,
                        created_ms: now_ms(),
                    }),
                );
                fresh
            }
        });
        key
    }

    /// The plaintext of a bucket key, from memory or KMS `Decrypt`.
    async fn open_bucket_key(
        &self,
        r: &Req<'_>,
        key_id: &str,
        blob: &[u8],
        context: &[(String, String)],
        cached: bool,
    ) -> S3Result<[u8; 32]> {
        if cached && let Some(k) = self.bucket_keys.get(blob) {
            return Ok(k);
        }
        let k = self.kms_decrypt(r, key_id, blob, context).await?;
        self.bucket_keys.put(blob, k);
        Ok(k)
    }

    /// The bucket's S3 Bucket Key for `key_id`: its record (made through KMS `GenerateDataKey`
    /// on first use) and its plaintext.
    async fn bucket_key(
        &self,
        r: &Req<'_>,
        bucket: &str,
        key_id: &str,
    ) -> S3Result<(Vec<u8>, Vec<(String, String)>, [u8; 32])> {
        let k = keys::bucket_key(r.account(), bucket, key_id);
        if let Some(S3Record::Key(SealKey::Bucket { blob, context, .. })) =
            self.store.snapshot().get(&k).cloned()
        {
            let plain = self
                .open_bucket_key(r, key_id, &blob, &context, true)
                .await?;
            return Ok((blob, context, plain));
        }
        let context = vec![("aws:s3:arn".to_string(), format!("arn:aws:s3:::{bucket}"))];
        let dk = self.kms_data_key(r, key_id, &context).await?;
        let (plain, blob) = (dk.plaintext, dk.blob);
        let record = SealKey::Bucket {
            key_id: key_id.to_string(),
            blob: blob.clone(),
            context: context.clone(),
            created_ms: now_ms(),
        };
        // Another request may have made one meanwhile: the stored one wins.
        let (kept, _) = self.store.write(|t| match t.get(&k) {
            Some(S3Record::Key(SealKey::Bucket { blob, context, .. })) => {
                Some((blob.clone(), context.clone()))
            }
            _ => {
                t.insert(k.clone(), S3Record::Key(record));
                None
            }
        });
        match kept {
            Some((blob, context)) => {
                let plain = self
                    .open_bucket_key(r, key_id, &blob, &context, true)
                    .await?;
                Ok((blob, context, plain))
            }
            None => {
                self.bucket_keys.put(&blob, plain);
                Ok((blob, context, plain))
            }
        }
    }

    /// What a write's resolved encryption (`None`: SSE-S3) asks of the keyring; an SSE-C
    /// write's key comes from `customer`.
    pub(crate) fn plan<'a>(
        &self,
        sse: Option<&Value>,
        customer: Option<&'a [u8; 32]>,
        bucket: &str,
        key: &str,
    ) -> S3Result<Plan<'a>> {
        let Some(sse) = sse else {
            return Ok(Plan::SseS3);
        };
        if sse_c::key_md5_of(sse).is_some() {
            return customer.map(Plan::Customer).ok_or_else(|| {
                S3Error::invalid_request(
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                )
            });
        }
        match sse.get("ServerSideEncryption").and_then(Value::as_str) {
            Some("aws:kms" | "aws:kms:dsse") => {}
            _ => return Ok(Plan::SseS3),
        }
        let key_id = sse
            .get("SSEKMSKeyId")
            .and_then(Value::as_str)
            .unwrap_or("alias/aws/s3")
            .to_string();
        let bucket_key = sse
            .get("BucketKeyEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut context = vec![("aws:s3:arn".to_string(), object_arn(bucket, key))];
        if let Some(c) = sse.get("SSEKMSEncryptionContext").and_then(Value::as_str) {
            let parsed = unbase64(c)
                .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "The encryption context must be a base64-encoded JSON object of strings.",
                    )
                })?;
            for (k, v) in parsed {
                if k != "aws:s3:arn" {
                    context.push((k, v.as_str().unwrap_or_default().to_string()));
                }
            }
        }
        Ok(Plan::Kms {
            key_id,
            bucket_key,
            context,
        })
    }

    /// A new data key for a body, and how it is kept.
    pub(crate) async fn new_data_key(
        &self,
        r: &Req<'_>,
        region: &str,
        bucket: &str,
        plan: &Plan<'_>,
    ) -> S3Result<([u8; 32], WrappedKey)> {
        if let Plan::Kms {
            key_id,
            bucket_key: false,
            context,
        } = plan
        {
            let dk = self.kms_data_key(r, key_id, context).await?;
            return Ok((
                dk.plaintext,
                WrappedKey::Kms {
                    key_id: dk.key_arn,
                    blob: dk.blob,
                    context: context.clone(),
                },
            ));
        }
        let data: [u8; 32] = seal::random();
        let wrapped = self.wrap_key(r, region, bucket, plan, &data).await?;
        Ok((data, wrapped))
    }

    /// Keep an existing data key for `plan` (a copy, UpdateObjectEncryption): wrapped locally,
    /// by the bucket key, or by KMS `Encrypt`.
    pub(crate) async fn wrap_key(
        &self,
        r: &Req<'_>,
        region: &str,
        bucket: &str,
        plan: &Plan<'_>,
        data: &[u8; 32],
    ) -> S3Result<WrappedKey> {
        Ok(match plan {
            Plan::SseS3 => {
                let master = self.master_key(r.account(), region);
                let (nonce, wrapped) = seal::wrap(&master, AAD_MASTER, data);
                WrappedKey::Master {
                    region: region.to_string(),
                    nonce,
                    wrapped,
                }
            }
            Plan::Customer(k) => {
                let (nonce, wrapped) = seal::wrap(k, AAD_CUSTOMER, data);
                WrappedKey::Customer { nonce, wrapped }
            }
            Plan::Kms {
                key_id,
                bucket_key: true,
                ..
            } => {
                let (blob, context, plain) = self.bucket_key(r, bucket, key_id).await?;
                let (nonce, wrapped) = seal::wrap(&plain, AAD_BUCKET, data);
                WrappedKey::BucketKey {
                    key_id: key_id.clone(),
                    blob,
                    context,
                    nonce,
                    wrapped,
                }
            }
            Plan::Kms {
                key_id, context, ..
            } => {
                let out = self
                    .kms(
                        r,
                        "Encrypt",
                        json!({"KeyId": key_id, "Plaintext": base64(data), "EncryptionContext": kms::context_json(context)}),
                    )
                    .await?;
                let blob = out
                    .get("CiphertextBlob")
                    .and_then(Value::as_str)
                    .and_then(unbase64)
                    .ok_or_else(|| S3Error::internal("KMS returned no ciphertext blob"))?;
                WrappedKey::Kms {
                    key_id: key_id.clone(),
                    blob,
                    context: context.clone(),
                }
            }
        })
    }

    /// The data key of a stored body; an SSE-C body's from the customer key the request
    /// presents (checked against the stored MD5 before this is called).
    pub(crate) async fn unwrap_key(
        &self,
        r: &Req<'_>,
        wrapped: &WrappedKey,
        customer: Option<&[u8; 32]>,
    ) -> S3Result<[u8; 32]> {
        let damaged = || S3Error::internal("The object's stored data key does not open");
        match wrapped {
            WrappedKey::Master {
                region,
                nonce,
                wrapped,
            } => {
                let master = self.master_key(r.account(), region);
                seal::unwrap(&master, AAD_MASTER, nonce, wrapped).ok_or_else(damaged)
            }
            WrappedKey::Customer { nonce, wrapped } => {
                let k = customer.ok_or_else(|| {
                    S3Error::invalid_request(
                        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                    )
                })?;
                seal::unwrap(k, AAD_CUSTOMER, nonce, wrapped).ok_or_else(|| {
                    S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
                })
            }
            WrappedKey::Kms {
                key_id,
                blob,
                context,
            } => self.kms_decrypt(r, key_id, blob, context).await,
            WrappedKey::BucketKey {
                key_id,
                blob,
                context,
                nonce,
                wrapped,
            } => {
                // Reads ask KMS each time, so that a disabled key stops them at once.
                let plain = self
                    .open_bucket_key(r, key_id, blob, context, false)
                    .await?;
                seal::unwrap(&plain, AAD_BUCKET, nonce, wrapped).ok_or_else(damaged)
            }
        }
    }

    /// The data key of a sealed body ready to decrypt, or `None` for a body stored as sent.
    pub(crate) async fn opener(
        &self,
        r: &Req<'_>,
        sealed: Option<&Sealed>,
        target: sse_c::Target,
    ) -> S3Result<Option<DataKey>> {
        let Some(s) = sealed else {
            return Ok(None);
        };
        let customer = sse_c::presented_key(r, target)?;
        let k = self.unwrap_key(r, &s.key, customer.as_ref()).await?;
        Ok(Some(DataKey::new(&k)))
    }
}

#[cfg(test)]
mod tests;

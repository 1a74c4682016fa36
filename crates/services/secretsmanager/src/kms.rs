//! Secret values and KMS: envelope encryption through [`Runtime::invoke`].
//!
//! Sealing a value makes a fresh 256-bit data key, asks KMS to `Encrypt` it with the secret's
//! key under the encryption context `{SecretARN, SecretVersionId}` (AWS's), and seals the value
//! with AES-256-GCM under the data key (the version id as associated data). Opening asks KMS to
//! `Decrypt` the data key under the same context. The state holds only KMS's ciphertext of the
//! data key and the sealed value.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, Runtime};

use crate::{DEFAULT_KEY_ALIAS, SecretsManager, Version};

const DEFAULT_KEY_DESCRIPTION: &str =
    "Default key that protects my Secrets Manager data when no other key is defined";

/// A value sealed for one version.
pub(crate) struct Sealed {
    pub key_arn: String,
    pub data_key: Vec<u8>,
    pub sealed: Vec<u8>,
}

pub(crate) fn encryption_failure() -> AwsError {
    AwsError::new(
        "EncryptionFailure",
        "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state. For more information, see Key state: Effect on your KMS key.",
    )
}

pub(crate) fn decryption_failure() -> AwsError {
    AwsError::new(
        "DecryptionFailure",
        "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
    )
}

/// KMS answered with an error: `ResourceNotFoundException` from the runtime means no KMS is
/// served (KMS itself names missing keys `NotFoundException`); the key is then unavailable, so
/// the answer is still AWS's `EncryptionFailure` / `DecryptionFailure`, saying why. A caller
/// not allowed to use the key is told `Access to KMS is not allowed`, as AWS tells it.
fn kms_error(e: AwsError, fallback: fn() -> AwsError) -> AwsError {
    if e.code == "ResourceNotFoundException" || e.code == "NotImplemented" {
        let f = fallback();
        return AwsError::new(
            &f.code,
            format!(
                "{} KMS is not served by this emulator: {}",
                f.message, e.message
            ),
        );
    }
    if e.status.is_server_error() {
        return AwsError::internal("InternalServiceError", e.message);
    }
    if snapstack_service::kms::fault(&e) == snapstack_service::kms::Fault::AccessDenied {
        // The caller may not use the secret's key (IAM enforcement): AWS's answer.
        return AwsError::new("AccessDeniedException", "Access to KMS is not allowed");
    }
    tracing::debug!(code = %e.code, message = %e.message, "KMS refused a Secrets Manager call");
    fallback()
}

fn context(arn: &str, version_id: &str) -> Value {
    json!({"SecretARN": arn, "SecretVersionId": version_id})
}

fn blob(out: &Value, field: &str) -> Option<Vec<u8>> {
    B64.decode(out.get(field)?.as_str()?).ok()
}

impl SecretsManager {
    /// Encrypt `plaintext` for version `version_id` of the secret `arn` with `key_id` (the
    /// account's default key when `None`, created on first use).
    pub(crate) async fn seal(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        key_id: Option<&str>,
        arn: &str,
        version_id: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, AwsError> {
        // A data key from KMS `GenerateDataKey`, as AWS's Secrets Manager asks for one (so
        // the caller needs `kms:GenerateDataKey` on a customer managed key, as in AWS).
        let input = json!({
            "KeyId": key_id.unwrap_or(DEFAULT_KEY_ALIAS),
            "KeySpec": "AES_256",
            "EncryptionContext": context(arn, version_id),
        });
        let for_caller =
            |input: Value| rt.invoke_for_caller(ctx, crate::NAME, "kms", "GenerateDataKey", input);
        let out = match for_caller(input.clone()).await {
            Err(e) if key_id.is_none() && e.code == "NotFoundException" => {
                self.ensure_default_key(rt, ctx).await?;
                for_caller(input).await
            }
            other => other,
        }
        .map_err(|e| kms_error(e, encryption_failure))?;
        let (Some(blob), Some(key_arn), Some(plain)) = (
            blob(&out, "CiphertextBlob"),
            out.get("KeyId").and_then(Value::as_str),
            blob(&out, "Plaintext"),
        ) else {
            return Err(encryption_failure());
        };
        let data_key =
            Key::<Aes256Gcm>::try_from(plain.as_slice()).map_err(|_| encryption_failure())?;
        let cipher = Aes256Gcm::new(&data_key);
        let nonce = Nonce::<Aes256Gcm>::generate();
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: version_id.as_bytes(),
                },
            )
            .map_err(|_| encryption_failure())?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ct);
        Ok(Sealed {
            key_arn: key_arn.to_string(),
            data_key: blob,
            sealed,
        })
    }

    /// Decrypt a version's value.
    pub(crate) async fn open(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        arn: &str,
        v: &Version,
    ) -> Result<Vec<u8>, AwsError> {
        let mut input = json!({
            "CiphertextBlob": B64.encode(&v.data_key),
            "EncryptionContext": context(arn, &v.id),
        });
        // The key that sealed it, named: KMS checks that the blob is that key's, and IAM
        // enforcement knows whose `kms:Decrypt` to check.
        if !v.key_arn.is_empty() {
            input["KeyId"] = Value::String(v.key_arn.clone());
        }
        let out = rt
            .invoke_for_caller(ctx, crate::NAME, "kms", "Decrypt", input)
            .await
            .map_err(|e| kms_error(e, decryption_failure))?;
        let key = blob(&out, "Plaintext").ok_or_else(decryption_failure)?;
        if key.len() != 32 || v.sealed.len() < 12 {
            return Err(decryption_failure());
        }
        let key = Key::<Aes256Gcm>::try_from(key.as_slice()).map_err(|_| decryption_failure())?;
        let nonce =
            Nonce::<Aes256Gcm>::try_from(&v.sealed[..12]).map_err(|_| decryption_failure())?;
        Aes256Gcm::new(&key)
            .decrypt(
                &nonce,
                Payload {
                    msg: &v.sealed[12..],
                    aad: v.id.as_bytes(),
                },
            )
            .map_err(|_| decryption_failure())
    }

    /// Create the account's `alias/aws/secretsmanager` key if it does not exist yet (one at a
    /// time, so concurrent first uses make one key).
    async fn ensure_default_key(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
    ) -> Result<(), AwsError> {
        let _guard = self.default_key.lock().await;
        let probe = json!({"KeyId": DEFAULT_KEY_ALIAS});
        match rt.invoke(ctx, "kms", "DescribeKey", probe).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code == "NotFoundException" => {}
            Err(e) => return Err(kms_error(e, encryption_failure)),
        }
        let created = rt
            .invoke(
                ctx,
                "kms",
                "CreateKey",
                json!({
                    "Description": DEFAULT_KEY_DESCRIPTION,
                    "KeyUsage": "ENCRYPT_DECRYPT",
                    "KeySpec": "SYMMETRIC_DEFAULT",
                }),
            )
            .await
            .map_err(|e| kms_error(e, encryption_failure))?;
        let Some(key_id) = created
            .pointer("/KeyMetadata/KeyId")
            .and_then(Value::as_str)
        else {
            return Err(encryption_failure());
        };
        match rt
            .invoke(
                ctx,
                "kms",
                "CreateAlias",
                json!({"AliasName": DEFAULT_KEY_ALIAS, "TargetKeyId": key_id}),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code == "AlreadyExistsException" => Ok(()),
            Err(e) => Err(kms_error(e, encryption_failure)),
        }
    }
}

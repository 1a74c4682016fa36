//! Calling KMS from another service (envelope encryption at rest): a data key from
//! `GenerateDataKey`, its plaintext back from `Decrypt`, both under an encryption context, and
//! what a KMS error means for the caller. Each service answers KMS's failures with its own
//! codes (S3 `KMS.DisabledException`, SQS `KmsDisabled`, ...): [`fault`] names the failure.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use snapstack_protocol::errors::AwsError;

use crate::{RequestContext, Runtime};

/// A data key KMS generated: its plaintext (kept in memory only), the blob to store, and the
/// ARN of the KMS key that encrypted it.
#[derive(Clone)]
pub struct DataKey {
    pub plaintext: [u8; 32],
    pub blob: Vec<u8>,
    pub key_arn: String,
}

/// What went wrong in a call to KMS, as the calling services distinguish it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    AccessDenied,
    Disabled,
    InvalidState,
    NotFound,
    InvalidKeyUsage,
    Throttled,
    /// No KMS service answers on this server.
    Unavailable,
    /// Anything else (KMS's own name in [`name`]).
    Other,
}

/// The bare name of a KMS error code (`com.amazonaws.kms#DisabledException` → `DisabledException`).
pub fn name(e: &AwsError) -> &str {
    e.code.rsplit('#').next().unwrap_or(&e.code)
}

/// What a KMS error means. `ResourceNotFoundException` comes from the runtime when no KMS is
/// served (KMS itself names a missing key `NotFoundException`).
pub fn fault(e: &AwsError) -> Fault {
    match name(e) {
        "AccessDeniedException" => Fault::AccessDenied,
        "DisabledException" => Fault::Disabled,
        "KMSInvalidStateException" => Fault::InvalidState,
        "NotFoundException" => Fault::NotFound,
        "InvalidKeyUsageException" => Fault::InvalidKeyUsage,
        "ThrottlingException" | "LimitExceededException" => Fault::Throttled,
        "ResourceNotFoundException" | "NotImplemented" => Fault::Unavailable,
        _ => Fault::Other,
    }
}

/// An encryption context as KMS's `EncryptionContext` member.
pub fn context_json(context: &[(String, String)]) -> Value {
    Value::Object(
        context
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
    )
}

fn bytes(out: &Value, field: &str) -> Option<Vec<u8>> {
    B64.decode(out.get(field)?.as_str()?).ok()
}

fn key32(out: &Value) -> Result<[u8; 32], AwsError> {
    bytes(out, "Plaintext")
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| AwsError::internal("KMSInternalException", "KMS returned no 256-bit key"))
}

/// A new 256-bit data key under `key_id` (an id, ARN or alias) and `context`, asked for by
/// the service `via` on behalf of the caller of `ctx` ([`Runtime::invoke_for_caller`]: with IAM
/// enforcement on, the caller must be allowed `kms:GenerateDataKey` on the key).
pub async fn generate_data_key(
    rt: &dyn Runtime,
    ctx: &RequestContext,
    via: &str,
    key_id: &str,
    context: &[(String, String)],
) -> Result<DataKey, AwsError> {
    let out = rt
        .invoke_for_caller(
            ctx,
            via,
            "kms",
            "GenerateDataKey",
            json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context_json(context)}),
        )
        .await?;
    let plaintext = key32(&out)?;
    let blob = bytes(&out, "CiphertextBlob").ok_or_else(|| {
        AwsError::internal("KMSInternalException", "KMS returned no ciphertext blob")
    })?;
    let key_arn = out
        .get("KeyId")
        .and_then(Value::as_str)
        .unwrap_or(key_id)
        .to_string();
    Ok(DataKey {
        plaintext,
        blob,
        key_arn,
    })
}

/// The plaintext of a data key's `blob`, through KMS `Decrypt` under the `context` it was made
/// with (`key_id`, when given, must be the key that encrypted it), on behalf of the caller of
/// `ctx` by the service `via` (with IAM enforcement on, the caller must be allowed
/// `kms:Decrypt` on the key).
pub async fn decrypt_data_key(
    rt: &dyn Runtime,
    ctx: &RequestContext,
    via: &str,
    key_id: Option<&str>,
    blob: &[u8],
    context: &[(String, String)],
) -> Result<[u8; 32], AwsError> {
    let mut input =
        json!({"CiphertextBlob": B64.encode(blob), "EncryptionContext": context_json(context)});
    if let Some(k) = key_id {
        input["KeyId"] = Value::String(k.to_string());
    }
    let out = rt
        .invoke_for_caller(ctx, via, "kms", "Decrypt", input)
        .await?;
    key32(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{FakeRuntime, context};

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn data_keys_come_from_kms_with_their_context() {
        let rt = FakeRuntime::answering(json!({
            "Plaintext": B64.encode([5u8; 32]),
            "CiphertextBlob": B64.encode(b"blob"),
            "KeyId": "arn:aws:kms:us-east-1:000000000000:key/k",
        }));
        let ctx = context();
        let c = vec![("aws:sqs:arn".to_string(), "arn:q".to_string())];
        let k = run(generate_data_key(&rt, &ctx, "sqs", "alias/x", &c)).unwrap();
        assert_eq!(k.plaintext, [5u8; 32]);
        assert_eq!(k.blob, b"blob");
        assert_eq!(k.key_arn, "arn:aws:kms:us-east-1:000000000000:key/k");
        let p = run(decrypt_data_key(&rt, &ctx, "sqs", None, b"blob", &c)).unwrap();
        assert_eq!(p, [5u8; 32]);
        let calls = rt.calls();
        assert_eq!(calls[0].1, "GenerateDataKey");
        assert_eq!(calls[0].2["EncryptionContext"]["aws:sqs:arn"], "arn:q");
        assert_eq!(calls[1].1, "Decrypt");
        assert_eq!(calls[1].2["CiphertextBlob"], B64.encode(b"blob"));
        assert!(calls[1].2.get("KeyId").is_none());
    }

    #[test]
    fn a_short_key_is_an_internal_error_and_faults_are_named() {
        let rt = FakeRuntime::answering(json!({"Plaintext": B64.encode([1u8; 16])}));
        let e = run(decrypt_data_key(
            &rt,
            &context(),
            "sqs",
            Some("k"),
            b"b",
            &[],
        ))
        .unwrap_err();
        assert!(e.status.is_server_error());
        let f = |c: &str| fault(&AwsError::new(c, "m"));
        assert_eq!(f("com.amazonaws.kms#DisabledException"), Fault::Disabled);
        assert_eq!(f("KMSInvalidStateException"), Fault::InvalidState);
        assert_eq!(f("NotFoundException"), Fault::NotFound);
        assert_eq!(f("AccessDeniedException"), Fault::AccessDenied);
        assert_eq!(f("ResourceNotFoundException"), Fault::Unavailable);
        assert_eq!(f("InvalidCiphertextException"), Fault::Other);
    }
}

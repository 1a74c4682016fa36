//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateDataKeyPair(WithoutPlaintext), GenerateRandom, Sign, Verify, GetPublicKey,
//! GenerateMac, VerifyMac.

use std::collections::BTreeMap;

use serde_json::json;

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::{self, Spec};
use crate::input::*;
use crate::names::*;
use crate::{KeyRec, Kms, blob, err, ok, validation};

const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT: usize = 6144;

pub(crate) fn internal(e: String) -> AwsError {
    AwsError::internal("KMSInternalException", e)
}

fn invalid_ciphertext() -> AwsError {
    err("InvalidCiphertextException", "")
}

fn incorrect_key() -> AwsError {
    err(
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )
}

fn spec_of(k: &KeyRec) -> Result<Spec, AwsError> {
    Spec::parse(&k.spec).ok_or_else(|| internal(format!("unknown key spec {}", k.spec)))
}

fn incompatible(alg: &str, k: &KeyRec) -> AwsError {
    err(
        "InvalidKeyUsageException",
        format!("Algorithm {alg} is incompatible with key spec {}.", k.spec),
    )
}

pub(crate) fn no_recipient(m: &Input) -> Result<(), AwsError> {
    if m.get("Recipient").is_some_and(|r| !r.is_null()) {
        return Err(err(
            "UnsupportedOperationException",
            "Recipient (attested Nitro Enclaves requests) is not supported by this emulator's KMS.",
        ));
    }
    Ok(())
}

/// A key that is enabled, of `usage`, for `op`.
pub(crate) fn ready(p: &Partition, k: &KeyRec, usage: &str, op: &str) -> Result<Spec, AwsError> {
    usable(p, k)?;
    usage_is(p, k, usage, op)?;
    spec_of(k)
}

/// Encrypt under a key (already checked usable for encryption).
fn encrypt_with(
    k: &KeyRec,
    alg: &str,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Option<String>), AwsError> {
    let spec = spec_of(k)?;
    if !spec.encryption_algorithms().contains(&alg) {
        return Err(incompatible(alg, k));
    }
    let (version, mat) = k
        .current()
        .ok_or_else(|| internal("key has no material".into()))?;
    if spec == Spec::Symmetric {
        let b =
            crypto::seal(&mat.secret.0, &k.id, version, context, plaintext).map_err(internal)?;
        return Ok((b, Some(mat.id.clone())));
    }
    let b = crypto::rsa_encrypt(&mat.secret.0, alg, plaintext).map_err(|_| {
        validation(format!(
            "Plaintext is too large for the key spec {} and algorithm {alg}.",
            k.spec
        ))
    })?;
    Ok((b, None))
}

impl Kms {
    /// The key an Encrypt-like call names, checked for encryption: `(key, write version)`.
    fn encryption_key(
        &self,
        p: &Partition,
        m: &Input,
        field: &str,
        op: &str,
    ) -> Result<(KeyRec, Option<u64>), AwsError> {
        let (k, v) = self.key_for_use(p, req(m, field)?)?;
        ready(p, &k, "ENCRYPT_DECRYPT", op)?;
        available(&self.store.snapshot(), p, &k, self.now_ms())?;
        Ok((k, v))
    }

    /// Decrypt a ciphertext: `(key, plaintext, algorithm, material id)`.
    fn decrypt_inner(
        &self,
        p: &Partition,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
        key_id: Option<&str>,
        alg: Option<&str>,
    ) -> Result<(KeyRec, Vec<u8>, String, Option<String>), AwsError> {
        let snap = self.store.snapshot();
        let now = self.now_ms();
        let named = match key_id {
            Some(id) => Some(find_key(&snap, p, id, now)?),
            None => None,
        };
        let alg = alg.unwrap_or("SYMMETRIC_DEFAULT");
        if alg != "SYMMETRIC_DEFAULT" {
            let k =
                named.ok_or_else(|| validation("KeyId is required for asymmetric decryption."))?;
            let spec = ready(p, &k, "ENCRYPT_DECRYPT", "Decrypt")?;
            available(&snap, p, &k, now)?;
            if !spec.encryption_algorithms().contains(&alg) {
                return Err(incompatible(alg, &k));
            }
            let (_, mat) = k.current().ok_or_else(invalid_ciphertext)?;
            let pt = crypto::rsa_decrypt(&mat.secret.0, alg, ciphertext)
                .ok_or_else(invalid_ciphertext)?;
            return Ok((k, pt, alg.to_string(), None));
        }
        let b = blob::parse(ciphertext).ok_or_else(invalid_ciphertext)?;
        let k = get_key(&snap, p, b.key_id)
            .filter(|k| k.deletion_ms.is_none_or(|d| d > now))
            .ok_or_else(|| key_missing(p, b.key_id))?;
        if let Some(n) = &named
            && n.id != k.id
        {
            return Err(incorrect_key());
        }
        if k.spec != "SYMMETRIC_DEFAULT" {
            return Err(incorrect_key());
        }
        usable(p, &k)?;
        available(&snap, p, &k, now)?;
        let mat = k
            .materials
            .get(b.material as usize)
            .ok_or_else(invalid_ciphertext)?;
        let pt = crypto::open(&mat.secret.0, &b, context).ok_or_else(invalid_ciphertext)?;
        let id = mat.id.clone();
        Ok((k, pt, alg.to_string(), Some(id)))
    }

    pub(crate) fn encrypt(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let plaintext = req_blob(m, "Plaintext", MAX_PLAINTEXT)?;
        let alg = str_of(m, "EncryptionAlgorithm").unwrap_or("SYMMETRIC_DEFAULT");
        let (k, v) = self.encryption_key(p, m, "KeyId", "Encrypt")?;
        dry_run(m)?;
        let (b, _) = encrypt_with(&k, alg, &context_of(m, "EncryptionContext"), &plaintext)?;
        ok(
            json!({ "CiphertextBlob": b64(&b), "KeyId": k.arn(p), "EncryptionAlgorithm": alg }),
            v,
        )
    }

    pub(crate) fn decrypt(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let c = req_blob(m, "CiphertextBlob", MAX_CIPHERTEXT)?;
        no_recipient(m)?;
        let (k, pt, alg, mat) = self.decrypt_inner(
            p,
            &c,
            &context_of(m, "EncryptionContext"),
            str_of(m, "KeyId"),
            str_of(m, "EncryptionAlgorithm"),
        )?;
        dry_run(m)?;
        let mut out =
            json!({ "KeyId": k.arn(p), "Plaintext": b64(&pt), "EncryptionAlgorithm": alg });
        if let Some(id) = mat {
            out["KeyMaterialId"] = json!(id);
        }
        ok(out, None)
    }

    pub(crate) fn re_encrypt(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let c = req_blob(m, "CiphertextBlob", MAX_CIPHERTEXT)?;
        let (src, pt, src_alg, _) = self.decrypt_inner(
            p,
            &c,
            &context_of(m, "SourceEncryptionContext"),
            str_of(m, "SourceKeyId"),
            str_of(m, "SourceEncryptionAlgorithm"),
        )?;
        let alg = str_of(m, "DestinationEncryptionAlgorithm").unwrap_or("SYMMETRIC_DEFAULT");
        let (dst, v) = self.encryption_key(p, m, "DestinationKeyId", "ReEncrypt")?;
        dry_run(m)?;
        let (b, _) = encrypt_with(
            &dst,
            alg,
            &context_of(m, "DestinationEncryptionContext"),
            &pt,
        )?;
        ok(
            json!({
                "CiphertextBlob": b64(&b),
                "SourceKeyId": src.arn(p),
                "KeyId": dst.arn(p),
                "SourceEncryptionAlgorithm": src_alg,
                "DestinationEncryptionAlgorithm": alg,
            }),
            v,
        )
    }

    /// The symmetric key a data-key operation names.
    fn data_key_key(
        &self,
        p: &Partition,
        m: &Input,
        op: &str,
    ) -> Result<(KeyRec, Option<u64>), AwsError> {
        let (k, v) = self.encryption_key(p, m, "KeyId", op)?;
        if k.spec != "SYMMETRIC_DEFAULT" {
            return Err(err(
                "InvalidKeyUsageException",
                format!(
                    "{} key usage is not valid for {op}: the key is asymmetric.",
                    k.arn(p)
                ),
            ));
        }
        Ok((k, v))
    }

    pub(crate) fn generate_data_key(
        &self,
        p: &Partition,
        m: &Input,
        plain: bool,
    ) -> Result<Output, AwsError> {
        let op = if plain {
            "GenerateDataKey"
        } else {
            "GenerateDataKeyWithoutPlaintext"
        };
        let n = match (int_of(m, "NumberOfBytes"), str_of(m, "KeySpec")) {
            (Some(n), None) => n as usize,
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            _ => {
                return Err(validation(
                    "Please specify either number of bytes or key spec.",
                ));
            }
        };
        no_recipient(m)?;
        let (k, v) = self.data_key_key(p, m, op)?;
        dry_run(m)?;
        let key = crypto::random_bytes(n);
        let (b, mat) = encrypt_with(
            &k,
            "SYMMETRIC_DEFAULT",
            &context_of(m, "EncryptionContext"),
            &key,
        )?;
        let mut out = json!({ "CiphertextBlob": b64(&b), "KeyId": k.arn(p) });
        if plain {
            out["Plaintext"] = b64(&key);
        }
        if let Some(id) = mat {
            out["KeyMaterialId"] = json!(id);
        }
        ok(out, v)
    }

    pub(crate) fn generate_data_key_pair(
        &self,
        p: &Partition,
        m: &Input,
        plain: bool,
    ) -> Result<Output, AwsError> {
        let op = if plain {
            "GenerateDataKeyPair"
        } else {
            "GenerateDataKeyPairWithoutPlaintext"
        };
        let spec_name = req(m, "KeyPairSpec")?;
        let spec = Spec::parse(spec_name)
            .filter(|s| s.is_asymmetric())
            .ok_or_else(|| {
                err(
                    "UnsupportedOperationException",
                    format!("KeyPairSpec {spec_name} is not supported by this emulator's KMS."),
                )
            })?;
        no_recipient(m)?;
        let (k, v) = self.data_key_key(p, m, op)?;
        dry_run(m)?;
        let private = crypto::generate(spec).map_err(internal)?;
        let public = crypto::public_der(spec, &private).map_err(internal)?;
        let (b, mat) = encrypt_with(
            &k,
            "SYMMETRIC_DEFAULT",
            &context_of(m, "EncryptionContext"),
            &private,
        )?;
        let mut out = json!({
            "PrivateKeyCiphertextBlob": b64(&b),
            "PublicKey": b64(&public),
            "KeyId": k.arn(p),
            "KeyPairSpec": spec_name,
        });
        if plain {
            out["PrivateKeyPlaintext"] = b64(&private);
        }
        if let Some(id) = mat {
            out["KeyMaterialId"] = json!(id);
        }
        ok(out, v)
    }

    pub(crate) fn generate_random(&self, m: &Input) -> Result<Output, AwsError> {
        no_recipient(m)?;
        if let Some(id) = str_of(m, "CustomKeyStoreId") {
            return Err(err(
                "CustomKeyStoreNotFoundException",
                format!("Custom key store {id} does not exist."),
            ));
        }
        let n = int_of(m, "NumberOfBytes").unwrap_or(32).clamp(1, 1024) as usize;
        ok(json!({ "Plaintext": b64(&crypto::random_bytes(n)) }), None)
    }

    /// The key, algorithm and digest of a Sign or Verify request.
    fn signing(
        &self,
        p: &Partition,
        m: &Input,
        op: &str,
    ) -> Result<(KeyRec, Spec, String, Vec<u8>), AwsError> {
        let message = req_blob(m, "Message", MAX_PLAINTEXT)?;
        let alg = req(m, "SigningAlgorithm")?.to_string();
        let snap = self.store.snapshot();
        let k = find_key(&snap, p, req(m, "KeyId")?, self.now_ms())?;
        let spec = ready(p, &k, "SIGN_VERIFY", op)?;
        available(&snap, p, &k, self.now_ms())?;
        if !spec.signing_algorithms().contains(&alg.as_str()) {
            return Err(incompatible(&alg, &k));
        }
        let digest = match str_of(m, "MessageType").unwrap_or("RAW") {
            // Pure Ed25519 signs the message itself.
            "RAW" if alg == crate::ed25519::PURE => message,
            "DIGEST" if alg == crate::ed25519::PURE => {
                return Err(validation(format!(
                    "MessageType DIGEST is not valid for algorithm {alg}: use RAW."
                )));
            }
            "RAW" => crypto::digest(&alg, &message),
            "DIGEST" => {
                if message.len() != crypto::digest_len(&alg) {
                    return Err(validation(format!(
                        "Digest is invalid length for algorithm {alg}."
                    )));
                }
                message
            }
            other => {
                return Err(validation(format!(
                    "MessageType {other} is not valid for algorithm {alg}."
                )));
            }
        };
        Ok((k, spec, alg, digest))
    }

    pub(crate) fn sign(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let (k, spec, alg, digest) = self.signing(p, m, "Sign")?;
        dry_run(m)?;
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        let sig = crypto::sign(spec, &mat.secret.0, &alg, &digest).map_err(internal)?;
        ok(
            json!({ "KeyId": k.arn(p), "Signature": b64(&sig), "SigningAlgorithm": alg }),
            None,
        )
    }

    pub(crate) fn verify(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let sig = req_blob(m, "Signature", MAX_CIPHERTEXT)?;
        let (k, spec, alg, digest) = self.signing(p, m, "Verify")?;
        dry_run(m)?;
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        if !crypto::verify(spec, &mat.secret.0, &alg, &digest, &sig) {
            return Err(err("KMSInvalidSignatureException", ""));
        }
        ok(
            json!({ "KeyId": k.arn(p), "SignatureValid": true, "SigningAlgorithm": alg }),
            None,
        )
    }

    pub(crate) fn get_public_key(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let k = find_key(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        usable(p, &k)?;
        let spec = spec_of(&k)?;
        if !spec.is_asymmetric() {
            return Err(err(
                "UnsupportedOperationException",
                format!(
                    "{} key usage or key spec does not support GetPublicKey.",
                    k.arn(p)
                ),
            ));
        }
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        let public = crypto::public_der(spec, &mat.secret.0).map_err(internal)?;
        let mut out = json!({
            "KeyId": k.arn(p),
            "PublicKey": b64(&public),
            "CustomerMasterKeySpec": k.spec,
            "KeySpec": k.spec,
            "KeyUsage": k.usage,
        });
        if k.usage == "ENCRYPT_DECRYPT" {
            out["EncryptionAlgorithms"] = json!(spec.encryption_algorithms());
        } else if k.usage == "KEY_AGREEMENT" {
            out["KeyAgreementAlgorithms"] = json!(["ECDH"]);
        } else {
            out["SigningAlgorithms"] = json!(spec.signing_algorithms());
        }
        ok(out, None)
    }

    fn mac_key(
        &self,
        p: &Partition,
        m: &Input,
        op: &str,
    ) -> Result<(KeyRec, String, Vec<u8>), AwsError> {
        let message = req_blob(m, "Message", MAX_PLAINTEXT)?;
        let alg = req(m, "MacAlgorithm")?.to_string();
        let snap = self.store.snapshot();
        let k = find_key(&snap, p, req(m, "KeyId")?, self.now_ms())?;
        let spec = ready(p, &k, "GENERATE_VERIFY_MAC", op)?;
        available(&snap, p, &k, self.now_ms())?;
        if !spec.mac_algorithms().contains(&alg.as_str()) {
            return Err(incompatible(&alg, &k));
        }
        Ok((k, alg, message))
    }

    pub(crate) fn generate_mac(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let (k, alg, message) = self.mac_key(p, m, "GenerateMac")?;
        dry_run(m)?;
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        let mac = crypto::mac(&alg, &mat.secret.0, &message)
            .ok_or_else(|| internal("HMAC failed".into()))?;
        ok(
            json!({ "KeyId": k.arn(p), "Mac": b64(&mac), "MacAlgorithm": alg }),
            None,
        )
    }

    pub(crate) fn verify_mac(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let tag = req_blob(m, "Mac", MAX_CIPHERTEXT)?;
        let (k, alg, message) = self.mac_key(p, m, "VerifyMac")?;
        dry_run(m)?;
        let (_, mat) = k
            .current()
            .ok_or_else(|| internal("key has no material".into()))?;
        if !crypto::mac_verify(&alg, &mat.secret.0, &message, &tag) {
            return Err(err("KMSInvalidMacException", ""));
        }
        ok(
            json!({ "KeyId": k.arn(p), "MacValid": true, "MacAlgorithm": alg }),
            None,
        )
    }
}

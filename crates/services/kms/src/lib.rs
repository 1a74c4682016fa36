//! AWS KMS (JSON 1.1, `X-Amz-Target: TrentService.<Op>`) with real cryptography.
//!
//! Keys, aliases, grants and custom key stores are records of the `kms` store (see
//! [`model`]); key material lives inside the key's record, so the engine persists it like any
//! other state and a restart keeps every key able to decrypt what it produced. Material is
//! never logged (the records' `Debug` hides it).
//!
//! Cryptography is RustCrypto's: `aes-gcm` (symmetric keys), `rsa` (OAEP encryption, PSS and
//! PKCS#1 v1.5 signatures), `p256`/`p384`/`p521`/`k256` (ECDSA), `ed25519-dalek` (Ed25519 and
//! Ed25519ph), `hmac` + `sha2` (MACs), `aes-kw` (imported key material),
//! `pkcs8`/`spki` (DER encodings) and `getrandom` (the operating system's generator).
//!
//! # The symmetric ciphertext blob (format 1)
//!
//! `Encrypt`, `GenerateDataKey*` and `ReEncrypt` with a symmetric key return a blob that names
//! its key and the version of the key material that sealed it, so `Decrypt` needs no `KeyId`:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | format version, `0x01` |
//! | 1 | 1 | `n`, the length of the key id (1..=64) |
//! | 2 | `n` | the key id (ASCII, the key's UUID) |
//! | 2+n | 4 | the key material version, big-endian (0 = the key's first material) |
//! | 6+n | 12 | the AES-GCM nonce (random) |
//! | 18+n | rest | AES-256-GCM ciphertext followed by its 16-byte tag |
//!
//! The additional authenticated data is the blob's header (bytes `0..18+n`) followed by the
//! encryption context in canonical form: its pairs sorted by key, each as a 4-byte big-endian
//! length and the key's UTF-8 bytes, then the same for the value. A changed header, context or
//! ciphertext fails authentication (`InvalidCiphertextException`). Blobs shorter than the header
//! plus a tag, or with another version byte, are refused by [`blob::parse`], which never panics.
//!
//! Asymmetric ciphertexts (`RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`) are plain RSA-OAEP outputs,
//! as AWS's are, so a client can make them with the public key alone; their `Decrypt` needs the
//! `KeyId`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use snapstack_engine::{Partition, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext};

pub mod blob;
pub mod crypto;
pub mod ed25519;
mod grants;
mod import;
mod input;
mod keys;
pub mod model;
mod multi_region;
mod names;
mod operations;
mod policy;
mod rotation;
mod service;
mod stores;
mod sweep;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crypto;
#[cfg(test)]
mod tests_more;
mod usage;

pub use model::*;

pub const NAME: &str = "kms";

/// The time source: epoch milliseconds. Tests substitute their own.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// The KMS service.
pub struct Kms {
    pub store: Arc<Store<KmsRecord>>,
    clock: Clock,
    /// The live last use of each key (persisted by the sweeper, see `usage.rs`).
    last_uses: usage::LastUses,
}

impl Default for Kms {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn ok(v: Value, write_version: Option<u64>) -> Result<Output, AwsError> {
    Ok(Output::write(v, write_version))
}

/// Epoch seconds as the JSON protocol sends timestamps.
pub(crate) fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn err(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(code, message)
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    err("NotFoundException", message)
}

pub(crate) fn validation(message: impl Into<String>) -> AwsError {
    AwsError::validation(message)
}

impl Kms {
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    pub fn with_clock(clock: Clock) -> Self {
        Kms {
            store: Store::new(NAME),
            clock,
            last_uses: Default::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// Handle one operation on its (already parsed and model-validated) JSON input.
    pub fn handle(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Output, AwsError> {
        let out = self.dispatch(ctx, op, v)?;
        self.note_use(&ctx.partition, op, &ctx.request_id, &out.value);
        Ok(out)
    }

    fn dispatch(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Output, AwsError> {
        let empty = Map::new();
        let m = v.as_object().unwrap_or(&empty);
        let p = &ctx.partition;
        grants::check_grant_tokens(m)?;
        match op {
            "CreateKey" => self.create_key(p, m),
            "DescribeKey" => self.describe_key(p, m),
            "ListKeys" => self.list_keys(p, m),
            "EnableKey" => self.set_enabled(p, m, true),
            "DisableKey" => self.set_enabled(p, m, false),
            "ScheduleKeyDeletion" => self.schedule_key_deletion(p, m),
            "CancelKeyDeletion" => self.cancel_key_deletion(p, m),
            "UpdateKeyDescription" => self.update_key_description(p, m),
            "CreateAlias" => self.create_alias(p, m),
            "UpdateAlias" => self.update_alias(p, m),
            "DeleteAlias" => self.delete_alias(p, m),
            "ListAliases" => self.list_aliases(p, m),
            "TagResource" => self.tag_resource(p, m),
            "UntagResource" => self.untag_resource(p, m),
            "ListResourceTags" => self.list_resource_tags(p, m),
            "GetKeyPolicy" => self.get_key_policy(p, m),
            "PutKeyPolicy" => self.put_key_policy(p, m),
            "ListKeyPolicies" => self.list_key_policies(p, m),
            "CreateGrant" => self.create_grant(p, m),
            "ListGrants" => self.list_grants(p, m),
            "ListRetirableGrants" => self.list_retirable_grants(p, m),
            "RetireGrant" => self.retire_grant(p, m),
            "RevokeGrant" => self.revoke_grant(p, m),
            "EnableKeyRotation" => self.enable_key_rotation(p, m),
            "DisableKeyRotation" => self.disable_key_rotation(p, m),
            "GetKeyRotationStatus" => self.get_key_rotation_status(p, m),
            "RotateKeyOnDemand" => self.rotate_key_on_demand(p, m),
            "ListKeyRotations" => self.list_key_rotations(p, m),
            "Encrypt" => self.encrypt(p, m),
            "Decrypt" => self.decrypt(p, m),
            "ReEncrypt" => self.re_encrypt(p, m),
            "GenerateDataKey" => self.generate_data_key(p, m, true),
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key(p, m, false),
            "GenerateDataKeyPair" => self.generate_data_key_pair(p, m, true),
            "GenerateDataKeyPairWithoutPlaintext" => self.generate_data_key_pair(p, m, false),
            "GenerateRandom" => self.generate_random(m),
            "Sign" => self.sign(p, m),
            "Verify" => self.verify(p, m),
            "GetPublicKey" => self.get_public_key(p, m),
            "GenerateMac" => self.generate_mac(p, m),
            "VerifyMac" => self.verify_mac(p, m),
            "GetParametersForImport" => self.get_parameters_for_import(p, m),
            "ImportKeyMaterial" => self.import_key_material(p, m),
            "DeleteImportedKeyMaterial" => self.delete_imported_key_material(p, m),
            "CreateCustomKeyStore" => self.create_custom_key_store(p, m),
            "DescribeCustomKeyStores" => self.describe_custom_key_stores(p, m),
            "UpdateCustomKeyStore" => self.update_custom_key_store(p, m),
            "DeleteCustomKeyStore" => self.delete_custom_key_store(p, m),
            "ConnectCustomKeyStore" => self.connect_custom_key_store(p, m),
            "DisconnectCustomKeyStore" => self.disconnect_custom_key_store(p, m),
            "ReplicateKey" => self.replicate_key(p, m),
            "UpdatePrimaryRegion" => self.update_primary_region(p, m),
            "DeriveSharedSecret" => self.derive_shared_secret(p, m),
            "GetKeyLastUsage" => self.get_key_last_usage(p, m),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("KMS", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's KMS."),
            )),
        }
    }
}

/// The partition's ARN prefix: `arn:aws:kms:<region>:<account>:`.
pub(crate) fn arn_prefix(p: &Partition) -> String {
    format!("arn:aws:kms:{}:{}:", p.region, p.account)
}

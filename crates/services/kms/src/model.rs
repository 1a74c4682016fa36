//! KMS records: keys (with their material), aliases, grants, custom key stores.
//!
//! Encoded with postcard (docs/FORMAT.md): append new variants at the end of an enum, never
//! reorder, never change a struct's fields.

use std::fmt;

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Partition, Record};

/// One record of the KMS store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // records live behind an Arc in the store
pub enum KmsRecord {
    Key(KeyRec),
    Alias(AliasRec),
    Grant(GrantRec),
    /// What a key has beyond [`KeyRec`] (imports, custom key store, Multi-Region, last use).
    KeyExt(KeyExt),
    /// A custom key store.
    KeyStore(KeyStoreRec),
}

impl Record for KmsRecord {}

/// A key's state (`KeyState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

/// Secret bytes: the raw AES or HMAC key, or a private key's PKCS#8 DER. Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// One version of a key's material (rotation adds one; the last is current).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// A 64-hex-digit id (`KeyMaterialId`).
    pub id: String,
    pub secret: Secret,
    pub created_ms: u64,
    /// `AUTOMATIC` or `ON_DEMAND` for a rotation's material; `None` for the first.
    pub rotation: Option<String>,
}

/// A KMS key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRec {
    pub id: String,
    pub created_ms: u64,
    pub description: String,
    /// `KeySpec` (`SYMMETRIC_DEFAULT`, `RSA_2048`, ..., `HMAC_512`).
    pub spec: String,
    /// `KeyUsage` (`ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`).
    pub usage: String,
    /// `Origin` (`AWS_KMS`, `EXTERNAL`).
    pub origin: String,
    /// `KeyManager` (`CUSTOMER`, `AWS`).
    pub manager: String,
    pub state: KeyState,
    /// The absolute deadline of a scheduled deletion.
    pub deletion_ms: Option<u64>,
    pub policy: String,
    pub tags: Vec<(String, String)>,
    pub multi_region: bool,
    pub rotation_enabled: bool,
    pub rotation_period_days: u32,
    /// The absolute deadline of the next automatic rotation.
    pub next_rotation_ms: Option<u64>,
    pub materials: Vec<Material>,
}

impl KeyRec {
    pub fn arn(&self, p: &Partition) -> String {
        format!("{}key/{}", crate::arn_prefix(p), self.id)
    }

    pub fn current(&self) -> Option<(u32, &Material)> {
        let i = self.materials.len().checked_sub(1)?;
        Some((i as u32, &self.materials[i]))
    }
}

/// An alias (`alias/<name>`) naming a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasRec {
    pub name: String,
    pub target: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// A grant on a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantRec {
    pub id: String,
    pub key_id: String,
    pub token: String,
    pub name: Option<String>,
    pub grantee: String,
    pub retiring: Option<String>,
    pub operations: Vec<String>,
    /// The `Constraints` member as JSON text, if any.
    pub constraints: Option<String>,
    pub created_ms: u64,
}

/// The parameters of a key's last `GetParametersForImport`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportParams {
    /// The import token handed out (random; `ImportKeyMaterial` must bring it back).
    pub token: Vec<u8>,
    /// `WrappingAlgorithm` (`RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_256`, ...).
    pub algorithm: String,
    /// `WrappingKeySpec` (`RSA_2048`, ...).
    pub wrapping_spec: String,
    /// The wrapping key's private PKCS#8 DER.
    pub wrapping_key: Secret,
    /// The absolute deadline of the token and the wrapping key (24 hours).
    pub expires_ms: u64,
}

/// The last cryptographic use of a key (`GetKeyLastUsage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastUse {
    pub at_ms: u64,
    pub operation: String,
    pub request_id: String,
}

/// What a key has beyond [`KeyRec`], in a record of its own (`x`/key id) so that `KeyRec`
/// keeps its encoding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyExt {
    pub id: String,
    /// Imported material that expires: the absolute deadline (`ValidTo`).
    pub valid_to_ms: Option<u64>,
    /// The id of the material imported first: a re-import must bring the same material.
    pub imported_material_id: Option<String>,
    pub import: Option<ImportParams>,
    pub custom_key_store_id: Option<String>,
    pub cloud_hsm_cluster_id: Option<String>,
    pub xks_key_id: Option<String>,
    /// A Multi-Region key: the primary's region and the replicas' regions (on every one of
    /// the related keys).
    pub mr_primary_region: Option<String>,
    pub mr_replica_regions: Vec<String>,
    /// Persisted at most once a day per key (the live value is kept in memory).
    pub last_used: Option<LastUse>,
    /// When last-use tracking began for this key.
    pub tracking_start_ms: Option<u64>,
}

/// An external key store proxy's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XksConfig {
    pub uri_endpoint: String,
    pub uri_path: String,
    pub connectivity: String,
    pub vpc_service_name: Option<String>,
    pub vpc_service_owner: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// A custom key store (`CreateCustomKeyStore`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyStoreRec {
    pub id: String,
    pub name: String,
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    pub kind: String,
    pub cluster_id: Option<String>,
    pub trust_anchor: Option<String>,
    pub password: Option<Secret>,
    pub xks: Option<XksConfig>,
    /// `DISCONNECTED`, `CONNECTING`, `CONNECTED`, `DISCONNECTING`, `FAILED`.
    pub state: String,
    /// While `CONNECTING`: the absolute deadline at which the store is `CONNECTED`.
    pub connected_at_ms: Option<u64>,
    pub created_ms: u64,
}

impl KeyStoreRec {
    /// The connection state at `now` (a `CONNECTING` store whose deadline passed is connected,
    /// before the sweeper records it).
    pub fn state_at(&self, now: u64) -> &str {
        if self.state == "CONNECTING" && self.connected_at_ms.is_some_and(|d| d <= now) {
            "CONNECTED"
        } else {
            &self.state
        }
    }
}

pub mod rk {
    use super::*;

    pub fn key(p: &Partition, id: &str) -> Key {
        p.key().str("k").str(id).build()
    }

    pub fn keys(p: &Partition) -> Key {
        p.key().str("k").build()
    }

    pub fn alias(p: &Partition, name: &str) -> Key {
        p.key().str("a").str(name).build()
    }

    pub fn aliases(p: &Partition) -> Key {
        p.key().str("a").build()
    }

    pub fn grant(p: &Partition, key_id: &str, grant_id: &str) -> Key {
        p.key().str("g").str(key_id).str(grant_id).build()
    }

    pub fn grants_of(p: &Partition, key_id: &str) -> Key {
        p.key().str("g").str(key_id).build()
    }

    pub fn grants(p: &Partition) -> Key {
        p.key().str("g").build()
    }

    pub fn ext(p: &Partition, key_id: &str) -> Key {
        p.key().str("x").str(key_id).build()
    }

    pub fn exts(p: &Partition) -> Key {
        p.key().str("x").build()
    }

    pub fn store(p: &Partition, id: &str) -> Key {
        p.key().str("c").str(id).build()
    }

    pub fn stores(p: &Partition) -> Key {
        p.key().str("c").build()
    }
}

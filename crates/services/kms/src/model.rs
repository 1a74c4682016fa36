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
}

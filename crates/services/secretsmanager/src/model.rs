//! Secrets Manager records: a secret with its metadata and versions (one record a secret), and
//! how a `SecretId` (name, full ARN or partial ARN) finds one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use snapstack_engine::{Key, Partition, Record, Snapshot};

use crate::date;

/// One record of the Secrets Manager store. Append new variants at the end; never reorder
/// (docs/FORMAT.md, "Record types").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // records live behind an Arc in the store
pub enum SmRecord {
    Secret(Secret),
    /// The next scheduled rotation of a secret (`r`/name).
    Rotation(RotationSchedule),
}

/// A secret's scheduled rotation: an absolute deadline the sweeper acts on, so a restart
/// neither skips nor repeats it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RotationSchedule {
    pub name: String,
    /// When the next rotation is due (epoch milliseconds).
    pub due_ms: u64,
    /// The last scheduled attempt, if any: when, and the error if it failed.
    pub last_attempt_ms: Option<u64>,
    pub last_error: Option<String>,
}

pub(crate) fn schedule_key(p: &Partition, name: &str) -> Key {
    p.key().str("r").str(name).build()
}

impl Record for SmRecord {}

/// The rotation rules as given (`RotationRules`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RotationRules {
    pub after_days: Option<i64>,
    pub duration: Option<String>,
    pub schedule: Option<String>,
}

/// A replica region as recorded (`ReplicationStatus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    pub kms_key_id: Option<String>,
    pub status: String,
    pub message: String,
}

/// One version of a secret: its value sealed under a data key that KMS encrypted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created_ms: u64,
    /// The day (epoch milliseconds at midnight UTC) the version was last read.
    pub accessed_day_ms: Option<u64>,
    /// The ARN of the KMS key that encrypted the data key.
    pub key_arn: String,
    /// The data key as KMS encrypted it (a `CiphertextBlob`).
    pub data_key: Vec<u8>,
    /// The AES-256-GCM nonce (12 bytes) followed by the sealed value and its tag.
    pub sealed: Vec<u8>,
    /// Whether the value is `SecretBinary` (else `SecretString`).
    pub binary: bool,
}

/// A secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    /// The KMS key as the client named it; `None`: the account's default key.
    pub kms_key_id: Option<String>,
    /// `Type` as given.
    pub kind: Option<String>,
    pub created_ms: u64,
    pub changed_ms: u64,
    pub accessed_day_ms: Option<u64>,
    /// When `DeleteSecret` was called.
    pub deleted_ms: Option<u64>,
    /// The absolute deadline after which the secret is gone.
    pub deletion_ms: Option<u64>,
    pub tags: Vec<(String, String)>,
    pub policy: Option<String>,
    pub rotation_enabled: bool,
    pub rotation_lambda: Option<String>,
    pub rotation_rules: Option<RotationRules>,
    pub rotated_ms: Option<u64>,
    pub external_rotation_role: Option<String>,
    pub external_rotation_metadata: Vec<(String, String)>,
    pub replicas: Vec<Replica>,
    /// The region of the primary secret, when this secret is a replica.
    pub primary_region: Option<String>,
    pub owning_service: Option<String>,
    /// Oldest first.
    pub versions: Vec<Version>,
}

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
pub const PENDING: &str = "AWSPENDING";

pub(crate) fn secret_key(p: &Partition, name: &str) -> Key {
    p.key().str("s").str(name).build()
}

pub(crate) fn secrets_prefix(p: &Partition) -> Key {
    p.key().str("s").build()
}

impl Secret {
    /// Whether the secret is scheduled for deletion (and its deadline not yet passed).
    pub fn is_deleted(&self) -> bool {
        self.deletion_ms.is_some()
    }

    /// Whether the deletion deadline has passed: the secret no longer exists.
    pub fn is_gone(&self, now: u64) -> bool {
        self.deletion_ms.is_some_and(|d| d <= now)
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn staged(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// The versions that carry labels, as `VersionIdsToStages` lists them.
    pub fn stages_map(&self) -> Value {
        let mut m = Map::new();
        for v in self.versions.iter().filter(|v| !v.stages.is_empty()) {
            m.insert(v.id.clone(), json!(v.stages));
        }
        Value::Object(m)
    }

    pub fn tags_json(&self) -> Value {
        json!(
            self.tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect::<Vec<_>>()
        )
    }

    pub fn replication_json(&self) -> Value {
        json!(
            self.replicas
                .iter()
                .map(|r| {
                    let mut o = json!({"Region": r.region, "Status": r.status,
                        "StatusMessage": r.message});
                    if let Some(k) = &r.kms_key_id {
                        o["KmsKeyId"] = json!(k);
                    }
                    o
                })
                .collect::<Vec<_>>()
        )
    }

    pub fn rotation_rules_json(&self) -> Option<Value> {
        let r = self.rotation_rules.as_ref()?;
        let mut o = json!({});
        if let Some(d) = r.after_days {
            o["AutomaticallyAfterDays"] = json!(d);
        }
        if let Some(d) = &r.duration {
            o["Duration"] = json!(d);
        }
        if let Some(s) = &r.schedule {
            o["ScheduleExpression"] = json!(s);
        }
        Some(o)
    }

    /// The next rotation: the last rotation (or creation) plus the rotation interval, for
    /// rules with `AutomaticallyAfterDays`.
    pub fn next_rotation_ms(&self) -> Option<u64> {
        if !self.rotation_enabled {
            return None;
        }
        let days = self.rotation_rules.as_ref()?.after_days?;
        let from = self.rotated_ms.unwrap_or(self.created_ms);
        Some(from.saturating_add((days.max(0) as u64).saturating_mul(crate::DAY_MS)))
    }

    /// What `DescribeSecret` (`versions_key` = `VersionIdsToStages`) and `ListSecrets`
    /// (`SecretVersionsToStages`) say of a secret.
    pub fn describe(&self, versions_key: &str) -> Value {
        let mut o = json!({
            "ARN": self.arn,
            "Name": self.name,
            "CreatedDate": date(self.created_ms),
            "LastChangedDate": date(self.changed_ms),
            "RotationEnabled": self.rotation_enabled,
        });
        if let Some(d) = &self.description {
            o["Description"] = json!(d);
        }
        if let Some(k) = &self.kms_key_id {
            o["KmsKeyId"] = json!(k);
        }
        if let Some(k) = &self.kind {
            o["Type"] = json!(k);
        }
        if let Some(d) = self.accessed_day_ms {
            o["LastAccessedDate"] = date(d);
        }
        if let Some(d) = self.deleted_ms {
            o["DeletedDate"] = date(d);
        }
        if let Some(l) = &self.rotation_lambda {
            o["RotationLambdaARN"] = json!(l);
        }
        if let Some(r) = self.rotation_rules_json() {
            o["RotationRules"] = r;
        }
        if let Some(d) = self.rotated_ms {
            o["LastRotatedDate"] = date(d);
        }
        if let Some(d) = self.next_rotation_ms() {
            o["NextRotationDate"] = date(d);
        }
        if let Some(r) = &self.external_rotation_role {
            o["ExternalSecretRotationRoleArn"] = json!(r);
        }
        if !self.external_rotation_metadata.is_empty() {
            o["ExternalSecretRotationMetadata"] = json!(
                self.external_rotation_metadata
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect::<Vec<_>>()
            );
        }
        if !self.tags.is_empty() {
            o["Tags"] = self.tags_json();
        }
        if !self.replicas.is_empty() {
            o["ReplicationStatus"] = self.replication_json();
        }
        if let Some(r) = &self.primary_region {
            o["PrimaryRegion"] = json!(r);
        }
        if let Some(s) = &self.owning_service {
            o["OwningService"] = json!(s);
        }
        o[versions_key] = self.stages_map();
        o
    }
}

/// Find a secret by name, full ARN or partial ARN (the ARN without its six random
/// characters). A secret whose deletion deadline has passed is not found.
pub(crate) fn find(
    snap: &Snapshot<SmRecord>,
    p: &Partition,
    id: &str,
    now: u64,
) -> Option<(Key, Secret)> {
    find_in(|k| snap.get(k), p, id, now)
}

/// [`find`] over any view of the store (a snapshot, a write transaction).
pub(crate) fn find_in<'a>(
    lookup: impl Fn(&Key) -> Option<&'a SmRecord>,
    p: &Partition,
    id: &str,
    now: u64,
) -> Option<(Key, Secret)> {
    let get = |name: &str| {
        let k = secret_key(p, name);
        match lookup(&k) {
            Some(SmRecord::Secret(s)) if !s.is_gone(now) => Some((k, s.clone())),
            _ => None,
        }
    };
    if let Some(rest) = id.strip_prefix("arn:") {
        let (_, name) = rest.split_once(":secret:")?;
        // A full ARN: the name, a hyphen and six characters.
        if name.len() > 7 && name.is_char_boundary(name.len() - 7) {
            let base = &name[..name.len() - 7];
            if let Some(found) = get(base).filter(|(_, s)| s.arn == id) {
                return Some(found);
            }
        }
        // A partial ARN: the ARN up to the name.
        return get(name).filter(|(_, s)| s.arn.len() == id.len() + 7 && s.arn.starts_with(id));
    }
    get(id)
}

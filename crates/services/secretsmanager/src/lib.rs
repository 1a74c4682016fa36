//! AWS Secrets Manager (JSON 1.1, `X-Amz-Target: secretsmanager.<Op>`).
//!
//! One record per secret, keyed by partition and name; the record holds the secret's metadata and
//! its versions. A version's value is never stored in plain text: it is sealed with AES-256-GCM
//! under a fresh data key, and the data key is encrypted by KMS (through [`Runtime::invoke`])
//! with the secret's key, under the encryption context AWS uses (`SecretARN`, `SecretVersionId`).
//! Reading a value asks KMS to decrypt the data key, so a disabled or deleted key makes
//! `GetSecretValue` fail as in AWS.
//!
//! A secret scheduled for deletion holds its deadline (epoch milliseconds) in its record: every
//! lookup treats a passed deadline as deleted, and a sweeper removes due records.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use snapstack_engine::Store;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext, Runtime};

mod extras;
mod kms;
mod list;
mod model;
mod password;
mod rotation;
mod secrets;
mod service;
mod stages;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;

pub use self::model::*;

pub const NAME: &str = "secretsmanager";
/// The account's default key for secrets, created on first use.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/secretsmanager";
const MAX_VERSIONS: usize = 100;
const MAX_TAGS: usize = 50;
const MAX_STAGES: usize = 20;
const DAY_MS: u64 = 86_400_000;

/// The Secrets Manager service.
pub struct SecretsManager {
    pub store: Arc<Store<SmRecord>>,
    /// Serializes the creation of an account's default key (one key, one alias).
    default_key: tokio::sync::Mutex<()>,
    /// A clock override for tests (epoch milliseconds; 0: the system clock).
    clock: std::sync::atomic::AtomicU64,
}

impl Default for SecretsManager {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Epoch seconds as JSON 1.1 timestamps are written.
pub(crate) fn date(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Random bytes from the operating system's generator.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    if getrandom::fill(&mut b).is_err() {
        // No OS generator: fall back to hashing the clock with a random-seeded hasher.
        use std::hash::{BuildHasher, Hasher};
        for (i, x) in b.iter_mut().enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(system_ms() ^ i as u64);
            *x = h.finish() as u8;
        }
    }
    b
}

/// A random (version 4) UUID, as AWS gives version ids.
pub(crate) fn uuid4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn ok(v: Value, write_version: Option<u64>) -> Result<Output, AwsError> {
    Ok(Output::write(v, write_version))
}

pub(crate) fn not_found() -> AwsError {
    AwsError::new(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

pub(crate) fn marked_for_deletion() -> AwsError {
    AwsError::new(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

pub(crate) fn invalid_parameter(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterException", message)
}

pub(crate) fn invalid_request(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidRequestException", message)
}

/// Input accessors over the parsed JSON body.
pub(crate) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

pub(crate) fn flag(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

pub(crate) fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

impl SecretsManager {
    pub fn new() -> Self {
        SecretsManager {
            store: Store::new(NAME),
            default_key: tokio::sync::Mutex::new(()),
            clock: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The current time in epoch milliseconds.
    pub fn now_ms(&self) -> u64 {
        match self.clock.load(std::sync::atomic::Ordering::Relaxed) {
            0 => system_ms(),
            t => t,
        }
    }

    /// Set the clock (tests): `0` returns to the system clock.
    pub fn set_clock(&self, ms: u64) {
        self.clock.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Handle one operation with its input already parsed (and validated against the model).
    pub async fn handle(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        v: &Value,
    ) -> Result<Output, AwsError> {
        match op {
            "CreateSecret" => self.create_secret(rt, ctx, v).await,
            "GetSecretValue" => self.get_secret_value(rt, ctx, v).await,
            "BatchGetSecretValue" => self.batch_get_secret_value(rt, ctx, v).await,
            "PutSecretValue" => self.put_secret_value(rt, ctx, v).await,
            "UpdateSecret" => self.update_secret(rt, ctx, v).await,
            "DescribeSecret" => self.describe_secret(ctx, v),
            "ListSecrets" => self.list_secrets(ctx, v),
            "ListSecretVersionIds" => self.list_secret_version_ids(ctx, v),
            "UpdateSecretVersionStage" => self.update_secret_version_stage(ctx, v),
            "DeleteSecret" => self.delete_secret(ctx, v),
            "RestoreSecret" => self.restore_secret(ctx, v),
            "GetRandomPassword" => password::get_random_password(v),
            "TagResource" => self.tag_resource(ctx, v),
            "UntagResource" => self.untag_resource(ctx, v),
            "PutResourcePolicy" => self.put_resource_policy(ctx, v),
            "GetResourcePolicy" => self.get_resource_policy(ctx, v),
            "DeleteResourcePolicy" => self.delete_resource_policy(ctx, v),
            "ValidateResourcePolicy" => self.validate_resource_policy(ctx, v),
            "RotateSecret" => self.rotate_secret(rt, ctx, v).await,
            "CancelRotateSecret" => self.cancel_rotate_secret(ctx, v),
            "ReplicateSecretToRegions" => self.replicate_secret_to_regions(ctx, v),
            "RemoveRegionsFromReplication" => self.remove_regions_from_replication(ctx, v),
            "StopReplicationToReplica" => self.stop_replication_to_replica(ctx, v),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("Secrets Manager", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's Secrets Manager."),
            )),
        }
    }
}

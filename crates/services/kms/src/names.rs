//! Naming keys: key ids, key ARNs, alias names and alias ARNs; finding the key a request names,
//! and the state checks AWS applies before a key is used.

use snapstack_engine::{Partition, Snapshot, Txn};
use snapstack_protocol::errors::AwsError;

use crate::crypto::random_bytes;
use crate::{
    AliasRec, KeyExt, KeyRec, KeyState, KeyStoreRec, KmsRecord, arn_prefix, err, not_found, rk,
};

/// A new key id: a random (version 4) UUID.
pub(crate) fn new_key_id() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub(crate) fn hex_id(n: usize) -> String {
    random_bytes(n).iter().map(|x| format!("{x:02x}")).collect()
}

/// What a `KeyId` member names, once ARNs of this partition are reduced.
pub(crate) enum Named {
    Key(String),
    Alias(String),
}

/// Read a `KeyId` (key id, key ARN, alias name, alias ARN).
pub(crate) fn parse_key_id(p: &Partition, s: &str) -> Result<Named, AwsError> {
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let prefix = arn_prefix(p);
        if parts.len() != 5 || parts[1] != "kms" {
            return Err(not_found(format!("Invalid arn {s}")));
        }
        if !s.starts_with(&prefix) {
            // Another account's or region's key: not visible here.
            return Err(not_found(format!("Key '{s}' does not exist")));
        }
        let res = parts[4];
        if let Some(id) = res.strip_prefix("key/") {
            return Ok(Named::Key(id.to_string()));
        }
        if res.starts_with("alias/") {
            return Ok(Named::Alias(res.to_string()));
        }
        return Err(not_found(format!("Invalid arn {s}")));
    }
    if s.starts_with("alias/") {
        return Ok(Named::Alias(s.to_string()));
    }
    Ok(Named::Key(s.to_string()))
}

pub(crate) fn alias_arn(p: &Partition, name: &str) -> String {
    format!("{}{name}", arn_prefix(p))
}

pub(crate) fn key_missing(p: &Partition, id: &str) -> AwsError {
    not_found(format!("Key '{}key/{id}' does not exist", arn_prefix(p)))
}

fn alias_missing(p: &Partition, name: &str) -> AwsError {
    not_found(format!("Alias '{}' is not found.", alias_arn(p, name)))
}

/// A read view of the store: a snapshot or a write transaction.
pub(crate) trait View {
    fn rec(&self, k: &snapstack_engine::Key) -> Option<&KmsRecord>;
}

impl View for Snapshot<KmsRecord> {
    fn rec(&self, k: &snapstack_engine::Key) -> Option<&KmsRecord> {
        self.get(k)
    }
}

impl View for Txn<'_, KmsRecord> {
    fn rec(&self, k: &snapstack_engine::Key) -> Option<&KmsRecord> {
        self.get(k)
    }
}

pub(crate) fn get_key(v: &impl View, p: &Partition, id: &str) -> Option<KeyRec> {
    match v.rec(&rk::key(p, id)) {
        Some(KmsRecord::Key(k)) => Some(k.clone()),
        _ => None,
    }
}

pub(crate) fn get_alias(v: &impl View, p: &Partition, name: &str) -> Option<AliasRec> {
    match v.rec(&rk::alias(p, name)) {
        Some(KmsRecord::Alias(a)) => Some(a.clone()),
        _ => None,
    }
}

pub(crate) fn get_ext(v: &impl View, p: &Partition, id: &str) -> Option<KeyExt> {
    match v.rec(&rk::ext(p, id)) {
        Some(KmsRecord::KeyExt(x)) => Some(x.clone()),
        _ => None,
    }
}

pub(crate) fn get_store(v: &impl View, p: &Partition, id: &str) -> Option<KeyStoreRec> {
    match v.rec(&rk::store(p, id)) {
        Some(KmsRecord::KeyStore(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Whether a key lives in a custom key store (whose records say more of it).
pub(crate) fn in_custom_store(k: &KeyRec) -> bool {
    matches!(k.origin.as_str(), "AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")
}

/// The state a key shows: `Unavailable` while its custom key store is not connected.
pub(crate) fn shown_state(v: &impl View, p: &Partition, k: &KeyRec, now: u64) -> &'static str {
    if in_custom_store(k)
        && matches!(k.state, KeyState::Enabled | KeyState::Disabled)
        && !store_connected(v, p, k, now)
    {
        return "Unavailable";
    }
    k.state.as_str()
}

fn store_connected(v: &impl View, p: &Partition, k: &KeyRec, now: u64) -> bool {
    get_ext(v, p, &k.id)
        .and_then(|x| x.custom_key_store_id)
        .and_then(|id| get_store(v, p, &id))
        .is_some_and(|s| s.state_at(now) == "CONNECTED")
}

/// A key of a custom key store can be used only while the store is connected; imported
/// material not after its `ValidTo` (even before the sweeper deletes it).
pub(crate) fn available(
    v: &impl View,
    p: &Partition,
    k: &KeyRec,
    now: u64,
) -> Result<(), AwsError> {
    if k.origin == "EXTERNAL"
        && get_ext(v, p, &k.id)
            .and_then(|x| x.valid_to_ms)
            .is_some_and(|t| t <= now)
    {
        return Err(err(
            "KMSInvalidStateException",
            format!("{} is pending import.", k.arn(p)),
        ));
    }
    if in_custom_store(k) && !store_connected(v, p, k, now) {
        return Err(err(
            "KMSInvalidStateException",
            format!("{} is unavailable.", k.arn(p)),
        ));
    }
    Ok(())
}

pub(crate) fn put_ext(txn: &mut Txn<'_, KmsRecord>, p: &Partition, x: KeyExt) {
    txn.insert(rk::ext(p, &x.id.clone()), KmsRecord::KeyExt(x));
}

/// The key a `KeyId` member names (any state), or AWS's `NotFoundException`. A key whose
/// deletion deadline has passed is gone even before the sweeper removes it.
pub(crate) fn find_key(
    v: &impl View,
    p: &Partition,
    key_id: &str,
    now_ms: u64,
) -> Result<KeyRec, AwsError> {
    let id = match parse_key_id(p, key_id)? {
        Named::Key(id) => id,
        Named::Alias(name) => {
            get_alias(v, p, &name)
                .ok_or_else(|| alias_missing(p, &name))?
                .target
        }
    };
    match get_key(v, p, &id) {
        Some(k) if k.deletion_ms.is_none_or(|d| d > now_ms) => Ok(k),
        _ => Err(key_missing(p, &id)),
    }
}

/// Only a key id or key ARN (operations that refuse aliases: tags, policies, grants...).
pub(crate) fn find_key_no_alias(
    v: &impl View,
    p: &Partition,
    key_id: &str,
    now_ms: u64,
) -> Result<KeyRec, AwsError> {
    match parse_key_id(p, key_id)? {
        Named::Key(_) => find_key(v, p, key_id, now_ms),
        Named::Alias(_) => Err(not_found(format!("Invalid keyId '{key_id}'"))),
    }
}

/// The key must be usable for cryptography: enabled.
pub(crate) fn usable(p: &Partition, k: &KeyRec) -> Result<(), AwsError> {
    match k.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(err(
            "DisabledException",
            format!("{} is disabled.", k.arn(p)),
        )),
        KeyState::PendingDeletion => Err(invalid_state(p, k)),
        KeyState::PendingImport => Err(invalid_state(p, k)),
    }
}

/// AWS's `KMSInvalidStateException` for a key in a state that refuses the operation.
pub(crate) fn invalid_state(p: &Partition, k: &KeyRec) -> AwsError {
    let what = match k.state {
        KeyState::PendingDeletion => "pending deletion",
        KeyState::PendingImport => "pending import",
        KeyState::Disabled => "disabled",
        KeyState::Enabled => "enabled",
    };
    err(
        "KMSInvalidStateException",
        format!("{} is {what}.", k.arn(p)),
    )
}

/// Refuse a key pending deletion (management operations that work on disabled keys).
pub(crate) fn not_pending_deletion(p: &Partition, k: &KeyRec) -> Result<(), AwsError> {
    if k.state == KeyState::PendingDeletion {
        return Err(invalid_state(p, k));
    }
    Ok(())
}

/// The key's usage must be `usage` for `op`.
pub(crate) fn usage_is(p: &Partition, k: &KeyRec, usage: &str, op: &str) -> Result<(), AwsError> {
    if k.usage != usage {
        return Err(err(
            "InvalidKeyUsageException",
            format!(
                "{} key usage is {} which is not valid for {op}.",
                k.arn(p),
                k.usage
            ),
        ));
    }
    Ok(())
}

pub(crate) fn put_key(txn: &mut Txn<'_, KmsRecord>, p: &Partition, k: KeyRec) {
    txn.insert(rk::key(p, &k.id), KmsRecord::Key(k));
}

//! Multi-Region keys: CreateKey `MultiRegion` (ids `mrk-…`), ReplicateKey, UpdatePrimaryRegion.
//!
//! Related keys share the key id and the key material; each is a key record in its own
//! Region's partition (the store holds every Region), and each one's extension record names
//! the primary's Region and the replicas' Regions, so `MultiRegionConfiguration` reads the same
//! from any of them. A ciphertext names the key id and the material version, so what one of
//! them encrypted any other decrypts. Rotation is the primary's and reaches the replicas.

use serde_json::json;

use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::input::*;
use crate::keys::{merge_tags, metadata, tags_of};
use crate::names::*;
use crate::policy::default_policy;
use crate::{KeyExt, KeyRec, KeyState, Kms, KmsRecord, err, ok};

fn in_region(p: &Partition, region: &str) -> Partition {
    Partition::new(p.account.clone(), region.to_string())
}

fn unsupported(msg: String) -> AwsError {
    err("UnsupportedOperationException", msg)
}

/// The primary's Region and every related Region (primary first) of a Multi-Region key.
fn family(p: &Partition, x: &KeyExt) -> (String, Vec<String>) {
    let primary = x
        .mr_primary_region
        .clone()
        .unwrap_or_else(|| p.region.clone());
    let mut all = vec![primary.clone()];
    all.extend(x.mr_replica_regions.iter().cloned());
    (primary, all)
}

/// Give every related key the Multi-Region configuration `(primary, replicas)`.
fn set_family(
    txn: &mut Txn<'_, KmsRecord>,
    p: &Partition,
    id: &str,
    primary: &str,
    replicas: &[String],
) {
    for region in std::iter::once(primary.to_string()).chain(replicas.iter().cloned()) {
        let rp = in_region(p, &region);
        let mut x = get_ext(txn, &rp, id).unwrap_or_else(|| KeyExt {
            id: id.to_string(),
            ..KeyExt::default()
        });
        x.mr_primary_region = Some(primary.to_string());
        x.mr_replica_regions = replicas.to_vec();
        put_ext(txn, &rp, x);
    }
}

/// A related key is gone (its deletion deadline passed): the others no longer list it. A
/// deleted primary leaves its replicas without a primary until one is made primary.
pub(crate) fn leave_family(txn: &mut Txn<'_, KmsRecord>, p: &Partition, id: &str) {
    let Some(x) = get_ext(txn, p, id) else {
        return;
    };
    let Some(primary) = x.mr_primary_region.clone() else {
        return;
    };
    if primary == p.region {
        return;
    }
    let replicas: Vec<String> = x
        .mr_replica_regions
        .iter()
        .filter(|r| **r != p.region)
        .cloned()
        .collect();
    for region in std::iter::once(primary.clone()).chain(replicas.iter().cloned()) {
        let rp = in_region(p, &region);
        if let Some(mut other) = get_ext(txn, &rp, id) {
            other.mr_replica_regions = replicas.clone();
            put_ext(txn, &rp, other);
        }
    }
}

/// After the primary's material changed (rotation): the replicas get it too.
pub(crate) fn sync_replicas(txn: &mut Txn<'_, KmsRecord>, p: &Partition, k: &KeyRec) {
    if !k.multi_region || k.origin == "EXTERNAL" {
        return;
    }
    let Some(x) = get_ext(txn, p, &k.id) else {
        return;
    };
    for region in &x.mr_replica_regions {
        let rp = in_region(p, region);
        if let Some(mut r) = get_key(txn, &rp, &k.id) {
            r.materials = k.materials.clone();
            put_key(txn, &rp, r);
        }
    }
}

/// Refuse operations that only the primary key performs (rotation) on a replica.
pub(crate) fn primary_only(
    v: &impl View,
    p: &Partition,
    k: &KeyRec,
    what: &str,
) -> Result<(), AwsError> {
    if k.multi_region
        && let Some(x) = get_ext(v, p, &k.id)
        && x.mr_primary_region
            .as_deref()
            .is_some_and(|r| r != p.region)
    {
        return Err(unsupported(format!(
            "{} is a multi-Region replica key: {what} is performed on its primary key.",
            k.arn(p)
        )));
    }
    Ok(())
}

impl Kms {
    pub(crate) fn replicate_key(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let region = req(m, "ReplicaRegion")?.to_string();
        if let Some(policy) = str_of(m, "Policy") {
            crate::policy::check_policy(policy)?;
        }
        let tags = tags_of(m)?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let k = find_key_no_alias(txn, p, key_id, now)?;
            if !k.multi_region {
                return Err(unsupported(format!(
                    "{} can't be replicated because it is not a multi-Region key.",
                    k.arn(p)
                )));
            }
            not_pending_deletion(p, &k)?;
            let x = get_ext(txn, p, &k.id).unwrap_or_default();
            let (primary, all) = family(p, &x);
            if primary != p.region {
                return Err(unsupported(format!(
                    "{} is not a multi-Region primary key: replicate its primary key in {primary}.",
                    k.arn(p)
                )));
            }
            if region == p.region {
                return Err(crate::validation(format!(
                    "The replica Region {region} must differ from the primary key's Region."
                )));
            }
            let rp = in_region(p, &region);
            if all.contains(&region) || get_key(txn, &rp, &k.id).is_some() {
                return Err(err(
                    "AlreadyExistsException",
                    format!(
                        "arn:aws:kms:{region}:{}:key/{} already exists",
                        p.account, k.id
                    ),
                ));
            }
            let mut replica = k.clone();
            replica.created_ms = now;
            replica.description = str_of(m, "Description").unwrap_or_default().to_string();
            replica.policy = str_of(m, "Policy")
                .map(str::to_string)
                .unwrap_or_else(|| default_policy(&p.account));
            replica.tags = Vec::new();
            merge_tags(&mut replica.tags, tags)?;
            replica.deletion_ms = None;
            // Rotation is the primary's; the replica follows it.
            replica.next_rotation_ms = None;
            if k.origin == "EXTERNAL" {
                // Imported material is imported into each related key.
                replica.materials.clear();
                replica.state = KeyState::PendingImport;
            }
            let mut replicas = x.mr_replica_regions.clone();
            replicas.push(region.clone());
            put_key(txn, &rp, replica.clone());
            put_ext(
                txn,
                &rp,
                KeyExt {
                    id: k.id.clone(),
                    tracking_start_ms: Some(now),
                    ..KeyExt::default()
                },
            );
            set_family(txn, p, &k.id, &primary, &replicas);
            let rx = get_ext(txn, &rp, &k.id);
            Ok(json!({
                "ReplicaKeyMetadata": metadata(&rp, &replica, rx.as_ref(), replica.state.as_str()),
                "ReplicaPolicy": replica.policy,
                "ReplicaTags": replica
                    .tags
                    .iter()
                    .map(|(k, v)| json!({ "TagKey": k, "TagValue": v }))
                    .collect::<Vec<_>>(),
            }))
        });
        ok(r?, Some(v))
    }

    pub(crate) fn update_primary_region(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let key_id = req(m, "KeyId")?;
        let target = req(m, "PrimaryRegion")?.to_string();
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let k = find_key_no_alias(txn, p, key_id, now)?;
            if !k.multi_region {
                return Err(unsupported(format!(
                    "{} is not a multi-Region key.",
                    k.arn(p)
                )));
            }
            not_pending_deletion(p, &k)?;
            let x = get_ext(txn, p, &k.id).unwrap_or_default();
            let (primary, all) = family(p, &x);
            if primary != p.region {
                return Err(unsupported(format!(
                    "{} is not the primary key: call UpdatePrimaryRegion in {primary}.",
                    k.arn(p)
                )));
            }
            if target == primary {
                return Ok(());
            }
            if !all.contains(&target) {
                return Err(crate::not_found(format!(
                    "arn:aws:kms:{target}:{}:key/{} does not exist",
                    p.account, k.id
                )));
            }
            let replicas: Vec<String> = all.into_iter().filter(|r| *r != target).collect();
            set_family(txn, p, &k.id, &target, &replicas);
            // The rotation schedule moves with the primary.
            let np = in_region(p, &target);
            if let Some(mut new_primary) = get_key(txn, &np, &k.id) {
                new_primary.rotation_enabled = k.rotation_enabled;
                new_primary.rotation_period_days = k.rotation_period_days;
                new_primary.next_rotation_ms = k.next_rotation_ms;
                put_key(txn, &np, new_primary);
            }
            let mut old = k;
            old.next_rotation_ms = None;
            put_key(txn, p, old);
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }
}

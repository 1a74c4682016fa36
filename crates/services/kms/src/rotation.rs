//! Rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations, and the automatic rotation the sweeper performs when its deadline passes.
//! A rotation appends material; blobs name their material version, so old ciphertexts still
//! decrypt.

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::{self, Spec};
use crate::input::*;
use crate::keys::DAY_MS;
use crate::names::*;
use crate::{KeyRec, KeyState, Kms, Material, Secret, err, ok, ts, validation};

/// On-demand rotations a key may have, as AWS allows.
const MAX_ON_DEMAND: usize = 25;

fn rotatable(p: &Partition, k: &KeyRec) -> Result<(), AwsError> {
    if k.spec != "SYMMETRIC_DEFAULT" || k.origin != "AWS_KMS" {
        return Err(err(
            "UnsupportedOperationException",
            format!("{} does not support automatic key rotation.", k.arn(p)),
        ));
    }
    Ok(())
}

/// Append new material to a symmetric key.
pub(crate) fn rotate(k: &mut KeyRec, now: u64, kind: &str) -> Result<(), AwsError> {
    let secret = crypto::generate(Spec::Symmetric)
        .map_err(|e| AwsError::internal("KMSInternalException", e))?;
    k.materials.push(Material {
        id: hex_id(32),
        secret: Secret(secret),
        created_ms: now,
        rotation: Some(kind.to_string()),
    });
    Ok(())
}

impl Kms {
    pub(crate) fn enable_key_rotation(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let period = int_of(m, "RotationPeriodInDays").unwrap_or(365);
        if !(90..=2560).contains(&period) {
            return Err(validation(format!(
                "1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value {}",
                if period < 90 {
                    "greater than or equal to 90"
                } else {
                    "less than or equal to 2560"
                }
            )));
        }
        let now = self.now_ms();
        let key_id = req(m, "KeyId")?;
        let k = find_key_no_alias(&self.store.snapshot(), p, key_id, now)?;
        crate::multi_region::primary_only(&self.store.snapshot(), p, &k, "rotation")?;
        let (_, v) = self.update_key(p, key_id, false, |k| {
            rotatable(p, k)?;
            usable(p, k)?;
            k.rotation_enabled = true;
            k.rotation_period_days = period as u32;
            k.next_rotation_ms = Some(now + period as u64 * DAY_MS);
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn disable_key_rotation(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let (_, v) = self.update_key(p, req(m, "KeyId")?, false, |k| {
            rotatable(p, k)?;
            usable(p, k)?;
            k.rotation_enabled = false;
            k.next_rotation_ms = None;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn get_key_rotation_status(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let k = find_key_no_alias(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        not_pending_deletion(p, &k)?;
        let mut out = json!({
            "KeyRotationEnabled": k.rotation_enabled,
            "KeyId": k.arn(p),
        });
        if k.rotation_enabled {
            out["RotationPeriodInDays"] = json!(k.rotation_period_days);
            if let Some(n) = k.next_rotation_ms {
                out["NextRotationDate"] = ts(n);
            }
        }
        ok(out, None)
    }

    pub(crate) fn rotate_key_on_demand(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let now = self.now_ms();
        let key_id = req(m, "KeyId")?;
        let k = find_key_no_alias(&self.store.snapshot(), p, key_id, now)?;
        crate::multi_region::primary_only(&self.store.snapshot(), p, &k, "rotation")?;
        let (arn, _) = self.update_key(p, key_id, false, |k| {
            rotatable(p, k)?;
            usable(p, k)?;
            let done = k
                .materials
                .iter()
                .filter(|m| m.rotation.as_deref() == Some("ON_DEMAND"))
                .count();
            if done >= MAX_ON_DEMAND {
                return Err(err(
                    "LimitExceededException",
                    format!(
                        "{} has reached the maximum number of on-demand rotations.",
                        k.arn(p)
                    ),
                ));
            }
            rotate(k, now, "ON_DEMAND")?;
            Ok(k.arn(p))
        })?;
        let (_, v) = self.store.write(|txn| {
            if let Some(k) = get_key(txn, p, &k.id) {
                crate::multi_region::sync_replicas(txn, p, &k);
            }
        });
        ok(json!({ "KeyId": arn }), Some(v))
    }

    pub(crate) fn list_key_rotations(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let k = find_key_no_alias(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        not_pending_deletion(p, &k)?;
        rotatable(p, &k)?;
        let arn = k.arn(p);
        let items: Vec<(String, Value)> = k
            .materials
            .iter()
            .enumerate()
            .filter_map(|(i, mat)| {
                let kind = mat.rotation.as_deref()?;
                Some((
                    format!("{i:010}"),
                    json!({
                        "KeyId": arn,
                        "RotationDate": ts(mat.created_ms),
                        "RotationType": kind,
                        "KeyMaterialId": mat.id,
                    }),
                ))
            })
            .collect();
        let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 100);
        let mut out = json!({ "Rotations": page, "Truncated": next.is_some() });
        if let Some(n) = next {
            out["NextMarker"] = json!(n);
        }
        ok(out, None)
    }

    /// Rotate the enabled keys of `p` whose automatic rotation is due at `now`.
    pub(crate) fn rotate_due(&self, p: &Partition, now: u64) -> usize {
        let (n, _) = self.store.write(|txn| {
            let due: Vec<KeyRec> = txn
                .scan_prefix(&crate::rk::keys(p))
                .filter_map(|(_, r)| match r {
                    crate::KmsRecord::Key(k)
                        if k.state == KeyState::Enabled
                            && k.next_rotation_ms.is_some_and(|d| d <= now) =>
                    {
                        Some(k.clone())
                    }
                    _ => None,
                })
                .collect();
            let mut n = 0;
            for mut k in due {
                if rotate(&mut k, now, "AUTOMATIC").is_ok() {
                    k.next_rotation_ms = Some(now + k.rotation_period_days as u64 * DAY_MS);
                    crate::multi_region::sync_replicas(txn, p, &k);
                    put_key(txn, p, k);
                    n += 1;
                }
            }
            n
        });
        n
    }
}

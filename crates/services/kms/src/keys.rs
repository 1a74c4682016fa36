//! Keys: CreateKey, DescribeKey, ListKeys, EnableKey/DisableKey, ScheduleKeyDeletion /
//! CancelKeyDeletion, UpdateKeyDescription, and the `KeyMetadata` every key answers with.

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::crypto::{self, Spec};
use crate::input::*;
use crate::names::*;
use crate::policy::default_policy;
use crate::{
    AliasRec, KeyExt, KeyRec, KeyState, Kms, KmsRecord, Material, Secret, err, ok, rk, ts,
    validation,
};

pub(crate) const DAY_MS: u64 = 24 * 3600 * 1000;
const MAX_TAGS: usize = 50;

/// The `KeyMetadata` of a key as a view shows it (its extension record, its store's state).
pub(crate) fn metadata_in(v: &impl View, p: &Partition, k: &KeyRec, now: u64) -> Value {
    let x = get_ext(v, p, &k.id);
    metadata(p, k, x.as_ref(), shown_state(v, p, k, now))
}

/// The `KeyMetadata` of a key.
pub(crate) fn metadata(p: &Partition, k: &KeyRec, x: Option<&KeyExt>, state: &str) -> Value {
    let spec = Spec::parse(&k.spec);
    let mut m = json!({
        "AWSAccountId": p.account,
        "KeyId": k.id,
        "Arn": k.arn(p),
        "CreationDate": ts(k.created_ms),
        "Enabled": k.state == KeyState::Enabled,
        "Description": k.description,
        "KeyUsage": k.usage,
        "KeyState": state,
        "Origin": k.origin,
        "KeyManager": k.manager,
        "CustomerMasterKeySpec": k.spec,
        "KeySpec": k.spec,
        "MultiRegion": k.multi_region,
    });
    if let Some(d) = k.deletion_ms {
        m["DeletionDate"] = ts(d);
    }
    if let Some(s) = spec {
        let algs = |a: &[&str]| Value::from(a.to_vec());
        match k.usage.as_str() {
            "ENCRYPT_DECRYPT" => m["EncryptionAlgorithms"] = algs(s.encryption_algorithms()),
            "SIGN_VERIFY" => m["SigningAlgorithms"] = algs(s.signing_algorithms()),
            "GENERATE_VERIFY_MAC" => m["MacAlgorithms"] = algs(s.mac_algorithms()),
            "KEY_AGREEMENT" => m["KeyAgreementAlgorithms"] = algs(&["ECDH"]),
            _ => {}
        }
    }
    if k.multi_region {
        let primary = x
            .and_then(|x| x.mr_primary_region.clone())
            .unwrap_or_else(|| p.region.clone());
        let arn_in = |region: &str| format!("arn:aws:kms:{region}:{}:key/{}", p.account, k.id);
        let replicas: Vec<Value> = x
            .map(|x| x.mr_replica_regions.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|r| json!({ "Arn": arn_in(r), "Region": r }))
            .collect();
        m["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": if primary == p.region { "PRIMARY" } else { "REPLICA" },
            "PrimaryKey": { "Arn": arn_in(&primary), "Region": primary },
            "ReplicaKeys": replicas,
        });
    }
    if let Some(x) = x {
        if let Some(id) = &x.custom_key_store_id {
            m["CustomKeyStoreId"] = json!(id);
        }
        if let Some(id) = &x.cloud_hsm_cluster_id {
            m["CloudHsmClusterId"] = json!(id);
        }
        if let Some(id) = &x.xks_key_id {
            m["XksKeyConfiguration"] = json!({ "Id": id });
        }
    }
    if let Some((_, mat)) = k.current()
        && k.spec == "SYMMETRIC_DEFAULT"
    {
        m["CurrentKeyMaterialId"] = json!(mat.id);
    }
    if k.origin == "EXTERNAL" && !k.materials.is_empty() {
        match x.and_then(|x| x.valid_to_ms) {
            Some(t) => {
                m["ExpirationModel"] = json!("KEY_MATERIAL_EXPIRES");
                m["ValidTo"] = ts(t);
            }
            None => m["ExpirationModel"] = json!("KEY_MATERIAL_DOES_NOT_EXPIRE"),
        }
    }
    m
}

pub(crate) fn tags_of(m: &Input) -> Result<Vec<(String, String)>, AwsError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in m
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let k = t.get("TagKey").and_then(Value::as_str).unwrap_or_default();
        let v = t
            .get("TagValue")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if k.starts_with("aws:") {
            return Err(err("TagException", "Tags beginning with aws: are reserved"));
        }
        out.retain(|(x, _)| x != k);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

pub(crate) fn merge_tags(
    into: &mut Vec<(String, String)>,
    add: Vec<(String, String)>,
) -> Result<(), AwsError> {
    for (k, v) in add {
        match into.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 = v,
            None => into.push((k, v)),
        }
    }
    if into.len() > MAX_TAGS {
        return Err(err(
            "LimitExceededException",
            format!("A key can have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(())
}

impl Kms {
    /// A fresh key record with its first material.
    pub(crate) fn new_key(
        &self,
        p: &Partition,
        spec: Spec,
        spec_name: &str,
        usage: &str,
        description: &str,
        manager: &str,
    ) -> Result<KeyRec, AwsError> {
        let now = self.now_ms();
        let secret =
            crypto::generate(spec).map_err(|e| AwsError::internal("KMSInternalException", e))?;
        Ok(KeyRec {
            id: new_key_id(),
            created_ms: now,
            description: description.to_string(),
            spec: spec_name.to_string(),
            usage: usage.to_string(),
            origin: "AWS_KMS".into(),
            manager: manager.to_string(),
            state: KeyState::Enabled,
            deletion_ms: None,
            policy: default_policy(&p.account),
            tags: Vec::new(),
            multi_region: false,
            rotation_enabled: false,
            rotation_period_days: 365,
            next_rotation_ms: None,
            materials: vec![Material {
                id: hex_id(32),
                secret: Secret(secret),
                created_ms: now,
                rotation: None,
            }],
        })
    }

    pub(crate) fn create_key(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let spec_name = str_of(m, "KeySpec")
            .or_else(|| str_of(m, "CustomerMasterKeySpec"))
            .unwrap_or("SYMMETRIC_DEFAULT");
        if str_of(m, "KeySpec").is_some() && str_of(m, "CustomerMasterKeySpec").is_some() {
            return Err(validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.",
            ));
        }
        let Some(spec) = Spec::parse(spec_name) else {
            return Err(err(
                "UnsupportedOperationException",
                format!("KeySpec {spec_name} is not supported by this emulator's KMS."),
            ));
        };
        let usage = str_of(m, "KeyUsage").unwrap_or(spec.usages()[0]);
        if !spec.usages().contains(&usage) {
            return Err(validation(format!(
                "KeyUsage {usage} is not compatible with KeySpec {spec_name}"
            )));
        }
        let origin = str_of(m, "Origin").unwrap_or("AWS_KMS");
        let multi_region = bool_of(m, "MultiRegion").unwrap_or(false);
        let store_id = str_of(m, "CustomKeyStoreId");
        let xks_key_id = str_of(m, "XksKeyId");
        match (origin, store_id) {
            ("AWS_KMS" | "EXTERNAL", None) => {}
            ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE", Some(_)) => {
                if spec != Spec::Symmetric || usage != "ENCRYPT_DECRYPT" {
                    return Err(err(
                        "UnsupportedOperationException",
                        format!("KeySpec {spec_name} is not supported for custom key stores."),
                    ));
                }
                if multi_region {
                    return Err(err(
                        "UnsupportedOperationException",
                        "Multi-Region keys are not supported in custom key stores.",
                    ));
                }
            }
            ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE", None) => {
                return Err(validation(format!(
                    "A CustomKeyStoreId is required for Origin {origin}."
                )));
            }
            (_, Some(_)) => {
                return Err(validation(
                    "Origin must be AWS_CLOUDHSM or EXTERNAL_KEY_STORE when a CustomKeyStoreId is specified.",
                ));
            }
            _ => {
                return Err(validation(format!("Origin {origin} is not valid.")));
            }
        }
        if xks_key_id.is_some() && origin != "EXTERNAL_KEY_STORE" {
            return Err(validation(
                "XksKeyId is valid only for keys with Origin EXTERNAL_KEY_STORE.",
            ));
        }
        if origin == "EXTERNAL_KEY_STORE" && xks_key_id.is_none() {
            return Err(validation(
                "XksKeyId is required for keys with Origin EXTERNAL_KEY_STORE.",
            ));
        }
        if let Some(policy) = str_of(m, "Policy") {
            crate::policy::check_policy(policy)?;
        }
        let tags = tags_of(m)?;
        let mut k = self.new_key(
            p,
            spec,
            spec_name,
            usage,
            str_of(m, "Description").unwrap_or(""),
            "CUSTOMER",
        )?;
        k.origin = origin.into();
        if origin == "EXTERNAL" {
            k.materials.clear();
            k.state = KeyState::PendingImport;
        }
        if let Some(policy) = str_of(m, "Policy") {
            k.policy = policy.to_string();
        }
        merge_tags(&mut k.tags, tags)?;
        k.multi_region = multi_region;
        let mut x = KeyExt::default();
        if multi_region {
            k.id = format!("mrk-{}", hex_id(16));
            x.mr_primary_region = Some(p.region.clone());
        }
        x.id = k.id.clone();
        x.tracking_start_ms = Some(k.created_ms);
        x.xks_key_id = xks_key_id.map(str::to_string);
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            if let Some(sid) = store_id {
                let st = get_store(txn, p, sid).ok_or_else(|| {
                    err(
                        "CustomKeyStoreNotFoundException",
                        format!("Custom key store {sid} does not exist."),
                    )
                })?;
                if st.kind != origin {
                    return Err(err(
                        "UnsupportedOperationException",
                        format!("Custom key store {sid} is of type {}, not {origin}.", st.kind),
                    ));
                }
                if st.state_at(now) != "CONNECTED" {
                    return Err(err(
                        "CustomKeyStoreInvalidStateException",
                        format!("Custom key store {sid} is not connected."),
                    ));
                }
                if let Some(xid) = xks_key_id {
                    let used = txn.scan_prefix(&rk::exts(p)).any(|(_, r)| {
                        matches!(r, KmsRecord::KeyExt(e)
                            if e.custom_key_store_id.as_deref() == Some(sid)
                                && e.xks_key_id.as_deref() == Some(xid))
                    });
                    if used {
                        return Err(err(
                            "XksKeyAlreadyInUseException",
                            format!("The external key {xid} is already associated with a KMS key in this key store."),
                        ));
                    }
                }
                x.custom_key_store_id = Some(sid.to_string());
                x.cloud_hsm_cluster_id = st.cluster_id.clone();
            }
            let meta = metadata(p, &k, Some(&x), k.state.as_str());
            put_key(txn, p, k);
            put_ext(txn, p, x);
            Ok(meta)
        });
        let meta = r?;
        ok(json!({ "KeyMetadata": meta }), Some(v))
    }

    /// The AWS managed key behind `alias/aws/<service>`, created on first use as AWS does.
    pub(crate) fn managed_key(
        &self,
        p: &Partition,
        alias: &str,
    ) -> Result<(KeyRec, u64), AwsError> {
        let svc = alias.trim_start_matches("alias/aws/");
        let fresh = self.new_key(
            p,
            Spec::Symmetric,
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            &format!("Default key that protects my {svc} data when no other key is defined"),
            "AWS",
        )?;
        let now = self.now_ms();
        let (k, v) = self.store.write(|txn| {
            if let Some(a) = get_alias(txn, p, alias)
                && let Some(k) = get_key(txn, p, &a.target)
            {
                return k;
            }
            let mut k = fresh;
            k.rotation_enabled = true;
            k.policy = crate::policy::managed_policy(&p.account, &p.region, svc);
            k.next_rotation_ms = Some(now + 365 * DAY_MS);
            txn.insert(
                rk::alias(p, alias),
                KmsRecord::Alias(AliasRec {
                    name: alias.to_string(),
                    target: k.id.clone(),
                    created_ms: now,
                    updated_ms: now,
                }),
            );
            put_key(txn, p, k.clone());
            k
        });
        Ok((k, v))
    }

    /// The key a cryptographic operation names, creating an AWS managed key for an unknown
    /// `alias/aws/<service>` as AWS does. Returns the write version when it created one.
    pub(crate) fn key_for_use(
        &self,
        p: &Partition,
        key_id: &str,
    ) -> Result<(KeyRec, Option<u64>), AwsError> {
        let snap = self.store.snapshot();
        match find_key(&snap, p, key_id, self.now_ms()) {
            Ok(k) => Ok((k, None)),
            Err(e) => {
                let alias = key_id.strip_prefix(&crate::arn_prefix(p)).unwrap_or(key_id);
                if alias.starts_with("alias/aws/") && get_alias(&snap, p, alias).is_none() {
                    let (k, v) = self.managed_key(p, alias)?;
                    return Ok((k, Some(v)));
                }
                Err(e)
            }
        }
    }

    pub(crate) fn describe_key(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let (k, v) = self.key_for_use(p, req(m, "KeyId")?)?;
        let snap = self.store.snapshot();
        ok(
            json!({ "KeyMetadata": metadata_in(&snap, p, &k, self.now_ms()) }),
            v,
        )
    }

    pub(crate) fn list_keys(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let snap = self.store.snapshot();
        let now = self.now_ms();
        let items: Vec<(String, Value)> = snap
            .scan_prefix(&rk::keys(p))
            .filter_map(|(_, r)| match r {
                KmsRecord::Key(k) if k.deletion_ms.is_none_or(|d| d > now) => {
                    Some((k.id.clone(), json!({ "KeyId": k.id, "KeyArn": k.arn(p) })))
                }
                _ => None,
            })
            .collect();
        let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 100);
        let mut out = json!({ "Keys": page, "Truncated": next.is_some() });
        if let Some(n) = next {
            out["NextMarker"] = json!(n);
        }
        ok(out, None)
    }

    /// Change one key inside a write: `f` checks and edits it; the edited key is stored.
    pub(crate) fn update_key<T>(
        &self,
        p: &Partition,
        key_id: &str,
        aliases_allowed: bool,
        f: impl FnOnce(&mut KeyRec) -> Result<T, AwsError>,
    ) -> Result<(T, u64), AwsError> {
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let mut k = if aliases_allowed {
                find_key(txn, p, key_id, now)?
            } else {
                find_key_no_alias(txn, p, key_id, now)?
            };
            let before = k.clone();
            let out = f(&mut k)?;
            if k != before {
                put_key(txn, p, k);
            }
            Ok::<_, AwsError>(out)
        });
        Ok((r?, v))
    }

    pub(crate) fn set_enabled(
        &self,
        p: &Partition,
        m: &Input,
        enable: bool,
    ) -> Result<Output, AwsError> {
        let (_, v) = self.update_key(p, req(m, "KeyId")?, true, |k| {
            match k.state {
                KeyState::PendingDeletion | KeyState::PendingImport => {
                    return Err(invalid_state(p, k));
                }
                _ => {}
            }
            k.state = if enable {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn schedule_key_deletion(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let days = int_of(m, "PendingWindowInDays").unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(validation(format!(
                "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {}",
                if days < 7 {
                    "greater than or equal to 7"
                } else {
                    "less than or equal to 30"
                }
            )));
        }
        let now = self.now_ms();
        let ((arn, at), v) = self.update_key(p, req(m, "KeyId")?, true, |k| {
            if k.state == KeyState::PendingDeletion {
                return Err(invalid_state(p, k));
            }
            if k.manager == "AWS" {
                return Err(err(
                    "UnsupportedOperationException",
                    format!("{} is an AWS managed key and cannot be deleted.", k.arn(p)),
                ));
            }
            let at = now + days as u64 * DAY_MS;
            k.state = KeyState::PendingDeletion;
            k.deletion_ms = Some(at);
            Ok((k.arn(p), at))
        })?;
        ok(
            json!({
                "KeyId": arn,
                "DeletionDate": ts(at),
                "KeyState": "PendingDeletion",
                "PendingWindowInDays": days,
            }),
            Some(v),
        )
    }

    pub(crate) fn cancel_key_deletion(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let (arn, v) = self.update_key(p, req(m, "KeyId")?, true, |k| {
            if k.state != KeyState::PendingDeletion {
                return Err(err(
                    "KMSInvalidStateException",
                    format!("{} is not pending deletion.", k.arn(p)),
                ));
            }
            k.state = if k.materials.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            k.deletion_ms = None;
            Ok(k.arn(p))
        })?;
        ok(json!({ "KeyId": arn }), Some(v))
    }

    pub(crate) fn update_key_description(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let d = req(m, "Description")?.to_string();
        let (_, v) = self.update_key(p, req(m, "KeyId")?, true, |k| {
            not_pending_deletion(p, k)?;
            k.description = d;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }
}

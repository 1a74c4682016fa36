//! Secrets and their values: create, read, put, update, describe, delete, restore.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use snapstack_engine::Key;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{Output, RequestContext, Runtime};

use crate::kms::Sealed;
use crate::stages::{attach, check_stages, stages_of};
use crate::{
    CURRENT, DAY_MS, MAX_TAGS, PENDING, PREVIOUS, Replica, Secret, SecretsManager, SmRecord,
    Version, date, find, find_in, flag, int, invalid_parameter, invalid_request,
    marked_for_deletion, not_found, ok, random_bytes, s, secret_key, uuid4,
};

const ARN_SUFFIX_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The value a request gives (`SecretString` or `SecretBinary`), and whether it is binary.
pub(crate) fn value_of(v: &Value) -> Result<Option<(Vec<u8>, bool)>, AwsError> {
    match (s(v, "SecretString"), s(v, "SecretBinary")) {
        (Some(_), Some(_)) => Err(invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(t), None) => Ok(Some((t.as_bytes().to_vec(), false))),
        (None, Some(b)) => B64
            .decode(b)
            .map(|b| Some((b, true)))
            .map_err(|_| AwsError::new("SerializationException", "SecretBinary is not base64")),
        (None, None) => Ok(None),
    }
}

pub(crate) fn tags_of(v: &Value) -> Result<Vec<(String, String)>, AwsError> {
    let tags: Vec<(String, String)> = v
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        s(t, "Key").unwrap_or_default().to_string(),
                        s(t, "Value").unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if tags.len() > MAX_TAGS {
        return Err(invalid_parameter(format!(
            "Number of tags exceeds the maximum of {MAX_TAGS}."
        )));
    }
    Ok(tags)
}

/// Merge `add` into `tags`, a key given again replacing its value.
pub(crate) fn merge_tags(tags: &mut Vec<(String, String)>, add: Vec<(String, String)>) {
    for (k, v) in add {
        match tags.iter_mut().find(|(x, _)| *x == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
}

pub(crate) fn replicas_of(v: &Value, own_region: &str) -> Result<Vec<Replica>, AwsError> {
    let mut out: Vec<Replica> = Vec::new();
    for r in v
        .get("AddReplicaRegions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let region = s(r, "Region").unwrap_or_default().to_string();
        if region == own_region {
            return Err(invalid_parameter(
                "Invalid replica region. You can't replicate a secret to the Region it's in.",
            ));
        }
        if out.iter().any(|x| x.region == region) {
            return Err(invalid_parameter(
                "The same Region can't be specified more than once.",
            ));
        }
        out.push(Replica {
            region,
            kms_key_id: s(r, "KmsKeyId").map(str::to_string),
            status: "InSync".to_string(),
            message: "Replication succeeded".to_string(),
        });
    }
    Ok(out)
}

fn version_exists_with_other_value() -> AwsError {
    AwsError::new(
        "ResourceExistsException",
        "You can't modify an existing version, you can only create a new version.",
    )
}

fn day_of(ms: u64) -> u64 {
    ms - ms % DAY_MS
}

impl SecretsManager {
    /// Whether version `vid` of `secret` holds `value` (a retried request with its token).
    async fn holds(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        secret: &Secret,
        vid: &str,
        value: &(Vec<u8>, bool),
    ) -> Result<bool, AwsError> {
        let Some(v) = secret.version(vid) else {
            return Ok(false);
        };
        if v.binary != value.1 {
            return Ok(false);
        }
        Ok(self.open(rt, ctx, &secret.arn, v).await? == value.0)
    }

    fn new_arn(ctx: &RequestContext, name: &str) -> String {
        let suffix: String = random_bytes(6)
            .iter()
            .map(|b| ARN_SUFFIX_CHARS[*b as usize % ARN_SUFFIX_CHARS.len()] as char)
            .collect();
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
            ctx.region(),
            ctx.account()
        )
    }

    fn version_from(sealed: Sealed, id: String, now: u64, binary: bool) -> Version {
        Version {
            id,
            stages: Vec::new(),
            created_ms: now,
            accessed_day_ms: None,
            key_arn: sealed.key_arn,
            data_key: sealed.data_key,
            sealed: sealed.sealed,
            binary,
        }
    }

    pub(crate) async fn create_secret(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let name = s(v, "Name").unwrap_or_default().to_string();
        let value = value_of(v)?;
        let tags = tags_of(v)?;
        let replicas = replicas_of(v, ctx.region())?;
        let token = s(v, "ClientRequestToken");
        let now = self.now_ms();
        let p = &ctx.partition;
        let key = secret_key(p, &name);
        let existing = find(&self.store.snapshot(), p, &name, now);
        if let Some((_, secret)) = existing {
            if secret.is_deleted() {
                return Err(invalid_request(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            }
            if let (Some(t), Some(val)) = (token, &value)
                && secret.version(t).is_some()
            {
                if self.holds(rt, ctx, &secret, t, val).await? {
                    return ok(
                        json!({"ARN": secret.arn, "Name": secret.name, "VersionId": t}),
                        None,
                    );
                }
                return Err(version_exists_with_other_value());
            }
            return Err(AwsError::new(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            ));
        }
        let arn = Self::new_arn(ctx, &name);
        let kms_key_id = s(v, "KmsKeyId").map(str::to_string);
        let vid = token.map_or_else(uuid4, str::to_string);
        let version = match &value {
            Some((plain, binary)) => {
                let sealed = self
                    .seal(rt, ctx, kms_key_id.as_deref(), &arn, &vid, plain)
                    .await?;
                Some(Self::version_from(sealed, vid.clone(), now, *binary))
            }
            None => None,
        };
        let mut secret = Secret {
            name: name.clone(),
            arn: arn.clone(),
            description: s(v, "Description").map(str::to_string),
            kms_key_id,
            kind: s(v, "Type").map(str::to_string),
            created_ms: now,
            changed_ms: now,
            tags,
            replicas,
            ..Secret::default()
        };
        let has_version = version.is_some();
        if let Some(ver) = version {
            secret.versions.push(ver);
            attach(&mut secret, &vid, &[CURRENT.to_string()]);
        }
        let mut out = json!({"ARN": arn, "Name": name});
        if has_version {
            out["VersionId"] = json!(vid);
        }
        if !secret.replicas.is_empty() {
            out["ReplicationStatus"] = secret.replication_json();
        }
        let (done, wv) = self.store.write(|txn| {
            if find_in(|k| txn.get(k), p, &name, now).is_some() {
                return Err(AwsError::new(
                    "ResourceExistsException",
                    format!("The operation failed because the secret {name} already exists."),
                ));
            }
            txn.insert(key, SmRecord::Secret(secret));
            Ok(())
        });
        done?;
        ok(out, Some(wv))
    }

    pub(crate) async fn get_secret_value(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let (out, wv) = self
            .read_value(rt, ctx, id, s(v, "VersionId"), s(v, "VersionStage"))
            .await?;
        ok(out, wv)
    }

    /// One secret value as `GetSecretValue` answers it, and the store version of the
    /// last-accessed date it recorded (if it changed).
    pub(crate) async fn read_value(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<(Value, Option<u64>), AwsError> {
        let now = self.now_ms();
        let p = &ctx.partition;
        let Some((key, secret)) = find(&self.store.snapshot(), p, id, now) else {
            return Err(not_found());
        };
        if secret.is_deleted() {
            return Err(marked_for_deletion());
        }
        let version = match (version_id, stage) {
            (Some(vid), _) => secret
                .version(vid)
                .filter(|x| stage.is_none_or(|st| x.stages.iter().any(|y| y == st))),
            (None, st) => secret.staged(st.unwrap_or(CURRENT)),
        };
        let Some(version) = version else {
            return Err(AwsError::new(
                "ResourceNotFoundException",
                match version_id {
                    Some(vid) => format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {vid}"
                    ),
                    None => format!(
                        "Secrets Manager can't find the specified secret value for staging label: {}",
                        stage.unwrap_or(CURRENT)
                    ),
                },
            ));
        };
        let plain = self.open(rt, ctx, &secret.arn, version).await?;
        let mut out = json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.id,
            "VersionStages": version.stages,
            "CreatedDate": date(version.created_ms),
        });
        if version.binary {
            out["SecretBinary"] = json!(B64.encode(&plain));
        } else {
            out["SecretString"] = json!(String::from_utf8_lossy(&plain));
        }
        // The last-accessed date is a day: record it once a day, not on every read.
        let day = day_of(now);
        let mut wv = None;
        if secret.accessed_day_ms != Some(day) || version.accessed_day_ms != Some(day) {
            let vid = version.id.clone();
            let arn = secret.arn.clone();
            let (_, w) = self.store.write(|txn| {
                let Some(SmRecord::Secret(cur)) = txn.get(&key) else {
                    return;
                };
                if cur.arn != arn {
                    return;
                }
                let mut cur = cur.clone();
                cur.accessed_day_ms = Some(day);
                for x in cur.versions.iter_mut().filter(|x| x.id == vid) {
                    x.accessed_day_ms = Some(day);
                }
                txn.insert(key.clone(), SmRecord::Secret(cur));
            });
            wv = Some(w);
        }
        Ok((out, wv))
    }

    /// Add a version with `value` to the secret `id` (PutSecretValue, UpdateSecret).
    #[allow(clippy::too_many_arguments)]
    async fn add_version(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        key: Key,
        secret: &Secret,
        key_id: Option<&str>,
        token: Option<&str>,
        value: (Vec<u8>, bool),
        stages: Vec<String>,
        meta: impl FnOnce(&mut Secret),
    ) -> Result<(Value, u64), AwsError> {
        if let Some(t) = token
            && secret.version(t).is_some()
        {
            if self.holds(rt, ctx, secret, t, &value).await? {
                let stages = secret.version(t).map(|x| x.stages.clone());
                return Ok((
                    json!({"ARN": secret.arn, "Name": secret.name, "VersionId": t,
                        "VersionStages": stages}),
                    self.store.version(),
                ));
            }
            return Err(version_exists_with_other_value());
        }
        let now = self.now_ms();
        let vid = token.map_or_else(uuid4, str::to_string);
        let sealed = self
            .seal(rt, ctx, key_id, &secret.arn, &vid, &value.0)
            .await?;
        let version = Self::version_from(sealed, vid.clone(), now, value.1);
        let arn = secret.arn.clone();
        let (out, wv) = self.store.write(|txn| {
            let Some(SmRecord::Secret(cur)) = txn.get(&key) else {
                return Err(not_found());
            };
            if cur.arn != arn || cur.is_gone(now) {
                return Err(not_found());
            }
            if cur.is_deleted() {
                return Err(marked_for_deletion());
            }
            if cur.version(&vid).is_some() {
                return Err(version_exists_with_other_value());
            }
            let mut cur = cur.clone();
            meta(&mut cur);
            cur.versions.push(version);
            attach(&mut cur, &vid, &stages);
            cur.changed_ms = now;
            let stages = cur.version(&vid).map(|x| x.stages.clone());
            let out = json!({"ARN": cur.arn, "Name": cur.name, "VersionId": vid,
                "VersionStages": stages});
            txn.insert(key.clone(), SmRecord::Secret(cur));
            Ok(out)
        });
        Ok((out?, wv))
    }

    fn live(&self, ctx: &RequestContext, id: &str) -> Result<(Key, Secret), AwsError> {
        let now = self.now_ms();
        let Some((key, secret)) = find(&self.store.snapshot(), &ctx.partition, id, now) else {
            return Err(not_found());
        };
        if secret.is_deleted() {
            return Err(marked_for_deletion());
        }
        Ok((key, secret))
    }

    pub(crate) async fn put_secret_value(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let Some(value) = value_of(v)? else {
            return Err(invalid_request(
                "You must provide either SecretString or SecretBinary.",
            ));
        };
        let stages = stages_of(v).unwrap_or_else(|| vec![CURRENT.to_string()]);
        check_stages(&stages)?;
        let (key, secret) = self.live(ctx, id)?;
        let key_id = secret.kms_key_id.clone();
        let token = s(v, "ClientRequestToken");
        let (out, wv) = self
            .add_version(
                rt,
                ctx,
                key,
                &secret,
                key_id.as_deref(),
                token,
                value,
                stages,
                |_| {},
            )
            .await?;
        ok(out, Some(wv))
    }

    pub(crate) async fn update_secret(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let value = value_of(v)?;
        let (key, secret) = self.live(ctx, id)?;
        let description = s(v, "Description").map(str::to_string);
        let kind = s(v, "Type").map(str::to_string);
        let new_key = s(v, "KmsKeyId").map(str::to_string);
        let key_changes = new_key.is_some() && new_key != secret.kms_key_id;
        let key_id = if new_key.is_some() {
            new_key.clone()
        } else {
            secret.kms_key_id.clone()
        };
        // A new key re-encrypts the labelled versions (AWSCURRENT, AWSPENDING, AWSPREVIOUS).
        let mut resealed: Vec<(Vec<u8>, Version)> = Vec::new();
        if key_changes {
            for ver in secret.versions.iter().filter(|x| {
                x.stages
                    .iter()
                    .any(|st| st == CURRENT || st == PREVIOUS || st == PENDING)
            }) {
                let plain = self.open(rt, ctx, &secret.arn, ver).await?;
                let sealed = self
                    .seal(rt, ctx, key_id.as_deref(), &secret.arn, &ver.id, &plain)
                    .await?;
                let mut nv = ver.clone();
                nv.key_arn = sealed.key_arn;
                nv.data_key = sealed.data_key;
                nv.sealed = sealed.sealed;
                resealed.push((ver.data_key.clone(), nv));
            }
        }
        let now = self.now_ms();
        let meta = move |cur: &mut Secret| {
            if let Some(d) = description {
                cur.description = Some(d);
            }
            if let Some(k) = kind {
                cur.kind = Some(k);
            }
            if let Some(k) = new_key {
                cur.kms_key_id = Some(k);
            }
            for (old, nv) in resealed {
                // Only a version that still holds the value that was re-encrypted.
                if let Some(x) = cur
                    .versions
                    .iter_mut()
                    .find(|x| x.id == nv.id && x.data_key == old)
                {
                    let stages = std::mem::take(&mut x.stages);
                    *x = Version { stages, ..nv };
                }
            }
            cur.changed_ms = now;
        };
        if let Some(value) = value {
            let token = s(v, "ClientRequestToken");
            let (mut out, wv) = self
                .add_version(
                    rt,
                    ctx,
                    key,
                    &secret,
                    key_id.as_deref(),
                    token,
                    value,
                    vec![CURRENT.to_string()],
                    meta,
                )
                .await?;
            if let Some(o) = out.as_object_mut() {
                o.remove("VersionStages");
            }
            return ok(out, Some(wv));
        }
        let arn = secret.arn.clone();
        let (out, wv) = self.store.write(|txn| {
            let Some(SmRecord::Secret(cur)) = txn.get(&key) else {
                return Err(not_found());
            };
            if cur.arn != arn || cur.is_gone(now) {
                return Err(not_found());
            }
            if cur.is_deleted() {
                return Err(marked_for_deletion());
            }
            let mut cur = cur.clone();
            meta(&mut cur);
            let out = json!({"ARN": cur.arn, "Name": cur.name});
            txn.insert(key.clone(), SmRecord::Secret(cur));
            Ok(out)
        });
        ok(out?, Some(wv))
    }

    pub(crate) fn describe_secret(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let now = self.now_ms();
        let Some((_, secret)) = find(&self.store.snapshot(), &ctx.partition, id, now) else {
            return Err(not_found());
        };
        ok(secret.describe("VersionIdsToStages"), None)
    }

    /// Apply `f` to the secret `id` in one write (`deleted`: whether a secret scheduled for
    /// deletion is acceptable).
    pub(crate) fn mutate(
        &self,
        ctx: &RequestContext,
        id: &str,
        deleted: bool,
        f: impl FnOnce(&mut Secret, u64) -> Result<Value, AwsError>,
    ) -> Result<Output, AwsError> {
        let now = self.now_ms();
        let (out, wv) = self.store.write(|txn| {
            let Some((key, mut secret)) = find_in(|k| txn.get(k), &ctx.partition, id, now) else {
                return Err(not_found());
            };
            if secret.is_deleted() && !deleted {
                return Err(marked_for_deletion());
            }
            let out = f(&mut secret, now)?;
            txn.insert(key, SmRecord::Secret(secret));
            Ok(out)
        });
        ok(out?, Some(wv))
    }

    pub(crate) fn delete_secret(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        let force = flag(v, "ForceDeleteWithoutRecovery").unwrap_or(false);
        let window = int(v, "RecoveryWindowInDays");
        if force && window.is_some() {
            return Err(invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let days = window.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        let now = self.now_ms();
        let (out, wv) = self.store.write(|txn| {
            let Some((key, mut secret)) = find_in(|k| txn.get(k), &ctx.partition, id, now) else {
                return Err(not_found());
            };
            if force {
                txn.remove(&key);
                return Ok(json!({"ARN": secret.arn, "Name": secret.name,
                    "DeletionDate": date(now)}));
            }
            if secret.is_deleted() {
                return Err(marked_for_deletion());
            }
            let deadline = now + days as u64 * DAY_MS;
            secret.deleted_ms = Some(now);
            secret.deletion_ms = Some(deadline);
            let out = json!({"ARN": secret.arn, "Name": secret.name,
                "DeletionDate": date(deadline)});
            txn.insert(key, SmRecord::Secret(secret));
            Ok(out)
        });
        ok(out?, Some(wv))
    }

    pub(crate) fn restore_secret(
        &self,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<Output, AwsError> {
        let id = s(v, "SecretId").unwrap_or_default();
        self.mutate(ctx, id, true, |secret, _| {
            secret.deleted_ms = None;
            secret.deletion_ms = None;
            Ok(json!({"ARN": secret.arn, "Name": secret.name}))
        })
    }

    /// Remove every secret whose deletion deadline has passed. Returns how many.
    pub fn sweep_deleted(&self, now: u64) -> usize {
        let due: Vec<Key> = self
            .store
            .snapshot()
            .iter()
            .filter(|(_, r)| matches!(r, SmRecord::Secret(s) if s.is_gone(now)))
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() {
            return 0;
        }
        let (n, _) = self.store.write(|txn| {
            let mut n = 0;
            for k in &due {
                if matches!(txn.get(k), Some(SmRecord::Secret(s)) if s.is_gone(now)) {
                    txn.remove(k);
                    n += 1;
                }
            }
            n
        });
        n
    }
}

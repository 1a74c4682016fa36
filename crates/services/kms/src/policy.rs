//! Key policies (Get/PutKeyPolicy, ListKeyPolicies), tags (TagResource, UntagResource,
//! ListResourceTags) and aliases (Create/Update/Delete/ListAliases).

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::input::*;
use crate::keys::{merge_tags, tags_of};
use crate::names::*;
use crate::{AliasRec, Kms, KmsRecord, err, ok, rk, ts, validation};

pub(crate) fn default_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}

/// The key policy of an AWS managed key (`alias/aws/<service>`), as AWS writes it: every
/// principal of the account may use the key through that service (`kms:ViaService`), and the
/// account may read the key's metadata directly.
pub(crate) fn managed_policy(account: &str, region: &str, service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-1"),
        "Statement": [
            {
                "Sid": format!(
                    "Allow access through {service} for all principals in the account that \
                     are authorized to use {service}"
                ),
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": format!("{service}.{region}.amazonaws.com"),
                    },
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*",
            },
        ],
    })
    .to_string()
}

pub(crate) fn check_policy(policy: &str) -> Result<(), AwsError> {
    match serde_json::from_str::<Value>(policy) {
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(err(
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        )),
    }
}

fn policy_name(m: &Input) -> Result<(), AwsError> {
    match str_of(m, "PolicyName") {
        None | Some("default") => Ok(()),
        Some(_) => Err(not_found_policy()),
    }
}

fn not_found_policy() -> AwsError {
    crate::not_found("No such policy exists")
}

impl Kms {
    pub(crate) fn get_key_policy(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        policy_name(m)?;
        let k = find_key_no_alias(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        ok(json!({ "Policy": k.policy, "PolicyName": "default" }), None)
    }

    pub(crate) fn put_key_policy(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        policy_name(m)?;
        let policy = req(m, "Policy")?.to_string();
        check_policy(&policy)?;
        let (_, v) = self.update_key(p, req(m, "KeyId")?, false, |k| {
            not_pending_deletion(p, k)?;
            k.policy = policy;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn list_key_policies(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        find_key_no_alias(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        ok(
            json!({ "PolicyNames": ["default"], "Truncated": false }),
            None,
        )
    }

    pub(crate) fn tag_resource(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let tags = tags_of(m)?;
        let (_, v) = self.update_key(p, req(m, "KeyId")?, false, |k| {
            not_pending_deletion(p, k)?;
            merge_tags(&mut k.tags, tags)
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn untag_resource(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let remove = strings_of(m, "TagKeys");
        let (_, v) = self.update_key(p, req(m, "KeyId")?, false, |k| {
            not_pending_deletion(p, k)?;
            k.tags.retain(|(t, _)| !remove.contains(t));
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn list_resource_tags(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let k = find_key_no_alias(&self.store.snapshot(), p, req(m, "KeyId")?, self.now_ms())?;
        let mut tags = k.tags.clone();
        tags.sort();
        let items = tags
            .into_iter()
            .map(|(k, v)| (k.clone(), json!({ "TagKey": k, "TagValue": v })))
            .collect();
        let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 50);
        let mut out = json!({ "Tags": page, "Truncated": next.is_some() });
        if let Some(n) = next {
            out["NextMarker"] = json!(n);
        }
        ok(out, None)
    }

    fn check_alias_name(&self, p: &Partition, name: &str) -> Result<(), AwsError> {
        if !name.starts_with("alias/") {
            return Err(validation(
                "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
            ));
        }
        if name.starts_with("alias/aws/") {
            return Err(err(
                "NotAuthorizedException",
                format!("{} is reserved for AWS managed keys.", alias_arn(p, name)),
            ));
        }
        if name.len() <= "alias/".len()
            || !name["alias/".len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/_-".contains(&c))
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
            )));
        }
        Ok(())
    }

    /// The key an alias may point at: a key id or key ARN of a customer key.
    fn alias_target(
        &self,
        txn: &impl View,
        p: &Partition,
        target: &str,
    ) -> Result<String, AwsError> {
        if matches!(parse_key_id(p, target)?, Named::Alias(_)) {
            return Err(validation("Aliases must refer to keys. Not aliases"));
        }
        let k = find_key(txn, p, target, self.now_ms())?;
        not_pending_deletion(p, &k)?;
        Ok(k.id)
    }

    pub(crate) fn create_alias(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let name = req(m, "AliasName")?;
        self.check_alias_name(p, name)?;
        let target = req(m, "TargetKeyId")?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            if get_alias(txn, p, name).is_some() {
                return Err(err(
                    "AlreadyExistsException",
                    format!(
                        "An alias with the name {} already exists",
                        alias_arn(p, name)
                    ),
                ));
            }
            let id = self.alias_target(txn, p, target)?;
            txn.insert(
                rk::alias(p, name),
                KmsRecord::Alias(AliasRec {
                    name: name.to_string(),
                    target: id,
                    created_ms: now,
                    updated_ms: now,
                }),
            );
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn update_alias(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let name = req(m, "AliasName")?;
        self.check_alias_name(p, name)?;
        let target = req(m, "TargetKeyId")?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let mut a = get_alias(txn, p, name).ok_or_else(|| {
                crate::not_found(format!("Alias '{}' is not found.", alias_arn(p, name)))
            })?;
            let id = self.alias_target(txn, p, target)?;
            if let (Some(old), Some(new)) = (get_key(txn, p, &a.target), get_key(txn, p, &id))
                && (old.usage != new.usage || old.spec != new.spec)
            {
                return Err(validation(format!(
                    "Alias {} cannot be changed from a key with KeySpec {} and KeyUsage {} to a key with KeySpec {} and KeyUsage {}.",
                    alias_arn(p, name), old.spec, old.usage, new.spec, new.usage
                )));
            }
            a.target = id;
            a.updated_ms = now;
            txn.insert(rk::alias(p, name), KmsRecord::Alias(a));
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn delete_alias(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let name = req(m, "AliasName")?;
        if name.starts_with("alias/aws/") {
            return Err(err(
                "NotAuthorizedException",
                format!("{} is reserved for AWS managed keys.", alias_arn(p, name)),
            ));
        }
        let (r, v) = self.store.write(|txn| {
            if txn.remove(&rk::alias(p, name)).is_none() {
                return Err(crate::not_found(format!(
                    "Alias '{}' is not found.",
                    alias_arn(p, name)
                )));
            }
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn list_aliases(&self, p: &Partition, m: &Input) -> Result<Output, AwsError> {
        let snap = self.store.snapshot();
        let now = self.now_ms();
        let only = match str_of(m, "KeyId") {
            Some(id) => Some(find_key_no_alias(&snap, p, id, now)?.id),
            None => None,
        };
        let items: Vec<(String, Value)> = snap
            .scan_prefix(&rk::aliases(p))
            .filter_map(|(_, r)| match r {
                KmsRecord::Alias(a) if only.as_ref().is_none_or(|o| *o == a.target) => {
                    let live = get_key(&snap, p, &a.target)
                        .is_some_and(|k| k.deletion_ms.is_none_or(|d| d > now));
                    live.then(|| {
                        (
                            a.name.clone(),
                            json!({
                                "AliasName": a.name,
                                "AliasArn": alias_arn(p, &a.name),
                                "TargetKeyId": a.target,
                                "CreationDate": ts(a.created_ms),
                                "LastUpdatedDate": ts(a.updated_ms),
                            }),
                        )
                    })
                }
                _ => None,
            })
            .collect();
        let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 50);
        let mut out = json!({ "Aliases": page, "Truncated": next.is_some() });
        if let Some(n) = next {
            out["NextMarker"] = json!(n);
        }
        ok(out, None)
    }
}

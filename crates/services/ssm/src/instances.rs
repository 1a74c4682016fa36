//! Hybrid activations, managed instances and resource data syncs.
//!
//! An activation is a record with its id and code. A managed instance is what an agent
//! registered: no agent connects to this emulator, so an instance is registered the way the
//! agent reports it to AWS, by `PutInventory` of its `AWS:InstanceInformation` (or any
//! inventory) for an instance id; DescribeInstanceInformation lists those records.

use super::objects::*;
use super::*;

const ACTIVATION: &str = "activation";
pub(super) const INSTANCE: &str = "instance";
const SYNC: &str = "datasync";
/// How long an activation lasts when the request gives no expiration (24 hours).
const ACTIVATION_TTL_MS: u64 = 24 * 3600 * 1000;
/// Resource data syncs an account may have (AWS allows 5).
const MAX_SYNCS: usize = 5;

fn invalid_instance(id: &str) -> AwsError {
    AwsError::new(
        "InvalidInstanceId",
        format!("Instance Id {id} is not a managed instance registered with this account."),
    )
}

fn sync_missing(name: &str) -> AwsError {
    AwsError::new(
        "ResourceDataSyncNotFoundException",
        format!("Sync {name} does not exist."),
    )
}

impl Ssm {
    /// An activation code: 20 characters of letters and digits, as AWS hands them out.
    fn activation_code(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let (mut a, mut b) = (self.random(), self.random());
        (0..20)
            .map(|i| {
                let r = if i < 10 { &mut a } else { &mut b };
                let c = ALPHABET[(*r % ALPHABET.len() as u64) as usize];
                *r /= ALPHABET.len() as u64;
                c as char
            })
            .collect()
    }

    pub(super) fn create_activation(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let role = req(input, "IamRole")?;
        let limit = input
            .get("RegistrationLimit")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let now = now_ms();
        let expires = match input.get("ExpirationDate").and_then(Value::as_f64) {
            Some(t) => {
                let ms = (t * 1000.0) as u64;
                if ms <= now || ms > now + 30 * 24 * 3600 * 1000 {
                    return Err(AwsError::new(
                        "InvalidParameters",
                        "The expiration date must be in the future and no more than 30 days from now.",
                    ));
                }
                ms
            }
            None => now + ACTIVATION_TTL_MS,
        };
        let tags = input_tags(input)?;
        let id = self.time_id(now);
        let code = self.activation_code();
        let mut m = Map::new();
        copy(&mut m, input, &["Description", "DefaultInstanceName"]);
        m.insert("ActivationId".into(), json!(id));
        m.insert("ActivationCode".into(), json!(code));
        m.insert("IamRole".into(), json!(role));
        m.insert("RegistrationLimit".into(), json!(limit));
        m.insert("RegistrationsCount".into(), json!(0));
        m.insert("ExpirationDate".into(), json!(secs(expires)));
        m.insert("CreatedDate".into(), json!(secs(now)));
        let mut rec = ObjectRec::new(ACTIVATION, &id, &Value::Object(m));
        rec.tags = tags;
        let wv = self.obj_put(ctx, rec);
        ok(
            json!({"ActivationId": id, "ActivationCode": code}),
            Some(wv),
        )
    }

    pub(super) fn describe_activations(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let now = secs(now_ms());
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .obj_list(ctx, ACTIVATION)
            .into_iter()
            .filter_map(|o| {
                let mut v = o.value();
                let keep = filters.iter().all(|f| {
                    let values = arr(f, "FilterValues");
                    let field = match s(f, "FilterKey").unwrap_or("") {
                        "ActivationIds" => "ActivationId",
                        "DefaultInstanceName" => "DefaultInstanceName",
                        _ => "IamRole",
                    };
                    values.is_empty() || v.get(field).is_some_and(|x| values.contains(x))
                });
                if !keep {
                    return None;
                }
                let expired = v["ExpirationDate"].as_f64().is_some_and(|e| e <= now);
                v["Expired"] = json!(expired);
                v["Tags"] = json!(
                    o.tags
                        .iter()
                        .map(|(k, x)| json!({"Key": k, "Value": x}))
                        .collect::<Vec<_>>()
                );
                Some(v)
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("ActivationList", items, next), None)
    }

    pub(super) fn delete_activation(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "ActivationId")?;
        let wv = self.obj_delete(ctx, ACTIVATION, id).ok_or_else(|| {
            AwsError::new(
                "InvalidActivationId",
                "The activation ID is not valid. Verify the you entered the correct ActivationId or ActivationCode and try again.",
            )
        })?;
        ok(json!({}), Some(wv))
    }

    /// Register (or refresh) a managed instance from what its inventory says of it.
    pub(super) fn register_instance(
        &self,
        ctx: &RequestContext,
        id: &str,
        info: Option<&Value>,
    ) -> u64 {
        let now = secs(now_ms());
        let (_, wv) = self
            .obj_update(ctx, INSTANCE, id, |old| {
                let mut body = old.as_ref().map(ObjectRec::value).unwrap_or_else(|| {
                    json!({"InstanceId": id, "PingStatus": "Online", "RegistrationDate": now,
                           "ResourceType": if id.starts_with("mi-") { "ManagedInstance" } else { "EC2Instance" },
                           "AgentVersion": "3.3.0.0", "IsLatestVersion": true, "PlatformType": "Linux"})
                });
                body["LastPingDateTime"] = json!(now);
                if let Some(info) = info {
                    for (from, to) in [
                        ("ComputerName", "ComputerName"),
                        ("IpAddress", "IPAddress"),
                        ("PlatformName", "PlatformName"),
                        ("PlatformType", "PlatformType"),
                        ("PlatformVersion", "PlatformVersion"),
                        ("AgentVersion", "AgentVersion"),
                        ("ResourceType", "ResourceType"),
                    ] {
                        if let Some(v) = info.get(from) {
                            body[to] = v.clone();
                        }
                    }
                }
                let mut rec = old.unwrap_or_else(|| ObjectRec::new(INSTANCE, id, &json!({})));
                rec.body = body.to_string();
                Ok((Some(rec), ()))
            })
            .unwrap_or(((), None));
        wv.unwrap_or(0)
    }

    pub(super) fn describe_instance_information(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let mut filters: Vec<(String, Vec<Value>)> = Vec::new();
        for f in arr(input, "InstanceInformationFilterList") {
            filters.push((
                s(f, "key").unwrap_or("").into(),
                arr(f, "valueSet").to_vec(),
            ));
        }
        for f in arr(input, "Filters") {
            filters.push((s(f, "Key").unwrap_or("").into(), arr(f, "Values").to_vec()));
        }
        for (k, values) in &filters {
            if values.is_empty() {
                return Err(AwsError::new(
                    "InvalidInstanceInformationFilterValue",
                    format!("The filter value for {k} is not valid."),
                ));
            }
        }
        let items: Vec<Value> = self
            .obj_list(ctx, INSTANCE)
            .into_iter()
            .filter_map(|o| {
                let v = o.value();
                let keep = filters.iter().all(|(k, values)| {
                    if let Some(tag) = k.strip_prefix("tag:") {
                        return o
                            .tags
                            .iter()
                            .any(|(tk, tv)| tk == tag && values.iter().any(|x| x == tv));
                    }
                    if k == "tag-key" {
                        return o.tags.iter().any(|(tk, _)| values.iter().any(|x| x == tk));
                    }
                    let field = match k.as_str() {
                        "InstanceIds" => "InstanceId",
                        "PlatformTypes" => "PlatformType",
                        "ActivationIds" => "ActivationId",
                        other => other,
                    };
                    v.get(field).is_some_and(|x| values.contains(x))
                });
                keep.then_some(v)
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("InstanceInformationList", items, next), None)
    }

    pub(super) fn deregister_managed_instance(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "InstanceId")?;
        let wv = self
            .obj_delete(ctx, INSTANCE, id)
            .ok_or_else(|| invalid_instance(id))?;
        ok(json!({}), Some(wv))
    }

    pub(super) fn update_managed_instance_role(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "InstanceId")?;
        let role = req(input, "IamRole")?;
        let (_, wv) = self.obj_update(ctx, INSTANCE, id, |old| {
            let mut o = old.ok_or_else(|| invalid_instance(id))?;
            let mut v = o.value();
            v["IamRole"] = json!(role);
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), wv)
    }

    pub(super) fn create_resource_data_sync(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "SyncName")?;
        let sync_type = s(input, "SyncType").unwrap_or("SyncToDestination");
        match sync_type {
            "SyncToDestination" if input.get("S3Destination").is_none() => {
                return Err(AwsError::new(
                    "ResourceDataSyncInvalidConfigurationException",
                    "S3Destination is required for a sync of type SyncToDestination.",
                ));
            }
            "SyncFromSource" if input.get("SyncSource").is_none() => {
                return Err(AwsError::new(
                    "ResourceDataSyncInvalidConfigurationException",
                    "SyncSource is required for a sync of type SyncFromSource.",
                ));
            }
            "SyncToDestination" | "SyncFromSource" => {}
            other => {
                return Err(AwsError::new(
                    "ResourceDataSyncInvalidConfigurationException",
                    format!(
                        "The sync type {other} is not valid. Valid types: SyncToDestination, SyncFromSource."
                    ),
                ));
            }
        }
        let now = secs(now_ms());
        let mut m = Map::new();
        copy(&mut m, input, &["S3Destination", "SyncSource"]);
        if let Some(src) = m.get_mut("SyncSource") {
            src["State"] = json!("Active");
        }
        m.insert("SyncName".into(), json!(name));
        m.insert("SyncType".into(), json!(sync_type));
        m.insert("SyncCreatedTime".into(), json!(now));
        m.insert("SyncLastModifiedTime".into(), json!(now));
        m.insert("LastStatus".into(), json!("Successful"));
        m.insert("LastSyncTime".into(), json!(now));
        m.insert("LastSuccessfulSyncTime".into(), json!(now));
        let body = Value::Object(m);
        let count = self.obj_list(ctx, SYNC).len();
        let (_, wv) = self.obj_update(ctx, SYNC, name, |old| {
            if old.is_some() {
                return Err(AwsError::new(
                    "ResourceDataSyncAlreadyExistsException",
                    format!("Sync {name} already exists."),
                ));
            }
            if count >= MAX_SYNCS {
                return Err(AwsError::new(
                    "ResourceDataSyncCountExceededException",
                    format!(
                        "You have exceeded the allowed maximum sync configurations ({MAX_SYNCS})."
                    ),
                ));
            }
            Ok((Some(ObjectRec::new(SYNC, name, &body)), ()))
        })?;
        ok(json!({}), wv)
    }

    pub(super) fn list_resource_data_sync(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let want = s(input, "SyncType");
        let items: Vec<Value> = self
            .obj_list(ctx, SYNC)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| match want {
                Some(t) => s(v, "SyncType") == Some(t),
                None => s(v, "SyncType") == Some("SyncToDestination"),
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("ResourceDataSyncItems", items, next), None)
    }

    pub(super) fn update_resource_data_sync(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "SyncName")?;
        let sync_type = req(input, "SyncType")?;
        let (_, wv) = self.obj_update(ctx, SYNC, name, |old| {
            let mut o = old.ok_or_else(|| sync_missing(name))?;
            let mut v = o.value();
            if s(&v, "SyncType") != Some(sync_type) || sync_type != "SyncFromSource" {
                return Err(AwsError::new(
                    "ResourceDataSyncInvalidConfigurationException",
                    "Only a sync of type SyncFromSource can be updated, with its own sync type.",
                ));
            }
            let mut src = input.get("SyncSource").cloned().unwrap_or(json!({}));
            src["State"] = json!("Active");
            v["SyncSource"] = src;
            v["SyncLastModifiedTime"] = json!(secs(now_ms()));
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), wv)
    }

    pub(super) fn delete_resource_data_sync(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "SyncName")?;
        if let (Some(t), Some(o)) = (s(input, "SyncType"), self.obj_get(ctx, SYNC, name))
            && s(&o.value(), "SyncType") != Some(t)
        {
            return Err(sync_missing(name));
        }
        let wv = self
            .obj_delete(ctx, SYNC, name)
            .ok_or_else(|| sync_missing(name))?;
        ok(json!({}), Some(wv))
    }
}

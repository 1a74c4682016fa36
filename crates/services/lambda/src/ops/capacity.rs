//! Capacity providers (Lambda Managed Instances): Create/Get/Update/Delete/ListCapacityProviders
//! and ListFunctionVersionsByCapacityProvider. A provider is a record with AWS's states
//! (`Pending` when created, then `Active`); one that function versions use cannot be deleted.
//! Tags go through TagResource/UntagResource/ListTags on its ARN.

use serde_json::{Map, Value, json};
use snapstack_service::RequestContext;

use super::{Done, s};
use crate::model::{CapacityProvider, Config, LambdaRecord, keys};
use crate::output::{config_arn, last_modified};
use crate::{LResult, Lambda, LambdaError};

/// The most capacity providers an account holds in a region.
const MAX_PROVIDERS: usize = 1000;
const MAX_TAGS: usize = 50;

pub fn provider_arn(ctx: &RequestContext, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:capacity-provider:{name}",
        ctx.region(),
        ctx.account()
    )
}

/// The provider name a `CapacityProviderName` (a name or an ARN) or a tagging ARN names.
pub fn provider_name(raw: &str) -> Option<&str> {
    let parts: Vec<&str> = raw.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "capacity-provider", name] if !name.is_empty() => Some(*name),
        [name] if !name.is_empty() => Some(*name),
        _ => None,
    }
}

fn not_found(ctx: &RequestContext, name: &str) -> LambdaError {
    LambdaError::not_found(format!(
        "Capacity provider not found: {}",
        provider_arn(ctx, name)
    ))
}

/// The capacity provider ARN a configuration names, if it runs on one.
pub fn provider_of(c: &Config) -> Option<String> {
    crate::ops::managed::extra_member(c, "CapacityProviderConfig").and_then(|v| {
        v.get("LambdaManagedInstancesCapacityProviderConfig")
            .and_then(|m| m.get("CapacityProviderArn"))
            .and_then(Value::as_str)
            .map(String::from)
    })
}

fn check_scaling(conf: &Value) -> LResult<()> {
    let mode = s(conf, "ScalingMode").unwrap_or("Auto");
    let policies = conf
        .get("ScalingPolicies")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if mode == "Manual" && policies == 0 {
        return Err(LambdaError::invalid(
            "ScalingPolicies must be specified when ScalingMode is Manual.",
        ));
    }
    if mode == "Auto" && policies > 0 {
        return Err(LambdaError::invalid(
            "ScalingPolicies cannot be specified when ScalingMode is Auto.",
        ));
    }
    Ok(())
}

impl Lambda {
    fn provider_out(&self, ctx: &RequestContext, p: &CapacityProvider) -> Value {
        let mut o: Map<String, Value> = serde_json::from_str(&p.config).unwrap_or_default();
        o.insert(
            "CapacityProviderArn".into(),
            json!(provider_arn(ctx, &p.name)),
        );
        o.insert("State".into(), json!(p.state));
        o.insert(
            "LastModified".into(),
            json!(last_modified(p.last_modified_ms)),
        );
        Value::Object(o)
    }

    pub(crate) fn get_provider(
        &self,
        ctx: &RequestContext,
        raw: &str,
    ) -> LResult<CapacityProvider> {
        let name = provider_name(raw).ok_or_else(|| not_found(ctx, raw))?;
        match self
            .store
            .snapshot()
            .get(&keys::capacity_provider(&ctx.partition, name))
        {
            Some(LambdaRecord::CapacityProvider(p)) => Ok(p.clone()),
            _ => Err(not_found(ctx, name)),
        }
    }

    /// Check a function's `CapacityProviderConfig` names a provider that exists.
    pub(crate) fn check_provider_config(&self, ctx: &RequestContext, input: &Value) -> LResult<()> {
        let Some(arn) = input
            .get("CapacityProviderConfig")
            .and_then(|c| c.get("LambdaManagedInstancesCapacityProviderConfig"))
            .and_then(|m| s(m, "CapacityProviderArn"))
        else {
            return Ok(());
        };
        let p = self.get_provider(ctx, arn)?;
        if p.state == "Failed" || p.state == "Deleting" {
            return Err(LambdaError::invalid(format!(
                "Capacity provider {arn} is in state {} and cannot be used.",
                p.state
            )));
        }
        Ok(())
    }

    pub(crate) fn create_provider(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let raw = s(input, "CapacityProviderName").unwrap_or("");
        let name = provider_name(raw)
            .ok_or_else(|| LambdaError::invalid(format!("Invalid capacity provider name: {raw}")))?
            .to_string();
        let mut config = Map::new();
        for k in [
            "VpcConfig",
            "PermissionsConfig",
            "InstanceRequirements",
            "CapacityProviderScalingConfig",
            "KmsKeyArn",
        ] {
            if let Some(v) = input.get(k) {
                config.insert(k.into(), v.clone());
            }
        }
        let scaling = config
            .entry("CapacityProviderScalingConfig")
            .or_insert(json!({"ScalingMode": "Auto"}));
        if let Some(o) = scaling.as_object_mut() {
            o.entry("ScalingMode").or_insert(json!("Auto"));
        }
        check_scaling(scaling)?;
        let req = config
            .entry("InstanceRequirements")
            .or_insert(json!({"Architectures": ["x86_64"]}));
        if let Some(o) = req.as_object_mut() {
            o.entry("Architectures").or_insert(json!(["x86_64"]));
            if o.contains_key("AllowedInstanceTypes") && o.contains_key("ExcludedInstanceTypes") {
                return Err(LambdaError::invalid(
                    "AllowedInstanceTypes and ExcludedInstanceTypes cannot both be specified.",
                ));
            }
        }
        let mut tags: Vec<(String, String)> = crate::esm::tags::tags_of(input);
        if tags.len() > MAX_TAGS {
            return Err(LambdaError::invalid(
                "Number of tags exceeds resource tag limit of 50.",
            ));
        }
        tags.sort();
        let now = self.now();
        let p = CapacityProvider {
            name: name.clone(),
            state: "Active".into(),
            config: Value::Object(config).to_string(),
            tags,
            created_ms: now,
            last_modified_ms: now,
        };
        let part = ctx.partition.clone();
        let (res, v) = self.store.write(|txn| {
            let k = keys::capacity_provider(&part, &name);
            if txn.contains(&k) {
                return Err(LambdaError::conflict(format!(
                    "Capacity provider already exists: {}",
                    provider_arn(ctx, &name)
                )));
            }
            if txn.scan_prefix(&keys::capacity_providers(&part)).count() >= MAX_PROVIDERS {
                return Err(LambdaError::new(
                    400,
                    "CapacityProviderLimitExceededException",
                    format!("The limit of {MAX_PROVIDERS} capacity providers has been reached."),
                ));
            }
            txn.insert(k, LambdaRecord::CapacityProvider(p.clone()));
            Ok(())
        });
        res?;
        let mut out = self.provider_out(ctx, &p);
        out["State"] = json!("Pending");
        Ok(Done::wrote(json!({ "CapacityProvider": out }), v))
    }

    pub(crate) fn get_provider_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let p = self.get_provider(ctx, s(input, "CapacityProviderName").unwrap_or(""))?;
        Ok(Done::read(
            json!({ "CapacityProvider": self.provider_out(ctx, &p) }),
        ))
    }

    pub(crate) fn update_provider(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let p = self.get_provider(ctx, s(input, "CapacityProviderName").unwrap_or(""))?;
        let mut config: Map<String, Value> = serde_json::from_str(&p.config).unwrap_or_default();
        if let Some(sc) = input.get("CapacityProviderScalingConfig") {
            let mut sc = sc.clone();
            if let Some(o) = sc.as_object_mut() {
                o.entry("ScalingMode").or_insert(json!("Auto"));
            }
            check_scaling(&sc)?;
            config.insert("CapacityProviderScalingConfig".into(), sc);
        }
        let now = self.now();
        let part = ctx.partition.clone();
        let name = p.name.clone();
        let (res, v) = self.store.write(|txn| {
            let k = keys::capacity_provider(&part, &name);
            let Some(LambdaRecord::CapacityProvider(mut cur)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &name));
            };
            cur.config = Value::Object(config.clone()).to_string();
            cur.last_modified_ms = now;
            txn.insert(k, LambdaRecord::CapacityProvider(cur.clone()));
            Ok(cur)
        });
        let cur = res?;
        Ok(Done::wrote(
            json!({ "CapacityProvider": self.provider_out(ctx, &cur) }),
            v,
        ))
    }

    /// The function versions (and `$LATEST`) that run on a provider, as their ARNs.
    fn versions_on(&self, ctx: &RequestContext, name: &str) -> Vec<String> {
        let arn = provider_arn(ctx, name);
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        for (_, r) in snap.scan_prefix(&keys::functions(&ctx.partition)) {
            let LambdaRecord::Function(f) = r else {
                continue;
            };
            let on = |c: &Config| provider_of(c).is_some_and(|a| a == arn || a == name);
            if on(&f.latest) {
                out.push(config_arn(ctx, &f.name, &f.latest));
            }
            for (_, v) in snap.scan_prefix(&keys::versions(&ctx.partition, &f.name)) {
                if let LambdaRecord::Version(v) = v
                    && on(&v.config)
                {
                    out.push(config_arn(ctx, &f.name, &v.config));
                }
            }
        }
        out
    }

    pub(crate) fn delete_provider(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let p = self.get_provider(ctx, s(input, "CapacityProviderName").unwrap_or(""))?;
        let users = self.versions_on(ctx, &p.name);
        if !users.is_empty() {
            return Err(LambdaError::conflict(format!(
                "Capacity provider {} is in use by function versions and cannot be deleted: [{}]",
                provider_arn(ctx, &p.name),
                users.join(", ")
            )));
        }
        let part = ctx.partition.clone();
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::capacity_provider(&part, &p.name));
        });
        let mut out = self.provider_out(ctx, &p);
        out["State"] = json!("Deleting");
        Ok(Done::wrote(json!({ "CapacityProvider": out }), v))
    }

    pub(crate) fn list_providers(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let state = s(input, "State");
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(50, |n| n.clamp(1, 50) as usize);
        let marker = s(input, "Marker").unwrap_or("");
        let all: Vec<CapacityProvider> = self
            .store
            .snapshot()
            .scan_prefix(&keys::capacity_providers(&ctx.partition))
            .filter_map(|(_, r)| match r {
                LambdaRecord::CapacityProvider(p)
                    if state.is_none_or(|st| st == p.state) && p.name.as_str() > marker =>
                {
                    Some(p.clone())
                }
                _ => None,
            })
            .collect();
        let page: Vec<Value> = all
            .iter()
            .take(max)
            .map(|p| self.provider_out(ctx, p))
            .collect();
        let mut out = json!({ "CapacityProviders": page });
        if all.len() > max {
            out["NextMarker"] = json!(all[max - 1].name);
        }
        Ok(Done::read(out))
    }

    pub(crate) fn list_provider_versions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let p = self.get_provider(ctx, s(input, "CapacityProviderName").unwrap_or(""))?;
        let all = self.versions_on(ctx, &p.name);
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(50, |n| n.clamp(1, 50) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|a| json!({"FunctionArn": a, "State": "Active"}))
            .collect();
        let mut out = json!({
            "CapacityProviderArn": provider_arn(ctx, &p.name),
            "FunctionVersions": page,
        });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    /// TagResource/UntagResource on a capacity provider's ARN.
    pub(crate) fn retag_provider(
        &self,
        ctx: &RequestContext,
        name: &str,
        add: Vec<(String, String)>,
        remove: &[String],
    ) -> LResult<Done> {
        let part = ctx.partition.clone();
        let (res, v) = self.store.write(|txn| {
            let k = keys::capacity_provider(&part, name);
            let Some(LambdaRecord::CapacityProvider(mut p)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, name));
            };
            p.tags.retain(|(t, _)| !remove.contains(t));
            for (t, val) in add {
                p.tags.retain(|(x, _)| *x != t);
                p.tags.push((t, val));
            }
            if p.tags.len() > MAX_TAGS {
                return Err(LambdaError::invalid(
                    "Number of tags exceeds resource tag limit of 50.",
                ));
            }
            p.tags.sort();
            txn.insert(k, LambdaRecord::CapacityProvider(p));
            Ok(())
        });
        res?;
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_provider_tags(&self, ctx: &RequestContext, name: &str) -> LResult<Done> {
        let p = self.get_provider(ctx, name)?;
        let t: Map<String, Value> = p.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        Ok(Done::read(json!({ "Tags": t })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_from_names_and_arns() {
        assert_eq!(provider_name("cp1"), Some("cp1"));
        assert_eq!(
            provider_name("arn:aws:lambda:us-east-1:000000000000:capacity-provider:cp1"),
            Some("cp1")
        );
        assert_eq!(
            provider_name("arn:aws:lambda:us-east-1:000000000000:function:f"),
            None
        );
        assert_eq!(provider_name(""), None);
    }

    #[test]
    fn scaling_modes_are_checked() {
        assert!(check_scaling(&json!({"ScalingMode": "Auto"})).is_ok());
        assert!(check_scaling(&json!({"ScalingMode": "Manual"})).is_err());
        assert!(
            check_scaling(&json!({"ScalingMode": "Manual", "ScalingPolicies": [
                {"PredefinedMetricType": "LambdaCapacityProviderAverageCPUUtilization", "TargetValue": 50.0}
            ]}))
            .is_ok()
        );
    }
}

//! Per-function settings that are records of their own: recursive loop detection
//! (Get/PutFunctionRecursionConfig), runtime management (Get/PutRuntimeManagementConfig, per
//! version, reflected in the configuration's `RuntimeVersionConfig`) and the scaling of
//! functions on capacity providers (Get/PutFunctionScalingConfig).
//!
//! Recursive loop detection itself is not done: the setting is stored and returned, and a
//! function that calls itself in a loop runs as it asks.

use serde_json::{Value, json};
use sha2::Digest;
use snapstack_service::RequestContext;

use super::{Done, fn_ref, names_only, not_found, s};
use crate::model::{Config, LambdaRecord, Recursion, RuntimeManagement, Scaling, keys};
use crate::names::{function_arn, is_version};
use crate::{LResult, Lambda, LambdaError};

/// The runtime version a runtime name runs here: a stable ARN derived from the name, in the
/// form AWS hands out (`arn:aws:lambda:REGION::runtime:<64 hex>`).
pub fn runtime_version_arn(region: &str, runtime: &str) -> String {
    let h = sha2::Sha256::digest(format!("snapstack-runtime:{runtime}").as_bytes());
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("arn:aws:lambda:{region}::runtime:{hex}")
}

/// Whether a configuration is a container image's.
pub fn is_image(c: &Config) -> bool {
    serde_json::from_str::<Value>(&c.extra)
        .ok()
        .and_then(|v| {
            v.get("PackageType")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .as_deref()
        == Some("Image")
}

/// A member of a configuration's stored extras.
pub fn extra_member(c: &Config, member: &str) -> Option<Value> {
    serde_json::from_str::<Value>(&c.extra)
        .ok()
        .and_then(|v| v.get(member).cloned())
}

impl Lambda {
    pub(crate) fn get_recursion(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let mode = match self
            .store
            .snapshot()
            .get(&keys::recursion(&ctx.partition, &r.name))
        {
            Some(LambdaRecord::Recursion(rec)) => rec.recursive_loop.clone(),
            _ => "Terminate".to_string(),
        };
        Ok(Done::read(json!({ "RecursiveLoop": mode })))
    }

    pub(crate) fn put_recursion(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        let mode = s(input, "RecursiveLoop").unwrap_or("Terminate").to_string();
        let p = ctx.partition.clone();
        let (res, v) = self.store.write(|txn| {
            if !txn.contains(&keys::function(&p, &r.name)) {
                return Err(not_found(ctx, &r.name, None));
            }
            txn.insert(
                keys::recursion(&p, &r.name),
                LambdaRecord::Recursion(Recursion {
                    function: r.name.clone(),
                    recursive_loop: mode.clone(),
                }),
            );
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({ "RecursiveLoop": mode }), v))
    }

    /// The version a runtime management call names (`$LATEST` or a number; aliases refused).
    fn runtime_version_of(&self, ctx: &RequestContext, input: &Value) -> LResult<(String, Config)> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let q = r.qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        if q != "$LATEST" && !is_version(&q) {
            return Err(LambdaError::invalid(format!(
                "Invalid Qualifier: {q}. The runtime management configuration applies to $LATEST or a published version."
            )));
        }
        let c = self.version_config(ctx, &f.name, &q)?;
        if is_image(&c) {
            return Err(LambdaError::invalid(
                "Runtime management configuration is not supported for functions with package type Image.",
            ));
        }
        Ok((q, c))
    }

    /// A version's runtime management configuration (`Auto` when none was put).
    pub(crate) fn runtime_management(
        &self,
        ctx: &RequestContext,
        name: &str,
        qualifier: &str,
    ) -> RuntimeManagement {
        match self
            .store
            .snapshot()
            .get(&keys::runtime_management(&ctx.partition, name, qualifier))
        {
            Some(LambdaRecord::RuntimeManagement(m)) => m.clone(),
            _ => RuntimeManagement {
                function: name.to_string(),
                qualifier: qualifier.to_string(),
                update_on: "Auto".into(),
                runtime_version_arn: None,
            },
        }
    }

    pub(crate) fn get_runtime_management(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let (q, c) = self.runtime_version_of(ctx, input)?;
        let name = fn_ref(ctx, input)?.name;
        let m = self.runtime_management(ctx, &name, &q);
        let mut out = json!({
            "UpdateRuntimeOn": m.update_on,
            "FunctionArn": crate::output::config_arn(ctx, &name, &c),
        });
        if let Some(a) = m.runtime_version_arn {
            out["RuntimeVersionArn"] = json!(a);
        }
        Ok(Done::read(out))
    }

    pub(crate) fn put_runtime_management(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let (q, c) = self.runtime_version_of(ctx, input)?;
        let name = fn_ref(ctx, input)?.name;
        let on = s(input, "UpdateRuntimeOn").unwrap_or("Auto").to_string();
        let arn = s(input, "RuntimeVersionArn").map(String::from);
        match (on.as_str(), &arn) {
            ("Manual", None) => {
                return Err(LambdaError::invalid(
                    "RuntimeVersionArn must be specified when UpdateRuntimeOn is Manual.",
                ));
            }
            ("Auto" | "FunctionUpdate", Some(_)) => {
                return Err(LambdaError::invalid(format!(
                    "RuntimeVersionArn can only be specified when UpdateRuntimeOn is Manual, not {on}."
                )));
            }
            _ => {}
        }
        if let Some(a) = &arn {
            let region = a.split(':').nth(3).unwrap_or("");
            if region != ctx.region() {
                return Err(LambdaError::invalid(format!(
                    "RuntimeVersionArn {a} is not in the function's region ({}).",
                    ctx.region()
                )));
            }
            let id = a.rsplit_once(":runtime:").map_or("", |(_, id)| id);
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(LambdaError::invalid(format!(
                    "The runtime version {a} does not exist or is not compatible with runtime {}.",
                    c.runtime
                )));
            }
        }
        let m = RuntimeManagement {
            function: name.clone(),
            qualifier: q.clone(),
            update_on: on,
            runtime_version_arn: arn,
        };
        let p = ctx.partition.clone();
        let (res, v) = self.store.write(|txn| {
            if !txn.contains(&keys::function(&p, &name)) {
                return Err(not_found(ctx, &name, None));
            }
            txn.insert(
                keys::runtime_management(&p, &name, &q),
                LambdaRecord::RuntimeManagement(m.clone()),
            );
            Ok(())
        });
        res?;
        let mut out = json!({
            "UpdateRuntimeOn": m.update_on,
            "FunctionArn": crate::output::config_arn(ctx, &name, &c),
        });
        if let Some(a) = m.runtime_version_arn {
            out["RuntimeVersionArn"] = json!(a);
        }
        Ok(Done::wrote(out, v))
    }

    /// The `RuntimeVersionConfig` a configuration reports: the pinned version under `Manual`,
    /// else the version its runtime runs here. Image functions have none.
    pub(crate) fn runtime_version_config(
        &self,
        ctx: &RequestContext,
        name: &str,
        c: &Config,
    ) -> Option<Value> {
        if is_image(c) || c.runtime.is_empty() {
            return None;
        }
        let m = self.runtime_management(ctx, name, &c.version);
        let arn = m
            .runtime_version_arn
            .unwrap_or_else(|| runtime_version_arn(ctx.region(), &c.runtime));
        Some(json!({ "RuntimeVersionArn": arn }))
    }

    /// The published version a scaling call names, on a capacity provider: the function, the
    /// qualifier as given, and the version it resolves to (the record's key).
    fn scaling_target(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<(String, String, String)> {
        let r = names_only(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let q = s(input, "Qualifier").unwrap_or("").to_string();
        let c = if q == "$LATEST.PUBLISHED" {
            if f.last_version == 0 {
                return Err(LambdaError::not_found(format!(
                    "Function not found: {}",
                    function_arn(ctx, &f.name, Some(&q))
                )));
            }
            self.version_config(ctx, &f.name, &f.last_version.to_string())?
        } else if is_version(&q) {
            self.version_config(ctx, &f.name, &q)?
        } else {
            return Err(LambdaError::invalid(format!(
                "Invalid Qualifier: {q}. The scaling configuration applies to a published version or $LATEST.PUBLISHED."
            )));
        };
        if extra_member(&c, "CapacityProviderConfig").is_none() {
            return Err(LambdaError::invalid(
                "Function scaling configuration is only supported for functions that use a capacity provider.",
            ));
        }
        Ok((f.name, q, c.version))
    }

    pub(crate) fn get_scaling(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (name, q, version) = self.scaling_target(ctx, input)?;
        let mut out = json!({ "FunctionArn": function_arn(ctx, &name, Some(&q)) });
        if let Some(LambdaRecord::Scaling(sc)) =
            self.store
                .snapshot()
                .get(&keys::scaling(&ctx.partition, &name, &version))
        {
            let mut conf = json!({});
            if let Some(n) = sc.min {
                conf["MinExecutionEnvironments"] = json!(n);
            }
            if let Some(n) = sc.max {
                conf["MaxExecutionEnvironments"] = json!(n);
            }
            out["RequestedFunctionScalingConfig"] = conf.clone();
            out["AppliedFunctionScalingConfig"] = conf;
        }
        Ok(Done::read(out))
    }

    pub(crate) fn put_scaling(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (name, _, version) = self.scaling_target(ctx, input)?;
        let conf = input
            .get("FunctionScalingConfig")
            .cloned()
            .unwrap_or(json!({}));
        let num = |k: &str| conf.get(k).and_then(Value::as_u64).map(|n| n as u32);
        let (min, max) = (
            num("MinExecutionEnvironments"),
            num("MaxExecutionEnvironments"),
        );
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            return Err(LambdaError::invalid(format!(
                "MinExecutionEnvironments ({a}) must be less than or equal to MaxExecutionEnvironments ({b})."
            )));
        }
        let p = ctx.partition.clone();
        let (res, v) = self.store.write(|txn| {
            if !txn.contains(&keys::function(&p, &name)) {
                return Err(not_found(ctx, &name, None));
            }
            txn.insert(
                keys::scaling(&p, &name, &version),
                LambdaRecord::Scaling(Scaling {
                    function: name.clone(),
                    qualifier: version.clone(),
                    min,
                    max,
                }),
            );
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({ "FunctionState": "Active" }), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_version_arns_are_stable_and_shaped() {
        let a = runtime_version_arn("us-east-1", "python3.12");
        assert_eq!(a, runtime_version_arn("us-east-1", "python3.12"));
        assert_ne!(a, runtime_version_arn("us-east-1", "python3.11"));
        assert!(a.starts_with("arn:aws:lambda:us-east-1::runtime:"));
        assert_eq!(a.rsplit_once(":runtime:").unwrap().1.len(), 64);
    }
}

//! Aliases (with weighted routing) and the function's resource policy (AddPermission,
//! RemovePermission, GetPolicy).

use serde_json::{Value, json};
use snapstack_service::RequestContext;

use super::{Done, fn_ref, names_only, not_found, revision_check, s};
use crate::model::{Alias, LambdaRecord, keys};
use crate::names::{function_arn, is_version};
use crate::output;
use crate::{LResult, Lambda, LambdaError};

fn routing(input: &Value) -> LResult<Option<Vec<(String, f64)>>> {
    let Some(rc) = input.get("RoutingConfig") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    if let Some(m) = rc
        .get("AdditionalVersionWeights")
        .and_then(Value::as_object)
    {
        if m.len() > 1 {
            return Err(LambdaError::invalid(
                "Number of items in AdditionalVersionWeights cannot be greater than 1",
            ));
        }
        for (v, w) in m {
            let w = w.as_f64().unwrap_or(-1.0);
            if !(0.0..=1.0).contains(&w) {
                return Err(LambdaError::invalid(
                    "Invalid RoutingConfig: weights must be between 0.0 and 1.0",
                ));
            }
            out.push((v.clone(), w));
        }
    }
    Ok(Some(out))
}

fn alias_not_found(ctx: &RequestContext, name: &str, alias: &str) -> LambdaError {
    LambdaError::not_found(format!(
        "Cannot find alias arn: {}",
        function_arn(ctx, name, Some(alias))
    ))
}

impl Lambda {
    pub(crate) fn get_alias(
        &self,
        ctx: &RequestContext,
        name: &str,
        alias: &str,
    ) -> LResult<Alias> {
        match self
            .store
            .snapshot()
            .get(&keys::alias(&ctx.partition, name, alias))
        {
            Some(LambdaRecord::Alias(a)) => Ok(a.clone()),
            _ => Err(alias_not_found(ctx, name, alias)),
        }
    }

    fn check_versions(
        &self,
        ctx: &RequestContext,
        name: &str,
        primary: &str,
        routing: &[(String, f64)],
    ) -> LResult<()> {
        self.version_config(ctx, name, primary)?;
        for (v, _) in routing {
            if v == "$LATEST" || v == primary {
                return Err(LambdaError::invalid(format!(
                    "Invalid function version {v}. Function version {v} is already included in routing configuration."
                )));
            }
            self.version_config(ctx, name, v)?;
        }
        Ok(())
    }

    pub(crate) fn create_alias(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        let alias_name = s(input, "Name").unwrap_or("").to_string();
        if is_version(&alias_name) {
            return Err(LambdaError::invalid(
                "Alias names must not be a version number or $LATEST",
            ));
        }
        let fv = s(input, "FunctionVersion").unwrap_or("").to_string();
        let routes = routing(input)?.unwrap_or_default();
        self.get_function(ctx, &r.name)?;
        self.check_versions(ctx, &r.name, &fv, &routes)?;
        let a = Alias {
            function: r.name.clone(),
            name: alias_name.clone(),
            function_version: fv,
            description: s(input, "Description").unwrap_or("").to_string(),
            routing: routes,
            revision_id: self.uuid(),
        };
        let p = ctx.partition.clone();
        let (res, version) = self.store.write(|txn| {
            let k = keys::alias(&p, &r.name, &alias_name);
            if txn.contains(&k) {
                return Err(LambdaError::conflict(format!(
                    "Alias already exists: {}",
                    function_arn(ctx, &r.name, Some(&alias_name))
                )));
            }
            if !txn.contains(&keys::function(&p, &r.name)) {
                return Err(not_found(ctx, &r.name, None));
            }
            txn.insert(k, LambdaRecord::Alias(a.clone()));
            Ok(())
        });
        res?;
        Ok(Done::wrote(output::alias(ctx, &a), version))
    }

    pub(crate) fn get_alias_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let a = self.get_alias(ctx, &r.name, s(input, "Name").unwrap_or(""))?;
        Ok(Done::read(output::alias(ctx, &a)))
    }

    pub(crate) fn update_alias(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let mut a = self.get_alias(ctx, &r.name, s(input, "Name").unwrap_or(""))?;
        revision_check(s(input, "RevisionId"), &a.revision_id)?;
        if let Some(v) = s(input, "FunctionVersion") {
            a.function_version = v.to_string();
        }
        if let Some(d) = s(input, "Description") {
            a.description = d.to_string();
        }
        if let Some(rt) = routing(input)? {
            a.routing = rt;
        }
        self.check_versions(ctx, &r.name, &a.function_version, &a.routing)?;
        a.revision_id = self.uuid();
        let p = ctx.partition.clone();
        let (_, version) = self.store.write(|txn| {
            txn.insert(
                keys::alias(&p, &r.name, &a.name),
                LambdaRecord::Alias(a.clone()),
            );
        });
        Ok(Done::wrote(output::alias(ctx, &a), version))
    }

    pub(crate) fn delete_alias(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let name = s(input, "Name").unwrap_or("");
        let p = ctx.partition.clone();
        let (removed, version) = self.store.write(|txn| {
            let removed = txn.remove(&keys::alias(&p, &r.name, name)).is_some();
            if removed {
                crate::urls::forget(txn, &p.account, &p.region, &r.name, Some(Some(name)));
                txn.remove(&keys::provisioned(&p, &r.name, name));
            }
            removed
        });
        // Deleting an alias that does not exist succeeds, as in Lambda.
        Ok(if removed {
            Done::wrote(Value::Null, version)
        } else {
            Done::read(Value::Null)
        })
    }

    pub(crate) fn list_aliases(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let fv = s(input, "FunctionVersion");
        let snap = self.store.snapshot();
        let all: Vec<Value> = snap
            .scan_prefix(&keys::aliases(&ctx.partition, &r.name))
            .filter_map(|(_, a)| match a {
                LambdaRecord::Alias(a) if fv.is_none_or(|v| v == a.function_version) => {
                    Some(output::alias(ctx, a))
                }
                _ => None,
            })
            .collect();
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(50, |n| n.clamp(1, 10_000) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "Aliases": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn add_permission(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        if let Some(q) = r.qualifier.as_deref() {
            self.config_of(ctx, &f, Some(q))?;
        }
        revision_check(s(input, "RevisionId"), &f.policy_revision)?;
        let sid = s(input, "StatementId").unwrap_or("").to_string();
        let principal = s(input, "Principal").unwrap_or("");
        let principal_v = if principal.ends_with(".amazonaws.com") {
            json!({ "Service": principal })
        } else if principal == "*" {
            json!("*")
        } else if principal.bytes().all(|b| b.is_ascii_digit()) && principal.len() == 12 {
            json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
        } else {
            json!({ "AWS": principal })
        };
        let mut st = json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal_v,
            "Action": s(input, "Action").unwrap_or(""),
            "Resource": function_arn(ctx, &r.name, r.qualifier.as_deref()),
        });
        let mut cond = serde_json::Map::new();
        if let Some(a) = s(input, "SourceArn") {
            cond.insert("ArnLike".into(), json!({ "AWS:SourceArn": a }));
        }
        if let Some(a) = s(input, "SourceAccount") {
            cond.insert("StringEquals".into(), json!({ "AWS:SourceAccount": a }));
        }
        if let Some(o) = s(input, "PrincipalOrgID") {
            cond.insert("StringEquals".into(), json!({ "aws:PrincipalOrgID": o }));
        }
        if let Some(t) = s(input, "FunctionUrlAuthType") {
            cond.insert(
                "StringEquals".into(),
                json!({ "lambda:FunctionUrlAuthType": t }),
            );
        }
        if !cond.is_empty() {
            st["Condition"] = serde_json::Value::Object(cond);
        }
        let text = st.to_string();
        let p = ctx.partition.clone();
        let rev = self.uuid();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &r.name);
            let Some(LambdaRecord::Function(f)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &r.name, None));
            };
            let mut f = f;
            let exists = f.policy.iter().any(|t| {
                serde_json::from_str::<Value>(t)
                    .ok()
                    .is_some_and(|v| v["Sid"] == json!(sid))
            });
            if exists {
                return Err(LambdaError::conflict(
                    "The statement id (sid) provided already exists. Please choose a different statement id.",
                ));
            }
            f.policy.push(text.clone());
            f.policy_revision = rev;
            txn.insert(k, LambdaRecord::Function(f));
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({ "Statement": text }), version))
    }

    pub(crate) fn remove_permission(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let sid = s(input, "StatementId").unwrap_or("").to_string();
        let p = ctx.partition.clone();
        let rev = self.uuid();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &r.name);
            let Some(LambdaRecord::Function(f)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &r.name, None));
            };
            let mut f = f;
            revision_check(s(input, "RevisionId"), &f.policy_revision)?;
            let before = f.policy.len();
            f.policy.retain(|t| {
                serde_json::from_str::<Value>(t)
                    .ok()
                    .is_none_or(|v| v["Sid"] != json!(sid))
            });
            if f.policy.len() == before {
                return Err(LambdaError::not_found(format!(
                    "Statement {sid} is not found in resource policy."
                )));
            }
            f.policy_revision = rev;
            txn.insert(k, LambdaRecord::Function(f));
            Ok(())
        });
        res?;
        Ok(Done::wrote(Value::Null, version))
    }

    pub(crate) fn get_policy(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let resource = function_arn(ctx, &r.name, r.qualifier.as_deref());
        let statements: Vec<Value> = f
            .policy
            .iter()
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .filter(|v| v["Resource"] == json!(resource))
            .collect();
        if statements.is_empty() {
            return Err(LambdaError::not_found(
                "The resource you requested does not exist.",
            ));
        }
        let policy = json!({
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": statements,
        });
        Ok(Done::read(json!({
            "Policy": policy.to_string(),
            "RevisionId": f.policy_revision,
        })))
    }
}

//! Provisioned concurrency (stored; `READY` with as many warm environments kept by the
//! service's keeper task) and code signing configurations (stored and validated; their
//! policy is not enforced: code is never signed here, so `Enforce` behaves as `Warn`).

use serde_json::{Value, json};
use snapstack_engine::Part;
use snapstack_service::RequestContext;

use crate::model::{CodeSigning, FunctionCodeSigning, LambdaRecord, Provisioned, keys};
use crate::names::function_arn;
use crate::ops::{Done, fn_ref, names_only, s};
use crate::output::last_modified;
use crate::{LResult, Lambda, LambdaError};

fn provisioned_missing() -> LambdaError {
    LambdaError::new(
        404,
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
    )
}

fn provisioned_out(p: &Provisioned, status: &str) -> Value {
    let allocated = if status == "READY" { p.requested } else { 0 };
    json!({
        "RequestedProvisionedConcurrentExecutions": p.requested,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": last_modified(p.last_modified_ms),
    })
}

fn csc_arn(ctx: &RequestContext, id: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:code-signing-config:{id}",
        ctx.region(),
        ctx.account()
    )
}

fn csc_id(ctx: &RequestContext, arn: &str) -> LResult<String> {
    let bad = || {
        LambdaError::new(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{arn}' at 'codeSigningConfigArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:code-signing-config:csc-[a-z0-9]{{17}}"
            ),
        )
    };
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [
            "arn",
            _,
            "lambda",
            region,
            account,
            "code-signing-config",
            id,
        ] if id.starts_with("csc-") && id.len() == 21 => {
            if *region != ctx.region() || *account != ctx.account() {
                return Err(LambdaError::not_found(format!(
                    "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
                )));
            }
            Ok(id.to_string())
        }
        _ => Err(bad()),
    }
}

fn csc_out(ctx: &RequestContext, c: &CodeSigning) -> Value {
    json!({
        "CodeSigningConfigId": c.id,
        "CodeSigningConfigArn": csc_arn(ctx, &c.id),
        "Description": c.description,
        "AllowedPublishers": {"SigningProfileVersionArns": c.publishers},
        "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": c.untrusted_action},
        "LastModified": last_modified(c.last_modified_ms),
    })
}

fn publishers(input: &Value) -> LResult<Option<Vec<String>>> {
    let Some(p) = input.get("AllowedPublishers") else {
        return Ok(None);
    };
    let list: Vec<String> = p
        .get("SigningProfileVersionArns")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() || list.len() > 20 {
        return Err(LambdaError::new(
            400,
            "ValidationException",
            "1 validation error detected: Value at 'allowedPublishers.signingProfileVersionArns' failed to satisfy constraint: Member must have length less than or equal to 20 and greater than or equal to 1",
        ));
    }
    Ok(Some(list))
}

impl Lambda {
    fn get_csc(&self, ctx: &RequestContext, arn: &str) -> LResult<CodeSigning> {
        let id = csc_id(ctx, arn)?;
        match self
            .store
            .snapshot()
            .get(&keys::code_signing(&ctx.partition, &id))
        {
            Some(LambdaRecord::CodeSigning(c)) => Ok(c.clone()),
            _ => Err(LambdaError::not_found(format!(
                "The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
            ))),
        }
    }

    pub(crate) fn put_provisioned(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let q = r.qualifier.clone().unwrap_or_default();
        if q.is_empty() || q == "$LATEST" {
            return Err(LambdaError::invalid(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
            ));
        }
        self.config_of(ctx, &f, Some(&q))?;
        let n = input
            .get("ProvisionedConcurrentExecutions")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if n == 0 {
            return Err(LambdaError::new(
                400,
                "ValidationException",
                "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ));
        }
        if let Some(res) = f.reserved_concurrency
            && n > u64::from(res)
        {
            return Err(LambdaError::invalid(format!(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function {}",
                r.name
            )));
        }
        let pc = Provisioned {
            function: r.name.clone(),
            qualifier: q.clone(),
            requested: n as u32,
            last_modified_ms: self.now(),
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(
                keys::provisioned(&ctx.partition, &r.name, &q),
                LambdaRecord::Provisioned(pc.clone()),
            );
        });
        Ok(Done::wrote(provisioned_out(&pc, "IN_PROGRESS"), v))
    }

    fn provisioned(&self, ctx: &RequestContext, name: &str, q: &str) -> Option<Provisioned> {
        match self
            .store
            .snapshot()
            .get(&keys::provisioned(&ctx.partition, name, q))
        {
            Some(LambdaRecord::Provisioned(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub(crate) fn get_provisioned(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let q = r.qualifier.unwrap_or_default();
        let p = self
            .provisioned(ctx, &r.name, &q)
            .ok_or_else(provisioned_missing)?;
        Ok(Done::read(provisioned_out(&p, "READY")))
    }

    pub(crate) fn delete_provisioned(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let q = r.qualifier.unwrap_or_default();
        let (found, v) = self.store.write(|txn| {
            txn.remove(&keys::provisioned(&ctx.partition, &r.name, &q))
                .is_some()
        });
        if !found {
            return Err(provisioned_missing());
        }
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_provisioned(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::provisioned_of(&ctx.partition, &r.name))
            .filter_map(|(_, rec)| match rec {
                LambdaRecord::Provisioned(p) => {
                    let mut o = provisioned_out(p, "READY");
                    o["FunctionArn"] = json!(function_arn(ctx, &p.function, Some(&p.qualifier)));
                    Some(o)
                }
                _ => None,
            })
            .collect();
        Ok(Done::read(json!({ "ProvisionedConcurrencyConfigs": all })))
    }

    /// Every provisioned configuration: (account, region, function, qualifier, count), for
    /// the task that keeps their environments warm.
    pub(crate) fn all_provisioned(&self) -> Vec<(String, String, Provisioned)> {
        let snap = self.store.snapshot();
        snap.iter()
            .filter_map(|(k, r)| match r {
                LambdaRecord::Provisioned(p) => match k.parts()?.as_slice() {
                    [Part::Str(acct), Part::Str(region), ..] => {
                        Some((acct.clone(), region.clone(), p.clone()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Keep the environments of every provisioned configuration warm (the service's keeper
    /// task calls this every few seconds).
    pub(crate) async fn keep_provisioned(&self) {
        let mut wanted = Vec::new();
        for (acct, region, p) in self.all_provisioned() {
            let ctx = RequestContext {
                access_key: acct.clone(),
                partition: snapstack_engine::Partition::new(&acct, &region),
                scope_service: None,
                request_id: String::new(),
            };
            let Ok(f) = self.get_function(&ctx, &p.function) else {
                continue;
            };
            let Ok(c) = self.config_of(&ctx, &f, Some(&p.qualifier)) else {
                continue;
            };
            let spec = self.spec(&ctx, &p.function, &c);
            let engine = self.engine().clone();
            let blob = c.code;
            let code: crate::exec::CodeSource = std::sync::Arc::new(move || {
                crate::code::read(&engine, &blob).map_err(|e| e.message)
            });
            wanted.push((spec, code, p.requested.min(64) as usize));
        }
        self.exec.keep_warm(wanted).await;
    }

    pub(crate) fn create_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let publishers = publishers(input)?.unwrap_or_default();
        let hex: String = self.uuid().replace('-', "").chars().take(17).collect();
        let c = CodeSigning {
            id: format!("csc-{hex}"),
            description: s(input, "Description").unwrap_or("").into(),
            publishers,
            untrusted_action: input
                .get("CodeSigningPolicies")
                .and_then(|p| s(p, "UntrustedArtifactOnDeployment"))
                .unwrap_or("Warn")
                .into(),
            last_modified_ms: self.now(),
            tags: input
                .get("Tags")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(
                keys::code_signing(&ctx.partition, &c.id),
                LambdaRecord::CodeSigning(c.clone()),
            );
        });
        Ok(Done::wrote(
            json!({ "CodeSigningConfig": csc_out(ctx, &c) }),
            v,
        ))
    }

    pub(crate) fn get_csc_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let c = self.get_csc(ctx, s(input, "CodeSigningConfigArn").unwrap_or(""))?;
        Ok(Done::read(json!({ "CodeSigningConfig": csc_out(ctx, &c) })))
    }

    pub(crate) fn update_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let mut c = self.get_csc(ctx, s(input, "CodeSigningConfigArn").unwrap_or(""))?;
        if let Some(p) = publishers(input)? {
            c.publishers = p;
        }
        if let Some(d) = s(input, "Description") {
            c.description = d.into();
        }
        if let Some(a) = input
            .get("CodeSigningPolicies")
            .and_then(|p| s(p, "UntrustedArtifactOnDeployment"))
        {
            c.untrusted_action = a.into();
        }
        c.last_modified_ms = self.now();
        let (_, v) = self.store.write(|txn| {
            txn.insert(
                keys::code_signing(&ctx.partition, &c.id),
                LambdaRecord::CodeSigning(c.clone()),
            );
        });
        Ok(Done::wrote(
            json!({ "CodeSigningConfig": csc_out(ctx, &c) }),
            v,
        ))
    }

    fn functions_using(&self, ctx: &RequestContext, arn: &str) -> Vec<String> {
        self.store
            .snapshot()
            .scan_prefix(&keys::function_code_signings(&ctx.partition))
            .filter_map(|(_, r)| match r {
                LambdaRecord::FunctionCodeSigning(f) if f.config_arn == arn => {
                    Some(function_arn(ctx, &f.function, None))
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn delete_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let arn = s(input, "CodeSigningConfigArn").unwrap_or("");
        let c = self.get_csc(ctx, arn)?;
        if !self.functions_using(ctx, arn).is_empty() {
            return Err(LambdaError::conflict(format!(
                "Cannot delete code signing config {arn} because it is in use by one or more functions."
            )));
        }
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::code_signing(&ctx.partition, &c.id));
        });
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_cscs(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::code_signings(&ctx.partition))
            .filter_map(|(_, r)| match r {
                LambdaRecord::CodeSigning(c) => Some(csc_out(ctx, c)),
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
        let mut out = json!({ "CodeSigningConfigs": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn put_function_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let arn = s(input, "CodeSigningConfigArn").unwrap_or("").to_string();
        self.get_csc(ctx, &arn)?;
        let (_, v) = self.store.write(|txn| {
            txn.insert(
                keys::function_code_signing(&ctx.partition, &r.name),
                LambdaRecord::FunctionCodeSigning(FunctionCodeSigning {
                    function: r.name.clone(),
                    config_arn: arn.clone(),
                }),
            );
        });
        Ok(Done::wrote(
            json!({ "CodeSigningConfigArn": arn, "FunctionName": r.name }),
            v,
        ))
    }

    pub(crate) fn get_function_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let arn = match self
            .store
            .snapshot()
            .get(&keys::function_code_signing(&ctx.partition, &r.name))
        {
            Some(LambdaRecord::FunctionCodeSigning(f)) => f.config_arn.clone(),
            _ => String::new(),
        };
        Ok(Done::read(
            json!({ "CodeSigningConfigArn": arn, "FunctionName": r.name }),
        ))
    }

    pub(crate) fn delete_function_csc(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::function_code_signing(&ctx.partition, &r.name));
        });
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_functions_by_csc(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let arn = s(input, "CodeSigningConfigArn").unwrap_or("");
        self.get_csc(ctx, arn)?;
        Ok(Done::read(
            json!({ "FunctionArns": self.functions_using(ctx, arn) }),
        ))
    }
}

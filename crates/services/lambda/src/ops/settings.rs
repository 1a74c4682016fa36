//! Tags, reserved concurrency, account settings and event invoke configuration.

use serde_json::{Map, Value, json};
use snapstack_service::RequestContext;

use super::{Done, fn_ref, names_only, not_found, s};
use crate::esm::tags::{mapping_uuid, tags_of};
use crate::model::{Function, LambdaRecord, keys};
use crate::names::{from_resource_arn, function_arn};
use crate::{LResult, Lambda, LambdaError};

/// The account's concurrency limit, and what must stay unreserved.
pub const ACCOUNT_CONCURRENCY: u64 = 1000;
const MIN_UNRESERVED: u64 = 100;

/// The capacity provider a tagging ARN names, if it names one.
fn provider_in(resource: &str) -> Option<&str> {
    if resource.contains(":capacity-provider:") {
        super::capacity::provider_name(resource)
    } else {
        None
    }
}

impl Lambda {
    /// Change a function inside one write; `not found` when it is not there.
    fn modify<R>(
        &self,
        ctx: &RequestContext,
        name: &str,
        f: impl FnOnce(&mut Function) -> LResult<R>,
    ) -> LResult<(R, u64)> {
        let p = ctx.partition.clone();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, name);
            let Some(LambdaRecord::Function(cur)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, name, None));
            };
            let mut cur = cur;
            let r = f(&mut cur)?;
            txn.insert(k, LambdaRecord::Function(cur));
            Ok(r)
        });
        res.map(|r| (r, version))
    }

    pub(crate) fn tag_resource(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let resource = s(input, "Resource").unwrap_or("");
        if let Some(uuid) = mapping_uuid(resource) {
            return self.retag_mapping(ctx, uuid, tags_of(input), &[]);
        }
        if let Some(cp) = provider_in(resource) {
            return self.retag_provider(ctx, cp, tags_of(input), &[]);
        }
        let name = from_resource_arn(ctx, resource)?;
        let tags = tags_of(input);
        let (_, v) = self.modify(ctx, &name, |f| {
            for (k, val) in tags {
                f.tags.retain(|(t, _)| *t != k);
                f.tags.push((k, val));
            }
            if f.tags.len() > 50 {
                return Err(LambdaError::invalid(
                    "Number of tags exceeds resource tag limit of 50.",
                ));
            }
            f.tags.sort();
            Ok(())
        })?;
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn untag_resource(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let resource = s(input, "Resource").unwrap_or("");
        let keys: Vec<String> = input
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(uuid) = mapping_uuid(resource) {
            return self.retag_mapping(ctx, uuid, Vec::new(), &keys);
        }
        if let Some(cp) = provider_in(resource) {
            return self.retag_provider(ctx, cp, Vec::new(), &keys);
        }
        let name = from_resource_arn(ctx, resource)?;
        let (_, v) = self.modify(ctx, &name, |f| {
            f.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })?;
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn list_tags(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let resource = s(input, "Resource").unwrap_or("");
        if let Some(uuid) = mapping_uuid(resource) {
            return self.list_mapping_tags(ctx, uuid);
        }
        if let Some(cp) = provider_in(resource) {
            return self.list_provider_tags(ctx, cp);
        }
        let name = from_resource_arn(ctx, resource)?;
        let f = self.get_function(ctx, &name)?;
        let t: Map<String, Value> = f.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        Ok(Done::read(json!({ "Tags": t })))
    }

    fn reserved_total(&self, ctx: &RequestContext, except: &str) -> u64 {
        self.store
            .snapshot()
            .scan_prefix(&keys::functions(&ctx.partition))
            .filter_map(|(_, r)| match r {
                LambdaRecord::Function(f) if f.name != except => {
                    f.reserved_concurrency.map(u64::from)
                }
                _ => None,
            })
            .sum()
    }

    pub(crate) fn put_concurrency(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        let n = input
            .get("ReservedConcurrentExecutions")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.get_function(ctx, &r.name)?;
        if ACCOUNT_CONCURRENCY.saturating_sub(self.reserved_total(ctx, &r.name) + n)
            < MIN_UNRESERVED
            || n > ACCOUNT_CONCURRENCY
        {
            return Err(LambdaError::invalid(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
            )));
        }
        let (_, v) = self.modify(ctx, &r.name, |f| {
            f.reserved_concurrency = Some(n as u32);
            Ok(())
        })?;
        Ok(Done::wrote(json!({ "ReservedConcurrentExecutions": n }), v))
    }

    pub(crate) fn get_concurrency(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        Ok(Done::read(match f.reserved_concurrency {
            Some(n) => json!({ "ReservedConcurrentExecutions": n }),
            None => json!({}),
        }))
    }

    pub(crate) fn delete_concurrency(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        let (_, v) = self.modify(ctx, &r.name, |f| {
            f.reserved_concurrency = None;
            Ok(())
        })?;
        Ok(Done::wrote(Value::Null, v))
    }

    pub(crate) fn account_settings(&self, ctx: &RequestContext) -> LResult<Done> {
        let snap = self.store.snapshot();
        let (mut count, mut size, mut reserved) = (0u64, 0u64, 0u64);
        for (_, r) in snap.scan_prefix(&ctx.partition.prefix()) {
            match r {
                LambdaRecord::Function(f) => {
                    count += 1;
                    size += f.latest.code_size;
                    reserved += f.reserved_concurrency.map_or(0, u64::from);
                }
                LambdaRecord::Version(v) => size += v.config.code_size,
                _ => {}
            }
        }
        Ok(Done::read(json!({
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800u64,
                "CodeSizeUnzipped": crate::code::MAX_UNZIPPED,
                "CodeSizeZipped": 52_428_800u64,
                "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY.saturating_sub(reserved),
            },
            "AccountUsage": {"TotalCodeSize": size, "FunctionCount": count},
        })))
    }

    /// The event invoke configuration of a function, as stored (neutral JSON).
    pub(crate) fn event_invoke_config(&self, ctx: &RequestContext, name: &str) -> Option<Value> {
        let f = self.get_function(ctx, name).ok()?;
        serde_json::from_str(f.event_invoke.as_deref()?).ok()
    }

    pub(crate) fn put_event_invoke(
        &self,
        ctx: &RequestContext,
        input: &Value,
        merge: bool,
    ) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let arn = function_arn(ctx, &r.name, r.qualifier.as_deref());
        let now = self.now();
        let (out, v) = self.modify(ctx, &r.name, |f| {
            let mut doc: Map<String, Value> = if merge {
                let Some(cur) = f.event_invoke.as_deref() else {
                    return Err(LambdaError::not_found(format!(
                        "The function {arn} doesn't have an EventInvokeConfig"
                    )));
                };
                serde_json::from_str(cur).unwrap_or_default()
            } else {
                Map::new()
            };
            for k in [
                "MaximumRetryAttempts",
                "MaximumEventAgeInSeconds",
                "DestinationConfig",
            ] {
                if let Some(v) = input.get(k) {
                    doc.insert(k.into(), v.clone());
                }
            }
            doc.insert("FunctionArn".into(), json!(arn));
            doc.insert("LastModified".into(), json!(now as f64 / 1000.0));
            let doc = Value::Object(doc);
            f.event_invoke = Some(doc.to_string());
            Ok(doc)
        })?;
        Ok(Done::wrote(out, v))
    }

    pub(crate) fn get_event_invoke(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        self.event_invoke_config(ctx, &r.name)
            .map(Done::read)
            .ok_or_else(|| {
                LambdaError::not_found(format!(
                    "The function {} doesn't have an EventInvokeConfig",
                    function_arn(ctx, &r.name, r.qualifier.as_deref())
                ))
            })
    }

    pub(crate) fn list_event_invoke(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = names_only(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let list: Vec<Value> = self.event_invoke_config(ctx, &r.name).into_iter().collect();
        Ok(Done::read(json!({ "FunctionEventInvokeConfigs": list })))
    }

    pub(crate) fn delete_event_invoke(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let arn = function_arn(ctx, &r.name, r.qualifier.as_deref());
        let (_, v) = self.modify(ctx, &r.name, |f| {
            if f.event_invoke.take().is_none() {
                return Err(LambdaError::not_found(format!(
                    "The function {arn} doesn't have an EventInvokeConfig"
                )));
            }
            Ok(())
        })?;
        Ok(Done::wrote(Value::Null, v))
    }
}

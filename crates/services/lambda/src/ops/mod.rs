//! The control-plane operations, by concept.

pub mod aliases;
pub mod capacity;
pub mod extras;
pub mod functions;
pub mod layers;
pub mod managed;
pub mod settings;

use serde_json::Value;
use snapstack_service::RequestContext;

use crate::model::{Config, Function, LambdaRecord, Version, keys};
use crate::names::{FnRef, function_arn, is_version, parse};
use crate::{LResult, Lambda, LambdaError};

/// What an operation produced: its output (neutral shape) and the store version of its change.
pub struct Done {
    pub output: Value,
    pub version: Option<u64>,
}

impl Done {
    pub fn read(output: Value) -> Self {
        Done {
            output,
            version: None,
        }
    }
    pub fn wrote(output: Value, version: u64) -> Self {
        Done {
            output,
            version: Some(version),
        }
    }
}

pub fn s<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

pub fn not_found(ctx: &RequestContext, name: &str, q: Option<&str>) -> LambdaError {
    LambdaError::not_found(format!(
        "Function not found: {}",
        function_arn(ctx, name, q)
    ))
}

/// The function named by the input's `FunctionName` and `Qualifier` (a qualifier in both must
/// agree, as Lambda requires).
pub fn fn_ref(ctx: &RequestContext, input: &Value) -> LResult<FnRef> {
    let raw = s(input, "FunctionName").unwrap_or("");
    let mut r = parse(ctx, raw)?;
    if let Some(q) = s(input, "Qualifier") {
        match &r.qualifier {
            Some(inner) if inner != q => {
                return Err(LambdaError::invalid(
                    "The derived qualifier from the function name does not match the specified qualifier.",
                ));
            }
            _ => r.qualifier = Some(q.to_string()),
        }
    }
    Ok(r)
}

pub fn revision_check(given: Option<&str>, current: &str) -> LResult<()> {
    match given {
        Some(g) if g != current => Err(LambdaError::new(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )),
        _ => Ok(()),
    }
}

impl Lambda {
    pub(crate) fn get_function(&self, ctx: &RequestContext, name: &str) -> LResult<Function> {
        match self
            .store
            .snapshot()
            .get(&keys::function(&ctx.partition, name))
        {
            Some(LambdaRecord::Function(f)) => Ok(f.clone()),
            _ => Err(not_found(ctx, name, None)),
        }
    }

    /// The configuration a qualifier names: `$LATEST` (or none), a version, or an alias (its
    /// primary version; weighted routing is the invoker's).
    pub(crate) fn config_of(
        &self,
        ctx: &RequestContext,
        f: &Function,
        qualifier: Option<&str>,
    ) -> LResult<Config> {
        match qualifier {
            None | Some("$LATEST") => Ok(f.latest.clone()),
            Some(q) if is_version(q) => self.version_config(ctx, &f.name, q),
            Some(alias) => {
                let a = self.get_alias(ctx, &f.name, alias)?;
                self.version_config(ctx, &f.name, &a.function_version)
            }
        }
    }

    pub(crate) fn version_config(
        &self,
        ctx: &RequestContext,
        name: &str,
        v: &str,
    ) -> LResult<Config> {
        if v == "$LATEST" {
            return Ok(self.get_function(ctx, name)?.latest);
        }
        if v == crate::names::LATEST_PUBLISHED {
            let f = self.get_function(ctx, name)?;
            if f.last_version == 0 {
                return Err(not_found(ctx, name, Some(v)));
            }
            return self.version_config(ctx, name, &f.last_version.to_string());
        }
        let n: u64 = v.parse().map_err(|_| not_found(ctx, name, Some(v)))?;
        match self
            .store
            .snapshot()
            .get(&keys::version(&ctx.partition, name, n))
        {
            Some(LambdaRecord::Version(Version { config, .. })) => Ok(config.clone()),
            _ => Err(not_found(ctx, name, Some(v))),
        }
    }
}

/// The function an operation that takes no qualifier names (a qualifier in the name is
/// refused as Lambda refuses it).
pub fn names_only(ctx: &RequestContext, input: &Value) -> LResult<FnRef> {
    let r = parse(ctx, s(input, "FunctionName").unwrap_or(""))?;
    if r.qualifier.is_some() {
        return Err(LambdaError::invalid(
            "The function name must not include a version or alias qualifier for this operation.",
        ));
    }
    Ok(r)
}

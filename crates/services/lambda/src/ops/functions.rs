//! Functions: CreateFunction, GetFunction(Configuration), ListFunctions, UpdateFunctionCode,
//! UpdateFunctionConfiguration, DeleteFunction, PublishVersion, ListVersionsByFunction.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use snapstack_service::{RequestContext, Runtime};

use super::{Done, fn_ref, not_found, revision_check, s};
use crate::code::{self, MAX_ZIP};
use crate::model::{Config, Function, LambdaRecord, Version, keys};
use crate::names::is_version;
use crate::output::configuration;
use crate::{LResult, Lambda, LambdaError, blocking};

/// Environment variables Lambda reserves (a function may not set them).
const RESERVED: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
/// The most functions ListFunctions returns in one page.
const MAX_ITEMS: usize = 50;

fn env_vars(input: &Value) -> LResult<Option<Vec<(String, String)>>> {
    let Some(vars) = input.get("Environment").map(|e| e.get("Variables")) else {
        return Ok(None);
    };
    let mut out: Vec<(String, String)> = match vars {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let reserved: Vec<&str> = out
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| RESERVED.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::invalid(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > 4096 {
        return Err(LambdaError::invalid(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit.",
        ));
    }
    out.sort();
    Ok(Some(out))
}

/// Members stored and returned as given, in the output's shape.
fn extra_members(input: &Value, base: &str) -> String {
    let mut extra: Map<String, Value> = serde_json::from_str(base).unwrap_or_default();
    if let Some(v) = input.get("VpcConfig") {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.entry("SubnetIds").or_insert(json!([]));
            o.entry("SecurityGroupIds").or_insert(json!([]));
            o.insert("VpcId".into(), json!(""));
        }
        extra.insert("VpcConfig".into(), v);
    }
    if let Some(t) = input.get("TracingConfig").and_then(|t| t.get("Mode")) {
        extra.insert("TracingConfig".into(), json!({ "Mode": t }));
    }
    if let Some(Value::Array(layers)) = input.get("Layers") {
        let l: Vec<Value> = layers
            .iter()
            .filter_map(Value::as_str)
            .map(|arn| json!({"Arn": arn, "CodeSize": 0}))
            .collect();
        extra.insert("Layers".into(), json!(l));
    }
    if let Some(e) = input.get("EphemeralStorage") {
        extra.insert("EphemeralStorage".into(), e.clone());
    }
    if let Some(k) = input.get("KMSKeyArn") {
        extra.insert("KMSKeyArn".into(), k.clone());
    }
    if let Some(f) = input.get("FileSystemConfigs") {
        extra.insert("FileSystemConfigs".into(), f.clone());
    }
    if let Some(l) = input.get("LoggingConfig") {
        extra.insert("LoggingConfig".into(), l.clone());
    }
    for k in ["DurableConfig", "CapacityProviderConfig", "TenancyConfig"] {
        if let Some(v) = input.get(k) {
            extra.insert(k.into(), v.clone());
        }
    }
    if let Some(ic) = input.get("ImageConfig") {
        extra.insert("ImageConfigResponse".into(), json!({ "ImageConfig": ic }));
    }
    if let Some(a) = input.get("SnapStart").and_then(|s| s.get("ApplyOn")) {
        extra.insert(
            "SnapStart".into(),
            json!({"ApplyOn": a, "OptimizationStatus": "Off"}),
        );
    }
    Value::Object(extra).to_string()
}

impl Lambda {
    /// The zip of a `FunctionCode` (or UpdateFunctionCode input): inline, or from S3 through
    /// the S3 service.
    pub(crate) async fn code_bytes(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        code: &Value,
    ) -> LResult<Vec<u8>> {
        if let Some(z) = s(code, "ZipFile") {
            if z.len() > MAX_ZIP / 3 * 4 + 4 {
                return Err(LambdaError::new(
                    413,
                    "RequestEntityTooLargeException",
                    "Request must be smaller than 70167211 bytes for the CreateFunction operation",
                ));
            }
            return base64::engine::general_purpose::STANDARD
                .decode(z)
                .map_err(|_| LambdaError::invalid("Could not unzip uploaded file. Please check your file, then try to upload again."));
        }
        if let (Some(bucket), Some(key)) = (s(code, "S3Bucket"), s(code, "S3Key")) {
            let mut get = json!({"Bucket": bucket, "Key": key});
            if let Some(v) = s(code, "S3ObjectVersion") {
                get["VersionId"] = json!(v);
            }
            let out = rt.invoke(ctx, "s3", "GetObject", get).await.map_err(|e| {
                LambdaError::invalid(format!(
                    "Error occurred while GetObject. S3 Error Code: {}. S3 Error Message: {}",
                    e.code, e.message
                ))
            })?;
            let body = out.get("Body").and_then(Value::as_str).unwrap_or("");
            return base64::engine::general_purpose::STANDARD
                .decode(body)
                .map_err(|_| LambdaError::service("S3 returned a body that is not base64"));
        }
        if code.get("ImageUri").is_some() {
            return Err(LambdaError::invalid(
                "Container image functions are not supported by this emulator; use a zip package",
            ));
        }
        Err(LambdaError::invalid(
            "Please provide a source for function code.",
        ))
    }

    pub(crate) async fn create_function(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let r = super::names_only(ctx, input)?;
        let name = r.name;
        let image = s(input, "PackageType") == Some("Image");
        let code_in = input.get("Code").unwrap_or(&Value::Null);
        let (runtime, handler) = if image {
            if input.get("Runtime").is_some()
                || input.get("Handler").is_some()
                || input.get("Layers").is_some()
            {
                return Err(LambdaError::invalid(
                    "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.",
                ));
            }
            ("", "")
        } else {
            if code_in.get("ImageUri").is_some() {
                return Err(LambdaError::invalid(
                    "Please don't provide ImageUri when the intended function PackageType is Zip.",
                ));
            }
            let (Some(runtime), Some(handler)) = (s(input, "Runtime"), s(input, "Handler")) else {
                return Err(LambdaError::invalid(
                    "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
                ));
            };
            (runtime, handler)
        };
        let env = env_vars(input)?.unwrap_or_default();
        if self.get_function(ctx, &name).is_ok() {
            return Err(LambdaError::conflict(format!(
                "Function already exist: {name}"
            )));
        }
        self.check_provider_config(ctx, input)?;
        let mut extra = extra_members(input, "{}");
        let stored = if image {
            let uri = image_uri(code_in)?;
            extra = with_image(&extra, &uri);
            blocking(|| image_code(self.engine(), &uri))?
        } else {
            let zip = self.code_bytes(rt, ctx, code_in).await?;
            blocking(|| code::store(self.engine(), &zip))?
        };
        let now = self.now();
        let config = Config {
            runtime: runtime.to_string(),
            handler: handler.to_string(),
            role: s(input, "Role").unwrap_or("").to_string(),
            description: s(input, "Description").unwrap_or("").to_string(),
            timeout: input.get("Timeout").and_then(Value::as_u64).unwrap_or(3) as u32,
            memory: input
                .get("MemorySize")
                .and_then(Value::as_u64)
                .unwrap_or(128) as u32,
            env,
            code: stored.blob,
            code_sha256: stored.sha256,
            code_size: stored.size,
            last_modified_ms: now,
            revision_id: self.uuid(),
            version: "$LATEST".into(),
            dead_letter_arn: input
                .get("DeadLetterConfig")
                .and_then(|d| s(d, "TargetArn"))
                .map(str::to_string),
            architectures: input
                .get("Architectures")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_else(|| vec!["x86_64".into()]),
            extra: self.fix_layers(ctx, extra)?,
        };
        let tags: Vec<(String, String)> = input
            .get("Tags")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let f = Function {
            name: name.clone(),
            latest: config.clone(),
            tags,
            policy: Vec::new(),
            reserved_concurrency: None,
            last_version: 0,
            event_invoke: None,
            policy_revision: self.uuid(),
        };
        let publish = input.get("Publish").and_then(Value::as_bool) == Some(true);
        let p = ctx.partition.clone();
        let (result, version) = self.store.write(|txn| {
            let k = keys::function(&p, &name);
            if txn.contains(&k) {
                return Err(LambdaError::conflict(format!(
                    "Function already exist: {name}"
                )));
            }
            let mut f = f;
            let mut shown = f.latest.clone();
            if publish {
                f.last_version = 1;
                let mut v = f.latest.clone();
                v.version = "1".into();
                v.revision_id = self.uuid();
                txn.insert(
                    keys::version(&p, &name, 1),
                    LambdaRecord::Version(Version {
                        function: name.clone(),
                        config: v.clone(),
                    }),
                );
                shown = v;
            }
            txn.insert(k, LambdaRecord::Function(f));
            Ok(shown)
        });
        let shown = result?;
        let mut out = configuration(ctx, &name, &shown);
        out["State"] = json!("Pending");
        out["StateReason"] = json!("The function is being created.");
        out["StateReasonCode"] = json!("Creating");
        Ok(Done::wrote(out, version))
    }

    pub(crate) fn get_function_op(
        &self,
        ctx: &RequestContext,
        input: &Value,
        configuration_only: bool,
    ) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let c = self.config_of(ctx, &f, r.qualifier.as_deref())?;
        let mut conf = configuration(ctx, &f.name, &c);
        if let Some(rv) = self.runtime_version_config(ctx, &f.name, &c) {
            conf["RuntimeVersionConfig"] = rv;
        }
        if let Some(q) = r
            .qualifier
            .as_deref()
            .filter(|q| !is_version(q) || *q == crate::names::LATEST_PUBLISHED)
        {
            conf["FunctionArn"] = json!(crate::names::function_arn(ctx, &f.name, Some(q)));
        }
        if configuration_only {
            return Ok(Done::read(conf));
        }
        let place = self.place();
        let location = format!(
            "http://{}/awslambda-{}-tasks/snapshots/{}/{}-{}?code={}",
            place.advertised_host,
            ctx.region(),
            ctx.account(),
            f.name,
            c.revision_id,
            url_safe(&c.code_sha256),
        );
        let code = match image_of(&c) {
            Some(uri) => json!({
                "RepositoryType": "ECR",
                "ImageUri": uri,
                "ResolvedImageUri": resolved_image(&uri, &c.code_sha256),
            }),
            None => json!({"RepositoryType": "S3", "Location": location}),
        };
        let mut out = json!({
            "Configuration": conf,
            "Code": code,
        });
        if !f.tags.is_empty() {
            let t: Map<String, Value> = f.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            out["Tags"] = Value::Object(t);
        }
        if let Some(n) = f.reserved_concurrency {
            out["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
        }
        Ok(Done::read(out))
    }

    pub(crate) fn list_functions(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let all = s(input, "FunctionVersion") == Some("ALL");
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(MAX_ITEMS, |n| n.clamp(1, 10_000) as usize);
        let marker = s(input, "Marker").unwrap_or("");
        let snap = self.store.snapshot();
        let mut items: Vec<(String, Value)> = Vec::new();
        for (_, rec) in snap.scan_prefix(&keys::functions(&ctx.partition)) {
            let LambdaRecord::Function(f) = rec else {
                continue;
            };
            let mut push = |c: &Config| {
                let sort = format!(
                    "{}\u{0}{:020}",
                    f.name,
                    c.version.parse::<u64>().unwrap_or(0)
                );
                items.push((sort, configuration(ctx, &f.name, c)));
            };
            push(&f.latest);
            if all {
                for (_, v) in snap.scan_prefix(&keys::versions(&ctx.partition, &f.name)) {
                    if let LambdaRecord::Version(v) = v {
                        push(&v.config);
                    }
                }
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let start = if marker.is_empty() {
            0
        } else {
            items
                .iter()
                .position(|(k, _)| k.as_str() > marker)
                .unwrap_or(items.len())
        };
        let page: Vec<&(String, Value)> = items.iter().skip(start).take(max).collect();
        let mut out = json!({
            "Functions": page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        });
        if start + page.len() < items.len()
            && let Some((k, _)) = page.last()
        {
            out["NextMarker"] = json!(k);
        }
        Ok(Done::read(out))
    }

    pub(crate) async fn update_code(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let r = super::names_only(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        revision_check(s(input, "RevisionId"), &f.latest.revision_id)?;
        let image = crate::ops::managed::is_image(&f.latest);
        let mut new_extra = None;
        let stored = if image {
            if input.get("ZipFile").is_some() || input.get("S3Bucket").is_some() {
                return Err(LambdaError::invalid(
                    "Please provide ImageUri when updating a function with packageType Image.",
                ));
            }
            let uri = image_uri(input)?;
            new_extra = Some(with_image(&f.latest.extra, &uri));
            blocking(|| image_code(self.engine(), &uri))?
        } else {
            if input.get("ImageUri").is_some() {
                return Err(LambdaError::invalid(
                    "Please don't provide ImageUri when updating a function with packageType Zip.",
                ));
            }
            let zip = self.code_bytes(rt, ctx, input).await?;
            blocking(|| code::store(self.engine(), &zip))?
        };
        if input.get("DryRun").and_then(Value::as_bool) == Some(true) {
            let mut c = f.latest.clone();
            c.code_sha256 = stored.sha256;
            c.code_size = stored.size;
            return Ok(Done::read(configuration(ctx, &f.name, &c)));
        }
        let publish = input.get("Publish").and_then(Value::as_bool) == Some(true);
        let now = self.now();
        let (new_rev, pub_rev) = (self.uuid(), self.uuid());
        let p = ctx.partition.clone();
        let name = f.name.clone();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &name);
            let Some(LambdaRecord::Function(f)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &name, None));
            };
            let mut f = f;
            f.latest.code = stored.blob;
            f.latest.code_sha256 = stored.sha256.clone();
            f.latest.code_size = stored.size;
            f.latest.last_modified_ms = now;
            f.latest.revision_id = new_rev;
            if let Some(e) = new_extra {
                f.latest.extra = e;
            }
            let shown = if publish {
                Some(publish_in(txn, &p, &mut f, None, pub_rev))
            } else {
                None
            };
            let latest = f.latest.clone();
            txn.insert(k, LambdaRecord::Function(f));
            Ok(shown.unwrap_or(latest))
        });
        let shown = res?;
        self.retire_function(ctx, &name);
        let mut out = configuration(ctx, &name, &shown);
        out["LastUpdateStatus"] = json!("InProgress");
        out["LastUpdateStatusReason"] = json!("The function is being created.");
        out["LastUpdateStatusReasonCode"] = json!("Creating");
        Ok(Done::wrote(out, version))
    }

    pub(crate) fn update_configuration(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let r = super::names_only(ctx, input)?;
        let env = env_vars(input)?;
        self.check_provider_config(ctx, input)?;
        let now = self.now();
        let rev = self.uuid();
        let p = ctx.partition.clone();
        let name = r.name.clone();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &name);
            let Some(LambdaRecord::Function(f)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &name, None));
            };
            let mut f = f;
            revision_check(s(input, "RevisionId"), &f.latest.revision_id)?;
            let c = &mut f.latest;
            if let Some(v) = s(input, "Runtime") {
                c.runtime = v.into();
            }
            if let Some(v) = s(input, "Handler") {
                c.handler = v.into();
            }
            if let Some(v) = s(input, "Role") {
                c.role = v.into();
            }
            if let Some(v) = s(input, "Description") {
                c.description = v.into();
            }
            if let Some(v) = input.get("Timeout").and_then(Value::as_u64) {
                c.timeout = v as u32;
            }
            if let Some(v) = input.get("MemorySize").and_then(Value::as_u64) {
                c.memory = v as u32;
            }
            if let Some(e) = env {
                c.env = e;
            }
            if let Some(d) = input.get("DeadLetterConfig") {
                c.dead_letter_arn = s(d, "TargetArn")
                    .filter(|a| !a.is_empty())
                    .map(String::from);
            }
            c.extra = self.fix_layers(ctx, extra_members(input, &c.extra))?;
            c.last_modified_ms = now;
            c.revision_id = rev;
            let shown = c.clone();
            txn.insert(k, LambdaRecord::Function(f));
            Ok(shown)
        });
        let shown = res?;
        self.retire_function(ctx, &name);
        let mut out = configuration(ctx, &name, &shown);
        out["LastUpdateStatus"] = json!("InProgress");
        out["LastUpdateStatusReason"] = json!("The function is being updated.");
        out["LastUpdateStatusReasonCode"] = json!("Updating");
        Ok(Done::wrote(out, version))
    }

    pub(crate) fn delete_function(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let p = ctx.partition.clone();
        let name = r.name.clone();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &name);
            if !txn.contains(&k) {
                return Err(not_found(ctx, &name, None));
            }
            match r.qualifier.as_deref() {
                None => {
                    txn.remove(&k);
                    txn.remove_prefix(&keys::versions(&p, &name));
                    txn.remove_prefix(&keys::aliases(&p, &name));
                    crate::urls::forget(txn, &p.account, &p.region, &name, None);
                    txn.remove_prefix(&keys::provisioned_of(&p, &name));
                    txn.remove(&keys::function_code_signing(&p, &name));
                    txn.remove(&keys::recursion(&p, &name));
                    txn.remove_prefix(&keys::runtime_managements(&p, &name));
                    txn.remove_prefix(&keys::scalings(&p, &name));
                    Ok(())
                }
                Some("$LATEST") => Err(LambdaError::invalid(
                    "$LATEST version cannot be deleted without deleting the function.",
                )),
                Some(q) if is_version(q) => {
                    let n: u64 = q.parse().unwrap_or(0);
                    let vk = keys::version(&p, &name, n);
                    if !txn.contains(&vk) {
                        return Err(not_found(ctx, &name, Some(q)));
                    }
                    let using: Vec<String> = txn
                        .scan_prefix(&keys::aliases(&p, &name))
                        .filter_map(|(_, a)| match a {
                            LambdaRecord::Alias(a)
                                if a.function_version == q
                                    || a.routing.iter().any(|(v, _)| v == q) =>
                            {
                                Some(crate::names::function_arn(ctx, &name, Some(&a.name)))
                            }
                            _ => None,
                        })
                        .collect();
                    if !using.is_empty() {
                        return Err(LambdaError::conflict(format!(
                            "Unable to delete version because the following aliases reference it: [{}]",
                            using.join(", ")
                        )));
                    }
                    txn.remove(&vk);
                    Ok(())
                }
                Some(_) => Err(LambdaError::invalid(
                    "Deletion of aliases is not supported through DeleteFunction; use DeleteAlias",
                )),
            }
        });
        res?;
        self.retire_function(ctx, &name);
        Ok(Done::wrote(Value::Null, version))
    }

    pub(crate) fn publish_version(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = super::names_only(ctx, input)?;
        let p = ctx.partition.clone();
        let name = r.name.clone();
        let rev = self.uuid();
        let (res, version) = self.store.write(|txn| {
            let k = keys::function(&p, &name);
            let Some(LambdaRecord::Function(f)) = txn.get(&k).cloned() else {
                return Err(not_found(ctx, &name, None));
            };
            let mut f = f;
            if let Some(sha) = s(input, "CodeSha256")
                && sha != f.latest.code_sha256
            {
                return Err(LambdaError::invalid(format!(
                    "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again",
                    f.latest.code_sha256
                )));
            }
            revision_check(s(input, "RevisionId"), &f.latest.revision_id)?;
            // Nothing changed since the last version: that version is the answer.
            if f.last_version > 0
                && let Some(LambdaRecord::Version(last)) =
                    txn.get(&keys::version(&p, &name, f.last_version))
                && same_config(&last.config, &f.latest)
                && s(input, "Description").unwrap_or(&f.latest.description)
                    == last.config.description
            {
                return Ok((last.config.clone(), false));
            }
            let shown = publish_in(txn, &p, &mut f, s(input, "Description"), rev);
            txn.insert(k, LambdaRecord::Function(f));
            Ok((shown, true))
        });
        let (shown, changed) = res?;
        let out = configuration(ctx, &name, &shown);
        Ok(if changed {
            Done::wrote(out, version)
        } else {
            Done::read(out)
        })
    }

    pub(crate) fn list_versions(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = super::names_only(ctx, input)?;
        let f = self.get_function(ctx, &r.name)?;
        let snap = self.store.snapshot();
        let mut all = vec![configuration(ctx, &f.name, &f.latest)];
        for (_, v) in snap.scan_prefix(&keys::versions(&ctx.partition, &f.name)) {
            if let LambdaRecord::Version(v) = v {
                all.push(configuration(ctx, &f.name, &v.config));
            }
        }
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(MAX_ITEMS, |n| n.clamp(1, 10_000) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "Versions": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    /// Stop warm environments of a function (its code or configuration changed, or it is gone).
    pub(crate) fn retire_function(&self, ctx: &RequestContext, name: &str) {
        use crate::exec::Executor;
        self.exec.retire(&crate::invoke::pool_prefix(ctx, name));
    }
}

fn same_config(a: &Config, b: &Config) -> bool {
    a.code_sha256 == b.code_sha256
        && a.runtime == b.runtime
        && a.handler == b.handler
        && a.role == b.role
        && a.timeout == b.timeout
        && a.memory == b.memory
        && a.env == b.env
        && a.dead_letter_arn == b.dead_letter_arn
        && a.extra == b.extra
}

/// Publish `$LATEST` as the next version inside a write; the version's configuration.
fn publish_in(
    txn: &mut snapstack_engine::Txn<'_, LambdaRecord>,
    p: &snapstack_engine::Partition,
    f: &mut Function,
    description: Option<&str>,
    revision: String,
) -> Config {
    f.last_version += 1;
    let mut c = f.latest.clone();
    c.version = f.last_version.to_string();
    c.revision_id = revision;
    if let Some(d) = description {
        c.description = d.to_string();
    }
    txn.insert(
        keys::version(p, &f.name, f.last_version),
        LambdaRecord::Version(Version {
            function: f.name.clone(),
            config: c.clone(),
        }),
    );
    c
}

/// The `ImageUri` of a `Code` (or UpdateFunctionCode input), checked as an ECR image URI.
fn image_uri(code: &Value) -> LResult<String> {
    let Some(uri) = s(code, "ImageUri") else {
        return Err(LambdaError::invalid(
            "Please provide ImageUri when the intended function PackageType is Image.",
        ));
    };
    let (repo, _) = uri.split_once('/').unwrap_or(("", ""));
    let tagged = uri
        .rsplit_once('/')
        .is_some_and(|(_, last)| last.contains(':'))
        || uri.contains("@sha256:");
    if repo.is_empty() || !tagged || uri.len() > 1024 || uri.chars().any(char::is_whitespace) {
        return Err(LambdaError::invalid(format!(
            "Source image {uri} is not valid. Provide a valid source image."
        )));
    }
    Ok(uri.to_string())
}

/// The stored "code" of an image function: the image's digest as `CodeSha256` (the one in the
/// URI, else one derived from it), the URI as its blob (never run: no container executor).
fn image_code(engine: &snapstack_engine::Engine, uri: &str) -> LResult<code::Code> {
    use sha2::Digest;
    let digest = match uri.split_once("@sha256:") {
        Some((_, d)) => d.to_string(),
        None => sha2::Sha256::digest(uri.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let mut w = engine.blob_writer();
    w.write(uri.as_bytes()).map_err(|e| {
        LambdaError::service(format!("The image reference could not be stored: {e}"))
    })?;
    let (blob, _) = w.finish().map_err(|e| {
        LambdaError::service(format!("The image reference could not be stored: {e}"))
    })?;
    Ok(code::Code {
        blob,
        sha256: digest,
        size: 0,
    })
}

/// Extras with the image members: `PackageType` and the (private) image URI.
fn with_image(extra: &str, uri: &str) -> String {
    let mut m: Map<String, Value> = serde_json::from_str(extra).unwrap_or_default();
    m.insert("PackageType".into(), json!("Image"));
    m.insert(crate::output::IMAGE_URI.into(), json!(uri));
    Value::Object(m).to_string()
}

/// The image URI of an image function's configuration.
pub(crate) fn image_of(c: &Config) -> Option<String> {
    crate::ops::managed::extra_member(c, crate::output::IMAGE_URI)
        .and_then(|v| v.as_str().map(String::from))
}

/// `ResolvedImageUri`: the repository with the digest.
fn resolved_image(uri: &str, digest: &str) -> String {
    if uri.contains("@sha256:") {
        return uri.to_string();
    }
    let repo = match uri.rsplit_once('/') {
        Some((head, last)) => format!("{head}/{}", last.split(':').next().unwrap_or(last)),
        None => uri.to_string(),
    };
    format!("{repo}@sha256:{digest}")
}

pub(crate) fn url_safe(sha: &str) -> String {
    sha.replace('+', "-").replace('/', "_").replace('=', "")
}

/// The code's `Code.Location` query value back to `CodeSha256`.
pub(crate) fn sha_from_url(v: &str) -> String {
    let mut s = v.replace('-', "+").replace('_', "/");
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

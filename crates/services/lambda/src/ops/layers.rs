//! Layers: PublishLayerVersion (ZipFile or S3), GetLayerVersion(ByArn), ListLayers,
//! ListLayerVersions, DeleteLayerVersion, and layer version permissions. A layer's zip is an
//! engine blob like function code (the same zip stored once); version numbers are never
//! reused. A deleted version that a function still names stays, hidden, so that the function
//! keeps running as on AWS.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::model::{LambdaRecord, LayerHead, LayerVersion, keys};
use crate::ops::{Done, revision_check, s};
use crate::output::last_modified;
use crate::{LResult, Lambda, LambdaError, blocking, code};

/// Where `Content.Location` URLs of layers point.
pub const LAYER_PATH: &str = "/awslambda-";
const LAYER_TASKS: &str = "-layers/snapshots/";

pub fn layer_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:layer:{name}", p.region, p.account)
}

pub fn layer_version_arn(p: &Partition, name: &str, v: u64) -> String {
    format!("{}:{v}", layer_arn(p, name))
}

/// A `LayerName` (a name or a layer ARN) as its partition and name.
fn layer_name(ctx: &RequestContext, raw: &str) -> LResult<(Partition, String)> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (p, name) = match parts.as_slice() {
        [n] => (ctx.partition.clone(), *n),
        ["arn", _, "lambda", region, account, "layer", n] => {
            (Partition::new(*account, *region), *n)
        }
        _ => {
            return Err(LambdaError::new(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{raw}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
                ),
            ));
        }
    };
    let ok = !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(LambdaError::new(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{raw}' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
            ),
        ));
    }
    Ok((p, name.to_string()))
}

/// A layer version ARN as its partition, name and version.
pub fn parse_version_arn(arn: &str) -> Option<(Partition, String, u64)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "layer", name, v] => Some((
            Partition::new(*account, *region),
            name.to_string(),
            v.parse().ok()?,
        )),
        _ => None,
    }
}

fn missing(arn: &str) -> LambdaError {
    LambdaError::not_found(format!("Layer version {arn} does not exist."))
}

fn strings(input: &Value, k: &str) -> Vec<String> {
    input
        .get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Lambda {
    /// A layer version, deleted ones too when `hidden` (functions that name them still run).
    pub(crate) fn layer_version(
        &self,
        p: &Partition,
        name: &str,
        v: u64,
        hidden: bool,
    ) -> Option<LayerVersion> {
        match self.store.snapshot().get(&keys::layer(p, name, v)) {
            Some(LambdaRecord::LayerVersion(l)) if hidden || !l.deleted => Some(l.clone()),
            _ => None,
        }
    }

    fn layer_out(&self, p: &Partition, l: &LayerVersion, full: bool) -> Value {
        let mut o = json!({
            "LayerVersionArn": layer_version_arn(p, &l.name, l.version),
            "Version": l.version,
            "Description": l.description,
            "CreatedDate": last_modified(l.created_ms),
            "CompatibleRuntimes": l.compatible_runtimes,
            "CompatibleArchitectures": l.compatible_architectures,
        });
        if let Some(lic) = &l.license {
            o["LicenseInfo"] = json!(lic);
        }
        if full {
            let host = self.place().advertised_host;
            o["LayerArn"] = json!(layer_arn(p, &l.name));
            o["Content"] = json!({
                "Location": format!(
                    "http://{host}{LAYER_PATH}{}{LAYER_TASKS}{}/{}/{}?code={}",
                    p.region,
                    p.account,
                    l.name,
                    l.version,
                    crate::ops::functions::url_safe(&l.code_sha256)
                ),
                "CodeSha256": l.code_sha256,
                "CodeSize": l.code_size,
            });
        }
        o
    }

    pub(crate) async fn publish_layer(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        if p != ctx.partition {
            return Err(LambdaError::invalid(
                "Layers can only be published in the caller's account and region",
            ));
        }
        let zip = self
            .code_bytes(rt, ctx, input.get("Content").unwrap_or(&Value::Null))
            .await?;
        let stored = blocking(|| code::store(self.engine(), &zip))?;
        let mut l = LayerVersion {
            name: name.clone(),
            version: 0,
            description: s(input, "Description").unwrap_or("").into(),
            code: stored.blob,
            code_sha256: stored.sha256,
            code_size: stored.size,
            created_ms: self.now(),
            compatible_runtimes: strings(input, "CompatibleRuntimes"),
            compatible_architectures: strings(input, "CompatibleArchitectures"),
            license: s(input, "LicenseInfo").map(String::from),
            policy: Vec::new(),
            policy_revision: self.uuid(),
            deleted: false,
        };
        let (l, v) = self.store.write(|txn| {
            let head = match txn.get(&keys::layer_head(&p, &name)) {
                Some(LambdaRecord::LayerHead(h)) => h.last_version,
                _ => 0,
            };
            l.version = head + 1;
            txn.insert(
                keys::layer_head(&p, &name),
                LambdaRecord::LayerHead(LayerHead {
                    name: name.clone(),
                    last_version: l.version,
                }),
            );
            txn.insert(
                keys::layer(&p, &name, l.version),
                LambdaRecord::LayerVersion(l.clone()),
            );
            l
        });
        Ok(Done::wrote(self.layer_out(&p, &l, true), v))
    }

    pub(crate) fn get_layer(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        let v = input
            .get("VersionNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let l = self
            .layer_version(&p, &name, v, false)
            .ok_or_else(|| missing(&layer_version_arn(&p, &name, v)))?;
        Ok(Done::read(self.layer_out(&p, &l, true)))
    }

    pub(crate) fn get_layer_by_arn(&self, _ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let arn = s(input, "Arn").unwrap_or("");
        let (p, name, v) = parse_version_arn(arn).ok_or_else(|| {
            LambdaError::new(
                400,
                "ValidationException",
                format!("1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"),
            )
        })?;
        let l = self
            .layer_version(&p, &name, v, false)
            .ok_or_else(|| missing(arn))?;
        Ok(Done::read(self.layer_out(&p, &l, true)))
    }

    fn matches(l: &LayerVersion, input: &Value) -> bool {
        s(input, "CompatibleRuntime").is_none_or(|r| l.compatible_runtimes.iter().any(|x| x == r))
            && s(input, "CompatibleArchitecture")
                .is_none_or(|a| l.compatible_architectures.iter().any(|x| x == a))
    }

    pub(crate) fn list_layer_versions(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        let mut all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::layer_versions(&p, &name))
            .filter_map(|(_, r)| match r {
                LambdaRecord::LayerVersion(l) if !l.deleted && Self::matches(l, input) => {
                    Some(self.layer_out(&p, l, false))
                }
                _ => None,
            })
            .collect();
        all.reverse();
        Ok(Done::read(page(all, input, "LayerVersions", 50)))
    }

    pub(crate) fn list_layers(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let p = &ctx.partition;
        let mut latest: Vec<(String, LayerVersion)> = Vec::new();
        for (_, r) in self.store.snapshot().scan_prefix(&keys::layers(p)) {
            if let LambdaRecord::LayerVersion(l) = r
                && !l.deleted
                && Self::matches(l, input)
            {
                match latest.last_mut() {
                    Some((n, cur)) if *n == l.name => *cur = l.clone(),
                    _ => latest.push((l.name.clone(), l.clone())),
                }
            }
        }
        let all: Vec<Value> = latest
            .iter()
            .map(|(n, l)| {
                json!({
                    "LayerName": n,
                    "LayerArn": layer_arn(p, n),
                    "LatestMatchingVersion": self.layer_out(p, l, false),
                })
            })
            .collect();
        Ok(Done::read(page(all, input, "Layers", 50)))
    }

    pub(crate) fn delete_layer(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        let v = input
            .get("VersionNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let arn = layer_version_arn(&p, &name, v);
        let needle = format!("\"{arn}\"");
        let (changed, version) = self.store.write(|txn| {
            let k = keys::layer(&p, &name, v);
            let Some(LambdaRecord::LayerVersion(l)) = txn.get(&k).cloned() else {
                return false;
            };
            // Kept (hidden) while a function's configuration names it.
            let used = txn.scan_prefix(&p.key().build()).any(|(_, r)| match r {
                LambdaRecord::Function(f) => f.latest.extra.contains(&needle),
                LambdaRecord::Version(v) => v.config.extra.contains(&needle),
                _ => false,
            });
            if used {
                if l.deleted {
                    return false;
                }
                let mut l = l;
                l.deleted = true;
                txn.insert(k, LambdaRecord::LayerVersion(l));
            } else {
                txn.remove(&k);
            }
            true
        });
        // Deleting a version that does not exist succeeds, as in Lambda.
        Ok(if changed {
            Done::wrote(Value::Null, version)
        } else {
            Done::read(Value::Null)
        })
    }

    fn edit_layer_policy<R>(
        &self,
        ctx: &RequestContext,
        input: &Value,
        f: impl FnOnce(&mut LayerVersion, &str) -> LResult<R>,
    ) -> LResult<(R, u64)> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        let v = input
            .get("VersionNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let arn = layer_version_arn(&p, &name, v);
        let rev = self.uuid();
        let (res, version) = self.store.write(|txn| {
            let k = keys::layer(&p, &name, v);
            let Some(LambdaRecord::LayerVersion(mut l)) = txn.get(&k).cloned() else {
                return Err(missing(&arn));
            };
            if l.deleted {
                return Err(missing(&arn));
            }
            revision_check(s(input, "RevisionId"), &l.policy_revision)?;
            let out = f(&mut l, &arn)?;
            l.policy_revision = rev.clone();
            txn.insert(k, LambdaRecord::LayerVersion(l));
            Ok(out)
        });
        Ok((res?, version))
    }

    pub(crate) fn add_layer_permission(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let sid = s(input, "StatementId").unwrap_or("").to_string();
        let action = s(input, "Action").unwrap_or("");
        if action != "lambda:GetLayerVersion" {
            return Err(LambdaError::new(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{action}' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: lambda:GetLayerVersion"
                ),
            ));
        }
        let principal = s(input, "Principal").unwrap_or("");
        let principal_v = if principal == "*" {
            json!("*")
        } else {
            json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
        };
        let (text, version) = self.edit_layer_policy(ctx, input, |l, arn| {
            let exists = l.policy.iter().any(|t| {
                serde_json::from_str::<Value>(t)
                    .ok()
                    .is_some_and(|v| v["Sid"] == json!(sid))
            });
            if exists {
                return Err(LambdaError::conflict(format!(
                    "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
                )));
            }
            let mut st = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": principal_v,
                "Action": action,
                "Resource": arn,
            });
            if let Some(org) = s(input, "OrganizationId") {
                st["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": org}});
            }
            let text = st.to_string();
            l.policy.push(text.clone());
            Ok(text)
        })?;
        let rev = self.layer_policy_revision(ctx, input);
        Ok(Done::wrote(
            json!({ "Statement": text, "RevisionId": rev }),
            version,
        ))
    }

    fn layer_policy_revision(&self, ctx: &RequestContext, input: &Value) -> String {
        layer_name(ctx, s(input, "LayerName").unwrap_or(""))
            .ok()
            .and_then(|(p, name)| {
                let v = input.get("VersionNumber").and_then(Value::as_u64)?;
                self.layer_version(&p, &name, v, false)
            })
            .map(|l| l.policy_revision)
            .unwrap_or_default()
    }

    pub(crate) fn remove_layer_permission(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> LResult<Done> {
        let sid = s(input, "StatementId").unwrap_or("").to_string();
        let ((), version) = self.edit_layer_policy(ctx, input, |l, _| {
            let before = l.policy.len();
            l.policy.retain(|t| {
                serde_json::from_str::<Value>(t)
                    .ok()
                    .is_none_or(|v| v["Sid"] != json!(sid))
            });
            if l.policy.len() == before {
                return Err(LambdaError::not_found(format!(
                    "Statement {sid} is not found in resource policy."
                )));
            }
            Ok(())
        })?;
        Ok(Done::wrote(Value::Null, version))
    }

    pub(crate) fn get_layer_policy(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let (p, name) = layer_name(ctx, s(input, "LayerName").unwrap_or(""))?;
        let v = input
            .get("VersionNumber")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let l = self
            .layer_version(&p, &name, v, false)
            .ok_or_else(|| missing(&layer_version_arn(&p, &name, v)))?;
        if l.policy.is_empty() {
            return Err(LambdaError::not_found(
                "No policy is associated with the given resource.",
            ));
        }
        let statements: Vec<Value> = l
            .policy
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect();
        let doc = json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        Ok(Done::read(json!({
            "Policy": doc.to_string(),
            "RevisionId": l.policy_revision,
        })))
    }

    /// A function's `Layers` (in its stored members) checked and sized: each must exist and
    /// be usable by the caller (its own, or shared with it by a layer version permission).
    pub(crate) fn fix_layers(&self, ctx: &RequestContext, extra: String) -> LResult<String> {
        let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&extra) else {
            return Ok(extra);
        };
        let Some(Value::Array(layers)) = o.get("Layers").cloned() else {
            return Ok(extra);
        };
        if layers.len() > 5 {
            return Err(LambdaError::invalid("Cannot reference more than 5 layers."));
        }
        let mut out = Vec::new();
        for l in &layers {
            let arn = s(l, "Arn").unwrap_or("");
            let found = parse_version_arn(arn)
                .and_then(|(p, name, v)| self.layer_version(&p, &name, v, false).map(|l| (p, l)))
                .filter(|(p, l)| *p == ctx.partition || shared_with(l, ctx.account()));
            let Some((_, lv)) = found else {
                return Err(LambdaError::invalid(format!(
                    "Layer version {arn} does not exist."
                )));
            };
            out.push(json!({"Arn": arn, "CodeSize": lv.code_size}));
        }
        o.insert("Layers".into(), Value::Array(out));
        Ok(Value::Object(o).to_string())
    }

    /// The layers of a configuration, in order: (CodeSha256, blob).
    pub(crate) fn layers_of(&self, extra: &str) -> Vec<(String, snapstack_engine::BlobId)> {
        let Ok(v) = serde_json::from_str::<Value>(extra) else {
            return Vec::new();
        };
        v.get("Layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| parse_version_arn(s(l, "Arn")?))
            .filter_map(|(p, name, v)| self.layer_version(&p, &name, v, true))
            .map(|l| (l.code_sha256, l.code))
            .collect()
    }

    /// `Content.Location`: a layer's zip, from this server.
    pub(crate) fn layer_zip(&self, path: &str, query: Option<&str>) -> Option<Vec<u8>> {
        let rest = path.strip_prefix(LAYER_PATH)?;
        let (region, rest) = rest.split_once(LAYER_TASKS)?;
        let segs: Vec<&str> = rest.split('/').collect();
        let [account, name, v] = segs.as_slice() else {
            return None;
        };
        let l = self.layer_version(
            &Partition::new(*account, region),
            name,
            v.parse().ok()?,
            true,
        )?;
        let sha = query?
            .split('&')
            .find_map(|kv| kv.strip_prefix("code="))
            .map(crate::ops::functions::sha_from_url)?;
        if sha != l.code_sha256 {
            return None;
        }
        blocking(|| code::read(self.engine(), &l.code)).ok()
    }
}

/// Whether a layer version's policy lets `account` use it.
fn shared_with(l: &LayerVersion, account: &str) -> bool {
    l.policy.iter().any(|t| {
        serde_json::from_str::<Value>(t).ok().is_some_and(|st| {
            st["Principal"] == "*"
                || st["Principal"]["AWS"] == json!(format!("arn:aws:iam::{account}:root"))
        })
    })
}

/// A page of a listing (`Marker` is the index to start at).
fn page(all: Vec<Value>, input: &Value, key: &str, default: u64) -> Value {
    let max = input
        .get("MaxItems")
        .and_then(Value::as_u64)
        .map_or(default as usize, |n| n.clamp(1, 50) as usize);
    let start = s(input, "Marker")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(0)
        .min(all.len());
    let items: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
    let mut out = json!({ key: items });
    if start + max < all.len() {
        out["NextMarker"] = json!((start + max).to_string());
    }
    out
}

pub fn is_layer_path(path: &str) -> bool {
    path.starts_with(LAYER_PATH) && path.contains(LAYER_TASKS)
}

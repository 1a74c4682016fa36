//! Patch Manager: patch baselines (create, get, update, delete, describe), default baselines
//! per operating system, and patch groups.
//!
//! AWS's predefined baselines exist implicitly with AWS's ids (those of us-east-1, owned by
//! AWS's account 075727635805, for every region here). There is no patch catalog here:
//! DescribePatchProperties and DescribeAvailablePatches answer an empty list in AWS's shape.

use super::objects::*;
use super::*;

const BASELINE: &str = "baseline";
const DEFAULT: &str = "pbdefault";
const GROUP: &str = "patchgroup";
const AWS_OWNER: &str = "075727635805";
/// Custom baselines an account may have in a region (AWS allows 50).
const MAX_BASELINES: usize = 50;
const MAX_GROUPS: usize = 500;

/// AWS's predefined baselines: operating system, id, name, description.
const PREDEFINED: &[(&str, &str, &str, &str)] = &[
    (
        "WINDOWS",
        "pb-09ca3fb51f0412ec3",
        "AWS-DefaultPatchBaseline",
        "Default Patch Baseline Provided by AWS.",
    ),
    (
        "AMAZON_LINUX",
        "pb-0c10e657807c7a700",
        "AWS-AmazonLinuxDefaultPatchBaseline",
        "Default Patch Baseline for Amazon Linux Provided by AWS.",
    ),
    (
        "AMAZON_LINUX_2",
        "pb-0be8c61cde3be63f3",
        "AWS-AmazonLinux2DefaultPatchBaseline",
        "Baseline containing all Security and Bugfix updates approved for Amazon Linux 2 instances",
    ),
    (
        "UBUNTU",
        "pb-0c7e89f711c3095f4",
        "AWS-UbuntuDefaultPatchBaseline",
        "Default Patch Baseline for Ubuntu Provided by AWS.",
    ),
    (
        "REDHAT_ENTERPRISE_LINUX",
        "pb-0cbb3a633de00f07c",
        "AWS-RedHatDefaultPatchBaseline",
        "Default Patch Baseline for Redhat Enterprise Linux Provided by AWS.",
    ),
    (
        "SUSE",
        "pb-07d8884178197b66b",
        "AWS-SuseDefaultPatchBaseline",
        "Default Patch Baseline for Suse Provided by AWS.",
    ),
    (
        "CENTOS",
        "pb-03e3f588eec25344c",
        "AWS-CentOSDefaultPatchBaseline",
        "Default Patch Baseline for CentOS Provided by AWS.",
    ),
];

fn predefined_arn(ctx: &RequestContext, id: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{AWS_OWNER}:patchbaseline/{id}",
        ctx.region()
    )
}

/// The predefined baseline an id (short or ARN) names.
fn predefined(
    id: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    let short = id.rsplit('/').next().unwrap_or(id);
    PREDEFINED.iter().find(|p| p.1 == short)
}

fn predefined_body(ctx: &RequestContext, p: &(&str, &str, &str, &str)) -> Value {
    json!({
        "BaselineId": predefined_arn(ctx, p.1), "Name": p.2, "Description": p.3, "OperatingSystem": p.0,
        "GlobalFilters": {"PatchFilters": []},
        "ApprovalRules": {"PatchRules": [{
            "PatchFilterGroup": {"PatchFilters": [
                {"Key": "CLASSIFICATION", "Values": ["Security", "Bugfix"]},
                {"Key": "SEVERITY", "Values": ["Critical", "Important"]}]},
            "ComplianceLevel": "UNSPECIFIED", "ApproveAfterDays": 7, "EnableNonSecurity": false}]},
        "ApprovedPatches": [], "ApprovedPatchesComplianceLevel": "UNSPECIFIED",
        "ApprovedPatchesEnableNonSecurity": false, "RejectedPatches": [],
        "RejectedPatchesAction": "ALLOW_AS_DEPENDENCY", "PatchGroups": [], "Sources": [],
        "CreatedDate": 1_540_000_000.0, "ModifiedDate": 1_540_000_000.0,
    })
}

fn missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Patch Baseline {id} does not exist."),
    )
}

fn check_id(id: &str) -> Result<(), AwsError> {
    let short = id.rsplit('/').next().unwrap_or(id);
    let ok = short.len() == 20
        && short.starts_with("pb-")
        && short[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return Err(AwsError::new(
            "InvalidResourceId",
            format!("Invalid resource Id: {id}"),
        ));
    }
    Ok(())
}

const BASELINE_FIELDS: &[&str] = &[
    "ApprovalRules",
    "ApprovedPatches",
    "ApprovedPatchesComplianceLevel",
    "ApprovedPatchesEnableNonSecurity",
    "AvailableSecurityUpdatesComplianceStatus",
    "Description",
    "GlobalFilters",
    "Name",
    "RejectedPatches",
    "RejectedPatchesAction",
    "Sources",
];

fn group_id(group: &str, os: &str) -> String {
    format!("{group}\u{1}{os}")
}

impl Ssm {
    /// A baseline by id (a custom one by its `pb-` id, a predefined one by its id or ARN), with
    /// its patch groups.
    fn baseline(&self, ctx: &RequestContext, id: &str) -> Option<Value> {
        let mut b = match predefined(id) {
            Some(p) => predefined_body(ctx, p),
            None => self.obj_get(ctx, BASELINE, id)?.value(),
        };
        let bid = b["BaselineId"].clone();
        let groups: Vec<Value> = self
            .obj_list(ctx, GROUP)
            .into_iter()
            .map(|o| o.value())
            .filter(|g| g["BaselineId"] == bid)
            .map(|g| g["PatchGroup"].clone())
            .collect();
        b["PatchGroups"] = json!(groups);
        Some(b)
    }

    /// The default baseline's id of an operating system.
    fn default_baseline(&self, ctx: &RequestContext, os: &str) -> Option<String> {
        if let Some(o) = self.obj_get(ctx, DEFAULT, os) {
            return s(&o.value(), "BaselineId").map(str::to_string);
        }
        PREDEFINED
            .iter()
            .find(|p| p.0 == os)
            .map(|p| predefined_arn(ctx, p.1))
    }

    fn identity(&self, ctx: &RequestContext, b: &Value) -> Value {
        let os = s(b, "OperatingSystem").unwrap_or("WINDOWS");
        let default = self.default_baseline(ctx, os).as_deref() == s(b, "BaselineId");
        json!({"BaselineId": b["BaselineId"], "BaselineName": b["Name"], "OperatingSystem": os,
               "BaselineDescription": b["Description"], "DefaultBaseline": default})
    }

    pub(super) fn create_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "Name")?;
        let tags = input_tags(input)?;
        let now = secs(now_ms());
        let id = format!("pb-{:01x}{:016x}", self.random() & 0xf, self.random());
        let mut m = Map::new();
        copy(&mut m, input, BASELINE_FIELDS);
        m.insert("BaselineId".into(), json!(id));
        m.insert("Name".into(), json!(name));
        m.insert(
            "OperatingSystem".into(),
            json!(s(input, "OperatingSystem").unwrap_or("WINDOWS")),
        );
        for (k, v) in [
            ("ApprovedPatches", json!([])),
            ("RejectedPatches", json!([])),
            ("ApprovedPatchesComplianceLevel", json!("UNSPECIFIED")),
            ("ApprovedPatchesEnableNonSecurity", json!(false)),
            ("RejectedPatchesAction", json!("ALLOW_AS_DEPENDENCY")),
            ("Sources", json!([])),
            ("GlobalFilters", json!({"PatchFilters": []})),
        ] {
            m.entry(k).or_insert(v);
        }
        m.insert("CreatedDate".into(), json!(now));
        m.insert("ModifiedDate".into(), json!(now));
        if let Some(t) = s(input, "ClientToken") {
            m.insert("ClientToken".into(), json!(t));
        }
        let body = Value::Object(m);
        let p = &ctx.partition;
        let (r, wv) = self.store.write(|txn| {
            let mut count = 0;
            for (_, r) in txn.scan_prefix(&obj_prefix(p, BASELINE)) {
                let SsmRecord::Ext(Ext::Object(o)) = r else { continue };
                count += 1;
                let old = o.value();
                if let Some(t) = s(input, "ClientToken")
                    && s(&old, "ClientToken") == Some(t)
                {
                    return if s(&old, "Name") == Some(name) {
                        Ok((o.id.clone(), false))
                    } else {
                        Err(AwsError::new(
                            "IdempotentParameterMismatch",
                            "Error in parameters. You provided the same client token with different parameters.",
                        ))
                    };
                }
            }
            if count >= MAX_BASELINES {
                return Err(AwsError::new(
                    "ResourceLimitExceededException",
                    format!("Maximum number of patch baselines ({MAX_BASELINES}) reached."),
                ));
            }
            let mut rec = ObjectRec::new(BASELINE, &id, &body);
            rec.tags = tags;
            txn.insert(obj_key(p, BASELINE, &id), SsmRecord::Ext(Ext::Object(rec)));
            Ok((id.clone(), true))
        });
        let (id, created) = r?;
        ok(json!({"BaselineId": id}), created.then_some(wv))
    }

    pub(super) fn get_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        check_id(id)?;
        let b = self.baseline(ctx, id).ok_or_else(|| missing(id))?;
        ok(b, None)
    }

    pub(super) fn update_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        check_id(id)?;
        let replace = input.get("Replace") == Some(&json!(true));
        let (_, wv) = self.obj_update(ctx, BASELINE, id, |old| {
            let mut o = old.ok_or_else(|| missing(id))?;
            let mut v = o.value();
            if let Some(m) = v.as_object_mut() {
                if replace {
                    for k in BASELINE_FIELDS {
                        if *k != "Name" {
                            m.remove(*k);
                        }
                    }
                }
                let mut given = Map::new();
                copy(&mut given, input, BASELINE_FIELDS);
                m.extend(given);
                m.insert("ModifiedDate".into(), json!(secs(now_ms())));
            }
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        let b = self.baseline(ctx, id).ok_or_else(|| missing(id))?;
        ok(b, wv)
    }

    pub(super) fn delete_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        check_id(id)?;
        if let Some(b) = self.baseline(ctx, id) {
            let os = s(&b, "OperatingSystem").unwrap_or("WINDOWS");
            if !arr(&b, "PatchGroups").is_empty() {
                return Err(AwsError::new(
                    "ResourceInUseException",
                    "Patch Baseline is registered with one or more patch groups. Deregister the baseline from the patch groups before deleting it.",
                ));
            }
            if self.default_baseline(ctx, os).as_deref() == Some(id) {
                return Err(AwsError::new(
                    "ResourceInUseException",
                    "Patch Baseline is the default baseline of its operating system.",
                ));
            }
        }
        let wv = self.obj_delete(ctx, BASELINE, id);
        ok(json!({"BaselineId": id}), wv)
    }

    pub(super) fn describe_patch_baselines(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 100, 100)?;
        let mut all: Vec<(bool, Value)> = PREDEFINED
            .iter()
            .map(|p| (true, predefined_body(ctx, p)))
            .collect();
        all.extend(
            self.obj_list(ctx, BASELINE)
                .into_iter()
                .map(|o| (false, o.value())),
        );
        let filters = arr(input, "Filters");
        let items: Vec<Value> = all
            .into_iter()
            .filter(|(aws, b)| {
                filters.iter().all(|f| {
                    let values: Vec<&str> =
                        arr(f, "Values").iter().filter_map(Value::as_str).collect();
                    match s(f, "Key").unwrap_or("") {
                        "NAME_PREFIX" => values
                            .iter()
                            .any(|w| s(b, "Name").is_some_and(|n| n.starts_with(w))),
                        "OPERATING_SYSTEM" => {
                            values.iter().any(|w| s(b, "OperatingSystem") == Some(w))
                        }
                        "OWNER" => values.iter().any(|w| match *w {
                            "AWS" => *aws,
                            "Self" => !*aws,
                            _ => true,
                        }),
                        _ => true,
                    }
                })
            })
            .map(|(_, b)| self.identity(ctx, &b))
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("BaselineIdentities", items, next), None)
    }

    pub(super) fn register_default_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        check_id(id)?;
        let b = self.baseline(ctx, id).ok_or_else(|| missing(id))?;
        let os = s(&b, "OperatingSystem").unwrap_or("WINDOWS");
        let bid = s(&b, "BaselineId").unwrap_or(id);
        let wv = self.obj_put(
            ctx,
            ObjectRec::new(
                DEFAULT,
                os,
                &json!({"BaselineId": bid, "OperatingSystem": os}),
            ),
        );
        ok(json!({"BaselineId": bid}), Some(wv))
    }

    pub(super) fn get_default_patch_baseline(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let os = s(input, "OperatingSystem").unwrap_or("WINDOWS");
        let id = self.default_baseline(ctx, os);
        ok(json!({"BaselineId": id, "OperatingSystem": os}), None)
    }

    pub(super) fn register_patch_baseline_for_patch_group(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        let group = req(input, "PatchGroup")?;
        check_id(id)?;
        let b = self.baseline(ctx, id).ok_or_else(|| missing(id))?;
        let os = s(&b, "OperatingSystem").unwrap_or("WINDOWS").to_string();
        let bid = s(&b, "BaselineId").unwrap_or(id).to_string();
        let count = self.obj_list(ctx, GROUP).len();
        let (_, wv) = self.obj_update(ctx, GROUP, &group_id(group, &os), |old| {
            if old.is_some() {
                return Err(AwsError::new(
                    "AlreadyExistsException",
                    format!("Patch Group baseline already has a baseline registered for OperatingSystem {os}."),
                ));
            }
            if count >= MAX_GROUPS {
                return Err(AwsError::new(
                    "ResourceLimitExceededException",
                    "Maximum number of patch groups reached.",
                ));
            }
            let body = json!({"PatchGroup": group, "BaselineId": bid, "OperatingSystem": os});
            Ok((Some(ObjectRec::new(GROUP, &group_id(group, &os), &body)), ()))
        })?;
        ok(json!({"BaselineId": bid, "PatchGroup": group}), wv)
    }

    pub(super) fn deregister_patch_baseline_for_patch_group(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "BaselineId")?;
        let group = req(input, "PatchGroup")?;
        check_id(id)?;
        let found = self.obj_list(ctx, GROUP).into_iter().find(|o| {
            let v = o.value();
            s(&v, "PatchGroup") == Some(group)
                && s(&v, "BaselineId").is_some_and(|b| b == id || b.ends_with(&format!("/{id}")))
        });
        let o = found.ok_or_else(|| {
            AwsError::new(
                "InvalidResourceId",
                format!("Patch Baseline {id} is not registered for Patch Group {group}."),
            )
        })?;
        let wv = self.obj_delete(ctx, GROUP, &o.id);
        ok(json!({"BaselineId": id, "PatchGroup": group}), wv)
    }

    pub(super) fn get_patch_baseline_for_patch_group(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let group = req(input, "PatchGroup")?;
        let os = s(input, "OperatingSystem").unwrap_or("WINDOWS");
        let id = match self.obj_get(ctx, GROUP, &group_id(group, os)) {
            Some(o) => s(&o.value(), "BaselineId").map(str::to_string),
            None => self.default_baseline(ctx, os),
        };
        ok(
            json!({"BaselineId": id, "PatchGroup": group, "OperatingSystem": os}),
            None,
        )
    }

    pub(super) fn describe_patch_groups(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 100, 100)?;
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .obj_list(ctx, GROUP)
            .into_iter()
            .map(|o| o.value())
            .filter(|g| {
                filters.iter().all(|f| {
                    let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
                    match s(f, "Key").unwrap_or("") {
                        "NAME_PREFIX" => values.iter().any(|w| s(g, "PatchGroup").is_some_and(|n| n.starts_with(w))),
                        "OPERATING_SYSTEM" => values.iter().any(|w| s(g, "OperatingSystem") == Some(w)),
                        _ => true,
                    }
                })
            })
            .filter_map(|g| {
                let b = self.baseline(ctx, s(&g, "BaselineId")?)?;
                Some(json!({"PatchGroup": g["PatchGroup"], "BaselineIdentity": self.identity(ctx, &b)}))
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Mappings", items, next), None)
    }

    /// The patch state of a group's instances: the managed instances tagged with the group
    /// (`Patch Group` or `PatchGroup`); none has reported patches here.
    pub(super) fn describe_patch_group_state(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let group = req(input, "PatchGroup")?;
        let n = self
            .obj_list(ctx, instances::INSTANCE)
            .into_iter()
            .filter(|o| {
                o.tags
                    .iter()
                    .any(|(k, v)| (k == "Patch Group" || k == "PatchGroup") && v == group)
            })
            .count();
        let mut out = json!({"Instances": n});
        for k in [
            "InstancesWithInstalledPatches",
            "InstancesWithInstalledOtherPatches",
            "InstancesWithInstalledPendingRebootPatches",
            "InstancesWithInstalledRejectedPatches",
            "InstancesWithMissingPatches",
            "InstancesWithFailedPatches",
            "InstancesWithNotApplicablePatches",
            "InstancesWithUnreportedNotApplicablePatches",
            "InstancesWithCriticalNonCompliantPatches",
            "InstancesWithSecurityNonCompliantPatches",
            "InstancesWithOtherNonCompliantPatches",
            "InstancesWithAvailableSecurityUpdates",
        ] {
            out[k] = json!(0);
        }
        ok(out, None)
    }

    /// No patch catalog here: an empty list in AWS's shape.
    pub(super) fn describe_patch_properties(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        max_results(input, 50, 50)?;
        req(input, "OperatingSystem")?;
        req(input, "Property")?;
        ok(json!({"Properties": []}), None)
    }

    /// No patch catalog here: an empty list in AWS's shape.
    pub(super) fn describe_available_patches(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        max_results(input, 100, 100)?;
        ok(json!({"Patches": []}), None)
    }
}

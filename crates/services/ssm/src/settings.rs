//! Service settings (get, update, reset, with AWS's defaults), resource policies (put, get,
//! delete) and document reviews (UpdateDocumentMetadata, ListDocumentMetadataHistory).

use super::objects::*;
use super::*;

const SETTING: &str = "setting";
const POLICY: &str = "respolicy";
const REVIEW: &str = "docreview";
/// Policies a resource may have (AWS allows 4 per OpsItemGroup / parameter... keep it small).
const MAX_POLICIES: usize = 4;

/// The service settings AWS has, with their default values and the values an update may set
/// (an empty list: any value).
const SETTINGS: &[(&str, &str, &[&str])] = &[
    (
        "/ssm/parameter-store/high-throughput-enabled",
        "false",
        &["true", "false"],
    ),
    (
        "/ssm/parameter-store/default-parameter-tier",
        "Standard",
        &["Standard", "Advanced", "Intelligent-Tiering"],
    ),
    (
        "/ssm/managed-instance/activation-tier",
        "standard",
        &["standard", "advanced"],
    ),
    (
        "/ssm/opsinsights/opscenter",
        "Disabled",
        &["Enabled", "Disabled"],
    ),
    (
        "/ssm/automation/customer-script-log-destination",
        "None",
        &["None", "CloudWatch"],
    ),
    (
        "/ssm/automation/customer-script-log-group-name",
        "/aws/ssm/automation/executeScript",
        &[],
    ),
    (
        "/ssm/documents/console/public-sharing-permission",
        "Enable",
        &["Enable", "Disable"],
    ),
    (
        "/ssm/managed-instance/default-ec2-instance-management-role",
        "",
        &[],
    ),
    (
        "/ssm/appmanager/appmanager-enabled",
        "False",
        &["True", "False"],
    ),
];

pub(super) const DEFAULT_TIER: &str = "/ssm/parameter-store/default-parameter-tier";

fn setting_not_found(id: &str) -> AwsError {
    AwsError::new(
        "ServiceSettingNotFound",
        format!("The service setting {id} was not found."),
    )
}

/// The setting an id (or its ARN) names.
fn setting(
    ctx: &RequestContext,
    id: &str,
) -> Result<&'static (&'static str, &'static str, &'static [&'static str]), AwsError> {
    let prefix = format!(
        "arn:aws:ssm:{}:{}:servicesetting",
        ctx.region(),
        ctx.account()
    );
    let short = id.strip_prefix(&prefix).unwrap_or(id);
    SETTINGS
        .iter()
        .find(|s| s.0 == short)
        .ok_or_else(|| setting_not_found(id))
}

fn setting_json(
    ctx: &RequestContext,
    id: &str,
    value: &str,
    at: f64,
    user: &str,
    custom: bool,
) -> Value {
    json!({
        "SettingId": id, "SettingValue": value, "LastModifiedDate": at, "LastModifiedUser": user,
        "ARN": format!("arn:aws:ssm:{}:{}:servicesetting{id}", ctx.region(), ctx.account()),
        "Status": if custom { "Customized" } else { "Default" },
    })
}

/// A short, opaque hash of a policy's text (FNV-1a, hex).
fn policy_hash(policy: &str, salt: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in policy.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Ssm {
    /// A setting's current value (its default unless updated).
    pub(super) fn setting_value(&self, ctx: &RequestContext, id: &str) -> String {
        if let Some(o) = self.obj_get(ctx, SETTING, id) {
            return s(&o.value(), "SettingValue").unwrap_or("").to_string();
        }
        SETTINGS
            .iter()
            .find(|x| x.0 == id)
            .map_or(String::new(), |x| x.1.to_string())
    }

    pub(super) fn get_service_setting(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let (id, default, _) = setting(ctx, req(input, "SettingId")?)?;
        let v = match self.obj_get(ctx, SETTING, id) {
            Some(o) => o.value(),
            None => setting_json(ctx, id, default, 1_546_300_800.0, "System", false),
        };
        ok(json!({"ServiceSetting": v}), None)
    }

    pub(super) fn update_service_setting(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let (id, _, allowed) = setting(ctx, req(input, "SettingId")?)?;
        let value = req(input, "SettingValue")?;
        if !allowed.is_empty() && !allowed.contains(&value) {
            return Err(AwsError::validation(format!(
                "The value {value} is not valid for the setting {id}. Valid values: {}.",
                allowed.join(", ")
            )));
        }
        let user = format!("arn:aws:iam::{}:root", ctx.account());
        let v = setting_json(ctx, id, value, secs(now_ms()), &user, true);
        let wv = self.obj_put(ctx, ObjectRec::new(SETTING, id, &v));
        ok(json!({}), Some(wv))
    }

    pub(super) fn reset_service_setting(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let (id, default, _) = setting(ctx, req(input, "SettingId")?)?;
        let wv = self.obj_delete(ctx, SETTING, id);
        let user = format!("arn:aws:iam::{}:root", ctx.account());
        let v = setting_json(ctx, id, default, secs(now_ms()), &user, false);
        ok(json!({"ServiceSetting": v}), wv)
    }

    /// The resource a policy is for must exist: an OpsItemGroup, or a parameter of the caller.
    fn policy_resource(&self, ctx: &RequestContext, arn: &str) -> Result<(), AwsError> {
        let head = format!("arn:aws:ssm:{}:{}:", ctx.region(), ctx.account());
        let not_found = || {
            AwsError::new(
                "ResourceNotFoundException",
                format!("The resource {arn} does not exist."),
            )
        };
        let Some(rest) = arn.strip_prefix(&head) else {
            return Err(AwsError::new(
                "ResourcePolicyInvalidParameterException",
                format!("The resource ARN {arn} is not valid."),
            ));
        };
        if rest.starts_with("opsitemgroup/") {
            return Ok(());
        }
        if let Some(name) = rest.strip_prefix("parameter") {
            let snap = self.store.snapshot();
            let name = if name.starts_with("//") {
                &name[1..]
            } else {
                name
            };
            let found = snap.get(&key(&ctx.partition, name)).is_some()
                || snap
                    .get(&key(&ctx.partition, name.trim_start_matches('/')))
                    .is_some();
            return if found { Ok(()) } else { Err(not_found()) };
        }
        Err(AwsError::new(
            "ResourcePolicyInvalidParameterException",
            "Resource policies can only be attached to OpsItemGroups and parameters.",
        ))
    }

    pub(super) fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "ResourceArn")?;
        let policy = req(input, "Policy")?;
        if !matches!(serde_json::from_str::<Value>(policy), Ok(Value::Object(_))) {
            return Err(AwsError::new(
                "MalformedResourcePolicyDocumentException",
                "The policy document is malformed.",
            ));
        }
        self.policy_resource(ctx, arn)?;
        let mut policies: Vec<Value> = self
            .obj_get(ctx, POLICY, arn)
            .map(|o| arr(&o.value(), "Policies").to_vec())
            .unwrap_or_default();
        let hash = policy_hash(policy, self.random());
        let id = match (s(input, "PolicyId"), s(input, "PolicyHash")) {
            (Some(id), given) => {
                let p = policies
                    .iter_mut()
                    .find(|p| s(p, "PolicyId") == Some(id))
                    .ok_or_else(|| {
                        AwsError::new(
                            "ResourcePolicyNotFoundException",
                            format!("No policy found with id {id}."),
                        )
                    })?;
                if given != s(p, "PolicyHash") {
                    return Err(AwsError::new(
                        "ResourcePolicyConflictException",
                        "The hash provided in the call doesn't match the stored hash. This exception is thrown when trying to update an obsolete policy version or when multiple requests to update a policy are sent.",
                    ));
                }
                *p = json!({"PolicyId": id, "PolicyHash": hash, "Policy": policy});
                id.to_string()
            }
            (None, _) => {
                if policies.len() >= MAX_POLICIES {
                    return Err(AwsError::new(
                        "ResourcePolicyLimitExceededException",
                        format!(
                            "The PutResourcePolicy API call failed because the resource already has the maximum number of policies ({MAX_POLICIES})."
                        ),
                    ));
                }
                let id = self.time_id(now_ms());
                policies.push(json!({"PolicyId": id, "PolicyHash": hash, "Policy": policy}));
                id
            }
        };
        let wv = self.obj_put(
            ctx,
            ObjectRec::new(POLICY, arn, &json!({"Policies": policies})),
        );
        ok(json!({"PolicyId": id, "PolicyHash": hash}), Some(wv))
    }

    pub(super) fn get_resource_policies(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "ResourceArn")?;
        let max = max_results(input, 50, 50)?;
        self.policy_resource(ctx, arn)?;
        let items = self
            .obj_get(ctx, POLICY, arn)
            .map(|o| arr(&o.value(), "Policies").to_vec())
            .unwrap_or_default();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Policies", items, next), None)
    }

    pub(super) fn delete_resource_policy(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "ResourceArn")?;
        let id = req(input, "PolicyId")?;
        let hash = req(input, "PolicyHash")?;
        self.policy_resource(ctx, arn)?;
        let (_, wv) = self.obj_update(ctx, POLICY, arn, |old| {
            let not_found = || {
                AwsError::new(
                    "ResourcePolicyNotFoundException",
                    format!("No policy found with id {id}."),
                )
            };
            let mut o = old.ok_or_else(not_found)?;
            let mut policies = arr(&o.value(), "Policies").to_vec();
            let at = policies
                .iter()
                .position(|p| s(p, "PolicyId") == Some(id))
                .ok_or_else(not_found)?;
            if s(&policies[at], "PolicyHash") != Some(hash) {
                return Err(AwsError::new(
                    "ResourcePolicyConflictException",
                    "The hash provided in the call doesn't match the stored hash.",
                ));
            }
            policies.remove(at);
            o.body = json!({"Policies": policies}).to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), wv)
    }

    /// The caller's document and version a review names (Amazon's documents are not reviewed).
    fn review_target(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<(String, String), AwsError> {
        let name = documents::doc_name(ctx, req(input, "Name")?);
        let snap = self.store.snapshot();
        let d = documents::find_doc(&snap, ctx, &name)
            .filter(|d| d.owner == ctx.account())
            .ok_or_else(documents::doc_missing)?;
        let v = documents::select_version(&snap, ctx, &d, s(input, "DocumentVersion"), None)
            .map_err(|_| {
                AwsError::new(
                    "InvalidDocumentVersion",
                    "The document version is not valid or does not exist.",
                )
            })?;
        Ok((name, v.version.to_string()))
    }

    pub(super) fn update_document_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let (name, version) = self.review_target(ctx, input)?;
        let reviews = input.get("DocumentReviews").cloned().unwrap_or(json!({}));
        let action = req(&reviews, "Action")?.to_string();
        let now = secs(now_ms());
        let reviewer = format!("arn:aws:iam::{}:root", ctx.account());
        let comment: Vec<Value> = arr(&reviews, "Comment")
            .iter()
            .map(|c| json!({"Type": c.get("Type").cloned().unwrap_or(json!("Comment")), "Content": c["Content"]}))
            .collect();
        let id = format!("{name}\u{1}{version}");
        let (_, wv) = self.obj_update(ctx, REVIEW, &id, |old| {
            let mut responses = old
                .as_ref()
                .map(|o| arr(&o.value(), "ReviewerResponse").to_vec())
                .unwrap_or_default();
            let last = responses
                .last()
                .and_then(|r| s(r, "ReviewStatus"))
                .map(str::to_string);
            let status = match action.as_str() {
                "SendForReview" => "PENDING",
                "Approve" => "APPROVED",
                "Reject" => "REJECTED",
                _ => match last.as_deref() {
                    Some(s) => s,
                    None => {
                        return Err(AwsError::new(
                            "InvalidDocumentOperation",
                            "The document version has not been sent for review.",
                        ));
                    }
                },
            }
            .to_string();
            if matches!(action.as_str(), "Approve" | "Reject") && last.as_deref() != Some("PENDING")
            {
                return Err(AwsError::new(
                    "InvalidDocumentOperation",
                    "Only a document version pending review can be approved or rejected.",
                ));
            }
            responses.push(
                json!({"CreateTime": now, "UpdatedTime": now, "ReviewStatus": status,
                                  "Comment": comment, "Reviewer": reviewer}),
            );
            let body = json!({"ReviewerResponse": responses});
            Ok((Some(ObjectRec::new(REVIEW, &id, &body)), ()))
        })?;
        ok(json!({}), wv)
    }

    pub(super) fn list_document_metadata_history(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        req(input, "Metadata")?;
        let max = max_results(input, 50, 50)?;
        let (name, version) = self.review_target(ctx, input)?;
        let responses = self
            .obj_get(ctx, REVIEW, &format!("{name}\u{1}{version}"))
            .map(|o| arr(&o.value(), "ReviewerResponse").to_vec())
            .unwrap_or_default();
        let (items, next) = page(responses, s(input, "NextToken"), max)?;
        let mut out = json!({"Name": name, "DocumentVersion": version, "Author": ctx.account(),
                             "Metadata": {"ReviewerResponse": items}});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        ok(out, None)
    }
}

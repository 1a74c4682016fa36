//! Session Manager (StartSession, ResumeSession, TerminateSession, DescribeSessions), just-in-time
//! node access (StartAccessRequest, GetAccessToken), patch snapshots and execution previews.
//!
//! A session is a record (`session`): its target, owner, document, reason, times and status.
//! There is no SSM Agent here to open the data channel, so a started session stays
//! `Connected` until it is terminated: its `StreamUrl` and `TokenValue` have AWS's forms but
//! nothing answers on that WebSocket.

use super::objects::*;
use super::*;

pub(super) const SESSION: &str = "session";
const ACCESS: &str = "access";
const PREVIEW: &str = "preview";
/// How long just-in-time credentials last.
const ACCESS_TOKEN_MS: u64 = 3_600_000;

fn session_missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Session with Id {id} does not exist."),
    )
}

fn random_token(ssm: &Ssm, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut r = ssm.random();
        for _ in 0..10 {
            if out.len() >= len {
                break;
            }
            out.push(ALPHABET[(r & 63) as usize] as char);
            r >>= 6;
        }
    }
    out
}

impl Ssm {
    fn session_urls(&self, ctx: &RequestContext, id: &str) -> (String, String) {
        (
            format!(
                "wss://ssmmessages.{}.amazonaws.com/v1/data-channel/{id}?role=publish_subscribe&cell-number={}",
                ctx.region(),
                random_token(self, 24)
            ),
            random_token(self, 256),
        )
    }

    pub(super) fn start_session(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let target = req(input, "Target")?;
        let doc = match s(input, "DocumentName") {
            None => "SSM-SessionManagerRunShell".to_string(),
            Some(name) => {
                let snap = self.store.snapshot();
                let local = documents::doc_name(ctx, name);
                match documents::find_doc(&snap, ctx, &local) {
                    Some(d) if matches!(d.head.document_type.as_str(), "Session" | "Command") => {
                        d.head.name.clone()
                    }
                    Some(_) => {
                        return Err(AwsError::new(
                            "InvalidDocument",
                            format!("Document type of {name} is not Session or Command."),
                        ));
                    }
                    None => {
                        return Err(AwsError::new(
                            "InvalidDocument",
                            format!("Document with name {name} does not exist."),
                        ));
                    }
                }
            }
        };
        let now = now_ms();
        let id = format!("root-{:017x}", self.random());
        let mut body = json!({
            "SessionId": id,
            "Target": target,
            "Status": "Connected",
            "StartDate": secs(now),
            "DocumentName": doc,
            "Owner": format!("arn:aws:iam::{}:root", ctx.account()),
            "AccessType": "Standard",
            "Details": "",
            "OutputUrl": {},
        });
        if let Some(r) = s(input, "Reason") {
            body["Reason"] = json!(r);
        }
        if let Some(p) = input.get("Parameters") {
            body["_Parameters"] = p.clone();
        }
        let v = self.obj_put(ctx, ObjectRec::new(SESSION, &id, &body));
        let (url, token) = self.session_urls(ctx, &id);
        ok(
            json!({"SessionId": id, "StreamUrl": url, "TokenValue": token}),
            Some(v),
        )
    }

    pub(super) fn resume_session(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "SessionId")?;
        let o = self
            .obj_get(ctx, SESSION, id)
            .filter(|o| o.value()["Status"] == "Connected")
            .ok_or_else(|| session_missing(id))?;
        let (url, token) = self.session_urls(ctx, &o.id);
        ok(
            json!({"SessionId": o.id, "StreamUrl": url, "TokenValue": token}),
            None,
        )
    }

    pub(super) fn terminate_session(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        // Terminating a session that is not active (or unknown) succeeds, as in AWS.
        let id = req(input, "SessionId")?;
        let now = now_ms();
        let (_, v) = self.obj_update(ctx, SESSION, id, |old| {
            let Some(mut o) = old else {
                return Ok((None, ()));
            };
            let mut b = o.value();
            if b["Status"] == "Terminated" {
                return Ok((None, ()));
            }
            b["Status"] = json!("Terminated");
            b["EndDate"] = json!(secs(now));
            o.body = b.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({"SessionId": id}), v)
    }

    pub(super) fn describe_sessions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let state = req(input, "State")?;
        let max = max_results(input, 200, 200)?;
        let active = state == "Active";
        let mut items: Vec<Value> = self
            .obj_list(ctx, SESSION)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| (v["Status"] == "Connected") == active)
            .collect();
        for f in arr(input, "Filters") {
            let key = s(f, "key").unwrap_or_default();
            let value = s(f, "value").unwrap_or_default();
            let time = |v: &str| {
                snapstack_protocol::codec::time::parse_iso8601(v)
                    .map(|ms| ms as f64 / 1000.0)
                    .ok_or_else(|| {
                        AwsError::new(
                            "InvalidFilterKey",
                            format!("The filter value {v} is not a valid date."),
                        )
                    })
            };
            match key {
                "InvokedAfter" => {
                    let t = time(value)?;
                    items.retain(|v| v["StartDate"].as_f64().unwrap_or(0.0) >= t);
                }
                "InvokedBefore" => {
                    let t = time(value)?;
                    items.retain(|v| v["StartDate"].as_f64().unwrap_or(0.0) <= t);
                }
                "Target" | "Owner" | "Status" | "SessionId" | "AccessType" => {
                    items.retain(|v| v[key].as_str() == Some(value));
                }
                other => {
                    return Err(AwsError::new(
                        "InvalidFilterKey",
                        format!("The filter key {other} is not valid."),
                    ));
                }
            }
        }
        items.sort_by(|a, b| {
            b["StartDate"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&a["StartDate"].as_f64().unwrap_or(0.0))
        });
        let (page_items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Sessions", page_items, next), None)
    }

    /// A just-in-time access request: approved at once when the account has an auto-approval
    /// policy (a document of type `AutoApprovalPolicy`), pending otherwise (a manual approval
    /// has no approver here).
    pub(super) fn start_access_request(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let reason = req(input, "Reason")?;
        let targets = arr(input, "Targets");
        if targets.is_empty() {
            return Err(AwsError::missing("targets"));
        }
        let tags = input_tags(input)?;
        let auto = self
            .store
            .snapshot()
            .scan_prefix(&ext_key(&ctx.partition, "doc").build())
            .any(|(_, r)| {
                matches!(r, SsmRecord::Ext(Ext::Document(d)) if d.document_type == "AutoApprovalPolicy")
            });
        let now = now_ms();
        let id = format!("oi-{:012x}", self.random() & 0xffff_ffff_ffff);
        let body = json!({
            "AccessRequestId": id,
            "Reason": reason,
            "Targets": targets,
            "AccessRequestStatus": if auto { "Approved" } else { "Pending" },
            "CreatedTime": secs(now),
            "_Secret": random_token(self, 40),
            "_Key": format!("ASIA{:016X}", self.random()),
            "_Token": random_token(self, 200),
        });
        let mut o = ObjectRec::new(ACCESS, &id, &body);
        o.tags = tags;
        let v = self.obj_put(ctx, o);
        ok(json!({"AccessRequestId": id}), Some(v))
    }

    pub(super) fn get_access_token(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AccessRequestId")?;
        let o = self.obj_get(ctx, ACCESS, id).ok_or_else(|| {
            AwsError::new(
                "ResourceNotFoundException",
                format!("Access request {id} was not found."),
            )
        })?;
        let b = o.value();
        let created = (b["CreatedTime"].as_f64().unwrap_or(0.0) * 1000.0) as u64;
        let expires = created.saturating_add(ACCESS_TOKEN_MS);
        let mut status = b["AccessRequestStatus"]
            .as_str()
            .unwrap_or("Pending")
            .to_string();
        if status == "Approved" && now_ms() >= expires {
            status = "Expired".into();
        }
        let mut out = json!({"AccessRequestStatus": status});
        if status == "Approved" {
            out["Credentials"] = json!({
                "AccessKeyId": b["_Key"],
                "SecretAccessKey": b["_Secret"],
                "SessionToken": b["_Token"],
                "ExpirationTime": secs(expires),
            });
        }
        ok(out, None)
    }

    /// The patch snapshot an instance's agent downloads: its URL (AWS's bucket form) and
    /// the product the instance runs.
    pub(super) fn get_deployable_patch_snapshot_for_instance(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let instance = req(input, "InstanceId")?;
        let snapshot = req(input, "SnapshotId")?;
        let product = self
            .obj_get(ctx, instances::INSTANCE, instance)
            .and_then(|o| {
                let v = o.value();
                v.get("PlatformName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("{p}{}", v["PlatformVersion"].as_str().unwrap_or("")))
            })
            .unwrap_or_else(|| "AmazonLinux2".into());
        let url = format!(
            "https://patch-baseline-snapshot-{r}.s3.{r}.amazonaws.com/{h}-{a}/{snapshot}",
            r = ctx.region(),
            h = &doc_content::sha256_hex(instance)[..16],
            a = ctx.account(),
        );
        ok(
            json!({"InstanceId": instance, "SnapshotId": snapshot, "Product": product,
                   "SnapshotDownloadUrl": url}),
            None,
        )
    }

    /// A preview of what an automation would do: each step's impact (API calls that read are
    /// `NonMutating`, others `Mutating`; steps whose effect is unknown `Undetermined`), the
    /// regions and accounts it reaches. Made at once (`Success`).
    pub(super) fn start_execution_preview(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "DocumentName")?;
        let snap = self.store.snapshot();
        let d = documents::find_doc(&snap, ctx, &documents::doc_name(ctx, name))
            .filter(|d| d.head.document_type == "Automation")
            .ok_or_else(|| {
                AwsError::validation(format!(
                    "Document {name} does not exist or is not an Automation document."
                ))
            })?;
        let v = documents::select_version(&snap, ctx, &d, s(input, "DocumentVersion"), None)
            .map_err(|e| AwsError::validation(e.message))?;
        drop(snap);
        let content = match v.format.as_str() {
            "JSON" => serde_json::from_str(&v.content).unwrap_or(json!({})),
            _ => yaml::parse(&v.content).unwrap_or_else(|| doc_content::yaml_outline(&v.content)),
        };
        let mut impact: BTreeMap<&str, i64> = BTreeMap::new();
        for step in arr(&content, "mainSteps") {
            let action = s(step, "action").unwrap_or_default();
            let api = step
                .get("inputs")
                .and_then(|i| s(i, "Api"))
                .unwrap_or_default();
            let kind = match action {
                "aws:sleep"
                | "aws:pause"
                | "aws:approve"
                | "aws:branch"
                | "aws:assertAwsResourceProperty"
                | "aws:waitForAwsResourceProperty" => "NonMutating",
                "aws:executeAwsApi"
                    if ["Describe", "Get", "List", "describe", "get", "list"]
                        .iter()
                        .any(|p| api.starts_with(p)) =>
                {
                    "NonMutating"
                }
                "aws:executeAwsApi"
                | "aws:createStack"
                | "aws:deleteStack"
                | "aws:createTags"
                | "aws:changeInstanceState"
                | "aws:runInstances"
                | "aws:deleteImage" => "Mutating",
                _ => "Undetermined",
            };
            *impact.entry(kind).or_default() += 1;
        }
        let inputs = input
            .get("ExecutionInputs")
            .and_then(|e| e.get("Automation"))
            .cloned()
            .unwrap_or(json!({}));
        let regions: Vec<Value> = {
            let mut r: Vec<String> = arr(&inputs, "TargetLocations")
                .iter()
                .flat_map(|t| {
                    arr(t, "Regions")
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                })
                .collect();
            if r.is_empty() {
                r.push(ctx.region().to_string());
            }
            r.sort();
            r.dedup();
            r.into_iter().map(Value::String).collect()
        };
        let accounts = arr(&inputs, "TargetLocations")
            .iter()
            .flat_map(|t| arr(t, "Accounts").iter().filter_map(Value::as_str))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            .max(1);
        let targets: Vec<Value> = arr(&inputs, "Targets")
            .iter()
            .map(|t| json!({"Count": arr(t, "Values").len(), "TargetType": s(t, "Key").unwrap_or("")}))
            .collect();
        let now = now_ms();
        let id = self.time_id(now);
        let body = json!({
            "ExecutionPreviewId": id,
            "Status": "Success",
            "EndedAt": secs(now),
            "ExecutionPreview": {"Automation": {
                "StepPreviews": impact,
                "Regions": regions,
                "TargetPreviews": targets,
                "TotalAccounts": accounts,
            }},
        });
        let wv = self.obj_put(ctx, ObjectRec::new(PREVIEW, &id, &body));
        ok(json!({"ExecutionPreviewId": id}), Some(wv))
    }

    pub(super) fn get_execution_preview(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "ExecutionPreviewId")?;
        let o = self.obj_get(ctx, PREVIEW, id).ok_or_else(|| {
            AwsError::new(
                "ResourceNotFoundException",
                format!("Execution preview {id} was not found."),
            )
        })?;
        ok(o.value(), None)
    }
}

//! Run Command: SendCommand, ListCommands, ListCommandInvocations, GetCommandInvocation,
//! CancelCommand. There are no managed nodes here, so, as LocalStack does, a command is a record
//! whose invocations (one a targeted instance) complete at once with `Success` and no output.
//! Command ids are time-ordered UUIDs (version 7), so the key order is the order of requests.

use snapstack_protocol::codec::time::{iso8601_ms, parse as parse_time};

use super::doc_content::*;
use super::documents::*;
use super::*;

const DEFAULT_TIMEOUT: u64 = 3600;

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SendCommandInput {
    instance_ids: Option<Vec<String>>,
    targets: Option<Vec<TargetInput>>,
    document_name: Option<String>,
    document_version: Option<String>,
    document_hash: Option<String>,
    timeout_seconds: Option<u64>,
    comment: Option<String>,
    parameters: Option<BTreeMap<String, Vec<String>>>,
    output_s3_region: Option<String>,
    output_s3_bucket_name: Option<String>,
    output_s3_key_prefix: Option<String>,
    max_concurrency: Option<String>,
    max_errors: Option<String>,
    service_role_arn: Option<String>,
    notification_config: Option<Value>,
    cloud_watch_output_config: Option<Value>,
    alarm_configuration: Option<Value>,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TargetInput {
    pub(super) key: Option<String>,
    pub(super) values: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Debug)]
pub(super) struct CommandFilter {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListCommandsInput {
    command_id: Option<String>,
    instance_id: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<CommandFilter>>,
    details: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct InvocationInput {
    command_id: Option<String>,
    instance_id: Option<String>,
    plugin_name: Option<String>,
    instance_ids: Option<Vec<String>>,
}

pub(super) fn command_key(p: &Partition, id: &str) -> Key {
    ext_key(p, "cmd").str(id).build()
}

fn invalid_command() -> AwsError {
    AwsError::new("InvalidCommandId", "Invalid command id.")
}

/// A version 7 UUID: the time in milliseconds, a sequence number (ids of one millisecond keep
/// their order), then randomness.
pub(super) fn uuid7(now: u64, seq: u64, r: u64) -> String {
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        (now >> 16) as u32,
        (now & 0xffff) as u16,
        seq & 0xfff,
        0x8000 | ((r >> 38) & 0x3fff),
        r & 0xffff_ffff_ffff
    )
}

fn command_json(c: &CommandRec) -> Value {
    let mut m = match serde_json::from_str::<Value>(&c.extra) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("CommandId".into(), json!(c.id));
    m.insert("DocumentName".into(), json!(c.document_name));
    m.insert("DocumentVersion".into(), json!(c.document_version));
    m.insert(
        "Comment".into(),
        json!(c.comment.clone().unwrap_or_default()),
    );
    m.insert(
        "ExpiresAfter".into(),
        json!(secs(c.requested_ms + c.timeout_seconds * 1000)),
    );
    m.insert(
        "Parameters".into(),
        serde_json::from_str(&c.parameters).unwrap_or(json!({})),
    );
    m.insert("InstanceIds".into(), json!(c.instance_ids));
    m.insert(
        "Targets".into(),
        serde_json::from_str(&c.targets).unwrap_or(json!([])),
    );
    m.insert("RequestedDateTime".into(), json!(secs(c.requested_ms)));
    m.insert("Status".into(), json!(c.status));
    m.insert("StatusDetails".into(), json!(c.status));
    m.insert("MaxConcurrency".into(), json!(c.max_concurrency));
    m.insert("MaxErrors".into(), json!(c.max_errors));
    let n = c.invocations.len();
    let done = c
        .invocations
        .iter()
        .filter(|(_, s)| s != "Pending" && s != "InProgress")
        .count();
    let errors = c
        .invocations
        .iter()
        .filter(|(_, s)| s == "Failed" || s == "TimedOut")
        .count();
    m.insert("TargetCount".into(), json!(n));
    m.insert("CompletedCount".into(), json!(done));
    m.insert("ErrorCount".into(), json!(errors));
    m.insert("DeliveryTimedOutCount".into(), json!(0));
    if let Some(r) = &c.service_role {
        m.insert("ServiceRole".into(), json!(r));
    }
    m.insert("TimeoutSeconds".into(), json!(c.timeout_seconds));
    Value::Object(m)
}

fn plugin_json(c: &CommandRec, plugin: &str, status: &str) -> Value {
    json!({
        "Name": plugin,
        "Status": status,
        "StatusDetails": status,
        "ResponseCode": 0,
        "ResponseStartDateTime": secs(c.requested_ms),
        "ResponseFinishDateTime": secs(c.requested_ms),
        "Output": "",
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "OutputS3Region": "",
        "OutputS3BucketName": "",
        "OutputS3KeyPrefix": "",
    })
}

fn invocation_json(c: &CommandRec, instance: &str, status: &str, details: bool) -> Value {
    let mut m = Map::new();
    m.insert("CommandId".into(), json!(c.id));
    m.insert("InstanceId".into(), json!(instance));
    m.insert("InstanceName".into(), json!(""));
    m.insert(
        "Comment".into(),
        json!(c.comment.clone().unwrap_or_default()),
    );
    m.insert("DocumentName".into(), json!(c.document_name));
    m.insert("DocumentVersion".into(), json!(c.document_version));
    m.insert("RequestedDateTime".into(), json!(secs(c.requested_ms)));
    m.insert("Status".into(), json!(status));
    m.insert("StatusDetails".into(), json!(status));
    m.insert("StandardOutputUrl".into(), json!(""));
    m.insert("StandardErrorUrl".into(), json!(""));
    m.insert(
        "CommandPlugins".into(),
        if details {
            json!(
                c.plugins
                    .iter()
                    .map(|p| plugin_json(c, p, status))
                    .collect::<Vec<_>>()
            )
        } else {
            json!([])
        },
    );
    if let Some(r) = &c.service_role {
        m.insert("ServiceRole".into(), json!(r));
    }
    Value::Object(m)
}

/// The checked `Filters` of ListCommands / ListCommandInvocations.
fn command_filters(raw: Vec<CommandFilter>) -> Result<Vec<(String, String)>, AwsError> {
    let mut out = Vec::new();
    for f in raw {
        let key = f.key.unwrap_or_default();
        let value = f.value.unwrap_or_default();
        match key.as_str() {
            "InvokedAfter" | "InvokedBefore" => {
                if parse_time(&value).is_none() {
                    return Err(AwsError::validation(format!(
                        "The filter value {value} for key {key} is not a valid timestamp."
                    )));
                }
            }
            "Status" | "ExecutionStage" | "DocumentName" => {}
            _ => {
                return Err(AwsError::new(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

fn command_matches(c: &CommandRec, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "InvokedAfter" => parse_time(v).is_some_and(|t| c.requested_ms as i64 >= t),
        "InvokedBefore" => parse_time(v).is_some_and(|t| (c.requested_ms as i64) <= t),
        "Status" => c.status == *v,
        "ExecutionStage" => match v.as_str() {
            "Executing" => matches!(c.status.as_str(), "Pending" | "InProgress" | "Cancelling"),
            "Complete" => !matches!(c.status.as_str(), "Pending" | "InProgress" | "Cancelling"),
            _ => false,
        },
        "DocumentName" => c.document_name == *v,
        _ => false,
    })
}

impl Ssm {
    pub(super) fn send_command(
        &self,
        ctx: &RequestContext,
        input: SendCommandInput,
    ) -> Result<Output, AwsError> {
        let requested = input
            .document_name
            .ok_or_else(|| AwsError::missing("documentName"))?;
        let name = doc_name(ctx, &requested);
        let snap = self.store.snapshot();
        let d = find_doc(&snap, ctx, &name).ok_or_else(doc_missing)?;
        let v = select_version(&snap, ctx, &d, input.document_version.as_deref(), None)?;
        if let Some(h) = &input.document_hash
            && *h != sha256_hex(&v.content)
        {
            return Err(AwsError::new(
                "InvalidDocument",
                "The document hash does not match the document's content.",
            ));
        }
        if d.head.document_type != "Command" {
            return Err(AwsError::new(
                "InvalidDocument",
                format!(
                    "Document {name} is of type {}, not Command.",
                    d.head.document_type
                ),
            ));
        }
        let info = doc_info(&v.content, &v.format);
        let params = input.parameters.unwrap_or_default();
        if v.format == "JSON" {
            for k in params.keys() {
                if !info.parameters.iter().any(|(n, ..)| n == k) {
                    return Err(AwsError::new(
                        "InvalidParameters",
                        format!("Parameter \"{k}\" is not defined in the document {name}."),
                    ));
                }
            }
            for (n, _, _, default) in &info.parameters {
                if default.is_none() && !params.contains_key(n) {
                    return Err(AwsError::new(
                        "InvalidParameters",
                        format!("Required parameter \"{n}\" is missing."),
                    ));
                }
            }
        }
        let targets = input.targets.unwrap_or_default();
        let mut instances = input.instance_ids.unwrap_or_default();
        if instances.is_empty() && targets.is_empty() {
            return Err(AwsError::validation(
                "Either InstanceIds or Targets must be specified.",
            ));
        }
        if !instances.is_empty() && !targets.is_empty() {
            return Err(AwsError::validation(
                "InstanceIds and Targets can't be specified together.",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = instances.iter().find(|i| !seen.insert(i.as_str())) {
            return Err(AwsError::new(
                "DuplicateInstanceId",
                format!("Instance id {dup} is duplicated."),
            ));
        }
        // Targets name instances by id; tags and resource groups resolve to none here (there
        // are no instances to carry them).
        for t in &targets {
            if t.key.as_deref() == Some("InstanceIds") {
                for i in t.values.iter().flatten() {
                    if !instances.contains(i) {
                        instances.push(i.clone());
                    }
                }
            }
        }
        let now = now_ms();
        let id = self.time_id(now);
        let mut extra = Map::new();
        extra.insert(
            "OutputS3Region".into(),
            json!(
                input
                    .output_s3_region
                    .unwrap_or_else(|| ctx.region().to_string())
            ),
        );
        extra.insert(
            "OutputS3BucketName".into(),
            json!(input.output_s3_bucket_name.unwrap_or_default()),
        );
        extra.insert(
            "OutputS3KeyPrefix".into(),
            json!(input.output_s3_key_prefix.unwrap_or_default()),
        );
        extra.insert(
            "NotificationConfig".into(),
            input.notification_config.unwrap_or_else(
                || json!({"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}),
            ),
        );
        extra.insert(
            "CloudWatchOutputConfig".into(),
            input.cloud_watch_output_config.unwrap_or_else(
                || json!({"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false}),
            ),
        );
        if let Some(a) = input.alarm_configuration {
            extra.insert("AlarmConfiguration".into(), a);
        }
        let cmd = CommandRec {
            id: id.clone(),
            document_name: d.head.name.clone(),
            document_version: input.document_version.unwrap_or_else(|| "$DEFAULT".into()),
            comment: input.comment,
            requested_ms: now,
            timeout_seconds: input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT),
            invocations: instances
                .iter()
                .map(|i| (i.clone(), "Success".to_string()))
                .collect(),
            instance_ids: input_instance_list(&instances, &targets),
            targets: serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into()),
            parameters: serde_json::to_string(&params).unwrap_or_else(|_| "{}".into()),
            extra: Value::Object(extra).to_string(),
            max_concurrency: input.max_concurrency.unwrap_or_else(|| "50".into()),
            max_errors: input.max_errors.unwrap_or_else(|| "0".into()),
            service_role: input.service_role_arn,
            status: "Success".into(),
            plugins: if info.plugins.is_empty() {
                vec!["aws:runShellScript".into()]
            } else {
                info.plugins
            },
        };
        let k = command_key(&ctx.partition, &id);
        let ((), wv) = self.store.write(|txn| {
            txn.insert(k.clone(), SsmRecord::Ext(Ext::Command(cmd.clone())));
        });
        ok(json!({ "Command": command_json(&cmd) }), Some(wv))
    }

    /// Commands newest first, from the one after `after` (a command id).
    fn commands_from<'s>(
        snap: &'s Snapshot<SsmRecord>,
        ctx: &RequestContext,
        before: Option<&str>,
    ) -> impl Iterator<Item = &'s CommandRec> + 's {
        let base = ext_key(&ctx.partition, "cmd").build();
        let (lo, hi) = base.prefix_range();
        let hi = match before {
            Some(id) => Bound::Excluded(command_key(&ctx.partition, id)),
            None => hi,
        };
        snap.range((lo, hi)).rev().filter_map(|(_, r)| match r {
            SsmRecord::Ext(Ext::Command(c)) => Some(c),
            _ => None,
        })
    }

    pub(super) fn list_commands(
        &self,
        ctx: &RequestContext,
        input: ListCommandsInput,
    ) -> Result<Output, AwsError> {
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let filters = command_filters(input.filters.unwrap_or_default())?;
        let snap = self.store.snapshot();
        if let Some(id) = &input.command_id {
            let Some(SsmRecord::Ext(Ext::Command(c))) = snap.get(&command_key(&ctx.partition, id))
            else {
                return Err(invalid_command());
            };
            let list: Vec<Value> = [c]
                .into_iter()
                .filter(|c| {
                    input
                        .instance_id
                        .as_ref()
                        .is_none_or(|i| c.invocations.iter().any(|(x, _)| x == i))
                        && command_matches(c, &filters)
                })
                .map(command_json)
                .collect();
            return ok(json!({ "Commands": list }), None);
        }
        let before = match input.next_token.as_deref() {
            None => None,
            Some(t) => Some(unhex(t).ok_or_else(invalid_token)?),
        };
        let mut out = Vec::new();
        let mut next = None;
        let mut last: Option<&str> = None;
        for c in Self::commands_from(&snap, ctx, before.as_deref()) {
            if input
                .instance_id
                .as_ref()
                .is_some_and(|i| !c.invocations.iter().any(|(x, _)| x == i))
                || !command_matches(c, &filters)
            {
                continue;
            }
            if out.len() == max {
                next = last.map(hex);
                break;
            }
            out.push(command_json(c));
            last = Some(&c.id);
        }
        let mut resp = json!({ "Commands": out });
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }

    pub(super) fn list_command_invocations(
        &self,
        ctx: &RequestContext,
        input: ListCommandsInput,
    ) -> Result<Output, AwsError> {
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let filters = command_filters(input.filters.unwrap_or_default())?;
        let details = input.details.unwrap_or(false);
        let snap = self.store.snapshot();
        // The token names the command to resume in and how many of its invocations were given.
        let (resume, skip): (Option<String>, usize) = match input.next_token.as_deref() {
            None => (None, 0),
            Some(t) => {
                let (id, n) = t.split_once('.').ok_or_else(invalid_token)?;
                (
                    Some(unhex(id).ok_or_else(invalid_token)?),
                    n.parse().map_err(|_| invalid_token())?,
                )
            }
        };
        let single;
        let commands: Box<dyn Iterator<Item = &CommandRec>> = match &input.command_id {
            Some(id) => {
                let Some(SsmRecord::Ext(Ext::Command(c))) =
                    snap.get(&command_key(&ctx.partition, id))
                else {
                    return Err(invalid_command());
                };
                single = [c];
                Box::new(single.into_iter())
            }
            None => {
                // Resume at the token's command (inclusive): start after the next newer key.
                let base = ext_key(&ctx.partition, "cmd").build();
                let (lo, hi) = base.prefix_range();
                let hi = match &resume {
                    Some(id) => Bound::Included(command_key(&ctx.partition, id)),
                    None => hi,
                };
                Box::new(snap.range((lo, hi)).rev().filter_map(|(_, r)| match r {
                    SsmRecord::Ext(Ext::Command(c)) => Some(c),
                    _ => None,
                }))
            }
        };
        let mut out = Vec::new();
        let mut next = None;
        'outer: for c in commands {
            if !command_matches(c, &filters) {
                continue;
            }
            let first = resume.as_deref() == Some(c.id.as_str());
            for (idx, (instance, status)) in c.invocations.iter().enumerate() {
                if first && idx < skip {
                    continue;
                }
                if input.instance_id.as_ref().is_some_and(|i| i != instance) {
                    continue;
                }
                if out.len() == max {
                    next = Some(format!("{}.{idx}", hex(&c.id)));
                    break 'outer;
                }
                out.push(invocation_json(c, instance, status, details));
            }
        }
        let mut resp = json!({ "CommandInvocations": out });
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }

    pub(super) fn get_command_invocation(
        &self,
        ctx: &RequestContext,
        input: InvocationInput,
    ) -> Result<Output, AwsError> {
        let id = input
            .command_id
            .ok_or_else(|| AwsError::missing("commandId"))?;
        let instance = input
            .instance_id
            .ok_or_else(|| AwsError::missing("instanceId"))?;
        let snap = self.store.snapshot();
        let Some(SsmRecord::Ext(Ext::Command(c))) = snap.get(&command_key(&ctx.partition, &id))
        else {
            return Err(invalid_command());
        };
        let Some((_, status)) = c.invocations.iter().find(|(i, _)| *i == instance) else {
            return Err(AwsError::new(
                "InvocationDoesNotExist",
                "The command ID and instance ID you specified did not match any invocations. Verify the command ID and the instance ID and try again.",
            ));
        };
        let plugin = match input.plugin_name {
            Some(p) if c.plugins.contains(&p) => p,
            Some(p) => {
                return Err(AwsError::new(
                    "InvalidPluginName",
                    format!("The plugin name {p} is not valid."),
                ));
            }
            None => c.plugins.first().cloned().unwrap_or_default(),
        };
        let at = iso8601_ms(c.requested_ms);
        let extra: Value = serde_json::from_str(&c.extra).unwrap_or(json!({}));
        ok(
            json!({
                "CommandId": c.id,
                "InstanceId": instance,
                "Comment": c.comment.clone().unwrap_or_default(),
                "DocumentName": c.document_name,
                "DocumentVersion": c.document_version,
                "PluginName": plugin,
                "ResponseCode": 0,
                "ExecutionStartDateTime": at,
                "ExecutionElapsedTime": "PT0S",
                "ExecutionEndDateTime": at,
                "Status": status,
                "StatusDetails": status,
                "StandardOutputContent": "",
                "StandardOutputUrl": "",
                "StandardErrorContent": "",
                "StandardErrorUrl": "",
                "CloudWatchOutputConfig": extra.get("CloudWatchOutputConfig").cloned()
                    .unwrap_or(json!({"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false})),
            }),
            None,
        )
    }

    pub(super) fn cancel_command(
        &self,
        ctx: &RequestContext,
        input: InvocationInput,
    ) -> Result<Output, AwsError> {
        let id = input
            .command_id
            .ok_or_else(|| AwsError::missing("commandId"))?;
        let k = command_key(&ctx.partition, &id);
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Command(mut c))) = txn.get(&k).cloned() else {
                return Err(invalid_command());
            };
            let only = input.instance_ids.clone().unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = only.iter().find(|i| !seen.insert(i.as_str())) {
                return Err(AwsError::new(
                    "DuplicateInstanceId",
                    format!("Instance id {dup} is duplicated."),
                ));
            }
            if let Some(bad) = only
                .iter()
                .find(|i| !c.invocations.iter().any(|(x, _)| x == *i))
            {
                return Err(AwsError::new(
                    "InvalidInstanceId",
                    format!("Instance {bad} is not a target of command {id}."),
                ));
            }
            // Invocations that have not finished are cancelled; finished ones keep their status.
            let mut changed = false;
            for (i, s) in c.invocations.iter_mut() {
                if (only.is_empty() || only.contains(i))
                    && matches!(s.as_str(), "Pending" | "InProgress" | "Delayed")
                {
                    *s = "Cancelled".into();
                    changed = true;
                }
            }
            if changed {
                if c.invocations
                    .iter()
                    .all(|(_, s)| !matches!(s.as_str(), "Pending" | "InProgress" | "Delayed"))
                {
                    c.status = "Cancelled".into();
                }
                txn.insert(k.clone(), SsmRecord::Ext(Ext::Command(c)));
            }
            Ok(changed)
        });
        let changed = result?;
        ok(json!({}), changed.then_some(wv))
    }
}

/// The `InstanceIds` a command reports: the ones asked for (a command sent to targets lists
/// none, as AWS does).
fn input_instance_list(instances: &[String], targets: &[TargetInput]) -> Vec<String> {
    if targets.is_empty() {
        instances.to_vec()
    } else {
        Vec::new()
    }
}

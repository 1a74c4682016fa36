//! Automation: StartAutomationExecution, StartChangeRequestExecution, GetAutomationExecution,
//! DescribeAutomationExecutions, DescribeAutomationStepExecutions, StopAutomationExecution and
//! SendAutomationSignal. An execution is one [`ObjectRec`] (`automation`) run by the
//! background task ([`Ssm::run_automations`]) through the state machine of
//! `automation_run.rs`; a second record (`automation-active`) marks it while it is not
//! finished, so the task scans only those.
//!
//! A change request is an execution of a change template (`Automation.ChangeTemplate`): it
//! waits in `PendingApproval` until approved (`AutoApprove`, or an `Approve` signal), then for
//! its `ScheduledTime`, then runs its runbook as a child execution and ends as the runbook did.

use super::automation_run as run;
use super::objects::*;
use super::*;

pub(super) const AUTOMATION: &str = "automation";
pub(super) const ACTIVE: &str = "automation-active";
/// Executions that may be running at once in an account and region (AWS's quota).
const MAX_RUNNING: usize = 100;

fn not_found(id: &str) -> AwsError {
    AwsError::new(
        "AutomationExecutionNotFoundException",
        format!("Automation Execution with Id {id} does not exist."),
    )
}

fn definition_not_found(name: &str) -> AwsError {
    AwsError::new(
        "AutomationDefinitionNotFoundException",
        format!("Document with name {name} does not exist or is not an Automation document."),
    )
}

fn bad_parameters(message: String) -> AwsError {
    AwsError::new("InvalidAutomationExecutionParametersException", message)
}

/// The document's declared parameters, and the input's values checked against them: the
/// values each reference gives (`_Vars`) and the `Parameters` member AWS answers with.
/// Values by parameter name.
type ParamMap = Map<String, Value>;

fn resolve_parameters(
    doc: &Value,
    given: Option<&Value>,
) -> Result<(ParamMap, ParamMap), AwsError> {
    let declared = doc
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let given = given
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in given.keys() {
        if !declared.contains_key(k) {
            return Err(bad_parameters(format!(
                "Parameter \"{k}\" is not defined in the document."
            )));
        }
    }
    let (mut vars, mut shown) = (Map::new(), Map::new());
    for (name, spec) in &declared {
        let kind = spec.get("type").and_then(Value::as_str).unwrap_or("String");
        let values: Vec<String> = match given.get(name) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect(),
            _ => match spec.get("default") {
                None => {
                    return Err(bad_parameters(format!(
                        "Parameter \"{name}\" requires a value."
                    )));
                }
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        o => o.to_string(),
                    })
                    .collect(),
                Some(Value::String(s)) => vec![s.clone()],
                Some(other) => vec![other.to_string()],
            },
        };
        if let Some(Value::Array(allowed)) = spec.get("allowedValues")
            && let Some(v) = values
                .iter()
                .find(|v| !allowed.iter().any(|a| a.as_str() == Some(v.as_str())))
        {
            return Err(bad_parameters(format!(
                "Parameter \"{name}\" has value \"{v}\" not in {{{}}}.",
                allowed
                    .iter()
                    .map(|a| a.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(p) = spec.get("allowedPattern").and_then(Value::as_str)
            && let Ok(re) = regex::Regex::new(p)
            && let Some(v) = values.iter().find(|v| !re.is_match(v))
        {
            return Err(bad_parameters(format!(
                "Parameter \"{name}\" has value \"{v}\" failed to satisfy constraint: pattern {p}"
            )));
        }
        let one = || values.first().cloned().unwrap_or_default();
        let value = match kind {
            "StringList" => json!(values),
            "Integer" => match one().parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    return Err(bad_parameters(format!(
                        "Parameter \"{name}\" is of type Integer; the value \"{}\" is not one.",
                        one()
                    )));
                }
            },
            "Boolean" => match one().as_str() {
                "true" => json!(true),
                "false" => json!(false),
                v => {
                    return Err(bad_parameters(format!(
                        "Parameter \"{name}\" is of type Boolean; the value \"{v}\" is not one."
                    )));
                }
            },
            "StringMap" | "MapList" => serde_json::from_str(&one()).unwrap_or(json!(one())),
            _ => {
                if values.len() > 1 {
                    return Err(bad_parameters(format!(
                        "Parameter \"{name}\" is of type String and takes one value."
                    )));
                }
                json!(one())
            }
        };
        vars.insert(name.clone(), value);
        shown.insert(name.clone(), json!(values));
    }
    Ok((vars, shown))
}

/// A filter's values.
fn filter_values(f: &Value) -> Vec<String> {
    arr(f, "Values")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn time_of(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn parse_time_filter(s: &str) -> Result<f64, AwsError> {
    snapstack_protocol::codec::time::parse_iso8601(s)
        .map(|ms| ms as f64 / 1000.0)
        .ok_or_else(|| {
            AwsError::new(
                "InvalidFilterValue",
                format!("The filter value {s} is not a valid time."),
            )
        })
}

impl Ssm {
    /// The content of an automation document (or change template) as JSON, its version, and
    /// its type.
    fn automation_doc(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: Option<&str>,
        types: &[&str],
    ) -> Result<(String, String, Value), AwsError> {
        let snap = self.store.snapshot();
        let local = documents::doc_name(ctx, name);
        let d = documents::find_doc(&snap, ctx, &local)
            .filter(|d| types.contains(&d.head.document_type.as_str()))
            .ok_or_else(|| definition_not_found(name))?;
        let v = documents::select_version(&snap, ctx, &d, version, None).map_err(|_| {
            AwsError::new(
                "AutomationDefinitionVersionNotFoundException",
                format!(
                    "Document {name} with version {} does not exist.",
                    version.unwrap_or("$DEFAULT")
                ),
            )
        })?;
        let content = match v.format.as_str() {
            "JSON" => serde_json::from_str(&v.content).unwrap_or(json!({})),
            _ => yaml::parse(&v.content).unwrap_or_else(|| doc_content::yaml_outline(&v.content)),
        };
        Ok((d.head.name.clone(), v.version.to_string(), content))
    }

    fn running_count(&self, ctx: &RequestContext) -> usize {
        self.store
            .snapshot()
            .scan_prefix(&obj_prefix(&ctx.partition, ACTIVE))
            .count()
    }

    /// Store a new execution (and its active marker); the store version.
    pub(super) fn put_execution(
        &self,
        ctx: &RequestContext,
        id: &str,
        body: &Value,
        tags: Vec<(String, String)>,
    ) -> u64 {
        let mut o = ObjectRec::new(AUTOMATION, id, body);
        o.tags = tags;
        let marker = ObjectRec::new(ACTIVE, id, &json!({}));
        let (k1, k2) = (
            obj_key(&ctx.partition, AUTOMATION, id),
            obj_key(&ctx.partition, ACTIVE, id),
        );
        self.store
            .write(|txn| {
                txn.insert(k1, SsmRecord::Ext(Ext::Object(o)));
                txn.insert(k2, SsmRecord::Ext(Ext::Object(marker)));
            })
            .1
    }

    /// The execution a client token started before, if the token was used.
    fn by_client_token(&self, ctx: &RequestContext, token: Option<&str>) -> Option<String> {
        let token = token?;
        self.obj_list(ctx, AUTOMATION).into_iter().find_map(|o| {
            let v = o.value();
            (v.get("_ClientToken").and_then(Value::as_str) == Some(token)).then_some(o.id)
        })
    }

    /// A new execution's record body: `doc` is the document's (name, version, content).
    fn new_execution_body(
        &self,
        ctx: &RequestContext,
        id: &str,
        doc: (&str, &str, &Value),
        input: &Value,
        now: u64,
    ) -> Result<Value, AwsError> {
        let (doc_name, version, content) = doc;
        let (vars, shown) = resolve_parameters(content, input.get("Parameters"))?;
        let steps = content.get("mainSteps").cloned().unwrap_or(json!([]));
        if steps.as_array().is_none_or(Vec::is_empty) {
            return Err(bad_parameters(format!(
                "Document {doc_name} has no steps (mainSteps)."
            )));
        }
        let interactive = s(input, "Mode") == Some("Interactive");
        let mut body = json!({
            "AutomationExecutionId": id,
            "DocumentName": doc_name,
            "DocumentVersion": version,
            "ExecutionStartTime": secs(now),
            "AutomationExecutionStatus": if interactive { "Waiting" } else { "InProgress" },
            "StepExecutions": [],
            "StepExecutionsTruncated": false,
            "Parameters": shown,
            "Mode": if interactive { "Interactive" } else { "Auto" },
            "ExecutedBy": format!("arn:aws:iam::{}:root", ctx.account()),
            "AutomationType": "Local",
            "ResolvedTargets": {"ParameterValues": [], "Truncated": false},
            "LogFile": "",
            "_Steps": steps,
            "_Outputs": content.get("outputs").cloned().unwrap_or(json!([])),
            "_Index": if interactive { Value::Null } else { json!(0) },
            "_Wake": if interactive { Value::Null } else { json!(0) },
            "_Rev": 0,
            "_Vars": vars,
        });
        let mut m = Map::new();
        copy(
            &mut m,
            input,
            &[
                "Targets",
                "TargetMaps",
                "TargetParameterName",
                "MaxConcurrency",
                "MaxErrors",
                "TargetLocations",
                "TargetLocationsURL",
                "AlarmConfiguration",
                "ParentAutomationExecutionId",
            ],
        );
        if let Some(t) = s(input, "ClientToken") {
            m.insert("_ClientToken".into(), json!(t));
        }
        if let Some(b) = body.as_object_mut() {
            b.extend(m);
        }
        if input.get("Targets").is_some() || input.get("TargetParameterName").is_some() {
            body["MaxConcurrency"] = input.get("MaxConcurrency").cloned().unwrap_or(json!("10"));
            body["MaxErrors"] = input.get("MaxErrors").cloned().unwrap_or(json!("0"));
        }
        Ok(body)
    }

    pub(super) fn start_automation_execution(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "DocumentName")?;
        let tags = input_tags(input)?;
        if let Some(id) = self.by_client_token(ctx, s(input, "ClientToken")) {
            return ok(json!({"AutomationExecutionId": id}), None);
        }
        if input.get("TargetParameterName").is_some() != input.get("Targets").is_some()
            && input.get("TargetMaps").is_none()
        {
            return Err(AwsError::new(
                "InvalidTarget",
                "TargetParameterName and Targets must be specified together.",
            ));
        }
        let (doc_name, version, content) =
            self.automation_doc(ctx, name, s(input, "DocumentVersion"), &["Automation"])?;
        if self.running_count(ctx) >= MAX_RUNNING {
            return Err(AwsError::new(
                "AutomationExecutionLimitExceededException",
                format!(
                    "The number of concurrently running automation executions exceeds the limit of {MAX_RUNNING}."
                ),
            ));
        }
        let now = now_ms();
        let id = self.time_id(now);
        let body =
            self.new_execution_body(ctx, &id, (&doc_name, &version, &content), input, now)?;
        let v = self.put_execution(ctx, &id, &body, tags);
        ok(json!({"AutomationExecutionId": id}), Some(v))
    }

    pub(super) fn start_change_request_execution(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let name = req(input, "DocumentName")?;
        let tags = input_tags(input)?;
        if let Some(id) = self.by_client_token(ctx, s(input, "ClientToken")) {
            return ok(json!({"AutomationExecutionId": id}), None);
        }
        let (doc_name, version, content) = self.automation_doc(
            ctx,
            name,
            s(input, "DocumentVersion"),
            &["Automation.ChangeTemplate"],
        )?;
        let runbooks = arr(input, "Runbooks").to_vec();
        // Every runbook must be an automation document of this account (or AWS's).
        for r in &runbooks {
            let rb = req(r, "DocumentName")?;
            self.automation_doc(ctx, rb, s(r, "DocumentVersion"), &["Automation"])?;
        }
        let (_, shown) = resolve_parameters(&content, input.get("Parameters"))?;
        let now = now_ms();
        let scheduled = input.get("ScheduledTime").and_then(Value::as_f64);
        let auto = input.get("AutoApprove").and_then(Value::as_bool) == Some(true);
        let id = self.time_id(now);
        let mut body = json!({
            "AutomationExecutionId": id,
            "DocumentName": doc_name,
            "DocumentVersion": version,
            "ExecutionStartTime": secs(now),
            "AutomationExecutionStatus": if auto { "Approved" } else { "PendingApproval" },
            "AutomationSubtype": "ChangeRequest",
            "AutomationType": "Local",
            "ChangeRequestName": s(input, "ChangeRequestName").unwrap_or(&doc_name),
            "Runbooks": runbooks,
            "Parameters": shown,
            "Mode": "Auto",
            "ExecutedBy": format!("arn:aws:iam::{}:root", ctx.account()),
            "StepExecutions": [],
            "StepExecutionsTruncated": false,
            "_ChangeRequest": true,
            "_Wake": if auto { json!(0) } else { Value::Null },
            "_Rev": 0,
        });
        if let Some(t) = scheduled {
            body["ScheduledTime"] = json!(t);
        }
        if let Some(t) = input.get("ScheduledEndTime") {
            body["_ScheduledEndTime"] = t.clone();
        }
        if let Some(t) = s(input, "ClientToken") {
            body["_ClientToken"] = json!(t);
        }
        if let Some(d) = input.get("ChangeDetails") {
            body["_ChangeDetails"] = d.clone();
        }
        let v = self.put_execution(ctx, &id, &body, tags);
        ok(json!({"AutomationExecutionId": id}), Some(v))
    }

    pub(super) fn get_automation_execution(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AutomationExecutionId")?;
        let o = self
            .obj_get(ctx, AUTOMATION, id)
            .ok_or_else(|| not_found(id))?;
        ok(json!({"AutomationExecution": o.value()}), None)
    }

    pub(super) fn describe_automation_executions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "Filters").to_vec();
        let mut conds: Vec<(String, Vec<String>)> = Vec::new();
        for f in &filters {
            let key = s(f, "Key").unwrap_or_default().to_string();
            let values = filter_values(f);
            if key.starts_with("StartTime") {
                for v in &values {
                    parse_time_filter(v)?;
                }
            }
            conds.push((key, values));
        }
        let mut items: Vec<(Value, Vec<(String, String)>)> = self
            .obj_list(ctx, AUTOMATION)
            .into_iter()
            .map(|o| (o.value(), o.tags))
            .collect();
        items.retain(|(v, tags)| {
            conds.iter().all(|(key, values)| {
                let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                match key.as_str() {
                    "DocumentNamePrefix" => values
                        .iter()
                        .any(|p| field("DocumentName").starts_with(p.as_str())),
                    "ExecutionStatus" => values.contains(&field("AutomationExecutionStatus")),
                    "ExecutionId" => values.contains(&field("AutomationExecutionId")),
                    "ParentExecutionId" => values.contains(&field("ParentAutomationExecutionId")),
                    "CurrentAction" => values.contains(&field("CurrentAction")),
                    "AutomationType" => values.contains(&field("AutomationType")),
                    "AutomationSubtype" => values.contains(&field("AutomationSubtype")),
                    "OpsItemId" => values.contains(&field("OpsItemId")),
                    "TagKey" => values.iter().any(|k| tags.iter().any(|(t, _)| t == k)),
                    "StartTimeBefore" => values.iter().all(|t| {
                        parse_time_filter(t).is_ok_and(|t| time_of(v, "ExecutionStartTime") < t)
                    }),
                    "StartTimeAfter" => values.iter().all(|t| {
                        parse_time_filter(t).is_ok_and(|t| time_of(v, "ExecutionStartTime") > t)
                    }),
                    "TargetResourceGroup" => values.iter().any(|g| {
                        arr(v, "Targets").iter().any(|t| {
                            s(t, "Key") == Some("ResourceGroup")
                                && arr(t, "Values").iter().any(|x| x.as_str() == Some(g))
                        })
                    }),
                    _ => false,
                }
            })
        });
        // Newest first, as AWS lists them.
        items.sort_by(|a, b| {
            time_of(&b.0, "ExecutionStartTime")
                .total_cmp(&time_of(&a.0, "ExecutionStartTime"))
                .then_with(|| {
                    b.0["AutomationExecutionId"]
                        .as_str()
                        .cmp(&a.0["AutomationExecutionId"].as_str())
                })
        });
        let list: Vec<Value> = items.into_iter().map(|(v, _)| v).collect();
        let (page_items, next) = page(list, s(input, "NextToken"), max)?;
        ok(
            listing("AutomationExecutionMetadataList", page_items, next),
            None,
        )
    }

    pub(super) fn describe_automation_step_executions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AutomationExecutionId")?;
        let max = max_results(input, 50, 50)?;
        let o = self
            .obj_get(ctx, AUTOMATION, id)
            .ok_or_else(|| not_found(id))?;
        let mut steps: Vec<Value> = arr(&o.value(), "StepExecutions").to_vec();
        for f in arr(input, "Filters") {
            let key = s(f, "Key").unwrap_or_default().to_string();
            let values = filter_values(f);
            let mut times = Vec::new();
            if key.starts_with("StartTime") {
                for v in &values {
                    times.push(parse_time_filter(v)?);
                }
            }
            steps.retain(|st| {
                let field = |k: &str| st.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                match key.as_str() {
                    "StepExecutionStatus" => values.contains(&field("StepStatus")),
                    "StepExecutionId" => values.contains(&field("StepExecutionId")),
                    "StepName" => values.contains(&field("StepName")),
                    "Action" => values.contains(&field("Action")),
                    "StartTimeBefore" => {
                        times.iter().all(|t| time_of(st, "ExecutionStartTime") < *t)
                    }
                    "StartTimeAfter" => {
                        times.iter().all(|t| time_of(st, "ExecutionStartTime") > *t)
                    }
                    // Loops are not run here: no step has a parent step.
                    _ => false,
                }
            });
        }
        if input.get("ReverseOrder").and_then(Value::as_bool) == Some(true) {
            steps.reverse();
        }
        let (items, next) = page(steps, s(input, "NextToken"), max)?;
        ok(listing("StepExecutions", items, next), None)
    }

    pub(super) fn stop_automation_execution(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AutomationExecutionId")?;
        let complete = s(input, "Type") == Some("Complete");
        let now = now_ms();
        let (_, v) = self.obj_update(ctx, AUTOMATION, id, |old| {
            let mut o = old.ok_or_else(|| not_found(id))?;
            let mut v = o.value();
            let st = v["AutomationExecutionStatus"].as_str().unwrap_or("").to_string();
            if run::is_terminal(&st) || st == "Cancelling" {
                return Err(AwsError::new(
                    "InvalidAutomationStatusUpdateException",
                    format!("The specified automation execution {id} is already in a terminal state ({st})."),
                ));
            }
            if complete {
                // Complete: the execution ends now as it stands (interactive executions end so).
                if v.get("CurrentStepName").is_some_and(|n| !n.is_null())
                    && let Some(se) = v["StepExecutions"].as_array_mut().and_then(|a| a.last_mut())
                {
                    se["StepStatus"] = json!("Cancelled");
                    se["ExecutionEndTime"] = json!(secs(now));
                }
                run::finish(&mut v, "Success", None, now);
            } else {
                v["AutomationExecutionStatus"] = json!("Cancelling");
                v["_Wake"] = json!(0);
            }
            bump(&mut v);
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), v)
    }

    pub(super) fn send_automation_signal(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AutomationExecutionId")?;
        let signal = req(input, "SignalType")?.to_string();
        let payload = input.get("Payload").cloned().unwrap_or(json!({}));
        let now = now_ms();
        let (_, v) = self.obj_update(ctx, AUTOMATION, id, |old| {
            let mut o = old.ok_or_else(|| not_found(id))?;
            let mut v = o.value();
            apply_signal(&mut v, &signal, &payload, ctx, now)?;
            bump(&mut v);
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), v)
    }
}

fn bump(v: &mut Value) {
    let rev = v.get("_Rev").and_then(Value::as_u64).unwrap_or(0);
    v["_Rev"] = json!(rev + 1);
}

/// The last step execution of an execution.
fn last_step(v: &mut Value) -> Option<&mut Value> {
    v.get_mut("StepExecutions")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.last_mut())
}

fn invalid_signal(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidAutomationSignalException", message)
}

/// A signal's effect on an execution.
fn apply_signal(
    v: &mut Value,
    signal: &str,
    payload: &Value,
    ctx: &RequestContext,
    now: u64,
) -> Result<(), AwsError> {
    let st = v["AutomationExecutionStatus"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let id = v["AutomationExecutionId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if run::is_terminal(&st) {
        return Err(invalid_signal(format!(
            "Automation execution {id} is in a terminal state ({st}) and takes no signals."
        )));
    }
    let approver = format!("arn:aws:iam::{}:root", ctx.account());
    // A change request waiting for approval.
    if v.get("_ChangeRequest").is_some() && st == "PendingApproval" {
        match signal {
            "Approve" => {
                v["AutomationExecutionStatus"] = json!("Approved");
                v["_Wake"] = json!(0);
            }
            "Reject" => run::finish(v, "Rejected", None, now),
            _ => {
                return Err(invalid_signal(format!(
                    "Signal {signal} is not valid for an execution in status {st}."
                )));
            }
        }
        return Ok(());
    }
    let current_action = v["CurrentAction"].as_str().unwrap_or("").to_string();
    let step_waiting = st == "Waiting" && !current_action.is_empty();
    let name = v["CurrentStepName"].as_str().unwrap_or("").to_string();
    let payload_step = payload
        .get("StepName")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::to_string);
    if payload_step
        .as_deref()
        .is_some_and(|p| !name.is_empty() && p != name && signal != "StartStep")
    {
        return Err(AwsError::new(
            "AutomationStepNotFoundException",
            format!(
                "Step {} is not waiting for a signal.",
                payload_step.unwrap_or_default()
            ),
        ));
    }
    match (signal, current_action.as_str()) {
        ("Approve", "aws:approve") | ("Reject", "aws:approve") if step_waiting => {
            let approve = signal == "Approve";
            let comment = payload
                .get("Comment")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .cloned()
                .unwrap_or(json!(""));
            if let Some(se) = last_step(v) {
                se["Outputs"] = json!({
                    "ApprovalStatus": [if approve { "Approved" } else { "Rejected" }],
                    "ApproverDecisions": [json!({"Approver": approver, "Decision": signal, "Comment": comment}).to_string()],
                });
            }
            if approve {
                // The state machine ends the step on its next pass.
                v["_Signal"] = json!("Success");
            } else {
                v["_Signal"] = json!("Rejected");
            }
            v["_Wake"] = json!(0);
        }
        ("Resume", "aws:pause") if step_waiting => {
            v["_Signal"] = json!("Success");
            v["_Wake"] = json!(0);
        }
        ("StartStep", _)
            if v["Mode"] == "Interactive" && st == "Waiting" && current_action.is_empty() =>
        {
            let step = payload_step.ok_or_else(|| {
                invalid_signal("StartStep needs the step's name in Payload StepName.")
            })?;
            let idx = v["_Steps"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .position(|s| s["name"].as_str() == Some(step.as_str()))
                })
                .ok_or_else(|| {
                    AwsError::new(
                        "AutomationStepNotFoundException",
                        format!("Step {step} does not exist in the document."),
                    )
                })?;
            v["_Index"] = json!(idx);
            v["_Wake"] = json!(0);
            v["AutomationExecutionStatus"] = json!("InProgress");
        }
        ("StopStep", _) if !name.is_empty() => {
            v["_Signal"] = json!("Cancelled");
            v["_Wake"] = json!(0);
        }
        _ => {
            return Err(invalid_signal(format!(
                "Signal {signal} is not valid for the current state of execution {id}."
            )));
        }
    }
    Ok(())
}

/// A signal the state machine applies to the waiting step (`_Signal`), before its pass.
pub(super) fn take_signal(v: &mut Value, now: u64) {
    let Some(sig) = v.get("_Signal").and_then(Value::as_str).map(str::to_string) else {
        return;
    };
    if let Some(m) = v.as_object_mut() {
        m.remove("_Signal");
    }
    let step_name = v["CurrentStepName"].as_str().unwrap_or("").to_string();
    let steps = v["_Steps"].as_array().cloned().unwrap_or_default();
    let Some(step) = steps
        .iter()
        .find(|s| s["name"].as_str() == Some(step_name.as_str()))
        .cloned()
    else {
        return;
    };
    let (status, failure) = match sig.as_str() {
        "Success" => ("Success", None),
        "Rejected" => (
            "Failed",
            Some("Step fails when it is Approving. Fail message: The approval request was rejected. Please refer to Automation Service Troubleshooting Guide for more diagnosis details.".to_string()),
        ),
        _ => ("Cancelled", None),
    };
    if let Some(se) = v["StepExecutions"]
        .as_array_mut()
        .and_then(|a| a.last_mut())
    {
        se["StepStatus"] = json!(status);
        se["ExecutionEndTime"] = json!(secs(now));
        if let Some(f) = &failure {
            se["FailureMessage"] = json!(f);
        }
    }
    run::step_done(v, &step, status, failure.as_deref(), now);
}

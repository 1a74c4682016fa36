//! The automation state machine: what one execution does next, from its record alone.
//!
//! An execution's record body is AWS's `AutomationExecution` plus members the codec drops
//! (their names start with `_`): the document's steps (`_Steps`), the index of the current
//! step (`_Index`), the absolute time the background task acts on it next (`_Wake`, epoch
//! ms; `null` while it waits for a signal), a revision (`_Rev`) that makes the task's writes
//! compare-and-set against requests, and the values steps substitute (`_Vars`). Every
//! deadline is absolute, so an execution resumes across a restart where it stood.
//!
//! Steps that run here: `aws:sleep`, `aws:pause` (until a `Resume` signal), `aws:approve`
//! (until `Approve`/`Reject`), `aws:branch`, `aws:executeAwsApi`, `aws:assertAwsResourceProperty`
//! and `aws:waitForAwsResourceProperty` (through `Runtime::invoke`, for the services this
//! server has). Every other action (`aws:executeScript`, `aws:runCommand`, ...) needs an
//! environment this server does not have and fails as AWS reports a failed step.

use super::*;

/// Statuses an execution ends in.
pub(super) const TERMINAL: &[&str] = &[
    "Success",
    "TimedOut",
    "Cancelled",
    "Failed",
    "Rejected",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Exited",
];

/// Step executions an execution may record (a branch loop ends there).
pub(super) const MAX_STEP_EXECUTIONS: usize = 1000;
/// Steps one pass may run before it yields to the next tick.
const MAX_STEPS_PER_PASS: usize = 64;
/// How often `aws:waitForAwsResourceProperty` polls.
const POLL_MS: u64 = 5_000;
/// `aws:sleep` and `aws:approve` wait at most seven days, as AWS allows.
const MAX_WAIT_MS: u64 = 7 * 86_400_000;

pub(super) fn is_terminal(status: &str) -> bool {
    TERMINAL.contains(&status)
}

/// What the background task must do for an execution after a pass.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    /// Nothing now: the record says when (`_Wake`) or waits for a signal.
    Idle,
    /// Call `service`'s `api` with `input`, then run the pass again with its answer.
    Invoke {
        service: String,
        api: String,
        input: Value,
    },
}

/// The values `{{ ... }}` names outside the execution's own: account, region, execution id.
pub(super) struct Globals<'a> {
    pub(super) account: &'a str,
    pub(super) region: &'a str,
    pub(super) now: u64,
}

fn status(rec: &Value) -> &str {
    rec.get("AutomationExecutionStatus")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A `{{ name }}` reference's value.
fn lookup(rec: &Value, g: &Globals<'_>, name: &str) -> Option<Value> {
    match name {
        "global:ACCOUNT_ID" => return Some(json!(g.account)),
        "global:REGION" => return Some(json!(g.region)),
        "global:AWS_PARTITION" => return Some(json!("aws")),
        "global:DATE" => return Some(json!(iso_seconds(g.now)[..10].to_string())),
        "global:DATE_TIME" => return Some(json!(iso_seconds(g.now))),
        "automation:EXECUTION_ID" => return rec.get("AutomationExecutionId").cloned(),
        _ => {}
    }
    rec.get("_Vars").and_then(|v| v.get(name)).cloned()
}

pub(super) fn iso_seconds(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let rest = (ms % 86_400_000) / 1000;
    let (y, m, d) = snapstack_protocol::codec::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replace the `{{ name }}` references in a string: a string that is one reference becomes
/// the value itself (a list stays a list); references inside text are written as text;
/// unknown names are left as they are.
fn substitute_str(s: &str, rec: &Value, g: &Globals<'_>) -> Value {
    let trimmed = s.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("{{")
        && let Some(v) = lookup(rec, g, inner.trim())
    {
        return v;
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        match lookup(rec, g, name) {
            Some(v) => out.push_str(&scalar_text(&v)),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Value::String(out)
}

pub(super) fn substitute(v: &Value, rec: &Value, g: &Globals<'_>, depth: usize) -> Value {
    if depth > 32 {
        return v.clone();
    }
    match v {
        Value::String(s) => substitute_str(s, rec, g),
        Value::Array(a) => {
            Value::Array(a.iter().map(|x| substitute(x, rec, g, depth + 1)).collect())
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, rec, g, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JSONPath selector of the forms automation outputs use: `$.A.B`, `$.A[0].B`, `$.A[*].B`
/// (a wildcard collects a list), `$` (the whole answer).
pub(super) fn select(v: &Value, selector: &str) -> Option<Value> {
    let path = selector.trim().strip_prefix('$')?;
    let mut current = vec![v.clone()];
    let mut many = false;
    let mut tokens: Vec<String> = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut p = part;
        while let Some(i) = p.find('[') {
            if i > 0 {
                tokens.push(p[..i].to_string());
            }
            let j = p[i..].find(']')? + i;
            tokens.push(p[i..=j].to_string());
            p = &p[j + 1..];
        }
        if !p.is_empty() {
            tokens.push(p.to_string());
        }
    }
    for t in tokens.iter().take(64) {
        let mut next = Vec::new();
        for c in &current {
            if t == "[*]" {
                many = true;
                if let Value::Array(a) = c {
                    next.extend(a.iter().cloned());
                }
            } else if let Some(n) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                if let (Value::Array(a), Ok(i)) = (c, n.parse::<usize>())
                    && let Some(x) = a.get(i)
                {
                    next.push(x.clone());
                }
            } else if let Some(x) = c.get(t.as_str()) {
                next.push(x.clone());
            }
        }
        current = next;
    }
    if many {
        Some(Value::Array(current))
    } else {
        current.into_iter().next()
    }
}

/// An output's value as AWS lists it (`Outputs` maps names to lists of strings).
fn as_strings(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.iter().map(|x| json!(scalar_text(x))).collect(),
        other => vec![json!(scalar_text(other))],
    }
}

/// `PT1H2M3S` (or `P1D...`): a duration in ms.
pub(super) fn iso_duration_ms(s: &str) -> Option<u64> {
    let rest = s.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total: u64 = 0;
    let mut read = |text: &str, units: &[(char, u64)]| -> Option<()> {
        let mut num = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                let n: u64 = num.parse().ok()?;
                total = total.checked_add(n.checked_mul(unit)?)?;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    read(date, &[('D', 86_400_000), ('W', 7 * 86_400_000)])?;
    read(time, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    Some(total)
}

fn step_name(step: &Value) -> String {
    step.get("name").map(scalar_text).unwrap_or_default()
}

fn step_action(step: &Value) -> String {
    step.get("action").map(scalar_text).unwrap_or_default()
}

fn steps(rec: &Value) -> Vec<Value> {
    rec.get("_Steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn index_of(rec: &Value, name: &str) -> Option<usize> {
    steps(rec).iter().position(|s| step_name(s) == name)
}

/// The last step execution (the current step's, while one runs).
fn current_se(rec: &mut Value) -> Option<&mut Map<String, Value>> {
    rec.get_mut("StepExecutions")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.last_mut())
        .and_then(Value::as_object_mut)
}

fn set(rec: &mut Value, k: &str, v: Value) {
    if let Some(m) = rec.as_object_mut() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.to_string(), v);
        }
    }
}

/// End the execution.
pub(super) fn finish(rec: &mut Value, status: &str, failure: Option<&str>, now: u64) {
    set(rec, "AutomationExecutionStatus", json!(status));
    set(rec, "ExecutionEndTime", json!(secs(now)));
    set(rec, "_Wake", Value::Null);
    set(rec, "_Index", Value::Null);
    set(rec, "CurrentStepName", Value::Null);
    set(rec, "CurrentAction", Value::Null);
    if let Some(f) = failure {
        set(rec, "FailureMessage", json!(f));
    }
    // The document's outputs, from what the steps produced.
    let names: Vec<String> = rec
        .get("_Outputs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(scalar_text).collect())
        .unwrap_or_default();
    let mut outputs = Map::new();
    for n in names {
        let v = rec
            .get("_Vars")
            .and_then(|vars| vars.get(&n))
            .map(as_strings)
            .unwrap_or_else(|| {
                vec![json!(
                    "No output available yet because the step is not successfully executed"
                )]
            });
        outputs.insert(n, Value::Array(v));
    }
    if !outputs.is_empty() {
        set(rec, "Outputs", Value::Object(outputs));
    }
}

/// End the current step (its status, failure and outputs).
fn end_step(rec: &mut Value, status: &str, failure: Option<&str>, now: u64) {
    if let Some(se) = current_se(rec) {
        se.insert("StepStatus".into(), json!(status));
        se.insert("ExecutionEndTime".into(), json!(secs(now)));
        if let Some(f) = failure {
            se.insert("FailureMessage".into(), json!(f));
            se.insert(
                "FailureDetails".into(),
                json!({"FailureStage": "Execution", "FailureType": "Verification",
                       "Details": {"ExecutionId": [""]}}),
            );
        }
    }
    set(rec, "_Attempt", Value::Null);
}

fn step_failure(action: &str, message: &str) -> String {
    format!(
        "Step fails when it is {}. Fail message: {message}. Please refer to Automation Service Troubleshooting Guide for more diagnosis details.",
        match action {
            "aws:executeAwsApi" | "aws:assertAwsResourceProperty" => "Execute",
            "aws:waitForAwsResourceProperty" => "Poll action status for completion",
            _ => "Executing",
        }
    )
}

/// The current step ended (by a signal) with `status`: go on as the step says.
pub(super) fn step_done(
    rec: &mut Value,
    step: &Value,
    status: &str,
    failure: Option<&str>,
    now: u64,
) {
    set(rec, "AutomationExecutionStatus", json!("InProgress"));
    set(rec, "_Attempt", Value::Null);
    move_on(rec, step, status, failure, now);
}

/// Move on after the current step ended with `status`: the step's `onFailure`, `nextStep`,
/// `isEnd`, or the next step in order; the execution ends after the last.
fn move_on(rec: &mut Value, step: &Value, status: &str, failure: Option<&str>, now: u64) {
    let idx = rec.get("_Index").and_then(Value::as_u64).unwrap_or(0) as usize;
    let total = steps(rec).len();
    let mut next = idx + 1;
    if status == "Success" {
        if step.get("isEnd").and_then(Value::as_bool) == Some(true) {
            return finish(rec, "Success", None, now);
        }
        if let Some(n) = step.get("nextStep").and_then(Value::as_str) {
            match index_of(rec, n) {
                Some(i) => next = i,
                None => {
                    return finish(
                        rec,
                        "Failed",
                        Some(&format!("Step {n} does not exist.")),
                        now,
                    );
                }
            }
        }
    } else {
        let on_failure = step
            .get("onFailure")
            .and_then(Value::as_str)
            .unwrap_or("Abort");
        if let Some(target) = on_failure.strip_prefix("step:") {
            match index_of(rec, target) {
                Some(i) => next = i,
                None => return finish(rec, "Failed", failure, now),
            }
        } else if on_failure != "Continue" {
            let end = if status == "TimedOut" {
                "TimedOut"
            } else {
                "Failed"
            };
            return finish(rec, end, failure, now);
        }
    }
    if next >= total {
        let failed = rec
            .get("StepExecutions")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|s| s["StepStatus"] == "Failed" && s["IsCritical"] != false)
            });
        return if failed && status != "Success" {
            finish(rec, "Failed", failure, now)
        } else {
            finish(rec, "Success", None, now)
        };
    }
    set(rec, "_Index", json!(next));
    set(rec, "_Wake", json!(0));
    set(rec, "CurrentStepName", Value::Null);
    set(rec, "CurrentAction", Value::Null);
    if rec.get("Mode").and_then(Value::as_str) == Some("Interactive") {
        // Interactive executions wait for StartStep between steps.
        set(rec, "_Wake", Value::Null);
        set(rec, "_Index", Value::Null);
        set(rec, "AutomationExecutionStatus", json!("Waiting"));
    }
}

/// Start the step at `_Index`: a new step execution (InProgress) with its inputs resolved.
fn begin_step(rec: &mut Value, step: &Value, g: &Globals<'_>, id: String) -> Result<(), String> {
    let count = rec
        .get("StepExecutions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if count >= MAX_STEP_EXECUTIONS {
        return Err(format!(
            "The automation execution exceeded {MAX_STEP_EXECUTIONS} step executions."
        ));
    }
    let inputs = substitute(step.get("inputs").unwrap_or(&json!({})), rec, g, 0);
    let mut flat = Map::new();
    if let Value::Object(m) = &inputs {
        for (k, v) in m {
            flat.insert(k.clone(), json!(v.to_string()));
        }
    }
    let action = step_action(step);
    let mut se = json!({
        "StepName": step_name(step),
        "Action": action,
        "StepExecutionId": id,
        "ExecutionStartTime": secs(g.now),
        "StepStatus": "InProgress",
        "Inputs": flat,
        "OnFailure": step.get("onFailure").and_then(Value::as_str).unwrap_or("Abort"),
        "MaxAttempts": step.get("maxAttempts").and_then(Value::as_i64).unwrap_or(1),
        "IsEnd": step.get("isEnd").and_then(Value::as_bool).unwrap_or(false),
        "IsCritical": step.get("isCritical").and_then(Value::as_bool).unwrap_or(true),
        "_Inputs": inputs,
    });
    if let Some(n) = step.get("nextStep").and_then(Value::as_str) {
        se["NextStep"] = json!(n);
    }
    if let Some(t) = step.get("timeoutSeconds").and_then(Value::as_i64) {
        se["TimeoutSeconds"] = json!(t);
    }
    if let Some(Value::Array(a)) = rec.get_mut("StepExecutions") {
        a.push(se);
    } else {
        set(rec, "StepExecutions", json!([se]));
    }
    set(rec, "CurrentStepName", json!(step_name(step)));
    set(rec, "CurrentAction", json!(action));
    set(rec, "AutomationExecutionStatus", json!("InProgress"));
    Ok(())
}

fn step_inputs(rec: &Value) -> Value {
    rec.get("StepExecutions")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .and_then(|s| s.get("_Inputs"))
        .cloned()
        .unwrap_or(json!({}))
}

fn step_started_ms(rec: &Value) -> u64 {
    rec.get("StepExecutions")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .and_then(|s| s.get("ExecutionStartTime"))
        .and_then(Value::as_f64)
        .map_or(0, |s| (s * 1000.0) as u64)
}

/// Record an output of the current step (and its value for later references).
fn put_output(rec: &mut Value, step: &str, name: &str, v: &Value) {
    let key = format!("{step}.{name}");
    if let Some(vars) = rec.get_mut("_Vars").and_then(Value::as_object_mut) {
        vars.insert(key, v.clone());
    } else {
        set(rec, "_Vars", json!({ key: v }));
    }
    if let Some(se) = current_se(rec) {
        let outs = se.entry("Outputs").or_insert_with(|| json!({}));
        if let Some(o) = outs.as_object_mut() {
            o.insert(name.to_string(), Value::Array(as_strings(v)));
        }
    }
}

/// One branch choice against the resolved variable.
fn choice_matches(c: &Value, rec: &Value, g: &Globals<'_>, depth: usize) -> bool {
    if depth > 16 {
        return false;
    }
    if let Some(Value::Array(all)) = c.get("And") {
        return all.iter().all(|x| choice_matches(x, rec, g, depth + 1));
    }
    if let Some(Value::Array(any)) = c.get("Or") {
        return any.iter().any(|x| choice_matches(x, rec, g, depth + 1));
    }
    if let Some(not) = c.get("Not") {
        return !choice_matches(not, rec, g, depth + 1);
    }
    let var = substitute(c.get("Variable").unwrap_or(&Value::Null), rec, g, 0);
    let text = scalar_text(&var);
    let num = text.parse::<f64>().ok();
    let ops = [
        "StringEquals",
        "EqualsIgnoreCase",
        "StartsWith",
        "EndsWith",
        "Contains",
        "NumericEquals",
        "NumericGreater",
        "NumericLesser",
        "NumericGreaterOrEquals",
        "NumericLesserOrEquals",
        "BooleanEquals",
    ];
    for op in ops {
        let Some(want) = c.get(op) else { continue };
        let want_v = substitute(want, rec, g, 0);
        let w = scalar_text(&want_v);
        let wn = w.parse::<f64>().ok();
        return match op {
            "StringEquals" => text == w,
            "EqualsIgnoreCase" => text.eq_ignore_ascii_case(&w),
            "StartsWith" => text.starts_with(&w),
            "EndsWith" => text.ends_with(&w),
            "Contains" => match &var {
                Value::Array(a) => a.iter().any(|x| scalar_text(x) == w),
                _ => text.contains(&w),
            },
            "BooleanEquals" => text.eq_ignore_ascii_case(&w),
            _ => match (num, wn) {
                (Some(a), Some(b)) => match op {
                    "NumericEquals" => a == b,
                    "NumericGreater" => a > b,
                    "NumericLesser" => a < b,
                    "NumericGreaterOrEquals" => a >= b,
                    _ => a <= b,
                },
                _ => false,
            },
        };
    }
    false
}

/// The service and operation an API step names, and its request (its inputs but those two
/// and the property checks).
fn api_call(inputs: &Value) -> Next {
    let service = inputs
        .get("Service")
        .map(scalar_text)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let api = inputs.get("Api").map(scalar_text).unwrap_or_default();
    // `describe_instances` names the operation as `DescribeInstances` does.
    let api = if api.contains('_') || api.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        api.split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    } else {
        api
    };
    let mut input = inputs.clone();
    if let Some(m) = input.as_object_mut() {
        for k in ["Service", "Api", "PropertySelector", "DesiredValues"] {
            m.remove(k);
        }
    }
    Next::Invoke {
        service,
        api,
        input,
    }
}

/// Whether an API answer's property is one of the desired values.
fn property_matches(answer: &Value, inputs: &Value) -> (bool, String) {
    let selector = inputs
        .get("PropertySelector")
        .map(scalar_text)
        .unwrap_or_default();
    let got = select(answer, &selector).unwrap_or(Value::Null);
    let desired: Vec<String> = match inputs.get("DesiredValues") {
        Some(Value::Array(a)) => a.iter().map(scalar_text).collect(),
        Some(v) => vec![scalar_text(v)],
        None => Vec::new(),
    };
    let values: Vec<String> = match &got {
        Value::Array(a) => a.iter().map(scalar_text).collect(),
        Value::Null => Vec::new(),
        v => vec![scalar_text(v)],
    };
    let ok = !values.is_empty() && values.iter().all(|v| desired.contains(v));
    (ok, format!("{values:?}"))
}

/// Run an execution as far as it can go now. `answer` is the answer of the call the previous
/// pass asked for (`Next::Invoke`), for the current step. `new_id` gives step execution ids.
pub(super) fn advance(
    rec: &mut Value,
    g: &Globals<'_>,
    mut answer: Option<Result<Value, AwsError>>,
    new_id: &mut dyn FnMut() -> String,
) -> Next {
    let now = g.now;
    for _ in 0..MAX_STEPS_PER_PASS {
        let st = status(rec).to_string();
        if st == "Cancelling" {
            if rec.get("CurrentStepName").is_some() {
                end_step(rec, "Cancelled", None, now);
            }
            finish(rec, "Cancelled", None, now);
            return Next::Idle;
        }
        if is_terminal(&st) || rec.get("_Wake").is_none_or(Value::is_null) {
            return Next::Idle;
        }
        let wake = rec.get("_Wake").and_then(Value::as_u64).unwrap_or(0);
        if wake > now && answer.is_none() {
            return Next::Idle;
        }
        let Some(idx) = rec.get("_Index").and_then(Value::as_u64) else {
            finish(rec, "Success", None, now);
            return Next::Idle;
        };
        let all = steps(rec);
        let Some(step) = all.get(idx as usize).cloned() else {
            finish(rec, "Success", None, now);
            return Next::Idle;
        };
        let action = step_action(&step);
        let name = step_name(&step);
        if rec.get("CurrentStepName").is_none_or(Value::is_null)
            && let Err(m) = begin_step(rec, &step, g, new_id())
        {
            finish(rec, "Failed", Some(&m), now);
            return Next::Idle;
        }
        let inputs = step_inputs(rec);
        let started = step_started_ms(rec);
        let timeout_ms = step
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .map(|s| s.saturating_mul(1000));
        let fail = |rec: &mut Value, message: &str| {
            let m = step_failure(&action, message);
            end_step(rec, "Failed", Some(&m), now);
            move_on(rec, &step, "Failed", Some(&m), now);
        };
        match action.as_str() {
            "aws:sleep" => {
                let until = if let Some(d) = inputs.get("Duration") {
                    iso_duration_ms(&scalar_text(d)).map(|ms| started.saturating_add(ms))
                } else if let Some(t) = inputs.get("Timestamp") {
                    snapstack_protocol::codec::time::parse_iso8601(&scalar_text(t))
                        .map(|t| t.max(0) as u64)
                } else {
                    None
                };
                let Some(until) = until.filter(|u| *u <= started.saturating_add(MAX_WAIT_MS))
                else {
                    fail(
                        rec,
                        "Invalid Duration or Timestamp: sleep takes an ISO 8601 duration or timestamp within 7 days",
                    );
                    continue;
                };
                if now < until {
                    set(rec, "_Wake", json!(until));
                    return Next::Idle;
                }
                end_step(rec, "Success", None, now);
                move_on(rec, &step, "Success", None, now);
            }
            "aws:pause" | "aws:approve" => {
                // Signals end these steps; the record waits until then, or until the timeout.
                let limit =
                    started.saturating_add(timeout_ms.unwrap_or(MAX_WAIT_MS).min(MAX_WAIT_MS));
                if now >= limit {
                    let m = step_failure(&action, "Step timed out");
                    end_step(rec, "TimedOut", Some(&m), now);
                    move_on(rec, &step, "TimedOut", Some(&m), now);
                    continue;
                }
                if let Some(se) = current_se(rec) {
                    se.insert("StepStatus".into(), json!("Waiting"));
                }
                set(rec, "AutomationExecutionStatus", json!("Waiting"));
                set(rec, "_Wake", json!(limit));
                return Next::Idle;
            }
            "aws:branch" => {
                let choices = step
                    .get("inputs")
                    .and_then(|i| i.get("Choices"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let chosen = choices
                    .iter()
                    .find(|c| choice_matches(c, rec, g, 0))
                    .and_then(|c| c.get("NextStep"))
                    .or_else(|| step.get("inputs").and_then(|i| i.get("Default")))
                    .map(scalar_text);
                let Some(target) = chosen else {
                    fail(rec, "No choice matched and no Default step is given");
                    continue;
                };
                let Some(i) = index_of(rec, &target) else {
                    fail(rec, &format!("Step {target} does not exist"));
                    continue;
                };
                if let Some(se) = current_se(rec) {
                    se.insert("Outputs".into(), json!({"NextStep": [target]}));
                }
                end_step(rec, "Success", None, now);
                let mut jump = step.clone();
                if let Some(m) = jump.as_object_mut() {
                    m.insert("nextStep".into(), json!(target));
                    m.remove("isEnd");
                }
                move_on(rec, &jump, "Success", None, now);
                let _ = i;
            }
            "aws:executeAwsApi"
            | "aws:assertAwsResourceProperty"
            | "aws:waitForAwsResourceProperty" => {
                let Some(result) = answer.take() else {
                    if let Some(limit) = timeout_ms.map(|t| started.saturating_add(t))
                        && now >= limit
                    {
                        let m = step_failure(&action, "Step timed out");
                        end_step(rec, "TimedOut", Some(&m), now);
                        move_on(rec, &step, "TimedOut", Some(&m), now);
                        continue;
                    }
                    return api_call(&inputs);
                };
                match result {
                    Err(e) => {
                        let attempt = rec.get("_Attempt").and_then(Value::as_u64).unwrap_or(1);
                        let max = step.get("maxAttempts").and_then(Value::as_u64).unwrap_or(1);
                        if attempt < max {
                            set(rec, "_Attempt", json!(attempt + 1));
                            set(rec, "_Wake", json!(0));
                            continue;
                        }
                        fail(rec, &format!("{}: {}", e.code, e.message));
                    }
                    Ok(out) if action == "aws:executeAwsApi" => {
                        for o in step
                            .get("outputs")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default()
                        {
                            let oname = o.get("Name").map(scalar_text).unwrap_or_default();
                            let sel = o.get("Selector").map(scalar_text).unwrap_or_default();
                            if let Some(v) = select(&out, &sel) {
                                put_output(rec, &name, &oname, &v);
                            }
                        }
                        end_step(rec, "Success", None, now);
                        move_on(rec, &step, "Success", None, now);
                    }
                    Ok(out) => {
                        let (matched, got) = property_matches(&out, &inputs);
                        if matched {
                            end_step(rec, "Success", None, now);
                            move_on(rec, &step, "Success", None, now);
                        } else if action == "aws:waitForAwsResourceProperty" {
                            set(rec, "_Wake", json!(now.saturating_add(POLL_MS)));
                            return Next::Idle;
                        } else {
                            fail(
                                rec,
                                &format!(
                                    "Resource property value does not match the desired values. Actual values: {got}"
                                ),
                            );
                        }
                    }
                }
            }
            other => {
                let why = match other {
                    "aws:executeScript" => "aws:executeScript runs its script in an AWS-managed runtime, which this emulator does not have".to_string(),
                    "" => "The step has no action".to_string(),
                    a => format!("{a} needs resources this emulator does not run"),
                };
                fail(rec, &why);
            }
        }
    }
    // More steps remain: the next tick goes on.
    set(rec, "_Wake", json!(0));
    Next::Idle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(now: u64) -> Globals<'static> {
        Globals {
            account: "000000000000",
            region: "us-east-1",
            now,
        }
    }

    fn exec(steps: Value) -> Value {
        json!({"AutomationExecutionId": "e", "AutomationExecutionStatus": "InProgress",
               "_Steps": steps, "_Index": 0, "_Wake": 0, "_Vars": {"Name": "world", "List": ["a", "b"]},
               "_Outputs": ["call.Url"]})
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("s{n}")
        }
    }

    #[test]
    fn references_are_substituted() {
        let rec = exec(json!([]));
        let v = substitute(
            &json!({"A": "{{ Name }}", "B": "hello {{Name}} in {{ global:REGION }}", "C": "{{ List }}", "D": "{{ nope }}"}),
            &rec,
            &g(0),
            0,
        );
        assert_eq!(
            v,
            json!({"A": "world", "B": "hello world in us-east-1", "C": ["a", "b"], "D": "{{ nope }}"})
        );
    }

    #[test]
    fn selectors_and_durations() {
        let v = json!({"A": {"B": [{"C": 1}, {"C": 2}]}});
        assert_eq!(select(&v, "$.A.B[1].C"), Some(json!(2)));
        assert_eq!(select(&v, "$.A.B[*].C"), Some(json!([1, 2])));
        assert_eq!(select(&v, "$.X"), None);
        assert_eq!(iso_duration_ms("PT1M30S"), Some(90_000));
        assert_eq!(iso_duration_ms("P1DT1H"), Some(90_000_000));
        assert_eq!(iso_duration_ms("nonsense"), None);
        assert_eq!(iso_seconds(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn sleep_waits_for_its_deadline_and_then_moves_on() {
        let mut rec =
            exec(json!([{"name": "s", "action": "aws:sleep", "inputs": {"Duration": "PT10S"}}]));
        let mut id = ids();
        assert_eq!(advance(&mut rec, &g(1_000), None, &mut id), Next::Idle);
        assert_eq!(rec["_Wake"], 11_000);
        assert_eq!(rec["StepExecutions"][0]["StepStatus"], "InProgress");
        advance(&mut rec, &g(5_000), None, &mut id);
        assert_eq!(rec["AutomationExecutionStatus"], "InProgress");
        rec["_Wake"] = json!(0); // a restart rereads the record: the deadline is the step's start + 10 s
        advance(&mut rec, &g(11_000), None, &mut id);
        assert_eq!(rec["AutomationExecutionStatus"], "Success");
        assert_eq!(rec["StepExecutions"][0]["StepStatus"], "Success");
    }

    #[test]
    fn api_steps_call_and_record_outputs() {
        let mut rec = exec(json!([
            {"name": "call", "action": "aws:executeAwsApi",
             "inputs": {"Service": "sqs", "Api": "CreateQueue", "QueueName": "{{ Name }}"},
             "outputs": [{"Name": "Url", "Selector": "$.QueueUrl", "Type": "String"}]},
            {"name": "b", "action": "aws:branch", "inputs": {"Choices": [
                {"NextStep": "end", "Variable": "{{ call.Url }}", "EndsWith": "/world"}], "Default": "bad"}},
            {"name": "bad", "action": "aws:executeScript", "inputs": {}},
            {"name": "end", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}}
        ]));
        let mut id = ids();
        let next = advance(&mut rec, &g(0), None, &mut id);
        assert_eq!(
            next,
            Next::Invoke {
                service: "sqs".into(),
                api: "CreateQueue".into(),
                input: json!({"QueueName": "world"})
            }
        );
        let next = advance(
            &mut rec,
            &g(1),
            Some(Ok(json!({"QueueUrl": "http://h/000000000000/world"}))),
            &mut id,
        );
        assert_eq!(next, Next::Idle);
        assert_eq!(rec["AutomationExecutionStatus"], "Success", "{rec:#}");
        let names: Vec<&str> = rec["StepExecutions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["StepName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["call", "b", "end"]);
        assert_eq!(
            rec["Outputs"]["call.Url"],
            json!(["http://h/000000000000/world"])
        );
    }

    #[test]
    fn unrunnable_steps_fail_the_execution_unless_told_to_continue() {
        let mut rec = exec(json!([
            {"name": "s", "action": "aws:executeScript", "onFailure": "Continue", "isCritical": false},
            {"name": "t", "action": "aws:runCommand"}
        ]));
        advance(&mut rec, &g(0), None, &mut ids());
        assert_eq!(rec["AutomationExecutionStatus"], "Failed");
        assert_eq!(rec["StepExecutions"][0]["StepStatus"], "Failed");
        assert!(
            rec["FailureMessage"]
                .as_str()
                .unwrap()
                .starts_with("Step fails when it is Executing.")
        );
    }

    #[test]
    fn pause_waits_and_cancelling_cancels() {
        let mut rec = exec(json!([{"name": "p", "action": "aws:pause", "inputs": {}}]));
        advance(&mut rec, &g(0), None, &mut ids());
        assert_eq!(rec["AutomationExecutionStatus"], "Waiting");
        assert_eq!(rec["StepExecutions"][0]["StepStatus"], "Waiting");
        rec["AutomationExecutionStatus"] = json!("Cancelling");
        advance(&mut rec, &g(1), None, &mut ids());
        assert_eq!(rec["AutomationExecutionStatus"], "Cancelled");
        assert_eq!(rec["StepExecutions"][0]["StepStatus"], "Cancelled");
    }

    #[test]
    fn a_branch_loop_is_bounded() {
        let mut rec = exec(json!([
            {"name": "a", "action": "aws:branch", "inputs": {"Choices": [], "Default": "a"}}
        ]));
        let mut id = ids();
        for i in 0..100 {
            advance(&mut rec, &g(i), None, &mut id);
        }
        assert_eq!(rec["AutomationExecutionStatus"], "Failed");
        assert_eq!(
            rec["StepExecutions"].as_array().unwrap().len(),
            MAX_STEP_EXECUTIONS
        );
    }
}

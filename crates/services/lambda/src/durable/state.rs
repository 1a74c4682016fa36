//! The state machine of a durable execution, on its record alone (no I/O): the operations the
//! SDK checkpoints (`OperationUpdate`s applied as Lambda applies them), the history events each
//! transition adds, the timers (a wait's end, a step's next attempt, a callback's timeout and
//! heartbeat) and what ends the execution.
//!
//! Operations are kept in the output's neutral shape (timestamps in epoch seconds), with
//! private members (`_due_ms`, `_timeout_ms`, `_heartbeat_ms`, `_heartbeat_s`) that outputs
//! drop.

use serde_json::{Map, Value, json};

use crate::LambdaError;
use crate::model::DurableExecution;

/// The most operations one execution holds.
pub const MAX_OPERATIONS: usize = 10_000;
/// The most history events one execution keeps.
pub const MAX_EVENTS: usize = 30_000;

pub fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn invalid(m: impl Into<String>) -> LambdaError {
    LambdaError::invalid(m)
}

/// A transition's consequences the caller acts on (a callback to index or forget).
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    pub callbacks_started: Vec<(String, String)>,
    pub ended: bool,
}

/// An execution's operations, parsed.
pub fn operations(rec: &DurableExecution) -> Vec<Value> {
    rec.operations
        .iter()
        .filter_map(|o| serde_json::from_str(o).ok())
        .collect()
}

pub fn set_operations(rec: &mut DurableExecution, ops: &[Value]) {
    rec.operations = ops.iter().map(Value::to_string).collect();
}

/// An operation without its private members (the output's shape).
pub fn public(op: &Value) -> Value {
    match op {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        v => v.clone(),
    }
}

/// An operation as the SDK reads it in its invocation input: timestamps in epoch milliseconds.
pub fn for_sdk(op: &Value) -> Value {
    let mut o = public(op);
    let to_ms = |v: &mut Value| {
        if let Some(s) = v.as_f64() {
            *v = json!((s * 1000.0).round() as u64);
        }
    };
    for k in ["StartTimestamp", "EndTimestamp"] {
        if let Some(v) = o.get_mut(k) {
            to_ms(v);
        }
    }
    if let Some(v) = o.pointer_mut("/StepDetails/NextAttemptTimestamp") {
        to_ms(v);
    }
    if let Some(v) = o.pointer_mut("/WaitDetails/ScheduledEndTimestamp") {
        to_ms(v);
    }
    o
}

/// The most operations of the first page the invocation's input carries.
pub const INPUT_PAGE_OPERATIONS: usize = 1000;
/// About the most bytes of that page: the input stays under Lambda's 6 MB payload limit.
pub const INPUT_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The operations an invocation's `InitialExecutionState` carries (the SDK's view) and, when
/// more remain, the `NextMarker` from which the SDK reads them with GetDurableExecutionState
/// (whose markers are positions). At least one operation, so the SDK always progresses.
pub fn input_page(ops: &[Value]) -> (Vec<Value>, Option<String>) {
    let mut page = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let o = for_sdk(op);
        bytes += o.to_string().len();
        if !page.is_empty() && (page.len() >= INPUT_PAGE_OPERATIONS || bytes > INPUT_PAGE_BYTES) {
            break;
        }
        page.push(o);
    }
    let next = (page.len() < ops.len()).then(|| page.len().to_string());
    (page, next)
}

/// Add a history event about `op` (or the execution, when `None`).
pub fn event(rec: &mut DurableExecution, now: u64, kind: &str, op: Option<&Value>, details: Value) {
    if rec.events.len() >= MAX_EVENTS {
        return;
    }
    let mut e = Map::new();
    e.insert("EventType".into(), json!(kind));
    e.insert("EventTimestamp".into(), secs(now));
    match op {
        Some(op) => {
            for k in ["Id", "Name", "ParentId", "SubType"] {
                if let Some(v) = op.get(k) {
                    e.insert(k.into(), v.clone());
                }
            }
        }
        None => {
            e.insert("Id".into(), json!(rec.id));
            e.insert("Name".into(), json!(rec.name));
        }
    }
    e.insert(format!("{kind}Details"), details);
    rec.events.push(Value::Object(e).to_string());
}

fn payload_of(u: &Value) -> Value {
    json!({ "Payload": u.get("Payload").cloned().unwrap_or(json!("")) })
}

fn error_of(u: &Value) -> Value {
    u.get("Error").cloned().unwrap_or(json!({}))
}

/// The private members that make an operation fire: its timers and a chained invoke to run.
const TIMERS: [&str; 4] = ["_due_ms", "_timeout_ms", "_heartbeat_ms", "_invoke"];

/// Stop an operation's timers (and a chained invoke not yet run): they no longer fire.
/// A step's current attempt (1 before any retry), as its events report it.
fn attempt_of(op: &Value) -> Value {
    op.pointer("/StepDetails/Attempt")
        .cloned()
        .unwrap_or(json!(1))
}

fn drop_timers(op: &mut Value) {
    if let Some(o) = op.as_object_mut() {
        for k in TIMERS {
            o.remove(k);
        }
    }
}

/// End an operation: its final status, its end time, no more timers.
fn end_op(op: &mut Value, status: &str, now: u64) {
    op["Status"] = json!(status);
    op["EndTimestamp"] = secs(now);
    drop_timers(op);
}

/// How an operation the service completes (a callback, a chained invoke) came out.
enum Outcome {
    Result(String),
    Error(Value),
}

/// The service completes operation `i` (a callback or a chained invoke): it ends with
/// `status`, its `details` member gets the `Result` or `Error`, the history gets the
/// `<prefix><Succeeded|Failed|TimedOut>` event, and the function is invoked again to see it.
fn complete_op(
    rec: &mut DurableExecution,
    mut ops: Vec<Value>,
    i: usize,
    now: u64,
    status: &str,
    (details, prefix): (&str, &str),
    outcome: Outcome,
) {
    end_op(&mut ops[i], status, now);
    let kind = match status {
        "SUCCEEDED" => "Succeeded",
        "TIMED_OUT" => "TimedOut",
        _ => "Failed",
    };
    let event_details = match outcome {
        Outcome::Result(r) => {
            ops[i][details]["Result"] = json!(r);
            json!({"Result": {"Payload": r}})
        }
        Outcome::Error(e) => {
            ops[i][details]["Error"] = e.clone();
            json!({"Error": {"Payload": e}})
        }
    };
    let op = ops[i].clone();
    event(
        rec,
        now,
        &format!("{prefix}{kind}"),
        Some(&op),
        event_details,
    );
    set_operations(rec, &ops);
    rec.changed
        .push(op["Id"].as_str().unwrap_or("").to_string());
    rec.due_ms = Some(now);
}

/// End the execution: its status, result or error, the EXECUTION operation, the event.
pub fn finish(
    rec: &mut DurableExecution,
    now: u64,
    status: &str,
    result: Option<String>,
    error: Option<Value>,
) {
    if rec.status != "RUNNING" {
        return;
    }
    rec.status = status.to_string();
    rec.ended_ms = Some(now);
    rec.due_ms = None;
    rec.result = result.clone();
    rec.error = error.as_ref().map(Value::to_string);
    let mut ops = operations(rec);
    for op in ops.iter_mut() {
        if op.get("Type").and_then(Value::as_str) == Some("EXECUTION") {
            end_op(op, status, now);
        }
        // Timers and callbacks of a finished execution no longer fire.
        drop_timers(op);
    }
    set_operations(rec, &ops);
    let err = json!({ "Payload": error.clone().unwrap_or(json!({})) });
    match status {
        "SUCCEEDED" => event(
            rec,
            now,
            "ExecutionSucceeded",
            None,
            json!({"Result": {"Payload": result.unwrap_or_default()}}),
        ),
        "FAILED" => event(rec, now, "ExecutionFailed", None, json!({ "Error": err })),
        "TIMED_OUT" => event(rec, now, "ExecutionTimedOut", None, json!({ "Error": err })),
        _ => event(rec, now, "ExecutionStopped", None, json!({ "Error": err })),
    }
}

/// Apply one `OperationUpdate` of a checkpoint. `callback_id` makes the id of a callback it
/// starts. Returns the id of the operation it touched.
pub fn apply(
    rec: &mut DurableExecution,
    now: u64,
    u: &Value,
    callback_id: &dyn Fn(&str) -> String,
    fx: &mut Effects,
) -> Result<String, LambdaError> {
    let id = u
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = u.get("Type").and_then(Value::as_str).unwrap_or("");
    let action = u.get("Action").and_then(Value::as_str).unwrap_or("");
    if kind == "EXECUTION" {
        match action {
            "SUCCEED" => {
                let result = u.get("Payload").and_then(Value::as_str).map(String::from);
                finish(rec, now, "SUCCEEDED", result, None);
            }
            "FAIL" => finish(rec, now, "FAILED", None, Some(error_of(u))),
            _ => {
                return Err(invalid(format!(
                    "Invalid action {action} for an operation of type EXECUTION."
                )));
            }
        }
        fx.ended = true;
        return Ok(id);
    }
    let mut ops = operations(rec);
    let at = ops
        .iter()
        .position(|o| o.get("Id").and_then(Value::as_str) == Some(id.as_str()));
    if at.is_none() && action != "START" {
        return Err(invalid(format!(
            "Operation {id} has not been started: the first update of an operation must be START."
        )));
    }
    if let Some(i) = at
        && ops[i].get("Type").and_then(Value::as_str) != Some(kind)
    {
        return Err(invalid(format!(
            "Operation {id} is of type {}, not {kind}.",
            ops[i]["Type"].as_str().unwrap_or("")
        )));
    }
    let status = at
        .map(|i| ops[i]["Status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let mut op = match at {
        Some(i) => ops[i].clone(),
        None => {
            if ops.len() >= MAX_OPERATIONS {
                return Err(invalid(format!(
                    "A durable execution holds at most {MAX_OPERATIONS} operations."
                )));
            }
            let mut o = json!({"Id": id, "Type": kind, "StartTimestamp": secs(now)});
            for k in ["Name", "ParentId", "SubType"] {
                if let Some(v) = u.get(k) {
                    o[k] = v.clone();
                }
            }
            o
        }
    };
    let done = matches!(
        status.as_str(),
        "SUCCEEDED" | "FAILED" | "CANCELLED" | "TIMED_OUT" | "STOPPED"
    );
    let bad = || {
        invalid(format!(
            "Invalid action {action} for operation {id} of type {kind} in status {}.",
            if status.is_empty() {
                "NEW"
            } else {
                status.as_str()
            }
        ))
    };
    if done {
        return Err(bad());
    }
    let end = |op: &mut Value, st: &str| end_op(op, st, now);
    match (kind, action) {
        ("STEP", "START") => {
            if status == "STARTED" {
                return Err(bad());
            }
            let attempt = op
                .pointer("/StepDetails/Attempt")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                + 1;
            op["Status"] = json!("STARTED");
            op["StepDetails"]["Attempt"] = json!(attempt);
            if let Some(o) = op["StepDetails"].as_object_mut() {
                o.remove("NextAttemptTimestamp");
            }
            event(rec, now, "StepStarted", Some(&op), json!({}));
        }
        ("STEP", "SUCCEED") => {
            op["StepDetails"]["Result"] = u.get("Payload").cloned().unwrap_or(json!(""));
            end(&mut op, "SUCCEEDED");
            let attempt = attempt_of(&op);
            event(
                rec,
                now,
                "StepSucceeded",
                Some(&op),
                json!({"Result": payload_of(u), "RetryDetails": {"CurrentAttempt": attempt}}),
            );
        }
        ("STEP", "FAIL") => {
            op["StepDetails"]["Error"] = error_of(u);
            end(&mut op, "FAILED");
            let attempt = attempt_of(&op);
            event(
                rec,
                now,
                "StepFailed",
                Some(&op),
                json!({"Error": {"Payload": error_of(u)}, "RetryDetails": {"CurrentAttempt": attempt}}),
            );
        }
        ("STEP", "RETRY") => {
            let delay = u
                .pointer("/StepOptions/NextAttemptDelaySeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(31_622_400);
            let due = now + delay * 1000;
            op["Status"] = json!("PENDING");
            op["StepDetails"]["NextAttemptTimestamp"] = secs(due);
            if let Some(e) = u.get("Error") {
                op["StepDetails"]["Error"] = e.clone();
            }
            op["_due_ms"] = json!(due);
            let attempt = attempt_of(&op);
            event(
                rec,
                now,
                "StepFailed",
                Some(&op),
                json!({"Error": {"Payload": error_of(u)},
                       "RetryDetails": {"CurrentAttempt": attempt, "NextAttemptDelaySeconds": delay}}),
            );
        }
        ("WAIT", "START") => {
            if !status.is_empty() {
                return Err(bad());
            }
            let wait = u
                .pointer("/WaitOptions/WaitSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(31_622_400);
            let due = now + wait * 1000;
            op["Status"] = json!("STARTED");
            op["WaitDetails"] = json!({ "ScheduledEndTimestamp": secs(due) });
            op["_due_ms"] = json!(due);
            event(
                rec,
                now,
                "WaitStarted",
                Some(&op),
                json!({"Duration": wait, "ScheduledEndTimestamp": secs(due)}),
            );
        }
        ("WAIT", "CANCEL") => {
            end(&mut op, "CANCELLED");
            event(rec, now, "WaitCancelled", Some(&op), json!({}));
        }
        ("CALLBACK", "START") => {
            if !status.is_empty() {
                return Err(bad());
            }
            let cb = callback_id(&id);
            op["Status"] = json!("STARTED");
            op["CallbackDetails"] = json!({ "CallbackId": cb });
            let timeout = u
                .pointer("/CallbackOptions/TimeoutSeconds")
                .and_then(Value::as_u64);
            let beat = u
                .pointer("/CallbackOptions/HeartbeatTimeoutSeconds")
                .and_then(Value::as_u64);
            if let Some(t) = timeout.filter(|t| *t > 0) {
                op["_timeout_ms"] = json!(now + t.min(31_622_400) * 1000);
            }
            if let Some(h) = beat.filter(|h| *h > 0) {
                op["_heartbeat_s"] = json!(h);
                op["_heartbeat_ms"] = json!(now + h.min(31_622_400) * 1000);
            }
            let mut d = json!({ "CallbackId": cb });
            if let Some(t) = timeout {
                d["Timeout"] = json!(t);
            }
            if let Some(h) = beat {
                d["HeartbeatTimeout"] = json!(h);
            }
            event(rec, now, "CallbackStarted", Some(&op), d);
            fx.callbacks_started.push((cb, id.clone()));
        }
        ("CALLBACK", "CANCEL") => {
            end(&mut op, "CANCELLED");
        }
        ("CONTEXT", "START") => {
            if !status.is_empty() {
                return Err(bad());
            }
            op["Status"] = json!("STARTED");
            if let Some(r) = u.pointer("/ContextOptions/ReplayChildren") {
                op["ContextDetails"] = json!({ "ReplayChildren": r });
            }
            event(rec, now, "ContextStarted", Some(&op), json!({}));
        }
        ("CONTEXT", "SUCCEED") => {
            op["ContextDetails"]["Result"] = u.get("Payload").cloned().unwrap_or(json!(""));
            end(&mut op, "SUCCEEDED");
            event(
                rec,
                now,
                "ContextSucceeded",
                Some(&op),
                json!({"Result": payload_of(u)}),
            );
        }
        ("CONTEXT", "FAIL") => {
            op["ContextDetails"]["Error"] = error_of(u);
            end(&mut op, "FAILED");
            event(
                rec,
                now,
                "ContextFailed",
                Some(&op),
                json!({"Error": {"Payload": error_of(u)}}),
            );
        }
        ("CHAINED_INVOKE", "START") => {
            if !status.is_empty() {
                return Err(bad());
            }
            let Some(target) = u.pointer("/ChainedInvokeOptions/FunctionName").cloned() else {
                return Err(invalid(
                    "ChainedInvokeOptions.FunctionName is required to start a CHAINED_INVOKE operation.",
                ));
            };
            op["Status"] = json!("STARTED");
            op["_invoke"] = json!({"FunctionName": target, "Payload": u.get("Payload").cloned().unwrap_or(json!(""))});
            op["_due_ms"] = json!(now);
            event(
                rec,
                now,
                "ChainedInvokeStarted",
                Some(&op),
                json!({"FunctionName": target, "Input": payload_of(u)}),
            );
        }
        ("CHAINED_INVOKE", "CANCEL") => {
            end(&mut op, "CANCELLED");
        }
        _ => return Err(bad()),
    }
    match at {
        Some(i) => ops[i] = op,
        None => ops.push(op),
    }
    set_operations(rec, &ops);
    Ok(id)
}

/// Complete a callback (`SUCCEEDED` with a result, `FAILED` with an error, `TIMED_OUT`).
pub fn complete_callback(
    rec: &mut DurableExecution,
    now: u64,
    op_id: &str,
    status: &str,
    result: Option<String>,
    error: Option<Value>,
) -> Result<(), LambdaError> {
    let ops = operations(rec);
    let Some(i) = ops
        .iter()
        .position(|o| o.get("Id").and_then(Value::as_str) == Some(op_id))
    else {
        return Err(invalid("The callback does not exist."));
    };
    let cur = ops[i]["Status"].as_str().unwrap_or("").to_string();
    if cur == "TIMED_OUT" {
        return Err(LambdaError::new(
            400,
            "CallbackTimeoutException",
            "The callback has timed out.",
        ));
    }
    if cur != "STARTED" || rec.status != "RUNNING" {
        return Err(invalid(format!(
            "The callback has already completed (status {cur})."
        )));
    }
    let outcome = match status {
        "SUCCEEDED" => Outcome::Result(result.unwrap_or_default()),
        "FAILED" => Outcome::Error(error.unwrap_or(json!({}))),
        _ => Outcome::Error(
            json!({"ErrorType": "Callback.Timeout", "ErrorMessage": "Callback timed out"}),
        ),
    };
    complete_op(
        rec,
        ops,
        i,
        now,
        status,
        ("CallbackDetails", "Callback"),
        outcome,
    );
    Ok(())
}

/// Fire the timers that are due: waits end, steps become ready to retry, callbacks time out.
/// Returns the chained invokes to run (operation id, target function, payload).
pub fn fire_timers(rec: &mut DurableExecution, now: u64) -> Vec<(String, String, String)> {
    let mut ops = operations(rec);
    let mut changed = Vec::new();
    let mut chained = Vec::new();
    let mut timed_out = Vec::new();
    for op in ops.iter_mut() {
        let id = op["Id"].as_str().unwrap_or("").to_string();
        let kind = op["Type"].as_str().unwrap_or("").to_string();
        let status = op["Status"].as_str().unwrap_or("").to_string();
        let due = |op: &Value, k: &str| op.get(k).and_then(Value::as_u64).is_some_and(|d| d <= now);
        match (kind.as_str(), status.as_str()) {
            ("WAIT", "STARTED") if due(&*op, "_due_ms") => {
                end_op(op, "SUCCEEDED", now);
                changed.push((id, "WaitSucceeded", op.clone()));
            }
            ("STEP", "PENDING") if due(&*op, "_due_ms") => {
                op["Status"] = json!("READY");
                if let Some(o) = op.as_object_mut() {
                    o.remove("_due_ms");
                }
                changed.push((id, "", op.clone()));
            }
            ("CALLBACK", "STARTED") if due(&*op, "_timeout_ms") || due(&*op, "_heartbeat_ms") => {
                timed_out.push(id);
            }
            ("CHAINED_INVOKE", "STARTED") if due(&*op, "_due_ms") => {
                // Running now: if the run is lost (a crash), it is due again in 15 minutes.
                op["_due_ms"] = json!(now + 900_000);
                let target = op
                    .pointer("/_invoke/FunctionName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let payload = op
                    .pointer("/_invoke/Payload")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                chained.push((id, target, payload));
            }
            _ => {}
        }
    }
    set_operations(rec, &ops);
    for (id, kind, op) in changed {
        if !kind.is_empty() {
            let d = op.pointer("/WaitDetails/ScheduledEndTimestamp").cloned();
            let dur = d
                .and_then(|v| v.as_f64())
                .zip(op["StartTimestamp"].as_f64())
                .map_or(0, |(e, s)| (e - s).max(0.0).round() as u64);
            event(rec, now, kind, Some(&op), json!({ "Duration": dur }));
        }
        rec.changed.push(id);
        rec.due_ms = Some(rec.due_ms.map_or(now, |d| d.min(now)));
    }
    for id in timed_out {
        let _ = complete_callback(rec, now, &id, "TIMED_OUT", None, None);
    }
    chained
}

/// Record a chained invoke's outcome.
pub fn chained_done(rec: &mut DurableExecution, now: u64, op_id: &str, ok: bool, payload: String) {
    let ops = operations(rec);
    let Some(i) = ops
        .iter()
        .position(|o| o.get("Id").and_then(Value::as_str) == Some(op_id))
    else {
        return;
    };
    if ops[i]["Status"].as_str() != Some("STARTED") || rec.status != "RUNNING" {
        return;
    }
    let (status, outcome) = if ok {
        ("SUCCEEDED", Outcome::Result(payload))
    } else {
        let err: Value = serde_json::from_str(&payload).ok().map_or_else(
            || json!({"ErrorMessage": payload}),
            |v: Value| {
                json!({
                    "ErrorType": v.get("errorType").cloned().unwrap_or(json!("Unhandled")),
                    "ErrorMessage": v.get("errorMessage").cloned().unwrap_or(json!("")),
                })
            },
        );
        ("FAILED", Outcome::Error(err))
    };
    complete_op(
        rec,
        ops,
        i,
        now,
        status,
        ("ChainedInvokeDetails", "ChainedInvoke"),
        outcome,
    );
}

/// When the execution next needs the function after an invocation ended `PENDING`: now if the
/// service changed something meanwhile or a step is ready, else at its earliest timer
/// (`None`: it waits for a callback).
pub fn next_due(rec: &DurableExecution, now: u64) -> Option<u64> {
    if !rec.changed.is_empty() {
        return Some(now);
    }
    let ops = operations(rec);
    if ops.iter().any(|o| o["Status"].as_str() == Some("READY")) {
        return Some(now);
    }
    earliest(&ops)
}

/// The earliest private timer of the execution (the sweeper's next look).
pub fn next_timer(rec: &DurableExecution) -> Option<u64> {
    earliest(&operations(rec))
}

fn earliest(ops: &[Value]) -> Option<u64> {
    ops.iter()
        .filter_map(|o| {
            TIMERS
                .iter()
                .filter_map(|k| o.get(*k).and_then(Value::as_u64))
                .min()
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> DurableExecution {
        DurableExecution {
            id: "e1".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            function: "f".into(),
            version: "$LATEST".into(),
            qualifier: None,
            name: "n".into(),
            input: "{}".into(),
            status: "RUNNING".into(),
            result: None,
            error: None,
            started_ms: 0,
            ended_ms: None,
            deadline_ms: 1_000_000,
            retention_days: 14,
            operations: vec![json!({"Id": "e1", "Type": "EXECUTION", "Status": "STARTED", "StartTimestamp": 0.0}).to_string()],
            events: Vec::new(),
            token: 1,
            due_ms: None,
            changed: Vec::new(),
            invocations: 1,
        }
    }

    fn event_kinds(r: &DurableExecution) -> Vec<String> {
        r.events
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e).unwrap()["EventType"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn cb(id: &str) -> String {
        format!("cb-{id}")
    }

    #[test]
    fn steps_start_succeed_and_cannot_change_after() {
        let mut r = rec();
        let mut fx = Effects::default();
        apply(
            &mut r,
            10,
            &json!({"Id": "s1", "Type": "STEP", "Action": "START", "Name": "one"}),
            &cb,
            &mut fx,
        )
        .unwrap();
        apply(
            &mut r,
            20,
            &json!({"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": "42"}),
            &cb,
            &mut fx,
        )
        .unwrap();
        let ops = operations(&r);
        assert_eq!(ops[1]["Status"], "SUCCEEDED");
        assert_eq!(ops[1]["StepDetails"]["Result"], "42");
        assert_eq!(ops[1]["Name"], "one");
        let again = apply(
            &mut r,
            30,
            &json!({"Id": "s1", "Type": "STEP", "Action": "FAIL"}),
            &cb,
            &mut fx,
        );
        assert!(again.is_err());
        let never = apply(
            &mut r,
            30,
            &json!({"Id": "s2", "Type": "STEP", "Action": "SUCCEED"}),
            &cb,
            &mut fx,
        );
        assert!(never.is_err());
        let kinds = event_kinds(&r);
        assert_eq!(kinds, ["StepStarted", "StepSucceeded"]);
    }

    #[test]
    fn waits_and_retries_fire_when_due() {
        let mut r = rec();
        let mut fx = Effects::default();
        apply(&mut r, 1000, &json!({"Id": "w", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": 5}}), &cb, &mut fx).unwrap();
        apply(
            &mut r,
            1000,
            &json!({"Id": "s", "Type": "STEP", "Action": "START"}),
            &cb,
            &mut fx,
        )
        .unwrap();
        apply(&mut r, 1000, &json!({"Id": "s", "Type": "STEP", "Action": "RETRY", "StepOptions": {"NextAttemptDelaySeconds": 2}}), &cb, &mut fx).unwrap();
        assert_eq!(next_due(&r, 1000), Some(3000));
        assert!(fire_timers(&mut r, 2000).is_empty());
        assert!(r.changed.is_empty());
        fire_timers(&mut r, 3000);
        assert_eq!(operations(&r)[2]["Status"], "READY");
        assert_eq!(r.due_ms, Some(3000));
        r.changed.clear();
        fire_timers(&mut r, 6000);
        assert_eq!(operations(&r)[1]["Status"], "SUCCEEDED");
        assert_eq!(r.changed, ["w"]);
        // The SDK's view: milliseconds, no private members.
        let sdk = for_sdk(&operations(&r)[1]);
        assert_eq!(sdk["WaitDetails"]["ScheduledEndTimestamp"], 6000);
        assert!(sdk.get("_due_ms").is_none());
    }

    #[test]
    fn callbacks_complete_time_out_and_refuse_twice() {
        let mut r = rec();
        let mut fx = Effects::default();
        apply(&mut r, 0, &json!({"Id": "c", "Type": "CALLBACK", "Action": "START", "CallbackOptions": {"TimeoutSeconds": 10}}), &cb, &mut fx).unwrap();
        assert_eq!(
            fx.callbacks_started,
            [("cb-c".to_string(), "c".to_string())]
        );
        complete_callback(&mut r, 5, "c", "SUCCEEDED", Some("\"ok\"".into()), None).unwrap();
        assert_eq!(operations(&r)[1]["CallbackDetails"]["Result"], "\"ok\"");
        assert!(complete_callback(&mut r, 6, "c", "FAILED", None, None).is_err());
        apply(&mut r, 0, &json!({"Id": "d", "Type": "CALLBACK", "Action": "START", "CallbackOptions": {"TimeoutSeconds": 10}}), &cb, &mut fx).unwrap();
        fire_timers(&mut r, 10_000);
        assert_eq!(operations(&r)[2]["Status"], "TIMED_OUT");
        let e = complete_callback(&mut r, 10_001, "d", "SUCCEEDED", None, None).unwrap_err();
        assert_eq!(e.code, "CallbackTimeoutException");
    }

    #[test]
    fn chained_invokes_record_their_outcome_once() {
        let mut r = rec();
        let mut fx = Effects::default();
        for id in ["ok", "bad"] {
            apply(
                &mut r,
                0,
                &json!({"Id": id, "Type": "CHAINED_INVOKE", "Action": "START",
                                     "ChainedInvokeOptions": {"FunctionName": "g"}}),
                &cb,
                &mut fx,
            )
            .unwrap();
        }
        let due = fire_timers(&mut r, 1);
        assert_eq!(due.len(), 2);
        chained_done(&mut r, 5, "ok", true, "\"r\"".into());
        chained_done(
            &mut r,
            6,
            "bad",
            false,
            r#"{"errorType":"E","errorMessage":"m"}"#.into(),
        );
        // A second outcome (a run repeated after a crash) changes nothing.
        chained_done(&mut r, 7, "ok", false, "{}".into());
        let ops = operations(&r);
        assert_eq!(ops[1]["Status"], "SUCCEEDED");
        assert_eq!(ops[1]["ChainedInvokeDetails"]["Result"], "\"r\"");
        assert_eq!(ops[1]["EndTimestamp"], 0.005);
        assert!(ops[1].get("_invoke").is_none() && ops[1].get("_due_ms").is_none());
        assert_eq!(ops[2]["Status"], "FAILED");
        assert_eq!(
            ops[2]["ChainedInvokeDetails"]["Error"],
            json!({"ErrorType": "E", "ErrorMessage": "m"})
        );
        assert_eq!(r.changed, ["ok", "bad"]);
        assert_eq!(r.due_ms, Some(6));
        let kinds = event_kinds(&r);
        assert_eq!(
            kinds,
            [
                "ChainedInvokeStarted",
                "ChainedInvokeStarted",
                "ChainedInvokeSucceeded",
                "ChainedInvokeFailed"
            ]
        );
        assert_eq!(next_timer(&r), None);
    }

    #[test]
    fn the_input_carries_a_first_page_and_a_marker() {
        let small: Vec<Value> = (0..3)
            .map(|i| json!({"Id": format!("s{i}"), "Type": "STEP", "StartTimestamp": 1.5}))
            .collect();
        let (page, next) = input_page(&small);
        assert_eq!(page.len(), 3);
        assert_eq!(next, None);
        assert_eq!(page[0]["StartTimestamp"], 1500);
        let many: Vec<Value> = (0..INPUT_PAGE_OPERATIONS + 5)
            .map(|i| json!({"Id": format!("s{i}"), "Type": "STEP"}))
            .collect();
        let (page, next) = input_page(&many);
        assert_eq!(page.len(), INPUT_PAGE_OPERATIONS);
        assert_eq!(next.as_deref(), Some("1000"));
        let big = "x".repeat(INPUT_PAGE_BYTES / 2);
        let large: Vec<Value> = (0..4)
            .map(|i| json!({"Id": format!("s{i}"), "StepDetails": {"Result": big}}))
            .collect();
        let (page, next) = input_page(&large);
        assert_eq!(page.len(), 1);
        assert_eq!(next.as_deref(), Some("1"));
    }

    #[test]
    fn the_execution_ends_once() {
        let mut r = rec();
        let mut fx = Effects::default();
        apply(
            &mut r,
            7,
            &json!({"Id": "e1", "Type": "EXECUTION", "Action": "SUCCEED", "Payload": "\"done\""}),
            &cb,
            &mut fx,
        )
        .unwrap();
        assert!(fx.ended);
        assert_eq!(r.status, "SUCCEEDED");
        assert_eq!(r.result.as_deref(), Some("\"done\""));
        finish(&mut r, 8, "STOPPED", None, None);
        assert_eq!(r.status, "SUCCEEDED");
        assert_eq!(operations(&r)[0]["Status"], "SUCCEEDED");
    }
}

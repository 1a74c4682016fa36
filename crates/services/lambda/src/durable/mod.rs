//! Durable executions of functions created with `DurableConfig`: each invocation starts an
//! execution (a [`DurableExecution`] record keyed outside the partitions), the function is
//! invoked with the durable-execution SDK's input (`DurableExecutionArn`, `CheckpointToken`,
//! `InitialExecutionState`), checkpoints its operations (CheckpointDurableExecution), and ends
//! it by its answer (`SUCCEEDED`, `FAILED`, or `PENDING` to be invoked again when a wait ends,
//! a step's retry is due or a callback completes). Timers are absolute deadlines in the record,
//! fired by a sweeper ([`run`]), so an execution survives a restart; callbacks are found by
//! their id through a [`DurableCallback`] record.
//!
//! The operations here: GetDurableExecution, GetDurableExecutionHistory,
//! GetDurableExecutionState, ListDurableExecutionsByFunction, CheckpointDurableExecution,
//! StopDurableExecution, SendDurableExecutionCallbackSuccess/Failure/Heartbeat.

mod checkpoint;
mod run;

#[cfg(test)]
pub(crate) use checkpoint::CLIENT_TOKEN_MS;
pub(crate) mod state;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_service::RequestContext;

use crate::model::{Config, DurableCallback, DurableExecution, LambdaRecord, keys};
use crate::names::function_arn;
use crate::ops::{Done, s};
use crate::{LResult, Lambda, LambdaError};

/// Whether a configuration is a durable function's.
pub fn is_durable(c: &Config) -> bool {
    crate::ops::managed::extra_member(c, "DurableConfig").is_some()
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION/durable-execution/NAME/ID`.
pub fn execution_arn(rec: &DurableExecution) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{}:{}/durable-execution/{}/{}",
        rec.region, rec.account, rec.function, rec.version, rec.name, rec.id
    )
}

/// The execution id an execution ARN ends with.
fn id_of(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once("/durable-execution/")?;
    let (_, id) = rest.split_once('/')?;
    (!id.is_empty()).then_some(id)
}

pub fn token(id: &str, n: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{n}"))
}

/// The execution and number a checkpoint token names.
fn parse_token(t: &str) -> Option<(String, u64)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, n) = text.rsplit_once(':')?;
    Some((id.to_string(), n.parse().ok()?))
}

pub fn callback_id(exec: &str, op: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{exec}:{op}"))
}

fn not_found(arn: &str) -> LambdaError {
    LambdaError::not_found(format!("Durable execution not found: {arn}"))
}

fn bad_token() -> LambdaError {
    LambdaError::invalid("Invalid checkpoint token.")
}

fn error_object(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(json!({}))
}

/// An event's payloads as GetDurableExecutionHistory shows them: without
/// `IncludeExecutionData`, the payloads of inputs and results are left out and flagged
/// `Truncated` (as Lambda documents the flag); payloads shown (and errors, always shown) are
/// `Truncated: false`, as the service's own limits keep every stored payload whole.
fn truncate_event(event: &mut Value, include_data: bool) {
    let Some(o) = event.as_object_mut() else {
        return;
    };
    for (_, details) in o.iter_mut().filter(|(k, _)| k.ends_with("Details")) {
        for k in ["Input", "Result", "Error"] {
            let Some(p) = details.get_mut(k).and_then(Value::as_object_mut) else {
                continue;
            };
            let omit = !include_data && k != "Error" && p.remove("Payload").is_some();
            p.insert("Truncated".into(), json!(omit));
        }
    }
}

/// Paging by position: (start, page size) of a `Marker`/`MaxItems` input.
fn page(input: &Value, default: usize) -> (usize, usize) {
    let max = input
        .get("MaxItems")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map_or(default, |n| n.min(1000) as usize);
    let start = s(input, "Marker")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(0);
    (start, max)
}

impl Lambda {
    /// The execution an ARN names, in the caller's account and region.
    pub(crate) fn durable(&self, ctx: &RequestContext, arn: &str) -> LResult<DurableExecution> {
        let id = id_of(arn).ok_or_else(|| not_found(arn))?;
        match self.store.snapshot().get(&keys::durable(id)) {
            Some(LambdaRecord::DurableExecution(d))
                if d.account == ctx.account()
                    && d.region == ctx.region()
                    && execution_arn(d) == arn =>
            {
                Ok(d.clone())
            }
            _ => Err(not_found(arn)),
        }
    }

    fn durable_summary(&self, d: &DurableExecution) -> Value {
        let mut o = json!({
            "DurableExecutionArn": execution_arn(d),
            "DurableExecutionName": d.name,
            "FunctionArn": format!("arn:aws:lambda:{}:{}:function:{}:{}", d.region, d.account, d.function, d.version),
            "Status": d.status,
            "StartTimestamp": state::secs(d.started_ms),
        });
        if let Some(e) = d.ended_ms {
            o["EndTimestamp"] = state::secs(e);
        }
        o
    }

    pub(crate) fn get_durable_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let d = self.durable(ctx, s(input, "DurableExecutionArn").unwrap_or(""))?;
        let mut o = self.durable_summary(&d);
        o["InputPayload"] = json!(d.input);
        o["Version"] = json!(d.version);
        if let Some(r) = &d.result {
            o["Result"] = json!(r);
        }
        if let Some(e) = &d.error {
            o["Error"] = serde_json::from_str(e).unwrap_or(json!({}));
        }
        Ok(Done::read(o))
    }

    pub(crate) fn durable_history(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let d = self.durable(ctx, s(input, "DurableExecutionArn").unwrap_or(""))?;
        let data = input.get("IncludeExecutionData").and_then(Value::as_bool) == Some(true);
        let mut events: Vec<Value> = d
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let mut v: Value = serde_json::from_str(e).ok()?;
                v["EventId"] = json!(i + 1);
                truncate_event(&mut v, data);
                Some(v)
            })
            .collect();
        if input.get("ReverseOrder").and_then(Value::as_bool) == Some(true) {
            events.reverse();
        }
        let (start, max) = page(input, 100);
        let start = start.min(events.len());
        let part: Vec<Value> = events.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "Events": part });
        if start + max < events.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn durable_state(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let d = self.durable(ctx, s(input, "DurableExecutionArn").unwrap_or(""))?;
        match parse_token(s(input, "CheckpointToken").unwrap_or("")) {
            Some((id, n)) if id == d.id && n <= d.token => {}
            _ => return Err(bad_token()),
        }
        let ops: Vec<Value> = state::operations(&d).iter().map(state::public).collect();
        let (start, max) = page(input, 100);
        let start = start.min(ops.len());
        let part: Vec<Value> = ops.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "Operations": part });
        if start + max < ops.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn list_durables(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = crate::ops::fn_ref(ctx, input)?;
        self.get_function(ctx, &r.name)?;
        let version = match r.qualifier.as_deref() {
            None => None,
            Some(q) if q == "$LATEST" || crate::names::is_version(q) => Some(q.to_string()),
            Some(alias) => Some(self.get_alias(ctx, &r.name, alias)?.function_version),
        };
        let statuses: Vec<&str> = input
            .get("Statuses")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let name = s(input, "DurableExecutionName");
        let ms = |k: &str| {
            input
                .get(k)
                .and_then(Value::as_f64)
                .map(|t| (t * 1000.0) as u64)
        };
        let (after, before) = (ms("StartedAfter"), ms("StartedBefore"));
        let mut all: Vec<DurableExecution> = self
            .store
            .snapshot()
            .scan_prefix(&keys::durables())
            .filter_map(|(_, rec)| match rec {
                LambdaRecord::DurableExecution(d)
                    if d.account == ctx.account()
                        && d.region == ctx.region()
                        && d.function == r.name
                        && version.as_ref().is_none_or(|v| *v == d.version)
                        && (statuses.is_empty() || statuses.contains(&d.status.as_str()))
                        && name.is_none_or(|n| n == d.name)
                        && after.is_none_or(|a| d.started_ms > a)
                        && before.is_none_or(|b| d.started_ms < b) =>
                {
                    Some(d.clone())
                }
                _ => None,
            })
            .collect();
        all.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        if input.get("ReverseOrder").and_then(Value::as_bool) == Some(true) {
            all.reverse();
        }
        let (start, max) = page(input, 100);
        let start = start.min(all.len());
        let part: Vec<Value> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|d| self.durable_summary(d))
            .collect();
        let mut out = json!({ "DurableExecutions": part });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn stop_durable(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let arn = s(input, "DurableExecutionArn").unwrap_or("").to_string();
        let d = self.durable(ctx, &arn)?;
        let now = self.now();
        let error = error_object(input.get("Error"));
        let (res, v) = self.store.write(|txn| {
            let Some(LambdaRecord::DurableExecution(mut rec)) =
                txn.get(&keys::durable(&d.id)).cloned()
            else {
                return Err(not_found(&arn));
            };
            if rec.status != "RUNNING" {
                return Err(LambdaError::invalid(format!(
                    "The durable execution is not running (status {}).",
                    rec.status
                )));
            }
            state::finish(&mut rec, now, "STOPPED", None, Some(error.clone()));
            txn.insert(keys::durable(&d.id), LambdaRecord::DurableExecution(rec));
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({ "StopTimestamp": state::secs(now) }), v))
    }

    /// The execution and operation of a callback id (in the caller's account).
    fn callback(&self, ctx: &RequestContext, id: &str) -> LResult<DurableCallback> {
        match self.store.snapshot().get(&keys::callback(id)) {
            Some(LambdaRecord::DurableCallback(c)) if c.account == ctx.account() => Ok(c.clone()),
            _ => Err(LambdaError::invalid(format!("Invalid callback id: {id}"))),
        }
    }

    pub(crate) fn callback_done(
        &self,
        ctx: &RequestContext,
        input: &Value,
        status: &str,
    ) -> LResult<Done> {
        let cb = self.callback(ctx, s(input, "CallbackId").unwrap_or(""))?;
        let result = match s(input, "Result") {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|_| LambdaError::invalid("The result is not valid base64"))?,
            ),
            None => None,
        };
        let error = (status == "FAILED").then(|| error_object(input.get("Error")));
        let now = self.now();
        let (res, v) = self.store.write(|txn| {
            let Some(LambdaRecord::DurableExecution(mut rec)) =
                txn.get(&keys::durable(&cb.execution)).cloned()
            else {
                return Err(LambdaError::invalid(
                    "The callback's execution no longer exists.",
                ));
            };
            state::complete_callback(
                &mut rec,
                now,
                &cb.operation,
                status,
                result.clone(),
                error.clone(),
            )?;
            txn.insert(
                keys::durable(&cb.execution),
                LambdaRecord::DurableExecution(rec),
            );
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({}), v))
    }

    pub(crate) fn callback_heartbeat(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let cb = self.callback(ctx, s(input, "CallbackId").unwrap_or(""))?;
        let now = self.now();
        let (res, v) = self.store.write(|txn| {
            let Some(LambdaRecord::DurableExecution(mut rec)) =
                txn.get(&keys::durable(&cb.execution)).cloned()
            else {
                return Err(LambdaError::invalid(
                    "The callback's execution no longer exists.",
                ));
            };
            let mut ops = state::operations(&rec);
            let Some(op) = ops
                .iter_mut()
                .find(|o| o.get("Id").and_then(Value::as_str) == Some(cb.operation.as_str()))
            else {
                return Err(LambdaError::invalid("The callback does not exist."));
            };
            match op["Status"].as_str() {
                Some("STARTED") if rec.status == "RUNNING" => {}
                Some("TIMED_OUT") => {
                    return Err(LambdaError::new(
                        400,
                        "CallbackTimeoutException",
                        "The callback has timed out.",
                    ));
                }
                _ => return Err(LambdaError::invalid("The callback has already completed.")),
            }
            if let Some(h) = op.get("_heartbeat_s").and_then(Value::as_u64) {
                op["_heartbeat_ms"] = json!(now + h * 1000);
            }
            state::set_operations(&mut rec, &ops);
            txn.insert(
                keys::durable(&cb.execution),
                LambdaRecord::DurableExecution(rec),
            );
            Ok(())
        });
        res?;
        Ok(Done::wrote(json!({}), v))
    }

    /// The function ARN an execution runs (with its version).
    pub(crate) fn durable_function_arn(
        &self,
        ctx: &RequestContext,
        d: &DurableExecution,
    ) -> String {
        function_arn(ctx, &d.function, Some(&d.version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_payloads_are_flagged_when_left_out() {
        let e = json!({"EventType": "StepSucceeded",
                       "StepSucceededDetails": {"Result": {"Payload": "42"}}});
        let mut with = e.clone();
        truncate_event(&mut with, true);
        assert_eq!(
            with["StepSucceededDetails"]["Result"],
            json!({"Payload": "42", "Truncated": false})
        );
        let mut without = e;
        truncate_event(&mut without, false);
        assert_eq!(
            without["StepSucceededDetails"]["Result"],
            json!({"Truncated": true})
        );
        let mut failed = json!({"EventType": "StepFailed",
                                "StepFailedDetails": {"Error": {"Payload": {"ErrorType": "E"}}}});
        truncate_event(&mut failed, false);
        assert_eq!(failed["StepFailedDetails"]["Error"]["Truncated"], false);
        assert_eq!(
            failed["StepFailedDetails"]["Error"]["Payload"]["ErrorType"],
            "E"
        );
        let mut started =
            json!({"EventType": "WaitStarted", "WaitStartedDetails": {"Duration": 5}});
        truncate_event(&mut started, false);
        assert_eq!(started["WaitStartedDetails"], json!({"Duration": 5}));
    }

    #[test]
    fn tokens_and_arns_round_trip() {
        let t = token("abc-1", 7);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        assert_eq!(parse_token(&t), Some(("abc-1".to_string(), 7)));
        assert_eq!(parse_token("!!"), None);
        assert_eq!(
            id_of(
                "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/n/abc"
            ),
            Some("abc")
        );
        assert_eq!(
            id_of("arn:aws:lambda:us-east-1:000000000000:function:f"),
            None
        );
    }
}

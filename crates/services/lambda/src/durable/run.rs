//! Running durable executions: starting one on Invoke, invoking the function with the SDK's
//! input and acting on its answer, and the sweeper that fires timers, runs chained invokes,
//! times executions out, re-invokes the ones that are due and forgets the ones past their
//! retention. An invocation in flight pushes `due_ms` past the function's timeout, so one cut
//! short by a crash runs again after the restart.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_service::{RequestContext, Runtime};

use super::{execution_arn, state, token};
use crate::model::{Config, DurableExecution, LambdaRecord, keys};
use crate::names::{FnRef, LATEST_PUBLISHED};
use crate::ops::Done;
use crate::{LResult, Lambda, LambdaError, NAME};

const SWEEP: Duration = Duration::from_millis(250);
/// The longest a synchronous invocation waits for its execution (AWS: 15 minutes).
const SYNC_LIMIT_S: u64 = 900;

/// Executions being invoked now (their ids are unique, so one set serves every instance).
fn running() -> &'static Mutex<HashSet<String>> {
    static R: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn claim(id: &str) -> bool {
    running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.to_string())
}

fn release(id: &str) {
    running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
}

fn ctx_for(account: &str, region: &str, request_id: String) -> RequestContext {
    RequestContext {
        access_key: account.to_string(),
        partition: snapstack_engine::Partition::new(account, region),
        scope_service: None,
        request_id,
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Lambda {
    /// Invoke of a durable function: a new execution (or the running one of the same name and
    /// input), run now (RequestResponse, waiting for its end) or by the sweeper (Event).
    pub(crate) async fn start_durable(
        &self,
        ctx: &RequestContext,
        r: &FnRef,
        config: &Config,
        kind: &str,
        payload: Vec<u8>,
        name: Option<&str>,
    ) -> LResult<Done> {
        let dc = crate::ops::managed::extra_member(config, "DurableConfig").unwrap_or(json!({}));
        let timeout_s = dc
            .get("ExecutionTimeout")
            .and_then(Value::as_u64)
            .unwrap_or(86_400);
        let retention = dc
            .get("RetentionPeriodInDays")
            .and_then(Value::as_u64)
            .unwrap_or(14) as u32;
        if kind == "RequestResponse" && timeout_s > SYNC_LIMIT_S {
            return Err(LambdaError::invalid(
                "You cannot synchronously invoke a durable function with an executionTimeout greater than 15 minutes.",
            ));
        }
        if let Some(n) = name
            && !valid_name(n)
        {
            return Err(LambdaError::invalid(format!(
                "Invalid DurableExecutionName: {n}"
            )));
        }
        let id = self.uuid();
        let now = self.now();
        let input = String::from_utf8_lossy(&payload).into_owned();
        let mut rec = DurableExecution {
            id: id.clone(),
            account: ctx.account().into(),
            region: ctx.region().into(),
            function: r.name.clone(),
            // `$LATEST.PUBLISHED` stays the execution's version (as GetDurableExecution
            // reports it) and is resolved at each invocation, as `$LATEST` is.
            version: match r.qualifier.as_deref() {
                Some(q) if q == LATEST_PUBLISHED => q.to_string(),
                _ => config.version.clone(),
            },
            qualifier: r.qualifier.clone(),
            name: name.map_or_else(|| id.clone(), String::from),
            input: input.clone(),
            status: "RUNNING".into(),
            result: None,
            error: None,
            started_ms: now,
            ended_ms: None,
            deadline_ms: now + timeout_s * 1000,
            retention_days: retention,
            operations: vec![
                json!({
                    "Id": id,
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": state::secs(now),
                    "ExecutionDetails": { "InputPayload": input },
                })
                .to_string(),
            ],
            events: Vec::new(),
            token: 0,
            due_ms: (kind != "RequestResponse").then_some(now),
            changed: Vec::new(),
            invocations: 0,
        };
        state::event(
            &mut rec,
            now,
            "ExecutionStarted",
            None,
            json!({"Input": {"Payload": input}, "ExecutionTimeout": timeout_s}),
        );
        let sync = kind == "RequestResponse";
        if sync {
            claim(&id);
        }
        let (res, v) = self.store.write(|txn| {
            if let Some(n) = name {
                let same = txn
                    .scan_prefix(&keys::durables())
                    .find_map(|(_, x)| match x {
                        LambdaRecord::DurableExecution(d)
                            if d.account == rec.account
                                && d.region == rec.region
                                && d.function == rec.function
                                && d.name == n =>
                        {
                            Some(d.clone())
                        }
                        _ => None,
                    });
                if let Some(d) = same {
                    if d.input == rec.input && d.status == "RUNNING" {
                        return Ok(d);
                    }
                    return Err(LambdaError::conflict(format!(
                        "A durable execution with name {n} already exists: {}",
                        execution_arn(&d)
                    )));
                }
            }
            txn.insert(
                keys::durable(&rec.id),
                LambdaRecord::DurableExecution(rec.clone()),
            );
            Ok(rec.clone())
        });
        let rec = match res {
            Ok(r) => r,
            Err(e) => {
                release(&id);
                return Err(e);
            }
        };
        let arn = execution_arn(&rec);
        if !sync {
            return Ok(Done::wrote(
                json!({ "StatusCode": 202, "DurableExecutionArn": arn }),
                v,
            ));
        }
        if rec.id == id {
            if let Some(rt) = self.runtime.get().cloned() {
                let _ = rt.wait_durable(NAME, v).await;
            }
            self.invoke_durable(&rec.id).await;
            release(&id);
        } else {
            release(&id);
        }
        // Wait for the end (later invocations run from the sweeper).
        let end = self.now() + SYNC_LIMIT_S * 1000;
        let done = loop {
            match self.store.snapshot().get(&keys::durable(&rec.id)) {
                Some(LambdaRecord::DurableExecution(d)) if d.status != "RUNNING" => {
                    break d.clone();
                }
                Some(LambdaRecord::DurableExecution(_)) if self.now() < end => {}
                _ => {
                    return Err(LambdaError::service(format!(
                        "The durable execution {arn} did not end in time"
                    )));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut out = json!({
            "StatusCode": 200,
            "ExecutedVersion": done.version,
            "DurableExecutionArn": arn,
        });
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        if done.status == "SUCCEEDED" {
            out["Payload"] = json!(b64(done.result.as_deref().unwrap_or("")));
        } else {
            let e: Value = done
                .error
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or(json!({}));
            let doc = json!({
                "errorType": e.get("ErrorType").cloned().unwrap_or(json!(done.status)),
                "errorMessage": e.get("ErrorMessage").cloned().unwrap_or(json!("")),
            });
            out["Payload"] = json!(b64(&doc.to_string()));
            out["FunctionError"] = json!("Unhandled");
        }
        Ok(Done::read(out))
    }

    /// One invocation of an execution: a new checkpoint token, the SDK's input, the answer.
    pub(crate) async fn invoke_durable(&self, id: &str) {
        let now = self.now();
        let Some(LambdaRecord::DurableExecution(rec)) =
            self.store.snapshot().get(&keys::durable(id)).cloned()
        else {
            return;
        };
        if rec.status != "RUNNING" {
            return;
        }
        let ctx = ctx_for(&rec.account, &rec.region, self.uuid());
        let r = FnRef {
            name: rec.function.clone(),
            qualifier: Some(rec.version.clone()),
        };
        let Ok((config, reserved)) = self.target(&ctx, &r) else {
            let (_, _) = self.store.write(|txn| {
                if let Some(LambdaRecord::DurableExecution(mut d)) = txn.get(&keys::durable(id)).cloned() {
                    let e = json!({"ErrorType": "ResourceNotFoundException", "ErrorMessage": "The function of the execution no longer exists."});
                    state::finish(&mut d, now, "FAILED", None, Some(e));
                    txn.insert(keys::durable(id), LambdaRecord::DurableExecution(d));
                }
            });
            return;
        };
        let Ok(slot) = self.slot(&ctx, &rec.function, reserved) else {
            self.store.write(|txn| {
                if let Some(LambdaRecord::DurableExecution(mut d)) =
                    txn.get(&keys::durable(id)).cloned()
                {
                    d.due_ms = Some(now + 1000);
                    txn.insert(keys::durable(id), LambdaRecord::DurableExecution(d));
                }
            });
            return;
        };
        // A new token; the attempt is due again after the function's timeout unless it ends.
        let guard = now + u64::from(config.timeout) * 1000 + 5000;
        let (claimed, v) = self.store.write(|txn| {
            let Some(LambdaRecord::DurableExecution(mut d)) = txn.get(&keys::durable(id)).cloned()
            else {
                return None;
            };
            if d.status != "RUNNING" {
                return None;
            }
            d.token += 1;
            d.invocations += 1;
            d.changed.clear();
            d.due_ms = Some(guard);
            txn.insert(keys::durable(id), LambdaRecord::DurableExecution(d.clone()));
            Some(d)
        });
        let Some(d) = claimed else {
            return;
        };
        if let Some(rt) = self.runtime.get().cloned() {
            let _ = rt.wait_durable(NAME, v).await;
        }
        let (ops, next) = state::input_page(&state::operations(&d));
        let payload = json!({
            "DurableExecutionArn": execution_arn(&d),
            "CheckpointToken": token(&d.id, d.token),
            "InitialExecutionState": { "Operations": ops, "NextMarker": next.unwrap_or_default() },
        });
        let started = self.now();
        let request_id = self.uuid();
        let arn = self.durable_function_arn(&ctx, &d);
        let out = self
            .run(
                &ctx,
                &d.function,
                &config,
                &arn,
                &request_id,
                payload.to_string().into_bytes(),
            )
            .await;
        drop(slot);
        let end = self.now();
        let answer: Option<Value> = serde_json::from_slice(&out.payload).ok();
        let (_, v) = self.store.write(|txn| {
            let Some(LambdaRecord::DurableExecution(mut d)) = txn.get(&keys::durable(id)).cloned() else {
                return;
            };
            let mut details = json!({
                "StartTimestamp": state::secs(started),
                "EndTimestamp": state::secs(end),
                "RequestId": request_id,
            });
            let failure = out.function_error.as_ref().map(|_| {
                let a = answer.clone().unwrap_or(json!({}));
                json!({
                    "ErrorType": a.get("errorType").cloned().unwrap_or(json!("Unhandled")),
                    "ErrorMessage": a.get("errorMessage").cloned().unwrap_or(json!("")),
                })
            });
            if let Some(e) = &failure {
                details["Error"] = json!({ "Payload": e });
            }
            state::event(&mut d, end, "InvocationCompleted", None, details);
            if d.status == "RUNNING" {
                match (&failure, answer.as_ref().and_then(|a| a.get("Status")).and_then(Value::as_str)) {
                    (Some(e), _) => state::finish(&mut d, end, "FAILED", None, Some(e.clone())),
                    (None, Some("SUCCEEDED")) => {
                        let result = answer
                            .as_ref()
                            .and_then(|a| a.get("Result"))
                            .and_then(Value::as_str)
                            .map(String::from);
                        state::finish(&mut d, end, "SUCCEEDED", result, None);
                    }
                    (None, Some("FAILED")) => {
                        let e = answer.as_ref().and_then(|a| a.get("Error")).cloned().unwrap_or(json!({}));
                        state::finish(&mut d, end, "FAILED", None, Some(e));
                    }
                    (None, Some("PENDING")) => d.due_ms = state::next_due(&d, end),
                    _ => {
                        let e = json!({
                            "ErrorType": "Runtime.InvalidDurableExecutionOutput",
                            "ErrorMessage": "The function's response is not a durable execution output (Status SUCCEEDED, FAILED or PENDING): is it using the durable execution SDK?",
                        });
                        state::finish(&mut d, end, "FAILED", None, Some(e));
                    }
                }
            }
            txn.insert(keys::durable(id), LambdaRecord::DurableExecution(d));
        });
        if let Some(rt) = self.runtime.get().cloned() {
            let _ = rt.wait_durable(NAME, v).await;
        }
    }

    /// One look at every execution: timeouts, timers, chained invokes, retention, due ones.
    async fn sweep_durables(self: &Arc<Self>, rt: &Arc<dyn Runtime>) {
        let now = self.now();
        self.forget_client_tokens(now);
        let all: Vec<DurableExecution> = self
            .store
            .snapshot()
            .scan_prefix(&keys::durables())
            .filter_map(|(_, r)| match r {
                LambdaRecord::DurableExecution(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        for d in all {
            if d.status != "RUNNING" {
                let keep = u64::from(d.retention_days) * 86_400_000;
                if d.ended_ms.is_some_and(|e| e + keep <= now) {
                    self.forget_durable(&d);
                }
                continue;
            }
            let timer_due = state::next_timer(&d).is_some_and(|t| t <= now);
            if now >= d.deadline_ms || timer_due {
                let (chained, _) = self.store.write(|txn| {
                    let Some(LambdaRecord::DurableExecution(mut x)) =
                        txn.get(&keys::durable(&d.id)).cloned()
                    else {
                        return Vec::new();
                    };
                    let chained = if now >= x.deadline_ms {
                        let e = json!({"ErrorType": "Execution.Timeout", "ErrorMessage": "The durable execution timed out."});
                        state::finish(&mut x, now, "TIMED_OUT", None, Some(e));
                        Vec::new()
                    } else {
                        state::fire_timers(&mut x, now)
                    };
                    txn.insert(keys::durable(&d.id), LambdaRecord::DurableExecution(x));
                    chained
                });
                for (op, target, payload) in chained {
                    let (me, rt, d) = (self.clone(), rt.clone(), d.clone());
                    tokio::spawn(async move {
                        me.chained_invoke(rt.as_ref(), &d, &op, &target, payload)
                            .await
                    });
                }
            }
            let fresh = match self.store.snapshot().get(&keys::durable(&d.id)) {
                Some(LambdaRecord::DurableExecution(x)) => x.clone(),
                _ => continue,
            };
            if fresh.status == "RUNNING" && fresh.due_ms.is_some_and(|t| t <= now) && claim(&d.id) {
                let me = self.clone();
                tokio::spawn(async move {
                    me.invoke_durable(&d.id).await;
                    release(&d.id);
                });
            }
        }
    }

    /// A CHAINED_INVOKE operation: invoke the target function and record its result.
    async fn chained_invoke(
        &self,
        rt: &dyn Runtime,
        d: &DurableExecution,
        op: &str,
        target: &str,
        payload: String,
    ) {
        let ctx = ctx_for(&d.account, &d.region, self.uuid());
        let input = json!({
            "FunctionName": target,
            "Payload": base64::engine::general_purpose::STANDARD.encode(payload.as_bytes()),
        });
        let (ok, text) = match self.call(rt, &ctx, "Invoke", &input).await {
            Ok(done) => {
                let body = done
                    .output
                    .get("Payload")
                    .and_then(Value::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                (done.output.get("FunctionError").is_none(), body)
            }
            Err(e) => (
                false,
                json!({"errorType": e.code, "errorMessage": e.message}).to_string(),
            ),
        };
        let now = self.now();
        let (_, v) = self.store.write(|txn| {
            if let Some(LambdaRecord::DurableExecution(mut x)) =
                txn.get(&keys::durable(&d.id)).cloned()
            {
                state::chained_done(&mut x, now, op, ok, text.clone());
                txn.insert(keys::durable(&d.id), LambdaRecord::DurableExecution(x));
            }
        });
        let _ = rt.wait_durable(NAME, v).await;
    }

    /// Remove an execution past its retention, with its callbacks.
    fn forget_durable(&self, d: &DurableExecution) {
        let callbacks: Vec<String> = state::operations(d)
            .iter()
            .filter_map(|o| {
                o.pointer("/CallbackDetails/CallbackId")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect();
        let tokens: Vec<_> = self
            .store
            .snapshot()
            .scan_prefix(&keys::client_tokens(&d.id))
            .map(|(k, _)| k.clone())
            .collect();
        self.store.write(|txn| {
            txn.remove(&keys::durable(&d.id));
            for c in &callbacks {
                txn.remove(&keys::callback(c));
            }
            for k in &tokens {
                txn.remove(k);
            }
        });
    }

    /// Forget the checkpoints' client tokens past their 15 minutes.
    pub(crate) fn forget_client_tokens(&self, now: u64) {
        let expired: Vec<_> = self
            .store
            .snapshot()
            .scan_prefix(&keys::all_client_tokens())
            .filter(
                |(_, r)| matches!(r, LambdaRecord::DurableClientToken(t) if t.expires_ms <= now),
            )
            .map(|(k, _)| k.clone())
            .collect();
        if !expired.is_empty() {
            self.store.write(|txn| {
                for k in &expired {
                    txn.remove(k);
                }
            });
        }
    }

    /// The sweeper task.
    pub(crate) async fn run_durables(
        self: Arc<Self>,
        rt: Arc<dyn Runtime>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SWEEP) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !rt.is_ready(NAME) {
                rt.ensure_loaded(NAME).await;
                if !rt.is_ready(NAME) {
                    continue;
                }
            }
            self.sweep_durables(&rt).await;
        }
    }
}

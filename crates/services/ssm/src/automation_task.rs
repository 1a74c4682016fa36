//! The background task that runs automation executions: a pass over the unfinished ones
//! (the `automation-active` markers of every partition), each advanced by the state machine of
//! `automation_run.rs` as far as it goes now; API calls are made between two compare-and-set
//! writes (a request that changed the execution meanwhile wins), and every change is made
//! durable as a request's would be.

use super::automation::{ACTIVE, AUTOMATION, take_signal};
use super::automation_run::{self as run, Globals, Next};
use super::objects::*;
use super::*;

impl Ssm {
    /// One pass of the background task over every unfinished execution: run each as far as it
    /// goes now. Returns how many executions changed.
    pub async fn run_automations(&self, rt: &dyn snapstack_service::Runtime) -> usize {
        let now = now_ms();
        let snap = self.store.snapshot();
        let mut due: Vec<(Partition, String)> = Vec::new();
        for p in self.partitions() {
            for (_, r) in snap.scan_prefix(&obj_prefix(&p, ACTIVE)) {
                if let SsmRecord::Ext(Ext::Object(o)) = r {
                    due.push((p.clone(), o.id.clone()));
                }
            }
        }
        drop(snap);
        let mut changed = 0;
        for (p, id) in due {
            let ctx = RequestContext {
                access_key: String::new(),
                partition: p,
                scope_service: None,
                request_id: snapstack_protocol::request::new_request_id(),
            };
            if self.run_one(rt, &ctx, &id, now).await {
                changed += 1;
            }
        }
        changed
    }

    /// Every partition that holds a record.
    fn partitions(&self) -> Vec<Partition> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut from = Bound::Unbounded;
        while let Some((k, _)) = snap.range((from.clone(), Bound::Unbounded)).next() {
            // Keys of records other than parameters continue with raw bytes right after the
            // region (`EXT_BYTE`), which a generic decoding reads into the region's string: a
            // region never holds a 0 byte, so the region is what precedes one.
            let Some(p) = Partition::of(k) else { break };
            let region = p.region.split('\0').next().unwrap_or("").to_string();
            let p = Partition::new(p.account, region);
            let next = p.prefix().prefix_range().1;
            out.push(p);
            match next {
                Bound::Excluded(n) => from = Bound::Included(n),
                _ => break,
            }
        }
        out
    }

    /// Advance one execution; whether it changed.
    async fn run_one(
        &self,
        rt: &dyn snapstack_service::Runtime,
        ctx: &RequestContext,
        id: &str,
        now: u64,
    ) -> bool {
        let Some(o) = self.obj_get(ctx, AUTOMATION, id) else {
            self.obj_delete(ctx, ACTIVE, id);
            return false;
        };
        let before = o.value();
        let mut v = before.clone();
        let wake = v.get("_Wake").and_then(Value::as_u64);
        if wake.is_none_or(|w| w > now) && v["AutomationExecutionStatus"] != "Cancelling" {
            if run::is_terminal(v["AutomationExecutionStatus"].as_str().unwrap_or("")) {
                self.obj_delete(ctx, ACTIVE, id);
            }
            return false;
        }
        let g = Globals {
            account: ctx.account(),
            region: ctx.region(),
            now,
        };
        let mut new_id = || self.time_id(now);
        let mut before = before;
        if v.get("_ChangeRequest").is_some() {
            self.advance_change_request(ctx, &mut v, now);
        } else {
            take_signal(&mut v, now);
            let mut next = run::advance(&mut v, &g, None, &mut new_id);
            // API calls: save the step's start, call, then go on from the saved record with
            // the answer; a request that changed the record meanwhile wins.
            for _ in 0..8 {
                let Next::Invoke {
                    service,
                    api,
                    input,
                } = next
                else {
                    break;
                };
                let Some(rev) = self.save_if_unchanged(ctx, id, &before, &mut v) else {
                    return true;
                };
                // The step's start is durable before its call is made.
                self.durable(rt).await;
                let answer = if service == NAME {
                    self.handle_body(ctx, &api, &Body::Json(&input))
                        .map(|o| o.value)
                } else {
                    rt.invoke(ctx, &service, &api, input).await
                };
                let Some(o) = self.obj_get(ctx, AUTOMATION, id) else {
                    return true;
                };
                let current = o.value();
                if current.get("_Rev").and_then(Value::as_u64) != Some(rev) {
                    return true;
                }
                before = current.clone();
                v = current;
                let g = Globals {
                    account: ctx.account(),
                    region: ctx.region(),
                    now: now_ms(),
                };
                next = run::advance(&mut v, &g, Some(answer), &mut new_id);
            }
        }
        if v == before {
            return false;
        }
        let saved = self.save_if_unchanged(ctx, id, &before, &mut v).is_some();
        self.durable(rt).await;
        saved
    }

    /// Wait until what the task wrote is durable (immediate unless `SAVE_STRATEGY=ON_REQUEST`),
    /// as a request's answer waits.
    async fn durable(&self, rt: &dyn snapstack_service::Runtime) {
        let version = self.store.snapshot().version();
        if let Err(e) = rt.wait_durable(NAME, version).await {
            tracing::warn!(error = %e, "an automation step's state is not durable");
        }
    }

    /// Write `v` if the stored execution is still `before` (same revision): its new revision.
    fn save_if_unchanged(
        &self,
        ctx: &RequestContext,
        id: &str,
        before: &Value,
        v: &mut Value,
    ) -> Option<u64> {
        let rev = before.get("_Rev").and_then(Value::as_u64).unwrap_or(0);
        v["_Rev"] = json!(rev + 1);
        let terminal = run::is_terminal(v["AutomationExecutionStatus"].as_str().unwrap_or(""));
        let body = v.to_string();
        let k = obj_key(&ctx.partition, AUTOMATION, id);
        let marker = obj_key(&ctx.partition, ACTIVE, id);
        let (saved, _) = self.store.write(|txn| {
            let cur = match txn.get(&k) {
                Some(SsmRecord::Ext(Ext::Object(o))) => o.clone(),
                _ => return false,
            };
            if cur.value().get("_Rev").and_then(Value::as_u64).unwrap_or(0) != rev {
                return false;
            }
            let mut o = cur;
            o.body = body;
            txn.insert(k.clone(), SsmRecord::Ext(Ext::Object(o)));
            if terminal {
                txn.remove(&marker);
            }
            true
        });
        saved.then_some(rev + 1)
    }

    /// A change request's pass: approved → scheduled → its runbook as a child execution →
    /// the runbook's outcome.
    fn advance_change_request(&self, ctx: &RequestContext, v: &mut Value, now: u64) {
        let st = v["AutomationExecutionStatus"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match st.as_str() {
            "Cancelling" => {
                if let Some(child) = v["_Child"].as_str() {
                    let _ = self
                        .stop_automation_execution(ctx, &json!({"AutomationExecutionId": child}));
                }
                run::finish(v, "Cancelled", None, now);
            }
            "Approved" | "Scheduled" => {
                let at = v
                    .get("ScheduledTime")
                    .and_then(Value::as_f64)
                    .map_or(0, |t| (t * 1000.0).max(0.0) as u64);
                if at > now {
                    v["AutomationExecutionStatus"] = json!("Scheduled");
                    v["_Wake"] = json!(at);
                    return;
                }
                let Some(rb) = v["Runbooks"].as_array().and_then(|a| a.first()).cloned() else {
                    run::finish(v, "Success", None, now);
                    return;
                };
                let mut input = rb.clone();
                input["ParentAutomationExecutionId"] = v["AutomationExecutionId"].clone();
                let started = self.start_automation_execution(ctx, &input);
                match started {
                    Ok(out) => {
                        v["_Child"] = out.value["AutomationExecutionId"].clone();
                        v["AutomationExecutionStatus"] = json!("RunbookInProgress");
                        v["_Wake"] = json!(now + 1000);
                    }
                    Err(e) => run::finish(v, "Failed", Some(&e.message), now),
                }
            }
            "RunbookInProgress" => {
                let child = v["_Child"].as_str().unwrap_or("").to_string();
                let cst = self
                    .obj_get(ctx, AUTOMATION, &child)
                    .map(|o| {
                        o.value()["AutomationExecutionStatus"]
                            .as_str()
                            .unwrap_or("")
                            .to_string()
                    })
                    .unwrap_or_else(|| "Failed".into());
                if run::is_terminal(&cst) {
                    let end = if cst == "Success" {
                        "Success"
                    } else {
                        "Failed"
                    };
                    let msg = (end == "Failed")
                        .then(|| format!("Runbook execution {child} ended in status {cst}."));
                    run::finish(v, end, msg.as_deref(), now);
                } else {
                    v["_Wake"] = json!(now + 1000);
                }
            }
            _ => {}
        }
    }
}

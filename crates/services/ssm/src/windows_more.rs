//! Maintenance windows, continued: updating a target or a task, getting a task, the windows of
//! a target, and the schedule of windows (from their cron, rate or at expressions).

use super::objects::*;
use super::schedule::{minute_iso, next_runs};
use super::windows::{
    target_json, target_key, task_json_full, task_key, window_key, window_missing,
};
use super::*;

const TASK_FIELDS: &[&str] = &[
    "Targets",
    "ServiceRoleArn",
    "TaskParameters",
    "TaskInvocationParameters",
    "MaxConcurrency",
    "MaxErrors",
    "LoggingInfo",
    "Name",
    "Description",
    "CutoffBehavior",
    "AlarmConfiguration",
];

fn target_missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Maintenance window target {id} does not exist"),
    )
}

fn task_missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Maintenance window task {id} does not exist"),
    )
}

/// Whether a window target's `Targets` (JSON text) names any of `wanted`'s values under the
/// same key.
fn targets_overlap(stored: &str, wanted: &[Value]) -> bool {
    let stored: Value = serde_json::from_str(stored).unwrap_or(json!([]));
    let stored = stored.as_array().cloned().unwrap_or_default();
    wanted.iter().any(|w| {
        stored.iter().any(|t| {
            let same_key = s(t, "Key") == s(w, "Key")
                || (s(w, "Key") == Some("InstanceIds") && s(t, "Key") == Some("InstanceIds"));
            same_key
                && arr(w, "Values")
                    .iter()
                    .any(|v| arr(t, "Values").contains(v))
        })
    })
}

impl Ssm {
    fn window_exists(&self, ctx: &RequestContext, id: &str) -> Result<WindowRec, AwsError> {
        match self.store.snapshot().get(&window_key(&ctx.partition, id)) {
            Some(SsmRecord::Ext(Ext::Window(w))) => Ok(w.clone()),
            _ => Err(window_missing(id)),
        }
    }

    pub(super) fn update_maintenance_window_target(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let wid = req(input, "WindowId")?;
        let tid = req(input, "WindowTargetId")?;
        let replace = input.get("Replace") == Some(&json!(true));
        if replace && input.get("Targets").is_none() {
            return Err(AwsError::validation(
                "Targets must be specified when Replace is true.",
            ));
        }
        let p = &ctx.partition;
        let k = target_key(p, wid, tid);
        let (r, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(wid));
            }
            let Some(SsmRecord::Ext(Ext::WindowTarget(t))) = txn.get(&k) else {
                return Err(target_missing(tid));
            };
            let mut t = t.clone();
            if let Some(v) = input.get("Targets") {
                t.targets = v.to_string();
            }
            let text = |k: &str| s(input, k).map(str::to_string);
            if replace {
                t.owner_information = text("OwnerInformation");
                t.name = text("Name");
                t.description = text("Description");
            } else {
                t.owner_information = text("OwnerInformation").or(t.owner_information);
                t.name = text("Name").or(t.name);
                t.description = text("Description").or(t.description);
            }
            txn.insert(k.clone(), SsmRecord::Ext(Ext::WindowTarget(t.clone())));
            Ok(t)
        });
        let t = r?;
        let mut out = target_json(&t);
        if let Some(m) = out.as_object_mut() {
            m.remove("ResourceType");
        }
        ok(out, Some(wv))
    }

    pub(super) fn get_maintenance_window_task(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let wid = req(input, "WindowId")?;
        let tid = req(input, "WindowTaskId")?;
        self.window_exists(ctx, wid)?;
        match self
            .store
            .snapshot()
            .get(&task_key(&ctx.partition, wid, tid))
        {
            Some(SsmRecord::Ext(Ext::WindowTask(t))) => {
                let mut v = task_json_full(t);
                if let Some(ty) = v.get("Type").cloned() {
                    v["TaskType"] = ty;
                }
                ok(v, None)
            }
            _ => Err(task_missing(tid)),
        }
    }

    pub(super) fn update_maintenance_window_task(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let wid = req(input, "WindowId")?;
        let tid = req(input, "WindowTaskId")?;
        let replace = input.get("Replace") == Some(&json!(true));
        let p = &ctx.partition;
        let k = task_key(p, wid, tid);
        let (r, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(wid));
            }
            let Some(SsmRecord::Ext(Ext::WindowTask(t))) = txn.get(&k) else {
                return Err(task_missing(tid));
            };
            let mut t = t.clone();
            let mut body = match serde_json::from_str::<Value>(&t.body) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            if replace {
                for f in TASK_FIELDS {
                    body.remove(*f);
                }
            }
            copy(&mut body, input, TASK_FIELDS);
            if let Some(a) = s(input, "TaskArn") {
                t.task_arn = a.to_string();
            }
            if let Some(pr) = input.get("Priority").and_then(Value::as_i64) {
                t.priority = pr;
            }
            t.body = Value::Object(body).to_string();
            txn.insert(k.clone(), SsmRecord::Ext(Ext::WindowTask(t.clone())));
            Ok(t)
        });
        let mut v = task_json_full(&r?);
        if let Some(m) = v.as_object_mut() {
            m.remove("Type");
        }
        ok(v, Some(wv))
    }

    pub(super) fn describe_maintenance_windows_for_target(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let rt = req(input, "ResourceType")?;
        let wanted = arr(input, "Targets");
        let max = max_results(input, 100, 100)?;
        let p = &ctx.partition;
        let snap = self.store.snapshot();
        let mut items = Vec::new();
        for (_, r) in snap.scan_prefix(&ext_key(p, "mw").build()) {
            let SsmRecord::Ext(Ext::Window(w)) = r else {
                continue;
            };
            let hit = snap
                .scan_prefix(&ext_key(p, "mwtarget").str(&w.id).build())
                .any(|(_, r)| match r {
                    SsmRecord::Ext(Ext::WindowTarget(t)) => {
                        t.resource_type == rt && targets_overlap(&t.targets, wanted)
                    }
                    _ => false,
                });
            if hit {
                items.push(json!({"WindowId": w.id, "Name": w.name}));
            }
        }
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("WindowIdentities", items, next), None)
    }

    pub(super) fn describe_maintenance_window_schedule(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 100, 100)?;
        let p = &ctx.partition;
        let snap = self.store.snapshot();
        let windows: Vec<WindowRec> = match s(input, "WindowId") {
            Some(id) => vec![self.window_exists(ctx, id)?],
            None => {
                let wanted = arr(input, "Targets");
                let rt = s(input, "ResourceType");
                snap.scan_prefix(&ext_key(p, "mw").build())
                    .filter_map(|(_, r)| match r {
                        SsmRecord::Ext(Ext::Window(w)) => Some(w.clone()),
                        _ => None,
                    })
                    .filter(|w| {
                        wanted.is_empty()
                            || snap
                                .scan_prefix(&ext_key(p, "mwtarget").str(&w.id).build())
                                .any(|(_, r)| match r {
                                    SsmRecord::Ext(Ext::WindowTarget(t)) => {
                                        rt.is_none_or(|rt| rt == t.resource_type)
                                            && targets_overlap(&t.targets, wanted)
                                    }
                                    _ => false,
                                })
                    })
                    .collect()
            }
        };
        let now = now_ms() as i64;
        let parse = |d: &Option<String>| {
            d.as_deref()
                .and_then(snapstack_protocol::codec::time::parse_iso8601)
        };
        // Enough runs of each window for the page the token asks for.
        let start_at = match s(input, "NextToken") {
            Some(t) => unhex(t)
                .and_then(|s| s.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()))
                .ok_or_else(invalid_token)?,
            None => 0,
        };
        let want = start_at.saturating_add(max).saturating_add(1).min(10_000);
        let mut runs: Vec<(i64, String, String)> = Vec::new();
        for w in windows.iter().filter(|w| w.enabled) {
            let start = parse(&w.start_date).unwrap_or(w.created_ms as i64);
            let until = parse(&w.end_date).unwrap_or(i64::MAX);
            let from = now.max(start - 1);
            for t in next_runs(&w.schedule, start, from, until, want) {
                runs.push((t, w.id.clone(), w.name.clone()));
            }
        }
        runs.sort();
        let items: Vec<Value> = runs
            .into_iter()
            .map(|(t, id, name)| json!({"WindowId": id, "Name": name, "ExecutionTime": minute_iso(t)}))
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("ScheduledWindowExecutions", items, next), None)
    }
}

//! Maintenance windows: create, get, update, delete, describe; their targets and tasks
//! (register, deregister, describe). Windows do not run here (no managed nodes); their records
//! hold what AWS answers with.

use super::commands::TargetInput;
use super::*;

/// Windows an account may have in a region, as AWS allows.
const MAX_WINDOWS: usize = 50;
const MAX_TARGETS: usize = 100;
const MAX_TASKS: usize = 20;

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct WindowInput {
    window_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    schedule: Option<String>,
    schedule_timezone: Option<String>,
    schedule_offset: Option<i64>,
    duration: Option<i64>,
    cutoff: Option<i64>,
    allow_unassociated_targets: Option<bool>,
    enabled: Option<bool>,
    replace: Option<bool>,
    client_token: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct WindowListInput {
    window_id: Option<String>,
    filters: Option<Vec<StringFilter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TargetRegInput {
    window_id: Option<String>,
    window_target_id: Option<String>,
    resource_type: Option<String>,
    targets: Option<Vec<TargetInput>>,
    owner_information: Option<String>,
    name: Option<String>,
    description: Option<String>,
    safe: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TaskRegInput {
    window_id: Option<String>,
    window_task_id: Option<String>,
    targets: Option<Vec<TargetInput>>,
    task_arn: Option<String>,
    service_role_arn: Option<String>,
    task_type: Option<String>,
    task_parameters: Option<Value>,
    task_invocation_parameters: Option<Value>,
    priority: Option<i64>,
    max_concurrency: Option<String>,
    max_errors: Option<String>,
    logging_info: Option<Value>,
    name: Option<String>,
    description: Option<String>,
    cutoff_behavior: Option<String>,
    alarm_configuration: Option<Value>,
}

pub(super) fn window_key(p: &Partition, id: &str) -> Key {
    ext_key(p, "mw").str(id).build()
}

pub(super) fn target_key(p: &Partition, window: &str, id: &str) -> Key {
    ext_key(p, "mwtarget").str(window).str(id).build()
}

pub(super) fn task_key(p: &Partition, window: &str, id: &str) -> Key {
    ext_key(p, "mwtask").str(window).str(id).build()
}

pub(super) fn window_missing(id: &str) -> AwsError {
    AwsError::new(
        "DoesNotExistException",
        format!("Maintenance window {id} does not exist"),
    )
}

fn window_json(w: &WindowRec, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("WindowId".into(), json!(w.id));
    m.insert("Name".into(), json!(w.name));
    if let Some(d) = &w.description {
        m.insert("Description".into(), json!(d));
    }
    if let Some(d) = &w.start_date {
        m.insert("StartDate".into(), json!(d));
    }
    if let Some(d) = &w.end_date {
        m.insert("EndDate".into(), json!(d));
    }
    m.insert("Schedule".into(), json!(w.schedule));
    if let Some(t) = &w.schedule_timezone {
        m.insert("ScheduleTimezone".into(), json!(t));
    }
    if let Some(o) = w.schedule_offset {
        m.insert("ScheduleOffset".into(), json!(o));
    }
    m.insert("Duration".into(), json!(w.duration));
    m.insert("Cutoff".into(), json!(w.cutoff));
    m.insert("Enabled".into(), json!(w.enabled));
    if full {
        m.insert(
            "AllowUnassociatedTargets".into(),
            json!(w.allow_unassociated_targets),
        );
        m.insert("CreatedDate".into(), json!(secs(w.created_ms)));
        m.insert("ModifiedDate".into(), json!(secs(w.modified_ms)));
    }
    Value::Object(m)
}

pub(super) fn target_json(t: &WindowTargetRec) -> Value {
    let mut m = Map::new();
    m.insert("WindowId".into(), json!(t.window_id));
    m.insert("WindowTargetId".into(), json!(t.id));
    m.insert("ResourceType".into(), json!(t.resource_type));
    m.insert(
        "Targets".into(),
        serde_json::from_str(&t.targets).unwrap_or(json!([])),
    );
    if let Some(o) = &t.owner_information {
        m.insert("OwnerInformation".into(), json!(o));
    }
    if let Some(n) = &t.name {
        m.insert("Name".into(), json!(n));
    }
    if let Some(d) = &t.description {
        m.insert("Description".into(), json!(d));
    }
    Value::Object(m)
}

/// A task as DescribeMaintenanceWindowTasks lists it (`MaintenanceWindowTask`): everything it
/// was registered with except `TaskInvocationParameters`, which only GetMaintenanceWindowTask
/// returns.
pub(super) fn task_json(t: &WindowTaskRec) -> Value {
    let mut v = task_json_full(t);
    if let Some(m) = v.as_object_mut() {
        m.remove("TaskInvocationParameters");
    }
    v
}

/// A task with everything it was registered with (GetMaintenanceWindowTask,
/// UpdateMaintenanceWindowTask).
pub(super) fn task_json_full(t: &WindowTaskRec) -> Value {
    let mut m = match serde_json::from_str::<Value>(&t.body) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("WindowId".into(), json!(t.window_id));
    m.insert("WindowTaskId".into(), json!(t.id));
    m.insert("TaskArn".into(), json!(t.task_arn));
    m.insert("Type".into(), json!(t.task_type));
    m.insert("Priority".into(), json!(t.priority));
    Value::Object(m)
}

fn check_schedule(s: &str) -> Result<(), AwsError> {
    let ok = ["cron(", "rate(", "at("].iter().any(|p| s.starts_with(p)) && s.ends_with(')');
    if !ok {
        return Err(AwsError::validation(format!(
            "Schedule expression {s} is not valid. Use a cron, rate or at expression."
        )));
    }
    Ok(())
}

fn check_cutoff(duration: i64, cutoff: i64) -> Result<(), AwsError> {
    if cutoff >= duration {
        return Err(AwsError::validation(
            "The cutoff must be less than the duration of the maintenance window.",
        ));
    }
    Ok(())
}

/// A generic `{Key, Values}` filter of maintenance window listings: the record's value for the
/// key must be one of the values.
fn window_filter_ok(
    filters: &[StringFilter],
    allowed: &[&str],
    value_of: impl Fn(&str) -> Option<String>,
) -> Result<bool, AwsError> {
    for f in filters {
        let key = f.key.as_deref().unwrap_or("");
        if !allowed.contains(&key) {
            return Err(AwsError::validation(format!(
                "The filter key {key} is not valid. Valid filter keys are: {}.",
                allowed.join(", ")
            )));
        }
        let values = f.values.as_deref().unwrap_or(&[]);
        let got = value_of(key);
        if !values.is_empty() && !got.as_ref().is_some_and(|g| values.contains(g)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A page token of the window listings. Their model names no InvalidNextToken, so a token this
/// service did not hand out is a validation error.
fn page_token(t: Option<&str>) -> Result<Option<String>, AwsError> {
    t.map(|t| {
        unhex(t).ok_or_else(|| AwsError::validation(format!("The nextToken {t} is not valid.")))
    })
    .transpose()
}

impl Ssm {
    fn window_id(&self) -> String {
        format!("mw-{:01x}{:016x}", self.random() & 0xf, self.random())
    }

    pub(super) fn create_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: WindowInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let schedule = input
            .schedule
            .ok_or_else(|| AwsError::missing("schedule"))?;
        let duration = input
            .duration
            .ok_or_else(|| AwsError::missing("duration"))?;
        let cutoff = input.cutoff.ok_or_else(|| AwsError::missing("cutoff"))?;
        let allow = input
            .allow_unassociated_targets
            .ok_or_else(|| AwsError::missing("allowUnassociatedTargets"))?;
        check_schedule(&schedule)?;
        check_cutoff(duration, cutoff)?;
        let mut tags: Vec<(String, String)> = Vec::new();
        for t in input.tags.unwrap_or_default() {
            let (k, v) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
            match tags.iter_mut().find(|(k2, _)| *k2 == k) {
                Some(e) => e.1 = v,
                None => tags.push((k, v)),
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(AwsError::new(
                "TooManyTagsError",
                "The Tags parameter contains more than 50 tags.",
            ));
        }
        let now = now_ms();
        let w = WindowRec {
            id: self.window_id(),
            name,
            description: input.description,
            schedule,
            schedule_timezone: input.schedule_timezone,
            schedule_offset: input.schedule_offset,
            start_date: input.start_date,
            end_date: input.end_date,
            duration,
            cutoff,
            allow_unassociated_targets: allow,
            enabled: true,
            created_ms: now,
            modified_ms: now,
            tags,
            client_token: input.client_token,
        };
        let p = &ctx.partition;
        let base = ext_key(p, "mw").build();
        let (result, wv) = self.store.write(|txn| {
            let mut count = 0;
            for (_, r) in txn.scan_prefix(&base) {
                let SsmRecord::Ext(Ext::Window(old)) = r else { continue };
                count += 1;
                if w.client_token.is_some() && old.client_token == w.client_token {
                    let same = old.name == w.name
                        && old.schedule == w.schedule
                        && old.duration == w.duration
                        && old.cutoff == w.cutoff;
                    return if same {
                        Ok((old.id.clone(), false))
                    } else {
                        Err(AwsError::new(
                            "IdempotentParameterMismatch",
                            "Error in parameters. You provided the same client token with different parameters.",
                        ))
                    };
                }
            }
            if count >= MAX_WINDOWS {
                return Err(AwsError::new(
                    "ResourceLimitExceededException",
                    format!("You have reached the maximum number of maintenance windows ({MAX_WINDOWS})."),
                ));
            }
            txn.insert(window_key(p, &w.id), SsmRecord::Ext(Ext::Window(w.clone())));
            Ok((w.id.clone(), true))
        });
        let (id, created) = result?;
        ok(json!({ "WindowId": id }), created.then_some(wv))
    }

    fn load_window(&self, ctx: &RequestContext, id: &str) -> Result<WindowRec, AwsError> {
        match self.store.snapshot().get(&window_key(&ctx.partition, id)) {
            Some(SsmRecord::Ext(Ext::Window(w))) => Ok(w.clone()),
            _ => Err(window_missing(id)),
        }
    }

    pub(super) fn get_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: WindowInput,
    ) -> Result<Output, AwsError> {
        let id = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let w = self.load_window(ctx, &id)?;
        ok(window_json(&w, true), None)
    }

    pub(super) fn update_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: WindowInput,
    ) -> Result<Output, AwsError> {
        let id = input
            .window_id
            .clone()
            .ok_or_else(|| AwsError::missing("windowId"))?;
        if let Some(s) = &input.schedule {
            check_schedule(s)?;
        }
        let k = window_key(&ctx.partition, &id);
        let replace = input.replace.unwrap_or(false);
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Window(mut w))) = txn.get(&k).cloned() else {
                return Err(window_missing(&id));
            };
            // Replace: the optional members not given are cleared.
            fn set<T: Clone>(field: &mut Option<T>, given: &Option<T>, replace: bool) {
                if given.is_some() || replace {
                    *field = given.clone();
                }
            }
            set(&mut w.description, &input.description, replace);
            set(&mut w.start_date, &input.start_date, replace);
            set(&mut w.end_date, &input.end_date, replace);
            set(&mut w.schedule_timezone, &input.schedule_timezone, replace);
            set(&mut w.schedule_offset, &input.schedule_offset, replace);
            if let Some(n) = &input.name {
                w.name = n.clone();
            }
            if let Some(s) = &input.schedule {
                w.schedule = s.clone();
            }
            if let Some(d) = input.duration {
                w.duration = d;
            }
            if let Some(c) = input.cutoff {
                w.cutoff = c;
            }
            check_cutoff(w.duration, w.cutoff)?;
            if let Some(a) = input.allow_unassociated_targets {
                w.allow_unassociated_targets = a;
            }
            if let Some(e) = input.enabled {
                w.enabled = e;
            }
            w.modified_ms = now_ms();
            txn.insert(k.clone(), SsmRecord::Ext(Ext::Window(w.clone())));
            Ok(w)
        });
        let w = result?;
        let mut v = window_json(&w, false);
        v["AllowUnassociatedTargets"] = json!(w.allow_unassociated_targets);
        ok(v, Some(wv))
    }

    pub(super) fn delete_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: WindowInput,
    ) -> Result<Output, AwsError> {
        let id = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let p = &ctx.partition;
        let (removed, wv) = self.store.write(|txn| {
            let removed = txn.remove(&window_key(p, &id)).is_some();
            txn.remove_prefix(&ext_key(p, "mwtarget").str(&id).build());
            txn.remove_prefix(&ext_key(p, "mwtask").str(&id).build());
            removed
        });
        ok(json!({ "WindowId": id }), removed.then_some(wv))
    }

    pub(super) fn describe_maintenance_windows(
        &self,
        ctx: &RequestContext,
        input: WindowListInput,
    ) -> Result<Output, AwsError> {
        let max = page_size(input.max_results)?;
        let filters = input.filters.unwrap_or_default();
        let after = page_token(input.next_token.as_deref())?;
        let snap = self.store.snapshot();
        let base = ext_key(&ctx.partition, "mw").build();
        let (lo, hi) = base.prefix_range();
        let lo = match &after {
            Some(id) => Bound::Excluded(window_key(&ctx.partition, id)),
            None => lo,
        };
        let mut out = Vec::new();
        let mut next = None;
        let mut last: Option<&str> = None;
        for (_, r) in snap.range((lo, hi)) {
            let SsmRecord::Ext(Ext::Window(w)) = r else {
                continue;
            };
            let keep = window_filter_ok(&filters, &["Name", "Enabled"], |k| match k {
                "Name" => Some(w.name.clone()),
                "Enabled" => Some(w.enabled.to_string()),
                _ => None,
            })?;
            if !keep {
                continue;
            }
            if out.len() == max {
                next = last.map(hex);
                break;
            }
            out.push(window_json(w, false));
            last = Some(&w.id);
        }
        let mut resp = json!({ "WindowIdentities": out });
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }

    pub(super) fn register_target_with_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: TargetRegInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let resource_type = input
            .resource_type
            .ok_or_else(|| AwsError::missing("resourceType"))?;
        let targets = input.targets.ok_or_else(|| AwsError::missing("targets"))?;
        let now = now_ms();
        let t = WindowTargetRec {
            window_id: wid.clone(),
            id: self.time_id(now),
            resource_type,
            targets: serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into()),
            owner_information: input.owner_information,
            name: input.name,
            description: input.description,
            registered_ms: now,
        };
        let p = &ctx.partition;
        let (result, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, &wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(&wid));
            }
            if txn
                .scan_prefix(&ext_key(p, "mwtarget").str(&wid).build())
                .count()
                >= MAX_TARGETS
            {
                return Err(AwsError::new(
                    "ResourceLimitExceededException",
                    format!("A maintenance window can have at most {MAX_TARGETS} targets."),
                ));
            }
            txn.insert(
                target_key(p, &wid, &t.id),
                SsmRecord::Ext(Ext::WindowTarget(t.clone())),
            );
            Ok(())
        });
        result?;
        ok(json!({ "WindowTargetId": t.id }), Some(wv))
    }

    pub(super) fn deregister_target_from_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: TargetRegInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let tid = input
            .window_target_id
            .ok_or_else(|| AwsError::missing("windowTargetId"))?;
        let p = &ctx.partition;
        let k = target_key(p, &wid, &tid);
        let (result, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, &wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(&wid));
            }
            if !txn.contains(&k) {
                return Err(AwsError::new(
                    "DoesNotExistException",
                    format!("Maintenance window target {tid} does not exist"),
                ));
            }
            if input.safe.unwrap_or(false) {
                let in_use = txn
                    .scan_prefix(&ext_key(p, "mwtask").str(&wid).build())
                    .any(|(_, r)| match r {
                        SsmRecord::Ext(Ext::WindowTask(t)) => t.body.contains(&tid),
                        _ => false,
                    });
                if in_use {
                    return Err(AwsError::new(
                        "TargetInUseException",
                        format!(
                            "Target {tid} is referenced by a task of maintenance window {wid}."
                        ),
                    ));
                }
            }
            txn.remove(&k);
            Ok(())
        });
        result?;
        ok(json!({"WindowId": wid, "WindowTargetId": tid}), Some(wv))
    }

    pub(super) fn describe_maintenance_window_targets(
        &self,
        ctx: &RequestContext,
        input: WindowListInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let max = page_size(input.max_results)?;
        let filters = input.filters.unwrap_or_default();
        let after = page_token(input.next_token.as_deref())?;
        self.load_window(ctx, &wid)?;
        let snap = self.store.snapshot();
        let p = &ctx.partition;
        let (lo, hi) = ext_key(p, "mwtarget").str(&wid).build().prefix_range();
        let lo = match &after {
            Some(id) => Bound::Excluded(target_key(p, &wid, id)),
            None => lo,
        };
        let mut out = Vec::new();
        let mut next = None;
        let mut last: Option<&str> = None;
        for (_, r) in snap.range((lo, hi)) {
            let SsmRecord::Ext(Ext::WindowTarget(t)) = r else {
                continue;
            };
            let keep = window_filter_ok(
                &filters,
                &["WindowTargetId", "Name", "OwnerInformation", "ResourceType"],
                |k| match k {
                    "WindowTargetId" => Some(t.id.clone()),
                    "Name" => t.name.clone(),
                    "OwnerInformation" => t.owner_information.clone(),
                    "ResourceType" => Some(t.resource_type.clone()),
                    _ => None,
                },
            )?;
            if !keep {
                continue;
            }
            if out.len() == max {
                next = last.map(hex);
                break;
            }
            out.push(target_json(t));
            last = Some(&t.id);
        }
        let mut resp = json!({ "Targets": out });
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }

    pub(super) fn register_task_with_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: TaskRegInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let task_arn = input.task_arn.ok_or_else(|| AwsError::missing("taskArn"))?;
        let task_type = input
            .task_type
            .ok_or_else(|| AwsError::missing("taskType"))?;
        let mut body = Map::new();
        if let Some(t) = &input.targets {
            body.insert("Targets".into(), json!(t));
        }
        let opt = |m: &mut Map<String, Value>, k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        opt(
            &mut body,
            "ServiceRoleArn",
            input.service_role_arn.map(Value::from),
        );
        opt(&mut body, "TaskParameters", input.task_parameters);
        opt(
            &mut body,
            "TaskInvocationParameters",
            input.task_invocation_parameters,
        );
        opt(
            &mut body,
            "MaxConcurrency",
            input.max_concurrency.map(Value::from),
        );
        opt(&mut body, "MaxErrors", input.max_errors.map(Value::from));
        opt(&mut body, "LoggingInfo", input.logging_info);
        opt(&mut body, "Name", input.name.map(Value::from));
        opt(&mut body, "Description", input.description.map(Value::from));
        opt(
            &mut body,
            "CutoffBehavior",
            input.cutoff_behavior.map(Value::from),
        );
        opt(&mut body, "AlarmConfiguration", input.alarm_configuration);
        let now = now_ms();
        let t = WindowTaskRec {
            window_id: wid.clone(),
            id: self.time_id(now),
            task_type,
            task_arn,
            priority: input.priority.unwrap_or(1),
            registered_ms: now,
            body: Value::Object(body).to_string(),
        };
        let p = &ctx.partition;
        let (result, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, &wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(&wid));
            }
            if txn
                .scan_prefix(&ext_key(p, "mwtask").str(&wid).build())
                .count()
                >= MAX_TASKS
            {
                return Err(AwsError::new(
                    "ResourceLimitExceededException",
                    format!("A maintenance window can have at most {MAX_TASKS} tasks."),
                ));
            }
            txn.insert(
                task_key(p, &wid, &t.id),
                SsmRecord::Ext(Ext::WindowTask(t.clone())),
            );
            Ok(())
        });
        result?;
        ok(json!({ "WindowTaskId": t.id }), Some(wv))
    }

    pub(super) fn deregister_task_from_maintenance_window(
        &self,
        ctx: &RequestContext,
        input: TaskRegInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let tid = input
            .window_task_id
            .ok_or_else(|| AwsError::missing("windowTaskId"))?;
        let p = &ctx.partition;
        let k = task_key(p, &wid, &tid);
        let (result, wv) = self.store.write(|txn| {
            if !matches!(
                txn.get(&window_key(p, &wid)),
                Some(SsmRecord::Ext(Ext::Window(_)))
            ) {
                return Err(window_missing(&wid));
            }
            if txn.remove(&k).is_none() {
                return Err(AwsError::new(
                    "DoesNotExistException",
                    format!("Maintenance window task {tid} does not exist"),
                ));
            }
            Ok(())
        });
        result?;
        ok(json!({"WindowId": wid, "WindowTaskId": tid}), Some(wv))
    }

    pub(super) fn describe_maintenance_window_tasks(
        &self,
        ctx: &RequestContext,
        input: WindowListInput,
    ) -> Result<Output, AwsError> {
        let wid = input
            .window_id
            .ok_or_else(|| AwsError::missing("windowId"))?;
        let max = page_size(input.max_results)?;
        let filters = input.filters.unwrap_or_default();
        let after = page_token(input.next_token.as_deref())?;
        self.load_window(ctx, &wid)?;
        let snap = self.store.snapshot();
        let p = &ctx.partition;
        let (lo, hi) = ext_key(p, "mwtask").str(&wid).build().prefix_range();
        let lo = match &after {
            Some(id) => Bound::Excluded(task_key(p, &wid, id)),
            None => lo,
        };
        let mut out = Vec::new();
        let mut next = None;
        let mut last: Option<&str> = None;
        for (_, r) in snap.range((lo, hi)) {
            let SsmRecord::Ext(Ext::WindowTask(t)) = r else {
                continue;
            };
            let keep = window_filter_ok(
                &filters,
                &["WindowTaskId", "TaskArn", "Type", "Priority"],
                |k| match k {
                    "WindowTaskId" => Some(t.id.clone()),
                    "TaskArn" => Some(t.task_arn.clone()),
                    "Type" => Some(t.task_type.clone()),
                    "Priority" => Some(t.priority.to_string()),
                    _ => None,
                },
            )?;
            if !keep {
                continue;
            }
            if out.len() == max {
                next = last.map(hex);
                break;
            }
            out.push(task_json(t));
            last = Some(&t.id);
        }
        let mut resp = json!({ "Tasks": out });
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }
}

/// `MaxResults` of the window listings: 10 to 100 (the model checks the range), 10 by default.
fn page_size(n: Option<i64>) -> Result<usize, AwsError> {
    match n {
        None => Ok(10),
        Some(n) if !(10..=100).contains(&n) => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 10 and 100"
        ))),
        Some(n) => Ok(n as usize),
    }
}

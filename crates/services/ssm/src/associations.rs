//! State Manager associations: create (one or a batch), describe, update, update status,
//! delete, list, versions, executions and their targets, run once, and the per-instance views.
//! No agent runs here: an execution is recorded when AWS would start one (at creation unless
//! `ApplyOnlyAtCronInterval`, and on `StartAssociationsOnce`), with the targets that are managed
//! instances registered with this service, each `Pending` (no agent ever reports).

use super::objects::*;
use super::*;

const ASSOC: &str = "assoc";
const VERSION: &str = "assocver";
const EXEC: &str = "assocexec";
/// Associations an account may have in a region (AWS's quota is 2,000 per region).
const MAX_ASSOCIATIONS: usize = 2000;

/// The members of an association that `CreateAssociation` / `UpdateAssociation` take as given.
const SETTINGS: &[&str] = &[
    "AlarmConfiguration",
    "ApplyOnlyAtCronInterval",
    "AssociationDispatchAssumeRole",
    "AssociationName",
    "AutomationTargetParameterName",
    "CalendarNames",
    "ComplianceSeverity",
    "DocumentVersion",
    "Duration",
    "MaxConcurrency",
    "MaxErrors",
    "OutputLocation",
    "Parameters",
    "ScheduleExpression",
    "ScheduleOffset",
    "SyncCompliance",
    "TargetLocations",
    "TargetMaps",
    "Targets",
];

pub(super) fn missing_association() -> AwsError {
    AwsError::new(
        "AssociationDoesNotExist",
        "The specified association does not exist.",
    )
}

fn version_id(id: &str, version: u64) -> String {
    format!("{id}/{version:010}")
}

fn check_schedule(s: &str) -> Result<(), AwsError> {
    let ok = (s.starts_with("cron(") || s.starts_with("rate(") || s.starts_with("at("))
        && s.ends_with(')');
    if !ok {
        return Err(AwsError::new(
            "InvalidSchedule",
            format!("Schedule expression {s} is not valid."),
        ));
    }
    Ok(())
}

/// The instance ids an association targets by id (`InstanceId`, or `InstanceIds` targets).
fn targeted_instances(a: &Value) -> Vec<String> {
    let mut out: Vec<String> = s(a, "InstanceId").map(str::to_string).into_iter().collect();
    for t in arr(a, "Targets") {
        if s(t, "Key") == Some("InstanceIds") {
            out.extend(
                arr(t, "Values")
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from)),
            );
        }
    }
    out
}

fn targets_instance(a: &Value, instance: &str) -> bool {
    targeted_instances(a)
        .iter()
        .any(|i| i == instance || i == "*")
}

impl Ssm {
    /// A new association from a request (or a batch entry): validated, stored with its first
    /// version and, unless it waits for its cron interval, its first execution.
    fn new_association(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<(Value, u64), AwsError> {
        let name = req(input, "Name")?;
        let snap = self.store.snapshot();
        let doc_name = documents::doc_name(ctx, name);
        let doc = documents::find_doc(&snap, ctx, &doc_name).ok_or_else(|| {
            AwsError::new("InvalidDocument", "The specified document does not exist.")
        })?;
        if let Some(v) = s(input, "DocumentVersion") {
            documents::select_version(&snap, ctx, &doc, Some(v), None).map_err(|_| {
                AwsError::new(
                    "InvalidDocumentVersion",
                    "The document version is not valid or does not exist.",
                )
            })?;
        }
        if let Some(sch) = s(input, "ScheduleExpression") {
            check_schedule(sch)?;
        }
        let instance = s(input, "InstanceId");
        if instance.is_some() && input.get("Targets").is_some() {
            return Err(AwsError::validation(
                "Specify either InstanceId or Targets, not both.",
            ));
        }
        if instance.is_none()
            && arr(input, "Targets").is_empty()
            && input.get("TargetLocations").is_none()
        {
            return Err(AwsError::new(
                "InvalidTarget",
                "The target is not valid. Specify InstanceId or Targets.",
            ));
        }
        let tags = input_tags(input)?;
        let now = now_ms();
        let id = self.time_id(now);
        let mut m = Map::new();
        copy(&mut m, input, SETTINGS);
        m.insert("Name".into(), json!(name));
        m.insert("AssociationId".into(), json!(id));
        m.insert("AssociationVersion".into(), json!("1"));
        m.insert("Date".into(), json!(secs(now)));
        m.insert("LastUpdateAssociationDate".into(), json!(secs(now)));
        m.entry("DocumentVersion").or_insert(json!("$DEFAULT"));
        if let Some(i) = instance {
            m.insert("InstanceId".into(), json!(i));
            m.insert(
                "Targets".into(),
                json!([{"Key": "InstanceIds", "Values": [i]}]),
            );
        }
        if let Some(role) = s(input, "AssociationDispatchAssumeRole") {
            m.insert("AssociationDispatchAssumeRole".into(), json!(role));
        }
        m.insert(
            "Overview".into(),
            json!({"Status": "Pending", "DetailedStatus": "Creating", "AssociationStatusAggregatedCount": {}}),
        );
        let body = Value::Object(m);
        let run_now = input.get("ApplyOnlyAtCronInterval") != Some(&json!(true));
        let p = &ctx.partition;
        let exec = run_now.then(|| self.execution(ctx, &body, now));
        let (r, wv) = self.store.write(|txn| {
            let mut count = 0;
            for (_, r) in txn.scan_prefix(&obj_prefix(p, ASSOC)) {
                let SsmRecord::Ext(Ext::Object(o)) = r else {
                    continue;
                };
                count += 1;
                let old = o.value();
                if let Some(i) = instance
                    && s(&old, "InstanceId") == Some(i)
                    && s(&old, "Name") == Some(name)
                {
                    return Err(AwsError::new(
                        "AssociationAlreadyExists",
                        "The specified association already exists.",
                    ));
                }
            }
            if count >= MAX_ASSOCIATIONS {
                return Err(AwsError::new(
                    "AssociationLimitExceeded",
                    "You can't create any more associations.",
                ));
            }
            let mut rec = ObjectRec::new(ASSOC, &id, &body);
            rec.tags = tags;
            txn.insert(obj_key(p, ASSOC, &id), SsmRecord::Ext(Ext::Object(rec)));
            let mut v = body.clone();
            v["CreatedDate"] = json!(secs(now));
            txn.insert(
                obj_key(p, VERSION, &version_id(&id, 1)),
                SsmRecord::Ext(Ext::Object(ObjectRec::new(
                    VERSION,
                    &version_id(&id, 1),
                    &v,
                ))),
            );
            if let Some(e) = &exec {
                let eid = format!("{id}/{}", s(e, "ExecutionId").unwrap_or(""));
                txn.insert(
                    obj_key(p, EXEC, &eid),
                    SsmRecord::Ext(Ext::Object(ObjectRec::new(EXEC, &eid, e))),
                );
            }
            Ok(())
        });
        r?;
        Ok((body, wv))
    }

    /// An execution of an association at `now`, with the registered managed instances it
    /// targets, each pending.
    fn execution(&self, ctx: &RequestContext, a: &Value, now: u64) -> Value {
        let registered: Vec<String> = self
            .obj_list(ctx, instances::INSTANCE)
            .into_iter()
            .map(|o| o.id)
            .collect();
        let targets: Vec<Value> = registered
            .iter()
            .filter(|i| targets_instance(a, i))
            .map(|i| {
                json!({"ResourceId": i, "ResourceType": "ManagedInstance", "Status": "Pending",
                       "DetailedStatus": "Pending", "LastExecutionDate": secs(now)})
            })
            .collect();
        let counts = if targets.is_empty() {
            "{}".to_string()
        } else {
            json!({"Pending": targets.len()}).to_string()
        };
        let status = if targets.is_empty() {
            "Success"
        } else {
            "Pending"
        };
        json!({
            "AssociationId": a["AssociationId"],
            "AssociationVersion": a["AssociationVersion"],
            "ExecutionId": self.time_id(now),
            "Status": status,
            "DetailedStatus": status,
            "CreatedTime": secs(now),
            "LastExecutionDate": secs(now),
            "ResourceCountByStatus": counts,
            "Targets": targets,
        })
    }

    pub(super) fn create_association(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let (body, wv) = self.new_association(ctx, input)?;
        ok(json!({ "AssociationDescription": body }), Some(wv))
    }

    pub(super) fn create_association_batch(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let mut ok_list = Vec::new();
        let mut failed = Vec::new();
        let mut last = None;
        for e in arr(input, "Entries") {
            let mut e = e.clone();
            if let (Some(role), Some(m)) = (
                input.get("AssociationDispatchAssumeRole"),
                e.as_object_mut(),
            ) {
                m.entry("AssociationDispatchAssumeRole")
                    .or_insert(role.clone());
            }
            match self.new_association(ctx, &e) {
                Ok((body, wv)) => {
                    ok_list.push(body);
                    last = Some(wv);
                }
                Err(err) => {
                    failed.push(json!({"Entry": e, "Message": err.message, "Fault": "Client"}))
                }
            }
        }
        ok(json!({"Successful": ok_list, "Failed": failed}), last)
    }

    /// The association a request names: by `AssociationId`, or by `Name` and `InstanceId`.
    fn find_association(&self, ctx: &RequestContext, input: &Value) -> Result<ObjectRec, AwsError> {
        if let Some(id) = s(input, "AssociationId") {
            return self.obj_get(ctx, ASSOC, id).ok_or_else(missing_association);
        }
        let (Some(name), Some(instance)) = (s(input, "Name"), s(input, "InstanceId")) else {
            return Err(missing_association());
        };
        self.obj_list(ctx, ASSOC)
            .into_iter()
            .find(|o| {
                let v = o.value();
                s(&v, "Name") == Some(name) && s(&v, "InstanceId") == Some(instance)
            })
            .ok_or_else(missing_association)
    }

    pub(super) fn describe_association(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let a = self.find_association(ctx, input)?;
        let mut body = a.value();
        if let Some(v) = s(input, "AssociationVersion") {
            let n: u64 = v.parse().map_err(|_| invalid_version())?;
            let ver = self
                .obj_get(ctx, VERSION, &version_id(&a.id, n))
                .ok_or_else(invalid_version)?;
            let mut old = ver.value();
            if let Some(m) = old.as_object_mut() {
                m.remove("CreatedDate");
                for k in [
                    "Overview",
                    "Status",
                    "Date",
                    "InstanceId",
                    "LastExecutionDate",
                ] {
                    if let Some(x) = body.get(k) {
                        m.insert(k.into(), x.clone());
                    }
                }
            }
            body = old;
        }
        ok(json!({ "AssociationDescription": body }), None)
    }

    pub(super) fn update_association(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AssociationId")?.to_string();
        if let Some(sch) = s(input, "ScheduleExpression") {
            check_schedule(sch)?;
        }
        let now = now_ms();
        let p = &ctx.partition;
        let (r, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Object(o))) = txn.get(&obj_key(p, ASSOC, &id)) else {
                return Err(missing_association());
            };
            let mut o = o.clone();
            let mut body = o.value();
            let current: u64 = s(&body, "AssociationVersion").and_then(|v| v.parse().ok()).unwrap_or(1);
            if let Some(v) = s(input, "AssociationVersion")
                && v != "$LATEST"
                && v.parse::<u64>().ok() != Some(current)
            {
                return Err(AwsError::new(
                    "InvalidAssociationVersion",
                    format!("Association version {v} is not the latest version {current} of association {id}."),
                ));
            }
            let next = current + 1;
            if let Some(m) = body.as_object_mut() {
                let mut given = Map::new();
                copy(&mut given, input, SETTINGS);
                copy(&mut given, input, &["Name"]);
                m.extend(given);
                m.insert("AssociationVersion".into(), json!(next.to_string()));
                m.insert("LastUpdateAssociationDate".into(), json!(secs(now)));
            }
            o.body = body.to_string();
            txn.insert(obj_key(p, ASSOC, &id), SsmRecord::Ext(Ext::Object(o)));
            let mut v = body.clone();
            v["CreatedDate"] = json!(secs(now));
            let vid = version_id(&id, next);
            txn.insert(obj_key(p, VERSION, &vid), SsmRecord::Ext(Ext::Object(ObjectRec::new(VERSION, &vid, &v))));
            Ok(body)
        });
        ok(json!({ "AssociationDescription": r? }), Some(wv))
    }

    pub(super) fn update_association_status(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let a = self.find_association(ctx, input)?;
        let status = input.get("AssociationStatus").cloned().unwrap_or(json!({}));
        let ((body, changed), wv) = self.obj_update(ctx, ASSOC, &a.id, |old| {
            let mut o = old.ok_or_else(missing_association)?;
            let mut body = o.value();
            if body.get("Status") == Some(&status) {
                return Ok((None, (body, false)));
            }
            body["Status"] = status.clone();
            if let Some(name) = s(&status, "Name") {
                body["Overview"]["Status"] = json!(name);
                body["Overview"]["DetailedStatus"] = json!(name);
            }
            o.body = body.to_string();
            Ok((Some(o), (body, true)))
        })?;
        if !changed {
            return Err(AwsError::new(
                "StatusUnchanged",
                "The updated status is the same as the current status.",
            ));
        }
        ok(json!({ "AssociationDescription": body }), wv)
    }

    pub(super) fn delete_association(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let a = self.find_association(ctx, input)?;
        let p = &ctx.partition;
        let (_, wv) = self.store.write(|txn| {
            txn.remove(&obj_key(p, ASSOC, &a.id));
            txn.remove_prefix(&ext_key(p, "obj").str(VERSION).str(&format!("{}/", a.id)).build());
            let execs: Vec<Key> = txn
                .scan_prefix(&obj_prefix(p, EXEC))
                .filter(|(_, r)| matches!(r, SsmRecord::Ext(Ext::Object(o)) if o.id.starts_with(&format!("{}/", a.id))))
                .map(|(k, _)| k.clone())
                .collect();
            for k in execs {
                txn.remove(&k);
            }
        });
        ok(json!({}), Some(wv))
    }

    pub(super) fn list_associations(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "AssociationFilterList");
        let mut items = Vec::new();
        for o in self.obj_list(ctx, ASSOC) {
            let v = o.value();
            let keep = filters.iter().all(|f| {
                let want = s(f, "value").unwrap_or("");
                match s(f, "key").unwrap_or("") {
                    "InstanceId" => targets_instance(&v, want),
                    "Name" => s(&v, "Name") == Some(want),
                    "AssociationId" => s(&v, "AssociationId") == Some(want),
                    "AssociationStatusName" => s(&v["Overview"], "Status") == Some(want),
                    "AssociationName" => s(&v, "AssociationName") == Some(want),
                    "ResourceGroupName" => arr(&v, "Targets").iter().any(|t| {
                        s(t, "Key") == Some("resource-groups:Name")
                            && arr(t, "Values").iter().any(|x| x == want)
                    }),
                    // Nothing has executed here: no association ran before or after a date.
                    _ => false,
                }
            });
            if keep {
                items.push(v);
            }
        }
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Associations", items, next), None)
    }

    pub(super) fn list_association_versions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AssociationId")?;
        let max = max_results(input, 50, 50)?;
        self.obj_get(ctx, ASSOC, id)
            .ok_or_else(missing_association)?;
        let prefix = format!("{id}/");
        let items: Vec<Value> = self
            .obj_list(ctx, VERSION)
            .into_iter()
            .filter(|o| o.id.starts_with(&prefix))
            .map(|o| o.value())
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("AssociationVersions", items, next), None)
    }

    fn executions(&self, ctx: &RequestContext, id: &str) -> Vec<Value> {
        let prefix = format!("{id}/");
        let mut v: Vec<Value> = self
            .obj_list(ctx, EXEC)
            .into_iter()
            .filter(|o| o.id.starts_with(&prefix))
            .map(|o| o.value())
            .collect();
        v.reverse(); // newest first, as AWS lists them
        v
    }

    pub(super) fn describe_association_executions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AssociationId")?;
        let max = max_results(input, 50, 50)?;
        self.obj_get(ctx, ASSOC, id)
            .ok_or_else(missing_association)?;
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .executions(ctx, id)
            .into_iter()
            .filter(|e| {
                filters.iter().all(|f| {
                    let want = s(f, "Value").unwrap_or("");
                    let ty = s(f, "Type").unwrap_or("EQUAL");
                    match s(f, "Key").unwrap_or("") {
                        "ExecutionId" => s(e, "ExecutionId") == Some(want),
                        "Status" => s(e, "Status") == Some(want),
                        "CreatedTime" => {
                            let at = e["CreatedTime"].as_f64().unwrap_or(0.0);
                            let Some(w) = snapstack_protocol::codec::time::parse(want)
                                .map(|t| t as f64 / 1000.0)
                            else {
                                return false;
                            };
                            match ty {
                                "LESS_THAN" => at < w,
                                "GREATER_THAN" => at > w,
                                _ => (at - w).abs() < 1.0,
                            }
                        }
                        _ => false,
                    }
                })
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("AssociationExecutions", items, next), None)
    }

    pub(super) fn describe_association_execution_targets(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "AssociationId")?;
        let exec_id = req(input, "ExecutionId")?;
        let max = max_results(input, 50, 50)?;
        self.obj_get(ctx, ASSOC, id)
            .ok_or_else(missing_association)?;
        let e = self
            .obj_get(ctx, EXEC, &format!("{id}/{exec_id}"))
            .ok_or_else(|| {
                AwsError::new(
                    "AssociationExecutionDoesNotExist",
                    "The specified execution ID does not exist. Verify the ID number and try again.",
                )
            })?
            .value();
        let filters = arr(input, "Filters");
        let items: Vec<Value> = arr(&e, "Targets")
            .iter()
            .filter(|t| {
                filters.iter().all(|f| {
                    let k = s(f, "Key").unwrap_or("");
                    s(t, k) == s(f, "Value")
                })
            })
            .map(|t| {
                let mut t = t.clone();
                t["AssociationId"] = json!(id);
                t["AssociationVersion"] = e["AssociationVersion"].clone();
                t["ExecutionId"] = json!(exec_id);
                t
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("AssociationExecutionTargets", items, next), None)
    }

    pub(super) fn start_associations_once(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let now = now_ms();
        let mut execs = Vec::new();
        for id in arr(input, "AssociationIds") {
            let id = id.as_str().unwrap_or("");
            let a = self.obj_get(ctx, ASSOC, id).ok_or_else(|| {
                AwsError::new(
                    "InvalidAssociation",
                    format!("Association {id} does not exist."),
                )
            })?;
            execs.push((id.to_string(), self.execution(ctx, &a.value(), now)));
        }
        let p = &ctx.partition;
        let (_, wv) = self.store.write(|txn| {
            for (id, e) in &execs {
                let eid = format!("{id}/{}", s(e, "ExecutionId").unwrap_or(""));
                txn.insert(
                    obj_key(p, EXEC, &eid),
                    SsmRecord::Ext(Ext::Object(ObjectRec::new(EXEC, &eid, e))),
                );
            }
        });
        ok(json!({}), (!execs.is_empty()).then_some(wv))
    }

    fn instance_associations(&self, ctx: &RequestContext, instance: &str) -> Vec<Value> {
        self.obj_list(ctx, ASSOC)
            .into_iter()
            .map(|o| o.value())
            .filter(|a| targets_instance(a, instance))
            .collect()
    }

    pub(super) fn describe_effective_instance_associations(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let instance = req(input, "InstanceId")?;
        let max = max_results(input, 5, 5)?;
        let snap = self.store.snapshot();
        let items: Vec<Value> = self
            .instance_associations(ctx, instance)
            .into_iter()
            .map(|a| {
                let name = documents::doc_name(ctx, s(&a, "Name").unwrap_or(""));
                let content = documents::find_doc(&snap, ctx, &name)
                    .and_then(|d| {
                        documents::select_version(&snap, ctx, &d, s(&a, "DocumentVersion"), None)
                            .ok()
                    })
                    .map(|v| v.content)
                    .unwrap_or_default();
                json!({"AssociationId": a["AssociationId"], "InstanceId": instance,
                       "Content": content, "AssociationVersion": a["AssociationVersion"]})
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Associations", items, next), None)
    }

    pub(super) fn describe_instance_associations_status(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let instance = req(input, "InstanceId")?;
        let max = max_results(input, 50, 50)?;
        let items: Vec<Value> = self
            .instance_associations(ctx, instance)
            .into_iter()
            .map(|a| {
                let status = s(&a["Status"], "Name").unwrap_or("Pending");
                let date = a["Status"].get("Date").cloned().unwrap_or(a["Date"].clone());
                json!({"AssociationId": a["AssociationId"], "Name": a["Name"],
                       "DocumentVersion": a["DocumentVersion"], "AssociationVersion": a["AssociationVersion"],
                       "InstanceId": instance, "ExecutionDate": date, "Status": status,
                       "DetailedStatus": status, "AssociationName": a["AssociationName"]})
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("InstanceAssociationStatusInfos", items, next), None)
    }
}

fn invalid_version() -> AwsError {
    AwsError::new(
        "InvalidAssociationVersion",
        "The version you specified is not valid. Use ListAssociationVersions to view all versions of an association according to the association ID. Or, use the $LATEST parameter to view the latest version of the association.",
    )
}

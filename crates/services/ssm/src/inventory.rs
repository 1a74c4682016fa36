//! Inventory (put, get, entries, schema, delete, deletions) and compliance (put items, list
//! items, summaries per type and per resource).
//!
//! One record per instance and inventory type (its latest capture), one per custom type's
//! schema, one per deletion; one per resource and compliance type. `PutInventory` of an
//! instance also registers it as a managed instance (what the agent's report does in AWS).
//! GetInventory aggregators are not supported: a request with them is refused with
//! `InvalidAggregatorException`.

use super::objects::*;
use super::*;

const INV: &str = "inv";
const SCHEMA: &str = "invschema";
const DELETION: &str = "invdel";
const COMPLIANCE: &str = "compliance";
/// Custom inventory types an account may define (AWS allows 20).
const MAX_CUSTOM_TYPES: usize = 20;
/// Items in one PutInventory (AWS allows 30).
const MAX_ITEMS: usize = 30;

/// AWS's inventory types and the attributes of their schemas.
const AWS_TYPES: &[(&str, &[&str])] = &[
    (
        "AWS:AWSComponent",
        &[
            "Name",
            "ApplicationType",
            "Publisher",
            "Version",
            "InstalledTime",
            "Architecture",
            "URL",
        ],
    ),
    (
        "AWS:Application",
        &[
            "Name",
            "ApplicationType",
            "Publisher",
            "Version",
            "InstalledTime",
            "Architecture",
            "URL",
            "Summary",
            "PackageId",
            "Release",
            "Epoch",
        ],
    ),
    ("AWS:BillingInfo", &["BillingProductId"]),
    (
        "AWS:ComplianceItem",
        &[
            "ComplianceType",
            "ExecutionId",
            "ExecutionType",
            "ExecutionTime",
            "Id",
            "Title",
            "Status",
            "Severity",
            "DocumentName",
            "DocumentVersion",
            "Classification",
            "PatchBaselineId",
            "PatchSeverity",
            "PatchState",
            "PatchGroup",
            "InstalledTime",
            "InstallOverrideList",
        ],
    ),
    (
        "AWS:ComplianceSummary",
        &[
            "ComplianceType",
            "PatchGroup",
            "PatchBaselineId",
            "Status",
            "OverallSeverity",
            "ExecutionId",
            "ExecutionType",
            "ExecutionTime",
            "CompliantCriticalCount",
            "CompliantHighCount",
            "CompliantMediumCount",
            "CompliantLowCount",
            "CompliantInformationalCount",
            "CompliantUnspecifiedCount",
            "NonCompliantCriticalCount",
            "NonCompliantHighCount",
            "NonCompliantMediumCount",
            "NonCompliantLowCount",
            "NonCompliantInformationalCount",
            "NonCompliantUnspecifiedCount",
        ],
    ),
    (
        "AWS:File",
        &[
            "Name",
            "Size",
            "Description",
            "FileVersion",
            "InstalledDate",
            "ModificationTime",
            "LastAccessTime",
            "ProductName",
            "InstalledDir",
            "ProductLanguage",
            "CompanyName",
            "ProductVersion",
        ],
    ),
    (
        "AWS:InstanceDetailedInformation",
        &[
            "InstanceId",
            "CPUModel",
            "CPUCores",
            "CPUs",
            "CPUSpeedMHz",
            "CPUSockets",
            "CPUHyperThreadEnabled",
            "OSServicePack",
        ],
    ),
    (
        "AWS:InstanceInformation",
        &[
            "AgentType",
            "AgentVersion",
            "ComputerName",
            "IamRole",
            "InstanceId",
            "IpAddress",
            "PlatformName",
            "PlatformType",
            "PlatformVersion",
            "ResourceType",
            "InstanceStatus",
        ],
    ),
    (
        "AWS:Network",
        &[
            "Name",
            "SubnetMask",
            "Gateway",
            "DHCPServer",
            "DNSServer",
            "MacAddress",
            "IPV4",
            "IPV6",
        ],
    ),
    (
        "AWS:PatchSummary",
        &[
            "PatchGroup",
            "BaselineId",
            "SnapshotId",
            "OwnerInformation",
            "InstalledCount",
            "InstalledPendingRebootCount",
            "InstalledOtherCount",
            "InstalledRejectedCount",
            "NotApplicableCount",
            "UnreportedNotApplicableCount",
            "MissingCount",
            "FailedCount",
            "OperationType",
            "OperationStartTime",
            "OperationEndTime",
            "RebootOption",
        ],
    ),
    ("AWS:ResourceGroup", &["Name", "Arn"]),
    (
        "AWS:Service",
        &[
            "Name",
            "DisplayName",
            "ServiceType",
            "Status",
            "DependentServices",
            "ServicesDependedOn",
            "StartType",
        ],
    ),
    ("AWS:Tag", &["Key", "Value"]),
    (
        "AWS:WindowsRegistry",
        &["KeyPath", "ValueName", "ValueType", "Value"],
    ),
    (
        "AWS:WindowsRole",
        &[
            "Name",
            "DisplayName",
            "Path",
            "FeatureType",
            "DependsOn",
            "Description",
            "Installed",
            "InstalledState",
            "SubFeatures",
            "ServerComponentDescriptor",
            "Parent",
        ],
    ),
    (
        "AWS:WindowsUpdate",
        &["HotFixId", "Description", "InstalledTime", "InstalledBy"],
    ),
];

fn invalid_type(t: &str) -> AwsError {
    AwsError::new(
        "InvalidTypeNameException",
        format!("The parameter type name {t} is not valid."),
    )
}

fn check_type(t: &str) -> Result<(), AwsError> {
    let custom = t
        .strip_prefix("Custom:")
        .is_some_and(|n| !n.is_empty() && n.len() <= 93);
    if custom || AWS_TYPES.iter().any(|(n, _)| *n == t) {
        Ok(())
    } else {
        Err(invalid_type(t))
    }
}

fn check_instance(id: &str) -> Result<(), AwsError> {
    let hex = |s: &str| (8..=17).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = id.strip_prefix("i-").is_some_and(hex) || id.strip_prefix("mi-").is_some_and(hex);
    if !ok {
        return Err(AwsError::new(
            "InvalidInstanceId",
            format!("The instance ID {id} is not valid."),
        ));
    }
    Ok(())
}

fn inv_id(instance: &str, type_name: &str) -> String {
    format!("{instance}\u{1}{type_name}")
}

/// Whether a text value passes an inventory or compliance query operator.
fn query(op: &str, got: Option<&str>, values: &[&str]) -> bool {
    let Some(g) = got else {
        return false;
    };
    let num = |s: &str| s.parse::<f64>().ok();
    values.iter().any(|w| match op {
        "NotEqual" | "NOT_EQUAL" => g != *w,
        "BeginWith" | "BEGIN_WITH" => g.starts_with(w),
        "LessThan" | "LESS_THAN" => match (num(g), num(w)) {
            (Some(a), Some(b)) => a < b,
            _ => g < *w,
        },
        "GreaterThan" | "GREATER_THAN" => match (num(g), num(w)) {
            (Some(a), Some(b)) => a > b,
            _ => g > *w,
        },
        "Exists" => true,
        _ => g == *w,
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

const SEVERITIES: &[(&str, &str)] = &[
    ("CRITICAL", "CriticalCount"),
    ("HIGH", "HighCount"),
    ("MEDIUM", "MediumCount"),
    ("LOW", "LowCount"),
    ("INFORMATIONAL", "InformationalCount"),
    ("UNSPECIFIED", "UnspecifiedCount"),
];

fn severity_rank(s: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|(n, _)| *n == s)
        .unwrap_or(SEVERITIES.len() - 1)
}

fn empty_severity() -> Value {
    Value::Object(
        SEVERITIES
            .iter()
            .map(|(_, k)| (k.to_string(), json!(0)))
            .collect(),
    )
}

impl Ssm {
    pub(super) fn put_inventory(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let instance = req(input, "InstanceId")?;
        check_instance(instance)?;
        let items = arr(input, "Items");
        if items.len() > MAX_ITEMS {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'items' failed to satisfy constraint: Member must have length less than or equal to {MAX_ITEMS}"
            )));
        }
        let mut custom_types: Vec<String> = self
            .obj_list(ctx, SCHEMA)
            .into_iter()
            .map(|o| o.id)
            .collect();
        let mut info = None;
        let mut puts = Vec::new();
        for item in items {
            let t = req(item, "TypeName")?;
            check_type(t)?;
            let content = arr(item, "Content");
            if content.iter().any(|e| !e.is_object()) {
                return Err(AwsError::new(
                    "InvalidItemContentException",
                    format!("The inventory item content of {t} is not valid."),
                ));
            }
            if t == "AWS:InstanceInformation" {
                info = content.first().cloned();
            }
            if t.starts_with("Custom:") && !custom_types.iter().any(|c| c == t) {
                if custom_types.len() >= MAX_CUSTOM_TYPES {
                    return Err(AwsError::new(
                        "CustomSchemaCountLimitExceededException",
                        format!(
                            "You have exceeded the limit for custom schemas ({MAX_CUSTOM_TYPES})."
                        ),
                    ));
                }
                custom_types.push(t.to_string());
                let mut attrs: Vec<String> = Vec::new();
                for e in content {
                    for k in e.as_object().into_iter().flat_map(|m| m.keys()) {
                        if !attrs.contains(k) {
                            attrs.push(k.clone());
                        }
                    }
                }
                let schema = json!({"TypeName": t, "Version": item["SchemaVersion"],
                    "Attributes": attrs.iter().map(|a| json!({"Name": a, "DataType": "string"})).collect::<Vec<_>>()});
                puts.push(ObjectRec::new(SCHEMA, t, &schema));
            }
            let mut body = Map::new();
            copy(
                &mut body,
                item,
                &[
                    "TypeName",
                    "SchemaVersion",
                    "CaptureTime",
                    "Content",
                    "ContentHash",
                    "Context",
                ],
            );
            body.entry("Content").or_insert(json!([]));
            puts.push(ObjectRec::new(
                INV,
                &inv_id(instance, t),
                &Value::Object(body),
            ));
        }
        let p = &ctx.partition;
        let (_, mut wv) = self.store.write(|txn| {
            for o in puts {
                txn.insert(obj_key(p, &o.kind, &o.id), SsmRecord::Ext(Ext::Object(o)));
            }
        });
        wv = wv.max(self.register_instance(ctx, instance, info.as_ref()));
        ok(json!({}), Some(wv))
    }

    /// Every inventory item, grouped by instance.
    fn inventory_by_instance(&self, ctx: &RequestContext) -> BTreeMap<String, Map<String, Value>> {
        let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for o in self.obj_list(ctx, INV) {
            let Some((instance, t)) = o.id.split_once('\u{1}') else {
                continue;
            };
            out.entry(instance.to_string())
                .or_default()
                .insert(t.to_string(), o.value());
        }
        out
    }

    pub(super) fn get_inventory(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        if !arr(input, "Aggregators").is_empty() {
            return Err(AwsError::new(
                "InvalidAggregatorException",
                "Inventory aggregators are not supported by this emulator.",
            ));
        }
        let only: Vec<&str> = arr(input, "ResultAttributes")
            .iter()
            .filter_map(|r| s(r, "TypeName"))
            .collect();
        for t in &only {
            check_type(t).map_err(|_| {
                AwsError::new(
                    "InvalidResultAttributeException",
                    format!("The result attribute type {t} is not valid."),
                )
            })?;
        }
        let filters = arr(input, "Filters");
        let mut entities = Vec::new();
        for (instance, types) in self.inventory_by_instance(ctx) {
            let mut keep = true;
            for f in filters {
                let key = req(f, "Key")?;
                let Some((t, attr)) = key.rsplit_once('.') else {
                    return Err(AwsError::new(
                        "InvalidFilter",
                        format!("The filter key {key} is not valid."),
                    ));
                };
                let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
                let op = s(f, "Type").unwrap_or("Equal");
                let hit = types.get(t).is_some_and(|item| {
                    arr(item, "Content")
                        .iter()
                        .any(|e| query(op, e.get(attr).and_then(text).as_deref(), &values))
                });
                keep &= hit;
            }
            if !keep {
                continue;
            }
            let data: Map<String, Value> = types
                .into_iter()
                .filter(|(t, _)| only.is_empty() || only.contains(&t.as_str()))
                .collect();
            if data.is_empty() {
                continue;
            }
            entities.push(json!({"Id": instance, "Data": data}));
        }
        let (items, next) = page(entities, s(input, "NextToken"), max)?;
        ok(listing("Entities", items, next), None)
    }

    pub(super) fn list_inventory_entries(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let instance = req(input, "InstanceId")?;
        let t = req(input, "TypeName")?;
        let max = max_results(input, 50, 50)?;
        check_instance(instance)?;
        check_type(t)?;
        let item = self
            .obj_get(ctx, INV, &inv_id(instance, t))
            .map(|o| o.value());
        let filters = arr(input, "Filters");
        let entries: Vec<Value> = item
            .as_ref()
            .map(|i| arr(i, "Content").to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| {
                filters.iter().all(|f| {
                    let key = s(f, "Key").unwrap_or("");
                    let attr = key.rsplit('.').next().unwrap_or(key);
                    let values: Vec<&str> =
                        arr(f, "Values").iter().filter_map(Value::as_str).collect();
                    query(
                        s(f, "Type").unwrap_or("Equal"),
                        e.get(attr).and_then(text).as_deref(),
                        &values,
                    )
                })
            })
            .collect();
        let (entries, next) = page(entries, s(input, "NextToken"), max)?;
        let mut out = json!({"InstanceId": instance, "TypeName": t, "Entries": entries});
        if let Some(i) = &item {
            out["SchemaVersion"] = i["SchemaVersion"].clone();
            out["CaptureTime"] = i["CaptureTime"].clone();
        }
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        ok(out, None)
    }

    pub(super) fn get_inventory_schema(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 200, 200)?;
        let prefix = s(input, "TypeName").unwrap_or("");
        let mut schemas: Vec<Value> = AWS_TYPES
            .iter()
            .map(|(t, attrs)| {
                json!({"TypeName": t, "Version": "1.0",
                       "Attributes": attrs.iter().map(|a| json!({"Name": a, "DataType": "string"})).collect::<Vec<_>>()})
            })
            .collect();
        schemas.extend(self.obj_list(ctx, SCHEMA).into_iter().map(|o| o.value()));
        let items: Vec<Value> = schemas
            .into_iter()
            .filter(|v| s(v, "TypeName").is_some_and(|t| t.starts_with(prefix)))
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Schemas", items, next), None)
    }

    pub(super) fn delete_inventory(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let t = req(input, "TypeName")?;
        if !t.starts_with("Custom:") {
            return Err(invalid_type(t));
        }
        if self.obj_get(ctx, SCHEMA, t).is_none() {
            return Err(invalid_type(t));
        }
        let option = s(input, "SchemaDeleteOption");
        let dry = input.get("DryRun") == Some(&json!(true));
        let items: Vec<ObjectRec> = self
            .obj_list(ctx, INV)
            .into_iter()
            .filter(|o| o.id.split_once('\u{1}').is_some_and(|(_, ty)| ty == t))
            .collect();
        let version = self
            .obj_get(ctx, SCHEMA, t)
            .and_then(|o| s(&o.value(), "Version").map(str::to_string));
        let summary = json!({"TotalCount": items.len(), "RemainingCount": if dry { items.len() } else { 0 },
            "SummaryItems": [{"Version": version, "Count": items.len(), "RemainingCount": if dry { items.len() } else { 0 }}]});
        let now = now_ms();
        let id = self.time_id(now);
        if dry {
            return ok(
                json!({"DeletionId": id, "TypeName": t, "DeletionSummary": summary}),
                None,
            );
        }
        let deletion = json!({"DeletionId": id, "TypeName": t, "DeletionStartTime": secs(now),
            "LastStatus": "Complete", "LastStatusMessage": "Deletion is successful",
            "DeletionSummary": summary, "LastStatusUpdateTime": secs(now)});
        let p = &ctx.partition;
        let (_, wv) = self.store.write(|txn| {
            for o in &items {
                txn.remove(&obj_key(p, INV, &o.id));
            }
            if option == Some("DeleteSchema") {
                txn.remove(&obj_key(p, SCHEMA, t));
            }
            txn.insert(
                obj_key(p, DELETION, &id),
                SsmRecord::Ext(Ext::Object(ObjectRec::new(DELETION, &id, &deletion))),
            );
        });
        ok(
            json!({"DeletionId": id, "TypeName": t, "DeletionSummary": summary}),
            Some(wv),
        )
    }

    pub(super) fn describe_inventory_deletions(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let items: Vec<Value> = match s(input, "DeletionId") {
            Some(id) => vec![
                self.obj_get(ctx, DELETION, id)
                    .ok_or_else(|| {
                        AwsError::new(
                            "InvalidDeletionIdException",
                            format!("The ID {id} is not valid. Verify the ID and try again."),
                        )
                    })?
                    .value(),
            ],
            None => self
                .obj_list(ctx, DELETION)
                .into_iter()
                .map(|o| o.value())
                .collect(),
        };
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("InventoryDeletions", items, next), None)
    }

    pub(super) fn put_compliance_items(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let rid = req(input, "ResourceId")?;
        let rtype = req(input, "ResourceType")?;
        let ctype = req(input, "ComplianceType")?;
        if rtype != "ManagedInstance" {
            return Err(AwsError::new(
                "InvalidResourceType",
                format!(
                    "The resource type {rtype} is not valid. Valid resource types: ManagedInstance."
                ),
            ));
        }
        check_instance(rid).map_err(|_| {
            AwsError::new(
                "InvalidResourceId",
                format!("The resource ID {rid} is not valid."),
            )
        })?;
        let summary = input.get("ExecutionSummary").cloned().unwrap_or(json!({}));
        let partial = s(input, "UploadType") == Some("PARTIAL");
        let id = format!("{rtype}\u{1}{rid}\u{1}{ctype}");
        let new_items = arr(input, "Items").to_vec();
        let (_, wv) = self.obj_update(ctx, COMPLIANCE, &id, |old| {
            let mut items = if partial {
                old.as_ref()
                    .map(|o| arr(&o.value(), "Items").to_vec())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            for it in new_items {
                match items
                    .iter_mut()
                    .find(|x| it.get("Id").is_some() && x.get("Id") == it.get("Id"))
                {
                    Some(x) => *x = it,
                    None => items.push(it),
                }
            }
            let body = json!({"ResourceId": rid, "ResourceType": rtype, "ComplianceType": ctype,
                              "ExecutionSummary": summary, "Items": items});
            Ok((Some(ObjectRec::new(COMPLIANCE, &id, &body)), ()))
        })?;
        ok(json!({}), wv)
    }

    fn compliance_records(&self, ctx: &RequestContext) -> Vec<Value> {
        self.obj_list(ctx, COMPLIANCE)
            .into_iter()
            .map(|o| o.value())
            .collect()
    }

    pub(super) fn list_compliance_items(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let ids = arr(input, "ResourceIds");
        let types = arr(input, "ResourceTypes");
        let filters = arr(input, "Filters");
        let mut out = Vec::new();
        for r in self.compliance_records(ctx) {
            if (!ids.is_empty() && !ids.contains(&r["ResourceId"]))
                || (!types.is_empty() && !types.contains(&r["ResourceType"]))
            {
                continue;
            }
            for it in arr(&r, "Items") {
                let mut v = it.clone();
                for k in [
                    "ResourceId",
                    "ResourceType",
                    "ComplianceType",
                    "ExecutionSummary",
                ] {
                    v[k] = r[k].clone();
                }
                let keep = filters.iter().all(|f| {
                    let k = s(f, "Key").unwrap_or("");
                    let values: Vec<&str> =
                        arr(f, "Values").iter().filter_map(Value::as_str).collect();
                    query(
                        s(f, "Type").unwrap_or("EQUAL"),
                        v.get(k).and_then(text).as_deref(),
                        &values,
                    )
                });
                if keep {
                    out.push(v);
                }
            }
        }
        let (items, next) = page(out, s(input, "NextToken"), max)?;
        ok(listing("ComplianceItems", items, next), None)
    }

    /// A resource's summary for one compliance type: item counts by status and severity.
    fn resource_summary(r: &Value) -> Value {
        let (mut comp, mut non) = (empty_severity(), empty_severity());
        let (mut nc, mut cc) = (0, 0);
        let mut worst: Option<usize> = None;
        for it in arr(r, "Items") {
            let sev = s(it, "Severity").unwrap_or("UNSPECIFIED");
            let key = SEVERITIES[severity_rank(sev)].1;
            if s(it, "Status") == Some("NON_COMPLIANT") {
                nc += 1;
                non[key] = json!(non[key].as_i64().unwrap_or(0) + 1);
                worst = Some(worst.map_or(severity_rank(sev), |w| w.min(severity_rank(sev))));
            } else {
                cc += 1;
                comp[key] = json!(comp[key].as_i64().unwrap_or(0) + 1);
            }
        }
        json!({
            "ResourceId": r["ResourceId"], "ResourceType": r["ResourceType"], "ComplianceType": r["ComplianceType"],
            "Status": if nc > 0 { "NON_COMPLIANT" } else { "COMPLIANT" },
            "OverallSeverity": SEVERITIES[worst.unwrap_or(SEVERITIES.len() - 1)].0,
            "ExecutionSummary": r["ExecutionSummary"],
            "CompliantSummary": {"CompliantCount": cc, "SeveritySummary": comp},
            "NonCompliantSummary": {"NonCompliantCount": nc, "SeveritySummary": non},
        })
    }

    fn summary_passes(v: &Value, filters: &[Value]) -> bool {
        filters.iter().all(|f| {
            let k = s(f, "Key").unwrap_or("");
            let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
            query(
                s(f, "Type").unwrap_or("EQUAL"),
                v.get(k).and_then(text).as_deref(),
                &values,
            )
        })
    }

    pub(super) fn list_resource_compliance_summaries(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .compliance_records(ctx)
            .iter()
            .map(Self::resource_summary)
            .filter(|v| Self::summary_passes(v, filters))
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("ResourceComplianceSummaryItems", items, next), None)
    }

    /// Per compliance type: resources compliant and not, by their overall severity.
    pub(super) fn list_compliance_summaries(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "Filters");
        let mut by_type: BTreeMap<String, (i64, i64, Value, Value)> = BTreeMap::new();
        for r in self.compliance_records(ctx) {
            let sum = Self::resource_summary(&r);
            if !Self::summary_passes(&sum, filters) {
                continue;
            }
            let e = by_type
                .entry(s(&r, "ComplianceType").unwrap_or("").to_string())
                .or_insert_with(|| (0, 0, empty_severity(), empty_severity()));
            let key =
                SEVERITIES[severity_rank(s(&sum, "OverallSeverity").unwrap_or("UNSPECIFIED"))].1;
            if s(&sum, "Status") == Some("NON_COMPLIANT") {
                e.1 += 1;
                e.3[key] = json!(e.3[key].as_i64().unwrap_or(0) + 1);
            } else {
                e.0 += 1;
                e.2[key] = json!(e.2[key].as_i64().unwrap_or(0) + 1);
            }
        }
        let items: Vec<Value> = by_type
            .into_iter()
            .map(|(t, (c, n, cs, ns))| {
                json!({"ComplianceType": t,
                       "CompliantSummary": {"CompliantCount": c, "SeveritySummary": cs},
                       "NonCompliantSummary": {"NonCompliantCount": n, "SeveritySummary": ns}})
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("ComplianceSummaryItems", items, next), None)
    }
}

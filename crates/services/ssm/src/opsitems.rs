//! OpsCenter: OpsItems (create, get, update, delete, describe with filters, related items,
//! events, a basic GetOpsSummary) and Application Manager's OpsMetadata.
//!
//! OpsItem events are the EventBridge events that made an OpsItem; nothing here sends those,
//! so ListOpsItemEvents answers an empty list for every OpsItem (its filters are checked).

use super::objects::*;
use super::*;

const OPSITEM: &str = "opsitem";
const RELATED: &str = "opsrel";
const METADATA: &str = "opsmeta";
/// Open OpsItems an account may have in a region (AWS's quota).
const MAX_OPSITEMS: usize = 500_000;
/// Keys an OpsMetadata object may hold (AWS allows 5).
const MAX_METADATA_KEYS: usize = 5;

fn item_missing(id: &str) -> AwsError {
    AwsError::new(
        "OpsItemNotFoundException",
        format!("OpsItem with id {id} does not exist."),
    )
}

fn meta_missing(arn: &str) -> AwsError {
    AwsError::new(
        "OpsMetadataNotFoundException",
        format!("OpsMetadata object {arn} does not exist."),
    )
}

fn caller(ctx: &RequestContext) -> String {
    format!("arn:aws:iam::{}:root", ctx.account())
}

const ITEM_FIELDS: &[&str] = &[
    "ActualEndTime",
    "ActualStartTime",
    "Category",
    "Description",
    "Notifications",
    "OperationalData",
    "OpsItemType",
    "PlannedEndTime",
    "PlannedStartTime",
    "Priority",
    "RelatedOpsItems",
    "Severity",
    "Source",
    "Title",
    "Status",
];

/// Whether an OpsItem passes one `OpsItemFilter`.
fn item_filter(v: &Value, f: &Value) -> bool {
    let op = s(f, "Operator").unwrap_or("Equal");
    let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
    let key = s(f, "Key").unwrap_or("");
    let field = match key {
        "OpsItemId" | "Status" | "CreatedBy" | "Source" | "Priority" | "Title" | "CreatedTime"
        | "LastModifiedTime" | "Severity" | "Category" | "OpsItemType" | "ActualStartTime"
        | "ActualEndTime" | "PlannedStartTime" | "PlannedEndTime" => v.get(key),
        "OperationalData" | "OperationalDataKey" | "OperationalDataValue" => {
            let data = v.get("OperationalData").and_then(Value::as_object);
            return values.iter().any(|want| {
                data.is_some_and(|d| match key {
                    "OperationalDataKey" => d.contains_key(*want),
                    "OperationalDataValue" => d.values().any(|x| s(x, "Value") == Some(want)),
                    _ => serde_json::from_str::<Value>(want).ok().is_some_and(|w| {
                        let k = s(&w, "key").unwrap_or("");
                        d.get(k).and_then(|x| s(x, "Value")) == s(&w, "value")
                    }),
                })
            });
        }
        _ => None,
    };
    let Some(field) = field else { return false };
    values.iter().any(|want| {
        if let Some(t) = field.as_f64() {
            let w = want.parse::<f64>().ok().or_else(|| {
                snapstack_protocol::codec::time::parse(want).map(|ms| ms as f64 / 1000.0)
            });
            let Some(w) = w else { return false };
            return match op {
                "GreaterThan" => t > w,
                "LessThan" => t < w,
                _ => t == w,
            };
        }
        let text = field.as_str().unwrap_or("");
        match op {
            "Contains" => text.contains(want),
            _ => text == *want,
        }
    })
}

impl Ssm {
    fn opsitem_id(&self) -> String {
        format!("oi-{:012x}", self.random() & 0xffff_ffff_ffff)
    }

    fn opsitem_arn(ctx: &RequestContext, id: &str) -> String {
        format!(
            "arn:aws:ssm:{}:{}:opsitem/{id}",
            ctx.region(),
            ctx.account()
        )
    }

    pub(super) fn create_ops_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        for k in ["Description", "Source", "Title"] {
            req(input, k)?;
        }
        let tags = input_tags(input)?;
        let now = now_ms();
        let id = self.opsitem_id();
        let mut m = Map::new();
        copy(&mut m, input, ITEM_FIELDS);
        m.insert("OpsItemId".into(), json!(id));
        m.insert("OpsItemArn".into(), json!(Self::opsitem_arn(ctx, &id)));
        m.insert("Status".into(), json!("Open"));
        m.insert("CreatedBy".into(), json!(caller(ctx)));
        m.insert("LastModifiedBy".into(), json!(caller(ctx)));
        m.insert("CreatedTime".into(), json!(secs(now)));
        m.insert("LastModifiedTime".into(), json!(secs(now)));
        m.insert("Version".into(), json!(self.time_id(now)));
        let dedup = input
            .get("OperationalData")
            .and_then(|d| d.get("/aws/dedup"))
            .and_then(|d| s(d, "Value"))
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .and_then(|d| s(&d, "dedupString").map(str::to_string));
        let body = Value::Object(m);
        let p = &ctx.partition;
        let (r, wv) = self.store.write(|txn| {
            let mut count = 0;
            for (_, r) in txn.scan_prefix(&obj_prefix(p, OPSITEM)) {
                let SsmRecord::Ext(Ext::Object(o)) = r else {
                    continue;
                };
                count += 1;
                let v = o.value();
                let same = dedup.is_some()
                    && s(&v, "Status") != Some("Resolved")
                    && v.get("OperationalData")
                        .and_then(|d| d.get("/aws/dedup"))
                        .and_then(|d| s(d, "Value"))
                        .and_then(|d| serde_json::from_str::<Value>(d).ok())
                        .is_some_and(|d| s(&d, "dedupString") == dedup.as_deref());
                if same {
                    return Err(AwsError::new(
                        "OpsItemAlreadyExistsException",
                        format!("The OpsItem already exists. OpsItemId: {}", o.id),
                    ));
                }
            }
            if count >= MAX_OPSITEMS {
                return Err(AwsError::new(
                    "OpsItemLimitExceededException",
                    "The request caused OpsItems to exceed one or more quotas.",
                ));
            }
            let mut rec = ObjectRec::new(OPSITEM, &id, &body);
            rec.tags = tags;
            txn.insert(obj_key(p, OPSITEM, &id), SsmRecord::Ext(Ext::Object(rec)));
            Ok(())
        });
        r?;
        ok(
            json!({"OpsItemId": id, "OpsItemArn": Self::opsitem_arn(ctx, &id)}),
            Some(wv),
        )
    }

    pub(super) fn get_ops_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "OpsItemId")?;
        let o = self
            .obj_get(ctx, OPSITEM, id)
            .ok_or_else(|| item_missing(id))?;
        ok(json!({"OpsItem": o.value()}), None)
    }

    pub(super) fn update_ops_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "OpsItemId")?;
        let now = now_ms();
        let version = self.time_id(now);
        let (_, wv) = self.obj_update(ctx, OPSITEM, id, |old| {
            let mut o = old.ok_or_else(|| item_missing(id))?;
            let mut v = o.value();
            let Some(m) = v.as_object_mut() else {
                return Ok((None, ()));
            };
            let mut given = Map::new();
            copy(&mut given, input, ITEM_FIELDS);
            if let Some(Value::Object(data)) = given.remove("OperationalData") {
                let cur = m.entry("OperationalData").or_insert(json!({}));
                if let Some(cur) = cur.as_object_mut() {
                    cur.extend(data);
                }
            }
            m.extend(given);
            for k in arr(input, "OperationalDataToDelete") {
                if let (Some(k), Some(d)) = (
                    k.as_str(),
                    m.get_mut("OperationalData").and_then(Value::as_object_mut),
                ) {
                    d.remove(k);
                }
            }
            m.insert("LastModifiedBy".into(), json!(caller(ctx)));
            m.insert("LastModifiedTime".into(), json!(secs(now)));
            m.insert("Version".into(), json!(version));
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({}), wv)
    }

    pub(super) fn delete_ops_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "OpsItemId")?;
        if !id.starts_with("oi-") {
            return Err(AwsError::new(
                "OpsItemInvalidParameterException",
                format!("The OpsItemId {id} is not valid."),
            ));
        }
        // Deleting an OpsItem that does not exist succeeds, as in AWS.
        let p = &ctx.partition;
        let (removed, wv) = self.store.write(|txn| {
            let gone = txn.remove(&obj_key(p, OPSITEM, id)).is_some();
            txn.remove_prefix(
                &ext_key(p, "obj")
                    .str(RELATED)
                    .str(&format!("{id}/"))
                    .build(),
            );
            gone
        });
        ok(json!({}), removed.then_some(wv))
    }

    pub(super) fn describe_ops_items(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "OpsItemFilters");
        let mut items: Vec<Value> = self
            .obj_list(ctx, OPSITEM)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| filters.iter().all(|f| item_filter(v, f)))
            .collect();
        // Newest first.
        items.sort_by(|a, b| {
            b["CreatedTime"]
                .as_f64()
                .partial_cmp(&a["CreatedTime"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("OpsItemSummaries", items, next), None)
    }

    pub(super) fn associate_ops_item_related_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "OpsItemId")?;
        let ty = req(input, "ResourceType")?;
        let uri = req(input, "ResourceUri")?;
        let kind = req(input, "AssociationType")?;
        self.obj_get(ctx, OPSITEM, id)
            .ok_or_else(|| item_missing(id))?;
        let prefix = format!("{id}/");
        let dup = self.obj_list(ctx, RELATED).into_iter().any(|o| {
            let v = o.value();
            o.id.starts_with(&prefix) && s(&v, "ResourceUri") == Some(uri)
        });
        if dup {
            return Err(AwsError::new(
                "OpsItemRelatedItemAlreadyExistsException",
                format!(
                    "The Amazon Resource Name (ARN) is already associated with the OpsItem. ResourceUri: {uri}, OpsItemId: {id}"
                ),
            ));
        }
        let now = now_ms();
        let assoc = self.time_id(now);
        let who = json!({"Arn": caller(ctx)});
        let body = json!({"OpsItemId": id, "AssociationId": assoc, "ResourceType": ty, "ResourceUri": uri,
                          "AssociationType": kind, "CreatedBy": who, "LastModifiedBy": who,
                          "CreatedTime": secs(now), "LastModifiedTime": secs(now)});
        let wv = self.obj_put(
            ctx,
            ObjectRec::new(RELATED, &format!("{id}/{assoc}"), &body),
        );
        ok(json!({"AssociationId": assoc}), Some(wv))
    }

    pub(super) fn disassociate_ops_item_related_item(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let id = req(input, "OpsItemId")?;
        let assoc = req(input, "AssociationId")?;
        self.obj_get(ctx, OPSITEM, id)
            .ok_or_else(|| item_missing(id))?;
        let wv = self.obj_delete(ctx, RELATED, &format!("{id}/{assoc}")).ok_or_else(|| {
            AwsError::new(
                "OpsItemRelatedItemAssociationNotFoundException",
                "The association wasn't found using the parameters you specified in the call. Verify the information and try again.",
            )
        })?;
        ok(json!({}), Some(wv))
    }

    pub(super) fn list_ops_item_related_items(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let only = s(input, "OpsItemId").map(|i| format!("{i}/"));
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .obj_list(ctx, RELATED)
            .into_iter()
            .filter(|o| only.as_ref().is_none_or(|p| o.id.starts_with(p)))
            .map(|o| o.value())
            .filter(|v| {
                filters.iter().all(|f| {
                    let k = s(f, "Key").unwrap_or("");
                    arr(f, "Values").iter().any(|w| v.get(k) == Some(w))
                })
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Summaries", items, next), None)
    }

    pub(super) fn list_ops_item_events(
        &self,
        _ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        max_results(input, 50, 50)?;
        for f in arr(input, "Filters") {
            if s(f, "Key") != Some("OpsItemId") || s(f, "Operator") != Some("Equal") {
                return Err(AwsError::new(
                    "OpsItemInvalidParameterException",
                    "The filter is not valid: the key must be OpsItemId and the operator Equal.",
                ));
            }
        }
        ok(listing("Summaries", Vec::new(), None), None)
    }

    /// OpsData of the `AWS:OpsItem` type, one entity an OpsItem (no aggregation).
    pub(super) fn get_ops_summary(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        if let Some(sync) = s(input, "SyncName")
            && self.obj_get(ctx, "datasync", sync).is_none()
        {
            return Err(AwsError::new(
                "ResourceDataSyncNotFoundException",
                format!("Sync {sync} does not exist."),
            ));
        }
        for t in arr(input, "ResultAttributes") {
            let name = s(t, "TypeName").unwrap_or("");
            if name != "AWS:OpsItem" {
                return Err(AwsError::new(
                    "InvalidTypeNameException",
                    format!("The type name {name} is not valid."),
                ));
            }
        }
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .obj_list(ctx, OPSITEM)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| {
                filters.iter().all(|f| {
                    let key = s(f, "Key").unwrap_or("");
                    let field = key.strip_prefix("AWS:OpsItem.").unwrap_or(key);
                    let got = v.get(field).map(|x| x.as_str().map_or(x.to_string(), str::to_string));
                    let values: Vec<&str> = arr(f, "Values").iter().filter_map(Value::as_str).collect();
                    match (s(f, "Type").unwrap_or("Equal"), got) {
                        ("Exists", g) => g.is_some(),
                        ("NotEqual", Some(g)) => !values.contains(&g.as_str()),
                        ("BeginWith", Some(g)) => values.iter().any(|w| g.starts_with(w)),
                        (_, Some(g)) => values.contains(&g.as_str()),
                        _ => false,
                    }
                })
            })
            .map(|v| {
                let mut content = Map::new();
                if let Some(m) = v.as_object() {
                    for (k, x) in m {
                        if let Some(t) = x.as_str() {
                            content.insert(k.clone(), json!(t));
                        } else if x.is_number() {
                            content.insert(k.clone(), json!(x.to_string()));
                        }
                    }
                }
                let at = snapstack_protocol::codec::time::iso8601(
                    (v["LastModifiedTime"].as_f64().unwrap_or(0.0) * 1000.0) as i64,
                    false,
                );
                json!({"Id": v["OpsItemId"], "Data": {"AWS:OpsItem": {"CaptureTime": at, "Content": [content]}}})
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("Entities", items, next), None)
    }

    fn metadata_arn(ctx: &RequestContext, resource: &str) -> String {
        let sep = if resource.starts_with('/') { "" } else { "/" };
        format!(
            "arn:aws:ssm:{}:{}:opsmetadata{sep}{resource}",
            ctx.region(),
            ctx.account()
        )
    }

    /// The resource id an OpsMetadata ARN of the caller names.
    fn metadata_id(ctx: &RequestContext, arn: &str) -> Result<String, AwsError> {
        let head = format!("arn:aws:ssm:{}:{}:opsmetadata", ctx.region(), ctx.account());
        match arn.strip_prefix(&head) {
            Some(rest) if rest.starts_with('/') && rest.len() > 1 => Ok(rest.to_string()),
            _ => Err(AwsError::new(
                "OpsMetadataInvalidArgumentException",
                format!("The OpsMetadata ARN {arn} is not valid."),
            )),
        }
    }

    fn check_metadata(m: &Value) -> Result<(), AwsError> {
        if m.as_object().is_some_and(|m| m.len() > MAX_METADATA_KEYS) {
            return Err(AwsError::new(
                "OpsMetadataKeyLimitExceededException",
                "The OpsMetadata object exceeds the maximum number of OpsMetadata keys that you can assign to an application in Application Manager.",
            ));
        }
        Ok(())
    }

    pub(super) fn create_ops_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let resource = req(input, "ResourceId")?;
        let metadata = input.get("Metadata").cloned().unwrap_or(json!({}));
        Self::check_metadata(&metadata)?;
        let tags = input_tags(input)?;
        let arn = Self::metadata_arn(ctx, resource);
        let id = Self::metadata_id(ctx, &arn)?;
        let now = secs(now_ms());
        let body = json!({"ResourceId": resource, "OpsMetadataArn": arn, "Metadata": metadata,
                          "CreationDate": now, "LastModifiedDate": now, "LastModifiedUser": caller(ctx)});
        let (_, wv) = self.obj_update(ctx, METADATA, &id, |old| {
            if old.is_some() {
                return Err(AwsError::new(
                    "OpsMetadataAlreadyExistsException",
                    format!("An OpsMetadata object already exists for the resource {resource}."),
                ));
            }
            let mut rec = ObjectRec::new(METADATA, &id, &body);
            rec.tags = tags;
            Ok((Some(rec), ()))
        })?;
        ok(json!({"OpsMetadataArn": arn}), wv)
    }

    pub(super) fn get_ops_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "OpsMetadataArn")?;
        let max = max_results(input, 10, 10)?;
        let id = Self::metadata_id(ctx, arn)?;
        let v = self
            .obj_get(ctx, METADATA, &id)
            .ok_or_else(|| meta_missing(arn))?
            .value();
        let entries: Vec<Value> = v["Metadata"]
            .as_object()
            .map(|m| m.iter().map(|(k, x)| json!([k, x])).collect())
            .unwrap_or_default();
        let (entries, next) = page(entries, s(input, "NextToken"), max)?;
        let map: Map<String, Value> = entries
            .into_iter()
            .filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].clone())))
            .collect();
        let mut out = json!({"ResourceId": v["ResourceId"], "Metadata": map});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        ok(out, None)
    }

    pub(super) fn update_ops_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "OpsMetadataArn")?;
        let id = Self::metadata_id(ctx, arn)?;
        let (_, wv) = self.obj_update(ctx, METADATA, &id, |old| {
            let mut o = old.ok_or_else(|| meta_missing(arn))?;
            let mut v = o.value();
            let mut map = v["Metadata"].as_object().cloned().unwrap_or_default();
            if let Some(Value::Object(upd)) = input.get("MetadataToUpdate") {
                map.extend(upd.clone());
            }
            for k in arr(input, "KeysToDelete") {
                if let Some(k) = k.as_str() {
                    map.remove(k);
                }
            }
            let map = Value::Object(map);
            Self::check_metadata(&map)?;
            v["Metadata"] = map;
            v["LastModifiedDate"] = json!(secs(now_ms()));
            v["LastModifiedUser"] = json!(caller(ctx));
            o.body = v.to_string();
            Ok((Some(o), ()))
        })?;
        ok(json!({"OpsMetadataArn": arn}), wv)
    }

    pub(super) fn delete_ops_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let arn = req(input, "OpsMetadataArn")?;
        let id = Self::metadata_id(ctx, arn)?;
        let wv = self
            .obj_delete(ctx, METADATA, &id)
            .ok_or_else(|| meta_missing(arn))?;
        ok(json!({}), Some(wv))
    }

    pub(super) fn list_ops_metadata(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Output, AwsError> {
        let max = max_results(input, 50, 50)?;
        let filters = arr(input, "Filters");
        let items: Vec<Value> = self
            .obj_list(ctx, METADATA)
            .into_iter()
            .map(|o| o.value())
            .filter(|v| {
                filters.iter().all(|f| {
                    let values = arr(f, "Values");
                    match s(f, "Key") {
                        Some("ResourceId") => values.iter().any(|w| v.get("ResourceId") == Some(w)),
                        _ => values.iter().any(|w| {
                            w.as_str()
                                .is_some_and(|w| s(v, "ResourceId").is_some_and(|r| r.contains(w)))
                        }),
                    }
                })
            })
            .collect();
        let (items, next) = page(items, s(input, "NextToken"), max)?;
        ok(listing("OpsMetadataList", items, next), None)
    }
}

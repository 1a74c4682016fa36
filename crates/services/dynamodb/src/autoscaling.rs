//! Replica auto scaling (UpdateTableReplicaAutoScaling, DescribeTableReplicaAutoScaling): the
//! Application Auto Scaling settings of a table's replicas and their global secondary indexes,
//! stored as a record per table ([`Rec::AutoScaling`], keyed by table id) and answered in
//! `TableAutoScalingDescription`'s shape. A table's replicas are its own region and the regions
//! of the global table (2017.11.29) of its name, if there is one. Nothing scales here: the
//! settings are what AWS would apply.
//!
//! The record holds the settings as JSON text, `{region: {"read": settings, "write": settings,
//! "gsis": {index: {"read": settings, "write": settings}}}}`, each settings object in
//! `AutoScalingSettingsDescription`'s shape (a public shape, so the text is stable).

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_service::{Output, RequestContext};

use crate::items::str_field;
use crate::table::{self, TableMeta};
use crate::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};

/// Target tracking takes a target utilization between 20 and 90 percent.
const TARGET_MIN: f64 = 20.0;
const TARGET_MAX: f64 = 90.0;

fn disabled() -> Value {
    json!({"AutoScalingDisabled": true})
}

fn role_arn(account: &str) -> String {
    format!(
        "arn:aws:iam::{account}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"
    )
}

/// Apply an `AutoScalingSettingsUpdate` to the current settings (`what`: `Read`/`Write`, for
/// the default policy name; `resource`: `table/T` or `table/T/index/I`).
fn apply(
    current: &Value,
    update: &Value,
    account: &str,
    what: &str,
    resource: &str,
    field: &str,
) -> DdbResult<Value> {
    if update.get("AutoScalingDisabled").and_then(Value::as_bool) == Some(true) {
        return Ok(disabled());
    }
    let mut s = match current {
        Value::Object(m) if m.get("AutoScalingDisabled") != Some(&json!(true)) => m.clone(),
        _ => Map::new(),
    };
    s.insert("AutoScalingDisabled".into(), json!(false));
    for k in ["MinimumUnits", "MaximumUnits"] {
        if let Some(v) = update.get(k).filter(|v| !v.is_null()) {
            s.insert(k.into(), v.clone());
        }
    }
    let role = update
        .get("AutoScalingRoleArn")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            s.get("AutoScalingRoleArn")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| role_arn(account));
    s.insert("AutoScalingRoleArn".into(), json!(role));
    let (min, max) = (
        s.get("MinimumUnits").and_then(Value::as_u64),
        s.get("MaximumUnits").and_then(Value::as_u64),
    );
    match (min, max) {
        (Some(a), Some(b)) if a > b => {
            return Err(DdbError::validation(format!(
                "{field}: minimum units ({a}) must be less than or equal to maximum units ({b})"
            )));
        }
        (None, _) | (_, None) => {
            return Err(DdbError::validation(format!(
                "{field}: both MinimumUnits and MaximumUnits must be specified to enable auto scaling"
            )));
        }
        _ => {}
    }
    if let Some(p) = update.get("ScalingPolicyUpdate").filter(|p| !p.is_null()) {
        let conf = p
            .get("TargetTrackingScalingPolicyConfiguration")
            .cloned()
            .unwrap_or(json!({}));
        let target = conf
            .get("TargetValue")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if !(TARGET_MIN..=TARGET_MAX).contains(&target) {
            return Err(DdbError::validation(format!(
                "{field}: TargetValue must be between {TARGET_MIN} and {TARGET_MAX}, got {target}"
            )));
        }
        for k in ["ScaleInCooldown", "ScaleOutCooldown"] {
            if conf.get(k).and_then(Value::as_i64).is_some_and(|c| c < 0) {
                return Err(DdbError::validation(format!(
                    "{field}: {k} must be greater than or equal to 0"
                )));
            }
        }
        let name = p
            .get("PolicyName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("DynamoDB{what}CapacityUtilization:{resource}"));
        s.insert(
            "ScalingPolicies".into(),
            json!([{"PolicyName": name, "TargetTrackingScalingPolicyConfiguration": conf}]),
        );
    }
    Ok(Value::Object(s))
}

impl DynamoDb {
    /// The regions of a table's replicas: its own, then those of its global table.
    fn replica_regions(&self, ctx: &RequestContext, t: &TableMeta) -> Vec<String> {
        let mut out = vec![ctx.region().to_string()];
        if let Some(Rec::GlobalTable(g)) = self
            .store
            .snapshot()
            .get(&keys::global_table(&ctx.partition, &t.name))
        {
            for region in &g.regions {
                if !out.contains(region) {
                    out.push(region.clone());
                }
            }
        }
        out
    }

    fn stored_settings(&self, p: &Partition, t: &TableMeta) -> Map<String, Value> {
        match self.store.snapshot().get(&keys::autoscaling(p, t.id)) {
            Some(Rec::AutoScaling(text)) => match serde_json::from_str(text) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        }
    }

    /// `TableAutoScalingDescription` from the stored settings.
    fn auto_scaling_description(
        &self,
        ctx: &RequestContext,
        t: &TableMeta,
        settings: &Map<String, Value>,
    ) -> Value {
        let replicas: Vec<Value> = self
            .replica_regions(ctx, t)
            .into_iter()
            .map(|region| {
                let r = settings.get(&region).cloned().unwrap_or(json!({}));
                let gsis: Vec<Value> = t
                    .gsis
                    .iter()
                    .map(|g| {
                        let s = r.get("gsis").and_then(|x| x.get(&g.name));
                        json!({
                            "IndexName": g.name,
                            "IndexStatus": "ACTIVE",
                            "ProvisionedReadCapacityAutoScalingSettings":
                                s.and_then(|s| s.get("read")).cloned().unwrap_or_else(disabled),
                            "ProvisionedWriteCapacityAutoScalingSettings":
                                s.and_then(|s| s.get("write")).cloned().unwrap_or_else(disabled),
                        })
                    })
                    .collect();
                json!({
                    "RegionName": region,
                    "ReplicaStatus": "ACTIVE",
                    "GlobalSecondaryIndexes": gsis,
                    "ReplicaProvisionedReadCapacityAutoScalingSettings":
                        r.get("read").cloned().unwrap_or_else(disabled),
                    "ReplicaProvisionedWriteCapacityAutoScalingSettings":
                        r.get("write").cloned().unwrap_or_else(disabled),
                })
            })
            .collect();
        json!({"TableName": t.name, "TableStatus": "ACTIVE", "Replicas": replicas})
    }

    pub(crate) fn table_replica_auto_scaling(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())?;
        let t = self.table(&ctx.partition, &name)?;
        let settings = self.stored_settings(&ctx.partition, &t);
        ok(
            json!({"TableAutoScalingDescription": self.auto_scaling_description(ctx, &t, &settings)}),
            None,
        )
    }

    pub(crate) fn update_table_replica_auto_scaling(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())?;
        let t = self.table(&ctx.partition, &name)?;
        let list = |k: &str| {
            body.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (write, gsi_updates, replica_updates) = (
            body.get("ProvisionedWriteCapacityAutoScalingUpdate")
                .filter(|v| !v.is_null())
                .cloned(),
            list("GlobalSecondaryIndexUpdates"),
            list("ReplicaUpdates"),
        );
        if write.is_none() && gsi_updates.is_empty() && replica_updates.is_empty() {
            return Err(DdbError::validation(
                "At least one of ProvisionedWriteCapacityAutoScalingUpdate, GlobalSecondaryIndexUpdates or ReplicaUpdates is required",
            ));
        }
        if t.pay_per_request {
            return Err(DdbError::validation(
                "Table is in PAY_PER_REQUEST billing mode: auto scaling applies to provisioned capacity only",
            ));
        }
        let regions = self.replica_regions(ctx, &t);
        let account = ctx.account().to_string();
        let resource = format!("table/{}", t.name);
        let mut settings = self.stored_settings(&ctx.partition, &t);
        let entry = |settings: &mut Map<String, Value>, region: &str| -> Map<String, Value> {
            match settings.get(region) {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            }
        };
        // The table's write capacity: every replica's.
        if let Some(w) = &write {
            for region in &regions {
                let mut r = entry(&mut settings, region);
                let cur = r.get("write").cloned().unwrap_or(Value::Null);
                r.insert(
                    "write".into(),
                    apply(
                        &cur,
                        w,
                        &account,
                        "Write",
                        &resource,
                        "ProvisionedWriteCapacityAutoScalingUpdate",
                    )?,
                );
                settings.insert(region.clone(), Value::Object(r));
            }
        }
        let index_exists = |index: &str| -> DdbResult<()> {
            if t.gsis.iter().any(|g| g.name == index) {
                Ok(())
            } else {
                Err(DdbError::new(
                    "ResourceNotFoundException",
                    format!(
                        "Requested resource not found: Index: {index} not found for table {}",
                        t.name
                    ),
                ))
            }
        };
        // A global secondary index's write capacity: every replica's.
        for g in &gsi_updates {
            let index = g.get("IndexName").and_then(Value::as_str).unwrap_or("");
            index_exists(index)?;
            let Some(u) = g
                .get("ProvisionedWriteCapacityAutoScalingUpdate")
                .filter(|v| !v.is_null())
            else {
                continue;
            };
            let res = format!("{resource}/index/{index}");
            for region in &regions {
                let mut r = entry(&mut settings, region);
                let mut gsis = r
                    .get("gsis")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut gs = gsis
                    .get(index)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let cur = gs.get("write").cloned().unwrap_or(Value::Null);
                gs.insert(
                    "write".into(),
                    apply(
                        &cur,
                        u,
                        &account,
                        "Write",
                        &res,
                        "GlobalSecondaryIndexUpdates.ProvisionedWriteCapacityAutoScalingUpdate",
                    )?,
                );
                gsis.insert(index.to_string(), Value::Object(gs));
                r.insert("gsis".into(), Value::Object(gsis));
                settings.insert(region.clone(), Value::Object(r));
            }
        }
        // A replica's read capacity, and its indexes'.
        for u in &replica_updates {
            let region = u.get("RegionName").and_then(Value::as_str).unwrap_or("");
            if !regions.iter().any(|r| r == region) {
                return Err(DdbError::validation(format!(
                    "Replica in region {region} does not exist for table {}",
                    t.name
                )));
            }
            let mut r = entry(&mut settings, region);
            if let Some(read) = u
                .get("ReplicaProvisionedReadCapacityAutoScalingUpdate")
                .filter(|v| !v.is_null())
            {
                let cur = r.get("read").cloned().unwrap_or(Value::Null);
                r.insert(
                    "read".into(),
                    apply(
                        &cur,
                        read,
                        &account,
                        "Read",
                        &resource,
                        "ReplicaProvisionedReadCapacityAutoScalingUpdate",
                    )?,
                );
            }
            for g in u
                .get("ReplicaGlobalSecondaryIndexUpdates")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                let index = g.get("IndexName").and_then(Value::as_str).unwrap_or("");
                index_exists(index)?;
                let Some(read) = g
                    .get("ProvisionedReadCapacityAutoScalingUpdate")
                    .filter(|v| !v.is_null())
                else {
                    continue;
                };
                let res = format!("{resource}/index/{index}");
                let mut gsis = r
                    .get("gsis")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut gs = gsis
                    .get(index)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let cur = gs.get("read").cloned().unwrap_or(Value::Null);
                gs.insert("read".into(), apply(&cur, read, &account, "Read", &res, "ReplicaGlobalSecondaryIndexUpdates.ProvisionedReadCapacityAutoScalingUpdate")?);
                gsis.insert(index.to_string(), Value::Object(gs));
                r.insert("gsis".into(), Value::Object(gsis));
            }
            settings.insert(region.to_string(), Value::Object(r));
        }
        let text = Value::Object(settings.clone()).to_string();
        let p = ctx.partition.clone();
        let (r, v) = self.store.write(|txn| {
            // The table must still be the one read (not deleted and re-created meanwhile).
            match txn.get(&keys::table(&p, &t.name)) {
                Some(Rec::Table(cur)) if cur.id == t.id => {}
                _ => return Err(DdbError::table_not_found(&t.name)),
            }
            txn.insert(keys::autoscaling(&p, t.id), Rec::AutoScaling(text));
            Ok(())
        });
        r?;
        ok(
            json!({"TableAutoScalingDescription": self.auto_scaling_description(ctx, &t, &settings)}),
            Some(v),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_updates_merge_and_are_checked() {
        let on = apply(
            &Value::Null,
            &json!({"MinimumUnits": 5, "MaximumUnits": 50,
                    "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0}}}),
            "000000000000",
            "Write",
            "table/t",
            "f",
        )
        .unwrap();
        assert_eq!(on["AutoScalingDisabled"], false);
        assert_eq!(
            on["ScalingPolicies"][0]["PolicyName"],
            "DynamoDBWriteCapacityUtilization:table/t"
        );
        let more = apply(
            &on,
            &json!({"MaximumUnits": 80}),
            "a",
            "Write",
            "table/t",
            "f",
        )
        .unwrap();
        assert_eq!(
            (more["MinimumUnits"].as_u64(), more["MaximumUnits"].as_u64()),
            (Some(5), Some(80))
        );
        assert_eq!(more["ScalingPolicies"], on["ScalingPolicies"]);
        assert!(
            apply(
                &on,
                &json!({"MinimumUnits": 100}),
                "a",
                "Write",
                "table/t",
                "f"
            )
            .is_err()
        );
        assert!(
            apply(
                &Value::Null,
                &json!({"MinimumUnits": 1}),
                "a",
                "Write",
                "table/t",
                "f"
            )
            .is_err()
        );
        let bad = json!({"MinimumUnits": 1, "MaximumUnits": 2,
                         "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 95.0}}});
        assert!(apply(&Value::Null, &bad, "a", "Write", "table/t", "f").is_err());
        assert_eq!(
            apply(
                &on,
                &json!({"AutoScalingDisabled": true}),
                "a",
                "Write",
                "table/t",
                "f"
            )
            .unwrap(),
            disabled()
        );
    }
}

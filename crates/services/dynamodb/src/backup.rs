//! On-demand backups (CreateBackup, DescribeBackup, ListBackups, DeleteBackup,
//! RestoreTableFromBackup) and point-in-time recovery (UpdateContinuousBackups,
//! DescribeContinuousBackups, RestoreTableToPointInTime).
//!
//! A backup is a `Backup` record holding the table's definition as it was, and a copy of every
//! item under the backup's prefix, written in the same store write that reads them (so the copy is
//! the table at one instant). Items are shared `Arc`s in the engine's map on the read side; the
//! copy clones each item once. A restore creates a new table (a new table id) and writes the items
//! through the item primitive, so its indexes are built as for any write.
//!
//! Point-in-time recovery keeps no history: RestoreTableToPointInTime restores the table's state
//! at the time of the request (as LocalStack does), whatever time in the restorable window is
//! asked for; the window is `[max(enabled, now - period), now]`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_engine::store::Txn;
use snapstack_service::{Output, RequestContext};

use crate::items::{self, key_item, key_of_param, str_field, write_item};
use crate::settings::TableExtras;
use crate::table::{self, TableMeta};
use crate::value::Item;
use crate::{DdbError, DdbResult, DynamoDb, MAX_TABLES, Rec, keys, ok};

/// A backup's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupMeta {
    /// `<13-digit epoch ms>-<8 hex>`, the last part of the ARN.
    pub id: String,
    pub name: String,
    pub arn: String,
    pub created_ms: u64,
    /// The table as it was (its id, name, counts and definition).
    pub table: TableMeta,
    /// `USER` (CreateBackup).
    pub backup_type: String,
}

pub(crate) const DEFAULT_RECOVERY_DAYS: u64 = 35;
pub(crate) const DAY_MS: u64 = 24 * 3600 * 1000;

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn table_not_found_exc(name: &str) -> DdbError {
    DdbError::new("TableNotFoundException", format!("Table not found: {name}"))
}

fn backup_not_found(arn: &str) -> DdbError {
    DdbError::new(
        "BackupNotFoundException",
        format!("Backup not found: {arn}"),
    )
}

fn required_str<'a>(body: &'a Value, name: &str, field: &str) -> DdbResult<&'a str> {
    str_field(body, name)?.ok_or_else(|| DdbError::missing(field))
}

impl BackupMeta {
    fn details(&self, status: &str) -> Value {
        json!({
            "BackupArn": self.arn,
            "BackupName": self.name,
            "BackupSizeBytes": self.table.size_bytes,
            "BackupStatus": status,
            "BackupType": self.backup_type,
            "BackupCreationDateTime": secs(self.created_ms),
        })
    }

    fn description(&self, ctx: &RequestContext, status: &str) -> Value {
        let d = self.table.describe(ctx, "ACTIVE");
        let mut source = json!({
            "TableName": self.table.name,
            "TableId": d["TableId"],
            "TableArn": d["TableArn"],
            "TableSizeBytes": self.table.size_bytes,
            "KeySchema": d["KeySchema"],
            "TableCreationDateTime": d["CreationDateTime"],
            "ProvisionedThroughput": {
                "ReadCapacityUnits": self.table.throughput.0,
                "WriteCapacityUnits": self.table.throughput.1,
            },
            "ItemCount": self.table.item_count,
            "BillingMode": if self.table.pay_per_request { "PAY_PER_REQUEST" } else { "PROVISIONED" },
        });
        if self.table.pay_per_request {
            source["ProvisionedThroughput"] =
                json!({"ReadCapacityUnits": 0, "WriteCapacityUnits": 0});
        }
        let mut features = json!({});
        for (from, to) in [
            ("GlobalSecondaryIndexes", "GlobalSecondaryIndexes"),
            ("LocalSecondaryIndexes", "LocalSecondaryIndexes"),
        ] {
            if let Some(Value::Array(list)) = d.get(from) {
                features[to] = Value::Array(
                    list.iter()
                        .map(|i| {
                            let mut o = json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]});
                            if let Some(tp) = i.get("ProvisionedThroughput") {
                                o["ProvisionedThroughput"] = json!({"ReadCapacityUnits": tp["ReadCapacityUnits"], "WriteCapacityUnits": tp["WriteCapacityUnits"]});
                            }
                            o
                        })
                        .collect(),
                );
            }
        }
        if let Some(s) = d.get("StreamSpecification") {
            features["StreamDescription"] = s.clone();
        }
        features["TimeToLiveDescription"] = match &self.table.ttl_attribute {
            Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
            None => json!({"TimeToLiveStatus": "DISABLED"}),
        };
        json!({
            "BackupDetails": self.details(status),
            "SourceTableDetails": source,
            "SourceTableFeatureDetails": features,
        })
    }
}

/// Overrides of a restore.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RestoreIn {
    target_table_name: Option<String>,
    billing_mode_override: Option<String>,
    provisioned_throughput_override: Option<table::ThroughputIn>,
    global_secondary_index_override: Option<Vec<table::IndexIn>>,
    local_secondary_index_override: Option<Vec<table::IndexIn>>,
}

/// The table a restore creates from `src`'s definition, with the request's overrides.
fn restored_meta(
    src: &TableMeta,
    input: &RestoreIn,
    target: &str,
    now: u64,
) -> DdbResult<TableMeta> {
    let mut t = src.clone();
    t.name = target.to_string();
    t.created_ms = now;
    t.item_count = 0;
    t.size_bytes = 0;
    // Tags, TTL, streams and deletion protection are not restored (as DynamoDB).
    t.tags.clear();
    t.ttl_attribute = None;
    t.stream = None;
    t.stream_label = None;
    t.deletion_protection = false;
    if input.billing_mode_override.is_some() || input.provisioned_throughput_override.is_some() {
        let mode = input
            .billing_mode_override
            .as_deref()
            .or(Some(if t.pay_per_request {
                "PAY_PER_REQUEST"
            } else {
                "PROVISIONED"
            }));
        let (ppr, tp) = if mode == Some("PROVISIONED")
            && input.provisioned_throughput_override.is_none()
            && !t.pay_per_request
        {
            (false, t.throughput)
        } else {
            table::parse_billing(mode, input.provisioned_throughput_override.as_ref())?
        };
        t.pay_per_request = ppr;
        t.throughput = tp;
    }
    if let Some(list) = &input.global_secondary_index_override {
        t.gsis = list
            .iter()
            .map(|i| table::parse_index(i, &t.attributes, true, t.pay_per_request))
            .collect::<DdbResult<_>>()?;
    }
    if let Some(list) = &input.local_secondary_index_override {
        t.lsis = list
            .iter()
            .map(|i| table::parse_index(i, &t.attributes, false, t.pay_per_request))
            .collect::<DdbResult<_>>()?;
    }
    for i in t.gsis.iter_mut().chain(t.lsis.iter_mut()) {
        i.item_count = 0;
        i.size_bytes = 0;
    }
    if t.pay_per_request {
        for i in t.gsis.iter_mut() {
            i.throughput = None;
        }
    }
    Ok(t)
}

/// Create `meta` (a new table id) and write `items` into it, inside one store write.
fn create_restored(
    txn: &mut Txn<'_, Rec>,
    p: &Partition,
    mut meta: TableMeta,
    items: &[Item],
) -> DdbResult<TableMeta> {
    let key = keys::table(p, &meta.name);
    if txn.contains(&key) {
        return Err(DdbError::new(
            "TableAlreadyExistsException",
            format!("Table already exists: {}", meta.name),
        ));
    }
    if txn.scan_prefix(&keys::tables(p)).count() >= MAX_TABLES {
        return Err(DdbError::new(
            "LimitExceededException",
            format!(
                "Subscriber limit exceeded: There is a limit of {MAX_TABLES} tables per account and region"
            ),
        ));
    }
    let id = match txn.get(&keys::seq(p)) {
        Some(Rec::Seq(n)) => n + 1,
        _ => 1,
    };
    txn.insert(keys::seq(p), Rec::Seq(id));
    meta.id = id;
    for item in items {
        let Ok(pk) = key_of_param(&meta, &key_item(&meta, item, None)) else {
            continue;
        };
        write_item(p, &mut meta, txn, &pk, None, Some(item), 0);
    }
    txn.insert(key, Rec::Table(Box::new(meta.clone())));
    Ok(meta)
}

impl DynamoDb {
    fn backup_id_of(&self, ctx: &RequestContext, arn: &str) -> DdbResult<BackupMeta> {
        let id = arn.rsplit_once("/backup/").map(|(_, id)| id).unwrap_or("");
        match self.store.snapshot().get(&keys::backup(&ctx.partition, id)) {
            Some(Rec::Backup(b)) if b.arn == arn => Ok((**b).clone()),
            _ => Err(backup_not_found(arn)),
        }
    }

    pub(crate) fn create_backup(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let name = table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())?;
        let backup_name = required_str(body, "BackupName", "backupName")?.to_string();
        table::validate_name(&backup_name, "backupName")?;
        let p = &ctx.partition;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let t = items::load_table(txn, p, &name).map_err(|_| table_not_found_exc(&name))?;
            let mut n: u32 = rand_u32(now, &backup_name, &name);
            let mut id = format!("{now:013}-{n:08x}");
            while txn.contains(&keys::backup(p, &id)) {
                n = n.wrapping_add(1);
                id = format!("{now:013}-{n:08x}");
            }
            let b = BackupMeta {
                arn: format!("{}/backup/{id}", t.arn(ctx)),
                id: id.clone(),
                name: backup_name.clone(),
                created_ms: now,
                table: t.clone(),
                backup_type: "USER".into(),
            };
            let copies: Vec<(Vec<u8>, Item)> = txn
                .scan_prefix(&keys::items(p, t.id))
                .filter_map(|(k, r)| match r {
                    Rec::Item(i) => Some((k.as_bytes().to_vec(), i.clone())),
                    _ => None,
                })
                .collect();
            for (k, item) in copies {
                txn.insert(p.key().str("b").str(&id).bytes(&k).build(), Rec::Item(item));
            }
            txn.insert(keys::backup(p, &id), Rec::Backup(Box::new(b.clone())));
            Ok(b)
        });
        let b = r?;
        ok(json!({"BackupDetails": b.details("AVAILABLE")}), Some(v))
    }

    pub(crate) fn describe_backup(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let arn = required_str(body, "BackupArn", "backupArn")?;
        let b = self.backup_id_of(ctx, arn)?;
        ok(
            json!({"BackupDescription": b.description(ctx, "AVAILABLE")}),
            None,
        )
    }

    pub(crate) fn delete_backup(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let arn = required_str(body, "BackupArn", "backupArn")?.to_string();
        let p = &ctx.partition;
        let id = arn
            .rsplit_once("/backup/")
            .map(|(_, id)| id.to_string())
            .unwrap_or_default();
        let (r, v) = self.store.write(|txn| {
            let b = match txn.get(&keys::backup(p, &id)) {
                Some(Rec::Backup(b)) if b.arn == arn => (**b).clone(),
                _ => return Err(backup_not_found(&arn)),
            };
            txn.remove(&keys::backup(p, &id));
            txn.remove_prefix(&keys::backup_items(p, &id));
            Ok(b)
        });
        let b = r?;
        ok(
            json!({"BackupDescription": b.description(ctx, "DELETED")}),
            Some(v),
        )
    }

    pub(crate) fn list_backups(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let table = str_field(body, "TableName")?;
        let start = str_field(body, "ExclusiveStartBackupArn")?;
        let kind = str_field(body, "BackupType")?.unwrap_or("USER");
        if !matches!(kind, "USER" | "SYSTEM" | "AWS_BACKUP" | "ALL") {
            return Err(DdbError::constraint(
                kind,
                "backupType",
                "Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, ALL]",
            ));
        }
        let limit = match body.get("Limit").and_then(Value::as_i64) {
            None => 100,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(DdbError::constraint(
                    n,
                    "limit",
                    "Member must have value less than or equal to 100 and greater than or equal to 1",
                ));
            }
        };
        let bound = |name: &str| -> DdbResult<Option<f64>> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| DdbError::serialization(format!("{name} must be a timestamp"))),
            }
        };
        let (lower, upper) = (bound("TimeRangeLowerBound")?, bound("TimeRangeUpperBound")?);
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut last = None;
        let mut past_start = start.is_none();
        for (_, r) in snap.scan_prefix(&keys::backups(&ctx.partition)) {
            let Rec::Backup(b) = r else { continue };
            if !past_start {
                past_start = Some(b.arn.as_str()) == start;
                continue;
            }
            let t = secs(b.created_ms);
            if table.is_some_and(|n| n != b.table.name)
                || (kind != "ALL" && kind != b.backup_type)
                || lower.is_some_and(|l| t < l)
                || upper.is_some_and(|u| t > u)
            {
                continue;
            }
            if out.len() == limit {
                last = out
                    .last()
                    .and_then(|v: &Value| v["BackupArn"].as_str().map(str::to_string));
                break;
            }
            out.push(json!({
                "TableName": b.table.name,
                "TableId": b.table.table_id(),
                "TableArn": b.table.arn(ctx),
                "BackupArn": b.arn,
                "BackupName": b.name,
                "BackupCreationDateTime": t,
                "BackupStatus": "AVAILABLE",
                "BackupType": b.backup_type,
                "BackupSizeBytes": b.table.size_bytes,
            }));
        }
        let mut resp = json!({"BackupSummaries": out});
        if let Some(l) = last {
            resp["LastEvaluatedBackupArn"] = json!(l);
        }
        ok(resp, None)
    }

    pub(crate) fn restore_from_backup(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let input: RestoreIn = crate::parse(body)?;
        let target = table::table_name(input.target_table_name.as_ref()).map_err(|e| {
            if e.message.contains("tableName") {
                DdbError::missing("targetTableName")
            } else {
                e
            }
        })?;
        let arn = required_str(body, "BackupArn", "backupArn")?.to_string();
        let b = self.backup_id_of(ctx, &arn)?;
        let now = self.now_ms();
        let meta = restored_meta(&b.table, &input, &target, now)?;
        let p = &ctx.partition;
        let (r, v) = self.store.write(|txn| {
            let items: Vec<Item> = txn
                .scan_prefix(&keys::backup_items(p, &b.id))
                .filter_map(|(_, r)| match r {
                    Rec::Item(i) => Some(i.clone()),
                    _ => None,
                })
                .collect();
            create_restored(txn, p, meta, &items)
        });
        let t = r?;
        let mut d = t.describe(ctx, "ACTIVE");
        d["RestoreSummary"] = json!({
            "SourceBackupArn": arn,
            "SourceTableArn": b.table.arn(ctx),
            "RestoreDateTime": secs(now),
            "RestoreInProgress": false,
        });
        ok(json!({"TableDescription": d}), Some(v))
    }

    pub(crate) fn extras_of(&self, p: &Partition, t: &TableMeta) -> TableExtras {
        match self.store.snapshot().get(&keys::extras(p, t.id)) {
            Some(Rec::Extras(e)) => (**e).clone(),
            _ => TableExtras::default(),
        }
    }

    fn continuous_json(&self, e: &TableExtras) -> Value {
        let now = self.now_ms();
        let pitr = match e.pitr_enabled_ms {
            Some(since) => {
                let days = if e.pitr_days == 0 {
                    DEFAULT_RECOVERY_DAYS
                } else {
                    e.pitr_days
                };
                json!({
                    "PointInTimeRecoveryStatus": "ENABLED",
                    "RecoveryPeriodInDays": days,
                    "EarliestRestorableDateTime": secs(since.max(now.saturating_sub(days * DAY_MS))),
                    "LatestRestorableDateTime": secs(now),
                })
            }
            None => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
        };
        json!({"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": pitr})
    }

    pub(crate) fn describe_continuous_backups(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())?;
        let t = self
            .table(&ctx.partition, &name)
            .map_err(|_| table_not_found_exc(&name))?;
        let e = self.extras_of(&ctx.partition, &t);
        ok(
            json!({"ContinuousBackupsDescription": self.continuous_json(&e)}),
            None,
        )
    }

    pub(crate) fn update_continuous_backups(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())?;
        let spec = match body.get("PointInTimeRecoverySpecification") {
            None | Some(Value::Null) => {
                return Err(DdbError::missing("pointInTimeRecoverySpecification"));
            }
            Some(s) => s,
        };
        let enabled = items::bool_field(spec, "PointInTimeRecoveryEnabled")?.ok_or_else(|| {
            DdbError::missing("pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled")
        })?;
        let days = match spec.get("RecoveryPeriodInDays") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(d) if (1..=35).contains(&d) => Some(d),
                _ => {
                    return Err(DdbError::validation(
                        "RecoveryPeriodInDays must be between 1 and 35",
                    ));
                }
            },
        };
        if days.is_some() && !enabled {
            return Err(DdbError::validation(
                "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true",
            ));
        }
        let now = self.now_ms();
        let (e, v) = self
            .modify_extras(&ctx.partition, &name, |e| {
                if enabled {
                    e.pitr_enabled_ms.get_or_insert(now);
                    e.pitr_days = days.unwrap_or(DEFAULT_RECOVERY_DAYS);
                } else {
                    e.pitr_enabled_ms = None;
                    e.pitr_days = 0;
                }
                Ok(())
            })
            .map_err(|e| {
                if e.code == "ResourceNotFoundException" {
                    table_not_found_exc(&name)
                } else {
                    e
                }
            })?;
        ok(
            json!({"ContinuousBackupsDescription": self.continuous_json(&e)}),
            Some(v),
        )
    }

    pub(crate) fn restore_to_point_in_time(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let input: RestoreIn = crate::parse(body)?;
        let target = input
            .target_table_name
            .clone()
            .ok_or_else(|| DdbError::missing("targetTableName"))?;
        table::validate_name(&target, "targetTableName")?;
        let source = match (
            str_field(body, "SourceTableName")?,
            str_field(body, "SourceTableArn")?,
        ) {
            (Some(n), None) => n.to_string(),
            (None, Some(arn)) => table::table_from_arn(ctx, arn).map_err(|_| {
                DdbError::new(
                    "SourceTableNotFoundException",
                    format!("Source table not found: {arn}"),
                )
            })?,
            (Some(_), Some(_)) => {
                return Err(DdbError::validation(
                    "Only one of SourceTableArn or SourceTableName can be specified",
                ));
            }
            (None, None) => {
                return Err(DdbError::validation(
                    "Either SourceTableArn or SourceTableName must be specified",
                ));
            }
        };
        let latest = items::bool_field(body, "UseLatestRestorableTime")?.unwrap_or(false);
        let at = body.get("RestoreDateTime").and_then(Value::as_f64);
        if latest && at.is_some() {
            return Err(DdbError::validation(
                "Only one of UseLatestRestorableTime or RestoreDateTime can be specified",
            ));
        }
        let p = &ctx.partition;
        let src = self.table(p, &source).map_err(|_| {
            DdbError::new(
                "SourceTableNotFoundException",
                format!("Source table not found: {source}"),
            )
        })?;
        let e = self.extras_of(p, &src);
        let Some(since) = e.pitr_enabled_ms else {
            return Err(DdbError::new(
                "PointInTimeRecoveryUnavailableException",
                format!("Point in time recovery is not enabled for table '{source}'"),
            ));
        };
        let now = self.now_ms();
        if let Some(at) = at {
            let days = if e.pitr_days == 0 {
                DEFAULT_RECOVERY_DAYS
            } else {
                e.pitr_days
            };
            let earliest = secs(since.max(now.saturating_sub(days * DAY_MS)));
            if at < earliest.floor() || at > secs(now) {
                return Err(DdbError::new(
                    "InvalidRestoreTimeException",
                    format!(
                        "RestoreDateTime must be between {earliest} and {}",
                        secs(now)
                    ),
                ));
            }
        }
        let meta = restored_meta(&src, &input, &target, now)?;
        let (r, v) = self.store.write(|txn| {
            let cur = items::load_table(txn, p, &source).map_err(|_| {
                DdbError::new(
                    "SourceTableNotFoundException",
                    format!("Source table not found: {source}"),
                )
            })?;
            let items: Vec<Item> = txn
                .scan_prefix(&keys::items(p, cur.id))
                .filter_map(|(_, r)| match r {
                    Rec::Item(i) => Some(i.clone()),
                    _ => None,
                })
                .collect();
            create_restored(txn, p, meta, &items)
        });
        let t = r?;
        let mut d = t.describe(ctx, "ACTIVE");
        d["RestoreSummary"] = json!({
            "SourceTableArn": src.arn(ctx),
            "RestoreDateTime": at.unwrap_or(secs(now)),
            "RestoreInProgress": false,
        });
        ok(json!({"TableDescription": d}), Some(v))
    }
}

/// Eight hex digits for a backup id: from the time and names (a collision moves on).
fn rand_u32(now: u64, a: &str, b: &str) -> u32 {
    let h = blake3::hash(format!("{now}/{a}/{b}").as_bytes());
    let x = h.as_bytes();
    u32::from_be_bytes([x[0], x[1], x[2], x[3]])
}

//! DynamoDB (JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Op>`).
//!
//! - `value`: attribute values (every DynamoDB type), numbers with 38 significant digits, the
//!   wire JSON form, sizes, and the order used by keys.
//! - `expr`: the expression language (condition, filter, key condition, projection, update).
//! - `table`: table metadata and the validation of table-management requests.
//! - `error`: DynamoDB's error bodies.
//!
//! All state is one store (`dynamodb`) of [`Rec`]ords, keyed under the request's partition:
//!
//! | record | key |
//! |---|---|
//! | table metadata | `t`, table name |
//! | table id sequence | `s` |
//! | item | `i`, table id, `key_bytes(hash)`, `key_bytes(range)` |
//! | index entry | `x`, table id, index name, index hash, index range, table hash, table range |
//! | TTL entry | `e`, table id, expiry seconds, table hash, table range |
//! | ClientRequestToken | `k`, token |
//! | backup metadata | `B`, backup id |
//! | backup item | `b`, backup id, `key_bytes(hash)`, `key_bytes(range)` |
//! | table extras (PITR, insights, Kinesis, policy) | `c`, table id |
//! | global table (2017.11.29) | `g`, global table name |
//! | stream, stream record | `S`, `r` (see [`streams`]) |
//!
//! A table id is new for every CreateTable, so a re-created table never sees its predecessor's
//! records. Key parts are `key_bytes` written as escaped byte strings, so the byte order of a key is
//! DynamoDB's order of (hash, range): a range of keys is a Query. Index entries and TTL entries are
//! written in the same `store.write` as the item they follow, so they are always consistent with
//! the items, on disk too.

mod arns;
mod autoscaling;
pub mod backup;
pub mod batch;
#[cfg(test)]
mod depth_tests;
mod describe;
pub mod error;
mod ex;
pub mod expr;
pub mod items;
pub mod metrics;
#[cfg(test)]
mod ops_tests;
pub mod partiql;
pub mod query;
mod service;
#[cfg(test)]
mod service_tests;
pub mod settings;
mod sse;
pub mod streams;
mod sweep;
pub mod table;
mod transfer;
pub mod value;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use error::{DdbError, DdbResult};
use snapstack_engine::{Key, Partition, Record, Store};
use snapstack_service::Output;
use snapstack_service::RequestContext;
use table::{TableMeta, TagIn};

pub const NAME: &str = "dynamodb";
/// ListTables pages at most this many names.
const MAX_LIST_TABLES: usize = 100;
/// Tables per partition.
const MAX_TABLES: usize = 2500;

/// One record of the DynamoDB store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Rec {
    Table(Box<TableMeta>),
    /// The last table id given out in a partition.
    Seq(u64),
    /// An item, or an index entry (the projected item).
    Item(value::Item),
    /// A TTL entry: the primary key of the item that expires.
    Ttl {
        hash: Vec<u8>,
        range: Option<Vec<u8>>,
    },
    /// A TransactWriteItems ClientRequestToken: the digest of the request that used it and when
    /// (epoch ms). Kept in the state, so a retry after a restart is still idempotent, and written
    /// in the same store write as the transaction, so two concurrent retries apply it once.
    /// (Added after the first release: new variants go last, so older snapshots still decode.)
    Token {
        digest: [u8; 32],
        at_ms: u64,
    },
    /// A backup's metadata (its items are `Item` records under the backup's prefix).
    Backup(Box<backup::BackupMeta>),
    /// A table's settings that are not part of its definition (point-in-time recovery,
    /// contributor insights, Kinesis destinations, resource policy), keyed by table id.
    Extras(Box<settings::TableExtras>),
    /// A global table (version 2017.11.29).
    GlobalTable(Box<settings::GlobalTableMeta>),
    /// An export to S3 or an import from S3, keyed globally (see `transfer.rs`).
    Transfer(Box<transfer::Transfer>),
    /// A table's stream (DynamoDB Streams), open or closed.
    Stream(Box<streams::StreamMeta>),
    /// One record of a stream: an item change.
    StreamRecord(Box<streams::StreamRecord>),
    /// A table's replica auto scaling settings (JSON text, see `autoscaling.rs`), keyed by
    /// table id.
    AutoScaling(String),
    /// A table's KMS encryption (its `SSEDescription` as JSON text), keyed by table id.
    Sse(String),
}

impl Record for Rec {}

/// Keys of the store.
pub mod keys {
    use super::*;

    pub fn table(p: &Partition, name: &str) -> Key {
        p.key().str("t").str(name).build()
    }

    pub fn tables(p: &Partition) -> Key {
        p.key().str("t").build()
    }

    pub fn seq(p: &Partition) -> Key {
        p.key().str("s").build()
    }

    /// The prefix of every item of a table.
    pub fn items(p: &Partition, table_id: u64) -> Key {
        p.key().str("i").u64(table_id).build()
    }

    /// The prefix of every index entry of a table.
    pub fn index_entries(p: &Partition, table_id: u64) -> Key {
        p.key().str("x").u64(table_id).build()
    }

    /// The prefix of one index's entries.
    pub fn index(p: &Partition, table_id: u64, index: &str) -> Key {
        p.key().str("x").u64(table_id).str(index).build()
    }

    /// The prefix of a table's TTL entries.
    pub fn expiries(p: &Partition, table_id: u64) -> Key {
        p.key().str("e").u64(table_id).build()
    }

    /// A remembered ClientRequestToken.
    pub fn token(p: &Partition, token: &str) -> Key {
        p.key().str("k").str(token).build()
    }

    /// The prefix of a partition's remembered tokens.
    pub fn tokens(p: &Partition) -> Key {
        p.key().str("k").build()
    }

    /// A backup's metadata.
    pub fn backup(p: &Partition, id: &str) -> Key {
        p.key().str("B").str(id).build()
    }

    /// The prefix of every backup's metadata.
    pub fn backups(p: &Partition) -> Key {
        p.key().str("B").build()
    }

    /// The prefix of a backup's items.
    pub fn backup_items(p: &Partition, id: &str) -> Key {
        p.key().str("b").str(id).build()
    }

    /// A table's extra settings.
    pub fn extras(p: &Partition, table_id: u64) -> Key {
        p.key().str("c").u64(table_id).build()
    }

    /// A global table.
    /// A table's KMS encryption setting.
    pub fn sse(p: &Partition, table_id: u64) -> Key {
        p.key().str("se").u64(table_id).build()
    }

    /// A table's replica auto scaling settings.
    pub fn autoscaling(p: &Partition, table_id: u64) -> Key {
        p.key().str("as").u64(table_id).build()
    }

    pub fn global_table(p: &Partition, name: &str) -> Key {
        p.key().str("g").str(name).build()
    }

    /// The prefix of every global table.
    pub fn global_tables(p: &Partition) -> Key {
        p.key().str("g").build()
    }
}

/// The time source: epoch milliseconds. Tests substitute a fixed clock.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// The DynamoDB service.
pub struct DynamoDb {
    pub store: Arc<Store<Rec>>,
    pub(crate) clock: Clock,
    /// The `AWS/DynamoDB` counters of the current report interval ([`metrics`]).
    pub metrics: metrics::DdbMetrics,
}

impl Default for DynamoDb {
    fn default() -> Self {
        Self::new()
    }
}

fn parse<T: DeserializeOwned + Default>(body: &Value) -> DdbResult<T> {
    // Deserialized from the borrowed value: no copy of the request (an item may be 400 KB).
    T::deserialize(body).map_err(|e| DdbError::serialization(e.to_string()))
}

fn ok(v: Value, write_version: Option<u64>) -> DdbResult<Output> {
    Ok(Output::write(v, write_version))
}

/// An output as the client reads it: written by the model (tests).
#[cfg(test)]
pub(crate) fn as_sent(op: &str, out: &Output) -> Value {
    let body = snapstack_protocol::codec::json::serialize_output(error::model(), op, &out.value);
    serde_json::from_slice(&body).expect("the codec writes JSON")
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableNameIn {
    table_name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTablesIn {
    exclusive_start_table_name: Option<String>,
    limit: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateTableIn {
    table_name: Option<String>,
    attribute_definitions: Option<Vec<table::AttrDefIn>>,
    billing_mode: Option<String>,
    provisioned_throughput: Option<table::ThroughputIn>,
    global_secondary_index_updates: Option<Vec<GsiUpdateIn>>,
    stream_specification: Option<table::StreamSpecIn>,
    deletion_protection_enabled: Option<bool>,
    table_class: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiUpdateIn {
    create: Option<table::IndexIn>,
    update: Option<table::IndexIn>,
    delete: Option<table::IndexIn>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceIn {
    resource_arn: Option<String>,
    tags: Option<Vec<TagIn>>,
    tag_keys: Option<Vec<String>>,
    next_token: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TtlSpecIn {
    enabled: Option<bool>,
    attribute_name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateTtlIn {
    table_name: Option<String>,
    time_to_live_specification: Option<TtlSpecIn>,
}

impl DynamoDb {
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    pub fn with_clock(clock: Clock) -> Self {
        DynamoDb {
            store: Store::new(NAME),
            clock,
            metrics: metrics::DdbMetrics::from_env(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// Handle one operation with its JSON body.
    pub fn handle(&self, ctx: &RequestContext, op: &str, body: &[u8]) -> DdbResult<Output> {
        let body = Self::parse_body(body)?;
        self.handle_value(ctx, op, &body)
    }

    /// A request body as JSON (an empty body is `{}`), or DynamoDB's SerializationException.
    pub fn parse_body(body: &[u8]) -> DdbResult<Value> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| {
            DdbError::serialization(format!(
                "Start of structure or map found where not expected: {e}"
            ))
        })
    }

    /// Handle one operation whose body the caller already parsed (the gateway parses once, to
    /// validate it against the model and to run it).
    pub fn handle_value(&self, ctx: &RequestContext, op: &str, body: &Value) -> DdbResult<Output> {
        if !body.is_object() {
            return Err(DdbError::serialization(
                "Start of structure or map expected",
            ));
        }
        let named = arns::names_for_arns(ctx, op, body);
        let body = named.as_ref().unwrap_or(body);
        let p = &ctx.partition;
        match op {
            "CreateTable" => self.with_sse(ctx, body, || self.create_table(ctx, parse(body)?)),
            "DescribeTable" => {
                let i: TableNameIn = parse(body)?;
                let name = table::table_name(i.table_name.as_ref())?;
                let t = self.table(p, &name)?;
                let mut d = t.describe(ctx, "ACTIVE");
                self.add_sse(ctx, &mut d);
                ok(json!({ "Table": d }), None)
            }
            "ListTables" => self.list_tables(ctx, parse(body)?),
            "DeleteTable" => self.delete_table(ctx, parse(body)?),
            "UpdateTable" => self.with_sse(ctx, body, || self.update_table(ctx, parse(body)?)),
            "TagResource" => self.tag_resource(ctx, parse(body)?),
            "UntagResource" => self.untag_resource(ctx, parse(body)?),
            "ListTagsOfResource" => self.list_tags(ctx, parse(body)?),
            "UpdateTimeToLive" => self.update_ttl(ctx, parse(body)?),
            "DescribeTimeToLive" => {
                let i: TableNameIn = parse(body)?;
                let name = table::table_name(i.table_name.as_ref())?;
                let t = self.table(p, &name)?;
                let d = match &t.ttl_attribute {
                    Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
                    None => json!({"TimeToLiveStatus": "DISABLED"}),
                };
                ok(json!({"TimeToLiveDescription": d}), None)
            }
            "PutItem" => self.put_item(ctx, body),
            "GetItem" => self.get_item(ctx, body),
            "UpdateItem" => self.update_item(ctx, body),
            "DeleteItem" => self.delete_item(ctx, body),
            "Query" => self.query(ctx, body),
            "BatchGetItem" => self.batch_get_item(ctx, body),
            "BatchWriteItem" => self.batch_write_item(ctx, body),
            "TransactWriteItems" => self.transact_write_items(ctx, body),
            "TransactGetItems" => self.transact_get_items(ctx, body),
            "Scan" => self.scan(ctx, body),
            "ExecuteStatement" => self.execute_statement(ctx, body),
            "BatchExecuteStatement" => self.batch_execute_statement(ctx, body),
            "ExecuteTransaction" => self.execute_transaction(ctx, body),
            "ExportTableToPointInTime" => self.export_table(ctx, body),
            "DescribeExport" => self.describe_export(ctx, body),
            "ListExports" => self.list_transfers(ctx, body, true),
            "ImportTable" => self.import_table(ctx, body),
            "DescribeImport" => self.describe_import(ctx, body),
            "ListImports" => self.list_transfers(ctx, body, false),
            "CreateBackup" => self.create_backup(ctx, body),
            "DescribeBackup" => self.describe_backup(ctx, body),
            "ListBackups" => self.list_backups(ctx, body),
            "DeleteBackup" => self.delete_backup(ctx, body),
            "RestoreTableFromBackup" => self.restore_from_backup(ctx, body),
            "UpdateContinuousBackups" => self.update_continuous_backups(ctx, body),
            "DescribeContinuousBackups" => self.describe_continuous_backups(ctx, body),
            "RestoreTableToPointInTime" => self.restore_to_point_in_time(ctx, body),
            "DescribeLimits" => self.describe_limits(),
            "DescribeEndpoints" => self.describe_endpoints(ctx),
            "DescribeContributorInsights" => self.describe_contributor_insights(ctx, body),
            "UpdateContributorInsights" => self.update_contributor_insights(ctx, body),
            "ListContributorInsights" => self.list_contributor_insights(ctx, body),
            "EnableKinesisStreamingDestination" => self.enable_kinesis(ctx, body),
            "DisableKinesisStreamingDestination" => self.disable_kinesis(ctx, body),
            "UpdateKinesisStreamingDestination" => self.update_kinesis(ctx, body),
            "DescribeKinesisStreamingDestination" => self.describe_kinesis(ctx, body),
            "PutResourcePolicy" => self.put_resource_policy(ctx, body),
            "GetResourcePolicy" => self.get_resource_policy(ctx, body),
            "DeleteResourcePolicy" => self.delete_resource_policy(ctx, body),
            "DescribeTableReplicaAutoScaling" => self.table_replica_auto_scaling(ctx, body),
            "UpdateTableReplicaAutoScaling" => self.update_table_replica_auto_scaling(ctx, body),
            "CreateGlobalTable" => self.create_global_table(ctx, body),
            "DescribeGlobalTable" => self.describe_global_table(ctx, body),
            "ListGlobalTables" => self.list_global_tables(ctx, body),
            "UpdateGlobalTable" => self.update_global_table(ctx, body),
            "DescribeGlobalTableSettings" => self.describe_global_table_settings(ctx, body),
            "UpdateGlobalTableSettings" => self.update_global_table_settings(ctx, body),
            _ if snapstack_protocol::model::has_operation("dynamodb", op) => Err(DdbError {
                status: snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED,
                ..DdbError::new(
                    "NotImplemented",
                    snapstack_protocol::model::not_implemented_message("DynamoDB", op),
                )
            }),
            _ => Err(DdbError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's DynamoDB."),
            )),
        }
    }

    /// A table's metadata, or ResourceNotFoundException.
    pub fn table(&self, p: &Partition, name: &str) -> DdbResult<TableMeta> {
        match self.store.snapshot().get(&keys::table(p, name)) {
            Some(Rec::Table(t)) => Ok((**t).clone()),
            _ => Err(DdbError::table_not_found(name)),
        }
    }

    fn create_table(&self, ctx: &RequestContext, input: table::CreateTableIn) -> DdbResult<Output> {
        let p = &ctx.partition;
        let now = self.now_ms();
        // Validate before taking the write lock.
        let probe = table::build_table(&input, 0, now)?;
        let (r, v) = self.store.write(|txn| {
            let key = keys::table(p, &probe.name);
            if txn.contains(&key) {
                return Err(DdbError::in_use(format!(
                    "Table already exists: {}",
                    probe.name
                )));
            }
            if txn.scan_prefix(&keys::tables(p)).count() >= MAX_TABLES {
                return Err(DdbError::new(
                    "LimitExceededException",
                    format!("Subscriber limit exceeded: There is a limit of {MAX_TABLES} tables per account and region"),
                ));
            }
            let id = match txn.get(&keys::seq(p)) {
                Some(Rec::Seq(n)) => n + 1,
                _ => 1,
            };
            txn.insert(keys::seq(p), Rec::Seq(id));
            let mut t = probe.clone();
            t.id = id;
            txn.insert(key, Rec::Table(Box::new(t.clone())));
            streams::open(p, &t, txn, now);
            Ok(t)
        });
        let t = r?;
        ok(
            json!({"TableDescription": t.describe(ctx, "ACTIVE")}),
            Some(v),
        )
    }

    fn list_tables(&self, ctx: &RequestContext, input: ListTablesIn) -> DdbResult<Output> {
        let limit = match input.limit {
            None => MAX_LIST_TABLES,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) if n < 1 => {
                return Err(DdbError::constraint(
                    n,
                    "limit",
                    "Member must have value greater than or equal to 1",
                ));
            }
            Some(n) => {
                return Err(DdbError::constraint(
                    n,
                    "limit",
                    "Member must have value less than or equal to 100",
                ));
            }
        };
        let p = &ctx.partition;
        let snap = self.store.snapshot();
        let prefix = keys::tables(p);
        let (lo, hi) = prefix.prefix_range();
        let lo = match &input.exclusive_start_table_name {
            Some(s) => std::ops::Bound::Excluded(keys::table(p, s)),
            None => lo,
        };
        let mut names = Vec::new();
        let mut more = false;
        for (_, rec) in snap.range((lo, hi)) {
            if let Rec::Table(t) = rec {
                if names.len() == limit {
                    more = true;
                    break;
                }
                names.push(t.name.clone());
            }
        }
        let mut out = json!({"TableNames": names});
        if more && let Some(last) = names.last() {
            out["LastEvaluatedTableName"] = json!(last);
        }
        ok(out, None)
    }

    fn delete_table(&self, ctx: &RequestContext, input: TableNameIn) -> DdbResult<Output> {
        let p = &ctx.partition;
        let name = table::table_name(input.table_name.as_ref())?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let t = match txn.get(&keys::table(p, &name)) {
                Some(Rec::Table(t)) => (**t).clone(),
                _ => return Err(DdbError::table_not_found(&name)),
            };
            if t.deletion_protection {
                return Err(DdbError::validation(
                    "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
                ));
            }
            txn.remove(&keys::table(p, &name));
            txn.remove_prefix(&keys::items(p, t.id));
            txn.remove_prefix(&keys::index_entries(p, t.id));
            txn.remove_prefix(&keys::expiries(p, t.id));
            txn.remove(&keys::extras(p, t.id));
            txn.remove(&keys::autoscaling(p, t.id));
            txn.remove(&keys::sse(p, t.id));
            streams::close_all(p, &t.name, txn, now);
            Ok(t)
        });
        let t = r?;
        ok(
            json!({"TableDescription": t.describe(ctx, "DELETING")}),
            Some(v),
        )
    }

    /// Read-modify-write a table's metadata in one store write.
    fn modify_table<R>(
        &self,
        p: &Partition,
        name: &str,
        f: impl FnOnce(&mut TableMeta, &mut snapstack_engine::store::Txn<'_, Rec>) -> DdbResult<R>,
    ) -> DdbResult<(R, TableMeta, u64)> {
        let (r, v) = self.store.write(|txn| {
            let key = keys::table(p, name);
            let mut t = match txn.get(&key) {
                Some(Rec::Table(t)) => (**t).clone(),
                _ => return Err(DdbError::table_not_found(name)),
            };
            let before = t.clone();
            let r = f(&mut t, txn)?;
            if t != before {
                txn.insert(key, Rec::Table(Box::new(t.clone())));
            }
            Ok((r, t))
        });
        let (r, t) = r?;
        Ok((r, t, v))
    }

    fn update_table(&self, ctx: &RequestContext, input: UpdateTableIn) -> DdbResult<Output> {
        let p = &ctx.partition;
        let name = table::table_name(input.table_name.as_ref())?;
        let new_defs = match &input.attribute_definitions {
            Some(d) => table::parse_attribute_definitions(d)?,
            None => Vec::new(),
        };
        let stream = input
            .stream_specification
            .as_ref()
            .map(|s| table::parse_stream(Some(s)))
            .transpose()?;
        let now = self.now_ms();
        let (_, t, v) = self.modify_table(p, &name, |t, txn| {
            let mut changed = false;
            if input.billing_mode.is_some() || input.provisioned_throughput.is_some() {
                let mode = input.billing_mode.as_deref().or(Some(if t.pay_per_request {
                    "PAY_PER_REQUEST"
                } else {
                    "PROVISIONED"
                }));
                let tp = input.provisioned_throughput.as_ref();
                let (ppr, through) = if mode == Some("PROVISIONED") && tp.is_none() && !t.pay_per_request {
                    (false, t.throughput)
                } else {
                    table::parse_billing(mode, tp)?
                };
                t.pay_per_request = ppr;
                t.throughput = through;
                changed = true;
            }
            if let Some(s) = stream {
                match (&t.stream, s) {
                    (Some(_), Some(_)) => {
                        return Err(DdbError::invalid_param(format!(
                            "Table already has an enabled stream: TableName: {}",
                            t.name
                        )));
                    }
                    (None, None) => {
                        return Err(DdbError::invalid_param(format!(
                            "Table already has a disabled stream: TableName: {}",
                            t.name
                        )));
                    }
                    (_, s) => {
                        t.stream_label = s.as_ref().map(|_| table::stream_label(now));
                        t.stream = s;
                        match &t.stream {
                            Some(_) => streams::open(p, t, txn, now),
                            None => streams::close_all(p, &t.name, txn, now),
                        }
                    }
                }
                changed = true;
            }
            if let Some(d) = input.deletion_protection_enabled {
                t.deletion_protection = d;
                changed = true;
            }
            if let Some(c) = &input.table_class {
                if !matches!(c.as_str(), "STANDARD" | "STANDARD_INFREQUENT_ACCESS") {
                    return Err(DdbError::constraint(
                        c,
                        "tableClass",
                        "Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
                    ));
                }
                t.table_class = c.clone();
                changed = true;
            }
            let structural = input
                .global_secondary_index_updates
                .iter()
                .flatten()
                .filter(|u| u.create.is_some() || u.delete.is_some())
                .count();
            if structural > 1 {
                return Err(DdbError::new(
                    "LimitExceededException",
                    "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
                ));
            }
            for u in input.global_secondary_index_updates.iter().flatten() {
                changed = true;
                let n = [u.create.is_some(), u.update.is_some(), u.delete.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if n != 1 {
                    return Err(DdbError::invalid_param(
                        "One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update, or GlobalSecondaryIndexUpdate.Delete must be specified",
                    ));
                }
                if let Some(c) = &u.create {
                    let mut defs = t.attributes.clone();
                    for d in &new_defs {
                        match defs.iter().find(|a| a.name == d.name) {
                            Some(a) if a.kind != d.kind => {
                                return Err(DdbError::invalid_param(format!(
                                    "Cannot change the type of attribute {} from {} to {}",
                                    d.name,
                                    a.kind.as_str(),
                                    d.kind.as_str()
                                )));
                            }
                            Some(_) => {}
                            None => defs.push(d.clone()),
                        }
                    }
                    let idx = table::parse_index(c, &defs, true, t.pay_per_request)?;
                    if t.index(&idx.name).is_some() {
                        return Err(DdbError::invalid_param(format!(
                            "Attempting to create an index which already exists: {}",
                            idx.name
                        )));
                    }
                    if t.gsis.len() >= table::MAX_GSIS {
                        return Err(DdbError::new(
                            "LimitExceededException",
                            "GlobalSecondaryIndex count exceeds the per-table limit of 20",
                        ));
                    }
                    t.attributes = defs;
                    self.backfill(p, t, idx, txn)?;
                } else if let Some(d) = &u.delete {
                    let iname = d
                        .index_name
                        .clone()
                        .ok_or_else(|| DdbError::missing("indexName"))?;
                    let Some(pos) = t.gsis.iter().position(|i| i.name == iname) else {
                        return Err(DdbError::not_found().with_message(format!(
                            "Requested resource not found: Index: {iname} not found"
                        )));
                    };
                    t.gsis.remove(pos);
                    txn.remove_prefix(&keys::index(p, t.id, &iname));
                    table::prune_attributes(t);
                } else if let Some(up) = &u.update {
                    let iname = up
                        .index_name
                        .clone()
                        .ok_or_else(|| DdbError::missing("indexName"))?;
                    let tp = table::parse_throughput(
                        up.provisioned_throughput.as_ref(),
                        "provisionedThroughput",
                    )?;
                    let ppr = t.pay_per_request;
                    let Some(idx) = t.gsis.iter_mut().find(|i| i.name == iname) else {
                        return Err(DdbError::not_found().with_message(format!(
                            "Requested resource not found: Index: {iname} not found"
                        )));
                    };
                    if ppr && tp.is_some() {
                        return Err(DdbError::invalid_param(
                            "ProvisionedThroughput cannot be specified for an index of a PAY_PER_REQUEST table",
                        ));
                    }
                    idx.throughput = tp.or(idx.throughput);
                }
            }
            if !changed {
                return Err(DdbError::validation(
                    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
                ));
            }
            Ok(())
        })?;
        ok(
            json!({"TableDescription": t.describe(ctx, "ACTIVE")}),
            Some(v),
        )
    }

    /// Add a new global secondary index and fill it from the table's items.
    fn backfill(
        &self,
        p: &Partition,
        t: &mut TableMeta,
        idx: table::IndexMeta,
        txn: &mut snapstack_engine::store::Txn<'_, Rec>,
    ) -> DdbResult<()> {
        let name = idx.name.clone();
        t.gsis.push(idx);
        items::backfill(p, t, txn, &name);
        Ok(())
    }

    fn tag_resource(&self, ctx: &RequestContext, input: TagResourceIn) -> DdbResult<Output> {
        let arn = input
            .resource_arn
            .ok_or_else(|| DdbError::missing("resourceArn"))?;
        let name = table::table_from_arn(ctx, &arn)?;
        let tags = table::parse_tags(&input.tags.ok_or_else(|| DdbError::missing("tags"))?)?;
        let (_, _, v) = self
            .modify_table(&ctx.partition, &name, |t, _| {
                table::merge_tags(&mut t.tags, tags)
            })
            .map_err(not_found_arn(&arn))?;
        ok(json!({}), Some(v))
    }

    fn untag_resource(&self, ctx: &RequestContext, input: TagResourceIn) -> DdbResult<Output> {
        let arn = input
            .resource_arn
            .ok_or_else(|| DdbError::missing("resourceArn"))?;
        let name = table::table_from_arn(ctx, &arn)?;
        let keys = input.tag_keys.ok_or_else(|| DdbError::missing("tagKeys"))?;
        let (_, _, v) = self
            .modify_table(&ctx.partition, &name, |t, _| {
                t.tags.retain(|(k, _)| !keys.contains(k));
                Ok(())
            })
            .map_err(not_found_arn(&arn))?;
        ok(json!({}), Some(v))
    }

    fn list_tags(&self, ctx: &RequestContext, input: TagResourceIn) -> DdbResult<Output> {
        let arn = input
            .resource_arn
            .ok_or_else(|| DdbError::missing("resourceArn"))?;
        let name = table::table_from_arn(ctx, &arn)?;
        let t = self
            .table(&ctx.partition, &name)
            .map_err(not_found_arn(&arn))?;
        // Tags are few (at most 50): one page, keyed by position for NextToken.
        let start: usize = match &input.next_token {
            Some(tok) => tok
                .parse()
                .map_err(|_| DdbError::validation("Invalid NextToken"))?,
            None => 0,
        };
        let tags: Vec<Value> = t
            .tags
            .iter()
            .skip(start)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        ok(json!({"Tags": tags}), None)
    }

    fn update_ttl(&self, ctx: &RequestContext, input: UpdateTtlIn) -> DdbResult<Output> {
        let name = table::table_name(input.table_name.as_ref())?;
        let spec = input
            .time_to_live_specification
            .ok_or_else(|| DdbError::missing("timeToLiveSpecification"))?;
        let enabled = spec
            .enabled
            .ok_or_else(|| DdbError::missing("timeToLiveSpecification.enabled"))?;
        let attr = spec
            .attribute_name
            .ok_or_else(|| DdbError::missing("timeToLiveSpecification.attributeName"))?;
        if attr.is_empty() || attr.len() > 255 {
            return Err(DdbError::constraint(
                &attr,
                "timeToLiveSpecification.attributeName",
                "Member must have length between 1 and 255",
            ));
        }
        let p = &ctx.partition;
        let (_, _, v) = self.modify_table(p, &name, |t, txn| {
            match (&t.ttl_attribute, enabled) {
                (Some(_), true) => Err(DdbError::validation("TimeToLive is already enabled")),
                (None, false) => Err(DdbError::validation("TimeToLive is already disabled")),
                (Some(a), false) if *a != attr => Err(DdbError::validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {a}"
                ))),
                _ => {
                    t.ttl_attribute = enabled.then(|| attr.clone());
                    self.rebuild_expiries(p, t, txn);
                    Ok(())
                }
            }
        })?;
        ok(
            json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}),
            Some(v),
        )
    }

    /// Rebuild a table's TTL entries after TTL was switched on or off.
    fn rebuild_expiries(
        &self,
        p: &Partition,
        t: &TableMeta,
        txn: &mut snapstack_engine::store::Txn<'_, Rec>,
    ) {
        items::rebuild_expiries(p, t, txn);
    }
}

fn not_found_arn(arn: &str) -> impl Fn(DdbError) -> DdbError + '_ {
    move |e| {
        if e.code == "ResourceNotFoundException" {
            DdbError::new(
                "ResourceNotFoundException",
                format!("Requested resource not found: ResourcArn: {arn} not found"),
            )
        } else {
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RequestContext {
        RequestContext::from_scope(None)
    }

    fn call(d: &DynamoDb, op: &str, body: Value) -> DdbResult<Value> {
        let h = d.handle(&ctx(), op, body.to_string().as_bytes())?;
        Ok(crate::as_sent(op, &h))
    }

    #[test]
    fn table_lifecycle() {
        let d = DynamoDb::with_clock(Arc::new(|| 1_700_000_000_000));
        let create = json!({"TableName": "tab1", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"});
        let r = call(&d, "CreateTable", create.clone()).unwrap();
        assert_eq!(r["TableDescription"]["TableStatus"], "ACTIVE");
        assert_eq!(r["TableDescription"]["CreationDateTime"], 1_700_000_000.0);
        let e = call(&d, "CreateTable", create).unwrap_err();
        assert_eq!(e.code, "ResourceInUseException");
        for n in ["tab3", "tab2"] {
            call(&d, "CreateTable", json!({"TableName": n, "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}})).unwrap();
        }
        let l = call(&d, "ListTables", json!({"Limit": 2})).unwrap();
        assert_eq!(l["TableNames"], json!(["tab1", "tab2"]));
        assert_eq!(l["LastEvaluatedTableName"], "tab2");
        let l = call(&d, "ListTables", json!({"ExclusiveStartTableName": "tab2"})).unwrap();
        assert_eq!(l["TableNames"], json!(["tab3"]));
        assert!(l.get("LastEvaluatedTableName").is_none());
        call(&d, "DeleteTable", json!({"TableName": "tab2"})).unwrap();
        let e = call(&d, "DescribeTable", json!({"TableName": "tab2"})).unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
        let arn = table::table_arn(&ctx(), "tab1");
        call(&d, "TagResource", json!({"ResourceArn": arn, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})).unwrap();
        call(
            &d,
            "UntagResource",
            json!({"ResourceArn": arn, "TagKeys": ["a"]}),
        )
        .unwrap();
        let t = call(&d, "ListTagsOfResource", json!({"ResourceArn": arn})).unwrap();
        assert_eq!(t["Tags"], json!([{"Key": "b", "Value": "2"}]));
        let u = call(&d, "UpdateTimeToLive", json!({"TableName": "tab1", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}})).unwrap();
        assert_eq!(u["TimeToLiveSpecification"]["AttributeName"], "exp");
        let e = call(&d, "UpdateTimeToLive", json!({"TableName": "tab1", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}})).unwrap_err();
        assert_eq!(e.message, "TimeToLive is already enabled");
        let t = call(&d, "DescribeTimeToLive", json!({"TableName": "tab1"})).unwrap();
        assert_eq!(t["TimeToLiveDescription"]["TimeToLiveStatus"], "ENABLED");
    }

    #[test]
    fn a_recreated_table_gets_a_new_id() {
        let d = DynamoDb::new();
        let create = json!({"TableName": "tab1", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"});
        call(&d, "CreateTable", create.clone()).unwrap();
        let a = d.table(&ctx().partition, "tab1").unwrap().id;
        call(&d, "DeleteTable", json!({"TableName": "tab1"})).unwrap();
        call(&d, "CreateTable", create).unwrap();
        assert_ne!(d.table(&ctx().partition, "tab1").unwrap().id, a);
    }

    #[test]
    fn bad_bodies_are_serialization_errors() {
        let d = DynamoDb::new();
        let e = d.handle(&ctx(), "ListTables", b"{nope").unwrap_err();
        assert_eq!(e.code, "SerializationException");
        let e = d.handle(&ctx(), "ListTables", b"[]").unwrap_err();
        assert_eq!(e.code, "SerializationException");
        let e = d
            .handle(&ctx(), "CreateTable", br#"{"TableName": 5}"#)
            .unwrap_err();
        assert_eq!(e.code, "SerializationException");
    }
}

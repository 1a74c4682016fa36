//! Exports to S3 (ExportTableToPointInTime) and imports from S3 (ImportTable), with their
//! Describe and List operations.
//!
//! Both are asynchronous in AWS, and here they are state: the request writes a transfer record
//! (`IN_PROGRESS`) and answers; a background task ([`DynamoDb::run_transfers`]) does the S3 work
//! through S3's `invoke` and records the outcome. A transfer in progress when the server stops
//! runs again after the restart: an export writes the same object keys again, an import puts
//! the same items again, so a repeat changes nothing.
//!
//! Exports write AWS's layout: `<prefix>/AWSDynamoDB/<export id>/` with `_started`,
//! `data/<n>.json.gz` (DynamoDB JSON, one `{"Item": ...}` a line), `manifest-files.json`,
//! `manifest-summary.json` and their `.md5` files. The items are the table's as the export runs:
//! point-in-time recovery here restores the current items too (see `backup.rs`), so an
//! `ExportTime` is checked against the recovery window and recorded, not travelled to.
//! Imports read DynamoDB JSON and CSV, uncompressed or GZIP; ION and ZSTD input, and
//! incremental exports, fail with a message saying so.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_service::{RequestContext, Runtime};

use crate::backup::{DAY_MS, DEFAULT_RECOVERY_DAYS};
use crate::{DdbError, DdbResult, DynamoDb, NAME, Output, Rec, keys, ok, table, value};

/// The most items in one export data file.
const ITEMS_PER_FILE: usize = 100_000;
/// Uncompressed bytes after which an export data file is closed.
const BYTES_PER_FILE: usize = 64 << 20;
/// The largest S3 object an import reads (it is read whole).
const MAX_IMPORT_OBJECT: u64 = 256 << 20;
/// The most transfers one List answers per page.
const MAX_PAGE: usize = 25;

/// An export or import, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// `true` for an export, `false` for an import.
    pub export: bool,
    pub id: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    /// The table's name (exported from, or created by the import).
    pub table: String,
    pub table_arn: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub status: String,
    pub client_token: Option<String>,
    /// The description AWS answers (ExportDescription / ImportTableDescription), as JSON text.
    pub description: String,
}

impl Transfer {
    fn describe(&self) -> Value {
        let mut d: Value = serde_json::from_str(&self.description).unwrap_or_else(|_| json!({}));
        let field = if self.export {
            "ExportStatus"
        } else {
            "ImportStatus"
        };
        d[field] = json!(self.status);
        d
    }
}

/// The global prefix of transfer records (the background task finds them in every partition).
fn transfers() -> Key {
    Key::builder().str("~transfer").build()
}

fn transfer_key(id: &str) -> Key {
    Key::builder().str("~transfer").str(id).build()
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn ctx_for(t: &Transfer) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: Partition::new(&t.account, &t.region),
        scope_service: Some(NAME.to_string()),
        request_id: t.id.clone(),
    }
}

fn str_in<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

impl DynamoDb {
    /// An id like AWS's (`01700000000000-1a2b3c4d`): the time and a hash of the request.
    fn transfer_id(&self, now: u64, seed: &str) -> String {
        let h = blake3::hash(format!("{now}/{seed}/{}", self.now_ms()).as_bytes());
        let b = h.as_bytes();
        format!(
            "{now:014}-{:08x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        )
    }

    fn find_transfer(&self, ctx: &RequestContext, arn: &str, export: bool) -> DdbResult<Transfer> {
        let id = arn
            .rsplit_once(if export { "/export/" } else { "/import/" })
            .map(|(_, id)| id)
            .unwrap_or("");
        match self.store.snapshot().get(&transfer_key(id)) {
            Some(Rec::Transfer(t))
                if t.arn == arn
                    && t.export == export
                    && t.account == ctx.account()
                    && t.region == ctx.region() =>
            {
                Ok((**t).clone())
            }
            _ if export => Err(DdbError::new(
                "ExportNotFoundException",
                format!("Export not found: {arn}"),
            )),
            _ => Err(DdbError::new(
                "ImportNotFoundException",
                format!("Import not found: {arn}"),
            )),
        }
    }

    /// A transfer with this client token in this partition, if one exists.
    fn by_token(&self, ctx: &RequestContext, token: &str, export: bool) -> Option<Transfer> {
        let snap = self.store.snapshot();
        snap.scan_prefix(&transfers()).find_map(|(_, r)| match r {
            Rec::Transfer(t)
                if t.export == export
                    && t.client_token.as_deref() == Some(token)
                    && t.account == ctx.account()
                    && t.region == ctx.region() =>
            {
                Some((**t).clone())
            }
            _ => None,
        })
    }

    fn store_transfer(&self, t: Transfer) -> u64 {
        let key = transfer_key(&t.id);
        let ((), v) = self.store.write(|txn| {
            txn.insert(key, Rec::Transfer(Box::new(t)));
        });
        v
    }

    pub(crate) fn export_table(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let table_arn = str_in(body, "TableArn").unwrap_or_default();
        let name = table::table_from_arn(ctx, table_arn).map_err(|_| {
            DdbError::new(
                "TableNotFoundException",
                format!("Table not found: {table_arn}"),
            )
        })?;
        let p = &ctx.partition;
        let t = self.table(p, &name).map_err(|_| {
            DdbError::new(
                "TableNotFoundException",
                format!("Table not found: {table_arn}"),
            )
        })?;
        let token = str_in(body, "ClientToken").map(str::to_string);
        if let Some(tok) = &token
            && let Some(existing) = self.by_token(ctx, tok, true)
        {
            return ok(json!({"ExportDescription": existing.describe()}), None);
        }
        let e = self.extras_of(p, &t);
        let Some(since) = e.pitr_enabled_ms else {
            return Err(DdbError::new(
                "PointInTimeRecoveryUnavailableException",
                format!("Point in time recovery is not enabled for table '{name}'"),
            ));
        };
        let now = self.now_ms();
        let export_time = match body.get("ExportTime").and_then(Value::as_f64) {
            Some(at) => {
                let days = if e.pitr_days == 0 {
                    DEFAULT_RECOVERY_DAYS
                } else {
                    e.pitr_days
                };
                let earliest = secs(since.max(now.saturating_sub(days * DAY_MS)));
                if at < earliest.floor() || at > secs(now) {
                    return Err(DdbError::new(
                        "InvalidExportTimeException",
                        format!("Export time must be between {earliest} and {}", secs(now)),
                    ));
                }
                at
            }
            None => secs(now),
        };
        let format = str_in(body, "ExportFormat").unwrap_or("DYNAMODB_JSON");
        let export_type = str_in(body, "ExportType").unwrap_or("FULL_EXPORT");
        let id = self.transfer_id(now, table_arn);
        let arn = format!("{}/export/{id}", t.arn(ctx));
        let bucket = str_in(body, "S3Bucket").unwrap_or_default();
        let mut d = json!({
            "ExportArn": arn,
            "StartTime": secs(now),
            "TableArn": t.arn(ctx),
            "TableId": t.table_id(),
            "ExportTime": export_time,
            "S3Bucket": bucket,
            "S3SseAlgorithm": str_in(body, "S3SseAlgorithm").unwrap_or("AES256"),
            "ExportFormat": format,
            "ExportType": export_type,
        });
        for f in ["ClientToken", "S3BucketOwner", "S3Prefix", "S3SseKmsKeyId"] {
            if let Some(v) = body.get(f) {
                d[f] = v.clone();
            }
        }
        if let Some(spec) = body.get("IncrementalExportSpecification") {
            d["IncrementalExportSpecification"] = spec.clone();
        }
        let tr = Transfer {
            export: true,
            id,
            arn,
            account: ctx.account().to_string(),
            region: ctx.region().to_string(),
            table: name,
            table_arn: t.arn(ctx),
            status: "IN_PROGRESS".into(),
            client_token: token,
            description: d.to_string(),
        };
        let v = self.store_transfer(tr.clone());
        ok(json!({"ExportDescription": tr.describe()}), Some(v))
    }

    pub(crate) fn describe_export(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let arn = str_in(body, "ExportArn").unwrap_or_default();
        let t = self.find_transfer(ctx, arn, true)?;
        ok(json!({"ExportDescription": t.describe()}), None)
    }

    pub(crate) fn import_table(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let token = str_in(body, "ClientToken").map(str::to_string);
        if let Some(tok) = &token
            && let Some(existing) = self.by_token(ctx, tok, false)
        {
            return ok(json!({"ImportTableDescription": existing.describe()}), None);
        }
        let params = body
            .get("TableCreationParameters")
            .cloned()
            .unwrap_or_else(|| json!({}));
        // The table is created now, with the creation parameters (and CreateTable's checks).
        let created = self.handle_value(ctx, "CreateTable", &params)?;
        let desc = &created.value["TableDescription"];
        let name = desc["TableName"].as_str().unwrap_or_default().to_string();
        let table_arn = desc["TableArn"].as_str().unwrap_or_default().to_string();
        let now = self.now_ms();
        let id = self.transfer_id(now, &table_arn);
        let arn = format!("{table_arn}/import/{id}");
        let mut d = json!({
            "ImportArn": arn,
            "TableArn": table_arn,
            "TableId": desc["TableId"],
            "S3BucketSource": body["S3BucketSource"],
            "InputFormat": body["InputFormat"],
            "InputCompressionType": str_in(body, "InputCompressionType").unwrap_or("NONE"),
            "TableCreationParameters": params,
            "StartTime": secs(now),
            "CloudWatchLogGroupArn": format!(
                "arn:aws:logs:{}:{}:log-group:/aws-dynamodb/imports:*",
                ctx.region(),
                ctx.account()
            ),
            "ProcessedSizeBytes": 0,
            "ProcessedItemCount": 0,
            "ImportedItemCount": 0,
            "ErrorCount": 0,
        });
        for f in ["ClientToken", "InputFormatOptions"] {
            if let Some(v) = body.get(f) {
                d[f] = v.clone();
            }
        }
        let tr = Transfer {
            export: false,
            id,
            arn,
            account: ctx.account().to_string(),
            region: ctx.region().to_string(),
            table: name,
            table_arn,
            status: "IN_PROGRESS".into(),
            client_token: token,
            description: d.to_string(),
        };
        let v = self.store_transfer(tr.clone());
        let v = created.write_version.map_or(v, |c| c.max(v));
        ok(json!({"ImportTableDescription": tr.describe()}), Some(v))
    }

    pub(crate) fn describe_import(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let arn = str_in(body, "ImportArn").unwrap_or_default();
        let t = self.find_transfer(ctx, arn, false)?;
        ok(json!({"ImportTableDescription": t.describe()}), None)
    }

    /// ListExports and ListImports: this partition's transfers in id (= time) order, filtered by
    /// table, in pages; the token is the last id answered.
    pub(crate) fn list_transfers(
        &self,
        ctx: &RequestContext,
        body: &Value,
        export: bool,
    ) -> DdbResult<Output> {
        let limit_field = if export { "MaxResults" } else { "PageSize" };
        let limit = body
            .get(limit_field)
            .and_then(Value::as_u64)
            .map_or(MAX_PAGE, |n| (n as usize).clamp(1, MAX_PAGE));
        let after = str_in(body, "NextToken").unwrap_or_default();
        let table_arn = str_in(body, "TableArn");
        let snap = self.store.snapshot();
        let mut page = Vec::new();
        let mut next = None;
        for (_, r) in snap.scan_prefix(&transfers()) {
            let Rec::Transfer(t) = r else { continue };
            if t.export != export
                || t.account != ctx.account()
                || t.region != ctx.region()
                || table_arn.is_some_and(|a| a != t.table_arn)
                || t.id.as_str() <= after
            {
                continue;
            }
            if page.len() == limit {
                next = page.last().map(|(id, _): &(String, Value)| id.clone());
                break;
            }
            let d = t.describe();
            let summary = if export {
                json!({"ExportArn": t.arn, "ExportStatus": t.status, "ExportType": d["ExportType"]})
            } else {
                let mut s =
                    json!({"ImportArn": t.arn, "ImportStatus": t.status, "TableArn": t.table_arn});
                for f in [
                    "S3BucketSource",
                    "InputFormat",
                    "StartTime",
                    "EndTime",
                    "CloudWatchLogGroupArn",
                ] {
                    if !d[f].is_null() {
                        s[f] = d[f].clone();
                    }
                }
                s
            };
            page.push((t.id.clone(), summary));
        }
        let list: Vec<Value> = page.into_iter().map(|(_, s)| s).collect();
        let mut out = if export {
            json!({"ExportSummaries": list})
        } else {
            json!({"ImportSummaryList": list})
        };
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        ok(out, None)
    }

    /// Run every transfer still in progress (the background task calls this now and then).
    pub(crate) async fn run_transfers(&self, rt: &dyn Runtime) {
        let pending: Vec<Transfer> = self
            .store
            .snapshot()
            .scan_prefix(&transfers())
            .filter_map(|(_, r)| match r {
                Rec::Transfer(t) if t.status == "IN_PROGRESS" => Some((**t).clone()),
                _ => None,
            })
            .collect();
        for t in pending {
            let result = if t.export {
                self.run_export(rt, &t).await
            } else {
                self.run_import(rt, &t).await
            };
            let mut done = t.clone();
            let mut d = t.describe();
            d["EndTime"] = json!(secs(self.now_ms()));
            match result {
                Ok(fields) => {
                    done.status = "COMPLETED".into();
                    for (k, v) in fields {
                        d[k] = v;
                    }
                }
                Err((code, message)) => {
                    tracing::warn!(arn = %t.arn, %code, %message, "a DynamoDB transfer failed");
                    done.status = "FAILED".into();
                    d["FailureCode"] = json!(code);
                    d["FailureMessage"] = json!(message);
                }
            }
            done.description = d.to_string();
            let key = transfer_key(&t.id);
            // Written only if the record is still the one that ran (not replaced meanwhile),
            // and made durable as a request's change would be.
            let ((), v) = self.store.write(|txn| {
                if matches!(txn.get(&key), Some(Rec::Transfer(cur)) if **cur == t) {
                    txn.insert(key.clone(), Rec::Transfer(Box::new(done)));
                }
            });
            if let Err(e) = rt.wait_durable(NAME, v).await {
                tracing::warn!(arn = %t.arn, error = %e, "a finished DynamoDB transfer is not durable yet");
            }
        }
    }

    async fn run_export(
        &self,
        rt: &dyn Runtime,
        t: &Transfer,
    ) -> Result<Vec<(&'static str, Value)>, (String, String)> {
        let d = t.describe();
        if d["ExportType"] == "INCREMENTAL_EXPORT" {
            return Err((
                "UnsupportedOperation".into(),
                "Incremental exports are not supported by this emulator (it keeps no change log to export from)".into(),
            ));
        }
        if d["ExportFormat"] == "ION" {
            return Err((
                "UnsupportedOperation".into(),
                "ION exports are not supported by this emulator; export DYNAMODB_JSON".into(),
            ));
        }
        let ctx = ctx_for(t);
        let bucket = d["S3Bucket"].as_str().unwrap_or_default().to_string();
        let prefix = d["S3Prefix"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/');
        let base = if prefix.is_empty() {
            format!("AWSDynamoDB/{}", t.id)
        } else {
            format!("{prefix}/AWSDynamoDB/{}", t.id)
        };
        put_object(rt, &ctx, &bucket, format!("{base}/_started"), Vec::new()).await?;
        // The items as they are now, written in files of bounded size.
        let meta = self.table(&ctx.partition, &t.table).map_err(|_| {
            (
                "TableNotFound".to_string(),
                format!("Table {} was deleted", t.table),
            )
        })?;
        let snap = self.store.snapshot();
        let prefix = keys::items(&ctx.partition, meta.id);
        let (mut count, mut billed, mut files) = (0u64, 0u64, Vec::new());
        let mut after: Option<Key> = None;
        loop {
            // Built without awaiting (the snapshot's iterators stay on this side of an await).
            let (data, in_file, size, last) = export_file(&snap, &prefix, after.as_ref());
            billed += size;
            let key = format!("{base}/data/{:08}.json.gz", files.len());
            let md5 = B64.encode(md5::Md5::digest(&data));
            let etag = hex(&md5::Md5::digest(&data));
            put_object(rt, &ctx, &bucket, key.clone(), data).await?;
            files.push(json!({"itemCount": in_file, "md5Checksum": md5, "etag": etag, "dataFileS3Key": key}));
            count += in_file;
            match last {
                Some(k) => after = Some(k),
                None => break,
            }
        }
        let manifest_files: String = files.iter().map(|f| format!("{f}\n")).collect();
        let files_key = format!("{base}/manifest-files.json");
        let summary_key = format!("{base}/manifest-summary.json");
        let summary = json!({
            "version": "2020-06-30",
            "exportArn": t.arn,
            "startTime": d["StartTime"],
            "endTime": secs(self.now_ms()),
            "tableArn": t.table_arn,
            "tableId": d["TableId"],
            "exportTime": d["ExportTime"],
            "s3Bucket": bucket,
            "s3Prefix": d["S3Prefix"],
            "s3SseAlgorithm": d["S3SseAlgorithm"],
            "s3SseKmsKeyId": d["S3SseKmsKeyId"],
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": billed,
            "itemCount": count,
            "outputFormat": "DYNAMODB_JSON",
            "exportType": "FULL_EXPORT",
        })
        .to_string();
        put_object(
            rt,
            &ctx,
            &bucket,
            format!("{base}/manifest-files.md5"),
            hex(&md5::Md5::digest(manifest_files.as_bytes())).into_bytes(),
        )
        .await?;
        put_object(rt, &ctx, &bucket, files_key, manifest_files.into_bytes()).await?;
        put_object(
            rt,
            &ctx,
            &bucket,
            format!("{base}/manifest-summary.md5"),
            hex(&md5::Md5::digest(summary.as_bytes())).into_bytes(),
        )
        .await?;
        put_object(rt, &ctx, &bucket, summary_key.clone(), summary.into_bytes()).await?;
        Ok(vec![
            ("ExportManifest", json!(summary_key)),
            ("ItemCount", json!(count)),
            ("BilledSizeBytes", json!(billed)),
        ])
    }

    async fn run_import(
        &self,
        rt: &dyn Runtime,
        t: &Transfer,
    ) -> Result<Vec<(&'static str, Value)>, (String, String)> {
        let d = t.describe();
        let format = d["InputFormat"].as_str().unwrap_or_default().to_string();
        let compression = d["InputCompressionType"]
            .as_str()
            .unwrap_or("NONE")
            .to_string();
        if format == "ION" {
            return Err((
                "UnsupportedOperation".into(),
                "ION input is not supported by this emulator; import DYNAMODB_JSON or CSV".into(),
            ));
        }
        if compression == "ZSTD" {
            return Err((
                "UnsupportedOperation".into(),
                "ZSTD input is not supported by this emulator; use GZIP or NONE".into(),
            ));
        }
        let ctx = ctx_for(t);
        let src = &d["S3BucketSource"];
        let bucket = src["S3Bucket"].as_str().unwrap_or_default();
        let prefix = src["S3KeyPrefix"].as_str().unwrap_or_default();
        let s3err = |e: snapstack_protocol::errors::AwsError| (format!("S3{}", e.code), e.message);
        // Every object under the prefix, in key order.
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut input = json!({"Bucket": bucket, "Prefix": prefix});
            if let Some(tok) = &token {
                input["ContinuationToken"] = json!(tok);
            }
            let page = rt
                .invoke(&ctx, "s3", "ListObjectsV2", input)
                .await
                .map_err(s3err)?;
            for o in page["Contents"].as_array().into_iter().flatten() {
                let key = o["Key"].as_str().unwrap_or_default().to_string();
                let size = o["Size"].as_u64().unwrap_or(0);
                if !key.ends_with('/') {
                    objects.push((key, size));
                }
            }
            match page["NextContinuationToken"].as_str() {
                Some(next) if page["IsTruncated"] == true => token = Some(next.to_string()),
                _ => break,
            }
        }
        let csv = d["InputFormatOptions"]["Csv"].clone();
        let (mut processed, mut imported, mut errors, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        for (key, size) in objects {
            if size > MAX_IMPORT_OBJECT {
                return Err((
                    "InvalidInput".into(),
                    format!(
                        "s3://{bucket}/{key} is over {MAX_IMPORT_OBJECT} bytes, the largest object this emulator imports"
                    ),
                ));
            }
            let got = rt
                .invoke(
                    &ctx,
                    "s3",
                    "GetObject",
                    json!({"Bucket": bucket, "Key": key}),
                )
                .await
                .map_err(s3err)?;
            let raw = B64
                .decode(got["Body"].as_str().unwrap_or_default())
                .map_err(|e| ("InternalError".to_string(), e.to_string()))?;
            bytes += raw.len() as u64;
            let text = match compression.as_str() {
                "GZIP" => {
                    let mut out = String::new();
                    flate2::read::MultiGzDecoder::new(&raw[..])
                        .take(MAX_IMPORT_OBJECT * 4)
                        .read_to_string(&mut out)
                        .map_err(|e| {
                            (
                                "InvalidInput".to_string(),
                                format!("s3://{bucket}/{key}: not GZIP text: {e}"),
                            )
                        })?;
                    out
                }
                _ => String::from_utf8(raw).map_err(|_| {
                    (
                        "InvalidInput".to_string(),
                        format!("s3://{bucket}/{key}: not UTF-8 text"),
                    )
                })?,
            };
            let items: Vec<Option<Value>> = if format == "CSV" {
                csv_items(&text, &csv, &d["TableCreationParameters"])
            } else {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        serde_json::from_str::<Value>(l)
                            .ok()
                            .and_then(|v| v.get("Item").cloned())
                    })
                    .collect()
            };
            for item in items {
                processed += 1;
                let Some(item) = item else {
                    errors += 1;
                    continue;
                };
                let put = json!({"TableName": t.table, "Item": item});
                match self.handle_value(&ctx, "PutItem", &put) {
                    Ok(_) => imported += 1,
                    Err(_) => errors += 1,
                }
            }
        }
        Ok(vec![
            ("ProcessedItemCount", json!(processed)),
            ("ImportedItemCount", json!(imported)),
            ("ErrorCount", json!(errors)),
            ("ProcessedSizeBytes", json!(bytes)),
        ])
    }
}

/// One data file of an export: the gzipped DynamoDB JSON lines of the items under `prefix` after
/// `after`, up to the file's bounds; its item count and billed size, and the last key when more
/// items follow.
fn export_file(
    snap: &snapstack_engine::Snapshot<Rec>,
    prefix: &Key,
    after: Option<&Key>,
) -> (Vec<u8>, u64, u64, Option<Key>) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let (mut count, mut billed, mut bytes) = (0u64, 0u64, 0usize);
    let mut items = snap
        .scan_prefix(prefix)
        .skip_while(|(k, _)| after.is_some_and(|a| *k <= a))
        .peekable();
    let mut last = None;
    while let Some((k, r)) = items.next() {
        let Rec::Item(item) = r else { continue };
        let line = json!({"Item": value::item_to_json(item)}).to_string();
        billed += value::item_size(item) as u64;
        bytes += line.len() + 1;
        // Writes into a Vec cannot fail.
        let _ = gz.write_all(line.as_bytes());
        let _ = gz.write_all(b"\n");
        count += 1;
        if (count as usize >= ITEMS_PER_FILE || bytes >= BYTES_PER_FILE) && items.peek().is_some() {
            last = Some(k.clone());
            break;
        }
    }
    (gz.finish().unwrap_or_default(), count, billed, last)
}

/// One object into S3, through S3's `invoke`.
async fn put_object(
    rt: &dyn Runtime,
    ctx: &RequestContext,
    bucket: &str,
    key: String,
    body: Vec<u8>,
) -> Result<(), (String, String)> {
    let input = json!({"Bucket": bucket, "Key": key, "Body": B64.encode(body)});
    rt.invoke(ctx, "s3", "PutObject", input)
        .await
        .map(|_| ())
        .map_err(|e| (format!("S3{}", e.code), e.message))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The items of a CSV import: the header list (or the first line), each value a string (`S`)
/// except the key attributes, typed by their attribute definitions (`N`, `B` base64). A line that
/// cannot be read is `None` (an error in the import's count).
fn csv_items(text: &str, options: &Value, params: &Value) -> Vec<Option<Value>> {
    let delimiter = options["Delimiter"]
        .as_str()
        .and_then(|d| d.chars().next())
        .unwrap_or(',');
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = match options["HeaderList"].as_array() {
        Some(h) if !h.is_empty() => h
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => match lines.next() {
            Some(l) => split_csv(l, delimiter).unwrap_or_default(),
            None => return Vec::new(),
        },
    };
    let types: Vec<(String, String)> = params["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some((
                a["AttributeName"].as_str()?.to_string(),
                a["AttributeType"].as_str()?.to_string(),
            ))
        })
        .collect();
    lines
        .map(|l| {
            let fields = split_csv(l, delimiter)?;
            if fields.len() > header.len() {
                return None;
            }
            let mut item = serde_json::Map::new();
            for (name, v) in header.iter().zip(fields) {
                if v.is_empty() {
                    continue;
                }
                let ty = types
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("S", |(_, t)| t.as_str());
                item.insert(name.clone(), json!({ ty: v }));
            }
            Some(Value::Object(item))
        })
        .collect()
}

/// One CSV line (RFC 4180 quoting within the line); `None` for an unterminated quote.
fn split_csv(line: &str, delimiter: char) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() => quoted = true,
            (false, c) if c == delimiter => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(cur);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\"", ','),
            Some(vec!["a".into(), "b,c".into(), "d\"e".into()])
        );
        assert_eq!(split_csv("a;b", ';'), Some(vec!["a".into(), "b".into()]));
        assert_eq!(split_csv("\"open", ','), None);
    }

    #[test]
    fn csv_items_type_their_keys() {
        let params = json!({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}]});
        let items = csv_items(
            "pk,n,note\na,7,hello\nb,8,\n\"bad,9,x\n",
            &json!({}),
            &params,
        );
        assert_eq!(
            items[0],
            Some(json!({"pk": {"S": "a"}, "n": {"N": "7"}, "note": {"S": "hello"}}))
        );
        assert_eq!(items[1], Some(json!({"pk": {"S": "b"}, "n": {"N": "8"}})));
        assert_eq!(items[2], None);
    }
}

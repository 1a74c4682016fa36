//! Delivery: which buffers are due (by size or by their absolute interval deadline), the batch
//! a flush takes (the oldest records, up to the buffer size), the object it writes (named from
//! the stream and the batch's first record, so a retried delivery overwrites rather than
//! duplicates), and the one store write that removes the delivered records afterwards.

use std::collections::BTreeMap;
use std::io::Write;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_service::{RequestContext, Runtime};

mod process;

use crate::Firehose;
use crate::describe::{self, is_s3};
use crate::model::{BufRec, Data, FirehoseRecord, StreamRec, rk};
use crate::prefix::{self, Values};

/// S3 deliveries are retried this often (AWS: every 5 seconds).
const S3_RETRY_MS: u64 = 5_000;
/// ...for up to this long after the oldest record arrived (AWS: 24 hours), then dropped.
const S3_RETRY_LIMIT_MS: u64 = 24 * 3600 * 1000;
/// The longest pause between HTTP endpoint attempts.
const HTTP_BACKOFF_MAX_MS: u64 = 30_000;

/// An S3 bucket and how objects are named in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct S3Target {
    pub bucket: String,
    pub prefix: String,
    pub error_prefix: String,
    pub gzip: bool,
    /// A compression format this build does not write (`ZIP`, `Snappy`, `HADOOP_SNAPPY`).
    pub unsupported_compression: Option<String>,
    pub extension: String,
    pub dynamic: bool,
    /// `MetadataExtractionQuery` of dynamic partitioning.
    pub query: Option<String>,
    /// `AppendDelimiterToRecord`'s delimiter.
    pub delimiter: Option<String>,
    /// A Lambda processor the records go through first.
    pub lambda: Option<process::LambdaProcessor>,
}

/// An HTTP endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpTarget {
    pub url: String,
    pub access_key: Option<String>,
    pub common_attributes: BTreeMap<String, String>,
    pub gzip: bool,
    pub retry_ms: u64,
    pub all_data_backup: bool,
}

/// Where a stream's records go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    S3 {
        main: S3Target,
        /// A copy of the source records (`S3BackupMode: Enabled`).
        backup: Option<S3Target>,
    },
    Http {
        endpoint: HttpTarget,
        backup: Option<S3Target>,
    },
    /// Redshift, OpenSearch, Splunk, Snowflake, Iceberg: not delivered by this build.
    Unsupported {
        kind: String,
        backup: Option<S3Target>,
    },
}

/// A stream's delivery settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub target: Target,
    pub size_bytes: u64,
    pub interval_ms: u64,
}

/// `arn:aws:s3:::bucket` → `bucket`.
pub fn bucket_of(arn: &str) -> Option<&str> {
    let b = arn.strip_prefix("arn:")?.split_once(":s3:::")?.1;
    (!b.is_empty() && !b.contains('/')).then_some(b)
}

fn s3_target(c: &Value) -> Option<S3Target> {
    let bucket = bucket_of(c.get("BucketARN")?.as_str()?)?.to_string();
    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let compression = c
        .get("CompressionFormat")
        .and_then(Value::as_str)
        .unwrap_or("UNCOMPRESSED");
    let gzip = compression == "GZIP";
    let unsupported_compression =
        (!matches!(compression, "GZIP" | "UNCOMPRESSED")).then(|| compression.to_string());
    let extension = match c.get("FileExtension").and_then(Value::as_str) {
        Some(e) => e.to_string(),
        None if gzip => ".gz".to_string(),
        None => String::new(),
    };
    let dynamic = c
        .pointer("/DynamicPartitioningConfiguration/Enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut query = None;
    let mut delimiter = None;
    let processors = c
        .pointer("/ProcessingConfiguration/Processors")
        .and_then(Value::as_array);
    let enabled = c
        .pointer("/ProcessingConfiguration/Enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for p in processors.into_iter().flatten() {
        let params = p.get("Parameters").and_then(Value::as_array);
        let param = |name: &str| {
            params.into_iter().flatten().find_map(|x| {
                (x.get("ParameterName")?.as_str()? == name)
                    .then(|| x.get("ParameterValue")?.as_str().map(str::to_string))
                    .flatten()
            })
        };
        match p.get("Type").and_then(Value::as_str) {
            Some("MetadataExtraction") if dynamic => query = param("MetadataExtractionQuery"),
            Some("AppendDelimiterToRecord") if enabled || dynamic => {
                delimiter = Some(param("Delimiter").map_or("\n".to_string(), |d| unescape(&d)))
            }
            _ => {}
        }
    }
    Some(S3Target {
        bucket,
        prefix: text("Prefix"),
        error_prefix: text("ErrorOutputPrefix"),
        gzip,
        unsupported_compression,
        extension,
        dynamic,
        query,
        delimiter,
        lambda: process::lambda_processor(c),
    })
}

fn unescape(d: &str) -> String {
    d.replace("\\n", "\n").replace("\\t", "\t")
}

impl Plan {
    pub fn of(st: &StreamRec) -> Plan {
        let d = st.destinations.first();
        let kind = d.map(|d| d.kind.as_str()).unwrap_or("S3");
        let c: Value = d
            .and_then(|d| serde_json::from_str(&d.config).ok())
            .unwrap_or_default();
        let size_mb = c
            .pointer("/BufferingHints/SizeInMBs")
            .and_then(Value::as_u64)
            .unwrap_or(5);
        let interval_s = c
            .pointer("/BufferingHints/IntervalInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(describe::default_interval(kind));
        let backup_of = |member: &str| c.get(member).and_then(s3_target);
        let target = if is_s3(kind) {
            let backup_on = c.get("S3BackupMode").and_then(Value::as_str) == Some("Enabled");
            Target::S3 {
                main: s3_target(&c).unwrap_or_default(),
                backup: backup_on
                    .then(|| backup_of("S3BackupConfiguration"))
                    .flatten(),
            }
        } else if kind == "HttpEndpoint" {
            let attrs = c
                .pointer("/RequestConfiguration/CommonAttributes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            Some((
                                x.get("AttributeName")?.as_str()?.to_string(),
                                x.get("AttributeValue")?.as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Target::Http {
                endpoint: HttpTarget {
                    url: c
                        .pointer("/EndpointConfiguration/Url")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    access_key: c
                        .pointer("/EndpointConfiguration/AccessKey")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    common_attributes: attrs,
                    gzip: c
                        .pointer("/RequestConfiguration/ContentEncoding")
                        .and_then(Value::as_str)
                        == Some("GZIP"),
                    retry_ms: c
                        .pointer("/RetryOptions/DurationInSeconds")
                        .and_then(Value::as_u64)
                        .unwrap_or(300)
                        * 1000,
                    all_data_backup: c.get("S3BackupMode").and_then(Value::as_str)
                        == Some("AllData"),
                },
                backup: backup_of("S3Configuration"),
            }
        } else {
            Target::Unsupported {
                kind: kind.to_string(),
                backup: backup_of("S3Configuration"),
            }
        };
        Plan {
            target,
            size_bytes: size_mb.max(1) << 20,
            interval_ms: interval_s * 1000,
        }
    }
}

/// The `!{firehose:error-output-type}` of records dynamic partitioning could not place.
const PARTITIONING_FAILED: &str = "partitioning-failed";

/// The `!{firehose:error-output-type}` of a destination kind's failed records.
fn error_type(kind: &str) -> &'static str {
    match kind {
        "HttpEndpoint" => "http-endpoint-failed",
        "Splunk" => "splunk-failed",
        "Elasticsearch" => "elasticsearch-failed",
        "Amazonopensearchservice" | "AmazonOpenSearchServerless" => {
            "AmazonOpenSearchService-failed"
        }
        "Redshift" => "redshift-failed",
        "Snowflake" => "snowflake-failed",
        "Iceberg" => "iceberg-failed",
        _ => "processing-failed",
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// A batch taken from a buffer.
struct Batch {
    first_seq: u64,
    oldest_ms: u64,
    keys: Vec<Key>,
    bytes: u64,
    records: Vec<(BufRec, Vec<u8>)>,
}

/// How a flush ended.
enum Outcome {
    Delivered,
    /// Retry later; the failure's details.
    Retry(String),
    /// Given up on the batch (written to the error output, or dropped): remove it.
    Abandoned(String),
}

fn ctx_of(p: &Partition) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: p.clone(),
        scope_service: None,
        request_id: snapstack_protocol::request::new_request_id(),
    }
}

impl Firehose {
    /// Every partition that holds records, found by seeking from one partition to the next.
    pub(crate) fn partitions(&self) -> Vec<Partition> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut from = std::ops::Bound::Unbounded;
        while let Some((k, _)) = snap
            .range((from.clone(), std::ops::Bound::Unbounded))
            .next()
        {
            let Some(parts) = k.parts() else { break };
            let (
                Some(snapstack_engine::key::Part::Str(a)),
                Some(snapstack_engine::key::Part::Str(r)),
            ) = (parts.first(), parts.get(1))
            else {
                break;
            };
            let p = Partition::new(a.clone(), r.clone());
            let next = p.prefix().prefix_range().1;
            out.push(p);
            match next {
                std::ops::Bound::Excluded(n) => from = std::ops::Bound::Included(n),
                _ => break,
            }
        }
        out
    }

    /// Every stream of every partition.
    pub(crate) fn all_streams(&self) -> Vec<(Partition, StreamRec)> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        for p in self.partitions() {
            for (_, r) in snap.scan_prefix(&rk::streams(&p)) {
                if let FirehoseRecord::Stream(st) = r {
                    out.push((p.clone(), st.clone()));
                }
            }
        }
        out
    }

    /// One pass: remove streams whose deletion is due, flush due buffers. How many batches
    /// were flushed (delivered or given up on).
    pub async fn deliver_due(&self, rt: &dyn Runtime) -> usize {
        let mut n = 0;
        for (p, st, plan) in self.due() {
            if self.flush(rt, &p, &st, &plan).await {
                n += 1;
            }
        }
        n
    }

    /// Remove streams whose deletion is due; the streams whose buffer is due for a flush.
    pub(crate) fn due(&self) -> Vec<(Partition, StreamRec, Plan)> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for (p, st) in self.all_streams() {
            if let Some(t) = st.deleting_ms {
                if t <= now {
                    self.remove_stream(&p, &st.name);
                }
                continue;
            }
            let plan = Plan::of(&st);
            let b = &st.buffer;
            if b.count > 0
                && (b.bytes >= plan.size_bytes || now >= b.deadline_ms)
                && now >= b.retry_at_ms
            {
                out.push((p, st, plan));
            }
        }
        out
    }

    /// Flush one due stream (as a task of its own: a slow endpoint holds up no other stream).
    pub(crate) async fn flush_stream(
        &self,
        rt: &dyn Runtime,
        p: &Partition,
        st: &StreamRec,
        plan: &Plan,
    ) -> bool {
        self.flush(rt, p, st, plan).await
    }

    fn remove_stream(&self, p: &Partition, name: &str) {
        self.store.write(|txn| {
            if let Some(FirehoseRecord::Stream(st)) = txn.get(&rk::stream(p, name))
                && st.deleting_ms.is_some()
            {
                txn.remove(&rk::stream(p, name));
                txn.remove_prefix(&rk::records(p, name));
                txn.remove_prefix(&rk::checkpoints(p, name));
            }
        });
    }

    /// The oldest buffered records of a stream, up to `limit` bytes (at least one).
    fn take_batch(&self, p: &Partition, name: &str, limit: u64) -> Option<Batch> {
        let snap = self.store.snapshot();
        let mut batch = Batch {
            first_seq: 0,
            oldest_ms: u64::MAX,
            keys: Vec::new(),
            bytes: 0,
            records: Vec::new(),
        };
        for (k, r) in snap.scan_prefix(&rk::records(p, name)) {
            let FirehoseRecord::Buffered(rec) = r else {
                continue;
            };
            if !batch.keys.is_empty() && batch.bytes + rec.size > limit {
                break;
            }
            if batch.keys.is_empty() {
                batch.first_seq = rec.seq;
            }
            let data = match &rec.data {
                Data::Inline(b) => b.clone(),
                Data::Blob(id) => self.read_blob(id),
            };
            batch.oldest_ms = batch.oldest_ms.min(rec.arrival_ms);
            batch.bytes += rec.size;
            batch.keys.push(k.clone());
            batch.records.push((rec.clone(), data));
        }
        (!batch.keys.is_empty()).then_some(batch)
    }

    fn read_blob(&self, id: &snapstack_engine::BlobId) -> Vec<u8> {
        let mut out = Vec::new();
        let read = self.engine.open_blob(id).and_then(|b| {
            for piece in b.read_all() {
                out.extend_from_slice(&piece?);
            }
            Ok(())
        });
        if let Err(e) = read {
            self.engine
                .damaged_read(crate::NAME, "a buffered record", &e);
        }
        out
    }

    /// Flush one batch of a due buffer; whether the batch left the buffer.
    async fn flush(&self, rt: &dyn Runtime, p: &Partition, st: &StreamRec, plan: &Plan) -> bool {
        let Some(batch) = self.take_batch(p, &st.name, plan.size_bytes) else {
            return false;
        };
        let now = self.now_ms();
        let ctx = ctx_of(p);
        let seed = format!("{}/{}", st.arn(p), batch.first_seq);
        let attempts = st.buffer.attempts + 1;
        let outcome = match &plan.target {
            Target::S3 { main, backup } => {
                let mut r = match &main.unsupported_compression {
                    Some(c) => Err(format!(
                        "The compression format {c} is not supported by this emulator."
                    )),
                    None => match &main.lambda {
                        Some(l) => {
                            self.process_and_put(rt, &ctx, p, st, main, l, &batch, &seed)
                                .await
                        }
                        None => self.put_objects(rt, &ctx, st, main, &batch, &seed).await,
                    },
                };
                if r.is_ok()
                    && let Some(b) = backup
                {
                    r = self
                        .put_objects(rt, &ctx, st, b, &batch, &format!("{seed}/backup"))
                        .await;
                }
                match r {
                    Ok(()) => Outcome::Delivered,
                    Err(e) if main.unsupported_compression.is_some() => {
                        self.fail_to_backup(
                            rt,
                            &ctx,
                            st,
                            Some(main),
                            "S3",
                            &batch,
                            &seed,
                            attempts,
                            &e,
                        )
                        .await
                    }
                    Err(e) if now.saturating_sub(batch.oldest_ms) >= S3_RETRY_LIMIT_MS => {
                        tracing::warn!(stream = %st.name, error = %e, "Firehose dropped records it could not deliver to S3 for 24 hours");
                        Outcome::Abandoned(e)
                    }
                    Err(e) => Outcome::Retry(e),
                }
            }
            Target::Http { endpoint, backup } => {
                let r = self.post_batch(p, st, endpoint, &batch, &seed, now).await;
                match r {
                    Ok(()) => {
                        if endpoint.all_data_backup
                            && let Some(b) = backup
                        {
                            // The copy of every record is best effort once delivered.
                            let _ = self
                                .put_objects(rt, &ctx, st, b, &batch, &format!("{seed}/backup"))
                                .await;
                        }
                        Outcome::Delivered
                    }
                    Err(e) => {
                        let first = if st.buffer.first_attempt_ms == 0 {
                            now
                        } else {
                            st.buffer.first_attempt_ms
                        };
                        if now.saturating_sub(first) >= endpoint.retry_ms {
                            self.fail_to_backup(
                                rt,
                                &ctx,
                                st,
                                backup.as_ref(),
                                "HttpEndpoint",
                                &batch,
                                &seed,
                                attempts,
                                &e,
                            )
                            .await
                        } else {
                            Outcome::Retry(e)
                        }
                    }
                }
            }
            Target::Unsupported { kind, backup } => {
                let e =
                    format!("Delivery to {kind} destinations is not supported by this emulator.");
                self.fail_to_backup(
                    rt,
                    &ctx,
                    st,
                    backup.as_ref(),
                    kind,
                    &batch,
                    &seed,
                    attempts,
                    &e,
                )
                .await
            }
        };
        let (done, v) = self.settle(p, st, plan, &batch, outcome, now);
        // Under ON_REQUEST, the removal is on disk before the next batch goes out, so that a
        // crash repeats at most the batch just delivered (to the same S3 key).
        if let Err(e) = rt.wait_durable(crate::NAME, v).await {
            tracing::warn!(stream = %st.name, error = %e, "Firehose could not make a delivery's removal durable");
        }
        done
    }

    /// The records of a batch written to the backup bucket as failed records (the JSON lines
    /// Firehose writes), under the error prefix.
    #[allow(clippy::too_many_arguments)]
    async fn fail_to_backup(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        st: &StreamRec,
        backup: Option<&S3Target>,
        kind: &str,
        batch: &Batch,
        seed: &str,
        attempts: u32,
        error: &str,
    ) -> Outcome {
        let Some(b) = backup else {
            return Outcome::Abandoned(error.to_string());
        };
        let now = self.now_ms();
        let mut body = Vec::new();
        for (rec, data) in &batch.records {
            let line = json!({
                "attemptsMade": attempts,
                "arrivalTimestamp": rec.arrival_ms,
                "errorCode": format!("{kind}.DeliveryFailed"),
                "errorMessage": error,
                "attemptEndingTimestamp": now,
                "rawData": base64::engine::general_purpose::STANDARD.encode(data),
            });
            body.extend_from_slice(line.to_string().as_bytes());
            body.push(b'\n');
        }
        let random = prefix::random_string(seed.as_bytes(), 11);
        let keys = BTreeMap::new();
        let v = Values {
            ts_ms: batch.oldest_ms,
            random: &random,
            error_type: Some(error_type(kind)),
            keys: &keys,
        };
        let key = format!(
            "{}{}",
            prefix::error_prefix(&b.error_prefix, &b.prefix, &v),
            prefix::object_name(
                &st.name,
                st.version,
                batch.oldest_ms,
                &prefix::uuid_from(format!("{seed}/error").as_bytes()),
                if b.gzip { ".gz" } else { "" }
            )
        );
        let body = if b.gzip { gzip(&body) } else { body };
        match self.put_object(rt, ctx, &b.bucket, &key, &body).await {
            Ok(()) => Outcome::Abandoned(error.to_string()),
            Err(e) => Outcome::Retry(format!("{error}; writing the failed records to S3: {e}")),
        }
    }

    async fn put_object(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        bucket: &str,
        key: &str,
        body: &[u8],
    ) -> Result<(), String> {
        let input = json!({
            "Bucket": bucket,
            "Key": key,
            "Body": base64::engine::general_purpose::STANDARD.encode(body),
        });
        rt.invoke(ctx, "s3", "PutObject", input)
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }

    /// Write a batch to an S3 target: one object, or one per partition key set with dynamic
    /// partitioning. Keys are functions of `seed` (the stream and the batch's first record).
    async fn put_objects(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        st: &StreamRec,
        t: &S3Target,
        batch: &Batch,
        seed: &str,
    ) -> Result<(), String> {
        let mut groups: BTreeMap<BTreeMap<String, String>, (u64, Vec<u8>)> = BTreeMap::new();
        // Records whose partition keys cannot be had go to the error prefix.
        let mut failed: Vec<(&BufRec, &[u8], String)> = Vec::new();
        for (rec, data) in &batch.records {
            let keys = match (&t.query, t.dynamic) {
                (Some(q), true) => match crate::source::partition_keys(q, data) {
                    Ok(k) => k,
                    Err(e) => {
                        failed.push((rec, data, e));
                        continue;
                    }
                },
                _ => BTreeMap::new(),
            };
            let g = groups.entry(keys).or_insert((rec.arrival_ms, Vec::new()));
            g.0 = g.0.min(rec.arrival_ms);
            g.1.extend_from_slice(data);
            if let Some(d) = &t.delimiter {
                g.1.extend_from_slice(d.as_bytes());
            }
        }
        for (keys, (oldest, body)) in groups {
            let group_seed = format!("{seed}/{keys:?}");
            let random = prefix::random_string(group_seed.as_bytes(), 11);
            let v = Values {
                ts_ms: oldest,
                random: &random,
                error_type: None,
                keys: &keys,
            };
            let key = format!(
                "{}{}",
                prefix::object_prefix(&t.prefix, t.dynamic, &v),
                prefix::object_name(
                    &st.name,
                    st.version,
                    oldest,
                    &prefix::uuid_from(group_seed.as_bytes()),
                    &t.extension
                )
            );
            let body = if t.gzip { gzip(&body) } else { body };
            self.put_object(rt, ctx, &t.bucket, &key, &body).await?;
        }
        if !failed.is_empty() {
            self.put_partitioning_failures(rt, ctx, st, t, &failed, seed)
                .await?;
        }
        Ok(())
    }

    /// Records dynamic partitioning could not place (not JSON, a key missing): one object of
    /// Firehose's failed-record JSON lines under the error prefix, error type
    /// `partitioning-failed`. Its key is a function of `seed`, so a retry overwrites it.
    async fn put_partitioning_failures(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        st: &StreamRec,
        t: &S3Target,
        failed: &[(&BufRec, &[u8], String)],
        seed: &str,
    ) -> Result<(), String> {
        let now = self.now_ms();
        let mut body = Vec::new();
        let mut oldest = u64::MAX;
        for (rec, data, error) in failed {
            oldest = oldest.min(rec.arrival_ms);
            let line = json!({
                "attemptsMade": 1,
                "arrivalTimestamp": rec.arrival_ms,
                "errorCode": "DynamicPartitioning.MetadataExtractionFailed",
                "errorMessage": error,
                "attemptEndingTimestamp": now,
                "rawData": base64::engine::general_purpose::STANDARD.encode(data),
            });
            body.extend_from_slice(line.to_string().as_bytes());
            body.push(b'\n');
        }
        let group_seed = format!("{seed}/{PARTITIONING_FAILED}");
        let random = prefix::random_string(group_seed.as_bytes(), 11);
        let keys = BTreeMap::new();
        let v = Values {
            ts_ms: oldest,
            random: &random,
            error_type: Some(PARTITIONING_FAILED),
            keys: &keys,
        };
        let key = format!(
            "{}{}",
            prefix::error_prefix(&t.error_prefix, &t.prefix, &v),
            prefix::object_name(
                &st.name,
                st.version,
                oldest,
                &prefix::uuid_from(group_seed.as_bytes()),
                if t.gzip { ".gz" } else { "" }
            )
        );
        let body = if t.gzip { gzip(&body) } else { body };
        self.put_object(rt, ctx, &t.bucket, &key, &body).await
    }

    /// POST a batch to an HTTP endpoint as Firehose does: the request JSON with base64 records
    /// and the `X-Amz-Firehose-*` headers; a 2xx answer is a delivery.
    async fn post_batch(
        &self,
        p: &Partition,
        st: &StreamRec,
        t: &HttpTarget,
        batch: &Batch,
        seed: &str,
        now: u64,
    ) -> Result<(), String> {
        let request_id = prefix::uuid_from(seed.as_bytes());
        let records: Vec<Value> = batch
            .records
            .iter()
            .map(|(_, d)| json!({"data": base64::engine::general_purpose::STANDARD.encode(d)}))
            .collect();
        let body =
            json!({"requestId": request_id, "timestamp": now, "records": records}).to_string();
        let mut headers: Vec<(&str, String)> = vec![
            ("Content-Type", "application/json".into()),
            ("X-Amz-Firehose-Protocol-Version", "1.0".into()),
            ("X-Amz-Firehose-Request-Id", request_id.clone()),
            ("X-Amz-Firehose-Source-Arn", st.arn(p)),
            (
                "User-Agent",
                "Amazon Kinesis Data Firehose Agent/1.0".into(),
            ),
        ];
        if let Some(k) = &t.access_key {
            headers.push(("X-Amz-Firehose-Access-Key", k.clone()));
        }
        if !t.common_attributes.is_empty() {
            headers.push((
                "X-Amz-Firehose-Common-Attributes",
                json!({"commonAttributes": t.common_attributes}).to_string(),
            ));
        }
        let body = if t.gzip {
            headers.push(("Content-Encoding", "gzip".into()));
            gzip(body.as_bytes())
        } else {
            body.into_bytes()
        };
        match snapstack_service::http_client::post(&t.url, &headers, &body).await {
            Ok(s) if (200..300).contains(&s) => Ok(()),
            Ok(s) => Err(format!("The endpoint {} answered {s}.", t.url)),
            Err(e) => Err(e),
        }
    }

    /// After an attempt: remove a batch that left the buffer (and start the next buffer), or
    /// record the failure and when to retry, in one store write.
    fn settle(
        &self,
        p: &Partition,
        st: &StreamRec,
        plan: &Plan,
        batch: &Batch,
        outcome: Outcome,
        now: u64,
    ) -> (bool, u64) {
        let key = rk::stream(p, &st.name);
        self.store.write(|txn| {
            let Some(FirehoseRecord::Stream(cur)) = txn.get(&key) else {
                return false;
            };
            let mut cur = cur.clone();
            let done = match &outcome {
                Outcome::Delivered | Outcome::Abandoned(_) => {
                    let mut removed = 0u64;
                    let mut bytes = 0u64;
                    for (k, (rec, _)) in batch.keys.iter().zip(&batch.records) {
                        if txn.remove(k).is_some() {
                            removed += 1;
                            bytes += rec.size;
                        }
                    }
                    let b = &mut cur.buffer;
                    b.count = b.count.saturating_sub(removed);
                    b.bytes = b.bytes.saturating_sub(bytes);
                    b.attempts = 0;
                    b.retry_at_ms = 0;
                    b.first_attempt_ms = 0;
                    b.opened_ms = now;
                    b.deadline_ms = now + plan.interval_ms;
                    cur.failure = match &outcome {
                        Outcome::Abandoned(e) => Some(("UNKNOWN_ERROR".into(), truncate(e))),
                        _ => None,
                    };
                    true
                }
                Outcome::Retry(e) => {
                    let b = &mut cur.buffer;
                    b.attempts += 1;
                    if b.first_attempt_ms == 0 {
                        b.first_attempt_ms = now;
                    }
                    let pause = match plan.target {
                        Target::S3 { .. } => S3_RETRY_MS,
                        _ => (1000u64 << b.attempts.min(5)).min(HTTP_BACKOFF_MAX_MS),
                    };
                    b.retry_at_ms = now + pause;
                    cur.failure = Some(("UNKNOWN_ERROR".into(), truncate(e)));
                    false
                }
            };
            txn.insert(key.clone(), FirehoseRecord::Stream(cur));
            done
        })
    }
}

/// `FailureDescription.Details` is at most 1,024 characters.
fn truncate(s: &str) -> String {
    s.chars().take(1024).collect()
}

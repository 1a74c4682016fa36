//! Streams: CreateStream (provisioned with ShardCount, or on demand), DeleteStream,
//! DescribeStream / DescribeStreamSummary, ListStreams, retention, encryption, stream mode,
//! record size and warm throughput.

use std::collections::BTreeMap;
use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::seq::{even_ranges, format_seq};
use crate::*;

pub(crate) fn shard_json(s: &ShardRec, stream_created: u64) -> Value {
    let mut o = json!({
        "ShardId": shard_id(s.index),
        "HashKeyRange": {
            "StartingHashKey": s.start_hash.to_string(),
            "EndingHashKey": s.end_hash.to_string(),
        },
        "SequenceNumberRange": {
            "StartingSequenceNumber": format_seq(s.start_counter, s.index, stream_created),
        },
    });
    if let Some(e) = s.end_counter {
        o["SequenceNumberRange"]["EndingSequenceNumber"] =
            json!(format_seq(e, s.index, stream_created));
    }
    if let Some(pi) = s.parent {
        o["ParentShardId"] = json!(shard_id(pi));
    }
    if let Some(a) = s.adjacent_parent {
        o["AdjacentParentShardId"] = json!(shard_id(a));
    }
    o
}

pub(crate) fn mode_json(s: &StreamRec) -> Value {
    json!({ "StreamMode": s.mode })
}

fn metrics_json(s: &StreamRec) -> Value {
    json!([{ "ShardLevelMetrics": s.shard_level_metrics }])
}

/// Open shards of every stream of the partition.
pub(crate) fn open_shards_in(snap: &Snapshot<KinesisRecord>, p: &Partition) -> u64 {
    let lo = p.key().str("h").build();
    snap.scan_prefix(&lo)
        .filter(|(_, r)| matches!(r, KinesisRecord::Shard(s) if s.end_counter.is_none()))
        .count() as u64
}

pub(crate) fn shard_limit_error(p: &Partition, current: u64, more: u64) -> AwsError {
    limit(format!(
        "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {current}. Limit: {SHARD_LIMIT}. Number of additional shards that would have resulted from this request: {more}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
        p.account, p.region
    ))
}

pub(crate) fn opaque(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s.as_bytes())
}

pub(crate) fn unopaque(t: &str) -> Option<String> {
    if t.len() > 4096 {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(t.as_bytes()).ok()?).ok()
}

impl Kinesis {
    pub(crate) fn create_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "StreamName").unwrap_or_default().to_string();
        let mode = v
            .get("StreamModeDetails")
            .and_then(|m| str_of(m, "StreamMode"))
            .unwrap_or("PROVISIONED")
            .to_string();
        let count = match (mode.as_str(), int_of(v, "ShardCount")) {
            ("ON_DEMAND", _) => ON_DEMAND_SHARDS,
            (_, Some(n)) if n >= 1 => n as u64,
            _ => {
                return Err(invalid(
                    "ShardCount is required for streams in PROVISIONED mode.",
                ));
            }
        };
        let tags: BTreeMap<String, String> = v
            .get("Tags")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(invalid(format!(
                "Failed to create stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                p.account
            )));
        }
        let max_kib = int_of(v, "MaxRecordSizeInKiB")
            .unwrap_or(1024)
            .clamp(1024, 10240) as u32;
        let warm = int_of(v, "WarmThroughputMiBps").map(|n| n.max(0) as u32);
        let now = self.now_ms();
        let stream_id = format!("{:016x}", self.next_id());
        let (r, ver) = self.store.write(|txn| {
            let key = stream_key(p, &name);
            if txn.contains(&key) {
                return Err(in_use(format!(
                    "Stream {name} under account {} already exists.",
                    p.account
                )));
            }
            let open = txn
                .scan_prefix(&p.key().str("h").build())
                .filter(|(_, r)| matches!(r, KinesisRecord::Shard(s) if s.end_counter.is_none()))
                .count() as u64;
            if open + count > SHARD_LIMIT {
                return Err(shard_limit_error(p, open, count));
            }
            if mode == "ON_DEMAND" {
                let on_demand = txn
                    .scan_prefix(&streams_prefix(p))
                    .filter(|(_, r)| matches!(r, KinesisRecord::Stream(s) if s.mode == "ON_DEMAND"))
                    .count() as u64;
                if on_demand >= ON_DEMAND_STREAM_LIMIT {
                    return Err(limit(format!(
                        "This request would exceed the on-demand stream count limit of {ON_DEMAND_STREAM_LIMIT} for the account {} in {}.",
                        p.account, p.region
                    )));
                }
            }
            let mut s = StreamRec {
                name: name.clone(),
                created_ms: now,
                status: "ACTIVE".into(),
                mode: mode.clone(),
                retention_hours: DEFAULT_RETENTION_HOURS,
                encryption: "NONE".into(),
                key_id: None,
                shard_level_metrics: Vec::new(),
                tags: tags.clone(),
                policy: None,
                max_record_kib: max_kib,
                warm_throughput_mibps: warm,
                next_shard: 0,
                next_counter: 0,
                stream_id: stream_id.clone(),
            };
            for (start, end) in even_ranges(count) {
                crate::shards::open_shard(txn, p, &mut s, start, end, None, None, now);
            }
            txn.insert(key, KinesisRecord::Stream(s));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let enforce = v
            .get("EnforceConsumerDeletion")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (r, ver) = self.store.write(|txn| {
            if !matches!(
                txn.get(&stream_key(&p, &name)),
                Some(KinesisRecord::Stream(_))
            ) {
                return Err(stream_missing(&p, &name));
            }
            let consumers = txn.scan_prefix(&consumers_prefix(&p, &name)).count();
            if consumers > 0 && !enforce {
                return Err(in_use(format!(
                    "Stream {name} under account {} has registered consumers. Deregister them first or set EnforceConsumerDeletion.",
                    p.account
                )));
            }
            txn.remove(&stream_key(&p, &name));
            txn.remove_prefix(&shards_prefix(&p, &name));
            txn.remove_prefix(&stream_data_prefix(&p, &name));
            txn.remove_prefix(&consumers_prefix(&p, &name));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let snap = self.store.snapshot();
        let s = load_stream(&snap, &p, &name)?;
        let lim = int_of(v, "Limit").unwrap_or(100).clamp(1, 10_000) as usize;
        let after =
            str_of(v, "ExclusiveStartShardId").map(|id| shard_index(id).unwrap_or(u64::MAX));
        let all = load_shards(&snap, &p, &name);
        let mut shards: Vec<&ShardRec> = all
            .iter()
            .filter(|sh| after.is_none_or(|a| sh.index > a))
            .collect();
        let more = shards.len() > lim;
        shards.truncate(lim);
        let mut d = json!({
            "StreamName": s.name,
            "StreamARN": stream_arn(&p, &s.name),
            "StreamStatus": s.status,
            "StreamModeDetails": mode_json(&s),
            "Shards": shards.iter().map(|sh| shard_json(sh, s.created_ms)).collect::<Vec<_>>(),
            "HasMoreShards": more,
            "RetentionPeriodHours": s.retention_hours,
            "StreamCreationTimestamp": secs(s.created_ms),
            "EnhancedMonitoring": metrics_json(&s),
            "EncryptionType": s.encryption,
        });
        if let Some(k) = &s.key_id {
            d["KeyId"] = json!(k);
        }
        out(json!({ "StreamDescription": d }), None)
    }

    pub(crate) fn describe_stream_summary(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let snap = self.store.snapshot();
        let s = load_stream(&snap, &p, &name)?;
        let open = load_shards(&snap, &p, &name)
            .iter()
            .filter(|sh| sh.end_counter.is_none())
            .count();
        let consumers = snap.scan_prefix(&consumers_prefix(&p, &name)).count();
        let mut d = json!({
            "StreamName": s.name,
            "StreamARN": stream_arn(&p, &s.name),
            "StreamStatus": s.status,
            "StreamModeDetails": mode_json(&s),
            "RetentionPeriodHours": s.retention_hours,
            "StreamCreationTimestamp": secs(s.created_ms),
            "EnhancedMonitoring": metrics_json(&s),
            "EncryptionType": s.encryption,
            "OpenShardCount": open,
            "ConsumerCount": consumers,
            "StreamId": s.stream_id,
            "MaxRecordSizeInKiB": s.max_record_kib,
        });
        if let Some(k) = &s.key_id {
            d["KeyId"] = json!(k);
        }
        if let Some(w) = s.warm_throughput_mibps {
            d["WarmThroughput"] = json!({ "TargetMiBps": w, "CurrentMiBps": w });
        }
        out(json!({ "StreamDescriptionSummary": d }), None)
    }

    pub(crate) fn list_streams(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let lim = int_of(v, "Limit").unwrap_or(100).clamp(1, 10_000) as usize;
        let start = match str_of(v, "NextToken") {
            Some(t) => Some(
                unopaque(t)
                    .ok_or_else(|| invalid(format!("The NextToken {t} is invalid or expired.")))?,
            ),
            None => str_of(v, "ExclusiveStartStreamName").map(str::to_string),
        };
        let snap = self.store.snapshot();
        let lo = match &start {
            Some(n) => Bound::Excluded(stream_key(p, n)),
            None => Bound::Included(streams_prefix(p)),
        };
        let hi = streams_prefix(p).prefix_range().1;
        let mut streams: Vec<StreamRec> = snap
            .range((lo, hi))
            .filter_map(|(_, r)| match r {
                KinesisRecord::Stream(s) => Some(s.clone()),
                _ => None,
            })
            .take(lim + 1)
            .collect();
        let more = streams.len() > lim;
        streams.truncate(lim);
        let mut o = json!({
            "StreamNames": streams.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "HasMoreStreams": more,
            "StreamSummaries": streams.iter().map(|s| json!({
                "StreamName": s.name,
                "StreamARN": stream_arn(p, &s.name),
                "StreamStatus": s.status,
                "StreamModeDetails": mode_json(s),
                "StreamCreationTimestamp": secs(s.created_ms),
            })).collect::<Vec<_>>(),
        });
        if more && let Some(last) = streams.last() {
            o["NextToken"] = json!(opaque(&last.name));
        }
        out(o, None)
    }

    /// Apply `f` to the addressed stream in one write; the output is `f`'s.
    pub(crate) fn update_stream(
        &self,
        p: &Partition,
        v: &Value,
        f: impl FnOnce(&Partition, &mut StreamRec) -> Result<Value, AwsError>,
    ) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let (r, ver) = self.store.write(|txn| {
            let key = stream_key(&p, &name);
            let Some(KinesisRecord::Stream(s)) = txn.get(&key) else {
                return Err(stream_missing(&p, &name));
            };
            let mut s = s.clone();
            let o = f(&p, &mut s)?;
            txn.insert(key, KinesisRecord::Stream(s));
            Ok(o)
        });
        out(r?, Some(ver))
    }

    pub(crate) fn change_retention(
        &self,
        p: &Partition,
        v: &Value,
        increase: bool,
    ) -> Result<Out, AwsError> {
        let hours = int_of(v, "RetentionPeriodHours").unwrap_or(0);
        if hours < i64::from(DEFAULT_RETENTION_HOURS) {
            return Err(invalid(format!(
                "Minimum allowed retention period is {DEFAULT_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too short."
            )));
        }
        if hours > i64::from(MAX_RETENTION_HOURS) {
            return Err(invalid(format!(
                "Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested retention period ({hours} hours) is too long."
            )));
        }
        let hours = hours as u32;
        self.update_stream(p, v, |_, s| {
            if increase && hours < s.retention_hours {
                return Err(invalid(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be shorter than existing retention period ({} hours). Use DecreaseRetentionPeriod API.",
                    s.name, s.retention_hours
                )));
            }
            if !increase && hours > s.retention_hours {
                return Err(invalid(format!(
                    "Requested retention period ({hours} hours) for stream {} can not be longer than existing retention period ({} hours). Use IncreaseRetentionPeriod API.",
                    s.name, s.retention_hours
                )));
            }
            s.retention_hours = hours;
            Ok(json!({}))
        })
    }

    pub(crate) fn start_encryption(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let kind = str_of(v, "EncryptionType").unwrap_or_default().to_string();
        let key = str_of(v, "KeyId").unwrap_or_default().to_string();
        if kind != "KMS" {
            return Err(invalid(format!(
                "Encryption type {kind} is not supported. Use KMS."
            )));
        }
        self.update_stream(p, v, |_, s| {
            s.encryption = kind;
            s.key_id = Some(key);
            Ok(json!({}))
        })
    }

    pub(crate) fn stop_encryption(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let kind = str_of(v, "EncryptionType").unwrap_or_default().to_string();
        if kind != "KMS" {
            return Err(invalid(format!(
                "Encryption type {kind} is not supported. Use KMS."
            )));
        }
        self.update_stream(p, v, |_, s| {
            s.encryption = "NONE".into();
            s.key_id = None;
            Ok(json!({}))
        })
    }

    pub(crate) fn enhanced_monitoring(
        &self,
        p: &Partition,
        v: &Value,
        enable: bool,
    ) -> Result<Out, AwsError> {
        let asked: Vec<String> = v
            .get("ShardLevelMetrics")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .flat_map(|m| {
                        if m == "ALL" {
                            ALL_METRICS.iter().map(|s| s.to_string()).collect()
                        } else {
                            vec![m.to_string()]
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.update_stream(p, v, |p, s| {
            let current = s.shard_level_metrics.clone();
            let mut desired: Vec<String> = if enable {
                current.iter().chain(asked.iter()).cloned().collect()
            } else {
                current
                    .iter()
                    .filter(|m| !asked.contains(m))
                    .cloned()
                    .collect()
            };
            desired.sort_by_key(|m| ALL_METRICS.iter().position(|a| a == m));
            desired.dedup();
            s.shard_level_metrics = desired.clone();
            Ok(json!({
                "StreamName": s.name,
                "StreamARN": stream_arn(p, &s.name),
                "CurrentShardLevelMetrics": current,
                "DesiredShardLevelMetrics": desired,
            }))
        })
    }

    pub(crate) fn update_stream_mode(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let mode = v
            .get("StreamModeDetails")
            .and_then(|m| str_of(m, "StreamMode"))
            .unwrap_or("PROVISIONED")
            .to_string();
        let warm = int_of(v, "WarmThroughputMiBps").map(|n| n.max(0) as u32);
        self.update_stream(p, v, |_, s| {
            if s.mode == mode {
                return Err(in_use(format!(
                    "Stream {} is already in {mode} mode.",
                    s.name
                )));
            }
            s.mode = mode;
            if warm.is_some() {
                s.warm_throughput_mibps = warm;
            }
            Ok(json!({}))
        })
    }

    pub(crate) fn update_max_record_size(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let kib = int_of(v, "MaxRecordSizeInKiB")
            .unwrap_or(1024)
            .clamp(1024, 10240) as u32;
        self.update_stream(p, v, |_, s| {
            s.max_record_kib = kib;
            Ok(json!({}))
        })
    }

    pub(crate) fn update_warm_throughput(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let mibps = int_of(v, "WarmThroughputMiBps").unwrap_or(0).max(0) as u32;
        self.update_stream(p, v, |p, s| {
            if s.mode != "ON_DEMAND" {
                return Err(invalid(format!(
                    "Warm throughput can only be set for streams in ON_DEMAND mode; stream {} is in {} mode.",
                    s.name, s.mode
                )));
            }
            let current = s.warm_throughput_mibps.unwrap_or(0);
            s.warm_throughput_mibps = Some(mibps);
            Ok(json!({
                "StreamName": s.name,
                "StreamARN": stream_arn(p, &s.name),
                "WarmThroughput": { "TargetMiBps": mibps, "CurrentMiBps": current },
            }))
        })
    }
}

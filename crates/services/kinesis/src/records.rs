//! Writes and reads: PutRecord / PutRecords (partition key → MD5 → shard, explicit hash keys,
//! per-record failures, AWS's size limits), GetShardIterator and GetRecords.

use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use snapstack_engine::{Partition, Snapshot, Txn};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::seq::{Iter, amz_utc, format_seq, hash_of, parse_hash, parse_seq};
use crate::*;

/// Per-shard write limits of a provisioned stream, per second.
const SHARD_BYTES_PER_SEC: u64 = 1024 * 1024;
const SHARD_RECORDS_PER_SEC: u64 = 1000;

/// Expired records GetRecords steps over in one call before it answers (the sweep deletes them).
const MAX_EXPIRED_SKIPPED: usize = 100_000;

/// The stream after a write, each record's shard and counter (`None`: throttled), and the
/// store version.
type Appended = (StreamRec, Vec<Option<(u64, u64)>>, u64);

/// One record to write, validated, its payload stored.
struct Entry {
    hash: u128,
    partition_key: String,
    payload: Payload,
    size: u64,
}

fn shard_not_exist(p: &Partition, stream: &str, id: &str) -> AwsError {
    not_found(format!(
        "Shard {id} in stream {stream} under account {} does not exist",
        p.account
    ))
}

fn validation(message: String) -> AwsError {
    AwsError::new("ValidationException", message)
}

/// The open shard of a stream whose range holds `hash`.
fn shard_for(txn: &Txn<'_, KinesisRecord>, p: &Partition, stream: &str, hash: u128) -> Option<u64> {
    txn.scan_prefix(&shards_prefix(p, stream))
        .find_map(|(_, r)| match r {
            KinesisRecord::Shard(s)
                if s.end_counter.is_none() && s.start_hash <= hash && hash <= s.end_hash =>
            {
                Some(s.index)
            }
            _ => None,
        })
}

impl Kinesis {
    /// Decode and size-check one record; its payload goes to a blob when it is large.
    fn entry(&self, e: &Value, max_bytes: usize, at: Option<usize>) -> Result<Entry, AwsError> {
        let data = STANDARD
            .decode(str_of(e, "Data").unwrap_or_default())
            .map_err(|_| AwsError::new("SerializationException", "Data is not valid base64."))?;
        let partition_key = str_of(e, "PartitionKey").unwrap_or_default().to_string();
        let field = match at {
            Some(i) => format!("records.{}.member.data", i + 1),
            None => "data".to_string(),
        };
        if data.len() > max_bytes {
            return Err(validation(format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max_bytes}"
            )));
        }
        if data.len() + partition_key.len() > max_bytes {
            return Err(invalid(format!(
                "The size of the data plus the partition key ({} bytes) exceeds the maximum record size of {max_bytes} bytes.",
                data.len() + partition_key.len()
            )));
        }
        let hash = match str_of(e, "ExplicitHashKey") {
            Some(h) => parse_hash(h).ok_or_else(|| {
                invalid(format!(
                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {h}"
                ))
            })?,
            None => hash_of(&partition_key),
        };
        let size = (data.len() + partition_key.len()) as u64;
        let payload = if data.len() > INLINE_MAX {
            let mut w = self.engine.blob_writer();
            let stored = w.write(&data).and_then(|_| w.finish());
            match stored {
                Ok((id, _)) => Payload::Blob(id),
                Err(e) => {
                    return Err(AwsError::new(
                        "InternalFailureException",
                        format!("The record could not be stored: {e}"),
                    )
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR));
                }
            }
        } else {
            Payload::Inline(data)
        };
        Ok(Entry {
            hash,
            partition_key,
            payload,
            size,
        })
    }

    /// Whether a write of `bytes` to a shard of a provisioned stream goes over the shard's
    /// per-second limits (only with throttling on); counts it when it does not.
    fn over_rate(&self, s: &StreamRec, shard: String, bytes: u64, now: u64) -> bool {
        let Some(t) = &self.throttle else {
            return false;
        };
        if s.mode == "ON_DEMAND" {
            return false;
        }
        let mut m = t.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 100_000 {
            m.retain(|_, w| w.second + 1 >= now / 1000);
        }
        let w = m.entry(shard).or_default();
        if w.second != now / 1000 {
            *w = Window {
                second: now / 1000,
                ..Window::default()
            };
        }
        if w.records + 1 > SHARD_RECORDS_PER_SEC || w.bytes + bytes > SHARD_BYTES_PER_SEC {
            return true;
        }
        w.records += 1;
        w.bytes += bytes;
        false
    }

    fn stream_limits(&self, p: &Partition, name: &str) -> Result<StreamRec, AwsError> {
        let s = load_stream(&self.store.snapshot(), p, name)?;
        if s.status != "ACTIVE" && s.status != "UPDATING" {
            return Err(stream_missing(p, name));
        }
        Ok(s)
    }

    /// Write `entries` to the stream in one store write. Each result is the shard index and the
    /// counter, or `None` for a record refused by throttling.
    fn append(
        &self,
        p: &Partition,
        name: &str,
        entries: Vec<Entry>,
        min_counter: Option<u64>,
    ) -> Result<Appended, AwsError> {
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let key = stream_key(p, name);
            let Some(KinesisRecord::Stream(s)) = txn.get(&key) else {
                return Err(stream_missing(p, name));
            };
            let mut s = s.clone();
            if let Some(m) = min_counter
                && m >= s.next_counter
            {
                return Err(invalid(format!(
                    "ExclusiveMinimumSequenceNumber used in PutRecord on stream {name} under account {} is invalid.",
                    p.account
                )));
            }
            let encrypted = s.encryption == "KMS";
            let mut results = Vec::with_capacity(entries.len());
            for e in entries {
                let Some(shard) = shard_for(txn, p, name, e.hash) else {
                    return Err(AwsError::internal(
                        "InternalFailureException",
                        format!("No open shard of stream {name} holds hash key {}.", e.hash),
                    ));
                };
                if self.over_rate(
                    &s,
                    format!("{}/{}/{name}/{shard}", p.account, p.region),
                    e.size,
                    now,
                ) {
                    results.push(None);
                    continue;
                }
                let counter = s.next_counter;
                s.next_counter += 1;
                txn.insert(
                    data_key(p, name, shard, counter),
                    KinesisRecord::Data(DataRec {
                        partition_key: e.partition_key,
                        arrival_ms: now,
                        payload: e.payload,
                        encrypted,
                    }),
                );
                results.push(Some((shard, counter)));
            }
            txn.insert(key, KinesisRecord::Stream(s.clone()));
            Ok((s, results))
        });
        let (s, results) = r?;
        Ok((s, results, ver))
    }

    pub(crate) fn put_record(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let s = self.stream_limits(&p, &name)?;
        let min_counter = match str_of(v, "SequenceNumberForOrdering") {
            None | Some("0") => None,
            Some(sq) => match parse_seq(sq) {
                Some((c, _, created)) if created == s.created_ms => Some(c),
                _ => {
                    return Err(invalid(format!(
                        "ExclusiveMinimumSequenceNumber {sq} used in PutRecord on stream {name} under account {} is invalid.",
                        p.account
                    )));
                }
            },
        };
        let e = self.entry(v, s.max_record_kib as usize * 1024, None)?;
        let (s, results, ver) = self.append(&p, &name, vec![e], min_counter)?;
        let Some((shard, counter)) = results.first().copied().flatten() else {
            return Err(AwsError::new(
                "ProvisionedThroughputExceededException",
                format!(
                    "Rate exceeded for stream {name} under account {}.",
                    p.account
                ),
            ));
        };
        out(
            json!({
                "ShardId": shard_id(shard),
                "SequenceNumber": format_seq(counter, shard, s.created_ms),
                "EncryptionType": s.encryption,
            }),
            Some(ver),
        )
    }

    pub(crate) fn put_records(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let s = self.stream_limits(&p, &name)?;
        let list = v
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if list.is_empty() || list.len() > MAX_PUT_RECORDS {
            return Err(validation(format!(
                "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and {MAX_PUT_RECORDS}"
            )));
        }
        // The request's size before anything is stored (base64 is 4/3 of the data).
        let total: usize = list
            .iter()
            .map(|e| {
                str_of(e, "Data").map_or(0, |d| d.len() / 4 * 3)
                    + str_of(e, "PartitionKey").map_or(0, str::len)
            })
            .sum();
        if total > MAX_PUT_RECORDS_BYTES + 3 * MAX_PUT_RECORDS {
            return Err(invalid("Records size exceeds 5 MB limit"));
        }
        let max = s.max_record_kib as usize * 1024;
        let mut entries = Vec::with_capacity(list.len());
        let mut bytes = 0usize;
        for (i, e) in list.iter().enumerate() {
            let en = self.entry(e, max, Some(i))?;
            bytes += en.size as usize;
            entries.push(en);
        }
        if bytes > MAX_PUT_RECORDS_BYTES {
            return Err(invalid("Records size exceeds 5 MB limit"));
        }
        let (s, results, ver) = self.append(&p, &name, entries, None)?;
        let mut failed = 0;
        let records: Vec<Value> = results
            .iter()
            .map(|r| match r {
                Some((shard, counter)) => json!({
                    "ShardId": shard_id(*shard),
                    "SequenceNumber": format_seq(*counter, *shard, s.created_ms),
                }),
                None => {
                    failed += 1;
                    json!({
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": format!(
                            "Rate exceeded for stream {name} under account {}.",
                            p.account
                        ),
                    })
                }
            })
            .collect();
        out(
            json!({
                "FailedRecordCount": failed,
                "Records": records,
                "EncryptionType": s.encryption,
            }),
            Some(ver),
        )
    }

    pub(crate) fn get_shard_iterator(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let id = str_of(v, "ShardId").unwrap_or_default();
        let kind = str_of(v, "ShardIteratorType").unwrap_or_default();
        let seq = str_of(v, "StartingSequenceNumber");
        let snap = self.store.snapshot();
        let s = load_stream(&snap, &p, &name)?;
        let idx = shard_index(id).ok_or_else(|| shard_not_exist(&p, &name, id))?;
        let Some(KinesisRecord::Shard(sh)) = snap.get(&shard_key(&p, &name, idx)) else {
            return Err(shard_not_exist(&p, &name, id));
        };
        let either = |with: &str| {
            invalid(format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and {with} StartingSequenceNumber."
            ))
        };
        let tip = sh.end_counter.unwrap_or(s.next_counter);
        let now = self.now_ms();
        let counter = match kind {
            "TRIM_HORIZON" | "LATEST" if seq.is_some() => return Err(either("also a")),
            "TRIM_HORIZON" => sh.start_counter,
            "LATEST" => tip,
            "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER" => {
                let sq = seq.ok_or_else(|| either("no"))?;
                let bad = || {
                    invalid(format!(
                        "StartingSequenceNumber {sq} used in GetShardIterator on shard {id} in stream {name} under account {} is invalid.",
                        p.account
                    ))
                };
                let (c, shard, created) = parse_seq(sq).ok_or_else(bad)?;
                if shard != idx {
                    return Err(invalid(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        shard_id(shard),
                        shard_id(idx)
                    )));
                }
                if created != s.created_ms || c > tip {
                    return Err(invalid(format!(
                        "StartingSequenceNumber {sq} used in GetShardIterator on shard {id} in stream {name} under account {} is invalid because it did not come from this stream.",
                        p.account
                    )));
                }
                if kind == "AT_SEQUENCE_NUMBER" {
                    c
                } else {
                    c + 1
                }
            }
            "AT_TIMESTAMP" => {
                let ts = time_ms_of(v, "Timestamp").ok_or_else(|| {
                    invalid("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
                })?;
                if ts > now {
                    return Err(invalid(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {ts}, currentTimestampInMillis: {now}"
                    )));
                }
                first_at_or_after(&snap, &p, &name, idx, sh.start_counter, tip, ts)
            }
            other => {
                return Err(invalid(format!("Invalid ShardIteratorType {other}.")));
            }
        };
        let it = Iter {
            stream: name,
            created_ms: s.created_ms,
            shard: idx,
            counter,
            issued_ms: now,
        };
        out(json!({ "ShardIterator": it.encode() }), None)
    }

    pub(crate) fn get_records(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let token = str_of(v, "ShardIterator").unwrap_or_default();
        let it = Iter::decode(token).ok_or_else(|| invalid("Invalid ShardIterator."))?;
        let now = self.now_ms();
        let ttl = self.iterator_ttl_ms;
        if now.saturating_sub(it.issued_ms) > ttl {
            return Err(AwsError::new(
                "ExpiredIteratorException",
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ttl} milliseconds.",
                    amz_utc(it.issued_ms),
                    amz_utc(now)
                ),
            ));
        }
        let p = match str_of(v, "StreamARN").and_then(parse_arn) {
            Some((ap, _, _)) => ap,
            None => p.clone(),
        };
        let limit = int_of(v, "Limit").unwrap_or(10_000).clamp(1, 10_000) as usize;
        let snap = self.store.snapshot();
        let s = load_stream(&snap, &p, &it.stream)?;
        let sid = shard_id(it.shard);
        if s.created_ms != it.created_ms {
            return Err(shard_not_exist(&p, &it.stream, &sid));
        }
        let Some(KinesisRecord::Shard(sh)) = snap.get(&shard_key(&p, &it.stream, it.shard)) else {
            return Err(shard_not_exist(&p, &it.stream, &sid));
        };
        let lo = data_key(&p, &it.stream, it.shard, it.counter);
        let hi = shard_data_prefix(&p, &it.stream, it.shard).prefix_range().1;
        let mut range = snap.range((Bound::Included(lo), hi));
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut next = it.counter;
        let mut behind = 0u64;
        let mut more = false;
        // Records past the retention period are gone, whether or not the sweep has deleted them.
        let cutoff = self.retention_cutoff(&s, now);
        let mut skipped = 0usize;
        for (k, r) in range.by_ref() {
            let (KinesisRecord::Data(d), Some(c)) = (r, counter_of(k)) else {
                continue;
            };
            if d.arrival_ms < cutoff && records.is_empty() {
                skipped += 1;
                next = c + 1;
                if skipped >= MAX_EXPIRED_SKIPPED {
                    behind = now.saturating_sub(d.arrival_ms);
                    more = true;
                    break;
                }
                continue;
            }
            if records.len() >= limit || (bytes >= MAX_GET_BYTES && !records.is_empty()) {
                behind = now.saturating_sub(d.arrival_ms);
                more = true;
                break;
            }
            let data = self.payload_bytes(&d.payload)?;
            bytes += data.len() + d.partition_key.len();
            let mut rec = json!({
                "SequenceNumber": format_seq(c, it.shard, s.created_ms),
                "ApproximateArrivalTimestamp": secs(d.arrival_ms),
                "Data": STANDARD.encode(&data),
                "PartitionKey": d.partition_key,
            });
            if d.encrypted {
                rec["EncryptionType"] = json!("KMS");
            }
            records.push(rec);
            next = c + 1;
        }
        let mut o = json!({ "Records": records, "MillisBehindLatest": behind });
        if sh.end_counter.is_some() && !more {
            // The end of a closed shard: no next iterator, its children instead.
            o["ChildShards"] = json!(children(&snap, &p, &it.stream, it.shard));
        } else {
            let n = Iter {
                counter: next.max(it.counter),
                issued_ms: now,
                ..it
            };
            o["NextShardIterator"] = json!(n.encode());
        }
        out(o, None)
    }

    /// A stored payload's bytes.
    pub(crate) fn payload_bytes(&self, payload: &Payload) -> Result<Vec<u8>, AwsError> {
        match payload {
            Payload::Inline(b) => Ok(b.clone()),
            Payload::Blob(id) => {
                let fail = |e: snapstack_engine::Error| {
                    self.engine.damaged_read(NAME, "a record's data", &e);
                    AwsError::internal(
                        "InternalFailureException",
                        format!("A record's data could not be read: {e}"),
                    )
                };
                let blob = self.engine.open_blob(id).map_err(fail)?;
                let mut out = Vec::with_capacity(blob.size() as usize);
                for piece in blob.read_all() {
                    out.extend_from_slice(&piece.map_err(fail)?);
                }
                Ok(out)
            }
        }
    }
}

/// The counter of a data record's key: its last part (a `u64`: tag `0x15` and 8 bytes).
pub(crate) fn counter_of(k: &snapstack_engine::Key) -> Option<u64> {
    let b = k.as_bytes();
    let n = b.len();
    if n < 9 || b[n - 9] != 0x15 {
        return None;
    }
    Some(u64::from_be_bytes(b[n - 8..].try_into().ok()?))
}

/// The first counter of shard `shard` (between `from` and `tip`) at which a record arrived at or
/// after `ts`, or `tip`: a binary search over the counters (arrival times grow along a shard),
/// each probe one seek.
pub(crate) fn first_at_or_after(
    snap: &Snapshot<KinesisRecord>,
    p: &Partition,
    stream: &str,
    shard: u64,
    from: u64,
    tip: u64,
    ts: u64,
) -> u64 {
    let hi_bound = shard_data_prefix(p, stream, shard).prefix_range().1;
    // The first record at or after counter `c`: its arrival, or none.
    let arrival_from = |c: u64| {
        snap.range((
            Bound::Included(data_key(p, stream, shard, c)),
            hi_bound.clone(),
        ))
        .find_map(|(_, r)| match r {
            KinesisRecord::Data(d) => Some(d.arrival_ms),
            _ => None,
        })
    };
    let (mut lo, mut hi) = (from, tip.max(from));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match arrival_from(mid) {
            Some(a) if a < ts => lo = mid + 1,
            _ => hi = mid,
        }
    }
    lo
}

/// The children of a closed shard, as GetRecords lists them at its end.
fn children(snap: &Snapshot<KinesisRecord>, p: &Partition, stream: &str, shard: u64) -> Vec<Value> {
    load_shards(snap, p, stream)
        .into_iter()
        .filter(|c| c.parent == Some(shard) || c.adjacent_parent == Some(shard))
        .map(|c| {
            let parents: Vec<String> = c
                .parent
                .into_iter()
                .chain(c.adjacent_parent)
                .map(shard_id)
                .collect();
            json!({
                "ShardId": shard_id(c.index),
                "ParentShards": parents,
                "HashKeyRange": {
                    "StartingHashKey": c.start_hash.to_string(),
                    "EndingHashKey": c.end_hash.to_string(),
                },
            })
        })
        .collect()
}

//! Shards: ListShards (paging, ShardFilter), SplitShard, MergeShards and UpdateShardCount, with
//! parent/child lineage and closed shards (an ending sequence number, no more writes).

use serde_json::{Value, json};
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;

use crate::seq::{even_ranges, parse_hash};
use crate::streams::{opaque, shard_json, shard_limit_error, unopaque};
use crate::uniform::{Reshaper, Span, reshape};
use crate::*;

/// Open a new shard of `s` over `[start, end]`: it takes the next shard index and a counter
/// value (its starting sequence number).
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_shard(
    txn: &mut Txn<'_, KinesisRecord>,
    p: &Partition,
    s: &mut StreamRec,
    start: u128,
    end: u128,
    parent: Option<u64>,
    adjacent_parent: Option<u64>,
    now: u64,
) -> u64 {
    let index = s.next_shard;
    s.next_shard += 1;
    let start_counter = s.next_counter;
    s.next_counter += 1;
    txn.insert(
        shard_key(p, &s.name, index),
        KinesisRecord::Shard(ShardRec {
            index,
            start_hash: start,
            end_hash: end,
            parent,
            adjacent_parent,
            start_counter,
            end_counter: None,
            created_ms: now,
            closed_ms: None,
        }),
    );
    index
}

/// Close a shard: it takes a counter value (its ending sequence number), above every record.
pub(crate) fn close_shard(
    txn: &mut Txn<'_, KinesisRecord>,
    p: &Partition,
    s: &mut StreamRec,
    shard: &ShardRec,
    now: u64,
) {
    let mut sh = shard.clone();
    sh.end_counter = Some(s.next_counter);
    s.next_counter += 1;
    sh.closed_ms = Some(now);
    txn.insert(shard_key(p, &s.name, sh.index), KinesisRecord::Shard(sh));
}

/// UpdateShardCount's splits and merges, applied in the store write.
struct StoreReshaper<'a, 'b, 't> {
    txn: &'a mut Txn<'t, KinesisRecord>,
    p: &'a Partition,
    s: &'b mut StreamRec,
    now: u64,
}

impl StoreReshaper<'_, '_, '_> {
    fn close(&mut self, span: Span) {
        if let Some(KinesisRecord::Shard(sh)) =
            self.txn.get(&shard_key(self.p, &self.s.name, span.index))
        {
            let sh = sh.clone();
            close_shard(self.txn, self.p, self.s, &sh, self.now);
        }
    }
}

impl Reshaper for StoreReshaper<'_, '_, '_> {
    fn split(&mut self, shard: Span, at: u128) -> (u64, u64) {
        self.close(shard);
        let (txn, p, s, now) = (&mut *self.txn, self.p, &mut *self.s, self.now);
        let left = open_shard(txn, p, s, shard.start, at - 1, Some(shard.index), None, now);
        let right = open_shard(txn, p, s, at, shard.end, Some(shard.index), None, now);
        (left, right)
    }

    fn merge(&mut self, left: Span, right: Span) -> u64 {
        self.close(left);
        self.close(right);
        let (txn, p, s, now) = (&mut *self.txn, self.p, &mut *self.s, self.now);
        open_shard(
            txn,
            p,
            s,
            left.start,
            right.end,
            Some(left.index),
            Some(right.index),
            now,
        )
    }
}

fn txn_shards(txn: &Txn<'_, KinesisRecord>, p: &Partition, name: &str) -> Vec<ShardRec> {
    txn.scan_prefix(&shards_prefix(p, name))
        .filter_map(|(_, r)| match r {
            KinesisRecord::Shard(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn shard_missing(p: &Partition, stream: &str, id: &str) -> AwsError {
    not_found(format!(
        "Could not find shard {id} in stream {stream} under account {}.",
        p.account
    ))
}

fn open_shard_named(
    shards: &[ShardRec],
    p: &Partition,
    stream: &str,
    id: &str,
) -> Result<ShardRec, AwsError> {
    let idx = shard_index(id).ok_or_else(|| shard_missing(p, stream, id))?;
    let sh = shards
        .iter()
        .find(|s| s.index == idx)
        .ok_or_else(|| shard_missing(p, stream, id))?;
    if sh.end_counter.is_some() {
        return Err(in_use(format!(
            "Shard {id} in stream {stream} under account {} has already been merged or split, and thus is not eligible for merging or splitting.",
            p.account
        )));
    }
    Ok(sh.clone())
}

impl Kinesis {
    /// Run a resharding step on the addressed stream in one write.
    fn reshard(
        &self,
        p: &Partition,
        v: &Value,
        f: impl FnOnce(
            &mut Txn<'_, KinesisRecord>,
            &Partition,
            &mut StreamRec,
            Vec<ShardRec>,
        ) -> Result<Value, AwsError>,
    ) -> Result<Out, AwsError> {
        let (p, name) = target(p, v)?;
        let (r, ver) = self.store.write(|txn| {
            let key = stream_key(&p, &name);
            let Some(KinesisRecord::Stream(s)) = txn.get(&key) else {
                return Err(stream_missing(&p, &name));
            };
            let mut s = s.clone();
            if s.status != "ACTIVE" {
                return Err(in_use(format!(
                    "Stream {name} under account {} not ACTIVE, instead in state {}",
                    p.account, s.status
                )));
            }
            let shards = txn_shards(txn, &p, &name);
            let o = f(txn, &p, &mut s, shards)?;
            txn.insert(key, KinesisRecord::Stream(s));
            Ok(o)
        });
        out(r?, Some(ver))
    }

    pub(crate) fn split_shard(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "ShardToSplit").unwrap_or_default().to_string();
        let key_text = str_of(v, "NewStartingHashKey")
            .unwrap_or_default()
            .to_string();
        let now = self.now_ms();
        self.reshard(p, v, |txn, p, s, shards| {
            let sh = open_shard_named(&shards, p, &s.name, &id)?;
            let h = parse_hash(&key_text);
            let Some(h) = h.filter(|h| *h > sh.start_hash.saturating_add(1) && *h < sh.end_hash)
            else {
                return Err(invalid(format!(
                    "NewStartingHashKey {key_text} used in SplitShard() on shard {id} in stream {} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                    s.name, p.account, sh.start_hash, sh.end_hash
                )));
            };
            let open = open_count(txn, p);
            if open + 1 > SHARD_LIMIT {
                return Err(shard_limit_error(p, open, 1));
            }
            close_shard(txn, p, s, &sh, now);
            open_shard(txn, p, s, sh.start_hash, h - 1, Some(sh.index), None, now);
            open_shard(txn, p, s, h, sh.end_hash, Some(sh.index), None, now);
            Ok(json!({}))
        })
    }

    pub(crate) fn merge_shards(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let a_id = str_of(v, "ShardToMerge").unwrap_or_default().to_string();
        let b_id = str_of(v, "AdjacentShardToMerge")
            .unwrap_or_default()
            .to_string();
        let now = self.now_ms();
        self.reshard(p, v, |txn, p, s, shards| {
            let a = open_shard_named(&shards, p, &s.name, &a_id)?;
            let b = open_shard_named(&shards, p, &s.name, &b_id)?;
            let adjacent = a.index != b.index
                && (a.end_hash.checked_add(1) == Some(b.start_hash)
                    || b.end_hash.checked_add(1) == Some(a.start_hash));
            if !adjacent {
                return Err(invalid(format!(
                    "Shards {a_id} and {b_id} in stream {} under account {} are not an adjacent pair of shards eligible for merging",
                    s.name, p.account
                )));
            }
            close_shard(txn, p, s, &a, now);
            close_shard(txn, p, s, &b, now);
            open_shard(
                txn,
                p,
                s,
                a.start_hash.min(b.start_hash),
                a.end_hash.max(b.end_hash),
                Some(a.index),
                Some(b.index),
                now,
            );
            Ok(json!({}))
        })
    }

    pub(crate) fn update_shard_count(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let target_count = int_of(v, "TargetShardCount").unwrap_or(0).max(0) as u64;
        let now = self.now_ms();
        self.reshard(p, v, |txn, p, s, shards| {
            if s.mode == "ON_DEMAND" {
                return Err(invalid(format!(
                    "UpdateShardCount is not supported for stream {} under account {} because it is in ON_DEMAND mode.",
                    s.name, p.account
                )));
            }
            let open: Vec<ShardRec> = shards
                .into_iter()
                .filter(|sh| sh.end_counter.is_none())
                .collect();
            let n = open.len() as u64;
            if target_count > 2 * n {
                return Err(limit(format!(
                    "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {n} Target shard count: {target_count}"
                )));
            }
            if target_count * 2 < n {
                return Err(limit(format!(
                    "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {n} Target shard count: {target_count}"
                )));
            }
            let all_open = open_count(txn, p);
            if target_count > n && all_open + (target_count - n) > SHARD_LIMIT {
                return Err(shard_limit_error(p, all_open, target_count - n));
            }
            let o = json!({
                "StreamName": s.name,
                "StreamARN": stream_arn(p, &s.name),
                "CurrentShardCount": n,
                "TargetShardCount": target_count,
            });
            if target_count == n {
                return Ok(o);
            }
            let spans: Vec<Span> = open
                .iter()
                .map(|sh| Span {
                    index: sh.index,
                    start: sh.start_hash,
                    end: sh.end_hash,
                })
                .collect();
            let mut store = StoreReshaper {
                txn,
                p,
                s,
                now,
            };
            reshape(&spans, &even_ranges(target_count), &mut store);
            Ok(o)
        })
    }

    pub(crate) fn list_shards(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let token = str_of(v, "NextToken");
        let named = v.get("StreamName").is_some() || v.get("StreamARN").is_some();
        let (p, name, filter, after) = match token {
            Some(_) if named => {
                return Err(invalid(
                    "NextToken and StreamName cannot be provided together.",
                ));
            }
            Some(t) => {
                let bad = || {
                    AwsError::new(
                        "ExpiredNextTokenException",
                        format!("Invalid NextToken: {t}"),
                    )
                };
                let decoded: Value = unopaque(t)
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .ok_or_else(bad)?;
                let (Some(a), Some(r), Some(s), Some(i)) = (
                    str_of(&decoded, "a"),
                    str_of(&decoded, "r"),
                    str_of(&decoded, "s"),
                    decoded.get("i").and_then(Value::as_u64),
                ) else {
                    return Err(bad());
                };
                (
                    Partition::new(a, r),
                    s.to_string(),
                    decoded.get("f").cloned().filter(|f| !f.is_null()),
                    Some(i),
                )
            }
            None => {
                if !named {
                    return Err(invalid(
                        "Either NextToken or StreamName should be provided.",
                    ));
                }
                let (p, name) = target(p, v)?;
                let after = str_of(v, "ExclusiveStartShardId")
                    .map(|id| shard_index(id).unwrap_or(u64::MAX));
                (p, name, v.get("ShardFilter").cloned(), after)
            }
        };
        let lim = int_of(v, "MaxResults").unwrap_or(1000).clamp(1, 10_000) as usize;
        let snap = self.store.snapshot();
        let s = load_stream(&snap, &p, &name)?;
        let now = self.now_ms();
        let keep = shard_filter(&s, filter.as_ref(), self.retention_cutoff(&s, now))?;
        let mut shards: Vec<ShardRec> = load_shards(&snap, &p, &name)
            .into_iter()
            .filter(|sh| after.is_none_or(|a| sh.index > a))
            .filter(|sh| keep(sh))
            .take(lim + 1)
            .collect();
        let more = shards.len() > lim;
        shards.truncate(lim);
        let mut o = json!({
            "Shards": shards.iter().map(|sh| shard_json(sh, s.created_ms)).collect::<Vec<_>>(),
        });
        if more && let Some(last) = shards.last() {
            let t = json!({
                "a": p.account, "r": p.region, "s": name, "i": last.index,
                "f": filter.unwrap_or(Value::Null),
            });
            o["NextToken"] = json!(opaque(&t.to_string()));
        }
        out(o, None)
    }
}

fn open_count(txn: &Txn<'_, KinesisRecord>, p: &Partition) -> u64 {
    txn.scan_prefix(&p.key().str("h").build())
        .filter(|(_, r)| matches!(r, KinesisRecord::Shard(s) if s.end_counter.is_none()))
        .count() as u64
}

type ShardPredicate = Box<dyn Fn(&ShardRec) -> bool>;

/// Which shards a `ShardFilter` keeps.
fn shard_filter(
    s: &StreamRec,
    filter: Option<&Value>,
    cutoff: u64,
) -> Result<ShardPredicate, AwsError> {
    let Some(f) = filter else {
        return Ok(Box::new(|_| true));
    };
    let kind = str_of(f, "Type").unwrap_or_default();
    let trim = cutoff.max(s.created_ms);
    let open_at =
        |t: u64| move |sh: &ShardRec| sh.created_ms <= t && sh.closed_ms.is_none_or(|c| c > t);
    let alive_from = |t: u64| move |sh: &ShardRec| sh.closed_ms.is_none_or(|c| c > t);
    let ts = || {
        time_ms_of(f, "Timestamp").ok_or_else(|| {
            invalid(format!(
                "Timestamp must be provided for ShardFilter of type {kind}."
            ))
        })
    };
    Ok(match kind {
        "AFTER_SHARD_ID" => {
            let id = str_of(f, "ShardId").ok_or_else(|| {
                invalid("ShardId must be provided for ShardFilter of type AFTER_SHARD_ID.")
            })?;
            let idx = shard_index(id).unwrap_or(u64::MAX);
            Box::new(move |sh| sh.index > idx)
        }
        "AT_TRIM_HORIZON" => Box::new(open_at(trim)),
        "FROM_TRIM_HORIZON" => Box::new(alive_from(trim)),
        "AT_LATEST" => Box::new(|sh| sh.end_counter.is_none()),
        "AT_TIMESTAMP" => Box::new(open_at(ts()?.max(s.created_ms))),
        "FROM_TIMESTAMP" => Box::new(alive_from(ts()?)),
        other => {
            return Err(invalid(format!("Invalid ShardFilter type {other}.")));
        }
    })
}

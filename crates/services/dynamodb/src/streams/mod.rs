//! DynamoDB Streams: the stream records a table's item changes produce, and the streams
//! themselves.
//!
//! A table with a `StreamSpecification` has one open stream (its label is the time it was
//! enabled). Every item change appends a [`StreamRecord`] to it inside the same store write as
//! the change ([`crate::items::write_item`]), so a record exists exactly when its change does, on
//! disk too. Records carry a sequence number from the stream's counter (kept in the stream's
//! record, so numbers keep increasing across restarts) and expire after 24 hours
//! ([`RETENTION_MS`], swept by the TTL sweeper). Disabling the stream (or deleting the table)
//! closes it: it stays readable until its records expire; enabling again opens a new stream.
//!
//! | record | key |
//! |---|---|
//! | stream | `S`, table name, stream label |
//! | stream record | `r`, table name, stream label, sequence counter |
//!
//! Each stream has one shard (AWS rolls shards every few hours; one shard per stream keeps every
//! record of an item, and of the table, in order).

pub mod api;
pub mod service;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use snapstack_engine::store::Txn;
use snapstack_engine::{Key, Partition};

use crate::items::Pk;
use crate::table::TableMeta;
use crate::value::{self, Item};
use crate::{DynamoDb, Rec};

/// How long stream records are kept (AWS: 24 hours).
pub const RETENTION_MS: u64 = 24 * 3600 * 1000;
/// Sweeps delete at most this many stream records per store write.
const SWEEP_BATCH: usize = 1000;

/// A stream of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub table_name: String,
    pub table_id: u64,
    pub label: String,
    /// KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
    pub view: String,
    pub created_ms: u64,
    /// When the stream was disabled (or its table deleted).
    pub closed_ms: Option<u64>,
    /// The last sequence counter given out (0: none yet).
    pub last_seq: u64,
    /// Records below this counter were trimmed (expired).
    pub trimmed_below: u64,
    /// The table's key schema: (attribute name, HASH or RANGE).
    pub key_schema: Vec<(String, String)>,
}

/// One item change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub seq: u64,
    pub created_ms: u64,
    /// INSERT, MODIFY or REMOVE.
    pub event: EventName,
    pub keys: Item,
    pub new_image: Option<Item>,
    pub old_image: Option<Item>,
    pub size_bytes: u64,
    /// A deletion by Time to Live (its `userIdentity` is the DynamoDB service).
    pub by_ttl: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

pub mod keys {
    use super::*;

    pub fn stream(p: &Partition, table: &str, label: &str) -> Key {
        p.key().str("S").str(table).str(label).build()
    }

    /// Every stream of a partition (`table: None`), or of one table name.
    pub fn streams(p: &Partition, table: Option<&str>) -> Key {
        match table {
            Some(t) => p.key().str("S").str(t).build(),
            None => p.key().str("S").build(),
        }
    }

    pub fn record(p: &Partition, table: &str, label: &str, seq: u64) -> Key {
        p.key().str("r").str(table).str(label).u64(seq).build()
    }

    pub fn records(p: &Partition, table: &str, label: &str) -> Key {
        p.key().str("r").str(table).str(label).build()
    }
}

/// The ARN of a table's stream.
pub fn stream_arn(p: &Partition, table: &str, label: &str) -> String {
    format!(
        "arn:aws:dynamodb:{}:{}:table/{table}/stream/{label}",
        p.region, p.account
    )
}

/// (table name, label) of a stream ARN of this partition.
pub fn parse_arn(p: &Partition, arn: &str) -> Option<(String, String)> {
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", p.region, p.account);
    let rest = arn.strip_prefix(&prefix)?;
    let (table, label) = rest.split_once("/stream/")?;
    if table.is_empty() || label.is_empty() {
        return None;
    }
    Some((table.to_string(), label.to_string()))
}

/// A sequence number as AWS writes them: 21 digits or more, ordered as numbers.
pub fn format_seq(seq: u64) -> String {
    format!("{:021}", seq)
}

pub fn parse_seq(s: &str) -> Option<u64> {
    if s.len() < 21 || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The id of a stream's only shard: `shardId-<creation ms, 20 digits>-<8 hex digits>`.
pub fn shard_id(s: &StreamMeta) -> String {
    let h = blake3::hash(format!("{}/{}/{}", s.table_name, s.table_id, s.label).as_bytes());
    let b = h.as_bytes();
    format!(
        "shardId-{:020}-{:02x}{:02x}{:02x}{:02x}",
        s.created_ms, b[0], b[1], b[2], b[3]
    )
}

/// Open a new stream for `t` (its `stream` and `stream_label` already set), closing any other
/// open stream of the table.
pub fn open(p: &Partition, t: &TableMeta, txn: &mut Txn<'_, Rec>, now_ms: u64) {
    let (Some(view), Some(label)) = (&t.stream, &t.stream_label) else {
        return;
    };
    close_all(p, &t.name, txn, now_ms);
    let mut key_schema = vec![(t.hash.name.clone(), "HASH".to_string())];
    if let Some(r) = &t.range {
        key_schema.push((r.name.clone(), "RANGE".to_string()));
    }
    txn.insert(
        keys::stream(p, &t.name, label),
        Rec::Stream(Box::new(StreamMeta {
            table_name: t.name.clone(),
            table_id: t.id,
            label: label.clone(),
            view: view.clone(),
            created_ms: now_ms,
            closed_ms: None,
            last_seq: 0,
            trimmed_below: 1,
            key_schema,
        })),
    );
}

/// Close every open stream of the table named `table`.
pub fn close_all(p: &Partition, table: &str, txn: &mut Txn<'_, Rec>, now_ms: u64) {
    let open: Vec<(Key, StreamMeta)> = txn
        .scan_prefix(&keys::streams(p, Some(table)))
        .filter_map(|(k, r)| match r {
            Rec::Stream(s) if s.closed_ms.is_none() => Some((k.clone(), (**s).clone())),
            _ => None,
        })
        .collect();
    for (k, mut s) in open {
        s.closed_ms = Some(now_ms);
        txn.insert(k, Rec::Stream(Box::new(s)));
    }
}

/// Append the stream record of one item change of `t` (nothing when the table has no stream,
/// or when nothing changed: DynamoDB writes no record for a write that leaves the item as it was).
#[allow(clippy::too_many_arguments)]
pub fn append(
    p: &Partition,
    t: &TableMeta,
    txn: &mut Txn<'_, Rec>,
    _pk: &Pk,
    old: Option<&Item>,
    new: Option<&Item>,
    now_ms: u64,
    by_ttl: bool,
) {
    let (Some(_), Some(label)) = (&t.stream, &t.stream_label) else {
        return;
    };
    let event = match (old, new) {
        (None, Some(_)) => EventName::Insert,
        (Some(o), Some(n)) if o == n => return,
        (Some(_), Some(_)) => EventName::Modify,
        (Some(_), None) => EventName::Remove,
        (None, None) => return,
    };
    let skey = keys::stream(p, &t.name, label);
    let mut s = match txn.get(&skey) {
        Some(Rec::Stream(s)) if s.closed_ms.is_none() && s.table_id == t.id => (**s).clone(),
        _ => return,
    };
    let Some(item) = new.or(old) else { return };
    let keys = crate::items::key_item(t, item, None);
    let (new_image, old_image) = match s.view.as_str() {
        "NEW_IMAGE" => (new.cloned(), None),
        "OLD_IMAGE" => (None, old.cloned()),
        "NEW_AND_OLD_IMAGES" => (new.cloned(), old.cloned()),
        _ => (None, None),
    };
    let size_bytes = (value::item_size(&keys)
        + new_image.as_ref().map_or(0, value::item_size)
        + old_image.as_ref().map_or(0, value::item_size)) as u64;
    s.last_seq += 1;
    let seq = s.last_seq;
    txn.insert(
        keys::record(p, &t.name, label, seq),
        Rec::StreamRecord(Box::new(StreamRecord {
            seq,
            created_ms: now_ms,
            event,
            keys,
            new_image,
            old_image,
            size_bytes,
            by_ttl,
        })),
    );
    txn.insert(skey, Rec::Stream(Box::new(s)));
}

/// A record in the neutral JSON shape of DynamoDB Streams' `Record`.
pub fn record_json(p: &Partition, s: &StreamMeta, r: &StreamRecord) -> Value {
    let mut d = json!({
        "ApproximateCreationDateTime": r.created_ms as f64 / 1000.0,
        "Keys": value::item_to_json(&r.keys),
        "SequenceNumber": format_seq(r.seq),
        "SizeBytes": r.size_bytes,
        "StreamViewType": s.view,
    });
    if let Some(n) = &r.new_image {
        d["NewImage"] = value::item_to_json(n);
    }
    if let Some(o) = &r.old_image {
        d["OldImage"] = value::item_to_json(o);
    }
    let mut out = json!({
        "eventID": event_id(s, r),
        "eventName": r.event.as_str(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": p.region,
        "dynamodb": d,
    });
    if r.by_ttl {
        out["userIdentity"] = json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"});
    }
    out
}

/// A record's event id: 32 hex digits, stable for the record.
fn event_id(s: &StreamMeta, r: &StreamRecord) -> String {
    let h =
        blake3::hash(format!("{}/{}/{}/{}", s.table_name, s.table_id, s.label, r.seq).as_bytes());
    h.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl DynamoDb {
    /// Delete the stream records of partition `p` older than [`RETENTION_MS`], and streams closed
    /// longer ago than that. Returns how many records were deleted.
    pub fn sweep_streams(&self, p: &Partition, now_ms: u64) -> usize {
        let cutoff = now_ms.saturating_sub(RETENTION_MS);
        let streams: Vec<StreamMeta> = self
            .store
            .snapshot()
            .scan_prefix(&keys::streams(p, None))
            .filter_map(|(_, r)| match r {
                Rec::Stream(s) => Some((**s).clone()),
                _ => None,
            })
            .collect();
        let mut deleted = 0;
        for s in streams {
            loop {
                let snap = self.store.snapshot();
                let due: Vec<u64> = snap
                    .scan_prefix(&keys::records(p, &s.table_name, &s.label))
                    .map_while(|(_, r)| match r {
                        Rec::StreamRecord(r) if r.created_ms < cutoff => Some(r.seq),
                        _ => None,
                    })
                    .take(SWEEP_BATCH)
                    .collect();
                let gone_stream = s.closed_ms.is_some_and(|c| c < cutoff);
                if due.is_empty() && !gone_stream {
                    break;
                }
                let n = due.len();
                self.store.write(|txn| {
                    for seq in &due {
                        txn.remove(&keys::record(p, &s.table_name, &s.label, *seq));
                    }
                    let skey = keys::stream(p, &s.table_name, &s.label);
                    if let Some(Rec::Stream(cur)) = txn.get(&skey) {
                        let mut cur = (**cur).clone();
                        let empty = txn
                            .scan_prefix(&keys::records(p, &s.table_name, &s.label))
                            .next()
                            .is_none();
                        if gone_stream && empty {
                            txn.remove(&skey);
                        } else if let Some(last) = due.last() {
                            cur.trimmed_below = cur.trimmed_below.max(last + 1);
                            txn.insert(skey, Rec::Stream(Box::new(cur)));
                        }
                    }
                });
                deleted += n;
                if n < SWEEP_BATCH {
                    break;
                }
            }
        }
        deleted
    }
}

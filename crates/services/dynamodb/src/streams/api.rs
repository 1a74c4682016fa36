//! The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator, GetRecords.
//!
//! A shard iterator is an opaque token (base64) that encodes the stream, the sequence counter to
//! read from and when it was issued: nothing about it is kept on the server, so an iterator
//! issued before a restart reads from the same place after it, until it expires
//! ([`ITERATOR_TTL_MS`], 15 minutes as AWS).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{Output, RequestContext};

use super::{
    StreamMeta, format_seq, keys, parse_arn, parse_seq, record_json, shard_id, stream_arn,
};
use crate::{DdbError, DdbResult, DynamoDb, Rec};

/// How long a shard iterator stays valid.
pub const ITERATOR_TTL_MS: u64 = 15 * 60 * 1000;

/// [`ITERATOR_TTL_MS`], or `SNAPSTACK_DYNAMODBSTREAMS_ITERATOR_SECONDS` (tests).
fn iterator_ttl_ms() -> u64 {
    static TTL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TTL.get_or_init(|| {
        std::env::var("SNAPSTACK_DYNAMODBSTREAMS_ITERATOR_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(ITERATOR_TTL_MS, |s| s * 1000)
    })
}
/// GetRecords returns at most this many records (and its default).
const MAX_GET_RECORDS: u64 = 1000;
/// GetRecords returns at most about this many bytes.
const MAX_GET_BYTES: u64 = 1 << 20;
/// ListStreams' default page size.
const MAX_LIST_STREAMS: u64 = 100;

/// What an iterator encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iter {
    pub table: String,
    pub label: String,
    pub table_id: u64,
    /// The first sequence counter to read.
    pub seq: u64,
    pub issued_ms: u64,
}

const ITER_MAGIC: &str = "dds1";

impl Iter {
    pub fn encode(&self) -> String {
        let text = format!(
            "{ITER_MAGIC}/{}/{}/{}/{}/{}",
            self.issued_ms, self.seq, self.table_id, self.label, self.table
        );
        STANDARD.encode(text.as_bytes())
    }

    pub fn decode(token: &str) -> Option<Iter> {
        if token.len() > 2048 {
            return None;
        }
        let bytes = STANDARD.decode(token.as_bytes()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut it = text.splitn(6, '/');
        if it.next()? != ITER_MAGIC {
            return None;
        }
        let issued_ms = it.next()?.parse().ok()?;
        let seq = it.next()?.parse().ok()?;
        let table_id = it.next()?.parse().ok()?;
        let label = it.next()?.to_string();
        let table = it.next()?.to_string();
        if table.is_empty() || label.is_empty() {
            return None;
        }
        Some(Iter {
            table,
            label,
            table_id,
            seq,
            issued_ms,
        })
    }
}

fn str_of<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn stream_not_found(arn: &str) -> DdbError {
    DdbError::new(
        "ResourceNotFoundException",
        format!("Requested resource not found: Stream: {arn} not found"),
    )
}

fn limit(body: &Value, max: u64) -> DdbResult<u64> {
    match body.get("Limit").and_then(Value::as_i64) {
        None => Ok(max),
        Some(n) if n < 1 => Err(DdbError::constraint(
            n,
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n as u64 > max => Err(DdbError::constraint(
            n,
            "limit",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(n) => Ok(n as u64),
    }
}

impl DynamoDb {
    /// One DynamoDB Streams operation.
    pub fn handle_streams(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &Value,
    ) -> DdbResult<Output> {
        if !body.is_object() {
            return Err(DdbError::serialization(
                "Start of structure or map expected",
            ));
        }
        let out = match op {
            "ListStreams" => self.list_streams(ctx, body)?,
            "DescribeStream" => self.describe_stream(ctx, body)?,
            "GetShardIterator" => self.get_shard_iterator(ctx, body)?,
            "GetRecords" => self.get_records(ctx, body)?,
            _ => {
                return Err(DdbError::new(
                    "UnknownOperationException",
                    format!("Operation {op} is not supported by this emulator's DynamoDB Streams."),
                ));
            }
        };
        Ok(Output::read(out))
    }

    fn stream_of(&self, p: &Partition, arn: &str) -> DdbResult<StreamMeta> {
        let (table, label) = parse_arn(p, arn).ok_or_else(|| stream_not_found(arn))?;
        match self.store.snapshot().get(&keys::stream(p, &table, &label)) {
            Some(Rec::Stream(s)) => Ok((**s).clone()),
            _ => Err(stream_not_found(arn)),
        }
    }

    fn list_streams(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Value> {
        let p = &ctx.partition;
        let limit = limit(body, MAX_LIST_STREAMS)? as usize;
        let table = str_of(body, "TableName");
        let start = match str_of(body, "ExclusiveStartStreamArn") {
            Some(arn) => Some(parse_arn(p, arn).ok_or_else(|| stream_not_found(arn))?),
            None => None,
        };
        let snap = self.store.snapshot();
        let mut streams = Vec::new();
        let mut last = None;
        let mut more = false;
        for (_, r) in snap.scan_prefix(&keys::streams(p, table)) {
            let Rec::Stream(s) = r else { continue };
            if let Some((t, l)) = &start
                && (&s.table_name, &s.label) <= (t, l)
            {
                continue;
            }
            if streams.len() == limit {
                more = true;
                break;
            }
            let arn = stream_arn(p, &s.table_name, &s.label);
            last = Some(arn.clone());
            streams
                .push(json!({"StreamArn": arn, "TableName": s.table_name, "StreamLabel": s.label}));
        }
        let mut out = json!({"Streams": streams});
        if more && let Some(l) = last {
            out["LastEvaluatedStreamArn"] = json!(l);
        }
        Ok(out)
    }

    fn describe_stream(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Value> {
        let p = &ctx.partition;
        let arn = str_of(body, "StreamArn").ok_or_else(|| DdbError::missing("streamArn"))?;
        limit(body, 100)?;
        let s = self.stream_of(p, arn)?;
        let id = shard_id(&s);
        let mut range = json!({"StartingSequenceNumber": format_seq(s.trimmed_below.max(1))});
        if s.closed_ms.is_some() {
            range["EndingSequenceNumber"] =
                json!(format_seq(s.last_seq.max(s.trimmed_below.max(1))));
        }
        let shards = if str_of(body, "ExclusiveStartShardId").is_some_and(|x| x >= id.as_str()) {
            vec![]
        } else {
            vec![json!({"ShardId": id, "SequenceNumberRange": range})]
        };
        let schema: Vec<Value> = s
            .key_schema
            .iter()
            .map(|(n, k)| json!({"AttributeName": n, "KeyType": k}))
            .collect();
        Ok(json!({"StreamDescription": {
            "StreamArn": arn,
            "StreamLabel": s.label,
            "StreamStatus": if s.closed_ms.is_some() { "DISABLED" } else { "ENABLED" },
            "StreamViewType": s.view,
            "CreationRequestDateTime": s.created_ms as f64 / 1000.0,
            "TableName": s.table_name,
            "KeySchema": schema,
            "Shards": shards,
        }}))
    }

    fn get_shard_iterator(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Value> {
        let p = &ctx.partition;
        let arn = str_of(body, "StreamArn").ok_or_else(|| DdbError::missing("streamArn"))?;
        let shard = str_of(body, "ShardId").ok_or_else(|| DdbError::missing("shardId"))?;
        let kind = str_of(body, "ShardIteratorType")
            .ok_or_else(|| DdbError::missing("shardIteratorType"))?;
        let seq_in = str_of(body, "SequenceNumber");
        let s = self.stream_of(p, arn)?;
        if shard != shard_id(&s) {
            return Err(DdbError::new(
                "ResourceNotFoundException",
                format!("Requested resource not found: Shard does not exist: {shard}"),
            ));
        }
        let first = s.trimmed_below.max(1);
        let at = |after: bool| -> DdbResult<u64> {
            let text = seq_in.ok_or_else(|| {
                DdbError::validation(format!(
                    "Must specify a SequenceNumber for ShardIteratorType {kind}"
                ))
            })?;
            let n = parse_seq(text)
                .ok_or_else(|| DdbError::validation(format!("Invalid SequenceNumber: {text}")))?;
            if n > s.last_seq {
                return Err(DdbError::validation(format!(
                    "Invalid SequenceNumber: {text} is beyond the last sequence number of the shard"
                )));
            }
            if n < first {
                return Err(DdbError::new(
                    "TrimmedDataAccessException",
                    format!(
                        "Requested sequence number {text} is beyond the trim horizon of the shard"
                    ),
                ));
            }
            Ok(if after { n + 1 } else { n })
        };
        let seq = match kind {
            "TRIM_HORIZON" | "LATEST" if seq_in.is_some() => {
                return Err(DdbError::validation(format!(
                    "SequenceNumber must not be specified for ShardIteratorType {kind}"
                )));
            }
            "TRIM_HORIZON" => first,
            "LATEST" => s.last_seq + 1,
            "AT_SEQUENCE_NUMBER" => at(false)?,
            "AFTER_SEQUENCE_NUMBER" => at(true)?,
            other => {
                return Err(DdbError::constraint(
                    other,
                    "shardIteratorType",
                    "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST]",
                ));
            }
        };
        let it = Iter {
            table: s.table_name,
            label: s.label,
            table_id: s.table_id,
            seq,
            issued_ms: self.now_ms(),
        };
        Ok(json!({"ShardIterator": it.encode()}))
    }

    fn get_records(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Value> {
        let p = &ctx.partition;
        let token =
            str_of(body, "ShardIterator").ok_or_else(|| DdbError::missing("shardIterator"))?;
        let limit = limit(body, MAX_GET_RECORDS)? as usize;
        let it =
            Iter::decode(token).ok_or_else(|| DdbError::validation("Invalid ShardIterator"))?;
        let now = self.now_ms();
        let ttl = iterator_ttl_ms();
        if now.saturating_sub(it.issued_ms) > ttl {
            return Err(DdbError::new(
                "ExpiredIteratorException",
                format!(
                    "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ttl} milliseconds.",
                    it.issued_ms, now
                ),
            ));
        }
        let arn = stream_arn(p, &it.table, &it.label);
        let s = self.stream_of(p, &arn)?;
        if s.table_id != it.table_id {
            return Err(stream_not_found(&arn));
        }
        if it.seq < s.trimmed_below {
            return Err(DdbError::new(
                "TrimmedDataAccessException",
                "The operation attempted to read past the oldest stream record in a shard.",
            ));
        }
        let snap = self.store.snapshot();
        let lo = keys::record(p, &s.table_name, &s.label, it.seq);
        let (_, hi) = keys::records(p, &s.table_name, &s.label).prefix_range();
        let mut records = Vec::new();
        let mut next = it.seq;
        let mut bytes = 0u64;
        for (_, r) in snap.range((std::ops::Bound::Included(lo), hi)) {
            let Rec::StreamRecord(r) = r else { continue };
            if records.len() == limit || (bytes >= MAX_GET_BYTES && !records.is_empty()) {
                break;
            }
            bytes += r.size_bytes;
            next = r.seq + 1;
            records.push(record_json(p, &s, r));
        }
        let mut out = json!({"Records": records});
        // A closed shard read to its end has no next iterator.
        if !(s.closed_ms.is_some() && next > s.last_seq) {
            let n = Iter {
                seq: next,
                issued_ms: now,
                ..it
            };
            out["NextShardIterator"] = json!(n.encode());
        }
        Ok(out)
    }
}

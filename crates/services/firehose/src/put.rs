//! PutRecord and PutRecordBatch: each accepted record becomes its own store record (large
//! payloads as engine blobs) in the same store write that acknowledges it, together with the
//! buffer's absolute flush deadline.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Handled;

use crate::deliver::Plan;
use crate::model::{BufRec, Data, FirehoseRecord, StreamRec, rk};
use crate::{Firehose, INLINE_MAX, invalid, not_found, ok, s};

/// The largest record (before base64), as the model's `Data` shape says: 1,000 KiB.
pub const MAX_RECORD: usize = 1_024_000;
/// The most records of a `PutRecordBatch`.
pub const MAX_BATCH_RECORDS: usize = 500;
/// The most bytes of a `PutRecordBatch` (the records' data, before base64).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Per record its sequence number or refusal, whether the stream encrypts, the store version.
pub(crate) type Appended = (Vec<Result<u64, (String, String)>>, bool, u64);

/// A record being accepted: its payload, or why it is refused.
pub(crate) struct Incoming {
    pub data: Result<Data, (String, String)>,
    pub size: u64,
    pub arrival_ms: u64,
}

fn decode(v: Option<&Value>) -> Result<Vec<u8>, AwsError> {
    let text = v.and_then(Value::as_str).unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            AwsError::new(
                "SerializationException",
                "The record's Data is not valid base64.",
            )
        })
}

fn record_id(p: &Partition, name: &str, seq: u64) -> String {
    // 56 hex digits, as AWS's record ids are long opaque strings; unique per stream record.
    let uuid =
        crate::prefix::uuid_from(format!("{}/{}/{name}/{seq}", p.account, p.region).as_bytes());
    format!("{:016x}{}", seq, uuid.replace('-', ""))
}

impl Firehose {
    /// Store `bytes` as a record payload: inline, or an engine blob above [`INLINE_MAX`].
    pub(crate) fn payload(&self, bytes: &[u8]) -> Result<Data, (String, String)> {
        if bytes.len() <= INLINE_MAX {
            return Ok(Data::Inline(bytes.to_vec()));
        }
        let mut w = self.engine.blob_writer();
        w.write(bytes)
            .and_then(|_| w.finish())
            .map(|(id, _)| Data::Blob(id))
            .map_err(|e| {
                (
                    "ServiceUnavailableException".to_string(),
                    format!("The record could not be stored: {e}"),
                )
            })
    }

    /// Append `records` to the stream's buffer in one store write: `(seq or refusal per record,
    /// store version)`.
    pub(crate) fn append(
        &self,
        p: &Partition,
        name: &str,
        records: Vec<Incoming>,
        direct: bool,
        extra: impl FnOnce(&mut snapstack_engine::Txn<'_, FirehoseRecord>),
    ) -> Result<Appended, AwsError> {
        let key = rk::stream(p, name);
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let mut st: StreamRec = match txn.get(&key) {
                Some(FirehoseRecord::Stream(st)) if st.deleting_ms.is_none() => st.clone(),
                _ => return Err(not_found(name, &p.account)),
            };
            if direct && st.stream_type != "DirectPut" {
                return Err(invalid(format!(
                    "This operation is not permitted on {} delivery stream type.",
                    st.stream_type
                )));
            }
            let plan = Plan::of(&st);
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                match r.data {
                    Ok(data) => {
                        let seq = st.next_seq;
                        st.next_seq += 1;
                        if st.buffer.count == 0 {
                            st.buffer.opened_ms = now;
                            st.buffer.deadline_ms = now + plan.interval_ms;
                        }
                        st.buffer.count += 1;
                        st.buffer.bytes += r.size;
                        txn.insert(
                            rk::record(p, name, seq),
                            FirehoseRecord::Buffered(BufRec {
                                seq,
                                arrival_ms: r.arrival_ms,
                                size: r.size,
                                data,
                            }),
                        );
                        out.push(Ok(seq));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
            let due = st.buffer.bytes >= plan.size_bytes;
            let encrypted = st
                .encryption
                .as_ref()
                .is_some_and(|e| e.status == "ENABLED");
            txn.insert(key.clone(), FirehoseRecord::Stream(st));
            extra(txn);
            Ok((out, encrypted, due))
        });
        let (out, encrypted, due) = r?;
        if due {
            self.wake.notify_one();
        }
        Ok((out, encrypted, v))
    }

    pub(crate) fn put_record(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let bytes = decode(m.get("Record").and_then(|r| r.get("Data")))?;
        if bytes.len() > MAX_RECORD {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD}"
            )));
        }
        // Refuse an unknown stream before writing a blob.
        self.stream(p, name)?;
        let now = self.now_ms();
        let data = self.payload(&bytes);
        if let Err((code, message)) = &data {
            return Err(AwsError::new(code, message.clone())
                .with_status(snapstack_protocol::http::StatusCode::SERVICE_UNAVAILABLE));
        }
        let incoming = vec![Incoming {
            data,
            size: bytes.len() as u64,
            arrival_ms: now,
        }];
        let (out, encrypted, v) = self.append(p, name, incoming, true, |_| {})?;
        let seq = match out.first() {
            Some(Ok(seq)) => *seq,
            _ => 0,
        };
        ok(
            json!({"RecordId": record_id(p, name, seq), "Encrypted": encrypted}),
            Some(v),
        )
    }

    pub(crate) fn put_record_batch(
        &self,
        p: &Partition,
        m: &Map<String, Value>,
    ) -> Result<Handled, AwsError> {
        let name = s(m, "DeliveryStreamName").unwrap_or_default();
        let items = m
            .get("Records")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if items.len() > MAX_BATCH_RECORDS {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_RECORDS}"
            )));
        }
        let mut decoded = Vec::with_capacity(items.len());
        let mut total = 0usize;
        for (i, r) in items.iter().enumerate() {
            let b = decode(r.get("Data"))?;
            if b.len() > MAX_RECORD {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value at 'records.{}.member.data' failed to satisfy constraint: Member must have length less than or equal to {MAX_RECORD}",
                    i + 1
                )));
            }
            total += b.len();
            decoded.push(b);
        }
        if total > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "Records size exceeds {} MB limit",
                MAX_BATCH_BYTES >> 20
            )));
        }
        self.stream(p, name)?;
        let now = self.now_ms();
        let incoming: Vec<Incoming> = decoded
            .iter()
            .map(|b| Incoming {
                data: self.payload(b),
                size: b.len() as u64,
                arrival_ms: now,
            })
            .collect();
        let (out, encrypted, v) = self.append(p, name, incoming, true, |_| {})?;
        let mut failed = 0;
        let responses: Vec<Value> = out
            .into_iter()
            .map(|r| match r {
                Ok(seq) => json!({"RecordId": record_id(p, name, seq)}),
                Err((code, message)) => {
                    failed += 1;
                    json!({"ErrorCode": code, "ErrorMessage": message})
                }
            })
            .collect();
        ok(
            json!({"FailedPutCount": failed, "Encrypted": encrypted, "RequestResponses": responses}),
            Some(v),
        )
    }
}

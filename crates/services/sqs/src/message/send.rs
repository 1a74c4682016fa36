//! Sending: SendMessage and SendMessageBatch (attributes, delays, FIFO deduplication).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use snapstack_engine::{Partition, Txn};
use snapstack_service::metrics::StatSet;

use super::{
    AttrInput, batch_error, check_batch, check_dedup_or_group, convert_attributes, invalid_chars,
    message_id, sequence_number, valid_chars,
};
use crate::md5;
use crate::model::{self, DedupRec, MessageRec, QueueRec, Rec};
use crate::queue::{self, attr_u64, content_dedup, is_fifo};
use crate::sse::Sealer;
use crate::{Out, Req, Sqs, SqsError};

/// The largest total payload of a batch.
const MAX_BATCH_BYTES: usize = 1_048_576;

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct SendInput {
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: SendEntry,
}

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    id: Option<String>,
    message_body: Option<String>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, AttrInput>,
    #[serde(default)]
    message_system_attributes: BTreeMap<String, AttrInput>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct SendBatchInput {
    queue_url: Option<String>,
    #[serde(default)]
    entries: Vec<SendEntry>,
}

/// A message ready to be stored (its body sealed if the queue has SSE), and what a send
/// answers.
struct Prepared {
    rec: Rec,
    size: usize,
    dedup: Option<(String, String)>,
}

impl Sqs {
    /// Check one send against its queue and build the message to store.
    fn prepare(
        &self,
        req: &Req<'_>,
        q: &QueueRec,
        e: &SendEntry,
        now: u64,
        sealer: &Sealer,
    ) -> Result<Prepared, SqsError> {
        let body = e
            .message_body
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SqsError::missing("MessageBody"))?;
        if !valid_chars(&body) {
            return Err(invalid_chars());
        }
        let (attributes, attr_size) = convert_attributes(&e.message_attributes, false)?;
        let (system_attributes, _) = convert_attributes(&e.message_system_attributes, true)?;
        let size = body.len() + attr_size;
        let max = attr_u64(q, "MaximumMessageSize") as usize;
        if size > max {
            return Err(SqsError::invalid_parameter(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let fifo = is_fifo(q);
        let delay = match e.delay_seconds {
            None => attr_u64(q, "DelaySeconds"),
            Some(_) if fifo => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                    e.delay_seconds.unwrap_or_default()
                )));
            }
            Some(d @ 0..=900) => d as u64,
            Some(d) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                )));
            }
        };
        if let Some(g) = &e.message_group_id {
            check_dedup_or_group(g, "MessageGroupId")?;
        }
        let mut dedup = None;
        if fifo {
            let group = e
                .message_group_id
                .clone()
                .ok_or_else(|| SqsError::missing("MessageGroupId"))?;
            let id = match &e.message_deduplication_id {
                Some(d) => {
                    check_dedup_or_group(d, "MessageDeduplicationId")?;
                    d.clone()
                }
                None if content_dedup(q) => md5::hex(&Sha256::digest(body.as_bytes())),
                None => {
                    return Err(SqsError::invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
            };
            let scope = if q
                .attributes
                .get("DeduplicationScope")
                .is_some_and(|s| s == "messageGroup")
            {
                group
            } else {
                String::new()
            };
            dedup = Some((scope, id));
        } else if e.message_deduplication_id.is_some() {
            return Err(SqsError::invalid_parameter(
                "Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.",
            ));
        }
        let msg = MessageRec {
            id: message_id(),
            md5_body: md5::of_body(&body),
            md5_attributes: md5::of_attributes(&attributes),
            md5_system_attributes: md5::of_attributes(&system_attributes),
            body,
            attributes,
            system_attributes,
            sender_id: queue::sender_of(req),
            sent_ms: now,
            visible_at: now.saturating_add(delay.saturating_mul(1000)),
            in_flight: false,
            receive_count: 0,
            first_receive_ms: None,
            receipt_nonce: None,
            group_id: e.message_group_id.clone(),
            dedup_id: dedup.as_ref().map(|(_, id)| id.clone()),
            dead_letter_source: None,
        };
        Ok(Prepared {
            rec: sealer.seal(msg),
            size,
            dedup,
        })
    }

    /// Store a prepared message (or find its duplicate) and answer the send's result fields.
    fn store_prepared(
        t: &mut Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        fifo: bool,
        prep: Prepared,
        now: u64,
        sealer: &Sealer,
    ) -> Result<(Map<String, Value>, bool), SqsError> {
        let mut out = Map::new();
        if let Some((scope, id)) = &prep.dedup {
            let dk = model::dedup_key(p, name, scope, id);
            if let Some(Rec::Dedup(d)) = t.get(&dk)
                && d.expires_at > now
            {
                out.insert("MessageId".into(), json!(d.message_id));
                out.insert("MD5OfMessageBody".into(), json!(d.md5_body));
                if let Some(m) = &d.md5_attributes {
                    out.insert("MD5OfMessageAttributes".into(), json!(m));
                }
                if let Some(m) = &d.md5_system_attributes {
                    out.insert("MD5OfMessageSystemAttributes".into(), json!(m));
                }
                out.insert("SequenceNumber".into(), json!(sequence_number(d.seq)));
                return Ok((out, false));
            }
        }
        let Some(m) = prep.rec.message() else {
            return Err(SqsError::internal("a prepared message is not a message"));
        };
        out.insert("MessageId".into(), json!(m.id));
        out.insert("MD5OfMessageBody".into(), json!(m.md5_body));
        if let Some(x) = &m.md5_attributes {
            out.insert("MD5OfMessageAttributes".into(), json!(x));
        }
        if let Some(x) = &m.md5_system_attributes {
            out.insert("MD5OfMessageSystemAttributes".into(), json!(x));
        }
        let dedup_rec = DedupRec {
            expires_at: now.saturating_add(queue::DEDUP_WINDOW_MS),
            message_id: m.id.clone(),
            seq: 0,
            md5_body: m.md5_body.clone(),
            md5_attributes: m.md5_attributes.clone(),
            md5_system_attributes: m.md5_system_attributes.clone(),
        };
        sealer.install(t);
        let seq = queue::enqueue(t, p, name, prep.rec).ok_or_else(SqsError::no_queue)?;
        if fifo {
            out.insert("SequenceNumber".into(), json!(sequence_number(seq)));
        }
        if let Some((scope, id)) = &prep.dedup {
            t.insert(
                model::dedup_key(p, name, scope, id),
                Rec::Dedup(DedupRec { seq, ..dedup_rec }),
            );
        }
        Ok((out, true))
    }

    pub(crate) async fn send_message(
        &self,
        req: &Req<'_>,
        input: SendInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let sealer = self.sealer(req, &p, &q).await?;
        let now = self.now();
        let prep = self.prepare(req, &q, &input.entry, now, &sealer)?;
        let size = prep.size;
        let fifo = is_fifo(&q);
        let (r, version) = self
            .store
            .write(|t| Self::store_prepared(t, &p, &q.name, fifo, prep, now, &sealer));
        let (out, stored) = r?;
        if stored {
            self.wake(&p, &q.name);
        }
        let mut sizes = StatSet::default();
        sizes.add(size as f64);
        self.metrics.sent(&p, &q.name, 1, sizes);
        Ok(Out::write(Value::Object(out), stored.then_some(version)))
    }

    pub(crate) async fn send_message_batch(
        &self,
        req: &Req<'_>,
        input: SendBatchInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        check_batch(input.entries.iter().map(|e| e.id.as_deref()))?;
        let sealer = self.sealer(req, &p, &q).await?;
        let now = self.now();
        let fifo = is_fifo(&q);
        let mut prepared = Vec::new();
        let mut failed = Vec::new();
        let mut total = 0;
        let mut sizes = StatSet::default();
        for e in &input.entries {
            let id = e.id.clone().unwrap_or_default();
            match self.prepare(req, &q, e, now, &sealer) {
                Ok(pr) => {
                    total += pr.size;
                    sizes.add(pr.size as f64);
                    prepared.push((id, pr));
                }
                Err(err) => failed.push(batch_error(&id, &err)),
            }
        }
        if total > MAX_BATCH_BYTES {
            return Err(SqsError::batch_too_long(total, MAX_BATCH_BYTES));
        }
        let (r, version) = self
            .store
            .write(|t| -> Result<(Vec<Value>, bool), SqsError> {
                let mut ok = Vec::new();
                let mut any = false;
                for (id, pr) in prepared {
                    let (mut out, stored) =
                        Self::store_prepared(t, &p, &q.name, fifo, pr, now, &sealer)?;
                    any |= stored;
                    out.insert("Id".into(), json!(id));
                    ok.push(Value::Object(out));
                }
                Ok((ok, any))
            });
        let (ok, any) = r?;
        if any {
            self.wake(&p, &q.name);
        }
        self.metrics.sent(&p, &q.name, ok.len() as u64, sizes);
        Ok(Out::write(
            json!({ "Successful": ok, "Failed": failed }),
            any.then_some(version),
        ))
    }
}

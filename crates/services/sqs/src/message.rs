//! Messages: send (with attributes, delays and FIFO deduplication), receive (with visibility
//! timeouts, FIFO group blocking, redrive to a dead-letter queue and long polling), delete and
//! change visibility, each also in batches.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::md5;
use super::model::{self, AttrValue, DedupRec, MessageRec, MsgState, QueueRec, Rec};
use super::queue::{self, attr_u64, content_dedup, is_fifo, retention_ms};
use super::{Out, Req, Sqs, SqsError};
use snapstack_engine::{Key, Partition, Txn};

const MAX_BATCH: usize = 10;
const MAX_ATTRIBUTES: usize = 10;
/// The largest total payload of a batch.
const MAX_BATCH_BYTES: usize = 1_048_576;
const MAX_WAIT_SECONDS: i64 = 20;
const MAX_VISIBILITY_SECONDS: i64 = 43_200;
/// A long poll looks again at least this often (e.g. after a load replaced the state).
const POLL_SLICE: Duration = Duration::from_secs(1);

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct AttrInput {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
    #[serde(default)]
    string_list_values: Vec<String>,
    #[serde(default)]
    binary_list_values: Vec<String>,
}

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
    #[serde(default, deserialize_with = "super::json::lenient_int")]
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

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_number_of_messages: Option<i64>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    visibility_timeout: Option<i64>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    wait_time_seconds: Option<i64>,
    receive_request_attempt_id: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteInput {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct HandleEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    visibility_timeout: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct HandleBatchInput {
    queue_url: Option<String>,
    #[serde(default)]
    entries: Vec<HandleEntry>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeInput {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    visibility_timeout: Option<i64>,
}

/// A receipt handle: which message, and the nonce of the receive that issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub queue: String,
    pub seq: u64,
    pub nonce: u64,
}

impl Receipt {
    pub fn encode(&self) -> String {
        B64.encode(format!(
            "sq1 {} {} {:016x}",
            self.queue, self.seq, self.nonce
        ))
    }

    pub fn decode(handle: &str) -> Option<Receipt> {
        if handle.len() > 1024 {
            return None;
        }
        let raw = B64.decode(handle).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let mut it = text.split(' ');
        let (Some("sq1"), Some(queue), Some(seq), Some(nonce), None) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return None;
        };
        if !queue::valid_name(queue) {
            return None;
        }
        Some(Receipt {
            queue: queue.to_string(),
            seq: seq.parse().ok()?,
            nonce: u64::from_str_radix(nonce, 16).ok()?,
        })
    }
}

/// Characters a message may hold: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
fn valid_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
    })
}

fn invalid_chars() -> SqsError {
    SqsError::invalid_contents(
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
    )
}

/// A message attribute name: up to 256 of `[A-Za-z0-9_.-]`, not starting with `AWS.`/`Amazon.`,
/// no leading, trailing or doubled period.
fn valid_attr_name(n: &str) -> bool {
    let lower = n.to_ascii_lowercase();
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !n.starts_with('.')
        && !n.ends_with('.')
        && !n.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// Check and convert message attributes (sorted by name). Returns them and their size in bytes.
fn convert_attributes(
    attrs: &BTreeMap<String, AttrInput>,
    system: bool,
) -> Result<(Vec<(String, AttrValue)>, usize), SqsError> {
    let kind = if system { "system" } else { "user" };
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(SqsError::invalid_parameter(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    let mut out = Vec::with_capacity(attrs.len());
    let mut size = 0;
    for (name, a) in attrs {
        if system && name != "AWSTraceHeader" {
            return Err(SqsError::invalid_parameter(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        if !system && !valid_attr_name(name) {
            return Err(SqsError::invalid_parameter(format!(
                "Message (user) attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )));
        }
        let Some(dt) = a.data_type.as_deref().filter(|d| !d.is_empty()) else {
            return Err(SqsError::invalid_parameter(format!(
                "The message ({kind}) attribute '{name}' must contain a non-empty attribute type."
            )));
        };
        if dt.len() > 256 || !valid_chars(dt) {
            return Err(SqsError::invalid_parameter(format!(
                "The message ({kind}) attribute '{name}' has an invalid attribute type."
            )));
        }
        if !a.string_list_values.is_empty() || !a.binary_list_values.is_empty() {
            return Err(SqsError::invalid_parameter(format!(
                "Message ({kind}) attribute '{name}': list values are not supported."
            )));
        }
        let base = dt.split('.').next().unwrap_or("");
        let v = match base {
            "String" | "Number" => {
                let s = a.string_value.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                    SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
                    ))
                })?;
                if !valid_chars(&s) {
                    return Err(invalid_chars());
                }
                if base == "Number" && s.trim().parse::<f64>().is_err() {
                    return Err(SqsError::invalid_parameter(format!(
                        "Can't cast the value of message ({kind}) attribute '{name}' to a number."
                    )));
                }
                if system && dt != "String" {
                    return Err(SqsError::invalid_parameter(
                        "The message system attribute AWSTraceHeader must be of type String.",
                    ));
                }
                size += s.len();
                AttrValue {
                    data_type: dt.to_string(),
                    string: Some(s),
                    binary: None,
                }
            }
            "Binary" => {
                let raw = a.binary_value.as_deref().unwrap_or("");
                let b = B64.decode(raw).map_err(|_| {
                    SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' has an invalid binary value."
                    ))
                })?;
                if b.is_empty() {
                    return Err(SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type 'Binary'."
                    )));
                }
                size += b.len();
                AttrValue {
                    data_type: dt.to_string(),
                    string: None,
                    binary: Some(b),
                }
            }
            _ => {
                return Err(SqsError::invalid_parameter(format!(
                    "The type of message ({kind}) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )));
            }
        };
        size += name.len() + dt.len();
        out.push((name.clone(), v));
    }
    Ok((out, size))
}

fn attr_json(v: &AttrValue) -> Value {
    let mut m = Map::new();
    if let Some(s) = &v.string {
        m.insert("StringValue".into(), json!(s));
    }
    if let Some(b) = &v.binary {
        m.insert("BinaryValue".into(), json!(B64.encode(b)));
    }
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

/// A message ready to be stored, and what a send answers.
struct Prepared {
    msg: MessageRec,
    size: usize,
    dedup: Option<(String, String)>,
}

/// A message id shaped like a UUID.
fn message_id() -> String {
    snapstack_protocol::request::new_request_id()
}

fn sequence_number(seq: u64) -> String {
    format!("{:020}", seq.saturating_add(1))
}

fn check_dedup_or_group(v: &str, what: &str) -> Result<(), SqsError> {
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SqsError::invalid_parameter(format!(
            "Value {v} for parameter {what} is invalid. Reason: {what} can only include alphanumeric and punctuation characters. 1 to 128 in length."
        )));
    }
    Ok(())
}

impl Sqs {
    /// Check one send against its queue and build the message to store.
    fn prepare(
        &self,
        req: &Req<'_>,
        q: &QueueRec,
        e: &SendEntry,
        now: u64,
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
        Ok(Prepared { msg, size, dedup })
    }

    /// Store a prepared message (or find its duplicate) and answer the send's result fields.
    fn store_prepared(
        t: &mut Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        fifo: bool,
        prep: Prepared,
        now: u64,
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
        let m = &prep.msg;
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
        let seq = queue::enqueue(t, p, name, prep.msg).ok_or_else(SqsError::no_queue)?;
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

    pub(super) fn send_message(&self, req: &Req<'_>, input: SendInput) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let now = self.now();
        let prep = self.prepare(req, &q, &input.entry, now)?;
        let fifo = is_fifo(&q);
        let (r, version) = self
            .store
            .write(|t| Self::store_prepared(t, &p, &q.name, fifo, prep, now));
        let (out, stored) = r?;
        if stored {
            self.wake(&p, &q.name);
        }
        Ok(Out::write(Value::Object(out), stored.then_some(version)))
    }

    pub(super) fn send_message_batch(
        &self,
        req: &Req<'_>,
        input: SendBatchInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        check_batch(input.entries.iter().map(|e| e.id.as_deref()))?;
        let now = self.now();
        let fifo = is_fifo(&q);
        let mut prepared = Vec::new();
        let mut failed = Vec::new();
        let mut total = 0;
        for e in &input.entries {
            let id = e.id.clone().unwrap_or_default();
            match self.prepare(req, &q, e, now) {
                Ok(pr) => {
                    total += pr.size;
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
                    let (mut out, stored) = Self::store_prepared(t, &p, &q.name, fifo, pr, now)?;
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
        Ok(Out::write(
            json!({ "Successful": ok, "Failed": failed }),
            any.then_some(version),
        ))
    }

    pub(super) async fn receive_message(
        &self,
        req: &Req<'_>,
        input: ReceiveInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let max = match input.max_number_of_messages {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(n) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {n} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
                )));
            }
        };
        let visibility = match input.visibility_timeout {
            None => None,
            Some(v @ 0..=MAX_VISIBILITY_SECONDS) => Some(v as u64),
            Some(v) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= {MAX_VISIBILITY_SECONDS}, if provided."
                )));
            }
        };
        let wait = match input.wait_time_seconds {
            None => attr_u64(&q, "ReceiveMessageWaitTimeSeconds"),
            Some(w @ 0..=MAX_WAIT_SECONDS) => w as u64,
            Some(w) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= {MAX_WAIT_SECONDS}, if provided."
                )));
            }
        };
        if let Some(a) = &input.receive_request_attempt_id {
            check_dedup_or_group(a, "ReceiveRequestAttemptId")?;
        }
        let attempt = input.receive_request_attempt_id.as_deref();
        let mut system_names: Vec<String> = input.attribute_names.clone();
        system_names.extend(input.message_system_attribute_names.iter().cloned());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let mut version = None;
        loop {
            let notify = self.notifier(&p, &q.name);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stopped = self.stop.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            let (msgs, v, next_due) = self.receive_once(&p, &q.name, max, visibility, attempt)?;
            version = v.or(version);
            let now_instant = tokio::time::Instant::now();
            if !msgs.is_empty() || now_instant >= deadline || self.is_stopping() {
                let out: Vec<Value> = msgs
                    .iter()
                    .map(|(m, receipt)| {
                        message_json(m, receipt, &system_names, &input.message_attribute_names)
                    })
                    .collect();
                let body = if out.is_empty() {
                    json!({})
                } else {
                    json!({ "Messages": out })
                };
                return Ok(Out::write(body, version));
            }
            let mut until = deadline.min(now_instant + POLL_SLICE);
            if let Some(due) = next_due {
                let ms = due.saturating_sub(self.now());
                until = until.min(now_instant + Duration::from_millis(ms));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = &mut stopped => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// One receive attempt: take up to `max` visible messages, make them invisible, and move the
    /// ones past the redrive policy's receive count to the dead-letter queue. Also answers when
    /// the next invisible message is due.
    #[allow(clippy::type_complexity)]
    pub(super) fn receive_once(
        &self,
        p: &Partition,
        name: &str,
        max: usize,
        visibility: Option<u64>,
        attempt: Option<&str>,
    ) -> Result<(Vec<(MessageRec, Receipt)>, Option<u64>, Option<u64>), SqsError> {
        let now = self.now();
        let qkey = model::queue_key(p, name);
        let mut woken = Vec::new();
        let (r, version) = self.store.write(|t| -> Result<_, SqsError> {
            let Some(Rec::Queue(q)) = t.get(&qkey) else {
                return Err(SqsError::no_queue());
            };
            let q = q.clone();
            let fifo = is_fifo(&q);
            let retention = retention_ms(&q);
            let vis_ms = visibility
                .unwrap_or_else(|| attr_u64(&q, "VisibilityTimeout"))
                .saturating_mul(1000);
            let redrive = queue::redrive_of(&q);
            let attempt_key = attempt
                .filter(|_| fifo)
                .map(|a| model::attempt_key(p, name, a));
            if let Some(ak) = &attempt_key
                && let Some(out) = Self::retry_attempt(t, p, name, ak, now, vis_ms)
            {
                return Ok((out, None, true));
            }
            let mut expired: Vec<Key> = Vec::new();
            let mut chosen: Vec<(Key, MessageRec)> = Vec::new();
            // A FIFO group with a message in flight is blocked, wherever that message is (a
            // message returned to the queue may sit before one still in flight).
            let mut blocked: HashSet<String> = HashSet::new();
            if fifo {
                for (_, rec) in t.scan_prefix(&model::messages_prefix(p, name)) {
                    if let Rec::Message(m) = rec
                        && m.state(now) == MsgState::InFlight
                        && let Some(g) = &m.group_id
                    {
                        blocked.insert(g.clone());
                    }
                }
            }
            let mut next_due: Option<u64> = None;
            for (k, rec) in t.scan_prefix(&model::messages_prefix(p, name)) {
                let Rec::Message(m) = rec else { continue };
                if m.sent_ms.saturating_add(retention) <= now {
                    expired.push(k.clone());
                    continue;
                }
                match m.state(now) {
                    MsgState::Visible => {
                        if chosen.len() >= max {
                            break;
                        }
                        if fifo
                            && let Some(g) = &m.group_id
                            && blocked.contains(g)
                        {
                            continue;
                        }
                        chosen.push((k.clone(), m.clone()));
                    }
                    MsgState::InFlight | MsgState::Delayed => {
                        next_due = Some(next_due.map_or(m.visible_at, |d| d.min(m.visible_at)));
                        if fifo && let Some(g) = &m.group_id {
                            blocked.insert(g.clone());
                        }
                    }
                }
            }
            let mut changed = !expired.is_empty();
            for k in &expired {
                t.remove(k);
            }
            let mut out = Vec::new();
            for (k, mut m) in chosen {
                if let Some(r) = &redrive
                    && m.receive_count >= r.max_receives
                {
                    let (tp, tn) = &r.target;
                    let mut moved = m.clone();
                    moved.dead_letter_source = Some(queue::arn(p, name));
                    moved.in_flight = false;
                    moved.visible_at = now;
                    moved.receipt_nonce = None;
                    if queue::enqueue(t, tp, tn, moved).is_some() {
                        t.remove(&k);
                        changed = true;
                        woken.push((tp.clone(), tn.clone()));
                        continue;
                    }
                }
                let nonce = self.next_nonce();
                m.receive_count = m.receive_count.saturating_add(1);
                m.first_receive_ms.get_or_insert(now);
                m.visible_at = now.saturating_add(vis_ms);
                m.in_flight = true;
                m.receipt_nonce = Some(nonce);
                let seq = match k.parts().as_deref() {
                    Some([.., snapstack_engine::Part::U64(seq)]) => *seq,
                    _ => continue,
                };
                t.insert(k, Rec::Message(m.clone()));
                changed = true;
                out.push((
                    m,
                    Receipt {
                        queue: name.to_string(),
                        seq,
                        nonce,
                    },
                ));
            }
            if let Some(ak) = attempt_key
                && !out.is_empty()
            {
                let entries = out
                    .iter()
                    .map(|(m, r): &(MessageRec, Receipt)| (r.seq, r.nonce, m.visible_at))
                    .collect();
                t.insert(
                    ak,
                    Rec::Attempt(model::AttemptRec {
                        expires_at: now.saturating_add(queue::DEDUP_WINDOW_MS),
                        entries,
                    }),
                );
            }
            Ok((out, next_due, changed))
        });
        let (msgs, next_due, changed) = r?;
        for (tp, tn) in woken {
            self.wake(&tp, &tn);
        }
        Ok((msgs, changed.then_some(version), next_due))
    }

    /// A retried FIFO receive attempt: the same messages and handles, their visibility timeout
    /// restarted, if the attempt is within its window and none of its messages changed since.
    fn retry_attempt(
        t: &mut Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        ak: &Key,
        now: u64,
        vis_ms: u64,
    ) -> Option<Vec<(MessageRec, Receipt)>> {
        let Some(Rec::Attempt(a)) = t.get(ak) else {
            return None;
        };
        let a = a.clone();
        if a.expires_at <= now {
            return None;
        }
        let mut same = Vec::with_capacity(a.entries.len());
        for &(seq, nonce, visible_at) in &a.entries {
            match t.get(&model::message_key(p, name, seq)) {
                Some(Rec::Message(m))
                    if m.receipt_nonce == Some(nonce) && m.visible_at == visible_at =>
                {
                    same.push((seq, nonce, m.clone()));
                }
                _ => return None,
            }
        }
        let mut out = Vec::with_capacity(same.len());
        let mut entries = Vec::with_capacity(same.len());
        for (seq, nonce, mut m) in same {
            m.visible_at = now.saturating_add(vis_ms);
            m.in_flight = true;
            entries.push((seq, nonce, m.visible_at));
            t.insert(model::message_key(p, name, seq), Rec::Message(m.clone()));
            out.push((
                m,
                Receipt {
                    queue: name.to_string(),
                    seq,
                    nonce,
                },
            ));
        }
        t.insert(
            ak.clone(),
            Rec::Attempt(model::AttemptRec {
                expires_at: a.expires_at,
                entries,
            }),
        );
        Some(out)
    }

    /// The message a receipt handle names, if the handle is the message's current one.
    fn resolve_receipt(
        t: &Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        handle: &str,
    ) -> Result<Option<(Key, MessageRec)>, SqsError> {
        let r = Receipt::decode(handle).ok_or_else(|| SqsError::receipt_invalid(handle))?;
        if r.queue != name {
            return Err(SqsError::receipt_invalid(handle));
        }
        let k = model::message_key(p, name, r.seq);
        match t.get(&k) {
            Some(Rec::Message(m)) if m.receipt_nonce == Some(r.nonce) => Ok(Some((k, m.clone()))),
            _ => Ok(None),
        }
    }

    pub(super) fn delete_message(
        &self,
        req: &Req<'_>,
        input: DeleteInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let handle = input
            .receipt_handle
            .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
        let (r, version) = self.store.write(|t| -> Result<bool, SqsError> {
            // A handle that is not the message's latest (or whose message is gone) deletes
            // nothing and still succeeds, as in AWS.
            match Self::resolve_receipt(t, &p, &q.name, &handle)? {
                Some((k, _)) => {
                    t.remove(&k);
                    Ok(true)
                }
                None => Ok(false),
            }
        });
        let deleted = r?;
        Ok(Out::write(json!({}), deleted.then_some(version)))
    }

    pub(super) fn delete_message_batch(
        &self,
        req: &Req<'_>,
        input: HandleBatchInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        check_batch(input.entries.iter().map(|e| e.id.as_deref()))?;
        let (r, version) = self.store.write(|t| {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            let mut any = false;
            for e in &input.entries {
                let id = e.id.clone().unwrap_or_default();
                let Some(handle) = &e.receipt_handle else {
                    failed.push(batch_error(&id, &SqsError::missing("ReceiptHandle")));
                    continue;
                };
                match Self::resolve_receipt(t, &p, &q.name, handle) {
                    Ok(found) => {
                        if let Some((k, _)) = found {
                            t.remove(&k);
                            any = true;
                        }
                        ok.push(json!({ "Id": id }));
                    }
                    Err(err) => failed.push(batch_error(&id, &err)),
                }
            }
            (ok, failed, any)
        });
        let (ok, failed, any) = r;
        Ok(Out::write(
            json!({ "Successful": ok, "Failed": failed }),
            any.then_some(version),
        ))
    }

    /// Set a message's visibility timeout from now, by its receipt handle.
    fn change_one(
        t: &mut Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        handle: &str,
        timeout: Option<i64>,
        now: u64,
    ) -> Result<bool, SqsError> {
        let timeout = match timeout {
            None => return Err(SqsError::missing("VisibilityTimeout")),
            Some(v @ 0..=MAX_VISIBILITY_SECONDS) => v as u64,
            Some(v) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= {MAX_VISIBILITY_SECONDS}."
                )));
            }
        };
        let Some((k, mut m)) = Self::resolve_receipt(t, p, name, handle)? else {
            return Err(SqsError::invalid_parameter(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        };
        if m.state(now) != MsgState::InFlight {
            return Err(SqsError::not_in_flight());
        }
        m.visible_at = now.saturating_add(timeout.saturating_mul(1000));
        t.insert(k, Rec::Message(m));
        Ok(timeout == 0)
    }

    pub(super) fn change_visibility(
        &self,
        req: &Req<'_>,
        input: ChangeInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let handle = input
            .receipt_handle
            .ok_or_else(|| SqsError::missing("ReceiptHandle"))?;
        let now = self.now();
        let (r, version) = self
            .store
            .write(|t| Self::change_one(t, &p, &q.name, &handle, input.visibility_timeout, now));
        if r? {
            self.wake(&p, &q.name);
        }
        Ok(Out::write(json!({}), Some(version)))
    }

    pub(super) fn change_visibility_batch(
        &self,
        req: &Req<'_>,
        input: HandleBatchInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        check_batch(input.entries.iter().map(|e| e.id.as_deref()))?;
        let now = self.now();
        let (r, version) = self.store.write(|t| {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            let mut wake = false;
            for e in &input.entries {
                let id = e.id.clone().unwrap_or_default();
                let Some(handle) = &e.receipt_handle else {
                    failed.push(batch_error(&id, &SqsError::missing("ReceiptHandle")));
                    continue;
                };
                match Self::change_one(t, &p, &q.name, handle, e.visibility_timeout, now) {
                    Ok(w) => {
                        wake |= w;
                        ok.push(json!({ "Id": id }));
                    }
                    Err(err) => failed.push(batch_error(&id, &err)),
                }
            }
            (ok, failed, wake)
        });
        let (ok, failed, wake) = r;
        if wake {
            self.wake(&p, &q.name);
        }
        let changed = !ok.is_empty();
        Ok(Out::write(
            json!({ "Successful": ok, "Failed": failed }),
            changed.then_some(version),
        ))
    }
}

/// Batch-wide checks: 1 to 10 entries with distinct, well-formed ids.
fn check_batch<'a>(ids: impl ExactSizeIterator<Item = Option<&'a str>>) -> Result<(), SqsError> {
    let n = ids.len();
    if n == 0 {
        return Err(SqsError::empty_batch());
    }
    if n > MAX_BATCH {
        return Err(SqsError::too_many_entries(n));
    }
    let mut seen = HashSet::new();
    for id in ids {
        let id = id.unwrap_or("");
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SqsError::invalid_batch_id(id));
        }
        if !seen.insert(id) {
            return Err(SqsError::ids_not_distinct(id));
        }
    }
    Ok(())
}

fn batch_error(id: &str, e: &SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": e.sender_fault(),
        "Code": e.code,
        "Message": e.message,
    })
}

/// Whether a received message's attribute `name` was asked for.
fn wants_attribute(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == "All"
            || n == ".*"
            || n == name
            || n.strip_suffix(".*").is_some_and(|prefix| {
                name.starts_with(prefix) && name[prefix.len()..].starts_with('.')
            })
    })
}

/// A received message in the JSON shape, with the system and message attributes asked for.
fn message_json(
    m: &MessageRec,
    receipt: &Receipt,
    system_names: &[String],
    attr_names: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(m.id));
    out.insert("ReceiptHandle".into(), json!(receipt.encode()));
    out.insert("MD5OfBody".into(), json!(m.md5_body));
    out.insert("Body".into(), json!(m.body));
    let all = system_names.iter().any(|n| n == "All");
    let want = |n: &str| all || system_names.iter().any(|x| x == n);
    let mut sys = Map::new();
    if want("SenderId") {
        sys.insert("SenderId".into(), json!(m.sender_id));
    }
    if want("SentTimestamp") {
        sys.insert("SentTimestamp".into(), json!(m.sent_ms.to_string()));
    }
    if want("ApproximateReceiveCount") {
        sys.insert(
            "ApproximateReceiveCount".into(),
            json!(m.receive_count.to_string()),
        );
    }
    if want("ApproximateFirstReceiveTimestamp")
        && let Some(f) = m.first_receive_ms
    {
        sys.insert(
            "ApproximateFirstReceiveTimestamp".into(),
            json!(f.to_string()),
        );
    }
    if want("SequenceNumber") && m.group_id.is_some() && m.dedup_id.is_some() {
        sys.insert("SequenceNumber".into(), json!(sequence_number(receipt.seq)));
    }
    if want("MessageDeduplicationId")
        && let Some(d) = &m.dedup_id
    {
        sys.insert("MessageDeduplicationId".into(), json!(d));
    }
    if want("MessageGroupId")
        && let Some(g) = &m.group_id
    {
        sys.insert("MessageGroupId".into(), json!(g));
    }
    if want("AWSTraceHeader")
        && let Some((_, v)) = m
            .system_attributes
            .iter()
            .find(|(n, _)| n == "AWSTraceHeader")
    {
        sys.insert("AWSTraceHeader".into(), json!(v.string));
    }
    if want("DeadLetterQueueSourceArn")
        && let Some(s) = &m.dead_letter_source
    {
        sys.insert("DeadLetterQueueSourceArn".into(), json!(s));
    }
    if !sys.is_empty() {
        out.insert("Attributes".into(), Value::Object(sys));
    }
    let selected: Vec<(String, AttrValue)> = m
        .attributes
        .iter()
        .filter(|(n, _)| wants_attribute(attr_names, n))
        .cloned()
        .collect();
    if !selected.is_empty() {
        if let Some(d) = md5::of_attributes(&selected) {
            out.insert("MD5OfMessageAttributes".into(), json!(d));
        }
        let attrs: Map<String, Value> = selected
            .iter()
            .map(|(n, v)| (n.clone(), attr_json(v)))
            .collect();
        out.insert("MessageAttributes".into(), Value::Object(attrs));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn receipts_roundtrip(name in "[A-Za-z0-9_-]{1,75}", fifo: bool, seq: u64, nonce: u64) {
            let queue = if fifo { format!("{name}.fifo") } else { name };
            let r = Receipt { queue, seq, nonce };
            prop_assert_eq!(Receipt::decode(&r.encode()), Some(r));
        }

        #[test]
        fn receipt_decoding_never_panics(s in ".{0,200}") {
            let _ = Receipt::decode(&s);
            let _ = Receipt::decode(&B64.encode(&s));
        }
    }

    #[test]
    fn receipts_roundtrip_and_garbage_is_rejected() {
        let r = Receipt {
            queue: "q.fifo".into(),
            seq: 42,
            nonce: 0xdead_beef,
        };
        assert_eq!(Receipt::decode(&r.encode()), Some(r));
        assert_eq!(Receipt::decode("not base64!"), None);
        assert_eq!(Receipt::decode(&B64.encode("sq1 a b c")), None);
        assert_eq!(Receipt::decode(&B64.encode("sq1 bad/name 1 2")), None);
    }

    #[test]
    fn batch_checks() {
        assert_eq!(
            check_batch(Vec::<Option<&str>>::new().into_iter())
                .unwrap_err()
                .shape,
            "EmptyBatchRequest"
        );
        let many: Vec<Option<&str>> = (0..11).map(|_| Some("a")).collect();
        assert_eq!(
            check_batch(many.into_iter()).unwrap_err().shape,
            "TooManyEntriesInBatchRequest"
        );
        assert_eq!(
            check_batch(vec![Some("a"), Some("a")].into_iter())
                .unwrap_err()
                .shape,
            "BatchEntryIdsNotDistinct"
        );
        assert_eq!(
            check_batch(vec![Some("a b")].into_iter())
                .unwrap_err()
                .shape,
            "InvalidBatchEntryId"
        );
        assert!(check_batch(vec![Some("a"), Some("b-1_")].into_iter()).is_ok());
    }

    #[test]
    fn attribute_name_filters() {
        let names = vec!["foo.*".to_string(), "exact".to_string()];
        assert!(wants_attribute(&names, "foo.bar"));
        assert!(!wants_attribute(&names, "foobar"));
        assert!(wants_attribute(&names, "exact"));
        assert!(!wants_attribute(&names, "other"));
        assert!(wants_attribute(&["All".to_string()], "x"));
    }

    #[test]
    fn message_characters() {
        assert!(valid_chars("hello\t\n\r é 😀"));
        assert!(!valid_chars("a\u{1}b"));
        assert!(!valid_chars("\u{fffe}"));
    }
}

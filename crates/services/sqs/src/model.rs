//! The records SQS keeps in its store, and their keys.
//!
//! Every timer is an absolute deadline in epoch milliseconds inside a record (a message's
//! `visible_at` and `sent_at`, a deduplication entry's `expires_at`): nothing has to run on a timer
//! for the state to be right, and a snapshot holds the timers as they are. Keys, under the
//! account/region partition:
//! - `"q", name`: a queue;
//! - `"m", name, seq`: a message, so a queue's messages are in send order;
//! - `"d", name, scope, dedup id`: a FIFO deduplication entry;
//! - `"a", name, attempt id`: a FIFO receive attempt;
//! - `"t", name, handle`: a running (or failed) message move task from this queue;
//! - `"k"`: the SSE-SQS key of the account and region ([`SqsKeyRec`]);
//! - `"g", id`: a KMS data key that sealed message bodies ([`DataKeyRec`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use snapstack_engine::key::Part;
use snapstack_engine::{Key, Partition, Record};

/// One record of the SQS store. These types are the SQS part of the snapshot format (postcard
/// is not self-describing): a new variant goes at the end, and a changed shape must keep
/// decoding the old one (see "Record types" in `docs/FORMAT.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Rec {
    Queue(QueueRec),
    Message(MessageRec),
    Dedup(DedupRec),
    Attempt(AttemptRec),
    /// A message move task that is running or failed (its schedule and failure reason); its
    /// progress is its [`MoveTask`] in the source queue's record.
    MoveRun(MoveRunRec),
    /// A message whose body is sealed at rest (a queue with SSE-SQS or SSE-KMS): its metadata
    /// as a [`MessageRec`] with an empty `body`, and the sealed body.
    SealedMessage(SealedMessageRec),
    /// The SSE-SQS key of an account and region (key `"k"`), made on first use.
    SqsKey(SqsKeyRec),
    /// A KMS data key (key `"g", id`): its blob, never its plaintext.
    DataKey(DataKeyRec),
}

impl Rec {
    /// The message of a message record, sealed or not (a sealed one's `body` is empty).
    pub fn message(&self) -> Option<&MessageRec> {
        match self {
            Rec::Message(m) => Some(m),
            Rec::SealedMessage(s) => Some(&s.message),
            _ => None,
        }
    }

    /// The message of a message record, to change its metadata (the sealed body stays).
    pub fn message_mut(&mut self) -> Option<&mut MessageRec> {
        match self {
            Rec::Message(m) => Some(m),
            Rec::SealedMessage(s) => Some(&mut s.message),
            _ => None,
        }
    }

    /// The sealed body of a message record (`None`: stored as sent, or not a message).
    pub fn sealed_body(&self) -> Option<&SealedBody> {
        match self {
            Rec::SealedMessage(s) => Some(&s.body),
            _ => None,
        }
    }
}

/// A message with its body sealed: `message.body` is empty, `body` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealedMessageRec {
    pub message: MessageRec,
    pub body: SealedBody,
}

/// A message body sealed with AES-256-GCM under the key `key` names, with `nonce`; the
/// associated data is [`body_aad`] of the message id. `sealed` is the ciphertext and its tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealedBody {
    pub key: BodyKey,
    pub nonce: [u8; 12],
    pub sealed: Vec<u8>,
}

/// Which key sealed a body. The account and region are the key record's partition, which a
/// message moved to another queue (a dead-letter queue, a move task's destination) keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BodyKey {
    /// SSE-SQS: the [`SqsKeyRec`] of the account and region.
    Sqs { account: String, region: String },
    /// SSE-KMS: the [`DataKeyRec`] `id` of the account and region.
    Kms {
        account: String,
        region: String,
        id: u64,
    },
}

/// The associated data a body is sealed with: bound to its message, so a sealed body copied
/// into another message's record does not open.
pub fn body_aad(message_id: &str) -> Vec<u8> {
    format!("snapstack sqs body {message_id}").into_bytes()
}

/// The SSE-SQS key of an account and region: 32 bytes from the OS generator. It lives in the
/// state, as S3's SSE-S3 master key does: SSE-SQS protects what leaves through a message
/// record, not against a reader of the whole state directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqsKeyRec {
    pub key: [u8; 32],
    pub created_ms: u64,
}

/// A data key KMS generated for a queue (`GenerateDataKey` under `KmsMasterKeyId`, encryption
/// context `aws:sqs:arn` = `queue_arn`): the blob KMS `Decrypt` opens, never the plaintext.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataKeyRec {
    /// The ARN of the KMS key that encrypted it.
    pub key_arn: String,
    pub blob: Vec<u8>,
    pub queue_arn: String,
    pub created_ms: u64,
}

impl Record for Rec {}

/// A queue: its settable attributes (names as AWS spells them, values as strings), tags, and
/// counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRec {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// The sequence number the next message gets.
    pub next_seq: u64,
    /// When the last purge started (PurgeQueue may run once every 60 seconds).
    pub last_purge_ms: Option<u64>,
    /// Message move tasks started from this queue (the latest few).
    pub move_tasks: Vec<MoveTask>,
}

/// A message move task (StartMessageMoveTask) as ListMessageMoveTasks reports it: `status` is
/// `RUNNING` while a [`MoveRunRec`] schedules it, then `COMPLETED`, `CANCELLED` or `FAILED`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveTask {
    pub handle: String,
    pub status: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<i64>,
    pub moved: u64,
    pub to_move: u64,
    pub started_ms: u64,
}

/// The schedule of a running message move task (key `"t", source queue, handle`): the next
/// messages are due at `next_at` (an absolute deadline, so a restart resumes the task where it
/// was, at its rate). A failed task keeps this record, with `next_at` `u64::MAX`, for its
/// `failure_reason`, as long as the queue lists the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveRunRec {
    pub handle: String,
    pub next_at: u64,
    pub failure_reason: Option<String>,
}

/// A message attribute as sent: a data type and a string or binary value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrValue {
    pub data_type: String,
    pub string: Option<String>,
    pub binary: Option<Vec<u8>>,
}

/// A message. Whether it is delayed, in flight or visible follows from `visible_at` and
/// `in_flight` at the time of each request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRec {
    pub id: String,
    pub body: String,
    /// Message attributes, sorted by name.
    pub attributes: Vec<(String, AttrValue)>,
    /// Message system attributes (`AWSTraceHeader`), sorted by name.
    pub system_attributes: Vec<(String, AttrValue)>,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub md5_system_attributes: Option<String>,
    pub sender_id: String,
    /// When the message was first sent (retention counts from here, also in a dead-letter queue).
    pub sent_ms: u64,
    /// Invisible until this deadline (a delay or a visibility timeout).
    pub visible_at: u64,
    /// Whether `visible_at` was set by a receive (in flight) rather than a delay.
    pub in_flight: bool,
    pub receive_count: u32,
    pub first_receive_ms: Option<u64>,
    /// The nonce of the current receipt handle: only a handle with it acts on the message.
    pub receipt_nonce: Option<u64>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// The ARN of the queue this message was moved from by a redrive policy.
    pub dead_letter_source: Option<String>,
}

/// What state a message is in at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgState {
    Visible,
    InFlight,
    Delayed,
}

impl MessageRec {
    /// A visible message sent at time 0 with nothing but an id and a body (tests).
    #[cfg(test)]
    pub fn sample(id: &str, body: &str) -> MessageRec {
        MessageRec {
            id: id.into(),
            body: body.into(),
            attributes: vec![],
            system_attributes: vec![],
            md5_body: String::new(),
            md5_attributes: None,
            md5_system_attributes: None,
            sender_id: String::new(),
            sent_ms: 0,
            visible_at: 0,
            in_flight: false,
            receive_count: 0,
            first_receive_ms: None,
            receipt_nonce: None,
            group_id: None,
            dedup_id: None,
            dead_letter_source: None,
        }
    }

    pub fn state(&self, now: u64) -> MsgState {
        if self.visible_at <= now {
            MsgState::Visible
        } else if self.in_flight {
            MsgState::InFlight
        } else {
            MsgState::Delayed
        }
    }
}

/// A FIFO deduplication entry: a send with the same id within the window is not enqueued again
/// and answers with the first send's message id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupRec {
    pub expires_at: u64,
    pub message_id: String,
    pub seq: u64,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub md5_system_attributes: Option<String>,
}

/// The partition of a key this service wrote (its first two parts).
pub fn partition_of(k: &Key) -> Option<Partition> {
    let parts = k.parts()?;
    match parts.as_slice() {
        [Part::Str(account), Part::Str(region), ..] => {
            Some(Partition::new(account.clone(), region.clone()))
        }
        _ => None,
    }
}

/// A FIFO receive attempt (`ReceiveRequestAttemptId`): the messages it returned, so a retry
/// within the window gets the same messages and handles while none of them changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRec {
    pub expires_at: u64,
    /// (sequence number, receipt nonce, visibility deadline) of each message returned.
    pub entries: Vec<(u64, u64, u64)>,
}

pub fn attempt_key(p: &Partition, queue: &str, id: &str) -> Key {
    p.key().str("a").str(queue).str(id).build()
}

pub fn attempts_prefix(p: &Partition, queue: &str) -> Key {
    p.key().str("a").str(queue).build()
}

pub fn move_run_key(p: &Partition, queue: &str, handle: &str) -> Key {
    p.key().str("t").str(queue).str(handle).build()
}

pub fn move_runs_prefix(p: &Partition, queue: &str) -> Key {
    p.key().str("t").str(queue).build()
}

pub fn sqs_key_key(p: &Partition) -> Key {
    p.key().str("k").build()
}

pub fn data_key_key(p: &Partition, id: u64) -> Key {
    p.key().str("g").u64(id).build()
}

pub fn data_keys_prefix(p: &Partition) -> Key {
    p.key().str("g").build()
}

pub fn queue_key(p: &Partition, name: &str) -> Key {
    p.key().str("q").str(name).build()
}

pub fn queues_prefix(p: &Partition) -> Key {
    p.key().str("q").build()
}

pub fn message_key(p: &Partition, queue: &str, seq: u64) -> Key {
    p.key().str("m").str(queue).u64(seq).build()
}

pub fn messages_prefix(p: &Partition, queue: &str) -> Key {
    p.key().str("m").str(queue).build()
}

pub fn dedup_key(p: &Partition, queue: &str, scope: &str, id: &str) -> Key {
    p.key().str("d").str(queue).str(scope).str(id).build()
}

pub fn dedups_prefix(p: &Partition, queue: &str) -> Key {
    p.key().str("d").str(queue).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_sort_by_sequence_and_stay_in_their_queue() {
        let p = Partition::new("000000000000", "us-east-1");
        let a1 = message_key(&p, "a", 1);
        let a2 = message_key(&p, "a", 256);
        let ab = message_key(&p, "ab", 0);
        assert!(a1 < a2);
        assert!(a2.starts_with(&messages_prefix(&p, "a")));
        assert!(!ab.starts_with(&messages_prefix(&p, "a")));
    }

    #[test]
    fn state_follows_deadlines() {
        let mut m = MessageRec {
            visible_at: 100,
            ..MessageRec::sample("x", "b")
        };
        assert_eq!(m.state(99), MsgState::Delayed);
        assert_eq!(m.state(100), MsgState::Visible);
        m.in_flight = true;
        assert_eq!(m.state(50), MsgState::InFlight);
    }
}

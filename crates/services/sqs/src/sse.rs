//! Server-side encryption of message bodies at rest (what AWS's SSE covers: the body only, not
//! message attributes or metadata, not queue attributes).
//!
//! - SSE-SQS (`SqsManagedSseEnabled`, AWS's default for a new queue): bodies are sealed under
//!   the SQS key of the account and region, a [`SqsKeyRec`] made from the OS generator on first
//!   use. No KMS call, ever.
//! - SSE-KMS (`KmsMasterKeyId`: a key id, ARN or alias, `alias/aws/sqs` included, which KMS
//!   makes as an AWS managed key on first use): a data key from KMS `GenerateDataKey` (encryption
//!   context `aws:sqs:arn` = the queue's ARN) seals bodies for `KmsDataKeyReusePeriodSeconds`
//!   (default 300), then a new one is generated. Its blob is a [`DataKeyRec`], written with the
//!   first message it seals; its plaintext stays in memory. A receive opens a blob through KMS
//!   `Decrypt` and keeps the plaintext for the reuse period, so after a restart (an empty
//!   memory) the first receive asks KMS, and a disabled key, one pending deletion or a missing
//!   one stops it with the model's `Kms*` error. A send within the reuse period of a data key it
//!   holds asks KMS nothing, as in AWS.
//!
//! Sealing is AES-256-GCM ([`snapstack_service::envelope`]) with the message id as associated
//! data ([`model::body_aad`]). The MD5 of the body stays the plaintext's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use snapstack_engine::{Key, Partition, Snapshot};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::envelope;
use snapstack_service::kms::{self, Fault};

use crate::model::{
    self, BodyKey, DataKeyRec, MessageRec, QueueRec, Rec, SealedBody, SealedMessageRec, SqsKeyRec,
};
use crate::queue;
use crate::{Req, Sqs, SqsError};

/// The reuse period of a data key when the queue sets none (AWS's default), and its bounds.
pub const DEFAULT_REUSE_SECONDS: u64 = 300;
pub const MAX_REUSE_SECONDS: u64 = 86_400;
/// Plaintext data keys kept in memory; past this the expired ones go, then all.
const MAX_CACHED_KEYS: usize = 4096;
/// The distinct KMS data keys one receive opens (a backlog sealed under many keys is received
/// in turns; the messages of the keys not opened yet stay where they are).
pub const MAX_KEYS_PER_RECEIVE: usize = 16;

/// How a queue's new bodies are sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sse {
    Off,
    Sqs,
    Kms { key_id: String, reuse_ms: u64 },
}

/// The SSE a queue's attributes ask for: SSE-KMS with a key, else SSE-SQS unless switched off.
pub fn of(q: &QueueRec) -> Sse {
    if let Some(k) = q.attributes.get("KmsMasterKeyId").filter(|k| !k.is_empty()) {
        let reuse = q
            .attributes
            .get("KmsDataKeyReusePeriodSeconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_REUSE_SECONDS)
            .min(MAX_REUSE_SECONDS);
        return Sse::Kms {
            key_id: k.clone(),
            reuse_ms: reuse.saturating_mul(1000),
        };
    }
    if queue::attribute_or_default(q, "SqsManagedSseEnabled").as_deref() == Some("true") {
        Sse::Sqs
    } else {
        Sse::Off
    }
}

/// How long a receive holds the data keys it opens for queue `q`: its reuse period, or AWS's
/// default when it has no KMS key (messages moved in from an SSE-KMS queue).
pub fn reuse_ms_of(q: &QueueRec) -> u64 {
    match of(q) {
        Sse::Kms { reuse_ms, .. } => reuse_ms,
        _ => DEFAULT_REUSE_SECONDS * 1000,
    }
}

/// A data key an SSE-KMS queue seals with until `until` (shared by the sends that use it).
struct Current {
    key_id: String,
    plain: [u8; 32],
    body_key: BodyKey,
    record: Arc<(Key, DataKeyRec)>,
    until: u64,
}

/// A data key's plaintext held in memory, and until when (epoch ms).
type Held = ([u8; 32], u64);

/// What SQS keeps of its keys in memory, never saved: the data key each SSE-KMS queue seals
/// with now, and the data keys opened lately (until the end of their reuse period).
#[derive(Default)]
pub struct Keys {
    current: Mutex<HashMap<(Partition, String), Arc<Current>>>,
    opened: Mutex<HashMap<(Partition, u64), Held>>,
}

impl Keys {
    fn opened(&self, p: &Partition, id: u64, now: u64) -> Option<[u8; 32]> {
        let m = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(p.clone(), id))
            .filter(|(_, until)| *until > now)
            .map(|(k, _)| *k)
    }

    fn keep_opened(&self, p: &Partition, id: u64, key: [u8; 32], until: u64, now: u64) {
        let mut m = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_CACHED_KEYS {
            m.retain(|_, (_, u)| *u > now);
            if m.len() >= MAX_CACHED_KEYS {
                m.clear();
            }
        }
        m.insert((p.clone(), id), (key, until));
    }

    /// The data keys of partition `p` held now.
    fn held_in(&self, p: &Partition, now: u64) -> Vec<(u64, [u8; 32])> {
        let m = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((kp, _), (_, until))| kp == p && *until > now)
            .map(|((_, id), (k, _))| (*id, *k))
            .collect()
    }

    /// Forget every plaintext key (what a restart does; tests and `reset`).
    pub fn forget(&self) {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// How one send seals its bodies: not at all, or under a key (and the data key record to
/// write with the messages, for SSE-KMS).
pub enum Sealer {
    Plain,
    Key {
        key: BodyKey,
        plain: [u8; 32],
        record: Option<Arc<(Key, DataKeyRec)>>,
    },
}

impl Sealer {
    /// The record of a message: sealed, or as sent.
    pub fn seal(&self, mut m: MessageRec) -> Rec {
        match self {
            Sealer::Plain => Rec::Message(m),
            Sealer::Key { key, plain, .. } => {
                let (nonce, sealed) =
                    envelope::seal(plain, &model::body_aad(&m.id), m.body.as_bytes());
                m.body = String::new();
                Rec::SealedMessage(SealedMessageRec {
                    message: m,
                    body: SealedBody {
                        key: key.clone(),
                        nonce,
                        sealed,
                    },
                })
            }
        }
    }

    /// Write the data key record if it is not there yet (the first message it seals).
    pub fn install(&self, t: &mut snapstack_engine::Txn<'_, Rec>) {
        if let Sealer::Key {
            record: Some(record),
            ..
        } = self
            && t.get(&record.0).is_none()
        {
            t.insert(record.0.clone(), Rec::DataKey(record.1.clone()));
        }
    }
}

/// The keys a receive has opened, by what sealed the bodies.
pub type Opened = HashMap<BodyKey, [u8; 32]>;

/// The body of a message record, opened with `opened`: `None` when its key is not among them
/// or it does not open (a damaged record).
pub fn body_of(rec: &Rec, opened: &Opened) -> Option<String> {
    match rec {
        Rec::Message(m) => Some(m.body.clone()),
        Rec::SealedMessage(s) => {
            let key = opened.get(&s.body.key)?;
            let plain = envelope::open(
                key,
                &model::body_aad(&s.message.id),
                &s.body.nonce,
                &s.body.sealed,
            );
            let body = plain.and_then(|b| String::from_utf8(b).ok());
            if body.is_none() {
                tracing::warn!(message = %s.message.id, "an SQS message body does not open");
            }
            body
        }
        _ => None,
    }
}

/// Whether a receive can open this record's body with `opened`.
pub fn can_open(rec: &Rec, opened: &Opened) -> bool {
    rec.sealed_body()
        .is_none_or(|b| opened.contains_key(&b.key))
}

/// A KMS error as SQS answers it: the model's `Kms*` error, its query code `KMS.<exception>`,
/// and KMS's message the way SQS passes it on.
pub fn kms_error(e: AwsError, request_id: &str) -> SqsError {
    let name = kms::name(&e).to_string();
    let message = format!(
        "{} (Service: AWSKMS; Status Code: {}; Error Code: {name}; Request ID: {request_id}; Proxy: null)",
        e.message,
        e.status.as_u16()
    );
    let bad = StatusCode::BAD_REQUEST;
    match kms::fault(&e) {
        Fault::Disabled => SqsError::kms("KmsDisabled", "KMS.DisabledException", message, bad),
        Fault::InvalidState => {
            SqsError::kms("KmsInvalidState", "KMS.InvalidStateException", message, bad)
        }
        Fault::NotFound => SqsError::kms("KmsNotFound", "KMS.NotFoundException", message, bad),
        Fault::AccessDenied => {
            SqsError::kms("KmsAccessDenied", "KMS.AccessDeniedException", message, bad)
        }
        Fault::InvalidKeyUsage => SqsError::kms(
            "KmsInvalidKeyUsage",
            "KMS.InvalidKeyUsageException",
            message,
            bad,
        ),
        Fault::Throttled => SqsError::kms("KmsThrottled", "KMS.ThrottlingException", message, bad),
        Fault::Unavailable => SqsError::kms(
            "KmsNotFound",
            "KMS.NotFoundException",
            format!("KMS is not served by this server: {}", e.message),
            bad,
        ),
        Fault::Other => SqsError::internal(format!("KMS failed: {message}")),
    }
}

fn no_kms() -> AwsError {
    AwsError::new(
        "ResourceNotFoundException",
        "KMS is not reachable from this request",
    )
}

impl Sqs {
    /// The SQS key of an account and region, made (from the OS generator) on first use.
    fn sqs_key(&self, p: &Partition) -> [u8; 32] {
        let k = model::sqs_key_key(p);
        if let Some(Rec::SqsKey(r)) = self.store.snapshot().get(&k) {
            return r.key;
        }
        let fresh: [u8; 32] = envelope::random();
        let now = self.now();
        let (key, _) = self.store.write(|t| match t.get(&k) {
            Some(Rec::SqsKey(r)) => r.key,
            _ => {
                t.insert(
                    k.clone(),
                    Rec::SqsKey(SqsKeyRec {
                        key: fresh,
                        created_ms: now,
                    }),
                );
                fresh
            }
        });
        key
    }

    /// How a send to queue `q` seals bodies now: under the SQS key, or under the queue's data
    /// key (a new one from KMS when the last one's reuse period is over).
    pub(crate) async fn sealer(
        &self,
        req: &Req<'_>,
        p: &Partition,
        q: &QueueRec,
    ) -> Result<Sealer, SqsError> {
        let (key_id, reuse_ms) = match of(q) {
            Sse::Off => return Ok(Sealer::Plain),
            Sse::Sqs => {
                return Ok(Sealer::Key {
                    key: BodyKey::Sqs {
                        account: p.account.clone(),
                        region: p.region.clone(),
                    },
                    plain: self.sqs_key(p),
                    record: None,
                });
            }
            Sse::Kms { key_id, reuse_ms } => (key_id, reuse_ms),
        };
        let now = self.now();
        let held = self
            .keys
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(p.clone(), q.name.clone()))
            .filter(|c| c.key_id == key_id && c.until > now)
            .cloned();
        let c = match held {
            Some(c) => c,
            None => {
                let arn = queue::arn(p, &q.name);
                let context = vec![("aws:sqs:arn".to_string(), arn.clone())];
                let rt = req
                    .rt
                    .ok_or_else(|| kms_error(no_kms(), &req.ctx.request_id))?;
                let dk = kms::generate_data_key(rt, req.ctx, crate::NAME, &key_id, &context)
                    .await
                    .map_err(|e| kms_error(e, &req.ctx.request_id))?;
                let id = self.next_nonce();
                let record = DataKeyRec {
                    key_arn: dk.key_arn,
                    blob: dk.blob,
                    queue_arn: arn,
                    created_ms: now,
                };
                let c = Arc::new(Current {
                    key_id,
                    plain: dk.plaintext,
                    body_key: BodyKey::Kms {
                        account: p.account.clone(),
                        region: p.region.clone(),
                        id,
                    },
                    record: Arc::new((model::data_key_key(p, id), record)),
                    until: now.saturating_add(reuse_ms),
                });
                self.keys
                    .current
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((p.clone(), q.name.clone()), c.clone());
                self.keys.keep_opened(p, id, c.plain, c.until, now);
                c
            }
        };
        Ok(Sealer::Key {
            key: c.body_key.clone(),
            plain: c.plain,
            record: Some(c.record.clone()),
        })
    }

    /// The keys of partition `p` a receive has without asking KMS: its SSE-SQS key and the data
    /// keys held in memory.
    pub(crate) fn keys_in_memory(&self, snap: &Snapshot<Rec>, p: &Partition) -> Opened {
        let mut opened = Opened::new();
        if let Some(Rec::SqsKey(r)) = snap.get(&model::sqs_key_key(p)) {
            let key = BodyKey::Sqs {
                account: p.account.clone(),
                region: p.region.clone(),
            };
            opened.insert(key, r.key);
        }
        for (id, k) in self.keys.held_in(p, self.now()) {
            let key = BodyKey::Kms {
                account: p.account.clone(),
                region: p.region.clone(),
                id,
            };
            opened.insert(key, k);
        }
        opened
    }

    /// Open `keys` (at most [`MAX_KEYS_PER_RECEIVE`] KMS data keys not in memory): SSE-SQS keys
    /// from the state, data keys from memory or KMS `Decrypt`. A KMS failure is the receive's
    /// answer.
    pub(crate) async fn open_keys<'a>(
        &self,
        req: &Req<'_>,
        snap: &Snapshot<Rec>,
        keys: impl Iterator<Item = &'a BodyKey>,
        reuse_ms: u64,
    ) -> Result<Opened, SqsError> {
        let now = self.now();
        let mut opened = Opened::new();
        let mut asked = 0;
        for key in keys {
            if opened.contains_key(key) {
                continue;
            }
            match key {
                BodyKey::Sqs { account, region } => {
                    let p = Partition::new(account.clone(), region.clone());
                    if let Some(Rec::SqsKey(r)) = snap.get(&model::sqs_key_key(&p)) {
                        opened.insert(key.clone(), r.key);
                    }
                }
                BodyKey::Kms {
                    account,
                    region,
                    id,
                } => {
                    let p = Partition::new(account.clone(), region.clone());
                    if let Some(k) = self.keys.opened(&p, *id, now) {
                        opened.insert(key.clone(), k);
                        continue;
                    }
                    if asked >= MAX_KEYS_PER_RECEIVE {
                        continue;
                    }
                    let Some(Rec::DataKey(r)) = snap.get(&model::data_key_key(&p, *id)) else {
                        continue;
                    };
                    asked += 1;
                    let rt = req
                        .rt
                        .ok_or_else(|| kms_error(no_kms(), &req.ctx.request_id))?;
                    let context = vec![("aws:sqs:arn".to_string(), r.queue_arn.clone())];
                    let k = kms::decrypt_data_key(
                        rt,
                        req.ctx,
                        crate::NAME,
                        Some(&r.key_arn),
                        &r.blob,
                        &context,
                    )
                    .await
                    .map_err(|e| kms_error(e, &req.ctx.request_id))?;
                    self.keys
                        .keep_opened(&p, *id, k, now.saturating_add(reuse_ms), now);
                    opened.insert(key.clone(), k);
                }
            }
        }
        Ok(opened)
    }

    /// Forget the keys held in memory (as a restart does).
    pub fn forget_keys(&self) {
        self.keys.forget();
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;

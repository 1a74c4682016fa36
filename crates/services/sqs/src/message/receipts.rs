//! What a receipt handle allows: DeleteMessage and ChangeMessageVisibility, each also in batches.

use serde::Deserialize;
use serde_json::json;
use snapstack_engine::{Key, Partition, Txn};

use super::{MAX_VISIBILITY_SECONDS, Receipt, batch_error, check_batch};
use crate::model::{self, MsgState, Rec};
use crate::{Out, Req, Sqs, SqsError};

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
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
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
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    visibility_timeout: Option<i64>,
}

impl Sqs {
    /// The message a receipt handle names, if the handle is the message's current one.
    fn resolve_receipt(
        t: &Txn<'_, Rec>,
        p: &Partition,
        name: &str,
        handle: &str,
    ) -> Result<Option<(Key, Rec)>, SqsError> {
        let r = Receipt::decode(handle).ok_or_else(|| SqsError::receipt_invalid(handle))?;
        if r.queue != name {
            return Err(SqsError::receipt_invalid(handle));
        }
        let k = model::message_key(p, name, r.seq);
        match t.get(&k) {
            Some(rec)
                if rec
                    .message()
                    .is_some_and(|m| m.receipt_nonce == Some(r.nonce)) =>
            {
                Ok(Some((k, rec.clone())))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn delete_message(
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
        self.metrics.deleted(&p, &q.name, 1);
        Ok(Out::write(json!({}), deleted.then_some(version)))
    }

    pub(crate) fn delete_message_batch(
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
        self.metrics.deleted(&p, &q.name, ok.len() as u64);
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
        let Some((k, mut rec)) = Self::resolve_receipt(t, p, name, handle)? else {
            return Err(SqsError::invalid_parameter(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        };
        let Some(m) = rec.message_mut() else {
            return Err(SqsError::not_in_flight());
        };
        if m.state(now) != MsgState::InFlight {
            return Err(SqsError::not_in_flight());
        }
        m.visible_at = now.saturating_add(timeout.saturating_mul(1000));
        t.insert(k, rec);
        Ok(timeout == 0)
    }

    pub(crate) fn change_visibility(
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

    pub(crate) fn change_visibility_batch(
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

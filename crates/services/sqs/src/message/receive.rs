//! Receiving: ReceiveMessage (visibility timeouts, FIFO group blocking and retried attempts,
//! redrive to a dead-letter queue, long polling).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use snapstack_engine::{Key, Partition, Txn};

use super::{MAX_VISIBILITY_SECONDS, Receipt, check_dedup_or_group, message_json};
use crate::model::{self, MessageRec, MsgState, Rec};
use crate::queue::{self, attr_u64, is_fifo, retention_ms};
use crate::sse::{self, Opened};
use crate::{Out, Req, Sqs, SqsError};

const MAX_WAIT_SECONDS: i64 = 20;
/// A long poll looks again at least this often (e.g. after a load replaced the state).
const POLL_SLICE: Duration = Duration::from_secs(1);

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
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    max_number_of_messages: Option<i64>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    visibility_timeout: Option<i64>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    wait_time_seconds: Option<i64>,
    receive_request_attempt_id: Option<String>,
}

impl Sqs {
    pub(crate) async fn receive_message(
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
        // Keys opened for messages an attempt skipped, and how many such retries are left.
        let mut extra = Opened::new();
        let mut key_retries = 2;
        loop {
            let notify = self.notifier(&p, &q.name);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stopped = self.stop.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            let mut opened = self
                .open_for_receive(req, &p, &q.name, max, attempt)
                .await?;
            opened.extend(extra.iter().map(|(k, v)| (k.clone(), *v)));
            let mut missing = Vec::new();
            let (msgs, v, next_due) =
                self.receive_once(&p, &q.name, max, visibility, attempt, &opened, &mut missing)?;
            version = v.or(version);
            // Other receivers took the messages whose keys were opened, and the ones left are
            // sealed under keys not opened yet: open those and look again at once.
            if msgs.is_empty() && !missing.is_empty() && key_retries > 0 {
                key_retries -= 1;
                let snap = self.store.snapshot();
                extra.extend(
                    self.open_keys(req, &snap, missing.iter(), sse::reuse_ms_of(&q))
                        .await?,
                );
                continue;
            }
            let now_instant = tokio::time::Instant::now();
            if !msgs.is_empty() || now_instant >= deadline || self.is_stopping() {
                let out: Vec<Value> = msgs
                    .iter()
                    .map(|(m, receipt)| {
                        message_json(m, receipt, &system_names, &input.message_attribute_names)
                    })
                    .collect();
                self.metrics.received(&p, &q.name, out.len() as u64);
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

    /// The keys of the sealed bodies a receive may return: those of the first `max` visible
    /// messages of a standard queue (the ones it returns), of every visible message of a FIFO
    /// queue (its groups may take any), and for a retried FIFO attempt those in flight too.
    async fn open_for_receive(
        &self,
        req: &Req<'_>,
        p: &Partition,
        name: &str,
        max: usize,
        attempt: Option<&str>,
    ) -> Result<Opened, SqsError> {
        let snap = self.store.snapshot();
        let Some(Rec::Queue(q)) = snap.get(&model::queue_key(p, name)) else {
            return Ok(Opened::new());
        };
        let reuse_ms = sse::reuse_ms_of(q);
        let now = self.now();
        let retention = retention_ms(q);
        let fifo = is_fifo(q);
        let limit = if fifo { usize::MAX } else { max };
        let recs = snap
            .scan_prefix(&model::messages_prefix(p, name))
            .map(|(_, r)| r)
            .filter(|r| {
                r.message().is_some_and(|m| {
                    m.sent_ms.saturating_add(retention) > now
                        && (m.state(now) == MsgState::Visible || (fifo && attempt.is_some()))
                })
            })
            .take(limit)
            .filter_map(|r| r.sealed_body().map(|b| &b.key));
        let mut opened = self.keys_in_memory(&snap, p);
        opened.extend(self.open_keys(req, &snap, recs, reuse_ms).await?);
        Ok(opened)
    }

    /// One receive attempt: take up to `max` visible messages, make them invisible, and move the
    /// ones past the redrive policy's receive count to the dead-letter queue. Also answers when
    /// the next invisible message is due.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    pub(crate) fn receive_once(
        &self,
        p: &Partition,
        name: &str,
        max: usize,
        visibility: Option<u64>,
        attempt: Option<&str>,
        opened: &Opened,
        missing: &mut Vec<crate::model::BodyKey>,
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
                && let Some(out) = Self::retry_attempt(t, p, name, ak, now, vis_ms, opened)
            {
                return Ok((out, None, true));
            }
            let mut expired: Vec<Key> = Vec::new();
            let mut chosen: Vec<(Key, Rec)> = Vec::new();
            // A FIFO group with a message in flight is blocked, wherever that message is (a
            // message returned to the queue may sit before one still in flight).
            let mut blocked: HashSet<String> = HashSet::new();
            if fifo {
                for (_, rec) in t.scan_prefix(&model::messages_prefix(p, name)) {
                    if let Some(m) = rec.message()
                        && m.state(now) == MsgState::InFlight
                        && let Some(g) = &m.group_id
                    {
                        blocked.insert(g.clone());
                    }
                }
            }
            let mut next_due: Option<u64> = None;
            // A FIFO queue's visible messages by group, groups in the order of their first
            // such message: a receive returns as many messages of one group as it can before
            // it takes another group's, as SQS does. A group keeps at most `max` messages it
            // can deliver, and only the first `max` groups that can deliver one are kept: the
            // answer is within them. (Messages due for the dead-letter queue go there on the
            // way, and take no place.)
            let redriven = |m: &MessageRec| {
                redrive
                    .as_ref()
                    .is_some_and(|r| m.receive_count >= r.max_receives)
            };
            let mut groups: Vec<(Vec<(Key, Rec)>, usize)> = Vec::new();
            let mut group_at: HashMap<String, usize> = HashMap::new();
            let mut delivering_groups = 0;
            for (k, rec) in t.scan_prefix(&model::messages_prefix(p, name)) {
                let Some(m) = rec.message() else { continue };
                if m.sent_ms.saturating_add(retention) <= now {
                    expired.push(k.clone());
                    continue;
                }
                // A body whose key this receive has not opened waits for a later one; in a
                // FIFO queue its group waits with it, so the group's order holds.
                if m.state(now) == MsgState::Visible && !redriven(m) && !sse::can_open(rec, opened)
                {
                    if let Some(b) = rec.sealed_body()
                        && missing.len() < sse::MAX_KEYS_PER_RECEIVE
                        && !missing.contains(&b.key)
                    {
                        missing.push(b.key.clone());
                    }
                    if fifo && let Some(g) = &m.group_id {
                        blocked.insert(g.clone());
                    }
                    continue;
                }
                match m.state(now) {
                    MsgState::Visible => match m.group_id.as_ref().filter(|_| fifo) {
                        Some(g) if blocked.contains(g) => {}
                        Some(g) => {
                            let i = match group_at.get(g) {
                                Some(&i) => i,
                                None if delivering_groups < max => {
                                    group_at.insert(g.clone(), groups.len());
                                    groups.push((Vec::new(), 0));
                                    groups.len() - 1
                                }
                                None => continue,
                            };
                            let (list, delivering) = &mut groups[i];
                            if *delivering >= max {
                                continue;
                            }
                            if !redriven(m) {
                                if *delivering == 0 {
                                    delivering_groups += 1;
                                }
                                *delivering += 1;
                            }
                            list.push((k.clone(), rec.clone()));
                        }
                        None => {
                            if chosen.len() >= max {
                                break;
                            }
                            chosen.push((k.clone(), rec.clone()));
                        }
                    },
                    MsgState::InFlight | MsgState::Delayed => {
                        next_due = Some(next_due.map_or(m.visible_at, |d| d.min(m.visible_at)));
                        if fifo && let Some(g) = &m.group_id {
                            blocked.insert(g.clone());
                        }
                    }
                }
            }
            chosen.extend(groups.into_iter().flat_map(|(list, _)| list));
            let mut changed = !expired.is_empty();
            for k in &expired {
                t.remove(k);
            }
            let mut out = Vec::new();
            for (k, mut rec) in chosen {
                // A message moved to the dead-letter queue does not count: the group's next
                // one (FIFO) takes its place.
                if out.len() >= max {
                    break;
                }
                if let Some(r) = &redrive
                    && rec
                        .message()
                        .is_some_and(|m| m.receive_count >= r.max_receives)
                {
                    let (tp, tn) = &r.target;
                    // A sealed body moves as it is (its record names its key).
                    let mut moved = rec.clone();
                    if let Some(m) = moved.message_mut() {
                        m.dead_letter_source = Some(queue::arn(p, name));
                        m.in_flight = false;
                        m.visible_at = now;
                        m.receipt_nonce = None;
                    }
                    if queue::enqueue(t, tp, tn, moved).is_some() {
                        t.remove(&k);
                        changed = true;
                        woken.push((tp.clone(), tn.clone()));
                        continue;
                    }
                }
                let Some(body) = sse::body_of(&rec, opened) else {
                    continue;
                };
                let Some(m) = rec.message_mut() else { continue };
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
                let mut shown = m.clone();
                shown.body = body;
                t.insert(k, rec);
                changed = true;
                out.push((
                    shown,
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
        opened: &Opened,
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
            let rec = t.get(&model::message_key(p, name, seq))?;
            match rec.message() {
                Some(m) if m.receipt_nonce == Some(nonce) && m.visible_at == visible_at => {
                    let body = sse::body_of(rec, opened)?;
                    same.push((seq, nonce, rec.clone(), body));
                }
                _ => return None,
            }
        }
        let mut out = Vec::with_capacity(same.len());
        let mut entries = Vec::with_capacity(same.len());
        for (seq, nonce, mut rec, body) in same {
            let Some(m) = rec.message_mut() else { continue };
            m.visible_at = now.saturating_add(vis_ms);
            m.in_flight = true;
            entries.push((seq, nonce, m.visible_at));
            let mut shown = m.clone();
            shown.body = body;
            t.insert(model::message_key(p, name, seq), rec);
            out.push((
                shown,
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
}

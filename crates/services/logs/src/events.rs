//! Log events: PutLogEvents (AWS's batch rules), GetLogEvents (forward/backward tokens),
//! FilterLogEvents (filter patterns, interleaved across streams, paging).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::{Key, Partition};
use snapstack_protocol::errors::AwsError;

use crate::filters::metric_points;
use crate::groups::{load_group, string_list};
use crate::pattern::{self, Pattern};
use crate::*;

/// Bytes of events one GetLogEvents / FilterLogEvents answer holds at most.
const MAX_RESPONSE_BYTES: usize = 1_048_576;
/// Events one FilterLogEvents call looks at before it answers with what it has (and a token).
const MAX_SCANNED: usize = 1_000_000;
/// Streams FilterLogEvents searches in one call.
const MAX_FILTER_STREAMS: usize = 10_000;

/// A stable event id: timestamp, a hash of the stream name, and the sequence number.
pub(crate) fn event_id(stream: &str, ts: u64, seq: u64) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{ts:020}{:016}{seq:020}", h % 10_000_000_000_000_000)
}

fn pos_token(dir: char, ts: u64, seq: u64) -> String {
    format!("{dir}/{ts:020}/{seq:020}")
}

fn parse_pos(t: &str) -> Option<(char, u64, u64)> {
    let mut it = t.splitn(3, '/');
    let dir = it.next()?;
    let ts = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    match dir {
        "f" => Some(('f', ts, seq)),
        "b" => Some(('b', ts, seq)),
        _ => None,
    }
}

impl Logs {
    pub(crate) fn put_log_events(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let stream = str_of(v, "logStreamName").unwrap_or_default().to_string();
        let events: Vec<(i64, &str)> = v
            .get("logEvents")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            int_of(e, "timestamp").unwrap_or(0),
                            str_of(e, "message").unwrap_or(""),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
            return Err(invalid(format!(
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and {MAX_BATCH_EVENTS}"
            )));
        }
        let size: usize = events.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum();
        if size > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if let Some((_, m)) = events
            .iter()
            .find(|(_, m)| m.len() + EVENT_OVERHEAD > MAX_EVENT_BYTES)
        {
            return Err(invalid(format!(
                "Log event too large: {} bytes exceeds limit of {MAX_EVENT_BYTES}",
                m.len() + EVENT_OVERHEAD
            )));
        }
        if events.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        let (first, last) = (events[0].0, events[events.len() - 1].0);
        if last.saturating_sub(first) > MAX_SPAN_MS as i64 {
            return Err(invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let now = self.now_ms();
        let snap = self.store.snapshot();
        let g = load_group(&snap, p, &group).ok_or_else(group_missing)?;
        let too_old_before = now.saturating_sub(MAX_AGE_MS) as i64;
        let expired_before = g
            .retention_days
            .map(|d| now.saturating_sub(u64::from(d) * 86_400_000) as i64);
        let too_new_after = (now + MAX_FUTURE_MS) as i64;
        let mut too_old_end = None;
        let mut expired_end = None;
        let mut too_new_start = None;
        let mut accepted = Vec::new();
        for (i, &(ts, msg)) in events.iter().enumerate() {
            if ts > too_new_after {
                too_new_start.get_or_insert(i);
                continue;
            }
            if expired_before.is_some_and(|e| ts < e) {
                expired_end = Some(i);
                continue;
            }
            if ts < too_old_before {
                too_old_end = Some(i);
                continue;
            }
            accepted.push((ts as u64, msg));
        }
        let filters: Vec<FilterRec> = snap
            .scan_prefix(&metric_filters_prefix(p, &group))
            .filter_map(|(_, r)| match r {
                LogsRecord::MetricFilter(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        let subs: Vec<FilterRec> = snap
            .scan_prefix(&sub_filters_prefix(p, &group))
            .filter_map(|(_, r)| match r {
                LogsRecord::SubscriptionFilter(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        drop(snap);
        let seed = self.next_id();
        let mut queued = false;
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            let sk = stream_key(p, &group, &stream);
            let Some(LogsRecord::Stream(s)) = txn.get(&sk) else {
                return Err(stream_missing());
            };
            let mut s = s.clone();
            let mut written = Vec::with_capacity(if subs.is_empty() { 0 } else { accepted.len() });
            for &(ts, msg) in &accepted {
                let seq = s.next_seq;
                if !subs.is_empty() {
                    written.push((ts, seq, msg));
                }
                s.next_seq += 1;
                s.stored_bytes += (msg.len() + EVENT_OVERHEAD) as u64;
                s.first_event_ms = Some(s.first_event_ms.map_or(ts, |f| f.min(ts)));
                s.last_event_ms = Some(s.last_event_ms.map_or(ts, |l| l.max(ts)));
                txn.insert(
                    event_key(p, &group, &stream, ts, seq),
                    LogsRecord::Event(EventRec {
                        timestamp: ts,
                        seq,
                        ingestion_ms: now,
                        message: msg.to_string(),
                    }),
                );
            }
            if !accepted.is_empty() {
                s.last_ingestion_ms = Some(now);
            }
            for (k, rec) in
                crate::subscribe::outbox_entries(p, &group, &stream, &subs, &written, now, seed)
            {
                queued = true;
                txn.insert(k, rec);
            }
            let token = format!("{:056}", s.next_seq);
            txn.insert(sk, LogsRecord::Stream(s));
            Ok(token)
        });
        let token = r?;
        let mut o = json!({ "nextSequenceToken": token });
        let mut info = serde_json::Map::new();
        if let Some(i) = too_new_start {
            info.insert("tooNewLogEventStartIndex".into(), json!(i));
        }
        if let Some(i) = too_old_end {
            info.insert("tooOldLogEventEndIndex".into(), json!(i));
        }
        if let Some(i) = expired_end {
            info.insert("expiredLogEventEndIndex".into(), json!(i));
        }
        if !info.is_empty() {
            o["rejectedLogEventsInfo"] = Value::Object(info);
        }
        let metrics = metric_points(&filters, &accepted);
        if queued {
            self.outbox_wake.notify_one();
        }
        Ok(Out {
            value: o,
            version: Some(ver),
            metrics,
        })
    }

    pub(crate) fn get_log_events(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let stream = str_of(v, "logStreamName").unwrap_or_default();
        let limit = limit_of(v, 10_000, 10_000);
        let start = int_of(v, "startTime").unwrap_or(0).max(0) as u64;
        let end = int_of(v, "endTime").map(|e| e.max(0) as u64);
        let snap = self.store.snapshot();
        if load_group(&snap, p, &group).is_none() {
            return Err(group_missing());
        }
        if !matches!(
            snap.get(&stream_key(p, &group, stream)),
            Some(LogsRecord::Stream(_))
        ) {
            return Err(stream_missing());
        }
        let token = match str_of(v, "nextToken") {
            Some(t) => Some(
                parse_pos(t)
                    .ok_or_else(|| invalid(format!("The specified nextToken is invalid: {t}")))?,
            ),
            None => None,
        };
        let lo = event_key(p, &group, stream, start, 0);
        let hi = match end {
            Some(e) => Bound::Excluded(event_key(p, &group, stream, e, 0)),
            None => events_prefix(p, &group, stream).prefix_range().1,
        };
        let forward = match token {
            Some((d, _, _)) => d == 'f',
            None => bool_of(v, "startFromHead").unwrap_or(false),
        };
        let (lo, hi) = match token {
            Some(('f', ts, seq)) => (
                Bound::Excluded(event_key(p, &group, stream, ts, seq)).max_key(Bound::Included(lo)),
                hi,
            ),
            Some((_, ts, seq)) => (
                Bound::Included(lo),
                Bound::Excluded(event_key(p, &group, stream, ts, seq)).min_key(hi),
            ),
            None => (Bound::Included(lo), hi),
        };
        let mut picked: Vec<&EventRec> = Vec::new();
        let mut bytes = 0;
        let mut take = |e: &'_ EventRec| -> bool {
            bytes += e.message.len() + EVENT_OVERHEAD;
            bytes <= MAX_RESPONSE_BYTES
        };
        let range = snap.range((lo, hi)).filter_map(|(_, r)| match r {
            LogsRecord::Event(e) => Some(e),
            _ => None,
        });
        if forward {
            for e in range {
                if picked.len() == limit || !take(e) {
                    break;
                }
                picked.push(e);
            }
        } else {
            for e in range.rev() {
                if picked.len() == limit || !take(e) {
                    break;
                }
                picked.push(e);
            }
            picked.reverse();
        }
        let (f, b) = match (picked.first(), picked.last(), token) {
            (Some(first), Some(last), _) => (
                pos_token('f', last.timestamp, last.seq),
                pos_token('b', first.timestamp, first.seq),
            ),
            (_, _, Some((_, ts, seq))) => (pos_token('f', ts, seq), pos_token('b', ts, seq)),
            _ => (
                pos_token('f', start, 0),
                pos_token('b', end.unwrap_or(u64::MAX / 2), 0),
            ),
        };
        let events: Vec<Value> = picked
            .iter()
            .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_ms}))
            .collect();
        out(
            json!({"events": events, "nextForwardToken": f, "nextBackwardToken": b}),
            None,
        )
    }

    pub(crate) fn filter_log_events(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let names = string_list(v, "logStreamNames");
        let prefix = str_of(v, "logStreamNamePrefix");
        if !names.is_empty() && prefix.is_some() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive.",
            ));
        }
        let pat =
            pattern::parse(str_of(v, "filterPattern").unwrap_or("")).map_err(|e| invalid(e.0))?;
        let limit = limit_of(v, 10_000, 10_000);
        let start = int_of(v, "startTime").unwrap_or(0).max(0) as u64;
        let end = int_of(v, "endTime").map(|e| e.max(0) as u64);
        let snap = self.store.snapshot();
        if load_group(&snap, p, &group).is_none() {
            return Err(group_missing());
        }
        let after: Option<(u64, String, u64)> =
            match str_of(v, "nextToken") {
                Some(t) => {
                    let s = untoken(t)?;
                    let mut it = s.splitn(3, '\0');
                    let parsed = (|| {
                        let ts = it.next()?.parse().ok()?;
                        let seq = it.next()?.parse().ok()?;
                        Some((ts, it.next()?.to_string(), seq))
                    })();
                    Some(parsed.ok_or_else(|| {
                        invalid(format!("The specified nextToken is invalid: {t}"))
                    })?)
                }
                None => None,
            };
        let streams: Vec<String> = snap
            .scan_prefix(&streams_prefix(p, &group))
            .filter_map(|(_, r)| match r {
                LogsRecord::Stream(s) => Some(s.name.clone()),
                _ => None,
            })
            .filter(|n| {
                (names.is_empty() || names.contains(n))
                    && prefix.is_none_or(|pre| n.starts_with(pre))
            })
            .take(MAX_FILTER_STREAMS)
            .collect();
        if !names.is_empty() && streams.len() < names.len() {
            return Err(stream_missing());
        }
        let from = after.as_ref().map_or(start, |a| a.0.max(start));
        let mut iters: Vec<Box<dyn Iterator<Item = &EventRec> + '_>> = Vec::new();
        for s in &streams {
            let lo = event_key(p, &group, s, from, 0);
            let hi = match end {
                Some(e) => Bound::Excluded(event_key(p, &group, s, e, 0)),
                None => events_prefix(p, &group, s).prefix_range().1,
            };
            iters.push(Box::new(snap.range((Bound::Included(lo), hi)).filter_map(
                |(_, r)| match r {
                    LogsRecord::Event(e) => Some(e),
                    _ => None,
                },
            )));
        }
        let (events, next) = merge(&mut iters, &streams, &pat, after.as_ref(), limit);
        let mut o = json!({
            "events": events,
            "searchedLogStreams": streams
                .iter()
                .map(|s| json!({"logStreamName": s, "searchedCompletely": next.is_none()}))
                .collect::<Vec<_>>(),
        });
        if let Some(n) = next {
            o["nextToken"] = json!(n);
        }
        out(o, None)
    }
}

/// The k-way merge of the streams' ranges by (timestamp, stream, seq): matching events after
/// `after`, at most `limit` of them and [`MAX_RESPONSE_BYTES`], looking at most at
/// [`MAX_SCANNED`] events; the token of the last one when more may follow.
fn merge<'a>(
    iters: &mut [Box<dyn Iterator<Item = &'a EventRec> + 'a>],
    streams: &[String],
    pat: &Pattern,
    after: Option<&(u64, String, u64)>,
    limit: usize,
) -> (Vec<Value>, Option<String>) {
    let mut heap = BinaryHeap::new();
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut scanned = 0;
    let mut last: Option<(u64, usize, u64)> = None;
    let mut heads: Vec<Option<&'a EventRec>> = vec![None; iters.len()];
    for (i, it) in iters.iter_mut().enumerate() {
        heads[i] = it.next();
        if let Some(e) = heads[i] {
            heap.push(Reverse((e.timestamp, streams[i].clone(), e.seq, i)));
        }
    }
    while let Some(Reverse((ts, name, seq, i))) = heap.pop() {
        let Some(e) = heads[i] else { continue };
        heads[i] = iters[i].next();
        if let Some(n) = heads[i] {
            heap.push(Reverse((n.timestamp, name.clone(), n.seq, i)));
        }
        if let Some((ats, astream, aseq)) = after
            && (ts, name.as_str(), seq) <= (*ats, astream.as_str(), *aseq)
        {
            continue;
        }
        scanned += 1;
        if scanned > MAX_SCANNED {
            break;
        }
        last = Some((ts, i, seq));
        if !pat.matches(&e.message) {
            continue;
        }
        bytes += e.message.len() + EVENT_OVERHEAD;
        if out.len() == limit || bytes > MAX_RESPONSE_BYTES {
            // Resume at the event before this one.
            return (out, token_before(ts, &name, seq));
        }
        out.push(json!({
            "logStreamName": name,
            "timestamp": e.timestamp,
            "message": e.message,
            "ingestionTime": e.ingestion_ms,
            "eventId": event_id(&name, e.timestamp, e.seq),
        }));
    }
    let more = scanned > MAX_SCANNED;
    let next = match (more, last) {
        (true, Some((ts, i, seq))) => Some(token(&format!("{ts}\0{seq}\0{}", streams[i]))),
        _ => None,
    };
    (out, next)
}

/// The token that resumes at (`ts`, `stream`, `seq`) itself: the position just before it.
fn token_before(ts: u64, stream: &str, seq: u64) -> Option<String> {
    // (ts, stream, seq - 1) orders before the event; seq starts at 1 so this never wraps, and
    // no other event of this stream lies between.
    Some(token(&format!("{ts}\0{}\0{stream}", seq.saturating_sub(1))))
}

/// Bound helpers: the tighter of two bounds.
trait Tighter {
    fn max_key(self, other: Bound<Key>) -> Bound<Key>;
    fn min_key(self, other: Bound<Key>) -> Bound<Key>;
}

impl Tighter for Bound<Key> {
    fn max_key(self, other: Bound<Key>) -> Bound<Key> {
        match (&self, &other) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                if a >= b {
                    self
                } else {
                    other
                }
            }
            (Bound::Unbounded, _) => other,
            (_, Bound::Unbounded) => self,
        }
    }
    fn min_key(self, other: Bound<Key>) -> Bound<Key> {
        match (&self, &other) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                if a <= b {
                    self
                } else {
                    other
                }
            }
            (Bound::Unbounded, _) => other,
            (_, Bound::Unbounded) => self,
        }
    }
}

//! StartLiveTail: an AWS event stream (`application/vnd.amazon.eventstream`) over the open
//! HTTP/1.1 response, as Kinesis's SubscribeToShard: an `initial-response`, a `sessionStart`,
//! then a `sessionUpdate` every second with the events ingested since the last one (those of
//! the named streams or prefixes, matching the filter pattern), at most 500 per update, until
//! the client goes away or three hours pass (then `SessionTimeoutException`, as AWS does).
//! New events are found by their sequence numbers among the events timestamped within a day of
//! now (events ingested with older timestamps are not tailed).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use serde_json::{Value, json};
use snapstack_engine::{Partition, Snapshot};
use snapstack_protocol::body::{Body, Bytes};
use snapstack_protocol::codec::eventstream;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::{HeaderValue, StatusCode};
use snapstack_protocol::response::Response;

use crate::groups::string_list;
use crate::pattern::{self, Pattern};
use crate::resources::uuid;
use crate::*;

/// How long a session lasts (AWS: 3 hours).
const SESSION: Duration = Duration::from_secs(3 * 3600);
/// How often an update is sent.
const TICK: Duration = Duration::from_secs(1);
/// Events in one update at most (AWS samples beyond 500 per second).
const MAX_UPDATE_EVENTS: usize = 500;
/// Log groups one session tails at most (AWS's limit).
const MAX_GROUPS: usize = 10;
/// How far back (by timestamp) new events are looked for.
const LOOKBACK_MS: u64 = 24 * 3600 * 1000;

fn event(kind: &str, payload: &Value) -> Bytes {
    Bytes::from(eventstream::json_event(
        kind,
        "application/x-amz-json-1.1",
        payload,
    ))
}

fn exception(kind: &str, text: &str) -> Bytes {
    Bytes::from(eventstream::json_exception(
        kind,
        "application/x-amz-json-1.1",
        text,
    ))
}

/// What a session tails.
struct Tail {
    p: Partition,
    /// (group name, the identifier the client gave).
    groups: Vec<(String, String)>,
    names: Vec<String>,
    prefixes: Vec<String>,
    pattern: Pattern,
    /// Per (group, stream): the sequence number the next new event has at least.
    cursor: BTreeMap<(String, String), u64>,
}

impl Tail {
    fn wanted(&self, stream: &str) -> bool {
        (self.names.is_empty() && self.prefixes.is_empty())
            || self.names.iter().any(|n| n == stream)
            || self.prefixes.iter().any(|p| stream.starts_with(p.as_str()))
    }

    /// The streams' next sequence numbers now (what is already there is not tailed).
    fn seed(&mut self, snap: &Snapshot<LogsRecord>) {
        for (g, _) in self.groups.clone() {
            for (_, r) in snap.scan_prefix(&streams_prefix(&self.p, &g)) {
                if let LogsRecord::Stream(s) = r {
                    self.cursor.insert((g.clone(), s.name.clone()), s.next_seq);
                }
            }
        }
    }

    /// The events ingested since the last poll.
    fn poll(&mut self, snap: &Snapshot<LogsRecord>, now: u64) -> Vec<Value> {
        let mut out = Vec::new();
        for (g, id) in self.groups.clone() {
            let streams: Vec<(String, u64)> = snap
                .scan_prefix(&streams_prefix(&self.p, &g))
                .filter_map(|(_, r)| match r {
                    LogsRecord::Stream(s) if self.wanted(&s.name) => {
                        Some((s.name.clone(), s.next_seq))
                    }
                    _ => None,
                })
                .collect();
            for (s, next_seq) in streams {
                let from = *self.cursor.get(&(g.clone(), s.clone())).unwrap_or(&1);
                if next_seq <= from {
                    continue;
                }
                self.cursor.insert((g.clone(), s.clone()), next_seq);
                let lo = event_key(&self.p, &g, &s, now.saturating_sub(LOOKBACK_MS), 0);
                let hi = events_prefix(&self.p, &g, &s).prefix_range().1;
                for (_, r) in snap.range((Bound::Included(lo), hi)) {
                    let LogsRecord::Event(e) = r else { continue };
                    if e.seq < from || e.seq >= next_seq || !self.pattern.matches(&e.message) {
                        continue;
                    }
                    if out.len() < MAX_UPDATE_EVENTS {
                        out.push(json!({
                            "logStreamName": s, "logGroupIdentifier": id, "message": e.message,
                            "timestamp": e.timestamp, "ingestionTime": e.ingestion_ms,
                        }));
                    }
                }
            }
        }
        out
    }
}

impl Logs {
    /// Check a StartLiveTail call; the response streams the session.
    pub(crate) fn start_live_tail(
        &self,
        p: &Partition,
        v: &Value,
        request_id: &str,
    ) -> Result<Response, AwsError> {
        let ids = string_list(v, "logGroupIdentifiers");
        if ids.is_empty() || ids.len() > MAX_GROUPS {
            return Err(invalid(format!(
                "logGroupIdentifiers must name between 1 and {MAX_GROUPS} log groups."
            )));
        }
        let names = string_list(v, "logStreamNames");
        let prefixes = string_list(v, "logStreamNamePrefixes");
        if !names.is_empty() && !prefixes.is_empty() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.",
            ));
        }
        if (!names.is_empty() || !prefixes.is_empty()) && ids.len() > 1 {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefixes can be used with one log group only.",
            ));
        }
        let filter = str_of(v, "logEventFilterPattern").unwrap_or("");
        let pattern = pattern::parse(filter).map_err(|e| invalid(e.0))?;
        let snap = self.store.snapshot();
        let mut groups = Vec::new();
        for id in &ids {
            let name = name_from_identifier(id);
            if crate::groups::load_group(&snap, p, &name).is_none() {
                return Err(not_found(format!(
                    "The specified log group does not exist: {id}"
                )));
            }
            groups.push((name, id.clone()));
        }
        let mut tail = Tail {
            p: p.clone(),
            groups,
            names: names.clone(),
            prefixes: prefixes.clone(),
            pattern,
            cursor: BTreeMap::new(),
        };
        tail.seed(&snap);
        drop(snap);
        let mut start = json!({
            "requestId": request_id,
            "sessionId": uuid(self.next_id()),
            "logGroupIdentifiers": ids,
            "logEventFilterPattern": filter,
        });
        if !names.is_empty() {
            start["logStreamNames"] = json!(names);
        }
        if !prefixes.is_empty() {
            start["logStreamNamePrefixes"] = json!(prefixes);
        }
        let store = self.store.clone();
        let clock = self.clock.load(std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            let now = || if clock == 0 { sys_now_ms() } else { clock };
            for first in [
                event("initial-response", &json!({})),
                event("sessionStart", &start),
            ] {
                if tx.send(Ok(first)).await.is_err() {
                    return;
                }
            }
            let until = tokio::time::Instant::now() + SESSION;
            while tokio::time::Instant::now() < until {
                tokio::time::sleep(TICK).await;
                let results = tail.poll(&store.snapshot(), now());
                let update = json!({"sessionMetadata": {"sampled": results.len() >= MAX_UPDATE_EVENTS}, "sessionResults": results});
                if tx.send(Ok(event("sessionUpdate", &update))).await.is_err() {
                    return;
                }
            }
            let _ = tx
                .send(Ok(exception(
                    "SessionTimeoutException",
                    "The session has reached its maximum duration of 3 hours.",
                )))
                .await;
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut resp = Response::new(Body::from_stream(stream));
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static(eventstream::CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_sees_only_new_matching_events() {
        let l = Logs::new();
        let now = 1_700_000_000_000;
        l.set_clock(now);
        let ctx = snapstack_service::RequestContext::from_scope(None);
        let p = ctx.partition.clone();
        for (op, v) in [
            ("CreateLogGroup", json!({"logGroupName": "g"})),
            (
                "CreateLogStream",
                json!({"logGroupName": "g", "logStreamName": "s"}),
            ),
            (
                "PutLogEvents",
                json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": now, "message": "ERROR old"}]}),
            ),
        ] {
            l.handle(&ctx, op, &v).unwrap();
        }
        let mut t = Tail {
            p: p.clone(),
            groups: vec![("g".into(), "g".into())],
            names: vec![],
            prefixes: vec![],
            pattern: pattern::parse("ERROR").unwrap(),
            cursor: BTreeMap::new(),
        };
        t.seed(&l.store.snapshot());
        assert!(t.poll(&l.store.snapshot(), now).is_empty());
        l.handle(
            &ctx,
            "PutLogEvents",
            &json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
            {"timestamp": now, "message": "ERROR new"}, {"timestamp": now, "message": "ok"}]}),
        )
        .unwrap();
        let got = t.poll(&l.store.snapshot(), now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["message"], "ERROR new");
        assert!(t.poll(&l.store.snapshot(), now).is_empty());
    }
}

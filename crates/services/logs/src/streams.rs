//! Log streams: create, delete, describe (by name or by last event time).

use std::ops::Bound;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::groups::load_group;
use crate::*;

/// AWS's rule for log stream names: 1-512 characters, no `:` or `*`.
pub(crate) fn valid_stream_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 512 && !name.contains([':', '*'])
}

pub(crate) fn stream_json(p: &Partition, s: &StreamRec) -> Value {
    let mut o = json!({
        "logStreamName": s.name,
        "creationTime": s.created_ms,
        "arn": format!("{}:log-stream:{}", group_arn(p, &s.group), s.name),
        "storedBytes": s.stored_bytes,
        "uploadSequenceToken": format!("{:056}", s.next_seq),
    });
    if let Some(t) = s.first_event_ms {
        o["firstEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_event_ms {
        o["lastEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_ingestion_ms {
        o["lastIngestionTime"] = json!(t);
    }
    o
}

impl Logs {
    pub(crate) fn create_log_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let name = str_of(v, "logStreamName").unwrap_or_default().to_string();
        if !valid_stream_name(&name) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
            )));
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            let k = stream_key(p, &group, &name);
            if txn.contains(&k) {
                return Err(AwsError::new(
                    "ResourceAlreadyExistsException",
                    "The specified log stream already exists",
                ));
            }
            txn.insert(
                k,
                LogsRecord::Stream(StreamRec {
                    group: group.clone(),
                    name: name.clone(),
                    created_ms: now,
                    first_event_ms: None,
                    last_event_ms: None,
                    last_ingestion_ms: None,
                    next_seq: 1,
                    stored_bytes: 0,
                }),
            );
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_log_stream(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let name = str_of(v, "logStreamName").unwrap_or_default().to_string();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            if txn.remove(&stream_key(p, &group, &name)).is_none() {
                return Err(stream_missing());
            }
            txn.remove_prefix(&events_prefix(p, &group, &name));
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_log_streams(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = group_name(v)?;
        let prefix = str_of(v, "logStreamNamePrefix");
        let by_time = str_of(v, "orderBy") == Some("LastEventTime");
        if by_time && prefix.is_some() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let descending = bool_of(v, "descending").unwrap_or(false);
        let limit = limit_of(v, 50, 50);
        let snap = self.store.snapshot();
        if load_group(&snap, p, &group).is_none() {
            return Err(group_missing());
        }
        let base = streams_prefix(p, &group);
        let all = snap.scan_prefix(&base).filter_map(|(_, r)| match r {
            LogsRecord::Stream(s) => Some(s),
            _ => None,
        });
        // Ordered by name (the key order) or by last event time, then by name; the page token is
        // the position of the last stream returned in that order.
        let mut list: Vec<&StreamRec> = match prefix {
            Some(pre) => {
                let start = stream_key(p, &group, pre);
                snap.range((Bound::Included(start), base.prefix_range().1))
                    .filter_map(|(_, r)| match r {
                        LogsRecord::Stream(s) => Some(s),
                        _ => None,
                    })
                    .take_while(|s| s.name.starts_with(pre))
                    .collect()
            }
            None => all.collect(),
        };
        let pos = |s: &StreamRec| -> String {
            if by_time {
                format!("{:020}/{}", s.last_event_ms.unwrap_or(0), s.name)
            } else {
                s.name.clone()
            }
        };
        if by_time {
            list.sort_by_cached_key(|s| pos(s));
        }
        if descending {
            list.reverse();
        }
        let after = str_of(v, "nextToken").map(untoken).transpose()?;
        let mut items = Vec::new();
        let mut next = None;
        for s in list {
            if let Some(a) = &after {
                let here = pos(s);
                if (!descending && here <= *a) || (descending && here >= *a) {
                    continue;
                }
            }
            if items.len() == limit {
                break;
            }
            items.push(s);
        }
        if items.len() == limit
            && let Some(last) = items.last()
        {
            // Only when something follows.
            let last_pos = pos(last);
            let more = snap.scan_prefix(&base).any(|(_, r)| match r {
                LogsRecord::Stream(s) => {
                    prefix.is_none_or(|pre| s.name.starts_with(pre))
                        && if descending {
                            pos(s) < last_pos
                        } else {
                            pos(s) > last_pos
                        }
                }
                _ => false,
            });
            if more {
                next = Some(token(&last_pos));
            }
        }
        let items = items.into_iter().map(|s| stream_json(p, s)).collect();
        out(page(items, "logStreams", next), None)
    }
}

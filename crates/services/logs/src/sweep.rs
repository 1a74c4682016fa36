//! Retention: a sweeper deletes the events older than their group's retention, on absolute
//! times (an event's timestamp against the clock), in bounded batches.

use std::ops::Bound;

use snapstack_engine::key::Part;
use snapstack_engine::{Key, Partition};

use crate::*;

/// Events deleted per store write.
const SWEEP_BATCH: usize = 5000;

impl Logs {
    /// Every partition with records.
    pub(crate) fn partitions(&self) -> Vec<Partition> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut from = Bound::Unbounded;
        while let Some((k, _)) = snap.range((from.clone(), Bound::Unbounded)).next() {
            let Some(parts) = k.parts() else { break };
            let (Some(Part::Str(a)), Some(Part::Str(r))) = (parts.first(), parts.get(1)) else {
                break;
            };
            let p = Partition::new(a.clone(), r.clone());
            let next = p.prefix().prefix_range().1;
            out.push(p);
            match next {
                Bound::Excluded(n) => from = Bound::Included(n),
                _ => break,
            }
        }
        out
    }

    /// Delete every event older than its group's retention at `now_ms`. Returns how many.
    pub fn sweep_retention(&self, now_ms: u64) -> usize {
        let mut deleted = 0;
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let groups: Vec<(String, u64)> = snap
                .scan_prefix(&groups_prefix(&p))
                .filter_map(|(_, r)| match r {
                    LogsRecord::Group(g) => Some((
                        g.name.clone(),
                        now_ms.saturating_sub(u64::from(g.retention_days?) * 86_400_000),
                    )),
                    _ => None,
                })
                .collect();
            for (group, cutoff) in groups {
                let streams: Vec<String> = snap
                    .scan_prefix(&streams_prefix(&p, &group))
                    .filter_map(|(_, r)| match r {
                        LogsRecord::Stream(s) => Some(s.name.clone()),
                        _ => None,
                    })
                    .collect();
                for stream in streams {
                    deleted += self.sweep_stream(&p, &group, &stream, cutoff);
                }
            }
        }
        deleted
    }

    fn sweep_stream(&self, p: &Partition, group: &str, stream: &str, cutoff: u64) -> usize {
        let mut deleted = 0;
        loop {
            let snap = self.store.snapshot();
            let lo = events_prefix(p, group, stream);
            let hi = event_key(p, group, stream, cutoff, 0);
            let due: Vec<(Key, u64)> = snap
                .range((Bound::Included(lo), Bound::Excluded(hi)))
                .filter_map(|(k, r)| match r {
                    LogsRecord::Event(e) => {
                        Some((k.clone(), (e.message.len() + EVENT_OVERHEAD) as u64))
                    }
                    _ => None,
                })
                .take(SWEEP_BATCH)
                .collect();
            if due.is_empty() {
                return deleted;
            }
            let n = due.len();
            self.store.write(|txn| {
                let mut freed = 0;
                for (k, size) in &due {
                    if txn.remove(k).is_some() {
                        freed += size;
                    }
                }
                let sk = stream_key(p, group, stream);
                if let Some(LogsRecord::Stream(s)) = txn.get(&sk) {
                    let mut s = s.clone();
                    s.stored_bytes = s.stored_bytes.saturating_sub(freed);
                    txn.insert(sk, LogsRecord::Stream(s));
                }
            });
            deleted += n;
            if n < SWEEP_BATCH {
                return deleted;
            }
        }
    }
}

//! Retention: a sweeper deletes the records older than their stream's retention period, on
//! absolute times (a record's stored arrival time against the clock), in bounded batches; closed
//! shards whose records are all gone and that closed before the retention window go too (AWS
//! stops listing them).

use std::ops::Bound;

use snapstack_engine::key::Part;
use snapstack_engine::{Key, Partition};

use crate::*;

/// Records deleted per store write.
const SWEEP_BATCH: usize = 5000;

impl Kinesis {
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

    /// Delete every record past its stream's retention at `now_ms`. Returns how many records.
    pub fn sweep_retention(&self, now_ms: u64) -> usize {
        let mut deleted = 0;
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let streams: Vec<StreamRec> = snap
                .scan_prefix(&streams_prefix(&p))
                .filter_map(|(_, r)| match r {
                    KinesisRecord::Stream(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            for s in streams {
                let cutoff = self.retention_cutoff(&s, now_ms);
                for sh in load_shards(&snap, &p, &s.name) {
                    deleted += self.sweep_shard(&p, &s, &sh, cutoff);
                }
            }
        }
        deleted
    }

    fn sweep_shard(&self, p: &Partition, s: &StreamRec, sh: &ShardRec, cutoff: u64) -> usize {
        let mut deleted = 0;
        loop {
            let snap = self.store.snapshot();
            let prefix = shard_data_prefix(p, &s.name, sh.index);
            let mut left = false;
            let mut due: Vec<Key> = Vec::new();
            for (k, r) in snap.scan_prefix(&prefix) {
                match r {
                    KinesisRecord::Data(d) if d.arrival_ms < cutoff && due.len() < SWEEP_BATCH => {
                        due.push(k.clone());
                    }
                    _ => {
                        left = true;
                        break;
                    }
                }
            }
            let drop_shard = !left && sh.closed_ms.is_some_and(|c| c < cutoff);
            if due.is_empty() && !drop_shard {
                return deleted;
            }
            let n = due.len();
            let created = s.created_ms;
            let name = s.name.clone();
            self.store.write(|txn| {
                // The stream may have been deleted and re-created meanwhile.
                if !matches!(txn.get(&stream_key(p, &name)), Some(KinesisRecord::Stream(st)) if st.created_ms == created)
                {
                    return;
                }
                for k in &due {
                    txn.remove(k);
                }
                if drop_shard {
                    txn.remove(&shard_key(p, &name, sh.index));
                }
            });
            deleted += n;
            if n < SWEEP_BATCH {
                return deleted;
            }
        }
    }
}

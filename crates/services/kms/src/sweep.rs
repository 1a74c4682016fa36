//! The sweeper: deletes keys whose deletion deadline passed (with their aliases and grants)
//! and performs automatic rotations that are due. Deadlines are absolute times in the key
//! records, so a restart neither resets nor skips them.

use snapstack_engine::{Key, Partition};

use crate::{KeyState, Kms, KmsRecord, rk};

impl Kms {
    /// One sweep at `now`: `(keys deleted, keys rotated)`. It also deletes imported
    /// material past its `ValidTo`, records custom key stores whose connection completed, and
    /// persists the keys' last uses.
    pub fn sweep(&self, now: u64) -> (usize, usize) {
        let mut deleted = 0;
        let mut rotated = 0;
        for p in self.partitions() {
            deleted += self.delete_due(&p, now);
            rotated += self.rotate_due(&p, now);
            self.expire_due(&p, now);
            self.connect_due(&p, now);
        }
        self.persist_last_uses();
        (deleted, rotated)
    }

    fn delete_due(&self, p: &Partition, now: u64) -> usize {
        let (n, _) = self.store.write(|txn| {
            let due: Vec<String> = txn
                .scan_prefix(&rk::keys(p))
                .filter_map(|(_, r)| match r {
                    KmsRecord::Key(k)
                        if k.state == KeyState::PendingDeletion
                            && k.deletion_ms.is_some_and(|d| d <= now) =>
                    {
                        Some(k.id.clone())
                    }
                    _ => None,
                })
                .collect();
            if due.is_empty() {
                return 0;
            }
            let aliases: Vec<Key> = txn
                .scan_prefix(&rk::aliases(p))
                .filter(|(_, r)| matches!(r, KmsRecord::Alias(a) if due.contains(&a.target)))
                .map(|(k, _)| k.clone())
                .collect();
            for a in &aliases {
                txn.remove(a);
            }
            for id in &due {
                crate::multi_region::leave_family(txn, p, id);
                txn.remove(&rk::key(p, id));
                txn.remove(&rk::ext(p, id));
                txn.remove_prefix(&rk::grants_of(p, id));
            }
            due.len()
        });
        n
    }

    /// Every partition that holds records, found by seeking from one partition to the next.
    fn partitions(&self) -> Vec<Partition> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut from = std::ops::Bound::Unbounded;
        while let Some((k, _)) = snap
            .range((from.clone(), std::ops::Bound::Unbounded))
            .next()
        {
            let Some(parts) = k.parts() else { break };
            let (
                Some(snapstack_engine::key::Part::Str(a)),
                Some(snapstack_engine::key::Part::Str(r)),
            ) = (parts.first(), parts.get(1))
            else {
                break;
            };
            let p = Partition::new(a.clone(), r.clone());
            let next = p.prefix().prefix_range().1;
            out.push(p);
            match next {
                std::ops::Bound::Excluded(n) => from = std::ops::Bound::Included(n),
                _ => break,
            }
        }
        out
    }
}

//! The TTL sweeper (expired items, forgotten ClientRequestTokens) and the partitions it walks.

use snapstack_engine::{Key, Partition};

use crate::table::TableMeta;
use crate::{DynamoDb, Rec, batch, items, keys};

/// TTL sweeps delete at most this many items per store write.
const SWEEP_BATCH: usize = 1000;
/// Items whose TTL is further in the past than this are not deleted (DynamoDB's rule).
const TTL_MAX_AGE_SECS: u64 = 5 * 365 * 24 * 3600;

impl DynamoDb {
    /// Delete every item whose TTL attribute (epoch seconds) is before `now_ms`, in every
    /// partition. Returns how many items were deleted.
    pub fn sweep_expired(&self, now_ms: u64) -> usize {
        let now_secs = now_ms / 1000;
        let mut deleted = 0;
        for p in self.partitions() {
            self.forget_expired_tokens(&p, now_ms);
            self.sweep_streams(&p, now_ms);
            let tables: Vec<TableMeta> = self
                .store
                .snapshot()
                .scan_prefix(&keys::tables(&p))
                .filter_map(|(_, r)| match r {
                    Rec::Table(t) if t.ttl_attribute.is_some() => Some((**t).clone()),
                    _ => None,
                })
                .collect();
            for t in tables {
                loop {
                    let snap = self.store.snapshot();
                    // DynamoDB leaves items whose TTL is more than five years in the past.
                    let oldest = now_secs.saturating_sub(TTL_MAX_AGE_SECS);
                    let lo = p.key().str("e").u64(t.id).u64(oldest).build();
                    let hi = p.key().str("e").u64(t.id).u64(now_secs).build();
                    let due: Vec<items::Pk> = snap
                        .range((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi)))
                        .filter_map(|(_, r)| match r {
                            Rec::Ttl { hash, range } => Some(items::Pk {
                                hash: hash.clone(),
                                range: range.clone(),
                            }),
                            _ => None,
                        })
                        .take(SWEEP_BATCH)
                        .collect();
                    if due.is_empty() {
                        break;
                    }
                    let (n, _) = self.store.write(|txn| {
                        let Ok(mut cur) = items::load_table(txn, &p, &t.name) else {
                            return 0;
                        };
                        if cur.id != t.id {
                            return 0;
                        }
                        let mut n = 0;
                        for pk in &due {
                            let key = items::item_key(&p, &cur, pk);
                            let Some(old) = items::get_item_in(txn, &key) else {
                                continue;
                            };
                            if items::expiry(&cur, &old)
                                .is_some_and(|s| s < now_secs && s >= oldest)
                            {
                                items::write_item_as(
                                    &p,
                                    &mut cur,
                                    txn,
                                    pk,
                                    Some(&old),
                                    None,
                                    now_ms,
                                    true,
                                );
                                n += 1;
                            }
                        }
                        items::save_table(txn, &p, cur);
                        n
                    });
                    deleted += n;
                    if n == 0 || due.len() < SWEEP_BATCH {
                        break;
                    }
                }
            }
        }
        deleted
    }

    /// Drop the ClientRequestTokens of `p` older than their 10-minute window.
    fn forget_expired_tokens(&self, p: &Partition, now_ms: u64) {
        let expired = |r: &Rec| matches!(r, Rec::Token { at_ms, .. } if now_ms.saturating_sub(*at_ms) >= batch::TOKEN_TTL_MS);
        loop {
            let due: Vec<Key> = self
                .store
                .snapshot()
                .scan_prefix(&keys::tokens(p))
                .filter(|(_, r)| expired(r))
                .map(|(k, _)| k.clone())
                .take(SWEEP_BATCH)
                .collect();
            if due.is_empty() {
                return;
            }
            self.store.write(|txn| {
                for k in &due {
                    // A token claimed again meanwhile is fresh: keep it.
                    if txn.get(k).is_some_and(expired) {
                        txn.remove(k);
                    }
                }
            });
            if due.len() < SWEEP_BATCH {
                return;
            }
        }
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
            match p.prefix().prefix_range().1 {
                std::ops::Bound::Excluded(next) => from = std::ops::Bound::Included(next),
                _ => {
                    out.push(p);
                    break;
                }
            }
            out.push(p);
        }
        out
    }
}

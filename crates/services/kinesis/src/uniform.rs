//! UpdateShardCount's `UNIFORM_SCALING` as AWS does it: a series of SplitShard and MergeShards
//! steps that leaves the open shards over the evenly split key space of the target count.
//!
//! Every old shard is split at each target boundary strictly inside it (one split at a time, the
//! right-hand child split again: the temporary shards AWS speaks of), so every piece lies inside
//! one target range; then the pieces of each target range are merged left to right. So every
//! child has one parent (a split) whose range it shares with its sibling, or two adjacent parents
//! (a merge) whose ranges are exactly its own: a consumer that finishes a shard's parents before
//! reading it reads every hash key in order. An old shard whose range is already a target range
//! stays open.

/// One shard taking part: its index and its hash-key range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub index: u64,
    pub start: u128,
    pub end: u128,
}

/// What applies the steps (the store in production, a model in tests).
pub(crate) trait Reshaper {
    /// Split `shard` at `at` (the right child's starting hash key): the left and right
    /// children's indices.
    fn split(&mut self, shard: Span, at: u128) -> (u64, u64);
    /// Merge `left` with the adjacent `right`: the child's index.
    fn merge(&mut self, left: Span, right: Span) -> u64;
}

/// Reshape the open shards `open` to the ranges `targets` (sorted, tiling the key space, as
/// `open` does).
pub(crate) fn reshape(open: &[Span], targets: &[(u128, u128)], r: &mut impl Reshaper) {
    let mut open = open.to_vec();
    open.sort_by_key(|s| s.start);
    // Splits: every piece ends up inside one target range.
    let mut pieces: Vec<Span> = Vec::with_capacity(open.len() + targets.len());
    for shard in open {
        let mut cur = shard;
        for &(at, _) in targets
            .iter()
            .filter(|(t, _)| *t > shard.start && *t <= shard.end)
        {
            let (left, right) = r.split(cur, at);
            pieces.push(Span {
                index: left,
                start: cur.start,
                end: at - 1,
            });
            cur = Span {
                index: right,
                start: at,
                end: cur.end,
            };
        }
        pieces.push(cur);
    }
    // Merges: the pieces of each target range, left to right.
    let mut it = pieces.into_iter().peekable();
    for &(_, end) in targets {
        let Some(mut acc) = it.next() else { return };
        while acc.end < end {
            let Some(next) = it.next() else { return };
            let index = r.merge(acc, next);
            acc = Span {
                index,
                start: acc.start,
                end: next.end,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::seq::even_ranges;

    /// A model stream: shards with ranges, parents and whether they are open.
    #[derive(Default)]
    struct Model {
        shards: BTreeMap<u64, (u128, u128, Vec<u64>, bool)>,
        next: u64,
    }

    impl Model {
        fn open(&mut self, start: u128, end: u128, parents: Vec<u64>) -> u64 {
            let i = self.next;
            self.next += 1;
            self.shards.insert(i, (start, end, parents, true));
            i
        }
        fn close(&mut self, s: Span) {
            let sh = self.shards.get_mut(&s.index).expect("known shard");
            assert!(sh.3, "shard {} closed twice", s.index);
            assert_eq!((sh.0, sh.1), (s.start, s.end), "range of {}", s.index);
            sh.3 = false;
        }
    }

    impl Reshaper for Model {
        fn split(&mut self, s: Span, at: u128) -> (u64, u64) {
            assert!(s.start < at && at <= s.end);
            self.close(s);
            (
                self.open(s.start, at - 1, vec![s.index]),
                self.open(at, s.end, vec![s.index]),
            )
        }
        fn merge(&mut self, l: Span, r: Span) -> u64 {
            assert_eq!(l.end + 1, r.start, "merged shards are adjacent");
            self.close(l);
            self.close(r);
            self.open(l.start, r.end, vec![l.index, r.index])
        }
    }

    #[test]
    fn every_child_is_covered_exactly_by_its_parents() {
        for n in 1..=40u64 {
            for t in n.div_ceil(2)..=(2 * n).min(40) {
                let mut m = Model::default();
                let open: Vec<Span> = even_ranges(n)
                    .into_iter()
                    .map(|(start, end)| Span {
                        index: m.open(start, end, Vec::new()),
                        start,
                        end,
                    })
                    .collect();
                reshape(&open, &even_ranges(t), &mut m);
                let mut now_open: Vec<(u128, u128)> = m
                    .shards
                    .values()
                    .filter(|s| s.3)
                    .map(|s| (s.0, s.1))
                    .collect();
                now_open.sort();
                assert_eq!(now_open, even_ranges(t), "{n} -> {t}");
                for (i, (start, end, parents, _)) in &m.shards {
                    let ranges: Vec<(u128, u128)> = parents
                        .iter()
                        .map(|p| (m.shards[p].0, m.shards[p].1))
                        .collect();
                    match ranges.as_slice() {
                        [] => assert!(*i < n, "{n} -> {t}: {i} has no parent"),
                        [(ps, pe)] => {
                            // A split: the children of the parent tile it exactly.
                            assert!(ps <= start && end <= pe, "{n} -> {t}: {i}");
                            let mut kids: Vec<(u128, u128)> = m
                                .shards
                                .values()
                                .filter(|c| c.2 == parents.as_slice())
                                .map(|c| (c.0, c.1))
                                .collect();
                            kids.sort();
                            assert_eq!(kids.len(), 2, "{n} -> {t}: {i}");
                            assert_eq!((kids[0].0, kids[1].1), (*ps, *pe));
                            assert_eq!(kids[0].1 + 1, kids[1].0);
                        }
                        [(ls, le), (rs, re)] => {
                            assert_eq!((*ls, *re), (*start, *end), "{n} -> {t}: {i}");
                            assert_eq!(le + 1, *rs, "{n} -> {t}: {i}");
                        }
                        more => panic!("{n} -> {t}: {i} has {} parents", more.len()),
                    }
                }
                // A closed shard's children (those naming it) cover its range exactly.
                for (i, (start, end, _, open)) in &m.shards {
                    if *open {
                        continue;
                    }
                    let kids: Vec<_> = m.shards.values().filter(|c| c.2.contains(i)).collect();
                    let lo = kids.iter().map(|c| c.0).min();
                    let hi = kids.iter().map(|c| c.1).max();
                    match kids.len() {
                        1 => assert!(kids[0].0 <= *start && *end <= kids[0].1, "{n} -> {t}"),
                        2 => assert_eq!((lo, hi), (Some(*start), Some(*end)), "{n} -> {t}"),
                        k => panic!("{n} -> {t}: {i} has {k} children"),
                    }
                }
            }
        }
    }
}

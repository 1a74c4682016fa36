//! Retention of data points by resolution, as AWS keeps them: data as put (1-second
//! high-resolution data, and standard 60-second data) for 3 hours, 60-second data for 15 days,
//! 5-minute data for 63 days, 1-hour data for 455 days. Older data is rolled up into the next
//! coarser resolution by the retention sweeper, on absolute times, in bounded batches; after
//! 455 days it is deleted.
//!
//! A rollup ([`RollupRec`]) is one record per (bucket, unit) at the bucket's start, keyed in the
//! metric's data range like a datum (so a time range is still one key range), with a sequence
//! number no datum gets ([`rollup_seq`]). It keeps SampleCount, Sum, Minimum and Maximum
//! exactly. For percentiles and the other extended statistics it keeps the values when every
//! rolled datum had values (statistic sets have none): equal values merged, and beyond
//! [`MAX_KEPT_VALUES`] distinct values, adjacent values (in value order) merged into groups of
//! about equal weight, each kept as its weighted mean. Percentiles of rolled-up data are
//! therefore exact while a bucket holds at most 150 distinct values, and approximate (each within
//! the range of the values merged) beyond; a bucket with a statistic set has only the extremes.
//!
//! Each metric has a [`MarkRec`]: per level, the time before which that level's data has been
//! rolled (the watermark), and the absolute time the next step is due. A step scans only the
//! range between the watermark and the new cutoff; data put late (older than the watermark of
//! its level) is rolled by the next level's step.
//!
//! Queries read every resolution: a rollup of resolution R answers only periods that are
//! multiples of R (as AWS: data older than 3 hours answers periods of multiples of 60 s, older
//! than 15 days multiples of 5 minutes, older than 63 days multiples of an hour; finer periods
//! find no data there).

use std::collections::BTreeMap;
use std::ops::Bound;

use snapstack_engine::{Key, Partition};

use crate::*;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;

/// A level of data: the resolution of its records and how long they are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tier {
    pub res_ms: u64,
    pub keep_ms: u64,
}

/// Level 0 is the data as put (its resolution is that of high-resolution data).
pub const TIERS: [Tier; 4] = [
    Tier {
        res_ms: 1_000,
        keep_ms: 3 * HOUR,
    },
    Tier {
        res_ms: 60_000,
        keep_ms: 15 * DAY,
    },
    Tier {
        res_ms: 300_000,
        keep_ms: 63 * DAY,
    },
    Tier {
        res_ms: HOUR,
        keep_ms: 455 * DAY,
    },
];

/// Values (with their weights) a rollup keeps for extended statistics.
pub const MAX_KEPT_VALUES: usize = 150;
/// Data records read per store write of a step.
const BATCH: usize = 5000;

/// The level of a data record and its statistics.
pub fn level_of(r: &CwRecord) -> Option<(usize, &PointRec)> {
    match r {
        CwRecord::Point(p) => Some((0, p)),
        CwRecord::Rollup(r) => Some((level_of_res(r.res_ms), &r.point)),
        _ => None,
    }
}

fn level_of_res(res: u64) -> usize {
    TIERS.iter().position(|t| t.res_ms == res).unwrap_or(3)
}

/// The sequence number of the rollup of `level` for a unit: above every datum's.
pub fn rollup_seq(level: usize, unit: Option<&str>) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in unit.unwrap_or("None").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    u64::MAX - ((level as u64) << 32) - u64::from(h)
}

/// Values as at most `max` (value, weight) pairs, sorted by value: equal values merged; beyond
/// `max` distinct values, adjacent ones merged into groups of about equal weight, each kept as
/// its weighted mean (the total weight and the weighted sum are preserved).
pub fn compress(mut vals: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    vals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(vals.len().min(max * 2));
    for (v, w) in vals {
        match merged.last_mut() {
            Some(l) if l.0 == v => l.1 += w,
            _ => merged.push((v, w)),
        }
    }
    let max = max.max(1);
    if merged.len() <= max {
        return merged;
    }
    let total: f64 = merged.iter().map(|x| x.1).sum();
    let target = total / max as f64;
    let mut out = Vec::with_capacity(max);
    let (mut sw, mut swv) = (0.0, 0.0);
    for (v, w) in merged {
        sw += w;
        swv += v * w;
        if sw >= target && out.len() + 1 < max {
            out.push((swv / sw, sw));
            sw = 0.0;
            swv = 0.0;
        }
    }
    if sw > 0.0 {
        out.push((swv / sw, sw));
    }
    out
}

/// Points merged into one statistic set of bucket `ts` (the rollup's point): counts and sums
/// added, extremes kept, values kept (compressed) only if every point had values.
pub fn merge<'a>(
    ts: u64,
    unit: Option<String>,
    points: impl IntoIterator<Item = &'a PointRec>,
) -> Option<PointRec> {
    let mut out = PointRec {
        ts_ms: ts,
        unit,
        count: 0.0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        values: Vec::new(),
        high_resolution: false,
    };
    let mut any = false;
    let mut exact = true;
    let mut vals = Vec::new();
    for p in points {
        any = true;
        out.count += p.count;
        out.sum += p.sum;
        out.min = out.min.min(p.min);
        out.max = out.max.max(p.max);
        if p.values.is_empty() {
            exact = false;
        } else if exact {
            vals.extend(p.values.iter().copied());
        }
    }
    if !any {
        return None;
    }
    if exact {
        out.values = compress(vals, MAX_KEPT_VALUES);
    }
    Some(out)
}

/// The time before which data of `level` leaves it at `now` (aligned to the next level's
/// resolution, so a bucket is rolled whole).
fn cutoff(level: usize, now: u64) -> u64 {
    let step = TIERS[(level + 1).min(3)].res_ms;
    now.saturating_sub(TIERS[level].keep_ms) / step * step
}

/// When the cutoff of `level` next moves past `done`.
fn next_due(level: usize, done: u64) -> u64 {
    let step = TIERS[(level + 1).min(3)].res_ms;
    done.saturating_add(step)
        .saturating_add(TIERS[level].keep_ms)
}

impl CloudWatch {
    /// Roll up (and at the end delete) the data of every metric whose next step is due at
    /// `now`. Returns how many data records were removed (rolled into a coarser record or
    /// deleted).
    pub fn rollup(&self, now: u64) -> usize {
        let mut removed = 0;
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let metrics: Vec<(MetricRec, Option<MarkRec>)> = snap
                .scan_prefix(&metrics_prefix(&p))
                .filter_map(|(_, r)| match r {
                    CwRecord::Metric(m) => Some(m.clone()),
                    _ => None,
                })
                .map(|m| {
                    let mk = mark_key(&p, &m.namespace, &m.name, &dim_key(&m.dims));
                    let mark = match snap.get(&mk) {
                        Some(CwRecord::RollupMark(x)) => Some(x.clone()),
                        _ => None,
                    };
                    (m, mark)
                })
                .filter(|(_, mark)| mark.as_ref().is_none_or(|x| x.due_ms <= now))
                .collect();
            drop(snap);
            for (m, mark) in metrics {
                removed += self.rollup_metric(&p, &m, mark, now);
            }
        }
        removed
    }

    fn rollup_metric(
        &self,
        p: &Partition,
        m: &MetricRec,
        mark: Option<MarkRec>,
        now: u64,
    ) -> usize {
        let dk = dim_key(&m.dims);
        let mut mark = mark.unwrap_or_else(|| MarkRec {
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            dims: m.dims.clone(),
            done: vec![0; 4],
            due_ms: 0,
        });
        mark.done.resize(4, 0);
        let mut removed = 0;
        for (level, done) in mark.done.iter_mut().enumerate().take(4) {
            let to = cutoff(level, now);
            if to <= *done {
                continue;
            }
            removed += self.roll_range(p, m, &dk, level, *done, to);
            *done = to;
        }
        mark.due_ms = mark
            .done
            .iter()
            .enumerate()
            .take(4)
            .map(|(l, d)| next_due(l, *d))
            .min()
            .unwrap_or(u64::MAX);
        let mk = mark_key(p, &m.namespace, &m.name, &dk);
        let metric_key = metric_key(p, &m.namespace, &m.name, &m.dims);
        let range = points_prefix(p, &m.namespace, &m.name, &dk);
        self.store.write(|txn| {
            // A metric with no data left that received none for the longest retention goes.
            let stale = match txn.get(&metric_key) {
                Some(CwRecord::Metric(cur)) => cur.last_ms + TIERS[3].keep_ms <= now,
                _ => true,
            };
            if stale && txn.scan_prefix(&range).next().is_none() {
                txn.remove(&metric_key);
                txn.remove(&mk);
            } else {
                txn.insert(mk.clone(), CwRecord::RollupMark(mark.clone()));
            }
        });
        removed
    }

    /// Roll the data of `level` and below in [from, to) into `level + 1` (level 3: delete it).
    fn roll_range(
        &self,
        p: &Partition,
        m: &MetricRec,
        dk: &str,
        level: usize,
        from: u64,
        to: u64,
    ) -> usize {
        let (ns, name) = (m.namespace.as_str(), m.name.as_str());
        let hi = point_key(p, ns, name, dk, to, 0);
        let mut pos = Bound::Included(point_key(p, ns, name, dk, from, 0));
        let mut removed = 0;
        loop {
            let snap = self.store.snapshot();
            let mut batch: Vec<(Key, PointRec)> = Vec::new();
            let mut last = None;
            let mut seen = 0;
            let mut finished = true;
            for (k, r) in snap.range((pos.clone(), Bound::Excluded(hi.clone()))) {
                seen += 1;
                last = Some(k.clone());
                if let Some((l, pt)) = level_of(r)
                    && l <= level
                {
                    batch.push((k.clone(), pt.clone()));
                }
                if batch.len() >= BATCH || seen >= 4 * BATCH {
                    finished = false;
                    break;
                }
            }
            drop(snap);
            let Some(last) = last else { break };
            removed += batch.len();
            if level == 3 {
                self.store.write(|txn| {
                    for (k, _) in &batch {
                        txn.remove(k);
                    }
                });
            } else if !batch.is_empty() {
                let res = TIERS[level + 1].res_ms;
                let mut groups: BTreeMap<(u64, Option<String>), Vec<PointRec>> = BTreeMap::new();
                for (_, pt) in &batch {
                    groups
                        .entry((pt.ts_ms / res * res, pt.unit.clone()))
                        .or_default()
                        .push(pt.clone());
                }
                self.store.write(|txn| {
                    for (k, _) in &batch {
                        txn.remove(k);
                    }
                    for ((b, unit), pts) in groups {
                        let key =
                            point_key(p, ns, name, dk, b, rollup_seq(level + 1, unit.as_deref()));
                        let existing = match txn.get(&key) {
                            Some(CwRecord::Rollup(r)) => Some(r.point.clone()),
                            _ => None,
                        };
                        if let Some(point) = merge(b, unit, existing.iter().chain(pts.iter())) {
                            txn.insert(key, CwRecord::Rollup(RollupRec { res_ms: res, point }));
                        }
                    }
                });
            }
            if finished {
                break;
            }
            pos = Bound::Excluded(last);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use snapstack_service::RequestContext;

    /// 2023-11-14T23:00:00Z, on an hour.
    const NOW: u64 = 1_700_002_800_000;

    fn stats(c: &CloudWatch, ctx: &RequestContext, start: u64, end: u64, period: u64) -> Value {
        c.handle(
            ctx,
            "GetMetricStatistics",
            &json!({"Namespace": "R", "MetricName": "m", "StartTime": start as f64 / 1000.0,
                "EndTime": end as f64 / 1000.0, "Period": period,
                "Statistics": ["SampleCount", "Sum", "Minimum", "Maximum"], "ExtendedStatistics": ["p50"]}),
        )
        .unwrap()
        .value
    }

    fn totals(v: &Value) -> (f64, f64, f64, f64) {
        let dps = v["Datapoints"].as_array().unwrap();
        let f = |d: &Value, k: &str| d[k].as_f64().unwrap();
        (
            dps.iter().map(|d| f(d, "SampleCount")).sum(),
            dps.iter().map(|d| f(d, "Sum")).sum(),
            dps.iter()
                .map(|d| f(d, "Minimum"))
                .fold(f64::INFINITY, f64::min),
            dps.iter()
                .map(|d| f(d, "Maximum"))
                .fold(f64::NEG_INFINITY, f64::max),
        )
    }

    fn data_records(c: &CloudWatch) -> Vec<(usize, u64)> {
        c.store
            .snapshot()
            .iter()
            .filter_map(|(_, r)| level_of(r).map(|(l, p)| (l, p.ts_ms)))
            .collect()
    }

    #[test]
    fn data_rolls_up_through_every_resolution_and_goes() {
        let c = CloudWatch::new();
        c.set_clock(NOW);
        let ctx = RequestContext::from_scope(None);
        // Two hours of high-resolution data, one datum every 10 s, values 0..720.
        let start = NOW - 2 * HOUR;
        for chunk in (0..720u64).collect::<Vec<_>>().chunks(500) {
            let data: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({"MetricName": "m", "Value": *i as f64, "StorageResolution": 1,
                    "Timestamp": (start + i * 10_000) as f64 / 1000.0})
                })
                .collect();
            c.handle(
                &ctx,
                "PutMetricData",
                &json!({"Namespace": "R", "MetricData": data}),
            )
            .unwrap();
        }
        let end = NOW;
        let before = totals(&stats(&c, &ctx, start, end, 3600));
        assert_eq!(before, (720.0, 719.0 * 720.0 / 2.0, 0.0, 719.0));
        assert_eq!(
            stats(&c, &ctx, start, start + 600_000, 10)["Datapoints"]
                .as_array()
                .unwrap()
                .len(),
            60
        );
        // Nothing is due yet: every datum is younger than 3 hours.
        assert_eq!(c.rollup(NOW), 0);
        let marks = |c: &CloudWatch| {
            c.store
                .snapshot()
                .iter()
                .filter_map(|(_, r)| match r {
                    CwRecord::RollupMark(m) => Some(m.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let due = marks(&c)[0].due_ms;
        assert!(due > NOW && due <= NOW + 60_000, "{due}");
        // 4 hours later: the data is 60-second data (one rollup a minute), same statistics.
        let t = NOW + 4 * HOUR;
        c.set_clock(t);
        assert_eq!(c.rollup(t), 720);
        let recs = data_records(&c);
        assert_eq!(recs.len(), 120);
        assert!(recs.iter().all(|(l, ts)| *l == 1 && ts % 60_000 == 0));
        assert_eq!(totals(&stats(&c, &ctx, start, end, 3600)), before);
        // Six 10-second datums per minute, values 6k..6k+5: the median of the first minute.
        let first = stats(&c, &ctx, start, start + 60_000, 60);
        assert_eq!(first["Datapoints"][0]["ExtendedStatistics"]["p50"], 2.0);
        // Periods finer than the data left find nothing (the 1-second data is gone).
        assert_eq!(
            stats(&c, &ctx, start, start + 600_000, 10)["Datapoints"],
            json!([])
        );
        // A step is idempotent: nothing more is due.
        assert_eq!(c.rollup(t), 0);
        // 16 days: 5-minute data; 60-second periods find nothing, 300-second ones everything.
        let t = NOW + 16 * DAY;
        c.set_clock(t);
        assert_eq!(c.rollup(t), 120);
        assert_eq!(data_records(&c).len(), 24);
        assert_eq!(stats(&c, &ctx, start, end, 60)["Datapoints"], json!([]));
        assert_eq!(totals(&stats(&c, &ctx, start, end, 300)), before);
        // 64 days: 1-hour data (the two hours hold 2 or 3 hour buckets).
        let t = NOW + 64 * DAY;
        c.set_clock(t);
        assert_eq!(c.rollup(t), 24);
        assert!(data_records(&c).iter().all(|(l, _)| *l == 3));
        assert_eq!(stats(&c, &ctx, start, end, 300)["Datapoints"], json!([]));
        let hourly = stats(&c, &ctx, start / HOUR * HOUR, end, 3600);
        assert_eq!(totals(&hourly), before);
        // 456 days: deleted, and the metric with it.
        let t = NOW + 456 * DAY;
        c.set_clock(t);
        assert!(c.rollup(t) > 0);
        assert!(data_records(&c).is_empty());
        assert!(marks(&c).is_empty());
        let listed = c.handle(&ctx, "ListMetrics", &json!({})).unwrap().value;
        assert_eq!(listed["Metrics"], json!([]));
    }

    #[test]
    fn late_data_is_rolled_by_the_next_step_and_statistic_sets_keep_extremes() {
        let c = CloudWatch::new();
        c.set_clock(NOW);
        let ctx = RequestContext::from_scope(None);
        let put = |ts: u64, d: Value| {
            let mut d = d;
            d["MetricName"] = json!("m");
            d["Timestamp"] = json!(ts as f64 / 1000.0);
            c.handle(
                &ctx,
                "PutMetricData",
                &json!({"Namespace": "R", "MetricData": [d]}),
            )
            .unwrap();
        };
        put(NOW - 60_000, json!({"Value": 5.0}));
        let t = NOW + 4 * HOUR;
        c.set_clock(t);
        c.rollup(t);
        // A datum put 5 days in the past, after the 3-hour step went by: still answered, and
        // rolled with the 15-day step.
        let late = t - 5 * DAY;
        put(
            late,
            json!({"StatisticValues": {"SampleCount": 4.0, "Sum": 40.0, "Minimum": 1.0, "Maximum": 20.0}}),
        );
        put(late + 1000, json!({"Value": 7.0}));
        let r = stats(&c, &ctx, late - 60_000, late + 60_000, 60);
        assert_eq!(totals(&r), (5.0, 47.0, 1.0, 20.0));
        let t2 = t + 16 * DAY;
        c.set_clock(t2);
        c.rollup(t2);
        let r = stats(&c, &ctx, late / HOUR * HOUR, late / HOUR * HOUR + HOUR, 300);
        assert_eq!(totals(&r), (5.0, 47.0, 1.0, 20.0));
        // A statistic set was rolled in: no percentile, only the extremes.
        assert!(
            r["Datapoints"][0]["ExtendedStatistics"]
                .get("p50")
                .is_none(),
            "{r}"
        );
    }

    #[test]
    fn new_records_round_trip_postcard() {
        let recs = [
            CwRecord::Rollup(RollupRec {
                res_ms: 60_000,
                point: point(60_000, &[(1.0, 2.0)], None),
            }),
            CwRecord::RollupMark(MarkRec {
                namespace: "n".into(),
                name: "m".into(),
                dims: vec![("a".into(), "b".into())],
                done: vec![1, 2, 3, 4],
                due_ms: 5,
            }),
            CwRecord::StreamDelivery(StreamDeliveryRec {
                id: "i".into(),
                stream: "s".into(),
                firehose_arn: "arn".into(),
                records: vec!["{}\n".into()],
                created_ms: 1,
                due_ms: 2,
                attempts: 3,
                last_error: Some("e".into()),
            }),
        ];
        for r in recs {
            let b = postcard::to_allocvec(&r).unwrap();
            assert_eq!(postcard::from_bytes::<CwRecord>(&b).unwrap(), r);
        }
        // The variants are appended: the older ones keep their tags.
        let b = postcard::to_allocvec(&CwRecord::Rollup(RollupRec {
            res_ms: 1,
            point: point(0, &[(1.0, 1.0)], None),
        }))
        .unwrap();
        assert_eq!(b[0], 8);
    }

    #[test]
    fn compress_keeps_weight_and_bounds() {
        let vals: Vec<(f64, f64)> = (0..1000).map(|i| (f64::from(i), 1.0)).collect();
        let c = compress(vals, MAX_KEPT_VALUES);
        assert!(c.len() <= MAX_KEPT_VALUES);
        assert_eq!(c.iter().map(|x| x.1).sum::<f64>(), 1000.0);
        assert!((c.iter().map(|x| x.0 * x.1).sum::<f64>() - 499_500.0).abs() < 1e-6);
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(compress(vec![(1.0, 1.0), (1.0, 2.0)], 4), vec![(1.0, 3.0)]);
    }

    fn point(ts: u64, vals: &[(f64, f64)], set: Option<(f64, f64, f64, f64)>) -> PointRec {
        match set {
            Some((count, sum, min, max)) => PointRec {
                ts_ms: ts,
                unit: None,
                count,
                sum,
                min,
                max,
                values: vec![],
                high_resolution: false,
            },
            None => PointRec {
                ts_ms: ts,
                unit: None,
                count: vals.iter().map(|x| x.1).sum(),
                sum: vals.iter().map(|x| x.0 * x.1).sum(),
                min: vals.iter().map(|x| x.0).fold(f64::INFINITY, f64::min),
                max: vals.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max),
                values: vals.to_vec(),
                high_resolution: true,
            },
        }
    }

    proptest! {
        /// A rollup (merged in any grouping, as batches do) preserves SampleCount, Sum,
        /// Minimum and Maximum, and keeps its values bounded and within the extremes.
        #[test]
        fn rollup_preserves_statistic_sets(
            pts in prop::collection::vec(
                (prop::collection::vec((-1e6f64..1e6, 1.0f64..5.0), 1..40), prop::option::of((1.0f64..100.0, -1e6f64..1e6, -1e6f64..0.0, 0.0f64..1e6)), 0u64..300_000),
                1..60),
            split in 0usize..60,
        ) {
            let points: Vec<PointRec> = pts.iter().map(|(v, s, ts)| point(*ts, v, *s)).collect();
            let whole = merge(0, None, points.iter()).unwrap();
            // Batches: a part merged first, then merged with the rest (as a step resumes).
            let k = split.min(points.len());
            let first = merge(0, None, points[..k].iter());
            let resumed = merge(0, None, first.iter().chain(points[k..].iter())).unwrap();
            let count: f64 = points.iter().map(|p| p.count).sum();
            let sum: f64 = points.iter().map(|p| p.sum).sum();
            let min = points.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
            let max = points.iter().map(|p| p.max).fold(f64::NEG_INFINITY, f64::max);
            for r in [&whole, &resumed] {
                prop_assert!((r.count - count).abs() <= 1e-9 * count.abs().max(1.0));
                prop_assert!((r.sum - sum).abs() <= 1e-6 * sum.abs().max(1.0));
                prop_assert_eq!(r.min, min);
                prop_assert_eq!(r.max, max);
                prop_assert!(r.values.len() <= MAX_KEPT_VALUES);
                prop_assert!(r.values.iter().all(|(v, _)| *v >= min - 1e-6 && *v <= max + 1e-6));
                if !r.values.is_empty() {
                    let w: f64 = r.values.iter().map(|x| x.1).sum();
                    prop_assert!((w - count).abs() <= 1e-9 * count.max(1.0));
                }
            }
            let all_exact = points.iter().all(|p| !p.values.is_empty());
            prop_assert_eq!(!whole.values.is_empty(), all_exact);
        }
    }
}

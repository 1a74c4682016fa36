//! Statistics over the datapoints of a period: SampleCount, Sum, Average, Minimum, Maximum, and
//! the extended statistics: percentiles `pNN[.NN]`, trimmed mean `tmNN` / `TM(a%:b%)`, winsorized
//! mean `wmNN` / `WM(a%:b%)`, trimmed count `tcNN` / `TC(..)`, trimmed sum `tsNN` / `TS(..)`,
//! percentile rank `PR(a:b)` and `IQM`.

use crate::model::PointRec;

/// The aggregate of a period's points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agg {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// (value, weight), sorted by value: the raw values, for extended statistics.
    pub values: Vec<(f64, f64)>,
    /// Whether every point had raw values (statistic sets have none).
    pub exact: bool,
}

impl Agg {
    /// An empty aggregate, to [`add`](Agg::add) points to.
    pub fn empty() -> Agg {
        Agg {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            exact: true,
            ..Agg::default()
        }
    }

    /// Add a point; its raw values only when `values` (extended statistics need them, the
    /// standard ones do not).
    pub fn add(&mut self, p: &PointRec, values: bool) {
        self.count += p.count;
        self.sum += p.sum;
        self.min = self.min.min(p.min);
        self.max = self.max.max(p.max);
        if p.values.is_empty() {
            self.exact = false;
        } else if values {
            self.values.extend(p.values.iter().copied());
        }
    }

    /// The aggregate complete: its values sorted.
    pub fn finish(mut self) -> Agg {
        self.values
            .sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
        self
    }

    pub fn of<'a>(points: impl IntoIterator<Item = &'a PointRec>) -> Option<Agg> {
        let mut a = Agg::empty();
        let mut any = false;
        for p in points {
            any = true;
            a.add(p, true);
        }
        any.then(|| a.finish())
    }

    /// A standard or extended statistic by name; `None` when it cannot be computed.
    pub fn stat(&self, name: &str) -> Option<f64> {
        match name {
            "SampleCount" => Some(self.count),
            "Sum" => Some(self.sum),
            "Average" => (self.count > 0.0).then(|| self.sum / self.count),
            "Minimum" => Some(self.min),
            "Maximum" => Some(self.max),
            _ => self.extended(name),
        }
    }

    fn total(&self) -> f64 {
        self.values.iter().map(|v| v.1).sum()
    }

    /// The value at percentile `p` (0-100): nearest rank over the weighted values.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if !self.exact || self.values.is_empty() {
            // A statistic set alone: only the extremes are known.
            return match p {
                x if x <= 0.0 => Some(self.min),
                x if x >= 100.0 => Some(self.max),
                _ => None,
            };
        }
        let total = self.total();
        let rank = (p / 100.0 * total).ceil().max(1.0);
        let mut seen = 0.0;
        for &(v, w) in &self.values {
            seen += w;
            if seen >= rank {
                return Some(v);
            }
        }
        self.values.last().map(|v| v.0)
    }

    /// The values between two percentiles (as weights), for the trimmed statistics.
    fn between(&self, lo: f64, hi: f64) -> Vec<(f64, f64)> {
        let (Some(a), Some(b)) = (self.percentile(lo), self.percentile(hi)) else {
            return Vec::new();
        };
        self.values
            .iter()
            .copied()
            .filter(|&(v, _)| (lo <= 0.0 || v > a) && v <= b)
            .collect()
    }

    fn extended(&self, name: &str) -> Option<f64> {
        let (kind, lo, hi) = parse_extended(name)?;
        match kind {
            Ext::P => self.percentile(hi),
            Ext::Tm => {
                let s = self.between(lo, hi);
                let w: f64 = s.iter().map(|x| x.1).sum();
                (w > 0.0).then(|| s.iter().map(|x| x.0 * x.1).sum::<f64>() / w)
            }
            Ext::Tc => Some(self.between(lo, hi).iter().map(|x| x.1).sum()),
            Ext::Ts => Some(self.between(lo, hi).iter().map(|x| x.0 * x.1).sum()),
            Ext::Wm => {
                let (a, b) = (self.percentile(lo.max(0.0))?, self.percentile(hi)?);
                let total = self.total();
                (total > 0.0).then(|| {
                    self.values
                        .iter()
                        .map(|&(v, w)| v.clamp(a, b) * w)
                        .sum::<f64>()
                        / total
                })
            }
            Ext::Pr => {
                // PR(lo:hi): the percentage of values in [lo, hi] (values, not percentiles).
                let total = self.total();
                (total > 0.0).then(|| {
                    100.0
                        * self
                            .values
                            .iter()
                            .filter(|&&(v, _)| v >= lo && v <= hi)
                            .map(|x| x.1)
                            .sum::<f64>()
                        / total
                })
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ext {
    P,
    Tm,
    Wm,
    Tc,
    Ts,
    Pr,
}

/// `p99`, `p99.9`, `tm90`, `TM(10%:90%)`, `PR(100:2000)`, `IQM`, ...: the kind and its bounds
/// (percentiles, or values for `PR`).
fn parse_extended(name: &str) -> Option<(Ext, f64, f64)> {
    if name == "IQM" {
        return Some((Ext::Tm, 25.0, 75.0));
    }
    let pct = |s: &str| -> Option<f64> {
        let s = s.trim();
        let v: f64 = s.strip_suffix('%').unwrap_or(s).parse().ok()?;
        (0.0..=100.0).contains(&v).then_some(v)
    };
    let kinds = [
        ("p", Ext::P),
        ("tm", Ext::Tm),
        ("wm", Ext::Wm),
        ("tc", Ext::Tc),
        ("ts", Ext::Ts),
        ("pr", Ext::Pr),
    ];
    let lower = name.to_ascii_lowercase();
    for (prefix, kind) in kinds {
        let Some(rest) = lower.strip_prefix(prefix) else {
            continue;
        };
        if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            let (a, b) = inner.split_once(':')?;
            if kind == Ext::Pr {
                let lo = if a.trim().is_empty() {
                    f64::NEG_INFINITY
                } else {
                    a.trim().parse().ok()?
                };
                let hi = if b.trim().is_empty() {
                    f64::INFINITY
                } else {
                    b.trim().parse().ok()?
                };
                return Some((kind, lo, hi));
            }
            let lo = if a.trim().is_empty() { 0.0 } else { pct(a)? };
            let hi = if b.trim().is_empty() { 100.0 } else { pct(b)? };
            return (lo <= hi && kind != Ext::P).then_some((kind, lo, hi));
        }
        if kind == Ext::Pr || !rest.chars().next()?.is_ascii_digit() {
            continue;
        }
        let v = pct(rest)?;
        return Some((kind, 0.0, v));
    }
    None
}

/// Whether a statistic name is valid (standard or extended).
pub fn valid_stat(name: &str) -> bool {
    matches!(
        name,
        "SampleCount" | "Sum" | "Average" | "Minimum" | "Maximum"
    ) || parse_extended(name).is_some()
}

/// Whether a name is an extended statistic (not one of the five standard ones).
pub fn is_extended(name: &str) -> bool {
    parse_extended(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(vals: &[f64]) -> PointRec {
        PointRec {
            ts_ms: 0,
            unit: None,
            count: vals.len() as f64,
            sum: vals.iter().sum(),
            min: vals.iter().copied().fold(f64::INFINITY, f64::min),
            max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            values: vals.iter().map(|v| (*v, 1.0)).collect(),
            high_resolution: false,
        }
    }

    #[test]
    fn standard_and_extended() {
        let vals: Vec<f64> = (1..=100).map(f64::from).collect();
        let a = Agg::of([&pt(&vals)]).unwrap();
        assert_eq!(a.stat("SampleCount"), Some(100.0));
        assert_eq!(a.stat("Sum"), Some(5050.0));
        assert_eq!(a.stat("Average"), Some(50.5));
        assert_eq!(a.stat("p50"), Some(50.0));
        assert_eq!(a.stat("p99"), Some(99.0));
        assert_eq!(a.stat("p100"), Some(100.0));
        assert_eq!(a.stat("tc90"), Some(90.0));
        assert_eq!(a.stat("ts10"), Some(55.0));
        assert_eq!(a.stat("PR(:10)"), Some(10.0));
        assert!(a.stat("IQM").is_some());
        assert_eq!(a.stat("TM(:10%)"), Some(5.5));
        assert!(a.stat("wm90").is_some());
        assert!(!valid_stat("p101"));
        assert!(!valid_stat("Avg"));
        assert!(valid_stat("p99.9"));
    }

    #[test]
    fn statistic_sets_have_only_extremes() {
        let s = PointRec {
            ts_ms: 0,
            unit: None,
            count: 10.0,
            sum: 100.0,
            min: 1.0,
            max: 30.0,
            values: vec![],
            high_resolution: false,
        };
        let a = Agg::of([&s]).unwrap();
        assert_eq!(a.stat("Average"), Some(10.0));
        assert_eq!(a.stat("p50"), None);
    }

    proptest! {
        #[test]
        fn percentiles_are_monotone_and_bounded(vals in prop::collection::vec(-1e6f64..1e6, 1..200), p in 0.0f64..100.0, q in 0.0f64..100.0) {
            let a = Agg::of([&pt(&vals)]).unwrap();
            let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
            let (x, y) = (a.percentile(lo).unwrap(), a.percentile(hi).unwrap());
            prop_assert!(x <= y);
            prop_assert!(x >= a.min && y <= a.max);
            let avg = a.stat("Average").unwrap();
            prop_assert!(avg >= a.min - 1e-6 && avg <= a.max + 1e-6);
        }

        #[test]
        fn stat_names_never_panic(name in ".{0,20}") {
            let a = Agg::of([&pt(&[1.0, 2.0])]).unwrap();
            let _ = a.stat(&name);
            let _ = valid_stat(&name);
        }
    }
}

//! The metrics AWS publishes for SQS (`AWS/SQS`, dimension `QueueName`), reported to CloudWatch
//! once per interval: the request counters (NumberOfMessagesSent, NumberOfMessagesReceived,
//! NumberOfMessagesDeleted, NumberOfEmptyReceives, SentMessageSize), counted on the request path
//! in memory, and the queue's state at report time (ApproximateNumberOfMessagesVisible,
//! ApproximateNumberOfMessagesNotVisible, ApproximateNumberOfMessagesDelayed,
//! ApproximateAgeOfOldestMessage).
//!
//! As AWS does, only active queues report: those that hold messages, or that a counted call
//! touched within the last six hours. LocalStack's switches apply:
//! `SQS_DISABLE_CLOUDWATCH_METRICS=1` turns reporting off, and
//! `SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL` (seconds, default 60) sets the interval. The
//! counters are never saved: a stop or a crash loses the last partial interval.

use std::collections::HashMap;

use snapstack_engine::{Partition, Snapshot};
use snapstack_service::metrics::{Datum, Report, Settings, StatSet, Tally};

use crate::model::{self, MsgState, Rec};
use crate::queue::retention_ms;

pub const NAMESPACE: &str = "AWS/SQS";
pub const DISABLE_VARIABLE: &str = "SQS_DISABLE_CLOUDWATCH_METRICS";
pub const INTERVAL_VARIABLE: &str = "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL";
/// How long a queue stays active after a counted call (AWS: up to six hours).
const ACTIVE_MS: u64 = 6 * 3600 * 1000;

/// What the requests of one interval did to one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueueCounts {
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    pub empty_receives: u64,
    pub sizes: StatSet,
}

/// The counters of the SQS service, and whether it reports at all.
pub struct SqsMetrics {
    pub settings: Settings,
    tally: Tally<QueueCounts>,
}

impl SqsMetrics {
    pub fn from_env() -> Self {
        Self::new(Settings::from_env(DISABLE_VARIABLE, INTERVAL_VARIABLE))
    }

    pub fn new(settings: Settings) -> Self {
        SqsMetrics {
            settings,
            tally: Tally::default(),
        }
    }

    fn count(&self, p: &Partition, queue: &str, f: impl FnOnce(&mut QueueCounts)) {
        if self.settings.enabled {
            self.tally.with(p, queue, f);
        }
    }

    /// Messages sent, with their sizes (body and attributes, in bytes).
    pub fn sent(&self, p: &Partition, queue: &str, n: u64, sizes: StatSet) {
        self.count(p, queue, |c| {
            c.sent += n;
            merge(&mut c.sizes, &sizes);
        });
    }

    /// A receive that returned `n` messages (0: an empty receive).
    pub fn received(&self, p: &Partition, queue: &str, n: u64) {
        self.count(p, queue, |c| {
            if n == 0 {
                c.empty_receives += 1;
            } else {
                c.received += n;
            }
        });
    }

    pub fn deleted(&self, p: &Partition, queue: &str, n: u64) {
        self.count(p, queue, |c| c.deleted += n);
    }

    pub fn drain(&self) -> HashMap<Partition, HashMap<String, QueueCounts>> {
        self.tally.drain()
    }
}

fn merge(a: &mut StatSet, b: &StatSet) {
    if b.is_empty() {
        return;
    }
    a.count += b.count;
    a.sum += b.sum;
    a.min = a.min.min(b.min);
    a.max = a.max.max(b.max);
}

/// A queue's messages at a time: visible, in flight, delayed, and the send time of the oldest.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gauges {
    pub visible: u64,
    pub not_visible: u64,
    pub delayed: u64,
    pub oldest_sent_ms: Option<u64>,
}

impl Gauges {
    fn holds_messages(&self) -> bool {
        self.visible + self.not_visible + self.delayed > 0
    }
}

/// Every queue's gauges at `now`.
pub fn gauges(snap: &Snapshot<Rec>, now: u64) -> Vec<(Partition, String, Gauges)> {
    let queues: Vec<(Partition, &model::QueueRec)> = snap
        .iter()
        .filter_map(|(k, r)| match r {
            Rec::Queue(q) => Some((model::partition_of(k)?, q)),
            _ => None,
        })
        .collect();
    queues
        .into_iter()
        .map(|(p, q)| {
            let retention = retention_ms(q);
            let mut g = Gauges::default();
            for (_, r) in snap.scan_prefix(&model::messages_prefix(&p, &q.name)) {
                let Some(m) = r.message() else { continue };
                if m.sent_ms.saturating_add(retention) <= now {
                    continue;
                }
                match m.state(now) {
                    MsgState::Visible => g.visible += 1,
                    MsgState::InFlight => g.not_visible += 1,
                    MsgState::Delayed => g.delayed += 1,
                }
                g.oldest_sent_ms = Some(g.oldest_sent_ms.map_or(m.sent_ms, |o| o.min(m.sent_ms)));
            }
            let name = q.name.clone();
            (p, name, g)
        })
        .collect()
}

/// The report of one interval: the counters drained, the gauges of the store at `now`. Keeps
/// the last activity of each queue in `active`.
pub struct Reporter {
    active: HashMap<(Partition, String), u64>,
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter {
    pub fn new() -> Self {
        Reporter {
            active: HashMap::new(),
        }
    }

    pub fn report(
        &mut self,
        counts: HashMap<Partition, HashMap<String, QueueCounts>>,
        gauges: Vec<(Partition, String, Gauges)>,
        now: u64,
    ) -> Report {
        let mut by_queue: HashMap<(Partition, String), (QueueCounts, Option<Gauges>)> =
            HashMap::new();
        for (p, per) in counts {
            for (q, c) in per {
                self.active.insert((p.clone(), q.clone()), now);
                by_queue.entry((p.clone(), q)).or_default().0 = c;
            }
        }
        for (p, q, g) in gauges {
            let key = (p, q);
            let recent = self
                .active
                .get(&key)
                .is_some_and(|t| now.saturating_sub(*t) < ACTIVE_MS);
            if g.holds_messages() || recent || by_queue.contains_key(&key) {
                by_queue.entry(key).or_default().1 = Some(g);
            }
        }
        self.active
            .retain(|_, t| now.saturating_sub(*t) < ACTIVE_MS);
        let mut out: HashMap<Partition, Vec<Datum>> = HashMap::new();
        let mut keys: Vec<_> = by_queue.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for ((p, q), (c, g)) in keys {
            let data = out.entry(p).or_default();
            data.extend(datums(&q, &c, g.as_ref(), now));
        }
        let mut report: Report = out.into_iter().collect();
        report.sort_by(|a, b| a.0.cmp(&b.0));
        report
    }
}

/// One queue's datums.
pub fn datums(queue: &str, c: &QueueCounts, g: Option<&Gauges>, now: u64) -> Vec<Datum> {
    let dims = [("QueueName", queue)];
    let mut d = vec![
        Datum::value("NumberOfMessagesSent", &dims, "Count", c.sent as f64),
        Datum::value(
            "NumberOfMessagesReceived",
            &dims,
            "Count",
            c.received as f64,
        ),
        Datum::value("NumberOfMessagesDeleted", &dims, "Count", c.deleted as f64),
        Datum::value(
            "NumberOfEmptyReceives",
            &dims,
            "Count",
            c.empty_receives as f64,
        ),
    ];
    if !c.sizes.is_empty() {
        d.push(Datum::stats("SentMessageSize", &dims, "Bytes", c.sizes));
    }
    if let Some(g) = g {
        d.push(Datum::value(
            "ApproximateNumberOfMessagesVisible",
            &dims,
            "Count",
            g.visible as f64,
        ));
        d.push(Datum::value(
            "ApproximateNumberOfMessagesNotVisible",
            &dims,
            "Count",
            g.not_visible as f64,
        ));
        d.push(Datum::value(
            "ApproximateNumberOfMessagesDelayed",
            &dims,
            "Count",
            g.delayed as f64,
        ));
        let age = g.oldest_sent_ms.map_or(0, |t| now.saturating_sub(t) / 1000);
        d.push(Datum::value(
            "ApproximateAgeOfOldestMessage",
            &dims,
            "Seconds",
            age as f64,
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn on() -> SqsMetrics {
        SqsMetrics::new(Settings {
            enabled: true,
            interval: Duration::from_secs(1),
        })
    }

    fn value(data: &[Datum], name: &str) -> Option<f64> {
        data.iter()
            .find(|d| d.name == name)
            .map(|d| match d.sample {
                snapstack_service::metrics::Sample::Value(x) => x,
                snapstack_service::metrics::Sample::Stats(s) => s.sum,
            })
    }

    #[test]
    fn counters_aggregate_per_queue_and_reset() {
        let m = on();
        let p = Partition::new("000000000000", "us-east-1");
        let mut s = StatSet::default();
        s.add(10.0);
        m.sent(&p, "q", 1, s);
        let mut s = StatSet::default();
        s.add(5.0);
        s.add(20.0);
        m.sent(&p, "q", 2, s);
        m.received(&p, "q", 2);
        m.received(&p, "q", 0);
        m.received(&p, "q", 0);
        m.deleted(&p, "q", 2);
        let c = m.drain();
        let q = c[&p]["q"];
        assert_eq!(
            (q.sent, q.received, q.deleted, q.empty_receives),
            (3, 2, 2, 2)
        );
        assert_eq!(
            (q.sizes.count, q.sizes.sum, q.sizes.min, q.sizes.max),
            (3.0, 35.0, 5.0, 20.0)
        );
        assert!(m.drain().is_empty());
    }

    #[test]
    fn disabled_counts_nothing() {
        let m = SqsMetrics::new(Settings {
            enabled: false,
            interval: Duration::from_secs(60),
        });
        let p = Partition::new("000000000000", "us-east-1");
        m.received(&p, "q", 1);
        assert!(m.drain().is_empty());
    }

    #[test]
    fn only_active_queues_report_and_stay_active_six_hours() {
        let p = Partition::new("000000000000", "us-east-1");
        let mut r = Reporter::new();
        let idle = Gauges::default();
        let full = Gauges {
            visible: 2,
            not_visible: 1,
            delayed: 0,
            oldest_sent_ms: Some(1_000),
        };
        // An idle queue nobody touched does not report; one holding messages does.
        let rep = r.report(
            HashMap::new(),
            vec![
                (p.clone(), "idle".into(), idle),
                (p.clone(), "full".into(), full),
            ],
            61_000,
        );
        assert_eq!(rep.len(), 1);
        let data = &rep[0].1;
        assert!(
            data.iter()
                .all(|d| d.dims == vec![("QueueName", "full".to_string())])
        );
        assert_eq!(value(data, "ApproximateNumberOfMessagesVisible"), Some(2.0));
        assert_eq!(
            value(data, "ApproximateNumberOfMessagesNotVisible"),
            Some(1.0)
        );
        assert_eq!(value(data, "ApproximateAgeOfOldestMessage"), Some(60.0));
        assert_eq!(value(data, "NumberOfMessagesSent"), Some(0.0));
        assert_eq!(value(data, "SentMessageSize"), None);
        // A counted call makes the idle queue active, with zeros afterwards, for six hours.
        let mut c = HashMap::new();
        c.entry(p.clone()).or_insert_with(HashMap::new).insert(
            "idle".to_string(),
            QueueCounts {
                empty_receives: 3,
                ..Default::default()
            },
        );
        let rep = r.report(c, vec![(p.clone(), "idle".into(), idle)], 100_000);
        assert_eq!(value(&rep[0].1, "NumberOfEmptyReceives"), Some(3.0));
        let rep = r.report(
            HashMap::new(),
            vec![(p.clone(), "idle".into(), idle)],
            200_000,
        );
        assert_eq!(value(&rep[0].1, "NumberOfEmptyReceives"), Some(0.0));
        let rep = r.report(
            HashMap::new(),
            vec![(p.clone(), "idle".into(), idle)],
            100_000 + ACTIVE_MS,
        );
        assert!(rep.is_empty());
        // Counters of a queue deleted meanwhile still report (without gauges).
        let mut c = HashMap::new();
        c.entry(p.clone()).or_insert_with(HashMap::new).insert(
            "gone".to_string(),
            QueueCounts {
                sent: 1,
                ..Default::default()
            },
        );
        let rep = r.report(c, vec![], 300_000);
        assert_eq!(value(&rep[0].1, "NumberOfMessagesSent"), Some(1.0));
        assert_eq!(value(&rep[0].1, "ApproximateNumberOfMessagesVisible"), None);
    }
}

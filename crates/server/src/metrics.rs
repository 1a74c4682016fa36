//! Prometheus metrics at `GET /_localstack/metrics` (text exposition format 0.0.4): requests per
//! service and operation (count, errors, latency histogram), and per service the saves, loads
//! and log commits of the persistence runtime (counts, errors, durations, bytes, chunks), and
//! the pod versions loaded into it (`/_localstack/pods/load`, `AUTO_LOAD_POD`).
//!
//! Written by hand rather than with a metrics crate: every series is known when the server
//! starts (the services and the operations of their models), so each is a fixed set of atomics
//! in maps built once and never changed. Counting a request is two lookups in immutable maps and
//! a few relaxed atomic adds: no lock, no allocation. (`prometheus-client` keeps its label sets
//! in a map behind a lock, taken for every lookup.)

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use snapstack_service::Service;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the request latency buckets, in seconds (`+Inf` follows).
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One series of a request histogram and its counters.
#[derive(Default)]
struct OpStats {
    count: AtomicU64,
    errors: AtomicU64,
    sum_ns: AtomicU64,
    /// Per bucket (not cumulative), the last one `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

impl OpStats {
    fn record(&self, elapsed: Duration, error: bool) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A running total of durations, bytes and counts.
#[derive(Default)]
struct Summary {
    count: AtomicU64,
    errors: AtomicU64,
    sum_ns: AtomicU64,
    bytes: AtomicU64,
    chunks: AtomicU64,
    records: AtomicU64,
}

impl Summary {
    fn ok(&self, elapsed: Duration, bytes: u64, chunks: u64, records: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.chunks.fetch_add(chunks, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Persistence series of one service.
#[derive(Default)]
struct PersistStats {
    persisted: bool,
    saves: Summary,
    loads: Summary,
    log_commits: Summary,
    /// Pod versions loaded (bytes and tree chunks of the service's state in them).
    pod_loads: Summary,
}

/// Every series of the server.
pub struct Metrics {
    /// service → operation → stats; built at start, never changed.
    ops: HashMap<&'static str, HashMap<&'static str, OpStats>>,
    /// Requests answered by a service under a name its model does not have (S3's CORS
    /// preflight), per service.
    other: HashMap<&'static str, OpStats>,
    /// Requests no service answered (unknown targets, unserved services, bad requests).
    unrouted: OpStats,
    persist: HashMap<&'static str, PersistStats>,
    /// Chunks (and their bytes) fetched from pod remotes, for every service at once (a chunk
    /// may serve several).
    pod_fetched_chunks: AtomicU64,
    pod_fetched_bytes: AtomicU64,
    started: std::time::Instant,
}

impl Metrics {
    /// The series of `services`, each with the operations of its model; `persisted` says, per
    /// service, whether its state is persisted.
    pub fn new(services: &[std::sync::Arc<dyn Service>], persisted: impl Fn(&str) -> bool) -> Self {
        let mut ops = HashMap::new();
        let mut other = HashMap::new();
        let mut persist = HashMap::new();
        for s in services {
            let model = s.model();
            let per: HashMap<&'static str, OpStats> = model
                .operations
                .keys()
                .map(|k| (k.as_str(), OpStats::default()))
                .collect();
            ops.insert(s.name(), per);
            other.insert(s.name(), OpStats::default());
            persist.insert(
                s.name(),
                PersistStats {
                    persisted: persisted(s.name()),
                    ..PersistStats::default()
                },
            );
        }
        Metrics {
            ops,
            other,
            unrouted: OpStats::default(),
            persist,
            pod_fetched_chunks: AtomicU64::new(0),
            pod_fetched_bytes: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    /// Count one answered request. `called` is the service and operation that answered, if any.
    pub fn request(&self, called: Option<(&str, &str)>, status: u16, elapsed: Duration) {
        let error = status >= 400;
        let stats = match called {
            Some((service, op)) => match self.ops.get(service) {
                Some(per) => per
                    .get(op)
                    .or_else(|| self.other.get(service))
                    .unwrap_or(&self.unrouted),
                None => &self.unrouted,
            },
            None => &self.unrouted,
        };
        stats.record(elapsed, error);
    }

    fn persist(&self, service: &str) -> Option<&PersistStats> {
        self.persist.get(service)
    }

    /// A save of `service` that wrote a generation.
    pub fn saved(&self, service: &str, elapsed: Duration, bytes: u64, chunks: u64, records: u64) {
        if let Some(p) = self.persist(service) {
            p.saves.ok(elapsed, bytes, chunks, records);
        }
    }

    pub fn save_failed(&self, service: &str) {
        if let Some(p) = self.persist(service) {
            p.saves.error();
        }
    }

    /// A load of `service` (bytes and chunks of the tree it read).
    pub fn loaded(&self, service: &str, elapsed: Duration, bytes: u64, chunks: u64, records: u64) {
        if let Some(p) = self.persist(service) {
            p.loads.ok(elapsed, bytes, chunks, records);
        }
    }

    pub fn load_failed(&self, service: &str) {
        if let Some(p) = self.persist(service) {
            p.loads.error();
        }
    }

    /// A group commit to the write-ahead log that included `service`.
    pub fn logged(&self, service: &str, elapsed: Duration) {
        if let Some(p) = self.persist(service) {
            p.log_commits.ok(elapsed, 0, 0, 0);
        }
    }

    pub fn log_failed(&self, service: &str) {
        if let Some(p) = self.persist(service) {
            p.log_commits.error();
        }
    }

    /// A pod version loaded into `service`: its state there was `bytes` in `chunks` tree chunks
    /// and `records` records.
    pub fn pod_loaded(
        &self,
        service: &str,
        elapsed: Duration,
        bytes: u64,
        chunks: u64,
        records: u64,
    ) {
        if let Some(p) = self.persist(service) {
            p.pod_loads.ok(elapsed, bytes, chunks, records);
        }
    }

    /// A pod load meant to change `service` failed.
    pub fn pod_load_failed(&self, service: &str) {
        if let Some(p) = self.persist(service) {
            p.pod_loads.error();
        }
    }

    /// Chunks fetched from a pod remote (the ones the server lacked).
    pub fn pod_fetched(&self, chunks: u64, bytes: u64) {
        self.pod_fetched_chunks.fetch_add(chunks, Ordering::Relaxed);
        self.pod_fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The text exposition of every series.
    pub fn render(&self, persistence_enabled: bool) -> String {
        let mut out = String::with_capacity(16 << 10);
        let mut services: Vec<&&str> = self.ops.keys().collect();
        services.sort();
        // Requests.
        let mut series: Vec<(&str, &str, &OpStats)> = Vec::new();
        for s in &services {
            let mut per: Vec<(&&str, &OpStats)> = self.ops[**s].iter().collect();
            per.sort_by_key(|(k, _)| **k);
            for (op, st) in per {
                series.push((s, op, st));
            }
            series.push((s, "other", &self.other[**s]));
        }
        series.push(("none", "none", &self.unrouted));
        series.retain(|(_, _, st)| st.count.load(Ordering::Relaxed) > 0);
        header(
            &mut out,
            "snapstack_requests_total",
            "counter",
            "Requests answered, per service and operation.",
        );
        for (s, op, st) in &series {
            let _ = writeln!(
                out,
                "snapstack_requests_total{{service=\"{s}\",operation=\"{op}\"}} {}",
                st.count.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "snapstack_request_errors_total",
            "counter",
            "Requests answered with an HTTP status of 400 or more, per service and operation.",
        );
        for (s, op, st) in &series {
            let _ = writeln!(
                out,
                "snapstack_request_errors_total{{service=\"{s}\",operation=\"{op}\"}} {}",
                st.errors.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "snapstack_request_duration_seconds",
            "histogram",
            "Time from a request's headers to its response's headers, per service and operation.",
        );
        for (s, op, st) in &series {
            let mut cumulative = 0u64;
            for (i, b) in st.buckets.iter().enumerate() {
                cumulative += b.load(Ordering::Relaxed);
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |v| v.to_string());
                let _ = writeln!(
                    out,
                    "snapstack_request_duration_seconds_bucket{{service=\"{s}\",operation=\"{op}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "snapstack_request_duration_seconds_sum{{service=\"{s}\",operation=\"{op}\"}} {}",
                seconds(st.sum_ns.load(Ordering::Relaxed))
            );
            let _ = writeln!(
                out,
                "snapstack_request_duration_seconds_count{{service=\"{s}\",operation=\"{op}\"}} {cumulative}"
            );
        }
        // Persistence.
        header(
            &mut out,
            "snapstack_persistence_enabled",
            "gauge",
            "1 when the server persists state (PERSISTENCE=1).",
        );
        let _ = writeln!(
            out,
            "snapstack_persistence_enabled {}",
            u8::from(persistence_enabled)
        );
        header(
            &mut out,
            "snapstack_service_persisted",
            "gauge",
            "1 when a service's state is restored and saved (PERSISTENCE=1 and not PERSIST_<SERVICE>=0).",
        );
        for s in &services {
            let p = &self.persist[**s];
            let _ = writeln!(
                out,
                "snapstack_service_persisted{{service=\"{s}\"}} {}",
                u8::from(persistence_enabled && p.persisted)
            );
        }
        for (name, pick, help) in [
            (
                "save",
                (|p: &PersistStats| &p.saves) as fn(&PersistStats) -> &Summary,
                "saves that wrote a generation",
            ),
            ("load", |p: &PersistStats| &p.loads, "loads of saved state"),
            (
                "log_commit",
                |p: &PersistStats| &p.log_commits,
                "group commits to the write-ahead log",
            ),
            (
                "pod_load",
                |p: &PersistStats| &p.pod_loads,
                "pod versions loaded (dry runs not counted)",
            ),
        ] {
            let metric = |suffix: &str| format!("snapstack_{name}{suffix}");
            let counters: [Column; 2] = [
                ("s_total", "count", |s| s.count.load(Ordering::Relaxed)),
                ("_errors_total", "failures", |s| {
                    s.errors.load(Ordering::Relaxed)
                }),
            ];
            for (suffix, what, get) in counters {
                header(
                    &mut out,
                    &metric(suffix),
                    "counter",
                    &format!("{help}: {what}, per service."),
                );
                for s in &services {
                    let _ = writeln!(
                        out,
                        "{}{{service=\"{s}\"}} {}",
                        metric(suffix),
                        get(pick(&self.persist[**s]))
                    );
                }
            }
            header(
                &mut out,
                &metric("_duration_seconds"),
                "summary",
                &format!("{help}: time taken, per service."),
            );
            for s in &services {
                let sum = pick(&self.persist[**s]);
                let _ = writeln!(
                    out,
                    "{}_sum{{service=\"{s}\"}} {}",
                    metric("_duration_seconds"),
                    seconds(sum.sum_ns.load(Ordering::Relaxed))
                );
                let _ = writeln!(
                    out,
                    "{}_count{{service=\"{s}\"}} {}",
                    metric("_duration_seconds"),
                    sum.count.load(Ordering::Relaxed)
                );
            }
            if name == "log_commit" {
                continue;
            }
            let totals: [Column; 3] = [
                (
                    "_bytes_total",
                    match name {
                        "save" => "bytes of new chunks written",
                        "pod_load" => "bytes of the service's state (tree and blobs) in them",
                        _ => "bytes of tree chunks read",
                    },
                    |s| s.bytes.load(Ordering::Relaxed),
                ),
                (
                    "_chunks_total",
                    match name {
                        "save" => "new chunks written",
                        "pod_load" => "tree chunks of the service's state in them",
                        _ => "tree chunks read",
                    },
                    |s| s.chunks.load(Ordering::Relaxed),
                ),
                ("_records_total", "records in the state", |s| {
                    s.records.load(Ordering::Relaxed)
                }),
            ];
            for (suffix, what, get) in totals {
                header(
                    &mut out,
                    &metric(suffix),
                    "counter",
                    &format!("{help}: {what}, per service."),
                );
                for s in &services {
                    let _ = writeln!(
                        out,
                        "{}{{service=\"{s}\"}} {}",
                        metric(suffix),
                        get(pick(&self.persist[**s]))
                    );
                }
            }
        }
        for (metric, help, value) in [
            (
                "snapstack_pod_fetched_chunks_total",
                "Chunks fetched from pod remotes (those the server lacked), every service at once.",
                &self.pod_fetched_chunks,
            ),
            (
                "snapstack_pod_fetched_bytes_total",
                "Bytes of the chunks fetched from pod remotes.",
                &self.pod_fetched_bytes,
            ),
        ] {
            header(&mut out, metric, "counter", help);
            let _ = writeln!(out, "{metric} {}", value.load(Ordering::Relaxed));
        }
        header(
            &mut out,
            "snapstack_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(
            out,
            "snapstack_uptime_seconds {}",
            self.started.elapsed().as_secs_f64()
        );
        out
    }
}

/// A metric of a [`Summary`]: name suffix, what it counts, how to read it.
type Column = (&'static str, &'static str, fn(&Summary) -> u64);

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let config = crate::config::Config::resolve(&crate::config::Overrides::default(), |k| {
            (k == "SERVICES").then(|| "sqs,s3".to_string())
        })
        .unwrap();
        let services = crate::registry::build(&crate::registry::Env {
            config: &config,
            blob_engine: std::sync::Arc::new(snapstack_engine::Engine::in_memory().unwrap()),
        });
        Metrics::new(services.all(), |s| s != "sqs")
    }

    #[test]
    fn requests_land_in_their_series_and_buckets() {
        let m = metrics();
        m.request(
            Some(("sqs", "CreateQueue")),
            200,
            Duration::from_micros(700),
        );
        m.request(Some(("sqs", "CreateQueue")), 400, Duration::from_millis(30));
        m.request(
            Some(("s3", "OPTIONS (CORS preflight)")),
            200,
            Duration::ZERO,
        );
        m.request(None, 501, Duration::from_secs(20));
        m.saved("s3", Duration::from_millis(5), 4096, 3, 10);
        m.load_failed("s3");
        m.pod_loaded("sqs", Duration::from_millis(250), 900, 4, 12);
        m.pod_loaded("sqs", Duration::from_millis(250), 100, 1, 3);
        m.pod_load_failed("s3");
        m.pod_fetched(7, 7000);
        let text = m.render(true);
        for line in [
            "snapstack_requests_total{service=\"sqs\",operation=\"CreateQueue\"} 2",
            "snapstack_request_errors_total{service=\"sqs\",operation=\"CreateQueue\"} 1",
            "snapstack_request_duration_seconds_bucket{service=\"sqs\",operation=\"CreateQueue\",le=\"0.0005\"} 0",
            "snapstack_request_duration_seconds_bucket{service=\"sqs\",operation=\"CreateQueue\",le=\"0.001\"} 1",
            "snapstack_request_duration_seconds_bucket{service=\"sqs\",operation=\"CreateQueue\",le=\"0.05\"} 2",
            "snapstack_request_duration_seconds_bucket{service=\"sqs\",operation=\"CreateQueue\",le=\"+Inf\"} 2",
            "snapstack_request_duration_seconds_count{service=\"sqs\",operation=\"CreateQueue\"} 2",
            "snapstack_requests_total{service=\"s3\",operation=\"other\"} 1",
            "snapstack_requests_total{service=\"none\",operation=\"none\"} 1",
            "snapstack_saves_total{service=\"s3\"} 1",
            "snapstack_save_bytes_total{service=\"s3\"} 4096",
            "snapstack_save_chunks_total{service=\"s3\"} 3",
            "snapstack_load_errors_total{service=\"s3\"} 1",
            "snapstack_service_persisted{service=\"sqs\"} 0",
            "snapstack_service_persisted{service=\"s3\"} 1",
            "snapstack_persistence_enabled 1",
            "snapstack_pod_loads_total{service=\"sqs\"} 2",
            "snapstack_pod_load_duration_seconds_sum{service=\"sqs\"} 0.5",
            "snapstack_pod_load_duration_seconds_count{service=\"sqs\"} 2",
            "snapstack_pod_load_bytes_total{service=\"sqs\"} 1000",
            "snapstack_pod_load_chunks_total{service=\"sqs\"} 5",
            "snapstack_pod_load_records_total{service=\"sqs\"} 15",
            "snapstack_pod_load_errors_total{service=\"sqs\"} 0",
            "snapstack_pod_loads_total{service=\"s3\"} 0",
            "snapstack_pod_load_errors_total{service=\"s3\"} 1",
            "snapstack_pod_fetched_chunks_total 7",
            "snapstack_pod_fetched_bytes_total 7000",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        // Operations never called are not listed; every metric has HELP and TYPE once.
        assert!(!text.contains("operation=\"DeleteQueue\""));
        for name in [
            "snapstack_requests_total",
            "snapstack_request_duration_seconds",
            "snapstack_saves_total",
            "snapstack_load_duration_seconds",
            "snapstack_pod_loads_total",
            "snapstack_pod_fetched_chunks_total",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
    }
}

//! Request latency while snapshots are taken: snapstack's copy-on-write store against a
//! locking-snapshot baseline (a `Mutex<BTreeMap>` whose snapshot holds the lock for the whole
//! serialize-write-fsync, as LocalStack does), side by side in one run.
//!
//! `cargo bench --bench latency` runs every (engine, size) in its own child process (so that each
//! one's memory figures are its own), each with a run without snapshots and a run with a snapshot
//! every `SNAPSTACK_LAT_INTERVAL_MS`, and prints Markdown tables; the numbers go to a JSON file and
//! the largest size's latency over time to a PNG. Method and results: `docs/BENCHMARKS.md`.
//!
//! Environment (all optional):
//! - `SNAPSTACK_LAT_SIZES`: entry counts, comma-separated (`10k,100k,1M`; default all three)
//! - `SNAPSTACK_LAT_ENGINES`: `cow,cow-full,cow-fg,locking` (default these four), `cow-buffered`
//!   (packs written through the page cache, as before direct writes), and `cow-idle`
//!   (an experiment: the save on a `SCHED_IDLE` thread)
//! - `SNAPSTACK_LAT_WRITERS`, `SNAPSTACK_LAT_READERS`: request threads (default 1 and 1)
//! - `SNAPSTACK_LAT_SECS`: seconds per measured run (default 20)
//! - `SNAPSTACK_LAT_INTERVAL_MS`: time between snapshot starts (default 2000)
//! - `SNAPSTACK_LAT_WARMUP_SECS`: traffic before measuring, after one warm-up snapshot (default 2)
//! - `SNAPSTACK_LAT_HOLD_MS`: how long a snapshot is held for the memory figure (default: the
//!   median snapshot duration of that engine's run with snapshots on)
//! - `SNAPSTACK_LAT_RATE`: requests/s per thread, paced (open loop, latency counted from the
//!   intended start); 0 = closed loop, as fast as possible (default 0)
//! - `SNAPSTACK_BENCH_DIR`: parent of the state directories (default the system temp dir)
//! - `SNAPSTACK_LAT_JSON`: the JSON output (default `target/latency.json`)
//! - `SNAPSTACK_LAT_PLOT`: the PNG (default `docs/img/latency-1m.png` when the largest size is
//!   1M, else `target/latency-<n>.png`)

#[allow(dead_code)]
#[path = "common/locking.rs"]
mod locking;

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/png_out.rs"]
mod png_out;

#[path = "latency/engines.rs"]
mod engines;
#[path = "latency/memory.rs"]
mod memory;
#[path = "latency/output.rs"]
mod output;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use knobs::{env_or, parse_size, size_label};
use serde::{Deserialize, Serialize};
use snapstack::{Key, Partition, Record, Store};

use engines::Target;
use memory::{RssSampler, counting, rss, vm_hwm};
use output::{fmt_ns, machine, plot, print_tables};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Value(String);
impl Record for Value {}

const VALUE_LEN: usize = 100;
const BUCKET_MS: u64 = 10;
const SERVICE: &str = "bench";

fn key(i: u64) -> Key {
    Partition::new("000000000000", "us-east-1")
        .key()
        .str("items")
        .u64(i)
        .build()
}

/// A printable value of `VALUE_LEN` bytes, different for every `seed`.
fn value(seed: u64) -> Value {
    let mut v = String::with_capacity(VALUE_LEN);
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    while v.len() < VALUE_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(char::from(b'!' + (x % 90) as u8));
    }
    Value(v)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Open-loop pacing: with a rate, each request has an intended start time, `1/rate` after the
/// previous one; the thread sleeps (and spins for the last 50 µs) until then, and latency is
/// counted from the intended start, so a stall delays, and is charged to, every request that
/// should have started during it (no coordinated omission). Without a rate: closed loop.
struct Pacer {
    interval: Option<Duration>,
    intended: Instant,
}

impl Pacer {
    fn new(rate: f64, start: Instant) -> Pacer {
        let interval = (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        if interval.is_some() {
            // Wake up on time: the default 50 µs timer slack would be charged to requests.
            // SAFETY: prctl(PR_SET_TIMERSLACK) takes plain integers and affects this thread only.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
            }
        }
        Pacer {
            interval,
            intended: start,
        }
    }

    /// Wait for the next request's start; returns the instant its latency counts from.
    fn next(&mut self) -> Instant {
        let Some(p) = self.interval else {
            return Instant::now();
        };
        self.intended += p;
        let now = Instant::now();
        if self.intended > now {
            let wait = self.intended - now;
            if wait > Duration::from_micros(100) {
                std::thread::sleep(wait - Duration::from_micros(50));
            }
            while Instant::now() < self.intended {
                std::hint::spin_loop();
            }
        }
        self.intended
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// snapstack: `Engine::save` of the live store (incremental), background priority.
    Cow,
    /// snapstack: as `Cow`, with every pack written through the page cache
    /// (`direct_writes: false`, how the engine wrote before direct writes).
    CowBuffered,
    /// snapstack: a full save each time (fresh engine and directory), background priority.
    CowFull,
    /// snapstack: incremental `Engine::save` with `background_saves: false` (normal priority).
    CowFg,
    /// snapstack: incremental `Engine::save` with `background_saves: false`, on a snapshot thread
    /// under the `SCHED_IDLE` policy (an experiment: the engine's helper uses nice 19).
    CowIdle,
    /// The locking baseline.
    Locking,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        match s.trim() {
            "cow" => Kind::Cow,
            "cow-buffered" => Kind::CowBuffered,
            "cow-full" => Kind::CowFull,
            "cow-fg" => Kind::CowFg,
            "cow-idle" => Kind::CowIdle,
            "locking" => Kind::Locking,
            other => panic!(
                "unknown engine {other:?}: cow, cow-buffered, cow-full, cow-fg, cow-idle, locking"
            ),
        }
    }
    fn id(self) -> &'static str {
        match self {
            Kind::Cow => "cow",
            Kind::CowBuffered => "cow-buffered",
            Kind::CowFull => "cow-full",
            Kind::CowFg => "cow-fg",
            Kind::CowIdle => "cow-idle",
            Kind::Locking => "locking",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Cow => "snapstack, incremental save",
            Kind::CowBuffered => "snapstack, incremental, page-cache writes",
            Kind::CowFull => "snapstack, full save",
            Kind::CowFg => "snapstack, incremental, normal priority",
            Kind::CowIdle => "snapstack, incremental, SCHED_IDLE save",
            Kind::Locking => "locking baseline",
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    writers: usize,
    readers: usize,
    secs: f64,
    interval_ms: u64,
    warmup_secs: f64,
    hold_ms: Option<u64>,
    rate: f64,
    dir: PathBuf,
    /// Snapshot threads run under `SCHED_IDLE` (the `cow-idle` engine).
    idle_snapshots: bool,
}

impl Config {
    fn from_env() -> Config {
        Config {
            writers: env_or("SNAPSTACK_LAT_WRITERS", 1),
            readers: env_or("SNAPSTACK_LAT_READERS", 1),
            secs: env_or("SNAPSTACK_LAT_SECS", 20.0),
            interval_ms: env_or("SNAPSTACK_LAT_INTERVAL_MS", 2000),
            warmup_secs: env_or("SNAPSTACK_LAT_WARMUP_SECS", 2.0),
            hold_ms: std::env::var("SNAPSTACK_LAT_HOLD_MS")
                .ok()
                .map(|s| s.parse().expect("SNAPSTACK_LAT_HOLD_MS")),
            rate: env_or("SNAPSTACK_LAT_RATE", 0.0),
            dir: std::env::var("SNAPSTACK_BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| std::env::temp_dir()),
            idle_snapshots: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results.

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Lat {
    count: u64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    max_ns: u64,
    mean_ns: f64,
}

impl Lat {
    fn of(h: &Histogram<u64>) -> Lat {
        if h.is_empty() {
            return Lat::default();
        }
        Lat {
            count: h.len(),
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SnapWindow {
    start_ms: f64,
    end_ms: f64,
    bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Phase {
    snapshots: bool,
    secs: f64,
    ops: u64,
    ops_per_sec: f64,
    /// Every request.
    all: Lat,
    writes: Lat,
    reads: Lat,
    /// Requests whose time (from the intended start, when paced) overlapped a snapshot window.
    in_snapshot: Lat,
    /// Requests that overlapped no snapshot window.
    outside_snapshot: Lat,
    rss_before: u64,
    peak_rss: u64,
    windows: Vec<SnapWindow>,
    /// Max latency (ns) of the requests completing in each 10 ms.
    series_max_ns: Vec<u64>,
    /// Requests completing in each 10 ms.
    series_ops: Vec<u64>,
}

impl Phase {
    fn snapshot_median_ms(&self) -> Option<f64> {
        let mut d: Vec<f64> = self.windows.iter().map(|w| w.end_ms - w.start_ms).collect();
        if d.is_empty() {
            return None;
        }
        d.sort_by(|a, b| a.total_cmp(b));
        Some(d[d.len() / 2])
    }
    fn bytes_written(&self) -> u64 {
        self.windows.iter().map(|w| w.bytes).sum()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hold {
    /// How long the snapshot was held: the median snapshot duration of the run with snapshots
    /// on (or `SNAPSTACK_LAT_HOLD_MS`).
    hold_ms: f64,
    writes: u64,
    rss_before: u64,
    peak_extra_rss: u64,
    /// Peak of the heap bytes allocated minus freed while the snapshot was held.
    peak_extra_heap: i64,
    pct_of_state_heap: f64,
    pct_of_logical: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Unchanged {
    /// `Engine::save` with nothing changed (on its background helper thread), median of 101.
    save_us: Option<f64>,
    /// `Engine::save_urgent` with nothing changed (on the caller's thread), median of 101.
    save_urgent_us: Option<f64>,
    bytes: u64,
    /// The same for the locking baseline: it has no change tracking, so a full save.
    full_save_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ChildResult {
    engine: String,
    label: String,
    entries: u64,
    writers: usize,
    readers: usize,
    rate_per_thread: f64,
    interval_ms: u64,
    logical_bytes: u64,
    state_rss: u64,
    /// Heap bytes the filled state holds.
    state_heap: i64,
    fill_secs: f64,
    warmup_snapshot_ms: f64,
    /// /proc/loadavg when this child started and when it finished (other tenants' load).
    loadavg_start: String,
    loadavg_end: String,
    quiet: Phase,
    snap: Phase,
    hold: Option<Hold>,
    unchanged: Option<Unchanged>,
    vm_hwm: u64,
}

// ---------------------------------------------------------------------------------------------
// Traffic.

struct WorkerOut {
    writer: bool,
    all: Histogram<u64>,
    inside: Histogram<u64>,
    outside: Histogram<u64>,
    series_max: Vec<u64>,
    series_ops: Vec<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("histogram")
}

/// Run `W` writers and `R` readers against `target` for `secs`; with `interval`, a snapshot is
/// started every `interval` (or as soon as the previous one ends, if it overran).
fn run_phase(
    target: &Target,
    cfg: &Config,
    n: u64,
    secs: f64,
    interval: Option<Duration>,
    record: bool,
) -> Phase {
    let stop = AtomicBool::new(false);
    // Odd while a snapshot is in progress; +1 at each start and each end.
    let epoch = AtomicU64::new(0);
    // When the latest snapshot ended, in ns since `start` (for paced requests that were due
    // during a window but could only start after it).
    let last_end = AtomicU64::new(0);
    let duration = Duration::from_secs_f64(secs);
    let buckets = (duration.as_millis() as u64 / BUCKET_MS + 2) as usize;
    let pool: Vec<Value> = (0..256).map(|i| value(1_000_000_007 + i)).collect();
    let windows = Mutex::new(Vec::new());
    let rss_before = rss();
    let sampler = RssSampler::start();
    let start = Instant::now();
    let (outs, elapsed): (Vec<WorkerOut>, f64) = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for w in 0..cfg.writers + cfg.readers {
            let writer = w < cfg.writers;
            let (stop, epoch, pool, last_end) = (&stop, &epoch, &pool, &last_end);
            handles.push(scope.spawn(move || {
                let mut out = WorkerOut {
                    writer,
                    all: histogram(),
                    inside: histogram(),
                    outside: histogram(),
                    series_max: vec![0; buckets],
                    series_ops: vec![0; buckets],
                };
                let mut rng = Rng(0x1234_5678_9abc_def1 ^ ((w as u64 + 1) << 32));
                let mut pacer = Pacer::new(cfg.rate, start);
                let mut i = 0u64;
                let mut sink = 0usize;
                loop {
                    if i.is_multiple_of(64) && stop.load(Ordering::Relaxed) {
                        break;
                    }
                    i += 1;
                    let r = rng.next();
                    let k = key(r % n);
                    let t0 = pacer.next();
                    let e0 = epoch.load(Ordering::Relaxed);
                    if writer {
                        target.write(k, pool[(r >> 40) as usize & 255].clone());
                    } else {
                        sink = sink.wrapping_add(target.read(&k));
                    }
                    let t1 = Instant::now();
                    let e1 = epoch.load(Ordering::Relaxed);
                    if !record {
                        continue;
                    }
                    let ns = (t1 - t0).as_nanos().max(1) as u64;
                    out.all.saturating_record(ns);
                    let due_in_window =
                        ((t0 - start).as_nanos() as u64) < last_end.load(Ordering::Relaxed);
                    if e0 % 2 == 1 || e1 != e0 || due_in_window {
                        out.inside.saturating_record(ns);
                    } else {
                        out.outside.saturating_record(ns);
                    }
                    let b = (((t1 - start).as_millis() as u64) / BUCKET_MS) as usize;
                    let b = b.min(buckets - 1);
                    out.series_max[b] = out.series_max[b].max(ns);
                    out.series_ops[b] += 1;
                }
                std::hint::black_box(sink);
                out
            }));
        }
        if let Some(interval) = interval {
            let (stop, epoch, windows, last_end) = (&stop, &epoch, &windows, &last_end);
            scope.spawn(move || {
                if cfg.idle_snapshots {
                    set_sched_idle();
                }
                let mut next = start + interval;
                let mut cleanup = Vec::new();
                loop {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    if start.elapsed() >= duration || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    epoch.fetch_add(1, Ordering::SeqCst);
                    let t0 = Instant::now();
                    let (snap, leftover) = target.snapshot();
                    let t1 = Instant::now();
                    last_end.store((t1 - start).as_nanos() as u64, Ordering::SeqCst);
                    epoch.fetch_add(1, Ordering::SeqCst);
                    windows.lock().unwrap().push(SnapWindow {
                        start_ms: (t0 - start).as_secs_f64() * 1e3,
                        end_ms: (t1 - start).as_secs_f64() * 1e3,
                        bytes: snap.bytes,
                    });
                    // Remove the previous full-save directory (the newest one stays until the
                    // next snapshot, as a server keeps its last snapshot).
                    cleanup.extend(leftover);
                    while cleanup.len() > 1 {
                        drop(cleanup.remove(0));
                    }
                    next = (next + interval).max(Instant::now());
                }
            });
        }
        // The main thread is the clock.
        while start.elapsed() < duration {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let outs = handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect();
        // Requests blocked when the clock stopped finish first: they count, and so does their time.
        (outs, start.elapsed().as_secs_f64())
    });
    let peak_rss = sampler.finish();
    let mut all = histogram();
    let mut writes = histogram();
    let mut reads = histogram();
    let mut inside = histogram();
    let mut outside = histogram();
    let mut series_max = vec![0u64; buckets];
    let mut series_ops = vec![0u64; buckets];
    for o in &outs {
        all.add(&o.all).expect("add");
        if o.writer {
            writes.add(&o.all).expect("add");
        } else {
            reads.add(&o.all).expect("add");
        }
        inside.add(&o.inside).expect("add");
        outside.add(&o.outside).expect("add");
        for b in 0..buckets {
            series_max[b] = series_max[b].max(o.series_max[b]);
            series_ops[b] += o.series_ops[b];
        }
    }
    // The last bucket also collects requests that finished after the clock stopped.
    Phase {
        snapshots: interval.is_some(),
        secs: elapsed,
        ops: all.len(),
        ops_per_sec: all.len() as f64 / elapsed,
        all: Lat::of(&all),
        writes: Lat::of(&writes),
        reads: Lat::of(&reads),
        in_snapshot: Lat::of(&inside),
        outside_snapshot: Lat::of(&outside),
        rss_before,
        peak_rss,
        windows: windows.into_inner().unwrap(),
        series_max_ns: series_max,
        series_ops,
    }
}

/// Hold one snapshot for `hold` while the writers keep writing; the peak heap (and RSS) above
/// the level before is the snapshot's memory cost: the old nodes and records it keeps alive.
/// Returns (RSS before, peak extra RSS, net heap left, peak extra heap, writes).
fn hold_snapshot(
    store: &Arc<Store<Value>>,
    cfg: &Config,
    n: u64,
    hold: Duration,
) -> (u64, u64, i64, i64, u64) {
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let pool: Vec<Value> = (0..256).map(|i| value(2_000_000_011 + i)).collect();
    let before = rss();
    let sampler = RssSampler::start();
    let (snap, net, peak_heap) = counting(|| {
        let snap = store.snapshot();
        std::thread::scope(|scope| {
            for w in 0..cfg.writers.max(1) {
                let (stop, writes, pool) = (&stop, &writes, &pool);
                scope.spawn(move || {
                    let mut rng = Rng(0xfeed_beef_0000_0001 ^ ((w as u64 + 1) << 32));
                    let mut pacer = Pacer::new(cfg.rate, Instant::now());
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        pacer.next();
                        let r = rng.next();
                        let k = key(r % n);
                        store.write(|t| {
                            t.insert(k, pool[(r >> 40) as usize & 255].clone());
                        });
                        i += 1;
                    }
                    writes.fetch_add(i, Ordering::Relaxed);
                });
            }
            std::thread::sleep(hold);
            stop.store(true, Ordering::Relaxed);
        });
        snap
    });
    let peak = sampler.finish();
    std::hint::black_box(snap.len());
    drop(snap);
    (
        before,
        peak.saturating_sub(before),
        net,
        peak_heap,
        writes.load(Ordering::Relaxed),
    )
}

fn median_us(mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..101)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Put the calling thread under the `SCHED_IDLE` policy: it runs only when nothing else wants the
/// CPU, and a waking normal thread preempts it at once (a nice-19 thread keeps the CPU for the
/// rest of its time slice).
fn set_sched_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 means the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc != 0 {
        eprintln!("SCHED_IDLE: {}", std::io::Error::last_os_error());
    }
}

fn child(kind: Kind, n: u64, cfg: &Config) -> ChildResult {
    let cfg = &Config {
        idle_snapshots: kind == Kind::CowIdle,
        ..cfg.clone()
    };
    let loadavg_start = loadavg();
    let rss0 = rss();
    let target = Target::new(kind, cfg);
    let t = Instant::now();
    let ((), state_heap, _) = counting(|| target.fill(n));
    let fill_secs = t.elapsed().as_secs_f64();
    let state_rss = rss().saturating_sub(rss0);
    let logical_bytes = n * (key(n).as_bytes().len() + VALUE_LEN) as u64;
    eprintln!(
        "  [{} {}] filled in {fill_secs:.2} s, state RSS {} MiB, heap {} MiB",
        kind.id(),
        size_label(n),
        state_rss >> 20,
        state_heap >> 20
    );

    // Warm-up: one snapshot (snapstack's first save is full; the later ones are incremental),
    // then traffic, so that memory and page cache have been touched before measuring.
    let t = Instant::now();
    let (_, leftover) = target.snapshot();
    let warmup_snapshot_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(leftover);
    if cfg.warmup_secs > 0.0 {
        run_phase(
            &target,
            cfg,
            n,
            cfg.warmup_secs,
            Some(Duration::from_millis(cfg.interval_ms)),
            false,
        );
    }

    let interval = Duration::from_millis(cfg.interval_ms);
    let quiet = run_phase(&target, cfg, n, cfg.secs, None, true);
    let snap = run_phase(&target, cfg, n, cfg.secs, Some(interval), true);
    eprintln!(
        "  [{} {}] no snapshots: p99 {} max {}; snapshots: p99 {} max {}, {} taken; load {}",
        kind.id(),
        size_label(n),
        fmt_ns(quiet.all.p99_ns),
        fmt_ns(quiet.all.max_ns),
        fmt_ns(snap.all.p99_ns),
        fmt_ns(snap.all.max_ns),
        snap.windows.len(),
        loadavg()
    );

    let hold = target.cow_store().map(|store| {
        let hold = match cfg.hold_ms {
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_secs_f64(snap.snapshot_median_ms().unwrap_or(1000.0) / 1e3)
                .max(Duration::from_millis(10)),
        };
        let (before, extra_rss, _, extra_heap, writes) = hold_snapshot(store, cfg, n, hold);
        Hold {
            hold_ms: hold.as_secs_f64() * 1e3,
            writes,
            rss_before: before,
            peak_extra_rss: extra_rss,
            peak_extra_heap: extra_heap,
            pct_of_state_heap: extra_heap as f64 / state_heap.max(1) as f64 * 100.0,
            pct_of_logical: extra_heap as f64 / logical_bytes.max(1) as f64 * 100.0,
        }
    });

    let unchanged = match &target {
        Target::Cow { engine, .. } => {
            // Flush what the runs changed, then save with nothing changed.
            engine.save(&[SERVICE]);
            let mut bytes = 0;
            let save_us = median_us(|| {
                for (_, r) in engine.save(&[SERVICE]) {
                    bytes += r.expect("save").new_bytes;
                }
            });
            let save_urgent_us = median_us(|| {
                for (_, r) in engine.save_urgent(&[SERVICE]) {
                    bytes += r.expect("save").new_bytes;
                }
            });
            Some(Unchanged {
                save_us: Some(save_us),
                save_urgent_us: Some(save_urgent_us),
                bytes,
                full_save_ms: None,
            })
        }
        Target::Locking { store, .. } => {
            let r = store.save().expect("save");
            Some(Unchanged {
                save_us: None,
                save_urgent_us: None,
                bytes: r.bytes,
                full_save_ms: Some(r.duration.as_secs_f64() * 1e3),
            })
        }
        Target::CowFull { .. } => None,
    };

    ChildResult {
        engine: kind.id().into(),
        label: kind.label().into(),
        entries: n,
        writers: cfg.writers,
        readers: cfg.readers,
        rate_per_thread: cfg.rate,
        interval_ms: cfg.interval_ms,
        logical_bytes,
        state_rss,
        state_heap,
        fill_secs,
        warmup_snapshot_ms,
        loadavg_start,
        loadavg_end: loadavg(),
        quiet,
        snap,
        hold,
        unchanged,
        vm_hwm: vm_hwm(),
    }
}

fn main() {
    let cfg = Config::from_env();
    if let Ok(spec) = std::env::var("SNAPSTACK_LAT_CHILD") {
        let (kind, n) = spec.split_once(':').expect("kind:n");
        let r = child(Kind::parse(kind), n.parse().expect("n"), &cfg);
        println!("RESULT {}", serde_json::to_string(&r).expect("json"));
        return;
    }
    let sizes: Vec<u64> = std::env::var("SNAPSTACK_LAT_SIZES")
        .unwrap_or_else(|_| "10k,100k,1M".into())
        .split(',')
        .map(parse_size)
        .collect();
    let kinds: Vec<Kind> = std::env::var("SNAPSTACK_LAT_ENGINES")
        .unwrap_or_else(|_| "cow,cow-full,cow-fg,locking".into())
        .split(',')
        .map(Kind::parse)
        .collect();
    let load_before = machine();
    eprintln!(
        "latency bench: sizes {sizes:?}, engines {:?}, {} writer(s) + {} reader(s), {} s per run, \
         snapshot every {} ms, rate {} (0 = closed loop); load {}",
        kinds.iter().map(|k| k.id()).collect::<Vec<_>>(),
        cfg.writers,
        cfg.readers,
        cfg.secs,
        cfg.interval_ms,
        cfg.rate,
        load_before["loadavg"]
    );
    let exe = std::env::current_exe().expect("current exe");
    let mut results = Vec::new();
    for &n in &sizes {
        for &kind in &kinds {
            eprintln!("{} at {} entries", kind.label(), size_label(n));
            let mut c = Command::new(&exe)
                .env("SNAPSTACK_LAT_CHILD", format!("{}:{n}", kind.id()))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child");
            let out = c.stdout.take().expect("stdout");
            let mut result = None;
            for line in BufReader::new(out).lines() {
                let line = line.expect("read child");
                if let Some(j) = line.strip_prefix("RESULT ") {
                    result = Some(serde_json::from_str::<ChildResult>(j).expect("child json"));
                }
            }
            let status = c.wait().expect("child");
            assert!(status.success(), "child {} {n} failed: {status}", kind.id());
            results.push(result.expect("child result"));
        }
    }
    let load_after = machine();
    print_tables(&results);

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json_path = std::env::var("SNAPSTACK_LAT_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("target/latency.json"));
    let doc = serde_json::json!({
        "machine": load_before,
        "loadavg_after": load_after["loadavg"],
        "config": {
            "writers": cfg.writers,
            "readers": cfg.readers,
            "secs": cfg.secs,
            "interval_ms": cfg.interval_ms,
            "warmup_secs": cfg.warmup_secs,
            "hold_ms": cfg.hold_ms,
            "rate_per_thread": cfg.rate,
            "value_len": VALUE_LEN,
            "bucket_ms": BUCKET_MS,
        },
        "results": results,
    });
    if let Some(d) = json_path.parent() {
        std::fs::create_dir_all(d).ok();
    }
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).expect("json"),
    )
    .expect("write json");
    eprintln!("\nwrote {}", json_path.display());

    if let Some(&largest) = sizes.iter().max() {
        let plot_path = std::env::var("SNAPSTACK_LAT_PLOT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                if largest == 1_000_000 {
                    manifest.join("docs/img/latency-1m.png")
                } else {
                    manifest.join(format!("target/latency-{}.png", size_label(largest)))
                }
            });
        match plot(&results, largest, &plot_path) {
            Ok(()) => eprintln!("wrote {}", plot_path.display()),
            Err(e) => eprintln!("no plot: {e}"),
        }
    }
    eprintln!(
        "load average before {}, after {}",
        load_before["loadavg"], load_after["loadavg"]
    );
}

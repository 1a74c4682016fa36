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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use knobs::{env_or, parse_size, size_label};
use locking::LockingStore;
use serde::{Deserialize, Serialize};
use snapstack::{Engine, EngineOptions, Key, Partition, Record, Store};

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
// The engines under test.

/// What one snapshot did.
struct Snap {
    bytes: u64,
}

enum Target {
    Cow {
        store: Arc<Store<Value>>,
        engine: Engine,
        _dir: tempfile::TempDir,
    },
    CowFull {
        store: Arc<Store<Value>>,
        parent: PathBuf,
    },
    Locking {
        store: LockingStore<Value>,
        _dir: tempfile::TempDir,
    },
}

impl Target {
    fn new(kind: Kind, cfg: &Config) -> Target {
        let dir = || tempfile::tempdir_in(&cfg.dir).expect("temp dir");
        match kind {
            Kind::Cow | Kind::CowBuffered | Kind::CowFg | Kind::CowIdle => {
                let d = dir();
                let engine = Engine::open(
                    d.path(),
                    EngineOptions {
                        background_saves: matches!(kind, Kind::Cow | Kind::CowBuffered),
                        direct_writes: kind != Kind::CowBuffered,
                        ..EngineOptions::default()
                    },
                )
                .expect("engine");
                let store = Store::new(SERVICE);
                engine.register(store.clone()).expect("register");
                Target::Cow {
                    store,
                    engine,
                    _dir: d,
                }
            }
            Kind::CowFull => Target::CowFull {
                store: Store::new(SERVICE),
                parent: cfg.dir.clone(),
            },
            Kind::Locking => {
                let d = dir();
                Target::Locking {
                    store: LockingStore::new(d.path(), SERVICE),
                    _dir: d,
                }
            }
        }
    }

    fn fill(&self, n: u64) {
        let batch = 10_000;
        let mut i = 0;
        while i < n {
            let end = (i + batch).min(n);
            match self {
                Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                    store.write(|t| {
                        for j in i..end {
                            t.insert(key(j), value(j));
                        }
                    });
                }
                Target::Locking { store, .. } => store.extend((i..end).map(|j| (key(j), value(j)))),
            }
            i = end;
        }
    }

    #[inline]
    fn write(&self, k: Key, v: Value) {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                store.write(|t| {
                    t.insert(k, v);
                });
            }
            Target::Locking { store, .. } => {
                store.insert(k, v);
            }
        }
    }

    #[inline]
    fn read(&self, k: &Key) -> usize {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => {
                store.snapshot().get(k).map_or(0, |v| v.0.len())
            }
            Target::Locking { store, .. } => store.read(k, |v| v.map_or(0, |v| v.0.len())),
        }
    }

    fn cow_store(&self) -> Option<&Arc<Store<Value>>> {
        match self {
            Target::Cow { store, .. } | Target::CowFull { store, .. } => Some(store),
            Target::Locking { .. } => None,
        }
    }

    /// Take one snapshot. Returns what it wrote and, for the full-save variant, a directory to
    /// remove once the snapshot's window is closed.
    fn snapshot(&self) -> (Snap, Option<(Engine, tempfile::TempDir)>) {
        match self {
            Target::Cow { engine, .. } => {
                let r = engine
                    .save(&[SERVICE])
                    .pop()
                    .expect("one result")
                    .1
                    .expect("save");
                (Snap { bytes: r.new_bytes }, None)
            }
            Target::CowFull { store, parent } => {
                // A full save from an empty tree: a fresh engine and directory each time.
                let d = tempfile::tempdir_in(parent).expect("temp dir");
                let engine = Engine::open(d.path(), EngineOptions::default()).expect("engine");
                let s = Store::<Value>::new(SERVICE);
                s.replace(store.snapshot().map().clone());
                engine.register(s).expect("register");
                let r = engine
                    .save(&[SERVICE])
                    .pop()
                    .expect("one result")
                    .1
                    .expect("save");
                (Snap { bytes: r.new_bytes }, Some((engine, d)))
            }
            Target::Locking { store, .. } => {
                let r = store.save().expect("save");
                (Snap { bytes: r.bytes }, None)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Heap accounting: while `COUNTING` is on, the net bytes allocated since it was switched on and
// their peak. Off (one relaxed load per allocation) during the latency runs.

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static NET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
static PEAK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only observe.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let now = NET.fetch_add(layout.size() as i64, Ordering::Relaxed) + layout.size() as i64;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            NET.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let d = new as i64 - layout.size() as i64;
            let now = NET.fetch_add(d, Ordering::Relaxed) + d;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Run `f` with heap accounting on; returns its result, the net bytes it left allocated and the
/// peak net bytes along the way.
fn counting<R>(f: impl FnOnce() -> R) -> (R, i64, i64) {
    NET.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let r = f();
    COUNTING.store(false, Ordering::SeqCst);
    (r, NET.load(Ordering::SeqCst), PEAK.load(Ordering::SeqCst))
}

// ---------------------------------------------------------------------------------------------
// Memory.

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory arguments.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// Resident set size now, in bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|x| x.parse::<u64>().ok())
        .unwrap_or(0)
        * page_size()
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn vm_hwm() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Samples RSS every 5 ms on a thread until dropped; `peak()` is the largest sample.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss()));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssSampler {
            stop,
            peak,
            handle: Some(handle),
        }
    }
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().ok();
        }
        self.peak.load(Ordering::Relaxed).max(rss())
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

// ---------------------------------------------------------------------------------------------
// Output.

fn fmt_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 * 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "–".into()
    } else {
        format!("{:.2}×", a as f64 / b as f64)
    }
}

fn print_tables(results: &[ChildResult]) {
    println!(
        "\n### Request latency, all requests (reads and writes)\n\n\
         | engine | entries | snapshots | ops/s | p50 | p99 | p99.9 | max | peak RSS | \
         snapshots taken | snapshot median | bytes written | load (1 min) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        for p in [&r.quiet, &r.snap] {
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {}→{} |",
                r.label,
                size_label(r.entries),
                if p.snapshots { "on" } else { "off" },
                p.ops_per_sec,
                fmt_ns(p.all.p50_ns),
                fmt_ns(p.all.p99_ns),
                fmt_ns(p.all.p999_ns),
                fmt_ns(p.all.max_ns),
                fmt_bytes(p.peak_rss),
                if p.snapshots {
                    p.windows.len().to_string()
                } else {
                    "–".into()
                },
                p.snapshot_median_ms()
                    .map_or("–".into(), |ms| fmt_ns((ms * 1e6) as u64)),
                if p.snapshots {
                    fmt_bytes(p.bytes_written())
                } else {
                    "–".into()
                },
                r.loadavg_start.split(' ').next().unwrap_or("?"),
                r.loadavg_end.split(' ').next().unwrap_or("?"),
            );
        }
    }

    println!(
        "\n### Snapshots on against off, and inside against outside the snapshot windows\n\n\
         \"in windows\": requests of the run with snapshots on whose time (from the intended \
         start, when paced) overlapped a snapshot in progress.\n\n\
         | engine | entries | p99 off | p99 on | p99 on/off | p99 in windows / outside | \
         max off | max on | max on/off | max in windows | max outside windows |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        let (q, s) = (&r.quiet, &r.snap);
        println!(
            "| {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            r.label,
            size_label(r.entries),
            fmt_ns(q.all.p99_ns),
            fmt_ns(s.all.p99_ns),
            ratio(s.all.p99_ns, q.all.p99_ns),
            fmt_ns(s.in_snapshot.p99_ns),
            fmt_ns(s.outside_snapshot.p99_ns),
            fmt_ns(q.all.max_ns),
            fmt_ns(s.all.max_ns),
            ratio(s.all.max_ns, q.all.max_ns),
            fmt_ns(s.in_snapshot.max_ns),
            fmt_ns(s.outside_snapshot.max_ns),
        );
    }

    let mut sizes: Vec<u64> = results.iter().map(|r| r.entries).collect();
    sizes.dedup();
    println!(
        "\n### Locking baseline against snapstack, max latency with snapshots on\n\n\
         | entries | locking max | snapstack variant | its max | locking max / its max |\n\
         |---|---|---|---|---|"
    );
    for n in &sizes {
        let Some(lock) = results
            .iter()
            .find(|r| r.entries == *n && r.engine == "locking")
        else {
            continue;
        };
        for r in results
            .iter()
            .filter(|r| r.entries == *n && r.engine != "locking")
        {
            println!(
                "| {} | {} | {} | {} | {} |",
                size_label(*n),
                fmt_ns(lock.snap.all.max_ns),
                r.label,
                fmt_ns(r.snap.all.max_ns),
                ratio(lock.snap.all.max_ns, r.snap.all.max_ns)
            );
        }
    }

    println!(
        "\n### Memory: one snapshot held while the writer(s) keep writing\n\n\
         Held for as long as that engine's median snapshot took. Heap: bytes allocated minus \
         freed (exact, counted by the allocator); RSS: sampled every 5 ms.\n\n\
         | engine | entries | state (logical) | state heap | held for | writes meanwhile | \
         peak extra heap | % of state heap | peak extra RSS |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for r in results {
        if let Some(h) = &r.hold {
            println!(
                "| {} | {} | {} | {} | {:.0} ms | {} | {} | {:.1} % | {} |",
                r.label,
                size_label(r.entries),
                fmt_bytes(r.logical_bytes),
                fmt_bytes(r.state_heap.max(0) as u64),
                h.hold_ms,
                h.writes,
                fmt_bytes(h.peak_extra_heap.max(0) as u64),
                h.pct_of_state_heap,
                fmt_bytes(h.peak_extra_rss),
            );
        }
    }
    println!(
        "\nPeak RSS with snapshots on minus the RSS before that run (every engine; for the \
         locking baseline this is its serialization buffer):\n\n\
         | engine | entries | state RSS | peak extra RSS, snapshots on | % of state RSS |\n\
         |---|---|---|---|---|"
    );
    for r in results {
        let extra = r.snap.peak_rss.saturating_sub(r.snap.rss_before);
        println!(
            "| {} | {} | {} | {} | {:.1} % |",
            r.label,
            size_label(r.entries),
            fmt_bytes(r.state_rss),
            fmt_bytes(extra),
            extra as f64 / r.state_rss.max(1) as f64 * 100.0
        );
    }

    println!(
        "\n### A flush with nothing changed\n\n\
         | engine | entries | `Engine::save` | `Engine::save_urgent` | bytes written |\n\
         |---|---|---|---|---|"
    );
    for r in results {
        if let Some(u) = &r.unchanged {
            match u.full_save_ms {
                None => println!(
                    "| {} | {} | {:.1} µs | {:.1} µs | {} |",
                    r.label,
                    size_label(r.entries),
                    u.save_us.unwrap_or(f64::NAN),
                    u.save_urgent_us.unwrap_or(f64::NAN),
                    u.bytes
                ),
                Some(ms) => println!(
                    "| {} | {} | full save, {:.1} ms (no change tracking) | – | {} |",
                    r.label,
                    size_label(r.entries),
                    ms,
                    fmt_bytes(u.bytes)
                ),
            }
        }
    }
}

fn plot(results: &[ChildResult], n: u64, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let rows: Vec<&ChildResult> = results.iter().filter(|r| r.entries == n).collect();
    if rows.is_empty() {
        return Ok(());
    }
    png_out::register_font()?;

    let (w, h) = (1400u32, 330 * rows.len() as u32 + 40);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title, body) = root.split_vertically(40);
        title
            .titled(
                &format!(
                    "Request latency over time, {} entries: max per 10 ms (log scale); \
                     shaded = snapshot in progress",
                    size_label(n)
                ),
                ("sans-serif", 22),
            )
            .map_err(|e| e.to_string())?;
        let panels = body.split_evenly((rows.len(), 1));
        let ymax = rows
            .iter()
            .flat_map(|r| [r.quiet.all.max_ns, r.snap.all.max_ns])
            .max()
            .unwrap_or(1) as f64
            / 1e3
            * 2.0;
        let xmax = rows
            .iter()
            .map(|r| r.snap.secs.max(r.quiet.secs))
            .fold(1.0, f64::max)
            + 0.5;
        for (r, area) in rows.iter().zip(panels.iter()) {
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{}: max {} with snapshots, {} without",
                        r.label,
                        fmt_ns(r.snap.all.max_ns),
                        fmt_ns(r.quiet.all.max_ns)
                    ),
                    ("sans-serif", 18),
                )
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(80)
                .build_cartesian_2d(0f64..xmax, (1f64..ymax).log_scale())
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("seconds into the run")
                .y_desc("latency")
                .y_label_formatter(&|v| fmt_ns((*v * 1e3).round() as u64))
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
            let shade = RGBColor(255, 170, 60).mix(0.35).filled();
            chart
                .draw_series(r.snap.windows.iter().map(|wd| {
                    Rectangle::new([(wd.start_ms / 1e3, 1.0), (wd.end_ms / 1e3, ymax)], shade)
                }))
                .map_err(|e| e.to_string())?
                .label("snapshot in progress")
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], shade));
            // One line per run of consecutive non-empty buckets: an empty bucket (no request
            // finished, e.g. all blocked) breaks the line instead of bridging it.
            let segments = |p: &Phase| -> Vec<Vec<(f64, f64)>> {
                let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for (i, v) in p.series_max_ns.iter().enumerate() {
                    let last = out.last_mut().expect("non-empty");
                    if *v == 0 {
                        if !last.is_empty() {
                            out.push(Vec::new());
                        }
                        continue;
                    }
                    last.push(((i as u64 * BUCKET_MS) as f64 / 1e3, *v as f64 / 1e3));
                }
                out.retain(|s| !s.is_empty());
                out
            };
            let grey = RGBColor(150, 150, 150);
            for (i, seg) in segments(&r.quiet).into_iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(seg, grey.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
                if i == 0 {
                    drawn
                        .label("no snapshots (reference run)")
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], grey));
                }
            }
            for (i, seg) in segments(&r.snap).into_iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(seg, BLUE.stroke_width(1)))
                    .map_err(|e| e.to_string())?;
                if i == 0 {
                    drawn
                        .label("snapshots on")
                        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    png_out::write_png(path, &buf, w, h)
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "mem_total_bytes": mem_kb * 1024,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "loadavg": read("/proc/loadavg").trim(),
    })
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

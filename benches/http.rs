//! Request latency through the HTTP gateway while snapshots are taken: snapstack's copy-on-write
//! engine against a LocalStack-style locking snapshot, with the same raw HTTP workload also run
//! against peer emulators (`moto_server`, LocalStack community in host mode) for throughput.
//!
//! The workload: SSM `PutParameter` (writers) and `GetParameter` (readers) over raw HTTP/1.1 on
//! keep-alive connections (one request at a time per connection), keys drawn at random from a
//! preloaded state. Each in-process target runs a phase without snapshots and a phase with a
//! snapshot every `SNAPSTACK_HTTP_INTERVAL_MS`, after a warm-up; every request's latency is kept.
//!
//! Targets (`SNAPSTACK_HTTP_TARGETS`, comma-separated; default `cow,cow-full,locking,moto,localstack`):
//! - `cow`: the server as shipped; each snapshot is `Engine::save` of SSM (what `SCHEDULED` does:
//!   incremental, on a background thread, never blocking a request).
//! - `cow-full`: the same server; each snapshot encodes the whole state from scratch into a fresh
//!   engine (the worst case: nothing reused), still without blocking a request.
//! - `locking`: the same server behind a benchmark-only gate: every request holds a shared
//!   service lock, and a snapshot takes the lock exclusively while it serializes every record with
//!   postcard into one buffer, writes one file and fsyncs it: what LocalStack's persistence does
//!   ("the service has to be locked during snapshotting"). Never the product's path.
//! - `moto`: `moto_server` (no persistence), started here, at `SNAPSTACK_HTTP_PEER_SIZE` entries.
//! - `localstack`: LocalStack community in host mode (`SNAPSTACK_LOCALSTACK_PYTHON`, default
//!   `/work/ls-venv13/bin/python`), at the peer size, if it starts; else the row says why.
//! - `cow-peer`: snapstack at the peer size, for a like-for-like throughput row.
//!
//! Environment (all optional): `SNAPSTACK_HTTP_SIZE` (default 1M), `SNAPSTACK_HTTP_PEER_SIZE`
//! (1000), `SNAPSTACK_HTTP_WRITERS` / `_READERS` (connections, default 4 / 4), `SNAPSTACK_HTTP_SECS`
//! (seconds per phase, 20), `SNAPSTACK_HTTP_PEER_SECS` (10), `SNAPSTACK_HTTP_WARMUP_SECS` (2),
//! `SNAPSTACK_HTTP_INTERVAL_MS` (2000),
//! `SNAPSTACK_HTTP_RATE` (requests/s per connection, paced, latency from each request's due time;
//! 0 = closed loop, as fast as possible; default 0), `SNAPSTACK_HTTP_JSON` (`target/http-latency.json`),
//! `SNAPSTACK_HTTP_PLOT` (`target/http-latency.png`). Method and results: `docs/BENCHMARKS.md`.

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/png_out.rs"]
mod png_out;

#[path = "http/output.rs"]
mod output;
#[path = "common/server.rs"]
mod server;

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use knobs::{env_or, parse_size, size_label};
use snapstack::server::aws_request::RequestContext;
use snapstack::server::config::SaveStrategy;
use snapstack::server::gateway::App;
use snapstack::server::services::ssm::SsmRecord;
use snapstack::{Engine, EngineOptions, Store};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use tokio::sync::RwLock;

use output::{Row, loadavg, plot, print_rows, row};

const BUCKET_MS: u64 = 10;

struct Opts {
    size: u64,
    peer_size: u64,
    writers: usize,
    readers: usize,
    secs: u64,
    peer_secs: u64,
    warmup_secs: u64,
    interval: Duration,
    rate: u64,
    targets: Vec<String>,
    json: PathBuf,
    plot: PathBuf,
    localstack_python: String,
}

impl Opts {
    fn from_env() -> Opts {
        Opts {
            size: parse_size(&env_or("SNAPSTACK_HTTP_SIZE", "1M".to_string())),
            peer_size: parse_size(&env_or("SNAPSTACK_HTTP_PEER_SIZE", "1000".to_string())),
            writers: env_or("SNAPSTACK_HTTP_WRITERS", 4),
            readers: env_or("SNAPSTACK_HTTP_READERS", 4),
            secs: env_or("SNAPSTACK_HTTP_SECS", 20),
            peer_secs: env_or("SNAPSTACK_HTTP_PEER_SECS", 10),
            warmup_secs: env_or("SNAPSTACK_HTTP_WARMUP_SECS", 2),
            interval: Duration::from_millis(env_or("SNAPSTACK_HTTP_INTERVAL_MS", 2000)),
            rate: env_or("SNAPSTACK_HTTP_RATE", 0),
            targets: env_or(
                "SNAPSTACK_HTTP_TARGETS",
                "cow,cow-buffered,cow-full,locking,cow-peer,moto,localstack".to_string(),
            )
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
            json: env_or("SNAPSTACK_HTTP_JSON", "target/http-latency.json".into()),
            plot: env_or("SNAPSTACK_HTTP_PLOT", "target/http-latency.png".into()),
            localstack_python: env_or(
                "SNAPSTACK_LOCALSTACK_PYTHON",
                "/work/ls-venv13/bin/python".to_string(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workload.

fn put_body(i: u64, seed: u64) -> String {
    format!(
        r#"{{"Name":"/bench/p{i}","Value":"value-{seed:016x}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","Type":"String","Overwrite":true}}"#
    )
}

fn get_body(i: u64) -> String {
    format!(r#"{{"Name":"/bench/p{i}"}}"#)
}

fn request(host: &str, write: bool, body: &str) -> Vec<u8> {
    let target = if write {
        "AmazonSSM.PutParameter"
    } else {
        "AmazonSSM.GetParameter"
    };
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Date: 20240101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Send one request, read the response; returns the status and whether the server closes the
/// connection afterwards (`moto_server` answers `Connection: close` to every request).
fn round_trip(
    conn: &mut BufReader<TcpStream>,
    req: &[u8],
    line: &mut String,
    body: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(req)?;
    line.clear();
    if conn.read_line(line)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut len, mut close, mut chunked) = (None, false, false);
    loop {
        line.clear();
        if conn.read_line(line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    if chunked {
        body.clear();
        loop {
            line.clear();
            conn.read_line(line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            let at = body.len();
            body.resize(at + n + 2, 0);
            conn.read_exact(&mut body[at..])?;
            body.truncate(at + n);
            if n == 0 {
                break;
            }
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        conn.read_exact(body)?;
    } else {
        body.clear();
        conn.read_to_end(body)?;
        close = true;
    }
    Ok((status, close))
}

fn connect(addr: &str) -> std::io::Result<BufReader<TcpStream>> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    Ok(BufReader::new(s))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One request as measured: when it started (µs from the phase start), how long it took (µs),
/// whether it was a write.
#[derive(Clone, Copy)]
struct Sample {
    start_us: u64,
    lat_us: u64,
    write: bool,
}

struct PhaseOut {
    samples: Vec<Sample>,
    errors: u64,
    reconnects: u64,
    elapsed: Duration,
    windows: Vec<(u64, u64)>,
    snap_bytes: Vec<u64>,
    peak_rss_kib: u64,
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// What takes a snapshot (for the in-process targets).
type SnapFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Run `writers` + `readers` connections for `secs`; with `snap`, a snapshot starts every
/// `interval` on its own thread. The clients are OS threads with blocking sockets: they do not
/// share the server's runtime, and a paced client sleeps with the OS's precision.
#[allow(clippy::too_many_arguments)]
fn phase(
    addr: &str,
    keys: u64,
    writers: usize,
    readers: usize,
    secs: Duration,
    snap: Option<(SnapFn, Duration)>,
    record: bool,
    rate: u64,
) -> PhaseOut {
    let started = Instant::now();
    let deadline = started + secs;
    let stop = Arc::new(AtomicBool::new(false));
    let windows = Arc::new(Mutex::new(Vec::new()));
    let snapper = snap.map(|(f, interval)| {
        let (stop, windows) = (stop.clone(), windows.clone());
        std::thread::spawn(move || {
            let mut next = Instant::now() + interval / 2;
            let mut bytes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < next {
                    std::thread::sleep((next - now).min(Duration::from_millis(20)));
                    continue;
                }
                let a = started.elapsed().as_micros() as u64;
                bytes.push(f());
                let b = started.elapsed().as_micros() as u64;
                windows
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((a, b));
                next += interval;
                if next < Instant::now() {
                    next = Instant::now();
                }
            }
            bytes
        })
    });
    let rss_stop = Arc::new(AtomicBool::new(false));
    let rss = {
        let s = rss_stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !s.load(Ordering::Relaxed) {
                peak = peak.max(vm_rss_kib());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let mut tasks = Vec::new();
    for c in 0..writers + readers {
        let addr = addr.to_string();
        let write = c < writers;
        tasks.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1) * 0x2545_f491));
            let mut samples = Vec::with_capacity(if record { 1 << 16 } else { 0 });
            let (mut errors, mut reconnects) = (0u64, 0u64);
            let mut conn = connect(&addr).ok();
            let (mut line, mut body) = (String::new(), Vec::new());
            // Paced: request n is due at `n / rate` s; its latency counts from then, so a stall
            // is charged to every request it delayed (no coordinated omission).
            let gap = (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64));
            let mut due = Instant::now();
            while Instant::now() < deadline {
                if gap.is_some() {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    if due >= deadline {
                        break;
                    }
                }
                let k = rng.next() % keys;
                let b = if write {
                    put_body(k, rng.next())
                } else {
                    get_body(k)
                };
                let req = request(&addr, write, &b);
                let t = if gap.is_some() { due } else { Instant::now() };
                if let Some(gap) = gap {
                    due += gap;
                }
                let start_us = t.duration_since(started).as_micros() as u64;
                if conn.is_none() {
                    reconnects += 1;
                    conn = connect(&addr).ok();
                }
                let r = match conn.as_mut() {
                    Some(c) => round_trip(c, &req, &mut line, &mut body),
                    None => Err(std::io::Error::other("cannot connect")),
                };
                let lat_us = (t.elapsed().as_micros() as u64).max(1);
                match r {
                    Ok((status, close)) => {
                        if status != 200 {
                            errors += 1;
                        }
                        if close {
                            conn = None;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        conn = None;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                if record {
                    samples.push(Sample {
                        start_us,
                        lat_us,
                        write,
                    });
                }
            }
            (samples, errors, reconnects)
        }));
    }
    let mut out = PhaseOut {
        samples: Vec::new(),
        errors: 0,
        reconnects: 0,
        elapsed: Duration::ZERO,
        windows: Vec::new(),
        snap_bytes: Vec::new(),
        peak_rss_kib: 0,
    };
    for t in tasks {
        if let Ok((s, e, r)) = t.join() {
            out.samples.extend(s);
            out.errors += e;
            out.reconnects += r;
        }
    }
    out.elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = snapper {
        out.snap_bytes = s.join().unwrap_or_default();
    }
    rss_stop.store(true, Ordering::Relaxed);
    out.peak_rss_kib = rss.join().unwrap_or(0);
    out.windows = std::mem::take(&mut *windows.lock().unwrap_or_else(|e| e.into_inner()));
    out
}

// ---------------------------------------------------------------------------------------------
// The targets.

/// The benchmark-only service lock of the `locking` target: shared by every request, taken
/// exclusively by a snapshot.
type Gate = Arc<RwLock<()>>;

async fn gate_layer(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let _shared = gate.read().await;
    next.run(req).await
}

struct InProcess {
    app: Arc<App>,
    addr: String,
    server: tokio::task::JoinHandle<()>,
    _volume: tempfile::TempDir,
}

async fn start_snapstack(gate: Option<Gate>, direct_writes: bool) -> InProcess {
    let volume = tempfile::tempdir().expect("temp dir");
    let config = server::config(
        volume.path(),
        SaveStrategy::Manual,
        Duration::from_secs(3600),
        direct_writes,
    );
    let srv = server::start(&config, false, |r| match gate {
        Some(g) => r.layer(axum::middleware::from_fn_with_state(g, gate_layer)),
        None => r,
    })
    .await;
    let (app, addr, server) = (srv.app, srv.addr, srv.task);
    InProcess {
        app,
        addr,
        server,
        _volume: volume,
    }
}

/// Fill SSM with `n` parameters through the service itself (setup, not measurement).
fn preload(app: &App, n: u64) -> Duration {
    let t = Instant::now();
    let ctx = RequestContext::from_scope(None);
    for i in 0..n {
        app.service::<snapstack::server::services::ssm::Ssm>()
            .handle(&ctx, "PutParameter", put_body(i, i).as_bytes())
            .expect("preload");
    }
    t.elapsed()
}

/// Fill a peer over HTTP with `n` parameters on `conns` connections.
fn preload_http(addr: &str, n: u64, conns: u64) {
    let mut tasks = Vec::new();
    for c in 0..conns {
        let addr = addr.to_string();
        tasks.push(std::thread::spawn(move || {
            let mut conn = None;
            let (mut line, mut body) = (String::new(), Vec::new());
            let mut i = c;
            while i < n {
                if conn.is_none() {
                    conn = Some(connect(&addr).expect("connect to the peer"));
                }
                let req = request(&addr, true, &put_body(i, i));
                let c = conn.as_mut().expect("connected");
                match round_trip(c, &req, &mut line, &mut body) {
                    Ok((200, close)) => {
                        if close {
                            conn = None;
                        }
                        i += conns;
                    }
                    Ok((s, _)) => panic!(
                        "the peer answered {s} to a preload: {}",
                        String::from_utf8_lossy(&body)
                    ),
                    Err(_) => conn = None,
                }
            }
        }));
    }
    for t in tasks {
        t.join().expect("preload task");
    }
}

/// The locking snapshot: hold the service lock exclusively while every record is serialized into
/// one buffer, written to one file, and fsynced. Returns the bytes written.
fn locking_snapshot(gate: &Gate, store: &Store<SsmRecord>, file: &Path) -> u64 {
    let _exclusive = gate.blocking_write();
    let snap = store.snapshot();
    let mut buf = Vec::new();
    for (k, v) in snap.iter() {
        let kb = k.as_bytes();
        buf.extend_from_slice(&(kb.len() as u32).to_le_bytes());
        buf.extend_from_slice(kb);
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf = postcard::to_extend(v, buf).expect("encode");
        let n = (buf.len() - at - 4) as u32;
        buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }
    let mut f = std::fs::File::create(file).expect("state file");
    f.write_all(&buf).expect("write");
    f.sync_all().expect("fsync");
    buf.len() as u64
}

/// A full save from nothing: the whole state encoded into a fresh engine.
fn full_snapshot(store: &Store<SsmRecord>, parent: &Path) -> u64 {
    let d = tempfile::tempdir_in(parent).expect("temp dir");
    let engine = Engine::open(d.path(), EngineOptions::default()).expect("engine");
    let s = Store::<SsmRecord>::new("ssm");
    s.replace(store.snapshot().map().clone());
    engine.register(s).expect("register");
    let r = engine.save(&["ssm"]).pop().expect("one result").1;
    r.map(|r| r.new_bytes).unwrap_or(0)
}

/// A peer emulator in a child process.
struct Peer {
    child: Child,
    addr: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_ready(addr: &str, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let t = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before it answered"));
        }
        if let Ok(mut c) = connect(addr) {
            let req = request(addr, false, &get_body(0));
            let (mut line, mut body) = (String::new(), Vec::new());
            if let Ok((s, _)) = round_trip(&mut c, &req, &mut line, &mut body)
                && (s == 200 || s == 400)
            {
                return Ok(());
            }
        }
        if t.elapsed() > timeout {
            return Err(format!("did not answer within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn start_moto() -> Result<Peer, String> {
    let port = free_port();
    let mut child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto_server: {e}"))?;
    let addr = format!("127.0.0.1:{port}");
    wait_ready(&addr, &mut child, Duration::from_secs(60)).await?;
    Ok(Peer { child, addr })
}

async fn start_localstack(python: &str) -> Result<(Peer, tempfile::TempDir), String> {
    if !Path::new(python).exists() {
        return Err(format!(
            "{python} not found (install: python3.13 -m venv /work/ls-venv13 && /work/ls-venv13/bin/pip install 'localstack-core[runtime]' 'cbor2==5.6.5' service_identity)"
        ));
    }
    let port = free_port();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .args(["-m", "localstack.runtime.main"])
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("SERVICES", "ssm")
        .env("PERSISTENCE", "0")
        .env("LOCALSTACK_VOLUME_DIR", dir.path())
        .env("FILESYSTEM_ROOT", dir.path())
        .env("DISABLE_EVENTS", "1")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        .env("LS_LOG", "warning")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.path().join("localstack.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .map_err(|e| format!("cannot start LocalStack: {e}"))?;
    let addr = format!("127.0.0.1:{port}");
    if let Err(e) = wait_ready(&addr, &mut child, Duration::from_secs(120)).await {
        let log = std::fs::read_to_string(dir.path().join("localstack.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        return Err(format!("LocalStack {e}; log tail: {:?}", tail));
    }
    Ok((Peer { child, addr }, dir))
}

async fn run_in_process(kind: &str, opts: &Opts, rows: &mut Vec<Row>) {
    let entries = if kind == "cow-peer" {
        opts.peer_size
    } else {
        opts.size
    };
    let gate: Option<Gate> = (kind == "locking").then(|| Arc::new(RwLock::new(())));
    // `cow-buffered`: the engine as it was before direct writes (every pack through the page cache).
    let srv = start_snapstack(gate.clone(), kind != "cow-buffered").await;
    let app = srv.app.clone();
    let took = tokio::task::block_in_place(|| preload(&app, entries));
    eprintln!(
        "{kind}: preloaded {} parameters in {:.1} s",
        size_label(entries),
        took.as_secs_f64()
    );
    let engine = app.persistence.engine().cloned().expect("engine");
    let scratch = tempfile::tempdir().expect("temp dir");
    let snap: SnapFn = match kind {
        "locking" => {
            let (gate, store) = (
                gate.clone().expect("gate"),
                app.service::<snapstack::server::services::ssm::Ssm>()
                    .store
                    .clone(),
            );
            let file = scratch.path().join("ssm.state");
            Arc::new(move || locking_snapshot(&gate, &store, &file))
        }
        "cow-full" => {
            let store = app
                .service::<snapstack::server::services::ssm::Ssm>()
                .store
                .clone();
            let parent = scratch.path().to_path_buf();
            Arc::new(move || full_snapshot(&store, &parent))
        }
        _ => {
            let e = engine.clone();
            Arc::new(move || {
                e.save(&["ssm"])
                    .pop()
                    .and_then(|(_, r)| r.ok())
                    .map(|r| r.new_bytes)
                    .unwrap_or(0)
            })
        }
    };
    // A first snapshot (the full one, for `cow`), then warm-up traffic with one more.
    let t = Instant::now();
    let first = tokio::task::block_in_place(|| snap());
    eprintln!(
        "{kind}: first snapshot {:.2} s, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        first as f64 / 1048576.0
    );
    let (w, r) = (opts.writers, opts.readers);
    let secs = Duration::from_secs(if kind == "cow-peer" {
        opts.peer_secs
    } else {
        opts.secs
    });
    tokio::task::block_in_place(|| {
        phase(
            &srv.addr,
            entries,
            w,
            r,
            Duration::from_secs(opts.warmup_secs),
            None,
            false,
            opts.rate,
        )
    });
    let off = tokio::task::block_in_place(|| {
        phase(&srv.addr, entries, w, r, secs, None, true, opts.rate)
    });
    rows.push(row(kind, entries, false, off));
    eprintln!("{kind}: off done (load {})", loadavg());
    if kind != "cow-peer" {
        let on = tokio::task::block_in_place(|| {
            phase(
                &srv.addr,
                entries,
                w,
                r,
                secs,
                Some((snap, opts.interval)),
                true,
                opts.rate,
            )
        });
        rows.push(row(kind, entries, true, on));
        eprintln!("{kind}: on done (load {})", loadavg());
    }
    srv.server.abort();
    drop(srv);
}

async fn run_peer(kind: &str, opts: &Opts, rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let started = match kind {
        "moto" => start_moto().await.map(|p| (p, None)),
        _ => start_localstack(&opts.localstack_python)
            .await
            .map(|(p, d)| (p, Some(d))),
    };
    let (peer, _dir) = match started {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{kind}: skipped: {e}");
            notes.push(format!("{kind}: not run: {e}"));
            return;
        }
    };
    let t = Instant::now();
    tokio::task::block_in_place(|| preload_http(&peer.addr, opts.peer_size, 4));
    eprintln!(
        "{kind}: preloaded {} parameters over HTTP in {:.1} s",
        size_label(opts.peer_size),
        t.elapsed().as_secs_f64()
    );
    let (w, r) = (opts.writers, opts.readers);
    tokio::task::block_in_place(|| {
        phase(
            &peer.addr,
            opts.peer_size,
            w,
            r,
            Duration::from_secs(opts.warmup_secs),
            None,
            false,
            0,
        )
    });
    let off = tokio::task::block_in_place(|| {
        phase(
            &peer.addr,
            opts.peer_size,
            w,
            r,
            Duration::from_secs(opts.peer_secs),
            None,
            true,
            0,
        )
    });
    rows.push(row(kind, opts.peer_size, false, off));
    eprintln!("{kind}: done (load {})", loadavg());
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let opts = Opts::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let load_before = loadavg();
    rt.block_on(async {
        for t in &opts.targets {
            match t.as_str() {
                "cow" | "cow-buffered" | "cow-full" | "locking" | "cow-peer" => {
                    run_in_process(t, &opts, &mut rows).await
                }
                "moto" | "localstack" => run_peer(t, &opts, &mut rows, &mut notes).await,
                other => panic!(
                    "unknown target {other:?}: cow, cow-full, locking, cow-peer, moto, localstack"
                ),
            }
        }
    });
    println!(
        "\nHTTP gateway benchmark: {} writer + {} reader connections ({}), {} s per phase ({} s for peers), a snapshot every {} ms; load average before {load_before}, after {}",
        opts.writers,
        opts.readers,
        if opts.rate > 0 {
            format!("paced, {} requests/s each", opts.rate)
        } else {
            "closed loop".to_string()
        },
        opts.secs,
        opts.peer_secs,
        opts.interval.as_millis(),
        loadavg()
    );
    print_rows(&rows);
    for n in &notes {
        println!("\n{n}");
    }
    let json = serde_json::json!({
        "writers": opts.writers,
        "readers": opts.readers,
        "secs": opts.secs,
        "interval_ms": opts.interval.as_millis() as u64,
        "rate_per_connection": opts.rate,
        "load_before": load_before,
        "load_after": loadavg(),
        "rows": rows,
        "notes": notes,
    });
    if let Some(d) = opts.json.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    match std::fs::write(
        &opts.json,
        serde_json::to_vec_pretty(&json).unwrap_or_default(),
    ) {
        Ok(()) => println!("\nJSON: {}", opts.json.display()),
        Err(e) => eprintln!("cannot write {}: {e}", opts.json.display()),
    }
    match plot(&rows, &opts.plot) {
        Ok(()) => println!("plot: {}", opts.plot.display()),
        Err(e) => eprintln!("cannot plot: {e}"),
    }
}

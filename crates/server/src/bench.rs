//! `snapstack bench`: request throughput and latency over keep-alive HTTP/1.1.
//!
//! Starts a server in this process (on a free loopback port, with a temporary volume unless one
//! is given), preloads parameters, then runs N connections, each sending one request at a time
//! for a fixed duration. Optionally a background loop saves the whole state over and over while
//! requests run, to show what a concurrent save costs the requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::config::{Config, LoadStrategy, SaveStrategy};
use super::gateway;

/// Which operation the clients send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchOp {
    Put,
    Get,
    /// DynamoDB `PutItem` into one table.
    DdbPut,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub op: BenchOp,
    pub connections: usize,
    pub duration: Duration,
    /// Parameters written before the run (the state a concurrent save has to cover).
    pub preload: usize,
    /// Persist with this save strategy (`None`: persistence off).
    pub save_strategy: Option<SaveStrategy>,
    /// Save everything in a loop while the clients run.
    pub concurrent_save: bool,
    /// Under `ON_REQUEST`, commit through the write-ahead log (`SNAPSTACK_WAL`).
    pub write_ahead_log: bool,
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub saves: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// `ON_REQUEST`: group commits during the run (log appends, or saves without the log).
    pub groups: u64,
}

impl BenchReport {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} ops/s ({} ops, {} errors in {:.2} s, {} concurrent saves, {} group commits); latency p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            self.ops_per_sec(),
            self.ops,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.saves,
            self.groups,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us
        )
    }
}

fn put_body(i: usize) -> String {
    format!(
        r#"{{"Name":"/bench/p{i}","Value":"value-{i}-xxxxxxxxxxxxxxxx","Type":"String","Overwrite":true}}"#
    )
}

fn get_body(i: usize) -> String {
    format!(r#"{{"Name":"/bench/p{i}"}}"#)
}

fn ddb_put_body(i: usize) -> String {
    format!(
        r#"{{"TableName":"bench","Item":{{"pk":{{"S":"k{i}"}},"v":{{"S":"value-{i}-xxxxxxxxxxxxxxxx"}}}}}}"#
    )
}

const DDB_CREATE: &str = r#"{"TableName":"bench","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}"#;

fn request(addr: &str, op: BenchOp, body: &str) -> Vec<u8> {
    let (target, json, service) = match op {
        BenchOp::Put => ("AmazonSSM.PutParameter", "1.1", "ssm"),
        BenchOp::Get => ("AmazonSSM.GetParameter", "1.1", "ssm"),
        BenchOp::DdbPut => ("DynamoDB_20120810.PutItem", "1.0", "dynamodb"),
    };
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{json}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The latency of a small write plus `fdatasync` on the disk of `dir` (the floor of a durable
/// write): `n` 256-byte appends into a preallocated file. Returns (p50, p99) in µs.
pub fn raw_fdatasync_latency(dir: &std::path::Path, n: usize) -> Result<(u64, u64), String> {
    use std::os::unix::fs::FileExt;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("fdatasync-probe-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    f.set_len((n as u64 + 1) * 4096)
        .map_err(|e| e.to_string())?;
    f.write_all_at(&vec![0u8; (n + 1) * 4096], 0)
        .and_then(|()| f.sync_all())
        .map_err(|e| e.to_string())?;
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
    let buf = [0x5au8; 256];
    for i in 0..n {
        let t = Instant::now();
        f.write_all_at(&buf, i as u64 * 256)
            .and_then(|()| f.sync_data())
            .map_err(|e| e.to_string())?;
        let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
    }
    let _ = std::fs::remove_file(&path);
    Ok((hist.value_at_quantile(0.5), hist.value_at_quantile(0.99)))
}

/// Send one request and read its response (a `Content-Length` body) into `body`; returns the
/// status.
pub async fn round_trip(
    conn: &mut BufReader<TcpStream>,
    req: &[u8],
    line: &mut String,
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    round_trip_keep(conn, req, line, body).await.map(|(s, _)| s)
}

/// [`round_trip`], and whether the server keeps the connection open (no `Connection: close`:
/// some servers, moto's among them, close after every response).
pub async fn round_trip_keep(
    conn: &mut BufReader<TcpStream>,
    req: &[u8],
    line: &mut String,
    body: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    conn.get_mut().write_all(req).await?;
    line.clear();
    conn.read_line(line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    let mut keep = true;
    loop {
        line.clear();
        if conn.read_line(line).await? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("connection")
            && v.trim().eq_ignore_ascii_case("close")
        {
            keep = false;
        }
    }
    body.resize(len, 0);
    conn.read_exact(body).await?;
    Ok((status, keep))
}

/// Run a benchmark against an in-process server.
pub async fn run(opts: BenchOptions) -> Result<BenchReport, String> {
    let volume = std::env::temp_dir().join(format!(
        "snapstack-bench-{}-{}",
        std::process::id(),
        snapstack_engine::writer::unix_ms()
    ));
    let config = Config {
        listen: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        extra_listen: Vec::new(),
        services: None,
        eager_service_loading: false,
        init_dir: std::path::PathBuf::from("/nonexistent"),
        persistence: opts.save_strategy.is_some(),
        persist_mode: crate::config::PersistMode::ReadWrite,
        not_persisted: Vec::new(),
        save_strategy: opts.save_strategy.unwrap_or(SaveStrategy::Manual),
        load_strategy: LoadStrategy::Manual,
        flush_interval: Duration::from_secs(1),
        volume_dir: volume.clone(),
        direct_writes: true,
        write_ahead_log: opts.write_ahead_log,
        connections: Default::default(),
        sqs_endpoint_strategy: crate::config::SqsEndpointStrategy::Standard,
        localstack_host: None,
        enforce_iam: false,
        iam_soft_mode: false,
    };
    let result = run_with(&config, &opts).await;
    let _ = std::fs::remove_dir_all(&volume);
    result
}

async fn run_with(config: &Config, opts: &BenchOptions) -> Result<BenchReport, String> {
    let app = super::build(config).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    app.persistence.start(config.flush_interval);
    let server = tokio::spawn(
        axum::serve(super::no_delay(listener), gateway::router(app.clone())).into_future(),
    );

    // Preload directly through the service (not over HTTP): it is setup, not measurement.
    {
        let ctx = super::aws_request::RequestContext::from_scope(None);
        if opts.op == BenchOp::DdbPut {
            app.service::<snapstack_dynamodb::DynamoDb>()
                .handle(&ctx, "CreateTable", DDB_CREATE.as_bytes())
                .map_err(|e| format!("{e:?}"))?;
            for i in 0..opts.preload {
                app.service::<snapstack_dynamodb::DynamoDb>()
                    .handle(&ctx, "PutItem", ddb_put_body(i).as_bytes())
                    .map_err(|e| format!("{e:?}"))?;
            }
        } else {
            for i in 0..opts.preload {
                app.service::<snapstack_ssm::Ssm>()
                    .handle(&ctx, "PutParameter", put_body(i).as_bytes())
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(engine) = app.persistence.engine().cloned() {
            tokio::task::spawn_blocking(move || engine.save_all())
                .await
                .map_err(|e| e.to_string())?;
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let saver = if opts.concurrent_save {
        let engine = app
            .persistence
            .engine()
            .cloned()
            .ok_or("a concurrent save needs persistence (--save-strategy)")?;
        let stop = stop.clone();
        Some(tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (_, r) in engine.save_forced(&["ssm"]) {
                    if r.is_ok() {
                        n += 1;
                    }
                }
            }
            n
        }))
    } else {
        None
    };

    let groups_before = app.persistence.group_commits();
    let started = Instant::now();
    let deadline = started + opts.duration;
    let keys = opts.preload.max(1);
    let mut tasks = Vec::new();
    for c in 0..opts.connections {
        let addr = addr.clone();
        let op = opts.op;
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
            let stream = TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut conn = BufReader::new(stream);
            let (mut line, mut body) = (String::new(), Vec::new());
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut i = c * 7919;
            while Instant::now() < deadline {
                i = (i + 1) % keys;
                let b = match op {
                    BenchOp::Put => put_body(i),
                    BenchOp::Get => get_body(i),
                    BenchOp::DdbPut => ddb_put_body(i),
                };
                let req = request(&addr, op, &b);
                let t = Instant::now();
                let status = round_trip(&mut conn, &req, &mut line, &mut body)
                    .await
                    .map_err(|e| e.to_string())?;
                let us = t.elapsed().as_micros() as u64;
                let _ = hist.record(us.max(1));
                ops += 1;
                if status != 200 {
                    errors += 1;
                }
            }
            Ok::<_, String>((hist, ops, errors))
        }));
    }
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
    let (mut ops, mut errors) = (0, 0);
    for t in tasks {
        let (h, o, e) = t.await.map_err(|e| e.to_string())??;
        hist.add(&h).map_err(|e| e.to_string())?;
        ops += o;
        errors += e;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let saves = match saver {
        Some(s) => s.await.map_err(|e| e.to_string())?,
        None => 0,
    };
    let groups = app.persistence.group_commits() - groups_before;
    server.abort();
    Ok(BenchReport {
        ops,
        errors,
        elapsed,
        saves,
        groups,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
    })
}

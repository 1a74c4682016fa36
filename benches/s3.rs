//! S3 figures, printed as a table: PutObject and GetObject at 1 KiB and 1 MiB over keep-alive
//! HTTP (ops/s, p50, p99, max), the bytes a flush writes after one object is added to a bucket of
//! 100k objects, and the server's peak memory while a 1 GiB object streams in.
//!
//! `cargo bench --bench s3` (env: `SNAPSTACK_BENCH_CONNECTIONS` (8), `SNAPSTACK_BENCH_SECONDS`
//! (5), `SNAPSTACK_BENCH_OBJECTS` (100000), `SNAPSTACK_BENCH_BIG_MIB` (1024),
//! `SNAPSTACK_DIRECT_WRITES` (1; `0` writes packs through the page cache)). Client and server
//! share this process and its 2 cores, as the `snapstack bench` subcommand does.

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/load.rs"]
mod load;
#[path = "common/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use hdrhistogram::Histogram;
use snapstack::server::aws_request::RequestContext;
use snapstack::server::config::SaveStrategy;
use snapstack::server::gateway::App;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Pseudo-random bytes (nothing deduplicates).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

async fn send(
    conn: &mut BufReader<TcpStream>,
    head: &str,
    body: &[u8],
    line: &mut String,
    buf: &mut Vec<u8>,
) -> std::io::Result<u16> {
    let mut req = Vec::with_capacity(head.len() + body.len());
    req.extend_from_slice(head.as_bytes());
    req.extend_from_slice(body);
    snapstack::server::bench::round_trip(conn, &req, line, buf).await
}

fn head(method: &str, path: &str, len: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// N connections, each sending one request at a time for `secs`.
async fn load(
    addr: &str,
    put: bool,
    size: usize,
    conns: u64,
    secs: u64,
) -> (f64, Histogram<u64>, u64) {
    let body = bytes(size, 1);
    let request: load::MakeRequest = Arc::new(move |c, i| {
        let key = format!("/bench/s{size}-{}", (c * 1_000_003 + i) % 512);
        let (head, body) = if put {
            (head("PUT", &key, size), &body[..])
        } else {
            (head("GET", &key, 0), &[][..])
        };
        [head.as_bytes(), body].concat()
    });
    load::closed_loop(addr, conns, secs, request).await
}

async fn put_direct(app: &App, key: &str, body: Vec<u8>) {
    let (parts, ()) = axum::http::Request::builder()
        .method("PUT")
        .uri(key)
        .header("host", "bench")
        .body(())
        .expect("request")
        .into_parts();
    let ctx = RequestContext::from_scope(None);
    let out = app
        .service::<snapstack::server::services::s3::S3>()
        .handle(&ctx, &parts, Body::from(body))
        .await;
    assert_eq!(out.response.status(), 200, "{key}");
}

fn main() {
    let conns = knobs::env_or::<u64>("SNAPSTACK_BENCH_CONNECTIONS", 8);
    let secs = knobs::env_or::<u64>("SNAPSTACK_BENCH_SECONDS", 5);
    let objects = knobs::env_or::<u64>("SNAPSTACK_BENCH_OBJECTS", 100_000);
    let big_mib = knobs::env_or::<u64>("SNAPSTACK_BENCH_BIG_MIB", 1024);
    let volume = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows: Vec<(String, String)> = Vec::new();
    rt.block_on(async {
        // `SNAPSTACK_DIRECT_WRITES=0`: packs through the page cache, to compare.
        let direct = std::env::var("SNAPSTACK_DIRECT_WRITES").map_or(true, |v| v != "0");
        let config = server::config(volume.path(), SaveStrategy::Manual, Duration::from_secs(15), direct);
        let srv = server::start(&config, false, |r| r).await;
        let (app, addr) = (srv.app.clone(), srv.addr.clone());
        let engine = app.persistence.engine().cloned().expect("engine");

        let mut c = BufReader::new(TcpStream::connect(&addr).await.expect("connect"));
        let (mut line, mut buf) = (String::new(), Vec::new());
        send(&mut c, &head("PUT", "/bench", 0), &[], &mut line, &mut buf).await.expect("bucket");
        for (size, label) in [(1024usize, "1 KiB"), (1 << 20, "1 MiB")] {
            for put in [true, false] {
                if !put {
                    // Every key the readers ask for exists.
                    for i in 0..512u64 {
                        put_direct(&app, &format!("/bench/s{size}-{i}"), bytes(size, i)).await;
                    }
                }
                let (rate, h, errors) = load(&addr, put, size, conns, secs).await;
                rows.push((
                    format!("{} {label}, {conns} connections", if put { "PutObject" } else { "GetObject" }),
                    format!(
                        "{rate:.0} ops/s ({:.0} MB/s), p50 {} µs, p99 {} µs, max {} µs, {errors} errors",
                        rate * size as f64 / 1e6,
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.99),
                        h.max()
                    ),
                ));
            }
        }

        // Peak memory while a large object streams in over HTTP.
        let before = vm_rss_kib();
        let hwm_before = vm_hwm_kib();
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = sampling.clone();
            std::thread::spawn(move || {
                let mut peak = 0;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(vm_rss_kib());
                    std::thread::sleep(Duration::from_millis(5));
                }
                peak
            })
        };
        let size = (big_mib as usize) << 20;
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let t = Instant::now();
        s.write_all(head("PUT", "/bench/huge", size).as_bytes()).await.expect("head");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut block = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            for w in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
            }
            let n = left.min(block.len());
            s.write_all(&block[..n]).await.expect("body");
            left -= n;
        }
        let mut conn = BufReader::new(s);
        line.clear();
        conn.read_line(&mut line).await.expect("status");
        let took = t.elapsed();
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let peak_during = sampler.join().unwrap_or(0);
        rows.push((
            format!("PutObject of {big_mib} MiB, streamed"),
            format!(
                "{:.1} s ({:.0} MB/s); process RSS {} MiB before, {} MiB at most during the upload (sampled every 5 ms; high-water mark before {} MiB); {}",
                took.as_secs_f64(),
                size as f64 / took.as_secs_f64() / 1e6,
                before / 1024,
                peak_during / 1024,
                hwm_before / 1024,
                line.trim()
            ),
        ));
        // A flush after one more object in a bucket of `objects` objects.
        send(&mut c, &head("PUT", "/many", 0), &[], &mut line, &mut buf).await.expect("bucket");
        let t = Instant::now();
        for i in 0..objects {
            put_direct(&app, &format!("/many/obj-{i:08}"), bytes(1024, i)).await;
        }
        let fill = t.elapsed();
        let e = engine.clone();
        let full = tokio::task::spawn_blocking(move || e.save(&["s3"]))
            .await
            .expect("save")
            .pop()
            .expect("one")
            .1
            .expect("saved");
        put_direct(&app, "/many/obj-one-more", bytes(1024, u64::MAX)).await;
        let e = engine.clone();
        let inc = tokio::task::spawn_blocking(move || e.save(&["s3"]))
            .await
            .expect("save")
            .pop()
            .expect("one")
            .1
            .expect("saved");
        rows.push((
            format!("full save of S3 with {objects} × 1 KiB objects"),
            format!(
                "{:.2} s, {} chunks, {:.1} MiB new (filled in {:.1} s)",
                full.duration.as_secs_f64(),
                full.new_chunks,
                full.new_bytes as f64 / (1 << 20) as f64,
                fill.as_secs_f64()
            ),
        ));
        rows.push((
            "flush after adding 1 object to that bucket".to_string(),
            format!(
                "{:.1} ms, {} new chunks, {} new bytes (the tree has {} chunks)",
                inc.duration.as_secs_f64() * 1e3,
                inc.new_chunks,
                inc.new_bytes,
                engine.status("s3").map(|s| s.tree_chunks).unwrap_or(0)
            ),
        ));

    });
    println!("\n| measurement | result |\n|---|---|");
    for (a, b) in rows {
        println!("| {a} | {b} |");
    }
}

//! A closed-loop HTTP load: N keep-alive connections, each sending one request and waiting for
//! its answer, again and again until the time is up. Shared by the S3 and DynamoDB benches (the
//! SQS bench shares the joining of its clients' results).

// Each bench uses the part it needs.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::BufReader;
use tokio::net::TcpStream;

/// Builds request number `i` of connection `c` (the whole HTTP/1.1 request, head and body).
/// Called outside the timed part of each round trip.
pub type MakeRequest = Arc<dyn Fn(u64, u64) -> Vec<u8> + Send + Sync>;

/// Run the load for `secs` over `conns` connections to `addr`. Returns requests per second, the
/// latency histogram (µs, every connection merged) and how many answers were not 200.
pub async fn closed_loop(
    addr: &str,
    conns: u64,
    secs: u64,
    request: MakeRequest,
) -> (f64, Histogram<u64>, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (addr, request) = (addr.to_string(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
            let s = TcpStream::connect(&addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let mut conn = BufReader::new(s);
            let (mut line, mut buf) = (String::new(), Vec::new());
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let req = request(c, i);
                let t = Instant::now();
                let status =
                    snapstack::server::bench::round_trip(&mut conn, &req, &mut line, &mut buf)
                        .await
                        .expect("request");
                let _ = h.record((t.elapsed().as_micros() as u64).max(1));
                ops += 1;
                if status != 200 {
                    errors += 1;
                }
            }
            (h, ops, errors)
        }));
    }
    let started = Instant::now();
    let (all, ops, errors) = join_clients(tasks).await;
    (ops as f64 / started.elapsed().as_secs_f64(), all, errors)
}

/// Wait for every client task and merge what they return: (latency histogram, requests, errors).
pub async fn join_clients(
    tasks: Vec<tokio::task::JoinHandle<(Histogram<u64>, u64, u64)>>,
) -> (Histogram<u64>, u64, u64) {
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
    let (mut ops, mut errors) = (0, 0);
    for t in tasks {
        let (h, o, e) = t.await.expect("client");
        all.add(&h).expect("add");
        ops += o;
        errors += e;
    }
    (all, ops, errors)
}

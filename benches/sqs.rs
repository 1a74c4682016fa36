//! SQS figures, printed as a table: SendMessage, and ReceiveMessage + DeleteMessage, with N
//! clients over keep-alive HTTP in the JSON protocol (ops/s, p50, p99, max), for a queue without
//! SSE, one with SSE-SQS (the default) and one with SSE-KMS (a KMS key made through KMS, data
//! keys reused for the default 300 s); the same sends under ON_REQUEST durability, and the long-poll wake-up latency (a receiver waits, a message
//! is sent: time from the send's start to the receiver's answer).
//!
//! `cargo bench --bench sqs` (env: `SNAPSTACK_BENCH_CONNECTIONS` (8), `SNAPSTACK_BENCH_SECONDS`
//! (5), `SNAPSTACK_BENCH_WAKEUPS` (200)). Client and server share this process and its 2 cores,
//! as the `snapstack bench` subcommand does.

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/load.rs"]
mod load;
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use snapstack::server::config::SaveStrategy;
use tokio::io::BufReader;
use tokio::net::TcpStream;

type Conn = BufReader<TcpStream>;

struct Client {
    conn: Conn,
    line: String,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Client {
            conn: BufReader::new(s),
            line: String::new(),
            buf: Vec::new(),
        }
    }

    /// One JSON-protocol call; returns the status (the body is in `self.buf`).
    async fn call(&mut self, op: &str, body: &str) -> u16 {
        self.call_service("sqs", &format!("AmazonSQS.{op}"), "1.0", body)
            .await
    }

    /// One JSON-protocol call of any service (its signing name, target, JSON version).
    async fn call_service(&mut self, service: &str, target: &str, json: &str, body: &str) -> u16 {
        let req = format!(
            "POST / HTTP/1.1\r\nHost: bench\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{json}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        snapstack::server::bench::round_trip(
            &mut self.conn,
            req.as_bytes(),
            &mut self.line,
            &mut self.buf,
        )
        .await
        .expect("request")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.buf).unwrap_or(serde_json::Value::Null)
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram")
}

fn us(t: Instant) -> u64 {
    (t.elapsed().as_micros() as u64).max(1)
}

fn row(h: &Histogram<u64>, ops: u64, took: Duration, errors: u64) -> String {
    format!(
        "{:.0} ops/s, p50 {} µs, p99 {} µs, max {} µs, {errors} errors",
        ops as f64 / took.as_secs_f64(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    )
}

/// N clients sending messages for `secs`.
async fn sends(
    addr: &str,
    url: &str,
    conns: u64,
    secs: u64,
) -> (Histogram<u64>, u64, Duration, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (addr, url) = (addr.to_string(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr).await;
            let mut h = histogram();
            let (mut ops, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let body = serde_json::json!({
                    "QueueUrl": url,
                    "MessageBody": format!("message {c}-{ops} {}", "x".repeat(100)),
                })
                .to_string();
                let t = Instant::now();
                if client.call("SendMessage", &body).await != 200 {
                    errors += 1;
                }
                let _ = h.record(us(t));
                ops += 1;
            }
            (h, ops, errors)
        }));
    }
    let (all, ops, errors) = load::join_clients(tasks).await;
    (all, ops, started.elapsed(), errors)
}

/// N clients each receiving one message and deleting it, for `secs`. Returns the histograms of
/// receives and deletes, the messages consumed, and the errors (an empty receive is one).
async fn consume(
    addr: &str,
    url: &str,
    conns: u64,
    secs: u64,
) -> (Histogram<u64>, Histogram<u64>, u64, Duration, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (addr, url) = (addr.to_string(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&addr).await;
            let (mut hr, mut hd) = (histogram(), histogram());
            let (mut ops, mut errors) = (0u64, 0u64);
            let receive = serde_json::json!({"QueueUrl": url, "VisibilityTimeout": 60}).to_string();
            while Instant::now() < deadline {
                let t = Instant::now();
                let status = client.call("ReceiveMessage", &receive).await;
                let _ = hr.record(us(t));
                let v = client.json();
                let Some(handle) = v["Messages"][0]["ReceiptHandle"].as_str() else {
                    errors += 1;
                    continue;
                };
                if status != 200 {
                    errors += 1;
                }
                let del = serde_json::json!({"QueueUrl": url, "ReceiptHandle": handle}).to_string();
                let t = Instant::now();
                if client.call("DeleteMessage", &del).await != 200 {
                    errors += 1;
                }
                let _ = hd.record(us(t));
                ops += 1;
            }
            (hr, hd, ops, errors)
        }));
    }
    let (mut hr, mut hd) = (histogram(), histogram());
    let (mut ops, mut errors) = (0, 0);
    for t in tasks {
        let (a, b, o, e) = t.await.expect("client");
        hr.add(&a).expect("add");
        hd.add(&b).expect("add");
        ops += o;
        errors += e;
    }
    (hr, hd, ops, started.elapsed(), errors)
}

/// A receiver long-polls an empty queue; once it waits, a message is sent. Measures the time
/// from the start of the send to the receiver's answer.
async fn wakeups(addr: &str, url: &str, rounds: u64) -> (Histogram<u64>, u64) {
    let mut h = histogram();
    let mut sender = Client::connect(addr).await;
    let mut misses = 0;
    for i in 0..rounds {
        let (addr2, url2) = (addr.to_string(), url.to_string());
        let receiver = tokio::spawn(async move {
            let mut c = Client::connect(&addr2).await;
            let body = serde_json::json!({"QueueUrl": url2, "WaitTimeSeconds": 20}).to_string();
            c.call("ReceiveMessage", &body).await;
            (Instant::now(), c.json())
        });
        // Let the receiver reach its wait.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let body =
            serde_json::json!({"QueueUrl": url, "MessageBody": format!("wake {i}")}).to_string();
        let t = Instant::now();
        sender.call("SendMessage", &body).await;
        let (answered, v) = receiver.await.expect("receiver");
        match v["Messages"][0]["ReceiptHandle"].as_str() {
            Some(handle) => {
                let _ = h.record((answered.duration_since(t).as_micros() as u64).max(1));
                let del = serde_json::json!({"QueueUrl": url, "ReceiptHandle": handle}).to_string();
                sender.call("DeleteMessage", &del).await;
            }
            None => misses += 1,
        }
    }
    (h, misses)
}

async fn serve(strategy: SaveStrategy, volume: &std::path::Path) -> String {
    let config = server::config(volume, strategy, Duration::from_secs(15), true);
    server::start(&config, true, |r| r).await.addr
}

fn main() {
    let conns = knobs::env_or::<u64>("SNAPSTACK_BENCH_CONNECTIONS", 8);
    let secs = knobs::env_or::<u64>("SNAPSTACK_BENCH_SECONDS", 5);
    let rounds = knobs::env_or::<u64>("SNAPSTACK_BENCH_WAKEUPS", 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows: Vec<(String, String)> = Vec::new();
    rt.block_on(async {
        let volume = tempfile::tempdir().expect("temp dir");
        let addr = serve(SaveStrategy::Manual, volume.path()).await;
        let mut c = Client::connect(&addr).await;
        assert_eq!(
            c.call_service(
                "kms",
                "TrentService.CreateKey",
                "1.1",
                r#"{"Description":"bench"}"#
            )
            .await,
            200
        );
        let key = c.json()["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("key id")
            .to_string();
        let kinds = [
            ("no SSE", "bench-plain", r#"{"SqsManagedSseEnabled":"false"}"#.to_string()),
            ("SSE-SQS", "bench-sqs", "{}".to_string()),
            (
                "SSE-KMS",
                "bench-kms",
                serde_json::json!({"KmsMasterKeyId": key}).to_string(),
            ),
        ];
        for (kind, name, attributes) in kinds {
            let create = format!(r#"{{"QueueName":"{name}","Attributes":{attributes}}}"#);
            assert_eq!(c.call("CreateQueue", &create).await, 200);
            let url = c.json()["QueueUrl"].as_str().expect("url").to_string();

            let (h, ops, took, errors) = sends(&addr, &url, conns, secs).await;
            rows.push((
                format!("SendMessage (~120 B), {kind}, {conns} connections"),
                row(&h, ops, took, errors),
            ));
            let (hr, hd, ops, took, errors) = consume(&addr, &url, conns, secs).await;
            rows.push((
                format!(
                    "ReceiveMessage + DeleteMessage, {kind}, {conns} connections (messages consumed)"
                ),
                format!(
                    "{:.0} messages/s; ReceiveMessage p50 {} µs, p99 {} µs, max {} µs; DeleteMessage p50 {} µs, p99 {} µs, max {} µs; {errors} errors",
                    ops as f64 / took.as_secs_f64(),
                    hr.value_at_quantile(0.5),
                    hr.value_at_quantile(0.99),
                    hr.max(),
                    hd.value_at_quantile(0.5),
                    hd.value_at_quantile(0.99),
                    hd.max()
                ),
            ));
            // The next kind starts from the same, empty state.
            let delete = serde_json::json!({"QueueUrl": url}).to_string();
            assert_eq!(c.call("DeleteQueue", &delete).await, 200);
        }
        assert_eq!(c.call("CreateQueue", r#"{"QueueName":"wake"}"#).await, 200);
        let wake = c.json()["QueueUrl"].as_str().expect("url").to_string();
        let (h, misses) = wakeups(&addr, &wake, rounds).await;
        rows.push((
            format!("long-poll wake-up (send → waiting receiver answers), {rounds} rounds"),
            format!(
                "p50 {} µs, p99 {} µs, max {} µs, {misses} missed",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.max()
            ),
        ));

        let volume = tempfile::tempdir().expect("temp dir");
        let addr = serve(SaveStrategy::OnRequest, volume.path()).await;
        let mut c = Client::connect(&addr).await;
        assert_eq!(c.call("CreateQueue", r#"{"QueueName":"durable"}"#).await, 200);
        let url = c.json()["QueueUrl"].as_str().expect("url").to_string();
        let (h, ops, took, errors) = sends(&addr, &url, conns, secs).await;
        rows.push((
            format!("SendMessage under ON_REQUEST (durable before the answer), {conns} connections"),
            row(&h, ops, took, errors),
        ));
    });
    println!("\n| measurement | result |\n|---|---|");
    for (a, b) in rows {
        println!("| {a} | {b} |");
    }
}

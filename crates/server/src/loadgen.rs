//! `snapstack loadgen`: throughput and latency of one operation against any running server (this
//! build, an older build, or another emulator on the same port), over N keep-alive HTTP/1.1
//! connections each sending one request at a time. The before/after comparison of a change runs
//! it against both binaries, alternately (`scripts/compare.py`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::bench::round_trip;

/// The operations measured (issue 16's list).
pub const OPS: &[&str] = &[
    "ssm-put", "ssm-get", "ddb-put", "ddb-get", "sqs-send", "s3-put", "s3-get",
];

/// A finished run.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub op: String,
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl LoadReport {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

fn signed(service: &str) -> String {
    format!(
        "Authorization: AWS4-HMAC-SHA256 Credential=000000000000/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
    )
}

fn json_request(host: &str, target: &str, version: &str, service: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-{version}\r\n{}Content-Length: {}\r\n\r\n{body}",
        signed(service),
        body.len()
    )
    .into_bytes()
}

fn s3_request(host: &str, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n{}Content-Length: {}\r\n\r\n",
        signed("s3"),
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The request of `op` for key `i`.
fn request(op: &str, host: &str, i: usize, queue_url: &str) -> Vec<u8> {
    match op {
        "ssm-put" => json_request(
            host,
            "AmazonSSM.PutParameter",
            "1.1",
            "ssm",
            &format!(
                r#"{{"Name":"/load/p{i}","Value":"value-{i}-xxxxxxxxxxxxxxxx","Type":"String","Overwrite":true}}"#
            ),
        ),
        "ssm-get" => json_request(
            host,
            "AmazonSSM.GetParameter",
            "1.1",
            "ssm",
            &format!(r#"{{"Name":"/load/p{i}"}}"#),
        ),
        "ddb-put" => json_request(
            host,
            "DynamoDB_20120810.PutItem",
            "1.0",
            "dynamodb",
            &format!(
                r#"{{"TableName":"load","Item":{{"pk":{{"S":"k{i}"}},"v":{{"S":"value-{i}-xxxxxxxxxxxxxxxx"}}}}}}"#
            ),
        ),
        "ddb-get" => json_request(
            host,
            "DynamoDB_20120810.GetItem",
            "1.0",
            "dynamodb",
            &format!(r#"{{"TableName":"load","Key":{{"pk":{{"S":"k{i}"}}}}}}"#),
        ),
        "sqs-send" => json_request(
            host,
            "AmazonSQS.SendMessage",
            "1.0",
            "sqs",
            &format!(
                r#"{{"QueueUrl":"{queue_url}","MessageBody":"message {i} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#
            ),
        ),
        "s3-put" => s3_request(host, "PUT", &format!("/load/k{i}"), &[b'x'; 1024]),
        "s3-get" => s3_request(host, "GET", &format!("/load/k{i}"), b""),
        other => panic!("unknown operation {other} (checked by the caller)"),
    }
}

/// One request outside the measurement; its response body.
async fn once(addr: &str, req: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut conn = BufReader::new(stream);
    let (mut line, mut body) = (String::new(), Vec::new());
    let status = round_trip(&mut conn, req, &mut line, &mut body)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.get_mut().shutdown().await;
    Ok((status, body))
}

/// Create what `op` needs and write `keys` items for the reads. Returns the queue URL for SQS.
async fn setup(op: &str, addr: &str, keys: usize) -> Result<String, String> {
    let host = addr;
    let ok = |(s, b): (u16, Vec<u8>)| {
        if s < 300 || s == 409 {
            Ok(b)
        } else {
            Err(format!(
                "setup of {op} got {s}: {}",
                String::from_utf8_lossy(&b)
            ))
        }
    };
    match op {
        "ddb-put" | "ddb-get" => {
            let body = r#"{"TableName":"load","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}"#;
            let r = once(
                addr,
                &json_request(
                    host,
                    "DynamoDB_20120810.CreateTable",
                    "1.0",
                    "dynamodb",
                    body,
                ),
            )
            .await?;
            // An existing table (a second run against the same server) is fine.
            if r.0 != 400 {
                ok(r)?;
            }
        }
        "s3-put" | "s3-get" => {
            ok(once(addr, &s3_request(host, "PUT", "/load", b"")).await?)?;
        }
        "sqs-send" => {
            let r = ok(once(
                addr,
                &json_request(
                    host,
                    "AmazonSQS.CreateQueue",
                    "1.0",
                    "sqs",
                    r#"{"QueueName":"load"}"#,
                ),
            )
            .await?)?;
            let v: serde_json::Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
            return v["QueueUrl"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "CreateQueue answered no QueueUrl".to_string());
        }
        _ => {}
    }
    let writer = match op {
        "ssm-get" => Some("ssm-put"),
        "ddb-get" => Some("ddb-put"),
        "s3-get" => Some("s3-put"),
        _ => None,
    };
    if let Some(w) = writer {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut conn = BufReader::new(stream);
        let (mut line, mut body) = (String::new(), Vec::new());
        for i in 0..keys {
            let s = round_trip(&mut conn, &request(w, host, i, ""), &mut line, &mut body)
                .await
                .map_err(|e| e.to_string())?;
            if s != 200 {
                return Err(format!("preloading {w} got {s}"));
            }
        }
    }
    Ok(String::new())
}

/// Run `op` against the server at `addr` (`host:port`) on `connections` connections for
/// `duration`, over `keys` distinct keys.
pub async fn run(
    addr: &str,
    op: &str,
    connections: usize,
    duration: Duration,
    keys: usize,
) -> Result<LoadReport, String> {
    if !OPS.contains(&op) {
        return Err(format!("--op must be one of {}", OPS.join(", ")));
    }
    let keys = keys.max(1);
    let queue_url = setup(op, addr, keys).await?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, op, queue_url) = (addr.to_string(), op.to_string(), queue_url.clone());
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
                let req = request(&op, &addr, i, &queue_url);
                let t = Instant::now();
                let status = round_trip(&mut conn, &req, &mut line, &mut body)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
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
    Ok(LoadReport {
        op: op.to_string(),
        ops,
        errors,
        elapsed: started.elapsed(),
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
    })
}

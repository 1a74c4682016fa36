//! `snapstack loadgen`: throughput and latency of one operation against any running server (this
//! build, an older build, or another emulator on the same port), over N keep-alive HTTP/1.1
//! connections each sending one request at a time. The before/after comparison of a change runs
//! it against both binaries, alternately (`scripts/compare.py`).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub mod fanout;

use crate::bench::round_trip_keep;
use fanout::FANOUT_OPS;

/// The operations measured: issue 16's list, then the main call of each later service.
pub const OPS: &[&str] = &[
    "ssm-put",
    "ssm-get",
    "ddb-put",
    "ddb-get",
    "sqs-send",
    "s3-put",
    "s3-get",
    "sns-publish",
    "kms-encrypt",
    "secrets-get",
    "logs-put",
    "cw-put",
    "sts-identity",
    "sns-fanout-1",
    "sns-fanout-10",
    "events-put",
    "events-put-10",
    "kms-sign",
    "kms-sign-rsa",
    "kms-datakey",
    "kms-decrypt",
    "kinesis-put",
    "kinesis-putrecords",
    "kinesis-get",
];

/// Records per `kinesis-putrecords` request (records/s = ops/s × this).
pub const KINESIS_BATCH: usize = 100;

/// A Kinesis record's data: 100 bytes, base64.
const KINESIS_DATA: &str = "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4";

fn kinesis_request(host: &str, op: &str, body: &str) -> Vec<u8> {
    json_request(
        host,
        &format!("Kinesis_20131202.{op}"),
        "1.1",
        "kinesis",
        body,
    )
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub op: String,
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
    /// For the fan-out operations: the deliveries timed after the run.
    pub delivery: Option<fanout::DeliveryReport>,
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

fn form_request(host: &str, service: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n{}Content-Length: {}\r\n\r\n{body}",
        signed(service),
        body.len()
    )
    .into_bytes()
}

/// `s` as a form value (RFC 3986 unreserved characters kept).
fn form_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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

/// Credentials to sign measured requests with (`SNAPSTACK_LOADGEN_ACCESS_KEY` and
/// `SNAPSTACK_LOADGEN_SECRET_KEY`): real SigV4 signatures, as a server with `ENFORCE_IAM=1`
/// verifies. Unset: requests carry a placeholder signature of the default account's root.
#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key: String,
    pub secret: String,
}

impl Signer {
    pub fn from_env() -> Option<Signer> {
        let access_key = std::env::var("SNAPSTACK_LOADGEN_ACCESS_KEY").ok()?;
        let secret = std::env::var("SNAPSTACK_LOADGEN_SECRET_KEY").ok()?;
        Some(Signer { access_key, secret })
    }

    /// `req` (as [`request`] builds it) with its placeholder `Authorization` replaced by a real
    /// signature over the host, the date (now) and the body.
    pub fn sign(&self, req: &[u8]) -> Vec<u8> {
        use snapstack_policy::sigv4;
        let Some(split) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
            return req.to_vec();
        };
        let (head, body) = (&req[..split], &req[split + 4..]);
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut service = String::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            if k.eq_ignore_ascii_case("authorization") {
                service = v.split('/').nth(3).unwrap_or("").to_string();
                continue;
            }
            headers.push((k.to_string(), v.to_string()));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let amz_date = sigv4::amz_date(now);
        headers.push(("X-Amz-Date".to_string(), amz_date.clone()));
        let mut signed: Vec<String> = vec!["host".into(), "x-amz-date".into()];
        if headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
        {
            signed.push("x-amz-content-sha256".into());
            signed.sort();
        }
        let hash = sigv4::sha256_hex(body);
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let auth = sigv4::authorization(
            &sigv4::SignedRequest {
                method,
                path,
                query,
                headers: (&borrowed).into(),
                payload_hash: &hash,
            },
            &self.access_key,
            &self.secret,
            &amz_date,
            "us-east-1",
            &service,
            &signed,
        );
        let mut out = format!("{request_line}\r\n").into_bytes();
        for (k, v) in &headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Authorization: {auth}\r\n\r\n").as_bytes());
        out.extend_from_slice(body);
        out
    }
}

/// The request of `op` for key `i`; `target` is what the setup made (a queue URL, a topic ARN,
/// a key id).
fn request(op: &str, host: &str, i: usize, target: &str) -> Vec<u8> {
    let queue_url = target;
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
        "sns-publish" => form_request(
            host,
            "sns",
            &format!(
                "Action=Publish&Version=2010-03-31&TopicArn={}&Message=message-{i}-xxxxxxxxxxxxxxxxxxxxxxxx",
                form_value(target)
            ),
        ),
        "kms-encrypt" => json_request(
            host,
            "TrentService.Encrypt",
            "1.1",
            "kms",
            &format!(
                r#"{{"KeyId":"{target}","Plaintext":"cGxhaW50ZXh0LXBsYWludGV4dC1wbGFpbnRleHQtcGxhaW50ZXh0LXBs"}}"#
            ),
        ),
        "kms-sign" | "kms-sign-rsa" => json_request(
            host,
            "TrentService.Sign",
            "1.1",
            "kms",
            &format!(
                r#"{{"KeyId":"{target}","Message":"bWVzc2FnZS10by1zaWdu","SigningAlgorithm":"{}"}}"#,
                if op == "kms-sign" {
                    "ECDSA_SHA_256"
                } else {
                    "RSASSA_PSS_SHA_256"
                }
            ),
        ),
        "kms-decrypt" => json_request(
            host,
            "TrentService.Decrypt",
            "1.1",
            "kms",
            &format!(r#"{{"CiphertextBlob":"{target}"}}"#),
        ),
        "kms-datakey" => json_request(
            host,
            "TrentService.GenerateDataKey",
            "1.1",
            "kms",
            &format!(r#"{{"KeyId":"{target}","KeySpec":"AES_256"}}"#),
        ),
        "secrets-get" => json_request(
            host,
            "secretsmanager.GetSecretValue",
            "1.1",
            "secretsmanager",
            r#"{"SecretId":"load"}"#,
        ),
        "logs-put" => json_request(
            host,
            "Logs_20140328.PutLogEvents",
            "1.1",
            "logs",
            &format!(
                r#"{{"logGroupName":"load","logStreamName":"s","logEvents":[{{"timestamp":{},"message":"line {i} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}]}}"#,
                now_ms()
            ),
        ),
        "cw-put" => form_request(
            host,
            "monitoring",
            &format!(
                "Action=PutMetricData&Version=2010-08-01&Namespace=Load&MetricData.member.1.MetricName=m{}&MetricData.member.1.Value={i}",
                i % 10
            ),
        ),
        "sts-identity" => form_request(host, "sts", "Action=GetCallerIdentity&Version=2011-06-15"),
        "kinesis-put" => kinesis_request(
            host,
            "PutRecord",
            &format!(r#"{{"StreamName":"load","PartitionKey":"k{i}","Data":"{KINESIS_DATA}"}}"#),
        ),
        "kinesis-putrecords" => {
            let records: Vec<String> = (0..KINESIS_BATCH)
                .map(|j| format!(r#"{{"PartitionKey":"k{i}-{j}","Data":"{KINESIS_DATA}"}}"#))
                .collect();
            kinesis_request(
                host,
                "PutRecords",
                &format!(
                    r#"{{"StreamName":"load","Records":[{}]}}"#,
                    records.join(",")
                ),
            )
        }
        // `target`: iterators at the start of each shard, one per line; each request reads
        // 100 records from one of them.
        "kinesis-get" => {
            let its: Vec<&str> = target.lines().collect();
            let it = its.get(i % its.len().max(1)).copied().unwrap_or("");
            kinesis_request(
                host,
                "GetRecords",
                &format!(r#"{{"ShardIterator":"{it}","Limit":100}}"#),
            )
        }
        other => panic!("unknown operation {other} (checked by the caller)"),
    }
}

/// One request outside the measurement; its response body.
async fn once(addr: &str, req: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut conn = BufReader::new(stream);
    let (mut line, mut body) = (String::new(), Vec::new());
    let (status, _) = round_trip_keep(&mut conn, req, &mut line, &mut body)
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
        "sns-publish" => {
            let r = ok(once(
                addr,
                &form_request(
                    host,
                    "sns",
                    "Action=CreateTopic&Version=2010-03-31&Name=load",
                ),
            )
            .await?)?;
            return between(&r, "<TopicArn>", "</TopicArn>")
                .ok_or_else(|| "CreateTopic answered no TopicArn".to_string());
        }
        "kms-encrypt" | "kms-datakey" | "kms-decrypt" | "kms-sign" | "kms-sign-rsa" => {
            let spec = match op {
                "kms-sign" => r#"{"KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY"}"#,
                "kms-sign-rsa" => r#"{"KeySpec":"RSA_2048","KeyUsage":"SIGN_VERIFY"}"#,
                _ => "{}",
            };
            let r = ok(once(
                addr,
                &json_request(host, "TrentService.CreateKey", "1.1", "kms", spec),
            )
            .await?)?;
            let v: serde_json::Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
            let key = v["KeyMetadata"]["KeyId"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "CreateKey answered no KeyId".to_string())?;
            if op != "kms-decrypt" {
                return Ok(key);
            }
            // Decrypt measures one ciphertext, made here; its blob names the key.
            let r = ok(once(addr, &request("kms-encrypt", host, 0, &key)).await?)?;
            let v: serde_json::Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
            return v["CiphertextBlob"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "Encrypt answered no CiphertextBlob".to_string());
        }
        "secrets-get" => {
            let r = once(
                addr,
                &json_request(
                    host,
                    "secretsmanager.CreateSecret",
                    "1.1",
                    "secretsmanager",
                    r#"{"Name":"load","SecretString":"{\"user\":\"load\",\"password\":\"xxxxxxxxxxxxxxxx\"}"}"#,
                ),
            )
            .await?;
            // An existing secret (a second run against the same server) is fine.
            if r.0 != 400 {
                ok(r)?;
            }
        }
        "logs-put" => {
            for (target, body) in [
                ("Logs_20140328.CreateLogGroup", r#"{"logGroupName":"load"}"#),
                (
                    "Logs_20140328.CreateLogStream",
                    r#"{"logGroupName":"load","logStreamName":"s"}"#,
                ),
            ] {
                let r = once(addr, &json_request(host, target, "1.1", "logs", body)).await?;
                if r.0 != 400 {
                    ok(r)?;
                }
            }
        }
        "kinesis-put" | "kinesis-putrecords" | "kinesis-get" => {
            let r = once(
                addr,
                &kinesis_request(
                    host,
                    "CreateStream",
                    r#"{"StreamName":"load","ShardCount":4}"#,
                ),
            )
            .await?;
            // An existing stream (a second run against the same server) is fine.
            if r.0 != 400 {
                ok(r)?;
            }
            if op == "kinesis-get" {
                let mut conn = Conn::new(addr);
                for i in 0..keys.div_ceil(KINESIS_BATCH).max(4) {
                    let s = conn
                        .send(&request("kinesis-putrecords", host, i, ""))
                        .await?;
                    if s != 200 {
                        return Err(format!("preloading kinesis-putrecords got {s}"));
                    }
                }
                let mut its = Vec::new();
                for shard in 0..4 {
                    let body = format!(
                        r#"{{"StreamName":"load","ShardId":"shardId-{shard:012}","ShardIteratorType":"TRIM_HORIZON"}}"#
                    );
                    let b =
                        ok(once(addr, &kinesis_request(host, "GetShardIterator", &body)).await?)?;
                    let v: serde_json::Value =
                        serde_json::from_slice(&b).map_err(|e| e.to_string())?;
                    its.push(
                        v["ShardIterator"]
                            .as_str()
                            .ok_or("GetShardIterator answered no iterator")?
                            .to_string(),
                    );
                }
                return Ok(its.join("\n"));
            }
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
        let mut conn = Conn::new(addr);
        for i in 0..keys {
            let s = conn.send(&request(w, host, i, "")).await?;
            if s != 200 {
                return Err(format!("preloading {w} got {s}"));
            }
        }
    }
    Ok(String::new())
}

/// A keep-alive connection that reconnects when the server closes it after a response
/// (`Connection: close`; the reconnection counts in the request's latency, as it would for a
/// client).
struct Conn {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
    line: String,
    body: Vec<u8>,
}

impl Conn {
    fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_string(),
            conn: None,
            line: String::new(),
            body: Vec::new(),
        }
    }

    async fn send(&mut self, req: &[u8]) -> Result<u16, String> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let stream = TcpStream::connect(&self.addr)
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                BufReader::new(stream)
            }
        };
        let (status, keep) = round_trip_keep(&mut conn, req, &mut self.line, &mut self.body)
            .await
            .map_err(|e| e.to_string())?;
        if keep {
            self.conn = Some(conn);
        }
        Ok(status)
    }
}

/// A PutRecords answer's `FailedRecordCount` (0 when there is none).
fn failed_records(body: &[u8]) -> u64 {
    let Some(at) = body.windows(19).position(|w| w == b"\"FailedRecordCount\"") else {
        return 0;
    };
    body[at + 19..]
        .iter()
        .skip_while(|b| matches!(b, b':' | b' '))
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

/// The text between the first `open` and the next `close` in `body`.
fn between(body: &[u8], open: &str, close: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(text[start..start + len].to_string())
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
    let fan = if FANOUT_OPS.contains(&op) {
        Some(fanout::setup(op, addr).await?)
    } else {
        None
    };
    let queue_url = match &fan {
        Some(f) => f.target.clone(),
        None => setup(op, addr, keys).await?,
    };
    let signer = Signer::from_env();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, op, queue_url) = (addr.to_string(), op.to_string(), queue_url.clone());
        let signer = signer.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?;
            let mut conn = Conn::new(&addr);
            let (mut ops, mut errors) = (0u64, 0u64);
            let mut i = c * 7919;
            while Instant::now() < deadline {
                i = (i + 1) % keys;
                let mut req = if FANOUT_OPS.contains(&op.as_str()) {
                    fanout::request(&op, &addr, i, &queue_url)
                } else {
                    request(&op, &addr, i, &queue_url)
                };
                if let Some(s) = &signer {
                    req = s.sign(&req);
                }
                let t = Instant::now();
                let status = conn.send(&req).await?;
                let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
                ops += 1;
                // A PutRecords answer with refused records (a throttling server) is an error.
                if status != 200 || (op == "kinesis-putrecords" && failed_records(&conn.body) > 0) {
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
    let delivery = match &fan {
        Some(f) => Some(fanout::delivery_latency(addr, &f.probe_queues, ops - errors).await?),
        None => None,
    };
    Ok(LoadReport {
        op: op.to_string(),
        ops,
        errors,
        elapsed,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        delivery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Every operation's setup and requests succeed against this server (no error answered),
    /// so a table beside another emulator compares like with like.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_runs_without_errors() {
        let volume = tempfile::tempdir().unwrap();
        let mut config = Config::resolve(&Default::default(), |_| None).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.volume_dir = volume.path().to_path_buf();
        config.init_dir = "/nonexistent".into();
        let app = crate::build(&config).await.unwrap();
        // Background deliveries (SNS fan-out, EventBridge targets) run as in `serve`.
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        crate::start_services(&app, &stop);
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(
            axum::serve(
                crate::no_delay(listener),
                crate::gateway::router(app.clone()),
            )
            .into_future(),
        );
        // Kinesis throttles a provisioned shard past 1,000 records a second (the server's
        // default); the stream the Kinesis operations share is on demand, so it is not.
        let create = kinesis_request(
            &addr,
            "CreateStream",
            r#"{"StreamName":"load","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}"#,
        );
        assert_eq!(once(&addr, &create).await.unwrap().0, 200);
        for op in OPS {
            let r = run(&addr, op, 2, Duration::from_millis(100), 5)
                .await
                .unwrap_or_else(|e| panic!("{op}: {e}"));
            assert!(r.ops > 0, "{op}");
            assert_eq!(r.errors, 0, "{op}: {r:?}");
            if let Some(d) = &r.delivery {
                assert_eq!(d.delivered, r.ops, "{op}: every message delivered: {r:?}");
            }
        }
        server.abort();
    }

    #[test]
    fn failed_records_are_read_from_a_put_records_answer() {
        assert_eq!(
            failed_records(br#"{"FailedRecordCount":0,"Records":[]}"#),
            0
        );
        assert_eq!(
            failed_records(br#"{"EncryptionType":"NONE","FailedRecordCount":12,"Records":[]}"#),
            12
        );
        assert_eq!(failed_records(br#"{"FailedRecordCount": 3}"#), 3);
        assert_eq!(failed_records(b"{}"), 0);
    }
}

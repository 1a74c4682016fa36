//! DynamoDB figures, printed as a table: PutItem, GetItem and Query over keep-alive HTTP with N
//! connections (ops/s, p50, p99, max), and the time and bytes of the flush after 100 writes to a
//! table of 1M items (filled in-process through the service, then saved once in full).
//!
//! `cargo bench --bench dynamodb` (env: `SNAPSTACK_BENCH_CONNECTIONS` (8),
//! `SNAPSTACK_BENCH_SECONDS` (5), `SNAPSTACK_BENCH_ITEMS` (1000000)). Client and server share this
//! process and its cores, as the `snapstack bench` subcommand does.

#[path = "common/knobs.rs"]
mod knobs;
#[path = "common/load.rs"]
mod load;
#[path = "common/server.rs"]
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use snapstack::server::aws_request::RequestContext;
use snapstack::server::config::SaveStrategy;
use snapstack::server::gateway::App;

fn request(op: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: bench\r\nX-Amz-Target: DynamoDB_20120810.{op}\r\nContent-Type: application/x-amz-json-1.0\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Put,
    Get,
    Query,
}

/// The body of request number `i` of connection `c`.
fn body(op: Op, c: u64, i: u64) -> String {
    let n = (c * 1_000_003 + i) % 10_000;
    match op {
        Op::Put => json!({"TableName": "bench", "Item": {
            "pk": {"S": format!("user-{}", n % 100)}, "sk": {"N": n.to_string()},
            "payload": {"S": "x".repeat(200)}, "count": {"N": i.to_string()}}})
        .to_string(),
        Op::Get => json!({"TableName": "bench", "Key": {
            "pk": {"S": format!("user-{}", n % 100)}, "sk": {"N": n.to_string()}}})
        .to_string(),
        Op::Query => json!({"TableName": "bench", "KeyConditionExpression": "pk = :p AND sk > :s",
            "ExpressionAttributeValues": {":p": {"S": format!("user-{}", n % 100)}, ":s": {"N": n.to_string()}},
            "Limit": 10})
        .to_string(),
    }
}

async fn load(addr: &str, op: Op, conns: u64, secs: u64) -> (f64, Histogram<u64>, u64) {
    let name = match op {
        Op::Put => "PutItem",
        Op::Get => "GetItem",
        Op::Query => "Query",
    };
    let request: load::MakeRequest = Arc::new(move |c, i| request(name, &body(op, c, i)));
    load::closed_loop(addr, conns, secs, request).await
}

fn call(app: &App, op: &str, body: serde_json::Value) {
    let ctx = RequestContext::from_scope(None);
    if let Err(e) = app
        .service::<snapstack::server::services::dynamodb::DynamoDb>()
        .handle(&ctx, op, body.to_string().as_bytes())
    {
        panic!("{op}: {e:?}");
    }
}

fn create(app: &App, name: &str) {
    call(
        app,
        "CreateTable",
        json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "g", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}]}),
    );
}

fn main() {
    let conns = knobs::env_or::<u64>("SNAPSTACK_BENCH_CONNECTIONS", 8);
    let secs = knobs::env_or::<u64>("SNAPSTACK_BENCH_SECONDS", 5);
    let items = knobs::env_or::<u64>("SNAPSTACK_BENCH_ITEMS", 1_000_000);
    let volume = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows: Vec<(String, String)> = Vec::new();
    rt.block_on(async {
        let config = server::config(volume.path(), SaveStrategy::Manual, Duration::from_secs(15), true);
        let srv = server::start(&config, false, |r| r).await;
        let (app, addr) = (srv.app.clone(), srv.addr.clone());
        let engine = app.persistence.engine().cloned().expect("engine");

        create(&app, "bench");
        for op in [Op::Put, Op::Get, Op::Query] {
            let (rate, h, errors) = load(&addr, op, conns, secs).await;
            let name = match op {
                Op::Put => "PutItem (250 B items, 10k keys)",
                Op::Get => "GetItem",
                Op::Query => "Query (Limit 10 of 100 items per hash key)",
            };
            rows.push((
                format!("{name}, {conns} connections"),
                format!(
                    "{rate:.0} ops/s, p50 {} µs, p99 {} µs, max {} µs, {errors} errors",
                    h.value_at_quantile(0.5),
                    h.value_at_quantile(0.99),
                    h.max()
                ),
            ));
        }

        // A table of `items` items, filled in-process with BatchWriteItem, then saved in full.
        create(&app, "big");
        let t = Instant::now();
        let app2: Arc<App> = app.clone();
        tokio::task::spawn_blocking(move || {
            let mut i = 0u64;
            while i < items {
                let reqs: Vec<_> = (i..(i + 25).min(items))
                    .map(|n| json!({"PutRequest": {"Item": {
                        "pk": {"S": format!("user-{:06}", n % 50_000)}, "sk": {"N": n.to_string()},
                        "g": {"S": format!("g{}", n % 1000)}, "payload": {"S": format!("item {n} of the big table")}}}}))
                    .collect();
                call(&app2, "BatchWriteItem", json!({"RequestItems": {"big": reqs}}));
                i += 25;
            }
        })
        .await
        .expect("fill");
        let fill = t.elapsed();
        let e = engine.clone();
        let full = tokio::task::spawn_blocking(move || e.save(&["dynamodb"]))
            .await
            .expect("save")
            .pop()
            .expect("one")
            .1
            .expect("saved");
        rows.push((
            format!("full save of DynamoDB with a {items}-item table (and its GSI)"),
            format!(
                "{:.2} s, {} chunks, {:.1} MiB new (filled in {:.1} s)",
                full.duration.as_secs_f64(),
                full.new_chunks,
                full.new_bytes as f64 / (1 << 20) as f64,
                fill.as_secs_f64()
            ),
        ));
        for n in 0..100u64 {
            call(
                &app,
                "PutItem",
                json!({"TableName": "big", "Item": {"pk": {"S": format!("user-{:06}", (n * 7919) % 50_000)},
                    "sk": {"N": (items + n).to_string()}, "g": {"S": "g-new"}, "payload": {"S": "one of 100 new items"}}}),
            );
        }
        let e = engine.clone();
        let inc = tokio::task::spawn_blocking(move || e.save(&["dynamodb"]))
            .await
            .expect("save")
            .pop()
            .expect("one")
            .1
            .expect("saved");
        rows.push((
            "flush after 100 PutItems to that table".to_string(),
            format!(
                "{:.1} ms, {} new chunks, {} new bytes (the tree has {} chunks)",
                inc.duration.as_secs_f64() * 1e3,
                inc.new_chunks,
                inc.new_bytes,
                engine.status("dynamodb").map(|s| s.tree_chunks).unwrap_or(0)
            ),
        ));
        call(
            &app,
            "PutItem",
            json!({"TableName": "big", "Item": {"pk": {"S": "user-000001"}, "sk": {"N": "-1"}, "payload": {"S": "one more"}}}),
        );
        let e = engine.clone();
        let one = tokio::task::spawn_blocking(move || e.save(&["dynamodb"]))
            .await
            .expect("save")
            .pop()
            .expect("one")
            .1
            .expect("saved");
        rows.push((
            "flush after 1 PutItem to that table".to_string(),
            format!(
                "{:.1} ms, {} new chunks, {} new bytes",
                one.duration.as_secs_f64() * 1e3,
                one.new_chunks,
                one.new_bytes,
            ),
        ));
    });
    println!("\n| measurement | result |\n|---|---|");
    for (a, b) in rows {
        println!("| {a} | {b} |");
    }
}

//! The wire: JSON 1.1 and CBOR (`application/x-amz-cbor-1.1`, the Java SDK's), through
//! `Service::serve`.

use std::sync::Arc;

use serde_json::Value;
use snapstack_engine::Engine;
use snapstack_protocol::body::{Bytes, to_bytes};
use snapstack_protocol::codec::cbor::encode::{bytes, head, text};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::Request;
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::Kinesis;

struct Rt;

impl Runtime for Rt {
    fn ensure_loaded<'a>(&'a self, _service: &'static str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn wait_durable<'a>(&'a self, _s: &'static str, _v: u64) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn is_ready(&self, _service: &str) -> bool {
        true
    }
    fn invoke<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        _service: &'a str,
        _operation: &'a str,
        _input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async { Ok(Value::Null) })
    }
}

fn send(k: &Kinesis, op: &str, content_type: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let parts = Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", content_type)
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let ctx = RequestContext::from_scope(None);
        let call = Call {
            ctx: &ctx,
            parts: &parts,
            operation: Some(op),
            payload: Payload::Bytes(Bytes::from(body)),
            parsed: None,
            routed: None,
        };
        let resp = k.serve(&Rt, call).await;
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = to_bytes(resp.into_body(), 1 << 24).await.unwrap().to_vec();
        (status, ct, body)
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn json_and_cbor_requests() {
    let k = Kinesis::with_throttle(Arc::new(Engine::in_memory().unwrap()), false);
    let (s, ct, _) = send(
        &k,
        "CreateStream",
        "application/x-amz-json-1.1",
        br#"{"StreamName":"s","ShardCount":1}"#.to_vec(),
    );
    assert_eq!((s, ct.as_str()), (200, "application/x-amz-json-1.1"));

    let mut put = Vec::new();
    head(&mut put, 5, 3);
    text(&mut put, "StreamName");
    text(&mut put, "s");
    text(&mut put, "PartitionKey");
    text(&mut put, "k");
    text(&mut put, "Data");
    bytes(&mut put, b"hello");
    let (s, ct, body) = send(&k, "PutRecord", "application/x-amz-cbor-1.1", put);
    assert_eq!((s, ct.as_str()), (200, "application/x-amz-cbor-1.1"));
    assert!(contains(&body, b"shardId-000000000000"));

    // An AT_TIMESTAMP iterator whose timestamp is in epoch milliseconds (tag 1), as Java sends.
    let now_ms = crate::sys_now_ms() as i64;
    let mut gi = Vec::new();
    head(&mut gi, 5, 4);
    text(&mut gi, "StreamName");
    text(&mut gi, "s");
    text(&mut gi, "ShardId");
    text(&mut gi, "shardId-000000000000");
    text(&mut gi, "ShardIteratorType");
    text(&mut gi, "AT_TIMESTAMP");
    text(&mut gi, "Timestamp");
    gi.push(0xc1);
    head(&mut gi, 0, (now_ms - 60_000) as u64);
    let (s, _, body) = send(&k, "GetShardIterator", "application/x-amz-cbor-1.1", gi);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let token = k
        .handle(
            &RequestContext::from_scope(None),
            "GetShardIterator",
            &serde_json::json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .unwrap()
        .value["ShardIterator"]
        .as_str()
        .unwrap()
        .to_string();
    let mut gr = Vec::new();
    head(&mut gr, 5, 1);
    text(&mut gr, "ShardIterator");
    text(&mut gr, &token);
    let (s, _, body) = send(&k, "GetRecords", "application/x-amz-cbor-1.1", gr);
    assert_eq!(s, 200);
    assert!(contains(&body, b"hello"));
    // ApproximateArrivalTimestamp: tag 1 around an integer of milliseconds.
    let i = body
        .windows(27)
        .position(|w| w == b"ApproximateArrivalTimestamp")
        .unwrap();
    assert_eq!(body[i + 27], 0xc1);
    assert_eq!(body[i + 28], 0x1b);
    let ms = u64::from_be_bytes(body[i + 29..i + 37].try_into().unwrap());
    assert!(ms.abs_diff(now_ms as u64) < 60_000, "{ms}");

    let mut d = Vec::new();
    head(&mut d, 5, 1);
    text(&mut d, "StreamName");
    text(&mut d, "nope");
    let (s, ct, body) = send(&k, "DescribeStream", "application/x-amz-cbor-1.1", d);
    assert_eq!((s, ct.as_str()), (400, "application/x-amz-cbor-1.1"));
    assert!(contains(&body, b"ResourceNotFoundException"));
    let (s, _, body) = send(
        &k,
        "DescribeStream",
        "application/x-amz-json-1.1",
        br#"{"StreamName":"nope"}"#.to_vec(),
    );
    assert_eq!(s, 400);
    assert!(contains(
        &body,
        b"Stream nope under account 000000000000 not found."
    ));
}

/// The first `n` event-stream messages of a SubscribeToShard call sent in `content_type`.
fn subscribe_events(
    k: &Kinesis,
    content_type: &str,
    body: Vec<u8>,
    n: usize,
) -> (u16, Vec<snapstack_protocol::codec::eventstream::Message>) {
    use futures_util::StreamExt;
    use snapstack_protocol::codec::eventstream;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let parts = Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", content_type)
            .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let ctx = RequestContext::from_scope(None);
        let call = Call {
            ctx: &ctx,
            parts: &parts,
            operation: Some("SubscribeToShard"),
            payload: Payload::Bytes(Bytes::from(body)),
            parsed: None,
            routed: None,
        };
        let resp = k.serve(&Rt, call).await;
        let status = resp.status().as_u16();
        let mut stream = resp.into_body().into_data_stream();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        while out.len() < n {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("an event within 10 s")
                .expect("the stream goes on")
                .unwrap();
            buf.extend_from_slice(&chunk);
            while let Some((m, used)) = eventstream::decode(&buf).unwrap() {
                buf.drain(..used);
                out.push(m);
            }
        }
        (status, out)
    })
}

#[test]
fn subscribe_to_shard_events_follow_the_wire() {
    let k = Kinesis::with_throttle(Arc::new(Engine::in_memory().unwrap()), false);
    let ctx = RequestContext::from_scope(None);
    let call = |op: &str, v: Value| k.handle(&ctx, op, &v).unwrap().value;
    call(
        "CreateStream",
        serde_json::json!({"StreamName": "s", "ShardCount": 1}),
    );
    call(
        "PutRecord",
        serde_json::json!({"StreamName": "s", "PartitionKey": "k", "Data": "aGVsbG8="}),
    );
    let arn = call(
        "DescribeStreamSummary",
        serde_json::json!({"StreamName": "s"}),
    )["StreamDescriptionSummary"]["StreamARN"]
        .as_str()
        .unwrap()
        .to_string();
    let carn = call(
        "RegisterStreamConsumer",
        serde_json::json!({"StreamARN": arn, "ConsumerName": "c"}),
    )["Consumer"]["ConsumerARN"]
        .as_str()
        .unwrap()
        .to_string();

    // CBOR, as the Java SDK sends it: every event's payload is CBOR.
    let mut req = Vec::new();
    head(&mut req, 5, 3);
    text(&mut req, "ConsumerARN");
    text(&mut req, &carn);
    text(&mut req, "ShardId");
    text(&mut req, "shardId-000000000000");
    text(&mut req, "StartingPosition");
    head(&mut req, 5, 1);
    text(&mut req, "Type");
    text(&mut req, "TRIM_HORIZON");
    let (status, events) = subscribe_events(&k, "application/x-amz-cbor-1.1", req, 2);
    assert_eq!(status, 200);
    assert_eq!(events[0].header(":event-type"), Some("initial-response"));
    assert_eq!(
        events[0].header(":content-type"),
        Some("application/x-amz-cbor-1.1")
    );
    assert_eq!(events[0].payload, [0xa0]); // {}
    let ev = &events[1];
    assert_eq!(ev.header(":event-type"), Some("SubscribeToShardEvent"));
    assert_eq!(ev.header(":message-type"), Some("event"));
    let p = &ev.payload;
    assert_eq!(p[0] >> 5, 5, "a CBOR map");
    // The data as a CBOR byte string (0x45: 5 bytes), not base64 text.
    assert!(contains(p, &[0x45, b'h', b'e', b'l', b'l', b'o']));
    assert!(!contains(p, b"aGVsbG8="));
    let i = p
        .windows(27)
        .position(|w| w == b"ApproximateArrivalTimestamp")
        .unwrap();
    assert_eq!(p[i + 27], 0xc1);
    let ms = u64::from_be_bytes(p[i + 29..i + 37].try_into().unwrap());
    assert!(ms.abs_diff(crate::sys_now_ms()) < 60_000, "{ms}");
    assert!(contains(p, b"ContinuationSequenceNumber"));

    // JSON, as botocore sends it.
    let body = serde_json::json!({
        "ConsumerARN": carn,
        "ShardId": "shardId-000000000000",
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    })
    .to_string()
    .into_bytes();
    let (status, events) = subscribe_events(&k, "application/x-amz-json-1.1", body, 2);
    assert_eq!(status, 200);
    assert_eq!(events[0].payload, b"{}");
    let v: Value = serde_json::from_slice(&events[1].payload).unwrap();
    assert_eq!(v["Records"][0]["Data"], "aGVsbG8=");
    assert!(v["Records"][0]["ApproximateArrivalTimestamp"].is_number());
    assert!(v["ContinuationSequenceNumber"].is_string());
    assert!(v.get("ChildShards").is_none());

    // A closed shard read to its end: the last event names the children and has no
    // continuation, which is how the KCL knows the shard ended.
    call(
        "SplitShard",
        serde_json::json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000",
            "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    );
    let body = serde_json::json!({
        "ConsumerARN": carn,
        "ShardId": "shardId-000000000000",
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    })
    .to_string()
    .into_bytes();
    let (_, events) = subscribe_events(&k, "application/x-amz-json-1.1", body, 2);
    let v: Value = serde_json::from_slice(&events[1].payload).unwrap();
    assert_eq!(v["Records"].as_array().unwrap().len(), 1, "{v}");
    assert!(v.get("ContinuationSequenceNumber").is_none(), "{v}");
    assert_eq!(v["ChildShards"].as_array().unwrap().len(), 2, "{v}");
}

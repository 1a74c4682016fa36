//! The gateway in process: the real router on a local port, driven by raw HTTP. Panic isolation
//! (a test-only header makes a handler panic inside a store write) and percent-encoded invalid
//! UTF-8 in query-protocol parameters.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use axum::http::request::Parts;

use super::{App, router};
use crate::config::{Config, Overrides};

/// Test-only: a request with this header panics inside a DynamoDB store write, holding the
/// store's write lock, as a bug in any handler would.
const PANIC_HEADER: &str = "x-snapstack-test-panic";

pub(super) fn hook(app: &App, parts: &Parts) {
    if parts.headers.contains_key(PANIC_HEADER) {
        let ddb = app.service::<snapstack_dynamodb::DynamoDb>();
        let store = &ddb.store;
        store.write(|txn| -> () {
            txn.remove_prefix(&snapstack_engine::Key::builder().build());
            panic!("test-only panic inside a store write")
        });
    }
}

/// The server (in-memory, defaults) on a free local port, on its own runtime.
pub(crate) struct TestServer {
    pub app: Arc<App>,
    pub addr: String,
    _rt: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start() -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, addr) = rt.block_on(async {
            let config = Config::resolve(&Overrides::default(), |_| None).unwrap();
            let app = crate::build(&config).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let r = router(app.clone());
            tokio::spawn(async move { axum::serve(listener, r).await });
            (app, addr)
        });
        TestServer { app, addr, _rt: rt }
    }

    /// One request on a new connection: (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_string())
    }

    pub fn dynamodb(&self, op: &str, body: &str, extra: &[(&str, &str)]) -> (u16, String) {
        let target = format!("DynamoDB_20120810.{op}");
        let mut h = vec![
            ("x-amz-target", target.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
        ];
        h.extend_from_slice(extra);
        self.request("POST", "/", &h, body.as_bytes())
    }

    pub fn query(&self, form: &str) -> (u16, String) {
        self.request(
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }
}

#[test]
fn a_panicking_handler_gets_a_500_and_the_server_keeps_serving() {
    let s = TestServer::start();
    let table = r#"{"TableName":"tbl","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}"#;
    assert_eq!(s.dynamodb("CreateTable", table, &[]).0, 200);
    let version = s
        .app
        .service::<snapstack_dynamodb::DynamoDb>()
        .store
        .version();
    let panic = [(PANIC_HEADER, "1")];

    // DynamoDB: its own InternalServerError shape.
    let (status, body) = s.dynamodb("ListTables", "{}", &panic);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("InternalServerError"), "{body}");
    // The panicking write published nothing (it had emptied the store) ...
    assert_eq!(
        s.app
            .service::<snapstack_dynamodb::DynamoDb>()
            .store
            .version(),
        version
    );
    // ... and its lock, held while panicking, does not wedge the next writes.
    let item = r#"{"TableName":"tbl","Item":{"pk":{"S":"a"},"v":{"N":"1"}}}"#;
    assert_eq!(s.dynamodb("PutItem", item, &[]).0, 200);
    let (status, body) = s.dynamodb(
        "GetItem",
        r#"{"TableName":"tbl","Key":{"pk":{"S":"a"}}}"#,
        &[],
    );
    assert_eq!(status, 200);
    assert!(body.contains(r#""v":{"N":"1"}"#), "{body}");

    // S3 (REST, XML) and the query protocol (SQS, STS) answer in their own shapes.
    let (status, body) = s.request("GET", "/", &panic, b"");
    assert_eq!(status, 500);
    assert!(body.contains("<Code>InternalError</Code>"), "{body}");
    let (status, body) = s.request(
        "POST",
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            (PANIC_HEADER, "1"),
        ],
        b"Action=GetCallerIdentity",
    );
    assert_eq!(status, 500);
    assert!(body.contains("<Code>InternalFailure</Code>"), "{body}");
    let (status, body) = s.request(
        "POST",
        "/",
        &[
            ("x-amz-target", "AmazonSSM.GetParameter"),
            ("content-type", "application/x-amz-json-1.1"),
            (PANIC_HEADER, "1"),
        ],
        b"{}",
    );
    assert_eq!(status, 500);
    assert!(body.contains("InternalServerError"), "{body}");

    // Many panics in a row, then every service still serves.
    for _ in 0..50 {
        assert_eq!(s.dynamodb("ListTables", "{}", &panic).0, 500);
    }
    assert_eq!(s.dynamodb("ListTables", "{}", &[]).0, 200);
    assert_eq!(s.query("Action=GetCallerIdentity").0, 200);
    assert_eq!(s.query("Action=ListQueues").0, 200);
    assert_eq!(s.request("GET", "/", &[], b"").0, 200);
}

/// Percent-encoded bytes that are not UTF-8 are refused with AWS's error and store nothing.
#[test]
fn query_parameters_that_are_not_utf8_are_refused_not_altered() {
    let s = TestServer::start();
    let (status, body) = s.query("Action=CreateQueue&QueueName=q");
    assert_eq!(status, 200, "{body}");
    let url = "http%3A%2F%2Flocalhost%3A4566%2F000000000000%2Fq";
    let count = || {
        let (_, b) = s.query(&format!(
            "Action=GetQueueAttributes&QueueUrl={url}&AttributeName.1=ApproximateNumberOfMessages"
        ));
        b
    };
    assert!(count().contains("<Value>0</Value>"));

    for form in [
        format!("Action=SendMessage&QueueUrl={url}&MessageBody=%FF%FE"),
        format!("Action=SendMessage&QueueUrl={url}&MessageBody=ok%C3%28"),
        format!(
            "Action=SendMessageBatch&QueueUrl={url}&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=%ED%A0%80"
        ),
    ] {
        let (status, body) = s.query(&form);
        assert_eq!(status, 400, "{form}: {body}");
        assert!(
            body.contains("<Code>InvalidMessageContents</Code>"),
            "{body}"
        );
        assert!(body.contains("Invalid binary character &apos;#x"), "{body}");
        assert!(
            body.contains("http://queue.amazonaws.com/doc/2012-11-05/"),
            "{body}"
        );
    }
    // In the query string of a GET too.
    let (status, body) = s.request(
        "GET",
        &format!("/?Action=SendMessage&QueueUrl={url}&MessageBody=%FF%FE"),
        &[],
        b"",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("#xFF"), "{body}");
    // Nothing was stored.
    assert!(count().contains("<Value>0</Value>"));
    let (_, recv) = s.query(&format!("Action=ReceiveMessage&QueueUrl={url}"));
    assert!(!recv.contains("<Message>"), "{recv}");

    // Any other parameter: MalformedQueryString, nothing created.
    let (status, body) = s.query("Action=CreateQueue&QueueName=bad%FF");
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MalformedQueryString</Code>"), "{body}");
    let (_, list) = s.query("Action=ListQueues");
    // (Only the queue URLs: the random request id may hold the letters "bad".)
    assert!(!list.contains("/bad"), "{list}");
    assert!(list.contains("/q</QueueUrl>"), "{list}");
    let (status, body) = s.query("Action=GetCallerIdentity&X%FE=1");
    assert_eq!(status, 400);
    assert!(body.contains("<Code>MalformedQueryString</Code>"), "{body}");

    // Valid UTF-8, percent-encoded, arrives intact.
    let (status, body) = s.query(&format!(
        "Action=SendMessage&QueueUrl={url}&MessageBody=%C3%A9t%C3%A9+%F0%9F%A6%80"
    ));
    assert_eq!(status, 200, "{body}");
    let (_, recv) = s.query(&format!("Action=ReceiveMessage&QueueUrl={url}"));
    assert!(recv.contains("<Body>été 🦀</Body>"), "{recv}");
}

/// JSON bodies that are not UTF-8 get a 400 of the service's serialization kind, not a 500.
#[test]
fn json_bodies_that_are_not_utf8_get_a_400() {
    let s = TestServer::start();
    for (target, content_type, code) in [
        (
            "AmazonSSM.GetParameter",
            "application/x-amz-json-1.1",
            "SerializationException",
        ),
        (
            "DynamoDB_20120810.ListTables",
            "application/x-amz-json-1.0",
            "SerializationException",
        ),
        (
            "AmazonSQS.ListQueues",
            "application/x-amz-json-1.0",
            "SerializationException",
        ),
    ] {
        for body in [&b"{\"Name\":\"\xff\xfe\"}"[..], b"{\"Name\":\"\\udcff\"}"] {
            let (status, resp) = s.request(
                "POST",
                "/",
                &[("x-amz-target", target), ("content-type", content_type)],
                body,
            );
            assert_eq!(status, 400, "{target}: {resp}");
            assert!(resp.contains(code), "{target}: {resp}");
        }
    }
}

/// One service calls another through the runtime (SNS delivering to SQS, say): the call runs
/// under the caller's account and region, its change is visible to clients, and an unknown
/// service or an operation without an internal entry is refused.
#[test]
fn services_call_each_other_through_the_runtime() {
    use snapstack_service::Runtime;
    let s = TestServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = snapstack_service::RequestContext::from_scope(None);
    let runtime = s.app.runtime.clone();
    let out = rt
        .block_on(runtime.invoke(
            &ctx,
            "sqs",
            "CreateQueue",
            serde_json::json!({"QueueName": "from-sns"}),
        ))
        .unwrap();
    let url = out["QueueUrl"].as_str().unwrap().to_string();
    rt.block_on(runtime.invoke(
        &ctx,
        "sqs",
        "SendMessage",
        serde_json::json!({"QueueUrl": url, "MessageBody": "hello"}),
    ))
    .unwrap();
    let (status, body) = s.query("Action=ListQueues");
    assert_eq!(status, 200);
    assert!(body.contains("from-sns"), "{body}");
    let e = rt
        .block_on(runtime.invoke(
            &ctx,
            "sqs",
            "SendMessage",
            serde_json::json!({"QueueUrl": "http://x/000000000000/nope", "MessageBody": "m"}),
        ))
        .unwrap_err();
    assert_eq!(e.code, "QueueDoesNotExist");
    let e = rt
        .block_on(runtime.invoke(&ctx, "nope", "X", serde_json::json!({})))
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = rt
        .block_on(runtime.invoke(&ctx, "s3", "ListBuckets", serde_json::json!({})))
        .unwrap_err();
    assert_eq!(e.status, 501);
    let out = rt
        .block_on(runtime.invoke(
            &ctx,
            "ssm",
            "PutParameter",
            serde_json::json!({"Name": "p", "Value": "v", "Type": "String"}),
        ))
        .unwrap();
    assert_eq!(out["Version"], 1);
}

#[test]
fn gzip_bodies_are_inflated_within_the_body_limit() {
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let body = br#"{"Namespace":"N","MetricData":[]}"#;
    assert_eq!(
        super::gunzip(&gz(body)).unwrap().unwrap().as_ref(),
        &body[..]
    );
    // Not gzip at all.
    assert!(super::gunzip(b"{\"a\":1}").is_none());
    // A small body that inflates past the limit is refused without inflating it all.
    let bomb = gz(&vec![0u8; super::MAX_BODY + 1]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    assert!(super::gunzip(&bomb).unwrap().is_none());
    let mut h = axum::http::HeaderMap::new();
    assert!(!super::is_gzip(&h));
    h.insert("content-encoding", "identity, GZIP".parse().unwrap());
    assert!(super::is_gzip(&h));
}

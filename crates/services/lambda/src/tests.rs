//! Operations through `Lambda::call` with a fake runtime (S3 answers `GetObject` from memory),
//! and invocations of real Python code through the process executor.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::code::make_zip;
use crate::model::{LambdaRecord, keys};
use crate::{Lambda, LambdaError};

/// S3 objects by (bucket, key).
type Objects = Vec<((String, String), Vec<u8>)>;

#[derive(Default)]
struct FakeRt {
    calls: Mutex<Vec<(String, String, Value)>>,
    objects: Mutex<Objects>,
}

impl Runtime for FakeRt {
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
        service: &'a str,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((service.into(), operation.into(), input.clone()));
            if (service, operation) == ("s3", "GetObject") {
                let key = (
                    input["Bucket"].as_str().unwrap_or("").to_string(),
                    input["Key"].as_str().unwrap_or("").to_string(),
                );
                let objects = self.objects.lock().unwrap();
                return match objects.iter().find(|(k, _)| *k == key) {
                    Some((_, body)) => Ok(json!({
                        "Body": base64::engine::general_purpose::STANDARD.encode(body)
                    })),
                    None => Err(
                        AwsError::new("NoSuchKey", "The specified key does not exist.")
                            .with_status(snapstack_protocol::http::StatusCode::NOT_FOUND),
                    ),
                };
            }
            Ok(json!({}))
        })
    }
}

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn lambda() -> (Lambda, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::in_memory().unwrap());
    (Lambda::new(engine, d.path().join("lambda")), d)
}

async fn call(l: &Lambda, rt: &FakeRt, op: &str, input: Value) -> Result<Value, LambdaError> {
    l.call(rt, &ctx(), op, &input).await.map(|d| d.output)
}

const ECHO: &str = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('boom')\n    return {'got': event, 'arn': context.invoked_function_arn}\n";

fn create_input(name: &str, zip: &[u8]) -> Value {
    json!({
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "index.handler",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_from_s3_through_the_runtime_and_versions_share_it() {
    let (l, _d) = lambda();
    let rt = FakeRt::default();
    let zip = make_zip(&[("index.py", ECHO.as_bytes(), 0o644)]);
    rt.objects
        .lock()
        .unwrap()
        .push((("code".into(), "fn.zip".into()), zip.clone()));
    let mut input = create_input("froms3", &zip);
    input["Code"] = json!({"S3Bucket": "code", "S3Key": "fn.zip"});
    let out = call(&l, &rt, "CreateFunction", input.clone())
        .await
        .unwrap();
    assert_eq!(out["CodeSha256"], json!(crate::code::sha256_b64(&zip)));
    assert_eq!(out["CodeSize"], json!(zip.len()));
    assert_eq!(out["State"], json!("Pending"));
    assert!(rt.calls.lock().unwrap().iter().any(|(s, o, i)| s == "s3"
        && o == "GetObject"
        && i == &json!({"Bucket": "code", "Key": "fn.zip"})));
    // A missing object is Lambda's InvalidParameterValueException naming S3's error.
    input["FunctionName"] = json!("missing");
    input["Code"] = json!({"S3Bucket": "code", "S3Key": "nope.zip"});
    let e = call(&l, &rt, "CreateFunction", input).await.unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    assert!(e.message.contains("NoSuchKey"), "{}", e.message);
    // Two versions of the same code: one blob.
    let before = l.engine().chunk_stats();
    call(
        &l,
        &rt,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "froms3", "Description": "a"}),
    )
    .await
    .unwrap();
    let v1 = call(&l, &rt, "PublishVersion", json!({"FunctionName": "froms3"}))
        .await
        .unwrap();
    call(
        &l,
        &rt,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "froms3", "Description": "b"}),
    )
    .await
    .unwrap();
    let v2 = call(&l, &rt, "PublishVersion", json!({"FunctionName": "froms3"}))
        .await
        .unwrap();
    assert_eq!(
        (v1["Version"].as_str(), v2["Version"].as_str()),
        (Some("1"), Some("2"))
    );
    let after = l.engine().chunk_stats();
    assert_eq!(
        (before.chunks + before.pending_chunks),
        (after.chunks + after.pending_chunks),
        "publishing adds no code"
    );
    let snap = l.store.snapshot();
    let blobs: std::collections::HashSet<_> = snap
        .iter()
        .flat_map(|(_, r)| snapstack_engine::Record::blobs(r))
        .collect();
    assert_eq!(blobs.len(), 1, "three configurations hold one blob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_errors_in_lambdas_words() {
    let (l, _d) = lambda();
    let rt = FakeRt::default();
    let zip = make_zip(&[("index.py", ECHO.as_bytes(), 0o644)]);
    call(&l, &rt, "CreateFunction", create_input("f", &zip))
        .await
        .unwrap();
    let e = call(&l, &rt, "CreateFunction", create_input("f", &zip))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (409, "ResourceConflictException")
    );
    let e = call(&l, &rt, "GetFunction", json!({"FunctionName": "g"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    assert_eq!(
        e.message,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:g"
    );
    let e = call(
        &l,
        &rt,
        "GetAlias",
        json!({"FunctionName": "f", "Name": "a"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.message,
        "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:f:a"
    );
    let e = call(&l, &rt, "CreateFunction", json!({"FunctionName": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    let out = call(
        &l,
        &rt,
        "GetFunctionRecursionConfig",
        json!({"FunctionName": "f"}),
    )
    .await
    .unwrap();
    assert_eq!(out["RecursiveLoop"], "Terminate");
    let e = call(
        &l,
        &rt,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "f", "RevisionId": "stale"}),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (412, "PreconditionFailedException")
    );
    // An asynchronous invocation is a record in the store.
    let out = call(
        &l,
        &rt,
        "Invoke",
        json!({"FunctionName": "f", "InvocationType": "Event", "Payload": base64::engine::general_purpose::STANDARD.encode(b"{\"a\":1}")}),
    )
    .await
    .unwrap();
    assert_eq!(out["StatusCode"], json!(202));
    let queued: Vec<_> = l
        .store
        .snapshot()
        .scan_prefix(&keys::queue())
        .filter_map(|(_, r)| match r {
            LambdaRecord::Async(a) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].payload, b"{\"a\":1}");
    // Reserved concurrency 0 throttles synchronous calls.
    call(
        &l,
        &rt,
        "PutFunctionConcurrency",
        json!({"FunctionName": "f", "ReservedConcurrentExecutions": 0}),
    )
    .await
    .unwrap();
    let e = call(&l, &rt, "Invoke", json!({"FunctionName": "f"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (429, "TooManyRequestsException")
    );
    assert_eq!(
        e.fields["Reason"],
        json!("ReservedFunctionConcurrentInvocationLimitExceeded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_runs_behind_the_runtime_api_warm_and_with_errors() {
    if crate::exec::resolve_interpreter("python3.11").is_err() {
        return;
    }
    let (l, _d) = lambda();
    let rt = FakeRt::default();
    let zip = make_zip(&[("index.py", ECHO.as_bytes(), 0o644)]);
    call(&l, &rt, "CreateFunction", create_input("py", &zip))
        .await
        .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let out = call(
        &l,
        &rt,
        "Invoke",
        json!({"FunctionName": "py", "Payload": b64("{\"x\":1}"), "LogType": "Tail"}),
    )
    .await
    .unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(out["Payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["got"], json!({"x": 1}));
    assert_eq!(
        payload["arn"],
        json!("arn:aws:lambda:us-east-1:000000000000:function:py")
    );
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(out["LogResult"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(
        log.starts_with("START RequestId: ") && log.contains("REPORT RequestId: "),
        "{log}"
    );
    let out = call(
        &l,
        &rt,
        "Invoke",
        json!({"FunctionName": "py", "Payload": b64("{\"fail\":true}")}),
    )
    .await
    .unwrap();
    assert_eq!(out["FunctionError"], json!("Unhandled"));
    assert_eq!(
        l.exec.environments_started(),
        1,
        "the warm environment was reused"
    );
    // The code was unpacked once, under its hash.
    let dirs = std::fs::read_dir(l.exec.work_dir().join("code"))
        .unwrap()
        .count();
    assert_eq!(dirs, 1);
    // The function's logs went to CloudWatch Logs only once a runtime is set: none here.
    assert!(!rt.calls.lock().unwrap().iter().any(|(s, _, _)| s == "logs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_machine_wide_limit_throttles_and_slots_are_given_back() {
    let (mut l, _d) = lambda();
    l.max_running = 1;
    let rt = FakeRt::default();
    let zip = make_zip(&[("index.py", ECHO.as_bytes(), 0o644)]);
    call(&l, &rt, "CreateFunction", create_input("f", &zip))
        .await
        .unwrap();
    let c = ctx();
    let held = l.slot(&c, "f", None).unwrap();
    let e = call(&l, &rt, "Invoke", json!({"FunctionName": "f"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (429, "TooManyRequestsException")
    );
    assert_eq!(
        e.fields["Reason"],
        json!("ConcurrentInvocationLimitExceeded")
    );
    drop(held);
    assert!(l.slot(&c, "f", Some(1)).is_ok(), "the slot was given back");
}

/// Event source mappings carry tags (Terraform's `default_tags` reads them with ListTags on the
/// mapping's ARN after every apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_source_mappings_have_tags() {
    let (l, _d) = lambda();
    let rt = FakeRt::default();
    let zip = make_zip(&[("index.py", ECHO.as_bytes(), 0o644)]);
    call(&l, &rt, "CreateFunction", create_input("tagged", &zip))
        .await
        .unwrap();
    let m = call(
        &l,
        &rt,
        "CreateEventSourceMapping",
        json!({
            "FunctionName": "tagged",
            "EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q",
            "Tags": {"team": "a", "stack": "e2e"},
        }),
    )
    .await
    .unwrap();
    let arn = m["EventSourceMappingArn"].as_str().unwrap().to_string();
    let tags = call(&l, &rt, "ListTags", json!({"Resource": arn}))
        .await
        .unwrap();
    assert_eq!(tags["Tags"], json!({"team": "a", "stack": "e2e"}));
    call(
        &l,
        &rt,
        "TagResource",
        json!({"Resource": arn, "Tags": {"team": "b", "env": "dev"}}),
    )
    .await
    .unwrap();
    call(
        &l,
        &rt,
        "UntagResource",
        json!({"Resource": arn, "TagKeys": ["stack"]}),
    )
    .await
    .unwrap();
    let tags = call(&l, &rt, "ListTags", json!({"Resource": arn}))
        .await
        .unwrap();
    assert_eq!(tags["Tags"], json!({"team": "b", "env": "dev"}));
    // Deleting the mapping drops its tags; its ARN is then not found.
    call(
        &l,
        &rt,
        "DeleteEventSourceMapping",
        json!({"UUID": m["UUID"]}),
    )
    .await
    .unwrap();
    assert!(
        l.store
            .snapshot()
            .get(&keys::mapping_tags(m["UUID"].as_str().unwrap()))
            .is_none()
    );
    let e = call(&l, &rt, "ListTags", json!({"Resource": arn}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

//! The operations added last, through `Lambda::call` with a runtime that answers nothing:
//! recursion, runtime management, scaling, capacity providers, image functions, durable
//! execution checkpoints and callbacks, and the migration of DynamoDB stream cursors.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Engine;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::code::make_zip;
use crate::model::{DurableExecution, LambdaRecord, Mapping, StreamCursor, keys};
use crate::{Lambda, LambdaError};

struct NoRt;

impl Runtime for NoRt {
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
        Box::pin(async { Ok(json!({})) })
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

async fn call(l: &Lambda, op: &str, input: Value) -> Result<Value, LambdaError> {
    l.call(&NoRt, &ctx(), op, &input).await.map(|d| d.output)
}

fn zip_input(name: &str) -> Value {
    let zip = make_zip(&[("index.py", b"def handler(e, c):\n    return e\n", 0o644)]);
    json!({
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "index.handler",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_and_runtime_management_are_stored() {
    let (l, _d) = lambda();
    call(&l, "CreateFunction", zip_input("f")).await.unwrap();
    let r = call(
        &l,
        "GetFunctionRecursionConfig",
        json!({"FunctionName": "f"}),
    )
    .await
    .unwrap();
    assert_eq!(r["RecursiveLoop"], "Terminate");
    call(
        &l,
        "PutFunctionRecursionConfig",
        json!({"FunctionName": "f", "RecursiveLoop": "Allow"}),
    )
    .await
    .unwrap();
    let r = call(
        &l,
        "GetFunctionRecursionConfig",
        json!({"FunctionName": "f"}),
    )
    .await
    .unwrap();
    assert_eq!(r["RecursiveLoop"], "Allow");
    let e = call(
        &l,
        "PutRuntimeManagementConfig",
        json!({"FunctionName": "f", "UpdateRuntimeOn": "Manual"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    let arn = format!("arn:aws:lambda:us-east-1::runtime:{}", "0f".repeat(32));
    call(
        &l,
        "PutRuntimeManagementConfig",
        json!({"FunctionName": "f", "UpdateRuntimeOn": "Manual", "RuntimeVersionArn": arn}),
    )
    .await
    .unwrap();
    let c = call(&l, "GetFunctionConfiguration", json!({"FunctionName": "f"}))
        .await
        .unwrap();
    assert_eq!(c["RuntimeVersionConfig"]["RuntimeVersionArn"], json!(arn));
    let wrong = arn.replace("us-east-1", "eu-west-1");
    let e = call(
        &l,
        "PutRuntimeManagementConfig",
        json!({"FunctionName": "f", "UpdateRuntimeOn": "Manual", "RuntimeVersionArn": wrong}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    call(&l, "DeleteFunction", json!({"FunctionName": "f"}))
        .await
        .unwrap();
    assert!(
        l.store
            .snapshot()
            .get(&keys::recursion(&ctx().partition, "f"))
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_providers_in_use_cannot_be_deleted() {
    let (l, _d) = lambda();
    let cp = call(
        &l,
        "CreateCapacityProvider",
        json!({"CapacityProviderName": "cp",
               "VpcConfig": {"SubnetIds": ["s"], "SecurityGroupIds": ["g"]},
               "PermissionsConfig": {"CapacityProviderOperatorRoleArn": "arn:aws:iam::000000000000:role/o"}}),
    )
    .await
    .unwrap();
    let arn = cp["CapacityProvider"]["CapacityProviderArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cp["CapacityProvider"]["State"], "Pending");
    let mut f = zip_input("onit");
    f["CapacityProviderConfig"] =
        json!({"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": arn}});
    f["Publish"] = json!(true);
    call(&l, "CreateFunction", f).await.unwrap();
    let v = call(
        &l,
        "ListFunctionVersionsByCapacityProvider",
        json!({"CapacityProviderName": "cp"}),
    )
    .await
    .unwrap();
    assert_eq!(v["FunctionVersions"].as_array().unwrap().len(), 2);
    let e = call(
        &l,
        "DeleteCapacityProvider",
        json!({"CapacityProviderName": "cp"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "ResourceConflictException");
    call(
        &l,
        "PutFunctionScalingConfig",
        json!({"FunctionName": "onit", "Qualifier": "1",
               "FunctionScalingConfig": {"MinExecutionEnvironments": 2}}),
    )
    .await
    .unwrap();
    let g = call(
        &l,
        "GetFunctionScalingConfig",
        json!({"FunctionName": "onit", "Qualifier": "$LATEST.PUBLISHED"}),
    )
    .await
    .unwrap();
    assert_eq!(
        g["AppliedFunctionScalingConfig"]["MinExecutionEnvironments"],
        2
    );
    call(&l, "DeleteFunction", json!({"FunctionName": "onit"}))
        .await
        .unwrap();
    let d = call(
        &l,
        "DeleteCapacityProvider",
        json!({"CapacityProviderName": arn}),
    )
    .await
    .unwrap();
    assert_eq!(d["CapacityProvider"]["State"], "Deleting");
    let l2 = call(&l, "ListCapacityProviders", json!({})).await.unwrap();
    assert_eq!(l2["CapacityProviders"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_functions_are_stored_and_refuse_to_run() {
    let (l, _d) = lambda();
    let uri = "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1";
    let out = call(
        &l,
        "CreateFunction",
        json!({"FunctionName": "img", "Role": "arn:aws:iam::000000000000:role/r",
               "PackageType": "Image", "Code": {"ImageUri": uri}}),
    )
    .await
    .unwrap();
    assert_eq!(out["PackageType"], "Image");
    assert!(out.get("Runtime").is_none() && out.get("_ImageUri").is_none());
    let g = call(&l, "GetFunction", json!({"FunctionName": "img"}))
        .await
        .unwrap();
    assert_eq!(g["Code"]["ImageUri"], uri);
    let e = call(&l, "Invoke", json!({"FunctionName": "img"}))
        .await
        .unwrap_err();
    assert!(e.message.contains("no container executor"), "{}", e.message);
    let bad = call(
        &l,
        "CreateFunction",
        json!({"FunctionName": "img2", "Role": "arn:aws:iam::000000000000:role/r",
               "PackageType": "Image", "Code": {"ImageUri": "not an image"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code, "InvalidParameterValueException");
}

fn execution(l: &Lambda) -> DurableExecution {
    let now = l.now();
    DurableExecution {
        id: "x1".into(),
        account: "000000000000".into(),
        region: "us-east-1".into(),
        function: "f".into(),
        version: "$LATEST".into(),
        qualifier: None,
        name: "n1".into(),
        input: "{}".into(),
        status: "RUNNING".into(),
        result: None,
        error: None,
        started_ms: now,
        ended_ms: None,
        deadline_ms: now + 60_000,
        retention_days: 1,
        operations: vec![
            json!({"Id": "x1", "Type": "EXECUTION", "Status": "STARTED", "StartTimestamp": 0.0})
                .to_string(),
        ],
        events: Vec::new(),
        token: 1,
        due_ms: None,
        changed: Vec::new(),
        invocations: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_callbacks_and_stop() {
    let (l, _d) = lambda();
    call(&l, "CreateFunction", zip_input("f")).await.unwrap();
    let rec = execution(&l);
    let arn = crate::durable::execution_arn(&rec);
    l.store.write(|txn| {
        txn.insert(
            keys::durable("x1"),
            LambdaRecord::DurableExecution(rec.clone()),
        );
    });
    let t1 = crate::durable::token("x1", 1);
    let cp = call(
        &l,
        "CheckpointDurableExecution",
        json!({"DurableExecutionArn": arn, "CheckpointToken": t1,
               "Updates": [{"Id": "c", "Type": "CALLBACK", "Action": "START"}]}),
    )
    .await
    .unwrap();
    let cb = cp["NewExecutionState"]["Operations"][0]["CallbackDetails"]["CallbackId"]
        .as_str()
        .unwrap()
        .to_string();
    // The token was consumed.
    let e = call(
        &l,
        "CheckpointDurableExecution",
        json!({"DurableExecutionArn": arn, "CheckpointToken": t1, "Updates": []}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    call(
        &l,
        "SendDurableExecutionCallbackSuccess",
        json!({"CallbackId": cb, "Result": base64::engine::general_purpose::STANDARD.encode("7")}),
    )
    .await
    .unwrap();
    let st = call(
        &l,
        "GetDurableExecutionState",
        json!({"DurableExecutionArn": arn, "CheckpointToken": cp["CheckpointToken"]}),
    )
    .await
    .unwrap();
    assert_eq!(st["Operations"][1]["Status"], "SUCCEEDED");
    assert_eq!(st["Operations"][1]["CallbackDetails"]["Result"], "7");
    let stop = call(
        &l,
        "StopDurableExecution",
        json!({"DurableExecutionArn": arn}),
    )
    .await
    .unwrap();
    assert!(stop["StopTimestamp"].is_number());
    let g = call(
        &l,
        "GetDurableExecution",
        json!({"DurableExecutionArn": arn}),
    )
    .await
    .unwrap();
    assert_eq!(g["Status"], "STOPPED");
    let h = call(
        &l,
        "GetDurableExecutionHistory",
        json!({"DurableExecutionArn": arn}),
    )
    .await
    .unwrap();
    let kinds: Vec<&str> = h["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["CallbackStarted", "CallbackSucceeded", "ExecutionStopped"]
    );
    let list = call(
        &l,
        "ListDurableExecutionsByFunction",
        json!({"FunctionName": "f", "Statuses": ["STOPPED"]}),
    )
    .await
    .unwrap();
    assert_eq!(
        list["DurableExecutions"][0]["DurableExecutionArn"],
        json!(arn)
    );
}

#[test]
fn stream_cursors_migrate_to_shared_checkpoints() {
    let (l, _d) = lambda();
    let m = Mapping {
        uuid: "u1".into(),
        account: "000000000000".into(),
        region: "us-east-1".into(),
        function: "f".into(),
        qualifier: None,
        source_arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024".into(),
        batch_size: 100,
        window_s: 0,
        enabled: true,
        report_item_failures: false,
        last_modified_ms: 1,
        last_result: "OK".into(),
    };
    l.store.write(|txn| {
        txn.insert(keys::mapping("u1"), LambdaRecord::Mapping(m));
        txn.insert(
            keys::cursor("u1"),
            LambdaRecord::StreamCursor(StreamCursor {
                uuid: "u1".into(),
                starting_position: "TRIM_HORIZON".into(),
                max_retries: 3,
                shards: vec![("sh1".into(), "42".into())],
                attempts: 0,
                created_ms: 1,
            }),
        );
    });
    l.migrate_cursors();
    let snap = l.store.snapshot();
    assert!(snap.get(&keys::cursor("u1")).is_none());
    match snap.get(&keys::stream_mapping("u1")) {
        Some(LambdaRecord::StreamMapping(sm)) => {
            assert_eq!(sm.starting_position, "TRIM_HORIZON");
            assert_eq!(sm.max_retries, 3);
        }
        other => panic!("{other:?}"),
    }
    match snap.get(&keys::checkpoint("u1", "sh1")) {
        Some(LambdaRecord::Checkpoint(c)) => assert_eq!(c.sequence, "42"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_checkpoints_apply_once_and_limits_refuse() {
    let (l, _d) = lambda();
    call(&l, "CreateFunction", zip_input("f")).await.unwrap();
    let rec = execution(&l);
    let arn = crate::durable::execution_arn(&rec);
    l.store.write(|txn| {
        txn.insert(keys::durable("x1"), LambdaRecord::DurableExecution(rec));
    });
    let t1 = crate::durable::token("x1", 1);
    let start = json!({"DurableExecutionArn": arn, "CheckpointToken": t1, "ClientToken": "ct1",
                       "Updates": [{"Id": "s", "Type": "STEP", "Action": "START"}]});
    let first = call(&l, "CheckpointDurableExecution", start.clone())
        .await
        .unwrap();
    let again = call(&l, "CheckpointDurableExecution", start.clone())
        .await
        .unwrap();
    assert_eq!(first, again);
    let events = |l: &Lambda| match l.store.snapshot().get(&keys::durable("x1")) {
        Some(LambdaRecord::DurableExecution(d)) => (d.events.len(), d.token),
        _ => (0, 0),
    };
    assert_eq!(events(&l), (1, 2), "one StepStarted, one token consumed");
    // The same client token with another request.
    let mut other = start.clone();
    other["Updates"] = json!([]);
    let e = call(&l, "CheckpointDurableExecution", other)
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    assert!(e.message.contains("ct1"), "{}", e.message);
    // Over the limit: refused, nothing applied, the token still valid.
    let big = json!({"DurableExecutionArn": arn, "CheckpointToken": first["CheckpointToken"],
                     "Updates": [{"Id": "s", "Type": "STEP", "Action": "SUCCEED",
                                  "Payload": "x".repeat(300 * 1024)}]});
    let e = call(&l, "CheckpointDurableExecution", big)
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValueException");
    assert!(e.message.contains("262144"), "{}", e.message);
    assert_eq!(events(&l), (1, 2));
    let ok = json!({"DurableExecutionArn": arn, "CheckpointToken": first["CheckpointToken"],
                    "Updates": [{"Id": "s", "Type": "STEP", "Action": "SUCCEED", "Payload": "1"}]});
    call(&l, "CheckpointDurableExecution", ok).await.unwrap();
    assert_eq!(events(&l), (2, 3));
    // The token is remembered 15 minutes, then swept: the old request is a stale token again.
    assert!(
        l.store
            .snapshot()
            .get(&keys::client_token("x1", "ct1"))
            .is_some()
    );
    l.forget_client_tokens(l.now() + crate::durable::CLIENT_TOKEN_MS);
    assert!(
        l.store
            .snapshot()
            .get(&keys::client_token("x1", "ct1"))
            .is_none()
    );
    let e = call(&l, "CheckpointDurableExecution", start)
        .await
        .unwrap_err();
    assert_eq!(e.message, "Invalid checkpoint token.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_published_names_the_latest_published_version() {
    let (l, _d) = lambda();
    call(&l, "CreateFunction", zip_input("f")).await.unwrap();
    let q = json!({"FunctionName": "f", "Qualifier": "$LATEST.PUBLISHED"});
    let e = call(&l, "GetFunctionConfiguration", q.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    call(&l, "PublishVersion", json!({"FunctionName": "f"}))
        .await
        .unwrap();
    call(
        &l,
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "f", "Description": "two"}),
    )
    .await
    .unwrap();
    call(&l, "PublishVersion", json!({"FunctionName": "f"}))
        .await
        .unwrap();
    let c = call(&l, "GetFunctionConfiguration", q).await.unwrap();
    assert_eq!(c["Version"], "2");
    let arn = c["FunctionArn"].as_str().unwrap();
    assert!(arn.ends_with(":function:f:$LATEST.PUBLISHED"), "{arn}");
    let c = call(
        &l,
        "GetFunctionConfiguration",
        json!({"FunctionName": "f:$LATEST.PUBLISHED"}),
    )
    .await
    .unwrap();
    assert_eq!(c["Version"], "2");
}

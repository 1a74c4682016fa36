//! Unit tests of the stored-resource families, export tasks and subscription deliveries (with
//! a runtime that plays S3, Kinesis and Lambda, and can fail).

use std::io::Read;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::*;

const NOW: u64 = 1_700_000_000_000;

#[derive(Default)]
struct FakeRt {
    calls: Mutex<Vec<(String, String, Value)>>,
    down: Mutex<bool>,
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
            if *self.down.lock().unwrap() {
                return Err(AwsError::internal("ServiceUnavailable", "down"));
            }
            self.calls
                .lock()
                .unwrap()
                .push((service.into(), operation.into(), input));
            Ok(json!({}))
        })
    }
}

fn logs() -> (Logs, RequestContext) {
    let l = Logs::new();
    l.set_clock(NOW);
    (l, RequestContext::from_scope(None))
}

fn call(l: &Logs, ctx: &RequestContext, op: &str, v: Value) -> Value {
    match l.handle(ctx, op, &v) {
        Ok(o) => o.value,
        Err(e) => panic!("{op}: {e}"),
    }
}

fn code(l: &Logs, ctx: &RequestContext, op: &str, v: Value) -> String {
    match l.handle(ctx, op, &v) {
        Ok(o) => panic!("{op} succeeded: {}", o.value),
        Err(e) => e.code,
    }
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn group(l: &Logs, ctx: &RequestContext, g: &str, streams: &[&str]) {
    call(l, ctx, "CreateLogGroup", json!({"logGroupName": g}));
    for s in streams {
        call(
            l,
            ctx,
            "CreateLogStream",
            json!({"logGroupName": g, "logStreamName": s}),
        );
    }
}

#[test]
fn destinations_and_policies() {
    let (l, ctx) = logs();
    let d = call(
        &l,
        &ctx,
        "PutDestination",
        json!({"destinationName": "d1", "targetArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "roleArn": "arn:aws:iam::000000000000:role/r"}),
    );
    assert_eq!(
        d["destination"]["arn"],
        "arn:aws:logs:us-east-1:000000000000:destination:d1"
    );
    call(
        &l,
        &ctx,
        "PutDestinationPolicy",
        json!({"destinationName": "d1", "accessPolicy": "{\"Version\":\"2012-10-17\"}"}),
    );
    let all = call(
        &l,
        &ctx,
        "DescribeDestinations",
        json!({"DestinationNamePrefix": "d"}),
    );
    assert_eq!(
        all["destinations"][0]["accessPolicy"],
        "{\"Version\":\"2012-10-17\"}"
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "PutDestinationPolicy",
            json!({"destinationName": "nope", "accessPolicy": "{}"})
        ),
        "ResourceNotFoundException"
    );
    call(
        &l,
        &ctx,
        "DeleteDestination",
        json!({"destinationName": "d1"}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "DeleteDestination",
            json!({"destinationName": "d1"})
        ),
        "ResourceNotFoundException"
    );

    let r = call(
        &l,
        &ctx,
        "PutResourcePolicy",
        json!({"policyName": "p", "policyDocument": "{}"}),
    );
    let rev = r["revisionId"].as_str().unwrap().to_string();
    assert_eq!(r["resourcePolicy"]["policyScope"], "ACCOUNT");
    assert_eq!(
        code(
            &l,
            &ctx,
            "PutResourcePolicy",
            json!({"policyName": "p", "policyDocument": "{}", "expectedRevisionId": "x"})
        ),
        "OperationAbortedException"
    );
    call(
        &l,
        &ctx,
        "PutResourcePolicy",
        json!({"policyName": "p", "policyDocument": "{}", "expectedRevisionId": rev}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "PutResourcePolicy",
            json!({"policyName": "q", "policyDocument": "not json"})
        ),
        "InvalidParameterException"
    );
    for i in 0..9 {
        call(
            &l,
            &ctx,
            "PutResourcePolicy",
            json!({"policyName": format!("x{i}"), "policyDocument": "{}"}),
        );
    }
    assert_eq!(
        code(
            &l,
            &ctx,
            "PutResourcePolicy",
            json!({"policyName": "over", "policyDocument": "{}"})
        ),
        "LimitExceededException"
    );
    assert_eq!(
        call(&l, &ctx, "DescribeResourcePolicies", json!({}))["resourcePolicies"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    call(&l, &ctx, "DeleteResourcePolicy", json!({"policyName": "p"}));
    assert_eq!(
        code(&l, &ctx, "DeleteResourcePolicy", json!({"policyName": "p"})),
        "ResourceNotFoundException"
    );

    call(
        &l,
        &ctx,
        "PutAccountPolicy",
        json!({"policyName": "ix", "policyType": "FIELD_INDEX_POLICY", "policyDocument": "{\"Fields\":[\"user\"]}"}),
    );
    let a = call(
        &l,
        &ctx,
        "DescribeAccountPolicies",
        json!({"policyType": "FIELD_INDEX_POLICY"}),
    );
    assert_eq!(a["accountPolicies"][0]["accountId"], ctx.account());
    group(&l, &ctx, "/g", &["s"]);
    let ix = call(
        &l,
        &ctx,
        "DescribeIndexPolicies",
        json!({"logGroupIdentifiers": ["/g"]}),
    );
    assert_eq!(ix["indexPolicies"][0]["source"], "ACCOUNT");
    call(
        &l,
        &ctx,
        "PutIndexPolicy",
        json!({"logGroupIdentifier": "/g", "policyDocument": "{\"Fields\":[\"a\",\"b\"]}"}),
    );
    let f = call(
        &l,
        &ctx,
        "DescribeFieldIndexes",
        json!({"logGroupIdentifiers": ["/g"]}),
    );
    assert_eq!(f["fieldIndexes"].as_array().unwrap().len(), 2);
    call(
        &l,
        &ctx,
        "DeleteIndexPolicy",
        json!({"logGroupIdentifier": "/g"}),
    );
    call(
        &l,
        &ctx,
        "DeleteAccountPolicy",
        json!({"policyName": "ix", "policyType": "FIELD_INDEX_POLICY"}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "DeleteAccountPolicy",
            json!({"policyName": "ix", "policyType": "FIELD_INDEX_POLICY"})
        ),
        "ResourceNotFoundException"
    );

    let dp = "{\"Name\":\"p\",\"Version\":\"2021-06-01\",\"Statement\":[]}";
    call(
        &l,
        &ctx,
        "PutDataProtectionPolicy",
        json!({"logGroupIdentifier": "/g", "policyDocument": dp}),
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "GetDataProtectionPolicy",
            json!({"logGroupIdentifier": "/g"})
        )["policyDocument"],
        dp
    );
    call(
        &l,
        &ctx,
        "DeleteDataProtectionPolicy",
        json!({"logGroupIdentifier": "/g"}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "DeleteDataProtectionPolicy",
            json!({"logGroupIdentifier": "/g"})
        ),
        "ResourceNotFoundException"
    );

    call(
        &l,
        &ctx,
        "PutLogGroupDeletionProtection",
        json!({"logGroupIdentifier": "/g", "deletionProtectionEnabled": true}),
    );
    assert_eq!(
        code(&l, &ctx, "DeleteLogGroup", json!({"logGroupName": "/g"})),
        "OperationAbortedException"
    );
    call(
        &l,
        &ctx,
        "PutLogGroupDeletionProtection",
        json!({"logGroupIdentifier": "/g", "deletionProtectionEnabled": false}),
    );
    call(&l, &ctx, "DeleteLogGroup", json!({"logGroupName": "/g"}));
}

#[test]
fn deliveries_chain() {
    let (l, ctx) = logs();
    call(
        &l,
        &ctx,
        "PutDeliverySource",
        json!({"name": "src", "resourceArn": "arn:aws:bedrock:us-east-1:000000000000:knowledge-base/kb", "logType": "APPLICATION_LOGS"}),
    );
    let d = call(
        &l,
        &ctx,
        "PutDeliveryDestination",
        json!({"name": "dst", "deliveryDestinationConfiguration": {"destinationResourceArn": "arn:aws:s3:::bucket"}}),
    );
    assert_eq!(d["deliveryDestination"]["deliveryDestinationType"], "S3");
    let arn = d["deliveryDestination"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &l,
        &ctx,
        "PutDeliveryDestinationPolicy",
        json!({"deliveryDestinationName": "dst", "deliveryDestinationPolicy": "{}"}),
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "GetDeliveryDestinationPolicy",
            json!({"deliveryDestinationName": "dst"})
        )["policy"]["deliveryDestinationPolicy"],
        "{}"
    );
    let c = call(
        &l,
        &ctx,
        "CreateDelivery",
        json!({"deliverySourceName": "src", "deliveryDestinationArn": arn}),
    );
    let id = c["delivery"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateDelivery",
            json!({"deliverySourceName": "src", "deliveryDestinationArn": arn})
        ),
        "ConflictException"
    );
    assert_eq!(
        code(&l, &ctx, "DeleteDeliverySource", json!({"name": "src"})),
        "ConflictException"
    );
    call(
        &l,
        &ctx,
        "UpdateDeliveryConfiguration",
        json!({"id": id, "recordFields": ["a"]}),
    );
    assert_eq!(
        call(&l, &ctx, "GetDelivery", json!({"id": id}))["delivery"]["recordFields"],
        json!(["a"])
    );
    assert_eq!(
        call(&l, &ctx, "DescribeDeliveries", json!({}))["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(&l, &ctx, "DeleteDelivery", json!({"id": id}));
    call(&l, &ctx, "DeleteDeliverySource", json!({"name": "src"}));
    call(
        &l,
        &ctx,
        "DeleteDeliveryDestinationPolicy",
        json!({"deliveryDestinationName": "dst"}),
    );
    call(
        &l,
        &ctx,
        "DeleteDeliveryDestination",
        json!({"name": "dst"}),
    );
    assert_eq!(
        code(&l, &ctx, "GetDeliveryDestination", json!({"name": "dst"})),
        "ResourceNotFoundException"
    );
    let t = call(
        &l,
        &ctx,
        "DescribeConfigurationTemplates",
        json!({"service": "cloudfront", "deliveryDestinationTypes": ["S3"]}),
    );
    assert_eq!(t["configurationTemplates"].as_array().unwrap().len(), 1);
}

#[test]
fn definitions_tables_and_schedules() {
    let (l, ctx) = logs();
    let id = call(
        &l,
        &ctx,
        "PutQueryDefinition",
        json!({"name": "errors", "queryString": "fields @message"}),
    )["queryDefinitionId"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &l,
        &ctx,
        "PutQueryDefinition",
        json!({"name": "errors2", "queryString": "fields @message", "queryDefinitionId": id}),
    );
    let d = call(
        &l,
        &ctx,
        "DescribeQueryDefinitions",
        json!({"queryDefinitionNamePrefix": "err"}),
    );
    assert_eq!(d["queryDefinitions"][0]["name"], "errors2");
    assert_eq!(
        call(
            &l,
            &ctx,
            "DeleteQueryDefinition",
            json!({"queryDefinitionId": id})
        )["success"],
        true
    );

    let t = call(
        &l,
        &ctx,
        "CreateLookupTable",
        json!({"lookupTableName": "t", "tableBody": "id,name\n1,a\n2,b\n"}),
    );
    let arn = t["lookupTableArn"].as_str().unwrap().to_string();
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateLookupTable",
            json!({"lookupTableName": "t", "tableBody": "a\n"})
        ),
        "ResourceAlreadyExistsException"
    );
    let all = call(&l, &ctx, "DescribeLookupTables", json!({}));
    assert_eq!(all["lookupTables"][0]["recordsCount"], 2);
    call(
        &l,
        &ctx,
        "UpdateLookupTable",
        json!({"lookupTableArn": arn, "tableBody": "id\n1\n"}),
    );
    assert_eq!(
        call(&l, &ctx, "GetLookupTable", json!({"lookupTableArn": arn}))["tableBody"],
        "id\n1\n"
    );
    call(
        &l,
        &ctx,
        "DeleteLookupTable",
        json!({"lookupTableArn": arn}),
    );

    let sq = json!({"name": "nightly", "queryLanguage": "CWLI", "queryString": "fields @message", "scheduleExpression": "cron(0 1 * * ? *)", "executionRoleArn": "arn:aws:iam::000000000000:role/r"});
    call(&l, &ctx, "CreateScheduledQuery", sq.clone());
    assert_eq!(
        code(&l, &ctx, "CreateScheduledQuery", sq),
        "ConflictException"
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateScheduledQuery",
            json!({"name": "bad", "queryLanguage": "CWLI", "queryString": "x", "scheduleExpression": "sometimes", "executionRoleArn": "r"})
        ),
        "ValidationException"
    );
    let g = call(
        &l,
        &ctx,
        "GetScheduledQuery",
        json!({"identifier": "nightly"}),
    );
    assert_eq!(g["state"], "ENABLED");
    assert_eq!(
        call(&l, &ctx, "ListScheduledQueries", json!({}))["scheduledQueries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(
        &l,
        &ctx,
        "DeleteScheduledQuery",
        json!({"identifier": g["scheduledQueryArn"]}),
    );

    group(&l, &ctx, "/g", &["s"]);
    let a = call(
        &l,
        &ctx,
        "CreateLogAnomalyDetector",
        json!({"logGroupArnList": ["arn:aws:logs:us-east-1:000000000000:log-group:/g"], "detectorName": "det"}),
    );
    let darn = a["anomalyDetectorArn"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            &l,
            &ctx,
            "GetLogAnomalyDetector",
            json!({"anomalyDetectorArn": darn})
        )["detectorName"],
        "det"
    );
    call(
        &l,
        &ctx,
        "UpdateLogAnomalyDetector",
        json!({"anomalyDetectorArn": darn, "enabled": false}),
    );
    assert_eq!(
        call(&l, &ctx, "ListLogAnomalyDetectors", json!({}))["anomalyDetectors"][0]["anomalyDetectorStatus"],
        "PAUSED"
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "ListAnomalies",
            json!({"anomalyDetectorArn": darn})
        )["anomalies"],
        json!([])
    );
    call(
        &l,
        &ctx,
        "DeleteLogAnomalyDetector",
        json!({"anomalyDetectorArn": darn}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateLogAnomalyDetector",
            json!({"logGroupArnList": ["/missing"]})
        ),
        "ResourceNotFoundException"
    );

    let tf = json!([{"parseJSON": {}}, {"addKeys": {"entries": [{"key": "k", "value": "v"}]}}]);
    call(
        &l,
        &ctx,
        "PutTransformer",
        json!({"logGroupIdentifier": "/g", "transformerConfig": tf}),
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "GetTransformer",
            json!({"logGroupIdentifier": "/g"})
        )["transformerConfig"],
        tf
    );
    let t = call(
        &l,
        &ctx,
        "TestTransformer",
        json!({"transformerConfig": tf, "logEventMessages": ["{\"a\":1}"]}),
    );
    assert_eq!(
        t["transformedLogs"][0]["transformedEventMessage"],
        "{\"a\":1,\"k\":\"v\"}"
    );
    call(
        &l,
        &ctx,
        "DeleteTransformer",
        json!({"logGroupIdentifier": "/g"}),
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "GetTransformer",
            json!({"logGroupIdentifier": "/g"})
        ),
        "ResourceNotFoundException"
    );

    let imp = call(
        &l,
        &ctx,
        "CreateImportTask",
        json!({"importSourceArn": "arn:aws:cloudtrail:us-east-1:000000000000:eventdatastore/abc", "importRoleArn": "r"}),
    );
    assert_eq!(
        call(&l, &ctx, "DescribeImportTasks", json!({}))["imports"][0]["importStatus"],
        "COMPLETED"
    );
    assert_eq!(
        code(
            &l,
            &ctx,
            "CancelImportTask",
            json!({"importId": imp["importId"]})
        ),
        "InvalidOperationException"
    );
}

#[test]
fn discovery_and_records() {
    let (l, ctx) = logs();
    group(&l, &ctx, "/app", &["s"]);
    call(
        &l,
        &ctx,
        "PutLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "s", "logEvents": [
        {"timestamp": NOW - 1000, "message": "{\"user\":\"ann\",\"n\":1}"},
        {"timestamp": NOW - 500, "message": "plain"}]}),
    );
    let f = call(
        &l,
        &ctx,
        "GetLogGroupFields",
        json!({"logGroupName": "/app"}),
    );
    let fields: Vec<(String, i64)> = f["logGroupFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["percent"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(fields.contains(&("user".into(), 50)), "{fields:?}");
    assert!(fields.contains(&("@message".into(), 100)), "{fields:?}");
    let l2 = call(
        &l,
        &ctx,
        "ListLogGroups",
        json!({"logGroupNamePattern": "ap"}),
    );
    assert_eq!(l2["logGroups"][0]["logGroupName"], "/app");
    let q = call(
        &l,
        &ctx,
        "StartQuery",
        json!({"logGroupName": "/app", "startTime": (NOW - 10_000) / 1000, "endTime": NOW / 1000, "queryString": "fields @message, @ptr"}),
    );
    let r = call(
        &l,
        &ctx,
        "GetQueryResults",
        json!({"queryId": q["queryId"]}),
    );
    let ptr = r["results"][0]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "@ptr")
        .unwrap()["value"]
        .clone();
    let rec = call(&l, &ctx, "GetLogRecord", json!({"logRecordPointer": ptr}));
    assert_eq!(rec["logRecord"]["@logStream"], "s");
    assert_eq!(
        code(&l, &ctx, "GetLogRecord", json!({"logRecordPointer": "zz"})),
        "InvalidParameterException"
    );
    let g = call(
        &l,
        &ctx,
        "ListLogGroupsForQuery",
        json!({"queryId": q["queryId"]}),
    );
    assert_eq!(
        g["logGroupIdentifiers"],
        json!(["arn:aws:logs:us-east-1:000000000000:log-group:/app"])
    );
}

#[tokio::test]
async fn export_task_writes_gzip_objects() {
    let (l, ctx) = logs();
    group(&l, &ctx, "/app", &["a", "b"]);
    for (s, m) in [("a", "one"), ("b", "two")] {
        call(
            &l,
            &ctx,
            "PutLogEvents",
            json!({"logGroupName": "/app", "logStreamName": s, "logEvents": [{"timestamp": NOW - 1000, "message": m}]}),
        );
    }
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateExportTask",
            json!({"logGroupName": "/app", "from": 10, "to": 5, "destination": "b"})
        ),
        "InvalidParameterException"
    );
    let t = call(
        &l,
        &ctx,
        "CreateExportTask",
        json!({"logGroupName": "/app", "from": 0, "to": NOW, "destination": "bkt", "destinationPrefix": "exp"}),
    );
    let id = t["taskId"].as_str().unwrap().to_string();
    assert_eq!(
        code(
            &l,
            &ctx,
            "CreateExportTask",
            json!({"logGroupName": "/app", "from": 0, "to": NOW, "destination": "bkt"})
        ),
        "LimitExceededException"
    );
    let rt = FakeRt::default();
    l.run_pending_exports(&rt).await.unwrap();
    let calls = rt.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].2["Key"], format!("exp/{id}/a/000000.gz"));
    let body = gunzip(&b64d(calls[0].2["Body"].as_str().unwrap()));
    assert!(
        body.ends_with(" one\n") && body.starts_with("2023-11-14T22:13:19.000Z"),
        "{body}"
    );
    let d = call(&l, &ctx, "DescribeExportTasks", json!({"taskId": id}));
    assert_eq!(d["exportTasks"][0]["status"]["code"], "COMPLETED");
    assert_eq!(
        code(&l, &ctx, "CancelExportTask", json!({"taskId": id})),
        "InvalidOperationException"
    );
}

#[tokio::test]
async fn subscriptions_go_through_the_outbox_and_retry() {
    let (l, ctx) = logs();
    group(&l, &ctx, "/app", &["s"]);
    call(
        &l,
        &ctx,
        "PutSubscriptionFilter",
        json!({"logGroupName": "/app", "filterName": "k", "filterPattern": "ERROR", "destinationArn": "arn:aws:kinesis:us-east-1:000000000000:stream/st"}),
    );
    call(
        &l,
        &ctx,
        "PutDestination",
        json!({"destinationName": "d", "targetArn": "arn:aws:lambda:us-east-1:000000000000:function:f", "roleArn": "r"}),
    );
    call(
        &l,
        &ctx,
        "PutSubscriptionFilter",
        json!({"logGroupName": "/app", "filterName": "l", "filterPattern": "", "destinationArn": "arn:aws:logs:us-east-1:000000000000:destination:d"}),
    );
    call(
        &l,
        &ctx,
        "PutLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "s", "logEvents": [
        {"timestamp": NOW - 10, "message": "ERROR x"}, {"timestamp": NOW - 5, "message": "ok"}]}),
    );
    let rt = FakeRt::default();
    *rt.down.lock().unwrap() = true;
    l.deliver_outbox(&rt).await;
    // Both entries were rescheduled with a backoff, not lost.
    let owed: Vec<OutboxRec> = l
        .store
        .snapshot()
        .iter()
        .filter_map(|(_, r)| match r {
            LogsRecord::Outbox(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(owed.len(), 2);
    assert!(owed.iter().all(|o| o.attempts == 1 && o.due_ms > NOW));
    *rt.down.lock().unwrap() = false;
    l.set_clock(NOW + 5000);
    l.deliver_outbox(&rt).await;
    assert!(l.next_outbox_due().is_none());
    let calls = rt.calls.lock().unwrap().clone();
    let kin = calls.iter().find(|c| c.0 == "kinesis").unwrap();
    assert_eq!(kin.1, "PutRecord");
    let payload: Value =
        serde_json::from_str(&gunzip(&b64d(kin.2["Data"].as_str().unwrap()))).unwrap();
    assert_eq!(payload["logEvents"].as_array().unwrap().len(), 1);
    let lam = calls.iter().find(|c| c.0 == "lambda").unwrap();
    let ev: Value = serde_json::from_slice(&b64d(lam.2["Payload"].as_str().unwrap())).unwrap();
    let inner: Value =
        serde_json::from_str(&gunzip(&b64d(ev["awslogs"]["data"].as_str().unwrap()))).unwrap();
    assert_eq!(inner["logEvents"].as_array().unwrap().len(), 2);
    assert_eq!(inner["subscriptionFilters"], json!(["l"]));
}

#[test]
fn new_records_round_trip_postcard() {
    let r = LogsRecord::Outbox(OutboxRec {
        id: "1".into(),
        destination_arn: "a".into(),
        filter: "f".into(),
        group: "g".into(),
        payload: vec![1, 2],
        created_ms: 1,
        due_ms: 2,
        attempts: 3,
        last_error: Some("e".into()),
    });
    let b = postcard::to_allocvec(&r).unwrap();
    assert_eq!(postcard::from_bytes::<LogsRecord>(&b).unwrap(), r);
    // Appended variants: the old ones keep their tags.
    assert_eq!(postcard::to_allocvec(&r).unwrap()[0], 7);
}

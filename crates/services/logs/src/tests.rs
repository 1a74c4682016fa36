//! Unit tests of CloudWatch Logs' operations on the store.

use serde_json::{Value, json};
use snapstack_service::RequestContext;

use crate::*;

const NOW: u64 = 1_700_000_000_000;

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

fn fails(l: &Logs, ctx: &RequestContext, op: &str, v: Value) -> AwsError {
    match l.handle(ctx, op, &v) {
        Ok(o) => panic!("{op} succeeded: {}", o.value),
        Err(e) => e,
    }
}

fn setup(l: &Logs, ctx: &RequestContext) {
    call(l, ctx, "CreateLogGroup", json!({"logGroupName": "/app"}));
    call(
        l,
        ctx,
        "CreateLogStream",
        json!({"logGroupName": "/app", "logStreamName": "a"}),
    );
    call(
        l,
        ctx,
        "CreateLogStream",
        json!({"logGroupName": "/app", "logStreamName": "b"}),
    );
}

fn put(l: &Logs, ctx: &RequestContext, stream: &str, events: &[(u64, &str)]) -> Value {
    let ev: Vec<Value> = events
        .iter()
        .map(|(t, m)| json!({"timestamp": t, "message": m}))
        .collect();
    call(
        l,
        ctx,
        "PutLogEvents",
        json!({"logGroupName": "/app", "logStreamName": stream, "logEvents": ev}),
    )
}

#[test]
fn groups_and_streams() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    let e = fails(&l, &ctx, "CreateLogGroup", json!({"logGroupName": "/app"}));
    assert_eq!(e.code, "ResourceAlreadyExistsException");
    for i in 0..5 {
        call(
            &l,
            &ctx,
            "CreateLogGroup",
            json!({"logGroupName": format!("/other/{i}")}),
        );
    }
    let page = call(
        &l,
        &ctx,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/other/", "limit": 2}),
    );
    assert_eq!(page["logGroups"].as_array().unwrap().len(), 2);
    let t = page["nextToken"].as_str().unwrap();
    let page2 = call(
        &l,
        &ctx,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/other/", "limit": 2, "nextToken": t}),
    );
    assert_eq!(page2["logGroups"][0]["logGroupName"], "/other/2");
    let pat = call(
        &l,
        &ctx,
        "DescribeLogGroups",
        json!({"logGroupNamePattern": "OTHER/3"}),
    );
    assert_eq!(pat["logGroups"].as_array().unwrap().len(), 1);
    call(
        &l,
        &ctx,
        "PutRetentionPolicy",
        json!({"logGroupName": "/app", "retentionInDays": 7}),
    );
    let e = fails(
        &l,
        &ctx,
        "PutRetentionPolicy",
        json!({"logGroupName": "/app", "retentionInDays": 8}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    call(
        &l,
        &ctx,
        "TagLogGroup",
        json!({"logGroupName": "/app", "tags": {"a": "1"}}),
    );
    let arn = group_arn(&ctx.partition, "/app");
    call(
        &l,
        &ctx,
        "TagResource",
        json!({"resourceArn": arn, "tags": {"b": "2"}}),
    );
    let tags = call(&l, &ctx, "ListTagsForResource", json!({"resourceArn": arn}));
    assert_eq!(tags["tags"], json!({"a": "1", "b": "2"}));
    call(
        &l,
        &ctx,
        "UntagLogGroup",
        json!({"logGroupName": "/app", "tags": ["a"]}),
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "ListTagsLogGroup",
            json!({"logGroupName": "/app"})
        )["tags"],
        json!({"b": "2"})
    );
    call(
        &l,
        &ctx,
        "AssociateKmsKey",
        json!({"logGroupName": "/app", "kmsKeyId": "arn:aws:kms:us-east-1:000000000000:key/k"}),
    );
    let g = call(
        &l,
        &ctx,
        "DescribeLogGroups",
        json!({"logGroupNamePrefix": "/app"}),
    );
    assert_eq!(g["logGroups"][0]["retentionInDays"], 7);
    assert!(g["logGroups"][0]["kmsKeyId"].is_string());
    put(&l, &ctx, "b", &[(NOW - 10, "x")]);
    let s = call(
        &l,
        &ctx,
        "DescribeLogStreams",
        json!({"logGroupName": "/app", "orderBy": "LastEventTime", "descending": true}),
    );
    assert_eq!(s["logStreams"][0]["logStreamName"], "b");
    let s = call(
        &l,
        &ctx,
        "DescribeLogStreams",
        json!({"logGroupName": "/app", "limit": 1}),
    );
    assert_eq!(s["logStreams"][0]["logStreamName"], "a");
    let s = call(
        &l,
        &ctx,
        "DescribeLogStreams",
        json!({"logGroupName": "/app", "limit": 1, "nextToken": s["nextToken"]}),
    );
    assert_eq!(s["logStreams"][0]["logStreamName"], "b");
    assert!(s.get("nextToken").is_none());
    call(&l, &ctx, "DeleteLogGroup", json!({"logGroupName": "/app"}));
    assert_eq!(
        l.store
            .snapshot()
            .scan_prefix(&group_events_prefix(&ctx.partition, "/app"))
            .count(),
        0
    );
}

#[test]
fn put_rules() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    let e = l
        .handle(
            &ctx,
            "PutLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "a", "logEvents": [
            {"timestamp": NOW, "message": "b"}, {"timestamp": NOW - 1, "message": "a"}]}),
        )
        .err()
        .unwrap();
    assert!(e.message.contains("chronological"), "{e}");
    let old = NOW - MAX_AGE_MS - 1;
    let new = NOW + MAX_FUTURE_MS + 1;
    let r = put(&l, &ctx, "a", &[(old - 1, "old"), (old, "old2")]);
    assert_eq!(r["rejectedLogEventsInfo"]["tooOldLogEventEndIndex"], 1);
    put(&l, &ctx, "a", &[(NOW - 1, "ok")]);
    let r = put(&l, &ctx, "a", &[(NOW, "ok2"), (new, "new")]);
    assert_eq!(r["rejectedLogEventsInfo"]["tooNewLogEventStartIndex"], 1);
    let big = "x".repeat(600_000);
    let ev = json!([{"timestamp": NOW, "message": big}, {"timestamp": NOW, "message": big}]);
    let e = l
        .handle(
            &ctx,
            "PutLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "a", "logEvents": ev}),
        )
        .err()
        .unwrap();
    assert!(e.message.starts_with("Upload too large"), "{e}");
    let e = fails(
        &l,
        &ctx,
        "PutLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "zz", "logEvents": [{"timestamp": NOW, "message": "m"}]}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    let got = call(
        &l,
        &ctx,
        "GetLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "a", "startFromHead": true}),
    );
    let msgs: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["ok", "ok2"]);
}

#[test]
fn get_tokens_page_both_ways() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    let evs: Vec<(u64, String)> = (0..25).map(|i| (NOW - 1000 + i, format!("m{i}"))).collect();
    let refs: Vec<(u64, &str)> = evs.iter().map(|(t, m)| (*t, m.as_str())).collect();
    put(&l, &ctx, "a", &refs);
    let mut seen = Vec::new();
    let mut tok: Option<String> = None;
    loop {
        let mut req = json!({"logGroupName": "/app", "logStreamName": "a", "startFromHead": true, "limit": 10});
        if let Some(t) = &tok {
            req["nextToken"] = json!(t);
        }
        let r = call(&l, &ctx, "GetLogEvents", req);
        let next = r["nextForwardToken"].as_str().unwrap().to_string();
        for e in r["events"].as_array().unwrap() {
            seen.push(e["message"].as_str().unwrap().to_string());
        }
        if tok.as_deref() == Some(next.as_str()) {
            break;
        }
        tok = Some(next);
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[24], "m24");
    // From the tail, backwards.
    let r = call(
        &l,
        &ctx,
        "GetLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "a", "limit": 10}),
    );
    assert_eq!(r["events"][0]["message"], "m15");
    let b = r["nextBackwardToken"].as_str().unwrap();
    let r = call(
        &l,
        &ctx,
        "GetLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "a", "limit": 10, "nextToken": b}),
    );
    assert_eq!(r["events"][0]["message"], "m5");
    assert_eq!(r["events"][9]["message"], "m14");
    // Time range: [start, end).
    let r = call(
        &l,
        &ctx,
        "GetLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "a", "startTime": NOW - 1000 + 3, "endTime": NOW - 1000 + 5, "startFromHead": true}),
    );
    assert_eq!(r["events"].as_array().unwrap().len(), 2);
}

#[test]
fn filter_interleaves_and_pages() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    put(
        &l,
        &ctx,
        "a",
        &[
            (NOW - 10, "ERROR one"),
            (NOW - 8, "INFO two"),
            (NOW - 6, r#"{"level":"error","ms":5}"#),
        ],
    );
    put(
        &l,
        &ctx,
        "b",
        &[(NOW - 9, "ERROR three"), (NOW - 7, "ERROR four retry")],
    );
    let r = call(
        &l,
        &ctx,
        "FilterLogEvents",
        json!({"logGroupName": "/app", "filterPattern": "ERROR -retry"}),
    );
    let msgs: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["ERROR one", "ERROR three"]);
    let r = call(
        &l,
        &ctx,
        "FilterLogEvents",
        json!({"logGroupName": "/app", "filterPattern": "{ $.level = \"error\" }"}),
    );
    assert_eq!(r["events"].as_array().unwrap().len(), 1);
    // Paging one at a time gives everything in order.
    let mut all = Vec::new();
    let mut tok: Option<String> = None;
    for _ in 0..20 {
        let mut req = json!({"logGroupName": "/app", "limit": 1});
        if let Some(t) = &tok {
            req["nextToken"] = json!(t);
        }
        let r = call(&l, &ctx, "FilterLogEvents", req);
        for e in r["events"].as_array().unwrap() {
            all.push(e["timestamp"].as_u64().unwrap());
        }
        match r["nextToken"].as_str() {
            Some(t) => tok = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(all, vec![NOW - 10, NOW - 9, NOW - 8, NOW - 7, NOW - 6]);
    let r = call(
        &l,
        &ctx,
        "FilterLogEvents",
        json!({"logGroupName": "/app", "logStreamNames": ["b"]}),
    );
    assert_eq!(r["events"].as_array().unwrap().len(), 2);
}

#[test]
fn retention_sweeps_whole_ranges() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    put(&l, &ctx, "a", &[(NOW - 3 * 86_400_000, "old")]);
    put(&l, &ctx, "a", &[(NOW - 1000, "new")]);
    call(
        &l,
        &ctx,
        "PutRetentionPolicy",
        json!({"logGroupName": "/app", "retentionInDays": 1}),
    );
    assert_eq!(l.sweep_retention(NOW), 1);
    let r = call(
        &l,
        &ctx,
        "GetLogEvents",
        json!({"logGroupName": "/app", "logStreamName": "a", "startFromHead": true}),
    );
    assert_eq!(r["events"].as_array().unwrap().len(), 1);
    assert_eq!(l.sweep_retention(NOW), 0);
}

#[test]
fn metric_filters_and_insights() {
    let (l, ctx) = logs();
    setup(&l, &ctx);
    call(
        &l,
        &ctx,
        "PutMetricFilter",
        json!({"logGroupName": "/app", "filterName": "errs", "filterPattern": "ERROR",
        "metricTransformations": [{"metricName": "Errors", "metricNamespace": "App", "metricValue": "1"}]}),
    );
    let d = call(
        &l,
        &ctx,
        "DescribeMetricFilters",
        json!({"logGroupName": "/app"}),
    );
    assert_eq!(
        d["metricFilters"][0]["metricTransformations"][0]["metricName"],
        "Errors"
    );
    let o = l
        .handle(
            &ctx,
            "PutLogEvents",
            &json!({"logGroupName": "/app", "logStreamName": "a", "logEvents": [
        {"timestamp": NOW - 5, "message": "ERROR x"}, {"timestamp": NOW - 4, "message": "fine"}]}),
        )
        .unwrap();
    assert_eq!(o.metrics.len(), 1);
    assert_eq!(o.metrics[0].1["MetricData"].as_array().unwrap().len(), 1);
    let t = call(
        &l,
        &ctx,
        "TestMetricFilter",
        json!({"filterPattern": "[a, b=2]", "logEventMessages": ["x 2", "x 3"]}),
    );
    assert_eq!(t["matches"].as_array().unwrap().len(), 1);
    assert_eq!(t["matches"][0]["extractedValues"]["$a"], "x");
    call(
        &l,
        &ctx,
        "PutSubscriptionFilter",
        json!({"logGroupName": "/app", "filterName": "s", "filterPattern": "", "destinationArn": "arn:aws:lambda:us-east-1:000000000000:function:f"}),
    );
    assert_eq!(
        call(
            &l,
            &ctx,
            "DescribeSubscriptionFilters",
            json!({"logGroupName": "/app"})
        )["subscriptionFilters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(
        &l,
        &ctx,
        "DeleteMetricFilter",
        json!({"logGroupName": "/app", "filterName": "errs"}),
    );
    let q = call(
        &l,
        &ctx,
        "StartQuery",
        json!({"logGroupName": "/app", "startTime": (NOW / 1000) - 60, "endTime": NOW / 1000, "queryString": "filter @message like /ERROR/ | stats count(*) as n"}),
    );
    let r = call(
        &l,
        &ctx,
        "GetQueryResults",
        json!({"queryId": q["queryId"]}),
    );
    assert_eq!(r["status"], "Complete");
    assert_eq!(r["results"][0], json!([{"field": "n", "value": "1"}]));
}

#[test]
fn records_round_trip_postcard() {
    let r = LogsRecord::Event(EventRec {
        timestamp: 1,
        seq: 2,
        ingestion_ms: 3,
        message: "m".into(),
    });
    let b = postcard::to_allocvec(&r).unwrap();
    assert_eq!(postcard::from_bytes::<LogsRecord>(&b).unwrap(), r);
}

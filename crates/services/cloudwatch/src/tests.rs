//! Unit tests of CloudWatch's operations on the store.

use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

use crate::*;

const NOW: u64 = 1_700_000_040_000;

fn cw() -> (CloudWatch, RequestContext) {
    let c = CloudWatch::new();
    c.set_clock(NOW);
    (c, RequestContext::from_scope(None))
}

fn call(c: &CloudWatch, ctx: &RequestContext, op: &str, v: Value) -> Value {
    match c.handle(ctx, op, &v) {
        Ok(o) => o.value,
        Err(e) => panic!("{op}: {e}"),
    }
}

fn fails(c: &CloudWatch, ctx: &RequestContext, op: &str, v: Value) -> AwsError {
    match c.handle(ctx, op, &v) {
        Ok(o) => panic!("{op} succeeded: {}", o.value),
        Err(e) => e,
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[test]
fn put_and_statistics() {
    let (c, ctx) = cw();
    let dims = json!([{"Name": "Host", "Value": "a"}]);
    call(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [
            {"MetricName": "Latency", "Dimensions": dims, "Value": 10.0, "Unit": "Milliseconds", "Timestamp": secs(NOW - 30_000)},
            {"MetricName": "Latency", "Dimensions": dims, "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Unit": "Milliseconds", "Timestamp": secs(NOW - 20_000)},
            {"MetricName": "Latency", "Dimensions": dims, "StatisticValues": {"SampleCount": 2.0, "Sum": 100.0, "Minimum": 40.0, "Maximum": 60.0}, "Unit": "Milliseconds", "Timestamp": secs(NOW - 90_000)},
        ]}),
    );
    let r = call(
        &c,
        &ctx,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency", "Dimensions": dims,
        "StartTime": secs(NOW - 120_000), "EndTime": secs(NOW), "Period": 60,
        "Statistics": ["Sum", "SampleCount", "Average", "Minimum", "Maximum"], "ExtendedStatistics": ["p50"]}),
    );
    let dps = r["Datapoints"].as_array().unwrap();
    assert_eq!(dps.len(), 2, "{r}");
    let last = &dps[1];
    assert_eq!(last["SampleCount"], 4.0);
    assert_eq!(last["Sum"], 90.0);
    assert_eq!(last["Minimum"], 10.0);
    assert_eq!(last["Maximum"], 30.0);
    assert_eq!(last["ExtendedStatistics"]["p50"], 20.0);
    assert_eq!(last["Unit"], "Milliseconds");
    assert_eq!(dps[0]["Average"], 50.0);
    // Another dimension set is another metric.
    let r = call(
        &c,
        &ctx,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency",
        "StartTime": secs(NOW - 120_000), "EndTime": secs(NOW), "Period": 60, "Statistics": ["Sum"]}),
    );
    assert!(r["Datapoints"].as_array().unwrap().is_empty());
    let e = fails(
        &c,
        &ctx,
        "GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Latency",
        "StartTime": 0.0, "EndTime": secs(NOW), "Period": 60, "Statistics": ["Sum"]}),
    );
    assert_eq!(e.code, "InvalidParameterCombinationException");
    let e = fails(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "x", "Value": 1.0}]}),
    );
    assert_eq!(e.code, "InvalidParameterValueException");
    let e = fails(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "A", "MetricData": [{"MetricName": "x", "Values": [1.0], "Counts": [1.0, 2.0]}]}),
    );
    assert_eq!(e.code, "InvalidParameterValueException");
    let e = fails(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "A", "MetricData": [{"MetricName": "x", "Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}]}),
    );
    assert_eq!(e.code, "InvalidParameterCombinationException");
}

#[test]
fn list_metrics_filters() {
    let (c, ctx) = cw();
    for (ns, name, host) in [
        ("A", "m1", "h1"),
        ("A", "m1", "h2"),
        ("A", "m2", "h1"),
        ("B", "m1", "h1"),
    ] {
        call(
            &c,
            &ctx,
            "PutMetricData",
            json!({"Namespace": ns, "MetricData": [{"MetricName": name, "Value": 1.0, "Dimensions": [{"Name": "Host", "Value": host}]}]}),
        );
    }
    let n = |v: Value| {
        call(&c, &ctx, "ListMetrics", v)["Metrics"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(n(json!({})), 4);
    assert_eq!(n(json!({"Namespace": "A"})), 3);
    assert_eq!(n(json!({"Namespace": "A", "MetricName": "m1"})), 2);
    assert_eq!(
        n(json!({"Dimensions": [{"Name": "Host", "Value": "h1"}]})),
        3
    );
    assert_eq!(n(json!({"Dimensions": [{"Name": "Other"}]})), 0);
    assert_eq!(n(json!({"RecentlyActive": "PT3H"})), 4);
    // Pages of 500.
    let data: Vec<Value> = (0..501)
        .map(|i| json!({"MetricName": format!("m{i:03}"), "Value": 1.0}))
        .collect();
    call(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "P", "MetricData": data}),
    );
    let first = call(&c, &ctx, "ListMetrics", json!({"Namespace": "P"}));
    assert_eq!(first["Metrics"].as_array().unwrap().len(), 500);
    let second = call(
        &c,
        &ctx,
        "ListMetrics",
        json!({"Namespace": "P", "NextToken": first["NextToken"]}),
    );
    assert_eq!(
        second["Metrics"],
        json!([{"Namespace": "P", "MetricName": "m500", "Dimensions": []}])
    );
    assert!(second.get("NextToken").is_none());
    let e = fails(&c, &ctx, "ListMetrics", json!({"NextToken": "zz"}));
    assert_eq!(e.code, "InvalidParameterValueException");
}

#[test]
fn metric_data_with_math() {
    let (c, ctx) = cw();
    for i in 0..3u64 {
        call(
            &c,
            &ctx,
            "PutMetricData",
            json!({"Namespace": "A", "MetricData": [
                {"MetricName": "req", "Value": 10.0 * (i + 1) as f64, "Timestamp": secs(NOW - 180_000 + i * 60_000)},
                {"MetricName": "err", "Value": 1.0, "Timestamp": secs(NOW - 180_000 + i * 60_000)},
            ]}),
        );
    }
    let stat = |id: &str, name: &str| json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "A", "MetricName": name}, "Period": 60, "Stat": "Sum"}, "ReturnData": false});
    let r = call(
        &c,
        &ctx,
        "GetMetricData",
        json!({
        "MetricDataQueries": [stat("r", "req"), stat("e", "err"), {"Id": "rate", "Expression": "100 * e / r"}, {"Id": "total", "Expression": "SUM([r, e])"}],
        "StartTime": secs(NOW - 180_000), "EndTime": secs(NOW), "ScanBy": "TimestampAscending"}),
    );
    let res = r["MetricDataResults"].as_array().unwrap();
    assert_eq!(res.len(), 2, "{r}");
    assert_eq!(res[0]["Id"], "rate");
    assert_eq!(res[0]["Values"], json!([10.0, 5.0, 100.0 / 30.0]));
    assert_eq!(res[1]["Values"], json!([11.0, 21.0, 31.0]));
    // Paging by MaxDatapoints.
    let q = json!({"MetricDataQueries": [{"Id": "r", "MetricStat": {"Metric": {"Namespace": "A", "MetricName": "req"}, "Period": 60, "Stat": "p99"}}],
        "StartTime": secs(NOW - 180_000), "EndTime": secs(NOW), "MaxDatapoints": 2});
    let r = call(&c, &ctx, "GetMetricData", q.clone());
    assert_eq!(r["MetricDataResults"][0]["Values"], json!([30.0, 20.0]));
    let mut q2 = q;
    q2["NextToken"] = r["NextToken"].clone();
    let r = call(&c, &ctx, "GetMetricData", q2);
    assert_eq!(r["MetricDataResults"][0]["Values"], json!([10.0]));
    assert!(r.get("NextToken").is_none());
}

fn alarm(name: &str) -> Value {
    json!({"AlarmName": name, "Namespace": "A", "MetricName": "cpu", "Statistic": "Average", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 50.0, "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:topic"]})
}

#[test]
fn alarms_evaluate_on_absolute_times() {
    let (c, ctx) = cw();
    call(&c, &ctx, "PutMetricAlarm", alarm("high"));
    call(
        &c,
        &ctx,
        "PutCompositeAlarm",
        json!({"AlarmName": "any", "AlarmRule": "ALARM(high) OR ALARM(\"other\")"}),
    );
    let d = call(
        &c,
        &ctx,
        "DescribeAlarms",
        json!({"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}),
    );
    assert_eq!(d["MetricAlarms"][0]["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(d["CompositeAlarms"].as_array().unwrap().len(), 1);
    // No data: stays INSUFFICIENT_DATA; the composite is OK.
    let t = c.evaluate_due(NOW);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].alarm, "any");
    call(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "A", "MetricData": [{"MetricName": "cpu", "Value": 90.0, "Timestamp": secs(NOW)}]}),
    );
    // Not due yet.
    assert!(c.evaluate_due(NOW + 1000).is_empty());
    let t = c.evaluate_due(NOW + 60_500);
    let names: Vec<&str> = t.iter().map(|t| t.alarm.as_str()).collect();
    assert_eq!(names, ["high", "any"], "{t:?}");
    assert_eq!(t[0].new, "ALARM");
    assert_eq!(t[0].actions, ["arn:aws:sns:us-east-1:000000000000:topic"]);
    let d = call(&c, &ctx, "DescribeAlarms", json!({"StateValue": "ALARM"}));
    assert_eq!(d["MetricAlarms"][0]["AlarmName"], "high");
    let h = call(
        &c,
        &ctx,
        "DescribeAlarmHistory",
        json!({"AlarmName": "high", "HistoryItemType": "StateUpdate"}),
    );
    assert_eq!(
        h["AlarmHistoryItems"][0]["HistorySummary"],
        "Alarm updated from INSUFFICIENT_DATA to ALARM"
    );
    let f = call(
        &c,
        &ctx,
        "DescribeAlarmsForMetric",
        json!({"Namespace": "A", "MetricName": "cpu"}),
    );
    assert_eq!(f["MetricAlarms"].as_array().unwrap().len(), 1);
    let ch = call(
        &c,
        &ctx,
        "DescribeAlarms",
        json!({"ChildrenOfAlarmName": "any"}),
    );
    assert_eq!(ch["MetricAlarms"].as_array().unwrap().len(), 1);
    // SetAlarmState returns the transition for its actions; disabled actions give none.
    call(
        &c,
        &ctx,
        "DisableAlarmActions",
        json!({"AlarmNames": ["high"]}),
    );
    let o = c
        .handle(
            &ctx,
            "SetAlarmState",
            &json!({"AlarmName": "high", "StateValue": "OK", "StateReason": "test"}),
        )
        .unwrap();
    assert_eq!(o.transitions.len(), 1);
    assert!(o.transitions[0].actions.is_empty());
    let e = fails(
        &c,
        &ctx,
        "SetAlarmState",
        json!({"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"}),
    );
    assert_eq!(e.code, "ResourceNotFound");
    let e = fails(
        &c,
        &ctx,
        "DeleteAlarms",
        json!({"AlarmNames": ["high", "nope"]}),
    );
    assert_eq!(e.code, "ResourceNotFound");
    call(
        &c,
        &ctx,
        "DeleteAlarms",
        json!({"AlarmNames": ["high", "any"]}),
    );
    assert!(
        call(&c, &ctx, "DescribeAlarms", json!({}))["MetricAlarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn missing_data_treatment() {
    let (c, ctx) = cw();
    let mut a = alarm("b");
    a["TreatMissingData"] = json!("breaching");
    call(&c, &ctx, "PutMetricAlarm", a);
    let t = c.evaluate_due(NOW);
    assert_eq!(t[0].new, "ALARM");
    let mut a = alarm("n");
    a["TreatMissingData"] = json!("notBreaching");
    call(&c, &ctx, "PutMetricAlarm", a);
    let t = c.evaluate_due(NOW);
    assert_eq!(t[0].new, "OK");
}

#[test]
fn dashboards_and_tags() {
    let (c, ctx) = cw();
    call(
        &c,
        &ctx,
        "PutDashboard",
        json!({"DashboardName": "main", "DashboardBody": "{\"widgets\": []}"}),
    );
    let e = fails(
        &c,
        &ctx,
        "PutDashboard",
        json!({"DashboardName": "bad", "DashboardBody": "nope"}),
    );
    assert_eq!(e.code, "DashboardInvalidInputError");
    assert_eq!(
        call(&c, &ctx, "GetDashboard", json!({"DashboardName": "main"}))["DashboardBody"],
        "{\"widgets\": []}"
    );
    assert_eq!(
        call(&c, &ctx, "ListDashboards", json!({}))["DashboardEntries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(
        &c,
        &ctx,
        "DeleteDashboards",
        json!({"DashboardNames": ["main"]}),
    );
    assert_eq!(
        fails(&c, &ctx, "GetDashboard", json!({"DashboardName": "main"})).code,
        "DashboardNotFoundError"
    );
    let mut a = alarm("t");
    a["Tags"] = json!([{"Key": "team", "Value": "a"}]);
    call(&c, &ctx, "PutMetricAlarm", a);
    let arn = alarms::alarm_arn(&ctx.partition, "t");
    call(
        &c,
        &ctx,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "env", "Value": "prod"}]}),
    );
    call(
        &c,
        &ctx,
        "UntagResource",
        json!({"ResourceARN": arn, "TagKeys": ["team"]}),
    );
    assert_eq!(
        call(&c, &ctx, "ListTagsForResource", json!({"ResourceARN": arn}))["Tags"],
        json!([{"Key": "env", "Value": "prod"}])
    );
    assert_eq!(
        fails(
            &c,
            &ctx,
            "ListTagsForResource",
            json!({"ResourceARN": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:zz"})
        )
        .code,
        "ResourceNotFoundException"
    );
}

#[test]
fn sweep_drops_expired_points() {
    let (c, ctx) = cw();
    call(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "A", "MetricData": [{"MetricName": "x", "Value": 1.0}]}),
    );
    assert_eq!(c.sweep(NOW), 0);
    // Rolled into 60 s, 5 min and 1 h data, then deleted.
    assert_eq!(c.sweep(NOW + rollup::TIERS[3].keep_ms + 3_600_000), 4);
}

#[test]
fn records_round_trip_postcard() {
    let r = CwRecord::Point(PointRec {
        ts_ms: 1,
        unit: Some("Count".into()),
        count: 1.0,
        sum: 2.0,
        min: 2.0,
        max: 2.0,
        values: vec![(2.0, 1.0)],
        high_resolution: false,
    });
    let b = postcard::to_allocvec(&r).unwrap();
    assert_eq!(postcard::from_bytes::<CwRecord>(&b).unwrap(), r);
}

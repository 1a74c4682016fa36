//! Unit tests of the stored resources, the PNG widget and the durable alarm actions (with a
//! runtime that plays SNS and can fail).

use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::*;

const NOW: u64 = 1_700_000_040_000;

#[derive(Default)]
struct FakeRt {
    published: Mutex<Vec<Value>>,
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
        _service: &'a str,
        _operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async move {
            if *self.down.lock().unwrap() {
                return Err(AwsError::internal("InternalError", "down"));
            }
            self.published.lock().unwrap().push(input);
            Ok(json!({"MessageId": "1"}))
        })
    }
}

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

fn code(c: &CloudWatch, ctx: &RequestContext, op: &str, v: Value) -> String {
    match c.handle(ctx, op, &v) {
        Ok(o) => panic!("{op} succeeded: {}", o.value),
        Err(e) => e.code,
    }
}

fn owed(c: &CloudWatch) -> Vec<ActionRec> {
    c.store
        .snapshot()
        .iter()
        .filter_map(|(_, r)| match r {
            CwRecord::Action(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn alarm_actions_are_records_retried_until_published() {
    let (c, ctx) = cw();
    let topic = "arn:aws:sns:us-east-1:000000000000:alerts";
    call(
        &c,
        &ctx,
        "PutMetricAlarm",
        json!({"AlarmName": "a", "MetricName": "m", "Namespace": "n", "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [topic]}),
    );
    call(
        &c,
        &ctx,
        "SetAlarmState",
        json!({"AlarmName": "a", "StateValue": "ALARM", "StateReason": "test"}),
    );
    // The action is a record written with the state change.
    assert_eq!(owed(&c).len(), 1);
    let rt = FakeRt::default();
    *rt.down.lock().unwrap() = true;
    c.deliver_actions(&rt).await;
    let o = owed(&c);
    assert_eq!((o.len(), o[0].attempts), (1, 1));
    *rt.down.lock().unwrap() = false;
    c.set_clock(NOW + 10_000);
    c.deliver_actions(&rt).await;
    assert!(owed(&c).is_empty());
    let p = rt.published.lock().unwrap().clone();
    assert_eq!(p[0]["TopicArn"], topic);
    let msg: Value = serde_json::from_str(p[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(msg["NewStateValue"], "ALARM");
    let h = call(
        &c,
        &ctx,
        "DescribeAlarmHistory",
        json!({"AlarmName": "a", "HistoryItemType": "Action"}),
    );
    assert!(
        h["AlarmHistoryItems"][0]["HistorySummary"]
            .as_str()
            .unwrap()
            .starts_with("Successfully executed action")
    );
}

#[test]
fn streams_detectors_rules_and_mutes() {
    let (c, ctx) = cw();
    let fh = "arn:aws:firehose:us-east-1:000000000000:deliverystream/f";
    call(
        &c,
        &ctx,
        "PutMetricStream",
        json!({"Name": "s", "FirehoseArn": fh, "RoleArn": "r", "OutputFormat": "json", "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    call(&c, &ctx, "StopMetricStreams", json!({"Names": ["s"]}));
    assert_eq!(
        call(&c, &ctx, "GetMetricStream", json!({"Name": "s"}))["State"],
        "stopped"
    );
    assert_eq!(
        call(&c, &ctx, "ListMetricStreams", json!({}))["Entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let arn = call(&c, &ctx, "GetMetricStream", json!({"Name": "s"}))["Arn"].clone();
    assert_eq!(
        call(&c, &ctx, "ListTagsForResource", json!({"ResourceARN": arn}))["Tags"][0]["Key"],
        "k"
    );
    assert_eq!(
        code(&c, &ctx, "StartMetricStreams", json!({"Names": ["nope"]})),
        "ResourceNotFoundException"
    );
    call(&c, &ctx, "DeleteMetricStream", json!({"Name": "s"}));
    assert_eq!(
        code(&c, &ctx, "GetMetricStream", json!({"Name": "s"})),
        "ResourceNotFoundException"
    );

    call(
        &c,
        &ctx,
        "PutAnomalyDetector",
        json!({"Namespace": "n", "MetricName": "m", "Stat": "Average"}),
    );
    let d = call(
        &c,
        &ctx,
        "DescribeAnomalyDetectors",
        json!({"Namespace": "n"}),
    );
    assert_eq!(d["AnomalyDetectors"][0]["StateValue"], "PENDING_TRAINING");
    call(
        &c,
        &ctx,
        "DeleteAnomalyDetector",
        json!({"SingleMetricAnomalyDetector": {"Namespace": "n", "MetricName": "m", "Stat": "Average"}}),
    );
    assert_eq!(
        code(
            &c,
            &ctx,
            "DeleteAnomalyDetector",
            json!({"Namespace": "n", "MetricName": "m", "Stat": "Average"})
        ),
        "ResourceNotFoundException"
    );

    let def = json!({"Schema": {"Name": "CloudWatchLogRule", "Version": 1}, "LogGroupNames": ["/g"], "LogFormat": "JSON", "Contribution": {"Keys": ["$.ip"], "Filters": []}, "AggregateOn": "Count"}).to_string();
    call(
        &c,
        &ctx,
        "PutInsightRule",
        json!({"RuleName": "r", "RuleDefinition": def}),
    );
    call(&c, &ctx, "DisableInsightRules", json!({"RuleNames": ["r"]}));
    assert_eq!(
        call(&c, &ctx, "DescribeInsightRules", json!({}))["InsightRules"][0]["State"],
        "DISABLED"
    );
    let rep = call(
        &c,
        &ctx,
        "GetInsightRuleReport",
        json!({"RuleName": "r", "StartTime": 1.0, "EndTime": 2.0, "Period": 60}),
    );
    assert_eq!(rep["KeyLabels"], json!(["$.ip"]));
    let f = call(
        &c,
        &ctx,
        "DeleteInsightRules",
        json!({"RuleNames": ["r", "missing"]}),
    );
    assert_eq!(f["Failures"].as_array().unwrap().len(), 1);
    call(
        &c,
        &ctx,
        "PutManagedInsightRules",
        json!({"ManagedRules": [{"ResourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t", "TemplateName": "DynamoDBContributorInsights"}]}),
    );
    let m = call(
        &c,
        &ctx,
        "ListManagedInsightRules",
        json!({"ResourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t"}),
    );
    assert_eq!(m["ManagedRules"][0]["RuleState"]["State"], "ENABLED");

    call(
        &c,
        &ctx,
        "PutAlarmMuteRule",
        json!({"Name": "quiet", "Rule": {"Schedule": {"Expression": "cron(0 2 * * ? *)", "Duration": "PT2H"}}, "MuteTargets": {"AlarmNames": ["a"]}, "ExpireDate": (NOW / 1000 + 3600) as f64}),
    );
    assert_eq!(
        call(
            &c,
            &ctx,
            "GetAlarmMuteRule",
            json!({"AlarmMuteRuleName": "quiet"})
        )["Status"],
        "ACTIVE"
    );
    assert_eq!(
        call(&c, &ctx, "ListAlarmMuteRules", json!({"AlarmName": "a"}))["AlarmMuteRuleSummaries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(
        &c,
        &ctx,
        "DeleteAlarmMuteRule",
        json!({"AlarmMuteRuleName": "quiet"}),
    );
    assert_eq!(
        code(
            &c,
            &ctx,
            "GetAlarmMuteRule",
            json!({"AlarmMuteRuleName": "quiet"})
        ),
        "ResourceNotFoundException"
    );

    assert_eq!(
        call(&c, &ctx, "GetOTelEnrichment", json!({}))["Status"],
        "Stopped"
    );
    call(&c, &ctx, "StartOTelEnrichment", json!({}));
    assert_eq!(
        call(&c, &ctx, "GetOTelEnrichment", json!({}))["Status"],
        "Running"
    );
    assert_eq!(
        code(
            &c,
            &ctx,
            "DescribeAlarmContributors",
            json!({"AlarmName": "none"})
        ),
        "ResourceNotFoundException"
    );
}

#[test]
fn widget_is_a_png_with_the_line() {
    let (c, ctx) = cw();
    let data: Vec<Value> = (0..10).map(|i| json!({"MetricName": "m", "Value": i as f64, "Timestamp": (NOW - 3_000_000 + i * 300_000) as f64 / 1000.0})).collect();
    call(
        &c,
        &ctx,
        "PutMetricData",
        json!({"Namespace": "n", "MetricData": data}),
    );
    let w = json!({"metrics": [["n", "m"]], "start": "-PT1H", "end": "P0D", "period": 60, "width": 200, "height": 100}).to_string();
    let img = call(&c, &ctx, "GetMetricWidgetImage", json!({"MetricWidget": w}));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(img["MetricWidgetImage"].as_str().unwrap())
        .unwrap();
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (200, 100));
    // Some pixel has the first palette colour: the line was drawn.
    assert!(buf.chunks(3).any(|px| px == [0x1f, 0x77, 0xb4]));
    assert_eq!(
        code(
            &c,
            &ctx,
            "GetMetricWidgetImage",
            json!({"MetricWidget": "nope"})
        ),
        "InvalidParameterValueException"
    );
}

//! Unit tests of the operations, the outbox and the background work (with a runtime that
//! records what it is asked to invoke), and of deliveries and schedules surviving a save and a
//! load of the store.

use std::sync::Arc;

use serde_json::{Value, json};
use snapstack_engine::{Engine, EngineOptions};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;
use snapstack_service::test_support::{FakeRuntime, context as ctx};

use crate::model::{self, EventsRecord};
use crate::{Events, now_ms};

fn call(ev: &Events, op: &str, input: Value) -> Result<Value, AwsError> {
    if let Some(m) =
        snapstack_service::reply::model_violation(crate::NAME, op, Some(&input), usize::MAX)
    {
        return Err(AwsError::new("ValidationException", m));
    }
    ev.handle(&ctx(), op, &input).map(|a| a.output)
}

fn ok(ev: &Events, op: &str, input: Value) -> Value {
    call(ev, op, input).unwrap_or_else(|e| panic!("{op}: {e:?}"))
}

fn err(ev: &Events, op: &str, input: Value) -> AwsError {
    call(ev, op, input).unwrap_err()
}

fn deliveries(ev: &Events) -> Vec<model::Delivery> {
    ev.store
        .snapshot()
        .scan_prefix(&model::deliveries_prefix())
        .filter_map(|(_, r)| match r {
            EventsRecord::Delivery(d) => Some((**d).clone()),
            _ => None,
        })
        .collect()
}

/// A runtime that records what it is asked to invoke; the dead-letter queue always works.
fn fake_rt() -> FakeRuntime {
    FakeRuntime::new().sparing(|_, _, input| {
        input["QueueUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with("/dlq"))
    })
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:q1";
const DLQ: &str = "arn:aws:sqs:us-east-1:000000000000:dlq";

fn rule(ev: &Events, name: &str, pattern: Value) -> String {
    ok(
        ev,
        "PutRule",
        json!({"Name": name, "EventPattern": pattern.to_string()}),
    )["RuleArn"]
        .as_str()
        .unwrap()
        .to_string()
}

fn put(ev: &Events, source: &str, detail: Value) -> Value {
    ok(
        ev,
        "PutEvents",
        json!({"Entries": [{"Source": source, "DetailType": "t", "Detail": detail.to_string()}]}),
    )
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn buses_lifecycle_and_policies() {
    let ev = Events::new();
    let d = ok(&ev, "DescribeEventBus", json!({}));
    assert_eq!(d["Name"], "default");
    assert_eq!(
        d["Arn"],
        "arn:aws:events:us-east-1:000000000000:event-bus/default"
    );
    let arn = ok(
        &ev,
        "CreateEventBus",
        json!({"Name": "orders", "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    assert_eq!(
        arn["EventBusArn"],
        "arn:aws:events:us-east-1:000000000000:event-bus/orders"
    );
    assert_eq!(
        err(&ev, "CreateEventBus", json!({"Name": "orders"})).code,
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        err(&ev, "CreateEventBus", json!({"Name": "default"})).code,
        "ResourceAlreadyExistsException"
    );
    let list = ok(&ev, "ListEventBuses", json!({}));
    let names: Vec<&str> = list["EventBuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "orders"]);
    assert_eq!(
        ok(&ev, "ListEventBuses", json!({"NamePrefix": "ord"}))["EventBuses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let tags = ok(
        &ev,
        "ListTagsForResource",
        json!({"ResourceARN": arn["EventBusArn"]}),
    );
    assert_eq!(tags["Tags"], json!([{"Key": "k", "Value": "v"}]));

    ok(
        &ev,
        "PutPermission",
        json!({"EventBusName": "orders", "Action": "events:PutEvents", "Principal": "111122223333", "StatementId": "s1"}),
    );
    ok(
        &ev,
        "PutPermission",
        json!({"EventBusName": "orders", "Action": "events:PutEvents", "Principal": "*", "StatementId": "s2"}),
    );
    let pol: Value = serde_json::from_str(
        ok(&ev, "DescribeEventBus", json!({"Name": "orders"}))["Policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pol["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(
        pol["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111122223333:root"
    );
    ok(
        &ev,
        "RemovePermission",
        json!({"EventBusName": "orders", "StatementId": "s1"}),
    );
    assert_eq!(
        err(
            &ev,
            "RemovePermission",
            json!({"EventBusName": "orders", "StatementId": "s1"})
        )
        .message,
        "Statement with the provided id does not exist."
    );
    ok(
        &ev,
        "RemovePermission",
        json!({"EventBusName": "orders", "StatementId": "s2"}),
    );
    assert!(
        ok(&ev, "DescribeEventBus", json!({"Name": "orders"}))
            .get("Policy")
            .is_none()
    );
    assert_eq!(
        err(
            &ev,
            "RemovePermission",
            json!({"EventBusName": "orders", "RemoveAllPermissions": true})
        )
        .message,
        "EventBus does not have a policy."
    );

    assert_eq!(
        err(&ev, "DeleteEventBus", json!({"Name": "default"})).message,
        "Cannot delete event bus default."
    );
    ok(&ev, "DeleteEventBus", json!({"Name": "orders"}));
    assert_eq!(
        err(&ev, "DescribeEventBus", json!({"Name": "orders"})).message,
        "Event bus orders does not exist."
    );
}

#[test]
fn rules_and_targets() {
    let ev = Events::new();
    let arn = rule(&ev, "r1", json!({"source": ["shop"]}));
    assert_eq!(arn, "arn:aws:events:us-east-1:000000000000:rule/r1");
    let e = err(
        &ev,
        "PutRule",
        json!({"Name": "bad", "EventPattern": "{\"a\": \"x\"}"}),
    );
    assert_eq!(e.code, "InvalidEventPatternException");
    assert_eq!(
        e.message,
        "Event pattern is not valid. Reason: \"a\" must be an object or an array"
    );
    assert_eq!(
        err(&ev, "PutRule", json!({"Name": "x"})).message,
        "Parameter(s) EventPattern or ScheduleExpression must be specified."
    );
    assert_eq!(
        err(
            &ev,
            "PutRule",
            json!({"Name": "x", "ScheduleExpression": "rate(1 minutes)"})
        )
        .message,
        "Parameter ScheduleExpression is not valid."
    );
    assert_eq!(
        err(
            &ev,
            "PutRule",
            json!({"Name": "x", "EventPattern": "{}", "EventBusName": "nope"})
        )
        .message,
        "Event bus nope does not exist."
    );
    ok(&ev, "CreateEventBus", json!({"Name": "b"}));
    assert_eq!(
        err(
            &ev,
            "PutRule",
            json!({"Name": "x", "ScheduleExpression": "rate(5 minutes)", "EventBusName": "b"})
        )
        .message,
        "ScheduleExpression is supported only on the default event bus."
    );
    let barn = ok(
        &ev,
        "PutRule",
        json!({"Name": "x", "EventPattern": "{}", "EventBusName": "b"}),
    )["RuleArn"]
        .clone();
    assert_eq!(barn, "arn:aws:events:us-east-1:000000000000:rule/b/x");

    let d = ok(&ev, "DescribeRule", json!({"Name": "r1"}));
    assert_eq!(d["State"], "ENABLED");
    assert_eq!(d["EventBusName"], "default");
    ok(&ev, "DisableRule", json!({"Name": "r1"}));
    assert_eq!(
        ok(&ev, "DescribeRule", json!({"Name": "r1"}))["State"],
        "DISABLED"
    );
    ok(&ev, "EnableRule", json!({"Name": "r1"}));
    assert_eq!(
        err(&ev, "EnableRule", json!({"Name": "nope"})).message,
        "Rule nope does not exist on EventBus default."
    );

    let out = ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r1", "Targets": [
            {"Id": "a", "Arn": QUEUE},
            {"Id": "b", "Arn": "not-an-arn"},
            {"Id": "c", "Arn": "arn:aws:sqs:us-east-1:000000000000:f.fifo"},
        ]}),
    );
    assert_eq!(out["FailedEntryCount"], 2);
    assert_eq!(out["FailedEntries"][0]["TargetId"], "b");
    assert_eq!(
        out["FailedEntries"][1]["ErrorMessage"],
        "Parameter(s) SqsParameters must be specified for target: c."
    );
    let e = err(
        &ev,
        "PutTargets",
        json!({"Rule": "r1", "Targets": [{"Id": "d", "Arn": QUEUE, "Input": "{}", "InputPath": "$"}]}),
    );
    assert_eq!(
        e.message,
        "Only one of Input, InputPath, or InputTransformer must be provided for target d."
    );
    let many: Vec<Value> = (0..6)
        .map(|i| json!({"Id": format!("t{i}"), "Arn": QUEUE}))
        .collect();
    assert_eq!(
        err(&ev, "PutTargets", json!({"Rule": "r1", "Targets": many})).code,
        "LimitExceededException"
    );
    assert_eq!(
        ok(&ev, "ListTargetsByRule", json!({"Rule": "r1"}))["Targets"],
        json!([{"Id": "a", "Arn": QUEUE}])
    );
    assert_eq!(
        ok(&ev, "ListRuleNamesByTarget", json!({"TargetArn": QUEUE}))["RuleNames"],
        json!(["r1"])
    );

    assert_eq!(
        err(&ev, "DeleteRule", json!({"Name": "r1"})).message,
        "Rule can't be deleted since it has targets."
    );
    ok(&ev, "RemoveTargets", json!({"Rule": "r1", "Ids": ["a"]}));
    ok(&ev, "DeleteRule", json!({"Name": "r1"}));
    assert_eq!(
        err(&ev, "DescribeRule", json!({"Name": "r1"})).code,
        "ResourceNotFoundException"
    );
    // Tags on rules.
    ok(
        &ev,
        "TagResource",
        json!({"ResourceARN": barn, "Tags": [{"Key": "a", "Value": "1"}]}),
    );
    ok(
        &ev,
        "UntagResource",
        json!({"ResourceARN": barn, "TagKeys": ["zz"]}),
    );
    assert_eq!(
        ok(&ev, "ListTagsForResource", json!({"ResourceARN": barn}))["Tags"],
        json!([{"Key": "a", "Value": "1"}])
    );
    assert_eq!(
        ok(&ev, "ListRules", json!({"EventBusName": "b"}))["Rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn put_events_writes_deliveries_in_the_same_write() {
    let ev = Events::new();
    rule(
        &ev,
        "r",
        json!({"source": ["shop"], "detail": {"n": [{"numeric": [">", 1]}]}}),
    );
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "q", "Arn": QUEUE},
            {"Id": "t", "Arn": QUEUE, "InputTransformer": {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": "\"n is <n>\""}},
        ]}),
    );
    let out = put(&ev, "shop", json!({"n": 5}));
    assert_eq!(out["FailedEntryCount"], 0);
    let id = out["Entries"][0]["EventId"].as_str().unwrap().to_string();
    put(&ev, "shop", json!({"n": 0}));
    put(&ev, "other", json!({"n": 5}));
    let ds = deliveries(&ev);
    assert_eq!(ds.len(), 2);
    assert!(ds.iter().all(|d| d.event_id == id));
    let bodies: Vec<&str> = ds.iter().map(|d| d.body.as_str()).collect();
    assert!(bodies.contains(&"\"n is 5\""), "{bodies:?}");
    let full: Value = serde_json::from_str(
        ds.iter()
            .find(|d| d.body.starts_with('{'))
            .unwrap()
            .body
            .as_str(),
    )
    .unwrap();
    assert_eq!(full["source"], "shop");
    assert_eq!(full["detail-type"], "t");
    assert_eq!(full["account"], "000000000000");
    assert_eq!(full["detail"]["n"], 5);

    // Per-entry failures.
    let out = ok(
        &ev,
        "PutEvents",
        json!({"Entries": [
            {"Source": "s", "DetailType": "t", "Detail": "[1]"},
            {"DetailType": "t", "Detail": "{}"},
            {"Source": "aws.ec2", "DetailType": "t", "Detail": "{}"},
            {"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "nope"},
            {"Source": "s", "DetailType": "t", "Detail": "{}"},
        ]}),
    );
    assert_eq!(out["FailedEntryCount"], 4);
    let codes: Vec<Value> = out["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ErrorCode"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("MalformedDetail"),
            json!("InvalidArgument"),
            json!("NotAuthorizedForSourceException"),
            json!("ResourceNotFoundException"),
            Value::Null
        ]
    );
    // 256 KB.
    let big = json!({"x": "a".repeat(262_144)});
    assert_eq!(
        err(
            &ev,
            "PutEvents",
            json!({"Entries": [{"Source": "s", "DetailType": "t", "Detail": big.to_string()}]})
        )
        .message,
        "Total size of the entries in the request is over the limit."
    );
}

#[test]
fn delivery_to_sqs_sns_logs_and_retries_into_the_dead_letter_queue() {
    let ev = Events::new();
    ev.set_host("h:1");
    rule(&ev, "r", json!({"source": ["shop"]}));
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:f.fifo", "SqsParameters": {"MessageGroupId": "g1"}},
            {"Id": "s", "Arn": "arn:aws:sns:us-east-1:000000000000:topic"},
            {"Id": "l", "Arn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/events/x"},
        ]}),
    );
    put(&ev, "shop", json!({"k": 1}));
    let rt = fake_rt();
    for group in ev.due_deliveries(now_ms(), &Default::default()) {
        for d in group {
            assert!(block_on(ev.deliver(&rt, d)));
        }
    }
    assert!(deliveries(&ev).is_empty());
    let calls = rt.calls();
    let ops: Vec<String> = calls.iter().map(|(s, o, _)| format!("{s}.{o}")).collect();
    assert!(ops.contains(&"sqs.SendMessage".to_string()), "{ops:?}");
    assert!(ops.contains(&"sns.Publish".to_string()));
    assert!(ops.contains(&"logs.PutLogEvents".to_string()));
    let sqs = &calls.iter().find(|c| c.1 == "SendMessage").unwrap().2;
    assert_eq!(
        sqs["QueueUrl"],
        "http://h:1/queue/us-east-1/000000000000/f.fifo"
    );
    assert_eq!(sqs["MessageGroupId"], "g1");

    // A target that fails for good goes to its dead-letter queue at once.
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "q", "Arn": QUEUE, "DeadLetterConfig": {"Arn": DLQ}, "RetryPolicy": {"MaximumRetryAttempts": 2}},
        ]}),
    );
    ok(
        &ev,
        "RemoveTargets",
        json!({"Rule": "r", "Ids": ["s", "l"]}),
    );
    put(&ev, "shop", json!({"k": 2}));
    let rt = fake_rt();
    rt.fail(Some(AwsError::new("QueueDoesNotExist", "gone")));
    let d = deliveries(&ev).pop().unwrap();
    assert!(!block_on(ev.deliver(&rt, d)));
    assert!(deliveries(&ev).is_empty());
    let calls = rt.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].2["QueueUrl"],
        "http://h:1/queue/us-east-1/000000000000/dlq"
    );
    assert_eq!(
        calls[0].2["MessageAttributes"]["ERROR_CODE"]["StringValue"],
        "QueueDoesNotExist"
    );

    // A retryable failure moves the deadline, up to MaximumRetryAttempts, then the DLQ.
    put(&ev, "shop", json!({"k": 3}));
    let rt = fake_rt();
    rt.fail(Some(AwsError::internal("InternalError", "down")));
    for attempt in 1..=3 {
        let d = deliveries(&ev).pop().unwrap();
        assert_eq!(d.attempts, attempt - 1);
        assert!(!block_on(ev.deliver(&rt, d)));
    }
    assert!(deliveries(&ev).is_empty());
    assert_eq!(rt.calls().len(), 1, "only the dead-letter queue got it");
}

#[test]
fn scheduled_rules_fire_from_their_stored_deadline() {
    let ev = Events::new();
    ok(
        &ev,
        "PutRule",
        json!({"Name": "tick", "ScheduleExpression": "rate(1 minute)"}),
    );
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "tick", "Targets": [{"Id": "q", "Arn": QUEUE}]}),
    );
    let snap = ev.store.snapshot();
    let fires: Vec<_> = snap.scan_prefix(&model::fires_prefix()).collect();
    assert_eq!(fires.len(), 1);
    let next = ev.next_due().unwrap();
    assert!(
        next > now_ms() + 50_000 && next <= now_ms() + 60_000,
        "{next}"
    );
    assert_eq!(ev.fire_due(now_ms()), 0);
    // Far past the deadline (as after a long downtime): one fire, then the next from now.
    let later = next + 10 * 60_000;
    assert_eq!(ev.fire_due(later), 1);
    let ds = deliveries(&ev);
    assert_eq!(ds.len(), 1);
    let event: Value = serde_json::from_str(&ds[0].body).unwrap();
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
    assert_eq!(
        event["resources"][0],
        "arn:aws:events:us-east-1:000000000000:rule/tick"
    );
    let r = ok(&ev, "DescribeRule", json!({"Name": "tick"}));
    assert_eq!(r["ScheduleExpression"], "rate(1 minute)");
    let stored =
        match ev
            .store
            .snapshot()
            .get(&model::rule_key(&ctx().partition, "default", "tick"))
        {
            Some(EventsRecord::Rule(r)) => r.next_fire_ms,
            _ => None,
        };
    assert_eq!(stored, Some(later + 60_000));
    // Disabled: the fire record goes.
    ok(&ev, "DisableRule", json!({"Name": "tick"}));
    assert_eq!(
        ev.store
            .snapshot()
            .scan_prefix(&model::fires_prefix())
            .count(),
        0
    );
    ok(&ev, "EnableRule", json!({"Name": "tick"}));
    assert_eq!(
        ev.store
            .snapshot()
            .scan_prefix(&model::fires_prefix())
            .count(),
        1
    );
}

#[test]
fn archives_and_replays() {
    let ev = Events::new();
    let bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    let a = ok(
        &ev,
        "CreateArchive",
        json!({"ArchiveName": "arch", "EventSourceArn": bus, "EventPattern": "{\"source\": [\"shop\"]}"}),
    );
    assert_eq!(a["State"], "ENABLED");
    assert_eq!(
        err(
            &ev,
            "CreateArchive",
            json!({"ArchiveName": "arch", "EventSourceArn": bus})
        )
        .code,
        "ResourceAlreadyExistsException"
    );
    let t0 = now_ms();
    put(&ev, "shop", json!({"n": 1}));
    put(&ev, "shop", json!({"n": 2}));
    put(&ev, "other", json!({"n": 3}));
    let d = ok(&ev, "DescribeArchive", json!({"ArchiveName": "arch"}));
    assert_eq!(d["EventCount"], 2);
    rule(&ev, "r", json!({"source": ["shop"]}));
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r", "Targets": [{"Id": "q", "Arn": QUEUE}]}),
    );
    assert!(deliveries(&ev).is_empty());
    let start = (t0 / 1000) as f64 - 5.0;
    let end = (now_ms() / 1000) as f64 + 1.0;
    let e = err(
        &ev,
        "StartReplay",
        json!({"ReplayName": "rp", "EventSourceArn": a["ArchiveArn"], "EventStartTime": end, "EventEndTime": start, "Destination": {"Arn": bus}}),
    );
    assert!(
        e.message
            .contains("EventStartTime must be before EventEndTime"),
        "{}",
        e.message
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = ok(
        &ev,
        "StartReplay",
        json!({"ReplayName": "rp", "EventSourceArn": a["ArchiveArn"], "EventStartTime": start, "EventEndTime": end, "Destination": {"Arn": bus}}),
    );
    assert_eq!(out["State"], "STARTING");
    assert_eq!(ev.run_replays(now_ms()), 1);
    let ds = deliveries(&ev);
    assert_eq!(ds.len(), 2);
    let replayed: Value = serde_json::from_str(&ds[0].body).unwrap();
    assert_eq!(replayed["replay-name"], "rp");
    assert_eq!(
        ok(&ev, "DescribeReplay", json!({"ReplayName": "rp"}))["State"],
        "COMPLETED"
    );
    // Replayed events are not archived again.
    assert_eq!(
        ok(&ev, "DescribeArchive", json!({"ArchiveName": "arch"}))["EventCount"],
        2
    );
    assert_eq!(
        err(&ev, "CancelReplay", json!({"ReplayName": "rp"})).code,
        "IllegalStatusException"
    );
    assert_eq!(
        ok(&ev, "ListReplays", json!({}))["Replays"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ok(
        &ev,
        "UpdateArchive",
        json!({"ArchiveName": "arch", "RetentionDays": 1}),
    );
    assert_eq!(ev.sweep_archives(now_ms()), 0);
    assert_eq!(ev.sweep_archives(now_ms() + 2 * 86_400_000), 2);
    let d = ok(&ev, "DescribeArchive", json!({"ArchiveName": "arch"}));
    assert_eq!(
        (d["EventCount"].as_u64(), d["SizeBytes"].as_u64()),
        (Some(0), Some(0))
    );
    ok(&ev, "DeleteArchive", json!({"ArchiveName": "arch"}));
    assert_eq!(
        err(&ev, "DescribeArchive", json!({"ArchiveName": "arch"})).message,
        "Archive arch does not exist."
    );
}

#[test]
fn connections_api_destinations_and_endpoints() {
    let ev = Events::new();
    let c = ok(
        &ev,
        "CreateConnection",
        json!({"Name": "c", "AuthorizationType": "API_KEY",
        "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-key", "ApiKeyValue": "secret"}}}),
    );
    assert_eq!(c["ConnectionState"], "AUTHORIZED");
    let d = ok(&ev, "DescribeConnection", json!({"Name": "c"}));
    assert_eq!(
        d["AuthParameters"]["ApiKeyAuthParameters"],
        json!({"ApiKeyName": "x-key"})
    );
    assert!(
        d["SecretArn"]
            .as_str()
            .unwrap()
            .contains(":secret:events!connection/c/")
    );
    assert_eq!(
        err(
            &ev,
            "CreateConnection",
            json!({"Name": "c2", "AuthorizationType": "BASIC", "AuthParameters": {}})
        )
        .code,
        "ValidationException"
    );
    let a = ok(
        &ev,
        "CreateApiDestination",
        json!({"Name": "a", "ConnectionArn": c["ConnectionArn"], "InvocationEndpoint": "https://example.com/x", "HttpMethod": "POST"}),
    );
    assert_eq!(a["ApiDestinationState"], "ACTIVE");
    assert_eq!(err(&ev, "CreateApiDestination", json!({"Name": "b", "ConnectionArn": "arn:aws:events:us-east-1:000000000000:connection/zz/1", "InvocationEndpoint": "https://e", "HttpMethod": "GET"})).code, "ResourceNotFoundException");
    ok(
        &ev,
        "UpdateApiDestination",
        json!({"Name": "a", "HttpMethod": "PUT"}),
    );
    assert_eq!(
        ok(&ev, "DescribeApiDestination", json!({"Name": "a"}))["HttpMethod"],
        "PUT"
    );
    assert_eq!(
        ok(&ev, "ListApiDestinations", json!({}))["ApiDestinations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ok(&ev, "DeauthorizeConnection", json!({"Name": "c"}));
    assert_eq!(
        ok(&ev, "DescribeConnection", json!({"Name": "c"}))["ConnectionState"],
        "DEAUTHORIZED"
    );
    ok(&ev, "DeleteApiDestination", json!({"Name": "a"}));
    assert_eq!(
        ok(&ev, "DeleteConnection", json!({"Name": "c"}))["ConnectionState"],
        "DELETING"
    );
    assert_eq!(
        err(&ev, "DescribeConnection", json!({"Name": "c"})).code,
        "ResourceNotFoundException"
    );

    let buses = json!([{"EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/default"},
                       {"EventBusArn": "arn:aws:events:us-west-2:000000000000:event-bus/default"}]);
    let routing = json!({"FailoverConfig": {"Primary": {"HealthCheck": "arn:aws:route53:::healthcheck/x"}, "Secondary": {"Route": "us-west-2"}}});
    ok(
        &ev,
        "CreateEndpoint",
        json!({"Name": "ep", "RoutingConfig": routing, "EventBuses": buses}),
    );
    let d = ok(&ev, "DescribeEndpoint", json!({"Name": "ep"}));
    assert_eq!(d["State"], "ACTIVE");
    assert!(d["EndpointUrl"].as_str().unwrap().starts_with("https://"));
    ok(&ev, "DeleteEndpoint", json!({"Name": "ep"}));
    assert_eq!(ok(&ev, "ListEndpoints", json!({}))["Endpoints"], json!([]));
}

#[test]
fn test_event_pattern() {
    let ev = Events::new();
    let event = json!({"id": "1", "account": "1", "source": "shop", "time": "2024-01-01T00:00:00Z", "region": "r", "detail-type": "t", "detail": {"a": 1}});
    let out = ok(
        &ev,
        "TestEventPattern",
        json!({"EventPattern": "{\"detail\": {\"a\": [1]}}", "Event": event.to_string()}),
    );
    assert_eq!(out["Result"], true);
    let out = ok(
        &ev,
        "TestEventPattern",
        json!({"EventPattern": "{\"source\": [\"x\"]}", "Event": event.to_string()}),
    );
    assert_eq!(out["Result"], false);
    assert_eq!(
        err(
            &ev,
            "TestEventPattern",
            json!({"EventPattern": "[]", "Event": event.to_string()})
        )
        .code,
        "InvalidEventPatternException"
    );
    assert_eq!(
        err(
            &ev,
            "TestEventPattern",
            json!({"EventPattern": "{}", "Event": "{\"id\": 1}"})
        )
        .code,
        "ValidationException"
    );
}

#[test]
fn deliveries_and_schedules_survive_a_save_and_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let ev = Events::new();
    engine.register(ev.store.clone()).unwrap();
    rule(&ev, "r", json!({"source": ["shop"]}));
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "r", "Targets": [{"Id": "q", "Arn": QUEUE}]}),
    );
    ok(
        &ev,
        "PutRule",
        json!({"Name": "tick", "ScheduleExpression": "cron(0 12 * * ? *)"}),
    );
    put(&ev, "shop", json!({"keep": "me"}));
    let before = deliveries(&ev);
    let next = ev.next_due();
    assert_eq!(before.len(), 1);
    for (_, r) in engine.save_all() {
        r.unwrap();
    }
    drop(engine);
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let ev2 = Events::new();
    engine.register(ev2.store.clone()).unwrap();
    engine.load(crate::NAME).unwrap();
    assert_eq!(deliveries(&ev2), before);
    assert_eq!(ev2.next_due(), next);
    assert_eq!(
        ev2.store
            .snapshot()
            .scan_prefix(&model::fires_prefix())
            .count(),
        1
    );
}

#[test]
fn partner_event_sources_reach_the_customer_bus() {
    let ev = Events::new();
    let partner = RequestContext {
        partition: snapstack_engine::Partition::new("111122223333", "us-east-1"),
        ..ctx()
    };
    let as_partner = |op: &str, input: Value| ev.handle(&partner, op, &input).map(|a| a.output);
    let name = "aws.partner/saas.com/acme/orders";
    let out = as_partner(
        "CreatePartnerEventSource",
        json!({"Name": name, "Account": "000000000000"}),
    )
    .unwrap();
    assert_eq!(
        out["EventSourceArn"],
        format!("arn:aws:events:us-east-1::event-source/{name}")
    );
    assert_eq!(
        as_partner(
            "CreatePartnerEventSource",
            json!({"Name": name, "Account": "000000000000"})
        )
        .unwrap_err()
        .code,
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        as_partner("DescribePartnerEventSource", json!({"Name": name})).unwrap()["Name"],
        name
    );
    assert_eq!(
        as_partner(
            "ListPartnerEventSourceAccounts",
            json!({"EventSourceName": name})
        )
        .unwrap()["PartnerEventSourceAccounts"][0]["State"],
        "PENDING"
    );
    // The customer sees it, and creates the bus of its name.
    let d = ok(&ev, "DescribeEventSource", json!({"Name": name}));
    assert_eq!(
        (d["State"].as_str(), d["CreatedBy"].as_str()),
        (Some("PENDING"), Some("saas.com"))
    );
    assert_eq!(
        err(&ev, "CreateEventBus", json!({"Name": name})).code,
        "ResourceNotFoundException"
    );
    ok(
        &ev,
        "CreateEventBus",
        json!({"Name": name, "EventSourceName": name}),
    );
    assert_eq!(
        ok(&ev, "DescribeEventSource", json!({"Name": name}))["State"],
        "ACTIVE"
    );
    assert_eq!(
        err(&ev, "ActivateEventSource", json!({"Name": name})).code,
        "InvalidStateException"
    );
    ok(
        &ev,
        "PutRule",
        json!({"Name": "p", "EventBusName": name, "EventPattern": "{\"detail\": {\"k\": [1]}}"}),
    );
    ok(
        &ev,
        "PutTargets",
        json!({"Rule": "p", "EventBusName": name, "Targets": [{"Id": "q", "Arn": QUEUE}]}),
    );
    let out = as_partner(
        "PutPartnerEvents",
        json!({"Entries": [
            {"Source": name, "DetailType": "t", "Detail": "{\"k\": 1}"},
            {"Source": "aws.partner/saas.com/acme/nope", "DetailType": "t", "Detail": "{}"},
        ]}),
    )
    .unwrap();
    assert_eq!(out["FailedEntryCount"], 1);
    let ds = deliveries(&ev);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].account, "000000000000");
    assert_eq!(
        ok(&ev, "ListEventSources", json!({}))["EventSources"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    as_partner(
        "DeletePartnerEventSource",
        json!({"Name": name, "Account": "000000000000"}),
    )
    .unwrap();
    assert_eq!(
        err(&ev, "DescribeEventSource", json!({"Name": name})).code,
        "ResourceNotFoundException"
    );
}

/// Schedules across a restart with the clock injected: the server is down for more than 3
/// periods; after the load, a rate rule and a cron rule each fire exactly once for everything
/// missed, not again at the same instant, and next one period later (rate: from the catch-up;
/// cron: its next slot).
#[test]
fn missed_schedules_fire_once_after_a_restart_then_keep_their_period() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let ev = Events::new();
    engine.register(ev.store.clone()).unwrap();
    for (name, expr) in [
        ("rate", "rate(5 minutes)"),
        ("cron", "cron(0/10 * * * ? *)"),
    ] {
        ok(
            &ev,
            "PutRule",
            json!({"Name": name, "ScheduleExpression": expr}),
        );
        ok(
            &ev,
            "PutTargets",
            json!({"Rule": name, "Targets": [{"Id": "q", "Arn": QUEUE}]}),
        );
    }
    let next_of = |ev: &Events, name: &str| match ev.store.snapshot().get(&model::rule_key(
        &ctx().partition,
        "default",
        name,
    )) {
        Some(EventsRecord::Rule(r)) => r.next_fire_ms.unwrap(),
        _ => panic!("no rule {name}"),
    };
    let (rate_at, cron_at) = (next_of(&ev, "rate"), next_of(&ev, "cron"));
    assert_eq!(
        cron_at % 600_000,
        0,
        "cron slots are on the tens of minutes"
    );
    for (_, r) in engine.save_all() {
        r.unwrap();
    }
    drop(engine);
    // Down for 3.5 periods of each past its deadline.
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let ev = Events::new();
    engine.register(ev.store.clone()).unwrap();
    engine.load(crate::NAME).unwrap();
    let back = rate_at.max(cron_at) + 35 * 60_000;
    assert_eq!(ev.fire_due(back), 2, "one catch-up fire per rule");
    assert_eq!(ev.fire_due(back), 0, "not twice");
    assert_eq!(deliveries(&ev).len(), 2);
    assert_eq!(
        next_of(&ev, "rate"),
        back + 300_000,
        "one period after the catch-up"
    );
    let cron_next = next_of(&ev, "cron");
    assert!(
        cron_next > back && cron_next <= back + 600_000 && cron_next % 600_000 == 0,
        "the cron rule's next slot: {cron_next}"
    );
    // Nothing before the next deadlines; exactly one each at them.
    let first = cron_next.min(back + 300_000);
    assert_eq!(ev.fire_due(first - 1), 0);
    assert_eq!(
        ev.fire_due(back + 300_000),
        if cron_next <= back + 300_000 { 2 } else { 1 }
    );
    assert_eq!(
        ev.fire_due(cron_next.max(back + 300_000)),
        if cron_next > back + 300_000 { 1 } else { 0 }
    );
    assert_eq!(deliveries(&ev).len(), 4);
}

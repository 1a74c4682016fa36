//! Unit tests of the operations, the outbox and the delivery task (with a runtime that records
//! what it is asked to invoke), and of deliveries surviving a save and load of the store.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use snapstack_engine::{Engine, EngineOptions};
use snapstack_protocol::codec::query::{parse_input, serialize_output};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::model::{self, SnsRecord};
use crate::{Answer, Sns};

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn call(sns: &Sns, op: &str, input: Value) -> Result<Answer, AwsError> {
    sns.handle(&ctx(), op, &input)
}

fn ok(sns: &Sns, op: &str, input: Value) -> Value {
    call(sns, op, input)
        .unwrap_or_else(|e| panic!("{op}: {e:?}"))
        .output
}

fn err(sns: &Sns, op: &str, input: Value) -> AwsError {
    call(sns, op, input).unwrap_err()
}

fn deliveries(sns: &Sns) -> Vec<model::Delivery> {
    sns.store
        .snapshot()
        .scan_prefix(&model::deliveries_prefix())
        .filter_map(|(_, r)| match r {
            SnsRecord::Delivery(d) => Some((**d).clone()),
            _ => None,
        })
        .collect()
}

/// Every FIFO delivery owed, in queue order: (group, body).
fn fifo_queued(sns: &Sns) -> Vec<(String, String)> {
    sns.store
        .snapshot()
        .scan_prefix(&snapstack_engine::Key::builder().str("fifo").build())
        .filter_map(|(_, r)| match r {
            SnsRecord::Delivery(d) => {
                Some((d.group_id.clone().unwrap_or_default(), d.body.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A runtime whose `invoke` records the calls and answers from a closure.
#[derive(Default)]
struct FakeRt {
    calls: Mutex<Vec<(String, String, Value)>>,
    fail: Mutex<Option<AwsError>>,
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
            if let Some(e) = self.fail.lock().unwrap().clone() {
                return Err(e);
            }
            self.calls
                .lock()
                .unwrap()
                .push((service.to_string(), operation.to_string(), input));
            Ok(json!({}))
        })
    }
}

fn topic(sns: &Sns, name: &str, attrs: Value) -> String {
    ok(
        sns,
        "CreateTopic",
        json!({"Name": name, "Attributes": attrs}),
    )["TopicArn"]
        .as_str()
        .unwrap()
        .to_string()
}

const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:q1";

#[test]
fn topics_lifecycle_and_attributes() {
    let sns = Sns::new();
    let arn = topic(&sns, "t1", json!({"DisplayName": "hello"}));
    assert_eq!(arn, "arn:aws:sns:us-east-1:000000000000:t1");
    // Idempotent with the same attributes; refused with others.
    assert_eq!(topic(&sns, "t1", json!({"DisplayName": "hello"})), arn);
    let e = err(
        &sns,
        "CreateTopic",
        json!({"Name": "t1", "Attributes": {"DisplayName": "x"}}),
    );
    assert_eq!(e.code, "InvalidParameter");
    assert_eq!(
        err(&sns, "CreateTopic", json!({"Name": "bad name"})).message,
        "Invalid parameter: Topic Name"
    );
    assert!(
        err(
            &sns,
            "CreateTopic",
            json!({"Name": "a", "Attributes": {"FifoTopic": "true"}})
        )
        .message
        .contains("Fifo Topic names must end with .fifo")
    );
    let a = ok(&sns, "GetTopicAttributes", json!({"TopicArn": arn}))["Attributes"].clone();
    assert_eq!(a["DisplayName"], "hello");
    assert_eq!(a["Owner"], "000000000000");
    assert_eq!(a["SubscriptionsConfirmed"], "0");
    ok(
        &sns,
        "SetTopicAttributes",
        json!({"TopicArn": arn, "AttributeName": "DisplayName", "AttributeValue": "d2"}),
    );
    let a = ok(&sns, "GetTopicAttributes", json!({"TopicArn": arn}))["Attributes"].clone();
    assert_eq!(a["DisplayName"], "d2");
    assert_eq!(
        err(
            &sns,
            "SetTopicAttributes",
            json!({"TopicArn": arn, "AttributeName": "Nope", "AttributeValue": "1"})
        )
        .message,
        "Invalid parameter: AttributeName"
    );
    let fifo = topic(
        &sns,
        "f.fifo",
        json!({"FifoTopic": "true", "ContentBasedDeduplication": "true"}),
    );
    let a = ok(&sns, "GetTopicAttributes", json!({"TopicArn": fifo}))["Attributes"].clone();
    assert_eq!(
        (
            a["FifoTopic"].as_str(),
            a["ContentBasedDeduplication"].as_str()
        ),
        (Some("true"), Some("true"))
    );
    let list = ok(&sns, "ListTopics", json!({}));
    assert_eq!(list["Topics"].as_array().unwrap().len(), 2);
    // Tags and permissions.
    ok(
        &sns,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
    );
    assert_eq!(
        ok(&sns, "ListTagsForResource", json!({"ResourceArn": arn}))["Tags"],
        json!([{"Key": "k", "Value": "v"}])
    );
    ok(
        &sns,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["k"]}),
    );
    assert_eq!(
        ok(&sns, "ListTagsForResource", json!({"ResourceArn": arn}))["Tags"],
        json!([])
    );
    ok(
        &sns,
        "AddPermission",
        json!({"TopicArn": arn, "Label": "L", "AWSAccountId": ["111122223333"], "ActionName": ["Publish"]}),
    );
    let policy: Value = serde_json::from_str(
        ok(&sns, "GetTopicAttributes", json!({"TopicArn": arn}))["Attributes"]["Policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Sid"] == "L" && s["Action"] == "SNS:Publish")
    );
    assert_eq!(
        err(
            &sns,
            "AddPermission",
            json!({"TopicArn": arn, "Label": "L", "AWSAccountId": ["1"], "ActionName": ["Publish"]})
        )
        .code,
        "InvalidParameter"
    );
    ok(
        &sns,
        "RemovePermission",
        json!({"TopicArn": arn, "Label": "L"}),
    );
    assert!(
        call(
            &sns,
            "RemovePermission",
            json!({"TopicArn": arn, "Label": "L"})
        )
        .is_err()
    );
    // Data protection.
    ok(
        &sns,
        "PutDataProtectionPolicy",
        json!({"ResourceArn": arn, "DataProtectionPolicy": "{\"Name\":\"p\"}"}),
    );
    assert_eq!(
        ok(&sns, "GetDataProtectionPolicy", json!({"ResourceArn": arn}))["DataProtectionPolicy"],
        "{\"Name\":\"p\"}"
    );
    ok(&sns, "DeleteTopic", json!({"TopicArn": arn}));
    let e = err(&sns, "GetTopicAttributes", json!({"TopicArn": arn}));
    assert_eq!(
        (e.code.as_str(), e.message.as_str(), e.status.as_u16()),
        ("NotFound", "Topic does not exist", 404)
    );
}

#[test]
fn subscriptions_and_filters() {
    let sns = Sns::new();
    let arn = topic(&sns, "t", json!({}));
    let sub = ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": QUEUE,
        "Attributes": {"RawMessageDelivery": "true", "FilterPolicy": "{\"color\": [\"red\"]}"}}),
    )["SubscriptionArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sub.starts_with(&format!("{arn}:")));
    // Same endpoint again: the same subscription.
    let again = ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": QUEUE,
        "Attributes": {"RawMessageDelivery": "true", "FilterPolicy": "{\"color\": [\"red\"]}"}}),
    );
    assert_eq!(again["SubscriptionArn"], sub.as_str());
    let a = ok(
        &sns,
        "GetSubscriptionAttributes",
        json!({"SubscriptionArn": sub}),
    )["Attributes"]
        .clone();
    assert_eq!(a["RawMessageDelivery"], "true");
    assert_eq!(a["FilterPolicyScope"], "MessageAttributes");
    assert_eq!(a["PendingConfirmation"], "false");
    let e = err(
        &sns,
        "SetSubscriptionAttributes",
        json!({"SubscriptionArn": sub, "AttributeName": "FilterPolicy", "AttributeValue": "{\"a\": {\"b\": [1]}}"}),
    );
    assert!(
        e.message.contains("does not support nested"),
        "{}",
        e.message
    );
    ok(
        &sns,
        "SetSubscriptionAttributes",
        json!({"SubscriptionArn": sub, "AttributeName": "FilterPolicyScope", "AttributeValue": "MessageBody"}),
    );
    ok(
        &sns,
        "SetSubscriptionAttributes",
        json!({"SubscriptionArn": sub, "AttributeName": "FilterPolicy", "AttributeValue": "{\"a\": {\"b\": [1]}}"}),
    );
    assert!(
        err(
            &sns,
            "Subscribe",
            json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": "not-an-arn"})
        )
        .message
        .contains("SQS endpoint ARN")
    );
    assert!(
        err(
            &sns,
            "Subscribe",
            json!({"TopicArn": arn, "Protocol": "carrier-pigeon", "Endpoint": "x"})
        )
        .message
        .contains("does not support this protocol")
    );
    // HTTP: pending until confirmed with the token of the confirmation delivery.
    let pending = ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "http", "Endpoint": "http://127.0.0.1:9/x"}),
    );
    assert_eq!(pending["SubscriptionArn"], "pending confirmation");
    let conf = deliveries(&sns)
        .into_iter()
        .find(|d| d.kind == model::DeliveryKind::SubscriptionConfirmation)
        .unwrap();
    let body: Value = serde_json::from_str(&conf.body).unwrap();
    assert_eq!(body["Type"], "SubscriptionConfirmation");
    assert!(
        body["SubscribeURL"]
            .as_str()
            .unwrap()
            .contains("Action=ConfirmSubscription")
    );
    let listed = ok(&sns, "ListSubscriptionsByTopic", json!({"TopicArn": arn}));
    assert!(
        listed["Subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["SubscriptionArn"] == "PendingConfirmation")
    );
    assert_eq!(
        err(
            &sns,
            "ConfirmSubscription",
            json!({"TopicArn": arn, "Token": "nope"})
        )
        .message,
        "Invalid parameter: Token"
    );
    let confirmed = ok(
        &sns,
        "ConfirmSubscription",
        json!({"TopicArn": arn, "Token": body["Token"]}),
    );
    assert!(
        confirmed["SubscriptionArn"]
            .as_str()
            .unwrap()
            .starts_with(&arn)
    );
    assert_eq!(
        ok(&sns, "ListSubscriptions", json!({}))["Subscriptions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    ok(&sns, "Unsubscribe", json!({"SubscriptionArn": sub}));
    assert_eq!(
        err(&sns, "Unsubscribe", json!({"SubscriptionArn": sub})).code,
        "NotFound"
    );
}

#[test]
fn publish_writes_one_delivery_per_matching_subscription() {
    let sns = Sns::new();
    let arn = topic(&sns, "t", json!({}));
    for (q, policy) in [
        ("red", r#"{"color": ["red"]}"#),
        ("blue", r#"{"color": ["blue"]}"#),
        ("any", ""),
    ] {
        let mut attrs = json!({});
        if !policy.is_empty() {
            attrs["FilterPolicy"] = json!(policy);
        }
        ok(
            &sns,
            "Subscribe",
            json!({"TopicArn": arn, "Protocol": "sqs",
            "Endpoint": format!("arn:aws:sqs:us-east-1:000000000000:{q}"), "Attributes": attrs}),
        );
    }
    let out = ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "m", "Subject": "s",
        "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}}),
    );
    assert!(out["MessageId"].is_string());
    let ds = deliveries(&sns);
    let mut targets: Vec<_> = ds
        .iter()
        .map(|d| d.endpoint.rsplit(':').next().unwrap().to_string())
        .collect();
    targets.sort();
    assert_eq!(targets, ["any", "red"]);
    let env: Value = serde_json::from_str(&ds[0].body).unwrap();
    assert_eq!(env["Type"], "Notification");
    assert_eq!(env["Message"], "m");
    assert_eq!(env["Subject"], "s");
    assert_eq!(
        env["MessageAttributes"]["color"],
        json!({"Type": "String", "Value": "red"})
    );
    for k in [
        "MessageId",
        "TopicArn",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
    ] {
        assert!(env.get(k).is_some(), "{k}");
    }
    // Errors.
    assert_eq!(
        err(&sns, "Publish", json!({"TopicArn": arn, "Message": ""})).message,
        "Invalid parameter: Empty message"
    );
    assert!(
        err(
            &sns,
            "Publish",
            json!({"TopicArn": arn, "Message": "{}", "MessageStructure": "json"})
        )
        .message
        .contains("No default entry")
    );
    assert_eq!(
        err(
            &sns,
            "Publish",
            json!({"TopicArn": "arn:aws:sns:us-east-1:000000000000:nope", "Message": "x"})
        )
        .code,
        "NotFound"
    );
    assert!(
        err(
            &sns,
            "Publish",
            json!({"TopicArn": arn, "Message": "x",
        "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}}})
        )
        .message
        .contains("number")
    );
    // Per-protocol bodies.
    ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "MessageStructure": "json",
        "Message": "{\"default\": \"d\", \"sqs\": \"for sqs\"}"}),
    );
    let any: Vec<_> = deliveries(&sns)
        .into_iter()
        .filter(|d| d.endpoint.ends_with(":any"))
        .collect();
    assert!(
        any.iter()
            .any(|d| serde_json::from_str::<Value>(&d.body).unwrap()["Message"] == "for sqs")
    );
}

#[test]
fn fifo_topics_sequence_and_deduplicate() {
    let sns = Sns::new();
    let arn = topic(&sns, "f.fifo", json!({"FifoTopic": "true"}));
    ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q.fifo"}),
    );
    assert!(
        err(&sns, "Publish", json!({"TopicArn": arn, "Message": "x"}))
            .message
            .contains("MessageGroupId")
    );
    assert!(
        err(
            &sns,
            "Publish",
            json!({"TopicArn": arn, "Message": "x", "MessageGroupId": "g"})
        )
        .message
        .contains("ContentBasedDeduplication")
    );
    let a = ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}),
    );
    let b = ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "y", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}),
    );
    assert_eq!(a, b, "deduplicated");
    let c = ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "y", "MessageGroupId": "g", "MessageDeduplicationId": "d2"}),
    );
    assert!(c["SequenceNumber"].as_str().unwrap() > a["SequenceNumber"].as_str().unwrap());
    // Both are owed; the outbox holds the group's head, the queue both.
    assert_eq!(deliveries(&sns).len(), 1);
    assert_eq!(fifo_queued(&sns).len(), 2);
    // The batch: partial failures, ids checked.
    let out = ok(
        &sns,
        "PublishBatch",
        json!({"TopicArn": arn, "PublishBatchRequestEntries": [
            {"Id": "a", "Message": "1", "MessageGroupId": "g", "MessageDeduplicationId": "b1"},
            {"Id": "b", "Message": "2"},
        ]}),
    );
    assert_eq!(out["Successful"].as_array().unwrap().len(), 1);
    assert_eq!(out["Failed"][0]["Id"], "b");
    assert_eq!(
        err(
            &sns,
            "PublishBatch",
            json!({"TopicArn": arn, "PublishBatchRequestEntries": [
        {"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}]})
        )
        .code,
        "BatchEntryIdsNotDistinct"
    );
    assert!(
        err(
            &sns,
            "Subscribe",
            json!({"TopicArn": arn, "Protocol": "http", "Endpoint": "http://x/"})
        )
        .message
        .contains("Invalid protocol type")
    );
}

#[test]
fn platform_and_sms_records() {
    let sns = Sns::new();
    let app = ok(
        &sns,
        "CreatePlatformApplication",
        json!({"Name": "app", "Platform": "GCM", "Attributes": {"PlatformCredential": "secret"}}),
    )["PlatformApplicationArn"]
        .as_str()
        .unwrap()
        .to_string();
    let attrs = ok(
        &sns,
        "GetPlatformApplicationAttributes",
        json!({"PlatformApplicationArn": app}),
    );
    assert!(attrs["Attributes"].get("PlatformCredential").is_none());
    let ep = ok(
        &sns,
        "CreatePlatformEndpoint",
        json!({"PlatformApplicationArn": app, "Token": "tok"}),
    )["EndpointArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ok(
            &sns,
            "CreatePlatformEndpoint",
            json!({"PlatformApplicationArn": app, "Token": "tok"})
        )["EndpointArn"],
        ep.as_str()
    );
    assert_eq!(
        ok(&sns, "GetEndpointAttributes", json!({"EndpointArn": ep}))["Attributes"]["Enabled"],
        "true"
    );
    ok(&sns, "Publish", json!({"TargetArn": ep, "Message": "push"}));
    ok(
        &sns,
        "SetEndpointAttributes",
        json!({"EndpointArn": ep, "Attributes": {"Enabled": "false"}}),
    );
    assert_eq!(
        err(&sns, "Publish", json!({"TargetArn": ep, "Message": "push"})).code,
        "EndpointDisabled"
    );
    assert_eq!(
        ok(
            &sns,
            "ListEndpointsByPlatformApplication",
            json!({"PlatformApplicationArn": app})
        )["Endpoints"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ok(
        &sns,
        "DeletePlatformApplication",
        json!({"PlatformApplicationArn": app}),
    );
    assert_eq!(
        err(&sns, "GetEndpointAttributes", json!({"EndpointArn": ep})).code,
        "NotFound"
    );
    ok(
        &sns,
        "SetSMSAttributes",
        json!({"attributes": {"DefaultSMSType": "Transactional"}}),
    );
    assert_eq!(
        ok(&sns, "GetSMSAttributes", json!({}))["attributes"]["DefaultSMSType"],
        "Transactional"
    );
    ok(
        &sns,
        "Publish",
        json!({"PhoneNumber": "+15555550100", "Message": "hi"}),
    );
    assert_eq!(
        ok(
            &sns,
            "CheckIfPhoneNumberIsOptedOut",
            json!({"phoneNumber": "+15555550100"})
        )["isOptedOut"],
        false
    );
    ok(
        &sns,
        "CreateSMSSandboxPhoneNumber",
        json!({"PhoneNumber": "+15555550101"}),
    );
    assert_eq!(
        err(
            &sns,
            "VerifySMSSandboxPhoneNumber",
            json!({"PhoneNumber": "+15555550101", "OneTimePassword": "12345"})
        )
        .code,
        "VerificationException"
    );
    ok(
        &sns,
        "VerifySMSSandboxPhoneNumber",
        json!({"PhoneNumber": "+15555550101", "OneTimePassword": crate::platform::otp_for("+15555550101")}),
    );
    assert_eq!(
        ok(&sns, "ListSMSSandboxPhoneNumbers", json!({}))["PhoneNumbers"],
        json!([{"PhoneNumber": "+15555550101", "Status": "Verified"}])
    );
    let sent = sns
        .store
        .snapshot()
        .scan_prefix(&model::sent_prefix(&ctx().partition))
        .count();
    assert_eq!(sent, 3);
}

#[test]
fn the_wire_form_goes_through_the_query_codec() {
    let sns = Sns::new();
    let model = Sns::model();
    let params: Vec<(String, String)> = [
        ("Name", "wire"),
        ("Attributes.entry.1.key", "DisplayName"),
        ("Attributes.entry.1.value", "W"),
        ("Tags.member.1.Key", "a"),
        ("Tags.member.1.Value", "b"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let input = parse_input(model, "CreateTopic", &params).unwrap();
    let out = sns.handle(&ctx(), "CreateTopic", &input).unwrap().output;
    let xml = serialize_output(model, "CreateTopic", &out, "rid");
    assert!(
        xml.contains(
            "<CreateTopicResult><TopicArn>arn:aws:sns:us-east-1:000000000000:wire</TopicArn>"
        ),
        "{xml}"
    );
    let out = ok(
        &sns,
        "GetTopicAttributes",
        json!({"TopicArn": "arn:aws:sns:us-east-1:000000000000:wire"}),
    );
    let xml = serialize_output(model, "GetTopicAttributes", &out, "rid");
    assert!(
        xml.contains("<entry><key>DisplayName</key><value>W</value></entry>"),
        "{xml}"
    );
}

#[tokio::test]
async fn the_delivery_task_sends_to_sqs_and_removes_the_record() {
    let sns = Arc::new(Sns::new());
    let arn = topic(&sns, "t", json!({}));
    ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": QUEUE, "Attributes": {"RawMessageDelivery": "true"}}),
    );
    ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "raw body",
        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}),
    );
    let rt = FakeRt::default();
    let groups = sns.due_deliveries(crate::now_ms(), &Default::default());
    assert_eq!(groups.len(), 1);
    for d in groups.into_iter().flatten() {
        assert!(sns.deliver(&rt, d).await);
    }
    assert!(deliveries(&sns).is_empty());
    let calls = rt.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (svc, op, input) = &calls[0];
    assert_eq!((svc.as_str(), op.as_str()), ("sqs", "SendMessage"));
    assert_eq!(input["MessageBody"], "raw body");
    assert_eq!(
        input["QueueUrl"],
        "http://localhost.localstack.cloud:4566/queue/us-east-1/000000000000/q1"
    );
    assert_eq!(input["MessageAttributes"]["k"]["StringValue"], "v");
}

#[tokio::test]
async fn failed_deliveries_retry_then_go_to_the_dead_letter_queue() {
    let sns = Arc::new(Sns::new());
    let arn = topic(&sns, "t", json!({}));
    let sub = ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": QUEUE,
        "Attributes": {"RedrivePolicy": "{\"deadLetterTargetArn\": \"arn:aws:sqs:us-east-1:000000000000:dlq\"}"}}),
    );
    assert!(sub["SubscriptionArn"].is_string());
    ok(&sns, "Publish", json!({"TopicArn": arn, "Message": "m"}));
    // A server error: retried (immediately, AWS's first three SQS retries).
    let rt = FakeRt::default();
    *rt.fail.lock().unwrap() = Some(
        AwsError::new("InternalError", "x")
            .with_status(snapstack_protocol::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    let d = deliveries(&sns).pop().unwrap();
    assert!(!sns.deliver(&rt, d).await);
    let d = deliveries(&sns).pop().unwrap();
    assert_eq!(d.attempts, 1);
    // A client error (the queue is gone): not retried; the dead-letter queue gets it.
    *rt.fail.lock().unwrap() = None;
    let dead = Arc::new(Sns::new());
    drop(dead);
    struct Gone(FakeRt);
    impl Runtime for Gone {
        fn ensure_loaded<'a>(&'a self, s: &'static str) -> BoxFuture<'a, ()> {
            self.0.ensure_loaded(s)
        }
        fn wait_durable<'a>(
            &'a self,
            s: &'static str,
            v: u64,
        ) -> BoxFuture<'a, Result<(), String>> {
            self.0.wait_durable(s, v)
        }
        fn is_ready(&self, s: &str) -> bool {
            self.0.is_ready(s)
        }
        fn invoke<'a>(
            &'a self,
            ctx: &'a RequestContext,
            service: &'a str,
            op: &'a str,
            input: Value,
        ) -> BoxFuture<'a, Result<Value, AwsError>> {
            Box::pin(async move {
                if input["QueueUrl"].as_str().unwrap_or("").ends_with("/q1") {
                    return Err(AwsError::new(
                        "AWS.SimpleQueueService.NonExistentQueue",
                        "gone",
                    ));
                }
                self.0.invoke(ctx, service, op, input).await
            })
        }
    }
    let gone = Gone(FakeRt::default());
    assert!(!sns.deliver(&gone, d).await);
    assert!(deliveries(&sns).is_empty());
    let calls = gone.0.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].2["QueueUrl"].as_str().unwrap().ends_with("/dlq"));
    let env: Value = serde_json::from_str(calls[0].2["MessageBody"].as_str().unwrap()).unwrap();
    assert_eq!(env["Message"], "m");
}

#[test]
fn fifo_deliveries_go_one_at_a_time_per_group() {
    let sns = Sns::new();
    let arn = topic(
        &sns,
        "f.fifo",
        json!({"FifoTopic": "true", "ContentBasedDeduplication": "true"}),
    );
    ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q.fifo"}),
    );
    for (g, m) in [("a", "1"), ("a", "2"), ("b", "3")] {
        ok(
            &sns,
            "Publish",
            json!({"TopicArn": arn, "Message": m, "MessageGroupId": g}),
        );
    }
    let due: Vec<_> = sns
        .due_deliveries(crate::now_ms(), &Default::default())
        .into_iter()
        .flatten()
        .collect();
    let mut groups: Vec<_> = due.iter().map(|d| d.group_id.clone().unwrap()).collect();
    groups.sort();
    assert_eq!(groups, ["a", "b"]);
    let first_a = due
        .iter()
        .find(|d| d.group_id.as_deref() == Some("a"))
        .unwrap();
    assert!(serde_json::from_str::<Value>(&first_a.body).unwrap()["Message"] == "1");
}

#[test]
fn deliveries_survive_a_save_and_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let sns = Sns::new();
    engine.register(sns.store.clone()).unwrap();
    let arn = topic(&sns, "t", json!({}));
    ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": QUEUE}),
    );
    ok(
        &sns,
        "Publish",
        json!({"TopicArn": arn, "Message": "keep me"}),
    );
    let before = deliveries(&sns);
    assert_eq!(before.len(), 1);
    for (_, r) in engine.save_all() {
        r.unwrap();
    }
    drop(engine);
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let sns2 = Sns::new();
    engine.register(sns2.store.clone()).unwrap();
    engine.load(crate::NAME).unwrap();
    assert_eq!(deliveries(&sns2), before);
    assert_eq!(
        sns2.due_deliveries(crate::now_ms(), &Default::default())
            .len(),
        1
    );
}

/// FIFO order is the topic's sequence numbers, whatever the clock said when each publish began:
/// a publish whose `now` is earlier but whose write comes later is delivered after. A retry of a
/// group's head holds the rest of that group back (and only that group); the outbox never holds
/// two deliveries of one group, so no bound on how much of it a pass reads changes the order.
#[tokio::test]
async fn fifo_order_is_the_sequence_numbers() {
    let sns = Sns::new();
    let arn = topic(
        &sns,
        "o.fifo",
        json!({"FifoTopic": "true", "ContentBasedDeduplication": "true"}),
    );
    ok(
        &sns,
        "Subscribe",
        json!({"TopicArn": arn, "Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q.fifo",
               "Attributes": {"RawMessageDelivery": "true"}}),
    );
    // Clocks going backwards between writes (publishers that read the time, then waited for
    // the store): 5 messages in group a, 3 in group b, interleaved.
    let mut seqs = Vec::new();
    for (i, (g, m)) in [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("a", "a3"),
        ("b", "b2"),
        ("a", "a4"),
        ("b", "b3"),
        ("a", "a5"),
    ]
    .into_iter()
    .enumerate()
    {
        let input = json!({"TopicArn": arn, "Message": m, "MessageGroupId": g});
        let now = 1_000_000 - i as u64 * 10;
        let out = sns
            .publish(&ctx(), input.as_object().unwrap(), now)
            .unwrap()
            .output;
        seqs.push(out["SequenceNumber"].as_str().unwrap().to_string());
    }
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "sequence numbers increase with the writes");
    assert_eq!(fifo_queued(&sns).len(), 8);
    let outbox = deliveries(&sns);
    assert_eq!(outbox.len(), 2, "one head per group: {outbox:?}");
    // Group a's head fails once (retried later): b goes on, a waits.
    let rt = FakeRt::default();
    *rt.fail.lock().unwrap() = Some(
        AwsError::new("ServiceUnavailable", "down")
            .with_status(snapstack_protocol::http::StatusCode::SERVICE_UNAVAILABLE),
    );
    let head_a = || {
        deliveries(&sns)
            .into_iter()
            .find(|d| d.group_id.as_deref() == Some("a"))
            .unwrap()
    };
    // AWS's policy for SQS retries 3 times at once, then after a delay: fail until delayed.
    for _ in 0..4 {
        let a = head_a();
        assert_eq!(a.body, "a1");
        assert!(!sns.deliver(&rt, a).await);
    }
    let a_due = head_a().due_ms;
    assert!(a_due > 1_000_000 && head_a().attempts == 4);
    *rt.fail.lock().unwrap() = None;
    let mut sent = Vec::new();
    for _ in 0..20 {
        let due: Vec<_> = sns
            .due_deliveries(a_due - 1, &Default::default())
            .into_iter()
            .flatten()
            .collect();
        if due.is_empty() {
            break;
        }
        assert!(
            due.iter().all(|d| d.group_id.as_deref() == Some("b")),
            "a is held back: {due:?}"
        );
        for d in due {
            assert!(sns.deliver(&rt, d).await);
        }
    }
    sent.extend(
        rt.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, i)| i["MessageBody"].as_str().unwrap().to_string()),
    );
    assert_eq!(sent, ["b1", "b2", "b3"]);
    // Once a's retry is due, a goes out in order.
    for _ in 0..20 {
        let due: Vec<_> = sns
            .due_deliveries(a_due, &Default::default())
            .into_iter()
            .flatten()
            .collect();
        if due.is_empty() {
            break;
        }
        assert_eq!(due.len(), 1);
        for d in due {
            assert!(sns.deliver(&rt, d).await);
        }
    }
    let sent: Vec<_> = rt
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, i)| i["MessageBody"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["b1", "b2", "b3", "a1", "a2", "a3", "a4", "a5"]);
    assert!(deliveries(&sns).is_empty());
    assert!(fifo_queued(&sns).is_empty());
}

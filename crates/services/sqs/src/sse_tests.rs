//! SSE at rest through the service, on the manual clock: what the records hold, the data key's
//! reuse period, KMS failures, and plaintext records from before SSE.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::model::{AttrValue, MessageRec};
use crate::test_env::Env;

const MARKER: &str = "SSE-MARKER-7f3a";

/// Every record of the store, encoded as the snapshot stores it.
fn encoded(env: &Env) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, r) in env.sqs.store.snapshot().iter() {
        out.extend(postcard::to_allocvec(r).unwrap());
    }
    out
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn messages(env: &Env) -> Vec<Rec> {
    env.sqs
        .store
        .snapshot()
        .iter()
        .filter(|(_, r)| r.message().is_some())
        .map(|(_, r)| r.clone())
        .collect()
}

fn send(env: &Env, url: &str, body: &str) -> Result<Value, SqsError> {
    env.call("SendMessage", json!({"QueueUrl": url, "MessageBody": body}))
}

use serde_json::Value;

fn kms_queue(env: &Env, reuse: &str) -> String {
    env.create(
        "enc",
        json!({"KmsMasterKeyId": "k1", "KmsDataKeyReusePeriodSeconds": reuse}),
    )
}

#[test]
fn sse_sqs_is_the_default_and_seals_the_body_only() {
    let env = Env::new();
    let url = env.create("q", json!({}));
    let got = env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": MARKER,
               "MessageAttributes": {"a": {"DataType": "String", "StringValue": "attr-visible"}}}),
    );
    assert_eq!(got["MD5OfMessageBody"], crate::md5::of_body(MARKER));
    let recs = messages(&env);
    assert!(matches!(recs[0], Rec::SealedMessage(_)));
    assert_eq!(recs[0].message().unwrap().body, "");
    let bytes = encoded(&env);
    assert!(!holds(&bytes, MARKER));
    // SSE covers the body, not attributes (as in AWS).
    assert!(holds(&bytes, "attr-visible"));
    assert!(env.rt.calls().is_empty(), "SSE-SQS never calls KMS");
    let env = env.restarted();
    let m = env.receive(&url, json!({}));
    assert_eq!(Env::bodies(&m), vec![MARKER]);
    assert_eq!(m[0]["MD5OfBody"], crate::md5::of_body(MARKER));
}

#[test]
fn a_queue_without_sse_keeps_the_body_as_sent() {
    let env = Env::new();
    let url = env.create("plain", json!({"SqsManagedSseEnabled": "false"}));
    send(&env, &url, MARKER).unwrap();
    assert!(matches!(messages(&env)[0], Rec::Message(ref m) if m.body == MARKER));
    assert_eq!(Env::bodies(&env.receive(&url, json!({}))), vec![MARKER]);
}

#[test]
fn plaintext_records_from_before_sse_still_read() {
    let env = Env::new();
    let url = env.create("q", json!({}));
    let p = Partition::new("000000000000", "us-east-1");
    let now = env.sqs.now();
    let old = MessageRec {
        attributes: vec![(
            "x".into(),
            AttrValue {
                data_type: "String".into(),
                string: Some("y".into()),
                binary: None,
            },
        )],
        md5_body: crate::md5::of_body("written before SSE"),
        sent_ms: now,
        visible_at: now,
        ..MessageRec::sample("old-1", "written before SSE")
    };
    env.sqs.store.write(|t| {
        crate::queue::enqueue(t, &p, "q", Rec::Message(old.clone())).unwrap();
    });
    send(&env, &url, "new").unwrap();
    let env = env.restarted();
    let mut got = Env::bodies(&env.receive(&url, json!({})));
    got.sort();
    assert_eq!(got, vec!["new", "written before SSE"]);
}

#[test]
fn a_data_key_is_reused_for_its_period_then_replaced() {
    let env = Env::new();
    let url = kms_queue(&env, "60");
    send(&env, &url, "a").unwrap();
    env.advance(59_000);
    send(&env, &url, "b").unwrap();
    assert_eq!(env.kms_calls("GenerateDataKey"), 1);
    env.advance(1_000);
    send(&env, &url, "c").unwrap();
    assert_eq!(env.kms_calls("GenerateDataKey"), 2);
    // The context is the queue's ARN.
    let keys: Vec<_> = env
        .sqs
        .store
        .snapshot()
        .iter()
        .filter_map(|(_, r)| match r {
            Rec::DataKey(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].queue_arn, env.arn(&url));
    assert!(keys[0].key_arn.ends_with(":key/k1"));
    // Receives in this process use the plaintext of the current key; the first one's period
    // is over, so KMS opens it.
    assert_eq!(env.receive(&url, json!({})).len(), 3);
    assert_eq!(env.kms_calls("Decrypt"), 1);
    // Every record (data keys, sealed messages under them) round-trips through its encoding.
    for (_, rec) in env.sqs.store.snapshot().iter() {
        let back: Rec = postcard::from_bytes(&postcard::to_allocvec(rec).unwrap()).unwrap();
        assert_eq!(&back, rec);
    }
}

#[test]
fn after_a_restart_the_first_receive_asks_kms_once_per_data_key() {
    let env = Env::new();
    let url = kms_queue(&env, "60");
    send(&env, &url, "a").unwrap();
    send(&env, &url, "b").unwrap();
    env.advance(61_000);
    send(&env, &url, "c").unwrap();
    let env = env.restarted();
    let mut got = Env::bodies(&env.receive(&url, json!({})));
    got.sort();
    assert_eq!(got, vec!["a", "b", "c"]);
    assert_eq!(env.kms_calls("Decrypt"), 2);
    // Within the reuse period the plaintext is held; after it, KMS is asked again.
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"VisibilityTimeout": "0"}}),
    );
    env.advance(30_000);
    assert_eq!(env.receive(&url, json!({})).len(), 3);
    assert_eq!(env.kms_calls("Decrypt"), 2);
    env.advance(31_000);
    assert_eq!(env.receive(&url, json!({})).len(), 3);
    assert_eq!(env.kms_calls("Decrypt"), 4);
}

#[test]
fn a_disabled_key_stops_sends_and_receives_once_its_plaintext_is_gone() {
    let env = Env::new();
    let url = kms_queue(&env, "300");
    send(&env, &url, "kept").unwrap();
    env.kms.set_enabled("k1", false);
    // Within the reuse period SQS holds the data key and asks KMS nothing (as AWS does).
    send(&env, &url, "still").unwrap();
    let env = env.restarted();
    let e = send(&env, &url, "refused").unwrap_err();
    assert_eq!((e.shape, e.code), ("KmsDisabled", "KMS.DisabledException"));
    assert!(e.message.contains("is disabled"), "{}", e.message);
    let e = env
        .call(
            "SendMessageBatch",
            json!({"QueueUrl": url, "Entries": [{"Id": "1", "MessageBody": "x"}]}),
        )
        .unwrap_err();
    assert_eq!(e.shape, "KmsDisabled");
    let e = env
        .call("ReceiveMessage", json!({"QueueUrl": url}))
        .unwrap_err();
    assert_eq!((e.shape, e.code), ("KmsDisabled", "KMS.DisabledException"));
    // Nothing changed: both messages are still there, visible.
    assert_eq!(env.count(&url), 2);
    env.kms.set_enabled("k1", true);
    assert_eq!(env.receive(&url, json!({})).len(), 2);
}

#[test]
fn kms_failures_map_to_the_models_errors() {
    use snapstack_protocol::errors::AwsError;
    let cases = [
        ("DisabledException", "KmsDisabled", "KMS.DisabledException"),
        (
            "KMSInvalidStateException",
            "KmsInvalidState",
            "KMS.InvalidStateException",
        ),
        ("NotFoundException", "KmsNotFound", "KMS.NotFoundException"),
        (
            "AccessDeniedException",
            "KmsAccessDenied",
            "KMS.AccessDeniedException",
        ),
        (
            "InvalidKeyUsageException",
            "KmsInvalidKeyUsage",
            "KMS.InvalidKeyUsageException",
        ),
        (
            "ThrottlingException",
            "KmsThrottled",
            "KMS.ThrottlingException",
        ),
        (
            "ResourceNotFoundException",
            "KmsNotFound",
            "KMS.NotFoundException",
        ),
    ];
    for (kms, shape, code) in cases {
        let e = kms_error(AwsError::new(kms, "why"), "rid-1");
        assert_eq!(
            (e.shape, e.code, e.status.as_u16()),
            (shape, code, 400),
            "{kms}"
        );
    }
    let e = kms_error(
        AwsError::new("KMSInvalidStateException", "pending"),
        "rid-1",
    );
    assert_eq!(
        e.message,
        "pending (Service: AWSKMS; Status Code: 400; Error Code: KMSInvalidStateException; Request ID: rid-1; Proxy: null)"
    );
    let e = kms_error(AwsError::new("InvalidCiphertextException", "bad"), "r");
    assert_eq!(e.status.as_u16(), 500);
}

#[test]
fn a_missing_key_is_kms_not_found() {
    let env = Env::new();
    let url = env.create("enc", json!({"KmsMasterKeyId": "nope"}));
    let e = send(&env, &url, "x").unwrap_err();
    assert_eq!((e.shape, e.code), ("KmsNotFound", "KMS.NotFoundException"));
}

#[test]
fn one_kind_of_sse_at_a_time() {
    let env = Env::new();
    let e = env
        .call(
            "CreateQueue",
            json!({"QueueName": "both", "Attributes": {"SqsManagedSseEnabled": "true", "KmsMasterKeyId": "k1"}}),
        )
        .unwrap_err();
    assert_eq!(e.shape, "InvalidAttributeName");
    assert!(
        e.message
            .starts_with("You can use one type of server-side encryption")
    );
    let url = env.create("q", json!({}));
    let attrs = |env: &Env| {
        env.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["All"]}),
        )["Attributes"]
            .clone()
    };
    assert_eq!(attrs(&env)["SqsManagedSseEnabled"], "true");
    assert!(attrs(&env).get("KmsMasterKeyId").is_none());
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"KmsMasterKeyId": "alias/aws/sqs"}}),
    );
    let a = attrs(&env);
    assert_eq!(a["SqsManagedSseEnabled"], "false");
    assert_eq!(a["KmsMasterKeyId"], "alias/aws/sqs");
    assert_eq!(a["KmsDataKeyReusePeriodSeconds"], "300");
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"SqsManagedSseEnabled": "true"}}),
    );
    let a = attrs(&env);
    assert_eq!(a["SqsManagedSseEnabled"], "true");
    assert!(a.get("KmsMasterKeyId").is_none());
}

#[test]
fn dead_letters_keep_their_sealed_bodies() {
    let env = Env::new();
    let (_, dlq, _) = env.dead_letters(3);
    assert!(
        messages(&env)
            .iter()
            .all(|r| matches!(r, Rec::SealedMessage(_)))
    );
    let env = env.restarted();
    let mut got = Env::bodies(&env.receive(&dlq, json!({})));
    got.sort();
    assert_eq!(got, vec!["m0", "m1", "m2"]);
}

#[test]
fn the_sweep_drops_data_keys_no_message_needs() {
    let env = Env::new();
    let url = kms_queue(&env, "60");
    send(&env, &url, "a").unwrap();
    let data_keys = |env: &Env| {
        env.sqs
            .store
            .snapshot()
            .iter()
            .filter(|(_, r)| matches!(r, Rec::DataKey(_)))
            .count()
    };
    env.advance(MAX_REUSE_SECONDS * 1000);
    env.sqs.sweep();
    assert_eq!(data_keys(&env), 1, "a message still needs it");
    let got = env.receive(&url, json!({}));
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": got[0]["ReceiptHandle"]}),
    );
    env.sqs.sweep();
    assert_eq!(data_keys(&env), 0);
}

proptest! {
    #[test]
    fn sealed_bodies_open_to_what_was_sent(body in "\\PC{0,300}", key: [u8; 32], id in "[a-f0-9-]{1,36}") {
        let m = MessageRec::sample(&id, &body);
        let bk = BodyKey::Sqs { account: "a".into(), region: "r".into() };
        let sealer = Sealer::Key { key: bk.clone(), plain: key, record: None };
        let rec = sealer.seal(m);
        // The record round-trips through its encoding and opens to the body.
        let back: Rec = postcard::from_bytes(&postcard::to_allocvec(&rec).unwrap()).unwrap();
        prop_assert_eq!(&back, &rec);
        let opened: Opened = [(bk.clone(), key)].into_iter().collect();
        prop_assert_eq!(body_of(&back, &opened), Some(body.clone()));
        prop_assert_eq!(body_of(&back, &Opened::new()), None);
        // Under another message id (a body copied into another record) it does not open.
        if let Rec::SealedMessage(mut s) = back {
            s.message.id.push('x');
            prop_assert_eq!(body_of(&Rec::SealedMessage(s), &opened), None);
        }
    }
}

#[test]
fn a_receive_names_the_keys_it_could_not_open_and_the_next_look_opens_them() {
    let env = Env::new();
    let url = kms_queue(&env, "60");
    send(&env, &url, "a").unwrap();
    env.advance(61_000);
    send(&env, &url, "b").unwrap();
    // After a restart nothing is held: an attempt with no key opened takes nothing and names
    // the two data keys it met, leaving both messages where they were.
    let env = env.restarted();
    let p = Partition::new("000000000000", "us-east-1");
    let mut missing = Vec::new();
    let (got, _, _) = env
        .sqs
        .receive_once(&p, "enc", 10, None, None, &Opened::new(), &mut missing)
        .unwrap();
    assert!(got.is_empty());
    assert_eq!(missing.len(), 2);
    assert!(missing.iter().all(|k| matches!(k, BodyKey::Kms { .. })));
    assert_eq!(env.count(&url), 2);
    // A receive opens them (once each) and returns both.
    assert_eq!(env.receive(&url, json!({})).len(), 2);
    assert_eq!(env.kms_calls("Decrypt"), 2);
}

//! Service-level tests on a manual clock: every timer is moved, never slept through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::*;
use snapstack_service::RequestContext;

const T0: u64 = 1_700_000_000_000;

struct Env {
    sqs: Sqs,
    clock: Arc<ManualClock>,
    ctx: RequestContext,
}

impl Env {
    fn new() -> Env {
        let clock = Arc::new(ManualClock(AtomicU64::new(T0)));
        Env {
            sqs: Sqs::with_clock(clock.clone()),
            clock,
            ctx: RequestContext::from_scope(None),
        }
    }

    /// The same state in a fresh service (what a restart's load gives).
    fn restarted(&self) -> Env {
        let clock = Arc::new(ManualClock(AtomicU64::new(self.clock.now_ms())));
        let sqs = Sqs::with_clock(clock.clone());
        sqs.store.replace(self.sqs.store.snapshot().map().clone());
        Env {
            sqs,
            clock,
            ctx: self.ctx.clone(),
        }
    }

    fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    fn call(&self, op: &str, input: Value) -> Result<Value, SqsError> {
        let req = Req {
            ctx: &self.ctx,
            host: "localhost:4566",
            urls: &super::queue::DYNAMIC_URLS,
            rt: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(self.sqs.handle(&req, op, input))
            .map(|o| o.body)
    }

    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|e| panic!("{op} failed: {e}"))
    }

    fn create(&self, name: &str, attrs: Value) -> String {
        self.ok(
            "CreateQueue",
            json!({"QueueName": name, "Attributes": attrs}),
        )["QueueUrl"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn receive(&self, url: &str, extra: Value) -> Vec<Value> {
        let mut input =
            json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "AttributeNames": ["All"]});
        if let (Value::Object(a), Value::Object(b)) = (&mut input, extra) {
            a.extend(b);
        }
        self.ok("ReceiveMessage", input)["Messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn bodies(&self, url: &str, extra: Value) -> Vec<String> {
        self.receive(url, extra)
            .iter()
            .map(|m| m["Body"].as_str().unwrap().to_string())
            .collect()
    }

    fn attr(&self, url: &str, name: &str) -> String {
        self.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": [name]}),
        )["Attributes"][name]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[test]
fn visibility_timeouts_are_deadlines() {
    let env = Env::new();
    let url = env.create("q", json!({"VisibilityTimeout": "30"}));
    env.ok("SendMessage", json!({"QueueUrl": url, "MessageBody": "m"}));
    assert_eq!(env.bodies(&url, json!({})), ["m"]);
    env.advance(29_999);
    assert!(env.bodies(&url, json!({})).is_empty());
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessagesNotVisible"), "1");
    env.advance(1);
    let got = env.receive(&url, json!({"VisibilityTimeout": 5}));
    assert_eq!(got[0]["Attributes"]["ApproximateReceiveCount"], "2");
    env.advance(5_000);
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "1");
}

#[test]
fn delays_per_queue_and_per_message() {
    let env = Env::new();
    let url = env.create("q", json!({"DelaySeconds": "10"}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "queue delay"}),
    );
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "own delay", "DelaySeconds": 2}),
    );
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessagesDelayed"), "2");
    env.advance(2_000);
    assert_eq!(env.bodies(&url, json!({})), ["own delay"]);
    env.advance(8_000);
    assert_eq!(env.bodies(&url, json!({})), ["queue delay"]);
}

#[test]
fn retention_expires_messages_and_the_sweep_frees_them() {
    let env = Env::new();
    let url = env.create("q", json!({"MessageRetentionPeriod": "60"}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "old"}),
    );
    env.advance(30_000);
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "new"}),
    );
    env.advance(30_000);
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "1");
    assert_eq!(env.sqs.sweep(), 1);
    assert_eq!(env.sqs.sweep(), 0);
    assert_eq!(env.bodies(&url, json!({})), ["new"]);
}

#[test]
fn timers_and_receipts_survive_a_restart() {
    let env = Env::new();
    let url = env.create("q", json!({"MessageRetentionPeriod": "120"}));
    env.ok("SendMessage", json!({"QueueUrl": url, "MessageBody": "a"}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "b", "DelaySeconds": 20}),
    );
    let got = env.receive(&url, json!({"VisibilityTimeout": 10}));
    let handle = got[0]["ReceiptHandle"].as_str().unwrap().to_string();
    env.advance(5_000);
    let after = env.restarted();
    assert!(after.bodies(&url, json!({})).is_empty());
    after.advance(5_000);
    // Visible again at its original deadline; the old handle is superseded by this receive.
    let again = after.receive(&url, json!({"VisibilityTimeout": 100}));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["Body"], "a");
    after.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": handle}),
    );
    assert_eq!(
        after.attr(&url, "ApproximateNumberOfMessagesNotVisible"),
        "1"
    );
    // The current handle, issued before another restart, deletes it.
    let handle = again[0]["ReceiptHandle"].as_str().unwrap().to_string();
    let later = after.restarted();
    later.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": handle}),
    );
    assert_eq!(
        later.attr(&url, "ApproximateNumberOfMessagesNotVisible"),
        "0"
    );
    // The delayed one appears on time; retention keeps counting from the first send.
    later.advance(9_999);
    assert!(later.bodies(&url, json!({})).is_empty());
    later.advance(1);
    assert_eq!(later.bodies(&url, json!({"VisibilityTimeout": 0})), ["b"]);
    later.advance(100_000);
    assert!(later.bodies(&url, json!({})).is_empty());
    assert_eq!(later.attr(&url, "ApproximateNumberOfMessages"), "0");
}

#[test]
fn fifo_groups_block_while_in_flight() {
    let env = Env::new();
    let url = env.create("q.fifo", json!({"FifoQueue": "true"}));
    for (i, g) in ["a", "a", "b"].iter().enumerate() {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": format!("{g}{i}"), "MessageGroupId": g, "MessageDeduplicationId": format!("d{i}")}),
        );
    }
    assert_eq!(
        env.bodies(
            &url,
            json!({"MaxNumberOfMessages": 1, "VisibilityTimeout": 10})
        ),
        ["a0"]
    );
    // a1 waits behind a0 in flight; b is free.
    assert_eq!(env.bodies(&url, json!({"VisibilityTimeout": 10})), ["b2"]);
    env.advance(10_000);
    assert_eq!(
        env.bodies(&url, json!({"VisibilityTimeout": 10})),
        ["a0", "a1", "b2"]
    );
}

#[test]
fn fifo_deduplication_window_is_five_minutes() {
    let env = Env::new();
    let url = env.create(
        "q.fifo",
        json!({"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
    );
    let send = || {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "same", "MessageGroupId": "g"}),
        )
    };
    let first = send();
    env.advance(299_999);
    assert_eq!(send()["MessageId"], first["MessageId"]);
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "1");
    env.advance(1);
    assert_ne!(send()["MessageId"], first["MessageId"]);
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "2");
}

#[test]
fn redrive_moves_a_message_after_max_receives() {
    let env = Env::new();
    let dlq = env.create("dlq", json!({}));
    let arn = env.attr(&dlq, "QueueArn");
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 2}).to_string();
    let src = env.create("src", json!({"RedrivePolicy": policy}));
    env.ok("SendMessage", json!({"QueueUrl": src, "MessageBody": "p"}));
    for _ in 0..2 {
        assert_eq!(env.bodies(&src, json!({"VisibilityTimeout": 0})), ["p"]);
    }
    assert!(env.bodies(&src, json!({})).is_empty());
    let got = env.receive(&dlq, json!({}));
    assert_eq!(
        got[0]["Attributes"]["DeadLetterQueueSourceArn"],
        env.attr(&src, "QueueArn")
    );
    // A redrive target that does not exist is refused.
    let bad = json!({"deadLetterTargetArn": format!("{arn}-x"), "maxReceiveCount": 2}).to_string();
    let e = env
        .call(
            "CreateQueue",
            json!({"QueueName": "x", "Attributes": {"RedrivePolicy": bad}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    // So is one in another region, even if a queue of that name exists there.
    let elsewhere = arn.replace("us-east-1", "eu-west-1");
    let other = json!({"deadLetterTargetArn": elsewhere, "maxReceiveCount": 2}).to_string();
    let e = env
        .call(
            "CreateQueue",
            json!({"QueueName": "y", "Attributes": {"RedrivePolicy": other}}),
        )
        .unwrap_err();
    assert!(e.message.contains("same account and region"), "{e}");
}

#[test]
fn change_visibility_needs_the_current_handle_of_a_message_in_flight() {
    let env = Env::new();
    let url = env.create("q", json!({}));
    env.ok("SendMessage", json!({"QueueUrl": url, "MessageBody": "m"}));
    let got = env.receive(&url, json!({"VisibilityTimeout": 30}));
    let h = got[0]["ReceiptHandle"].as_str().unwrap().to_string();
    env.ok(
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": h, "VisibilityTimeout": 0}),
    );
    let e = env
        .call(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": h, "VisibilityTimeout": 10}),
        )
        .unwrap_err();
    assert_eq!(e.shape, "MessageNotInflight");
    let e = env
        .call(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": "x", "VisibilityTimeout": 10}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ReceiptHandleIsInvalid");
    // A handle of another queue is not valid here.
    let other = env.create("other", json!({}));
    let e = env
        .call(
            "DeleteMessage",
            json!({"QueueUrl": other, "ReceiptHandle": h}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ReceiptHandleIsInvalid");
}

#[test]
fn a_receive_that_changes_nothing_writes_nothing() {
    let env = Env::new();
    let url = env.create("q", json!({}));
    let req = Req {
        ctx: &env.ctx,
        host: "h",
        urls: &super::queue::DYNAMIC_URLS,
        rt: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let out = rt
        .block_on(
            env.sqs
                .handle(&req, "ReceiveMessage", json!({"QueueUrl": url})),
        )
        .unwrap();
    assert_eq!(out.version, None);
    env.ok("SendMessage", json!({"QueueUrl": url, "MessageBody": "m"}));
    let out = rt
        .block_on(
            env.sqs
                .handle(&req, "ReceiveMessage", json!({"QueueUrl": url})),
        )
        .unwrap();
    assert!(out.version.is_some());
}

#[test]
fn records_roundtrip_through_the_snapshot_encoding() {
    let env = Env::new();
    let url = env.create("q.fifo", json!({"FifoQueue": "true"}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "m", "MessageGroupId": "g", "MessageDeduplicationId": "d",
               "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "AAE="}}}),
    );
    env.receive(&url, json!({}));
    for (_, rec) in env.sqs.store.snapshot().iter() {
        let bytes = postcard::to_allocvec(rec).unwrap();
        let back: model::Rec = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&back, rec);
    }
}

#[test]
fn deduplication_scoped_to_the_message_group() {
    let env = Env::new();
    let url = env.create(
        "q.fifo",
        json!({"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}),
    );
    for g in ["a", "b", "a"] {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "x", "MessageGroupId": g, "MessageDeduplicationId": "same"}),
        );
    }
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "2");
    // Attributes of FIFO queues only are refused on a standard queue.
    let e = env
        .call(
            "CreateQueue",
            json!({"QueueName": "std", "Attributes": {"ContentBasedDeduplication": "true"}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidAttributeName");
}

#[test]
fn a_retried_fifo_receive_attempt_gets_the_same_messages_and_handles() {
    let env = Env::new();
    let url = env.create("q.fifo", json!({"FifoQueue": "true"}));
    for i in 0..3 {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": format!("m{i}"), "MessageGroupId": format!("g{i}"), "MessageDeduplicationId": format!("d{i}")}),
        );
    }
    let attempt = json!({"ReceiveRequestAttemptId": "try-1", "MaxNumberOfMessages": 2, "VisibilityTimeout": 30});
    let first = env.receive(&url, attempt.clone());
    assert_eq!(first.len(), 2);
    env.advance(20_000);
    let again = env.receive(&url, attempt.clone());
    let handles =
        |v: &[Value]| -> Vec<Value> { v.iter().map(|m| m["ReceiptHandle"].clone()).collect() };
    assert_eq!(handles(&again), handles(&first));
    // The retry restarted the visibility timeout.
    env.advance(20_000);
    assert_eq!(env.bodies(&url, json!({})), ["m2"]);
    // Once a message changed, the attempt no longer replays.
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": first[0]["ReceiptHandle"]}),
    );
    let third = env.receive(&url, attempt);
    assert_ne!(handles(&third), handles(&first));
}

mod model_check {
    //! Random operations against a plain model of a standard queue: every message is delivered
    //! only while visible, never after its deletion, and the counts add up.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Send { delay: u8 },
        Receive { max: u8, vis: u8 },
        Delete { pick: u8 },
        Hide { pick: u8, vis: u8 },
        Wait { secs: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4).prop_map(|delay| Op::Send { delay }),
            (1u8..=10, 0u8..5).prop_map(|(max, vis)| Op::Receive { max, vis }),
            any::<u8>().prop_map(|pick| Op::Delete { pick }),
            (any::<u8>(), 0u8..5).prop_map(|(pick, vis)| Op::Hide { pick, vis }),
            (0u8..4).prop_map(|secs| Op::Wait { secs }),
        ]
    }

    /// What the model knows of a message: when it may next be delivered, and its latest handle.
    struct Known {
        visible_at: u64,
        handle: Option<String>,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn deliveries_follow_the_deadlines(ops in proptest::collection::vec(op(), 1..60)) {
            let env = Env::new();
            let url = env.create("q", json!({}));
            let mut live: BTreeMap<String, Known> = BTreeMap::new();
            let mut n = 0;
            for op in ops {
                let now = env.clock.now_ms();
                match op {
                    Op::Send { delay } => {
                        let body = format!("m{n}");
                        n += 1;
                        env.ok("SendMessage", json!({"QueueUrl": url, "MessageBody": body, "DelaySeconds": delay}));
                        live.insert(body, Known { visible_at: now + u64::from(delay) * 1000, handle: None });
                    }
                    Op::Receive { max, vis } => {
                        let got = env.receive(&url, json!({"MaxNumberOfMessages": max, "VisibilityTimeout": vis}));
                        prop_assert!(got.len() <= usize::from(max));
                        let visible = live.values().filter(|k| k.visible_at <= now).count();
                        // Every visible message is deliverable: a receive takes as many as it may.
                        prop_assert_eq!(got.len(), visible.min(usize::from(max)));
                        for m in got {
                            let body = m["Body"].as_str().unwrap().to_string();
                            let k = live.get_mut(&body);
                            prop_assert!(k.is_some(), "delivered a deleted message {}", body);
                            let k = k.unwrap();
                            prop_assert!(k.visible_at <= now, "delivered {} before its deadline", body);
                            k.visible_at = now + u64::from(vis) * 1000;
                            k.handle = Some(m["ReceiptHandle"].as_str().unwrap().to_string());
                        }
                    }
                    Op::Delete { pick } => {
                        let handles: Vec<(String, String)> = live
                            .iter()
                            .filter_map(|(b, k)| k.handle.clone().map(|h| (b.clone(), h)))
                            .collect();
                        if handles.is_empty() {
                            continue;
                        }
                        let (body, h) = &handles[usize::from(pick) % handles.len()];
                        env.ok("DeleteMessage", json!({"QueueUrl": url, "ReceiptHandle": h}));
                        live.remove(body);
                    }
                    Op::Hide { pick, vis } => {
                        let in_flight: Vec<(String, String)> = live
                            .iter()
                            .filter(|(_, k)| k.visible_at > now)
                            .filter_map(|(b, k)| k.handle.clone().map(|h| (b.clone(), h)))
                            .collect();
                        if in_flight.is_empty() {
                            continue;
                        }
                        let (body, h) = &in_flight[usize::from(pick) % in_flight.len()];
                        env.ok("ChangeMessageVisibility", json!({"QueueUrl": url, "ReceiptHandle": h, "VisibilityTimeout": vis}));
                        if let Some(k) = live.get_mut(body) {
                            k.visible_at = now + u64::from(vis) * 1000;
                        }
                    }
                    Op::Wait { secs } => env.advance(u64::from(secs) * 1000),
                }
                let now = env.clock.now_ms();
                let total: u64 = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
                    .iter()
                    .map(|a| env.attr(&url, a).parse::<u64>().unwrap())
                    .sum();
                prop_assert_eq!(total as usize, live.len());
                let visible: u64 = env.attr(&url, "ApproximateNumberOfMessages").parse().unwrap();
                prop_assert_eq!(visible as usize, live.values().filter(|k| k.visible_at <= now).count());
            }
        }
    }
}

#[test]
fn a_stopping_server_ends_long_polls_and_a_send_wakes_them() {
    let env = Arc::new(Env::new());
    let url = env.create("q", json!({}));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let poll = |env: Arc<Env>, url: String| async move {
        let req = Req {
            ctx: &env.ctx,
            host: "h",
            urls: &super::queue::DYNAMIC_URLS,
            rt: None,
        };
        env.sqs
            .handle(
                &req,
                "ReceiveMessage",
                json!({"QueueUrl": url, "WaitTimeSeconds": 20}),
            )
            .await
            .map(|o| o.body)
    };
    let waiting = |env: &Env| {
        let w = env.sqs.waiters.lock().unwrap();
        !w.is_empty()
    };
    rt.block_on(async {
        // A send wakes the waiting receiver (well before its 20 s).
        let task = tokio::spawn(poll(env.clone(), url.clone()));
        while !waiting(&env) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (e, u) = (env.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            e.ok("SendMessage", json!({"QueueUrl": u, "MessageBody": "hi"}))
        })
        .await
        .unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("woken by the send")
            .unwrap()
            .unwrap();
        assert_eq!(got["Messages"][0]["Body"], "hi");
        // Stopping answers a waiting receiver at once, empty.
        let task = tokio::spawn(poll(env.clone(), url.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        env.sqs.stop_waiting();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), task)
            .await
            .expect("ended by the stop")
            .unwrap()
            .unwrap();
        assert_eq!(got, json!({}));
    });
}

/// The same service seen by a caller of `account` (its access key).
fn as_account(env: &Env, account: &str) -> Env {
    let scope = snapstack_protocol::request::CredentialScope {
        access_key: account.into(),
        date: "20240101".into(),
        region: "us-east-1".into(),
        service: "sqs".into(),
    };
    let clock = env.clock.clone();
    Env {
        sqs: Sqs::with_clock(clock.clone()),
        clock,
        ctx: RequestContext::from_scope(Some(scope)),
    }
}

#[test]
fn another_accounts_queue_is_closed_without_a_policy() {
    let base = Env::new();
    let b = as_account(&base, "222222222222");
    let mut a = as_account(&base, "111111111111");
    a.sqs = Sqs::with_clock(b.clock.clone());
    // One service, two callers: share B's store with A.
    a.sqs.store.replace(b.sqs.store.snapshot().map().clone());
    let url = b.create("owned", json!({}));
    b.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "secret"}),
    );
    a.sqs.store.replace(b.sqs.store.snapshot().map().clone());
    let denied = |op: &str, input: Value| {
        let e = a.call(op, input).unwrap_err();
        assert_eq!(e.code, "AccessDenied", "{op}: {e}");
        assert_eq!(
            e.status,
            snapstack_protocol::http::StatusCode::FORBIDDEN,
            "{op}"
        );
    };
    let u = json!(url);
    denied("SendMessage", json!({"QueueUrl": u, "MessageBody": "x"}));
    denied(
        "SendMessageBatch",
        json!({"QueueUrl": u, "Entries": [{"Id": "1", "MessageBody": "x"}]}),
    );
    denied("ReceiveMessage", json!({"QueueUrl": u}));
    denied("PurgeQueue", json!({"QueueUrl": u}));
    denied(
        "GetQueueAttributes",
        json!({"QueueUrl": u, "AttributeNames": ["All"]}),
    );
    denied(
        "SetQueueAttributes",
        json!({"QueueUrl": u, "Attributes": {"DelaySeconds": "5"}}),
    );
    denied("DeleteQueue", json!({"QueueUrl": u}));
    denied("TagQueue", json!({"QueueUrl": u, "Tags": {"k": "v"}}));
    denied("UntagQueue", json!({"QueueUrl": u, "TagKeys": ["k"]}));
    denied("ListQueueTags", json!({"QueueUrl": u}));
    denied(
        "DeleteMessage",
        json!({"QueueUrl": u, "ReceiptHandle": "x"}),
    );
    denied(
        "ChangeMessageVisibility",
        json!({"QueueUrl": u, "ReceiptHandle": "x", "VisibilityTimeout": 0}),
    );
    denied("ListDeadLetterSourceQueues", json!({"QueueUrl": u}));
    denied(
        "AddPermission",
        json!({"QueueUrl": u, "Label": "l", "AWSAccountIds": ["111111111111"], "Actions": ["SendMessage"]}),
    );
    // A queue of B that does not exist answers the same: nothing tells them apart.
    denied(
        "SendMessage",
        json!({"QueueUrl": url.replace("owned", "absent"), "MessageBody": "x"}),
    );
    let arn = "arn:aws:sqs:us-east-1:222222222222:owned";
    denied("StartMessageMoveTask", json!({"SourceArn": arn}));
    denied("ListMessageMoveTasks", json!({"SourceArn": arn}));
    let e = a
        .call(
            "GetQueueUrl",
            json!({"QueueName": "owned", "QueueOwnerAWSAccountId": "222222222222"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "AWS.SimpleQueueService.NonExistentQueue");
    assert!(e.message.contains("do not have access"), "{}", e.message);
    // A's own queue with B's queue as its dead-letter target is refused too.
    let mine = a.create("mine", json!({}));
    let e = a
        .call(
            "SetQueueAttributes",
            json!({"QueueUrl": mine, "Attributes": {"RedrivePolicy": json!({"deadLetterTargetArn": arn, "maxReceiveCount": 1}).to_string()}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue", "{e}");
    // Nothing of B's changed, and B still reads its message.
    assert_eq!(b.bodies(&url, json!({})), vec!["secret".to_string()]);
}

#[test]
fn a_queue_policy_opens_exactly_what_it_grants() {
    let base = Env::new();
    let b = as_account(&base, "222222222222");
    let url = b.create("shared", json!({}));
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
        "Resource": "arn:aws:sqs:us-east-1:222222222222:shared",
    }]});
    b.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"Policy": policy.to_string()}}),
    );
    let mut a = as_account(&base, "111111111111");
    a.sqs = Sqs::with_clock(b.clock.clone());
    a.sqs.store.replace(b.sqs.store.snapshot().map().clone());
    let got = a.ok(
        "GetQueueUrl",
        json!({"QueueName": "shared", "QueueOwnerAWSAccountId": "222222222222"}),
    );
    assert_eq!(got["QueueUrl"], json!(url));
    a.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "from A"}),
    );
    a.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [{"Id": "1", "MessageBody": "batch from A"}]}),
    );
    for (op, input) in [
        ("PurgeQueue", json!({"QueueUrl": url})),
        ("ReceiveMessage", json!({"QueueUrl": url})),
        ("GetQueueAttributes", json!({"QueueUrl": url})),
    ] {
        let e = a.call(op, input).unwrap_err();
        assert_eq!(e.code, "AccessDenied", "{op}: {e}");
    }
    // Owner-only actions stay closed even under "sqs:*" for everyone.
    let open = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]});
    b.sqs.store.replace(a.sqs.store.snapshot().map().clone());
    b.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"Policy": open.to_string()}}),
    );
    a.sqs.store.replace(b.sqs.store.snapshot().map().clone());
    assert_eq!(a.receive(&url, json!({})).len(), 2);
    for (op, input) in [
        ("DeleteQueue", json!({"QueueUrl": url})),
        ("TagQueue", json!({"QueueUrl": url, "Tags": {"k": "v"}})),
        (
            "SetQueueAttributes",
            json!({"QueueUrl": url, "Attributes": {"Policy": ""}}),
        ),
    ] {
        let e = a.call(op, input).unwrap_err();
        assert_eq!(e.code, "AccessDenied", "{op}: {e}");
    }
    a.ok("PurgeQueue", json!({"QueueUrl": url}));
}

#[test]
fn an_empty_policy_clears_the_attribute() {
    let env = Env::new();
    let dlq = env.create("dlq", json!({}));
    let src = env.create("src", json!({}));
    let policy =
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"}]});
    let allow = json!({"redrivePermission": "allowAll"});
    let redrive = json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 2});
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": dlq, "Attributes": {"Policy": policy.to_string(), "RedriveAllowPolicy": allow.to_string()}}),
    );
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": src, "Attributes": {"RedrivePolicy": redrive.to_string()}}),
    );
    let all = |url: &str| {
        env.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["All"]}),
        )["Attributes"]
            .clone()
    };
    assert!(all(&dlq)["Policy"].is_string());
    assert!(all(&dlq)["RedriveAllowPolicy"].is_string());
    // Terraform deletes these by setting them to "" and then waits until they are gone.
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": dlq, "Attributes": {"Policy": "", "RedriveAllowPolicy": ""}}),
    );
    env.ok(
        "SetQueueAttributes",
        json!({"QueueUrl": src, "Attributes": {"RedrivePolicy": ""}}),
    );
    for (url, name) in [
        (&dlq, "Policy"),
        (&dlq, "RedriveAllowPolicy"),
        (&src, "RedrivePolicy"),
    ] {
        assert!(all(url).get(name).is_none(), "{name}: {}", all(url));
    }
    // Created with an empty policy: none is kept either.
    let bare = env.create("bare", json!({"Policy": "", "RedriveAllowPolicy": ""}));
    assert!(all(&bare).get("Policy").is_none(), "{}", all(&bare));
    assert!(all(&bare).get("RedriveAllowPolicy").is_none());
}

#[test]
fn a_purge_forgets_deduplication_ids_and_senders_are_principals() {
    let env = Env::new();
    let url = env.create("p.fifo", json!({"FifoQueue": "true"}));
    let send = |body: &str| {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body, "MessageGroupId": "g", "MessageDeduplicationId": "d1"}),
        )
    };
    send("one");
    send("dropped");
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "1");
    env.ok("PurgeQueue", json!({"QueueUrl": url}));
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "0");
    send("after the purge");
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "1");
    let got = env.receive(&url, json!({}));
    assert_eq!(got[0]["Body"], "after the purge");
    // The sender is the account's principal, not the access key that signed.
    assert_eq!(got[0]["Attributes"]["SenderId"], env.ctx.account());
}

#[test]
fn high_throughput_fifo_deduplicates_within_a_batch_and_a_group() {
    let env = Env::new();
    let url = env.create(
        "ht.fifo",
        json!({"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}),
    );
    let out = env.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "1", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "same"},
            {"Id": "2", "MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "same"},
            {"Id": "3", "MessageBody": "c", "MessageGroupId": "h", "MessageDeduplicationId": "same"}]}),
    );
    let ok = out["Successful"].as_array().unwrap();
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[0]["MessageId"], ok[1]["MessageId"]);
    assert_eq!(env.attr(&url, "ApproximateNumberOfMessages"), "2");
    let mut bodies = env.bodies(&url, json!({}));
    bodies.sort();
    assert_eq!(bodies, ["a", "c"]);
}

#[test]
fn a_queue_name_is_accepted_where_a_url_is_expected() {
    let env = Env::new();
    let url = env.create("named", json!({}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": "named", "MessageBody": "by name"}),
    );
    assert_eq!(env.bodies(&url, json!({})), ["by name"]);
    let e = env
        .call(
            "SendMessage",
            json!({"QueueUrl": "other", "MessageBody": "x"}),
        )
        .unwrap_err();
    assert_eq!(e.code, "AWS.SimpleQueueService.NonExistentQueue");
}

/// The `AWS/SQS` counters follow the requests (sends with sizes, receives, empty receives,
/// deletes) and the gauges the queue's state on the clock.
#[test]
fn metrics_count_requests_and_gauge_the_queue() {
    let env = Env::new();
    // The service reads its switch from the environment; on by default.
    if !env.sqs.metrics.settings.enabled {
        return;
    }
    let url = env.create("m", json!({}));
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "hello"}),
    );
    env.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "xx"}, {"Id": "b", "MessageBody": "yyy", "DelaySeconds": 60}]}),
    );
    let got = env.receive(&url, json!({}));
    assert_eq!(got.len(), 2);
    assert!(env.receive(&url, json!({})).is_empty());
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": got[0]["ReceiptHandle"]}),
    );
    let p = env.ctx.partition.clone();
    let c = env.sqs.metrics.drain()[&p]["m"];
    assert_eq!(
        (c.sent, c.received, c.empty_receives, c.deleted),
        (3, 2, 1, 1)
    );
    assert_eq!(
        (c.sizes.count, c.sizes.sum, c.sizes.min, c.sizes.max),
        (3.0, 10.0, 2.0, 5.0)
    );
    env.advance(5_000);
    let g = metrics::gauges(&env.sqs.store.snapshot(), env.sqs.now());
    let (_, name, g) = g.into_iter().find(|(_, n, _)| n == "m").unwrap();
    assert_eq!(name, "m");
    assert_eq!((g.visible, g.not_visible, g.delayed), (0, 1, 1));
    assert_eq!(g.oldest_sent_ms, Some(T0));
}

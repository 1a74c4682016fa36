//! FIFO queues in their corner cases, as SQS documents them: a group is blocked while any of its
//! messages is in flight; a receive takes as many messages of one group as it can, in order; a
//! message returned to the queue (visibility expiry, ChangeMessageVisibility 0) is its group's
//! head again; redrive to a FIFO dead-letter queue keeps a group's order; a retried receive
//! attempt gets the same messages within five minutes; deduplication per message group.

use serde_json::{Value, json};

use crate::test_env::Env;

fn fifo(env: &Env, name: &str, extra: Value) -> String {
    let mut attrs = json!({"FifoQueue": "true", "ContentBasedDeduplication": "true"});
    if let (Value::Object(a), Value::Object(b)) = (&mut attrs, extra) {
        a.extend(b);
    }
    env.create(name, attrs)
}

fn send(env: &Env, url: &str, group: &str, body: &str) -> Value {
    env.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": body, "MessageGroupId": group}),
    )
}

fn bodies(msgs: &[Value]) -> Vec<String> {
    Env::bodies(msgs)
}

#[test]
fn a_receive_takes_one_group_first_in_order() {
    let env = Env::new();
    let url = fifo(&env, "g.fifo", json!({}));
    for body in ["a0", "b0", "a1", "b1", "a2"] {
        send(&env, &url, &body[..1], body);
    }
    let first = env.receive(&url, json!({"MaxNumberOfMessages": 3}));
    assert_eq!(bodies(&first), ["a0", "a1", "a2"]);
    // Group a is in flight: only b's messages come, in order.
    let second = env.receive(&url, json!({}));
    assert_eq!(bodies(&second), ["b0", "b1"]);
    assert!(
        env.receive(&url, json!({})).is_empty(),
        "both groups blocked"
    );
    // Room for more than one group: the first group's messages, then the next group's.
    let url2 = fifo(&env, "h.fifo", json!({}));
    for body in ["x0", "y0", "x1", "y1"] {
        send(&env, &url2, &body[..1], body);
    }
    let all = env.receive(&url2, json!({}));
    assert_eq!(bodies(&all), ["x0", "x1", "y0", "y1"]);
}

#[test]
fn a_group_is_blocked_while_any_message_of_it_is_in_flight() {
    let env = Env::new();
    let url = fifo(&env, "b.fifo", json!({}));
    for body in ["a0", "a1", "a2"] {
        send(&env, &url, "a", body);
    }
    let got = env.receive(
        &url,
        json!({"MaxNumberOfMessages": 2, "VisibilityTimeout": 30}),
    );
    assert_eq!(bodies(&got), ["a0", "a1"]);
    // a0 is deleted, a1 still in flight: a2 waits.
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": got[0]["ReceiptHandle"]}),
    );
    assert!(env.receive(&url, json!({})).is_empty());
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": got[1]["ReceiptHandle"]}),
    );
    assert_eq!(bodies(&env.receive(&url, json!({}))), ["a2"]);
}

#[test]
fn a_returned_message_is_its_groups_head_again() {
    let env = Env::new();
    let url = fifo(&env, "r.fifo", json!({}));
    for body in ["a0", "a1", "a2"] {
        send(&env, &url, "a", body);
    }
    // The visibility timeout expires: a0 comes first again, then the rest, in order.
    let got = env.receive(
        &url,
        json!({"MaxNumberOfMessages": 1, "VisibilityTimeout": 30}),
    );
    assert_eq!(bodies(&got), ["a0"]);
    env.advance(30_000);
    let again = env.receive(&url, json!({"VisibilityTimeout": 30}));
    assert_eq!(bodies(&again), ["a0", "a1", "a2"]);
    assert_eq!(again[0]["Attributes"]["ApproximateReceiveCount"], "2");
    assert_eq!(again[1]["Attributes"]["ApproximateReceiveCount"], "1");
    // ChangeMessageVisibility 0 on a1 only: a0 and a2 still in flight keep the group blocked
    // until they are back too; then the group starts over from a0.
    env.ok(
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": again[1]["ReceiptHandle"], "VisibilityTimeout": 0}),
    );
    assert!(env.receive(&url, json!({})).is_empty());
    for m in [&again[0], &again[2]] {
        env.ok(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}),
        );
    }
    assert_eq!(bodies(&env.receive(&url, json!({}))), ["a0", "a1", "a2"]);
}

#[test]
fn redrive_to_a_fifo_dead_letter_queue_keeps_the_groups_order() {
    let env = Env::new();
    let dlq = fifo(&env, "dead.fifo", json!({}));
    let dlq_arn = env.arn(&dlq);
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string();
    let src = fifo(
        &env,
        "src.fifo",
        json!({"RedrivePolicy": policy, "VisibilityTimeout": "5"}),
    );
    for body in ["a0", "a1", "a2", "b0"] {
        send(&env, &src, &body[..1], body);
    }
    let got = env.receive(&src, json!({"MaxNumberOfMessages": 2}));
    assert_eq!(bodies(&got), ["a0", "a1"]);
    env.advance(5_000);
    // a0 and a1 go to the dead-letter queue; a2 (received for the first time) and b0 take
    // their places in the same receive.
    let next = env.receive(&src, json!({}));
    assert_eq!(bodies(&next), ["a2", "b0"]);
    let dead = env.receive(&dlq, json!({}));
    assert_eq!(bodies(&dead), ["a0", "a1"]);
    assert_eq!(dead[0]["Attributes"]["MessageGroupId"], "a");
    env.advance(5_000);
    assert!(env.receive(&src, json!({})).is_empty(), "all redriven");
    env.advance(30_000);
    assert_eq!(
        bodies(&env.receive(&dlq, json!({}))),
        ["a0", "a1", "a2", "b0"]
    );
}

#[test]
fn a_retried_receive_attempt_gets_the_same_messages_within_five_minutes() {
    let env = Env::new();
    let url = fifo(&env, "t.fifo", json!({}));
    for body in ["a0", "a1", "b0"] {
        send(&env, &url, &body[..1], body);
    }
    let attempt = json!({"MaxNumberOfMessages": 2, "ReceiveRequestAttemptId": "try-1"});
    let one = env.receive(&url, attempt.clone());
    env.advance(10_000);
    let two = env.receive(&url, attempt.clone());
    assert_eq!(bodies(&one), ["a0", "a1"]);
    let handles = |m: &[Value]| -> Vec<String> {
        m.iter()
            .map(|x| x["ReceiptHandle"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(handles(&one), handles(&two));
    // Another attempt id is another receive: the next group.
    assert_eq!(
        bodies(&env.receive(&url, json!({"ReceiveRequestAttemptId": "try-2"}))),
        ["b0"]
    );
    // Past the five-minute window the id starts a new receive: new handles.
    env.advance(5 * 60_000);
    let later = env.receive(&url, attempt);
    assert_eq!(bodies(&later), ["a0", "a1"]);
    assert_ne!(handles(&later), handles(&one));
    // A changed message ends the retry: deleting one, the same id receives anew.
    env.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": later[0]["ReceiptHandle"]}),
    );
    let after = env.receive(
        &url,
        json!({"MaxNumberOfMessages": 2, "ReceiveRequestAttemptId": "try-1"}),
    );
    // (a1 is still in flight, so group a is blocked: the next group comes.)
    assert_eq!(bodies(&after), ["b0"]);
}

#[test]
fn deduplication_per_message_group() {
    let env = Env::new();
    let url = env.create(
        "d.fifo",
        json!({"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}),
    );
    let send_id = |group: &str, body: &str| {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body, "MessageGroupId": group, "MessageDeduplicationId": "same"}),
        )
    };
    let g1 = send_id("g1", "one");
    let g2 = send_id("g2", "two");
    assert_ne!(
        g1["MessageId"], g2["MessageId"],
        "another group, another message"
    );
    let again = send_id("g1", "three");
    assert_eq!(
        again["MessageId"], g1["MessageId"],
        "deduplicated in its group"
    );
    assert_eq!(bodies(&env.receive(&url, json!({}))), ["one", "two"]);
    // Queue scope (the default): one id, one message, whatever the group.
    let q = fifo(
        &env,
        "q.fifo",
        json!({"ContentBasedDeduplication": "false"}),
    );
    for g in ["g1", "g2"] {
        env.ok(
            "SendMessage",
            json!({"QueueUrl": q, "MessageBody": g, "MessageGroupId": g, "MessageDeduplicationId": "same"}),
        );
    }
    assert_eq!(bodies(&env.receive(&q, json!({}))), ["g1"]);
}

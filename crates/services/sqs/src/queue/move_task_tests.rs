//! Message move tasks on a manual clock: the rate, progress, completion, cancellation,
//! failure, and a restart in the middle.

use serde_json::json;

use crate::test_env::Env;

#[test]
fn a_task_moves_at_its_rate_and_completes() {
    let env = Env::new();
    let (src, dlq, arn) = env.dead_letters(5);
    let handle = env.ok(
        "StartMessageMoveTask",
        json!({"SourceArn": arn, "MaxNumberOfMessagesPerSecond": 2}),
    )["TaskHandle"]
        .as_str()
        .unwrap()
        .to_string();
    let t = env.task(&arn);
    assert_eq!(t["Status"], "RUNNING");
    assert_eq!(t["TaskHandle"], handle.as_str());
    assert_eq!(t["ApproximateNumberOfMessagesToMove"], 5);
    assert_eq!(t["ApproximateNumberOfMessagesMoved"], 0);
    assert_eq!(t["MaxNumberOfMessagesPerSecond"], 2);
    // Nothing is due before the first half second at 2 per second.
    assert_eq!(env.sqs.step_move_tasks(), 1);
    assert_eq!(env.count(&src), 0);
    env.advance(500);
    env.sqs.step_move_tasks();
    assert_eq!(env.count(&src), 1);
    env.advance(1_000);
    env.sqs.step_move_tasks();
    assert_eq!(env.count(&src), 3);
    assert_eq!(env.task(&arn)["ApproximateNumberOfMessagesMoved"], 3);
    env.advance(1_000);
    assert_eq!(env.sqs.step_move_tasks(), 0, "finished");
    assert_eq!((env.count(&src), env.count(&dlq)), (5, 0));
    let t = env.task(&arn);
    assert_eq!(t["Status"], "COMPLETED");
    assert_eq!(t["ApproximateNumberOfMessagesMoved"], 5);
    assert!(
        t.get("TaskHandle").is_none(),
        "only a running task shows its handle"
    );
    // A finished task cannot be cancelled.
    let e = env
        .call("CancelMessageMoveTask", json!({"TaskHandle": handle}))
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

#[test]
fn one_running_task_per_queue_and_cancel_stops_it() {
    let env = Env::new();
    let (src, dlq, arn) = env.dead_letters(4);
    let handle = env.ok(
        "StartMessageMoveTask",
        json!({"SourceArn": arn, "MaxNumberOfMessagesPerSecond": 1}),
    )["TaskHandle"]
        .as_str()
        .unwrap()
        .to_string();
    let e = env
        .call("StartMessageMoveTask", json!({"SourceArn": arn}))
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue");
    env.advance(1_000);
    env.sqs.step_move_tasks();
    let out = env.ok("CancelMessageMoveTask", json!({"TaskHandle": handle}));
    assert_eq!(out["ApproximateNumberOfMessagesMoved"], 1);
    env.advance(10_000);
    assert_eq!(env.sqs.step_move_tasks(), 0);
    assert_eq!((env.count(&src), env.count(&dlq)), (1, 3));
    assert_eq!(env.task(&arn)["Status"], "CANCELLED");
    // Another task may start now; without a rate it moves at the default one.
    env.ok("StartMessageMoveTask", json!({"SourceArn": arn}));
    env.advance(1_000);
    env.sqs.step_move_tasks();
    assert_eq!((env.count(&src), env.count(&dlq)), (4, 0));
    let all = env.ok(
        "ListMessageMoveTasks",
        json!({"SourceArn": arn, "MaxResults": 10}),
    )["Results"]
        .clone();
    let statuses: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["COMPLETED", "CANCELLED"]);
}

#[test]
fn a_restart_resumes_a_running_task_where_it_was() {
    let env = Env::new();
    let (src, _dlq, arn) = env.dead_letters(4);
    env.ok(
        "StartMessageMoveTask",
        json!({"SourceArn": arn, "MaxNumberOfMessagesPerSecond": 1}),
    );
    env.advance(1_000);
    env.sqs.step_move_tasks();
    assert_eq!(env.count(&src), 1);
    // Down for 10 s: the task catches up at most a second's worth per step, not in one burst
    // of everything it missed.
    env.advance(10_000);
    let after = env.restarted();
    assert_eq!(after.task(&arn)["Status"], "RUNNING");
    after.sqs.step_move_tasks();
    assert_eq!(after.count(&src), 2);
    after.advance(1_000);
    after.sqs.step_move_tasks();
    after.advance(1_000);
    after.sqs.step_move_tasks();
    assert_eq!(after.count(&src), 4);
    assert_eq!(after.task(&arn)["Status"], "COMPLETED");
}

#[test]
fn a_message_without_a_source_fails_the_task() {
    let env = Env::new();
    let (_src, dlq, arn) = env.dead_letters(1);
    // Sent to the dead-letter queue directly: it has no source queue to go back to.
    env.ok(
        "SendMessage",
        json!({"QueueUrl": dlq, "MessageBody": "direct"}),
    );
    env.ok("StartMessageMoveTask", json!({"SourceArn": arn}));
    env.advance(1_000);
    env.sqs.step_move_tasks();
    let t = env.task(&arn);
    assert_eq!(t["Status"], "FAILED");
    assert_eq!(t["FailureReason"], "CouldNotDetermineMessageSource");
    assert_eq!(t["ApproximateNumberOfMessagesMoved"], 1);
    // The failure reason survives a restart.
    assert_eq!(
        env.restarted().task(&arn)["FailureReason"],
        "CouldNotDetermineMessageSource"
    );
}

#[test]
fn a_destination_takes_the_messages() {
    let env = Env::new();
    let (src, _dlq, arn) = env.dead_letters(2);
    let other = env.create("other", json!({}));
    let other_arn = env.arn(&other);
    env.ok(
        "StartMessageMoveTask",
        json!({"SourceArn": arn, "DestinationArn": other_arn}),
    );
    env.advance(1_000);
    env.sqs.step_move_tasks();
    assert_eq!((env.count(&src), env.count(&other)), (0, 2));
    let t = env.task(&arn);
    assert_eq!(t["DestinationArn"], other_arn.as_str());
    assert_eq!(t["Status"], "COMPLETED");
}

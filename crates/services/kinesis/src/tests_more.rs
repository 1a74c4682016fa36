//! Unit tests of Kinesis's limits, settings, consumers, and what a flush writes.

use std::sync::Arc;

use serde_json::json;
use snapstack_engine::{Engine, EngineOptions};

use crate::tests::{NOW, b64, call, fails, iterator, kinesis, put, read_all};
use crate::*;

#[test]
fn put_records_limits_and_per_record_results() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 2}),
    );
    let recs: Vec<_> = (0..500)
        .map(|i| json!({"PartitionKey": format!("k{i}"), "Data": b64(format!("{i}").as_bytes())}))
        .collect();
    let r = call(
        &k,
        &ctx,
        "PutRecords",
        json!({"StreamName": "s", "Records": recs}),
    );
    assert_eq!(r["FailedRecordCount"], 0);
    assert_eq!(r["Records"].as_array().unwrap().len(), 500);
    let too_many: Vec<_> = (0..501)
        .map(|_| json!({"PartitionKey": "k", "Data": b64(b"x")}))
        .collect();
    let e = fails(
        &k,
        &ctx,
        "PutRecords",
        json!({"StreamName": "s", "Records": too_many}),
    );
    assert_eq!(e.code, "ValidationException");
    // A 1 MiB record is accepted (with a short key the total stays within 1 MiB)...
    let mib = vec![1u8; 1024 * 1024 - 1];
    let r = put(&k, &ctx, "s", "k", &mib);
    assert!(r["SequenceNumber"].is_string());
    // ...one byte more is not.
    let e = fails(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(&vec![1u8; 1024 * 1024 + 1])}),
    );
    assert_eq!(e.code, "ValidationException");
    assert!(
        e.message
            .contains("Value at 'data' failed to satisfy constraint")
    );
    let e = fails(
        &k,
        &ctx,
        "PutRecords",
        json!({"StreamName": "s", "Records": [
            {"PartitionKey": "k", "Data": b64(b"x")},
            {"PartitionKey": "k", "Data": b64(&vec![1u8; 1024 * 1024 + 1])}
        ]}),
    );
    assert!(
        e.message.contains("'records.2.member.data'"),
        "{}",
        e.message
    );
    // Six records of 1 MiB - 1 are over 5 MiB.
    let six: Vec<_> = (0..6)
        .map(|_| json!({"PartitionKey": "k", "Data": b64(&vec![2u8; 1024 * 1024 - 1])}))
        .collect();
    let e = fails(
        &k,
        &ctx,
        "PutRecords",
        json!({"StreamName": "s", "Records": six}),
    );
    assert_eq!(e.code, "InvalidArgumentException");
    // The large record reads back whole (it is a blob).
    let shard = r["ShardId"].as_str().unwrap();
    let it = iterator(&k, &ctx, "s", shard, "TRIM_HORIZON");
    let (all, _) = read_all(&k, &ctx, it);
    assert!(all.iter().any(|x| x["Data"] == b64(&mib)));
    let raised = call(
        &k,
        &ctx,
        "UpdateMaxRecordSize",
        json!({"StreamARN": stream_arn(&ctx.partition, "s"), "MaxRecordSizeInKiB": 2048}),
    );
    assert_eq!(raised, json!({}));
    put(&k, &ctx, "s", "k", &vec![1u8; 1024 * 1024 + 1]);
}

#[test]
fn throttling_is_per_record_on_provisioned_streams_only() {
    let engine = Arc::new(Engine::in_memory().unwrap());
    let k = Kinesis::with_throttle(engine, true);
    k.set_clock(NOW);
    let ctx = snapstack_service::RequestContext::from_scope(None);
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    let recs: Vec<_> = (0..500)
        .map(|_| json!({"PartitionKey": "k", "Data": b64(&[0u8; 4000])}))
        .collect();
    let r = call(
        &k,
        &ctx,
        "PutRecords",
        json!({"StreamName": "s", "Records": recs}),
    );
    // 1 MiB per second: 262 records of 4,000 bytes (+1 of key) fit.
    let failed = r["FailedRecordCount"].as_u64().unwrap();
    assert_eq!(failed, 500 - 262);
    let bad = &r["Records"][499];
    assert_eq!(bad["ErrorCode"], "ProvisionedThroughputExceededException");
    let e = fails(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(&[0u8; 4000])}),
    );
    assert_eq!(e.code, "ProvisionedThroughputExceededException");
    k.set_clock(NOW + 1000);
    put(&k, &ctx, "s", "k", b"next second");
    // 1,000 records per second: the 1,001st small record in a second is refused.
    k.set_clock(NOW + 5000);
    let small: Vec<_> = (0..500)
        .map(|_| json!({"PartitionKey": "k", "Data": b64(b"x")}))
        .collect();
    for _ in 0..2 {
        let r = call(
            &k,
            &ctx,
            "PutRecords",
            json!({"StreamName": "s", "Records": small}),
        );
        assert_eq!(r["FailedRecordCount"], 0);
    }
    let e = fails(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(b"x")}),
    );
    assert_eq!(e.code, "ProvisionedThroughputExceededException");
    // An on-demand stream is not held to a provisioned shard's rate.
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    );
    for _ in 0..3 {
        let r = call(
            &k,
            &ctx,
            "PutRecords",
            json!({"StreamName": "od", "Records": recs}),
        );
        assert_eq!(r["FailedRecordCount"], 0);
    }
    // Switched off: a provisioned shard takes any rate.
    let off = Kinesis::with_throttle(Arc::new(Engine::in_memory().unwrap()), false);
    off.set_clock(NOW);
    call(
        &off,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    for _ in 0..3 {
        let r = call(
            &off,
            &ctx,
            "PutRecords",
            json!({"StreamName": "s", "Records": recs}),
        );
        assert_eq!(r["FailedRecordCount"], 0);
    }
}

#[test]
fn throttling_is_switched_off_only_explicitly() {
    for off in ["0", "false", "OFF", " no "] {
        assert!(!throttle_setting(off), "{off}");
    }
    for on in ["1", "true", "", "yes"] {
        assert!(throttle_setting(on), "{on}");
    }
}

#[test]
fn settings_tags_policies_and_consumers() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1, "Tags": {"a": "1"}}),
    );
    let arn = stream_arn(&ctx.partition, "s");
    call(
        &k,
        &ctx,
        "AddTagsToStream",
        json!({"StreamName": "s", "Tags": {"b": "2", "c": "3"}}),
    );
    let t = call(
        &k,
        &ctx,
        "ListTagsForStream",
        json!({"StreamName": "s", "Limit": 2}),
    );
    assert_eq!(
        t["Tags"],
        json!([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    );
    assert_eq!(t["HasMoreTags"], true);
    call(
        &k,
        &ctx,
        "RemoveTagsFromStream",
        json!({"StreamName": "s", "TagKeys": ["a"]}),
    );
    call(
        &k,
        &ctx,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": {"d": "4"}}),
    );
    call(
        &k,
        &ctx,
        "UntagResource",
        json!({"ResourceARN": arn, "TagKeys": ["b"]}),
    );
    let t = call(&k, &ctx, "ListTagsForResource", json!({"ResourceARN": arn}));
    assert_eq!(
        t["Tags"],
        json!([{"Key": "c", "Value": "3"}, {"Key": "d", "Value": "4"}])
    );

    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    call(
        &k,
        &ctx,
        "PutResourcePolicy",
        json!({"ResourceARN": arn, "Policy": policy}),
    );
    let g = call(&k, &ctx, "GetResourcePolicy", json!({"ResourceARN": arn}));
    assert_eq!(g["Policy"], policy);
    call(
        &k,
        &ctx,
        "DeleteResourcePolicy",
        json!({"ResourceARN": arn}),
    );
    let e = fails(
        &k,
        &ctx,
        "DeleteResourcePolicy",
        json!({"ResourceARN": arn}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    let e = fails(
        &k,
        &ctx,
        "PutResourcePolicy",
        json!({"ResourceARN": arn, "Policy": "nope"}),
    );
    assert_eq!(e.code, "InvalidArgumentException");

    call(
        &k,
        &ctx,
        "StartStreamEncryption",
        json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    );
    let r = put(&k, &ctx, "s", "k", b"secret");
    assert_eq!(r["EncryptionType"], "KMS");
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    let (recs, _) = read_all(&k, &ctx, it);
    assert_eq!(recs[0]["EncryptionType"], "KMS");
    call(
        &k,
        &ctx,
        "StopStreamEncryption",
        json!({"StreamName": "s", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    );
    let m = call(
        &k,
        &ctx,
        "EnableEnhancedMonitoring",
        json!({"StreamName": "s", "ShardLevelMetrics": ["IncomingBytes"]}),
    );
    assert_eq!(m["CurrentShardLevelMetrics"], json!([]));
    assert_eq!(m["DesiredShardLevelMetrics"], json!(["IncomingBytes"]));
    let m = call(
        &k,
        &ctx,
        "DisableEnhancedMonitoring",
        json!({"StreamName": "s", "ShardLevelMetrics": ["ALL"]}),
    );
    assert_eq!(m["DesiredShardLevelMetrics"], json!([]));
    let d = call(
        &k,
        &ctx,
        "DescribeStreamSummary",
        json!({"StreamName": "s"}),
    );
    assert_eq!(d["StreamDescriptionSummary"]["EncryptionType"], "NONE");

    let a = call(
        &k,
        &ctx,
        "UpdateAccountSettings",
        json!({"MinimumThroughputBillingCommitment": {"Status": "ENABLED"}}),
    );
    assert_eq!(a["MinimumThroughputBillingCommitment"]["Status"], "ENABLED");
    let a = call(&k, &ctx, "DescribeAccountSettings", json!({}));
    assert_eq!(a["MinimumThroughputBillingCommitment"]["Status"], "ENABLED");

    call(
        &k,
        &ctx,
        "UpdateStreamMode",
        json!({"StreamARN": arn, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    );
    let w = call(
        &k,
        &ctx,
        "UpdateStreamWarmThroughput",
        json!({"StreamName": "s", "WarmThroughputMiBps": 10}),
    );
    assert_eq!(w["WarmThroughput"]["TargetMiBps"], 10);

    // Consumers.
    let c = call(
        &k,
        &ctx,
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c1"}),
    );
    let carn = c["Consumer"]["ConsumerARN"].as_str().unwrap().to_string();
    assert!(carn.starts_with(&format!("{arn}/consumer/c1:")));
    let e = fails(
        &k,
        &ctx,
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c1"}),
    );
    assert_eq!(e.code, "ResourceInUseException");
    call(
        &k,
        &ctx,
        "RegisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c2"}),
    );
    let d = call(
        &k,
        &ctx,
        "DescribeStreamConsumer",
        json!({"ConsumerARN": carn}),
    );
    assert_eq!(d["ConsumerDescription"]["ConsumerStatus"], "ACTIVE");
    assert_eq!(d["ConsumerDescription"]["StreamARN"], arn);
    let l = call(
        &k,
        &ctx,
        "ListStreamConsumers",
        json!({"StreamARN": arn, "MaxResults": 1}),
    );
    assert_eq!(l["Consumers"].as_array().unwrap().len(), 1);
    let l2 = call(
        &k,
        &ctx,
        "ListStreamConsumers",
        json!({"StreamARN": arn, "NextToken": l["NextToken"]}),
    );
    assert_eq!(l2["Consumers"][0]["ConsumerName"], "c2");
    call(
        &k,
        &ctx,
        "TagResource",
        json!({"ResourceARN": carn, "Tags": {"x": "y"}}),
    );
    let t = call(
        &k,
        &ctx,
        "ListTagsForResource",
        json!({"ResourceARN": carn}),
    );
    assert_eq!(t["Tags"], json!([{"Key": "x", "Value": "y"}]));
    let s = call(
        &k,
        &ctx,
        "DescribeStreamSummary",
        json!({"StreamName": "s"}),
    );
    assert_eq!(s["StreamDescriptionSummary"]["ConsumerCount"], 2);
    call(
        &k,
        &ctx,
        "DeregisterStreamConsumer",
        json!({"StreamARN": arn, "ConsumerName": "c2"}),
    );
    let e = fails(&k, &ctx, "DeleteStream", json!({"StreamName": "s"}));
    assert_eq!(e.code, "ResourceInUseException");
    call(
        &k,
        &ctx,
        "DeleteStream",
        json!({"StreamName": "s", "EnforceConsumerDeletion": true}),
    );
    let e = fails(
        &k,
        &ctx,
        "DescribeStreamConsumer",
        json!({"ConsumerARN": carn}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
}

/// A flush after 1,000 new records writes about those records' bytes, not the stream's: each
/// record is its own key, so the save re-encodes only the tree nodes around the new keys.
#[test]
fn a_flush_after_1000_records_writes_about_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        Engine::open(
            dir.path(),
            EngineOptions {
                background_saves: false,
                ..EngineOptions::default()
            },
        )
        .unwrap(),
    );
    let k = Kinesis::with_throttle(engine.clone(), false);
    engine.register(k.store.clone()).unwrap();
    let ctx = snapstack_service::RequestContext::from_scope(None);
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 4}),
    );
    let batch = |from: usize, n: usize, size: usize| {
        for chunk in (from..from + n).collect::<Vec<_>>().chunks(500) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|i| {
                    let mut data = vec![0u8; size];
                    data[..8].copy_from_slice(&(*i as u64).to_be_bytes());
                    json!({"PartitionKey": format!("pk-{i}"), "Data": b64(&data)})
                })
                .collect();
            call(
                &k,
                &ctx,
                "PutRecords",
                json!({"StreamName": "s", "Records": recs}),
            );
        }
    };
    // 50,000 records of 200 bytes (~10 MiB of payload) already saved.
    batch(0, 50_000, 200);
    let first = engine.save(&[NAME]);
    let first = first[0].1.as_ref().unwrap();
    assert!(first.new_bytes > 10_000_000, "{first:?}");
    // 1,000 more: the save writes about their bytes (200 KiB of payload).
    batch(50_000, 1000, 200);
    let second = engine.save(&[NAME]);
    let second = second[0].1.as_ref().unwrap();
    eprintln!(
        "first save: {} bytes; after 1,000 records: {} bytes",
        first.new_bytes, second.new_bytes
    );
    assert_eq!(second.changed_records, 1001, "{second:?}");
    assert!(
        second.new_bytes < 1000 * 200 * 3,
        "a flush of 1,000 records wrote {} bytes ({second:?})",
        second.new_bytes
    );
    // And the reloaded store reads every record back, in order.
    drop(k);
    drop(engine);
    let engine2 = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let k3 = Kinesis::with_throttle(engine2.clone(), false);
    engine2.register(k3.store.clone()).unwrap();
    engine2.load(NAME).unwrap();
    let mut n = 0;
    for i in 0..4 {
        let it = iterator(&k3, &ctx, "s", &shard_id(i), "TRIM_HORIZON");
        let (recs, _) = read_all(&k3, &ctx, it);
        n += recs.len();
    }
    assert_eq!(n, 51_000);
}

//! Unit tests of Kinesis's streams, records and iterators on the store.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use snapstack_engine::Engine;
use snapstack_service::RequestContext;

use crate::seq::{Iter, parse_seq};
use crate::*;

pub(crate) const NOW: u64 = 1_700_000_000_000;

pub(crate) fn kinesis() -> (Kinesis, RequestContext) {
    let engine = Arc::new(Engine::in_memory().unwrap());
    let k = Kinesis::with_throttle(engine, false);
    k.set_clock(NOW);
    (k, RequestContext::from_scope(None))
}

pub(crate) fn call(k: &Kinesis, ctx: &RequestContext, op: &str, v: Value) -> Value {
    match k.handle(ctx, op, &v) {
        Ok(o) => o.value,
        Err(e) => panic!("{op}: {e}"),
    }
}

pub(crate) fn fails(k: &Kinesis, ctx: &RequestContext, op: &str, v: Value) -> AwsError {
    match k.handle(ctx, op, &v) {
        Ok(o) => panic!("{op} succeeded: {}", o.value),
        Err(e) => e,
    }
}

pub(crate) fn b64(s: &[u8]) -> String {
    STANDARD.encode(s)
}

pub(crate) fn put(k: &Kinesis, ctx: &RequestContext, stream: &str, pk: &str, data: &[u8]) -> Value {
    call(
        k,
        ctx,
        "PutRecord",
        json!({"StreamName": stream, "PartitionKey": pk, "Data": b64(data)}),
    )
}

pub(crate) fn iterator(
    k: &Kinesis,
    ctx: &RequestContext,
    stream: &str,
    shard: &str,
    kind: &str,
) -> String {
    call(
        k,
        ctx,
        "GetShardIterator",
        json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": kind}),
    )["ShardIterator"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) fn read_all(k: &Kinesis, ctx: &RequestContext, mut it: String) -> (Vec<Value>, Value) {
    let mut out = Vec::new();
    loop {
        let r = call(k, ctx, "GetRecords", json!({"ShardIterator": it}));
        let recs = r["Records"].as_array().unwrap().clone();
        let empty = recs.is_empty();
        out.extend(recs);
        match r["NextShardIterator"].as_str() {
            Some(n) if !empty => it = n.to_string(),
            _ => return (out, r),
        }
    }
}

#[test]
fn create_describe_list_delete() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 3}),
    );
    let e = fails(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    assert_eq!(e.code, "ResourceInUseException");
    assert_eq!(
        e.message,
        "Stream s under account 000000000000 already exists."
    );
    let d = call(&k, &ctx, "DescribeStream", json!({"StreamName": "s"}));
    let d = &d["StreamDescription"];
    assert_eq!(d["StreamStatus"], "ACTIVE");
    assert_eq!(
        d["StreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/s"
    );
    assert_eq!(d["Shards"].as_array().unwrap().len(), 3);
    assert_eq!(d["Shards"][0]["ShardId"], "shardId-000000000000");
    assert_eq!(d["Shards"][0]["HashKeyRange"]["StartingHashKey"], "0");
    assert_eq!(
        d["Shards"][2]["HashKeyRange"]["EndingHashKey"],
        u128::MAX.to_string()
    );
    assert_eq!(d["RetentionPeriodHours"], 24);
    let seq = d["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"]
        .as_str()
        .unwrap();
    assert_eq!(seq.len(), 56);
    let d = call(
        &k,
        &ctx,
        "DescribeStream",
        json!({"StreamName": "s", "Limit": 2}),
    );
    assert_eq!(d["StreamDescription"]["HasMoreShards"], true);
    let d = call(
        &k,
        &ctx,
        "DescribeStream",
        json!({"StreamName": "s", "ExclusiveStartShardId": "shardId-000000000001"}),
    );
    assert_eq!(
        d["StreamDescription"]["Shards"].as_array().unwrap().len(),
        1
    );

    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
    );
    let s = call(
        &k,
        &ctx,
        "DescribeStreamSummary",
        json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/od"}),
    );
    assert_eq!(s["StreamDescriptionSummary"]["OpenShardCount"], 4);
    assert_eq!(
        s["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"],
        "ON_DEMAND"
    );
    let l = call(&k, &ctx, "ListStreams", json!({"Limit": 1}));
    assert_eq!(l["StreamNames"], json!(["od"]));
    assert_eq!(l["HasMoreStreams"], true);
    let l = call(
        &k,
        &ctx,
        "ListStreams",
        json!({"NextToken": l["NextToken"]}),
    );
    assert_eq!(l["StreamNames"], json!(["s"]));
    assert_eq!(l["StreamSummaries"][0]["StreamStatus"], "ACTIVE");
    let lim = call(&k, &ctx, "DescribeLimits", json!({}));
    assert_eq!(lim["OpenShardCount"], 7);
    assert_eq!(lim["OnDemandStreamCount"], 1);

    put(&k, &ctx, "s", "a", b"x");
    call(&k, &ctx, "DeleteStream", json!({"StreamName": "s"}));
    let e = fails(&k, &ctx, "DescribeStream", json!({"StreamName": "s"}));
    assert_eq!(e.code, "ResourceNotFoundException");
    assert_eq!(e.message, "Stream s under account 000000000000 not found.");
    assert!(
        k.store
            .snapshot()
            .scan_prefix(&stream_data_prefix(&ctx.partition, "s"))
            .next()
            .is_none()
    );
    let e = fails(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "big", "ShardCount": 600}),
    );
    assert_eq!(e.code, "LimitExceededException");
}

#[test]
fn records_hash_to_shards_in_order_with_increasing_sequence_numbers() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 4}),
    );
    let mut last: std::collections::HashMap<String, String> = Default::default();
    for i in 0..200 {
        let pk = format!("key-{i}");
        let r = put(&k, &ctx, "s", &pk, format!("data-{i}").as_bytes());
        let shard = r["ShardId"].as_str().unwrap().to_string();
        // The shard whose range holds the MD5 of the partition key.
        let h = seq::hash_of(&pk);
        let expect = (0..4)
            .find(|i| {
                let (a, b) = seq::even_ranges(4)[*i];
                a <= h && h <= b
            })
            .unwrap();
        assert_eq!(shard, shard_id(expect as u64));
        let sq = r["SequenceNumber"].as_str().unwrap().to_string();
        if let Some(prev) = last.get(&shard) {
            assert!(sq > *prev);
        }
        last.insert(shard, sq);
    }
    let mut total = 0;
    for i in 0..4 {
        let it = iterator(&k, &ctx, "s", &shard_id(i), "TRIM_HORIZON");
        let (recs, _) = read_all(&k, &ctx, it);
        let seqs: Vec<&str> = recs
            .iter()
            .map(|r| r["SequenceNumber"].as_str().unwrap())
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted);
        total += recs.len();
    }
    assert_eq!(total, 200);
    // An explicit hash key picks the shard.
    let r = call(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": b64(b"x"), "ExplicitHashKey": u128::MAX.to_string()}),
    );
    assert_eq!(r["ShardId"], "shardId-000000000003");
    let e = fails(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": b64(b"x"), "ExplicitHashKey": "340282366920938463463374607431768211456"}),
    );
    assert_eq!(e.code, "InvalidArgumentException");
    assert!(e.message.starts_with("Invalid ExplicitHashKey."));
    let e = fails(
        &k,
        &ctx,
        "PutRecord",
        json!({"StreamName": "nope", "PartitionKey": "a", "Data": b64(b"x")}),
    );
    assert_eq!(
        e.message,
        "Stream nope under account 000000000000 not found."
    );
}

#[test]
fn iterator_types() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    let sh = "shardId-000000000000";
    let latest = iterator(&k, &ctx, "s", sh, "LATEST");
    let mut seqs = Vec::new();
    for i in 0..5 {
        k.set_clock(NOW + i * 1000);
        seqs.push(
            put(&k, &ctx, "s", "p", &[i as u8])["SequenceNumber"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (recs, last) = read_all(&k, &ctx, latest);
    assert_eq!(recs.len(), 5);
    assert_eq!(last["MillisBehindLatest"], 0);
    assert_eq!(
        recs[0]["ApproximateArrivalTimestamp"],
        json!(NOW as f64 / 1000.0)
    );
    let at = |kind: &str, seq: &str| {
        call(
            &k,
            &ctx,
            "GetShardIterator",
            json!({"StreamName": "s", "ShardId": sh, "ShardIteratorType": kind, "StartingSequenceNumber": seq}),
        )["ShardIterator"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (recs, _) = read_all(&k, &ctx, at("AT_SEQUENCE_NUMBER", &seqs[2]));
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["SequenceNumber"], seqs[2]);
    let (recs, _) = read_all(&k, &ctx, at("AFTER_SEQUENCE_NUMBER", &seqs[2]));
    assert_eq!(recs.len(), 2);
    let it = call(
        &k,
        &ctx,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": sh, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": (NOW + 3000) as f64 / 1000.0}),
    )["ShardIterator"]
        .as_str()
        .unwrap()
        .to_string();
    let (recs, _) = read_all(&k, &ctx, it);
    assert_eq!(recs.len(), 2);
    // Limit and MillisBehindLatest.
    let it = iterator(&k, &ctx, "s", sh, "TRIM_HORIZON");
    let r = call(
        &k,
        &ctx,
        "GetRecords",
        json!({"ShardIterator": it, "Limit": 2}),
    );
    assert_eq!(r["Records"].as_array().unwrap().len(), 2);
    assert_eq!(r["MillisBehindLatest"], 2000);
    // Errors.
    let e = fails(
        &k,
        &ctx,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": sh, "ShardIteratorType": "AT_SEQUENCE_NUMBER"}),
    );
    assert!(e.message.contains("and no StartingSequenceNumber"), "{e}");
    let e = fails(
        &k,
        &ctx,
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": "shardId-000000000009", "ShardIteratorType": "LATEST"}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    assert_eq!(
        e.message,
        "Shard shardId-000000000009 in stream s under account 000000000000 does not exist"
    );
    let e = fails(&k, &ctx, "GetRecords", json!({"ShardIterator": "garbage"}));
    assert_eq!(e.message, "Invalid ShardIterator.");
}

#[test]
fn an_iterator_expires_after_five_minutes() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    k.set_clock(NOW + 300_000);
    call(&k, &ctx, "GetRecords", json!({"ShardIterator": it}));
    k.set_clock(NOW + 300_001);
    let e = fails(&k, &ctx, "GetRecords", json!({"ShardIterator": it}));
    assert_eq!(e.code, "ExpiredIteratorException");
    assert!(e.message.starts_with("Iterator expired. The iterator was created at time Tue Nov 14 22:13:20 UTC 2023 while right now it is"), "{}", e.message);
    // An iterator of a deleted and re-created stream reads nothing of the new one.
    k.set_clock(NOW);
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    call(&k, &ctx, "DeleteStream", json!({"StreamName": "s"}));
    k.set_clock(NOW + 1);
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    let e = fails(&k, &ctx, "GetRecords", json!({"ShardIterator": it}));
    assert_eq!(e.code, "ResourceNotFoundException");
    let parsed = Iter::decode(&it).unwrap();
    assert_eq!(parsed.stream, "s");
}

#[test]
fn split_merge_and_update_shard_count_keep_lineage() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 2}),
    );
    put(&k, &ctx, "s", "before", b"old");
    k.set_clock(NOW + 1000);
    let mid = (u128::MAX / 4).to_string();
    let e = fails(
        &k,
        &ctx,
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1"}),
    );
    assert_eq!(e.code, "InvalidArgumentException");
    call(
        &k,
        &ctx,
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": mid}),
    );
    let shards = call(&k, &ctx, "ListShards", json!({"StreamName": "s"}))["Shards"].clone();
    let shards = shards.as_array().unwrap();
    assert_eq!(shards.len(), 4);
    assert!(shards[0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    assert_eq!(shards[2]["ParentShardId"], "shardId-000000000000");
    assert_eq!(shards[3]["ParentShardId"], "shardId-000000000000");
    assert_eq!(shards[3]["HashKeyRange"]["StartingHashKey"], mid);
    let child_start = shards[2]["SequenceNumberRange"]["StartingSequenceNumber"]
        .as_str()
        .unwrap();
    let parent_end = shards[0]["SequenceNumberRange"]["EndingSequenceNumber"]
        .as_str()
        .unwrap();
    assert!(parse_seq(child_start).unwrap().0 > parse_seq(parent_end).unwrap().0 - 1);
    // A split shard is closed.
    let e = fails(
        &k,
        &ctx,
        "SplitShard",
        json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": mid}),
    );
    assert_eq!(e.code, "ResourceInUseException");
    // Reading a closed shard ends with its children.
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    let (_, last) = read_all(&k, &ctx, it);
    assert!(last.get("NextShardIterator").is_none(), "{last}");
    assert_eq!(last["ChildShards"].as_array().unwrap().len(), 2);
    // Merge the two children back.
    k.set_clock(NOW + 2000);
    let e = fails(
        &k,
        &ctx,
        "MergeShards",
        json!({"StreamName": "s", "ShardToMerge": "shardId-000000000002", "AdjacentShardToMerge": "shardId-000000000001"}),
    );
    assert_eq!(e.code, "InvalidArgumentException");
    call(
        &k,
        &ctx,
        "MergeShards",
        json!({"StreamName": "s", "ShardToMerge": "shardId-000000000002", "AdjacentShardToMerge": "shardId-000000000003"}),
    );
    let open = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_LATEST"}}),
    )["Shards"]
        .clone();
    let ids: Vec<&str> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ShardId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["shardId-000000000001", "shardId-000000000004"]);
    assert_eq!(open[1]["ParentShardId"], "shardId-000000000002");
    assert_eq!(open[1]["AdjacentParentShardId"], "shardId-000000000003");
    // UpdateShardCount: 2 → 4, parents recorded, limits checked.
    k.set_clock(NOW + 3000);
    let r = call(
        &k,
        &ctx,
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}),
    );
    assert_eq!(r["CurrentShardCount"], 2);
    assert_eq!(r["TargetShardCount"], 4);
    let e = fails(
        &k,
        &ctx,
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": 9, "ScalingType": "UNIFORM_SCALING"}),
    );
    assert_eq!(e.code, "LimitExceededException");
    let open = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_LATEST"}}),
    )["Shards"]
        .clone();
    assert_eq!(open.as_array().unwrap().len(), 4);
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|s| s["ParentShardId"].is_string())
    );
    // Paging and filters.
    let page = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "MaxResults": 3}),
    );
    assert_eq!(page["Shards"].as_array().unwrap().len(), 3);
    let rest = call(
        &k,
        &ctx,
        "ListShards",
        json!({"NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Shards"].as_array().unwrap().len(), 6);
    let e = fails(
        &k,
        &ctx,
        "ListShards",
        json!({"NextToken": page["NextToken"], "StreamName": "s"}),
    );
    assert_eq!(
        e.message,
        "NextToken and StreamName cannot be provided together."
    );
    let after = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000006"}}),
    );
    assert_eq!(after["Shards"].as_array().unwrap().len(), 2);
    let horizon = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "ShardFilter": {"Type": "AT_TRIM_HORIZON"}}),
    );
    assert_eq!(horizon["Shards"].as_array().unwrap().len(), 2);
    // Old records are still readable from the closed parent.
    let it = iterator(&k, &ctx, "s", "shardId-000000000001", "TRIM_HORIZON");
    let (a, _) = read_all(&k, &ctx, it);
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    let (b, _) = read_all(&k, &ctx, it);
    assert_eq!(a.len() + b.len(), 1);
}

#[test]
fn retention_sweep_removes_old_records_and_closed_shards() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    put(&k, &ctx, "s", "a", b"old");
    k.set_clock(NOW + 3_600_000);
    put(&k, &ctx, "s", "a", &vec![7u8; 10_000]);
    let e = fails(
        &k,
        &ctx,
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 48}),
    );
    assert!(
        e.message
            .contains("can not be longer than existing retention period (24 hours)")
    );
    let e = fails(
        &k,
        &ctx,
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 9000}),
    );
    assert!(
        e.message
            .starts_with("Maximum allowed retention period is 8760 hours")
    );
    assert_eq!(k.sweep_retention(NOW + 3_600_000), 0);
    let day = 24 * 3_600_000;
    assert_eq!(k.sweep_retention(NOW + day + 1), 1);
    let it = iterator(&k, &ctx, "s", "shardId-000000000000", "TRIM_HORIZON");
    let (recs, _) = read_all(&k, &ctx, it);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["Data"], b64(&vec![7u8; 10_000]));
    call(
        &k,
        &ctx,
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 48}),
    );
    assert_eq!(k.sweep_retention(NOW + day + 3_600_001), 0);
    call(
        &k,
        &ctx,
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": 2, "ScalingType": "UNIFORM_SCALING"}),
    );
    assert_eq!(k.sweep_retention(NOW + 3 * day + 3_600_001), 1);
    // The closed parent went with its last record: it closed before the window.
    let after = call(&k, &ctx, "ListShards", json!({"StreamName": "s"}));
    let ids: Vec<&str> = after["Shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ShardId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["shardId-000000000001", "shardId-000000000002"]);
}

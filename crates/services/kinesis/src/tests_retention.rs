//! Retention at read time (a record past it is not read, whether or not the sweep ran), the
//! test-only retention hour, and AT_TIMESTAMP's binary search.

use std::sync::Arc;

use serde_json::{Value, json};
use snapstack_engine::Engine;

use crate::tests::{NOW, b64, call, kinesis, put, read_all};
use crate::*;

fn read_from(k: &Kinesis, ctx: &RequestContext, kind: &str, extra: Value) -> Vec<String> {
    let mut v =
        json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": kind});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let it = call(k, ctx, "GetShardIterator", v)["ShardIterator"]
        .as_str()
        .unwrap()
        .to_string();
    read_all(k, ctx, it)
        .0
        .iter()
        .map(|r| r["Data"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn records_past_retention_are_not_read_before_the_sweep() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    put(&k, &ctx, "s", "a", b"old");
    k.set_clock(NOW + HOUR_MS);
    put(&k, &ctx, "s", "a", b"new");
    let both = vec![b64(b"old"), b64(b"new")];
    k.set_clock(NOW + 24 * HOUR_MS);
    assert_eq!(read_from(&k, &ctx, "TRIM_HORIZON", json!({})), both);
    // One ms past 24 hours: the first record is gone, though no sweep ran.
    k.set_clock(NOW + 24 * HOUR_MS + 1);
    assert_eq!(
        read_from(&k, &ctx, "TRIM_HORIZON", json!({})),
        vec![b64(b"new")]
    );
    let at = json!({"Timestamp": (NOW / 1000) as f64});
    assert_eq!(
        read_from(&k, &ctx, "AT_TIMESTAMP", at.clone()),
        vec![b64(b"new")]
    );
    // A longer retention brings nothing back once the sweep has run, and keeps what is left.
    k.set_clock(NOW + 25 * HOUR_MS + 1);
    assert!(read_from(&k, &ctx, "TRIM_HORIZON", json!({})).is_empty());
    assert_eq!(k.sweep_retention(NOW + 25 * HOUR_MS + 1), 2);
    call(
        &k,
        &ctx,
        "IncreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 48}),
    );
    assert!(read_from(&k, &ctx, "TRIM_HORIZON", json!({})).is_empty());
}

#[test]
fn a_short_retention_hour_for_tests() {
    let mut k = Kinesis::with_throttle(Arc::new(Engine::in_memory().unwrap()), false);
    k.set_hour_ms(10);
    k.set_clock(NOW);
    let ctx = RequestContext::from_scope(None);
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 1}),
    );
    put(&k, &ctx, "s", "a", b"x");
    // 24 hours of 10 ms.
    k.set_clock(NOW + 240);
    assert_eq!(read_from(&k, &ctx, "TRIM_HORIZON", json!({})).len(), 1);
    k.set_clock(NOW + 241);
    assert!(read_from(&k, &ctx, "TRIM_HORIZON", json!({})).is_empty());
    assert_eq!(k.sweep_retention(NOW + 241), 1);
}

#[test]
fn at_timestamp_starts_at_the_first_record_at_or_after_it() {
    let (k, ctx) = kinesis();
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 2}),
    );
    // Records on both shards (so a shard's counters have gaps), some sharing a millisecond.
    let mut arrivals = Vec::new();
    for i in 0..300u64 {
        let t = NOW + (i / 2) * 7;
        k.set_clock(t);
        let hash = if i % 3 == 0 { u128::MAX } else { 0 };
        let r = call(
            &k,
            &ctx,
            "PutRecord",
            json!({"StreamName": "s", "PartitionKey": "p", "ExplicitHashKey": hash.to_string(), "Data": b64(format!("{i}").as_bytes())}),
        );
        if r["ShardId"] == "shardId-000000000000" {
            arrivals.push((t, b64(format!("{i}").as_bytes())));
        }
    }
    k.set_clock(NOW + 10_000);
    for ts in (NOW - 3..NOW + 1100).step_by(2) {
        let want: Vec<String> = arrivals
            .iter()
            .filter(|(t, _)| *t >= ts)
            .map(|(_, d)| d.clone())
            .collect();
        let got = read_from(
            &k,
            &ctx,
            "AT_TIMESTAMP",
            json!({"Timestamp": ts as f64 / 1000.0}),
        );
        assert_eq!(got, want, "{ts}");
    }
}

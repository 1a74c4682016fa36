//! UpdateShardCount through the store for every n -> t AWS allows with n, t <= 40: the open
//! shards are the target's even ranges, every child's parents cover exactly its range, and
//! GetRecords at the end of each closed shard names exactly the shards that list it as a parent.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use snapstack_engine::Engine;

use crate::seq::even_ranges;
use crate::tests::{NOW, call, read_all};
use crate::*;

fn range(s: &Value) -> (u128, u128) {
    let r = &s["HashKeyRange"];
    (
        r["StartingHashKey"].as_str().unwrap().parse().unwrap(),
        r["EndingHashKey"].as_str().unwrap().parse().unwrap(),
    )
}

fn parents(s: &Value) -> Vec<String> {
    ["ParentShardId", "AdjacentParentShardId"]
        .iter()
        .filter_map(|k| s[*k].as_str().map(str::to_string))
        .collect()
}

fn check_pair(n: u64, t: u64) {
    let k = Kinesis::with_throttle(Arc::new(Engine::in_memory().unwrap()), false);
    k.set_clock(NOW);
    let ctx = snapstack_service::RequestContext::from_scope(None);
    call(
        &k,
        &ctx,
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": n}),
    );
    call(
        &k,
        &ctx,
        "UpdateShardCount",
        json!({"StreamName": "s", "TargetShardCount": t, "ScalingType": "UNIFORM_SCALING"}),
    );
    let all = call(
        &k,
        &ctx,
        "ListShards",
        json!({"StreamName": "s", "MaxResults": 10000}),
    )["Shards"]
        .as_array()
        .unwrap()
        .clone();
    let by_id: BTreeMap<String, &Value> = all
        .iter()
        .map(|s| (s["ShardId"].as_str().unwrap().to_string(), s))
        .collect();
    let mut open: Vec<(u128, u128)> = all
        .iter()
        .filter(|s| s["SequenceNumberRange"]["EndingSequenceNumber"].is_null())
        .map(range)
        .collect();
    open.sort();
    assert_eq!(open, even_ranges(t), "{n} -> {t}");
    for s in &all {
        let (start, end) = range(s);
        let ps: Vec<(u128, u128)> = parents(s).iter().map(|p| range(by_id[p])).collect();
        match ps.as_slice() {
            [] => assert!(
                shard_index(s["ShardId"].as_str().unwrap()).unwrap() < n,
                "{n} -> {t}: {s} has no parent"
            ),
            [(ps, pe)] => assert!(*ps <= start && end <= *pe, "{n} -> {t}: {s}"),
            [(ls, le), (rs, re)] => {
                assert_eq!((*ls, *re), (start, end), "{n} -> {t}: {s}");
                assert_eq!(le + 1, *rs, "{n} -> {t}: {s}");
            }
            _ => unreachable!(),
        }
    }
    // Each closed shard ends with its children, and they cover its range.
    for s in all
        .iter()
        .filter(|s| s["SequenceNumberRange"]["EndingSequenceNumber"].is_string())
    {
        let id = s["ShardId"].as_str().unwrap();
        let it = call(
            &k,
            &ctx,
            "GetShardIterator",
            json!({"StreamName": "s", "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}),
        )["ShardIterator"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, last) = read_all(&k, &ctx, it);
        let kids = last["ChildShards"].as_array().unwrap();
        let naming: Vec<&str> = all
            .iter()
            .filter(|c| parents(c).iter().any(|p| p == id))
            .map(|c| c["ShardId"].as_str().unwrap())
            .collect();
        let listed: Vec<&str> = kids
            .iter()
            .map(|c| c["ShardId"].as_str().unwrap())
            .collect();
        assert_eq!(listed, naming, "{n} -> {t}: {id}");
        let (start, end) = range(s);
        let lo = kids.iter().map(|c| range(c).0).min().unwrap();
        let hi = kids.iter().map(|c| range(c).1).max().unwrap();
        match kids.len() {
            1 => assert!(lo <= start && end <= hi, "{n} -> {t}: {id}"),
            2 => assert_eq!((lo, hi), (start, end), "{n} -> {t}: {id}"),
            more => panic!("{n} -> {t}: {id} has {more} children"),
        }
        for c in kids {
            let want: Vec<String> = parents(by_id[c["ShardId"].as_str().unwrap()]);
            let got: Vec<String> = c["ParentShards"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "{n} -> {t}: {c}");
        }
    }
}

#[test]
fn update_shard_count_is_splits_and_merges_for_every_n_to_t() {
    for n in 1..=40u64 {
        for t in n.div_ceil(2)..=(2 * n).min(40) {
            check_pair(n, t);
        }
    }
}

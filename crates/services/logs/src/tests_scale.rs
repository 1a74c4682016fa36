//! FilterLogEvents and Logs Insights over 100,000 events across 8 streams, checked against
//! reference implementations written here (plain Rust over the generated events, not the
//! service's pattern or query code): text terms, quoted phrases, exclusions, alternatives, JSON
//! patterns, space-delimited patterns; Insights `filter`, `stats ... by` (fields and `bin()`),
//! `sort`, `limit`, `parse`. FilterLogEvents is paged to the end and every matching event must
//! come exactly once. Timings are printed (`--nocapture`), not asserted.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Value, json};
use snapstack_service::RequestContext;

use crate::*;

const N: usize = 100_000;
const STREAMS: usize = 8;
/// 2024-01-01T00:00:00Z.
const T0: u64 = 1_704_067_200_000;
const LEVELS: [&str; 4] = ["INFO", "WARN", "ERROR", "DEBUG"];
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const STATUSES: [u32; 5] = [200, 201, 404, 500, 503];

/// One generated event, with what the references look at.
struct Ev {
    ts: u64,
    stream: usize,
    msg: String,
    kind: u8,
    level: usize,
    user: usize,
    n: u64,
    status: u32,
}

fn generate() -> Vec<Ev> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..N)
        .map(|i| {
            let (level, user) = ((rnd() % 4) as usize, (rnd() % 4) as usize);
            let n = rnd() % 1000;
            let status = STATUSES[(rnd() % 5) as usize];
            let kind = (i % 3) as u8;
            let msg = match kind {
                0 => format!(
                    "{} user={} latency={n} path=/api/{} i={i}",
                    LEVELS[level],
                    USERS[user],
                    rnd() % 50
                ),
                1 => {
                    json!({"level": LEVELS[level].to_lowercase(), "x": n % 100, "user": USERS[user],
                    "req": {"ms": n}, "i": i})
                    .to_string()
                }
                _ => format!(
                    "10.0.{}.{} {} GET /p{} {status} {n} {i}",
                    rnd() % 256,
                    rnd() % 256,
                    USERS[user],
                    rnd() % 10
                ),
            };
            Ev {
                ts: T0 + i as u64 * 10,
                stream: i % STREAMS,
                msg,
                kind,
                level,
                user,
                n,
                status,
            }
        })
        .collect()
}

fn load(l: &Logs, ctx: &RequestContext, evs: &[Ev]) {
    let call = |op: &str, v: Value| l.handle(ctx, op, &v).unwrap();
    call("CreateLogGroup", json!({"logGroupName": "/big"}));
    for s in 0..STREAMS {
        call(
            "CreateLogStream",
            json!({"logGroupName": "/big", "logStreamName": format!("s{s}")}),
        );
        let mine: Vec<&Ev> = evs.iter().filter(|e| e.stream == s).collect();
        for chunk in mine.chunks(5000) {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|e| json!({"timestamp": e.ts, "message": e.msg}))
                .collect();
            call(
                "PutLogEvents",
                json!({"logGroupName": "/big", "logStreamName": format!("s{s}"), "logEvents": batch}),
            );
        }
    }
}

/// Every event FilterLogEvents returns for a pattern, paging to the end (`limit` a page).
fn filter_all(l: &Logs, ctx: &RequestContext, pattern: &str, limit: usize) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut v = json!({"logGroupName": "/big", "filterPattern": pattern, "limit": limit});
        if let Some(t) = &token {
            v["nextToken"] = json!(t);
        }
        let r = l.handle(ctx, "FilterLogEvents", &v).unwrap().value;
        pages += 1;
        for e in r["events"].as_array().unwrap() {
            out.push(e["message"].as_str().unwrap().to_string());
        }
        match r["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return (out, pages),
        }
        assert!(pages < 10_000, "paging does not end");
    }
}

fn json_of(e: &Ev) -> Option<Value> {
    (e.kind == 1).then(|| serde_json::from_str(&e.msg).unwrap())
}

fn fields(e: &Ev) -> Vec<&str> {
    e.msg.split_whitespace().collect()
}

type Reference = fn(&Ev) -> bool;

fn query(l: &Logs, ctx: &RequestContext, q: &str) -> Vec<BTreeMap<String, String>> {
    let id = l
        .handle(
            ctx,
            "StartQuery",
            &json!({"logGroupName": "/big", "startTime": T0 / 1000, "endTime": T0 / 1000 + 3600, "queryString": q}),
        )
        .unwrap()
        .value["queryId"]
        .clone();
    let r = l
        .handle(ctx, "GetQueryResults", &json!({"queryId": id}))
        .unwrap()
        .value;
    assert_eq!(r["status"], "Complete");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["field"].as_str().unwrap().to_string(),
                        c["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn filter_and_insights_over_100k_events_match_the_reference() {
    let l = Logs::new();
    l.set_clock(T0 + 2_000_000);
    let ctx = RequestContext::from_scope(None);
    let evs = generate();
    let t = Instant::now();
    load(&l, &ctx, &evs);
    println!("loaded {N} events in {:?}", t.elapsed());
    let by_msg: HashMap<&str, usize> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| (e.msg.as_str(), i))
        .collect();
    assert_eq!(by_msg.len(), N, "messages are unique");

    let cases: Vec<(&str, Reference)> = vec![
        ("", |_| true),
        ("ERROR", |e| e.msg.contains("ERROR")),
        ("\"user=bob latency=1\"", |e| {
            e.msg.contains("user=bob latency=1")
        }),
        ("ERROR -alice", |e| {
            e.msg.contains("ERROR") && !e.msg.contains("alice")
        }),
        ("?WARN ?DEBUG", |e| {
            e.msg.contains("WARN") || e.msg.contains("DEBUG")
        }),
        ("{ $.x = 42 }", |e| json_of(e).is_some_and(|v| v["x"] == 42)),
        ("{ $.level = \"error\" && $.req.ms > 500 }", |e| {
            json_of(e)
                .is_some_and(|v| v["level"] == "error" && v["req"]["ms"].as_u64().unwrap() > 500)
        }),
        ("{ $.user = \"car*\" || $.x < 3 }", |e| {
            json_of(e).is_some_and(|v| v["user"] == "carol" || v["x"].as_u64().unwrap() < 3)
        }),
        ("[ip, user, method, path, status = 5*, bytes, id]", |e| {
            let f = fields(e);
            f.len() == 7 && f[4].starts_with('5')
        }),
        ("[ip, user = bob, ..., bytes > 900, id]", |e| {
            let f = fields(e);
            f.len() >= 4 && f[1] == "bob" && f[f.len() - 2].parse::<f64>().is_ok_and(|b| b > 900.0)
        }),
    ];
    for (pattern, reference) in &cases {
        let expected: Vec<usize> = (0..N).filter(|i| reference(&evs[*i])).collect();
        for limit in [10_000, 777] {
            let t = Instant::now();
            let (got, pages) = filter_all(&l, &ctx, pattern, limit);
            let took = t.elapsed();
            let mut idx: Vec<usize> = got.iter().map(|m| by_msg[m.as_str()]).collect();
            // Events come in (timestamp, stream) order: here, generation order.
            assert!(
                idx.windows(2).all(|w| w[0] < w[1]),
                "{pattern:?}: out of order or repeated"
            );
            idx.dedup();
            assert_eq!(idx.len(), got.len(), "{pattern:?}: an event came twice");
            assert_eq!(idx, expected, "{pattern:?} (limit {limit})");
            println!(
                "FilterLogEvents {pattern:?} limit {limit}: {} events in {pages} pages, {took:?}",
                got.len()
            );
        }
    }
    // The statuses the space-delimited case selects exist at all (the generator is fair).
    assert!(evs.iter().any(|e| e.kind == 2 && e.status >= 500));

    // Insights.
    let t = Instant::now();
    let r = query(
        &l,
        &ctx,
        "filter @message like /ERROR/ | stats count(*) as n",
    );
    let n = evs.iter().filter(|e| e.msg.contains("ERROR")).count();
    assert_eq!(r, vec![BTreeMap::from([("n".to_string(), n.to_string())])]);
    println!("Insights filter+count: {:?}", t.elapsed());

    let t = Instant::now();
    let r = query(&l, &ctx, "stats count() as c by bin(1m)");
    let mut expected: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &evs {
        *expected.entry(e.ts / 60_000 * 60_000).or_default() += 1;
    }
    let got: BTreeMap<String, String> = r
        .iter()
        .map(|row| (row["bin(1m)"].clone(), row["c"].clone()))
        .collect();
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(b, c)| {
            let s = snapstack_protocol::codec::time::iso8601(*b as i64, true);
            (
                s.replace('T', " ").trim_end_matches('Z').to_string(),
                c.to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    println!("Insights stats by bin: {:?}", t.elapsed());

    let t = Instant::now();
    let r = query(
        &l,
        &ctx,
        "fields @timestamp, x, user | filter level = \"error\" and x > 90 | sort x desc | limit 20",
    );
    let mut xs: Vec<u64> = evs
        .iter()
        .filter_map(json_of)
        .filter(|v| v["level"] == "error" && v["x"].as_u64().unwrap() > 90)
        .map(|v| v["x"].as_u64().unwrap())
        .collect();
    xs.sort_by(|a, b| b.cmp(a));
    xs.truncate(20);
    let got: Vec<u64> = r.iter().map(|row| row["x"].parse().unwrap()).collect();
    assert_eq!(got, xs);
    assert!(
        r.iter()
            .all(|row| row.contains_key("@timestamp") && row.contains_key("user"))
    );
    println!("Insights fields/filter/sort/limit: {:?}", t.elapsed());

    let t = Instant::now();
    let r = query(
        &l,
        &ctx,
        "parse @message \"* user=* latency=* path=*\" as lvl, u, lat, rest | filter u = \"alice\" | stats count(*) as n, sum(lat) as s, max(lat) as mx by lvl",
    );
    let mut want: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for e in evs.iter().filter(|e| e.kind == 0 && e.user == 0) {
        let w = want.entry(LEVELS[e.level].to_string()).or_default();
        w.0 += 1;
        w.1 += e.n;
        w.2 = w.2.max(e.n);
    }
    let got: BTreeMap<String, (u64, u64, u64)> = r
        .iter()
        .map(|row| {
            let g = |k: &str| row[k].parse::<u64>().unwrap();
            (row["lvl"].clone(), (g("n"), g("s"), g("mx")))
        })
        .collect();
    assert_eq!(got, want);
    println!("Insights parse/filter/stats by: {:?}", t.elapsed());
}

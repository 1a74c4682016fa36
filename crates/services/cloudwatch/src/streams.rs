//! Metric streams deliver: every minute, for each running stream, the statistics of each
//! complete minute of every metric its filters select (SampleCount, Sum, Minimum, Maximum, and
//! the additional statistics its StatisticsConfigurations name) become records in the stream's
//! output format, written as a delivery record ([`StreamDeliveryRec`]) in the same store write
//! that moves the stream's watermark (its `_from`). The service's task then sends due
//! deliveries to the stream's Firehose through `Runtime::invoke(ctx, "firehose",
//! "PutRecordBatch", ...)` (500 records a call), deletes them once accepted, and retries records
//! Firehose refused with a backoff, up to [`MAX_ATTEMPTS`].
//!
//! Formats: `json` is AWS's: one JSON object per line (`metric_stream_name`, `account_id`,
//! `region`, `namespace`, `metric_name`, `dimensions`, `timestamp`, `value` {`max`, `min`, `sum`,
//! `count`, extra statistics}, `unit`). `opentelemetry0.7` / `opentelemetry1.0` are sent as the
//! OTLP JSON encoding of an `ExportMetricsServiceRequest` with one summary data point per
//! metric minute (quantile 0 = Minimum, 1 = Maximum), one request per record: an approximation,
//! AWS sends the binary protobuf encoding.
//!
//! A stream streams the minutes after it was created or (re)started; a stream the server could
//! not run for a while catches up at most [`MAX_CATCH_UP_MS`]. Data put for minutes already
//! streamed is not streamed again.

use std::ops::Bound;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::metrics::{MetricId, buckets};
use crate::stats::Agg;
use crate::*;

/// A minute is streamed once this long after it ends (late datums of the minute still count).
pub const STREAM_LAG_MS: u64 = 10_000;
/// The most a stream catches up after the server was down.
pub const MAX_CATCH_UP_MS: u64 = 3_600_000;
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// Records per PutRecordBatch (Firehose's limit).
const BATCH: usize = 500;
/// Deliveries sent per pass.
const PASS: usize = 64;
const MINUTE: u64 = 60_000;

/// The first minute a stream created or started at `now` streams (the next one).
pub(crate) fn first_minute(now: u64) -> u64 {
    (now / MINUTE + 1) * MINUTE
}

fn filter_matches(filters: &Value, ns: &str, name: &str) -> bool {
    filters.as_array().is_some_and(|fs| {
        fs.iter().any(|f| {
            f["Namespace"].as_str().is_none_or(|n| n == ns)
                && f["MetricNames"]
                    .as_array()
                    .is_none_or(|m| m.is_empty() || m.iter().any(|x| x == name))
        })
    })
}

/// Whether a stream selects a metric (its include filters, else not its exclude filters).
pub(crate) fn selects(d: &Value, ns: &str, name: &str) -> bool {
    let inc = &d["IncludeFilters"];
    if inc.as_array().is_some_and(|a| !a.is_empty()) {
        return filter_matches(inc, ns, name);
    }
    !filter_matches(&d["ExcludeFilters"], ns, name)
}

/// The additional statistics a stream sends for a metric.
fn extra_stats(d: &Value, ns: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in d["StatisticsConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let hit = c["IncludeMetrics"].as_array().is_some_and(|ms| {
            ms.iter()
                .any(|m| m["Namespace"] == ns && m["MetricName"] == name)
        });
        if hit {
            for s in c["AdditionalStatistics"].as_array().into_iter().flatten() {
                if let Some(s) = s.as_str()
                    && !out.iter().any(|x| x == s)
                {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

/// One record of a metric minute in the stream's format.
fn record(
    p: &Partition,
    d: &Value,
    m: &MetricRec,
    minute: u64,
    a: &Agg,
    unit: &str,
    extra: &[String],
) -> String {
    let stream = d["Name"].as_str().unwrap_or_default();
    let format = d["OutputFormat"].as_str().unwrap_or("json");
    if format.starts_with("opentelemetry") {
        let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
        let dims: Vec<Value> = m.dims.iter().map(|(k, v)| kv(k, v)).collect();
        let mut quantiles = vec![
            json!({"quantile": 0.0, "value": a.min}),
            json!({"quantile": 1.0, "value": a.max}),
        ];
        for s in extra {
            if let (Some(q), Some(v)) = (
                s.strip_prefix('p').and_then(|q| q.parse::<f64>().ok()),
                a.stat(s),
            ) {
                quantiles.push(json!({"quantile": q / 100.0, "value": v}));
            }
        }
        let nanos = |ms: u64| (ms as u128 * 1_000_000).to_string();
        return json!({"resourceMetrics": [{
            "resource": {"attributes": [
                kv("cloud.provider", "aws"), kv("cloud.account.id", &p.account),
                kv("cloud.region", &p.region), kv("aws.exporter.arn", d["Arn"].as_str().unwrap_or_default()),
            ]},
            "scopeMetrics": [{"metrics": [{
                "name": format!("amazonaws.com/{}/{}", m.namespace, m.name),
                "unit": unit,
                "summary": {"dataPoints": [{
                    "startTimeUnixNano": nanos(minute), "timeUnixNano": nanos(minute + MINUTE),
                    "count": a.count, "sum": a.sum, "quantileValues": quantiles,
                    "attributes": [
                        kv("Namespace", &m.namespace), kv("MetricName", &m.name),
                        {"key": "Dimensions", "value": {"kvlistValue": {"values": dims}}},
                    ],
                }]},
            }]}],
        }]})
        .to_string();
    }
    let mut value = json!({"max": a.max, "min": a.min, "sum": a.sum, "count": a.count});
    for s in extra {
        if let Some(v) = a.stat(s) {
            value[s] = json!(v);
        }
    }
    let dims: Map<String, Value> = m.dims.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let mut line = json!({
        "metric_stream_name": stream, "account_id": p.account, "region": p.region,
        "namespace": m.namespace, "metric_name": m.name, "dimensions": dims,
        "timestamp": minute, "value": value, "unit": unit,
    })
    .to_string();
    line.push('\n');
    line
}

fn stream_name(arn: &str) -> &str {
    arn.rsplit_once(":deliverystream/").map_or(arn, |(_, n)| n)
}

impl CloudWatch {
    /// Turn the complete minutes of every running stream into delivery records. Returns how
    /// many records were written.
    pub fn stream_metrics(&self, now: u64) -> usize {
        let to = now.saturating_sub(STREAM_LAG_MS) / MINUTE * MINUTE;
        let mut written = 0;
        for p in self.partitions() {
            let snap = self.store.snapshot();
            let streams: Vec<(String, Value)> = snap
                .scan_prefix(&resources_prefix(&p, crate::catalog::METRIC_STREAM))
                .filter_map(|(_, r)| match r {
                    CwRecord::Resource(r) => {
                        Some((r.id.clone(), serde_json::from_str(&r.body).ok()?))
                    }
                    _ => None,
                })
                .filter(|(_, d): &(String, Value)| d["State"] == "running")
                .collect();
            if streams.is_empty() {
                continue;
            }
            let metrics: Vec<MetricRec> = snap
                .scan_prefix(&metrics_prefix(&p))
                .filter_map(|(_, r)| match r {
                    CwRecord::Metric(m) => Some(m.clone()),
                    _ => None,
                })
                .collect();
            for (name, d) in streams {
                // A stream stored before streams delivered starts now.
                let from = d["_from"].as_u64().unwrap_or(to);
                if from >= to && d.get("_from").is_some() {
                    continue;
                }
                let from = from.max(to.saturating_sub(MAX_CATCH_UP_MS));
                let mut records = Vec::new();
                for m in metrics
                    .iter()
                    .filter(|m| selects(&d, &m.namespace, &m.name) && m.last_ms >= from)
                {
                    let extra = extra_stats(&d, &m.namespace, &m.name);
                    let id = MetricId {
                        ns: &m.namespace,
                        name: &m.name,
                        dims: &m.dims,
                    };
                    for (minute, pts) in buckets(&snap, &p, &id, from, to, MINUTE, None) {
                        let Some(a) = Agg::of(pts.iter().copied()) else {
                            continue;
                        };
                        let unit = pts
                            .first()
                            .and_then(|x| x.unit.as_deref())
                            .unwrap_or("None");
                        records.push(record(&p, &d, m, minute, &a, unit, &extra));
                    }
                }
                written += records.len();
                let seq = self.next_seq();
                self.store.write(|txn| {
                    let k = resource_key(&p, crate::catalog::METRIC_STREAM, &name);
                    // The stream may have been stopped or deleted meanwhile.
                    let Some(CwRecord::Resource(r)) = txn.get(&k) else {
                        return;
                    };
                    let mut r = r.clone();
                    let Ok(mut cur) = serde_json::from_str::<Value>(&r.body) else {
                        return;
                    };
                    if cur["State"] != "running" {
                        return;
                    }
                    cur["_from"] = json!(to);
                    r.body = cur.to_string();
                    txn.insert(k, CwRecord::Resource(r));
                    for (i, chunk) in records.chunks(BATCH).enumerate() {
                        let id = format!("{to:016x}{seq:016x}{i:04x}");
                        txn.insert(
                            stream_delivery_key(&p, &id),
                            CwRecord::StreamDelivery(StreamDeliveryRec {
                                id,
                                stream: name.clone(),
                                firehose_arn: cur["FirehoseArn"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_string(),
                                records: chunk.to_vec(),
                                created_ms: now,
                                due_ms: now,
                                attempts: 0,
                                last_error: None,
                            }),
                        );
                    }
                });
            }
        }
        written
    }

    fn due_deliveries(&self, now: u64) -> Vec<(Partition, StreamDeliveryRec)> {
        let snap = self.store.snapshot();
        let mut due = Vec::new();
        for p in self.partitions() {
            let base = stream_deliveries_prefix(&p);
            for (k, r) in snap.range((Bound::Included(base.clone()), base.prefix_range().1)) {
                if !k.starts_with(&base) {
                    break;
                }
                if let CwRecord::StreamDelivery(d) = r
                    && d.due_ms <= now
                {
                    due.push((p.clone(), d.clone()));
                    if due.len() >= PASS {
                        return due;
                    }
                }
            }
        }
        due
    }

    /// Send every due delivery to its Firehose. Returns the store version of the last write.
    pub async fn deliver_streams(&self, rt: &dyn Runtime) -> Option<u64> {
        let mut version = None;
        for (p, d) in self.due_deliveries(self.now_ms()) {
            let ctx = RequestContext {
                access_key: p.account.clone(),
                partition: p.clone(),
                scope_service: None,
                request_id: snapstack_protocol::request::new_request_id(),
            };
            let input = json!({
                "DeliveryStreamName": stream_name(&d.firehose_arn),
                "Records": d.records.iter()
                    .map(|r| json!({"Data": base64::engine::general_purpose::STANDARD.encode(r)}))
                    .collect::<Vec<_>>(),
            });
            // The records Firehose did not take (all of them when the call failed).
            let (left, error): (Vec<String>, Option<String>) =
                match rt.invoke(&ctx, "firehose", "PutRecordBatch", input).await {
                    Ok(out) => {
                        let resp = out["RequestResponses"].as_array();
                        let failed: Vec<String> = d
                            .records
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| {
                                resp.and_then(|r| r.get(*i)).is_some_and(|x| {
                                    x.get("ErrorCode").is_some_and(|e| !e.is_null())
                                })
                            })
                            .map(|(_, r)| r.clone())
                            .collect();
                        let e = (!failed.is_empty()).then(|| "records refused by Firehose".into());
                        (failed, e)
                    }
                    Err(e) => (
                        d.records.clone(),
                        Some(format!("{}: {}", e.code, e.message)),
                    ),
                };
            let now = self.now_ms();
            let k = stream_delivery_key(&p, &d.id);
            let ((), v) = self.store.write(|txn| {
                if left.is_empty() || d.attempts + 1 >= MAX_ATTEMPTS {
                    if !left.is_empty() {
                        tracing::warn!(stream = %d.stream, error = ?error, "metric stream records dropped after retries");
                    }
                    txn.remove(&k);
                    return;
                }
                let mut n = d.clone();
                n.records = left.clone();
                n.attempts += 1;
                n.due_ms = now + crate::actions::backoff_ms(d.attempts);
                n.last_error = error.clone();
                txn.insert(k.clone(), CwRecord::StreamDelivery(n));
            });
            version = Some(v);
        }
        version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::errors::AwsError;
    use snapstack_service::BoxFuture;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Firehose {
        calls: Mutex<Vec<(String, Value)>>,
        down: Mutex<bool>,
    }

    impl Runtime for Firehose {
        fn ensure_loaded<'a>(&'a self, _s: &'static str) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn wait_durable<'a>(
            &'a self,
            _s: &'static str,
            _v: u64,
        ) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn is_ready(&self, _s: &str) -> bool {
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
                if *self.down.lock().unwrap() {
                    return Err(AwsError::internal("ServiceUnavailableException", "down"));
                }
                self.calls
                    .lock()
                    .unwrap()
                    .push((format!("{service}.{operation}"), input.clone()));
                let n = input["Records"].as_array().map_or(0, Vec::len);
                Ok(
                    json!({"FailedPutCount": 0, "RequestResponses": vec![json!({"RecordId": "r"}); n]}),
                )
            })
        }
    }

    const NOW: u64 = 1_700_000_040_000;

    fn owed(c: &CloudWatch) -> Vec<StreamDeliveryRec> {
        c.store
            .snapshot()
            .iter()
            .filter_map(|(_, r)| match r {
                CwRecord::StreamDelivery(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    fn decoded(call: &Value) -> Vec<Value> {
        call["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap();
                serde_json::from_slice(&b).unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn streams_deliver_minute_statistics_to_firehose() {
        let c = CloudWatch::new();
        c.set_clock(NOW);
        let ctx = RequestContext::from_scope(None);
        let fh = "arn:aws:firehose:us-east-1:000000000000:deliverystream/metrics";
        let put = |name: &str, fmt: &str, extra: Value| {
            let mut v = json!({"Name": name, "FirehoseArn": fh, "RoleArn": "arn:aws:iam::000000000000:role/r",
                "OutputFormat": fmt, "IncludeFilters": [{"Namespace": "App"}]});
            if let Some(o) = extra.as_object() {
                for (k, x) in o {
                    v[k] = x.clone();
                }
            }
            c.handle(&ctx, "PutMetricStream", &v).unwrap();
        };
        put(
            "s",
            "json",
            json!({"StatisticsConfigurations": [{"IncludeMetrics": [{"Namespace": "App", "MetricName": "lat"}], "AdditionalStatistics": ["p50"]}]}),
        );
        put("otel", "opentelemetry1.0", json!({}));
        let data = |ns: &str, v: f64, ts: u64| {
            c.handle(&ctx, "PutMetricData", &json!({"Namespace": ns, "MetricData": [
                {"MetricName": "lat", "Value": v, "Unit": "Milliseconds", "Dimensions": [{"Name": "Host", "Value": "a"}],
                 "Timestamp": ts as f64 / 1000.0}]})).unwrap();
        };
        // The stream starts with the next minute: data of the current one is not streamed.
        data("App", 1.0, NOW + 1_000);
        let m1 = first_minute(NOW);
        data("App", 10.0, m1 + 5_000);
        data("App", 30.0, m1 + 6_000);
        data("Other", 5.0, m1 + 5_000);
        assert_eq!(c.stream_metrics(m1 + 30_000), 0, "the minute is not over");
        c.set_clock(m1 + MINUTE + STREAM_LAG_MS);
        assert_eq!(c.stream_metrics(m1 + MINUTE + STREAM_LAG_MS), 2);
        assert_eq!(c.stream_metrics(m1 + MINUTE + STREAM_LAG_MS), 0, "once");
        let rt = Firehose::default();
        *rt.down.lock().unwrap() = true;
        c.deliver_streams(&rt).await;
        let o = owed(&c);
        assert_eq!(o.len(), 2);
        assert!(o.iter().all(|d| d.attempts == 1 && d.last_error.is_some()));
        *rt.down.lock().unwrap() = false;
        c.set_clock(m1 + 2 * MINUTE);
        c.deliver_streams(&rt).await;
        assert!(owed(&c).is_empty());
        let calls = rt.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2);
        assert!(
            calls
                .iter()
                .all(|(op, i)| op == "firehose.PutRecordBatch"
                    && i["DeliveryStreamName"] == "metrics")
        );
        let all: Vec<Value> = calls.iter().flat_map(|(_, i)| decoded(i)).collect();
        let json_rec = all
            .iter()
            .find(|r| r.get("metric_stream_name").is_some())
            .unwrap();
        assert_eq!(json_rec["namespace"], "App");
        assert_eq!(json_rec["dimensions"], json!({"Host": "a"}));
        assert_eq!(json_rec["timestamp"], m1);
        assert_eq!(
            json_rec["value"],
            json!({"max": 30.0, "min": 10.0, "sum": 40.0, "count": 2.0, "p50": 10.0})
        );
        assert_eq!(json_rec["unit"], "Milliseconds");
        let otel = all
            .iter()
            .find(|r| r.get("resourceMetrics").is_some())
            .unwrap();
        let dp = &otel["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
        assert_eq!(dp["name"], "amazonaws.com/App/lat");
        assert_eq!(dp["summary"]["dataPoints"][0]["count"], 2.0);
        // A stopped stream streams nothing; restarted, it starts from the next minute.
        c.handle(&ctx, "StopMetricStreams", &json!({"Names": ["s", "otel"]}))
            .unwrap();
        data("App", 3.0, m1 + 2 * MINUTE + 1000);
        assert_eq!(c.stream_metrics(m1 + 4 * MINUTE), 0);
        let got = c
            .handle(&ctx, "GetMetricStream", &json!({"Name": "s"}))
            .unwrap()
            .value;
        assert!(got.get("_from").is_none(), "{got}");
    }

    #[test]
    fn filters() {
        let d = json!({"IncludeFilters": [{"Namespace": "A", "MetricNames": ["x"]}]});
        assert!(selects(&d, "A", "x") && !selects(&d, "A", "y") && !selects(&d, "B", "x"));
        let e = json!({"ExcludeFilters": [{"Namespace": "A"}]});
        assert!(!selects(&e, "A", "x") && selects(&e, "B", "x"));
        assert!(selects(&json!({}), "Any", "m"));
    }
}

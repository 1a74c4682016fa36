//! Scheduled queries run: each ENABLED scheduled query holds the absolute time of its next run
//! (`_next`, from its `cron(...)` / `rate(...)` expression in UTC, within its
//! scheduleStartTime and scheduleEndTime). The delivery task runs the due ones: the Logs
//! Insights query over its log groups for `[run − startTimeOffset, run]` (startTimeOffset in
//! seconds, 3600 when absent), its rows written to the S3 destination through
//! `Runtime::invoke(ctx, "s3", "PutObject", ...)` as `<prefix>/<name>/<queryId>.json`, one JSON
//! object per row (field → value); then a run record (GetScheduledQueryHistory), the query's
//! lastTriggeredTime and lastExecutionStatus, and its next time are written together. A run
//! missed while the server was down runs once after the restart; the next one is the first fire
//! time after it. Only the Logs Insights language (`CWLI`) runs; SQL and PPL runs are recorded
//! as `InvalidQuery`.

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::Runtime;

use crate::resources::{self as res, *};
use crate::*;

/// The family of run records (id: the query's name, NUL, the run time in hex).
pub(crate) const SCHEDULED_RUN: &str = "scheduled-query-run";
/// Runs remembered per scheduled query (the oldest go first).
const MAX_RUNS: usize = 100;
/// Runs per pass of the task.
const PASS: usize = 16;

/// The first run time of a query document after `after` (None: none left).
pub(crate) fn next_run(d: &Value, after: u64) -> Option<u64> {
    let sched =
        crate::schedule::parse(d["scheduleExpression"].as_str().unwrap_or_default()).ok()?;
    let start = d["scheduleStartTime"].as_u64().unwrap_or(0);
    let next = sched.next_after(after.max(start.saturating_sub(1)))?;
    match d["scheduleEndTime"].as_u64() {
        Some(end) if next > end => None,
        _ => Some(next),
    }
}

fn run_id(name: &str, at: u64) -> String {
    format!("{name}\0{at:016x}")
}

/// `s3://bucket/prefix` → (bucket, prefix).
fn s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

impl Logs {
    fn due_scheduled(&self, now: u64) -> Vec<(Partition, String, Value)> {
        let snap = self.store.snapshot();
        let mut due = Vec::new();
        for p in self.partitions() {
            for (name, d) in res::all(&snap, &p, SCHEDULED_QUERY) {
                if d["state"] == "ENABLED" && d["_next"].as_u64().is_some_and(|t| t <= now) {
                    due.push((p.clone(), name, d));
                    if due.len() >= PASS {
                        return due;
                    }
                }
            }
        }
        due
    }

    /// Run every due scheduled query. Returns the store version of the last write.
    pub async fn run_scheduled_queries(&self, rt: &dyn Runtime) -> Option<u64> {
        let mut version = None;
        for (p, name, d) in self.due_scheduled(self.now_ms()) {
            let at = d["_next"].as_u64().unwrap_or_default();
            let offset = d["startTimeOffset"].as_u64().unwrap_or(3600) * 1000;
            let groups: Vec<String> = d["logGroupIdentifiers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(name_from_identifier)
                .collect();
            let query_id = uuid(self.next_id());
            let ran = if d["queryLanguage"].as_str().unwrap_or("CWLI") != "CWLI" {
                Err((
                    "InvalidQuery",
                    "Only Logs Insights (CWLI) scheduled queries run in this emulator.".to_string(),
                ))
            } else {
                crate::insights::parse_query(d["queryString"].as_str().unwrap_or_default())
                    .map_err(|e| ("InvalidQuery", e.message.clone()))
                    .and_then(|cmds| {
                        self.run_query(&p, &groups, &cmds, (at.saturating_sub(offset), at), None)
                            .map_err(|e| ("Failed", e.message.clone()))
                    })
            };
            let mut destinations = Vec::new();
            let (status, error) = match ran {
                Err((st, m)) => (st, Some(m)),
                Ok((rows, _stats)) => {
                    match d
                        .pointer("/destinationConfiguration/s3Configuration/destinationIdentifier")
                        .and_then(Value::as_str)
                    {
                        None => ("Complete", None),
                        Some(uri) => {
                            let (st, err, key) = match s3_uri(uri) {
                                None => (
                                    "CLIENT_ERROR",
                                    Some(format!("Invalid S3 URI: {uri}")),
                                    String::new(),
                                ),
                                Some((bucket, prefix)) => {
                                    let key = if prefix.is_empty() {
                                        format!("{name}/{query_id}.json")
                                    } else {
                                        format!("{prefix}/{name}/{query_id}.json")
                                    };
                                    let mut body = String::new();
                                    for r in &rows {
                                        let obj: serde_json::Map<String, Value> = r
                                            .as_array()
                                            .into_iter()
                                            .flatten()
                                            .filter_map(|c| {
                                                Some((
                                                    c["field"].as_str()?.to_string(),
                                                    c["value"].clone(),
                                                ))
                                            })
                                            .collect();
                                        body.push_str(&Value::Object(obj).to_string());
                                        body.push('\n');
                                    }
                                    let input = json!({
                                        "Bucket": bucket, "Key": key,
                                        "Body": base64::engine::general_purpose::STANDARD.encode(body.as_bytes()),
                                        "ContentType": "application/json",
                                    });
                                    let ctx = crate::export::ctx_for(&p);
                                    match rt.invoke(&ctx, "s3", "PutObject", input).await {
                                        Ok(_) => ("COMPLETE", None, format!("s3://{bucket}/{key}")),
                                        Err(e) => (
                                            "FAILED",
                                            Some(format!("{}: {}", e.code, e.message)),
                                            String::new(),
                                        ),
                                    }
                                }
                            };
                            let mut dst = json!({"destinationType": "S3", "destinationIdentifier": uri, "status": st});
                            if let Some(e) = &err {
                                dst["errorMessage"] = json!(e);
                            }
                            if !key.is_empty() {
                                dst["processedIdentifier"] = json!(key);
                            }
                            destinations.push(dst);
                            if st == "COMPLETE" {
                                ("Complete", None)
                            } else {
                                ("Failed", err)
                            }
                        }
                    }
                }
            };
            let now = self.now_ms();
            let mut run = json!({
                "queryId": query_id, "executionStatus": status, "triggeredTimestamp": at,
                "destinations": destinations,
            });
            if let Some(e) = &error {
                run["errorMessage"] = json!(e);
            }
            let ((), v) = self.store.write(|txn| {
                let Some(mut cur) = load_txn(txn, &p, SCHEDULED_QUERY, &name) else {
                    return;
                };
                // Changed meanwhile (updated, disabled): its new schedule stands.
                if cur["_next"] != d["_next"] {
                    return;
                }
                cur["lastTriggeredTime"] = json!(at);
                cur["lastExecutionStatus"] = json!(status);
                cur["_next"] = json!(next_run(&cur, at.max(now.saturating_sub(1))));
                res::store(txn, &p, SCHEDULED_QUERY, &name, &cur, now);
                let base = resources_prefix(&p, SCHEDULED_RUN);
                let mine = resource_key(&p, SCHEDULED_RUN, &format!("{name}\0"));
                let old: Vec<_> = txn
                    .scan_prefix(&base)
                    .filter(|(k, _)| **k >= mine)
                    .take_while(|(_, r)| matches!(r, LogsRecord::Resource(r) if r.id.starts_with(&format!("{name}\0"))))
                    .map(|(k, _)| k.clone())
                    .collect();
                if old.len() >= MAX_RUNS {
                    for k in &old[..old.len() + 1 - MAX_RUNS] {
                        txn.remove(k);
                    }
                }
                res::store(txn, &p, SCHEDULED_RUN, &run_id(&name, at), &run, now);
            });
            version = Some(v);
        }
        version
    }

    /// The runs of a scheduled query, oldest first, filtered as GetScheduledQueryHistory asks.
    pub(crate) fn scheduled_runs(&self, p: &Partition, name: &str, v: &Value) -> Vec<Value> {
        let (from, to) = (int_of(v, "startTime"), int_of(v, "endTime"));
        let statuses = crate::groups::string_list(v, "executionStatuses");
        let prefix = format!("{name}\0");
        res::all(&self.store.snapshot(), p, SCHEDULED_RUN)
            .into_iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(_, d)| d)
            .filter(|d| {
                let t = d["triggeredTimestamp"].as_i64().unwrap_or(0);
                from.is_none_or(|f| t >= f)
                    && to.is_none_or(|e| t <= e)
                    && (statuses.is_empty()
                        || statuses.iter().any(|s| d["executionStatus"] == s.as_str()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::errors::AwsError;
    use snapstack_service::{BoxFuture, RequestContext};
    use std::sync::Mutex;

    #[derive(Default)]
    struct S3 {
        puts: Mutex<Vec<Value>>,
    }

    impl Runtime for S3 {
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
            _service: &'a str,
            _op: &'a str,
            input: Value,
        ) -> BoxFuture<'a, Result<Value, AwsError>> {
            Box::pin(async move {
                self.puts.lock().unwrap().push(input);
                Ok(json!({}))
            })
        }
    }

    /// 2024-01-01T00:00:00Z.
    const T0: u64 = 1_704_067_200_000;

    #[tokio::test]
    async fn scheduled_queries_run_on_their_schedule_into_s3() {
        let l = Logs::new();
        l.set_clock(T0 + 1_000);
        let ctx = RequestContext::from_scope(None);
        let call = |op: &str, v: Value| l.handle(&ctx, op, &v).unwrap().value;
        call("CreateLogGroup", json!({"logGroupName": "/app"}));
        call(
            "CreateLogStream",
            json!({"logGroupName": "/app", "logStreamName": "s"}),
        );
        call(
            "PutLogEvents",
            json!({"logGroupName": "/app", "logStreamName": "s", "logEvents": [
            {"timestamp": T0 - 60_000, "message": "ERROR one"},
            {"timestamp": T0 - 50_000, "message": "INFO two"},
            {"timestamp": T0, "message": "ERROR three"}]}),
        );
        call(
            "CreateScheduledQuery",
            json!({"name": "errors", "queryLanguage": "CWLI",
            "queryString": "filter @message like /ERROR/ | stats count(*) as n",
            "scheduleExpression": "rate(5 minutes)", "executionRoleArn": "arn:aws:iam::000000000000:role/r",
            "logGroupIdentifiers": ["/app"], "startTimeOffset": 600,
            "destinationConfiguration": {"s3Configuration": {"destinationIdentifier": "s3://results/daily", "roleArn": "arn:aws:iam::000000000000:role/r"}}}),
        );
        let rt = S3::default();
        // Not due before its first run (5 minutes after creation).
        assert_eq!(l.run_scheduled_queries(&rt).await, None);
        l.set_clock(T0 + 301_000);
        assert!(l.run_scheduled_queries(&rt).await.is_some());
        let puts = rt.puts.lock().unwrap().clone();
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0]["Bucket"], "results");
        let key = puts[0]["Key"].as_str().unwrap();
        assert!(
            key.starts_with("daily/errors/") && key.ends_with(".json"),
            "{key}"
        );
        let body = base64::engine::general_purpose::STANDARD
            .decode(puts[0]["Body"].as_str().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), "{\"n\":\"2\"}\n");
        // Ran once; the history and the query's state say so; the next run is 5 minutes on.
        assert_eq!(l.run_scheduled_queries(&rt).await, None);
        let q = call("GetScheduledQuery", json!({"identifier": "errors"}));
        assert_eq!(q["lastExecutionStatus"], "Complete");
        assert_eq!(q["lastTriggeredTime"], T0 + 301_000);
        assert!(q.get("_next").is_none());
        let h = call(
            "GetScheduledQueryHistory",
            json!({"identifier": "errors", "startTime": 0, "endTime": T0 + 10_000_000}),
        );
        let runs = h["triggerHistory"].as_array().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["destinations"][0]["status"], "COMPLETE");
        // A disabled query does not run.
        call(
            "UpdateScheduledQuery",
            json!({"identifier": "errors", "queryLanguage": "CWLI",
            "queryString": "fields @message", "scheduleExpression": "rate(5 minutes)",
            "executionRoleArn": "arn:aws:iam::000000000000:role/r", "state": "DISABLED"}),
        );
        l.set_clock(T0 + 3_600_000);
        assert_eq!(l.run_scheduled_queries(&rt).await, None);
    }

    #[test]
    fn uris_and_next_runs() {
        assert_eq!(s3_uri("s3://b/p/q/"), Some(("b".into(), "p/q".into())));
        assert_eq!(s3_uri("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(s3_uri("https://b"), None);
        let d =
            json!({"scheduleExpression": "cron(0 * * * ? *)", "scheduleEndTime": T0 + 3_600_000});
        assert_eq!(next_run(&d, T0), Some(T0 + 3_600_000));
        assert_eq!(next_run(&d, T0 + 3_600_000), None);
    }
}

//! Invoke: RequestResponse (run now, answer the result), Event (a queued record, 202),
//! DryRun (204); a qualifier by version or alias (weighted routing picks a version);
//! `LogType=Tail`; reserved concurrency (429 when every reserved slot is busy).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_service::RequestContext;

use crate::exec::{CodeSource, Executor, FunctionSpec, Outcome};
use crate::model::Config;
use crate::names::{FnRef, function_arn, is_version};
use crate::ops::{Done, fn_ref, s};
use crate::{LResult, Lambda, LambdaError};

/// The largest synchronous request payload (6 MB).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// The largest asynchronous request payload (256 KB).
pub const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;
/// `LogType=Tail` returns at most this much of the log's end.
const TAIL: usize = 4096;

/// The prefix of every pool key of a function.
pub fn pool_prefix(ctx: &RequestContext, name: &str) -> String {
    format!("{}/{}/{}/", ctx.account(), ctx.region(), name)
}

/// One invocation slot of a function, freed on drop.
pub(crate) struct Slot<'a> {
    lambda: &'a Lambda,
    key: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut m = self
            .lambda
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// The error of invoking a container image function: this host has no container executor.
pub(crate) fn no_container_executor(
    ctx: &RequestContext,
    name: &str,
    c: &Config,
) -> Option<LambdaError> {
    let uri = crate::ops::functions::image_of(c)?;
    Some(LambdaError::new(
        500,
        "ServiceException",
        format!(
            "Function {} uses the container image {uri}, and no container executor is available on this host (Docker is not present): image functions are stored but cannot run here.",
            crate::output::config_arn(ctx, name, c)
        ),
    ))
}

impl Lambda {
    /// The configuration an invocation runs: the qualifier's, an alias's primary or (by its
    /// weight) additional version.
    pub(crate) fn target(&self, ctx: &RequestContext, r: &FnRef) -> LResult<(Config, Option<u32>)> {
        let f = self.get_function(ctx, &r.name)?;
        let c = match r.qualifier.as_deref() {
            Some(alias) if !is_version(alias) => {
                let a = self.get_alias(ctx, &r.name, alias)?;
                let mut version = a.function_version.clone();
                if let Some((v, w)) = a.routing.first()
                    && self.random_unit() < *w
                {
                    version = v.clone();
                }
                self.version_config(ctx, &r.name, &version)?
            }
            q => self.config_of(ctx, &f, q)?,
        };
        Ok((c, f.reserved_concurrency))
    }

    fn random_unit(&self) -> f64 {
        let u = self.uuid().replace('-', "");
        let n = u64::from_str_radix(&u[..13], 16).unwrap_or(0);
        n as f64 / (1u64 << 52) as f64
    }

    /// Take an invocation slot, or throttle.
    pub(crate) fn slot(
        &self,
        ctx: &RequestContext,
        name: &str,
        reserved: Option<u32>,
    ) -> LResult<Slot<'_>> {
        let key = pool_prefix(ctx, name);
        let mut m = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        let busy = m.get(&key).copied().unwrap_or(0);
        if m.values().map(|n| *n as usize).sum::<usize>() >= self.max_running {
            metrics::throttled(self, ctx, name);
            return Err(
                LambdaError::new(429, "TooManyRequestsException", "Rate Exceeded.")
                    .with("Reason", json!("ConcurrentInvocationLimitExceeded")),
            );
        }
        if reserved.is_some_and(|r| busy >= r) {
            metrics::throttled(self, ctx, name);
            return Err(
                LambdaError::new(429, "TooManyRequestsException", "Rate Exceeded.").with(
                    "Reason",
                    json!("ReservedFunctionConcurrentInvocationLimitExceeded"),
                ),
            );
        }
        *m.entry(key.clone()).or_default() += 1;
        Ok(Slot { lambda: self, key })
    }

    pub(crate) fn spec(&self, ctx: &RequestContext, name: &str, c: &Config) -> FunctionSpec {
        let place = self.place();
        let now = self.now();
        let day = crate::output::last_modified(now);
        let stream = format!(
            "{}/{}/{}/[{}]{}",
            &day[0..4],
            &day[5..7],
            &day[8..10],
            c.version,
            {
                use sha2::Digest;
                let h = sha2::Sha256::digest(format!("{name}/{}", c.revision_id).as_bytes());
                h.iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            }
        );
        let mut env: Vec<(String, String)> = vec![
            ("AWS_LAMBDA_FUNCTION_NAME".into(), name.into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), c.version.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                c.memory.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                format!("/aws/lambda/{name}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), stream),
            ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
            ("AWS_REGION".into(), ctx.region().into()),
            ("AWS_DEFAULT_REGION".into(), ctx.region().into()),
            (
                "AWS_EXECUTION_ENV".into(),
                format!("AWS_Lambda_{}", c.runtime),
            ),
            ("_HANDLER".into(), c.handler.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ctx.account().into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_SESSION_TOKEN".into(), "test".into()),
            ("AWS_ENDPOINT_URL".into(), place.internal_url.clone()),
            ("AWS_XRAY_CONTEXT_MISSING".into(), "LOG_ERROR".into()),
            ("TZ".into(), ":UTC".into()),
            ("LANG".into(), "en_US.UTF-8".into()),
        ];
        env.extend(c.env.iter().cloned());
        FunctionSpec {
            pool_key: format!("{}{}/{}", pool_prefix(ctx, name), c.version, c.revision_id),
            function_name: name.into(),
            version: c.version.clone(),
            runtime: c.runtime.clone(),
            handler: c.handler.clone(),
            code_sha256: c.code_sha256.clone(),
            timeout_ms: u64::from(c.timeout) * 1000,
            memory_mb: c.memory,
            env,
            layers: self
                .layers_of(&c.extra)
                .into_iter()
                .map(|(sha256, blob)| {
                    let engine = self.engine().clone();
                    let zip: CodeSource =
                        Arc::new(move || crate::code::read(&engine, &blob).map_err(|e| e.message));
                    crate::exec::LayerCode { sha256, zip }
                })
                .collect(),
        }
    }

    /// Run one invocation of a configuration (the slot is the caller's).
    pub(crate) async fn run(
        &self,
        ctx: &RequestContext,
        name: &str,
        c: &Config,
        arn: &str,
        request_id: &str,
        payload: Vec<u8>,
    ) -> Outcome {
        if let Some(e) = no_container_executor(ctx, name, c) {
            return Outcome {
                payload: crate::exec::error_payload("Runtime.Unavailable", &e.message),
                function_error: Some("Unhandled".into()),
                log: format!("{}\n", e.message),
                duration_ms: 0.0,
            };
        }
        let spec = self.spec(ctx, name, c);
        let engine = self.engine().clone();
        let blob = c.code;
        let code: CodeSource =
            Arc::new(move || crate::code::read(&engine, &blob).map_err(|e| e.message));
        let out = self
            .exec
            .invoke(&spec, code, request_id, arn, payload)
            .await;
        self.ship_logs(ctx, name, &spec, &out);
        metrics::completed(self, ctx, name, arn, &out);
        out
    }

    pub(crate) async fn invoke_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = fn_ref(ctx, input)?;
        let kind = s(input, "InvocationType").unwrap_or("RequestResponse");
        let payload = match input.get("Payload").and_then(Value::as_str) {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| LambdaError::invalid("The payload is not valid base64"))?,
            None => Vec::new(),
        };
        let limit = if kind == "Event" {
            MAX_ASYNC_PAYLOAD
        } else {
            MAX_SYNC_PAYLOAD
        };
        if payload.len() > limit {
            return Err(LambdaError::new(
                413,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                ),
            ));
        }
        let payload = if payload.iter().all(u8::is_ascii_whitespace) {
            b"{}".to_vec()
        } else {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
                return Err(LambdaError::new(
                    400,
                    "InvalidRequestContentException",
                    format!(
                        "Could not parse request body into json: Could not parse payload into json: {e}"
                    ),
                ));
            }
            payload
        };
        let (config, reserved) = self.target(ctx, &r)?;
        // Asynchronous invocations of an image function are accepted and fail in the queue
        // (retries, then the DLQ or the on-failure destination), as a failing function does.
        if kind == "RequestResponse"
            && let Some(e) = no_container_executor(ctx, &r.name, &config)
        {
            return Err(e);
        }
        if kind != "DryRun" && crate::durable::is_durable(&config) {
            return self
                .start_durable(
                    ctx,
                    &r,
                    &config,
                    kind,
                    payload,
                    s(input, "DurableExecutionName"),
                )
                .await;
        }
        match kind {
            "DryRun" => Ok(Done::read(json!({ "StatusCode": 204 }))),
            "Event" => {
                // Throttled events are kept and retried by the queue, as Lambda does.
                let version = self.enqueue(ctx, &r.name, r.qualifier.as_deref(), payload);
                Ok(Done::wrote(json!({ "StatusCode": 202 }), version))
            }
            _ => {
                let _slot = self.slot(ctx, &r.name, reserved)?;
                let arn = function_arn(ctx, &r.name, r.qualifier.as_deref());
                let request_id = ctx.request_id.clone();
                let out = self
                    .run(ctx, &r.name, &config, &arn, &request_id, payload)
                    .await;
                let mut o = json!({
                    "StatusCode": 200,
                    "ExecutedVersion": config.version,
                    "Payload": base64::engine::general_purpose::STANDARD.encode(&out.payload),
                });
                if let Some(e) = &out.function_error {
                    o["FunctionError"] = json!(e);
                }
                if s(input, "LogType") == Some("Tail") {
                    let log = out.log.as_bytes();
                    let mut from = log.len().saturating_sub(TAIL);
                    while from < log.len() && !out.log.is_char_boundary(from) {
                        from += 1;
                    }
                    o["LogResult"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(&log[from..]));
                }
                Ok(Done::read(o))
            }
        }
    }
}

/// The metrics AWS publishes for Lambda (`AWS/Lambda`): Invocations, Errors, Throttles and
/// Duration (a statistic set, in milliseconds), by `FunctionName`, and by `FunctionName` and
/// `Resource` (`name:qualifier`) for an invocation of a version or alias. Counted in memory when
/// an invocation completes (or is throttled), reported to CloudWatch once per interval by a
/// task started with the first count (`LAMBDA_DISABLE_CLOUDWATCH_METRICS=1` turns it off,
/// `LAMBDA_CLOUDWATCH_METRICS_REPORT_INTERVAL` sets the interval in seconds, default 60: names
/// of this emulator). Never saved: a stop or a crash loses the last partial interval.
pub(crate) mod metrics {
    use std::sync::{Arc, LazyLock, OnceLock};

    use snapstack_service::RequestContext;
    use snapstack_service::metrics::{Datum, Report, Settings, StatSet, Tally};

    use crate::Lambda;
    use crate::exec::Outcome;

    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub(super) struct Counts {
        pub invocations: u64,
        pub errors: u64,
        pub throttles: u64,
        pub duration: StatSet,
    }

    static SETTINGS: LazyLock<Settings> = LazyLock::new(|| {
        Settings::from_env(
            "LAMBDA_DISABLE_CLOUDWATCH_METRICS",
            "LAMBDA_CLOUDWATCH_METRICS_REPORT_INTERVAL",
        )
    });
    /// One Lambda service's metrics (each instance its own, as two servers in one process,
    /// in tests, must not count into each other).
    #[derive(Default)]
    pub(crate) struct Metrics {
        /// Counters by partition and `name` or `name:qualifier`.
        counts: Arc<Tally<Counts>>,
        /// The reporter's stop signal, kept while the service lives.
        reporter: OnceLock<tokio::sync::watch::Sender<bool>>,
    }

    fn count(lambda: &Lambda, ctx: &RequestContext, resource: &str, f: impl Fn(&mut Counts)) {
        if !SETTINGS.enabled {
            return;
        }
        let m = &lambda.metrics;
        if m.reporter.get().is_none()
            && let Some(rt) = lambda.runtime.get()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let (tx, rx) = tokio::sync::watch::channel(false);
            if m.reporter.set(tx).is_ok() {
                let counts = m.counts.clone();
                snapstack_service::metrics::spawn_reporter(
                    rt.clone(),
                    rx,
                    *SETTINGS,
                    crate::NAME,
                    "AWS/Lambda",
                    move |_| report(counts.drain()),
                );
            }
        }
        if let Some((name, _)) = resource.split_once(':') {
            m.counts.with(&ctx.partition, name, &f);
        }
        m.counts.with(&ctx.partition, resource, f);
    }

    /// An invocation of `arn` completed.
    pub(super) fn completed(
        lambda: &Lambda,
        ctx: &RequestContext,
        name: &str,
        arn: &str,
        out: &Outcome,
    ) {
        let resource = arn.split_once(":function:").map_or(name, |(_, r)| r);
        count(lambda, ctx, resource, |c| {
            c.invocations += 1;
            c.errors += u64::from(out.function_error.is_some());
            c.duration.add(out.duration_ms);
        });
    }

    /// An invocation of function `name` was throttled.
    pub(super) fn throttled(lambda: &Lambda, ctx: &RequestContext, name: &str) {
        count(lambda, ctx, name, |c| c.throttles += 1);
    }

    pub(super) fn report(
        counts: std::collections::HashMap<
            snapstack_engine::Partition,
            std::collections::HashMap<String, Counts>,
        >,
    ) -> Report {
        let mut report: Report = counts
            .into_iter()
            .map(|(p, per)| {
                let mut per: Vec<_> = per.into_iter().collect();
                per.sort_by(|a, b| a.0.cmp(&b.0));
                let mut data = Vec::new();
                for (resource, c) in per {
                    let dims: Vec<(&'static str, &str)> = match resource.split_once(':') {
                        Some((name, _)) => {
                            vec![("FunctionName", name), ("Resource", resource.as_str())]
                        }
                        None => vec![("FunctionName", resource.as_str())],
                    };
                    data.push(Datum::value(
                        "Invocations",
                        &dims,
                        "Count",
                        c.invocations as f64,
                    ));
                    data.push(Datum::value("Errors", &dims, "Count", c.errors as f64));
                    data.push(Datum::value(
                        "Throttles",
                        &dims,
                        "Count",
                        c.throttles as f64,
                    ));
                    if !c.duration.is_empty() {
                        data.push(Datum::stats("Duration", &dims, "Milliseconds", c.duration));
                    }
                }
                (p, data)
            })
            .collect();
        report.sort_by(|a, b| a.0.cmp(&b.0));
        report
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use snapstack_engine::Partition;
        use std::collections::HashMap;

        #[test]
        fn each_service_counts_its_own_invocations() {
            if !SETTINGS.enabled {
                return; // LAMBDA_DISABLE_CLOUDWATCH_METRICS set for this run: nothing counts.
            }
            let d = tempfile::tempdir().unwrap();
            let new = || {
                let engine = Arc::new(snapstack_engine::Engine::in_memory().unwrap());
                Lambda::new(engine, d.path().join("lambda"))
            };
            let (a, b) = (new(), new());
            let ctx = RequestContext::from_scope(None);
            throttled(&a, &ctx, "f");
            throttled(&a, &ctx, "f");
            let counted = a.metrics.counts.drain();
            let per = &counted[&ctx.partition];
            assert_eq!(per["f"].throttles, 2);
            assert!(b.metrics.counts.drain().is_empty());
            assert!(a.metrics.counts.drain().is_empty(), "drained");
        }

        #[test]
        fn report_by_function_and_resource() {
            let p = Partition::new("000000000000", "us-east-1");
            let mut d = StatSet::default();
            d.add(12.0);
            d.add(8.0);
            let mut per = HashMap::new();
            per.insert(
                "f".to_string(),
                Counts {
                    invocations: 3,
                    errors: 1,
                    throttles: 2,
                    duration: d,
                },
            );
            per.insert(
                "f:live".to_string(),
                Counts {
                    invocations: 1,
                    errors: 0,
                    throttles: 0,
                    duration: d,
                },
            );
            let r = report(HashMap::from([(p.clone(), per)]));
            let data = &r[0].1;
            assert_eq!(data.len(), 8);
            assert_eq!(data[0].dims, vec![("FunctionName", "f".to_string())]);
            assert_eq!(
                data[0].sample,
                snapstack_service::metrics::Sample::Value(3.0)
            );
            assert_eq!(
                data[2].sample,
                snapstack_service::metrics::Sample::Value(2.0)
            );
            assert_eq!(data[3].unit, "Milliseconds");
            assert_eq!(
                data[4].dims,
                vec![
                    ("FunctionName", "f".to_string()),
                    ("Resource", "f:live".to_string())
                ]
            );
        }
    }
}

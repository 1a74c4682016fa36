//! Kinesis as a service of the registry: JSON 1.1 (`application/x-amz-json-1.1`, boto3) and the
//! same operations in CBOR (`application/x-amz-cbor-1.1`, the Java SDK and the KCL), both
//! addressed by `X-Amz-Target: Kinesis_20131202.<Op>`; and the retention sweeper.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use snapstack_engine::Engine;
use snapstack_protocol::codec::{cbor, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::reply::model_violation;
use snapstack_service::{BoxFuture, Call, Payload, RequestContext, Runtime, Service};

use crate::{Kinesis, NAME};

/// How often the retention sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// The CBOR content type of AWS's SDKs for Kinesis.
pub const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Json,
    Cbor,
}

impl Wire {
    fn of(parts: &Parts) -> Wire {
        if snapstack_protocol::codec::cbor::is_cbor(&parts.headers) {
            Wire::Cbor
        } else {
            Wire::Json
        }
    }
}

fn response(
    status: u16,
    content_type: &str,
    extra: &[(String, String)],
    body: Vec<u8>,
    rid: &str,
) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    for (k, v) in extra {
        if k.eq_ignore_ascii_case("content-type") || k.eq_ignore_ascii_case("smithy-protocol") {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert("content-type", v);
    }
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

pub(crate) fn model() -> &'static snapstack_protocol::model::ServiceModel {
    snapstack_protocol::model::named(NAME).expect("the kinesis model is embedded")
}

pub(crate) fn error(wire: Wire, e: &AwsError, rid: &str) -> Response {
    let keep = |s: u16| {
        if e.status.as_u16() != 400 {
            e.status.as_u16()
        } else {
            s
        }
    };
    match wire {
        Wire::Json => {
            let (s, h, b) = json::serialize_error(model(), &e.code, &e.message);
            response(keep(s), json::content_type(model()), &h, b, rid)
        }
        Wire::Cbor => {
            let (s, h, b) = cbor::serialize_error(model(), &e.code, &e.message);
            response(keep(s), CBOR_CONTENT_TYPE, &h, b, rid)
        }
    }
}

fn ok(wire: Wire, op: &str, out: &Value, rid: &str) -> Response {
    match wire {
        Wire::Json => response(
            200,
            json::content_type(model()),
            &[],
            json::serialize_output(model(), op, out),
            rid,
        ),
        Wire::Cbor => response(
            200,
            CBOR_CONTENT_TYPE,
            &[],
            cbor::serialize_output(model(), op, out),
            rid,
        ),
    }
}

/// The names' pattern (`[a-zA-Z0-9_.-]+`), which the model validation does not check.
fn name_violation(input: &Value) -> Option<String> {
    let ok = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    };
    for (member, field) in [
        ("StreamName", "streamName"),
        ("ConsumerName", "consumerName"),
    ] {
        if let Some(v) = input.get(member).and_then(Value::as_str)
            && !ok(v)
        {
            return Some(format!(
                "1 validation error detected: Value '{v}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
            ));
        }
    }
    None
}

/// Timestamp members of Kinesis's shapes.
const TIME_MEMBERS: [&str; 7] = [
    "Timestamp",
    "StreamCreationTimestamp",
    "ApproximateArrivalTimestamp",
    "ConsumerCreationTimestamp",
    "StartedAt",
    "EndedAt",
    "EarliestAllowedEndAt",
];

/// The Java SDK's CBOR timestamps are epoch milliseconds (under tag 1), botocore's epoch
/// seconds: an input value too large to be seconds (past the year 5000) is taken as
/// milliseconds; outputs are milliseconds (`to_ms`).
pub(crate) fn cbor_times(v: &mut Value, to_ms: bool, depth: usize) {
    if depth > 16 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if TIME_MEMBERS.contains(&k.as_str())
                    && let Some(n) = x.as_f64()
                {
                    if to_ms {
                        *x = Value::from((n * 1000.0).round() as i64);
                    } else if n > 1.0e11 {
                        *x = Value::from(n / 1000.0);
                    }
                } else {
                    cbor_times(x, to_ms, depth + 1);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cbor_times(x, to_ms, depth + 1)),
        _ => {}
    }
}

impl Kinesis {
    /// Validate and run one call; the output in the JSON shape and the version written.
    async fn call(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        op: &str,
        input: Value,
    ) -> Result<(Value, Option<u64>), AwsError> {
        if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
            return Err(AwsError::new("ValidationException", message));
        }
        if let Some(message) = name_violation(&input) {
            return Err(AwsError::new("ValidationException", message));
        }
        rt.ensure_loaded(NAME).await;
        let out = self.handle(ctx, op, &input)?;
        Ok((out.value, out.version))
    }
}

impl Service for Kinesis {
    fn name(&self) -> &'static str {
        NAME
    }

    fn register(&self, engine: &Arc<Engine>) -> snapstack_engine::Result<()> {
        engine.register(self.store.clone())
    }

    fn serve<'a>(&'a self, rt: &'a dyn Runtime, call: Call<'a>) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let ctx = call.ctx;
            let rid = &ctx.request_id;
            let wire = Wire::of(call.parts);
            let (Some(op), Payload::Bytes(body)) = (call.operation, &call.payload) else {
                return error(
                    wire,
                    &AwsError::new(
                        "UnknownOperationException",
                        "Kinesis requests must name their operation in the X-Amz-Target header",
                    ),
                    rid,
                );
            };
            if !model().operations.contains_key(op) {
                return error(
                    wire,
                    &AwsError::new(
                        "UnknownOperationException",
                        format!("Operation {op} is not supported by this emulator's Kinesis."),
                    ),
                    rid,
                );
            }
            let parsed = match wire {
                Wire::Json => json::parse_input(model(), op, body),
                Wire::Cbor => cbor::parse_input(model(), op, body),
            };
            let input = match parsed {
                Ok(mut v) => {
                    if wire == Wire::Cbor {
                        cbor_times(&mut v, false, 0);
                    }
                    v
                }
                Err(e) => {
                    return error(
                        wire,
                        &AwsError::new(&e.code, e.message).with_status(
                            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                        ),
                        rid,
                    );
                }
            };
            if op == "SubscribeToShard" {
                if let Some(message) = model_violation(NAME, op, Some(&input), usize::MAX) {
                    return error(wire, &AwsError::new("ValidationException", message), rid);
                }
                rt.ensure_loaded(NAME).await;
                return match self.subscribe(&input, wire) {
                    Ok(mut resp) => {
                        if let Ok(v) = HeaderValue::from_str(rid) {
                            resp.headers_mut().insert("x-amzn-RequestId", v);
                        }
                        resp
                    }
                    Err(e) => error(wire, &e, rid),
                };
            }
            match self.call(rt, ctx, op, input).await {
                Ok((out, version)) => {
                    if let Some(v) = version
                        && let Err(e) = rt.wait_durable(NAME, v).await
                    {
                        return error(
                            wire,
                            &AwsError::internal(
                                "InternalFailureException",
                                format!(
                                    "The change was applied but could not be saved durably: {e}"
                                ),
                            ),
                            rid,
                        );
                    }
                    let mut out = out;
                    if wire == Wire::Cbor {
                        cbor_times(&mut out, true, 0);
                    }
                    ok(wire, op, &out, rid)
                }
                Err(e) => error(wire, &e, rid),
            }
        })
    }

    /// Kinesis for other services (Firehose sources, Lambda event sources, DynamoDB's Kinesis
    /// streaming destinations): the JSON shape.
    fn invoke<'a>(
        &'a self,
        rt: &'a dyn Runtime,
        ctx: &'a RequestContext,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<(Value, Option<u64>), AwsError>> {
        Box::pin(async move { self.call(rt, ctx, operation, input).await })
    }

    fn internal_error(&self, ctx: &RequestContext, parts: &Parts, message: &str) -> Response {
        error(
            Wire::of(parts),
            &AwsError::internal("InternalFailureException", message),
            &ctx.request_id,
        )
    }

    fn start(self: Arc<Self>, rt: Arc<dyn Runtime>, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if !rt.is_ready(NAME) {
                    continue;
                }
                let k = self.clone();
                let now = k.now_ms();
                match tokio::task::spawn_blocking(move || k.sweep_retention(now)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(n, "deleted Kinesis records past their retention"),
                    Err(e) => tracing::warn!(error = %e, "the Kinesis retention sweep failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_pattern() {
        assert!(name_violation(&json!({"StreamName": "a-b_c.d"})).is_none());
        let m = name_violation(&json!({"StreamName": "bad name!"})).unwrap();
        assert!(m.contains("Value 'bad name!' at 'streamName'"), "{m}");
        assert!(name_violation(&json!({"ConsumerName": "x/y"})).is_some());
    }

    #[test]
    fn cbor_timestamps_are_milliseconds() {
        let mut v = json!({"Timestamp": 1_700_000_000_123u64, "ShardFilter": {"Timestamp": 1_700_000_000.5}});
        cbor_times(&mut v, false, 0);
        assert_eq!(v["Timestamp"], json!(1_700_000_000.123));
        assert_eq!(v["ShardFilter"]["Timestamp"], json!(1_700_000_000.5));
        let mut o = json!({"Records": [{"ApproximateArrivalTimestamp": 1_700_000_000.123}]});
        cbor_times(&mut o, true, 0);
        assert_eq!(
            o["Records"][0]["ApproximateArrivalTimestamp"],
            json!(1_700_000_000_123i64)
        );
    }
}

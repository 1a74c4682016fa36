//! The request log LocalStack users know from `DEBUG=1`: one line per call,
//! `AWS sqs.CreateQueue => 200 (1.2 ms)`, naming the service and operation the request was
//! matched to. Off unless `DEBUG=1`; costs one flag check per request then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum_core::response::Response;
use http::request::Parts;
use tracing::info;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn the request log on or off (from `DEBUG`).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Which service and operation answered a request: a response extension the gateway and the
/// services set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Called {
    pub service: &'static str,
    pub operation: String,
}

/// Mark a response as the answer of `service`'s `operation` (for this log and for the
/// request metrics, so always).
pub fn tag(mut response: Response, service: &'static str, operation: &str) -> Response {
    response.extensions_mut().insert(Called {
        service,
        operation: operation.to_string(),
    });
    response
}

/// Log one answered request.
pub fn log(parts: &Parts, response: &Response, started: Instant) {
    if !enabled() {
        return;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    match response.extensions().get::<Called>() {
        Some(c) => info!("AWS {}.{} => {status} ({ms:.1} ms)", c.service, c.operation),
        None => info!(
            "{} {} => {status} ({ms:.1} ms)",
            parts.method,
            parts.uri.path()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_whether_or_not_the_log_is_on() {
        enable(false);
        let r = tag(
            Response::new(axum_core::body::Body::empty()),
            "sqs",
            "CreateQueue",
        );
        assert!(r.extensions().get::<Called>().is_some());
        enable(true);
        let r = tag(
            Response::new(axum_core::body::Body::empty()),
            "sqs",
            "CreateQueue",
        );
        assert_eq!(
            r.extensions().get::<Called>().unwrap().operation,
            "CreateQueue"
        );
        enable(false);
    }
}

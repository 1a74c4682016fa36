//! How SQS spells the queue URLs it hands out (`SQS_ENDPOINT_STRATEGY`).

use std::fmt;

/// How SQS spells the queue URLs it hands out (`SQS_ENDPOINT_STRATEGY`, as LocalStack's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqsEndpointStrategy {
    /// `http://sqs.<region>.<LOCALSTACK_HOST>/<account>/<name>` (LocalStack's default).
    Standard,
    /// `http://<region>.queue.<LOCALSTACK_HOST>/<account>/<name>` (`queue.<host>` in us-east-1).
    Domain,
    /// `http://<LOCALSTACK_HOST>/queue/<region>/<account>/<name>`.
    Path,
    /// `http://<the request's Host>/<account>/<name>`.
    Dynamic,
}

impl SqsEndpointStrategy {
    pub const ALLOWED: &'static str = "standard, domain, path, dynamic";
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "standard" => SqsEndpointStrategy::Standard,
            "domain" => SqsEndpointStrategy::Domain,
            "path" => SqsEndpointStrategy::Path,
            "dynamic" => SqsEndpointStrategy::Dynamic,
            _ => return None,
        })
    }
}

impl fmt::Display for SqsEndpointStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SqsEndpointStrategy::Standard => "standard",
            SqsEndpointStrategy::Domain => "domain",
            SqsEndpointStrategy::Path => "path",
            SqsEndpointStrategy::Dynamic => "dynamic",
        })
    }
}

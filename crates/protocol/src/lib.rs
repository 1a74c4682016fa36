//! snapstack-protocol: the wire, driven by AWS's own service models. The models themselves
//! ([`model`]), the matching of REST requests to their operations ([`rest`]), validation of an
//! input against its shape ([`validate`]), the model-driven codecs ([`codec`]), what a request
//! says about its sender ([`request`]), AWS error shapes ([`errors`]) and the request log
//! ([`request_log`]). Knows nothing of storage.

pub mod codec;
pub mod errors;
pub mod model;
pub mod request;
pub mod request_log;
pub mod rest;
pub mod validate;

/// The HTTP types every layer shares.
pub use http;

/// Request and response bodies: streamed, never buffered by the protocol layer unless asked.
pub mod body {
    pub use axum_core::body::Body;
    pub use bytes::Bytes;

    /// Read a whole body, refusing more than `limit` bytes.
    pub async fn to_bytes(body: Body, limit: usize) -> Result<Bytes, axum_core::Error> {
        use http_body_util::BodyExt;
        http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(axum_core::Error::new)
    }
}

/// Responses.
pub mod response {
    pub use axum_core::response::{IntoResponse, Response};
}

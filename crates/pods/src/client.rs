//! The few HTTP calls the `pod` commands make to a running server.

use std::time::Duration;

use crate::{PodError, Result};

/// `POST url` with a JSON body (or none); the status and the body. `Ok(None)` when nothing
/// listens there (connection refused).
pub async fn post(url: &str, body: Option<&serde_json::Value>) -> Result<Option<(u16, String)>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .map_err(|e| PodError(e.to_string()))?;
    let mut req = client.post(url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp
                .text()
                .await
                .map_err(|e| PodError(format!("{url}: {e}")))?;
            Ok(Some((status, text)))
        }
        Err(e) if e.is_connect() => Ok(None),
        Err(e) => Err(PodError(format!("{url}: {e}"))),
    }
}

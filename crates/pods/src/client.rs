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

/// The longest line [`post_lines`] takes (a load's result names every service: small).
const MAX_LINE: usize = 1 << 20;

/// `POST url` with a JSON body, the answer read as lines as they arrive: each complete line
/// goes to `line`. The status; `Ok(None)` when nothing listens there.
pub async fn post_lines(
    url: &str,
    body: &serde_json::Value,
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<u16>> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| PodError(e.to_string()))?;
    let req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => return Err(PodError(format!("{url}: {e}"))),
    };
    let status = resp.status().as_u16();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| PodError(format!("{url}: {e}")))?;
        let Some(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        while let Some(at) = buf.iter().position(|b| *b == b'\n') {
            let l: Vec<u8> = buf.drain(..=at).collect();
            line(String::from_utf8_lossy(&l[..at]).trim());
        }
        if buf.len() > MAX_LINE {
            return Err(PodError(format!(
                "{url}: an answer line longer than {MAX_LINE} bytes"
            )));
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        line(String::from_utf8_lossy(&buf).trim());
    }
    Ok(Some(status))
}

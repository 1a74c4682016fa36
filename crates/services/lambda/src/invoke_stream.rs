//! InvokeWithResponseStream: the function runs as for `Invoke` (RequestResponse or DryRun), and
//! its response is written as an `application/vnd.amazon.eventstream` body: `PayloadChunk`
//! events carrying the response in pieces, then `InvokeComplete` (with `ErrorCode`,
//! `ErrorDetails` and `LogResult` when they apply).
//!
//! The runtime hands the whole response over at once (the Runtime API's buffered
//! `/response`), so the chunks are cut from it after the function finished, not streamed as
//! the handler writes them.

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_protocol::body::Body;
use snapstack_protocol::codec::eventstream;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};
use snapstack_service::{RequestContext, Runtime};

use crate::Lambda;

/// The size of one `PayloadChunk`.
const CHUNK: usize = 64 * 1024;

/// The event-stream body of a finished invocation (the `Invoke` output's neutral shape).
pub(crate) fn stream_body(out: &Value) -> Vec<u8> {
    let payload = out
        .get("Payload")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let mut body = Vec::new();
    let failed = out.get("FunctionError").and_then(Value::as_str);
    if failed.is_none() {
        for piece in payload.chunks(CHUNK) {
            body.extend(eventstream::message(
                &[
                    (":message-type", "event"),
                    (":event-type", "PayloadChunk"),
                    (":content-type", "application/octet-stream"),
                ],
                piece,
            ));
        }
    }
    let mut complete = json!({});
    if let Some(kind) = failed {
        complete["ErrorCode"] = json!(kind);
        complete["ErrorDetails"] = json!(String::from_utf8_lossy(&payload));
    }
    if let Some(l) = out.get("LogResult") {
        complete["LogResult"] = l.clone();
    }
    body.extend(eventstream::json_event(
        "InvokeComplete",
        "application/json",
        &complete,
    ));
    body
}

impl Lambda {
    /// Serve InvokeWithResponseStream on its parsed input.
    pub(crate) async fn invoke_stream(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        input: &Value,
    ) -> Response {
        let mut i = input.clone();
        if i.get("InvocationType").is_none() {
            i["InvocationType"] = json!("RequestResponse");
        }
        let done = match self.call(rt, ctx, "InvokeWithResponseStream", &i).await {
            Ok(d) => d,
            Err(e) => return e.into_response(&ctx.request_id),
        };
        let out = done.output;
        let status = out.get("StatusCode").and_then(Value::as_u64).unwrap_or(200);
        let mut resp = if status == 204 {
            (StatusCode::NO_CONTENT, Body::empty()).into_response()
        } else {
            (StatusCode::OK, Body::from(stream_body(&out))).into_response()
        };
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(eventstream::CONTENT_TYPE),
        );
        if let Some(v) = out
            .get("ExecutedVersion")
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert("x-amz-executed-version", v);
        }
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            h.insert("x-amzn-requestid", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = body;
        while let Some((m, used)) = eventstream::decode(buf).unwrap() {
            out.push((
                m.header(":event-type").unwrap_or("").to_string(),
                m.payload.clone(),
            ));
            buf = &buf[used..];
        }
        out
    }

    #[test]
    fn payload_chunks_then_complete() {
        let big = vec![b'x'; CHUNK + 10];
        let out = json!({
            "StatusCode": 200,
            "Payload": base64::engine::general_purpose::STANDARD.encode(&big),
            "LogResult": "bG9n",
        });
        let ev = events(&stream_body(&out));
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].0, "PayloadChunk");
        assert_eq!(ev[0].1.len() + ev[1].1.len(), big.len());
        assert_eq!(ev[2].0, "InvokeComplete");
        let done: Value = serde_json::from_slice(&ev[2].1).unwrap();
        assert_eq!(done, json!({"LogResult": "bG9n"}));
    }

    #[test]
    fn a_failure_is_reported_in_invoke_complete() {
        let err = br#"{"errorType":"ValueError","errorMessage":"boom"}"#;
        let out = json!({
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": base64::engine::general_purpose::STANDARD.encode(err),
        });
        let ev = events(&stream_body(&out));
        assert_eq!(ev.len(), 1);
        let done: Value = serde_json::from_slice(&ev[0].1).unwrap();
        assert_eq!(done["ErrorCode"], "Unhandled");
        assert!(done["ErrorDetails"].as_str().unwrap().contains("boom"));
    }
}

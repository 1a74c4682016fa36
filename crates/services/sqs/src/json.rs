//! The JSON 1.0 wire codec: `X-Amz-Target: AmazonSQS.<Op>`, `application/x-amz-json-1.0`.
//! Errors carry `__type` (`com.amazonaws.sqs#<Shape>`) and, since the model is
//! `awsQueryCompatible`, the `x-amzn-query-error: <legacy code>;<Sender|Receiver>` header.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use super::SqsError;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The deepest nesting a request may have (SQS inputs are at most 4 levels deep).
const MAX_DEPTH: usize = 16;

/// Decode a request body. An empty body is an empty input.
pub fn decode(body: &[u8]) -> Result<Value, SqsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    if nesting(body) > MAX_DEPTH {
        return Err(SqsError::serialization("The request is nested too deeply."));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| SqsError::serialization(format!("Malformed request body: {e}")))?;
    if !v.is_object() {
        return Err(SqsError::serialization(
            "The request body must be a JSON object.",
        ));
    }
    Ok(v)
}

/// The deepest bracket nesting of a JSON text (brackets inside strings are skipped).
fn nesting(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// An integer given as a JSON number or as a numeric string (the query protocol sends strings).
pub fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None => None,
        Some(N::I(i)) => Some(i),
        Some(N::F(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        Some(N::F(f)) => {
            return Err(serde::de::Error::custom(format!("{f} is not an integer")));
        }
        Some(N::S(s)) => Some(
            s.trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer")))?,
        ),
    })
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

pub fn response(body: &Value, request_id: &str) -> Response {
    with_request_id(
        (StatusCode::OK, body.to_string()).into_response(),
        request_id,
    )
}

pub fn error(e: &SqsError, request_id: &str) -> Response {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.sqs#{}", e.shape),
        "message": e.message,
    });
    let mut resp = with_request_id((e.status, body.to_string()).into_response(), request_id);
    let fault = if e.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", e.code)) {
        resp.headers_mut().insert("x-amzn-query-error", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bodies() {
        assert!(decode(b"").unwrap().is_object());
        assert_eq!(decode(b"[1]").unwrap_err().shape, "SerializationException");
        assert_eq!(decode(b"{").unwrap_err().shape, "SerializationException");
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            decode(deep.as_bytes()).unwrap_err().shape,
            "SerializationException"
        );
        assert_eq!(nesting(br#"{"a":"[[[[["}"#), 1);
    }

    #[test]
    fn integers_from_numbers_or_strings() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "lenient_int")]
            n: Option<i64>,
        }
        let t: T = serde_json::from_str(r#"{"n":"12"}"#).unwrap();
        assert_eq!(t.n, Some(12));
        let t: T = serde_json::from_str(r#"{"n":3}"#).unwrap();
        assert_eq!(t.n, Some(3));
        let t: T = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(t.n, None);
        assert!(serde_json::from_str::<T>(r#"{"n":"x"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"n":1.5}"#).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}

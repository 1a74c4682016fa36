//! The JSON 1.0 wire codec: `X-Amz-Target: AmazonSQS.<Op>`, `application/x-amz-json-1.0`.
//! Errors carry `__type` (`com.amazonaws.sqs#<Shape>`) and, since the model is
//! `awsQueryCompatible`, the `x-amzn-query-error: <legacy code>;<Sender|Receiver>` header.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::HeaderValue;
use snapstack_protocol::model::ServiceModel;
use snapstack_protocol::response::Response;
use snapstack_service::reply;

use super::SqsError;

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

/// SQS's model (its JSON protocol's shapes, error types and query codes).
fn model() -> &'static ServiceModel {
    snapstack_protocol::model::named(super::NAME).expect("the sqs model is embedded")
}

/// An operation's output (its JSON shape) written by the model.
pub fn response(op: &str, body: &Value, request_id: &str) -> Response {
    reply::json_output(model(), op, body, request_id)
}

/// An error in the model's JSON shape: `__type` `com.amazonaws.sqs#<Shape>`, and the legacy
/// query code in `x-amzn-query-error` (the one the error carries: the model's, except
/// `MissingAction` for a request that names no operation).
pub fn error(e: &SqsError, request_id: &str) -> Response {
    let aws = AwsError::new(e.shape, e.message.clone()).with_status(e.status);
    let mut resp = reply::json_error(model(), &aws, request_id);
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

    #[test]
    fn the_models_query_codes_are_the_errors_own() {
        use snapstack_protocol::codec::json::serialize_error;
        let errors = [
            SqsError::no_queue(),
            SqsError::no_queue_or_no_access(),
            SqsError::access_denied("arn"),
            SqsError::queue_exists("q"),
            SqsError::invalid_parameter("m"),
            SqsError::missing("p"),
            SqsError::receipt_invalid("h"),
            SqsError::invalid_attribute_name("a"),
            SqsError::invalid_attribute_value("m"),
            SqsError::invalid_contents("m"),
            SqsError::too_many_entries(11),
            SqsError::empty_batch(),
            SqsError::ids_not_distinct("i"),
            SqsError::invalid_batch_id("i"),
            SqsError::batch_too_long(1, 2),
            SqsError::purge_in_progress("q"),
            SqsError::not_in_flight(),
            SqsError::not_found("m"),
            SqsError::invalid_address("u"),
            SqsError::serialization("m"),
            SqsError::unknown_operation("Nope"),
            SqsError::unknown_operation("ListQueues"),
            SqsError::internal("m"),
        ];
        for e in errors {
            let (status, headers, body) = serialize_error(model(), e.shape, &e.message);
            let fault = if e.sender_fault() {
                "Sender"
            } else {
                "Receiver"
            };
            let query = headers.iter().find(|(k, _)| k == "x-amzn-query-error");
            assert_eq!(
                query.map(|(_, v)| v.as_str()),
                Some(format!("{};{fault}", e.code).as_str()),
                "{e}"
            );
            assert!(
                status == e.status.as_u16() || e.status.as_u16() != 400,
                "{e}"
            );
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["__type"], format!("com.amazonaws.sqs#{}", e.shape));
        }
        // The one the model cannot know: a request that names no operation.
        assert_eq!(SqsError::unknown_operation("").code, "MissingAction");
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}

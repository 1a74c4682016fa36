//! The AWS event-stream framing (`application/vnd.amazon.eventstream`): the binary messages of
//! Kinesis SubscribeToShard, Logs StartLiveTail, S3 SelectObjectContent and Lambda
//! InvokeWithResponseStream.
//!
//! A message is a prelude (total length, headers length, the prelude's CRC-32), headers, the
//! payload and the CRC-32 (IEEE) of everything before it. Only string headers (type 7) are
//! written; [`decode`] reads every header type AWS defines and refuses anything malformed,
//! bounded by the lengths the input declares and by [`MAX_MESSAGE`].

use serde_json::Value;

/// The largest message decoded or encoded (AWS's limit is 16 MiB of payload plus 128 KiB of
/// headers).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 128 * 1024 + 16;

/// The content type of an event-stream response.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// One message with string headers.
///
/// # Panics
/// If a header name is longer than 255 bytes or a value longer than 65,535 bytes (callers pass
/// fixed names and short values), or the message exceeds [`MAX_MESSAGE`].
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        let n = u8::try_from(name.len()).expect("event-stream header name over 255 bytes");
        let v = u16::try_from(value.len()).expect("event-stream header value over 64 KiB");
        h.push(n);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&v.to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    assert!(total <= MAX_MESSAGE, "event-stream message over the limit");
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_be_bytes());
    m.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&m);
    m.extend_from_slice(&prelude_crc.to_be_bytes());
    m.extend_from_slice(&h);
    m.extend_from_slice(payload);
    let crc = crc32fast::hash(&m);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

/// An `event` message of type `kind` whose payload is `payload` as JSON (`content_type` names
/// its protocol, e.g. `application/x-amz-json-1.1`).
pub fn json_event(kind: &str, content_type: &str, payload: &Value) -> Vec<u8> {
    message(
        &[
            (":message-type", "event"),
            (":event-type", kind),
            (":content-type", content_type),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An `exception` message of type `kind` with AWS's `{"message": ...}` payload.
pub fn json_exception(kind: &str, content_type: &str, text: &str) -> Vec<u8> {
    message(
        &[
            (":message-type", "exception"),
            (":exception-type", kind),
            (":content-type", content_type),
        ],
        serde_json::json!({ "message": text })
            .to_string()
            .as_bytes(),
    )
}

/// A header value as decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// A string header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Why bytes are not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The first message of `buf` and the bytes it took, `Ok(None)` if `buf` holds only part of one.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < 12 {
        return Ok(None);
    }
    let total = u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize;
    let hlen = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
    if crc32fast::hash(&buf[..8]) != u32::from_be_bytes(buf[8..12].try_into().unwrap()) {
        return Err(DecodeError("prelude checksum mismatch"));
    }
    if !(16..=MAX_MESSAGE).contains(&total) || hlen > total - 16 {
        return Err(DecodeError("bad message lengths"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let crc = u32::from_be_bytes(buf[total - 4..total].try_into().unwrap());
    if crc32fast::hash(&buf[..total - 4]) != crc {
        return Err(DecodeError("message checksum mismatch"));
    }
    let headers = decode_headers(&buf[12..12 + hlen])?;
    let payload = buf[12 + hlen..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

fn decode_headers(mut h: &[u8]) -> Result<Vec<(String, HeaderValue)>, DecodeError> {
    fn take<'a>(h: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
        if h.len() < n {
            return Err(DecodeError("truncated header"));
        }
        let (a, b) = h.split_at(n);
        *h = b;
        Ok(a)
    }
    fn be<const N: usize>(h: &mut &[u8]) -> Result<[u8; N], DecodeError> {
        Ok(take(h, N)?.try_into().unwrap())
    }
    let mut out = Vec::new();
    while !h.is_empty() {
        let n = take(&mut h, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut h, n)?)
            .map_err(|_| DecodeError("header name is not UTF-8"))?
            .to_string();
        let v = match take(&mut h, 1)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(be(&mut h)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(be(&mut h)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(be(&mut h)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(be(&mut h)?)),
            t @ (6 | 7) => {
                let len = u16::from_be_bytes(be(&mut h)?) as usize;
                let b = take(&mut h, len)?;
                if t == 6 {
                    HeaderValue::Bytes(b.to_vec())
                } else {
                    HeaderValue::String(
                        std::str::from_utf8(b)
                            .map_err(|_| DecodeError("header value is not UTF-8"))?
                            .to_string(),
                    )
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(be(&mut h)?)),
            9 => HeaderValue::Uuid(be(&mut h)?),
            _ => return Err(DecodeError("unknown header type")),
        };
        out.push((name, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn framing_matches_the_spec() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        let m = message(&[(":event-type", "x")], b"{}");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        let hl = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(hl, 1 + 11 + 1 + 2 + 1);
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().unwrap()),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(&m[12 + hl..total - 4], b"{}");
        let (d, used) = decode(&m).unwrap().unwrap();
        assert_eq!(used, m.len());
        assert_eq!(d.header(":event-type"), Some("x"));
        assert_eq!(d.payload, b"{}");
    }

    #[test]
    fn partial_and_corrupt_messages() {
        let m = json_event("E", "application/json", &serde_json::json!({"a": 1}));
        for cut in 0..m.len() {
            assert_eq!(decode(&m[..cut]).unwrap_or(None), None);
        }
        let mut bad = m.clone();
        let last = bad.len() - 5;
        bad[last] ^= 1;
        assert!(decode(&bad).is_err());
        let e = json_exception("Boom", "application/json", "no");
        let (d, _) = decode(&e).unwrap().unwrap();
        assert_eq!(d.header(":message-type"), Some("exception"));
        assert_eq!(d.payload, br#"{"message":"no"}"#);
    }

    proptest! {
        #[test]
        fn round_trip(headers in proptest::collection::vec(("[a-z:-]{1,20}", "\\PC{0,40}"), 0..6),
                      payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let m = message(&hs, &payload);
            let mut two = m.clone();
            two.extend_from_slice(&m);
            let (d, used) = decode(&two).unwrap().unwrap();
            prop_assert_eq!(used, m.len());
            prop_assert_eq!(&d.payload, &payload);
            for ((n, v), (dn, dv)) in headers.iter().zip(&d.headers) {
                prop_assert_eq!(n, dn);
                prop_assert_eq!(&HeaderValue::String(v.clone()), dv);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_headers_never_panic(h in proptest::collection::vec(any::<u8>(), 0..256),
                                         payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            // A frame with valid lengths and CRCs around arbitrary header bytes.
            let total = 12 + h.len() + payload.len() + 4;
            let mut m = Vec::new();
            m.extend_from_slice(&(total as u32).to_be_bytes());
            m.extend_from_slice(&(h.len() as u32).to_be_bytes());
            let c = crc32fast::hash(&m);
            m.extend_from_slice(&c.to_be_bytes());
            m.extend_from_slice(&h);
            m.extend_from_slice(&payload);
            let c = crc32fast::hash(&m);
            m.extend_from_slice(&c.to_be_bytes());
            let _ = decode(&m);
        }
    }
}

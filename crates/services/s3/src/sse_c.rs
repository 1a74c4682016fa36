//! Server-side encryption with customer-provided keys (SSE-C): the
//! `x-amz-server-side-encryption-customer-*` headers (and their `x-amz-copy-source-…` forms)
//! checked as S3 checks them, and the key's MD5 kept as the version's encryption setting
//! (`{"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": …}`), never the key. Every later
//! read of the version (GET, HEAD, a copy from it) and every part of a multipart upload started
//! with a key must present the same key.

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use snapstack_protocol::http::StatusCode;

use crate::{Req, S3Error, S3Result};

const ALGORITHM: &str = "AES256";

/// Which headers carry the key: the request's own object, or a copy's source.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    Object,
    CopySource,
}

impl Target {
    /// The algorithm, key and key-MD5 header names (looked up on every read: no formatting).
    fn headers(self) -> [&'static str; 3] {
        match self {
            Target::Object => [
                "x-amz-server-side-encryption-customer-algorithm",
                "x-amz-server-side-encryption-customer-key",
                "x-amz-server-side-encryption-customer-key-MD5",
            ],
            Target::CopySource => [
                "x-amz-copy-source-server-side-encryption-customer-algorithm",
                "x-amz-copy-source-server-side-encryption-customer-key",
                "x-amz-copy-source-server-side-encryption-customer-key-MD5",
            ],
        }
    }
}

fn invalid(message: &str) -> S3Error {
    S3Error::invalid_argument(message)
        .with("ArgumentName", "x-amz-server-side-encryption")
        .with("ArgumentValue", "null")
}

/// The key's MD5 (base64) a request presents, checked: `None` when it names no key.
pub(crate) fn presented(r: &Req<'_>, target: Target) -> S3Result<Option<String>> {
    let [algorithm, key, md5] = target.headers().map(|h| r.h(h));
    if algorithm.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if algorithm != Some(ALGORITHM) {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
        ));
    }
    let Some(key) = key else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
        ));
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    let computed = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&raw));
    match md5 {
        None => Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )),
        Some(m) if m.trim() != computed => Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )),
        Some(_) => Ok(Some(computed)),
    }
}

/// The customer key itself a request presents (checked as [`presented`] checks it); it is used
/// to wrap or unwrap a body's data key and never kept.
pub(crate) fn presented_key(r: &Req<'_>, target: Target) -> S3Result<Option<[u8; 32]>> {
    if presented(r, target)?.is_none() {
        return Ok(None);
    }
    let key = r.h(target.headers()[1]).unwrap_or("");
    Ok(base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok()))
}

/// The encryption a write with a customer key records (and reports).
pub(crate) fn setting(md5: &str) -> Value {
    json!({"SSECustomerAlgorithm": ALGORITHM, "SSECustomerKeyMD5": md5})
}

/// The key MD5 a version's (or an upload's) encryption setting holds, if it is SSE-C.
pub(crate) fn key_md5_of(sse: &Value) -> Option<&str> {
    sse.get("SSECustomerKeyMD5").and_then(Value::as_str)
}

/// A write naming a customer key and another server-side encryption at once.
pub(crate) fn check_exclusive(r: &Req<'_>) -> S3Result<()> {
    if r.h("x-amz-server-side-encryption").is_some()
        && r.h("x-amz-server-side-encryption-customer-algorithm")
            .is_some()
    {
        return Err(S3Error::invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )
        .with("ArgumentName", "x-amz-server-side-encryption")
        .with(
            "ArgumentValue",
            r.h("x-amz-server-side-encryption").unwrap_or(""),
        ));
    }
    Ok(())
}

/// A read of a version (GET, HEAD, the source of a copy): the key it presents must be the one
/// the version was written with, and a version written without one takes none.
pub(crate) fn check_read(r: &Req<'_>, target: Target, sse: &Value) -> S3Result<()> {
    let given = presented(r, target)?;
    match (key_md5_of(sse), given) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(S3Error::invalid_request(
            "The encryption parameters are not applicable to this object.",
        )),
        (Some(_), None) => Err(S3Error::invalid_request(
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        )),
        (Some(stored), Some(given)) if stored == given => Ok(()),
        (Some(_), Some(_)) => Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied",
        )),
    }
}

/// A part of a multipart upload (UploadPart, UploadPartCopy's destination): an upload started
/// with a customer key takes every part with the same key.
pub(crate) fn check_part(r: &Req<'_>, upload_sse: Option<&Value>) -> S3Result<()> {
    let given = presented(r, Target::Object)?;
    match (upload_sse.and_then(key_md5_of), given) {
        (None, None) => Ok(()),
        // A key on a part of an upload started without one is accepted (and not kept).
        (None, Some(_)) => Ok(()),
        (Some(_), None) => Err(S3Error::invalid_request(
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
        )),
        (Some(stored), Some(given)) if stored == given => Ok(()),
        (Some(_), Some(_)) => Err(S3Error::invalid_request(
            "The provided encryption parameters did not match the ones used originally.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_key_by_its_md5() {
        let s = setting("abc==");
        assert_eq!(key_md5_of(&s), Some("abc=="));
        assert_eq!(key_md5_of(&json!({"ServerSideEncryption": "AES256"})), None);
    }
}

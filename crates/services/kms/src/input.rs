//! Reading members of an operation's JSON input (already validated against the model).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use snapstack_protocol::errors::AwsError;

pub(crate) type Input = Map<String, Value>;

pub(crate) fn str_of<'a>(m: &'a Input, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// A required string member.
pub(crate) fn req<'a>(m: &'a Input, k: &str) -> Result<&'a str, AwsError> {
    str_of(m, k).ok_or_else(|| AwsError::missing(&lower_camel(k)))
}

pub(crate) fn bool_of(m: &Input, k: &str) -> Option<bool> {
    m.get(k).and_then(Value::as_bool)
}

pub(crate) fn int_of(m: &Input, k: &str) -> Option<i64> {
    m.get(k).and_then(Value::as_i64)
}

fn lower_camel(k: &str) -> String {
    let mut c = k.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase())
        .into_iter()
        .chain(c)
        .collect()
}

/// A blob member (base64 in JSON); `max` bounds its decoded length as the model does.
pub(crate) fn blob_of(m: &Input, k: &str, max: usize) -> Result<Option<Vec<u8>>, AwsError> {
    let Some(v) = m.get(k).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = v.as_str().ok_or_else(|| {
        AwsError::new(
            "SerializationException",
            format!("Expected a base64 string for {k}"),
        )
    })?;
    let b = STANDARD.decode(s.trim()).map_err(|_| {
        AwsError::new(
            "SerializationException",
            format!("Value for {k} is not valid base64"),
        )
    })?;
    let field = lower_camel(k);
    if b.is_empty() {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )));
    }
    if b.len() > max {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(Some(b))
}

pub(crate) fn req_blob(m: &Input, k: &str, max: usize) -> Result<Vec<u8>, AwsError> {
    blob_of(m, k, max)?.ok_or_else(|| AwsError::missing(&lower_camel(k)))
}

pub(crate) fn b64(b: &[u8]) -> Value {
    Value::String(STANDARD.encode(b))
}

/// The `EncryptionContext` map (string values only, as the model says).
pub(crate) fn context_of(m: &Input, k: &str) -> BTreeMap<String, String> {
    m.get(k)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn strings_of(m: &Input, k: &str) -> Vec<String> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `DryRun: true`: AWS's answer for a request that would have succeeded.
pub(crate) fn dry_run(m: &Input) -> Result<(), AwsError> {
    if bool_of(m, "DryRun") == Some(true) {
        return Err(AwsError::new(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

/// A page of `items` after `marker` (an item's own marker): `(page, next marker)`.
pub(crate) fn page<T>(
    items: Vec<(String, T)>,
    marker: Option<&str>,
    limit: Option<i64>,
    default: usize,
) -> (Vec<T>, Option<String>) {
    let limit = limit.map(|l| l.clamp(1, 1000) as usize).unwrap_or(default);
    let mut out = Vec::new();
    let mut next = None;
    for (m, item) in items {
        if marker.is_some_and(|mk| m.as_str() < mk) {
            continue;
        }
        if out.len() == limit {
            next = Some(m);
            break;
        }
        out.push(item);
    }
    (out, next)
}

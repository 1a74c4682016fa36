//! The JSON shapes SSM answers with (parameters, metadata, history) and the opaque stand-ins
//! it hands out (SecureString ciphertexts, page tokens).

use super::*;

/// A deterministic, opaque stand-in for a SecureString's ciphertext.
pub(super) fn ciphertext(key_id: &str, value: &str) -> String {
    base64(format!("{key_id}:{value}").as_bytes())
}

pub(super) fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(super) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub(super) fn invalid_token() -> AwsError {
    AwsError::new("InvalidNextToken", "The nextToken is not valid")
}

pub(super) fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub(super) fn value_of(v: &ParamVersion, decrypt: bool) -> String {
    if v.kind == ParamType::SecureString && !decrypt {
        ciphertext(v.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID), &v.value)
    } else {
        v.value.clone()
    }
}

pub(super) fn parameter_json(
    ctx: &RequestContext,
    name: &str,
    v: &ParamVersion,
    decrypt: bool,
    selector: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    m.insert("Type".into(), json!(v.kind.as_str()));
    m.insert("Value".into(), json!(value_of(v, decrypt)));
    m.insert("Version".into(), json!(v.version));
    if let Some(s) = selector {
        m.insert("Selector".into(), json!(s));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("ARN".into(), json!(parameter_arn(ctx, name)));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

pub(super) fn metadata_json(ctx: &RequestContext, p: &Parameter, v: &ParamVersion) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(p.name));
    m.insert("ARN".into(), json!(parameter_arn(ctx, &p.name)));
    m.insert("Type".into(), json!(v.kind.as_str()));
    if let Some(k) = &v.key_id {
        m.insert("KeyId".into(), json!(k));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("LastModifiedUser".into(), json!(v.modified_user));
    if let Some(d) = &v.description {
        m.insert("Description".into(), json!(d));
    }
    if let Some(a) = &v.allowed_pattern {
        m.insert("AllowedPattern".into(), json!(a));
    }
    m.insert("Version".into(), json!(v.version));
    m.insert("Tier".into(), json!(v.tier));
    m.insert("Policies".into(), json!([]));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

pub(super) fn history_json(name: &str, v: &ParamVersion, decrypt: bool) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    m.insert("Type".into(), json!(v.kind.as_str()));
    if let Some(k) = &v.key_id {
        m.insert("KeyId".into(), json!(k));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("LastModifiedUser".into(), json!(v.modified_user));
    if let Some(d) = &v.description {
        m.insert("Description".into(), json!(d));
    }
    m.insert("Value".into(), json!(value_of(v, decrypt)));
    if let Some(a) = &v.allowed_pattern {
        m.insert("AllowedPattern".into(), json!(a));
    }
    m.insert("Version".into(), json!(v.version));
    m.insert("Labels".into(), json!(v.labels));
    m.insert("Tier".into(), json!(v.tier));
    m.insert("Policies".into(), json!([]));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

//! What every operation uses: IAM's errors, the input readers, ids, ARNs, dates, paging, tags
//! and the URL encoding IAM gives policy documents.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use snapstack_protocol::codec::time::ms_to_value;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::model::Tags;

pub fn no_such(message: impl Into<String>) -> AwsError {
    AwsError::new("NoSuchEntity", message).with_status(StatusCode::NOT_FOUND)
}

pub fn exists(message: impl Into<String>) -> AwsError {
    AwsError::new("EntityAlreadyExists", message).with_status(StatusCode::CONFLICT)
}

pub fn conflict(message: impl Into<String>) -> AwsError {
    AwsError::new("DeleteConflict", message).with_status(StatusCode::CONFLICT)
}

pub fn limit(message: impl Into<String>) -> AwsError {
    AwsError::new("LimitExceeded", message).with_status(StatusCode::CONFLICT)
}

pub fn invalid_input(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidInput", message)
}

pub fn malformed(message: impl Into<String>) -> AwsError {
    AwsError::new("MalformedPolicyDocument", message)
}

pub fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationError", message)
}

/// A string member (the model checked required ones; absent reads as empty).
pub fn s<'a>(input: &'a Map<String, Value>, name: &str) -> &'a str {
    input.get(name).and_then(Value::as_str).unwrap_or("")
}

pub fn opt<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub fn boolean(input: &Map<String, Value>, name: &str) -> Option<bool> {
    input.get(name).and_then(Value::as_bool)
}

pub fn number(input: &Map<String, Value>, name: &str) -> Option<u64> {
    input.get(name).and_then(Value::as_u64)
}

pub fn strings(input: &Map<String, Value>, name: &str) -> Vec<String> {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The `Path` member, `/` when absent.
pub fn path(input: &Map<String, Value>) -> String {
    opt(input, "Path").unwrap_or("/").to_string()
}

/// Whether `path` starts with the `PathPrefix` member (all when absent).
pub fn under(input: &Map<String, Value>, path: &str) -> bool {
    opt(input, "PathPrefix").is_none_or(|p| path.starts_with(p))
}

pub fn arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

/// 64 unpredictable bits.
pub fn random_u64() -> u64 {
    snapstack_sts::model::random_u64()
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `n` random characters of IAM's id alphabet (upper-case letters and 2-7).
pub fn random_chars(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut r = random_u64();
        for _ in 0..12 {
            if out.len() == n {
                break;
            }
            out.push(BASE32[(r & 31) as usize] as char);
            r >>= 5;
        }
    }
    out
}

/// A unique id of IAM's form: the kind's 4-letter prefix (`AIDA` users, `AROA` roles, `AGPA`
/// groups, `ANPA` policies, `AIPA` instance profiles, `ASCA` server certificates, `APKA` SSH
/// keys) and 17 characters: 21 in all.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_chars(17))
}

/// A long-term access key id (`AKIA` and 16 characters that encode the account as AWS's do).
pub fn new_access_key_id(account: &str) -> String {
    let temp = snapstack_sts::model::new_access_key_id(account);
    format!("AKIA{}", &temp[4..])
}

/// A date member's value.
pub fn date(ms: u64) -> Value {
    ms_to_value(ms as i64)
}

pub fn tags_out(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

/// The `Tags` member: (key, value) pairs.
pub fn tags_in(input: &Map<String, Value>, name: &str) -> Tags {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t.get("Key")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        t.get("Value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// At most 50 tags per resource.
pub const MAX_TAGS: usize = 50;

/// Merge `new` tags into `tags` (keys case-sensitive, as IAM's are); `LimitExceeded` past 50.
pub fn merge_tags(tags: &mut Tags, new: Tags) -> Result<(), AwsError> {
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in &new {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(k)) {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        seen.push(k);
    }
    let mut out = tags.clone();
    for (k, v) in new {
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(limit("The number of tags has reached the maximum limit."));
    }
    *tags = out;
    Ok(())
}

pub fn remove_tags(tags: &mut Tags, keys: &[String]) {
    tags.retain(|(k, _)| !keys.iter().any(|r| r == k));
}

/// A page of `items` by the `Marker`/`MaxItems` members (100 by default): the items under
/// `list` and, when more remain, `IsTruncated` and the `Marker` of the next page.
pub fn page(input: &Map<String, Value>, list: &str, items: Vec<Value>) -> Value {
    let start = opt(input, "Marker")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let max = number(input, "MaxItems").unwrap_or(100).clamp(1, 1000) as usize;
    let end = start.saturating_add(max).min(items.len());
    let truncated = end < items.len();
    let mut out = Map::new();
    out.insert(list.to_string(), Value::Array(items[start..end].to_vec()));
    out.insert("IsTruncated".into(), Value::Bool(truncated));
    if truncated {
        out.insert("Marker".into(), Value::String(end.to_string()));
    }
    Value::Object(out)
}

/// What IAM leaves unencoded in a policy document (RFC 3986's unreserved characters).
const DOC: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A policy document as IAM returns it: URL-encoded (botocore decodes it).
pub fn encode_doc(doc: &str) -> String {
    utf8_percent_encode(doc, DOC).to_string()
}

/// The length IAM counts against a policy size quota: the document without whitespace.
pub fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_and_key_ids_have_iam_form() {
        let id = new_id("AIDA");
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AIDA"));
        let k = new_access_key_id("123456789012");
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("AKIA"));
        assert_eq!(
            snapstack_sts::model::account_of_key_id(&k).as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn pages_by_marker() {
        let items: Vec<Value> = (0..5).map(Value::from).collect();
        let input = json!({"MaxItems": 2});
        let p = page(input.as_object().unwrap(), "L", items.clone());
        assert_eq!(p["L"], json!([0, 1]));
        assert_eq!(p["Marker"], "2");
        let input = json!({"MaxItems": 2, "Marker": "4"});
        let p = page(input.as_object().unwrap(), "L", items);
        assert_eq!(p["L"], json!([4]));
        assert_eq!(p["IsTruncated"], false);
    }

    proptest! {
        #[test]
        fn encoded_documents_decode_back(doc in "\\PC{0,200}") {
            let enc = encode_doc(&doc);
            let back = percent_encoding::percent_decode_str(&enc).decode_utf8().unwrap();
            prop_assert_eq!(back, doc);
        }
    }
}

//! Stored resources: the families whose state is one JSON document each
//! ([`ResourceRec`], keyed `("r", kind, id)`), and the helpers their operations share: load,
//! store, page through a family, tags, ids and ARNs.

use std::ops::Bound;

use serde_json::{Map, Value, json};
use snapstack_engine::{Partition, Snapshot, Txn};
use snapstack_protocol::errors::AwsError;

use crate::*;

/// Families (the `kind` of a [`ResourceRec`]).
pub(crate) const DESTINATION: &str = "destination";
pub(crate) const RESOURCE_POLICY: &str = "resource-policy";
pub(crate) const ACCOUNT_POLICY: &str = "account-policy";
pub(crate) const DATA_PROTECTION: &str = "data-protection";
pub(crate) const INDEX_POLICY: &str = "index-policy";
pub(crate) const QUERY_DEFINITION: &str = "query-definition";
pub(crate) const TRANSFORMER: &str = "transformer";
pub(crate) const ANOMALY_DETECTOR: &str = "anomaly-detector";
pub(crate) const LOOKUP_TABLE: &str = "lookup-table";
pub(crate) const SCHEDULED_QUERY: &str = "scheduled-query";
pub(crate) const INTEGRATION: &str = "integration";
pub(crate) const S3_TABLE_SOURCE: &str = "s3-table-source";
pub(crate) const IMPORT_TASK: &str = "import-task";
pub(crate) const EXPORT_TASK: &str = "export-task";
pub(crate) const DELIVERY_SOURCE: &str = "delivery-source";
pub(crate) const DELIVERY_DESTINATION: &str = "delivery-destination";
pub(crate) const DELIVERY: &str = "delivery";
pub(crate) const BEARER_TOKEN: &str = "bearer-token";

/// A resource's document, if it exists.
pub(crate) fn load(
    snap: &Snapshot<LogsRecord>,
    p: &Partition,
    kind: &str,
    id: &str,
) -> Option<Value> {
    match snap.get(&resource_key(p, kind, id)) {
        Some(LogsRecord::Resource(r)) => serde_json::from_str(&r.body).ok(),
        _ => None,
    }
}

pub(crate) fn load_txn(
    txn: &Txn<'_, LogsRecord>,
    p: &Partition,
    kind: &str,
    id: &str,
) -> Option<Value> {
    match txn.get(&resource_key(p, kind, id)) {
        Some(LogsRecord::Resource(r)) => serde_json::from_str(&r.body).ok(),
        _ => None,
    }
}

/// Store a resource's document (keeping its creation time if it exists).
pub(crate) fn store(
    txn: &mut Txn<'_, LogsRecord>,
    p: &Partition,
    kind: &str,
    id: &str,
    body: &Value,
    now: u64,
) {
    let k = resource_key(p, kind, id);
    let created_ms = match txn.get(&k) {
        Some(LogsRecord::Resource(r)) => r.created_ms,
        _ => now,
    };
    txn.insert(
        k,
        LogsRecord::Resource(ResourceRec {
            kind: kind.to_string(),
            id: id.to_string(),
            created_ms,
            updated_ms: now,
            body: body.to_string(),
        }),
    );
}

pub(crate) fn remove(txn: &mut Txn<'_, LogsRecord>, p: &Partition, kind: &str, id: &str) -> bool {
    txn.remove(&resource_key(p, kind, id)).is_some()
}

/// Every document of a family, in id order.
pub(crate) fn all(snap: &Snapshot<LogsRecord>, p: &Partition, kind: &str) -> Vec<(String, Value)> {
    snap.scan_prefix(&resources_prefix(p, kind))
        .filter_map(|(_, r)| match r {
            LogsRecord::Resource(r) => Some((r.id.clone(), serde_json::from_str(&r.body).ok()?)),
            _ => None,
        })
        .collect()
}

/// Every document of a family in a write, in id order.
pub(crate) fn all_txn(
    txn: &Txn<'_, LogsRecord>,
    p: &Partition,
    kind: &str,
) -> Vec<(String, Value)> {
    txn.scan_prefix(&resources_prefix(p, kind))
        .filter_map(|(_, r)| match r {
            LogsRecord::Resource(r) => Some((r.id.clone(), serde_json::from_str(&r.body).ok()?)),
            _ => None,
        })
        .collect()
}

/// One page of a family: the documents after the token's id that `keep` accepts (mapped by it),
/// at most `limit`, and the token of the next page.
pub(crate) fn page_of(
    snap: &Snapshot<LogsRecord>,
    p: &Partition,
    kind: &str,
    next_token: Option<&str>,
    limit: usize,
    mut keep: impl FnMut(&str, &Value) -> Option<Value>,
) -> Result<(Vec<Value>, Option<String>), AwsError> {
    let base = resources_prefix(p, kind);
    let start = match next_token {
        Some(t) => Bound::Excluded(resource_key(p, kind, &untoken(t)?)),
        None => Bound::Included(base.clone()),
    };
    let mut items = Vec::new();
    let mut last_id = String::new();
    for (k, r) in snap.range((start, base.prefix_range().1)) {
        if !k.starts_with(&base) {
            break;
        }
        let LogsRecord::Resource(r) = r else { continue };
        let Ok(doc) = serde_json::from_str::<Value>(&r.body) else {
            continue;
        };
        let Some(item) = keep(&r.id, &doc) else {
            continue;
        };
        if items.len() == limit {
            return Ok((items, Some(token(&last_id))));
        }
        last_id = r.id.clone();
        items.push(item);
    }
    Ok((items, None))
}

/// A document without its private members (those starting with `_`).
pub(crate) fn public(doc: &Value) -> Value {
    match doc {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>(),
        ),
        v => v.clone(),
    }
}

/// Copy the members `keys` present in `from` into `to`.
pub(crate) fn copy_members(to: &mut Value, from: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(x) = from.get(*k) {
            to[*k] = x.clone();
        }
    }
}

/// A random-looking UUID (v4 layout) from the service's id counter.
pub(crate) fn uuid(seed: u64) -> String {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// A hex id of `n` characters.
pub(crate) fn hex_id(seed: u64, n: usize) -> String {
    let u = uuid(seed).replace('-', "") + &uuid(seed.wrapping_add(0x5555)).replace('-', "");
    u[..n.min(u.len())].to_string()
}

pub(crate) fn arn(p: &Partition, resource: &str) -> String {
    format!("arn:aws:logs:{}:{}:{resource}", p.region, p.account)
}

/// The last `:`- or `/`-separated part of an ARN naming `kind` (`...:kind:NAME`), or the text.
pub(crate) fn id_from_arn(s: &str, kind: &str) -> String {
    match s.split_once(&format!(":{kind}:")) {
        Some((_, rest)) => rest.to_string(),
        None => s.to_string(),
    }
}

pub(crate) fn tags_of(v: &Value) -> Value {
    v.get("tags").cloned().unwrap_or_else(|| json!({}))
}

/// `ValidationException` (the newer operations' validation error).
pub(crate) fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", message)
}

pub(crate) fn conflict(message: impl Into<String>) -> AwsError {
    AwsError::new("ConflictException", message)
}

/// A policy document must be a JSON object.
pub(crate) fn json_document(doc: &str, what: &str) -> Result<Value, AwsError> {
    match serde_json::from_str::<Value>(doc) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid(format!("{what} is not valid JSON"))),
    }
}

/// The log group an identifier (name or ARN) names, which must exist.
pub(crate) fn existing_group(
    snap: &Snapshot<LogsRecord>,
    p: &Partition,
    id: &str,
) -> Result<String, AwsError> {
    let name = name_from_identifier(id);
    match snap.get(&group_key(p, &name)) {
        Some(LogsRecord::Group(_)) => Ok(name),
        _ => Err(group_missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_v4_layout_and_differ() {
        let a = uuid(1);
        let b = uuid(2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_eq!(hex_id(7, 32).len(), 32);
    }

    #[test]
    fn ids_from_arns() {
        assert_eq!(
            id_from_arn("arn:aws:logs:us-east-1:1:lookup-table:t1", "lookup-table"),
            "t1"
        );
        assert_eq!(id_from_arn("plain", "lookup-table"), "plain");
    }
}

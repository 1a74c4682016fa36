//! Tags of event source mappings: `Tags` on CreateEventSourceMapping, and TagResource,
//! UntagResource and ListTags on an `EventSourceMappingArn`
//! (`arn:aws:lambda:REGION:ACCOUNT:event-source-mapping:UUID`), kept in a
//! [`MappingTags`] record beside the mapping.

use serde_json::{Map, Value, json};
use snapstack_engine::store::Txn;
use snapstack_service::RequestContext;

use crate::model::{LambdaRecord, MappingTags, keys};
use crate::ops::Done;
use crate::{LResult, Lambda, LambdaError};

/// The most tags a resource holds.
const MAX_TAGS: usize = 50;

/// The mapping UUID an `EventSourceMappingArn` names, if `arn` is one.
pub(crate) fn mapping_uuid(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "event-source-mapping", uuid] if !uuid.is_empty() => Some(*uuid),
        _ => None,
    }
}

/// The `Tags` map of an input as pairs.
pub(crate) fn tags_of(input: &Value) -> Vec<(String, String)> {
    input
        .get("Tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn too_many() -> LambdaError {
    LambdaError::invalid("Number of tags exceeds resource tag limit of 50.")
}

/// Check the `Tags` of a CreateEventSourceMapping before anything is written.
pub(crate) fn check_create_tags(input: &Value) -> LResult<Vec<(String, String)>> {
    let mut tags = tags_of(input);
    if tags.len() > MAX_TAGS {
        return Err(too_many());
    }
    tags.sort();
    Ok(tags)
}

/// Write a new mapping's tags (nothing when it has none).
pub(crate) fn put_tags(txn: &mut Txn<'_, LambdaRecord>, uuid: &str, tags: Vec<(String, String)>) {
    if !tags.is_empty() {
        txn.insert(
            keys::mapping_tags(uuid),
            LambdaRecord::MappingTags(MappingTags {
                uuid: uuid.to_string(),
                tags,
            }),
        );
    }
}

/// Drop a deleted mapping's tags.
pub(crate) fn forget(txn: &mut Txn<'_, LambdaRecord>, uuid: &str) {
    txn.remove(&keys::mapping_tags(uuid));
}

impl Lambda {
    fn mapping_tags(&self, uuid: &str) -> Vec<(String, String)> {
        match self.store.snapshot().get(&keys::mapping_tags(uuid)) {
            Some(LambdaRecord::MappingTags(t)) => t.tags.clone(),
            _ => Vec::new(),
        }
    }

    /// TagResource on a mapping: `add` merged in; UntagResource: `remove` taken out.
    pub(crate) fn retag_mapping(
        &self,
        ctx: &RequestContext,
        uuid: &str,
        add: Vec<(String, String)>,
        remove: &[String],
    ) -> LResult<Done> {
        let m = self.get_mapping(ctx, uuid)?;
        let (res, v) = self.store.write(|txn| {
            let mut tags = match txn.get(&keys::mapping_tags(&m.uuid)) {
                Some(LambdaRecord::MappingTags(t)) => t.tags.clone(),
                _ => Vec::new(),
            };
            for (k, val) in add {
                tags.retain(|(t, _)| *t != k);
                tags.push((k, val));
            }
            tags.retain(|(k, _)| !remove.contains(k));
            if tags.len() > MAX_TAGS {
                return Err(too_many());
            }
            tags.sort();
            if tags.is_empty() {
                txn.remove(&keys::mapping_tags(&m.uuid));
            } else {
                put_tags(txn, &m.uuid, tags);
            }
            Ok(())
        });
        res.map(|()| Done::wrote(Value::Null, v))
    }

    /// ListTags on a mapping.
    pub(crate) fn list_mapping_tags(&self, ctx: &RequestContext, uuid: &str) -> LResult<Done> {
        let m = self.get_mapping(ctx, uuid)?;
        let t: Map<String, Value> = self
            .mapping_tags(&m.uuid)
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        Ok(Done::read(json!({ "Tags": t })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_arns_are_recognised() {
        assert_eq!(
            mapping_uuid("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:abc-1"),
            Some("abc-1")
        );
        assert_eq!(
            mapping_uuid("arn:aws:lambda:us-east-1:000000000000:function:f"),
            None
        );
        assert_eq!(
            mapping_uuid("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"),
            None
        );
        assert_eq!(mapping_uuid("f"), None);
    }

    #[test]
    fn create_tags_are_bounded_and_sorted() {
        let t = check_create_tags(&json!({"Tags": {"b": "2", "a": "1"}})).unwrap();
        assert_eq!(t, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(check_create_tags(&json!({ "Tags": many })).is_err());
        assert!(check_create_tags(&json!({})).unwrap().is_empty());
    }
}

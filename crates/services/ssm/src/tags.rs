//! Tags on parameters.

use super::*;

impl Ssm {
    pub(super) fn tag_target(ctx: &RequestContext, input: &TagsInput) -> Result<String, AwsError> {
        let rt = input
            .resource_type
            .as_deref()
            .ok_or_else(|| AwsError::missing("resourceType"))?;
        if rt != "Parameter" {
            return Err(AwsError::new(
                "InvalidResourceType",
                format!("Resource type {rt} is not supported by this emulator."),
            ));
        }
        let id = input
            .resource_id
            .clone()
            .ok_or_else(|| AwsError::missing("resourceId"))?;
        let (base, _, _) = parse_selector(ctx, &id)
            .map_err(|_| AwsError::new("InvalidResourceId", "The resource ID is not valid."))?;
        Ok(base)
    }

    pub(super) fn add_tags(
        &self,
        ctx: &RequestContext,
        input: TagsInput,
    ) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let tags = input.tags.ok_or_else(|| AwsError::missing("tags"))?;
        let k = key(&ctx.partition, &name);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .cloned()
                .ok_or_else(|| AwsError::new("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again."))?;
            for t in tags {
                let (tk, tv) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
                match p.tags.iter_mut().find(|(k2, _)| *k2 == tk) {
                    Some(e) => e.1 = tv,
                    None => p.tags.push((tk, tv)),
                }
            }
            if p.tags.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "TooManyTagsError",
                    "The Tags parameter contains more than 50 tags.",
                ));
            }
            txn.insert(k.clone(), p);
            Ok(())
        });
        result?;
        ok(json!({}), Some(version))
    }

    pub(super) fn remove_tags(
        &self,
        ctx: &RequestContext,
        input: TagsInput,
    ) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let keys = input.tag_keys.ok_or_else(|| AwsError::missing("tagKeys"))?;
        let k = key(&ctx.partition, &name);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .cloned()
                .ok_or_else(|| AwsError::new("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again."))?;
            let before = p.tags.len();
            p.tags.retain(|(tk, _)| !keys.contains(tk));
            let changed = p.tags.len() != before;
            if changed {
                txn.insert(k.clone(), p);
            }
            Ok(changed)
        });
        let changed = result?;
        ok(json!({}), changed.then_some(version))
    }

    pub(super) fn list_tags(
        &self,
        ctx: &RequestContext,
        input: TagsInput,
    ) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let snap = self.store.snapshot();
        let p = snap.get(&key(&ctx.partition, &name)).ok_or_else(|| {
            AwsError::new(
                "InvalidResourceId",
                "The resource ID is not valid. Verify that you entered the correct ID and try again.",
            )
        })?;
        let list: Vec<Value> = p
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        ok(json!({ "TagList": list }), None)
    }
}

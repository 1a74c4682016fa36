//! Tags on parameters, documents, maintenance windows, associations, OpsItems, OpsMetadata,
//! patch baselines and managed instances.

use super::*;

fn invalid_id() -> AwsError {
    AwsError::new(
        "InvalidResourceId",
        "The resource ID is not valid. Verify that you entered the correct ID and try again.",
    )
}

impl SsmRecord {
    fn tags(&self) -> Option<&Vec<(String, String)>> {
        match self {
            SsmRecord::Parameter(p) => Some(&p.tags),
            SsmRecord::Ext(Ext::Document(d)) => Some(&d.tags),
            SsmRecord::Ext(Ext::Window(w)) => Some(&w.tags),
            SsmRecord::Ext(Ext::Object(o)) => Some(&o.tags),
            SsmRecord::Ext(_) => None,
        }
    }

    fn tags_mut(&mut self) -> Option<&mut Vec<(String, String)>> {
        match self {
            SsmRecord::Parameter(p) => Some(&mut p.tags),
            SsmRecord::Ext(Ext::Document(d)) => Some(&mut d.tags),
            SsmRecord::Ext(Ext::Window(w)) => Some(&mut w.tags),
            SsmRecord::Ext(Ext::Object(o)) => Some(&mut o.tags),
            SsmRecord::Ext(_) => None,
        }
    }
}

impl Ssm {
    /// The key of the record a tagging request names.
    pub(super) fn tag_target(ctx: &RequestContext, input: &TagsInput) -> Result<Key, AwsError> {
        let rt = input
            .resource_type
            .as_deref()
            .ok_or_else(|| AwsError::missing("resourceType"))?;
        let id = input
            .resource_id
            .clone()
            .ok_or_else(|| AwsError::missing("resourceId"))?;
        match rt {
            "Parameter" => {
                let (base, _, _) = parse_selector(ctx, &id).map_err(|_| {
                    AwsError::new("InvalidResourceId", "The resource ID is not valid.")
                })?;
                Ok(key(&ctx.partition, &base))
            }
            "Document" => Ok(documents::doc_key(
                &ctx.partition,
                &documents::doc_name(ctx, &id),
            )),
            "MaintenanceWindow" => Ok(windows::window_key(&ctx.partition, &id)),
            // The resources of `objects.rs`: an OpsMetadata object by its ARN, the others by
            // their ids.
            "Association" => Ok(objects::obj_key(&ctx.partition, "assoc", &id)),
            "OpsItem" => Ok(objects::obj_key(&ctx.partition, "opsitem", &id)),
            "PatchBaseline" => Ok(objects::obj_key(&ctx.partition, "baseline", &id)),
            "ManagedInstance" => Ok(objects::obj_key(&ctx.partition, "instance", &id)),
            "OpsMetadata" => {
                let head = format!("arn:aws:ssm:{}:{}:opsmetadata", ctx.region(), ctx.account());
                let rid = id.strip_prefix(&head).unwrap_or(&id);
                Ok(objects::obj_key(&ctx.partition, "opsmeta", rid))
            }
            _ => Err(AwsError::new(
                "InvalidResourceType",
                format!("Resource type {rt} is not supported by this emulator."),
            )),
        }
    }

    pub(super) fn add_tags(
        &self,
        ctx: &RequestContext,
        input: TagsInput,
    ) -> Result<Output, AwsError> {
        let k = Self::tag_target(ctx, &input)?;
        let tags = input.tags.ok_or_else(|| AwsError::missing("tags"))?;
        let (result, version) = self.store.write(|txn| {
            let mut rec = txn.get(&k).cloned().ok_or_else(invalid_id)?;
            let list = rec.tags_mut().ok_or_else(invalid_id)?;
            for t in tags {
                let (tk, tv) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
                match list.iter_mut().find(|(k2, _)| *k2 == tk) {
                    Some(e) => e.1 = tv,
                    None => list.push((tk, tv)),
                }
            }
            if list.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "TooManyTagsError",
                    "The Tags parameter contains more than 50 tags.",
                ));
            }
            txn.insert(k.clone(), rec);
            Ok(())
        });
        result?;
        ok(json!({}), Some(version))
    }

    pub(super) fn remove_tags(
        &self,
        ctx: &RequestContext,
        input: TagsInput,
    ) -> Result<Output, AwsError> {
        let k = Self::tag_target(ctx, &input)?;
        let keys = input.tag_keys.ok_or_else(|| AwsError::missing("tagKeys"))?;
        let (result, version) = self.store.write(|txn| {
            let mut rec = txn.get(&k).cloned().ok_or_else(invalid_id)?;
            let list = rec.tags_mut().ok_or_else(invalid_id)?;
            let before = list.len();
            list.retain(|(tk, _)| !keys.contains(tk));
            let changed = list.len() != before;
            if changed {
                txn.insert(k.clone(), rec);
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
    ) -> Result<Output, AwsError> {
        let k = Self::tag_target(ctx, &input)?;
        let snap = self.store.snapshot();
        let tags = snap
            .get(&k)
            .and_then(SsmRecord::tags)
            .ok_or_else(invalid_id)?;
        let list: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        ok(json!({ "TagList": list }), None)
    }
}

//! Queue tags: TagQueue, UntagQueue, ListQueueTags.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{MAX_TAGS, QueueUrlInput};
use crate::{Out, Req, Sqs, SqsError};

pub(super) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(SqsError::invalid_parameter(format!(
                "Tag {k} is invalid: a key is 1 to 128 characters, a value at most 256."
            )));
        }
    }
    Ok(())
}

pub(super) fn too_many_tags() -> SqsError {
    SqsError::invalid_parameter("Too many tags added for queue: at most 50 tags are allowed.")
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    queue_url: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct UntagInput {
    queue_url: Option<String>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

impl Sqs {
    pub(crate) fn tag_queue(&self, req: &Req<'_>, input: TagInput) -> Result<Out, SqsError> {
        validate_tags(&input.tags)?;
        self.edit_queue(req, input.queue_url, |q| {
            let mut tags = q.tags.clone();
            tags.extend(input.tags);
            if tags.len() > MAX_TAGS {
                return Err(too_many_tags());
            }
            q.tags = tags;
            Ok(())
        })
    }

    pub(crate) fn untag_queue(&self, req: &Req<'_>, input: UntagInput) -> Result<Out, SqsError> {
        self.edit_queue(req, input.queue_url, |q| {
            for k in &input.tag_keys {
                q.tags.remove(k);
            }
            Ok(())
        })
    }

    pub(crate) fn list_queue_tags(
        &self,
        req: &Req<'_>,
        input: QueueUrlInput,
    ) -> Result<Out, SqsError> {
        let (_, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let mut out = Map::new();
        if !q.tags.is_empty() {
            out.insert("Tags".into(), json!(q.tags));
        }
        Ok(Out::read(Value::Object(out)))
    }
}

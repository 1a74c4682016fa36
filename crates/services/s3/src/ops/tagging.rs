//! Object tagging, and the tag sets (XML documents and `x-amz-tagging` queries) buckets share.

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::response::Response;

use crate::model::{Object, S3Record, keys};
use crate::out::{reply, tag_set};
use crate::subres::{malformed, read_input};
use crate::{MAX_TAGS, Req, S3, S3Error, S3Result, routing};

impl S3 {
    pub(crate) fn put_object_tagging(
        &self,
        r: &Req<'_>,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let tags = parse_tagging(r, &doc)?;
        let v = self.update_object(r, |o| o.tags = tags)?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    pub(crate) fn delete_object_tagging(&self, r: &Req<'_>) -> S3Result<(Response, Option<u64>)> {
        let v = self.update_object(r, |o| o.tags.clear())?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    fn update_object(&self, r: &Req<'_>, f: impl FnOnce(&mut Object)) -> S3Result<u64> {
        self.find_object(r, r.bucket(), r.key(), None)?;
        let key = keys::object(r.account(), r.bucket(), r.key());
        let (res, v) = self.store.write(|t| match t.get(&key) {
            Some(S3Record::Object(o)) if !o.delete_marker => {
                let mut o = o.clone();
                f(&mut o);
                t.insert(key.clone(), S3Record::Object(o));
                Ok(())
            }
            _ => Err(S3Error::no_such_key(r.key())),
        });
        res.map(|()| v)
    }

    pub(crate) fn get_object_tagging(&self, r: &Req<'_>) -> S3Result<Response> {
        let o = self.find_object(r, r.bucket(), r.key(), r.q("versionId"))?;
        reply(r.operation, &json!({"TagSet": tag_set(&o.tags)}))
    }
}

fn check_tags(tags: Vec<(String, String)>) -> S3Result<Vec<(String, String)>> {
    if tags.len() > MAX_TAGS {
        return Err(
            S3Error::bad("BadRequest", "Object tags cannot be greater than 10")
                .with("TagCount", tags.len().to_string()),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in &tags {
        // Tags are letters, digits, spaces and a few symbols: control characters (NUL among
        // them, which no XML reply could carry) are refused, never stored.
        if k.is_empty()
            || k.chars().count() > 128
            || v.chars().count() > 256
            || k.chars().chain(v.chars()).any(char::is_control)
        {
            return Err(S3Error::bad(
                "InvalidTag",
                "The TagKey or TagValue you have provided is invalid",
            ));
        }
        if !seen.insert(k) {
            return Err(S3Error::bad(
                "InvalidTag",
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(tags)
}

/// The tag set of a PutBucketTagging or PutObjectTagging body, read by the codec.
pub(crate) fn parse_tagging(r: &Req<'_>, doc: &[u8]) -> S3Result<Vec<(String, String)>> {
    let input = read_input(r, doc)?;
    let set = input
        .pointer("/Tagging/TagSet")
        .and_then(Value::as_array)
        .ok_or_else(malformed)?;
    let text = |t: &Value, m: &str| t.get(m).and_then(Value::as_str).unwrap_or("").to_string();
    check_tags(
        set.iter()
            .map(|t| (text(t, "Key"), text(t, "Value")))
            .collect(),
    )
}

pub(crate) fn parse_tag_query(q: &str) -> S3Result<Vec<(String, String)>> {
    check_tags(routing::parse_query(Some(q))?)
}

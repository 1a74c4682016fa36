//! Tags as condition keys (attribute-based access control): `aws:RequestTag/<key>` and
//! `aws:TagKeys` from the tags a request carries, `aws:ResourceTag/<key>` from the tags of the
//! resource it acts on, read through the owning service (its own tag-listing operation) and
//! cached against that service's store version, as resource policies are.
//!
//! Both are read only when a policy of the request has a condition on them: a request decided
//! by policies without conditions never looks.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use snapstack_policy::{Context, Policy};
use snapstack_service::{RequestContext, Runtime};

use super::resources::{PolicyLookup, account_of};
use crate::gateway::App;

/// The most resources whose tags are remembered (beyond it the cache starts over).
const MAX_CACHED: usize = 10_000;

/// `(key, value)` pairs, in the order the service or the request gave them.
pub type Tags = Vec<(String, String)>;

/// The condition-key prefix of a resource's tags, lower case (keys compare case-insensitively).
pub const RESOURCE_TAG: &str = "aws:resourcetag/";

/// Whether any of `policies` has a condition on the resource's tags.
pub fn read_resource_tags<'p>(mut policies: impl Iterator<Item = &'p Policy>) -> bool {
    policies.any(|p| p.reads_key_prefix(RESOURCE_TAG))
}

/// The pairs of a tag list in any of the models' shapes: a map (`{"k": "v"}`: SQS, Lambda,
/// Kinesis' `CreateStream`, Logs) or a list of `{Key, Value}` (most), `{TagKey, TagValue}`
/// (KMS) or `{key, value}`.
fn pairs(v: &Value) -> Tags {
    match v {
        Value::Object(m) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|t| {
                let field =
                    |names: [&str; 3]| names.iter().find_map(|n| t.get(*n).and_then(Value::as_str));
                let k = field(["Key", "TagKey", "key"])?;
                Some((
                    k.to_string(),
                    field(["Value", "TagValue", "value"])?.to_string(),
                ))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `Tags.member.1.Key`, `Tag.1.Key`, `Tags.1.Key` (query forms) → `(1, true)`; `...Value` →
/// `(1, false)`.
fn form_tag_slot(name: &str) -> Option<(u32, bool)> {
    let rest = name
        .strip_prefix("Tags.")
        .or_else(|| name.strip_prefix("Tag."))?;
    let rest = rest.strip_prefix("member.").unwrap_or(rest);
    let (n, field) = rest.split_once('.')?;
    let n = n.parse().ok()?;
    match field {
        "Key" | "key" => Some((n, true)),
        "Value" | "value" => Some((n, false)),
        _ => None,
    }
}

/// The tags a request carries and the tag keys it names: JSON members `Tags`/`tags` (every
/// model's shape), query parameters `Tags.member.N.Key`/`.Value` (and `Tag.N.*`), the keys an
/// untagging request names (`TagKeys`, `tagKeys`, `TagKeys.member.N`), and S3's
/// `x-amz-tagging` header (`k=v&k2=v2`).
pub fn of_request(fields: &Map<String, Value>, s3_tagging: Option<&str>) -> (Tags, Vec<String>) {
    let mut tags: Tags = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for name in ["Tags", "tags"] {
        if let Some(v) = fields.get(name) {
            tags.extend(pairs(v));
        }
    }
    let mut slots: std::collections::BTreeMap<u32, (Option<String>, Option<String>)> =
        Default::default();
    for (name, v) in fields {
        let Some(text) = v.as_str() else {
            if matches!(name.as_str(), "TagKeys" | "tagKeys")
                && let Value::Array(a) = v
            {
                keys.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
            }
            continue;
        };
        if let Some((n, is_key)) = form_tag_slot(name) {
            let slot = slots.entry(n).or_default();
            if is_key {
                slot.0 = Some(text.to_string());
            } else {
                slot.1 = Some(text.to_string());
            }
        } else if name.starts_with("TagKeys.") || name == "TagKeys" || name == "tagKeys" {
            keys.push(text.to_string());
        }
    }
    tags.extend(
        slots
            .into_values()
            .filter_map(|(k, v)| Some((k?, v.unwrap_or_default()))),
    );
    if let Some(header) = s3_tagging {
        for pair in header.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            tags.push((super::decode(k), super::decode(v)));
        }
    }
    keys.extend(tags.iter().map(|(k, _)| k.clone()));
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    (tags, keys)
}

/// Put a request's tags into its context.
pub fn insert_request(context: &mut Context, tags: &Tags, keys: &[String]) {
    for (k, v) in tags {
        context.insert(&format!("aws:RequestTag/{k}"), v.clone());
    }
    if !keys.is_empty() {
        context.insert_multi("aws:TagKeys", keys.to_vec());
    }
}

/// Put a resource's tags into a request's context.
pub fn insert_resource(context: &mut Context, tags: &Tags) {
    for (k, v) in tags {
        context.insert(&format!("aws:ResourceTag/{k}"), v.clone());
    }
}

/// How the tags of `resource` (an ARN; the request's policy lookup when it has one) are read:
/// the owning service, its tag-listing operation and input. `None`: no tags this server can
/// read for it (read as none).
fn listing(
    service: &str,
    resource: &str,
    lookup: Option<&PolicyLookup>,
) -> Option<(&'static str, &'static str, Value)> {
    if !resource.starts_with("arn:") {
        return None;
    }
    Some(match service {
        "sqs" => match lookup {
            Some(PolicyLookup::SqsQueue(url)) => ("sqs", "ListQueueTags", json!({"QueueUrl": url})),
            _ => return None,
        },
        "sns" => (
            "sns",
            "ListTagsForResource",
            json!({"ResourceArn": resource}),
        ),
        "kms" => ("kms", "ListResourceTags", json!({"KeyId": resource})),
        "secretsmanager" => (
            "secretsmanager",
            "DescribeSecret",
            json!({"SecretId": resource}),
        ),
        "lambda" => {
            // The function's tags, whatever version or alias the ARN names.
            let function: Vec<&str> = resource.splitn(8, ':').take(7).collect();
            (
                "lambda",
                "ListTags",
                json!({"Resource": function.join(":")}),
            )
        }
        "dynamodb" => {
            // An index's or a stream's tags are its table's.
            let table = resource
                .find("/index/")
                .or_else(|| resource.find("/stream/"))
                .map_or(resource, |i| &resource[..i]);
            (
                "dynamodb",
                "ListTagsOfResource",
                json!({"ResourceArn": table}),
            )
        }
        "events" => (
            "events",
            "ListTagsForResource",
            json!({"ResourceARN": resource}),
        ),
        "logs" => {
            let group = resource.strip_suffix(":*").unwrap_or(resource);
            ("logs", "ListTagsForResource", json!({"resourceArn": group}))
        }
        _ => return None,
    })
}

/// The tags of a listing's answer: `Tags`, `tags` or `TagList`, in any model's shape.
fn tags_of_output(out: &Value) -> Tags {
    ["Tags", "tags", "TagList"]
        .iter()
        .find_map(|n| out.get(*n))
        .map(pairs)
        .unwrap_or_default()
}

/// Where a resource's tags were read: the account and Region of the asking request, and the
/// resource.
type Key = (String, String, String);

/// Resources' tags as last read, each with the version of the owning store at the time.
#[derive(Default)]
pub struct TagCache {
    entries: Mutex<std::collections::HashMap<Key, (u64, Arc<Tags>)>>,
}

impl TagCache {
    /// The tags of `resource` of `service` (none when it has none, does not exist or has no
    /// tags this server reads), from the cache while the owning store is at `version`.
    pub async fn get(
        &self,
        app: &App,
        ctx: &RequestContext,
        service: &str,
        resource: &str,
        lookup: Option<&PolicyLookup>,
        version: impl Fn(&str) -> Option<u64>,
    ) -> Arc<Tags> {
        let Some((store, operation, input)) = listing(service, resource, lookup) else {
            return Arc::default();
        };
        let version = version(store);
        let key: Key = (
            ctx.account().to_string(),
            ctx.region().to_string(),
            resource.to_string(),
        );
        if let Some(v) = version {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, tags)) = entries.get(&key)
                && *at == v
            {
                return tags.clone();
            }
        }
        let rt: &dyn Runtime = app.runtime.as_ref();
        let c = super::lookup::in_account(ctx, account_of(resource));
        let tags = Arc::new(
            rt.invoke(&c, store, operation, input)
                .await
                .map(|out| tags_of_output(&out))
                .unwrap_or_default(),
        );
        if let Some(v) = version
            && app.runtime.is_ready(store)
        {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
            entries.insert(key, (v, tags.clone()));
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::enforce::object as fields;

    #[test]
    fn request_tags_in_every_shape() {
        let (t, k) = of_request(&fields(json!({"tags": {"team": "a"}})), None);
        assert_eq!(t, [("team".into(), "a".into())]);
        assert_eq!(k, ["team"]);
        let (t, _) = of_request(
            &fields(
                json!({"Tags": [{"Key": "a", "Value": "1"}, {"TagKey": "b", "TagValue": "2"}]}),
            ),
            None,
        );
        assert_eq!(t, [("a".into(), "1".into()), ("b".into(), "2".into())]);
        let (t, k) = of_request(
            &fields(json!({
                "Tags.member.2.Key": "y", "Tags.member.2.Value": "2",
                "Tags.member.1.Key": "x", "Tags.member.1.Value": "1",
                "Tag.3.Key": "z"
            })),
            None,
        );
        assert_eq!(
            t,
            [
                ("x".into(), "1".into()),
                ("y".into(), "2".into()),
                ("z".into(), String::new())
            ]
        );
        assert_eq!(k, ["x", "y", "z"]);
        let (t, k) = of_request(&fields(json!({"TagKeys": ["a", "b"]})), None);
        assert!(t.is_empty());
        assert_eq!(k, ["a", "b"]);
        let (t, k) = of_request(&fields(json!({"TagKeys.member.1": "a"})), None);
        assert!(t.is_empty());
        assert_eq!(k, ["a"]);
        let (t, _) = of_request(&Map::new(), Some("team=a%20b&empty="));
        assert_eq!(
            t,
            [
                ("team".into(), "a b".into()),
                ("empty".into(), String::new())
            ]
        );
        assert_eq!(
            of_request(&fields(json!({"Tags": "x"})), None).0,
            Vec::new()
        );
    }

    #[test]
    fn listings_name_the_owner_and_its_operation() {
        let l = |s: &str, r: &str| listing(s, r, None);
        assert_eq!(
            l(
                "lambda",
                "arn:aws:lambda:us-east-1:000000000000:function:f:prod"
            ),
            Some((
                "lambda",
                "ListTags",
                json!({"Resource": "arn:aws:lambda:us-east-1:000000000000:function:f"})
            ))
        );
        assert_eq!(
            l(
                "dynamodb",
                "arn:aws:dynamodb:us-east-1:000000000000:table/t/index/i"
            )
            .unwrap()
            .2,
            json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t"})
        );
        assert_eq!(
            l("logs", "arn:aws:logs:us-east-1:000000000000:log-group:g:*")
                .unwrap()
                .2,
            json!({"resourceArn": "arn:aws:logs:us-east-1:000000000000:log-group:g"})
        );
        assert_eq!(l("sqs", "arn:aws:sqs:us-east-1:000000000000:q"), None);
        assert_eq!(l("kms", "*"), None);
        assert_eq!(l("s3", "arn:aws:s3:::b"), None);
        assert_eq!(
            tags_of_output(&json!({"Tags": [{"TagKey": "k", "TagValue": "v"}]})),
            [("k".into(), "v".into())]
        );
        assert_eq!(
            tags_of_output(&json!({"TagList": [{"Key": "k", "Value": "v"}]})),
            [("k".into(), "v".into())]
        );
    }
}

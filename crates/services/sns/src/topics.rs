//! Topics: create (idempotent when the attributes agree), delete (with their subscriptions and
//! pending deliveries' subscriptions left to fail), list, attributes, tags, permissions (as
//! edits of the topic's policy) and data protection policies.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

use crate::model::{self, SnsRecord, Topic};
use crate::{
    Answer, Input, Sns, invalid, invalid_param, not_found, str_of, string_map, topic_of_arn,
};

/// Topic attributes `CreateTopic` and `SetTopicAttributes` accept.
const TOPIC_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "DisplayName",
    "Policy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "ContentBasedDeduplication",
    "FifoTopic",
    "ArchivePolicy",
    "FifoThroughputScope",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "LambdaFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "SQSFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ApplicationFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "FirehoseFailureFeedbackRoleArn",
];

/// Most topics per account and region (AWS's default quota).
const MAX_TOPICS: usize = 100_000;
/// Page sizes of ListTopics / ListSubscriptions.
pub const PAGE: usize = 100;
const MAX_TAGS: usize = 50;

pub(crate) fn valid_topic_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 256
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn default_policy(arn: &str, account: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
    .to_string()
}

fn default_delivery_policy() -> String {
    json!({"http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3,
            "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "numMinDelayRetries": 0,
            "backoffFunction": "linear"
        },
        "disableSubscriptionOverrides": false,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}
    }})
    .to_string()
}

/// Check one topic attribute's value; normalizes booleans.
fn check_topic_attribute(name: &str, value: &str, fifo: bool) -> Result<String, AwsError> {
    match name {
        "ContentBasedDeduplication" | "FifoTopic" => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => {
                if name == "ContentBasedDeduplication"
                    && !fifo
                    && value.eq_ignore_ascii_case("true")
                {
                    return Err(invalid(
                        "Invalid parameter: Attributes Reason: Content based deduplication can only be set for FIFO topics",
                    ));
                }
                Ok(value.to_ascii_lowercase())
            }
            _ => Err(invalid(format!(
                "Invalid parameter: Attributes Reason: {name}: Invalid value [{value}]. Must be true or false."
            ))),
        },
        "Policy" | "DeliveryPolicy" | "ArchivePolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(_)) => Ok(value.to_string()),
                _ => Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: {name}: failed to parse JSON."
                ))),
            }
        }
        "TracingConfig" => match value {
            "Active" | "PassThrough" => Ok(value.to_string()),
            _ => Err(invalid(
                "Invalid parameter: Attributes Reason: TracingConfig: Invalid value",
            )),
        },
        "SignatureVersion" => match value {
            "1" | "2" => Ok(value.to_string()),
            _ => Err(invalid(
                "Invalid parameter: Attributes Reason: SignatureVersion: Invalid value ["
                    .to_string()
                    + value
                    + "]. Must be 1 or 2.",
            )),
        },
        "DisplayName" if value.len() > 100 => Err(invalid_param("DisplayName")),
        _ => Ok(value.to_string()),
    }
}

fn tags_of(input: &Input) -> Vec<(String, String)> {
    input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_string(),
                        t.get("Value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_tags(tags: &[(String, String)]) -> Result<(), AwsError> {
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 || k.starts_with("aws:") {
            return Err(AwsError::new(
                "InvalidParameter",
                format!("Invalid parameter: Tags Reason: invalid tag key or value: {k}"),
            ));
        }
    }
    Ok(())
}

impl Sns {
    pub(crate) fn load_topic(&self, arn: &str) -> Result<(Partition, Topic), AwsError> {
        let (p, name) = topic_of_arn(arn)?;
        match self.store.snapshot().get(&model::topic_key(&p, &name)) {
            Some(SnsRecord::Topic(t)) => Ok((p, (**t).clone())),
            _ => Err(not_found("Topic does not exist")),
        }
    }

    pub(crate) fn create_topic(
        &self,
        ctx: &RequestContext,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or("");
        let mut attrs = string_map(input, "Attributes");
        let fifo_attr = attrs
            .get("FifoTopic")
            .map(|v| v.eq_ignore_ascii_case("true"));
        let fifo = fifo_attr.unwrap_or(false);
        if fifo && !(name.ends_with(".fifo") && valid_topic_name(name)) {
            return Err(invalid(
                "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
            ));
        }
        if !valid_topic_name(name) || (!fifo && name.ends_with(".fifo")) {
            return Err(invalid("Invalid parameter: Topic Name"));
        }
        for (k, v) in attrs.iter_mut() {
            if !TOPIC_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: Unknown attribute {k}"
                )));
            }
            *v = check_topic_attribute(k, v, fifo)?;
        }
        if !fifo {
            attrs.remove("FifoTopic");
        }
        let tags = tags_of(input);
        check_tags(&tags)?;
        let dpp = str_of(input, "DataProtectionPolicy").map(str::to_string);
        let p = ctx.partition.clone();
        let arn = format!("arn:aws:sns:{}:{}:{}", p.region, p.account, name);
        let key = model::topic_key(&p, name);
        let (res, version) = self.store.write(|txn| {
            if let Some(SnsRecord::Topic(t)) = txn.get(&key) {
                let same = attrs.iter().all(|(k, v)| t.attributes.get(k) == Some(v));
                if !same {
                    return Err(invalid(
                        "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
                    ));
                }
                let tags_ok = tags.iter().all(|(k, v)| {
                    t.tags.iter().any(|(tk, tv)| tk == k && tv == v)
                });
                if !tags_ok {
                    return Err(invalid(
                        "Invalid parameter: Tags Reason: Topic already exists with different tags",
                    ));
                }
                return Ok(false);
            }
            if txn.scan_prefix(&model::topics_prefix(&p)).take(MAX_TOPICS).count() >= MAX_TOPICS {
                return Err(AwsError::new("TopicLimitExceeded", "Topic limit exceeded")
                    .with_status(snapstack_protocol::http::StatusCode::FORBIDDEN));
            }
            let mut dedup_tags: Vec<(String, String)> = Vec::new();
            for (k, v) in &tags {
                dedup_tags.retain(|(dk, _)| dk != k);
                dedup_tags.push((k.clone(), v.clone()));
            }
            txn.insert(
                key.clone(),
                SnsRecord::Topic(Box::new(Topic {
                    name: name.to_string(),
                    arn: arn.clone(),
                    attributes: attrs.clone(),
                    tags: dedup_tags,
                    data_protection_policy: dpp.clone(),
                    sequence: 0,
                })),
            );
            Ok(true)
        });
        let wrote = res?;
        let out = json!({ "TopicArn": arn });
        Ok(if wrote {
            Answer::wrote(out, version)
        } else {
            Answer::read(out)
        })
    }

    pub(crate) fn delete_topic(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "TopicArn").unwrap_or("");
        let (p, name) = topic_of_arn(arn)?;
        let (_, version) = self.store.write(|txn| {
            txn.remove(&model::topic_key(&p, &name));
            txn.remove_prefix(&model::subs_of_topic(&p, &name));
            txn.remove_prefix(&model::dedup_prefix(&p, &name));
        });
        // AWS answers success for a topic that does not exist.
        Ok(Answer::wrote(json!({}), version))
    }

    pub(crate) fn list_topics(&self, ctx: &RequestContext, input: &Input) -> Value {
        let after = str_of(input, "NextToken").unwrap_or("");
        let snap = self.store.snapshot();
        let mut topics = Vec::new();
        let mut next = None;
        for (_, r) in snap.scan_prefix(&model::topics_prefix(&ctx.partition)) {
            if let SnsRecord::Topic(t) = r {
                if !after.is_empty() && t.name.as_str() <= after {
                    continue;
                }
                if topics.len() == PAGE {
                    next = topics.last().and_then(|v: &Value| v.get("name").cloned());
                    break;
                }
                topics.push(json!({"TopicArn": t.arn, "name": t.name}));
            }
        }
        let mut out = json!({
            "Topics": topics.iter().map(|t| json!({"TopicArn": t["TopicArn"]})).collect::<Vec<_>>()
        });
        if let Some(n) = next {
            out["NextToken"] = n;
        }
        out
    }

    pub(crate) fn get_topic_attributes(&self, input: &Input) -> Result<Value, AwsError> {
        let (p, t) = self.load_topic(str_of(input, "TopicArn").unwrap_or(""))?;
        let snap = self.store.snapshot();
        let (mut confirmed, mut pending) = (0, 0);
        for (_, r) in snap.scan_prefix(&model::subs_of_topic(&p, &t.name)) {
            if let SnsRecord::Subscription(s) = r {
                if s.pending_token.is_some() {
                    pending += 1;
                } else {
                    confirmed += 1;
                }
            }
        }
        let mut attrs: BTreeMap<String, String> = BTreeMap::new();
        attrs.insert("TopicArn".into(), t.arn.clone());
        attrs.insert("Owner".into(), p.account.clone());
        attrs.insert("Policy".into(), default_policy(&t.arn, &p.account));
        attrs.insert("DisplayName".into(), String::new());
        attrs.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
        attrs.insert("SubscriptionsPending".into(), pending.to_string());
        attrs.insert("SubscriptionsDeleted".into(), "0".into());
        attrs.insert("EffectiveDeliveryPolicy".into(), default_delivery_policy());
        if t.is_fifo() {
            attrs.insert("FifoTopic".into(), "true".into());
            attrs.insert("ContentBasedDeduplication".into(), "false".into());
        }
        for (k, v) in &t.attributes {
            if k == "DeliveryPolicy" && !v.is_empty() {
                attrs.insert("EffectiveDeliveryPolicy".into(), v.clone());
            }
            attrs.insert(k.clone(), v.clone());
        }
        Ok(json!({ "Attributes": attrs }))
    }

    pub(crate) fn set_topic_attributes(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "TopicArn").unwrap_or("");
        let name = str_of(input, "AttributeName").unwrap_or("");
        let value = str_of(input, "AttributeValue").unwrap_or("");
        if !TOPIC_ATTRIBUTES.contains(&name) || name == "FifoTopic" {
            return Err(invalid_param("AttributeName"));
        }
        self.edit_topic(arn, |t| {
            let v = check_topic_attribute(name, value, t.is_fifo())?;
            t.attributes.insert(name.to_string(), v);
            Ok(())
        })
    }

    /// Edit a topic in one write; `NotFound` if it does not exist.
    pub(crate) fn edit_topic(
        &self,
        arn: &str,
        f: impl FnOnce(&mut Topic) -> Result<(), AwsError>,
    ) -> Result<Answer, AwsError> {
        let (p, name) = topic_of_arn(arn)?;
        let key = model::topic_key(&p, &name);
        let (res, version) = self.store.write(|txn| {
            let Some(SnsRecord::Topic(t)) = txn.get(&key) else {
                return Err(not_found("Topic does not exist"));
            };
            let mut t = (**t).clone();
            f(&mut t)?;
            txn.insert(key.clone(), SnsRecord::Topic(Box::new(t)));
            Ok(())
        });
        res.map(|()| Answer::wrote(json!({}), version))
    }

    pub(crate) fn add_permission(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "TopicArn").unwrap_or("");
        let label = str_of(input, "Label").unwrap_or("").to_string();
        let list = |n: &str| -> Vec<String> {
            input
                .get(n)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let accounts = list("AWSAccountId");
        let actions = list("ActionName");
        if accounts.is_empty() {
            return Err(invalid_param("AWSAccountId"));
        }
        if actions.is_empty() {
            return Err(invalid_param("ActionName"));
        }
        self.edit_topic(arn, |t| {
            let owner = model::parse_arn(&t.arn)
                .map(|a| a.account.to_string())
                .unwrap_or_default();
            let current = t
                .attributes
                .get("Policy")
                .filter(|p| !p.is_empty())
                .cloned()
                .unwrap_or_else(|| default_policy(&t.arn, &owner));
            let policy =
                crate::policy::add_statement(&current, &label, &t.arn, &accounts, &actions)?;
            t.attributes.insert("Policy".into(), policy);
            Ok(())
        })
    }

    pub(crate) fn remove_permission(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "TopicArn").unwrap_or("");
        let label = str_of(input, "Label").unwrap_or("").to_string();
        self.edit_topic(arn, |t| {
            let owner = model::parse_arn(&t.arn)
                .map(|a| a.account.to_string())
                .unwrap_or_default();
            let current = t
                .attributes
                .get("Policy")
                .filter(|p| !p.is_empty())
                .cloned()
                .unwrap_or_else(|| default_policy(&t.arn, &owner));
            let policy = crate::policy::remove_statement(&current, &label)?;
            t.attributes.insert("Policy".into(), policy);
            Ok(())
        })
    }

    fn tagged_topic_arn(input: &Input) -> Result<&str, AwsError> {
        let arn = str_of(input, "ResourceArn").unwrap_or("");
        topic_of_arn(arn).map_err(|_| {
            AwsError::new("ResourceNotFound", "Resource does not exist")
                .with_status(snapstack_protocol::http::StatusCode::NOT_FOUND)
        })?;
        Ok(arn)
    }

    fn resource_missing(e: AwsError) -> AwsError {
        if e.code == "NotFound" {
            AwsError::new("ResourceNotFound", "Resource does not exist")
                .with_status(snapstack_protocol::http::StatusCode::NOT_FOUND)
        } else {
            e
        }
    }

    pub(crate) fn tag_resource(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = Self::tagged_topic_arn(input)?;
        let tags = tags_of(input);
        check_tags(&tags)?;
        self.edit_topic(arn, |t| {
            for (k, v) in &tags {
                t.tags.retain(|(tk, _)| tk != k);
                t.tags.push((k.clone(), v.clone()));
            }
            if t.tags.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "TagLimitExceeded",
                    "Could not complete request: tag quota of per resource exceeded",
                ));
            }
            Ok(())
        })
        .map_err(Self::resource_missing)
    }

    pub(crate) fn untag_resource(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = Self::tagged_topic_arn(input)?;
        let keys: Vec<String> = input
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        self.edit_topic(arn, |t| {
            t.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })
        .map_err(Self::resource_missing)
    }

    pub(crate) fn list_tags(&self, input: &Input) -> Result<Value, AwsError> {
        let arn = Self::tagged_topic_arn(input)?;
        let (_, t) = self.load_topic(arn).map_err(Self::resource_missing)?;
        Ok(json!({
            "Tags": t.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()
        }))
    }

    pub(crate) fn put_data_protection_policy(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "ResourceArn").unwrap_or("");
        let policy = str_of(input, "DataProtectionPolicy")
            .unwrap_or("")
            .to_string();
        if !matches!(serde_json::from_str::<Value>(&policy), Ok(Value::Object(_))) {
            return Err(invalid(
                "Invalid parameter: DataProtectionPolicy: failed to parse JSON.",
            ));
        }
        self.edit_topic(arn, |t| {
            t.data_protection_policy = Some(policy);
            Ok(())
        })
    }

    pub(crate) fn get_data_protection_policy(&self, input: &Input) -> Result<Value, AwsError> {
        let (_, t) = self.load_topic(str_of(input, "ResourceArn").unwrap_or(""))?;
        Ok(match t.data_protection_policy {
            Some(p) => json!({ "DataProtectionPolicy": p }),
            None => json!({}),
        })
    }
}

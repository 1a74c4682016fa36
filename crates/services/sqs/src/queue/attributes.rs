//! Queue attributes: defaults, validation of what a client sets, computed values and message
//! counts, redrive policies; GetQueueAttributes and SetQueueAttributes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use snapstack_engine::{Partition, Txn};

use super::{arn, parse_arn, parse_url};
use crate::model::{self, MessageRec, MsgState, QueueRec, Rec};
use crate::{Out, Req, Sqs, SqsError};

/// The longest attribute value (a policy is at most 20 KiB in AWS; this is generous).
const MAX_ATTRIBUTE_VALUE: usize = 256 * 1024;

/// Attributes every queue has, with their defaults.
pub(super) const DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "262144"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
    ("SqsManagedSseEnabled", "true"),
];

/// Attributes of FIFO queues only, with their defaults.
pub(super) const FIFO_DEFAULTS: &[(&str, &str)] = &[
    ("FifoQueue", "true"),
    ("ContentBasedDeduplication", "false"),
    ("DeduplicationScope", "queue"),
    ("FifoThroughputLimit", "perQueue"),
];

/// Attributes a client may set.
pub(super) const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Whether setting `name` to `value` (as validated) removes the attribute: an empty policy,
/// redrive policy or redrive allow policy clears it, and GetQueueAttributes then leaves it out
/// as SQS does (Terraform waits for the attribute to be absent when it deletes one).
pub(super) fn clears(name: &str, value: &str) -> bool {
    value.is_empty()
        && matches!(
            name,
            "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" | "KmsMasterKeyId"
        )
}

/// Whether a request's attributes ask for SSE-SQS and SSE-KMS at once (an error in AWS).
pub(super) fn check_sse(given: &BTreeMap<String, String>) -> Result<(), SqsError> {
    let sqs = given
        .get("SqsManagedSseEnabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let kms = given
        .get("KmsMasterKeyId")
        .is_some_and(|v| !v.trim().is_empty());
    if sqs && kms {
        return Err(SqsError::two_kinds_of_sse());
    }
    Ok(())
}

/// One kind of SSE at a time: a KMS key given switches SSE-SQS off, SSE-SQS switched on drops
/// the KMS key (its reuse period with it).
pub(super) fn apply_sse(given: &BTreeMap<String, String>, attrs: &mut BTreeMap<String, String>) {
    if given
        .get("KmsMasterKeyId")
        .is_some_and(|v| !v.trim().is_empty())
    {
        attrs.insert("SqsManagedSseEnabled".into(), "false".into());
    }
    if given
        .get("SqsManagedSseEnabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        attrs.remove("KmsMasterKeyId");
        attrs.remove("KmsDataKeyReusePeriodSeconds");
    }
}

/// An attribute a queue stores, or its default.
pub fn attribute_or_default(q: &QueueRec, name: &str) -> Option<String> {
    q.attributes.get(name).cloned().or_else(|| {
        DEFAULTS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
}

/// Attributes computed when asked for.
const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// An integer attribute of a queue (its default if unset or unreadable).
pub fn attr_u64(q: &QueueRec, name: &str) -> u64 {
    q.attributes
        .get(name)
        .map(String::as_str)
        .or_else(|| DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn retention_ms(q: &QueueRec) -> u64 {
    attr_u64(q, "MessageRetentionPeriod").saturating_mul(1000)
}

pub fn is_fifo(q: &QueueRec) -> bool {
    q.attributes.get("FifoQueue").is_some_and(|v| v == "true")
}

pub fn content_dedup(q: &QueueRec) -> bool {
    q.attributes
        .get("ContentBasedDeduplication")
        .is_some_and(|v| v == "true")
}

fn int_in(name: &str, value: &str, lo: u64, hi: u64) -> Result<String, SqsError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n.to_string()),
        _ => Err(SqsError::invalid_attribute_value(format!(
            "Invalid value for the parameter {name}. Reason: must be an integer from {lo} to {hi}."
        ))),
    }
}

pub(super) fn boolean(name: &str, value: &str) -> Result<String, SqsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok("true".into()),
        "false" => Ok("false".into()),
        _ => Err(SqsError::invalid_attribute_value(format!(
            "Invalid value for the parameter {name}."
        ))),
    }
}

/// A redrive policy: the dead-letter queue and how many receives send a message there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    pub target: (Partition, String),
    pub target_arn: String,
    pub max_receives: u32,
}

pub fn redrive_of(q: &QueueRec) -> Option<Redrive> {
    let raw = q.attributes.get("RedrivePolicy")?;
    parse_redrive(raw).ok()
}

fn parse_redrive(raw: &str) -> Result<Redrive, String> {
    let v: Value =
        serde_json::from_str(raw).map_err(|_| "Redrive policy is not a valid JSON map.")?;
    let arn = v
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")?;
    let max = match v.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => {
            return Err(
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.".into(),
            );
        }
    };
    let max = match max {
        Some(n @ 1..=1000) => n as u32,
        _ => return Err("Value for maxReceiveCount must be an integer from 1 to 1000.".into()),
    };
    let target = parse_arn(arn).ok_or("Invalid value for deadLetterTargetArn.")?;
    Ok(Redrive {
        target,
        target_arn: arn.to_string(),
        max_receives: max,
    })
}

/// Check and normalize one attribute a client sets. `fifo` is the queue's kind.
pub(super) fn validate_attribute(
    txn: &Txn<'_, Rec>,
    name: &str,
    value: &str,
    fifo: bool,
    owner: &Partition,
) -> Result<String, SqsError> {
    if value.len() > MAX_ATTRIBUTE_VALUE {
        return Err(SqsError::invalid_attribute_value(format!(
            "Invalid value for the parameter {name}. Reason: longer than {MAX_ATTRIBUTE_VALUE} bytes."
        )));
    }
    let v = value.trim();
    match name {
        "DelaySeconds" => int_in(name, v, 0, 900),
        "MaximumMessageSize" => int_in(name, v, 1024, 1_048_576),
        "MessageRetentionPeriod" => int_in(name, v, 60, 1_209_600),
        "ReceiveMessageWaitTimeSeconds" => int_in(name, v, 0, 20),
        "VisibilityTimeout" => int_in(name, v, 0, 43_200),
        "KmsDataKeyReusePeriodSeconds" => int_in(name, v, 60, 86_400),
        "SqsManagedSseEnabled" => boolean(name, v),
        "Policy" | "RedriveAllowPolicy" => {
            if !v.is_empty() && serde_json::from_str::<Value>(v).is_err() {
                return Err(SqsError::invalid_attribute_value(format!(
                    "Invalid value for the parameter {name}."
                )));
            }
            Ok(value.to_string())
        }
        "KmsMasterKeyId" => Ok(value.to_string()),
        "RedrivePolicy" => {
            if v.is_empty() {
                return Ok(String::new());
            }
            let r = parse_redrive(v).map_err(|reason| {
                SqsError::invalid_parameter(format!(
                    "Value {v} for parameter RedrivePolicy is invalid. Reason: {reason}"
                ))
            })?;
            let (tp, tname) = &r.target;
            if tp != owner {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {v} for parameter RedrivePolicy is invalid. Reason: The dead-letter queue must be in the same account and region as the source queue."
                )));
            }
            match txn.get(&model::queue_key(tp, tname)) {
                Some(Rec::Queue(t)) if is_fifo(t) == fifo => {}
                Some(Rec::Queue(_)) => {
                    return Err(SqsError::invalid_parameter(format!(
                        "Value {v} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue and source queue must be of the same type."
                    )));
                }
                _ => {
                    return Err(SqsError::invalid_parameter(format!(
                        "Value {v} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
                    )));
                }
            }
            Ok(
                json!({"deadLetterTargetArn": r.target_arn, "maxReceiveCount": r.max_receives})
                    .to_string(),
            )
        }
        "FifoQueue" => boolean(name, v),
        "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" if !fifo => {
            Err(SqsError::invalid_attribute_name(name))
        }
        "ContentBasedDeduplication" => boolean(name, v),
        "DeduplicationScope" => match v {
            "queue" | "messageGroup" => Ok(v.to_string()),
            _ => Err(SqsError::invalid_attribute_value(format!(
                "Invalid value for the parameter {name}."
            ))),
        },
        "FifoThroughputLimit" => match v {
            "perQueue" | "perMessageGroupId" => Ok(v.to_string()),
            _ => Err(SqsError::invalid_attribute_value(format!(
                "Invalid value for the parameter {name}."
            ))),
        },
        _ => Err(SqsError::invalid_attribute_name(name)),
    }
}

/// The value of an attribute of a queue, stored or computed.
fn attribute_value(q: &QueueRec, p: &Partition, counts: Counts, name: &str) -> Option<String> {
    match name {
        "ApproximateNumberOfMessages" => Some(counts.visible.to_string()),
        "ApproximateNumberOfMessagesNotVisible" => Some(counts.in_flight.to_string()),
        "ApproximateNumberOfMessagesDelayed" => Some(counts.delayed.to_string()),
        "CreatedTimestamp" => Some((q.created_ms / 1000).to_string()),
        "LastModifiedTimestamp" => Some((q.modified_ms / 1000).to_string()),
        "QueueArn" => Some(arn(p, &q.name)),
        // A queue with a KMS key reuses its data keys for AWS's default period unless told.
        "KmsDataKeyReusePeriodSeconds" => q.attributes.get(name).cloned().or_else(|| {
            q.attributes
                .contains_key("KmsMasterKeyId")
                .then(|| crate::sse::DEFAULT_REUSE_SECONDS.to_string())
        }),
        _ => {
            if let Some(v) = q.attributes.get(name) {
                return Some(v.clone());
            }
            let fifo_default = FIFO_DEFAULTS.iter().find(|(n, _)| *n == name);
            if fifo_default.is_some() && !is_fifo(q) {
                return None;
            }
            DEFAULTS
                .iter()
                .chain(FIFO_DEFAULTS)
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }
}

/// How many messages of a queue are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

pub fn counts<'a>(
    msgs: impl Iterator<Item = &'a MessageRec>,
    retention_ms: u64,
    now: u64,
) -> Counts {
    let mut c = Counts::default();
    for m in msgs {
        if m.sent_ms.saturating_add(retention_ms) <= now {
            continue;
        }
        match m.state(now) {
            MsgState::Visible => c.visible += 1,
            MsgState::InFlight => c.in_flight += 1,
            MsgState::Delayed => c.delayed += 1,
        }
    }
    c
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetAttributesInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct SetAttributesInput {
    queue_url: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

impl Sqs {
    pub(crate) fn get_queue_attributes(
        &self,
        req: &Req<'_>,
        input: GetAttributesInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let mut names: Vec<&str> = Vec::new();
        for n in &input.attribute_names {
            if n == "All" {
                names.extend(SETTABLE.iter().chain(COMPUTED));
            } else if SETTABLE.contains(&n.as_str()) || COMPUTED.contains(&n.as_str()) {
                names.push(n);
            } else {
                return Err(SqsError::invalid_attribute_name(n));
            }
        }
        let snap = self.store.snapshot();
        let now = self.now();
        let c = counts(
            snap.scan_prefix(&model::messages_prefix(&p, &q.name))
                .filter_map(|(_, r)| r.message()),
            retention_ms(&q),
            now,
        );
        let mut attrs = Map::new();
        for n in names {
            if let Some(v) = attribute_value(&q, &p, c, n) {
                attrs.insert(n.to_string(), Value::String(v));
            }
        }
        let mut out = Map::new();
        if !attrs.is_empty() {
            out.insert("Attributes".into(), Value::Object(attrs));
        }
        Ok(Out::read(Value::Object(out)))
    }

    pub(crate) fn set_queue_attributes(
        &self,
        req: &Req<'_>,
        input: SetAttributesInput,
    ) -> Result<Out, SqsError> {
        let url = input
            .queue_url
            .ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let now = self.now();
        let key = model::queue_key(&p, &name);
        let (r, version) = self.store.write(|t| -> Result<(), SqsError> {
            let Some(Rec::Queue(q)) = t.get(&key) else {
                return Err(SqsError::no_queue());
            };
            let mut q = q.clone();
            let fifo = is_fifo(&q);
            check_sse(&input.attributes)?;
            for (k, v) in &input.attributes {
                if !SETTABLE.contains(&k.as_str()) {
                    return Err(SqsError::invalid_attribute_name(k));
                }
                if k == "FifoQueue" {
                    if boolean(k, v)? != fifo.to_string() {
                        return Err(SqsError::invalid_attribute_value(
                            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
                        ));
                    }
                    continue;
                }
                let v = validate_attribute(t, k, v, fifo, &p)?;
                if clears(k, &v) {
                    q.attributes.remove(k);
                } else {
                    q.attributes.insert(k.clone(), v);
                }
            }
            apply_sse(&input.attributes, &mut q.attributes);
            q.modified_ms = now;
            t.insert(key.clone(), Rec::Queue(q));
            Ok(())
        });
        r?;
        // A shorter visibility or delay never moves an existing deadline; nothing to wake.
        Ok(Out::write(json!({}), Some(version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies() {
        let r = parse_redrive(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:d","maxReceiveCount":"3"}"#,
        )
        .unwrap();
        assert_eq!(r.max_receives, 3);
        assert!(parse_redrive(r#"{"maxReceiveCount":3}"#).is_err());
        assert!(parse_redrive(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:d","maxReceiveCount":0}"#
        )
        .is_err());
        assert!(parse_redrive("not json").is_err());
    }
}

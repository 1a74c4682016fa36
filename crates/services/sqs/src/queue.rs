//! Queues: create, find, list, delete, attributes, tags, purge, dead-letter sources and message
//! move tasks.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{self, MessageRec, MoveTask, MsgState, QueueRec, Rec};
use super::{Out, Req, Sqs, SqsError};
use crate::endpoint::SqsEndpointStrategy;
use snapstack_engine::{Partition, Txn};

pub const MAX_TAGS: usize = 50;
const MAX_NAME: usize = 80;
/// How long a FIFO deduplication id is remembered.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;
const PURGE_INTERVAL_MS: u64 = 60 * 1000;
const MOVE_TASKS_KEPT: usize = 10;
/// The longest attribute value (a policy is at most 20 KiB in AWS; this is generous).
const MAX_ATTRIBUTE_VALUE: usize = 256 * 1024;

/// Attributes every queue has, with their defaults.
const DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "262144"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
    ("SqsManagedSseEnabled", "true"),
];

/// Attributes of FIFO queues only, with their defaults.
const FIFO_DEFAULTS: &[(&str, &str)] = &[
    ("FifoQueue", "true"),
    ("ContentBasedDeduplication", "false"),
    ("DeduplicationScope", "queue"),
    ("FifoThroughputLimit", "perQueue"),
];

/// Attributes a client may set.
const SETTABLE: &[&str] = &[
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

pub fn arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", p.region, p.account)
}

/// The partition and queue name an SQS ARN names.
pub fn parse_arn(arn: &str) -> Option<(Partition, String)> {
    let mut it = arn.split(':');
    let (Some("arn"), Some(_), Some("sqs"), Some(region), Some(account), Some(name), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    if region.is_empty() || account.is_empty() || !valid_name(name) {
        return None;
    }
    Some((Partition::new(account, region), name.to_string()))
}

/// How queue URLs are spelled: `SQS_ENDPOINT_STRATEGY` and the `host:port` from
/// `LOCALSTACK_HOST` (or its default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUrls {
    pub strategy: SqsEndpointStrategy,
    /// `host:port` for every strategy but `dynamic`.
    pub host: String,
}

/// Queue URLs on the request's `Host` (tests, and anything built without a configuration).
pub static DYNAMIC_URLS: QueueUrls = QueueUrls {
    strategy: SqsEndpointStrategy::Dynamic,
    host: String::new(),
};

impl QueueUrls {
    pub fn new(strategy: SqsEndpointStrategy, host: impl Into<String>) -> Self {
        QueueUrls {
            strategy,
            host: host.into(),
        }
    }

    /// The URL of queue `name` in `p`; `request_host` is the request's `Host` (for `dynamic`).
    pub fn url(&self, request_host: &str, p: &Partition, name: &str) -> String {
        let (host, region, account) = (&self.host, &p.region, &p.account);
        match self.strategy {
            SqsEndpointStrategy::Standard => {
                format!("http://sqs.{region}.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Domain if region == "us-east-1" => {
                format!("http://queue.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Domain => {
                format!("http://{region}.queue.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Path => {
                format!("http://{host}/queue/{region}/{account}/{name}")
            }
            SqsEndpointStrategy::Dynamic => format!("http://{request_host}/{account}/{name}"),
        }
    }
}

/// The URL of queue `name` in `p` for this request, as the configured strategy spells it.
pub fn url(req: &Req<'_>, p: &Partition, name: &str) -> String {
    req.urls.url(req.host, p, name)
}

/// The region a queue URL's host names: `sqs.<region>.…` (standard, and AWS's own),
/// `<region>.queue.…` (domain) or `queue.…` (domain in us-east-1). `None` for any other host.
fn region_of_host(authority: &str) -> Option<&str> {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let labels: Vec<&str> = host.split('.').collect();
    let is_region = |r: &str| {
        !r.is_empty()
            && r.len() <= 32
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match labels.as_slice() {
        ["sqs", region, _, ..] if is_region(region) => Some(region),
        [region, "queue", _, ..] if is_region(region) => Some(region),
        ["queue", _, ..] => Some("us-east-1"),
        _ => None,
    }
}

/// The partition and queue name a queue URL points at: any URL whose path ends in
/// `/<account>/<name>`. The region is the one the URL names, in whichever strategy's shape
/// (`/queue/<region>/` in the path first, then `sqs.<region>.`, `<region>.queue.` or `queue.`
/// in the host); a URL that names none (dynamic, or a bare path) is in the request's region.
/// A URL handed out under one strategy thus keeps working after a switch to another.
pub fn parse_url(req: &Req<'_>, url: &str) -> Result<(Partition, String), SqsError> {
    let (authority, path) = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
        None => ("", url),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (region, account, name) = match parts.as_slice() {
        [.., "queue", region, account, name] => (*region, *account, *name),
        [.., account, name] => (
            region_of_host(authority).unwrap_or(req.ctx.region()),
            *account,
            *name,
        ),
        _ => return Err(SqsError::invalid_address(url)),
    };
    if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && valid_name(name)) {
        return Err(SqsError::no_queue());
    }
    Ok((Partition::new(account, region), name.to_string()))
}

/// A queue name: 1 to 80 letters, digits, `-` and `_`, with `.fifo` at the end of a FIFO queue's.
pub fn valid_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn int_in(name: &str, value: &str, lo: u64, hi: u64) -> Result<String, SqsError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n.to_string()),
        _ => Err(SqsError::invalid_attribute_value(format!(
            "Invalid value for the parameter {name}. Reason: must be an integer from {lo} to {hi}."
        ))),
    }
}

fn boolean(name: &str, value: &str) -> Result<String, SqsError> {
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
fn validate_attribute(
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

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(SqsError::invalid_parameter(format!(
                "Tag {k} is invalid: a key is 1 to 128 characters, a value at most 256."
            )));
        }
    }
    Ok(())
}

fn too_many_tags() -> SqsError {
    SqsError::invalid_parameter("Too many tags added for queue: at most 50 tags are allowed.")
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    queue_name: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags", alias = "Tags")]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    queue_name: Option<String>,
    queue_owner_a_w_s_account_id: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    queue_url: Option<String>,
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

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListSourcesInput {
    queue_url: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct StartMoveInput {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_number_of_messages_per_second: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListMovesInput {
    source_arn: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMoveInput {
    task_handle: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
pub struct AddPermissionInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "AWSAccountIds", default)]
    account_ids: Vec<String>,
    #[serde(rename = "Actions", default)]
    actions: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
pub struct RemovePermissionInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
}

/// Actions AddPermission may grant.
const PERMISSION_ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];
const MAX_PERMISSION_ITEMS: usize = 7;

fn label_error(label: &str, reason: &str) -> SqsError {
    SqsError::invalid_parameter(format!(
        "Value {label} for parameter Label is invalid. Reason: {reason}"
    ))
}

/// The statements of a queue's policy (an empty list when it has none).
fn policy_statements(q: &QueueRec) -> Vec<Value> {
    q.attributes
        .get("Policy")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|v| v.get("Statement").cloned())
        .and_then(|s| match s {
            Value::Array(a) => Some(a),
            Value::Object(_) => Some(vec![s]),
            _ => None,
        })
        .unwrap_or_default()
}

fn set_policy(q: &mut QueueRec, p: &Partition, statements: Vec<Value>) {
    if statements.is_empty() {
        q.attributes.remove("Policy");
        return;
    }
    let queue_arn = arn(p, &q.name);
    let policy = json!({
        "Version": "2012-10-17",
        "Id": format!("{queue_arn}/SQSDefaultPolicy"),
        "Statement": statements,
    });
    q.attributes.insert("Policy".into(), policy.to_string());
}

/// A page token: the last name returned, hex-encoded.
fn token_of(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn name_of_token(t: &str) -> Result<String, SqsError> {
    let bad = || SqsError::invalid_parameter("Invalid NextToken value.");
    if !t.len().is_multiple_of(2) || t.len() > 2 * MAX_NAME {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())
}

fn max_results(n: Option<i64>) -> Result<Option<usize>, SqsError> {
    match n {
        None => Ok(None),
        Some(n @ 1..=1000) => Ok(Some(n as usize)),
        Some(n) => Err(SqsError::invalid_parameter(format!(
            "Value {n} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
        ))),
    }
}

impl Sqs {
    /// The queue a URL names, or `QueueDoesNotExist`.
    pub(super) fn queue_at(
        &self,
        req: &Req<'_>,
        url: Option<&str>,
    ) -> Result<(Partition, QueueRec), SqsError> {
        let url = url.ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, url)?;
        match self.store.snapshot().get(&model::queue_key(&p, &name)) {
            Some(Rec::Queue(q)) => Ok((p, q.clone())),
            _ => Err(SqsError::no_queue()),
        }
    }

    pub(super) fn create_queue(
        &self,
        req: &Req<'_>,
        input: CreateQueueInput,
    ) -> Result<Out, SqsError> {
        let name = input
            .queue_name
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        if !valid_name(&name) {
            return Err(SqsError::invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let fifo_attr = match input.attributes.get("FifoQueue") {
            Some(v) => boolean("FifoQueue", v)? == "true",
            None => false,
        };
        let fifo_name = name.ends_with(".fifo");
        if fifo_attr != fifo_name {
            return Err(SqsError::invalid_parameter(if fifo_attr {
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            } else {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            }));
        }
        if input.tags.len() > MAX_TAGS {
            return Err(too_many_tags());
        }
        validate_tags(&input.tags)?;
        let p = req.ctx.partition.clone();
        let now = self.now();
        let key = model::queue_key(&p, &name);
        let (result, version) = self.store.write(|t| -> Result<bool, SqsError> {
            let mut attrs = BTreeMap::new();
            for (k, v) in &input.attributes {
                if !SETTABLE.contains(&k.as_str()) {
                    return Err(SqsError::invalid_attribute_name(k));
                }
                let v = validate_attribute(t, k, v, fifo_attr, &p)?;
                if !(k == "RedrivePolicy" && v.is_empty()) {
                    attrs.insert(k.clone(), v);
                }
            }
            if fifo_attr {
                for (k, v) in FIFO_DEFAULTS {
                    attrs.entry(k.to_string()).or_insert_with(|| v.to_string());
                }
            }
            if let Some(Rec::Queue(existing)) = t.get(&key) {
                // Re-creating a queue is fine as long as every attribute given matches.
                for (k, v) in &attrs {
                    let current = existing.attributes.get(k).cloned().or_else(|| {
                        DEFAULTS
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, d)| d.to_string())
                    });
                    if current.as_deref() != Some(v.as_str()) {
                        return Err(SqsError::queue_exists(k));
                    }
                }
                return Ok(false);
            }
            t.insert(
                key.clone(),
                Rec::Queue(QueueRec {
                    name: name.clone(),
                    attributes: attrs,
                    tags: input.tags.clone(),
                    created_ms: now,
                    modified_ms: now,
                    next_seq: 0,
                    last_purge_ms: None,
                    move_tasks: Vec::new(),
                }),
            );
            Ok(true)
        });
        let created = result?;
        Ok(Out::write(
            json!({ "QueueUrl": url(req, &p, &name) }),
            created.then_some(version),
        ))
    }

    pub(super) fn get_queue_url(
        &self,
        req: &Req<'_>,
        input: GetQueueUrlInput,
    ) -> Result<Out, SqsError> {
        let name = input
            .queue_name
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        let account = input
            .queue_owner_a_w_s_account_id
            .unwrap_or_else(|| req.ctx.account().to_string());
        let p = Partition::new(account, req.ctx.region());
        if !valid_name(&name) {
            return Err(SqsError::no_queue());
        }
        match self.store.snapshot().get(&model::queue_key(&p, &name)) {
            Some(Rec::Queue(_)) => Ok(Out::read(json!({ "QueueUrl": url(req, &p, &name) }))),
            _ => Err(SqsError::no_queue()),
        }
    }

    pub(super) fn list_queues(
        &self,
        req: &Req<'_>,
        input: ListQueuesInput,
    ) -> Result<Out, SqsError> {
        let p = &req.ctx.partition;
        let limit = max_results(input.max_results)?;
        let after = input.next_token.as_deref().map(name_of_token).transpose()?;
        let prefix = input.queue_name_prefix.unwrap_or_default();
        // Without MaxResults, SQS lists at most 1,000 queues and no token.
        let (urls, next) = self.queue_page(req, p, after.as_deref(), limit, Some(1000), |q| {
            q.name.starts_with(&prefix)
        });
        let mut out = Map::new();
        if !urls.is_empty() {
            out.insert("QueueUrls".into(), Value::from(urls));
        }
        if let Some(t) = next {
            out.insert("NextToken".into(), Value::String(t));
        }
        Ok(Out::read(Value::Object(out)))
    }

    /// One page of the partition's queues that `keep` accepts, in name order after `after`: at
    /// most `limit` of them, with a NextToken when more follow; without a limit, at most `cap`
    /// (and no token).
    fn queue_page(
        &self,
        req: &Req<'_>,
        p: &Partition,
        after: Option<&str>,
        limit: Option<usize>,
        cap: Option<usize>,
        keep: impl Fn(&QueueRec) -> bool,
    ) -> (Vec<String>, Option<String>) {
        let snap = self.store.snapshot();
        let mut urls = Vec::new();
        let mut last: Option<&str> = None;
        let mut next = None;
        let stop = limit.or(cap);
        for (_, rec) in snap.scan_prefix(&model::queues_prefix(p)) {
            let Rec::Queue(q) = rec else { continue };
            if !keep(q) || after.is_some_and(|a| q.name.as_str() <= a) {
                continue;
            }
            if stop == Some(urls.len()) {
                if limit.is_some() {
                    next = Some(token_of(last.unwrap_or("")));
                }
                break;
            }
            urls.push(url(req, p, &q.name));
            last = Some(&q.name);
        }
        (urls, next)
    }

    pub(super) fn delete_queue(
        &self,
        req: &Req<'_>,
        input: QueueUrlInput,
    ) -> Result<Out, SqsError> {
        let url = input
            .queue_url
            .ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let (found, version) = self.store.write(|t| {
            if t.remove(&model::queue_key(&p, &name)).is_none() {
                return false;
            }
            t.remove_prefix(&model::messages_prefix(&p, &name));
            t.remove_prefix(&model::dedups_prefix(&p, &name));
            t.remove_prefix(&model::attempts_prefix(&p, &name));
            true
        });
        if !found {
            return Err(SqsError::no_queue());
        }
        self.forget_waiters(&p, &name);
        Ok(Out::write(json!({}), Some(version)))
    }

    pub(super) fn get_queue_attributes(
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
                .filter_map(|(_, r)| match r {
                    Rec::Message(m) => Some(m),
                    _ => None,
                }),
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

    pub(super) fn set_queue_attributes(
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
                if k == "RedrivePolicy" && v.is_empty() {
                    q.attributes.remove(k);
                } else {
                    q.attributes.insert(k.clone(), v);
                }
            }
            q.modified_ms = now;
            t.insert(key.clone(), Rec::Queue(q));
            Ok(())
        });
        r?;
        // A shorter visibility or delay never moves an existing deadline; nothing to wake.
        Ok(Out::write(json!({}), Some(version)))
    }

    fn edit_queue(
        &self,
        req: &Req<'_>,
        url: Option<String>,
        f: impl FnOnce(&mut QueueRec) -> Result<(), SqsError>,
    ) -> Result<Out, SqsError> {
        let url = url.ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let key = model::queue_key(&p, &name);
        let (r, version) = self.store.write(|t| -> Result<(), SqsError> {
            let Some(Rec::Queue(q)) = t.get(&key) else {
                return Err(SqsError::no_queue());
            };
            let mut q = q.clone();
            f(&mut q)?;
            t.insert(key.clone(), Rec::Queue(q));
            Ok(())
        });
        r?;
        Ok(Out::write(json!({}), Some(version)))
    }

    pub(super) fn tag_queue(&self, req: &Req<'_>, input: TagInput) -> Result<Out, SqsError> {
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

    pub(super) fn untag_queue(&self, req: &Req<'_>, input: UntagInput) -> Result<Out, SqsError> {
        self.edit_queue(req, input.queue_url, |q| {
            for k in &input.tag_keys {
                q.tags.remove(k);
            }
            Ok(())
        })
    }

    pub(super) fn list_queue_tags(
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

    pub(super) fn purge_queue(&self, req: &Req<'_>, input: QueueUrlInput) -> Result<Out, SqsError> {
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
            if q.last_purge_ms
                .is_some_and(|last| now < last.saturating_add(PURGE_INTERVAL_MS))
            {
                return Err(SqsError::purge_in_progress(&arn(&p, &name)));
            }
            let mut q = q.clone();
            q.last_purge_ms = Some(now);
            t.insert(key.clone(), Rec::Queue(q));
            t.remove_prefix(&model::messages_prefix(&p, &name));
            Ok(())
        });
        r?;
        Ok(Out::write(json!({}), Some(version)))
    }

    /// AddPermission: a statement labelled `Label` in the queue's `Policy`.
    pub(super) fn add_permission(
        &self,
        req: &Req<'_>,
        input: AddPermissionInput,
    ) -> Result<Out, SqsError> {
        let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
        if label.is_empty()
            || label.len() > 80
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(label_error(
                &label,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        if input.account_ids.is_empty() {
            return Err(SqsError::missing("AWSAccountIds"));
        }
        if input.actions.is_empty() {
            return Err(SqsError::missing("Actions"));
        }
        if input.account_ids.len() > MAX_PERMISSION_ITEMS
            || input.actions.len() > MAX_PERMISSION_ITEMS
        {
            return Err(SqsError::invalid_parameter(format!(
                "A permission names at most {MAX_PERMISSION_ITEMS} accounts and {MAX_PERMISSION_ITEMS} actions."
            )));
        }
        for a in &input.account_ids {
            if !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {a} for parameter AWSAccountIds is invalid."
                )));
            }
        }
        for a in &input.actions {
            if !PERMISSION_ACTIONS.contains(&a.as_str()) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value SQS:{a} for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
                )));
            }
        }
        let url = input.queue_url.clone();
        let (p, _) = parse_url(req, url.as_deref().unwrap_or(""))?;
        self.edit_queue(req, url, |q| {
            let mut statements = policy_statements(q);
            if statements.iter().any(|s| s["Sid"] == label.as_str()) {
                return Err(label_error(&label, "Already exists."));
            }
            let principals: Vec<String> = input
                .account_ids
                .iter()
                .map(|a| format!("arn:aws:iam::{a}:root"))
                .collect();
            let actions: Vec<String> = input.actions.iter().map(|a| format!("SQS:{a}")).collect();
            statements.push(json!({
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": actions,
                "Resource": arn(&p, &q.name),
            }));
            set_policy(q, &p, statements);
            Ok(())
        })
    }

    pub(super) fn remove_permission(
        &self,
        req: &Req<'_>,
        input: RemovePermissionInput,
    ) -> Result<Out, SqsError> {
        let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
        let url = input.queue_url.clone();
        let (p, _) = parse_url(req, url.as_deref().unwrap_or(""))?;
        self.edit_queue(req, url, |q| {
            let mut statements = policy_statements(q);
            let before = statements.len();
            statements.retain(|s| s["Sid"] != label.as_str());
            if statements.len() == before {
                return Err(label_error(&label, "can't find label."));
            }
            set_policy(q, &p, statements);
            Ok(())
        })
    }

    pub(super) fn list_dead_letter_sources(
        &self,
        req: &Req<'_>,
        input: ListSourcesInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let limit = max_results(input.max_results)?;
        let after = input.next_token.as_deref().map(name_of_token).transpose()?;
        let me = (p.clone(), q.name.clone());
        let (urls, next) = self.queue_page(req, &p, after.as_deref(), limit, None, |src| {
            redrive_of(src).is_some_and(|r| r.target == me)
        });
        let mut out = Map::new();
        out.insert("queueUrls".into(), Value::from(urls));
        if let Some(t) = next {
            out.insert("NextToken".into(), Value::String(t));
        }
        Ok(Out::read(Value::Object(out)))
    }

    /// StartMessageMoveTask: moves every message of a dead-letter queue back to its source queues
    /// (or to `DestinationArn`) at once, and records the task as completed.
    pub(super) fn start_move_task(
        &self,
        req: &Req<'_>,
        input: StartMoveInput,
    ) -> Result<Out, SqsError> {
        let source_arn = input
            .source_arn
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let (sp, sname) = parse_arn(&source_arn)
            .ok_or_else(|| SqsError::invalid_parameter("Invalid value for SourceArn."))?;
        let dest =
            match &input.destination_arn {
                Some(d) => Some(parse_arn(d).ok_or_else(|| {
                    SqsError::invalid_parameter("Invalid value for DestinationArn.")
                })?),
                None => None,
            };
        if let Some(n) = input.max_number_of_messages_per_second
            && !(1..=500).contains(&n)
        {
            return Err(SqsError::invalid_parameter(
                "Value for MaxNumberOfMessagesPerSecond must be an integer from 1 to 500.",
            ));
        }
        let now = self.now();
        let handle = format!("{}-{:016x}", req.ctx.request_id, self.next_nonce());
        let (r, version) = self.store.write(|t| -> Result<Vec<(Partition, String)>, SqsError> {
            let skey = model::queue_key(&sp, &sname);
            let Some(Rec::Queue(src)) = t.get(&skey) else {
                return Err(SqsError::not_found("The resource that you specified for the SourceArn parameter doesn't exist."));
            };
            let mut src = src.clone();
            let is_dlq = t.scan_prefix(&model::queues_prefix(&sp)).any(|(_, r)| {
                matches!(r, Rec::Queue(q) if redrive_of(q).is_some_and(|r| r.target == (sp.clone(), sname.clone())))
            });
            if !is_dlq {
                return Err(SqsError::invalid_parameter(
                    "Source queue must be configured as a Dead Letter Queue.",
                ));
            }
            if let Some((dp, dn)) = &dest
                && !matches!(t.get(&model::queue_key(dp, dn)), Some(Rec::Queue(_)))
            {
                return Err(SqsError::not_found("The resource that you specified for the DestinationArn parameter doesn't exist."));
            }
            let msgs: Vec<(snapstack_engine::Key, MessageRec)> = t
                .scan_prefix(&model::messages_prefix(&sp, &sname))
                .filter_map(|(k, r)| match r {
                    Rec::Message(m) if m.sent_ms.saturating_add(retention_ms(&src)) > now => {
                        Some((k.clone(), m.clone()))
                    }
                    _ => None,
                })
                .collect();
            let to_move = msgs.len() as u64;
            let mut moved = 0;
            let mut woken = Vec::new();
            for (k, m) in msgs {
                let target = match &dest {
                    Some(d) => Some(d.clone()),
                    None => m.dead_letter_source.as_deref().and_then(parse_arn),
                };
                let Some((tp, tn)) = target else { continue };
                let mut m = m;
                m.dead_letter_source = None;
                m.in_flight = false;
                m.visible_at = now;
                m.receipt_nonce = None;
                // A moved message starts over in its new queue.
                m.receive_count = 0;
                m.first_receive_ms = None;
                if enqueue(t, &tp, &tn, m).is_some() {
                    t.remove(&k);
                    moved += 1;
                    woken.push((tp, tn));
                }
            }
            src.move_tasks.push(MoveTask {
                handle: handle.clone(),
                status: "COMPLETED".into(),
                source_arn: source_arn.clone(),
                destination_arn: input.destination_arn.clone(),
                max_per_second: input.max_number_of_messages_per_second,
                moved,
                to_move,
                started_ms: now,
            });
            if src.move_tasks.len() > MOVE_TASKS_KEPT {
                let extra = src.move_tasks.len() - MOVE_TASKS_KEPT;
                src.move_tasks.drain(..extra);
            }
            t.insert(skey, Rec::Queue(src));
            Ok(woken)
        });
        for (p, n) in r? {
            self.wake(&p, &n);
        }
        Ok(Out::write(json!({ "TaskHandle": handle }), Some(version)))
    }

    pub(super) fn list_move_tasks(
        &self,
        _req: &Req<'_>,
        input: ListMovesInput,
    ) -> Result<Out, SqsError> {
        let source_arn = input
            .source_arn
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let (sp, sname) = parse_arn(&source_arn)
            .ok_or_else(|| SqsError::invalid_parameter("Invalid value for SourceArn."))?;
        let limit = match input.max_results {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(n) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {n} for parameter MaxResults is invalid. Reason: must be between 1 and 10."
                )));
            }
        };
        let Some(Rec::Queue(q)) = self
            .store
            .snapshot()
            .get(&model::queue_key(&sp, &sname))
            .cloned()
        else {
            return Err(SqsError::not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            ));
        };
        let results: Vec<Value> = q
            .move_tasks
            .iter()
            .rev()
            .take(limit)
            .map(|m| {
                let mut e = Map::new();
                e.insert("Status".into(), json!(m.status));
                e.insert("SourceArn".into(), json!(m.source_arn));
                if let Some(d) = &m.destination_arn {
                    e.insert("DestinationArn".into(), json!(d));
                }
                if let Some(n) = m.max_per_second {
                    e.insert("MaxNumberOfMessagesPerSecond".into(), json!(n));
                }
                e.insert("ApproximateNumberOfMessagesMoved".into(), json!(m.moved));
                e.insert("ApproximateNumberOfMessagesToMove".into(), json!(m.to_move));
                e.insert("StartedTimestamp".into(), json!(m.started_ms));
                Value::Object(e)
            })
            .collect();
        Ok(Out::read(json!({ "Results": results })))
    }

    pub(super) fn cancel_move_task(
        &self,
        _req: &Req<'_>,
        input: CancelMoveInput,
    ) -> Result<Out, SqsError> {
        let handle = input
            .task_handle
            .ok_or_else(|| SqsError::missing("TaskHandle"))?;
        // Moves complete within the request that starts them: there is never a running task.
        Err(SqsError::not_found(format!(
            "Task does not exist or is not running: {handle}"
        )))
    }
}

pub fn sender_of(req: &Req<'_>) -> String {
    if req.ctx.access_key.is_empty() {
        req.ctx.account().to_string()
    } else {
        req.ctx.access_key.clone()
    }
}

/// Append a message to a queue with the queue's next sequence number. `None` if the queue does
/// not exist.
pub fn enqueue(t: &mut Txn<'_, Rec>, p: &Partition, name: &str, m: MessageRec) -> Option<u64> {
    let key = model::queue_key(p, name);
    let Some(Rec::Queue(q)) = t.get(&key) else {
        return None;
    };
    let mut q = q.clone();
    let seq = q.next_seq;
    q.next_seq += 1;
    t.insert(key, Rec::Queue(q));
    t.insert(model::message_key(p, name, seq), Rec::Message(m));
    Some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_service::RequestContext;

    fn req(ctx: &RequestContext) -> Req<'_> {
        Req {
            ctx,
            host: "localhost:4566",
            urls: &DYNAMIC_URLS,
        }
    }

    #[test]
    fn urls_in_every_shape() {
        let ctx = RequestContext::from_scope(None);
        let r = req(&ctx);
        let (p, n) = parse_url(&r, "http://localhost:4566/000000000000/q1").unwrap();
        assert_eq!(
            (p.account.as_str(), p.region.as_str(), n.as_str()),
            ("000000000000", "us-east-1", "q1")
        );
        let (p, n) = parse_url(
            &r,
            "http://sqs.eu-west-1.localhost/queue/eu-west-1/111122223333/q.fifo",
        )
        .unwrap();
        assert_eq!(
            (p.account.as_str(), p.region.as_str(), n.as_str()),
            ("111122223333", "eu-west-1", "q.fifo")
        );
        assert_eq!(parse_url(&r, "/000000000000/q").unwrap().1, "q");
        assert_eq!(
            parse_url(&r, "nonsense").unwrap_err().code,
            "InvalidAddress"
        );
        assert_eq!(
            parse_url(&r, "http://h/abc/q").unwrap_err().code,
            "AWS.SimpleQueueService.NonExistentQueue"
        );
    }

    fn region_and_name(r: &Req<'_>, u: &str) -> (String, String, String) {
        let (p, n) = parse_url(r, u).unwrap_or_else(|e| panic!("{u}: {e}"));
        (p.account, p.region, n)
    }

    #[test]
    fn every_strategy_spells_its_urls_and_parses_every_other() {
        use SqsEndpointStrategy::*;
        let host = "localhost.localstack.cloud:4566";
        let eu = Partition::new("111122223333", "eu-west-1");
        let us = Partition::new("000000000000", "us-east-1");
        let cases = [
            (
                Standard,
                "http://sqs.eu-west-1.localhost.localstack.cloud:4566/111122223333/q",
                "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q",
            ),
            (
                Domain,
                "http://eu-west-1.queue.localhost.localstack.cloud:4566/111122223333/q",
                "http://queue.localhost.localstack.cloud:4566/000000000000/q",
            ),
            (
                Path,
                "http://localhost.localstack.cloud:4566/queue/eu-west-1/111122223333/q",
                "http://localhost.localstack.cloud:4566/queue/us-east-1/000000000000/q",
            ),
            (
                Dynamic,
                "http://127.0.0.1:9999/111122223333/q",
                "http://127.0.0.1:9999/000000000000/q",
            ),
        ];
        for (strategy, want_eu, want_us) in cases {
            let urls = QueueUrls::new(strategy, host);
            assert_eq!(urls.url("127.0.0.1:9999", &eu, "q"), want_eu, "{strategy}");
            assert_eq!(urls.url("127.0.0.1:9999", &us, "q"), want_us, "{strategy}");
            // The same name in two regions: two URLs (but for dynamic, which names no region).
            let other = Partition::new("111122223333", "us-east-1");
            assert_eq!(
                urls.url("h", &eu, "q") != urls.url("h", &other, "q"),
                strategy != Dynamic,
                "{strategy}"
            );
        }
        // Whatever the strategy now, a URL names its region, over the request's (ap-south-1).
        let ctx = RequestContext::from_scope(Some(snapstack_protocol::request::CredentialScope {
            access_key: "test".into(),
            date: "20260101".into(),
            region: "ap-south-1".into(),
            service: "sqs".into(),
        }));
        for strategy in [Standard, Domain, Path, Dynamic] {
            let urls = QueueUrls::new(strategy, host);
            let r = Req {
                ctx: &ctx,
                host: "127.0.0.1:9999",
                urls: &urls,
            };
            for (_, want_eu, want_us) in &cases[..3] {
                let got = region_and_name(&r, want_eu);
                assert_eq!(got, ("111122223333".into(), "eu-west-1".into(), "q".into()));
                assert_eq!(region_and_name(&r, want_us).1, "us-east-1", "{want_us}");
            }
            // No region in the URL: the request's.
            assert_eq!(region_and_name(&r, cases[3].1).1, "ap-south-1");
            assert_eq!(region_and_name(&r, "/000000000000/q").1, "ap-south-1");
            assert_eq!(
                region_and_name(&r, "http://localhost:4566/000000000000/q").1,
                "ap-south-1"
            );
            // AWS's own URLs name their region the standard way.
            assert_eq!(
                region_and_name(&r, "https://sqs.eu-central-1.amazonaws.com/000000000000/q").1,
                "eu-central-1"
            );
            // A host that only starts like a strategy's is not one.
            assert_eq!(
                region_and_name(&r, "http://queue-host:4566/000000000000/q").1,
                "ap-south-1"
            );
            assert_eq!(
                region_and_name(&r, "http://sqs.localhost:4566/000000000000/q").1,
                "ap-south-1"
            );
        }
    }

    #[test]
    fn names_and_arns() {
        assert!(valid_name("a-b_c"));
        assert!(valid_name("x.fifo"));
        assert!(!valid_name(".fifo"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(&"a".repeat(81)));
        let p = Partition::new("000000000000", "us-east-1");
        assert_eq!(parse_arn(&arn(&p, "dlq")), Some((p, "dlq".into())));
        assert_eq!(parse_arn("arn:aws:sqs:r:a"), None);
    }

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

    #[test]
    fn page_tokens_roundtrip_and_reject_garbage() {
        assert_eq!(name_of_token(&token_of("q-1")).unwrap(), "q-1");
        assert!(name_of_token("zz").is_err());
        assert!(name_of_token("abc").is_err());
    }
}

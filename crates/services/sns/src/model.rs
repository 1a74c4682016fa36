//! SNS's records and keys.
//!
//! Per account and region (the partition of the topic's ARN):
//! `[p, "topic", name]` → [`Topic`]; `[p, "sub", topic name, id]` → [`Subscription`] (so a
//! topic's subscriptions are one prefix scan, and a subscription ARN `topic ARN:id` names its
//! key); `[p, "app", platform, name]` → [`PlatformApplication`]; `[p, "endpoint", app key,
//! id]` → [`PlatformEndpoint`]; `[p, "sms"]` → SMS attributes; `[p, "optout", number]`;
//! `[p, "sandbox", number]`; `[p, "dedup", topic, dedup id]` → a FIFO deduplication entry;
//! `[p, "sent", seq]` → a message delivered to an `email`/`sms`/`application` endpoint.
//!
//! Global: `["delivery", due ms, id]` → [`Delivery`], the outbox, ordered by its absolute
//! next-attempt deadline so the delivery task reads the due ones as one range.
//!
//! FIFO topics: `["fifo", subscription ARN, group id, sequence number]` → [`Delivery`], every
//! delivery of one (subscription, message group) still owed, in the topic's sequence-number
//! order. Only the first of each such queue is also in the outbox (the group's head); when it is
//! delivered (or given up) the next one takes its place in the same store write, so the outbox
//! never holds two deliveries of one group and their order is the sequence numbers'.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Partition, Record};

/// A record of the SNS store. New variants go at the end (the on-disk format is postcard).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SnsRecord {
    Topic(Box<Topic>),
    Subscription(Box<Subscription>),
    Delivery(Box<Delivery>),
    PlatformApplication(Box<PlatformApplication>),
    PlatformEndpoint(Box<PlatformEndpoint>),
    /// The account's SMS attributes (`SetSMSAttributes`).
    SmsAttributes(BTreeMap<String, String>),
    /// A phone number that opted out of SMS.
    OptedOut,
    /// An SMS sandbox destination number: verified or pending.
    SandboxNumber {
        verified: bool,
    },
    /// A FIFO topic's deduplication entry: the message id answered, until `expires_at_ms`.
    Dedup {
        message_id: String,
        sequence: String,
        expires_at_ms: u64,
    },
    /// A message delivered to an endpoint that leaves no other trace here (email, sms,
    /// application): kept for inspection.
    Sent(Box<SentMessage>),
    /// Counters of a partition (sequence numbers for FIFO topics, `sent` keys).
    Counter(u64),
    /// A region's message signing key (PKCS#8 DER) and its certificate (PEM), under
    /// `["signing", region]`.
    SigningKey {
        private_pkcs8: Vec<u8>,
        cert_pem: String,
    },
}
impl Record for SnsRecord {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub arn: String,
    /// Settable attributes as given (DisplayName, Policy, DeliveryPolicy, FifoTopic,
    /// ContentBasedDeduplication, KmsMasterKeyId, SignatureVersion, TracingConfig, ...).
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub data_protection_policy: Option<String>,
    /// The next sequence number of a FIFO topic.
    pub sequence: u64,
}

impl Topic {
    pub fn is_fifo(&self) -> bool {
        self.attributes
            .get("FifoTopic")
            .is_some_and(|v| v == "true")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub owner: String,
    /// Settable attributes as given (RawMessageDelivery, FilterPolicy, FilterPolicyScope,
    /// DeliveryPolicy, RedrivePolicy, SubscriptionRoleArn, ReplayPolicy).
    pub attributes: BTreeMap<String, String>,
    /// Waiting for ConfirmSubscription with this token.
    pub pending_token: Option<String>,
}

/// What a delivery carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryKind {
    Notification,
    SubscriptionConfirmation,
}

/// One message owed to one subscription: removed only once the endpoint has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub kind: DeliveryKind,
    pub account: String,
    pub region: String,
    pub subscription_arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub message_id: String,
    /// What is sent: the body of the SQS message, the HTTP POST's body, ...
    pub body: String,
    /// The SQS message attributes (neutral JSON, for raw delivery), as JSON text.
    pub sqs_attributes: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// The absolute deadline of the next attempt (epoch ms); also in the key.
    pub due_ms: u64,
    pub created_ms: u64,
    /// Whether the envelope is raw (the `x-amz-sns-rawdelivery` header of HTTP deliveries).
    pub raw: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlatformApplication {
    pub arn: String,
    pub name: String,
    pub platform: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlatformEndpoint {
    pub arn: String,
    pub application_arn: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub protocol: String,
    pub endpoint: String,
    pub subscription_arn: Option<String>,
    pub message_id: String,
    pub body: String,
    pub subject: Option<String>,
    pub at_ms: u64,
}

pub fn topic_key(p: &Partition, name: &str) -> Key {
    p.key().str("topic").str(name).build()
}
pub fn topics_prefix(p: &Partition) -> Key {
    p.key().str("topic").build()
}
pub fn sub_key(p: &Partition, topic: &str, id: &str) -> Key {
    p.key().str("sub").str(topic).str(id).build()
}
pub fn subs_of_topic(p: &Partition, topic: &str) -> Key {
    p.key().str("sub").str(topic).build()
}
pub fn subs_prefix(p: &Partition) -> Key {
    p.key().str("sub").build()
}
pub fn app_key(p: &Partition, platform: &str, name: &str) -> Key {
    p.key().str("app").str(platform).str(name).build()
}
pub fn apps_prefix(p: &Partition) -> Key {
    p.key().str("app").build()
}
pub fn endpoint_key(p: &Partition, platform: &str, app: &str, id: &str) -> Key {
    p.key()
        .str("endpoint")
        .str(platform)
        .str(app)
        .str(id)
        .build()
}
pub fn endpoints_of_app(p: &Partition, platform: &str, app: &str) -> Key {
    p.key().str("endpoint").str(platform).str(app).build()
}
pub fn sms_key(p: &Partition) -> Key {
    p.key().str("sms").build()
}
pub fn optout_key(p: &Partition, number: &str) -> Key {
    p.key().str("optout").str(number).build()
}
pub fn optout_prefix(p: &Partition) -> Key {
    p.key().str("optout").build()
}
pub fn sandbox_key(p: &Partition, number: &str) -> Key {
    p.key().str("sandbox").str(number).build()
}
pub fn sandbox_prefix(p: &Partition) -> Key {
    p.key().str("sandbox").build()
}
pub fn dedup_key(p: &Partition, topic: &str, id: &str) -> Key {
    p.key().str("dedup").str(topic).str(id).build()
}
pub fn dedup_prefix(p: &Partition, topic: &str) -> Key {
    p.key().str("dedup").str(topic).build()
}
pub fn sent_key(p: &Partition, seq: u64) -> Key {
    p.key().str("sent").u64(seq).build()
}
pub fn sent_prefix(p: &Partition) -> Key {
    p.key().str("sent").build()
}
pub fn sent_counter_key(p: &Partition) -> Key {
    p.key().str("counter").str("sent").build()
}
pub fn delivery_key(due_ms: u64, id: &str) -> Key {
    Key::builder().str("delivery").u64(due_ms).str(id).build()
}
/// A FIFO delivery waiting its turn in its (subscription, group) queue.
pub fn fifo_key(subscription_arn: &str, group: &str, sequence: u64) -> Key {
    Key::builder()
        .str("fifo")
        .str(subscription_arn)
        .str(group)
        .u64(sequence)
        .build()
}
/// The queue of one (subscription, message group).
pub fn fifo_group_prefix(subscription_arn: &str, group: &str) -> Key {
    Key::builder()
        .str("fifo")
        .str(subscription_arn)
        .str(group)
        .build()
}
pub fn deliveries_prefix() -> Key {
    Key::builder().str("delivery").build()
}
/// Every delivery due at or before `now_ms`: the range `[prefix, due(now + 1))`.
pub fn due_bound(now_ms: u64) -> Key {
    Key::builder()
        .str("delivery")
        .u64(now_ms.saturating_add(1))
        .build()
}

/// An ARN's parts: `arn:aws:<service>:<region>:<account>:<resource>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse_arn(arn: &str) -> Option<Arn<'_>> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let _partition = it.next()?;
    let service = it.next()?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next()?;
    Some(Arn {
        service,
        region,
        account,
        resource,
    })
}

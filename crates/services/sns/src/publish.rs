//! Publish and PublishBatch: validation, FIFO sequence numbers and deduplication, and the
//! outbox: one delivery record per matching, confirmed subscription, written in the same store
//! write that acknowledges the publish.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use sha2::Digest;
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

use crate::filter::{self, Scope};
use crate::model::{self, Delivery, DeliveryKind, SentMessage, SnsRecord, Subscription, Topic};
use crate::signing::{Signatures, string_to_sign};
use crate::{Answer, Input, Sns, invalid, new_id, not_found, str_of};

/// AWS's largest message (and batch): 256 KiB.
pub const MAX_MESSAGE: usize = 262_144;
/// FIFO deduplication window.
const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;
/// Records kept of messages sent to email/sms/application endpoints, per account and region.
pub const MAX_SENT: usize = 1000;

/// One message to publish, validated.
#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub message: String,
    /// Per-protocol bodies (`MessageStructure=json`).
    pub per_protocol: Option<Map<String, Value>>,
    pub subject: Option<String>,
    pub attributes: Map<String, Value>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

impl Message {
    fn body_for(&self, protocol: &str) -> String {
        if let Some(m) = &self.per_protocol
            && let Some(Value::String(s)) = m.get(protocol).or_else(|| m.get("default"))
        {
            return s.clone();
        }
        self.message.clone()
    }
}

/// Delivery ids sort by creation (time, then a counter), so FIFO deliveries keep their order.
fn delivery_id(now: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{now:016}-{n:012}-{}", &new_id()[..8])
}

/// Check a message's parameters (the input of Publish or of one batch entry).
pub(crate) fn check_message(
    input: &Input,
    fifo: bool,
    content_dedup: bool,
) -> Result<Message, AwsError> {
    let message = str_of(input, "Message").unwrap_or("").to_string();
    if message.is_empty() {
        return Err(invalid("Invalid parameter: Empty message"));
    }
    if message.len() > MAX_MESSAGE {
        return Err(invalid("Invalid parameter: Message too long"));
    }
    let subject = str_of(input, "Subject").map(str::to_string);
    if let Some(s) = &subject
        && (s.is_empty() || s.chars().count() > 100 || s.chars().any(|c| c.is_control()))
    {
        return Err(invalid("Invalid parameter: Subject"));
    }
    let per_protocol = match str_of(input, "MessageStructure") {
        None => None,
        Some("json") => match serde_json::from_str::<Value>(&message) {
            Ok(Value::Object(m)) => {
                if !m.get("default").is_some_and(Value::is_string) {
                    return Err(invalid(
                        "Invalid parameter: Message Structure - No default entry in JSON message body",
                    ));
                }
                Some(m)
            }
            _ => {
                return Err(invalid(
                    "Invalid parameter: Message Structure - JSON message body failed to parse",
                ));
            }
        },
        Some(_) => return Err(invalid("Invalid parameter: MessageStructure")),
    };
    let attributes = input
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, a) in &attributes {
        check_attribute(name, a)?;
    }
    let group_id = str_of(input, "MessageGroupId").map(str::to_string);
    let mut dedup_id = str_of(input, "MessageDeduplicationId").map(str::to_string);
    if fifo {
        if group_id.is_none() {
            return Err(invalid(
                "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
            ));
        }
        if dedup_id.is_none() {
            if !content_dedup {
                return Err(invalid(
                    "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
            let d = sha2::Sha256::digest(message.as_bytes());
            dedup_id = Some(d.iter().map(|b| format!("{b:02x}")).collect());
        }
    } else if dedup_id.is_some() {
        return Err(invalid(
            "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        ));
    }
    for (what, v) in [
        ("MessageGroupId", &group_id),
        ("MessageDeduplicationId", &dedup_id),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > 128 || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        {
            return Err(invalid(format!("Invalid parameter: {what}")));
        }
    }
    Ok(Message {
        message,
        per_protocol,
        subject,
        attributes,
        group_id,
        dedup_id,
    })
}

fn check_attribute(name: &str, a: &Value) -> Result<(), AwsError> {
    let dt = a.get("DataType").and_then(Value::as_str).unwrap_or("");
    let sv = a.get("StringValue").and_then(Value::as_str);
    let bv = a.get("BinaryValue").and_then(Value::as_str);
    let base = dt.split('.').next().unwrap_or("");
    let missing = || {
        invalid(format!(
            "Invalid parameter: MessageAttributes: The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{base}'."
        ))
    };
    if name.is_empty()
        || name.len() > 256
        || name.starts_with("AWS.")
        || name.starts_with("Amazon.")
    {
        return Err(invalid(format!(
            "Invalid parameter: MessageAttributes: The message attribute name '{name}' is invalid"
        )));
    }
    match base {
        "String" => {
            if sv.is_none_or(str::is_empty) {
                return Err(missing());
            }
            if dt == "String.Array"
                && !matches!(
                    serde_json::from_str::<Value>(sv.unwrap_or("")),
                    Ok(Value::Array(_))
                )
            {
                return Err(invalid(format!(
                    "Invalid parameter: MessageAttributes: The message attribute '{name}' has an invalid message attribute value, the value must be a JSON array."
                )));
            }
        }
        "Number" => {
            let v = sv.ok_or_else(missing)?;
            if v.trim().parse::<f64>().is_err() {
                return Err(invalid(format!(
                    "Invalid parameter: MessageAttributes: Could not cast message attribute '{name}' value to number."
                )));
            }
        }
        "Binary" => {
            if bv.is_none_or(str::is_empty) {
                return Err(missing());
            }
        }
        _ => {
            return Err(invalid(format!(
                "Invalid parameter: MessageAttributes: The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
    }
    Ok(())
}

/// The attributes of an envelope: `{name: {Type, Value}}`.
fn envelope_attributes(attrs: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, a) in attrs {
        let dt = a
            .get("DataType")
            .and_then(Value::as_str)
            .unwrap_or("String");
        let v = a
            .get("StringValue")
            .or_else(|| a.get("BinaryValue"))
            .cloned()
            .unwrap_or(Value::Null);
        out.insert(k.clone(), json!({"Type": dt, "Value": v}));
    }
    Value::Object(out)
}

/// Everything about one published message that deliveries share.
pub(crate) struct Published<'a> {
    pub msg: &'a Message,
    pub topic: &'a Topic,
    pub message_id: &'a str,
    /// A FIFO topic's sequence number of the message (its text and value).
    pub sequence: Option<(&'a str, u64)>,
    pub now: u64,
    pub host: &'a str,
    pub sigs: &'a Signatures<'a>,
}

impl Published<'_> {
    fn envelope(&self, sub: &Subscription, body: &str) -> Map<String, Value> {
        let mut env = Map::new();
        env.insert("Type".into(), json!("Notification"));
        env.insert("MessageId".into(), json!(self.message_id));
        if let Some((s, _)) = self.sequence {
            env.insert("SequenceNumber".into(), json!(s));
        }
        env.insert("TopicArn".into(), json!(self.topic.arn));
        if let Some(s) = &self.msg.subject {
            env.insert("Subject".into(), json!(s));
        }
        env.insert("Message".into(), json!(body));
        env.insert(
            "Timestamp".into(),
            json!(snapstack_protocol::codec::time::iso8601_ms(self.now)),
        );
        let region = model::parse_arn(&self.topic.arn)
            .map(|a| a.region.to_string())
            .unwrap_or_default();
        self.sigs.apply(&mut env, self.host, &region);
        env.insert(
            "UnsubscribeURL".into(),
            json!(format!(
                "http://{}/?Action=Unsubscribe&SubscriptionArn={}",
                self.host, sub.arn
            )),
        );
        if !self.msg.attributes.is_empty() {
            env.insert(
                "MessageAttributes".into(),
                envelope_attributes(&self.msg.attributes),
            );
        }
        env
    }

    /// Whether a subscription's filter policy lets the message through.
    fn passes(&self, sub: &Subscription) -> bool {
        let Some(policy) = sub.attributes.get("FilterPolicy").filter(|p| !p.is_empty()) else {
            return true;
        };
        let scope = sub
            .attributes
            .get("FilterPolicyScope")
            .and_then(|s| Scope::parse(s))
            .unwrap_or(Scope::MessageAttributes);
        match filter::compile(policy, scope) {
            Ok(p) => match scope {
                Scope::MessageAttributes => p.matches_attributes(&self.msg.attributes),
                Scope::MessageBody => p.matches_body(&self.msg.body_for(&sub.protocol)),
            },
            Err(_) => false,
        }
    }

    /// The delivery record of this message for one subscription.
    fn delivery(&self, p: &Partition, sub: &Subscription) -> Delivery {
        let body = self.msg.body_for(&sub.protocol);
        let raw = sub
            .attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v == "true")
            && matches!(sub.protocol.as_str(), "sqs" | "http" | "https" | "firehose");
        let (payload, sqs_attributes) = match sub.protocol.as_str() {
            "email" | "sms" | "application" => (body, None),
            _ if raw => {
                let attrs = (sub.protocol == "sqs" && !self.msg.attributes.is_empty())
                    .then(|| Value::Object(self.msg.attributes.clone()).to_string());
                (body, attrs)
            }
            "lambda" => {
                let mut sns = self.envelope(sub, &body);
                sns.remove("SubscribeURL");
                let mut attrs = sns.remove("MessageAttributes").unwrap_or_else(|| json!({}));
                if attrs.is_null() {
                    attrs = json!({});
                }
                sns.insert("MessageAttributes".into(), attrs);
                let rec = json!({"Records": [{
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": sub.arn,
                    "Sns": Value::Object(sns),
                }]});
                (rec.to_string(), None)
            }
            _ => (Value::Object(self.envelope(sub, &body)).to_string(), None),
        };
        let id = delivery_id(self.now);
        Delivery {
            id,
            kind: DeliveryKind::Notification,
            account: p.account.clone(),
            region: p.region.clone(),
            subscription_arn: sub.arn.clone(),
            topic_arn: self.topic.arn.clone(),
            protocol: sub.protocol.clone(),
            endpoint: sub.endpoint.clone(),
            message_id: self.message_id.to_string(),
            body: payload,
            sqs_attributes,
            group_id: self.msg.group_id.clone(),
            dedup_id: self.msg.dedup_id.clone(),
            attempts: 0,
            due_ms: self.now,
            created_ms: self.now,
            raw,
        }
    }
}

/// Put a new delivery in the outbox. A FIFO delivery (a group id and the topic's sequence
/// number) joins its (subscription, group) queue in sequence order, and enters the outbox only
/// when the queue was empty: the outbox holds at most one delivery of a group, the oldest.
pub(crate) fn enqueue(txn: &mut Txn<'_, SnsRecord>, d: Delivery, sequence: Option<u64>) {
    if let (Some(group), Some(seq)) = (d.group_id.as_deref(), sequence) {
        let queue = model::fifo_group_prefix(&d.subscription_arn, group);
        let has_head = txn.scan_prefix(&queue).next().is_some();
        txn.insert(
            model::fifo_key(&d.subscription_arn, group, seq),
            SnsRecord::Delivery(Box::new(d.clone())),
        );
        if has_head {
            return;
        }
    }
    txn.insert(
        model::delivery_key(d.due_ms, &d.id),
        SnsRecord::Delivery(Box::new(d)),
    );
}

/// A delivery leaves the outbox (delivered, or given up): remove it and, for a FIFO group's
/// head, move the group's next delivery into the outbox, due at once. In the caller's write.
pub(crate) fn dequeue(txn: &mut Txn<'_, SnsRecord>, d: &Delivery, now: u64) -> bool {
    let removed = txn.remove(&model::delivery_key(d.due_ms, &d.id)).is_some();
    let Some(group) = d.group_id.as_deref() else {
        return removed;
    };
    let queue = model::fifo_group_prefix(&d.subscription_arn, group);
    let head = txn.scan_prefix(&queue).next().map(|(k, r)| {
        (
            k.clone(),
            matches!(r, SnsRecord::Delivery(h) if h.id == d.id),
        )
    });
    // A delivery written before the queues existed has none: nothing to move up.
    let Some((key, true)) = head else {
        return removed;
    };
    txn.remove(&key);
    let next = txn.scan_prefix(&queue).next().and_then(|(_, r)| match r {
        SnsRecord::Delivery(n) => Some((**n).clone()),
        _ => None,
    });
    if let Some(mut next) = next {
        next.due_ms = next.due_ms.min(now);
        txn.insert(
            model::delivery_key(next.due_ms, &next.id),
            SnsRecord::Delivery(Box::new(next)),
        );
    }
    removed
}

/// The `SignatureVersion` of a topic's messages.
pub(crate) fn signature_version(topic: &Topic) -> &str {
    topic
        .attributes
        .get("SignatureVersion")
        .map(String::as_str)
        .unwrap_or("1")
}

/// A batch entry checked: its message and the id it will have, or its error.
type Checked = Result<(Message, String), AwsError>;

/// What one publish inside a write gave: (message id, sequence number).
type Outcome = (String, Option<String>);

impl Sns {
    /// Publish one checked message to a topic inside a write: deduplication, the sequence
    /// number, and the deliveries. Returns the message id and sequence number.
    #[allow(clippy::too_many_arguments)]
    fn publish_in(
        &self,
        txn: &mut Txn<'_, SnsRecord>,
        p: &Partition,
        topic_name: &str,
        msg: &Message,
        now: u64,
        host: &str,
        message_id: &str,
        sigs: &Signatures<'_>,
    ) -> Result<Outcome, AwsError> {
        let tkey = model::topic_key(p, topic_name);
        let Some(SnsRecord::Topic(t)) = txn.get(&tkey) else {
            return Err(not_found("Topic does not exist"));
        };
        let mut topic = (**t).clone();
        if topic.is_fifo() {
            let dkey = model::dedup_key(p, topic_name, msg.dedup_id.as_deref().unwrap_or(""));
            if let Some(SnsRecord::Dedup {
                message_id,
                sequence,
                expires_at_ms,
            }) = txn.get(&dkey)
                && *expires_at_ms > now
            {
                return Ok((message_id.clone(), Some(sequence.clone())));
            }
            topic.sequence += 1;
            let seq = format!("{:020}", topic.sequence);
            let message_id = message_id.to_string();
            txn.insert(
                dkey,
                SnsRecord::Dedup {
                    message_id: message_id.clone(),
                    sequence: seq.clone(),
                    expires_at_ms: now + DEDUP_WINDOW_MS,
                },
            );
            // Forget a few expired entries as new ones come.
            let expired: Vec<_> = txn
                .scan_prefix(&model::dedup_prefix(p, topic_name))
                .filter(|(_, r)| matches!(r, SnsRecord::Dedup { expires_at_ms, .. } if *expires_at_ms <= now))
                .map(|(k, _)| k.clone())
                .take(16)
                .collect();
            for k in expired {
                txn.remove(&k);
            }
            txn.insert(tkey, SnsRecord::Topic(Box::new(topic.clone())));
            self.fan_out(
                txn,
                p,
                &topic,
                msg,
                &message_id,
                Some((&seq, topic.sequence)),
                now,
                host,
                sigs,
            );
            return Ok((message_id, Some(seq)));
        }
        self.fan_out(txn, p, &topic, msg, message_id, None, now, host, sigs);
        Ok((message_id.to_string(), None))
    }

    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &self,
        txn: &mut Txn<'_, SnsRecord>,
        p: &Partition,
        topic: &Topic,
        msg: &Message,
        message_id: &str,
        sequence: Option<(&str, u64)>,
        now: u64,
        host: &str,
        sigs: &Signatures<'_>,
    ) {
        let published = Published {
            msg,
            topic,
            message_id,
            sequence,
            now,
            host,
            sigs,
        };
        let subs: Vec<Subscription> = txn
            .scan_prefix(&model::subs_of_topic(p, &topic.name))
            .filter_map(|(_, r)| match r {
                SnsRecord::Subscription(s) if s.pending_token.is_none() => Some((**s).clone()),
                _ => None,
            })
            .collect();
        for sub in subs {
            if !published.passes(&sub) {
                continue;
            }
            let d = published.delivery(p, &sub);
            enqueue(txn, d, sequence.map(|(_, n)| n));
        }
    }

    /// Sign, before the write, the envelopes the topic's current subscriptions will get (one
    /// signature per distinct body).
    fn presign(
        &self,
        p: &Partition,
        topic: &Topic,
        msg: &Message,
        message_id: &str,
        now: u64,
        sigs: &Signatures<'_>,
    ) {
        let snap = self.store.snapshot();
        let mut protocols: Vec<String> = snap
            .scan_prefix(&model::subs_of_topic(p, &topic.name))
            .filter_map(|(_, r)| match r {
                SnsRecord::Subscription(s)
                    if s.pending_token.is_none()
                        && !matches!(s.protocol.as_str(), "email" | "sms" | "application")
                        && s.attributes
                            .get("RawMessageDelivery")
                            .is_none_or(|v| v != "true") =>
                {
                    Some(s.protocol.clone())
                }
                _ => None,
            })
            .collect();
        protocols.sort();
        protocols.dedup();
        let timestamp = snapstack_protocol::codec::time::iso8601_ms(now);
        let mut bodies: Vec<String> = protocols.iter().map(|p| msg.body_for(p)).collect();
        bodies.sort();
        bodies.dedup();
        for body in bodies {
            let mut env = Map::new();
            env.insert("Type".into(), json!("Notification"));
            env.insert("MessageId".into(), json!(message_id));
            env.insert("TopicArn".into(), json!(topic.arn));
            if let Some(s) = &msg.subject {
                env.insert("Subject".into(), json!(s));
            }
            env.insert("Message".into(), json!(body));
            env.insert("Timestamp".into(), json!(timestamp));
            sigs.prepare(string_to_sign(&env));
        }
    }

    pub(crate) fn publish(
        &self,
        ctx: &RequestContext,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let topic_arn = str_of(input, "TopicArn")
            .or_else(|| str_of(input, "TargetArn").filter(|a| !a.contains(":endpoint/")));
        if let Some(target) = str_of(input, "TargetArn").filter(|a| a.contains(":endpoint/")) {
            return self.publish_to_endpoint(input, target, now);
        }
        if let Some(number) = str_of(input, "PhoneNumber")
            && topic_arn.is_none()
        {
            return self.publish_sms(ctx, input, number, now);
        }
        let Some(topic_arn) = topic_arn else {
            return Err(invalid(
                "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
            ));
        };
        let (p, topic) = self.load_topic(topic_arn)?;
        let content_dedup = topic
            .attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true");
        let msg = check_message(input, topic.is_fifo(), content_dedup)?;
        let host = self.host();
        let signer = self.signer(&p.region)?;
        let sigs = Signatures::new(&signer, signature_version(&topic));
        let message_id = new_id();
        self.presign(&p, &topic, &msg, &message_id, now, &sigs);
        let (res, version) = self.store.write(|txn| {
            self.publish_in(txn, &p, &topic.name, &msg, now, &host, &message_id, &sigs)
        });
        let (message_id, sequence) = res?;
        self.wake.notify_one();
        let mut out = json!({ "MessageId": message_id });
        if let Some(s) = sequence {
            out["SequenceNumber"] = json!(s);
        }
        Ok(Answer::wrote(out, version))
    }

    pub(crate) fn publish_batch(
        &self,
        _ctx: &RequestContext,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let topic_arn = str_of(input, "TopicArn").unwrap_or("");
        let entries: Vec<Map<String, Value>> = input
            .get("PublishBatchRequestEntries")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|e| e.as_object().cloned()).collect())
            .unwrap_or_default();
        if entries.is_empty() {
            return Err(AwsError::new(
                "EmptyBatchRequest",
                "The batch request doesn't contain any entries.",
            ));
        }
        if entries.len() > 10 {
            return Err(AwsError::new(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible.",
            ));
        }
        let mut ids = std::collections::HashSet::new();
        for e in &entries {
            let id = str_of(e, "Id").unwrap_or("");
            if id.is_empty()
                || id.len() > 80
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(AwsError::new(
                    "InvalidBatchEntryId",
                    "The Id of a batch entry in a batch request doesn't abide by the specification.",
                ));
            }
            if !ids.insert(id.to_string()) {
                return Err(AwsError::new(
                    "BatchEntryIdsNotDistinct",
                    "Two or more batch entries in the request have the same Id.",
                ));
            }
        }
        let total: usize = entries
            .iter()
            .map(|e| str_of(e, "Message").map_or(0, str::len))
            .sum();
        if total > MAX_MESSAGE {
            return Err(AwsError::new(
                "BatchRequestTooLong",
                "The length of all the messages put together is more than the limit.",
            ));
        }
        let (p, topic) = self.load_topic(topic_arn)?;
        let content_dedup = topic
            .attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true");
        let checked: Vec<(String, Result<Message, AwsError>)> = entries
            .iter()
            .map(|e| {
                (
                    str_of(e, "Id").unwrap_or("").to_string(),
                    check_message(e, topic.is_fifo(), content_dedup),
                )
            })
            .collect();
        let host = self.host();
        let signer = self.signer(&p.region)?;
        let sigs = Signatures::new(&signer, signature_version(&topic));
        // Each valid message with its id, signed before the write.
        let checked: Vec<(String, Checked)> = checked
            .into_iter()
            .map(|(id, m)| {
                let m = m.map(|msg| {
                    let message_id = new_id();
                    self.presign(&p, &topic, &msg, &message_id, now, &sigs);
                    (msg, message_id)
                });
                (id, m)
            })
            .collect();
        let (results, version) = self.store.write(|txn| {
            checked
                .iter()
                .map(|(id, m)| {
                    let r = match m {
                        Ok((msg, mid)) => {
                            self.publish_in(txn, &p, &topic.name, msg, now, &host, mid, &sigs)
                        }
                        Err(e) => Err(e.clone()),
                    };
                    (id.clone(), r)
                })
                .collect::<Vec<_>>()
        });
        self.wake.notify_one();
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for (id, r) in results {
            match r {
                Ok((mid, seq)) => {
                    let mut v = json!({"Id": id, "MessageId": mid});
                    if let Some(s) = seq {
                        v["SequenceNumber"] = json!(s);
                    }
                    ok.push(v);
                }
                Err(e) => failed.push(json!({
                    "Id": id, "Code": e.code, "Message": e.message, "SenderFault": true
                })),
            }
        }
        Ok(Answer::wrote(
            json!({"Successful": ok, "Failed": failed}),
            version,
        ))
    }

    /// Record a message sent where this emulator keeps only a trace (SMS, email, mobile push).
    pub(crate) fn record_sent(txn: &mut Txn<'_, SnsRecord>, p: &Partition, sent: SentMessage) {
        let ckey = model::sent_counter_key(p);
        let n = match txn.get(&ckey) {
            Some(SnsRecord::Counter(n)) => *n,
            _ => 0,
        };
        txn.insert(ckey, SnsRecord::Counter(n + 1));
        txn.insert(model::sent_key(p, n), SnsRecord::Sent(Box::new(sent)));
        if n >= MAX_SENT as u64 {
            txn.remove(&model::sent_key(p, n - MAX_SENT as u64));
        }
    }

    fn publish_sms(
        &self,
        ctx: &RequestContext,
        input: &Input,
        number: &str,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let digits = number.trim_start_matches('+');
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "Invalid parameter: PhoneNumber Reason: {number} is not valid to publish to"
            )));
        }
        let msg = check_message(input, false, false)?;
        let p = ctx.partition.clone();
        let message_id = new_id();
        let (_, version) = self.store.write(|txn| {
            Self::record_sent(
                txn,
                &p,
                SentMessage {
                    protocol: "sms".into(),
                    endpoint: number.to_string(),
                    subscription_arn: None,
                    message_id: message_id.clone(),
                    body: msg.message.clone(),
                    subject: msg.subject.clone(),
                    at_ms: now,
                },
            );
        });
        Ok(Answer::wrote(json!({"MessageId": message_id}), version))
    }

    fn publish_to_endpoint(
        &self,
        input: &Input,
        target: &str,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let (p, key, endpoint) = self.load_endpoint(target)?;
        let _ = key;
        if endpoint
            .attributes
            .get("Enabled")
            .is_some_and(|v| v == "false")
        {
            return Err(AwsError::new("EndpointDisabled", "Endpoint is disabled"));
        }
        let msg = check_message(input, false, false)?;
        let message_id = new_id();
        let body = msg.body_for("default");
        let platform_body = msg
            .per_protocol
            .as_ref()
            .and_then(|m| {
                let platform = model::parse_arn(&endpoint.application_arn)
                    .and_then(|a| a.resource.split('/').nth(1).map(str::to_string))
                    .unwrap_or_default();
                m.get(&platform).and_then(Value::as_str).map(str::to_string)
            })
            .unwrap_or(body);
        let (_, version) = self.store.write(|txn| {
            Self::record_sent(
                txn,
                &p,
                SentMessage {
                    protocol: "application".into(),
                    endpoint: target.to_string(),
                    subscription_arn: None,
                    message_id: message_id.clone(),
                    body: platform_body.clone(),
                    subject: msg.subject.clone(),
                    at_ms: now,
                },
            );
        });
        Ok(Answer::wrote(json!({"MessageId": message_id}), version))
    }
}

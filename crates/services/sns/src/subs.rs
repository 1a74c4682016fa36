//! Subscriptions: Subscribe (confirmation for http/https and email), ConfirmSubscription,
//! Unsubscribe, the listings and the attributes (raw delivery, filter policies and their scope,
//! delivery and redrive policies).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::Digest;
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

use crate::filter::{self, Scope};
use crate::model::{self, Delivery, DeliveryKind, SnsRecord, Subscription};
use crate::topics::PAGE;
use crate::{
    Answer, Input, Sns, invalid, invalid_param, new_id, not_found, str_of, string_map, sub_of_arn,
    topic_of_arn,
};

const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
];

const SUB_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

/// Most subscriptions per topic (AWS's quota is 12.5 million; far more than a local run needs).
const MAX_SUBSCRIPTIONS: usize = 100_000;

fn check_endpoint(protocol: &str, endpoint: &str) -> Result<(), AwsError> {
    let arn_of = |service: &str| {
        model::parse_arn(endpoint).is_some_and(|a| {
            a.service == service
                && !a.region.is_empty()
                && !a.account.is_empty()
                && !a.resource.is_empty()
        })
    };
    let ok = match protocol {
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "sqs" => {
            if !arn_of("sqs") {
                return Err(invalid("Invalid parameter: SQS endpoint ARN"));
            }
            true
        }
        "lambda" => {
            if !arn_of("lambda") {
                return Err(invalid("Invalid parameter: Lambda endpoint ARN"));
            }
            true
        }
        "firehose" => arn_of("firehose"),
        "application" => arn_of("sns"),
        "email" | "email-json" => {
            if !endpoint.contains('@') {
                return Err(invalid("Invalid parameter: Email address"));
            }
            true
        }
        "sms" => {
            let digits = endpoint.trim_start_matches('+');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return Err(invalid(format!("Invalid SMS endpoint: {endpoint}")));
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid("Invalid parameter: Endpoint"))
    }
}

/// Check (and normalize) one subscription attribute, given the attributes it joins.
fn check_sub_attribute(
    name: &str,
    value: &str,
    attrs: &BTreeMap<String, String>,
    subscribe: bool,
) -> Result<String, AwsError> {
    let reason = |m: String| invalid(format!("Invalid parameter: Attributes Reason: {m}"));
    // A filter policy's reason, prefixed as the call words it.
    let policy_error = |r: String| {
        invalid(if subscribe {
            filter::on_subscribe(&r)
        } else {
            filter::on_set_attributes(&r)
        })
    };
    match name {
        "RawMessageDelivery" => match value.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Ok(v.to_string()),
            _ => Err(reason(format!(
                "RawMessageDelivery: Invalid value [{value}]. Must be true or false."
            ))),
        },
        "FilterPolicyScope" => {
            let scope = Scope::parse(value).ok_or_else(|| {
                reason(format!(
                    "FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
                ))
            })?;
            if let Some(p) = attrs.get("FilterPolicy").filter(|p| !p.is_empty()) {
                filter::compile(p, scope).map_err(policy_error)?;
            }
            Ok(value.to_string())
        }
        "FilterPolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            let scope = attrs
                .get("FilterPolicyScope")
                .and_then(|s| Scope::parse(s))
                .unwrap_or(Scope::MessageAttributes);
            filter::compile(value, scope).map_err(policy_error)?;
            Ok(value.to_string())
        }
        "RedrivePolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            let v: Value = serde_json::from_str(value)
                .map_err(|_| invalid("Invalid parameter: RedrivePolicy: failed to parse JSON."))?;
            let target = v
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing")
                })?;
            if model::parse_arn(target).is_none_or(|a| a.service != "sqs") {
                return Err(invalid(
                    "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn",
                ));
            }
            Ok(value.to_string())
        }
        "DeliveryPolicy" | "ReplayPolicy" => {
            if value.is_empty() {
                return Ok(String::new());
            }
            match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(_)) => Ok(value.to_string()),
                _ => Err(invalid(format!(
                    "Invalid parameter: {name}: failed to parse JSON."
                ))),
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// A long confirmation token (hex), as AWS's are.
fn new_token() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let d = sha2::Sha256::digest(new_id().as_bytes());
        for b in d {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

impl Sns {
    pub(crate) fn load_subscription(
        &self,
        arn: &str,
    ) -> Result<(Partition, Subscription), AwsError> {
        let (p, topic, id) = sub_of_arn(arn)?;
        match self.store.snapshot().get(&model::sub_key(&p, &topic, &id)) {
            Some(SnsRecord::Subscription(s)) => Ok((p, (**s).clone())),
            _ => Err(not_found("Subscription does not exist")),
        }
    }

    pub(crate) fn subscribe(
        &self,
        ctx: &RequestContext,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let topic_arn = str_of(input, "TopicArn").unwrap_or("");
        let protocol = str_of(input, "Protocol").unwrap_or("").to_ascii_lowercase();
        let endpoint = str_of(input, "Endpoint").unwrap_or("").to_string();
        let return_arn = input
            .get("ReturnSubscriptionArn")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (p, topic) = self.load_topic(topic_arn)?;
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(format!(
                "Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
            )));
        }
        check_endpoint(&protocol, &endpoint)?;
        if topic.is_fifo() && protocol != "sqs" {
            return Err(invalid(format!(
                "Invalid parameter: Invalid protocol type: {protocol}"
            )));
        }
        let given = string_map(input, "Attributes");
        let mut attrs = BTreeMap::new();
        // The scope first, so the policy is checked against it.
        let mut ordered: Vec<(&String, &String)> = given.iter().collect();
        ordered.sort_by_key(|(k, _)| *k != "FilterPolicyScope");
        for (k, v) in ordered {
            if !SUB_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: Unknown attribute {k}"
                )));
            }
            let v = check_sub_attribute(k, v, &attrs, true)?;
            attrs.insert(k.clone(), v);
        }
        if attrs.contains_key("FilterPolicy") && !attrs.contains_key("FilterPolicyScope") {
            attrs.insert("FilterPolicyScope".into(), "MessageAttributes".into());
        }
        let needs_confirmation =
            matches!(protocol.as_str(), "http" | "https" | "email" | "email-json");
        let prefix = model::subs_of_topic(&p, &topic.name);
        let host = self.host();
        let owner = ctx.account().to_string();
        let signer = if needs_confirmation && protocol.starts_with("http") {
            Some(self.signer(&p.region)?)
        } else {
            None
        };
        let (res, version) = self.store.write(|txn| {
            let mut count = 0;
            for (_, r) in txn.scan_prefix(&prefix) {
                count += 1;
                if let SnsRecord::Subscription(s) = r
                    && s.protocol == protocol && s.endpoint == endpoint {
                        let same = attrs.iter().all(|(k, v)| s.attributes.get(k) == Some(v));
                        if !same {
                            return Err(invalid(
                                "Invalid parameter: Attributes Reason: Subscription already exists with different attributes",
                            ));
                        }
                        let shown = if s.pending_token.is_some() && !return_arn {
                            "pending confirmation".to_string()
                        } else {
                            s.arn.clone()
                        };
                        return Ok((shown, false));
                    }
            }
            if count >= MAX_SUBSCRIPTIONS {
                return Err(AwsError::new("SubscriptionLimitExceeded", "Subscription limit exceeded")
                    .with_status(snapstack_protocol::http::StatusCode::FORBIDDEN));
            }
            let id = new_id();
            let arn = format!("{}:{id}", topic.arn);
            let token = needs_confirmation.then(new_token);
            if let (Some(token), Some(signer)) = (&token, &signer) {
                let sigs = crate::signing::Signatures::new(
                    signer,
                    crate::publish::signature_version(&topic),
                );
                let (key, d) = confirmation(&host, &p, &topic.arn, &arn, &protocol, &endpoint, token, now, &sigs);
                txn.insert(key, SnsRecord::Delivery(Box::new(d)));
            }
            txn.insert(
                model::sub_key(&p, &topic.name, &id),
                SnsRecord::Subscription(Box::new(Subscription {
                    arn: arn.clone(),
                    topic_arn: topic.arn.clone(),
                    protocol: protocol.clone(),
                    endpoint: endpoint.clone(),
                    owner: owner.clone(),
                    attributes: attrs.clone(),
                    pending_token: token.clone(),
                })),
            );
            let shown = if token.is_some() && !return_arn {
                "pending confirmation".to_string()
            } else {
                arn
            };
            Ok((shown, true))
        });
        let (shown, wrote) = res?;
        if wrote {
            self.wake.notify_one();
        }
        let out = json!({ "SubscriptionArn": shown });
        Ok(if wrote {
            Answer::wrote(out, version)
        } else {
            Answer::read(out)
        })
    }

    pub(crate) fn confirm_subscription(&self, input: &Input) -> Result<Answer, AwsError> {
        let topic_arn = str_of(input, "TopicArn").unwrap_or("");
        let token = str_of(input, "Token").unwrap_or("");
        let (p, name) = topic_of_arn(topic_arn)?;
        let (_, _topic) = self.load_topic(topic_arn)?;
        let prefix = model::subs_of_topic(&p, &name);
        let (res, version) = self.store.write(|txn| {
            let found = txn.scan_prefix(&prefix).find_map(|(k, r)| match r {
                SnsRecord::Subscription(s) if s.pending_token.as_deref() == Some(token) => {
                    Some((k.clone(), (**s).clone()))
                }
                _ => None,
            });
            let Some((key, mut s)) = found else {
                return Err(invalid_param("Token"));
            };
            s.pending_token = None;
            let arn = s.arn.clone();
            txn.insert(key, SnsRecord::Subscription(Box::new(s)));
            Ok(arn)
        });
        let arn = res?;
        Ok(Answer::wrote(json!({ "SubscriptionArn": arn }), version))
    }

    pub(crate) fn unsubscribe(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "SubscriptionArn").unwrap_or("");
        let (p, topic, id) = sub_of_arn(arn)?;
        let key = model::sub_key(&p, &topic, &id);
        let (found, version) = self.store.write(|txn| txn.remove(&key).is_some());
        if !found {
            return Err(not_found("Subscription does not exist"));
        }
        Ok(Answer::wrote(json!({}), version))
    }

    fn listing(subs: impl Iterator<Item = Subscription>, after: &str) -> Value {
        let mut out = Vec::new();
        let mut next = None;
        let mut skipping = !after.is_empty();
        for s in subs {
            if skipping {
                if s.arn == after {
                    skipping = false;
                }
                continue;
            }
            if out.len() == PAGE {
                next = out.last().map(|v: &(Value, String)| v.1.clone());
                break;
            }
            let shown = if s.pending_token.is_some() {
                "PendingConfirmation".to_string()
            } else {
                s.arn.clone()
            };
            let owner = model::parse_arn(&s.topic_arn)
                .map(|a| a.account.to_string())
                .unwrap_or_default();
            out.push((
                json!({
                    "SubscriptionArn": shown,
                    "Owner": owner,
                    "Protocol": s.protocol,
                    "Endpoint": s.endpoint,
                    "TopicArn": s.topic_arn,
                }),
                s.arn,
            ));
        }
        let mut v = json!({ "Subscriptions": out.into_iter().map(|(v, _)| v).collect::<Vec<_>>() });
        if let Some(n) = next {
            v["NextToken"] = Value::String(n);
        }
        v
    }

    pub(crate) fn list_subscriptions(&self, ctx: &RequestContext, input: &Input) -> Value {
        let snap = self.store.snapshot();
        let subs = snap
            .scan_prefix(&model::subs_prefix(&ctx.partition))
            .filter_map(|(_, r)| match r {
                SnsRecord::Subscription(s) => Some((**s).clone()),
                _ => None,
            });
        Self::listing(subs, str_of(input, "NextToken").unwrap_or(""))
    }

    pub(crate) fn list_subscriptions_by_topic(&self, input: &Input) -> Result<Value, AwsError> {
        let (p, t) = self.load_topic(str_of(input, "TopicArn").unwrap_or(""))?;
        let snap = self.store.snapshot();
        let subs = snap
            .scan_prefix(&model::subs_of_topic(&p, &t.name))
            .filter_map(|(_, r)| match r {
                SnsRecord::Subscription(s) => Some((**s).clone()),
                _ => None,
            });
        Ok(Self::listing(
            subs,
            str_of(input, "NextToken").unwrap_or(""),
        ))
    }

    pub(crate) fn get_subscription_attributes(&self, input: &Input) -> Result<Value, AwsError> {
        let (_, s) = self.load_subscription(str_of(input, "SubscriptionArn").unwrap_or(""))?;
        let owner = model::parse_arn(&s.topic_arn)
            .map(|a| a.account.to_string())
            .unwrap_or_default();
        let mut a: BTreeMap<String, String> = BTreeMap::new();
        a.insert("SubscriptionArn".into(), s.arn.clone());
        a.insert("TopicArn".into(), s.topic_arn.clone());
        a.insert("Owner".into(), owner);
        a.insert("Protocol".into(), s.protocol.clone());
        a.insert("Endpoint".into(), s.endpoint.clone());
        a.insert(
            "PendingConfirmation".into(),
            s.pending_token.is_some().to_string(),
        );
        a.insert(
            "ConfirmationWasAuthenticated".into(),
            (s.pending_token.is_none()).to_string(),
        );
        a.insert("RawMessageDelivery".into(), "false".into());
        if s.protocol.starts_with("http") {
            let policy = crate::delivery::RetryPolicy::for_subscription(&s, None);
            a.insert("EffectiveDeliveryPolicy".into(), policy.to_json());
        }
        for (k, v) in &s.attributes {
            if !v.is_empty() {
                a.insert(k.clone(), v.clone());
            }
        }
        Ok(json!({ "Attributes": a }))
    }

    pub(crate) fn set_subscription_attributes(&self, input: &Input) -> Result<Answer, AwsError> {
        let arn = str_of(input, "SubscriptionArn").unwrap_or("");
        let name = str_of(input, "AttributeName").unwrap_or("");
        let value = str_of(input, "AttributeValue").unwrap_or("");
        if !SUB_ATTRIBUTES.contains(&name) {
            return Err(invalid_param("AttributeName"));
        }
        let (p, topic, id) = sub_of_arn(arn)?;
        let key = model::sub_key(&p, &topic, &id);
        let (res, version) = self.store.write(|txn| {
            let Some(SnsRecord::Subscription(s)) = txn.get(&key) else {
                return Err(not_found("Subscription does not exist"));
            };
            let mut s = (**s).clone();
            let v = check_sub_attribute(name, value, &s.attributes, false)?;
            if v.is_empty() {
                s.attributes.remove(name);
                if name == "FilterPolicy" {
                    s.attributes.remove("FilterPolicyScope");
                }
            } else {
                s.attributes.insert(name.to_string(), v);
                if name == "FilterPolicy" && !s.attributes.contains_key("FilterPolicyScope") {
                    s.attributes
                        .insert("FilterPolicyScope".into(), "MessageAttributes".into());
                }
            }
            txn.insert(key.clone(), SnsRecord::Subscription(Box::new(s)));
            Ok(())
        });
        res.map(|()| Answer::wrote(json!({}), version))
    }
}

/// The SubscriptionConfirmation delivery of a new http/https subscription.
#[allow(clippy::too_many_arguments)]
fn confirmation(
    host: &str,
    p: &Partition,
    topic_arn: &str,
    sub_arn: &str,
    protocol: &str,
    endpoint: &str,
    token: &str,
    now: u64,
    sigs: &crate::signing::Signatures<'_>,
) -> (snapstack_engine::Key, Delivery) {
    let message_id = new_id();
    let subscribe_url =
        format!("http://{host}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}");
    let mut body = serde_json::Map::new();
    body.insert("Type".into(), json!("SubscriptionConfirmation"));
    body.insert("MessageId".into(), json!(message_id));
    body.insert("Token".into(), json!(token));
    body.insert("TopicArn".into(), json!(topic_arn));
    body.insert(
        "Message".into(),
        json!(format!(
            "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
        )),
    );
    body.insert("SubscribeURL".into(), json!(subscribe_url));
    body.insert(
        "Timestamp".into(),
        json!(snapstack_protocol::codec::time::iso8601_ms(now)),
    );
    sigs.apply(&mut body, host, &p.region);
    let id = new_id();
    let d = Delivery {
        id: id.clone(),
        kind: DeliveryKind::SubscriptionConfirmation,
        account: p.account.clone(),
        region: p.region.clone(),
        subscription_arn: sub_arn.to_string(),
        topic_arn: topic_arn.to_string(),
        protocol: protocol.to_string(),
        endpoint: endpoint.to_string(),
        message_id,
        body: serde_json::Value::Object(body).to_string(),
        sqs_attributes: None,
        group_id: None,
        dedup_id: None,
        attempts: 0,
        due_ms: now,
        created_ms: now,
        raw: false,
    };
    (model::delivery_key(now, &id), d)
}

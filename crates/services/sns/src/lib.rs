//! SNS (the query protocol, XML answers): topics (standard and FIFO), subscriptions with filter
//! policies, Publish and PublishBatch, tags, permissions, data protection policies, platform
//! applications and endpoints, and SMS settings, as records of one store.
//!
//! Deliveries are an outbox: a publish writes, in the same store write that acknowledges it, one
//! [`model::Delivery`] per matching subscription, keyed by its absolute next-attempt deadline.
//! The delivery task (`delivery.rs`, started by `Service::start`) sends the due ones and removes
//! each only once the endpoint has it; a failure moves the deadline by the delivery policy, and
//! a delivery out of retries goes to the subscription's dead-letter queue or is dropped with a
//! log line. A crash between a send and the removal means one more delivery after the restart
//! (at-least-once), never a lost one.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use snapstack_engine::{Partition, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

pub mod delivery;
pub mod filter;
mod inspect;
pub mod model;
mod platform;
mod policy;
mod publish;
mod service;
pub mod signing;
mod subs;
mod topics;

#[cfg(test)]
mod tests;

pub use model::SnsRecord;

pub const NAME: &str = "sns";

/// What an operation answered: its output (the neutral value) and the store version a write
/// produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub output: Value,
    pub write_version: Option<u64>,
}

impl Answer {
    fn read(output: Value) -> Self {
        Answer {
            output,
            write_version: None,
        }
    }
    fn wrote(output: Value, version: u64) -> Self {
        Answer {
            output,
            write_version: Some(version),
        }
    }
}

pub struct Sns {
    pub store: Arc<Store<SnsRecord>>,
    /// `host:port` of the URLs handed out (SubscribeURL, UnsubscribeURL, SigningCertURL).
    host: RwLock<String>,
    /// Wakes the delivery task when a publish wrote deliveries.
    pub(crate) wake: tokio::sync::Notify,
    /// Parsed signing keys, by region (`signing.rs`).
    pub(crate) signers: signing::SignerCache,
}

impl Default for Sns {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh UUID-shaped id.
pub fn new_id() -> String {
    snapstack_protocol::request::new_request_id()
}

pub type Input = Map<String, Value>;

pub(crate) fn str_of<'a>(input: &'a Input, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameter", message)
}

pub(crate) fn invalid_param(name: &str) -> AwsError {
    invalid(format!("Invalid parameter: {name}"))
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("NotFound", message).with_status(StatusCode::NOT_FOUND)
}

/// A string→string map member of the input (Attributes).
pub(crate) fn string_map(input: &Input, name: &str) -> std::collections::BTreeMap<String, String> {
    input
        .get(name)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Sns {
    pub fn new() -> Self {
        Sns {
            store: Store::new(NAME),
            host: RwLock::new("localhost.localstack.cloud:4566".to_string()),
            wake: tokio::sync::Notify::new(),
            signers: signing::SignerCache::default(),
        }
    }

    pub(crate) fn model() -> &'static snapstack_protocol::model::ServiceModel {
        snapstack_protocol::model::named(NAME).expect("the SNS model is embedded")
    }

    pub(crate) fn host(&self) -> String {
        self.host.read().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn set_host(&self, host: &str) {
        if let Ok(mut h) = self.host.write() {
            *h = host.to_string();
        }
    }

    /// Run an operation on its (parsed) input.
    pub fn handle(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Result<Answer, AwsError> {
        let model = Self::model();
        if !model.operations.contains_key(operation) {
            return Err(AwsError::new(
                "InvalidAction",
                format!("Could not find operation {operation} for version 2010-03-31"),
            ));
        }
        let found = snapstack_protocol::validate::violations(model, operation, input);
        if !found.is_empty() {
            return Err(AwsError::new(
                "ValidationError",
                snapstack_protocol::validate::message(&found),
            ));
        }
        let empty = Map::new();
        let input = input.as_object().unwrap_or(&empty);
        let now = now_ms();
        match operation {
            "CreateTopic" => self.create_topic(ctx, input),
            "DeleteTopic" => self.delete_topic(input),
            "ListTopics" => Ok(Answer::read(self.list_topics(ctx, input))),
            "GetTopicAttributes" => self.get_topic_attributes(input).map(Answer::read),
            "SetTopicAttributes" => self.set_topic_attributes(input),
            "AddPermission" => self.add_permission(input),
            "RemovePermission" => self.remove_permission(input),
            "TagResource" => self.tag_resource(input),
            "UntagResource" => self.untag_resource(input),
            "ListTagsForResource" => self.list_tags(input).map(Answer::read),
            "PutDataProtectionPolicy" => self.put_data_protection_policy(input),
            "GetDataProtectionPolicy" => self.get_data_protection_policy(input).map(Answer::read),
            "Subscribe" => self.subscribe(ctx, input, now),
            "ConfirmSubscription" => self.confirm_subscription(input),
            "Unsubscribe" => self.unsubscribe(input),
            "ListSubscriptions" => Ok(Answer::read(self.list_subscriptions(ctx, input))),
            "ListSubscriptionsByTopic" => self.list_subscriptions_by_topic(input).map(Answer::read),
            "GetSubscriptionAttributes" => {
                self.get_subscription_attributes(input).map(Answer::read)
            }
            "SetSubscriptionAttributes" => self.set_subscription_attributes(input),
            "Publish" => self.publish(ctx, input, now),
            "PublishBatch" => self.publish_batch(ctx, input, now),
            "CreatePlatformApplication" => self.create_platform_application(ctx, input),
            "DeletePlatformApplication" => self.delete_platform_application(input),
            "ListPlatformApplications" => {
                Ok(Answer::read(self.list_platform_applications(ctx, input)))
            }
            "GetPlatformApplicationAttributes" => self
                .get_platform_application_attributes(input)
                .map(Answer::read),
            "SetPlatformApplicationAttributes" => self.set_platform_application_attributes(input),
            "CreatePlatformEndpoint" => self.create_platform_endpoint(input),
            "DeleteEndpoint" => self.delete_endpoint(input),
            "ListEndpointsByPlatformApplication" => self
                .list_endpoints_by_platform_application(input)
                .map(Answer::read),
            "GetEndpointAttributes" => self.get_endpoint_attributes(input).map(Answer::read),
            "SetEndpointAttributes" => self.set_endpoint_attributes(input),
            "SetSMSAttributes" => self.set_sms_attributes(ctx, input),
            "GetSMSAttributes" => Ok(Answer::read(self.get_sms_attributes(ctx, input))),
            "CheckIfPhoneNumberIsOptedOut" => self.check_opted_out(ctx, input).map(Answer::read),
            "ListPhoneNumbersOptedOut" => Ok(Answer::read(self.list_opted_out(ctx, input))),
            "OptInPhoneNumber" => self.opt_in(ctx, input),
            "GetSMSSandboxAccountStatus" => {
                Ok(Answer::read(serde_json::json!({"IsInSandbox": false})))
            }
            "CreateSMSSandboxPhoneNumber" => self.create_sandbox_number(ctx, input),
            "VerifySMSSandboxPhoneNumber" => self.verify_sandbox_number(ctx, input),
            "DeleteSMSSandboxPhoneNumber" => self.delete_sandbox_number(ctx, input),
            "ListSMSSandboxPhoneNumbers" => Ok(Answer::read(self.list_sandbox_numbers(ctx, input))),
            "ListOriginationNumbers" => Ok(Answer::read(serde_json::json!({"PhoneNumbers": []}))),
            other => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("SNS", other),
            )
            .with_status(StatusCode::NOT_IMPLEMENTED)),
        }
    }
}

/// The partition and name of a topic ARN (`arn:aws:sns:<region>:<account>:<name>`).
pub(crate) fn topic_of_arn(arn: &str) -> Result<(Partition, String), AwsError> {
    let a = model::parse_arn(arn).ok_or_else(|| invalid_param("TopicArn"))?;
    if a.service != "sns" || a.region.is_empty() || a.account.is_empty() || a.resource.contains(':')
    {
        return Err(invalid_param("TopicArn"));
    }
    Ok((Partition::new(a.account, a.region), a.resource.to_string()))
}

/// The partition, topic name and id of a subscription ARN (`<topic ARN>:<id>`).
pub(crate) fn sub_of_arn(arn: &str) -> Result<(Partition, String, String), AwsError> {
    let bad = || invalid_param("SubscriptionArn");
    let a = model::parse_arn(arn).ok_or_else(bad)?;
    let (topic, id) = a.resource.split_once(':').ok_or_else(bad)?;
    if a.service != "sns" || topic.is_empty() || id.is_empty() || id.contains(':') {
        return Err(bad());
    }
    Ok((
        Partition::new(a.account, a.region),
        topic.to_string(),
        id.to_string(),
    ))
}

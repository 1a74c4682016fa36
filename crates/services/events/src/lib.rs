//! EventBridge (JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`): event buses with their policies,
//! rules (event patterns and `rate()`/`cron()` schedules) and their targets, PutEvents,
//! TestEventPattern, archives and replays, connections, API destinations, global endpoints
//! and tags, as records of one store (`model.rs`).
//!
//! Deliveries are an outbox: PutEvents writes, in the same store write that acknowledges the
//! events, one [`model::Delivery`] per (matching rule, target), keyed by its absolute
//! next-attempt deadline, and the archived copies of the events. The background task
//! (`delivery.rs`, started by `Service::start`) sends the due ones through `Runtime::invoke`
//! (SQS, SNS, CloudWatch Logs, Lambda, another event bus) and removes each only once the target
//! has it; a failure moves its deadline by the target's RetryPolicy, and a delivery out of
//! retries (or refused for good) goes to the target's dead-letter queue. Scheduled rules keep
//! their next fire time as a record too; after a restart a missed fire happens once, then the
//! schedule continues from now.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value, json};

use snapstack_engine::{Partition, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

mod api_dest;
mod archives;
mod buses;
mod connections;
pub mod delivery;
pub mod model;
mod partner;
pub mod pattern;
mod put_events;
mod rules;
mod service;
mod targets;
pub mod transform;

#[cfg(test)]
mod tests;

pub use model::EventsRecord;
pub use rules::{parse_schedule, rate_scale};
pub use snapstack_service::schedule;

pub const NAME: &str = "events";
pub const DEFAULT_BUS: &str = "default";

/// What an operation answered: its output and the store version a write produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub output: Value,
    pub write_version: Option<u64>,
}

impl Answer {
    pub(crate) fn read(output: Value) -> Self {
        Answer {
            output,
            write_version: None,
        }
    }
    pub(crate) fn wrote(output: Value, version: u64) -> Self {
        Answer {
            output,
            write_version: Some(version),
        }
    }
}

pub struct Events {
    pub store: Arc<Store<EventsRecord>>,
    /// `host:port` of this server (queue URLs for SQS targets).
    host: RwLock<String>,
    /// Wakes the background task when something fell due now.
    pub(crate) wake: tokio::sync::Notify,
}

impl Default for Events {
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

/// Epoch milliseconds as the neutral timestamp (epoch seconds).
pub(crate) fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) type Input = Map<String, Value>;

pub(crate) fn str_of<'a>(input: &'a Input, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

pub(crate) fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", message)
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", message)
}

pub(crate) fn exists(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceAlreadyExistsException", message)
}

pub(crate) fn bad_pattern(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidEventPatternException", message)
}

/// An epoch-seconds timestamp member as epoch milliseconds.
pub(crate) fn ms_of(input: &Input, name: &str) -> Option<u64> {
    input
        .get(name)
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0).max(0.0) as u64)
}

/// A page of `items` after the position a NextToken names, and the next token.
pub(crate) fn paginate(
    items: Vec<Value>,
    input: &Input,
    limit_key: &str,
    key: &str,
) -> Result<Value, AwsError> {
    let start = match str_of(input, "NextToken") {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= items.len())
            .ok_or_else(|| validation("The NextToken provided is invalid."))?,
        None => 0,
    };
    let limit = input
        .get(limit_key)
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .unwrap_or(100)
        .min(100) as usize;
    let end = (start + limit).min(items.len());
    let mut out = json!({ key: items[start..end].to_vec() });
    if end < items.len() {
        out["NextToken"] = json!(end.to_string());
    }
    Ok(out)
}

/// Tags as the `[{Key, Value}]` list.
pub(crate) fn tags_out(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

pub(crate) fn tags_in(input: &Input) -> Vec<(String, String)> {
    input
        .get("Tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_string(),
                        t.get("Value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn merge_tags(tags: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (k, v) in new {
        match tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
}

/// An ARN's parts: `arn:<partition>:<service>:<region>:<account>:<resource>`.
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

pub(crate) fn bus_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:events:{}:{}:event-bus/{name}", p.region, p.account)
}

pub(crate) fn rule_arn(p: &Partition, bus: &str, name: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{}:{}:rule/{name}", p.region, p.account)
    } else {
        format!(
            "arn:aws:events:{}:{}:rule/{bus}/{name}",
            p.region, p.account
        )
    }
}

/// A bus name from an `EventBusName`-style member (a name or an event-bus ARN).
pub(crate) fn bus_name(v: Option<&str>) -> String {
    match v {
        None | Some("") => DEFAULT_BUS.to_string(),
        Some(s) => match parse_arn(s) {
            Some(a) if a.service == "events" => a
                .resource
                .strip_prefix("event-bus/")
                .unwrap_or(a.resource)
                .to_string(),
            _ => s.to_string(),
        },
    }
}

impl Events {
    pub fn new() -> Self {
        Events {
            store: Store::new(NAME),
            host: RwLock::new("localhost.localstack.cloud:4566".to_string()),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn model() -> &'static snapstack_protocol::model::ServiceModel {
        snapstack_protocol::model::named(NAME).expect("the EventBridge model is embedded")
    }

    pub(crate) fn host(&self) -> String {
        self.host.read().map(|h| h.clone()).unwrap_or_default()
    }

    pub fn set_host(&self, host: &str) {
        if let Ok(mut h) = self.host.write() {
            *h = host.to_string();
        }
    }

    /// Run an operation for another service (`Runtime::invoke`): as [`Events::handle`], except
    /// that AWS's own services may put events with `aws.*` sources.
    pub fn handle_internal(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Result<Answer, AwsError> {
        if operation == "PutEvents" {
            let empty = Map::new();
            let input = input.as_object().unwrap_or(&empty);
            return self.put_events(&ctx.partition, input, now_ms(), true);
        }
        self.handle(ctx, operation, input)
    }

    /// Run an operation on its (parsed, validated) input.
    pub fn handle(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Result<Answer, AwsError> {
        let empty = Map::new();
        let input = input.as_object().unwrap_or(&empty);
        let p = &ctx.partition;
        let now = now_ms();
        match operation {
            "CreateEventBus" => self.create_event_bus(p, input, now),
            "UpdateEventBus" => self.update_event_bus(p, input, now),
            "DescribeEventBus" => self.describe_event_bus(p, input).map(Answer::read),
            "ListEventBuses" => self.list_event_buses(p, input).map(Answer::read),
            "DeleteEventBus" => self.delete_event_bus(p, input),
            "PutPermission" => self.put_permission(p, input, now),
            "RemovePermission" => self.remove_permission(p, input, now),
            "PutRule" => self.put_rule(p, input, now),
            "DescribeRule" => self.describe_rule(p, input).map(Answer::read),
            "EnableRule" => self.set_rule_state(p, input, "ENABLED", now),
            "DisableRule" => self.set_rule_state(p, input, "DISABLED", now),
            "DeleteRule" => self.delete_rule(p, input),
            "ListRules" => self.list_rules(p, input).map(Answer::read),
            "ListRuleNamesByTarget" => self.list_rule_names_by_target(p, input).map(Answer::read),
            "PutTargets" => self.put_targets(p, input),
            "RemoveTargets" => self.remove_targets(p, input),
            "ListTargetsByRule" => self.list_targets_by_rule(p, input).map(Answer::read),
            "TagResource" => self.tag_resource(p, input),
            "UntagResource" => self.untag_resource(p, input),
            "ListTagsForResource" => self.list_tags_for_resource(p, input).map(Answer::read),
            "PutEvents" => self.put_events(p, input, now, false),
            "TestEventPattern" => put_events::test_event_pattern(input).map(Answer::read),
            "CreateArchive" => self.create_archive(p, input, now),
            "UpdateArchive" => self.update_archive(p, input),
            "DescribeArchive" => self.describe_archive(p, input).map(Answer::read),
            "ListArchives" => self.list_archives(p, input).map(Answer::read),
            "DeleteArchive" => self.delete_archive(p, input),
            "StartReplay" => self.start_replay(p, input, now),
            "DescribeReplay" => self.describe_replay(p, input).map(Answer::read),
            "ListReplays" => self.list_replays(p, input).map(Answer::read),
            "CancelReplay" => self.cancel_replay(p, input),
            "CreateConnection" => self.create_connection(p, input, now),
            "UpdateConnection" => self.update_connection(p, input, now),
            "DescribeConnection" => self.describe_connection(p, input).map(Answer::read),
            "ListConnections" => self.list_connections(p, input).map(Answer::read),
            "DeleteConnection" => self.delete_connection(p, input, now),
            "DeauthorizeConnection" => self.deauthorize_connection(p, input, now),
            "CreateApiDestination" => self.create_api_destination(p, input, now),
            "UpdateApiDestination" => self.update_api_destination(p, input, now),
            "DescribeApiDestination" => self.describe_api_destination(p, input).map(Answer::read),
            "ListApiDestinations" => self.list_api_destinations(p, input).map(Answer::read),
            "DeleteApiDestination" => self.delete_api_destination(p, input),
            "CreateEndpoint" => self.create_endpoint(p, input, now),
            "UpdateEndpoint" => self.update_endpoint(p, input, now),
            "DescribeEndpoint" => self.describe_endpoint(p, input).map(Answer::read),
            "ListEndpoints" => self.list_endpoints(p, input).map(Answer::read),
            "DeleteEndpoint" => self.delete_endpoint(p, input),
            "CreatePartnerEventSource" => self.create_partner_event_source(p, input, now),
            "DeletePartnerEventSource" => self.delete_partner_event_source(p, input),
            "DescribePartnerEventSource" => self
                .describe_partner_event_source(p, input)
                .map(Answer::read),
            "ListPartnerEventSources" => {
                self.list_partner_event_sources(p, input).map(Answer::read)
            }
            "ListPartnerEventSourceAccounts" => self
                .list_partner_event_source_accounts(p, input)
                .map(Answer::read),
            "DescribeEventSource" => self.describe_event_source(p, input).map(Answer::read),
            "ListEventSources" => self.list_event_sources(p, input).map(Answer::read),
            "ActivateEventSource" => self.set_source_state(p, input, true),
            "DeactivateEventSource" => self.set_source_state(p, input, false),
            "PutPartnerEvents" => self.put_partner_events(p, input, now),
            _ if snapstack_protocol::model::has_operation(NAME, operation) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("EventBridge", operation),
            )
            .with_status(StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {operation} is not supported by this emulator's EventBridge."),
            )),
        }
    }
}

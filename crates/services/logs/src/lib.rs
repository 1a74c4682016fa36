//! CloudWatch Logs (JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`).
//!
//! Records, each keyed under the request's partition:
//! - `("g", group)`: a log group (retention, KMS key, class, tags);
//! - `("s", group, stream)`: a log stream (first/last event times, its next sequence number);
//! - `("e", group, stream, timestamp, seq)`: one log event, so a stream's events are one ordered
//!   range, a time range is a sub-range, and retention deletes whole ranges;
//! - `("m", group, name)` / `("f", group, name)`: metric and subscription filters;
//! - `("q", id)`: a Logs Insights query and its results;
//! - `("r", kind, id)`: a stored resource of one family (destinations, resource / account /
//!   data protection / index policies, delivery sources, destinations and deliveries, query
//!   definitions, transformers, anomaly detectors, lookup tables, scheduled queries,
//!   integrations, S3 Tables sources, import and export tasks), its document as JSON;
//! - `("o", id)`: a subscription delivery owed (the outbox, [`subscribe`]).
//!
//! Retention is enforced by a sweeper on absolute times ([`sweep`]); subscription deliveries,
//! export tasks left PENDING by a restart, due scheduled queries (`scheduled.rs`) and log
//! anomaly detectors (`anomalies.rs`) are run by the delivery task (`service.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use snapstack_engine::{Partition, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;

mod anomalies;
mod catalog;
mod deliveries;
mod discover;
mod events;
mod export;
mod filters;
mod groups;
mod insights;
mod insights_exec;
mod livetail;
pub mod model;
pub mod pattern;
mod policies;
mod resources;
pub use snapstack_service::schedule;
mod scheduled;
mod service;
mod streams;
pub mod subscribe;
pub mod sweep;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;
#[cfg(test)]
mod tests_scale;
pub mod transform;

pub use model::*;

pub const NAME: &str = "logs";
/// Events in one PutLogEvents call (AWS's limit).
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Bytes in one PutLogEvents call: each message's UTF-8 length plus 26 (AWS's limit).
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// The largest event (its message plus 26 bytes).
pub const MAX_EVENT_BYTES: usize = 1_048_576;
/// Per-event overhead counted against the batch size.
pub const EVENT_OVERHEAD: usize = 26;
/// Events older than this (or than the group's retention) are rejected.
pub const MAX_AGE_MS: u64 = 14 * 24 * 3600 * 1000;
/// Events further in the future than this are rejected.
pub const MAX_FUTURE_MS: u64 = 2 * 3600 * 1000;
/// A batch may span at most this much time.
pub const MAX_SPAN_MS: u64 = 24 * 3600 * 1000;
/// The retention values PutRetentionPolicy accepts.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The CloudWatch Logs service.
pub struct Logs {
    pub store: Arc<Store<LogsRecord>>,
    ids: AtomicU64,
    /// A fixed clock for tests (0: the system clock).
    clock: AtomicU64,
    /// Woken when PutLogEvents queues subscription deliveries.
    pub(crate) outbox_wake: tokio::sync::Notify,
}

impl Default for Logs {
    fn default() -> Self {
        Self::new()
    }
}

/// A handled call: the output value and the store version a change produced.
pub struct Out {
    pub value: Value,
    pub version: Option<u64>,
    /// Datapoints for CloudWatch produced by metric filters (PutLogEvents).
    pub metrics: Vec<(String, Value)>,
}

pub(crate) fn out(value: Value, version: Option<u64>) -> Result<Out, AwsError> {
    Ok(Out {
        value,
        version,
        metrics: Vec::new(),
    })
}

pub(crate) fn sys_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterException", message)
}

pub(crate) fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", message)
}

pub(crate) fn group_missing() -> AwsError {
    not_found("The specified log group does not exist.")
}

pub(crate) fn stream_missing() -> AwsError {
    not_found("The specified log stream does not exist.")
}

pub(crate) fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

pub(crate) fn int_of(v: &Value, k: &str) -> Option<i64> {
    v.get(k)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
}

pub(crate) fn bool_of(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

/// A page size: the given `limit` (the model bounds it), else `default`.
pub(crate) fn limit_of(v: &Value, default: usize, max: usize) -> usize {
    int_of(v, "limit")
        .map(|n| n.clamp(1, max as i64) as usize)
        .unwrap_or(default)
}

/// An opaque page token for a key position (hex of the text).
pub(crate) fn token(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn untoken(t: &str) -> Result<String, AwsError> {
    let bad = || invalid(format!("The specified nextToken is invalid: {t}"));
    if !t.len().is_multiple_of(2) || t.len() > 4096 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())
}

/// The group a request names: `logGroupName`, else the name or ARN in `logGroupIdentifier`.
pub(crate) fn group_name(v: &Value) -> Result<String, AwsError> {
    if let Some(n) = str_of(v, "logGroupName") {
        if str_of(v, "logGroupIdentifier").is_some() {
            return Err(invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            ));
        }
        return Ok(n.to_string());
    }
    match str_of(v, "logGroupIdentifier") {
        Some(id) => Ok(name_from_identifier(id)),
        None => Err(invalid(
            "Should provide either a logGroupName or a logGroupIdentifier.",
        )),
    }
}

/// A log group's name from its name or ARN (`arn:aws:logs:r:a:log-group:NAME[:*]`).
pub(crate) fn name_from_identifier(id: &str) -> String {
    match id.split_once(":log-group:") {
        Some((_, rest)) => rest.strip_suffix(":*").unwrap_or(rest).to_string(),
        None => id.to_string(),
    }
}

pub(crate) fn group_arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:logs:{}:{}:log-group:{name}", p.region, p.account)
}

impl Logs {
    pub fn new() -> Self {
        Logs {
            store: Store::new(NAME),
            ids: AtomicU64::new(sys_now_ms().wrapping_mul(1_000_003)),
            clock: AtomicU64::new(0),
            outbox_wake: tokio::sync::Notify::new(),
        }
    }

    /// The current time in ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        match self.clock.load(Ordering::Relaxed) {
            0 => sys_now_ms(),
            t => t,
        }
    }

    /// Fix the clock (tests).
    pub fn set_clock(&self, ms: u64) {
        self.clock.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Handle one operation on its input (the neutral JSON shape).
    pub fn handle(&self, ctx: &RequestContext, op: &str, v: &Value) -> Result<Out, AwsError> {
        let p = &ctx.partition;
        match op {
            "CreateLogGroup" => self.create_log_group(p, v),
            "DeleteLogGroup" => self.delete_log_group(p, v),
            "DescribeLogGroups" => self.describe_log_groups(p, v),
            "PutRetentionPolicy" => self.put_retention(p, v),
            "DeleteRetentionPolicy" => self.delete_retention(p, v),
            "AssociateKmsKey" => self.associate_kms(p, v, true),
            "DisassociateKmsKey" => self.associate_kms(p, v, false),
            "TagLogGroup" => self.tag_log_group(p, v),
            "UntagLogGroup" => self.untag_log_group(p, v),
            "ListTagsLogGroup" => self.list_tags_log_group(p, v),
            "TagResource" => self.tag_resource(p, v),
            "UntagResource" => self.untag_resource(p, v),
            "ListTagsForResource" => self.list_tags_for_resource(p, v),
            "CreateLogStream" => self.create_log_stream(p, v),
            "DeleteLogStream" => self.delete_log_stream(p, v),
            "DescribeLogStreams" => self.describe_log_streams(p, v),
            "PutLogEvents" => self.put_log_events(p, v),
            "GetLogEvents" => self.get_log_events(p, v),
            "FilterLogEvents" => self.filter_log_events(p, v),
            "PutMetricFilter" => self.put_metric_filter(p, v),
            "DescribeMetricFilters" => self.describe_metric_filters(p, v),
            "DeleteMetricFilter" => self.delete_metric_filter(p, v),
            "TestMetricFilter" => self.test_metric_filter(v),
            "PutSubscriptionFilter" => self.put_subscription_filter(p, v),
            "DescribeSubscriptionFilters" => self.describe_subscription_filters(p, v),
            "DeleteSubscriptionFilter" => self.delete_subscription_filter(p, v),
            "StartQuery" => self.start_query(p, v),
            "GetQueryResults" => self.get_query_results(p, v),
            "StopQuery" => self.stop_query(p, v),
            "DescribeQueries" => self.describe_queries(p, v),
            "PutDestination" => self.put_destination(p, v),
            "PutDestinationPolicy" => self.put_destination_policy(p, v),
            "DescribeDestinations" => self.describe_destinations(p, v),
            "DeleteDestination" => self.delete_destination(p, v),
            "PutResourcePolicy" => self.put_resource_policy(p, v),
            "DescribeResourcePolicies" => self.describe_resource_policies(p, v),
            "DeleteResourcePolicy" => self.delete_resource_policy(p, v),
            "PutAccountPolicy" => self.put_account_policy(p, v),
            "DescribeAccountPolicies" => self.describe_account_policies(p, v),
            "DeleteAccountPolicy" => self.delete_account_policy(p, v),
            "PutDataProtectionPolicy" => self.put_data_protection_policy(p, v),
            "GetDataProtectionPolicy" => self.get_data_protection_policy(p, v),
            "DeleteDataProtectionPolicy" => self.delete_data_protection_policy(p, v),
            "PutIndexPolicy" => self.put_index_policy(p, v),
            "DescribeIndexPolicies" => self.describe_index_policies(p, v),
            "DeleteIndexPolicy" => self.delete_index_policy(p, v),
            "DescribeFieldIndexes" => self.describe_field_indexes(p, v),
            "PutLogGroupDeletionProtection" => self.put_deletion_protection(p, v),
            "PutBearerTokenAuthentication" => self.put_bearer_token_auth(p, v),
            "PutDeliverySource" => self.put_delivery_source(p, v),
            "GetDeliverySource" => self.get_delivery_source(p, v),
            "DescribeDeliverySources" => self.describe_delivery_sources(p, v),
            "DeleteDeliverySource" => self.delete_delivery_source(p, v),
            "PutDeliveryDestination" => self.put_delivery_destination(p, v),
            "GetDeliveryDestination" => self.get_delivery_destination(p, v),
            "DescribeDeliveryDestinations" => self.describe_delivery_destinations(p, v),
            "DeleteDeliveryDestination" => self.delete_delivery_destination(p, v),
            "PutDeliveryDestinationPolicy" => self.put_delivery_destination_policy(p, v),
            "GetDeliveryDestinationPolicy" => self.get_delivery_destination_policy(p, v),
            "DeleteDeliveryDestinationPolicy" => self.delete_delivery_destination_policy(p, v),
            "CreateDelivery" => self.create_delivery(p, v),
            "GetDelivery" => self.get_delivery(p, v),
            "DescribeDeliveries" => self.describe_deliveries(p, v),
            "DeleteDelivery" => self.delete_delivery(p, v),
            "UpdateDeliveryConfiguration" => self.update_delivery_configuration(p, v),
            "DescribeConfigurationTemplates" => self.describe_configuration_templates(v),
            "PutQueryDefinition" => self.put_query_definition(p, v),
            "DescribeQueryDefinitions" => self.describe_query_definitions(p, v),
            "DeleteQueryDefinition" => self.delete_query_definition(p, v),
            "CreateLogAnomalyDetector" => self.create_anomaly_detector(p, v),
            "GetLogAnomalyDetector" => self.get_anomaly_detector(p, v),
            "UpdateLogAnomalyDetector" => self.update_anomaly_detector(p, v),
            "DeleteLogAnomalyDetector" => self.delete_anomaly_detector(p, v),
            "ListLogAnomalyDetectors" => self.list_anomaly_detectors(p, v),
            "ListAnomalies" => self.list_anomalies(p, v),
            "UpdateAnomaly" => self.update_anomaly(p, v),
            "CreateLookupTable" => self.create_lookup_table(p, v),
            "GetLookupTable" => self.get_lookup_table(p, v),
            "UpdateLookupTable" => self.update_lookup_table(p, v),
            "DeleteLookupTable" => self.delete_lookup_table(p, v),
            "DescribeLookupTables" => self.describe_lookup_tables(p, v),
            "CreateScheduledQuery" => self.create_scheduled_query(p, v),
            "GetScheduledQuery" => self.get_scheduled_query(p, v),
            "UpdateScheduledQuery" => self.update_scheduled_query(p, v),
            "DeleteScheduledQuery" => self.delete_scheduled_query(p, v),
            "ListScheduledQueries" => self.list_scheduled_queries(p, v),
            "GetScheduledQueryHistory" => self.get_scheduled_query_history(p, v),
            "PutIntegration" => self.put_integration(p, v),
            "GetIntegration" => self.get_integration(p, v),
            "DeleteIntegration" => self.delete_integration(p, v),
            "ListIntegrations" => self.list_integrations(p, v),
            "AssociateSourceToS3TableIntegration" => self.associate_s3_table_source(p, v),
            "DisassociateSourceFromS3TableIntegration" => self.disassociate_s3_table_source(p, v),
            "ListSourcesForS3TableIntegration" => self.list_s3_table_sources(p, v),
            "CreateImportTask" => self.create_import_task(p, v),
            "CancelImportTask" => self.cancel_import_task(p, v),
            "DescribeImportTasks" => self.describe_import_tasks(p, v),
            "DescribeImportTaskBatches" => self.describe_import_task_batches(p, v),
            "CreateExportTask" => self.create_export_task(p, v),
            "DescribeExportTasks" => self.describe_export_tasks(p, v),
            "CancelExportTask" => self.cancel_export_task(p, v),
            "PutTransformer" => self.put_transformer(p, v),
            "GetTransformer" => self.get_transformer(p, v),
            "DeleteTransformer" => self.delete_transformer(p, v),
            "TestTransformer" => self.test_transformer(v),
            "ListLogGroups" => self.list_log_groups(p, v),
            "ListAggregateLogGroupSummaries" => self.list_aggregate_summaries(p, v),
            "GetLogGroupFields" => self.get_log_group_fields(p, v),
            "GetLogFields" => self.get_log_fields(v),
            "GetLogRecord" => self.get_log_record(p, v),
            "GetLogObject" => self.get_log_object(v),
            "ListLogGroupsForQuery" => self.list_log_groups_for_query(p, v),
            _ if snapstack_protocol::model::has_operation(NAME, op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("CloudWatch Logs", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's CloudWatch Logs."),
            )),
        }
    }
}

pub(crate) fn page(items: Vec<Value>, key: &str, next: Option<String>) -> Value {
    let mut out = json!({ key: items });
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    out
}

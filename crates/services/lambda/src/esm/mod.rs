//! Event source mappings: Create/Get/List/Update/DeleteEventSourceMapping, and the poller (a
//! task started by `Service::start`) that gives each enabled mapping a batch from its source.
//! One file per source: [`sqs`] (queues), [`kinesis`] (streams), [`dynamodb`] (table
//! streams); a source is its `poll_*`
//! function, called from [`Lambda::poll_once`] by the kind of the mapping's `EventSourceArn`.
//! Stream sources share [`stream`]: their settings, a record beside the [`Mapping`], and the
//! processing of a shard's batch with a checkpoint per shard.

mod dynamodb;
mod kinesis;
mod sqs;
pub(crate) mod stream;
pub(crate) mod tags;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{RequestContext, Runtime};

use crate::model::{LambdaRecord, Mapping, keys};
use crate::names::{function_arn, parse};
use crate::ops::{Done, s};
use crate::{LResult, Lambda, LambdaError, NAME};

const POLL: Duration = Duration::from_millis(500);

pub(super) fn ctx_for(account: &str, region: &str, request_id: String) -> RequestContext {
    RequestContext {
        access_key: account.to_string(),
        partition: Partition::new(account, region),
        scope_service: None,
        request_id,
    }
}

impl Lambda {
    fn mapping_out(&self, m: &Mapping) -> Value {
        let ctx = ctx_for(&m.account, &m.region, String::new());
        let mut o = json!({
            "UUID": m.uuid,
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.window_s,
            "EventSourceArn": m.source_arn,
            "FunctionArn": function_arn(&ctx, &m.function, m.qualifier.as_deref()),
            "LastModified": m.last_modified_ms as f64 / 1000.0,
            "LastProcessingResult": m.last_result,
            "State": if m.enabled { "Enabled" } else { "Disabled" },
            "StateTransitionReason": "USER_INITIATED",
            "EventSourceMappingArn": format!("arn:aws:lambda:{}:{}:event-source-mapping:{}", m.region, m.account, m.uuid),
            "FunctionResponseTypes": if m.report_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        match self.stream_settings(&m.uuid) {
            Some(sm) => stream::describe(&mut o, &sm),
            None => dynamodb::describe_cursor(self, &m.uuid, &mut o),
        }
        if SourceKind::of(&m.source_arn) == Some(SourceKind::DynamoDb) {
            o["TumblingWindowInSeconds"] = json!(0);
        }
        if let Some(o) = o.as_object_mut() {
            o.retain(|_, v| !v.is_null());
        }
        o
    }

    pub(crate) fn get_mapping(&self, ctx: &RequestContext, uuid: &str) -> LResult<Mapping> {
        match self.store.snapshot().get(&keys::mapping(uuid)) {
            Some(LambdaRecord::Mapping(m))
                if m.account == ctx.account() && m.region == ctx.region() =>
            {
                Ok(m.clone())
            }
            _ => Err(LambdaError::not_found(format!(
                "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {})",
                ctx.request_id
            ))),
        }
    }

    pub(crate) fn create_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let r = parse(ctx, s(input, "FunctionName").unwrap_or(""))?;
        self.get_function(ctx, &r.name)?;
        let Some(source) = s(input, "EventSourceArn") else {
            return Err(LambdaError::invalid(
                "Unrecognized event source, must be kafka or specify an EventSourceArn",
            ));
        };
        let Some(kind) = SourceKind::of(source) else {
            return Err(LambdaError::invalid(format!(
                "Unsupported event source {source}: this emulator maps SQS queues, Kinesis streams and DynamoDB streams"
            )));
        };
        if kind == SourceKind::DynamoDb {
            dynamodb::check_start(input)?;
        }
        let default_batch = if kind == SourceKind::Sqs { 10 } else { 100 };
        let batch = input
            .get("BatchSize")
            .and_then(Value::as_u64)
            .unwrap_or(default_batch);
        let window = input
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if kind == SourceKind::Sqs && batch > 10 && window == 0 {
            return Err(LambdaError::invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            ));
        }
        if batch > 10_000 {
            return Err(LambdaError::invalid(format!(
                "BatchSize must be at most 10000 for {}",
                kind.label()
            )));
        }
        let tags = tags::check_create_tags(input)?;
        let uuid = self.uuid();
        let stream_settings = match kind {
            SourceKind::Sqs => None,
            SourceKind::Kinesis | SourceKind::DynamoDb => {
                Some(stream::settings(input, &uuid, self.now())?)
            }
        };
        let existing = self
            .store
            .snapshot()
            .scan_prefix(&keys::mappings())
            .find_map(|(_, m)| match m {
                LambdaRecord::Mapping(m)
                    if m.source_arn == source
                        && m.function == r.name
                        && m.account == ctx.account()
                        && m.region == ctx.region() =>
                {
                    Some(m.uuid.clone())
                }
                _ => None,
            });
        if let Some(uuid) = &existing
            && kind == SourceKind::DynamoDb
        {
            return Err(LambdaError::conflict(format!(
                "The event source arn (\" {source} \") and function (\" {} \") provided mapping already exists. Please update or delete the existing mapping with UUID {uuid}",
                r.name
            )));
        }
        if let Some(uuid) = existing {
            return Err(LambdaError::conflict(format!(
                "An event source mapping with {} arn (\" {source} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {uuid}",
                kind.label(),
                r.name
            )));
        }
        let m = Mapping {
            uuid,
            account: ctx.account().into(),
            region: ctx.region().into(),
            function: r.name.clone(),
            qualifier: r.qualifier.clone(),
            source_arn: source.into(),
            batch_size: batch as u32,
            window_s: window as u32,
            enabled: input
                .get("Enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            report_item_failures: reports_failures(input).unwrap_or(false),
            last_modified_ms: self.now(),
            last_result: "No records processed".into(),
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::mapping(&m.uuid), LambdaRecord::Mapping(m.clone()));
            tags::put_tags(txn, &m.uuid, tags);
            if let Some(sm) = &stream_settings {
                txn.insert(
                    keys::stream_mapping(&m.uuid),
                    LambdaRecord::StreamMapping(sm.clone()),
                );
            }
        });
        let mut out = self.mapping_out(&m);
        out["State"] = json!("Creating");
        Ok(Done::wrote(out, v))
    }

    pub(crate) fn get_mapping_op(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        Ok(Done::read(self.mapping_out(&m)))
    }

    pub(crate) fn list_mappings(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let f = match s(input, "FunctionName") {
            Some(n) => Some(parse(ctx, n)?.name),
            None => None,
        };
        let src = s(input, "EventSourceArn");
        let all: Vec<Value> = self
            .store
            .snapshot()
            .scan_prefix(&keys::mappings())
            .filter_map(|(_, r)| match r {
                LambdaRecord::Mapping(m)
                    if m.account == ctx.account()
                        && m.region == ctx.region()
                        && f.as_ref().is_none_or(|f| *f == m.function)
                        && src.is_none_or(|s| s == m.source_arn) =>
                {
                    Some(self.mapping_out(m))
                }
                _ => None,
            })
            .collect();
        let max = input
            .get("MaxItems")
            .and_then(Value::as_u64)
            .map_or(100, |n| n.clamp(1, 10_000) as usize);
        let start = s(input, "Marker")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "EventSourceMappings": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(Done::read(out))
    }

    pub(crate) fn update_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let mut m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        if let Some(n) = s(input, "FunctionName") {
            let r = parse(ctx, n)?;
            self.get_function(ctx, &r.name)?;
            m.function = r.name;
            m.qualifier = r.qualifier;
        }
        if let Some(b) = input.get("BatchSize").and_then(Value::as_u64) {
            m.batch_size = b as u32;
        }
        if let Some(w) = input
            .get("MaximumBatchingWindowInSeconds")
            .and_then(Value::as_u64)
        {
            m.window_s = w as u32;
        }
        if let Some(e) = input.get("Enabled").and_then(Value::as_bool) {
            m.enabled = e;
        }
        if let Some(r) = reports_failures(input) {
            m.report_item_failures = r;
        }
        m.last_modified_ms = self.now();
        let sm = match self.stream_settings(&m.uuid) {
            Some(mut sm) => {
                stream::update(&mut sm, input)?;
                Some(sm)
            }
            None => None,
        };
        let (_, v) = self.store.write(|txn| {
            txn.insert(keys::mapping(&m.uuid), LambdaRecord::Mapping(m.clone()));
            if let Some(sm) = &sm {
                txn.insert(
                    keys::stream_mapping(&m.uuid),
                    LambdaRecord::StreamMapping(sm.clone()),
                );
            }
        });
        let mut out = self.mapping_out(&m);
        out["State"] = json!("Updating");
        Ok(Done::wrote(out, v))
    }

    pub(crate) fn delete_mapping(&self, ctx: &RequestContext, input: &Value) -> LResult<Done> {
        let m = self.get_mapping(ctx, s(input, "UUID").unwrap_or(""))?;
        let mut out = self.mapping_out(&m);
        let (_, v) = self.store.write(|txn| {
            txn.remove(&keys::mapping(&m.uuid));
            txn.remove(&keys::stream_mapping(&m.uuid));
            txn.remove_prefix(&keys::checkpoints(&m.uuid));
            txn.remove(&keys::cursor(&m.uuid));
            tags::forget(txn, &m.uuid);
        });
        out["State"] = json!("Deleting");
        Ok(Done::wrote(out, v))
    }

    /// The poller task: each enabled mapping not already busy gets a batch.
    pub(crate) async fn run_mappings(
        self: Arc<Self>,
        rt: Arc<dyn Runtime>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let busy: Arc<Mutex<HashSet<String>>> = Default::default();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if !rt.is_ready(NAME) {
                // Mappings are state: load it (a lazy load would otherwise wait for a request).
                rt.ensure_loaded(NAME).await;
                if !rt.is_ready(NAME) {
                    continue;
                }
            }
            self.migrate_cursors();
            let mappings: Vec<Mapping> = self
                .store
                .snapshot()
                .scan_prefix(&keys::mappings())
                .filter_map(|(_, r)| match r {
                    LambdaRecord::Mapping(m) if m.enabled => Some(m.clone()),
                    _ => None,
                })
                .collect();
            for m in mappings {
                if !busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(m.uuid.clone())
                {
                    continue;
                }
                let (me, rt, busy) = (self.clone(), rt.clone(), busy.clone());
                tokio::spawn(async move {
                    me.poll_once(rt.as_ref(), &m).await;
                    busy.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&m.uuid);
                });
            }
        }
    }

    /// One batch of one mapping, by the kind of its source.
    async fn poll_once(&self, rt: &dyn Runtime, m: &Mapping) {
        match SourceKind::of(&m.source_arn) {
            Some(SourceKind::Sqs) => self.poll_sqs(rt, m).await,
            Some(SourceKind::Kinesis) => self.poll_kinesis(rt, m).await,
            Some(SourceKind::DynamoDb) => self.poll_dynamodb(rt, m).await,
            None => {}
        }
    }
}

/// The kinds of event source a mapping can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceKind {
    Sqs,
    Kinesis,
    DynamoDb,
}

impl SourceKind {
    pub(crate) fn of(arn: &str) -> Option<SourceKind> {
        if arn.starts_with("arn:aws:sqs:") {
            Some(SourceKind::Sqs)
        } else if arn.starts_with("arn:aws:kinesis:") && arn.contains(":stream/") {
            Some(SourceKind::Kinesis)
        } else if dynamodb::is_stream_arn(arn) {
            Some(SourceKind::DynamoDb)
        } else {
            None
        }
    }

    /// How Lambda's messages name the source.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SourceKind::Sqs => "SQS",
            SourceKind::Kinesis => "Kinesis",
            SourceKind::DynamoDb => "DynamoDB",
        }
    }
}

fn reports_failures(input: &Value) -> Option<bool> {
    input
        .get("FunctionResponseTypes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        })
}

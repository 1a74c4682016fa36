//! SSM Parameter Store (JSON 1.1, `X-Amz-Target: AmazonSSM.<Op>`).
//!
//! One record per parameter, keyed by partition and name; the record holds the parameter's tags
//! and its versions (at most [`MAX_VERSIONS`], oldest first). Names are stored raw after the
//! partition prefix (they are `[a-zA-Z0-9_.-/]`, so they never hold a 0 byte), which makes a path
//! a key prefix.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use snapstack_engine::{Key, Partition, Record, Snapshot, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;
use snapstack_service::RequestContext;

mod associations;
mod automation;
mod automation_run;
mod automation_task;
mod calendar;
mod commands;
mod describe;
mod doc_content;
mod documents;
mod filters;
mod input;
mod instances;
mod inventory;
mod json;
mod labels;
mod model;
mod names;
mod nodes;
mod objects;
mod opsitems;
mod parameters;
mod patches;
mod runs;
mod schedule;
mod service;
mod sessions;
mod settings;
mod tags;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_automation;
#[cfg(test)]
mod tests_ext;
#[cfg(test)]
mod tests_wide;
mod wide;
mod windows;
mod windows_more;
mod yaml;

use self::filters::*;
use self::input::*;
use self::json::*;
pub use self::model::*;
pub use self::names::*;

pub const NAME: &str = "ssm";
/// Versions kept per parameter, as AWS does.
pub const MAX_VERSIONS: usize = 100;
const MAX_NAME_LEN: usize = 2048;
const MAX_DEPTH: usize = 15;
const MAX_LABELS_PER_VERSION: usize = 10;
const MAX_TAGS: usize = 50;
const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

/// The SSM service.
pub struct Ssm {
    pub store: Arc<Store<SsmRecord>>,
    nonce: AtomicU64,
    seq: AtomicU64,
}

impl Default for Ssm {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A request body: the bytes as sent, or the JSON value the gateway already parsed (once, to
/// validate it against the model).
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Bytes(&'a [u8]),
    Json(&'a Value),
}

pub(crate) fn parse<T: DeserializeOwned + Default>(body: &Body<'_>) -> Result<T, AwsError> {
    let serialization =
        |e: serde_json::Error| AwsError::new("SerializationException", e.to_string());
    match body {
        Body::Bytes(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        Body::Bytes(b) => serde_json::from_slice(b).map_err(serialization),
        Body::Json(v) => T::deserialize(*v).map_err(serialization),
    }
}

pub(crate) fn ok(v: Value, write_version: Option<u64>) -> Result<Output, AwsError> {
    Ok(Output::write(v, write_version))
}

/// A page of `Parameters`, with `NextToken` when there is more.
pub(crate) fn parameters_page(items: Vec<Value>, next: Option<String>) -> Result<Output, AwsError> {
    let mut resp = json!({ "Parameters": items });
    if let Some(t) = next {
        resp["NextToken"] = json!(t);
    }
    ok(resp, None)
}

pub(crate) fn not_found(name: &str) -> AwsError {
    AwsError::new("ParameterNotFound", format!("Parameter {name} not found."))
}

pub(crate) fn version_not_found(name: &str, selector: &str) -> AwsError {
    AwsError::new(
        "ParameterVersionNotFound",
        format!(
            "Systems Manager could not find version {selector} of {name}. Verify the version and try again."
        ),
    )
}

pub(crate) fn length_error(value: &str, field: &str, max: usize) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    ))
}

pub(crate) fn range_check(
    n: Option<i64>,
    field: &str,
    max: i64,
    default: i64,
) -> Result<usize, AwsError> {
    match n {
        None => Ok(default as usize),
        Some(n) if n < 1 => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
        Some(n) if n > max => Err(AwsError::validation(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))),
        Some(n) => Ok(n as usize),
    }
}

impl Ssm {
    pub fn new() -> Self {
        Ssm {
            store: Store::new(NAME),
            nonce: AtomicU64::new(RandomState::new().build_hasher().finish()),
            seq: AtomicU64::new(0),
        }
    }

    /// A random number for ids: unique in this process and, from its random seed, across
    /// restarts.
    pub(crate) fn random(&self) -> u64 {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.finish()
    }

    /// A fresh time-ordered id (a version 7 UUID) for a record made at `now`.
    pub(crate) fn time_id(&self, now: u64) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        commands::uuid7(now, seq, self.random())
    }

    /// Handle one JSON 1.1 operation.
    pub fn handle(&self, ctx: &RequestContext, op: &str, body: &[u8]) -> Result<Output, AwsError> {
        self.handle_body(ctx, op, &Body::Bytes(body))
    }

    /// Handle one operation whose body is given as bytes or as an already parsed value.
    pub fn handle_body(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &Body<'_>,
    ) -> Result<Output, AwsError> {
        let mut out = self.dispatch(ctx, op, body)?;
        wide::trim_output(op, &mut out.value);
        Ok(out)
    }

    fn dispatch(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &Body<'_>,
    ) -> Result<Output, AwsError> {
        match op {
            "PutParameter" => self.put_parameter(ctx, parse(body)?),
            "GetParameter" => self.get_parameter(ctx, parse(body)?),
            "GetParameters" => self.get_parameters(ctx, parse(body)?),
            "GetParametersByPath" => self.get_parameters_by_path(ctx, parse(body)?),
            "DeleteParameter" => self.delete_parameter(ctx, parse(body)?),
            "DeleteParameters" => self.delete_parameters(ctx, parse(body)?),
            "DescribeParameters" => self.describe_parameters(ctx, parse(body)?),
            "GetParameterHistory" => self.get_parameter_history(ctx, parse(body)?),
            "LabelParameterVersion" => self.label_parameter_version(ctx, parse(body)?),
            "UnlabelParameterVersion" => self.unlabel_parameter_version(ctx, parse(body)?),
            "AddTagsToResource" => self.add_tags(ctx, parse(body)?),
            "RemoveTagsFromResource" => self.remove_tags(ctx, parse(body)?),
            "ListTagsForResource" => self.list_tags(ctx, parse(body)?),
            "CreateDocument" => self.create_document(ctx, parse(body)?),
            "GetDocument" => self.get_document(ctx, parse(body)?),
            "DescribeDocument" => self.describe_document(ctx, parse(body)?),
            "UpdateDocument" => self.update_document(ctx, parse(body)?),
            "UpdateDocumentDefaultVersion" => {
                self.update_document_default_version(ctx, parse(body)?)
            }
            "DeleteDocument" => self.delete_document(ctx, parse(body)?),
            "ListDocuments" => self.list_documents(ctx, parse(body)?),
            "ListDocumentVersions" => self.list_document_versions(ctx, parse(body)?),
            "DescribeDocumentPermission" => self.describe_document_permission(ctx, parse(body)?),
            "ModifyDocumentPermission" => self.modify_document_permission(ctx, parse(body)?),
            "SendCommand" => self.send_command(ctx, parse(body)?),
            "ListCommands" => self.list_commands(ctx, parse(body)?),
            "ListCommandInvocations" => self.list_command_invocations(ctx, parse(body)?),
            "GetCommandInvocation" => self.get_command_invocation(ctx, parse(body)?),
            "CancelCommand" => self.cancel_command(ctx, parse(body)?),
            "CreateMaintenanceWindow" => self.create_maintenance_window(ctx, parse(body)?),
            "GetMaintenanceWindow" => self.get_maintenance_window(ctx, parse(body)?),
            "UpdateMaintenanceWindow" => self.update_maintenance_window(ctx, parse(body)?),
            "DeleteMaintenanceWindow" => self.delete_maintenance_window(ctx, parse(body)?),
            "DescribeMaintenanceWindows" => self.describe_maintenance_windows(ctx, parse(body)?),
            "RegisterTargetWithMaintenanceWindow" => {
                self.register_target_with_maintenance_window(ctx, parse(body)?)
            }
            "DeregisterTargetFromMaintenanceWindow" => {
                self.deregister_target_from_maintenance_window(ctx, parse(body)?)
            }
            "DescribeMaintenanceWindowTargets" => {
                self.describe_maintenance_window_targets(ctx, parse(body)?)
            }
            "RegisterTaskWithMaintenanceWindow" => {
                self.register_task_with_maintenance_window(ctx, parse(body)?)
            }
            "DeregisterTaskFromMaintenanceWindow" => {
                self.deregister_task_from_maintenance_window(ctx, parse(body)?)
            }
            "DescribeMaintenanceWindowTasks" => {
                self.describe_maintenance_window_tasks(ctx, parse(body)?)
            }
            _ if let Some(r) = self.handle_wide(ctx, op, body) => r,
            _ if snapstack_protocol::model::has_operation("ssm", op) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("SSM", op),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's SSM."),
            )),
        }
    }
}

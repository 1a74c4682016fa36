//! SSM Parameter Store (JSON 1.1, `X-Amz-Target: AmazonSSM.<Op>`).
//!
//! One record per parameter, keyed by partition and name; the record holds the parameter's tags
//! and its versions (at most [`MAX_VERSIONS`], oldest first). Names are stored raw after the
//! partition prefix (they are `[a-zA-Z0-9_.-/]`, so they never hold a 0 byte), which makes a path
//! a key prefix.

use std::ops::Bound;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use snapstack_engine::{Key, Partition, Record, Store};
use snapstack_protocol::errors::AwsError;
use snapstack_service::Handled;
use snapstack_service::RequestContext;

mod filters;
mod input;
mod json;
mod labels;
mod model;
mod names;
mod parameters;
mod service;
mod tags;
#[cfg(test)]
mod tests;

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
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

/// The SSM service.
pub struct Ssm {
    pub store: Arc<Store<Parameter>>,
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

pub(crate) fn ok(v: Value, write_version: Option<u64>) -> Result<Handled, AwsError> {
    Ok(Handled {
        body: v.to_string(),
        content_type: CONTENT_TYPE,
        write_version,
    })
}

/// A page of `Parameters`, with `NextToken` when there is more.
pub(crate) fn parameters_page(
    items: Vec<Value>,
    next: Option<String>,
) -> Result<Handled, AwsError> {
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
        }
    }

    /// Handle one JSON 1.1 operation.
    pub fn handle(&self, ctx: &RequestContext, op: &str, body: &[u8]) -> Result<Handled, AwsError> {
        self.handle_body(ctx, op, &Body::Bytes(body))
    }

    /// Handle one operation whose body is given as bytes or as an already parsed value.
    pub fn handle_body(
        &self,
        ctx: &RequestContext,
        op: &str,
        body: &Body<'_>,
    ) -> Result<Handled, AwsError> {
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

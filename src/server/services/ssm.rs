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

use super::Handled;
use crate::server::aws_request::RequestContext;
use crate::server::errors::AwsError;
use crate::{Key, Partition, Record, Store};

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

/// The type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamType {
    String,
    StringList,
    SecureString,
}

impl ParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "String" => ParamType::String,
            "StringList" => ParamType::StringList,
            "SecureString" => ParamType::SecureString,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "String",
            ParamType::StringList => "StringList",
            ParamType::SecureString => "SecureString",
        }
    }
}

/// One version of a parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamVersion {
    pub version: u64,
    pub value: String,
    pub kind: ParamType,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub labels: Vec<String>,
    pub modified_ms: u64,
    pub modified_user: String,
}

/// A parameter: its name, tags, and versions oldest first (never empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub versions: Vec<ParamVersion>,
}

impl Record for Parameter {}

impl Parameter {
    /// The newest version. Every parameter this service stores has one; a record without (only
    /// a hand-made snapshot could hold one) reads as missing.
    fn latest(&self) -> Option<&ParamVersion> {
        self.versions.last()
    }
}

/// The SSM service.
pub struct Ssm {
    pub store: Arc<Store<Parameter>>,
}

impl Default for Ssm {
    fn default() -> Self {
        Self::new()
    }
}

fn key(p: &Partition, name: &str) -> Key {
    p.key().raw(name.as_bytes()).build()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| AwsError::new("SerializationException", e.to_string()))
}

fn ok(v: Value, write_version: Option<u64>) -> Result<Handled, AwsError> {
    Ok(Handled {
        body: v.to_string(),
        content_type: CONTENT_TYPE,
        write_version,
    })
}

/// A page of `Parameters`, with `NextToken` when there is more.
fn parameters_page(items: Vec<Value>, next: Option<String>) -> Result<Handled, AwsError> {
    let mut resp = json!({ "Parameters": items });
    if let Some(t) = next {
        resp["NextToken"] = json!(t);
    }
    ok(resp, None)
}

fn not_found(name: &str) -> AwsError {
    AwsError::new("ParameterNotFound", format!("Parameter {name} not found."))
}

fn version_not_found(name: &str, selector: &str) -> AwsError {
    AwsError::new(
        "ParameterVersionNotFound",
        format!(
            "Systems Manager could not find version {selector} of {name}. Verify the version and try again."
        ),
    )
}

fn length_error(value: &str, field: &str, max: usize) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    ))
}

fn range_check(n: Option<i64>, field: &str, max: i64, default: i64) -> Result<usize, AwsError> {
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

/// The ARN of a parameter.
pub fn parameter_arn(ctx: &RequestContext, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!(
        "arn:aws:ssm:{}:{}:parameter{sep}{name}",
        ctx.region(),
        ctx.account()
    )
}

/// Check a name a parameter is created under.
pub fn validate_name(name: &str) -> Result<(), AwsError> {
    if name.is_empty() {
        return Err(AwsError::validation(
            "1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(length_error(name, "name", MAX_NAME_LEN));
    }
    let lower = name.trim_start_matches('/').to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(AwsError::validation(NAME_RULES));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
    {
        return Err(AwsError::validation(NAME_RULES));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(AwsError::validation(
            "Parameter name must be a fully qualified name.",
        ));
    }
    if name.starts_with('/') && (name.ends_with('/') || name.contains("//")) {
        return Err(AwsError::validation(NAME_RULES));
    }
    let depth = name.trim_start_matches('/').split('/').count();
    if depth > MAX_DEPTH {
        return Err(AwsError::new(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the AWS Systems Manager User Guide.",
        ));
    }
    Ok(())
}

/// A label is 1-100 characters of letters, digits, `.`, `-`, `_`; it must not start with a digit,
/// `aws` or `ssm`.
pub fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    !label.is_empty()
        && label.len() <= 100
        && !label.as_bytes()[0].is_ascii_digit()
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Which version a `name:selector` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Latest,
    Version(u64),
    Label(String),
}

/// Split a requested name into the stored name and its selector. An ARN is reduced to its name
/// when it names the caller's account and region; one of another account or region is not found
/// (parameters are never shared across accounts here).
pub fn parse_selector(
    ctx: &RequestContext,
    requested: &str,
) -> Result<(String, Selector, Option<String>), AwsError> {
    let mut name = requested;
    if let Some(rest) = requested.strip_prefix("arn:")
        && let Some(idx) = rest.find(":parameter/")
    {
        // partition:ssm:region:account
        let head: Vec<&str> = rest[..idx].split(':').collect();
        if head.len() != 4 || head[2] != ctx.region() || head[3] != ctx.account() {
            return Err(not_found(requested));
        }
        name = &rest[idx + ":parameter".len()..];
    }
    let Some((base, sel)) = name.split_once(':') else {
        return Ok((name.to_string(), Selector::Latest, None));
    };
    if sel.is_empty() || sel.contains(':') || base.is_empty() {
        return Err(AwsError::validation(format!(
            "Invalid parameter name or selector: {requested}"
        )));
    }
    let selector = if sel.bytes().all(|b| b.is_ascii_digit()) {
        Selector::Version(
            sel.parse()
                .map_err(|_| AwsError::validation(format!("Invalid version selector: {sel}")))?,
        )
    } else {
        Selector::Label(sel.to_string())
    };
    Ok((base.to_string(), selector, Some(format!(":{sel}"))))
}

/// A deterministic, opaque stand-in for a SecureString's ciphertext.
fn ciphertext(key_id: &str, value: &str) -> String {
    base64(format!("{key_id}:{value}").as_bytes())
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn invalid_token() -> AwsError {
    AwsError::new("InvalidNextToken", "The nextToken is not valid")
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn value_of(v: &ParamVersion, decrypt: bool) -> String {
    if v.kind == ParamType::SecureString && !decrypt {
        ciphertext(v.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID), &v.value)
    } else {
        v.value.clone()
    }
}

fn parameter_json(
    ctx: &RequestContext,
    name: &str,
    v: &ParamVersion,
    decrypt: bool,
    selector: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    m.insert("Type".into(), json!(v.kind.as_str()));
    m.insert("Value".into(), json!(value_of(v, decrypt)));
    m.insert("Version".into(), json!(v.version));
    if let Some(s) = selector {
        m.insert("Selector".into(), json!(s));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("ARN".into(), json!(parameter_arn(ctx, name)));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

fn metadata_json(ctx: &RequestContext, p: &Parameter, v: &ParamVersion) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(p.name));
    m.insert("ARN".into(), json!(parameter_arn(ctx, &p.name)));
    m.insert("Type".into(), json!(v.kind.as_str()));
    if let Some(k) = &v.key_id {
        m.insert("KeyId".into(), json!(k));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("LastModifiedUser".into(), json!(v.modified_user));
    if let Some(d) = &v.description {
        m.insert("Description".into(), json!(d));
    }
    if let Some(a) = &v.allowed_pattern {
        m.insert("AllowedPattern".into(), json!(a));
    }
    m.insert("Version".into(), json!(v.version));
    m.insert("Tier".into(), json!(v.tier));
    m.insert("Policies".into(), json!([]));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

fn history_json(name: &str, v: &ParamVersion, decrypt: bool) -> Value {
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    m.insert("Type".into(), json!(v.kind.as_str()));
    if let Some(k) = &v.key_id {
        m.insert("KeyId".into(), json!(k));
    }
    m.insert("LastModifiedDate".into(), json!(secs(v.modified_ms)));
    m.insert("LastModifiedUser".into(), json!(v.modified_user));
    if let Some(d) = &v.description {
        m.insert("Description".into(), json!(d));
    }
    m.insert("Value".into(), json!(value_of(v, decrypt)));
    if let Some(a) = &v.allowed_pattern {
        m.insert("AllowedPattern".into(), json!(a));
    }
    m.insert("Version".into(), json!(v.version));
    m.insert("Labels".into(), json!(v.labels));
    m.insert("Tier".into(), json!(v.tier));
    m.insert("Policies".into(), json!([]));
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct PutParameterInput {
    name: Option<String>,
    description: Option<String>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    key_id: Option<String>,
    overwrite: Option<bool>,
    allowed_pattern: Option<String>,
    tags: Option<Vec<TagInput>>,
    tier: Option<String>,
    data_type: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: Option<String>,
    with_decryption: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct NamesInput {
    names: Option<Vec<String>>,
    with_decryption: Option<bool>,
}

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
struct StringFilter {
    key: Option<String>,
    option: Option<String>,
    values: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct ByPathInput {
    path: Option<String>,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<StringFilter>>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    filters: Option<Vec<StringFilter>>,
    parameter_filters: Option<Vec<StringFilter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct HistoryInput {
    name: Option<String>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct LabelInput {
    name: Option<String>,
    parameter_version: Option<i64>,
    labels: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct TagsInput {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tags: Option<Vec<TagInput>>,
    tag_keys: Option<Vec<String>>,
}

/// Which filter keys an operation accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FilterScope {
    Describe,
    ByPath,
}

/// A checked filter.
#[derive(Clone, Debug)]
struct Filter {
    key: String,
    option: String,
    values: Vec<String>,
}

fn check_filters(raw: &[StringFilter], scope: FilterScope) -> Result<Vec<Filter>, AwsError> {
    let mut out = Vec::new();
    for f in raw {
        let key = f.key.clone().ok_or_else(|| AwsError::missing("key"))?;
        let allowed_keys: &[&str] = match scope {
            FilterScope::Describe => &["Name", "Type", "KeyId", "Path", "Tier", "DataType"],
            FilterScope::ByPath => &["Type", "KeyId", "Label", "Tier", "DataType"],
        };
        let is_tag = key.starts_with("tag:") && key.len() > 4;
        if !is_tag && !allowed_keys.contains(&key.as_str()) {
            return Err(AwsError::new(
                "InvalidFilterKey",
                format!(
                    "The following filter key is not valid: {key}. Valid filter keys include: [{}].",
                    allowed_keys.join(", ")
                ),
            ));
        }
        let options: &[&str] = match key.as_str() {
            "Path" => &["Recursive", "OneLevel"],
            "Name" => &["Equals", "BeginsWith", "Contains"],
            "Label" => &["Equals"],
            _ => &["Equals", "BeginsWith"],
        };
        let option = f.option.clone().unwrap_or_else(|| options[0].to_string());
        let option = if key == "Path" && f.option.is_none() {
            "OneLevel".to_string()
        } else {
            option
        };
        if !options.contains(&option.as_str()) {
            return Err(AwsError::new(
                "InvalidFilterOption",
                format!(
                    "The filter option '{option}' is not valid for key {key}. Valid options include: [{}].",
                    options.join(", ")
                ),
            ));
        }
        let values = f.values.clone().unwrap_or_default();
        if values.is_empty() && !is_tag {
            return Err(AwsError::new(
                "InvalidFilterValue",
                format!("The following filter values are missing : null for filter key {key}."),
            ));
        }
        if values.len() > 50 {
            return Err(AwsError::new(
                "InvalidFilterValue",
                format!(
                    "A filter can have at most 50 values; {key} has {}.",
                    values.len()
                ),
            ));
        }
        if key == "Type" {
            for v in &values {
                if ParamType::parse(v).is_none() {
                    return Err(AwsError::new(
                        "InvalidFilterValue",
                        format!(
                            "The following filter value is not valid: {v}. Valid values include: [String, StringList, SecureString]."
                        ),
                    ));
                }
            }
        }
        if key == "Path" {
            for v in &values {
                if !v.starts_with('/') {
                    return Err(AwsError::new(
                        "InvalidFilterValue",
                        format!(
                            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\": {v}"
                        ),
                    ));
                }
            }
        }
        out.push(Filter {
            key,
            option,
            values,
        });
    }
    Ok(out)
}

fn compare(option: &str, actual: &str, wanted: &str) -> bool {
    match option {
        "BeginsWith" => actual.starts_with(wanted),
        "Contains" => actual.contains(wanted),
        _ => actual == wanted,
    }
}

fn parent_path(name: &str) -> &str {
    match name.rfind('/') {
        Some(0) => "/",
        Some(i) => &name[..i],
        None => "/",
    }
}

/// Whether `p` passes every filter; returns the version to report (a `Label` filter picks the
/// labelled version).
fn matches<'p>(p: &'p Parameter, filters: &[Filter]) -> Option<&'p ParamVersion> {
    let v = p.latest()?;
    let mut chosen = v;
    for f in filters {
        let ok = match f.key.as_str() {
            "Name" => {
                let actual = p.name.trim_start_matches('/');
                f.values
                    .iter()
                    .any(|w| compare(&f.option, actual, w.trim_start_matches('/')))
            }
            "Type" => f
                .values
                .iter()
                .any(|w| compare(&f.option, v.kind.as_str(), w)),
            "KeyId" => v
                .key_id
                .as_deref()
                .is_some_and(|k| f.values.iter().any(|w| compare(&f.option, k, w))),
            "Tier" => f.values.iter().any(|w| compare(&f.option, &v.tier, w)),
            "DataType" => f.values.iter().any(|w| compare(&f.option, &v.data_type, w)),
            "Path" => f.values.iter().any(|w| {
                let base = if w.len() > 1 {
                    w.trim_end_matches('/')
                } else {
                    w.as_str()
                };
                if f.option == "Recursive" {
                    let prefix = if base == "/" {
                        "/".to_string()
                    } else {
                        format!("{base}/")
                    };
                    p.name.starts_with(&prefix)
                } else {
                    p.name.starts_with('/') && parent_path(&p.name) == base
                }
            }),
            "Label" => match p
                .versions
                .iter()
                .rev()
                .find(|pv| pv.labels.iter().any(|l| f.values.contains(l)))
            {
                Some(pv) => {
                    chosen = pv;
                    true
                }
                None => false,
            },
            k => match k.strip_prefix("tag:") {
                Some(tag) => p.tags.iter().any(|(tk, tv)| {
                    tk == tag
                        && (f.values.is_empty()
                            || f.values.iter().any(|w| compare(&f.option, tv, w)))
                }),
                None => false,
            },
        };
        if !ok {
            return None;
        }
    }
    Some(chosen)
}

fn find_version<'p>(p: &'p Parameter, sel: &Selector) -> Option<&'p ParamVersion> {
    match sel {
        Selector::Latest => p.latest(),
        Selector::Version(n) => p.versions.iter().find(|v| v.version == *n),
        Selector::Label(l) => p.versions.iter().find(|v| v.labels.contains(l)),
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
            _ if crate::protocol::model::has_operation("ssm", op) => Err(AwsError::new(
                "NotImplemented",
                crate::protocol::model::not_implemented_message("SSM", op),
            )
            .with_status(axum::http::StatusCode::NOT_IMPLEMENTED)),
            _ => Err(AwsError::new(
                "UnknownOperationException",
                format!("Operation {op} is not supported by this emulator's SSM."),
            )),
        }
    }

    fn put_parameter(
        &self,
        ctx: &RequestContext,
        input: PutParameterInput,
    ) -> Result<Handled, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let value = input.value.ok_or_else(|| AwsError::missing("value"))?;
        validate_name(&name)?;
        if value.is_empty() {
            return Err(AwsError::validation(
                "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.",
            ));
        }
        let kind = match &input.kind {
            None => None,
            Some(t) => Some(ParamType::parse(t).ok_or_else(|| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '{t}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
                ))
            })?),
        };
        if let Some(d) = &input.description
            && d.chars().count() > 1024
        {
            return Err(length_error(d, "description", 1024));
        }
        let tier_in = input.tier.clone();
        if let Some(t) = &tier_in
            && !matches!(t.as_str(), "Standard" | "Advanced" | "Intelligent-Tiering")
        {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
            )));
        }
        let data_type = input.data_type.clone().unwrap_or_else(|| "text".into());
        if !matches!(
            data_type.as_str(),
            "text" | "aws:ec2:image" | "aws:ssm:integration"
        ) {
            return Err(AwsError::validation(format!(
                "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
            )));
        }
        if let Some(k) = &input.key_id
            && (k.is_empty()
                || k.len() > 256
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-')))
        {
            return Err(AwsError::new("InvalidKeyId", format!("Invalid KeyId: {k}")));
        }
        let overwrite = input.overwrite.unwrap_or(false);
        let tags: Vec<(String, String)> = input
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        if overwrite && !tags.is_empty() {
            return Err(AwsError::validation(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            ));
        }
        if tags.len() > MAX_TAGS {
            return Err(AwsError::new(
                "TooManyTagsError",
                "The Tags parameter contains more than 50 tags.",
            ));
        }
        let pattern = match &input.allowed_pattern {
            None => None,
            Some(p) if p.len() > 1024 => return Err(length_error(p, "allowedPattern", 1024)),
            Some(p) => Some(regex::Regex::new(p).map_err(|_| {
                AwsError::new(
                    "InvalidAllowedPatternException",
                    format!("The allowed pattern {p} is not a valid regular expression."),
                )
            })?),
        };
        if let Some(re) = &pattern
            && !re.is_match(&value)
        {
            return Err(AwsError::new(
                "ParameterPatternMismatchException",
                format!(
                    "Parameter value, cannot be validated against allowedPattern: {}",
                    re.as_str()
                ),
            ));
        }
        let value_len = value.chars().count();
        let tier = match tier_in.as_deref() {
            Some("Advanced") => "Advanced",
            Some("Intelligent-Tiering") if value_len > 4096 => "Advanced",
            _ => "Standard",
        };
        if tier == "Standard" && value_len > 4096 {
            return Err(AwsError::validation(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
            ));
        }
        if value_len > 8192 {
            return Err(AwsError::validation(
                "Advanced tier parameters support a maximum parameter value of 8192 characters.",
            ));
        }
        let k = key(&ctx.partition, &name);
        let user = format!("arn:aws:iam::{}:root", ctx.account());
        let now = now_ms();
        let (result, version) = self.store.write(|txn| {
            let existing = txn.get(&k).cloned();
            let mut param = match existing {
                Some(_) if !overwrite => {
                    return Err(AwsError::new(
                        "ParameterAlreadyExists",
                        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
                    ));
                }
                Some(p) => p,
                None => {
                    if kind.is_none() {
                        return Err(AwsError::validation(
                            "A parameter type is required when you create a parameter.",
                        ));
                    }
                    Parameter {
                        name: name.clone(),
                        tags,
                        versions: Vec::new(),
                    }
                }
            };
            let prev = param.versions.last().cloned();
            let kind = kind
                .or(prev.as_ref().map(|p| p.kind))
                .unwrap_or(ParamType::String);
            if param.versions.len() >= MAX_VERSIONS {
                let oldest = &param.versions[0];
                if !oldest.labels.is_empty() {
                    return Err(AwsError::new(
                        "ParameterMaxVersionLimitExceeded",
                        format!(
                            "You attempted to create a new version of {name} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                            oldest.version
                        ),
                    ));
                }
                param.versions.remove(0);
            }
            let number = prev.as_ref().map_or(1, |p| p.version + 1);
            let tier = match (tier_in.as_deref(), &prev) {
                // An advanced parameter stays advanced.
                (None, Some(p)) if p.tier == "Advanced" => "Advanced".to_string(),
                _ => tier.to_string(),
            };
            param.versions.push(ParamVersion {
                version: number,
                value: value.clone(),
                kind,
                key_id: if kind == ParamType::SecureString {
                    Some(
                        input
                            .key_id
                            .clone()
                            .or_else(|| prev.as_ref().and_then(|p| p.key_id.clone()))
                            .unwrap_or_else(|| DEFAULT_KEY_ID.to_string()),
                    )
                } else {
                    None
                },
                description: input
                    .description
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.description.clone())),
                allowed_pattern: input
                    .allowed_pattern
                    .clone()
                    .or_else(|| prev.as_ref().and_then(|p| p.allowed_pattern.clone())),
                tier: tier.clone(),
                data_type: data_type.clone(),
                labels: Vec::new(),
                modified_ms: now,
                modified_user: user.clone(),
            });
            txn.insert(k.clone(), param);
            Ok((number, tier))
        });
        let (number, tier) = result?;
        ok(json!({"Version": number, "Tier": tier}), Some(version))
    }

    fn get_parameter(&self, ctx: &RequestContext, input: NameInput) -> Result<Handled, AwsError> {
        let requested = input.name.ok_or_else(|| AwsError::missing("name"))?;
        if requested.len() > MAX_NAME_LEN {
            return Err(length_error(&requested, "name", MAX_NAME_LEN));
        }
        let (name, sel, sel_text) = parse_selector(ctx, &requested)?;
        let snap = self.store.snapshot();
        let p = snap
            .get(&key(&ctx.partition, &name))
            .ok_or_else(|| not_found(&requested))?;
        let v = find_version(p, &sel).ok_or_else(|| {
            version_not_found(
                &name,
                sel_text.as_deref().unwrap_or("").trim_start_matches(':'),
            )
        })?;
        let decrypt = input.with_decryption.unwrap_or(false);
        ok(
            json!({"Parameter": parameter_json(ctx, &p.name, v, decrypt, sel_text.as_deref())}),
            None,
        )
    }

    fn get_parameters(&self, ctx: &RequestContext, input: NamesInput) -> Result<Handled, AwsError> {
        let names = input.names.ok_or_else(|| AwsError::missing("names"))?;
        if names.is_empty() || names.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let decrypt = input.with_decryption.unwrap_or(false);
        let snap = self.store.snapshot();
        let mut found = Vec::new();
        let mut invalid = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for requested in names {
            if !seen.insert(requested.clone()) {
                continue;
            }
            let Ok((name, sel, sel_text)) = parse_selector(ctx, &requested) else {
                invalid.push(requested);
                continue;
            };
            match snap
                .get(&key(&ctx.partition, &name))
                .and_then(|p| find_version(p, &sel).map(|v| (p, v)))
            {
                Some((p, v)) => found.push(parameter_json(
                    ctx,
                    &p.name,
                    v,
                    decrypt,
                    sel_text.as_deref(),
                )),
                None => invalid.push(requested),
            }
        }
        ok(
            json!({"Parameters": found, "InvalidParameters": invalid}),
            None,
        )
    }

    fn get_parameters_by_path(
        &self,
        ctx: &RequestContext,
        input: ByPathInput,
    ) -> Result<Handled, AwsError> {
        let path = input.path.ok_or_else(|| AwsError::missing("path"))?;
        if path.len() > MAX_NAME_LEN {
            return Err(length_error(&path, "path", MAX_NAME_LEN));
        }
        if !path.starts_with('/') {
            return Err(AwsError::validation(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
            ));
        }
        let lower = path.trim_start_matches('/').to_ascii_lowercase();
        if lower.starts_with("aws") || lower.starts_with("ssm") {
            return Err(AwsError::validation(NAME_RULES));
        }
        let max = range_check(input.max_results, "maxResults", 10, 10)?;
        let filters = check_filters(
            input.parameter_filters.as_deref().unwrap_or(&[]),
            FilterScope::ByPath,
        )?;
        let recursive = input.recursive.unwrap_or(false);
        let decrypt = input.with_decryption.unwrap_or(false);
        let prefix = if path.ends_with('/') {
            path.clone()
        } else {
            format!("{path}/")
        };
        let start = match input.next_token.as_deref() {
            None => None,
            Some(t) => {
                let last = unhex(t).ok_or_else(invalid_token)?;
                if !last.starts_with(&prefix) {
                    return Err(invalid_token());
                }
                Some(last)
            }
        };
        let pk = key(&ctx.partition, &prefix);
        let (lo, hi) = pk.prefix_range();
        let lo = match &start {
            Some(last) => Bound::Excluded(key(&ctx.partition, last)),
            None => lo,
        };
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut next = None;
        let mut last_name: Option<&str> = None;
        for (_, p) in snap.range((lo, hi)) {
            let rest = &p.name[prefix.len().min(p.name.len())..];
            if !recursive && rest.contains('/') {
                continue;
            }
            let Some(v) = matches(p, &filters) else {
                continue;
            };
            if out.len() == max {
                next = last_name.map(hex);
                break;
            }
            out.push(parameter_json(ctx, &p.name, v, decrypt, None));
            last_name = Some(&p.name);
        }
        parameters_page(out, next)
    }

    fn delete_parameter(
        &self,
        ctx: &RequestContext,
        input: NameInput,
    ) -> Result<Handled, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (removed, version) = self.store.write(|txn| txn.remove(&k).is_some());
        if !removed {
            return Err(not_found(&name));
        }
        ok(json!({}), Some(version))
    }

    fn delete_parameters(
        &self,
        ctx: &RequestContext,
        input: NamesInput,
    ) -> Result<Handled, AwsError> {
        let names = input.names.ok_or_else(|| AwsError::missing("names"))?;
        if names.is_empty() || names.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{names:?}' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let ((deleted, invalid), version) = self.store.write(|txn| {
            let mut deleted = Vec::new();
            let mut invalid = Vec::new();
            for n in &names {
                let base = parse_selector(ctx, n)
                    .map(|(b, _, _)| b)
                    .unwrap_or_default();
                if !base.is_empty() && txn.remove(&key(&ctx.partition, &base)).is_some() {
                    deleted.push(n.clone());
                } else if !deleted.contains(n) {
                    invalid.push(n.clone());
                }
            }
            (deleted, invalid)
        });
        let wv = (!deleted.is_empty()).then_some(version);
        ok(
            json!({"DeletedParameters": deleted, "InvalidParameters": invalid}),
            wv,
        )
    }

    fn describe_parameters(
        &self,
        ctx: &RequestContext,
        input: DescribeInput,
    ) -> Result<Handled, AwsError> {
        if input.filters.is_some() && input.parameter_filters.is_some() {
            return Err(AwsError::validation(
                "You can use either Filters or ParameterFilters in a single request.",
            ));
        }
        let max = range_check(input.max_results, "maxResults", 50, 10)?;
        let filters = match (&input.filters, &input.parameter_filters) {
            (Some(old), _) => {
                for f in old {
                    let k = f.key.as_deref().unwrap_or("");
                    if !matches!(k, "Name" | "Type" | "KeyId") {
                        return Err(AwsError::validation(format!(
                            "1 validation error detected: Value '{k}' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Type, KeyId]"
                        )));
                    }
                }
                let converted: Vec<StringFilter> = old
                    .iter()
                    .map(|f| StringFilter {
                        key: f.key.clone(),
                        option: Some(
                            if f.key.as_deref() == Some("Name") {
                                "BeginsWith"
                            } else {
                                "Equals"
                            }
                            .into(),
                        ),
                        values: f.values.clone(),
                    })
                    .collect();
                check_filters(&converted, FilterScope::Describe)?
            }
            (None, Some(new)) => check_filters(new, FilterScope::Describe)?,
            (None, None) => Vec::new(),
        };
        let prefix = ctx.partition.prefix();
        let (lo, hi) = prefix.prefix_range();
        let lo = match input.next_token.as_deref() {
            None => lo,
            Some(t) => Bound::Excluded(key(&ctx.partition, &unhex(t).ok_or_else(invalid_token)?)),
        };
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut next = None;
        let mut last_name: Option<&str> = None;
        for (_, p) in snap.range((lo, hi)) {
            let Some(v) = matches(p, &filters) else {
                continue;
            };
            if out.len() == max {
                next = last_name.map(hex);
                break;
            }
            out.push(metadata_json(ctx, p, v));
            last_name = Some(&p.name);
        }
        parameters_page(out, next)
    }

    fn get_parameter_history(
        &self,
        ctx: &RequestContext,
        input: HistoryInput,
    ) -> Result<Handled, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let snap = self.store.snapshot();
        let p = snap
            .get(&key(&ctx.partition, &base))
            .ok_or_else(|| not_found(&name))?;
        let start: usize = match input.next_token.as_deref() {
            None => 0,
            Some(t) => t
                .parse()
                .ok()
                .filter(|n: &usize| *n > 0 && *n < p.versions.len())
                .ok_or_else(invalid_token)?,
        };
        let decrypt = input.with_decryption.unwrap_or(false);
        let page: Vec<Value> = p
            .versions
            .iter()
            .skip(start)
            .take(max)
            .map(|v| history_json(&p.name, v, decrypt))
            .collect();
        let end = start + page.len();
        parameters_page(page, (end < p.versions.len()).then(|| end.to_string()))
    }

    fn label_parameter_version(
        &self,
        ctx: &RequestContext,
        input: LabelInput,
    ) -> Result<Handled, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let labels = input.labels.ok_or_else(|| AwsError::missing("labels"))?;
        if labels.is_empty() || labels.len() > 10 {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{labels:?}' at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1"
            )));
        }
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn.get(&k).cloned().ok_or_else(|| not_found(&name))?;
            let target = match input.parameter_version {
                None => p.latest().map(|v| v.version).ok_or_else(|| not_found(&name))?,
                Some(n) => u64::try_from(n)
                    .ok()
                    .filter(|n| p.versions.iter().any(|v| v.version == *n))
                    .ok_or_else(|| version_not_found(&name, &n.to_string()))?,
            };
            let (valid, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| valid_label(l));
            let mut changed = false;
            for v in &mut p.versions {
                if v.version == target {
                    for l in &valid {
                        if !v.labels.contains(l) {
                            v.labels.push(l.clone());
                            changed = true;
                        }
                    }
                    if v.labels.len() > MAX_LABELS_PER_VERSION {
                        return Err(AwsError::new(
                            "ParameterVersionLabelLimitExceeded",
                            "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again.",
                        ));
                    }
                } else {
                    let before = v.labels.len();
                    v.labels.retain(|l| !valid.contains(l));
                    changed |= v.labels.len() != before;
                }
            }
            if changed {
                txn.insert(k.clone(), p);
            }
            Ok((invalid, target, changed))
        });
        let (invalid, target, changed) = result?;
        ok(
            json!({"InvalidLabels": invalid, "ParameterVersion": target}),
            changed.then_some(version),
        )
    }

    fn unlabel_parameter_version(
        &self,
        ctx: &RequestContext,
        input: LabelInput,
    ) -> Result<Handled, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let wanted = input
            .parameter_version
            .ok_or_else(|| AwsError::missing("parameterVersion"))?;
        let labels = input.labels.ok_or_else(|| AwsError::missing("labels"))?;
        let (base, _, _) = parse_selector(ctx, &name).map_err(|_| not_found(&name))?;
        let k = key(&ctx.partition, &base);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn.get(&k).cloned().ok_or_else(|| not_found(&name))?;
            let v = u64::try_from(wanted)
                .ok()
                .and_then(|n| p.versions.iter_mut().find(|v| v.version == n))
                .ok_or_else(|| version_not_found(&name, &wanted.to_string()))?;
            let (removed, invalid): (Vec<String>, Vec<String>) =
                labels.iter().cloned().partition(|l| v.labels.contains(l));
            v.labels.retain(|l| !removed.contains(l));
            let changed = !removed.is_empty();
            if changed {
                txn.insert(k.clone(), p);
            }
            Ok((removed, invalid, changed))
        });
        let (removed, invalid, changed) = result?;
        ok(
            json!({"RemovedLabels": removed, "InvalidLabels": invalid}),
            changed.then_some(version),
        )
    }

    fn tag_target(ctx: &RequestContext, input: &TagsInput) -> Result<String, AwsError> {
        let rt = input
            .resource_type
            .as_deref()
            .ok_or_else(|| AwsError::missing("resourceType"))?;
        if rt != "Parameter" {
            return Err(AwsError::new(
                "InvalidResourceType",
                format!("Resource type {rt} is not supported by this emulator."),
            ));
        }
        let id = input
            .resource_id
            .clone()
            .ok_or_else(|| AwsError::missing("resourceId"))?;
        let (base, _, _) = parse_selector(ctx, &id)
            .map_err(|_| AwsError::new("InvalidResourceId", "The resource ID is not valid."))?;
        Ok(base)
    }

    fn add_tags(&self, ctx: &RequestContext, input: TagsInput) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let tags = input.tags.ok_or_else(|| AwsError::missing("tags"))?;
        let k = key(&ctx.partition, &name);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .cloned()
                .ok_or_else(|| AwsError::new("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again."))?;
            for t in tags {
                let (tk, tv) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
                match p.tags.iter_mut().find(|(k2, _)| *k2 == tk) {
                    Some(e) => e.1 = tv,
                    None => p.tags.push((tk, tv)),
                }
            }
            if p.tags.len() > MAX_TAGS {
                return Err(AwsError::new(
                    "TooManyTagsError",
                    "The Tags parameter contains more than 50 tags.",
                ));
            }
            txn.insert(k.clone(), p);
            Ok(())
        });
        result?;
        ok(json!({}), Some(version))
    }

    fn remove_tags(&self, ctx: &RequestContext, input: TagsInput) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let keys = input.tag_keys.ok_or_else(|| AwsError::missing("tagKeys"))?;
        let k = key(&ctx.partition, &name);
        let (result, version) = self.store.write(|txn| {
            let mut p = txn
                .get(&k)
                .cloned()
                .ok_or_else(|| AwsError::new("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again."))?;
            let before = p.tags.len();
            p.tags.retain(|(tk, _)| !keys.contains(tk));
            let changed = p.tags.len() != before;
            if changed {
                txn.insert(k.clone(), p);
            }
            Ok(changed)
        });
        let changed = result?;
        ok(json!({}), changed.then_some(version))
    }

    fn list_tags(&self, ctx: &RequestContext, input: TagsInput) -> Result<Handled, AwsError> {
        let name = Self::tag_target(ctx, &input)?;
        let snap = self.store.snapshot();
        let p = snap.get(&key(&ctx.partition, &name)).ok_or_else(|| {
            AwsError::new(
                "InvalidResourceId",
                "The resource ID is not valid. Verify that you entered the correct ID and try again.",
            )
        })?;
        let list: Vec<Value> = p
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        ok(json!({ "TagList": list }), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::aws_request::parse_authorization;

    fn ctx(account: &str, region: &str) -> RequestContext {
        RequestContext::from_scope(parse_authorization(&format!(
            "AWS4-HMAC-SHA256 Credential={account}/20240101/{region}/ssm/aws4_request"
        )))
    }

    fn call(ssm: &Ssm, c: &RequestContext, op: &str, body: Value) -> Result<Value, AwsError> {
        let h = ssm.handle(c, op, body.to_string().as_bytes())?;
        Ok(serde_json::from_str(&h.body).unwrap())
    }

    fn code(r: Result<Value, AwsError>) -> String {
        r.unwrap_err().code
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("/app/db/password").is_ok());
        assert!(validate_name("plain.name-1_x").is_ok());
        for bad in [
            "awsparam",
            "/aws/x",
            "SSM-thing",
            "/ssm/x",
            "a b",
            "a/b",
            "/a//b",
            "/a/",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.code, "ValidationException", "{bad}");
        }
        let deep = "/a".repeat(16);
        assert_eq!(
            validate_name(&deep).unwrap_err().code,
            "HierarchyLevelLimitExceededException"
        );
        assert!(validate_name(&"/a".repeat(15)).is_ok());
        assert_eq!(
            validate_name(&"x".repeat(2049)).unwrap_err().code,
            "ValidationException"
        );
    }

    #[test]
    fn selectors_parse() {
        let c = RequestContext::from_scope(None);
        assert_eq!(
            parse_selector(&c, "/a/b").unwrap(),
            ("/a/b".into(), Selector::Latest, None)
        );
        assert_eq!(
            parse_selector(&c, "/a/b:3").unwrap(),
            ("/a/b".into(), Selector::Version(3), Some(":3".into()))
        );
        assert_eq!(
            parse_selector(&c, "name:prod").unwrap(),
            (
                "name".into(),
                Selector::Label("prod".into()),
                Some(":prod".into())
            )
        );
        assert_eq!(
            parse_selector(&c, "arn:aws:ssm:us-east-1:000000000000:parameter/a/b:2").unwrap(),
            ("/a/b".into(), Selector::Version(2), Some(":2".into()))
        );
        // Another account's (or region's) ARN is not found, never read as the caller's own.
        for other in [
            "arn:aws:ssm:us-east-1:222222222222:parameter/a/b",
            "arn:aws:ssm:eu-west-1:000000000000:parameter/a/b",
        ] {
            assert_eq!(
                parse_selector(&c, other).unwrap_err().code,
                "ParameterNotFound"
            );
        }
        assert!(parse_selector(&c, "a:b:c").is_err());
        assert!(parse_selector(&c, "a:").is_err());
    }

    #[test]
    fn labels_are_validated() {
        assert!(valid_label("prod"));
        assert!(valid_label("v1.2-x_y"));
        for bad in ["1abc", "awsx", "SSMx", "a b", "", &"x".repeat(101)] {
            assert!(!valid_label(bad), "{bad}");
        }
    }

    #[test]
    fn put_get_overwrite_and_versions() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        let r = call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/a/x", "Value": "1", "Type": "String"}),
        )
        .unwrap();
        assert_eq!(r["Version"], 1);
        assert_eq!(r["Tier"], "Standard");
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/a/x", "Value": "2"})
            )),
            "ParameterAlreadyExists"
        );
        let r = call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/a/x", "Value": "2", "Overwrite": true}),
        )
        .unwrap();
        assert_eq!(r["Version"], 2);
        let g = call(&s, &c, "GetParameter", json!({"Name": "/a/x"})).unwrap();
        assert_eq!(g["Parameter"]["Value"], "2");
        assert_eq!(g["Parameter"]["Type"], "String");
        assert_eq!(
            g["Parameter"]["ARN"],
            "arn:aws:ssm:us-east-1:000000000000:parameter/a/x"
        );
        assert!(g["Parameter"]["LastModifiedDate"].as_f64().unwrap() > 1.0e9);
        let g = call(&s, &c, "GetParameter", json!({"Name": "/a/x:1"})).unwrap();
        assert_eq!(g["Parameter"]["Value"], "1");
        assert_eq!(g["Parameter"]["Selector"], ":1");
        assert_eq!(
            code(call(&s, &c, "GetParameter", json!({"Name": "/a/x:9"}))),
            "ParameterVersionNotFound"
        );
        assert_eq!(
            code(call(&s, &c, "GetParameter", json!({"Name": "/nope"}))),
            "ParameterNotFound"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/new", "Value": "v"})
            )),
            "ValidationException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/a/x", "Value": "v", "Overwrite": true, "Tags": [{"Key": "k", "Value": "v"}]})
            )),
            "ValidationException"
        );
    }

    #[test]
    fn history_is_capped_at_100_versions() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        for i in 0..105 {
            call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "p", "Value": format!("v{i}"), "Type": "String", "Overwrite": true}),
            )
            .unwrap();
        }
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = json!({"Name": "p", "MaxResults": 30});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let r = call(&s, &c, "GetParameterHistory", req).unwrap();
            all.extend(r["Parameters"].as_array().unwrap().iter().cloned());
            match r.get("NextToken") {
                Some(t) => token = Some(t.as_str().unwrap().to_string()),
                None => break,
            }
        }
        assert_eq!(all.len(), 100);
        assert_eq!(all[0]["Version"], 6);
        assert_eq!(all[99]["Version"], 105);
        // A label on the oldest version blocks dropping it.
        call(
            &s,
            &c,
            "LabelParameterVersion",
            json!({"Name": "p", "ParameterVersion": 6, "Labels": ["old"]}),
        )
        .unwrap();
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "p", "Value": "x", "Overwrite": true})
            )),
            "ParameterMaxVersionLimitExceeded"
        );
    }

    #[test]
    fn labels_move_between_versions() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        for v in ["a", "b", "c"] {
            call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/l", "Value": v, "Type": "String", "Overwrite": true}),
            )
            .unwrap();
        }
        let r = call(
            &s,
            &c,
            "LabelParameterVersion",
            json!({"Name": "/l", "ParameterVersion": 1, "Labels": ["prod", "1bad"]}),
        )
        .unwrap();
        assert_eq!(r["InvalidLabels"], json!(["1bad"]));
        assert_eq!(r["ParameterVersion"], 1);
        let g = call(&s, &c, "GetParameter", json!({"Name": "/l:prod"})).unwrap();
        assert_eq!(g["Parameter"]["Value"], "a");
        let r = call(
            &s,
            &c,
            "LabelParameterVersion",
            json!({"Name": "/l", "Labels": ["prod"]}),
        )
        .unwrap();
        assert_eq!(r["ParameterVersion"], 3);
        let g = call(&s, &c, "GetParameter", json!({"Name": "/l:prod"})).unwrap();
        assert_eq!(g["Parameter"]["Value"], "c");
        let h = call(&s, &c, "GetParameterHistory", json!({"Name": "/l"})).unwrap();
        assert_eq!(h["Parameters"][0]["Labels"], json!([]));
        assert_eq!(h["Parameters"][2]["Labels"], json!(["prod"]));
        assert_eq!(
            code(call(
                &s,
                &c,
                "LabelParameterVersion",
                json!({"Name": "/l", "ParameterVersion": 7, "Labels": ["x"]})
            )),
            "ParameterVersionNotFound"
        );
        let r = call(
            &s,
            &c,
            "GetParameters",
            json!({"Names": ["/l:prod", "/l:nope", "/zz"]}),
        )
        .unwrap();
        assert_eq!(r["Parameters"].as_array().unwrap().len(), 1);
        assert_eq!(r["InvalidParameters"], json!(["/l:nope", "/zz"]));
    }

    #[test]
    fn secure_strings_hide_their_value_unless_decrypted() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/s", "Value": "hunter2", "Type": "SecureString"}),
        )
        .unwrap();
        let g = call(&s, &c, "GetParameter", json!({"Name": "/s"})).unwrap();
        assert_ne!(g["Parameter"]["Value"], "hunter2");
        let g = call(
            &s,
            &c,
            "GetParameter",
            json!({"Name": "/s", "WithDecryption": true}),
        )
        .unwrap();
        assert_eq!(g["Parameter"]["Value"], "hunter2");
        let d = call(&s, &c, "DescribeParameters", json!({})).unwrap();
        assert_eq!(d["Parameters"][0]["KeyId"], "alias/aws/ssm");
    }

    #[test]
    fn by_path_recursion_filters_and_pages() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        for (n, t) in [
            ("/app/a", "String"),
            ("/app/b", "SecureString"),
            ("/app/sub/c", "String"),
            ("/app/sub/deep/d", "StringList"),
            ("/apple", "String"),
            ("/other/x", "String"),
        ] {
            call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": n, "Value": "v", "Type": t}),
            )
            .unwrap();
        }
        let names = |r: &Value| -> Vec<String> {
            r["Parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["Name"].as_str().unwrap().to_string())
                .collect()
        };
        let r = call(&s, &c, "GetParametersByPath", json!({"Path": "/app"})).unwrap();
        assert_eq!(names(&r), ["/app/a", "/app/b"]);
        let r = call(
            &s,
            &c,
            "GetParametersByPath",
            json!({"Path": "/app/", "Recursive": true}),
        )
        .unwrap();
        assert_eq!(
            names(&r),
            ["/app/a", "/app/b", "/app/sub/c", "/app/sub/deep/d"]
        );
        let r = call(&s, &c, "GetParametersByPath", json!({"Path": "/app", "Recursive": true, "ParameterFilters": [{"Key": "Type", "Values": ["String"]}]})).unwrap();
        assert_eq!(names(&r), ["/app/a", "/app/sub/c"]);
        let mut got = Vec::new();
        let mut token = None;
        loop {
            let mut req = json!({"Path": "/", "Recursive": true, "MaxResults": 2});
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let r = call(&s, &c, "GetParametersByPath", req).unwrap();
            got.extend(names(&r));
            match r.get("NextToken") {
                Some(t) => token = Some(t.as_str().unwrap().to_string()),
                None => break,
            }
        }
        assert_eq!(got.len(), 6);
        assert_eq!(
            code(call(
                &s,
                &c,
                "GetParametersByPath",
                json!({"Path": "/app", "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]})
            )),
            "InvalidFilterKey"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "GetParametersByPath",
                json!({"Path": "/app", "NextToken": "zz"})
            )),
            "InvalidNextToken"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "GetParametersByPath",
                json!({"Path": "/app", "MaxResults": 11})
            )),
            "ValidationException"
        );
        // Describe with Path OneLevel / Recursive and Name BeginsWith.
        let r = call(
            &s,
            &c,
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Path", "Values": ["/app"]}]}),
        )
        .unwrap();
        assert_eq!(names(&r), ["/app/a", "/app/b"]);
        let r = call(&s, &c, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}], "MaxResults": 50})).unwrap();
        assert_eq!(names(&r).len(), 4);
        let r = call(&s, &c, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app"]}], "MaxResults": 50})).unwrap();
        assert_eq!(names(&r).len(), 5);
        let r = call(
            &s,
            &c,
            "DescribeParameters",
            json!({"Filters": [{"Key": "Type", "Values": ["SecureString"]}]}),
        )
        .unwrap();
        assert_eq!(names(&r), ["/app/b"]);
        assert_eq!(
            code(call(
                &s,
                &c,
                "DescribeParameters",
                json!({"Filters": [], "ParameterFilters": []})
            )),
            "ValidationException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "DescribeParameters",
                json!({"ParameterFilters": [{"Key": "Path", "Option": "Sideways", "Values": ["/app"]}]})
            )),
            "InvalidFilterOption"
        );
    }

    #[test]
    fn deletes() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "a", "Value": "v", "Type": "String"}),
        )
        .unwrap();
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "b", "Value": "v", "Type": "String"}),
        )
        .unwrap();
        call(&s, &c, "DeleteParameter", json!({"Name": "a"})).unwrap();
        assert_eq!(
            code(call(&s, &c, "DeleteParameter", json!({"Name": "a"}))),
            "ParameterNotFound"
        );
        let r = call(&s, &c, "DeleteParameters", json!({"Names": ["b", "zz"]})).unwrap();
        assert_eq!(r["DeletedParameters"], json!(["b"]));
        assert_eq!(r["InvalidParameters"], json!(["zz"]));
    }

    #[test]
    fn partitions_are_isolated() {
        let s = Ssm::new();
        let a = ctx("111111111111", "us-east-1");
        let b = ctx("222222222222", "us-east-1");
        let a2 = ctx("111111111111", "eu-west-1");
        call(
            &s,
            &a,
            "PutParameter",
            json!({"Name": "x", "Value": "a", "Type": "String"}),
        )
        .unwrap();
        assert_eq!(
            code(call(&s, &b, "GetParameter", json!({"Name": "x"}))),
            "ParameterNotFound"
        );
        assert_eq!(
            code(call(&s, &a2, "GetParameter", json!({"Name": "x"}))),
            "ParameterNotFound"
        );
        let d = call(&s, &b, "DescribeParameters", json!({})).unwrap();
        assert_eq!(d["Parameters"], json!([]));
    }

    #[test]
    fn bad_requests() {
        let s = Ssm::new();
        let c = ctx("000000000000", "us-east-1");
        assert_eq!(
            s.handle(&c, "PutParameter", b"{not json").unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            s.handle(&c, "PutParameter", br#"{"Name": 5}"#)
                .unwrap_err()
                .code,
            "SerializationException"
        );
        assert_eq!(
            s.handle(&c, "GetParameter", b"{}").unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(
            s.handle(&c, "Frobnicate", b"{}").unwrap_err().code,
            "UnknownOperationException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/p", "Value": "abc", "Type": "String", "AllowedPattern": "^\\d+$"})
            )),
            "ParameterPatternMismatchException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/p", "Value": "abc", "Type": "String", "AllowedPattern": "(("})
            )),
            "InvalidAllowedPatternException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/p", "Value": "abc", "Type": "Number"})
            )),
            "ValidationException"
        );
        assert_eq!(
            code(call(
                &s,
                &c,
                "PutParameter",
                json!({"Name": "/p", "Value": "x".repeat(4097), "Type": "String"})
            )),
            "ValidationException"
        );
        let r = call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/p", "Value": "x".repeat(4097), "Type": "String", "Tier": "Advanced"}),
        )
        .unwrap();
        assert_eq!(r["Tier"], "Advanced");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(unhex(&hex("/a/b")).as_deref(), Some("/a/b"));
        assert_eq!(unhex("zz"), None);
    }
}

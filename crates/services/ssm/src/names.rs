//! Parameter names, labels, ARNs, and the `name:version` / `name:label` selectors.

use super::*;

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
/// The name SSM stores for `name`: a single name written with a leading slash (`/name`) is the
/// parameter `name`, as AWS normalizes it; a path (`/a/b`) keeps its slash.
pub fn normalize(name: &str) -> &str {
    match name.strip_prefix('/') {
        Some(rest) if !rest.is_empty() && !rest.contains('/') => rest,
        _ => name,
    }
}

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
        return Ok((normalize(name).to_string(), Selector::Latest, None));
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
    Ok((
        normalize(base).to_string(),
        selector,
        Some(format!(":{sel}")),
    ))
}

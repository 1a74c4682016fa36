//! Function names as Lambda takes them (a name, a full ARN, a partial ARN `account:function:name`,
//! each optionally with `:qualifier`) and the ARNs it hands out.

use snapstack_service::RequestContext;

use crate::{LResult, LambdaError};

/// A function reference: its name and the qualifier it carried, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnRef {
    pub name: String,
    pub qualifier: Option<String>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(q: &str) -> bool {
    !q.is_empty()
        && q.len() <= 128
        && (q == "$LATEST"
            || q == LATEST_PUBLISHED
            || q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parse a `FunctionName` member.
pub fn parse(ctx: &RequestContext, raw: &str) -> LResult<FnRef> {
    let bad = || {
        LambdaError::new(
            400,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            ),
        )
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let (name, qualifier, account, region) = match parts.as_slice() {
        [n] => (*n, None, None, None),
        [n, q] => (*n, Some(*q), None, None),
        [acct, "function", n] => (*n, None, Some(*acct), None),
        [acct, "function", n, q] => (*n, Some(*q), Some(*acct), None),
        ["arn", _, "lambda", region, acct, "function", n] => (*n, None, Some(*acct), Some(*region)),
        ["arn", _, "lambda", region, acct, "function", n, q] => {
            (*n, Some(*q), Some(*acct), Some(*region))
        }
        _ => return Err(bad()),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(bad());
    }
    if let Some(a) = account
        && (a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    if let Some(r) = region
        && r != ctx.region()
    {
        return Err(LambdaError::invalid(format!(
            "Functions from '{r}' are not reachable in this region ('{}')",
            ctx.region()
        )));
    }
    if let Some(a) = account
        && a != ctx.account()
    {
        return Err(LambdaError::new(
            403,
            "AccessDeniedException",
            format!(
                "The function {raw} is in another account; cross-account calls are not supported"
            ),
        ));
    }
    Ok(FnRef {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

/// A function's ARN, with a qualifier when given.
pub fn function_arn(ctx: &RequestContext, name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!(
            "arn:aws:lambda:{}:{}:function:{name}:{q}",
            ctx.region(),
            ctx.account()
        ),
        None => format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            ctx.region(),
            ctx.account()
        ),
    }
}

/// The qualifier of a function's latest published version (Lambda Managed Instances; the
/// model's `NumericLatestPublishedOrAliasQualifier`): here, its highest numbered version.
pub const LATEST_PUBLISHED: &str = "$LATEST.PUBLISHED";

/// Whether a qualifier names a version (`$LATEST`, `$LATEST.PUBLISHED` or digits) rather than
/// an alias.
pub fn is_version(q: &str) -> bool {
    q == "$LATEST"
        || q == LATEST_PUBLISHED
        || (!q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()))
}

/// The function name in a resource ARN (`TagResource` and friends); a version or alias in it is
/// refused as Lambda refuses it.
pub fn from_resource_arn(ctx: &RequestContext, arn: &str) -> LResult<String> {
    let r = parse(ctx, arn)?;
    if r.qualifier.is_some() || !arn.starts_with("arn:") {
        return Err(LambdaError::invalid(format!(
            "Tags are not supported on qualified function ARNs or names: {arn}"
        )));
    }
    Ok(r.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_service::RequestContext;

    fn ctx() -> RequestContext {
        RequestContext::from_scope(None)
    }

    #[test]
    fn names_arns_and_qualifiers() {
        let c = ctx();
        assert_eq!(parse(&c, "f").unwrap().name, "f");
        assert_eq!(parse(&c, "f:1").unwrap().qualifier.as_deref(), Some("1"));
        assert_eq!(
            parse(&c, "f:$LATEST.PUBLISHED")
                .unwrap()
                .qualifier
                .as_deref(),
            Some("$LATEST.PUBLISHED")
        );
        assert!(parse(&c, "f:$LATEST.X").is_err());
        let arn = function_arn(&c, "my-fn", Some("live"));
        let r = parse(&c, &arn).unwrap();
        assert_eq!(
            (r.name.as_str(), r.qualifier.as_deref()),
            ("my-fn", Some("live"))
        );
        assert_eq!(parse(&c, "000000000000:function:g").unwrap().name, "g");
        assert!(parse(&c, "").is_err());
        assert!(parse(&c, "a:b:c:d:e").is_err());
        assert!(parse(&c, "bad name").is_err());
        assert!(parse(&c, "arn:aws:lambda:eu-west-1:000000000000:function:f").is_err());
        assert!(is_version("$LATEST") && is_version("12") && !is_version("live"));
        assert!(is_version("$LATEST.PUBLISHED") && !is_version("$LATEST.X"));
    }
}

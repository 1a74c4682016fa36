//! `iam:PassRole`: a request that hands a service an IAM role to act with (a Lambda function's
//! execution role, an EventBridge rule's or target's role, a Logs subscription's or
//! destination's role, a Firehose stream's roles) is allowed only if the caller may also pass
//! each of those roles, with `iam:PassedToService` naming the receiving service, as AWS checks.

use serde_json::{Map, Value};

/// The service principal a role is passed to by `operation` of `service`, for the operations
/// that pass roles; `None` for every other operation.
fn passed_to(service: &str, operation: &str) -> Option<&'static str> {
    Some(match (service, operation) {
        ("lambda", "CreateFunction" | "UpdateFunctionConfiguration") => "lambda.amazonaws.com",
        ("events", "PutRule" | "PutTargets" | "CreateEndpoint" | "UpdateEndpoint") => {
            "events.amazonaws.com"
        }
        ("logs", "PutSubscriptionFilter" | "PutDestination") => "logs.amazonaws.com",
        ("firehose", "CreateDeliveryStream" | "UpdateDestination") => "firehose.amazonaws.com",
        _ => return None,
    })
}

/// The members that name a role, in any of the models' spellings.
const ROLE_MEMBERS: [&str; 4] = ["Role", "RoleArn", "RoleARN", "roleArn"];

/// How deep a body is searched for roles (Firehose's destinations nest them a few levels).
const MAX_DEPTH: usize = 6;

/// The role ARNs named by role members of `m`, and of what is inside it down to
/// [`MAX_DEPTH`] levels, added to `out` once each.
fn collect(m: &Map<String, Value>, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    for (k, v) in m {
        match v {
            Value::String(s) if ROLE_MEMBERS.contains(&k.as_str()) => {
                if is_role_arn(s) && !out.contains(s) {
                    out.push(s.clone());
                }
            }
            _ => collect_in(v, depth + 1, out),
        }
    }
}

/// [`collect`] inside a member's value (an object, or a list of them).
fn collect_in(v: &Value, depth: usize, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => collect(m, depth, out),
        Value::Array(items) if depth <= MAX_DEPTH => {
            for item in items {
                collect_in(item, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// `arn:<partition>:iam::<account>:role/...`.
fn is_role_arn(s: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    parts.next() == Some("arn")
        && parts.next().is_some()
        && parts.next() == Some("iam")
        && parts.next() == Some("")
        && parts.next().is_some()
        && parts.next().is_some_and(|r| r.starts_with("role/"))
}

/// The roles `operation` of `service` passes with these input fields, and the service they
/// are passed to; `None` when it passes none.
pub fn passed(
    service: &str,
    operation: &str,
    fields: &Map<String, Value>,
) -> Option<(&'static str, Vec<String>)> {
    let to = passed_to(service, operation)?;
    let mut roles = Vec::new();
    collect(fields, 0, &mut roles);
    (!roles.is_empty()).then_some((to, roles))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::enforce::object as fields;

    const R: &str = "arn:aws:iam::000000000000:role/exec";

    #[test]
    fn roles_are_found_where_each_model_puts_them() {
        assert_eq!(
            passed("lambda", "CreateFunction", &fields(json!({"Role": R}))),
            Some(("lambda.amazonaws.com", vec![R.to_string()]))
        );
        let targets = json!({"Targets": [{"Id": "a", "Arn": "x", "RoleArn": R},
                                          {"Id": "b", "RoleArn": R}]});
        assert_eq!(
            passed("events", "PutTargets", &fields(targets)),
            Some(("events.amazonaws.com", vec![R.to_string()]))
        );
        let firehose = json!({"ExtendedS3DestinationConfiguration": {"RoleARN": R,
            "ProcessingConfiguration": {"Processors": []}}});
        assert_eq!(
            passed("firehose", "CreateDeliveryStream", &fields(firehose)).map(|(_, r)| r),
            Some(vec![R.to_string()])
        );
        // Not a role, not an operation that passes one, or nothing passed.
        assert_eq!(
            passed(
                "lambda",
                "CreateFunction",
                &fields(json!({"Role": "arn:aws:iam::000000000000:user/u"}))
            ),
            None
        );
        assert_eq!(
            passed("lambda", "Invoke", &fields(json!({"Role": R}))),
            None
        );
        assert_eq!(
            passed("events", "PutRule", &fields(json!({"Name": "r"}))),
            None
        );
    }

    #[test]
    fn deep_bodies_are_searched_only_so_far() {
        let mut v = json!({"RoleArn": R});
        for _ in 0..20 {
            v = json!({"x": v});
        }
        assert_eq!(passed("firehose", "UpdateDestination", &fields(v)), None);
    }
}

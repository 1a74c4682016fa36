//! Validating a JSON-protocol input against its operation's input shape, as AWS's JSON services
//! (SSM, DynamoDB, KMS, ...) do before an operation runs: required members, enums, lengths of
//! strings, lists and maps, and numeric ranges. The message is AWS's:
//!
//! `2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must
//! not be null; Value 'Strin' at 'type' failed to satisfy constraint: Member must satisfy enum
//! value set: [String, StringList, SecureString]`
//!
//! Paths are lower-camel member names joined by `.`; list elements are `.<n>.member` (from 1),
//! map values `.<key>.member`. Types are the JSON parser's business (a string where a number is
//! due is a `SerializationException` there), so a value of the wrong type is skipped here.
//! The walk is iterative and bounded: the input's depth and size are the client's.

use serde_json::Value;

use super::model::{ServiceModel, Shape};

/// Inputs nested deeper than this are not descended into (DynamoDB allows 32 levels of
/// attribute values; the parser bounds depth at 128 before this runs).
const MAX_DEPTH: usize = 64;
/// At most this many values are visited per request (a 16 MiB body cannot make it work more).
const MAX_VISITS: usize = 200_000;
/// At most this many violations are reported.
const MAX_REPORTED: usize = 10;

/// The violations of one input, in AWS's wording; empty when it is valid.
pub fn violations(model: &ServiceModel, operation: &str, input: &Value) -> Vec<String> {
    violations_to_depth(model, operation, input, MAX_DEPTH)
}

/// [`violations`], descending at most `depth` levels below the input (1: its members only).
/// DynamoDB checks nested values with messages of its own (`Too many items requested for the
/// BatchGetItem call`), which its handlers give; the model's generic ones apply to the top.
pub fn violations_to_depth(
    model: &ServiceModel,
    operation: &str,
    input: &Value,
    depth_limit: usize,
) -> Vec<String> {
    let Some(op) = model.operations.get(operation) else {
        return Vec::new();
    };
    let Some(shape_name) = op.input.as_ref().map(|r| r.shape.as_str()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // (shape name, value, path, depth)
    let mut stack: Vec<(&str, &Value, String, usize)> = vec![(shape_name, input, String::new(), 0)];
    let mut visits = 0;
    while let Some((name, value, path, depth)) = stack.pop() {
        visits += 1;
        if visits > MAX_VISITS || out.len() >= MAX_REPORTED {
            break;
        }
        let Some(shape) = model.shapes.get(name) else {
            continue;
        };
        check_scalar(shape, value, &path, &mut out);
        if depth >= depth_limit.min(MAX_DEPTH) {
            continue;
        }
        match (shape.kind.as_str(), value) {
            ("structure", Value::Object(fields)) => {
                // Required members first, in the model's order, then the members' own checks.
                for req in &shape.required {
                    if fields.get(req).is_none_or(Value::is_null) {
                        out.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            join(&path, req)
                        ));
                    }
                }
                for (member, m) in shape.members.iter().rev() {
                    if let Some(v) = fields.get(member).filter(|v| !v.is_null()) {
                        stack.push((&m.shape, v, join(&path, member), depth + 1));
                    }
                }
            }
            ("list", Value::Array(items)) => {
                if let Some(m) = &shape.member {
                    for (i, v) in items.iter().enumerate().rev() {
                        stack.push((&m.shape, v, format!("{path}.{}.member", i + 1), depth + 1));
                    }
                }
            }
            ("map", Value::Object(entries)) => {
                if let Some(m) = &shape.value {
                    for (k, v) in entries.iter().rev() {
                        stack.push((&m.shape, v, format!("{path}.{k}.member"), depth + 1));
                    }
                }
            }
            _ => {}
        }
    }
    out.truncate(MAX_REPORTED);
    out
}

/// AWS's message for a list of violations.
pub fn message(violations: &[String]) -> String {
    let n = violations.len();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        violations.join("; ")
    )
}

fn join(path: &str, member: &str) -> String {
    let mut chars = member.chars();
    let camel: String = chars
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    if path.is_empty() {
        camel
    } else {
        format!("{path}.{camel}")
    }
}

fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .take(20)
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    };
    // A value is quoted whole by AWS; a huge one is cut here so the message stays bounded.
    let cut: String = text.chars().take(256).collect();
    format!("'{cut}'")
}

fn check_scalar(shape: &Shape, value: &Value, path: &str, out: &mut Vec<String>) {
    let mut fail = |constraint: String| {
        out.push(format!(
            "Value {} at '{path}' failed to satisfy constraint: {constraint}",
            shown(value)
        ))
    };
    let length = match (shape.kind.as_str(), value) {
        ("string", Value::String(s)) => Some(s.chars().count()),
        ("list", Value::Array(a)) => Some(a.len()),
        ("map", Value::Object(m)) => Some(m.len()),
        _ => None,
    };
    if let Some(len) = length {
        if let Some(max) = shape.max
            && len as f64 > max
        {
            fail(format!(
                "Member must have length less than or equal to {max}"
            ));
        } else if let Some(min) = shape.min
            && (len as f64) < min
        {
            fail(format!(
                "Member must have length greater than or equal to {min}"
            ));
        }
    }
    if let (Some(values), Value::String(s)) = (&shape.enum_values, value)
        && !values.iter().any(|v| v == s)
    {
        fail(format!(
            "Member must satisfy enum value set: [{}]",
            values.join(", ")
        ));
    }
    if matches!(shape.kind.as_str(), "integer" | "long" | "float" | "double")
        && let Some(n) = value.as_f64()
    {
        if let Some(max) = shape.max
            && n > max
        {
            fail(format!(
                "Member must have value less than or equal to {max}"
            ));
        } else if let Some(min) = shape.min
            && n < min
        {
            fail(format!(
                "Member must have value greater than or equal to {min}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model;

    fn ssm(op: &str, input: Value) -> Vec<String> {
        violations(model::named("ssm").unwrap(), op, &input)
    }

    #[test]
    fn aws_wording_for_required_enum_length_and_range() {
        assert_eq!(
            ssm("PutParameter", json!({"Value": "v", "Type": "Strin"})),
            vec![
                "Value null at 'name' failed to satisfy constraint: Member must not be null",
                "Value 'Strin' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [String, StringList, SecureString]",
            ]
        );
        let long = "a".repeat(2049);
        let v = ssm("GetParameter", json!({ "Name": long }));
        assert_eq!(v.len(), 1);
        assert!(
            v[0].ends_with("Member must have length less than or equal to 2048"),
            "{v:?}"
        );
        let v = ssm(
            "GetParametersByPath",
            json!({"Path": "/a", "MaxResults": 11}),
        );
        assert!(
            v[0].contains("at 'maxResults'") && v[0].contains("less than or equal to 10"),
            "{v:?}"
        );
        assert!(ssm("GetParameter", json!({"Name": "/ok"})).is_empty());
        assert_eq!(
            message(&ssm("GetParameter", json!({}))),
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn nested_paths_name_list_elements_from_one() {
        let v = ssm(
            "AddTagsToResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/p", "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2"}]}),
        );
        assert_eq!(
            v,
            vec![
                "Value null at 'tags.2.member.value' failed to satisfy constraint: Member must not be null"
            ]
        );
    }

    #[test]
    fn numbers_print_as_aws_prints_them() {
        let ddb = model::named("dynamodb").unwrap();
        let v = violations(
            ddb,
            "ListTables",
            &json!({"Limit": 0, "ExclusiveStartTableName": "ab"}),
        );
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v.iter().any(|m| m.contains("'exclusiveStartTableName'")
                && m.contains("greater than or equal to 3"))
        );
        assert!(v.iter().any(
            |m| m.contains("Value '0' at 'limit'") && m.contains("greater than or equal to 1")
        ));
    }

    #[test]
    fn deep_and_wide_inputs_are_bounded() {
        // A DynamoDB attribute value as deep as the JSON parser lets through (128 levels; a
        // `Value` itself drops recursively, so deeper ones never exist here): walked without
        // recursion, bounded.
        let mut v = json!({"S": "x"});
        for _ in 0..60 {
            v = json!({ "L": [v] });
        }
        let ddb = model::named("dynamodb").unwrap();
        let _ = violations(ddb, "PutItem", &json!({"TableName": "t", "Item": {"a": v}}));
        let wide: Vec<Value> = (0..300_000).map(|_| json!({"Key": "k"})).collect();
        let out = ssm(
            "AddTagsToResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/p", "Tags": wide}),
        );
        assert!(out.len() <= MAX_REPORTED);
    }
}

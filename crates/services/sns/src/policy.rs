//! AddPermission and RemovePermission as edits of a topic's access policy: a statement whose
//! `Sid` is the label, allowing the accounts the actions on the topic.

use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;

use crate::invalid;

fn parse(policy: &str) -> Result<serde_json::Map<String, Value>, AwsError> {
    match serde_json::from_str::<Value>(policy) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid parameter: Policy: failed to parse JSON.")),
    }
}

fn statements(m: &mut serde_json::Map<String, Value>) -> &mut Vec<Value> {
    let entry = m.entry("Statement").or_insert_with(|| json!([]));
    if !entry.is_array() {
        let one = entry.take();
        *entry = if one.is_null() {
            json!([])
        } else {
            json!([one])
        };
    }
    match entry {
        Value::Array(a) => a,
        _ => unreachable!("made an array above"),
    }
}

pub fn add_statement(
    policy: &str,
    label: &str,
    topic_arn: &str,
    accounts: &[String],
    actions: &[String],
) -> Result<String, AwsError> {
    let mut m = parse(policy)?;
    let stmts = statements(&mut m);
    if stmts
        .iter()
        .any(|s| s.get("Sid").and_then(Value::as_str) == Some(label))
    {
        return Err(invalid("Invalid parameter: Statement already exists"));
    }
    let principals: Vec<Value> = accounts
        .iter()
        .map(|a| Value::String(format!("arn:aws:iam::{a}:root")))
        .collect();
    let actions: Vec<Value> = actions
        .iter()
        .map(|a| Value::String(format!("SNS:{a}")))
        .collect();
    let one = |v: Vec<Value>| {
        if v.len() == 1 {
            v.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(v)
        }
    };
    stmts.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one(principals)},
        "Action": one(actions),
        "Resource": topic_arn,
    }));
    Ok(Value::Object(m).to_string())
}

pub fn remove_statement(policy: &str, label: &str) -> Result<String, AwsError> {
    let mut m = parse(policy)?;
    let stmts = statements(&mut m);
    let before = stmts.len();
    stmts.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(label));
    if stmts.len() == before {
        return Err(invalid(
            "Invalid parameter: Statement with Sid ".to_string() + label + " does not exist",
        ));
    }
    Ok(Value::Object(m).to_string())
}

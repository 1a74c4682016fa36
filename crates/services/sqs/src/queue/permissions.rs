//! Queue permissions: AddPermission and RemovePermission, as labelled statements of the queue's
//! `Policy`.

use serde::Deserialize;
use serde_json::{Value, json};
use snapstack_engine::Partition;

use super::{arn, parse_url};
use crate::model::QueueRec;
use crate::{Out, Req, Sqs, SqsError};

#[derive(Deserialize, Default, Debug)]
pub struct AddPermissionInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "AWSAccountIds", default)]
    account_ids: Vec<String>,
    #[serde(rename = "Actions", default)]
    actions: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
pub struct RemovePermissionInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
}

/// Actions AddPermission may grant.
const PERMISSION_ACTIONS: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];
const MAX_PERMISSION_ITEMS: usize = 7;

fn label_error(label: &str, reason: &str) -> SqsError {
    SqsError::invalid_parameter(format!(
        "Value {label} for parameter Label is invalid. Reason: {reason}"
    ))
}

/// The statements of a queue's policy (an empty list when it has none).
fn policy_statements(q: &QueueRec) -> Vec<Value> {
    q.attributes
        .get("Policy")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|v| v.get("Statement").cloned())
        .and_then(|s| match s {
            Value::Array(a) => Some(a),
            Value::Object(_) => Some(vec![s]),
            _ => None,
        })
        .unwrap_or_default()
}

fn set_policy(q: &mut QueueRec, p: &Partition, statements: Vec<Value>) {
    if statements.is_empty() {
        q.attributes.remove("Policy");
        return;
    }
    let queue_arn = arn(p, &q.name);
    let policy = json!({
        "Version": "2012-10-17",
        "Id": format!("{queue_arn}/SQSDefaultPolicy"),
        "Statement": statements,
    });
    q.attributes.insert("Policy".into(), policy.to_string());
}

impl Sqs {
    /// AddPermission: a statement labelled `Label` in the queue's `Policy`.
    pub(crate) fn add_permission(
        &self,
        req: &Req<'_>,
        input: AddPermissionInput,
    ) -> Result<Out, SqsError> {
        let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
        if label.is_empty()
            || label.len() > 80
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(label_error(
                &label,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        if input.account_ids.is_empty() {
            return Err(SqsError::missing("AWSAccountIds"));
        }
        if input.actions.is_empty() {
            return Err(SqsError::missing("Actions"));
        }
        if input.account_ids.len() > MAX_PERMISSION_ITEMS
            || input.actions.len() > MAX_PERMISSION_ITEMS
        {
            return Err(SqsError::invalid_parameter(format!(
                "A permission names at most {MAX_PERMISSION_ITEMS} accounts and {MAX_PERMISSION_ITEMS} actions."
            )));
        }
        for a in &input.account_ids {
            if !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {a} for parameter AWSAccountIds is invalid."
                )));
            }
        }
        for a in &input.actions {
            if !PERMISSION_ACTIONS.contains(&a.as_str()) {
                return Err(SqsError::invalid_parameter(format!(
                    "Value SQS:{a} for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
                )));
            }
        }
        let url = input.queue_url.clone();
        let (p, _) = parse_url(req, url.as_deref().unwrap_or(""))?;
        self.edit_queue(req, url, |q| {
            let mut statements = policy_statements(q);
            if statements.iter().any(|s| s["Sid"] == label.as_str()) {
                return Err(label_error(&label, "Already exists."));
            }
            let principals: Vec<String> = input
                .account_ids
                .iter()
                .map(|a| format!("arn:aws:iam::{a}:root"))
                .collect();
            let actions: Vec<String> = input.actions.iter().map(|a| format!("SQS:{a}")).collect();
            statements.push(json!({
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": actions,
                "Resource": arn(&p, &q.name),
            }));
            set_policy(q, &p, statements);
            Ok(())
        })
    }

    pub(crate) fn remove_permission(
        &self,
        req: &Req<'_>,
        input: RemovePermissionInput,
    ) -> Result<Out, SqsError> {
        let label = input.label.ok_or_else(|| SqsError::missing("Label"))?;
        let url = input.queue_url.clone();
        let (p, _) = parse_url(req, url.as_deref().unwrap_or(""))?;
        self.edit_queue(req, url, |q| {
            let mut statements = policy_statements(q);
            let before = statements.len();
            statements.retain(|s| s["Sid"] != label.as_str());
            if statements.len() == before {
                return Err(label_error(&label, "can't find label."));
            }
            set_policy(q, &p, statements);
            Ok(())
        })
    }
}

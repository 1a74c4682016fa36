//! Targets of a rule: PutTargets (per-entry failures), RemoveTargets, ListTargetsByRule.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::model::{self, EventsRecord, Target};
use crate::rules::rule_missing;
use crate::{Answer, Events, Input, bus_name, str_of, validation};

/// Most targets a rule may have (AWS's quota).
pub const MAX_TARGETS: usize = 5;

/// Why a target cannot be stored, as a per-entry failure (code, message).
fn check_target(t: &Value) -> Result<(), (String, String)> {
    let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
    let arn = t.get("Arn").and_then(Value::as_str).unwrap_or_default();
    let fail = |m: String| Err(("ValidationException".to_string(), m));
    let Some(a) = crate::parse_arn(arn).filter(|a| !a.service.is_empty() && !a.resource.is_empty())
    else {
        return fail(format!(
            "Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
        ));
    };
    if a.service == "sqs"
        && a.resource.ends_with(".fifo")
        && t.pointer("/SqsParameters/MessageGroupId")
            .and_then(Value::as_str)
            .is_none()
    {
        return fail(format!(
            "Parameter(s) SqsParameters must be specified for target: {id}."
        ));
    }
    if let Some(dlq) = t.pointer("/DeadLetterConfig/Arn").and_then(Value::as_str)
        && crate::parse_arn(dlq).is_none_or(|d| d.service != "sqs")
    {
        return fail(format!(
            "Parameter DeadLetterConfig.Arn is not valid for target: {id}."
        ));
    }
    Ok(())
}

/// Request-level checks of one target (AWS refuses the whole call for these).
fn check_input(t: &Value) -> Result<(), AwsError> {
    let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
    let given = ["Input", "InputPath", "InputTransformer"]
        .iter()
        .filter(|k| t.get(**k).is_some())
        .count();
    if given > 1 {
        return Err(validation(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        )));
    }
    if let Some(i) = t.get("Input").and_then(Value::as_str)
        && serde_json::from_str::<Value>(i).is_err()
    {
        return Err(validation(format!(
            "Input for target {id} is not valid JSON text."
        )));
    }
    if let Some(p) = t.get("InputPath").and_then(Value::as_str)
        && !crate::transform::valid_path(p)
    {
        return Err(validation(format!("InputPath for target {id} is invalid.")));
    }
    if let Some(m) = t
        .get("InputTransformer")
        .and_then(|tr| tr.get("InputPathsMap"))
        .and_then(Value::as_object)
    {
        for (k, v) in m {
            if k.starts_with("aws.events") {
                return Err(validation(format!(
                    "InputTransformer for target {id} is invalid: key {k} is reserved."
                )));
            }
            if !v.as_str().is_some_and(crate::transform::valid_path) {
                return Err(validation(format!(
                    "InputTransformer for target {id} is invalid: {k} is not a valid JSON path."
                )));
            }
        }
    }
    Ok(())
}

impl Events {
    pub(crate) fn put_targets(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "Rule").unwrap_or_default().to_string();
        let bus = bus_name(str_of(input, "EventBusName"));
        let given: Vec<Value> = input
            .get("Targets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in &given {
            check_input(t)?;
        }
        let key = model::rule_key(p, &bus, &name);
        let (r, v) = self.store.write(|txn| {
            let mut r = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => (**r).clone(),
                _ => return Err(rule_missing(&name, &bus)),
            };
            let mut failed = Vec::new();
            let mut targets = r.targets.clone();
            for t in &given {
                let id = t
                    .get("Id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if let Err((code, message)) = check_target(t) {
                    failed
                        .push(json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": message}));
                    continue;
                }
                let arn = t
                    .get("Arn")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let new = Target {
                    id: id.clone(),
                    arn,
                    json: t.to_string(),
                };
                match targets.iter_mut().find(|x| x.id == id) {
                    Some(x) => *x = new,
                    None => targets.push(new),
                }
            }
            if targets.len() > MAX_TARGETS {
                return Err(AwsError::new(
                    "LimitExceededException",
                    "The requested resource exceeds the maximum number allowed.",
                ));
            }
            r.targets = targets;
            txn.insert(key.clone(), EventsRecord::Rule(Box::new(r)));
            Ok(failed)
        });
        let failed = r?;
        Ok(Answer::wrote(
            json!({"FailedEntryCount": failed.len(), "FailedEntries": failed}),
            v,
        ))
    }

    pub(crate) fn remove_targets(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "Rule").unwrap_or_default().to_string();
        let bus = bus_name(str_of(input, "EventBusName"));
        let ids: Vec<String> = input
            .get("Ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let key = model::rule_key(p, &bus, &name);
        let (r, v) = self.store.write(|txn| {
            let mut r = match txn.get(&key) {
                Some(EventsRecord::Rule(r)) => (**r).clone(),
                _ => return Err(rule_missing(&name, &bus)),
            };
            r.targets.retain(|t| !ids.contains(&t.id));
            txn.insert(key.clone(), EventsRecord::Rule(Box::new(r)));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(
            json!({"FailedEntryCount": 0, "FailedEntries": []}),
            v,
        ))
    }

    pub(crate) fn list_targets_by_rule(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Rule").unwrap_or_default();
        let bus = bus_name(str_of(input, "EventBusName"));
        let r = match self.store.snapshot().get(&model::rule_key(p, &bus, name)) {
            Some(EventsRecord::Rule(r)) => (**r).clone(),
            _ => return Err(rule_missing(name, &bus)),
        };
        let items = r
            .targets
            .iter()
            .filter_map(|t| serde_json::from_str::<Value>(&t.json).ok())
            .collect();
        crate::paginate(items, input, "Limit", "Targets")
    }
}

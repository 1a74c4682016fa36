//! A table's ARN names the table wherever its name does (`TableName` of table and item
//! operations, the tables of transactions, the `RequestItems` of batches), as DynamoDB accepts
//! both. ARNs of the caller's account and region are read as the table's name before an
//! operation runs; other ARNs are left as given (and name no table here).

use serde_json::{Map, Value};
use snapstack_service::RequestContext;

/// Operations whose `TableName` names a table to create: an ARN is no name there.
const CREATES: &[&str] = &[
    "CreateTable",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
];

fn name_of(prefix: &str, v: &str) -> Option<String> {
    v.strip_prefix(prefix)
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .map(str::to_string)
}

/// Whether any place that names a table holds an ARN at all (checked before the account's ARN
/// prefix is even formatted: the common request names tables by name).
fn mentions_arn(body: &Value) -> bool {
    let arn = |v: &Value| v.as_str().is_some_and(|t| t.starts_with("arn:"));
    body.get("TableName").is_some_and(arn)
        || body
            .get("TransactItems")
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.iter().any(|i| {
                    i.as_object()
                        .is_some_and(|m| m.values().any(|a| a.get("TableName").is_some_and(arn)))
                })
            })
        || body
            .get("RequestItems")
            .and_then(Value::as_object)
            .is_some_and(|m| m.keys().any(|k| k.starts_with("arn:")))
}

/// The request with its table ARNs read as names, or `None` when it names none (the common
/// case costs no copy).
pub(crate) fn names_for_arns(ctx: &RequestContext, op: &str, body: &Value) -> Option<Value> {
    if CREATES.contains(&op) || !mentions_arn(body) {
        return None;
    }
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", ctx.region(), ctx.account());
    let top = body
        .get("TableName")
        .and_then(Value::as_str)
        .and_then(|t| name_of(&prefix, t));
    let transact = body
        .get("TransactItems")
        .and_then(Value::as_array)
        .is_some_and(|items| {
            items.iter().any(|i| {
                i.as_object().is_some_and(|m| {
                    m.values().any(|a| {
                        a.get("TableName")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.starts_with(&prefix))
                    })
                })
            })
        });
    let batch = body
        .get("RequestItems")
        .and_then(Value::as_object)
        .is_some_and(|m| m.keys().any(|k| k.starts_with(&prefix)));
    if top.is_none() && !transact && !batch {
        return None;
    }
    let mut out = body.clone();
    if let Some(name) = top {
        out["TableName"] = Value::String(name);
    }
    if transact && let Some(items) = out.get_mut("TransactItems").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(m) = item.as_object_mut() {
                for action in m.values_mut() {
                    if let Some(name) = action
                        .get("TableName")
                        .and_then(Value::as_str)
                        .and_then(|t| name_of(&prefix, t))
                    {
                        action["TableName"] = Value::String(name);
                    }
                }
            }
        }
    }
    if batch && let Some(Value::Object(m)) = out.get_mut("RequestItems") {
        let renamed: Map<String, Value> = std::mem::take(m)
            .into_iter()
            .map(|(k, v)| (name_of(&prefix, &k).unwrap_or(k), v))
            .collect();
        *m = renamed;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn own_arns_become_names() {
        let ctx = RequestContext::from_scope(None);
        let arn = format!(
            "arn:aws:dynamodb:{}:{}:table/t",
            ctx.region(),
            ctx.account()
        );
        assert_eq!(
            names_for_arns(&ctx, "GetItem", &json!({"TableName": "t"})),
            None
        );
        assert_eq!(
            names_for_arns(&ctx, "GetItem", &json!({"TableName": arn})).unwrap(),
            json!({"TableName": "t"})
        );
        assert_eq!(
            names_for_arns(&ctx, "CreateTable", &json!({"TableName": arn})),
            None
        );
        let tx = json!({"TransactItems": [{"Put": {"TableName": arn, "Item": {}}}]});
        assert_eq!(
            names_for_arns(&ctx, "TransactWriteItems", &tx).unwrap()["TransactItems"][0]["Put"]["TableName"],
            "t"
        );
        let b = json!({"RequestItems": {arn.clone(): {"Keys": []}}});
        assert!(
            names_for_arns(&ctx, "BatchGetItem", &b).unwrap()["RequestItems"]
                .get("t")
                .is_some()
        );
        // Another account's table is not read as the caller's.
        let other = json!({"TableName": "arn:aws:dynamodb:us-east-1:999999999999:table/t"});
        assert_eq!(names_for_arns(&ctx, "GetItem", &other), None);
    }
}

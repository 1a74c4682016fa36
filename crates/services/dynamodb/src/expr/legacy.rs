//! DynamoDB's legacy (pre-expression) parameters, translated into the expression types so one
//! evaluator serves both: `Expected` + `ConditionalOperator`, `QueryFilter` / `ScanFilter`,
//! `KeyConditions`, `AttributeUpdates` and `AttributesToGet`.
//!
//! Names in legacy parameters are literal top-level attribute names (no placeholders, no
//! reserved-word check, no document paths).

use serde_json::Value as J;

use super::*;
use crate::value::{compare, value_from_json};

const INVALID: &str = "One or more parameter values were invalid";
/// The `ComparisonOperator`s of the legacy parameters.
pub const OPERATORS: [&str; 13] = [
    "EQ",
    "NE",
    "LE",
    "LT",
    "GE",
    "GT",
    "NOT_NULL",
    "NULL",
    "CONTAINS",
    "NOT_CONTAINS",
    "BEGINS_WITH",
    "IN",
    "BETWEEN",
];

fn invalid(msg: impl fmt::Display) -> ExprError {
    ExprError(format!("{INVALID}: {msg}"))
}

fn object<'v>(v: &'v J, what: &str) -> Result<&'v serde_json::Map<String, J>, ExprError> {
    v.as_object()
        .ok_or_else(|| ExprError(format!("{what} must be a map")))
}

fn value_list(c: &serde_json::Map<String, J>) -> Result<Vec<AttributeValue>, ExprError> {
    match c.get("AttributeValueList") {
        None | Some(J::Null) => Ok(Vec::new()),
        Some(J::Array(a)) => a
            .iter()
            .map(|v| value_from_json(v).map_err(|e| ExprError(e.0)))
            .collect(),
        Some(_) => Err(ExprError("AttributeValueList must be a list".to_string())),
    }
}

fn operator(c: &serde_json::Map<String, J>, name: &str) -> Result<Option<String>, ExprError> {
    match c.get("ComparisonOperator") {
        None | Some(J::Null) => Ok(None),
        Some(J::String(op)) if OPERATORS.contains(&op.as_str()) => Ok(Some(op.clone())),
        Some(other) => Err(ExprError(format!(
            "1 validation error detected: Value '{}' at 'comparisonOperator' of attribute '{name}' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]",
            other.as_str().unwrap_or_default()
        ))),
    }
}

fn is_scalar(v: &AttributeValue) -> bool {
    matches!(
        v,
        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
    )
}

/// One `attribute OP values` condition as a node, with DynamoDB's checks of the value list.
/// Where a legacy condition comes from: `Expected` and the filter-shaped maps (`KeyConditions`,
/// `QueryFilter`, `ScanFilter`) word a wrong value count differently.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Expected,
    Filter,
}

fn comparison(
    name: &str,
    op: &str,
    values: Vec<AttributeValue>,
    source: Source,
) -> Result<Node, ExprError> {
    let path = Path::attr(name);
    let count_error = || {
        match source {
        Source::Expected => invalid(format_args!(
            "Invalid number of argument(s) for the {op} ComparisonOperator"
        )),
        Source::Filter => ExprError(
            "The attempted filter operation is not supported for the provided filter argument count"
                .to_string(),
        ),
    }
    };
    let count = |n: usize| {
        if values.len() == n {
            Ok(())
        } else {
            Err(count_error())
        }
    };
    let not_valid_for = |v: &AttributeValue| {
        invalid(format_args!(
            "ComparisonOperator {op} is not valid for {} AttributeValue type",
            v.type_code()
        ))
    };
    let pv = |v: AttributeValue| Operand::Value(v);
    Ok(match op {
        "NULL" | "NOT_NULL" => {
            count(0)?;
            if op == "NULL" {
                Node::NotExists(path)
            } else {
                Node::Exists(path)
            }
        }
        "EQ" | "NE" => {
            count(1)?;
            let v = values
                .into_iter()
                .next()
                .ok_or_else(|| invalid("missing value"))?;
            let cmp = if op == "EQ" { CmpOp::Eq } else { CmpOp::Ne };
            Node::Cmp(Operand::Path(path), cmp, pv(v))
        }
        "LE" | "LT" | "GE" | "GT" | "CONTAINS" | "NOT_CONTAINS" | "BEGINS_WITH" => {
            count(1)?;
            let v = values
                .into_iter()
                .next()
                .ok_or_else(|| invalid("missing value"))?;
            let ok = match op {
                "BEGINS_WITH" => matches!(v, AttributeValue::S(_) | AttributeValue::B(_)),
                _ => is_scalar(&v),
            };
            if !ok {
                return Err(not_valid_for(&v));
            }
            let p = Operand::Path(path.clone());
            match op {
                "LE" => Node::Cmp(p, CmpOp::Le, pv(v)),
                "LT" => Node::Cmp(p, CmpOp::Lt, pv(v)),
                "GE" => Node::Cmp(p, CmpOp::Ge, pv(v)),
                "GT" => Node::Cmp(p, CmpOp::Gt, pv(v)),
                "CONTAINS" => Node::Contains(p, pv(v)),
                // Absence of a value needs an attribute to look in.
                "NOT_CONTAINS" => Node::And(vec![
                    Node::Exists(path),
                    Node::Not(Box::new(Node::Contains(p, pv(v)))),
                ]),
                _ => Node::BeginsWith(p, pv(v)),
            }
        }
        "IN" => {
            if values.is_empty() {
                return Err(count_error());
            }
            if let Some(bad) = values.iter().find(|v| !is_scalar(v)) {
                return Err(not_valid_for(bad));
            }
            if values
                .iter()
                .any(|v| v.type_code() != values[0].type_code())
            {
                return Err(invalid(
                    "AttributeValues inside AttributeValueList must be of same type",
                ));
            }
            Node::In(Operand::Path(path), values.into_iter().map(pv).collect())
        }
        _ => {
            // BETWEEN
            count(2)?;
            let mut it = values.into_iter();
            let (Some(lo), Some(hi)) = (it.next(), it.next()) else {
                return Err(invalid("missing value"));
            };
            for v in [&lo, &hi] {
                if !is_scalar(v) {
                    return Err(not_valid_for(v));
                }
            }
            if lo.type_code() != hi.type_code() {
                return Err(invalid(
                    "AttributeValues inside AttributeValueList must be of same type",
                ));
            }
            if compare(&lo, &hi) == Some(std::cmp::Ordering::Greater) {
                return Err(ExprError(
                    "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
                        .to_string(),
                ));
            }
            Node::Between(Operand::Path(path), pv(lo), pv(hi))
        }
    })
}

/// Joins conditions with `ConditionalOperator` (AND when absent) into one flat n-ary node: a
/// map of any size gives a tree two levels deep (`NOT_CONTAINS` adds two), so evaluating or
/// dropping it never recurses once per entry (a 4,000-entry map once overflowed the stack).
fn join(nodes: Vec<Node>, conditional_operator: Option<&str>) -> Result<Option<Node>, ExprError> {
    let or = match conditional_operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(ExprError(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
            )));
        }
    };
    Ok(match nodes.len() {
        0 => None,
        1 => nodes.into_iter().next(),
        _ if or => Some(Node::Or(nodes)),
        _ => Some(Node::And(nodes)),
    })
}

/// An always-true condition (for an empty legacy map).
fn always() -> Node {
    Node::Const(true)
}

/// The legacy `Expected` map (PutItem, UpdateItem, DeleteItem) with its `ConditionalOperator`.
pub fn condition_from_expected(
    expected: &J,
    conditional_operator: Option<&str>,
) -> Result<Condition, ExprError> {
    let map = object(expected, "Expected")?;
    let mut nodes = Vec::with_capacity(map.len());
    for (name, e) in map {
        let e = object(e, "ExpectedAttributeValue")?;
        let op = operator(e, name)?;
        let value = match e.get("Value") {
            None | Some(J::Null) => None,
            Some(v) => Some(value_from_json(v).map_err(|x| ExprError(x.0))?),
        };
        let exists = match e.get("Exists") {
            None | Some(J::Null) => None,
            Some(J::Bool(b)) => Some(*b),
            Some(_) => return Err(ExprError("Exists must be a boolean".to_string())),
        };
        let has_list = e.get("AttributeValueList").is_some_and(|v| !v.is_null());
        let attr_err = |msg: &str| invalid(format_args!("{msg} for Attribute: {name}"));
        if let Some(op) = op {
            if exists.is_some() {
                return Err(attr_err(
                    "Exists and ComparisonOperator cannot be used together",
                ));
            }
            if value.is_some() && has_list {
                return Err(attr_err(
                    "Value and AttributeValueList cannot be used together",
                ));
            }
            // A Value stands for a one-element AttributeValueList.
            let values = match value {
                Some(v) => vec![v],
                None => value_list(e)?,
            };
            if values.is_empty() && op != "NULL" && op != "NOT_NULL" {
                return Err(invalid(format_args!(
                    "Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {name}"
                )));
            }
            nodes.push(comparison(name, &op, values, Source::Expected)?);
            continue;
        }
        if has_list {
            return Err(attr_err(if value.is_some() {
                "Value and AttributeValueList cannot be used together"
            } else {
                "AttributeValueList can only be used with a ComparisonOperator"
            }));
        }
        nodes.push(match (exists, value) {
            (Some(true) | None, Some(v)) => Node::Cmp(
                Operand::Path(Path::attr(name)),
                CmpOp::Eq,
                Operand::Value(v),
            ),
            (None, None) => return Err(attr_err("Value must be provided when Exists is null")),
            (Some(true), None) => {
                return Err(attr_err("Value must be provided when Exists is true"));
            }
            (Some(false), Some(_)) => {
                return Err(attr_err("Value cannot be used when Exists is false"));
            }
            (Some(false), None) => Node::NotExists(Path::attr(name)),
        });
    }
    Ok(Condition {
        root: join(nodes, conditional_operator)?.unwrap_or_else(always),
    })
}

/// The legacy `QueryFilter` / `ScanFilter` map with its `ConditionalOperator`.
pub fn condition_from_filter(
    filter: &J,
    conditional_operator: Option<&str>,
) -> Result<Condition, ExprError> {
    let map = object(filter, "Filter")?;
    let mut nodes = Vec::with_capacity(map.len());
    for (name, c) in map {
        let c = object(c, "Condition")?;
        let Some(op) = operator(c, name)? else {
            return Err(ExprError(format!(
                "1 validation error detected: Value null at 'comparisonOperator' of attribute '{name}' failed to satisfy constraint: Member must not be null"
            )));
        };
        nodes.push(comparison(name, &op, value_list(c)?, Source::Filter)?);
    }
    Ok(Condition {
        root: join(nodes, conditional_operator)?.unwrap_or_else(always),
    })
}

/// The legacy `KeyConditions` map of a Query, against the key schema queried.
pub fn key_condition_from_legacy(
    conditions: &J,
    hash_key: &str,
    range_key: Option<&str>,
) -> Result<KeyCondition, ExprError> {
    let map = object(conditions, "KeyConditions")?;
    if map.is_empty() || map.len() > 2 {
        return Err(ExprError(
            "Conditions can be of length 1 or 2 only".to_string(),
        ));
    }
    let mut parsed = Vec::with_capacity(map.len());
    for (name, c) in map {
        let c = object(c, "Condition")?;
        let Some(op) = operator(c, name)? else {
            return Err(ExprError(format!(
                "1 validation error detected: Value null at 'comparisonOperator' of attribute '{name}' failed to satisfy constraint: Member must not be null"
            )));
        };
        let node = comparison(name, &op, value_list(c)?, Source::Filter)?;
        parsed.push((name.clone(), op, node));
    }
    let missed = |element: &str| {
        ExprError(format!(
            "Query condition missed key schema element {element}"
        ))
    };
    if !map.contains_key(hash_key) {
        return Err(missed(hash_key));
    }
    let not_indexable =
        || ExprError("Attempted conditional constraint is not an indexable operation".to_string());
    let mut hash = None;
    let mut range = None;
    for (name, op, node) in parsed {
        let key_op = matches!(
            op.as_str(),
            "EQ" | "LE" | "LT" | "GE" | "GT" | "BEGINS_WITH" | "BETWEEN"
        );
        if name == hash_key {
            if !key_op {
                return Err(not_indexable());
            }
            match node {
                Node::Cmp(_, CmpOp::Eq, Operand::Value(v)) => hash = Some(v),
                _ => return Err(ExprError("Query key condition not supported".to_string())),
            }
        } else if Some(name.as_str()) == range_key {
            if !key_op {
                return Err(not_indexable());
            }
            let cond = match node {
                Node::Cmp(_, op, Operand::Value(v)) => match op {
                    CmpOp::Eq => RangeCond::Eq(v),
                    CmpOp::Lt => RangeCond::Lt(v),
                    CmpOp::Le => RangeCond::Le(v),
                    CmpOp::Gt => RangeCond::Gt(v),
                    CmpOp::Ge => RangeCond::Ge(v),
                    CmpOp::Ne => return Err(not_indexable()),
                },
                Node::Between(_, Operand::Value(lo), Operand::Value(hi)) => {
                    RangeCond::Between(lo, hi)
                }
                Node::BeginsWith(_, Operand::Value(v)) => RangeCond::BeginsWith(v),
                _ => return Err(not_indexable()),
            };
            range = Some((name, cond));
        } else {
            return Err(missed(range_key.unwrap_or(hash_key)));
        }
    }
    let Some(hash_value) = hash else {
        return Err(missed(hash_key));
    };
    Ok(KeyCondition {
        hash_name: hash_key.to_string(),
        hash_value,
        range,
    })
}

/// The legacy `AttributeUpdates` map of UpdateItem.
pub fn update_from_attribute_updates(updates: &J) -> Result<Update, ExprError> {
    let map = object(updates, "AttributeUpdates")?;
    let mut u = Update {
        legacy: true,
        ..Update::default()
    };
    for (name, a) in map {
        let a = object(a, "AttributeValueUpdate")?;
        let action = match a.get("Action") {
            None | Some(J::Null) => "PUT",
            Some(J::String(s)) if ["PUT", "ADD", "DELETE"].contains(&s.as_str()) => s.as_str(),
            Some(other) => {
                return Err(ExprError(format!(
                    "1 validation error detected: Value '{}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]",
                    other.as_str().unwrap_or_default()
                )));
            }
        };
        let value = match a.get("Value") {
            None | Some(J::Null) => None,
            Some(v) => Some(value_from_json(v).map_err(|x| ExprError(x.0))?),
        };
        let path = Path::attr(name.clone());
        match (action, value) {
            ("DELETE", None) => u.remove.push(path),
            (_, None) => {
                return Err(invalid(
                    "Only DELETE action is allowed when no attribute value is specified",
                ));
            }
            ("PUT", Some(v)) => u.set.push((path, SetValue::Operand(SetOperand::Value(v)))),
            ("ADD", Some(v)) => {
                if !matches!(
                    v,
                    AttributeValue::N(_)
                        | AttributeValue::Ss(_)
                        | AttributeValue::Ns(_)
                        | AttributeValue::Bs(_)
                        | AttributeValue::L(_)
                ) {
                    return Err(invalid(format_args!(
                        "ADD action is not supported for the type {}",
                        v.type_code()
                    )));
                }
                u.add.push((path, v));
            }
            (_, Some(v)) => {
                if !matches!(
                    v,
                    AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                ) {
                    return Err(invalid(format_args!(
                        "DELETE action with value is not supported for the type {}",
                        v.type_code()
                    )));
                }
                u.delete.push((path, v));
            }
        }
    }
    Ok(u)
}

/// The legacy `AttributesToGet` list as projection paths.
pub fn paths_from_attributes_to_get(names: &J) -> Result<Vec<Path>, ExprError> {
    let Some(list) = names.as_array() else {
        return Err(ExprError("AttributesToGet must be a list".to_string()));
    };
    let mut out: Vec<Path> = Vec::with_capacity(list.len());
    for n in list {
        let Some(n) = n.as_str() else {
            return Err(ExprError(
                "AttributesToGet must be a list of strings".to_string(),
            ));
        };
        if out.iter().any(|p| p.top == n) {
            return Err(invalid(format_args!(
                "Duplicate value in attribute name: {n}"
            )));
        }
        out.push(Path::attr(n));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Number, item_from_json, item_to_json};
    use serde_json::json;

    fn item() -> Item {
        item_from_json(&json!({
            "pk": {"S": "p"}, "n": {"N": "5"}, "s": {"S": "hello"}, "tags": {"SS": ["a", "b"]},
            "l": {"L": [{"S": "a"}, {"N": "1"}]}, "nul": {"NULL": true}
        }))
        .unwrap()
    }

    fn filter(f: serde_json::Value, op: Option<&str>) -> Result<bool, String> {
        let c = condition_from_filter(&f, op).map_err(|e| e.0)?;
        c.eval(&item()).map_err(|e| e.0)
    }

    fn one(name: &str, op: &str, values: serde_json::Value) -> serde_json::Value {
        json!({name: {"ComparisonOperator": op, "AttributeValueList": values}})
    }

    #[test]
    fn filters_evaluate() {
        let cases = [
            (one("n", "EQ", json!([{"N": "5.0"}])), true),
            (one("n", "EQ", json!([{"S": "5"}])), false),
            (one("n", "NE", json!([{"N": "4"}])), true),
            (one("absent", "NE", json!([{"N": "4"}])), true),
            (one("n", "LT", json!([{"N": "6"}])), true),
            (one("n", "LE", json!([{"N": "5"}])), true),
            (one("n", "GT", json!([{"N": "5"}])), false),
            (one("n", "GE", json!([{"N": "5"}])), true),
            (one("s", "GT", json!([{"N": "5"}])), false),
            (one("n", "NOT_NULL", json!([])), true),
            (one("nul", "NULL", json!([])), false),
            (one("absent", "NULL", json!([])), true),
            (one("s", "CONTAINS", json!([{"S": "ell"}])), true),
            (one("tags", "CONTAINS", json!([{"S": "a"}])), true),
            (one("l", "CONTAINS", json!([{"N": "1"}])), true),
            (one("tags", "NOT_CONTAINS", json!([{"S": "z"}])), true),
            (one("absent", "NOT_CONTAINS", json!([{"S": "z"}])), false),
            (one("s", "BEGINS_WITH", json!([{"S": "he"}])), true),
            (one("n", "IN", json!([{"N": "1"}, {"N": "5"}])), true),
            (one("n", "BETWEEN", json!([{"N": "1"}, {"N": "5"}])), true),
            (one("n", "BETWEEN", json!([{"N": "6"}, {"N": "9"}])), false),
            (json!({}), true),
        ];
        for (f, want) in cases {
            assert_eq!(filter(f.clone(), None), Ok(want), "{f}");
        }
        let two = json!({
            "n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}]},
            "s": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "nope"}]}
        });
        assert_eq!(filter(two.clone(), None), Ok(false));
        assert_eq!(filter(two.clone(), Some("AND")), Ok(false));
        assert_eq!(filter(two.clone(), Some("OR")), Ok(true));
        assert!(
            filter(two, Some("XOR"))
                .unwrap_err()
                .contains("conditionalOperator")
        );
    }

    #[test]
    fn invalid_filters() {
        let p = "One or more parameter values were invalid: ";
        let cases = [
            (one("n", "EQ", json!([])), "The attempted filter operation is not supported for the provided filter argument count".to_string()),
            (one("n", "NULL", json!([{"N": "1"}])), "The attempted filter operation is not supported for the provided filter argument count".to_string()),
            (one("n", "BETWEEN", json!([{"N": "1"}])), "The attempted filter operation is not supported for the provided filter argument count".to_string()),
            (one("n", "LT", json!([{"SS": ["a"]}])), format!("{p}ComparisonOperator LT is not valid for SS AttributeValue type")),
            (one("n", "BEGINS_WITH", json!([{"N": "1"}])), format!("{p}ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")),
            (one("n", "CONTAINS", json!([{"SS": ["a"]}])), format!("{p}ComparisonOperator CONTAINS is not valid for SS AttributeValue type")),
            (one("n", "BETWEEN", json!([{"N": "1"}, {"S": "a"}])), format!("{p}AttributeValues inside AttributeValueList must be of same type")),
            (one("n", "BETWEEN", json!([{"N": "9"}, {"N": "1"}])), "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound".to_string()),
            (one("n", "IN", json!([])), "The attempted filter operation is not supported for the provided filter argument count".to_string()),
            (one("n", "EQ", json!([{"N": "x"}])), "The parameter cannot be converted to a numeric value: x".to_string()),
        ];
        for (f, want) in cases {
            assert_eq!(filter(f.clone(), None).unwrap_err(), want, "{f}");
        }
        assert!(
            filter(one("n", "LIKE", json!([])), None)
                .unwrap_err()
                .contains("enum value set")
        );
    }

    #[test]
    fn expected() {
        let eval = |e: serde_json::Value| {
            condition_from_expected(&e, None)
                .map_err(|e| e.0)
                .map(|c| c.eval(&item()).unwrap())
        };
        assert_eq!(eval(json!({"n": {"Value": {"N": "5"}}})), Ok(true));
        assert_eq!(
            eval(json!({"n": {"Value": {"N": "5"}, "Exists": true}})),
            Ok(true)
        );
        assert_eq!(eval(json!({"n": {"Exists": false}})), Ok(false));
        assert_eq!(eval(json!({"absent": {"Exists": false}})), Ok(true));
        assert_eq!(
            eval(json!({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]}})),
            Ok(true)
        );
        let p = "One or more parameter values were invalid: ";
        assert_eq!(
            eval(json!({"n": {"Exists": true}})).unwrap_err(),
            format!("{p}Value must be provided when Exists is true for Attribute: n")
        );
        assert_eq!(
            eval(json!({"n": {}})).unwrap_err(),
            format!("{p}Value must be provided when Exists is null for Attribute: n")
        );
        let more = [
            (
                json!({"n": {"ComparisonOperator": "LT"}}),
                "Value or AttributeValueList must be used with ComparisonOperator: LT for Attribute: n",
            ),
            (
                json!({"n": {"ComparisonOperator": "NULL", "Value": {"N": "1"}}}),
                "Invalid number of argument(s) for the NULL ComparisonOperator",
            ),
            (
                json!({"n": {"Exists": true, "ComparisonOperator": "LT"}}),
                "Exists and ComparisonOperator cannot be used together for Attribute: n",
            ),
            (
                json!({"n": {"AttributeValueList": []}}),
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: n",
            ),
            (
                json!({"n": {"Value": {"S": "a"}, "AttributeValueList": []}}),
                "Value and AttributeValueList cannot be used together for Attribute: n",
            ),
        ];
        for (e, msg) in more {
            assert_eq!(eval(e.clone()).unwrap_err(), format!("{p}{msg}"), "{e}");
        }
        assert_eq!(
            eval(json!({"n": {"ComparisonOperator": "GT", "Value": {"N": "1"}}})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"n": {"ComparisonOperator": "NOT_NULL"}})),
            Ok(true)
        );
        assert_eq!(
            eval(json!({"n": {"Exists": false, "Value": {"N": "1"}}})).unwrap_err(),
            format!("{p}Value cannot be used when Exists is false for Attribute: n")
        );
        assert_eq!(
            eval(json!({"n": {"Value": {"N": "1"}, "ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}})).unwrap_err(),
            format!("{p}Value and AttributeValueList cannot be used together for Attribute: n")
        );
    }

    #[test]
    fn key_conditions() {
        let k = key_condition_from_legacy(
            &json!({
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]}
            }),
            "pk",
            Some("sk"),
        )
        .unwrap();
        assert_eq!(k.hash_value, AttributeValue::S("p".into()));
        let (name, rc) = k.range.unwrap();
        assert_eq!(name, "sk");
        assert!(rc.matches(&AttributeValue::N(Number::from(2))));
        let err = |v: serde_json::Value| {
            key_condition_from_legacy(&v, "pk", Some("sk"))
                .unwrap_err()
                .0
        };
        assert_eq!(err(json!({})), "Conditions can be of length 1 or 2 only");
        assert_eq!(
            err(json!({"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}})),
            "Query condition missed key schema element pk"
        );
        assert_eq!(
            err(json!({"pk": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "p"}]}})),
            "Query key condition not supported"
        );
        assert_eq!(
            err(json!({
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                "sk": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]}
            })),
            "Attempted conditional constraint is not an indexable operation"
        );
        assert_eq!(
            err(json!({"pk": {"ComparisonOperator": "NULL"}})),
            "Attempted conditional constraint is not an indexable operation"
        );
        assert_eq!(
            err(json!({
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                "other": {"ComparisonOperator": "NULL"}
            })),
            "Query condition missed key schema element sk"
        );
        assert_eq!(
            err(
                json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}, {"S": "q"}]}})
            ),
            "The attempted filter operation is not supported for the provided filter argument count"
        );
    }

    #[test]
    fn attribute_updates() {
        let apply = |v: serde_json::Value| -> Result<Item, String> {
            let u = update_from_attribute_updates(&v).map_err(|e| e.0)?;
            let mut it = item();
            u.apply(&mut it).map_err(|e| e.0)?;
            Ok(it)
        };
        let it = apply(json!({
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "s": {"Value": {"S": "new"}},
            "nul": {"Action": "DELETE"},
            "tags": {"Action": "DELETE", "Value": {"SS": ["a"]}},
            "c": {"Action": "ADD", "Value": {"N": "1"}}
        }))
        .unwrap();
        assert_eq!(it["n"], AttributeValue::N(Number::from(7)));
        assert_eq!(it["s"], AttributeValue::S("new".into()));
        assert!(!it.contains_key("nul"));
        assert_eq!(it["tags"], AttributeValue::Ss(vec!["b".into()]));
        assert_eq!(it["c"], AttributeValue::N(Number::from(1)));
        // Legacy ADD appends to a list (the expression ADD does not take lists).
        let it = apply(json!({
            "l": {"Action": "ADD", "Value": {"L": [{"S": "b"}]}},
            "fresh": {"Action": "ADD", "Value": {"L": [{"N": "2"}]}}
        }))
        .unwrap();
        assert_eq!(
            item_to_json(&it)["l"],
            json!({"L": [{"S": "a"}, {"N": "1"}, {"S": "b"}]})
        );
        assert_eq!(item_to_json(&it)["fresh"], json!({"L": [{"N": "2"}]}));
        let p = "One or more parameter values were invalid: ";
        assert_eq!(
            apply(json!({"s": {"Action": "PUT"}})).unwrap_err(),
            format!("{p}Only DELETE action is allowed when no attribute value is specified")
        );
        assert_eq!(
            apply(json!({"s": {"Action": "ADD", "Value": {"S": "x"}}})).unwrap_err(),
            format!("{p}ADD action is not supported for the type S")
        );
        assert_eq!(
            apply(json!({"s": {"Action": "DELETE", "Value": {"S": "x"}}})).unwrap_err(),
            format!("{p}DELETE action with value is not supported for the type S")
        );
        assert_eq!(
            apply(json!({"s": {"Action": "ADD", "Value": {"N": "1"}}})).unwrap_err(),
            "Type mismatch for attribute to update"
        );
        assert!(
            apply(json!({"s": {"Action": "UPSERT"}}))
                .unwrap_err()
                .contains("enum value set")
        );
    }

    #[test]
    fn attributes_to_get() {
        let p = paths_from_attributes_to_get(&json!(["n", "name", "s"])).unwrap();
        let got = project(&item(), &p);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["n", "s"]);
        assert_eq!(
            paths_from_attributes_to_get(&json!(["n", "n"]))
                .unwrap_err()
                .0,
            "One or more parameter values were invalid: Duplicate value in attribute name: n"
        );
    }
}

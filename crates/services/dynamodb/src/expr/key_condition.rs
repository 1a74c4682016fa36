//! `KeyConditionExpression`s: parsed by the condition grammar, then checked as DynamoDB checks
//! a key condition (one equality on the hash key, at most one condition on the range key, only
//! the operators a key allows) and split into the hash value and the range condition.

use super::parse::condition;
use super::*;

/// Parses a `KeyConditionExpression` against the key schema queried (`hash_key`, `range_key`).
pub fn parse_key_condition(
    src: &str,
    ph: &mut Placeholders,
    hash_key: &str,
    range_key: Option<&str>,
) -> Result<KeyCondition, ExprError> {
    let leaves = key_leaves(src, ph)?;
    let missed = |element: &str| {
        ExprError(format!(
            "Query condition missed key schema element: {element}"
        ))
    };
    let mut hash = None;
    let mut range = None;
    let has_hash = leaves.iter().any(|(n, _)| n == hash_key);
    for (name, cond) in leaves {
        if name == hash_key {
            match cond {
                RangeCond::Eq(v) => hash = Some(v),
                _ => return Err(ExprError("Query key condition not supported".to_string())),
            }
        } else if Some(name.as_str()) == range_key {
            range = Some((name, cond));
        } else {
            return Err(missed(if has_hash {
                range_key.unwrap_or(hash_key)
            } else {
                hash_key
            }));
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

/// The checks of a `KeyConditionExpression` that need no key schema — DynamoDB makes them
/// before it looks the table up, so a service can call this first.
pub fn validate_key_condition(src: &str, ph: &mut Placeholders) -> Result<(), ExprError> {
    key_leaves(src, ph).map(|_| ())
}

/// The `key op :value` conditions of a key condition expression, one per attribute.
fn key_leaves(src: &str, ph: &mut Placeholders) -> Result<Vec<(String, RangeCond)>, ExprError> {
    let root = condition(src, ph, Kind::KeyCondition)?;
    check_key_operators(&root)?;
    let mut nodes = Vec::new();
    flatten_and(root, &mut nodes);
    let mut leaves: Vec<(String, RangeCond)> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let (name, cond) = key_leaf(n)?;
        if leaves.iter().any(|(seen, _)| *seen == name) || leaves.len() >= 2 {
            return Err(Kind::KeyCondition
                .err("KeyConditionExpressions must only contain one condition per key"));
        }
        leaves.push((name, cond));
    }
    Ok(leaves)
}

/// Operators a key condition cannot use, found in the order DynamoDB reports them (outermost
/// first).
fn check_key_operators(n: &Node) -> Result<(), ExprError> {
    let bad = |op: &str| {
        Err(ExprError(format!(
            "Invalid operator used in KeyConditionExpression: {op}"
        )))
    };
    match n {
        Node::And(list) => list.iter().try_for_each(check_key_operators),
        Node::Or(..) => bad("OR"),
        Node::Not(..) => bad("NOT"),
        Node::In(..) => bad("IN"),
        Node::Cmp(_, CmpOp::Ne, _) => bad("<>"),
        Node::Exists(_) => bad("attribute_exists"),
        Node::NotExists(_) => bad("attribute_not_exists"),
        Node::Type(..) => bad("attribute_type"),
        Node::Contains(..) => bad("contains"),
        Node::Cmp(..) | Node::Between(..) | Node::BeginsWith(..) | Node::Const(_) => Ok(()),
    }
}

/// The conditions of nested ANDs, in order (an explicit stack: no recursion).
fn flatten_and(n: Node, out: &mut Vec<Node>) {
    let mut stack = vec![n];
    while let Some(n) = stack.pop() {
        match n {
            Node::And(list) => stack.extend(list.into_iter().rev()),
            other => out.push(other),
        }
    }
}

const NESTED_OPERATIONS: &str = "KeyConditionExpressions cannot contain nested operations";

/// The key attribute an operand names (the first operand of a key condition).
fn key_attribute(o: &Operand) -> Result<String, ExprError> {
    match o {
        Operand::Size(_) => Err(ExprError(NESTED_OPERATIONS.to_string())),
        Operand::Path(p) if !p.steps.is_empty() => Err(ExprError(
            "KeyConditionExpressions cannot have conditions on nested attributes".to_string(),
        )),
        Operand::Path(p) => Ok(p.top.clone()),
        Operand::Value(_) => Err(ExprError(
            "Invalid condition in KeyConditionExpression: No key attribute specified".to_string(),
        )),
    }
}

/// The other operands of a key condition must be values.
fn key_values<'o>(ops: impl IntoIterator<Item = &'o Operand>) -> Result<(), ExprError> {
    for o in ops {
        match o {
            Operand::Path(_) => {
                return Err(ExprError(
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
                        .to_string(),
                ));
            }
            Operand::Size(_) => return Err(ExprError(NESTED_OPERATIONS.to_string())),
            Operand::Value(_) => {}
        }
    }
    Ok(())
}

fn first_operand_error(op: &str) -> ExprError {
    ExprError(format!(
        "Invalid condition in KeyConditionExpression: {op} operator must have the key attribute as its first operand"
    ))
}

/// One condition of a key condition expression as (attribute name, condition).
fn key_leaf(n: Node) -> Result<(String, RangeCond), ExprError> {
    let value = |o: Operand| match o {
        Operand::Value(v) => v,
        _ => AttributeValue::Null, // checked by key_values
    };
    match n {
        Node::Cmp(a, op, b) => {
            // The key may stand on either side: `:lo <= sk` is `sk >= :lo`.
            let (key, v, op) = if matches!(a, Operand::Value(_)) && !matches!(b, Operand::Value(_))
            {
                let flipped = match op {
                    CmpOp::Lt => CmpOp::Gt,
                    CmpOp::Le => CmpOp::Ge,
                    CmpOp::Gt => CmpOp::Lt,
                    CmpOp::Ge => CmpOp::Le,
                    o => o,
                };
                (b, a, flipped)
            } else {
                (a, b, op)
            };
            let name = key_attribute(&key)?;
            key_values([&v])?;
            let cond = range_cond(op, value(v)).ok_or_else(|| {
                ExprError("Invalid operator used in KeyConditionExpression: <>".to_string())
            })?;
            Ok((name, cond))
        }
        Node::Between(a, lo, hi) => {
            if matches!(a, Operand::Value(_)) {
                return Err(first_operand_error("BETWEEN"));
            }
            let name = key_attribute(&a)?;
            key_values([&lo, &hi])?;
            Ok((name, RangeCond::Between(value(lo), value(hi))))
        }
        Node::BeginsWith(a, b) => {
            if matches!(a, Operand::Value(_)) {
                return Err(first_operand_error("begins_with"));
            }
            let name = key_attribute(&a)?;
            key_values([&b])?;
            Ok((name, RangeCond::BeginsWith(value(b))))
        }
        // Stand-ins for deferred errors never get here; other operators were refused.
        _ => Err(ExprError("Query key condition not supported".to_string())),
    }
}

fn range_cond(op: CmpOp, v: AttributeValue) -> Option<RangeCond> {
    Some(match op {
        CmpOp::Eq => RangeCond::Eq(v),
        CmpOp::Lt => RangeCond::Lt(v),
        CmpOp::Le => RangeCond::Le(v),
        CmpOp::Gt => RangeCond::Gt(v),
        CmpOp::Ge => RangeCond::Ge(v),
        CmpOp::Ne => return None,
    })
}

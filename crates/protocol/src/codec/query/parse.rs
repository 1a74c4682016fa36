//! Form parameters to the neutral value: botocore's `QuerySerializer` in reverse.
//!
//! One pass over the parameters walks each name down the input shape and drops its value into
//! a small tree (lists and map entries keyed by their index, since parameters come in any
//! order); a last walk turns the tree into the value. Parameters the model does not name are
//! ignored, as AWS ignores them.
//!
//! Errors (all `400 InvalidParameterValue`, the code AWS's query services give a value they
//! cannot read; the message names the parameter as SQS's does):
//! `Value abc for parameter MaxItems is invalid. Reason: must be an integer.` Likewise for
//! booleans (`true`/`false`, any case), numbers out of their type's range, floats that are not
//! finite numbers (the neutral value has no NaN or infinity), timestamps that are neither
//! ISO 8601, RFC 822 nor epoch seconds, and list or map indices outside `1..=MAX_INDEX`.
//! More than [`MAX_PARAMS`] parameters is refused the same way.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{flat_item_name, flattened, member_name, ref_name};
use crate::codec::{CodecError, MAX_DEPTH, time};
use crate::model::{Member, ServiceModel, Shape};

/// List and map indices run from 1 to this.
pub const MAX_INDEX: u32 = 10_000;
/// At most this many parameters per request.
pub const MAX_PARAMS: usize = 100_000;
/// A value is quoted in an error message up to this many characters.
const QUOTE: usize = 128;

/// A value under construction.
#[derive(Debug, Default)]
enum Node<'m> {
    #[default]
    Unset,
    Leaf(Value),
    Struct(Vec<(&'m str, Node<'m>)>),
    List(BTreeMap<u32, Node<'m>>),
    /// Entries by index: the key (once seen) and the value.
    Map(BTreeMap<u32, (Option<String>, Node<'m>)>),
}

fn invalid(param: &str, value: &str, reason: &str) -> CodecError {
    let quoted: String = value.chars().take(QUOTE).collect();
    CodecError::new(
        400,
        "InvalidParameterValue",
        format!("Value {quoted} for parameter {param} is invalid. Reason: {reason}"),
    )
}

/// Split `a.b.c` into `a` and `Some("b.c")`.
fn split(path: &str) -> (&str, Option<&str>) {
    match path.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (path, None),
    }
}

/// A list or map index: decimal, 1 to [`MAX_INDEX`].
fn index(param: &str, text: &str) -> Result<u32, CodecError> {
    let ok = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(i) if ok && (1..=MAX_INDEX).contains(&i) => Ok(i),
        _ => Err(invalid(
            param,
            text,
            &format!("list and map indices run from 1 to {MAX_INDEX}."),
        )),
    }
}

/// A scalar's value from its form text.
fn scalar(shape: &Shape, param: &str, text: &str) -> Result<Value, CodecError> {
    let int = |lo: i64, hi: i64| -> Result<Value, CodecError> {
        match text.trim().parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(Value::from(n)),
            Ok(_) => Err(invalid(
                param,
                text,
                &format!("must be an integer from {lo} to {hi}."),
            )),
            Err(_) => Err(invalid(param, text, "must be an integer.")),
        }
    };
    Ok(match shape.kind.as_str() {
        "boolean" => {
            if text.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if text.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(invalid(param, text, "must be true or false."));
            }
        }
        "byte" => int(i64::from(i8::MIN), i64::from(i8::MAX))?,
        "short" => int(i64::from(i16::MIN), i64::from(i16::MAX))?,
        "integer" => int(i64::from(i32::MIN), i64::from(i32::MAX))?,
        "long" => int(i64::MIN, i64::MAX)?,
        "float" | "double" => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Value::from(f),
            _ => return Err(invalid(param, text, "must be a number.")),
        },
        "timestamp" => {
            // Every format is accepted, whatever the member's `timestampFormat` says.
            match time::parse(text) {
                Some(ms) => time::ms_to_value(ms),
                None => {
                    return Err(invalid(
                        param,
                        text,
                        "must be a timestamp in ISO 8601 format.",
                    ));
                }
            }
        }
        // string, enum, blob (base64 stays base64), document: the text as it came.
        _ => Value::String(text.to_owned()),
    })
}

/// The child slot of a structure node for a member, made on first use.
fn struct_slot<'n, 'm>(node: &'n mut Node<'m>, member: &'m str) -> &'n mut Node<'m> {
    if !matches!(node, Node::Struct(_)) {
        *node = Node::Struct(Vec::new());
    }
    let Node::Struct(fields) = node else {
        unreachable!("made a structure just above")
    };
    let at = match fields.iter().position(|(n, _)| *n == member) {
        Some(at) => at,
        None => {
            fields.push((member, Node::Unset));
            fields.len() - 1
        }
    };
    &mut fields[at].1
}

fn list_slot<'n, 'm>(node: &'n mut Node<'m>, i: u32) -> &'n mut Node<'m> {
    if !matches!(node, Node::List(_)) {
        *node = Node::List(BTreeMap::new());
    }
    let Node::List(items) = node else {
        unreachable!("made a list just above")
    };
    items.entry(i).or_default()
}

fn map_slot<'n, 'm>(node: &'n mut Node<'m>, i: u32) -> &'n mut (Option<String>, Node<'m>) {
    if !matches!(node, Node::Map(_)) {
        *node = Node::Map(BTreeMap::new());
    }
    let Node::Map(entries) = node else {
        unreachable!("made a map just above")
    };
    entries.entry(i).or_default()
}

/// Where a walk stands: the node and shape of a value, the member that led there (for
/// `flattened`), and whether the list's name is already behind (the next part is an index).
struct At<'n, 'm> {
    node: &'n mut Node<'m>,
    shape: &'m Shape,
    member: Option<&'m Member>,
    at_items: bool,
}

/// Drop one parameter into the tree. `rest` is what follows the part that named the value.
fn insert<'m>(
    model: &'m ServiceModel,
    root: &mut Node<'m>,
    input: &'m Shape,
    param: &str,
    value: &str,
) -> Result<(), CodecError> {
    let mut at = At {
        node: root,
        shape: input,
        member: None,
        at_items: false,
    };
    let mut rest: Option<&str> = Some(param);
    for _ in 0..=MAX_DEPTH {
        match at.shape.kind.as_str() {
            "structure" => {
                let Some(path) = rest else { return Ok(()) };
                let (part, tail) = split(path);
                let mut found = None;
                for (key, m) in &at.shape.members {
                    let Some(target) = model.shape(&m.shape) else {
                        continue;
                    };
                    if member_name(key, m, target) == part {
                        found = Some((key.as_str(), m, target, false));
                        break;
                    }
                    if target.kind == "list"
                        && flattened(Some(m), target)
                        && flat_item_name(model, target, key) == part
                    {
                        found = Some((key.as_str(), m, target, true));
                        break;
                    }
                }
                let Some((key, m, target, at_items)) = found else {
                    return Ok(());
                };
                at = At {
                    node: struct_slot(at.node, key),
                    shape: target,
                    member: Some(m),
                    at_items,
                };
                rest = tail;
            }
            "list" => {
                let Some(item) = at.shape.member.as_ref() else {
                    return Ok(());
                };
                let Some(item_shape) = model.shape(&item.shape) else {
                    return Ok(());
                };
                let flat = flattened(at.member, at.shape);
                if !at.at_items && !flat {
                    // `Name.member.N`: the wrapper part, or `Name=` for an empty list.
                    let Some(path) = rest else {
                        if value.is_empty() && matches!(at.node, Node::Unset) {
                            *at.node = Node::List(BTreeMap::new());
                        }
                        return Ok(());
                    };
                    let (part, tail) = split(path);
                    if part != ref_name(model, item).unwrap_or("member") {
                        return Ok(());
                    }
                    rest = tail;
                }
                let Some(path) = rest else {
                    if value.is_empty() && matches!(at.node, Node::Unset) {
                        *at.node = Node::List(BTreeMap::new());
                    }
                    return Ok(());
                };
                let (part, tail) = split(path);
                let i = index(param, part)?;
                at = At {
                    node: list_slot(at.node, i),
                    shape: item_shape,
                    member: None,
                    at_items: false,
                };
                rest = tail;
            }
            "map" => {
                let (Some(kref), Some(vref)) = (at.shape.key.as_ref(), at.shape.value.as_ref())
                else {
                    return Ok(());
                };
                let Some(path) = rest else { return Ok(()) };
                let mut path = path;
                if !flattened(at.member, at.shape) {
                    let (part, tail) = split(path);
                    match (part, tail) {
                        ("entry", Some(tail)) => path = tail,
                        _ => return Ok(()),
                    }
                }
                let (part, tail) = split(path);
                let Some(tail) = tail else { return Ok(()) };
                let i = index(param, part)?;
                let (part, tail) = split(tail);
                if part == ref_name(model, kref).unwrap_or("key") {
                    if tail.is_none() {
                        map_slot(at.node, i).0 = Some(value.to_owned());
                    }
                    return Ok(());
                }
                if part != ref_name(model, vref).unwrap_or("value") {
                    return Ok(());
                }
                let Some(value_shape) = model.shape(&vref.shape) else {
                    return Ok(());
                };
                at = At {
                    node: &mut map_slot(at.node, i).1,
                    shape: value_shape,
                    member: None,
                    at_items: false,
                };
                rest = tail;
            }
            _ => {
                if rest.is_none() {
                    *at.node = Node::Leaf(scalar(at.shape, param, value)?);
                }
                return Ok(());
            }
        }
    }
    // Nested deeper than any model goes: not a parameter of this operation.
    Ok(())
}

/// The finished value of a node; `None` for one that holds nothing (an unset member, or a
/// structure none of whose members came).
fn finish(node: Node<'_>, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH + 1 {
        return None;
    }
    match node {
        Node::Unset => None,
        Node::Leaf(v) => Some(v),
        Node::Struct(fields) => {
            let mut out = Map::new();
            for (k, v) in fields {
                if let Some(v) = finish(v, depth + 1) {
                    out.insert(k.to_owned(), v);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Node::List(items) => Some(Value::Array(
            items
                .into_values()
                .filter_map(|v| finish(v, depth + 1))
                .collect(),
        )),
        Node::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries.into_values() {
                if let (Some(k), Some(v)) = (k, finish(v, depth + 1)) {
                    out.insert(k, v);
                }
            }
            // A map none of whose entries is whole holds nothing (botocore sends no empty map).
            (!out.is_empty()).then_some(Value::Object(out))
        }
    }
}

/// Read an operation's form parameters (decoded pairs, without `Action` and `Version`) into the
/// neutral value of its input. An operation without input reads as `{}`.
pub fn parse_input(
    model: &ServiceModel,
    operation: &str,
    params: &[(String, String)],
) -> Result<Value, CodecError> {
    let Some(op) = model.operations.get(operation) else {
        return Err(CodecError::new(
            400,
            "InvalidAction",
            format!(
                "Could not find operation {operation} for version {}",
                model.metadata.api_version
            ),
        ));
    };
    let Some(input) = op.input.as_ref().and_then(|r| model.shape(&r.shape)) else {
        return Ok(Value::Object(Map::new()));
    };
    if params.len() > MAX_PARAMS {
        return Err(invalid(
            "(request)",
            &params.len().to_string(),
            &format!("a request has at most {MAX_PARAMS} parameters."),
        ));
    }
    let mut root = Node::Struct(Vec::new());
    for (k, v) in params {
        if k == "Action" || k == "Version" {
            continue;
        }
        insert(model, &mut root, input, k, v)?;
    }
    check_entries(&root, 0)?;
    Ok(finish(root, 0).unwrap_or_else(|| Value::Object(Map::new())))
}

/// Every map entry sent has both its key and its value (`Attribute.1.Name` without
/// `Attribute.1.Value` is refused, as AWS's query services refuse it, rather than dropped).
fn check_entries(node: &Node<'_>, depth: usize) -> Result<(), CodecError> {
    if depth > MAX_DEPTH + 1 {
        return Ok(());
    }
    match node {
        Node::Unset | Node::Leaf(_) => Ok(()),
        Node::Struct(fields) => fields
            .iter()
            .try_for_each(|(_, v)| check_entries(v, depth + 1)),
        Node::List(items) => items.values().try_for_each(|v| check_entries(v, depth + 1)),
        Node::Map(entries) => entries.iter().try_for_each(|(i, (k, v))| {
            if k.is_none() || matches!(v, Node::Unset) {
                return Err(CodecError::new(
                    400,
                    "MissingParameter",
                    format!("Map entry {i} must name both its key and its value."),
                ));
            }
            check_entries(v, depth + 1)
        }),
    }
}

//! Evaluation of conditions, application of updates, projection.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::*;
use crate::value::{
    MAX_NESTING as MAX_VALUE_NESTING, NESTING_MESSAGE, Number, compare, nesting_depth,
};

/// The value at `path` in `item`, if any.
pub(super) fn resolve<'i>(item: &'i Item, path: &Path) -> Option<&'i AttributeValue> {
    let mut cur = item.get(&path.top)?;
    for step in &path.steps {
        cur = match (step, cur) {
            (Step::Field(f), AttributeValue::M(m)) => m.get(f)?,
            (Step::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// DynamoDB's `size()`: string length, bytes of a binary, members of a set, list or map.
pub(super) fn size_of(v: &AttributeValue) -> Option<AttributeValue> {
    let n = match v {
        AttributeValue::S(s) => s.chars().count(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(s) => s.len(),
        AttributeValue::Ns(s) => s.len(),
        AttributeValue::Bs(s) => s.len(),
        AttributeValue::L(l) => l.len(),
        AttributeValue::M(m) => m.len(),
        _ => return None,
    };
    Some(AttributeValue::N(Number::from(n as i64)))
}

fn operand<'i>(o: &'i Operand, item: &'i Item) -> Option<Cow<'i, AttributeValue>> {
    match o {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => resolve(item, p).and_then(size_of).map(Cow::Owned),
    }
}

pub(super) fn begins_with(v: &AttributeValue, prefix: &AttributeValue) -> bool {
    match (v, prefix) {
        (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
        (AttributeValue::B(b), AttributeValue::B(p)) => b.starts_with(p),
        _ => false,
    }
}

fn contains(v: &AttributeValue, x: &AttributeValue) -> bool {
    match (v, x) {
        (AttributeValue::S(s), AttributeValue::S(p)) => s.contains(p.as_str()),
        (AttributeValue::B(b), AttributeValue::B(p)) => {
            p.is_empty() || b.windows(p.len()).any(|w| w == p.as_slice())
        }
        (AttributeValue::Ss(s), AttributeValue::S(p)) => s.binary_search(p).is_ok(),
        (AttributeValue::Ns(s), AttributeValue::N(p)) => s.binary_search(p).is_ok(),
        (AttributeValue::Bs(s), AttributeValue::B(p)) => s.binary_search(p).is_ok(),
        (AttributeValue::L(l), x) => l.contains(x),
        _ => false,
    }
}

pub(super) fn eval(n: &Node, item: &Item) -> bool {
    match n {
        Node::Cmp(a, op, b) => {
            let (a, b) = (operand(a, item), operand(b, item));
            match op {
                CmpOp::Eq => matches!((a, b), (Some(a), Some(b)) if a == b),
                CmpOp::Ne => !matches!((a, b), (Some(a), Some(b)) if a == b),
                _ => {
                    let Some(ord) = a.zip(b).and_then(|(a, b)| compare(&a, &b)) else {
                        return false;
                    };
                    match op {
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }
                }
            }
        }
        Node::Between(v, lo, hi) => {
            let (Some(v), Some(lo), Some(hi)) =
                (operand(v, item), operand(lo, item), operand(hi, item))
            else {
                return false;
            };
            matches!(compare(&v, &lo), Some(Ordering::Greater | Ordering::Equal))
                && matches!(compare(&v, &hi), Some(Ordering::Less | Ordering::Equal))
        }
        Node::In(v, list) => {
            let Some(v) = operand(v, item) else {
                return false;
            };
            list.iter()
                .any(|o| operand(o, item).is_some_and(|x| x == v))
        }
        Node::Const(b) => *b,
        Node::And(list) => list.iter().all(|n| eval(n, item)),
        Node::Or(list) => list.iter().any(|n| eval(n, item)),
        Node::Not(a) => !eval(a, item),
        Node::Exists(p) => resolve(item, p).is_some(),
        Node::NotExists(p) => resolve(item, p).is_none(),
        Node::Type(p, t) => resolve(item, p).is_some_and(|v| v.type_code() == t),
        Node::BeginsWith(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(a), Some(b)) => begins_with(&a, &b),
            _ => false,
        },
        Node::Contains(a, b) => match (operand(a, item), operand(b, item)) {
            (Some(a), Some(b)) => contains(&a, &b),
            _ => false,
        },
    }
}

// ---- updates ----

const MISSING: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const BAD_TYPE: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";

fn e(msg: &str) -> ExprError {
    ExprError(msg.to_string())
}

fn set_operand(o: &SetOperand, item: &Item) -> Result<AttributeValue, ExprError> {
    match o {
        SetOperand::Path(p) => resolve(item, p).cloned().ok_or_else(|| e(MISSING)),
        SetOperand::Value(v) => Ok(v.clone()),
        SetOperand::IfNotExists(p, v) => match resolve(item, p) {
            Some(x) => Ok(x.clone()),
            None => set_operand(v, item),
        },
        SetOperand::ListAppend(a, b) => {
            let (a, b) = (set_operand(a, item)?, set_operand(b, item)?);
            match (a, b) {
                (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                    a.extend(b);
                    Ok(AttributeValue::L(a))
                }
                _ => Err(e(BAD_TYPE)),
            }
        }
    }
}

fn set_value(v: &SetValue, item: &Item) -> Result<AttributeValue, ExprError> {
    let numbers = |a: &SetOperand, b: &SetOperand| -> Result<(Number, Number), ExprError> {
        match (set_operand(a, item)?, set_operand(b, item)?) {
            (AttributeValue::N(a), AttributeValue::N(b)) => Ok((a, b)),
            _ => Err(e(BAD_TYPE)),
        }
    };
    match v {
        SetValue::Operand(o) => set_operand(o, item),
        SetValue::Plus(a, b) => {
            let (a, b) = numbers(a, b)?;
            Ok(AttributeValue::N(a.add(&b).map_err(|x| ExprError(x.0))?))
        }
        SetValue::Minus(a, b) => {
            let (a, b) = numbers(a, b)?;
            Ok(AttributeValue::N(a.sub(&b).map_err(|x| ExprError(x.0))?))
        }
    }
}

/// The container holding the last step of `path`, created nowhere: every parent must exist.
fn parent_mut<'i>(
    item: &'i mut Item,
    path: &Path,
) -> Result<Option<&'i mut AttributeValue>, ExprError> {
    let Some((_, parents)) = path.steps.split_last() else {
        return Ok(None);
    };
    let mut cur = item.get_mut(&path.top).ok_or_else(|| e(BAD_PATH))?;
    for step in parents {
        cur = match (step, cur) {
            (Step::Field(f), AttributeValue::M(m)) => m.get_mut(f).ok_or_else(|| e(BAD_PATH))?,
            (Step::Index(i), AttributeValue::L(l)) => l.get_mut(*i).ok_or_else(|| e(BAD_PATH))?,
            _ => return Err(e(BAD_PATH)),
        };
    }
    Ok(Some(cur))
}

fn set_path(item: &mut Item, path: &Path, v: AttributeValue) -> Result<(), ExprError> {
    let last = path.steps.last().cloned();
    match (parent_mut(item, path)?, last) {
        (None, _) => {
            item.insert(path.top.clone(), v);
        }
        (Some(AttributeValue::M(m)), Some(Step::Field(f))) => {
            m.insert(f, v);
        }
        (Some(AttributeValue::L(l)), Some(Step::Index(i))) => {
            // An index past the end appends.
            if i < l.len() {
                l[i] = v;
            } else {
                l.push(v);
            }
        }
        _ => return Err(e(BAD_PATH)),
    }
    Ok(())
}

fn remove_path(item: &mut Item, path: &Path) -> Result<(), ExprError> {
    let last = path.steps.last().cloned();
    // Every parent must exist with the type its step needs; a missing leaf is no error.
    match (parent_mut(item, path)?, last) {
        (None, _) => {
            item.remove(&path.top);
        }
        (Some(AttributeValue::M(m)), Some(Step::Field(f))) => {
            m.remove(&f);
        }
        (Some(AttributeValue::L(l)), Some(Step::Index(i))) => {
            if i < l.len() {
                l.remove(i);
            }
        }
        _ => return Err(e(BAD_PATH)),
    }
    Ok(())
}

/// Fails like DynamoDB unless every parent of `path` exists with the type its step needs
/// (the leaf itself may be missing).
fn check_parents(item: &Item, path: &Path) -> Result<(), ExprError> {
    let Some((last, parents)) = path.steps.split_last() else {
        return Ok(());
    };
    let mut cur = item.get(&path.top).ok_or_else(|| e(BAD_PATH))?;
    for step in parents {
        cur = match (step, cur) {
            (Step::Field(f), AttributeValue::M(m)) => m.get(f).ok_or_else(|| e(BAD_PATH))?,
            (Step::Index(i), AttributeValue::L(l)) => l.get(*i).ok_or_else(|| e(BAD_PATH))?,
            _ => return Err(e(BAD_PATH)),
        };
    }
    match (last, cur) {
        (Step::Field(_), AttributeValue::M(_)) | (Step::Index(_), AttributeValue::L(_)) => Ok(()),
        _ => Err(e(BAD_PATH)),
    }
}

fn union<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut v: Vec<T> = a.iter().chain(b).cloned().collect();
    v.sort();
    v.dedup();
    v
}

fn difference<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter()
        .filter(|x| b.binary_search(x).is_err())
        .cloned()
        .collect()
}

pub(super) fn apply(u: &Update, item: &mut Item) -> Result<(), ExprError> {
    let before: &Item = item;
    // Every right-hand side sees the item as it was before the update.
    let sets = u
        .set
        .iter()
        .map(|(p, v)| Ok((p, set_value(v, before)?)))
        .collect::<Result<Vec<_>, ExprError>>()?;
    let bad_type = || {
        if u.legacy {
            e("Type mismatch for attribute to update")
        } else {
            e(BAD_TYPE)
        }
    };
    let mut adds = Vec::with_capacity(u.add.len());
    for (p, v) in &u.add {
        let new = match (resolve(before, p), v) {
            (None, v) => v.clone(),
            (Some(AttributeValue::N(a)), AttributeValue::N(b)) => {
                AttributeValue::N(a.add(b).map_err(|x| ExprError(x.0))?)
            }
            (Some(AttributeValue::Ss(a)), AttributeValue::Ss(b)) => AttributeValue::Ss(union(a, b)),
            (Some(AttributeValue::Ns(a)), AttributeValue::Ns(b)) => AttributeValue::Ns(union(a, b)),
            (Some(AttributeValue::Bs(a)), AttributeValue::Bs(b)) => AttributeValue::Bs(union(a, b)),
            // Legacy AttributeUpdates ADD also appends to lists.
            (Some(AttributeValue::L(a)), AttributeValue::L(b)) if u.legacy => {
                AttributeValue::L(a.iter().chain(b).cloned().collect())
            }
            _ => return Err(bad_type()),
        };
        adds.push((p, new));
    }
    let mut deletes = Vec::with_capacity(u.delete.len());
    for (p, v) in &u.delete {
        let new = match (resolve(before, p), v) {
            (None, _) => {
                check_parents(before, p)?;
                continue;
            }
            (Some(AttributeValue::Ss(a)), AttributeValue::Ss(b)) => {
                AttributeValue::Ss(difference(a, b))
            }
            (Some(AttributeValue::Ns(a)), AttributeValue::Ns(b)) => {
                AttributeValue::Ns(difference(a, b))
            }
            (Some(AttributeValue::Bs(a)), AttributeValue::Bs(b)) => {
                AttributeValue::Bs(difference(a, b))
            }
            _ => return Err(bad_type()),
        };
        deletes.push((p, new));
    }
    // Writes go in path order: assignments past the end of a list append, and DynamoDB appends
    // them in index order whatever order they were written in.
    let mut writes: Vec<(&Path, Option<AttributeValue>)> = Vec::new();
    writes.extend(sets.into_iter().map(|(p, v)| (p, Some(v))));
    writes.extend(adds.into_iter().map(|(p, v)| (p, Some(v))));
    for (p, v) in deletes {
        let empty = matches!(&v, AttributeValue::Ss(s) if s.is_empty())
            || matches!(&v, AttributeValue::Ns(s) if s.is_empty())
            || matches!(&v, AttributeValue::Bs(s) if s.is_empty());
        // A set left empty is removed.
        writes.push((p, if empty { None } else { Some(v) }));
    }
    writes.sort_by(|a, b| a.0.cmp(b.0));
    let mut work = item.clone();
    for (p, v) in writes {
        match v {
            Some(v) => set_path(&mut work, p, v)?,
            None => remove_path(&mut work, p)?,
        }
    }
    // Removals last, highest list index first, so that indexes refer to the list as it was.
    let mut removes: Vec<&Path> = u.remove.iter().collect();
    removes.sort_by(|a, b| b.cmp(a));
    for p in removes {
        remove_path(&mut work, p)?;
    }
    for name in u.top_level_names() {
        if work
            .get(&name)
            .is_some_and(|v| nesting_depth(v) >= MAX_VALUE_NESTING)
        {
            return Err(e(NESTING_MESSAGE));
        }
    }
    *item = work;
    Ok(())
}

// ---- projection ----

enum Tree {
    Leaf(AttributeValue),
    Map(BTreeMap<String, Tree>),
    List(BTreeMap<usize, Tree>),
}

impl Tree {
    fn into_value(self) -> AttributeValue {
        match self {
            Tree::Leaf(v) => v,
            Tree::Map(m) => {
                AttributeValue::M(m.into_iter().map(|(k, t)| (k, t.into_value())).collect())
            }
            Tree::List(l) => AttributeValue::L(l.into_values().map(Tree::into_value).collect()),
        }
    }
}

/// Inserts the value at `steps` below `src` into `dst`, mirroring the containers on the way.
/// The caller has checked that the whole path exists in `src`.
fn graft(dst: &mut Tree, src: &AttributeValue, steps: &[Step]) {
    let Some((step, rest)) = steps.split_first() else {
        *dst = Tree::Leaf(src.clone());
        return;
    };
    match (step, src) {
        (Step::Field(f), AttributeValue::M(m)) => {
            let Some(child) = m.get(f) else { return };
            if !matches!(dst, Tree::Map(_)) {
                *dst = Tree::Map(BTreeMap::new());
            }
            if let Tree::Map(dm) = dst {
                let slot = dm
                    .entry(f.clone())
                    .or_insert_with(|| Tree::Map(BTreeMap::new()));
                graft(slot, child, rest);
            }
        }
        (Step::Index(i), AttributeValue::L(l)) => {
            let Some(child) = l.get(*i) else { return };
            if !matches!(dst, Tree::List(_)) {
                *dst = Tree::List(BTreeMap::new());
            }
            if let Tree::List(dl) = dst {
                let slot = dl.entry(*i).or_insert_with(|| Tree::Map(BTreeMap::new()));
                graft(slot, child, rest);
            }
        }
        _ => {}
    }
}

/// The parts of `item` named by `paths` (a ProjectionExpression): nested maps keep the fields
/// asked for; list elements asked for keep their order.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out: BTreeMap<String, Tree> = BTreeMap::new();
    for p in paths {
        if resolve(item, p).is_none() {
            continue;
        }
        let Some(top) = item.get(&p.top) else {
            continue;
        };
        let slot = out
            .entry(p.top.clone())
            .or_insert_with(|| Tree::Map(BTreeMap::new()));
        graft(slot, top, &p.steps);
    }
    out.into_iter().map(|(k, t)| (k, t.into_value())).collect()
}

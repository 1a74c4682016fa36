//! Running parsed statements: SELECT on a snapshot (a key lookup, a partition's range, or a scan
//! of the table or an index, in pages), and the writes as a plan computed from the stored item
//! (so that a transaction can check every statement before it applies any).

use std::ops::Bound;

use base64::Engine as _;
use snapstack_engine::{Key, Partition, Snapshot};

use super::parse::{Returning, Select, Stmt};
use crate::expr::{CmpOp, Condition, Node, Operand, Update};
use crate::items::{self, Pk, check_size, key_of_item, key_of_param};
use crate::table::{IndexMeta, KeyAttr, TableMeta};
use crate::value::{self, AttributeValue, Item};
use crate::{DdbError, DdbResult, Rec, keys};

/// A SELECT evaluates at most this much data per page.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// The conditions of the top-level AND of a WHERE.
fn conjuncts(n: &Node) -> &[Node] {
    match n {
        Node::And(list) => list,
        n => std::slice::from_ref(n),
    }
}

/// The value a conjunct sets `name` equal to (`name = v` or `v = name`).
fn eq_value<'a>(n: &'a Node, name: &str) -> Option<&'a AttributeValue> {
    match n {
        Node::Cmp(Operand::Path(p), CmpOp::Eq, Operand::Value(v))
        | Node::Cmp(Operand::Value(v), CmpOp::Eq, Operand::Path(p))
            if p.top() == name && p.steps().is_empty() =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// The values a WHERE restricts the partition key `name` to, if it does (`=` or `IN`).
fn hash_values(cond: &Node, name: &str) -> Option<Vec<AttributeValue>> {
    for c in conjuncts(cond) {
        if let Some(v) = eq_value(c, name) {
            return Some(vec![v.clone()]);
        }
        if let Node::In(Operand::Path(p), list) = c
            && p.top() == name
            && p.steps().is_empty()
        {
            let vals: Option<Vec<AttributeValue>> = list
                .iter()
                .map(|o| match o {
                    Operand::Value(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            if vals.is_some() {
                return vals;
            }
        }
    }
    None
}

/// The primary key a write's (or a point read's) WHERE names: an equality on every key attribute.
pub fn target_key(t: &TableMeta, cond: &Node) -> DdbResult<(Item, Pk)> {
    let missing = || {
        DdbError::validation(
            "Where clause does not contain a mandatory equality on all key attributes",
        )
    };
    let mut key = Item::new();
    for a in std::iter::once(&t.hash).chain(t.range.iter()) {
        let v = conjuncts(cond)
            .iter()
            .find_map(|c| eq_value(c, &a.name))
            .ok_or_else(missing)?;
        key.insert(a.name.clone(), v.clone());
    }
    let pk = key_of_param(t, &key)?;
    Ok((key, pk))
}

/// What a write statement does to its item.
pub struct Plan {
    pub pk: Pk,
    /// The item after the statement (`None`: deleted or absent).
    pub new: Option<Item>,
    /// Whether anything is written.
    pub write: bool,
    /// What RETURNING asks for.
    pub returned: Option<Item>,
}

fn failed(old: Option<&Item>, return_old: bool) -> DdbError {
    let mut e = DdbError::new(
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    if return_old && let Some(o) = old {
        e = e.with("Item", value::item_to_json(o));
    }
    e
}

/// The primary key a write statement addresses.
pub fn write_key(t: &TableMeta, stmt: &Stmt) -> DdbResult<Pk> {
    match stmt {
        Stmt::Insert { item, .. } => {
            check_size(item, false)?;
            key_of_item(t, item)
        }
        Stmt::Update(u) => Ok(target_key(t, &u.cond)?.1),
        Stmt::Delete { cond, .. } => Ok(target_key(t, cond)?.1),
        Stmt::Exists(s) | Stmt::Select(s) => {
            let cond = s.cond.as_ref().ok_or_else(|| {
                DdbError::validation(
                    "Where clause does not contain a mandatory equality on all key attributes",
                )
            })?;
            Ok(target_key(t, cond)?.1)
        }
    }
}

/// Plan a write statement against the stored item `old` at its key `pk`.
pub fn plan(
    t: &TableMeta,
    stmt: &Stmt,
    pk: Pk,
    old: Option<&Item>,
    return_old: bool,
) -> DdbResult<Plan> {
    let keep = |pk: Pk| Plan {
        pk,
        new: old.cloned(),
        write: false,
        returned: None,
    };
    match stmt {
        Stmt::Insert { item, .. } => {
            if old.is_some() {
                return Err(DdbError::new(
                    "DuplicateItemException",
                    "Duplicate primary key exists in table",
                ));
            }
            Ok(Plan {
                pk,
                new: Some(item.clone()),
                write: true,
                returned: None,
            })
        }
        Stmt::Update(u) => {
            let Some(old) = old else {
                return Err(failed(None, return_old));
            };
            if !Condition::from_node(u.cond.clone())
                .eval(old)
                .map_err(items::xerr)?
            {
                return Err(failed(Some(old), return_old));
            }
            let update = Update::from_actions(
                u.set.clone(),
                u.remove.clone(),
                u.add.clone(),
                u.delete.clone(),
            );
            for n in update.top_level_names() {
                if t.key_names().contains(&n.as_str()) {
                    return Err(DdbError::invalid_param(format!(
                        "Cannot update attribute {n}. This attribute is part of the key"
                    )));
                }
            }
            let mut new = old.clone();
            update.apply(&mut new).map_err(items::xerr)?;
            check_size(&new, true)?;
            key_of_item(t, &new)?;
            let paths = update.paths();
            let returned = u.returning.map(|r| match r {
                Returning::AllOld => old.clone(),
                Returning::AllNew => new.clone(),
                Returning::ModifiedOld => crate::expr::project(old, &paths),
                Returning::ModifiedNew => crate::expr::project(&new, &paths),
            });
            let write = new != *old;
            Ok(Plan {
                pk,
                new: Some(new),
                write,
                returned,
            })
        }
        Stmt::Delete {
            cond, returning, ..
        } => {
            // Deleting an item that is not there is no error (and checks nothing).
            let Some(old) = old else {
                return Ok(keep(pk));
            };
            if !Condition::from_node(cond.clone())
                .eval(old)
                .map_err(items::xerr)?
            {
                return Err(failed(Some(old), return_old));
            }
            Ok(Plan {
                pk,
                new: None,
                write: true,
                returned: returning.map(|_| old.clone()),
            })
        }
        Stmt::Exists(s) => {
            let ok = match (old, &s.cond) {
                (Some(o), Some(c)) => Condition::from_node(c.clone())
                    .eval(o)
                    .map_err(items::xerr)?,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !ok {
                return Err(failed(old, return_old));
            }
            Ok(keep(pk))
        }
        Stmt::Select(_) => Ok(keep(pk)),
    }
}

/// One page of a SELECT.
pub struct Page {
    pub items: Vec<Item>,
    pub next_token: Option<String>,
    pub last_key: Option<Item>,
    /// Bytes evaluated (for consumed capacity).
    pub size: usize,
}

fn token_key(token: &str) -> DdbResult<Key> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .map(|b| Key::from_bytes(&b))
        .map_err(|_| DdbError::validation("Invalid NextToken"))
}

/// The key range of `prefix` that is still to be read after `token` (`None`: nothing left).
fn rest_of(
    prefix: &Key,
    token: Option<&Key>,
    descending: bool,
) -> Option<(Bound<Key>, Bound<Key>)> {
    let (lo, hi) = prefix.prefix_range();
    let Some(tok) = token else {
        return Some((lo, hi));
    };
    if tok.starts_with(prefix) {
        return Some(if descending {
            (lo, Bound::Excluded(tok.clone()))
        } else {
            (Bound::Excluded(tok.clone()), hi)
        });
    }
    // The token is before or after the whole prefix.
    let before = tok < prefix;
    if before != descending {
        Some((lo, hi))
    } else {
        None
    }
}

/// Run a SELECT on a snapshot: at most `limit` items evaluated and 1 MB, from `token` on.
pub fn select(
    snap: &Snapshot<Rec>,
    p: &Partition,
    t: &TableMeta,
    s: &Select,
    limit: Option<usize>,
    token: Option<&str>,
) -> DdbResult<Page> {
    let idx: Option<&IndexMeta> = match &s.index {
        Some(n) => Some(t.index(n).ok_or_else(|| {
            DdbError::validation(format!("The table does not have the specified index: {n}"))
        })?),
        None => None,
    };
    let hash: &KeyAttr = idx.map_or(&t.hash, |i| &i.hash);
    let base = match idx {
        Some(i) => keys::index(p, t.id, &i.name),
        None => keys::items(p, t.id),
    };
    let with_hash = |hb: &[u8]| match idx {
        Some(i) => p.key().str("x").u64(t.id).str(&i.name).bytes(hb).build(),
        None => p.key().str("i").u64(t.id).bytes(hb).build(),
    };
    let mut prefixes: Vec<Key> = match s.cond.as_ref().and_then(|c| hash_values(c, &hash.name)) {
        Some(vals) => {
            let mut ks: Vec<Key> = vals
                .iter()
                .filter_map(value::key_bytes)
                .map(|b| with_hash(&b))
                .collect();
            ks.sort();
            ks.dedup();
            ks
        }
        None => vec![base.clone()],
    };
    if s.descending {
        prefixes.reverse();
    }
    let token = token.map(token_key).transpose()?;
    if let Some(k) = &token
        && !k.starts_with(&base)
    {
        return Err(DdbError::validation("Invalid NextToken"));
    }
    let cond = s.cond.clone().map(Condition::from_node);
    let limit = limit.unwrap_or(usize::MAX);
    let mut page = Page {
        items: Vec::new(),
        next_token: None,
        last_key: None,
        size: 0,
    };
    let mut evaluated = 0usize;
    let mut last: Option<(Key, Item)> = None;
    'outer: for prefix in &prefixes {
        let Some(range) = rest_of(prefix, token.as_ref(), s.descending) else {
            continue;
        };
        let iter: Box<dyn Iterator<Item = (&Key, &Rec)>> = if s.descending {
            Box::new(snap.range(range).rev())
        } else {
            Box::new(snap.range(range))
        };
        for (k, r) in iter {
            let Rec::Item(item) = r else { continue };
            if evaluated >= limit || page.size >= MAX_PAGE_BYTES {
                if let Some((lk, li)) = &last {
                    page.next_token =
                        Some(base64::engine::general_purpose::STANDARD.encode(lk.as_bytes()));
                    page.last_key = Some(items::key_item(t, li, idx));
                }
                break 'outer;
            }
            evaluated += 1;
            page.size += value::item_size(item);
            last = Some((k.clone(), item.clone()));
            let hit = match &cond {
                Some(c) => c.eval(item).map_err(items::xerr)?,
                None => true,
            };
            if hit {
                page.items.push(match &s.projection {
                    Some(paths) => crate::expr::project(item, paths),
                    None => item.clone(),
                });
            }
        }
    }
    Ok(page)
}

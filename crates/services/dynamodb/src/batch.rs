//! BatchGetItem, BatchWriteItem, TransactWriteItems and TransactGetItems.
//!
//! A transaction is one `store.write`: every condition is checked first, then every write is
//! applied, so it is all or nothing by construction. A batch write is one `store.write` too.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ex::{self, Condition, Update};
use super::items::{
    Exprs, Pk, apply_projection, check_size, get_item_in, item_key, key_of_item, key_of_param,
    load_table, return_on_failure, save_table, str_field, verr, write_item, xerr,
};
use super::table::{self, TableMeta};
use super::value::{self, Item};
use super::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};
use snapstack_service::Output;
use snapstack_service::RequestContext;

const MAX_BATCH_GET: usize = 100;
const MAX_BATCH_WRITE: usize = 25;
const MAX_TRANSACT: usize = 100;
/// BatchGetItem answers at most this much; the rest is UnprocessedKeys.
const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;
/// How long a ClientRequestToken is remembered.
pub(super) const TOKEN_TTL_MS: u64 = 10 * 60 * 1000;

fn request_items(body: &Value) -> DdbResult<&Map<String, Value>> {
    match body.get("RequestItems") {
        None | Some(Value::Null) => Err(DdbError::missing("requestItems")),
        Some(Value::Object(m)) => {
            if m.is_empty() {
                return Err(DdbError::constraint(
                    "{}",
                    "requestItems",
                    "Member must have length greater than or equal to 1",
                ));
            }
            Ok(m)
        }
        Some(_) => Err(DdbError::serialization("RequestItems must be a map")),
    }
}

fn duplicates() -> DdbError {
    DdbError::validation("Provided list of item keys contains duplicates")
}

/// One parsed write of a transaction.
enum Op {
    Put(Item),
    Update(Item, Option<Update>),
    Delete(Item),
    Check(Item),
}

struct TxWrite {
    table: String,
    op: Op,
    cond: Option<Condition>,
    return_old: bool,
}

fn parse_tx_write(w: &Value) -> DdbResult<TxWrite> {
    let present: Vec<(&str, &Value)> = ["Put", "Update", "Delete", "ConditionCheck"]
        .iter()
        .filter_map(|k| w.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
        .collect();
    let [(kind, body)] = present.as_slice() else {
        return Err(DdbError::validation(
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ));
    };
    let table = super::items::table_of(body)?;
    let ex = Exprs::from(body)?;
    let ce = str_field(body, "ConditionExpression")?;
    let return_old = return_on_failure(body)?;
    let (op, cond) = match *kind {
        "Put" => {
            let item = match body.get("Item") {
                None | Some(Value::Null) => return Err(DdbError::missing("item")),
                Some(v) => value::item_from_json(v).map_err(verr)?,
            };
            check_size(&item, false)?;
            let c = ex.parse(&[("ConditionExpression", ce.is_some())], |ph| {
                ce.map(|s| ex::parse_condition(s, ph)).transpose()
            })?;
            (Op::Put(item), c)
        }
        "Delete" => {
            let key = super::items::key_param(body)?;
            let c = ex.parse(&[("ConditionExpression", ce.is_some())], |ph| {
                ce.map(|s| ex::parse_condition(s, ph)).transpose()
            })?;
            (Op::Delete(key), c)
        }
        "ConditionCheck" => {
            let key = super::items::key_param(body)?;
            let ce = ce.ok_or_else(|| DdbError::missing("conditionExpression"))?;
            let c = ex.parse(&[("ConditionExpression", true)], |ph| {
                ex::parse_condition(ce, ph).map(Some)
            })?;
            (Op::Check(key), c)
        }
        _ => {
            let key = super::items::key_param(body)?;
            let ue = str_field(body, "UpdateExpression")?
                .ok_or_else(|| DdbError::missing("updateExpression"))?;
            let (u, c) = ex.parse(&[("UpdateExpression", true)], |ph| {
                let u = ex::parse_update(ue, ph)?;
                let c = ce.map(|s| ex::parse_condition(s, ph)).transpose()?;
                Ok((u, c))
            })?;
            (Op::Update(key, Some(u)), c)
        }
    };
    Ok(TxWrite {
        table,
        op,
        cond,
        return_old,
    })
}

fn transact_items(body: &Value) -> DdbResult<&Vec<Value>> {
    let items = match body.get("TransactItems") {
        None | Some(Value::Null) => return Err(DdbError::missing("transactItems")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(DdbError::serialization("TransactItems must be a list")),
    };
    if items.is_empty() {
        return Err(DdbError::constraint(
            "[]",
            "transactItems",
            "Member must have length greater than or equal to 1",
        ));
    }
    if items.len() > MAX_TRANSACT {
        return Err(DdbError::constraint(
            format!("{} items", items.len()),
            "transactItems",
            "Member must have length less than or equal to 100",
        ));
    }
    Ok(items)
}

impl DynamoDb {
    pub(super) fn batch_get_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let req = request_items(body)?;
        let snap = self.store.snapshot();
        let p = &ctx.partition;
        // Parse and check everything first.
        struct Ask<'a> {
            name: &'a str,
            t: &'a TableMeta,
            keys: Vec<(Item, Pk)>,
            proj: Option<Vec<ex::Path>>,
            spec: &'a Value,
        }
        let mut asks = Vec::new();
        let mut total = 0;
        for (name, spec) in req {
            table::validate_name(name, "requestItems.member.key")?;
            let t = match snap.get(&keys::table(p, name)) {
                Some(Rec::Table(t)) => &**t,
                _ => return Err(DdbError::not_found()),
            };
            let ks = match spec.get("Keys") {
                Some(Value::Array(a)) => a,
                _ => return Err(DdbError::missing("requestItems.member.keys")),
            };
            if ks.is_empty() {
                return Err(DdbError::constraint(
                    "[]",
                    "requestItems.member.keys",
                    "Member must have length greater than or equal to 1",
                ));
            }
            total += ks.len();
            if total > MAX_BATCH_GET {
                return Err(DdbError::validation(
                    "Too many items requested for the BatchGetItem call",
                ));
            }
            let ex = Exprs::from(spec)?;
            let proj = super::items::projection(spec, &ex)?;
            let mut parsed: Vec<(Item, Pk)> = Vec::new();
            for k in ks {
                let key = value::item_from_json(k).map_err(verr)?;
                let pk = key_of_param(t, &key)?;
                if parsed.iter().any(|(_, q)| *q == pk) {
                    return Err(duplicates());
                }
                parsed.push((key, pk));
            }
            asks.push(Ask {
                name,
                t,
                keys: parsed,
                proj,
                spec,
            });
        }
        let mut responses = Map::new();
        let mut unprocessed = Map::new();
        let mut bytes = 0usize;
        for a in asks {
            let mut got = Vec::new();
            let mut left = Vec::new();
            for (key, pk) in &a.keys {
                if bytes >= MAX_BATCH_GET_BYTES {
                    left.push(value::item_to_json(key));
                    continue;
                }
                if let Some(Rec::Item(i)) = snap.get(&item_key(p, a.t, pk)) {
                    bytes += value::item_size(i);
                    got.push(value::item_to_json(&apply_projection(i, a.proj.as_ref())));
                }
            }
            responses.insert(a.name.to_string(), Value::Array(got));
            if !left.is_empty() {
                let mut spec = a.spec.as_object().cloned().unwrap_or_default();
                spec.insert("Keys".into(), Value::Array(left));
                unprocessed.insert(a.name.to_string(), Value::Object(spec));
            }
        }
        ok(
            json!({"Responses": responses, "UnprocessedKeys": unprocessed}),
            None,
        )
    }

    pub(super) fn batch_write_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let req = request_items(body)?;
        let p = &ctx.partition;
        let mut writes: Vec<(&str, Result<Item, Item>)> = Vec::new();
        for (name, list) in req {
            table::validate_name(name, "requestItems.member.key")?;
            let Value::Array(list) = list else {
                return Err(DdbError::serialization("RequestItems values must be lists"));
            };
            if list.is_empty() {
                return Err(DdbError::constraint(
                    "[]",
                    "requestItems",
                    "Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
                ));
            }
            for w in list {
                let put = w.get("PutRequest").filter(|v| !v.is_null());
                let del = w.get("DeleteRequest").filter(|v| !v.is_null());
                match (put, del) {
                    (Some(pr), None) => {
                        let item = value::item_from_json(
                            pr.get("Item").ok_or_else(|| DdbError::missing("item"))?,
                        )
                        .map_err(verr)?;
                        check_size(&item, false)?;
                        writes.push((name, Ok(item)));
                    }
                    (None, Some(dr)) => {
                        let key = value::item_from_json(
                            dr.get("Key").ok_or_else(|| DdbError::missing("key"))?,
                        )
                        .map_err(verr)?;
                        writes.push((name, Err(key)));
                    }
                    _ => {
                        return Err(DdbError::validation(
                            "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest",
                        ));
                    }
                }
            }
        }
        if writes.len() > MAX_BATCH_WRITE {
            return Err(DdbError::constraint(
                format!("{} write requests", writes.len()),
                "requestItems",
                "Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            ));
        }
        let (r, v) = self.store.write(|txn| {
            let mut metas: BTreeMap<&str, TableMeta> = BTreeMap::new();
            for (name, _) in &writes {
                if !metas.contains_key(name) {
                    metas.insert(name, load_table(txn, p, name)?);
                }
            }
            let mut planned: Vec<(&str, Pk, Option<&Item>)> = Vec::new();
            for (name, w) in &writes {
                let t = &metas[name];
                let (pk, new) = match w {
                    Ok(item) => (key_of_item(t, item)?, Some(item)),
                    Err(key) => (key_of_param(t, key)?, None),
                };
                if planned.iter().any(|(n, q, _)| n == name && *q == pk) {
                    return Err(duplicates());
                }
                planned.push((name, pk, new));
            }
            for (name, pk, new) in planned {
                let Some(t) = metas.get_mut(name) else {
                    continue;
                };
                let old = get_item_in(txn, &item_key(p, t, &pk));
                if old.is_none() && new.is_none() {
                    continue;
                }
                write_item(p, t, txn, &pk, old.as_ref(), new, self.now_ms());
            }
            for (_, t) in metas {
                save_table(txn, p, t);
            }
            Ok(())
        });
        r?;
        ok(json!({"UnprocessedItems": {}}), Some(v))
    }

    pub(super) fn transact_write_items(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let list = transact_items(body)?;
        let token = str_field(body, "ClientRequestToken")?.map(str::to_string);
        if let Some(t) = &token
            && (t.is_empty() || t.len() > 36)
        {
            return Err(DdbError::constraint(
                t,
                "clientRequestToken",
                "Member must have length less than or equal to 36",
            ));
        }
        let digest = *blake3::hash(body.to_string().as_bytes()).as_bytes();
        let now = self.now_ms();
        let writes: Vec<TxWrite> = list.iter().map(parse_tx_write).collect::<DdbResult<_>>()?;
        let p = &ctx.partition;
        let (r, v) = self.store.write(|txn| {
            // The token is checked and recorded inside this write: a retry (even one racing the
            // first request, or after a restart) applies nothing a second time.
            if let Some(t) = &token
                && let Some(Rec::Token { digest: d, at_ms }) = txn.get(&keys::token(p, t))
                && now.saturating_sub(*at_ms) < TOKEN_TTL_MS
            {
                if *d == digest {
                    return Ok(());
                }
                return Err(DdbError::new(
                    "IdempotentParameterMismatchException",
                    "Request parameters do not match the parameters of a previous request with the same ClientRequestToken",
                ));
            }
            let mut metas: BTreeMap<String, TableMeta> = BTreeMap::new();
            for w in &writes {
                if !metas.contains_key(&w.table) {
                    metas.insert(w.table.clone(), load_table(txn, p, &w.table)?);
                }
            }
            // Keys, and no item twice.
            let mut pks: Vec<(&str, Pk)> = Vec::new();
            for w in &writes {
                let t = &metas[&w.table];
                let pk = match &w.op {
                    Op::Put(item) => key_of_item(t, item)?,
                    Op::Update(key, _) | Op::Delete(key) | Op::Check(key) => key_of_param(t, key)?,
                };
                if pks.iter().any(|(n, q)| *n == w.table && *q == pk) {
                    return Err(DdbError::validation(
                        "Transaction request cannot include multiple operations on one item",
                    ));
                }
                pks.push((&w.table, pk));
            }
            // Check every condition and compute every new item.
            let mut reasons = Vec::new();
            let mut failed = false;
            let mut plan: Vec<(Option<Item>, Option<Item>, bool)> = Vec::new();
            for (w, (_, pk)) in writes.iter().zip(&pks) {
                let t = &metas[&w.table];
                let old = get_item_in(txn, &item_key(p, t, pk));
                let empty = Item::new();
                let cond_ok = match &w.cond {
                    Some(c) => c.eval(old.as_ref().unwrap_or(&empty)).map_err(xerr),
                    None => Ok(true),
                };
                let outcome: Result<(Option<Item>, bool), (String, String)> = match cond_ok {
                    Err(e) => Err(("ValidationError".into(), e.message)),
                    Ok(false) => Err((
                        "ConditionalCheckFailed".into(),
                        "The conditional request failed".into(),
                    )),
                    Ok(true) => match &w.op {
                        Op::Put(item) => Ok((Some(item.clone()), true)),
                        Op::Delete(_) => Ok((None, old.is_some())),
                        Op::Check(_) => Ok((old.clone(), false)),
                        Op::Update(key, u) => {
                            let mut new = old.clone().unwrap_or_else(|| key.clone());
                            let applied = match u {
                                Some(u) => {
                                    let keyn = t.key_names();
                                    match u.top_level_names().into_iter().find(|n| keyn.contains(&n.as_str())) {
                                        Some(n) => Err(format!("One or more parameter values were invalid: Cannot update attribute {n}. This attribute is part of the key")),
                                        None => u.apply(&mut new).map_err(|e| e.0),
                                    }
                                }
                                None => Ok(()),
                            };
                            match applied
                                .and_then(|_| check_size(&new, true).map_err(|e| e.message))
                                .and_then(|_| key_of_item(t, &new).map(|_| ()).map_err(|e| e.message))
                            {
                                Ok(()) => Ok((Some(new), true)),
                                Err(m) => Err(("ValidationError".into(), m)),
                            }
                        }
                    },
                };
                match outcome {
                    Ok((new, write)) => {
                        reasons.push(json!({"Code": "None"}));
                        plan.push((old, new, write));
                    }
                    Err((code, message)) => {
                        failed = true;
                        let mut r = json!({"Code": code, "Message": message});
                        if w.return_old
                            && code == "ConditionalCheckFailed"
                            && let Some(o) = &old
                        {
                            r["Item"] = value::item_to_json(o);
                        }
                        reasons.push(r);
                        plan.push((old, None, false));
                    }
                }
            }
            if failed {
                let codes: Vec<&str> = reasons
                    .iter()
                    .map(|r| r["Code"].as_str().unwrap_or("None"))
                    .collect();
                return Err(DdbError::new(
                    "TransactionCanceledException",
                    format!(
                        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                        codes.join(", ")
                    ),
                )
                .with("CancellationReasons", Value::Array(reasons)));
            }
            for ((w, (_, pk)), (old, new, write)) in writes.iter().zip(&pks).zip(&plan) {
                if !write {
                    continue;
                }
                let Some(t) = metas.get_mut(&w.table) else {
                    continue;
                };
                write_item(p, t, txn, pk, old.as_ref(), new.as_ref(), self.now_ms());
            }
            for (_, t) in metas {
                save_table(txn, p, t);
            }
            // Only a transaction that was applied claims its token (a cancelled one may be
            // retried with it).
            if let Some(t) = &token {
                txn.insert(keys::token(p, t), Rec::Token { digest, at_ms: now });
            }
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(super) fn transact_get_items(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let list = transact_items(body)?;
        let snap = self.store.snapshot();
        let p = &ctx.partition;
        let mut out = Vec::new();
        let mut asks = Vec::new();
        for g in list {
            let Some(get) = g.get("Get").filter(|v| !v.is_null()) else {
                return Err(DdbError::missing("transactItems.member.get"));
            };
            let name = super::items::table_of(get)?;
            let key = super::items::key_param(get)?;
            let ex = Exprs::from(get)?;
            let proj = super::items::projection(get, &ex)?;
            let t = match snap.get(&keys::table(p, &name)) {
                Some(Rec::Table(t)) => &**t,
                _ => return Err(DdbError::not_found()),
            };
            let pk = key_of_param(t, &key)?;
            if asks
                .iter()
                .any(|(n, q): &(String, Pk)| *n == name && *q == pk)
            {
                return Err(DdbError::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            asks.push((name, pk.clone()));
            out.push(match snap.get(&item_key(p, t, &pk)) {
                Some(Rec::Item(i)) => {
                    json!({"Item": value::item_to_json(&apply_projection(i, proj.as_ref()))})
                }
                _ => json!({}),
            });
        }
        ok(json!({"Responses": out}), None)
    }
}

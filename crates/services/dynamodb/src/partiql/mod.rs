//! PartiQL: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.
//!
//! - `lex`, `parse`: DynamoDB's PartiQL subset — `SELECT … FROM "t"[."index"] [WHERE …]
//!   [ORDER BY k [ASC|DESC]]`, `INSERT INTO "t" VALUE {…}`, `UPDATE "t" SET …/REMOVE … WHERE …
//!   [RETURNING …]`, `DELETE FROM "t" WHERE … [RETURNING ALL OLD *]`, and `EXISTS(SELECT …)` in
//!   transactions; `?` parameters. WHERE is parsed into the expression language's condition tree,
//!   SET/REMOVE into its update actions.
//! - `exec`: SELECT on a snapshot (key lookups, partitions by `=`/`IN` on the partition key, or a
//!   scan, paged by `Limit`/`NextToken`), and write statements as plans.
//!
//! Writes follow DynamoDB: INSERT fails with DuplicateItemException if the item exists; UPDATE and
//! DELETE must name one item by an equality on every key attribute, and the whole WHERE is their
//! condition (ConditionalCheckFailedException when it is false); UPDATE of an absent item fails the
//! condition, DELETE of an absent item does nothing.

mod exec;
mod lex;
pub(crate) mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use snapstack_service::{Output, RequestContext};

use crate::items::{
    self, get_item_in, item_key, load_table, save_table, str_field, verr, write_item,
};
use crate::table::TableMeta;
use crate::value::{self, AttributeValue, Item};
use crate::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};
use parse::Stmt;

/// Longest statement DynamoDB accepts.
pub const MAX_STATEMENT_LEN: usize = 8192;
/// Deepest nesting of parentheses, NOT, and literals (bounds the parser's recursion).
pub const MAX_NESTING: usize = 64;
const MAX_BATCH: usize = 25;
const MAX_TRANSACT: usize = 100;

/// A statement and its parameters, parsed.
fn prepare(statement: &Value, params: Option<&Value>) -> DdbResult<Stmt> {
    let src = match statement {
        Value::Null => return Err(DdbError::missing("statement")),
        Value::String(s) => s,
        _ => return Err(DdbError::serialization("Statement must be a string")),
    };
    if src.is_empty() {
        return Err(DdbError::constraint(
            "",
            "statement",
            "Member must have length greater than or equal to 1",
        ));
    }
    let params: Vec<AttributeValue> = match params {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(value::value_from_json)
            .collect::<Result<_, _>>()
            .map_err(verr)?,
        Some(_) => return Err(DdbError::serialization("Parameters must be a list")),
    };
    parse::parse(src, &params).map_err(DdbError::validation)
}

fn limit_of(body: &Value) -> DdbResult<Option<usize>> {
    match body.get("Limit") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n as usize)),
            Some(n) => Err(DdbError::constraint(
                n,
                "limit",
                "Member must have value greater than or equal to 1",
            )),
            None => Err(DdbError::serialization("Limit must be a number")),
        },
    }
}

fn return_old_on_failure(v: &Value) -> DdbResult<bool> {
    items::return_on_failure(v)
}

fn items_json(items: &[Item]) -> Value {
    Value::Array(items.iter().map(value::item_to_json).collect())
}

/// The code of a BatchStatementError for an error of a statement.
fn batch_code(e: &DdbError) -> &'static str {
    match e.code {
        "ConditionalCheckFailedException" => "ConditionalCheckFailed",
        "DuplicateItemException" => "DuplicateItem",
        "ResourceNotFoundException" => "ResourceNotFound",
        "ValidationException" => "ValidationError",
        "TransactionConflictException" => "TransactionConflict",
        _ => "InternalServerError",
    }
}

impl DynamoDb {
    fn table_snap(&self, ctx: &RequestContext, name: &str) -> DdbResult<TableMeta> {
        self.table(&ctx.partition, name)
    }

    /// Run one write statement in its own store write.
    fn write_statement(
        &self,
        ctx: &RequestContext,
        stmt: &Stmt,
        return_old: bool,
    ) -> DdbResult<(exec::Plan, u64)> {
        let p = &ctx.partition;
        let (r, v) = self.store.write(|txn| {
            let mut t = load_table(txn, p, stmt.table())
                .map_err(|_| DdbError::table_not_found(stmt.table()))?;
            let pk = exec::write_key(&t, stmt)?;
            let old = get_item_in(txn, &item_key(p, &t, &pk));
            let plan = exec::plan(&t, stmt, pk, old.as_ref(), return_old)?;
            if plan.write {
                write_item(
                    p,
                    &mut t,
                    txn,
                    &plan.pk,
                    old.as_ref(),
                    plan.new.as_ref(),
                    self.now_ms(),
                );
                save_table(txn, p, t);
            }
            Ok(plan)
        });
        r.map(|plan| (plan, v))
    }

    pub(crate) fn execute_statement(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let stmt = prepare(
            body.get("Statement").unwrap_or(&Value::Null),
            body.get("Parameters"),
        )?;
        let limit = limit_of(body)?;
        let token = str_field(body, "NextToken")?;
        let return_old = return_old_on_failure(body)?;
        items::bool_field(body, "ConsistentRead")?;
        match &stmt {
            Stmt::Select(s) => {
                let t = self.table_snap(ctx, &s.table)?;
                let snap = self.store.snapshot();
                let page = exec::select(&snap, &ctx.partition, &t, s, limit, token)?;
                let consistent = items::bool_field(body, "ConsistentRead")?.unwrap_or(false);
                let mut out = json!({"Items": items_json(&page.items)});
                if let Some(n) = &page.next_token {
                    out["NextToken"] = json!(n);
                }
                if let Some(k) = &page.last_key {
                    out["LastEvaluatedKey"] = value::item_to_json(k);
                }
                let units = items::read_units(page.size, consistent);
                ok(items::with_capacity(out, body, &t.name, units)?, None)
            }
            Stmt::Exists(_) => Err(DdbError::validation(
                "EXISTS is supported only in ExecuteTransaction",
            )),
            _ => {
                let (plan, v) = self.write_statement(ctx, &stmt, return_old)?;
                let items: Vec<Item> = plan.returned.into_iter().collect();
                let size = plan.new.as_ref().map_or(0, value::item_size);
                let out = json!({"Items": items_json(&items)});
                ok(
                    items::with_capacity(out, body, stmt.table(), items::write_units(size))?,
                    plan.write.then_some(v),
                )
            }
        }
    }

    pub(crate) fn batch_execute_statement(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let list = match body.get("Statements") {
            None | Some(Value::Null) => return Err(DdbError::missing("statements")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(DdbError::serialization("Statements must be a list")),
        };
        if list.is_empty() || list.len() > MAX_BATCH {
            return Err(DdbError::constraint(
                format!("{} statements", list.len()),
                "statements",
                "Member must have length less than or equal to 25 and greater than or equal to 1",
            ));
        }
        let mut responses = Vec::with_capacity(list.len());
        let mut version = None;
        for s in list {
            let stmt = prepare(
                s.get("Statement").unwrap_or(&Value::Null),
                s.get("Parameters"),
            );
            let return_old = return_old_on_failure(s)?;
            let (table, result) = match stmt {
                Err(e) => (None, Err(e)),
                Ok(stmt) => {
                    let table = stmt.table().to_string();
                    let r = match &stmt {
                        Stmt::Select(sel) => self.point_read(ctx, sel).map(|i| (i, None)),
                        Stmt::Exists(_) => Err(DdbError::validation(
                            "EXISTS is supported only in ExecuteTransaction",
                        )),
                        _ => self
                            .write_statement(ctx, &stmt, return_old)
                            .map(|(plan, v)| (None, plan.write.then_some(v))),
                    };
                    (Some(table), r)
                }
            };
            let mut entry = json!({});
            if let Some(t) = table {
                entry["TableName"] = json!(t);
            }
            match result {
                Ok((item, v)) => {
                    if let Some(i) = item {
                        entry["Item"] = value::item_to_json(&i);
                    }
                    version = v.or(version);
                }
                Err(e) => {
                    let mut err = json!({"Code": batch_code(&e), "Message": e.message});
                    if let Some(i) = e.extra.get("Item") {
                        err["Item"] = i.clone();
                    }
                    entry["Error"] = err;
                }
            }
            responses.push(entry);
        }
        ok(json!({"Responses": responses}), version)
    }

    /// A SELECT that names one item by its whole key (batches and transactions read only so).
    fn point_read(&self, ctx: &RequestContext, s: &parse::Select) -> DdbResult<Option<Item>> {
        let t = self.table_snap(ctx, &s.table)?;
        if s.index.is_some() {
            return Err(DdbError::validation(
                "Select statements in a batch or transaction cannot read an index",
            ));
        }
        let cond = s.cond.as_ref().ok_or_else(|| {
            DdbError::validation(
                "Select statements within a batch or transaction must specify the full primary key",
            )
        })?;
        let (_, pk) = exec::target_key(&t, cond).map_err(|_| {
            DdbError::validation(
                "Select statements within a batch or transaction must specify the full primary key",
            )
        })?;
        let snap = self.store.snapshot();
        let Some(Rec::Item(item)) = snap.get(&item_key(&ctx.partition, &t, &pk)) else {
            return Ok(None);
        };
        if !crate::expr::Condition::from_node(cond.clone())
            .eval(item)
            .map_err(items::xerr)?
        {
            return Ok(None);
        }
        Ok(Some(match &s.projection {
            Some(paths) => crate::expr::project(item, paths),
            None => item.clone(),
        }))
    }

    pub(crate) fn execute_transaction(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let list = match body.get("TransactStatements") {
            None | Some(Value::Null) => return Err(DdbError::missing("transactStatements")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(DdbError::serialization("TransactStatements must be a list")),
        };
        if list.is_empty() || list.len() > MAX_TRANSACT {
            return Err(DdbError::constraint(
                format!("{} statements", list.len()),
                "transactStatements",
                "Member must have length less than or equal to 100 and greater than or equal to 1",
            ));
        }
        let token = str_field(body, "ClientRequestToken")?.map(str::to_string);
        let mut stmts = Vec::with_capacity(list.len());
        for s in list {
            let stmt = prepare(
                s.get("Statement").unwrap_or(&Value::Null),
                s.get("Parameters"),
            )?;
            stmts.push((stmt, return_old_on_failure(s)?));
        }
        let reads = stmts.iter().filter(|(s, _)| s.is_read()).count();
        if reads > 0 && reads < stmts.len() {
            return Err(DdbError::validation(
                "Transaction must contain either all read statements or all write statements",
            ));
        }
        if reads > 0 {
            let mut out = Vec::new();
            for (s, _) in &stmts {
                let Stmt::Select(sel) = s else { continue };
                out.push(match self.point_read(ctx, sel)? {
                    Some(i) => json!({"Item": value::item_to_json(&i)}),
                    None => json!({}),
                });
            }
            return ok(json!({"Responses": out}), None);
        }
        let p = &ctx.partition;
        let digest = *blake3::hash(body.to_string().as_bytes()).as_bytes();
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            if let Some(t) = &token
                && let Some(Rec::Token { digest: d, at_ms }) = txn.get(&keys::token(p, t))
                && now.saturating_sub(*at_ms) < crate::batch::TOKEN_TTL_MS
            {
                if *d == digest {
                    return Ok(false);
                }
                return Err(DdbError::new(
                    "IdempotentParameterMismatchException",
                    "Request parameters do not match the parameters of a previous request with the same ClientRequestToken",
                ));
            }
            let mut metas: BTreeMap<String, TableMeta> = BTreeMap::new();
            let mut pks = Vec::new();
            for (s, _) in &stmts {
                let name = s.table();
                if !metas.contains_key(name) {
                    let t = load_table(txn, p, name).map_err(|_| DdbError::table_not_found(name))?;
                    metas.insert(name.to_string(), t);
                }
                let pk = exec::write_key(&metas[name], s)?;
                if pks.iter().any(|(n, q)| *n == name && *q == pk) {
                    return Err(DdbError::validation(
                        "Transaction request cannot include multiple operations on one item",
                    ));
                }
                pks.push((name, pk));
            }
            let mut reasons = Vec::new();
            let mut failed = false;
            let mut plans = Vec::new();
            for ((s, return_old), (name, pk)) in stmts.iter().zip(&pks) {
                let t = &metas[*name];
                let old = get_item_in(txn, &item_key(p, t, pk));
                match exec::plan(t, s, pk.clone(), old.as_ref(), *return_old) {
                    Ok(plan) => {
                        reasons.push(json!({"Code": "None"}));
                        plans.push(Some((old, plan)));
                    }
                    Err(e) => {
                        failed = true;
                        let mut r = json!({"Code": batch_code(&e), "Message": e.message});
                        if let Some(i) = e.extra.get("Item") {
                            r["Item"] = i.clone();
                        }
                        reasons.push(r);
                        plans.push(None);
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
            for ((name, _), planned) in pks.iter().zip(plans) {
                let Some((old, plan)) = planned else { continue };
                if !plan.write {
                    continue;
                }
                let Some(t) = metas.get_mut(*name) else { continue };
                write_item(p, t, txn, &plan.pk, old.as_ref(), plan.new.as_ref(), self.now_ms());
            }
            for (_, t) in metas {
                save_table(txn, p, t);
            }
            if let Some(t) = &token {
                txn.insert(keys::token(p, t), Rec::Token { digest, at_ms: now });
            }
            Ok(true)
        });
        let wrote = r?;
        ok(json!({}), wrote.then_some(v))
    }
}

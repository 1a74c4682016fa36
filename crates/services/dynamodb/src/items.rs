//! Items: primary keys, the write primitive that keeps indexes, TTL entries and counts in step
//! with the items, and the single-item operations (PutItem, GetItem, UpdateItem, DeleteItem).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ex::{self, Condition, ExprError, Placeholders};
use super::table::{IndexMeta, KeyAttr, KeyType, Projection, TableMeta};
use super::value::{self, AttributeValue, Item, ValueError};
use super::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};
use snapstack_engine::store::Txn;
use snapstack_engine::{Key, Partition};
use snapstack_service::Output;
use snapstack_service::RequestContext;

/// DynamoDB's item size limit.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;
const MAX_HASH_KEY: usize = 2048;
const MAX_RANGE_KEY: usize = 1024;

/// A value error: a JSON member of the wrong JSON type is a SerializationException, as DynamoDB
/// answers it; the rest are ValidationExceptions.
pub fn verr(e: ValueError) -> DdbError {
    if e.is_serialization() {
        DdbError::serialization(e.0)
    } else {
        DdbError::validation(e.0)
    }
}

pub fn xerr(e: ExprError) -> DdbError {
    DdbError::validation(e.0)
}

/// The order-preserving bytes of an item's primary key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pk {
    pub hash: Vec<u8>,
    pub range: Option<Vec<u8>>,
}

/// The store key of an item.
pub fn item_key(p: &Partition, t: &TableMeta, pk: &Pk) -> Key {
    let b = p.key().str("i").u64(t.id).bytes(&pk.hash);
    match &pk.range {
        Some(r) => b.bytes(r).build(),
        None => b.build(),
    }
}

/// The store key of an index entry.
pub fn index_key(
    p: &Partition,
    t: &TableMeta,
    idx: &IndexMeta,
    ih: &[u8],
    ir: Option<&[u8]>,
    pk: &Pk,
) -> Key {
    let mut b = p.key().str("x").u64(t.id).str(&idx.name).bytes(ih);
    if let Some(r) = ir {
        b = b.bytes(r);
    }
    b = b.bytes(&pk.hash);
    if let Some(r) = &pk.range {
        b = b.bytes(r);
    }
    b.build()
}

fn ttl_key(p: &Partition, t: &TableMeta, secs: u64, pk: &Pk) -> Key {
    let b = p.key().str("e").u64(t.id).u64(secs).bytes(&pk.hash);
    match &pk.range {
        Some(r) => b.bytes(r).build(),
        None => b.build(),
    }
}

fn type_matches(v: &AttributeValue, kind: KeyType) -> bool {
    matches!(
        (v, kind),
        (AttributeValue::S(_), KeyType::S)
            | (AttributeValue::N(_), KeyType::N)
            | (AttributeValue::B(_), KeyType::B)
    )
}

fn is_empty_key(v: &AttributeValue) -> Option<&'static str> {
    match v {
        AttributeValue::S(s) if s.is_empty() => Some("string"),
        AttributeValue::B(b) if b.is_empty() => Some("binary"),
        _ => None,
    }
}

fn empty_key_error(kind: &str, name: &str) -> DdbError {
    DdbError::validation(format!(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
    ))
}

fn key_sizes(hash: &[u8], range: Option<&[u8]>) -> DdbResult<()> {
    if hash.len() > MAX_HASH_KEY {
        return Err(DdbError::invalid_param(
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if range.is_some_and(|r| r.len() > MAX_RANGE_KEY) {
        return Err(DdbError::invalid_param(
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    Ok(())
}

fn bytes_of(v: &AttributeValue) -> Vec<u8> {
    value::key_bytes(v).unwrap_or_default()
}

/// The primary key of a `Key` parameter: exactly the table's key attributes, of their types.
pub fn key_of_param(t: &TableMeta, key: &Item) -> DdbResult<Pk> {
    key_of_param_for(&t.hash, t.range.as_ref(), key)
}

pub fn key_of_param_for(hash: &KeyAttr, range: Option<&KeyAttr>, key: &Item) -> DdbResult<Pk> {
    let mismatch = || DdbError::validation("The provided key element does not match the schema");
    let expected = 1 + usize::from(range.is_some());
    if key.len() != expected {
        return Err(mismatch());
    }
    let get = |a: &KeyAttr| -> DdbResult<Vec<u8>> {
        let v = key.get(&a.name).ok_or_else(mismatch)?;
        if !type_matches(v, a.kind) {
            return Err(mismatch());
        }
        if let Some(k) = is_empty_key(v) {
            return Err(empty_key_error(k, &a.name));
        }
        Ok(bytes_of(v))
    };
    let h = get(hash)?;
    let r = range.map(get).transpose()?;
    key_sizes(&h, r.as_deref())?;
    Ok(Pk { hash: h, range: r })
}

/// The primary key of a whole item (PutItem): the key attributes must be there, of their types,
/// and the item's index key attributes must have their index's types.
pub fn key_of_item(t: &TableMeta, item: &Item) -> DdbResult<Pk> {
    let get = |a: &KeyAttr| -> DdbResult<Vec<u8>> {
        let v = item.get(&a.name).ok_or_else(|| {
            DdbError::invalid_param(format!("Missing the key {} in the item", a.name))
        })?;
        if !type_matches(v, a.kind) {
            return Err(DdbError::invalid_param(format!(
                "Type mismatch for key {} expected: {} actual: {}",
                a.name,
                a.kind.as_str(),
                v.type_code()
            )));
        }
        if let Some(k) = is_empty_key(v) {
            return Err(empty_key_error(k, &a.name));
        }
        Ok(bytes_of(v))
    };
    let h = get(&t.hash)?;
    let r = t.range.as_ref().map(get).transpose()?;
    key_sizes(&h, r.as_deref())?;
    for idx in t.indexes() {
        for a in std::iter::once(&idx.hash).chain(idx.range.iter()) {
            if let Some(v) = item.get(&a.name) {
                if !type_matches(v, a.kind) {
                    return Err(DdbError::invalid_param(format!(
                        "Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                        a.name,
                        a.kind.as_str(),
                        v.type_code(),
                        idx.name
                    )));
                }
                if is_empty_key(v).is_some() {
                    return Err(DdbError::validation(format!(
                        "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: {}, IndexKey: {}",
                        idx.name, a.name
                    )));
                }
            }
        }
    }
    Ok(Pk { hash: h, range: r })
}

/// The key attributes of an item (for LastEvaluatedKey and UnprocessedKeys).
pub fn key_item(t: &TableMeta, item: &Item, idx: Option<&IndexMeta>) -> Item {
    let mut names: Vec<&str> = t.key_names();
    if let Some(i) = idx {
        names.push(&i.hash.name);
        if let Some(r) = &i.range {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// An item's index key bytes, if the item is in the index (it has the key attributes, of their
/// types).
fn index_key_bytes(idx: &IndexMeta, item: &Item) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let h = item.get(&idx.hash.name)?;
    if !type_matches(h, idx.hash.kind) {
        return None;
    }
    let r = match &idx.range {
        Some(a) => {
            let v = item.get(&a.name)?;
            if !type_matches(v, a.kind) {
                return None;
            }
            Some(bytes_of(v))
        }
        None => None,
    };
    Some((bytes_of(h), r))
}

/// What an index keeps of an item.
pub fn projected(t: &TableMeta, idx: &IndexMeta, item: &Item) -> Item {
    match &idx.projection {
        Projection::All => item.clone(),
        Projection::KeysOnly => key_item(t, item, Some(idx)),
        Projection::Include(names) => {
            let mut out = key_item(t, item, Some(idx));
            for n in names {
                if let Some(v) = item.get(n) {
                    out.insert(n.clone(), v.clone());
                }
            }
            out
        }
    }
}

/// The expiry (epoch seconds) of an item under the table's TTL attribute.
pub fn expiry(t: &TableMeta, item: &Item) -> Option<u64> {
    let a = t.ttl_attribute.as_ref()?;
    match item.get(a)? {
        AttributeValue::N(n) => {
            let f = n.to_f64();
            (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then_some(f as u64)
        }
        _ => None,
    }
}

/// Add or remove one item's index entries.
pub fn index_entry(
    p: &Partition,
    t: &mut TableMeta,
    gi: usize,
    txn: &mut Txn<'_, Rec>,
    pk: &Pk,
    item: &Item,
    add: bool,
) {
    let Some(idx) = t.indexes().nth(gi).cloned() else {
        return;
    };
    let Some((ih, ir)) = index_key_bytes(&idx, item) else {
        return;
    };
    let key = index_key(p, t, &idx, &ih, ir.as_deref(), pk);
    let entry = projected(t, &idx, item);
    let size = value::item_size(&entry) as u64;
    let Some(meta) = t.index_mut(&idx.name) else {
        return;
    };
    if add {
        txn.insert(key, Rec::Item(entry));
        meta.item_count += 1;
        meta.size_bytes += size;
    } else if txn.remove(&key).is_some() {
        meta.item_count = meta.item_count.saturating_sub(1);
        meta.size_bytes = meta.size_bytes.saturating_sub(size);
    }
}

/// Replace the item at `pk` (`new: None` deletes it), keeping its index entries, its TTL entry
/// and the table's counts in step. `old` is the item stored there now.
pub fn write_item(
    p: &Partition,
    t: &mut TableMeta,
    txn: &mut Txn<'_, Rec>,
    pk: &Pk,
    old: Option<&Item>,
    new: Option<&Item>,
    now_ms: u64,
) {
    write_item_as(p, t, txn, pk, old, new, now_ms, false);
}

/// [`write_item`], saying whether the change is a deletion by Time to Live (its stream record
/// names the DynamoDB service as the one who made it).
#[allow(clippy::too_many_arguments)]
pub fn write_item_as(
    p: &Partition,
    t: &mut TableMeta,
    txn: &mut Txn<'_, Rec>,
    pk: &Pk,
    old: Option<&Item>,
    new: Option<&Item>,
    now_ms: u64,
    by_ttl: bool,
) {
    crate::streams::append(p, t, txn, pk, old, new, now_ms, by_ttl);
    let n_indexes = t.gsis.len() + t.lsis.len();
    if let Some(o) = old {
        t.item_count = t.item_count.saturating_sub(1);
        t.size_bytes = t.size_bytes.saturating_sub(value::item_size(o) as u64);
        for gi in 0..n_indexes {
            index_entry(p, t, gi, txn, pk, o, false);
        }
        if let Some(secs) = expiry(t, o) {
            txn.remove(&ttl_key(p, t, secs, pk));
        }
    }
    let key = item_key(p, t, pk);
    match new {
        Some(n) => {
            t.item_count += 1;
            t.size_bytes += value::item_size(n) as u64;
            for gi in 0..n_indexes {
                index_entry(p, t, gi, txn, pk, n, true);
            }
            if let Some(secs) = expiry(t, n) {
                txn.insert(
                    ttl_key(p, t, secs, pk),
                    Rec::Ttl {
                        hash: pk.hash.clone(),
                        range: pk.range.clone(),
                    },
                );
            }
            txn.insert(key, Rec::Item(n.clone()));
        }
        None => {
            txn.remove(&key);
        }
    }
}

/// The items of a table, as (primary key, item), read inside a transaction.
pub fn all_items(p: &Partition, t: &TableMeta, txn: &Txn<'_, Rec>) -> Vec<(Pk, Item)> {
    txn.scan_prefix(&keys::items(p, t.id))
        .filter_map(|(_, r)| match r {
            Rec::Item(i) => {
                let pk = key_of_param(t, &key_item(t, i, None)).ok()?;
                Some((pk, i.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Fill a newly added index (the last of `t`'s GSIs) from the table's items.
pub fn backfill(p: &Partition, t: &mut TableMeta, txn: &mut Txn<'_, Rec>, name: &str) {
    let items = all_items(p, t, txn);
    let Some(gi) = t.indexes().position(|i| i.name == name) else {
        return;
    };
    for (pk, item) in &items {
        index_entry(p, t, gi, txn, pk, item, true);
    }
}

/// Rebuild the TTL entries of a table (TTL switched on, or off).
pub fn rebuild_expiries(p: &Partition, t: &TableMeta, txn: &mut Txn<'_, Rec>) {
    txn.remove_prefix(&keys::expiries(p, t.id));
    if t.ttl_attribute.is_none() {
        return;
    }
    for (pk, item) in all_items(p, t, txn) {
        if let Some(secs) = expiry(t, &item) {
            txn.insert(
                ttl_key(p, t, secs, &pk),
                Rec::Ttl {
                    hash: pk.hash,
                    range: pk.range,
                },
            );
        }
    }
}

/// Load a table's metadata inside a write.
pub fn load_table(txn: &Txn<'_, Rec>, p: &Partition, name: &str) -> DdbResult<TableMeta> {
    match txn.get(&keys::table(p, name)) {
        Some(Rec::Table(t)) => Ok((**t).clone()),
        _ => Err(DdbError::not_found()),
    }
}

pub fn save_table(txn: &mut Txn<'_, Rec>, p: &Partition, t: TableMeta) {
    let key = keys::table(p, &t.name);
    if let Some(Rec::Table(old)) = txn.get(&key)
        && **old == t
    {
        return;
    }
    txn.insert(key, Rec::Table(Box::new(t)));
}

pub fn get_item_in(txn: &Txn<'_, Rec>, key: &Key) -> Option<Item> {
    match txn.get(key) {
        Some(Rec::Item(i)) => Some(i.clone()),
        _ => None,
    }
}

// ---- Request pieces ---------------------------------------------------------------------------

/// The expression attribute names and values of a request.
#[derive(Default)]
pub struct Exprs {
    pub names: Option<BTreeMap<String, String>>,
    pub values: Option<BTreeMap<String, AttributeValue>>,
}

impl Exprs {
    pub fn from(body: &Value) -> DdbResult<Exprs> {
        let names = match body.get("ExpressionAttributeNames") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                if m.is_empty() {
                    return Err(DdbError::validation(
                        "ExpressionAttributeNames must not be empty",
                    ));
                }
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let Some(s) = v.as_str() else {
                        return Err(DdbError::serialization(format!(
                            "ExpressionAttributeNames value for {k} is not a string"
                        )));
                    };
                    if !super::expr::is_placeholder(k, '#') {
                        return Err(DdbError::validation(format!(
                            "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                        )));
                    }
                    if s.is_empty() {
                        return Err(DdbError::validation(format!(
                            "ExpressionAttributeNames contains invalid value: Empty attribute name; key: \"{k}\""
                        )));
                    }
                    out.insert(k.clone(), s.to_string());
                }
                Some(out)
            }
            Some(_) => {
                return Err(DdbError::serialization(
                    "ExpressionAttributeNames must be a map",
                ));
            }
        };
        let values = match body.get("ExpressionAttributeValues") {
            None | Some(Value::Null) => None,
            Some(v) => Some(value::values_from_json(v).map_err(verr)?),
        };
        Ok(Exprs { names, values })
    }

    /// Parse a request's expressions with one set of placeholders, then require every
    /// placeholder to have been used. `present` names the expressions the request holds, for
    /// the errors of placeholders given without any expression.
    pub fn parse<R>(
        &self,
        present: &[(&str, bool)],
        f: impl FnOnce(&mut Placeholders) -> Result<R, ExprError>,
    ) -> DdbResult<R> {
        if !present.iter().any(|(_, p)| *p) {
            let nulls = present
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            if self.values.is_some() {
                return Err(DdbError::validation(format!(
                    "ExpressionAttributeValues can only be specified when using expressions: {nulls} {} null",
                    if present.len() > 1 { "are" } else { "is" }
                )));
            }
            if self.names.is_some() {
                return Err(DdbError::validation(
                    "ExpressionAttributeNames can only be specified when using expressions",
                ));
            }
        }
        let mut ph = Placeholders::new(self.names.as_ref(), self.values.as_ref());
        let r = f(&mut ph).map_err(xerr)?;
        ph.check_unused().map_err(xerr)?;
        Ok(r)
    }
}

pub fn str_field<'a>(body: &'a Value, name: &str) -> DdbResult<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(DdbError::serialization(format!(
            "{name}: expected a string"
        ))),
    }
}

pub fn bool_field(body: &Value, name: &str) -> DdbResult<Option<bool>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DdbError::serialization(format!(
            "{name}: expected a boolean"
        ))),
    }
}

pub fn table_of(body: &Value) -> DdbResult<String> {
    let name = str_field(body, "TableName")?.map(str::to_string);
    super::table::table_name(name.as_ref())
}

/// Which old or new attributes a write returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnValues {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

pub fn return_values(body: &Value, allowed: &[&str]) -> DdbResult<ReturnValues> {
    let Some(s) = str_field(body, "ReturnValues")? else {
        return Ok(ReturnValues::None);
    };
    let rv = match s {
        "NONE" => ReturnValues::None,
        "ALL_OLD" => ReturnValues::AllOld,
        "UPDATED_OLD" => ReturnValues::UpdatedOld,
        "ALL_NEW" => ReturnValues::AllNew,
        "UPDATED_NEW" => ReturnValues::UpdatedNew,
        other => {
            return Err(DdbError::constraint(
                other,
                "returnValues",
                "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
            ));
        }
    };
    if !allowed.contains(&s) {
        return Err(DdbError::validation("Return values set to invalid value"));
    }
    Ok(rv)
}

/// `ReturnValuesOnConditionCheckFailure`: whether a failed condition returns the old item.
pub fn return_on_failure(body: &Value) -> DdbResult<bool> {
    match str_field(body, "ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(DdbError::constraint(
            other,
            "returnValuesOnConditionCheckFailure",
            "Member must satisfy enum value set: [ALL_OLD, NONE]",
        )),
    }
}

pub fn check_size(item: &Item, update: bool) -> DdbResult<()> {
    if value::item_size(item) > MAX_ITEM_SIZE {
        return Err(DdbError::validation(if update {
            "Item size to update has exceeded the maximum allowed size"
        } else {
            "Item size has exceeded the maximum allowed size"
        }));
    }
    Ok(())
}

/// Evaluate a write's condition against the stored item (an absent item is an empty one).
pub fn check_condition(
    cond: Option<&Condition>,
    old: Option<&Item>,
    return_old: bool,
) -> DdbResult<()> {
    let Some(c) = cond else { return Ok(()) };
    let empty = Item::new();
    if c.eval(old.unwrap_or(&empty)).map_err(xerr)? {
        return Ok(());
    }
    let mut e = DdbError::new(
        "ConditionalCheckFailedException",
        "The conditional request failed",
    );
    if return_old && let Some(o) = old {
        e = e.with("Item", value::item_to_json(o));
    }
    Err(e)
}

fn required<'a>(body: &'a Value, name: &str, field: &str) -> DdbResult<&'a Value> {
    match body.get(name) {
        None | Some(Value::Null) => Err(DdbError::missing(field)),
        Some(v) => Ok(v),
    }
}

pub fn key_param(body: &Value) -> DdbResult<Item> {
    value::item_from_json(required(body, "Key", "key")?).map_err(verr)
}

/// Parse a projection (ProjectionExpression, or the legacy AttributesToGet).
pub fn projection(body: &Value, ex: &Exprs) -> DdbResult<Option<Vec<ex::Path>>> {
    no_mixing(
        body,
        &["AttributesToGet"],
        &["ProjectionExpression", "ExpressionAttributeNames"],
    )?;
    if let Some(a) = body.get("AttributesToGet").filter(|v| !v.is_null()) {
        return Ok(Some(ex::paths_from_attributes_to_get(a).map_err(xerr)?));
    }
    let pe = str_field(body, "ProjectionExpression")?;
    ex.parse(&[("ProjectionExpression", pe.is_some())], |ph| {
        pe.map(|s| ex::parse_projection(s, ph)).transpose()
    })
}

pub fn apply_projection(item: &Item, paths: Option<&Vec<ex::Path>>) -> Item {
    match paths {
        Some(p) => ex::project(item, p),
        None => item.clone(),
    }
}

pub fn has(body: &Value, name: &str) -> bool {
    body.get(name).is_some_and(|v| !v.is_null())
}

/// DynamoDB refuses a request that mixes legacy parameters and expressions.
pub fn no_mixing(body: &Value, legacy: &[&str], exprs: &[&str]) -> DdbResult<()> {
    let l: Vec<&str> = legacy.iter().copied().filter(|n| has(body, n)).collect();
    let e: Vec<&str> = exprs.iter().copied().filter(|n| has(body, n)).collect();
    if !l.is_empty() && !e.is_empty() {
        return Err(DdbError::validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            l.join(", "),
            e.join(", ")
        )));
    }
    Ok(())
}

const WRITE_EXPRS: &[&str] = &[
    "ConditionExpression",
    "UpdateExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
];

/// A write's condition: the legacy `Expected` map, or `ConditionExpression`.
fn write_condition(body: &Value, ex: &Exprs) -> DdbResult<Option<Condition>> {
    no_mixing(body, &["Expected", "ConditionalOperator"], WRITE_EXPRS)?;
    if let Some(e) = body.get("Expected").filter(|v| !v.is_null()) {
        let co = str_field(body, "ConditionalOperator")?;
        return Ok(Some(ex::condition_from_expected(e, co).map_err(xerr)?));
    }
    let ce = str_field(body, "ConditionExpression")?;
    ex.parse(&[("ConditionExpression", ce.is_some())], |ph| {
        ce.map(|s| ex::parse_condition(s, ph)).transpose()
    })
}

/// Add `ConsumedCapacity` to a response when the request asks for it (`TOTAL` or `INDEXES`).
pub fn with_capacity(mut out: Value, body: &Value, table: &str, units: f64) -> DdbResult<Value> {
    crate::metrics::note_units(units);
    match str_field(body, "ReturnConsumedCapacity")? {
        None | Some("NONE") => {}
        Some("TOTAL") | Some("INDEXES") => {
            out["ConsumedCapacity"] = json!({"TableName": table, "CapacityUnits": units});
        }
        Some(other) => {
            return Err(DdbError::constraint(
                other,
                "returnConsumedCapacity",
                "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
            ));
        }
    }
    Ok(out)
}

/// Write capacity units of an item write: one per started KB.
pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read capacity units of reading `size` bytes: one per started 4 KB, half for eventually
/// consistent reads.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let u = size.div_ceil(4096).max(1) as f64;
    if consistent { u } else { u / 2.0 }
}

impl DynamoDb {
    pub(super) fn put_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let p = &ctx.partition;
        let name = table_of(body)?;
        let item = value::item_from_json(required(body, "Item", "item")?).map_err(verr)?;
        let rv = return_values(body, &["NONE", "ALL_OLD"])?;
        let rof = return_on_failure(body)?;
        let ex = Exprs::from(body)?;
        let cond = write_condition(body, &ex)?;
        check_size(&item, false)?;
        let (r, v) = self.store.write(|txn| {
            let mut t = load_table(txn, p, &name)?;
            let pk = key_of_item(&t, &item)?;
            let old = get_item_in(txn, &item_key(p, &t, &pk));
            check_condition(cond.as_ref(), old.as_ref(), rof)?;
            write_item(
                p,
                &mut t,
                txn,
                &pk,
                old.as_ref(),
                Some(&item),
                self.now_ms(),
            );
            save_table(txn, p, t);
            Ok(old)
        });
        let old = r?;
        let units =
            write_units(value::item_size(&item).max(old.as_ref().map_or(0, value::item_size)));
        let out = match (rv, old) {
            (ReturnValues::AllOld, Some(o)) => json!({"Attributes": value::item_to_json(&o)}),
            _ => json!({}),
        };
        ok(with_capacity(out, body, &name, units)?, Some(v))
    }

    pub(super) fn get_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let name = table_of(body)?;
        let key = key_param(body)?;
        let consistent = bool_field(body, "ConsistentRead")?.unwrap_or(false);
        let ex = Exprs::from(body)?;
        let proj = projection(body, &ex)?;
        let snap = self.store.snapshot();
        let t = match snap.get(&keys::table(&ctx.partition, &name)) {
            Some(Rec::Table(t)) => t,
            _ => return Err(DdbError::not_found()),
        };
        let pk = key_of_param(t, &key)?;
        let (out, size) = match snap.get(&item_key(&ctx.partition, t, &pk)) {
            Some(Rec::Item(i)) => (
                json!({"Item": value::item_to_json(&apply_projection(i, proj.as_ref()))}),
                value::item_size(i),
            ),
            _ => (json!({}), 0),
        };
        ok(
            with_capacity(out, body, &name, read_units(size, consistent))?,
            None,
        )
    }

    pub(super) fn delete_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let p = &ctx.partition;
        let name = table_of(body)?;
        let key = key_param(body)?;
        let rv = return_values(body, &["NONE", "ALL_OLD"])?;
        let rof = return_on_failure(body)?;
        let ex = Exprs::from(body)?;
        let cond = write_condition(body, &ex)?;
        let (r, v) = self.store.write(|txn| {
            let mut t = load_table(txn, p, &name)?;
            let pk = key_of_param(&t, &key)?;
            let old = get_item_in(txn, &item_key(p, &t, &pk));
            check_condition(cond.as_ref(), old.as_ref(), rof)?;
            if old.is_some() {
                write_item(p, &mut t, txn, &pk, old.as_ref(), None, self.now_ms());
                save_table(txn, p, t);
            }
            Ok(old)
        });
        let old = r?;
        let units = write_units(old.as_ref().map_or(0, value::item_size));
        let out = match (rv, &old) {
            (ReturnValues::AllOld, Some(o)) => json!({"Attributes": value::item_to_json(o)}),
            _ => json!({}),
        };
        ok(
            with_capacity(out, body, &name, units)?,
            old.is_some().then_some(v),
        )
    }

    pub(super) fn update_item(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        no_mixing(
            body,
            &["Expected", "ConditionalOperator", "AttributeUpdates"],
            WRITE_EXPRS,
        )?;
        let p = &ctx.partition;
        let name = table_of(body)?;
        let key = key_param(body)?;
        let rv = return_values(
            body,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let rof = return_on_failure(body)?;
        let ex = Exprs::from(body)?;
        let ce = str_field(body, "ConditionExpression")?;
        let ue = str_field(body, "UpdateExpression")?;
        let (update, cond) = if has(body, "AttributeUpdates") || has(body, "Expected") {
            let u = body
                .get("AttributeUpdates")
                .filter(|v| !v.is_null())
                .map(ex::update_from_attribute_updates)
                .transpose()
                .map_err(xerr)?;
            (u, write_condition(body, &ex)?)
        } else {
            ex.parse(
                &[
                    ("UpdateExpression", ue.is_some()),
                    ("ConditionExpression", ce.is_some()),
                ],
                |ph| {
                    let u = ue.map(|s| ex::parse_update(s, ph)).transpose()?;
                    let c = ce.map(|s| ex::parse_condition(s, ph)).transpose()?;
                    Ok((u, c))
                },
            )?
        };
        let (r, v) = self.store.write(|txn| {
            let mut t = load_table(txn, p, &name)?;
            let pk = key_of_param(&t, &key)?;
            if let Some(u) = &update {
                for n in u.top_level_names() {
                    if t.key_names().contains(&n.as_str()) {
                        return Err(DdbError::invalid_param(format!(
                            "Cannot update attribute {n}. This attribute is part of the key"
                        )));
                    }
                }
            }
            let old = get_item_in(txn, &item_key(p, &t, &pk));
            check_condition(cond.as_ref(), old.as_ref(), rof)?;
            let mut new = old.clone().unwrap_or_else(|| key.clone());
            if let Some(u) = &update {
                u.apply(&mut new).map_err(xerr)?;
            }
            check_size(&new, true)?;
            key_of_item(&t, &new)?;
            if old.as_ref() != Some(&new) {
                write_item(p, &mut t, txn, &pk, old.as_ref(), Some(&new), self.now_ms());
                save_table(txn, p, t);
            }
            Ok((old, new))
        });
        let (old, new) = r?;
        // UPDATED_*: the updated paths only, as DynamoDB returns them.
        let changed: Vec<ex::Path> = update.as_ref().map(|u| u.paths()).unwrap_or_default();
        let attrs = match rv {
            ReturnValues::None => None,
            ReturnValues::AllOld => old.clone(),
            ReturnValues::AllNew => Some(new.clone()),
            ReturnValues::UpdatedOld => old.as_ref().map(|o| ex::project(o, &changed)),
            ReturnValues::UpdatedNew => Some(ex::project(&new, &changed)),
        };
        let out = match attrs {
            Some(a) if !a.is_empty() => json!({"Attributes": value::item_to_json(&a)}),
            _ => json!({}),
        };
        let wrote = old.as_ref() != Some(&new);
        let units =
            write_units(value::item_size(&new).max(old.as_ref().map_or(0, value::item_size)));
        ok(with_capacity(out, body, &name, units)?, wrote.then_some(v))
    }
}

//! Query and Scan: key ranges of the store, never a copy of a table. A page stops at `Limit`
//! evaluated items or at 1 MB of evaluated data, as DynamoDB's does, and says where to go on with
//! `LastEvaluatedKey`.

use std::ops::Bound;

use serde_json::{Value, json};

use super::ex::{self, Condition, KeyCondition, RangeCond};
use super::items::{
    Exprs, bool_field, has, key_item, key_of_param, key_of_param_for, no_mixing, projection,
    str_field, table_of, verr, xerr,
};
use super::table::{IndexMeta, KeyAttr, KeyType, Projection, TableMeta};
use super::value::{self, AttributeValue, Item};
use super::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};
use snapstack_engine::Key;
use snapstack_engine::store::Snapshot;
use snapstack_service::Output;
use snapstack_service::RequestContext;

/// The most data one page evaluates.
pub const PAGE_BYTES: usize = 1024 * 1024;
/// The most entries one Scan request looks at when a segment skips most of them.
const MAX_EXAMINED: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Select {
    AllAttributes,
    AllProjected,
    Specific,
    Count,
}

type Range = (Bound<Key>, Bound<Key>);
/// Builds the key prefix of the entries whose range key has these bytes.
type WithRange<'a> = Box<dyn Fn(&[u8]) -> Key + 'a>;

/// Just past every key whose last part is exactly the (terminated) part `k` ends with.
///
/// A part is its escaped bytes and a 0 terminator, and a 0 inside a value is escaped as `0 0xff`:
/// so the keys of longer values that go on with a 0 byte start with `k ++ 0xff`, while the keys
/// of this exact value go on with a part tag (below 0xff) or end. (A plain prefix range of `k`
/// would take those longer values too.)
fn part_end(k: &Key) -> Key {
    let mut b = k.as_bytes().to_vec();
    b.push(0xff);
    Key::from_bytes(&b)
}

fn end_of(k: &Key) -> Bound<Key> {
    Bound::Excluded(part_end(k))
}

/// The first key after every key whose part is exactly `k`'s.
fn after(k: &Key) -> Option<Bound<Key>> {
    Some(Bound::Included(part_end(k)))
}

fn lower_max(a: Bound<Key>, b: Bound<Key>) -> Bound<Key> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => {
            if x > y {
                a
            } else if y > x {
                b
            } else if matches!(a, Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

fn upper_min(a: Bound<Key>, b: Bound<Key>) -> Bound<Key> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => {
            if x < y {
                a
            } else if y < x {
                b
            } else if matches!(a, Excluded(_)) {
                a
            } else {
                b
            }
        }
    }
}

fn is_empty(r: &Range) -> bool {
    use Bound::*;
    match r {
        (Included(a), Included(b)) => a > b,
        (Included(a) | Excluded(a), Included(b) | Excluded(b)) => a >= b,
        _ => false,
    }
}

/// The key range of a query: `base` is the prefix of the hash key's entries; `with(v)` the
/// prefix of the entries whose range key is `v`.
fn range_of(base: &Key, with: impl Fn(&[u8]) -> Key, cond: Option<&RangeCond>) -> Option<Range> {
    let kb = |v: &AttributeValue| value::key_bytes(v).unwrap_or_default();
    let start = Bound::Included(base.clone());
    let end = end_of(base);
    Some(match cond {
        None => (start, end),
        Some(RangeCond::Eq(v)) => {
            let k = with(&kb(v));
            (Bound::Included(k.clone()), end_of(&k))
        }
        Some(RangeCond::Lt(v)) => (start, Bound::Excluded(with(&kb(v)))),
        Some(RangeCond::Le(v)) => (start, end_of(&with(&kb(v)))),
        Some(RangeCond::Gt(v)) => (after(&with(&kb(v)))?, end),
        Some(RangeCond::Ge(v)) => (Bound::Included(with(&kb(v))), end),
        Some(RangeCond::Between(a, b)) => (Bound::Included(with(&kb(a))), end_of(&with(&kb(b)))),
        Some(RangeCond::BeginsWith(v)) => {
            // `with` ends the part with its 0 terminator; without it, the key is the prefix of
            // every range value that starts with v.
            let full = with(&kb(v));
            let bytes = full.as_bytes();
            let p = Key::from_bytes(&bytes[..bytes.len().saturating_sub(1)]);
            p.prefix_range()
        }
    })
}

fn parse_select(body: &Value) -> DdbResult<Option<Select>> {
    Ok(match str_field(body, "Select")? {
        None => None,
        Some("ALL_ATTRIBUTES") => Some(Select::AllAttributes),
        Some("ALL_PROJECTED_ATTRIBUTES") => Some(Select::AllProjected),
        Some("SPECIFIC_ATTRIBUTES") => Some(Select::Specific),
        Some("COUNT") => Some(Select::Count),
        Some(other) => {
            return Err(DdbError::constraint(
                other,
                "select",
                "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]",
            ));
        }
    })
}

fn parse_limit(body: &Value) -> DdbResult<Option<usize>> {
    match body.get("Limit") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = v
                .as_i64()
                .ok_or_else(|| DdbError::serialization("Limit: expected an integer"))?;
            if n < 1 {
                return Err(DdbError::constraint(
                    n,
                    "limit",
                    "Member must have value greater than or equal to 1",
                ));
            }
            Ok(Some(n as usize))
        }
    }
}

const READ_EXPRS: &[&str] = &[
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
];

/// The legacy QueryFilter / ScanFilter with its ConditionalOperator.
fn legacy_filter(body: &Value, name: &str) -> DdbResult<Option<Condition>> {
    let Some(f) = body.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let co = str_field(body, "ConditionalOperator")?;
    Ok(Some(
        ex::condition_from_filter(f, co).map_err(super::items::xerr)?,
    ))
}

/// What a read returns for a Select and a projection, checked against the index.
fn resolve_select(
    select: Option<Select>,
    has_projection: bool,
    idx: Option<&IndexMeta>,
) -> DdbResult<Select> {
    let s = match (select, has_projection) {
        (None, true) => Select::Specific,
        (None, false) => {
            if idx.is_some() {
                Select::AllProjected
            } else {
                Select::AllAttributes
            }
        }
        (Some(Select::Specific), false) => {
            return Err(DdbError::validation(
                "One or more parameter values were invalid: SPECIFIC_ATTRIBUTES requires either ProjectionExpression or AttributesToGet",
            ));
        }
        (Some(s @ (Select::AllAttributes | Select::AllProjected | Select::Count)), true) => {
            let name = match s {
                Select::AllAttributes => "ALL_ATTRIBUTES",
                Select::AllProjected => "ALL_PROJECTED_ATTRIBUTES",
                _ => "COUNT",
            };
            return Err(DdbError::validation(format!(
                "One or more parameter values were invalid: Cannot specify the ProjectionExpression when choosing to get {name}"
            )));
        }
        (Some(s), _) => s,
    };
    if s == Select::AllProjected && idx.is_none() {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is only supported for secondary index queries",
        ));
    }
    Ok(s)
}

/// One read (a Query or a Scan page) over a range of entries.
struct Reader<'a> {
    snap: &'a Snapshot<Rec>,
    ctx: &'a RequestContext,
    t: &'a TableMeta,
    idx: Option<&'a IndexMeta>,
    filter: Option<Condition>,
    projection: Option<Vec<ex::Path>>,
    select: Select,
    limit: Option<usize>,
    /// Whether entries must be completed from the table (an LSI read of non-projected data).
    fetch: bool,
    segment: Option<(u64, u64)>,
}

struct Page {
    bytes: usize,
    items: Vec<Value>,
    count: usize,
    scanned: usize,
    last: Option<Item>,
}

impl Reader<'_> {
    fn run<'s>(&self, iter: impl Iterator<Item = (&'s Key, &'s Rec)>) -> DdbResult<Page> {
        let mut page = Page {
            bytes: 0,
            items: Vec::new(),
            count: 0,
            scanned: 0,
            last: None,
        };
        let mut bytes = 0usize;
        let mut examined = 0usize;
        let mut iter = iter.peekable();
        let mut stopped = false;
        for (_, rec) in iter.by_ref() {
            let Rec::Item(entry) = rec else { continue };
            examined += 1;
            if let Some((seg, total)) = self.segment
                && segment_of(self.t, entry, total) != seg
            {
                if examined >= MAX_EXAMINED {
                    page.last = Some(key_item(self.t, entry, self.idx));
                    stopped = true;
                    break;
                }
                continue;
            }
            let full;
            let item: &Item = if self.fetch {
                let pk = key_of_param(self.t, &key_item(self.t, entry, None))?;
                match self
                    .snap
                    .get(&super::items::item_key(&self.ctx.partition, self.t, &pk))
                {
                    Some(Rec::Item(i)) => {
                        full = i.clone();
                        &full
                    }
                    _ => entry,
                }
            } else {
                entry
            };
            page.scanned += 1;
            bytes += value::item_size(item);
            let keep = match &self.filter {
                Some(f) => f.eval(item).map_err(super::items::xerr)?,
                None => true,
            };
            if keep {
                page.count += 1;
                if self.select != Select::Count {
                    let out = match &self.projection {
                        Some(p) => ex::project(item, p),
                        None => item.clone(),
                    };
                    page.items.push(value::item_to_json(&out));
                }
            }
            let full_page = self.limit.is_some_and(|l| page.scanned >= l)
                || bytes >= PAGE_BYTES
                || examined >= MAX_EXAMINED;
            if full_page {
                page.last = Some(key_item(self.t, entry, self.idx));
                stopped = true;
                break;
            }
        }
        if stopped && iter.peek().is_none() {
            page.last = None;
        }
        page.bytes = bytes;
        Ok(page)
    }
}

fn segment_of(t: &TableMeta, entry: &Item, total: u64) -> u64 {
    let h = entry
        .get(&t.hash.name)
        .and_then(value::key_bytes)
        .unwrap_or_default();
    let d = blake3::hash(&h);
    let b = d.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) % total
}

fn page_json(page: Page, select: Select, body: &Value, table: &str) -> DdbResult<Value> {
    let consistent = bool_field(body, "ConsistentRead")?.unwrap_or(false);
    let units = super::items::read_units(page.bytes, consistent);
    let mut out = json!({"Count": page.count, "ScannedCount": page.scanned});
    if select != Select::Count {
        out["Items"] = Value::Array(page.items);
    }
    if let Some(l) = page.last {
        out["LastEvaluatedKey"] = value::item_to_json(&l);
    }
    super::items::with_capacity(out, body, table, units)
}

/// The store key an `ExclusiveStartKey` names: an item's key, or for an index an entry's key
/// (the table's key attributes and the index's).
fn start_key(
    ctx: &RequestContext,
    t: &TableMeta,
    idx: Option<&IndexMeta>,
    body: &Value,
) -> DdbResult<Option<Key>> {
    let Some(v) = body.get("ExclusiveStartKey").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let esk = value::item_from_json(v).map_err(verr)?;
    let bad = |e: DdbError| {
        DdbError::validation(format!(
            "The provided starting key is invalid: {}",
            e.message
        ))
    };
    let p = &ctx.partition;
    match idx {
        None => {
            let pk = key_of_param(t, &esk).map_err(bad)?;
            Ok(Some(super::items::item_key(p, t, &pk)))
        }
        Some(i) => {
            let pk = key_of_param(t, &key_item(t, &esk, None)).map_err(bad)?;
            let ik = key_of_param_for(&i.hash, i.range.as_ref(), &{
                let mut m = Item::new();
                for a in std::iter::once(&i.hash).chain(i.range.iter()) {
                    if let Some(v) = esk.get(&a.name) {
                        m.insert(a.name.clone(), v.clone());
                    }
                }
                m
            })
            .map_err(bad)?;
            Ok(Some(super::items::index_key(
                p,
                t,
                i,
                &ik.hash,
                ik.range.as_deref(),
                &pk,
            )))
        }
    }
}

fn type_ok(v: &AttributeValue, k: KeyType) -> bool {
    matches!(
        (v, k),
        (AttributeValue::S(_), KeyType::S)
            | (AttributeValue::N(_), KeyType::N)
            | (AttributeValue::B(_), KeyType::B)
    )
}

fn check_key_condition(
    kc: &KeyCondition,
    hash: &KeyAttr,
    range: Option<&KeyAttr>,
) -> DdbResult<()> {
    let mismatch =
        || DdbError::invalid_param("Condition parameter type does not match schema type");
    if !type_ok(&kc.hash_value, hash.kind) {
        return Err(mismatch());
    }
    if matches!(&kc.hash_value, AttributeValue::S(s) if s.is_empty())
        || matches!(&kc.hash_value, AttributeValue::B(b) if b.is_empty())
    {
        return Err(DdbError::validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {} value. Key: {}",
            if hash.kind == KeyType::S {
                "string"
            } else {
                "binary"
            },
            hash.name
        )));
    }
    if let (Some((_, rc)), Some(r)) = (&kc.range, range) {
        let vals: Vec<&AttributeValue> = match rc {
            RangeCond::Eq(v)
            | RangeCond::Lt(v)
            | RangeCond::Le(v)
            | RangeCond::Gt(v)
            | RangeCond::Ge(v) => vec![v],
            RangeCond::Between(a, b) => vec![a, b],
            RangeCond::BeginsWith(v) => {
                if r.kind == KeyType::N {
                    return Err(DdbError::validation(
                        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                    ));
                }
                vec![v]
            }
        };
        if vals.iter().any(|v| !type_ok(v, r.kind)) {
            return Err(mismatch());
        }
        if let RangeCond::Between(a, b) = rc
            && value::compare(a, b) == Some(std::cmp::Ordering::Greater)
        {
            return Err(DdbError::validation(format!(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                brief(a),
                brief(b)
            )));
        }
    }
    Ok(())
}

fn brief(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => format!("{{S:{s}}}"),
        AttributeValue::N(n) => format!("{{N:{n}}}"),
        other => format!("{{{}:...}}", other.type_code()),
    }
}

impl DynamoDb {
    fn read_target<'s>(
        &self,
        snap: &'s Snapshot<Rec>,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<(&'s TableMeta, Option<&'s IndexMeta>)> {
        let name = table_of(body)?;
        let t = match snap.get(&keys::table(&ctx.partition, &name)) {
            Some(Rec::Table(t)) => &**t,
            _ => return Err(DdbError::not_found()),
        };
        let idx = match str_field(body, "IndexName")? {
            Some(i) => Some(t.index(i).ok_or_else(|| {
                DdbError::validation(format!("The table does not have the specified index: {i}"))
            })?),
            None => None,
        };
        if let Some(i) = idx
            && t.gsis.iter().any(|g| g.name == i.name)
            && bool_field(body, "ConsistentRead")? == Some(true)
        {
            return Err(DdbError::validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        Ok((t, idx))
    }

    /// Whether a read of this index with this select needs the table's items, or is refused.
    fn needs_fetch(
        t: &TableMeta,
        idx: Option<&IndexMeta>,
        select: Select,
        has_projection: bool,
    ) -> DdbResult<bool> {
        let Some(i) = idx else { return Ok(false) };
        if i.projection == Projection::All {
            return Ok(false);
        }
        let wants_more = select == Select::AllAttributes || has_projection;
        if !wants_more {
            return Ok(false);
        }
        if t.gsis.iter().any(|g| g.name == i.name) {
            if select == Select::AllAttributes {
                return Err(DdbError::invalid_param(format!(
                    "Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    i.name
                )));
            }
            return Ok(false);
        }
        Ok(true)
    }

    pub(super) fn query(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        no_mixing(
            body,
            &[
                "KeyConditions",
                "QueryFilter",
                "AttributesToGet",
                "ConditionalOperator",
            ],
            READ_EXPRS,
        )?;
        // The expression's own errors come before the table lookup, as DynamoDB reports them.
        if let Some(kce) = str_field(body, "KeyConditionExpression")? {
            let ex = Exprs::from(body)?;
            let mut ph = ex::Placeholders::new(ex.names.as_ref(), ex.values.as_ref());
            ex::validate_key_condition(kce, &mut ph).map_err(xerr)?;
        }
        let snap = self.store.snapshot();
        let (t, idx) = self.read_target(&snap, ctx, body)?;
        let select = parse_select(body)?;
        let limit = parse_limit(body)?;
        let forward = bool_field(body, "ScanIndexForward")?.unwrap_or(true);
        let ex = Exprs::from(body)?;
        let (hash, range) = match idx {
            Some(i) => (&i.hash, i.range.as_ref()),
            None => (&t.hash, t.range.as_ref()),
        };
        let legacy = has(body, "KeyConditions");
        let (kc, filter, projection) = if legacy {
            let kc = ex::key_condition_from_legacy(
                &body["KeyConditions"],
                &hash.name,
                range.map(|r| r.name.as_str()),
            )
            .map_err(xerr)?;
            (
                kc,
                legacy_filter(body, "QueryFilter")?,
                projection(body, &ex)?,
            )
        } else {
            let kce = str_field(body, "KeyConditionExpression")?.ok_or_else(|| {
                DdbError::validation(
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                )
            })?;
            let fe = str_field(body, "FilterExpression")?;
            let pe = str_field(body, "ProjectionExpression")?;
            ex.parse(&[("KeyConditionExpression", true)], |ph| {
                let kc =
                    ex::parse_key_condition(kce, ph, &hash.name, range.map(|r| r.name.as_str()))?;
                let f = fe.map(|s| ex::parse_filter(s, ph)).transpose()?;
                let p = pe.map(|s| ex::parse_projection(s, ph)).transpose()?;
                Ok((kc, f, p))
            })?
        };
        check_key_condition(&kc, hash, range)?;
        if let Some(f) = &filter {
            let key_names: Vec<&str> = std::iter::once(hash.name.as_str())
                .chain(range.map(|r| r.name.as_str()))
                .collect();
            for n in f.top_level_names() {
                if key_names.contains(&n.as_str()) {
                    return Err(DdbError::validation(if legacy {
                        format!(
                            "QueryFilter can only contain non-primary key attributes: Primary key attribute: {n}"
                        )
                    } else {
                        format!(
                            "Filter Expression can only contain non-primary key attributes: Primary key attribute: {n}"
                        )
                    }));
                }
            }
        }
        let select = resolve_select(select, projection.is_some(), idx)?;
        let fetch = Self::needs_fetch(t, idx, select, projection.is_some())?;
        let p = &ctx.partition;
        let hb = value::key_bytes(&kc.hash_value).unwrap_or_default();
        let (base, with): (Key, WithRange) = match idx {
            None => (
                p.key().str("i").u64(t.id).bytes(&hb).build(),
                Box::new(|r: &[u8]| p.key().str("i").u64(t.id).bytes(&hb).bytes(r).build()),
            ),
            Some(i) => (
                p.key().str("x").u64(t.id).str(&i.name).bytes(&hb).build(),
                Box::new(|r: &[u8]| {
                    p.key()
                        .str("x")
                        .u64(t.id)
                        .str(&i.name)
                        .bytes(&hb)
                        .bytes(r)
                        .build()
                }),
            ),
        };
        let reader = Reader {
            snap: &snap,
            ctx,
            t,
            idx,
            filter,
            projection,
            select,
            limit,
            fetch,
            segment: None,
        };
        let Some(mut r) = range_of(&base, with, kc.range.as_ref().map(|(_, c)| c)) else {
            return ok(
                page_json(reader.run(std::iter::empty())?, select, body, &t.name)?,
                None,
            );
        };
        if let Some(s) = start_key(ctx, t, idx, body)? {
            if forward {
                r.0 = lower_max(r.0, Bound::Excluded(s));
            } else {
                r.1 = upper_min(r.1, Bound::Excluded(s));
            }
        }
        if is_empty(&r) {
            return ok(
                page_json(reader.run(std::iter::empty())?, select, body, &t.name)?,
                None,
            );
        }
        let page = if forward {
            reader.run(snap.range(r.clone()))?
        } else {
            reader.run(snap.range(r.clone()).rev())?
        };
        ok(page_json(page, select, body, &t.name)?, None)
    }

    pub(super) fn scan(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        no_mixing(
            body,
            &["ScanFilter", "AttributesToGet", "ConditionalOperator"],
            READ_EXPRS,
        )?;
        let snap = self.store.snapshot();
        let (t, idx) = self.read_target(&snap, ctx, body)?;
        let select = parse_select(body)?;
        let limit = parse_limit(body)?;
        let segment = match (
            body.get("Segment").and_then(Value::as_i64),
            body.get("TotalSegments").and_then(Value::as_i64),
        ) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(DdbError::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ));
            }
            (None, Some(_)) => {
                return Err(DdbError::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ));
            }
            (Some(s), Some(n)) => {
                if !(1..=1_000_000).contains(&n) {
                    return Err(DdbError::constraint(
                        n,
                        "totalSegments",
                        if n < 1 {
                            "Member must have value greater than or equal to 1"
                        } else {
                            "Member must have value less than or equal to 1000000"
                        },
                    ));
                }
                if s < 0 {
                    return Err(DdbError::constraint(
                        s,
                        "segment",
                        "Member must have value greater than or equal to 0",
                    ));
                }
                if s >= n {
                    return Err(DdbError::validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}"
                    )));
                }
                Some((s as u64, n as u64))
            }
        };
        let ex = Exprs::from(body)?;
        let (filter, projection) = if has(body, "ScanFilter") || has(body, "AttributesToGet") {
            (legacy_filter(body, "ScanFilter")?, projection(body, &ex)?)
        } else {
            let fe = str_field(body, "FilterExpression")?;
            let pe = str_field(body, "ProjectionExpression")?;
            ex.parse(
                &[
                    ("FilterExpression", fe.is_some()),
                    ("ProjectionExpression", pe.is_some()),
                ],
                |ph| {
                    let f = fe.map(|s| ex::parse_filter(s, ph)).transpose()?;
                    let p = pe.map(|s| ex::parse_projection(s, ph)).transpose()?;
                    Ok((f, p))
                },
            )?
        };
        let select = resolve_select(select, projection.is_some(), idx)?;
        let fetch = Self::needs_fetch(t, idx, select, projection.is_some())?;
        let p = &ctx.partition;
        let prefix = match idx {
            None => keys::items(p, t.id),
            Some(i) => keys::index(p, t.id, &i.name),
        };
        let mut r = prefix.prefix_range();
        if let Some(s) = start_key(ctx, t, idx, body)? {
            r.0 = lower_max(r.0, Bound::Excluded(s));
        }
        let reader = Reader {
            snap: &snap,
            ctx,
            t,
            idx,
            filter,
            projection,
            select,
            limit,
            fetch,
            segment,
        };
        let page = if is_empty(&r) {
            reader.run(std::iter::empty())?
        } else {
            reader.run(snap.range(r))?
        };
        ok(page_json(page, select, body, &t.name)?, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Number;
    use proptest::prelude::*;
    use snapstack_engine::Partition;
    use std::collections::BTreeMap;

    fn cond_of(op: u8, a: AttributeValue, b: AttributeValue) -> RangeCond {
        match op % 7 {
            0 => RangeCond::Eq(a),
            1 => RangeCond::Lt(a),
            2 => RangeCond::Le(a),
            3 => RangeCond::Gt(a),
            4 => RangeCond::Ge(a),
            5 => {
                if value::compare(&a, &b) == Some(std::cmp::Ordering::Greater) {
                    RangeCond::Between(b, a)
                } else {
                    RangeCond::Between(a, b)
                }
            }
            _ => RangeCond::BeginsWith(a),
        }
    }

    /// Store `vals` as range keys under hash "h" (and decoys under neighbouring hash keys), then
    /// check that the key range of `cond` holds exactly the values `cond` matches, in order.
    fn check_range(vals: Vec<AttributeValue>, cond: RangeCond) -> Result<(), TestCaseError> {
        let p = Partition::new("000000000000", "us-east-1");
        let with_hash = |h: &[u8], r: &[u8]| p.key().str("i").u64(7).bytes(h).bytes(r).build();
        let mut map = BTreeMap::new();
        for v in &vals {
            let kb = value::key_bytes(v).unwrap();
            map.insert(with_hash(b"h", &kb), Some(v.clone()));
            for decoy in [&b"g"[..], b"h\0", b"hh", b"i", b""] {
                map.insert(with_hash(decoy, &kb), None);
            }
        }
        let base = p.key().str("i").u64(7).bytes(b"h").build();
        let got: Vec<AttributeValue> = match range_of(&base, |r| with_hash(b"h", r), Some(&cond)) {
            Some(r) if !is_empty(&r) => map
                .range(r)
                .map(|(_, v)| v.clone().expect("a decoy in range"))
                .collect(),
            _ => Vec::new(),
        };
        let mut want: Vec<(Key, AttributeValue)> = map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .filter(|(_, v)| cond.matches(v))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<AttributeValue> = want.into_iter().map(|(_, v)| v).collect();
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn num((m, e): (i64, i8)) -> AttributeValue {
        AttributeValue::N(Number::parse(&format!("{m}E{e}")).unwrap())
    }

    proptest! {
        #[test]
        fn number_key_ranges_select_exactly_the_matching_values(
            vals in proptest::collection::vec((-60i64..60, -2i8..3), 0..40),
            a in (-60i64..60, -2i8..3),
            b in (-60i64..60, -2i8..3),
            op in 0u8..6,
        ) {
            check_range(vals.into_iter().map(num).collect(), cond_of(op, num(a), num(b)))?;
        }

        #[test]
        fn string_key_ranges_select_exactly_the_matching_values(
            vals in proptest::collection::vec("[ab\\x00\\x{ff}]{0,4}", 0..40),
            a in "[ab\\x00\\x{ff}]{0,3}",
            b in "[ab\\x00\\x{ff}]{0,3}",
            op in 0u8..7,
        ) {
            let s = |x: String| AttributeValue::S(x);
            check_range(vals.into_iter().map(s).collect(), cond_of(op, s(a), s(b)))?;
        }

        #[test]
        fn binary_key_ranges_select_exactly_the_matching_values(
            vals in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff)], 0..4), 0..40),
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff)], 0..3),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff)], 0..3),
            op in 0u8..7,
        ) {
            let bv = AttributeValue::B;
            check_range(vals.into_iter().map(bv).collect(), cond_of(op, bv(a), bv(b)))?;
        }
    }

    fn k(b: &[u8]) -> Key {
        Key::from_bytes(b)
    }

    #[test]
    fn bound_arithmetic() {
        use Bound::*;
        assert_eq!(
            lower_max(Included(k(b"a")), Excluded(k(b"a"))),
            Excluded(k(b"a"))
        );
        assert_eq!(
            lower_max(Included(k(b"b")), Excluded(k(b"a"))),
            Included(k(b"b"))
        );
        assert_eq!(upper_min(Unbounded, Excluded(k(b"a"))), Excluded(k(b"a")));
        assert_eq!(
            upper_min(Included(k(b"a")), Excluded(k(b"a"))),
            Excluded(k(b"a"))
        );
        assert!(is_empty(&(Included(k(b"b")), Excluded(k(b"b")))));
        assert!(!is_empty(&(Included(k(b"b")), Included(k(b"b")))));
        assert!(is_empty(&(Excluded(k(b"c")), Included(k(b"b")))));
    }
}

//! The generic resource record ([`ObjectRec`]) of the operations added together: keys, reads,
//! writes, JSON helpers for inputs, page tokens and tags.

use super::*;

pub(super) fn obj_prefix(p: &Partition, kind: &str) -> Key {
    ext_key(p, "obj").str(kind).build()
}

pub(super) fn obj_key(p: &Partition, kind: &str, id: &str) -> Key {
    ext_key(p, "obj").str(kind).str(id).build()
}

impl ObjectRec {
    pub(super) fn new(kind: &str, id: &str, body: &Value) -> Self {
        ObjectRec {
            kind: kind.to_string(),
            id: id.to_string(),
            tags: Vec::new(),
            body: body.to_string(),
        }
    }

    /// The body as JSON (an empty object if a hand-made record holds something else).
    pub(super) fn value(&self) -> Value {
        match serde_json::from_str::<Value>(&self.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        }
    }
}

/// An input's string member.
pub(super) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// An input's required string member, or AWS's validation error naming it.
pub(super) fn req<'a>(v: &'a Value, k: &str) -> Result<&'a str, AwsError> {
    s(v, k).ok_or_else(|| AwsError::missing(&lower_first(k)))
}

pub(super) fn lower_first(k: &str) -> String {
    let mut c = k.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An input's array member (empty when absent).
pub(super) fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Copy the members `keys` that the input has into `out`.
pub(super) fn copy(out: &mut Map<String, Value>, input: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = input.get(*k)
            && !v.is_null()
        {
            out.insert((*k).to_string(), v.clone());
        }
    }
}

/// `Tags` of an input as pairs, the last value of a key winning; more than 50 is refused.
pub(super) fn input_tags(input: &Value) -> Result<Vec<(String, String)>, AwsError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in arr(input, "Tags") {
        let (k, v) = (
            s(t, "Key").unwrap_or("").to_string(),
            s(t, "Value").unwrap_or("").to_string(),
        );
        match tags.iter_mut().find(|(k2, _)| *k2 == k) {
            Some(e) => e.1 = v,
            None => tags.push((k, v)),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(AwsError::new(
            "TooManyTagsError",
            "The Tags parameter contains more than 50 tags.",
        ));
    }
    Ok(tags)
}

/// One page of `items` (in order) after the token `next` (an opaque index), at most `max`.
pub(super) fn page(
    items: Vec<Value>,
    next: Option<&str>,
    max: usize,
) -> Result<(Vec<Value>, Option<String>), AwsError> {
    let start = match next {
        None => 0,
        Some(t) => unhex(t)
            .and_then(|s| s.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(invalid_token)?,
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    let more = rest.len() > max;
    let out: Vec<Value> = rest.into_iter().take(max).collect();
    let token = more.then(|| hex(&format!("p{}", start.saturating_add(max))));
    Ok((out, token))
}

/// `MaxResults` of an input within `1..=max`, or `default`.
pub(super) fn max_results(input: &Value, max: i64, default: i64) -> Result<usize, AwsError> {
    range_check(
        input.get("MaxResults").and_then(Value::as_i64),
        "maxResults",
        max,
        default,
    )
}

/// A listing's output: `{key: items}` with `NextToken` when there is more.
pub(super) fn listing(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), Value::Array(items));
    if let Some(t) = next {
        m.insert("NextToken".into(), json!(t));
    }
    Value::Object(m)
}

impl Ssm {
    pub(super) fn obj_get(&self, ctx: &RequestContext, kind: &str, id: &str) -> Option<ObjectRec> {
        match self
            .store
            .snapshot()
            .get(&obj_key(&ctx.partition, kind, id))
        {
            Some(SsmRecord::Ext(Ext::Object(o))) => Some(o.clone()),
            _ => None,
        }
    }

    /// Every record of a kind, in id order.
    pub(super) fn obj_list(&self, ctx: &RequestContext, kind: &str) -> Vec<ObjectRec> {
        let snap = self.store.snapshot();
        snap.scan_prefix(&obj_prefix(&ctx.partition, kind))
            .filter_map(|(_, r)| match r {
                SsmRecord::Ext(Ext::Object(o)) => Some(o.clone()),
                _ => None,
            })
            .collect()
    }

    /// Store (insert or replace) a record; the store version.
    pub(super) fn obj_put(&self, ctx: &RequestContext, o: ObjectRec) -> u64 {
        let k = obj_key(&ctx.partition, &o.kind, &o.id);
        self.store
            .write(|txn| {
                txn.insert(k, SsmRecord::Ext(Ext::Object(o)));
            })
            .1
    }

    /// Remove a record; the store version if there was one.
    pub(super) fn obj_delete(&self, ctx: &RequestContext, kind: &str, id: &str) -> Option<u64> {
        let k = obj_key(&ctx.partition, kind, id);
        let (removed, v) = self.store.write(|txn| txn.remove(&k).is_some());
        removed.then_some(v)
    }

    /// Edit a record in one write: `f` gets it (or `None`) and returns what to store (or
    /// `None` to leave it), or an error.
    pub(super) fn obj_update<R>(
        &self,
        ctx: &RequestContext,
        kind: &str,
        id: &str,
        f: impl FnOnce(Option<ObjectRec>) -> Result<(Option<ObjectRec>, R), AwsError>,
    ) -> Result<(R, Option<u64>), AwsError> {
        let k = obj_key(&ctx.partition, kind, id);
        let (r, v) = self.store.write(|txn| {
            let old = match txn.get(&k) {
                Some(SsmRecord::Ext(Ext::Object(o))) => Some(o.clone()),
                _ => None,
            };
            let (new, r) = f(old)?;
            let changed = new.is_some();
            if let Some(o) = new {
                txn.insert(k, SsmRecord::Ext(Ext::Object(o)));
            }
            Ok::<_, AwsError>((r, changed))
        });
        let (r, changed) = r?;
        Ok((r, changed.then_some(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<Value> = (0..7).map(|i| json!(i)).collect();
        let (a, t) = page(items.clone(), None, 3).unwrap();
        assert_eq!(a, vec![json!(0), json!(1), json!(2)]);
        let (b, t) = page(items.clone(), t.as_deref(), 3).unwrap();
        assert_eq!(b.len(), 3);
        let (c, t) = page(items.clone(), t.as_deref(), 3).unwrap();
        assert_eq!((c, t), (vec![json!(6)], None));
        assert_eq!(
            page(items, Some("zz"), 3).unwrap_err().code,
            "InvalidNextToken"
        );
    }

    #[test]
    fn object_records_round_trip_through_postcard() {
        let mut o = ObjectRec::new("assoc", "id", &json!({"A": 1}));
        o.tags.push(("k".into(), "v".into()));
        let r = SsmRecord::Ext(Ext::Object(o));
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert_eq!(postcard::from_bytes::<SsmRecord>(&bytes).unwrap(), r);
    }

    #[test]
    fn inputs_are_read_leniently() {
        let v =
            json!({"Name": "n", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]});
        assert_eq!(s(&v, "Name"), Some("n"));
        assert_eq!(req(&v, "Other").unwrap_err().code, "ValidationException");
        assert_eq!(input_tags(&v).unwrap(), vec![("a".into(), "2".into())]);
        assert_eq!(lower_first("AssociationId"), "associationId");
    }
}

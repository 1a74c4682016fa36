//! The members of a JSON request body that enforcement reads (`resources.rs`): names and
//! string values near the top (`TableName`, `RequestItems`' table names, `Entries[].EventBusName`),
//! never an item's attributes. The body is walked once without building what is not kept: a
//! string deeper than [`STRING_DEPTH`], a container deeper than [`CONTAINER_DEPTH`], and every
//! number, boolean and null become `null` and are skipped in place (serde's `IgnoredAny`), so an
//! `Item` of a thousand attributes costs a scan, not a thousand allocations. The service parses
//! the body itself, by its model.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The deepest container kept (the body's own object is depth 0).
const CONTAINER_DEPTH: u8 = 2;
/// The deepest string kept.
const STRING_DEPTH: u8 = 3;

/// The body's top-level members that `wanted` names, as far as enforcement reads them; empty
/// unless the body is a JSON object.
pub fn json_fields(body: &[u8], wanted: fn(&str) -> bool) -> Map<String, Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match (Top { wanted }).deserialize(&mut de) {
        Ok(m) if de.end().is_ok() => m,
        _ => Map::new(),
    }
}

/// The body's object: the wanted members kept ([`Shallow`]), the others skipped unparsed.
struct Top {
    wanted: fn(&str) -> bool,
}

impl<'de> DeserializeSeed<'de> for Top {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key_seed(Name)? {
            if (self.wanted)(&k) {
                let v = map.next_value_seed(Shallow { depth: 1 })?;
                out.insert(k.into_owned(), v);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A member's name: borrowed from the body unless it has escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// A value at `depth`, kept as far as the limits say.
#[derive(Clone, Copy)]
struct Shallow {
    depth: u8,
}

impl<'de> DeserializeSeed<'de> for Shallow {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.depth > STRING_DEPTH {
            d.deserialize_ignored_any(IgnoredAny)?;
            return Ok(Value::Null);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Shallow {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth > CONTAINER_DEPTH {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let inner = Shallow {
            depth: self.depth + 1,
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth > CONTAINER_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let inner = Shallow {
            depth: self.depth + 1,
        };
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fields(v: Value) -> Value {
        Value::Object(json_fields(v.to_string().as_bytes(), |_| true))
    }

    #[test]
    fn keeps_what_enforcement_reads() {
        let got = fields(json!({
            "TableName": "t",
            "Key": {"pk": {"S": "k"}},
            "Limit": 5,
            "ConsistentRead": true,
            "RequestItems": {"a": {"Keys": [{"pk": {"S": "x"}}]}, "b": {}},
            "Entries": [{"EventBusName": "bus", "Detail": "{}"}, {"Source": "s"}],
            "Names": ["/a", "/b"],
        }));
        assert_eq!(
            got,
            json!({
                "TableName": "t",
                "Key": {"pk": {"S": "k"}},
                "Limit": null,
                "ConsistentRead": null,
                "RequestItems": {"a": {"Keys": null}, "b": {}},
                "Entries": [{"EventBusName": "bus", "Detail": "{}"}, {"Source": "s"}],
                "Names": ["/a", "/b"],
            })
        );
    }

    #[test]
    fn anything_but_an_object_is_no_fields() {
        for body in [&b""[..], b"[]", b"\"s\"", b"{", b"{\"a\":1} x", b"nul"] {
            assert!(json_fields(body, |_| true).is_empty(), "{body:?}");
        }
    }

    #[test]
    fn members_not_wanted_are_skipped() {
        let body = br#"{"TableName":"t","Item":{"a":{"S":"x"},"b":{"L":[{"N":"1"}]}},"Limit":3}"#;
        let got = json_fields(body, |k| k == "TableName");
        assert_eq!(Value::Object(got), json!({"TableName": "t"}));
        // A member skipped must still be well-formed JSON.
        assert!(
            json_fields(br#"{"Item":{"a":}, "TableName":"t"}"#, |k| k == "TableName").is_empty()
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z/é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[A-Za-z]{1,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// What the walk keeps, computed on the whole parsed value.
    fn expected(v: &Value, depth: u8) -> Value {
        match v {
            Value::String(s) if depth <= STRING_DEPTH => Value::String(s.clone()),
            Value::Array(a) if depth <= CONTAINER_DEPTH => {
                Value::Array(a.iter().map(|x| expected(x, depth + 1)).collect())
            }
            Value::Object(m) if depth <= CONTAINER_DEPTH => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), expected(x, depth + 1)))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    proptest! {
        #[test]
        fn the_walk_keeps_the_top_of_the_full_parse(
            m in prop::collection::btree_map("[A-Za-z]{1,5}", json_value(), 0..5)
        ) {
            let v = Value::Object(m.into_iter().collect());
            prop_assert_eq!(fields(v.clone()), expected(&v, 0));
        }
    }
}

//! The values S3 Select computes with: CSV fields are strings, JSON records keep their types,
//! and an absent field is MISSING (left out of JSON output) as opposed to NULL.

use std::cmp::Ordering;

pub use super::time::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Struct(Vec<(String, Value)>),
    /// A timestamp (CAST AS TIMESTAMP, TO_TIMESTAMP, UTCNOW, a `` `…` `` literal).
    Timestamp(Timestamp),
}

/// A number, as arithmetic sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(n) => n as f64,
            Num::Float(f) => f,
        }
    }
}

/// A string as a number, if it reads as one (CSV fields compared with numbers).
pub fn parse_num(s: &str) -> Option<Num> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(Num::Int(n));
    }
    let looks_numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if looks_numeric {
        t.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Num::Float)
    } else {
        None
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    /// A JSON record, its objects' members in the order they were written (serde_json bounds
    /// the nesting).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
                Ok(Value::Int(n))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
                Ok(i64::try_from(n).map_or(Value::Float(n as f64), Value::Int))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Str(s))
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element::<Value>()? {
                    out.push(v);
                }
                Ok(Value::List(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut out: Vec<(String, Value)> = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Value>()? {
                    // A repeated member keeps its last value, as JSON readers do.
                    match out.iter_mut().find(|(name, _)| *name == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(Value::Struct(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Value {
    /// The value written as JSON (a struct's MISSING members left out, its order kept).
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Missing | Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => out.push_str(&n.to_string()),
            Value::Float(f) if f.is_finite() => out.push_str(&format_float(*f)),
            Value::Float(_) => out.push_str("null"),
            Value::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
            Value::Timestamp(t) => {
                out.push_str(&serde_json::Value::String(super::time::format(t)).to_string())
            }
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Struct(fields) => {
                out.push('{');
                let mut first = true;
                for (k, v) in fields {
                    if *v == Value::Missing {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Value::Missing | Value::Null)
    }

    /// The value as a number: numbers, and strings that read as one.
    pub fn num(&self) -> Option<Num> {
        match self {
            Value::Int(n) => Some(Num::Int(*n)),
            Value::Float(f) => Some(Num::Float(*f)),
            Value::Str(s) => parse_num(s),
            _ => None,
        }
    }

    /// The value as a truth value (`None`: unknown).
    pub fn truth(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The value as CSV output writes it.
    pub fn to_text(&self) -> String {
        match self {
            Value::Missing | Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Str(s) => s.clone(),
            Value::Timestamp(t) => super::time::format(t),
            Value::List(_) | Value::Struct(_) => {
                let mut s = String::new();
                self.write_json(&mut s);
                s
            }
        }
    }
}

pub fn format_float(f: f64) -> String {
    let s = f.to_string();
    if f.is_finite() && !s.contains(['.', 'e', 'E']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// SQL comparison: `None` when the values do not compare (a NULL, or types that differ).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Missing | Value::Null, _) | (_, Value::Missing | Value::Null) => None,
        (Value::Str(x), Value::Str(y)) => Some(x.as_str().cmp(y.as_str())),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.instant().cmp(&y.instant())),
        (Value::Timestamp(x), Value::Str(y)) => {
            super::time::parse(y).map(|y| x.instant().cmp(&y.instant()))
        }
        (Value::Str(x), Value::Timestamp(y)) => {
            super::time::parse(x).map(|x| x.instant().cmp(&y.instant()))
        }
        (Value::Timestamp(_), _) | (_, Value::Timestamp(_)) => None,
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Str(_)) => b.truth().map(|y| x.cmp(&y)),
        (Value::Str(_), Value::Bool(y)) => a.truth().map(|x| x.cmp(y)),
        (Value::List(_) | Value::Struct(_), _) | (_, Value::List(_) | Value::Struct(_)) => {
            (a == b).then_some(Ordering::Equal)
        }
        _ => match (a.num()?, b.num()?) {
            (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
            (x, y) => x.as_f64().partial_cmp(&y.as_f64()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_coerce_csv_strings_to_numbers() {
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(compare(&s("10"), &Value::Int(9)), Some(Ordering::Greater));
        assert_eq!(compare(&s("2.5"), &Value::Int(3)), Some(Ordering::Less));
        assert_eq!(compare(&s("abc"), &Value::Int(3)), None);
        assert_eq!(compare(&s("10"), &s("9")), Some(Ordering::Less));
        assert_eq!(compare(&Value::Null, &Value::Int(1)), None);
        assert_eq!(
            compare(&s("TRUE"), &Value::Bool(true)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn text_and_json_forms() {
        assert_eq!(Value::Float(2.0).to_text(), "2.0");
        assert_eq!(Value::Float(2.5).to_text(), "2.5");
        assert_eq!(Value::Null.to_text(), "");
        let v: Value =
            serde_json::from_str(r#"{"z": [1, 2.5, "x\""], "b": null, "a": true}"#).unwrap();
        assert_eq!(v.to_text(), r#"{"z":[1,2.5,"x\""],"b":null,"a":true}"#);
        let mut with_missing = v.clone();
        if let Value::Struct(f) = &mut with_missing {
            f.push(("gone".into(), Value::Missing));
        }
        assert_eq!(with_missing.to_text(), v.to_text());
    }
}

//! Writing the neutral value as CBOR, guided by a shape: structures and maps as maps keyed by
//! member name (definite lengths, `null`s left out), blobs as byte strings, timestamps as tag 1
//! around an integer (whole seconds) or a double, doubles as 64-bit floats, floats as 32-bit
//! ones when that is exact, and `"NaN"`/`"Infinity"`/`"-Infinity"` as half-precision specials.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::super::{MAX_DEPTH, time};
use crate::model::{ServiceModel, Shape};

/// An item's head with the shortest argument.
pub fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        head(out, 0, n as u64);
    } else {
        head(out, 1, (-1 - n) as u64);
    }
}

fn double(out: &mut Vec<u8>, f: f64) {
    out.push(0xfb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}

/// A special float as the half-precision float botocore writes (and reads).
fn special(out: &mut Vec<u8>, s: &str) -> bool {
    let bits: u16 = match s {
        "NaN" => 0x7e00,
        "Infinity" => 0x7c00,
        "-Infinity" => 0xfc00,
        _ => return false,
    };
    out.push(0xf9);
    out.extend_from_slice(&bits.to_be_bytes());
    true
}

/// A JSON number: an integer when it is one, else a double.
fn number(out: &mut Vec<u8>, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        int(out, i);
    } else if let Some(u) = n.as_u64() {
        head(out, 0, u);
    } else {
        double(out, n.as_f64().unwrap_or(0.0));
    }
}

/// Any value, without a shape (documents, and what lies beneath [`MAX_DEPTH`]).
pub fn generic(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => number(out, n),
        Value::String(s) => text(out, s),
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for v in items {
                generic(out, v);
            }
        }
        Value::Object(fields) => {
            head(
                out,
                5,
                fields.values().filter(|v| !v.is_null()).count() as u64,
            );
            for (k, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
                text(out, k);
                generic(out, v);
            }
        }
    }
}

/// `value` as its shape says.
pub fn write(out: &mut Vec<u8>, model: &ServiceModel, shape: &Shape, value: &Value, depth: usize) {
    if depth >= MAX_DEPTH {
        return generic(out, value);
    }
    let shape_of = |name: &str| model.shape(name);
    match (shape.kind.as_str(), value) {
        ("structure", Value::Object(fields)) if !shape.document => {
            let known = |(name, v): &(&String, &Value)| {
                let ok = !v.is_null() && shape.members.contains_key(name.as_str());
                debug_assert!(
                    v.is_null() || ok,
                    "output member {name} is not in the model"
                );
                ok
            };
            head(out, 5, fields.iter().filter(known).count() as u64);
            for (name, v) in fields.iter().filter(known) {
                text(out, name);
                match shape.members.get(name).and_then(|m| shape_of(&m.shape)) {
                    Some(s) => write(out, model, s, v, depth + 1),
                    None => generic(out, v),
                }
            }
        }
        ("map", Value::Object(entries)) => {
            let s = shape.value.as_ref().and_then(|r| shape_of(&r.shape));
            head(
                out,
                5,
                entries.values().filter(|v| !v.is_null()).count() as u64,
            );
            for (k, v) in entries.iter().filter(|(_, v)| !v.is_null()) {
                text(out, k);
                match s {
                    Some(s) => write(out, model, s, v, depth + 1),
                    None => generic(out, v),
                }
            }
        }
        ("list", Value::Array(items)) => {
            let s = shape.member.as_ref().and_then(|r| shape_of(&r.shape));
            head(out, 4, items.len() as u64);
            for v in items {
                match s {
                    Some(s) => write(out, model, s, v, depth + 1),
                    None => generic(out, v),
                }
            }
        }
        ("blob", Value::String(b64)) => match STANDARD.decode(b64) {
            Ok(b) => bytes(out, &b),
            Err(_) => {
                debug_assert!(false, "a blob that is not base64: {b64}");
                bytes(out, b64.as_bytes())
            }
        },
        ("timestamp", v) => {
            let seconds = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => time::parse(s).map(|ms| ms as f64 / 1000.0),
                _ => None,
            };
            match (v, seconds) {
                (Value::Number(n), _) if n.is_i64() || n.is_u64() => {
                    out.push(0xc1);
                    number(out, n);
                }
                (_, Some(s)) if s.fract() == 0.0 && s.abs() < 9.0e15 => {
                    out.push(0xc1);
                    int(out, s as i64);
                }
                (_, Some(s)) => {
                    out.push(0xc1);
                    double(out, s);
                }
                (v, None) => generic(out, v),
            }
        }
        ("double", Value::Number(n)) => double(out, n.as_f64().unwrap_or(0.0)),
        ("float", Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f64::from(f as f32) == f {
                out.push(0xfa);
                out.extend_from_slice(&(f as f32).to_bits().to_be_bytes());
            } else {
                double(out, f);
            }
        }
        ("float" | "double", Value::String(s)) if special(out, s) => {}
        ("byte" | "short" | "integer" | "long", Value::Number(n)) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                int(out, f as i64)
            }
            _ => number(out, n),
        },
        _ => generic(out, value),
    }
}

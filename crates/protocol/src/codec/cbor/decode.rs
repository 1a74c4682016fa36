//! A bounded CBOR (RFC 8949) decoder that reads a request straight into the neutral value,
//! guided by the input shape.
//!
//! Bounds, since every length is the client's: nesting at most [`MAX_DEPTH`] (arrays, maps and
//! tags), at most [`MAX_ITEMS`] data items, and no allocation sized by a declared length beyond
//! the bytes that remain (every item takes at least one byte, so a declared count larger than
//! what is left is refused before anything is reserved).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::super::{CodecError, MAX_DEPTH, time};
use crate::model::{ServiceModel, Shape};

/// The most data items one request may hold (a CloudWatch PutMetricData at its limits, 1000
/// datums of 150 values and counts, is about 300 000).
pub const MAX_ITEMS: usize = 1_000_000;

const BREAK: u8 = 0xff;

pub(super) fn error(message: impl Into<String>) -> CodecError {
    CodecError::new(400, "SerializationException", message)
}

type Result<T> = std::result::Result<T, CodecError>;

/// An item's head: major type, additional information, and its argument (the value, length,
/// tag or float bits; `None` for an indefinite length).
struct Head {
    major: u8,
    info: u8,
    arg: Option<u64>,
}

pub(super) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    items: usize,
    model: &'a ServiceModel,
}

impl<'a> Decoder<'a> {
    pub fn new(model: &'a ServiceModel, buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            pos: 0,
            items: 0,
            model,
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| error("Unexpected end of CBOR input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(error("Unexpected end of CBOR input"));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn peek_break(&mut self) -> Result<bool> {
        match self.buf.get(self.pos) {
            Some(&BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(error("Unexpected end of CBOR input")),
        }
    }

    fn head(&mut self) -> Result<Head> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(error("The request holds too many CBOR data items"));
        }
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let n = 1usize << (info - 24);
                let bytes = self.take(n as u64)?;
                Some(bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
            }
            31 if matches!(major, 2..=5 | 7) => None,
            _ => {
                return Err(error(format!(
                    "Invalid CBOR additional information {info} for major type {major}"
                )));
            }
        };
        Ok(Head { major, info, arg })
    }

    /// A declared count of items that each take at least one byte: no more than what is left.
    fn count(&self, n: u64) -> Result<usize> {
        if n > self.remaining() as u64 {
            return Err(error("Unexpected end of CBOR input"));
        }
        Ok(n as usize)
    }

    /// The bytes of a byte or text string (`major` 2 or 3), definite or in chunks.
    fn string_bytes(&mut self, head: &Head) -> Result<std::borrow::Cow<'a, [u8]>> {
        if let Some(n) = head.arg {
            return Ok(self.take(n)?.into());
        }
        let mut out = Vec::new();
        while !self.peek_break()? {
            let chunk = self.head()?;
            if chunk.major != head.major {
                return Err(error("Invalid chunk in an indefinite-length CBOR string"));
            }
            let n = chunk
                .arg
                .ok_or_else(|| error("Nested indefinite-length CBOR string"))?;
            out.extend_from_slice(self.take(n)?);
        }
        Ok(out.into())
    }

    fn text(&mut self, head: &Head) -> Result<String> {
        let bytes = self.string_bytes(head)?;
        String::from_utf8(bytes.into_owned())
            .map_err(|_| error("Invalid UTF-8 in a CBOR text string"))
    }

    /// The next item as the neutral value of `shape` (any shape when `None`); `None` for CBOR's
    /// `null` and `undefined`.
    pub fn value(&mut self, shape: Option<&'a Shape>, depth: usize) -> Result<Option<Value>> {
        let head = self.head()?;
        let kind = shape.map_or("", |s| s.kind.as_str());
        let v = match head.major {
            0 => {
                let n = head.arg.unwrap_or(0);
                number(kind, Value::from(n))
            }
            1 => {
                let n = head.arg.unwrap_or(0);
                let n = i64::try_from(n)
                    .map(|n| -1 - n)
                    .map_err(|_| error("CBOR negative integer out of range"))?;
                number(kind, Value::from(n))
            }
            2 => {
                let bytes = self.string_bytes(&head)?;
                Value::String(STANDARD.encode(&bytes))
            }
            3 => {
                let s = self.text(&head)?;
                match kind {
                    "blob" => Value::String(STANDARD.encode(s.as_bytes())),
                    "timestamp" => match time::parse(&s) {
                        Some(ms) => time::ms_to_value(ms),
                        None => Value::String(s),
                    },
                    _ => Value::String(s),
                }
            }
            4 => self.array(&head, shape, depth)?,
            5 => self.map(&head, shape, depth)?,
            6 => {
                let tag = head.arg.unwrap_or(0);
                if tag != 1 {
                    return Err(error(format!("Unsupported CBOR tag {tag}")));
                }
                if depth >= MAX_DEPTH {
                    return Err(error("The request is nested too deeply"));
                }
                let inner = self.value(None, depth + 1)?;
                match inner {
                    Some(v @ Value::Number(_)) => v,
                    _ => return Err(error("A CBOR epoch timestamp (tag 1) must be a number")),
                }
            }
            _ => match (head.info, head.arg) {
                (20, _) => Value::Bool(false),
                (21, _) => Value::Bool(true),
                (22 | 23, _) => return Ok(None),
                (25, Some(bits)) => float(kind, half(bits as u16)),
                (26, Some(bits)) => float(kind, f64::from(f32::from_bits(bits as u32))),
                (27, Some(bits)) => float(kind, f64::from_bits(bits)),
                (31, None) => return Err(error("Unexpected CBOR break")),
                (info, _) => {
                    return Err(error(format!("Unsupported CBOR simple value {info}")));
                }
            },
        };
        Ok(Some(v))
    }

    fn array(&mut self, head: &Head, shape: Option<&'a Shape>, depth: usize) -> Result<Value> {
        if depth >= MAX_DEPTH {
            return Err(error("The request is nested too deeply"));
        }
        let member = match shape {
            Some(s) if s.kind == "list" => {
                s.member.as_ref().and_then(|r| self.model.shape(&r.shape))
            }
            _ => None,
        };
        let mut items = match head.arg {
            Some(n) => Vec::with_capacity(self.count(n)?),
            None => Vec::new(),
        };
        let mut left = head.arg;
        loop {
            match &mut left {
                Some(0) => break,
                Some(n) => *n -= 1,
                None if self.peek_break()? => break,
                None => {}
            }
            // Lists are sparse on the wire (botocore keeps their nulls): a null stays.
            items.push(self.value(member, depth + 1)?.unwrap_or(Value::Null));
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, head: &Head, shape: Option<&'a Shape>, depth: usize) -> Result<Value> {
        if depth >= MAX_DEPTH {
            return Err(error("The request is nested too deeply"));
        }
        if let Some(n) = head.arg {
            // Each entry takes two items.
            self.count(n.saturating_mul(2))?;
        }
        let (structure, values) = match shape {
            Some(s) if s.kind == "structure" && !s.document => (Some(s), None),
            Some(s) if s.kind == "map" => (
                None,
                s.value.as_ref().and_then(|r| self.model.shape(&r.shape)),
            ),
            _ => (None, None),
        };
        let mut out = Map::new();
        let mut left = head.arg;
        loop {
            match &mut left {
                Some(0) => break,
                Some(n) => *n -= 1,
                None if self.peek_break()? => break,
                None => {}
            }
            let key_head = self.head()?;
            if key_head.major != 3 {
                return Err(error("CBOR map keys must be text strings"));
            }
            let key = self.text(&key_head)?;
            let member = match structure {
                Some(s) => s.members.get(&key).and_then(|m| self.model.shape(&m.shape)),
                None => values,
            };
            // A null member or map value is the same as an absent one.
            if let Some(v) = self.value(member, depth + 1)? {
                out.insert(key, v);
            }
        }
        Ok(Value::Object(out))
    }
}

/// An integer as the value of a shape: epoch seconds for a timestamp, a float for a
/// float/double, else the integer.
fn number(kind: &str, n: Value) -> Value {
    match kind {
        "float" | "double" => n.as_f64().map_or(n, Value::from),
        _ => n,
    }
}

/// A float as the value of a shape: an integer for an integer shape when it is whole, `"NaN"`
/// and `"Infinity"`/`"-Infinity"` as the JSON protocols spell them (a JSON number cannot be
/// either).
fn float(kind: &str, f: f64) -> Value {
    if f.is_nan() {
        return Value::String("NaN".into());
    }
    if f.is_infinite() {
        return Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into());
    }
    let integral = f.fract() == 0.0 && f.abs() < 9.0e15;
    match kind {
        "byte" | "short" | "integer" | "long" if integral => Value::from(f as i64),
        _ => Value::from(f),
    }
}

/// An IEEE 754 half-precision float.
pub(super) fn half(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let mant = f64::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    };
    sign * magnitude
}

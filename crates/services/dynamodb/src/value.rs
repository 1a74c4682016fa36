//! DynamoDB attribute values.
//!
//! - [`AttributeValue`]: every DynamoDB type. Sets (`SS`, `NS`, `BS`) are kept sorted and free of
//!   duplicates (the order DynamoDB returns set members in is unspecified), so the derived
//!   equality is set equality. Build sets through [`AttributeValue::string_set`] and friends, or
//!   from the wire with [`value_from_json`], to keep that invariant.
//! - [`Number`]: a decimal with up to 38 significant digits in DynamoDB's range, normalized so
//!   that equal numbers are equal values; its order is numeric.
//! - The wire JSON form (`{"S": "x"}`, ...) both ways, with DynamoDB's validation messages.
//! - [`AttributeValue::size`] / [`item_size`]: DynamoDB's item size rules (the 400 KB limit).
//! - [`key_bytes`]: order-preserving bytes of key attributes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validation failure; the message is DynamoDB's `ValidationException` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError(pub String);

impl ValueError {
    /// Whether DynamoDB reports this as a `SerializationException` (a JSON member of the wrong
    /// JSON type, e.g. `{"S": 5}`) rather than a `ValidationException`.
    pub fn is_serialization(&self) -> bool {
        self.0.contains(" can not be converted to ")
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// Most significant digits a number may have.
pub const MAX_DIGITS: usize = 38;
/// Largest decimal exponent `e` of a number written `0.d1d2.. × 10^e` (magnitude < 10^126).
const MAX_EXP: i32 = 126;
/// Smallest such exponent (magnitude >= 10^-130).
const MIN_EXP: i32 = -129;
/// Levels of nesting DynamoDB allows, counting a top-level attribute value as level 1: at most
/// `MAX_NESTING - 1` lists/maps inside one another (a 32-deep map is refused).
pub const MAX_NESTING: usize = 32;
/// DynamoDB's message for values nested too deeply.
pub const NESTING_MESSAGE: &str = "1 validation error detected: Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";

const NOT_NUMERIC: &str = "The parameter cannot be converted to a numeric value";
const TOO_MANY_DIGITS: &str = "Attempting to store more than 38 significant digits in a Number";
const OVERFLOW: &str =
    "Number overflow. Attempting to store a number with magnitude larger than supported range";
const UNDERFLOW: &str =
    "Number underflow. Attempting to store a number with magnitude smaller than supported range";

/// A DynamoDB number: `(-1)^neg × 0.d1d2..dn × 10^exp`, with `d1 != 0` and `dn != 0`
/// (no leading or trailing zeros), `n <= 38`; zero has no digits, `exp == 0` and `neg == false`.
/// Normalized, so the derived equality and hash are numeric.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    exp: i32,
    digits: Vec<u8>,
}

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number {
            neg: false,
            exp: 0,
            digits: Vec::new(),
        }
    }

    /// Parses DynamoDB's number syntax: an optional sign, digits with an optional decimal point,
    /// an optional exponent (`1.5E-3`).
    pub fn parse(s: &str) -> Result<Number, ValueError> {
        let bad = || {
            if s.is_empty() {
                ValueError(NOT_NUMERIC.to_string())
            } else {
                ValueError(format!("{NOT_NUMERIC}: {s}"))
            }
        };
        let b = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            neg = b[i] == b'-';
            i += 1;
        }
        let mut mantissa = Vec::new();
        let mut int_len: i64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            mantissa.push(b[i] - b'0');
            int_len += 1;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                mantissa.push(b[i] - b'0');
                i += 1;
            }
        }
        if mantissa.is_empty() {
            return Err(bad());
        }
        let mut e: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut eneg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                eneg = b[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: anything this large is out of range anyway.
                e = (e * 10 + i64::from(b[i] - b'0')).min(1_000_000_000);
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            if eneg {
                e = -e;
            }
        }
        if i != b.len() {
            return Err(bad());
        }
        let lead = mantissa.iter().take_while(|d| **d == 0).count();
        let mut digits = mantissa.split_off(lead);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        let exp = int_len - lead as i64 + e;
        Self::checked(neg, exp, digits)
    }

    /// Validates digit count and range of a normalized (no leading/trailing zeros) mantissa.
    fn checked(neg: bool, exp: i64, digits: Vec<u8>) -> Result<Number, ValueError> {
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        if digits.len() > MAX_DIGITS {
            return err(TOO_MANY_DIGITS);
        }
        if exp > i64::from(MAX_EXP) {
            return err(OVERFLOW);
        }
        if exp < i64::from(MIN_EXP) {
            return err(UNDERFLOW);
        }
        Ok(Number {
            neg,
            exp: exp as i32,
            digits,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.neg
    }

    /// How many significant digits (0 for zero).
    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }

    /// `self + o`, exact; fails like DynamoDB when the result needs more than 38 digits or
    /// leaves the range.
    pub fn add(&self, o: &Number) -> Result<Number, ValueError> {
        if o.is_zero() {
            return Ok(self.clone());
        }
        if self.is_zero() {
            return Ok(o.clone());
        }
        // value = coefficient × 10^low
        let low_a = self.exp - self.digits.len() as i32;
        let low_b = o.exp - o.digits.len() as i32;
        let low = low_a.min(low_b);
        let mut a = self.digits.clone();
        a.resize(a.len() + (low_a - low) as usize, 0);
        let mut b = o.digits.clone();
        b.resize(b.len() + (low_b - low) as usize, 0);
        let (neg, coef) = if self.neg == o.neg {
            (self.neg, add_mag(&a, &b))
        } else {
            match cmp_mag(&a, &b) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (self.neg, sub_mag(&a, &b)),
                Ordering::Less => (o.neg, sub_mag(&b, &a)),
            }
        };
        let lead = coef.iter().take_while(|d| **d == 0).count();
        let mut digits = coef[lead..].to_vec();
        let exp = i64::from(low) + digits.len() as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        Self::checked(neg, exp, digits)
    }

    /// `self - o`.
    pub fn sub(&self, o: &Number) -> Result<Number, ValueError> {
        self.add(&o.negated())
    }

    pub fn negated(&self) -> Number {
        let mut n = self.clone();
        if !n.is_zero() {
            n.neg = !n.neg;
        }
        n
    }

    /// The value as an `f64` (approximate); for callers that need a float, such as TTL.
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }

    /// The value as an `i64` when it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        if self.exp < self.digits.len() as i32 || self.exp > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for i in 0..self.exp as usize {
            v = v * 10 + i128::from(*self.digits.get(i).unwrap_or(&0));
        }
        if self.neg {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    /// Order-preserving bytes: byte order of the encodings == numeric order. Self-delimiting.
    fn key_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.digits.len() + 3);
        if self.is_zero() {
            out.push(0x01);
        } else if self.neg {
            out.push(0x00);
            out.push(255 - (self.exp - MIN_EXP) as u8);
            out.extend(self.digits.iter().map(|d| 10 - d));
            out.push(0xFF);
        } else {
            out.push(0x02);
            out.push((self.exp - MIN_EXP) as u8);
            out.extend(self.digits.iter().map(|d| d + 1));
            out.push(0x00);
        }
        out
    }
}

fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Sum of two big-endian digit strings.
fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len().max(b.len());
    let mut out = vec![0u8; n + 1];
    let mut carry = 0u8;
    for i in 0..n {
        let da = if i < a.len() { a[a.len() - 1 - i] } else { 0 };
        let db = if i < b.len() { b[b.len() - 1 - i] } else { 0 };
        let s = da + db + carry;
        out[n - i] = s % 10;
        carry = s / 10;
    }
    out[0] = carry;
    out
}

/// `a - b` for big-endian digit strings with `a >= b` (as numbers, same length or longer).
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i8;
    for i in 0..a.len() {
        let da = a[a.len() - 1 - i] as i8;
        let db = if i < b.len() {
            b[b.len() - 1 - i] as i8
        } else {
            0
        };
        let mut d = da - db - borrow;
        if d < 0 {
            d += 10;
            borrow = 1;
        } else {
            borrow = 0;
        }
        out[a.len() - 1 - i] = d as u8;
    }
    out
}

impl fmt::Display for Number {
    /// The canonical form: plain decimal notation, no exponent, no superfluous zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let digit = |d: &u8| char::from(b'0' + d);
        let len = self.digits.len() as i32;
        if self.exp <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-self.exp) as usize));
            s.extend(self.digits.iter().map(digit));
        } else if self.exp >= len {
            s.extend(self.digits.iter().map(digit));
            s.extend(std::iter::repeat_n('0', (self.exp - len) as usize));
        } else {
            let (int, frac) = self.digits.split_at(self.exp as usize);
            s.extend(int.iter().map(digit));
            s.push('.');
            s.extend(frac.iter().map(digit));
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl Ord for Number {
    fn cmp(&self, o: &Self) -> Ordering {
        let class = |n: &Number| match (n.is_zero(), n.neg) {
            (true, _) => 1,
            (false, true) => 0,
            (false, false) => 2,
        };
        match class(self).cmp(&class(o)) {
            Ordering::Equal => {}
            other => return other,
        }
        let mag = self
            .exp
            .cmp(&o.exp)
            .then_with(|| self.digits.as_slice().cmp(o.digits.as_slice()));
        if self.neg { mag.reverse() } else { mag }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        let s = String::deserialize(d)?;
        Number::parse(&s).map_err(|e| serde::de::Error::custom(e.0))
    }
}

impl std::str::FromStr for Number {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Number, ValueError> {
        Number::parse(s)
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        // An i64 has at most 19 digits: always in range.
        Number::parse(&v.to_string()).unwrap_or_else(|_| Number::zero())
    }
}

/// One DynamoDB attribute value. Sets are sorted and duplicate-free (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item (or a key): attribute name → value.
pub type Item = BTreeMap<String, AttributeValue>;

impl AttributeValue {
    /// A string set (sorted, duplicates dropped).
    pub fn string_set(mut v: Vec<String>) -> AttributeValue {
        v.sort();
        v.dedup();
        AttributeValue::Ss(v)
    }

    /// A number set (sorted, duplicates dropped).
    pub fn number_set(mut v: Vec<Number>) -> AttributeValue {
        v.sort();
        v.dedup();
        AttributeValue::Ns(v)
    }

    /// A binary set (sorted, duplicates dropped).
    pub fn binary_set(mut v: Vec<Vec<u8>>) -> AttributeValue {
        v.sort();
        v.dedup();
        AttributeValue::Bs(v)
    }

    /// The wire type name: "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
    pub fn type_code(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// The wire JSON form, e.g. `{"S": "x"}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        let inner = match self {
            AttributeValue::S(s) => J::String(s.clone()),
            AttributeValue::N(n) => J::String(n.to_string()),
            AttributeValue::B(b) => J::String(B64.encode(b)),
            AttributeValue::Bool(b) => J::Bool(*b),
            AttributeValue::Null => J::Bool(true),
            AttributeValue::M(m) => {
                J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            AttributeValue::L(l) => J::Array(l.iter().map(AttributeValue::to_json).collect()),
            AttributeValue::Ss(v) => J::Array(v.iter().map(|s| J::String(s.clone())).collect()),
            AttributeValue::Ns(v) => J::Array(v.iter().map(|n| J::String(n.to_string())).collect()),
            AttributeValue::Bs(v) => J::Array(v.iter().map(|b| J::String(B64.encode(b))).collect()),
        };
        let mut o = serde_json::Map::with_capacity(1);
        o.insert(self.type_code().to_string(), inner);
        J::Object(o)
    }

    /// The value's size by DynamoDB's rules, without the attribute name.
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + 1 + v.size()).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + v.size()).sum::<usize>(),
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v.iter().map(number_size).sum(),
            AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
        }
    }
}

/// A number's size: one byte, plus one per two significant digits on each side of the decimal
/// point (leading and trailing zeros trimmed), plus one if negative — as measured on DynamoDB
/// (the developer guide's "1 byte per two significant digits plus 1" is the approximation).
fn number_size(n: &Number) -> usize {
    if n.is_zero() {
        return 1;
    }
    let len = n.digits.len();
    let int = n.exp.clamp(0, len as i32) as usize;
    1 + int.div_ceil(2) + (len - int).div_ceil(2) + usize::from(n.neg)
}

/// Lists/maps nested in one another in `v` (0 for scalars and sets); DynamoDB allows at most
/// `MAX_NESTING - 1`.
pub fn nesting_depth(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::M(m) => 1 + m.values().map(nesting_depth).max().unwrap_or(0),
        AttributeValue::L(l) => 1 + l.iter().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// An item's size by DynamoDB's rules: the UTF-8 length of each attribute name plus its value.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// The wire form of an item: `{"name": {"S": "x"}, ...}`.
pub fn item_to_json(item: &Item) -> serde_json::Value {
    serde_json::Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Order-preserving bytes of a key attribute: S by UTF-8 bytes, N numerically, B by bytes —
/// the byte order of the result is DynamoDB's sort order. `None` for types a key cannot have.
pub fn key_bytes(v: &AttributeValue) -> Option<Vec<u8>> {
    match v {
        AttributeValue::S(s) => Some(s.as_bytes().to_vec()),
        AttributeValue::N(n) => Some(n.key_bytes()),
        AttributeValue::B(b) => Some(b.clone()),
        _ => None,
    }
}

/// Compares two values the way DynamoDB's `<`, `<=`, `>`, `>=` and BETWEEN do: only S with S,
/// N with N and B with B are ordered; anything else is `None`.
pub fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

const INVALID: &str = "One or more parameter values were invalid";

/// Parses one wire attribute value (`{"S": "x"}`, `{"NS": ["1", "2"]}`, ...).
pub fn value_from_json(v: &serde_json::Value) -> Result<AttributeValue, ValueError> {
    value_at(v, 0)
}

fn value_at(v: &serde_json::Value, depth: usize) -> Result<AttributeValue, ValueError> {
    use serde_json::Value as J;
    let Some(obj) = v.as_object() else {
        return err(format!(
            "{INVALID}: Supplied AttributeValue is not a structure"
        ));
    };
    // Members set to null count as absent, as with DynamoDB's deserializer; unknown members are
    // ignored.
    const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];
    let mut set = obj
        .iter()
        .filter(|(k, v)| TYPES.contains(&k.as_str()) && !v.is_null());
    let Some((ty, inner)) = set.next() else {
        return err(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        );
    };
    if set.next().is_some() {
        return err(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        );
    }
    let string = |j: &J| -> Result<String, ValueError> {
        match j {
            J::String(s) => Ok(s.clone()),
            other => err(format!(
                "{} can not be converted to a String",
                json_kind(other)
            )),
        }
    };
    let list = |j: &J| -> Result<Vec<J>, ValueError> {
        match j {
            J::Array(a) => Ok(a.clone()),
            other => err(format!(
                "{} can not be converted to a List",
                json_kind(other)
            )),
        }
    };
    let bytes = |j: &J| -> Result<Vec<u8>, ValueError> {
        let s = string(j)?;
        B64.decode(s.as_bytes()).map_err(|_| {
            ValueError(format!(
                "{INVALID}: Invalid Base64 encoded value for attribute of type B: {s}"
            ))
        })
    };
    Ok(match ty.as_str() {
        "S" => AttributeValue::S(string(inner)?),
        "N" => AttributeValue::N(Number::parse(&string(inner)?)?),
        "B" => AttributeValue::B(bytes(inner)?),
        "BOOL" => match inner {
            J::Bool(b) => AttributeValue::Bool(*b),
            other => {
                return err(format!(
                    "{} can not be converted to a Boolean",
                    json_kind(other)
                ));
            }
        },
        "NULL" => match inner {
            J::Bool(true) => AttributeValue::Null,
            J::Bool(false) => {
                return err(format!(
                    "{INVALID}: Null attribute value types must have the value of true"
                ));
            }
            other => {
                return err(format!(
                    "{} can not be converted to a Boolean",
                    json_kind(other)
                ));
            }
        },
        "M" | "L" if depth + 1 >= MAX_NESTING => {
            return err(NESTING_MESSAGE);
        }
        "M" => {
            let Some(m) = inner.as_object() else {
                return err(format!(
                    "{} can not be converted to a Map",
                    json_kind(inner)
                ));
            };
            let mut out = BTreeMap::new();
            for (k, v) in m {
                out.insert(k.clone(), value_at(v, depth + 1)?);
            }
            AttributeValue::M(out)
        }
        "L" => AttributeValue::L(
            list(inner)?
                .iter()
                .map(|v| value_at(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        "SS" => {
            let raw = list(inner)?
                .iter()
                .map(string)
                .collect::<Result<Vec<_>, _>>()?;
            if raw.is_empty() {
                return err(format!("{INVALID}: An string set  may not be empty"));
            }
            let mut v = raw.clone();
            v.sort();
            v.dedup();
            if v.len() != raw.len() {
                return Err(duplicates(&raw));
            }
            AttributeValue::Ss(v)
        }
        "NS" => {
            let raw = list(inner)?
                .iter()
                .map(string)
                .collect::<Result<Vec<_>, _>>()?;
            if raw.is_empty() {
                return err(format!("{INVALID}: An number set  may not be empty"));
            }
            let mut v = raw
                .iter()
                .map(|s| Number::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            v.sort();
            v.dedup();
            if v.len() != raw.len() {
                return err("Input collection contains duplicates");
            }
            AttributeValue::Ns(v)
        }
        "BS" => {
            let arr = list(inner)?;
            if arr.is_empty() {
                return err(format!("{INVALID}: Binary sets should not be empty"));
            }
            let raw = arr.iter().map(string).collect::<Result<Vec<_>, _>>()?;
            let mut v = arr.iter().map(bytes).collect::<Result<Vec<_>, _>>()?;
            v.sort();
            v.dedup();
            if v.len() != raw.len() {
                return err(format!(
                    "{INVALID}: Input collection [{}]of type BS contains duplicates.",
                    raw.join(", ")
                ));
            }
            AttributeValue::Bs(v)
        }
        _ => {
            return err(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            );
        }
    })
}

fn duplicates(raw: &[String]) -> ValueError {
    ValueError(format!(
        "{INVALID}: Input collection [{}] contains duplicates.",
        raw.join(", ")
    ))
}

fn json_kind(j: &serde_json::Value) -> &'static str {
    match j {
        serde_json::Value::Null => "NULL_VALUE",
        serde_json::Value::Bool(_) => "BOOLEAN_VALUE",
        serde_json::Value::Number(_) => "NUMBER_VALUE",
        serde_json::Value::String(_) => "STRING_VALUE",
        serde_json::Value::Array(_) => "START_ARRAY",
        serde_json::Value::Object(_) => "START_OBJECT",
    }
}

/// Parses a wire item or key map: `{"name": {"S": "x"}, ...}`.
pub fn item_from_json(v: &serde_json::Value) -> Result<Item, ValueError> {
    let Some(obj) = v.as_object() else {
        return err(format!("{} can not be converted to a Map", json_kind(v)));
    };
    let mut item = Item::new();
    for (k, v) in obj {
        item.insert(k.clone(), value_from_json(v)?);
    }
    Ok(item)
}

/// Parses `ExpressionAttributeValues`: keys must look like `:name`; errors carry DynamoDB's
/// "ExpressionAttributeValues contains invalid value: ... for key :k" wrapping.
pub fn values_from_json(
    v: &serde_json::Value,
) -> Result<BTreeMap<String, AttributeValue>, ValueError> {
    let Some(obj) = v.as_object() else {
        return err(format!("{} can not be converted to a Map", json_kind(v)));
    };
    if obj.is_empty() {
        return err("ExpressionAttributeValues must not be empty");
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !super::expr::is_placeholder(k, ':') {
            return err(format!(
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
            ));
        }
        let value = value_from_json(v).map_err(|e| {
            if e.0 == NESTING_MESSAGE {
                // DynamoDB reports this one as is.
                return e;
            }
            ValueError(format!(
                "ExpressionAttributeValues contains invalid value: {} for key {k}",
                e.0
            ))
        })?;
        out.insert(k.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

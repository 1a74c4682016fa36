//! Ordered byte keys and an order-preserving tuple encoding.
//!
//! Every record in a store lives under a [`Key`]: a byte string ordered bytewise. Services build keys
//! from typed parts with [`KeyBuilder`]; the encoding preserves the order of the parts (strings sort
//! as strings, integers as integers, tuples lexicographically), so a range of keys is a range of
//! tuples and a prefix of parts is a prefix of bytes. The first two parts of every key a service
//! writes are, by convention, the account and the region ([`Partition`]).

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

/// An immutable, cheaply clonable byte key, ordered bytewise.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Arc<[u8]>);

impl Key {
    /// A key made of these exact bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Key(Arc::from(bytes))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Start building a key from typed parts.
    pub fn builder() -> KeyBuilder {
        KeyBuilder::default()
    }

    /// Whether this key starts with `prefix`.
    pub fn starts_with(&self, prefix: &Key) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Decode the parts of a key written by [`KeyBuilder`]. `None` if the bytes are not a valid
    /// tuple encoding.
    pub fn parts(&self) -> Option<Vec<Part>> {
        decode_parts(&self.0)
    }

    /// The typed parts at the start of the key, as far as they decode, and the bytes after them
    /// (a key built with [`KeyBuilder::raw`] after typed parts: the raw bytes).
    pub fn leading_parts(&self) -> (Vec<Part>, &[u8]) {
        let mut parts = Vec::new();
        let mut rest: &[u8] = &self.0;
        while !rest.is_empty() {
            match decode_one(rest) {
                Some((part, after)) => {
                    parts.push(part);
                    rest = after;
                }
                None => break,
            }
        }
        (parts, rest)
    }

    /// The range of keys that start with this key's bytes (a prefix scan).
    pub fn prefix_range(&self) -> (Bound<Key>, Bound<Key>) {
        let lower = Bound::Included(self.clone());
        let mut upper = self.0.to_vec();
        // The smallest byte string greater than every string with this prefix: drop trailing 0xff
        // bytes, then increment the last one. An all-0xff (or empty) prefix has no upper bound.
        while upper.last() == Some(&0xff) {
            upper.pop();
        }
        match upper.last_mut() {
            Some(last) => {
                *last += 1;
                (lower, Bound::Excluded(Key(Arc::from(upper))))
            }
            None => (lower, Bound::Unbounded),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            Some(parts) => f.debug_tuple("Key").field(&parts).finish(),
            None => write!(f, "Key({:02x?})", &self.0[..]),
        }
    }
}

/// One decoded part of a tuple key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Str(String),
    Bytes(Vec<u8>),
    U64(u64),
}

const TAG_BYTES: u8 = 0x01;
const TAG_STR: u8 = 0x02;
const TAG_U64: u8 = 0x15;

/// Builds a [`Key`] from typed parts with an order-preserving encoding.
///
/// Strings and byte strings are written with a type tag, their bytes with `0x00` escaped as
/// `0x00 0xff`, and a `0x00` terminator; so `"a" < "ab" < "b"` holds for the encoded keys too.
/// Integers are a tag and 8 big-endian bytes.
#[derive(Clone, Default)]
pub struct KeyBuilder {
    buf: Vec<u8>,
}

impl KeyBuilder {
    /// Append a string part.
    pub fn str(mut self, s: &str) -> Self {
        self.buf.push(TAG_STR);
        escape_into(&mut self.buf, s.as_bytes());
        self
    }

    /// Append a byte-string part.
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.buf.push(TAG_BYTES);
        escape_into(&mut self.buf, b);
        self
    }

    /// Append an unsigned integer part.
    pub fn u64(mut self, n: u64) -> Self {
        self.buf.push(TAG_U64);
        self.buf.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// Append raw, already encoded bytes (for services with their own order-preserving encoding).
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// Finish the key.
    pub fn build(self) -> Key {
        Key(Arc::from(self.buf))
    }
}

fn escape_into(buf: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        buf.push(b);
        if b == 0 {
            buf.push(0xff);
        }
    }
    buf.push(0);
}

fn decode_parts(mut b: &[u8]) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    while !b.is_empty() {
        let (part, rest) = decode_one(b)?;
        parts.push(part);
        b = rest;
    }
    Some(parts)
}

/// The first part of `b` and the bytes after it; `None` when `b` does not start with a part.
fn decode_one(b: &[u8]) -> Option<(Part, &[u8])> {
    let (&tag, mut b) = b.split_first()?;
    match tag {
        TAG_U64 => {
            let (n, rest) = b.split_first_chunk::<8>()?;
            Some((Part::U64(u64::from_be_bytes(*n)), rest))
        }
        TAG_STR | TAG_BYTES => {
            let mut out = Vec::new();
            loop {
                let (&c, rest) = b.split_first()?;
                b = rest;
                if c == 0 {
                    if b.first() == Some(&0xff) {
                        out.push(0);
                        b = &b[1..];
                    } else {
                        break;
                    }
                } else {
                    out.push(c);
                }
            }
            if tag == TAG_STR {
                Some((Part::Str(String::from_utf8(out).ok()?), b))
            } else {
                Some((Part::Bytes(out), b))
            }
        }
        _ => None,
    }
}

/// The account and region a piece of state belongs to. Keys of a partition start with
/// [`Partition::prefix`], so partitions never see each other's records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub account: String,
    pub region: String,
}

impl Partition {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Partition {
            account: account.into(),
            region: region.into(),
        }
    }

    /// A key builder already holding this partition's two parts.
    pub fn key(&self) -> KeyBuilder {
        Key::builder().str(&self.account).str(&self.region)
    }

    /// The key prefix shared by every record of this partition.
    pub fn prefix(&self) -> Key {
        self.key().build()
    }

    /// The partition a key belongs to: its first two parts when both are strings (the
    /// convention every service follows); `None` for a key that does not start so.
    pub fn of(key: &Key) -> Option<Partition> {
        let (Part::Str(account), rest) = decode_one(key.as_bytes())? else {
            return None;
        };
        let (Part::Str(region), _) = decode_one(rest)? else {
            return None;
        };
        Some(Partition { account, region })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partition_of_a_key() {
        let p = Partition::new("000000000000", "eu-west-1");
        let k = p.key().str("queue").u64(7).build();
        assert_eq!(Partition::of(&k), Some(p.clone()));
        assert_eq!(Partition::of(&p.prefix()), Some(p));
        assert_eq!(Partition::of(&Key::builder().str("only").build()), None);
        assert_eq!(Partition::of(&Key::builder().u64(1).str("x").build()), None);
        assert_eq!(Partition::of(&Key::from_bytes(&[0xee, 1])), None);
    }

    #[test]
    fn prefix_range_bounds() {
        let k = Key::from_bytes(&[1, 2, 0xff]);
        let (lo, hi) = k.prefix_range();
        assert_eq!(lo, Bound::Included(k.clone()));
        assert_eq!(hi, Bound::Excluded(Key::from_bytes(&[1, 3])));
        assert_eq!(Key::from_bytes(&[0xff]).prefix_range().1, Bound::Unbounded);
    }

    #[test]
    fn partitions_are_disjoint() {
        let a = Partition::new("000000000000", "us-east-1");
        let b = Partition::new("000000000000", "us-east-10");
        let ka = a.key().str("x").build();
        assert!(ka.starts_with(&a.prefix()));
        assert!(!ka.starts_with(&b.prefix()));
    }

    proptest! {
        #[test]
        fn tuple_order_is_preserved(a in proptest::collection::vec(any::<(String, u64, Vec<u8>)>(), 2)) {
            let enc = |t: &(String, u64, Vec<u8>)| Key::builder().str(&t.0).u64(t.1).bytes(&t.2).build();
            let (x, y) = (&a[0], &a[1]);
            let (kx, ky) = (enc(x), enc(y));
            let ox = (x.0.as_bytes(), x.1, &x.2);
            let oy = (y.0.as_bytes(), y.1, &y.2);
            prop_assert_eq!(ox.cmp(&oy), kx.cmp(&ky));
            prop_assert_eq!(kx.parts().unwrap(), vec![Part::Str(x.0.clone()), Part::U64(x.1), Part::Bytes(x.2.clone())]);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Key::from_bytes(&bytes).parts();
        }
    }

    #[test]
    fn leading_parts_stop_at_raw_bytes() {
        let k = Key::builder().str("acct").u64(7).raw(b"/my/param").build();
        let (parts, rest) = k.leading_parts();
        assert_eq!(parts, vec![Part::Str("acct".into()), Part::U64(7)]);
        assert_eq!(rest, b"/my/param");
        let whole = Key::builder().str("a").bytes(b"\x00b").build();
        let (parts, rest) = whole.leading_parts();
        assert_eq!(parts, whole.parts().unwrap());
        assert!(rest.is_empty());
    }
}

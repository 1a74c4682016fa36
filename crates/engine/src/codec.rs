//! Bounded binary reading and writing helpers shared by the on-disk codecs.
//!
//! Everything read from disk goes through [`Reader`], which checks every length against the bytes
//! that remain and against an explicit limit, so a damaged or hostile file gives an error, never a
//! panic or a huge allocation.

use std::fmt;

/// What was wrong with some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// Append an unsigned LEB128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(byte);
            return;
        }
        buf.push(byte | 0x80);
    }
}

/// Append a varint length followed by the bytes.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| DecodeError(format!("unexpected end of data at byte {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return err(format!(
                "length {n} at byte {} runs past the end ({} bytes remain)",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A LEB128 varint of at most 10 bytes that fits in a u64.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return err("varint overflows 64 bits");
            }
            n |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        err("varint longer than 10 bytes")
    }

    /// A varint that must not exceed `max`.
    pub(crate) fn varint_max(&mut self, max: u64, what: &str) -> Result<u64, DecodeError> {
        let n = self.varint()?;
        if n > max {
            return err(format!("{what} {n} exceeds the limit {max}"));
        }
        Ok(n)
    }

    /// A varint-length-prefixed byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, max: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint_max(max as u64, what)? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_roundtrip(n in any::<u64>()) {
            let mut buf = Vec::new();
            put_varint(&mut buf, n);
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.varint().unwrap(), n);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.varint();
            let _ = r.bytes(16, "test");
            let _ = r.u64_le();
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let bytes = [0xffu8; 11];
        assert!(Reader::new(&bytes).varint().is_err());
        let mut max = vec![0xffu8; 9];
        max.push(0x02);
        assert!(Reader::new(&max).varint().is_err());
    }
}

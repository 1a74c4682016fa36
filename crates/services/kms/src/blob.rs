//! The symmetric ciphertext blob (format 1; the layout is in the crate's documentation).

use std::collections::BTreeMap;

pub const VERSION: u8 = 1;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
pub const MAX_KEY_ID_LEN: usize = 64;

/// A parsed blob: borrowed parts of the bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Blob<'a> {
    pub key_id: &'a str,
    pub material: u32,
    pub nonce: &'a [u8],
    /// The header (authenticated as additional data).
    pub header: &'a [u8],
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
}

/// The header of a blob for `key_id` and `material`, with `nonce`.
pub fn header(key_id: &str, material: u32, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let id = key_id.as_bytes();
    let mut out = Vec::with_capacity(2 + id.len() + 4 + NONCE_LEN);
    out.push(VERSION);
    out.push(id.len().min(MAX_KEY_ID_LEN) as u8);
    out.extend_from_slice(&id[..id.len().min(MAX_KEY_ID_LEN)]);
    out.extend_from_slice(&material.to_be_bytes());
    out.extend_from_slice(nonce);
    out
}

/// Parse a blob; `None` for anything that is not a well-formed format-1 blob.
pub fn parse(b: &[u8]) -> Option<Blob<'_>> {
    let (&version, rest) = b.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&n, rest) = rest.split_first()?;
    let n = n as usize;
    if n == 0 || n > MAX_KEY_ID_LEN || rest.len() < n + 4 + NONCE_LEN + TAG_LEN {
        return None;
    }
    let key_id = std::str::from_utf8(&rest[..n]).ok()?;
    if !key_id
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return None;
    }
    let material = u32::from_be_bytes(rest[n..n + 4].try_into().ok()?);
    let nonce = &rest[n + 4..n + 4 + NONCE_LEN];
    let head_len = 2 + n + 4 + NONCE_LEN;
    Some(Blob {
        key_id,
        material,
        nonce,
        header: &b[..head_len],
        sealed: &b[head_len..],
    })
}

/// The additional authenticated data: the header, then the context's pairs sorted by key,
/// each length-prefixed.
pub fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = header.to_vec();
    for (k, v) in context {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips() {
        let nonce = [7u8; NONCE_LEN];
        let mut b = header("1234abcd-12ab-34cd-56ef-1234567890ab", 3, &nonce);
        b.extend_from_slice(&[9u8; TAG_LEN + 5]);
        let p = parse(&b).unwrap();
        assert_eq!(p.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(p.material, 3);
        assert_eq!(p.nonce, &nonce);
        assert_eq!(p.sealed.len(), TAG_LEN + 5);
        assert!(parse(&b[..b.len() - 6]).is_none());
        let mut bad = b.clone();
        bad[0] = 2;
        assert!(parse(&bad).is_none());
    }

    #[test]
    fn context_order_does_not_matter_but_content_does() {
        let a: BTreeMap<_, _> = [("b".into(), "2".into()), ("a".into(), "1".into())].into();
        let b: BTreeMap<_, _> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert_eq!(aad(b"h", &a), aad(b"h", &b));
        let c: BTreeMap<_, _> = [("a".into(), "12".into())].into();
        let d: BTreeMap<_, _> = [("a1".into(), "2".into())].into();
        assert_ne!(aad(b"h", &c), aad(b"h", &d));
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parser_never_panics_on_near_blobs(
            n in any::<u8>(),
            rest in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut b = vec![VERSION, n];
            b.extend_from_slice(&rest);
            if let Some(p) = parse(&b) {
                prop_assert_eq!(p.header.len() + p.sealed.len(), b.len());
            }
        }
    }
}

//! The MD5 digests SQS returns, computed as AWS documents them: the body's MD5 in hex, and the
//! attributes' MD5 over, for each attribute in name order, the 4-byte big-endian length and bytes
//! of the name, of the data type, a transport byte (1 for String/Number, 2 for Binary), and the
//! length and bytes of the value.

use md5::{Digest, Md5};

use super::model::AttrValue;

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 of a message body, in hex.
pub fn of_body(body: &str) -> String {
    hex(&Md5::digest(body.as_bytes()))
}

fn put(h: &mut Md5, bytes: &[u8]) {
    // Sizes are bounded (a message is at most 1 MiB), so a length always fits in 32 bits.
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

/// The MD5 of message (or message system) attributes, `None` when there are none. `attrs` must be
/// sorted by name.
pub fn of_attributes(attrs: &[(String, AttrValue)]) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut h = Md5::new();
    for (name, v) in attrs {
        put(&mut h, name.as_bytes());
        put(&mut h, v.data_type.as_bytes());
        match &v.binary {
            Some(b) if v.string.is_none() => {
                h.update([2u8]);
                put(&mut h, b);
            }
            _ => {
                h.update([1u8]);
                put(&mut h, v.string.as_deref().unwrap_or("").as_bytes());
            }
        }
    }
    Some(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str, v: &str) -> AttrValue {
        AttrValue {
            data_type: t.into(),
            string: Some(v.into()),
            binary: None,
        }
    }

    #[test]
    fn body_digest() {
        assert_eq!(of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn attribute_digest_matches_the_documented_encoding() {
        // Built by hand from the documented layout, independently of `of_attributes`.
        let mut raw = Vec::new();
        for (name, ty, tb, val) in [
            ("a", "String", 1u8, b"x".as_slice()),
            ("b", "Binary", 2u8, &[0u8, 1, 2][..]),
        ] {
            raw.extend((name.len() as u32).to_be_bytes());
            raw.extend(name.as_bytes());
            raw.extend((ty.len() as u32).to_be_bytes());
            raw.extend(ty.as_bytes());
            raw.push(tb);
            raw.extend((val.len() as u32).to_be_bytes());
            raw.extend(val);
        }
        let want = hex(&Md5::digest(&raw));
        let attrs = vec![
            ("a".to_string(), s("String", "x")),
            (
                "b".to_string(),
                AttrValue {
                    data_type: "Binary".into(),
                    string: None,
                    binary: Some(vec![0, 1, 2]),
                },
            ),
        ];
        assert_eq!(of_attributes(&attrs), Some(want));
        assert_eq!(of_attributes(&[]), None);
    }
}

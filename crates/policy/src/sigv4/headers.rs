//! A signed request's headers, as verification reads them: by name, case-insensitively, every
//! value of a repeated name in order. Values come as text (clients, tests) or as the bytes a
//! server received (an `http::HeaderValue` holds bytes): those are checked for UTF-8 only when
//! verification reads them, so a request's other headers (a long `User-Agent`, a cookie) cost
//! nothing.

/// The headers of a [`super::SignedRequest`].
#[derive(Clone, Copy, Debug)]
pub enum Headers<'a> {
    /// Every header as received (repeated names allowed), names in any case.
    Pairs(&'a [(&'a str, &'a str)]),
    /// Every header as received, values as bytes. A value that is not UTF-8 is read as
    /// absent (no signature this server makes or verifies covers one).
    Bytes(&'a [(&'a str, &'a [u8])]),
}

impl<'a> From<&'a [(&'a str, &'a str)]> for Headers<'a> {
    fn from(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Headers::Pairs(pairs)
    }
}

impl<'a, const N: usize> From<&'a [(&'a str, &'a str); N]> for Headers<'a> {
    fn from(pairs: &'a [(&'a str, &'a str); N]) -> Self {
        Headers::Pairs(pairs)
    }
}

impl<'a> From<&'a Vec<(&'a str, &'a str)>> for Headers<'a> {
    fn from(pairs: &'a Vec<(&'a str, &'a str)>) -> Self {
        Headers::Pairs(pairs)
    }
}

impl<'a> From<&'a Vec<(&'a str, &'a [u8])>> for Headers<'a> {
    fn from(pairs: &'a Vec<(&'a str, &'a [u8])>) -> Self {
        Headers::Bytes(pairs)
    }
}

/// A header by name: absent, sent once (its value), or sent more than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found<'a> {
    Absent,
    One(&'a str),
    Many,
}

impl<'a> Headers<'a> {
    /// Whether `name` (lower case) was sent, once or more.
    pub(super) fn find(self, name: &str) -> Found<'a> {
        match self {
            Headers::Pairs(pairs) => find_in(pairs, name, Some),
            Headers::Bytes(pairs) => find_in(pairs, name, utf8),
        }
    }

    /// Every value of `name` (lower case) as bytes, in the order sent.
    pub(super) fn each_bytes(self, name: &str, mut f: impl FnMut(&'a [u8])) {
        match self {
            Headers::Pairs(pairs) => each_in(pairs, name, |v| Some(v.as_bytes()), &mut f),
            Headers::Bytes(pairs) => each_in(pairs, name, Some, &mut f),
        }
    }
}

/// A value as text: UTF-8 (ASCII checked a word at a time) rather than `HeaderValue::to_str`'s
/// byte by byte; the signature covers the bytes as sent either way.
fn utf8(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

fn find_in<'a, V: Copy>(
    pairs: &'a [(&'a str, V)],
    name: &str,
    text: impl Fn(V) -> Option<&'a str>,
) -> Found<'a> {
    let mut found = Found::Absent;
    for &(n, v) in pairs {
        // By length first: most names differ in it.
        if n.len() == name.len() && n.eq_ignore_ascii_case(name) {
            found = match found {
                Found::Absent => text(v).map_or(Found::Absent, Found::One),
                _ => return Found::Many,
            };
        }
    }
    found
}

fn each_in<'a, V: Copy, T>(
    pairs: &'a [(&'a str, V)],
    name: &str,
    text: impl Fn(V) -> Option<T>,
    mut f: impl FnMut(T),
) {
    for &(n, v) in pairs {
        if n.len() == name.len()
            && n.eq_ignore_ascii_case(name)
            && let Some(v) = text(v)
        {
            f(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_find_alike() {
        let pairs = [
            ("Host", "h"),
            ("X-Amz-Date", "d"),
            ("x-a", "1"),
            ("X-A", "2"),
        ];
        let bytes: Vec<(&str, &[u8])> = pairs.iter().map(|&(n, v)| (n, v.as_bytes())).collect();
        for h in [Headers::from(&pairs), Headers::from(&bytes)] {
            assert_eq!(h.find("host"), Found::One("h"));
            assert_eq!(h.find("x-amz-date"), Found::One("d"));
            assert_eq!(h.find("x-a"), Found::Many);
            assert_eq!(h.find("absent"), Found::Absent);
            assert_eq!(h.find(""), Found::Absent);
            let mut all = Vec::new();
            h.each_bytes("x-a", |v| all.push(v));
            assert_eq!(all, [b"1", b"2"]);
        }
    }

    #[test]
    fn a_value_that_is_not_utf8_reads_as_absent() {
        let bytes: Vec<(&str, &[u8])> = vec![("x-bin", b"\xff\xfe")];
        let h = Headers::from(&bytes);
        assert_eq!(h.find("x-bin"), Found::Absent);
        let mut n = 0;
        h.each_bytes("x-bin", |_| n += 1);
        assert_eq!(n, 1, "as bytes, a value is read whatever it holds");
    }
}

//! Store keys as resources, for `snapstack snapshot diff` ([`crate::Service::describe_key`]).

use snapstack_engine::{Key, Part};

/// A part as text: strings as they are (quoted when empty or holding a `/`), numbers in
/// decimal, byte strings in hex.
pub fn part(p: &Part) -> String {
    match p {
        Part::Str(s) if s.is_empty() || s.contains('/') => format!("{s:?}"),
        Part::Str(s) => s.clone(),
        Part::U64(n) => n.to_string(),
        Part::Bytes(b) => hex(b),
    }
}

/// Bytes in lower-case hex, `0x` first.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for byte in b {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Bytes as text when they are UTF-8 without control characters, else hex.
pub fn text_or_hex(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => hex(b),
    }
}

/// Any key: its typed parts joined by `/`, and raw bytes after them as text or hex.
pub fn generic(key: &Key) -> String {
    let (parts, rest) = key.leading_parts();
    let mut out: Vec<String> = parts.iter().map(part).collect();
    if !rest.is_empty() {
        out.push(text_or_hex(rest));
    }
    out.join("/")
}

/// The `[account region]` suffix that scopes a resource.
pub fn scope(account: &str, region: Option<&str>) -> String {
    match region {
        Some(r) => format!("[{account} {r}]"),
        None => format!("[{account}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_keys_read_as_paths() {
        let k = Key::builder()
            .str("000000000000")
            .str("us-east-1")
            .str("q")
            .u64(42)
            .bytes(&[0, 0xab])
            .build();
        assert_eq!(generic(&k), "000000000000/us-east-1/q/42/0x00ab");
        let raw = Key::builder().str("a").raw(b"/p/x").build();
        assert_eq!(generic(&raw), "a//p/x");
        let bin = Key::builder().str("a").raw(&[0xfe, 1]).build();
        assert_eq!(generic(&bin), "a/0xfe01");
        assert_eq!(part(&Part::Str("a/b".into())), "\"a/b\"");
    }
}

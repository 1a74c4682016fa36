//! Sequence numbers, hash keys and shard iterators.
//!
//! A sequence number is 56 decimal digits, as AWS's are: `49`, the stream counter on 24 digits,
//! the shard index on 10, and the stream's creation time (ms) on 20. Equal-length decimal strings
//! compare as numbers, and the counter comes first, so sequence numbers increase along a shard
//! (and along the whole stream); the counter is stored in the stream record, so they keep
//! increasing across restarts.
//!
//! A shard iterator is an opaque token (base64) that encodes the stream, its creation time, the
//! shard, the counter to read from, and when the iterator was issued: nothing about it is kept
//! on the server, so an iterator issued before a restart reads from the same place after it,
//! until it expires ([`ITERATOR_TTL_MS`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};

/// How long a shard iterator stays valid.
pub const ITERATOR_TTL_MS: u64 = 300_000;

/// The 56-digit sequence number of `counter` in shard `shard` of a stream created at `created`.
pub fn format_seq(counter: u64, shard: u64, created_ms: u64) -> String {
    format!(
        "49{counter:024}{:010}{created_ms:020}",
        shard % 10_000_000_000
    )
}

/// A parsed sequence number: (counter, shard index, stream creation ms).
pub fn parse_seq(s: &str) -> Option<(u64, u64, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let counter = s.get(2..26)?.parse().ok()?;
    let shard = s.get(26..36)?.parse().ok()?;
    let created = s.get(36..56)?.parse().ok()?;
    Some((counter, shard, created))
}

/// The 128-bit hash key of a partition key: its MD5, big-endian.
pub fn hash_of(partition_key: &str) -> u128 {
    let d = Md5::digest(partition_key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d);
    u128::from_be_bytes(b)
}

/// A decimal hash key (`ExplicitHashKey`, `NewStartingHashKey`) in `[0, 2^128-1]`.
pub fn parse_hash(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The hash-key ranges of `n` shards splitting the key space evenly, as AWS does: shard `i`
/// starts at `i * floor(2^128 / n)`, the last one ends at `2^128 - 1`.
pub fn even_ranges(n: u64) -> Vec<(u128, u128)> {
    let n128 = u128::from(n.max(1));
    if n128 == 1 {
        return vec![(0, u128::MAX)];
    }
    // floor(2^128 / n) without 2^128: floor((2^128 - 1) / n), plus one when n divides 2^128.
    let step = u128::MAX / n128 + u128::from(u128::MAX % n128 == n128 - 1);
    (0..n128)
        .map(|i| {
            let start = step.wrapping_mul(i);
            let end = if i + 1 == n128 {
                u128::MAX
            } else {
                step.wrapping_mul(i + 1) - 1
            };
            (start, end)
        })
        .collect()
}

/// What an iterator encodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iter {
    pub stream: String,
    pub created_ms: u64,
    pub shard: u64,
    /// The first counter to read.
    pub counter: u64,
    pub issued_ms: u64,
}

const ITER_MAGIC: &str = "kin1";

impl Iter {
    pub fn encode(&self) -> String {
        let text = format!(
            "{ITER_MAGIC}/{}/{}/{}/{}/{}",
            self.created_ms, self.shard, self.counter, self.issued_ms, self.stream
        );
        STANDARD.encode(text.as_bytes())
    }

    pub fn decode(token: &str) -> Option<Iter> {
        if token.len() > 512 {
            return None;
        }
        let bytes = STANDARD.decode(token.as_bytes()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut it = text.splitn(6, '/');
        if it.next()? != ITER_MAGIC {
            return None;
        }
        let created_ms = it.next()?.parse().ok()?;
        let shard = it.next()?.parse().ok()?;
        let counter = it.next()?.parse().ok()?;
        let issued_ms = it.next()?.parse().ok()?;
        let stream = it.next()?.to_string();
        if stream.is_empty() {
            return None;
        }
        Some(Iter {
            stream,
            created_ms,
            shard,
            counter,
            issued_ms,
        })
    }
}

/// AWS's time form in iterator-expiry messages: `Thu Jan 01 00:00:00 UTC 2026`.
pub fn amz_utc(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = snapstack_protocol::codec::time::civil_from_days(days as i64);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn even_ranges_match_aws() {
        let r = even_ranges(1);
        assert_eq!(r, vec![(0, u128::MAX)]);
        let r = even_ranges(2);
        assert_eq!(
            r[0].1.to_string(),
            "170141183460469231731687303715884105727"
        );
        assert_eq!(
            r[1].0.to_string(),
            "170141183460469231731687303715884105728"
        );
        let r = even_ranges(3);
        assert_eq!(
            r[0].1.to_string(),
            "113427455640312821154458202477256070484"
        );
        assert_eq!(
            r[1].0.to_string(),
            "113427455640312821154458202477256070485"
        );
        assert_eq!(r[2].1, u128::MAX);
        for n in 1..40 {
            let r = even_ranges(n);
            assert_eq!(r.len() as u64, n);
            assert_eq!(r[0].0, 0);
            for w in r.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
        }
    }

    #[test]
    fn md5_hash_keys() {
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_of("a"), 0x0cc175b9c0f1b6a831c399e269772661);
        assert_eq!(parse_hash("0"), Some(0));
        assert_eq!(parse_hash(&u128::MAX.to_string()), Some(u128::MAX));
        assert_eq!(parse_hash("340282366920938463463374607431768211456"), None);
        assert_eq!(parse_hash("-1"), None);
        assert_eq!(parse_hash(""), None);
    }

    #[test]
    fn amz_time() {
        assert_eq!(amz_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(amz_utc(1_709_251_200_000), "Fri Mar 01 00:00:00 UTC 2024");
    }

    proptest! {
        #[test]
        fn seq_round_trip_and_order(a in 0u64..u64::MAX / 2, b in 0u64..u64::MAX / 2, shard in 0u64..1_000_000, created in 0u64..u64::MAX) {
            let sa = format_seq(a, shard, created);
            prop_assert_eq!(sa.len(), 56);
            prop_assert_eq!(parse_seq(&sa), Some((a, shard, created)));
            let sb = format_seq(b, shard, created);
            prop_assert_eq!(a.cmp(&b), sa.cmp(&sb));
        }

        #[test]
        fn iterator_round_trip(stream in "[a-zA-Z0-9_.-]{1,128}", created in any::<u64>(), shard in any::<u64>(), counter in any::<u64>(), issued in any::<u64>()) {
            let it = Iter { stream, created_ms: created, shard, counter, issued_ms: issued };
            let t = it.encode();
            prop_assert!(t.len() <= 512);
            prop_assert_eq!(Iter::decode(&t), Some(it));
        }

        #[test]
        fn decoding_garbage_never_panics(s in ".{0,600}") {
            let _ = Iter::decode(&s);
            let _ = parse_seq(&s);
            let _ = parse_hash(&s);
        }
    }
}

//! Hex, SHA-256 in hex, constant-time comparison, and the `YYYYMMDDTHHMMSSZ` and HTTP dates.

use super::*;

/// The value of one hex digit, either letter case.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    hex_into(bytes, &mut s);
    s
}

/// [`hex`] appended to `out`.
pub(super) fn hex_into(bytes: &[u8], out: &mut String) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let n = 2 * chunk.len();
        hex_to(chunk, &mut buf[..n]);
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
    }
}

/// Lower-case hex of `bytes` into `out` (twice as long): one table look-up a byte.
pub(super) fn hex_to(bytes: &[u8], out: &mut [u8]) {
    static PAIRS: [[u8; 2]; 256] = {
        const LOWER: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [LOWER[i >> 4], LOWER[i & 15]];
            i += 1;
        }
        t
    };
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&PAIRS[usize::from(*b)]);
    }
}

/// Hex SHA-256 of `data` (what [`SignedRequest::payload_hash`] wants).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// [`sha256_hex`] written into `out`, which the answer borrows (no allocation).
pub fn sha256_hex_to<'o>(data: &[u8], out: &'o mut [u8; 64]) -> &'o str {
    hex_to(&Sha256::digest(data), out);
    // Hex digits are ASCII.
    std::str::from_utf8(out).unwrap_or_default()
}

pub(super) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYYMMDDTHHMMSSZ` to epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    // Digits read in place: this runs on every signed request.
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, se) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = crate::condition::days_from_civil(y, mo, d);
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Epoch seconds as `YYYYMMDDTHHMMSSZ` (civil-from-days, Howard Hinnant's algorithm).
pub fn amz_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An HTTP `Date` (`Fri, 24 May 2013 00:00:00 GMT`) as `YYYYMMDDTHHMMSSZ`, for requests signed
/// without `X-Amz-Date`.
pub(super) fn http_date_to_amz(date: &str) -> Option<String> {
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let day: u32 = day.parse().ok()?;
    let year: u32 = year.parse().ok()?;
    let hms: Vec<u32> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let amz = format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{sec:02}Z");
    parse_amz_date(&amz).map(|_| amz)
}

//! Timestamps on the wire: ISO 8601 (query, XML bodies), RFC 822 / IMF-fixdate (HTTP headers)
//! and epoch seconds (JSON, CBOR, and members marked `unixTimestamp`). The neutral value holds
//! epoch seconds (see [`super`]).

use std::time::{Duration, UNIX_EPOCH};

/// The wire formats of the models' `timestampFormat` trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Iso8601,
    Rfc822,
    Epoch,
}

impl Format {
    /// The format a member uses: its own `timestampFormat` (or its shape's), else the
    /// protocol's default for where it travels.
    pub fn from_trait(name: Option<&str>, default: Format) -> Format {
        match name {
            Some("iso8601") => Format::Iso8601,
            Some("rfc822") => Format::Rfc822,
            Some("unixTimestamp") => Format::Epoch,
            _ => default,
        }
    }
}

/// Civil date (year, month 1–12, day 1–31) of a day count since 1970-01-01, proleptic
/// Gregorian (Howard Hinnant's algorithm): the one copy of this arithmetic that the services
/// share (the policy crate, which is below the wire, keeps its own).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-29T04:05:06.789Z` (milliseconds always written, as AWS's XML services do), or
/// without the fraction when `millis` is false (`2026-11-29T04:05:06Z`).
pub fn iso8601(epoch_ms: i64, millis: bool) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let ms = epoch_ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (rem / 3600, (rem / 60) % 60, rem % 60);
    if millis {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// [`iso8601`] with milliseconds, of unsigned epoch milliseconds (how records keep time).
pub fn iso8601_ms(epoch_ms: u64) -> String {
    iso8601(i64::try_from(epoch_ms).unwrap_or(i64::MAX), true)
}

/// `Sun, 29 Nov 2026 04:05:06 GMT`.
pub fn rfc822(epoch_ms: i64) -> String {
    let secs = u64::try_from(epoch_ms.div_euclid(1000)).unwrap_or(0);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Epoch seconds of a neutral value's timestamp as milliseconds (rounded toward zero).
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = seconds * 1000.0;
    (ms.is_finite() && ms.abs() < 1e17).then(|| ms.round() as i64)
}

/// Milliseconds as the neutral value's epoch seconds (an integer when whole).
pub fn ms_to_value(ms: i64) -> serde_json::Value {
    if ms % 1000 == 0 {
        serde_json::Value::from(ms / 1000)
    } else {
        serde_json::Value::from(ms as f64 / 1000.0)
    }
}

/// Format a timestamp given in epoch milliseconds.
pub fn format(epoch_ms: i64, format: Format) -> String {
    match format {
        Format::Iso8601 => iso8601(epoch_ms, true),
        Format::Rfc822 => rfc822(epoch_ms),
        Format::Epoch => {
            if epoch_ms % 1000 == 0 {
                (epoch_ms / 1000).to_string()
            } else {
                format!("{:.3}", epoch_ms as f64 / 1000.0)
            }
        }
    }
}

/// Parse a timestamp in any of the three formats (clients are lenient in what they send:
/// botocore sends ISO 8601 in query strings, epoch seconds in JSON). Milliseconds since the epoch.
pub fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() || t.len() > 64 {
        return None;
    }
    if let Ok(secs) = t.parse::<f64>() {
        return seconds_to_ms(secs);
    }
    if let Some(ms) = parse_iso8601(t) {
        return Some(ms);
    }
    let at = httpdate::parse_http_date(t).ok()?;
    let d = at.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let (head, rest) = (s.get(..n)?, &s[n..]);
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, rest))
}

fn expect(s: &str, c: u8) -> Option<&str> {
    (s.as_bytes().first() == Some(&c)).then(|| &s[1..])
}

/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`, and the date alone.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let (y, s) = digits(s, 4)?;
    let (m, s) = digits(expect(s, b'-')?, 2)?;
    let (d, s) = digits(expect(s, b'-')?, 2)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    if s.is_empty() {
        return Some(days * 86_400_000);
    }
    let s = s.strip_prefix('T').or_else(|| s.strip_prefix('t'))?;
    let (hh, s) = digits(s, 2)?;
    let (mi, s) = digits(expect(s, b':')?, 2)?;
    let (ss, mut s) = digits(expect(s, b':')?, 2)?;
    if hh > 23 || mi > 59 || ss > 60 {
        return None;
    }
    let mut ms = 0i64;
    if let Some(frac) = s.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let f = &frac[..n];
        let padded = format!("{:0<3}", &f[..n.min(3)]);
        ms = padded.parse().ok()?;
        s = &frac[n..];
    }
    let offset_secs: i64 = match s {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match s.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, r) = digits(&s[1..], 2)?;
            let r = r.strip_prefix(':').unwrap_or(r);
            let (om, r) = digits(r, 2)?;
            if !r.is_empty() {
                return None;
            }
            sign * (i64::from(oh) * 3600 + i64::from(om) * 60)
        }
    };
    let secs =
        days * 86_400 + i64::from(hh) * 3600 + i64::from(mi) * 60 + i64::from(ss) - offset_secs;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats() {
        let ms = 1_795_925_106_789; // 2026-11-29T04:05:06.789Z
        assert_eq!(iso8601(ms, true), "2026-11-29T04:05:06.789Z");
        assert_eq!(iso8601(ms, false), "2026-11-29T04:05:06Z");
        assert_eq!(rfc822(ms), "Sun, 29 Nov 2026 04:05:06 GMT");
        assert_eq!(format(ms, Format::Epoch), "1795925106.789");
        assert_eq!(format(1_795_925_106_000, Format::Epoch), "1795925106");
    }

    #[test]
    fn parses() {
        assert_eq!(parse("2026-11-29T04:05:06.789Z"), Some(1_795_925_106_789));
        assert_eq!(
            parse("2026-11-29T05:05:06.789+01:00"),
            Some(1_795_925_106_789)
        );
        assert_eq!(parse("2026-11-29T04:05:06Z"), Some(1_795_925_106_000));
        assert_eq!(
            parse("Sun, 29 Nov 2026 04:05:06 GMT"),
            Some(1_795_925_106_000)
        );
        assert_eq!(parse("1795925106.789"), Some(1_795_925_106_789));
        for bad in [
            "",
            "2026-13-01",
            "2026-11-29T25:00:00Z",
            "yesterday",
            "2026-11-29T04:05",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_days_agree_both_ways() {
        for z in [-719_162, -1, 0, 1, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    proptest! {
        #[test]
        fn civil_dates_round_trip(days in -800_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn iso8601_round_trips(ms in -62_135_596_800_000i64..253_402_300_799_999) {
            prop_assert_eq!(parse(&iso8601(ms, true)), Some(ms));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}

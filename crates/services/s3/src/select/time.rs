//! S3 Select's timestamps and date functions: timestamps are Ion timestamps (a precision from
//! the year down to fractions of a second, and an offset, `-00:00` when unknown), written as
//! Ion writes them; `TO_TIMESTAMP`, `TO_STRING` (its format pattern), `UTCNOW`, `DATE_ADD`,
//! `DATE_DIFF` and `EXTRACT` as the S3 Select reference documents them. Years are 0001–9999, as
//! Ion's are; arithmetic out of that range is an error, never a wrap.

use super::SelectError;
use snapstack_protocol::codec::time::{civil_from_days, days_from_civil};

/// How much of a timestamp is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Year,
    Month,
    Day,
    Minute,
    Second,
    /// Seconds with this many fractional digits (1–9).
    Fraction(u8),
}

/// A date part that DATE_ADD, DATE_DIFF and EXTRACT name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    TimezoneHour,
    TimezoneMinute,
}

impl DatePart {
    pub fn parse(word: &str) -> Option<DatePart> {
        Some(match word.to_ascii_lowercase().as_str() {
            "year" => DatePart::Year,
            "month" => DatePart::Month,
            "day" => DatePart::Day,
            "hour" => DatePart::Hour,
            "minute" => DatePart::Minute,
            "second" => DatePart::Second,
            "timezone_hour" => DatePart::TimezoneHour,
            "timezone_minute" => DatePart::TimezoneMinute,
            _ => return None,
        })
    }
}

/// An instant with the precision and offset it was given with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00Z.
    pub secs: i64,
    pub nanos: u32,
    /// The offset of its local time, in minutes east of UTC; `None` when unknown (`-00:00`,
    /// and every timestamp of day precision or less), its local time then being UTC.
    pub offset: Option<i32>,
    pub precision: Precision,
}

/// A timestamp's local fields.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

const MIN_SECS: i64 = -62_135_596_800; // 0001-01-01T00:00Z
const MAX_SECS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn out_of_range() -> SelectError {
    SelectError::new(
        "IllegalSqlFunctionArgument",
        "An illegal argument was used in the SQL function.",
    )
}

impl Timestamp {
    fn offset_secs(&self) -> i64 {
        i64::from(self.offset.unwrap_or(0)) * 60
    }

    fn fields(&self) -> Fields {
        let local = self.secs + self.offset_secs();
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let tod = local.rem_euclid(86_400) as u32;
        Fields {
            year,
            month,
            day,
            hour: tod / 3600,
            minute: tod / 60 % 60,
            second: tod % 60,
        }
    }

    /// A timestamp from local fields in `offset`, if in Ion's range.
    fn from_fields(
        f: Fields,
        nanos: u32,
        offset: Option<i32>,
        precision: Precision,
    ) -> Option<Timestamp> {
        if !(1..=9999).contains(&f.year) {
            return None;
        }
        let local = days_from_civil(f.year, f.month, f.day) * 86_400
            + i64::from(f.hour * 3600 + f.minute * 60 + f.second);
        let secs = local - i64::from(offset.unwrap_or(0)) * 60;
        (MIN_SECS..=MAX_SECS).contains(&secs).then_some(Timestamp {
            secs,
            nanos,
            offset,
            precision,
        })
    }

    /// The instant, for comparisons.
    pub fn instant(&self) -> (i64, u32) {
        (self.secs, self.nanos)
    }

    /// The current time, to the millisecond, in UTC.
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: d.as_secs() as i64,
            nanos: d.subsec_millis() * 1_000_000,
            offset: Some(0),
            precision: Precision::Fraction(3),
        }
    }
}

/// Read an Ion timestamp: `2007T`, `2007-02T`, `2007-02-23[T]`, `2007-02-23T12:14Z`,
/// `2007-02-23T12:14:33.079-08:00` (a bare `2007`, `2007-02` and a time without an offset are
/// read too, the offset then unknown).
pub fn parse(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = i64::from(digits(0, 4)?);
    let mut f = Fields {
        year,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
    };
    let date_only = |f: Fields, p| Timestamp::from_fields(f, 0, None, p);
    let rest = &b[4..];
    if rest.is_empty() || rest == b"T" || rest == b"t" {
        return date_only(f, Precision::Year);
    }
    if rest[0] != b'-' {
        return None;
    }
    f.month = digits(5, 2)?;
    if !(1..=12).contains(&f.month) {
        return None;
    }
    let rest = &b[7..];
    if rest.is_empty() || rest == b"T" || rest == b"t" {
        return date_only(f, Precision::Month);
    }
    if rest[0] != b'-' {
        return None;
    }
    f.day = digits(8, 2)?;
    if !(1..=days_in_month(year, f.month)).contains(&f.day) {
        return None;
    }
    let rest = &b[10..];
    if rest.is_empty() || rest == b"T" || rest == b"t" {
        return date_only(f, Precision::Day);
    }
    if !matches!(rest[0], b'T' | b't') || b.get(13) != Some(&b':') {
        return None;
    }
    f.hour = digits(11, 2)?;
    f.minute = digits(14, 2)?;
    if f.hour > 23 || f.minute > 59 {
        return None;
    }
    let mut i = 16;
    let mut precision = Precision::Minute;
    let mut nanos = 0;
    if b.get(i) == Some(&b':') {
        f.second = digits(17, 2)?;
        if f.second > 59 {
            return None;
        }
        precision = Precision::Second;
        i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            let n = end - start;
            if n == 0 || n > 9 {
                return None;
            }
            let frac: u32 = std::str::from_utf8(&b[start..end]).ok()?.parse().ok()?;
            nanos = frac * 10u32.pow((9 - n) as u32);
            precision = Precision::Fraction(n as u8);
            i = end;
        }
    }
    let offset = match &b[i..] {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = digits(i + 1, 2)? as i32;
            let m = digits(i + 4, 2)? as i32;
            if h > 23 || m > 59 {
                return None;
            }
            match (*sign, h, m) {
                (b'-', 0, 0) => None,
                (b'-', h, m) => Some(-(h * 60 + m)),
                (_, h, m) => Some(h * 60 + m),
            }
        }
        _ => return None,
    };
    Timestamp::from_fields(f, nanos, offset, precision)
}

/// A timestamp as Ion writes it.
pub fn format(t: &Timestamp) -> String {
    let f = t.fields();
    let date = match t.precision {
        Precision::Year => return format!("{:04}T", f.year),
        Precision::Month => return format!("{:04}-{:02}T", f.year, f.month),
        Precision::Day => return format!("{:04}-{:02}-{:02}", f.year, f.month, f.day),
        _ => format!("{:04}-{:02}-{:02}", f.year, f.month, f.day),
    };
    let mut s = format!("{date}T{:02}:{:02}", f.hour, f.minute);
    match t.precision {
        Precision::Second => s.push_str(&format!(":{:02}", f.second)),
        Precision::Fraction(n) => {
            let frac = format!("{:09}", t.nanos);
            s.push_str(&format!(
                ":{:02}.{}",
                f.second,
                &frac[..usize::from(n.min(9))]
            ));
        }
        _ => {}
    }
    s.push_str(&offset_text(t.offset, true, true));
    s
}

/// An offset as `Z` (when `z` and zero), `-00:00` (unknown), or `±hh[:]mm`.
fn offset_text(offset: Option<i32>, z: bool, colon: bool) -> String {
    match offset {
        None if z => "-00:00".to_string(),
        Some(0) if z => "Z".to_string(),
        o => {
            let o = o.unwrap_or(0);
            let sign = if o < 0 { '-' } else { '+' };
            let (h, m) = (o.abs() / 60, o.abs() % 60);
            if colon {
                format!("{sign}{h:02}:{m:02}")
            } else {
                format!("{sign}{h:02}{m:02}")
            }
        }
    }
}

/// DATE_ADD: `n` of `part` added; the precision grows to the part's if it was less.
pub fn add(part: DatePart, n: i64, t: &Timestamp) -> Result<Timestamp, SelectError> {
    let needs = match part {
        DatePart::Year => Precision::Year,
        DatePart::Month => Precision::Month,
        DatePart::Day => Precision::Day,
        DatePart::Hour | DatePart::Minute => Precision::Minute,
        DatePart::Second => Precision::Second,
        DatePart::TimezoneHour | DatePart::TimezoneMinute => return Err(invalid_date_part()),
    };
    let precision = t.precision.max(needs);
    match part {
        DatePart::Year | DatePart::Month => {
            let f = t.fields();
            let months = if part == DatePart::Year {
                n.checked_mul(12).ok_or_else(out_of_range)?
            } else {
                n
            };
            let total = (f.year * 12 + i64::from(f.month) - 1)
                .checked_add(months)
                .ok_or_else(out_of_range)?;
            let year = total.div_euclid(12);
            let month = total.rem_euclid(12) as u32 + 1;
            if !(1..=9999).contains(&year) {
                return Err(out_of_range());
            }
            let day = f.day.min(days_in_month(year, month));
            Timestamp::from_fields(
                Fields {
                    year,
                    month,
                    day,
                    ..f
                },
                t.nanos,
                t.offset,
                precision,
            )
            .ok_or_else(out_of_range)
        }
        _ => {
            let unit = match part {
                DatePart::Day => 86_400,
                DatePart::Hour => 3600,
                DatePart::Minute => 60,
                _ => 1,
            };
            let secs = n
                .checked_mul(unit)
                .and_then(|d| t.secs.checked_add(d))
                .filter(|s| (MIN_SECS..=MAX_SECS).contains(s))
                .ok_or_else(out_of_range)?;
            Ok(Timestamp {
                secs,
                precision,
                ..*t
            })
        }
    }
}

/// DATE_DIFF: how many whole `part`s from `a` to `b` (negative when `b` is before `a`).
pub fn diff(part: DatePart, a: &Timestamp, b: &Timestamp) -> Result<i64, SelectError> {
    match part {
        DatePart::Year | DatePart::Month => {
            // Whole months between the instants (in UTC): the calendar difference, less one
            // when the later one's day and time of month come before the earlier one's.
            let utc = |t: &Timestamp| {
                Timestamp {
                    offset: Some(0),
                    ..*t
                }
                .fields()
            };
            let (fa, fb) = (utc(a), utc(b));
            let mut months =
                (fb.year * 12 + i64::from(fb.month)) - (fa.year * 12 + i64::from(fa.month));
            let rest = |f: &Fields, t: &Timestamp| (f.day, f.hour, f.minute, f.second, t.nanos);
            let (ra, rb) = (rest(&fa, a), rest(&fb, b));
            if months > 0 && rb < ra {
                months -= 1;
            } else if months < 0 && rb > ra {
                months += 1;
            }
            Ok(if part == DatePart::Year {
                months / 12
            } else {
                months
            })
        }
        DatePart::Day | DatePart::Hour | DatePart::Minute | DatePart::Second => {
            let unit: i128 = match part {
                DatePart::Day => 86_400,
                DatePart::Hour => 3600,
                DatePart::Minute => 60,
                _ => 1,
            };
            let nanos = |t: &Timestamp| i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
            let d = (nanos(b) - nanos(a)) / (unit * 1_000_000_000);
            Ok(d as i64)
        }
        DatePart::TimezoneHour | DatePart::TimezoneMinute => Err(invalid_date_part()),
    }
}

/// EXTRACT: a field of the timestamp's local time, or of its offset.
pub fn extract(part: DatePart, t: &Timestamp) -> i64 {
    let f = t.fields();
    let offset = i64::from(t.offset.unwrap_or(0));
    match part {
        DatePart::Year => f.year,
        DatePart::Month => i64::from(f.month),
        DatePart::Day => i64::from(f.day),
        DatePart::Hour => i64::from(f.hour),
        DatePart::Minute => i64::from(f.minute),
        DatePart::Second => i64::from(f.second),
        DatePart::TimezoneHour => offset / 60,
        DatePart::TimezoneMinute => offset % 60,
    }
}

fn invalid_date_part() -> SelectError {
    SelectError::new(
        "EvaluatorInvalidArguments",
        "There is an incorrect number of arguments in the function call in the SQL expression.",
    )
}

fn pattern_symbol() -> SelectError {
    SelectError::new(
        "EvaluatorInvalidTimestampFormatPatternSymbol",
        "Time stamp format pattern contains an invalid symbol in the SQL expression.",
    )
}

fn pattern_token() -> SelectError {
    SelectError::new(
        "EvaluatorInvalidTimestampFormatPatternToken",
        "Time stamp format pattern contains an invalid token in the SQL expression.",
    )
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// TO_STRING: the timestamp written by a format pattern (`y`, `M`, `d`, `a`, `h`, `H`, `m`,
/// `s`, `S`, `n`, `X`, `x`, text in single quotes, and other characters as they are).
pub fn to_string(t: &Timestamp, pattern: &str) -> Result<String, SelectError> {
    let f = t.fields();
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted text; `''` is a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(pattern_token()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        out.push(ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let num = |v: i64, width: usize| format!("{v:0width$}");
        let hour12 = match f.hour % 12 {
            0 => 12,
            h => h,
        };
        let piece = match (c, n) {
            ('y', 2) => num(f.year % 100, 2),
            ('y', n) => num(f.year, n),
            ('M', 1 | 2) => num(i64::from(f.month), n),
            ('M', 3) => MONTHS[f.month as usize - 1][..3].to_string(),
            ('M', 4) => MONTHS[f.month as usize - 1].to_string(),
            ('M', 5) => MONTHS[f.month as usize - 1][..1].to_string(),
            ('d', 1 | 2) => num(i64::from(f.day), n),
            ('a', 1) => (if f.hour < 12 { "AM" } else { "PM" }).to_string(),
            ('h', 1 | 2) => num(i64::from(hour12), n),
            ('H', 1 | 2) => num(i64::from(f.hour), n),
            ('m', 1 | 2) => num(i64::from(f.minute), n),
            ('s', 1 | 2) => num(i64::from(f.second), n),
            ('S', 1..=9) => format!("{:09}", t.nanos)[..n].to_string(),
            ('n', _) => t.nanos.to_string(),
            ('X' | 'x', 1..=5) => {
                let o = t.offset.unwrap_or(0);
                if c == 'X' && o == 0 {
                    "Z".to_string()
                } else {
                    let sign = if o < 0 { '-' } else { '+' };
                    let (h, m) = (o.abs() / 60, o.abs() % 60);
                    match n {
                        1 if m == 0 => format!("{sign}{h:02}"),
                        1 | 2 | 4 => format!("{sign}{h:02}{m:02}"),
                        _ => format!("{sign}{h:02}:{m:02}"),
                    }
                }
            }
            ('M' | 'd' | 'a' | 'h' | 'H' | 'm' | 's' | 'S' | 'X' | 'x', _) => {
                return Err(pattern_token());
            }
            _ => return Err(pattern_symbol()),
        };
        out.push_str(&piece);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        parse(s).unwrap_or_else(|| panic!("{s} does not parse"))
    }

    #[test]
    fn ion_timestamps_round_trip() {
        for s in [
            "2007T",
            "2007-02T",
            "2007-02-23",
            "2007-02-23T12:14Z",
            "2007-02-23T12:14:33Z",
            "2007-02-23T12:14:33.079-08:00",
            "2007-02-23T12:14:33.079+05:30",
            "2017-01-01T01:00-00:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(format(&ts(s)), s);
        }
        assert_eq!(format(&ts("2007-02-23T")), "2007-02-23");
        assert_eq!(format(&ts("2024")), "2024T");
        for bad in [
            "",
            "07",
            "2007-13T",
            "2007-02-30",
            "2007-02-23T25:00Z",
            "2007-02-23T12:14:33.Z",
            "2007-02-23T12:14+24:00",
            "2007-02-23 12:14Z",
            "abcd",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        // The same instant in two offsets.
        assert_eq!(
            ts("2007-02-23T12:14Z").instant(),
            ts("2007-02-23T04:14-08:00").instant()
        );
    }

    #[test]
    fn date_add_as_documented() {
        let add = |p, n, s: &str| format(&add(p, n, &ts(s)).unwrap());
        assert_eq!(add(DatePart::Year, 5, "2010-01-01T"), "2015-01-01");
        assert_eq!(add(DatePart::Month, 1, "2010T"), "2010-02T");
        assert_eq!(add(DatePart::Month, 13, "2010T"), "2011-02T");
        assert_eq!(add(DatePart::Day, -1, "2017-01-10T"), "2017-01-09");
        assert_eq!(add(DatePart::Hour, 1, "2017T"), "2017-01-01T01:00-00:00");
        assert_eq!(
            add(DatePart::Hour, 1, "2017-01-02T03:04Z"),
            "2017-01-02T04:04Z"
        );
        assert_eq!(
            add(DatePart::Minute, 1, "2017-01-02T03:04:05.006Z"),
            "2017-01-02T03:05:05.006Z"
        );
        assert_eq!(
            add(DatePart::Second, 1, "2017-01-02T03:04:05.006Z"),
            "2017-01-02T03:04:06.006Z"
        );
        // The day is clamped to the new month's length.
        assert_eq!(add(DatePart::Month, 1, "2020-01-31T"), "2020-02-29");
        assert!(super::add(DatePart::Year, 9000, &ts("2010T")).is_err());
        assert!(super::add(DatePart::Second, i64::MAX, &ts("2010T")).is_err());
        assert!(super::add(DatePart::TimezoneHour, 1, &ts("2010T")).is_err());
    }

    #[test]
    fn date_diff_as_documented() {
        let diff = |p, a: &str, b: &str| diff(p, &ts(a), &ts(b)).unwrap();
        assert_eq!(diff(DatePart::Year, "2010-01-01T", "2011-01-01T"), 1);
        assert_eq!(diff(DatePart::Year, "2010T", "2010-05T"), 0);
        assert_eq!(diff(DatePart::Month, "2010T", "2011T"), 12);
        assert_eq!(diff(DatePart::Month, "2011T", "2010T"), -12);
        assert_eq!(diff(DatePart::Month, "2010T", "2010-05T"), 4);
        assert_eq!(
            diff(DatePart::Day, "2010-01-01T23:00Z", "2010-01-02T01:00Z"),
            0
        );
        assert_eq!(
            diff(DatePart::Day, "2010-01-01T23:00Z", "2010-01-02T23:00Z"),
            1
        );
        assert_eq!(
            diff(DatePart::Month, "2010-01-31T", "2010-02-28T"),
            0,
            "not a whole month"
        );
        assert_eq!(
            diff(
                DatePart::Hour,
                "2017-01-02T03:04-08:00",
                "2017-01-02T11:04Z"
            ),
            0
        );
    }

    #[test]
    fn extract_as_documented() {
        let t = ts("2017-01-02T03:04:05+09:08");
        let parts = [
            (DatePart::Year, 2017),
            (DatePart::Month, 1),
            (DatePart::Day, 2),
            (DatePart::Hour, 3),
            (DatePart::Minute, 4),
            (DatePart::Second, 5),
            (DatePart::TimezoneHour, 9),
            (DatePart::TimezoneMinute, 8),
        ];
        for (p, want) in parts {
            assert_eq!(extract(p, &t), want, "{p:?}");
        }
        assert_eq!(extract(DatePart::Year, &ts("2010-01-01T")), 2010);
        assert_eq!(extract(DatePart::TimezoneHour, &ts("2017T")), 0);
    }

    #[test]
    fn to_string_as_documented() {
        let moon = ts("1969-07-20T20:18Z");
        let s = |t: &Timestamp, p: &str| to_string(t, p).unwrap();
        assert_eq!(s(&moon, "MMMM d, y"), "July 20, 1969");
        assert_eq!(s(&moon, "MMM d, yyyy"), "Jul 20, 1969");
        assert_eq!(s(&moon, "M-d-yy"), "7-20-69");
        assert_eq!(s(&moon, "MM-d-y"), "07-20-1969");
        assert_eq!(s(&moon, "MMMM d, y h:m a"), "July 20, 1969 8:18 PM");
        assert_eq!(s(&moon, "y-MM-dd'T'H:m:ssX"), "1969-07-20T20:18:00Z");
        let east = ts("1969-07-20T20:18+08:00");
        assert_eq!(s(&east, "y-MM-dd'T'H:m:ssX"), "1969-07-20T20:18:00+08");
        assert_eq!(s(&east, "y-MM-dd'T'H:m:ssXXXX"), "1969-07-20T20:18:00+0800");
        assert_eq!(
            s(&east, "y-MM-dd'T'H:m:ssXXXXX"),
            "1969-07-20T20:18:00+08:00"
        );
        assert_eq!(s(&moon, "xxx"), "+00:00");
        assert_eq!(
            s(&ts("2020-01-01T00:00:01.5Z"), "ss.SSS hh 'o''clock'"),
            "01.500 12 o'clock"
        );
        assert_eq!(
            to_string(&moon, "q").unwrap_err().code,
            "EvaluatorInvalidTimestampFormatPatternSymbol"
        );
        assert_eq!(
            to_string(&moon, "MMMMMM").unwrap_err().code,
            "EvaluatorInvalidTimestampFormatPatternToken"
        );
        assert!(to_string(&moon, "'open").is_err());
    }
}

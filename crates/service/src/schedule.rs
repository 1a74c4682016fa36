//! Schedule expressions: `rate(N unit)`, `cron(min hour day-of-month month day-of-week
//! [year])` (UTC) and `at(yyyy-mm-ddThh:mm:ss)`, as AWS documents them, the next fire time after
//! a moment, and ISO 8601 durations (`PT2H`). One parser for CloudWatch (mute rules), Logs
//! (scheduled queries) and EventBridge (scheduled rules), with a [`Syntax`] for where they
//! differ: EventBridge's cron requires the year field, it has no `at()`, and its rates scale
//! for tests.

/// What a service's schedule expressions allow, where AWS's services differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Syntax {
    /// One-time schedules, `at(yyyy-mm-ddThh:mm[:ss])`.
    pub at: bool,
    /// A five-field `cron(...)`, without the year field (every year; Unix-style `*` for both
    /// days means every day).
    pub cron_without_year: bool,
    /// A factor on rate intervals (end-to-end tests make EventBridge's `rate(1 minute)` fire
    /// every 600 ms with 0.01); cron schedules are not scaled.
    pub rate_scale: f64,
}

impl Syntax {
    /// CloudWatch's mute rules and Logs' scheduled queries: `at()`, cron with or without the
    /// year, rates as written.
    pub const STANDARD: Syntax = Syntax {
        at: true,
        cron_without_year: true,
        rate_scale: 1.0,
    };

    /// EventBridge's scheduled rules: `rate()` (scaled by `rate_scale`) and six-field `cron()`.
    pub fn eventbridge(rate_scale: f64) -> Syntax {
        Syntax {
            at: false,
            cron_without_year: false,
            rate_scale,
        }
    }
}

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Every this many milliseconds.
    Rate(u64),
    Cron(Box<Cron>),
    /// Once, at this time (`at(yyyy-mm-ddThh:mm[:ss])`).
    At(u64),
}

/// A cron expression's fields as sets (bit i set: value i allowed) plus AWS's `L`, `W`, `#`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    /// Days of month 1..=31, unless `dom_any`.
    days: u64,
    dom_any: bool,
    dom_last: bool,
    /// `nW`: the weekday nearest day n; `LW`: the last weekday.
    dom_weekday: Option<u32>,
    dom_last_weekday: bool,
    months: u64,
    /// Days of week 1 (Sunday) ..= 7 (Saturday), unless `dow_any`.
    weekdays: u64,
    dow_any: bool,
    /// `dL`: the last such weekday of the month.
    dow_last: Option<u32>,
    /// `d#n`: the n-th such weekday of the month.
    dow_nth: Option<(u32, u32)>,
    years: Vec<(u32, u32, u32)>,
}

/// The error every invalid expression gets (AWS's wording).
pub const INVALID: &str = "Parameter ScheduleExpression is not valid.";

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A schedule expression of [`Syntax::STANDARD`].
pub fn parse(expr: &str) -> Result<Schedule, String> {
    parse_with(expr, &Syntax::STANDARD)
}

/// A schedule expression of `syntax`.
pub fn parse_with(expr: &str, syntax: &Syntax) -> Result<Schedule, String> {
    let expr = expr.trim();
    if let Some(body) = expr.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        let mut it = body.split_whitespace();
        let (Some(n), Some(unit), None) = (it.next(), it.next(), it.next()) else {
            return Err(INVALID.into());
        };
        let n: u64 = n.parse().map_err(|_| INVALID.to_string())?;
        if n == 0 || n > 1_000_000 {
            return Err(INVALID.into());
        }
        let (singular, ms) = match unit {
            "minute" => (true, 60_000),
            "minutes" => (false, 60_000),
            "hour" => (true, 3_600_000),
            "hours" => (false, 3_600_000),
            "day" => (true, 86_400_000),
            "days" => (false, 86_400_000),
            _ => return Err(INVALID.into()),
        };
        if singular != (n == 1) {
            return Err(INVALID.into());
        }
        let ms = n * ms;
        if syntax.rate_scale == 1.0 {
            return Ok(Schedule::Rate(ms));
        }
        let scaled = (ms as f64 * syntax.rate_scale).max(1.0);
        return Ok(Schedule::Rate(scaled as u64));
    }
    if let Some(body) = expr
        .strip_prefix("at(")
        .and_then(|s| s.strip_suffix(')'))
        .filter(|_| syntax.at)
    {
        let iso = snapstack_protocol::codec::time::parse_iso8601;
        return iso(body.trim())
            .or_else(|| iso(&format!("{}:00", body.trim())))
            .filter(|ms| *ms >= 0)
            .map(|ms| Schedule::At(ms as u64))
            .ok_or_else(|| INVALID.into());
    }
    if let Some(body) = expr.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        // A five-field expression has no year field.
        let f: Vec<&str> = body.split_whitespace().collect();
        let body = if f.len() == 5 && syntax.cron_without_year {
            // Unix-style: `*` for both days means every day.
            let dow = if f[2] != "?" && f[4] == "*" {
                "?"
            } else {
                f[4]
            };
            format!("{} {} {} {} {dow} *", f[0], f[1], f[2], f[3])
        } else {
            body.to_string()
        };
        return parse_cron(&body)
            .map(|c| Schedule::Cron(Box::new(c)))
            .ok_or_else(|| INVALID.into());
    }
    Err(INVALID.into())
}

fn value(s: &str, lo: u32, hi: u32, names: Option<&[&str]>) -> Option<u32> {
    if let Some(names) = names
        && let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s))
    {
        return Some(i as u32 + lo);
    }
    let v: u32 = s.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

/// A field of `*`, `n`, `a-b`, `*/s`, `a/s`, `a-b/s`, lists of those: the (lo, hi, step) parts.
fn ranges(field: &str, lo: u32, hi: u32, names: Option<&[&str]>) -> Option<Vec<(u32, u32, u32)>> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0 && *s <= hi)?),
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, lo, hi, names)?, value(b, lo, hi, names)?)
        } else {
            let a = value(range, lo, hi, names)?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a > b {
            return None;
        }
        out.push((a, b, step));
    }
    Some(out)
}

fn bits(field: &str, lo: u32, hi: u32, names: Option<&[&str]>) -> Option<u64> {
    let mut set = 0u64;
    for (a, b, s) in ranges(field, lo, hi, names)? {
        let mut v = a;
        while v <= b {
            set |= 1 << v;
            v += s;
        }
    }
    Some(set)
}

fn parse_cron(body: &str) -> Option<Cron> {
    let f: Vec<&str> = body.split_whitespace().collect();
    let [min, hour, dom, mon, dow, year] = f.as_slice() else {
        return None;
    };
    // Exactly one of day-of-month and day-of-week is `?`.
    if (*dom == "?") == (*dow == "?") {
        return None;
    }
    let mut c = Cron {
        minutes: bits(min, 0, 59, None)?,
        hours: bits(hour, 0, 23, None)?,
        days: 0,
        dom_any: false,
        dom_last: false,
        dom_weekday: None,
        dom_last_weekday: false,
        months: bits(mon, 1, 12, Some(&MONTHS))?,
        weekdays: 0,
        dow_any: false,
        dow_last: None,
        dow_nth: None,
        years: ranges(year, 1970, 2199, None)?,
    };
    match *dom {
        "?" => c.dom_any = true,
        "L" => c.dom_last = true,
        "LW" => c.dom_last_weekday = true,
        d if d.ends_with('W') => c.dom_weekday = Some(value(&d[..d.len() - 1], 1, 31, None)?),
        d => c.days = bits(d, 1, 31, None)?,
    }
    match *dow {
        "?" => c.dow_any = true,
        "L" => c.weekdays = 1 << 7,
        d if d.ends_with('L') && d.len() > 1 => {
            c.dow_last = Some(value(&d[..d.len() - 1], 1, 7, Some(&DAYS))?)
        }
        d if d.contains('#') => {
            let (a, n) = d.split_once('#')?;
            let n: u32 = n.parse().ok().filter(|n| (1..=5).contains(n))?;
            c.dow_nth = Some((value(a, 1, 7, Some(&DAYS))?, n));
        }
        d => c.weekdays = bits(d, 1, 7, Some(&DAYS))?,
    }
    Some(c)
}

/// Days since 1970-01-01 → (year, month, day) (a year before 1 A.D. reads as 0).
fn civil(days: i64) -> (u32, u32, u32) {
    let (y, m, d) = snapstack_protocol::codec::time::civil_from_days(days);
    (u32::try_from(y).unwrap_or(0), m, d)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

impl Cron {
    fn year_ok(&self, y: u32) -> bool {
        self.years
            .iter()
            .any(|&(a, b, s)| y >= a && y <= b && (y - a).is_multiple_of(s))
    }

    /// Whether the day (days since the epoch) is a fire day.
    fn day_ok(&self, days: i64) -> bool {
        let (y, m, d) = civil(days);
        if !self.year_ok(y) || self.months & (1 << m) == 0 {
            return false;
        }
        // 1 = Sunday (1970-01-01 was a Thursday: 5).
        let wd = ((days + 4).rem_euclid(7) + 1) as u32;
        let last = days_in_month(y, m);
        if !self.dom_any {
            let weekday_of =
                |day: u32| ((days - d as i64 + day as i64 + 4).rem_euclid(7) + 1) as u32;
            let is_weekday = |day: u32| (2..=6).contains(&weekday_of(day));
            let nearest = |n: u32| {
                let n = n.min(last);
                if is_weekday(n) {
                    n
                } else if weekday_of(n) == 7 {
                    if n > 1 { n - 1 } else { n + 2 }
                } else if n < last {
                    n + 1
                } else {
                    n - 2
                }
            };
            return if self.dom_last {
                d == last
            } else if self.dom_last_weekday {
                d == nearest(last)
            } else if let Some(n) = self.dom_weekday {
                d == nearest(n)
            } else {
                self.days & (1 << d) != 0
            };
        }
        if let Some(w) = self.dow_last {
            return wd == w && d + 7 > last;
        }
        if let Some((w, n)) = self.dow_nth {
            return wd == w && (d - 1) / 7 + 1 == n;
        }
        // `L` alone: Saturday.
        let set = if self.weekdays & (1 << 7) != 0 {
            self.weekdays | (1 << 7)
        } else {
            self.weekdays
        };
        set & (1 << wd) != 0
    }

    /// The first fire time strictly after `after_ms`.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let start_min = after_ms / 60_000 + 1;
        let mut day = (start_min / 1440) as i64;
        let mut from_minute = (start_min % 1440) as u32;
        // At most the calendar's range (to 2199).
        for _ in 0..(231 * 366) {
            if self.day_ok(day) {
                for h in (from_minute / 60)..24 {
                    if self.hours & (1 << h) == 0 {
                        continue;
                    }
                    let m0 = if h == from_minute / 60 {
                        from_minute % 60
                    } else {
                        0
                    };
                    for m in m0..60 {
                        if self.minutes & (1 << m) != 0 {
                            return Some((day as u64 * 1440 + h as u64 * 60 + m as u64) * 60_000);
                        }
                    }
                }
            }
            day += 1;
            from_minute = 0;
            if civil(day).0 > 2199 {
                return None;
            }
        }
        None
    }
}

impl Schedule {
    /// The next fire time after `after_ms` (rate: `after_ms` + the interval).
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Schedule::Rate(ms) => Some(after_ms.saturating_add(*ms)),
            Schedule::Cron(c) => c.next_after(after_ms),
            Schedule::At(t) => (*t > after_ms).then_some(*t),
        }
    }

    /// Whether a window of `dur_ms` opened by a fire time holds `now_ms`.
    pub fn within(&self, now_ms: u64, dur_ms: u64) -> bool {
        self.next_after(now_ms.saturating_sub(dur_ms))
            .is_some_and(|f| f <= now_ms)
    }
}

/// An ISO 8601 duration (`P[nD][T[nH][nM][nS]]`, weeks `PnW`) in milliseconds.
pub fn duration_ms(s: &str) -> Option<u64> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() || rest.len() > 64 {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut total: u64 = 0;
    for (part, units) in [
        (date, &[('W', 604_800_000u64), ('D', 86_400_000)][..]),
        (time, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)][..]),
    ] {
        let mut num = String::new();
        let mut ui = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let pos = units[ui..].iter().position(|(u, _)| *u == c)? + ui;
            let n: u64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(units[pos].1)?)?;
            num.clear();
            ui = pos + 1;
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z (a Monday).
    const JAN1_2024: u64 = 1_704_067_200_000;

    #[test]
    fn expressions_and_windows() {
        let c = parse("cron(0 2 * * ? *)").unwrap();
        assert_eq!(c.next_after(JAN1_2024), Some(JAN1_2024 + 2 * 3_600_000));
        assert!(c.within(JAN1_2024 + 3 * 3_600_000, 2 * 3_600_000));
        assert!(!c.within(JAN1_2024 + 5 * 3_600_000, 2 * 3_600_000));
        assert_eq!(
            parse("cron(0 * * * ?)").unwrap().next_after(JAN1_2024),
            Some(JAN1_2024 + 3_600_000)
        );
        assert_eq!(
            parse("rate(5 minutes)").unwrap().next_after(0),
            Some(300_000)
        );
        let at = parse("at(2024-01-01T00:30:00)").unwrap();
        assert_eq!(at, Schedule::At(JAN1_2024 + 1_800_000));
        assert!(at.within(JAN1_2024 + 1_900_000, 3_600_000));
        assert!(parse("cron(bad)").is_err());
        assert_eq!(duration_ms("PT2H"), Some(7_200_000));
        assert_eq!(duration_ms("P1DT30M"), Some(86_400_000 + 1_800_000));
        assert_eq!(duration_ms("PT"), None);
        assert_eq!(duration_ms("P2H"), None);
    }

    const MIN: u64 = 60_000;
    const DAY: u64 = 86_400_000;

    fn eventbridge(expr: &str) -> Result<Schedule, String> {
        parse_with(expr, &Syntax::eventbridge(1.0))
    }

    fn next(expr: &str, after: u64) -> u64 {
        eventbridge(expr).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn the_syntaxes_differ_where_aws_does() {
        // EventBridge: the year field is required, and there is no at().
        assert_eq!(eventbridge("cron(0 * * * ?)"), Err(INVALID.to_string()));
        assert!(parse("cron(0 * * * ?)").is_ok());
        assert_eq!(
            eventbridge("at(2024-01-01T00:30:00)"),
            Err(INVALID.to_string())
        );
        assert!(parse("at(2024-01-01T00:30:00)").is_ok());
        assert_eq!(
            eventbridge("cron(0 12 * * ? *)"),
            parse("cron(0 12 * * ? *)")
        );
        // Rates scale (for tests) where asked, never below 1 ms; cron does not.
        let scaled = |expr: &str, f: f64| parse_with(expr, &Syntax::eventbridge(f)).unwrap();
        assert_eq!(scaled("rate(1 minute)", 0.01), Schedule::Rate(600));
        assert_eq!(scaled("rate(1 minute)", 1e-9), Schedule::Rate(1));
        assert_eq!(scaled("rate(2 hours)", 1.0), Schedule::Rate(7_200_000));
        assert_eq!(
            scaled("cron(0 12 * * ? *)", 0.01),
            parse("cron(0 12 * * ? *)").unwrap()
        );
        assert!(
            parse_with("rate(5 weeks)", &Syntax::eventbridge(0.5)).is_err(),
            "scaling does not widen the syntax"
        );
    }

    #[test]
    fn rates() {
        for parse in [parse, eventbridge] {
            assert_eq!(parse("rate(1 minute)"), Ok(Schedule::Rate(60_000)));
            assert_eq!(parse("rate(5 minutes)"), Ok(Schedule::Rate(300_000)));
            assert_eq!(parse("rate(2 hours)"), Ok(Schedule::Rate(7_200_000)));
            assert_eq!(parse("rate(1 day)"), Ok(Schedule::Rate(86_400_000)));
            for bad in [
                "rate(1 minutes)",
                "rate(2 minute)",
                "rate(0 minutes)",
                "rate(x minutes)",
                "rate(5 weeks)",
                "rate(5)",
                "rate 5 minutes",
                "",
            ] {
                assert!(parse(bad).is_err(), "{bad}");
            }
        }
        assert_eq!(next("rate(5 minutes)", 1000), 1000 + 5 * MIN);
    }

    #[test]
    fn cron_parsing() {
        for parse in [parse, eventbridge] {
            for good in [
                "cron(0 12 * * ? *)",
                "cron(15 10 ? * 6L 2022-2030)",
                "cron(0/15 * * * ? *)",
                "cron(0 8 1 * ? *)",
                "cron(0 18 ? * MON-FRI *)",
                "cron(0 10 ? * 3#2 *)",
                "cron(0 0 L * ? *)",
                "cron(0 0 15W * ? *)",
                "cron(0 0 LW * ? *)",
                "cron(0 9 ? JAN,JUL SUN *)",
            ] {
                assert!(parse(good).is_ok(), "{good}");
            }
            for bad in [
                "cron(0 12 * * * *)",
                "cron(0 12 ? * ? *)",
                "cron(60 12 * * ? *)",
                "cron(0 24 * * ? *)",
                "cron(0 12 32 * ? *)",
                "cron(0 12 * 13 ? *)",
                "cron(0 0/0 * * ? *)",
                "cron(0 12 ? * 8 *)",
                "cron(5-1 * * * ? *)",
                "cron(59/4294967295 * * * ? *)",
            ] {
                assert!(parse(bad).is_err(), "{bad}");
            }
        }
        // Five fields: EventBridge's one difference.
        assert!(eventbridge("cron(0 12 * * ?)").is_err());
    }

    #[test]
    fn cron_next_times() {
        assert_eq!(
            next("cron(0 12 * * ? *)", JAN1_2024),
            JAN1_2024 + 12 * 60 * MIN
        );
        assert_eq!(
            next("cron(0 12 * * ? *)", JAN1_2024 + 12 * 60 * MIN),
            JAN1_2024 + DAY + 12 * 60 * MIN
        );
        assert_eq!(
            next("cron(0/15 * * * ? *)", JAN1_2024),
            JAN1_2024 + 15 * MIN
        );
        assert_eq!(
            next("cron(0/15 * * * ? *)", JAN1_2024 + 1),
            JAN1_2024 + 15 * MIN
        );
        // The first Saturday of 2024 is January 6th.
        assert_eq!(next("cron(0 0 ? * SAT *)", JAN1_2024), JAN1_2024 + 5 * DAY);
        assert_eq!(next("cron(0 0 ? * 7 *)", JAN1_2024), JAN1_2024 + 5 * DAY);
        // The second Tuesday (3#2) of January 2024 is the 9th.
        assert_eq!(next("cron(0 0 ? * 3#2 *)", JAN1_2024), JAN1_2024 + 8 * DAY);
        // The last day of January.
        assert_eq!(next("cron(0 0 L * ? *)", JAN1_2024), JAN1_2024 + 30 * DAY);
        // The last Friday (6L) of January 2024 is the 26th.
        assert_eq!(next("cron(0 0 ? * 6L *)", JAN1_2024), JAN1_2024 + 25 * DAY);
        // 2024-06-15 is a Saturday: 15W is Friday the 14th.
        let jun1 = JAN1_2024 + 152 * DAY;
        assert_eq!(next("cron(0 0 15W 6 ? 2024)", JAN1_2024), jun1 + 13 * DAY);
        // February 29th only in leap years.
        assert_eq!(next("cron(0 0 29 2 ? *)", JAN1_2024), JAN1_2024 + 59 * DAY);
        // A year past the range has no next time.
        assert_eq!(
            eventbridge("cron(0 0 1 1 ? 2020)")
                .unwrap()
                .next_after(JAN1_2024),
            None
        );
    }
}

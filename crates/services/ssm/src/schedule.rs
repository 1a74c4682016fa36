//! The times a maintenance window runs, from its schedule: `cron(...)` (AWS's six fields:
//! minutes hours day-of-month month day-of-week year; `?`, `*`, lists, ranges, steps and names;
//! `L`, `W` and `#` are not supported and give no times), `rate(N unit)` from the window's start
//! (its `StartDate`, or its creation), and `at(...)`. Times are UTC (a `ScheduleTimezone` is
//! not applied, nor is a `ScheduleOffset`).

use snapstack_protocol::codec::time::civil_from_days;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// `YYYY-MM-DDTHH:MMZ`, the form AWS gives execution times in.
pub(super) fn minute_iso(ms: i64) -> String {
    let days = ms.div_euclid(DAY);
    let rest = ms.rem_euclid(DAY) / MINUTE;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}Z", rest / 60, rest % 60)
}

/// One cron field: the allowed values in `lo..=hi`, or `None` if it cannot be read.
fn field(text: &str, lo: i64, hi: i64, names: &[&str]) -> Option<Vec<bool>> {
    let mut allowed = vec![false; (hi + 1) as usize];
    let value = |s: &str| -> Option<i64> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Some(i as i64 + lo);
        }
        s.parse().ok().filter(|n| (lo..=hi).contains(n))
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<i64>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (a, b) = match range {
            "*" | "?" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, hi),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        let mut v = a;
        while v <= b {
            allowed[v as usize] = true;
            v += step;
        }
    }
    Some(allowed)
}

struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    dom: Vec<bool>,
    months: Vec<bool>,
    dow: Vec<bool>,
    years: Option<Vec<bool>>,
    dom_any: bool,
    dow_any: bool,
}

fn parse_cron(expr: &str) -> Option<Cron> {
    let mut f: Vec<&str> = expr.split_whitespace().collect();
    if f.len() == 5 {
        f.push("*");
    }
    if f.len() != 6 || f.iter().any(|x| x.contains(['L', 'W', '#'])) {
        return None;
    }
    const MONTHS: &[&str] = &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    Some(Cron {
        minutes: field(f[0], 0, 59, &[])?,
        hours: field(f[1], 0, 23, &[])?,
        dom: field(f[2], 1, 31, &[])?,
        months: field(f[3], 1, 12, MONTHS)?,
        dow: field(f[4], 1, 7, DAYS)?,
        years: if f[5] == "*" {
            None
        } else {
            Some(field(f[5], 1970, 2199, &[])?)
        },
        dom_any: f[2] == "?" || f[2] == "*",
        dow_any: f[4] == "?" || f[4] == "*",
    })
}

impl Cron {
    fn day_matches(&self, days: i64) -> bool {
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) + 1; // 1970-01-01 was a Thursday (5)
        let year_ok = self
            .years
            .as_ref()
            .is_none_or(|ys| ys.get(y as usize).copied().unwrap_or(false));
        let dom_ok = self.dom[d as usize];
        let dow_ok = self.dow[weekday as usize];
        let day_ok = match (self.dom_any, self.dow_any) {
            (true, true) => true,
            (false, true) => dom_ok,
            (true, false) => dow_ok,
            (false, false) => dom_ok || dow_ok,
        };
        year_ok && self.months[m as usize] && day_ok
    }
}

/// Up to `n` run times (ms) of `schedule` after `from`, within `until` (exclusive), for a
/// window that started at `start`.
pub(super) fn next_runs(schedule: &str, start: i64, from: i64, until: i64, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let inner = |p: &str| {
        schedule
            .strip_prefix(p)
            .and_then(|s| s.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(expr) = inner("cron(") {
        let Some(c) = parse_cron(expr) else {
            return out;
        };
        // At most ten years ahead.
        let first = from.div_euclid(DAY);
        for day in first..first + 3660 {
            if out.len() >= n || day * DAY >= until {
                break;
            }
            if !c.day_matches(day) {
                continue;
            }
            for h in (0..24).filter(|h| c.hours[*h as usize]) {
                for m in (0..60).filter(|m| c.minutes[*m as usize]) {
                    let t = day * DAY + (h * 60 + m) * MINUTE;
                    if t > from && t < until && out.len() < n {
                        out.push(t);
                    }
                }
            }
        }
    } else if let Some(expr) = inner("rate(") {
        let mut parts = expr.split_whitespace();
        let (Some(k), Some(unit)) = (
            parts.next().and_then(|k| k.parse::<i64>().ok()),
            parts.next(),
        ) else {
            return out;
        };
        let unit = match unit.trim_end_matches('s') {
            "minute" => MINUTE,
            "hour" => 60 * MINUTE,
            "day" => DAY,
            _ => return out,
        };
        let Some(step) = unit.checked_mul(k).filter(|s| *s > 0) else {
            return out;
        };
        let first = if from < start {
            Some(start)
        } else {
            ((from - start) / step)
                .checked_add(1)
                .and_then(|n| n.checked_mul(step))
                .and_then(|d| d.checked_add(start))
        };
        let mut t = first;
        while let Some(at) = t
            && out.len() < n
            && at < until
        {
            if at > from {
                out.push(at);
            }
            t = at.checked_add(step);
        }
    } else if let Some(expr) = inner("at(")
        && let Some(t) = snapstack_protocol::codec::time::parse_iso8601(expr)
        && t > from
        && t < until
    {
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        snapstack_protocol::codec::time::parse_iso8601(s).unwrap()
    }

    #[test]
    fn execution_times_are_written_to_the_minute() {
        assert_eq!(minute_iso(t("2026-12-06T18:20:00Z")), "2026-12-06T18:20Z");
    }

    #[test]
    fn cron_schedules_give_their_times() {
        let from = t("2026-12-06T00:00:00Z"); // a Sunday
        let runs = next_runs("cron(0 2 ? * SUN *)", 0, from, i64::MAX, 2);
        assert_eq!(
            runs.iter().map(|r| minute_iso(*r)).collect::<Vec<_>>(),
            ["2026-12-06T02:00Z", "2026-12-13T02:00Z"]
        );
        let runs = next_runs("cron(30 */6 * * ? *)", 0, from, i64::MAX, 3);
        assert_eq!(
            runs.iter().map(|r| minute_iso(*r)).collect::<Vec<_>>(),
            [
                "2026-12-06T00:30Z",
                "2026-12-06T06:30Z",
                "2026-12-06T12:30Z"
            ]
        );
        let runs = next_runs("cron(0 0 1 JAN ? 2028)", 0, from, i64::MAX, 5);
        assert_eq!(
            runs.iter().map(|r| minute_iso(*r)).collect::<Vec<_>>(),
            ["2028-01-01T00:00Z"]
        );
        assert!(next_runs("cron(0 0 L * ? *)", 0, from, i64::MAX, 5).is_empty());
        assert!(next_runs("cron(nonsense)", 0, from, i64::MAX, 5).is_empty());
    }

    #[test]
    fn rates_count_from_the_start_and_at_is_once() {
        let start = t("2026-12-01T00:00:00Z");
        let from = t("2026-12-06T01:00:00Z");
        let runs = next_runs("rate(1 day)", start, from, i64::MAX, 2);
        assert_eq!(
            runs.iter().map(|r| minute_iso(*r)).collect::<Vec<_>>(),
            ["2026-12-07T00:00Z", "2026-12-08T00:00Z"]
        );
        let runs = next_runs("rate(2 days)", start, from, t("2026-12-10T00:00:00Z"), 9);
        assert_eq!(runs.len(), 2);
        let runs = next_runs("at(2027-01-01T00:00:00)", 0, from, i64::MAX, 3);
        assert_eq!(runs, vec![t("2027-01-01T00:00:00Z")]);
        // Huge rates neither overflow nor loop.
        assert!(next_runs("rate(9223372036854775807 days)", start, from, i64::MAX, 3).len() <= 1);
        assert!(next_runs("rate(0 days)", start, from, i64::MAX, 3).is_empty());
    }
}

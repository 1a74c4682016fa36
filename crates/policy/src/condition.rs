//! Condition operators (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>)
//! and the set operators `ForAllValues:`/`ForAnyValue:`.
//!
//! Within one condition, several policy values are ORed (NORed for the negated operators);
//! the caller ANDs the keys and operators of a statement. A key missing from the request
//! makes a positive operator false and a negated one true; `...IfExists` makes it true;
//! `ForAllValues:` is true and `ForAnyValue:` false on a missing or empty key.

use std::net::IpAddr;

use crate::context::Context;
use crate::document::Condition;
use crate::wildcard::{self, Tok};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    ForAllValues,
    ForAnyValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASE_OPS: [(&str, BaseOp); 27] = [
    ("StringEquals", BaseOp::StringEquals),
    ("StringNotEquals", BaseOp::StringNotEquals),
    ("StringEqualsIgnoreCase", BaseOp::StringEqualsIgnoreCase),
    (
        "StringNotEqualsIgnoreCase",
        BaseOp::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOp::StringLike),
    ("StringNotLike", BaseOp::StringNotLike),
    ("NumericEquals", BaseOp::NumericEquals),
    ("NumericNotEquals", BaseOp::NumericNotEquals),
    ("NumericLessThan", BaseOp::NumericLessThan),
    ("NumericLessThanEquals", BaseOp::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOp::NumericGreaterThan),
    ("NumericGreaterThanEquals", BaseOp::NumericGreaterThanEquals),
    ("DateEquals", BaseOp::DateEquals),
    ("DateNotEquals", BaseOp::DateNotEquals),
    ("DateLessThan", BaseOp::DateLessThan),
    ("DateLessThanEquals", BaseOp::DateLessThanEquals),
    ("DateGreaterThan", BaseOp::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOp::DateGreaterThanEquals),
    ("Bool", BaseOp::Bool),
    ("BinaryEquals", BaseOp::BinaryEquals),
    ("IpAddress", BaseOp::IpAddress),
    ("NotIpAddress", BaseOp::NotIpAddress),
    ("ArnEquals", BaseOp::ArnEquals),
    ("ArnLike", BaseOp::ArnLike),
    ("ArnNotEquals", BaseOp::ArnNotEquals),
    ("ArnNotLike", BaseOp::ArnNotLike),
    ("Null", BaseOp::Null),
];

/// What the positive form of an operator compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BaseOp {
    pub fn is_date(self) -> bool {
        self.test().is_some_and(|(t, _)| matches!(t, Test::Date(_)))
    }

    /// The comparison and whether the operator negates it; `None` for `Null`.
    fn test(self) -> Option<(Test, bool)> {
        use BaseOp::*;
        Some(match self {
            StringEquals => (Test::Equals, false),
            StringNotEquals => (Test::Equals, true),
            StringEqualsIgnoreCase => (Test::EqualsIgnoreCase, false),
            StringNotEqualsIgnoreCase => (Test::EqualsIgnoreCase, true),
            StringLike => (Test::Like, false),
            StringNotLike => (Test::Like, true),
            NumericEquals => (Test::Num(Cmp::Eq), false),
            NumericNotEquals => (Test::Num(Cmp::Eq), true),
            NumericLessThan => (Test::Num(Cmp::Lt), false),
            NumericLessThanEquals => (Test::Num(Cmp::Le), false),
            NumericGreaterThan => (Test::Num(Cmp::Gt), false),
            NumericGreaterThanEquals => (Test::Num(Cmp::Ge), false),
            DateEquals => (Test::Date(Cmp::Eq), false),
            DateNotEquals => (Test::Date(Cmp::Eq), true),
            DateLessThan => (Test::Date(Cmp::Lt), false),
            DateLessThanEquals => (Test::Date(Cmp::Le), false),
            DateGreaterThan => (Test::Date(Cmp::Gt), false),
            DateGreaterThanEquals => (Test::Date(Cmp::Ge), false),
            Bool => (Test::Bool, false),
            BinaryEquals => (Test::Binary, false),
            IpAddress => (Test::Ip, false),
            NotIpAddress => (Test::Ip, true),
            ArnEquals | ArnLike => (Test::Arn, false),
            ArnNotEquals | ArnNotLike => (Test::Arn, true),
            Null => return None,
        })
    }
}

/// A condition operator: an optional set operator, the base operator, `IfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator {
    pub set: Option<SetOp>,
    pub base: BaseOp,
    pub if_exists: bool,
}

impl Operator {
    /// Parse an operator name as IAM spells it (case-sensitive). `Null` takes no `IfExists`.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOp::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOp::ForAnyValue), r)
        } else {
            (None, name)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let base = BASE_OPS.iter().find(|(n, _)| *n == rest)?.1;
        if if_exists && base == BaseOp::Null {
            return None;
        }
        Some(Operator {
            set,
            base,
            if_exists,
        })
    }
}

/// A policy value ready to compare: as written when it has no variables, else substituted
/// (wildcard tokens for `Like`/`Arn`, text otherwise).
enum Prepared<'a> {
    Raw(&'a str),
    Pattern(Vec<Tok>),
    Text(String),
}

/// Whether the condition holds for the request context. `vars` is the context when the
/// policy substitutes variables (2012-10-17), `None` otherwise.
pub fn evaluate(cond: &Condition, ctx: &Context, vars: Option<&Context>) -> bool {
    let op = cond.operator;
    let present = ctx.get(&cond.key).filter(|v| !v.values.is_empty());
    let Some((test, negated)) = op.base.test() else {
        // Null: "true" means the key is absent, "false" that it is present.
        return cond.values.items.iter().any(|v| {
            if v.eq_ignore_ascii_case("true") {
                present.is_none()
            } else if v.eq_ignore_ascii_case("false") {
                present.is_some()
            } else {
                false
            }
        });
    };
    let Some(value) = present else {
        return match op.set {
            Some(SetOp::ForAllValues) => true,
            Some(SetOp::ForAnyValue) => false,
            None => op.if_exists || negated,
        };
    };
    let wildcards = matches!(test, Test::Like | Test::Arn);
    let prepared: Vec<Prepared> = cond
        .values
        .items
        .iter()
        .filter_map(|v| {
            if vars.is_none() || !v.contains("${") {
                return Some(Prepared::Raw(v));
            }
            let toks = wildcard::compile(v, vars)?;
            Some(if wildcards {
                Prepared::Pattern(toks)
            } else {
                Prepared::Text(wildcard::render(&toks))
            })
        })
        .collect();
    // Whether one request value satisfies the operator (negated: matches no policy value).
    let satisfies = |v: &str| prepared.iter().any(|p| compare(test, v, p)) != negated;
    match op.set {
        Some(SetOp::ForAllValues) => value.values.iter().all(|v| satisfies(v)),
        Some(SetOp::ForAnyValue) => value.values.iter().any(|v| satisfies(v)),
        None if negated => value.values.iter().all(|v| satisfies(v)),
        None => value.values.iter().any(|v| satisfies(v)),
    }
}

fn compare(test: Test, value: &str, policy: &Prepared<'_>) -> bool {
    match (test, policy) {
        (Test::Like, Prepared::Raw(p)) => wildcard::glob(p, value, false),
        (Test::Arn, Prepared::Raw(p)) => wildcard::arn_glob(p, value),
        (Test::Like, Prepared::Pattern(p)) => wildcard::matches(p, value, false),
        (Test::Arn, Prepared::Pattern(p)) => wildcard::arn_matches(p, value),
        (_, Prepared::Pattern(_)) => false,
        (_, Prepared::Raw(p)) => compare_text(test, value, p),
        (_, Prepared::Text(p)) => compare_text(test, value, p),
    }
}

fn compare_text(test: Test, value: &str, p: &str) -> bool {
    match test {
        Test::Equals | Test::Binary => value == p,
        Test::EqualsIgnoreCase => value.to_lowercase() == p.to_lowercase(),
        Test::Bool => {
            let b = |s: &str| {
                if s.eq_ignore_ascii_case("true") {
                    Some(true)
                } else if s.eq_ignore_ascii_case("false") {
                    Some(false)
                } else {
                    None
                }
            };
            matches!((b(value), b(p)), (Some(x), Some(y)) if x == y)
        }
        Test::Num(cmp) => match (parse_number(value), parse_number(p)) {
            (Some(v), Some(p)) => ordered(cmp, v.partial_cmp(&p)),
            _ => false,
        },
        Test::Date(cmp) => match (parse_date(value), parse_date(p)) {
            (Some(v), Some(p)) => ordered(cmp, Some(v.cmp(&p))),
            _ => false,
        },
        Test::Ip => ip_in(value, p),
        // Wildcard operators are compared as patterns (`compare`).
        Test::Like | Test::Arn => false,
    }
}

fn ordered(cmp: Cmp, o: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    matches!(
        (cmp, o),
        (Cmp::Eq, Some(Equal))
            | (Cmp::Lt, Some(Less))
            | (Cmp::Le, Some(Less | Equal))
            | (Cmp::Gt, Some(Greater))
            | (Cmp::Ge, Some(Greater | Equal))
    )
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether `ip` (an address) is in `cidr` (`203.0.113.0/24`, `2001:db8::/32`, or an address).
pub fn ip_in(ip: &str, cidr: &str) -> bool {
    let Ok(addr) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => match b.parse::<u32>() {
            Ok(b) => (n, Some(b)),
            Err(_) => return false,
        },
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    let (a, n, width) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        (IpAddr::V6(a), IpAddr::V4(n)) => match a.to_ipv4_mapped() {
            Some(a) => (u32::from(a) as u128, u32::from(n) as u128, 32),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

/// A date as condition operators read it: ISO 8601 (`2024-01-31`, `2024-01-31T12:00:00Z`,
/// with fractions or a `+hh:mm` offset) or epoch seconds. Milliseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i128>().ok().map(|secs| secs * 1000);
    }
    if s.len() > 64 {
        return None;
    }
    let (date, time) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let year: i64 = num(d.next()?, 4)?;
    let month: i64 = d.next().map_or(Some(1), |m| num(m, 2))?;
    let day: i64 = d.next().map_or(Some(1), |m| num(m, 2))?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) as i128 * 86_400_000;
    if let Some(time) = time {
        let (clock, offset) = split_offset(time)?;
        let mut parts = clock.split(':');
        let h: i64 = num(parts.next()?, 2)?;
        let m: i64 = parts.next().map_or(Some(0), |m| num(m, 2))?;
        let (sec, frac) = match parts.next() {
            Some(sec) => match sec.split_once('.') {
                Some((s, f)) => (num(s, 2)?, fraction_millis(f)?),
                None => (num(sec, 2)?, 0),
            },
            None => (0, 0),
        };
        if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
            return None;
        }
        millis += ((h * 3600 + m * 60 + sec) * 1000 + frac) as i128;
        millis -= offset as i128 * 60_000;
    }
    Some(millis)
}

fn num(s: &str, width: usize) -> Option<i64> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn fraction_millis(f: &str) -> Option<i64> {
    if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{f:0<3}");
    padded[..3].parse().ok()
}

/// Split `12:00:00Z` / `12:00:00+02:00` into the clock and the offset in minutes.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(c) = time.strip_suffix(['Z', 'z']) {
        return Some((c, 0));
    }
    if let Some(i) = time.rfind(['+', '-']) {
        let sign = if &time[i..i + 1] == "-" { -1 } else { 1 };
        let off = &time[i + 1..];
        let (h, m) = match off.split_once(':') {
            Some((h, m)) => (num(h, 2)?, num(m, 2)?),
            None if off.len() == 4 => (num(&off[..2], 2)?, num(&off[2..], 2)?),
            None => (num(off, 2)?, 0),
        };
        return Some((&time[..i], sign * (h * 60 + m)));
    }
    Some((time, 0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_parse() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(op.set, Some(SetOp::ForAnyValue));
        assert_eq!(op.base, BaseOp::StringLike);
        assert!(op.if_exists);
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("StringEqualz").is_none());
        assert_eq!(Operator::parse("Null").unwrap().base, BaseOp::Null);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("86400"), Some(86_400_000));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(1_577_836_800_000));
        assert_eq!(
            parse_date("2020-01-01T02:00:00+02:00"),
            Some(1_577_836_800_000)
        );
        assert_eq!(
            parse_date("2020-01-01T00:00:00.5Z"),
            Some(1_577_836_800_500)
        );
        assert_eq!(parse_date("2020-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn cidrs() {
        assert!(ip_in("203.0.113.7", "203.0.113.0/24"));
        assert!(!ip_in("203.0.114.7", "203.0.113.0/24"));
        assert!(ip_in("10.1.2.3", "0.0.0.0/0"));
        assert!(ip_in("10.1.2.3", "10.1.2.3"));
        assert!(ip_in("2001:db8::1", "2001:DB8::/32"));
        assert!(!ip_in("2001:db9::1", "2001:db8::/32"));
        assert!(!ip_in("10.0.0.1", "2001:db8::/32"));
        assert!(ip_in("::ffff:10.0.0.1", "10.0.0.0/8"));
        assert!(!ip_in("10.0.0.1", "10.0.0.0/33"));
        assert!(!ip_in("nope", "10.0.0.0/8"));
    }
}

//! The matcher family shared by SNS subscription filter policies and EventBridge event
//! patterns (AWS runs both on one engine): the conditions, their matching, and the validation
//! steps whose wording AWS shares between the two. Each service compiles its own JSON into a
//! [`Matcher`] (its own limits, its own message prefix, the operators it accepts) and asks it
//! whether a message or event matches.
//!
//! A matcher is a list of leaves (a key path and its conditions, any of which may match), all of
//! which must match, and `$or` groups, each of which needs one matching branch. The values at a
//! path of a JSON document are every scalar reached through any arrays on the way (arrays of
//! objects included); an object at a leaf path is not a value. A leaf with no values is absent.

use serde_json::Value;

#[cfg(test)]
mod tests;

/// A comparison of a numeric range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    pub fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            "=" => Cmp::Eq,
            ">=" => Cmp::Ge,
            ">" => Cmp::Gt,
            _ => return None,
        })
    }

    fn holds(self, n: f64, x: f64) -> bool {
        match self {
            Cmp::Lt => n < x,
            Cmp::Le => n <= x,
            Cmp::Eq => n == x,
            Cmp::Ge => n >= x,
            Cmp::Gt => n > x,
        }
    }
}

/// A literal of an exact match or an anything-but list.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

impl Lit {
    /// The literal a JSON scalar denotes (`None` for arrays and objects).
    pub fn of(v: &Value) -> Option<Lit> {
        Some(match v {
            Value::String(s) => Lit::Str(s.clone()),
            Value::Number(n) => Lit::Num(n.as_f64()?),
            Value::Bool(b) => Lit::Bool(*b),
            Value::Null => Lit::Null,
            _ => return None,
        })
    }

    fn is(&self, v: &Value) -> bool {
        match (self, v) {
            (Lit::Str(a), Value::String(b)) => a == b,
            (Lit::Num(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Lit::Bool(a), Value::Bool(b)) => a == b,
            (Lit::Null, Value::Null) => true,
            _ => false,
        }
    }
}

/// One condition of a leaf.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Exact(Lit),
    /// `fold`: `{"prefix": {"equals-ignore-case": s}}`.
    Prefix {
        s: String,
        fold: bool,
    },
    Suffix {
        s: String,
        fold: bool,
    },
    EqualsIgnoreCase(String),
    Wildcard(String),
    /// Any value but these; `null_matches`: whether a JSON `null` counts as "anything but" (it
    /// does in event patterns, not in SNS filter policies).
    AnythingBut {
        lits: Vec<Lit>,
        null_matches: bool,
    },
    AnythingButPrefix(Vec<String>),
    AnythingButSuffix(Vec<String>),
    AnythingButIgnoreCase(Vec<String>),
    AnythingButWildcard(Vec<String>),
    /// One comparison, or a lower and an upper bound.
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr {
        v6: bool,
        net: u128,
        bits: u32,
    },
}

impl Cond {
    /// Whether a present value matches (`Exists` is decided by presence alone).
    pub fn matches_value(&self, v: &Value) -> bool {
        let s = v.as_str();
        match self {
            Cond::Exact(l) => l.is(v),
            Cond::Prefix { s: p, fold } => s.is_some_and(|s| {
                if *fold {
                    s.to_lowercase().starts_with(&p.to_lowercase())
                } else {
                    s.starts_with(p.as_str())
                }
            }),
            Cond::Suffix { s: p, fold } => s.is_some_and(|s| {
                if *fold {
                    s.to_lowercase().ends_with(&p.to_lowercase())
                } else {
                    s.ends_with(p.as_str())
                }
            }),
            Cond::EqualsIgnoreCase(p) => s.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
            Cond::Wildcard(p) => s.is_some_and(|s| wildcard(p, s)),
            Cond::AnythingBut { lits, null_matches } => {
                (*null_matches || !v.is_null()) && !lits.iter().any(|l| l.is(v))
            }
            Cond::AnythingButPrefix(ps) => {
                s.is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str())))
            }
            Cond::AnythingButSuffix(ps) => {
                s.is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str())))
            }
            Cond::AnythingButIgnoreCase(ps) => {
                s.is_some_and(|s| !ps.iter().any(|p| p.to_lowercase() == s.to_lowercase()))
            }
            Cond::AnythingButWildcard(ps) => s.is_some_and(|s| !ps.iter().any(|p| wildcard(p, s))),
            Cond::Numeric(ranges) => v
                .as_f64()
                .is_some_and(|n| ranges.iter().all(|(op, x)| op.holds(n, *x))),
            Cond::Exists(_) => true,
            Cond::Cidr { v6, net, bits } => s.and_then(parse_ip).is_some_and(|(is6, a)| {
                is6 == *v6 && mask(a, *bits, if is6 { 128 } else { 32 }) == *net
            }),
        }
    }

    /// Whether a leaf's values match: `None` when the key is absent, else its values.
    pub fn matches(&self, values: Option<&[Value]>) -> bool {
        match self {
            Cond::Exists(want) => values.is_some() == *want,
            c => values.is_some_and(|vs| vs.iter().any(|v| c.matches_value(v))),
        }
    }
}

/// A compiled filter policy or event pattern.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Matcher {
    /// Every leaf must match: (key path, conditions any of which may match).
    pub leaves: Vec<(Vec<String>, Vec<Cond>)>,
    /// Each group needs one matching branch.
    pub ors: Vec<Vec<Matcher>>,
}

impl Matcher {
    /// Whether a JSON document matches (arrays flattened on the way to each leaf).
    pub fn matches_json(&self, doc: &Value) -> bool {
        self.matches_with(&|path: &[String]| {
            let mut out = Vec::new();
            values_at(doc, path, &mut out);
            (!out.is_empty()).then(|| out.into_iter().cloned().collect())
        })
    }

    /// Whether the values `lookup(path)` gives match (`None`: the key is absent).
    pub fn matches_with(&self, lookup: &dyn Fn(&[String]) -> Option<Vec<Value>>) -> bool {
        self.leaves.iter().all(|(path, conds)| {
            let values = lookup(path);
            conds.iter().any(|c| c.matches(values.as_deref()))
        }) && self
            .ors
            .iter()
            .all(|group| group.iter().any(|b| b.matches_with(lookup)))
    }
}

/// The scalar values at `path` of a JSON document, through any arrays on the way.
pub fn values_at<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for x in items {
                values_at(x, path, out);
            }
        }
        Value::Object(m) => {
            if let Some((first, rest)) = path.split_first()
                && let Some(x) = m.get(first)
            {
                values_at(x, rest, out);
            }
        }
        scalar => {
            if path.is_empty() {
                out.push(scalar);
            }
        }
    }
}

/// Compile `{"numeric": arg}`; the error is AWS's reason (the same words for SNS and
/// EventBridge), without the service's prefix.
pub fn compile_numeric(arg: &Value) -> Result<Cond, String> {
    let Value::Array(a) = arg else {
        return Err("Value of numeric must be an array.".into());
    };
    let Some(first) = a.first() else {
        return Err("Invalid member in numeric match: ]".into());
    };
    let Some(op) = first.as_str() else {
        return Err(format!("Invalid member in numeric match: {first}"));
    };
    let op1 = Cmp::parse(op).ok_or_else(|| format!("Unrecognized numeric range operator: {op}"))?;
    let name = |op: &str| {
        if op == "=" {
            "equals".to_string()
        } else {
            op.to_string()
        }
    };
    let n1 = a
        .get(1)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("Value of {} must be numeric", name(op)))?;
    if a.len() == 2 {
        return Ok(Cond::Numeric(vec![(op1, n1)]));
    }
    if !matches!(op1, Cmp::Gt | Cmp::Ge) {
        return Err("Too many elements in numeric expression".into());
    }
    let second = &a[2];
    let Some(op2s) = second.as_str() else {
        return Err(format!("Bad value in numeric range: {second}"));
    };
    let op2 = match Cmp::parse(op2s) {
        Some(c @ (Cmp::Lt | Cmp::Le)) => c,
        _ => return Err(format!("Bad numeric range operator: {op2s}")),
    };
    let n2 = a
        .get(3)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("Value of {} must be numeric", name(op2s)))?;
    if n2 <= n1 {
        return Err("Bottom must be less than top".into());
    }
    if a.len() > 4 {
        return Err("Too many terms in numeric range expression".into());
    }
    Ok(Cond::Numeric(vec![(op1, n1), (op2, n2)]))
}

/// Compile `{"cidr": arg}`; the error is AWS's reason without the service's prefix.
pub fn compile_cidr(arg: &Value) -> Result<Cond, String> {
    let Value::String(s) = arg else {
        // AWS names the prefix operator here.
        return Err("prefix match pattern must be a string".into());
    };
    let Some((ip, bits)) = s.split_once('/') else {
        return Err("Malformed CIDR, one '/' required".into());
    };
    let bits: u32 = bits
        .parse()
        .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
    let (v6, addr) = parse_ip(ip).ok_or_else(|| format!("Nonstandard IP address: {ip}"))?;
    let width = if v6 { 128 } else { 32 };
    if bits > width {
        return Err(format!(
            "Malformed CIDR, mask bits must be an integer between 0 and {width}"
        ));
    }
    Ok(Cond::Cidr {
        v6,
        net: mask(addr, bits, width),
        bits,
    })
}

/// Most wildcard characters one wildcard pattern may have.
pub const MAX_WILDCARDS: usize = 5;

/// Check a wildcard pattern; the error is AWS's reason without the service's prefix.
pub fn check_wildcard(s: &str) -> Result<(), String> {
    if let Some(i) = s.find("**") {
        return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
    }
    if s.matches('*').count() > MAX_WILDCARDS {
        return Err("Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character".into());
    }
    Ok(())
}

/// An IP address as (is v6, value as u128; v4 in the low 32 bits).
pub fn parse_ip(s: &str) -> Option<(bool, u128)> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some((false, u32::from(a) as u128));
    }
    s.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|a| (true, u128::from(a)))
}

/// The network part of `addr`: its first `bits` of `width`.
pub fn mask(addr: u128, bits: u32, width: u32) -> u128 {
    if bits == 0 {
        return 0;
    }
    let keep = width - bits.min(width);
    (addr >> keep) << keep
}

/// Glob matching with `*` (any run, possibly empty) and `\*`/`\\` escapes; one backtrack point,
/// so linear-ish and without recursion.
pub fn wildcard(pattern: &str, s: &str) -> bool {
    // Tokens: Some(c) a literal, None a star.
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push(Some(it.next().unwrap_or('\\'))),
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(p) {
            Some(Some(c)) if *c == s[i] => {
                p += 1;
                i += 1;
            }
            Some(None) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p.min(toks.len())..].iter().all(Option::is_none)
}

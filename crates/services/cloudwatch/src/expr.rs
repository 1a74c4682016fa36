//! Metric math for GetMetricData: numbers, the ids of other queries, `+ - * / ^`, comparisons
//! (`> < >= <= == !=`, giving 1 or 0), `AND`/`OR`, parentheses, arrays `[m1, m2]`, and the
//! functions `SUM`, `AVG`, `MIN`, `MAX`, `ABS`, `FILL(m, value|REPEAT|LINEAR)`, `RATE`, `DIFF`,
//! `IF(cond, a[, b])` and `METRICS([substring])`. Parsing is bounded (nesting at most
//! [`MAX_DEPTH`]); evaluation is linear in the datapoints.

use std::collections::{BTreeMap, BTreeSet};

/// A time series: timestamp (ms) to value.
pub type Series = BTreeMap<u64, f64>;

pub const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Ast {
    Num(f64),
    Id(String),
    Word(String),
    Array(Vec<Ast>),
    Bin(char, Box<Ast>, Box<Ast>),
    Neg(Box<Ast>),
    Call(String, Vec<Ast>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Scalar(f64),
    One(Series),
    Many(Vec<(String, Series)>),
}

/// What an expression may refer to: the other queries' results by id, and the grid of
/// timestamps of the request (for FILL and scalar results).
pub struct Env<'a> {
    pub series: &'a BTreeMap<String, Series>,
    pub grid: &'a [u64],
}

fn err<T>(m: impl Into<String>) -> Result<T, String> {
    Err(m.into())
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
    Open,
    Close,
    LBr,
    RBr,
    Comma,
    Str(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < c.len()
                && (c[i].is_ascii_digit() || c[i] == '.' || c[i] == 'e' || c[i] == 'E')
            {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            out.push(Tok::Num(
                t.parse().map_err(|_| format!("Invalid number {t}"))?,
            ));
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let op2 = match two.as_str() {
            ">=" => Some('g'),
            "<=" => Some('l'),
            "==" => Some('='),
            "!=" => Some('!'),
            _ => None,
        };
        if let Some(o) = op2 {
            out.push(Tok::Op(o));
            i += 2;
            continue;
        }
        match ch {
            '+' | '-' | '*' | '/' | '^' | '>' | '<' => out.push(Tok::Op(ch)),
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            '[' => out.push(Tok::LBr),
            ']' => out.push(Tok::RBr),
            ',' => out.push(Tok::Comma),
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                while i < c.len() && c[i] != ch {
                    v.push(c[i]);
                    i += 1;
                }
                if i >= c.len() {
                    return err("Unterminated string in the expression");
                }
                out.push(Tok::Str(v));
            }
            _ => return err(format!("Unexpected character '{ch}' in the expression")),
        }
        i += 1;
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

fn prec(op: char) -> u8 {
    match op {
        '|' => 1,
        '&' => 2,
        '>' | '<' | 'g' | 'l' | '=' | '!' => 3,
        '+' | '-' => 4,
        '*' | '/' => 5,
        '^' => 6,
        _ => 0,
    }
}

impl P {
    fn op(&self) -> Option<char> {
        match self.t.get(self.i) {
            Some(Tok::Op(o)) => Some(*o),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("AND") => Some('&'),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("OR") => Some('|'),
            _ => None,
        }
    }

    fn expr(&mut self, min: u8, depth: usize) -> Result<Ast, String> {
        if depth > MAX_DEPTH {
            return err("The expression is nested too deeply");
        }
        let mut l = self.atom(depth)?;
        while let Some(o) = self.op() {
            let p = prec(o);
            if p < min {
                break;
            }
            self.i += 1;
            let next = if o == '^' { p } else { p + 1 };
            let r = self.expr(next, depth + 1)?;
            l = Ast::Bin(o, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn list(&mut self, close: Tok, depth: usize) -> Result<Vec<Ast>, String> {
        let mut items = Vec::new();
        if self.t.get(self.i) == Some(&close) {
            self.i += 1;
            return Ok(items);
        }
        loop {
            items.push(self.expr(1, depth + 1)?);
            match self.t.get(self.i) {
                Some(Tok::Comma) => self.i += 1,
                Some(t) if *t == close => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => return err("Expected ',' or a closing bracket in the expression"),
            }
        }
    }

    fn atom(&mut self, depth: usize) -> Result<Ast, String> {
        if depth > MAX_DEPTH {
            return err("The expression is nested too deeply");
        }
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(Tok::Num(n)) => Ok(Ast::Num(n)),
            Some(Tok::Str(s)) => Ok(Ast::Word(s)),
            Some(Tok::Op('-')) => Ok(Ast::Neg(Box::new(self.atom(depth + 1)?))),
            Some(Tok::Open) => {
                let e = self.expr(1, depth + 1)?;
                if self.t.get(self.i) != Some(&Tok::Close) {
                    return err("Missing ')' in the expression");
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::LBr) => Ok(Ast::Array(self.list(Tok::RBr, depth)?)),
            Some(Tok::Ident(w)) => {
                if self.t.get(self.i) == Some(&Tok::Open) {
                    self.i += 1;
                    let args = self.list(Tok::Close, depth)?;
                    return Ok(Ast::Call(w.to_ascii_uppercase(), args));
                }
                match w.as_str() {
                    "REPEAT" | "LINEAR" => Ok(Ast::Word(w)),
                    _ => Ok(Ast::Id(w)),
                }
            }
            _ => err("Unexpected end of the expression"),
        }
    }
}

pub fn parse(s: &str) -> Result<Ast, String> {
    if s.len() > 2048 {
        return err("The expression is too long");
    }
    let mut p = P { t: lex(s)?, i: 0 };
    let e = p.expr(1, 0)?;
    if p.i != p.t.len() {
        return err("Unexpected input after the expression");
    }
    Ok(e)
}

/// The ids an expression refers to.
pub fn ids(a: &Ast, out: &mut BTreeSet<String>) {
    match a {
        Ast::Id(i) => {
            out.insert(i.clone());
        }
        Ast::Array(v) | Ast::Call(_, v) => v.iter().for_each(|x| ids(x, out)),
        Ast::Bin(_, l, r) => {
            ids(l, out);
            ids(r, out);
        }
        Ast::Neg(x) => ids(x, out),
        Ast::Num(_) | Ast::Word(_) => {}
    }
}

fn apply(op: char, a: f64, b: f64) -> f64 {
    let t = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        '/' => a / b,
        '^' => a.powf(b),
        '>' => t(a > b),
        '<' => t(a < b),
        'g' => t(a >= b),
        'l' => t(a <= b),
        '=' => t(a == b),
        '!' => t(a != b),
        '&' => t(a != 0.0 && b != 0.0),
        '|' => t(a != 0.0 || b != 0.0),
        _ => f64::NAN,
    }
}

fn bin(op: char, l: Val, r: Val) -> Result<Val, String> {
    let map = |s: Series, f: &dyn Fn(f64) -> f64| -> Series {
        s.into_iter().map(|(t, v)| (t, f(v))).collect()
    };
    Ok(match (l, r) {
        (Val::Scalar(a), Val::Scalar(b)) => Val::Scalar(apply(op, a, b)),
        (Val::One(s), Val::Scalar(b)) => Val::One(map(s, &|a| apply(op, a, b))),
        (Val::Scalar(a), Val::One(s)) => Val::One(map(s, &|b| apply(op, a, b))),
        (Val::One(a), Val::One(b)) => Val::One(
            a.iter()
                .filter_map(|(t, x)| Some((*t, apply(op, *x, *b.get(t)?))))
                .collect(),
        ),
        (Val::Many(m), other) => Val::Many(
            m.into_iter()
                .map(|(id, s)| Ok((id, as_one(bin(op, Val::One(s), other.clone())?)?)))
                .collect::<Result<_, String>>()?,
        ),
        (other, Val::Many(m)) => Val::Many(
            m.into_iter()
                .map(|(id, s)| Ok((id, as_one(bin(op, other.clone(), Val::One(s))?)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

fn as_one(v: Val) -> Result<Series, String> {
    match v {
        Val::One(s) => Ok(s),
        _ => err("Expected a single time series"),
    }
}

fn reduce(name: &str, xs: &[f64]) -> f64 {
    match name {
        "SUM" => xs.iter().sum(),
        "AVG" => xs.iter().sum::<f64>() / xs.len() as f64,
        "MIN" => xs.iter().copied().fold(f64::INFINITY, f64::min),
        _ => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

pub fn eval(a: &Ast, env: &Env<'_>, depth: usize) -> Result<Val, String> {
    if depth > MAX_DEPTH {
        return err("The expression is nested too deeply");
    }
    let ev = |x: &Ast| eval(x, env, depth + 1);
    match a {
        Ast::Num(n) => Ok(Val::Scalar(*n)),
        Ast::Word(w) => err(format!("Unexpected '{w}' in the expression")),
        Ast::Id(id) => env
            .series
            .get(id)
            .cloned()
            .map(Val::One)
            .ok_or_else(|| format!("Unknown id {id} in the expression")),
        Ast::Neg(x) => bin('*', Val::Scalar(-1.0), ev(x)?),
        Ast::Bin(op, l, r) => bin(*op, ev(l)?, ev(r)?),
        Ast::Array(items) => {
            let mut out = Vec::new();
            for (i, x) in items.iter().enumerate() {
                let id = match x {
                    Ast::Id(s) => s.clone(),
                    _ => format!("e{i}"),
                };
                match ev(x)? {
                    Val::One(s) => out.push((id, s)),
                    Val::Many(m) => out.extend(m),
                    Val::Scalar(_) => return err("An array holds time series"),
                }
            }
            Ok(Val::Many(out))
        }
        Ast::Call(f, args) => {
            let arg = |i: usize| -> Result<Val, String> {
                ev(args
                    .get(i)
                    .ok_or_else(|| format!("{f} needs more arguments"))?)
            };
            match f.as_str() {
                "SUM" | "AVG" | "MIN" | "MAX" => match arg(0)? {
                    Val::Scalar(x) => Ok(Val::Scalar(x)),
                    Val::One(s) => {
                        let xs: Vec<f64> = s.values().copied().collect();
                        Ok(Val::Scalar(if xs.is_empty() {
                            f64::NAN
                        } else {
                            reduce(f, &xs)
                        }))
                    }
                    Val::Many(m) => {
                        let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                        for (_, s) in &m {
                            for (t, v) in s {
                                at.entry(*t).or_default().push(*v);
                            }
                        }
                        Ok(Val::One(
                            at.into_iter().map(|(t, xs)| (t, reduce(f, &xs))).collect(),
                        ))
                    }
                },
                "ABS" => bin('*', arg(0)?, Val::Scalar(1.0)).map(|v| match v {
                    Val::Scalar(x) => Val::Scalar(x.abs()),
                    Val::One(s) => Val::One(s.into_iter().map(|(t, x)| (t, x.abs())).collect()),
                    Val::Many(m) => Val::Many(
                        m.into_iter()
                            .map(|(i, s)| (i, s.into_iter().map(|(t, x)| (t, x.abs())).collect()))
                            .collect(),
                    ),
                }),
                "RATE" | "DIFF" => {
                    let s = as_one(arg(0)?)?;
                    let mut out = Series::new();
                    let mut prev: Option<(u64, f64)> = None;
                    for (t, v) in s {
                        if let Some((pt, pv)) = prev {
                            let d = v - pv;
                            out.insert(
                                t,
                                if f == "RATE" {
                                    d / ((t - pt) as f64 / 1000.0)
                                } else {
                                    d
                                },
                            );
                        }
                        prev = Some((t, v));
                    }
                    Ok(Val::One(out))
                }
                "FILL" => {
                    let fill_one = |s: Series| -> Result<Series, String> {
                        let how = args.get(1).ok_or("FILL needs a fill value")?;
                        let mut out = Series::new();
                        let known: Vec<(u64, f64)> = s.iter().map(|(t, v)| (*t, *v)).collect();
                        for &t in env.grid {
                            if let Some(v) = s.get(&t) {
                                out.insert(t, *v);
                                continue;
                            }
                            let before = known.iter().rev().find(|(k, _)| *k < t);
                            let after = known.iter().find(|(k, _)| *k > t);
                            let v = match how {
                                Ast::Word(w) if w == "REPEAT" => before.or(after).map(|x| x.1),
                                Ast::Word(w) if w == "LINEAR" => match (before, after) {
                                    (Some(a), Some(b)) => Some(
                                        a.1 + (b.1 - a.1) * (t - a.0) as f64 / (b.0 - a.0) as f64,
                                    ),
                                    _ => None,
                                },
                                x => match eval(x, env, depth + 1)? {
                                    Val::Scalar(c) => Some(c),
                                    _ => {
                                        return err(
                                            "FILL's value must be a number, REPEAT or LINEAR",
                                        );
                                    }
                                },
                            };
                            if let Some(v) = v {
                                out.insert(t, v);
                            }
                        }
                        Ok(out)
                    };
                    match arg(0)? {
                        Val::One(s) => Ok(Val::One(fill_one(s)?)),
                        Val::Many(m) => Ok(Val::Many(
                            m.into_iter()
                                .map(|(i, s)| Ok((i, fill_one(s)?)))
                                .collect::<Result<_, String>>()?,
                        )),
                        Val::Scalar(_) => err("FILL needs a time series"),
                    }
                }
                "IF" => {
                    let c = as_one(arg(0)?)?;
                    let a = arg(1)?;
                    let b = if args.len() > 2 { Some(arg(2)?) } else { None };
                    let pick = |v: &Option<Val>, t: u64| -> Option<f64> {
                        match v {
                            Some(Val::Scalar(x)) => Some(*x),
                            Some(Val::One(s)) => s.get(&t).copied(),
                            _ => None,
                        }
                    };
                    let a = Some(a);
                    Ok(Val::One(
                        c.iter()
                            .filter_map(|(t, x)| {
                                let v = if *x != 0.0 {
                                    pick(&a, *t)
                                } else {
                                    pick(&b, *t)
                                };
                                Some((*t, v?))
                            })
                            .collect(),
                    ))
                }
                "METRICS" => {
                    let filter = match args.first() {
                        Some(Ast::Word(w)) => Some(w.clone()),
                        None => None,
                        _ => return err("METRICS takes a string"),
                    };
                    Ok(Val::Many(
                        env.series
                            .iter()
                            .filter(|(id, _)| filter.as_deref().is_none_or(|f| id.contains(f)))
                            .map(|(i, s)| (i.clone(), s.clone()))
                            .collect(),
                    ))
                }
                _ => err(format!("Unsupported function {f} in the expression")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(pts: &[(u64, f64)]) -> Series {
        pts.iter().copied().collect()
    }

    #[test]
    fn arithmetic_and_functions() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), s(&[(0, 1.0), (60_000, 2.0)]));
        m.insert(
            "b".to_string(),
            s(&[(0, 10.0), (60_000, 20.0), (120_000, 30.0)]),
        );
        let grid = [0, 60_000, 120_000];
        let env = Env {
            series: &m,
            grid: &grid,
        };
        let e = |x: &str| eval(&parse(x).unwrap(), &env, 0).unwrap();
        assert_eq!(e("a + b * 2"), Val::One(s(&[(0, 21.0), (60_000, 42.0)])));
        assert_eq!(
            e("SUM([a, b])"),
            Val::One(s(&[(0, 11.0), (60_000, 22.0), (120_000, 30.0)]))
        );
        assert_eq!(e("AVG(b)"), Val::Scalar(20.0));
        assert_eq!(
            e("FILL(a, 0)"),
            Val::One(s(&[(0, 1.0), (60_000, 2.0), (120_000, 0.0)]))
        );
        assert_eq!(
            e("FILL(a, REPEAT)"),
            Val::One(s(&[(0, 1.0), (60_000, 2.0), (120_000, 2.0)]))
        );
        assert_eq!(
            e("DIFF(b)"),
            Val::One(s(&[(60_000, 10.0), (120_000, 10.0)]))
        );
        assert_eq!(
            e("RATE(b)"),
            Val::One(s(&[(60_000, 10.0 / 60.0), (120_000, 10.0 / 60.0)]))
        );
        assert_eq!(
            e("IF(b > 15, 1, 0)"),
            Val::One(s(&[(0, 0.0), (60_000, 1.0), (120_000, 1.0)]))
        );
        assert_eq!(e("-(2 ^ 3)"), Val::Scalar(-8.0));
        assert!(parse("a +").is_err());
        assert!(parse(&"(".repeat(100)).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(x in ".{0,60}") {
            if let Ok(a) = parse(&x) {
                let m = BTreeMap::new();
                let _ = eval(&a, &Env { series: &m, grid: &[0, 60] }, 0);
            }
        }
    }
}

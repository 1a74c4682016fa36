//! Evaluating a parsed S3 Select query over records: paths into CSV rows (by header name or
//! `_N` position) and JSON values, SQL's three-valued logic, arithmetic with overflow checks,
//! LIKE, IN, BETWEEN, CAST, the string functions and the aggregates. Recursion follows the
//! expression tree, whose depth the parser bounds.

use std::cmp::Ordering;

use super::SelectError;
use super::sql::{AggFunc, Aggregate, BinOp, CastType, Expr, Func, Step, TrimSpec};
use super::value::{Num, Timestamp, Value, compare};

/// One input record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A CSV row's fields.
    Csv(Vec<String>),
    /// A JSON value (after the FROM clause's path).
    Json(Value),
}

/// What paths are resolved against besides the record.
pub struct Scope<'a> {
    /// The CSV header, when FileHeaderInfo is USE.
    pub header: Option<&'a [String]>,
    /// The table alias of the FROM clause.
    pub alias: Option<&'a str>,
    /// The aggregates' results (once every record is seen).
    pub aggregates: &'a [Value],
}

fn name_matches(candidate: &str, name: &str, quoted: bool) -> bool {
    if quoted {
        candidate == name
    } else {
        candidate.eq_ignore_ascii_case(name)
    }
}

fn positional(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok().filter(|n| *n >= 1)
}

/// One step into a JSON value.
fn step_into(v: &Value, step: &Step) -> Value {
    match (v, step) {
        (Value::Struct(fields), Step::Field { name, quoted }) => fields
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                (!quoted)
                    .then(|| fields.iter().find(|(k, _)| name_matches(k, name, false)))
                    .flatten()
            })
            .map_or(Value::Missing, |(_, v)| v.clone()),
        (Value::List(items), Step::Index(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| items.get(i))
            .cloned()
            .unwrap_or(Value::Missing),
        _ => Value::Missing,
    }
}

fn cast_failed() -> SelectError {
    SelectError::new(
        "CastFailed",
        "Attempt to convert from one data type to another using CAST failed in the SQL expression.",
    )
}

fn overflow() -> SelectError {
    SelectError::new(
        "IntegerOverflow",
        "An integer overflow or underflow occurred in the SQL expression.",
    )
}

fn wrong_type() -> SelectError {
    SelectError::new(
        "IncorrectSqlFunctionArgumentType",
        "An incorrect argument type was specified in a function call in the SQL expression.",
    )
}

impl Scope<'_> {
    /// A path's value in a record.
    pub fn resolve(&self, steps: &[Step], rec: &Record) -> Value {
        let mut steps = steps;
        if let (Some(alias), Some(Step::Field { name, quoted })) = (self.alias, steps.first())
            && name_matches(alias, name, *quoted)
        {
            steps = &steps[1..];
            if steps.is_empty() {
                return self.whole(rec);
            }
        }
        let Some((first, rest)) = steps.split_first() else {
            return self.whole(rec);
        };
        let mut v = match rec {
            Record::Csv(fields) => {
                let index = match first {
                    Step::Field { name, quoted } => self
                        .header
                        .and_then(|h| h.iter().position(|c| name_matches(c, name, *quoted)))
                        .or_else(|| positional(name).map(|n| n - 1)),
                    Step::Index(i) => usize::try_from(*i).ok(),
                    Step::Wildcard => None,
                };
                match index.and_then(|i| fields.get(i)) {
                    Some(f) => Value::Str(f.clone()),
                    None => Value::Missing,
                }
            }
            Record::Json(v) => step_into(v, first),
        };
        for step in rest {
            v = step_into(&v, step);
        }
        v
    }

    /// The record as one value (`SELECT s FROM S3Object s`).
    fn whole(&self, rec: &Record) -> Value {
        match rec {
            Record::Json(v) => v.clone(),
            Record::Csv(fields) => Value::Struct(self.columns(fields)),
        }
    }

    /// A CSV row's columns, named by the header (USE) or by position.
    pub fn columns(&self, fields: &[String]) -> Vec<(String, Value)> {
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = self
                    .header
                    .and_then(|h| h.get(i).cloned())
                    .unwrap_or_else(|| format!("_{}", i + 1));
                (name, Value::Str(f.clone()))
            })
            .collect()
    }

    pub fn eval(&self, e: &Expr, rec: &Record) -> Result<Value, SelectError> {
        Ok(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Path(steps) => self.resolve(steps, rec),
            Expr::Agg(i) => self.aggregates.get(*i).cloned().unwrap_or(Value::Null),
            Expr::Neg(a) => match self.eval(a, rec)? {
                v if v.is_absent() => v,
                v => match v.num() {
                    Some(Num::Int(n)) => Value::Int(n.checked_neg().ok_or_else(overflow)?),
                    Some(Num::Float(f)) => Value::Float(-f),
                    None => Value::Null,
                },
            },
            Expr::Not(a) => match self.eval(a, rec)?.truth() {
                Some(b) => Value::Bool(!b),
                None => Value::Null,
            },
            Expr::Binary(op, a, b) => self.binary(*op, a, b, rec)?,
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                let v = self.eval(expr, rec)?;
                let p = self.eval(pattern, rec)?;
                let esc = match escape {
                    Some(e) => match self.eval(e, rec)? {
                        Value::Str(s) if s.chars().count() == 1 => s.chars().next(),
                        v if v.is_absent() => return Ok(Value::Null),
                        _ => return Err(like_invalid()),
                    },
                    None => None,
                };
                if v.is_absent() || p.is_absent() {
                    Value::Null
                } else {
                    let m = like(&v.to_text(), &p.to_text(), esc)?;
                    Value::Bool(m != *negated)
                }
            }
            Expr::In {
                expr,
                list,
                negated,
            } => {
                let v = self.eval(expr, rec)?;
                if v.is_absent() {
                    return Ok(Value::Null);
                }
                let mut unknown = false;
                let mut found = false;
                for item in list {
                    match compare(&v, &self.eval(item, rec)?) {
                        Some(Ordering::Equal) => {
                            found = true;
                            break;
                        }
                        None => unknown = true,
                        Some(_) => {}
                    }
                }
                if found {
                    Value::Bool(!negated)
                } else if unknown {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = self.eval(expr, rec)?;
                let lo = compare(&v, &self.eval(low, rec)?);
                let hi = compare(&v, &self.eval(high, rec)?);
                match (lo, hi) {
                    (Some(l), Some(h)) => {
                        Value::Bool((l != Ordering::Less && h != Ordering::Greater) != *negated)
                    }
                    _ => Value::Null,
                }
            }
            Expr::Is {
                expr,
                missing,
                negated,
            } => {
                let v = self.eval(expr, rec)?;
                let is = if *missing {
                    v == Value::Missing
                } else {
                    v.is_absent()
                };
                Value::Bool(is != *negated)
            }
            Expr::Cast(a, ty) => cast(self.eval(a, rec)?, *ty)?,
            Expr::Call(func, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a, rec)?);
                }
                call(*func, vals)?
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let subject = match operand {
                    Some(o) => Some(self.eval(o, rec)?),
                    None => None,
                };
                for (when, then) in whens {
                    let w = self.eval(when, rec)?;
                    let hit = match &subject {
                        Some(s) => compare(s, &w) == Some(Ordering::Equal),
                        None => w.truth() == Some(true),
                    };
                    if hit {
                        return self.eval(then, rec);
                    }
                }
                match otherwise {
                    Some(o) => self.eval(o, rec)?,
                    None => Value::Null,
                }
            }
        })
    }

    fn binary(&self, op: BinOp, a: &Expr, b: &Expr, rec: &Record) -> Result<Value, SelectError> {
        match op {
            BinOp::And => {
                let x = self.eval(a, rec)?.truth();
                if x == Some(false) {
                    return Ok(Value::Bool(false));
                }
                let y = self.eval(b, rec)?.truth();
                return Ok(match (x, y) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                });
            }
            BinOp::Or => {
                let x = self.eval(a, rec)?.truth();
                if x == Some(true) {
                    return Ok(Value::Bool(true));
                }
                let y = self.eval(b, rec)?.truth();
                return Ok(match (x, y) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                });
            }
            _ => {}
        }
        let x = self.eval(a, rec)?;
        let y = self.eval(b, rec)?;
        let ord = || compare(&x, &y);
        let cmp = |f: fn(Ordering) -> bool| ord().map_or(Value::Null, |o| Value::Bool(f(o)));
        Ok(match op {
            BinOp::Eq => {
                if x.is_absent() || y.is_absent() {
                    Value::Null
                } else {
                    Value::Bool(ord() == Some(Ordering::Equal))
                }
            }
            BinOp::Ne => {
                if x.is_absent() || y.is_absent() {
                    Value::Null
                } else {
                    Value::Bool(ord() != Some(Ordering::Equal))
                }
            }
            BinOp::Lt => cmp(|o| o == Ordering::Less),
            BinOp::Le => cmp(|o| o != Ordering::Greater),
            BinOp::Gt => cmp(|o| o == Ordering::Greater),
            BinOp::Ge => cmp(|o| o != Ordering::Less),
            BinOp::Concat => {
                if x.is_absent() || y.is_absent() {
                    Value::Null
                } else {
                    let joined = x.to_text() + &y.to_text();
                    if joined.len() > super::input::MAX_RECORD {
                        return Err(super::input::over_max_record());
                    }
                    Value::Str(joined)
                }
            }
            _ => arithmetic(op, &x, &y)?,
        })
    }
}

fn arithmetic(op: BinOp, x: &Value, y: &Value) -> Result<Value, SelectError> {
    if x.is_absent() || y.is_absent() {
        return Ok(Value::Null);
    }
    let (Some(a), Some(b)) = (x.num(), y.num()) else {
        return Ok(Value::Null);
    };
    let div_zero = || {
        SelectError::new(
            "ExternalEvalException",
            "The query cannot be evaluated. Check the file and try again.",
        )
    };
    Ok(match (a, b) {
        (Num::Int(a), Num::Int(b)) => Value::Int(match op {
            BinOp::Add => a.checked_add(b).ok_or_else(overflow)?,
            BinOp::Sub => a.checked_sub(b).ok_or_else(overflow)?,
            BinOp::Mul => a.checked_mul(b).ok_or_else(overflow)?,
            BinOp::Div if b == 0 => return Err(div_zero()),
            BinOp::Div => a.checked_div(b).ok_or_else(overflow)?,
            BinOp::Mod if b == 0 => return Err(div_zero()),
            BinOp::Mod => a.checked_rem(b).ok_or_else(overflow)?,
            _ => return Ok(Value::Null),
        }),
        (a, b) => {
            let (a, b) = (a.as_f64(), b.as_f64());
            Value::Float(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div if b == 0.0 => return Err(div_zero()),
                BinOp::Div => a / b,
                BinOp::Mod if b == 0.0 => return Err(div_zero()),
                BinOp::Mod => a % b,
                _ => return Ok(Value::Null),
            })
        }
    })
}

fn like_invalid() -> SelectError {
    SelectError::new(
        "LikeInvalidInputs",
        "The argument given to the LIKE clause in the SQL expression is not valid.",
    )
}

#[derive(Clone, Copy, PartialEq)]
enum LikeTok {
    Char(char),
    One,
    Any,
}

/// SQL LIKE: `%` any run, `_` one character, `escape` making the next one literal. Iterative,
/// backtracking only to the last `%` (time bounded by the lengths' product).
pub fn like(text: &str, pattern: &str, escape: Option<char>) -> Result<bool, SelectError> {
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => toks.push(LikeTok::Char(n)),
                None => {
                    return Err(SelectError::new(
                        "EvaluatorLikePatternInvalidEscapeSequence",
                        "An argument given to the LIKE expression was not valid.",
                    ));
                }
            }
        } else if c == '%' {
            if toks.last() != Some(&LikeTok::Any) {
                toks.push(LikeTok::Any);
            }
        } else if c == '_' {
            toks.push(LikeTok::One);
        } else {
            toks.push(LikeTok::Char(c));
        }
    }
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(LikeTok::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(LikeTok::One) => {
                t += 1;
                p += 1;
            }
            Some(LikeTok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return Ok(false),
            },
        }
    }
    Ok(toks[p..].iter().all(|t| *t == LikeTok::Any))
}

pub fn cast(v: Value, ty: CastType) -> Result<Value, SelectError> {
    if v.is_absent() {
        return Ok(v);
    }
    Ok(match ty {
        CastType::Int => match v {
            Value::Int(n) => Value::Int(n),
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Float(f) => float_to_int(f)?,
            Value::Str(s) => match super::value::parse_num(&s) {
                Some(Num::Int(n)) => Value::Int(n),
                Some(Num::Float(f)) => float_to_int(f)?,
                None => return Err(cast_failed()),
            },
            _ => return Err(cast_failed()),
        },
        CastType::Float | CastType::Decimal => match v {
            Value::Int(n) => Value::Float(n as f64),
            Value::Float(f) => Value::Float(f),
            Value::Bool(b) => Value::Float(if b { 1.0 } else { 0.0 }),
            Value::Str(s) => match super::value::parse_num(&s) {
                Some(n) => Value::Float(n.as_f64()),
                None => return Err(cast_failed()),
            },
            _ => return Err(cast_failed()),
        },
        CastType::String => Value::Str(v.to_text()),
        CastType::Bool => match v {
            Value::Bool(b) => Value::Bool(b),
            Value::Int(n) => Value::Bool(n != 0),
            Value::Float(f) => Value::Bool(f != 0.0),
            Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(cast_failed()),
            },
            _ => return Err(cast_failed()),
        },
        CastType::Timestamp => Value::Timestamp(timestamp_arg(&v)?.ok_or_else(cast_failed)?),
    })
}

/// A timestamp argument: a timestamp, or a string that reads as one (`None`: NULL or
/// MISSING).
fn timestamp_arg(v: &Value) -> Result<Option<Timestamp>, SelectError> {
    match v {
        v if v.is_absent() => Ok(None),
        Value::Timestamp(t) => Ok(Some(*t)),
        Value::Str(s) => super::time::parse(s).map(Some).ok_or_else(cast_failed),
        _ => Err(wrong_type()),
    }
}

fn float_to_int(f: f64) -> Result<Value, SelectError> {
    let t = f.trunc();
    if !t.is_finite() || t < i64::MIN as f64 || t >= i64::MAX as f64 {
        return Err(cast_failed());
    }
    Ok(Value::Int(t as i64))
}

fn text_arg(v: &Value) -> Result<Option<String>, SelectError> {
    match v {
        v if v.is_absent() => Ok(None),
        Value::Str(s) => Ok(Some(s.clone())),
        Value::List(_) | Value::Struct(_) => Err(wrong_type()),
        v => Ok(Some(v.to_text())),
    }
}

fn int_arg(v: &Value) -> Result<Option<i64>, SelectError> {
    match v {
        v if v.is_absent() => Ok(None),
        v => match v.num() {
            Some(Num::Int(n)) => Ok(Some(n)),
            Some(Num::Float(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(f as i64)),
            _ => Err(wrong_type()),
        },
    }
}

fn call(func: Func, args: Vec<Value>) -> Result<Value, SelectError> {
    let text = |i: usize| text_arg(args.get(i).unwrap_or(&Value::Null));
    Ok(match func {
        Func::Lower => text(0)?.map_or(Value::Null, |s| Value::Str(s.to_lowercase())),
        Func::Upper => text(0)?.map_or(Value::Null, |s| Value::Str(s.to_uppercase())),
        Func::CharLength => text(0)?.map_or(Value::Null, |s| Value::Int(s.chars().count() as i64)),
        Func::Substring => {
            let (Some(s), Some(start)) = (text(0)?, int_arg(&args[1])?) else {
                return Ok(Value::Null);
            };
            let len = match args.get(2) {
                Some(l) => match int_arg(l)? {
                    Some(l) if l < 0 => {
                        return Err(SelectError::new(
                            "IllegalSqlFunctionArgument",
                            "An illegal argument was used in the SQL function.",
                        ));
                    }
                    Some(l) => Some(l),
                    None => return Ok(Value::Null),
                },
                None => None,
            };
            // SQL's 1-based positions; a start before 1 shortens the length.
            let first = start.max(1);
            let end = len.map(|l| start.saturating_add(l));
            let out: String = s
                .chars()
                .enumerate()
                .filter(|(i, _)| {
                    let pos = *i as i64 + 1;
                    pos >= first && end.is_none_or(|e| pos < e)
                })
                .map(|(_, c)| c)
                .collect();
            Value::Str(out)
        }
        Func::Trim(spec) => {
            let Some(s) = text(0)? else {
                return Ok(Value::Null);
            };
            let set: Vec<char> = match args.get(1) {
                Some(c) => match text_arg(c)? {
                    Some(c) => c.chars().collect(),
                    None => return Ok(Value::Null),
                },
                None => vec![' '],
            };
            let f = |c: char| set.contains(&c);
            Value::Str(
                match spec {
                    TrimSpec::Both => s.trim_matches(f),
                    TrimSpec::Leading => s.trim_start_matches(f),
                    TrimSpec::Trailing => s.trim_end_matches(f),
                }
                .to_string(),
            )
        }
        Func::Coalesce => args
            .into_iter()
            .find(|v| !v.is_absent())
            .unwrap_or(Value::Null),
        Func::NullIf => {
            if compare(&args[0], &args[1]) == Some(Ordering::Equal) {
                Value::Null
            } else {
                args[0].clone()
            }
        }
        Func::UtcNow => Value::Timestamp(Timestamp::now()),
        Func::ToTimestamp => timestamp_arg(&args[0])?.map_or(Value::Null, Value::Timestamp),
        Func::ToString => match (timestamp_arg(&args[0])?, text(1)?) {
            (Some(t), Some(pattern)) => Value::Str(super::time::to_string(&t, &pattern)?),
            _ => Value::Null,
        },
        Func::DateAdd(part) => match (int_arg(&args[0])?, timestamp_arg(&args[1])?) {
            (Some(n), Some(t)) => Value::Timestamp(super::time::add(part, n, &t)?),
            _ => Value::Null,
        },
        Func::DateDiff(part) => match (timestamp_arg(&args[0])?, timestamp_arg(&args[1])?) {
            (Some(a), Some(b)) => Value::Int(super::time::diff(part, &a, &b)?),
            _ => Value::Null,
        },
        Func::Extract(part) => timestamp_arg(&args[0])?
            .map_or(Value::Null, |t| Value::Int(super::time::extract(part, &t))),
    })
}

/// An aggregate's running state.
#[derive(Clone, Debug)]
pub struct Accumulator {
    func: AggFunc,
    count: i64,
    int_sum: Option<i64>,
    float_sum: f64,
    best: Option<Value>,
}

impl Accumulator {
    pub fn new(func: AggFunc) -> Self {
        Accumulator {
            func,
            count: 0,
            int_sum: Some(0),
            float_sum: 0.0,
            best: None,
        }
    }

    /// Take one record's value (`None`: `COUNT(*)`'s row).
    pub fn add(&mut self, v: Option<Value>) -> Result<(), SelectError> {
        let Some(v) = v else {
            self.count += 1;
            return Ok(());
        };
        if v.is_absent() {
            return Ok(());
        }
        self.count += 1;
        match self.func {
            AggFunc::Count => {}
            AggFunc::Sum | AggFunc::Avg => match v.num() {
                Some(Num::Int(n)) => {
                    self.int_sum = self.int_sum.and_then(|s| s.checked_add(n));
                    self.float_sum += n as f64;
                }
                Some(Num::Float(f)) => {
                    self.int_sum = None;
                    self.float_sum += f;
                }
                None => return Err(wrong_type()),
            },
            AggFunc::Min | AggFunc::Max => {
                let replace = match &self.best {
                    None => true,
                    Some(b) => match compare(&v, b) {
                        Some(Ordering::Less) => self.func == AggFunc::Min,
                        Some(Ordering::Greater) => self.func == AggFunc::Max,
                        _ => false,
                    },
                };
                if replace {
                    self.best = Some(v);
                }
            }
        }
        Ok(())
    }

    pub fn result(&self) -> Value {
        match self.func {
            AggFunc::Count => Value::Int(self.count),
            _ if self.count == 0 => Value::Null,
            AggFunc::Sum => match self.int_sum {
                Some(n) => Value::Int(n),
                None => Value::Float(self.float_sum),
            },
            AggFunc::Avg => Value::Float(self.float_sum / self.count as f64),
            AggFunc::Min | AggFunc::Max => self.best.clone().unwrap_or(Value::Null),
        }
    }
}

/// Feed one record to every aggregate of a query.
pub fn accumulate(
    scope: &Scope<'_>,
    aggregates: &[Aggregate],
    accs: &mut [Accumulator],
    rec: &Record,
) -> Result<(), SelectError> {
    for (agg, acc) in aggregates.iter().zip(accs.iter_mut()) {
        let v = match &agg.arg {
            Some(e) => Some(scope.eval(e, rec)?),
            None => None,
        };
        acc.add(v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::sql::{Projection, parse};
    use super::*;

    fn eval_csv(sql: &str, header: Option<&[String]>, row: &[&str]) -> Result<Value, SelectError> {
        let q = parse(sql).unwrap();
        let Projection::Items(items) = &q.projection else {
            panic!("{sql}")
        };
        let scope = Scope {
            header,
            alias: q.alias.as_deref(),
            aggregates: &[],
        };
        let rec = Record::Csv(row.iter().map(|s| s.to_string()).collect());
        scope.eval(&items[0].0, &rec)
    }

    fn one(expr: &str) -> Value {
        eval_csv(
            &format!("SELECT {expr} FROM S3Object s"),
            None,
            &["10", "Hello", ""],
        )
        .unwrap()
    }

    #[test]
    fn date_functions() {
        let ts = |s: &str| Value::Str(s.into());
        assert_eq!(one("DATE_ADD(month, 13, `2010T`)").to_text(), "2011-02T");
        assert_eq!(
            one("DATE_DIFF(day, `2010-01-01T23:00Z`, `2010-01-02T23:00Z`)"),
            Value::Int(1)
        );
        assert_eq!(
            one("EXTRACT(TIMEZONE_MINUTE FROM `2017-01-02T03:04:05+09:08`)"),
            Value::Int(8)
        );
        assert_eq!(
            one("TO_STRING(`1969-07-20T20:18Z`, 'MMMM d, y h:m a')"),
            ts("July 20, 1969 8:18 PM")
        );
        assert_eq!(
            one("TO_STRING(TO_TIMESTAMP('2007-02-23T12:14:33.079-08:00'), 'yyyy')"),
            ts("2007")
        );
        assert_eq!(
            one("CAST('2007-02-23T12:14Z' AS TIMESTAMP) < `2008T`"),
            Value::Bool(true)
        );
        assert_eq!(
            one("CAST('2007-02-23T12:14Z' AS TIMESTAMP)").to_text(),
            "2007-02-23T12:14Z"
        );
        assert_eq!(one("EXTRACT(YEAR FROM UTCNOW()) > 2020"), Value::Bool(true));
        assert_eq!(one("TO_TIMESTAMP(s._9)"), Value::Null);
        assert_eq!(
            eval_csv(
                "SELECT TO_TIMESTAMP(s._2) FROM S3Object s",
                None,
                &["1", "x"]
            )
            .unwrap_err()
            .code,
            "CastFailed"
        );
        assert_eq!(
            eval_csv(
                "SELECT DATE_ADD(year, 9000, `2010T`) FROM S3Object s",
                None,
                &["1"]
            )
            .unwrap_err()
            .code,
            "IllegalSqlFunctionArgument"
        );
    }

    #[test]
    fn expressions() {
        assert_eq!(one("s._1"), Value::Str("10".into()));
        assert_eq!(one("_2"), Value::Str("Hello".into()));
        assert_eq!(one("s._9"), Value::Missing);
        assert_eq!(one("s._1 + 5"), Value::Int(15));
        assert_eq!(one("CAST(s._1 AS INT) * 2"), Value::Int(20));
        assert_eq!(one("s._1 / 4"), Value::Int(2));
        assert_eq!(one("s._1 / 4.0"), Value::Float(2.5));
        assert_eq!(one("s._1 > 9"), Value::Bool(true));
        assert_eq!(one("s._2 = 'Hello'"), Value::Bool(true));
        assert_eq!(one("s._2 LIKE 'H%o'"), Value::Bool(true));
        assert_eq!(one("s._2 LIKE '_ell_'"), Value::Bool(true));
        assert_eq!(one("s._2 NOT LIKE 'x%'"), Value::Bool(true));
        assert_eq!(one("s._1 IN (1, 10)"), Value::Bool(true));
        assert_eq!(one("s._1 BETWEEN 5 AND 10"), Value::Bool(true));
        assert_eq!(one("s._9 IS NULL"), Value::Bool(true));
        assert_eq!(one("s._9 IS MISSING"), Value::Bool(true));
        assert_eq!(one("s._3 IS NOT NULL"), Value::Bool(true));
        assert_eq!(
            one("LOWER(s._2) || UPPER(s._2)"),
            Value::Str("helloHELLO".into())
        );
        assert_eq!(one("CHAR_LENGTH(s._2)"), Value::Int(5));
        assert_eq!(one("SUBSTRING(s._2, 2, 3)"), Value::Str("ell".into()));
        assert_eq!(one("SUBSTRING(s._2 FROM 0 FOR 3)"), Value::Str("He".into()));
        assert_eq!(one("SUBSTRING(s._2, 3)"), Value::Str("llo".into()));
        assert_eq!(one("TRIM('  x  ')"), Value::Str("x".into()));
        assert_eq!(
            one("TRIM(LEADING 'H' FROM s._2)"),
            Value::Str("ello".into())
        );
        assert_eq!(one("TRIM(TRAILING FROM 'a  ')"), Value::Str("a".into()));
        assert_eq!(one("COALESCE(s._9, s._2)"), Value::Str("Hello".into()));
        assert_eq!(one("NULLIF(s._1, 10)"), Value::Null);
        assert_eq!(
            one("CASE WHEN s._1 > 5 THEN 'big' ELSE 'small' END"),
            Value::Str("big".into())
        );
        assert_eq!(one("CASE s._2 WHEN 'Hello' THEN 1 END"), Value::Int(1));
        assert_eq!(one("NULL AND FALSE"), Value::Bool(false));
        assert_eq!(one("NULL OR TRUE"), Value::Bool(true));
        assert_eq!(one("NOT (s._1 = 10)"), Value::Bool(false));
        assert_eq!(one("-s._1"), Value::Int(-10));
        assert_eq!(one("7 % 3"), Value::Int(1));
        assert_eq!(one("CAST('true' AS BOOL)"), Value::Bool(true));
        assert_eq!(one("CAST(2.9 AS INT)"), Value::Int(2));
        assert_eq!(one("CAST(s._1 AS FLOAT)"), Value::Float(10.0));
        assert_eq!(one("CAST(s._1 AS STRING)"), Value::Str("10".into()));
    }

    #[test]
    fn evaluation_errors() {
        let err = |e: &str| {
            eval_csv(&format!("SELECT {e} FROM S3Object s"), None, &["x"])
                .unwrap_err()
                .code
        };
        assert_eq!(err("CAST(s._1 AS INT)"), "CastFailed");
        assert_eq!(err("9223372036854775807 + 1"), "IntegerOverflow");
        assert_eq!(err("1 / 0"), "ExternalEvalException");
        assert_eq!(err("s._1 LIKE 'a' ESCAPE 'xy'"), "LikeInvalidInputs");
        assert_eq!(
            err("s._1 LIKE 'a!' ESCAPE '!'"),
            "EvaluatorLikePatternInvalidEscapeSequence"
        );
    }

    #[test]
    fn header_names_and_aliases() {
        let header = vec!["Name".to_string(), "Age".to_string()];
        let row = ["Ann", "31"];
        let v = |sql: &str| eval_csv(sql, Some(&header), &row).unwrap();
        assert_eq!(v("SELECT s.name FROM S3Object s"), Value::Str("Ann".into()));
        assert_eq!(v("SELECT \"Age\" FROM S3Object"), Value::Str("31".into()));
        assert_eq!(v("SELECT s.\"age\" FROM S3Object s"), Value::Missing);
        assert_eq!(v("SELECT s._2 FROM S3Object s"), Value::Str("31".into()));
        assert_eq!(
            v("SELECT S.Name FROM S3Object AS s"),
            Value::Str("Ann".into())
        );
    }

    #[test]
    fn like_matches_as_sql_does() {
        assert!(like("abc", "a%", None).unwrap());
        assert!(like("abc", "%c", None).unwrap());
        assert!(like("abc", "%", None).unwrap());
        assert!(like("", "%", None).unwrap());
        assert!(!like("abc", "a_", None).unwrap());
        assert!(like("a%c", "a!%c", Some('!')).unwrap());
        assert!(!like("abc", "a!%c", Some('!')).unwrap());
        assert!(like("mississippi", "%iss%ppi", None).unwrap());
        assert!(!like("mississippi", "%iss%ppx", None).unwrap());
    }

    #[test]
    fn aggregates() {
        let mut sum = Accumulator::new(AggFunc::Sum);
        let mut avg = Accumulator::new(AggFunc::Avg);
        let mut min = Accumulator::new(AggFunc::Min);
        let mut count = Accumulator::new(AggFunc::Count);
        for v in ["1", "2", "4"] {
            sum.add(Some(Value::Str(v.into()))).unwrap();
            avg.add(Some(Value::Str(v.into()))).unwrap();
            min.add(Some(Value::Str(v.into()))).unwrap();
            count.add(Some(Value::Str(v.into()))).unwrap();
        }
        count.add(Some(Value::Null)).unwrap();
        assert_eq!(sum.result(), Value::Int(7));
        assert_eq!(min.result(), Value::Str("1".into()));
        assert_eq!(count.result(), Value::Int(3));
        assert_eq!(avg.result().to_text(), format!("{}", 7.0 / 3.0));
        assert_eq!(Accumulator::new(AggFunc::Max).result(), Value::Null);
        assert_eq!(
            sum.add(Some(Value::Str("x".into()))).unwrap_err().code,
            "IncorrectSqlFunctionArgumentType"
        );
    }
}

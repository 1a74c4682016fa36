//! The CloudWatch Logs filter pattern language.
//!
//! - Text patterns: terms (`ERROR`), quoted phrases (`"Access denied"`), exclusions (`-DEBUG`)
//!   and alternatives (`?ERROR ?WARN`). Every plain term must occur, none of the excluded ones,
//!   and, if there are alternatives, at least one of them. Matching is case-sensitive.
//! - JSON patterns: `{ $.level = "error" && ($.latency > 100 || $.user.id NOT EXISTS) }` with
//!   `=`, `!=`, `<`, `<=`, `>`, `>=`, `IS NULL`, `NOT EXISTS`, `IS TRUE`, `IS FALSE`, selectors
//!   `$.a.b`, `$.list[0]`, string values with `*` wildcards, numbers.
//! - Space-delimited patterns: `[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`.
//!
//! Parsing is bounded (a pattern is at most [`MAX_PATTERN`] bytes, nesting at most
//! [`MAX_NESTING`]) and never panics; matching a message is linear in its size.

use serde_json::Value;

pub const MAX_PATTERN: usize = 1024;
pub const MAX_NESTING: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    All,
    Text {
        required: Vec<String>,
        any: Vec<String>,
        excluded: Vec<String>,
    },
    Json(Expr),
    Delimited(Vec<Field>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Vec<Step>, Op, Lit),
    IsNull(Vec<Step>),
    NotExists(Vec<Step>),
    IsBool(Vec<Step>, bool),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Num(f64),
    Str(String),
}

/// A field of a space-delimited pattern: `...`, or a name with conditions (an OR of ANDs).
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Ellipsis,
    Named(String, Vec<Vec<(Op, Lit)>>),
}

/// Why a pattern does not parse.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(m.into()))
}

/// Parse a filter pattern.
pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    if pattern.len() > MAX_PATTERN {
        return err("Invalid filter pattern: too long");
    }
    let t = pattern.trim();
    if t.is_empty() || t == "\"\"" {
        return Ok(Pattern::All);
    }
    if t.starts_with('{') {
        let inner = t
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(|| PatternError("Invalid filter pattern: unbalanced braces".into()))?;
        let toks = lex(inner)?;
        let mut p = Parser { toks, i: 0 };
        let e = p.or(0)?;
        if p.i != p.toks.len() {
            return err("Invalid filter pattern: unexpected input after the expression");
        }
        return Ok(Pattern::Json(e));
    }
    if t.starts_with('[') {
        let inner = t
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| PatternError("Invalid filter pattern: unbalanced brackets".into()))?;
        return delimited(inner).map(Pattern::Delimited);
    }
    text(t)
}

fn text(t: &str) -> Result<Pattern, PatternError> {
    let (mut required, mut any, mut excluded) = (Vec::new(), Vec::new(), Vec::new());
    let mut chars = t.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let kind = match c {
            '?' => {
                chars.next();
                1
            }
            '-' => {
                chars.next();
                2
            }
            _ => 0,
        };
        let mut term = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            term.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => term.push(c),
                }
            }
            if !closed {
                return err("Invalid filter pattern: unterminated quoted term");
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                term.push(c);
                chars.next();
            }
        }
        if term.is_empty() {
            continue;
        }
        match kind {
            1 => any.push(term),
            2 => excluded.push(term),
            _ => required.push(term),
        }
    }
    Ok(Pattern::Text {
        required,
        any,
        excluded,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Sel(Vec<Step>),
    Op(Op),
    And,
    Or,
    Open,
    Close,
    Word(String),
    Quoted(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, PatternError> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = b[i..(i + 2).min(b.len())].iter().collect();
        match two.as_str() {
            "&&" => {
                out.push(Tok::And);
                i += 2;
                continue;
            }
            "||" => {
                out.push(Tok::Or);
                i += 2;
                continue;
            }
            "!=" => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
                continue;
            }
            "<=" => {
                out.push(Tok::Op(Op::Le));
                i += 2;
                continue;
            }
            ">=" => {
                out.push(Tok::Op(Op::Ge));
                i += 2;
                continue;
            }
            _ => {}
        }
        match c {
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            '=' => out.push(Tok::Op(Op::Eq)),
            '<' => out.push(Tok::Op(Op::Lt)),
            '>' => out.push(Tok::Op(Op::Gt)),
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return err("Invalid filter pattern: unterminated string"),
                        Some('\\') => {
                            if let Some(n) = b.get(i + 1) {
                                v.push(*n);
                            }
                            i += 2;
                        }
                        Some('"') => break,
                        Some(c) => {
                            v.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '$' => {
                i += 1;
                let mut steps = Vec::new();
                while i < b.len() {
                    match b[i] {
                        '.' => {
                            i += 1;
                            let mut k = String::new();
                            while i < b.len()
                                && (b[i].is_alphanumeric() || matches!(b[i], '_' | '-' | '@' | '*'))
                            {
                                k.push(b[i]);
                                i += 1;
                            }
                            if k.is_empty() {
                                return err("Invalid filter pattern: empty selector step");
                            }
                            steps.push(Step::Key(k));
                        }
                        '[' => {
                            i += 1;
                            let mut n = String::new();
                            while i < b.len() && b[i].is_ascii_digit() {
                                n.push(b[i]);
                                i += 1;
                            }
                            if b.get(i) != Some(&']') {
                                return err("Invalid filter pattern: bad array index");
                            }
                            i += 1;
                            let n = n.parse().map_err(|_| {
                                PatternError("Invalid filter pattern: bad array index".into())
                            })?;
                            steps.push(Step::Index(n));
                        }
                        _ => break,
                    }
                }
                if steps.is_empty() {
                    return err("Invalid filter pattern: a selector must name a field");
                }
                out.push(Tok::Sel(steps));
                continue;
            }
            _ => {
                let mut w = String::new();
                while i < b.len()
                    && !b[i].is_whitespace()
                    && !matches!(b[i], '(' | ')' | '=' | '<' | '>' | '!' | '&' | '|' | '"')
                {
                    w.push(b[i]);
                    i += 1;
                }
                if w.is_empty() {
                    return err(format!("Invalid filter pattern: unexpected '{c}'"));
                }
                out.push(Tok::Word(w));
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut l = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            let r = self.and(depth)?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, PatternError> {
        let mut l = self.unary(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            let r = self.unary(depth)?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, PatternError> {
        if depth >= MAX_NESTING {
            return err("Invalid filter pattern: nested too deeply");
        }
        match self.toks.get(self.i).cloned() {
            Some(Tok::Open) => {
                self.i += 1;
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::Close) {
                    return err("Invalid filter pattern: missing ')'");
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Sel(steps)) => {
                self.i += 1;
                match self.toks.get(self.i).cloned() {
                    Some(Tok::Op(op)) => {
                        self.i += 1;
                        let lit = match self.toks.get(self.i).cloned() {
                            Some(Tok::Quoted(s)) => Lit::Str(s),
                            Some(Tok::Word(w)) => match w.parse::<f64>() {
                                Ok(n) if n.is_finite() => Lit::Num(n),
                                _ => Lit::Str(w),
                            },
                            _ => return err("Invalid filter pattern: a comparison needs a value"),
                        };
                        self.i += 1;
                        if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
                            && !matches!(lit, Lit::Num(_))
                        {
                            return err(
                                "Invalid filter pattern: numeric comparison needs a number",
                            );
                        }
                        Ok(Expr::Cmp(steps, op, lit))
                    }
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                        self.i += 1;
                        let Some(Tok::Word(what)) = self.toks.get(self.i).cloned() else {
                            return err("Invalid filter pattern: IS needs NULL, TRUE or FALSE");
                        };
                        self.i += 1;
                        match what.to_ascii_uppercase().as_str() {
                            "NULL" => Ok(Expr::IsNull(steps)),
                            "TRUE" => Ok(Expr::IsBool(steps, true)),
                            "FALSE" => Ok(Expr::IsBool(steps, false)),
                            _ => err("Invalid filter pattern: IS needs NULL, TRUE or FALSE"),
                        }
                    }
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                        self.i += 1;
                        match self.toks.get(self.i) {
                            Some(Tok::Word(x)) if x.eq_ignore_ascii_case("EXISTS") => {
                                self.i += 1;
                                Ok(Expr::NotExists(steps))
                            }
                            _ => err("Invalid filter pattern: NOT needs EXISTS"),
                        }
                    }
                    _ => err("Invalid filter pattern: a selector needs a comparison"),
                }
            }
            _ => err("Invalid filter pattern: expected a selector or '('"),
        }
    }
}

fn delimited(inner: &str) -> Result<Vec<Field>, PatternError> {
    let mut fields = Vec::new();
    for (n, raw) in split_top(inner, ',').into_iter().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            return err("Invalid filter pattern: empty field");
        }
        if raw == "..." {
            fields.push(Field::Ellipsis);
            continue;
        }
        let toks = lex(raw)?;
        let name = match toks.first() {
            Some(Tok::Word(w)) => w.clone(),
            _ => format!("${}", n + 1),
        };
        // name [op value ((&&|||) name op value)*]
        let mut ors: Vec<Vec<(Op, Lit)>> = Vec::new();
        let mut cur: Vec<(Op, Lit)> = Vec::new();
        let mut i = 1;
        while i < toks.len() {
            match &toks[i] {
                Tok::Op(op) => {
                    let lit = match toks.get(i + 1) {
                        Some(Tok::Quoted(s)) => Lit::Str(s.clone()),
                        Some(Tok::Word(w)) => match w.parse::<f64>() {
                            Ok(x) if x.is_finite() => Lit::Num(x),
                            _ => Lit::Str(w.clone()),
                        },
                        _ => return err("Invalid filter pattern: a comparison needs a value"),
                    };
                    cur.push((*op, lit));
                    i += 2;
                }
                Tok::And => i += 1,
                Tok::Or => {
                    ors.push(std::mem::take(&mut cur));
                    i += 1;
                }
                Tok::Word(_) => i += 1,
                _ => return err("Invalid filter pattern: unexpected token in a field"),
            }
        }
        if !cur.is_empty() {
            ors.push(cur);
        }
        fields.push(Field::Named(name, ors));
    }
    Ok(fields)
}

/// Split on `sep` outside quotes.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `*` wildcards in `pat` (any run of characters); the rest literal.
pub fn wildcard(pat: &str, s: &str) -> bool {
    if !pat.contains('*') {
        return pat == s;
    }
    let parts: Vec<&str> = pat.split('*').collect();
    let mut rest = s;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == last {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn cmp_num(a: f64, op: Op, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
    }
}

fn cmp_text(text: &str, op: Op, lit: &Lit) -> bool {
    match lit {
        Lit::Num(n) => match text.parse::<f64>() {
            Ok(x) => cmp_num(x, op, *n),
            Err(_) => op == Op::Ne,
        },
        Lit::Str(p) => match op {
            Op::Eq => wildcard(p, text),
            Op::Ne => !wildcard(p, text),
            _ => false,
        },
    }
}

fn select<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut cur = v;
    for s in steps {
        cur = match s {
            Step::Key(k) => cur.get(k.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::IsNull(s) => matches!(select(v, s), Some(Value::Null)),
        Expr::NotExists(s) => select(v, s).is_none(),
        Expr::IsBool(s, b) => select(v, s).and_then(Value::as_bool) == Some(*b),
        Expr::Cmp(s, op, lit) => match select(v, s) {
            None => false,
            Some(Value::Number(n)) => match lit {
                Lit::Num(x) => n.as_f64().is_some_and(|n| cmp_num(n, *op, *x)),
                Lit::Str(p) => cmp_text(&n.to_string(), *op, &Lit::Str(p.clone())),
            },
            Some(Value::String(t)) => cmp_text(t, *op, lit),
            Some(Value::Bool(b)) => cmp_text(if *b { "true" } else { "false" }, *op, lit),
            Some(_) => false,
        },
    }
}

/// Split a log message into the fields of a space-delimited pattern: whitespace separates;
/// `"..."` and `[...]` are one field each (without their delimiters).
pub fn split_fields(msg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = msg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let (open, close) = match b[i] {
            b'"' => (true, b'"'),
            b'[' => (true, b']'),
            _ => (false, 0),
        };
        if open {
            let start = i + 1;
            let end = b[start..]
                .iter()
                .position(|&c| c == close)
                .map_or(b.len(), |p| start + p);
            out.push(&msg[start..end]);
            i = end + 1;
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(&msg[start..i]);
        }
    }
    out
}

fn field_ok(conds: &[Vec<(Op, Lit)>], text: &str) -> bool {
    conds.is_empty()
        || conds
            .iter()
            .any(|and| and.iter().all(|(op, lit)| cmp_text(text, *op, lit)))
}

/// Whether the fields match the tokens (`...` matches any number of them): dynamic programming
/// over (field, token), so linear in their product.
fn delimited_match(fields: &[Field], toks: &[&str]) -> bool {
    let (f, t) = (fields.len(), toks.len());
    if fields.iter().all(|x| !matches!(x, Field::Ellipsis)) && f != t {
        return false;
    }
    // ok[j]: fields[..i] match toks[..j].
    let mut ok = vec![false; t + 1];
    ok[0] = true;
    for field in fields {
        let mut next = vec![false; t + 1];
        match field {
            Field::Ellipsis => {
                let mut any = false;
                for j in 0..=t {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            Field::Named(_, conds) => {
                for j in 1..=t {
                    next[j] = ok[j - 1] && field_ok(conds, toks[j - 1]);
                }
            }
        }
        ok = next;
    }
    ok[t]
}

impl Pattern {
    /// Whether a log message matches.
    pub fn matches(&self, msg: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Text {
                required,
                any,
                excluded,
            } => {
                required.iter().all(|t| msg.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| msg.contains(t.as_str())))
                    && !excluded.iter().any(|t| msg.contains(t.as_str()))
            }
            Pattern::Json(e) => match serde_json::from_str::<Value>(msg) {
                Ok(v) => eval(e, &v),
                Err(_) => false,
            },
            Pattern::Delimited(fields) => delimited_match(fields, &split_fields(msg)),
        }
    }

    /// The values a matching message gives to the pattern's named fields (`$name`), for a
    /// space-delimited pattern: the fields before the first `...` from the start, those after
    /// the last from the end.
    pub fn extract(&self, msg: &str) -> Vec<(String, String)> {
        let Pattern::Delimited(fields) = self else {
            return Vec::new();
        };
        let toks = split_fields(msg);
        let mut out = Vec::new();
        let first = fields
            .iter()
            .position(|f| matches!(f, Field::Ellipsis))
            .unwrap_or(fields.len());
        for (i, f) in fields[..first].iter().enumerate() {
            if let (Field::Named(n, _), Some(t)) = (f, toks.get(i)) {
                out.push((format!("${n}"), t.to_string()));
            }
        }
        if first < fields.len() {
            let last = fields
                .iter()
                .rposition(|f| matches!(f, Field::Ellipsis))
                .unwrap_or(first);
            let tail = &fields[last + 1..];
            let off = toks.len().saturating_sub(tail.len());
            for (i, f) in tail.iter().enumerate() {
                if let (Field::Named(n, _), Some(t)) = (f, toks.get(off + i)) {
                    out.push((format!("${n}"), t.to_string()));
                }
            }
        }
        out
    }

    /// A metric filter's `metricValue` for a matching message: a number, `$.selector` of a
    /// JSON message, or `$field` of a space-delimited pattern.
    pub fn metric_value(&self, value_spec: &str, msg: &str) -> Option<f64> {
        if let Ok(n) = value_spec.parse::<f64>() {
            return Some(n);
        }
        if value_spec.starts_with("$.") {
            let toks = lex(value_spec).ok()?;
            let Some(Tok::Sel(steps)) = toks.first() else {
                return None;
            };
            let v: Value = serde_json::from_str(msg).ok()?;
            return match select(&v, steps)? {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
        }
        self.extract(msg)
            .into_iter()
            .find(|(k, _)| k == value_spec)
            .and_then(|(_, v)| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, msg: &str) -> bool {
        parse(p).unwrap().matches(msg)
    }

    #[test]
    fn text_terms() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "an ERROR here"));
        assert!(!m("ERROR", "an error here"));
        assert!(m("ERROR timeout", "ERROR: timeout after 3s"));
        assert!(!m("ERROR timeout", "ERROR: refused"));
        assert!(m("\"Access denied\"", "user: Access denied for x"));
        assert!(!m("\"Access denied\"", "Access is denied"));
        assert!(m("ERROR -retry", "ERROR fatal"));
        assert!(!m("ERROR -retry", "ERROR will retry"));
        assert!(m("?ERROR ?WARN", "WARN disk"));
        assert!(!m("?ERROR ?WARN", "INFO ok"));
    }

    #[test]
    fn json_patterns() {
        let msg = r#"{"level":"error","latency":250,"user":{"id":"u1"},"tags":["a","b"],"ok":false,"n":null}"#;
        assert!(m(r#"{ $.level = "error" }"#, msg));
        assert!(m("{ $.level = err* }", msg));
        assert!(!m(r#"{ $.level = "info" }"#, msg));
        assert!(m("{ $.latency > 100 }", msg));
        assert!(!m("{ $.latency < 100 }", msg));
        assert!(m("{ $.latency >= 250 && $.user.id = u1 }", msg));
        assert!(m(r#"{ ($.level = "info") || ($.latency = 250) }"#, msg));
        assert!(m("{ $.tags[1] = b }", msg));
        assert!(m("{ $.missing NOT EXISTS }", msg));
        assert!(m("{ $.n IS NULL }", msg));
        assert!(m("{ $.ok IS FALSE }", msg));
        assert!(m(r#"{ $.level != "info" }"#, msg));
        assert!(!m(r#"{ $.level = "error" }"#, "not json"));
        assert!(parse("{ $.a > x }").is_err());
        assert!(parse("{ $.a = 1 ").is_err());
        assert!(parse("{ ((((").is_err());
    }

    #[test]
    fn delimited_patterns() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534"#;
        assert!(m(
            "[ip, id, user, timestamp, request, status_code, size]",
            line
        ));
        assert!(m(
            "[ip, id, user, timestamp, request, status_code = 404, size]",
            line
        ));
        assert!(m(
            "[..., status_code = 4* || status_code = 5*, size > 1000]",
            line
        ));
        assert!(!m("[..., status_code = 200, size]", line));
        assert!(!m("[a, b]", line));
        let p = parse("[ip, ..., status, size]").unwrap();
        let ex = p.extract(line);
        assert!(ex.contains(&("$ip".into(), "127.0.0.1".into())));
        assert!(ex.contains(&("$size".into(), "1534".into())));
        assert_eq!(p.metric_value("$size", line), Some(1534.0));
    }

    #[test]
    fn metric_values() {
        let p = parse("{ $.latency > 0 }").unwrap();
        assert_eq!(
            p.metric_value("$.latency", r#"{"latency": 12.5}"#),
            Some(12.5)
        );
        assert_eq!(p.metric_value("1", "x"), Some(1.0));
    }

    proptest! {
        #[test]
        fn parser_and_matcher_never_panic(p in ".{0,200}", msg in ".{0,200}") {
            if let Ok(pat) = parse(&p) {
                let _ = pat.matches(&msg);
                let _ = pat.extract(&msg);
            }
        }

        #[test]
        fn structured_patterns_never_panic(
            p in prop::collection::vec(prop::sample::select(vec![
                "{", "}", "[", "]", "(", ")", "$.a", "$.b[0]", "=", "!=", ">", "<=", "&&", "||",
                "\"x\"", "1", "IS", "NULL", "NOT", "EXISTS", "...", ",", "-", "?", "*", " ",
            ]), 0..40),
            msg in prop::sample::select(vec![r#"{"a":1,"b":[2]}"#, "a b c", "", "[x] \"y z\""]),
        ) {
            let p: String = p.concat();
            if let Ok(pat) = parse(&p) {
                let _ = pat.matches(msg);
            }
        }

        #[test]
        fn a_quoted_phrase_matches_what_contains_it(pre in "[a-z ]{0,10}", word in "[a-z]{1,10}", post in "[a-z ]{0,10}") {
            let msg = format!("{pre}{word}{post}");
            let pat = format!("\"{word}\"");
            prop_assert!(parse(&pat).unwrap().matches(&msg));
        }
    }
}

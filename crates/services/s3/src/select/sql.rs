//! S3 Select's SQL: a hand-written lexer and recursive-descent parser for the subset S3 Select
//! accepts (`SELECT * | expr [AS name], ... FROM S3Object[path] [[AS] alias] [WHERE expr]
//! [LIMIT n]`). No SQL crate parses S3 Select's dialect (PartiQL paths over `S3Object`,
//! positional `_1` columns, its error codes), so the grammar is here, bounded: the expression is
//! at most 256 KiB, a tree at most [`MAX_DEPTH`] deep and [`MAX_NODES`] large, so evaluating it
//! never recurses without bound.

use super::SelectError;
pub use super::ast::*;
use super::lex::{Tok, lex};
use super::value::Value;

/// The deepest expression tree accepted (evaluation recurses this deep at most).
pub const MAX_DEPTH: usize = 96;
/// The most operators and operands an expression may have.
pub const MAX_NODES: usize = 20_000;
/// The longest expression S3 accepts (256 KiB).
pub const MAX_EXPRESSION: usize = 256 * 1024;

/// Binary operators' precedences, loosest first.
const OR: u8 = 1;
const AND: u8 = 2;
const COMPARISON: u8 = 3;
const ADDITIVE: u8 = 4;
const MULTIPLICATIVE: u8 = 5;

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "LIMIT", "AS", "AND", "OR", "NOT", "LIKE", "ESCAPE", "IN",
    "BETWEEN", "IS", "NULL", "MISSING", "TRUE", "FALSE", "CAST", "CASE", "WHEN", "THEN", "ELSE",
    "END", "GROUP", "ORDER", "BY", "HAVING", "JOIN", "UNION", "DISTINCT",
];

/// Parse an S3 Select expression.
pub fn parse(src: &str) -> Result<Query, SelectError> {
    if src.len() > MAX_EXPRESSION {
        return Err(SelectError::new(
            "ExpressionTooLong",
            "The SQL expression is too long. The maximum byte-length for an SQL expression is 256 KB.",
        ));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        nodes: 0,
        aggregates: Vec::new(),
        in_aggregate: false,
        aggregates_allowed: true,
    };
    p.query()
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    nodes: usize,
    aggregates: Vec<Aggregate>,
    in_aggregate: bool,
    aggregates_allowed: bool,
}

/// An expression and the depth of its tree.
type P = (Expr, usize);

fn unexpected() -> SelectError {
    SelectError::new(
        "ParseUnexpectedToken",
        "The SQL expression contains an unexpected token.",
    )
}

fn expected_expression() -> SelectError {
    SelectError::new(
        "ParseExpectedExpression",
        "The expected SQL expression was not found.",
    )
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SelectError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(SelectError::new(
                "ParseExpectedKeyword",
                "The expected keyword in the SQL expression was not found.",
            ))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str, err: fn() -> SelectError) -> Result<(), SelectError> {
        if self.eat_sym(s) { Ok(()) } else { Err(err()) }
    }

    /// Count a node and check the tree's depth.
    fn node(&mut self, e: Expr, depth: usize) -> Result<P, SelectError> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(SelectError::new(
                "MaxOperatorsExceeded",
                "Failed to parse SQL expression, try reducing complexity. For example, reduce number of operators used.",
            ));
        }
        Ok((e, depth))
    }

    fn query(&mut self) -> Result<Query, SelectError> {
        if !self.eat_kw("SELECT") {
            return Err(SelectError::new(
                "ParseUnsupportedSelect",
                "The SQL expression contains an unsupported use of SELECT.",
            ));
        }
        if self.is_kw("FROM") {
            return Err(SelectError::new(
                "ParseEmptySelect",
                "The SQL expression contains an empty SELECT clause.",
            ));
        }
        if self.is_kw("DISTINCT") {
            return Err(unsupported_syntax());
        }
        let projection = if self.is_sym("*")
            && (self.is_kw_at(1, "FROM") || self.peek_at(1).is_none())
        {
            self.pos += 1;
            Projection::Star
        } else {
            let mut items = Vec::new();
            loop {
                if self.is_sym("*") {
                    return Err(SelectError::new(
                        "ParseAsteriskIsNotAloneInSelectList",
                        "Other expressions are not allowed in the SELECT list when * is used without dot notation in the SQL expression.",
                    ));
                }
                let (e, _) = self.expr(0)?;
                let alias = if self.eat_kw("AS") {
                    Some(self.ident().ok_or_else(|| {
                        SelectError::new(
                            "ParseExpectedIdentForAlias",
                            "The expected identifier for the alias in the SQL expression was not found.",
                        )
                    })?)
                } else {
                    match self.peek() {
                        Some(Tok::Ident(s)) if !is_reserved(s) => {
                            let s = s.clone();
                            self.pos += 1;
                            Some(s)
                        }
                        Some(Tok::Quoted(s)) => {
                            let s = s.clone();
                            self.pos += 1;
                            Some(s)
                        }
                        _ => None,
                    }
                };
                items.push((e, alias));
                if !self.eat_sym(",") {
                    break;
                }
            }
            Projection::Items(items)
        };
        if !self.eat_kw("FROM") {
            return Err(SelectError::new(
                "ParseSelectMissingFrom",
                "The SQL expression contains a missing FROM after the SELECT list.",
            ));
        }
        match self.next() {
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("S3Object") => {}
            _ => {
                return Err(SelectError::new(
                    "InvalidDataSource",
                    "The data source type is not valid. Only CSV, JSON, and Parquet are supported.",
                ));
            }
        }
        let from = self.steps()?;
        let alias = if self.eat_kw("AS") {
            Some(self.ident().ok_or_else(|| {
                SelectError::new(
                    "ParseExpectedIdentForAlias",
                    "The expected identifier for the alias in the SQL expression was not found.",
                )
            })?)
        } else {
            match self.peek() {
                Some(Tok::Ident(s)) if !is_reserved(s) => {
                    let s = s.clone();
                    self.pos += 1;
                    Some(s)
                }
                _ => None,
            }
        };
        let filter = if self.eat_kw("WHERE") {
            self.aggregates_allowed = false;
            let (e, _) = self.expr(0)?;
            self.aggregates_allowed = true;
            Some(e)
        } else {
            None
        };
        let limit = if self.eat_kw("LIMIT") {
            match self.next() {
                Some(Tok::Int(n)) if n >= 0 => Some(n as u64),
                Some(Tok::Sym("-")) => {
                    return Err(SelectError::new(
                        "EvaluatorNegativeLimit",
                        "LIMIT must not be negative.",
                    ));
                }
                _ => {
                    return Err(SelectError::new(
                        "ParseExpectedNumber",
                        "The expected number in the SQL expression was not found.",
                    ));
                }
            }
        } else {
            None
        };
        if self.is_kw("GROUP") || self.is_kw("ORDER") || self.is_kw("HAVING") || self.is_kw("JOIN")
        {
            return Err(unsupported_syntax());
        }
        if self.peek().is_some() {
            return Err(unexpected());
        }
        let query = Query {
            projection,
            from,
            alias,
            filter,
            limit,
            aggregates: std::mem::take(&mut self.aggregates),
        };
        if !query.aggregates.is_empty()
            && let Projection::Items(items) = &query.projection
            && items.iter().any(|(e, _)| refers_outside_aggregates(e))
        {
            return Err(SelectError::new(
                "UnsupportedSqlStructure",
                "We encountered an unsupported SQL structure. Check the SQL Reference.",
            ));
        }
        Ok(query)
    }

    fn ident(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Ident(s)) if !is_reserved(s) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            Some(Tok::Quoted(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        }
    }

    /// Path steps after a name: `.x`, `."X"`, `[n]`, `[*]`.
    fn steps(&mut self) -> Result<Vec<Step>, SelectError> {
        let mut steps = Vec::new();
        loop {
            if self.eat_sym(".") {
                match self.next() {
                    Some(Tok::Ident(s)) => steps.push(Step::Field {
                        name: s,
                        quoted: false,
                    }),
                    Some(Tok::Quoted(s)) => steps.push(Step::Field {
                        name: s,
                        quoted: true,
                    }),
                    Some(Tok::Sym("*")) => steps.push(Step::Wildcard),
                    _ => {
                        return Err(SelectError::new(
                            "ParseInvalidPathComponent",
                            "The SQL expression contains a path component that is not valid.",
                        ));
                    }
                }
            } else if self.eat_sym("[") {
                match self.next() {
                    Some(Tok::Int(n)) => steps.push(Step::Index(n)),
                    Some(Tok::Sym("*")) => steps.push(Step::Wildcard),
                    Some(Tok::Str(s)) => steps.push(Step::Field {
                        name: s,
                        quoted: true,
                    }),
                    _ => {
                        return Err(SelectError::new(
                            "ParseInvalidPathComponent",
                            "The SQL expression contains a path component that is not valid.",
                        ));
                    }
                }
                self.expect_sym("]", unexpected)?;
            } else {
                return Ok(steps);
            }
            if steps.len() > MAX_DEPTH {
                return Err(SelectError::new(
                    "MaxOperatorsExceeded",
                    "Failed to parse SQL expression, try reducing complexity. For example, reduce number of operators used.",
                ));
            }
        }
    }

    /// An expression; `level` is the parser's recursion depth (bounded like the tree's).
    fn expr(&mut self, level: usize) -> Result<P, SelectError> {
        self.binary(level, OR)
    }

    /// The binary operator next in the input, with its precedence.
    fn binary_op(&self) -> Option<(BinOp, u8)> {
        Some(match self.peek()? {
            Tok::Ident(s) if s.eq_ignore_ascii_case("OR") => (BinOp::Or, OR),
            Tok::Ident(s) if s.eq_ignore_ascii_case("AND") => (BinOp::And, AND),
            Tok::Sym("=") => (BinOp::Eq, COMPARISON),
            Tok::Sym("!=") | Tok::Sym("<>") => (BinOp::Ne, COMPARISON),
            Tok::Sym("<") => (BinOp::Lt, COMPARISON),
            Tok::Sym("<=") => (BinOp::Le, COMPARISON),
            Tok::Sym(">") => (BinOp::Gt, COMPARISON),
            Tok::Sym(">=") => (BinOp::Ge, COMPARISON),
            Tok::Sym("+") => (BinOp::Add, ADDITIVE),
            Tok::Sym("-") => (BinOp::Sub, ADDITIVE),
            Tok::Sym("||") => (BinOp::Concat, ADDITIVE),
            Tok::Sym("*") => (BinOp::Mul, MULTIPLICATIVE),
            Tok::Sym("/") => (BinOp::Div, MULTIPLICATIVE),
            Tok::Sym("%") => (BinOp::Mod, MULTIPLICATIVE),
            _ => return None,
        })
    }

    /// Left-associative binary operators of precedence `min` and above, by precedence
    /// climbing. The logical operators (`OR`, `AND`) take `NOT` and the predicates (`LIKE`,
    /// `IN`, `BETWEEN`, `IS`) as operands, which take the arithmetic ones (from `COMPARISON`
    /// on) as theirs: so a call at a logical precedence stops at the arithmetic operators, and
    /// one at an arithmetic precedence at the logical ones. Recursion goes one call per
    /// precedence level (five at most), never per operator.
    fn binary(&mut self, level: usize, min: u8) -> Result<P, SelectError> {
        let logical = min <= AND;
        let (mut left, mut d) = if logical {
            self.not(level)?
        } else {
            self.unary(level)?
        };
        while let Some((op, prec)) = self.binary_op() {
            if prec < min || (prec <= AND) != logical {
                break;
            }
            self.pos += 1;
            let (right, rd) = if prec == AND || prec == MULTIPLICATIVE {
                // The tightest of its group: its right operand is the group's operand.
                if logical {
                    self.not(level)?
                } else {
                    self.unary(level)?
                }
            } else {
                self.binary(level, prec + 1)?
            };
            (left, d) = self.node(
                Expr::Binary(op, Box::new(left), Box::new(right)),
                d.max(rd) + 1,
            )?;
        }
        Ok((left, d))
    }

    /// The operands of a predicate: arithmetic and comparisons.
    fn comparison(&mut self, level: usize) -> Result<P, SelectError> {
        self.binary(level, COMPARISON)
    }

    fn not(&mut self, level: usize) -> Result<P, SelectError> {
        if self.eat_kw("NOT") {
            let (e, d) = self.nest(level, Self::not)?;
            return self.node(Expr::Not(Box::new(e)), d + 1);
        }
        self.predicate(level)
    }

    /// Recurse one level deeper, refusing past the bound.
    fn nest(
        &mut self,
        level: usize,
        f: fn(&mut Self, usize) -> Result<P, SelectError>,
    ) -> Result<P, SelectError> {
        if level + 1 > MAX_DEPTH {
            return Err(SelectError::new(
                "MaxOperatorsExceeded",
                "Failed to parse SQL expression, try reducing complexity. For example, reduce number of operators used.",
            ));
        }
        f(self, level + 1)
    }

    fn predicate(&mut self, level: usize) -> Result<P, SelectError> {
        let (left, d) = self.comparison(level)?;
        let negated = self.is_kw("NOT")
            && (self.is_kw_at(1, "LIKE") || self.is_kw_at(1, "IN") || self.is_kw_at(1, "BETWEEN"));
        if negated {
            self.pos += 1;
        }
        if self.eat_kw("LIKE") {
            let (pattern, pd) = self.comparison(level)?;
            let mut depth = d.max(pd);
            let escape = if self.eat_kw("ESCAPE") {
                let (e, ed) = self.comparison(level)?;
                depth = depth.max(ed);
                Some(Box::new(e))
            } else {
                None
            };
            return self.node(
                Expr::Like {
                    expr: Box::new(left),
                    pattern: Box::new(pattern),
                    escape,
                    negated,
                },
                depth + 1,
            );
        }
        if self.eat_kw("IN") {
            self.expect_sym("(", unexpected)?;
            let mut list = Vec::new();
            let mut depth = d;
            loop {
                let (e, ed) = self.nest(level, Self::expr)?;
                depth = depth.max(ed);
                list.push(e);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")", unexpected)?;
            return self.node(
                Expr::In {
                    expr: Box::new(left),
                    list,
                    negated,
                },
                depth + 1,
            );
        }
        if self.eat_kw("BETWEEN") {
            let (low, ld) = self.comparison(level)?;
            self.expect_kw("AND")?;
            let (high, hd) = self.comparison(level)?;
            return self.node(
                Expr::Between {
                    expr: Box::new(left),
                    low: Box::new(low),
                    high: Box::new(high),
                    negated,
                },
                d.max(ld).max(hd) + 1,
            );
        }
        if negated {
            return Err(unexpected());
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let missing = if self.eat_kw("NULL") {
                false
            } else if self.eat_kw("MISSING") {
                true
            } else {
                return Err(SelectError::new(
                    "ParseExpectedKeyword",
                    "The expected keyword in the SQL expression was not found.",
                ));
            };
            return self.node(
                Expr::Is {
                    expr: Box::new(left),
                    missing,
                    negated,
                },
                d + 1,
            );
        }
        Ok((left, d))
    }

    fn unary(&mut self, level: usize) -> Result<P, SelectError> {
        if self.eat_sym("-") {
            let (e, d) = self.nest(level, Self::unary)?;
            return match e {
                Expr::Lit(Value::Int(n)) => self.node(Expr::Lit(Value::Int(-n)), d),
                Expr::Lit(Value::Float(f)) => self.node(Expr::Lit(Value::Float(-f)), d),
                e => self.node(Expr::Neg(Box::new(e)), d + 1),
            };
        }
        if self.eat_sym("+") {
            return self.nest(level, Self::unary);
        }
        self.primary(level)
    }

    fn primary(&mut self, level: usize) -> Result<P, SelectError> {
        let Some(tok) = self.next() else {
            return Err(expected_expression());
        };
        match tok {
            Tok::Int(n) => self.node(Expr::Lit(Value::Int(n)), 1),
            Tok::Float(f) => self.node(Expr::Lit(Value::Float(f)), 1),
            Tok::Str(s) => self.node(Expr::Lit(Value::Str(s)), 1),
            Tok::Ion(s) => match super::time::parse(&s) {
                Some(t) => self.node(Expr::Lit(Value::Timestamp(t)), 1),
                None => Err(SelectError::new(
                    "LexerInvalidIONLiteral",
                    "The SQL expression contains an invalid operator.",
                )),
            },
            Tok::Sym("(") => {
                let e = self.nest(level, Self::expr)?;
                self.expect_sym(")", unexpected)?;
                Ok(e)
            }
            Tok::Quoted(name) => {
                let mut steps = vec![Step::Field { name, quoted: true }];
                steps.extend(self.steps()?);
                self.path(steps)
            }
            Tok::Ident(word) => {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "NULL" => return self.node(Expr::Lit(Value::Null), 1),
                    "MISSING" => return self.node(Expr::Lit(Value::Missing), 1),
                    "TRUE" => return self.node(Expr::Lit(Value::Bool(true)), 1),
                    "FALSE" => return self.node(Expr::Lit(Value::Bool(false)), 1),
                    "CAST" => return self.cast(level),
                    "CASE" => return self.case(level),
                    _ => {}
                }
                if self.is_sym("(") {
                    self.pos += 1;
                    return self.call(&upper, level);
                }
                if is_reserved(&word) {
                    return Err(SelectError::new(
                        "ParseUnExpectedKeyword",
                        "The SQL expression contains an unexpected keyword.",
                    ));
                }
                let mut steps = vec![Step::Field {
                    name: word,
                    quoted: false,
                }];
                steps.extend(self.steps()?);
                self.path(steps)
            }
            Tok::Sym(_) => Err(expected_expression()),
        }
    }

    fn path(&mut self, steps: Vec<Step>) -> Result<P, SelectError> {
        let d = steps.len();
        self.node(Expr::Path(steps), d.max(1))
    }

    fn cast(&mut self, level: usize) -> Result<P, SelectError> {
        if !self.eat_sym("(") {
            return Err(SelectError::new(
                "ParseExpectedLeftParenAfterCast",
                "The expected left parenthesis after CAST in the SQL expression was not found.",
            ));
        }
        let (e, d) = self.nest(level, Self::expr)?;
        if !self.eat_kw("AS") {
            return Err(SelectError::new(
                "ParseCastArity",
                "The SQL expression CAST has incorrect arity.",
            ));
        }
        let ty = match self.next() {
            Some(Tok::Ident(t)) => match t.to_ascii_uppercase().as_str() {
                "INT" | "INTEGER" | "BIGINT" | "SMALLINT" => CastType::Int,
                "FLOAT" | "REAL" => CastType::Float,
                "DOUBLE" => {
                    self.eat_kw("PRECISION");
                    CastType::Float
                }
                "DECIMAL" | "NUMERIC" => CastType::Decimal,
                "STRING" | "VARCHAR" | "CHAR" | "CHARACTER" => CastType::String,
                "BOOL" | "BOOLEAN" => CastType::Bool,
                "TIMESTAMP" => CastType::Timestamp,
                _ => return Err(expected_type()),
            },
            _ => return Err(expected_type()),
        };
        // A precision and scale (`DECIMAL(10, 2)`, `VARCHAR(20)`) are accepted and not applied.
        if self.eat_sym("(") {
            while !self.eat_sym(")") {
                match self.next() {
                    Some(Tok::Int(_)) | Some(Tok::Sym(",")) => {}
                    _ => {
                        return Err(SelectError::new(
                            "ParseInvalidTypeParam",
                            "The SQL expression contains an invalid parameter value.",
                        ));
                    }
                }
            }
        }
        if !self.eat_sym(")") {
            return Err(SelectError::new(
                "ParseExpectedRightParenBuiltinFunctionCall",
                "The expected right parenthesis character in the SQL expression was not found.",
            ));
        }
        self.node(Expr::Cast(Box::new(e), ty), d + 1)
    }

    fn case(&mut self, level: usize) -> Result<P, SelectError> {
        let mut depth = 0;
        let operand = if self.is_kw("WHEN") {
            None
        } else {
            let (e, d) = self.nest(level, Self::expr)?;
            depth = d;
            Some(Box::new(e))
        };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let (w, wd) = self.nest(level, Self::expr)?;
            self.expect_kw("THEN")?;
            let (t, td) = self.nest(level, Self::expr)?;
            depth = depth.max(wd).max(td);
            whens.push((w, t));
        }
        if whens.is_empty() {
            return Err(SelectError::new(
                "ParseExpectedWhenClause",
                "Expected WHEN clause in the SQL expression was not found.",
            ));
        }
        let otherwise = if self.eat_kw("ELSE") {
            let (e, d) = self.nest(level, Self::expr)?;
            depth = depth.max(d);
            Some(Box::new(e))
        } else {
            None
        };
        self.expect_kw("END")?;
        self.node(
            Expr::Case {
                operand,
                whens,
                otherwise,
            },
            depth + 1,
        )
    }

    /// A function call; the `(` is consumed.
    fn call(&mut self, name: &str, level: usize) -> Result<P, SelectError> {
        let agg = match name {
            "COUNT" => Some(AggFunc::Count),
            "SUM" => Some(AggFunc::Sum),
            "AVG" => Some(AggFunc::Avg),
            "MIN" => Some(AggFunc::Min),
            "MAX" => Some(AggFunc::Max),
            _ => None,
        };
        if let Some(func) = agg {
            if !self.aggregates_allowed || self.in_aggregate {
                return Err(SelectError::new(
                    "UnsupportedSqlOperation",
                    "We encountered an unsupported SQL operation.",
                ));
            }
            let arg = if self.is_sym("*") {
                if func != AggFunc::Count {
                    return Err(SelectError::new(
                        "ParseUnsupportedCallWithStar",
                        "Only COUNT with (*) as a parameter is supported in the SQL expression.",
                    ));
                }
                self.pos += 1;
                None
            } else {
                self.in_aggregate = true;
                let r = self.nest(level, Self::expr);
                self.in_aggregate = false;
                Some(r?.0)
            };
            if self.is_sym(",") {
                return Err(SelectError::new(
                    "ParseNonUnaryAgregateFunctionCall",
                    "Only one argument is supported for aggregate functions in the SQL expression.",
                ));
            }
            self.expect_sym(")", right_paren)?;
            let index = self.aggregates.len();
            self.aggregates.push(Aggregate { func, arg });
            return self.node(Expr::Agg(index), 2);
        }
        let (func, arity): (Func, std::ops::RangeInclusive<usize>) = match name {
            "LOWER" => (Func::Lower, 1..=1),
            "UPPER" => (Func::Upper, 1..=1),
            "CHAR_LENGTH" | "CHARACTER_LENGTH" => (Func::CharLength, 1..=1),
            "COALESCE" => (Func::Coalesce, 1..=64),
            "NULLIF" => (Func::NullIf, 2..=2),
            "SUBSTRING" => return self.substring(level),
            "TRIM" => return self.trim(level),
            "TO_TIMESTAMP" => (Func::ToTimestamp, 1..=1),
            "TO_STRING" => (Func::ToString, 2..=2),
            "UTCNOW" => (Func::UtcNow, 0..=0),
            "DATE_ADD" => (Func::DateAdd(self.date_part(true)?), 2..=2),
            "DATE_DIFF" => (Func::DateDiff(self.date_part(true)?), 2..=2),
            "EXTRACT" => return self.extract(level),
            _ => {
                return Err(SelectError::new(
                    "UnsupportedFunction",
                    "We encountered an unsupported SQL function.",
                ));
            }
        };
        let mut args = Vec::new();
        let mut depth = 0;
        if !self.eat_sym(")") {
            loop {
                let (e, d) = self.nest(level, Self::expr)?;
                depth = depth.max(d);
                args.push(e);
                if self.eat_sym(")") {
                    break;
                }
                self.expect_sym(",", || {
                    SelectError::new(
                        "ParseExpectedArgumentDelimiter",
                        "The expected argument delimiter in the SQL expression was not found.",
                    )
                })?;
            }
        }
        if !arity.contains(&args.len()) {
            return Err(invalid_arguments());
        }
        self.node(Expr::Call(func, args), depth + 1)
    }

    /// The date part DATE_ADD, DATE_DIFF and EXTRACT name first (with the `,` after it for the
    /// first two, when `comma`).
    fn date_part(&mut self, comma: bool) -> Result<DatePart, SelectError> {
        let part = match self.next() {
            Some(Tok::Ident(w)) => DatePart::parse(&w),
            _ => None,
        }
        .ok_or_else(|| {
            SelectError::new(
                "ParseExpectedDatePart",
                "Did not find the expected date part in the SQL expression.",
            )
        })?;
        if comma {
            self.expect_sym(",", || {
                SelectError::new(
                    "ParseExpectedArgumentDelimiter",
                    "The expected argument delimiter in the SQL expression was not found.",
                )
            })?;
        }
        Ok(part)
    }

    /// `EXTRACT(part FROM timestamp)`.
    fn extract(&mut self, level: usize) -> Result<P, SelectError> {
        let part = self.date_part(false)?;
        self.expect_kw("FROM")?;
        let (e, d) = self.nest(level, Self::expr)?;
        self.expect_sym(")", right_paren)?;
        self.node(Expr::Call(Func::Extract(part), vec![e]), d + 1)
    }

    /// `SUBSTRING(s, start[, length])` or `SUBSTRING(s FROM start [FOR length])`.
    fn substring(&mut self, level: usize) -> Result<P, SelectError> {
        let (s, mut depth) = self.nest(level, Self::expr)?;
        let from_form = self.eat_kw("FROM");
        if !from_form {
            self.expect_sym(",", invalid_arguments)?;
        }
        let (start, d) = self.nest(level, Self::expr)?;
        depth = depth.max(d);
        let mut args = vec![s, start];
        if (from_form && self.eat_kw("FOR")) || (!from_form && self.eat_sym(",")) {
            let (len, d) = self.nest(level, Self::expr)?;
            depth = depth.max(d);
            args.push(len);
        }
        self.expect_sym(")", right_paren)?;
        self.node(Expr::Call(Func::Substring, args), depth + 1)
    }

    /// `TRIM([[LEADING|TRAILING|BOTH] [chars] FROM] s)`.
    fn trim(&mut self, level: usize) -> Result<P, SelectError> {
        let spec = if self.eat_kw("LEADING") {
            Some(TrimSpec::Leading)
        } else if self.eat_kw("TRAILING") {
            Some(TrimSpec::Trailing)
        } else if self.eat_kw("BOTH") {
            Some(TrimSpec::Both)
        } else {
            None
        };
        let mut depth = 0;
        let mut args = Vec::new();
        if spec.is_some() && self.eat_kw("FROM") {
            let (s, d) = self.nest(level, Self::expr)?;
            depth = d;
            args.push(s);
        } else {
            let (first, d) = self.nest(level, Self::expr)?;
            depth = depth.max(d);
            if self.eat_kw("FROM") {
                let (s, d) = self.nest(level, Self::expr)?;
                depth = depth.max(d);
                args.push(s);
                args.push(first);
            } else if spec.is_some() {
                return Err(SelectError::new(
                    "ParseExpectedKeyword",
                    "The expected keyword in the SQL expression was not found.",
                ));
            } else {
                args.push(first);
            }
        }
        self.expect_sym(")", right_paren)?;
        self.node(
            Expr::Call(Func::Trim(spec.unwrap_or(TrimSpec::Both)), args),
            depth + 1,
        )
    }
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn unsupported_syntax() -> SelectError {
    SelectError::new(
        "ParseUnsupportedSyntax",
        "The SQL expression contains unsupported syntax.",
    )
}

fn expected_type() -> SelectError {
    SelectError::new(
        "ParseExpectedTypeName",
        "The expected type name in the SQL expression was not found.",
    )
}

fn right_paren() -> SelectError {
    SelectError::new(
        "ParseExpectedRightParenBuiltinFunctionCall",
        "The expected right parenthesis character in the SQL expression was not found.",
    )
}

fn invalid_arguments() -> SelectError {
    SelectError::new(
        "EvaluatorInvalidArguments",
        "There is an incorrect number of arguments in the function call in the SQL expression.",
    )
}

/// Whether a select-list item reads a record outside of an aggregate (not allowed beside
/// aggregates: S3 Select has no GROUP BY).
fn refers_outside_aggregates(e: &Expr) -> bool {
    match e {
        Expr::Path(_) => true,
        Expr::Lit(_) | Expr::Agg(_) => false,
        Expr::Neg(a) | Expr::Not(a) | Expr::Cast(a, _) => refers_outside_aggregates(a),
        Expr::Binary(_, a, b) => refers_outside_aggregates(a) || refers_outside_aggregates(b),
        Expr::Like {
            expr,
            pattern,
            escape,
            ..
        } => {
            refers_outside_aggregates(expr)
                || refers_outside_aggregates(pattern)
                || escape.as_deref().is_some_and(refers_outside_aggregates)
        }
        Expr::In { expr, list, .. } => {
            refers_outside_aggregates(expr) || list.iter().any(refers_outside_aggregates)
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            refers_outside_aggregates(expr)
                || refers_outside_aggregates(low)
                || refers_outside_aggregates(high)
        }
        Expr::Is { expr, .. } => refers_outside_aggregates(expr),
        Expr::Call(_, args) => args.iter().any(refers_outside_aggregates),
        Expr::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(refers_outside_aggregates)
                || whens
                    .iter()
                    .any(|(w, t)| refers_outside_aggregates(w) || refers_outside_aggregates(t))
                || otherwise.as_deref().is_some_and(refers_outside_aggregates)
        }
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;

//! The parsed form of an S3 Select query.

pub use super::time::DatePart;
use super::value::Value;

/// One step of a path: `.name`, `."Name"`, `[3]`, `[*]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Field { name: String, quoted: bool },
    Index(i64),
    Wildcard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastType {
    Int,
    Float,
    Decimal,
    String,
    Bool,
    Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Lower,
    Upper,
    CharLength,
    Substring,
    Trim(TrimSpec),
    Coalesce,
    NullIf,
    ToTimestamp,
    ToString,
    UtcNow,
    DateAdd(DatePart),
    DateDiff(DatePart),
    Extract(DatePart),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimSpec {
    Both,
    Leading,
    Trailing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Lit(Value),
    Path(Vec<Step>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `IS [NOT] NULL` (`missing: false`) or `IS [NOT] MISSING`.
    Is {
        expr: Box<Expr>,
        missing: bool,
        negated: bool,
    },
    Cast(Box<Expr>, CastType),
    Call(Func, Vec<Expr>),
    /// The `index`th aggregate of the query (its value once every record is seen).
    Agg(usize),
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
}

/// An aggregate of the select list: its function and argument (`None`: `COUNT(*)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub func: AggFunc,
    pub arg: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Projection {
    Star,
    Items(Vec<(Expr, Option<String>)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub projection: Projection,
    /// The path after `S3Object` (`[*]`, `.Rules[*]`, ...).
    pub from: Vec<Step>,
    pub alias: Option<String>,
    pub filter: Option<Expr>,
    pub limit: Option<u64>,
    pub aggregates: Vec<Aggregate>,
}

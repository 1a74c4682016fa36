//! The DynamoDB expression language: condition and filter expressions, key conditions,
//! projections and update expressions — parsing (with DynamoDB's validation messages),
//! evaluation against items and application of updates.
//!
//! Every expression of a request is parsed with the request's [`Placeholders`], which resolve
//! `#name` / `:value` placeholders and remember which were used, so that the request can be
//! rejected for unused ones ([`Placeholders::check_unused`]) as DynamoDB does.
//!
//! - `parse_condition` / `parse_filter` → [`Condition`] (`eval`), `parse_update` → [`Update`]
//!   (`apply`, `paths` for UPDATED_OLD/NEW), `parse_projection` → paths for [`project`],
//!   `parse_key_condition` → [`KeyCondition`] (`validate_key_condition` makes its schema-free
//!   checks alone, for before the table lookup).
//! - `legacy`: `Expected`, `QueryFilter`/`ScanFilter`, `KeyConditions`, `AttributeUpdates` and
//!   `AttributesToGet` translated into the same types.
//! - Errors: DynamoDB's messages, and — when an expression has several problems — the one
//!   DynamoDB reports (see the ranking in `parse`). Messages were checked against suites that
//!   run against DynamoDB itself where one was found; the rest follow DynamoDB's style.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::value::{AttributeValue, Item};

mod eval;
mod key_condition;
mod legacy;
pub use legacy::OPERATORS as LEGACY_OPERATORS;
mod lex;
mod parse;
mod reserved;
#[cfg(test)]
mod tests;

pub use eval::project;
pub use key_condition::{parse_key_condition, validate_key_condition};
pub use legacy::{
    condition_from_expected, condition_from_filter, key_condition_from_legacy,
    paths_from_attributes_to_get, update_from_attribute_updates,
};
pub use parse::{parse_condition, parse_filter, parse_projection, parse_update};
pub use reserved::is_reserved;

/// A validation failure; the message is DynamoDB's `ValidationException` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError(pub String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

/// Longest expression DynamoDB accepts (4 KB).
pub const MAX_EXPRESSION_LEN: usize = 4096;
/// Most operands of one IN.
pub const MAX_IN_OPERANDS: usize = 100;
/// Most operators and functions in one expression.
pub const MAX_OPERATORS: usize = 300;
/// Deepest document path (levels of nesting, as for values).
pub const MAX_PATH_DEPTH: usize = 32;
/// Deepest nesting of parentheses, NOT and function calls (bounds the parser's recursion).
pub const MAX_NESTING: usize = 64;

/// Which request parameter an expression came from (it names the parameter in messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Update,
    Projection,
}

impl Kind {
    pub(crate) fn param(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Update => "UpdateExpression",
            Kind::Projection => "ProjectionExpression",
        }
    }

    /// `Invalid <Param>: <msg>`
    pub(crate) fn err(self, msg: impl fmt::Display) -> ExprError {
        ExprError(format!("Invalid {}: {msg}", self.param()))
    }
}

/// The placeholders of one request (`ExpressionAttributeNames` / `ExpressionAttributeValues`);
/// tracks which were used so the request can fail on unused ones.
#[derive(Debug)]
pub struct Placeholders<'a> {
    names: Option<&'a BTreeMap<String, String>>,
    values: Option<&'a BTreeMap<String, AttributeValue>>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl<'a> Placeholders<'a> {
    pub fn new(
        names: Option<&'a BTreeMap<String, String>>,
        values: Option<&'a BTreeMap<String, AttributeValue>>,
    ) -> Self {
        Placeholders {
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    pub(crate) fn name(&mut self, key: &str, kind: Kind) -> Result<String, ExprError> {
        match self.names.and_then(|m| m.get(key)) {
            Some(n) => {
                self.used_names.insert(key.to_string());
                Ok(n.clone())
            }
            None => Err(kind.err(format_args!(
                "An expression attribute name used in the document path is not defined; attribute name: {key}"
            ))),
        }
    }

    pub(crate) fn value(&mut self, key: &str, kind: Kind) -> Result<AttributeValue, ExprError> {
        match self.values.and_then(|m| m.get(key)) {
            Some(v) => {
                self.used_values.insert(key.to_string());
                Ok(v.clone())
            }
            None => Err(kind.err(format_args!(
                "An expression attribute value used in expression is not defined; attribute value: {key}"
            ))),
        }
    }

    /// After every expression of the request is parsed: fails with DynamoDB's message when a
    /// name or value placeholder was given but not used.
    pub fn check_unused(&self) -> Result<(), ExprError> {
        if let Some(names) = self.names {
            let unused: Vec<&str> = names
                .keys()
                .filter(|k| !self.used_names.contains(*k))
                .map(String::as_str)
                .collect();
            if !unused.is_empty() {
                return Err(ExprError(format!(
                    "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                    unused.join(", ")
                )));
            }
        }
        if let Some(values) = self.values {
            let unused: Vec<&str> = values
                .keys()
                .filter(|k| !self.used_values.contains(*k))
                .map(String::as_str)
                .collect();
            if !unused.is_empty() {
                return Err(ExprError(format!(
                    "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                    unused.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Whether `key` is a well-formed expression placeholder: `sigil` (`#` for names, `:` for values)
/// followed by one or more ASCII letters, digits or `_`.
pub fn is_placeholder(key: &str, sigil: char) -> bool {
    key.strip_prefix(sigil).is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
    })
}

/// Validates `ExpressionAttributeNames` (keys `#name`, non-empty map) with DynamoDB's messages.
pub fn validate_names(names: &BTreeMap<String, String>) -> Result<(), ExprError> {
    if names.is_empty() {
        return Err(ExprError(
            "ExpressionAttributeNames must not be empty".to_string(),
        ));
    }
    for k in names.keys() {
        if !is_placeholder(k, '#') {
            return Err(ExprError(format!(
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
            )));
        }
    }
    Ok(())
}

/// One step of a document path after the attribute name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// A document path: an attribute name, then `.field` / `[index]` steps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    top: String,
    steps: Vec<Step>,
}

impl Path {
    /// A path of one top-level attribute.
    pub fn attr(name: impl Into<String>) -> Path {
        Path {
            top: name.into(),
            steps: Vec::new(),
        }
    }

    /// A path of an attribute name and steps (PartiQL builds its paths with it).
    pub(crate) fn new(top: String, steps: Vec<Step>) -> Path {
        Path { top, steps }
    }

    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        &self.top
    }

    /// The steps after the attribute name.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether `self` is `other` or a prefix of it.
    pub(crate) fn is_prefix_of(&self, other: &Path) -> bool {
        self.top == other.top
            && self.steps.len() <= other.steps.len()
            && self.steps.iter().zip(&other.steps).all(|(a, b)| a == b)
    }

    /// Whether the two paths diverge where one indexes a list and the other names a map field.
    pub(crate) fn conflicts_with(&self, other: &Path) -> bool {
        if self.top != other.top {
            return false;
        }
        for (a, b) in self.steps.iter().zip(&other.steps) {
            match (a, b) {
                (Step::Field(x), Step::Field(y)) if x == y => continue,
                (Step::Index(x), Step::Index(y)) if x == y => continue,
                (Step::Field(_), Step::Index(_)) | (Step::Index(_), Step::Field(_)) => {
                    return true;
                }
                _ => return false,
            }
        }
        false
    }
}

impl fmt::Display for Path {
    /// DynamoDB's rendering in messages: `[a, b, [2]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.top)?;
        for s in &self.steps {
            match s {
                Step::Field(n) => write!(f, ", {n}")?,
                Step::Index(i) => write!(f, ", [{i}]")?,
            }
        }
        f.write_str("]")
    }
}

/// An operand of a comparison or function.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttributeValue),
    Size(Path),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The tree of a condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    /// All of the conditions, in order (n-ary: `a AND b AND c` and a legacy map of any size
    /// are one flat node, so neither evaluation nor drop recurses once per condition).
    And(Vec<Node>),
    /// Any of the conditions, in order.
    Or(Vec<Node>),
    Not(Box<Node>),
    Exists(Path),
    NotExists(Path),
    Type(Path, String),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    /// A constant (an empty legacy condition map is true).
    Const(bool),
}

/// A parsed condition or filter expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    root: Node,
}

impl Condition {
    /// A condition of a tree built elsewhere (PartiQL's WHERE clauses).
    pub(crate) fn from_node(root: Node) -> Condition {
        Condition { root }
    }

    /// Whether `item` satisfies the condition (a missing item is an empty map).
    pub fn eval(&self, item: &Item) -> Result<bool, ExprError> {
        Ok(eval::eval(&self.root, item))
    }

    /// The top-level attribute names the condition refers to (sorted, unique).
    pub fn top_level_names(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        collect_names(&self.root, &mut out);
        out.into_iter().collect()
    }
}

fn collect_names(n: &Node, out: &mut BTreeSet<String>) {
    let op = |o: &Operand, out: &mut BTreeSet<String>| {
        if let Operand::Path(p) | Operand::Size(p) = o {
            out.insert(p.top.clone());
        }
    };
    match n {
        Node::Cmp(a, _, b) | Node::BeginsWith(a, b) | Node::Contains(a, b) => {
            op(a, out);
            op(b, out);
        }
        Node::Between(a, b, c) => {
            op(a, out);
            op(b, out);
            op(c, out);
        }
        Node::In(a, list) => {
            op(a, out);
            for o in list {
                op(o, out);
            }
        }
        Node::And(list) | Node::Or(list) => {
            for n in list {
                collect_names(n, out);
            }
        }
        Node::Not(a) => collect_names(a, out),
        Node::Exists(p) | Node::NotExists(p) | Node::Type(p, _) => {
            out.insert(p.top.clone());
        }
        Node::Const(_) => {}
    }
}

/// An operand of a SET action's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SetOperand {
    Path(Path),
    Value(AttributeValue),
    IfNotExists(Path, Box<SetOperand>),
    ListAppend(Box<SetOperand>, Box<SetOperand>),
}

/// The value of a SET action.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SetValue {
    Operand(SetOperand),
    Plus(SetOperand, SetOperand),
    Minus(SetOperand, SetOperand),
}

/// A parsed update expression.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Update {
    set: Vec<(Path, SetValue)>,
    remove: Vec<Path>,
    add: Vec<(Path, AttributeValue)>,
    delete: Vec<(Path, AttributeValue)>,
    /// Built from legacy `AttributeUpdates` (whose type errors DynamoDB words differently).
    legacy: bool,
}

impl Update {
    /// An update of actions built elsewhere (PartiQL's UPDATE statements).
    pub(crate) fn from_actions(
        set: Vec<(Path, SetValue)>,
        remove: Vec<Path>,
        add: Vec<(Path, AttributeValue)>,
        delete: Vec<(Path, AttributeValue)>,
    ) -> Update {
        Update {
            set,
            remove,
            add,
            delete,
            legacy: false,
        }
    }

    /// Applies SET, REMOVE, ADD and DELETE to `item` (all right-hand sides are evaluated against
    /// the item as it was). On error the item is left unchanged.
    pub fn apply(&self, item: &mut Item) -> Result<(), ExprError> {
        eval::apply(self, item)
    }

    /// The top-level attribute names the update writes (sorted, unique).
    pub fn top_level_names(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.targets().map(|p| p.top.clone()).collect();
        set.into_iter().collect()
    }

    /// The document paths the update writes, in expression order. `project(item, &paths)` on
    /// the old and new item gives DynamoDB's `UPDATED_OLD` / `UPDATED_NEW`.
    pub fn paths(&self) -> Vec<Path> {
        self.targets().cloned().collect()
    }

    fn targets(&self) -> impl Iterator<Item = &Path> + Clone {
        self.set
            .iter()
            .map(|(p, _)| p)
            .chain(&self.remove)
            .chain(self.add.iter().map(|(p, _)| p))
            .chain(self.delete.iter().map(|(p, _)| p))
    }
}

/// A parsed key condition expression.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCondition {
    pub hash_name: String,
    pub hash_value: AttributeValue,
    pub range: Option<(String, RangeCond)>,
}

/// The condition on the range (sort) key of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeCond {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl RangeCond {
    /// Whether a sort key value satisfies the condition (values of another type never do).
    pub fn matches(&self, v: &AttributeValue) -> bool {
        use super::value::compare;
        use std::cmp::Ordering::*;
        match self {
            RangeCond::Eq(x) => compare(v, x) == Some(Equal),
            RangeCond::Lt(x) => compare(v, x) == Some(Less),
            RangeCond::Le(x) => matches!(compare(v, x), Some(Less | Equal)),
            RangeCond::Gt(x) => compare(v, x) == Some(Greater),
            RangeCond::Ge(x) => matches!(compare(v, x), Some(Greater | Equal)),
            RangeCond::Between(lo, hi) => {
                matches!(compare(v, lo), Some(Greater | Equal))
                    && matches!(compare(v, hi), Some(Less | Equal))
            }
            RangeCond::BeginsWith(p) => eval::begins_with(v, p),
        }
    }
}

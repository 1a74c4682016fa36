//! The PartiQL parser: DynamoDB's subset (SELECT, INSERT, UPDATE, DELETE, and EXISTS for
//! transactions). WHERE clauses are parsed into the expression language's condition tree
//! (`expr::Node`), SET/REMOVE into its update actions, so evaluation is the expression evaluator's.
//!
//! Recursive descent; every recursion (parentheses, NOT, nested literals) counts against
//! [`MAX_NESTING`], and parameters (`?`) are substituted as they are met.

use crate::expr::{CmpOp, Node, Operand, Path, SetOperand, SetValue, Step};
use crate::value::{AttributeValue, Item, Number};

use super::lex::{Tok, Token, lex};
use super::{MAX_NESTING, MAX_STATEMENT_LEN};

/// What a RETURNING clause asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returning {
    AllOld,
    ModifiedOld,
    AllNew,
    ModifiedNew,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// `None` is `*`.
    pub projection: Option<Vec<Path>>,
    pub table: String,
    pub index: Option<String>,
    pub cond: Option<Node>,
    /// ORDER BY: descending.
    pub descending: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateStmt {
    pub table: String,
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, AttributeValue)>,
    pub delete: Vec<(Path, AttributeValue)>,
    pub cond: Node,
    pub returning: Option<Returning>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    Select(Select),
    Insert {
        table: String,
        item: Item,
    },
    Update(UpdateStmt),
    Delete {
        table: String,
        cond: Node,
        returning: Option<Returning>,
    },
    /// `EXISTS(SELECT * FROM t WHERE …)`: a condition check of a transaction.
    Exists(Select),
}

impl Stmt {
    pub fn table(&self) -> &str {
        match self {
            Stmt::Select(s) | Stmt::Exists(s) => &s.table,
            Stmt::Insert { table, .. } | Stmt::Delete { table, .. } => table,
            Stmt::Update(u) => &u.table,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Stmt::Select(_))
    }
}

/// DynamoDB's message for a statement it cannot parse.
pub fn malformed(detail: impl std::fmt::Display) -> String {
    format!("Statement wasn't well formed, can't be processed: {detail}")
}

/// Parse `src` with its parameters.
pub fn parse(src: &str, params: &[AttributeValue]) -> Result<Stmt, String> {
    if src.len() > MAX_STATEMENT_LEN {
        return Err(format!(
            "1 validation error detected: Value at 'statement' failed to satisfy constraint: Member must have length less than or equal to {MAX_STATEMENT_LEN}"
        ));
    }
    let toks = lex(src).map_err(malformed)?;
    let mut p = Parser {
        toks,
        at: 0,
        params,
        next_param: 0,
        depth: 0,
    };
    let stmt = p.statement()?;
    p.eat_punct(";");
    if let Some(t) = p.peek() {
        return Err(malformed(format!("Unexpected token {}", describe(&t.tok))));
    }
    if p.next_param != params.len() {
        return Err("Number of parameters in request and statement don't match.".into());
    }
    Ok(stmt)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Num(s) => s.clone(),
        Tok::Quoted(s) => format!("\"{s}\""),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Param => "?".into(),
        Tok::Punct(p) => (*p).to_string(),
    }
}

struct Parser<'a> {
    toks: Vec<Token>,
    at: usize,
    params: &'a [AttributeValue],
    next_param: usize,
    depth: usize,
}

type R<T> = Result<T, String>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn next(&mut self) -> R<Tok> {
        match self.toks.get(self.at) {
            Some(t) => {
                self.at += 1;
                Ok(t.tok.clone())
            }
            None => Err(malformed("Unexpected end of statement")),
        }
    }

    fn unexpected<T>(&self) -> R<T> {
        Err(match self.peek() {
            Some(t) => malformed(format!("Unexpected token {}", describe(&t.tok))),
            None => malformed("Unexpected end of statement"),
        })
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek_tok(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.at + off).map(|t| &t.tok), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let y = self.is_kw(kw);
        if y {
            self.at += 1;
        }
        y
    }

    fn kw(&mut self, kw: &str) -> R<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            self.unexpected()
        }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek_tok(), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let y = self.is_punct(p);
        if y {
            self.at += 1;
        }
        y
    }

    fn punct(&mut self, p: &str) -> R<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.unexpected()
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(malformed(format!(
                "Statement nesting exceeds the maximum depth of {MAX_NESTING}"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn param(&mut self) -> R<AttributeValue> {
        let i = self.next_param;
        self.next_param += 1;
        self.params
            .get(i)
            .cloned()
            .ok_or_else(|| "Number of parameters in request and statement don't match.".into())
    }

    fn statement(&mut self) -> R<Stmt> {
        if self.eat_kw("SELECT") {
            return Ok(Stmt::Select(self.select()?));
        }
        if self.eat_kw("EXISTS") {
            self.punct("(")?;
            self.kw("SELECT")?;
            let s = self.select()?;
            self.punct(")")?;
            return Ok(Stmt::Exists(s));
        }
        if self.eat_kw("INSERT") {
            self.kw("INTO")?;
            let table = self.name()?;
            self.kw("VALUE")?;
            let v = self.literal()?;
            let AttributeValue::M(item) = v else {
                return Err(malformed("INSERT VALUE must be a tuple"));
            };
            return Ok(Stmt::Insert { table, item });
        }
        if self.eat_kw("UPDATE") {
            return self.update();
        }
        if self.eat_kw("DELETE") {
            self.kw("FROM")?;
            let table = self.name()?;
            self.kw("WHERE")?;
            let cond = self.condition()?;
            let returning = self.returning()?;
            if matches!(returning, Some(r) if r != Returning::AllOld) {
                return Err(malformed(
                    "DELETE supports only RETURNING ALL OLD *".to_string(),
                ));
            }
            return Ok(Stmt::Delete {
                table,
                cond,
                returning,
            });
        }
        self.unexpected()
    }

    /// A table or attribute name: bare or double-quoted.
    fn name(&mut self) -> R<String> {
        match self.peek_tok() {
            Some(Tok::Ident(s)) | Some(Tok::Quoted(s)) => {
                let s = s.clone();
                self.at += 1;
                Ok(s)
            }
            _ => self.unexpected(),
        }
    }

    fn select(&mut self) -> R<Select> {
        let projection = if self.eat_punct("*") {
            None
        } else {
            let mut paths = vec![self.path()?];
            while self.eat_punct(",") {
                paths.push(self.path()?);
            }
            Some(paths)
        };
        self.kw("FROM")?;
        let table = self.name()?;
        let index = if self.eat_punct(".") {
            Some(self.name()?)
        } else {
            None
        };
        let cond = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut descending = false;
        if self.eat_kw("ORDER") {
            self.kw("BY")?;
            self.path()?;
            if self.eat_kw("DESC") {
                descending = true;
            } else {
                self.eat_kw("ASC");
            }
        }
        Ok(Select {
            projection,
            table,
            index,
            cond,
            descending,
        })
    }

    fn update(&mut self) -> R<Stmt> {
        let table = self.name()?;
        let mut u = UpdateStmt {
            table,
            set: Vec::new(),
            remove: Vec::new(),
            add: Vec::new(),
            delete: Vec::new(),
            cond: Node::Const(true),
            returning: None,
        };
        let mut any = false;
        loop {
            if self.eat_kw("SET") {
                loop {
                    self.set_action(&mut u)?;
                    if !self.eat_punct(",") {
                        break;
                    }
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    u.remove.push(self.path()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
            } else {
                break;
            }
            any = true;
        }
        if !any {
            return self.unexpected();
        }
        self.kw("WHERE")?;
        u.cond = self.condition()?;
        u.returning = self.returning()?;
        Ok(Stmt::Update(u))
    }

    fn set_action(&mut self, u: &mut UpdateStmt) -> R<()> {
        let target = self.path()?;
        self.punct("=")?;
        // set_add / set_delete are ADD and DELETE of the expression language.
        for (f, add) in [("set_add", true), ("set_delete", false)] {
            if self.is_kw(f)
                && matches!(
                    self.toks.get(self.at + 1).map(|t| &t.tok),
                    Some(Tok::Punct("("))
                )
            {
                self.at += 2;
                let p = self.path()?;
                if p != target {
                    return Err(malformed(format!(
                        "The first argument of {f} must be the path being set"
                    )));
                }
                self.punct(",")?;
                let v = self.literal()?;
                self.punct(")")?;
                if add {
                    u.add.push((target, v));
                } else {
                    u.delete.push((target, v));
                }
                return Ok(());
            }
        }
        let a = self.set_operand()?;
        let v = if self.eat_punct("+") {
            SetValue::Plus(a, self.set_operand()?)
        } else if self.eat_punct("-") {
            SetValue::Minus(a, self.set_operand()?)
        } else {
            SetValue::Operand(a)
        };
        u.set.push((target, v));
        Ok(())
    }

    fn set_operand(&mut self) -> R<SetOperand> {
        self.enter()?;
        let r = self.set_operand_inner();
        self.leave();
        r
    }

    fn set_operand_inner(&mut self) -> R<SetOperand> {
        let call = matches!(
            self.toks.get(self.at + 1).map(|t| &t.tok),
            Some(Tok::Punct("("))
        );
        if call && self.is_kw("list_append") {
            self.at += 2;
            let a = self.set_operand()?;
            self.punct(",")?;
            let b = self.set_operand()?;
            self.punct(")")?;
            return Ok(SetOperand::ListAppend(Box::new(a), Box::new(b)));
        }
        if call && self.is_kw("if_not_exists") {
            self.at += 2;
            let p = self.path()?;
            self.punct(",")?;
            let b = self.set_operand()?;
            self.punct(")")?;
            return Ok(SetOperand::IfNotExists(p, Box::new(b)));
        }
        if self.is_name() {
            return Ok(SetOperand::Path(self.path()?));
        }
        Ok(SetOperand::Value(self.literal()?))
    }

    fn returning(&mut self) -> R<Option<Returning>> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else if self.eat_kw("MODIFIED") {
            false
        } else {
            return self.unexpected();
        };
        let old = if self.eat_kw("OLD") {
            true
        } else if self.eat_kw("NEW") {
            false
        } else {
            return self.unexpected();
        };
        self.punct("*")?;
        Ok(Some(match (all, old) {
            (true, true) => Returning::AllOld,
            (false, true) => Returning::ModifiedOld,
            (true, false) => Returning::AllNew,
            (false, false) => Returning::ModifiedNew,
        }))
    }

    /// Whether the next token starts a path (a name that is not a literal keyword).
    fn is_name(&self) -> bool {
        match self.peek_tok() {
            Some(Tok::Quoted(_)) => true,
            Some(Tok::Ident(s)) => !["TRUE", "FALSE", "NULL", "MISSING"]
                .iter()
                .any(|k| s.eq_ignore_ascii_case(k)),
            _ => false,
        }
    }

    /// A document path: a name, then `.name`, `[n]` or `['name']` steps.
    fn path(&mut self) -> R<Path> {
        if !self.is_name() {
            return self.unexpected();
        }
        let top = self.name()?;
        let mut steps = Vec::new();
        loop {
            if self.is_punct(".")
                && !matches!(
                    self.toks.get(self.at + 1).map(|t| &t.tok),
                    Some(Tok::Punct("*"))
                )
            {
                self.at += 1;
                steps.push(Step::Field(self.name()?));
            } else if self.eat_punct("[") {
                match self.next()? {
                    Tok::Num(n) => {
                        let i: usize = n
                            .parse()
                            .map_err(|_| malformed(format!("Invalid list index {n}")))?;
                        steps.push(Step::Index(i));
                    }
                    Tok::Str(s) => steps.push(Step::Field(s)),
                    t => return Err(malformed(format!("Unexpected token {}", describe(&t)))),
                }
                self.punct("]")?;
            } else {
                break;
            }
            if steps.len() > crate::expr::MAX_PATH_DEPTH {
                return Err(malformed("Document path is too deep"));
            }
        }
        Ok(Path::new(top, steps))
    }

    /// A literal value: string, number, TRUE/FALSE, NULL, `?`, `{…}` tuple, `[…]` list, `<<…>>` set.
    fn literal(&mut self) -> R<AttributeValue> {
        self.enter()?;
        let r = self.literal_inner();
        self.leave();
        r
    }

    fn literal_inner(&mut self) -> R<AttributeValue> {
        let t = self.next()?;
        Ok(match t {
            Tok::Str(s) => AttributeValue::S(s),
            Tok::Num(n) => AttributeValue::N(number(&n)?),
            Tok::Punct("-") => match self.next()? {
                Tok::Num(n) => AttributeValue::N(number(&format!("-{n}"))?),
                t => return Err(malformed(format!("Unexpected token {}", describe(&t)))),
            },
            Tok::Param => self.param()?,
            Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => AttributeValue::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => AttributeValue::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("NULL") => AttributeValue::Null,
            Tok::Punct("{") => {
                let mut m = Item::new();
                if !self.eat_punct("}") {
                    loop {
                        let k = match self.next()? {
                            Tok::Str(s) | Tok::Quoted(s) => s,
                            Tok::Param => match self.param()? {
                                AttributeValue::S(s) => s,
                                _ => return Err(malformed("Tuple keys must be strings")),
                            },
                            t => {
                                return Err(malformed(format!(
                                    "Unexpected token {}",
                                    describe(&t)
                                )));
                            }
                        };
                        self.punct(":")?;
                        let v = self.literal()?;
                        m.insert(k, v);
                        if self.eat_punct("}") {
                            break;
                        }
                        self.punct(",")?;
                    }
                }
                AttributeValue::M(m)
            }
            Tok::Punct("[") => {
                let mut l = Vec::new();
                if !self.eat_punct("]") {
                    loop {
                        l.push(self.literal()?);
                        if self.eat_punct("]") {
                            break;
                        }
                        self.punct(",")?;
                    }
                }
                AttributeValue::L(l)
            }
            Tok::Punct("<<") => {
                let mut l = Vec::new();
                loop {
                    l.push(self.literal()?);
                    if self.eat_punct(">>") {
                        break;
                    }
                    self.punct(",")?;
                }
                set_of(l)?
            }
            t => return Err(malformed(format!("Unexpected token {}", describe(&t)))),
        })
    }

    // ---- WHERE -------------------------------------------------------------------------------

    fn condition(&mut self) -> R<Node> {
        self.enter()?;
        let r = self.or();
        self.leave();
        r
    }

    fn or(&mut self) -> R<Node> {
        let mut list = vec![self.and()?];
        while self.eat_kw("OR") {
            list.push(self.and()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Node::Or(list)
        })
    }

    fn and(&mut self) -> R<Node> {
        let mut list = vec![self.not()?];
        while self.eat_kw("AND") {
            list.push(self.not()?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Node::And(list)
        })
    }

    fn not(&mut self) -> R<Node> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let r = self.not();
            self.leave();
            return Ok(Node::Not(Box::new(r?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> R<Node> {
        if self.eat_punct("(") {
            let c = self.condition()?;
            self.punct(")")?;
            return Ok(c);
        }
        let call = matches!(
            self.toks.get(self.at + 1).map(|t| &t.tok),
            Some(Tok::Punct("("))
        );
        if call {
            for f in ["begins_with", "contains", "attribute_type"] {
                if self.is_kw(f) {
                    self.at += 2;
                    let a = self.operand()?;
                    self.punct(",")?;
                    let b = self.operand()?;
                    self.punct(")")?;
                    return Ok(match f {
                        "begins_with" => Node::BeginsWith(a, b),
                        "contains" => Node::Contains(a, b),
                        _ => match (a, b) {
                            (Operand::Path(p), Operand::Value(AttributeValue::S(t))) => {
                                Node::Type(p, t)
                            }
                            _ => {
                                return Err(malformed(
                                    "attribute_type takes a path and a type name",
                                ));
                            }
                        },
                    });
                }
            }
        }
        let a = self.operand()?;
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let Operand::Path(p) = a else {
                return Err(malformed("IS applies to an attribute"));
            };
            let n = if self.eat_kw("MISSING") {
                Node::NotExists(p)
            } else if self.eat_kw("NULL") {
                Node::Or(vec![
                    Node::Type(p.clone(), "NULL".into()),
                    Node::NotExists(p),
                ])
            } else {
                return self.unexpected();
            };
            return Ok(if negated { Node::Not(Box::new(n)) } else { n });
        }
        let negated = self.is_kw("NOT") && (self.is_kw_at(1, "IN") || self.is_kw_at(1, "BETWEEN"));
        if negated {
            self.at += 1;
        }
        let n = if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.kw("AND")?;
            let hi = self.operand()?;
            Node::Between(a, lo, hi)
        } else if self.eat_kw("IN") {
            let close = if self.eat_punct("[") {
                "]"
            } else {
                self.punct("(")?;
                ")"
            };
            let mut list = vec![self.operand()?];
            while self.eat_punct(",") {
                list.push(self.operand()?);
                if list.len() > crate::expr::MAX_IN_OPERANDS {
                    return Err(malformed("Too many operands of IN"));
                }
            }
            self.punct(close)?;
            Node::In(a, list)
        } else {
            let op = match self.next()? {
                Tok::Punct("=") => CmpOp::Eq,
                Tok::Punct("<>") | Tok::Punct("!=") => CmpOp::Ne,
                Tok::Punct("<") => CmpOp::Lt,
                Tok::Punct("<=") => CmpOp::Le,
                Tok::Punct(">") => CmpOp::Gt,
                Tok::Punct(">=") => CmpOp::Ge,
                t => return Err(malformed(format!("Unexpected token {}", describe(&t)))),
            };
            Node::Cmp(a, op, self.operand()?)
        };
        Ok(if negated { Node::Not(Box::new(n)) } else { n })
    }

    /// An operand: a path, `size(path)`, or a literal.
    fn operand(&mut self) -> R<Operand> {
        let call = matches!(
            self.toks.get(self.at + 1).map(|t| &t.tok),
            Some(Tok::Punct("("))
        );
        if call && self.is_kw("size") {
            self.at += 2;
            let p = self.path()?;
            self.punct(")")?;
            return Ok(Operand::Size(p));
        }
        if self.is_name() {
            return Ok(Operand::Path(self.path()?));
        }
        Ok(Operand::Value(self.literal()?))
    }
}

fn number(s: &str) -> R<Number> {
    Number::parse(s).map_err(|e| e.0)
}

/// A `<<…>>` set: all strings, all numbers or all binaries.
fn set_of(l: Vec<AttributeValue>) -> R<AttributeValue> {
    let bad = || malformed("A set must hold values of one scalar type: string, number or binary");
    match l.first() {
        Some(AttributeValue::S(_)) => l
            .into_iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect::<R<Vec<_>>>()
            .map(AttributeValue::string_set),
        Some(AttributeValue::N(_)) => l
            .into_iter()
            .map(|v| match v {
                AttributeValue::N(n) => Ok(n),
                _ => Err(bad()),
            })
            .collect::<R<Vec<_>>>()
            .map(AttributeValue::number_set),
        Some(AttributeValue::B(_)) => l
            .into_iter()
            .map(|v| match v {
                AttributeValue::B(b) => Ok(b),
                _ => Err(bad()),
            })
            .collect::<R<Vec<_>>>()
            .map(AttributeValue::binary_set),
        _ => Err(bad()),
    }
}

//! Recursive-descent parsers for every kind of expression.
//!
//! Precedence, lowest first: OR, AND, NOT, then comparisons / BETWEEN / IN / functions, with
//! parentheses to group. Recursion is bounded by [`MAX_NESTING`], operators by
//! [`MAX_OPERATORS`], input by [`MAX_EXPRESSION_LEN`].

use super::eval::size_of;
use super::lex::{Tok, Token, lex};
use super::reserved::is_reserved;
use super::*;
use crate::value::compare;

const TYPE_NAMES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

/// Functions that evaluate to true or false (usable as conditions).
const BOOL_FUNCTIONS: [&str; 5] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
];

// DynamoDB reports the errors of an expression in a fixed order of kinds, whatever their
// position: syntax first (parsing stops there), then function names (unknown or misused),
// reserved words, repeated update sections, then - in the order written, innermost first -
// undefined names and values; in update expressions overlapping paths, conflicting paths and
// ADD/DELETE operand types come next, then the rest (operand counts and types, ...), while in
// conditions the rest is found in the same pass as names and values. The parser defers every
// non-syntax error with its rank and reports the lowest-ranked (first found within a rank)
// once parsing is done.
const R_FUNCTION: u8 = 1;
const R_RESERVED: u8 = 2;
const R_SECTION: u8 = 3;
const R_NAME: u8 = 4;
const R_VALUE: u8 = R_NAME;
const R_OVERLAP: u8 = 5;
const R_CONFLICT: u8 = 6;
const R_ACTION_TYPE: u8 = 7;
const R_OTHER: u8 = 8;

struct Parser<'s, 'p, 'a> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    ph: &'p mut Placeholders<'a>,
    kind: Kind,
    depth: usize,
    operators: usize,
    deferred: Option<(u8, ExprError)>,
}

fn start<'s, 'p, 'a>(
    src: &'s str,
    ph: &'p mut Placeholders<'a>,
    kind: Kind,
) -> Result<Parser<'s, 'p, 'a>, ExprError> {
    if src.len() > MAX_EXPRESSION_LEN {
        return Err(kind.err(format_args!(
            "Expression size has exceeded the maximum allowed size; expression size: {}",
            src.len()
        )));
    }
    if src.trim().is_empty() {
        return Err(kind.err("The expression can not be empty;"));
    }
    Ok(Parser {
        src,
        toks: lex(src),
        pos: 0,
        ph,
        kind,
        depth: 0,
        operators: 0,
        deferred: None,
    })
}

/// Operands each known function takes.
fn arity(function: &str) -> Option<usize> {
    match function {
        "attribute_exists" | "attribute_not_exists" | "size" => Some(1),
        "attribute_type" | "begins_with" | "contains" | "if_not_exists" | "list_append" => Some(2),
        _ => None,
    }
}

impl Parser<'_, '_, '_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// Whether the next token is the keyword `kw` (any case).
    fn at_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    /// DynamoDB's syntax error at the current token, quoting it with its neighbours.
    fn syntax(&self) -> ExprError {
        let i = self.pos.min(self.toks.len() - 1);
        let cur = &self.toks[i];
        let token = if cur.tok == Tok::Eof {
            "<EOF>"
        } else {
            &self.src[cur.start..cur.end]
        };
        let from = if i > 0 {
            self.toks[i - 1].start
        } else {
            cur.start
        };
        let to = match self.toks.get(i + 1) {
            Some(next) if next.tok != Tok::Eof => next.end,
            _ => cur.end,
        };
        let near = self.src[from..to].trim();
        self.kind.err(format_args!(
            "Syntax error; token: \"{token}\", near: \"{near}\""
        ))
    }

    fn expect(&mut self, t: Tok) -> Result<(), ExprError> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// Records a non-syntax error; the lowest rank (then the first found) is reported.
    fn defer(&mut self, rank: u8, msg: impl fmt::Display) {
        if self.deferred.as_ref().is_none_or(|(r, _)| rank < *r) {
            self.deferred = Some((rank, self.kind.err(msg)));
        }
    }

    fn defer_err(&mut self, rank: u8, err: ExprError) {
        if self.deferred.as_ref().is_none_or(|(r, _)| rank < *r) {
            self.deferred = Some((rank, err));
        }
    }

    fn count_op(&mut self) -> Result<(), ExprError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.kind.err(format_args!(
                "The expression contains too many operators; operator count: {}",
                self.operators
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.kind.err("The expression has too many nesting levels"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The end of the expression: a syntax error if anything is left, else the deferred error.
    fn finish(&mut self) -> Result<(), ExprError> {
        if *self.peek() != Tok::Eof {
            return Err(self.syntax());
        }
        match self.deferred.take() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    // ---- paths and operands ----

    /// Whether a bare word is a keyword of this kind of expression (never a name).
    fn is_keyword(&self, w: &str) -> bool {
        let conditions = ["AND", "OR", "NOT", "BETWEEN", "IN"];
        let sections = ["SET", "REMOVE", "ADD", "DELETE"];
        conditions.iter().any(|k| w.eq_ignore_ascii_case(k))
            || (self.kind == Kind::Update && sections.iter().any(|k| w.eq_ignore_ascii_case(k)))
    }

    fn name_segment(&mut self) -> Result<String, ExprError> {
        match self.peek().clone() {
            Tok::Ident(w) if self.is_keyword(&w) => Err(self.syntax()),
            Tok::Ident(w) => {
                if is_reserved(&w) {
                    self.defer(
                        R_RESERVED,
                        format_args!("Attribute name is a reserved keyword; reserved keyword: {w}"),
                    );
                }
                self.bump();
                Ok(w)
            }
            Tok::Name(n) => {
                self.bump();
                match self.ph.name(&n, self.kind) {
                    Ok(name) => Ok(name),
                    Err(e) => {
                        self.defer_err(R_NAME, e);
                        Ok(n)
                    }
                }
            }
            _ => Err(self.syntax()),
        }
    }

    fn value(&mut self, key: &str) -> AttributeValue {
        match self.ph.value(key, self.kind) {
            Ok(v) => v,
            Err(e) => {
                self.defer_err(R_VALUE, e);
                AttributeValue::Null
            }
        }
    }

    fn path(&mut self) -> Result<Path, ExprError> {
        let top = self.name_segment()?;
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    steps.push(Step::Field(self.name_segment()?));
                }
                Tok::LBracket => {
                    self.bump();
                    let Tok::Int(digits) = self.peek().clone() else {
                        return Err(self.syntax());
                    };
                    let Ok(index) = digits.parse::<u32>() else {
                        return Err(self.syntax());
                    };
                    self.bump();
                    self.expect(Tok::RBracket)?;
                    steps.push(Step::Index(index as usize));
                }
                _ => break,
            }
            if steps.len() + 1 > MAX_PATH_DEPTH {
                return Err(self.kind.err(format_args!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    steps.len() + 1
                )));
            }
        }
        Ok(Path { top, steps })
    }

    fn is_call(&self) -> bool {
        matches!(self.peek(), Tok::Ident(_)) && *self.peek_at(1) == Tok::LParen
    }

    /// `name ( operand, ... )`, any name; checks the operand count of known functions.
    fn call(&mut self) -> Result<(String, Vec<Operand>), ExprError> {
        let Tok::Ident(name) = self.bump() else {
            return Err(self.syntax());
        };
        self.count_op()?;
        self.enter()?;
        self.expect(Tok::LParen)?;
        let mut args = vec![self.operand()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            args.push(self.operand()?);
        }
        self.expect(Tok::RParen)?;
        self.leave();
        self.check_arity(&name, args.len());
        Ok((name, args))
    }

    /// The rank of operand count/type errors: after paths in update expressions, with names
    /// and values elsewhere.
    fn other(&self) -> u8 {
        if self.kind == Kind::Update {
            R_OTHER
        } else {
            R_NAME
        }
    }

    fn check_arity(&mut self, name: &str, n: usize) {
        if let Some(want) = arity(name)
            && want != n
        {
            self.defer(
                self.other(),
                format_args!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {n}"
                ),
            );
        }
    }

    /// A function call used where a value is expected: only `size(path)` is one.
    fn call_as_operand(&mut self, name: &str, args: Vec<Operand>) -> Operand {
        if name == "size" {
            return match args.into_iter().next() {
                Some(Operand::Path(p)) => Operand::Size(p),
                // The size of a literal is known now.
                Some(Operand::Value(v)) if size_of(&v).is_some() => {
                    Operand::Value(size_of(&v).unwrap_or(AttributeValue::Null))
                }
                Some(Operand::Value(v)) => {
                    self.defer(
                        self.other(),
                        format_args!(
                            "Incorrect operand type for operator or function; operator or function: size, operand type: {}",
                            v.type_code()
                        ),
                    );
                    Operand::Value(AttributeValue::Null)
                }
                _ => {
                    self.defer(
                        self.other(),
                        "Incorrect operand type for operator or function; operator or function: size, operand type: N",
                    );
                    Operand::Value(AttributeValue::Null)
                }
            };
        }
        if BOOL_FUNCTIONS.contains(&name) {
            self.defer(
                R_FUNCTION,
                format_args!(
                    "The function is not allowed to be used this way in an expression; function: {name}"
                ),
            );
        } else {
            self.defer(
                R_FUNCTION,
                format_args!("Invalid function name; function: {name}"),
            );
        }
        Operand::Value(AttributeValue::Null)
    }

    /// An operand of a condition: a path, a `:value` or a function call (`size(path)`), in
    /// parentheses or not.
    fn operand(&mut self) -> Result<Operand, ExprError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let redundant = *self.peek() == Tok::LParen;
                let inner = self.operand()?;
                self.expect(Tok::RParen)?;
                self.leave();
                if redundant {
                    return Err(self.kind.err("The expression has redundant parentheses;"));
                }
                Ok(inner)
            }
            Tok::Value(v) => {
                self.bump();
                Ok(Operand::Value(self.value(&v)))
            }
            Tok::Ident(_) if self.is_call() => {
                let (name, args) = self.call()?;
                Ok(self.call_as_operand(&name, args))
            }
            Tok::Ident(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax()),
        }
    }

    // ---- conditions ----

    /// Returns the node and whether it is a parenthesized expression (for the redundant
    /// parentheses check).
    fn or(&mut self) -> Result<(Node, bool), ExprError> {
        let (node, paren) = self.and()?;
        if !self.at_kw("OR") {
            return Ok((node, paren));
        }
        let mut list = vec![node];
        while self.at_kw("OR") {
            self.bump();
            self.count_op()?;
            list.push(self.and()?.0);
        }
        Ok((Node::Or(list), false))
    }

    fn and(&mut self) -> Result<(Node, bool), ExprError> {
        let (node, paren) = self.not()?;
        if !self.at_kw("AND") {
            return Ok((node, paren));
        }
        let mut list = vec![node];
        while self.at_kw("AND") {
            self.bump();
            self.count_op()?;
            list.push(self.not()?.0);
        }
        Ok((Node::And(list), false))
    }

    fn not(&mut self) -> Result<(Node, bool), ExprError> {
        if self.at_kw("NOT") {
            self.bump();
            self.count_op()?;
            self.enter()?;
            let (n, _) = self.not()?;
            self.leave();
            return Ok((Node::Not(Box::new(n)), false));
        }
        self.primary()
    }

    fn at_comparison(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
        ) || self.at_kw("BETWEEN")
            || self.at_kw("IN")
    }

    /// Whether the `(` at the current token encloses an operand (`(a) = :v`) rather than a
    /// condition: the token after its matching `)` is a comparison.
    fn paren_is_operand(&self) -> bool {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(self.pos) {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let next = self.toks.get(i + 1).map(|t| &t.tok);
                        return matches!(
                            next,
                            Some(Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge)
                        ) || matches!(next, Some(Tok::Ident(w))
                            if w.eq_ignore_ascii_case("BETWEEN") || w.eq_ignore_ascii_case("IN"));
                    }
                }
                Tok::Eof => return false,
                _ => {}
            }
        }
        false
    }

    fn primary(&mut self) -> Result<(Node, bool), ExprError> {
        if *self.peek() == Tok::LParen && !self.paren_is_operand() {
            self.bump();
            self.enter()?;
            let (n, inner_paren) = self.or()?;
            self.expect(Tok::RParen)?;
            self.leave();
            // DynamoDB accepts `((a = :v))` in key conditions only.
            if inner_paren && self.kind != Kind::KeyCondition {
                return Err(self.kind.err("The expression has redundant parentheses;"));
            }
            return Ok((n, true));
        }
        let left = if self.is_call() {
            let (name, args) = self.call()?;
            if !self.at_comparison() {
                // A function as a condition of its own.
                return Ok((self.function(&name, args), false));
            }
            self.call_as_operand(&name, args)
        } else {
            self.operand()?
        };
        let op = match self.peek() {
            Tok::Eq => Some((CmpOp::Eq, "=")),
            Tok::Ne => Some((CmpOp::Ne, "<>")),
            Tok::Lt => Some((CmpOp::Lt, "<")),
            Tok::Le => Some((CmpOp::Le, "<=")),
            Tok::Gt => Some((CmpOp::Gt, ">")),
            Tok::Ge => Some((CmpOp::Ge, ">=")),
            _ => None,
        };
        if let Some((op, name)) = op {
            self.bump();
            self.count_op()?;
            let right = self.operand()?;
            self.distinct(name, &left, [&right]);
            return Ok((Node::Cmp(left, op, right), false));
        }
        if self.at_kw("BETWEEN") {
            self.bump();
            self.count_op()?;
            let lo = self.operand()?;
            if !self.at_kw("AND") {
                return Err(self.syntax());
            }
            self.bump();
            let hi = self.operand()?;
            self.distinct("BETWEEN", &left, [&lo, &hi]);
            if let (Operand::Value(l), Operand::Value(h)) = (&lo, &hi) {
                let bounds = format!(
                    "lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                    l.type_code(),
                    scalar_text(l),
                    h.type_code(),
                    scalar_text(h)
                );
                if l.type_code() != h.type_code() {
                    self.defer(
                        self.other(),
                        format_args!(
                            "The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"
                        ),
                    );
                } else if compare(l, h) == Some(std::cmp::Ordering::Greater) {
                    self.defer(
                        self.other(),
                        format_args!(
                            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; {bounds}"
                        ),
                    );
                }
            }
            return Ok((Node::Between(left, lo, hi), false));
        }
        if self.at_kw("IN") {
            self.bump();
            self.count_op()?;
            self.expect(Tok::LParen)?;
            let mut list = vec![self.operand()?];
            while *self.peek() == Tok::Comma {
                self.bump();
                list.push(self.operand()?);
            }
            self.expect(Tok::RParen)?;
            if list.len() > MAX_IN_OPERANDS {
                self.defer(
                    self.other(),
                    format_args!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    ),
                );
            }
            self.distinct("IN", &left, list.iter());
            return Ok((Node::In(left, list), false));
        }
        Err(self.syntax())
    }

    /// DynamoDB refuses an operator or function whose first operand, a document path, appears
    /// again among its other operands (`contains(a, a)`, `a = a`).
    fn distinct<'o>(
        &mut self,
        op: &str,
        first: &Operand,
        rest: impl IntoIterator<Item = &'o Operand>,
    ) {
        if let Operand::Path(p) = first
            && rest
                .into_iter()
                .any(|o| matches!(o, Operand::Path(q) if q == p))
        {
            self.defer(
                self.other(),
                format_args!(
                    "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {p}"
                ),
            );
        }
    }

    /// A function call used as a condition. Errors are deferred; the node returned then is a
    /// stand-in that is never evaluated.
    fn function(&mut self, f: &str, args: Vec<Operand>) -> Node {
        let never = Node::Const(false);
        if f == "size" {
            self.defer(
                R_FUNCTION,
                "The function is not allowed to be used this way in an expression; function: size",
            );
            return never;
        }
        if !BOOL_FUNCTIONS.contains(&f) {
            self.defer(
                R_FUNCTION,
                format_args!("Invalid function name; function: {f}"),
            );
            return never;
        }
        if Some(args.len()) != arity(f) {
            return never; // counted in call()
        }
        let mut args = args.into_iter();
        let (Some(a), b) = (args.next(), args.next()) else {
            return never;
        };
        let path = |p: &mut Self, o: &Operand| match o {
            Operand::Path(x) => Some(x.clone()),
            _ => {
                p.defer(
                    p.other(),
                    format_args!(
                        "Operator or function requires a document path; operator or function: {f}"
                    ),
                );
                None
            }
        };
        match (f, b) {
            ("attribute_exists", _) => path(self, &a).map_or(never, Node::Exists),
            ("attribute_not_exists", _) => path(self, &a).map_or(never, Node::NotExists),
            ("attribute_type", Some(b)) => {
                let Some(p) = path(self, &a) else {
                    return never;
                };
                self.distinct("attribute_type", &a, [&b]);
                let t = match b {
                    Operand::Size(_) => {
                        self.defer(
                            self.other(),
                            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
                        );
                        return never;
                    }
                    Operand::Value(AttributeValue::S(t)) => t,
                    Operand::Value(v) => {
                        self.defer(
                            self.other(),
                            format_args!(
                                "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                                v.type_code()
                            ),
                        );
                        return never;
                    }
                    _ => {
                        self.defer(
                            self.other(),
                            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: PATH",
                        );
                        return never;
                    }
                };
                if !TYPE_NAMES.contains(&t.as_str()) {
                    self.defer(
                        self.other(),
                        format_args!(
                            "Invalid attribute type name found; type: {t}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                        ),
                    );
                    return never;
                }
                Node::Type(p, t)
            }
            ("begins_with", Some(b)) => {
                for o in [&a, &b] {
                    let v = match o {
                        Operand::Size(_) => &AttributeValue::N(crate::value::Number::zero()),
                        Operand::Value(v) => v,
                        Operand::Path(_) => continue,
                    };
                    if !matches!(v, AttributeValue::S(_) | AttributeValue::B(_)) {
                        self.defer(
                            self.other(),
                            format_args!(
                                "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                                v.type_code()
                            ),
                        );
                        return never;
                    }
                }
                self.distinct("begins_with", &a, [&b]);
                Node::BeginsWith(a, b)
            }
            ("contains", Some(b)) => {
                if path(self, &a).is_none() {
                    return never;
                }
                self.distinct("contains", &a, [&b]);
                Node::Contains(a, b)
            }
            _ => never,
        }
    }

    // ---- update expressions ----

    fn set_operand(&mut self) -> Result<SetOperand, ExprError> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.bump();
                Ok(SetOperand::Value(self.value(&v)))
            }
            Tok::Ident(f) if self.is_call() => {
                self.bump();
                self.count_op()?;
                self.enter()?;
                self.expect(Tok::LParen)?;
                let mut args = vec![self.set_operand()?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    args.push(self.set_operand()?);
                }
                self.expect(Tok::RParen)?;
                self.leave();
                let stand_in = SetOperand::Value(AttributeValue::Null);
                match f.as_str() {
                    "if_not_exists" | "list_append" => {}
                    f if f == "size" || BOOL_FUNCTIONS.contains(&f) => {
                        self.defer(
                            R_FUNCTION,
                            format_args!(
                                "The function is not allowed in an update expression; function: {f}"
                            ),
                        );
                        return Ok(stand_in);
                    }
                    f => {
                        self.defer(
                            R_FUNCTION,
                            format_args!("Invalid function name; function: {f}"),
                        );
                        return Ok(stand_in);
                    }
                }
                self.check_arity(&f, args.len());
                if args.len() != 2 {
                    return Ok(stand_in);
                }
                let mut it = args.into_iter();
                let (Some(a), Some(b)) = (it.next(), it.next()) else {
                    return Ok(stand_in);
                };
                if f == "if_not_exists" {
                    let SetOperand::Path(p) = a else {
                        self.defer(
                            self.other(),
                            "Operator or function requires a document path; operator or function: if_not_exists",
                        );
                        return Ok(stand_in);
                    };
                    return Ok(SetOperand::IfNotExists(p, Box::new(b)));
                }
                for o in [&a, &b] {
                    if let SetOperand::Value(v) = o
                        && !matches!(v, AttributeValue::L(_))
                    {
                        self.defer(
                            self.other(),
                            format_args!(
                                "Incorrect operand type for operator or function; operator or function: list_append, operand type: {}",
                                v.type_code()
                            ),
                        );
                        return Ok(stand_in);
                    }
                }
                Ok(SetOperand::ListAppend(Box::new(a), Box::new(b)))
            }
            Tok::Ident(_) | Tok::Name(_) => Ok(SetOperand::Path(self.path()?)),
            _ => Err(self.syntax()),
        }
    }

    /// An operand of `+`/`-` or a whole SET value: an operand, or a value in parentheses
    /// (`SET a = ((b) + (c))`).
    fn set_term(&mut self) -> Result<SetValue, ExprError> {
        if *self.peek() != Tok::LParen {
            return Ok(SetValue::Operand(self.set_operand()?));
        }
        self.bump();
        self.enter()?;
        let v = self.set_value()?;
        self.expect(Tok::RParen)?;
        self.leave();
        Ok(v)
    }

    fn set_value(&mut self) -> Result<SetValue, ExprError> {
        let first = self.set_term()?;
        let op = match self.peek() {
            Tok::Plus => "+",
            Tok::Minus => "-",
            _ => return Ok(first),
        };
        // One + or - per value: `(a + b) + c` is a syntax error, as is `a + b + c`.
        let SetValue::Operand(a) = first else {
            return Err(self.syntax());
        };
        self.bump();
        self.count_op()?;
        let SetValue::Operand(b) = self.set_term()? else {
            return Err(self.syntax());
        };
        for o in [&a, &b] {
            if let SetOperand::Value(v) = o
                && !matches!(v, AttributeValue::N(_))
            {
                self.defer(
                    self.other(),
                    format_args!(
                        "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
                        v.type_code()
                    ),
                );
                break;
            }
        }
        Ok(if op == "+" {
            SetValue::Plus(a, b)
        } else {
            SetValue::Minus(a, b)
        })
    }

    /// The `:value` of an ADD or DELETE action, checked against the types the action takes.
    fn action_value(&mut self, action: &str) -> Result<AttributeValue, ExprError> {
        let Tok::Value(v) = self.peek().clone() else {
            return Err(self.syntax());
        };
        self.bump();
        let value = self.value(&v);
        let ok = matches!(
            (action, &value),
            ("ADD", AttributeValue::N(_))
                | (
                    _,
                    AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
                )
        );
        if !ok {
            self.defer(
                R_ACTION_TYPE,
                format_args!(
                    "Incorrect operand type for operator or function; operator: {action}, operand type: {}",
                    long_type_name(&value)
                ),
            );
        }
        Ok(value)
    }

    fn update(&mut self) -> Result<Update, ExprError> {
        let mut u = Update::default();
        let mut seen: Vec<String> = Vec::new();
        // Every target path in the order written, for the overlap checks.
        let mut targets: Vec<Path> = Vec::new();
        while *self.peek() != Tok::Eof {
            let Tok::Ident(word) = self.peek().clone() else {
                return Err(self.syntax());
            };
            let section = word.to_ascii_uppercase();
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&section.as_str()) {
                return Err(self.syntax());
            }
            if seen.contains(&section) {
                self.defer(
                    R_SECTION,
                    format_args!(
                        "The \"{section}\" section can only be used once in an update expression;"
                    ),
                );
            }
            seen.push(section.clone());
            self.bump();
            loop {
                self.count_op()?;
                let p = self.path()?;
                targets.push(p.clone());
                match section.as_str() {
                    "SET" => {
                        self.expect(Tok::Eq)?;
                        let v = self.set_value()?;
                        u.set.push((p, v));
                    }
                    "REMOVE" => u.remove.push(p),
                    "ADD" => {
                        let v = self.action_value("ADD")?;
                        u.add.push((p, v));
                    }
                    _ => {
                        let v = self.action_value("DELETE")?;
                        u.delete.push((p, v));
                    }
                }
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
        }
        self.check_overlaps(&targets);
        Ok(u)
    }

    /// Overlapping paths (one a prefix of the other) rank before conflicting ones (one indexes
    /// a list where the other names a map field); within each, the first pair written wins.
    fn check_overlaps(&mut self, paths: &[Path]) {
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                if a.is_prefix_of(b) || b.is_prefix_of(a) {
                    self.defer(
                        R_OVERLAP,
                        format_args!(
                            "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                        ),
                    );
                    return;
                }
            }
        }
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                if a.conflicts_with(b) {
                    self.defer(
                        R_CONFLICT,
                        format_args!(
                            "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                        ),
                    );
                    return;
                }
            }
        }
    }
}

/// A scalar's text as DynamoDB shows it in messages.
fn scalar_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => other.to_json().to_string(),
    }
}

/// The type names of ADD/DELETE operand messages.
fn long_type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::Null => "NULL",
        AttributeValue::M(_) => "MAP",
        AttributeValue::L(_) => "LIST",
        AttributeValue::Ss(_) => "STRING_SET",
        AttributeValue::Ns(_) => "NUMBER_SET",
        AttributeValue::Bs(_) => "BINARY_SET",
    }
}

pub(super) fn condition(src: &str, ph: &mut Placeholders, kind: Kind) -> Result<Node, ExprError> {
    let mut p = start(src, ph, kind)?;
    let (node, _) = p.or()?;
    p.finish()?;
    Ok(node)
}

/// Parses a `ConditionExpression`.
pub fn parse_condition(src: &str, ph: &mut Placeholders) -> Result<Condition, ExprError> {
    Ok(Condition {
        root: condition(src, ph, Kind::Condition)?,
    })
}

/// Parses a `FilterExpression` (the grammar of conditions; messages name FilterExpression).
pub fn parse_filter(src: &str, ph: &mut Placeholders) -> Result<Condition, ExprError> {
    Ok(Condition {
        root: condition(src, ph, Kind::Filter)?,
    })
}

/// Parses an `UpdateExpression`.
pub fn parse_update(src: &str, ph: &mut Placeholders) -> Result<Update, ExprError> {
    let mut p = start(src, ph, Kind::Update)?;
    let u = p.update()?;
    p.finish()?;
    Ok(u)
}

/// Parses a `ProjectionExpression`: document paths separated by commas.
pub fn parse_projection(src: &str, ph: &mut Placeholders) -> Result<Vec<Path>, ExprError> {
    let mut p = start(src, ph, Kind::Projection)?;
    let mut paths = vec![p.path()?];
    while *p.peek() == Tok::Comma {
        p.bump();
        p.count_op()?;
        paths.push(p.path()?);
    }
    p.check_overlaps(&paths);
    p.finish()?;
    Ok(paths)
}

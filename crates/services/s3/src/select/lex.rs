//! The lexer of S3 Select's SQL: identifiers (bare and double-quoted), string and number
//! literals, operators; `--` comments skipped.

use super::SelectError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An unquoted identifier or keyword, as written.
    Ident(String),
    /// A double-quoted identifier.
    Quoted(String),
    Str(String),
    Int(i64),
    Float(f64),
    Sym(&'static str),
    /// An Ion literal between backticks (a timestamp: `` `2007-02-23T12:14Z` ``).
    Ion(String),
}

pub fn lex(src: &str) -> Result<Vec<Tok>, SelectError> {
    let mut out = Vec::new();
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && b.get(i + 1) == Some(&'-') {
            // A line comment.
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$') {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            let mut float = false;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i < b.len() && b[i] == '.' {
                float = true;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == 'e' || b[i] == 'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == '+' || b[j] == '-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    float = true;
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = b[start..i].iter().collect();
            if float {
                let f: f64 = text.parse().map_err(|_| SelectError::lexer_literal())?;
                out.push(Tok::Float(f));
            } else {
                let n: i64 = text.parse().map_err(|_| {
                    SelectError::new(
                        "IntegerOverflow",
                        "An integer overflow or underflow occurred in the SQL expression.",
                    )
                })?;
                out.push(Tok::Int(n));
            }
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(SelectError::lexer_literal()),
                    Some(&q) if q == c => {
                        if b.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            });
            continue;
        }
        if c == '`' {
            let start = i + 1;
            let Some(len) = b[start..].iter().position(|&ch| ch == '`') else {
                return Err(SelectError::new(
                    "LexerInvalidIONLiteral",
                    "The SQL expression contains an invalid operator.",
                ));
            };
            out.push(Tok::Ion(b[start..start + len].iter().collect()));
            i = start + len + 1;
            continue;
        }
        let two: String = b[i..(i + 2).min(b.len())].iter().collect();
        let sym2 = ["<=", ">=", "<>", "!=", "||"]
            .into_iter()
            .find(|s| *s == two);
        if let Some(s) = sym2 {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let sym = match c {
            '*' => "*",
            ',' => ",",
            '(' => "(",
            ')' => ")",
            '.' => ".",
            '[' => "[",
            ']' => "]",
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            '/' => "/",
            '%' => "%",
            _ => {
                return Err(SelectError::new(
                    "LexerInvalidChar",
                    "The SQL expression contains a character that is not valid.",
                ));
            }
        };
        out.push(Tok::Sym(sym));
        i += 1;
    }
    Ok(out)
}

//! The PartiQL lexer: identifiers (bare and `"quoted"`), `'strings'`, numbers, `?` parameters and
//! punctuation. Bounded by the statement's length (at most [`super::MAX_STATEMENT_LEN`]).

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare identifier or keyword (keywords are told apart by the parser, case-insensitively).
    Ident(String),
    /// A double-quoted identifier (never a keyword).
    Quoted(String),
    /// A single-quoted string literal.
    Str(String),
    /// A number literal as written.
    Num(String),
    /// A `?` parameter.
    Param,
    /// Punctuation and operators.
    Punct(&'static str),
}

/// A token and the byte offset it starts at.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const PUNCTS: [&str; 22] = [
    "<<", ">>", "<=", ">=", "<>", "!=", "=", "<", ">", ",", ".", "[", "]", "(", ")", "{", "}", ":",
    "+", "-", "*", ";",
];

/// The tokens of `src`, or the message of the first lexical error.
pub fn lex(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // `--` comments run to the end of the line.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = if c == b'"' || c == b'\'' {
            let (s, next) = quoted(src, i, c)?;
            i = next;
            if c == b'"' {
                Tok::Quoted(s)
            } else {
                Tok::Str(s)
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            Tok::Num(src[start..i].to_string())
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            Tok::Ident(src[start..i].to_string())
        } else if c == b'?' {
            i += 1;
            Tok::Param
        } else if let Some(p) = PUNCTS.iter().find(|p| b[i..].starts_with(p.as_bytes())) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(format!("Unexpected character: {ch}"));
        };
        out.push(Token { tok, pos: start });
    }
    Ok(out)
}

/// A quoted string or identifier starting at `i` (a doubled quote is one quote). Returns the text
/// and the offset after the closing quote.
fn quoted(src: &str, i: usize, q: u8) -> Result<(String, usize), String> {
    let b = src.as_bytes();
    let mut out = String::new();
    let mut j = i + 1;
    let mut from = j;
    loop {
        if j >= b.len() {
            return Err(if q == b'"' {
                "Unterminated quoted identifier".into()
            } else {
                "Unterminated string literal".into()
            });
        }
        if b[j] == q {
            out.push_str(&src[from..j]);
            if b.get(j + 1) == Some(&q) {
                out.push(q as char);
                j += 2;
                from = j;
                continue;
            }
            return Ok((out, j + 1));
        }
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks(r#"SELECT * FROM "my""t" WHERE a<>'it''s' AND b>=-1.5e3 -- note"#),
            vec![
                Tok::Ident("SELECT".into()),
                Tok::Punct("*"),
                Tok::Ident("FROM".into()),
                Tok::Quoted("my\"t".into()),
                Tok::Ident("WHERE".into()),
                Tok::Ident("a".into()),
                Tok::Punct("<>"),
                Tok::Str("it's".into()),
                Tok::Ident("AND".into()),
                Tok::Ident("b".into()),
                Tok::Punct(">="),
                Tok::Punct("-"),
                Tok::Num("1.5e3".into()),
            ]
        );
        assert_eq!(
            toks("<<1,?>>"),
            vec![
                Tok::Punct("<<"),
                Tok::Num("1".into()),
                Tok::Punct(","),
                Tok::Param,
                Tok::Punct(">>")
            ]
        );
        assert!(lex("'open").is_err());
        assert!(lex("a # b").is_err());
    }
}

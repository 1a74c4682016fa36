//! Tokens of the expression language.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare word: attribute name, keyword (AND, SET, ...) or function name.
    Ident(String),
    /// `#name`
    Name(String),
    /// `:value`
    Value(String),
    /// Digits (list indexes).
    Int(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    /// A character the language does not know.
    Bad(char),
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `src` into tokens; unknown characters become `Bad` tokens so the parser reports them
/// as syntax errors in context. Always ends with `Eof`.
pub(super) fn lex(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut it = src.char_indices().peekable();
    while let Some(&(start, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let word = |it: &mut std::iter::Peekable<std::str::CharIndices>, skip: usize| {
            let mut end = start + skip;
            for _ in 0..skip {
                it.next();
            }
            while let Some(&(i, c)) = it.peek() {
                if !word_char(c) {
                    break;
                }
                end = i + c.len_utf8();
                it.next();
            }
            end
        };
        let (tok, end) = match c {
            '#' | ':' => {
                let end = word(&mut it, 1);
                if end == start + 1 {
                    (Tok::Bad(c), end)
                } else if c == '#' {
                    (Tok::Name(src[start..end].to_string()), end)
                } else {
                    (Tok::Value(src[start..end].to_string()), end)
                }
            }
            c if c.is_ascii_digit() => {
                let mut end = start;
                while let Some(&(i, c)) = it.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    end = i + 1;
                    it.next();
                }
                (Tok::Int(src[start..end].to_string()), end)
            }
            // A bare name starts with a letter (`_x` is a syntax error in DynamoDB).
            c if c.is_ascii_alphabetic() => {
                let end = word(&mut it, 0);
                (Tok::Ident(src[start..end].to_string()), end)
            }
            _ => {
                it.next();
                let two = |it: &mut std::iter::Peekable<std::str::CharIndices>, want: char| {
                    if it.peek().map(|p| p.1) == Some(want) {
                        it.next();
                        true
                    } else {
                        false
                    }
                };
                let tok = match c {
                    '=' => Tok::Eq,
                    '<' if two(&mut it, '>') => Tok::Ne,
                    '<' if two(&mut it, '=') => Tok::Le,
                    '<' => Tok::Lt,
                    '>' if two(&mut it, '=') => Tok::Ge,
                    '>' => Tok::Gt,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    ',' => Tok::Comma,
                    '.' => Tok::Dot,
                    '+' => Tok::Plus,
                    '-' => Tok::Minus,
                    other => Tok::Bad(other),
                };
                let end = it.peek().map_or(src.len(), |p| p.0);
                (tok, end)
            }
        };
        out.push(Token { tok, start, end });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("a.b[10] <> :v_1 AND #n>=:x"),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::LBracket,
                Tok::Int("10".into()),
                Tok::RBracket,
                Tok::Ne,
                Tok::Value(":v_1".into()),
                Tok::Ident("AND".into()),
                Tok::Name("#n".into()),
                Tok::Ge,
                Tok::Value(":x".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("é"), vec![Tok::Bad('é'), Tok::Eof]);
        assert_eq!(toks("# :"), vec![Tok::Bad('#'), Tok::Bad(':'), Tok::Eof]);
        assert_eq!(
            toks("_a a_1"),
            vec![
                Tok::Bad('_'),
                Tok::Ident("a".into()),
                Tok::Ident("a_1".into()),
                Tok::Eof
            ]
        );
        let t = lex("ab  <= x");
        assert_eq!((t[1].start, t[1].end), (4, 6));
    }
}

//! Where each statement sits in a policy document's text: the policy simulator reports a
//! matched statement's `StartPosition` and `EndPosition` (line and column, both from 1, of the
//! statement's `{` and its closing `}`).

/// A line and column, both counted from 1 (columns in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Open(char),
    Close,
    Colon,
    Str,
    Other,
}

/// The start and end of each statement of `text`, in document order; `None` when the text is
/// not a document with a `Statement` of objects (it would not have parsed either).
pub fn statement_positions(text: &str) -> Option<Vec<(Position, Position)>> {
    let tokens = tokenize(text)?;
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (tok, _, s) = &tokens[i];
        match tok {
            Tok::Open(_) => depth += 1,
            Tok::Close => depth = depth.checked_sub(1)?,
            Tok::Str if depth == 1 && *s == "\"Statement\"" => {
                if tokens.get(i + 1).map(|t| t.0) != Some(Tok::Colon) {
                    i += 1;
                    continue;
                }
                let start = i + 2;
                return match tokens.get(start)?.0 {
                    Tok::Open('{') => Some(vec![(tokens[start].1, close_of(&tokens, start)?)]),
                    Tok::Open('[') => {
                        let mut out = Vec::new();
                        let mut j = start + 1;
                        while let Some((t, p, _)) = tokens.get(j) {
                            match t {
                                Tok::Open('{') => {
                                    let end = close_index(&tokens, j)?;
                                    out.push((*p, tokens[end].1));
                                    j = end + 1;
                                }
                                Tok::Close => return Some(out),
                                _ => j += 1,
                            }
                        }
                        None
                    }
                    _ => None,
                };
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn close_index(tokens: &[(Tok, Position, &str)], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, (t, _, _)) in tokens.iter().enumerate().skip(open) {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn close_of(tokens: &[(Tok, Position, &str)], open: usize) -> Option<Position> {
    close_index(tokens, open).map(|k| tokens[k].1)
}

fn tokenize(text: &str) -> Option<Vec<(Tok, Position, &str)>> {
    let mut out = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\n' {
            line += 1;
            column = 0;
            continue;
        }
        column += 1;
        let pos = Position { line, column };
        match c {
            '{' | '[' => out.push((Tok::Open(c), pos, "")),
            '}' | ']' => out.push((Tok::Close, pos, "")),
            ':' => out.push((Tok::Colon, pos, "")),
            '"' => {
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    if c == '\n' {
                        return None;
                    }
                    column += 1;
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let end = end?;
                out.push((Tok::Str, pos, &text[at..=end]));
            }
            c if c.is_whitespace() || c == ',' => {}
            _ => out.push((Tok::Other, pos, "")),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn finds_each_statement() {
        let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"},\n    {\"Effect\": \"Deny\",\n     \"Action\": \"s3:Delete*\", \"Resource\": \"*\"}\n  ]\n}";
        let spans = statement_positions(text).unwrap();
        assert_eq!(spans, vec![(p(4, 5), p(4, 58)), (p(5, 5), p(6, 45))]);
        let one = r#"{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*"},"Version":"2012-10-17"}"#;
        assert_eq!(
            statement_positions(one).unwrap(),
            vec![(p(1, 14), p(1, 61))]
        );
        // A "Statement" string inside a statement is not the element.
        let nested =
            r#"{"Statement":[{"Sid":"Statement","Effect":"Allow","Action":"a:b","Resource":"*"}]}"#;
        assert_eq!(statement_positions(nested).unwrap().len(), 1);
        assert_eq!(statement_positions("{\"Statement\": 3}"), None);
        assert_eq!(statement_positions("\"unterminated"), None);
        assert_eq!(statement_positions("}}}"), None);
    }
}

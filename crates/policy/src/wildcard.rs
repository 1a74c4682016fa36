//! Wildcards (`*` any run of characters, `?` one character) and policy variables (`${key}`,
//! `${key, 'default'}`, `${*}`, `${?}`, `${$}`), compiled to tokens so that text a variable
//! brings in is matched literally.

use crate::context::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Lit(char),
    Star,
    Quest,
}

/// Compile `pattern`. With `vars`, `${...}` is substituted from them (a 2012-10-17 document);
/// `None` when a variable has no value and no default (the pattern then matches nothing).
/// Without `vars`, `${` is literal text.
pub fn compile(pattern: &str, vars: Option<&Context>) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let (Some(ctx), true) = (vars, rest.starts_with("${"))
            && let Some(end) = rest.find('}')
        {
            let inner = &rest[2..end];
            rest = &rest[end + 1..];
            let value = variable(inner, ctx)?;
            out.extend(value.chars().map(Tok::Lit));
            continue;
        }
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Quest,
            c => Tok::Lit(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The value of the variable `inner` (what is between `${` and `}`).
fn variable(inner: &str, ctx: &Context) -> Option<String> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\''));
            (k.trim(), d)
        }
        None => (inner.trim(), None),
    };
    match key {
        "*" | "?" | "$" => return Some(key.to_owned()),
        _ => {}
    }
    match ctx.single(key) {
        Some(v) => Some(v.to_owned()),
        None => default.map(str::to_owned),
    }
}

/// The tokens as text, wildcards as their characters (for operators without wildcards).
pub fn render(tokens: &[Tok]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::Quest => '?',
        })
        .collect()
}

fn fold(c: char, ignore_case: bool) -> char {
    if ignore_case {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// Whether `text` matches the compiled pattern: linear backtracking on the last `*`, no
/// recursion, O(len(pattern) × len(text)) at worst.
pub fn matches(pattern: &[Tok], text: &str, ignore_case: bool) -> bool {
    let text: Vec<char> = text.chars().map(|c| fold(c, ignore_case)).collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::Quest) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if fold(*c, ignore_case) == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == Tok::Star)
}

/// [`matches`] for a pattern without variables, straight on the text (no compilation, no
/// allocation when both are ASCII, as actions and ARNs nearly always are).
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        let eq = |p: u8, t: u8| {
            if ignore_case {
                p.eq_ignore_ascii_case(&t)
            } else {
                p == t
            }
        };
        return glob_bytes(pattern.as_bytes(), text.as_bytes(), eq);
    }
    compile(pattern, None).is_some_and(|t| matches(&t, text, ignore_case))
}

fn glob_bytes(pattern: &[u8], text: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += 1;
            }
            Some(c) if eq(*c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// [`arn_matches`] for a pattern without variables.
pub fn arn_glob(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let n = pattern.splitn(6, ':').count();
    let mut texts = text.splitn(n, ':');
    let mut count = 0;
    for p in pattern.splitn(6, ':') {
        match texts.next() {
            Some(t) if glob(p, t, false) => count += 1,
            _ => return false,
        }
    }
    count == n
}

/// How a pattern matches every text that starts with a given prefix ([`arn_glob_over`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// Every such text matches.
    All,
    /// No such text matches.
    None,
    /// Some may and some may not (or it cannot be told cheaply).
    Depends,
}

/// How [`arn_glob`]`(pattern, prefix + rest)` answers over every `rest`: for a decision about
/// an S3 object (`arn:aws:s3:::bucket/` + key) that holds for all keys of its bucket. `prefix`
/// must hold at least five colons (an ARN up to its resource part), so that the first five
/// segments are the prefix's own. Conservative: [`Over::Depends`] when in doubt.
pub fn arn_glob_over(pattern: &str, prefix: &str) -> Over {
    if pattern == "*" {
        return Over::All;
    }
    let segments: Vec<&str> = pattern.splitn(6, ':').collect();
    let n = segments.len();
    if prefix.bytes().filter(|b| *b == b':').count() < n - 1 {
        return Over::Depends;
    }
    let texts: Vec<&str> = prefix.splitn(n, ':').collect();
    debug_assert_eq!(texts.len(), n);
    if segments[..n - 1]
        .iter()
        .zip(&texts)
        .any(|(p, t)| !glob(p, t, false))
    {
        return Over::None;
    }
    // The last segment: the prefix's end (`s`) followed by any text.
    let (last, s) = (segments[n - 1], texts[n - 1]);
    if last.ends_with('*') && glob(last, s, false) {
        // A match of `s` whose final `*` takes whatever follows as well.
        return Over::All;
    }
    // A match starts with the pattern's literal head: one that disagrees with `s` never does.
    let Some(wild) = last.find(['*', '?']) else {
        // No wildcard: only `s` + the rest of the pattern itself.
        return if last.starts_with(s) {
            Over::Depends
        } else {
            Over::None
        };
    };
    let head = &last[..wild];
    if !head.starts_with(s) && !s.starts_with(head) {
        return Over::None;
    }
    Over::Depends
}

/// Split tokens into at most `n` segments at literal colons (ARN segments).
fn segments(tokens: &[Tok], n: usize) -> Vec<&[Tok]> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if out.len() + 1 == n {
            break;
        }
        if *t == Tok::Lit(':') {
            out.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    out.push(&tokens[start..]);
    out
}

/// ARN matching as `Resource` and `ArnLike` do it: each of the six colon-separated segments
/// separately (the last one keeps its colons), case-sensitive. A pattern of fewer segments
/// matches its last segment against the rest of the text (`arn:*` matches every ARN).
pub fn arn_matches(pattern: &[Tok], text: &str) -> bool {
    let p = segments(pattern, 6);
    let t: Vec<&str> = text.splitn(p.len(), ':').collect();
    t.len() == p.len() && p.iter().zip(&t).all(|(p, t)| matches(p, t, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        matches(&compile(p, None).unwrap(), t, false)
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("abc", "abcd"));
        assert!(m("s3:Get*", "s3:GetObject"));
        assert!(!m("s3:Get*", "s3:getobject"));
        assert!(matches(
            &compile("S3:get*", None).unwrap(),
            "s3:GetObject",
            true
        ));
    }

    #[test]
    fn patterns_over_an_s3_bucket() {
        let b = "arn:aws:s3:::photos/";
        assert_eq!(arn_glob_over("*", b), Over::All);
        assert_eq!(arn_glob_over("arn:aws:s3:::photos/*", b), Over::All);
        assert_eq!(arn_glob_over("arn:aws:s3:::photo*", b), Over::All);
        assert_eq!(arn_glob_over("arn:aws:s3:::*", b), Over::All);
        assert_eq!(arn_glob_over("arn:*", b), Over::All);
        assert_eq!(arn_glob_over("arn:aws:s3:::ph?tos/*", b), Over::All);
        assert_eq!(arn_glob_over("arn:aws:s3:::photos", b), Over::None);
        assert_eq!(arn_glob_over("arn:aws:s3:::other/*", b), Over::None);
        assert_eq!(arn_glob_over("arn:aws:sqs:*", b), Over::None);
        assert_eq!(
            arn_glob_over("arn:aws:s3:::photos/2024/*", b),
            Over::Depends
        );
        assert_eq!(arn_glob_over("arn:aws:s3:::photos/*.jpg", b), Over::Depends);
        assert_eq!(arn_glob_over("arn:aws:s3:::*/private", b), Over::Depends);
        assert_eq!(arn_glob_over("arn:aws:s3:::photos/a", b), Over::Depends);
    }

    proptest::proptest! {
        // What the classifier says of a pattern holds for every key.
        #[test]
        fn over_a_prefix_holds_for_every_key(
            pattern in "(arn:aws:s3:::|arn:\\*:|\\*|arn:aws:s3:::b)[a-cé/*?:]{0,6}",
            keys in proptest::collection::vec("[a-cé/:*?]{0,5}", 1..6),
        ) {
            let prefix = "arn:aws:s3:::b/";
            let over = arn_glob_over(&pattern, prefix);
            for k in &keys {
                let hit = arn_glob(&pattern, &format!("{prefix}{k}"));
                match over {
                    Over::All => proptest::prop_assert!(hit, "{pattern} / {k}"),
                    Over::None => proptest::prop_assert!(!hit, "{pattern} / {k}"),
                    Over::Depends => {}
                }
            }
        }
    }

    #[test]
    fn long_inputs_stay_linearish() {
        let p = "*a".repeat(50) + "b";
        let t = "a".repeat(5000);
        assert!(!m(&p, &t));
    }

    #[test]
    fn variables_are_literal() {
        let mut ctx = Context::default();
        ctx.insert("aws:username", "bo*b");
        let toks = compile("home/${aws:username}/*", Some(&ctx)).unwrap();
        assert!(matches(&toks, "home/bo*b/x", false));
        assert!(!matches(&toks, "home/boXb/x", false));
        assert_eq!(compile("${aws:nope}", Some(&ctx)), None);
        assert_eq!(
            render(&compile("${aws:nope, 'anon'}", Some(&ctx)).unwrap()),
            "anon"
        );
        assert_eq!(
            compile("${*}${?}${$}", Some(&ctx)).unwrap(),
            vec![Tok::Lit('*'), Tok::Lit('?'), Tok::Lit('$')]
        );
        // Without variables (2008-10-17) the text is literal, wildcards included.
        assert_eq!(
            render(&compile("${aws:username}", None).unwrap()),
            "${aws:username}"
        );
        // Key names are case-insensitive.
        assert_eq!(
            render(&compile("${AWS:UserName}", Some(&ctx)).unwrap()),
            "bo*b"
        );
    }

    #[test]
    fn glob_agrees_with_tokens() {
        let cases = [
            ("*", ""),
            ("a*c", "abbbc"),
            ("a*c", "acb"),
            ("a?c", "abc"),
            ("a?c", "aéc"),
            ("é*", "éa"),
            ("S3:Get*", "s3:getobject"),
            ("*a*b", "xaxxb"),
            ("", ""),
            ("", "a"),
        ];
        for (p, t) in cases {
            for ic in [false, true] {
                let toks = compile(p, None).unwrap();
                assert_eq!(glob(p, t, ic), matches(&toks, t, ic), "{p} {t} {ic}");
            }
        }
    }

    #[test]
    fn arn_segments() {
        for (p, t) in [
            ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"),
            ("arn:aws:sqs:*:q", "arn:aws:sqs:us-east-1:123456789012:q"),
            ("arn:*", "arn:aws:s3:::b"),
            ("arn:aws:s3:::b", "arn:aws:s3"),
            ("*", "x"),
        ] {
            assert_eq!(
                arn_glob(p, t),
                arn_matches(&compile(p, None).unwrap(), t),
                "{p} {t}"
            );
        }
        let a = |p: &str, t: &str| arn_matches(&compile(p, None).unwrap(), t);
        assert!(a("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"));
        assert!(a(
            "arn:aws:sqs:*:123456789012:q*",
            "arn:aws:sqs:us-east-1:123456789012:queue"
        ));
        // A star does not cross a segment.
        assert!(!a(
            "arn:aws:sqs:*:q",
            "arn:aws:sqs:us-east-1:123456789012:q"
        ));
        assert!(!a("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"));
        assert!(a("arn:*", "arn:aws:s3:::bucket"));
        assert!(a("*", "arn:aws:s3:::bucket"));
    }
}

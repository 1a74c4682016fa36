//! S3 object keys as Firehose forms them: the `Prefix` and `ErrorOutputPrefix` with their
//! expressions (`!{timestamp:<Java DateTimeFormatter pattern>}`, `!{firehose:random-string}`,
//! `!{firehose:error-output-type}`, `!{partitionKeyFromQuery:<key>}`), the default
//! `YYYY/MM/DD/HH/` a prefix without a timestamp gets, and the object name
//! `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`. Times are UTC.

use std::collections::BTreeMap;

/// One piece of a prefix template.
#[derive(Clone, Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Expr(&'a str, &'a str),
}

fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("!{") {
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "The expression starting at '{}' is not closed with '}}'.",
                &rest[i..]
            ));
        };
        let body = &after[..end];
        let Some((ns, value)) = body.split_once(':') else {
            return Err(format!(
                "The expression '!{{{body}}}' must have the form !{{namespace:value}}."
            ));
        };
        out.push(Piece::Expr(ns, value));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// What AWS refuses of a destination's prefixes (`InvalidArgumentException`).
pub fn check(prefix: &str, error_prefix: &str, dynamic_partitioning: bool) -> Result<(), String> {
    let pieces = parse(prefix)?;
    let mut has_expr = false;
    for p in &pieces {
        if let Piece::Expr(ns, value) = p {
            has_expr = true;
            check_expr(ns, value, false, dynamic_partitioning)?;
        }
    }
    for p in parse(error_prefix)? {
        if let Piece::Expr(ns, value) = p {
            check_expr(ns, value, true, dynamic_partitioning)?;
        }
    }
    if has_expr && error_prefix.is_empty() {
        return Err(
            "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions."
                .to_string(),
        );
    }
    if dynamic_partitioning && prefix.is_empty() {
        return Err("Prefix cannot be empty when dynamic partitioning is enabled.".to_string());
    }
    Ok(())
}

fn check_expr(ns: &str, value: &str, in_error: bool, dynamic: bool) -> Result<(), String> {
    match ns {
        "timestamp" => format_timestamp(value, 0).map(|_| ()),
        "firehose" => match value {
            "random-string" => Ok(()),
            "error-output-type" if in_error => Ok(()),
            "error-output-type" => Err(
                "The expression !{firehose:error-output-type} is allowed only in ErrorOutputPrefix."
                    .to_string(),
            ),
            _ => Err(format!(
                "The expression !{{firehose:{value}}} is not supported: the firehose namespace has random-string and error-output-type."
            )),
        },
        "partitionKeyFromQuery" | "partitionKeyFromLambda" if in_error => Err(format!(
            "The expression !{{{ns}:{value}}} is not allowed in ErrorOutputPrefix."
        )),
        "partitionKeyFromQuery" | "partitionKeyFromLambda" if !dynamic => Err(format!(
            "The expression !{{{ns}:{value}}} requires dynamic partitioning to be enabled."
        )),
        "partitionKeyFromQuery" | "partitionKeyFromLambda" => Ok(()),
        _ => Err(format!(
            "The namespace {ns} is not supported: use timestamp, firehose, partitionKeyFromQuery or partitionKeyFromLambda."
        )),
    }
}

/// The values an expansion uses.
pub struct Values<'a> {
    /// The arrival time of the oldest record of the object (epoch ms).
    pub ts_ms: u64,
    /// `!{firehose:random-string}`: 11 characters.
    pub random: &'a str,
    /// `!{firehose:error-output-type}`, for error prefixes.
    pub error_type: Option<&'a str>,
    /// `!{partitionKeyFromQuery:<key>}` values.
    pub keys: &'a BTreeMap<String, String>,
}

fn expand_pieces(pieces: &[Piece<'_>], v: &Values<'_>) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr("timestamp", pat) => {
                out.push_str(&format_timestamp(pat, v.ts_ms).unwrap_or_default())
            }
            Piece::Expr("firehose", "random-string") => out.push_str(v.random),
            Piece::Expr("firehose", "error-output-type") => {
                out.push_str(v.error_type.unwrap_or(""))
            }
            Piece::Expr(_, key) => out.push_str(v.keys.get(*key).map(String::as_str).unwrap_or("")),
        }
    }
    out
}

fn has_timestamp(pieces: &[Piece<'_>]) -> bool {
    pieces
        .iter()
        .any(|p| matches!(p, Piece::Expr("timestamp", _)))
}

/// The key prefix of a delivered object: `Prefix` expanded, followed by `YYYY/MM/DD/HH/` when
/// it has no timestamp expression and dynamic partitioning is off.
pub fn object_prefix(prefix: &str, dynamic: bool, v: &Values<'_>) -> String {
    let pieces = parse(prefix).unwrap_or_else(|_| vec![Piece::Text(prefix)]);
    let mut out = expand_pieces(&pieces, v);
    if !dynamic && !has_timestamp(&pieces) {
        out.push_str(&format_timestamp("yyyy/MM/dd/HH/", v.ts_ms).unwrap_or_default());
    }
    out
}

/// The key prefix of failed records: `ErrorOutputPrefix` expanded (the error type added when it
/// does not name it, and `YYYY/MM/DD/HH/` when it has no timestamp); without one, the
/// `Prefix`'s literal start followed by the error type.
pub fn error_prefix(error_prefix: &str, prefix: &str, v: &Values<'_>) -> String {
    let (base, pieces) = if error_prefix.is_empty() {
        let literal = prefix.split("!{").next().unwrap_or("");
        (literal.to_string(), Vec::new())
    } else {
        let pieces = parse(error_prefix).unwrap_or_else(|_| vec![Piece::Text(error_prefix)]);
        (expand_pieces(&pieces, v), pieces)
    };
    let mut out = base;
    let names_type = pieces
        .iter()
        .any(|p| matches!(p, Piece::Expr("firehose", "error-output-type")));
    if !names_type {
        out.push_str(v.error_type.unwrap_or("processing-failed"));
        out.push('/');
    }
    if !has_timestamp(&pieces) {
        out.push_str(&format_timestamp("yyyy/MM/dd/HH/", v.ts_ms).unwrap_or_default());
    }
    out
}

/// `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid><extension>`.
pub fn object_name(stream: &str, version: u64, ts_ms: u64, uuid: &str, extension: &str) -> String {
    let t = format_timestamp("yyyy-MM-dd-HH-mm-ss", ts_ms).unwrap_or_default();
    format!("{stream}-{version}-{t}-{uuid}{extension}")
}

/// UTC fields of epoch milliseconds: (year, month, day, hour, minute, second, millisecond).
fn fields(ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let iso = snapstack_protocol::codec::time::iso8601_ms(ms);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`
    let n = |a: usize, b: usize| {
        iso.get(a..b)
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let year = iso.get(0..4).and_then(|s| s.parse().ok()).unwrap_or(1970);
    (
        year,
        n(5, 7),
        n(8, 10),
        n(11, 13),
        n(14, 16),
        n(17, 19),
        n(20, 23),
    )
}

/// A Java `DateTimeFormatter` pattern of `ms` (UTC): `y`, `M`, `d`, `H`, `m`, `s`, `S`, with
/// quoted literals (`'...'`) and any non-letter as itself. Other letters are refused.
pub fn format_timestamp(pattern: &str, ms: u64) -> Result<String, String> {
    let (y, mo, d, h, mi, s, milli) = fields(ms);
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                out.push(chars[j]);
                j += 1;
            }
            if j >= chars.len() {
                return Err(format!(
                    "The timestamp pattern {pattern} has an unclosed quote."
                ));
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let pad = |v: u32, w: usize| format!("{v:0w$}");
        match c {
            'y' | 'u' if n == 2 => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            'y' | 'u' => out.push_str(&format!("{y:0n$}")),
            'M' => out.push_str(&pad(mo, n.min(2))),
            'd' => out.push_str(&pad(d, n.min(2))),
            'H' => out.push_str(&pad(h, n.min(2))),
            'm' => out.push_str(&pad(mi, n.min(2))),
            's' => out.push_str(&pad(s, n.min(2))),
            'S' => {
                let frac = format!("{milli:03}000000");
                out.push_str(&frac[..n.min(9)]);
            }
            _ => {
                return Err(format!(
                    "The timestamp pattern {pattern} uses the unsupported letter '{c}'."
                ));
            }
        }
        i += n;
    }
    Ok(out)
}

/// Sequence of `n` alphanumeric characters derived from `seed` (deterministic).
pub fn random_string(seed: &[u8], n: usize) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let digest = sha2::Sha256::digest(seed);
    digest
        .iter()
        .take(n)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A version-4-shaped UUID derived from `seed` (deterministic).
pub fn uuid_from(seed: &[u8]) -> String {
    use sha2::Digest;
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&sha2::Sha256::digest(seed)[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-05T07:08:09.123Z
    const T: u64 = 1_709_622_489_123;

    fn v<'a>(keys: &'a BTreeMap<String, String>) -> Values<'a> {
        Values {
            ts_ms: T,
            random: "AbCdEfGhIjK",
            error_type: Some("processing-failed"),
            keys,
        }
    }

    #[test]
    fn timestamps_follow_java_patterns() {
        assert_eq!(
            format_timestamp("yyyy/MM/dd/HH/", T).unwrap(),
            "2024/03/05/07/"
        );
        assert_eq!(
            format_timestamp("yyyy-MM-dd'T'HH:mm:ss.SSS", T).unwrap(),
            "2024-03-05T07:08:09.123"
        );
        assert_eq!(format_timestamp("yy M d", T).unwrap(), "24 3 5");
        assert!(format_timestamp("yyyy-QQ", T).is_err());
        assert!(format_timestamp("'open", T).is_err());
    }

    #[test]
    fn default_prefix_is_appended_without_a_timestamp() {
        let k = BTreeMap::new();
        assert_eq!(object_prefix("", false, &v(&k)), "2024/03/05/07/");
        assert_eq!(object_prefix("logs/", false, &v(&k)), "logs/2024/03/05/07/");
        assert_eq!(
            object_prefix(
                "y=!{timestamp:yyyy}/r=!{firehose:random-string}/",
                false,
                &v(&k)
            ),
            "y=2024/r=AbCdEfGhIjK/"
        );
        let mut keys = BTreeMap::new();
        keys.insert("customer".to_string(), "c1".to_string());
        assert_eq!(
            object_prefix("c=!{partitionKeyFromQuery:customer}/", true, &v(&keys)),
            "c=c1/"
        );
    }

    #[test]
    fn error_prefixes_name_the_error_type() {
        let k = BTreeMap::new();
        assert_eq!(
            error_prefix(
                "err/!{firehose:error-output-type}/!{timestamp:yyyy}/",
                "p/",
                &v(&k)
            ),
            "err/processing-failed/2024/"
        );
        assert_eq!(
            error_prefix("", "p/!{timestamp:yyyy}/", &v(&k)),
            "p/processing-failed/2024/03/05/07/"
        );
        assert_eq!(
            error_prefix("err/", "", &v(&k)),
            "err/processing-failed/2024/03/05/07/"
        );
    }

    #[test]
    fn expressions_are_checked_as_aws_does() {
        assert!(check("a/!{timestamp:yyyy}/", "e/", false).is_ok());
        assert!(check("a/!{timestamp:yyyy}/", "", false).is_err());
        assert!(check("a/!{firehose:error-output-type}/", "e/", false).is_err());
        assert!(check("e/", "e/!{firehose:error-output-type}/", false).is_ok());
        assert!(check("!{partitionKeyFromQuery:x}/", "e/", false).is_err());
        assert!(check("!{partitionKeyFromQuery:x}/", "e/", true).is_ok());
        assert!(check("!{bogus:x}/", "e/", false).is_err());
        assert!(check("!{timestamp:yyyy/", "e/", false).is_err());
        assert!(check("plain/", "", false).is_ok());
    }

    #[test]
    fn object_names_are_formed_as_aws_forms_them() {
        let u = uuid_from(b"seed");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(uuid_from(b"seed"), u);
        assert_ne!(uuid_from(b"other"), u);
        assert_eq!(
            object_name("s1", 3, T, &u, ".gz"),
            format!("s1-3-2024-03-05-07-08-09-{u}.gz")
        );
        let r = random_string(b"x", 11);
        assert_eq!(r.len(), 11);
        assert!(r.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    proptest::proptest! {
        #[test]
        fn expansion_never_panics(t in ".{0,40}", e in ".{0,20}", ms in 0u64..4_102_444_800_000) {
            let _ = check(&t, &e, ms % 2 == 0);
            let k = BTreeMap::new();
            let vals = Values { ts_ms: ms, random: "r", error_type: None, keys: &k };
            let _ = object_prefix(&t, false, &vals);
            let _ = error_prefix(&e, &t, &vals);
            let _ = format_timestamp(&t, ms);
        }
    }
}

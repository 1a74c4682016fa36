//! The S3 Select parser's tests: what parses, S3's error codes, bounds, and a property test
//! that no input panics it.

use super::*;

fn code(src: &str) -> &'static str {
    parse(src).unwrap_err().code
}

#[test]
fn selects_parse() {
    let q = parse("SELECT * FROM S3Object").unwrap();
    assert_eq!(q.projection, Projection::Star);
    assert_eq!(q.alias, None);
    let q = parse("select s._1, s.\"Name\" AS n FROM s3object s WHERE s._2 > 3 LIMIT 5").unwrap();
    assert_eq!(q.alias.as_deref(), Some("s"));
    assert_eq!(q.limit, Some(5));
    let Projection::Items(items) = &q.projection else {
        panic!()
    };
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].1.as_deref(), Some("n"));
    assert!(q.filter.is_some());
    let q = parse("SELECT r.id FROM S3Object[*].Rules[*] r").unwrap();
    assert_eq!(
        q.from,
        vec![
            Step::Wildcard,
            Step::Field {
                name: "Rules".into(),
                quoted: false
            },
            Step::Wildcard
        ]
    );
    let q = parse("SELECT COUNT(*), AVG(CAST(_1 AS INT)) / 2 FROM S3Object").unwrap();
    assert_eq!(q.aggregates.len(), 2);
    parse("SELECT * FROM S3Object s WHERE s.a LIKE 'x%' AND s.b NOT IN (1, 2) OR s.c BETWEEN 1 AND 2 AND s.d IS NOT NULL").unwrap();
    parse("SELECT TRIM(BOTH 'x' FROM s.a), SUBSTRING(s.a FROM 2 FOR 3), SUBSTRING(s.a, 1), LOWER(s.a) || UPPER(s.b) FROM S3Object s").unwrap();
    parse("SELECT CASE WHEN s.a = 1 THEN 'one' ELSE 'other' END FROM S3Object s").unwrap();
    parse("SELECT CAST(s.a AS DECIMAL(10,2)) FROM S3Object s -- a comment").unwrap();
}

#[test]
fn errors_have_s3_codes() {
    assert_eq!(code("SELEC * FROM S3Object"), "ParseUnsupportedSelect");
    assert_eq!(code("SELECT FROM S3Object"), "ParseEmptySelect");
    assert_eq!(code("SELECT *"), "ParseSelectMissingFrom");
    assert_eq!(code("SELECT * FROM t"), "InvalidDataSource");
    assert_eq!(
        code("SELECT * FROM S3Object LIMIT -1"),
        "EvaluatorNegativeLimit"
    );
    assert_eq!(
        code("SELECT * FROM S3Object LIMIT x"),
        "ParseExpectedNumber"
    );
    assert_eq!(
        code("SELECT * FROM S3Object WHERE"),
        "ParseExpectedExpression"
    );
    assert_eq!(code("SELECT * FROM S3Object s s"), "ParseUnexpectedToken");
    assert_eq!(code("SELECT 'abc FROM S3Object"), "LexerInvalidLiteral");
    assert_eq!(code("SELECT # FROM S3Object"), "LexerInvalidChar");
    assert_eq!(
        code("SELECT SUM(*) FROM S3Object"),
        "ParseUnsupportedCallWithStar"
    );
    assert_eq!(
        code("SELECT SUM(a, b) FROM S3Object"),
        "ParseNonUnaryAgregateFunctionCall"
    );
    assert_eq!(code("SELECT FOO(a) FROM S3Object"), "UnsupportedFunction");
    assert_eq!(
        code("SELECT LOWER(a, b) FROM S3Object"),
        "EvaluatorInvalidArguments"
    );
    assert_eq!(
        code("SELECT CAST(a AS WHATEVER) FROM S3Object"),
        "ParseExpectedTypeName"
    );
    assert_eq!(
        code("SELECT CAST a FROM S3Object"),
        "ParseExpectedLeftParenAfterCast"
    );
    assert_eq!(
        code("SELECT a, COUNT(*) FROM S3Object"),
        "UnsupportedSqlStructure"
    );
    assert_eq!(
        code("SELECT * FROM S3Object WHERE COUNT(*) > 1"),
        "UnsupportedSqlOperation"
    );
    assert_eq!(
        code("SELECT * FROM S3Object ORDER BY a"),
        "ParseUnsupportedSyntax"
    );
    assert_eq!(
        code("SELECT a, * FROM S3Object"),
        "ParseAsteriskIsNotAloneInSelectList"
    );
    assert_eq!(
        code("SELECT 99999999999999999999 FROM S3Object"),
        "IntegerOverflow"
    );
    assert_eq!(
        code("SELECT DATE_ADD(fortnight, 1, `2010T`) FROM S3Object"),
        "ParseExpectedDatePart"
    );
    assert_eq!(
        code("SELECT EXTRACT(YEAR `2010T`) FROM S3Object"),
        "ParseExpectedKeyword"
    );
    assert_eq!(
        code("SELECT `2010-13T` FROM S3Object"),
        "LexerInvalidIONLiteral"
    );
    assert_eq!(
        code("SELECT `2010T FROM S3Object"),
        "LexerInvalidIONLiteral"
    );
    assert_eq!(
        code("SELECT UTCNOW(1) FROM S3Object"),
        "EvaluatorInvalidArguments"
    );
}

#[test]
fn date_functions_parse() {
    parse("SELECT UTCNOW(), TO_TIMESTAMP(s.d), TO_STRING(s.d, 'y-MM-dd'), DATE_ADD(day, 1, `2010-01-01T`), DATE_DIFF(month, `2010T`, s.d), EXTRACT(timezone_hour FROM s.d) FROM S3Object s").unwrap();
}

/// The filter of `SELECT * FROM S3Object WHERE <src>`.
fn filter(src: &str) -> Expr {
    parse(&format!("SELECT * FROM S3Object WHERE {src}"))
        .unwrap()
        .filter
        .unwrap()
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary(op, Box::new(l), Box::new(r))
}

fn path(name: &str) -> Expr {
    Expr::Path(vec![Step::Field {
        name: name.into(),
        quoted: false,
    }])
}

fn int(n: i64) -> Expr {
    Expr::Lit(Value::Int(n))
}

#[test]
fn operators_bind_by_precedence_and_associate_left() {
    let (a, b, c) = (path("a"), path("b"), path("c"));
    assert_eq!(
        filter("a OR b AND c"),
        bin(BinOp::Or, a.clone(), bin(BinOp::And, b.clone(), c.clone()))
    );
    assert_eq!(
        filter("a AND b OR c"),
        bin(BinOp::Or, bin(BinOp::And, a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        filter("a OR b OR c"),
        bin(BinOp::Or, bin(BinOp::Or, a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        filter("1 + 2 * 3 = 7"),
        bin(
            BinOp::Eq,
            bin(BinOp::Add, int(1), bin(BinOp::Mul, int(2), int(3))),
            int(7)
        )
    );
    assert_eq!(
        filter("8 - 4 - 2 < 3 || 'x'"),
        bin(
            BinOp::Lt,
            bin(BinOp::Sub, bin(BinOp::Sub, int(8), int(4)), int(2)),
            bin(BinOp::Concat, int(3), Expr::Lit(Value::Str("x".into())))
        )
    );
    assert_eq!(
        filter("8 / 4 % 3 * 2"),
        bin(
            BinOp::Mul,
            bin(BinOp::Mod, bin(BinOp::Div, int(8), int(4)), int(3)),
            int(2)
        )
    );
    // NOT takes a comparison; BETWEEN's AND is its own, not a logical AND.
    assert_eq!(
        filter("NOT a = b AND c"),
        bin(
            BinOp::And,
            Expr::Not(Box::new(bin(BinOp::Eq, a.clone(), b.clone()))),
            c.clone()
        )
    );
    assert_eq!(
        filter("a BETWEEN 1 AND 2 AND c"),
        bin(
            BinOp::And,
            Expr::Between {
                expr: Box::new(a.clone()),
                low: Box::new(int(1)),
                high: Box::new(int(2)),
                negated: false
            },
            c.clone()
        )
    );
    assert_eq!(
        filter("a = 1 OR b < 2 + 3"),
        bin(
            BinOp::Or,
            bin(BinOp::Eq, a, int(1)),
            bin(BinOp::Lt, b, bin(BinOp::Add, int(2), int(3)))
        )
    );
}

#[test]
fn deep_and_long_expressions_are_refused_not_overflowed() {
    let deep = format!(
        "SELECT {}1{} FROM S3Object",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert_eq!(code(&deep), "MaxOperatorsExceeded");
    let long = format!("SELECT 1{} FROM S3Object", " + 1".repeat(5000));
    assert_eq!(code(&long), "MaxOperatorsExceeded");
    let nots = format!("SELECT * FROM S3Object WHERE {} TRUE", "NOT ".repeat(5000));
    assert_eq!(code(&nots), "MaxOperatorsExceeded");
    let huge = format!("SELECT '{}' FROM S3Object", "a".repeat(MAX_EXPRESSION));
    assert_eq!(code(&huge), "ExpressionTooLong");
}

proptest::proptest! {
    #[test]
    fn the_parser_never_panics(src in ".{0,200}") {
        let _ = parse(&src);
    }

    #[test]
    fn the_parser_never_panics_on_sql_like_input(
        words in proptest::collection::vec(proptest::sample::select(vec![
            "SELECT", "*", "FROM", "S3Object", "s", "s._1", "WHERE", "(", ")", ",", "AND",
            "OR", "NOT", "LIKE", "'a%'", "IN", "BETWEEN", "IS", "NULL", "CAST", "AS", "INT",
            "COUNT", "SUM", "1", "2.5", "=", "<", "+", "-", "/", "LIMIT", "CASE", "WHEN",
            "THEN", "END", "TRIM", "SUBSTRING", "FOR", "[", "]", "[*]", ".", "\"x\"",
        ]), 0..40)
    ) {
        let _ = parse(&words.join(" "));
    }
}

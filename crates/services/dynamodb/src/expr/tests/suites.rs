//! Cases from DynamoDB-verified suites: error order, key condition structure, filter
//! expressions, list writes.

use super::*;

/// Expressions with several errors: DynamoDB reports them by kind, not by position (cases from
/// DynamoDB-verified suites).
#[test]
fn errors_are_reported_in_dynamodb_order() {
    let values = values_from_json(&json!({
        ":a": {"S": "a"}, ":b": {"N": "1"}, ":c": {"B": "YQ=="}, ":f": {"SS": ["a"]}
    }))
    .unwrap();
    let run = |src: &str, names: &[(&str, &str)]| -> String {
        let names: BTreeMap<String, String> = names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut ph = Placeholders::new(Some(&names), Some(&values));
        parse_update(src, &mut ph).unwrap_err().0
    };
    let ab = [("#a", "a"), ("#b", "b")];
    let cd = [("#c", "c"), ("#d", "[3]")];
    let u = "Invalid UpdateExpression: ";
    let overlap = |a: &str, b: &str| {
        format!(
            "{u}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
        )
    };
    let conflict = |a: &str, b: &str| {
        format!(
            "{u}Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
        )
    };
    type Names<'n> = &'n [(&'n str, &'n str)];
    let cases: Vec<(&str, Names, String)> = vec![
        (
            " set #c = :c set abOrt = true ",
            &ab,
            format!("{u}Attribute name is a reserved keyword; reserved keyword: abOrt"),
        ),
        (
            " remove Absolute ",
            &ab,
            format!("{u}Attribute name is a reserved keyword; reserved keyword: Absolute"),
        ),
        (
            "add abort b",
            &ab,
            format!("{u}Syntax error; token: \"b\", near: \"abort b\""),
        ),
        (
            "set #c = if_not_exist(:c) set c = d",
            &ab,
            format!("{u}Invalid function name; function: if_not_exist"),
        ),
        (
            "set a = #c set c = :d",
            &ab,
            format!("{u}The \"SET\" section can only be used once in an update expression;"),
        ),
        (
            "remove #d set a = b remove e",
            &ab,
            format!("{u}The \"REMOVE\" section can only be used once in an update expression;"),
        ),
        (
            "add #d :e set a = b add e :f",
            &ab,
            format!("{u}The \"ADD\" section can only be used once in an update expression;"),
        ),
        (
            "SET #c = if_not_exists(:c)",
            &ab,
            format!(
                "{u}An expression attribute name used in the document path is not defined; attribute name: #c"
            ),
        ),
        (
            "SET #a = if_not_exists(:c1)",
            &ab,
            format!(
                "{u}An expression attribute value used in expression is not defined; attribute value: :c1"
            ),
        ),
        (
            "set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)",
            &cd,
            overlap("[c, [1], a]", "[c]"),
        ),
        (
            "set c.b.#c = a, c = a, #d = a",
            &cd,
            overlap("[c, b, c]", "[c]"),
        ),
        ("set a = b remove a, #c, #d", &cd, overlap("[a]", "[a]")),
        (
            "set #c[3].#d = a, #c[3] = a",
            &cd,
            overlap("[c, [3], [3]]", "[c, [3]]"),
        ),
        ("remove c, #c.a, #d", &cd, overlap("[c]", "[c, a]")),
        (
            "set #c[3].#d = a, #c.#d[3] = if_not_exists(a)",
            &cd,
            conflict("[c, [3], [3]]", "[c, [3], [3]]"),
        ),
        (
            "remove a.#c set a[1] = #d",
            &cd,
            conflict("[a, c]", "[a, [1]]"),
        ),
        (
            "set b = list_append(:a, a), c = if_not_exists(a) add a.b :a",
            &ab,
            format!(
                "{u}Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
            ),
        ),
        (
            "set a = if_not_exists(c)",
            &ab,
            format!(
                "{u}Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"
            ),
        ),
        (
            "set a = list_append(c)",
            &ab,
            format!(
                "{u}Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"
            ),
        ),
        (
            "set a = if_not_exists(:a, c)",
            &ab,
            format!(
                "{u}Operator or function requires a document path; operator or function: if_not_exists"
            ),
        ),
        (
            "set a = if_not_exists(if_not_exists(a, b), c)",
            &ab,
            format!(
                "{u}Operator or function requires a document path; operator or function: if_not_exists"
            ),
        ),
        (
            "set a = list_append(a, :b)",
            &ab,
            format!(
                "{u}Incorrect operand type for operator or function; operator or function: list_append, operand type: N"
            ),
        ),
        (
            "set a = :a + :c",
            &ab,
            format!(
                "{u}Incorrect operand type for operator or function; operator or function: +, operand type: S"
            ),
        ),
        (
            "set a = :c + a",
            &ab,
            format!(
                "{u}Incorrect operand type for operator or function; operator or function: +, operand type: B"
            ),
        ),
        (
            "set a = a - :f",
            &ab,
            format!(
                "{u}Incorrect operand type for operator or function; operator or function: -, operand type: SS"
            ),
        ),
        (
            "set a = b + c + d",
            &ab,
            format!("{u}Syntax error; token: \"+\", near: \"c + d\""),
        ),
        (
            "set a[1] = 1",
            &ab,
            format!("{u}Syntax error; token: \"1\", near: \"= 1\""),
        ),
    ];
    for (src, names, want) in cases {
        assert_eq!(run(src, names), want, "{src}");
    }
    // A name cannot start with an underscore (seen from DynamoDB).
    let mut ph = Placeholders::new(None, Some(&values));
    assert_eq!(
        parse_condition("a = :a AND __typename = :b", &mut ph)
            .unwrap_err()
            .0,
        "Invalid ConditionExpression: Syntax error; token: \"_\", near: \"AND __\""
    );
    // In conditions too: a reserved word is reported before an undefined name written first.
    let mut ph = Placeholders::new(None, Some(&values));
    assert_eq!(
        parse_condition("#x = :a AND size = :b", &mut ph)
            .unwrap_err()
            .0,
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: size"
    );
}

/// Key condition checks that need no key schema, in DynamoDB's order (cases from a
/// DynamoDB-verified suite).
#[test]
fn key_condition_structure() {
    let values: BTreeMap<String, AttributeValue> = [
        (":a".to_string(), AttributeValue::S("1".into())),
        (":b".to_string(), AttributeValue::S("1".into())),
    ]
    .into();
    let check = |src: &str| {
        let mut ph = Placeholders::new(None, Some(&values));
        validate_key_condition(src, &mut ph).map_err(|e| e.0)
    };
    let invalid_op = |op: &str| format!("Invalid operator used in KeyConditionExpression: {op}");
    let nested_ops = "KeyConditionExpressions cannot contain nested operations".to_string();
    let multiple = "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition".to_string();
    let nested_attr =
        "KeyConditionExpressions cannot have conditions on nested attributes".to_string();
    let no_key =
        "Invalid condition in KeyConditionExpression: No key attribute specified".to_string();
    let per_key = "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key".to_string();
    for (src, want) in [
        ("a > b and size(b) > c or a > c", invalid_op("OR")),
        ("a in (b, size(c), d)", invalid_op("IN")),
        ("attribute_exists(a)", invalid_op("attribute_exists")),
        ("attribute_not_exists(a)", invalid_op("attribute_not_exists")),
        ("contains(a.d, b)", invalid_op("contains")),
        ("not a > b", invalid_op("NOT")),
        ("a <> b", invalid_op("<>")),
        (":a between size(b) and size(a) and b > :b", "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand".to_string()),
        ("begins_with(:a, b) and a > :b", "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand".to_string()),
        ("size(b) > a AND a.b > b AND b > c", nested_ops.clone()),
        ("a > size(b.d)", nested_ops.clone()),
        ("a between size(b) and size(a)", nested_ops),
        ("b > a.b", multiple.clone()),
        ("b between c[1] and d", multiple.clone()),
        ("a between b and size(a)", multiple.clone()),
        ("begins_with(a, b)", multiple),
        ("b.d > a AND c.d > e.f", nested_attr.clone()),
        ("a.d > c", nested_attr.clone()),
        ("b[0] > a", nested_attr),
        (":b > :a AND a < :b", no_key.clone()),
        (":a > b AND :a < :b", no_key),
        ("b > :a AND b < :a and c = :a and d = :a", per_key.clone()),
        ("(a > :a and b > :a) and (b > :a and c > :a)", per_key),
        ("a > 4", "Invalid KeyConditionExpression: Syntax error; token: \"4\", near: \"> 4\"".to_string()),
    ] {
        assert_eq!(check(src), Err(want), "{src}");
    }
    assert_eq!(check("a = :a AND :b <= b"), Ok(()));
}

/// FilterExpression cases from a DynamoDB-verified suite: syntax, parenthesized operands,
/// redundant parentheses, and the order in which errors of different kinds are reported.
#[test]
fn filter_expression_cases() {
    let f = "Invalid FilterExpression: ";
    let run =
        |src: &str, names: Option<&BTreeMap<String, String>>, value: Option<serde_json::Value>| {
            let values = value.map(|v| values_from_json(&json!({":a": v})).unwrap());
            let mut ph = Placeholders::new(names, values.as_ref());
            parse_filter(src, &mut ph).map(|_| ()).map_err(|e| e.0)
        };
    for src in [
        "things are not gonna be ok",
        "a > 4",
        "attribute_exists(Pictures-RearView)",
        "attribute_exists(\"Pictures.RearView\")",
        "attribute_exists(Pictures..RearView)",
        "attribute_exists(Pi#ctures.RearView)",
        "attribute_exists(asdf[a])",
        "a in b, c",
        "a > between",
        "a in b",
        "a in (b,c,)",
        "(a)between(b.(c.d))and(c)",
        "(a)between(b.c.d)and((c)",
        "#$.b > a",
        "a > :things.stuff",
        "b[:a] > a",
        "b[#_] > a",
        "ü > a",
        "(a)between(b.c[4.5].#d)and(:a)",
        "size(a).b > a",
        "(size(a)).b > a",
        "size(a)[0] > a",
        "(size(a))[0] > a",
    ] {
        let got = run(src, None, None).unwrap_err();
        assert!(
            got.starts_with(&format!("{f}Syntax error; ")),
            "{src}: {got}"
        );
    }
    for src in [
        "a=a and a > ((views))",
        "(a)between(((b.c)).d)and(c)",
        "a > whatever((:things), ((a)))",
        "a=a AND ((a=a AND a=a)) AND a=a",
        "a=a OR ((a=a OR a=a)) OR a=a",
        "a=a AND ((a=a AND (a=a AND a=a)))",
        "a=a OR ((a=a OR (a=a OR a=a)))",
    ] {
        assert_eq!(
            run(src, None, None),
            Err(format!("{f}The expression has redundant parentheses;")),
            "{src}"
        );
    }
    let names: BTreeMap<String, String> = [("#a".to_string(), "a".to_string())].into();
    let cases: Vec<(&str, bool, Option<serde_json::Value>, String)> = vec![
        (
            "a=a and whatever((:things)) > a",
            false,
            None,
            format!("{f}Invalid function name; function: whatever"),
        ),
        (
            "attRIbute_exIsts((views), #a)",
            false,
            None,
            format!("{f}Invalid function name; function: attRIbute_exIsts"),
        ),
        (
            "a=a and attribute_exists((views), (#a)) > b",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: attribute_exists"
            ),
        ),
        (
            "attribute_type(things, :a) > b",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: attribute_type"
            ),
        ),
        (
            "contains(:things, c) > b",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: contains"
            ),
        ),
        (
            "size(contains(a, b)) > a",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: contains"
            ),
        ),
        (
            "size(things)",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: size"
            ),
        ),
        (
            "a between b and attribute_exists(things)",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: attribute_exists"
            ),
        ),
        (
            "a in (b, attribute_exists(things))",
            false,
            None,
            format!(
                "{f}The function is not allowed to be used this way in an expression; function: attribute_exists"
            ),
        ),
        (
            "attribute_exists(views, #a)",
            false,
            None,
            format!("{f}Attribute name is a reserved keyword; reserved keyword: views"),
        ),
        (
            ":a < abOrT",
            false,
            None,
            format!("{f}Attribute name is a reserved keyword; reserved keyword: abOrT"),
        ),
        (
            "attribute_exists(#Pictures.RearView, :a) and a=a",
            false,
            None,
            format!(
                "{f}An expression attribute name used in the document path is not defined; attribute name: #Pictures"
            ),
        ),
        (
            "begins_with(Pictures.#RearView)",
            false,
            None,
            format!(
                "{f}An expression attribute name used in the document path is not defined; attribute name: #RearView"
            ),
        ),
        (
            "(#P between :lo and :hi) and (#PC in (:cat1, :cat2))",
            false,
            None,
            format!(
                "{f}An expression attribute name used in the document path is not defined; attribute name: #P"
            ),
        ),
        (
            "#4g > a",
            false,
            None,
            format!(
                "{f}An expression attribute name used in the document path is not defined; attribute name: #4g"
            ),
        ),
        (
            "(a)between(b.c[45].#d)and(:a)",
            false,
            None,
            format!(
                "{f}An expression attribute name used in the document path is not defined; attribute name: #d"
            ),
        ),
        (
            "begins_with(:hello, #a, #b)",
            false,
            None,
            format!(
                "{f}An expression attribute value used in expression is not defined; attribute value: :hello"
            ),
        ),
        (
            ":a < :b",
            false,
            None,
            format!(
                "{f}An expression attribute value used in expression is not defined; attribute value: :a"
            ),
        ),
        (
            "attribute_exists(things, a) and a=a",
            false,
            None,
            format!(
                "{f}Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
            ),
        ),
        (
            "begins_with(things, size(a), b)",
            false,
            None,
            format!(
                "{f}Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 3"
            ),
        ),
        (
            "size(things, a) > b",
            false,
            None,
            format!(
                "{f}Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"
            ),
        ),
        (
            "attribute_type(a, size(a)) and a=a and a=:a",
            false,
            Some(json!({"N": "1"})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"
            ),
        ),
        (
            "attribute_type(a, :a)",
            false,
            Some(json!({"SS": ["1"]})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: attribute_type, operand type: SS"
            ),
        ),
        (
            "begins_with(a, size(a)) and a=:a",
            false,
            Some(json!({"N": "1"})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
            ),
        ),
        (
            "begins_with(:a, a)",
            false,
            Some(json!({"BOOL": true})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: begins_with, operand type: BOOL"
            ),
        ),
        (
            "size(size(a)) > :a",
            false,
            Some(json!({"N": "1"})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: size, operand type: N"
            ),
        ),
        (
            "attribute_not_exists(size(:a))",
            false,
            Some(json!({"N": "1"})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: size, operand type: N"
            ),
        ),
        (
            "size(:a) > a",
            false,
            Some(json!({"NULL": true})),
            format!(
                "{f}Incorrect operand type for operator or function; operator or function: size, operand type: NULL"
            ),
        ),
        (
            "attribute_type(a, :a)",
            false,
            Some(json!({"S": "1"})),
            format!(
                "{f}Invalid attribute type name found; type: 1, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
            ),
        ),
        (
            "attribute_exists(:a) and a=a",
            false,
            Some(json!({"S": "1"})),
            format!(
                "{f}Operator or function requires a document path; operator or function: attribute_exists"
            ),
        ),
        (
            "attribute_not_exists(size(:a))",
            false,
            Some(json!({"S": "1"})),
            format!(
                "{f}Operator or function requires a document path; operator or function: attribute_not_exists"
            ),
        ),
        (
            "a = a AND #a = b AND :views > a",
            true,
            None,
            format!(
                "{f}The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"
            ),
        ),
        (
            "((a=a) OR (a=a))",
            true,
            None,
            format!(
                "{f}The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"
            ),
        ),
        (
            "attribute_type(ab.bc[1].#a, ab.bc[1].a)",
            true,
            None,
            format!(
                "{f}The first operand must be distinct from the remaining operands for this operator or function; operator: attribute_type, first operand: [ab, bc, [1], a]"
            ),
        ),
    ];
    for (src, with_names, value, want) in cases {
        let names = with_names.then_some(&names);
        assert_eq!(run(src, names, value), Err(want), "{src}");
    }
    // Parenthesized operands are fine, one pair at a time.
    let values = values_from_json(&json!({":a": {"N": "1"}, ":b": {"N": "3"}})).unwrap();
    let item: Item = [("a".to_string(), num(2)), ("b".to_string(), num(2))].into();
    for (src, want) in [
        ("(a)between(:a)and(:b)", true),
        ("(a) = (b)", true),
        ("((a) = (b)) AND (:a) < (a)", true),
        ("(a) = (:a)", false),
    ] {
        let mut ph = Placeholders::new(None, Some(&values));
        let c = parse_filter(src, &mut ph).unwrap_or_else(|e| panic!("{src}: {}", e.0));
        assert_eq!(c.eval(&item), Ok(want), "{src}");
    }
}

/// Writes into one list land in index order, past-the-end ones appended, all right-hand sides
/// read from the item as it was (a DynamoDB-verified case); UPDATED_NEW is the projection of
/// the paths written.
#[test]
fn list_writes_append_in_index_order() {
    let mut item = item_from_json(&json!({
        "a": {"S": "key"},
        "b": {"M": {"a": {"N": "1"}, "b": {"N": "2"}, "c": {"N": "3"}}},
        "c": {"L": [{"N": "1"}, {"N": "3"}]}
    }))
    .unwrap();
    let values = values_from_json(&json!({":a": {"N": "2"}, ":b": {"SS": ["a"]}})).unwrap();
    let mut ph = Placeholders::new(None, Some(&values));
    let u = parse_update(
        "set b.c=((c[1])+(b.a)),b.a = a,c[1] = a, c[4] = b.a - b.b, c[2] = b.c add c[8] :b, c[6] :a",
        &mut ph,
    )
    .unwrap();
    u.apply(&mut item).unwrap();
    let want = json!({
        "a": {"S": "key"},
        "b": {"M": {"a": {"S": "key"}, "b": {"N": "2"}, "c": {"N": "4"}}},
        "c": {"L": [{"N": "1"}, {"S": "key"}, {"N": "3"}, {"N": "-1"}, {"N": "2"}, {"SS": ["a"]}]}
    });
    assert_eq!(crate::value::item_to_json(&item), want);
    let updated = project(&item, &u.paths());
    assert_eq!(
        crate::value::item_to_json(&updated),
        json!({
            "b": {"M": {"a": {"S": "key"}, "c": {"N": "4"}}},
            "c": {"L": [{"S": "key"}, {"N": "3"}, {"N": "2"}]}
        })
    );
    // One arithmetic operator per value, parenthesized or not.
    for src in [
        "set a = (b + c) + d",
        "set a = b + (c + d)",
        "set (a = (b + c))",
        "set a = (b.c).d + e",
    ] {
        let mut ph = Placeholders::new(None, None);
        let err = parse_update(src, &mut ph).unwrap_err().0;
        assert!(
            err.starts_with("Invalid UpdateExpression: Syntax error; "),
            "{src}: {err}"
        );
    }
    let mut ph = Placeholders::new(None, None);
    assert!(parse_update("set a = (b + c)", &mut ph).is_ok());
}

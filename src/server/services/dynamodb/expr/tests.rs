//! Table-driven tests of the expression language and property tests of the evaluator.

use super::*;
use crate::server::services::dynamodb::value::{Number, item_from_json, values_from_json};
use proptest::prelude::*;
use serde_json::json;

fn names() -> BTreeMap<String, String> {
    [
        ("#n", "name"),
        ("#s", "status"),
        ("#m", "mp"),
        ("#x", "x.y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn values() -> BTreeMap<String, AttributeValue> {
    values_from_json(&json!({
        ":one": {"N": "1"}, ":two": {"N": "2"}, ":ten": {"N": "10"}, ":big": {"N": "1000"},
        ":s": {"S": "hello"}, ":he": {"S": "he"}, ":b": {"B": "AQI="}, ":t": {"BOOL": true},
        ":tS": {"S": "S"}, ":tN": {"S": "N"}, ":tL": {"S": "L"}, ":tX": {"S": "X"},
        ":ss": {"SS": ["a", "b"]}, ":sa": {"SS": ["a"]}, ":ns": {"NS": ["1", "5"]},
        ":l": {"L": [{"N": "7"}]}, ":empty": {"L": []}, ":a": {"S": "a"}, ":null": {"NULL": true}
    }))
    .unwrap()
}

fn item() -> Item {
    item_from_json(&json!({
        "pk": {"S": "p1"}, "num": {"N": "5"}, "str": {"S": "hello world"},
        "bin": {"B": "AQIDBA=="}, "flag": {"BOOL": true}, "nothing": {"NULL": true},
        "tags": {"SS": ["a", "b", "c"]}, "nums": {"NS": ["1", "2", "3"]},
        "lst": {"L": [{"N": "7"}, {"S": "x"}, {"M": {"deep": {"N": "1"}}}]},
        "mp": {"M": {"a": {"N": "1"}, "b": {"M": {"c": {"S": "see"}}}}},
        "name": {"S": "reserved"}, "x.y": {"S": "dotted"}
    }))
    .unwrap()
}

fn cond(src: &str) -> Result<bool, String> {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    let c = parse_condition(src, &mut ph).map_err(|e| e.0)?;
    c.eval(&item()).map_err(|e| e.0)
}

#[test]
fn conditions_evaluate() {
    let cases: &[(&str, bool)] = &[
        ("num = :ten", false),
        ("num < :ten", true),
        ("num <= :ten", true),
        ("num > :one", true),
        ("num >= :big", false),
        ("num <> :one", true),
        ("absent <> :one", true),
        ("absent = :one", false),
        ("absent < :one", false),
        ("str < :one", false),
        ("str > :he", true),
        ("num BETWEEN :one AND :ten", true),
        ("num between :ten and :big", false),
        ("num IN (:one, :two, :ten)", false),
        ("num in (:one, :two)", false),
        ("lst[0] IN (:one, :ten, :big)", false),
        ("attribute_exists(num)", true),
        ("attribute_exists(absent)", false),
        ("attribute_not_exists(absent)", true),
        ("attribute_exists(mp.b.c)", true),
        ("attribute_exists(mp.b.d)", false),
        ("attribute_exists(lst[2].deep)", true),
        ("attribute_exists(lst[3])", false),
        ("attribute_exists(#m.a)", true),
        ("attribute_exists(#x)", true),
        ("attribute_exists(x)", false),
        ("attribute_type(num, :tN)", true),
        ("attribute_type(num, :tS)", false),
        ("attribute_type(lst, :tL)", true),
        ("begins_with(str, :he)", true),
        ("begins_with(str, :s)", true),
        ("begins_with(num, :he)", false),
        ("begins_with(bin, :b)", true),
        ("contains(str, :s)", true),
        ("contains(str, :a)", false),
        ("contains(tags, :a)", true),
        ("contains(nums, :one)", true),
        ("contains(nums, :ten)", false),
        ("contains(lst, :l)", false),
        ("size(str) = :ten", false),
        ("size(tags) < :ten", true),
        ("size(lst) BETWEEN :one AND :ten", true),
        ("size(absent) >= :one", false),
        ("size(num) >= :one", false),
        ("num = str", false),
        ("#n <> str", true),
        ("NOT num = :one", true),
        ("not attribute_exists(num)", false),
        ("num = :one OR num > :two", true),
        ("num = :one or num > :two AND str = :s", false),
        ("(num = :one OR num > :two) AND str <> :s", true),
        ("NOT (num = :one OR num = :two) AND NOT NOT flag = :t", true),
        ("flag = :t AND nothing = :null", true),
        ("mp.b.c = :s", false),
        ("lst[1] = :a", false),
        ("tags = :ss", false),
    ];
    for (src, want) in cases {
        assert_eq!(cond(src), Ok(*want), "{src}");
    }
}

#[test]
fn invalid_conditions_get_dynamodb_messages() {
    let p = "Invalid ConditionExpression: ";
    let cases: &[(&str, String)] = &[
        ("", format!("{p}The expression can not be empty;")),
        ("   ", format!("{p}The expression can not be empty;")),
        (
            "num =",
            format!("{p}Syntax error; token: \"<EOF>\", near: \"=\""),
        ),
        (
            "num = = :one",
            format!("{p}Syntax error; token: \"=\", near: \"= = :one\""),
        ),
        (
            "num :one",
            format!("{p}Syntax error; token: \":one\", near: \"num :one\""),
        ),
        (
            "num = :one AND",
            format!("{p}Syntax error; token: \"<EOF>\", near: \"AND\""),
        ),
        (
            "num = :one extra",
            format!("{p}Syntax error; token: \"extra\", near: \":one extra\""),
        ),
        (
            "num == :one",
            format!("{p}Syntax error; token: \"=\", near: \"== :one\""),
        ),
        (
            "num = :one)",
            format!("{p}Syntax error; token: \")\", near: \":one)\""),
        ),
        (
            "(num = :one",
            format!("{p}Syntax error; token: \"<EOF>\", near: \":one\""),
        ),
        (
            "num ! :one",
            format!("{p}Syntax error; token: \"!\", near: \"num ! :one\""),
        ),
        (
            "num",
            format!("{p}Syntax error; token: \"<EOF>\", near: \"num\""),
        ),
        (
            "name = :s",
            format!("{p}Attribute name is a reserved keyword; reserved keyword: name"),
        ),
        (
            "mp.Status = :s",
            format!("{p}Attribute name is a reserved keyword; reserved keyword: Status"),
        ),
        (
            "#nope = :s",
            format!(
                "{p}An expression attribute name used in the document path is not defined; attribute name: #nope"
            ),
        ),
        (
            "num = :nope",
            format!(
                "{p}An expression attribute value used in expression is not defined; attribute value: :nope"
            ),
        ),
        (
            "foo(num)",
            format!("{p}Invalid function name; function: foo"),
        ),
        (
            "attribute_exists(num, str)",
            format!(
                "{p}Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
            ),
        ),
        (
            "begins_with(str)",
            format!(
                "{p}Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
            ),
        ),
        (
            "attribute_exists(:one)",
            format!(
                "{p}Operator or function requires a document path; operator or function: attribute_exists"
            ),
        ),
        (
            "attribute_type(num, :tX)",
            format!(
                "{p}Invalid attribute type name found; type: X, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
            ),
        ),
        (
            "begins_with(str, :one)",
            format!(
                "{p}Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
            ),
        ),
        (
            "attribute_exists(num) = :t",
            format!(
                "{p}The function is not allowed to be used this way in an expression; function: attribute_exists"
            ),
        ),
        (
            "num = attribute_exists(num)",
            format!(
                "{p}The function is not allowed to be used this way in an expression; function: attribute_exists"
            ),
        ),
        (
            "size(str)",
            format!(
                "{p}The function is not allowed to be used this way in an expression; function: size"
            ),
        ),
        (
            "num BETWEEN :ten AND :one",
            format!(
                "{p}The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{N:10}}, upper bound operand: AttributeValue: {{N:1}}"
            ),
        ),
        (
            "num BETWEEN :one",
            format!("{p}Syntax error; token: \"<EOF>\", near: \":one\""),
        ),
        (
            "((num = :one))",
            format!("{p}The expression has redundant parentheses;"),
        ),
        (
            "lst[x] = :one",
            format!("{p}Syntax error; token: \"x\", near: \"[x]\""),
        ),
        (
            "lst[] = :one",
            format!("{p}Syntax error; token: \"]\", near: \"[] =\""),
        ),
        (
            "mp. = :one",
            format!("{p}Syntax error; token: \"=\", near: \". = :one\""),
        ),
        (
            "1num = :one",
            format!("{p}Syntax error; token: \"1\", near: \"1num\""),
        ),
    ];
    for (src, want) in cases {
        assert_eq!(cond(src).unwrap_err(), *want, "{src}");
    }
    let distinct = |op: &str, path: &str| {
        format!(
            "{p}The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {path}"
        )
    };
    for (src, want) in [
        ("contains(#n, #n)", distinct("contains", "[name]")),
        ("num = num", distinct("=", "[num]")),
        ("mp.a >= #m.a", distinct(">=", "[mp, a]")),
        ("num BETWEEN :one AND num", distinct("BETWEEN", "[num]")),
        ("num IN (:one, num)", distinct("IN", "[num]")),
        ("begins_with(str, str)", distinct("begins_with", "[str]")),
    ] {
        assert_eq!(cond(src).unwrap_err(), want, "{src}");
    }
    // Different paths, or a path compared with a size, are fine.
    assert_eq!(cond("lst[0] = lst[1]"), Ok(false));
    assert_eq!(cond("size(tags) = tags"), Ok(false));
}

#[test]
fn limits_are_enforced() {
    let long = format!("num = :one{}", " ".repeat(MAX_EXPRESSION_LEN));
    assert!(
        cond(&long)
            .unwrap_err()
            .contains("Expression size has exceeded the maximum allowed size")
    );
    let in_list = (0..101).map(|_| ":one").collect::<Vec<_>>().join(", ");
    assert_eq!(
        cond(&format!("num IN ({in_list})")).unwrap_err(),
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    );
    let ok_list = (0..100).map(|_| ":one").collect::<Vec<_>>().join(", ");
    assert_eq!(cond(&format!("num IN ({ok_list})")), Ok(false));
    let nots = "NOT ".repeat(MAX_NESTING + 1) + "num = :one";
    assert!(cond(&nots).unwrap_err().contains("too many nesting levels"));
    let ors = vec!["x=:one"; MAX_OPERATORS / 2 + 50].join(" OR ");
    assert!(cond(&ors).unwrap_err().contains("too many operators"));
    let deep = format!("attribute_exists(mp{})", ".a".repeat(MAX_PATH_DEPTH));
    assert!(cond(&deep).unwrap_err().contains("too many nesting levels"));
    let parens = "(".repeat(1000);
    assert!(cond(&parens).is_err());
}

#[test]
fn unused_placeholders_are_reported() {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    parse_condition("#n = :s", &mut ph).unwrap();
    let err = ph.check_unused().unwrap_err().0;
    assert_eq!(
        err,
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#m, #s, #x}"
    );
    let v1: BTreeMap<String, AttributeValue> = [
        (":a".to_string(), AttributeValue::S("x".into())),
        (":b".to_string(), AttributeValue::Null),
    ]
    .into();
    let mut ph = Placeholders::new(None, Some(&v1));
    parse_condition("x = :a", &mut ph).unwrap();
    assert_eq!(
        ph.check_unused().unwrap_err().0,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"
    );
    // Used across two expressions of one request.
    let mut ph = Placeholders::new(None, Some(&v1));
    parse_condition("x = :a", &mut ph).unwrap();
    parse_update("SET y = :b", &mut ph).unwrap();
    assert!(ph.check_unused().is_ok());
    assert!(validate_names(&names()).is_ok());
    assert_eq!(
        validate_names(&BTreeMap::from([("n".to_string(), "x".to_string())]))
            .unwrap_err()
            .0,
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"n\""
    );
    for (k, sigil, ok) in [
        ("#a_1", '#', true),
        (":V9", ':', true),
        ("#", '#', false),
        (":a", '#', false),
        ("#a-b", '#', false),
        ("#é", '#', false),
        ("", ':', false),
    ] {
        assert_eq!(super::is_placeholder(k, sigil), ok, "{k:?} with {sigil}");
    }
}

fn update(src: &str, it: &mut Item) -> Result<(), String> {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    let u = parse_update(src, &mut ph).map_err(|e| e.0)?;
    u.apply(it).map_err(|e| e.0)
}

fn get(it: &Item, path: &str) -> Option<serde_json::Value> {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    let p = parse_projection(path, &mut ph).unwrap();
    eval::resolve(it, &p[0]).map(AttributeValue::to_json)
}

#[test]
fn updates_apply() {
    let cases: &[(&str, &str, Option<serde_json::Value>)] = &[
        ("SET num = :ten", "num", Some(json!({"N": "10"}))),
        ("SET num = num + :ten", "num", Some(json!({"N": "15"}))),
        ("SET num = num - :ten", "num", Some(json!({"N": "-5"}))),
        ("SET num = :ten - num", "num", Some(json!({"N": "5"}))),
        (
            "SET newattr = if_not_exists(newattr, :one)",
            "newattr",
            Some(json!({"N": "1"})),
        ),
        (
            "SET num = if_not_exists(num, :one)",
            "num",
            Some(json!({"N": "5"})),
        ),
        (
            "SET lst = list_append(lst, :l)",
            "lst[3]",
            Some(json!({"N": "7"})),
        ),
        (
            "SET lst = list_append(:l, lst)",
            "lst[0]",
            Some(json!({"N": "7"})),
        ),
        (
            "SET fresh = list_append(if_not_exists(fresh, :empty), :l)",
            "fresh",
            Some(json!({"L": [{"N": "7"}]})),
        ),
        ("SET mp.b.c = :s", "mp.b.c", Some(json!({"S": "hello"}))),
        ("SET mp.nu = :s", "mp.nu", Some(json!({"S": "hello"}))),
        ("SET lst[1] = :s", "lst[1]", Some(json!({"S": "hello"}))),
        ("SET lst[99] = :s", "lst[3]", Some(json!({"S": "hello"}))),
        ("SET #n = :s, #s = :a", "#s", Some(json!({"S": "a"}))),
        ("SET #x = :a", "#x", Some(json!({"S": "a"}))),
        ("set a = :one, b = :two", "b", Some(json!({"N": "2"}))),
        ("REMOVE num", "num", None),
        ("REMOVE mp.b.c", "mp.b", Some(json!({"M": {}}))),
        (
            "REMOVE lst[0], lst[2]",
            "lst",
            Some(json!({"L": [{"S": "x"}]})),
        ),
        ("REMOVE lst[9]", "lst[2].deep", Some(json!({"N": "1"}))),
        ("REMOVE mp.zz", "mp.a", Some(json!({"N": "1"}))),
        ("DELETE mp.zz :ss", "mp.a", Some(json!({"N": "1"}))),
        ("ADD num :ten", "num", Some(json!({"N": "15"}))),
        ("ADD cnt :one", "cnt", Some(json!({"N": "1"}))),
        ("ADD tags :ss", "tags", Some(json!({"SS": ["a", "b", "c"]}))),
        (
            "ADD nums :ns",
            "nums",
            Some(json!({"NS": ["1", "2", "3", "5"]})),
        ),
        ("ADD newset :ss", "newset", Some(json!({"SS": ["a", "b"]}))),
        ("DELETE tags :ss", "tags", Some(json!({"SS": ["c"]}))),
        ("DELETE nums :ns", "nums", Some(json!({"NS": ["2", "3"]}))),
        ("DELETE absent :ss", "absent", None),
        (
            "SET num = :one REMOVE str ADD cnt :two DELETE tags :sa",
            "cnt",
            Some(json!({"N": "2"})),
        ),
        ("REMOVE str SET num = :one", "str", None),
    ];
    for (src, path, want) in cases {
        let mut it = item();
        update(src, &mut it).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(get(&it, path), *want, "{src}");
    }
    // DELETE of every member removes the attribute.
    let mut it = item();
    update("DELETE tags :ss", &mut it).unwrap();
    update("DELETE tags :ss ADD nums :ns", &mut it).unwrap();
    let tags = it.get("tags").cloned();
    assert_eq!(tags, Some(AttributeValue::Ss(vec!["c".into()])));
    let v: BTreeMap<String, AttributeValue> = [(
        ":c".to_string(),
        AttributeValue::string_set(vec!["c".into(), "b".into(), "a".into()]),
    )]
    .into();
    let mut ph = Placeholders::new(None, Some(&v));
    parse_update("DELETE tags :c", &mut ph)
        .unwrap()
        .apply(&mut it)
        .unwrap();
    assert!(!it.contains_key("tags"));
    // Right-hand sides see the item as it was.
    let mut it = item();
    update("SET num = :one, oth = num", &mut it).unwrap();
    assert_eq!(get(&it, "oth"), Some(json!({"N": "5"})));
}

#[test]
fn invalid_updates_get_dynamodb_messages() {
    let p = "Invalid UpdateExpression: ";
    let cases: &[(&str, String)] = &[
        ("", format!("{p}The expression can not be empty;")),
        (
            "num = :one",
            format!("{p}Syntax error; token: \"num\", near: \"num =\""),
        ),
        (
            "SET num :one",
            format!("{p}Syntax error; token: \":one\", near: \"num :one\""),
        ),
        (
            "SET num = :one SET str = :s",
            format!("{p}The \"SET\" section can only be used once in an update expression;"),
        ),
        (
            "SET num = :one, num = :two",
            format!(
                "{p}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [num], path two: [num]"
            ),
        ),
        (
            "SET mp = :one REMOVE mp.a",
            format!(
                "{p}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [mp], path two: [mp, a]"
            ),
        ),
        (
            "SET lst[0] = :one REMOVE lst.a",
            format!(
                "{p}Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [lst, [0]], path two: [lst, a]"
            ),
        ),
        (
            "ADD num :s",
            format!(
                "{p}Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
            ),
        ),
        (
            "DELETE tags :one",
            format!(
                "{p}Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"
            ),
        ),
        (
            "ADD num num",
            format!("{p}Syntax error; token: \"num\", near: \"num num\""),
        ),
        (
            "SET num = size(str)",
            format!("{p}The function is not allowed in an update expression; function: size"),
        ),
        (
            "SET num = foo(str)",
            format!("{p}Invalid function name; function: foo"),
        ),
        (
            "SET name = :s",
            format!("{p}Attribute name is a reserved keyword; reserved keyword: name"),
        ),
        (
            "SET num = :nope",
            format!(
                "{p}An expression attribute value used in expression is not defined; attribute value: :nope"
            ),
        ),
        (
            "SET a = list_append(lst, :s)",
            format!(
                "{p}Incorrect operand type for operator or function; operator or function: list_append, operand type: S"
            ),
        ),
        (
            "SET a = num - :ss",
            format!(
                "{p}Incorrect operand type for operator or function; operator or function: -, operand type: SS"
            ),
        ),
        (
            "SET a = list_append(:l, :l, :l)",
            format!(
                "{p}Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 3"
            ),
        ),
        (
            "REMOVE",
            format!("{p}Syntax error; token: \"<EOF>\", near: \"REMOVE\""),
        ),
        (
            "SET num = :one,",
            format!("{p}Syntax error; token: \"<EOF>\", near: \",\""),
        ),
        (
            "UPSERT a = :one",
            format!("{p}Syntax error; token: \"UPSERT\", near: \"UPSERT a\""),
        ),
    ];
    for (src, want) in cases {
        let mut it = item();
        assert_eq!(update(src, &mut it).unwrap_err(), *want, "{src}");
    }
    // Errors found against the item; the item is left as it was.
    let runtime: &[(&str, &str)] = &[
        (
            "SET num = str + :one",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET num = absent + :one",
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET a = absent",
            "The provided expression refers to an attribute that does not exist in the item",
        ),
        (
            "SET lst = list_append(lst, str)",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "ADD str :one",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "ADD tags :ns",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "DELETE nums :ss",
            "An operand in the update expression has an incorrect data type",
        ),
        (
            "SET absent.a = :one",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET str.a = :one",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET lst[0].x = :one",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "SET num = :one, mp.zzz.y = :one",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "REMOVE str.a",
            "The document path provided in the update expression is invalid for update",
        ),
        // A missing or mistyped parent is an error for every action, not a no-op.
        (
            "REMOVE absent.deeper",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "REMOVE absent[1]",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "REMOVE mp[1]",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "REMOVE lst.a",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "DELETE absent.a :ss",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "DELETE str[1] :ss",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "ADD absent.a :ss",
            "The document path provided in the update expression is invalid for update",
        ),
        (
            "ADD mp[1] :ss",
            "The document path provided in the update expression is invalid for update",
        ),
    ];
    for (src, want) in runtime {
        let mut it = item();
        assert_eq!(update(src, &mut it).unwrap_err(), *want, "{src}");
        assert_eq!(it, item(), "{src} changed the item");
    }
}

#[test]
fn update_top_level_names() {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    let u = parse_update(
        "SET mp.a = :one, #n = :s REMOVE lst[0] ADD c :one DELETE tags :ss",
        &mut ph,
    )
    .unwrap();
    assert_eq!(u.top_level_names(), vec!["c", "lst", "mp", "name", "tags"]);
    let paths: Vec<String> = u.paths().iter().map(Path::to_string).collect();
    assert_eq!(
        paths,
        vec!["[mp, a]", "[name]", "[lst, [0]]", "[c]", "[tags]"]
    );
    let c = parse_condition(
        "size(str) > :one AND (#m.a = pk OR attribute_exists(lst[1]))",
        &mut ph,
    )
    .unwrap();
    assert_eq!(c.top_level_names(), vec!["lst", "mp", "pk", "str"]);
}

#[test]
fn projections() {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    let paths = parse_projection(
        "pk, mp.b.c, lst[2].deep, lst[0], #n, absent, mp.zz",
        &mut ph,
    )
    .unwrap();
    let got = item_to_json_sorted(&project(&item(), &paths));
    assert_eq!(
        got,
        json!({
            "pk": {"S": "p1"},
            "mp": {"M": {"b": {"M": {"c": {"S": "see"}}}}},
            "lst": {"L": [{"N": "7"}, {"M": {"deep": {"N": "1"}}}]},
            "name": {"S": "reserved"}
        })
    );
    let err = |src: &str| {
        let mut ph = Placeholders::new(Some(&n), Some(&v));
        parse_projection(src, &mut ph).unwrap_err().0
    };
    assert_eq!(
        err("a, a"),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
    );
    assert_eq!(
        err("a.b, a"),
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a]"
    );
    assert_eq!(
        err("a,"),
        "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \",\""
    );
    assert_eq!(
        err("date"),
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: date"
    );
}

fn item_to_json_sorted(it: &Item) -> serde_json::Value {
    crate::server::services::dynamodb::value::item_to_json(it)
}

fn key(src: &str, range: Option<&str>) -> Result<KeyCondition, String> {
    let (n, v) = (names(), values());
    let mut ph = Placeholders::new(Some(&n), Some(&v));
    parse_key_condition(src, &mut ph, "pk", range).map_err(|e| e.0)
}

#[test]
fn key_conditions() {
    let k = key("pk = :s", Some("sk")).unwrap();
    assert_eq!(
        (k.hash_name.as_str(), &k.hash_value, &k.range),
        ("pk", &AttributeValue::S("hello".into()), &None)
    );
    let k = key("pk = :s AND sk BETWEEN :one AND :ten", Some("sk")).unwrap();
    let (name, rc) = k.range.unwrap();
    assert_eq!(name, "sk");
    assert!(rc.matches(&AttributeValue::N(Number::parse("5").unwrap())));
    assert!(!rc.matches(&AttributeValue::N(Number::parse("11").unwrap())));
    assert!(!rc.matches(&AttributeValue::S("5".into())));
    let k = key("(begins_with(sk, :he)) AND :s = pk", Some("sk")).unwrap();
    let (_, rc) = k.range.unwrap();
    assert!(rc.matches(&AttributeValue::S("hello".into())));
    assert!(!rc.matches(&AttributeValue::S("hallo".into())));
    // Redundant parentheses are fine in key conditions.
    let k = key("((pk = :s)) AND ((sk = :one))", Some("sk")).unwrap();
    assert_eq!(k.range.unwrap().1, RangeCond::Eq(num(1)));
    let k = key(":ten > sk and pk = :s", Some("sk")).unwrap();
    assert_eq!(
        k.range.unwrap().1,
        RangeCond::Lt(AttributeValue::N(Number::parse("10").unwrap()))
    );
    for (src, rc, yes, no) in [
        ("pk = :s AND sk = :two", "eq", "2", "3"),
        ("pk = :s AND sk < :two", "lt", "1", "2"),
        ("pk = :s AND sk <= :two", "le", "2", "3"),
        ("pk = :s AND sk > :two", "gt", "3", "2"),
        ("pk = :s AND sk >= :two", "ge", "2", "1"),
    ] {
        let (_, c) = key(src, Some("sk")).unwrap().range.unwrap();
        let n = |s: &str| AttributeValue::N(Number::parse(s).unwrap());
        assert!(c.matches(&n(yes)), "{rc}");
        assert!(!c.matches(&n(no)), "{rc}");
    }
    let errs: &[(&str, Option<&str>, &str)] = &[
        (
            "sk = :one",
            Some("sk"),
            "Query condition missed key schema element: pk",
        ),
        (
            "pk = :s OR sk = :one",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: OR",
        ),
        (
            "NOT pk = :s",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: NOT",
        ),
        (
            "pk <> :s",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: <>",
        ),
        (
            "pk IN (:s)",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: IN",
        ),
        (
            "pk = :s AND attribute_exists(sk)",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "pk = :s AND contains(sk, :a)",
            Some("sk"),
            "Invalid operator used in KeyConditionExpression: contains",
        ),
        (
            "pk = :s AND size(sk) = :one",
            Some("sk"),
            "KeyConditionExpressions cannot contain nested operations",
        ),
        ("pk < :s", Some("sk"), "Query key condition not supported"),
        (
            "begins_with(pk, :s)",
            None,
            "Query key condition not supported",
        ),
        (
            "pk = :s AND sk = :one AND sk = :two",
            Some("sk"),
            "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "pk = :s AND pk = :s",
            Some("sk"),
            "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "pk = :s AND oth = :one",
            Some("sk"),
            "Query condition missed key schema element: sk",
        ),
        (
            "pk = :s AND sk = oth",
            Some("sk"),
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "pk = :s AND sk.x = :one",
            Some("sk"),
            "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        (
            "pk = :s AND begins_with(sk, :one)",
            Some("sk"),
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "pk = :s AND",
            Some("sk"),
            "Invalid KeyConditionExpression: Syntax error; token: \"<EOF>\", near: \"AND\"",
        ),
    ];
    for (src, range, want) in errs {
        assert_eq!(key(src, *range).unwrap_err(), *want, "{src}");
    }
}

// ---- properties ----

fn num(n: i64) -> AttributeValue {
    AttributeValue::N(Number::from(n))
}

proptest! {
    /// Comparisons agree with the numeric order of the values compared.
    #[test]
    fn comparisons_agree_with_number_order(a in -1000i64..1000, b in -1000i64..1000, scale in 0u32..4) {
        let av = Number::parse(&format!("{a}e-{scale}")).unwrap();
        let bv = Number::parse(&format!("{b}e-{scale}")).unwrap();
        let item: Item = [("x".to_string(), AttributeValue::N(av.clone()))].into();
        let vals: BTreeMap<String, AttributeValue> = [(":v".to_string(), AttributeValue::N(bv.clone()))].into();
        for (op, want) in [("=", av == bv), ("<>", av != bv), ("<", av < bv), ("<=", av <= bv), (">", av > bv), (">=", av >= bv)] {
            let mut ph = Placeholders::new(None, Some(&vals));
            let c = parse_condition(&format!("x {op} :v"), &mut ph).unwrap();
            prop_assert_eq!(c.eval(&item).unwrap(), want, "{}", op);
            // NOT inverts.
            let mut ph = Placeholders::new(None, Some(&vals));
            let c = parse_condition(&format!("NOT x {op} :v"), &mut ph).unwrap();
            prop_assert_eq!(c.eval(&item).unwrap(), !want);
        }
    }

    /// De Morgan and precedence: `NOT (p AND q)` == `NOT p OR NOT q`; `p OR q AND r` == `p OR (q AND r)`.
    #[test]
    fn boolean_laws(x in 0i64..4, y in 0i64..4, z in 0i64..4) {
        let item: Item = [("x".to_string(), num(x)), ("y".to_string(), num(y)), ("z".to_string(), num(z))].into();
        let vals: BTreeMap<String, AttributeValue> = [(":k".to_string(), num(1))].into();
        let eval = |src: &str| {
            let mut ph = Placeholders::new(None, Some(&vals));
            parse_condition(src, &mut ph).unwrap().eval(&item).unwrap()
        };
        let (p, q, r) = ("x > :k", "y = :k", "z < :k");
        prop_assert_eq!(eval(&format!("NOT ({p} AND {q})")), eval(&format!("NOT {p} OR NOT {q}")));
        prop_assert_eq!(eval(&format!("{p} OR {q} AND {r}")), eval(&format!("{p} OR ({q} AND {r})")));
        prop_assert_eq!(eval(&format!("{p} AND {q} OR {r}")), eval(&format!("({p} AND {q}) OR {r}")));
        prop_assert_eq!(eval(&format!("NOT {p} AND {q}")), !eval(p) && eval(q));
    }

    /// ADD then SET x = x - v restores the number.
    #[test]
    fn add_then_subtract_restores(start in -10i64.pow(12)..10i64.pow(12), delta in -10i64.pow(12)..10i64.pow(12)) {
        let mut item: Item = [("x".to_string(), num(start))].into();
        let vals: BTreeMap<String, AttributeValue> = [(":d".to_string(), num(delta))].into();
        let mut ph = Placeholders::new(None, Some(&vals));
        parse_update("ADD x :d", &mut ph).unwrap().apply(&mut item).unwrap();
        prop_assert_eq!(item.get("x"), Some(&num(start + delta)));
        let mut ph = Placeholders::new(None, Some(&vals));
        parse_update("SET x = x - :d", &mut ph).unwrap().apply(&mut item).unwrap();
        prop_assert_eq!(item.get("x"), Some(&num(start)));
    }

    /// Arbitrary token soup never panics any parser.
    #[test]
    fn parsers_never_panic(parts in proptest::collection::vec(prop_oneof![
        Just("a"), Just("#n"), Just(":v"), Just("("), Just(")"), Just("["), Just("]"), Just("0"),
        Just("."), Just(","), Just("="), Just("<"), Just(">"), Just("<>"), Just("AND"), Just("OR"),
        Just("NOT"), Just("BETWEEN"), Just("IN"), Just("size"), Just("contains"), Just("SET"),
        Just("REMOVE"), Just("ADD"), Just("DELETE"), Just("+"), Just("-"), Just("if_not_exists"),
        Just("list_append"), Just("attribute_exists"), Just("begins_with"), Just("é"), Just("name"),
    ], 0..40)) {
        let src = parts.join(" ");
        let n: BTreeMap<String, String> = [("#n".to_string(), "n".to_string())].into();
        let v: BTreeMap<String, AttributeValue> = [(":v".to_string(), num(1))].into();
        let item: Item = [("a".to_string(), AttributeValue::L(vec![num(1)]))].into();
        let mut ph = Placeholders::new(Some(&n), Some(&v));
        if let Ok(c) = parse_condition(&src, &mut ph) {
            let _ = c.eval(&item);
        }
        if let Ok(u) = parse_update(&src, &mut ph) {
            let mut it = item.clone();
            let _ = u.apply(&mut it);
        }
        if let Ok(p) = parse_projection(&src, &mut ph) {
            let _ = project(&item, &p);
        }
        let _ = parse_key_condition(&src, &mut ph, "a", Some("n"));
    }
}

#[test]
fn updates_cannot_nest_too_deep() {
    let mut deep = AttributeValue::Null;
    for _ in 0..crate::server::services::dynamodb::value::MAX_NESTING - 1 {
        deep = AttributeValue::L(vec![deep]);
    }
    let v: BTreeMap<String, AttributeValue> = [(":d".to_string(), deep)].into();
    let mut it = item();
    let mut ph = Placeholders::new(None, Some(&v));
    parse_update("SET fine = :d", &mut ph)
        .unwrap()
        .apply(&mut it)
        .unwrap();
    let mut ph = Placeholders::new(None, Some(&v));
    let before = it.clone();
    assert_eq!(
        parse_update("SET fine[0] = :d", &mut ph)
            .unwrap()
            .apply(&mut it)
            .unwrap_err()
            .0,
        crate::server::services::dynamodb::value::NESTING_MESSAGE
    );
    assert_eq!(it, before);
}

/// A small reference language for the printer/parser property: its own evaluator and a
/// printer that uses as few parentheses as DynamoDB's precedence allows.
#[derive(Clone, Debug)]
enum Ref {
    Cmp(usize, usize, i64),
    Between(usize, i64, i64),
    In(usize, Vec<i64>),
    Exists(usize),
    Not(Box<Ref>),
    And(Box<Ref>, Box<Ref>),
    Or(Box<Ref>, Box<Ref>),
}

const REF_ATTRS: [&str; 3] = ["a", "b", "c"];
const REF_OPS: [&str; 6] = ["=", "<>", "<", "<=", ">", ">="];

impl Ref {
    fn level(&self) -> u8 {
        match self {
            Ref::Or(..) => 1,
            Ref::And(..) => 2,
            Ref::Not(_) => 3,
            _ => 4,
        }
    }

    fn print(&self, min_level: u8, vals: &mut Vec<i64>) -> String {
        let mut val = |v: i64| {
            vals.push(v);
            format!(":v{}", vals.len() - 1)
        };
        let s = match self {
            Ref::Cmp(a, op, v) => format!("{} {} {}", REF_ATTRS[*a], REF_OPS[*op], val(*v)),
            Ref::Between(a, lo, hi) => {
                let (lo, hi) = (val(*lo), val(*hi));
                format!("{} BETWEEN {lo} AND {hi}", REF_ATTRS[*a])
            }
            Ref::In(a, list) => {
                let items: Vec<String> = list.iter().map(|v| val(*v)).collect();
                format!("{} IN ({})", REF_ATTRS[*a], items.join(", "))
            }
            Ref::Exists(a) => format!("attribute_exists({})", REF_ATTRS[*a]),
            Ref::Not(x) => format!("NOT {}", x.print(3, vals)),
            Ref::And(x, y) => format!("{} AND {}", x.print(2, vals), y.print(3, vals)),
            Ref::Or(x, y) => format!("{} or {}", x.print(1, vals), y.print(2, vals)),
        };
        if self.level() < min_level {
            format!("({s})")
        } else {
            s
        }
    }

    fn eval(&self, item: &[Option<i64>; 3]) -> bool {
        match self {
            Ref::Cmp(a, op, v) => match item[*a] {
                None => *op == 1,
                Some(x) => match op {
                    0 => x == *v,
                    1 => x != *v,
                    2 => x < *v,
                    3 => x <= *v,
                    4 => x > *v,
                    _ => x >= *v,
                },
            },
            Ref::Between(a, lo, hi) => item[*a].is_some_and(|x| *lo <= x && x <= *hi),
            Ref::In(a, list) => item[*a].is_some_and(|x| list.contains(&x)),
            Ref::Exists(a) => item[*a].is_some(),
            Ref::Not(x) => !x.eval(item),
            Ref::And(x, y) => x.eval(item) && y.eval(item),
            Ref::Or(x, y) => x.eval(item) || y.eval(item),
        }
    }
}

fn arb_ref() -> impl Strategy<Value = Ref> {
    let leaf = prop_oneof![
        (0usize..3, 0usize..6, -3i64..4).prop_map(|(a, o, v)| Ref::Cmp(a, o, v)),
        (0usize..3, -3i64..4, 0i64..4).prop_map(|(a, lo, d)| Ref::Between(a, lo, lo + d)),
        (0usize..3, proptest::collection::vec(-3i64..4, 1..4)).prop_map(|(a, l)| Ref::In(a, l)),
        (0usize..3).prop_map(Ref::Exists),
    ];
    leaf.prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| Ref::Not(Box::new(x))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| Ref::And(Box::new(x), Box::new(y))),
            (inner.clone(), inner).prop_map(|(x, y)| Ref::Or(Box::new(x), Box::new(y))),
        ]
    })
}

proptest! {
    /// Printing a condition with the fewest parentheses DynamoDB's precedence allows and
    /// parsing it back gives a condition that evaluates like the original on any item.
    #[test]
    fn printed_conditions_parse_back_with_the_same_meaning(
        r in arb_ref(),
        items in proptest::collection::vec(proptest::array::uniform3(proptest::option::of(-3i64..4)), 1..6),
    ) {
        let mut vals = Vec::new();
        let src = r.print(0, &mut vals);
        let values: BTreeMap<String, AttributeValue> =
            vals.iter().enumerate().map(|(i, v)| (format!(":v{i}"), num(*v))).collect();
        let mut ph = Placeholders::new(None, Some(&values));
        let c = parse_condition(&src, &mut ph).map_err(|e| TestCaseError::fail(format!("{src}: {}", e.0)))?;
        prop_assert!(ph.check_unused().is_ok());
        for it in items {
            let item: Item = it
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (REF_ATTRS[i].to_string(), num(v))))
                .collect();
            prop_assert_eq!(c.eval(&item).unwrap(), r.eval(&it), "{} on {:?}", src, it);
        }
    }
}

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
    assert_eq!(
        crate::server::services::dynamodb::value::item_to_json(&item),
        want
    );
    let updated = project(&item, &u.paths());
    assert_eq!(
        crate::server::services::dynamodb::value::item_to_json(&updated),
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

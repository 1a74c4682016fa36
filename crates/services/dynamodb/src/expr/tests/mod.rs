//! Table-driven tests of the expression language and property tests of the evaluator.

use super::*;
use crate::value::{Number, item_from_json, values_from_json};
use proptest::prelude::*;
use serde_json::json;

mod properties;
mod suites;

fn num(n: i64) -> AttributeValue {
    AttributeValue::N(Number::from(n))
}

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
    crate::value::item_to_json(it)
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

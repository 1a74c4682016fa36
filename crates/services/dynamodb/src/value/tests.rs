use super::*;
use proptest::prelude::*;
use serde_json::json;

fn n(s: &str) -> Number {
    Number::parse(s).unwrap()
}

#[test]
fn numbers_parse_and_normalize() {
    for (input, canon) in [
        ("0", "0"),
        ("-0", "0"),
        ("+0.000", "0"),
        ("0e999999999999", "0"),
        ("1", "1"),
        ("+1", "1"),
        ("1.0", "1"),
        ("001.500", "1.5"),
        ("1e2", "100"),
        ("1E+2", "100"),
        ("12.5e-3", "0.0125"),
        (".5", "0.5"),
        ("5.", "5"),
        ("-123.456", "-123.456"),
        ("1e125", &format!("1{}", "0".repeat(125))),
        ("1e-130", &format!("0.{}1", "0".repeat(129))),
        (
            "99999999999999999999999999999999999999",
            "99999999999999999999999999999999999999",
        ),
        (
            "1000000000000000000000000000000000000000000",
            "1000000000000000000000000000000000000000000",
        ),
    ] {
        assert_eq!(n(input).to_string(), canon, "{input}");
        // The canonical form parses back to the same number.
        assert_eq!(n(canon), n(input));
    }
    assert_eq!(n("1.0"), n("1"));
    assert_eq!(n("100"), n("1e2"));
}

#[test]
fn numbers_reject_what_dynamodb_rejects() {
    assert_eq!(
        Number::parse("").unwrap_err().0,
        "The parameter cannot be converted to a numeric value"
    );
    for bad in [
        "-", "+", ".", "e5", "1e", "1e+", "abc", "1.2.3", " 1", "1 ", "0x10", "1_0", "NaN",
        "Infinity", "--1",
    ] {
        assert_eq!(
            Number::parse(bad).unwrap_err().0,
            format!("The parameter cannot be converted to a numeric value: {bad}"),
            "{bad:?}"
        );
    }
    assert_eq!(
        Number::parse("123456789012345678901234567890123456789")
            .unwrap_err()
            .0,
        TOO_MANY_DIGITS
    );
    // Leading and trailing zeros are not significant.
    assert!(Number::parse("000012345678901234567890123456789012345678.0000").is_ok());
    assert_eq!(Number::parse("1e126").unwrap_err().0, OVERFLOW);
    assert_eq!(Number::parse("-1e126").unwrap_err().0, OVERFLOW);
    assert!(Number::parse("9.9999999999999999999999999999999999999e125").is_ok());
    assert_eq!(Number::parse("1e-131").unwrap_err().0, UNDERFLOW);
    assert_eq!(Number::parse("0.9e-130").unwrap_err().0, UNDERFLOW);
    assert_eq!(
        Number::parse("1e99999999999999999999").unwrap_err().0,
        OVERFLOW
    );
}

#[test]
fn number_arithmetic() {
    assert_eq!(n("1").add(&n("2")).unwrap(), n("3"));
    assert_eq!(n("0.1").add(&n("0.2")).unwrap(), n("0.3"));
    assert_eq!(n("5").sub(&n("7")).unwrap(), n("-2"));
    assert_eq!(n("-5").add(&n("5")).unwrap(), n("0"));
    assert_eq!(n("999").add(&n("1")).unwrap(), n("1000"));
    assert_eq!(n("1000").sub(&n("0.001")).unwrap(), n("999.999"));
    assert_eq!(n("-1.5").sub(&n("-1.5")).unwrap(), Number::zero());
    assert_eq!(n("1e100").add(&n("1e100")).unwrap(), n("2e100"));
    assert_eq!(n("1e20").add(&n("1e-20")).unwrap_err().0, TOO_MANY_DIGITS);
    assert_eq!(n("9e125").add(&n("1e125")).unwrap_err().0, OVERFLOW);
}

#[test]
fn number_order_is_numeric() {
    let sorted = [
        "-1e125", "-100", "-99.5", "-1", "-0.5", "-1e-130", "0", "1e-130", "0.001", "0.5", "1",
        "1.5", "10", "99", "100", "1e125",
    ];
    for w in sorted.windows(2) {
        assert!(n(w[0]) < n(w[1]), "{} < {}", w[0], w[1]);
        let (a, b) = (
            key_bytes(&AttributeValue::N(n(w[0]))),
            key_bytes(&AttributeValue::N(n(w[1]))),
        );
        assert!(a < b, "key bytes of {} < {}", w[0], w[1]);
    }
}

#[test]
fn to_i64_and_f64() {
    assert_eq!(n("1700000000").to_i64(), Some(1_700_000_000));
    assert_eq!(n("-42").to_i64(), Some(-42));
    assert_eq!(n("1.5").to_i64(), None);
    assert_eq!(n("1e30").to_i64(), None);
    assert_eq!(n("0").to_i64(), Some(0));
    assert_eq!(n("2.5").to_f64(), 2.5);
}

#[test]
fn values_from_and_to_json() {
    let v = json!({"M": {
        "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AAEC"}, "t": {"BOOL": true},
        "z": {"NULL": true}, "l": {"L": [{"S": "a"}, {"N": "2"}]},
        "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["10", "2"]}, "bs": {"BS": ["AQ==", "AA=="]}
    }});
    let parsed = value_from_json(&v).unwrap();
    let AttributeValue::M(m) = &parsed else {
        panic!()
    };
    assert_eq!(m["n"], AttributeValue::N(n("1.5")));
    assert_eq!(m["b"], AttributeValue::B(vec![0, 1, 2]));
    assert_eq!(m["ss"], AttributeValue::Ss(vec!["a".into(), "b".into()]));
    assert_eq!(m["ns"], AttributeValue::Ns(vec![n("2"), n("10")]));
    assert_eq!(m["bs"], AttributeValue::Bs(vec![vec![0], vec![1]]));
    let back = parsed.to_json();
    assert_eq!(back["M"]["n"], json!({"N": "1.5"}));
    assert_eq!(back["M"]["z"], json!({"NULL": true}));
    assert_eq!(value_from_json(&back).unwrap(), parsed);
    // Empty strings and binaries are fine outside keys.
    assert_eq!(
        value_from_json(&json!({"S": ""})).unwrap(),
        AttributeValue::S(String::new())
    );
    assert_eq!(
        value_from_json(&json!({"SS": [""]})).unwrap(),
        AttributeValue::Ss(vec![String::new()])
    );
}

#[test]
fn invalid_values_get_dynamodb_messages() {
    let cases = [
        (
            json!({}),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            json!({"X": "1"}),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            json!({"S": null}),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            json!({"S": "a", "N": "1"}),
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        (
            json!({"N": "x1"}),
            "The parameter cannot be converted to a numeric value: x1",
        ),
        (
            json!({"SS": []}),
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            json!({"NS": []}),
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        (
            json!({"BS": []}),
            "One or more parameter values were invalid: Binary sets should not be empty",
        ),
        (
            json!({"SS": ["a", "a"]}),
            "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
        ),
        (
            json!({"NS": ["1", "1.0"]}),
            "Input collection contains duplicates",
        ),
        (
            json!({"BS": ["AA==", "AA=="]}),
            "One or more parameter values were invalid: Input collection [AA==, AA==]of type BS contains duplicates.",
        ),
        (
            json!({"NULL": false}),
            "One or more parameter values were invalid: Null attribute value types must have the value of true",
        ),
        (
            json!({"B": "!!!"}),
            "One or more parameter values were invalid: Invalid Base64 encoded value for attribute of type B: !!!",
        ),
        (
            json!({"S": 5}),
            "NUMBER_VALUE can not be converted to a String",
        ),
        (
            json!({"BOOL": "true"}),
            "STRING_VALUE can not be converted to a Boolean",
        ),
        (
            json!({"L": {}}),
            "START_OBJECT can not be converted to a List",
        ),
        (
            json!("x"),
            "One or more parameter values were invalid: Supplied AttributeValue is not a structure",
        ),
    ];
    for (input, msg) in cases {
        let e = value_from_json(&input).unwrap_err();
        assert_eq!(e.0, msg, "{input}");
        assert_eq!(
            e.is_serialization(),
            msg.contains("can not be converted to a")
        );
    }
}

#[test]
fn nesting_is_bounded() {
    let mut v = json!({"S": "leaf"});
    for _ in 0..MAX_NESTING - 1 {
        v = json!({"L": [v]});
    }
    assert_eq!(
        nesting_depth(&value_from_json(&v).unwrap()),
        MAX_NESTING - 1
    );
    let v = json!({"M": {"k": v}});
    assert_eq!(value_from_json(&v).unwrap_err().0, NESTING_MESSAGE);
}

#[test]
fn expression_attribute_values() {
    let ok = values_from_json(&json!({":a": {"S": "x"}, ":b_1": {"N": "1"}})).unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(
        values_from_json(&json!({})).unwrap_err().0,
        "ExpressionAttributeValues must not be empty"
    );
    assert_eq!(
        values_from_json(&json!({"a": {"S": "x"}})).unwrap_err().0,
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"a\""
    );
    let mut deep = json!({"S": "leaf"});
    for _ in 0..MAX_NESTING {
        deep = json!({"M": {"n": deep}});
    }
    assert_eq!(
        values_from_json(&json!({":d": deep})).unwrap_err().0,
        NESTING_MESSAGE
    );
    assert_eq!(
        values_from_json(&json!({":a": {"SS": []}})).unwrap_err().0,
        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :a"
    );
}

#[test]
fn items_and_sizes() {
    let item = item_from_json(&json!({
        "pk": {"S": "abc"}, "n": {"N": "12345"}, "b": {"BOOL": false},
        "l": {"L": [{"S": "ab"}, {"NULL": true}]}, "m": {"M": {"k": {"N": "1"}}},
        "ss": {"SS": ["a", "bc"]}
    }))
    .unwrap();
    // pk: 2+3; n: 1+(3+1); b: 1+1; l: 1+3+(1+2)+(1+1); m: 1+3+(1+1+2); ss: 2+3
    assert_eq!(item_size(&item), 5 + 5 + 2 + 9 + 8 + 5);
    assert_eq!(item_from_json(&item_to_json(&item)).unwrap(), item);
    assert_eq!(
        item_from_json(&json!([])).unwrap_err().0,
        "START_ARRAY can not be converted to a Map"
    );
}

#[test]
fn number_sizes() {
    // Sizes measured on DynamoDB (accept/reject pairs at the 400 KB gate).
    for (s, size) in [
        ("0", 1),
        ("1", 2),
        ("12", 2),
        ("123", 3),
        ("1234", 3),
        ("12345678901234567890123456789012345678", 20),
        ("0042", 2),
        ("100", 2),
        ("1010", 3),
        ("0.0000001", 2),
        ("1E125", 2),
        ("1E-100", 2),
        ("1.5", 3),
        ("15", 2),
        ("1.2", 3),
        ("1.200", 3),
        ("1.234", 4),
        ("3.14159", 5),
        ("123456", 4),
        ("100.5", 4),
        ("0.15", 2),
        ("-42", 3),
        ("-0", 1),
    ] {
        assert_eq!(AttributeValue::N(n(s)).size(), size, "{s}");
    }
}

#[test]
fn key_bytes_only_for_key_types() {
    assert_eq!(
        key_bytes(&AttributeValue::S("ab".into())),
        Some(b"ab".to_vec())
    );
    assert_eq!(key_bytes(&AttributeValue::B(vec![9])), Some(vec![9]));
    assert!(key_bytes(&AttributeValue::Bool(true)).is_none());
    assert!(key_bytes(&AttributeValue::Ss(vec!["a".into()])).is_none());
}

fn arb_number() -> impl Strategy<Value = Number> {
    (
        any::<bool>(),
        proptest::collection::vec(0u8..10, 1..=38),
        -129i32..=126,
    )
        .prop_map(|(neg, mut digits, exp)| {
            digits[0] = digits[0].max(1);
            while digits.last() == Some(&0) {
                digits.pop();
            }
            Number { neg, exp, digits }
        })
}

fn arb_value() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        ".{0,8}".prop_map(AttributeValue::S),
        arb_number().prop_map(AttributeValue::N),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(AttributeValue::B),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null),
        proptest::collection::vec(".{0,4}", 1..4).prop_map(AttributeValue::string_set),
        proptest::collection::vec(arb_number(), 1..4).prop_map(AttributeValue::number_set),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..4), 1..4)
            .prop_map(AttributeValue::binary_set),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            proptest::collection::btree_map(".{0,4}", inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

proptest! {
    #[test]
    fn json_roundtrip(v in arb_value()) {
        prop_assert_eq!(value_from_json(&v.to_json()).unwrap(), v);
    }

    #[test]
    fn postcard_roundtrip(v in arb_value()) {
        let bytes = postcard::to_allocvec(&v).unwrap();
        let back: AttributeValue = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(back, v);
    }

    #[test]
    fn number_string_roundtrip(a in arb_number()) {
        prop_assert_eq!(Number::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn number_key_bytes_order(a in arb_number(), b in arb_number()) {
        let (ka, kb) = (a.key_bytes(), b.key_bytes());
        prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
    }

    #[test]
    fn string_and_binary_key_bytes_order(a in ".{0,6}", b in ".{0,6}", x in proptest::collection::vec(any::<u8>(), 0..6), y in proptest::collection::vec(any::<u8>(), 0..6)) {
        let (ka, kb) = (key_bytes(&AttributeValue::S(a.clone())).unwrap(), key_bytes(&AttributeValue::S(b.clone())).unwrap());
        prop_assert_eq!(ka.cmp(&kb), compare(&AttributeValue::S(a), &AttributeValue::S(b)).unwrap());
        let (kx, ky) = (key_bytes(&AttributeValue::B(x.clone())).unwrap(), key_bytes(&AttributeValue::B(y.clone())).unwrap());
        prop_assert_eq!(kx.cmp(&ky), x.cmp(&y));
    }

    #[test]
    fn addition_matches_i128(a in -10i64.pow(15)..10i64.pow(15), b in -10i64.pow(15)..10i64.pow(15), s in 0u32..6) {
        // Scaled integers: a/10^s + b/10^s, checked against exact integer arithmetic.
        let scale = |v: i64| Number::parse(&format!("{v}e-{s}")).unwrap();
        let sum = scale(a).add(&scale(b)).unwrap();
        prop_assert_eq!(sum, scale(a + b));
        let diff = scale(a).sub(&scale(b)).unwrap();
        prop_assert_eq!(diff, scale(a - b));
    }

    #[test]
    fn order_is_consistent_with_subtraction(a in arb_number(), b in arb_number()) {
        if let Ok(d) = a.sub(&b) {
            let expect = if d.is_zero() { Ordering::Equal } else if d.is_negative() { Ordering::Less } else { Ordering::Greater };
            prop_assert_eq!(a.cmp(&b), expect);
        }
    }
}

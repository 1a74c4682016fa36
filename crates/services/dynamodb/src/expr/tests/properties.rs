//! Property tests of the evaluator and the update language.

use super::*;

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
    for _ in 0..crate::value::MAX_NESTING - 1 {
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
        crate::value::NESTING_MESSAGE
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

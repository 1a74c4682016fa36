use serde_json::json;

use super::*;

fn leaf(path: &[&str], conds: Vec<Cond>) -> Matcher {
    Matcher {
        leaves: vec![(path.iter().map(|s| s.to_string()).collect(), conds)],
        ors: Vec::new(),
    }
}

#[test]
fn arrays_are_flattened_through_objects() {
    let doc = json!({"items": [{"sku": "x1", "n": 2}, {"sku": "y2", "n": [5, 6]}], "o": {"k": {}}});
    let sku = |s: &str| leaf(&["items", "sku"], vec![Cond::Exact(Lit::Str(s.into()))]);
    assert!(sku("y2").matches_json(&doc));
    assert!(!sku("z").matches_json(&doc));
    let n6 = leaf(&["items", "n"], vec![Cond::Numeric(vec![(Cmp::Ge, 6.0)])]);
    assert!(n6.matches_json(&doc));
    // An object at a leaf is not a value: it does not exist.
    assert!(leaf(&["o", "k"], vec![Cond::Exists(false)]).matches_json(&doc));
    assert!(!leaf(&["o", "k"], vec![Cond::Exists(true)]).matches_json(&doc));
}

#[test]
fn anything_but_and_null() {
    let ab = |null_matches| Cond::AnythingBut {
        lits: vec![Lit::Str("x".into())],
        null_matches,
    };
    assert!(ab(true).matches_value(&json!(null)));
    assert!(!ab(false).matches_value(&json!(null)));
    assert!(ab(false).matches_value(&json!(3)));
    assert!(!ab(false).matches_value(&json!("x")));
}

#[test]
fn cidr_and_numeric_reasons() {
    assert_eq!(
        compile_cidr(&json!("10.0.0.0")).unwrap_err(),
        "Malformed CIDR, one '/' required"
    );
    assert_eq!(
        compile_cidr(&json!(5)).unwrap_err(),
        "prefix match pattern must be a string"
    );
    assert_eq!(
        compile_cidr(&json!("10.0.0.0/x")).unwrap_err(),
        "Malformed CIDR, mask bits must be an integer"
    );
    assert_eq!(
        compile_cidr(&json!("10.0.0/8")).unwrap_err(),
        "Nonstandard IP address: 10.0.0"
    );
    let c = compile_cidr(&json!("10.1.0.0/16")).unwrap();
    assert!(c.matches_value(&json!("10.1.200.3")));
    assert!(!c.matches_value(&json!("10.2.0.1")));
    assert!(!c.matches_value(&json!("::1")));
    let all6 = compile_cidr(&json!("::/0")).unwrap();
    assert!(all6.matches_value(&json!("2001:db8::1")));
    assert_eq!(
        compile_numeric(&json!([])).unwrap_err(),
        "Invalid member in numeric match: ]"
    );
    assert_eq!(
        compile_numeric(&json!(["=", "x"])).unwrap_err(),
        "Value of equals must be numeric"
    );
    assert_eq!(
        compile_numeric(&json!([">", 1, "<"])).unwrap_err(),
        "Value of < must be numeric"
    );
    assert_eq!(
        compile_numeric(&json!([">", 1, 2, 3])).unwrap_err(),
        "Bad value in numeric range: 2"
    );
    assert_eq!(
        compile_numeric(&json!([">", 1, "<", 5, ">", 9])).unwrap_err(),
        "Too many terms in numeric range expression"
    );
}

#[test]
fn wildcards() {
    assert!(wildcard("*", ""));
    assert!(wildcard("a*b*c", "aXXbYYc"));
    assert!(!wildcard("a*b*c", "aXXbYY"));
    assert!(wildcard("a\\*b", "a*b"));
    assert!(!wildcard("a\\*b", "aXb"));
    assert!(wildcard("*.png", "x.png"));
    assert!(!wildcard("*.png", "x.pngx"));
    // Linear even on adversarial input.
    let s = "a".repeat(10_000);
    assert!(!wildcard("*a*a*a*a*b", &s));
}

/// Reference glob matcher (dynamic programming) for the property test.
fn glob_ref(p: &[char], s: &[char]) -> bool {
    let mut dp = vec![vec![false; s.len() + 1]; p.len() + 1];
    dp[0][0] = true;
    for i in 1..=p.len() {
        dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
        for j in 1..=s.len() {
            dp[i][j] = if p[i - 1] == '*' {
                dp[i - 1][j] || dp[i][j - 1]
            } else {
                dp[i - 1][j - 1] && p[i - 1] == s[j - 1]
            };
        }
    }
    dp[p.len()][s.len()]
}

proptest::proptest! {
    #[test]
    fn wildcard_agrees_with_a_reference(p in "[ab*]{0,8}", s in "[ab]{0,10}") {
        let pc: Vec<char> = p.chars().collect();
        let sc: Vec<char> = s.chars().collect();
        proptest::prop_assert_eq!(wildcard(&p, &s), glob_ref(&pc, &sc));
    }

    #[test]
    fn masks_keep_the_network_bits(a in proptest::num::u32::ANY, bits in 0u32..=32) {
        let net = mask(a as u128, bits, 32);
        let want = if bits == 0 { 0 } else { (a >> (32 - bits)) << (32 - bits) };
        proptest::prop_assert_eq!(net, want as u128);
    }
}

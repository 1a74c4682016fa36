use super::*;
use snapstack_service::test_support::context_in;

fn ctx(account: &str, region: &str) -> RequestContext {
    context_in(account, region, NAME)
}

fn call(ssm: &Ssm, c: &RequestContext, op: &str, body: Value) -> Result<Value, AwsError> {
    let h = ssm.handle(c, op, body.to_string().as_bytes())?;
    // As the client reads it: written by the model.
    Ok(
        serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
            snapstack_protocol::model::named(NAME).unwrap(),
            op,
            &h.value,
        ))
        .unwrap(),
    )
}

fn code(r: Result<Value, AwsError>) -> String {
    r.unwrap_err().code
}

#[test]
fn names_are_validated() {
    assert!(validate_name("/app/db/password").is_ok());
    assert!(validate_name("plain.name-1_x").is_ok());
    for bad in [
        "awsparam",
        "/aws/x",
        "SSM-thing",
        "/ssm/x",
        "a b",
        "a/b",
        "/a//b",
        "/a/",
    ] {
        let e = validate_name(bad).unwrap_err();
        assert_eq!(e.code, "ValidationException", "{bad}");
    }
    let deep = "/a".repeat(16);
    assert_eq!(
        validate_name(&deep).unwrap_err().code,
        "HierarchyLevelLimitExceededException"
    );
    assert!(validate_name(&"/a".repeat(15)).is_ok());
    assert_eq!(
        validate_name(&"x".repeat(2049)).unwrap_err().code,
        "ValidationException"
    );
}

#[test]
fn selectors_parse() {
    let c = RequestContext::from_scope(None);
    assert_eq!(
        parse_selector(&c, "/a/b").unwrap(),
        ("/a/b".into(), Selector::Latest, None)
    );
    assert_eq!(
        parse_selector(&c, "/a/b:3").unwrap(),
        ("/a/b".into(), Selector::Version(3), Some(":3".into()))
    );
    assert_eq!(
        parse_selector(&c, "name:prod").unwrap(),
        (
            "name".into(),
            Selector::Label("prod".into()),
            Some(":prod".into())
        )
    );
    assert_eq!(
        parse_selector(&c, "arn:aws:ssm:us-east-1:000000000000:parameter/a/b:2").unwrap(),
        ("/a/b".into(), Selector::Version(2), Some(":2".into()))
    );
    // Another account's (or region's) ARN is not found, never read as the caller's own.
    for other in [
        "arn:aws:ssm:us-east-1:222222222222:parameter/a/b",
        "arn:aws:ssm:eu-west-1:000000000000:parameter/a/b",
    ] {
        assert_eq!(
            parse_selector(&c, other).unwrap_err().code,
            "ParameterNotFound"
        );
    }
    assert!(parse_selector(&c, "a:b:c").is_err());
    assert!(parse_selector(&c, "a:").is_err());
}

#[test]
fn labels_are_validated() {
    assert!(valid_label("prod"));
    assert!(valid_label("v1.2-x_y"));
    for bad in ["1abc", "awsx", "SSMx", "a b", "", &"x".repeat(101)] {
        assert!(!valid_label(bad), "{bad}");
    }
}

#[test]
fn put_get_overwrite_and_versions() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    let r = call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "/a/x", "Value": "1", "Type": "String"}),
    )
    .unwrap();
    assert_eq!(r["Version"], 1);
    assert_eq!(r["Tier"], "Standard");
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/a/x", "Value": "2"})
        )),
        "ParameterAlreadyExists"
    );
    let r = call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "/a/x", "Value": "2", "Overwrite": true}),
    )
    .unwrap();
    assert_eq!(r["Version"], 2);
    let g = call(&s, &c, "GetParameter", json!({"Name": "/a/x"})).unwrap();
    assert_eq!(g["Parameter"]["Value"], "2");
    assert_eq!(g["Parameter"]["Type"], "String");
    assert_eq!(
        g["Parameter"]["ARN"],
        "arn:aws:ssm:us-east-1:000000000000:parameter/a/x"
    );
    assert!(g["Parameter"]["LastModifiedDate"].as_f64().unwrap() > 1.0e9);
    let g = call(&s, &c, "GetParameter", json!({"Name": "/a/x:1"})).unwrap();
    assert_eq!(g["Parameter"]["Value"], "1");
    assert_eq!(g["Parameter"]["Selector"], ":1");
    assert_eq!(
        code(call(&s, &c, "GetParameter", json!({"Name": "/a/x:9"}))),
        "ParameterVersionNotFound"
    );
    assert_eq!(
        code(call(&s, &c, "GetParameter", json!({"Name": "/nope"}))),
        "ParameterNotFound"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/new", "Value": "v"})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/a/x", "Value": "v", "Overwrite": true, "Tags": [{"Key": "k", "Value": "v"}]})
        )),
        "ValidationException"
    );
}

#[test]
fn history_is_capped_at_100_versions() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    for i in 0..105 {
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "p", "Value": format!("v{i}"), "Type": "String", "Overwrite": true}),
        )
        .unwrap();
    }
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"Name": "p", "MaxResults": 30});
        if let Some(t) = &token {
            req["NextToken"] = json!(t);
        }
        let r = call(&s, &c, "GetParameterHistory", req).unwrap();
        all.extend(r["Parameters"].as_array().unwrap().iter().cloned());
        match r.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(all.len(), 100);
    assert_eq!(all[0]["Version"], 6);
    assert_eq!(all[99]["Version"], 105);
    // A label on the oldest version blocks dropping it.
    call(
        &s,
        &c,
        "LabelParameterVersion",
        json!({"Name": "p", "ParameterVersion": 6, "Labels": ["old"]}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "p", "Value": "x", "Overwrite": true})
        )),
        "ParameterMaxVersionLimitExceeded"
    );
}

#[test]
fn labels_move_between_versions() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    for v in ["a", "b", "c"] {
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/l", "Value": v, "Type": "String", "Overwrite": true}),
        )
        .unwrap();
    }
    let r = call(
        &s,
        &c,
        "LabelParameterVersion",
        json!({"Name": "/l", "ParameterVersion": 1, "Labels": ["prod", "1bad"]}),
    )
    .unwrap();
    assert_eq!(r["InvalidLabels"], json!(["1bad"]));
    assert_eq!(r["ParameterVersion"], 1);
    let g = call(&s, &c, "GetParameter", json!({"Name": "/l:prod"})).unwrap();
    assert_eq!(g["Parameter"]["Value"], "a");
    let r = call(
        &s,
        &c,
        "LabelParameterVersion",
        json!({"Name": "/l", "Labels": ["prod"]}),
    )
    .unwrap();
    assert_eq!(r["ParameterVersion"], 3);
    let g = call(&s, &c, "GetParameter", json!({"Name": "/l:prod"})).unwrap();
    assert_eq!(g["Parameter"]["Value"], "c");
    let h = call(&s, &c, "GetParameterHistory", json!({"Name": "/l"})).unwrap();
    assert_eq!(h["Parameters"][0]["Labels"], json!([]));
    assert_eq!(h["Parameters"][2]["Labels"], json!(["prod"]));
    assert_eq!(
        code(call(
            &s,
            &c,
            "LabelParameterVersion",
            json!({"Name": "/l", "ParameterVersion": 7, "Labels": ["x"]})
        )),
        "ParameterVersionNotFound"
    );
    let r = call(
        &s,
        &c,
        "GetParameters",
        json!({"Names": ["/l:prod", "/l:nope", "/zz"]}),
    )
    .unwrap();
    assert_eq!(r["Parameters"].as_array().unwrap().len(), 1);
    assert_eq!(r["InvalidParameters"], json!(["/l:nope", "/zz"]));
}

#[test]
fn secure_strings_hide_their_value_unless_decrypted() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "/s", "Value": "hunter2", "Type": "SecureString"}),
    )
    .unwrap();
    let g = call(&s, &c, "GetParameter", json!({"Name": "/s"})).unwrap();
    assert_ne!(g["Parameter"]["Value"], "hunter2");
    let g = call(
        &s,
        &c,
        "GetParameter",
        json!({"Name": "/s", "WithDecryption": true}),
    )
    .unwrap();
    assert_eq!(g["Parameter"]["Value"], "hunter2");
    let d = call(&s, &c, "DescribeParameters", json!({})).unwrap();
    assert_eq!(d["Parameters"][0]["KeyId"], "alias/aws/ssm");
}

#[test]
fn by_path_recursion_filters_and_pages() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    for (n, t) in [
        ("/app/a", "String"),
        ("/app/b", "SecureString"),
        ("/app/sub/c", "String"),
        ("/app/sub/deep/d", "StringList"),
        ("/apple", "String"),
        ("/other/x", "String"),
    ] {
        call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": n, "Value": "v", "Type": t}),
        )
        .unwrap();
    }
    let names = |r: &Value| -> Vec<String> {
        r["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = call(&s, &c, "GetParametersByPath", json!({"Path": "/app"})).unwrap();
    assert_eq!(names(&r), ["/app/a", "/app/b"]);
    let r = call(
        &s,
        &c,
        "GetParametersByPath",
        json!({"Path": "/app/", "Recursive": true}),
    )
    .unwrap();
    assert_eq!(
        names(&r),
        ["/app/a", "/app/b", "/app/sub/c", "/app/sub/deep/d"]
    );
    let r = call(&s, &c, "GetParametersByPath", json!({"Path": "/app", "Recursive": true, "ParameterFilters": [{"Key": "Type", "Values": ["String"]}]})).unwrap();
    assert_eq!(names(&r), ["/app/a", "/app/sub/c"]);
    let mut got = Vec::new();
    let mut token = None;
    loop {
        let mut req = json!({"Path": "/", "Recursive": true, "MaxResults": 2});
        if let Some(t) = &token {
            req["NextToken"] = json!(t);
        }
        let r = call(&s, &c, "GetParametersByPath", req).unwrap();
        got.extend(names(&r));
        match r.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(got.len(), 6);
    assert_eq!(
        code(call(
            &s,
            &c,
            "GetParametersByPath",
            json!({"Path": "/app", "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]})
        )),
        "InvalidFilterKey"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "GetParametersByPath",
            json!({"Path": "/app", "NextToken": "zz"})
        )),
        "InvalidNextToken"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "GetParametersByPath",
            json!({"Path": "/app", "MaxResults": 11})
        )),
        "ValidationException"
    );
    // Describe with Path OneLevel / Recursive and Name BeginsWith.
    let r = call(
        &s,
        &c,
        "DescribeParameters",
        json!({"ParameterFilters": [{"Key": "Path", "Values": ["/app"]}]}),
    )
    .unwrap();
    assert_eq!(names(&r), ["/app/a", "/app/b"]);
    let r = call(&s, &c, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}], "MaxResults": 50})).unwrap();
    assert_eq!(names(&r).len(), 4);
    let r = call(&s, &c, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app"]}], "MaxResults": 50})).unwrap();
    assert_eq!(names(&r).len(), 5);
    let r = call(
        &s,
        &c,
        "DescribeParameters",
        json!({"Filters": [{"Key": "Type", "Values": ["SecureString"]}]}),
    )
    .unwrap();
    assert_eq!(names(&r), ["/app/b"]);
    assert_eq!(
        code(call(
            &s,
            &c,
            "DescribeParameters",
            json!({"Filters": [], "ParameterFilters": []})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Path", "Option": "Sideways", "Values": ["/app"]}]})
        )),
        "InvalidFilterOption"
    );
}

#[test]
fn deletes() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "a", "Value": "v", "Type": "String"}),
    )
    .unwrap();
    call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "b", "Value": "v", "Type": "String"}),
    )
    .unwrap();
    call(&s, &c, "DeleteParameter", json!({"Name": "a"})).unwrap();
    assert_eq!(
        code(call(&s, &c, "DeleteParameter", json!({"Name": "a"}))),
        "ParameterNotFound"
    );
    let r = call(&s, &c, "DeleteParameters", json!({"Names": ["b", "zz"]})).unwrap();
    assert_eq!(r["DeletedParameters"], json!(["b"]));
    assert_eq!(r["InvalidParameters"], json!(["zz"]));
}

#[test]
fn partitions_are_isolated() {
    let s = Ssm::new();
    let a = ctx("111111111111", "us-east-1");
    let b = ctx("222222222222", "us-east-1");
    let a2 = ctx("111111111111", "eu-west-1");
    call(
        &s,
        &a,
        "PutParameter",
        json!({"Name": "x", "Value": "a", "Type": "String"}),
    )
    .unwrap();
    assert_eq!(
        code(call(&s, &b, "GetParameter", json!({"Name": "x"}))),
        "ParameterNotFound"
    );
    assert_eq!(
        code(call(&s, &a2, "GetParameter", json!({"Name": "x"}))),
        "ParameterNotFound"
    );
    let d = call(&s, &b, "DescribeParameters", json!({})).unwrap();
    assert_eq!(d["Parameters"], json!([]));
}

#[test]
fn bad_requests() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    assert_eq!(
        s.handle(&c, "PutParameter", b"{not json").unwrap_err().code,
        "SerializationException"
    );
    assert_eq!(
        s.handle(&c, "PutParameter", br#"{"Name": 5}"#)
            .unwrap_err()
            .code,
        "SerializationException"
    );
    assert_eq!(
        s.handle(&c, "GetParameter", b"{}").unwrap_err().code,
        "ValidationException"
    );
    assert_eq!(
        s.handle(&c, "Frobnicate", b"{}").unwrap_err().code,
        "UnknownOperationException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/p", "Value": "abc", "Type": "String", "AllowedPattern": "^\\d+$"})
        )),
        "ParameterPatternMismatchException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/p", "Value": "abc", "Type": "String", "AllowedPattern": "(("})
        )),
        "InvalidAllowedPatternException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/p", "Value": "abc", "Type": "Number"})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &s,
            &c,
            "PutParameter",
            json!({"Name": "/p", "Value": "x".repeat(4097), "Type": "String"})
        )),
        "ValidationException"
    );
    let r = call(
        &s,
        &c,
        "PutParameter",
        json!({"Name": "/p", "Value": "x".repeat(4097), "Type": "String", "Tier": "Advanced"}),
    )
    .unwrap();
    assert_eq!(r["Tier"], "Advanced");
}

#[test]
fn base64_matches_the_standard() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(unhex(&hex("/a/b")).as_deref(), Some("/a/b"));
    assert_eq!(unhex("zz"), None);
}

/// AWS stores a single name written with a leading slash without it (`/name` is `name`); a path
/// keeps its slash, and a path without one is refused.
#[test]
fn a_single_name_with_a_leading_slash_is_that_name() {
    let ssm = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    let put = call(
        &ssm,
        &c,
        "PutParameter",
        json!({"Name": "/single", "Value": "v", "Type": "String"}),
    );
    assert!(put.is_ok(), "{put:?}");
    for name in ["single", "/single"] {
        let got = call(&ssm, &c, "GetParameter", json!({ "Name": name })).unwrap();
        assert_eq!(got["Parameter"]["Name"], "single", "{name}");
    }
    let again = call(
        &ssm,
        &c,
        "PutParameter",
        json!({"Name": "single", "Value": "w", "Type": "String"}),
    );
    assert_eq!(code(again), "ParameterAlreadyExists");
    call(
        &ssm,
        &c,
        "PutParameter",
        json!({"Name": "/a/b", "Value": "v", "Type": "String"}),
    )
    .unwrap();
    let got = call(&ssm, &c, "GetParameter", json!({"Name": "/a/b"})).unwrap();
    assert_eq!(got["Parameter"]["Name"], "/a/b");
    let bad = call(
        &ssm,
        &c,
        "PutParameter",
        json!({"Name": "a/b", "Value": "v", "Type": "String"}),
    );
    assert_eq!(code(bad), "ValidationException");
    let top = call(&ssm, &c, "GetParametersByPath", json!({"Path": "/"})).unwrap();
    let listed: Vec<&str> = top["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["single"],
        "the root path lists the top-level name, not /a/b"
    );
    call(&ssm, &c, "DeleteParameter", json!({"Name": "/single"})).unwrap();
    assert_eq!(
        code(call(&ssm, &c, "GetParameter", json!({"Name": "single"}))),
        "ParameterNotFound"
    );
}

/// The parameter operations skip the output trim (`wide::trim_output`), so their outputs must
/// already hold only their shapes' members and no nulls: trimming them changes nothing.
#[test]
fn parameter_outputs_need_no_trim() {
    let s = Ssm::new();
    let c = ctx("000000000000", "us-east-1");
    let m = snapstack_protocol::model::named(NAME).unwrap();
    let calls = [
        (
            "PutParameter",
            json!({"Name": "/t/a", "Value": "1", "Type": "String", "Tags": [{"Key": "k", "Value": "v"}]}),
        ),
        (
            "PutParameter",
            json!({"Name": "/t/b", "Value": "s", "Type": "SecureString"}),
        ),
        (
            "LabelParameterVersion",
            json!({"Name": "/t/a", "Labels": ["l1"]}),
        ),
        ("GetParameter", json!({"Name": "/t/a"})),
        (
            "GetParameter",
            json!({"Name": "/t/b", "WithDecryption": true}),
        ),
        ("GetParameters", json!({"Names": ["/t/a", "/t/b", "/nope"]})),
        (
            "GetParametersByPath",
            json!({"Path": "/t", "Recursive": true}),
        ),
        ("GetParameterHistory", json!({"Name": "/t/a"})),
        ("DescribeParameters", json!({})),
        (
            "UnlabelParameterVersion",
            json!({"Name": "/t/a", "ParameterVersion": 1, "Labels": ["l1", "zz"]}),
        ),
        ("DeleteParameters", json!({"Names": ["/t/b", "/nope"]})),
        ("DeleteParameter", json!({"Name": "/t/a"})),
    ];
    for (op, body) in calls {
        let out = call(&s, &c, op, body).unwrap();
        let mut trimmed = out.clone();
        let shape = &m.operations[op].output.as_ref().unwrap().shape;
        wide::trim(m, shape, &mut trimmed, 0);
        assert_eq!(trimmed, out, "{op}");
    }
}

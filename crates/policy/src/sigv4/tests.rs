use super::*;

#[test]
fn amz_dates_round_trip() {
    for t in [0, 1_369_353_600, 1_440_938_160, 951_782_400, 4_102_444_799] {
        assert_eq!(parse_amz_date(&amz_date(t)), Some(t), "{t}");
    }
    assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
}

#[test]
fn http_dates() {
    assert_eq!(
        http_date_to_amz("Fri, 24 May 2013 00:00:00 GMT").as_deref(),
        Some("20130524T000000Z")
    );
    assert_eq!(http_date_to_amz("Fri, 24 Foo 2013 00:00:00 GMT"), None);
    assert_eq!(http_date_to_amz("yesterday"), None);
    assert_eq!(http_date_to_amz("Fri, 99 May 2013 00:00:00 GMT"), None);
}

#[test]
fn paths_normalize_and_encode() {
    assert_eq!(normalize_path("//example//"), "/example/");
    assert_eq!(normalize_path("/a/./b/../c"), "/a/c");
    assert_eq!(normalize_path(""), "/");
    assert_eq!(normalize_path("/../.."), "/");
    assert_eq!(uri_encode("/a b/%2F~é", true), "/a%20b/%252F~%C3%A9");
    assert_eq!(
        parse_query("a=%2f&b&c=1%2"),
        [
            ("a".into(), "/".into()),
            ("b".into(), "".into()),
            ("c".into(), "1%2".into())
        ]
    );
}

/// The canonical request as first written (a `format!` and a `Vec` per part): the buffer
/// version must give the same text for every request.
fn reference_canonical(
    req: &SignedRequest<'_>,
    query: &[(String, String)],
    signed_headers: &[String],
    s3: bool,
    content_sha256: &str,
) -> String {
    let Headers::Pairs(pairs) = req.headers else {
        panic!("the reference reads header pairs")
    };
    let header = |name: &str| {
        let values: Vec<String> = pairs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let path = if s3 {
        if req.path.is_empty() {
            "/".to_owned()
        } else {
            req.path.to_owned()
        }
    } else {
        uri_encode(&normalize_path(req.path), true)
    };
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&header(name).unwrap_or_default());
        headers.push('\n');
    }
    format!(
        "{}\n{path}\n{canonical_query}\n{headers}\n{}\n{content_sha256}",
        req.method.to_ascii_uppercase(),
        signed_headers.join(";")
    )
}

proptest::proptest! {
    #[test]
    fn credentials_split_at_their_last_four_slashes(c in "[a/_4]{0,10}(/[0-9]{8})?(/[a-z]{0,3}){0,3}") {
        // The reference: four splits from the right.
        let reference = (|| {
            let (rest, terminal) = c.rsplit_once('/')?;
            let (rest, service) = rest.rsplit_once('/')?;
            let (rest, region) = rest.rsplit_once('/')?;
            let (access_key, date) = rest.rsplit_once('/')?;
            (terminal == "aws4_request" && !access_key.is_empty() && date.len() == 8)
                .then_some((access_key, date, region, service))
        })();
        proptest::prop_assert_eq!(parse_credential(&c), reference);
        let whole = format!("{c}/aws4_request");
        proptest::prop_assert_eq!(parse_credential(&whole), (|| {
            let (rest, service) = c.rsplit_once('/')?;
            let (rest, region) = rest.rsplit_once('/')?;
            let (access_key, date) = rest.rsplit_once('/')?;
            (!access_key.is_empty() && date.len() == 8).then_some((access_key, date, region, service))
        })());
    }

    #[test]
    fn the_usual_authorization_shape_reads_as_any_shape(
        credential in "[A-Z0-9/ =-]{0,12}",
        signed in "[a-z;, =-]{0,12}",
        signature in "[0-9a-f]{62,66}|[0-9a-fA-Z ,]{60,66}",
        gaps in proptest::collection::vec("[ ,]{0,2}", 3),
        names in proptest::collection::vec(proptest::sample::select(vec!["Credential=", "SignedHeaders=", "Signature=", "Other="]), 3),
        usual_names in proptest::bool::ANY,
    ) {
        let names: Vec<&str> = if usual_names { vec!["Credential=", "SignedHeaders=", "Signature="] } else { names };
        let rest = format!(" {}{credential},{}{}{signed},{}{}{signature}", names[0], gaps[0], names[1], gaps[1], names[2]);
        let rest = if gaps[2].is_empty() { rest } else { format!("{rest}{}", gaps[2]) };
        if let Some((c, h, s)) = usual_parts(&rest) {
            proptest::prop_assert_eq!((Some(c), Some(h), Some(s)), any_parts(&rest));
        }
    }

    #[test]
    fn the_buffered_canonical_request_is_the_reference_one(
        path in "(/[a-z.%2 ]{0,4}){0,4}/?",
        query in "([a-zA-Z%=&+ -]{0,6}&?){0,4}",
        values in proptest::collection::vec("[ a-z\t]{0,8}|\\PC{0,4}", 1..4),
        s3 in proptest::bool::ANY,
    ) {
        let mut headers: Vec<(&str, &str)> = vec![("Host", "localhost"), ("X-Amz-Date", "20240101T000000Z")];
        for v in &values {
            headers.push(("X-Custom", v.as_str()));
        }
        let req = SignedRequest { method: "post", path: &path, query: &query, headers: (&headers).into(), payload_hash: EMPTY_SHA256 };
        let parsed = parse_query(&query);
        let signed = vec!["host".to_string(), "x-amz-date".to_string(), "x-custom".to_string(), "x-absent".to_string()];
        proptest::prop_assert_eq!(
            canonical_request(&req, &parsed, &signed, s3, EMPTY_SHA256),
            reference_canonical(&req, &parsed, &signed, s3, EMPTY_SHA256)
        );
        // The same headers as bytes (the server's form) give the same text.
        let bytes: Vec<(&str, &[u8])> = headers.iter().map(|&(n, v)| (n, v.as_bytes())).collect();
        let as_bytes = SignedRequest { headers: (&bytes).into(), ..req };
        proptest::prop_assert_eq!(
            canonical_request(&as_bytes, &parsed, &signed, s3, EMPTY_SHA256),
            canonical_request(&req, &parsed, &signed, s3, EMPTY_SHA256)
        );
        for v in &values {
            let one = [("X-Custom", v.as_str())];
            let r = SignedRequest { headers: (&one).into(), ..req };
            proptest::prop_assert_eq!(
                header(&r, "x-custom").map(Cow::into_owned),
                Some(v.split_whitespace().collect::<Vec<_>>().join(" "))
            );
        }
    }
}

#[test]
fn hex_is_lower_case() {
    assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
    let all: Vec<u8> = (0..=255).collect();
    let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex(&all), expected);
    assert_eq!(uri_encode("a/ b", false), "a%2F%20b");
}

#[test]
fn the_header_sdks_send_is_read_by_position() {
    let sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
    let rest = format!(
        " Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={sig}"
    );
    let usual = usual_parts(&rest);
    assert_eq!(
        usual,
        Some((
            "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
            "content-type;host;x-amz-date",
            sig
        ))
    );
    let (c, h, s) = usual.unwrap();
    assert_eq!(any_parts(&rest), (Some(c), Some(h), Some(s)));
    // Another order, or a part more, is read by the general reading.
    let reordered =
        format!(" SignedHeaders=host, Credential=A/20150830/r/s/aws4_request, Signature={sig}");
    assert_eq!(usual_parts(&reordered), None);
    assert_eq!(any_parts(&reordered).0, Some("A/20150830/r/s/aws4_request"));
}

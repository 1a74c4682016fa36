use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::botocore_mirror;
use super::test_values::{Ctx, arb};
use super::*;
use crate::model::{self, ServiceModel};
use crate::rest::{RestRequest, RestRouter};

fn router(service: &'static str) -> &'static RestRouter {
    static ROUTERS: OnceLock<Mutex<HashMap<&'static str, &'static RestRouter>>> = OnceLock::new();
    let mut map = ROUTERS.get_or_init(Default::default).lock().unwrap();
    map.entry(service).or_insert_with(|| {
        Box::leak(Box::new(RestRouter::from_model(
            model::named(service).unwrap(),
        )))
    })
}

/// Route and parse a request given as text.
fn parse_http(
    service: &'static str,
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(String, Value), CodecError> {
    let model = model::named(service).unwrap();
    let uri: Uri = uri.parse().expect("uri");
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap();
    let has = |h: &str| map.contains_key(h);
    let route = router(service)
        .route(&RestRequest {
            method,
            path: uri.path(),
            query: &query,
            has_header: &has,
        })
        .unwrap_or_else(|e| panic!("{method} {uri} does not route: {e:?}"));
    let method: Method = method.parse().unwrap();
    let v = parse_request(
        model,
        route.operation,
        &route.labels,
        (&method, &uri, &map),
        body,
    )?;
    Ok((route.operation.to_string(), v))
}

// ---------------------------------------------------------------------------------------------
// Requests captured from botocore's serializers (tests/codec/capture_requests.py)

#[test]
fn parses_requests_captured_from_botocore() {
    let fixtures: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/codec/rest_requests.json"
    )))
    .unwrap();
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let service = match case["service"].as_str().unwrap() {
            "s3" => "s3",
            "lambda" => "lambda",
            "route53" => "route53",
            "apigatewayv2" => "apigatewayv2",
            other => panic!("{other}"),
        };
        let path = case["path"].as_str().unwrap();
        let query = case["query"].as_str().unwrap();
        let uri = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let headers: Vec<(String, String)> = case["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_string(),
                    h[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let body = base64::engine::general_purpose::STANDARD
            .decode(case["body"].as_str().unwrap())
            .unwrap();
        let op = case["operation"].as_str().unwrap();
        let model = model::named(service).unwrap();
        let streaming = model
            .input_of(&model.operations[op])
            .and_then(|s| s.payload.as_ref().map(|p| (s, p)))
            .is_some_and(|(s, p)| model.shape(&s.members[p].shape).unwrap().streaming);
        let body: &[u8] = if streaming { &[] } else { &body };
        let (routed, value) = parse_http(
            service,
            case["method"].as_str().unwrap(),
            &uri,
            &headers,
            body,
        )
        .unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(routed, op);
        assert_eq!(value, case["expected"], "{op}");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: details and errors

#[test]
fn labels_are_percent_decoded_and_greedy_labels_keep_slashes() {
    let (op, v) = parse_http("s3", "GET", "/b/a%2Fb/c%20d%C3%A9", &[], b"").unwrap();
    assert_eq!(op, "GetObject");
    assert_eq!(v, json!({"Bucket": "b", "Key": "a/b/c dé"}));
}

#[test]
fn typed_headers_and_queries_that_do_not_parse_are_400() {
    let h = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let e = parse_http("s3", "GET", "/b?list-type=2&max-keys=ten", &[], b"").unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"));
    assert!(e.message.contains("max-keys"), "{}", e.message);
    let e = parse_http(
        "s3",
        "GET",
        "/b/k",
        &h("if-modified-since", "yesterday"),
        b"",
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"));
    let e = parse_http(
        "lambda",
        "GET",
        "/2015-03-31/functions?MaxItems=x",
        &[],
        b"",
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "SerializationException"));
    // Header timestamps: RFC 822 (the default) and ISO 8601 are both read.
    let (_, v) = parse_http(
        "s3",
        "GET",
        "/b/k",
        &h("if-modified-since", "Sun, 29 Nov 2026 04:05:06 GMT"),
        b"",
    )
    .unwrap();
    assert_eq!(v["IfModifiedSince"], json!(1_795_925_106));
}

#[test]
fn malformed_bodies_answer_the_protocol_error() {
    for body in [
        &b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet>"[..],
        b"<Tagging><TagSet></Tagging>",
        b"not xml",
        b"<Tagging/><Tagging/>",
        b"<Other><TagSet/></Other>",
        b"<!DOCTYPE x [<!ENTITY a \"b\">]><Tagging/>",
        b"<Tagging><TagSet><Tag><Key>&bogus;</Key></Tag></TagSet></Tagging>",
        b"\xff\xfe<Tagging/>",
    ] {
        let e = parse_http("s3", "PUT", "/b?tagging", &[], body).unwrap_err();
        assert_eq!(e.code, "MalformedXML", "{}", String::from_utf8_lossy(body));
        assert_eq!(e.status, 400);
        assert_eq!(e.message, xml::MALFORMED_XML_MESSAGE);
    }
    let deep = format!(
        "<Tagging>{}{}</Tagging>",
        "<TagSet>".repeat(200),
        "</TagSet>".repeat(200)
    );
    // Elements the shape does not know are skipped without recursion, however deep.
    let (_, v) = parse_http("s3", "PUT", "/b?tagging", &[], deep.as_bytes()).unwrap();
    assert_eq!(v["Tagging"], json!({"TagSet": []}));
    let deep = format!("<Tagging>{}", "<TagSet>".repeat(200));
    assert!(parse_http("s3", "PUT", "/b?tagging", &[], deep.as_bytes()).is_err());
    // Typed values in a body: a number that is not one is malformed too.
    let bad = b"<LifecycleConfiguration><Rule><Expiration><Days>x</Days></Expiration></Rule></LifecycleConfiguration>";
    let e = parse_http("s3", "PUT", "/b?lifecycle", &[], bad).unwrap_err();
    assert_eq!(e.code, "MalformedXML");
    let e = parse_http(
        "lambda",
        "POST",
        "/2015-03-31/functions",
        &[],
        b"{\"Timeout\":",
    )
    .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "SerializationException"));
    let e = parse_http(
        "lambda",
        "POST",
        "/2015-03-31/functions",
        &[],
        b"{\"Timeout\":\"x\"}",
    )
    .unwrap_err();
    assert_eq!(e.code, "SerializationException");
}

#[test]
fn xml_input_ignores_namespaces_and_unknown_elements_and_reads_entities() {
    let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<s3:Tagging xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><!-- hi -->
  <s3:TagSet>
    <s3:Tag><s3:Key>a&amp;&#13;&#x41;<![CDATA[<x>]]></s3:Key><s3:Value/><Extra><Deep/></Extra></s3:Tag>
  </s3:TagSet>
  <Unknown>1</Unknown>
</s3:Tagging>"#;
    let (_, v) = parse_http("s3", "PUT", "/b?tagging", &[], body).unwrap();
    let with_bom = [&b"\xEF\xBB\xBF"[..], body].concat();
    assert_eq!(
        parse_http("s3", "PUT", "/b?tagging", &[], &with_bom)
            .unwrap()
            .1,
        v
    );
    assert_eq!(
        v,
        json!({"Bucket": "b", "Tagging": {"TagSet": [{"Key": "a&\rA<x>", "Value": ""}]}})
    );
}

#[test]
fn header_lists_unquote_and_keep_dates_whole() {
    use super::request::split_header_list;
    assert_eq!(
        split_header_list(r#"a, "b,c" ,"d\"e",f"#, false),
        vec!["a", "b,c", "d\"e", "f"]
    );
    assert_eq!(
        split_header_list(
            "Sun, 29 Nov 2026 04:05:06 GMT, Mon, 30 Nov 2026 04:05:06 GMT",
            true
        ),
        vec![
            "Sun, 29 Nov 2026 04:05:06 GMT",
            "Mon, 30 Nov 2026 04:05:06 GMT"
        ]
    );
}

#[test]
fn streaming_payloads_are_not_read_and_raw_payloads_are() {
    // PutObject: the body is the caller's, whatever is passed.
    let (_, v) = parse_http("s3", "PUT", "/b/k", &[], b"<not xml").unwrap();
    assert_eq!(v, json!({"Bucket": "b", "Key": "k"}));
    // PutBucketPolicy: a string payload is the body as text.
    let (_, v) = parse_http("s3", "PUT", "/b?policy", &[], b"{\"Version\":1}").unwrap();
    assert_eq!(v["Policy"], json!("{\"Version\":1}"));
}

#[test]
fn query_maps_take_the_remaining_parameters() {
    let model = model::named("apigateway").unwrap();
    // Find an operation with a map-typed querystring member and check it takes the rest.
    let (op, member) = model
        .operations
        .values()
        .find_map(|op| {
            let input = model.input_of(op)?;
            input.members.iter().find_map(|(n, m)| {
                (m.location.as_deref() == Some("querystring")
                    && model.shape(&m.shape)?.kind == "map")
                    .then(|| (op.name.clone(), n.clone()))
            })
        })
        .expect("apigateway has a query map");
    let op_model = &model.operations[&op];
    let input = model.input_of(op_model).unwrap();
    let mut value = Map::new();
    for (n, m) in &input.members {
        if m.location.as_deref() == Some("uri") {
            value.insert(n.clone(), json!("id1"));
        }
    }
    value.insert(member.clone(), json!({"a": "1", "b c": "2"}));
    let value = Value::Object(value);
    let s = botocore_mirror::serialize(model, &op, &value);
    let (routed, parsed) =
        parse_http("apigateway", &s.method, &s.uri, &s.headers, &s.body).unwrap();
    assert_eq!(routed, op);
    assert_eq!(parsed, value);
}

// ---------------------------------------------------------------------------------------------
// Responses and errors

fn s3() -> &'static ServiceModel {
    model::s3()
}

#[test]
fn s3_tagging_response_is_s3s_document() {
    let r = serialize_response(
        s3(),
        "GetBucketTagging",
        &json!({"TagSet": [{"Key": "a<b", "Value": "c\u{1}\n"}]}),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, Some("application/xml"));
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>a&lt;b</Key><Value>c&#x1;&#10;</Value></Tag></TagSet></Tagging>"
    );
}

#[test]
fn s3_acl_response_writes_the_xsi_type_attribute() {
    let r = serialize_response(
        s3(),
        "GetBucketAcl",
        &json!({"Owner": {"ID": "o"}, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "o"}, "Permission": "FULL_CONTROL"}]}),
    )
    .unwrap();
    let body = String::from_utf8(r.body).unwrap();
    assert!(
        body.contains("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>o</ID></Grantee>"),
        "{body}"
    );
    assert!(body.contains("<AccessControlPolicy xmlns="), "{body}");
}

#[test]
fn s3_get_object_headers() {
    let r = serialize_response(
        s3(),
        "GetObject",
        &json!({
            "ContentLength": 5, "LastModified": 1_795_925_106, "ETag": "\"e\"",
            "Metadata": {"color": "blue"}, "DeleteMarker": false,
            "ObjectLockRetainUntilDate": 1_795_925_106.5, "Expires": "Sun, 29 Nov 2026 04:05:06 GMT"
        }),
    )
    .unwrap();
    assert_eq!(r.streaming_payload.as_deref(), Some("Body"));
    assert!(r.body.is_empty());
    let h: HashMap<_, _> = r.headers.iter().cloned().collect();
    assert_eq!(h["Last-Modified"], "Sun, 29 Nov 2026 04:05:06 GMT");
    assert_eq!(h["Content-Length"], "5");
    assert_eq!(h["x-amz-meta-color"], "blue");
    assert_eq!(h["x-amz-delete-marker"], "false");
    // timestampFormat iso8601 on the member.
    assert_eq!(
        h["x-amz-object-lock-retain-until-date"],
        "2026-11-29T04:05:06.500Z"
    );
}

#[test]
fn lambda_responses_are_json_with_their_status() {
    let model = model::named("lambda").unwrap();
    let r = serialize_response(
        model,
        "CreateFunction",
        &json!({"FunctionName": "f", "Timeout": 3, "LastModified": "2026-11-29T04:05:06.000+0000"}),
    )
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.content_type, Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"FunctionName": "f", "Timeout": 3, "LastModified": "2026-11-29T04:05:06.000+0000"})
    );
    // Invoke: StatusCode member and a raw blob payload.
    let r = serialize_response(
        model,
        "Invoke",
        &json!({"StatusCode": 202, "Payload": "e30=", "ExecutedVersion": "$LATEST"}),
    )
    .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(r.body, b"{}");
    assert_eq!(r.content_type, None);
    assert!(
        r.headers
            .contains(&("X-Amz-Executed-Version".to_string(), "$LATEST".to_string()))
    );
}

#[test]
fn event_stream_and_empty_outputs() {
    let r = serialize_response(s3(), "SelectObjectContent", &json!({})).unwrap();
    assert_eq!(r.streaming_payload.as_deref(), Some("Payload"));
    assert!(r.body.is_empty());
    // PutObject: headers only, no body.
    let r = serialize_response(
        s3(),
        "PutObject",
        &json!({"ETag": "\"e\"", "VersionId": "v"}),
    )
    .unwrap();
    assert!(r.body.is_empty());
    assert_eq!(r.content_type, None);
    // ListBuckets with nothing: still the (empty) document.
    let r = serialize_response(s3(), "ListBuckets", &json!({})).unwrap();
    assert!(String::from_utf8(r.body).unwrap().ends_with("<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></ListAllMyBucketsResult>"));
    assert_eq!(
        default_namespace(model::named("route53").unwrap()).uri(),
        "https://route53.amazonaws.com/doc/2013-04-01/"
    );
}

#[test]
fn output_values_that_do_not_fit_are_500() {
    let e = serialize_response(s3(), "GetBucketTagging", &json!({"TagSet": "x"})).unwrap_err();
    assert_eq!(e.status, 500);
}

#[test]
fn errors() {
    let body = serialize_error_xml(
        "NoSuchKey",
        "The specified key does not exist.",
        "r1",
        &[("Key", "a&b"), ("HostId", "h")],
    );
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key><RequestId>r1</RequestId><HostId>h</HostId></Error>"
    );
    let route53 = model::named("route53").unwrap();
    assert_eq!(xml_error_style(route53), XmlErrorStyle::Wrapped);
    assert_eq!(xml_error_style(s3()), XmlErrorStyle::Bare);
    let body = serialize_error_xml_wrapped(
        "https://route53.amazonaws.com/doc/2013-04-01/",
        "NoSuchHostedZone",
        "m",
        "r",
        true,
        &[],
    );
    assert!(String::from_utf8(body).unwrap().contains("<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"));
    let (h, b) = serialize_error_json(
        "ResourceNotFoundException",
        "nope",
        &Map::from_iter([("Type".to_string(), json!("User"))]),
    );
    assert_eq!(
        h,
        vec![(
            "x-amzn-errortype".to_string(),
            "ResourceNotFoundException".to_string()
        )]
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap(),
        json!({"Type": "User", "message": "nope"})
    );
    assert_eq!(
        error_status(s3(), "NoSuchKey"),
        None.or(error_status(s3(), "NoSuchKey"))
    );
    assert_eq!(
        error_status(model::named("lambda").unwrap(), "ResourceNotFoundException"),
        Some(404)
    );
    assert_eq!(error_status(route53, "NoSuchHostedZone"), Some(404));
}

// ---------------------------------------------------------------------------------------------
// Property tests: random inputs, serialized as botocore does, parse back equal.

fn round_trip(service: &'static str, op: &str, value: &Value) -> Result<(), TestCaseError> {
    let model = model::named(service).unwrap();
    let s = botocore_mirror::serialize(model, op, value);
    let (routed, parsed) =
        parse_http(service, &s.method, &s.uri, &s.headers, &s.body).map_err(|e| {
            TestCaseError::fail(format!(
                "{e}: {} {}",
                s.uri,
                String::from_utf8_lossy(&s.body)
            ))
        })?;
    prop_assert_eq!(routed, op);
    prop_assert_eq!(
        &parsed,
        value,
        "{} {:?} {}",
        s.uri,
        s.headers,
        String::from_utf8_lossy(&s.body)
    );
    Ok(())
}

fn input_strategy(service: &'static str, op: &str) -> BoxedStrategy<Value> {
    let model = model::named(service).unwrap();
    let shape = &model.operations[op].input.as_ref().unwrap().shape;
    arb(model, shape, Ctx::Body, 0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn s3_put_bucket_tagging_round_trips(v in input_strategy("s3", "PutBucketTagging")) {
        round_trip("s3", "PutBucketTagging", &v)?;
    }

    #[test]
    fn s3_put_bucket_lifecycle_round_trips(v in input_strategy("s3", "PutBucketLifecycleConfiguration")) {
        round_trip("s3", "PutBucketLifecycleConfiguration", &v)?;
    }

    #[test]
    fn s3_put_object_round_trips(v in input_strategy("s3", "PutObject")) {
        round_trip("s3", "PutObject", &v)?;
    }

    #[test]
    fn s3_put_bucket_acl_round_trips(v in input_strategy("s3", "PutBucketAcl")) {
        round_trip("s3", "PutBucketAcl", &v)?;
    }

    #[test]
    fn s3_list_objects_v2_round_trips(v in input_strategy("s3", "ListObjectsV2")) {
        round_trip("s3", "ListObjectsV2", &v)?;
    }

    #[test]
    fn lambda_create_function_round_trips(v in input_strategy("lambda", "CreateFunction")) {
        round_trip("lambda", "CreateFunction", &v)?;
    }

    #[test]
    fn lambda_invoke_round_trips(v in input_strategy("lambda", "Invoke")) {
        round_trip("lambda", "Invoke", &v)?;
    }

    #[test]
    fn apigatewayv2_create_api_round_trips(v in input_strategy("apigatewayv2", "CreateApi")) {
        round_trip("apigatewayv2", "CreateApi", &v)?;
    }

    #[test]
    fn route53_change_round_trips(v in input_strategy("route53", "ChangeResourceRecordSets")) {
        round_trip("route53", "ChangeResourceRecordSets", &v)?;
    }

    /// Output bodies: what the writer writes, the reader reads back.
    #[test]
    fn s3_output_documents_round_trip(v in arb(model::s3(), "ListObjectsV2Output", Ctx::Body, 0)) {
        let model = model::s3();
        let shape = model.shape("ListObjectsV2Output").unwrap();
        let body_only: Map<String, Value> = v.as_object().unwrap().iter()
            .filter(|(k, _)| shape.members[*k].location.is_none())
            .map(|(k, v)| (k.clone(), v.clone())).collect();
        let r = serialize_response(model, "ListObjectsV2", &v).unwrap();
        let back = xml::parse_document(model, shape, Some("ListBucketResult"), &r.body).unwrap();
        prop_assert_eq!(back, Value::Object(body_only));
    }

    #[test]
    fn xml_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_http("s3", "PUT", "/b?lifecycle", &[], &body);
        let _ = parse_http("s3", "POST", "/b?delete", &[], &body);
    }

    #[test]
    fn xml_like_bodies_never_panic(body in "(<[A-Za-z]{1,3}( [a-z:]{1,3}=\"[a-z]\")?/?>|</[A-Za-z]{1,3}>|&[a-z#0-9]{1,4};|[a-z ]{0,3}){0,40}") {
        let _ = parse_http("s3", "PUT", "/b?acl", &[], body.as_bytes());
        let _ = parse_http("route53", "POST", "/2013-04-01/hostedzone/Z/rrset", &[], body.as_bytes());
    }

    #[test]
    fn json_bodies_and_headers_never_panic(body in "\\PC{0,200}", h in "[ -~]{0,30}") {
        let _ = parse_http("lambda", "POST", "/2015-03-31/functions", &[], body.as_bytes());
        let headers = vec![
            ("x-amz-client-context".to_string(), h.clone()),
            ("x-amz-invocation-type".to_string(), h.clone()),
        ];
        let _ = parse_http("lambda", "POST", "/2015-03-31/functions/f/invocations", &headers, body.as_bytes());
        let headers = vec![
            ("if-modified-since".to_string(), h.clone()),
            ("x-amz-object-attributes".to_string(), h.clone()),
            ("x-amz-max-parts".to_string(), h),
        ];
        let _ = parse_http("s3", "GET", "/b/k?attributes", &headers, b"");
    }
}

// ---------------------------------------------------------------------------------------------
// Responses for botocore's parsers (tests/codec/check_responses.py runs this and parses them)

#[test]
#[ignore = "run by tests/codec/check_responses.py"]
fn dump_responses_for_botocore() {
    let Ok(path) = std::env::var("REST_CODEC_DUMP") else {
        return;
    };
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "s3",
            "ListObjectsV2",
            json!({
                "IsTruncated": true, "Name": "b", "Prefix": "p/", "MaxKeys": 2, "KeyCount": 2,
                "NextContinuationToken": "tok", "EncodingType": "url",
                "Contents": [
                    {"Key": "p/a&b", "LastModified": 1_795_925_106, "ETag": "\"e1\"", "Size": 3,
                     "StorageClass": "STANDARD", "ChecksumAlgorithm": ["CRC32"],
                     "Owner": {"ID": "o", "DisplayName": "me"}},
                    {"Key": "p/c \r\n\t", "LastModified": 1_795_925_106.789, "ETag": "\"e2\"", "Size": 0}
                ],
                "CommonPrefixes": [{"Prefix": "p/d/"}, {"Prefix": "p/e/"}]
            }),
        ),
        (
            "s3",
            "GetBucketTagging",
            json!({"TagSet": [{"Key": "k", "Value": "v"}, {"Key": "a<", "Value": ""}]}),
        ),
        (
            "s3",
            "GetBucketAcl",
            json!({"Owner": {"ID": "o"}, "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": "o", "DisplayName": "me"}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}
            ]}),
        ),
        (
            "s3",
            "GetObject",
            json!({
                "ContentLength": 5, "LastModified": 1_795_925_106, "ETag": "\"e\"", "ContentType": "text/plain",
                "Metadata": {"color": "blue", "n": "1"}, "DeleteMarker": false, "Expires": "Sun, 29 Nov 2026 04:05:06 GMT",
                "ObjectLockRetainUntilDate": 1_795_925_106, "PartsCount": 3, "TagCount": 2,
                "VersionId": "v1", "AcceptRanges": "bytes"
            }),
        ),
        (
            "lambda",
            "GetFunction",
            json!({
                "Configuration": {"FunctionName": "f", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                    "Runtime": "python3.12", "Timeout": 3, "MemorySize": 128, "CodeSize": 10,
                    "Environment": {"Variables": {"A": "1"}}, "Architectures": ["x86_64"],
                    "LastModified": "2026-11-29T04:05:06.000+0000", "State": "Active"},
                "Code": {"RepositoryType": "S3", "Location": "https://x"},
                "Tags": {"t": "v"},
                "Concurrency": {"ReservedConcurrentExecutions": 5}
            }),
        ),
        (
            "apigatewayv2",
            "GetApi",
            json!({
                "ApiId": "a1", "Name": "api", "ProtocolType": "HTTP", "CreatedDate": 1_795_925_106,
                "Tags": {"k": "v"}, "CorsConfiguration": {"AllowOrigins": ["*"], "MaxAge": 5}
            }),
        ),
        (
            "route53",
            "ChangeResourceRecordSets",
            json!({
                "ChangeInfo": {"Id": "/change/C1", "Status": "PENDING", "SubmittedAt": 1_795_925_106, "Comment": "c"}
            }),
        ),
    ];
    let mut out = Vec::new();
    for (service, op, value) in cases {
        let model = model::named(service).unwrap();
        let r = serialize_response(model, op, &value).unwrap();
        let mut headers = r.headers.clone();
        if let Some(ct) = r.content_type {
            headers.push(("Content-Type".into(), ct.into()));
        }
        out.push(json!({
            "service": service, "operation": op, "expected": value, "status": r.status,
            "headers": headers, "body": base64::engine::general_purpose::STANDARD.encode(&r.body),
        }));
    }
    std::fs::write(path, serde_json::to_vec_pretty(&out).unwrap()).unwrap();
}

#[test]
fn s3_bucket_location_is_a_bare_value() {
    let r = serialize_response(
        s3(),
        "GetBucketLocation",
        &json!({"LocationConstraint": "eu-west-1"}),
    )
    .unwrap();
    assert_eq!(r.content_type, Some("application/xml"));
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">eu-west-1</LocationConstraint>"
    );
    let r = serialize_response(s3(), "GetBucketLocation", &json!({})).unwrap();
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
    );
}

#[test]
fn header_members_come_from_the_fields_and_unknown_fields_are_ignored() {
    let r = serialize_response(
        s3(),
        "PutObject",
        &json!({"ETag": "\"e\"", "VersionId": "v", "NotAMember": 1, "ChecksumCRC32": "AAAAAA=="}),
    )
    .unwrap();
    let h: HashMap<_, _> = r.headers.iter().cloned().collect();
    assert_eq!(h.len(), 3);
    assert_eq!(h["ETag"], "\"e\"");
    assert_eq!(h["x-amz-version-id"], "v");
    assert_eq!(h["x-amz-checksum-crc32"], "AAAAAA==");
    assert!(r.body.is_empty() && r.content_type.is_none());
}

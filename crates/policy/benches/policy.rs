//! The per-request cost of enforcement (criterion): evaluating a request against a user's five
//! identity policies, and verifying a SigV4 header signature.
//! `cargo bench -p snapstack-policy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use snapstack_policy::sigv4::{
    EMPTY_SHA256, SignedRequest, SigningKey, parse_amz_date, signing_key, verify, verify_with_key,
};
use snapstack_policy::{
    Caller, Decision, NamedPolicy, Policy, PolicyKind, PolicySet, Request, evaluate,
    principal_context,
};

const DOC: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:List*"],
   "Resource":["arn:aws:s3:::data/*","arn:aws:s3:::home/${aws:username}/*"]},
  {"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:*:111122223333:table/t*",
   "Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1","eu-west-1"]}}},
  {"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*",
   "Condition":{"Bool":{"aws:SecureTransport":"false"}}},
  {"Effect":"Allow","Action":"sqs:*","Resource":"*",
   "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(DOC, PolicyKind::Managed).unwrap();
    let set = PolicySet {
        identity: vec![
            NamedPolicy {
                id: "p",
                policy: &policy
            };
            5
        ],
        ..PolicySet::default()
    };
    let caller = Caller::aws("arn:aws:iam::111122223333:user/alice");
    let mut request = Request::new(
        caller.clone(),
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:111122223333:table/tasks",
    );
    request.context = principal_context(&caller, "AIDAEXAMPLE", &[]);
    request.context.insert("aws:RequestedRegion", "us-east-1");
    request.context.insert("aws:SecureTransport", "true");
    c.bench_function("evaluate_five_policies", |b| {
        b.iter(|| {
            assert_eq!(
                evaluate(black_box(&request), &set).decision,
                Decision::Allow
            )
        })
    });
    c.bench_function("parse_policy", |b| {
        b.iter(|| Policy::parse(black_box(DOC), PolicyKind::Managed).unwrap())
    });

    let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                SignedHeaders=host;x-amz-date, \
                Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", auth),
    ];
    let signed = SignedRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: (&headers).into(),
        payload_hash: EMPTY_SHA256,
    };
    let now = parse_amz_date("20150830T123600Z").unwrap();
    c.bench_function("sigv4_verify_header", |b| {
        b.iter(|| {
            verify(black_box(&signed), now, |_| {
                Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
            })
            .unwrap()
        })
    });
    // What the server does per request: the signing key derived once per key, day, region
    // and service and cached.
    let key = SigningKey::new(signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20150830",
        "us-east-1",
        "service",
    ));
    c.bench_function("sigv4_verify_header_cached_key", |b| {
        b.iter(|| verify_with_key(black_box(&signed), now, |_, _, _, _| Some(key.clone())).unwrap())
    });
    c.bench_function("parse_amz_date", |b| {
        b.iter(|| parse_amz_date(black_box("20150830T123600Z")).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

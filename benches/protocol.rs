//! The cost of the model-driven wire pieces per request (criterion): validating a small JSON
//! input against its model (parse to a value + walk), beside the typed parse a handler does
//! anyway, and matching an S3 request to its operation.

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use snapstack::protocol::codec::{json, query};
use snapstack::protocol::model;
use snapstack::protocol::rest::{RestRequest, RestRouter};
use snapstack::protocol::validate;

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutParameter {
    name: String,
    value: String,
    #[serde(rename = "Type")]
    kind: Option<String>,
    overwrite: Option<bool>,
}

fn bench(c: &mut Criterion) {
    let ssm = model::named("ssm").unwrap();
    let body = br#"{"Name":"/bench/param-000042","Value":"some value of a parameter","Type":"String","Overwrite":true}"#;
    c.bench_function("ssm_put_parameter_typed_parse", |b| {
        b.iter(|| serde_json::from_slice::<PutParameter>(std::hint::black_box(body)).unwrap())
    });
    c.bench_function("ssm_put_parameter_model_validation", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(std::hint::black_box(body)).unwrap();
            validate::violations(ssm, "PutParameter", &v)
        })
    });
    // The whole JSON codec path of a small operation: parse + validate the input, serialize
    // the output (issue 16: at most 5 µs).
    let out = serde_json::json!({"Version": 3, "Tier": "Standard"});
    c.bench_function("ssm_put_parameter_codec_parse_validate_serialize", |b| {
        b.iter(|| {
            let v = json::parse_input(ssm, "PutParameter", std::hint::black_box(body)).unwrap();
            let bad = validate::violations(ssm, "PutParameter", &v);
            (
                bad.len(),
                json::serialize_output(ssm, "PutParameter", &out).len(),
            )
        })
    });
    let ddb = model::named("dynamodb").unwrap();
    let get = br#"{"TableName":"bench","Key":{"pk":{"S":"k42"}}}"#;
    let item =
        serde_json::json!({"Item": {"pk": {"S": "k42"}, "v": {"S": "value-42-xxxxxxxxxxxxxxxx"}}});
    c.bench_function("dynamodb_get_item_codec_parse_validate_serialize", |b| {
        b.iter(|| {
            let v = json::parse_input(ddb, "GetItem", std::hint::black_box(get)).unwrap();
            let bad = validate::violations_to_depth(ddb, "GetItem", &v, 1);
            (
                bad.len(),
                json::serialize_output(ddb, "GetItem", &item).len(),
            )
        })
    });
    let sts = model::named("sts").unwrap();
    let params = vec![
        (
            "RoleArn".to_string(),
            "arn:aws:iam::000000000000:role/r".to_string(),
        ),
        ("RoleSessionName".to_string(), "s".to_string()),
        ("DurationSeconds".to_string(), "900".to_string()),
    ];
    let creds = serde_json::json!({"Credentials": {"AccessKeyId": "ASIAXXXXXXXXXXXXXXXX", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": 1_795_925_106}, "AssumedRoleUser": {"AssumedRoleId": "AROAXXXX:s", "Arn": "arn:aws:sts::000000000000:assumed-role/r/s"}});
    c.bench_function("sts_assume_role_query_codec_parse_serialize", |b| {
        b.iter(|| {
            let v = query::parse_input(sts, "AssumeRole", std::hint::black_box(&params)).unwrap();
            (
                v.as_object().map(|o| o.len()),
                query::serialize_output(sts, "AssumeRole", &creds, "rid").len(),
            )
        })
    });
    let router = RestRouter::from_model(model::s3());
    let query: Vec<(String, String)> = vec![("x-id".into(), "PutObject".into())];
    let none = |_: &str| false;
    c.bench_function("s3_route_put_object", |b| {
        b.iter(|| {
            router
                .route(&RestRequest {
                    method: "PUT",
                    path: std::hint::black_box("/bucket/some/key.txt"),
                    query: &query,
                    has_header: &none,
                })
                .unwrap()
                .operation
                .len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

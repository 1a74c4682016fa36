//! The cost of the model-driven wire pieces per request (criterion): validating a small JSON
//! input against its model (parse to a value + walk), beside the typed parse a handler does
//! anyway, and matching an S3 request to its operation.

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
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

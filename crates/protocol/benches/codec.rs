//! The cost of writing an output by the model (`codec::json::serialize_output`) beside what the
//! hand-written services did before (`Value::to_string`), for the outputs of the hottest
//! operations: DynamoDB GetItem (an item of about 1 KiB), SSM GetParameter and SQS SendMessage.
//!
//! `cargo bench -p snapstack-protocol --bench codec -- --noplot`

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use snapstack_protocol::codec::json;
use snapstack_protocol::model;

/// A GetItem output: an item of 12 attributes (strings, numbers, a bool, a list, a map, a
/// string set), about 1 KiB on the wire, with its consumed capacity.
fn get_item_output() -> Value {
    json!({
        "Item": {
            "pk": {"S": "customer#000042"},
            "sk": {"S": "order#2024-05-01T12:00:00Z#000017"},
            "status": {"S": "SHIPPED"},
            "total": {"N": "1234.56"},
            "quantity": {"N": "3"},
            "gift": {"BOOL": false},
            "note": {"S": "Leave the parcel at the door; the bell does not work. Thanks! ".repeat(4)},
            "tags": {"SS": ["priority", "fragile", "express"]},
            "lines": {"L": [
                {"M": {"sku": {"S": "SKU-0001"}, "qty": {"N": "1"}, "price": {"N": "400.00"}}},
                {"M": {"sku": {"S": "SKU-0002"}, "qty": {"N": "2"}, "price": {"N": "417.28"}}}
            ]},
            "address": {"M": {
                "street": {"S": "1 Example Road"},
                "city": {"S": "Springfield"},
                "zip": {"S": "12345"},
                "country": {"S": "US"}
            }},
            "created": {"N": "1714564800"},
            "version": {"N": "7"}
        },
        "ConsumedCapacity": {"TableName": "orders", "CapacityUnits": 0.5}
    })
}

fn bench(c: &mut Criterion) {
    let ddb = model::named("dynamodb").unwrap();
    let item = get_item_output();
    let size = json::serialize_output(ddb, "GetItem", &item).len();
    assert_eq!(
        size,
        item.to_string().len(),
        "the codec writes what to_string did"
    );
    println!("GetItem output: {size} bytes");
    c.bench_function("dynamodb_get_item_output_serialize_output", |b| {
        b.iter(|| json::serialize_output(ddb, "GetItem", std::hint::black_box(&item)).len())
    });
    c.bench_function("dynamodb_get_item_output_to_string_before", |b| {
        b.iter(|| std::hint::black_box(&item).to_string().len())
    });

    let ssm = model::named("ssm").unwrap();
    let param = json!({"Parameter": {
        "Name": "/bench/param-000042", "Type": "String", "Value": "some value of a parameter",
        "Version": 3, "LastModifiedDate": 1_714_564_800.123,
        "ARN": "arn:aws:ssm:us-east-1:000000000000:parameter/bench/param-000042",
        "DataType": "text"
    }});
    c.bench_function("ssm_get_parameter_output_serialize_output", |b| {
        b.iter(|| json::serialize_output(ssm, "GetParameter", std::hint::black_box(&param)).len())
    });
    c.bench_function("ssm_get_parameter_output_to_string_before", |b| {
        b.iter(|| std::hint::black_box(&param).to_string().len())
    });

    let sqs = model::named("sqs").unwrap();
    let sent = json!({
        "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
        "MD5OfMessageBody": "fafb00f5732ab283681e124bf8747ed1"
    });
    c.bench_function("sqs_send_message_output_serialize_output", |b| {
        b.iter(|| json::serialize_output(sqs, "SendMessage", std::hint::black_box(&sent)).len())
    });
    c.bench_function("sqs_send_message_output_to_string_before", |b| {
        b.iter(|| std::hint::black_box(&sent).to_string().len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

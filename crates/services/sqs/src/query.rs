//! The query wire (older SDKs and tools): form-encoded parameters in, XML out, in the
//! `http://queue.amazonaws.com/doc/2012-11-05/` namespace, through the model-driven query codec
//! (`snapstack_protocol::codec::query`) with SQS's legacy query names (`sqs_query_model`).
//!
//! Parameters are read into the JSON shape of the request, so both protocols share one
//! implementation: `Attribute.1.Name=X&Attribute.1.Value=Y` becomes `"Attributes": {"X": "Y"}`,
//! `SendMessageBatchRequestEntry.2.Id` becomes `"Entries": [_, {"Id": ..}]`, and so on; the
//! answer's JSON shape is written as the query XML AWS sends (`<QueueUrl>`, `<Message>`,
//! `<Attribute><Name/><Value/></Attribute>`).

use serde_json::{Map, Value};
use snapstack_protocol::codec::query::{self as codec, sqs_query_model};
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use super::SqsError;

pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Parameters that are not part of the operation's input.
fn is_envelope(name: &str) -> bool {
    matches!(
        name,
        "Action"
            | "Version"
            | "AWSAccessKeyId"
            | "Signature"
            | "SignatureMethod"
            | "SignatureVersion"
            | "Timestamp"
            | "Expires"
            | "SecurityToken"
    ) || name.starts_with("X-Amz-")
}

/// Decode the query parameters of `op` into the JSON shape of its input. A request POSTed to a
/// queue's URL names its queue by the path. An operation SQS does not have reads as no input
/// (the handler answers it).
pub fn decode(op: &str, params: &[(String, String)], path: &str) -> Result<Value, SqsError> {
    let model = sqs_query_model();
    let input: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !is_envelope(k))
        .cloned()
        .collect();
    let mut out = if model.operations.contains_key(op) {
        match codec::parse_input(model, op, &input) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => return Err(SqsError::invalid_parameter(e.message)),
        }
    } else {
        Map::new()
    };
    if !out.contains_key("QueueUrl") && path.trim_matches('/').contains('/') {
        out.insert("QueueUrl".into(), Value::String(path.to_string()));
    }
    Ok(Value::Object(out))
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// The XML body of a result.
pub fn encode(op: &str, body: &Value, request_id: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>");
    out.push_str(&codec::serialize_output(
        sqs_query_model(),
        op,
        body,
        request_id,
    ));
    out
}

pub fn response(op: &str, body: &Value, request_id: &str) -> Response {
    xml_response(StatusCode::OK, encode(op, body, request_id), request_id)
}

pub fn error(e: &SqsError, request_id: &str) -> Response {
    let mut body = String::from("<?xml version=\"1.0\"?>");
    body.push_str(&codec::serialize_error(
        sqs_query_model(),
        e.code,
        &e.message,
        e.sender_fault(),
        request_id,
    ));
    xml_response(e.status, body, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn legacy_names_become_the_json_shape() {
        let v = decode(
            "SendMessageBatch",
            &p(&[
                ("Action", "SendMessageBatch"),
                ("QueueUrl", "http://h/000000000000/q"),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
                    "k",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                    "String",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                    "v",
                ),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "3"),
            ]),
            "/",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "QueueUrl": "http://h/000000000000/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": 3,
                     "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                    {"Id": "b", "MessageBody": "two"}
                ]
            })
        );
    }

    #[test]
    fn queue_path_and_tags() {
        let v = decode(
            "CreateQueue",
            &p(&[
                ("QueueName", "q"),
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "1"),
                ("Tag.1.Key", "t"),
                ("Tag.1.Value", "u"),
            ]),
            "/000000000000/q",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "QueueName": "q",
                "Attributes": {"DelaySeconds": "1"},
                "tags": {"t": "u"},
                "QueueUrl": "/000000000000/q"
            })
        );
        let v = decode(
            "GetQueueAttributes",
            &p(&[("AttributeName.1", "All")]),
            "/000000000000/q",
        )
        .unwrap();
        assert_eq!(v["AttributeNames"], json!(["All"]));
    }

    #[test]
    fn bad_indexes_are_errors() {
        let op = "GetQueueAttributes";
        assert!(decode(op, &p(&[("AttributeName.x", "All")]), "/").is_err());
        assert!(decode(op, &p(&[("AttributeName.0", "All")]), "/").is_err());
        assert!(decode("ReceiveMessage", &p(&[("MaxNumberOfMessages", "x")]), "/").is_err());
    }

    #[test]
    fn results_as_xml() {
        let body = json!({
            "Messages": [{
                "MessageId": "m", "Body": "<b>",
                "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}}
            }]
        });
        let x = encode("ReceiveMessage", &body, "rid");
        assert!(x.contains("<ReceiveMessageResult><Message>"), "{x}");
        assert!(x.contains("<Body>&lt;b&gt;</Body>"), "{x}");
        assert!(
            x.contains("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"),
            "{x}"
        );
        assert!(x.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"), "{x}");
        let x = encode(
            "DeleteMessageBatch",
            &json!({"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": true}]}),
            "r",
        );
        assert!(
            x.contains("<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"),
            "{x}"
        );
        assert!(x.contains("<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault></BatchResultErrorEntry>"), "{x}");
        let x = encode("DeleteQueue", &json!({}), "r");
        assert!(!x.contains("Result>"), "{x}");
    }

    proptest! {
        #[test]
        fn legacy_maps_and_lists_roundtrip(
            attrs in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,12}", ".{0,20}", 0..12),
            names in proptest::collection::vec("[A-Za-z.*]{1,12}", 1..12),
        ) {
            let mut params = Vec::new();
            for (i, (k, v)) in attrs.iter().enumerate() {
                params.push((format!("Attribute.{}.Name", i + 1), k.clone()));
                params.push((format!("Attribute.{}.Value", i + 1), v.clone()));
            }
            let v = decode("SetQueueAttributes", &params, "/").unwrap();
            let want_attrs: Map<String, Value> =
                attrs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            if attrs.is_empty() {
                prop_assert!(v.get("Attributes").is_none());
            } else {
                prop_assert_eq!(&v["Attributes"], &Value::Object(want_attrs));
            }
            // Indexes need not arrive in order.
            let mut params = Vec::new();
            for (i, n) in names.iter().enumerate().rev() {
                params.push((format!("MessageAttributeName.{}", i + 1), n.clone()));
            }
            let v = decode("ReceiveMessage", &params, "/").unwrap();
            prop_assert_eq!(&v["MessageAttributeNames"], &json!(names));
        }

        #[test]
        fn decode_never_panics(pairs in proptest::collection::vec(("[A-Za-z.0-9]{0,20}", ".{0,8}"), 0..20)) {
            let _ = decode("SendMessageBatch", &pairs, "/a/b");
        }
    }
}

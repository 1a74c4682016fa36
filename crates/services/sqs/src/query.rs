//! The query wire codec (older SDKs and tools): form-encoded parameters in, XML out, in the
//! `http://queue.amazonaws.com/doc/2012-11-05/` namespace.
//!
//! Parameters are decoded into the JSON shape of the request, so both protocols share one
//! implementation: `Attribute.1.Name=X&Attribute.1.Value=Y` becomes `"Attributes": {"X": "Y"}`,
//! `SendMessageBatchRequestEntry.2.Id` becomes `"Entries": [_, {"Id": ..}]`, and so on. The
//! member names of the JSON model (`Attributes.1.key`, `Entries.1.Id`) are accepted too.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use snapstack_protocol::http::{HeaderValue, StatusCode, header};
use snapstack_protocol::response::{IntoResponse, Response};

use super::SqsError;
use snapstack_protocol::errors::xml_escape;

pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
const MAX_PARTS: usize = 8;
const MAX_INDEX: usize = 1000;
const MAX_PARAMS: usize = 10_000;

/// Operations whose response has no result element.
const NO_RESULT: &[&str] = &[
    "AddPermission",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "DeleteQueue",
    "PurgeQueue",
    "RemovePermission",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
];

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

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

fn insert(root: &mut BTreeMap<String, Node>, path: &[&str], value: &str) -> Result<(), SqsError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        root.insert((*first).to_string(), Node::Leaf(value.to_string()));
        return Ok(());
    }
    let node = root
        .entry((*first).to_string())
        .or_insert_with(|| Node::Branch(BTreeMap::new()));
    match node {
        Node::Branch(children) => insert(children, rest, value),
        Node::Leaf(_) => Err(SqsError::invalid_parameter(format!(
            "Parameter {first} is given both as a value and as a structure."
        ))),
    }
}

/// The items of a list node (`1`, `2`, ... in numeric order); a plain value is a list of one.
fn items(node: &Node) -> Result<Vec<&Node>, SqsError> {
    match node {
        // An empty list is sent as `Name=` with no value.
        Node::Leaf(s) if s.is_empty() => Ok(Vec::new()),
        Node::Leaf(_) => Ok(vec![node]),
        Node::Branch(children) => {
            let mut out: Vec<(usize, &Node)> = Vec::with_capacity(children.len());
            for (k, v) in children {
                let i: usize = k
                    .parse()
                    .map_err(|_| SqsError::invalid_parameter(format!("Invalid list index {k}.")))?;
                if i == 0 || i > MAX_INDEX {
                    return Err(SqsError::invalid_parameter(format!(
                        "Invalid list index {k}."
                    )));
                }
                out.push((i, v));
            }
            out.sort_by_key(|(i, _)| *i);
            Ok(out.into_iter().map(|(_, v)| v).collect())
        }
    }
}

fn leaf(node: &Node) -> Result<String, SqsError> {
    match node {
        Node::Leaf(s) => Ok(s.clone()),
        Node::Branch(_) => Err(SqsError::invalid_parameter("A value was expected.")),
    }
}

fn child<'a>(node: &'a Node, names: &[&str]) -> Option<&'a Node> {
    match node {
        Node::Branch(c) => names.iter().find_map(|n| c.get(*n)),
        Node::Leaf(_) => None,
    }
}

/// A map given as entries with a key and a value: `X.n.Name` / `X.n.Value` (or `key`/`value`).
fn map(
    node: &Node,
    key_names: &[&str],
    value: impl Fn(&Node) -> Result<Value, SqsError>,
) -> Result<Value, SqsError> {
    let mut out = Map::new();
    for item in items(node)? {
        let k = child(item, key_names)
            .ok_or_else(|| SqsError::invalid_parameter("A map entry has no key."))?;
        let v = child(item, &["Value", "value"])
            .ok_or_else(|| SqsError::invalid_parameter("A map entry has no value."))?;
        out.insert(leaf(k)?, value(v)?);
    }
    Ok(Value::Object(out))
}

fn string_list(node: &Node) -> Result<Value, SqsError> {
    Ok(Value::Array(
        items(node)?
            .into_iter()
            .map(|n| leaf(n).map(Value::String))
            .collect::<Result<_, _>>()?,
    ))
}

/// Convert one named parameter (and its sub-parameters) to the JSON shape.
fn convert(name: &str, node: &Node) -> Result<(String, Value), SqsError> {
    let text = |n: &Node| leaf(n).map(Value::String);
    Ok(match name {
        "Attribute" | "Attributes" => ("Attributes".into(), map(node, &["Name", "key"], text)?),
        "Tag" | "Tags" | "tags" => ("Tags".into(), map(node, &["Key", "key"], text)?),
        "MessageAttribute" | "MessageAttributes" => (
            "MessageAttributes".into(),
            map(node, &["Name", "key"], structure)?,
        ),
        "MessageSystemAttribute" | "MessageSystemAttributes" => (
            "MessageSystemAttributes".into(),
            map(node, &["Name", "key"], structure)?,
        ),
        "AttributeName" | "AttributeNames" => ("AttributeNames".into(), string_list(node)?),
        "MessageAttributeName" | "MessageAttributeNames" => {
            ("MessageAttributeNames".into(), string_list(node)?)
        }
        "MessageSystemAttributeName" | "MessageSystemAttributeNames" => {
            ("MessageSystemAttributeNames".into(), string_list(node)?)
        }
        "TagKey" | "TagKeys" => ("TagKeys".into(), string_list(node)?),
        "AWSAccountId" | "AWSAccountIds" => ("AWSAccountIds".into(), string_list(node)?),
        "ActionName" | "Actions" => ("Actions".into(), string_list(node)?),
        "StringListValue" | "StringListValues" => ("StringListValues".into(), string_list(node)?),
        "BinaryListValue" | "BinaryListValues" => ("BinaryListValues".into(), string_list(node)?),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry"
        | "Entries" => (
            "Entries".into(),
            Value::Array(
                items(node)?
                    .into_iter()
                    .map(structure)
                    .collect::<Result<_, _>>()?,
            ),
        ),
        _ => (name.to_string(), structure(node)?),
    })
}

fn structure(node: &Node) -> Result<Value, SqsError> {
    match node {
        Node::Leaf(s) => Ok(Value::String(s.clone())),
        Node::Branch(children) => {
            let mut out = Map::new();
            for (k, v) in children {
                let (k, v) = convert(k, v)?;
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
    }
}

/// Decode query parameters into the JSON shape of the input. A request POSTed to a queue's URL
/// names its queue by the path.
pub fn decode(params: &[(String, String)], path: &str) -> Result<Value, SqsError> {
    if params.len() > MAX_PARAMS {
        return Err(SqsError::invalid_parameter("Too many parameters."));
    }
    let mut root = BTreeMap::new();
    for (k, v) in params {
        if is_envelope(k) {
            continue;
        }
        let parts: Vec<&str> = k.split('.').collect();
        if parts.len() > MAX_PARTS || parts.iter().any(|p| p.is_empty()) {
            return Err(SqsError::invalid_parameter(format!(
                "Invalid parameter name {k}."
            )));
        }
        insert(&mut root, &parts, v)?;
    }
    let Value::Object(mut out) = structure(&Node::Branch(root))? else {
        return Ok(Value::Object(Map::new()));
    };
    if !out.contains_key("QueueUrl") && path.trim_matches('/').contains('/') {
        out.insert("QueueUrl".into(), Value::String(path.to_string()));
    }
    Ok(Value::Object(out))
}

/// The element name of the items of a list in a result.
fn item_name(op: &str, key: &str) -> String {
    match key {
        "Messages" => "Message".into(),
        "QueueUrls" | "queueUrls" => "QueueUrl".into(),
        "Successful" => format!("{op}ResultEntry"),
        "Failed" => "BatchResultErrorEntry".into(),
        "Results" => "ListMessageMoveTasksResultEntry".into(),
        "StringListValues" => "StringListValue".into(),
        "BinaryListValues" => "BinaryListValue".into(),
        other => other.into(),
    }
}

/// The element, key and value names of a map in a result.
fn map_names(key: &str) -> Option<(&'static str, &'static str)> {
    match key {
        "Attributes" => Some(("Attribute", "Name")),
        "MessageAttributes" => Some(("MessageAttribute", "Name")),
        "Tags" => Some(("Tag", "Key")),
        _ => None,
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn write_value(op: &str, name: &str, v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            let item = item_name(op, name);
            for i in items {
                write_value(op, &item, i, out);
            }
        }
        Value::Object(m) => {
            if let Some((elem, key_name)) = map_names(name) {
                for (k, val) in m {
                    out.push_str(&format!(
                        "<{elem}><{key_name}>{}</{key_name}>",
                        xml_escape(k)
                    ));
                    write_value(op, "Value", val, out);
                    out.push_str(&format!("</{elem}>"));
                }
                return;
            }
            out.push_str(&format!("<{name}>"));
            write_fields(op, m, out);
            out.push_str(&format!("</{name}>"));
        }
        scalar_value => {
            out.push_str(&format!(
                "<{name}>{}</{name}>",
                xml_escape(&scalar(scalar_value))
            ));
        }
    }
}

fn write_fields(op: &str, m: &Map<String, Value>, out: &mut String) {
    for (k, v) in m {
        write_value(op, k, v, out);
    }
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
    let mut out = format!("<?xml version=\"1.0\"?><{op}Response xmlns=\"{NAMESPACE}\">");
    if !NO_RESULT.contains(&op) {
        out.push_str(&format!("<{op}Result>"));
        if let Value::Object(m) = body {
            write_fields(op, m, &mut out);
        }
        out.push_str(&format!("</{op}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
        xml_escape(request_id)
    ));
    out
}

pub fn response(op: &str, body: &Value, request_id: &str) -> Response {
    xml_response(StatusCode::OK, encode(op, body, request_id), request_id)
}

pub fn error(e: &SqsError, request_id: &str) -> Response {
    let fault = if e.sender_fault() {
        "Sender"
    } else {
        "Receiver"
    };
    let body = format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
        xml_escape(e.code),
        xml_escape(&e.message),
        xml_escape(request_id)
    );
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
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": "3",
                     "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                    {"Id": "b", "MessageBody": "two"}
                ]
            })
        );
    }

    #[test]
    fn json_member_names_and_queue_path() {
        let v = decode(
            &p(&[
                ("Attributes.1.key", "DelaySeconds"),
                ("Attributes.1.value", "1"),
                ("AttributeName.1", "All"),
                ("Tag.1.Key", "t"),
                ("Tag.1.Value", "u"),
            ]),
            "/000000000000/q",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "Attributes": {"DelaySeconds": "1"},
                "AttributeNames": ["All"],
                "Tags": {"t": "u"},
                "QueueUrl": "/000000000000/q"
            })
        );
    }

    #[test]
    fn bad_indexes_and_shapes_are_errors() {
        assert!(decode(&p(&[("AttributeName.x", "All")]), "/").is_err());
        assert!(decode(&p(&[("AttributeName.0", "All")]), "/").is_err());
        assert!(decode(&p(&[("A", "1"), ("A.B", "2")]), "/").is_err());
        assert!(decode(&p(&[("A..B", "1")]), "/").is_err());
        assert!(decode(&p(&[("Attribute.1.Value", "1")]), "/").is_err());
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
            // Indexes need not arrive in order.
            for (i, n) in names.iter().enumerate().rev() {
                params.push((format!("MessageAttributeName.{}", i + 1), n.clone()));
            }
            let v = decode(&params, "/").unwrap();
            let want_attrs: Map<String, Value> =
                attrs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            if attrs.is_empty() {
                prop_assert!(v.get("Attributes").is_none());
            } else {
                prop_assert_eq!(&v["Attributes"], &Value::Object(want_attrs));
            }
            prop_assert_eq!(&v["MessageAttributeNames"], &json!(names));
        }

        #[test]
        fn decode_never_panics(pairs in proptest::collection::vec(("[A-Za-z.0-9]{0,20}", ".{0,8}"), 0..20)) {
            let _ = decode(&pairs, "/a/b");
        }
    }
}

//! Entry points for the fuzz targets (`fuzz/`) and the hostile-input tests: each feeds arbitrary
//! bytes to one decoder or parser the way the engine or the server would, and must return (an
//! error is fine) without panicking, hanging or allocating without bound. Not a stable API.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};

use crate::aws_request::{RequestContext, parse_authorization, parse_credential, parse_form};
use crate::services::{dynamodb, ssm, sts};
use crate::state_api::route_state;

pub use snapstack_engine::fuzzing::*;

const SSM_OPS: &[&str] = &[
    "PutParameter",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "DeleteParameter",
    "DeleteParameters",
    "DescribeParameters",
    "GetParameterHistory",
    "LabelParameterVersion",
    "UnlabelParameterVersion",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ListTagsForResource",
];

/// SSM JSON 1.1 request bodies: `data[0]` picks the operation, the rest is the body. Each body
/// is sent twice, so that a put is followed by reads and updates of what it created.
pub fn ssm_request(data: &[u8]) {
    let Some((&op, body)) = data.split_first() else {
        return;
    };
    let service = ssm::Ssm::new();
    let ctx = RequestContext::from_scope(None);
    let op = SSM_OPS[usize::from(op) % SSM_OPS.len()];
    let _ = service.handle(&ctx, op, body);
    let _ = service.handle(&ctx, op, body);
    for read in ["GetParametersByPath", "DescribeParameters", "GetParameters"] {
        let _ = service.handle(&ctx, read, body);
    }
}

/// S3 requests, end to end through routing, parsing and the handlers, against an in-memory
/// engine: `data[0]` picks the method; then, one a line, the request target (path and query),
/// the `Host` header, more `name: value` headers; after an empty line, the body. Each request is
/// sent twice (after a bucket and an object exist), so writes meet existing state.
pub fn s3_request(data: &[u8]) {
    use axum::body::Body;
    use axum::http::{Method, Request};

    use crate::services::s3;

    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::HEAD,
    ][usize::from(m) % 5]
        .clone();
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], rest[i + 2..].to_vec()),
        None => (rest, Vec::new()),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let target = String::from_utf8_lossy(lines.next().unwrap_or(b"/")).into_owned();
    let host = lines.next().unwrap_or(b"localhost").to_vec();
    let request = |method: Method, target: &str, body: Vec<u8>| {
        let mut builder = Request::builder().method(method).uri(target);
        if let Ok(h) = HeaderValue::from_bytes(&host) {
            builder = builder.header("host", h);
        }
        for line in head.split(|&b| b == b'\n').skip(2) {
            let text = String::from_utf8_lossy(line);
            if let Some((name, value)) = text.split_once(':')
                && let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(name.trim().as_bytes()),
                    HeaderValue::from_str(value.trim()),
                )
            {
                builder = builder.header(n, v);
            }
        }
        builder.body(Body::from(body)).ok()
    };
    let Some(first) = request(method.clone(), &target, body.clone()) else {
        return;
    };
    let engine = Arc::new(
        snapstack_engine::Engine::with_backend(
            Arc::new(snapstack_engine::backend::MemoryBackend::new()),
            snapstack_engine::EngineOptions::default(),
        )
        .expect("an in-memory engine"),
    );
    let service = s3::S3::new(engine);
    let ctx = RequestContext::from_scope(None);
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let send = |req: Request<Body>| {
                let (parts, body) = req.into_parts();
                let service = &service;
                let ctx = &ctx;
                async move { service.handle(ctx, &parts, body).await }
            };
            let _ = send(first).await;
            for (m, t) in [
                (Method::PUT, "/fuzz-bucket"),
                (Method::PUT, "/fuzz-bucket/key"),
            ] {
                if let Some(r) = request(m, t, b"seed".to_vec()) {
                    let _ = send(r).await;
                }
            }
            if let Some(again) = request(method, &target, body) {
                let _ = send(again).await;
            }
        })
    });
}

/// DynamoDB requests with legacy parameters, built from the bytes so that any input is a
/// well-formed request of the shape that once overflowed the stack: `data[0]` picks the
/// operation (PutItem/UpdateItem/DeleteItem with `Expected`, Scan with `ScanFilter`, Query with
/// `QueryFilter`), `data[1]` the `ConditionalOperator`, `data[2..4]` how many times the entries
/// repeat (with bit 6 of `data[3]` up to 16,383 times, with fresh attribute names, for at most
/// about 12,000 entries; else up to 15 times), and each 3 bytes after that one entry: its
/// attribute, its comparison operator (or `Exists`) and its values (type, count and L/M nesting
/// up to 40 levels). With `data[0] & 0x80` the rest is sent as the raw JSON body instead.
pub fn dynamodb_legacy(data: &[u8]) {
    use serde_json::{Value, json};
    let [op, conditional, r0, r1, rest @ ..] = data else {
        return;
    };
    let service = dynamodb::DynamoDb::new();
    let ctx = RequestContext::from_scope(None);
    let table = json!({"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]});
    let _ = service.handle(&ctx, "CreateTable", table.to_string().as_bytes());
    for (sk, extra) in [(1, json!({"S": "abc"})), (2, json!({"L": [{"N": "1"}]}))] {
        let item = json!({"TableName": "tbl", "Item": {"pk": {"S": "p"}, "sk": {"N": sk.to_string()}, "a": extra, "n": {"N": "5"}}});
        let _ = service.handle(&ctx, "PutItem", item.to_string().as_bytes());
    }
    const OPS: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "Scan", "Query"];
    let name = OPS[usize::from(op & 0x7f) % OPS.len()];
    if op & 0x80 != 0 {
        let _ = service.handle(&ctx, name, rest);
        let _ = service.handle(&ctx, "Scan", br#"{"TableName":"tbl"}"#);
        return;
    }
    // Every operator the legacy translation knows, plus one it does not.
    let cmp = |c: usize| {
        let ops = crate::services::dynamodb::expr::LEGACY_OPERATORS;
        ops.get(c % (ops.len() + 1)).copied().unwrap_or("XX")
    };
    let value = |kind: u8, depth: u8| {
        let mut v = match kind % 5 {
            0 => json!({"S": format!("s{}", kind / 5)}),
            1 => json!({"N": (kind / 5).to_string()}),
            2 => json!({"B": "AQI="}),
            3 => json!({"SS": ["a", "b"]}),
            _ => json!({"BOOL": true}),
        };
        for i in 0..usize::from(depth % 41) {
            v = if i % 2 == 0 {
                json!({"L": [v]})
            } else {
                json!({"M": {"k": v}})
            };
        }
        v
    };
    let entries: Vec<&[u8]> = rest.chunks_exact(3).take(64).collect();
    // Most inputs stay small (fast to run); with bit 6 of `data[3]` set, a long map.
    let repeat = if r1 & 0x40 != 0 {
        usize::from(*r0) | usize::from(*r1 & 0x3f) << 8
    } else {
        usize::from(*r0 & 0x0f)
    }
    .max(1);
    let mut map = serde_json::Map::new();
    for round in 0..repeat {
        if map.len() >= 12_000 {
            break;
        }
        for (i, e) in entries.iter().enumerate() {
            let attr = match e[0] % 4 {
                0 => "a".to_string(),
                1 => "n".to_string(),
                2 => "pk".to_string(),
                _ => format!("x{round}_{i}"),
            };
            // Deep values in the first round only: repeats make the map long, not the body huge.
            let (count, depth) = (e[2] % 4, if round == 0 { e[2] / 4 } else { 0 });
            let values: Vec<Value> = (0..count).map(|j| value(e[1] / 16 + j, depth)).collect();
            let cond = match usize::from(e[1] % 16) {
                14 => json!({"Exists": depth % 2 == 0, "Value": values.first()}),
                15 => json!({"Value": values.first()}),
                c => {
                    json!({"ComparisonOperator": cmp(c), "AttributeValueList": values})
                }
            };
            map.insert(attr, cond);
        }
    }
    let conditional = match conditional % 4 {
        0 => Value::Null,
        1 => json!("AND"),
        2 => json!("OR"),
        _ => json!("XOR"),
    };
    let key = json!({"pk": {"S": "p"}, "sk": {"N": "1"}});
    let body = match name {
        "PutItem" => {
            json!({"TableName": "tbl", "Item": {"pk": {"S": "p"}, "sk": {"N": "1"}, "v": {"S": "new"}}, "Expected": map, "ConditionalOperator": conditional})
        }
        "UpdateItem" => {
            json!({"TableName": "tbl", "Key": key, "Expected": map, "ConditionalOperator": conditional,
            "AttributeUpdates": {"v": {"Action": "PUT", "Value": {"S": "upd"}}}})
        }
        "DeleteItem" => {
            json!({"TableName": "tbl", "Key": key, "Expected": map, "ConditionalOperator": conditional})
        }
        "Scan" => {
            json!({"TableName": "tbl", "ScanFilter": map, "ConditionalOperator": conditional})
        }
        _ => json!({"TableName": "tbl", "QueryFilter": map, "ConditionalOperator": conditional,
            "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}}),
    };
    let _ = service.handle(&ctx, name, body.to_string().as_bytes());
    let _ = service.handle(&ctx, "Scan", br#"{"TableName":"tbl"}"#);
}

/// The query protocol and request context: a query string (also as a form body for STS), an
/// `Authorization` header, a credential, and a state-endpoint path.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(data).unwrap_or_default();
    let _ = parse_form(data);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert("authorization", v);
    }
    let ctx = RequestContext::from_request(&headers, Some(&text));
    let _ = parse_authorization(&text);
    let _ = parse_credential(&text);
    let _ = route_state(&text);
    if let Some((_, action)) = params.iter().find(|(k, _)| k == "Action") {
        let model = snapstack_protocol::model::named("sts").expect("the STS model is embedded");
        if let Ok(input) = snapstack_protocol::codec::query::parse_input(model, action, &params) {
            let _ = sts::Sts::new().handle(&ctx, action, &input);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use snapstack_engine::ChunkId;
    use snapstack_engine::backend::Backend;
    use snapstack_engine::chunk_store::{ChunkStore, PackStore};

    #[test]
    fn s3_requests_of_every_shape_are_answered() {
        for input in [
            &b"\x01/b/k?acl\nlocalhost\n\nbody"[..],
            b"\x03/b?lifecycle\nlocalhost",
            b"\x00/b/%FF%FE\nb.localhost",
            b"\x01/fuzz-bucket/key?uploadId=x\nlocalhost\nx-amz-copy-source: /fuzz-bucket/key",
            b"\x02/fuzz-bucket?delete\nlocalhost\n\n<Delete><Object><Key> key</Key></Object></Delete>",
            // Found by the fuzzer: an object upload on a current-thread runtime (block_in_place
            // panicked there).
            b"~/fuzz-bucket?list-#ype=2&encoding-type=url&prefix=k\nlocalhost",
            b"",
        ] {
            s3_request(input);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn s3_request_never_panics(
            m in any::<u8>(),
            path in "/[a-z%0-9./?=&-]{0,40}",
            host in prop::sample::select(vec!["localhost", "fuzz-bucket.localhost", "x.s3.y"]),
            headers in "(x-amz-copy-source: /fuzz-bucket/key\n|range: bytes=0-1\n|content-md5: x\n){0,2}",
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut data = vec![m];
            data.extend_from_slice(format!("{path}\n{host}\n{headers}\n").as_bytes());
            data.extend_from_slice(&body);
            s3_request(&data);
        }
    }

    /// The request fields SSM knows (PascalCase, as on the wire).
    const FIELDS: &[&str] = &[
        "AllowedPattern",
        "DataType",
        "Description",
        "Filters",
        "Key",
        "KeyId",
        "Type",
        "Labels",
        "MaxResults",
        "Name",
        "Names",
        "NextToken",
        "Option",
        "Overwrite",
        "ParameterFilters",
        "ParameterVersion",
        "Path",
        "Recursive",
        "ResourceId",
        "ResourceType",
        "TagKeys",
        "Tags",
        "Tier",
        "Value",
        "Values",
        "WithDecryption",
    ];

    fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::json;
        prop_oneof![
            Just(json!(null)),
            any::<bool>().prop_map(|b| json!(b)),
            any::<i64>().prop_map(|n| json!(n)),
            (-20i64..120).prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "(/[a-z0-9._-]{0,6}){0,5}/?".prop_map(|s| json!(s)),
            "[a-zA-Z0-9:/_.*$-]{0,12}".prop_map(|s| json!(s)),
            prop::sample::select(vec![
                "String",
                "StringList",
                "SecureString",
                "Standard",
                "Advanced",
                "Intelligent-Tiering",
                "text",
                "aws:ec2:image",
                "Parameter",
                "Equals",
                "BeginsWith",
                "Recursive",
                "OneLevel",
                "Name",
                "Type",
                "KeyId",
                "Path",
                "Label",
                "Tier",
                "DataType",
                "tag:env",
            ])
            .prop_map(|s| json!(s)),
        ]
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::vec((prop::sample::select(FIELDS), inner), 0..4).prop_map(
                    |kv| serde_json::Value::Object(
                        kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                    )
                ),
            ]
        })
    }

    /// A JSON object with SSM's field names and values of every shape.
    fn ssm_body() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((prop::sample::select(FIELDS), json_value()), 0..7).prop_map(
            |kv| {
                let m: serde_json::Map<String, serde_json::Value> =
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                serde_json::Value::Object(m).to_string().into_bytes()
            },
        )
    }

    /// A real pack of a few chunks, as written by the store.
    fn real_pack(sizes: &[usize]) -> Vec<u8> {
        let backend = Arc::new(MemBackend::default());
        let store = PackStore::open(backend.clone()).unwrap();
        for (i, n) in sizes.iter().enumerate() {
            let data = vec![i as u8; *n];
            store.put(ChunkId::of(&data), &data).unwrap();
        }
        store.sync().unwrap();
        backend.read("packs/0000000000000001.pack").unwrap()
    }

    #[derive(Clone, Debug)]
    enum Edit {
        Flip(usize, u8),
        Truncate(usize),
        Splice(usize, Vec<u8>),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), 1u8..=255).prop_map(|(a, x)| Edit::Flip(a, x)),
            any::<usize>().prop_map(Edit::Truncate),
            (
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 1..16)
            )
                .prop_map(|(a, b)| Edit::Splice(a, b)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Real packs with random damage (flips, truncations, overwrites anywhere, including
        /// the index and trailer): never a panic, and what reads back is verified.
        #[test]
        fn damaged_real_packs_never_panic(
            sizes in proptest::collection::vec(0usize..300, 1..6),
            edits in proptest::collection::vec(edit(), 1..4),
        ) {
            let mut b = real_pack(&sizes);
            for e in edits {
                let len = b.len().max(1);
                match e {
                    Edit::Flip(at, x) => { let at = at % len; if at < b.len() { b[at] ^= x; } }
                    Edit::Truncate(to) => b.truncate(to % len),
                    Edit::Splice(at, bytes) => {
                        let at = at % len;
                        for (i, x) in bytes.into_iter().enumerate() {
                            if let Some(slot) = b.get_mut(at + i) { *slot = x; }
                        }
                    }
                }
            }
            pack(&b);
        }

        /// SSM requests shaped like the real ones (known fields, values of every type): an
        /// answer or an AWS error, never a panic; run twice so the second sees the first's state.
        #[test]
        fn ssm_json_bodies_never_panic(op in any::<u8>(), body in ssm_body()) {
            let mut data = vec![op];
            data.extend(body);
            ssm_request(&data);
        }

        #[test]
        fn packs_from_arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            pack(&data);
        }

        #[test]
        fn ssm_bodies_never_panic(op in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut data = vec![op];
            data.extend(body);
            ssm_request(&data);
        }

        #[test]
        fn queries_never_panic(s in ".{0,200}") {
            query(s.as_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Legacy DynamoDB maps built from arbitrary bytes (up to thousands of entries, values
        /// nested up to 40 levels), on a 2 MiB stack: an answer or an error, never a panic.
        #[test]
        fn dynamodb_legacy_requests_never_panic(data in proptest::collection::vec(any::<u8>(), 4..60)) {
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || dynamodb_legacy(&data))
                .unwrap()
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    }
}

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::model::{self, Shape};

fn cw() -> &'static ServiceModel {
    model::named("cloudwatch").unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request encoder that mirrors botocore's `CBORSerializer` (typed by the shape: integers,
/// 64-bit doubles, tag 1 around integer seconds, byte strings for blobs, structures as maps of
/// the members that are set), optionally with every container and string of indefinite
/// length, as other SDKs may send them.
struct TestEncoder {
    indefinite: bool,
}

impl TestEncoder {
    fn string(&self, out: &mut Vec<u8>, major: u8, b: &[u8]) {
        if self.indefinite && b.len() > 1 {
            out.push((major << 5) | 31);
            let (a, z) = b.split_at(b.len() / 2);
            for chunk in [a, z] {
                encode::head(out, major, chunk.len() as u64);
                out.extend_from_slice(chunk);
            }
            out.push(0xff);
        } else {
            encode::head(out, major, b.len() as u64);
            out.extend_from_slice(b);
        }
    }

    fn container(&self, out: &mut Vec<u8>, major: u8, n: usize) {
        if self.indefinite {
            out.push((major << 5) | 31);
        } else {
            encode::head(out, major, n as u64);
        }
    }

    fn end(&self, out: &mut Vec<u8>) {
        if self.indefinite {
            out.push(0xff);
        }
    }

    fn encode(&self, out: &mut Vec<u8>, m: &ServiceModel, shape: &Shape, v: &Value) {
        let sub = |name: &str| m.shape(name).unwrap();
        match shape.kind.as_str() {
            "structure" => {
                let fields = v.as_object().unwrap();
                self.container(out, 5, fields.len());
                for (k, v) in fields {
                    self.string(out, 3, k.as_bytes());
                    self.encode(out, m, sub(&shape.members[k].shape), v);
                }
                self.end(out);
            }
            "list" => {
                let items = v.as_array().unwrap();
                self.container(out, 4, items.len());
                for v in items {
                    self.encode(out, m, sub(&shape.member.as_ref().unwrap().shape), v);
                }
                self.end(out);
            }
            "map" => {
                let entries = v.as_object().unwrap();
                self.container(out, 5, entries.len());
                for (k, v) in entries {
                    self.string(out, 3, k.as_bytes());
                    self.encode(out, m, sub(&shape.value.as_ref().unwrap().shape), v);
                }
                self.end(out);
            }
            "string" => self.string(out, 3, v.as_str().unwrap().as_bytes()),
            "blob" => {
                use base64::Engine as _;
                let b = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap();
                self.string(out, 2, &b);
            }
            "boolean" => out.push(if v.as_bool().unwrap() { 0xf5 } else { 0xf4 }),
            "integer" | "long" => {
                let n = v.as_i64().unwrap();
                if n >= 0 {
                    encode::head(out, 0, n as u64);
                } else {
                    encode::head(out, 1, (-1 - n) as u64);
                }
            }
            "double" | "float" => {
                out.push(0xfb);
                out.extend_from_slice(&v.as_f64().unwrap().to_bits().to_be_bytes());
            }
            "timestamp" => {
                out.push(0xc1);
                encode::head(out, 0, v.as_u64().unwrap());
            }
            other => panic!("no test encoding for {other}"),
        }
    }

    fn input(&self, op: &str, v: &Value) -> Vec<u8> {
        let m = cw();
        let shape = m.input_of(&m.operations[op]).unwrap();
        let mut out = Vec::new();
        self.encode(&mut out, m, shape, v);
        out
    }
}

fn object(pairs: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect(),
    )
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{1,12}"
}

/// Doubles JSON writes and reads back exactly (short binary fractions).
fn short_double() -> BoxedStrategy<f64> {
    (-1_000_000i64..1_000_000)
        .prop_map(|n| n as f64 / 8.0)
        .boxed()
}

fn any_double() -> BoxedStrategy<f64> {
    prop_oneof![
        short_double(),
        any::<f64>().prop_filter("finite", |f| f.is_finite())
    ]
    .boxed()
}

fn dimension() -> impl Strategy<Value = Value> {
    (name(), name()).prop_map(|(n, v)| json!({"Name": n, "Value": v}))
}

fn datum(d: BoxedStrategy<f64>) -> impl Strategy<Value = Value> {
    (
        name(),
        prop::option::of(prop::collection::vec(dimension(), 0..4)),
        prop::option::of(0u64..5_000_000_000),
        prop::option::of(d.clone()),
        prop::option::of(prop::collection::vec(d.clone(), 0..5)),
        prop::option::of(prop::collection::vec(d.clone(), 0..5)),
        prop::option::of((d.clone(), d.clone(), d.clone(), d)),
        prop::option::of(prop::sample::select(vec![
            "Seconds",
            "Bytes/Second",
            "None",
        ])),
        prop::option::of(1i64..100),
    )
        .prop_map(|(n, dims, ts, v, vs, cs, stats, unit, res)| {
            object(vec![
                ("MetricName", Some(json!(n))),
                ("Dimensions", dims.map(Value::from)),
                ("Timestamp", ts.map(Value::from)),
                ("Value", v.map(Value::from)),
                ("Values", vs.map(Value::from)),
                ("Counts", cs.map(Value::from)),
                (
                    "StatisticValues",
                    stats.map(|(a, b, c, d)| {
                        json!({"SampleCount": a, "Sum": b, "Minimum": c, "Maximum": d})
                    }),
                ),
                ("Unit", unit.map(Value::from)),
                ("StorageResolution", res.map(Value::from)),
            ])
        })
}

fn put_metric_data_with(d: BoxedStrategy<f64>) -> impl Strategy<Value = Value> {
    (
        name(),
        prop::collection::vec(datum(d), 0..4),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(ns, data, strict)| {
            object(vec![
                ("Namespace", Some(json!(ns))),
                ("MetricData", Some(Value::from(data))),
                ("StrictEntityValidation", strict.map(Value::from)),
            ])
        })
}

/// A CloudWatch PutMetricData input (doubles JSON carries exactly).
pub(in crate::codec) fn put_metric_data() -> impl Strategy<Value = Value> {
    put_metric_data_with(short_double())
}

fn get_metric_data_input() -> impl Strategy<Value = Value> {
    let query = (
        "[a-z][a-z0-9]{0,8}",
        prop::option::of((name(), name(), prop::collection::vec(dimension(), 0..3))),
        prop::option::of(1i64..86_400),
        prop::option::of(any::<bool>()),
        prop::option::of(name()),
    )
        .prop_map(|(id, stat, period, ret, expr)| {
            object(vec![
                ("Id", Some(json!(id))),
                (
                    "MetricStat",
                    stat.map(|(ns, n, dims)| {
                        json!({"Metric": {"Namespace": ns, "MetricName": n, "Dimensions": dims},
                            "Period": 60, "Stat": "Average"})
                    }),
                ),
                ("Period", period.map(Value::from)),
                ("ReturnData", ret.map(Value::from)),
                ("Expression", expr.map(Value::from)),
            ])
        });
    (
        prop::collection::vec(query, 0..4),
        0u64..5_000_000_000,
        0u64..5_000_000_000,
        prop::option::of(name()),
        prop::option::of(-10i64..100_000),
    )
        .prop_map(|(queries, start, end, token, max)| {
            object(vec![
                ("MetricDataQueries", Some(Value::from(queries))),
                ("StartTime", Some(json!(start))),
                ("EndTime", Some(json!(end))),
                ("NextToken", token.map(Value::from)),
                ("MaxDatapoints", max.map(Value::from)),
            ])
        })
}

fn output_with(d: BoxedStrategy<f64>) -> impl Strategy<Value = Value> {
    let message = || (name(), name()).prop_map(|(c, v)| json!({"Code": c, "Value": v}));
    let result = (
        "[a-z][a-z0-9]{0,8}",
        prop::option::of(name()),
        prop::collection::vec(-1_000_000_000_000i64..10_000_000_000_000, 0..5),
        prop::collection::vec(d, 0..5),
        prop::sample::select(vec!["Complete", "PartialData"]),
        prop::option::of(prop::collection::vec(message(), 0..2)),
    )
        .prop_map(|(id, label, ts, vs, status, msgs)| {
            let ts: Vec<Value> = ts
                .into_iter()
                .map(crate::codec::time::ms_to_value)
                .collect();
            object(vec![
                ("Id", Some(json!(id))),
                ("Label", label.map(Value::from)),
                ("Timestamps", Some(Value::from(ts))),
                ("Values", Some(Value::from(vs))),
                ("StatusCode", Some(json!(status))),
                ("Messages", msgs.map(Value::from)),
            ])
        });
    (
        prop::collection::vec(result, 0..4),
        prop::option::of(name()),
        prop::option::of(prop::collection::vec(message(), 0..2)),
    )
        .prop_map(|(results, token, msgs)| {
            object(vec![
                ("MetricDataResults", Some(Value::from(results))),
                ("NextToken", token.map(Value::from)),
                ("Messages", msgs.map(Value::from)),
            ])
        })
}

/// A CloudWatch GetMetricData output (doubles JSON carries exactly; timestamps with
/// milliseconds).
pub(in crate::codec) fn get_metric_data_output() -> impl Strategy<Value = Value> {
    output_with(short_double())
}

#[test]
fn paths_name_service_and_operation() {
    assert_eq!(
        operation_from_path("/service/GraniteServiceVersion20100801/operation/PutMetricData"),
        Some(("GraniteServiceVersion20100801", "PutMetricData"))
    );
    for bad in [
        "/service//operation/X",
        "/service/S/operation/",
        "/service/S/operation/X/Y",
        "/service/S/X",
        "/svc/S/operation/X",
        "",
    ] {
        assert_eq!(operation_from_path(bad), None, "{bad}");
    }
    assert_eq!(
        cw().metadata.target_prefix.as_deref(),
        Some("GraniteServiceVersion20100801")
    );
}

/// Bodies botocore 1.43.11's `RpcV2CBORSerializer` wrote (`tests/codec/cbor_fixtures.py`).
#[test]
fn botocore_fixtures() {
    let put = unhex(
        "a3694e616d6573706163656a4170702f4f72646572736a4d65747269634461746182a66a4d65747269634e616d65674c6174656e63796a44696d656e73696f6e7381a2644e616d6567536572766963656556616c756568636865636b6f75746954696d657374616d70c11a6b0ba4726556616c7565fb402900000000000064556e69746c4d696c6c697365636f6e64737153746f726167655265736f6c7574696f6e01a56a4d65747269634e616d656542617463686656616c75657383fb3ff0000000000000fb4002000000000000fbc00c00000000000066436f756e747383fb4024000000000000fb3ff0000000000000fb4072c000000000006f53746174697374696356616c756573a46b53616d706c65436f756e74fb40080000000000006353756dfb401e000000000000674d696e696d756dfb0000000000000000674d6178696d756dfb7e37e43c8800759c6954696d657374616d70c1181e76537472696374456e7469747956616c69646174696f6ef4",
    );
    assert_eq!(
        parse_input(cw(), "PutMetricData", &put).unwrap(),
        json!({
            "Namespace": "App/Orders",
            "MetricData": [
                {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "checkout"}],
                 "Timestamp": 1_795_925_106, "Value": 12.5, "Unit": "Milliseconds",
                 "StorageResolution": 1},
                {"MetricName": "Batch", "Values": [1.0, 2.25, -3.5], "Counts": [10.0, 1.0, 300.0],
                 "StatisticValues": {"SampleCount": 3.0, "Sum": 7.5, "Minimum": 0.0, "Maximum": 1e300},
                 "Timestamp": 30},
            ],
            "StrictEntityValidation": false,
        })
    );
    let stats = unhex(
        "a9694e616d657370616365674157532f4543326a4d65747269634e616d656e4350555574696c697a6174696f6e6a44696d656e73696f6e7381a2644e616d656a496e7374616e636549646556616c756573692d303132333435363738396162636465663069537461727454696d65c11a6b0b966267456e6454696d65c11a6b0ba47266506572696f6419012c6a53746174697374696373826741766572616765674d6178696d756d72457874656e64656453746174697374696373816370393964556e69746750657263656e74",
    );
    let v = parse_input(cw(), "GetMetricStatistics", &stats).unwrap();
    assert_eq!(
        v,
        json!({
            "Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
            "StartTime": 1_795_921_506, "EndTime": 1_795_925_106, "Period": 300,
            "Statistics": ["Average", "Maximum"], "ExtendedStatistics": ["p99"], "Unit": "Percent",
        })
    );
    assert!(crate::validate::violations(cw(), "GetMetricStatistics", &v).is_empty());
}

#[test]
fn wire_forms_other_sdks_use() {
    let m = cw();
    // Tag 1 around a double, a half float for a double, a float for an integer, null members.
    let mut b = vec![0xa5];
    encode::text(&mut b, "StartTime");
    b.extend_from_slice(&[0xc1, 0xfb]);
    b.extend_from_slice(&1_795_925_106.5f64.to_bits().to_be_bytes());
    encode::text(&mut b, "EndTime");
    b.extend_from_slice(&[0xc1, 0x1b, 0, 0, 0, 0, 0x6b, 0x0b, 0xa4, 0x72]);
    encode::text(&mut b, "MaxDatapoints");
    b.extend_from_slice(&[0xfa]);
    b.extend_from_slice(&100.0f32.to_bits().to_be_bytes());
    encode::text(&mut b, "NextToken");
    b.push(0xf6);
    encode::text(&mut b, "LabelOptions");
    b.extend_from_slice(&[0xbf, 0x68]);
    b.extend_from_slice(b"Timezone");
    b.extend_from_slice(&[0x7f, 0x62, b'+', b'0', 0x63, b'1', b'3', b'0', 0xff, 0xff]);
    assert_eq!(
        parse_input(m, "GetMetricData", &b).unwrap(),
        json!({"StartTime": 1_795_925_106.5, "EndTime": 1_795_925_106, "MaxDatapoints": 100,
            "LabelOptions": {"Timezone": "+0130"}})
    );
    // Half floats, NaN and the infinities for doubles (botocore writes those as halves).
    let mut b = vec![0xa2];
    encode::text(&mut b, "Namespace");
    encode::text(&mut b, "n");
    encode::text(&mut b, "MetricData");
    b.extend_from_slice(&[0x81, 0xa2]);
    encode::text(&mut b, "Value");
    b.extend_from_slice(&[0xf9, 0x3e, 0x00]); // 1.5
    encode::text(&mut b, "Values");
    b.extend_from_slice(&[
        0x84, 0xf9, 0x7e, 0x00, 0xf9, 0x7c, 0x00, 0xf9, 0xfc, 0x00, 0x01,
    ]);
    assert_eq!(
        parse_input(m, "PutMetricData", &b).unwrap(),
        json!({"Namespace": "n", "MetricData": [{"Value": 1.5,
            "Values": ["NaN", "Infinity", "-Infinity", 1.0]}]})
    );
    assert_eq!(decode::half(0x0001), 2f64.powi(-24));
    assert_eq!(decode::half(0xc000), -2.0);
    // An empty body, and an empty map, are an empty input.
    assert_eq!(parse_input(m, "ListDashboards", b"").unwrap(), json!({}));
    assert_eq!(
        parse_input(m, "ListDashboards", &[0xa0]).unwrap(),
        json!({})
    );
}

#[test]
fn malformed_bodies_are_serialization_exceptions() {
    let m = cw();
    for bad in [
        &[0x80][..],                                             // not a map
        &[0xa1, 0x01, 0x02],                                     // a key that is not text
        &[0xa1, 0x61],                                           // truncated
        &[0xa0, 0x00],                                           // trailing data
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // a huge declared length
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0xa1, 0x61, b'a', 0xc2, 0x41, 0x01], // a bignum tag
        &[0xa1, 0x61, b'a', 0xc1, 0x61, b'x'], // tag 1 around text
        &[0xa1, 0x61, b'a', 0xff],             // a stray break
        &[0xa1, 0x61, b'a', 0x1c],             // reserved additional information
        &[
            0xa1, 0x61, b'a', 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ], // -2^64
        &[0xa1, 0x62, 0xc3, 0x28, 0x01],       // invalid UTF-8
        &[0xa1, 0x61, b'a', 0x7f, 0x41, b'x', 0xff], // a byte chunk in a text string
    ] {
        let e = parse_input(m, "PutMetricData", bad).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "SerializationException"),
            "{bad:?}"
        );
    }
    // Nesting beyond MAX_DEPTH.
    let mut deep = vec![0xa1, 0x61, b'a'];
    deep.extend(std::iter::repeat_n(0x81, 10_000));
    deep.push(0x01);
    let e = parse_input(m, "PutMetricData", &deep).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{}", e.message);
}

#[test]
fn outputs_and_errors() {
    let m = cw();
    let out = serialize_output(
        m,
        "GetMetricData",
        &json!({"MetricDataResults": [{"Id": "a", "Timestamps": [1_795_925_106, 1.5],
            "Values": [1.0, "NaN"], "StatusCode": "Complete", "Label": null}]}),
    );
    assert_eq!(
        hex(&out),
        "a1714d657472696344617461526573756c747381a46249646161\
         6a537461747573436f646568436f6d706c657465\
         6a54696d657374616d707382c11a6b0ba472c1fb3ff8000000000000\
         6656616c75657382fb3ff0000000000000f97e00"
    );
    // No output shape: an empty body.
    assert!(serialize_output(m, "PutMetricData", &json!({})).is_empty());

    let (status, headers, body) = serialize_error(m, "DashboardNotFoundError", "no such");
    assert_eq!(status, 404);
    assert_eq!(
        headers,
        vec![
            ("Content-Type".to_string(), "application/cbor".to_string()),
            ("smithy-protocol".to_string(), "rpc-v2-cbor".to_string()),
            (
                "x-amzn-query-error".to_string(),
                "ResourceNotFound;Sender".to_string()
            ),
        ]
    );
    let mut d = decode::Decoder::new(m, &body);
    assert_eq!(
        d.value(None, 0).unwrap().unwrap(),
        json!({"__type": "com.amazonaws.cloudwatch#DashboardNotFoundError", "message": "no such"})
    );
    assert!(d.at_end());
    let (status, headers, _) = serialize_error(m, "InternalServiceFault", "x");
    assert_eq!(status, 500);
    assert_eq!(headers[2].1, "InternalServiceError;Receiver");
}

#[test]
fn blobs_are_byte_strings() {
    let m = cw();
    let out = serialize_output(
        m,
        "GetMetricWidgetImage",
        &json!({"MetricWidgetImage": "iVBORw0KGgo="}),
    );
    let mut expected = vec![0xa1];
    encode::text(&mut expected, "MetricWidgetImage");
    encode::bytes(&mut expected, b"\x89PNG\r\n\x1a\n");
    assert_eq!(out, expected);
    let shape = m.output_of(&m.operations["GetMetricWidgetImage"]).unwrap();
    let mut d = decode::Decoder::new(m, &out);
    assert_eq!(
        d.value(Some(shape), 0).unwrap().unwrap(),
        json!({"MetricWidgetImage": "iVBORw0KGgo="})
    );
}

#[test]
fn item_count_is_bounded() {
    // A million and one zeros in an indefinite list: refused, not decoded.
    let mut b = vec![0xa1];
    encode::text(&mut b, "Values");
    b.push(0x9f);
    b.extend(std::iter::repeat_n(0x00, decode::MAX_ITEMS + 1));
    b.push(0xff);
    let e = parse_input(cw(), "PutMetricData", &b).unwrap_err();
    assert!(e.message.contains("too many"), "{}", e.message);
}

/// What botocore's `RpcV2CBORParser` is given to parse by `tests/codec/cbor_check.py`:
/// `cargo test -p snapstack-protocol --lib codec::cbor::tests::for_botocore -- --nocapture | grep "^cbor " | python3 crates/protocol/tests/codec/cbor_check.py`
#[test]
fn for_botocore() {
    let m = cw();
    let out = serialize_output(
        m,
        "GetMetricData",
        &json!({"MetricDataResults": [{"Id": "q1", "Label": "Latency",
            "Timestamps": [1_795_925_106, 1_795_925_106.789], "Values": [12.5, -0.25],
            "StatusCode": "Complete", "Messages": [{"Code": "c", "Value": "v"}]}],
            "NextToken": "t"}),
    );
    println!("cbor output GetMetricData 200 {}", hex(&out));
    let (status, headers, body) = serialize_error(m, "LimitExceededFault", "Too many");
    let query = headers
        .iter()
        .find(|(k, _)| k == "x-amzn-query-error")
        .map_or("-", |(_, v)| v.as_str());
    println!("cbor error GetMetricData {status} {} {query}", hex(&body));
}

proptest! {
    #[test]
    fn botocore_shaped_put_metric_data_parses_back(
        v in put_metric_data_with(any_double()),
        indefinite in any::<bool>(),
    ) {
        let body = TestEncoder { indefinite }.input("PutMetricData", &v);
        prop_assert_eq!(parse_input(cw(), "PutMetricData", &body).unwrap(), v);
    }

    #[test]
    fn botocore_shaped_get_metric_data_parses_back(
        v in get_metric_data_input(),
        indefinite in any::<bool>(),
    ) {
        let body = TestEncoder { indefinite }.input("GetMetricData", &v);
        prop_assert_eq!(parse_input(cw(), "GetMetricData", &body).unwrap(), v);
    }

    #[test]
    fn outputs_decode_back(v in output_with(any_double())) {
        let m = cw();
        let out = serialize_output(m, "GetMetricData", &v);
        let shape = m.output_of(&m.operations["GetMetricData"]).unwrap();
        let mut d = decode::Decoder::new(m, &out);
        prop_assert_eq!(d.value(Some(shape), 0).unwrap().unwrap(), v);
        prop_assert!(d.at_end());
    }

    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for op in ["PutMetricData", "GetMetricData", "PutDashboard", "Nope"] {
            let _ = parse_input(cw(), op, &bytes);
        }
    }

    /// Valid CBOR with one byte changed (more likely to go deep than random bytes).
    #[test]
    fn parse_never_panics_on_mutated_requests(
        v in put_metric_data_with(any_double()),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = TestEncoder { indefinite: false }.input("PutMetricData", &v);
        let i = at.index(body.len());
        body[i] = byte;
        let _ = parse_input(cw(), "PutMetricData", &body);
    }
}

//! Unit tests of the operations and of delivery (with a runtime that plays S3 and Kinesis), of
//! buffering by size and interval, gzip, retries, exactly-once across a replayed flush, and of
//! buffered records surviving a save and a load with blobs.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::{Engine, EngineOptions};
use snapstack_protocol::errors::AwsError;
use snapstack_service::{BoxFuture, RequestContext, Runtime};

use crate::model::{FirehoseRecord, rk};
use crate::{Clock, Firehose};

const T0: u64 = 1_709_622_489_123; // 2024-03-05T07:08:09.123Z
const ROLE: &str = "arn:aws:iam::000000000000:role/firehose";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A runtime that keeps S3 objects and serves a Kinesis stream of fixed records.
#[derive(Default)]
struct FakeRt {
    objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    puts: AtomicU64,
    s3_down: Mutex<bool>,
    kinesis: Mutex<Vec<(String, Vec<u8>)>>,
}

impl FakeRt {
    fn objects(&self) -> BTreeMap<(String, String), Vec<u8>> {
        self.objects.lock().unwrap().clone()
    }
}

impl Runtime for FakeRt {
    fn ensure_loaded<'a>(&'a self, _service: &'static str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn wait_durable<'a>(&'a self, _s: &'static str, _v: u64) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn is_ready(&self, _service: &str) -> bool {
        true
    }
    fn invoke<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        service: &'a str,
        operation: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, AwsError>> {
        Box::pin(async move {
            match (service, operation) {
                ("s3", "PutObject") => {
                    if *self.s3_down.lock().unwrap() {
                        return Err(AwsError::new("InternalError", "S3 is down"));
                    }
                    self.puts.fetch_add(1, Ordering::SeqCst);
                    let body = base64::engine::general_purpose::STANDARD
                        .decode(input["Body"].as_str().unwrap())
                        .unwrap();
                    self.objects.lock().unwrap().insert(
                        (
                            input["Bucket"].as_str().unwrap().to_string(),
                            input["Key"].as_str().unwrap().to_string(),
                        ),
                        body,
                    );
                    Ok(json!({"ETag": "\"x\""}))
                }
                ("kinesis", "ListShards") => {
                    Ok(json!({"Shards": [{"ShardId": "shardId-000000000000"}]}))
                }
                ("kinesis", "GetShardIterator") => {
                    let start = match input["ShardIteratorType"].as_str() {
                        Some("AFTER_SEQUENCE_NUMBER") => {
                            input["StartingSequenceNumber"]
                                .as_str()
                                .unwrap()
                                .parse::<usize>()
                                .unwrap()
                                + 1
                        }
                        _ => 0,
                    };
                    Ok(json!({"ShardIterator": start.to_string()}))
                }
                ("kinesis", "GetRecords") => {
                    let from: usize = input["ShardIterator"].as_str().unwrap().parse().unwrap();
                    let recs = self.kinesis.lock().unwrap();
                    let out: Vec<Value> = recs
                        .iter()
                        .skip(from)
                        .map(|(seq, d)| {
                            json!({"SequenceNumber": seq, "Data": b64(d), "PartitionKey": "k",
                            "ApproximateArrivalTimestamp": 1_709_622_489.0})
                        })
                        .collect();
                    Ok(json!({"Records": out, "NextShardIterator": recs.len().to_string()}))
                }
                _ => Err(AwsError::new(
                    "ResourceNotFoundException",
                    "no such service",
                )),
            }
        })
    }
}

struct Env {
    fh: Firehose,
    now: Arc<AtomicU64>,
    rt: FakeRt,
}

fn env_with(engine: Arc<Engine>) -> Env {
    let now = Arc::new(AtomicU64::new(T0));
    let n = now.clone();
    let clock: Clock = Arc::new(move || n.load(Ordering::SeqCst));
    Env {
        fh: Firehose::with_clock(engine, clock),
        now,
        rt: FakeRt::default(),
    }
}

fn env() -> Env {
    env_with(Arc::new(Engine::in_memory().unwrap()))
}

impl Env {
    fn call(&self, op: &str, input: Value) -> Result<Value, AwsError> {
        let ctx = RequestContext::from_scope(None);
        self.fh
            .handle(&ctx, op, &input)
            .map(|h| serde_json::from_str(&h.body).unwrap())
    }
    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|e| panic!("{op}: {e:?}"))
    }
    fn err(&self, op: &str, input: Value) -> AwsError {
        self.call(op, input).unwrap_err()
    }
    fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
    fn deliver(&self) -> usize {
        block_on(self.fh.deliver_due(&self.rt))
    }
    fn s3_stream(&self, name: &str, extra: Value) {
        let mut c = json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.ok(
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": c}),
        );
        self.advance(crate::CREATING_MS);
    }
    fn buffered(&self) -> usize {
        self.fh
            .store
            .snapshot()
            .iter()
            .filter(|(_, r)| matches!(r, FirehoseRecord::Buffered(_)))
            .count()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn stream_lifecycle_creating_to_active_list_and_delete() {
    let e = env();
    let arn = e.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "s1", "S3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt"},
            "Tags": [{"Key": "team", "Value": "a"}]}),
    )["DeliveryStreamARN"]
        .clone();
    assert_eq!(
        arn,
        "arn:aws:firehose:us-east-1:000000000000:deliverystream/s1"
    );
    let d = e.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    )["DeliveryStreamDescription"]
        .clone();
    assert_eq!(d["DeliveryStreamStatus"], "CREATING");
    assert_eq!(d["VersionId"], "1");
    assert_eq!(d["DeliveryStreamType"], "DirectPut");
    assert_eq!(d["HasMoreDestinations"], false);
    assert_eq!(
        d["Destinations"][0]["DestinationId"],
        "destinationId-000000000001"
    );
    assert_eq!(
        d["Destinations"][0]["S3DestinationDescription"]["BufferingHints"],
        json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
    );
    assert!(d["Destinations"][0]["ExtendedS3DestinationDescription"].is_object());
    assert_eq!(
        d["DeliveryStreamEncryptionConfiguration"]["Status"],
        "DISABLED"
    );
    e.advance(crate::CREATING_MS);
    let d = e.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    );
    assert_eq!(
        d["DeliveryStreamDescription"]["DeliveryStreamStatus"],
        "ACTIVE"
    );

    let dup = e.err(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "s1", "S3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt"}}),
    );
    assert_eq!(dup.code, "ResourceInUseException");
    e.s3_stream("s2", json!({}));
    e.s3_stream("s3", json!({}));
    let l = e.ok("ListDeliveryStreams", json!({"Limit": 2}));
    assert_eq!(l["DeliveryStreamNames"], json!(["s1", "s2"]));
    assert_eq!(l["HasMoreDeliveryStreams"], true);
    let l = e.ok(
        "ListDeliveryStreams",
        json!({"ExclusiveStartDeliveryStreamName": "s2"}),
    );
    assert_eq!(l["DeliveryStreamNames"], json!(["s3"]));
    assert_eq!(l["HasMoreDeliveryStreams"], false);

    let t = e.ok(
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    );
    assert_eq!(t["Tags"], json!([{"Key": "team", "Value": "a"}]));
    e.ok(
        "TagDeliveryStream",
        json!({"DeliveryStreamName": "s1", "Tags": [{"Key": "b", "Value": "2"}]}),
    );
    let t = e.ok(
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "s1", "Limit": 1}),
    );
    assert_eq!(t["Tags"], json!([{"Key": "b", "Value": "2"}]));
    assert_eq!(t["HasMoreTags"], true);
    e.ok(
        "UntagDeliveryStream",
        json!({"DeliveryStreamName": "s1", "TagKeys": ["b"]}),
    );
    let t = e.ok(
        "ListTagsForDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    );
    assert_eq!(t["Tags"].as_array().unwrap().len(), 1);

    e.ok("DeleteDeliveryStream", json!({"DeliveryStreamName": "s1"}));
    let d = e.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    );
    assert_eq!(
        d["DeliveryStreamDescription"]["DeliveryStreamStatus"],
        "DELETING"
    );
    e.advance(crate::DELETING_MS);
    e.deliver();
    let nf = e.err(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "s1"}),
    );
    assert_eq!(nf.code, "ResourceNotFoundException");
    assert_eq!(
        nf.message,
        "Firehose s1 under account 000000000000 not found."
    );
    assert_eq!(
        e.err(
            "PutRecord",
            json!({"DeliveryStreamName": "s1", "Record": {"Data": b64(b"x")}})
        )
        .code,
        "ResourceNotFoundException"
    );
}

#[test]
fn create_refuses_what_aws_refuses() {
    let e = env();
    let none = e.err("CreateDeliveryStream", json!({"DeliveryStreamName": "x"}));
    assert_eq!(none.code, "InvalidArgumentException");
    let bad_prefix = e.err(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE,
            "BucketARN": "arn:aws:s3:::b", "Prefix": "!{timestamp:yyyy}/"}}),
    );
    assert_eq!(bad_prefix.code, "InvalidArgumentException");
    assert!(bad_prefix.message.contains("ErrorOutputPrefix"));
    let kinesis_missing = e.err(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "x", "DeliveryStreamType": "KinesisStreamAsSource",
            "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b"}}),
    );
    assert_eq!(kinesis_missing.code, "InvalidArgumentException");
    let cmk = e.err(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "x", "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b"},
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "CUSTOMER_MANAGED_CMK"}}),
    );
    assert_eq!(cmk.code, "InvalidArgumentException");
}

#[test]
fn update_destination_checks_the_version_and_merges() {
    let e = env();
    e.s3_stream("s", json!({"Prefix": "a/"}));
    let stale = e.err(
        "UpdateDestination",
        json!({"DeliveryStreamName": "s", "CurrentDeliveryStreamVersionId": "7",
            "DestinationId": "destinationId-000000000001", "ExtendedS3DestinationUpdate": {"Prefix": "b/"}}),
    );
    assert_eq!(stale.code, "ConcurrentModificationException");
    let bad_id = e.err(
        "UpdateDestination",
        json!({"DeliveryStreamName": "s", "CurrentDeliveryStreamVersionId": "1",
            "DestinationId": "destinationId-9", "ExtendedS3DestinationUpdate": {"Prefix": "b/"}}),
    );
    assert_eq!(bad_id.code, "InvalidArgumentException");
    e.ok(
        "UpdateDestination",
        json!({"DeliveryStreamName": "s", "CurrentDeliveryStreamVersionId": "1",
            "DestinationId": "destinationId-000000000001",
            "ExtendedS3DestinationUpdate": {"Prefix": "b/", "BufferingHints": {"IntervalInSeconds": 5}}}),
    );
    let d = e.ok("DescribeDeliveryStream", json!({"DeliveryStreamName": "s"}))["DeliveryStreamDescription"].clone();
    assert_eq!(d["VersionId"], "2");
    assert!(d["LastUpdateTimestamp"].is_number());
    let x = &d["Destinations"][0]["ExtendedS3DestinationDescription"];
    assert_eq!(x["Prefix"], "b/");
    assert_eq!(
        x["BufferingHints"],
        json!({"SizeInMBs": 1, "IntervalInSeconds": 5})
    );
    // Switching kinds needs every required member of the new kind.
    let partial = e.err(
        "UpdateDestination",
        json!({"DeliveryStreamName": "s", "CurrentDeliveryStreamVersionId": "2",
            "DestinationId": "destinationId-000000000001",
            "SplunkDestinationUpdate": {"HECEndpoint": "https://h"}}),
    );
    assert_eq!(partial.code, "InvalidArgumentException");
}

#[test]
fn encryption_is_stored_and_reported() {
    let e = env();
    e.s3_stream("s", json!({}));
    e.ok(
        "StartDeliveryStreamEncryption",
        json!({"DeliveryStreamName": "s",
        "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"}}),
    );
    let d = e.ok("DescribeDeliveryStream", json!({"DeliveryStreamName": "s"}));
    assert_eq!(
        d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"],
        json!({"Status": "ENABLED", "KeyType": "AWS_OWNED_CMK"})
    );
    let r = e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"x")}}),
    );
    assert_eq!(r["Encrypted"], true);
    e.ok(
        "StopDeliveryStreamEncryption",
        json!({"DeliveryStreamName": "s"}),
    );
    let d = e.ok("DescribeDeliveryStream", json!({"DeliveryStreamName": "s"}));
    assert_eq!(
        d["DeliveryStreamDescription"]["DeliveryStreamEncryptionConfiguration"]["Status"],
        "DISABLED"
    );
}

#[test]
fn records_are_buffered_until_the_interval_then_one_object_named_as_aws_names_it() {
    let e = env();
    e.s3_stream("s", json!({"Prefix": "logs/"}));
    let r = e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"one\n")}}),
    );
    assert!(r["RecordId"].as_str().unwrap().len() > 20);
    let b = e.ok(
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": [{"Data": b64(b"two\n")}, {"Data": b64(b"three\n")}]}),
    );
    assert_eq!(b["FailedPutCount"], 0);
    assert_eq!(b["RequestResponses"].as_array().unwrap().len(), 2);
    assert_eq!(e.buffered(), 3);
    assert_eq!(e.deliver(), 0, "not due before the interval");
    e.advance(60_000);
    assert_eq!(e.deliver(), 1);
    let objs = e.rt.objects();
    assert_eq!(objs.len(), 1);
    let ((bucket, key), body) = objs.into_iter().next().unwrap();
    assert_eq!(bucket, "bkt");
    // The prefix's hour is the oldest record's arrival (T0 + CREATING_MS).
    assert!(
        key.starts_with("logs/2024/03/05/07/s-1-2024-03-05-07-08-10-"),
        "{key}"
    );
    assert_eq!(
        key.len(),
        "logs/2024/03/05/07/s-1-2024-03-05-07-08-10-".len() + 36
    );
    assert_eq!(body, b"one\ntwo\nthree\n");
    assert_eq!(e.buffered(), 0);
    assert_eq!(e.deliver(), 0);
}

#[test]
fn a_full_buffer_is_flushed_by_size_and_gzip_is_written() {
    let e = env();
    e.s3_stream("s", json!({"CompressionFormat": "GZIP"}));
    let big = vec![b'a'; 600 * 1024];
    for _ in 0..2 {
        e.ok(
            "PutRecord",
            json!({"DeliveryStreamName": "s", "Record": {"Data": b64(&big)}}),
        );
    }
    // 1.2 MiB in a 1 MiB buffer: due now, one record per object (the next would overflow).
    assert_eq!(e.deliver(), 1);
    assert_eq!(e.buffered(), 1);
    let objs = e.rt.objects();
    let ((_, key), body) = objs.iter().next().unwrap();
    assert!(key.ends_with(".gz"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, big);
    // The rest waits for its own interval, counted from the flush.
    assert_eq!(e.deliver(), 0);
    e.advance(60_000);
    assert_eq!(e.deliver(), 1);
    assert_eq!(e.rt.objects().len(), 2);
}

#[test]
fn limits_of_put_record_batch() {
    let e = env();
    e.s3_stream("s", json!({}));
    let too_big = vec![0u8; crate::put::MAX_RECORD + 1];
    let v = e.err(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(&too_big)}}),
    );
    assert_eq!(v.code, "ValidationException");
    assert!(v.message.contains("'record.data'"));
    let records: Vec<Value> = (0..5)
        .map(|_| json!({"Data": b64(&vec![0u8; 1_000_000])}))
        .collect();
    let v = e.err(
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": records}),
    );
    assert_eq!(v.code, "InvalidArgumentException");
    let records: Vec<Value> = (0..501).map(|_| json!({"Data": b64(b"x")})).collect();
    assert_eq!(
        e.err(
            "PutRecordBatch",
            json!({"DeliveryStreamName": "s", "Records": records})
        )
        .code,
        "ValidationException"
    );
    let records: Vec<Value> = (0..500)
        .map(|i| json!({"Data": b64(format!("{i},").as_bytes())}))
        .collect();
    let r = e.ok(
        "PutRecordBatch",
        json!({"DeliveryStreamName": "s", "Records": records}),
    );
    assert_eq!(r["FailedPutCount"], 0);
    assert_eq!(e.buffered(), 500);
    // A 1,000 KiB record is accepted (stored as a blob).
    let max = vec![7u8; crate::put::MAX_RECORD];
    e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(&max)}}),
    );
    assert!(e.fh.store.snapshot().iter().any(|(_, r)| matches!(r,
        FirehoseRecord::Buffered(b) if matches!(b.data, crate::model::Data::Blob(_)))));
}

#[test]
fn s3_failures_are_retried_and_a_replayed_flush_overwrites_the_same_object() {
    let e = env();
    e.s3_stream(
        "s",
        json!({"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}),
    );
    e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"keep")}}),
    );
    *e.rt.s3_down.lock().unwrap() = true;
    assert_eq!(e.deliver(), 0);
    let d = e.ok("DescribeDeliveryStream", json!({"DeliveryStreamName": "s"}));
    assert_eq!(
        d["DeliveryStreamDescription"]["FailureDescription"]["Type"],
        "UNKNOWN_ERROR"
    );
    *e.rt.s3_down.lock().unwrap() = false;
    assert_eq!(e.deliver(), 0, "waits for the retry time");
    e.advance(5_000);
    // A crash after the object was written but before the records were removed: the store
    // goes back to the state before the flush, and the replayed flush writes the same key.
    let before = e.fh.store.snapshot().map().clone();
    assert_eq!(e.deliver(), 1);
    assert_eq!(e.rt.puts.load(Ordering::SeqCst), 1);
    e.fh.store.replace(before);
    assert_eq!(e.deliver(), 1);
    assert_eq!(e.rt.puts.load(Ordering::SeqCst), 2);
    assert_eq!(e.rt.objects().len(), 1, "overwritten, not duplicated");
    assert_eq!(e.buffered(), 0);
    let d = e.ok("DescribeDeliveryStream", json!({"DeliveryStreamName": "s"}));
    assert!(
        d["DeliveryStreamDescription"]
            .get("FailureDescription")
            .is_none()
    );
}

#[test]
fn other_destinations_fail_into_the_backup_bucket() {
    let e = env();
    e.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "sp", "SplunkDestinationConfiguration": {"HECEndpoint": "https://splunk:8088",
            "HECEndpointType": "Raw", "HECToken": "t", "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 1},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}}}),
    );
    e.advance(crate::CREATING_MS);
    e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "sp", "Record": {"Data": b64(b"evt")}}),
    );
    assert_eq!(e.deliver(), 1);
    let objs = e.rt.objects();
    let ((bucket, key), body) = objs.iter().next().unwrap();
    assert_eq!(bucket, "backup");
    assert!(
        key.starts_with("splunk-failed/2024/03/05/07/sp-1-"),
        "{key}"
    );
    let line: Value = serde_json::from_slice(body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["rawData"], b64(b"evt"));
    let d = e.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "sp"}),
    );
    let f = &d["DeliveryStreamDescription"]["FailureDescription"];
    assert!(f["Details"].as_str().unwrap().contains("Splunk"));
    assert!(d["DeliveryStreamDescription"]["Destinations"][0]["SplunkDestinationDescription"]["HECEndpoint"].is_string());
}

#[test]
fn dynamic_partitioning_writes_one_object_per_key() {
    let e = env();
    e.s3_stream(
        "d",
        json!({"Prefix": "c=!{partitionKeyFromQuery:c}/", "ErrorOutputPrefix": "err/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
            "DynamicPartitioningConfiguration": {"Enabled": true},
            "ProcessingConfiguration": {"Enabled": true, "Processors": [
                {"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{c: .customer}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                {"Type": "AppendDelimiterToRecord", "Parameters": []}]}}),
    );
    let recs: Vec<Value> = ["a", "b", "a"]
        .iter()
        .map(|c| json!({"Data": b64(format!("{{\"customer\":\"{c}\"}}").as_bytes())}))
        .collect();
    e.ok(
        "PutRecordBatch",
        json!({"DeliveryStreamName": "d", "Records": recs}),
    );
    e.deliver();
    let objs = e.rt.objects();
    assert_eq!(objs.len(), 2);
    let a = objs
        .iter()
        .find(|((_, k), _)| k.starts_with("c=a/"))
        .unwrap();
    assert_eq!(a.1, b"{\"customer\":\"a\"}\n{\"customer\":\"a\"}\n");
}

#[test]
fn records_dynamic_partitioning_cannot_place_go_to_the_error_prefix() {
    let e = env();
    e.s3_stream(
        "d",
        json!({"Prefix": "c=!{partitionKeyFromQuery:c}/", "ErrorOutputPrefix": "err/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0},
            "DynamicPartitioningConfiguration": {"Enabled": true},
            "ProcessingConfiguration": {"Enabled": true, "Processors": [
                {"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{c: .customer}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}}),
    );
    let datas: [&[u8]; 3] = [b"{\"customer\":\"a\"}", b"not json", b"{\"other\":1}"];
    let recs: Vec<Value> = datas.iter().map(|d| json!({"Data": b64(d)})).collect();
    e.ok(
        "PutRecordBatch",
        json!({"DeliveryStreamName": "d", "Records": recs}),
    );
    e.deliver();
    let objs = e.rt.objects();
    assert_eq!(objs.len(), 2, "{:?}", objs.keys().collect::<Vec<_>>());
    assert!(objs.keys().any(|(_, k)| k.starts_with("c=a/")));
    let (key, body) = objs
        .iter()
        .find(|((_, k), _)| k.starts_with("err/"))
        .map(|((_, k), b)| (k.clone(), b.clone()))
        .unwrap();
    assert!(
        key.starts_with("err/partitioning-failed/2024/03/05/07/d-1-"),
        "{key}"
    );
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["rawData"], b64(b"not json"));
    assert_eq!(lines[1]["rawData"], b64(b"{\"other\":1}"));
    assert_eq!(
        lines[1]["errorCode"],
        "DynamicPartitioning.MetadataExtractionFailed"
    );
}

#[test]
fn a_kinesis_source_is_read_once_with_its_position_in_the_store() {
    let e = env();
    e.rt.kinesis.lock().unwrap().extend([
        ("0".to_string(), b"k1".to_vec()),
        ("1".to_string(), b"k2".to_vec()),
    ]);
    e.ok(
        "CreateDeliveryStream",
        json!({"DeliveryStreamName": "ks", "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/src", "RoleARN": ROLE},
            "ExtendedS3DestinationConfiguration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bkt",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}}),
    );
    e.advance(crate::CREATING_MS);
    let put = e.err(
        "PutRecord",
        json!({"DeliveryStreamName": "ks", "Record": {"Data": b64(b"x")}}),
    );
    assert_eq!(put.code, "InvalidArgumentException");
    assert_eq!(
        put.message,
        "This operation is not permitted on KinesisStreamAsSource delivery stream type."
    );
    let d = e.ok(
        "DescribeDeliveryStream",
        json!({"DeliveryStreamName": "ks"}),
    );
    let src = &d["DeliveryStreamDescription"]["Source"]["KinesisStreamSourceDescription"];
    assert_eq!(
        src["KinesisStreamARN"],
        "arn:aws:kinesis:us-east-1:000000000000:stream/src"
    );
    assert!(src["DeliveryStartTimestamp"].is_number());

    assert_eq!(block_on(e.fh.read_sources(&e.rt)), 2);
    assert_eq!(
        block_on(e.fh.read_sources(&e.rt)),
        0,
        "read from the checkpoint"
    );
    e.rt.kinesis
        .lock()
        .unwrap()
        .push(("2".to_string(), b"k3".to_vec()));
    assert_eq!(block_on(e.fh.read_sources(&e.rt)), 1);
    e.deliver();
    let objs = e.rt.objects();
    assert_eq!(objs.values().next().unwrap(), b"k1k2k3");
    let p = snapstack_engine::Partition::new("000000000000", "us-east-1");
    assert!(
        e.fh.store
            .snapshot()
            .get(&rk::checkpoint(&p, "ks", "shardId-000000000000"))
            .is_some()
    );
}

#[test]
fn an_http_endpoint_gets_the_firehose_request() {
    let e = env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.unwrap();
            String::from_utf8(got).unwrap()
        });
        e.ok(
            "CreateDeliveryStream",
            json!({"DeliveryStreamName": "h", "HttpEndpointDestinationConfiguration": {
                "EndpointConfiguration": {"Url": format!("http://{addr}/in"), "AccessKey": "k3y"},
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
                "RequestConfiguration": {"CommonAttributes": [{"AttributeName": "env", "AttributeValue": "test"}]},
                "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}}}),
        );
        e.advance(crate::CREATING_MS);
        e.ok("PutRecord", json!({"DeliveryStreamName": "h", "Record": {"Data": b64(b"hello")}}));
        assert_eq!(e.fh.deliver_due(&e.rt).await, 1);
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /in HTTP/1.1\r\n"));
        assert!(req.contains("X-Amz-Firehose-Access-Key: k3y\r\n"));
        assert!(req.contains("X-Amz-Firehose-Protocol-Version: 1.0\r\n"));
        assert!(req.contains("X-Amz-Firehose-Source-Arn: arn:aws:firehose:us-east-1:000000000000:deliverystream/h\r\n"));
        assert!(req.contains(r#"X-Amz-Firehose-Common-Attributes: {"commonAttributes":{"env":"test"}}"#));
        let body: Value = serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["records"], json!([{"data": b64(b"hello")}]));
        assert!(body["requestId"].is_string());
        assert!(body["timestamp"].is_number());
    });
    assert_eq!(e.buffered(), 0);
}

#[test]
fn buffered_records_survive_a_save_and_a_load_with_their_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let e = env_with(engine.clone());
    engine.register(e.fh.store.clone()).unwrap();
    e.s3_stream("s", json!({}));
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(b"small,")}}),
    );
    e.ok(
        "PutRecord",
        json!({"DeliveryStreamName": "s", "Record": {"Data": b64(&big)}}),
    );
    for (_, r) in engine.save_all() {
        r.unwrap();
    }
    drop(e);
    drop(engine);
    let engine = Arc::new(Engine::open(dir.path(), EngineOptions::default()).unwrap());
    let e = env_with(engine.clone());
    engine.register(e.fh.store.clone()).unwrap();
    engine.load(crate::NAME).unwrap();
    assert_eq!(e.buffered(), 2);
    e.advance(crate::CREATING_MS + 60_000);
    assert_eq!(e.deliver(), 1);
    let objs = e.rt.objects();
    let body = objs.values().next().unwrap();
    let mut want = b"small,".to_vec();
    want.extend_from_slice(&big);
    assert_eq!(body, &want);
}

#[test]
fn keys_are_described_in_firehose_words() {
    use snapstack_service::Service;
    let e = env();
    let p = snapstack_engine::Partition::new("000000000000", "us-east-1");
    let d = |k| e.fh.describe_key(&k).unwrap();
    assert!(d(rk::stream(&p, "s")).starts_with("delivery stream s "));
    assert!(d(rk::record(&p, "s", 7)).starts_with("buffered record 7 of delivery stream s "));
    assert!(d(rk::checkpoint(&p, "s", "shardId-1")).contains("shardId-1"));
}

proptest::proptest! {
    /// Records survive postcard (the store's encoding) unchanged.
    #[test]
    fn records_round_trip_through_postcard(
        name in "[a-z0-9_.-]{1,64}",
        seq in proptest::prelude::any::<u64>(),
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        config in ".{0,64}",
        tags in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..4),
    ) {
        let recs = [
            FirehoseRecord::Buffered(crate::model::BufRec { seq, arrival_ms: seq / 3, size: data.len() as u64,
                data: crate::model::Data::Inline(data.clone()) }),
            FirehoseRecord::Checkpoint(crate::model::Checkpoint { shard_id: name.clone(), sequence: seq.to_string() }),
            FirehoseRecord::Stream(crate::model::StreamRec {
                name: name.clone(), created_ms: seq, updated_ms: seq, active_ms: seq, deleting_ms: Some(seq),
                version: 3, stream_type: "DirectPut".into(), source: Some(("x".into(), config.clone())),
                destinations: vec![crate::model::Destination { id: "d".into(), kind: "S3".into(), config }],
                encryption: None, tags, next_seq: seq, buffer: crate::model::Buffer { count: 1, ..Default::default() },
                failure: Some(("UNKNOWN_ERROR".into(), name)),
            }),
        ];
        for r in recs {
            let bytes = postcard::to_allocvec(&r).unwrap();
            let back: FirehoseRecord = postcard::from_bytes(&bytes).unwrap();
            proptest::prop_assert_eq!(back, r);
        }
    }
}

#!/usr/bin/env python3
"""Drive a running snapstack's Firehose with boto3, as a user's program would.

Usage: firehose.py ENDPOINT COMMAND [ARGS]...

  suite               every operation: create (S3, HTTP endpoint, Splunk, Kinesis source),
                      describe (CREATING then ACTIVE, version ids, destination descriptions),
                      list, tags, encryption, UpdateDestination (version checked), PutRecord and
                      PutRecordBatch (limits), delete; an HTTP endpoint (a local http.server) that
                      gets Firehose's request JSON and headers
  s3                  an S3 bucket and a stream with a 1 MiB buffer and a short interval: the
                      records put arrive as one object with Firehose's name and prefix, and a
                      GZIP stream's object decompresses to its records (needs S3's invoke)
  prepare-http STATE  before a kill -9: records buffered for an HTTP endpoint whose buffer has
                      not reached its interval
  check-http STATE    after the restart: the endpoint gets them, once
  prepare-s3 STATE    the same for an S3 destination
  check-s3 STATE      after the restart: one object with every record, exactly once
  dynamic             dynamic partitioning into S3: objects under the keys the query extracts
                      (!{partitionKeyFromQuery:...}) with their records; records that are not
                      JSON or lack a key under the error prefix as `partitioning-failed`; and a
                      buffer that reaches its size flushed long before its interval
  prepare-kin STATE   before a kill -9: a Kinesis stream as a delivery stream's source, records
                      delivered into S3, then more records put (read into the buffer or not yet)
  check-kin STATE     after the restart: more records; every record put into Kinesis is in S3
                      exactly once, in order per shard
"""

import base64
import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/firehose"


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CFG,
    )


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver:
    """A local HTTP endpoint recording the POSTs it gets."""

    def __init__(self, port=0):
        got = self.got = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = json.dumps({"requestId": self.headers.get("X-Amz-Firehose-Request-Id"),
                                     "timestamp": int(time.time() * 1000)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/firehose"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self):
        out = []
        for _, body in self.got:
            out.extend(base64.b64decode(r["data"]) for r in json.loads(body)["records"])
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def active(fh, name):
    return wait_for(f"{name} ACTIVE", lambda: fh.describe_delivery_stream(DeliveryStreamName=name)[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")


def s3_config(bucket, **extra):
    c = {"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{bucket}",
         "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}
    c.update(extra)
    return c


def suite():
    fh = client("firehose")
    arn = fh.create_delivery_stream(
        DeliveryStreamName="fh-s3", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=s3_config("bkt", Prefix="data/", CompressionFormat="GZIP"),
        Tags=[{"Key": "team", "Value": "a"}])["DeliveryStreamARN"]
    check(arn == f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/fh-s3", arn)
    d = fh.describe_delivery_stream(DeliveryStreamName="fh-s3")["DeliveryStreamDescription"]
    check(d["DeliveryStreamStatus"] in ("CREATING", "ACTIVE"), d)
    check(d["VersionId"] == "1" and d["HasMoreDestinations"] is False, d)
    dest = d["Destinations"][0]
    check(dest["DestinationId"] == "destinationId-000000000001", dest)
    x = dest["ExtendedS3DestinationDescription"]
    check(x["BucketARN"] == "arn:aws:s3:::bkt" and x["Prefix"] == "data/", x)
    check(x["CompressionFormat"] == "GZIP" and x["S3BackupMode"] == "Disabled", x)
    check(x["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}, x)
    check(dest["S3DestinationDescription"]["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}, dest)
    active(fh, "fh-s3")
    expect_error("ResourceInUseException", fh.create_delivery_stream, DeliveryStreamName="fh-s3",
                 ExtendedS3DestinationConfiguration=s3_config("bkt"))
    expect_error("InvalidArgumentException", fh.create_delivery_stream, DeliveryStreamName="fh-bad",
                 ExtendedS3DestinationConfiguration=s3_config("bkt", Prefix="!{timestamp:yyyy}/"))
    e = expect_error("ResourceNotFoundException", fh.describe_delivery_stream, DeliveryStreamName="nope")
    check(e.response["Error"]["Message"] == f"Firehose nope under account {ACCOUNT} not found.", e.response)

    # Other destinations are stored and described.
    fh.create_delivery_stream(DeliveryStreamName="fh-splunk", SplunkDestinationConfiguration={
        "HECEndpoint": "https://splunk.example:8088", "HECEndpointType": "Raw", "HECToken": "tok",
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}})
    sd = fh.describe_delivery_stream(DeliveryStreamName="fh-splunk")["DeliveryStreamDescription"]
    sp = sd["Destinations"][0]["SplunkDestinationDescription"]
    check(sp["HECEndpoint"] == "https://splunk.example:8088" and sp["S3BackupMode"] == "FailedEventsOnly", sp)
    check(sp["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::backup", sp)

    # A Kinesis source: described, and PutRecord refused.
    fh.create_delivery_stream(
        DeliveryStreamName="fh-kin", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/src", "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_config("bkt"))
    kd = fh.describe_delivery_stream(DeliveryStreamName="fh-kin")["DeliveryStreamDescription"]
    src = kd["Source"]["KinesisStreamSourceDescription"]
    check(src["KinesisStreamARN"].endswith(":stream/src") and "DeliveryStartTimestamp" in src, src)
    active(fh, "fh-kin")
    e = expect_error("InvalidArgumentException", fh.put_record, DeliveryStreamName="fh-kin",
                     Record={"Data": b"x"})
    check("KinesisStreamAsSource" in e.response["Error"]["Message"], e.response)

    # Listing.
    names = fh.list_delivery_streams()["DeliveryStreamNames"]
    check(names == ["fh-kin", "fh-s3", "fh-splunk"], names)
    page = fh.list_delivery_streams(Limit=1, ExclusiveStartDeliveryStreamName="fh-kin")
    check(page["DeliveryStreamNames"] == ["fh-s3"] and page["HasMoreDeliveryStreams"], page)
    kin = fh.list_delivery_streams(DeliveryStreamType="KinesisStreamAsSource")["DeliveryStreamNames"]
    check(kin == ["fh-kin"], kin)

    # Tags.
    fh.tag_delivery_stream(DeliveryStreamName="fh-s3", Tags=[{"Key": "b", "Value": "2"}])
    t = fh.list_tags_for_delivery_stream(DeliveryStreamName="fh-s3")
    check(t["Tags"] == [{"Key": "b", "Value": "2"}, {"Key": "team", "Value": "a"}] and not t["HasMoreTags"], t)
    fh.untag_delivery_stream(DeliveryStreamName="fh-s3", TagKeys=["b"])
    check(fh.list_tags_for_delivery_stream(DeliveryStreamName="fh-s3")["Tags"] == [{"Key": "team", "Value": "a"}], "untag")

    # Encryption.
    fh.start_delivery_stream_encryption(DeliveryStreamName="fh-s3", DeliveryStreamEncryptionConfigurationInput={
        "KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"})
    enc = fh.describe_delivery_stream(DeliveryStreamName="fh-s3")["DeliveryStreamDescription"][
        "DeliveryStreamEncryptionConfiguration"]
    check(enc["Status"] == "ENABLED" and enc["KeyType"] == "CUSTOMER_MANAGED_CMK", enc)
    check(fh.put_record(DeliveryStreamName="fh-s3", Record={"Data": b"enc"})["Encrypted"] is True, "encrypted")
    fh.stop_delivery_stream_encryption(DeliveryStreamName="fh-s3")
    enc = fh.describe_delivery_stream(DeliveryStreamName="fh-s3")["DeliveryStreamDescription"][
        "DeliveryStreamEncryptionConfiguration"]
    check(enc["Status"] == "DISABLED", enc)

    # UpdateDestination.
    e = expect_error("ConcurrentModificationException", fh.update_destination, DeliveryStreamName="fh-s3",
                     CurrentDeliveryStreamVersionId="5", DestinationId="destinationId-000000000001",
                     ExtendedS3DestinationUpdate={"Prefix": "new/"})
    fh.update_destination(DeliveryStreamName="fh-s3", CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          ExtendedS3DestinationUpdate={"Prefix": "new/", "BufferingHints": {"IntervalInSeconds": 30}})
    d = fh.describe_delivery_stream(DeliveryStreamName="fh-s3")["DeliveryStreamDescription"]
    x = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    check(d["VersionId"] == "2" and x["Prefix"] == "new/", d)
    check(x["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 30}, x)

    # Puts and their limits.
    r = fh.put_record(DeliveryStreamName="fh-s3", Record={"Data": b"one"})
    check(len(r["RecordId"]) > 20, r)
    b = fh.put_record_batch(DeliveryStreamName="fh-s3", Records=[{"Data": b"%d" % i} for i in range(500)])
    check(b["FailedPutCount"] == 0 and len(b["RequestResponses"]) == 500, b["FailedPutCount"])
    check(len({x["RecordId"] for x in b["RequestResponses"]}) == 500, "unique ids")
    fh.put_record(DeliveryStreamName="fh-s3", Record={"Data": b"m" * 1_024_000})
    loose = boto3.client("firehose", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                         aws_secret_access_key="test",
                         config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    expect_error("ValidationException", loose.put_record, DeliveryStreamName="fh-s3",
                 Record={"Data": b"m" * 1_024_001})
    expect_error("InvalidArgumentException", fh.put_record_batch, DeliveryStreamName="fh-s3",
                 Records=[{"Data": b"m" * 1_000_000} for _ in range(5)])
    expect_error("ResourceNotFoundException", fh.put_record, DeliveryStreamName="nope", Record={"Data": b"x"})

    # An HTTP endpoint gets Firehose's request.
    rx = Receiver()
    fh.create_delivery_stream(DeliveryStreamName="fh-http", HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": rx.url, "Name": "rx", "AccessKey": "secret-key"},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        "RequestConfiguration": {"ContentEncoding": "NONE",
                                 "CommonAttributes": [{"AttributeName": "env", "AttributeValue": "e2e"}]},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}})
    hd = fh.describe_delivery_stream(DeliveryStreamName="fh-http")["DeliveryStreamDescription"]
    ep = hd["Destinations"][0]["HttpEndpointDestinationDescription"]["EndpointConfiguration"]
    check(ep == {"Url": rx.url, "Name": "rx"}, ep)
    active(fh, "fh-http")
    fh.put_record_batch(DeliveryStreamName="fh-http", Records=[{"Data": b"a"}, {"Data": b"b"}])
    fh.put_record(DeliveryStreamName="fh-http", Record={"Data": b"c"})
    wait_for("the HTTP delivery", lambda: len(rx.records()) >= 3)
    h, body = rx.got[0]
    check(h["x-amz-firehose-access-key"] == "secret-key", h)
    check(h["x-amz-firehose-protocol-version"] == "1.0", h)
    check(h["x-amz-firehose-source-arn"].endswith(":deliverystream/fh-http"), h)
    check(json.loads(h["x-amz-firehose-common-attributes"]) == {"commonAttributes": {"env": "e2e"}}, h)
    req = json.loads(body)
    check(req["requestId"] == h["x-amz-firehose-request-id"] and isinstance(req["timestamp"], int), req)
    check(rx.records() == [b"a", b"b", b"c"], rx.records())
    rx.stop()

    # Delete.
    for n in ["fh-s3", "fh-splunk", "fh-kin", "fh-http"]:
        fh.delete_delivery_stream(DeliveryStreamName=n)
    wait_for("the streams deleted", lambda: fh.list_delivery_streams()["DeliveryStreamNames"] == [])
    expect_error("ResourceNotFoundException", fh.delete_delivery_stream, DeliveryStreamName="fh-s3")
    print("firehose suite ok")


def objects(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def s3_delivery():
    fh, s3 = client("firehose"), client("s3")
    s3.create_bucket(Bucket="fh-out")
    fh.create_delivery_stream(DeliveryStreamName="to-s3", ExtendedS3DestinationConfiguration=s3_config(
        "fh-out", Prefix="plain/", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 2}))
    fh.create_delivery_stream(DeliveryStreamName="to-s3-gz", ExtendedS3DestinationConfiguration=s3_config(
        "fh-out", Prefix="gz/!{timestamp:yyyy}/", ErrorOutputPrefix="err/", CompressionFormat="GZIP",
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 2}))
    active(fh, "to-s3")
    active(fh, "to-s3-gz")
    want = [b"r%03d\n" % i for i in range(50)]
    fh.put_record_batch(DeliveryStreamName="to-s3", Records=[{"Data": d} for d in want[:40]])
    for d in want[40:]:
        fh.put_record(DeliveryStreamName="to-s3", Record={"Data": d})
    fh.put_record_batch(DeliveryStreamName="to-s3-gz", Records=[{"Data": d} for d in want])
    keys = wait_for("the objects", lambda: (lambda k: k if len(k) == 2 else None)(objects(s3, "fh-out")))
    plain = [k for k in keys if k.startswith("plain/")]
    gz = [k for k in keys if k.startswith("gz/")]
    check(len(plain) == 1 and len(gz) == 1, keys)
    # plain/YYYY/MM/DD/HH/to-s3-1-YYYY-MM-DD-HH-MM-SS-<uuid>
    parts = plain[0].split("/")
    check(len(parts) == 6 and parts[5].startswith("to-s3-1-") and len(parts[5]) == len("to-s3-1-") + 19 + 1 + 36,
          plain[0])
    check(gz[0].endswith(".gz") and gz[0].startswith("gz/20"), gz[0])
    body = s3.get_object(Bucket="fh-out", Key=plain[0])["Body"].read()
    check(body == b"".join(want), body[:100])
    body = gzip.decompress(s3.get_object(Bucket="fh-out", Key=gz[0])["Body"].read())
    check(body == b"".join(want), body[:100])
    print("firehose s3 ok")


def prepare_http(state):
    fh = client("firehose")
    rx = Receiver()
    fh.create_delivery_stream(DeliveryStreamName="kill-http", HttpEndpointDestinationConfiguration={
        "EndpointConfiguration": {"Url": rx.url},
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 8},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}})
    active(fh, "kill-http")
    rx.stop()
    fh.put_record_batch(DeliveryStreamName="kill-http", Records=[{"Data": b"h%d" % i} for i in range(10)])
    fh.put_record(DeliveryStreamName="kill-http", Record={"Data": b"last"})
    with open(state, "w") as f:
        json.dump({"port": rx.port, "t": time.time()}, f)


def check_http(state):
    with open(state) as f:
        st = json.load(f)
    rx = Receiver(st["port"])
    want = [b"h%d" % i for i in range(10)] + [b"last"]
    wait_for("the buffered records after the restart", lambda: len(rx.records()) >= len(want))
    time.sleep(3)
    check(rx.records() == want, rx.records())
    check(len(rx.got) == 1, len(rx.got))
    rx.stop()
    print("firehose http across restart ok")


def prepare_s3(state):
    fh, s3 = client("firehose"), client("s3")
    s3.create_bucket(Bucket="fh-kill")
    fh.create_delivery_stream(DeliveryStreamName="kill-s3", ExtendedS3DestinationConfiguration=s3_config(
        "fh-kill", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 8}))
    active(fh, "kill-s3")
    fh.put_record_batch(DeliveryStreamName="kill-s3", Records=[{"Data": b"s%d," % i} for i in range(100)])
    fh.put_record(DeliveryStreamName="kill-s3", Record={"Data": b"big" * 3000})
    check(objects(s3, "fh-kill") == [], "nothing delivered before the interval")
    with open(state, "w") as f:
        json.dump({"t": time.time()}, f)


def check_s3(state):
    s3 = client("s3")
    keys = wait_for("the object after the restart", lambda: objects(s3, "fh-kill"))
    time.sleep(3)
    keys = objects(s3, "fh-kill")
    check(len(keys) == 1, keys)
    body = s3.get_object(Bucket="fh-kill", Key=keys[0])["Body"].read()
    check(body == b"".join(b"s%d," % i for i in range(100)) + b"big" * 3000, body[:100])
    print("firehose s3 across restart ok")


def dynamic():
    fh, s3 = client("firehose"), client("s3")
    s3.create_bucket(Bucket="fh-dyn")
    fh.create_delivery_stream(DeliveryStreamName="dyn", ExtendedS3DestinationConfiguration=s3_config(
        "fh-dyn", Prefix="dyn/customer=!{partitionKeyFromQuery:customer}/region=!{partitionKeyFromQuery:region}/",
        ErrorOutputPrefix="dynerr/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 2},
        DynamicPartitioningConfiguration={"Enabled": True},
        ProcessingConfiguration={"Enabled": True, "Processors": [
            {"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{customer: .customer, region: .meta.region}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}))
    active(fh, "dyn")
    good = [{"customer": c, "meta": {"region": r}, "n": i} for i, (c, r) in enumerate(
        [("c1", "eu"), ("c2", "us"), ("c1", "eu"), ("c1", "us"), ("c2", "us")])]
    bad = [b"not json at all", json.dumps({"customer": "c3", "meta": {}}).encode()]
    records = [json.dumps(g).encode() for g in good[:3]] + [bad[0]] + [json.dumps(g).encode() for g in good[3:]] + [bad[1]]
    fh.put_record_batch(DeliveryStreamName="dyn", Records=[{"Data": d} for d in records])
    keys = wait_for("four objects", lambda: (lambda k: k if len(k) >= 4 else None)(objects(s3, "fh-dyn")))
    time.sleep(1)
    keys = objects(s3, "fh-dyn")
    check(len(keys) == 4, keys)
    by_part = {}
    for k in keys:
        if k.startswith("dyn/"):
            part = "/".join(k.split("/")[1:3])
            check(part not in by_part, (part, keys))
            by_part[part] = s3.get_object(Bucket="fh-dyn", Key=k)["Body"].read()
    want = {}
    for g in good:
        want.setdefault(f"customer={g['customer']}/region={g['meta']['region']}", b"")
        want[f"customer={g['customer']}/region={g['meta']['region']}"] += json.dumps(g).encode()
    check(by_part == want, (by_part, want))
    errs = [k for k in keys if k.startswith("dynerr/")]
    check(len(errs) == 1 and errs[0].startswith("dynerr/partitioning-failed/20"), keys)
    lines = [json.loads(x) for x in s3.get_object(Bucket="fh-dyn", Key=errs[0])["Body"].read().splitlines()]
    check([base64.b64decode(x["rawData"]) for x in lines] == bad, lines)
    check(all(x["errorCode"] == "DynamicPartitioning.MetadataExtractionFailed" for x in lines), lines)
    check("region" in lines[1]["errorMessage"], lines[1])

    # A buffer that reaches its size (1 MiB) is delivered at once, its interval (900 s) aside.
    fh.create_delivery_stream(DeliveryStreamName="sized", ExtendedS3DestinationConfiguration=s3_config(
        "fh-dyn", Prefix="sized/", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900}))
    active(fh, "sized")
    chunks = [bytes([65 + i]) * (300 * 1024) for i in range(4)]
    fh.put_record_batch(DeliveryStreamName="sized", Records=[{"Data": c} for c in chunks[:2]])
    time.sleep(2)
    check([k for k in objects(s3, "fh-dyn") if k.startswith("sized/")] == [], "flushed under its size")
    fh.put_record_batch(DeliveryStreamName="sized", Records=[{"Data": c} for c in chunks[2:]])
    sized = wait_for("the size-triggered object", lambda: [k for k in objects(s3, "fh-dyn") if k.startswith("sized/")],
                     timeout=60)
    body = s3.get_object(Bucket="fh-dyn", Key=sized[0])["Body"].read()
    check(len(sized) == 1 and body == b"".join(chunks[:3]), (sized, len(body)))
    print("firehose dynamic partitioning and size flush ok")


def kin_records(fh_name, start, n):
    return [(f"pk-{i % 7}", f"{fh_name}:{i};".encode()) for i in range(start, start + n)]


def prepare_kin(state):
    fh, s3, k = client("firehose"), client("s3"), client("kinesis")
    s3.create_bucket(Bucket="fh-kin-out")
    k.create_stream(StreamName="src", ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName="src", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    fh.create_delivery_stream(
        DeliveryStreamName="from-kin", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/src", "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=s3_config(
            "fh-kin-out", Prefix="kin/", BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 3}))
    active(fh, "from-kin")
    acked = []

    def put(start, n):
        recs = kin_records("k", start, n)
        r = k.put_records(StreamName="src", Records=[{"PartitionKey": p, "Data": d} for p, d in recs])
        check(r["FailedRecordCount"] == 0, r)
        acked.extend({"shard": x["ShardId"], "seq": x["SequenceNumber"], "data": d.decode()}
                     for (_, d), x in zip(recs, r["Records"]))

    put(0, 100)
    wait_for("the first records in S3", lambda: objects(s3, "fh-kin-out"))
    put(100, 100)
    # Killed within the buffer's interval: these records are in the buffer or still in Kinesis.
    with open(state, "w") as f:
        json.dump({"acked": acked}, f)
    print("kinesis -> firehose prepared")


def check_kin(state):
    with open(state) as f:
        acked = json.load(f)["acked"]
    s3, k = client("s3"), client("kinesis")
    recs = kin_records("k", 200, 50)
    r = k.put_records(StreamName="src", Records=[{"PartitionKey": p, "Data": d} for p, d in recs])
    check(r["FailedRecordCount"] == 0, r)
    acked += [{"shard": x["ShardId"], "seq": x["SequenceNumber"], "data": d.decode()}
              for (_, d), x in zip(recs, r["Records"])]
    want = sorted(a["data"] for a in acked)

    def objects_records():
        out = []
        for key in objects(s3, "fh-kin-out"):
            body = s3.get_object(Bucket="fh-kin-out", Key=key)["Body"].read().decode()
            out.append([x + ";" for x in body.split(";") if x])
        return out

    wait_for("every record in S3", lambda: sum(map(len, objects_records())) >= len(want))
    time.sleep(4)
    objs = objects_records()
    got = [x for o in objs for x in o]
    check(sorted(got) == want, f"delivered {len(got)} records ({len(set(got))} distinct), put {len(want)}")
    # In order per shard within each object.
    seq = {a["data"]: (a["shard"], a["seq"]) for a in acked}
    for o in objs:
        for shard in {seq[d][0] for d in o}:
            mine = [seq[d][1] for d in o if seq[d][0] == shard]
            check(mine == sorted(mine), f"{shard} out of order in an object")
    print("kinesis -> firehose -> s3 across restart ok:", len(got), "records")


COMMANDS = {
    "suite": (suite, 0),
    "s3": (s3_delivery, 0),
    "prepare-http": (prepare_http, 1),
    "check-http": (check_http, 1),
    "prepare-s3": (prepare_s3, 1),
    "check-s3": (check_s3, 1),
    "dynamic": (dynamic, 0),
    "prepare-kin": (prepare_kin, 1),
    "check-kin": (check_kin, 1),
}

run_commands(COMMANDS, ARGS)

#!/usr/bin/env python3
"""Drive a running snapstack's DynamoDB Streams, its Lambda triggers and Firehose's Lambda
processing with boto3, as a user's program would.

Usage: streams.py ENDPOINT COMMAND [ARGS]...

  prepare STATE   a table with NEW_AND_OLD_IMAGES, writes of every kind (PutItem, UpdateItem,
                  DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL), the stream read
                  whole; the records and two iterators (TRIM_HORIZON and one in the middle)
                  saved to STATE; a Lambda function mapped to the stream (TRIM_HORIZON) that
                  copies each change into table `sink`, waited for
  check STATE     after a restart: the same records with the same sequence numbers, the
                  iterators from before still read from where they were, new writes continue
                  the sequence, the mapping resumes after its checkpoint (every change in `sink`
                  once), DescribeStream / ListStreams, and an iterator that expires (the server
                  runs with SNAPSTACK_DYNAMODBSTREAMS_ITERATOR_SECONDS=20)
  views           a table for each of KEYS_ONLY, NEW_IMAGE and OLD_IMAGE: an insert, a
                  modify and a remove read from its stream carry the keys and exactly the images
                  the view type names
  firehose        Firehose into S3 through a Lambda processor that upper-cases records, drops
                  some and fails some: the object holds the Ok records' new data, the error
                  prefix the failed ones as Firehose's JSON lines
"""

import base64
import io
import json
import sys
import time
import zipfile

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda"


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=CFG)


DDB = client("dynamodb")
STREAMS = client("dynamodbstreams")
LAM = client("lambda")


def wait_for(what, cond, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


SINK = """
import boto3
def handler(event, context):
    ddb = boto3.client("dynamodb")
    for r in event["Records"]:
        assert r["eventSource"] == "aws:dynamodb" and r["eventSourceARN"].endswith(r["eventSourceARN"].split("/stream/")[1])
        seq = r["dynamodb"]["SequenceNumber"]
        item = {"seq": {"S": seq}, "name": {"S": r["eventName"]}, "pk": r["dynamodb"]["Keys"]["pk"]}
        # Each change is stored once: a repeated delivery would fail the condition.
        ddb.put_item(TableName="sink", Item=item, ConditionExpression="attribute_not_exists(seq)")
    return {}
"""

TRANSFORM = """
import base64
def handler(event, context):
    out = []
    for r in event["records"]:
        text = base64.b64decode(r["data"]).decode()
        if text.startswith("drop"):
            out.append({"recordId": r["recordId"], "result": "Dropped"})
        elif text.startswith("fail"):
            out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
        else:
            out.append({"recordId": r["recordId"], "result": "Ok",
                        "data": base64.b64encode(text.upper().encode()).decode()})
    return {"records": out}
"""


def table_writes():
    DDB.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    DDB.put_item(TableName="orders", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    DDB.update_item(TableName="orders", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = n + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    DDB.batch_write_item(RequestItems={"orders": [
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "bin": {"B": b"\x00\x01"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "c"}, "l": {"L": [{"S": "x"}]}}}}]})
    DDB.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "d"}}}},
        {"Delete": {"TableName": "orders", "Key": {"pk": {"S": "c"}}}}])
    DDB.execute_statement(Statement="UPDATE orders SET n = 9 WHERE pk = 'd'")
    DDB.delete_item(TableName="orders", Key={"pk": {"S": "b"}})
    return ["INSERT", "MODIFY", "INSERT", "INSERT", "INSERT", "REMOVE", "MODIFY", "REMOVE"]


def stream_arn():
    t = DDB.describe_table(TableName="orders")["Table"]
    check(t["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, t)
    check(t["LatestStreamArn"].endswith("/stream/" + t["LatestStreamLabel"]), t)
    return t["LatestStreamArn"]


def shard_of(arn):
    d = STREAMS.describe_stream(StreamArn=arn)["StreamDescription"]
    check(d["StreamStatus"] == "ENABLED" and d["TableName"] == "orders", d)
    check(d["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}], d)
    check(len(d["Shards"]) == 1 and "StartingSequenceNumber" in d["Shards"][0]["SequenceNumberRange"], d)
    return d["Shards"][0]["ShardId"]


def iterator(arn, shard, kind, seq=None):
    kw = {"SequenceNumber": seq} if seq else {}
    return STREAMS.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **kw)["ShardIterator"]


def read(it, limit=None):
    kw = {"Limit": limit} if limit else {}
    r = STREAMS.get_records(ShardIterator=it, **kw)
    return r["Records"], r.get("NextShardIterator")


def plain(records):
    """Records as JSON-comparable values (datetimes and bytes made text)."""
    return json.loads(json.dumps(records, default=str, sort_keys=True))


def sink_count():
    return DDB.scan(TableName="sink", Select="COUNT")["Count"]


def prepare(state):
    DDB.create_table(TableName="sink", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "seq", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "seq", "KeyType": "HASH"}])
    names = table_writes()
    arn = stream_arn()
    shard = shard_of(arn)
    records, _ = read(iterator(arn, shard, "TRIM_HORIZON"))
    check([r["eventName"] for r in records] == names, [r["eventName"] for r in records])
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    check(seqs == sorted(seqs, key=int) and len(set(seqs)) == len(seqs), seqs)
    r0, r1 = records[0], records[1]
    check(r0["eventSource"] == "aws:dynamodb" and r0["eventVersion"] == "1.1" and r0["awsRegion"] == "us-east-1", r0)
    check(r0["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "n": {"N": "1"}} and "OldImage" not in r0["dynamodb"], r0)
    check(r1["dynamodb"]["OldImage"]["n"] == {"N": "1"} and r1["dynamodb"]["NewImage"]["n"] == {"N": "2"}, r1)
    check(r1["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" and r1["dynamodb"]["SizeBytes"] > 0, r1)
    check(records[2]["dynamodb"]["NewImage"]["bin"] == {"B": b"\x00\x01"}, records[2])
    check(records[7]["dynamodb"]["OldImage"]["pk"] == {"S": "b"} and "NewImage" not in records[7]["dynamodb"], records[7])
    # Pages: 3 then the rest, through NextShardIterator.
    page, nxt = read(iterator(arn, shard, "TRIM_HORIZON"), limit=3)
    rest, _ = read(nxt)
    check(plain(page + rest) == plain(records), "pages read the same records")
    fn = LAM.create_function(FunctionName="sink", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                             Code={"ZipFile": zip_of({"index.py": SINK})}, Timeout=30)
    m = LAM.create_event_source_mapping(FunctionName="sink", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                        BatchSize=3)
    check(m["StartingPosition"] == "TRIM_HORIZON" and m["BatchSize"] == 3, m)
    check(m["EventSourceArn"] == arn and m["FunctionArn"] == fn["FunctionArn"], m)
    expect_error("ResourceConflictException", LAM.create_event_source_mapping, FunctionName="sink",
                 EventSourceArn=arn, StartingPosition="LATEST")
    expect_error("InvalidParameterValueException", LAM.create_event_source_mapping, FunctionName="sink",
                 EventSourceArn=arn.replace("orders", "other"))
    wait_for("the function to copy every change", lambda: sink_count() == len(records))
    # The checkpoint is written (and made durable) right after the function returns.
    wait_for("the checkpoint", lambda: LAM.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "OK")
    time.sleep(1)
    # Iterators issued just before the kill.
    middle = iterator(arn, shard, "AFTER_SEQUENCE_NUMBER", seqs[3])
    with open(state, "w") as f:
        json.dump({"arn": arn, "shard": shard, "records": plain(records), "seqs": seqs,
                   "trim": iterator(arn, shard, "TRIM_HORIZON"), "middle": middle,
                   "mapping": m["UUID"]}, f)
    print(f"prepare: {len(records)} stream records, the trigger copied them all")


def check_after(state):
    with open(state) as f:
        s = json.load(f)
    arn, shard = s["arn"], s["shard"]
    check(stream_arn() == arn and shard_of(arn) == shard, "the same stream and shard")
    # The iterators issued before the restart read from where they were.
    again, nxt = read(s["trim"])
    check(plain(again) == s["records"], "the same records with the same sequence numbers")
    after, _ = read(s["middle"])
    check([r["dynamodb"]["SequenceNumber"] for r in after] == s["seqs"][4:], after)
    # New writes continue the sequence.
    DDB.put_item(TableName="orders", Item={"pk": {"S": "z"}})
    new, _ = read(nxt)
    check(len(new) == 1 and int(new[0]["dynamodb"]["SequenceNumber"]) > int(s["seqs"][-1]), new)
    # The mapping resumes after its checkpoint: the new change arrives, nothing twice.
    wait_for("the trigger to copy the new change", lambda: sink_count() == len(s["seqs"]) + 1)
    time.sleep(2)
    check(sink_count() == len(s["seqs"]) + 1, "no change delivered twice")
    m = LAM.get_event_source_mapping(UUID=s["mapping"])
    check(m["StartingPosition"] == "TRIM_HORIZON" and m["LastProcessingResult"] == "OK", m)
    streams = STREAMS.list_streams(TableName="orders")["Streams"]
    check([x["StreamArn"] for x in streams] == [arn], streams)
    # Errors as AWS gives them.
    expect_error("ResourceNotFoundException", STREAMS.describe_stream, StreamArn=arn.replace("orders", "nope"))
    expect_error("ResourceNotFoundException", STREAMS.get_shard_iterator, StreamArn=arn,
                 ShardId="shardId-00000000000000000000-00000000", ShardIteratorType="LATEST")
    # Disabling closes the stream; enabling opens a new one.
    DDB.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
    d = STREAMS.describe_stream(StreamArn=arn)["StreamDescription"]
    check(d["StreamStatus"] == "DISABLED" and "EndingSequenceNumber" in d["Shards"][0]["SequenceNumberRange"], d)
    DDB.update_table(TableName="orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    check(stream_arn_any() != arn, "a new stream")
    # An iterator expires (20 s on this server).
    it = iterator(arn, shard, "TRIM_HORIZON")
    time.sleep(21.5)
    expect_error("ExpiredIteratorException", STREAMS.get_records, ShardIterator=it)
    print("check: same records and sequence numbers, old iterators valid, trigger resumed once")


def views():
    # What each view type carries for (INSERT, MODIFY, REMOVE): the images present.
    want = {
        "KEYS_ONLY": [set(), set(), set()],
        "NEW_IMAGE": [{"NewImage"}, {"NewImage"}, set()],
        "OLD_IMAGE": [set(), {"OldImage"}, {"OldImage"}],
    }
    for view, images in want.items():
        table = "view-" + view.lower().replace("_", "-")
        DDB.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
        DDB.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"N": "1"}})
        DDB.update_item(TableName=table, Key={"pk": {"S": "k"}}, UpdateExpression="SET v = :two",
                        ExpressionAttributeValues={":two": {"N": "2"}})
        DDB.delete_item(TableName=table, Key={"pk": {"S": "k"}})
        arn = DDB.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        d = STREAMS.describe_stream(StreamArn=arn)["StreamDescription"]
        check(d["StreamViewType"] == view, d)
        it = STREAMS.get_shard_iterator(StreamArn=arn, ShardId=d["Shards"][0]["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = STREAMS.get_records(ShardIterator=it)["Records"]
        check([r["eventName"] for r in recs] == ["INSERT", "MODIFY", "REMOVE"], recs)
        values = {"NewImage": [{"pk": {"S": "k"}, "v": {"N": "1"}}, {"pk": {"S": "k"}, "v": {"N": "2"}}, None],
                  "OldImage": [None, {"pk": {"S": "k"}, "v": {"N": "1"}}, {"pk": {"S": "k"}, "v": {"N": "2"}}]}
        for i, (r, has) in enumerate(zip(recs, images)):
            ddb = r["dynamodb"]
            check(ddb["StreamViewType"] == view and ddb["Keys"] == {"pk": {"S": "k"}}, (view, ddb))
            check({k for k in ("NewImage", "OldImage") if k in ddb} == has, (view, r["eventName"], ddb))
            for k in has:
                check(ddb[k] == values[k][i], (view, k, ddb[k]))
    print("views: KEYS_ONLY, NEW_IMAGE and OLD_IMAGE carry what they name")


def stream_arn_any():
    return DDB.describe_table(TableName="orders")["Table"]["LatestStreamArn"]


def firehose():
    s3 = client("s3")
    fh = client("firehose")
    s3.create_bucket(Bucket="processed")
    fn = LAM.create_function(FunctionName="transform", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                             Code={"ZipFile": zip_of({"index.py": TRANSFORM})}, Timeout=30)
    fh.create_delivery_stream(
        DeliveryStreamName="proc", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::processed", "Prefix": "ok/",
            "ErrorOutputPrefix": "err/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                {"ParameterName": "LambdaArn", "ParameterValue": fn["FunctionArn"]},
                {"ParameterName": "NumberOfRetries", "ParameterValue": "1"}]}]}})
    wait_for("the stream to be active", lambda: fh.describe_delivery_stream(DeliveryStreamName="proc")[
        "DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE")
    data = ["one\n", "drop-me\n", "two\n", "fail-me\n", "three\n"]
    fh.put_record_batch(DeliveryStreamName="proc", Records=[{"Data": d.encode()} for d in data])
    # 1 MiB of records fills the buffer: the flush goes out without waiting for the interval.
    big = "x" * 1000 + "\n"
    fh.put_record_batch(DeliveryStreamName="proc", Records=[{"Data": big.encode()}] * 500)
    fh.put_record_batch(DeliveryStreamName="proc", Records=[{"Data": big.encode()}] * 500)
    fh.put_record_batch(DeliveryStreamName="proc", Records=[{"Data": big.encode()}] * 100)

    def objects(prefix):
        return [o["Key"] for o in s3.list_objects_v2(Bucket="processed", Prefix=prefix).get("Contents", [])]

    oks = wait_for("the processed object", lambda: objects("ok/"), timeout=120)
    body = b"".join(s3.get_object(Bucket="processed", Key=k)["Body"].read() for k in oks).decode()
    check(body.startswith("ONE\nTWO\nTHREE\n" + "X" * 1000 + "\n"), body[:100])
    check("drop" not in body.lower() and "fail" not in body.lower(), "dropped and failed records are not delivered")
    errs = wait_for("the processing-failed object", lambda: objects("err/processing-failed/"))
    lines = [json.loads(x) for x in s3.get_object(Bucket="processed", Key=errs[0])["Body"].read().splitlines()]
    check(len(lines) == 1, lines)
    check(lines[0]["errorCode"] == "Lambda.ProcessingFailedStatus", lines[0])
    check(base64.b64decode(lines[0]["rawData"]) == b"fail-me\n" and lines[0]["lambdaArn"] == fn["FunctionArn"], lines[0])
    print(f"firehose: {len(oks)} processed object(s), {len(errs)} error object(s)")


run_commands({"prepare": (prepare, 1), "check": (check_after, 1), "firehose": (firehose, 0),
              "views": (views, 0)}, ARGS)

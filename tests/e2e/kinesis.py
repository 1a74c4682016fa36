#!/usr/bin/env python3
"""Drive a running snapstack's Kinesis with boto3, as a producer and a consumer would.

Usage: kinesis.py ENDPOINT COMMAND [ARGS]...

  suite          every implemented operation: streams (provisioned, on demand), PutRecord /
                 PutRecords (500 records, a 1 MiB record, the limits), every iterator type,
                 GetRecords, resharding (split, merge, UpdateShardCount) with lineage and child
                 shards, ListShards filters and paging, retention, encryption, monitoring, modes,
                 tags, policies, consumers and SubscribeToShard's event stream, account
                 settings, AWS's errors, and an expired
                 iterator (the server runs with SNAPSTACK_KINESIS_ITERATOR_SECONDS=5 and
                 SNAPSTACK_KINESIS_THROTTLE=0)
  produce STATE  before a kill -9 (ON_REQUEST): a stream, iterators issued on every shard, then
                 a producer's records (some large) with a split in the middle; every acknowledged
                 record and the iterators written to STATE; a second stream resharded from 6
                 shards to 3 by UpdateShardCount between two rounds of records
  consume STATE  after the restart: the iterators issued before the kill read every acknowledged
                 record exactly once, in order per shard, following the split to the children;
                 new records get larger sequence numbers; the 6 -> 3 stream read as the KCL
                 does (a shard after all its parents) gives every partition key's records in
                 the order they were written
  throttle       under AWS's throttling (the default): a provisioned shard takes 1 MiB a second,
                 PutRecords fails the records past it (ProvisionedThroughputExceededException)
                 and PutRecord raises it; refused records are not stored; an on-demand stream
                 is not held to a shard's rate
  retention      with SNAPSTACK_KINESIS_HOUR_SECONDS=0.5 (a 24-hour retention of 12 s): a
                 record is read, then, once past retention, neither a new iterator nor one
                 issued before reads it (before the minute's sweep)
"""

import base64
import hashlib
import json
import sys
import time

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
MAX_HASH = 2**128 - 1


def client():
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CFG,
    )


def msg(e):
    return e.response["Error"]["Message"]


def arn_of(name):
    return f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}"


def iterator(k, stream, shard, kind, **kw):
    return k.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType=kind, **kw)["ShardIterator"]


def drain(k, it, limit=None):
    """Read a shard from an iterator to its end (or its tip): the records, and the last answer."""
    out = []
    while True:
        kw = {"Limit": limit} if limit else {}
        r = k.get_records(ShardIterator=it, **kw)
        out.extend(r["Records"])
        nxt = r.get("NextShardIterator")
        if nxt is None or (not r["Records"] and r["MillisBehindLatest"] == 0):
            return out, r
        it = nxt


def shard_of(shards, key):
    h = int(hashlib.md5(key.encode()).hexdigest(), 16)
    for s in shards:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]) and "EndingSequenceNumber" not in s["SequenceNumberRange"]:
            return s["ShardId"]
    raise AssertionError(f"no open shard for {key}")


def suite():
    k = client()
    # Streams.
    k.create_stream(StreamName="s1", ShardCount=3)
    k.get_waiter("stream_exists").wait(StreamName="s1", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    e = expect_error("ResourceInUseException", k.create_stream, StreamName="s1", ShardCount=1)
    check(msg(e) == f"Stream s1 under account {ACCOUNT} already exists.", msg(e))
    d = k.describe_stream(StreamName="s1")["StreamDescription"]
    check(d["StreamStatus"] == "ACTIVE" and len(d["Shards"]) == 3 and not d["HasMoreShards"], d)
    check(d["StreamARN"] == arn_of("s1") and d["RetentionPeriodHours"] == 24, d)
    check(d["Shards"][0]["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(2**128 // 3 - 1)}, d["Shards"][0])
    check(d["Shards"][2]["HashKeyRange"]["EndingHashKey"] == str(MAX_HASH), d["Shards"][2])
    check(len(d["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"]) == 56, d["Shards"][0])
    k.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summ = k.describe_stream_summary(StreamARN=arn_of("od"))["StreamDescriptionSummary"]
    check(summ["OpenShardCount"] == 4 and summ["StreamModeDetails"]["StreamMode"] == "ON_DEMAND", summ)
    ls = k.list_streams(Limit=1)
    check(ls["StreamNames"] == ["od"] and ls["HasMoreStreams"], ls)
    ls = k.list_streams(NextToken=ls["NextToken"])
    check(ls["StreamNames"] == ["s1"] and ls["StreamSummaries"][0]["StreamARN"] == arn_of("s1"), ls)
    names = [n for page in k.get_paginator("list_streams").paginate() for n in page["StreamNames"]]
    check(names == ["od", "s1"], names)
    lim = k.describe_limits()
    check(lim["OpenShardCount"] == 7 and lim["OnDemandStreamCount"] == 1, lim)
    e = expect_error("ResourceNotFoundException", k.describe_stream, StreamName="nope")
    check(msg(e) == f"Stream nope under account {ACCOUNT} not found.", msg(e))
    e = expect_error("ValidationException", k.create_stream, StreamName="bad name!", ShardCount=1)

    # Records: partition key -> MD5 -> shard; sequence numbers increase per shard.
    shards = k.list_shards(StreamName="s1")["Shards"]
    acked = {}
    for i in range(30):
        r = k.put_record(StreamName="s1", PartitionKey=f"pk{i}", Data=f"r{i}".encode())
        check(r["ShardId"] == shard_of(shards, f"pk{i}"), (i, r))
        acked.setdefault(r["ShardId"], []).append(r["SequenceNumber"])
    for seqs in acked.values():
        check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs)
    r = k.put_record(StreamName="s1", PartitionKey="x", Data=b"top", ExplicitHashKey=str(MAX_HASH))
    check(r["ShardId"] == "shardId-000000000002", r)
    e = expect_error("InvalidArgumentException", k.put_record, StreamName="s1", PartitionKey="x", Data=b"x",
                     ExplicitHashKey=str(2**128))
    check(msg(e).startswith("Invalid ExplicitHashKey."), msg(e))
    # PutRecords: 500 records; more is refused; a 1 MiB record; over 1 MiB and over 5 MiB refused.
    batch = [{"PartitionKey": f"b{i}", "Data": f"batch-{i}".encode()} for i in range(500)]
    r = k.put_records(StreamName="s1", Records=batch)
    check(r["FailedRecordCount"] == 0 and len(r["Records"]) == 500, r["FailedRecordCount"])
    check(all("SequenceNumber" in x and "ShardId" in x for x in r["Records"]), "every record acknowledged")
    loose = boto3.client("kinesis", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                         aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    expect_error("ValidationException", loose.put_records, StreamName="s1",
                 Records=[{"PartitionKey": "k", "Data": b"x"}] * 501)
    big = bytes(range(256)) * 4096  # 1 MiB
    r = k.put_record(StreamName="s1", PartitionKey="m", Data=big[:-1], ExplicitHashKey="0")
    big_seq = r["SequenceNumber"]
    check(r["ShardId"] == "shardId-000000000000", r)
    e = expect_error("ValidationException", k.put_record, StreamName="s1", PartitionKey="m", Data=big + b"x")
    check("1048576" in msg(e), msg(e))
    e = expect_error("InvalidArgumentException", k.put_records, StreamName="s1",
                     Records=[{"PartitionKey": "m", "Data": big[:-1]}] * 6)
    got = k.get_records(ShardIterator=iterator(k, "s1", "shardId-000000000000", "AT_SEQUENCE_NUMBER",
                                               StartingSequenceNumber=big_seq))["Records"]
    check(got[0]["Data"] == big[:-1] and got[0]["SequenceNumber"] == big_seq, len(got))

    # Iterator types and GetRecords.
    sh = "shardId-000000000001"
    latest = iterator(k, "s1", sh, "LATEST")
    t0 = time.time()
    seqs = [k.put_record(StreamName="s1", PartitionKey="p", Data=f"L{i}".encode(), ExplicitHashKey=str(2**128 // 2))["SequenceNumber"]
            for i in range(5)]
    recs, last = drain(k, latest)
    check([x["Data"] for x in recs] == [f"L{i}".encode() for i in range(5)], recs)
    check(last["MillisBehindLatest"] == 0, last)
    check(abs(recs[0]["ApproximateArrivalTimestamp"].timestamp() - t0) < 60, recs[0])
    recs, _ = drain(k, iterator(k, "s1", sh, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[1]))
    check([x["SequenceNumber"] for x in recs] == seqs[2:], recs)
    all_recs, _ = drain(k, iterator(k, "s1", sh, "TRIM_HORIZON"), limit=7)
    check([x["SequenceNumber"] for x in all_recs][-5:] == seqs, "trim horizon reads everything")
    at = iterator(k, "s1", sh, "AT_TIMESTAMP", Timestamp=recs[0]["ApproximateArrivalTimestamp"])
    recs2, _ = drain(k, at)
    check(seqs[2] in [x["SequenceNumber"] for x in recs2], recs2)
    page = k.get_records(ShardIterator=iterator(k, "s1", sh, "TRIM_HORIZON"), Limit=2)
    check(len(page["Records"]) == 2 and page["MillisBehindLatest"] >= 0, page)
    # A page that stops before the tip is behind it by the next record's age (polled: the age
    # grows with the clock).
    for _ in range(200):
        page = k.get_records(ShardIterator=iterator(k, "s1", sh, "TRIM_HORIZON"), Limit=1)
        if page["MillisBehindLatest"] > 0:
            break
        time.sleep(0.01)
    check(page["MillisBehindLatest"] > 0, page)
    e = expect_error("InvalidArgumentException", k.get_shard_iterator, StreamName="s1", ShardId=sh,
                     ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=big_seq)
    check("It encodes shardId-000000000000" in msg(e), msg(e))
    e = expect_error("ResourceNotFoundException", k.get_shard_iterator, StreamName="s1",
                     ShardId="shardId-000000000099", ShardIteratorType="LATEST")
    check(msg(e) == f"Shard shardId-000000000099 in stream s1 under account {ACCOUNT} does not exist", msg(e))
    expect_error("InvalidArgumentException", k.get_records, ShardIterator="bm90IGFuIGl0ZXJhdG9y")

    # An expired iterator (this server's iterators live 5 seconds).
    old = iterator(k, "s1", sh, "TRIM_HORIZON")
    time.sleep(6.5)
    e = expect_error("ExpiredIteratorException", k.get_records, ShardIterator=old)
    check(msg(e).startswith("Iterator expired. The iterator was created at time "), msg(e))

    # Resharding: split, merge, UpdateShardCount, with lineage and child shards.
    k.create_stream(StreamName="rs", ShardCount=2)
    k.put_record(StreamName="rs", PartitionKey="k", Data=b"before", ExplicitHashKey="1")
    e = expect_error("InvalidArgumentException", k.split_shard, StreamName="rs", ShardToSplit="shardId-000000000000",
                     NewStartingHashKey="1")
    mid = str(2**126)
    k.split_shard(StreamName="rs", ShardToSplit="shardId-000000000000", NewStartingHashKey=mid)
    shards = k.list_shards(StreamName="rs")["Shards"]
    check(len(shards) == 4 and "EndingSequenceNumber" in shards[0]["SequenceNumberRange"], shards)
    check(shards[2]["ParentShardId"] == shards[3]["ParentShardId"] == "shardId-000000000000", shards)
    check(shards[3]["HashKeyRange"]["StartingHashKey"] == mid, shards[3])
    expect_error("ResourceInUseException", k.split_shard, StreamName="rs", ShardToSplit="shardId-000000000000",
                 NewStartingHashKey=mid)
    recs, last = drain(k, iterator(k, "rs", "shardId-000000000000", "TRIM_HORIZON"))
    check([x["Data"] for x in recs] == [b"before"], recs)
    check("NextShardIterator" not in last and len(last["ChildShards"]) == 2, last)
    check(last["ChildShards"][0]["ParentShards"] == ["shardId-000000000000"], last["ChildShards"])
    e = expect_error("InvalidArgumentException", k.merge_shards, StreamName="rs", ShardToMerge="shardId-000000000002",
                     AdjacentShardToMerge="shardId-000000000001")
    check("are not an adjacent pair of shards eligible for merging" in msg(e), msg(e))
    k.merge_shards(StreamName="rs", ShardToMerge="shardId-000000000002", AdjacentShardToMerge="shardId-000000000003")
    open_ = k.list_shards(StreamName="rs", ShardFilter={"Type": "AT_LATEST"})["Shards"]
    check([s["ShardId"] for s in open_] == ["shardId-000000000001", "shardId-000000000004"], open_)
    check(open_[1]["ParentShardId"] == "shardId-000000000002" and open_[1]["AdjacentParentShardId"] == "shardId-000000000003", open_[1])
    r = k.update_shard_count(StreamName="rs", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    check(r["CurrentShardCount"] == 2 and r["TargetShardCount"] == 4, r)
    expect_error("LimitExceededException", k.update_shard_count, StreamName="rs", TargetShardCount=9,
                 ScalingType="UNIFORM_SCALING")
    open_ = k.list_shards(StreamName="rs", ShardFilter={"Type": "AT_LATEST"})["Shards"]
    check(len(open_) == 4 and all("ParentShardId" in s for s in open_), open_)
    p1 = k.list_shards(StreamName="rs", MaxResults=3)
    p2 = k.list_shards(NextToken=p1["NextToken"])
    check(len(p1["Shards"]) == 3 and len(p2["Shards"]) == 6 and "NextToken" not in p2, p2)
    e = expect_error("InvalidArgumentException", k.list_shards, StreamName="rs", NextToken=p1["NextToken"])
    check(msg(e) == "NextToken and StreamName cannot be provided together.", msg(e))
    after = k.list_shards(StreamName="rs", ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000006"})
    check([s["ShardId"] for s in after["Shards"]] == ["shardId-000000000007", "shardId-000000000008"], after)
    check(len(k.list_shards(StreamName="rs", ShardFilter={"Type": "FROM_TRIM_HORIZON"})["Shards"]) == 9, "all")

    # Retention, encryption, monitoring, modes, record size.
    k.increase_stream_retention_period(StreamName="s1", RetentionPeriodHours=48)
    e = expect_error("InvalidArgumentException", k.increase_stream_retention_period, StreamName="s1", RetentionPeriodHours=30)
    check("can not be shorter than existing retention period (48 hours)" in msg(e), msg(e))
    k.decrease_stream_retention_period(StreamName="s1", RetentionPeriodHours=24)
    e = expect_error("InvalidArgumentException", k.decrease_stream_retention_period, StreamName="s1", RetentionPeriodHours=12)
    check(msg(e).startswith("Minimum allowed retention period is 24 hours."), msg(e))
    k.start_stream_encryption(StreamName="s1", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    r = k.put_record(StreamName="s1", PartitionKey="e", Data=b"enc")
    check(r["EncryptionType"] == "KMS", r)
    d = k.describe_stream(StreamName="s1")["StreamDescription"]
    check(d["EncryptionType"] == "KMS" and d["KeyId"] == "alias/aws/kinesis", d)
    k.stop_stream_encryption(StreamName="s1", EncryptionType="KMS", KeyId="alias/aws/kinesis")
    m = k.enable_enhanced_monitoring(StreamName="s1", ShardLevelMetrics=["IncomingBytes", "OutgoingRecords"])
    check(m["DesiredShardLevelMetrics"] == ["IncomingBytes", "OutgoingRecords"], m)
    m = k.disable_enhanced_monitoring(StreamName="s1", ShardLevelMetrics=["IncomingBytes"])
    check(m["CurrentShardLevelMetrics"] == ["IncomingBytes", "OutgoingRecords"], m)
    check(m["DesiredShardLevelMetrics"] == ["OutgoingRecords"], m)
    k.update_stream_mode(StreamARN=arn_of("od"), StreamModeDetails={"StreamMode": "PROVISIONED"})
    check(k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]["StreamModeDetails"]["StreamMode"] == "PROVISIONED", "mode")
    k.update_max_record_size(StreamARN=arn_of("od"), MaxRecordSizeInKiB=2048)
    check(k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] == 2048, "size")
    k.update_stream_mode(StreamARN=arn_of("od"), StreamModeDetails={"StreamMode": "ON_DEMAND"})
    w = k.update_stream_warm_throughput(StreamName="od", WarmThroughputMiBps=10)
    check(w["WarmThroughput"]["TargetMiBps"] == 10, w)
    a = k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
    check(a["MinimumThroughputBillingCommitment"]["Status"] == "ENABLED", a)
    check(k.describe_account_settings()["MinimumThroughputBillingCommitment"]["Status"] == "ENABLED", "account")

    # Tags and resource policies.
    k.add_tags_to_stream(StreamName="s1", Tags={"team": "data", "env": "dev"})
    t = k.list_tags_for_stream(StreamName="s1")
    check(t["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "data"}] and not t["HasMoreTags"], t)
    k.remove_tags_from_stream(StreamName="s1", TagKeys=["env"])
    k.tag_resource(ResourceARN=arn_of("s1"), Tags={"cost": "1"})
    k.untag_resource(ResourceARN=arn_of("s1"), TagKeys=["team"])
    check(k.list_tags_for_resource(ResourceARN=arn_of("s1"))["Tags"] == [{"Key": "cost", "Value": "1"}], "tags")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                                  "Action": "kinesis:GetRecords", "Resource": arn_of("s1")}]})
    k.put_resource_policy(ResourceARN=arn_of("s1"), Policy=policy)
    check(k.get_resource_policy(ResourceARN=arn_of("s1"))["Policy"] == policy, "policy")
    k.delete_resource_policy(ResourceARN=arn_of("s1"))
    expect_error("ResourceNotFoundException", k.delete_resource_policy, ResourceARN=arn_of("s1"))

    # Consumers.
    c = k.register_stream_consumer(StreamARN=arn_of("s1"), ConsumerName="app")["Consumer"]
    check(c["ConsumerARN"].startswith(arn_of("s1") + "/consumer/app:"), c)
    expect_error("ResourceInUseException", k.register_stream_consumer, StreamARN=arn_of("s1"), ConsumerName="app")
    k.register_stream_consumer(StreamARN=arn_of("s1"), ConsumerName="other")
    d = k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
    check(d["ConsumerStatus"] == "ACTIVE" and d["StreamARN"] == arn_of("s1"), d)
    # SubscribeToShard: the event stream pushes what is in the shard, then what arrives.
    sub = k.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000001",
                               StartingPosition={"Type": "TRIM_HORIZON"})
    want = len(drain(k, iterator(k, "s1", "shardId-000000000001", "TRIM_HORIZON"))[0])
    got, pushed = [], False
    for ev in sub["EventStream"]:
        e = ev["SubscribeToShardEvent"]
        got.extend(e["Records"])
        check(len(e["ContinuationSequenceNumber"]) == 56, e)
        if len(got) >= want and not pushed:
            k.put_record(StreamName="s1", PartitionKey="p", Data=b"pushed", ExplicitHashKey=str(2**128 // 2))
            pushed = True
        if got and got[-1]["Data"] == b"pushed":
            break
    sub["EventStream"].close()
    check(len(got) == want + 1, (len(got), want))
    expect_error("ResourceNotFoundException", k.subscribe_to_shard, ConsumerARN=c["ConsumerARN"] + "0",
                 ShardId="shardId-000000000001", StartingPosition={"Type": "LATEST"})
    d = k.describe_stream_consumer(StreamARN=arn_of("s1"), ConsumerName="app")["ConsumerDescription"]
    check(d["ConsumerARN"] == c["ConsumerARN"], d)
    cs = k.list_stream_consumers(StreamARN=arn_of("s1"))["Consumers"]
    check([x["ConsumerName"] for x in cs] == ["app", "other"], cs)
    k.tag_resource(ResourceARN=c["ConsumerARN"], Tags={"c": "1"})
    check(k.list_tags_for_resource(ResourceARN=c["ConsumerARN"])["Tags"] == [{"Key": "c", "Value": "1"}], "consumer tags")
    k.deregister_stream_consumer(StreamARN=arn_of("s1"), ConsumerName="other")
    expect_error("ResourceNotFoundException", k.describe_stream_consumer, StreamARN=arn_of("s1"), ConsumerName="other")
    check(k.describe_stream_summary(StreamName="s1")["StreamDescriptionSummary"]["ConsumerCount"] == 1, "count")
    expect_error("ResourceInUseException", k.delete_stream, StreamName="s1")
    k.delete_stream(StreamName="s1", EnforceConsumerDeletion=True)
    k.get_waiter("stream_not_exists").wait(StreamName="s1", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    expect_error("ResourceNotFoundException", k.put_record, StreamName="s1", PartitionKey="x", Data=b"x")
    k.delete_stream(StreamARN=arn_of("od"))
    k.delete_stream(StreamName="rs")
    check(k.list_streams()["StreamNames"] == [], "all deleted")
    print("kinesis suite ok")


STREAM = "orders"


def produce(state):
    k = client()
    k.create_stream(StreamName=STREAM, ShardCount=3)
    its = {s["ShardId"]: iterator(k, STREAM, s["ShardId"], "TRIM_HORIZON") for s in k.list_shards(StreamName=STREAM)["Shards"]}
    acked = []

    def ack(shard, seq, pk, data):
        acked.append({"shard": shard, "seq": seq, "pk": pk, "md5": hashlib.md5(data).hexdigest()})

    def write(n0, n):
        for i in range(n0, n0 + n):
            pk = f"order-{i}"
            data = (f"{i}:" + "x" * (i % 7) * (1000 if i % 25 == 0 else 1)).encode()
            if i % 2:
                r = k.put_record(StreamName=STREAM, PartitionKey=pk, Data=data)
                ack(r["ShardId"], r["SequenceNumber"], pk, data)
        batch = [(f"order-{i}", f"{i}:batch".encode()) for i in range(n0, n0 + n) if i % 2 == 0]
        r = k.put_records(StreamName=STREAM, Records=[{"PartitionKey": p, "Data": d} for p, d in batch])
        check(r["FailedRecordCount"] == 0, r)
        for (p, d), x in zip(batch, r["Records"]):
            ack(x["ShardId"], x["SequenceNumber"], p, d)

    write(0, 200)
    big = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32 - 1)
    r = k.put_record(StreamName=STREAM, PartitionKey="big", Data=big)
    ack(r["ShardId"], r["SequenceNumber"], "big", big)
    k.split_shard(StreamName=STREAM, ShardToSplit="shardId-000000000001", NewStartingHashKey=str(2**127))
    write(200, 200)
    wide = produce_wide(k)
    with open(state, "w") as f:
        json.dump({"iterators": its, "acked": acked, "wide": wide}, f)
    print("acknowledged", len(acked), "records")


WIDE = "wide"


def produce_wide(k):
    """A 6-shard stream, records on 24 partition keys, UpdateShardCount to 3, more records."""
    k.create_stream(StreamName=WIDE, ShardCount=6)
    acked = []

    def write(round_):
        batch = [(f"key-{j}", f"{j}:{round_}:{i}") for i in range(3) for j in range(24)]
        r = k.put_records(StreamName=WIDE, Records=[{"PartitionKey": p, "Data": d.encode()} for p, d in batch])
        check(r["FailedRecordCount"] == 0, r)
        for (p, d), x in zip(batch, r["Records"]):
            acked.append({"pk": p, "data": d, "seq": x["SequenceNumber"], "shard": x["ShardId"]})

    write(0)
    r = k.update_shard_count(StreamName=WIDE, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    check(r["CurrentShardCount"] == 6 and r["TargetShardCount"] == 3, r)
    open_ = k.list_shards(StreamName=WIDE, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    check([s["HashKeyRange"]["StartingHashKey"] for s in open_] == ["0", str(2**128 // 3), str(2**128 // 3 * 2)], open_)
    write(1)
    return acked


def consume_wide(k, acked):
    """Read the resharded stream as the KCL does: a shard only once every parent is read to its
    end; every partition key's records come in the order they were written, each once."""
    shards = {s["ShardId"]: s for s in k.list_shards(StreamName=WIDE)["Shards"]}
    for s in shards.values():
        parents = [s[p] for p in ("ParentShardId", "AdjacentParentShardId") if p in s]
        lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
        ranges = sorted((int(shards[p]["HashKeyRange"]["StartingHashKey"]), int(shards[p]["HashKeyRange"]["EndingHashKey"]))
                        for p in parents)
        if len(ranges) == 2:
            check(ranges[0][0] == lo and ranges[1][1] == hi and ranges[0][1] + 1 == ranges[1][0], (s, ranges))
        elif len(ranges) == 1:
            check(ranges[0][0] <= lo and hi <= ranges[0][1], (s, ranges))
    done, order, per_key = set(), [], {}
    while len(done) < len(shards):
        ready = [sid for sid, s in shards.items() if sid not in done and all(
            s[p] in done for p in ("ParentShardId", "AdjacentParentShardId") if p in s)]
        check(ready, f"no shard is ready: done {sorted(done)}")
        sid = min(ready)
        recs, last = drain(k, iterator(k, WIDE, sid, "TRIM_HORIZON"))
        for r in recs:
            per_key.setdefault(r["PartitionKey"], []).append(r["Data"].decode())
        if "ChildShards" in last:
            kids = {c["ShardId"] for c in last["ChildShards"]}
            naming = {c for c, s in shards.items() if sid in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))}
            check(kids == naming, (sid, kids, naming))
        done.add(sid)
        order.append(sid)
    want = {}
    for a in acked:
        want.setdefault(a["pk"], []).append(a["data"])
    check(per_key == want, f"per-key order after 6 -> 3 (shards read {order})")
    return sum(len(v) for v in per_key.values())


def consume(state):
    with open(state) as f:
        s = json.load(f)
    k = client()
    shards = {x["ShardId"]: x for x in k.list_shards(StreamName=STREAM)["Shards"]}
    check(len(shards) == 5 and shards["shardId-000000000004"]["ParentShardId"] == "shardId-000000000001", shards)
    read = {}
    pending = list(s["iterators"].items())
    seen = set()
    while pending:
        shard, it = pending.pop(0)
        if shard in seen:
            continue
        seen.add(shard)
        recs, last = drain(k, it)
        read[shard] = recs
        for child in last.get("ChildShards", []):
            pending.append((child["ShardId"], iterator(k, STREAM, child["ShardId"], "TRIM_HORIZON")))
    check(seen == set(shards), (seen, shards.keys()))
    expect = {}
    for a in s["acked"]:
        expect.setdefault(a["shard"], []).append(a)
    total = 0
    for shard, recs in read.items():
        got = [(r["SequenceNumber"], r["PartitionKey"], hashlib.md5(r["Data"]).hexdigest()) for r in recs]
        want = sorted((a["seq"], a["pk"], a["md5"]) for a in expect.get(shard, []))
        check(got == want, f"{shard}: read {len(got)} records, acknowledged {len(want)}")
        total += len(got)
    check(total == len(s["acked"]), (total, len(s["acked"])))
    # New records continue the sequence after the restart.
    r = k.put_record(StreamName=STREAM, PartitionKey="order-0", Data=b"after")
    last_seq = max(a["seq"] for a in s["acked"])
    check(r["SequenceNumber"] > last_seq, (r, last_seq))
    n = consume_wide(k, s["wide"])
    print("read", total, "records exactly once after the restart, and", n, "across 6 -> 3")


def throttle():
    k = client()
    k.create_stream(StreamName="hot", ShardCount=1)
    chunk = b"t" * (300 * 1024)
    # One call: three 300 KiB records fit the shard's 1 MiB of this second, the rest do not.
    r = k.put_records(StreamName="hot", Records=[{"PartitionKey": "k", "Data": chunk + bytes([i])} for i in range(5)])
    check(r["FailedRecordCount"] == 2, r["FailedRecordCount"])
    check(all("SequenceNumber" in x for x in r["Records"][:3]), r["Records"][:3])
    for x in r["Records"][3:]:
        check(x["ErrorCode"] == "ProvisionedThroughputExceededException" and "Rate exceeded" in x["ErrorMessage"], x)
    stored = [x["SequenceNumber"] for x in r["Records"][:3]]
    # PutRecord raises it (fill a second, then one more; again if the second turned meanwhile).
    raised = None
    for _ in range(20):
        b = k.put_records(StreamName="hot", Records=[{"PartitionKey": "k", "Data": chunk}] * 3)
        stored += [x["SequenceNumber"] for x in b["Records"] if "SequenceNumber" in x]
        try:
            stored.append(k.put_record(StreamName="hot", PartitionKey="k", Data=chunk)["SequenceNumber"])
        except k.exceptions.ProvisionedThroughputExceededException as e:
            raised = e
            break
    check(raised is not None, "PutRecord was never throttled")
    check(msg(raised) == f"Rate exceeded for stream hot under account {ACCOUNT}.", msg(raised))
    recs, _ = drain(k, iterator(k, "hot", "shardId-000000000000", "TRIM_HORIZON"))
    check([x["SequenceNumber"] for x in recs] == stored, (len(recs), len(stored)))
    # An on-demand stream takes 3 MiB into one shard in one call.
    k.create_stream(StreamName="odhot", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    r = k.put_records(StreamName="odhot", Records=[{"PartitionKey": "k", "Data": chunk}] * 10)
    check(r["FailedRecordCount"] == 0, r["FailedRecordCount"])
    print("kinesis throttling ok")


def retention():
    k = client()
    k.create_stream(StreamName="short", ShardCount=1)
    sh = "shardId-000000000000"
    r = k.put_record(StreamName="short", PartitionKey="k", Data=b"soon gone")
    put_at = time.monotonic()
    early = iterator(k, "short", sh, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=r["SequenceNumber"])
    recs, _ = drain(k, iterator(k, "short", sh, "TRIM_HORIZON"))
    check([x["Data"] for x in recs] == [b"soon gone"] or time.monotonic() - put_at > 12, recs)
    # Poll until it is past retention (12 s here); the sweep runs once a minute, so only the
    # reads' own filter can make it disappear this soon.
    gone = False
    while time.monotonic() - put_at < 40:
        recs, _ = drain(k, iterator(k, "short", sh, "TRIM_HORIZON"))
        if not recs:
            gone = True
            break
        time.sleep(0.5)
    check(gone, "the record is still read past its retention")
    check(time.monotonic() - put_at >= 11, "gone before its retention")
    check(k.get_records(ShardIterator=early)["Records"] == [], "an earlier iterator still reads it")
    k.put_record(StreamName="short", PartitionKey="k", Data=b"fresh")
    recs, _ = drain(k, iterator(k, "short", sh, "TRIM_HORIZON"))
    check([x["Data"] for x in recs] == [b"fresh"], recs)
    print("kinesis retention ok")


COMMANDS = {
    "suite": (suite, 0),
    "produce": (produce, 1),
    "consume": (consume, 1),
    "throttle": (throttle, 0),
    "retention": (retention, 0),
}

run_commands(COMMANDS, ARGS)

#!/usr/bin/env python3
"""Drive a running snapstack's SQS with boto3, as a user's program would.

Usage: sqs_client.py ENDPOINT [--query] COMMAND [ARGS]...

  --query                   speak the query protocol (form POSTs, XML answers): botocore loads a
                            copy of the SQS model switched to `query` from AWS_DATA_PATH
  suite                     every queue and message operation, errors included (fresh server)
  fifo                      FIFO ordering per group, group blocking, deduplication
  longpoll                  a waiting ReceiveMessage returns as soon as a message is sent
  raw                       a few hand-made query-protocol form POSTs (no SDK)
  concurrent                eight consumers race for 400 messages: each delivered exactly once
  urls STRATEGY HOST        queue URLs as SQS_ENDPOINT_STRATEGY=STRATEGY spells them on HOST
                            (host:port, or `-` for localhost.localstack.cloud:<endpoint port>):
                            two regions, two URLs; messages go through them, and through the
                            other strategies' URLs
  prepare STATE             before a restart: messages in flight, delayed, held, bound for a DLQ
  check STATE               after the restart: every timer honoured, old receipt handles work
  sse-write                 queues with SSE-KMS (a customer managed key, alias/aws/sqs), SSE-SQS
                            and none, each holding messages with the at-rest marker in the body
  sse-read                  after a restart: every body back, with the plaintext's MD5
  sse-kms-off               (after a restart, so nothing is held in memory) DisableKey: sends
                            and receives on the SSE-KMS queue fail with KMS.DisabledException,
                            the others work; EnableKey: they work again. A key pending deletion
                            is KMS.InvalidStateException, a missing one KMS.NotFoundException
"""

import copy
import gzip
import hashlib
import json
import os
import struct
import sys
import tempfile
import threading
import time
import urllib.request

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
QUERY = False
if ARGS and ARGS[0] == "--query":
    QUERY = True
    ARGS = ARGS[1:]

# Legacy query-protocol names of the SQS model (the JSON model has none): list members, map
# entries and result wrappers as the 2012-11-05 query API spells them.
LIST_MEMBERS = {
    "AttributeNameList": "AttributeName",
    "MessageAttributeNameList": "MessageAttributeName",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "TagKeyList": "TagKey",
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
    "QueueUrlList": "QueueUrl",
    "MessageList": "Message",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "StringList": "StringListValue",
    "BinaryList": "BinaryListValue",
}
MAPS = {
    # map shape: (element name, key name, value name)
    "QueueAttributeMap": ("Attribute", "Name", "Value"),
    "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
    "TagMap": ("Tag", "Key", "Value"),
    "MessageBodyAttributeMap": ("MessageAttribute", "Name", "Value"),
    "MessageBodySystemAttributeMap": ("MessageSystemAttribute", "Name", "Value"),
}


def query_model_dir():
    """A directory holding the SQS model switched to the query protocol, for AWS_DATA_PATH."""
    import botocore

    src = os.path.join(os.path.dirname(botocore.__file__), "data", "sqs", "2012-11-05")
    path = os.path.join(src, "service-2.json.gz")
    if os.path.exists(path):
        model = json.loads(gzip.open(path).read())
    else:
        model = json.load(open(os.path.join(src, "service-2.json")))
    model = copy.deepcopy(model)
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    model["metadata"].pop("awsQueryCompatible", None)
    model["metadata"]["xmlNamespace"] = "http://queue.amazonaws.com/doc/2012-11-05/"
    shapes = model["shapes"]
    for name, shape in shapes.items():
        if shape["type"] == "list" and name in LIST_MEMBERS:
            shape["member"]["locationName"] = LIST_MEMBERS[name]
            shape["flattened"] = True
        if shape["type"] == "map" and name in MAPS:
            _, k, v = MAPS[name]
            shape["key"]["locationName"] = k
            shape["value"]["locationName"] = v
            shape["flattened"] = True
    for shape in shapes.values():
        if shape["type"] != "structure":
            continue
        for member in shape["members"].values():
            target = shapes[member["shape"]]
            if target["type"] == "map" and member["shape"] in MAPS:
                member["locationName"] = MAPS[member["shape"]][0]
            if target["type"] == "list" and member["shape"] in LIST_MEMBERS:
                member["locationName"] = LIST_MEMBERS[member["shape"]]
                member["flattened"] = True
    for name, op in model["operations"].items():
        if "output" in op:
            op["output"]["resultWrapper"] = name + "Result"
    d = tempfile.mkdtemp(prefix="sqs-query-model-")
    os.makedirs(os.path.join(d, "sqs", "2012-11-05"))
    with open(os.path.join(d, "sqs", "2012-11-05", "service-2.json"), "w") as f:
        json.dump(model, f)
    return d


if QUERY:
    os.environ["AWS_DATA_PATH"] = query_model_dir()

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from checks import check, expect_error, kms_key, run_commands  # noqa: E402

CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)


def sqs(access_key="test", region="us-east-1"):
    c = boto3.client(
        "sqs",
        endpoint_url=ENDPOINT,
        aws_access_key_id=access_key,
        aws_secret_access_key="secret",
        region_name=region,
        config=CFG,
    )
    want = "query" if QUERY else "json"
    check(c.meta.service_model.protocol == want, f"client speaks {c.meta.service_model.protocol}")
    return c


def md5_attrs(attrs):
    """MD5OfMessageAttributes as AWS documents it, computed independently of the server."""
    if not attrs:
        return None
    h = hashlib.md5()
    for name in sorted(attrs):
        a = attrs[name]
        enc = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
        h.update(enc(name.encode()))
        h.update(enc(a["DataType"].encode()))
        if "BinaryValue" in a:
            h.update(b"\x02")
            h.update(enc(a["BinaryValue"]))
        else:
            h.update(b"\x01")
            h.update(enc(a["StringValue"].encode()))
    return h.hexdigest()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def recv(c, url, n=10, wait=0, **kw):
    r = c.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=n,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        **kw,
    )
    return r.get("Messages", [])


def attrs(c, url):
    return c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def suite():
    c = sqs()
    # Queues: create with attributes and tags, idempotent re-create, conflicting re-create.
    url = c.create_queue(
        QueueName="orders", Attributes={"VisibilityTimeout": "40"}, tags={"team": "a"}
    )["QueueUrl"]
    check(url.endswith("/000000000000/orders"), url)
    check(c.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url, "re-create")
    expect_error("QueueAlreadyExists", c.create_queue, QueueName="orders", Attributes={"VisibilityTimeout": "41"})
    expect_error("InvalidParameterValue", c.create_queue, QueueName="bad name!")
    expect_error("InvalidAttributeValue", c.create_queue, QueueName="x", Attributes={"DelaySeconds": "901"})
    expect_error("InvalidAttributeName", c.create_queue, QueueName="x", Attributes={"Nope": "1"})
    expect_error("InvalidParameterValue", c.create_queue, QueueName="f", Attributes={"FifoQueue": "true"})
    check(c.get_queue_url(QueueName="orders")["QueueUrl"] == url, "get url")
    e = expect_error("AWS.SimpleQueueService.NonExistentQueue", c.get_queue_url, QueueName="missing")
    if not QUERY:
        check(isinstance(e, c.exceptions.QueueDoesNotExist), "modeled exception class")
    # Any URL whose path ends in /<account>/<name> names the queue, LocalStack's form too.
    for alias in [
        "http://elsewhere:1234/000000000000/orders",
        "http://sqs.us-east-1.localhost.localstack.cloud:4566/queue/us-east-1/000000000000/orders",
    ]:
        check(attrs(c, alias)["VisibilityTimeout"] == "40", alias)
    # ListQueues: prefix and pagination.
    for i in range(5):
        c.create_queue(QueueName=f"page-{i}")
    got, token = [], None
    while True:
        kw = {"QueueNamePrefix": "page-", "MaxResults": 2}
        if token:
            kw["NextToken"] = token
        r = c.list_queues(**kw)
        got += r.get("QueueUrls", [])
        token = r.get("NextToken")
        if not token:
            break
    check([u.rsplit("/", 1)[1] for u in got] == [f"page-{i}" for i in range(5)], got)
    check(len(c.list_queues()["QueueUrls"]) == 6, "all queues")
    check("QueueUrls" not in c.list_queues(QueueNamePrefix="zzz"), "no match")
    # Attributes.
    a = attrs(c, url)
    check(a["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:orders", a)
    check(a["MaximumMessageSize"] == "262144" and a["ApproximateNumberOfMessages"] == "0", a)
    check("FifoQueue" not in a, a)
    c.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0", "MaximumMessageSize": "2048"})
    check(attrs(c, url)["MaximumMessageSize"] == "2048", "set")
    expect_error("InvalidAttributeName", c.get_queue_attributes, QueueUrl=url, AttributeNames=["Bogus"])
    expect_error("InvalidAttributeValue", c.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "-1"})
    # Tags.
    c.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "b"})
    check(c.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test", "team": "b"}, "tags")
    c.untag_queue(QueueUrl=url, TagKeys=["team"])
    check(c.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}, "untag")

    # Permissions are statements of the queue's policy.
    c.add_permission(QueueUrl=url, Label="share", AWSAccountIds=["111122223333"], Actions=["SendMessage", "ReceiveMessage"])
    policy = json.loads(attrs(c, url)["Policy"])
    check([s["Sid"] for s in policy["Statement"]] == ["share"], policy)
    check(policy["Statement"][0]["Action"] == ["SQS:SendMessage", "SQS:ReceiveMessage"], policy)
    check(policy["Statement"][0]["Principal"]["AWS"] == ["arn:aws:iam::111122223333:root"], policy)
    expect_error("InvalidParameterValue", c.add_permission, QueueUrl=url, Label="share", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    expect_error("InvalidParameterValue", c.add_permission, QueueUrl=url, Label="x", AWSAccountIds=["111122223333"], Actions=["DeleteQueue"])
    c.remove_permission(QueueUrl=url, Label="share")
    check("Policy" not in attrs(c, url), "policy gone")
    expect_error("InvalidParameterValue", c.remove_permission, QueueUrl=url, Label="share")

    # Messages: attributes and their digests, system attributes, delays.
    mattrs = {
        "s": {"DataType": "String", "StringValue": "héllo"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }
    r = c.send_message(
        QueueUrl=url,
        MessageBody="body-1",
        MessageAttributes=mattrs,
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    )
    check(r["MD5OfMessageBody"] == md5("body-1"), r)
    check(r["MD5OfMessageAttributes"] == md5_attrs(mattrs), r)
    check(r["MD5OfMessageSystemAttributes"] == md5_attrs({"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}), r)
    m = recv(c, url, VisibilityTimeout=30)
    check(len(m) == 1, m)
    m = m[0]
    check(m["Body"] == "body-1" and m["MD5OfBody"] == md5("body-1"), m)
    check(m["MessageAttributes"] == mattrs and m["MD5OfMessageAttributes"] == md5_attrs(mattrs), m)
    check(m["Attributes"]["ApproximateReceiveCount"] == "1", m)
    check(m["Attributes"]["AWSTraceHeader"] == "Root=1-abc", m)
    # The sender's principal id (the account's, for its root keys), never the access key.
    check(m["Attributes"]["SenderId"] == "000000000000", m)
    # Only the attributes asked for.
    c.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    r = c.receive_message(QueueUrl=url, MessageAttributeNames=["s"], AttributeNames=["SentTimestamp"])
    m2 = r["Messages"][0]
    check(list(m2["MessageAttributes"]) == ["s"] and list(m2["Attributes"]) == ["SentTimestamp"], m2)
    check(m2["MD5OfMessageAttributes"] == md5_attrs({"s": mattrs["s"]}), m2)
    a = attrs(c, url)
    check(a["ApproximateNumberOfMessagesNotVisible"] == "1", a)
    # The old receipt handle no longer deletes (a newer receive superseded it); the new one does.
    c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    check(attrs(c, url)["ApproximateNumberOfMessagesNotVisible"] == "1", "stale handle kept it")
    c.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    check(attrs(c, url)["ApproximateNumberOfMessagesNotVisible"] == "0", "deleted")
    expect_error("ReceiptHandleIsInvalid", c.delete_message, QueueUrl=url, ReceiptHandle="garbage")
    expect_error("InvalidParameterValue", c.change_message_visibility, QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"], VisibilityTimeout=5)
    # Validation.
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=url, MessageBody="x" * 2049)
    expect_error("InvalidMessageContents", c.send_message, QueueUrl=url, MessageBody="bad\x01")
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=url, MessageBody="x", MessageAttributes={"a": {"DataType": "Number", "StringValue": "NaNx"}})
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=url, MessageBody="x", MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}})
    expect_error("InvalidParameterValue", c.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    expect_error("AWS.SimpleQueueService.NonExistentQueue", c.send_message, QueueUrl=url + "-nope", MessageBody="x")
    # Delay: a delayed message counts as delayed, then appears.
    c.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    check(attrs(c, url)["ApproximateNumberOfMessagesDelayed"] == "1", "delayed")
    check(recv(c, url) == [], "not yet")
    deadline = time.time() + 30
    got = []
    while not got and time.time() < deadline:
        got = recv(c, url, wait=1)
    check([x["Body"] for x in got] == ["later"], got)
    c.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

    # Batches.
    entries = [{"Id": f"e{i}", "MessageBody": f"batch-{i}", "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}}} for i in range(3)]
    entries.append({"Id": "bad", "MessageBody": "x", "DelaySeconds": 1000})
    r = c.send_message_batch(QueueUrl=url, Entries=entries)
    check(sorted(x["Id"] for x in r["Successful"]) == ["e0", "e1", "e2"], r)
    check([(x["Id"], x["SenderFault"]) for x in r["Failed"]] == [("bad", True)], r)
    for x in r["Successful"]:
        i = int(x["Id"][1:])
        check(x["MD5OfMessageBody"] == md5(f"batch-{i}"), x)
        check(x["MD5OfMessageAttributes"] == md5_attrs({"i": {"DataType": "Number", "StringValue": str(i)}}), x)
    expect_error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", c.send_message_batch, QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    expect_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", c.send_message_batch, QueueUrl=url, Entries=[{"Id": f"i{i}", "MessageBody": "1"} for i in range(11)])
    expect_error("AWS.SimpleQueueService.EmptyBatchRequest", c.delete_message_batch, QueueUrl=url, Entries=[])
    expect_error("AWS.SimpleQueueService.InvalidBatchEntryId", c.delete_message_batch, QueueUrl=url, Entries=[{"Id": "no spaces", "ReceiptHandle": "x"}])
    got = recv(c, url, VisibilityTimeout=60)
    check(sorted(x["Body"] for x in got) == ["batch-0", "batch-1", "batch-2"], got)
    r = c.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "c0", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0}, {"Id": "c1", "ReceiptHandle": "garbage", "VisibilityTimeout": 0}],
    )
    check([x["Id"] for x in r["Successful"]] == ["c0"] and [x["Code"] for x in r["Failed"]] == ["ReceiptHandleIsInvalid"], r)
    again = recv(c, url, VisibilityTimeout=60)
    check([x["Body"] for x in again] == [got[0]["Body"]], again)
    check(again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again)
    handles = [again[0]["ReceiptHandle"]] + [x["ReceiptHandle"] for x in got[1:]]
    r = c.delete_message_batch(QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)])
    check(len(r["Successful"]) == 3 and not r.get("Failed"), r)
    check(attrs(c, url)["ApproximateNumberOfMessagesNotVisible"] == "0", "batch deleted")

    # Purge, once a minute.
    c.send_message(QueueUrl=url, MessageBody="purge me")
    c.purge_queue(QueueUrl=url)
    check(attrs(c, url)["ApproximateNumberOfMessages"] == "0", "purged")
    expect_error("AWS.SimpleQueueService.PurgeQueueInProgress", c.purge_queue, QueueUrl=url)

    # Redrive to a dead-letter queue, ListDeadLetterSourceQueues, and a move back.
    dlq = c.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = attrs(c, dlq)["QueueArn"]
    src = c.create_queue(QueueName="orders-src", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    expect_error("InvalidParameterValue", c.create_queue, QueueName="x2", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn + "-missing", "maxReceiveCount": 2})})
    check(c.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src], "dlq sources")
    c.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        got = recv(c, src, VisibilityTimeout=0)
        check([x["Body"] for x in got] == ["poison"], got)
    check(recv(c, src) == [], "moved away on the third receive")
    got = recv(c, dlq, VisibilityTimeout=0)
    check([x["Body"] for x in got] == ["poison"], got)
    check(got[0]["Attributes"]["DeadLetterQueueSourceArn"] == attrs(c, src)["QueueArn"], got)
    task = c.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    check(task, "task handle")
    # The task runs in the background: poll until it has moved the message.
    tasks = wait_move_task(c, dlq_arn)
    check(tasks[0]["Status"] == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == 1, tasks)
    check("TaskHandle" not in tasks[0], "a finished task is not named by its handle")
    check([x["Body"] for x in recv(c, src)] == ["poison"], "moved back")
    expect_error("ResourceNotFoundException", c.cancel_message_move_task, TaskHandle=task)

    # Queues are per account.
    other = sqs("111122223333")
    check("QueueUrls" not in other.list_queues(), "other account sees nothing")
    # DeleteQueue.
    c.delete_queue(QueueUrl=url)
    expect_error("AWS.SimpleQueueService.NonExistentQueue", c.get_queue_url, QueueName="orders")
    expect_error("AWS.SimpleQueueService.NonExistentQueue", c.delete_queue, QueueUrl=url)
    print("suite ok")


def wait_move_task(c, arn, timeout=60):
    """ListMessageMoveTasks' results once the latest task is no longer RUNNING."""
    deadline = time.time() + timeout
    while True:
        tasks = c.list_message_move_tasks(SourceArn=arn, MaxResults=10)["Results"]
        if tasks and tasks[0]["Status"] != "RUNNING":
            return tasks
        check(time.time() < deadline, f"the move task is still running: {tasks}")
        time.sleep(0.2)


def fifo():
    c = sqs()
    url = c.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    a = attrs(c, url)
    check(a["FifoQueue"] == "true" and a["ContentBasedDeduplication"] == "true" and a["DeduplicationScope"] == "queue", a)
    expect_error("AWS.SimpleQueueService.NonExistentQueue" if False else "MissingParameter", c.send_message, QueueUrl=url, MessageBody="x")
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=1)
    seqs = []
    for g in ["a", "b"]:
        for i in range(3):
            r = c.send_message(QueueUrl=url, MessageBody=f"{g}{i}", MessageGroupId=g)
            seqs.append(int(r["SequenceNumber"]))
    check(seqs == sorted(seqs) and len(set(seqs)) == 6, seqs)
    # Content-based deduplication: the same body within 5 minutes is accepted but not enqueued.
    first = c.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a")
    check(attrs(c, url)["ApproximateNumberOfMessages"] == "6", "dedup by content")
    # An explicit id overrides content, and is deduplicated too.
    r1 = c.send_message(QueueUrl=url, MessageBody="a3", MessageGroupId="a", MessageDeduplicationId="id-1")
    r2 = c.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="a", MessageDeduplicationId="id-1")
    check(r1["MessageId"] == r2["MessageId"] and first["MessageId"], (r1, r2))
    check(attrs(c, url)["ApproximateNumberOfMessages"] == "7", "dedup by id")
    # Per group order; a group with a message in flight is blocked.
    got = recv(c, url, n=2, VisibilityTimeout=60)
    check([m["Body"] for m in got] == ["a0", "a1"], got)
    check(got[0]["Attributes"]["MessageGroupId"] == "a" and "SequenceNumber" in got[0]["Attributes"], got)
    nxt = recv(c, url, n=10, VisibilityTimeout=60)
    check([m["Body"] for m in nxt] == ["b0", "b1", "b2"], nxt)
    check(recv(c, url) == [], "both groups blocked")
    for m in got + nxt:
        c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = recv(c, url, VisibilityTimeout=60)
    check([m["Body"] for m in rest] == ["a2", "a3"], rest)
    # Returning a message to the queue keeps the group's order.
    c.change_message_visibility(QueueUrl=url, ReceiptHandle=rest[0]["ReceiptHandle"], VisibilityTimeout=0)
    c.change_message_visibility(QueueUrl=url, ReceiptHandle=rest[1]["ReceiptHandle"], VisibilityTimeout=0)
    again = recv(c, url, VisibilityTimeout=60)
    check([m["Body"] for m in again] == ["a2", "a3"], again)
    check(again[1]["Attributes"]["MessageDeduplicationId"] == "id-1", again)
    # A retried receive attempt gets the same messages and receipt handles.
    retry = c.create_queue(QueueName="retry.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for i in range(3):
        c.send_message(QueueUrl=retry, MessageBody=f"r{i}", MessageGroupId=f"g{i}")
    one = c.receive_message(QueueUrl=retry, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    two = c.receive_message(QueueUrl=retry, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    check([m["ReceiptHandle"] for m in one] == [m["ReceiptHandle"] for m in two], (one, two))
    check([m["Body"] for m in recv(c, retry)] == ["r2"], "the third message is the only other one")
    # A receive takes as many messages of one group as it can, then the next group's.
    mixed = c.create_queue(QueueName="mixed.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for body in ["a0", "b0", "a1", "b1"]:
        c.send_message(QueueUrl=mixed, MessageBody=body, MessageGroupId=body[0])
    check([m["Body"] for m in recv(c, mixed, n=3)] == ["a0", "a1", "b0"], "one group first")
    # Deduplication per message group.
    per = c.create_queue(QueueName="pergroup.fifo", Attributes={"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})["QueueUrl"]
    ids = [c.send_message(QueueUrl=per, MessageBody=g, MessageGroupId=g, MessageDeduplicationId="same")["MessageId"]
           for g in ["g1", "g2", "g1"]]
    check(ids[0] == ids[2] and ids[0] != ids[1], ids)
    check(attrs(c, per)["ApproximateNumberOfMessages"] == "2", "one message per group")
    # A standard queue refuses a deduplication id.
    std = c.create_queue(QueueName="plain")["QueueUrl"]
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=std, MessageBody="x", MessageDeduplicationId="d")
    # Without content-based deduplication, an id is required.
    strict = c.create_queue(QueueName="strict.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    expect_error("InvalidParameterValue", c.send_message, QueueUrl=strict, MessageBody="x", MessageGroupId="g")
    print("fifo ok")


def longpoll():
    c = sqs()
    url = c.create_queue(QueueName="waiting")["QueueUrl"]
    result = {}

    def receiver():
        t0 = time.time()
        result["msgs"] = sqs().receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
        result["took"] = time.time() - t0

    th = threading.Thread(target=receiver)
    th.start()
    time.sleep(1.0)
    c.send_message(QueueUrl=url, MessageBody="wake up")
    th.join(60)
    check([m["Body"] for m in result["msgs"]] == ["wake up"], result)
    # It returned when the message arrived, not at the end of its 20 s wait.
    check(result["took"] < 15, result)
    # An empty long poll waits for its whole wait time.
    t0 = time.time()
    check(recv(c, url, wait=2) == [], "empty")
    check(time.time() - t0 >= 1.9, "waited")
    print("longpoll ok")


def concurrent():
    """Eight consumers race for 400 messages: each is delivered exactly once."""
    c = sqs()
    url = c.create_queue(QueueName="race", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    sent = [f"m{i}" for i in range(400)]
    for i in range(0, len(sent), 10):
        r = c.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(sent[i : i + 10])])
        check(len(r["Successful"]) == 10, r)
    got = []
    lock = threading.Lock()
    errors = []

    def consumer():
        try:
            me = sqs()
            while True:
                msgs = me.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not msgs:
                    return
                me.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
                with lock:
                    got.extend(m["Body"] for m in msgs)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=consumer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not errors, errors)
    check(sorted(got) == sorted(sent), f"{len(got)} received, {len(set(got))} distinct")
    a = attrs(c, url)
    check(a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0", a)
    print("concurrent ok")


def post(params):
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(ENDPOINT + "/", data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw():
    # No SigV4 at all: the SQS action names the service.
    s, body = post({"Action": "CreateQueue", "QueueName": "raw-q", "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "7"})
    check(s == 200 and "<QueueUrl>" in body and "queue.amazonaws.com/doc/2012-11-05" in body, body)
    url = body.split("<QueueUrl>")[1].split("</QueueUrl>")[0]
    s, body = post({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "raw body"})
    check(s == 200 and f"<MD5OfMessageBody>{md5('raw body')}</MD5OfMessageBody>" in body, body)
    # POSTed to the queue URL, without QueueUrl.
    path = "/" + url.split("/", 3)[3]
    req = urllib.request.Request(ENDPOINT + path, data=b"Action=ReceiveMessage&AttributeName.1=All", method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    check("<Body>raw body</Body>" in body and "<Name>ApproximateReceiveCount</Name>" in body, body)
    # The query API over GET: the parameters in the query string.
    q = urllib.parse.urlencode({"Action": "GetQueueAttributes", "QueueUrl": url,
                                "AttributeName.1": "VisibilityTimeout", "Version": "2012-11-05"})
    with urllib.request.urlopen(ENDPOINT + "/?" + q, timeout=30) as r:
        body = r.read().decode()
    check("<Name>VisibilityTimeout</Name><Value>7</Value>" in body.replace("\n", "").replace(" ", ""), body)
    s, body = post({"Action": "GetQueueUrl", "QueueName": "nope"})
    check(s == 400 and "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in body and "<Type>Sender</Type>" in body, body)
    s, body = post({"Action": "SendMessageBatch", "QueueUrl": url, "SendMessageBatchRequestEntry.1.Id": "a", "SendMessageBatchRequestEntry.1.MessageBody": "1", "SendMessageBatchRequestEntry.2.Id": "a", "SendMessageBatchRequestEntry.2.MessageBody": "2"})
    check(s == 400 and "BatchEntryIdsNotDistinct" in body, body)
    # Hostile input gets an error, in the protocol it came in, and the server stays up.
    for params in [
        {"Action": "CreateQueue", "QueueName": "h", "Attribute.99999.Name": "DelaySeconds", "Attribute.99999.Value": "1"},
        {"Action": "CreateQueue", "QueueName": "h", "Attribute.1.Name.x": "a", "Attribute.1.Name": "b"},
        {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "x", "MessageAttribute.1.Name": "b", "MessageAttribute.1.Value.DataType": "Binary", "MessageAttribute.1.Value.BinaryValue": "!!!"},
        {"Action": "DeleteMessage", "QueueUrl": url, "ReceiptHandle": "A" * 5000},
        {"Action": "NoSuchAction"},
    ]:
        s, body = post(params)
        check(s == 400 and "<ErrorResponse" in body, (params, s, body))
    for body in [b"[]", b"{" * 100 + b"}" * 100, b"\xff\xfe", json.dumps({"QueueName": 5}).encode()]:
        req = urllib.request.Request(ENDPOINT + "/", data=body, method="POST")
        req.add_header("Content-Type", "application/x-amz-json-1.0")
        req.add_header("X-Amz-Target", "AmazonSQS.CreateQueue")
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError(f"{body[:20]!r} was accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 400 and "__type" in json.loads(e.read()), body[:20])
    # JSON errors carry the type and the legacy code header.
    req = urllib.request.Request(ENDPOINT + "/", data=json.dumps({"QueueName": "nope"}).encode(), method="POST")
    req.add_header("Content-Type", "application/x-amz-json-1.0")
    req.add_header("X-Amz-Target", "AmazonSQS.GetQueueUrl")
    try:
        urllib.request.urlopen(req, timeout=30)
        raise AssertionError("expected an error")
    except urllib.error.HTTPError as e:
        check(e.code == 400, e.code)
        check(e.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender", dict(e.headers))
        check(json.loads(e.read())["__type"] == "com.amazonaws.sqs#QueueDoesNotExist", "type")
    print("raw ok")


# prepare/check: the restart scenario. Times are wall-clock epoch seconds; every check keeps
# seconds of margin on either side of a deadline; 40 s leaves a loaded machine (a build on every
# core) time to restart the server and import boto3 before the deadlines pass.
VIS = 40
DELAY = 40
# Messages a move task at one a second moves across the restart.
MOVED = 8


def prepare(state_file):
    c = sqs()
    st = {}
    vis = c.create_queue(QueueName="vis")["QueueUrl"]
    c.send_message(QueueUrl=vis, MessageBody="in flight")
    got = recv(c, vis, VisibilityTimeout=VIS)
    check(len(got) == 1, got)
    st["vis_deadline"] = time.time() + VIS
    st["vis_sent"] = got[0]["Attributes"]["SentTimestamp"]
    delay = c.create_queue(QueueName="delay")["QueueUrl"]
    c.send_message(QueueUrl=delay, MessageBody="delayed", DelaySeconds=DELAY)
    st["delay_deadline"] = time.time() + DELAY
    held = c.create_queue(QueueName="held")["QueueUrl"]
    c.send_message(QueueUrl=held, MessageBody="hold")
    got = recv(c, held, VisibilityTimeout=600)
    st["held_handle"] = got[0]["ReceiptHandle"]
    dlq = c.create_queue(QueueName="dead")["QueueUrl"]
    arn = attrs(c, dlq)["QueueArn"]
    src = c.create_queue(QueueName="src", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})})["QueueUrl"]
    c.send_message(QueueUrl=src, MessageBody="poison")
    check(len(recv(c, src, VisibilityTimeout=1)) == 1, "first receive")
    fifo = c.create_queue(QueueName="f.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    st["fifo_id"] = c.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1")["MessageId"]
    # A message move task at one message a second, still running at the restart.
    mdead = c.create_queue(QueueName="mdead")["QueueUrl"]
    marn = attrs(c, mdead)["QueueArn"]
    msrc = c.create_queue(QueueName="msrc", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": marn, "maxReceiveCount": 1})})["QueueUrl"]
    for i in range(MOVED):
        c.send_message(QueueUrl=msrc, MessageBody=f"move {i}")
    seen = 0
    while seen < MOVED:
        seen += len(recv(c, msrc, VisibilityTimeout=1))
    time.sleep(1.5)
    check(recv(c, msrc) == [], "all redriven to the dead-letter queue")
    check(attrs(c, mdead)["ApproximateNumberOfMessages"] == str(MOVED), "in the dead-letter queue")
    st["move_task"] = c.start_message_move_task(SourceArn=marn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    t = c.list_message_move_tasks(SourceArn=marn)["Results"][0]
    check(t["Status"] == "RUNNING" and t["TaskHandle"] == st["move_task"], t)
    check(t["ApproximateNumberOfMessagesToMove"] == MOVED and t["MaxNumberOfMessagesPerSecond"] == 1, t)
    with open(state_file, "w") as f:
        json.dump(st, f)
    print("prepared")


def check_after(state_file):
    c = sqs()
    st = json.load(open(state_file))
    vis = c.get_queue_url(QueueName="vis")["QueueUrl"]
    delay = c.get_queue_url(QueueName="delay")["QueueUrl"]
    # Before the deadlines (with 2 s of margin): still invisible / still delayed.
    if time.time() < st["vis_deadline"] - 2:
        check(recv(c, vis) == [], "in flight after restart")
        check(attrs(c, vis)["ApproximateNumberOfMessagesNotVisible"] == "1", "counted in flight")
    else:
        raise AssertionError("the restart took too long to check the visibility deadline")
    if time.time() < st["delay_deadline"] - 2:
        check(recv(c, delay) == [], "still delayed after restart")
        check(attrs(c, delay)["ApproximateNumberOfMessagesDelayed"] == "1", "counted delayed")
    else:
        raise AssertionError("the restart took too long to check the delay deadline")
    # A handle issued before the restart still deletes its message.
    held = c.get_queue_url(QueueName="held")["QueueUrl"]
    c.delete_message(QueueUrl=held, ReceiptHandle=st["held_handle"])
    a = attrs(c, held)
    check(a["ApproximateNumberOfMessagesNotVisible"] == "0" and a["ApproximateNumberOfMessages"] == "0", a)
    # FIFO deduplication survives too.
    fifo = c.get_queue_url(QueueName="f.fifo")["QueueUrl"]
    r = c.send_message(QueueUrl=fifo, MessageBody="twice", MessageGroupId="g", MessageDeduplicationId="d1")
    check(r["MessageId"] == st["fifo_id"], r)
    check(attrs(c, fifo)["ApproximateNumberOfMessages"] == "1", "deduplicated across the restart")
    # After the deadlines: visible, with their history. Long polls wake when they pass.
    wait_until = max(st["vis_deadline"], st["delay_deadline"]) + 30
    got = []
    while not got and time.time() < wait_until:
        got = recv(c, vis, wait=5)
    check(time.time() >= st["vis_deadline"] - 0.5, "not before its deadline")
    check([m["Body"] for m in got] == ["in flight"], got)
    check(got[0]["Attributes"]["ApproximateReceiveCount"] == "2", got)
    check(got[0]["Attributes"]["SentTimestamp"] == st["vis_sent"], "sent time kept")
    got = []
    while not got and time.time() < wait_until:
        got = recv(c, delay, wait=5)
    check(time.time() >= st["delay_deadline"] - 0.5, "not before its delay")
    check([m["Body"] for m in got] == ["delayed"], got)
    # The redrive policy still applies: the second receive moves the message to the DLQ.
    src = c.get_queue_url(QueueName="src")["QueueUrl"]
    dead = c.get_queue_url(QueueName="dead")["QueueUrl"]
    check(recv(c, src) == [], "moved, not delivered")
    got = recv(c, dead)
    check([m["Body"] for m in got] == ["poison"], got)
    check(got[0]["Attributes"]["DeadLetterQueueSourceArn"].endswith(":src"), got)
    # The move task resumed after the restart and moved every message back, at its rate.
    marn = attrs(c, c.get_queue_url(QueueName="mdead")["QueueUrl"])["QueueArn"]
    msrc = c.get_queue_url(QueueName="msrc")["QueueUrl"]
    tasks = wait_move_task(c, marn, timeout=MOVED + 60)
    check(tasks[0]["Status"] == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == MOVED, tasks)
    check(attrs(c, msrc)["ApproximateNumberOfMessages"] == str(MOVED), "moved back")
    bodies = set()
    while len(bodies) < MOVED:
        got = recv(c, msrc)
        check(got, f"only {len(bodies)} messages came back")
        bodies |= {m["Body"] for m in got}
    check(bodies == {f"move {i}" for i in range(MOVED)}, bodies)
    print("checked")


def accounts():
    """Account A (access key 111111111111) on account B's (222222222222) queue: refused unless B's
    queue policy grants the action; GetQueueUrl with QueueOwnerAWSAccountId does not leak it."""
    a, b = sqs("111111111111"), sqs("222222222222")
    url = b.create_queue(QueueName="owned-by-b")["QueueUrl"]
    check("/222222222222/" in url, url)
    b.send_message(QueueUrl=url, MessageBody="secret")
    denied = "AccessDenied"
    expect_error(denied, a.send_message, QueueUrl=url, MessageBody="x")
    expect_error(denied, a.receive_message, QueueUrl=url)
    expect_error(denied, a.purge_queue, QueueUrl=url)
    expect_error(denied, a.get_queue_attributes, QueueUrl=url, AttributeNames=["All"])
    expect_error(denied, a.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "1"})
    expect_error(denied, a.delete_queue, QueueUrl=url)
    expect_error(denied, a.tag_queue, QueueUrl=url, Tags={"k": "v"})
    expect_error(denied, a.list_queue_tags, QueueUrl=url)
    e = expect_error("AWS.SimpleQueueService.NonExistentQueue", a.get_queue_url,
                     QueueName="owned-by-b", QueueOwnerAWSAccountId="222222222222")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    check([m["Body"] for m in recv(b, url)] == ["secret"], "B's queue untouched")
    check(url not in a.list_queues().get("QueueUrls", []), "not listed for A")
    # B shares SendMessage (and GetQueueUrl) with A: A can send, not purge or receive.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "a-sends", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
        "Resource": "arn:aws:sqs:us-east-1:222222222222:owned-by-b"}]}
    b.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    got = a.get_queue_url(QueueName="owned-by-b", QueueOwnerAWSAccountId="222222222222")
    check(got["QueueUrl"] == url, got)
    a.send_message(QueueUrl=url, MessageBody="from A")
    expect_error(denied, a.purge_queue, QueueUrl=url)
    expect_error(denied, a.receive_message, QueueUrl=url)
    check([m["Body"] for m in recv(b, url, wait=1)] == ["from A"], "A's message arrived")
    # AddPermission (what the SDKs offer) grants the same way.
    b.add_permission(QueueUrl=url, Label="a-receives", AWSAccountIds=["111111111111"],
                     Actions=["ReceiveMessage"])
    a.receive_message(QueueUrl=url)
    expect_error(denied, a.purge_queue, QueueUrl=url)
    b.delete_queue(QueueUrl=url)
    print("accounts ok")


def shape(strategy, host, region, name):
    if strategy == "standard":
        return f"http://sqs.{region}.{host}/000000000000/{name}"
    if strategy == "domain":
        prefix = "" if region == "us-east-1" else region + "."
        return f"http://{prefix}queue.{host}/000000000000/{name}"
    if strategy == "path":
        return f"http://{host}/queue/{region}/000000000000/{name}"
    return f"{ENDPOINT}/000000000000/{name}"


def urls(strategy, host):
    """The client keeps sending to its endpoint_url whatever host the QueueUrl names (botocore
    does not route SQS by QueueUrl), so URLs on a host without DNS still work."""
    if host == "-":
        host = "localhost.localstack.cloud:" + ENDPOINT.rsplit(":", 1)[1].rstrip("/")
    us, eu = sqs(region="us-east-1"), sqs(region="eu-west-1")
    u_us = us.create_queue(QueueName="url-q")["QueueUrl"]
    u_eu = eu.create_queue(QueueName="url-q")["QueueUrl"]
    check(u_us == shape(strategy, host, "us-east-1", "url-q"), u_us)
    check(u_eu == shape(strategy, host, "eu-west-1", "url-q"), u_eu)
    if strategy != "dynamic":
        check(u_us != u_eu, "two regions, two URLs")
    check(us.get_queue_url(QueueName="url-q")["QueueUrl"] == u_us, "get url us")
    check(eu.get_queue_url(QueueName="url-q")["QueueUrl"] == u_eu, "get url eu")
    check(eu.create_queue(QueueName="url-q")["QueueUrl"] == u_eu, "re-create")
    check(us.list_queues(QueueNamePrefix="url-")["QueueUrls"] == [u_us], "list us")
    check(eu.list_queues(QueueNamePrefix="url-")["QueueUrls"] == [u_eu], "list eu")
    eu.send_message(QueueUrl=u_eu, MessageBody="to eu")
    us.send_message(QueueUrl=u_us, MessageBody="to us")
    check([m["Body"] for m in recv(eu, u_eu)] == ["to eu"], "eu got its own")
    check([m["Body"] for m in recv(us, u_us)] == ["to us"], "us got its own")
    # Every strategy's URL of the eu queue reaches it, from a client in us-east-1 too (the
    # region the URL names wins over the request's), whatever the strategy now.
    for other in ["standard", "domain", "path"]:
        u = shape(other, host, "eu-west-1", "url-q")
        us.send_message(QueueUrl=u, MessageBody=other)
        got = recv(eu, u_eu)
        check([m["Body"] for m in got] == [other], (other, got))
        eu.delete_message(QueueUrl=u, ReceiptHandle=got[0]["ReceiptHandle"])
    # A query-protocol POST to the queue URL itself (its host in the Host header, no QueueUrl).
    path = "/" + u_eu.split("/", 3)[3]
    req = urllib.request.Request(ENDPOINT + path, data=b"Action=SendMessage&MessageBody=posted",
                                 method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Host", u_eu.split("/")[2])
    with urllib.request.urlopen(req, timeout=30) as r:
        check(r.status == 200, r.status)
    if strategy != "dynamic":
        check([m["Body"] for m in recv(eu, u_eu)] == ["posted"], "posted to the eu queue")
    for c, u in [(us, u_us), (eu, u_eu)]:
        c.delete_queue(QueueUrl=u)
    print("urls ok", strategy, u_us, u_eu)


# Must never appear in the state directory for an SSE queue (tests/sqs_e2e.rs scans for it).
SSE_MARKER = "SNAPSTACK-SQS-AT-REST-MARKER-5eed"
# queue -> attributes; the plain queue's bodies are stored as sent (and carry no marker).
SSE_QUEUES = {
    "sse-kms": None,  # the customer managed key alias/sqs-at-rest, filled in by sse_key()
    "sse-kms-aws": {"KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "60"},
    "sse-sqs": {"SqsManagedSseEnabled": "true"},
    "sse-default": {},
    "sse-off.fifo": {"FifoQueue": "true", "SqsManagedSseEnabled": "false",
                     "ContentBasedDeduplication": "true"},
}


def sse_kms():
    return boto3.client("kms", endpoint_url=ENDPOINT, aws_access_key_id="test",
                        aws_secret_access_key="secret", region_name="us-east-1", config=CFG)


def sse_key():
    return kms_key(sse_kms(), "alias/sqs-at-rest", "sqs at rest")["KeyId"]


def sse_attrs(name):
    a = SSE_QUEUES[name]
    return {"KmsMasterKeyId": "alias/sqs-at-rest"} if a is None else a


def sse_body(name, i):
    if name.startswith("sse-off"):
        # The control: stored as sent, so the scan must find it.
        return f"SNAPSTACK-SQS-PLAIN-CONTROL {i}"
    return f"{SSE_MARKER} {name} {i}"


def sse_write():
    c = sqs()
    sse_key()
    e = expect_error("InvalidAttributeName", c.create_queue, QueueName="sse-both",
                     Attributes={"SqsManagedSseEnabled": "true", "KmsMasterKeyId": "alias/aws/sqs"})
    check("one type of server-side encryption" in str(e), e)
    for name in SSE_QUEUES:
        url = c.create_queue(QueueName=name, Attributes=sse_attrs(name))["QueueUrl"]
        a = attrs(c, url)
        kms = "KmsMasterKeyId" in sse_attrs(name)
        check(a.get("SqsManagedSseEnabled") == ("false" if kms or "off" in name else "true"), a)
        if kms:
            check(a["KmsMasterKeyId"] == sse_attrs(name)["KmsMasterKeyId"], a)
            check(a["KmsDataKeyReusePeriodSeconds"] in ("300", "60"), a)
        extra = {"MessageGroupId": "g"} if name.endswith(".fifo") else {}
        r = c.send_message(QueueUrl=url, MessageBody=sse_body(name, 0),
                           MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
                           **extra)
        check(r["MD5OfMessageBody"] == md5(sse_body(name, 0)), r)
        entries = [dict(Id=str(i), MessageBody=sse_body(name, i), **extra) for i in (1, 2)]
        r = c.send_message_batch(QueueUrl=url, Entries=entries)
        check(len(r["Successful"]) == 2, r)
    # alias/aws/sqs is the AWS managed key KMS made on first use.
    meta = sse_kms().describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]
    check(meta["KeyManager"] == "AWS", meta)
    print("sse-write ok")


def sse_read():
    c = sqs()
    for name in SSE_QUEUES:
        url = c.get_queue_url(QueueName=name)["QueueUrl"]
        got = recv(c, url)
        want = sorted(sse_body(name, i) for i in range(3))
        check(sorted(m["Body"] for m in got) == want, (name, got))
        for m in got:
            check(m["MD5OfBody"] == md5(m["Body"]), m)
        # Back to visible for the next reader.
        c.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(got)])
    print("sse-read ok")


def sse_kms_off():
    c = sqs()
    k = sse_kms()
    key_id = sse_key()
    url = c.get_queue_url(QueueName="sse-kms")["QueueUrl"]
    k.disable_key(KeyId=key_id)
    try:
        expect_error("KMS.DisabledException", c.receive_message, QueueUrl=url)
        expect_error("KMS.DisabledException", c.send_message, QueueUrl=url, MessageBody="x")
        expect_error("KMS.DisabledException", c.send_message_batch, QueueUrl=url,
                     Entries=[{"Id": "a", "MessageBody": "x"}])
        check(attrs(c, url)["ApproximateNumberOfMessages"] == "3", "nothing changed")
        # The other queues do not use that key.
        for name in ("sse-sqs", "sse-kms-aws"):
            u = c.get_queue_url(QueueName=name)["QueueUrl"]
            got = recv(c, u)
            check(len(got) == 3, (name, got))
            c.change_message_visibility_batch(QueueUrl=u, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(got)])
    finally:
        k.enable_key(KeyId=key_id)
    # A key pending deletion, and one that does not exist: the first send asks KMS for a data key.
    pending = kms_key(k, "alias/sqs-pending", "sqs pending deletion")["KeyId"]
    u = c.create_queue(QueueName="sse-kms-pending", Attributes={"KmsMasterKeyId": pending})
    k.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
    try:
        expect_error("KMS.InvalidStateException", c.send_message, QueueUrl=u["QueueUrl"],
                     MessageBody="x")
    finally:
        k.cancel_key_deletion(KeyId=pending)
        k.enable_key(KeyId=pending)
    u = c.create_queue(QueueName="sse-kms-missing",
                       Attributes={"KmsMasterKeyId": "alias/sqs-no-such-key"})
    expect_error("KMS.NotFoundException", c.send_message, QueueUrl=u["QueueUrl"], MessageBody="x")
    got = recv(c, url)
    check(sorted(m["Body"] for m in got) == sorted(sse_body("sse-kms", i) for i in range(3)), got)
    c.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
        for i, m in enumerate(got)])
    print("sse-kms-off ok")


import urllib.parse  # noqa: E402

COMMANDS = {
    "sse-write": (sse_write, 0),
    "sse-read": (sse_read, 0),
    "sse-kms-off": (sse_kms_off, 0),
    "suite": (suite, 0),
    "fifo": (fifo, 0),
    "longpoll": (longpoll, 0),
    "raw": (raw, 0),
    "concurrent": (concurrent, 0),
    "accounts": (accounts, 0),
    "urls": (urls, 2),
    "prepare": (prepare, 1),
    "check": (check_after, 1),
}

run_commands(COMMANDS, ARGS)

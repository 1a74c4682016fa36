#!/usr/bin/env python3
"""Per-service persistence switches and metrics, driven with boto3.

Usage: persistence_switches.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  make TAG                 an SQS queue q-TAG with one message, an S3 bucket b-TAG with
                           object k ("hello TAG"), an SSM parameter /p/TAG = TAG
  expect TAG SQS S3 SSM    each of them there (1) or gone (0); the object's bytes when there
  putbig TAG SEED          object "big" in bucket b-TAG: 300 KiB of bytes made from SEED
  getbig TAG SEED          object "big" holds the bytes of SEED
"""

import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="secret",
        region_name="us-east-1",
        config=CFG,
    )


def cmd_make(tag):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=f"q-{tag}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=f"m-{tag}")
    s3 = client("s3")
    s3.create_bucket(Bucket=f"b-{tag}")
    s3.put_object(Bucket=f"b-{tag}", Key="k", Body=f"hello {tag}".encode())
    client("ssm").put_parameter(Name=f"/p/{tag}", Value=tag, Type="String")


def cmd_expect(tag, sqs_there, s3_there, ssm_there):
    queues = client("sqs").list_queues().get("QueueUrls", [])
    has_queue = any(u.endswith(f"/q-{tag}") for u in queues)
    check(has_queue == (sqs_there == "1"), f"queue q-{tag} there: {has_queue}; {queues}")
    buckets = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
    has_bucket = f"b-{tag}" in buckets
    check(has_bucket == (s3_there == "1"), f"bucket b-{tag} there: {has_bucket}; {buckets}")
    if has_bucket:
        body = client("s3").get_object(Bucket=f"b-{tag}", Key="k")["Body"].read()
        check(body == f"hello {tag}".encode(), f"object bytes {body!r}")
    try:
        value = client("ssm").get_parameter(Name=f"/p/{tag}")["Parameter"]["Value"]
        has_param = value == tag
    except ClientError as e:
        check(e.response["Error"]["Code"] == "ParameterNotFound", str(e))
        has_param = False
    check(has_param == (ssm_there == "1"), f"parameter /p/{tag} there: {has_param}")


def big(seed):
    x = int(seed) * 2654435761 + 1
    out = bytearray()
    while len(out) < 300 * 1024:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out)


def cmd_putbig(tag, seed):
    client("s3").put_object(Bucket=f"b-{tag}", Key="big", Body=big(seed))


def cmd_getbig(tag, seed):
    body = client("s3").get_object(Bucket=f"b-{tag}", Key="big")["Body"].read()
    check(body == big(seed), f"object big of b-{tag} is not the bytes of seed {seed}")


COMMANDS = {
    "make": (cmd_make, 1),
    "expect": (cmd_expect, 4),
    "putbig": (cmd_putbig, 2),
    "getbig": (cmd_getbig, 2),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

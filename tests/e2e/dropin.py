#!/usr/bin/env python3
"""The URLs a LocalStack user is handed, under a custom LOCALSTACK_HOST (tests/dropin_e2e.rs).

Usage: dropin.py ENDPOINT COMMAND [ARGS]...
  s3-locations HOST   CreateBucket outside us-east-1 and CompleteMultipartUpload answer absolute
                      Locations under http://<bucket>.s3.HOST/; CreateBucket in us-east-1 "/<bucket>"
  sns-urls HOST       an SNS message delivered to SQS names SigningCertURL and UnsubscribeURL
                      under http://HOST/, and the certificate is served there
  s3-put BUCKET KEY   create BUCKET if needed, put a small object at KEY
  sqs-send QUEUE BODY FILE  create QUEUE if needed, send BODY; the MessageId to FILE
"""

import json
import sys
import urllib.request

import boto3
from botocore.config import Config

from checks import check, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)


def client(service, region="us-east-1", **extra):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=region,
        config=CFG.merge(Config(**extra)) if extra else CFG,
    )


def cmd_s3_locations(host):
    s3 = client("s3", s3={"addressing_style": "path"})
    out = s3.create_bucket(Bucket="loc-east")
    check(out["Location"] == "/loc-east", out["Location"])
    eu = client("s3", region="eu-west-1", s3={"addressing_style": "path"})
    out = eu.create_bucket(
        Bucket="loc-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    check(out["Location"] == f"http://loc-eu.s3.{host}/", out["Location"])
    up = s3.create_multipart_upload(Bucket="loc-east", Key="dir/big.bin")
    part = s3.upload_part(
        Bucket="loc-east", Key="dir/big.bin", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 10
    )
    out = s3.complete_multipart_upload(
        Bucket="loc-east",
        Key="dir/big.bin",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    check(out["Location"] == f"http://loc-east.s3.{host}/dir/big.bin", out["Location"])


def cmd_sns_urls(host):
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="urls")["TopicArn"]
    queue = sqs.create_queue(QueueName="urls")["QueueUrl"]
    check(host in queue, f"queue URL {queue} names {host}")
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="hello")
    msgs = []
    for _ in range(20):
        msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        if msgs:
            break
    check(msgs, "the message reached the queue")
    body = json.loads(msgs[0]["Body"])
    for field in ("SigningCertURL", "UnsubscribeURL"):
        check(body[field].startswith(f"http://{host}/"), f"{field}: {body[field]}")
    # The certificate is served at that path of this server.
    path = body["SigningCertURL"][len(f"http://{host}") :]
    with urllib.request.urlopen(ENDPOINT + path, timeout=30) as r:
        check(b"BEGIN CERTIFICATE" in r.read(), "the certificate is PEM")


def cmd_s3_put(bucket, key):
    s3 = client("s3", s3={"addressing_style": "path"})
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"body of " + key.encode())


def cmd_sqs_send(queue, body, path):
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    msg_id = sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]
    with open(path, "w") as f:
        f.write(msg_id)


COMMANDS = {
    "s3-put": (cmd_s3_put, 2),
    "sqs-send": (cmd_sqs_send, 3),
    "s3-locations": (cmd_s3_locations, 1),
    "sns-urls": (cmd_sns_urls, 1),
}

if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

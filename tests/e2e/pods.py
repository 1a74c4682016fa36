#!/usr/bin/env python3
"""State for the pod tests (`tests/pods_e2e.rs`), through boto3 as a user would make it.

Usage: pods.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  bucket NAME          create an S3 bucket (the remote's bucket, on a snapstack or moto)
  populate MIB         S3 objects (MIB MiB of pseudo-random bodies in 256 KiB objects, two
                       regions), SQS queues with messages, a DynamoDB table with items, SSM
                       parameters, in two accounts
  modify               change one S3 object, one item and one parameter (a small change)
  dump                 print every resource as JSON (sorted): buckets and objects (md5 of the
                       body), queues (attributes, visible messages counted), tables and items,
                       parameters
  create-only BUCKET   check that PutObject with If-None-Match: * creates a key once and then
                       fails with 412 PreconditionFailed (what a pod save's version object needs)
  count BUCKET PREFIX  print how many objects the bucket holds under PREFIX
  local                state a pod does not hold, for the merge strategies: in account
                       333333333333 (us-west-2) parameter /other and queue other; in the pod's
                       111111111111 us-east-1, parameter /extra and /app/p3 = "local"
  extras               print JSON: {"other_param", "other_queue", "extra": whether each is
                       there, "p3": the value of /app/p3 in 111111111111 us-east-1 or null}
"""

import hashlib
import json
import random
import sys

import boto3
from botocore.config import Config

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 2}, connect_timeout=10, read_timeout=300)
ACCOUNTS = {"111111111111": "us-east-1", "222222222222": "eu-west-1"}


def client(service, account="111111111111", region="us-east-1"):
    # snapstack takes the account from a 12-digit access key id.
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        aws_access_key_id=account,
        aws_secret_access_key="secret",
        region_name=region,
        config=CFG,
    )


def bucket(name):
    client("s3", "test").create_bucket(Bucket=name)


def body(seed, size):
    return random.Random(seed).randbytes(size)


def populate(mib):
    n = max(1, int(float(mib) * 4))
    for account, region in ACCOUNTS.items():
        s3 = client("s3", account, region)
        b = f"data-{account}"
        if region == "us-east-1":
            s3.create_bucket(Bucket=b)
        else:
            s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": region})
        for i in range(n):
            s3.put_object(Bucket=b, Key=f"obj/{i:04}", Body=body(f"{account}{i}", 256 * 1024))
        sqs = client("sqs", account, region)
        for q in ("jobs", "events"):
            url = sqs.create_queue(QueueName=q, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
            for m in range(5):
                sqs.send_message(QueueUrl=url, MessageBody=f"{q} message {m}")
        ddb = client("dynamodb", account, region)
        ddb.create_table(
            TableName="items",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(200):
            ddb.put_item(TableName="items", Item={"id": {"S": f"item-{i}"}, "n": {"N": str(i)}})
        ssm = client("ssm", account, region)
        for i in range(20):
            ssm.put_parameter(Name=f"/app/p{i}", Value=f"value {i}", Type="String")


def modify():
    account, region = "111111111111", "us-east-1"
    client("s3", account, region).put_object(
        Bucket=f"data-{account}", Key="obj/0000", Body=body("changed", 256 * 1024))
    client("dynamodb", account, region).put_item(
        TableName="items", Item={"id": {"S": "item-7"}, "n": {"N": "-7"}})
    client("ssm", account, region).put_parameter(
        Name="/app/p3", Value="changed", Type="String", Overwrite=True)


def dump():
    out = {}
    for account, region in ACCOUNTS.items():
        d = {}
        s3 = client("s3", account, region)
        for b in s3.list_buckets()["Buckets"]:
            objs = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
                for o in page.get("Contents", []):
                    data = s3.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read()
                    objs[o["Key"]] = hashlib.md5(data).hexdigest()
            d[f"s3:{b['Name']}"] = objs
        sqs = client("sqs", account, region)
        for url in sorted(sqs.list_queues().get("QueueUrls", [])):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            keep = {k: attrs[k] for k in ("QueueArn", "VisibilityTimeout",
                                          "ApproximateNumberOfMessages", "CreatedTimestamp")}
            d[f"sqs:{url.rsplit('/', 1)[-1]}"] = keep
        ddb = client("dynamodb", account, region)
        for t in ddb.list_tables()["TableNames"]:
            items = []
            for page in ddb.get_paginator("scan").paginate(TableName=t):
                items.extend(page["Items"])
            d[f"ddb:{t}"] = sorted(json.dumps(i, sort_keys=True) for i in items)
        ssm = client("ssm", account, region)
        params = {}
        for page in ssm.get_paginator("describe_parameters").paginate():
            for p in page["Parameters"]:
                params[p["Name"]] = [ssm.get_parameter(Name=p["Name"])["Parameter"]["Value"],
                                     p["Version"]]
        d["ssm"] = params
        out[account] = d
    print(json.dumps(out, sort_keys=True))


def create_only(name):
    s3 = client("s3", "test")
    s3.put_object(Bucket=name, Key="create-only-probe", Body=b"first", IfNoneMatch="*")
    e = expect_error("PreconditionFailed", s3.put_object, Bucket=name, Key="create-only-probe",
                     Body=b"second", IfNoneMatch="*")
    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    check(status == 412, f"If-None-Match on an existing key: {status}")
    body = s3.get_object(Bucket=name, Key="create-only-probe")["Body"].read()
    check(body == b"first", f"the first write stands: {body!r}")
    s3.delete_object(Bucket=name, Key="create-only-probe")


def count(name, prefix):
    s3 = client("s3", "test")
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
        n += len(page.get("Contents", []))
    print(n)


def local():
    ssm = client("ssm", "333333333333", "us-west-2")
    ssm.put_parameter(Name="/other", Value="other", Type="String")
    client("sqs", "333333333333", "us-west-2").create_queue(QueueName="other")
    ssm = client("ssm")
    ssm.put_parameter(Name="/extra", Value="extra", Type="String")
    ssm.put_parameter(Name="/app/p3", Value="local", Type="String", Overwrite=True)


def param(ssm, name):
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def extras():
    other = client("ssm", "333333333333", "us-west-2")
    queues = client("sqs", "333333333333", "us-west-2").list_queues().get("QueueUrls", [])
    ssm = client("ssm")
    print(json.dumps({
        "other_param": param(other, "/other") is not None,
        "other_queue": any(u.endswith("/other") for u in queues),
        "extra": param(ssm, "/extra") is not None,
        "p3": param(ssm, "/app/p3"),
    }, sort_keys=True))


if __name__ == "__main__":
    run_commands(
        {
            "bucket": (bucket, 1),
            "populate": (populate, 1),
            "modify": (modify, 0),
            "dump": (dump, 0),
            "create-only": (create_only, 1),
            "count": (count, 2),
            "local": (local, 0),
            "extras": (extras, 0),
        },
        sys.argv[2:],
    )

#!/usr/bin/env python3
"""Print requests botocore signs (SigV4 header and presigned forms), as the JSON fixture
`fixtures/botocore_sigv4.json` that `tests/sigv4.rs` verifies.

    python3 crates/policy/tests/botocore_sigv4.py > crates/policy/tests/fixtures/botocore_sigv4.json

Nothing is sent: a `before-send` hook captures each prepared request and stops it.
"""
import calendar
import json
import sys
import time
from urllib.parse import urlsplit, parse_qs

import boto3
import botocore
from botocore.config import Config

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://localhost:4566"


class Captured(Exception):
    pass


captured = []


def capture(request, **_):
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    captured.append((request.method, request.url, list(request.headers.items()), body))
    raise Captured()


def amz_epoch(amz):
    return calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))


def record(name, service, method, url, headers, body, secret=SECRET, access_key=ACCESS_KEY):
    parts = urlsplit(url)
    hdrs = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in headers]
    if not any(k.lower() == "host" for k, _ in hdrs):
        hdrs.append(("Host", parts.netloc))
    amz = next((v for k, v in hdrs if k.lower() == "x-amz-date"), None)
    if amz is None:
        amz = parse_qs(parts.query)["X-Amz-Date"][0]
    return {
        "name": name,
        "service": service,
        "method": method,
        "path": parts.path or "/",
        "query": parts.query,
        "headers": hdrs,
        "body": body.decode("utf-8"),
        "access_key": access_key,
        "secret": secret,
        "now": amz_epoch(amz),
    }


def client(service, token=None, endpoint=ENDPOINT, **config):
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY if token is None else "ASIAIOSFODNN7EXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        region_name="us-east-1",
    )
    c = session.client(service, endpoint_url=endpoint, config=Config(**config))
    c.meta.events.register("before-send", capture)
    return c


def call(name, service, fn, access_key=ACCESS_KEY):
    captured.clear()
    try:
        fn()
    except Captured:
        pass
    method, url, headers, body = captured[-1]
    return record(name, service, method, url, headers, body, access_key=access_key)


def main():
    out = []
    s3 = client("s3", s3={"addressing_style": "path"}, signature_version="s3v4")
    awkward = "dir/a b+c=d&e$f~g%h(\u00fc)*'!.txt"
    out.append(call("s3 put_object awkward key", "s3",
                    lambda: s3.put_object(Bucket="bucket", Key=awkward, Body=b"hello")))
    out.append(call("s3 list_objects_v2 query", "s3",
                    lambda: s3.list_objects_v2(Bucket="bucket", Prefix="a b/\u00fc", Delimiter="/")))
    out.append(call("s3 get_object range", "s3",
                    lambda: s3.get_object(Bucket="bucket", Key="k", Range="bytes=0-9")))
    for op, params in [("get_object", {"Bucket": "bucket", "Key": awkward}),
                       ("put_object", {"Bucket": "bucket", "Key": "plain.txt"})]:
        url = s3.generate_presigned_url(op, Params=params, ExpiresIn=3600)
        method = "GET" if op == "get_object" else "PUT"
        out.append(record(f"s3 presigned {op}", "s3", method, url, [], b""))
    s3tls = client("s3", endpoint="https://localhost:4566", s3={"addressing_style": "path"},
                   signature_version="s3v4")
    out.append(call("s3 put_object over https (unsigned payload, checksum trailer)", "s3",
                    lambda: s3tls.put_object(Bucket="bucket", Key="k", Body=b"hello")))
    s3tmp = client("s3", token="FQoGZXIvYXdzEJr//////////wEaDExampleSessionToken",
                   s3={"addressing_style": "path"}, signature_version="s3v4")
    url = s3tmp.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"},
                                       ExpiresIn=60)
    out.append(record("s3 presigned get_object with a session token", "s3", "GET", url, [], b"",
                      access_key="ASIAIOSFODNN7EXAMPLE"))
    sts = client("sts")
    out.append(call("sts get_caller_identity (query POST)", "sts", lambda: sts.get_caller_identity()))
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=900, HttpMethod="GET")
    out.append(record("sts presigned get_caller_identity", "sts", "GET", url, [], b""))
    ddb = client("dynamodb")
    out.append(call("dynamodb list_tables (JSON)", "dynamodb", lambda: ddb.list_tables(Limit=5)))
    sqs = client("sqs")
    out.append(call("sqs send_message unicode", "sqs",
                    lambda: sqs.send_message(QueueUrl=ENDPOINT + "/000000000000/q",
                                             MessageBody="h\u00e9llo \u2603")))
    lam = client("lambda")
    out.append(call("lambda get_function (double-encoded path)", "lambda",
                    lambda: lam.get_function(
                        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:f",
                        Qualifier="1")))
    sns = client("sns", token="FQoGZXIvYXdzEJr//////////wEaDExampleSessionToken")
    out.append(call("sns publish with a session token", "sns",
                    lambda: sns.publish(TopicArn="arn:aws:sns:us-east-1:000000000000:t",
                                        Message="a b&c=d"),
                    access_key="ASIAIOSFODNN7EXAMPLE"))
    json.dump({"botocore": botocore.__version__, "requests": out}, sys.stdout, indent=1,
              ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()

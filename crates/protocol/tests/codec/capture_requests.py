#!/usr/bin/env python3
"""Capture requests as botocore's own REST serializers write them, as fixtures for the rest
codec's request parser (crates/protocol/src/codec/rest/tests.rs reads tests/codec/rest_requests.json).

Run from the repository root with the botocore the models came from (models/BOTOCORE_VERSION):

    python3 crates/protocol/tests/codec/capture_requests.py > crates/protocol/tests/codec/rest_requests.json

Each case holds the operation, the request as sent (method, raw path, raw query, headers, body
in base64) and the input as the neutral value ("JSON shape": timestamps as epoch seconds, blobs
as base64; a streaming payload is left out, the codec does not read it).
"""

import base64
import datetime
import json
import sys
from urllib.parse import urlsplit

import botocore
import botocore.session
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.serialize import create_serializer

UTC = datetime.timezone.utc

CASES = [
    ("s3", "PutObject", {
        "Bucket": "my-bucket",
        "Key": "dir/a b+c~\u00e9%.txt",
        "Body": b"hello",
        "ContentType": "text/plain",
        "ContentLength": 5,
        "Metadata": {"color": "blue", "x-y": "1 2"},
        # A string in the embedded model (models/s3.json), a timestamp in botocore's: the
        # RFC 822 text is the same on the wire either way.
        "Expires": "Sun, 29 Nov 2026 04:05:06 GMT",
        "ObjectLockRetainUntilDate": datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
        "BucketKeyEnabled": True,
        "Tagging": "a=b&c=d",
        "StorageClass": "STANDARD_IA",
    }),
    ("s3", "PutBucketLifecycleConfiguration", {
        "Bucket": "my-bucket",
        "LifecycleConfiguration": {"Rules": [
            {
                "ID": "logs",
                "Filter": {"Prefix": "logs/"},
                "Status": "Enabled",
                "Expiration": {"Days": 30},
                "Transitions": [{"Days": 10, "StorageClass": "GLACIER"}],
                "NoncurrentVersionExpiration": {"NoncurrentDays": 5},
            },
            {
                "ID": "tmp & <old>",
                "Filter": {"And": {"Prefix": "tmp/", "Tags": [
                    {"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": ""}]}},
                "Status": "Disabled",
                "Expiration": {"Date": datetime.datetime(2026, 1, 1, tzinfo=UTC)},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            },
        ]},
    }),
    ("s3", "DeleteObjects", {
        "Bucket": "my-bucket",
        "Delete": {"Objects": [{"Key": "a"}, {"Key": "b&<c>\"'", "VersionId": "v1"}],
                   "Quiet": True},
    }),
    ("s3", "PutBucketTagging", {
        "Bucket": "my-bucket",
        "Tagging": {"TagSet": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "a b"}]},
    }),
    ("s3", "PutBucketAcl", {
        "Bucket": "my-bucket",
        "AccessControlPolicy": {
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "READ"},
                {"Grantee": {"Type": "Group",
                             "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                 "Permission": "WRITE"},
            ],
            "Owner": {"ID": "abc", "DisplayName": "me"},
        },
    }),
    ("s3", "ListObjectsV2", {
        "Bucket": "my-bucket",
        "Prefix": "a b/",
        "MaxKeys": 7,
        "FetchOwner": True,
        "StartAfter": "x&y=z",
        "OptionalObjectAttributes": ["RestoreStatus"],
    }),
    ("lambda", "CreateFunction", {
        "FunctionName": "fn",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/r",
        "Handler": "app.handler",
        "Code": {"ZipFile": b"PK\x03\x04zip"},
        "Timeout": 30,
        "MemorySize": 256,
        "Publish": True,
        "Environment": {"Variables": {"A": "1", "B": "two"}},
        "Tags": {"team": "x"},
        "Architectures": ["arm64"],
    }),
    ("lambda", "Invoke", {
        "FunctionName": "fn:live",
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "ClientContext": "eyJhIjoxfQ==",
        "Payload": b'{"a": 1}',
    }),
    ("lambda", "ListFunctions", {"MaxItems": 5, "Marker": "m/1", "FunctionVersion": "ALL"}),
    ("route53", "ChangeResourceRecordSets", {
        "HostedZoneId": "Z123",
        "ChangeBatch": {"Comment": "c", "Changes": [{
            "Action": "UPSERT",
            "ResourceRecordSet": {"Name": "a.example.com.", "Type": "A", "TTL": 300,
                                  "ResourceRecords": [{"Value": "1.2.3.4"}, {"Value": "5.6.7.8"}]},
        }]},
    }),
    ("apigatewayv2", "CreateApi", {
        "Name": "api",
        "ProtocolType": "HTTP",
        "CorsConfiguration": {"AllowOrigins": ["https://a.example"], "MaxAge": 60,
                              "AllowCredentials": False},
        "Tags": {"k": "v"},
    }),
]


def neutral(value):
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutral(v) for v in value]
    if isinstance(value, datetime.datetime):
        ts = value.timestamp()
        return int(ts) if ts == int(ts) else ts
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def main():
    session = botocore.session.get_session()
    out = []
    for service, operation, params in CASES:
        model = session.get_service_model(service)
        op = model.operation_model(operation)
        serializer = create_serializer(model.metadata["protocol"], include_validation=True)
        req = serializer.serialize_to_request(params, op)
        prepare_request_dict(req, endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
        prepared = create_request_object(req).prepare()
        url = urlsplit(prepared.url)
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        expected = neutral(params)
        payload = op.input_shape.serialization.get("payload")
        if payload and op.input_shape.members[payload].type_name == "blob" and \
                op.input_shape.members[payload].serialization.get("streaming", False) or \
                (payload and op.input_shape.members[payload].metadata.get("streaming")):
            expected.pop(payload, None)
        out.append({
            "service": service,
            "operation": operation,
            "method": prepared.method,
            "path": url.path,
            "query": url.query,
            "headers": [[k, v if isinstance(v, str) else v.decode()]
                        for k, v in prepared.headers.items()],
            "body": base64.b64encode(body).decode(),
            "expected": expected,
        })
    json.dump({"botocore": botocore.__version__, "cases": out}, sys.stdout, indent=1,
              ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

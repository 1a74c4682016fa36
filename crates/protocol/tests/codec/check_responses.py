#!/usr/bin/env python3
"""Check that the rest codec's responses parse in botocore, to the values they were made from.

Run from the repository root (it runs the ignored Rust test that writes the responses):

    python3 crates/protocol/tests/codec/check_responses.py

or, with responses already dumped,

    REST_CODEC_DUMP=/tmp/rest.json cargo test -p snapstack-protocol --lib codec::rest::tests::dump_responses_for_botocore -- --ignored
    python3 crates/protocol/tests/codec/check_responses.py /tmp/rest.json

Each response goes through botocore's own RestXMLParser / RestJSONParser with the operation's
real output shape; the parsed dict (timestamps back to epoch seconds, blobs to base64) must equal
the neutral value the codec serialized. Also checks that error bodies parse to their code.
"""

import base64
import datetime
import email.utils
import json
import os
import subprocess
import sys
import tempfile

import botocore.session
from botocore.parsers import create_parser


def neutral(value):
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutral(v) for v in value]
    if isinstance(value, datetime.datetime):
        ts = value.timestamp()
        return int(ts) if ts == int(ts) else round(ts, 3)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def dump(path):
    env = dict(os.environ, REST_CODEC_DUMP=path)
    subprocess.run(
        ["cargo", "test", "-p", "snapstack-protocol", "--lib", "codec::rest::tests::dump_responses_for_botocore",
         "--", "--ignored", "--exact"],
        check=True, env=env, stdout=subprocess.DEVNULL)


def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        path = os.path.join(tempfile.mkdtemp(), "rest.json")
        dump(path)
    cases = json.load(open(path))
    session = botocore.session.get_session()
    failures = 0
    for case in cases:
        model = session.get_service_model(case["service"])
        op = model.operation_model(case["operation"])
        parser = create_parser(model.metadata["protocol"])
        response = {
            "status_code": case["status"],
            "headers": {k: v for k, v in case["headers"]},
            "body": base64.b64decode(case["body"]),
        }
        parsed = parser.parse(response, op.output_shape)
        parsed.pop("ResponseMetadata", None)
        got = neutral(parsed)
        # A streaming payload is the caller's; botocore hands back the (empty) body.
        payload = op.output_shape.serialization.get("payload")
        if payload and op.output_shape.members[payload].type_name == "blob":
            got.pop(payload, None)
        # S3's Expires is a string in the embedded model (models/s3.json) and a timestamp in
        # installed botocore's: the RFC 822 text on the wire is the same.
        if isinstance(case["expected"].get("Expires"), str) and isinstance(got.get("Expires"), int):
            got["Expires"] = email.utils.formatdate(got["Expires"], usegmt=True)
        ok = got == case["expected"]
        failures += not ok
        print(("ok  " if ok else "FAIL"), case["service"], case["operation"])
        if not ok:
            print("   expected:", json.dumps(case["expected"], sort_keys=True))
            print("   got:     ", json.dumps(got, sort_keys=True, default=str))

    # Errors, as the codec writes them (see crates/protocol/src/codec/rest/error.rs).
    s3_error = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                b'<Message>The specified key does not exist.</Message><Key>a&amp;b</Key>'
                b'<RequestId>r1</RequestId><HostId>h</HostId></Error>')
    r53_error = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="https://route53'
                 b'.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>NoSuchHostedZone'
                 b'</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>')
    for protocol, status, headers, body, code in [
        ("rest-xml", 404, {"x-amz-request-id": "r1"}, s3_error, "NoSuchKey"),
        ("rest-xml", 404, {}, r53_error, "NoSuchHostedZone"),
        ("rest-json", 404, {"x-amzn-errortype": "ResourceNotFoundException"},
         b'{"Type":"User","message":"nope"}', "ResourceNotFoundException"),
    ]:
        parsed = create_parser(protocol).parse(
            {"status_code": status, "headers": headers, "body": body}, None)
        ok = parsed["Error"]["Code"] == code and parsed["Error"]["Message"] in (
            "The specified key does not exist.", "m", "nope")
        failures += not ok
        print(("ok  " if ok else "FAIL"), "error", protocol, code, parsed["Error"])
    if failures:
        sys.exit(f"{failures} case(s) failed")


if __name__ == "__main__":
    main()

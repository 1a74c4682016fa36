#!/usr/bin/env python3
"""Reads the query-protocol XML that snapstack writes back with botocore's own `QueryParser`.

The Rust test `protocol::codec::query::tests::write_fixtures` writes, for STS GetCallerIdentity
and AssumeRole, SQS ListQueues, ReceiveMessage, GetQueueAttributes and DeleteQueue, and an STS
error, the neutral value and the XML `serialize_output` / `serialize_error` made of it. This
script parses each XML with `botocore.parsers.QueryParser` and the operation's real output shape,
and checks that botocore reads back the value (timestamps as datetimes, blobs as bytes). The
models are the repository's `models/<service>.json` (botocore's, stripped of documentation);
for SQS, whose botocore model is JSON-only now, the query names of
`crates/protocol/src/codec/query/sqs_query.json` are laid over it as `sqs_query_model()` does.

Run from the repository root:

    QUERY_FIXTURES_DIR=/tmp/query-fixtures \\
        cargo test -p snapstack-protocol --lib codec::query::tests::write_fixtures
    python3 crates/protocol/tests/codec/query_botocore.py /tmp/query-fixtures/fixtures.json

It prints one line per fixture and exits non-zero on the first mismatch.
"""

import base64
import datetime
import json
import os
import sys

from botocore.model import ServiceModel
from botocore.parsers import QueryParser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_model(service):
    with open(os.path.join(ROOT, "models", service + ".json"), encoding="utf-8") as f:
        model = json.load(f)
    if service == "sqs":
        path = os.path.join(ROOT, "src", "codec", "query", "sqs_query.json")
        with open(path, encoding="utf-8") as f:
            overlay = json.load(f)
        model["metadata"].update(overlay["metadata"])
        for op, wrapper in overlay["resultWrappers"].items():
            model["operations"][op]["output"]["resultWrapper"] = wrapper
        for name, o in overlay["shapes"].items():
            shape = model["shapes"][name]
            for key in ("locationName", "flattened", "error"):
                if key in o:
                    shape[key] = o[key]
            for part in ("member", "key", "value"):
                if part in o:
                    shape[part].update(o[part])
            for member, mo in o.get("members", {}).items():
                shape["members"][member].update(mo)
    return ServiceModel(model, service_name=service)


def neutral(value):
    """botocore's parsed value in the neutral form (epoch seconds, base64 blobs)."""
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutral(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) < 1e-6
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/query-fixtures/fixtures.json"
    with open(path, encoding="utf-8") as f:
        fixtures = json.load(f)
    models = {}
    for fx in fixtures:
        service = fx["service"]
        model = models.setdefault(service, load_model(service))
        response = {"body": fx["xml"].encode(), "headers": {}, "status_code": 200}
        if fx.get("error"):
            response["status_code"] = 400
            parsed = QueryParser().parse(response, None)
            err = parsed["Error"]
            ok = (err["Code"], err["Message"], err["Type"]) == (fx["code"], fx["message"], "Sender")
            ok = ok and parsed["ResponseMetadata"]["RequestId"] == "rid-2"
            label = f"{service} error {fx['code']}"
        else:
            op = model.operation_model(fx["operation"])
            parsed = QueryParser().parse(response, op.output_shape)
            meta = parsed.pop("ResponseMetadata", {})
            got = neutral(parsed)
            ok = same(got, fx["value"]) and meta.get("RequestId") == "rid-1"
            label = f"{service} {fx['operation']}"
        print(("ok   " if ok else "FAIL ") + label)
        if not ok:
            print("  xml:      " + fx["xml"])
            print("  expected: " + json.dumps(fx.get("value", fx.get("code"))))
            print("  botocore: " + json.dumps(neutral(parsed), default=str))
            sys.exit(1)
    print(f"{len(fixtures)} fixtures read back by botocore {__import__('botocore').__version__}")


if __name__ == "__main__":
    main()

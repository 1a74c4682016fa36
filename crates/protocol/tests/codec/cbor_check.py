"""Parse our CBOR responses with botocore's RpcV2CBORParser.

Run:
  cargo test -p snapstack-protocol --lib codec::cbor::tests::for_botocore -- --nocapture \
    | grep '^cbor ' | python3 crates/protocol/tests/codec/cbor_check.py

Each input line is `cbor output <Operation> <status> <hex>` or
`cbor error <Operation> <status> <hex> <x-amzn-query-error or ->`.
"""

import sys

import botocore.session
from botocore.parsers import RpcV2CBORParser

model = botocore.session.get_session().get_service_model("cloudwatch")
parser = RpcV2CBORParser()
n = 0
for line in sys.stdin:
    parts = line.split()
    kind, op, status, body = parts[1], parts[2], int(parts[3]), bytes.fromhex(parts[4])
    headers = {"content-type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
    if kind == "error" and parts[5] != "-":
        headers["x-amzn-query-error"] = parts[5]
    response = {"status_code": status, "headers": headers, "body": body}
    shape = model.operation_model(op).output_shape
    parsed = parser.parse(response, shape)
    print(kind, op, parsed)
    if kind == "output":
        r = parsed["MetricDataResults"][0]
        assert r["Id"] == "q1" and r["Label"] == "Latency", r
        assert [t.timestamp() for t in r["Timestamps"]] == [
            1795925106,
            1795925106.789,
        ], r["Timestamps"]
        assert r["Values"] == [12.5, -0.25] and r["StatusCode"] == "Complete", r
        assert r["Messages"] == [{"Code": "c", "Value": "v"}], r
        assert parsed["NextToken"] == "t", parsed
    else:
        e = parsed["Error"]
        assert e["Code"] == "LimitExceeded", e
        assert e["QueryErrorCode"] == "LimitExceededFault", e
        assert e["Type"] == "Sender" and e["Message"] == "Too many", e
    n += 1
assert n == 2, n
print("ok: botocore parsed", n, "responses")

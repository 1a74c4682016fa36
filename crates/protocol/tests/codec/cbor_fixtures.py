"""Requests as botocore's RpcV2CBORSerializer writes them, for the CBOR codec's fixtures.

Run: python3 crates/protocol/tests/codec/cbor_fixtures.py
Prints, per request, the URL path, the headers and the body in hex; the hex is pasted into
crates/protocol/src/codec/cbor/tests.rs (botocore_fixtures), which asserts what our parser makes of it.
"""

import datetime

import botocore
import botocore.session
from botocore.serialize import RpcV2CBORSerializer

session = botocore.session.get_session()
model = session.get_service_model("cloudwatch")
assert model.metadata["protocols"][0] == "smithy-rpc-v2-cbor", model.metadata["protocols"]
serializer = RpcV2CBORSerializer()

t = datetime.datetime(2026, 11, 29, 4, 5, 6, tzinfo=datetime.timezone.utc)
requests = {
    "PutMetricData": {
        "Namespace": "App/Orders",
        "MetricData": [
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Service", "Value": "checkout"}],
                "Timestamp": t,
                "Value": 12.5,
                "Unit": "Milliseconds",
                "StorageResolution": 1,
            },
            {
                "MetricName": "Batch",
                "Values": [1.0, 2.25, -3.5],
                "Counts": [10.0, 1.0, 300.0],
                "StatisticValues": {"SampleCount": 3.0, "Sum": 7.5, "Minimum": 0.0, "Maximum": 1e300},
                "Timestamp": datetime.datetime(1970, 1, 1, 0, 0, 30, tzinfo=datetime.timezone.utc),
            },
        ],
        "StrictEntityValidation": False,
    },
    "GetMetricStatistics": {
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}],
        "StartTime": t - datetime.timedelta(hours=1),
        "EndTime": t,
        "Period": 300,
        "Statistics": ["Average", "Maximum"],
        "ExtendedStatistics": ["p99"],
        "Unit": "Percent",
    },
}

print("botocore", botocore.__version__)
for op, params in requests.items():
    r = serializer.serialize_to_request(params, model.operation_model(op))
    print(op, r["method"], r["url_path"], dict(r["headers"]))
    print(r["body"].hex())

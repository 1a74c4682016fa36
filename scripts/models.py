#!/usr/bin/env python3
"""Regenerates crates/protocol/models/<service>.json from the service models that botocore installs.

Keeps only the facts the wire needs (metadata, operations with their HTTP bindings, inputs, outputs
and errors, and shapes with their members, locations, constraints and traits); strips
documentation, examples and doc URLs. The botocore version the models came from is written to
crates/protocol/models/BOTOCORE_VERSION. Run it from the repository root: `python3 scripts/models.py`.
"""

import gzip
import json
import os
import sys

import botocore

SERVICES = [
    "s3", "sqs", "dynamodb", "dynamodbstreams", "ssm", "sts", "secretsmanager", "kms", "sns",
    "kinesis", "iam", "cloudwatch", "logs", "cognito-idp", "cognito-identity", "lambda",
    "apigateway", "apigatewayv2", "stepfunctions", "route53", "acm", "appconfig", "appconfigdata",
    "appsync", "amplify", "rds", "events", "elasticache", "firehose",
]

# Keys that carry prose or examples, never wire facts.
DROP = {"documentation", "documentationUrl", "examples", "deprecatedMessage", "exampleValue"}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in DROP}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def load(service):
    base = os.path.join(botocore.__path__[0], "data", service)
    version = sorted(os.listdir(base))[-1]
    folder = os.path.join(base, version)
    plain = os.path.join(folder, "service-2.json")
    if os.path.exists(plain):
        with open(plain, encoding="utf-8") as f:
            return json.load(f)
    with gzip.open(plain + ".gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("crates", "protocol", "models")
    os.makedirs(out, exist_ok=True)
    for service in SERVICES:
        model = strip(load(service))
        path = os.path.join(out, service + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(model, f, sort_keys=True, separators=(",", ":"))
            f.write("\n")
    with open(os.path.join(out, "BOTOCORE_VERSION"), "w", encoding="utf-8") as f:
        f.write(botocore.__version__ + "\n")


if __name__ == "__main__":
    main()

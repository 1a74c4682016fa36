#!/usr/bin/env python3
"""Model conformance: requests generated from AWS's service models, sent with botocore.

Usage: run.py ENDPOINT OUT_JSON [OUT_MD]

For every operation of each service's model (botocore's own, the one the SDK parses responses
with), three kinds of case are sent to a fresh server:

  required  the required members, with valid values (the SDK validates them first);
  optional  the required members plus every optional top-level scalar member;
  invalid   for each top-level string or number member with a constraint (length, range, enum),
            one value that breaks it (sent with the SDK's own validation off).

A case passes when the response parses by the model (botocore raises otherwise), no 5xx is
answered (501 for an operation this emulator does not implement is counted apart), an error's
code is one the model lists for the operation or a common one, and an invalid value is refused
with a 4xx. An operation is *implemented* when its `required` case is not answered 501
NotImplemented or UnknownOperation. The report is written as JSON and, if asked, as Markdown
(docs/COVERAGE.md).
"""

import datetime
import json
import sys
import urllib3

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

SERVICES = ["s3", "sqs", "dynamodb", "dynamodbstreams", "ssm", "sts", "secretsmanager", "kms", "sns", "logs", "cloudwatch", "iam", "events", "kinesis", "lambda", "firehose"]
# Errors AWS's API reference lists for an operation that botocore's model leaves out (each
# checked against the reference page named beside it).
DOCUMENTED = {
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DeleteDashboards.html:
    # "ResourceNotFound: The specified dashboard does not exist. HTTP Status Code: 404".
    ("cloudwatch", "DeleteDashboards"): {"ResourceNotFound"},
}
# Error codes any operation may answer (common to AWS protocols, or to the service).
COMMON = {
    "ValidationException", "ValidationError", "SerializationException", "InvalidParameterValue",
    "InvalidParameterCombination", "MissingParameter", "MissingAction", "InvalidAction",
    "UnknownOperationException", "AccessDenied", "AccessDeniedException", "InvalidArgument",
    "InvalidRequest", "MalformedXML", "InvalidURI", "MethodNotAllowed", "InvalidClientTokenId",
    "IncompleteSignature", "RequestTimeout", "ThrottlingException", "NoSuchBucket", "NoSuchKey",
    "ResourceNotFoundException", "InvalidAddress", "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue", "InvalidParameterException", "InvalidBucketName",
    "InvalidResourceId", "ParameterNotFound", "InvalidTag", "InvalidPartNumber", "NoSuchUpload",
    "NoSuchVersion", "InvalidDocument", "MalformedPolicyDocument", "MissingRequiredParameter",
    "BadRequest", "InvalidAttributeName", "InvalidAttributeValue", "NoSuchTagSet",
    "NoSuchCORSConfiguration", "NoSuchBucketPolicy", "InvalidFilterKey", "ParameterVersionNotFound",
    # HEAD errors carry no body: botocore names them by their status.
    "404", "403", "400", "NotFound",
    "IllegalVersioningConfigurationException", "PreconditionFailed", "InvalidRange",
    # S3 codes its model does not list: an invalid storage class, a WriteGetObjectResponse token
    # S3 did not issue, an S3 Select ExpressionType other than SQL.
    "InvalidStorageClass", "InvalidToken", "InvalidExpressionType",
}
MAX_DEPTH = 5
NOT_IMPLEMENTED = {"NotImplemented", "UnknownOperationException", "InvalidAction"}


def value_for(shape, name, endpoint, depth=0, optional=False):
    """A valid value for `shape` (member `name`), as small as the constraints allow."""
    t = shape.type_name
    if depth > MAX_DEPTH:
        return None
    if t == "structure":
        if shape.metadata.get("union"):
            member, s = next(iter(shape.members.items()))
            for preferred in ("S", "s"):
                if preferred in shape.members:
                    member, s = preferred, shape.members[preferred]
            return {member: value_for(s, member, endpoint, depth + 1)}
        out = {}
        for m in shape.required_members:
            v = value_for(shape.members[m], m, endpoint, depth + 1)
            if v is not None:
                out[m] = v
        return out
    if t == "list":
        v = value_for(shape.member, name, endpoint, depth + 1)
        return [] if v is None else [v] * max(1, shape.metadata.get("min", 1))
    if t == "map":
        k = value_for(shape.key, "key", endpoint, depth + 1) or "k"
        v = value_for(shape.value, name, endpoint, depth + 1)
        return {} if v is None else {k: v}
    if t == "string":
        if shape.enum:
            return shape.enum[0]
        lo = shape.metadata.get("min", 1)
        hi = shape.metadata.get("max", 256)
        lname = name.lower()
        if lname == "queueurl":
            text = f"{endpoint}/000000000000/conformance"
        elif lname.endswith("arn") or lname in ("resourcearn", "resourceid", "sourcearn"):
            text = "arn:aws:sqs:us-east-1:000000000000:conformance"
        elif lname in ("bucket", "bucketname", "destinationbucket"):
            text = "conformance-bucket"
        elif lname in ("tablename",):
            text = "conformance_table"
        elif lname in ("name", "path") and "ssm" in endpoint:
            text = "/conformance"
        elif lname == "copysource":
            text = "conformance-bucket/key"
        elif "policy" in lname or "document" in lname:
            text = '{"Version":"2012-10-17","Statement":[]}'
        else:
            text = "conformance"
        if len(text) < lo:
            text = text + "a" * (lo - len(text))
        return text[:hi] if len(text) > hi else text
    if t in ("integer", "long"):
        lo = shape.metadata.get("min", 1)
        hi = shape.metadata.get("max", None)
        v = max(lo, 1)
        return v if hi is None else min(v, hi)
    if t in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if t == "boolean":
        return False
    if t == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    if t == "blob":
        return b"conformance"
    return None


def invalid_values(shape):
    """Values of a scalar shape that break one of its constraints, with what they break."""
    t = shape.type_name
    out = []
    if t == "string":
        if shape.enum:
            out.append(("enum", "NotOneOfTheEnumValues"))
        if "max" in shape.metadata and shape.metadata["max"] < 100_000:
            out.append(("max length", "a" * (shape.metadata["max"] + 1)))
        if shape.metadata.get("min", 0) > 1:
            out.append(("min length", "a" * (shape.metadata["min"] - 1)))
    elif t in ("integer", "long"):
        if "max" in shape.metadata:
            out.append(("max", shape.metadata["max"] + 1))
        if "min" in shape.metadata and shape.metadata["min"] > -(2**31):
            out.append(("min", shape.metadata["min"] - 1))
    return out


def classify(op, call):
    """Run one call: ('ok'|'error'|'501'|'5xx'|'unparsed'|'transport', detail)."""
    try:
        call()
        return "ok", ""
    except ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = e.response.get("Error", {}).get("Code", "")
        if code in NOT_IMPLEMENTED and (status == 501 or code != "InvalidAction"):
            return "501", code
        if status >= 500:
            return "5xx", f"{status} {code}"
        return "error", f"{status} {code}"
    except (ParamValidationError, botocore.exceptions.FlexibleChecksumError) as e:
        # The SDK refused to build the request: nothing reached the server.
        return "skipped", str(e).splitlines()[0]
    except (urllib3.exceptions.HTTPError, botocore.exceptions.HTTPClientError,
            botocore.exceptions.ConnectionError) as e:
        return "transport", str(e)[:200]
    except Exception as e:  # a response the model cannot parse
        return "unparsed", f"{type(e).__name__}: {str(e)[:200]}"


def error_codes(service_model, op_model):
    codes = set()
    for e in op_model.error_shapes:
        codes.add(e.name)
        c = e.metadata.get("error", {}).get("code")
        if c:
            codes.add(c)
    return codes


def run_service(session, service, endpoint):
    cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30,
                 s3={"addressing_style": "path"}, inject_host_prefix=False)
    loose = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30,
                   parameter_validation=False, s3={"addressing_style": "path"},
                   inject_host_prefix=False)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test")
    client = session.create_client(service, config=cfg, **kw)
    loose_client = session.create_client(service, config=loose, **kw)
    model = client.meta.service_model
    report = {"operations": {}, "model_operations": len(model.operation_names)}
    for op_name in model.operation_names:
        op = model.operation_model(op_name)
        if op.metadata.get("eventStream") or getattr(op, "has_event_stream_output", False):
            pass
        method = getattr(client, botocore.xform_name(op_name))
        loose_method = getattr(loose_client, botocore.xform_name(op_name))
        inp = op.input_shape
        params = value_for(inp, op_name, endpoint) if inp is not None else {}
        allowed = error_codes(model, op) | COMMON | DOCUMENTED.get((service, op_name), set())
        cases = []

        def judge(kind, outcome, detail, expect_refusal=False):
            if outcome == "501":
                passed = None
            elif outcome == "ok":
                passed = not expect_refusal
            elif outcome == "error":
                code = detail.split(" ", 1)[1] if " " in detail else detail
                passed = code in allowed
            elif outcome == "skipped":
                passed = None
            else:
                passed = False
            cases.append({"case": kind, "outcome": outcome, "detail": detail, "passed": passed})

        outcome, detail = classify(op_name, lambda: method(**params))
        judge("required", outcome, detail)
        implemented = outcome != "501"
        if implemented and inp is not None:
            optional = dict(params)
            for m, s in inp.members.items():
                if m in optional or s.type_name in ("structure", "list", "map", "blob"):
                    continue
                if s.serialization.get("location") in ("header", "headers") and (
                    s.type_name == "timestamp"
                    or s.serialization.get("name", "").lower() in ("content-length", "content-md5")
                ):
                    continue  # framing headers the SDK computes; a made-up one breaks the request
                v = value_for(s, m, endpoint, 1)
                if v is not None:
                    optional[m] = v
            if optional != params:
                outcome, detail = classify(op_name, lambda: method(**optional))
                judge("optional", outcome, detail)
            for m, s in inp.members.items():
                for what, bad in invalid_values(s):
                    if s.serialization.get("location") == "uri":
                        continue  # a path label: the URL itself changes, not validation
                    p = dict(params)
                    p[m] = bad
                    outcome, detail = classify(op_name, lambda: loose_method(**p))
                    judge(f"invalid {m} ({what})", outcome, detail, expect_refusal=True)
        report["operations"][op_name] = {"implemented": implemented, "cases": cases}
    return report


def markdown(results, botocore_version):
    lines = [
        "# Coverage: operations implemented and model conformance",
        "",
        "Generated by `tests/conformance/run.py` (run by `tests/conformance.rs`; write this file",
        "with `SNAPSTACK_WRITE_COVERAGE=1 cargo test --test conformance`) from botocore "
        f"{botocore_version}'s models.",
        "An operation is implemented when its request with the required members is not answered",
        "`501 NotImplemented`; a case passes when the response parses by the model, no 5xx is",
        "answered, an error code is one the model lists for the operation (or a common one), and",
        "an invalid value is refused with a 4xx. See the script's docstring for the cases.",
        "",
        "| service | operations implemented / in the model | conformance cases passed / run |",
        "|---|---|---|",
    ]
    for service, r in results.items():
        ops = r["operations"]
        impl = sum(1 for o in ops.values() if o["implemented"])
        run = [c for o in ops.values() if o["implemented"] for c in o["cases"] if c["passed"] is not None]
        passed = sum(1 for c in run if c["passed"])
        lines.append(f"| {service} | {impl} / {len(ops)} | {passed} / {len(run)} |")
    for service, r in results.items():
        ops = r["operations"]
        missing = sorted(n for n, o in ops.items() if not o["implemented"])
        failing = [(n, c) for n, o in sorted(ops.items()) for c in o["cases"] if c["passed"] is False]
        lines += ["", f"## {service}", ""]
        lines.append(f"Not implemented yet (answer 501 NotImplemented naming the operation): "
                     f"{', '.join(missing) if missing else 'none'}.")
        if failing:
            lines += ["", "Failing cases:", ""]
            for n, c in failing:
                lines.append(f"- {n}, {c['case']}: {c['outcome']} {c['detail']}".rstrip())
    return "\n".join(lines) + "\n"


def main():
    endpoint, out_json = sys.argv[1], sys.argv[2]
    out_md = sys.argv[3] if len(sys.argv) > 3 else None
    session = botocore.session.get_session()
    results = {s: run_service(session, s, endpoint) for s in SERVICES}
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    if out_md:
        import botocore as b
        with open(out_md, "w", encoding="utf-8") as f:
            f.write(markdown(results, b.__version__))
    bad = [(s, n, c) for s, r in results.items() for n, o in r["operations"].items()
           for c in o["cases"] if c["outcome"] in ("5xx", "transport")]
    for s, n, c in bad:
        print(f"SERVER ERROR: {s}.{n} {c['case']}: {c['outcome']} {c['detail']}", file=sys.stderr)
    summary = {s: (sum(1 for o in r["operations"].values() if o["implemented"]), len(r["operations"]))
               for s, r in results.items()}
    print(json.dumps(summary))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

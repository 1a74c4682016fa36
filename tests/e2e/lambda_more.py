#!/usr/bin/env python3
"""Drive a running snapstack's Lambda with boto3: function URLs, layers, Kinesis event source
mappings, provisioned concurrency, code signing, and a queue of 100 asynchronous invocations
across a kill -9.

Usage: lambda_more.py ENDPOINT COMMAND [ARGS]...

  urls HOST            function URLs: the URL the API returns names HOST (LOCALSTACK_HOST) and
                       is called with plain urllib: the 2.0 event, the result mapped back
                       (status, headers, cookies, base64 bodies, plain strings), CORS preflight
                       and headers, AWS_IAM (unsigned refused, signed served), the path form,
                       control-plane errors
  urls-after HOST      after a restart: the URL still answers
  layers               PublishLayerVersion (ZipFile and S3), Get/List/Delete, permissions, and a
                       Python and a Node function importing from two layers (later layers win)
  extras               provisioned concurrency and code signing configurations
  kinesis-prepare S    a Kinesis mapping (TRIM_HORIZON, batch size, bisect, retries, on-failure
                       SQS destination): records processed, poison records to the destination;
                       more records put while the mapping is disabled
  kinesis-check S      after a kill -9: the mapping resumes after its checkpoint (every record
                       processed exactly once); LATEST and AT_TIMESTAMP mappings
  queue-prepare N FILE N asynchronous invocations accepted (202), each appending a line to FILE
  queue-check N FILE   after a kill -9 and restart: every invocation ran; duplicates counted
"""

import base64
import io
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
PORT = urllib.parse.urlparse(ENDPOINT).port


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=CFG)


LAM = client("lambda")

# Names handed out under LOCALSTACK_HOST resolve to this machine, as DNS would point them at
# the emulator (localhost.localstack.cloud does that on the internet).
_real_getaddrinfo = socket.getaddrinfo


def _local_getaddrinfo(host, *a, **kw):
    if isinstance(host, str) and ".lambda-url." in host:
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *a, **kw)


socket.getaddrinfo = _local_getaddrinfo


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
    return buf.getvalue()


def create(name, code, runtime="python3.11", handler="index.handler", **kw):
    return LAM.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": zip_of(code)}, **kw)


def invoke(name, payload=None, **kw):
    r = LAM.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def http(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


# ---------------------------------------------------------------------------------------------
# Function URLs

PY_WEB = """
import base64, json
def handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode", "echo")
    if mode == "string":
        return "just a string"
    if mode == "object":
        return {"no": "status"}
    if mode == "binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes([0, 1, 2, 255])).decode(), "isBase64Encoded": True}
    if mode == "fail":
        raise RuntimeError("url boom")
    body = event.get("body")
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).hex()
    return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": json.dumps({"event": event, "body": body})}
"""


def urls(host):
    create("web", {"index.py": PY_WEB})
    r = LAM.create_function_url_config(FunctionName="web", AuthType="NONE",
                                       Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                             "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-echo"], "MaxAge": 300})
    url = r["FunctionUrl"]
    check(url.startswith("http://") and f".lambda-url.us-east-1.{host}:" in url and url.endswith("/"), url)
    check(r["AuthType"] == "NONE" and r["InvokeMode"] == "BUFFERED" and r["FunctionArn"].endswith(":function:web"), r)
    expect_error("ResourceConflictException", LAM.create_function_url_config, FunctionName="web", AuthType="NONE")
    g = LAM.get_function_url_config(FunctionName="web")
    check(g["FunctionUrl"] == url and "LastModifiedTime" in g and g["Cors"]["MaxAge"] == 300, g)
    lst = LAM.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]
    check([c["FunctionUrl"] for c in lst] == [url], lst)
    expect_error("ResourceNotFoundException", LAM.get_function_url_config, FunctionName="nope")

    # The URL, called with plain urllib.
    status, headers, body = http(url + "some/path?x=1&x=2&y=z", "POST", b'{"hello": "world"}',
                                 {"content-type": "application/json", "cookie": "c1=v1; c2=v2",
                                  "x-custom": "h"})
    check(status == 201, (status, body))
    check(headers["x-echo"] == "yes", dict(headers))
    check(headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"], headers.get_all("set-cookie"))
    out = json.loads(body)
    ev = out["event"]
    check(ev["version"] == "2.0" and ev["routeKey"] == "$default" and ev["rawPath"] == "/some/path", ev)
    check(ev["rawQueryString"] == "x=1&x=2&y=z" and ev["queryStringParameters"] == {"x": "1,2", "y": "z"}, ev)
    check(ev["cookies"] == ["c1=v1", "c2=v2"] and ev["headers"]["x-custom"] == "h", ev)
    check(ev["requestContext"]["http"]["method"] == "POST" and ev["requestContext"]["accountId"] == "anonymous", ev)
    check(ev["body"] == '{"hello": "world"}' and ev["isBase64Encoded"] is False, ev)
    # A binary body travels in base64.
    status, _, body = http(url, "PUT", bytes([0, 159, 146, 150]), {"content-type": "application/octet-stream"})
    check(status == 201 and json.loads(body)["body"] == "009f9296", body)
    # Results that are not a structured response.
    status, headers, body = http(url + "?mode=string")
    check(status == 200 and body == b"just a string", (status, body))
    status, headers, body = http(url + "?mode=object")
    check(status == 200 and json.loads(body) == {"no": "status"}
          and headers["content-type"].startswith("application/json"), (status, body))
    status, headers, body = http(url + "?mode=binary")
    check(status == 200 and body == bytes([0, 1, 2, 255]), (status, body))
    status, _, body = http(url + "?mode=fail")
    check(status == 502, (status, body))
    # CORS: a preflight answered from the configuration, and the headers on a response.
    status, headers, _ = http(url, "OPTIONS", None, {"origin": "https://app.example",
                                                     "access-control-request-method": "POST"})
    check(status == 200 and headers["access-control-allow-origin"] == "https://app.example", dict(headers))
    check("POST" in headers["access-control-allow-methods"] and headers["access-control-max-age"] == "300",
          dict(headers))
    status, headers, _ = http(url, "GET", None, {"origin": "https://app.example"})
    check(headers["access-control-allow-origin"] == "https://app.example"
          and headers["access-control-expose-headers"] == "x-echo", dict(headers))
    status, headers, _ = http(url, "GET", None, {"origin": "https://evil.example"})
    check("access-control-allow-origin" not in headers, dict(headers))
    # The path form on the plain endpoint.
    url_id = urllib.parse.urlparse(url).hostname.split(".")[0]
    status, _, body = http(f"{ENDPOINT}/_aws/lambda-url/{url_id}/p?mode=string")
    check(status == 200 and body == b"just a string", (status, body))
    # An unknown URL.
    status, headers, _ = http(url.replace(url_id, "a" * 32))
    check(status == 403, status)

    # AWS_IAM: unsigned requests are refused, SigV4-signed ones (service lambda) served.
    LAM.create_alias(FunctionName="web", Name="live", FunctionVersion=LAM.publish_version(FunctionName="web")["Version"])
    r = LAM.create_function_url_config(FunctionName="web", Qualifier="live", AuthType="AWS_IAM")
    iam_url = r["FunctionUrl"]
    check(iam_url != url and r["FunctionArn"].endswith(":function:web:live"), r)
    status, _, _ = http(iam_url + "?mode=string")
    check(status == 403, status)
    req = botocore.awsrequest.AWSRequest(method="GET", url=iam_url + "?mode=echo")
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "lambda", "us-east-1").add_auth(req)
    status, _, body = http(iam_url + "?mode=echo", "GET", None, dict(req.headers))
    check(status == 201, (status, body))
    ctx = json.loads(body)["event"]["requestContext"]
    check(ctx["authorizer"]["iam"]["accountId"] == ACCOUNT and ctx["accountId"] == ACCOUNT, ctx)
    check(len(LAM.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]) == 2, "two urls")
    expect_error("ResourceNotFoundException", LAM.create_function_url_config, FunctionName="web",
                 Qualifier="nosuchalias", AuthType="NONE")
    u = LAM.update_function_url_config(FunctionName="web", Qualifier="live", AuthType="NONE")
    check(u["AuthType"] == "NONE" and u["FunctionUrl"] == iam_url, u)
    status, _, body = http(iam_url + "?mode=string")
    check(status == 200, status)
    LAM.delete_function_url_config(FunctionName="web", Qualifier="live")
    expect_error("ResourceNotFoundException", LAM.get_function_url_config, FunctionName="web", Qualifier="live")
    status, _, _ = http(iam_url)
    check(status == 403, status)
    # Other routing is untouched: the API still answers on the same port.
    check(LAM.get_function(FunctionName="web")["Configuration"]["FunctionName"] == "web", "api")
    print("function urls ok", url)


def urls_after(host):
    g = LAM.get_function_url_config(FunctionName="web")
    check(f".lambda-url.us-east-1.{host}:" in g["FunctionUrl"], g)
    status, _, body = http(g["FunctionUrl"] + "?mode=string")
    check(status == 200 and body == b"just a string", (status, body))
    print("function url survived the restart")


# ---------------------------------------------------------------------------------------------
# Layers

def layers():
    base = LAM.publish_layer_version(LayerName="shared", Description="base",
                                     Content={"ZipFile": zip_of({
                                         "python/shared_mod.py": "WHO = 'base'\nBASE = True\n",
                                         "nodejs/node_modules/sharedjs/index.js": "module.exports = {who: 'base'};\n",
                                         "bin/hello-layer": "#!/bin/sh\necho hi\n"})},
                                     CompatibleRuntimes=["python3.11", "nodejs20.x"], LicenseInfo="MIT")
    check(base["Version"] == 1 and base["LayerVersionArn"].endswith(":layer:shared:1"), base)
    check(base["Content"]["CodeSize"] > 0 and base["Content"]["CodeSha256"], base)
    loc = urllib.parse.urlparse(base["Content"]["Location"])
    status, _, body = http(f"{ENDPOINT}{loc.path}?{loc.query}")
    check(status == 200 and zipfile.ZipFile(io.BytesIO(body)).namelist(), status)
    # A second layer from S3 that overrides a file of the first.
    s3 = client("s3")
    s3.create_bucket(Bucket="layer-src")
    s3.put_object(Bucket="layer-src", Key="over.zip",
                  Body=zip_of({"python/shared_mod.py": "WHO = 'override'\n",
                               "nodejs/node_modules/sharedjs/index.js": "module.exports = {who: 'override'};\n"}))
    over = LAM.publish_layer_version(LayerName="override", Content={"S3Bucket": "layer-src", "S3Key": "over.zip"},
                                     CompatibleRuntimes=["python3.11"])
    check(over["Version"] == 1, over)
    v2 = LAM.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({"python/x.py": "X = 2\n"})})
    check(v2["Version"] == 2, v2)
    g = LAM.get_layer_version(LayerName="shared", VersionNumber=1)
    check(g["Description"] == "base" and g["LicenseInfo"] == "MIT", g)
    g = LAM.get_layer_version_by_arn(Arn=base["LayerVersionArn"])
    check(g["Version"] == 1, g)
    lv = LAM.list_layer_versions(LayerName="shared")["LayerVersions"]
    check([v["Version"] for v in lv] == [2, 1], lv)
    ls = {l["LayerName"]: l for l in LAM.list_layers()["Layers"]}
    check(ls["shared"]["LatestMatchingVersion"]["Version"] == 2 and "override" in ls, ls)
    ls = LAM.list_layers(CompatibleRuntime="nodejs20.x")["Layers"]
    check([l["LayerName"] for l in ls] == ["shared"] and ls[0]["LatestMatchingVersion"]["Version"] == 1, ls)
    expect_error("ResourceNotFoundException", LAM.get_layer_version, LayerName="shared", VersionNumber=9)
    # Permissions.
    p = LAM.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="all",
                                         Action="lambda:GetLayerVersion", Principal="*")
    check(json.loads(p["Statement"])["Principal"] == "*" and p["RevisionId"], p)
    expect_error("ResourceConflictException", LAM.add_layer_version_permission, LayerName="shared",
                 VersionNumber=1, StatementId="all", Action="lambda:GetLayerVersion", Principal="*")
    pol = LAM.get_layer_version_policy(LayerName="shared", VersionNumber=1)
    check(json.loads(pol["Policy"])["Statement"][0]["Sid"] == "all", pol)
    LAM.remove_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="all")
    expect_error("ResourceNotFoundException", LAM.get_layer_version_policy, LayerName="shared", VersionNumber=1)
    # Functions using the layers, in order: the later layer's file wins.
    code = {"index.py": "import shared_mod, subprocess\n"
                        "def handler(e, c):\n"
                        "    return {'who': shared_mod.WHO, 'base': hasattr(shared_mod, 'BASE'),\n"
                        "            'bin': subprocess.run(['hello-layer'], capture_output=True, text=True).stdout.strip()}\n"}
    f = create("layered", code, Layers=[base["LayerVersionArn"], over["LayerVersionArn"]])
    check([l["Arn"] for l in f["Layers"]] == [base["LayerVersionArn"], over["LayerVersionArn"]]
          and f["Layers"][0]["CodeSize"] == base["Content"]["CodeSize"], f["Layers"])
    _, out = invoke("layered")
    check(out == {"who": "override", "base": False, "bin": "hi"}, out)
    LAM.update_function_configuration(FunctionName="layered", Layers=[base["LayerVersionArn"]])
    _, out = invoke("layered")
    check(out == {"who": "base", "base": True, "bin": "hi"}, out)
    create("layeredjs", {"index.js": "const s = require('sharedjs');\n"
                                     "exports.handler = async () => ({who: s.who});\n"},
           runtime="nodejs20.x", Layers=[base["LayerVersionArn"], over["LayerVersionArn"]])
    _, out = invoke("layeredjs")
    check(out == {"who": "override"}, out)
    expect_error("InvalidParameterValueException", create, "badlayer", code,
                 Layers=[base["LayerVersionArn"].replace(":1", ":7")])
    # Deleting a version a function uses hides it; the function keeps running.
    LAM.delete_layer_version(LayerName="shared", VersionNumber=1)
    expect_error("ResourceNotFoundException", LAM.get_layer_version, LayerName="shared", VersionNumber=1)
    check([v["Version"] for v in LAM.list_layer_versions(LayerName="shared")["LayerVersions"]] == [2], "hidden")
    LAM.delete_layer_version(LayerName="shared", VersionNumber=1)
    _, out = invoke("layered")
    check(out["who"] == "base", out)
    v3 = LAM.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({"python/y.py": "Y = 3\n"})})
    check(v3["Version"] == 3, v3)
    print("layers ok")


# ---------------------------------------------------------------------------------------------
# Provisioned concurrency and code signing

def extras():
    create("prov", {"index.py": "def handler(e, c):\n    return 'warm'\n"})
    v = LAM.publish_version(FunctionName="prov")["Version"]
    LAM.create_alias(FunctionName="prov", Name="live", FunctionVersion=v)
    expect_error("InvalidParameterValueException", LAM.put_provisioned_concurrency_config,
                 FunctionName="prov", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    r = LAM.put_provisioned_concurrency_config(FunctionName="prov", Qualifier="live",
                                               ProvisionedConcurrentExecutions=2)
    check(r["RequestedProvisionedConcurrentExecutions"] == 2 and r["Status"] == "IN_PROGRESS", r)
    g = LAM.get_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
    check(g["Status"] == "READY" and g["AllocatedProvisionedConcurrentExecutions"] == 2, g)
    lst = LAM.list_provisioned_concurrency_configs(FunctionName="prov")["ProvisionedConcurrencyConfigs"]
    check(len(lst) == 1 and lst[0]["FunctionArn"].endswith(":prov:live"), lst)
    expect_error("ProvisionedConcurrencyConfigNotFoundException", LAM.get_provisioned_concurrency_config,
                 FunctionName="prov", Qualifier=v)
    # The warm environments answer at once.
    time.sleep(8)
    t0 = time.time()
    _, out = invoke("prov:live")
    check(out == "warm", out)
    warm = time.time() - t0
    LAM.delete_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
    expect_error("ProvisionedConcurrencyConfigNotFoundException", LAM.get_provisioned_concurrency_config,
                 FunctionName="prov", Qualifier="live")

    pub = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/abcdefghij"
    c = LAM.create_code_signing_config(Description="d", AllowedPublishers={"SigningProfileVersionArns": [pub]},
                                       CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})["CodeSigningConfig"]
    arn = c["CodeSigningConfigArn"]
    check(c["CodeSigningConfigId"].startswith("csc-") and len(c["CodeSigningConfigId"]) == 21, c)
    check(LAM.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]["Description"] == "d", "get")
    u = LAM.update_code_signing_config(CodeSigningConfigArn=arn, Description="e")["CodeSigningConfig"]
    check(u["Description"] == "e" and u["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce", u)
    check([x["CodeSigningConfigArn"] for x in LAM.list_code_signing_configs()["CodeSigningConfigs"]] == [arn], "list")
    LAM.put_function_code_signing_config(FunctionName="prov", CodeSigningConfigArn=arn)
    check(LAM.get_function_code_signing_config(FunctionName="prov")["CodeSigningConfigArn"] == arn, "fn csc")
    check(LAM.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"][0].endswith(":prov"), "by")
    expect_error("ResourceConflictException", LAM.delete_code_signing_config, CodeSigningConfigArn=arn)
    LAM.delete_function_code_signing_config(FunctionName="prov")
    LAM.delete_code_signing_config(CodeSigningConfigArn=arn)
    expect_error("ResourceNotFoundException", LAM.get_code_signing_config, CodeSigningConfigArn=arn)
    expect_error("ValidationException", LAM.get_code_signing_config, CodeSigningConfigArn="arn:nope")
    print(f"provisioned concurrency and code signing ok (warm invoke {warm * 1000:.0f} ms)")


# ---------------------------------------------------------------------------------------------
# Kinesis event source mappings

PY_KINESIS = """
import base64, boto3
def handler(event, context):
    ssm = boto3.client("ssm")
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    for r in event["Records"]:
        assert r["eventSource"] == "aws:kinesis" and r["eventName"] == "aws:kinesis:record"
    # A batch with a poison record fails before any side effect (a failed batch is retried).
    for data in datas:
        if data.startswith("poison"):
            raise ValueError("poison " + data)
    for data in datas:
        name = "/kin/" + data
        try:
            prev = int(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            prev = 0
        ssm.put_parameter(Name=name, Value=str(prev + 1), Type="String", Overwrite=True)
    return {"n": len(event["Records"])}
"""


def param(name):
    try:
        return client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except client("ssm").exceptions.ParameterNotFound:
        return None


def kinesis_prepare(state):
    kin, sqs = client("kinesis"), client("sqs")
    kin.create_stream(StreamName="events", ShardCount=2)
    arn = kin.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
    dlq = sqs.create_queue(QueueName="kin-failures")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create("kinfn", {"index.py": PY_KINESIS}, Timeout=30)
    for i in range(5):
        kin.put_record(StreamName="events", Data=f"a{i}".encode(), PartitionKey=f"k{i}")
    kin.put_record(StreamName="events", Data=b"poison1", PartitionKey="k0")
    m = LAM.create_event_source_mapping(FunctionName="kinfn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                        BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
                                        DestinationConfig={"OnFailure": {"Destination": dlq_arn}})
    check(m["StartingPosition"] == "TRIM_HORIZON" and m["BatchSize"] == 10 and m["MaximumRetryAttempts"] == 1
          and m["BisectBatchOnFunctionError"] is True, m)
    check(m["DestinationConfig"]["OnFailure"]["Destination"] == dlq_arn, m)
    expect_error("ResourceConflictException", LAM.create_event_source_mapping, FunctionName="kinfn",
                 EventSourceArn=arn, StartingPosition="LATEST")
    expect_error("InvalidParameterValueException", LAM.create_event_source_mapping, FunctionName="kinfn",
                 EventSourceArn=arn.replace("events", "other"))
    g = LAM.get_event_source_mapping(UUID=m["UUID"])
    check(g["EventSourceArn"] == arn and g["State"] == "Enabled", g)
    for i in range(5):
        wait_for(f"a{i}", lambda i=i: param(f"/kin/a{i}") == "1", 60)
    # The poison record went to the on-failure destination after its retries; the others ran once.
    msgs = wait_for("failure record", lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), 60)
    rec = json.loads(msgs[0]["Body"])
    info = rec["KinesisBatchInfo"]
    check(info["batchSize"] == 1 and info["streamArn"] == arn and rec["requestContext"]["condition"]
          == "RetryAttemptsExhausted", rec)
    # Records put while the mapping is disabled are processed after a restart.
    LAM.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    time.sleep(1.5)
    before_b = time.time()
    for i in range(5):
        kin.put_record(StreamName="events", Data=f"b{i}".encode(), PartitionKey=f"k{i}")
    time.sleep(1.5)
    check(all(param(f"/kin/b{i}") is None for i in range(5)), "disabled mapping still ran")
    LAM.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    with open(state, "w") as f:
        json.dump({"uuid": m["UUID"], "arn": arn, "t": before_b}, f)
    print("kinesis mapping prepared")


def kinesis_check(state):
    with open(state) as f:
        st = json.load(f)
    kin = client("kinesis")
    for i in range(5):
        wait_for(f"b{i}", lambda i=i: param(f"/kin/b{i}") == "1", 90)
    time.sleep(2)
    # Exactly once per success: nothing before the checkpoint ran again after the restart.
    for i in range(5):
        check(param(f"/kin/a{i}") == "1" and param(f"/kin/b{i}") == "1", (i, param(f"/kin/a{i}")))
    # LATEST: only records after the mapping existed; AT_TIMESTAMP: from the given time.
    create("kinlatest", {"index.py": PY_KINESIS.replace("/kin/", "/latest/")}, Timeout=30)
    LAM.create_event_source_mapping(FunctionName="kinlatest", EventSourceArn=st["arn"], StartingPosition="LATEST")
    create("kints", {"index.py": PY_KINESIS.replace("/kin/", "/ts/")}, Timeout=30)
    LAM.create_event_source_mapping(FunctionName="kints", EventSourceArn=st["arn"], StartingPosition="AT_TIMESTAMP",
                                    StartingPositionTimestamp=st["t"])
    kin.put_record(StreamName="events", Data=b"c0", PartitionKey="k0")
    wait_for("latest", lambda: param("/latest/c0") == "1", 60)
    wait_for("at timestamp", lambda: param("/ts/b0") == "1" and param("/ts/c0") == "1", 60)
    check(param("/latest/b0") is None and param("/latest/a0") is None and param("/ts/a0") is None, "positions")
    LAM.delete_event_source_mapping(UUID=st["uuid"])
    expect_error("ResourceNotFoundException", LAM.get_event_source_mapping, UUID=st["uuid"])
    print("kinesis mapping resumed after its checkpoint")


# ---------------------------------------------------------------------------------------------
# 100 asynchronous invocations across a kill -9

PY_APPEND = """
import os, time
def handler(event, context):
    time.sleep(0.05)
    with open(os.environ["OUT"], "a") as f:
        f.write(str(event["i"]) + "\\n")
    return event["i"]
"""


def queue_prepare(n, out):
    n = int(n)
    create("appender", {"index.py": PY_APPEND}, Timeout=30, Environment={"Variables": {"OUT": out}})
    LAM.put_function_concurrency(FunctionName="appender", ReservedConcurrentExecutions=1)
    for i in range(n):
        r = LAM.invoke(FunctionName="appender", InvocationType="Event", Payload=json.dumps({"i": i}))
        check(r["StatusCode"] == 202, r)
    done = len(open(out).read().split()) if os.path.exists(out) else 0
    print(f"{n} invocations accepted; {done} ran before the kill")


def queue_check(n, out):
    n = int(n)

    def count():
        return len(open(out).read().split()) if os.path.exists(out) else 0
    wait_for("every invocation", lambda: len(set(open(out).read().split())) >= n if os.path.exists(out) else False, 240)
    time.sleep(2)
    seen = open(out).read().split()
    check(set(seen) == {str(i) for i in range(n)}, sorted(set(range(n)) - {int(x) for x in seen}))
    dups = len(seen) - len(set(seen))
    print(f"all {n} ran after the restart; {dups} duplicate runs (at-least-once)")
    with open(out + ".dups", "w") as f:
        f.write(str(dups))


COMMANDS = {
    "urls": (urls, 1),
    "urls-after": (urls_after, 1),
    "layers": (layers, 0),
    "extras": (extras, 0),
    "kinesis-prepare": (kinesis_prepare, 1),
    "kinesis-check": (kinesis_check, 1),
    "queue-prepare": (queue_prepare, 2),
    "queue-check": (queue_check, 2),
}

if __name__ == "__main__":
    run_commands(COMMANDS, ARGS)

#!/usr/bin/env python3
"""Drive a running snapstack's Lambda with boto3, as a user's program would.

Usage: lambda.py ENDPOINT COMMAND [ARGS]...

  control        every control-plane operation served: functions, Code.Location, versions,
                 aliases with weights, permissions, tags, concurrency, account settings,
                 event invoke config, errors
  run            Python and Node.js functions invoked with payloads; a function error; a
                 timeout; an init error; LogType=Tail; throttling; a Python function that
                 calls back into the emulator (SSM) with boto3; an async invocation; async
                 retries into a dead-letter queue; weighted alias routing
  prepare STATE  before a kill -9: functions, a version and an alias, and an asynchronous
                 invocation accepted (202) while the function is throttled
  check STATE    after the restart: the functions are there, and the pending invocation runs
  dedup MARKER   two functions and two published versions of one zip (stored uncompressed,
                 holding MARKER): the state directory must hold its bytes once
"""

import base64
import io
import json
import sys
import time
import urllib.parse
import urllib.request
import zipfile

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CFG,
    )


LAM = client("lambda")


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
    return buf.getvalue()


PY_ECHO = """
import os
def handler(event, context):
    print("hello from python", event.get("n"))
    if event.get("fail"):
        raise ValueError("boom " + str(event.get("n")))
    return {"echo": event, "fn": context.function_name, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "region": os.environ["AWS_REGION"], "left": context.get_remaining_time_in_millis() > 0}
"""

PY_SLEEP = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 5))
    return "woke"
"""

PY_SSM = """
import boto3
def handler(event, context):
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=event["name"], Value=event["value"], Type="String", Overwrite=True)
    return {"stored": event["name"]}
"""

# A provided.al2023 function: the code's own `bootstrap` speaks the Runtime API (here a shell
# script with curl, as a compiled Rust or Go bootstrap would over HTTP).
BOOTSTRAP = """#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  H=$(mktemp)
  EVENT=$(curl -sS -D "$H" "$API/invocation/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$H" | tr -d '\\r' | cut -d' ' -f2)
  rm -f "$H"
  echo "shell got $EVENT"
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"shell\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}"
done
"""

PY_CONSUMER = """
import boto3
def handler(event, context):
    failures = []
    for r in event["Records"]:
        assert r["eventSource"] == "aws:sqs"
        if r["body"] == "fail-me":
            failures.append({"itemIdentifier": r["messageId"]})
        else:
            boto3.client("ssm").put_parameter(Name="/sqs/" + r["body"], Value=r["messageAttributes"]["k"]["stringValue"],
                                              Type="String", Overwrite=True)
    return {"batchItemFailures": failures}
"""

NODE = """
exports.handler = async (event, context) => {
  console.log('hello from node', JSON.stringify(event));
  if (event.fail) throw new TypeError('node boom');
  return { node: process.version, doubled: (event.n || 0) * 2, fn: context.functionName };
};
"""


def create(name, code, runtime="python3.11", handler="index.handler", **kw):
    return LAM.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": zip_of(code)}, **kw)


def invoke(name, payload=None, **kw):
    r = LAM.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def control():
    z = zip_of({"index.py": PY_ECHO})
    r = LAM.create_function(FunctionName="ctl", Runtime="python3.11", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": z}, Description="d1", Timeout=5, MemorySize=256,
                            Environment={"Variables": {"A": "1"}}, Tags={"team": "x"})
    import hashlib
    check(r["CodeSha256"] == base64.b64encode(hashlib.sha256(z).digest()).decode(), r)
    check(r["CodeSize"] == len(z) and r["State"] == "Pending" and r["Version"] == "$LATEST", r)
    check(r["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ctl", r)
    expect_error("ResourceConflictException", create, "ctl", {"index.py": PY_ECHO})
    expect_error("InvalidParameterValueException", LAM.create_function, FunctionName="badzip",
                 Runtime="python3.11", Role=ROLE, Handler="i.h", Code={"ZipFile": b"not a zip"})
    expect_error("InvalidParameterValueException", create, "reserved", {"index.py": PY_ECHO},
                 Environment={"Variables": {"AWS_REGION": "x"}})
    g = LAM.get_function(FunctionName="ctl")
    check(g["Configuration"]["State"] == "Active" and g["Configuration"]["LastUpdateStatus"] == "Successful", g)
    check(g["Tags"] == {"team": "x"} and g["Code"]["RepositoryType"] == "S3", g)
    # Code.Location serves the zip (its host is the advertised one; fetch it from this server).
    loc = urllib.parse.urlsplit(g["Code"]["Location"])
    got = urllib.request.urlopen(ENDPOINT + loc.path + "?" + loc.query).read()
    check(got == z, "Code.Location serves the zip")
    c = LAM.get_function_configuration(FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ctl")
    check(c["Environment"]["Variables"] == {"A": "1"} and c["MemorySize"] == 256 and c["Timeout"] == 5, c)
    expect_error("ResourceNotFoundException", LAM.get_function, FunctionName="nope")
    names = [f["FunctionName"] for f in LAM.list_functions()["Functions"]]
    check("ctl" in names, names)
    u = LAM.update_function_configuration(FunctionName="ctl", Timeout=7, Environment={"Variables": {"B": "2"}})
    check(u["Timeout"] == 7 and u["LastUpdateStatus"] == "InProgress", u)
    LAM.get_waiter("function_updated_v2").wait(FunctionName="ctl")
    # Versions: publishing unchanged code twice gives the same version.
    v1 = LAM.publish_version(FunctionName="ctl", Description="first")
    check(v1["Version"] == "1" and v1["FunctionArn"].endswith(":ctl:1"), v1)
    again = LAM.publish_version(FunctionName="ctl", Description="first")
    check(again["Version"] == "1", again)
    z2 = zip_of({"index.py": PY_ECHO + "\n# v2\n"})
    uc = LAM.update_function_code(FunctionName="ctl", ZipFile=z2, Publish=True)
    check(uc["Version"] == "2", uc)
    vs = [v["Version"] for v in LAM.list_versions_by_function(FunctionName="ctl")["Versions"]]
    check(vs == ["$LATEST", "1", "2"], vs)
    expect_error("InvalidParameterValueException", LAM.publish_version, FunctionName="ctl", CodeSha256="wrong")
    # Aliases.
    a = LAM.create_alias(FunctionName="ctl", Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    check(a["AliasArn"].endswith(":ctl:live") and a["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}, a)
    expect_error("ResourceConflictException", LAM.create_alias, FunctionName="ctl", Name="live", FunctionVersion="1")
    expect_error("ResourceNotFoundException", LAM.create_alias, FunctionName="ctl", Name="x", FunctionVersion="9")
    check(LAM.get_alias(FunctionName="ctl", Name="live")["FunctionVersion"] == "1", "get alias")
    up = LAM.update_alias(FunctionName="ctl", Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}})
    check(up["FunctionVersion"] == "2" and "RoutingConfig" not in up or not up["RoutingConfig"].get("AdditionalVersionWeights"), up)
    check([x["Name"] for x in LAM.list_aliases(FunctionName="ctl")["Aliases"]] == ["live"], "list aliases")
    check(LAM.get_function(FunctionName="ctl", Qualifier="live")["Configuration"]["Version"] == "2", "alias qualifier")
    expect_error("ResourceConflictException", LAM.delete_function, FunctionName="ctl", Qualifier="2")
    expect_error("ResourceNotFoundException", LAM.get_alias, FunctionName="ctl", Name="nope")
    # Permissions.
    p = LAM.add_permission(FunctionName="ctl", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")
    st = json.loads(p["Statement"])
    check(st["Principal"] == {"Service": "s3.amazonaws.com"} and st["Sid"] == "s3", st)
    expect_error("ResourceConflictException", LAM.add_permission, FunctionName="ctl", StatementId="s3",
                 Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    pol = json.loads(LAM.get_policy(FunctionName="ctl")["Policy"])
    check([s["Sid"] for s in pol["Statement"]] == ["s3"], pol)
    LAM.remove_permission(FunctionName="ctl", StatementId="s3")
    expect_error("ResourceNotFoundException", LAM.get_policy, FunctionName="ctl")
    expect_error("ResourceNotFoundException", LAM.remove_permission, FunctionName="ctl", StatementId="s3")
    # Tags.
    arn = c["FunctionArn"]
    LAM.tag_resource(Resource=arn, Tags={"env": "dev"})
    check(LAM.list_tags(Resource=arn)["Tags"] == {"team": "x", "env": "dev"}, "tags")
    LAM.untag_resource(Resource=arn, TagKeys=["team"])
    check(LAM.list_tags(Resource=arn)["Tags"] == {"env": "dev"}, "untag")
    # Concurrency and account settings.
    check(LAM.put_function_concurrency(FunctionName="ctl", ReservedConcurrentExecutions=5)["ReservedConcurrentExecutions"] == 5, "put conc")
    check(LAM.get_function_concurrency(FunctionName="ctl")["ReservedConcurrentExecutions"] == 5, "get conc")
    s = LAM.get_account_settings()
    check(s["AccountLimit"]["UnreservedConcurrentExecutions"] == 995 and s["AccountUsage"]["FunctionCount"] >= 1, s)
    expect_error("InvalidParameterValueException", LAM.put_function_concurrency, FunctionName="ctl",
                 ReservedConcurrentExecutions=950)
    LAM.delete_function_concurrency(FunctionName="ctl")
    check("ReservedConcurrentExecutions" not in LAM.get_function_concurrency(FunctionName="ctl"), "del conc")
    # Event invoke config.
    e = LAM.put_function_event_invoke_config(FunctionName="ctl", MaximumRetryAttempts=1)
    check(e["MaximumRetryAttempts"] == 1, e)
    e = LAM.update_function_event_invoke_config(FunctionName="ctl", MaximumEventAgeInSeconds=120)
    check(e["MaximumRetryAttempts"] == 1 and e["MaximumEventAgeInSeconds"] == 120, e)
    check(len(LAM.list_function_event_invoke_configs(FunctionName="ctl")["FunctionEventInvokeConfigs"]) == 1, "list eic")
    LAM.delete_function_event_invoke_config(FunctionName="ctl")
    expect_error("ResourceNotFoundException", LAM.get_function_event_invoke_config, FunctionName="ctl")
    # Deletion.
    LAM.delete_alias(FunctionName="ctl", Name="live")
    LAM.delete_function(FunctionName="ctl", Qualifier="1")
    vs = [v["Version"] for v in LAM.list_versions_by_function(FunctionName="ctl")["Versions"]]
    check(vs == ["$LATEST", "2"], vs)
    LAM.delete_function(FunctionName="ctl")
    expect_error("ResourceNotFoundException", LAM.get_function, FunctionName="ctl")
    print("control plane ok")


def tail(r):
    return base64.b64decode(r["LogResult"]).decode()


def run():
    create("py", {"index.py": PY_ECHO})
    r, out = invoke("py", {"n": 1}, LogType="Tail")
    check(r["StatusCode"] == 200 and "FunctionError" not in r and r["ExecutedVersion"] == "$LATEST", r)
    check(out["echo"] == {"n": 1} and out["fn"] == "py" and out["region"] == "us-east-1" and out["left"], out)
    log = tail(r)
    check("START RequestId:" in log and "hello from python 1" in log and "END RequestId:" in log
          and "REPORT RequestId:" in log and "Init Duration" in log, log)
    r, out = invoke("py", {"n": 2}, LogType="Tail")
    check("Init Duration" not in tail(r), "the second invocation is warm")
    # A function error.
    r, out = invoke("py", {"n": 3, "fail": True})
    check(r["FunctionError"] == "Unhandled" and out["errorType"] == "ValueError" and out["errorMessage"] == "boom 3", out)
    # DryRun and a bad payload.
    check(LAM.invoke(FunctionName="py", InvocationType="DryRun")["StatusCode"] == 204, "dry run")
    expect_error("InvalidRequestContentException", LAM.invoke, FunctionName="py", Payload=b"{not json")
    expect_error("ResourceNotFoundException", LAM.invoke, FunctionName="missing")
    # Node.js.
    create("node", {"index.js": NODE}, runtime="nodejs20.x")
    r, out = invoke("node", {"n": 21}, LogType="Tail")
    check(out["doubled"] == 42 and out["fn"] == "node" and out["node"].startswith("v"), out)
    check("hello from node" in tail(r), tail(r))
    r, out = invoke("node", {"fail": True})
    check(r["FunctionError"] == "Unhandled" and out["errorType"] == "TypeError" and out["errorMessage"] == "node boom", out)
    # provided.al2023: the function's own bootstrap.
    create("custom", {"bootstrap": BOOTSTRAP}, runtime="provided.al2023", handler="my.handler")
    r, out = invoke("custom", {"k": [1, 2]}, LogType="Tail")
    check(out == {"shell": {"k": [1, 2]}, "handler": "my.handler"} and "FunctionError" not in r, out)
    check("shell got" in tail(r), tail(r))
    # A timeout.
    create("sleepy", {"index.py": PY_SLEEP}, Timeout=1)
    t0 = time.time()
    r, out = invoke("sleepy", {"sleep": 10}, LogType="Tail")
    check(time.time() - t0 < 8, "the timeout cut the invocation short")
    check(r["FunctionError"] == "Unhandled" and "Task timed out after 1.00 seconds" in out["errorMessage"], out)
    check("Task timed out after 1.00 seconds" in tail(r), tail(r))
    r, out = invoke("sleepy", {"sleep": 0})
    check(out == "woke", out)
    # An init error.
    create("broken", {"index.py": "import does_not_exist\n"})
    r, out = invoke("broken", {})
    check(r["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.ImportModuleError", out)
    # A runtime this machine lacks runs on the nearest Python, with a warning in the log.
    create("nearest", {"index.py": PY_ECHO}, runtime="python3.12")
    r, out = invoke("nearest", {"n": 9}, LogType="Tail")
    check(out["echo"] == {"n": 9}, out)
    # Throttling.
    LAM.put_function_concurrency(FunctionName="py", ReservedConcurrentExecutions=0)
    expect_error("TooManyRequestsException", invoke, "py", {})
    LAM.delete_function_concurrency(FunctionName="py")
    # A function that calls back into the emulator.
    create("ssmwriter", {"index.py": PY_SSM}, Timeout=30)
    r, out = invoke("ssmwriter", {"name": "/from/lambda", "value": "hi"})
    check(out == {"stored": "/from/lambda"}, out)
    check(client("ssm").get_parameter(Name="/from/lambda")["Parameter"]["Value"] == "hi", "ssm written")
    # Asynchronous invocation.
    r = LAM.invoke(FunctionName="ssmwriter", InvocationType="Event",
                   Payload=json.dumps({"name": "/async/one", "value": "later"}))
    check(r["StatusCode"] == 202, r)
    wait_param("/async/one", "later")
    # Async retries into a DLQ (retry delays are shortened by SNAPSTACK_LAMBDA_RETRY_SECONDS).
    sqs = client("sqs")
    q = sqs.create_queue(QueueName="lambda-dlq")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create("failer", {"index.py": PY_ECHO}, DeadLetterConfig={"TargetArn": qarn})
    LAM.invoke(FunctionName="failer", InvocationType="Event", Payload=json.dumps({"fail": True, "n": 7}))
    body = None
    deadline = time.time() + 60
    while body is None and time.time() < deadline:
        m = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", [])
        if m:
            body = json.loads(m[0]["Body"])
    check(body == {"fail": True, "n": 7}, body)
    logs = client("logs")
    ev = wait_for("three attempts in the function's log", lambda: (
        lambda msgs: msgs if sum(1 for m in msgs if m.startswith("START")) >= 3 else None)(
        [e["message"] for e in logs.filter_log_events(logGroupName="/aws/lambda/failer").get("events", [])]))
    check(sum(1 for m in ev if m.startswith("START")) == 3, ev)
    # An SQS event source mapping: messages reach the function, and are deleted after success;
    # with ReportBatchItemFailures, a failed item stays in the queue.
    create("consumer", {"index.py": PY_CONSUMER}, Timeout=30)
    q2 = sqs.create_queue(QueueName="lambda-source", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    q2arn = sqs.get_queue_attributes(QueueUrl=q2, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    m = LAM.create_event_source_mapping(EventSourceArn=q2arn, FunctionName="consumer", BatchSize=5,
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
    check(m["State"] == "Creating" and m["BatchSize"] == 5 and m["EventSourceArn"] == q2arn, m)
    expect_error("ResourceConflictException", LAM.create_event_source_mapping, EventSourceArn=q2arn,
                 FunctionName="consumer")
    check(LAM.get_event_source_mapping(UUID=m["UUID"])["State"] == "Enabled", "mapping enabled")
    check([x["UUID"] for x in LAM.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]]
          == [m["UUID"]], "list mappings")
    sqs.send_message(QueueUrl=q2, MessageBody="one", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    sqs.send_message(QueueUrl=q2, MessageBody="fail-me")
    wait_param("/sqs/one", "v")
    LAM.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    time.sleep(2.5)

    def counts():
        a = sqs.get_queue_attributes(QueueUrl=q2, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
    check(wait_for("only the failed item left", lambda: counts() == 1, 20), "one left")
    left = sqs.receive_message(QueueUrl=q2, WaitTimeSeconds=2)["Messages"]
    check(left[0]["Body"] == "fail-me", left)
    check(LAM.delete_event_source_mapping(UUID=m["UUID"])["State"] == "Deleting", "delete mapping")
    expect_error("ResourceNotFoundException", LAM.get_event_source_mapping, UUID=m["UUID"])
    # Versions and weighted aliases.
    v1 = LAM.publish_version(FunctionName="py")["Version"]
    LAM.update_function_code(FunctionName="py", ZipFile=zip_of({"index.py": PY_ECHO.replace("hello", "hi")}))
    v2 = LAM.publish_version(FunctionName="py")["Version"]
    LAM.create_alias(FunctionName="py", Name="canary", FunctionVersion=v1,
                     RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}})
    seen = {}
    for i in range(40):
        r, out = invoke("py", {"n": i}, Qualifier="canary")
        seen[r["ExecutedVersion"]] = seen.get(r["ExecutedVersion"], 0) + 1
        check(out["version"] == r["ExecutedVersion"], (out, r))
    check(set(seen) == {v1, v2}, seen)
    r, out = invoke(f"py:{v1}", {"n": 0})
    check(r["ExecutedVersion"] == v1, r)
    print("invocations ok", seen)


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def wait_param(name, value, timeout=60):
    ssm = client("ssm")

    def get():
        try:
            return ssm.get_parameter(Name=name)["Parameter"]["Value"] == value
        except ssm.exceptions.ParameterNotFound:
            return False
    wait_for(f"parameter {name}", get, timeout)


def prepare(state):
    create("keeper", {"index.py": PY_SSM}, Timeout=30)
    v = LAM.publish_version(FunctionName="keeper")["Version"]
    LAM.create_alias(FunctionName="keeper", Name="prod", FunctionVersion=v)
    create("nodekeeper", {"index.js": NODE}, runtime="nodejs20.x")
    r, out = invoke("keeper", {"name": "/before", "value": "1"})
    check(out == {"stored": "/before"}, out)
    # Throttled: the event is accepted and kept, to run once the function may run again.
    LAM.put_function_concurrency(FunctionName="keeper", ReservedConcurrentExecutions=0)
    r = LAM.invoke(FunctionName="keeper", InvocationType="Event",
                   Payload=json.dumps({"name": "/after/restart", "value": "ran"}))
    check(r["StatusCode"] == 202, r)
    time.sleep(1.5)
    ssm = client("ssm")
    expect_error("ParameterNotFound", ssm.get_parameter, Name="/after/restart")
    with open(state, "w") as f:
        json.dump({"version": v}, f)
    print("prepared")


def check_after(state):
    with open(state) as f:
        s = json.load(f)
    g = LAM.get_function(FunctionName="keeper")
    check(g["Concurrency"]["ReservedConcurrentExecutions"] == 0, g)
    check(LAM.get_alias(FunctionName="keeper", Name="prod")["FunctionVersion"] == s["version"], "alias kept")
    r, out = invoke("nodekeeper", {"n": 4})
    check(out["doubled"] == 8, out)
    LAM.delete_function_concurrency(FunctionName="keeper")
    wait_param("/after/restart", "ran", 60)
    r, out = invoke("keeper:prod", {"name": "/via/alias", "value": "2"})
    check(out == {"stored": "/via/alias"} and r["ExecutedVersion"] == s["version"], (r, out))
    print("state and the pending invocation survived the restart")


def dedup(marker):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("index.py", PY_ECHO + "\n# " + marker + "\n" + "#" * 200_000 + "\n")
    z = buf.getvalue()
    for name in ["dedup1", "dedup2"]:
        LAM.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": z})
    LAM.update_function_configuration(FunctionName="dedup1", Description="one")
    check(LAM.publish_version(FunctionName="dedup1")["Version"] == "1", "v1")
    LAM.update_function_configuration(FunctionName="dedup1", Description="two")
    v = LAM.publish_version(FunctionName="dedup1")
    check(v["Version"] == "2" and v["CodeSize"] == len(z), v)
    shas = {c["CodeSha256"] for c in LAM.list_versions_by_function(FunctionName="dedup1")["Versions"]}
    check(len(shas) == 1, shas)
    print("one zip, two functions, three configurations")


COMMANDS = {
    "control": (control, 0),
    "run": (run, 0),
    "prepare": (prepare, 1),
    "check": (check_after, 1),
    "dedup": (dedup, 1),
}

run_commands(COMMANDS, ARGS)

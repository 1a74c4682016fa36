#!/usr/bin/env python3
"""Drive a running snapstack's Lambda with boto3: the operations added last (recursion, runtime
management and scaling configurations, capacity providers, container image functions,
InvokeWithResponseStream) and durable executions, with a restart in the middle.

Usage: lambda_managed.py ENDPOINT COMMAND [ARGS]...

  managed              recursion / runtime management / scaling configs, capacity providers
                       (states, validation, tags, in-use deletion refused, versions listed),
                       image functions (stored as AWS returns them; invoking names the missing
                       container executor), InvokeWithResponseStream (chunks, errors, log tail)
  managed-after        after a restart: the settings and the capacity provider are still there
  durable-prepare S    durable executions: a synchronous one (step, wait) to its end, with a
                       retried checkpoint (ClientToken) and one over the size limit; history
                       (truncation flags), state, list; one on $LATEST.PUBLISHED; an asynchronous one waiting on a callback (heartbeat);
                       one stopped; one waiting on an 8 s timer across the restart
  durable-check S      after a kill -9: the callback completes the waiting execution, the timer
                       fires, the stopped one stays stopped, the retried checkpoint's client
                       token still answers
"""

import json
import sys
import time

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402
from lambda_more import create, wait_for, zip_of  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=CFG)


LAM = client("lambda")

PY_PLAIN = """
def handler(event, context):
    print("streaming", event.get("size"))
    if event.get("fail"):
        raise ValueError("stream boom")
    return {"data": "x" * event.get("size", 1)}
"""


def managed():
    create("mfn", {"index.py": PY_PLAIN})
    # Recursive loop detection: Terminate by default, Allow stored.
    check(LAM.get_function_recursion_config(FunctionName="mfn")["RecursiveLoop"] == "Terminate", "default")
    check(LAM.put_function_recursion_config(FunctionName="mfn", RecursiveLoop="Allow")["RecursiveLoop"] == "Allow", "put")
    check(LAM.get_function_recursion_config(FunctionName="mfn")["RecursiveLoop"] == "Allow", "get")
    expect_error("ResourceNotFoundException", LAM.get_function_recursion_config, FunctionName="nope")
    # Runtime management: Auto by default; Manual needs a version ARN; reflected in the config.
    rm = LAM.get_runtime_management_config(FunctionName="mfn")
    check(rm["UpdateRuntimeOn"] == "Auto" and "RuntimeVersionArn" not in rm, rm)
    conf = LAM.get_function_configuration(FunctionName="mfn")
    rv = conf["RuntimeVersionConfig"]["RuntimeVersionArn"]
    check(rv.startswith("arn:aws:lambda:us-east-1::runtime:"), conf)
    expect_error("InvalidParameterValueException", LAM.put_runtime_management_config,
                 FunctionName="mfn", UpdateRuntimeOn="Manual")
    expect_error("InvalidParameterValueException", LAM.put_runtime_management_config,
                 FunctionName="mfn", UpdateRuntimeOn="Auto", RuntimeVersionArn=rv)
    pinned = "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32
    p = LAM.put_runtime_management_config(FunctionName="mfn", UpdateRuntimeOn="Manual", RuntimeVersionArn=pinned)
    check(p["UpdateRuntimeOn"] == "Manual" and p["RuntimeVersionArn"] == pinned, p)
    check(LAM.get_function_configuration(FunctionName="mfn")["RuntimeVersionConfig"]["RuntimeVersionArn"] == pinned,
          "pinned version reflected")
    LAM.publish_version(FunctionName="mfn")
    check(LAM.get_runtime_management_config(FunctionName="mfn", Qualifier="1")["UpdateRuntimeOn"] == "Auto",
          "per version")
    LAM.put_runtime_management_config(FunctionName="mfn", Qualifier="1", UpdateRuntimeOn="FunctionUpdate")

    # Capacity providers.
    vpc = {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    perms = {"CapacityProviderOperatorRoleArn": f"arn:aws:iam::{ACCOUNT}:role/operator"}
    cp = LAM.create_capacity_provider(CapacityProviderName="cp1", VpcConfig=vpc, PermissionsConfig=perms,
                                      Tags={"team": "a"})["CapacityProvider"]
    check(cp["State"] == "Pending" and cp["CapacityProviderArn"].endswith(":capacity-provider:cp1"), cp)
    check(cp["VpcConfig"]["SubnetIds"] == ["subnet-1"] and cp["CapacityProviderScalingConfig"]["ScalingMode"] == "Auto", cp)
    cp_arn = cp["CapacityProviderArn"]
    g = LAM.get_capacity_provider(CapacityProviderName="cp1")["CapacityProvider"]
    check(g["State"] == "Active" and g["InstanceRequirements"]["Architectures"] == ["x86_64"], g)
    expect_error("ResourceConflictException", LAM.create_capacity_provider, CapacityProviderName="cp1",
                 VpcConfig=vpc, PermissionsConfig=perms)
    expect_error("InvalidParameterValueException", LAM.update_capacity_provider, CapacityProviderName="cp1",
                 CapacityProviderScalingConfig={"ScalingMode": "Manual"})
    u = LAM.update_capacity_provider(CapacityProviderName=cp_arn, CapacityProviderScalingConfig={
        "ScalingMode": "Manual", "MaxVCpuCount": 8, "ScalingPolicies": [
            {"PredefinedMetricType": "LambdaCapacityProviderAverageCPUUtilization", "TargetValue": 60.0}]})
    check(u["CapacityProvider"]["CapacityProviderScalingConfig"]["MaxVCpuCount"] == 8, u)
    LAM.create_capacity_provider(CapacityProviderName="cp2", VpcConfig=vpc, PermissionsConfig=perms)
    page = LAM.list_capacity_providers(MaxItems=1)
    check(len(page["CapacityProviders"]) == 1 and "NextMarker" in page, page)
    rest = LAM.list_capacity_providers(Marker=page["NextMarker"])
    check([c["CapacityProviderArn"].rsplit(":", 1)[1] for c in page["CapacityProviders"] + rest["CapacityProviders"]]
          == ["cp1", "cp2"], rest)
    check(LAM.list_tags(Resource=cp_arn)["Tags"] == {"team": "a"}, "provider tags")
    LAM.tag_resource(Resource=cp_arn, Tags={"env": "dev"})
    LAM.untag_resource(Resource=cp_arn, TagKeys=["team"])
    check(LAM.list_tags(Resource=cp_arn)["Tags"] == {"env": "dev"}, "retagged")
    expect_error("ResourceNotFoundException", LAM.get_capacity_provider, CapacityProviderName="nope")
    # A function on the provider: listed, scaled, and the provider cannot go while it is used.
    on = {"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": cp_arn}}
    create("onprov", {"index.py": PY_PLAIN}, CapacityProviderConfig=on, Publish=True)
    vs = LAM.list_function_versions_by_capacity_provider(CapacityProviderName="cp1")
    arns = [v["FunctionArn"] for v in vs["FunctionVersions"]]
    check(any(a.endswith("function:onprov:1") for a in arns) and vs["CapacityProviderArn"] == cp_arn, vs)
    expect_error("InvalidParameterValueException", LAM.put_function_scaling_config, FunctionName="mfn",
                 Qualifier="1", FunctionScalingConfig={"MinExecutionEnvironments": 1})
    expect_error("InvalidParameterValueException", LAM.put_function_scaling_config, FunctionName="onprov",
                 Qualifier="1", FunctionScalingConfig={"MinExecutionEnvironments": 3, "MaxExecutionEnvironments": 2})
    sc = LAM.put_function_scaling_config(FunctionName="onprov", Qualifier="1",
                                         FunctionScalingConfig={"MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 4})
    check(sc["FunctionState"] == "Active", sc)
    g = LAM.get_function_scaling_config(FunctionName="onprov", Qualifier="1")
    check(g["RequestedFunctionScalingConfig"] == {"MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 4}
          and g["FunctionArn"].endswith("onprov:1"), g)
    expect_error("ResourceConflictException", LAM.delete_capacity_provider, CapacityProviderName="cp1")
    expect_error("ResourceNotFoundException", create, "badprov", {"index.py": PY_PLAIN}, CapacityProviderConfig={
        "LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": cp_arn.replace("cp1", "cp9")}})
    LAM.delete_function(FunctionName="onprov")
    d = LAM.delete_capacity_provider(CapacityProviderName="cp1")["CapacityProvider"]
    check(d["State"] == "Deleting", d)
    expect_error("ResourceNotFoundException", LAM.get_capacity_provider, CapacityProviderName="cp1")

    # Container image functions: stored as AWS returns them; this host runs none.
    uri = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:latest"
    img = LAM.create_function(FunctionName="img", Role=ROLE, PackageType="Image", Code={"ImageUri": uri},
                              ImageConfig={"Command": ["app.handler"]})
    check(img["PackageType"] == "Image" and "Runtime" not in img and "Handler" not in img, img)
    check(img["ImageConfigResponse"]["ImageConfig"]["Command"] == ["app.handler"], img)
    gf = LAM.get_function(FunctionName="img")
    check(gf["Code"]["RepositoryType"] == "ECR" and gf["Code"]["ImageUri"] == uri
          and "@sha256:" in gf["Code"]["ResolvedImageUri"], gf["Code"])
    check(gf["Configuration"]["State"] == "Active", gf["Configuration"])
    e = expect_error("ServiceException", LAM.invoke, FunctionName="img", Payload=b"{}")
    check("container executor" in e.response["Error"]["Message"], e.response)
    expect_error("InvalidParameterValueException", LAM.create_function, FunctionName="img2", Role=ROLE,
                 PackageType="Image", Runtime="python3.11", Code={"ImageUri": uri})
    expect_error("InvalidParameterValueException", LAM.update_function_code, FunctionName="img",
                 ZipFile=zip_of({"index.py": PY_PLAIN}))
    new_uri = uri.replace("latest", "v2")
    check(LAM.update_function_code(FunctionName="img", ImageUri=new_uri)["PackageType"] == "Image", "image update")
    check(LAM.get_function(FunctionName="img")["Code"]["ImageUri"] == new_uri, "new image")
    expect_error("InvalidParameterValueException", LAM.get_runtime_management_config, FunctionName="img")

    # InvokeWithResponseStream: chunks, then InvokeComplete.
    r = LAM.invoke_with_response_stream(FunctionName="mfn", Payload=json.dumps({"size": 150000}), LogType="Tail")
    check(r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST", r)
    chunks, complete = [], None
    for ev in r["EventStream"]:
        if "PayloadChunk" in ev:
            chunks.append(ev["PayloadChunk"]["Payload"])
        if "InvokeComplete" in ev:
            complete = ev["InvokeComplete"]
    check(len(chunks) >= 2 and json.loads(b"".join(chunks)) == {"data": "x" * 150000}, len(chunks))
    check(complete is not None and "ErrorCode" not in complete and complete.get("LogResult"), complete)
    r = LAM.invoke_with_response_stream(FunctionName="mfn", Payload=json.dumps({"fail": True}))
    events = list(r["EventStream"])
    done = [e["InvokeComplete"] for e in events if "InvokeComplete" in e]
    check(done and done[0]["ErrorCode"] == "Unhandled" and "stream boom" in done[0]["ErrorDetails"], events)
    expect_error("ResourceNotFoundException", LAM.invoke_with_response_stream, FunctionName="nope", Payload=b"{}")
    print("recursion, runtime management, scaling, capacity providers, images and response streams ok")


def managed_after():
    check(LAM.get_function_recursion_config(FunctionName="mfn")["RecursiveLoop"] == "Allow", "recursion kept")
    rm = LAM.get_runtime_management_config(FunctionName="mfn")
    check(rm["UpdateRuntimeOn"] == "Manual" and rm["RuntimeVersionArn"].endswith("ab" * 32), rm)
    check(LAM.get_runtime_management_config(FunctionName="mfn", Qualifier="1")["UpdateRuntimeOn"] == "FunctionUpdate",
          "version's config kept")
    check(LAM.get_capacity_provider(CapacityProviderName="cp2")["CapacityProvider"]["State"] == "Active", "cp2 kept")
    check(LAM.get_function(FunctionName="img")["Configuration"]["PackageType"] == "Image", "image kept")
    print("managed settings survived the restart")


# ---------------------------------------------------------------------------------------------
# Durable executions, driven by a handler that speaks the durable-execution SDK's protocol.

PY_DURABLE = """
import json, boto3
def handler(event, context):
    lam = boto3.client("lambda")
    arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
    ops = {o["Id"]: o for o in event["InitialExecutionState"]["Operations"]}
    start = next(o for o in ops.values() if o["Type"] == "EXECUTION")
    inp = json.loads(start["ExecutionDetails"]["InputPayload"] or "{}")
    def cp(updates):
        nonlocal token
        r = lam.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=token, Updates=updates)
        token = r["CheckpointToken"]
        for o in r["NewExecutionState"]["Operations"]:
            ops[o["Id"]] = o
    if ops.get("s1", {}).get("Status") != "SUCCEEDED":
        first = [{"Id": "s1", "Type": "STEP", "Action": "START", "Name": "double"}]
        if inp.get("idem"):
            # A retried checkpoint (same ClientToken and request) gets the same answer and applies
            # nothing twice; the same ClientToken with another request is refused.
            ct, t0 = "ct-" + inp["idem"], token
            a = lam.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=t0, Updates=first, ClientToken=ct)
            b = lam.checkpoint_durable_execution(DurableExecutionArn=arn, CheckpointToken=t0, Updates=first, ClientToken=ct)
            def refused(**kw):
                try:
                    lam.checkpoint_durable_execution(DurableExecutionArn=arn, **kw)
                    return "accepted"
                except lam.exceptions.InvalidParameterValueException as e:
                    return e.response["Error"]["Message"]
            other = [{"Id": "other", "Type": "STEP", "Action": "START"}]
            mismatch = refused(CheckpointToken=t0, Updates=other, ClientToken=ct)
            token = a["CheckpointToken"]
            for o in a["NewExecutionState"]["Operations"]:
                ops[o["Id"]] = o
            big = [{"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": "x" * (300 * 1024)}]
            limit = refused(CheckpointToken=token, Updates=big)
            boto3.client("ssm").put_parameter(Name="/durable/idem-" + inp["idem"], Type="String", Overwrite=True,
                Value=json.dumps({"same": a["CheckpointToken"] == b["CheckpointToken"]
                                          and a["NewExecutionState"] == b["NewExecutionState"],
                                  "mismatch": mismatch, "limit": limit, "t0": t0, "ct": ct,
                                  "answer": a["CheckpointToken"], "updates": first}))
        else:
            cp(first)
        cp([{"Id": "s1", "Type": "STEP", "Action": "SUCCEED", "Payload": json.dumps(inp["n"] * 2)}])
    doubled = json.loads(ops["s1"]["StepDetails"]["Result"])
    if "w1" not in ops and inp.get("wait", 1) > 0:
        cp([{"Id": "w1", "Type": "WAIT", "Action": "START", "WaitOptions": {"WaitSeconds": inp.get("wait", 1)}}])
    if "w1" in ops and ops["w1"]["Status"] != "SUCCEEDED":
        return {"Status": "PENDING"}
    extra = 0
    if inp.get("callback"):
        if "c1" not in ops:
            cp([{"Id": "c1", "Type": "CALLBACK", "Action": "START",
                 "CallbackOptions": {"TimeoutSeconds": 600, "HeartbeatTimeoutSeconds": 300}}])
            boto3.client("ssm").put_parameter(Name="/durable/" + inp["name"], Type="String", Overwrite=True,
                                              Value=ops["c1"]["CallbackDetails"]["CallbackId"])
        c = ops["c1"]
        if c["Status"] == "STARTED":
            return {"Status": "PENDING"}
        if c["Status"] != "SUCCEEDED":
            return {"Status": "FAILED", "Error": c["CallbackDetails"].get("Error", {})}
        extra = json.loads(c["CallbackDetails"]["Result"])
    return {"Status": "SUCCEEDED", "Result": json.dumps({"doubled": doubled, "extra": extra})}
"""


def param(name):
    ssm = client("ssm")
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def status(arn):
    return LAM.get_durable_execution(DurableExecutionArn=arn)["Status"]


def start_async(name, payload):
    r = LAM.invoke(FunctionName="durable", InvocationType="Event", DurableExecutionName=name,
                   Payload=json.dumps(payload))
    check(r["StatusCode"] == 202 and r["DurableExecutionArn"].endswith(name + "/" + r["DurableExecutionArn"].rsplit("/", 1)[1]), r)
    return r["DurableExecutionArn"]


def durable_prepare(state):
    fn = create("durable", {"index.py": PY_DURABLE}, Timeout=30,
                DurableConfig={"ExecutionTimeout": 600, "RetentionPeriodInDays": 1})
    check(fn["DurableConfig"] == {"ExecutionTimeout": 600, "RetentionPeriodInDays": 1}, fn)
    # Synchronous: the call waits for the end, through a wait and a second invocation.
    t0 = time.time()
    r = LAM.invoke(FunctionName="durable", Payload=json.dumps({"n": 21, "wait": 1, "idem": "sync"}))
    body = json.loads(r["Payload"].read())
    check(body == {"doubled": 42, "extra": 0} and "FunctionError" not in r, (body, r))
    check(time.time() - t0 >= 1.0, "the wait was honoured")
    sync_arn = r["DurableExecutionArn"]
    g = LAM.get_durable_execution(DurableExecutionArn=sync_arn)
    check(g["Status"] == "SUCCEEDED" and json.loads(g["Result"]) == body and json.loads(g["InputPayload"])["n"] == 21
          and g["Version"] == "$LATEST" and g["EndTimestamp"] >= g["StartTimestamp"], g)
    h = LAM.get_durable_execution_history(DurableExecutionArn=sync_arn, IncludeExecutionData=True)
    kinds = [e["EventType"] for e in h["Events"]]
    for k in ["ExecutionStarted", "StepStarted", "StepSucceeded", "WaitStarted", "WaitSucceeded",
              "InvocationCompleted", "ExecutionSucceeded"]:
        check(k in kinds, kinds)
    check(kinds.count("InvocationCompleted") == 2 and kinds[0] == "ExecutionStarted"
          and kinds[-1] == "ExecutionSucceeded", kinds)
    check([e["EventId"] for e in h["Events"]] == list(range(1, len(kinds) + 1)), h["Events"])
    step = next(e for e in h["Events"] if e["EventType"] == "StepSucceeded")
    check(step["Name"] == "double" and step["StepSucceededDetails"]["Result"]["Payload"] == "42", step)
    check(step["StepSucceededDetails"]["Result"]["Truncated"] is False, step)
    check(kinds.count("StepStarted") == 1, ("the retried checkpoint applied nothing twice", kinds))
    idem = json.loads(param("/durable/idem-sync"))
    check(idem["same"] is True, idem)
    check("already used with a different request" in idem["mismatch"], idem)
    check("exceeds the maximum size of 262144 bytes" in idem["limit"], idem)
    bare = LAM.get_durable_execution_history(DurableExecutionArn=sync_arn)
    step = next(e for e in bare["Events"] if e["EventType"] == "StepSucceeded")
    check(step["StepSucceededDetails"]["Result"] == {"Truncated": True}, step)
    first = LAM.get_durable_execution_history(DurableExecutionArn=sync_arn, MaxItems=2)
    check(len(first["Events"]) == 2 and "NextMarker" in first, first)
    # $LATEST.PUBLISHED: the latest published version, and the execution's version as reported.
    LAM.publish_version(FunctionName="durable")
    r = LAM.invoke(FunctionName="durable", Qualifier="$LATEST.PUBLISHED", Payload=json.dumps({"n": 3, "wait": 0}))
    check(json.loads(r["Payload"].read()) == {"doubled": 6, "extra": 0}, r)
    pub_arn = r["DurableExecutionArn"]
    check(":function:durable:$LATEST.PUBLISHED/durable-execution/" in pub_arn, pub_arn)
    check(LAM.get_durable_execution(DurableExecutionArn=pub_arn)["Version"] == "$LATEST.PUBLISHED", pub_arn)
    pub = LAM.list_durable_executions_by_function(FunctionName="durable", Qualifier="$LATEST.PUBLISHED")
    check([d["DurableExecutionArn"] for d in pub["DurableExecutions"]] == [pub_arn], pub)
    expect_error("InvalidParameterValueException", LAM.get_durable_execution_state,
                 DurableExecutionArn=sync_arn, CheckpointToken="bm9wZTox")
    expect_error("ResourceNotFoundException", LAM.get_durable_execution,
                 DurableExecutionArn=sync_arn.rsplit("/", 1)[0] + "/nope")
    # Asynchronous, waiting on a callback.
    cb_arn = start_async("cb1", {"n": 1, "wait": 0, "callback": True, "name": "cb1"})
    cb = wait_for("the callback id", lambda: param("/durable/cb1"), 60)
    check(status(cb_arn) == "RUNNING", cb_arn)
    LAM.send_durable_execution_callback_heartbeat(CallbackId=cb)
    expect_error("InvalidParameterValueException", LAM.send_durable_execution_callback_success,
                 CallbackId="bm9wZQ==", Result=b"1")
    # One stopped while waiting.
    stop_arn = start_async("stopme", {"n": 2, "wait": 0, "callback": True, "name": "stopme"})
    stop_cb = wait_for("the second callback id", lambda: param("/durable/stopme"), 60)
    st = LAM.stop_durable_execution(DurableExecutionArn=stop_arn, Error={"ErrorType": "Stopped", "ErrorMessage": "by test"})
    check("StopTimestamp" in st and status(stop_arn) == "STOPPED", st)
    expect_error("InvalidParameterValueException", LAM.send_durable_execution_callback_success,
                 CallbackId=stop_cb, Result=b"1")
    expect_error("InvalidParameterValueException", LAM.stop_durable_execution, DurableExecutionArn=stop_arn)
    # One whose 4 s timer runs across the restart.
    timer_arn = start_async("timer", {"n": 5, "wait": 8})
    wait_for("the timer's wait", lambda: any(
        e["EventType"] == "WaitStarted" for e in
        LAM.get_durable_execution_history(DurableExecutionArn=timer_arn)["Events"]), 60)
    lst = LAM.list_durable_executions_by_function(FunctionName="durable")
    check({d["DurableExecutionArn"] for d in lst["DurableExecutions"]}
          == {sync_arn, pub_arn, cb_arn, stop_arn, timer_arn}, lst)
    running = LAM.list_durable_executions_by_function(FunctionName="durable", Statuses=["RUNNING"])
    check({d["DurableExecutionName"] for d in running["DurableExecutions"]} == {"cb1", "timer"}, running)
    with open(state, "w") as f:
        json.dump({"sync": sync_arn, "cb": cb_arn, "cb_id": cb, "stop": stop_arn, "timer": timer_arn}, f)
    print("durable executions prepared")


def durable_check(state):
    with open(state) as f:
        st = json.load(f)
    check(status(st["sync"]) == "SUCCEEDED" and status(st["stop"]) == "STOPPED", "finished ones kept")
    wait_for("the timer after the restart", lambda: status(st["timer"]) == "SUCCEEDED", 60)
    g = LAM.get_durable_execution(DurableExecutionArn=st["timer"])
    check(json.loads(g["Result"]) == {"doubled": 10, "extra": 0}, g)
    check(status(st["cb"]) == "RUNNING", "still waiting on its callback")
    LAM.send_durable_execution_callback_success(CallbackId=st["cb_id"], Result=json.dumps(5).encode())
    wait_for("the callback's execution", lambda: status(st["cb"]) == "SUCCEEDED", 60)
    g = LAM.get_durable_execution(DurableExecutionArn=st["cb"])
    check(json.loads(g["Result"]) == {"doubled": 2, "extra": 5}, g)
    expect_error("InvalidParameterValueException", LAM.send_durable_execution_callback_failure,
                 CallbackId=st["cb_id"], Error={"ErrorMessage": "late"})
    kinds = [e["EventType"] for e in LAM.get_durable_execution_history(DurableExecutionArn=st["cb"])["Events"]]
    check("CallbackStarted" in kinds and "CallbackSucceeded" in kinds and kinds[-1] == "ExecutionSucceeded", kinds)
    # The checkpoint's client token survived the kill -9: the retry still gets the first answer.
    idem = json.loads(param("/durable/idem-sync"))
    again = LAM.checkpoint_durable_execution(DurableExecutionArn=st["sync"], CheckpointToken=idem["t0"],
                                             Updates=idem["updates"], ClientToken=idem["ct"])
    check(again["CheckpointToken"] == idem["answer"], (again, idem))
    expect_error("InvalidParameterValueException", LAM.checkpoint_durable_execution, DurableExecutionArn=st["sync"],
                 CheckpointToken=idem["t0"], Updates=[], ClientToken=idem["ct"])
    kinds = [e["EventType"] for e in LAM.get_durable_execution_history(DurableExecutionArn=st["sync"])["Events"]]
    check(kinds.count("StepStarted") == 1, kinds)
    print("durable executions resumed after the restart")


COMMANDS = {
    "managed": (managed, 0),
    "managed-after": (managed_after, 0),
    "durable-prepare": (durable_prepare, 1),
    "durable-check": (durable_check, 1),
}

if __name__ == "__main__":
    run_commands(COMMANDS, ARGS)

#!/usr/bin/env python3
"""Drive a running snapstack's SSM breadth with boto3: associations, OpsItems, OpsMetadata,
patch baselines and groups, service settings, resource policies, document reviews, a change
calendar, maintenance window updates and schedules, inventory, compliance, activations,
managed instances and resource data syncs; automation executions (steps run by the server's
background task, resumed across a restart), change requests and Session Manager sessions.

Usage: ssm_wide.py ENDPOINT COMMAND [ARGS]...

  prepare STATE   make one of each; what to check to STATE
  check STATE     after a restart: everything prepare made is there, as it was
"""

import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
INSTANCE = "mi-0123456789abcdef0"
ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-CALENDAR-TYPE:DEFAULT_OPEN\r\nBEGIN:VEVENT\r\n"
       "DTSTART:20300101T100000Z\r\nDTEND:20300101T120000Z\r\nSUMMARY:freeze\r\nEND:VEVENT\r\n"
       "END:VCALENDAR\r\n")


def ssm():
    return boto3.client("ssm", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code, f"expected {code}, got {got}: {e}")
        return e
    raise AssertionError(f"expected {code}, got success")


def prepare(path):
    c = ssm()
    st = {}
    a = c.create_association(
        Name="AWS-RunShellScript", AssociationName="wide-assoc",
        Targets=[{"Key": "InstanceIds", "Values": [INSTANCE]}],
        ScheduleExpression="rate(30 minutes)", Parameters={"commands": ["echo hi"]},
    )["AssociationDescription"]
    st["association"] = a["AssociationId"]
    c.update_association(AssociationId=a["AssociationId"], AssociationName="wide-assoc-2")
    expect_error("AssociationDoesNotExist", c.describe_association,
                 AssociationId="00000000-0000-0000-0000-000000000000")
    expect_error("InvalidDocument", c.create_association, Name="NoSuchDoc", InstanceId=INSTANCE)

    oi = c.create_ops_item(Title="disk full", Source="EC2", Description="/ is 99% full", Priority=2)
    st["opsitem"] = oi["OpsItemId"]
    c.update_ops_item(OpsItemId=oi["OpsItemId"], Status="InProgress")
    rel = c.associate_ops_item_related_item(
        OpsItemId=oi["OpsItemId"], AssociationType="RelatesTo",
        ResourceType="AWS::SSMIncidents::IncidentRecord", ResourceUri="arn:aws:ssm-incidents::1:incident-record/x")
    st["related"] = rel["AssociationId"]
    md = c.create_ops_metadata(ResourceId="/aws/ssm/wide/appmanager", Metadata={"owner": {"Value": "team"}})
    st["opsmetadata"] = md["OpsMetadataArn"]

    pb = c.create_patch_baseline(Name="wide-baseline", OperatingSystem="AMAZON_LINUX_2",
                                 ApprovedPatches=["kernel"], Description="mine",
                                 Tags=[{"Key": "team", "Value": "ops"}])
    st["baseline"] = pb["BaselineId"]
    c.register_patch_baseline_for_patch_group(BaselineId=pb["BaselineId"], PatchGroup="web")
    c.register_default_patch_baseline(BaselineId=pb["BaselineId"])
    d = c.get_default_patch_baseline(OperatingSystem="UBUNTU")
    check(d["BaselineId"].endswith("pb-0c7e89f711c3095f4"), d)

    c.update_service_setting(SettingId="/ssm/parameter-store/high-throughput-enabled", SettingValue="true")
    arn = "arn:aws:ssm:us-east-1:000000000000:opsitemgroup/default"
    pol = c.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    st["policy"] = [pol["PolicyId"], pol["PolicyHash"]]

    c.create_document(Name="WideDoc", Content=json.dumps({"schemaVersion": "2.2", "mainSteps": []}))
    c.update_document_metadata(Name="WideDoc", DocumentReviews={"Action": "SendForReview",
                                                                "Comment": [{"Type": "Comment", "Content": "pls"}]})
    c.update_document_metadata(Name="WideDoc", DocumentReviews={"Action": "Approve"})
    c.create_document(Name="WideCal", Content=ICS, DocumentType="ChangeCalendar", DocumentFormat="TEXT")
    cs = c.get_calendar_state(CalendarNames=["WideCal"], AtTime="2030-01-01T11:00:00Z")
    check(cs["State"] == "CLOSED" and cs["NextTransitionTime"] == "2030-01-01T12:00:00Z", cs)

    w = c.create_maintenance_window(Name="wide-window", Schedule="cron(0 2 ? * SUN *)", Duration=2,
                                    Cutoff=1, AllowUnassociatedTargets=False)
    st["window"] = w["WindowId"]
    t = c.register_target_with_maintenance_window(
        WindowId=w["WindowId"], ResourceType="INSTANCE",
        Targets=[{"Key": "InstanceIds", "Values": [INSTANCE]}])
    st["target"] = t["WindowTargetId"]
    c.update_maintenance_window_target(WindowId=w["WindowId"], WindowTargetId=t["WindowTargetId"], Name="web-target")
    k = c.register_task_with_maintenance_window(
        WindowId=w["WindowId"], TaskArn="AWS-RunShellScript", TaskType="RUN_COMMAND", Priority=1,
        MaxConcurrency="1", MaxErrors="1", Targets=[{"Key": "WindowTargetIds", "Values": [t["WindowTargetId"]]}])
    st["task"] = k["WindowTaskId"]
    c.update_maintenance_window_task(WindowId=w["WindowId"], WindowTaskId=k["WindowTaskId"], Priority=7)
    sch = c.describe_maintenance_window_schedule(WindowId=w["WindowId"], MaxResults=2)
    runs = sch["ScheduledWindowExecutions"]
    check(len(runs) == 2 and all(r["ExecutionTime"].endswith("T02:00Z") for r in runs), runs)

    c.put_inventory(InstanceId=INSTANCE, Items=[
        {"TypeName": "AWS:InstanceInformation", "SchemaVersion": "1.0", "CaptureTime": "2026-12-06T00:00:00Z",
         "Content": [{"ComputerName": "edge-1", "PlatformType": "Linux", "IpAddress": "10.0.0.9",
                      "InstanceId": INSTANCE}]},
        {"TypeName": "Custom:Rack", "SchemaVersion": "1.0", "CaptureTime": "2026-12-06T00:00:00Z",
         "Content": [{"Row": "7"}]}])
    c.put_compliance_items(ResourceId=INSTANCE, ResourceType="ManagedInstance", ComplianceType="Custom:AV",
                           ExecutionSummary={"ExecutionTime": 1700000000},
                           Items=[{"Id": "defs", "Severity": "HIGH", "Status": "NON_COMPLIANT", "Title": "old"}])
    act = c.create_activation(IamRole="SSMServiceRole", RegistrationLimit=3, DefaultInstanceName="edge")
    check(len(act["ActivationCode"]) == 20, act)
    st["activation"] = act["ActivationId"]
    c.create_resource_data_sync(SyncName="wide-sync", S3Destination={
        "BucketName": "b", "Region": "us-east-1", "SyncFormat": "JsonSerDe"})
    prepare_automation(c, st)
    with open(path, "w") as f:
        json.dump(st, f)
    # The automations are checked after the restart: the sleeping one is still asleep now.
    verify(c, st, automation=False)


RUNBOOK = {
    "schemaVersion": "0.3",
    "description": "make a queue, wait, record its URL",
    "parameters": {"QueueName": {"type": "String"}, "Nap": {"type": "String", "default": "PT4S"}},
    "mainSteps": [
        {"name": "makeQueue", "action": "aws:executeAwsApi",
         "inputs": {"Service": "sqs", "Api": "CreateQueue", "QueueName": "{{ QueueName }}"},
         "outputs": [{"Name": "Url", "Selector": "$.QueueUrl", "Type": "String"}]},
        {"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "{{ Nap }}"}},
        {"name": "record", "action": "aws:executeAwsApi",
         "inputs": {"Service": "ssm", "Api": "PutParameter", "Name": "/auto/{{ QueueName }}",
                    "Value": "{{ makeQueue.Url }}", "Type": "String", "Overwrite": True}},
    ],
    "outputs": ["makeQueue.Url"],
}

# In YAML, as runbooks are often written.
PAUSED = """schemaVersion: '0.3'
mainSteps:
  - name: hold   # waits for Resume
    action: aws:pause
    inputs: {}
  - name: script
    action: aws:executeScript
    inputs:
      Runtime: python3.11
      Handler: h
      Script: |
        def h(e, c):
            pass
    onFailure: Continue
    isCritical: false
  - name: end
    action: aws:sleep
    inputs:
      Duration: PT0S
"""

TEMPLATE = {"schemaVersion": "0.3", "emergencyChange": False, "autoApprovable": True,
            "mainSteps": [{"name": "approve", "action": "aws:approve",
                           "inputs": {"Approvers": ["arn:aws:iam::000000000000:root"]}}]}


def wait_status(c, ex_id, want, timeout=30):
    deadline = time.time() + timeout
    while True:
        x = c.get_automation_execution(AutomationExecutionId=ex_id)["AutomationExecution"]
        if x["AutomationExecutionStatus"] in want:
            return x
        check(time.time() < deadline, f"{ex_id} still {x['AutomationExecutionStatus']}: {x}")
        time.sleep(0.3)


def prepare_automation(c, st):
    c.create_document(Name="WideRunbook", DocumentType="Automation", Content=json.dumps(RUNBOOK))
    c.create_document(Name="WidePaused", DocumentType="Automation", Content=PAUSED, DocumentFormat="YAML")
    c.create_document(Name="WideTemplate", DocumentType="Automation.ChangeTemplate",
                      Content=json.dumps(TEMPLATE))
    expect_error("InvalidAutomationExecutionParametersException", c.start_automation_execution,
                 DocumentName="WideRunbook")
    expect_error("AutomationDefinitionNotFoundException", c.start_automation_execution,
                 DocumentName="NoSuchRunbook")
    expect_error("AutomationExecutionNotFoundException", c.get_automation_execution,
                 AutomationExecutionId="00000000-0000-0000-0000-000000000000")
    # A paused execution waits for Resume, across restarts.
    paused = c.start_automation_execution(DocumentName="WidePaused")["AutomationExecutionId"]
    x = wait_status(c, paused, {"Waiting"})
    check(x["CurrentStepName"] == "hold" and x["StepExecutions"][0]["StepStatus"] == "Waiting", x)
    expect_error("InvalidAutomationSignalException", c.send_automation_signal,
                 AutomationExecutionId=paused, SignalType="Approve")
    st["paused"] = paused
    # A sleeping execution: the restart comes while it sleeps; it finishes after.
    run = c.start_automation_execution(
        DocumentName="WideRunbook", Parameters={"QueueName": ["auto-wide"]})["AutomationExecutionId"]
    x = wait_status(c, run, {"InProgress"})
    st["run"] = run
    # A change request, approved at once, runs its runbook as a child execution.
    cr = c.start_change_request_execution(
        DocumentName="WideTemplate", ChangeRequestName="wide change", AutoApprove=True,
        Runbooks=[{"DocumentName": "WideRunbook",
                   "Parameters": {"QueueName": ["auto-cr"], "Nap": ["PT0S"]}}])["AutomationExecutionId"]
    st["change"] = cr
    # A stopped execution is cancelled.
    stop = c.start_automation_execution(
        DocumentName="WideRunbook", Parameters={"QueueName": ["auto-stop"], "Nap": ["PT1H"]})["AutomationExecutionId"]
    deadline = time.time() + 30
    while c.get_automation_execution(AutomationExecutionId=stop)["AutomationExecution"].get("CurrentStepName") != "nap":
        check(time.time() < deadline, "never reached the nap")
        time.sleep(0.2)
    c.stop_automation_execution(AutomationExecutionId=stop, Type="Cancel")
    x = wait_status(c, stop, {"Cancelled"})
    check(x["StepExecutions"][-1]["StepStatus"] == "Cancelled", x)
    st["stopped"] = stop
    # A session (no agent connects here: it stays Connected until terminated).
    s = c.start_session(Target=INSTANCE, Reason="wide check")
    check(s["StreamUrl"].startswith("wss://ssmmessages.us-east-1.") and s["TokenValue"], s)
    st["session"] = s["SessionId"]
    gone = c.start_session(Target=INSTANCE)["SessionId"]
    c.terminate_session(SessionId=gone)
    st["ended"] = gone
    # Parameters: `/name` is `name`, and an ARN names the parameter.
    c.put_parameter(Name="/wide-single", Value="one", Type="String")
    st["arn"] = c.get_parameter(Name="wide-single")["Parameter"]["ARN"]


def verify_automation(c, st):
    x = wait_status(c, st["run"], {"Success"})
    check(x["Outputs"]["makeQueue.Url"][0].endswith("/auto-wide"), x)
    check([s["StepName"] for s in x["StepExecutions"]] == ["makeQueue", "nap", "record"], x)
    boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test"
                 ).get_queue_url(QueueName="auto-wide")
    recorded = c.get_parameter(Name="/auto/auto-wide")["Parameter"]["Value"]
    check(recorded.endswith("/000000000000/auto-wide"), recorded)
    steps = c.describe_automation_step_executions(
        AutomationExecutionId=st["run"], Filters=[{"Key": "StepName", "Values": ["nap"]}])["StepExecutions"]
    check(len(steps) == 1 and steps[0]["StepStatus"] == "Success", steps)
    cr = wait_status(c, st["change"], {"Success"})
    check(cr["AutomationSubtype"] == "ChangeRequest" and cr["ChangeRequestName"] == "wide change", cr)
    kids = c.describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [st["change"]]}])["AutomationExecutionMetadataList"]
    check(len(kids) == 1 and kids[0]["AutomationExecutionStatus"] == "Success", kids)
    check(c.get_automation_execution(AutomationExecutionId=st["stopped"])
          ["AutomationExecution"]["AutomationExecutionStatus"] == "Cancelled", "stopped")
    # The paused one still waits (first check), then goes on once resumed.
    x = wait_status(c, st["paused"], {"Waiting", "Success"})
    if x["AutomationExecutionStatus"] == "Waiting":
        c.send_automation_signal(AutomationExecutionId=st["paused"], SignalType="Resume")
    x = wait_status(c, st["paused"], {"Success"})
    statuses = [s["StepStatus"] for s in x["StepExecutions"]]
    check(statuses == ["Success", "Failed", "Success"], x)
    check("aws:executeScript" in x["StepExecutions"][1]["FailureMessage"], x)
    listed = c.describe_automation_executions(
        Filters=[{"Key": "DocumentNamePrefix", "Values": ["Wide"]}])["AutomationExecutionMetadataList"]
    check({st["run"], st["paused"], st["change"], st["stopped"]} <= {e["AutomationExecutionId"] for e in listed}, listed)
    active = c.describe_sessions(State="Active")["Sessions"]
    check([s["SessionId"] for s in active if s["Target"] == INSTANCE] == [st["session"]], active)
    check(active[0]["Status"] == "Connected" and active[0]["Reason"] == "wide check", active)
    history = c.describe_sessions(State="History")["Sessions"]
    check([s["SessionId"] for s in history] == [st["ended"]], history)
    check(c.get_parameter(Name="/wide-single")["Parameter"]["Value"] == "one", "slash")
    check(c.get_parameter(Name=st["arn"])["Parameter"]["Name"] == "wide-single", st["arn"])
    expect_error("ParameterNotFound", c.get_parameter,
                 Name=st["arn"].replace("000000000000", "111111111111"))


def verify(c, st, automation=True):
    a = c.describe_association(AssociationId=st["association"])["AssociationDescription"]
    check(a["AssociationName"] == "wide-assoc-2" and a["AssociationVersion"] == "2", a)
    check(len(c.list_association_versions(AssociationId=st["association"])["AssociationVersions"]) == 2, "versions")
    ex = c.describe_association_executions(AssociationId=st["association"])["AssociationExecutions"]
    check(len(ex) >= 1, ex)
    eff = c.describe_effective_instance_associations(InstanceId=INSTANCE)["Associations"]
    check(any(e["AssociationId"] == st["association"] for e in eff), eff)

    oi = c.get_ops_item(OpsItemId=st["opsitem"])["OpsItem"]
    check(oi["Status"] == "InProgress" and oi["Title"] == "disk full", oi)
    found = c.describe_ops_items(OpsItemFilters=[{"Key": "Status", "Values": ["InProgress"], "Operator": "Equal"}])
    check([s["OpsItemId"] for s in found["OpsItemSummaries"]] == [st["opsitem"]], found)
    rel = c.list_ops_item_related_items(OpsItemId=st["opsitem"])["Summaries"]
    check([r["AssociationId"] for r in rel] == [st["related"]], rel)
    md = c.get_ops_metadata(OpsMetadataArn=st["opsmetadata"])
    check(md["Metadata"] == {"owner": {"Value": "team"}}, md)

    pb = c.get_patch_baseline(BaselineId=st["baseline"])
    check(pb["PatchGroups"] == ["web"] and pb["ApprovedPatches"] == ["kernel"], pb)
    d = c.get_default_patch_baseline(OperatingSystem="AMAZON_LINUX_2")
    check(d["BaselineId"] == st["baseline"], d)
    g = c.get_patch_baseline_for_patch_group(PatchGroup="web", OperatingSystem="AMAZON_LINUX_2")
    check(g["BaselineId"] == st["baseline"], g)
    expect_error("ResourceInUseException", c.delete_patch_baseline, BaselineId=st["baseline"])
    tags = c.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=st["baseline"])["TagList"]
    check(tags == [{"Key": "team", "Value": "ops"}], tags)

    s = c.get_service_setting(SettingId="/ssm/parameter-store/high-throughput-enabled")["ServiceSetting"]
    check(s["SettingValue"] == "true" and s["Status"] == "Customized", s)
    pols = c.get_resource_policies(ResourceArn="arn:aws:ssm:us-east-1:000000000000:opsitemgroup/default")["Policies"]
    check([[p["PolicyId"], p["PolicyHash"]] for p in pols] == [st["policy"]], pols)
    h = c.list_document_metadata_history(Name="WideDoc", Metadata="DocumentReviews")
    check([r["ReviewStatus"] for r in h["Metadata"]["ReviewerResponse"]] == ["PENDING", "APPROVED"], h)
    cs = c.get_calendar_state(CalendarNames=["WideCal"], AtTime="2030-01-01T13:00:00Z")
    check(cs["State"] == "OPEN", cs)

    t = c.get_maintenance_window_task(WindowId=st["window"], WindowTaskId=st["task"])
    check(t["Priority"] == 7 and t["TaskType"] == "RUN_COMMAND", t)
    targets = c.describe_maintenance_window_targets(WindowId=st["window"])["Targets"]
    check(targets[0]["Name"] == "web-target", targets)
    fw = c.describe_maintenance_windows_for_target(
        ResourceType="INSTANCE", Targets=[{"Key": "InstanceIds", "Values": [INSTANCE]}])["WindowIdentities"]
    check([w["WindowId"] for w in fw] == [st["window"]], fw)

    info = c.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [INSTANCE]}])["InstanceInformationList"]
    check(len(info) == 1 and info[0]["ComputerName"] == "edge-1", info)
    inv = c.get_inventory(Filters=[{"Key": "Custom:Rack.Row", "Values": ["7"], "Type": "Equal"}])["Entities"]
    check([e["Id"] for e in inv] == [INSTANCE], inv)
    e = c.list_inventory_entries(InstanceId=INSTANCE, TypeName="Custom:Rack")
    check(e["Entries"] == [{"Row": "7"}], e)
    items = c.list_compliance_items(ResourceIds=[INSTANCE], ResourceTypes=["ManagedInstance"])["ComplianceItems"]
    check([i["Id"] for i in items] == ["defs"], items)
    sums = c.list_resource_compliance_summaries()["ResourceComplianceSummaryItems"]
    check(sums[0]["Status"] == "NON_COMPLIANT" and sums[0]["OverallSeverity"] == "HIGH", sums)
    acts = c.describe_activations(Filters=[{"FilterKey": "ActivationIds", "FilterValues": [st["activation"]]}])
    check(acts["ActivationList"][0]["RegistrationLimit"] == 3, acts)
    syncs = c.list_resource_data_sync()["ResourceDataSyncItems"]
    check([s["SyncName"] for s in syncs] == ["wide-sync"], syncs)
    if automation:
        verify_automation(c, st)


def main():
    cmd = ARGS[0]
    if cmd == "prepare":
        prepare(ARGS[1])
    elif cmd == "check":
        with open(ARGS[1]) as f:
            verify(ssm(), json.load(f))
    else:
        raise SystemExit(f"unknown command {cmd}")
    print("ok")


if __name__ == "__main__":
    main()

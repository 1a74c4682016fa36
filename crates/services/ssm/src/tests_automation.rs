//! Tests of automation executions, change requests, sessions, access requests and previews.

use super::*;
use snapstack_service::test_support::{FakeRuntime, context_in};

fn ctx() -> RequestContext {
    context_in("000000000000", "us-east-1", NAME)
}

fn call(s: &Ssm, op: &str, body: Value) -> Result<Value, AwsError> {
    if let Some(m) = snapstack_service::reply::model_violation(NAME, op, Some(&body), usize::MAX) {
        return Err(AwsError::validation(m));
    }
    let h = s.handle(&ctx(), op, body.to_string().as_bytes())?;
    Ok(
        serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
            snapstack_protocol::model::named(NAME).unwrap(),
            op,
            &h.value,
        ))
        .unwrap(),
    )
}

/// One pass of the automation task, with no other service: every call to one is refused as
/// AWS refuses an unknown service.
fn tick(s: &Ssm) -> usize {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(
            s.run_automations(&FakeRuntime::answering_with(|service, _, _| {
                Err(AwsError::new(
                    "ResourceNotFoundException",
                    format!("no service {service}"),
                ))
            })),
        )
}

/// Start something (`op`: an automation, a change request, an access request) that must be
/// accepted; the id its answer names in `member`.
fn start(s: &Ssm, op: &str, input: Value, member: &str) -> String {
    let out = call(s, op, input).unwrap_or_else(|e| panic!("{op}: {e:?}"));
    out[member]
        .as_str()
        .unwrap_or_else(|| panic!("{op} answered no {member}: {out}"))
        .to_string()
}

/// Start an automation execution; its id.
fn automation(s: &Ssm, input: Value) -> String {
    start(
        s,
        "StartAutomationExecution",
        input,
        "AutomationExecutionId",
    )
}

/// One pass of the automation task, then the execution.
fn ticked(s: &Ssm, id: &str) -> Value {
    tick(s);
    execution(s, id)
}

/// One pass of the automation task, then the execution's status.
fn status_after_tick(s: &Ssm, id: &str) -> Value {
    ticked(s, id)["AutomationExecutionStatus"].clone()
}

fn doc(s: &Ssm, name: &str, kind: &str, content: Value) {
    call(
        s,
        "CreateDocument",
        json!({"Name": name, "DocumentType": kind, "Content": content.to_string()}),
    )
    .unwrap();
}

fn execution(s: &Ssm, id: &str) -> Value {
    call(
        s,
        "GetAutomationExecution",
        json!({"AutomationExecutionId": id}),
    )
    .unwrap()["AutomationExecution"]
        .clone()
}

fn runbook() -> Value {
    json!({
        "schemaVersion": "0.3",
        "parameters": {"Name": {"type": "String"}, "Value": {"type": "String", "default": "v1"}},
        "mainSteps": [
            {"name": "put", "action": "aws:executeAwsApi",
             "inputs": {"Service": "ssm", "Api": "PutParameter", "Name": "{{ Name }}",
                        "Value": "{{ Value }}", "Type": "String"},
             "outputs": [{"Name": "Version", "Selector": "$.Version", "Type": "Integer"}]},
            {"name": "wait", "action": "aws:pause", "inputs": {}},
            {"name": "check", "action": "aws:branch", "inputs": {
                "Choices": [{"NextStep": "done", "Variable": "{{ Value }}", "StringEquals": "v1"}],
                "Default": "other"}},
            {"name": "other", "action": "aws:executeScript", "inputs": {"Runtime": "python3.11"}},
            {"name": "done", "action": "aws:sleep", "inputs": {"Duration": "PT0S"}, "isEnd": true}
        ],
        "outputs": ["put.Version"]
    })
}

#[test]
fn an_automation_runs_its_steps_waits_for_a_signal_and_succeeds() {
    let s = Ssm::new();
    doc(&s, "Runbook", "Automation", runbook());
    let e = call(
        &s,
        "StartAutomationExecution",
        json!({"DocumentName": "Runbook"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidAutomationExecutionParametersException");
    let e = call(
        &s,
        "StartAutomationExecution",
        json!({"DocumentName": "Runbook", "Parameters": {"Name": ["p"], "Nope": ["x"]}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidAutomationExecutionParametersException");
    let e = call(
        &s,
        "StartAutomationExecution",
        json!({"DocumentName": "Missing"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "AutomationDefinitionNotFoundException");
    let id = automation(
        &s,
        json!({"DocumentName": "Runbook", "Parameters": {"Name": ["/auto/p"]}, "ClientToken": "0123abcd-0000-4000-8000-000000000001"}),
    );
    assert_eq!(id.len(), 36);
    // The same client token is the same execution.
    let again = call(
        &s,
        "StartAutomationExecution",
        json!({"DocumentName": "Runbook", "Parameters": {"Name": ["/auto/p"]}, "ClientToken": "0123abcd-0000-4000-8000-000000000001"}),
    )
    .unwrap();
    assert_eq!(again["AutomationExecutionId"], id.as_str());
    assert_eq!(
        execution(&s, &id)["AutomationExecutionStatus"],
        "InProgress"
    );
    let x = ticked(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "Waiting", "{x:#}");
    assert_eq!(x["CurrentStepName"], "wait");
    assert!(
        x.get("_Steps").is_none(),
        "internal members are not answered"
    );
    // The API step really ran.
    let p = call(&s, "GetParameter", json!({"Name": "/auto/p"})).unwrap();
    assert_eq!(p["Parameter"]["Value"], "v1");
    // Only a waiting pause takes Resume; Approve is for aws:approve.
    let e = call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id, "SignalType": "Approve"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidAutomationSignalException");
    call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id, "SignalType": "Resume"}),
    )
    .unwrap();
    let x = ticked(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "Success", "{x:#}");
    assert_eq!(x["Outputs"]["put.Version"], json!(["1"]));
    let steps = call(
        &s,
        "DescribeAutomationStepExecutions",
        json!({"AutomationExecutionId": id}),
    )
    .unwrap()["StepExecutions"]
        .clone();
    let names: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["StepName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["put", "wait", "check", "done"]);
    let filtered = call(
        &s,
        "DescribeAutomationStepExecutions",
        json!({"AutomationExecutionId": id, "ReverseOrder": true,
               "Filters": [{"Key": "StepName", "Values": ["put", "done"]}]}),
    )
    .unwrap();
    assert_eq!(filtered["StepExecutions"][0]["StepName"], "done");
    assert_eq!(filtered["StepExecutions"].as_array().unwrap().len(), 2);
    // Stopping a finished execution is refused.
    let e = call(
        &s,
        "StopAutomationExecution",
        json!({"AutomationExecutionId": id}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidAutomationStatusUpdateException");
    let list = call(
        &s,
        "DescribeAutomationExecutions",
        json!({"Filters": [{"Key": "ExecutionStatus", "Values": ["Success"]}]}),
    )
    .unwrap();
    assert_eq!(
        list["AutomationExecutionMetadataList"][0]["AutomationExecutionId"],
        id.as_str()
    );
    assert_eq!(
        list["AutomationExecutionMetadataList"][0]["AutomationType"],
        "Local"
    );
    let none = call(
        &s,
        "DescribeAutomationExecutions",
        json!({"Filters": [{"Key": "DocumentNamePrefix", "Values": ["Other"]}]}),
    )
    .unwrap();
    assert_eq!(none["AutomationExecutionMetadataList"], json!([]));
    // The execution is no longer active.
    assert_eq!(tick(&s), 0);
}

#[test]
fn stopping_cancels_and_unrunnable_steps_fail() {
    let s = Ssm::new();
    doc(
        &s,
        "Sleepy",
        "Automation",
        json!({"schemaVersion": "0.3", "mainSteps": [
            {"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}}]}),
    );
    let id = automation(&s, json!({"DocumentName": "Sleepy"}));
    assert_eq!(
        ticked(&s, &id)["StepExecutions"][0]["StepStatus"],
        "InProgress"
    );
    call(
        &s,
        "StopAutomationExecution",
        json!({"AutomationExecutionId": id}),
    )
    .unwrap();
    assert_eq!(
        execution(&s, &id)["AutomationExecutionStatus"],
        "Cancelling"
    );
    let x = ticked(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "Cancelled");
    assert_eq!(x["StepExecutions"][0]["StepStatus"], "Cancelled");

    doc(
        &s,
        "Scripted",
        "Automation",
        json!({"schemaVersion": "0.3", "mainSteps": [
            {"name": "py", "action": "aws:executeScript", "inputs": {"Runtime": "python3.11", "Handler": "h", "Script": "x"}},
            {"name": "call", "action": "aws:executeAwsApi", "inputs": {"Service": "ec2", "Api": "DescribeInstances"}}]}),
    );
    let id = automation(&s, json!({"DocumentName": "Scripted"}));
    let x = ticked(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "Failed");
    assert!(
        x["FailureMessage"]
            .as_str()
            .unwrap()
            .contains("aws:executeScript")
    );
    assert_eq!(x["StepExecutions"].as_array().unwrap().len(), 1);
}

#[test]
fn change_requests_wait_for_approval_then_run_their_runbook() {
    let s = Ssm::new();
    doc(&s, "Runbook", "Automation", runbook());
    doc(
        &s,
        "Template",
        "Automation.ChangeTemplate",
        json!({"schemaVersion": "0.3", "emergencyChange": false, "autoApprovable": true,
               "mainSteps": [{"name": "approve", "action": "aws:approve",
                              "inputs": {"Approvers": ["arn:aws:iam::000000000000:root"]}}]}),
    );
    let e = call(
        &s,
        "StartChangeRequestExecution",
        json!({"DocumentName": "Runbook", "Runbooks": [{"DocumentName": "Runbook"}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "AutomationDefinitionNotFoundException");
    let id = start(
        &s,
        "StartChangeRequestExecution",
        json!({"DocumentName": "Template", "ChangeRequestName": "cr",
               "Runbooks": [{"DocumentName": "Runbook", "Parameters": {"Name": ["/cr/p"], "Value": ["v2"]}}]}),
        "AutomationExecutionId",
    );
    let x = execution(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "PendingApproval");
    assert_eq!(x["AutomationSubtype"], "ChangeRequest");
    assert_eq!(status_after_tick(&s, &id), "PendingApproval");
    call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id, "SignalType": "Approve"}),
    )
    .unwrap();
    let x = ticked(&s, &id);
    assert_eq!(x["AutomationExecutionStatus"], "RunbookInProgress", "{x:#}");
    let children = call(
        &s,
        "DescribeAutomationExecutions",
        json!({"Filters": [{"Key": "ParentExecutionId", "Values": [id]}]}),
    )
    .unwrap()["AutomationExecutionMetadataList"]
        .clone();
    assert_eq!(children.as_array().unwrap().len(), 1);
    let child = children[0]["AutomationExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_after_tick(&s, &child), "Waiting");
    // The runbook's branch goes to the script (Value is v2), which fails: so does the request.
    call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": child, "SignalType": "Resume"}),
    )
    .unwrap();
    assert_eq!(status_after_tick(&s, &child), "Failed");
    // The parent looks again a second later (an absolute deadline).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(status_after_tick(&s, &id), "Failed");
    // A rejected request ends Rejected.
    let id2 = start(
        &s,
        "StartChangeRequestExecution",
        json!({"DocumentName": "Template", "Runbooks": [{"DocumentName": "Runbook", "Parameters": {"Name": ["/x"]}}]}),
        "AutomationExecutionId",
    );
    call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id2, "SignalType": "Reject"}),
    )
    .unwrap();
    assert_eq!(execution(&s, &id2)["AutomationExecutionStatus"], "Rejected");
}

#[test]
fn interactive_executions_run_the_steps_they_are_told() {
    let s = Ssm::new();
    doc(&s, "Runbook", "Automation", runbook());
    let id = automation(
        &s,
        json!({"DocumentName": "Runbook", "Mode": "Interactive", "Parameters": {"Name": ["/i/p"]}}),
    );
    assert_eq!(status_after_tick(&s, &id), "Waiting");
    let e = call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id, "SignalType": "StartStep", "Payload": {"StepName": ["nope"]}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "AutomationStepNotFoundException");
    call(
        &s,
        "SendAutomationSignal",
        json!({"AutomationExecutionId": id, "SignalType": "StartStep", "Payload": {"StepName": ["done"]}}),
    )
    .unwrap();
    let x = ticked(&s, &id);
    assert_eq!(x["StepExecutions"][0]["StepName"], "done");
    assert_eq!(
        x["AutomationExecutionStatus"], "Success",
        "isEnd ends it: {x:#}"
    );
}

#[test]
fn sessions_are_records_until_terminated() {
    let s = Ssm::new();
    let out = call(
        &s,
        "StartSession",
        json!({"Target": "i-0123456789abcdef0", "Reason": "debug"}),
    )
    .unwrap();
    let id = out["SessionId"].as_str().unwrap().to_string();
    assert!(
        out["StreamUrl"]
            .as_str()
            .unwrap()
            .starts_with("wss://ssmmessages.us-east-1.")
    );
    assert!(!out["TokenValue"].as_str().unwrap().is_empty());
    let active = call(&s, "DescribeSessions", json!({"State": "Active"})).unwrap();
    assert_eq!(active["Sessions"][0]["SessionId"], id.as_str());
    assert_eq!(active["Sessions"][0]["Status"], "Connected");
    assert_eq!(active["Sessions"][0]["Reason"], "debug");
    let f = call(
        &s,
        "DescribeSessions",
        json!({"State": "Active", "Filters": [{"key": "Target", "value": "i-other"}]}),
    )
    .unwrap();
    assert_eq!(f["Sessions"], json!([]));
    call(&s, "ResumeSession", json!({"SessionId": id})).unwrap();
    call(&s, "TerminateSession", json!({"SessionId": id})).unwrap();
    let history = call(&s, "DescribeSessions", json!({"State": "History"})).unwrap();
    assert_eq!(history["Sessions"][0]["Status"], "Terminated");
    assert_eq!(
        call(&s, "DescribeSessions", json!({"State": "Active"})).unwrap()["Sessions"],
        json!([])
    );
    let e = call(&s, "ResumeSession", json!({"SessionId": id})).unwrap_err();
    assert_eq!(e.code, "DoesNotExistException");
    let e = call(
        &s,
        "StartSession",
        json!({"Target": "i-0123456789abcdef0", "DocumentName": "Nope"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidDocument");
}

#[test]
fn access_requests_previews_and_patch_snapshots() {
    let s = Ssm::new();
    let targets = json!([{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]);
    let id = start(
        &s,
        "StartAccessRequest",
        json!({"Reason": "fix", "Targets": targets}),
        "AccessRequestId",
    );
    let t = call(&s, "GetAccessToken", json!({"AccessRequestId": id})).unwrap();
    assert_eq!(t["AccessRequestStatus"], "Pending");
    assert!(t.get("Credentials").is_none());
    doc(
        &s,
        "Auto",
        "AutoApprovalPolicy",
        json!({"policy": "permit"}),
    );
    let id = start(
        &s,
        "StartAccessRequest",
        json!({"Reason": "fix", "Targets": targets}),
        "AccessRequestId",
    );
    let t = call(&s, "GetAccessToken", json!({"AccessRequestId": id})).unwrap();
    assert_eq!(t["AccessRequestStatus"], "Approved");
    assert!(
        t["Credentials"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("ASIA")
    );
    let e = call(
        &s,
        "GetAccessToken",
        json!({"AccessRequestId": "oi-000000000000"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");

    doc(&s, "Runbook", "Automation", runbook());
    let p = call(
        &s,
        "StartExecutionPreview",
        json!({"DocumentName": "Runbook"}),
    )
    .unwrap();
    let pid = p["ExecutionPreviewId"].as_str().unwrap();
    let got = call(
        &s,
        "GetExecutionPreview",
        json!({"ExecutionPreviewId": pid}),
    )
    .unwrap();
    assert_eq!(got["Status"], "Success");
    let steps = &got["ExecutionPreview"]["Automation"]["StepPreviews"];
    assert_eq!(steps["Mutating"], 1);
    assert_eq!(steps["NonMutating"], 3);
    assert_eq!(steps["Undetermined"], 1);
    let e = call(&s, "StartExecutionPreview", json!({"DocumentName": "Nope"})).unwrap_err();
    assert_eq!(e.code, "ValidationException");

    let snap = call(
        &s,
        "GetDeployablePatchSnapshotForInstance",
        json!({"InstanceId": "i-0123456789abcdef0",
               "SnapshotId": "12345678-1234-1234-1234-123456789012"}),
    )
    .unwrap();
    assert!(
        snap["SnapshotDownloadUrl"]
            .as_str()
            .unwrap()
            .contains("12345678-1234")
    );
}

#[test]
fn executions_survive_as_records() {
    // An execution is records only: a store restored from its records goes on.
    let s = Ssm::new();
    doc(
        &s,
        "Sleepy",
        "Automation",
        json!({"schemaVersion": "0.3", "mainSteps": [
            {"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}]}),
    );
    let id = automation(&s, json!({"DocumentName": "Sleepy"}));
    tick(&s);
    let records: Vec<(snapstack_engine::Key, SsmRecord)> = s
        .store
        .snapshot()
        .iter()
        .map(|(k, r)| {
            let bytes = postcard::to_allocvec(r).unwrap();
            (k.clone(), postcard::from_bytes(&bytes).unwrap())
        })
        .collect();
    let restored = Ssm::new();
    let _ = restored.store.write(|txn| {
        for (k, r) in records {
            txn.insert(k, r);
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(1100));
    tick(&restored);
    assert_eq!(
        execution(&restored, &id)["AutomationExecutionStatus"],
        "Success"
    );
}

#[test]
fn executions_are_found_in_every_partition() {
    let s = Ssm::new();
    doc(&s, "Runbook", "Automation", runbook());
    call(
        &s,
        "PutParameter",
        json!({"Name": "/a", "Value": "v", "Type": "String"}),
    )
    .unwrap();
    let id = automation(
        &s,
        json!({"DocumentName": "Runbook", "Parameters": {"Name": ["/x"]}}),
    );
    let other = context_in("111111111111", "eu-west-1", NAME);
    s.handle(
        &other,
        "PutParameter",
        json!({"Name": "b", "Value": "v", "Type": "String"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(tick(&s), 1);
    assert_eq!(execution(&s, &id)["AutomationExecutionStatus"], "Waiting");
}

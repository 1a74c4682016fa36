//! Tests of documents, commands, maintenance windows, their tags, and the record encoding.

use super::*;
use snapstack_service::test_support::context_in;

fn ctx() -> RequestContext {
    context_in("000000000000", "us-east-1", NAME)
}

fn call(s: &Ssm, op: &str, body: Value) -> Result<Value, AwsError> {
    let h = s.handle(&ctx(), op, body.to_string().as_bytes())?;
    // As the client reads it: written by the model.
    Ok(
        serde_json::from_slice(&snapstack_protocol::codec::json::serialize_output(
            snapstack_protocol::model::named(NAME).unwrap(),
            op,
            &h.value,
        ))
        .unwrap(),
    )
}

fn code(r: Result<Value, AwsError>) -> String {
    r.unwrap_err().code
}

const DOC: &str = r#"{"schemaVersion":"2.2","description":"say hi","parameters":{"who":{"type":"String","default":"world","description":"whom"}},"mainSteps":[{"action":"aws:runShellScript","name":"hello","inputs":{"runCommand":["echo hi {{who}}"]}}]}"#;

#[test]
fn parameter_records_keep_their_old_encoding() {
    let p = Parameter {
        name: "/a".into(),
        tags: vec![("k".into(), "v".into())],
        versions: vec![],
    };
    let old = postcard::to_allocvec(&p).unwrap();
    let rec = SsmRecord::Parameter(p.clone());
    assert_eq!(postcard::to_allocvec(&rec).unwrap(), old);
    assert_eq!(postcard::from_bytes::<SsmRecord>(&old).unwrap(), rec);
    let ext = SsmRecord::Ext(Ext::Window(WindowRec {
        id: "mw-0123456789abcdef0".into(),
        name: "w".into(),
        description: None,
        schedule: "rate(1 day)".into(),
        schedule_timezone: None,
        schedule_offset: None,
        start_date: None,
        end_date: None,
        duration: 2,
        cutoff: 1,
        allow_unassociated_targets: false,
        enabled: true,
        created_ms: 1,
        modified_ms: 2,
        tags: vec![],
        client_token: None,
    }));
    let bytes = postcard::to_allocvec(&ext).unwrap();
    assert_eq!(bytes[0], 0, "an empty name marks a record of another kind");
    assert_eq!(postcard::from_bytes::<SsmRecord>(&bytes).unwrap(), ext);
    // Garbage never panics.
    for n in 0..bytes.len() {
        let _ = postcard::from_bytes::<SsmRecord>(&bytes[..n]);
    }
}

#[test]
fn documents_create_get_describe_update_delete() {
    let s = Ssm::new();
    let r = call(
        &s,
        "CreateDocument",
        json!({"Name": "Hello", "Content": DOC, "Tags": [{"Key": "t", "Value": "1"}]}),
    )
    .unwrap();
    let d = &r["DocumentDescription"];
    assert_eq!(d["Status"], "Active");
    assert_eq!(d["DocumentVersion"], "1");
    assert_eq!(d["LatestVersion"], "1");
    assert_eq!(d["DefaultVersion"], "1");
    assert_eq!(d["SchemaVersion"], "2.2");
    assert_eq!(d["DocumentType"], "Command");
    assert_eq!(d["DocumentFormat"], "JSON");
    assert_eq!(d["Owner"], "000000000000");
    assert_eq!(d["Description"], "say hi");
    assert_eq!(d["HashType"], "Sha256");
    assert_eq!(d["Hash"].as_str().unwrap().len(), 64);
    assert_eq!(d["Parameters"][0]["Name"], "who");
    assert_eq!(d["Parameters"][0]["DefaultValue"], "world");
    assert_eq!(d["PlatformTypes"], json!(["Linux", "MacOS"]));
    assert_eq!(d["Tags"], json!([{"Key": "t", "Value": "1"}]));
    let e = call(
        &s,
        "CreateDocument",
        json!({"Name": "Hello", "Content": DOC}),
    )
    .unwrap_err();
    assert_eq!(e.code, "DocumentAlreadyExists");
    assert_eq!(e.message, "Document with same name Hello already exists");
    assert_eq!(
        code(call(
            &s,
            "CreateDocument",
            json!({"Name": "Bad", "Content": "{nope"})
        )),
        "InvalidDocumentContent"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateDocument",
            json!({"Name": "AWS-Mine", "Content": DOC})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateDocument",
            json!({"Name": "Big", "Content": "x".repeat(70_000), "DocumentFormat": "TEXT"})
        )),
        "MaxDocumentSizeExceeded"
    );

    let g = call(&s, "GetDocument", json!({"Name": "Hello"})).unwrap();
    assert_eq!(g["Content"], DOC);
    assert_eq!(g["Status"], "Active");
    assert_eq!(
        code(call(&s, "GetDocument", json!({"Name": "Nope"}))),
        "InvalidDocument"
    );
    assert_eq!(
        code(call(
            &s,
            "GetDocument",
            json!({"Name": "Hello", "DocumentVersion": "9"})
        )),
        "InvalidDocumentVersion"
    );

    // Updates make new versions; the default stays until moved.
    assert_eq!(
        code(call(
            &s,
            "UpdateDocument",
            json!({"Name": "Hello", "Content": DOC})
        )),
        "DuplicateDocumentContent"
    );
    let doc2 = DOC.replace("say hi", "say hello");
    let u = call(&s, "UpdateDocument", json!({"Name": "Hello", "Content": doc2, "VersionName": "v2", "DocumentVersion": "$LATEST"})).unwrap();
    assert_eq!(u["DocumentDescription"]["DocumentVersion"], "2");
    assert_eq!(u["DocumentDescription"]["LatestVersion"], "2");
    assert_eq!(u["DocumentDescription"]["DefaultVersion"], "1");
    assert_eq!(
        code(call(
            &s,
            "UpdateDocument",
            json!({"Name": "Hello", "Content": DOC.replace("hi", "yo"), "DocumentVersion": "1"})
        )),
        "InvalidDocumentVersion"
    );
    assert_eq!(
        code(call(
            &s,
            "UpdateDocument",
            json!({"Name": "Hello", "Content": DOC.replace("hi", "yo"), "VersionName": "v2"})
        )),
        "DuplicateDocumentVersionName"
    );
    let g = call(
        &s,
        "DescribeDocument",
        json!({"Name": "Hello", "VersionName": "v2"}),
    )
    .unwrap();
    assert_eq!(g["Document"]["Description"], "say hello");
    let g = call(&s, "GetDocument", json!({"Name": "Hello"})).unwrap();
    assert_eq!(g["DocumentVersion"], "1");
    let r = call(
        &s,
        "UpdateDocumentDefaultVersion",
        json!({"Name": "Hello", "DocumentVersion": "2"}),
    )
    .unwrap();
    assert_eq!(
        r["Description"],
        json!({"Name": "Hello", "DefaultVersion": "2", "DefaultVersionName": "v2"})
    );
    assert_eq!(
        code(call(
            &s,
            "UpdateDocumentDefaultVersion",
            json!({"Name": "Hello", "DocumentVersion": "7"})
        )),
        "InvalidDocumentVersion"
    );
    let v = call(
        &s,
        "ListDocumentVersions",
        json!({"Name": "Hello", "MaxResults": 1}),
    )
    .unwrap();
    assert_eq!(v["DocumentVersions"].as_array().unwrap().len(), 1);
    assert_eq!(v["DocumentVersions"][0]["IsDefaultVersion"], false);
    let v2 = call(
        &s,
        "ListDocumentVersions",
        json!({"Name": "Hello", "NextToken": v["NextToken"]}),
    )
    .unwrap();
    assert_eq!(v2["DocumentVersions"][0]["DocumentVersion"], "2");
    assert!(v2.get("NextToken").is_none());

    // The default version can't be deleted alone; another can.
    assert_eq!(
        code(call(
            &s,
            "DeleteDocument",
            json!({"Name": "Hello", "DocumentVersion": "2"})
        )),
        "InvalidDocumentOperation"
    );
    call(
        &s,
        "DeleteDocument",
        json!({"Name": "Hello", "DocumentVersion": "1"}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "GetDocument",
            json!({"Name": "Hello", "DocumentVersion": "1"})
        )),
        "InvalidDocumentVersion"
    );
    call(&s, "DeleteDocument", json!({"Name": "Hello"})).unwrap();
    assert_eq!(
        code(call(&s, "DescribeDocument", json!({"Name": "Hello"}))),
        "InvalidDocument"
    );
    assert_eq!(
        code(call(&s, "DeleteDocument", json!({"Name": "Hello"}))),
        "InvalidDocument"
    );
}

#[test]
fn yaml_documents_are_kept_as_text() {
    let s = Ssm::new();
    let yaml = "schemaVersion: '2.2'\ndescription: yaml doc\nparameters:\n  msg:\n    type: String\n    default: hi\nmainSteps:\n  - action: aws:runPowerShellScript\n    name: run\n    inputs:\n      runCommand:\n        - echo {{msg}}\n";
    let r = call(&s, "CreateDocument", json!({"Name": "Yml", "Content": yaml, "DocumentFormat": "YAML", "DocumentType": "Command"})).unwrap();
    let d = &r["DocumentDescription"];
    assert_eq!(d["SchemaVersion"], "2.2");
    assert_eq!(d["Description"], "yaml doc");
    assert_eq!(d["Parameters"][0]["Name"], "msg");
    assert_eq!(d["PlatformTypes"], json!(["Windows"]));
    let g = call(&s, "GetDocument", json!({"Name": "Yml"})).unwrap();
    assert_eq!(g["Content"], yaml);
    assert_eq!(g["DocumentFormat"], "YAML");
}

#[test]
fn list_documents_filters_pages_and_aws_documents() {
    let s = Ssm::new();
    for n in ["Doc-a", "Doc-b", "Doc-c"] {
        call(
            &s,
            "CreateDocument",
            json!({"Name": n, "Content": DOC.replace("hi", n), "DocumentType": "Command"}),
        )
        .unwrap();
    }
    call(&s, "CreateDocument", json!({"Name": "Auto-1", "Content": "{\"schemaVersion\":\"0.3\"}", "DocumentType": "Automation"})).unwrap();
    let mut names = Vec::new();
    let mut token: Option<Value> = None;
    loop {
        let mut body = json!({"MaxResults": 2});
        if let Some(t) = &token {
            body["NextToken"] = t.clone();
        }
        let r = call(&s, "ListDocuments", body).unwrap();
        for d in r["DocumentIdentifiers"].as_array().unwrap() {
            names.push(d["Name"].as_str().unwrap().to_string());
        }
        match r.get("NextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "AWS-RunPowerShellScript",
            "AWS-RunShellScript",
            "Auto-1",
            "Doc-a",
            "Doc-b",
            "Doc-c"
        ]
    );
    let r = call(&s, "ListDocuments", json!({"Filters": [{"Key": "Owner", "Values": ["Self"]}, {"Key": "DocumentType", "Values": ["Command"]}]})).unwrap();
    let got: Vec<&str> = r["DocumentIdentifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Name"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["Doc-a", "Doc-b", "Doc-c"]);
    let r = call(
        &s,
        "ListDocuments",
        json!({"Filters": [{"Key": "Owner", "Values": ["Amazon"]}]}),
    )
    .unwrap();
    assert_eq!(r["DocumentIdentifiers"][0]["Owner"], "Amazon");
    assert_eq!(
        code(call(
            &s,
            "ListDocuments",
            json!({"Filters": [{"Key": "Bogus", "Values": ["x"]}]})
        )),
        "InvalidFilterKey"
    );
    let g = call(&s, "GetDocument", json!({"Name": "AWS-RunShellScript"})).unwrap();
    assert!(
        g["Content"]
            .as_str()
            .unwrap()
            .contains("aws:runShellScript")
    );
    assert_eq!(
        code(call(
            &s,
            "DeleteDocument",
            json!({"Name": "AWS-RunShellScript"})
        )),
        "InvalidDocumentOperation"
    );
}

#[test]
fn document_permissions() {
    let s = Ssm::new();
    call(
        &s,
        "CreateDocument",
        json!({"Name": "Shared", "Content": DOC}),
    )
    .unwrap();
    call(&s, "ModifyDocumentPermission", json!({"Name": "Shared", "PermissionType": "Share", "AccountIdsToAdd": ["111122223333", "222233334444"]})).unwrap();
    let r = call(
        &s,
        "DescribeDocumentPermission",
        json!({"Name": "Shared", "PermissionType": "Share"}),
    )
    .unwrap();
    assert_eq!(r["AccountIds"], json!(["111122223333", "222233334444"]));
    assert_eq!(
        r["AccountSharingInfoList"][0]["SharedDocumentVersion"],
        "$DEFAULT"
    );
    assert_eq!(
        code(call(&s, "DeleteDocument", json!({"Name": "Shared"}))),
        "InvalidDocumentOperation"
    );
    assert_eq!(
        code(call(
            &s,
            "ModifyDocumentPermission",
            json!({"Name": "Shared", "PermissionType": "Share", "AccountIdsToAdd": ["all", "111122223333"]})
        )),
        "DocumentPermissionLimit"
    );
    call(
        &s,
        "ModifyDocumentPermission",
        json!({"Name": "Shared", "PermissionType": "Share", "AccountIdsToRemove": ["all"]}),
    )
    .unwrap();
    let r = call(
        &s,
        "DescribeDocumentPermission",
        json!({"Name": "Shared", "PermissionType": "Share"}),
    )
    .unwrap();
    assert_eq!(r["AccountIds"], json!([]));
    call(&s, "DeleteDocument", json!({"Name": "Shared"})).unwrap();
}

#[test]
fn commands_are_recorded_and_succeed() {
    let s = Ssm::new();
    let r = call(&s, "SendCommand", json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-0123456789abcdef0", "i-0123456789abcdef1"], "Parameters": {"commands": ["echo hi"]}, "Comment": "c1"})).unwrap();
    let c = &r["Command"];
    assert_eq!(c["Status"], "Success");
    assert_eq!(c["TargetCount"], 2);
    assert_eq!(c["CompletedCount"], 2);
    assert_eq!(c["DocumentName"], "AWS-RunShellScript");
    let id = c["CommandId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(
        code(call(
            &s,
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-0123456789abcdef0"]})
        )),
        "InvalidParameters"
    );
    assert_eq!(
        code(call(
            &s,
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-0123456789abcdef0"], "Parameters": {"commands": ["x"], "nope": ["y"]}})
        )),
        "InvalidParameters"
    );
    assert_eq!(
        code(call(
            &s,
            "SendCommand",
            json!({"DocumentName": "Missing", "InstanceIds": ["i-0123456789abcdef0"]})
        )),
        "InvalidDocument"
    );
    assert_eq!(
        code(call(
            &s,
            "SendCommand",
            json!({"DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-0123456789abcdef0", "i-0123456789abcdef0"], "Parameters": {"commands": ["x"]}})
        )),
        "DuplicateInstanceId"
    );
    let r2 = call(&s, "SendCommand", json!({"DocumentName": "AWS-RunShellScript", "Targets": [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef2"]}], "Parameters": {"commands": ["y"]}})).unwrap();
    let id2 = r2["Command"]["CommandId"].as_str().unwrap().to_string();

    let l = call(&s, "ListCommands", json!({})).unwrap();
    let ids: Vec<&str> = l["Commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["CommandId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id2.as_str(), id.as_str()], "newest first");
    let l = call(&s, "ListCommands", json!({"MaxResults": 1})).unwrap();
    let l2 = call(
        &s,
        "ListCommands",
        json!({"MaxResults": 1, "NextToken": l["NextToken"]}),
    )
    .unwrap();
    assert_eq!(l2["Commands"][0]["CommandId"], id);
    let l = call(
        &s,
        "ListCommands",
        json!({"InstanceId": "i-0123456789abcdef2"}),
    )
    .unwrap();
    assert_eq!(l["Commands"].as_array().unwrap().len(), 1);
    assert_eq!(
        code(call(
            &s,
            "ListCommands",
            json!({"CommandId": "00000000-0000-0000-0000-000000000000"})
        )),
        "InvalidCommandId"
    );
    assert_eq!(
        code(call(
            &s,
            "ListCommands",
            json!({"Filters": [{"key": "Nope", "value": "x"}]})
        )),
        "InvalidFilterKey"
    );

    let inv = call(
        &s,
        "ListCommandInvocations",
        json!({"CommandId": id, "Details": true}),
    )
    .unwrap();
    let list = inv["CommandInvocations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["CommandPlugins"][0]["Name"], "aws:runShellScript");
    let all = call(&s, "ListCommandInvocations", json!({"MaxResults": 2})).unwrap();
    let rest = call(
        &s,
        "ListCommandInvocations",
        json!({"MaxResults": 2, "NextToken": all["NextToken"]}),
    )
    .unwrap();
    assert_eq!(
        all["CommandInvocations"].as_array().unwrap().len()
            + rest["CommandInvocations"].as_array().unwrap().len(),
        3
    );

    let g = call(
        &s,
        "GetCommandInvocation",
        json!({"CommandId": id, "InstanceId": "i-0123456789abcdef1"}),
    )
    .unwrap();
    assert_eq!(g["Status"], "Success");
    assert_eq!(g["ResponseCode"], 0);
    assert_eq!(g["PluginName"], "aws:runShellScript");
    assert_eq!(
        code(call(
            &s,
            "GetCommandInvocation",
            json!({"CommandId": id, "InstanceId": "i-0123456789abcdef9"})
        )),
        "InvocationDoesNotExist"
    );
    assert_eq!(
        code(call(
            &s,
            "GetCommandInvocation",
            json!({"CommandId": id, "InstanceId": "i-0123456789abcdef1", "PluginName": "nope"})
        )),
        "InvalidPluginName"
    );
    assert_eq!(
        code(call(
            &s,
            "GetCommandInvocation",
            json!({"CommandId": "00000000-0000-0000-0000-000000000000", "InstanceId": "i-0123456789abcdef1"})
        )),
        "InvalidCommandId"
    );
    call(&s, "CancelCommand", json!({"CommandId": id})).unwrap();
    assert_eq!(
        code(call(
            &s,
            "CancelCommand",
            json!({"CommandId": "00000000-0000-0000-0000-000000000000"})
        )),
        "InvalidCommandId"
    );
    let g = call(
        &s,
        "GetCommandInvocation",
        json!({"CommandId": id, "InstanceId": "i-0123456789abcdef1"}),
    )
    .unwrap();
    assert_eq!(
        g["Status"], "Success",
        "a finished invocation keeps its status"
    );
}

#[test]
fn maintenance_windows_targets_tasks() {
    let s = Ssm::new();
    let r = call(&s, "CreateMaintenanceWindow", json!({"Name": "nightly", "Schedule": "cron(0 2 ? * * *)", "Duration": 3, "Cutoff": 1, "AllowUnassociatedTargets": false, "Tags": [{"Key": "env", "Value": "dev"}]})).unwrap();
    let id = r["WindowId"].as_str().unwrap().to_string();
    assert!(id.starts_with("mw-") && id.len() == 20, "{id}");
    assert_eq!(
        code(call(
            &s,
            "CreateMaintenanceWindow",
            json!({"Name": "x", "Schedule": "daily", "Duration": 3, "Cutoff": 1, "AllowUnassociatedTargets": false})
        )),
        "ValidationException"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateMaintenanceWindow",
            json!({"Name": "x", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 2, "AllowUnassociatedTargets": false})
        )),
        "ValidationException"
    );
    let g = call(&s, "GetMaintenanceWindow", json!({"WindowId": id})).unwrap();
    assert_eq!(g["Name"], "nightly");
    assert_eq!(g["Enabled"], true);
    assert_eq!(g["Duration"], 3);
    let missing = "mw-00000000000000000";
    let e = call(&s, "GetMaintenanceWindow", json!({"WindowId": missing})).unwrap_err();
    assert_eq!(e.code, "DoesNotExistException");
    assert_eq!(
        e.message,
        format!("Maintenance window {missing} does not exist")
    );
    let u = call(
        &s,
        "UpdateMaintenanceWindow",
        json!({"WindowId": id, "Enabled": false, "Description": "d"}),
    )
    .unwrap();
    assert_eq!(u["Enabled"], false);
    assert_eq!(u["Description"], "d");
    let u = call(
        &s,
        "UpdateMaintenanceWindow",
        json!({"WindowId": id, "Replace": true, "Name": "renamed"}),
    )
    .unwrap();
    assert!(u.get("Description").is_none());
    let l = call(
        &s,
        "DescribeMaintenanceWindows",
        json!({"Filters": [{"Key": "Name", "Values": ["renamed"]}]}),
    )
    .unwrap();
    assert_eq!(l["WindowIdentities"].as_array().unwrap().len(), 1);
    let l = call(
        &s,
        "DescribeMaintenanceWindows",
        json!({"Filters": [{"Key": "Name", "Values": ["other"]}]}),
    )
    .unwrap();
    assert_eq!(l["WindowIdentities"].as_array().unwrap().len(), 0);

    let t = call(&s, "RegisterTargetWithMaintenanceWindow", json!({"WindowId": id, "ResourceType": "INSTANCE", "Targets": [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}], "Name": "tgt"})).unwrap();
    let tid = t["WindowTargetId"].as_str().unwrap().to_string();
    assert_eq!(
        code(call(
            &s,
            "RegisterTargetWithMaintenanceWindow",
            json!({"WindowId": missing, "ResourceType": "INSTANCE", "Targets": []})
        )),
        "DoesNotExistException"
    );
    let task = call(&s, "RegisterTaskWithMaintenanceWindow", json!({"WindowId": id, "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND", "Targets": [{"Key": "WindowTargetIds", "Values": [tid]}], "Priority": 2, "MaxConcurrency": "1", "MaxErrors": "0"})).unwrap();
    let task_id = task["WindowTaskId"].as_str().unwrap().to_string();
    let ts = call(
        &s,
        "DescribeMaintenanceWindowTargets",
        json!({"WindowId": id}),
    )
    .unwrap();
    assert_eq!(ts["Targets"][0]["Name"], "tgt");
    let ks = call(
        &s,
        "DescribeMaintenanceWindowTasks",
        json!({"WindowId": id}),
    )
    .unwrap();
    assert_eq!(ks["Tasks"][0]["Type"], "RUN_COMMAND");
    assert_eq!(ks["Tasks"][0]["Priority"], 2);
    assert_eq!(ks["Tasks"][0]["MaxConcurrency"], "1");
    assert_eq!(
        code(call(
            &s,
            "DeregisterTargetFromMaintenanceWindow",
            json!({"WindowId": id, "WindowTargetId": tid, "Safe": true})
        )),
        "TargetInUseException"
    );
    call(
        &s,
        "DeregisterTaskFromMaintenanceWindow",
        json!({"WindowId": id, "WindowTaskId": task_id}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "DeregisterTaskFromMaintenanceWindow",
            json!({"WindowId": id, "WindowTaskId": task_id})
        )),
        "DoesNotExistException"
    );
    call(
        &s,
        "DeregisterTargetFromMaintenanceWindow",
        json!({"WindowId": id, "WindowTargetId": tid, "Safe": true}),
    )
    .unwrap();

    // Tags on windows and documents.
    let tags = call(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "MaintenanceWindow", "ResourceId": id}),
    )
    .unwrap();
    assert_eq!(tags["TagList"], json!([{"Key": "env", "Value": "dev"}]));
    call(
        &s,
        "CreateDocument",
        json!({"Name": "Tagged", "Content": DOC}),
    )
    .unwrap();
    call(&s, "AddTagsToResource", json!({"ResourceType": "Document", "ResourceId": "Tagged", "Tags": [{"Key": "a", "Value": "b"}]})).unwrap();
    let tags = call(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Document", "ResourceId": "Tagged"}),
    )
    .unwrap();
    assert_eq!(tags["TagList"], json!([{"Key": "a", "Value": "b"}]));
    call(
        &s,
        "RemoveTagsFromResource",
        json!({"ResourceType": "Document", "ResourceId": "Tagged", "TagKeys": ["a"]}),
    )
    .unwrap();
    let tags = call(
        &s,
        "ListTagsForResource",
        json!({"ResourceType": "Document", "ResourceId": "Tagged"}),
    )
    .unwrap();
    assert_eq!(tags["TagList"], json!([]));
    assert_eq!(
        code(call(
            &s,
            "ListTagsForResource",
            json!({"ResourceType": "Document", "ResourceId": "Nope"})
        )),
        "InvalidResourceId"
    );
    assert_eq!(
        code(call(
            &s,
            "ListTagsForResource",
            json!({"ResourceType": "MaintenanceWindow", "ResourceId": missing})
        )),
        "InvalidResourceId"
    );

    // Parameters never see the other records.
    call(
        &s,
        "PutParameter",
        json!({"Name": "p", "Value": "v", "Type": "String"}),
    )
    .unwrap();
    let d = call(&s, "DescribeParameters", json!({})).unwrap();
    assert_eq!(d["Parameters"].as_array().unwrap().len(), 1);
    let d = call(
        &s,
        "GetParametersByPath",
        json!({"Path": "/", "Recursive": true}),
    )
    .unwrap();
    assert_eq!(d["Parameters"].as_array().unwrap().len(), 1);

    let del = call(&s, "DeleteMaintenanceWindow", json!({"WindowId": id})).unwrap();
    assert_eq!(del["WindowId"], id);
    assert_eq!(
        code(call(&s, "GetMaintenanceWindow", json!({"WindowId": id}))),
        "DoesNotExistException"
    );
}

#[test]
fn described_tasks_leave_out_their_invocation_parameters() {
    let s = Ssm::new();
    let w = call(&s, "CreateMaintenanceWindow", json!({"Name": "w", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1, "AllowUnassociatedTargets": true})).unwrap();
    let id = w["WindowId"].as_str().unwrap().to_string();
    call(&s, "RegisterTaskWithMaintenanceWindow", json!({"WindowId": id, "TaskArn": "AWS-RunShellScript", "TaskType": "RUN_COMMAND", "Priority": 1, "MaxConcurrency": "1", "MaxErrors": "0", "TaskInvocationParameters": {"RunCommand": {"Parameters": {"commands": ["uptime"]}}}})).unwrap();
    // As AWS lists them (MaintenanceWindowTask has no TaskInvocationParameters).
    let ks = call(
        &s,
        "DescribeMaintenanceWindowTasks",
        json!({"WindowId": id}),
    )
    .unwrap();
    let t = &ks["Tasks"][0];
    assert!(t.get("TaskInvocationParameters").is_none(), "{t}");
    assert_eq!(t["TaskArn"], "AWS-RunShellScript");
    assert_eq!(t["MaxErrors"], "0");
}

//! Tests of associations, OpsItems and OpsMetadata, patch baselines, settings and policies,
//! document reviews, calendars, window updates and schedules, inventory, compliance,
//! activations, managed instances and resource data syncs.

use super::*;
use snapstack_service::test_support::context_in;

fn ctx() -> RequestContext {
    context_in("000000000000", "us-east-1", NAME)
}

/// One call, as the client reads it: validated by the model, written by the model.
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

fn code(r: Result<Value, AwsError>) -> String {
    r.unwrap_err().code
}

#[test]
fn object_records_are_the_last_ext_variant() {
    let rec = SsmRecord::Ext(Ext::Object(ObjectRec::new("k", "i", &json!({}))));
    let bytes = postcard::to_allocvec(&rec).unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(bytes[1], 6, "Object is appended after WindowTask");
}

#[test]
fn associations_live_through_versions_status_and_deletion() {
    let s = Ssm::new();
    let r = call(
        &s,
        "CreateAssociation",
        json!({"Name": "AWS-RunShellScript", "Targets": [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}],
               "ScheduleExpression": "rate(30 minutes)", "AssociationName": "a1",
               "Parameters": {"commands": ["echo hi"]}}),
    )
    .unwrap();
    let d = &r["AssociationDescription"];
    let id = d["AssociationId"].as_str().unwrap().to_string();
    assert_eq!(d["AssociationVersion"], "1");
    assert_eq!(d["Overview"]["Status"], "Pending");
    assert_eq!(d["DocumentVersion"], "$DEFAULT");
    assert_eq!(
        code(call(
            &s,
            "CreateAssociation",
            json!({"Name": "Nope", "InstanceId": "i-1"})
        )),
        "InvalidDocument"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateAssociation",
            json!({"Name": "AWS-RunShellScript", "InstanceId": "i-1", "ScheduleExpression": "soon"})
        )),
        "InvalidSchedule"
    );
    let u = call(
        &s,
        "UpdateAssociation",
        json!({"AssociationId": id, "AssociationName": "a2"}),
    )
    .unwrap();
    assert_eq!(u["AssociationDescription"]["AssociationVersion"], "2");
    assert_eq!(
        code(call(
            &s,
            "UpdateAssociation",
            json!({"AssociationId": id, "AssociationVersion": "1"})
        )),
        "InvalidAssociationVersion"
    );
    let v = call(&s, "ListAssociationVersions", json!({"AssociationId": id})).unwrap();
    assert_eq!(v["AssociationVersions"].as_array().unwrap().len(), 2);
    let old = call(
        &s,
        "DescribeAssociation",
        json!({"AssociationId": id, "AssociationVersion": "1"}),
    )
    .unwrap();
    assert_eq!(old["AssociationDescription"]["AssociationName"], "a1");
    let l = call(
        &s,
        "ListAssociations",
        json!({"AssociationFilterList": [{"key": "AssociationName", "value": "a2"}]}),
    )
    .unwrap();
    assert_eq!(l["Associations"].as_array().unwrap().len(), 1);
    assert!(
        l["Associations"][0].get("Parameters").is_none(),
        "the listing's shape"
    );
    let e = call(
        &s,
        "DescribeAssociationExecutions",
        json!({"AssociationId": id}),
    )
    .unwrap();
    assert_eq!(e["AssociationExecutions"].as_array().unwrap().len(), 1);
    call(&s, "StartAssociationsOnce", json!({"AssociationIds": [id]})).unwrap();
    let e = call(
        &s,
        "DescribeAssociationExecutions",
        json!({"AssociationId": id}),
    )
    .unwrap();
    let execs = e["AssociationExecutions"].as_array().unwrap();
    assert_eq!(execs.len(), 2);
    let t = call(
        &s,
        "DescribeAssociationExecutionTargets",
        json!({"AssociationId": id, "ExecutionId": execs[0]["ExecutionId"]}),
    )
    .unwrap();
    assert_eq!(t["AssociationExecutionTargets"], json!([]));
    assert_eq!(
        code(call(
            &s,
            "StartAssociationsOnce",
            json!({"AssociationIds": ["00000000-0000-0000-0000-000000000000"]})
        )),
        "InvalidAssociation"
    );
    let eff = call(
        &s,
        "DescribeEffectiveInstanceAssociations",
        json!({"InstanceId": "i-0123456789abcdef0"}),
    )
    .unwrap();
    assert!(
        eff["Associations"][0]["Content"]
            .as_str()
            .unwrap()
            .contains("runShellScript")
    );
    let st = call(
        &s,
        "DescribeInstanceAssociationsStatus",
        json!({"InstanceId": "i-0123456789abcdef0"}),
    )
    .unwrap();
    assert_eq!(st["InstanceAssociationStatusInfos"][0]["Status"], "Pending");
    let b = call(
        &s,
        "CreateAssociationBatch",
        json!({"Entries": [
        {"Name": "AWS-RunShellScript", "InstanceId": "i-0aaaaaaaaaaaaaaaa"},
        {"Name": "Missing", "InstanceId": "i-0aaaaaaaaaaaaaaaa"}]}),
    )
    .unwrap();
    assert_eq!(b["Successful"].as_array().unwrap().len(), 1);
    assert_eq!(b["Failed"][0]["Fault"], "Client");
    let status = json!({"Name": "AWS-RunShellScript", "InstanceId": "i-0aaaaaaaaaaaaaaaa",
        "AssociationStatus": {"Date": 1_700_000_000, "Name": "Success", "Message": "done"}});
    let u = call(&s, "UpdateAssociationStatus", status.clone()).unwrap();
    assert_eq!(u["AssociationDescription"]["Status"]["Name"], "Success");
    assert_eq!(
        code(call(&s, "UpdateAssociationStatus", status)),
        "StatusUnchanged"
    );
    call(&s, "DeleteAssociation", json!({"AssociationId": id})).unwrap();
    assert_eq!(
        code(call(
            &s,
            "DescribeAssociation",
            json!({"AssociationId": id})
        )),
        "AssociationDoesNotExist"
    );
    assert_eq!(
        code(call(
            &s,
            "ListAssociationVersions",
            json!({"AssociationId": id})
        )),
        "AssociationDoesNotExist"
    );
}

#[test]
fn ops_items_filters_related_items_and_metadata() {
    let s = Ssm::new();
    let r = call(&s, "CreateOpsItem", json!({"Title": "disk full", "Source": "EC2", "Description": "d", "Priority": 2,
        "OperationalData": {"/aws/dedup": {"Value": "{\"dedupString\":\"x\"}", "Type": "SearchableString"}}})).unwrap();
    let id = r["OpsItemId"].as_str().unwrap().to_string();
    assert!(id.starts_with("oi-") && id.len() == 15, "{id}");
    assert_eq!(
        r["OpsItemArn"],
        format!("arn:aws:ssm:us-east-1:000000000000:opsitem/{id}")
    );
    assert_eq!(
        code(call(
            &s,
            "CreateOpsItem",
            json!({"Title": "again", "Source": "EC2", "Description": "d",
            "OperationalData": {"/aws/dedup": {"Value": "{\"dedupString\":\"x\"}"}}})
        )),
        "OpsItemAlreadyExistsException"
    );
    call(
        &s,
        "CreateOpsItem",
        json!({"Title": "cpu", "Source": "RDS", "Description": "d"}),
    )
    .unwrap();
    call(
        &s,
        "UpdateOpsItem",
        json!({"OpsItemId": id, "Status": "Resolved"}),
    )
    .unwrap();
    let g = call(&s, "GetOpsItem", json!({"OpsItemId": id})).unwrap();
    assert_eq!(g["OpsItem"]["Status"], "Resolved");
    assert_eq!(g["OpsItem"]["Priority"], 2);
    let f = |filters: Value| {
        call(&s, "DescribeOpsItems", json!({"OpsItemFilters": filters})).unwrap()["OpsItemSummaries"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        f(json!([{"Key": "Status", "Values": ["Open"], "Operator": "Equal"}])),
        1
    );
    assert_eq!(
        f(json!([{"Key": "Title", "Values": ["disk"], "Operator": "Contains"}])),
        1
    );
    assert_eq!(
        f(json!([{"Key": "Priority", "Values": ["3"], "Operator": "LessThan"}])),
        1
    );
    assert_eq!(
        code(call(
            &s,
            "GetOpsItem",
            json!({"OpsItemId": "oi-000000000000"})
        )),
        "OpsItemNotFoundException"
    );
    let a = call(
        &s,
        "AssociateOpsItemRelatedItem",
        json!({"OpsItemId": id, "AssociationType": "IsParentOf",
        "ResourceType": "AWS::SSMIncidents::IncidentRecord", "ResourceUri": "arn:aws:x"}),
    )
    .unwrap();
    let rel = call(&s, "ListOpsItemRelatedItems", json!({"OpsItemId": id})).unwrap();
    assert_eq!(rel["Summaries"][0]["AssociationId"], a["AssociationId"]);
    call(
        &s,
        "DisassociateOpsItemRelatedItem",
        json!({"OpsItemId": id, "AssociationId": a["AssociationId"]}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "ListOpsItemEvents", json!({})).unwrap()["Summaries"],
        json!([])
    );
    let sum = call(&s, "GetOpsSummary", json!({})).unwrap();
    assert_eq!(sum["Entities"].as_array().unwrap().len(), 2);
    call(&s, "DeleteOpsItem", json!({"OpsItemId": id})).unwrap();
    assert_eq!(
        code(call(&s, "GetOpsItem", json!({"OpsItemId": id}))),
        "OpsItemNotFoundException"
    );

    let m = call(
        &s,
        "CreateOpsMetadata",
        json!({"ResourceId": "/aws/ssm/app/appmanager", "Metadata": {"a": {"Value": "1"}}}),
    )
    .unwrap();
    let arn = m["OpsMetadataArn"].as_str().unwrap().to_string();
    assert_eq!(
        arn,
        "arn:aws:ssm:us-east-1:000000000000:opsmetadata/aws/ssm/app/appmanager"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateOpsMetadata",
            json!({"ResourceId": "/aws/ssm/app/appmanager"})
        )),
        "OpsMetadataAlreadyExistsException"
    );
    call(&s, "UpdateOpsMetadata", json!({"OpsMetadataArn": arn, "MetadataToUpdate": {"b": {"Value": "2"}}, "KeysToDelete": ["a"]})).unwrap();
    let g = call(&s, "GetOpsMetadata", json!({"OpsMetadataArn": arn})).unwrap();
    assert_eq!(g["Metadata"], json!({"b": {"Value": "2"}}));
    assert_eq!(
        call(&s, "ListOpsMetadata", json!({})).unwrap()["OpsMetadataList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    call(&s, "DeleteOpsMetadata", json!({"OpsMetadataArn": arn})).unwrap();
    assert_eq!(
        code(call(&s, "GetOpsMetadata", json!({"OpsMetadataArn": arn}))),
        "OpsMetadataNotFoundException"
    );
}

#[test]
fn patch_baselines_defaults_and_groups() {
    let s = Ssm::new();
    let d = call(
        &s,
        "GetDefaultPatchBaseline",
        json!({"OperatingSystem": "AMAZON_LINUX"}),
    )
    .unwrap();
    assert_eq!(
        d["BaselineId"],
        "arn:aws:ssm:us-east-1:075727635805:patchbaseline/pb-0c10e657807c7a700"
    );
    let b = call(
        &s,
        "CreatePatchBaseline",
        json!({"Name": "mine", "OperatingSystem": "AMAZON_LINUX",
        "ApprovedPatches": ["kernel"], "ClientToken": "t1"}),
    )
    .unwrap();
    let id = b["BaselineId"].as_str().unwrap().to_string();
    assert!(id.starts_with("pb-") && id.len() == 20, "{id}");
    let again = call(
        &s,
        "CreatePatchBaseline",
        json!({"Name": "mine", "OperatingSystem": "AMAZON_LINUX", "ClientToken": "t1"}),
    )
    .unwrap();
    assert_eq!(again["BaselineId"], json!(id));
    call(
        &s,
        "RegisterDefaultPatchBaseline",
        json!({"BaselineId": id}),
    )
    .unwrap();
    let d = call(
        &s,
        "GetDefaultPatchBaseline",
        json!({"OperatingSystem": "AMAZON_LINUX"}),
    )
    .unwrap();
    assert_eq!(d["BaselineId"], json!(id));
    call(
        &s,
        "RegisterPatchBaselineForPatchGroup",
        json!({"BaselineId": id, "PatchGroup": "web"}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "RegisterPatchBaselineForPatchGroup",
            json!({"BaselineId": id, "PatchGroup": "web"})
        )),
        "AlreadyExistsException"
    );
    let g = call(
        &s,
        "GetPatchBaselineForPatchGroup",
        json!({"PatchGroup": "web", "OperatingSystem": "AMAZON_LINUX"}),
    )
    .unwrap();
    assert_eq!(g["BaselineId"], json!(id));
    let got = call(&s, "GetPatchBaseline", json!({"BaselineId": id})).unwrap();
    assert_eq!(got["PatchGroups"], json!(["web"]));
    assert_eq!(got["ApprovedPatches"], json!(["kernel"]));
    let groups = call(&s, "DescribePatchGroups", json!({})).unwrap();
    assert_eq!(
        groups["Mappings"][0]["BaselineIdentity"]["DefaultBaseline"],
        true
    );
    assert_eq!(
        code(call(&s, "DeletePatchBaseline", json!({"BaselineId": id}))),
        "ResourceInUseException"
    );
    let u = call(
        &s,
        "UpdatePatchBaseline",
        json!({"BaselineId": id, "Description": "new"}),
    )
    .unwrap();
    assert_eq!(u["Description"], "new");
    let all = call(
        &s,
        "DescribePatchBaselines",
        json!({"Filters": [{"Key": "OWNER", "Values": ["Self"]}]}),
    )
    .unwrap();
    assert_eq!(all["BaselineIdentities"].as_array().unwrap().len(), 1);
    let aws = call(
        &s,
        "DescribePatchBaselines",
        json!({"Filters": [{"Key": "OWNER", "Values": ["AWS"]}]}),
    )
    .unwrap();
    assert_eq!(aws["BaselineIdentities"].as_array().unwrap().len(), 7);
    call(
        &s,
        "DeregisterPatchBaselineForPatchGroup",
        json!({"BaselineId": id, "PatchGroup": "web"}),
    )
    .unwrap();
    let st = call(&s, "DescribePatchGroupState", json!({"PatchGroup": "web"})).unwrap();
    assert_eq!(st["Instances"], 0);
    assert_eq!(
        code(call(
            &s,
            "GetPatchBaseline",
            json!({"BaselineId": "pb-0123456789abcdef0"})
        )),
        "DoesNotExistException"
    );
    assert_eq!(
        code(call(
            &s,
            "GetPatchBaseline",
            json!({"BaselineId": "pb-bad0000000000000x"})
        )),
        "InvalidResourceId"
    );
    assert_eq!(
        call(&s, "DescribeAvailablePatches", json!({})).unwrap(),
        json!({"Patches": []})
    );
}

#[test]
fn settings_policies_reviews_and_calendars() {
    let s = Ssm::new();
    let id = "/ssm/parameter-store/default-parameter-tier";
    let g = call(&s, "GetServiceSetting", json!({"SettingId": id})).unwrap();
    assert_eq!(g["ServiceSetting"]["SettingValue"], "Standard");
    assert_eq!(g["ServiceSetting"]["Status"], "Default");
    call(
        &s,
        "UpdateServiceSetting",
        json!({"SettingId": id, "SettingValue": "Advanced"}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "GetServiceSetting", json!({"SettingId": id})).unwrap()["ServiceSetting"]["Status"],
        "Customized"
    );
    assert_eq!(
        code(call(
            &s,
            "UpdateServiceSetting",
            json!({"SettingId": id, "SettingValue": "Gold"})
        )),
        "ValidationException"
    );
    let r = call(&s, "ResetServiceSetting", json!({"SettingId": id})).unwrap();
    assert_eq!(r["ServiceSetting"]["SettingValue"], "Standard");
    assert_eq!(
        code(call(
            &s,
            "GetServiceSetting",
            json!({"SettingId": "/ssm/nope"})
        )),
        "ServiceSettingNotFound"
    );

    let arn = "arn:aws:ssm:us-east-1:000000000000:opsitemgroup/default";
    let p = call(
        &s,
        "PutResourcePolicy",
        json!({"ResourceArn": arn, "Policy": "{\"Version\":\"2012-10-17\"}"}),
    )
    .unwrap();
    let (pid, hash) = (p["PolicyId"].clone(), p["PolicyHash"].clone());
    assert_eq!(
        code(call(
            &s,
            "PutResourcePolicy",
            json!({"ResourceArn": arn, "Policy": "{}", "PolicyId": pid, "PolicyHash": "stale"})
        )),
        "ResourcePolicyConflictException"
    );
    assert_eq!(
        code(call(
            &s,
            "PutResourcePolicy",
            json!({"ResourceArn": arn, "Policy": "no"})
        )),
        "MalformedResourcePolicyDocumentException"
    );
    let l = call(&s, "GetResourcePolicies", json!({"ResourceArn": arn})).unwrap();
    assert_eq!(l["Policies"][0]["PolicyHash"], hash);
    call(
        &s,
        "DeleteResourcePolicy",
        json!({"ResourceArn": arn, "PolicyId": pid, "PolicyHash": hash}),
    )
    .unwrap();
    assert_eq!(
        call(&s, "GetResourcePolicies", json!({"ResourceArn": arn})).unwrap()["Policies"],
        json!([])
    );

    call(
        &s,
        "CreateDocument",
        json!({"Name": "Doc1", "Content": "{\"schemaVersion\":\"2.2\",\"mainSteps\":[]}"}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "UpdateDocumentMetadata",
            json!({"Name": "Doc1", "DocumentReviews": {"Action": "Approve"}})
        )),
        "InvalidDocumentOperation"
    );
    call(
        &s,
        "UpdateDocumentMetadata",
        json!({"Name": "Doc1", "DocumentReviews": {"Action": "SendForReview",
        "Comment": [{"Type": "Comment", "Content": "please"}]}}),
    )
    .unwrap();
    call(
        &s,
        "UpdateDocumentMetadata",
        json!({"Name": "Doc1", "DocumentReviews": {"Action": "Approve"}}),
    )
    .unwrap();
    let h = call(
        &s,
        "ListDocumentMetadataHistory",
        json!({"Name": "Doc1", "Metadata": "DocumentReviews"}),
    )
    .unwrap();
    let resp = h["Metadata"]["ReviewerResponse"].as_array().unwrap();
    assert_eq!(resp.len(), 2);
    assert_eq!(resp[1]["ReviewStatus"], "APPROVED");
    assert_eq!(h["DocumentVersion"], "1");

    let ics = "BEGIN:VCALENDAR\nX-CALENDAR-TYPE:DEFAULT_OPEN\nBEGIN:VEVENT\nDTSTART:20300101T100000Z\nDTEND:20300101T120000Z\nEND:VEVENT\nEND:VCALENDAR\n";
    call(&s, "CreateDocument", json!({"Name": "Cal", "Content": ics, "DocumentType": "ChangeCalendar", "DocumentFormat": "TEXT"})).unwrap();
    let st = call(
        &s,
        "GetCalendarState",
        json!({"CalendarNames": ["Cal"], "AtTime": "2030-01-01T11:00:00Z"}),
    )
    .unwrap();
    assert_eq!(st["State"], "CLOSED");
    assert_eq!(st["NextTransitionTime"], "2030-01-01T12:00:00Z");
    let st = call(
        &s,
        "GetCalendarState",
        json!({"CalendarNames": ["Cal"], "AtTime": "2030-01-01T13:00:00Z"}),
    )
    .unwrap();
    assert_eq!(st["State"], "OPEN");
    assert_eq!(
        code(call(
            &s,
            "GetCalendarState",
            json!({"CalendarNames": ["Doc1"]})
        )),
        "InvalidDocumentType"
    );
    assert_eq!(
        code(call(
            &s,
            "GetCalendarState",
            json!({"CalendarNames": ["None"]})
        )),
        "InvalidDocument"
    );
}

#[test]
fn window_targets_tasks_and_schedules() {
    let s = Ssm::new();
    let w = call(
        &s,
        "CreateMaintenanceWindow",
        json!({"Name": "win", "Schedule": "cron(0 2 ? * SUN *)",
        "Duration": 2, "Cutoff": 1, "AllowUnassociatedTargets": false}),
    )
    .unwrap();
    let wid = w["WindowId"].as_str().unwrap().to_string();
    let t = call(
        &s,
        "RegisterTargetWithMaintenanceWindow",
        json!({"WindowId": wid, "ResourceType": "INSTANCE",
        "Targets": [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]}),
    )
    .unwrap();
    let tid = t["WindowTargetId"].as_str().unwrap().to_string();
    let u = call(
        &s,
        "UpdateMaintenanceWindowTarget",
        json!({"WindowId": wid, "WindowTargetId": tid, "Name": "web"}),
    )
    .unwrap();
    assert_eq!(u["Name"], "web");
    assert_eq!(u["Targets"][0]["Values"][0], "i-0123456789abcdef0");
    let f = call(
        &s,
        "DescribeMaintenanceWindowsForTarget",
        json!({"ResourceType": "INSTANCE",
        "Targets": [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]}),
    )
    .unwrap();
    assert_eq!(
        f["WindowIdentities"],
        json!([{"WindowId": wid, "Name": "win"}])
    );
    let k = call(
        &s,
        "RegisterTaskWithMaintenanceWindow",
        json!({"WindowId": wid, "TaskArn": "AWS-RunShellScript",
        "TaskType": "RUN_COMMAND", "Priority": 1, "MaxConcurrency": "1", "MaxErrors": "1",
        "Targets": [{"Key": "WindowTargetIds", "Values": [tid]}]}),
    )
    .unwrap();
    let kid = k["WindowTaskId"].as_str().unwrap().to_string();
    let u = call(
        &s,
        "UpdateMaintenanceWindowTask",
        json!({"WindowId": wid, "WindowTaskId": kid, "Priority": 5, "Name": "patch"}),
    )
    .unwrap();
    assert_eq!(
        (u["Priority"].clone(), u["Name"].clone()),
        (json!(5), json!("patch"))
    );
    let g = call(
        &s,
        "GetMaintenanceWindowTask",
        json!({"WindowId": wid, "WindowTaskId": kid}),
    )
    .unwrap();
    assert_eq!(g["TaskType"], "RUN_COMMAND");
    assert_eq!(g["MaxConcurrency"], "1");
    assert_eq!(
        code(call(
            &s,
            "GetMaintenanceWindowTask",
            json!({"WindowId": wid, "WindowTaskId": "00000000-0000-0000-0000-000000000000"})
        )),
        "DoesNotExistException"
    );
    let sch = call(
        &s,
        "DescribeMaintenanceWindowSchedule",
        json!({"WindowId": wid, "MaxResults": 3}),
    )
    .unwrap();
    let runs = sch["ScheduledWindowExecutions"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(
        runs[0]["ExecutionTime"]
            .as_str()
            .unwrap()
            .ends_with("T02:00Z")
    );
    assert!(sch["NextToken"].is_string());
    let more = call(
        &s,
        "DescribeMaintenanceWindowSchedule",
        json!({"WindowId": wid, "MaxResults": 3, "NextToken": sch["NextToken"]}),
    )
    .unwrap();
    assert_ne!(more["ScheduledWindowExecutions"][0], runs[0]);
}

#[test]
fn inventory_registers_instances_and_compliance_summarizes() {
    let s = Ssm::new();
    let now = "2026-12-06T00:00:00Z";
    call(&s, "PutInventory", json!({"InstanceId": "mi-0123456789abcdef0", "Items": [
        {"TypeName": "AWS:InstanceInformation", "SchemaVersion": "1.0", "CaptureTime": now,
         "Content": [{"ComputerName": "box", "PlatformType": "Linux", "IpAddress": "10.0.0.1", "InstanceId": "mi-0123456789abcdef0"}]},
        {"TypeName": "Custom:Rack", "SchemaVersion": "1.0", "CaptureTime": now, "Content": [{"Row": "7", "Slot": "3"}]}]})).unwrap();
    assert_eq!(
        code(call(
            &s,
            "PutInventory",
            json!({"InstanceId": "mi-0123456789abcdef0", "Items": [
            {"TypeName": "Bad:Type", "SchemaVersion": "1.0", "CaptureTime": now}]})
        )),
        "InvalidTypeNameException"
    );
    let info = call(&s, "DescribeInstanceInformation", json!({})).unwrap();
    assert_eq!(info["InstanceInformationList"][0]["ComputerName"], "box");
    assert_eq!(
        info["InstanceInformationList"][0]["ResourceType"],
        "ManagedInstance"
    );
    let inv = call(
        &s,
        "GetInventory",
        json!({"Filters": [{"Key": "Custom:Rack.Row", "Values": ["7"], "Type": "Equal"}]}),
    )
    .unwrap();
    assert_eq!(inv["Entities"][0]["Id"], "mi-0123456789abcdef0");
    let none = call(
        &s,
        "GetInventory",
        json!({"Filters": [{"Key": "Custom:Rack.Row", "Values": ["8"]}]}),
    )
    .unwrap();
    assert_eq!(none["Entities"], json!([]));
    let e = call(
        &s,
        "ListInventoryEntries",
        json!({"InstanceId": "mi-0123456789abcdef0", "TypeName": "Custom:Rack"}),
    )
    .unwrap();
    assert_eq!(e["Entries"], json!([{"Row": "7", "Slot": "3"}]));
    let sch = call(&s, "GetInventorySchema", json!({"TypeName": "Custom:"})).unwrap();
    assert_eq!(sch["Schemas"][0]["Attributes"].as_array().unwrap().len(), 2);
    assert_eq!(
        code(call(
            &s,
            "DeleteInventory",
            json!({"TypeName": "AWS:Application"})
        )),
        "InvalidTypeNameException"
    );
    let d = call(
        &s,
        "DeleteInventory",
        json!({"TypeName": "Custom:Rack", "SchemaDeleteOption": "DeleteSchema"}),
    )
    .unwrap();
    assert_eq!(d["DeletionSummary"]["TotalCount"], 1);
    let dl = call(
        &s,
        "DescribeInventoryDeletions",
        json!({"DeletionId": d["DeletionId"]}),
    )
    .unwrap();
    assert_eq!(dl["InventoryDeletions"][0]["LastStatus"], "Complete");
    let e = call(
        &s,
        "ListInventoryEntries",
        json!({"InstanceId": "mi-0123456789abcdef0", "TypeName": "Custom:Rack"}),
    )
    .unwrap();
    assert_eq!(e["Entries"], json!([]));
    call(
        &s,
        "UpdateManagedInstanceRole",
        json!({"InstanceId": "mi-0123456789abcdef0", "IamRole": "r2"}),
    )
    .unwrap();

    let summary = json!({"ExecutionTime": 1_700_000_000});
    call(
        &s,
        "PutComplianceItems",
        json!({"ResourceId": "mi-0123456789abcdef0", "ResourceType": "ManagedInstance",
        "ComplianceType": "Custom:Av", "ExecutionSummary": summary, "Items": [
            {"Id": "a", "Severity": "HIGH", "Status": "NON_COMPLIANT"},
            {"Id": "b", "Severity": "LOW", "Status": "COMPLIANT"}]}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "PutComplianceItems",
            json!({"ResourceId": "x", "ResourceType": "Bucket", "ComplianceType": "Custom:Av",
            "ExecutionSummary": summary, "Items": []})
        )),
        "InvalidResourceType"
    );
    let items = call(
        &s,
        "ListComplianceItems",
        json!({"Filters": [{"Key": "Status", "Values": ["NON_COMPLIANT"], "Type": "EQUAL"}]}),
    )
    .unwrap();
    assert_eq!(items["ComplianceItems"].as_array().unwrap().len(), 1);
    let r = call(&s, "ListResourceComplianceSummaries", json!({})).unwrap();
    let r0 = &r["ResourceComplianceSummaryItems"][0];
    assert_eq!(
        (r0["Status"].clone(), r0["OverallSeverity"].clone()),
        (json!("NON_COMPLIANT"), json!("HIGH"))
    );
    let c = call(&s, "ListComplianceSummaries", json!({})).unwrap();
    assert_eq!(
        c["ComplianceSummaryItems"][0]["NonCompliantSummary"]["NonCompliantCount"],
        1
    );
    assert_eq!(
        c["ComplianceSummaryItems"][0]["NonCompliantSummary"]["SeveritySummary"]["HighCount"],
        1
    );
    call(
        &s,
        "DeregisterManagedInstance",
        json!({"InstanceId": "mi-0123456789abcdef0"}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "DeregisterManagedInstance",
            json!({"InstanceId": "mi-0123456789abcdef0"})
        )),
        "InvalidInstanceId"
    );
}

#[test]
fn activations_and_resource_data_syncs() {
    let s = Ssm::new();
    let a = call(
        &s,
        "CreateActivation",
        json!({"IamRole": "SSMRole", "RegistrationLimit": 5, "DefaultInstanceName": "edge"}),
    )
    .unwrap();
    assert_eq!(a["ActivationCode"].as_str().unwrap().len(), 20);
    let l = call(
        &s,
        "DescribeActivations",
        json!({"Filters": [{"FilterKey": "DefaultInstanceName", "FilterValues": ["edge"]}]}),
    )
    .unwrap();
    let act = &l["ActivationList"][0];
    assert_eq!(
        (act["RegistrationLimit"].clone(), act["Expired"].clone()),
        (json!(5), json!(false))
    );
    assert!(
        act.get("ActivationCode").is_none(),
        "the code is only given once"
    );
    call(
        &s,
        "DeleteActivation",
        json!({"ActivationId": a["ActivationId"]}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "DeleteActivation",
            json!({"ActivationId": a["ActivationId"]})
        )),
        "InvalidActivationId"
    );

    let dest = json!({"BucketName": "b", "Region": "us-east-1", "SyncFormat": "JsonSerDe"});
    call(
        &s,
        "CreateResourceDataSync",
        json!({"SyncName": "s1", "S3Destination": dest}),
    )
    .unwrap();
    assert_eq!(
        code(call(
            &s,
            "CreateResourceDataSync",
            json!({"SyncName": "s1", "S3Destination": dest})
        )),
        "ResourceDataSyncAlreadyExistsException"
    );
    assert_eq!(
        code(call(
            &s,
            "CreateResourceDataSync",
            json!({"SyncName": "s2", "SyncType": "SyncFromSource"})
        )),
        "ResourceDataSyncInvalidConfigurationException"
    );
    let l = call(&s, "ListResourceDataSync", json!({})).unwrap();
    assert_eq!(l["ResourceDataSyncItems"][0]["SyncName"], "s1");
    call(&s, "DeleteResourceDataSync", json!({"SyncName": "s1"})).unwrap();
    assert_eq!(
        code(call(
            &s,
            "DeleteResourceDataSync",
            json!({"SyncName": "s1"})
        )),
        "ResourceDataSyncNotFoundException"
    );
}

#[test]
fn new_resources_take_tags() {
    let s = Ssm::new();
    let b = call(
        &s,
        "CreatePatchBaseline",
        json!({"Name": "tagged", "Tags": [{"Key": "a", "Value": "1"}]}),
    )
    .unwrap();
    let id = b["BaselineId"].clone();
    let list = |t: &str, id: &Value| {
        call(
            &s,
            "ListTagsForResource",
            json!({"ResourceType": t, "ResourceId": id}),
        )
        .unwrap()["TagList"]
            .clone()
    };
    assert_eq!(
        list("PatchBaseline", &id),
        json!([{"Key": "a", "Value": "1"}])
    );
    call(&s, "AddTagsToResource", json!({"ResourceType": "PatchBaseline", "ResourceId": id, "Tags": [{"Key": "b", "Value": "2"}]})).unwrap();
    call(
        &s,
        "RemoveTagsFromResource",
        json!({"ResourceType": "PatchBaseline", "ResourceId": id, "TagKeys": ["a"]}),
    )
    .unwrap();
    assert_eq!(
        list("PatchBaseline", &id),
        json!([{"Key": "b", "Value": "2"}])
    );
    let m = call(
        &s,
        "CreateOpsMetadata",
        json!({"ResourceId": "/app/x", "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .unwrap();
    assert_eq!(
        list("OpsMetadata", &m["OpsMetadataArn"]),
        json!([{"Key": "k", "Value": "v"}])
    );
    let o = call(
        &s,
        "CreateOpsItem",
        json!({"Title": "t", "Source": "s", "Description": "d"}),
    )
    .unwrap();
    assert_eq!(list("OpsItem", &o["OpsItemId"]), json!([]));
    assert_eq!(
        code(call(
            &s,
            "ListTagsForResource",
            json!({"ResourceType": "Association", "ResourceId": "00000000-0000-0000-0000-000000000000"})
        )),
        "InvalidResourceId"
    );
}

#[test]
fn the_default_parameter_tier_setting_applies_to_new_parameters() {
    let s = Ssm::new();
    let put = |name: &str| {
        call(
            &s,
            "PutParameter",
            json!({"Name": name, "Value": "v", "Type": "String"}),
        )
        .unwrap()["Tier"]
            .clone()
    };
    assert_eq!(put("/a"), "Standard");
    call(&s, "UpdateServiceSetting", json!({"SettingId": "/ssm/parameter-store/default-parameter-tier", "SettingValue": "Advanced"})).unwrap();
    assert_eq!(put("/b"), "Advanced");
    call(&s, "UpdateServiceSetting", json!({"SettingId": "/ssm/parameter-store/default-parameter-tier", "SettingValue": "Intelligent-Tiering"})).unwrap();
    assert_eq!(put("/c"), "Standard");
    // An advanced parameter stays advanced.
    let r = call(
        &s,
        "PutParameter",
        json!({"Name": "/b", "Value": "w", "Type": "String", "Overwrite": true}),
    )
    .unwrap();
    assert_eq!(r["Tier"], "Advanced");
}

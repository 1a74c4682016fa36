//! Backups, point-in-time recovery and the settings operations; their state survives a restart
//! (every record through postcard into a new store).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{DdbResult, DynamoDb, Rec, RequestContext};

fn ctx() -> RequestContext {
    RequestContext::from_scope(None)
}

fn call(d: &DynamoDb, op: &str, body: Value) -> DdbResult<Value> {
    let h = d.handle(&ctx(), op, body.to_string().as_bytes())?;
    Ok(crate::as_sent(op, &h))
}

fn setup() -> DynamoDb {
    let d = DynamoDb::with_clock(Arc::new(|| 1_700_000_000_000));
    call(&d, "CreateTable", json!({"TableName": "src",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST"})).unwrap();
    for i in 0..5 {
        call(&d, "PutItem", json!({"TableName": "src", "Item": {"pk": {"S": format!("k{i}")}, "g": {"S": "x"}, "n": {"N": i.to_string()}}})).unwrap();
    }
    d
}

/// The same state in a new service, every record encoded and decoded as a save and a load do.
fn restarted(d: &DynamoDb) -> DynamoDb {
    let snap = d.store.snapshot();
    let mut map = snapstack_engine::store::Map::new();
    for (k, r) in snap.iter() {
        let bytes = postcard::to_allocvec(r).unwrap();
        let back: Rec = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&back, r);
        map.insert(k.clone(), Arc::new(back));
    }
    let n = DynamoDb::with_clock(Arc::new(|| 1_700_000_100_000));
    n.store.replace(map);
    n
}

fn count(d: &DynamoDb, table: &str) -> usize {
    call(d, "Scan", json!({"TableName": table})).unwrap()["Count"]
        .as_u64()
        .unwrap() as usize
}

#[test]
fn backup_and_restore() {
    let d = setup();
    let b = call(
        &d,
        "CreateBackup",
        json!({"TableName": "src", "BackupName": "bk1"}),
    )
    .unwrap();
    let arn = b["BackupDetails"]["BackupArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b["BackupDetails"]["BackupStatus"], "AVAILABLE");
    let suffix = arn.rsplit_once("/backup/").unwrap().1;
    assert!(
        arn.starts_with("arn:aws:dynamodb:us-east-1:000000000000:table/src/backup/"),
        "{arn}"
    );
    assert_eq!(suffix.len(), 13 + 1 + 8);
    assert!(
        suffix[..13].chars().all(|c| c.is_ascii_digit())
            && suffix[14..].chars().all(|c| c.is_ascii_hexdigit())
    );
    // Later writes are not in the backup.
    call(
        &d,
        "DeleteItem",
        json!({"TableName": "src", "Key": {"pk": {"S": "k0"}}}),
    )
    .unwrap();
    let e = call(
        &d,
        "CreateBackup",
        json!({"TableName": "nope", "BackupName": "bk1"}),
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("TableNotFoundException", "Table not found: nope")
    );
    let desc = call(&d, "DescribeBackup", json!({"BackupArn": arn})).unwrap();
    assert_eq!(
        desc["BackupDescription"]["SourceTableDetails"]["ItemCount"],
        5
    );
    assert_eq!(
        desc["BackupDescription"]["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"][0]["IndexName"],
        "byg"
    );
    let l = call(&d, "ListBackups", json!({"TableName": "src"})).unwrap();
    assert_eq!(l["BackupSummaries"][0]["BackupArn"], arn.as_str());
    assert!(
        call(&d, "ListBackups", json!({"TableName": "other"})).unwrap()["BackupSummaries"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let d = restarted(&d);
    let r = call(
        &d,
        "RestoreTableFromBackup",
        json!({"TargetTableName": "copy", "BackupArn": arn}),
    )
    .unwrap();
    assert_eq!(
        r["TableDescription"]["RestoreSummary"]["SourceBackupArn"],
        arn.as_str()
    );
    assert_eq!(r["TableDescription"]["ItemCount"], 5);
    assert_eq!(count(&d, "copy"), 5);
    let q = call(
        &d,
        "Query",
        json!({"TableName": "copy", "IndexName": "byg", "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "x"}}}),
    )
    .unwrap();
    assert_eq!(q["Count"], 5);
    let e = call(
        &d,
        "RestoreTableFromBackup",
        json!({"TargetTableName": "copy", "BackupArn": arn}),
    )
    .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("TableAlreadyExistsException", "Table already exists: copy")
    );
    let d = restarted(&d);
    assert_eq!(count(&d, "copy"), 5);
    let del = call(&d, "DeleteBackup", json!({"BackupArn": arn})).unwrap();
    assert_eq!(
        del["BackupDescription"]["BackupDetails"]["BackupStatus"],
        "DELETED"
    );
    let e = call(&d, "DescribeBackup", json!({"BackupArn": arn})).unwrap_err();
    assert_eq!(e.code, "BackupNotFoundException");
    assert_eq!(e.message, format!("Backup not found: {arn}"));
    let e = call(
        &d,
        "RestoreTableFromBackup",
        json!({"TargetTableName": "cp2", "BackupArn": arn}),
    )
    .unwrap_err();
    assert_eq!(e.code, "BackupNotFoundException");
    // No backup item is left.
    assert!(
        !d.store
            .snapshot()
            .iter()
            .any(|(k, _)| format!("{k:?}").contains("\"b\""))
    );
}

#[test]
fn point_in_time_recovery() {
    let d = setup();
    let r = call(&d, "DescribeContinuousBackups", json!({"TableName": "src"})).unwrap();
    assert_eq!(
        r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "DISABLED"
    );
    let e = call(&d, "RestoreTableToPointInTime", json!({"SourceTableName": "src", "TargetTableName": "pit", "UseLatestRestorableTime": true})).unwrap_err();
    assert_eq!(e.code, "PointInTimeRecoveryUnavailableException");
    let e = call(&d, "UpdateContinuousBackups", json!({"TableName": "nope", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}})).unwrap_err();
    assert_eq!(e.code, "TableNotFoundException");
    let r = call(&d, "UpdateContinuousBackups", json!({"TableName": "src", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}})).unwrap();
    let pd = &r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
    assert_eq!(pd["PointInTimeRecoveryStatus"], "ENABLED");
    assert_eq!(pd["EarliestRestorableDateTime"], 1_700_000_000.0);
    let d = restarted(&d);
    let r = call(&d, "DescribeContinuousBackups", json!({"TableName": "src"})).unwrap();
    assert_eq!(
        r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "ENABLED"
    );
    let e = call(
        &d,
        "RestoreTableToPointInTime",
        json!({"SourceTableName": "src", "TargetTableName": "pit", "RestoreDateTime": 1.0}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidRestoreTimeException");
    let e = call(&d, "RestoreTableToPointInTime", json!({"SourceTableName": "gone", "TargetTableName": "pit", "UseLatestRestorableTime": true})).unwrap_err();
    assert_eq!(e.code, "SourceTableNotFoundException");
    call(&d, "RestoreTableToPointInTime", json!({"SourceTableName": "src", "TargetTableName": "pit", "UseLatestRestorableTime": true})).unwrap();
    assert_eq!(count(&d, "pit"), 5);
    call(&d, "UpdateContinuousBackups", json!({"TableName": "src", "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": false}})).unwrap();
    let r = call(&d, "DescribeContinuousBackups", json!({"TableName": "src"})).unwrap();
    assert_eq!(
        r["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
        "DISABLED"
    );
}

#[test]
fn settings_are_stored() {
    let d = setup();
    assert_eq!(
        call(&d, "DescribeLimits", json!({})).unwrap()["TableMaxReadCapacityUnits"],
        40000
    );
    assert_eq!(
        call(&d, "DescribeEndpoints", json!({})).unwrap()["Endpoints"][0]["Address"],
        "dynamodb.us-east-1.amazonaws.com"
    );
    // Contributor insights.
    let r = call(
        &d,
        "DescribeContributorInsights",
        json!({"TableName": "src"}),
    )
    .unwrap();
    assert_eq!(r["ContributorInsightsStatus"], "DISABLED");
    let r = call(
        &d,
        "UpdateContributorInsights",
        json!({"TableName": "src", "IndexName": "byg", "ContributorInsightsAction": "ENABLE"}),
    )
    .unwrap();
    assert_eq!(r["ContributorInsightsStatus"], "ENABLED");
    let e = call(
        &d,
        "UpdateContributorInsights",
        json!({"TableName": "src", "IndexName": "nope", "ContributorInsightsAction": "ENABLE"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    // Kinesis.
    let stream = "arn:aws:kinesis:us-east-1:000000000000:stream/s1";
    let r = call(
        &d,
        "EnableKinesisStreamingDestination",
        json!({"TableName": "src", "StreamArn": stream}),
    )
    .unwrap();
    assert_eq!(r["DestinationStatus"], "ACTIVE");
    let e = call(
        &d,
        "EnableKinesisStreamingDestination",
        json!({"TableName": "src", "StreamArn": stream}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    call(&d, "UpdateKinesisStreamingDestination", json!({"TableName": "src", "StreamArn": stream,
        "UpdateKinesisStreamingConfiguration": {"ApproximateCreationDateTimePrecision": "MILLISECOND"}})).unwrap();
    // Resource policy.
    let arn = crate::table::table_arn(&ctx(), "src");
    let e = call(&d, "GetResourcePolicy", json!({"ResourceArn": arn})).unwrap_err();
    assert_eq!(e.code, "PolicyNotFoundException");
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let rev = call(
        &d,
        "PutResourcePolicy",
        json!({"ResourceArn": arn, "Policy": policy}),
    )
    .unwrap()["RevisionId"]
        .clone();
    let e = call(
        &d,
        "PutResourcePolicy",
        json!({"ResourceArn": arn, "Policy": policy, "ExpectedRevisionId": "1"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "PolicyNotFoundException");
    // Global tables.
    let g = call(
        &d,
        "CreateGlobalTable",
        json!({"GlobalTableName": "src", "ReplicationGroup": [{"RegionName": "us-east-1"}]}),
    )
    .unwrap();
    assert_eq!(g["GlobalTableDescription"]["GlobalTableStatus"], "ACTIVE");
    let e = call(
        &d,
        "CreateGlobalTable",
        json!({"GlobalTableName": "src", "ReplicationGroup": [{"RegionName": "us-east-1"}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "GlobalTableAlreadyExistsException");
    let e = call(
        &d,
        "CreateGlobalTable",
        json!({"GlobalTableName": "src2", "ReplicationGroup": [{"RegionName": "us-east-1"}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "TableNotFoundException");
    let e = call(&d, "UpdateGlobalTable", json!({"GlobalTableName": "src", "ReplicaUpdates": [{"Create": {"RegionName": "us-east-1"}}]})).unwrap_err();
    assert_eq!(e.code, "ReplicaAlreadyExistsException");

    let d = restarted(&d);
    let r = call(
        &d,
        "DescribeContributorInsights",
        json!({"TableName": "src", "IndexName": "byg"}),
    )
    .unwrap();
    assert_eq!(r["ContributorInsightsStatus"], "ENABLED");
    let l = call(&d, "ListContributorInsights", json!({})).unwrap();
    assert_eq!(
        l["ContributorInsightsSummaries"].as_array().unwrap().len(),
        2
    );
    let r = call(
        &d,
        "DescribeKinesisStreamingDestination",
        json!({"TableName": "src"}),
    )
    .unwrap();
    assert_eq!(
        r["KinesisDataStreamDestinations"][0]["ApproximateCreationDateTimePrecision"],
        "MILLISECOND"
    );
    call(
        &d,
        "DisableKinesisStreamingDestination",
        json!({"TableName": "src", "StreamArn": stream}),
    )
    .unwrap();
    let r = call(
        &d,
        "DescribeKinesisStreamingDestination",
        json!({"TableName": "src"}),
    )
    .unwrap();
    assert_eq!(
        r["KinesisDataStreamDestinations"][0]["DestinationStatus"],
        "DISABLED"
    );
    let p = call(&d, "GetResourcePolicy", json!({"ResourceArn": arn})).unwrap();
    assert_eq!(
        (p["Policy"].as_str(), &p["RevisionId"]),
        (Some(policy), &rev)
    );
    call(
        &d,
        "DeleteResourcePolicy",
        json!({"ResourceArn": arn, "ExpectedRevisionId": rev}),
    )
    .unwrap();
    assert_eq!(
        call(&d, "GetResourcePolicy", json!({"ResourceArn": arn}))
            .unwrap_err()
            .code,
        "PolicyNotFoundException"
    );
    let l = call(&d, "ListGlobalTables", json!({})).unwrap();
    assert_eq!(l["GlobalTables"][0]["GlobalTableName"], "src");
    let s = call(
        &d,
        "DescribeGlobalTableSettings",
        json!({"GlobalTableName": "src"}),
    )
    .unwrap();
    assert_eq!(
        s["ReplicaSettings"][0]["ReplicaBillingModeSummary"]["BillingMode"],
        "PAY_PER_REQUEST"
    );
    let s = call(&d, "UpdateGlobalTableSettings", json!({"GlobalTableName": "src", "GlobalTableBillingMode": "PROVISIONED",
        "GlobalTableProvisionedWriteCapacityUnits": 5, "ReplicaSettingsUpdate": [{"RegionName": "us-east-1", "ReplicaProvisionedReadCapacityUnits": 7}]})).unwrap();
    assert_eq!(
        s["ReplicaSettings"][0]["ReplicaProvisionedReadCapacityUnits"],
        7
    );
    let t = call(&d, "DescribeTable", json!({"TableName": "src"})).unwrap();
    assert_eq!(t["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"], 5);
    call(&d, "UpdateGlobalTable", json!({"GlobalTableName": "src", "ReplicaUpdates": [{"Delete": {"RegionName": "us-east-1"}}]})).unwrap();
    assert_eq!(
        call(
            &d,
            "DescribeGlobalTable",
            json!({"GlobalTableName": "nope"})
        )
        .unwrap_err()
        .code,
        "GlobalTableNotFoundException"
    );
    let r = call(
        &d,
        "DescribeTableReplicaAutoScaling",
        json!({"TableName": "src"}),
    )
    .unwrap();
    // The table's own region is its replica, auto scaling off until set.
    let replicas = &r["TableAutoScalingDescription"]["Replicas"];
    assert_eq!(replicas[0]["RegionName"], "us-east-1", "{r}");
    assert_eq!(
        replicas[0]["ReplicaProvisionedReadCapacityAutoScalingSettings"]["AutoScalingDisabled"],
        true
    );
    let u = call(
        &d,
        "UpdateTableReplicaAutoScaling",
        json!({"TableName": "src",
               "ProvisionedWriteCapacityAutoScalingUpdate": {"MinimumUnits": 5, "MaximumUnits": 100,
                   "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0}}},
               "ReplicaUpdates": [{"RegionName": replicas[0]["RegionName"],
                   "ReplicaProvisionedReadCapacityAutoScalingUpdate": {"MinimumUnits": 1, "MaximumUnits": 10}}]}),
    )
    .unwrap();
    let r = call(
        &d,
        "DescribeTableReplicaAutoScaling",
        json!({"TableName": "src"}),
    )
    .unwrap();
    assert_eq!(u, r);
    let rep = &r["TableAutoScalingDescription"]["Replicas"][0];
    assert_eq!(
        rep["ReplicaProvisionedWriteCapacityAutoScalingSettings"]["MaximumUnits"],
        100
    );
    assert_eq!(
        rep["ReplicaProvisionedReadCapacityAutoScalingSettings"]["MinimumUnits"],
        1
    );
    let e = call(
        &d,
        "UpdateTableReplicaAutoScaling",
        json!({"TableName": "src", "ReplicaUpdates": [{"RegionName": "mars-1"}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    let e = call(
        &d,
        "UpdateTableReplicaAutoScaling",
        json!({"TableName": "nope",
        "ProvisionedWriteCapacityAutoScalingUpdate": {"AutoScalingDisabled": true}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    // Deleting the table drops its extras.
    call(&d, "DeleteTable", json!({"TableName": "src"})).unwrap();
    assert!(
        !d.store
            .snapshot()
            .iter()
            .any(|(_, r)| matches!(r, Rec::Extras(_)))
    );
}

/// DescribeTable's shape as DynamoDB's: no billing mode summary for a provisioned table, no
/// table class summary for the default class, warm throughput always.
#[test]
fn describe_table_has_dynamodbs_shape() {
    let d = DynamoDb::with_clock(Arc::new(|| 1_700_000_000_000));
    call(
        &d,
        "CreateTable",
        json!({"TableName": "prov",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}),
    )
    .unwrap();
    let t = &call(&d, "DescribeTable", json!({"TableName": "prov"})).unwrap()["Table"];
    assert!(t.get("BillingModeSummary").is_none(), "{t}");
    assert!(t.get("TableClassSummary").is_none(), "{t}");
    assert_eq!(
        t["WarmThroughput"],
        json!({"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"})
    );
    let d = setup();
    let t = &call(&d, "DescribeTable", json!({"TableName": "src"})).unwrap()["Table"];
    assert_eq!(t["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["Status"],
        "ACTIVE"
    );
}

/// A table's ARN names it in transactions as its name does.
#[test]
fn a_table_arn_works_in_transactions() {
    let d = setup();
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/src";
    call(
        &d,
        "TransactWriteItems",
        json!({"TransactItems": [
        {"Put": {"TableName": arn, "Item": {"pk": {"S": "a"}, "g": {"S": "x"}}}}]}),
    )
    .unwrap();
    let got = call(
        &d,
        "TransactGetItems",
        json!({"TransactItems": [
        {"Get": {"TableName": arn, "Key": {"pk": {"S": "a"}}}}]}),
    )
    .unwrap();
    assert_eq!(got["Responses"][0]["Item"]["g"]["S"], "x");
}

/// A table encrypted with a KMS key is described so; the AWS owned key has no description.
#[test]
fn encryption_settings_are_described() {
    let d = DynamoDb::with_clock(Arc::new(|| 1_700_000_000_000));
    let r = call(
        &d,
        "CreateTable",
        json!({"TableName": "enc",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": true, "SSEType": "KMS", "KMSMasterKeyId": "alias/mine"}}),
    )
    .unwrap();
    assert_eq!(r["TableDescription"]["SSEDescription"]["Status"], "ENABLED");
    let t = &call(&d, "DescribeTable", json!({"TableName": "enc"})).unwrap()["Table"];
    assert!(
        t["SSEDescription"]["KMSMasterKeyArn"]
            .as_str()
            .unwrap()
            .ends_with(":alias/mine")
    );
    // Back to the AWS owned key: no description.
    call(
        &d,
        "UpdateTable",
        json!({"TableName": "enc", "SSESpecification": {"Enabled": false}}),
    )
    .unwrap();
    let t = &call(&d, "DescribeTable", json!({"TableName": "enc"})).unwrap()["Table"];
    assert!(t.get("SSEDescription").is_none(), "{t}");
    let e = call(
        &d,
        "UpdateTable",
        json!({"TableName": "nope", "SSESpecification": {"Enabled": true}}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

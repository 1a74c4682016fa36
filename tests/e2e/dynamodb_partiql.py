#!/usr/bin/env python3
"""Drive a running snapstack's DynamoDB with boto3: PartiQL, backups and the settings operations.

Usage: dynamodb_partiql.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  partiql             ExecuteStatement, BatchExecuteStatement, ExecuteTransaction and their errors
  prepare             table `orders` by PartiQL, a backup of it, PITR, a Kinesis destination and a
                      resource policy; then a write after the backup
  restored            (after a restart) the backup and the settings are there; restores give the
                      backed-up and the current items
"""

import json
import sys

import boto3
from botocore.config import Config

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)


def ddb():
    return boto3.client(
        "dynamodb",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="secret",
        region_name="us-east-1",
        config=CFG,
    )


def S(s):
    return {"S": s}


def N(n):
    return {"N": str(n)}


def msg(e):
    return e.response["Error"]["Message"]


def create(c, name):
    c.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


def run(c, stmt, *params, **kw):
    if params:
        kw["Parameters"] = list(params)
    return c.execute_statement(Statement=stmt, **kw)


def cmd_partiql():
    c = ddb()
    create(c, "pqt")
    run(c, "INSERT INTO \"pqt\" VALUE {'pk': 'a', 'sk': 1, 'n': 5, 'tags': <<'x', 'y'>>, 'm': {'k': [1, 'two']}}")
    run(c, "INSERT INTO pqt VALUE {'pk': ?, 'sk': ?, 'n': ?}", S("a"), N(2), N(7))
    run(c, "INSERT INTO pqt VALUE {'pk': 'b', 'sk': 1, 'n': 9}")
    e = expect_error("DuplicateItemException", run, c, "INSERT INTO pqt VALUE {'pk': 'a', 'sk': 1}")
    check(msg(e) == "Duplicate primary key exists in table", msg(e))
    r = run(c, "SELECT * FROM pqt WHERE pk = ? AND sk = ?", S("a"), N(1))
    check(r["Items"][0]["tags"] == {"SS": ["x", "y"]}, r)
    check(r["Items"][0]["m"]["M"]["k"]["L"][1] == S("two"), r)
    r = run(c, "SELECT sk, n FROM pqt WHERE pk = 'a' AND n > 5")
    check(r["Items"] == [{"sk": N(2), "n": N(7)}], r)
    r = run(c, "SELECT pk FROM pqt WHERE n BETWEEN 6 AND 10")
    check(sorted(i["pk"]["S"] for i in r["Items"]) == ["a", "b"], r)
    r = run(c, "SELECT sk FROM pqt WHERE pk = 'a' ORDER BY sk DESC")
    check([i["sk"]["N"] for i in r["Items"]] == ["2", "1"], r)
    # Pages.
    seen, token = [], None
    while True:
        kw = {"Limit": 1}
        if token:
            kw["NextToken"] = token
        r = run(c, "SELECT pk, sk FROM pqt", **kw)
        seen += r["Items"]
        token = r.get("NextToken")
        if not token:
            break
    check(len(seen) == 3, seen)
    # UPDATE and DELETE.
    r = run(c, "UPDATE pqt SET n = n + 1 REMOVE m WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")
    check(r["Items"][0]["n"] == N(6) and "m" not in r["Items"][0], r)
    expect_error("ConditionalCheckFailedException", run, c, "UPDATE pqt SET n = 0 WHERE pk = 'a' AND sk = 1 AND n = 100")
    expect_error("ConditionalCheckFailedException", run, c, "UPDATE pqt SET n = 0 WHERE pk = 'zz' AND sk = 1")
    e = expect_error("ValidationException", run, c, "UPDATE pqt SET n = 0 WHERE pk = 'a'")
    check(msg(e) == "Where clause does not contain a mandatory equality on all key attributes", msg(e))
    run(c, "DELETE FROM pqt WHERE pk = 'b' AND sk = 1")
    run(c, "DELETE FROM pqt WHERE pk = 'b' AND sk = 1")
    e = expect_error("ValidationException", run, c, "SELEC * FROM pqt")
    check(msg(e).startswith("Statement wasn't well formed"), msg(e))
    expect_error("ResourceNotFoundException", run, c, "SELECT * FROM nope")
    # A batch: each statement answers on its own.
    r = c.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'c', 'sk': 1}"},
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'a', 'sk': 1}"},
        {"Statement": "SELECT n FROM pqt WHERE pk = ? AND sk = ?", "Parameters": [S("a"), N(2)]},
    ])["Responses"]
    check("Error" not in r[0], r)
    check(r[1]["Error"]["Code"] == "DuplicateItem", r)
    check(r[2]["Item"] == {"n": N(7)}, r)
    # A transaction: all or nothing.
    e = expect_error("TransactionCanceledException", c.execute_transaction, TransactStatements=[
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'd', 'sk': 1}"},
        {"Statement": "UPDATE pqt SET n = 1 WHERE pk = 'a' AND sk = 2 AND n = 0"},
    ])
    codes = [r["Code"] for r in e.response["CancellationReasons"]]
    check(codes == ["None", "ConditionalCheckFailed"], e.response)
    check(run(c, "SELECT * FROM pqt WHERE pk = 'd'")["Items"] == [], "the transaction left a write")
    c.execute_transaction(TransactStatements=[
        {"Statement": "INSERT INTO pqt VALUE {'pk': 'd', 'sk': 1}"},
        {"Statement": "UPDATE pqt SET n = 1 WHERE pk = 'a' AND sk = 2"},
    ])
    r = c.execute_transaction(TransactStatements=[{"Statement": "SELECT n FROM pqt WHERE pk = 'a' AND sk = 2"}])
    check(r["Responses"] == [{"Item": {"n": N(1)}}], r)


def cmd_prepare():
    c = ddb()
    create(c, "orders")
    c.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO orders VALUE {'pk': ?, 'sk': ?, 'total': ?}", "Parameters": [S(f"o{i}"), N(i), N(i * 10)]}
        for i in range(10)
    ])
    b = c.create_backup(TableName="orders", BackupName="nightly")["BackupDetails"]
    check(b["BackupStatus"] == "AVAILABLE", b)
    check("/backup/" in b["BackupArn"], b)
    e = expect_error("TableNotFoundException", c.create_backup, TableName="nope", BackupName="nightly")
    check(msg(e) == "Table not found: nope", msg(e))
    # A write after the backup: the backup does not see it.
    run(c, "DELETE FROM orders WHERE pk = 'o0' AND sk = 0")
    c.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    c.enable_kinesis_streaming_destination(TableName="orders", StreamArn="arn:aws:kinesis:us-east-1:000000000000:stream/orders")
    arn = c.describe_table(TableName="orders")["Table"]["TableArn"]
    c.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    c.update_contributor_insights(TableName="orders", ContributorInsightsAction="ENABLE")
    # Replica auto scaling: provisioned tables only, settings checked, stored.
    e = expect_error("ValidationException", c.update_table_replica_auto_scaling, TableName="orders",
                     ProvisionedWriteCapacityAutoScalingUpdate={"MinimumUnits": 1, "MaximumUnits": 5})
    c.create_table(
        TableName="scaled",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"},
                                 "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/scaled"},
    )
    d = c.describe_table(TableName="scaled")["Table"]
    check("BillingModeSummary" not in d and "TableClassSummary" not in d, d)
    check(d["WarmThroughput"]["Status"] == "ACTIVE", d)
    policy = {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0, "ScaleInCooldown": 60}}
    expect_error("ValidationException", c.update_table_replica_auto_scaling, TableName="scaled",
                 ProvisionedWriteCapacityAutoScalingUpdate={"MinimumUnits": 10, "MaximumUnits": 5})
    expect_error("ValidationException", c.update_table_replica_auto_scaling, TableName="scaled",
                 ProvisionedWriteCapacityAutoScalingUpdate={
                     "MinimumUnits": 1, "MaximumUnits": 5,
                     "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 99.0}}})
    expect_error("ResourceNotFoundException", c.update_table_replica_auto_scaling, TableName="scaled",
                 GlobalSecondaryIndexUpdates=[{"IndexName": "nope", "ProvisionedWriteCapacityAutoScalingUpdate": {
                     "MinimumUnits": 1, "MaximumUnits": 5}}])
    u = c.update_table_replica_auto_scaling(
        TableName="scaled",
        ProvisionedWriteCapacityAutoScalingUpdate={"MinimumUnits": 5, "MaximumUnits": 50, "ScalingPolicyUpdate": policy},
        GlobalSecondaryIndexUpdates=[{"IndexName": "byg", "ProvisionedWriteCapacityAutoScalingUpdate": {
            "MinimumUnits": 2, "MaximumUnits": 20}}],
        ReplicaUpdates=[{"RegionName": "us-east-1",
                         "ReplicaProvisionedReadCapacityAutoScalingUpdate": {"MinimumUnits": 3, "MaximumUnits": 30}}],
    )["TableAutoScalingDescription"]
    check(u["TableName"] == "scaled" and u["Replicas"][0]["RegionName"] == "us-east-1", u)


def check_scaling(c):
    sse = c.describe_table(TableName="scaled")["Table"]["SSEDescription"]
    check(sse["Status"] == "ENABLED" and sse["KMSMasterKeyArn"].endswith(":alias/scaled"), sse)
    check("SSEDescription" not in c.describe_table(TableName="orders")["Table"], "AWS owned key")
    r = c.describe_table_replica_auto_scaling(TableName="scaled")["TableAutoScalingDescription"]
    rep = r["Replicas"][0]
    w = rep["ReplicaProvisionedWriteCapacityAutoScalingSettings"]
    check(w["MinimumUnits"] == 5 and w["MaximumUnits"] == 50 and not w["AutoScalingDisabled"], w)
    check(w["ScalingPolicies"][0]["PolicyName"] == "DynamoDBWriteCapacityUtilization:table/scaled", w)
    check(w["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0, w)
    rd = rep["ReplicaProvisionedReadCapacityAutoScalingSettings"]
    check(rd["MinimumUnits"] == 3 and rd["MaximumUnits"] == 30, rd)
    g = rep["GlobalSecondaryIndexes"][0]
    check(g["IndexName"] == "byg" and g["ProvisionedWriteCapacityAutoScalingSettings"]["MaximumUnits"] == 20, g)
    check(g["ProvisionedReadCapacityAutoScalingSettings"]["AutoScalingDisabled"], g)


def cmd_restored():
    c = ddb()
    backups = c.list_backups(TableName="orders")["BackupSummaries"]
    check(len(backups) == 1 and backups[0]["BackupName"] == "nightly", backups)
    arn = backups[0]["BackupArn"]
    d = c.describe_backup(BackupArn=arn)["BackupDescription"]
    check(d["SourceTableDetails"]["ItemCount"] == 10, d)
    c.restore_table_from_backup(TargetTableName="orders_bak", BackupArn=arn)
    items = run(c, "SELECT pk FROM orders_bak")["Items"]
    check(len(items) == 10, items)
    e = expect_error("TableAlreadyExistsException", c.restore_table_from_backup, TargetTableName="orders_bak", BackupArn=arn)
    check(msg(e) == "Table already exists: orders_bak", msg(e))
    pitr = c.describe_continuous_backups(TableName="orders")["ContinuousBackupsDescription"]
    check(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", pitr)
    c.restore_table_to_point_in_time(SourceTableName="orders", TargetTableName="orders_pit", UseLatestRestorableTime=True)
    check(len(run(c, "SELECT pk FROM orders_pit")["Items"]) == 9, "the point-in-time restore is the current state")
    k = c.describe_kinesis_streaming_destination(TableName="orders")["KinesisDataStreamDestinations"]
    check(k[0]["DestinationStatus"] == "ACTIVE", k)
    tarn = c.describe_table(TableName="orders")["Table"]["TableArn"]
    check(json.loads(c.get_resource_policy(ResourceArn=tarn)["Policy"])["Version"] == "2012-10-17", "policy")
    ci = c.describe_contributor_insights(TableName="orders")
    check(ci["ContributorInsightsStatus"] == "ENABLED", ci)
    c.delete_backup(BackupArn=arn)
    expect_error("BackupNotFoundException", c.describe_backup, BackupArn=arn)
    check_scaling(c)


COMMANDS = {
    "partiql": (cmd_partiql, 0),
    "prepare": (cmd_prepare, 0),
    "restored": (cmd_restored, 0),
}

if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

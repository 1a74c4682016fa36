#!/usr/bin/env python3
"""Drive a running snapstack's DynamoDB with boto3, as a user's program would.

Usage: dynamodb_client.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  tables              table management: create/describe/list/update/delete, tags, TTL, errors
"""

import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, expect_error

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


def msg(e):
    return e.response["Error"]["Message"]


def expect_validation(text, fn, *args, **kwargs):
    """The call fails with a ValidationException whose message is exactly `text`."""
    e = expect_error("ValidationException", fn, *args, **kwargs)
    check(msg(e) == text, f"expected message {text!r}, got {msg(e)!r}")
    return e


def create_simple(c, name, hash_type="S", range_key=None, **extra):
    defs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    ks = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if range_key:
        defs.append({"AttributeName": "sk", "AttributeType": range_key})
        ks.append({"AttributeName": "sk", "KeyType": "RANGE"})
    for d in extra.pop("more_defs", []):
        defs.append(d)
    return c.create_table(
        TableName=name,
        AttributeDefinitions=defs,
        KeySchema=ks,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def cmd_tables():
    c = ddb()
    r = create_simple(
        c,
        "orders",
        range_key="N",
        more_defs=[
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "placed", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-placed",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "placed", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        Tags=[{"Key": "team", "Value": "shop"}],
    )
    d = r["TableDescription"]
    check(d["TableStatus"] == "ACTIVE", d)
    check(d["KeySchema"][1] == {"AttributeName": "sk", "KeyType": "RANGE"}, d)
    check(d["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", d)
    check(d["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/orders", d)
    check(d["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE", d)
    check(d["LocalSecondaryIndexes"][0]["Projection"]["ProjectionType"] == "KEYS_ONLY", d)
    check(d["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE", d)
    check("LatestStreamArn" in d, d)
    c.get_waiter("table_exists").wait(TableName="orders", WaiterConfig={"Delay": 1})

    d = c.describe_table(TableName="orders")["Table"]
    check(d["ItemCount"] == 0 and d["TableSizeBytes"] == 0, d)
    check(len(d["AttributeDefinitions"]) == 4, d)

    e = expect_error("ResourceInUseException", create_simple, c, "orders")
    check(msg(e) == "Table already exists: orders", msg(e))
    e = expect_error("ResourceNotFoundException", c.describe_table, TableName="nothing")
    check(msg(e) == "Requested resource not found: Table: nothing not found", msg(e))

    # Key schema validation, DynamoDB's messages.
    expect_validation(
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [x], AttributeDefinitions: [pk]",
        c.create_table,
        TableName="bad1",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "x", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    expect_validation(
        "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        c.create_table,
        TableName="bad2",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "extra", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    expect_validation(
        "One or more parameter values were invalid: Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        c.create_table,
        TableName="bad3",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    expect_validation(
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        c.create_table,
        TableName="bad4",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    expect_validation(
        "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        create_simple,
        c,
        "bad5",
        more_defs=[{"AttributeName": "x", "AttributeType": "S"}],
        LocalSecondaryIndexes=[
            {
                "IndexName": "lsi",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "x", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )

    # Pagination of ListTables.
    for n in ["t-a", "t-b", "t-c"]:
        c.create_table(
            TableName=n,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
    r = c.list_tables(Limit=2)
    check(r["TableNames"] == ["orders", "t-a"], r)
    check(r["LastEvaluatedTableName"] == "t-a", r)
    r = c.list_tables(ExclusiveStartTableName="t-a")
    check(r["TableNames"] == ["t-b", "t-c"], r)
    check("LastEvaluatedTableName" not in r, r)
    names = [n for page in c.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1}) for n in page["TableNames"]]
    check(names == ["orders", "t-a", "t-b", "t-c"], names)

    # UpdateTable: billing, GSI create and delete, deletion protection.
    r = c.update_table(TableName="t-a", BillingMode="PAY_PER_REQUEST")
    check(r["TableDescription"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", r)
    r = c.update_table(
        TableName="t-a",
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    gsis = r["TableDescription"]["GlobalSecondaryIndexes"]
    check([g["IndexName"] for g in gsis] == ["by-g"], r)
    r = c.update_table(TableName="t-a", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])
    check("GlobalSecondaryIndexes" not in r["TableDescription"], r)
    check(len(r["TableDescription"]["AttributeDefinitions"]) == 1, r)
    c.update_table(TableName="t-b", DeletionProtectionEnabled=True)
    expect_error("ValidationException", c.delete_table, TableName="t-b")
    c.update_table(TableName="t-b", DeletionProtectionEnabled=False)

    # Tags.
    arn = d["TableArn"]
    c.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "ops"}])
    c.untag_resource(ResourceArn=arn, TagKeys=["env"])
    tags = c.list_tags_of_resource(ResourceArn=arn)["Tags"]
    check(tags == [{"Key": "team", "Value": "ops"}], tags)
    expect_error(
        "ResourceNotFoundException",
        c.list_tags_of_resource,
        ResourceArn="arn:aws:dynamodb:us-east-1:000000000000:table/none",
    )

    # TTL.
    r = c.describe_time_to_live(TableName="orders")
    check(r["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED", r)
    c.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    r = c.describe_time_to_live(TableName="orders")
    check(r["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}, r)
    expect_validation(
        "TimeToLive is already enabled",
        c.update_time_to_live,
        TableName="orders",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )

    # Delete.
    r = c.delete_table(TableName="t-c")
    check(r["TableDescription"]["TableStatus"] == "DELETING", r)
    c.get_waiter("table_not_exists").wait(TableName="t-c", WaiterConfig={"Delay": 1})
    expect_error("ResourceNotFoundException", c.delete_table, TableName="t-c")
    for n in ["orders", "t-a", "t-b"]:
        c.delete_table(TableName=n)
    check(c.list_tables()["TableNames"] == [], "tables left")


COMMANDS = {
    "tables": (cmd_tables, 0),
}


def main():
    args = sys.argv[2:]
    while args:
        name = args.pop(0)
        fn, n = COMMANDS[name]
        fn(*args[:n])
        args = args[n:]


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, ClientError) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)

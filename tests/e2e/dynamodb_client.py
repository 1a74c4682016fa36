#!/usr/bin/env python3
"""Drive a running snapstack's DynamoDB with boto3, as a user's program would.

Usage: dynamodb_client.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  tables              table management: create/describe/list/update/delete, tags, TTL, errors
  items               PutItem/GetItem/UpdateItem/DeleteItem, every type, conditions, errors
  reads               Query and Scan: key conditions, indexes, filters, pages, segments
  legacy              Expected, AttributeUpdates, AttributesToGet, KeyConditions, Query/ScanFilter
  batch               BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems
  ttl                 expired items disappear (and leave their index)
  grammar             the expression grammar, table-driven: outcomes and exact error messages
  resource            the boto3 resource (Table) API
  fill N              create table `keep` (GSI, LSI) with N items, then update and delete some
  dump PATH           write every item and index query result of `keep` to PATH
  compare PATH        the same reads give exactly what PATH holds
"""

import json
import re
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

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


def raw(op, body):
    """POST a raw body to the DynamoDB endpoint; returns (status, parsed JSON body). `op` None
    sends no X-Amz-Target header at all."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
    }
    if op is not None:
        headers["X-Amz-Target"] = "DynamoDB_20120810." + op
    req = urllib.request.Request(ENDPOINT + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cmd_tables():
    # Hostile bodies get JSON 1.0 errors and the server stays up.
    for op, body, code in [
        ("ListTables", b"{not json", "SerializationException"),
        ("ListTables", b"[1, 2]", "SerializationException"),
        ("CreateTable", b'{"TableName": 7}', "SerializationException"),
        ("PutItem", b'{"TableName": "tbl", "Item": {"pk": {"S": "a", "N": "1"}}}', "ValidationException"),
        ("PutItem", b'{"TableName": "tbl", "Item": ' + b'{"M": {"a": ' * 40 + b'{"S": "x"}' + b"}}" * 40 + b"}", "ValidationException"),
        ("Frobnicate", b"{}", "UnknownOperationException"),
        (None, b"{}", "UnknownOperationException"),
        ("PutItem", b'{"TableName": "tbl", "Item": {"pk": {"S": 5}}}', "SerializationException"),
    ]:
        status, out = raw(op, body)
        check(status == 400 and out["__type"].endswith("#" + code), (op, body[:40], status, out))
        if op is None:
            check("X-Amz-Target" in out.get("message", ""), out)
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


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def key(pk, sk):
    return {"pk": S(pk), "sk": N(sk)}


def create_pk_sk(c, name, **extra):
    create_simple(c, name, range_key="N", **extra)


def cmd_items():
    c = ddb()
    create_pk_sk(c, "items")
    big_n = "12345678901234567890123456789012345678"
    item = {
        "pk": S("a"),
        "sk": N(1),
        "s": S("text ✓"),
        "n": N(big_n),
        "small": N("-1.5E-100"),
        "b": {"B": b"\x00\x01binary"},
        "t": {"BOOL": True},
        "nul": {"NULL": True},
        "m": {"M": {"in2": {"L": [N(1), S("two"), {"M": {"x": N(3)}}]}}},
        "l": {"L": [S("x"), N(2)]},
        "ss": {"SS": ["b", "a"]},
        "ns": {"NS": ["10", "2.5"]},
        "bs": {"BS": [b"\x01", b"\x02"]},
    }
    r = c.put_item(TableName="items", Item=item, ReturnConsumedCapacity="TOTAL")
    check("Attributes" not in r, r)
    check(r["ConsumedCapacity"] == {"TableName": "items", "CapacityUnits": 1.0}, r)
    r = c.get_item(TableName="items", Key=key("a", 1), ReturnConsumedCapacity="TOTAL")
    check(r["ConsumedCapacity"]["CapacityUnits"] == 0.5, r)
    got = c.get_item(TableName="items", Key=key("a", 1), ConsistentRead=True)["Item"]
    check(got["n"] == N(big_n), got["n"])
    check(Decimal(got["small"]["N"]) == Decimal("-1.5E-100"), got["small"])
    check(got["b"] == {"B": b"\x00\x01binary"}, got["b"])
    check(sorted(got["ss"]["SS"]) == ["a", "b"], got["ss"])
    check(sorted(got["ns"]["NS"], key=float) == ["2.5", "10"], got["ns"])
    check(got["m"] == item["m"] and got["l"] == item["l"] and got["nul"] == item["nul"], got)
    # Numbers compare numerically and keep their digits.
    c.put_item(TableName="items", Item={"pk": S("a"), "sk": N("1.00"), "v": N(1)}, ReturnValues="ALL_OLD")
    got = c.get_item(TableName="items", Key=key("a", 1))["Item"]
    check(got == {"pk": S("a"), "sk": N(1), "v": N(1)}, got)
    r = c.put_item(TableName="items", Item=item, ReturnValues="ALL_OLD")
    check(r["Attributes"]["v"] == N(1), r)
    # Projection.
    got = c.get_item(
        TableName="items",
        Key=key("a", 1),
        ProjectionExpression="#s, m.in2[2].x, l[1]",
        ExpressionAttributeNames={"#s": "s"},
    )["Item"]
    check(got == {"s": S("text ✓"), "m": {"M": {"in2": {"L": [{"M": {"x": N(3)}}]}}}, "l": {"L": [N(2)]}}, got)

    # UpdateItem: SET/REMOVE/ADD/DELETE, functions, arithmetic, nested paths, ReturnValues.
    r = c.update_item(
        TableName="items",
        Key=key("a", 1),
        UpdateExpression="SET cnt = if_not_exists(cnt, :zero) + :one, l = list_append(l, :more), m.in2[0] = :ten, #t = :f "
        "REMOVE nul ADD ss :c, visits :one DELETE ns :nten",
        ExpressionAttributeNames={"#t": "t"},
        ExpressionAttributeValues={
            ":zero": N(0),
            ":one": N(1),
            ":ten": N(10),
            ":nten": {"NS": ["10"]},
            ":more": {"L": [S("y")]},
            ":c": {"SS": ["c"]},
            ":f": {"BOOL": False},
        },
        ReturnValues="ALL_NEW",
    )
    a = r["Attributes"]
    check(a["cnt"] == N(1) and a["visits"] == N(1), a)
    check(a["l"] == {"L": [S("x"), N(2), S("y")]}, a["l"])
    check(a["m"]["M"]["in2"]["L"][0] == N(10), a["m"])
    check(a["t"] == {"BOOL": False} and "nul" not in a, a)
    check(sorted(a["ss"]["SS"]) == ["a", "b", "c"] and a["ns"] == {"NS": ["2.5"]}, a)
    r = c.update_item(
        TableName="items",
        Key=key("a", 1),
        UpdateExpression="SET cnt = cnt - :one REMOVE l[0]",
        ExpressionAttributeValues={":one": N(1)},
        ReturnValues="UPDATED_OLD",
    )
    # UPDATED_OLD holds the updated paths only: l[0], not all of l.
    check(r["Attributes"] == {"cnt": N(1), "l": {"L": [S("x")]}}, r)
    # Upsert: UpdateItem creates the item.
    r = c.update_item(
        TableName="items",
        Key=key("new", 1),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": S("fresh")},
        ReturnValues="ALL_NEW",
    )
    check(r["Attributes"] == {"pk": S("new"), "sk": N(1), "v": S("fresh")}, r)

    # Conditions.
    c.put_item(TableName="items", Item={**key("c", 1), "n": N(5)}, ConditionExpression="attribute_not_exists(pk)")
    e = expect_error(
        "ConditionalCheckFailedException",
        c.put_item,
        TableName="items",
        Item={**key("c", 1), "n": N(6)},
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    check(msg(e) == "The conditional request failed", msg(e))
    check(e.response["Item"] == {**key("c", 1), "n": N(5)}, e.response)
    expect_error(
        "ConditionalCheckFailedException",
        c.update_item,
        TableName="items",
        Key=key("c", 1),
        UpdateExpression="SET n = :v",
        ConditionExpression="n > :v",
        ExpressionAttributeValues={":v": N(5)},
    )
    c.update_item(
        TableName="items",
        Key=key("c", 1),
        UpdateExpression="SET n = :v",
        ConditionExpression="n BETWEEN :lo AND :v AND attribute_type(n, :t)",
        ExpressionAttributeValues={":v": N(7), ":lo": N(1), ":t": S("N")},
    )
    expect_error(
        "ConditionalCheckFailedException",
        c.delete_item,
        TableName="items",
        Key=key("c", 1),
        ConditionExpression="n IN (:a, :b)",
        ExpressionAttributeValues={":a": N(1), ":b": N(2)},
    )
    r = c.delete_item(TableName="items", Key=key("c", 1), ConditionExpression="NOT n = :a", ExpressionAttributeValues={":a": N(1)}, ReturnValues="ALL_OLD")
    check(r["Attributes"]["n"] == N(7), r)
    check("Item" not in c.get_item(TableName="items", Key=key("c", 1)), "deleted")

    # Errors.
    expect_validation("The provided key element does not match the schema", c.get_item, TableName="items", Key={"pk": S("a")})
    expect_validation("The provided key element does not match the schema", c.get_item, TableName="items", Key={"pk": S("a"), "sk": S("1")})
    expect_validation(
        "One or more parameter values were invalid: Missing the key sk in the item",
        c.put_item,
        TableName="items",
        Item={"pk": S("a")},
    )
    expect_validation(
        "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S",
        c.put_item,
        TableName="items",
        Item={"pk": S("a"), "sk": S("x")},
    )
    expect_validation(
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
        c.put_item,
        TableName="items",
        Item={"pk": S(""), "sk": N(1)},
    )
    expect_validation(
        "Item size has exceeded the maximum allowed size",
        c.put_item,
        TableName="items",
        Item={**key("big", 1), "data": S("x" * (400 * 1024))},
    )
    c.put_item(TableName="items", Item={**key("big", 1), "data": S("x" * (390 * 1024))})
    expect_validation(
        "Item size to update has exceeded the maximum allowed size",
        c.update_item,
        TableName="items",
        Key=key("big", 1),
        UpdateExpression="SET more = :m",
        ExpressionAttributeValues={":m": S("y" * (20 * 1024))},
    )
    expect_validation(
        "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key",
        c.update_item,
        TableName="items",
        Key=key("a", 1),
        UpdateExpression="SET sk = :v",
        ExpressionAttributeValues={":v": N(2)},
    )
    expect_validation(
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
        c.update_item,
        TableName="items",
        Key=key("a", 1),
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": N(2), ":unused": N(3)},
    )
    expect_validation(
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#u}",
        c.get_item,
        TableName="items",
        Key=key("a", 1),
        ProjectionExpression="s",
        ExpressionAttributeNames={"#u": "x"},
    )
    e = expect_error("ValidationException", c.put_item, TableName="items", Item={**key("z", 1), "e": {"SS": []}})
    check("empty" in msg(e), msg(e))
    e = expect_error("ValidationException", c.put_item, TableName="items", Item={**key("z", 1), "n": N("1" * 39)})
    check("Attempting to store more than 38 significant digits" in msg(e), msg(e))
    e = expect_error("ValidationException", c.put_item, TableName="items", Item={**key("z", 1), "n": N("abc")})
    check("numeric" in msg(e).lower(), msg(e))
    e = expect_error("ValidationException", c.put_item, TableName="items", Item={**key("z", 1), "d": {"SS": ["a", "a"]}})
    check("duplicates" in msg(e), msg(e))
    expect_error("ResourceNotFoundException", c.get_item, TableName="nothing", Key=key("a", 1))
    e = expect_error("ResourceNotFoundException", c.put_item, TableName="nothing", Item=key("a", 1))
    check(msg(e) == "Requested resource not found", msg(e))
    d = c.describe_table(TableName="items")["Table"]
    check(d["ItemCount"] == 3, d)


def cmd_legacy():
    """The pre-expression parameters, as older programs send them."""
    c = ddb()
    create_pk_sk(c, "legacy")
    c.put_item(TableName="legacy", Item={**key("a", 1), "v": N(1)}, Expected={"pk": {"Exists": False}})
    expect_error(
        "ConditionalCheckFailedException",
        c.put_item,
        TableName="legacy",
        Item={**key("a", 1)},
        Expected={"pk": {"Exists": False}},
    )
    r = c.update_item(
        TableName="legacy",
        Key=key("a", 1),
        AttributeUpdates={"v": {"Action": "ADD", "Value": N(2)}, "w": {"Action": "PUT", "Value": S("x")}},
        Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [N(1)]}},
        ReturnValues="UPDATED_NEW",
    )
    check(r["Attributes"] == {"v": N(3), "w": S("x")}, r)
    for i in range(2, 6):
        c.put_item(TableName="legacy", Item={**key("a", i), "v": N(i * 10)})
    got = c.get_item(TableName="legacy", Key=key("a", 1), AttributesToGet=["w"])["Item"]
    check(got == {"w": S("x")}, got)
    r = c.query(
        TableName="legacy",
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S("a")]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [N(2), N(5)]},
        },
        QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [N(25)]}},
        ScanIndexForward=False,
    )
    check([int(i["sk"]["N"]) for i in r["Items"]] == [5, 4, 3] and r["ScannedCount"] == 4, r)
    r = c.scan(TableName="legacy", ScanFilter={"w": {"ComparisonOperator": "NOT_NULL"}}, AttributesToGet=["sk"])
    check(r["Items"] == [{"sk": N(1)}], r)
    r = c.delete_item(TableName="legacy", Key=key("a", 5), Expected={"v": {"Value": N(50)}}, ReturnValues="ALL_OLD")
    check(r["Attributes"]["v"] == N(50), r)
    expect_validation(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        c.put_item,
        TableName="legacy",
        Item=key("a", 9),
        Expected={"pk": {"Exists": False}},
        ConditionExpression="attribute_not_exists(pk)",
    )


def cmd_reads():
    c = ddb()
    create_pk_sk(
        c,
        "reads",
        more_defs=[{"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-l",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    for h in ["h1", "h2"]:
        for i in range(30):
            item = {**key(h, i - 10), "v": N(i), "oth": S("o"), "l": S(f"l{29 - i:02}")}
            if i % 3 == 0:
                item["g"] = S("g" + h)
            c.put_item(TableName="reads", Item=item)

    def q(**kw):
        return c.query(TableName="reads", **kw)

    def sks(items):
        return [int(i["sk"]["N"]) for i in items]

    vals = {":h": S("h1")}
    r = q(KeyConditionExpression="pk = :h", ExpressionAttributeValues=vals)
    check(sks(r["Items"]) == list(range(-10, 20)) and r["Count"] == 30 and r["ScannedCount"] == 30, r)
    cases = [
        ("sk = :a", {":a": N(3)}, [3]),
        ("sk < :a", {":a": N(-8)}, [-10, -9]),
        ("sk <= :a", {":a": N(-8)}, [-10, -9, -8]),
        ("sk > :a", {":a": N(17)}, [18, 19]),
        ("sk >= :a", {":a": N(17)}, [17, 18, 19]),
        ("sk BETWEEN :a AND :b", {":a": N(-1), ":b": N("1.0")}, [-1, 0, 1]),
    ]
    for cond, v, want in cases:
        r = q(KeyConditionExpression="pk = :h AND " + cond, ExpressionAttributeValues={**vals, **v})
        check(sks(r["Items"]) == want, (cond, r["Items"]))
        r = q(KeyConditionExpression="pk = :h AND " + cond, ExpressionAttributeValues={**vals, **v}, ScanIndexForward=False)
        check(sks(r["Items"]) == want[::-1], (cond, "reverse", r["Items"]))
    r = q(
        KeyConditionExpression="#p = :h AND begins_with(l, :pre)",
        IndexName="by-l",
        ExpressionAttributeNames={"#p": "pk"},
        ExpressionAttributeValues={**vals, ":pre": S("l0")},
    )
    check(sks(r["Items"]) == [19, 18, 17, 16, 15, 14, 13, 12, 11, 10], r["Items"])
    check(set(r["Items"][0]) == {"pk", "sk", "l"}, r["Items"][0])
    # Filter, projection, count, limit and pages.
    r = q(
        KeyConditionExpression="pk = :h",
        FilterExpression="v >= :ten AND oth = :o",
        ProjectionExpression="sk, v",
        ExpressionAttributeValues={**vals, ":ten": N(25), ":o": S("o")},
    )
    check(r["Count"] == 5 and r["ScannedCount"] == 30 and set(r["Items"][0]) == {"sk", "v"}, r)
    r = q(KeyConditionExpression="pk = :h", Select="COUNT", ExpressionAttributeValues=vals)
    check(r["Count"] == 30 and "Items" not in r, r)
    got, start, pages = [], None, 0
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        r = q(KeyConditionExpression="pk = :h", Limit=7, ScanIndexForward=False, ExpressionAttributeValues=vals, **kw)
        got += sks(r["Items"])
        pages += 1
        start = r.get("LastEvaluatedKey")
        if not start:
            break
    check(got == list(range(19, -11, -1)) and pages == 5, (got, pages))
    items = [i for p in c.get_paginator("query").paginate(TableName="reads", IndexName="by-g", KeyConditionExpression="g = :g",
             ExpressionAttributeValues={":g": S("gh2")}, PaginationConfig={"PageSize": 3}) for i in p["Items"]]
    check(sks(items) == [-10, -7, -4, -1, 2, 5, 8, 11, 14, 17], items)
    check(set(items[0]) == {"pk", "sk", "g", "v"}, items[0])
    # Query errors.
    expect_validation(
        "Query condition missed key schema element: pk",
        q,
        KeyConditionExpression="sk = :a",
        ExpressionAttributeValues={":a": N(1)},
    )
    expect_validation(
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk",
        q,
        KeyConditionExpression="pk = :h",
        FilterExpression="sk > :a",
        ExpressionAttributeValues={**vals, ":a": N(1)},
    )
    expect_validation(
        "The table does not have the specified index: nope",
        q,
        IndexName="nope",
        KeyConditionExpression="pk = :h",
        ExpressionAttributeValues=vals,
    )
    expect_validation(
        "One or more parameter values were invalid: Condition parameter type does not match schema type",
        q,
        KeyConditionExpression="pk = :a",
        ExpressionAttributeValues={":a": N(1)},
    )
    expect_validation(
        "Consistent reads are not supported on global secondary indexes",
        q,
        IndexName="by-g",
        ConsistentRead=True,
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": S("x")},
    )
    expect_validation(
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        q,
    )
    # Scan: everything once, across parallel segments and pages.
    seen = []
    for seg in range(4):
        for p in c.get_paginator("scan").paginate(TableName="reads", Segment=seg, TotalSegments=4, PaginationConfig={"PageSize": 6}):
            seen += [(i["pk"]["S"], int(i["sk"]["N"])) for i in p["Items"]]
    check(sorted(seen) == sorted((h, i - 10) for h in ["h1", "h2"] for i in range(30)), seen)
    r = c.scan(TableName="reads", FilterExpression="v < :v AND pk = :h", ExpressionAttributeValues={":v": N(3), ":h": S("h2")})
    check(r["Count"] == 3 and r["ScannedCount"] == 60, r)
    r = c.scan(TableName="reads", IndexName="by-g", Select="COUNT")
    check(r["Count"] == 20, r)
    expect_validation(
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 4 is not less than TotalSegments: 4",
        c.scan,
        TableName="reads",
        Segment=4,
        TotalSegments=4,
    )


def cmd_batch():
    c = ddb()
    create_pk_sk(c, "bt1")
    create_simple(c, "bt2")
    r = c.batch_write_item(
        RequestItems={
            "bt1": [{"PutRequest": {"Item": {**key("x", i), "v": N(i)}}} for i in range(20)],
            "bt2": [{"PutRequest": {"Item": {"pk": S(f"k{i}")}}} for i in range(5)],
        }
    )
    check(r["UnprocessedItems"] == {}, r)
    c.batch_write_item(RequestItems={"bt1": [{"DeleteRequest": {"Key": key("x", 0)}}, {"PutRequest": {"Item": {**key("x", 1), "v": N(100)}}}]})
    r = c.batch_get_item(
        RequestItems={
            "bt1": {"Keys": [key("x", 0), key("x", 1), key("x", 2)], "ProjectionExpression": "v"},
            "bt2": {"Keys": [{"pk": S("k1")}, {"pk": S("nope")}], "ConsistentRead": True},
        }
    )
    check(sorted(int(i["v"]["N"]) for i in r["Responses"]["bt1"]) == [2, 100], r)
    check(r["Responses"]["bt2"] == [{"pk": S("k1")}], r)
    check(r["UnprocessedKeys"] == {}, r)
    e = expect_error("ValidationException", c.batch_write_item, RequestItems={"bt1": [{"PutRequest": {"Item": {**key("y", i)}}} for i in range(26)]})
    check("Member must have length less than or equal to 25" in msg(e), msg(e))
    expect_validation(
        "Provided list of item keys contains duplicates",
        c.batch_get_item,
        RequestItems={"bt1": {"Keys": [key("x", 1), key("x", 1)]}},
    )
    expect_validation(
        "Too many items requested for the BatchGetItem call",
        c.batch_get_item,
        RequestItems={"bt1": {"Keys": [key("x", i) for i in range(101)]}},
    )
    expect_error("ResourceNotFoundException", c.batch_get_item, RequestItems={"nope": {"Keys": [key("x", 1)]}})

    # Transactions.
    c.put_item(TableName="bt1", Item={**key("acct", 1), "bal": N(100)})
    c.put_item(TableName="bt1", Item={**key("acct", 2), "bal": N(0)})

    def transfer(amount, token=None):
        kw = {"ClientRequestToken": token} if token else {}
        return c.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": "bt1", "Key": key("acct", 1), "UpdateExpression": "SET bal = bal - :a",
                            "ConditionExpression": "bal >= :a", "ExpressionAttributeValues": {":a": N(amount)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                {"Update": {"TableName": "bt1", "Key": key("acct", 2), "UpdateExpression": "SET bal = bal + :a",
                            "ExpressionAttributeValues": {":a": N(amount)}}},
                {"Put": {"TableName": "bt2", "Item": {"pk": S(f"log-{amount}")}, "ConditionExpression": "attribute_not_exists(pk)"}},
                {"ConditionCheck": {"TableName": "bt2", "Key": {"pk": S("k1")}, "ConditionExpression": "attribute_exists(pk)"}},
            ],
            **kw,
        )

    transfer(60, token="tok-1")
    transfer(60, token="tok-1")  # the same request again: applied once
    e = expect_error("TransactionCanceledException", transfer, 60)
    check(
        msg(e) == "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, ConditionalCheckFailed, None]",
        msg(e),
    )
    reasons = e.response["CancellationReasons"]
    check([r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None", "ConditionalCheckFailed", "None"], reasons)
    check(reasons[0]["Item"]["bal"] == N(40), reasons)
    expect_error("IdempotentParameterMismatchException", transfer, 10, token="tok-1")
    r = c.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": "bt1", "Key": key("acct", 1)}},
            {"Get": {"TableName": "bt1", "Key": key("acct", 2), "ProjectionExpression": "bal"}},
            {"Get": {"TableName": "bt2", "Key": {"pk": S("none")}}},
        ]
    )
    check([x.get("Item") for x in r["Responses"]] == [{**key("acct", 1), "bal": N(40)}, {"bal": N(60)}, None], r)
    expect_validation(
        "Transaction request cannot include multiple operations on one item",
        c.transact_write_items,
        TransactItems=[
            {"Delete": {"TableName": "bt1", "Key": key("acct", 1)}},
            {"ConditionCheck": {"TableName": "bt1", "Key": key("acct", 1), "ConditionExpression": "attribute_exists(pk)"}},
        ],
    )
    e = expect_error(
        "TransactionCanceledException",
        c.transact_write_items,
        TransactItems=[
            {"Delete": {"TableName": "bt1", "Key": key("acct", 1)}},
            {"Update": {"TableName": "bt1", "Key": key("acct", 2), "UpdateExpression": "SET bal = nothing + :s", "ExpressionAttributeValues": {":s": N(1)}}},
        ],
    )
    check([r["Code"] for r in e.response["CancellationReasons"]] == ["None", "ValidationError"], e.response)
    check("Item" in c.get_item(TableName="bt1", Key=key("acct", 1)), "the failed transaction deleted nothing")

    # Concurrent read-modify-writes are atomic: 8 clients add 1 twenty-five times each, and
    # conditional puts of one new item let exactly one client win.
    import threading

    errors, wins = [], []

    def worker(n):
        cc = ddb()
        try:
            for _ in range(25):
                cc.update_item(TableName="bt1", Key=key("counter", 1), UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": N(1)})
            try:
                cc.put_item(TableName="bt1", Item={**key("winner", 1), "who": N(n)}, ConditionExpression="attribute_not_exists(pk)")
                wins.append(n)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, errors)
    check(c.get_item(TableName="bt1", Key=key("counter", 1))["Item"]["n"] == N(200), "lost updates")
    check(len(wins) == 1, wins)


def cmd_ttl():
    c = ddb()
    create_simple(
        c,
        "ttl",
        more_defs=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
    )
    c.update_time_to_live(TableName="ttl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    now = int(time.time())
    c.put_item(TableName="ttl", Item={"pk": S("past"), "g": S("x"), "exp": N(now - 100)})
    c.put_item(TableName="ttl", Item={"pk": S("future"), "g": S("x"), "exp": N(now + 3600)})
    c.put_item(TableName="ttl", Item={"pk": S("string-exp"), "g": S("x"), "exp": S("0")})
    c.put_item(TableName="ttl", Item={"pk": S("later"), "g": S("x")})
    c.update_item(TableName="ttl", Key={"pk": S("later")}, UpdateExpression="SET exp = :e", ExpressionAttributeValues={":e": N(now - 1)})
    deadline = time.time() + 60
    while True:
        left = sorted(i["pk"]["S"] for i in c.scan(TableName="ttl")["Items"])
        if left == ["future", "string-exp"]:
            break
        check(time.time() < deadline, f"expired items still there: {left}")
        time.sleep(0.5)
    r = c.query(TableName="ttl", IndexName="by-g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": S("x")})
    check(sorted(i["pk"]["S"] for i in r["Items"]) == ["future", "string-exp"], r)


# The expression grammar: (kind, expression, expected). Placeholders come from POOL_NAMES and
# POOL_VALUES (those the expression mentions). Expected is True/False (the condition holds or
# not), a number (how many items a filter keeps or a query returns), a dict (the item an update
# or projection yields, compared on the attributes it names), or an error message.
GRAMMAR_ITEM = {
    "pk": S("p1"), "sk": N(1), "num": N(5), "str": S("hello world"), "bin": {"B": b"\x01\x02\x03\x04"},
    "flag": {"BOOL": True}, "nothing": {"NULL": True}, "tags": {"SS": ["a", "b", "c"]},
    "nums": {"NS": ["1", "2", "3"]}, "lst": {"L": [N(7), S("x"), {"M": {"deep": N(1)}}]},
    "mp": {"M": {"a": N(1), "b": {"M": {"c": S("see")}}}}, "name": S("reserved"), "x.y": S("dotted"),
}
POOL_NAMES = {"#n": "name", "#s": "status", "#m": "mp", "#x": "x.y", "#pk": "pk", "#sk": "sk"}
POOL_VALUES = {
    ":one": N(1), ":two": N(2), ":five": N(5), ":ten": N(10), ":s": S("hello"), ":he": S("he"),
    ":b": {"B": b"\x01\x02"}, ":t": {"BOOL": True}, ":tN": S("N"), ":tS": S("S"), ":tL": S("L"),
    ":tX": S("X"), ":ss": {"SS": ["z"]}, ":sa": {"SS": ["a"]}, ":l": {"L": [N(9)]}, ":a": S("a"),
    ":p1": S("p1"), ":p": S("p"), ":zero": N(0), ":big": N("99999999999999999999999999999999999999"),
}
C = "Invalid ConditionExpression: "
U = "Invalid UpdateExpression: "
P = "Invalid ProjectionExpression: "
K = "Invalid KeyConditionExpression: "
F = "Invalid FilterExpression: "
GRAMMAR = [
    # Conditions that hold or not.
    ("cond", "num = :five", True),
    ("cond", "num <> :five", False),
    ("cond", "num < :ten AND num > :one", True),
    ("cond", "num <= :five", True),
    ("cond", "num >= :ten", False),
    ("cond", "num BETWEEN :one AND :ten", True),
    ("cond", "num IN (:one, :two, :five)", True),
    ("cond", "num IN (:one, :two)", False),
    ("cond", "attribute_exists(mp.b.c)", True),
    ("cond", "attribute_exists(lst[2].deep)", True),
    ("cond", "attribute_exists(lst[3])", False),
    ("cond", "attribute_not_exists(absent)", True),
    ("cond", "attribute_type(num, :tN)", True),
    ("cond", "attribute_type(lst, :tL)", True),
    ("cond", "attribute_type(num, :tS)", False),
    ("cond", "begins_with(str, :he)", True),
    ("cond", "begins_with(bin, :b)", True),
    ("cond", "contains(str, :s)", True),
    ("cond", "contains(tags, :a)", True),
    ("cond", "contains(nums, :two)", True),
    ("cond", "size(str) > :ten", True),
    ("cond", "size(tags) = :two", False),
    ("cond", "#n = :s", False),
    ("cond", "#x = :s OR #m.a = :one", True),
    ("cond", "NOT (num = :one OR num = :two) AND flag = :t", True),
    ("cond", "num = :one OR num = :five AND str = :s", False),
    ("cond", "(num = :one OR num = :five) AND NOT str = :s", True),
    ("cond", "absent < :one", False),
    ("cond", "str < :one", False),
    ("cond", "num < :big", True),
    # Invalid conditions: DynamoDB's messages.
    ("cond", "", C + "The expression can not be empty;"),
    ("cond", "num =", C + 'Syntax error; token: "<EOF>", near: "="'),
    ("cond", "num = = :one", C + 'Syntax error; token: "=", near: "= = :one"'),
    ("cond", "num = :one AND", C + 'Syntax error; token: "<EOF>", near: "AND"'),
    ("cond", "(num = :one", C + 'Syntax error; token: "<EOF>", near: ":one"'),
    ("cond", "name = :s", C + "Attribute name is a reserved keyword; reserved keyword: name"),
    ("cond", "#nope = :s", C + "An expression attribute name used in the document path is not defined; attribute name: #nope"),
    ("cond", "num = :nope", C + "An expression attribute value used in expression is not defined; attribute value: :nope"),
    ("cond", "foo(num)", C + "Invalid function name; function: foo"),
    ("cond", "attribute_exists(num, str)", C + "Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
    ("cond", "attribute_type(num, :tX)", C + "Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
    ("cond", "num IN (" + ", ".join([":one"] * 101) + ")", C + "The IN operator is provided with too many operands; number of operands: 101"),
    # Filters (Scan of the table: the item above plus p2 with num 10).
    ("filter", "num > :one", 2),
    ("filter", "num = :ten", 1),
    ("filter", "attribute_exists(lst)", 1),
    ("filter", "size(str) >= :one AND NOT contains(str, :a)", 1),
    ("filter", "num >", F + 'Syntax error; token: "<EOF>", near: ">"'),
    # Key conditions (Query: p1 has sk 1..3).
    ("key", "pk = :p1", 3),
    ("key", "#pk = :p1 AND #sk > :one", 2),
    ("key", "pk = :p1 AND sk BETWEEN :two AND :ten", 2),
    ("key", "pk = :p1 AND sk <= :one", 1),
    ("key", "pk = :p", 0),
    ("key", "sk = :one", "Query condition missed key schema element: pk"),
    ("key", "pk = :p1 OR sk = :one", "Invalid operator used in KeyConditionExpression: OR"),
    ("key", "pk = :p1 AND begins_with(sk, :one)", K + "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
    ("key", "pk = :p1 AND num = :one", "Query condition missed key schema element: sk"),
    # Updates: the resulting attributes.
    ("update", "SET num = num + :one", {"num": N(6)}),
    ("update", "SET num = :ten - num", {"num": N(5)}),
    ("update", "SET lst[0] = :two, mp.b.c = :s", {"lst": {"L": [N(2), S("x"), {"M": {"deep": N(1)}}]}, "mp": {"M": {"a": N(1), "b": {"M": {"c": S("hello")}}}}}),
    ("update", "SET newl = list_append(:l, lst)", {"newl": {"L": [N(9), N(7), S("x"), {"M": {"deep": N(1)}}]}}),
    ("update", "SET c = if_not_exists(c, :zero)", {"c": N(0)}),
    ("update", "REMOVE lst[1], mp.a", {"lst": {"L": [N(7), {"M": {"deep": N(1)}}]}, "mp": {"M": {"b": {"M": {"c": S("see")}}}}}),
    ("update", "ADD tags :ss, num :ten", {"tags": {"SS": ["a", "b", "c", "z"]}, "num": N(15)}),
    ("update", "DELETE tags :sa", {"tags": {"SS": ["b", "c"]}}),
    ("update", "SET num = :one REMOVE num", U + "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [num], path two: [num]"),
    ("update", "SET num = num + :s", U + "Incorrect operand type for operator or function; operator or function: +, operand type: S"),
    ("update", "SET str = str + :one", "An operand in the update expression has an incorrect data type"),
    ("update", "SET num = absent + :one", "The provided expression refers to an attribute that does not exist in the item"),
    ("update", "SET", U + 'Syntax error; token: "<EOF>", near: "SET"'),
    ("update", "ADD lst :one", "An operand in the update expression has an incorrect data type"),
    ("update", "SET lst[0] = :one SET num = :two", U + 'The "SET" section can only be used once in an update expression;'),
    ("update", "SET mp.zz.q = :one", "The document path provided in the update expression is invalid for update"),
    # Projections: the attributes returned.
    ("proj", "num, str", {"num": N(5), "str": S("hello world")}),
    ("proj", "lst[2].deep, #m.b", {"lst": {"L": [{"M": {"deep": N(1)}}]}, "mp": {"M": {"b": {"M": {"c": S("see")}}}}}),
    ("proj", "num, num", P + "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [num], path two: [num]"),
    ("proj", "date", P + "Attribute name is a reserved keyword; reserved keyword: date"),
    ("proj", "num,", P + 'Syntax error; token: "<EOF>", near: ","'),
]


def placeholders(*exprs):
    text = " ".join(exprs)
    names = {k: v for k, v in POOL_NAMES.items() if re.search(re.escape(k) + r"\b", text)}
    values = {k: v for k, v in POOL_VALUES.items() if re.search(re.escape(k) + r"\b", text)}
    kw = {}
    if names:
        kw["ExpressionAttributeNames"] = names
    if values:
        kw["ExpressionAttributeValues"] = values
    return kw


def cmd_grammar():
    c = ddb()
    create_pk_sk(c, "grammar")
    c.put_item(TableName="grammar", Item=GRAMMAR_ITEM)
    c.put_item(TableName="grammar", Item={**key("p1", 2), "num": N(10)})
    c.put_item(TableName="grammar", Item={**key("p1", 3)})
    failures = []
    for kind, expr, want in GRAMMAR:
        kw = placeholders(expr)
        try:
            if kind == "cond":
                c.put_item(TableName="grammar", Item=GRAMMAR_ITEM, ConditionExpression=expr, **kw)
                got = True
            elif kind == "filter":
                got = c.scan(TableName="grammar", FilterExpression=expr, **kw)["Count"]
            elif kind == "key":
                got = c.query(TableName="grammar", KeyConditionExpression=expr, **kw)["Count"]
            elif kind == "update":
                c.put_item(TableName="grammar", Item={**GRAMMAR_ITEM, "pk": S("upd")})
                a = c.update_item(TableName="grammar", Key=key("upd", 1), UpdateExpression=expr, ReturnValues="ALL_NEW", **kw)["Attributes"]
                got = {k: a.get(k) for k in want} if isinstance(want, dict) else a
                for k, v in list(got.items()):
                    if v and ("SS" in v or "NS" in v):
                        got[k] = {t: sorted(x) for t, x in v.items()}
            else:
                got = c.get_item(TableName="grammar", Key=key("p1", 1), ProjectionExpression=expr, **kw)["Item"]
        except ClientError as e:
            code = e.response["Error"]["Code"]
            got = msg(e) if code == "ValidationException" else (False if code == "ConditionalCheckFailedException" else code)
        if got != want:
            failures.append(f"{kind} {expr!r}: expected {want!r}, got {got!r}")
    check(not failures, "\n".join(failures))
    check(len(GRAMMAR) >= 70, "the grammar table shrank")


def cmd_resource():
    res = boto3.resource(
        "dynamodb",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="secret",
        region_name="us-east-1",
        config=CFG,
    )
    from boto3.dynamodb.conditions import Attr, Key

    t = res.create_table(
        TableName="res",
        KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    t.wait_until_exists()
    with t.batch_writer() as w:
        for i in range(60):
            w.put_item(Item={"user": "u1" if i % 2 else "u2", "ts": i, "score": Decimal(i) / 10, "tags": {"a", "b"}})
    got = t.get_item(Key={"user": "u1", "ts": 5})["Item"]
    check(got["score"] == Decimal("0.5") and got["tags"] == {"a", "b"}, got)
    r = t.query(KeyConditionExpression=Key("user").eq("u1") & Key("ts").between(10, 20), FilterExpression=Attr("score").gt(Decimal("1.2")))
    check([int(i["ts"]) for i in r["Items"]] == [13, 15, 17, 19], r["Items"])
    t.update_item(Key={"user": "u1", "ts": 5}, UpdateExpression="ADD score :d", ExpressionAttributeValues={":d": Decimal("0.25")})
    check(t.get_item(Key={"user": "u1", "ts": 5})["Item"]["score"] == Decimal("0.75"), "update")
    t.delete_item(Key={"user": "u1", "ts": 5})
    check(t.item_count == 59, t.item_count)


KEEP_GSI = "by-cat"
KEEP_LSI = "by-rank"


def cmd_fill(n):
    c = ddb()
    n = int(n)
    create_pk_sk(
        c,
        "keep",
        more_defs=[{"AttributeName": "cat", "AttributeType": "S"}, {"AttributeName": "rank", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[
            {"IndexName": KEEP_GSI, "KeySchema": [{"AttributeName": "cat", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]}}
        ],
        LocalSecondaryIndexes=[
            {"IndexName": KEEP_LSI, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "rank", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}}
        ],
    )
    for start in range(0, n, 25):
        c.batch_write_item(RequestItems={"keep": [
            {"PutRequest": {"Item": {**key(f"h{i % 7}", i), "cat": S(f"c{i % 5}"), "rank": N((i * 37) % 101), "v": S(f"value {i}"), "blob": {"B": bytes([i % 256]) * 10}}}}
            for i in range(start, min(n, start + 25))
        ]})
    for i in range(0, n, 3):
        c.update_item(TableName="keep", Key=key(f"h{i % 7}", i), UpdateExpression="SET cat = :c, v = :v",
                      ExpressionAttributeValues={":c": S("moved"), ":v": S(f"updated {i}")})
    for i in range(0, n, 10):
        c.delete_item(TableName="keep", Key=key(f"h{i % 7}", i))
    c.update_table(
        TableName="keep",
        AttributeDefinitions=[{"AttributeName": "v", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-v", "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}}],
    )
    token_tx(c)


def token_tx(c):
    """One idempotent transaction: ADD 1 to item (tok, 0) under a fixed ClientRequestToken."""
    c.transact_write_items(
        ClientRequestToken="restart-token",
        TransactItems=[{"Update": {"TableName": "keep", "Key": key("tok", 0), "UpdateExpression": "ADD n :one",
                                   "ExpressionAttributeValues": {":one": N(1)}}}],
    )


def reads_of_keep():
    c = ddb()
    out = {"scan": [], "gsi": {}, "lsi": {}, "v": {}}
    for p in c.get_paginator("scan").paginate(TableName="keep", PaginationConfig={"PageSize": 50}):
        out["scan"] += p["Items"]
    for cat in ["c0", "c1", "c2", "c3", "c4", "moved"]:
        items = []
        for p in c.get_paginator("query").paginate(TableName="keep", IndexName=KEEP_GSI, KeyConditionExpression="cat = :c",
                                                   ExpressionAttributeValues={":c": S(cat)}, ScanIndexForward=False):
            items += p["Items"]
        out["gsi"][cat] = items
    for h in range(7):
        r = c.query(TableName="keep", IndexName=KEEP_LSI, KeyConditionExpression="pk = :h AND #r BETWEEN :a AND :b",
                    ExpressionAttributeNames={"#r": "rank"}, ExpressionAttributeValues={":h": S(f"h{h}"), ":a": N(10), ":b": N(60)})
        out["lsi"][h] = r["Items"]
    for v in ["value 1", "updated 3", "value 10"]:
        out["v"][v] = c.query(TableName="keep", IndexName="by-v", KeyConditionExpression="v = :v", ExpressionAttributeValues={":v": S(v)})["Items"]
    d = c.describe_table(TableName="keep")["Table"]
    out["counts"] = [d["ItemCount"], d["TableSizeBytes"]] + [[i["IndexName"], i["ItemCount"]] for i in d["GlobalSecondaryIndexes"] + d["LocalSecondaryIndexes"]]
    return json.loads(json.dumps(out, default=lambda b: list(b)))


def cmd_dump(path):
    out = reads_of_keep()
    check(len(out["scan"]) > 0 and len(out["gsi"]["moved"]) > 0, "nothing to dump")
    with open(path, "w") as f:
        json.dump(out, f)


def cmd_compare(path):
    with open(path) as f:
        want = json.load(f)
    # The client retries its transaction after the restart: the token was saved with the state,
    # so nothing is applied twice (the scan below would show n = 2).
    token_tx(ddb())
    got = reads_of_keep()
    for k in want:
        check(got[k] == want[k], f"{k} differs after the restart")


COMMANDS = {
    "tables": (cmd_tables, 0),
    "items": (cmd_items, 0),
    "reads": (cmd_reads, 0),
    "legacy": (cmd_legacy, 0),
    "batch": (cmd_batch, 0),
    "ttl": (cmd_ttl, 0),
    "grammar": (cmd_grammar, 0),
    "resource": (cmd_resource, 0),
    "fill": (cmd_fill, 1),
    "dump": (cmd_dump, 1),
    "compare": (cmd_compare, 1),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

"""DynamoDB exports to S3 and imports from S3, through boto3.

Usage: dynamodb_transfer.py ENDPOINT COMMAND...
  run       export a table (AWS's layout read back), import DynamoDB JSON (GZIP) and CSV
  restarted after a restart: the transfers are still described, the imported tables hold
"""

import gzip
import json
import sys
import time

import boto3
from botocore.config import Config

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
KW = dict(endpoint_url=ENDPOINT, aws_access_key_id="test", aws_secret_access_key="secret",
          region_name="us-east-1", config=CFG)


def wait(describe, field, arn_field, arn):
    """Poll until the transfer leaves IN_PROGRESS (the server runs it in the background)."""
    for _ in range(600):
        d = describe(**{arn_field: arn})
        d = d.get("ExportDescription") or d.get("ImportTableDescription")
        if d[field] != "IN_PROGRESS":
            return d
        time.sleep(0.1)
    raise AssertionError(f"{arn} still in progress")


def cmd_run():
    c, s3 = boto3.client("dynamodb", **KW), boto3.client("s3", **KW)
    s3.create_bucket(Bucket="exports")
    c.create_table(TableName="src", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                   BillingMode="PAY_PER_REQUEST")
    arn = c.describe_table(TableName="src")["Table"]["TableArn"]
    for i in range(25):
        c.put_item(TableName="src", Item={"pk": {"S": f"k{i:02}"}, "n": {"N": str(i)},
                                         "tags": {"SS": ["a", "b"]}})
    expect_error("PointInTimeRecoveryUnavailableException", c.export_table_to_point_in_time,
                 TableArn=arn, S3Bucket="exports")
    c.update_continuous_backups(TableName="src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    expect_error("TableNotFoundException", c.export_table_to_point_in_time,
                 TableArn=arn.replace("/src", "/nope"), S3Bucket="exports")
    e = c.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="snap",
                                        ClientToken="tok-1")["ExportDescription"]
    check(e["ExportStatus"] == "IN_PROGRESS" and e["ExportArn"].startswith(arn + "/export/"), e)
    again = c.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="snap",
                                            ClientToken="tok-1")["ExportDescription"]
    check(again["ExportArn"] == e["ExportArn"], "a client token repeats the same export")
    d = wait(c.describe_export, "ExportStatus", "ExportArn", e["ExportArn"])
    check(d["ExportStatus"] == "COMPLETED" and d["ItemCount"] == 25, d)
    summary = json.loads(s3.get_object(Bucket="exports", Key=d["ExportManifest"])["Body"].read())
    check(summary["itemCount"] == 25 and summary["exportArn"] == e["ExportArn"], summary)
    files = [json.loads(l) for l in s3.get_object(
        Bucket="exports", Key=summary["manifestFilesS3Key"])["Body"].read().splitlines()]
    items = []
    for f in files:
        body = gzip.decompress(s3.get_object(Bucket="exports", Key=f["dataFileS3Key"])["Body"].read())
        items += [json.loads(l)["Item"] for l in body.splitlines()]
    check(sorted(i["pk"]["S"] for i in items) == [f"k{i:02}" for i in range(25)], items[:2])
    check(any(i == {"pk": {"S": "k03"}, "n": {"N": "3"}, "tags": {"SS": ["a", "b"]}} for i in items),
          "items in DynamoDB JSON")
    key = f"snap/AWSDynamoDB/{e['ExportArn'].rsplit('/', 1)[1]}/_started"
    s3.head_object(Bucket="exports", Key=key)
    listed = c.list_exports(TableArn=arn)["ExportSummaries"]
    check([x["ExportArn"] for x in listed] == [e["ExportArn"]], listed)

    # Import the export's data files back (DynamoDB JSON, GZIP).
    params = {"TableName": "copy", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
              "BillingMode": "PAY_PER_REQUEST"}
    prefix = files[0]["dataFileS3Key"].rsplit("/", 1)[0]
    i = c.import_table(S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": prefix},
                       InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
                       TableCreationParameters=params)["ImportTableDescription"]
    check(i["ImportStatus"] == "IN_PROGRESS", i)
    expect_error("ResourceInUseException", c.import_table,
                 S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": prefix},
                 InputFormat="DYNAMODB_JSON", TableCreationParameters=params)
    d = wait(c.describe_import, "ImportStatus", "ImportArn", i["ImportArn"])
    check(d["ImportStatus"] == "COMPLETED" and d["ImportedItemCount"] == 25
          and d["ErrorCount"] == 0, d)
    got = c.get_item(TableName="copy", Key={"pk": {"S": "k07"}})["Item"]
    check(got == {"pk": {"S": "k07"}, "n": {"N": "7"}, "tags": {"SS": ["a", "b"]}}, got)

    # CSV, with a typed numeric key and a line that cannot be read.
    s3.put_object(Bucket="exports", Key="csv/part1.csv",
                  Body=b"id,name\n1,one\n2,\"two, too\"\n\"broken,3\n")
    i = c.import_table(S3BucketSource={"S3Bucket": "exports", "S3KeyPrefix": "csv/"},
                       InputFormat="CSV", InputFormatOptions={"Csv": {"Delimiter": ","}},
                       TableCreationParameters={
                           "TableName": "fromcsv",
                           "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                           "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}],
                           "BillingMode": "PAY_PER_REQUEST"})["ImportTableDescription"]
    d = wait(c.describe_import, "ImportStatus", "ImportArn", i["ImportArn"])
    check(d["ImportedItemCount"] == 2 and d["ErrorCount"] == 1, d)
    got = c.get_item(TableName="fromcsv", Key={"id": {"N": "2"}})["Item"]
    check(got == {"id": {"N": "2"}, "name": {"S": "two, too"}}, got)
    # A missing bucket fails the import visibly.
    i = c.import_table(S3BucketSource={"S3Bucket": "no-such-bucket"}, InputFormat="CSV",
                       TableCreationParameters=dict(params, TableName="never"))["ImportTableDescription"]
    d = wait(c.describe_import, "ImportStatus", "ImportArn", i["ImportArn"])
    check(d["ImportStatus"] == "FAILED" and d["FailureCode"] == "S3NoSuchBucket", d)
    check(len(c.list_imports()["ImportSummaryList"]) == 3, "three imports")
    expect_error("ExportNotFoundException", c.describe_export, ExportArn=arn + "/export/nope")
    expect_error("ImportNotFoundException", c.describe_import,
                 ImportArn="arn:aws:dynamodb:us-east-1:000000000000:table/x/import/nope")


def cmd_restarted():
    c = boto3.client("dynamodb", **KW)
    exports = c.list_exports()["ExportSummaries"]
    check(len(exports) == 1 and exports[0]["ExportStatus"] == "COMPLETED", exports)
    # A transfer the kill interrupted runs again after the restart: wait for each to end.
    imports = [wait(c.describe_import, "ImportStatus", "ImportArn", i["ImportArn"])
               for i in c.list_imports()["ImportSummaryList"]]
    check(sorted(i["ImportStatus"] for i in imports) == ["COMPLETED", "COMPLETED", "FAILED"],
          imports)
    check(c.scan(TableName="copy", Select="COUNT")["Count"] == 25, "the imported table")
    check(c.scan(TableName="fromcsv", Select="COUNT")["Count"] == 2, "the CSV table")


COMMANDS = {"run": (cmd_run, 0), "restarted": (cmd_restarted, 0)}

if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

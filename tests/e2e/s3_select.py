#!/usr/bin/env python3
"""S3 Select, object encryption and S3's request checks, driven by boto3 (which decodes the
event stream of SelectObjectContent itself: the real client check).

Usage: s3_select.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  select-set BUCKET    objects (CSV, gzip and bzip2 CSV, JSON document and lines) queried with
                       S3 Select (date functions too); UpdateObjectEncryption and SSE-KMS
                       writes; multipart uploads with SSE-KMS and SSE-C; the AWS managed key
                       aws/s3; WriteGetObjectResponse; the enum-valued headers and ListBuckets
                       bounds S3 checks
  select-check BUCKET  after a restart: the same objects answer the same queries, the
                       encryption set before is still reported (and still enforced)
"""

import base64
import bz2
import gzip
import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
ACCOUNT = "000000000000"
_KEY_ARN = []


def key_arn():
    """A customer managed KMS key (alias/s3-select-test), made by the first run, found after a
    restart: S3 really encrypts through it."""
    if not _KEY_ARN:
        kms = boto3.client("kms", endpoint_url=ENDPOINT, aws_access_key_id="test",
                           aws_secret_access_key="secret", region_name="us-east-1", config=CFG)
        try:
            arn = kms.describe_key(KeyId="alias/s3-select-test")["KeyMetadata"]["Arn"]
        except ClientError:
            arn = kms.create_key()["KeyMetadata"]["Arn"]
            kms.create_alias(AliasName="alias/s3-select-test", TargetKeyId=arn)
        _KEY_ARN.append(arn)
    return _KEY_ARN[0]

PEOPLE = "name,age,city\nAnn,31,Oslo\nBob,25,Rome\n# a comment line\nCy,40,\"Oslo, Norway\"\n"
DOC = '{"Rules": [{"id": 1, "tags": ["a"]}, {"id": 2}, {"id": 3, "name": "third"}]}'
LINES = '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n\n{"a": 3}\n'
DATES = "id,at\n1,2007-02-23T12:14:33.079-08:00\n2,2010-01-01T\n3,2021-06-30T23:59Z\n"
# An SSE-C key (and another one), as boto3 takes them (it base64-encodes the key and adds its MD5).
SSE_C_KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PARQUET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "select",
                       "people.parquet")


def s3(**cfg):
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="test",
                        aws_secret_access_key="secret", region_name="us-east-1",
                        config=CFG.merge(Config(**cfg)) if cfg else CFG)


def select(c, bucket, key, sql, inp, out=None, **extra):
    """Run a query; return (records text, the kinds of events in order, stats)."""
    resp = c.select_object_content(Bucket=bucket, Key=key, Expression=sql, ExpressionType="SQL",
                                   InputSerialization=inp,
                                   OutputSerialization=out or {"CSV": {}}, **extra)
    records, kinds, stats = [], [], None
    for event in resp["Payload"]:
        kind = next(iter(event))
        kinds.append(kind)
        if kind == "Records":
            records.append(event["Records"]["Payload"].decode())
        elif kind == "Stats":
            stats = event["Stats"]["Details"]
    return "".join(records), kinds, stats


def put_objects(c, bucket):
    try:
        c.head_bucket(Bucket=bucket)
    except ClientError:
        c.create_bucket(Bucket=bucket)
    c.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE.encode())
    c.put_object(Bucket=bucket, Key="people.csv.gz", Body=gzip.compress(PEOPLE.encode()))
    c.put_object(Bucket=bucket, Key="people.csv.bz2", Body=bz2.compress(PEOPLE.encode()))
    c.put_object(Bucket=bucket, Key="dates.csv", Body=DATES.encode())
    c.put_object(Bucket=bucket, Key="rules.json", Body=DOC.encode())
    c.put_object(Bucket=bucket, Key="lines.json", Body=LINES.encode())
    c.put_object(Bucket=bucket, Key="people.parquet", Body=open(PARQUET, "rb").read())


def queries(c, bucket):
    """The queries whose answers must hold before and after a restart."""
    csv_use = {"CSV": {"FileHeaderInfo": "USE"}}
    got, kinds, stats = select(c, bucket, "people.csv",
                               "SELECT s.name, s.city FROM S3Object s WHERE CAST(s.age AS INT) > 26",
                               csv_use)
    check(got == 'Ann,Oslo\nCy,"Oslo, Norway"\n', got)
    check(kinds == ["Records", "Stats", "End"], kinds)
    check(stats == {"BytesScanned": len(PEOPLE), "BytesProcessed": len(PEOPLE),
                    "BytesReturned": len(got)}, stats)
    got, _, _ = select(c, bucket, "people.csv", "SELECT * FROM S3Object s WHERE s.name LIKE 'B%'",
                       csv_use, {"JSON": {}})
    check(got == '{"name":"Bob","age":"25","city":"Rome"}\n', got)
    got, _, _ = select(c, bucket, "people.csv", "SELECT s._1 FROM S3Object s LIMIT 2",
                       {"CSV": {"FileHeaderInfo": "IGNORE"}})
    check(got == "Ann\nBob\n", got)
    got, _, _ = select(c, bucket, "people.csv",
                       "SELECT COUNT(*), SUM(CAST(s.age AS INT)), MIN(s.name), AVG(s.age) FROM S3Object s",
                       csv_use)
    check(got == "3,96,Ann,32.0\n", got)
    got, kinds, stats = select(c, bucket, "people.csv.gz",
                               "SELECT UPPER(s.name) AS n FROM S3Object s WHERE s.city IN ('Rome')",
                               {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "GZIP"},
                               {"JSON": {}}, RequestProgress={"Enabled": True})
    check(got == '{"n":"BOB"}\n', got)
    check(kinds == ["Records", "Progress", "Stats", "End"], kinds)
    check(stats["BytesProcessed"] == len(PEOPLE) and stats["BytesScanned"] < len(PEOPLE) + 40,
          stats)
    got, _, _ = select(c, bucket, "rules.json",
                       "SELECT r.id, r.name FROM S3Object[*].Rules[*] r WHERE r.id >= 2",
                       {"JSON": {"Type": "DOCUMENT"}}, {"JSON": {}})
    check(got == '{"id":2}\n{"id":3,"name":"third"}\n', got)
    got, _, _ = select(c, bucket, "lines.json", "SELECT s.a, s.b FROM S3Object s WHERE s.a > 1",
                       {"JSON": {"Type": "LINES"}})
    check(got == "2,y\n3,\n", got)
    # Parquet input (Snappy-compressed columns, written by the parquet crate's writer: the
    # fixture is tests/fixtures/select/people.parquet, name, age, an optional score, city).
    got, _, _ = select(c, bucket, "people.parquet",
                       "SELECT s.name, s.score FROM S3Object s WHERE s.age > 26", {"Parquet": {}},
                       {"JSON": {}})
    check(got == '{"name":"Ann","score":9.5}\n{"name":"Cy","score":7.25}\n', got)
    got, _, _ = select(c, bucket, "people.parquet", "SELECT COUNT(*), SUM(s.age) FROM S3Object s",
                       {"Parquet": {}})
    check(got == "3,96\n", got)
    # BZIP2 input (a stream bzip2 wrote).
    got, _, _ = select(c, bucket, "people.csv.bz2",
                       "SELECT s.name FROM S3Object s WHERE CAST(s.age AS INT) < 35",
                       {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "BZIP2"})
    check(got == "Ann\nBob\n", got)
    # The date functions, as the S3 Select reference documents them.
    got, _, _ = select(c, bucket, "dates.csv",
                       "SELECT s.id, EXTRACT(YEAR FROM TO_TIMESTAMP(s.at)), "
                       "TO_STRING(CAST(s.at AS TIMESTAMP), 'MMM d, yyyy'), "
                       "DATE_ADD(month, 13, TO_TIMESTAMP(s.at)), "
                       "DATE_DIFF(day, TO_TIMESTAMP(s.at), `2021-07-02T00:00Z`) "
                       "FROM S3Object s WHERE TO_TIMESTAMP(s.at) < `2021T` "
                       "AND UTCNOW() > `2020T`",
                       {"CSV": {"FileHeaderInfo": "USE"}})
    check(got == "1,2007,\"Feb 23, 2007\",2008-03-23T12:14:33.079-08:00,5242\n"
                 "2,2010,\"Jan 1, 2010\",2011-02-01,4200\n", got)
    # A scan range: the records that start inside it.
    got, _, _ = select(c, bucket, "lines.json", "SELECT s.a FROM S3Object s",
                       {"JSON": {"Type": "LINES"}}, ScanRange={"Start": 1, "End": 20})
    check(got == "2\n", got)


def errors(c, bucket):
    csv = {"CSV": {}}
    for sql, code in [
        ("SELECT * FROM", "InvalidDataSource"),
        ("SELECT s._1 FROM S3Object s WHERE", "ParseExpectedExpression"),
        ("SELECT s._1 FROM S3Object s s", "ParseUnexpectedToken"),
        ("SELECT SUM(*) FROM S3Object", "ParseUnsupportedCallWithStar"),
        ("SELECT NOSUCH(s._1) FROM S3Object s", "UnsupportedFunction"),
    ]:
        e = expect_error(code, c.select_object_content, Bucket=bucket, Key="people.csv",
                         Expression=sql, ExpressionType="SQL", InputSerialization=csv,
                         OutputSerialization=csv)
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    expect_error("InvalidFileHeaderInfo", c.select_object_content, Bucket=bucket,
                 Key="people.csv", Expression="SELECT * FROM S3Object", ExpressionType="SQL",
                 InputSerialization={"CSV": {"FileHeaderInfo": "MAYBE"}},
                 OutputSerialization=csv)
    expect_error("NoSuchKey", c.select_object_content, Bucket=bucket, Key="nope.csv",
                 Expression="SELECT * FROM S3Object", ExpressionType="SQL",
                 InputSerialization=csv, OutputSerialization=csv)
    # An error in the data comes as an error event, after the records before it.
    try:
        select(c, bucket, "people.csv", "SELECT CAST(s._2 AS INT) FROM S3Object s", csv)
        raise AssertionError("a cast of 'age' to INT succeeded")
    except EventStreamError as e:
        check(e.response["Error"]["Code"] == "CastFailed", e.response)
    c.put_object(Bucket=bucket, Key="bad.csv", Body=b"a,\xff\xfe\n")
    try:
        select(c, bucket, "bad.csv", "SELECT * FROM S3Object", csv)
        raise AssertionError("invalid UTF-8 was read")
    except EventStreamError as e:
        check(e.response["Error"]["Code"] == "InvalidTextEncoding", e.response)


def encryption_set(c, bucket):
    head = c.head_object(Bucket=bucket, Key="people.csv")
    check(head["ServerSideEncryption"] == "AES256", head)
    put = c.put_object(Bucket=bucket, Key="kms.txt", Body=b"k", ServerSideEncryption="aws:kms",
                       SSEKMSKeyId=key_arn())
    check(put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key_arn(), put)
    c.update_object_encryption(Bucket=bucket, Key="people.csv", ObjectEncryption={
        "SSEKMS": {"KMSKeyArn": key_arn(), "BucketKeyEnabled": True}})
    after = c.head_object(Bucket=bucket, Key="people.csv")
    check(after["ServerSideEncryption"] == "aws:kms" and after["SSEKMSKeyId"] == key_arn()
          and after["BucketKeyEnabled"] is True, after)
    check(after["ETag"] == head["ETag"] and after["LastModified"] == head["LastModified"],
          "UpdateObjectEncryption keeps the ETag and LastModified")
    # (boto3 checks the ARN's form itself: sent unchecked, S3 refuses it.)
    expect_error("InvalidRequest", s3(parameter_validation=False).update_object_encryption,
                 Bucket=bucket, Key="people.csv",
                 ObjectEncryption={"SSEKMS": {"KMSKeyArn": "alias/mine"}})
    expect_error("AccessDenied", c.update_object_encryption, Bucket=bucket, Key="people.csv",
                 ObjectEncryption={"SSEKMS": {
                     "KMSKeyArn": "arn:aws:kms:us-east-1:111122223333:key/x"}})
    expect_error("NoSuchKey", c.update_object_encryption, Bucket=bucket, Key="nope",
                 ObjectEncryption={"SSEKMS": {"KMSKeyArn": key_arn()}})


def encryption_check(c, bucket):
    after = c.head_object(Bucket=bucket, Key="people.csv")
    check(after["ServerSideEncryption"] == "aws:kms" and after["SSEKMSKeyId"] == key_arn(), after)
    got = c.get_object(Bucket=bucket, Key="kms.txt")
    check(got["ServerSideEncryption"] == "aws:kms" and got["Body"].read() == b"k", got)


def sse_c(key):
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def multipart_encryption_set(c, bucket):
    """Multipart uploads keep the encryption CreateMultipartUpload asked for."""
    context = base64.b64encode(json.dumps({"project": "mp"}).encode()).decode()
    up = c.create_multipart_upload(Bucket=bucket, Key="mp-kms", ServerSideEncryption="aws:kms",
                                   SSEKMSKeyId=key_arn(), SSEKMSEncryptionContext=context,
                                   BucketKeyEnabled=True)
    check(up["ServerSideEncryption"] == "aws:kms" and up["SSEKMSKeyId"] == key_arn()
          and up["BucketKeyEnabled"] is True and up["SSEKMSEncryptionContext"] == context, up)
    uid = up["UploadId"]
    first = c.upload_part(Bucket=bucket, Key="mp-kms", UploadId=uid, PartNumber=1,
                          Body=b"a" * (5 << 20))
    check(first["ServerSideEncryption"] == "aws:kms" and first["SSEKMSKeyId"] == key_arn()
          and first["BucketKeyEnabled"] is True, first)
    second = c.upload_part(Bucket=bucket, Key="mp-kms", UploadId=uid, PartNumber=2, Body=b"b")
    done = c.complete_multipart_upload(Bucket=bucket, Key="mp-kms", UploadId=uid,
                                       MultipartUpload={"Parts": [
                                           {"PartNumber": 1, "ETag": first["ETag"]},
                                           {"PartNumber": 2, "ETag": second["ETag"]}]})
    check(done["ServerSideEncryption"] == "aws:kms" and done["SSEKMSKeyId"] == key_arn()
          and done["BucketKeyEnabled"] is True, done)
    # SSE-C: every part with the same key; the object then needs it on every read.
    up = c.create_multipart_upload(Bucket=bucket, Key="mp-ssec", **sse_c(SSE_C_KEY))
    key_md5 = base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode()
    check(up["SSECustomerAlgorithm"] == "AES256" and up["SSECustomerKeyMD5"] == key_md5, up)
    uid = up["UploadId"]
    e = expect_error("InvalidRequest", c.upload_part, Bucket=bucket, Key="mp-ssec", UploadId=uid,
                     PartNumber=1, Body=b"x")
    check("requested encryption" in e.response["Error"]["Message"], e.response)
    e = expect_error("InvalidRequest", c.upload_part, Bucket=bucket, Key="mp-ssec", UploadId=uid,
                     PartNumber=1, Body=b"x", **sse_c(OTHER_KEY))
    check("did not match" in e.response["Error"]["Message"], e.response)
    part = c.upload_part(Bucket=bucket, Key="mp-ssec", UploadId=uid, PartNumber=1,
                         Body=b"secret", **sse_c(SSE_C_KEY))
    check(part["SSECustomerAlgorithm"] == "AES256" and part["SSECustomerKeyMD5"] == key_md5
          and "ServerSideEncryption" not in part, part)
    c.complete_multipart_upload(Bucket=bucket, Key="mp-ssec", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    # A single PUT with a customer key, and a key whose MD5 is wrong.
    c.put_object(Bucket=bucket, Key="ssec", Body=b"single", **sse_c(SSE_C_KEY))
    expect_error("InvalidArgument", c.put_object, Bucket=bucket, Key="ssec2", Body=b"x",
                 SSECustomerAlgorithm="AES256", SSECustomerKey=base64.b64encode(SSE_C_KEY).decode(),
                 SSECustomerKeyMD5=base64.b64encode(b"0" * 16).decode())  # with the MD5 given, botocore sends the key as is
    # SSE-KMS without a key: the account's AWS managed key aws/s3, created in KMS.
    put = c.put_object(Bucket=bucket, Key="kms-default", Body=b"d", ServerSideEncryption="aws:kms")
    kms = boto3.client("kms", endpoint_url=ENDPOINT, aws_access_key_id="test",
                       aws_secret_access_key="secret", region_name="us-east-1", config=CFG)
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    check(managed["KeyManager"] == "AWS" and put["SSEKMSKeyId"] == managed["Arn"]
          and ":key/" in managed["Arn"], (put, managed))
    multipart_encryption_check(c, bucket)


def multipart_encryption_check(c, bucket):
    head = c.head_object(Bucket=bucket, Key="mp-kms")
    check(head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn()
          and head["BucketKeyEnabled"] is True and head["ContentLength"] == (5 << 20) + 1, head)
    key_md5 = base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode()
    for key, body in [("mp-ssec", b"secret"), ("ssec", b"single")]:
        e = expect_error("400", c.head_object, Bucket=bucket, Key=key)
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
        e = expect_error("InvalidRequest", c.get_object, Bucket=bucket, Key=key)
        check("Server Side Encryption" in e.response["Error"]["Message"], e.response)
        expect_error("AccessDenied", c.get_object, Bucket=bucket, Key=key, **sse_c(OTHER_KEY))
        got = c.get_object(Bucket=bucket, Key=key, **sse_c(SSE_C_KEY))
        check(got["Body"].read() == body and got["SSECustomerKeyMD5"] == key_md5
              and "ServerSideEncryption" not in got, got)
    head = c.head_object(Bucket=bucket, Key="kms-default")
    check(head["ServerSideEncryption"] == "aws:kms" and ":key/" in head["SSEKMSKeyId"], head)


def object_lambda(c):
    """No Object Lambda access point exists here: the token is not one S3 issued. (boto3 would
    put the route in front of the endpoint's host name, which names no host here.)"""
    for client in (s3(inject_host_prefix=False),):
        e = expect_error("InvalidToken", client.write_get_object_response, RequestRoute="io-cell001",
                         RequestToken="token", Body=b"transformed", StatusCode=200)
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)


def request_checks(c, bucket):
    bad = "NotOneOfTheEnumValues"
    raw = s3(parameter_validation=False)
    expect_error("InvalidArgument", raw.create_bucket, Bucket=bucket + "-acl", ACL=bad)
    expect_error("InvalidArgument", raw.create_bucket, Bucket=bucket + "-own", ObjectOwnership=bad)
    for field, code in [("ACL", "InvalidArgument"), ("ServerSideEncryption", "InvalidArgument"),
                        ("StorageClass", "InvalidStorageClass"),
                        ("ObjectLockMode", "InvalidArgument"),
                        ("ObjectLockLegalHoldStatus", "InvalidArgument"),
                        ("ChecksumType", "InvalidRequest")]:
        expect_error(code, raw.create_multipart_upload, Bucket=bucket, Key="mp", **{field: bad})
        if field != "ChecksumType":
            expect_error(code, raw.put_object, Bucket=bucket, Key="p", Body=b"x", **{field: bad})
    # x-amz-request-payer takes only "requester", on every operation that takes it.
    expect_error("InvalidArgument", raw.create_multipart_upload, Bucket=bucket, Key="mp",
                 RequestPayer=bad)
    expect_error("InvalidArgument", raw.put_object, Bucket=bucket, Key="p", Body=b"x",
                 RequestPayer=bad)
    expect_error("InvalidArgument", raw.get_object, Bucket=bucket, Key="people.csv",
                 RequestPayer=bad)
    check(c.head_object(Bucket=bucket, Key="people.csv", RequestPayer="requester")["ETag"],
          "requester accepted")
    expect_error("InvalidArgument", raw.list_buckets, MaxBuckets=10001)
    expect_error("InvalidArgument", raw.list_buckets, MaxBuckets=0)
    for i in range(3):
        c.create_bucket(Bucket=f"{bucket}-page-{i}")
    page = c.list_buckets(MaxBuckets=2, Prefix=f"{bucket}-page-")
    check([b["Name"] for b in page["Buckets"]] == [f"{bucket}-page-0", f"{bucket}-page-1"]
          and page["ContinuationToken"], page)
    rest = c.list_buckets(MaxBuckets=2, Prefix=f"{bucket}-page-",
                          ContinuationToken=page["ContinuationToken"])
    check([b["Name"] for b in rest["Buckets"]] == [f"{bucket}-page-2"]
          and "ContinuationToken" not in rest, rest)
    check(c.list_buckets(BucketRegion="eu-west-3")["Buckets"] == [], "bucket-region filters")


def behaviours(c, bucket):
    """Issue 17's behaviours seen wrong from outside."""
    put = c.put_object(Bucket=bucket, Key="sum", Body=b"checked", ChecksumAlgorithm="CRC32")
    check(put["ChecksumType"] == "FULL_OBJECT" and put["ServerSideEncryption"] == "AES256", put)
    head = c.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    check(head["ChecksumType"] == "FULL_OBJECT" and "ChecksumCRC32" in head, head)
    # A Content-MD5 that is not one is InvalidDigest; a wrong one BadDigest (400s, not retried).
    e = expect_error("InvalidDigest", c.put_object, Bucket=bucket, Key="md5", Body=b"x",
                     ContentMD5="not-a-digest")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    # DeleteObjects with a version that does not exist: an error for that key, not "Deleted".
    vb = bucket + "-versions"
    c.create_bucket(Bucket=vb)
    c.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    real = c.put_object(Bucket=vb, Key="k", Body=b"v")["VersionId"]
    out = c.delete_objects(Bucket=vb, Delete={"Objects": [
        {"Key": "k", "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
        {"Key": "k", "VersionId": real}]})
    check([d["VersionId"] for d in out.get("Deleted", [])] == [real], out)
    check([(x["Key"], x["Code"]) for x in out.get("Errors", [])] == [("k", "NoSuchVersion")], out)


def cmd_select_set(bucket):
    c = s3()
    put_objects(c, bucket)
    queries(c, bucket)
    errors(c, bucket)
    encryption_set(c, bucket)
    multipart_encryption_set(c, bucket)
    object_lambda(c)
    request_checks(c, bucket)
    behaviours(c, bucket)


def cmd_select_check(bucket):
    c = s3()
    queries(c, bucket)
    encryption_check(c, bucket)
    multipart_encryption_check(c, bucket)


COMMANDS = {
    "select-set": (cmd_select_set, 1),
    "select-check": (cmd_select_check, 1),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

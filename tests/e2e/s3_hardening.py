#!/usr/bin/env python3
"""Requests that once destroyed S3 data, driven with boto3 and raw HTTP (issue 15, item 0 and 6-7).

Usage: s3_hardening.py ENDPOINT COMMAND...

  refuse   every sub-resource operation this emulator does not implement answers 501 and touches
           nothing; keys keep their spaces; versioning keeps the `null` version; partNumber,
           SigV2 presigned URLs, control characters and invalid UTF-8 behave as S3 does
  verify   after a restart: every object and version written by `refuse` is still there
  cors     PutBucketCors checks its rules; preflight OPTIONS and actual requests with an Origin
           get S3's CORS headers, or its 403 (path and virtual-host style)
  cors-kept  after a restart: the CORS configuration still answers preflights
  configs  bucket configurations: ACL, encryption, ... and the sub-resources kept in the model's
           shape (lifecycle with S3's checks, website, logging, notification, replication,
           Object Lock with retention and legal holds refusing deletes, analytics, metrics,
           inventory, intelligent-tiering, ABAC, object ACLs, policy status, RestoreObject);
           lifecycle expiry of a Days=1 rule (the server runs with a short test-only day,
           SNAPSTACK_S3_LIFECYCLE_DAY_SECONDS)
  configs-kept  after a restart: every configuration reads back the same, locked versions are
           still refused, and an object that fell due around the restart is expired
"""

import datetime
import hashlib
import sys
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
PRECIOUS = b"precious bytes that must survive"


def s3(key="test", **cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        region_name="us-east-1",
        config=CFG.merge(Config(**cfg)) if cfg else CFG,
    )


def raw(method, path, body=None, headers=None):
    req = urllib.request.Request(ENDPOINT + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def body(c, bucket, key, **kw):
    return c.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def intact(c):
    check(body(c, "hard", "obj") == PRECIOUS, "the object keeps its bytes")
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check("hard" in names and "empty-b" in names, f"the buckets are still there: {names}")
    check("never-created" not in names, f"a sub-resource PUT created no bucket: {names}")


def cmd_refuse():
    c = s3()
    c.create_bucket(Bucket="hard")
    c.create_bucket(Bucket="empty-b")
    c.put_object(Bucket="hard", Key="obj", Body=PRECIOUS)

    # Object sub-resources: the object keeps its bytes.
    # (A key that exists: S3 re-wraps the object's data key with it through KMS.)
    kms = boto3.client("kms", endpoint_url=ENDPOINT, aws_access_key_id="test",
                       aws_secret_access_key="test", region_name="us-east-1")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    c.update_object_encryption(Bucket="hard", Key="obj", ObjectEncryption={
        "SSEKMS": {"KMSKeyArn": key_arn}})
    check(c.head_object(Bucket="hard", Key="obj")["ServerSideEncryption"] == "aws:kms",
          "UpdateObjectEncryption changes the encryption, not the bytes")
    check(c.get_object_torrent(Bucket="hard", Key="obj")["Body"].read().startswith(b"d8:announce"),
          "a torrent of the object")
    expect_error("InvalidArgument", c.rename_object, Bucket="hard", Key="renamed",
                 RenameSource="obj")
    expect_error("InvalidRequest", c.put_object_retention, Bucket="hard", Key="obj",
                 Retention={"Mode": "GOVERNANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"})
    expect_error("InvalidRequest", c.put_object_legal_hold, Bucket="hard", Key="obj",
                 LegalHold={"Status": "ON"})
    attrs = c.get_object_attributes(Bucket="hard", Key="obj",
                                    ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
    check(attrs["ObjectSize"] == len(PRECIOUS) and attrs["StorageClass"] == "STANDARD", f"{attrs}")
    check(attrs["ETag"] == hashlib.md5(PRECIOUS).hexdigest(), f"{attrs}")
    check("Body" not in attrs, "GetObjectAttributes returns no body")
    intact(c)

    # Bucket sub-resources: an empty bucket is not deleted, nothing is listed instead.
    for op in ["delete_bucket_metadata_table_configuration",
               "delete_bucket_metadata_configuration"]:
        expect_error("MetadataConfigurationNotFound", getattr(c, op), Bucket="empty-b")
    expect_error("NoSuchConfiguration", c.delete_bucket_inventory_configuration,
                 Bucket="empty-b", Id="x")
    for op in ["delete_bucket_encryption", "delete_bucket_ownership_controls",
               "delete_public_access_block"]:
        getattr(c, op)(Bucket="empty-b")  # implemented: removes only that configuration
    for op in ["get_bucket_metadata_table_configuration", "get_bucket_metadata_configuration"]:
        expect_error("MetadataConfigurationNotFound", getattr(c, op), Bucket="hard")
    # A sub-resource PUT on a missing bucket creates nothing.
    expect_error("NoSuchBucket", c.put_bucket_acl, Bucket="never-created", ACL="private")
    expect_error("NoSuchBucket", c.put_bucket_lifecycle_configuration, Bucket="never-created",
                 LifecycleConfiguration={"Rules": [{"ID": "r", "Status": "Enabled",
                                                    "Filter": {"Prefix": ""},
                                                    "Expiration": {"Days": 1}}]})
    # A sub-resource a method does not have is refused, not the plain operation.
    status, _ = raw("DELETE", "/empty-b?location")
    check(status == 405, f"DELETE ?location is refused: {status}")
    status, _ = raw("PUT", "/hard/obj?uploadId=abc", body=b"overwrite")
    check(status == 400, f"an upload id without a part number is refused: {status}")
    intact(c)

    # Keys are bytes: DeleteObjects never trims them.
    for k in [" lead", "lead", "trail ", "trail"]:
        c.put_object(Bucket="hard", Key=k, Body=k.encode())
    out = c.delete_objects(Bucket="hard", Delete={"Objects": [{"Key": " lead"}, {"Key": "trail "}]})
    check(sorted(d["Key"] for d in out["Deleted"]) == [" lead", "trail "], f"deleted: {out}")
    left = [o["Key"] for o in c.list_objects_v2(Bucket="hard")["Contents"]]
    check("lead" in left and "trail" in left and " lead" not in left, f"left: {left}")

    # Versioning: the object from before becomes the `null` version.
    c.put_object(Bucket="hard", Key="pre", Body=b"before versioning")
    c.put_bucket_versioning(Bucket="hard", VersioningConfiguration={"Status": "Enabled"})
    v2 = c.put_object(Bucket="hard", Key="pre", Body=b"after")["VersionId"]
    check(body(c, "hard", "pre") == b"after", "the new version is current")
    check(body(c, "hard", "pre", VersionId="null") == b"before versioning", "the null version")
    versions = c.list_object_versions(Bucket="hard", Prefix="pre")["Versions"]
    check(sorted(v["VersionId"] for v in versions) == sorted(["null", v2]), f"{versions}")
    # Suspended: a new null version replaces the null one; the versioned one stays.
    c.put_bucket_versioning(Bucket="hard", VersioningConfiguration={"Status": "Suspended"})
    c.put_object(Bucket="hard", Key="pre", Body=b"suspended")
    check(body(c, "hard", "pre") == b"suspended", "suspended write is current")
    check(body(c, "hard", "pre", VersionId=v2) == b"after", "the versioned one is kept")
    check(body(c, "hard", "pre", VersionId="null") == b"suspended", "null was replaced")
    c.delete_object(Bucket="hard", Key="pre")
    check(body(c, "hard", "pre", VersionId=v2) == b"after", "a suspended delete keeps versions")
    c.put_bucket_versioning(Bucket="hard", VersioningConfiguration={"Status": "Enabled"})

    # partNumber: a simple object is one part; beyond it, S3's 416.
    c.put_object(Bucket="hard", Key="single", Body=b"0123456789")
    check(body(c, "hard", "single", PartNumber=1) == b"0123456789", "part 1 is the object")
    expect_error("InvalidPartNumber", c.get_object, Bucket="hard", Key="single", PartNumber=2)
    up = c.create_multipart_upload(Bucket="hard", Key="mp")["UploadId"]
    parts = []
    for n, chunk in [(1, b"a" * (5 << 20)), (2, b"b" * 10)]:
        etag = c.upload_part(Bucket="hard", Key="mp", UploadId=up, PartNumber=n, Body=chunk)["ETag"]
        parts.append({"ETag": etag, "PartNumber": n})
    c.complete_multipart_upload(Bucket="hard", Key="mp", UploadId=up,
                                MultipartUpload={"Parts": parts})
    # A sealed multipart object keeps its part boundaries (one sealed run per part).
    p2 = c.get_object(Bucket="hard", Key="mp", PartNumber=2)
    check(p2["Body"].read() == b"b" * 10 and p2["PartsCount"] == 2
          and p2["ContentRange"] == f"bytes {5 << 20}-{(5 << 20) + 9}/{(5 << 20) + 10}", f"{p2}")
    parts = c.get_object_attributes(Bucket="hard", Key="mp", ObjectAttributes=["ObjectParts"])
    check(parts["ObjectParts"]["TotalPartsCount"] == 2, f"{parts}")

    # SigV2 presigned URLs (boto3's `s3` signature) carry the account of their access key.
    a = s3(key="111111111111")
    a.create_bucket(Bucket="acct-a")
    a.put_object(Bucket="acct-a", Key="k", Body=b"account a")
    url = s3(key="111111111111", signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": "acct-a", "Key": "k"})
    check("AWSAccessKeyId=111111111111" in url, url)
    with urllib.request.urlopen(url) as r:
        check(r.read() == b"account a", "the presigned v2 URL reads account A's object")

    # Control characters: NUL is refused in keys and tags; others list safely.
    expect_error("InvalidArgument", c.put_object, Bucket="hard", Key="nul\x00key", Body=b"x")
    expect_error("InvalidTag", c.put_bucket_tagging, Bucket="hard",
                 Tagging={"TagSet": [{"Key": "k", "Value": "a\x00b"}]})
    expect_error("InvalidTag", c.put_object_tagging, Bucket="hard", Key="obj",
                 Tagging={"TagSet": [{"Key": "k\x00", "Value": "v"}]})
    c.put_object(Bucket="hard", Key="ctl\x01key\r\n", Body=b"ctl")
    listed = [o["Key"] for o in c.list_objects_v2(Bucket="hard", Prefix="ctl")["Contents"]]
    check(listed == ["ctl\x01key\r\n"], f"listed {listed!r}")
    vlisted = [v["Key"] for v in c.list_object_versions(Bucket="hard", Prefix="ctl")["Versions"]]
    check(vlisted == ["ctl\x01key\r\n"], f"versions listed {vlisted!r}")
    check(body(c, "hard", "ctl\x01key\r\n") == b"ctl", "a control-character key reads back")

    # Invalid UTF-8 in a key is refused and stores nothing.
    status, reply = raw("PUT", "/hard/bad%FF%FE", body=b"x")
    check(status == 400 and b"InvalidURI" in reply, f"invalid UTF-8 key: {status} {reply}")
    status, _ = raw("GET", "/hard?list-type=2&prefix=%FF")
    check(status == 400, f"invalid UTF-8 prefix: {status}")
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="hard")["Contents"]]
    check(not any(k.startswith("bad") for k in keys), f"nothing stored: {keys}")
    intact(c)


def cmd_configs():
    """Configurations kept as documents: set, read back, defaults, deleted with the bucket."""
    c = s3()
    c.create_bucket(Bucket="conf")
    acl = c.get_bucket_acl(Bucket="conf")
    check([g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"], f"default ACL {acl}")
    c.put_bucket_acl(Bucket="conf", ACL="public-read")
    grants = c.get_bucket_acl(Bucket="conf")["Grants"]
    check(any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ"
              for g in grants), f"public-read grants {grants}")
    c.put_bucket_acl(Bucket="conf", GrantRead='uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"')
    grants = c.get_bucket_acl(Bucket="conf")["Grants"]
    check([g["Permission"] for g in grants] == ["READ"], f"grant headers {grants}")
    expect_error("InvalidArgument", c.put_bucket_acl, Bucket="conf", ACL="everyone-please")
    enc = c.get_bucket_encryption(Bucket="conf")["ServerSideEncryptionConfiguration"]
    check(enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", f"{enc}")
    c.put_bucket_encryption(Bucket="conf", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/k"},
         "BucketKeyEnabled": True}]})
    rule = c.get_bucket_encryption(Bucket="conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
    check(rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == "alias/k", f"{rule}")
    check(rule["BucketKeyEnabled"] is True, f"{rule}")
    expect_error("NoSuchPublicAccessBlockConfiguration", c.get_public_access_block, Bucket="conf")
    pab = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
           "RestrictPublicBuckets": False}
    c.put_public_access_block(Bucket="conf", PublicAccessBlockConfiguration=pab)
    check(c.get_public_access_block(Bucket="conf")["PublicAccessBlockConfiguration"] == pab, "pab")
    owner = c.get_bucket_ownership_controls(Bucket="conf")["OwnershipControls"]["Rules"]
    check(owner == [{"ObjectOwnership": "BucketOwnerEnforced"}], f"{owner}")
    # Deleted, a bucket has none (not the default again), as S3 answers and Terraform waits for.
    c.delete_bucket_ownership_controls(Bucket="conf")
    expect_error("OwnershipControlsNotFoundError", c.get_bucket_ownership_controls, Bucket="conf")
    c.put_bucket_ownership_controls(Bucket="conf", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    owner = c.get_bucket_ownership_controls(Bucket="conf")["OwnershipControls"]["Rules"]
    check(owner == [{"ObjectOwnership": "ObjectWriter"}], f"{owner}")
    expect_error("MalformedXML", c.put_bucket_ownership_controls, Bucket="conf",
                 OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]})
    check(c.get_bucket_request_payment(Bucket="conf")["Payer"] == "BucketOwner", "payer")
    c.put_bucket_request_payment(Bucket="conf", RequestPaymentConfiguration={"Payer": "Requester"})
    check(c.get_bucket_request_payment(Bucket="conf")["Payer"] == "Requester", "payer set")
    check("Status" not in c.get_bucket_accelerate_configuration(Bucket="conf"), "accelerate")
    c.put_bucket_accelerate_configuration(Bucket="conf", AccelerateConfiguration={"Status": "Enabled"})
    check(c.get_bucket_accelerate_configuration(Bucket="conf")["Status"] == "Enabled", "acc")
    # Deleting one configuration leaves the others; a deleted bucket takes them all along.
    c.delete_public_access_block(Bucket="conf")
    expect_error("NoSuchPublicAccessBlockConfiguration", c.get_public_access_block, Bucket="conf")
    c.create_bucket(Bucket="conf-gone")
    c.put_bucket_request_payment(Bucket="conf-gone", RequestPaymentConfiguration={"Payer": "Requester"})
    c.delete_bucket(Bucket="conf-gone")
    c.create_bucket(Bucket="conf-gone")
    check(c.get_bucket_request_payment(Bucket="conf-gone")["Payer"] == "BucketOwner", "reset")


LIFECYCLE = {"Rules": [
    {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
    {"ID": "slow", "Status": "Enabled", "Filter": {"Prefix": "slow/"}, "Expiration": {"Days": 8}},
    {"ID": "tagged", "Status": "Disabled",
     "Filter": {"And": {"Prefix": "t/", "Tags": [{"Key": "k", "Value": "v"}]}},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},
    {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "mpu/"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
]}
WEBSITE = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
           "RoutingRules": [{"Condition": {"KeyPrefixEquals": "docs/"},
                             "Redirect": {"ReplaceKeyPrefixWith": "documents/"}}]}
LOGGING = {"LoggingEnabled": {"TargetBucket": "sub-logs", "TargetPrefix": "sub/"}}
NOTIFICATION = {"QueueConfigurations": [{
    "Id": "q", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:events",
    "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}]}
REPLICATION = {"Role": "arn:aws:iam::000000000000:role/replication", "Rules": [{
    "ID": "all", "Status": "Enabled", "Priority": 1, "Filter": {},
    "DeleteMarkerReplication": {"Status": "Disabled"},
    "Destination": {"Bucket": "arn:aws:s3:::sub-logs"}}]}
LOCK = {"ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
KEYED = {
    "analytics": ("AnalyticsConfiguration", {"Id": "a1", "Filter": {"Prefix": "x/"},
                                             "StorageClassAnalysis": {}}),
    "metrics": ("MetricsConfiguration", {"Id": "m1", "Filter": {"Prefix": "x/"}}),
    "inventory": ("InventoryConfiguration", {
        "Id": "i1", "IsEnabled": True, "IncludedObjectVersions": "Current",
        "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::sub-logs",
                                                "Format": "CSV"}},
        "Schedule": {"Frequency": "Daily"}}),
    "intelligent_tiering": ("IntelligentTieringConfiguration", {
        "Id": "t1", "Status": "Enabled", "Tierings": [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}]}),
}
PUBLIC_POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
                 '"Action":"s3:GetObject","Resource":"arn:aws:s3:::sub/*"}]}')


def keys_of(c, bucket):
    return [o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])]


def wait_gone(c, bucket, key, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if key not in keys_of(c, bucket):
            return True
        time.sleep(0.5)
    return False


def cmd_subresources():
    """The sub-resources kept in the model's shape: S3's errors, then round trips."""
    c = s3()
    c.create_bucket(Bucket="sub")
    c.create_bucket(Bucket="sub-logs")
    # Nothing set yet: S3's errors and empty answers.
    expect_error("NoSuchLifecycleConfiguration", c.get_bucket_lifecycle_configuration, Bucket="sub")
    expect_error("NoSuchWebsiteConfiguration", c.get_bucket_website, Bucket="sub")
    expect_error("ReplicationConfigurationNotFoundError", c.get_bucket_replication, Bucket="sub")
    expect_error("ObjectLockConfigurationNotFoundError", c.get_object_lock_configuration,
                 Bucket="sub")
    expect_error("NoSuchBucketPolicy", c.get_bucket_policy_status, Bucket="sub")
    check("LoggingEnabled" not in c.get_bucket_logging(Bucket="sub"), "no logging")
    notif = c.get_bucket_notification_configuration(Bucket="sub")
    check("QueueConfigurations" not in notif, f"no notifications {notif}")
    for kind, (member, cfg) in KEYED.items():
        expect_error("NoSuchConfiguration", getattr(c, f"get_bucket_{kind}_configuration"),
                     Bucket="sub", Id=cfg["Id"])
    # Lifecycle: S3's checks.
    rule = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
    put_lc = c.put_bucket_lifecycle_configuration
    expect_error("InvalidArgument", put_lc, Bucket="sub",
                 LifecycleConfiguration={"Rules": [rule, rule]})
    expect_error("InvalidArgument", put_lc, Bucket="sub", LifecycleConfiguration={"Rules": [
        dict(rule, Expiration={"Days": 0})]})
    expect_error("InvalidRequest", put_lc, Bucket="sub", LifecycleConfiguration={"Rules": [
        {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}}]})
    expect_error("MalformedXML", put_lc, Bucket="sub", LifecycleConfiguration={"Rules": [
        dict(rule, Status="Sometimes")]})
    expect_error("MalformedXML", put_lc, Bucket="sub", LifecycleConfiguration={"Rules": [
        dict(rule, ID=str(i)) for i in range(1001)]})
    expect_error("InvalidRequest", put_lc, Bucket="sub", LifecycleConfiguration={"Rules": [
        {"ID": "r", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
         "Expiration": {"ExpiredObjectDeleteMarker": True}}]})
    out = put_lc(Bucket="sub", LifecycleConfiguration=LIFECYCLE)
    check(out.get("TransitionDefaultMinimumObjectSize") == "all_storage_classes_128K", f"{out}")
    # The others.
    expect_error("InvalidArgument", c.put_bucket_website, Bucket="sub",
                 WebsiteConfiguration={"ErrorDocument": {"Key": "e.html"}})
    c.put_bucket_website(Bucket="sub", WebsiteConfiguration=WEBSITE)
    expect_error("InvalidTargetBucketForLogging", c.put_bucket_logging, Bucket="sub",
                 BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "nowhere-b",
                                                         "TargetPrefix": "x"}})
    c.put_bucket_logging(Bucket="sub", BucketLoggingStatus=LOGGING)
    c.put_bucket_notification_configuration(Bucket="sub", NotificationConfiguration=NOTIFICATION)
    expect_error("InvalidRequest", c.put_bucket_replication, Bucket="sub",
                 ReplicationConfiguration=REPLICATION)
    for b in ["sub", "sub-logs"]:
        c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    c.put_bucket_replication(Bucket="sub", ReplicationConfiguration=REPLICATION)
    for kind, (member, cfg) in KEYED.items():
        getattr(c, f"put_bucket_{kind}_configuration")(Bucket="sub", Id=cfg["Id"], **{member: cfg})
        getattr(c, f"put_bucket_{kind}_configuration")(
            Bucket="sub", Id="gone", **{member: dict(cfg, Id="gone")})
        getattr(c, f"delete_bucket_{kind}_configuration")(Bucket="sub", Id="gone")
    c.put_bucket_abac(Bucket="sub", AbacStatus={"Status": "Enabled"})
    c.put_bucket_policy(Bucket="sub", Policy=PUBLIC_POLICY)
    # Object ACLs, RestoreObject.
    c.put_object(Bucket="sub", Key="acl", Body=b"acl")
    grants = c.get_object_acl(Bucket="sub", Key="acl")["Grants"]
    check([g["Permission"] for g in grants] == ["FULL_CONTROL"], f"default object ACL {grants}")
    c.put_object_acl(Bucket="sub", Key="acl", ACL="public-read")
    expect_error("InvalidObjectState", c.restore_object, Bucket="sub", Key="acl",
                 RestoreRequest={"Days": 1})
    expect_error("NoSuchKey", c.restore_object, Bucket="sub", Key="none", RestoreRequest={"Days": 1})
    # Object Lock: a bucket created with it has versioning on; locked versions are not deleted.
    c.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    check(c.get_bucket_versioning(Bucket="locked")["Status"] == "Enabled", "versioning on")
    c.put_object_lock_configuration(Bucket="locked", ObjectLockConfiguration=LOCK)
    v = c.put_object(Bucket="locked", Key="doc", Body=b"kept")["VersionId"]
    ret = c.get_object_retention(Bucket="locked", Key="doc")["Retention"]
    check(ret["Mode"] == "GOVERNANCE", f"default retention {ret}")
    expect_error("AccessDenied", c.delete_object, Bucket="locked", Key="doc", VersionId=v)
    c.put_object_retention(Bucket="locked", Key="doc", Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": datetime.datetime(2099, 1, 1)})
    expect_error("AccessDenied", c.put_object_retention, Bucket="locked", Key="doc",
                 BypassGovernanceRetention=True,
                 Retention={"Mode": "GOVERNANCE", "RetainUntilDate": datetime.datetime(2099, 1, 1)})
    expect_error("AccessDenied", c.delete_object, Bucket="locked", Key="doc", VersionId=v,
                 BypassGovernanceRetention=True)
    expect_error("NoSuchObjectLockConfiguration", c.get_object_legal_hold, Bucket="locked",
                 Key="doc")
    c.put_object_legal_hold(Bucket="locked", Key="doc", LegalHold={"Status": "ON"})
    out = c.delete_objects(Bucket="locked", Delete={"Objects": [{"Key": "doc", "VersionId": v}]})
    check([e["Code"] for e in out.get("Errors", [])] == ["AccessDenied"], f"{out}")
    # A delete without a version only adds a delete marker.
    check(c.delete_object(Bucket="locked", Key="doc").get("DeleteMarker") is True, "marker")
    check_subresources(c)
    # Lifecycle expiry: a Days=1 rule (a test-only short day) expires `tmp/` objects, not others,
    # and aborts an old multipart upload.
    c.create_bucket(Bucket="expiring")
    c.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration=LIFECYCLE)
    for k in ["tmp/a", "keep", "slow/b"]:
        c.put_object(Bucket="expiring", Key=k, Body=k.encode())
    c.create_multipart_upload(Bucket="expiring", Key="mpu/x")
    check(wait_gone(c, "expiring", "tmp/a", 30), "tmp/a expired by the Days=1 rule")
    deadline = time.time() + 30
    while c.list_multipart_uploads(Bucket="expiring").get("Uploads") and time.time() < deadline:
        time.sleep(0.5)
    check(not c.list_multipart_uploads(Bucket="expiring").get("Uploads"), "upload aborted")
    check("keep" in keys_of(c, "expiring"), "an object no rule matches is kept")
    check("slow/b" in keys_of(c, "expiring"), "slow/b is not due yet (Days=8)")
    # Due around the restart: expired by the server after it (judged by its record's time).
    c.put_object(Bucket="expiring", Key="slow/after-restart", Body=b"later")


def check_subresources(c):
    lc = c.get_bucket_lifecycle_configuration(Bucket="sub")["Rules"]
    check([r["ID"] for r in lc] == ["tmp", "slow", "tagged", "mpu"], f"{lc}")
    check(lc[2]["Filter"]["And"]["Tags"] == [{"Key": "k", "Value": "v"}], f"{lc[2]}")
    check(lc[0]["Expiration"] == {"Days": 1}, f"{lc[0]}")
    web = c.get_bucket_website(Bucket="sub")
    web.pop("ResponseMetadata")
    check(web == WEBSITE, f"website {web}")
    check(c.get_bucket_logging(Bucket="sub")["LoggingEnabled"] == LOGGING["LoggingEnabled"], "log")
    notif = c.get_bucket_notification_configuration(Bucket="sub")
    check(notif["QueueConfigurations"] == NOTIFICATION["QueueConfigurations"], f"{notif}")
    repl = c.get_bucket_replication(Bucket="sub")["ReplicationConfiguration"]
    check(repl == REPLICATION, f"replication {repl}")
    for kind, (member, cfg) in KEYED.items():
        got = getattr(c, f"get_bucket_{kind}_configuration")(Bucket="sub", Id=cfg["Id"])[member]
        check(got == cfg, f"{kind}: {got}")
        listed = getattr(c, f"list_bucket_{kind}_configurations")(Bucket="sub")
        check(listed[f"{member}List"] == [cfg] and listed["IsTruncated"] is False,
              f"{kind} list {listed}")
    check(c.get_bucket_abac(Bucket="sub")["AbacStatus"] == {"Status": "Enabled"}, "abac")
    check(c.get_bucket_policy_status(Bucket="sub")["PolicyStatus"]["IsPublic"] is True, "public")
    grants = c.get_object_acl(Bucket="sub", Key="acl")["Grants"]
    check(any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants), f"{grants}")
    lock = c.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"]
    check(lock == LOCK, f"lock {lock}")
    versions = c.list_object_versions(Bucket="locked", Prefix="doc").get("Versions", [])
    check(len(versions) == 1, f"{versions}")
    v = versions[0]["VersionId"]
    ret = c.get_object_retention(Bucket="locked", Key="doc", VersionId=v)["Retention"]
    check(ret["Mode"] == "COMPLIANCE" and ret["RetainUntilDate"].year == 2099, f"{ret}")
    hold = c.get_object_legal_hold(Bucket="locked", Key="doc", VersionId=v)["LegalHold"]
    check(hold == {"Status": "ON"}, f"{hold}")
    expect_error("AccessDenied", c.delete_object, Bucket="locked", Key="doc", VersionId=v)


def cmd_subresources_kept():
    c = s3()
    check_subresources(c)
    check(wait_gone(c, "expiring", "slow/after-restart", 40),
          "an object that fell due around the restart is expired after it")
    check(wait_gone(c, "expiring", "slow/b", 5), "slow/b expired")
    check("keep" in keys_of(c, "expiring"), "an object no rule matches is kept")
    # Deleting a configuration: S3's error again.
    c.delete_bucket_lifecycle(Bucket="sub")
    expect_error("NoSuchLifecycleConfiguration", c.get_bucket_lifecycle_configuration, Bucket="sub")
    c.delete_bucket_website(Bucket="sub")
    expect_error("NoSuchWebsiteConfiguration", c.get_bucket_website, Bucket="sub")
    c.delete_bucket_replication(Bucket="sub")
    expect_error("ReplicationConfigurationNotFoundError", c.get_bucket_replication, Bucket="sub")


def cmd_configs_kept():
    c = s3()
    check(c.get_bucket_request_payment(Bucket="conf")["Payer"] == "Requester", "payer kept")
    check(c.get_bucket_accelerate_configuration(Bucket="conf")["Status"] == "Enabled", "acc kept")
    rule = c.get_bucket_encryption(Bucket="conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
    check(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", f"{rule}")
    owner = c.get_bucket_ownership_controls(Bucket="conf")["OwnershipControls"]["Rules"]
    check(owner == [{"ObjectOwnership": "ObjectWriter"}], f"{owner}")


def cmd_verify():
    c = s3()
    intact(c)
    left = [o["Key"] for o in c.list_objects_v2(Bucket="hard")["Contents"]]
    check("lead" in left and "trail" in left and " lead" not in left, f"left: {left}")
    versions = c.list_object_versions(Bucket="hard", Prefix="pre")
    # The suspended delete left a `null` delete marker over the versioned object.
    check([m["VersionId"] for m in versions["DeleteMarkers"]] == ["null"], f"{versions}")
    check(len(versions["Versions"]) == 1, f"{versions}")
    check(body(c, "hard", "ctl\x01key\r\n") == b"ctl", "control-character key")
    a = s3(key="111111111111")
    check(body(a, "acct-a", "k") == b"account a", "account A's object")


def http(method, path, headers=None, body=None):
    """A raw request: (status, headers with lowercase names, body)."""
    req = urllib.request.Request(ENDPOINT + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


APP = "https://app.example.com"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
CORS_RULES = {"CORSRules": [
    {"AllowedOrigins": [APP, "http://*.dev.example"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["Content-Type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-version-id"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]}


def preflight(path, origin=APP, method="PUT", req_headers=None, host=None):
    h = {}
    if origin:
        h["Origin"] = origin
    if method:
        h["Access-Control-Request-Method"] = method
    if req_headers:
        h["Access-Control-Request-Headers"] = req_headers
    if host:
        h["Host"] = host
    return http("OPTIONS", path, h)


def check_forbidden(res, message, method, resource, what):
    status, _, b = res
    check(status == 403, f"{what}: 403, got {status} {b!r}")
    check(b"<Code>AccessForbidden</Code>" in b, f"{what}: AccessForbidden {b!r}")
    check(message.encode() in b, f"{what}: message {b!r}")
    check(f"<Method>{method}</Method><ResourceType>{resource}</ResourceType>".encode() in b,
          f"{what}: method and resource type {b!r}")


def check_allowed(h, what):
    check(h.get("access-control-allow-origin") == APP, f"{what}: allow-origin {h}")
    check(h.get("access-control-allow-methods") == "GET, PUT", f"{what}: allow-methods {h}")
    check(h.get("access-control-allow-credentials") == "true", f"{what}: credentials {h}")
    check(h.get("access-control-expose-headers") == "ETag, x-amz-version-id", f"{what}: expose {h}")
    check(h.get("access-control-max-age") == "600", f"{what}: max-age {h}")
    check(h.get("vary") == VARY, f"{what}: vary {h}")


def check_preflights():
    """The preflights `cors` and `cors-kept` expect of the bucket `cors`."""
    status, h, b = preflight("/cors/some/key.txt", req_headers="Content-Type, X-Amz-Date")
    check(status == 200 and b == b"", f"preflight allowed: {status} {b!r}")
    check_allowed(h, "preflight")
    check(h.get("access-control-allow-headers") == "content-type, x-amz-date", f"allow-headers {h}")
    # Virtual-host style, a wildcard origin, no requested headers.
    status, h, _ = preflight("/k", origin="http://web.dev.example", method="GET", host="cors.localhost")
    check(status == 200, f"virtual-host preflight: {status}")
    check(h.get("access-control-allow-origin") == "http://web.dev.example", f"wildcard origin {h}")
    check("access-control-allow-headers" not in h, f"no headers requested, none allowed {h}")
    # A rule whose origin is `*` answers `*`, without credentials.
    status, h, _ = preflight("/cors", origin="http://anyone:1234", method="HEAD")
    check(status == 200 and h.get("access-control-allow-origin") == "*", f"everyone {status} {h}")
    check("access-control-allow-credentials" not in h, f"no credentials for * {h}")
    check(h.get("access-control-allow-methods") == "HEAD", f"{h}")
    # What no rule allows: an origin, a method, a header.
    not_allowed = "CORSResponse: This CORS request is not allowed."
    check_forbidden(preflight("/cors/k", origin="http://app.example.com"), not_allowed, "PUT",
                    "OBJECT", "other origin")
    check_forbidden(preflight("/cors/k", method="DELETE"), not_allowed, "DELETE", "OBJECT", "method")
    check_forbidden(preflight("/cors", req_headers="Authorization"), not_allowed, "PUT", "BUCKET",
                    "header")


def cmd_cors():
    c = s3()
    c.create_bucket(Bucket="cors")
    c.create_bucket(Bucket="cors-none")
    c.put_object(Bucket="cors", Key="k", Body=b"cors body")
    # PutBucketCors checks its rules.
    e = expect_error("InvalidRequest", c.put_bucket_cors, Bucket="cors", CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PATCH"]}]})
    check(e.response["Error"]["Message"]
          == "Found unsupported HTTP method in CORS config. Unsupported method is PATCH", f"{e}")
    expect_error("MalformedXML", c.put_bucket_cors, Bucket="cors",
                 CORSConfiguration={"CORSRules": []})
    expect_error("MalformedXML", c.put_bucket_cors, Bucket="cors", CORSConfiguration={
        "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101})
    expect_error("NoSuchCORSConfiguration", c.get_bucket_cors, Bucket="cors")
    c.put_bucket_cors(Bucket="cors", CORSConfiguration=CORS_RULES)
    got = c.get_bucket_cors(Bucket="cors")["CORSRules"]
    check(got[0]["AllowedOrigins"] == CORS_RULES["CORSRules"][0]["AllowedOrigins"], f"{got}")
    check_preflights()
    # Without Origin, 400; a missing bucket, or one without CORS, 403.
    status, _, b = preflight("/cors/k", origin=None)
    check(status == 400 and b"<Code>BadRequest</Code>" in b, f"no origin: {status} {b!r}")
    check(b"Insufficient information. Origin request header needed." in b, f"{b!r}")
    check_forbidden(preflight("/no-such-cors-bucket/k"), "CORSResponse: Bucket not found", "PUT",
                    "BUCKET", "missing bucket")
    check_forbidden(preflight("/cors-none/k", method=None), "CORSResponse: CORS is not enabled",
                    "OPTIONS", "BUCKET", "no configuration")
    # Actual requests: CORS headers from an allowed origin, on success and on error; none else.
    status, h, b = http("GET", "/cors/k", {"Origin": APP})
    check(status == 200 and b == b"cors body", f"GET with origin {status}")
    check_allowed(h, "GET")
    status, h, _ = http("GET", "/cors/missing", {"Origin": APP})
    check(status == 404, f"missing key {status}")
    check_allowed(h, "error response")
    status, h, b = http("GET", "/cors/k", {"Origin": "https://evil.example"})
    check(status == 200 and b == b"cors body", f"GET from another origin still served {status}")
    check(not any(k.startswith("access-control-") for k in h) and "vary" not in h, f"{h}")
    status, h, _ = http("DELETE", "/cors/nothing-here", {"Origin": APP})
    check(status == 204 and "access-control-allow-origin" not in h, f"DELETE not allowed {h}")
    status, h, _ = http("GET", "/cors-none/", {"Origin": APP})
    check(status == 200 and "access-control-allow-origin" not in h, f"no configuration {h}")
    # Other methods the model does not know are still refused.
    status, _, b = http("PATCH", "/cors/k", {"Origin": APP})
    check(status in (400, 405), f"PATCH refused: {status} {b!r}")
    check(body(c, "cors", "k") == b"cors body", "the object is untouched")
    # A deleted configuration answers no more.
    c.delete_bucket_cors(Bucket="cors-none")
    c.put_bucket_cors(Bucket="cors-none", CORSConfiguration=CORS_RULES)
    c.delete_bucket_cors(Bucket="cors-none")
    check_forbidden(preflight("/cors-none/k"), "CORSResponse: CORS is not enabled", "PUT",
                    "BUCKET", "deleted configuration")


def cmd_cors_kept():
    check(s3().get_bucket_cors(Bucket="cors")["CORSRules"][0]["MaxAgeSeconds"] == 600, "kept")
    check_preflights()


COMMANDS = {"refuse": (cmd_refuse, 0), "verify": (cmd_verify, 0), "configs": (cmd_configs, 0),
            "configs-kept": (cmd_configs_kept, 0), "cors": (cmd_cors, 0),
            "cors-kept": (cmd_cors_kept, 0), "subresources": (cmd_subresources, 0),
            "subresources-kept": (cmd_subresources_kept, 0)}

if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

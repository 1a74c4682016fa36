#!/usr/bin/env python3
"""Drive a running snapstack's S3 with boto3, as a user's program would.

Usage: s3_client.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

  suite                       every bucket and object operation, errors included (fresh server)
  put BUCKET KEY SIZE SEED    create BUCKET if needed, put SIZE pseudo-random bytes
  check BUCKET KEY SIZE SEED  the object holds exactly those bytes
  gone BUCKET KEY             the object does not exist
  multipart BUCKET KEY MIB    a multipart upload of MIB MiB (5 MiB parts), then ranged reads
  stream BUCKET KEY MIB       one PutObject of MIB MiB streamed from a generator
"""

import base64
import hashlib
import http.client
import random
import urllib.parse
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, expect_error, run_commands

ENDPOINT = sys.argv[1]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=300)


def s3(**cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="secret",
        region_name="us-east-1",
        config=CFG.merge(Config(**cfg)) if cfg else CFG,
    )


def data(size, seed):
    """Deterministic bytes that do not repeat (so nothing deduplicates by accident)."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(block + i.to_bytes(8, "little")).digest() * 64
        i += 1
    return bytes(out[:size])


def ensure_bucket(c, bucket):
    try:
        c.head_bucket(Bucket=bucket)
    except ClientError:
        c.create_bucket(Bucket=bucket)


def cmd_put(bucket, key, size, seed):
    c = s3()
    ensure_bucket(c, bucket)
    c.put_object(Bucket=bucket, Key=key, Body=data(int(size), seed))


def cmd_check(bucket, key, size, seed):
    got = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    check(got == data(int(size), seed), f"{bucket}/{key}: {len(got)} bytes differ")


def cmd_gone(bucket, key):
    expect_error("NoSuchKey", s3().get_object, Bucket=bucket, Key=key)


def cmd_multipart(bucket, key, mib):
    c = s3()
    ensure_bucket(c, bucket)
    size = int(mib) << 20
    part = 5 << 20
    body = data(size, "mp")
    up = c.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-test")
    uid = up["UploadId"]
    parts = []
    for n, off in enumerate(range(0, size, part), start=1):
        r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body[off : off + part])
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    listed = c.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    check(len(listed["Parts"]) == len(parts), "ListParts lists every part")
    done = c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    md5s = b"".join(hashlib.md5(body[o : o + part]).digest() for o in range(0, size, part))
    expected = f'"{hashlib.md5(md5s).hexdigest()}-{len(parts)}"'
    check(done["ETag"] == expected, f"multipart ETag {done['ETag']} != {expected}")
    head = c.head_object(Bucket=bucket, Key=key)
    check(head["ContentLength"] == size and head["ContentType"] == "application/x-test", f"head {head}")
    for start, end in [(0, 99), (part - 10, part + 10), (size - 1000, size - 1), (12345, 12345 + (3 << 20))]:
        r = c.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")
        got = r["Body"].read()
        check(got == body[start : end + 1], f"range {start}-{end}")
        check(r["ContentRange"] == f"bytes {start}-{end}/{size}", r["ContentRange"])
    got = c.get_object(Bucket=bucket, Key=key)["Body"].read()
    check(got == body, "the whole multipart object reads back")


def cmd_stream(bucket, key, mib):
    """One PutObject of MIB MiB sent from a generator (a raw request: boto3 would buffer a
    non-seekable body), so neither side ever holds the whole body."""
    c = s3()
    ensure_bucket(c, bucket)
    size = int(mib) << 20
    rng = random.Random(int(mib))

    def body():
        # Fresh pseudo-random bytes for every MiB: nothing deduplicates.
        left = size
        while left:
            n = min(left, 1 << 20)
            yield rng.randbytes(n)
            left -= n

    u = urllib.parse.urlparse(ENDPOINT)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.request("PUT", f"/{bucket}/{key}", body=body(), headers={"Content-Length": str(size)})
    resp = conn.getresponse()
    resp.read()
    check(resp.status == 200, f"streamed PUT: {resp.status}")
    check(c.head_object(Bucket=bucket, Key=key)["ContentLength"] == size, "streamed size")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def raw(method, path, host=None, body=None, headers=None):
    req = urllib.request.Request(ENDPOINT + path, method=method, data=body, headers=headers or {})
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cmd_suite():
    c = s3()
    # Buckets.
    c.create_bucket(Bucket="alpha")
    c.create_bucket(Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check(names == ["alpha", "beta"], f"ListBuckets {names}")
    check(c.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None, "us-east-1 location")
    check(c.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1", "eu location")
    c.create_bucket(Bucket="alpha")  # us-east-1: the owner may create again
    expect_error("BucketAlreadyOwnedByYou", c.create_bucket, Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    expect_error("InvalidBucketName", c.create_bucket, Bucket="No_Such")
    other = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="123456789012",
                         aws_secret_access_key="x", region_name="us-east-1", config=CFG)
    expect_error("BucketAlreadyExists", other.create_bucket, Bucket="alpha")
    check(other.list_buckets()["Buckets"] == [], "accounts see only their buckets")
    expect_error("NoSuchBucket", other.list_objects_v2, Bucket="alpha")
    c.head_bucket(Bucket="alpha")
    expect_error("404", c.head_bucket, Bucket="missing-bucket")
    expect_error("NoSuchBucket", c.list_objects_v2, Bucket="missing-bucket")
    c.put_bucket_tagging(Bucket="alpha", Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    check(c.get_bucket_tagging(Bucket="alpha")["TagSet"] == [{"Key": "team", "Value": "a"}], "bucket tags")
    c.delete_bucket_tagging(Bucket="alpha")
    expect_error("NoSuchTagSet", c.get_bucket_tagging, Bucket="alpha")
    c.put_bucket_cors(Bucket="alpha", CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
    check(c.get_bucket_cors(Bucket="alpha")["CORSRules"][0]["AllowedMethods"] == ["GET"], "cors")
    c.delete_bucket_cors(Bucket="alpha")
    expect_error("NoSuchCORSConfiguration", c.get_bucket_cors, Bucket="alpha")
    policy = '{"Version":"2012-10-17","Statement":[]}'
    c.put_bucket_policy(Bucket="alpha", Policy=policy)
    check(c.get_bucket_policy(Bucket="alpha")["Policy"] == policy, "policy")
    c.delete_bucket_policy(Bucket="alpha")
    expect_error("NoSuchBucketPolicy", c.get_bucket_policy, Bucket="alpha")

    # Objects: headers, metadata, ETag, checksums.
    r = c.put_object(
        Bucket="alpha", Key="docs/a.txt", Body=b"hello world", ContentType="text/plain",
        ContentEncoding="identity", ContentDisposition="inline", CacheControl="no-cache",
        ContentLanguage="en", Expires=datetime(2030, 1, 1, tzinfo=timezone.utc),
        Metadata={"owner": "me"},
    )
    check(r["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"', f"ETag is the MD5: {r['ETag']}")
    g = c.get_object(Bucket="alpha", Key="docs/a.txt")
    check(g["Body"].read() == b"hello world", "body")
    for k, v in [("ContentType", "text/plain"), ("ContentEncoding", "identity"), ("ContentDisposition", "inline"),
                 ("CacheControl", "no-cache"), ("ContentLanguage", "en"), ("Metadata", {"owner": "me"})]:
        check(g[k] == v, f"{k}: {g[k]!r}")
    # CRC32C through boto3 needs awscrt; it is checked with a raw request below.
    for alg in ["CRC32", "SHA1", "SHA256"]:
        body = b"checksum me " + alg.encode()
        r = c.put_object(Bucket="alpha", Key=f"sum/{alg}", Body=body, ChecksumAlgorithm=alg)
        check(r.get(f"Checksum{alg}"), f"{alg} returned on put: {r}")
        h = c.head_object(Bucket="alpha", Key=f"sum/{alg}", ChecksumMode="ENABLED")
        check(h.get(f"Checksum{alg}") == r[f"Checksum{alg}"], f"{alg} on head: {h}")
        check(c.get_object(Bucket="alpha", Key=f"sum/{alg}")["Body"].read() == body, f"{alg} body")
    expect_error("BadDigest", c.put_object, Bucket="alpha", Key="bad", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    status, _ = raw("PUT", "/alpha/badsum", body=b"abc", headers={"x-amz-checksum-crc32": "AAAAAA=="})
    check(status == 400, f"a wrong x-amz-checksum-crc32 is refused: {status}")
    good = base64.b64encode(crc32c(b"abc").to_bytes(4, "big")).decode()
    status, _ = raw("PUT", "/alpha/crc32c", body=b"abc", headers={"x-amz-checksum-crc32c": good})
    check(status == 200, f"a right x-amz-checksum-crc32c is accepted: {status}")
    h = c.head_object(Bucket="alpha", Key="crc32c", ChecksumMode="ENABLED")
    check(h.get("ChecksumCRC32C") == good, f"CRC32C returned: {h}")

    # Conditional and ranged reads.
    etag = g["ETag"]
    expect_error("InvalidRange", c.get_object, Bucket="alpha", Key="docs/a.txt", Range="bytes=100-200")
    check(c.get_object(Bucket="alpha", Key="docs/a.txt", Range="bytes=-5")["Body"].read() == b"world", "suffix range")
    expect_error("PreconditionFailed", c.get_object, Bucket="alpha", Key="docs/a.txt", IfMatch='"nope"')
    check(c.get_object(Bucket="alpha", Key="docs/a.txt", IfMatch=etag)["Body"].read() == b"hello world", "If-Match")
    expect_error("304", c.get_object, Bucket="alpha", Key="docs/a.txt", IfNoneMatch=etag)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    past = datetime.now(timezone.utc) - timedelta(days=1)
    expect_error("304", c.get_object, Bucket="alpha", Key="docs/a.txt", IfModifiedSince=future)
    expect_error("PreconditionFailed", c.get_object, Bucket="alpha", Key="docs/a.txt", IfUnmodifiedSince=past)
    check(c.get_object(Bucket="alpha", Key="docs/a.txt", IfModifiedSince=past)["ContentLength"] == 11, "modified since")
    expect_error("NoSuchKey", c.get_object, Bucket="alpha", Key="nope")
    expect_error("404", c.head_object, Bucket="alpha", Key="nope")

    # Listing.
    for k in ["l/a", "l/b/1", "l/b/2", "l/c", "l/d e+f", "l/ü"]:
        c.put_object(Bucket="alpha", Key=k, Body=k.encode())
    v2 = c.list_objects_v2(Bucket="alpha", Prefix="l/", Delimiter="/")
    check([o["Key"] for o in v2["Contents"]] == ["l/a", "l/c", "l/d e+f", "l/ü"], f"v2 keys {v2.get('Contents')}")
    check([p["Prefix"] for p in v2["CommonPrefixes"]] == ["l/b/"], "common prefixes")
    check(v2["KeyCount"] == 5, f"KeyCount {v2['KeyCount']}")
    keys, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = c.list_objects_v2(Bucket="alpha", Prefix="l/", MaxKeys=2, **kw)
        keys += [o["Key"] for o in page.get("Contents", [])]
        pages += 1
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    check(keys == ["l/a", "l/b/1", "l/b/2", "l/c", "l/d e+f", "l/ü"] and pages == 3, f"pagination {keys} {pages}")
    sa = c.list_objects_v2(Bucket="alpha", Prefix="l/", StartAfter="l/b/2")
    check([o["Key"] for o in sa["Contents"]] == ["l/c", "l/d e+f", "l/ü"], "start-after")
    enc = c.list_objects_v2(Bucket="alpha", Prefix="l/d", EncodingType="url")
    check(enc["Contents"][0]["Key"] == "l/d%20e%2Bf", f"encoding-type=url: {enc['Contents'][0]['Key']}")
    v1 = c.list_objects(Bucket="alpha", Prefix="l/", Delimiter="/", MaxKeys=2)
    check(v1["IsTruncated"] and v1["NextMarker"] == "l/b/", f"v1 {v1.get('NextMarker')}")
    v1b = c.list_objects(Bucket="alpha", Prefix="l/", Delimiter="/", Marker=v1["NextMarker"])
    check([o["Key"] for o in v1b["Contents"]] == ["l/c", "l/d e+f", "l/ü"], "v1 marker")

    # Tagging.
    c.put_object(Bucket="alpha", Key="tagged", Body=b"t", Tagging="a=1&b=2")
    check(c.get_object_tagging(Bucket="alpha", Key="tagged")["TagSet"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}], "tags on put")
    c.put_object_tagging(Bucket="alpha", Key="tagged", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    check(c.get_object_tagging(Bucket="alpha", Key="tagged")["TagSet"] == [{"Key": "x", "Value": "y"}], "put tags")
    c.delete_object_tagging(Bucket="alpha", Key="tagged")
    check(c.get_object_tagging(Bucket="alpha", Key="tagged")["TagSet"] == [], "deleted tags")

    # Copy.
    r = c.copy_object(Bucket="beta", Key="copied", CopySource={"Bucket": "alpha", "Key": "docs/a.txt"})
    check(r["CopyObjectResult"]["ETag"] == etag, "copy keeps the ETag")
    h = c.head_object(Bucket="beta", Key="copied")
    check(h["ContentType"] == "text/plain" and h["Metadata"] == {"owner": "me"}, "COPY directive keeps metadata")
    c.copy_object(Bucket="beta", Key="replaced", CopySource="alpha/docs/a.txt", MetadataDirective="REPLACE",
                  ContentType="application/json", Metadata={"new": "yes"})
    h = c.head_object(Bucket="beta", Key="replaced")
    check(h["ContentType"] == "application/json" and h["Metadata"] == {"new": "yes"}, "REPLACE directive")
    expect_error("InvalidRequest", c.copy_object, Bucket="alpha", Key="docs/a.txt", CopySource="alpha/docs/a.txt")
    expect_error("NoSuchKey", c.copy_object, Bucket="beta", Key="x", CopySource="alpha/nope")

    # Delete.
    c.delete_object(Bucket="alpha", Key="l/a")
    c.delete_object(Bucket="alpha", Key="l/a")  # deleting a missing key succeeds
    d = c.delete_objects(Bucket="alpha", Delete={"Objects": [{"Key": "l/b/1"}, {"Key": "l/b/2"}]})
    check(sorted(x["Key"] for x in d["Deleted"]) == ["l/b/1", "l/b/2"], f"DeleteObjects {d}")
    d = c.delete_objects(Bucket="alpha", Delete={"Objects": [{"Key": "l/c"}], "Quiet": True})
    check("Deleted" not in d, "quiet DeleteObjects lists nothing")
    expect_error("BucketNotEmpty", c.delete_bucket, Bucket="alpha")

    # Versioning.
    c.create_bucket(Bucket="vers")
    check("Status" not in c.get_bucket_versioning(Bucket="vers"), "versioning unset")
    c.put_bucket_versioning(Bucket="vers", VersioningConfiguration={"Status": "Enabled"})
    check(c.get_bucket_versioning(Bucket="vers")["Status"] == "Enabled", "versioning on")
    v1id = c.put_object(Bucket="vers", Key="k", Body=b"one")["VersionId"]
    v2id = c.put_object(Bucket="vers", Key="k", Body=b"two")["VersionId"]
    check(v1id != v2id, "new version ids")
    check(c.get_object(Bucket="vers", Key="k")["Body"].read() == b"two", "latest")
    check(c.get_object(Bucket="vers", Key="k", VersionId=v1id)["Body"].read() == b"one", "old version")
    marker = c.delete_object(Bucket="vers", Key="k")
    check(marker.get("DeleteMarker") is True, f"delete marker {marker}")
    expect_error("NoSuchKey", c.get_object, Bucket="vers", Key="k")
    lv = c.list_object_versions(Bucket="vers")
    check(len(lv["Versions"]) == 2 and len(lv["DeleteMarkers"]) == 1, f"versions {lv}")
    for i in range(3):
        c.put_object(Bucket="vers", Key="m", Body=str(i).encode())
    seen, kw = [], {}
    while True:
        page = c.list_object_versions(Bucket="vers", MaxKeys=2, **kw)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    check(len(seen) == 6 and len(set(seen)) == 6, f"paged versions {seen}")
    c.delete_object(Bucket="vers", Key="k", VersionId=marker["VersionId"])
    check(c.get_object(Bucket="vers", Key="k")["Body"].read() == b"two", "removing the marker restores")
    expect_error("NoSuchVersion", c.get_object, Bucket="vers", Key="k", VersionId="nope")

    # Multipart edge cases.
    up = c.create_multipart_upload(Bucket="alpha", Key="mp")
    uid = up["UploadId"]
    p1 = c.upload_part(Bucket="alpha", Key="mp", UploadId=uid, PartNumber=1, Body=b"a" * 100)
    p2 = c.upload_part(Bucket="alpha", Key="mp", UploadId=uid, PartNumber=2, Body=b"b" * 100)
    ups = c.list_multipart_uploads(Bucket="alpha")["Uploads"]
    check([u["UploadId"] for u in ups] == [uid], "ListMultipartUploads")
    expect_error("EntityTooSmall", c.complete_multipart_upload, Bucket="alpha", Key="mp", UploadId=uid,
                 MultipartUpload={"Parts": [{"ETag": p1["ETag"], "PartNumber": 1}, {"ETag": p2["ETag"], "PartNumber": 2}]})
    expect_error("InvalidPartOrder", c.complete_multipart_upload, Bucket="alpha", Key="mp", UploadId=uid,
                 MultipartUpload={"Parts": [{"ETag": p2["ETag"], "PartNumber": 2}, {"ETag": p1["ETag"], "PartNumber": 1}]})
    expect_error("InvalidPart", c.complete_multipart_upload, Bucket="alpha", Key="mp", UploadId=uid,
                 MultipartUpload={"Parts": [{"ETag": '"0000"', "PartNumber": 1}]})
    pc = c.upload_part_copy(Bucket="alpha", Key="mp", UploadId=uid, PartNumber=3, CopySource="alpha/docs/a.txt", CopySourceRange="bytes=0-4")
    check(pc["CopyPartResult"]["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"', "UploadPartCopy with a range")
    done = c.complete_multipart_upload(Bucket="alpha", Key="mp", UploadId=uid,
                                       MultipartUpload={"Parts": [{"ETag": pc["CopyPartResult"]["ETag"], "PartNumber": 3}]})
    check(c.get_object(Bucket="alpha", Key="mp")["Body"].read() == b"hello", f"single-part completion {done}")
    # Copy-source conditions.
    src_etag = c.head_object(Bucket="alpha", Key="docs/a.txt")["ETag"]
    c.copy_object(Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt", CopySourceIfMatch=src_etag)
    expect_error("PreconditionFailed", c.copy_object, Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt",
                 CopySourceIfMatch='"0000"')
    expect_error("PreconditionFailed", c.copy_object, Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt",
                 CopySourceIfNoneMatch=src_etag)
    far = datetime(2100, 1, 1, tzinfo=timezone.utc)
    expect_error("PreconditionFailed", c.copy_object, Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt",
                 CopySourceIfModifiedSince=far)
    c.copy_object(Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt", CopySourceIfUnmodifiedSince=far)
    expect_error("PreconditionFailed", c.copy_object, Bucket="alpha", Key="cc", CopySource="alpha/docs/a.txt",
                 CopySourceIfUnmodifiedSince=datetime(2000, 1, 1, tzinfo=timezone.utc))

    # Conditional writes: If-None-Match: * creates only; If-Match replaces only that version.
    c.put_object(Bucket="alpha", Key="cond", Body=b"first", IfNoneMatch="*")
    expect_error("PreconditionFailed", c.put_object, Bucket="alpha", Key="cond", Body=b"again", IfNoneMatch="*")
    first = c.head_object(Bucket="alpha", Key="cond")["ETag"]
    second = c.put_object(Bucket="alpha", Key="cond", Body=b"second", IfMatch=first)["ETag"]
    expect_error("PreconditionFailed", c.put_object, Bucket="alpha", Key="cond", Body=b"lost", IfMatch=first)
    expect_error("NoSuchKey", c.put_object, Bucket="alpha", Key="cond-none", Body=b"x", IfMatch=first)
    check(c.get_object(Bucket="alpha", Key="cond")["Body"].read() == b"second", "a failed conditional put changes nothing")
    up3 = c.create_multipart_upload(Bucket="alpha", Key="cond")
    p3 = c.upload_part(Bucket="alpha", Key="cond", UploadId=up3["UploadId"], PartNumber=1, Body=b"third")
    parts3 = {"Parts": [{"ETag": p3["ETag"], "PartNumber": 1}]}
    expect_error("PreconditionFailed", c.complete_multipart_upload, Bucket="alpha", Key="cond",
                 UploadId=up3["UploadId"], MultipartUpload=parts3, IfNoneMatch="*")
    c.complete_multipart_upload(Bucket="alpha", Key="cond", UploadId=up3["UploadId"], MultipartUpload=parts3, IfMatch=second)
    check(c.get_object(Bucket="alpha", Key="cond")["Body"].read() == b"third", "conditional multipart completion")
    status, _ = raw("PUT", "/alpha/cond", body=b"x", headers={"If-None-Match": '"abc"'})
    check(status == 501, f"If-None-Match other than * is not implemented: {status}")

    up2 = c.create_multipart_upload(Bucket="alpha", Key="aborted")
    c.abort_multipart_upload(Bucket="alpha", Key="aborted", UploadId=up2["UploadId"])
    expect_error("NoSuchUpload", c.list_parts, Bucket="alpha", Key="aborted", UploadId=up2["UploadId"])
    expect_error("NoSuchUpload", c.upload_part, Bucket="alpha", Key="aborted", UploadId="nope", PartNumber=1, Body=b"x")

    # Virtual-host addressing, by Host header.
    status, body = raw("GET", "/docs/a.txt", host="alpha.localhost")
    check(status == 200 and body == b"hello world", f"<bucket>.localhost: {status}")
    status, body = raw("GET", "/docs/a.txt", host="alpha.s3.localhost.localstack.cloud:4566")
    check(status == 200 and body == b"hello world", f"<bucket>.s3.<anything>: {status}")
    status, body = raw("GET", "/", host="alpha.localhost")
    check(status == 200 and b"<Key>docs/a.txt</Key>" in body, "virtual-host listing")

    # Emptying and deleting a bucket.
    for o in c.list_objects_v2(Bucket="beta")["Contents"]:
        c.delete_object(Bucket="beta", Key=o["Key"])
    c.delete_bucket(Bucket="beta")
    expect_error("NoSuchBucket", c.get_bucket_location, Bucket="beta")


def cmd_metadata_set(bucket):
    """S3 Metadata (V2) on BUCKET, a session and a torrent; the V1 API on BUCKET-v1."""
    c = s3()
    ensure_bucket(c, bucket)
    expect_error("MetadataConfigurationNotFound", c.get_bucket_metadata_configuration,
                 Bucket=bucket)
    expect_error("InvalidRequest", c.create_bucket_metadata_configuration, Bucket=bucket,
                 MetadataConfiguration={"JournalTableConfiguration": {
                     "RecordExpiration": {"Expiration": "ENABLED", "Days": 3}}})
    c.create_bucket_metadata_configuration(Bucket=bucket, MetadataConfiguration={
        "JournalTableConfiguration": {"RecordExpiration": {"Expiration": "ENABLED", "Days": 10}},
        "InventoryTableConfiguration": {"ConfigurationState": "DISABLED"}})
    expect_error("MetadataConfigurationAlreadyExists", c.create_bucket_metadata_configuration,
                 Bucket=bucket, MetadataConfiguration={"JournalTableConfiguration": {
                     "RecordExpiration": {"Expiration": "DISABLED"}}})
    c.update_bucket_metadata_inventory_table_configuration(
        Bucket=bucket, InventoryTableConfiguration={"ConfigurationState": "ENABLED"})
    c.update_bucket_metadata_journal_table_configuration(
        Bucket=bucket, JournalTableConfiguration={
            "RecordExpiration": {"Expiration": "ENABLED", "Days": 30}})
    expect_error("MethodNotAllowed", c.get_bucket_metadata_table_configuration, Bucket=bucket)
    # V1 on another bucket.
    v1 = bucket + "-v1"
    ensure_bucket(c, v1)
    c.create_bucket_metadata_table_configuration(Bucket=v1, MetadataTableConfiguration={
        "S3TablesDestination": {
            "TableBucketArn": "arn:aws:s3tables:us-east-1:000000000000:bucket/mine",
            "TableName": "journal_v1"}})
    got = c.get_bucket_metadata_table_configuration(Bucket=v1)[
        "GetBucketMetadataTableConfigurationResult"]
    check(got["Status"] == "ACTIVE", got)
    dest = got["MetadataTableConfigurationResult"]["S3TablesDestinationResult"]
    check(dest["TableName"] == "journal_v1"
          and dest["TableArn"].startswith("arn:aws:s3tables:us-east-1:000000000000:bucket/mine/table/"),
          dest)
    # A session.
    sess = c.create_session(Bucket=bucket, SessionMode="ReadOnly")
    cred = sess["Credentials"]
    check(cred["AccessKeyId"].startswith("ASIA") and cred["SessionToken"]
          and sess["ServerSideEncryption"] == "AES256", sess)
    expect_error("NoSuchBucket", c.create_session, Bucket=bucket + "-none")
    # A torrent of a 600 KiB object: three 256 KiB pieces.
    body = data(600 * 1024, 7)
    c.put_object(Bucket=bucket, Key="dir/t.bin", Body=body)
    t = c.get_object_torrent(Bucket=bucket, Key="dir/t.bin")["Body"].read()
    pieces = b"".join(hashlib.sha1(body[i:i + 262144]).digest()
                      for i in range(0, len(body), 262144))
    check(t.startswith(b"d8:announce") and b"6:lengthi614400e" in t
          and b"4:name5:t.bin" in t and b"6:pieces60:" + pieces + b"ee" in t, t[:120])
    expect_error("NoSuchKey", c.get_object_torrent, Bucket=bucket, Key="nope")
    # RenameObject: the record moves, everything about the object stays.
    c.put_object(Bucket=bucket, Key="r/a.txt", Body=b"renamed body", Metadata={"k": "v"},
                 Tagging="t=1", ContentType="text/plain")
    c.put_object(Bucket=bucket, Key="r/other.txt", Body=b"other")
    before = c.head_object(Bucket=bucket, Key="r/a.txt")
    expect_error("PreconditionFailed", c.rename_object, Bucket=bucket, Key="r/other.txt",
                 RenameSource=f"{bucket}/r/a.txt", DestinationIfNoneMatch="*")
    expect_error("PreconditionFailed", c.rename_object, Bucket=bucket, Key="r/b.txt",
                 RenameSource=f"{bucket}/r/a.txt", SourceIfMatch='"0000"')
    c.rename_object(Bucket=bucket, Key="r/b.txt", RenameSource=f"{bucket}/r/a.txt",
                    DestinationIfNoneMatch="*")
    expect_error("404", c.head_object, Bucket=bucket, Key="r/a.txt")
    after = c.head_object(Bucket=bucket, Key="r/b.txt")
    for field in ("ETag", "LastModified", "Metadata", "ContentType", "ContentLength"):
        check(after[field] == before[field], (field, before[field], after[field]))
    check(c.get_object_tagging(Bucket=bucket, Key="r/b.txt")["TagSet"]
          == [{"Key": "t", "Value": "1"}], "tags move with the object")
    expect_error("NoSuchKey", c.rename_object, Bucket=bucket, Key="r/c.txt",
                 RenameSource=f"{bucket}/r/a.txt")
    vb = bucket + "-versioned"
    ensure_bucket(c, vb)
    c.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    c.put_object(Bucket=vb, Key="x", Body=b"x")
    expect_error("InvalidRequest", c.rename_object, Bucket=vb, Key="y", RenameSource=f"{vb}/x")


def cmd_metadata_check(bucket):
    """What metadata-set left, after a restart."""
    c = s3()
    got = c.get_bucket_metadata_configuration(Bucket=bucket)[
        "GetBucketMetadataConfigurationResult"]["MetadataConfigurationResult"]
    check(got["DestinationResult"] == {
        "TableBucketType": "aws",
        "TableBucketArn": "arn:aws:s3tables:us-east-1:000000000000:bucket/aws-s3",
        "TableNamespace": "b_" + bucket.replace("-", "_").replace(".", "_")}, got)
    j = got["JournalTableConfigurationResult"]
    check(j["TableStatus"] == "ACTIVE" and j["TableName"] == "journal"
          and j["RecordExpiration"] == {"Expiration": "ENABLED", "Days": 30}, j)
    inv = got["InventoryTableConfigurationResult"]
    check(inv["ConfigurationState"] == "ENABLED" and inv["TableName"] == "inventory", inv)
    v1 = c.get_bucket_metadata_configuration(Bucket=bucket + "-v1")[
        "GetBucketMetadataConfigurationResult"]["MetadataConfigurationResult"]
    check(v1["DestinationResult"]["TableBucketType"] == "customer", v1)
    check(c.get_object(Bucket=bucket, Key="r/b.txt")["Body"].read() == b"renamed body",
          "a renamed object reads back after a restart")
    expect_error("404", c.head_object, Bucket=bucket, Key="r/a.txt")
    c.delete_bucket_metadata_configuration(Bucket=bucket)
    expect_error("MetadataConfigurationNotFound", c.get_bucket_metadata_configuration,
                 Bucket=bucket)
    c.delete_bucket_metadata_table_configuration(Bucket=bucket + "-v1")
    expect_error("MetadataConfigurationNotFound", c.get_bucket_metadata_table_configuration,
                 Bucket=bucket + "-v1")


COMMANDS = {
    "suite": (cmd_suite, 0),
    "put": (cmd_put, 4),
    "check": (cmd_check, 4),
    "gone": (cmd_gone, 2),
    "multipart": (cmd_multipart, 3),
    "stream": (cmd_stream, 3),
    "metadata-set": (cmd_metadata_set, 1),
    "metadata-check": (cmd_metadata_check, 1),
}


if __name__ == "__main__":
    run_commands(COMMANDS, sys.argv[2:])

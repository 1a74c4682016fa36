#!/usr/bin/env python3
"""Drive a running snapstack with boto3, as a user's program would.

Usage: client.py ENDPOINT COMMAND [ARGS]... [COMMAND [ARGS]...]...

Commands run in order; the first failing check exits non-zero with a message.
  ctx ACCOUNT REGION      use this access key id (an account id or any key) and region from now on
  put NAME VALUE          PutParameter (String, Overwrite)
  get NAME VALUE          GetParameter must return VALUE
  missing NAME            GetParameter must fail with ParameterNotFound
  putfails NAME VALUE CODE  PutParameter must fail with CODE and a 5xx status
  burst PREFIX N          N concurrent PutParameter calls PREFIX0..PREFIX{N-1} = "v<i>"
  getburst PREFIX N       each PREFIX<i> must hold "v<i>"
  sts ACCOUNT             GetCallerIdentity must name ACCOUNT
  assume ROLE_ARN SESSION FILE  AssumeRole; the credentials and assumed-role user go to FILE (JSON)
  whoami FILE             GetCallerIdentity signed with FILE's credentials must be its role session
  stssuite                STS semantics through boto3: every operation, validation, errors
  suite                   SSM semantics through boto3 (fresh server, default account)
  errors                  error shapes: malformed JSON, unknown operations, missing parameters
  ssmext-prepare FILE     documents, a command and a maintenance window; their ids to FILE
  ssmext-check FILE       what ssmext-prepare made is all there (after a restart)
"""

import base64
import datetime
import json
import socket
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, expect_error

ENDPOINT = sys.argv[1]
STATE = {"account": "test", "region": "us-east-1"}
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)


def client(service, validate=True):
    cfg = CFG if validate else CFG.merge(Config(parameter_validation=False))
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        aws_access_key_id=STATE["account"],
        aws_secret_access_key="secret",
        region_name=STATE["region"],
        config=cfg,
    )


def cmd_put(name, value):
    client("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def cmd_get(name, value):
    got = client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    check(got == value, f"{name}: expected {value!r}, got {got!r}")


def cmd_missing(name):
    expect_error("ParameterNotFound", client("ssm").get_parameter, Name=name)


def cmd_putfails(name, value, code):
    e = expect_error(code, client("ssm").put_parameter, Name=name, Value=value, Type="String",
                     Overwrite=True)
    status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    check(500 <= status < 600, f"status {status}")


def cmd_burst(prefix, n):
    n = int(n)
    ssm = client("ssm")

    def put(i):
        ssm.put_parameter(Name=f"{prefix}{i}", Value=f"v{i}", Type="String", Overwrite=True)

    with ThreadPoolExecutor(max_workers=16) as ex:
        list(ex.map(put, range(n)))


def cmd_getburst(prefix, n):
    ssm = client("ssm")
    for i in range(int(n)):
        got = ssm.get_parameter(Name=f"{prefix}{i}")["Parameter"]["Value"]
        check(got == f"v{i}", f"{prefix}{i}: got {got!r}")


def cmd_sts(account):
    ident = client("sts").get_caller_identity()
    check(ident["Account"] == account, f"account {ident['Account']} != {account}")
    check(ident["Arn"] == f"arn:aws:iam::{account}:root", ident["Arn"])
    check(ident["UserId"], "no UserId")


def cmd_assume(role_arn, session, path):
    r = client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
    creds, user = r["Credentials"], r["AssumedRoleUser"]
    key = creds["AccessKeyId"]
    check(key.startswith("ASIA") and len(key) == 20 and key.isalnum() and key.isupper(), key)
    account, role_name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    check(user["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", user)
    check(user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":" + session), user)
    left = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(3500 < left <= 3601, f"expires in {left} s")
    with open(path, "w") as f:
        json.dump({"AccessKeyId": key, "SecretAccessKey": creds["SecretAccessKey"],
                   "SessionToken": creds["SessionToken"], "Arn": user["Arn"],
                   "AssumedRoleId": user["AssumedRoleId"], "Account": account}, f)


def session_client(service, creds):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=STATE["region"], config=CFG,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def cmd_whoami(path):
    with open(path) as f:
        saved = json.load(f)
    ident = session_client("sts", saved).get_caller_identity()
    check(ident["Arn"] == saved["Arn"], f"{ident['Arn']} != {saved['Arn']}")
    check(ident["UserId"] == saved["AssumedRoleId"], ident)
    check(ident["Account"] == saved["Account"], ident)
    info = client("sts").get_access_key_info(AccessKeyId=saved["AccessKeyId"])
    check(info["Account"] == saved["Account"], info)


def cmd_stssuite():
    sts = client("sts")
    loose = client("sts", validate=False)
    role = "arn:aws:iam::123456789012:role/app"
    # Validation in STS's words (botocore checks lengths itself; patterns and ranges are the server's).
    e = expect_error("ValidationError", sts.assume_role, RoleArn=role, RoleSessionName="bad name")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    check(e.response["Error"]["Message"] ==
          "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy "
          "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
          e.response["Error"]["Message"])
    e = expect_error("ValidationError", loose.assume_role, RoleArn=role, RoleSessionName="ok",
                     DurationSeconds=60)
    check("Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value "
          "greater than or equal to 900" in e.response["Error"]["Message"], e.response)
    e = expect_error("ValidationError", loose.assume_role, RoleSessionName="ok")
    check("Value null at 'roleArn'" in e.response["Error"]["Message"], e.response)
    expect_error("ValidationError", sts.assume_role, RoleArn="not-an-arn-at-all-really", RoleSessionName="ok")
    expect_error("MalformedPolicyDocument", sts.assume_role, RoleArn=role, RoleSessionName="ok",
                 Policy="{not json")

    # Policies, tags and chaining.
    r = sts.assume_role(RoleArn=role, RoleSessionName="tagged", DurationSeconds=900,
                        Policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
                        Tags=[{"Key": "team", "Value": "core"}], TransitiveTagKeys=["team"],
                        SourceIdentity="alice")
    check(1 <= r["PackedPolicySize"] <= 100 and r["SourceIdentity"] == "alice", r)
    expect_error("InvalidParameterValue", sts.assume_role, RoleArn=role, RoleSessionName="ok",
                 Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    chained = session_client("sts", r["Credentials"])
    e = expect_error("ValidationError", chained.assume_role, RoleArn=role, RoleSessionName="cc",
                     DurationSeconds=7200)
    check("role chaining" in e.response["Error"]["Message"], e.response)
    c = chained.assume_role(RoleArn="arn:aws:iam::210987654321:role/other", RoleSessionName="cc")
    ident = session_client("sts", c["Credentials"]).get_caller_identity()
    check(ident["Arn"] == "arn:aws:sts::210987654321:assumed-role/other/cc", ident)
    e = expect_error("AccessDenied", chained.get_session_token)
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response)

    # Session and federation tokens.
    t = sts.get_session_token()
    left = (t["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(43100 < left <= 43201, left)
    ident = session_client("sts", t["Credentials"]).get_caller_identity()
    check(ident["Arn"] == f"arn:aws:iam::{ident['Account']}:root", ident)
    expect_error("ValidationError", loose.get_session_token, DurationSeconds=129601)
    f = sts.get_federation_token(Name="bob", DurationSeconds=900)
    check(f["FederatedUser"]["Arn"].endswith(":federated-user/bob"), f)
    ident = session_client("sts", f["Credentials"]).get_caller_identity()
    check(ident["Arn"] == f["FederatedUser"]["Arn"], ident)

    # Root sessions, web identity, SAML.
    root = sts.assume_root(TargetPrincipal="444455556666",
                           TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"})
    ident = session_client("sts", root["Credentials"]).get_caller_identity()
    check(ident["Arn"] == "arn:aws:iam::444455556666:root", ident)

    def b64url(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    token = b64url({"alg": "RS256"}) + "." + b64url({"sub": "user-1", "iss": "https://idp.example.com", "aud": "cli"}) + ".sig"
    w = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="web", WebIdentityToken=token)
    check(w["SubjectFromWebIdentityToken"] == "user-1" and w["Audience"] == "cli", w)
    check(w["Provider"] == "https://idp.example.com", w)
    saml = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Issuer>https://idp.example.com</saml:Issuer>'
            '<saml:Assertion><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">'
            'u1</saml:NameID></saml:Subject><saml:AttributeStatement>'
            '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">'
            '<saml:AttributeValue>carol</saml:AttributeValue></saml:Attribute>'
            '</saml:AttributeStatement></saml:Assertion></samlp:Response>')
    s = sts.assume_role_with_saml(RoleArn=role, PrincipalArn="arn:aws:iam::123456789012:saml-provider/idp",
                                  SAMLAssertion=base64.b64encode(saml.encode()).decode())
    check(s["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/carol", s)
    check(s["Subject"] == "u1" and s["SubjectType"] == "transient" and s["NameQualifier"], s)

    # Keys, messages, outbound federation (off until IAM turns it on), delegated access.
    check(sts.get_access_key_info(AccessKeyId=c["Credentials"]["AccessKeyId"])["Account"] == "210987654321", c)
    m = sts.decode_authorization_message(EncodedMessage="opaque")
    check(m["DecodedMessage"] == "opaque", m)
    e = expect_error("OutboundWebIdentityFederationDisabledException", sts.get_web_identity_token,
                     Audience=["a"], SigningAlgorithm="RS256")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response)
    e = expect_error("ExpiredTradeInTokenException", sts.get_delegated_access_token, TradeInToken="t")
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jwt(token, account):
    """Check a token's signature against the JWKS the server publishes for the account."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    head, body, sig = token.split(".")
    header, claims = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
    with urllib.request.urlopen(f"{ENDPOINT}/_aws/sts/{account}/.well-known/jwks.json", timeout=30) as r:
        keys = {k["kid"]: k for k in json.load(r)["keys"]}
    jwk = keys[header["kid"]]
    num = lambda v: int.from_bytes(b64url_decode(v), "big")  # noqa: E731
    data, raw = f"{head}.{body}".encode(), b64url_decode(sig)
    if header["alg"] == "RS256":
        key = rsa.RSAPublicNumbers(num(jwk["e"]), num(jwk["n"])).public_key()
        key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        key = ec.EllipticCurvePublicNumbers(num(jwk["x"]), num(jwk["y"]), ec.SECP384R1()).public_key()
        der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
        key.verify(der, data, ec.ECDSA(hashes.SHA384()))
    return header, claims


def cmd_jwt(path):
    """Outbound identity federation: IAM turns it on, STS signs tokens the JWKS verifies."""
    account = client("sts").get_caller_identity()["Account"]
    issuer = client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    sts = client("sts")
    tokens = {}
    for alg in ["RS256", "ES384"]:
        r = sts.get_web_identity_token(Audience=["https://api.example.com"], SigningAlgorithm=alg,
                                       DurationSeconds=600, Tags=[{"Key": "job", "Value": "42"}])
        left = (r["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        check(590 < left <= 601, left)
        header, claims = verify_jwt(r["WebIdentityToken"], account)
        check(header["alg"] == alg and claims["iss"] == issuer, (header, claims))
        check(claims["aud"] == "https://api.example.com" and claims["sub"] == f"arn:aws:iam::{account}:root", claims)
        check(claims["exp"] - claims["iat"] == 600, claims)
        check(claims["https://sts.amazonaws.com/"]["request_tags"] == {"job": "42"}, claims)
        check(claims["https://sts.amazonaws.com/"]["aws_account"] == account, claims)
        tokens[alg] = r["WebIdentityToken"]
    loose = client("sts", validate=False)
    expect_error("ValidationError", loose.get_web_identity_token, Audience=["a"], SigningAlgorithm="HS256")
    expect_error("ValidationError", loose.get_web_identity_token, Audience=["a"], SigningAlgorithm="RS256",
                 DurationSeconds=30)
    with urllib.request.urlopen(f"{ENDPOINT}/_aws/sts/{account}/.well-known/openid-configuration", timeout=30) as r:
        check(json.load(r)["issuer"] == issuer, "discovery")
    with open(path, "w") as f:
        json.dump({"tokens": tokens, "issuer": issuer}, f)


def cmd_jwtcheck(path):
    """After a restart: the signing keys are records, so earlier tokens still verify and new
    ones are signed by the same keys."""
    with open(path) as f:
        saved = json.load(f)
    account = client("sts").get_caller_identity()["Account"]
    for alg, token in saved["tokens"].items():
        header, claims = verify_jwt(token, account)
        new = client("sts").get_web_identity_token(Audience=["x"], SigningAlgorithm=alg)["WebIdentityToken"]
        h2, c2 = verify_jwt(new, account)
        check(h2["kid"] == header["kid"] and c2["iss"] == saved["issuer"], (h2, c2))


def cmd_suite():
    ssm = client("ssm")
    r = ssm.put_parameter(Name="/app/db/host", Value="db1", Type="String", Description="the host",
                          Tags=[{"Key": "team", "Value": "core"}])
    check(r["Version"] == 1 and r["Tier"] == "Standard", r)
    expect_error("ParameterAlreadyExists", ssm.put_parameter, Name="/app/db/host", Value="x", Type="String")
    expect_error("ValidationException", ssm.put_parameter, Name="/app/db/host", Value="x", Type="String",
                 Overwrite=True, Tags=[{"Key": "a", "Value": "b"}])
    r = ssm.put_parameter(Name="/app/db/host", Value="db2", Overwrite=True)
    check(r["Version"] == 2, r)
    p = ssm.get_parameter(Name="/app/db/host")["Parameter"]
    check(p["Value"] == "db2" and p["Version"] == 2 and p["Type"] == "String", p)
    check(p["ARN"] == "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/host", p["ARN"])
    check(p["LastModifiedDate"].year >= 2024, p["LastModifiedDate"])
    check(ssm.get_parameter(Name="/app/db/host:1")["Parameter"]["Value"] == "db1", "selector :1")
    expect_error("ParameterVersionNotFound", ssm.get_parameter, Name="/app/db/host:7")

    # Labels move between versions and select values.
    r = ssm.label_parameter_version(Name="/app/db/host", ParameterVersion=1, Labels=["stable", "9bad"])
    check(r["InvalidLabels"] == ["9bad"] and r["ParameterVersion"] == 1, r)
    check(ssm.get_parameter(Name="/app/db/host:stable")["Parameter"]["Value"] == "db1", "label")
    ssm.label_parameter_version(Name="/app/db/host", Labels=["stable"])
    check(ssm.get_parameter(Name="/app/db/host:stable")["Parameter"]["Value"] == "db2", "moved label")
    expect_error("ParameterVersionNotFound", ssm.label_parameter_version, Name="/app/db/host",
                 ParameterVersion=9, Labels=["x"])

    # Types.
    ssm.put_parameter(Name="/app/db/password", Value="hunter2", Type="SecureString")
    enc = ssm.get_parameter(Name="/app/db/password")["Parameter"]["Value"]
    check(enc != "hunter2", "SecureString returned in clear without WithDecryption")
    dec = ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]["Value"]
    check(dec == "hunter2", dec)
    ssm.put_parameter(Name="/app/list", Value="a,b,c", Type="StringList")
    for i in range(12):
        ssm.put_parameter(Name=f"/app/many/p{i:02d}", Value=str(i), Type="String")
    ssm.put_parameter(Name="/app/many/deep/q", Value="q", Type="String")

    # GetParameters with selectors and invalid names.
    r = ssm.get_parameters(Names=["/app/db/host", "/app/db/host:1", "/nope", "/app/db/host:nolabel"],
                           WithDecryption=True)
    check(sorted(p["Value"] for p in r["Parameters"]) == ["db1", "db2"], r["Parameters"])
    check(sorted(r["InvalidParameters"]) == ["/app/db/host:nolabel", "/nope"], r["InvalidParameters"])

    # GetParametersByPath: one level, recursive, filters, pagination.
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path="/app/many", PaginationConfig={"PageSize": 5})
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    check(len(names) == 12 and "/app/many/deep/q" not in names, names)
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path="/app", Recursive=True)
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    check(len(names) == 16, names)
    r = ssm.get_parameters_by_path(Path="/app", Recursive=True,
                                   ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])
    check([p["Name"] for p in r["Parameters"]] == ["/app/db/password"], r)
    r = ssm.get_parameters_by_path(Path="/app/db", ParameterFilters=[{"Key": "Label", "Values": ["stable"]}])
    check([(p["Name"], p["Value"]) for p in r["Parameters"]] == [("/app/db/host", "db2")], r)
    expect_error("InvalidFilterKey", ssm.get_parameters_by_path, Path="/app",
                 ParameterFilters=[{"Key": "Name", "Values": ["x"]}])

    # DescribeParameters.
    pages = ssm.get_paginator("describe_parameters").paginate(PaginationConfig={"PageSize": 4})
    meta = [p for page in pages for p in page["Parameters"]]
    check(len(meta) == 16, len(meta))
    host = [m for m in meta if m["Name"] == "/app/db/host"][0]
    check(host["Version"] == 2 and host["Description"] == "the host", host)
    r = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/app/db"]}])
    check(sorted(p["Name"] for p in r["Parameters"]) == ["/app/db/host", "/app/db/password"], r)
    r = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/l"]}])
    check([p["Name"] for p in r["Parameters"]] == ["/app/list"], r)
    r = ssm.describe_parameters(Filters=[{"Key": "Type", "Values": ["StringList"]}])
    check([p["Name"] for p in r["Parameters"]] == ["/app/list"], r)
    r = ssm.describe_parameters(ParameterFilters=[{"Key": "tag:team", "Values": ["core"]}])
    check([p["Name"] for p in r["Parameters"]] == ["/app/db/host"], r)

    # History with pagination.
    for i in range(3, 8):
        ssm.put_parameter(Name="/app/db/host", Value=f"db{i}", Overwrite=True)
    pages = ssm.get_paginator("get_parameter_history").paginate(Name="/app/db/host",
                                                                PaginationConfig={"PageSize": 3})
    hist = [p for page in pages for p in page["Parameters"]]
    check([h["Version"] for h in hist] == list(range(1, 8)), [h["Version"] for h in hist])
    check(hist[1]["Labels"] == ["stable"], hist[1])

    # Tags.
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/app/list", Tags=[{"Key": "k", "Value": "v"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/app/list")["TagList"]
    check(tags == [{"Key": "k", "Value": "v"}], tags)

    # Names.
    for bad in ["awsthing", "/ssm/x", "a/b", "bad name"]:
        expect_error("ValidationException", ssm.put_parameter, Name=bad, Value="v", Type="String")
    expect_error("HierarchyLevelLimitExceededException", ssm.put_parameter, Name="/a" * 16, Value="v",
                 Type="String")
    expect_error("ParameterPatternMismatchException", ssm.put_parameter, Name="/num", Value="abc",
                 Type="String", AllowedPattern=r"^\d+$")

    # Deletes.
    ssm.delete_parameter(Name="/app/list")
    expect_error("ParameterNotFound", ssm.delete_parameter, Name="/app/list")
    r = ssm.delete_parameters(Names=["/app/many/p00", "/nope"])
    check(r["DeletedParameters"] == ["/app/many/p00"] and r["InvalidParameters"] == ["/nope"], r)


def raw(target, body, extra_headers=None):
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": target,
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ssm/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }
    headers.update(extra_headers or {})
    req = urllib.request.Request(ENDPOINT + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def cmd_errors():
    # Malformed JSON, sent raw (an SDK never sends it).
    status, headers, body = raw("AmazonSSM.PutParameter", b"{not json")
    check(status == 400, status)
    check(json.loads(body)["__type"] == "SerializationException", body)
    check({k.lower(): v for k, v in headers.items()}.get("x-amzn-errortype") == "SerializationException", headers)
    status, _, body = raw("AmazonSSM.NoSuchThing", b"{}")
    check(status == 400 and json.loads(body)["__type"] == "UnknownOperationException", body)
    status, _, body = raw("AmazonFoo.Bar", b"{}")
    check(status == 400 and json.loads(body)["__type"] == "UnknownOperationException", body)

    # Through boto3: operations of an embedded model without a handler yet answer 501 naming
    # the service and the operation, in the protocol the SDK speaks: JSON (Step Functions), query
    # (ElastiCache, RDS), rest-json (API Gateway, AppSync), rest-xml (Route 53); and operations of
    # served services not implemented yet.
    for svc, call, op in [
        ("stepfunctions", lambda c: c.list_state_machines(), "ListStateMachines"),
        ("elasticache", lambda c: c.describe_cache_clusters(), "DescribeCacheClusters"),
        ("apigateway", lambda c: c.get_rest_apis(), "GetRestApis"),
        ("route53", lambda c: c.list_hosted_zones(), "ListHostedZones"),
        ("appsync", lambda c: c.list_graphql_apis(), "ListGraphqlApis"),
        ("apigateway", lambda c: c.get_api_keys(), "GetApiKeys"),
        ("rds", lambda c: c.describe_db_instances(), "DescribeDBInstances"),
        ("cognito-identity", lambda c: c.list_identity_pools(MaxResults=10), "ListIdentityPools"),
    ]:
        e = expect_error("NotImplemented", lambda: call(client(svc)))
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 501, (svc, e.response))
        check(op in e.response["Error"]["Message"], (svc, e.response))

    # Missing required parameters reach the server when the SDK does not check them.
    loose = client("ssm", validate=False)
    e = expect_error("ValidationException", loose.put_parameter, Name="/x")
    check("value" in e.response["Error"]["Message"], e.response["Error"]["Message"])
    expect_error("ValidationException", loose.get_parameter)
    e = expect_error("ValidationException", loose.get_parameters_by_path, Path="/x", MaxResults=50)
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response)
    # Validation from the model, in AWS's words, every violation named.
    e = expect_error("ValidationException", loose.put_parameter, Value="v", Type="Strin")
    check(e.response["Error"]["Message"] ==
          "2 validation errors detected: Value null at 'name' failed to satisfy constraint: "
          "Member must not be null; Value 'Strin' at 'type' failed to satisfy constraint: "
          "Member must satisfy enum value set: [String, StringList, SecureString]",
          e.response["Error"]["Message"])
    e = expect_error("ValidationException", client("dynamodb", validate=False).list_tables, Limit=0)
    check("Value '0' at 'limit' failed to satisfy constraint: Member must have value greater "
          "than or equal to 1" in e.response["Error"]["Message"], e.response["Error"]["Message"])

    # A body over the limit is refused with 413 before it is read.
    u = urlparse(ENDPOINT)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.PutParameter\r\n"
                  b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 20000000\r\n\r\n")
        data = s.recv(4096)
        check(data.startswith(b"HTTP/1.1 413"), data[:100])


DOC = json.dumps({
    "schemaVersion": "2.2",
    "description": "Say hello",
    "parameters": {"who": {"type": "String", "default": "world", "description": "whom"}},
    "mainSteps": [{"action": "aws:runShellScript", "name": "hello",
                   "inputs": {"runCommand": ["echo hello {{ who }}"]}}],
})
YAML_DOC = """schemaVersion: '2.2'
description: From YAML
mainSteps:
  - action: aws:runPowerShellScript
    name: run
    inputs:
      runCommand:
        - Write-Output hi
"""


def cmd_ssmext_prepare(path):
    ssm = client("ssm")
    d = ssm.create_document(Name="e2e-hello", Content=DOC, DocumentType="Command",
                            Tags=[{"Key": "team", "Value": "core"}])["DocumentDescription"]
    check(d["Status"] == "Active" and d["DocumentVersion"] == "1" and d["SchemaVersion"] == "2.2", d)
    check(d["Parameters"][0]["Name"] == "who" and d["Owner"] == "000000000000", d)
    e = expect_error("DocumentAlreadyExists", ssm.create_document, Name="e2e-hello", Content=DOC)
    check(e.response["Error"]["Message"] == "Document with same name e2e-hello already exists", e.response)
    expect_error("InvalidDocumentContent", ssm.create_document, Name="e2e-bad", Content="{not json")
    expect_error("DuplicateDocumentContent", ssm.update_document, Name="e2e-hello", Content=DOC,
                 DocumentVersion="$LATEST")
    u = ssm.update_document(Name="e2e-hello", Content=DOC.replace("Say hello", "Say hi"),
                            DocumentVersion="$LATEST", VersionName="second")["DocumentDescription"]
    check(u["DocumentVersion"] == "2" and u["LatestVersion"] == "2" and u["DefaultVersion"] == "1", u)
    r = ssm.update_document_default_version(Name="e2e-hello", DocumentVersion="2")["Description"]
    check(r["DefaultVersion"] == "2" and r["DefaultVersionName"] == "second", r)
    expect_error("InvalidDocumentVersion", ssm.get_document, Name="e2e-hello", DocumentVersion="9")
    ssm.create_document(Name="e2e-yaml", Content=YAML_DOC, DocumentFormat="YAML", DocumentType="Command")
    ssm.modify_document_permission(Name="e2e-yaml", PermissionType="Share", AccountIdsToAdd=["111122223333"])
    expect_error("InvalidDocumentOperation", ssm.delete_document, Name="e2e-yaml")
    ssm.create_document(Name="e2e-gone", Content=DOC.replace("hello", "bye"))
    ssm.delete_document(Name="e2e-gone")
    expect_error("InvalidDocument", ssm.describe_document, Name="e2e-gone")

    cmd = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=["i-0123456789abcdef0"],
                           Parameters={"commands": ["echo hi"]}, Comment="e2e")["Command"]
    check(cmd["Status"] == "Success" and cmd["TargetCount"] == 1, cmd)
    cmd2 = ssm.send_command(DocumentName="e2e-hello", InstanceIds=["i-0123456789abcdef1"])["Command"]
    expect_error("InvalidDocument", ssm.send_command, DocumentName="e2e-missing",
                 InstanceIds=["i-0123456789abcdef0"])

    wid = ssm.create_maintenance_window(Name="e2e-window", Schedule="cron(0 2 ? * SUN *)", Duration=2,
                                        Cutoff=1, AllowUnassociatedTargets=False,
                                        Tags=[{"Key": "env", "Value": "test"}])["WindowId"]
    tid = ssm.register_target_with_maintenance_window(
        WindowId=wid, ResourceType="INSTANCE", Name="e2e-target",
        Targets=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}])["WindowTargetId"]
    task = ssm.register_task_with_maintenance_window(
        WindowId=wid, TaskArn="AWS-RunShellScript", TaskType="RUN_COMMAND", Priority=1,
        Targets=[{"Key": "WindowTargetIds", "Values": [tid]}], MaxConcurrency="1", MaxErrors="0",
        TaskInvocationParameters={"RunCommand": {"Parameters": {"commands": ["uptime"]}}})["WindowTaskId"]
    ssm.update_maintenance_window(WindowId=wid, Description="weekly")
    expect_error("DoesNotExistException", ssm.get_maintenance_window, WindowId="mw-00000000000000000")
    with open(path, "w") as f:
        json.dump({"command": cmd["CommandId"], "command2": cmd2["CommandId"], "window": wid,
                   "target": tid, "task": task}, f)


def cmd_ssmext_check(path):
    with open(path) as f:
        ids = json.load(f)
    ssm = client("ssm")
    d = ssm.describe_document(Name="e2e-hello")["Document"]
    check(d["DefaultVersion"] == "2" and d["LatestVersion"] == "2" and d["Description"] == "Say hi", d)
    check(d["Tags"] == [{"Key": "team", "Value": "core"}], d["Tags"])
    g = ssm.get_document(Name="e2e-hello", DocumentVersion="1")
    check(g["Content"] == DOC and g["DocumentFormat"] == "JSON", g)
    g = ssm.get_document(Name="e2e-yaml")
    check(g["Content"] == YAML_DOC and g["DocumentFormat"] == "YAML", g)
    vs = ssm.list_document_versions(Name="e2e-hello")["DocumentVersions"]
    check([v["DocumentVersion"] for v in vs] == ["1", "2"] and vs[1]["IsDefaultVersion"], vs)
    names = [d["Name"] for page in ssm.get_paginator("list_documents").paginate(
        Filters=[{"Key": "Owner", "Values": ["Self"]}], PaginationConfig={"PageSize": 1})
        for d in page["DocumentIdentifiers"]]
    check(names == ["e2e-hello", "e2e-yaml"], names)
    aws = ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    check(aws["Owner"] == "Amazon", aws)
    p = ssm.describe_document_permission(Name="e2e-yaml", PermissionType="Share")
    check(p["AccountIds"] == ["111122223333"], p)
    tags = ssm.list_tags_for_resource(ResourceType="Document", ResourceId="e2e-hello")["TagList"]
    check(tags == [{"Key": "team", "Value": "core"}], tags)

    cmds = ssm.list_commands()["Commands"]
    check([c["CommandId"] for c in cmds] == [ids["command2"], ids["command"]], cmds)
    inv = ssm.get_command_invocation(CommandId=ids["command"], InstanceId="i-0123456789abcdef0")
    check(inv["Status"] == "Success" and inv["ResponseCode"] == 0, inv)
    invs = ssm.list_command_invocations(CommandId=ids["command2"], Details=True)["CommandInvocations"]
    check(len(invs) == 1 and invs[0]["CommandPlugins"][0]["Name"] == "hello", invs)
    expect_error("InvocationDoesNotExist", ssm.get_command_invocation, CommandId=ids["command"],
                 InstanceId="i-0123456789abcdef9")
    expect_error("InvalidCommandId", ssm.cancel_command, CommandId="00000000-0000-0000-0000-000000000000")

    w = ssm.get_maintenance_window(WindowId=ids["window"])
    check(w["Name"] == "e2e-window" and w["Description"] == "weekly" and w["Duration"] == 2, w)
    ws = ssm.describe_maintenance_windows(Filters=[{"Key": "Name", "Values": ["e2e-window"]}])["WindowIdentities"]
    check([x["WindowId"] for x in ws] == [ids["window"]], ws)
    ts = ssm.describe_maintenance_window_targets(WindowId=ids["window"])["Targets"]
    check([t["WindowTargetId"] for t in ts] == [ids["target"]], ts)
    ks = ssm.describe_maintenance_window_tasks(WindowId=ids["window"])["Tasks"]
    check([k["WindowTaskId"] for k in ks] == [ids["task"]] and ks[0]["Type"] == "RUN_COMMAND", ks)
    tags = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=ids["window"])["TagList"]
    check(tags == [{"Key": "env", "Value": "test"}], tags)
    expect_error("TargetInUseException", ssm.deregister_target_from_maintenance_window,
                 WindowId=ids["window"], WindowTargetId=ids["target"], Safe=True)
    ssm.deregister_task_from_maintenance_window(WindowId=ids["window"], WindowTaskId=ids["task"])
    ssm.deregister_target_from_maintenance_window(WindowId=ids["window"], WindowTargetId=ids["target"])
    ssm.delete_maintenance_window(WindowId=ids["window"])
    expect_error("DoesNotExistException", ssm.get_maintenance_window, WindowId=ids["window"])


COMMANDS = {
    "put": (cmd_put, 2), "get": (cmd_get, 2), "missing": (cmd_missing, 1),
    "putfails": (cmd_putfails, 3), "burst": (cmd_burst, 2), "getburst": (cmd_getburst, 2), "sts": (cmd_sts, 1),
    "assume": (cmd_assume, 3), "whoami": (cmd_whoami, 1), "stssuite": (cmd_stssuite, 0),
    "jwt": (cmd_jwt, 1), "jwtcheck": (cmd_jwtcheck, 1),
    "suite": (cmd_suite, 0), "errors": (cmd_errors, 0),
    "ssmext-prepare": (cmd_ssmext_prepare, 1), "ssmext-check": (cmd_ssmext_check, 1),
}


def main():
    args = sys.argv[2:]
    while args:
        name, args = args[0], args[1:]
        if name == "ctx":
            STATE["account"], STATE["region"], args = args[0], args[1], args[2:]
            continue
        fn, n = COMMANDS[name]
        fn(*args[:n])
        args = args[n:]
    print("ok")


if __name__ == "__main__":
    main()

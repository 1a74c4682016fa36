#!/usr/bin/env python3
"""Drive a running snapstack's IAM with boto3, as a user's program would.

Usage: iam.py ENDPOINT COMMAND [ARGS]...

  suite          roles (trust policy, max session duration, permissions boundary, tags, paths),
                 managed policies with versions (the 5-version limit, default version,
                 attachment counts), AWS managed policies by ARN, inline policies of users,
                 groups and roles, attachments, users, groups and membership, access keys (and
                 STS GetCallerIdentity signed with one), login profiles, instance profiles,
                 tags, account settings, providers, GetAccountAuthorizationDetails,
                 service-last-accessed report jobs, temporary delegation requests (a partner
                 account's request through its lifecycle in a customer account, the exchange
                 token delivered to the partner's SNS topic and traded at STS for credentials,
                 the human readable summary), and IAM's errors (codes, HTTP statuses, messages)
  prepare STATE  before a kill -9: a role, a policy with versions, a user with an access key, a
                 group, an instance profile, delegation requests (one assigned, one finalized
                 with its token unredeemed); their ids and the key are written to STATE
  check STATE    after the restart: everything is there, with the same ids, and the key still
                 signs as the user; the delegation requests keep their state and deadline, the
                 assigned one goes on to FINALIZED, and both tokens are traded at STS
"""

import json
import sys

import boto3
from botocore.config import Config

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from checks import check, expect_error, run_commands  # noqa: E402

ENDPOINT = sys.argv[1]
ARGS = sys.argv[2:]
CFG = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
ACCOUNT = "000000000000"

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
# A self-signed certificate (openssl req -x509 -days 3000) and a stand-in private key (the key is
# not checked against the certificate).
CERT = """-----BEGIN CERTIFICATE-----
MIIB+jCCAWOgAwIBAgIUdhWNMmyMQ7VFh2bdPpGx+DwREBYwDQYJKoZIhvcNAQEL
BQAwDzENMAsGA1UEAwwEdGVzdDAeFw0yNjEyMDYxNzU2NThaFw0zNTAyMjIxNzU2
NThaMA8xDTALBgNVBAMMBHRlc3QwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGB
AMRN/rnrSkHbNq8/eMYVlhe3sJ+K/ZJoZDcbieGyjY3YiheZK2QThQHFfJJCKKFt
MfqRki00BYNz10HHehqd7176Xvsh+3Hcsi5qeIBo9ezXYxxcI67WquAKnsxBJ3cD
+6mxZoMdkue2MWjp62tu1MOOMFIAo08lFRHwkeQSI3KBAgMBAAGjUzBRMB0GA1Ud
DgQWBBT8DyIBBWwssf3SUw8l+iemunKEhjAfBgNVHSMEGDAWgBT8DyIBBWwssf3S
Uw8l+iemunKEhjAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBAJsT
3xqKJr1YblHDoqOXb1RtI7pOT5UwGGRyOXRGeydgNqi0X9794fHgB+5LDIJ9IxYi
umpZ2jQ3Ky7JAPWPAf1/T4Dpiwn7018ct5XU+AVWj64n2t2HmDXRpBxPFQ9h95Fv
HVRFRrQALguowV9sam2vsLQGh5Ic/5L6MJu2lMvs
-----END CERTIFICATE-----"""
KEY = "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA\n-----END PRIVATE KEY-----\n"
DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}


def client(service, key="test", secret="test", token=None):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=CFG,
    )


def status(e):
    return e.response["ResponseMetadata"]["HTTPStatusCode"]


def roles(iam):
    r = iam.create_role(RoleName="app-role", Path="/apps/", AssumeRolePolicyDocument=json.dumps(TRUST),
                        MaxSessionDuration=7200, Description="the app",
                        Tags=[{"Key": "team", "Value": "core"}])["Role"]
    check(r["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/apps/app-role", r)
    check(r["RoleId"].startswith("AROA") and len(r["RoleId"]) == 21, r)
    check(r["AssumeRolePolicyDocument"] == TRUST, r)
    got = iam.get_role(RoleName="app-role")["Role"]
    check(got["MaxSessionDuration"] == 7200 and got["Description"] == "the app", got)
    check(got["Tags"] == [{"Key": "team", "Value": "core"}], got)
    check("RoleLastUsed" in got, got)
    e = expect_error("EntityAlreadyExists", iam.create_role, RoleName="APP-ROLE",
                     AssumeRolePolicyDocument=json.dumps(TRUST))
    check(status(e) == 409, e.response)
    e = expect_error("NoSuchEntity", iam.get_role, RoleName="missing")
    check(status(e) == 404, e.response)
    check(e.response["Error"]["Message"] == "The role with name missing cannot be found.", e.response)
    expect_error("MalformedPolicyDocument", iam.create_role, RoleName="bad", AssumeRolePolicyDocument="{nope")
    expect_error("ValidationError", client("iam").create_role, RoleName="bad name",
                 AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.update_role(RoleName="app-role", MaxSessionDuration=3600)
    iam.update_assume_role_policy(RoleName="app-role", PolicyDocument=json.dumps(TRUST))
    iam.tag_role(RoleName="app-role", Tags=[{"Key": "env", "Value": "dev"}])
    iam.untag_role(RoleName="app-role", TagKeys=["team"])
    check(iam.list_role_tags(RoleName="app-role")["Tags"] == [{"Key": "env", "Value": "dev"}], "role tags")
    listed = iam.list_roles(PathPrefix="/apps/")["Roles"]
    check([x["RoleName"] for x in listed] == ["app-role"], listed)
    # Paginators page through Marker/IsTruncated.
    for i in range(3):
        iam.create_role(RoleName=f"page-{i}", AssumeRolePolicyDocument=json.dumps(TRUST))
    names = [r["RoleName"] for p in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 2})
             for r in p["Roles"]]
    check(sorted(names) == ["app-role", "page-0", "page-1", "page-2"], names)
    for i in range(3):
        iam.delete_role(RoleName=f"page-{i}")
    slr = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")["Role"]
    check(slr["Path"] == "/aws-service-role/elasticbeanstalk.amazonaws.com/", slr)
    task = iam.delete_service_linked_role(RoleName=slr["RoleName"])["DeletionTaskId"]
    check(iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED", task)


def policies(iam):
    p = iam.create_policy(PolicyName="reader", PolicyDocument=json.dumps(DOC), Description="r")["Policy"]
    arn = p["Arn"]
    check(arn == f"arn:aws:iam::{ACCOUNT}:policy/reader" and p["DefaultVersionId"] == "v1", p)
    check(p["PolicyId"].startswith("ANPA"), p)
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(DOC))
    e = expect_error("LimitExceeded", iam.create_policy_version, PolicyArn=arn, PolicyDocument=json.dumps(DOC))
    check(status(e) == 409, e.response)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v4")
    expect_error("DeleteConflict", iam.delete_policy_version, PolicyArn=arn, VersionId="v4")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    check(len(versions) == 4 and [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v4"], versions)
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"]
    check(doc == DOC, doc)
    iam.attach_role_policy(RoleName="app-role", PolicyArn=arn)
    aws = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName="app-role", PolicyArn=aws)
    managed = iam.get_policy(PolicyArn=aws)["Policy"]
    check(managed["AttachmentCount"] == 1 and managed["Path"] == "/service-role/", managed)
    ver = iam.get_policy_version(PolicyArn=aws, VersionId=managed["DefaultVersionId"])["PolicyVersion"]
    check("logs:CreateLogGroup" in json.dumps(ver["Document"]), ver)
    check(iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1, "count")
    attached = iam.list_attached_role_policies(RoleName="app-role")["AttachedPolicies"]
    check({a["PolicyArn"] for a in attached} == {arn, aws}, attached)
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    check([r["RoleName"] for r in ents["PolicyRoles"]] == ["app-role"], ents)
    e = expect_error("DeleteConflict", iam.delete_policy, PolicyArn=arn)
    check(e.response["Error"]["Message"] == "Cannot delete a policy attached to entities.", e.response)
    expect_error("NoSuchEntity", iam.attach_role_policy, RoleName="app-role",
                 PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none")
    expect_error("NoSuchEntity", iam.get_policy, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    only = iam.list_policies(OnlyAttached=True)["Policies"]
    check({x["Arn"] for x in only} == {arn, aws}, only)
    aws_page = iam.list_policies(Scope="AWS", MaxItems=5)
    check(len(aws_page["Policies"]) == 5 and aws_page["IsTruncated"], aws_page["IsTruncated"])
    iam.put_role_policy(RoleName="app-role", PolicyName="inline", PolicyDocument=json.dumps(DOC))
    check(iam.get_role_policy(RoleName="app-role", PolicyName="inline")["PolicyDocument"] == DOC, "inline")
    check(iam.list_role_policies(RoleName="app-role")["PolicyNames"] == ["inline"], "inline list")
    e = expect_error("DeleteConflict", iam.delete_role, RoleName="app-role")
    check(e.response["Error"]["Message"] == "Cannot delete entity, must delete policies first.", e.response)
    big = dict(DOC, Statement=[dict(DOC["Statement"][0], Resource="arn:aws:s3:::" + "x" * 7000)])
    expect_error("LimitExceeded", iam.create_policy, PolicyName="big", PolicyDocument=json.dumps(big))
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "b"}])
    check(iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "a", "Value": "b"}], "policy tags")


def users_and_groups(iam, sts):
    u = iam.create_user(UserName="alice", Path="/people/", Tags=[{"Key": "k", "Value": "v"}])["User"]
    check(u["UserId"].startswith("AIDA") and u["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/people/alice", u)
    g = iam.create_group(GroupName="devs")["Group"]
    check(g["GroupId"].startswith("AGPA"), g)
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    check([x["UserName"] for x in iam.get_group(GroupName="devs")["Users"]] == ["alice"], "members")
    check([x["GroupName"] for x in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["devs"], "groups")
    iam.put_group_policy(GroupName="devs", PolicyName="gp", PolicyDocument=json.dumps(DOC))
    iam.attach_group_policy(GroupName="devs", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.put_user_policy(UserName="alice", PolicyName="up", PolicyDocument=json.dumps(DOC))
    check(iam.get_user_policy(UserName="alice", PolicyName="up")["PolicyDocument"] == DOC, "user policy")
    sim = iam.simulate_principal_policy(PolicySourceArn=u["Arn"], ActionNames=["s3:GetObject", "s3:PutObject"])
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in sim["EvaluationResults"]}
    check(decisions == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny"}, sim)
    sim = iam.simulate_custom_policy(PolicyInputList=[json.dumps(DOC)], ActionNames=["s3:GetObject"],
                                     ResourceArns=["arn:aws:s3:::b/k"])["EvaluationResults"]
    check(sim[0]["EvalDecision"] == "allowed"
          and sim[0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1", sim)
    expect_error("DeleteConflict", iam.delete_group, GroupName="devs")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    check(key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40, key)
    who = client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    check(who["Arn"] == u["Arn"] and who["UserId"] == u["UserId"] and who["Account"] == ACCOUNT, who)
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    check(last["UserName"] == "alice" and last["AccessKeyLastUsed"]["ServiceName"] == "sts", last)
    me = client("iam", key["AccessKeyId"], key["SecretAccessKey"]).get_user()["User"]
    check(me["UserName"] == "alice", me)
    iam.create_access_key(UserName="alice")
    e = expect_error("LimitExceeded", iam.create_access_key, UserName="alice")
    check(e.response["Error"]["Message"] == "Cannot exceed quota for AccessKeysPerUser: 2", e.response)
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]}
    check(statuses[key["AccessKeyId"]] == "Inactive" and len(statuses) == 2, statuses)
    e = expect_error("DeleteConflict", iam.delete_user, UserName="alice")
    check(status(e) == 409, e.response)
    iam.create_login_profile(UserName="alice", Password="Pa55word!", PasswordResetRequired=True)
    check(iam.get_login_profile(UserName="alice")["LoginProfile"]["PasswordResetRequired"], "login")
    expect_error("EntityAlreadyExists", iam.create_login_profile, UserName="alice", Password="x")
    # Tear alice down in the order IAM requires.
    iam.delete_login_profile(UserName="alice")
    for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="alice", AccessKeyId=k["AccessKeyId"])
    iam.delete_user_policy(UserName="alice", PolicyName="up")
    iam.remove_user_from_group(GroupName="devs", UserName="alice")
    iam.delete_user(UserName="alice")
    expect_error("NoSuchEntity", iam.get_user, UserName="alice")
    iam.delete_group_policy(GroupName="devs", PolicyName="gp")
    iam.detach_group_policy(GroupName="devs", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.delete_group(GroupName="devs")


def profiles_and_account(iam):
    ip = iam.create_instance_profile(InstanceProfileName="web", Tags=[{"Key": "t", "Value": "1"}])["InstanceProfile"]
    check(ip["InstanceProfileId"].startswith("AIPA"), ip)
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="app-role")
    expect_error("LimitExceeded", iam.add_role_to_instance_profile, InstanceProfileName="web", RoleName="app-role")
    got = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    check([r["RoleName"] for r in got["Roles"]] == ["app-role"], got)
    e = expect_error("DeleteConflict", iam.delete_instance_profile, InstanceProfileName="web")
    check(status(e) == 409, e.response)
    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="app-role")
    iam.delete_instance_profile(InstanceProfileName="web")
    iam.create_account_alias(AccountAlias="snap-alias")
    check(iam.list_account_aliases()["AccountAliases"] == ["snap-alias"], "alias")
    iam.delete_account_alias(AccountAlias="snap-alias")
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True)
    check(iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 10, "pw policy")
    iam.delete_account_password_policy()
    expect_error("NoSuchEntity", iam.get_account_password_policy)
    oidc = iam.create_open_id_connect_provider(Url="https://oidc.example.com", ClientIDList=["app"],
                                               ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    check(iam.get_open_id_connect_provider(OpenIDConnectProviderArn=oidc)["ClientIDList"] == ["app"], oidc)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=oidc)
    metadata = ('<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                'entityID="https://idp.example.com" validUntil="2035-01-01T00:00:00Z">' + " " * 1000
                + "</md:EntityDescriptor>")
    saml = iam.create_saml_provider(Name="idp", SAMLMetadataDocument=metadata)["SAMLProviderArn"]
    check(saml.endswith(":saml-provider/idp"), saml)
    check(iam.get_saml_provider(SAMLProviderArn=saml)["ValidUntil"].year == 2035, "valid until")
    iam.delete_saml_provider(SAMLProviderArn=saml)
    summary = iam.get_account_summary()["SummaryMap"]
    check(summary["Roles"] >= 1 and summary["VersionsPerPolicyQuota"] == 5, summary)
    details = iam.get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
    role = [r for r in details["RoleDetailList"] if r["RoleName"] == "app-role"][0]
    check(role["RolePolicyList"][0]["PolicyDocument"] == DOC, role)
    check(details["Policies"][0]["PolicyVersionList"], details["Policies"])
    iam.generate_credential_report()
    check(iam.generate_credential_report()["State"] == "COMPLETE", "report")
    check(iam.get_credential_report()["Content"].startswith(b"user,arn,"), "csv")
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName="token")["VirtualMFADevice"]
    check(mfa["SerialNumber"] == f"arn:aws:iam::{ACCOUNT}:mfa/token" and mfa["Base32StringSeed"], mfa)
    iam.delete_virtual_mfa_device(SerialNumber=mfa["SerialNumber"])
    meta = iam.upload_server_certificate(ServerCertificateName="site", CertificateBody=CERT,
                                         PrivateKey=KEY)["ServerCertificateMetadata"]
    check(meta["ServerCertificateId"].startswith("ASCA") and meta["Expiration"].year == 2035, meta)
    check(iam.get_server_certificate(ServerCertificateName="site")["ServerCertificate"]["CertificateBody"] == CERT,
          "cert body")
    expect_error("EntityAlreadyExists", iam.upload_server_certificate, ServerCertificateName="site",
                 CertificateBody=CERT, PrivateKey=KEY)
    expect_error("MalformedCertificate", iam.upload_server_certificate, ServerCertificateName="bad",
                 CertificateBody="nope", PrivateKey=KEY)
    iam.delete_server_certificate(ServerCertificateName="site")
    s = iam.get_human_readable_summary(EntityArn=f"arn:aws:iam::{ACCOUNT}:user/alice")
    check(s["SummaryState"] == "NOT_SUPPORTED", s)


def access_reports(iam):
    """Service-last-accessed reports: a job, IN_PROGRESS until the server completes it; the
    services the entity's policies allow (no access recorded without ENFORCE_IAM)."""
    import time
    iam.create_group(GroupName="report-group")
    iam.put_group_policy(GroupName="report-group", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage", "kms:*"],
                       "Resource": "*"}]}))
    arn = f"arn:aws:iam::{ACCOUNT}:group/report-group"
    job = iam.generate_service_last_accessed_details(Arn=arn)["JobId"]
    check(len(job) == 36, job)
    for _ in range(100):
        out = iam.get_service_last_accessed_details(JobId=job)
        if out["JobStatus"] == "COMPLETED":
            break
        time.sleep(0.1)
    check(out["JobStatus"] == "COMPLETED" and out["JobType"] == "SERVICE_LEVEL", out)
    check("JobCompletionDate" in out, out)
    got = [(x["ServiceNamespace"], x["ServiceName"]) for x in out["ServicesLastAccessed"]]
    check(got == [("kms", "AWS Key Management Service"), ("sqs", "Amazon SQS")], got)
    ents = iam.get_service_last_accessed_details_with_entities(JobId=job, ServiceNamespace="sqs")
    check(ents["JobStatus"] == "COMPLETED" and ents["EntityDetailsList"] == [], ents)
    e = expect_error("NoSuchEntity", iam.get_service_last_accessed_details,
                     JobId="00000000-0000-4000-8000-000000000000")
    check(status(e) == 404, e.response)
    expect_error("NoSuchEntity", iam.generate_service_last_accessed_details,
                 Arn=f"arn:aws:iam::{ACCOUNT}:role/missing-role")
    expect_error("InvalidInput", iam.generate_service_last_accessed_details,
                 Arn="arn:aws:s3:::not-an-iam-entity")
    expect_error("OrganizationNotFoundException", iam.generate_organizations_access_report,
                 EntityPath="o-a1b2c3d4e5/r-f6g7h8i9j0example")
    iam.delete_group_policy(GroupName="report-group", PolicyName="p")
    iam.delete_group(GroupName="report-group")


PARTNER = "111111111111"
CUSTOMER = "222222222222"
TEMPLATE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                   "Resource": "arn:aws:s3:::@{bucketName}/*"}],
}


def partner_channel(name):
    """The partner's SNS topic and an SQS queue subscribed to it (raw delivery): the topic ARN
    and the queue URL."""
    sns, sqs = client("sns", PARTNER), client("sqs", PARTNER)
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def notifications(url, until_state, request_id, seconds=20):
    """The partner's notifications about `request_id`, read until one in `until_state`."""
    import time
    sqs = client("sqs", PARTNER)
    seen = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            body = json.loads(m["Body"])
            if body["DelegationRequestId"] == request_id:
                seen.append(body)
        if any(b["State"] == until_state for b in seen):
            return seen
    raise AssertionError(f"no {until_state} notification for {request_id}: {seen}")


def in_state(seen, state):
    """The notification of `seen` in `state` (a standard queue keeps no order)."""
    return next(b for b in seen if b["State"] == state)


def new_request(partner_iam, topic, workflow, **extra):
    tpl = f"arn:aws:iam::{PARTNER}:policy/delegation/S3Template"
    try:
        partner_iam.get_policy(PolicyArn=tpl)
    except partner_iam.exceptions.NoSuchEntityException:
        partner_iam.create_policy(PolicyName="S3Template", Path="/delegation/", PolicyDocument=json.dumps(TEMPLATE))
    r = partner_iam.create_delegation_request(
        Description="Deploy the analytics agent",
        Permissions={"PolicyTemplateArn": tpl,
                     "Parameters": [{"Name": "bucketName", "Values": ["customer-data"], "Type": "string"}]},
        RequestMessage="for ticket 42", RequestorWorkflowId=workflow, NotificationChannel=topic,
        SessionDuration=3600, RedirectUrl="https://partner.example.com/done", **extra)
    check(r["ConsoleDeepLink"].endswith(r["DelegationRequestId"]), r)
    return r["DelegationRequestId"]


def redeem(token, principal):
    """Trade the token at STS as the partner: credentials of the customer's `principal`."""
    out = client("sts", PARTNER).get_delegated_access_token(TradeInToken=token)
    check(out["AssumedPrincipal"] == principal, out)
    c = out["Credentials"]
    check(c["AccessKeyId"].startswith("ASIA"), c)
    who = client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]).get_caller_identity()
    check(who["Account"] == CUSTOMER and who["Arn"] == principal, who)
    e = expect_error("ExpiredTradeInTokenException", client("sts", PARTNER).get_delegated_access_token,
                     TradeInToken=token)
    check(status(e) == 400, e.response)
    return c


def delegation():
    partner, customer = client("iam", PARTNER), client("iam", CUSTOMER)
    topic, url = partner_channel("delegations")
    rid = new_request(partner, topic, "wf-suite-1")
    r = customer.get_delegation_request(DelegationRequestId=rid)["DelegationRequest"]
    check(r["State"] == "UNASSIGNED" and r["RequestorId"] == PARTNER and "OwnerAccountId" not in r, r)
    policy = json.loads(r["PermissionPolicy"])
    check(policy["Statement"][0]["Resource"] == "arn:aws:s3:::customer-data/*", policy)
    check(r["Permissions"]["Parameters"][0]["Values"] == ["customer-data"], r)
    check((r["ExpirationTime"] - r["CreateDate"]).total_seconds() == 86400, r)
    customer.associate_delegation_request(DelegationRequestId=rid)
    customer.update_delegation_request(DelegationRequestId=rid, Notes="over to the admin")
    r = customer.get_delegation_request(DelegationRequestId=rid, DelegationPermissionCheck=True)
    check(r["DelegationRequest"]["State"] == "PENDING_APPROVAL", r)
    check(r["DelegationRequest"]["OwnerId"] == f"arn:aws:iam::{CUSTOMER}:root", r)
    check(r["PermissionCheckStatus"] == "COMPLETE" and r["PermissionCheckResult"] == "ALLOWED", r)
    # Owned now: a third account cannot see it.
    e = expect_error("NoSuchEntity", client("iam", "333333333333").get_delegation_request, DelegationRequestId=rid)
    check(status(e) == 404, e.response)
    arn = f"arn:aws:iam::{PARTNER}:delegation-request/{rid}"
    s = customer.get_human_readable_summary(EntityArn=arn)
    check(s["SummaryState"] == "AVAILABLE" and s["Locale"] == "en-US", s)
    check("s3: GetObject, PutObject" in s["SummaryContent"], s["SummaryContent"])
    check(customer.get_human_readable_summary(EntityArn=arn)["SummaryContent"] == s["SummaryContent"], "same text")
    customer.accept_delegation_request(DelegationRequestId=rid)
    e = expect_error("ConcurrentModification", customer.accept_delegation_request, DelegationRequestId=rid)
    check(status(e) == 409, e.response)
    listed = customer.list_delegation_requests()
    check([d["DelegationRequestId"] for d in listed["DelegationRequests"]] == [rid], listed)
    check(listed["isTruncated"] is False, listed)
    customer.send_delegation_token(DelegationRequestId=rid)
    r = customer.get_delegation_request(DelegationRequestId=rid)["DelegationRequest"]
    check(r["State"] == "FINALIZED" and r["ApproverId"] == f"arn:aws:iam::{CUSTOMER}:root", r)
    e = expect_error("InvalidInput", customer.send_delegation_token, DelegationRequestId=rid)
    check(status(e) == 400, e.response)
    # The partner hears of every step, and gets the token with the last.
    # (A standard queue: the notifications need not arrive in the order they were sent.)
    seen = notifications(url, "FINALIZED", rid)
    check(sorted(b["State"] for b in seen) == sorted(["ASSIGNED", "PENDING_APPROVAL", "ACCEPTED", "FINALIZED"]), seen)
    redeem(in_state(seen, "FINALIZED")["ExchangeToken"], f"arn:aws:iam::{CUSTOMER}:root")
    # A request the customer rejects.
    rid2 = new_request(partner, topic, "wf-suite-2", OwnerAccountId=CUSTOMER)
    e = expect_error("NoSuchEntity", client("iam", "333333333333").associate_delegation_request,
                     DelegationRequestId=rid2)
    customer.associate_delegation_request(DelegationRequestId=rid2)
    customer.reject_delegation_request(DelegationRequestId=rid2, Notes="not today")
    r = customer.get_delegation_request(DelegationRequestId=rid2)["DelegationRequest"]
    check(r["State"] == "REJECTED" and r["RejectionReason"] == "not today", r)
    check(in_state(notifications(url, "REJECTED", rid2), "REJECTED"), "rejected")
    # IAM's errors.
    e = expect_error("EntityAlreadyExists", new_request, partner, topic, "wf-suite-2")
    check(status(e) == 409, e.response)
    e = expect_error("InvalidInput", new_request, partner, "not-a-topic", "wf-suite-3")
    check("SNS topic" in e.response["Error"]["Message"], e.response)
    e = expect_error("InvalidInput", partner.create_delegation_request, Description="d",
                     Permissions={"PolicyTemplateArn": f"arn:aws:iam::{PARTNER}:policy/missing-template"},
                     RequestorWorkflowId="wf-suite-4", NotificationChannel=topic, SessionDuration=900)
    check("does not exist" in e.response["Error"]["Message"], e.response)
    e = expect_error("NoSuchEntity", customer.get_delegation_request, DelegationRequestId="0" * 36)
    check(status(e) == 404, e.response)
    s = customer.get_human_readable_summary(EntityArn=f"arn:aws:iam::{CUSTOMER}:user/someone")
    check(s["SummaryState"] == "NOT_SUPPORTED", s)


def suite():
    iam = client("iam")
    roles(iam)
    policies(iam)
    users_and_groups(iam, client("sts"))
    profiles_and_account(iam)
    access_reports(iam)
    delegation()
    # Clean up the role so the suite can run again on the same server.
    for a in iam.list_attached_role_policies(RoleName="app-role")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="app-role", PolicyArn=a["PolicyArn"])
    iam.delete_role_policy(RoleName="app-role", PolicyName="inline")
    iam.delete_role(RoleName="app-role")
    arn = f"arn:aws:iam::{ACCOUNT}:policy/reader"
    for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not v["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    print("iam suite ok")


def prepare(state):
    iam = client("iam")
    role = iam.create_role(RoleName="kept", AssumeRolePolicyDocument=json.dumps(TRUST), MaxSessionDuration=5400,
                           Tags=[{"Key": "keep", "Value": "yes"}])["Role"]
    pol = iam.create_policy(PolicyName="kept-policy", PolicyDocument=json.dumps(DOC))["Policy"]
    iam.create_policy_version(PolicyArn=pol["Arn"], PolicyDocument=json.dumps(DOC), SetAsDefault=True)
    iam.attach_role_policy(RoleName="kept", PolicyArn=pol["Arn"])
    iam.put_role_policy(RoleName="kept", PolicyName="inl", PolicyDocument=json.dumps(DOC))
    user = iam.create_user(UserName="keeper")["User"]
    key = iam.create_access_key(UserName="keeper")["AccessKey"]
    iam.create_group(GroupName="kept-group")
    iam.add_user_to_group(GroupName="kept-group", UserName="keeper")
    iam.create_instance_profile(InstanceProfileName="kept-ip")
    iam.add_role_to_instance_profile(InstanceProfileName="kept-ip", RoleName="kept")
    # Delegation requests: one assigned, one finalized whose token the partner has not traded.
    partner, customer = client("iam", PARTNER), client("iam", CUSTOMER)
    topic, url = partner_channel("kept-delegations")
    assigned = new_request(partner, topic, "wf-kept-1", OwnerAccountId=CUSTOMER)
    customer.associate_delegation_request(DelegationRequestId=assigned)
    finalized = new_request(partner, topic, "wf-kept-2")
    customer.associate_delegation_request(DelegationRequestId=finalized)
    customer.accept_delegation_request(DelegationRequestId=finalized)
    customer.send_delegation_token(DelegationRequestId=finalized)
    token = in_state(notifications(url, "FINALIZED", finalized), "FINALIZED")["ExchangeToken"]
    expiry = customer.get_delegation_request(DelegationRequestId=assigned)["DelegationRequest"]["ExpirationTime"]
    with open(state, "w", encoding="utf-8") as f:
        json.dump({"role_id": role["RoleId"], "policy": pol["Arn"], "user_id": user["UserId"],
                   "key": key["AccessKeyId"], "secret": key["SecretAccessKey"],
                   "assigned": assigned, "assigned_expiry": expiry.isoformat(), "finalized": finalized,
                   "token": token, "queue": url}, f)
    print("iam prepared")


def check_after(state):
    with open(state, encoding="utf-8") as f:
        s = json.load(f)
    iam = client("iam")
    role = iam.get_role(RoleName="kept")["Role"]
    check(role["RoleId"] == s["role_id"] and role["MaxSessionDuration"] == 5400, role)
    check(role["Tags"] == [{"Key": "keep", "Value": "yes"}], role)
    check(iam.get_role_policy(RoleName="kept", PolicyName="inl")["PolicyDocument"] == DOC, "inline")
    pol = iam.get_policy(PolicyArn=s["policy"])["Policy"]
    check(pol["DefaultVersionId"] == "v2" and pol["AttachmentCount"] == 1, pol)
    check(len(iam.list_policy_versions(PolicyArn=s["policy"])["Versions"]) == 2, "versions")
    user = iam.get_user(UserName="keeper")["User"]
    check(user["UserId"] == s["user_id"], user)
    check([g["GroupName"] for g in iam.list_groups_for_user(UserName="keeper")["Groups"]] == ["kept-group"], "group")
    ip = iam.get_instance_profile(InstanceProfileName="kept-ip")["InstanceProfile"]
    check([r["RoleName"] for r in ip["Roles"]] == ["kept"], ip)
    keys = iam.list_access_keys(UserName="keeper")["AccessKeyMetadata"]
    check([k["AccessKeyId"] for k in keys] == [s["key"]], keys)
    who = client("sts", s["key"], s["secret"]).get_caller_identity()
    check(who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/keeper" and who["UserId"] == s["user_id"], who)
    # Existing roles can still be assumed (no enforcement).
    assumed = client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="sess")
    check(assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/kept/sess"), assumed)
    # Delegation requests keep their state and deadline; the token sent before the restart
    # still trades once; the assigned request goes on to the end.
    customer = client("iam", CUSTOMER)
    r = customer.get_delegation_request(DelegationRequestId=s["assigned"])["DelegationRequest"]
    check(r["State"] == "ASSIGNED" and r["ExpirationTime"].isoformat() == s["assigned_expiry"], r)
    r = customer.get_delegation_request(DelegationRequestId=s["finalized"])["DelegationRequest"]
    check(r["State"] == "FINALIZED", r)
    redeem(s["token"], f"arn:aws:iam::{CUSTOMER}:root")
    customer.accept_delegation_request(DelegationRequestId=s["assigned"])
    customer.send_delegation_token(DelegationRequestId=s["assigned"])
    token = in_state(notifications(s["queue"], "FINALIZED", s["assigned"]), "FINALIZED")["ExchangeToken"]
    redeem(token, f"arn:aws:iam::{CUSTOMER}:root")
    print("iam state kept")


COMMANDS = {
    "suite": (suite, 0),
    "prepare": (prepare, 1),
    "check": (check_after, 1),
}

run_commands(COMMANDS, ARGS)

// KMS, Secrets Manager, IAM and STS AssumeRole through the JavaScript SDK v3.
import assert from "node:assert/strict";
import { createPublicKey, createVerify } from "node:crypto";

import {
  KMSClient,
  CreateKeyCommand,
  CreateAliasCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  SignCommand,
  VerifyCommand,
  GetPublicKeyCommand,
  ListAliasesCommand,
  ScheduleKeyDeletionCommand,
} from "@aws-sdk/client-kms";
import {
  SecretsManagerClient,
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  DeleteSecretCommand,
  RestoreSecretCommand,
  ListSecretVersionIdsCommand,
} from "@aws-sdk/client-secrets-manager";
import {
  IAMClient,
  CreateUserCommand,
  GetUserCommand,
  ListUsersCommand,
  CreateRoleCommand,
  GetRoleCommand,
  ListRolesCommand,
  CreatePolicyCommand,
  GetPolicyVersionCommand,
  ListPoliciesCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  CreateAccessKeyCommand,
  ListAccessKeysCommand,
} from "@aws-sdk/client-iam";
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

import { ACCOUNT, clientConfig, expectError, text, utf8 } from "./common.mjs";

const KEY_ALIAS = "alias/js-e2e";
const CONTEXT = { purpose: "js-e2e", tenant: "t1" };
const PLAINTEXT = "the JavaScript SDK's secret payload";
const SIGNED = "a message signed with an ECC key";
const SECRET = "js-e2e/db";
const DOOMED = "js-e2e/doomed";
const USER = "js-e2e-user";
const ROLE = "js-e2e-role";
const POLICY = "js-e2e-policy";
const POLICY_DOC = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::js-e2e/*" }],
};
const TRUST = {
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "sts:AssumeRole" },
  ],
};

export function clients(endpoint) {
  const config = clientConfig(endpoint);
  return {
    kms: new KMSClient(config),
    sm: new SecretsManagerClient(config),
    iam: new IAMClient(config),
    sts: new STSClient(config),
  };
}

/** Verifies an ECDSA signature KMS made with the public key KMS gives out (DER SPKI). */
function verifyLocally(publicKeyDer, message, signature) {
  const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: "der", type: "spki" });
  const v = createVerify("SHA256");
  v.update(message);
  return v.verify(key, Buffer.from(signature));
}

export async function write({ run, state, endpoint }) {
  const { kms, sm, iam, sts } = clients(endpoint);

  // ---- KMS ----
  let keyId;
  await run.step("kms CreateKey/CreateAlias/DescribeKey", async () => {
    const made = await kms.send(
      new CreateKeyCommand({
        Description: "js e2e key",
        Tags: [{ TagKey: "suite", TagValue: "js" }],
      }),
    );
    keyId = made.KeyMetadata.KeyId;
    assert.match(keyId, /^[0-9a-f-]{36}$/);
    assert.equal(made.KeyMetadata.KeySpec, "SYMMETRIC_DEFAULT");
    assert.equal(made.KeyMetadata.KeyUsage, "ENCRYPT_DECRYPT");
    assert.equal(made.KeyMetadata.KeyState, "Enabled");
    assert.ok(made.KeyMetadata.CreationDate instanceof Date);
    assert.equal(made.KeyMetadata.Arn, `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`);
    await kms.send(new CreateAliasCommand({ AliasName: KEY_ALIAS, TargetKeyId: keyId }));
    const d = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }));
    assert.equal(d.KeyMetadata.KeyId, keyId);
    assert.equal(d.KeyMetadata.Description, "js e2e key");
    const aliases = await kms.send(new ListAliasesCommand({ KeyId: keyId }));
    assert.deepEqual(
      aliases.Aliases.map((a) => a.AliasName),
      [KEY_ALIAS],
    );
    await expectError(
      "NotFoundException",
      kms.send(new DescribeKeyCommand({ KeyId: "alias/js-e2e-absent" })),
      400,
    );
    await expectError(
      "AlreadyExistsException",
      kms.send(new CreateAliasCommand({ AliasName: KEY_ALIAS, TargetKeyId: keyId })),
      400,
    );
  });
  await run.step("kms Encrypt/Decrypt with a context", async () => {
    const enc = await kms.send(
      new EncryptCommand({ KeyId: KEY_ALIAS, Plaintext: utf8(PLAINTEXT), EncryptionContext: CONTEXT }),
    );
    assert.equal(enc.KeyId, `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`);
    assert.equal(enc.EncryptionAlgorithm, "SYMMETRIC_DEFAULT");
    assert.ok(enc.CiphertextBlob instanceof Uint8Array && enc.CiphertextBlob.length > PLAINTEXT.length);
    const dec = await kms.send(
      new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: CONTEXT }),
    );
    assert.equal(text(dec.Plaintext), PLAINTEXT);
    assert.equal(dec.KeyId, enc.KeyId);
    await expectError(
      "InvalidCiphertextException",
      kms.send(
        new DecryptCommand({
          CiphertextBlob: enc.CiphertextBlob,
          EncryptionContext: { ...CONTEXT, tenant: "t2" },
        }),
      ),
      400,
    );
    state.set("kmsCiphertext", Buffer.from(enc.CiphertextBlob).toString("base64"));
    state.set("kmsKeyId", keyId);
  });
  await run.step("kms GenerateDataKey", async () => {
    const dk = await kms.send(
      new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: "AES_256", EncryptionContext: CONTEXT }),
    );
    assert.equal(dk.Plaintext.length, 32);
    const back = await kms.send(
      new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: CONTEXT, KeyId: keyId }),
    );
    assert.deepEqual(Buffer.from(back.Plaintext), Buffer.from(dk.Plaintext));
  });
  await run.step("kms Sign/Verify with an ECC key", async () => {
    const made = await kms.send(
      new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }),
    );
    const id = made.KeyMetadata.KeyId;
    assert.deepEqual(made.KeyMetadata.SigningAlgorithms, ["ECDSA_SHA_256"]);
    const sig = await kms.send(
      new SignCommand({
        KeyId: id,
        Message: utf8(SIGNED),
        MessageType: "RAW",
        SigningAlgorithm: "ECDSA_SHA_256",
      }),
    );
    assert.equal(sig.SigningAlgorithm, "ECDSA_SHA_256");
    const ok = await kms.send(
      new VerifyCommand({
        KeyId: id,
        Message: utf8(SIGNED),
        Signature: sig.Signature,
        SigningAlgorithm: "ECDSA_SHA_256",
      }),
    );
    assert.equal(ok.SignatureValid, true);
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: id }));
    assert.equal(pub.KeySpec, "ECC_NIST_P256");
    assert.ok(verifyLocally(pub.PublicKey, SIGNED, sig.Signature), "node:crypto verifies KMS's signature");
    await expectError(
      "KMSInvalidSignatureException",
      kms.send(
        new VerifyCommand({
          KeyId: id,
          Message: utf8(`${SIGNED}!`),
          Signature: sig.Signature,
          SigningAlgorithm: "ECDSA_SHA_256",
        }),
      ),
      400,
    );
    await expectError(
      "InvalidKeyUsageException",
      kms.send(new EncryptCommand({ KeyId: id, Plaintext: utf8("x") })),
      400,
    );
    state.set("kmsSignKeyId", id);
    state.set("kmsSignature", Buffer.from(sig.Signature).toString("base64"));
  });

  // ---- Secrets Manager ----
  await run.step("secretsmanager CreateSecret/GetSecretValue", async () => {
    const made = await sm.send(
      new CreateSecretCommand({
        Name: SECRET,
        SecretString: JSON.stringify({ user: "app", password: "v1" }),
        Description: "first",
        Tags: [{ Key: "suite", Value: "js" }],
      }),
    );
    assert.match(made.ARN, new RegExp(`^arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:js-e2e/db-[A-Za-z0-9]{6}$`));
    assert.equal(made.Name, SECRET);
    const got = await sm.send(new GetSecretValueCommand({ SecretId: SECRET }));
    assert.deepEqual(JSON.parse(got.SecretString), { user: "app", password: "v1" });
    assert.equal(got.VersionId, made.VersionId);
    assert.deepEqual(got.VersionStages, ["AWSCURRENT"]);
    assert.ok(got.CreatedDate instanceof Date);
    await expectError(
      "ResourceExistsException",
      sm.send(new CreateSecretCommand({ Name: SECRET, SecretString: "again" })),
      400,
    );
    await expectError(
      "ResourceNotFoundException",
      sm.send(new GetSecretValueCommand({ SecretId: "js-e2e/absent" })),
      400,
    );
    state.set("secretArn", made.ARN);
    state.set("secretV1", made.VersionId);
  });
  await run.step("secretsmanager PutSecretValue/UpdateSecret", async () => {
    const v2 = await sm.send(
      new PutSecretValueCommand({
        SecretId: SECRET,
        SecretString: JSON.stringify({ user: "app", password: "v2" }),
      }),
    );
    assert.deepEqual(v2.VersionStages, ["AWSCURRENT"]);
    const prev = await sm.send(
      new GetSecretValueCommand({ SecretId: SECRET, VersionStage: "AWSPREVIOUS" }),
    );
    assert.equal(JSON.parse(prev.SecretString).password, "v1");
    assert.equal(prev.VersionId, state.get("secretV1"));
    const upd = await sm.send(
      new UpdateSecretCommand({
        SecretId: SECRET,
        Description: "second",
        SecretString: JSON.stringify({ user: "app", password: "v3" }),
      }),
    );
    assert.ok(upd.VersionId && upd.VersionId !== v2.VersionId);
    const cur = await sm.send(new GetSecretValueCommand({ SecretId: state.get("secretArn") }));
    assert.equal(JSON.parse(cur.SecretString).password, "v3");
    assert.equal(cur.VersionId, upd.VersionId);
    const d = await sm.send(new DescribeSecretCommand({ SecretId: SECRET }));
    assert.equal(d.Description, "second");
    assert.deepEqual(d.Tags, [{ Key: "suite", Value: "js" }]);
    assert.deepEqual(d.VersionIdsToStages[upd.VersionId], ["AWSCURRENT"]);
    assert.deepEqual(d.VersionIdsToStages[v2.VersionId], ["AWSPREVIOUS"]);
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: SECRET }));
    assert.equal(versions.Versions.length, 2, "v1 lost every stage and is not listed");
    state.set("secretCurrent", upd.VersionId);
  });
  await run.step("secretsmanager ListSecrets/DeleteSecret/RestoreSecret", async () => {
    await sm.send(new CreateSecretCommand({ Name: DOOMED, SecretBinary: Uint8Array.of(1, 2, 3) }));
    const listed = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["js-e2e/"] }] }),
    );
    assert.deepEqual(
      listed.SecretList.map((s) => s.Name).sort(),
      [SECRET, DOOMED],
    );
    const del = await sm.send(new DeleteSecretCommand({ SecretId: DOOMED, RecoveryWindowInDays: 7 }));
    assert.ok(del.DeletionDate instanceof Date);
    const days = (del.DeletionDate.getTime() - Date.now()) / 86400000;
    assert.ok(days > 6.9 && days < 7.1, `deletion in ${days} days`);
    await expectError(
      "InvalidRequestException",
      sm.send(new GetSecretValueCommand({ SecretId: DOOMED })),
      400,
    );
    const d = await sm.send(new DescribeSecretCommand({ SecretId: DOOMED }));
    assert.ok(d.DeletedDate instanceof Date);
    const restored = await sm.send(new RestoreSecretCommand({ SecretId: DOOMED }));
    assert.equal(restored.Name, DOOMED);
    const got = await sm.send(new GetSecretValueCommand({ SecretId: DOOMED }));
    assert.deepEqual([...got.SecretBinary], [1, 2, 3]);
    // Left scheduled for deletion across the restart.
    await sm.send(new DeleteSecretCommand({ SecretId: DOOMED, RecoveryWindowInDays: 7 }));
  });

  // ---- IAM ----
  await run.step("iam CreateUser/CreateRole/CreatePolicy/Attach", async () => {
    const u = await iam.send(new CreateUserCommand({ UserName: USER, Path: "/js/" }));
    assert.equal(u.User.Arn, `arn:aws:iam::${ACCOUNT}:user/js/${USER}`);
    assert.match(u.User.UserId, /^AIDA[A-Z0-9]{17}$/);
    assert.ok(u.User.CreateDate instanceof Date);
    const r = await iam.send(
      new CreateRoleCommand({
        RoleName: ROLE,
        AssumeRolePolicyDocument: JSON.stringify(TRUST),
        Description: "js e2e role",
        MaxSessionDuration: 7200,
      }),
    );
    assert.equal(r.Role.Arn, `arn:aws:iam::${ACCOUNT}:role/${ROLE}`);
    assert.match(r.Role.RoleId, /^AROA[A-Z0-9]{17}$/);
    const p = await iam.send(
      new CreatePolicyCommand({ PolicyName: POLICY, PolicyDocument: JSON.stringify(POLICY_DOC) }),
    );
    const policyArn = `arn:aws:iam::${ACCOUNT}:policy/${POLICY}`;
    assert.equal(p.Policy.Arn, policyArn);
    assert.equal(p.Policy.DefaultVersionId, "v1");
    await iam.send(new AttachRolePolicyCommand({ RoleName: ROLE, PolicyArn: policyArn }));
    await iam.send(new AttachUserPolicyCommand({ UserName: USER, PolicyArn: policyArn }));
    const v = await iam.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: "v1" }));
    assert.deepEqual(JSON.parse(decodeURIComponent(v.PolicyVersion.Document)), POLICY_DOC);
    assert.equal(v.PolicyVersion.IsDefaultVersion, true);
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: USER }));
    assert.match(key.AccessKey.AccessKeyId, /^AKIA[A-Z0-9]{16}$/);
    assert.equal(key.AccessKey.Status, "Active");
    assert.equal(key.AccessKey.SecretAccessKey.length, 40);
    await expectError(
      "EntityAlreadyExistsException",
      iam.send(new CreateUserCommand({ UserName: USER })),
      409,
    );
    await expectError(
      "NoSuchEntityException",
      iam.send(new GetUserCommand({ UserName: "js-e2e-nobody" })),
      404,
    );
    await expectError(
      "MalformedPolicyDocumentException",
      iam.send(new CreatePolicyCommand({ PolicyName: "js-bad", PolicyDocument: "{not json" })),
      400,
    );
  });
  await run.step("iam List*", async () => {
    const users = await iam.send(new ListUsersCommand({ PathPrefix: "/js/" }));
    assert.deepEqual(
      users.Users.map((u) => u.UserName),
      [USER],
    );
    const roles = await iam.send(new ListRolesCommand({}));
    const role = roles.Roles.find((r) => r.RoleName === ROLE);
    assert.ok(role, "the role is listed");
    assert.deepEqual(JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument)), TRUST);
    const pols = await iam.send(new ListPoliciesCommand({ Scope: "Local" }));
    assert.ok(pols.Policies.some((p) => p.PolicyName === POLICY && p.AttachmentCount === 2));
    const onRole = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: ROLE }));
    assert.deepEqual(onRole.AttachedPolicies, [
      { PolicyName: POLICY, PolicyArn: `arn:aws:iam::${ACCOUNT}:policy/${POLICY}` },
    ]);
    const onUser = await iam.send(new ListAttachedUserPoliciesCommand({ UserName: USER }));
    assert.equal(onUser.AttachedPolicies.length, 1);
    const keys = await iam.send(new ListAccessKeysCommand({ UserName: USER }));
    assert.equal(keys.AccessKeyMetadata.length, 1);
  });

  // ---- STS AssumeRole ----
  await run.step("sts AssumeRole", async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/${ROLE}`;
    const r = await sts.send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "js-session", DurationSeconds: 1800 }),
    );
    assert.match(r.Credentials.AccessKeyId, /^ASIA[A-Z0-9]{16}$/);
    assert.ok(r.Credentials.SessionToken.length > 20);
    assert.ok(r.Credentials.Expiration instanceof Date);
    const left = (r.Credentials.Expiration.getTime() - Date.now()) / 1000;
    assert.ok(left > 1700 && left <= 1801, `expires in ${left}s`);
    assert.equal(
      r.AssumedRoleUser.Arn,
      `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/js-session`,
    );
    const as = new STSClient({
      ...clientConfig(endpoint),
      credentials: {
        accessKeyId: r.Credentials.AccessKeyId,
        secretAccessKey: r.Credentials.SecretAccessKey,
        sessionToken: r.Credentials.SessionToken,
      },
    });
    const who = await as.send(new GetCallerIdentityCommand({}));
    assert.equal(who.Arn, r.AssumedRoleUser.Arn);
    assert.equal(who.Account, ACCOUNT);
    await expectError(
      "ValidationError",
      sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "s", DurationSeconds: 60 })),
      400,
    );
  });
}

export async function check({ run, state, endpoint }) {
  const { kms, sm, iam, sts } = clients(endpoint);
  await run.step("kms after restart", async () => {
    const dec = await kms.send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(state.get("kmsCiphertext"), "base64"),
        EncryptionContext: CONTEXT,
      }),
    );
    assert.equal(text(dec.Plaintext), PLAINTEXT);
    const d = await kms.send(new DescribeKeyCommand({ KeyId: KEY_ALIAS }));
    assert.equal(d.KeyMetadata.KeyId, state.get("kmsKeyId"));
    const ok = await kms.send(
      new VerifyCommand({
        KeyId: state.get("kmsSignKeyId"),
        Message: utf8(SIGNED),
        Signature: Buffer.from(state.get("kmsSignature"), "base64"),
        SigningAlgorithm: "ECDSA_SHA_256",
      }),
    );
    assert.equal(ok.SignatureValid, true);
    const gone = await kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: state.get("kmsSignKeyId"), PendingWindowInDays: 7 }),
    );
    assert.equal(gone.KeyState, "PendingDeletion");
    await expectError(
      "KMSInvalidStateException",
      kms.send(
        new SignCommand({
          KeyId: state.get("kmsSignKeyId"),
          Message: utf8(SIGNED),
          SigningAlgorithm: "ECDSA_SHA_256",
        }),
      ),
      400,
    );
  });
  await run.step("secretsmanager after restart", async () => {
    const cur = await sm.send(new GetSecretValueCommand({ SecretId: SECRET }));
    assert.equal(JSON.parse(cur.SecretString).password, "v3");
    assert.equal(cur.VersionId, state.get("secretCurrent"));
    const d = await sm.send(new DescribeSecretCommand({ SecretId: DOOMED }));
    assert.ok(d.DeletedDate instanceof Date, "still scheduled for deletion");
    await sm.send(new RestoreSecretCommand({ SecretId: DOOMED }));
    for (const SecretId of [SECRET, DOOMED]) {
      await sm.send(new DeleteSecretCommand({ SecretId, ForceDeleteWithoutRecovery: true }));
    }
    await expectError(
      "ResourceNotFoundException",
      sm.send(new GetSecretValueCommand({ SecretId: SECRET })),
      400,
    );
  });
  await run.step("iam after restart", async () => {
    const u = await iam.send(new GetUserCommand({ UserName: USER }));
    assert.equal(u.User.Path, "/js/");
    const r = await iam.send(new GetRoleCommand({ RoleName: ROLE }));
    assert.equal(r.Role.MaxSessionDuration, 7200);
    assert.equal(r.Role.Description, "js e2e role");
    const onRole = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: ROLE }));
    assert.deepEqual(
      onRole.AttachedPolicies.map((p) => p.PolicyName),
      [POLICY],
    );
  });
  await run.step("sts AssumeRole after restart", async () => {
    const r = await sts.send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/${ROLE}`,
        RoleSessionName: "after",
      }),
    );
    assert.equal(r.AssumedRoleUser.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/after`);
  });
}

// The AWS SDK for JavaScript v3 signing for an IAM user under ENFORCE_IAM=1: the SDK's own
// SigV4 (its S3 uploads send `aws-chunked` bodies with a trailing CRC checksum and an unsigned
// payload; its multipart uploads sign each part), verified by the server and decided by the
// user's policies.
//
//   node enforce.mjs ENDPOINT
import assert from "node:assert/strict";

import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  DeleteObjectCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  SQSClient,
  CreateQueueCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";
import {
  DynamoDBClient,
  CreateTableCommand,
  PutItemCommand,
  GetItemCommand,
  DeleteTableCommand,
} from "@aws-sdk/client-dynamodb";
import {
  IAMClient,
  CreateUserCommand,
  PutUserPolicyCommand,
  CreateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

import { ACCOUNT, Runner, clientConfig, expectError } from "./common.mjs";

const endpoint = process.argv[2];
const root = clientConfig(endpoint);
const run = new Runner("enforce");

const statement = (Action, Resource = "*") => ({ Effect: "Allow", Action, Resource });

let user;
await run.step("iam user", async () => {
  const iam = new IAMClient(root);
  await iam.send(new CreateUserCommand({ UserName: "js-user" }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: "js-user",
      PolicyName: "p",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          statement(["s3:PutObject", "s3:GetObject"], "arn:aws:s3:::js-data/allowed/*"),
          statement(["sqs:SendMessage", "sqs:ReceiveMessage"]),
          statement("dynamodb:GetItem"),
        ],
      }),
    }),
  );
  const k = await iam.send(new CreateAccessKeyCommand({ UserName: "js-user" }));
  user = {
    ...root,
    credentials: {
      accessKeyId: k.AccessKey.AccessKeyId,
      secretAccessKey: k.AccessKey.SecretAccessKey,
    },
  };
});

await run.step("sts who", async () => {
  const who = await new STSClient(user).send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, `arn:aws:iam::${ACCOUNT}:user/js-user`);
});

await run.step("s3 signed uploads", async () => {
  await new S3Client({ ...root, forcePathStyle: true }).send(
    new CreateBucketCommand({ Bucket: "js-data" }),
  );
  const s3 = new S3Client({ ...user, forcePathStyle: true });
  // A stream of unknown length: aws-chunked with a trailing checksum.
  const { Readable } = await import("node:stream");
  const body = Buffer.alloc(200_000, 7);
  await s3.send(
    new PutObjectCommand({
      Bucket: "js-data",
      Key: "allowed/a.bin",
      Body: Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]),
      ContentLength: body.length,
    }),
  );
  const got = await s3.send(new GetObjectCommand({ Bucket: "js-data", Key: "allowed/a.bin" }));
  assert.ok(Buffer.from(await got.Body.transformToByteArray()).equals(body));
  // Multipart, each part signed by the SDK.
  const big = Buffer.alloc(11 * 1024 * 1024, 3);
  await new Upload({
    client: s3,
    params: { Bucket: "js-data", Key: "allowed/big.bin", Body: big },
    partSize: 5 * 1024 * 1024,
  }).done();
  const back = await s3.send(new GetObjectCommand({ Bucket: "js-data", Key: "allowed/big.bin" }));
  assert.equal((await back.Body.transformToByteArray()).length, big.length);
  const e = await expectError(
    "AccessDenied",
    s3.send(new PutObjectCommand({ Bucket: "js-data", Key: "other/x", Body: "x" })),
    403,
  );
  assert.match(e.message, /s3:PutObject/);
  await expectError(
    "AccessDenied",
    s3.send(new DeleteObjectCommand({ Bucket: "js-data", Key: "allowed/a.bin" })),
    403,
  );
});

await run.step("sqs json protocol", async () => {
  const { QueueUrl } = await new SQSClient(root).send(new CreateQueueCommand({ QueueName: "js-q" }));
  const sqs = new SQSClient(user);
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "hello" }));
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
  assert.equal(r.Messages?.[0]?.Body, "hello");
  await expectError("AccessDenied", sqs.send(new CreateQueueCommand({ QueueName: "nope" })));
});

await run.step("dynamodb", async () => {
  const admin = new DynamoDBClient(root);
  await admin.send(
    new CreateTableCommand({
      TableName: "js-t",
      KeySchema: [{ AttributeName: "k", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "k", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await admin.send(new PutItemCommand({ TableName: "js-t", Item: { k: { S: "1" }, v: { S: "x" } } }));
  const ddb = new DynamoDBClient(user);
  const got = await ddb.send(new GetItemCommand({ TableName: "js-t", Key: { k: { S: "1" } } }));
  assert.equal(got.Item.v.S, "x");
  await expectError(
    "AccessDeniedException",
    ddb.send(new PutItemCommand({ TableName: "js-t", Item: { k: { S: "2" } } })),
    400,
  );
  await expectError("AccessDeniedException", ddb.send(new DeleteTableCommand({ TableName: "js-t" })));
  const bad = { ...user, credentials: { ...user.credentials, secretAccessKey: "x".repeat(40) } };
  await expectError(
    "InvalidSignatureException",
    new DynamoDBClient(bad).send(new GetItemCommand({ TableName: "js-t", Key: { k: { S: "1" } } })),
    400,
  );
});

await run.step("bad secret", async () => {
  const bad = { ...user, credentials: { ...user.credentials, secretAccessKey: "x".repeat(40) } };
  await expectError("SignatureDoesNotMatch", new STSClient(bad).send(new GetCallerIdentityCommand({})), 403);
});

console.log(run.summary());

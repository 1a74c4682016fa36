//! A service on a manual clock for unit tests: every timer is moved, never slept through; a
//! restart is the same records in a fresh service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_service::RequestContext;
use snapstack_service::test_support::FakeRuntime;

use crate::{ManualClock, Req, Sqs, SqsError};

const T0: u64 = 1_700_000_000_000;

pub(crate) struct Env {
    pub sqs: Sqs,
    pub clock: Arc<ManualClock>,
    pub ctx: RequestContext,
    pub kms: Arc<FakeKms>,
    /// The runtime requests reach KMS through: it answers with `kms` and records the calls.
    pub rt: Arc<FakeRuntime>,
}

/// A KMS for unit tests: keys by id, enabled or not; a data key's blob names its key and
/// context and carries its plaintext (this is a test double, not cryptography).
#[derive(Default)]
pub(crate) struct FakeKms {
    /// Key id → enabled.
    pub keys: Mutex<HashMap<String, bool>>,
}

impl FakeKms {
    pub(crate) fn with_key(id: &str) -> FakeKms {
        let k = FakeKms::default();
        k.keys.lock().unwrap().insert(id.to_string(), true);
        k
    }

    pub(crate) fn set_enabled(&self, id: &str, on: bool) {
        self.keys.lock().unwrap().insert(id.to_string(), on);
    }

    fn usable(&self, id: &str) -> Result<(), AwsError> {
        match self.keys.lock().unwrap().get(id) {
            Some(true) => Ok(()),
            Some(false) => Err(AwsError::new(
                "DisabledException",
                format!("arn:aws:kms:us-east-1:000000000000:key/{id} is disabled."),
            )),
            None => Err(AwsError::new(
                "NotFoundException",
                format!("Key '{id}' does not exist"),
            )),
        }
    }

    fn answer(&self, op: &str, input: &Value) -> Result<Value, AwsError> {
        let context = input["EncryptionContext"].to_string();
        match op {
            "GenerateDataKey" => {
                let id = input["KeyId"].as_str().unwrap_or_default();
                self.usable(id)?;
                let plain: [u8; 32] = snapstack_service::envelope::random();
                let blob = json!({"key": id, "context": context, "plain": B64.encode(plain)});
                Ok(json!({
                    "Plaintext": B64.encode(plain),
                    "CiphertextBlob": B64.encode(blob.to_string()),
                    "KeyId": format!("arn:aws:kms:us-east-1:000000000000:key/{id}"),
                }))
            }
            "Decrypt" => {
                let raw = B64
                    .decode(input["CiphertextBlob"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                let blob: Value = serde_json::from_slice(&raw).unwrap_or_default();
                let id = blob["key"].as_str().unwrap_or_default();
                self.usable(id)?;
                if blob["context"].as_str() != Some(context.as_str()) {
                    return Err(AwsError::new("InvalidCiphertextException", ""));
                }
                Ok(json!({"Plaintext": blob["plain"]}))
            }
            _ => Err(AwsError::new("UnsupportedOperation", op)),
        }
    }
}

impl Env {
    pub(crate) fn new() -> Env {
        Env::at(T0)
    }

    pub(crate) fn at(now: u64) -> Env {
        let clock = Arc::new(ManualClock(AtomicU64::new(now)));
        let kms = Arc::new(FakeKms::with_key("k1"));
        Env {
            sqs: Sqs::with_clock(clock.clone()),
            clock,
            ctx: RequestContext::from_scope(None),
            kms: kms.clone(),
            rt: Arc::new(FakeRuntime::answering_with(move |service, op, input| {
                assert_eq!(service, "kms");
                kms.answer(op, input)
            })),
        }
    }

    /// How many calls of KMS operation `op` the service made.
    pub(crate) fn kms_calls(&self, op: &str) -> usize {
        self.rt.calls().iter().filter(|(_, o, _)| o == op).count()
    }

    /// The same records in a fresh service, as a restart's load gives them.
    pub(crate) fn restarted(&self) -> Env {
        let mut env = Env::at(self.clock.0.load(Ordering::SeqCst));
        env.kms = self.kms.clone();
        env.rt = self.rt.clone();
        env.sqs
            .store
            .replace(self.sqs.store.snapshot().map().clone());
        env.sqs.rescan_move_tasks();
        env
    }

    pub(crate) fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub(crate) fn call(&self, op: &str, input: Value) -> Result<Value, SqsError> {
        let req = Req {
            ctx: &self.ctx,
            host: "localhost:4566",
            urls: &crate::queue::DYNAMIC_URLS,
            rt: Some(&*self.rt),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(self.sqs.handle(&req, op, input))
            .map(|o| o.body)
    }

    pub(crate) fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|e| panic!("{op} failed: {e}"))
    }

    pub(crate) fn create(&self, name: &str, attrs: Value) -> String {
        self.ok(
            "CreateQueue",
            json!({"QueueName": name, "Attributes": attrs}),
        )["QueueUrl"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) fn arn(&self, url: &str) -> String {
        self.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
        )["Attributes"]["QueueArn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub(crate) fn count(&self, url: &str) -> u64 {
        self.ok(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]}),
        )["Attributes"]["ApproximateNumberOfMessages"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A source queue whose messages went to its dead-letter queue (`n` of them, one receive
    /// each): (source url, dlq url, dlq arn).
    pub(crate) fn dead_letters(&self, n: usize) -> (String, String, String) {
        let dlq = self.create("dlq", json!({}));
        let dlq_arn = self.arn(&dlq);
        let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string();
        let src = self.create(
            "src",
            json!({"RedrivePolicy": policy, "VisibilityTimeout": "1"}),
        );
        for i in 0..n {
            self.ok(
                "SendMessage",
                json!({"QueueUrl": src, "MessageBody": format!("m{i}")}),
            );
        }
        // One receive each, then the next receive moves them to the dead-letter queue.
        let mut seen = 0;
        while seen < n {
            let got = self.ok(
                "ReceiveMessage",
                json!({"QueueUrl": src, "MaxNumberOfMessages": 10}),
            );
            seen += got["Messages"].as_array().map_or(0, Vec::len);
        }
        self.advance(1_500);
        let got = self.ok(
            "ReceiveMessage",
            json!({"QueueUrl": src, "MaxNumberOfMessages": 10}),
        );
        assert!(got.get("Messages").is_none_or(|m| m == &json!([])));
        assert_eq!(self.count(&dlq), n as u64);
        (src, dlq, dlq_arn)
    }

    /// ReceiveMessage with every attribute, `extra` added to the input.
    pub(crate) fn receive(&self, url: &str, extra: Value) -> Vec<Value> {
        let mut input =
            json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "AttributeNames": ["All"]});
        if let (Value::Object(a), Value::Object(b)) = (&mut input, extra) {
            a.extend(b);
        }
        self.ok("ReceiveMessage", input)["Messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The bodies of messages.
    pub(crate) fn bodies(msgs: &[Value]) -> Vec<String> {
        msgs.iter()
            .map(|m| m["Body"].as_str().unwrap_or("").to_string())
            .collect()
    }

    pub(crate) fn task(&self, arn: &str) -> Value {
        self.ok("ListMessageMoveTasks", json!({"SourceArn": arn}))["Results"][0].clone()
    }
}

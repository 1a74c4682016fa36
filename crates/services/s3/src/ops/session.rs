//! CreateSession: short-lived credentials for a bucket (S3 Express One Zone's session auth).
//! SDKs call it before each batch of requests to a directory bucket and sign those requests
//! with the session's keys and `x-amz-s3session-token`. Requests are not authenticated here
//! (unless IAM enforcement is on), so the session is what the SDK needs to proceed: keys, a
//! token and an expiry five minutes out, as S3 gives.

use serde_json::json;
use snapstack_protocol::response::Response;

use crate::out::{reply, ts};
use crate::time::now_ms;
use crate::{Req, S3, S3Error, S3Result};

/// How long a session lasts (S3's five minutes).
const SESSION_MS: u64 = 5 * 60 * 1000;

impl S3 {
    pub(crate) fn create_session(&self, r: &Req<'_>) -> S3Result<Response> {
        let bucket = self.bucket_meta(r)?;
        let mode = r.h("x-amz-create-session-mode").unwrap_or("ReadWrite");
        if !matches!(mode, "ReadWrite" | "ReadOnly") {
            return Err(
                S3Error::invalid_argument(format!("Invalid session mode: {mode}"))
                    .with("ArgumentName", "x-amz-create-session-mode")
                    .with("ArgumentValue", mode),
            );
        }
        let sse = r.h("x-amz-server-side-encryption").unwrap_or("AES256");
        if !matches!(sse, "AES256" | "aws:kms") {
            return Err(S3Error::invalid_argument(format!(
                "The encryption method specified is not supported: {sse}"
            )));
        }
        let id = self.new_id().to_ascii_uppercase();
        let mut out = json!({
            "Credentials": {
                "AccessKeyId": format!("ASIA{}", &id[..16]),
                "SecretAccessKey": format!("{}{}", self.new_id(), &self.new_id()[..16]),
                "SessionToken": format!("{}:{}:{mode}:{}", bucket.name, r.account(), self.new_id()),
                "Expiration": ts(now_ms() + SESSION_MS),
            },
            "ServerSideEncryption": sse,
        });
        if sse == "aws:kms" {
            for (header, member) in [
                ("x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId"),
                (
                    "x-amz-server-side-encryption-context",
                    "SSEKMSEncryptionContext",
                ),
            ] {
                if let Some(v) = r.h(header) {
                    out[member] = json!(v);
                }
            }
            if let Some(v) = r.h("x-amz-server-side-encryption-bucket-key-enabled") {
                out["BucketKeyEnabled"] = json!(v.eq_ignore_ascii_case("true"));
            }
        }
        reply(r.operation, &out)
    }
}

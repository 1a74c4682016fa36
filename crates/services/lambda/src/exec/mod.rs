//! Running a function's code: the [`Executor`] trait, and the process executor that runs each
//! environment as a local process behind its own Lambda Runtime API (served on loopback). A
//! container executor can plug in behind the same trait.

mod api;
mod interp;
mod process;

use std::sync::Arc;

pub use interp::{Interpreter, resolve as resolve_interpreter};
pub use process::ProcessExecutor;
use snapstack_service::BoxFuture;

/// Everything an executor needs to run one version of a function.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// Identifies the environment pool: environments are reused only for the same key (account,
    /// region, function, version, revision).
    pub pool_key: String,
    pub function_name: String,
    pub version: String,
    pub runtime: String,
    pub handler: String,
    /// The code's hash (`CodeSha256`): names the unpacked code's cache directory.
    pub code_sha256: String,
    pub timeout_ms: u64,
    pub memory_mb: u32,
    /// The full environment of the process (AWS's variables and the function's own).
    pub env: Vec<(String, String)>,
    /// The function's layers, in order (a later one's files win over an earlier one's).
    pub layers: Vec<LayerCode>,
}

/// One layer of a function: its hash (names its unpacked directory) and where its zip comes
/// from.
#[derive(Clone)]
pub struct LayerCode {
    pub sha256: String,
    pub zip: CodeSource,
}

impl std::fmt::Debug for LayerCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerCode")
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The response payload (the function's result, or its error document).
    pub payload: Vec<u8>,
    /// `Some("Unhandled")` when the function failed.
    pub function_error: Option<String>,
    /// The invocation's log, with START/END/REPORT lines.
    pub log: String,
    pub duration_ms: f64,
}

/// Fetches the code's zip when the executor has no unpacked copy yet.
pub type CodeSource = Arc<dyn Fn() -> Result<Vec<u8>, String> + Send + Sync>;

/// Runs invocations.
pub trait Executor: Send + Sync {
    /// Run one invocation of `spec` with `payload`; `request_id` names it in the Runtime API and
    /// the log; `arn` is the invoked function ARN the runtime reports.
    fn invoke<'a>(
        &'a self,
        spec: &'a FunctionSpec,
        code: CodeSource,
        request_id: &'a str,
        arn: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Outcome>;

    /// Stop every environment of functions whose pool key starts with `prefix` (the function
    /// was updated or deleted).
    fn retire(&self, prefix: &str);
}

/// The error document of a failure that is not the function's own (timeout, crash, missing
/// runtime), as Lambda's payload.
pub fn error_payload(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"errorType": error_type, "errorMessage": message}))
        .unwrap_or_default()
}

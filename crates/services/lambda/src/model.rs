//! Lambda's records: functions (with their `$LATEST` configuration), published versions, aliases
//! and the queue of asynchronous invocations. Code is an engine blob; the records hold its id.
//!
//! The on-disk encoding is postcard: new variants of [`LambdaRecord`] go at its end, new
//! fields of a struct never (a new kind of data is a new variant).

use serde::{Deserialize, Serialize};
use snapstack_engine::{BlobId, Key, Partition, Record};

/// One function version's configuration (`$LATEST` or a published number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub description: String,
    pub timeout: u32,
    pub memory: u32,
    pub env: Vec<(String, String)>,
    pub code: BlobId,
    /// Base64 of the SHA-256 of the zip, as AWS reports it.
    pub code_sha256: String,
    pub code_size: u64,
    pub last_modified_ms: u64,
    pub revision_id: String,
    /// `$LATEST` or the version number.
    pub version: String,
    pub dead_letter_arn: Option<String>,
    pub architectures: Vec<String>,
    /// Other members stored and returned as given (VpcConfig, TracingConfig, Layers,
    /// EphemeralStorage, LoggingConfig, ...): a JSON object in the output's neutral shape.
    pub extra: String,
}

/// A function: its `$LATEST` configuration and what belongs to the function as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub latest: Config,
    pub tags: Vec<(String, String)>,
    /// Resource policy statements (JSON text each), in the order added.
    pub policy: Vec<String>,
    pub reserved_concurrency: Option<u32>,
    /// The last version number published (0: none yet).
    pub last_version: u64,
    /// PutFunctionEventInvokeConfig's document for `$LATEST` (JSON), if any.
    pub event_invoke: Option<String>,
    pub policy_revision: String,
}

/// A published version: an immutable copy of the configuration at publish time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub function: String,
    pub config: Config,
}

/// An alias: a name for a version, with an optional weighted second version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub function: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    /// Additional version and its weight (0.0..=1.0).
    pub routing: Vec<(String, f64)>,
    pub revision_id: String,
}

/// An asynchronous invocation accepted (202) and not yet finished: run by the queue task when
/// `due_ms` passes. While an attempt runs, `due_ms` is pushed past its timeout, so an attempt
/// cut short by a crash runs again after the restart (at least once, as AWS promises).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AsyncInvocation {
    pub id: String,
    pub account: String,
    pub region: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    pub accepted_ms: u64,
    pub due_ms: u64,
    /// Attempts finished so far (failed ones).
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// One record of the Lambda store. Append new variants at the end; never reorder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum LambdaRecord {
    Function(Function),
    Version(Version),
    Alias(Alias),
    Async(AsyncInvocation),
    Mapping(Mapping),
    UrlConfig(UrlConfig),
    LayerVersion(LayerVersion),
    LayerHead(LayerHead),
    StreamMapping(StreamMapping),
    Checkpoint(Checkpoint),
    Provisioned(Provisioned),
    CodeSigning(CodeSigning),
    FunctionCodeSigning(FunctionCodeSigning),
    /// The checkpoints of a DynamoDB stream's event source mapping.
    StreamCursor(StreamCursor),
    /// The tags of an event source mapping, beside its [`Mapping`].
    MappingTags(MappingTags),
    /// A function's recursive loop detection setting (`PutFunctionRecursionConfig`).
    Recursion(Recursion),
    /// A version's runtime management configuration (`PutRuntimeManagementConfig`).
    RuntimeManagement(RuntimeManagement),
    /// A published version's scaling configuration (`PutFunctionScalingConfig`).
    Scaling(Scaling),
    /// A capacity provider (Lambda Managed Instances).
    CapacityProvider(CapacityProvider),
    /// A durable execution: its operations, history and deadlines.
    DurableExecution(DurableExecution),
    /// A callback of a durable execution, by its id.
    DurableCallback(DurableCallback),
    /// A checkpoint's `ClientToken` and its answer, kept 15 minutes for retries.
    DurableClientToken(DurableClientToken),
}

/// `PutFunctionRecursionConfig`: `Allow` or `Terminate` (the default when absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recursion {
    pub function: String,
    pub recursive_loop: String,
}

/// `PutRuntimeManagementConfig` of one version (`$LATEST` or a number).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeManagement {
    pub function: String,
    pub qualifier: String,
    /// `Auto`, `FunctionUpdate` or `Manual`.
    pub update_on: String,
    /// With `Manual`: the runtime version the function is pinned to.
    pub runtime_version_arn: Option<String>,
}

/// `PutFunctionScalingConfig` of one published version (or `$LATEST.PUBLISHED`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub function: String,
    pub qualifier: String,
    pub min: Option<u32>,
    pub max: Option<u32>,
}

/// A capacity provider: where Lambda Managed Instances functions run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityProvider {
    pub name: String,
    /// `Pending`, `Active`, `Failed` or `Deleting`.
    pub state: String,
    /// The members as AWS returns them (VpcConfig, PermissionsConfig, InstanceRequirements,
    /// CapacityProviderScalingConfig, KmsKeyArn): a JSON object in the neutral shape.
    pub config: String,
    pub tags: Vec<(String, String)>,
    pub created_ms: u64,
    pub last_modified_ms: u64,
}

/// A durable execution of a function created with `DurableConfig`. Keyed outside the
/// partitions (the sweeper scans them all); `due_ms` is when it must be invoked again (a wait
/// ended, a step's retry is due, a callback completed), `deadline_ms` its execution timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurableExecution {
    pub id: String,
    pub account: String,
    pub region: String,
    pub function: String,
    /// The version that runs: `$LATEST` or a number.
    pub version: String,
    /// The qualifier the execution was started with (an alias), if any.
    pub qualifier: Option<String>,
    pub name: String,
    pub input: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `STOPPED`.
    pub status: String,
    pub result: Option<String>,
    /// The `ErrorObject` (JSON) of a failed, timed out or stopped execution.
    pub error: Option<String>,
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub deadline_ms: u64,
    pub retention_days: u32,
    /// The `Operation`s (JSON each, neutral shape), in the order started.
    pub operations: Vec<String>,
    /// The history events (JSON each, neutral shape, without their ids).
    pub events: Vec<String>,
    /// The number of the current checkpoint token.
    pub token: u64,
    /// When to invoke the function again (`None`: nothing to do until a callback or a timer).
    pub due_ms: Option<u64>,
    /// Operation ids the service changed since the last checkpoint (timers, callbacks).
    pub changed: Vec<String>,
    /// Invocations so far.
    pub invocations: u32,
}

/// A callback started by a durable execution: the execution and operation it completes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurableCallback {
    pub callback_id: String,
    pub execution: String,
    pub operation: String,
    pub account: String,
}

/// A `CheckpointDurableExecution` with a `ClientToken`: what it asked (a digest of its
/// checkpoint token and updates) and what it answered, until `expires_ms` (15 minutes after it
/// was applied). A retry with the same token and request gets the same answer and changes
/// nothing; another request with the same token is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DurableClientToken {
    pub execution: String,
    pub client_token: String,
    /// Hex SHA-256 of the request's checkpoint token and updates.
    pub request: String,
    /// The answer (the output's neutral JSON).
    pub answer: String,
    pub expires_ms: u64,
}

/// The tags of an event source mapping (`TagResource` on its `EventSourceMappingArn`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingTags {
    pub uuid: String,
    pub tags: Vec<(String, String)>,
}

/// A function URL (`$LATEST` or an alias): `http://<url_id>.lambda-url.<region>.<host>/`.
/// Keyed by its id outside the partitions, so a request finds it by its host alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UrlConfig {
    pub url_id: String,
    pub account: String,
    pub region: String,
    pub function: String,
    pub qualifier: Option<String>,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// The `Cors` member as given (JSON), if any.
    pub cors: Option<String>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    pub created_ms: u64,
    pub last_modified_ms: u64,
}

/// One version of a layer: its content is an engine blob, like function code. A deleted
/// version that functions still name stays (hidden) so that they keep running, as on AWS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerVersion {
    pub name: String,
    pub version: u64,
    pub description: String,
    pub code: BlobId,
    pub code_sha256: String,
    pub code_size: u64,
    pub created_ms: u64,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license: Option<String>,
    /// Layer version permission statements (JSON text each), in the order added.
    pub policy: Vec<String>,
    pub policy_revision: String,
    pub deleted: bool,
}

/// The last version number a layer handed out (numbers are never reused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHead {
    pub name: String,
    pub last_version: u64,
}

/// The settings of a stream event source mapping (Kinesis, DynamoDB Streams) beside its
/// [`Mapping`] (same UUID).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamMapping {
    pub uuid: String,
    /// `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`.
    pub starting_position: String,
    pub starting_timestamp_ms: Option<u64>,
    pub bisect_on_error: bool,
    /// -1: retry until the record expires.
    pub max_retries: i64,
    /// -1: no maximum.
    pub max_record_age_s: i64,
    pub on_failure: Option<String>,
    pub parallelization: u32,
    /// The mapping's creation time: `LATEST` means the records after it.
    pub created_ms: u64,
}

/// Where a stream mapping stands in one shard: the last sequence number handled (processed,
/// or given up on and sent to the on-failure destination), so a restart resumes after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uuid: String,
    pub shard_id: String,
    pub sequence: String,
    /// Failed attempts of the batch starting after `sequence`.
    pub attempts: u32,
}

/// A provisioned concurrency configuration (of a version or an alias).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provisioned {
    pub function: String,
    pub qualifier: String,
    pub requested: u32,
    pub last_modified_ms: u64,
}

/// A code signing configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeSigning {
    pub id: String,
    pub description: String,
    pub publishers: Vec<String>,
    /// `Warn` or `Enforce`.
    pub untrusted_action: String,
    pub last_modified_ms: u64,
    pub tags: Vec<(String, String)>,
}

/// The code signing configuration a function uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCodeSigning {
    pub function: String,
    pub config_arn: String,
}

/// What a stream event source mapping adds to its [`Mapping`]: where it starts, how often a
/// failed batch is retried, and per shard the last sequence number the function processed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamCursor {
    pub uuid: String,
    /// TRIM_HORIZON or LATEST.
    pub starting_position: String,
    /// -1: until the records expire.
    pub max_retries: i64,
    /// (shard id, last sequence number processed).
    pub shards: Vec<(String, String)>,
    /// Failed attempts of the batch after the checkpoint.
    pub attempts: u32,
    /// When the mapping was created (LATEST: records older than this are skipped).
    pub created_ms: u64,
}

/// An event source mapping (SQS): the poller reads the queue through the SQS service and
/// deletes a batch's messages only after the function succeeded with them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub uuid: String,
    pub account: String,
    pub region: String,
    pub function: String,
    /// The qualifier of the function ARN given, if any.
    pub qualifier: Option<String>,
    pub source_arn: String,
    pub batch_size: u32,
    pub window_s: u32,
    pub enabled: bool,
    pub report_item_failures: bool,
    pub last_modified_ms: u64,
    pub last_result: String,
}

impl Record for LambdaRecord {
    fn blobs(&self) -> Vec<BlobId> {
        match self {
            LambdaRecord::Function(f) => vec![f.latest.code],
            LambdaRecord::Version(v) => vec![v.config.code],
            LambdaRecord::LayerVersion(l) => vec![l.code],
            _ => Vec::new(),
        }
    }
}

/// Record keys.
pub mod keys {
    use super::*;

    pub fn function(p: &Partition, name: &str) -> Key {
        p.key().str("f").str(name).build()
    }
    pub fn functions(p: &Partition) -> Key {
        p.key().str("f").build()
    }
    pub fn version(p: &Partition, name: &str, n: u64) -> Key {
        p.key().str("v").str(name).u64(n).build()
    }
    pub fn versions(p: &Partition, name: &str) -> Key {
        p.key().str("v").str(name).build()
    }
    pub fn alias(p: &Partition, name: &str, alias: &str) -> Key {
        p.key().str("a").str(name).str(alias).build()
    }
    pub fn aliases(p: &Partition, name: &str) -> Key {
        p.key().str("a").str(name).build()
    }
    /// The asynchronous queue lives outside the partitions (one scan finds every due one).
    pub fn queued(id: &str) -> Key {
        Key::builder().str("~async").str(id).build()
    }
    pub fn queue() -> Key {
        Key::builder().str("~async").build()
    }
    /// Event source mappings live outside the partitions (the poller scans them all).
    pub fn mapping(uuid: &str) -> Key {
        Key::builder().str("~esm").str(uuid).build()
    }
    pub fn mappings() -> Key {
        Key::builder().str("~esm").build()
    }
    /// A stream mapping's settings, beside its mapping.
    pub fn stream_mapping(uuid: &str) -> Key {
        Key::builder().str("~esm-stream").str(uuid).build()
    }
    pub fn checkpoint(uuid: &str, shard: &str) -> Key {
        Key::builder().str("~esm-pos").str(uuid).str(shard).build()
    }
    pub fn checkpoints(uuid: &str) -> Key {
        Key::builder().str("~esm-pos").str(uuid).build()
    }
    /// Function URLs live outside the partitions (a request names only the URL's id).
    pub fn url(url_id: &str) -> Key {
        Key::builder().str("~url").str(url_id).build()
    }
    pub fn urls() -> Key {
        Key::builder().str("~url").build()
    }
    pub fn layer(p: &Partition, name: &str, version: u64) -> Key {
        p.key().str("l").str(name).u64(version).build()
    }
    pub fn layer_versions(p: &Partition, name: &str) -> Key {
        p.key().str("l").str(name).build()
    }
    pub fn layers(p: &Partition) -> Key {
        p.key().str("l").build()
    }
    pub fn layer_head(p: &Partition, name: &str) -> Key {
        p.key().str("lh").str(name).build()
    }
    pub fn provisioned(p: &Partition, name: &str, qualifier: &str) -> Key {
        p.key().str("pc").str(name).str(qualifier).build()
    }
    pub fn provisioned_of(p: &Partition, name: &str) -> Key {
        p.key().str("pc").str(name).build()
    }
    pub fn code_signing(p: &Partition, id: &str) -> Key {
        p.key().str("csc").str(id).build()
    }
    pub fn code_signings(p: &Partition) -> Key {
        p.key().str("csc").build()
    }
    pub fn function_code_signing(p: &Partition, name: &str) -> Key {
        p.key().str("fcsc").str(name).build()
    }
    pub fn function_code_signings(p: &Partition) -> Key {
        p.key().str("fcsc").build()
    }
    /// A stream mapping's checkpoints.
    pub fn cursor(uuid: &str) -> Key {
        Key::builder().str("~esmc").str(uuid).build()
    }
    /// An event source mapping's tags, beside its mapping.
    pub fn mapping_tags(uuid: &str) -> Key {
        Key::builder().str("~esm-tags").str(uuid).build()
    }
    /// Every stream cursor (the records of mappings made before the shared stream code).
    pub fn cursors() -> Key {
        Key::builder().str("~esmc").build()
    }
    pub fn recursion(p: &Partition, name: &str) -> Key {
        p.key().str("rec").str(name).build()
    }
    pub fn runtime_management(p: &Partition, name: &str, qualifier: &str) -> Key {
        p.key().str("rtm").str(name).str(qualifier).build()
    }
    pub fn runtime_managements(p: &Partition, name: &str) -> Key {
        p.key().str("rtm").str(name).build()
    }
    pub fn scaling(p: &Partition, name: &str, qualifier: &str) -> Key {
        p.key().str("fsc").str(name).str(qualifier).build()
    }
    pub fn scalings(p: &Partition, name: &str) -> Key {
        p.key().str("fsc").str(name).build()
    }
    pub fn capacity_provider(p: &Partition, name: &str) -> Key {
        p.key().str("cp").str(name).build()
    }
    pub fn capacity_providers(p: &Partition) -> Key {
        p.key().str("cp").build()
    }
    /// Durable executions live outside the partitions (the sweeper scans them all).
    pub fn durable(id: &str) -> Key {
        Key::builder().str("~dex").str(id).build()
    }
    pub fn durables() -> Key {
        Key::builder().str("~dex").build()
    }
    pub fn callback(id: &str) -> Key {
        Key::builder().str("~dcb").str(id).build()
    }
    pub fn client_token(execution: &str, token: &str) -> Key {
        Key::builder().str("~dct").str(execution).str(token).build()
    }
    /// The client tokens of one execution.
    pub fn client_tokens(execution: &str) -> Key {
        Key::builder().str("~dct").str(execution).build()
    }
    /// Every execution's client tokens.
    pub fn all_client_tokens() -> Key {
        Key::builder().str("~dct").build()
    }
}

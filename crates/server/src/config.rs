//! Server configuration: every setting from its environment variable, overridden by a flag.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// When state is saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveStrategy {
    OnRequest,
    OnShutdown,
    Scheduled,
    Manual,
}

/// When saved state is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStrategy {
    OnRequest,
    OnStartup,
    Manual,
}

impl SaveStrategy {
    pub const ALLOWED: &'static str = "ON_REQUEST, ON_SHUTDOWN, SCHEDULED, MANUAL";
    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "ON_REQUEST" => SaveStrategy::OnRequest,
            "ON_SHUTDOWN" => SaveStrategy::OnShutdown,
            "SCHEDULED" => SaveStrategy::Scheduled,
            "MANUAL" => SaveStrategy::Manual,
            _ => return None,
        })
    }
}

impl LoadStrategy {
    pub const ALLOWED: &'static str = "ON_REQUEST, ON_STARTUP, MANUAL";
    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "ON_REQUEST" => LoadStrategy::OnRequest,
            "ON_STARTUP" => LoadStrategy::OnStartup,
            "MANUAL" => LoadStrategy::Manual,
            _ => return None,
        })
    }
}

/// `SNAPSTACK_PERSIST_MODE`: what a server with `PERSISTENCE=1` does with the state directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistMode {
    /// Restore saved state and save changes (the default).
    ReadWrite,
    /// Restore saved state, never write: the state directory is left exactly as it was (for
    /// test suites that start from a prepared state and must not change it). LocalStack has no
    /// such mode; its nearest is `SNAPSHOT_SAVE_STRATEGY=MANUAL`.
    RestoreOnly,
}

impl PersistMode {
    pub const ALLOWED: &'static str = "read-write, restore-only";
    fn parse(s: &str) -> Option<Self> {
        Some(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "read-write" | "readwrite" => PersistMode::ReadWrite,
                "restore-only" | "restoreonly" | "read-only" => PersistMode::RestoreOnly,
                _ => return None,
            },
        )
    }
}

impl fmt::Display for PersistMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PersistMode::ReadWrite => "read-write",
            PersistMode::RestoreOnly => "restore-only",
        })
    }
}

/// The variable that turns one service's persistence on or off: `PERSIST_S3`,
/// `PERSIST_SECRETSMANAGER`, ...
pub fn persist_variable(service: &str) -> String {
    format!("PERSIST_{}", service.to_ascii_uppercase().replace('-', "_"))
}

impl fmt::Display for SaveStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaveStrategy::OnRequest => "ON_REQUEST",
            SaveStrategy::OnShutdown => "ON_SHUTDOWN",
            SaveStrategy::Scheduled => "SCHEDULED",
            SaveStrategy::Manual => "MANUAL",
        })
    }
}

impl fmt::Display for LoadStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoadStrategy::OnRequest => "ON_REQUEST",
            LoadStrategy::OnStartup => "ON_STARTUP",
            LoadStrategy::Manual => "MANUAL",
        })
    }
}

/// The resolved configuration of `snapstack serve`.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The first address of `GATEWAY_LISTEN`: the one URLs name.
    pub listen: SocketAddr,
    /// The other addresses of `GATEWAY_LISTEN` (`0.0.0.0:4566,0.0.0.0:443`): served alike.
    pub extra_listen: Vec<SocketAddr>,
    /// `SERVICES`: only these services start; requests for the others get an error naming the
    /// variable. `None`: every service.
    pub services: Option<Vec<String>>,
    /// `EAGER_SERVICE_LOADING`: load every service's state at start, not on its first request.
    pub eager_service_loading: bool,
    /// `SNAPSTACK_INIT_DIR`: where the init hooks live (`boot.d`, `start.d`, `ready.d`,
    /// `shutdown.d`); default `/etc/localstack/init`, as LocalStack's.
    pub init_dir: PathBuf,
    pub persistence: bool,
    /// `SNAPSTACK_PERSIST_MODE`: save changes, or only restore (see [`PersistMode`]).
    pub persist_mode: PersistMode,
    /// `PERSIST_<SERVICE>=0`: services whose state is neither restored nor saved (sorted).
    pub not_persisted: Vec<String>,
    pub save_strategy: SaveStrategy,
    pub load_strategy: LoadStrategy,
    pub flush_interval: Duration,
    pub volume_dir: PathBuf,
    /// `SNAPSTACK_DIRECT_WRITES`: write large snapshot files past the page cache (default on;
    /// `0` turns it off, e.g. for a filesystem where it misbehaves).
    pub direct_writes: bool,
    /// `SNAPSTACK_WAL`: under `ON_REQUEST`, make changes durable through the write-ahead log
    /// (default on; `0` saves a generation per group commit instead, as before the log).
    pub write_ahead_log: bool,
    /// How long a connection may idle, dribble a request, or stall, and how many may be open.
    pub connections: ConnectionLimits,
    /// `SQS_ENDPOINT_STRATEGY`: the shape of the queue URLs SQS hands out (default `standard`).
    pub sqs_endpoint_strategy: SqsEndpointStrategy,
    /// `LOCALSTACK_HOST`: `host[:port]` put in the URLs handed out. `None`:
    /// `localhost.localstack.cloud:<the port the server listens on>`; a host without a port gets
    /// the listening port too.
    pub localstack_host: Option<String>,
    /// `ENFORCE_IAM`: evaluate IAM policies for every request (LocalStack's variable; `1`,
    /// `true`; default off).
    pub enforce_iam: bool,
    /// `IAM_SOFT_MODE`: evaluate as `ENFORCE_IAM` does, but only log what would be refused and
    /// let every request through (LocalStack's variable; default off).
    pub iam_soft_mode: bool,
}

/// The bounds on client connections (see the README's configuration table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `SNAPSTACK_HEADER_TIMEOUT`: from the first byte of a request to the end of its headers.
    pub header_timeout: Duration,
    /// `SNAPSTACK_BODY_TIMEOUT`: the longest wait for the next piece of a request body while a
    /// handler reads it, and for the client to take the next piece of a response. Between
    /// pieces, not in total: a slow but steady upload is never cut.
    pub body_timeout: Duration,
    /// `SNAPSTACK_IDLE_TIMEOUT`: how long a keep-alive connection may wait, with no request in
    /// progress, for the next request. A request in progress (an SQS long poll) never counts.
    pub idle_timeout: Duration,
    /// `SNAPSTACK_MAX_CONNECTIONS`: open connections beyond it are answered 503 and closed.
    /// `None`: derived from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            max_connections: None,
        }
    }
}

impl Config {
    /// Where snapshots live: `<volume dir>/state`.
    pub fn state_dir(&self) -> PathBuf {
        self.volume_dir.join("state")
    }

    /// Where services keep working files that are not state (Lambda's unpacked code and
    /// runtime files): `<volume dir>/tmp` with persistence, else a directory of this process
    /// under the system's temporary directory.
    pub fn work_dir(&self) -> PathBuf {
        if self.persistence {
            self.volume_dir.join("tmp")
        } else {
            std::env::temp_dir().join(format!("snapstack-{}", std::process::id()))
        }
    }

    /// Lambda's working directory (code cache keyed by CodeSha256, bootstraps).
    pub fn lambda_dir(&self) -> PathBuf {
        self.work_dir().join("lambda")
    }

    /// The `host:port` put in the URLs handed out, for a server listening on `port`.
    pub fn advertised_host(&self, port: u16) -> String {
        match &self.localstack_host {
            Some(h)
                if h.rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok()) =>
            {
                h.clone()
            }
            Some(h) => format!("{h}:{port}"),
            None => format!("{DEFAULT_LOCALSTACK_HOSTNAME}:{port}"),
        }
    }
}

pub use snapstack_protocol::request::DEFAULT_LOCALSTACK_HOSTNAME;
pub use snapstack_sqs::endpoint::SqsEndpointStrategy;

/// Values given on the command line; each overrides its environment variable.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub persistence: Option<String>,
    pub save_strategy: Option<String>,
    pub load_strategy: Option<String>,
    pub flush_interval: Option<String>,
    pub volume_dir: Option<String>,
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_connections: Option<String>,
    pub sqs_endpoint_strategy: Option<String>,
    pub localstack_host: Option<String>,
    pub services: Option<String>,
}

/// A setting with a value outside its allowed set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {variable}: allowed values are {allowed}")]
pub struct ConfigError {
    pub variable: String,
    pub value: String,
    pub allowed: String,
}

pub const GATEWAY_LISTEN: &str = "GATEWAY_LISTEN";
pub const PERSISTENCE: &str = "PERSISTENCE";
pub const SNAPSHOT_SAVE_STRATEGY: &str = "SNAPSHOT_SAVE_STRATEGY";
pub const SNAPSHOT_LOAD_STRATEGY: &str = "SNAPSHOT_LOAD_STRATEGY";
pub const SNAPSHOT_FLUSH_INTERVAL: &str = "SNAPSHOT_FLUSH_INTERVAL";
pub const LOCALSTACK_VOLUME_DIR: &str = "LOCALSTACK_VOLUME_DIR";
pub const SNAPSTACK_DIRECT_WRITES: &str = "SNAPSTACK_DIRECT_WRITES";
pub const SNAPSTACK_WAL: &str = "SNAPSTACK_WAL";
pub const SNAPSTACK_HEADER_TIMEOUT: &str = "SNAPSTACK_HEADER_TIMEOUT";
pub const SNAPSTACK_BODY_TIMEOUT: &str = "SNAPSTACK_BODY_TIMEOUT";
pub const SNAPSTACK_IDLE_TIMEOUT: &str = "SNAPSTACK_IDLE_TIMEOUT";
pub const SNAPSTACK_MAX_CONNECTIONS: &str = "SNAPSTACK_MAX_CONNECTIONS";
pub const SQS_ENDPOINT_STRATEGY: &str = "SQS_ENDPOINT_STRATEGY";
pub const LOCALSTACK_HOST: &str = "LOCALSTACK_HOST";
pub const SERVICES: &str = "SERVICES";
pub const EAGER_SERVICE_LOADING: &str = "EAGER_SERVICE_LOADING";
pub const SNAPSTACK_INIT_DIR: &str = "SNAPSTACK_INIT_DIR";
pub const SNAPSTACK_PERSIST_MODE: &str = "SNAPSTACK_PERSIST_MODE";
pub const ENFORCE_IAM: &str = "ENFORCE_IAM";
pub const IAM_SOFT_MODE: &str = "IAM_SOFT_MODE";

/// LocalStack variables that change behaviour this emulator does not have: logged once at start
/// as ignored, so nobody wonders why they did nothing.
pub const IGNORED_LOCALSTACK_VARIABLES: &[&str] = &[
    "LAMBDA_EXECUTOR",
    "LAMBDA_REMOTE_DOCKER",
    "LAMBDA_DOCKER_NETWORK",
    "LAMBDA_RUNTIME_EXECUTOR",
    "DOCKER_HOST",
    "DNS_ADDRESS",
    "DNS_SERVER",
    "USE_SSL",
    "KINESIS_PROVIDER",
    "KINESIS_ERROR_PROBABILITY",
    "DYNAMODB_ERROR_PROBABILITY",
    "DYNAMODB_SHARE_DB",
    "DYNAMODB_IN_MEMORY",
    "S3_SKIP_SIGNATURE_VALIDATION",
    "SQS_PROVIDER",
    "SKIP_SSL_CERT_DOWNLOAD",
    "LOCALSTACK_API_KEY",
    "LOCALSTACK_AUTH_TOKEN",
    "OPENSEARCH_ENDPOINT_STRATEGY",
    "PROVIDER_OVERRIDE_S3",
    "DISABLE_CORS_CHECKS",
    "DISABLE_CUSTOM_CORS_S3",
    "EXTRA_CORS_ALLOWED_ORIGINS",
    // Removed from LocalStack (2.0/3.0) in favour of the variables named by `replacement`.
    "EDGE_PORT",
    "EDGE_PORT_HTTP",
    "EDGE_BIND_HOST",
    "HOSTNAME_EXTERNAL",
    "DATA_DIR",
    "HOST_TMP_FOLDER",
    "LEGACY_DIRECTORIES",
    "LEGACY_EDGE_PROXY",
    "SQS_PORT_EXTERNAL",
    "SYNCHRONOUS_SNS_EVENTS",
    // Behaviour this emulator does not have.
    "LAMBDA_KEEPALIVE_MS",
    "LAMBDA_REMOVE_CONTAINERS",
    "LAMBDA_DOCKER_FLAGS",
    "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT",
    "GATEWAY_SERVER",
    "DISABLE_EVENTS",
    "ALLOW_NONSTANDARD_REGIONS",
    "DYNAMODB_HEAP_SIZE",
    "KINESIS_SHARD_LIMIT",
    "KINESIS_LATENCY",
    "SQS_DELAY_PURGE_RETRY",
];

/// What a LocalStack removed in favour of another variable: that one (`EDGE_PORT` →
/// `GATEWAY_LISTEN`), for the message that says it is ignored.
pub fn replacement(var: &str) -> Option<&'static str> {
    Some(match var {
        "EDGE_PORT" | "EDGE_PORT_HTTP" | "EDGE_BIND_HOST" => GATEWAY_LISTEN,
        "HOSTNAME_EXTERNAL" => LOCALSTACK_HOST,
        "DATA_DIR" | "LEGACY_DIRECTORIES" => "PERSISTENCE and LOCALSTACK_VOLUME_DIR",
        "HOST_TMP_FOLDER" => LOCALSTACK_VOLUME_DIR,
        "SQS_PORT_EXTERNAL" => SQS_ENDPOINT_STRATEGY,
        _ => return None,
    })
}

/// `DEBUG` as LocalStack's `is_env_true` reads it: `1` or `true` in any case; anything else is
/// off. `Err` carries a value that is neither on nor a plain off (`0`, `false`, empty), which is
/// off too but worth a warning (`DEBUG=yes` does not turn debugging on, in LocalStack either).
pub fn debug_switch(value: Option<&str>) -> Result<bool, String> {
    let v = value.unwrap_or("").trim().to_ascii_lowercase();
    match v.as_str() {
        "1" | "true" => Ok(true),
        "" | "0" | "false" => Ok(false),
        _ => Err(v),
    }
}

/// Which of [`IGNORED_LOCALSTACK_VARIABLES`] are set in `env`.
pub fn ignored_variables(env: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    IGNORED_LOCALSTACK_VARIABLES
        .iter()
        .copied()
        .filter(|v| env(v).is_some_and(|x| !x.trim().is_empty()))
        .collect()
}

impl Config {
    /// Resolve from the process environment and the flags.
    pub fn from_env(flags: &Overrides) -> Result<Config, ConfigError> {
        Self::resolve(flags, |k| std::env::var(k).ok())
    }

    /// Resolve from `env` (a lookup of environment variables) and the flags. An empty variable
    /// counts as unset.
    pub fn resolve(
        flags: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let get = |flag: &Option<String>, var: &str| -> Option<String> {
            flag.clone()
                .or_else(|| env(var))
                .filter(|v| !v.trim().is_empty())
        };
        let err = |variable: &str, value: String, allowed: &str| ConfigError {
            variable: variable.to_string(),
            value,
            allowed: allowed.to_string(),
        };

        let (listen, extra_listen) = match get(&flags.listen, GATEWAY_LISTEN) {
            None => (SocketAddr::from(([127, 0, 0, 1], 4566)), Vec::new()),
            Some(v) => {
                let all = parse_listen_list(&v).ok_or_else(|| {
                    err(
                        GATEWAY_LISTEN,
                        v,
                        "host:port[,host:port...], e.g. 127.0.0.1:4566 or 0.0.0.0:4566,0.0.0.0:443 (a bare port means 127.0.0.1)",
                    )
                })?;
                (all[0], all[1..].to_vec())
            }
        };
        let services = match get(&flags.services, SERVICES) {
            None => None,
            Some(v) => Some(parse_services(&v).ok_or_else(|| {
                err(
                    SERVICES,
                    v,
                    &format!(
                        "a comma-separated list of {}",
                        snapstack_protocol::model::EMBEDDED.join(", ")
                    ),
                )
            })?),
        };
        let eager_service_loading = match get(&None, EAGER_SERVICE_LOADING) {
            None => false,
            Some(v) => parse_switch(&v).ok_or_else(|| err(EAGER_SERVICE_LOADING, v, "0, 1"))?,
        };
        let init_dir = PathBuf::from(
            get(&None, SNAPSTACK_INIT_DIR).unwrap_or_else(|| "/etc/localstack/init".into()),
        );
        let persistence = match get(&flags.persistence, PERSISTENCE) {
            None => false,
            Some(v) => parse_switch(&v).ok_or_else(|| err(PERSISTENCE, v, "0, 1"))?,
        };
        let persist_mode = match get(&None, SNAPSTACK_PERSIST_MODE) {
            None => PersistMode::ReadWrite,
            Some(v) => PersistMode::parse(&v)
                .ok_or_else(|| err(SNAPSTACK_PERSIST_MODE, v, PersistMode::ALLOWED))?,
        };
        let mut not_persisted = Vec::new();
        let mut switched_on = Vec::new();
        for service in snapstack_protocol::model::EMBEDDED {
            let var = persist_variable(service);
            if let Some(v) = get(&None, &var) {
                match parse_switch(&v) {
                    Some(true) => switched_on.push(*service),
                    Some(false) => not_persisted.push(service.to_string()),
                    None => {
                        return Err(err(&var, v, "0, 1"));
                    }
                }
            }
        }
        // Without PERSISTENCE=1, `PERSIST_<SERVICE>=1` persists only the services named so.
        let persistence = if !persistence && !switched_on.is_empty() {
            not_persisted = snapstack_protocol::model::EMBEDDED
                .iter()
                .filter(|s| !switched_on.contains(s))
                .map(|s| s.to_string())
                .collect();
            true
        } else {
            persistence
        };
        not_persisted.sort();
        let direct_writes = match get(&None, SNAPSTACK_DIRECT_WRITES) {
            None => true,
            Some(v) => parse_switch(&v).ok_or_else(|| err(SNAPSTACK_DIRECT_WRITES, v, "0, 1"))?,
        };
        let write_ahead_log = match get(&None, SNAPSTACK_WAL) {
            None => true,
            Some(v) => parse_switch(&v).ok_or_else(|| err(SNAPSTACK_WAL, v, "0, 1"))?,
        };
        let save_strategy = match get(&flags.save_strategy, SNAPSHOT_SAVE_STRATEGY) {
            None => SaveStrategy::Scheduled,
            Some(v) => SaveStrategy::parse(&v)
                .ok_or_else(|| err(SNAPSHOT_SAVE_STRATEGY, v, SaveStrategy::ALLOWED))?,
        };
        let load_strategy = match get(&flags.load_strategy, SNAPSHOT_LOAD_STRATEGY) {
            None => LoadStrategy::OnRequest,
            Some(v) => LoadStrategy::parse(&v)
                .ok_or_else(|| err(SNAPSHOT_LOAD_STRATEGY, v, LoadStrategy::ALLOWED))?,
        };
        let flush_interval = match get(&flags.flush_interval, SNAPSHOT_FLUSH_INTERVAL) {
            None => Duration::from_secs(15),
            Some(v) => parse_seconds(&v).ok_or_else(|| {
                err(
                    SNAPSHOT_FLUSH_INTERVAL,
                    v,
                    "a positive number of seconds (at most 86400)",
                )
            })?,
        };
        let defaults = ConnectionLimits::default();
        let seconds =
            |flag: &Option<String>, var: &'static str, default: Duration| match get(flag, var) {
                None => Ok(default),
                Some(v) => parse_seconds(&v)
                    .ok_or_else(|| err(var, v, "a positive number of seconds (at most 86400)")),
            };
        let connections = ConnectionLimits {
            header_timeout: seconds(
                &flags.header_timeout,
                SNAPSTACK_HEADER_TIMEOUT,
                defaults.header_timeout,
            )?,
            body_timeout: seconds(
                &flags.body_timeout,
                SNAPSTACK_BODY_TIMEOUT,
                defaults.body_timeout,
            )?,
            idle_timeout: seconds(
                &flags.idle_timeout,
                SNAPSTACK_IDLE_TIMEOUT,
                defaults.idle_timeout,
            )?,
            max_connections: match get(&flags.max_connections, SNAPSTACK_MAX_CONNECTIONS) {
                None => None,
                Some(v) => Some(
                    v.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or_else(|| {
                            err(
                                SNAPSTACK_MAX_CONNECTIONS,
                                v,
                                "a whole number from 1 to 1000000",
                            )
                        })?,
                ),
            },
        };
        let sqs_endpoint_strategy = match get(&flags.sqs_endpoint_strategy, SQS_ENDPOINT_STRATEGY) {
            None => SqsEndpointStrategy::Standard,
            Some(v) => SqsEndpointStrategy::parse(&v)
                .ok_or_else(|| err(SQS_ENDPOINT_STRATEGY, v, SqsEndpointStrategy::ALLOWED))?,
        };
        let localstack_host = match get(&flags.localstack_host, LOCALSTACK_HOST) {
            None => None,
            Some(v) => Some(parse_host(&v).ok_or_else(|| {
                err(
                    LOCALSTACK_HOST,
                    v,
                    "host[:port], e.g. localhost.localstack.cloud:4566 or myhost",
                )
            })?),
        };
        let enforce_iam = match get(&None, ENFORCE_IAM) {
            None => false,
            Some(v) => parse_switch(&v).ok_or_else(|| err(ENFORCE_IAM, v, "0, 1"))?,
        };
        let iam_soft_mode = match get(&None, IAM_SOFT_MODE) {
            None => false,
            Some(v) => parse_switch(&v).ok_or_else(|| err(IAM_SOFT_MODE, v, "0, 1"))?,
        };
        let volume_dir = PathBuf::from(
            get(&flags.volume_dir, LOCALSTACK_VOLUME_DIR).unwrap_or_else(|| "./volume".into()),
        );
        Ok(Config {
            listen,
            extra_listen,
            services,
            eager_service_loading,
            init_dir,
            persistence,
            persist_mode,
            not_persisted,
            save_strategy,
            load_strategy,
            flush_interval,
            volume_dir,
            direct_writes,
            write_ahead_log,
            connections,
            sqs_endpoint_strategy,
            localstack_host,
            enforce_iam,
            iam_soft_mode,
        })
    }
}

/// `0`/`1` (or `false`/`true`, any case).
fn parse_switch(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn parse_listen(v: &str) -> Option<SocketAddr> {
    let one = v.trim();
    if let Ok(port) = one.parse::<u16>() {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = one.strip_prefix("localhost:") {
        return Some(SocketAddr::from(([127, 0, 0, 1], port.parse().ok()?)));
    }
    one.parse().ok()
}

/// LocalStack's comma-separated `GATEWAY_LISTEN`: every address is served; at most 16,
/// duplicates refused.
fn parse_listen_list(v: &str) -> Option<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = v.split(',').map(parse_listen).collect::<Option<Vec<_>>>()?;
    let fixed: Vec<&SocketAddr> = all.iter().filter(|a| a.port() != 0).collect();
    let unique: std::collections::BTreeSet<_> = fixed.iter().collect();
    (!all.is_empty() && all.len() <= 16 && unique.len() == fixed.len()).then_some(all)
}

/// `SERVICES`: comma-separated names of the model set (`s3,sqs`), normalized to lower case;
/// LocalStack's aliases accepted (`cloudwatchlogs` for `logs`, `eventbridge` for `events`,
/// `step-functions`/`states` for `stepfunctions`).
fn parse_services(v: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for name in v.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        if name.is_empty() {
            continue;
        }
        let name = match name.as_str() {
            "cloudwatchlogs" => "logs".to_string(),
            "eventbridge" => "events".to_string(),
            "states" | "step-functions" => "stepfunctions".to_string(),
            _ => name,
        };
        if !snapstack_protocol::model::EMBEDDED.contains(&name.as_str()) {
            return None;
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `host[:port]`: a DNS name or IPv4 address (letters, digits, `.`, `-`, `_`), then an optional
/// port from 1 to 65535. Trimmed; a trailing `/` is dropped.
fn parse_host(v: &str) -> Option<String> {
    let v = v.trim().trim_end_matches('/');
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (v, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['.', '-'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    (host_ok && port_ok).then(|| v.to_string())
}

fn parse_seconds(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(env: &[(&str, &str)], flags: Overrides) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(&flags, |k| env.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = resolve(&[], Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:4566".parse().unwrap());
        assert!(!c.persistence);
        assert_eq!(c.save_strategy, SaveStrategy::Scheduled);
        assert_eq!(c.load_strategy, LoadStrategy::OnRequest);
        assert_eq!(c.flush_interval, Duration::from_secs(15));
        assert_eq!(c.state_dir(), PathBuf::from("./volume/state"));
        assert!(c.direct_writes);
        assert_eq!(c.connections, ConnectionLimits::default());
        assert_eq!(c.connections.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.sqs_endpoint_strategy, SqsEndpointStrategy::Standard);
        assert_eq!(c.localstack_host, None);
        assert_eq!(c.advertised_host(4566), "localhost.localstack.cloud:4566");
        assert_eq!(c.advertised_host(5001), "localhost.localstack.cloud:5001");
        let off = resolve(&[("SNAPSTACK_DIRECT_WRITES", "0")], Overrides::default()).unwrap();
        assert!(!off.direct_writes);
        assert!(c.extra_listen.is_empty());
        assert_eq!(c.services, None);
        assert!(!c.eager_service_loading);
        assert_eq!(c.init_dir, PathBuf::from("/etc/localstack/init"));
        assert!(!c.enforce_iam);
        let on = resolve(&[("ENFORCE_IAM", "1")], Overrides::default()).unwrap();
        assert!(on.enforce_iam);
        assert!(resolve(&[("ENFORCE_IAM", "soft")], Overrides::default()).is_err());
        assert!(!on.iam_soft_mode);
        let soft = resolve(&[("IAM_SOFT_MODE", "1")], Overrides::default()).unwrap();
        assert!(soft.iam_soft_mode && !soft.enforce_iam);
        assert!(resolve(&[("IAM_SOFT_MODE", "maybe")], Overrides::default()).is_err());
        assert!(ignored_variables(|k| (k == "ENFORCE_IAM").then(|| "1".to_string())).is_empty());
    }

    #[test]
    fn listen_lists_services_and_eager_loading() {
        let c = resolve(
            &[
                ("GATEWAY_LISTEN", "0.0.0.0:4566, 127.0.0.1:4510,4511"),
                ("SERVICES", "S3, sqs,cloudwatchlogs,,sqs"),
                ("EAGER_SERVICE_LOADING", "1"),
                ("SNAPSTACK_INIT_DIR", "/tmp/init"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:4566".parse().unwrap());
        assert_eq!(
            c.extra_listen,
            vec![
                "127.0.0.1:4510".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:4511".parse().unwrap()
            ]
        );
        assert_eq!(
            c.services.as_deref(),
            Some(&["s3".to_string(), "sqs".into(), "logs".into()][..])
        );
        assert!(c.eager_service_loading);
        assert_eq!(c.init_dir, PathBuf::from("/tmp/init"));
        for (var, bad) in [
            ("GATEWAY_LISTEN", "0.0.0.0:4566,0.0.0.0:4566"),
            ("GATEWAY_LISTEN", "0.0.0.0:4566,nope"),
            ("SERVICES", "s3,nosuchservice"),
            ("SERVICES", ","),
            ("EAGER_SERVICE_LOADING", "yes please"),
        ] {
            let e = resolve(&[(var, bad)], Overrides::default()).unwrap_err();
            assert_eq!(e.variable, var, "{bad}");
        }
        let ignored = ignored_variables(|k| (k == "LAMBDA_EXECUTOR").then(|| "docker".to_string()));
        assert_eq!(ignored, ["LAMBDA_EXECUTOR"]);
        let ignored = ignored_variables(|k| (k == "EDGE_PORT").then(|| "4566".to_string()));
        assert_eq!(ignored, ["EDGE_PORT"]);
        assert_eq!(replacement("EDGE_PORT"), Some(GATEWAY_LISTEN));
        assert_eq!(replacement("HOSTNAME_EXTERNAL"), Some(LOCALSTACK_HOST));
        assert_eq!(replacement("LAMBDA_EXECUTOR"), None);
        // Nothing honoured is on the list.
        for honoured in [
            PERSISTENCE,
            GATEWAY_LISTEN,
            LOCALSTACK_HOST,
            SERVICES,
            "DEBUG",
            "LS_LOG",
        ] {
            assert!(
                !IGNORED_LOCALSTACK_VARIABLES.contains(&honoured),
                "{honoured}"
            );
        }
    }

    #[test]
    fn debug_is_read_as_localstacks_is_env_true() {
        for on in ["1", "true", "TRUE", " True "] {
            assert_eq!(debug_switch(Some(on)), Ok(true), "{on}");
        }
        for off in [None, Some(""), Some("0"), Some("false"), Some("FALSE")] {
            assert_eq!(debug_switch(off), Ok(false), "{off:?}");
        }
        assert_eq!(debug_switch(Some("yes")), Err("yes".to_string()));
    }

    #[test]
    fn env_values_and_flag_overrides() {
        let env = [
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "on_request"),
            ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
            ("SNAPSHOT_FLUSH_INTERVAL", "2"),
            ("GATEWAY_LISTEN", "0.0.0.0:5000"),
            ("LOCALSTACK_VOLUME_DIR", "/tmp/v"),
        ];
        let c = resolve(&env, Overrides::default()).unwrap();
        assert!(c.persistence);
        assert_eq!(c.save_strategy, SaveStrategy::OnRequest);
        assert_eq!(c.load_strategy, LoadStrategy::OnStartup);
        assert_eq!(c.flush_interval, Duration::from_secs(2));
        assert_eq!(c.listen, "0.0.0.0:5000".parse().unwrap());
        assert_eq!(c.state_dir(), PathBuf::from("/tmp/v/state"));
        let flags = Overrides {
            save_strategy: Some("MANUAL".into()),
            persistence: Some("0".into()),
            listen: Some("4570".into()),
            ..Overrides::default()
        };
        let c = resolve(&env, flags).unwrap();
        assert_eq!(c.save_strategy, SaveStrategy::Manual);
        assert!(!c.persistence);
        assert_eq!(c.listen, "127.0.0.1:4570".parse().unwrap());
    }

    #[test]
    fn connection_limits_from_env_and_flags() {
        let env = [
            ("SNAPSTACK_HEADER_TIMEOUT", "0.5"),
            ("SNAPSTACK_BODY_TIMEOUT", "2"),
            ("SNAPSTACK_IDLE_TIMEOUT", "3"),
            ("SNAPSTACK_MAX_CONNECTIONS", "8"),
        ];
        let c = resolve(&env, Overrides::default()).unwrap().connections;
        assert_eq!(c.header_timeout, Duration::from_millis(500));
        assert_eq!(c.body_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, Some(8));
        let flags = Overrides {
            idle_timeout: Some("9".into()),
            max_connections: Some("100".into()),
            ..Overrides::default()
        };
        let c = resolve(&env, flags).unwrap().connections;
        assert_eq!(c.idle_timeout, Duration::from_secs(9));
        assert_eq!(c.max_connections, Some(100));
    }

    #[test]
    fn sqs_endpoint_strategy_and_localstack_host() {
        for (v, want) in [
            ("standard", SqsEndpointStrategy::Standard),
            ("DOMAIN", SqsEndpointStrategy::Domain),
            (" path ", SqsEndpointStrategy::Path),
            ("dynamic", SqsEndpointStrategy::Dynamic),
        ] {
            let c = resolve(&[("SQS_ENDPOINT_STRATEGY", v)], Overrides::default()).unwrap();
            assert_eq!(c.sqs_endpoint_strategy, want);
            assert_eq!(want.to_string(), v.trim().to_ascii_lowercase());
        }
        let env = [
            ("LOCALSTACK_HOST", "myhost:7000"),
            ("SQS_ENDPOINT_STRATEGY", "path"),
        ];
        let c = resolve(&env, Overrides::default()).unwrap();
        assert_eq!(c.advertised_host(4566), "myhost:7000");
        let flags = Overrides {
            localstack_host: Some("other".into()),
            sqs_endpoint_strategy: Some("domain".into()),
            ..Overrides::default()
        };
        let c = resolve(&env, flags).unwrap();
        assert_eq!(c.sqs_endpoint_strategy, SqsEndpointStrategy::Domain);
        assert_eq!(c.advertised_host(4570), "other:4570");
    }

    #[test]
    fn per_service_persistence_and_the_restore_only_mode() {
        let c = resolve(&[], Overrides::default()).unwrap();
        assert_eq!(c.persist_mode, PersistMode::ReadWrite);
        assert!(c.not_persisted.is_empty());
        let c = resolve(
            &[
                ("PERSISTENCE", "1"),
                ("PERSIST_SQS", "0"),
                ("PERSIST_S3", "1"),
                ("PERSIST_SECRETSMANAGER", "false"),
                ("SNAPSTACK_PERSIST_MODE", "restore-only"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.not_persisted, ["secretsmanager", "sqs"]);
        assert_eq!(c.persist_mode, PersistMode::RestoreOnly);
        assert_eq!(c.persist_mode.to_string(), "restore-only");
        assert_eq!(persist_variable("s3"), "PERSIST_S3");
        // Without PERSISTENCE=1, the services switched on are the only ones persisted.
        for global in [None, Some("0")] {
            let mut env = vec![("PERSIST_SQS", "1"), ("PERSIST_SSM", "true")];
            env.extend(global.map(|g| ("PERSISTENCE", g)));
            let c = resolve(&env, Overrides::default()).unwrap();
            assert!(c.persistence);
            assert!(!c.not_persisted.iter().any(|s| s == "sqs" || s == "ssm"));
            assert!(c.not_persisted.iter().any(|s| s == "s3"));
            assert_eq!(
                c.not_persisted.len(),
                snapstack_protocol::model::EMBEDDED.len() - 2
            );
        }
        let c = resolve(&[("PERSIST_SQS", "0")], Overrides::default()).unwrap();
        assert!(!c.persistence, "switching one off turns nothing on");
        for (var, bad) in [
            ("PERSIST_SQS", "maybe"),
            ("SNAPSTACK_PERSIST_MODE", "sometimes"),
        ] {
            let e = resolve(&[(var, bad)], Overrides::default()).unwrap_err();
            assert_eq!(e.variable, var);
        }
    }

    #[test]
    fn empty_values_mean_default() {
        let c = resolve(&[("SNAPSHOT_SAVE_STRATEGY", "")], Overrides::default()).unwrap();
        assert_eq!(c.save_strategy, SaveStrategy::Scheduled);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_allowed_values() {
        for (var, val, allowed) in [
            (
                "SNAPSHOT_SAVE_STRATEGY",
                "SOMETIMES",
                "ON_REQUEST, ON_SHUTDOWN",
            ),
            (
                "SNAPSHOT_LOAD_STRATEGY",
                "LAZY",
                "ON_REQUEST, ON_STARTUP, MANUAL",
            ),
            ("PERSISTENCE", "yes", "0, 1"),
            ("SNAPSTACK_DIRECT_WRITES", "maybe", "0, 1"),
            ("SNAPSHOT_FLUSH_INTERVAL", "-1", "positive"),
            ("SNAPSHOT_FLUSH_INTERVAL", "abc", "positive"),
            ("GATEWAY_LISTEN", "nope", "host:port"),
            ("SNAPSTACK_IDLE_TIMEOUT", "0", "positive"),
            ("SNAPSTACK_HEADER_TIMEOUT", "x", "positive"),
            ("SNAPSTACK_BODY_TIMEOUT", "-3", "positive"),
            ("SNAPSTACK_MAX_CONNECTIONS", "0", "whole number"),
            (
                "SQS_ENDPOINT_STRATEGY",
                "off",
                "standard, domain, path, dynamic",
            ),
            ("LOCALSTACK_HOST", "http://h:1", "host[:port]"),
            ("LOCALSTACK_HOST", "h:99999", "host[:port]"),
            ("LOCALSTACK_HOST", "a b", "host[:port]"),
        ] {
            let e = resolve(&[(var, val)], Overrides::default()).unwrap_err();
            assert_eq!(e.variable, var);
            let msg = e.to_string();
            assert!(msg.contains(var), "{msg}");
            assert!(msg.contains(allowed), "{msg}");
        }
    }
}

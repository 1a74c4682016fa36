//! The `snapstack` command.

use std::process::ExitCode;

#[cfg(feature = "pods")]
mod pod_cli;
mod snapshot_cli;
mod state_cli;

use clap::{Parser, Subcommand};

mod allocator;

/// mimalloc rather than glibc's malloc: the server allocates on one worker thread and frees on
/// another all the time, and glibc's arena locks showed up in profiles (`__lll_lock_wake_private`)
/// as a cost that grows with connections. Tuned in [`allocator::tune`] to give memory back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use snapstack::server::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "snapstack",
    version,
    about = "A local AWS emulator whose state survives restarts"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the AWS gateway. Every flag overrides the environment variable named in its help.
    Serve(ServeArgs),
    /// Measure requests per second and latency over keep-alive HTTP against an in-process server.
    /// Without --op, runs the standard matrix (put/get, with and without a concurrent save,
    /// ON_REQUEST group commit).
    Bench(BenchArgs),
    /// Measure one operation against a running server (any build, or another emulator):
    /// requests per second and latency over keep-alive HTTP. One line of JSON per run.
    Loadgen(LoadgenArgs),
    /// A saved state directory without a server: `list` its generations, `verify` every chunk
    /// they reference (exit code 1 when it finds damage), `diff` two generations of a service
    /// (its changed records named as resources: bucket/key, table/item key, queue/message id),
    /// `export` generations to an archive file, `import` one, `gc` a stopped server's garbage.
    Snapshot(snapshot_cli::SnapshotArgs),
    /// A running server's state: `status`, `save`, `load` (a chosen generation with
    /// --service S --generation N, to undo a reset or a bad run), `reset`.
    State(state_cli::StateArgs),
    /// Named, versioned snapshots on a remote (S3-compatible store or directory), moved
    /// incrementally: save, load (into a running server), list, versions, inspect, delete, gc,
    /// remote add|list|remove.
    #[cfg(feature = "pods")]
    Pod(pod_cli::PodArgs),
}

#[derive(clap::Args)]
struct LoadgenArgs {
    /// The server, `host:port`.
    #[arg(long, default_value = "127.0.0.1:4566")]
    addr: String,
    /// ssm-put, ssm-get, ddb-put, ddb-get, sqs-send, s3-put or s3-get.
    #[arg(long)]
    op: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Distinct keys (written first for the reads).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// put or get (default: the whole matrix).
    #[arg(long)]
    op: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Parameters written before each run.
    #[arg(long, default_value_t = 100_000)]
    preload: usize,
    /// Persist with this save strategy (default: persistence off).
    #[arg(long)]
    save_strategy: Option<String>,
    /// Save the whole state in a loop while the clients run (needs --save-strategy).
    #[arg(long)]
    concurrent_save: bool,
    /// The durability matrix, side by side: SSM PutParameter and DynamoDB PutItem under
    /// SCHEDULED and ON_REQUEST with the write-ahead log off and on, one client against the raw
    /// fdatasync latency of the disk.
    #[arg(long)]
    durability: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// host:port to listen on [env: GATEWAY_LISTEN] (default 127.0.0.1:4566).
    #[arg(long)]
    listen: Option<String>,
    /// 0 or 1: save and load state [env: PERSISTENCE] (default 0).
    #[arg(long)]
    persistence: Option<String>,
    /// ON_REQUEST, ON_SHUTDOWN, SCHEDULED or MANUAL [env: SNAPSHOT_SAVE_STRATEGY] (default SCHEDULED).
    #[arg(long)]
    save_strategy: Option<String>,
    /// ON_REQUEST, ON_STARTUP or MANUAL [env: SNAPSHOT_LOAD_STRATEGY] (default ON_REQUEST).
    #[arg(long)]
    load_strategy: Option<String>,
    /// Seconds between scheduled saves [env: SNAPSHOT_FLUSH_INTERVAL] (default 15).
    #[arg(long)]
    flush_interval: Option<String>,
    /// Volume directory; state lives in <dir>/state [env: LOCALSTACK_VOLUME_DIR] (default ./volume).
    #[arg(long)]
    volume_dir: Option<String>,
    /// Seconds from a request's first byte to the end of its headers [env: SNAPSTACK_HEADER_TIMEOUT] (default 30).
    #[arg(long)]
    header_timeout: Option<String>,
    /// Seconds a request body may pause between pieces, or a response wait for the client to read [env: SNAPSTACK_BODY_TIMEOUT] (default 60).
    #[arg(long)]
    body_timeout: Option<String>,
    /// Seconds a keep-alive connection may wait for its next request [env: SNAPSTACK_IDLE_TIMEOUT] (default 75).
    #[arg(long)]
    idle_timeout: Option<String>,
    /// Open connections allowed; more are answered 503 [env: SNAPSTACK_MAX_CONNECTIONS] (default: the file-descriptor limit less 320).
    #[arg(long)]
    max_connections: Option<String>,
    /// Shape of SQS queue URLs: standard, domain, path or dynamic [env: SQS_ENDPOINT_STRATEGY] (default standard).
    #[arg(long)]
    sqs_endpoint_strategy: Option<String>,
    /// host[:port] put in the URLs handed out [env: LOCALSTACK_HOST] (default localhost.localstack.cloud:<listening port>).
    #[arg(long)]
    localstack_host: Option<String>,
    /// Only these services start, comma-separated (SERVICES); requests for the others get an
    /// error naming the variable.
    #[arg(long)]
    services: Option<String>,
}

/// Logging from `SNAPSTACK_LOG` (a level), else LocalStack's `LS_LOG` (its levels, `warning`
/// and `trace-internal` too), and LocalStack's `DEBUG=1` (debug logs and a request log line per
/// call). A value that is not a level stops the start, naming the variable.
fn init_logging() {
    let debug = snapstack::server::config::debug_switch(std::env::var("DEBUG").ok().as_deref());
    let (var, value) = match std::env::var("SNAPSTACK_LOG") {
        Ok(v) if !v.trim().is_empty() => ("SNAPSTACK_LOG", v),
        _ => ("LS_LOG", std::env::var("LS_LOG").unwrap_or_default()),
    };
    let level = match value.trim().to_ascii_lowercase().as_str() {
        "trace" | "trace-internal" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" | "warning" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        "" if debug == Ok(true) => tracing::Level::DEBUG,
        "" => tracing::Level::INFO,
        other => {
            eprintln!(
                "snapstack: configuration error: {var}={other:?} is not one of error, warn, info, debug, trace"
            );
            std::process::exit(2);
        }
    };
    snapstack::server::request_log::enable(debug == Ok(true));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(v) = debug {
        tracing::warn!(
            "DEBUG={v:?} is neither 1/true nor 0/false: debugging stays off (as in LocalStack)"
        );
    }
}

fn loadgen(args: LoadgenArgs) -> Result<(), String> {
    if !(args.seconds > 0.0 && args.seconds < 3600.0) || args.connections == 0 {
        return Err("--seconds must be in (0, 3600) and --connections at least 1".into());
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let r = rt.block_on(snapstack::server::loadgen::run(
        &args.addr,
        &args.op,
        args.connections,
        std::time::Duration::from_secs_f64(args.seconds),
        args.keys,
    ))?;
    let delivery = r
        .delivery
        .as_ref()
        .map(|d| {
            format!(
                ",\"delivered\":{},\"delivery_p50_us\":{},\"delivery_p99_us\":{}",
                d.delivered, d.p50_us, d.p99_us
            )
        })
        .unwrap_or_default();
    println!(
        "{{\"op\":\"{}\",\"ops_per_sec\":{:.1},\"ops\":{},\"errors\":{},\"p50_us\":{},\"p99_us\":{}{delivery}}}",
        r.op,
        r.ops_per_sec(),
        r.ops,
        r.errors,
        r.p50_us,
        r.p99_us
    );
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), String> {
    use snapstack::server::bench::{BenchOp, BenchOptions, run};
    use snapstack::server::config::SaveStrategy;
    let parse_op = |s: &str| match s {
        "put" => Ok(BenchOp::Put),
        "get" => Ok(BenchOp::Get),
        "ddb-put" => Ok(BenchOp::DdbPut),
        other => Err(format!("--op must be put, get or ddb-put, not {other:?}")),
    };
    let parse_save = |s: &str| match s.to_ascii_uppercase().as_str() {
        "ON_REQUEST" => Ok(SaveStrategy::OnRequest),
        "ON_SHUTDOWN" => Ok(SaveStrategy::OnShutdown),
        "SCHEDULED" => Ok(SaveStrategy::Scheduled),
        "MANUAL" => Ok(SaveStrategy::Manual),
        other => Err(format!(
            "--save-strategy must be one of ON_REQUEST, ON_SHUTDOWN, SCHEDULED, MANUAL, not {other:?}"
        )),
    };
    if !(args.seconds > 0.0 && args.seconds < 3600.0) || args.connections == 0 {
        return Err("--seconds must be in (0, 3600) and --connections at least 1".into());
    }
    let base = BenchOptions {
        op: BenchOp::Put,
        connections: args.connections,
        duration: std::time::Duration::from_secs_f64(args.seconds),
        preload: args.preload,
        save_strategy: args.save_strategy.as_deref().map(parse_save).transpose()?,
        concurrent_save: args.concurrent_save,
        write_ahead_log: std::env::var("SNAPSTACK_WAL").map_or(true, |v| v != "0"),
    };
    let runs: Vec<(String, BenchOptions)> = match args.op.as_deref() {
        _ if args.durability => {
            let mut v = Vec::new();
            for (op, name) in [
                (BenchOp::Put, "SSM PutParameter"),
                (BenchOp::DdbPut, "DynamoDB PutItem"),
            ] {
                for (label, strategy, wal) in [
                    ("SCHEDULED", SaveStrategy::Scheduled, true),
                    (
                        "ON_REQUEST, log off (before)",
                        SaveStrategy::OnRequest,
                        false,
                    ),
                    ("ON_REQUEST, log on (after)", SaveStrategy::OnRequest, true),
                ] {
                    v.push((
                        format!("{name}, {} clients, {label}", args.connections),
                        BenchOptions {
                            op,
                            save_strategy: Some(strategy),
                            write_ahead_log: wal,
                            concurrent_save: false,
                            ..base.clone()
                        },
                    ));
                }
            }
            for (label, wal) in [("log off (before)", false), ("log on (after)", true)] {
                v.push((
                    format!("SSM PutParameter, 1 client, ON_REQUEST, {label}"),
                    BenchOptions {
                        op: BenchOp::Put,
                        connections: 1,
                        save_strategy: Some(SaveStrategy::OnRequest),
                        write_ahead_log: wal,
                        concurrent_save: false,
                        ..base.clone()
                    },
                ));
            }
            v
        }
        Some(op) => vec![(
            op.to_string(),
            BenchOptions {
                op: parse_op(op)?,
                ..base
            },
        )],
        None => {
            let mut v = Vec::new();
            for op in [BenchOp::Put, BenchOp::Get] {
                let name = if op == BenchOp::Put { "put" } else { "get" };
                let o = BenchOptions { op, ..base.clone() };
                v.push((
                    format!("{name}, persistence off"),
                    BenchOptions {
                        save_strategy: None,
                        concurrent_save: false,
                        ..o.clone()
                    },
                ));
                v.push((
                    format!("{name}, MANUAL, no save running"),
                    BenchOptions {
                        save_strategy: Some(SaveStrategy::Manual),
                        concurrent_save: false,
                        ..o.clone()
                    },
                ));
                v.push((
                    format!("{name}, MANUAL, full saves back to back"),
                    BenchOptions {
                        save_strategy: Some(SaveStrategy::Manual),
                        concurrent_save: true,
                        ..o.clone()
                    },
                ));
            }
            v.push((
                "put, ON_REQUEST (durable, group commit)".into(),
                BenchOptions {
                    op: BenchOp::Put,
                    save_strategy: Some(SaveStrategy::OnRequest),
                    concurrent_save: false,
                    ..base.clone()
                },
            ));
            v
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!(
        "snapstack bench: {} connections, {} s per run, {} parameters preloaded",
        args.connections, args.seconds, args.preload
    );
    if args.durability {
        let (p50, p99) =
            snapstack::server::bench::raw_fdatasync_latency(&std::env::temp_dir(), 2000)?;
        println!(
            "{:60} p50 {p50} µs, p99 {p99} µs (256-byte write + fdatasync, {})",
            "raw fdatasync latency of this disk",
            std::env::temp_dir().display()
        );
    }
    for (name, opts) in runs {
        let report = rt.block_on(run(opts))?;
        println!("{name:60} {report}");
    }
    Ok(())
}

/// Buffers of this size and more are always their own mapping, returned to the system when freed.
const MMAP_THRESHOLD: libc::c_int = 4 << 20;

/// glibc raises its mmap threshold to the size of each large buffer freed (up to 32 MiB), after
/// which pack and body buffers of several MiB come from per-thread arenas and stay resident once
/// freed: a disk-full outage that cycles such buffers left ~100 MiB resident for good (issue 15,
/// item 2). A fixed threshold keeps the large buffers returnable.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` takes no pointers; it only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("snapstack {}", snapstack::VERSION);
            println!(
                "run `snapstack serve` to start the AWS gateway (`snapstack --help` for more)"
            );
            ExitCode::SUCCESS
        }
        Some(Command::Loadgen(args)) => match loadgen(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("snapstack loadgen: {e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Bench(args)) => match bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("snapstack bench: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Snapshot(args)) => snapshot_cli::run(args),
        Some(Command::State(args)) => state_cli::run(args),
        #[cfg(feature = "pods")]
        Some(Command::Pod(args)) => pod_cli::run(args),
        Some(Command::Serve(args)) => {
            allocator::start_collector();
            let flags = Overrides {
                listen: args.listen,
                persistence: args.persistence,
                save_strategy: args.save_strategy,
                load_strategy: args.load_strategy,
                flush_interval: args.flush_interval,
                volume_dir: args.volume_dir,
                header_timeout: args.header_timeout,
                body_timeout: args.body_timeout,
                idle_timeout: args.idle_timeout,
                max_connections: args.max_connections,
                sqs_endpoint_strategy: args.sqs_endpoint_strategy,
                localstack_host: args.localstack_host,
                services: args.services,
            };
            let config = match Config::from_env(&flags) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("snapstack: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging();
            fix_mmap_threshold();
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("snapstack: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(snapstack::server::serve(config));
            // Everything that matters (the shutdown save) is done: do not wait for idle
            // connections or worker threads.
            rt.shutdown_timeout(std::time::Duration::from_millis(100));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("snapstack: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

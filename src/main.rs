//! The `snapstack` command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
}

fn init_logging() {
    let level = match std::env::var("SNAPSTACK_LOG")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("snapstack {}", snapstack::VERSION);
            println!(
                "run `snapstack serve` to start the AWS gateway (`snapstack --help` for more)"
            );
            ExitCode::SUCCESS
        }
        Some(Command::Serve(args)) => {
            let flags = Overrides {
                listen: args.listen,
                persistence: args.persistence,
                save_strategy: args.save_strategy,
                load_strategy: args.load_strategy,
                flush_interval: args.flush_interval,
                volume_dir: args.volume_dir,
            };
            let config = match Config::from_env(&flags) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("snapstack: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging();
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

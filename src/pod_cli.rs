//! `snapstack pod …`: named, versioned snapshots of the state on a remote (any S3-compatible
//! store or a directory), moved incrementally. See `snapstack_pods` and the README.
//!
//! - `save` reads the saved generations in the volume directory (after asking a server running
//!   at `--endpoint` to save, when one answers) and sends what the remote lacks.
//! - `load` asks the running server at `--endpoint` to fetch and merge the pod
//!   (`POST /_localstack/pods/load`): no restart.
//! - `list`, `versions`, `inspect`, `delete`, `gc` look at the remote only.
//! - `remote add|list|remove` keep named remotes in `<volume>/pods/remotes.json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;
use snapstack::{Engine, EngineOptions};
use snapstack_pods::progress::Progress;
use snapstack_pods::remote::Remote;
use snapstack_pods::{PodError, parse_pod_ref, remotes};

#[derive(clap::Args)]
pub struct PodArgs {
    #[command(subcommand)]
    command: PodCommand,
    /// The remote: a URL (file:///dir, s3://bucket[/prefix]?endpoint=http://host:port) or a
    /// name from `pod remote add` (default: the remote named `default`).
    #[arg(long, global = true)]
    remote: Option<String>,
    /// Volume directory (state in <dir>/state, remotes in <dir>/pods) [env: LOCALSTACK_VOLUME_DIR] (default ./volume).
    #[arg(long, global = true)]
    volume_dir: Option<String>,
    /// The running server (save asks it to save first; load asks it to load).
    #[arg(long, global = true, default_value = "http://127.0.0.1:4566")]
    endpoint: String,
}

#[derive(Subcommand)]
enum PodCommand {
    /// Save the newest saved state as version N+1 of a pod.
    Save {
        name: String,
        /// Only these services, comma-separated (default: every saved one).
        #[arg(long)]
        services: Option<String>,
        /// A message kept with the version.
        #[arg(short, long, default_value = "")]
        message: String,
        /// Chunks sent at once.
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// Load NAME[:VERSION] into the running server, without a restart.
    Load {
        pod: String,
        /// account-region-merge (default: for each account and region the pod holds, the
        /// pod's state replaces the server's) or overwrite (the server's whole state becomes
        /// the pod's).
        #[arg(long, default_value = "account-region-merge")]
        strategy: String,
        /// Print per service what would be added, changed and removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only these services, comma-separated.
        #[arg(long)]
        services: Option<String>,
    },
    /// The pods on the remote, with their newest version.
    List,
    /// Every version of a pod.
    Versions { name: String },
    /// What a pod version holds, per service, account and region, without loading it.
    Inspect {
        pod: String,
        /// Resources named per account and region.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Delete a pod (every version) or NAME:VERSION. Chunks other versions share stay (`pod gc`
    /// removes those no version references).
    Delete { pod: String },
    /// Delete the chunks and chunk lists no version of any pod on the remote references.
    Gc {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep unreferenced objects modified less than this many minutes ago (a save by a
        /// client that takes no lease may still need them).
        #[arg(long, default_value_t = 60)]
        grace: u64,
        /// Directories listed and objects deleted at once.
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// Named remotes, kept in the volume directory.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
}

#[derive(Subcommand)]
enum RemoteCommand {
    /// Add (or replace) a named remote.
    Add { name: String, url: String },
    /// The named remotes.
    List,
    /// Remove a named remote.
    Remove { name: String },
}

fn volume_dir(args: &PodArgs) -> PathBuf {
    let v = args
        .volume_dir
        .clone()
        .or_else(|| std::env::var("LOCALSTACK_VOLUME_DIR").ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "./volume".into());
    PathBuf::from(v)
}

fn split_list(s: &Option<String>) -> Option<Vec<String>> {
    s.as_ref().map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
}

fn iso(ms: u64) -> String {
    snapstack::server::services::s3::iso8601(ms)
}

/// Exit codes: 0 done, 1 the operation failed.
pub fn run(args: PodArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snapstack pod: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(&args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("snapstack pod: {e}");
            ExitCode::from(1)
        }
    }
}

fn open_remote(args: &PodArgs) -> Result<Remote, PodError> {
    let url = remotes::resolve(&volume_dir(args), args.remote.as_deref())?;
    Remote::open(&url)
}

async fn dispatch(args: &PodArgs) -> Result<ExitCode, PodError> {
    let volume = volume_dir(args);
    match &args.command {
        PodCommand::Remote { command } => remote_cmd(&volume, command),
        PodCommand::Save {
            name,
            services,
            message,
            parallel,
        } => {
            let remote = open_remote(args)?;
            save(args, &volume, &remote, name, services, message, *parallel).await
        }
        PodCommand::Load {
            pod,
            strategy,
            dry_run,
            services,
        } => {
            let url = remotes::resolve(&volume, args.remote.as_deref())?;
            load(args, &url, pod, strategy, *dry_run, services).await
        }
        PodCommand::List => {
            let remote = open_remote(args)?;
            let pods = snapstack_pods::load::pods(&remote).await?;
            if pods.is_empty() {
                println!("no pods on {}", remote.display);
            }
            for p in pods {
                match snapstack_pods::load::read_version(&remote, &p, None).await {
                    Ok(v) => println!(
                        "{p:<24} version {:<4} {}  {} services, {} records, {} bytes  {}",
                        v.version,
                        iso(v.created_unix_ms),
                        v.services.len(),
                        v.records,
                        v.bytes,
                        v.message
                    ),
                    Err(e) => println!("{p:<24} {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PodCommand::Versions { name } => {
            let remote = open_remote(args)?;
            let (name, _) = parse_pod_ref(name)?;
            let versions = snapstack_pods::save::versions(&remote, &name).await?;
            if versions.is_empty() {
                return Err(PodError(format!(
                    "no pod named {name:?} on {}",
                    remote.display
                )));
            }
            println!(
                "{:>7}  {:<24} {:<9} {:>9} {:>12} {:>8} {:>12}  services / message",
                "version", "saved (UTC)", "snapstack", "records", "bytes", "sent", "sent bytes"
            );
            for n in versions {
                match snapstack_pods::load::read_version(&remote, &name, Some(n)).await {
                    Ok(v) => println!(
                        "{:>7}  {:<24} {:<9} {:>9} {:>12} {:>8} {:>12}  {} / {}",
                        v.version,
                        iso(v.created_unix_ms),
                        v.snapstack_version,
                        v.records,
                        v.bytes,
                        v.sent_chunks,
                        v.sent_bytes,
                        v.services
                            .iter()
                            .map(|s| s.service.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        v.message
                    ),
                    Err(e) => println!("{n:>7}  unreadable: {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PodCommand::Inspect { pod, limit } => {
            let remote = open_remote(args)?;
            inspect(&remote, pod, *limit).await
        }
        PodCommand::Gc {
            dry_run,
            grace,
            parallel,
        } => {
            let remote = open_remote(args)?;
            gc(&remote, *dry_run, *grace, *parallel).await
        }
        PodCommand::Delete { pod } => {
            let remote = open_remote(args)?;
            let (name, version) = parse_pod_ref(pod)?;
            let removed = snapstack_pods::load::delete(&remote, &name, version).await?;
            println!(
                "deleted pod {name} version(s) {}",
                removed
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn remote_cmd(volume: &Path, command: &RemoteCommand) -> Result<ExitCode, PodError> {
    match command {
        RemoteCommand::Add { name, url } => {
            remotes::add(volume, name, url)?;
            println!(
                "remote {name} added ({})",
                remotes::remotes_file(volume).display()
            );
        }
        RemoteCommand::List => {
            let all = remotes::read(volume)?;
            if all.is_empty() {
                println!("no remotes (snapstack pod remote add NAME URL)");
            }
            for (n, u) in all {
                println!("{n:<16} {u}");
            }
        }
        RemoteCommand::Remove { name } => {
            if !remotes::remove(volume, name)? {
                return Err(PodError(format!("no remote named {name:?}")));
            }
            println!("remote {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn save(
    args: &PodArgs,
    volume: &Path,
    remote: &Remote,
    name: &str,
    services: &Option<String>,
    message: &str,
    parallel: usize,
) -> Result<ExitCode, PodError> {
    let (name, version) = parse_pod_ref(name)?;
    if version.is_some() {
        return Err(PodError(
            "a save makes the next version: name the pod without :VERSION".into(),
        ));
    }
    // A running server saves first, so the pod holds its current state.
    let url = format!(
        "{}/_localstack/state/save",
        args.endpoint.trim_end_matches('/')
    );
    match snapstack_pods::client::post(&url, None).await? {
        None => eprintln!(
            "no server at {}: saving the state in {} as it is",
            args.endpoint,
            volume.display()
        ),
        Some((200, _)) => {}
        Some((status, body)) => {
            return Err(PodError(format!(
                "the server at {} could not save its state ({status}): {body}",
                args.endpoint
            )));
        }
    }
    let dir = volume.join("state");
    if !dir.join("manifests").is_dir() {
        return Err(PodError(format!(
            "no saved state in {} (run the server with PERSISTENCE=1, or pass --volume-dir)",
            dir.display()
        )));
    }
    let engine = Engine::open(&dir, EngineOptions::default())
        .map(Arc::new)
        .map_err(|e| PodError(format!("{}: {e}", dir.display())))?;
    let opts = snapstack_pods::save::SaveOptions {
        services: split_list(services),
        message: message.to_string(),
        parallel: parallel.max(1),
        quiet: false,
        stop_after: None,
    };
    let v = snapstack_pods::save::save(engine, remote, &name, &opts).await?;
    println!(
        "saved pod {} version {} on {}: {} services, {} records, {} chunks ({} bytes); sent {} chunks ({} bytes)",
        v.pod,
        v.version,
        remote.display,
        v.services.len(),
        v.records,
        v.chunks,
        v.bytes,
        v.sent_chunks,
        v.sent_bytes
    );
    Ok(ExitCode::SUCCESS)
}

async fn load(
    args: &PodArgs,
    remote_url: &str,
    pod: &str,
    strategy: &str,
    dry_run: bool,
    services: &Option<String>,
) -> Result<ExitCode, PodError> {
    let (name, version) = parse_pod_ref(pod)?;
    let body = json!({
        "remote": remote_url,
        "pod": name,
        "version": version,
        "strategy": strategy,
        "dry_run": dry_run,
        "services": split_list(services),
    });
    let url = format!(
        "{}/_localstack/pods/load",
        args.endpoint.trim_end_matches('/')
    );
    // The server streams its progress as JSON lines, then the result (or the error).
    let mut body = body;
    body["progress"] = json!(true);
    let mut progress: Option<Progress> = None;
    let mut last: Option<serde_json::Value> = None;
    let mut other = String::new();
    let label = format!("fetching pod {pod}");
    let status = snapstack_pods::client::post_lines(&url, &body, &mut |line| {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            other.push_str(line);
            return;
        };
        if let Some(p) = v.get("progress") {
            let n = |k: &str| p[k].as_u64().unwrap_or(0);
            progress
                .get_or_insert_with(|| Progress::new(&label, n("total"), false))
                .set(n("done"), n("bytes"));
        } else {
            last = Some(v);
        }
    })
    .await?;
    if let Some(p) = &progress {
        p.finish();
    }
    let Some(status) = status else {
        return Err(PodError(format!(
            "no server at {}: start one (`snapstack serve`) or pass --endpoint",
            args.endpoint
        )));
    };
    let v = match last {
        Some(v) if status == 200 && v.get("result").is_some() => v["result"].clone(),
        Some(v) => {
            let code = v["status"].as_u64().unwrap_or(u64::from(status));
            let msg = v["error"].as_str().unwrap_or(&other).to_string();
            return Err(PodError(format!("the load failed ({code}): {msg}")));
        }
        None => {
            return Err(PodError(format!(
                "the load failed ({status}): no result from the server: {other}"
            )));
        }
    };
    println!(
        "{} pod {} version {} ({}): fetched {} chunks ({} bytes)",
        if dry_run { "dry run of" } else { "loaded" },
        v["pod"].as_str().unwrap_or(""),
        v["version"],
        v["strategy"].as_str().unwrap_or(""),
        v["fetched_chunks"],
        v["fetched_bytes"]
    );
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>9}",
        "service", "added", "changed", "removed", "records"
    );
    for s in v["services"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>9}",
            s["service"].as_str().unwrap_or(""),
            s["added"],
            s["changed"],
            s["removed"],
            s["records"]
        );
    }
    for s in v["skipped_services"].as_array().into_iter().flatten() {
        println!(
            "{:<16} skipped: this build does not run it",
            s.as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn gc(
    remote: &Remote,
    dry_run: bool,
    grace_minutes: u64,
    parallel: usize,
) -> Result<ExitCode, PodError> {
    let opts = snapstack_pods::gc::GcOptions {
        dry_run,
        grace_ms: grace_minutes.saturating_mul(60_000),
        parallel: parallel.max(1),
    };
    let r = snapstack_pods::gc::gc(remote, &opts).await?;
    println!(
        "pod gc on {}{}: {} pods, {} versions referencing {} chunks",
        remote.display,
        if dry_run { " (dry run)" } else { "" },
        r.pods,
        r.versions,
        r.referenced_chunks
    );
    println!("remote: {} chunks ({} bytes)", r.chunks, r.bytes);
    println!(
        "unreferenced: {} chunks ({} bytes), {} chunk lists",
        r.unreferenced_chunks, r.unreferenced_bytes, r.unreferenced_lists
    );
    println!(
        "{}: {} chunks ({} bytes), {} chunk lists, {} claims, {} expired leases",
        if dry_run { "would delete" } else { "deleted" },
        r.deleted_chunks,
        r.deleted_bytes,
        r.deleted_lists,
        r.deleted_claims,
        r.deleted_leases
    );
    println!(
        "kept (younger than {grace_minutes} minutes): {} chunks ({} bytes), {} chunk lists",
        r.young_chunks, r.young_bytes, r.young_lists
    );
    Ok(ExitCode::SUCCESS)
}

async fn inspect(remote: &Remote, pod: &str, limit: usize) -> Result<ExitCode, PodError> {
    use snapstack::server::config::{Config, Overrides};
    let (name, version) = parse_pod_ref(pod)?;
    let v = snapstack_pods::load::read_version(remote, &name, version).await?;
    println!(
        "pod {} version {}: saved {} by snapstack {} (format {}), {} services, {} records, {} chunks ({} bytes){}",
        v.pod,
        v.version,
        iso(v.created_unix_ms),
        v.snapstack_version,
        v.engine_format,
        v.services.len(),
        v.records,
        v.chunks,
        v.bytes,
        if v.message.is_empty() {
            String::new()
        } else {
            format!(": {}", v.message)
        }
    );
    // The tree nodes only (not blob bodies), into memory, every one verified; then each
    // service holds the pod's records in a throwaway engine so it can name its resources.
    let engine = Arc::new(Engine::in_memory()?);
    let list = snapstack_pods::load::chunk_list(remote, &v).await?;
    let staging =
        snapstack_pods::load::fetch(&engine, remote, &v, &list, v.tree_chunks as usize, 16, true)
            .await?;
    let config =
        Config::resolve(&Overrides::default(), |_| None).map_err(|e| PodError(e.to_string()))?;
    let registry = snapstack::server::registry::build(&snapstack::server::registry::Env {
        config: &config,
        blob_engine: engine.clone(),
    });
    for s in &v.services {
        let svc = registry
            .all()
            .iter()
            .find(|x| x.name() == s.service)
            .cloned();
        if let Some(svc) = &svc
            && svc.register(&engine).is_ok()
        {
            engine.import(
                &s.service,
                s.root_id()?,
                s.height,
                staging.store.as_ref(),
                snapstack::Merge::Overwrite,
                false,
            )?;
        }
        let mut by_partition: std::collections::BTreeMap<String, (u64, Vec<String>)> =
            Default::default();
        snapstack::import::walk_records(staging.store.as_ref(), s.root_id()?, &mut |k, _| {
            let key = snapstack::Key::from_bytes(k);
            let p = snapstack::Partition::of(&key).map_or("(global)".to_string(), |p| {
                format!("{} {}", p.account, p.region)
            });
            let e = by_partition.entry(p).or_default();
            e.0 += 1;
            if e.1.len() < limit {
                let d = svc
                    .as_ref()
                    .and_then(|x| x.describe_key(&key))
                    .unwrap_or_else(|| snapstack::server::describe::generic(&key));
                e.1.push(d);
            }
        })?;
        println!(
            "{}: {} records, {} blobs ({} bytes), generation {}",
            s.service, s.records, s.blobs, s.blob_bytes, s.generation
        );
        for (p, (n, names)) in by_partition {
            println!("  [{p}] {n} records");
            for d in &names {
                println!("    {d}");
            }
            if n as usize > names.len() {
                println!("    … {} more (--limit N)", n as usize - names.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

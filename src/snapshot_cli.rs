//! `snapstack snapshot list|verify|diff`: look at a state directory without a server
//! (read-only); `export|import|gc` (in `archive_cli.rs`): move generations as an archive file,
//! and collect a stopped server's garbage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use snapstack::{Engine, EngineOptions};

#[path = "archive_cli.rs"]
mod archive_cli;

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// list: every saved generation of every service. verify: read every chunk they reference
    /// and check it against its hash. diff: the records that differ between two generations of
    /// one service (--service; default the two newest). export FILE: write a generation of
    /// services (--services, --generation; default every service's newest) to one archive
    /// file. import FILE: verify an archive whole, then add its services to the volume as new
    /// generations. gc: remove what no kept generation references (the server must be stopped).
    #[arg(value_parser = ["list", "verify", "diff", "export", "import", "gc"])]
    action: String,
    /// export, import: the archive file.
    file: Option<PathBuf>,
    /// export: the services to include, comma-separated (default: every saved service).
    #[arg(long, value_delimiter = ',')]
    services: Option<Vec<String>>,
    /// export: the generation to export of each service (default: each one's newest).
    #[arg(long)]
    generation: Option<u64>,
    /// diff: the service to compare.
    #[arg(long)]
    service: Option<String>,
    /// diff: the earlier generation (default: the second newest).
    #[arg(long)]
    from: Option<u64>,
    /// diff: the later generation (default: the newest).
    #[arg(long)]
    to: Option<u64>,
    /// diff: how many changed keys to print (all are counted).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Volume directory; state lives in <dir>/state [env: LOCALSTACK_VOLUME_DIR] (default ./volume).
    #[arg(long)]
    volume_dir: Option<String>,
}

fn volume_dir(args: &SnapshotArgs) -> PathBuf {
    let volume = args
        .volume_dir
        .clone()
        .or_else(|| std::env::var("LOCALSTACK_VOLUME_DIR").ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "./volume".into());
    PathBuf::from(volume)
}

fn state_dir(args: &SnapshotArgs) -> PathBuf {
    volume_dir(args).join("state")
}

/// Exit codes: 0 all good, 1 a problem was found (verify) or the step failed (export, import,
/// gc), 2 the directory could not be read or the volume is in use.
pub fn run(args: SnapshotArgs) -> ExitCode {
    let dir = state_dir(&args);
    match args.action.as_str() {
        "export" => {
            return match archive_cli::need_file("export", args.file.as_ref()) {
                Ok(f) => archive_cli::export(&dir, &f, args.services.clone(), args.generation),
                Err(code) => code,
            };
        }
        "import" => {
            return match archive_cli::need_file("import", args.file.as_ref()) {
                Ok(f) => archive_cli::import(&volume_dir(&args), &dir, &f),
                Err(code) => code,
            };
        }
        "gc" => return archive_cli::gc(&volume_dir(&args), &dir),
        _ => {}
    }
    if !dir.join("manifests").is_dir() && !dir.join("log").is_dir() {
        eprintln!(
            "snapstack snapshot: no saved state in {} (expected a manifests/ directory there)",
            dir.display()
        );
        return ExitCode::from(2);
    }
    // Opening reads the pack indexes only; nothing is written.
    let engine = match Engine::open(&dir, EngineOptions::default()) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("snapstack snapshot: {e}");
            return ExitCode::from(2);
        }
    };
    println!("state directory: {}", dir.display());
    let result = match args.action.as_str() {
        "list" => list(&engine),
        "diff" => diff(&engine, &args),
        _ => verify(&engine),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("snapstack snapshot: {e}");
            ExitCode::from(2)
        }
    }
}

fn list(engine: &Engine) -> snapstack::Result<ExitCode> {
    let gens = engine.generations_on_disk()?;
    if gens.is_empty() {
        println!("no saved generations");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:>10}  {:<24} {:>10} {:>11} {:>12}  root",
        "service", "generation", "saved (UTC)", "records", "tree chunks", "tree bytes"
    );
    for (i, g) in gens.iter().enumerate() {
        let newest = gens.get(i + 1).is_none_or(|n| n.service != g.service);
        let label = format!("{}{}", g.generation, if newest { "*" } else { "" });
        match &g.manifest {
            Ok(m) => println!(
                "{:<12} {:>10}  {:<24} {:>10} {:>11} {:>12}  {}",
                g.service,
                label,
                snapstack::server::services::s3::iso8601(m.created_unix_ms),
                m.records,
                m.tree_chunks,
                m.tree_bytes,
                m.root.map_or("(empty)".to_string(), |r| r.to_string()),
            ),
            Err(e) => println!("{:<12} {:>10}  unreadable: {e}", g.service, label),
        }
    }
    let stats = engine.chunk_stats();
    println!(
        "* newest generation (the one a load tries first). Chunk store: {} chunks, {} bytes in {} pack files.",
        stats.chunks, stats.bytes, stats.files
    );
    print_log(engine);
    Ok(ExitCode::SUCCESS)
}

/// The write-ahead log's line(s); returns whether it is damaged or refused.
fn print_log(engine: &Engine) -> bool {
    let Some(l) = engine.log_status() else {
        return false;
    };
    let pending: Vec<String> = l
        .pending_records
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!(
        "write-ahead log: {} segments, {} frames, {} bytes; not yet in a generation: {} frames, {} bytes, records changed: {}",
        l.segments,
        l.frames,
        l.bytes,
        l.pending_frames,
        l.pending_bytes,
        if pending.is_empty() {
            "none".to_string()
        } else {
            pending.join(", ")
        }
    );
    for d in &l.damaged {
        println!("DAMAGED  write-ahead log: {d}");
    }
    if let Some(r) = &l.refused {
        println!("REFUSED  write-ahead log: {r}");
    }
    !l.damaged.is_empty() || l.refused.is_some()
}

fn diff(engine: &Arc<Engine>, args: &SnapshotArgs) -> snapstack::Result<ExitCode> {
    let Some(service) = args.service.as_deref() else {
        eprintln!("snapstack snapshot diff: --service is required (see `snapshot list`)");
        return Ok(ExitCode::from(2));
    };
    let gens: Vec<u64> = engine
        .generations_on_disk()?
        .into_iter()
        .filter(|g| g.service == service)
        .map(|g| g.generation)
        .collect();
    let to = args.to.or(gens.last().copied());
    let from = args.from.or_else(|| {
        let to = to?;
        gens.iter().rev().copied().find(|&g| g < to)
    });
    let (Some(from), Some(to)) = (from, to) else {
        eprintln!(
            "snapstack snapshot diff: {service} has {} saved generation(s); name two with --from and --to",
            gens.len()
        );
        return Ok(ExitCode::from(2));
    };
    let d = engine.diff_generations(service, from, to, args.limit)?;
    let describer = describer(engine, service, to);
    let show = |key: &snapstack::Key| {
        describer
            .as_ref()
            .and_then(|s| s.describe_key(key))
            .unwrap_or_else(|| snapstack::server::describe::generic(key))
    };
    println!(
        "{service}: generation {from} -> {to}: {} added, {} removed, {} changed, {} unchanged",
        d.added, d.removed, d.changed, d.unchanged
    );
    for c in &d.changes {
        match c {
            snapstack::RecordChange::Added { key, size } => {
                println!("+ {} ({size} bytes)", show(key))
            }
            snapstack::RecordChange::Removed { key, size } => {
                println!("- {} ({size} bytes)", show(key))
            }
            snapstack::RecordChange::Changed {
                key,
                old_size,
                new_size,
            } => println!("~ {} ({old_size} -> {new_size} bytes)", show(key)),
        }
    }
    let total = d.added + d.removed + d.changed;
    if total > d.changes.len() as u64 {
        println!(
            "({} more changes not shown; --limit N shows more)",
            total - d.changes.len() as u64
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The service, holding generation `generation` of its state in memory (nothing is written),
/// to name the keys of a diff as its resources; `None` when it cannot (an unknown service, a
/// damaged generation): keys are then shown in the generic form.
fn describer(
    engine: &Arc<Engine>,
    service: &str,
    generation: u64,
) -> Option<Arc<dyn snapstack::server::Service>> {
    use snapstack::server::config::{Config, Overrides};
    let config = Config::resolve(&Overrides::default(), |_| None).ok()?;
    let registry = snapstack::server::registry::build(&snapstack::server::registry::Env {
        config: &config,
        blob_engine: engine.clone(),
    });
    let s = registry.all().iter().find(|s| s.name() == service)?.clone();
    s.register(engine).ok()?;
    engine.restore_generation(service, generation).ok()?;
    Some(s)
}

fn verify(engine: &Engine) -> snapstack::Result<ExitCode> {
    let r = engine.verify()?;
    for p in &r.damaged_packs {
        println!("damaged pack: {p}");
    }
    for g in &r.generations {
        match &g.problem {
            None => println!(
                "ok       {} generation {}: {} records, {} tree chunks, {} blobs",
                g.service, g.generation, g.records, g.tree_chunks, g.blobs
            ),
            Some(p) => println!("DAMAGED  {} generation {}: {p}", g.service, g.generation),
        }
    }
    let bad = r.generations.iter().filter(|g| g.problem.is_some()).count();
    let log_bad = print_log(engine);
    println!(
        "{} generations checked, {} damaged; {} distinct chunks read and verified{}",
        r.generations.len(),
        bad,
        r.chunks_checked,
        if r.newest_are_good() {
            "; every service's newest generation is intact"
        } else {
            "; a service's newest generation is damaged: its load falls back to an older one, or to none"
        }
    );
    Ok(if r.is_clean() && !log_bad {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

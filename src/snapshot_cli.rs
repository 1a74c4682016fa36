//! `snapstack snapshot list|verify`: look at a state directory without a server. Read-only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use snapstack::{Engine, EngineOptions};

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// list: every saved generation of every service. verify: read every chunk they reference
    /// and check it against its hash.
    #[arg(value_parser = ["list", "verify"])]
    action: String,
    /// Volume directory; state lives in <dir>/state [env: LOCALSTACK_VOLUME_DIR] (default ./volume).
    #[arg(long)]
    volume_dir: Option<String>,
}

fn state_dir(args: &SnapshotArgs) -> PathBuf {
    let volume = args
        .volume_dir
        .clone()
        .or_else(|| std::env::var("LOCALSTACK_VOLUME_DIR").ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "./volume".into());
    Path::new(&volume).join("state")
}

/// Exit codes: 0 all good, 1 a problem was found (verify), 2 the directory could not be read.
pub fn run(args: SnapshotArgs) -> ExitCode {
    let dir = state_dir(&args);
    if !dir.join("manifests").is_dir() {
        eprintln!(
            "snapstack snapshot: no saved state in {} (expected a manifests/ directory there)",
            dir.display()
        );
        return ExitCode::from(2);
    }
    // Opening reads the pack indexes only; nothing is written.
    let engine = match Engine::open(&dir, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("snapstack snapshot: {e}");
            return ExitCode::from(2);
        }
    };
    println!("state directory: {}", dir.display());
    let result = match args.action.as_str() {
        "list" => list(&engine),
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
    Ok(ExitCode::SUCCESS)
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
    Ok(if r.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

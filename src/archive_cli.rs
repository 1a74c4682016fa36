//! `snapstack snapshot export|import|gc`: move a generation of chosen services between volumes
//! as one archive file (`docs/FORMAT.md` §12), and collect the garbage of a stopped server's
//! volume. Import and gc take the volume lock, so they refuse to run while a server holds it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use snapstack::lock::{LockMode, VolumeLock};
use snapstack::{Engine, EngineOptions};

/// Progress of a long step: an `indicatif` bar when stderr is a terminal, else a plain line on
/// stderr every few seconds (and at the end).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    last_line: Instant,
    done: u64,
}

const PLAIN_EVERY: Duration = Duration::from_secs(2);

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar
        });
        if bar.is_none() {
            eprintln!("{label}: 0 of {}", mib(total));
        }
        Progress {
            bar,
            label: label.to_string(),
            total,
            last_line: Instant::now(),
            done: 0,
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        match &self.bar {
            Some(b) => b.set_position(done),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}: {} of {}", self.label, mib(done), mib(self.total));
            }
            None => {}
        }
    }

    pub fn finish(self) {
        match &self.bar {
            Some(b) => b.finish(),
            None => eprintln!("{}: done, {}", self.label, mib(self.done)),
        }
    }
}

/// `snapshot export FILE`: written to a temporary file beside FILE, synced, then renamed, so
/// FILE is never a partial archive.
pub fn export(
    state: &Path,
    file: &Path,
    services: Option<Vec<String>>,
    generation: Option<u64>,
) -> ExitCode {
    if !state.join("manifests").is_dir() {
        eprintln!(
            "snapstack snapshot export: no saved state in {} (expected a manifests/ directory there)",
            state.display()
        );
        return ExitCode::from(2);
    }
    let engine = match Engine::open(state, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => return fail("export", e),
    };
    let plan = match engine.plan_export(services.as_deref(), generation) {
        Ok(p) => p,
        Err(e) => return fail("export", e),
    };
    if plan.header.services.is_empty() {
        eprintln!("snapstack snapshot export: no saved generation to export");
        return ExitCode::from(2);
    }
    if let Some(log) = engine.log_status() {
        let chosen: Vec<&str> = plan
            .header
            .services
            .iter()
            .map(|s| s.service.as_str())
            .collect();
        for (service, n) in &log.pending_records {
            if chosen.contains(&service.as_str()) && *n > 0 {
                eprintln!(
                    "note: the write-ahead log holds {n} changed records of {service} newer than its last generation; they are not in the archive (a server saves them as a generation when it stops)"
                );
            }
        }
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map_or_else(|| "archive".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<u64, String> {
        // The archive holds the state, key material of KMS included: its owner's only. A
        // leftover of an earlier run under this pid goes; a new file is made (never one
        // another user placed there).
        let _ = std::fs::remove_file(&tmp);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let f = open
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        // Header and framing add a little to the chunk bytes: the bar's total is close enough.
        let mut progress = Progress::new("export", plan.header.chunk_bytes);
        let size = engine
            .export_archive(&plan, &mut w, &mut |n| progress.set(n))
            .map_err(|e| e.to_string())?;
        progress.finish();
        let f = w
            .into_inner()
            .map_err(|e| format!("{}: {}", tmp.display(), e.error()))?;
        f.sync_all()
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(size)
    })();
    match result {
        Ok(size) => {
            for s in &plan.header.services {
                println!(
                    "{:<12} generation {:>6}: {} records, {} tree chunks, {} blobs ({} bytes)",
                    s.service, s.generation, s.records, s.tree_chunks, s.blobs, s.blob_bytes
                );
            }
            println!(
                "exported {} services to {}: {} chunks, {} bytes of chunk data, archive {} bytes",
                plan.header.services.len(),
                file.display(),
                plan.header.chunks,
                plan.header.chunk_bytes,
                size
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("snapstack snapshot export: {e}");
            ExitCode::from(1)
        }
    }
}

/// `snapshot import FILE`: under the volume lock; verified whole before anything is written.
pub fn import(volume: &Path, state: &Path, file: &Path) -> ExitCode {
    let size = match std::fs::metadata(file) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("snapstack snapshot import: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let _lock = match VolumeLock::try_acquire(volume, LockMode::Exclusive) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("snapstack snapshot import: {e}");
            return ExitCode::from(2);
        }
    };
    let engine = match Engine::open(state, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => return fail("import", e),
    };
    let mut pass = 0u8;
    let mut progress: Option<Progress> = None;
    let result = engine.import_archive(file, &mut |p, n| {
        if p != pass {
            if let Some(old) = progress.take() {
                old.finish();
            }
            pass = p;
            progress = Some(Progress::new(
                if p == 1 { "verify" } else { "import" },
                size,
            ));
        }
        if let Some(b) = &mut progress {
            b.set(n);
        }
    });
    if let Some(b) = progress.take() {
        b.finish();
    }
    match result {
        Ok(r) => {
            for s in &r.services {
                println!(
                    "{:<12} archived generation {} -> generation {} ({} records)",
                    s.service, s.archived_generation, s.generation, s.records
                );
            }
            println!(
                "imported {} services from {} (written by snapstack {}): {} new chunks, {} new bytes; {} chunks were already in {}",
                r.services.len(),
                file.display(),
                r.header.snapstack_version,
                r.new_chunks,
                r.new_bytes,
                r.header.chunks - r.new_chunks,
                state.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("snapstack snapshot import: refused: {e}");
            ExitCode::from(1)
        }
    }
}

/// Bytes of the pack files.
fn packs_on_disk(state: &Path) -> u64 {
    std::fs::read_dir(state.join("packs"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `snapshot gc`: under the volume lock.
pub fn gc(volume: &Path, state: &Path) -> ExitCode {
    if !state.join("packs").is_dir() {
        eprintln!(
            "snapstack snapshot gc: no saved state in {} (expected a packs/ directory there)",
            state.display()
        );
        return ExitCode::from(2);
    }
    let _lock = match VolumeLock::try_acquire(volume, LockMode::Exclusive) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("snapstack snapshot gc: refused: {e}");
            return ExitCode::from(2);
        }
    };
    let engine = match Engine::open(state, EngineOptions::default()) {
        Ok(e) => e,
        Err(e) => return fail("gc", e),
    };
    let before = engine.chunk_stats();
    let disk_before = packs_on_disk(state);
    match engine.gc_stopped() {
        Ok(r) => {
            let disk_after = packs_on_disk(state);
            println!(
                "freed {} chunks ({} bytes of chunk data) no kept generation references; removed {} pack files, rewrote {} live chunks of sparse packs",
                r.chunks.chunks_removed,
                r.chunks.bytes_removed,
                r.chunks.files_removed,
                r.chunks.chunks_repacked
            );
            println!(
                "chunk store: {} -> {} chunks; pack files {} -> {} bytes on disk (freed {} bytes) in {:.1?}",
                before.chunks,
                r.chunks.chunks_kept,
                disk_before,
                disk_after,
                disk_before.saturating_sub(disk_after),
                r.duration
            );
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("snapstack snapshot gc: {e} (nothing was removed)");
            ExitCode::from(1)
        }
    }
}

fn fail(what: &str, e: snapstack::Error) -> ExitCode {
    eprintln!("snapstack snapshot {what}: {e}");
    ExitCode::from(2)
}

/// The archive path argument, required by export and import.
pub fn need_file(action: &str, file: Option<&PathBuf>) -> Result<PathBuf, ExitCode> {
    file.cloned().ok_or_else(|| {
        eprintln!(
            "snapstack snapshot {action}: name the archive file (snapstack snapshot {action} FILE)"
        );
        ExitCode::from(2)
    })
}

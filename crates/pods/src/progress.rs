//! Progress of a transfer: an `indicatif` bar when stderr is a terminal, otherwise a plain log
//! line at every tenth of the way (and at the end).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    label: String,
    total: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    bar: Option<ProgressBar>,
    last_tenth: Mutex<u64>,
    quiet: bool,
}

impl Progress {
    /// A progress of `total` chunks. `quiet`: no output at all (a server's own loads log once).
    pub fn new(label: &str, total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} chunks, {per_sec} ({eta})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(label.to_string());
            b
        });
        Progress {
            label: label.to_string(),
            total,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bar,
            last_tenth: Mutex::new(0),
            quiet,
        }
    }

    /// One more chunk of `bytes` done; the chunks and bytes done so far.
    pub fn inc(&self, bytes: u64) -> (u64, u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total_bytes = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.show(done, total_bytes);
        (done, total_bytes)
    }

    /// `done` chunks of `bytes` done so far, as another process reported them (a server
    /// fetching a pod for the CLI). Never moves backwards.
    pub fn set(&self, done: u64, bytes: u64) {
        let before = self.done.fetch_max(done, Ordering::Relaxed);
        self.bytes.fetch_max(bytes, Ordering::Relaxed);
        if done > before {
            self.show(done, bytes);
        }
    }

    fn show(&self, done: u64, total_bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            return;
        }
        if self.quiet || self.total == 0 {
            return;
        }
        let tenth = done.min(self.total) * 10 / self.total;
        let mut last = self.last_tenth.lock().unwrap_or_else(|e| e.into_inner());
        if tenth > *last {
            *last = tenth;
            eprintln!(
                "{}: {done}/{} chunks ({total_bytes} bytes)",
                self.label, self.total
            );
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        } else if !self.quiet && self.total == 0 {
            eprintln!("{}: nothing to transfer", self.label);
        }
    }

    pub fn done(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_move_forward() {
        let p = Progress::new("t", 4, true);
        assert_eq!(p.inc(10), (1, 10));
        p.set(3, 30);
        p.set(2, 20);
        assert_eq!(p.done(), (3, 30));
        assert_eq!(p.inc(5), (4, 35));
    }
}

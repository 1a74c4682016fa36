//! Fault injection for tests: a plan that makes the N-th write step fail the way a real disk does.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::local::{WriteHook, WriteStep};

/// The error a fault produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `ENOSPC`: no space left on device.
    NoSpace,
    /// `EIO`: an I/O error.
    Io,
}

impl FaultKind {
    fn error(self) -> io::Error {
        match self {
            FaultKind::NoSpace => io::Error::from_raw_os_error(28),
            FaultKind::Io => io::Error::from_raw_os_error(5),
        }
    }
}

/// Fails the `fail_at`-th write step (counting from 0) and, in crash mode, every step after it,
/// as if the process had died there. Steps of kind [`WriteStep::CreateDir`] are counted too.
#[derive(Debug)]
pub struct FaultPlan {
    fail_at: AtomicU64,
    kind: FaultKind,
    crash: bool,
    only: Option<WriteStep>,
    seen: AtomicU64,
    tripped: AtomicBool,
}

impl FaultPlan {
    /// Fail step number `fail_at` once with `kind`; later steps succeed (the fault clears).
    pub fn once(fail_at: u64, kind: FaultKind) -> Arc<Self> {
        Self::build(fail_at, kind, false, None)
    }

    /// Fail step number `fail_at` and every later step: a crash at that step.
    pub fn crash(fail_at: u64) -> Arc<Self> {
        Self::build(fail_at, FaultKind::Io, true, None)
    }

    /// Fail the `fail_at`-th step of the given kind only (for example every fsync: `SyncFile`).
    pub fn on_step(step: WriteStep, fail_at: u64, kind: FaultKind) -> Arc<Self> {
        Self::build(fail_at, kind, false, Some(step))
    }

    fn build(fail_at: u64, kind: FaultKind, crash: bool, only: Option<WriteStep>) -> Arc<Self> {
        Arc::new(FaultPlan {
            fail_at: AtomicU64::new(fail_at),
            kind,
            crash,
            only,
            seen: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
        })
    }

    /// Never fail again.
    pub fn clear(&self) {
        self.fail_at.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many steps were counted.
    pub fn steps_seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// Whether the fault fired.
    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    /// The hook to give [`super::LocalBackend::with_hook`].
    pub fn hook(self: &Arc<Self>) -> WriteHook {
        let plan = self.clone();
        Arc::new(move |step, _path| plan.check(step))
    }

    fn check(&self, step: WriteStep) -> io::Result<()> {
        if self.only.is_some_and(|only| only != step) {
            return Ok(());
        }
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let at = self.fail_at.load(Ordering::SeqCst);
        if n == at || (self.crash && n > at) {
            self.tripped.store(true, Ordering::SeqCst);
            return Err(self.kind.error());
        }
        Ok(())
    }
}

//! The global allocator's settings (mimalloc 3.3, vendored by `libmimalloc-sys`).
//!
//! mimalloc's defaults keep freed memory for a while (purged a second later, and only when the
//! thread that owns it allocates again) and commit arenas eagerly, which on this workload kept
//! ~150 MiB of a full-disk outage's refused upload bodies resident after the outage
//! (`tests/disk_full.rs` checks that such memory is given back). Purging after 10 ms (mimalloc 2's default) and
//! committing arenas on demand gives it back, at a few percent of CPU per request against
//! mimalloc's defaults (still at or below glibc's malloc; docs/BENCHMARKS.md).
//!
//! Environment variables (`MIMALLOC_PURGE_DELAY`, `MIMALLOC_ARENA_EAGER_COMMIT`) still win:
//! an option set in the environment is left alone.

use libmimalloc_sys::{mi_collect, mi_option_set, mi_option_t};

/// `mi_option_arena_eager_commit` in mimalloc 3.3's `mi_option_e` (the Rust binding has no
/// constant for it; `defaults_are_where_the_header_says` checks the number).
const ARENA_EAGER_COMMIT: mi_option_t = 4;
/// `mi_option_purge_delay` (milliseconds) in mimalloc 3.3's `mi_option_e`.
const PURGE_DELAY: mi_option_t = 15;

/// Applied before `main` (and before the first allocation makes mimalloc reserve its first
/// arena, which is when eager commit is decided): an `.init_array` entry, as C constructors are.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_AT_LOAD: extern "C" fn() = {
    extern "C" fn at_load() {
        tune();
    }
    at_load
};

/// Apply the settings (at load on Linux; `main` calls it again, harmlessly, everywhere).
pub fn tune() {
    // `getenv` rather than `std::env`, which allocates: nothing may allocate before the options
    // are set.
    let set = |option: mi_option_t, env: &std::ffi::CStr, value: std::ffi::c_long| {
        // SAFETY: `env` is NUL-terminated; nothing sets the environment this early.
        if unsafe { libc::getenv(env.as_ptr()) }.is_null() {
            // SAFETY: plain setters of mimalloc's option table, valid at any time.
            unsafe { mi_option_set(option, value) };
        }
    };
    set(PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", 10);
    set(ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT", 0);
}

/// How often the collector thread asks mimalloc to give back what its threads have freed.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Start the collector: a thread that, once a second, has mimalloc purge every arena's freed
/// memory at once (`mi_collect(true)`), so memory freed by a thread that then went idle (a
/// blocking-pool thread that read a large body) goes back to the system too, not only when that
/// thread allocates again. A visit of the arenas costs microseconds.
pub fn start_collector() {
    let spawned = std::thread::Builder::new()
        .name("mimalloc-collect".into())
        .spawn(|| {
            loop {
                std::thread::sleep(COLLECT_EVERY);
                // SAFETY: mimalloc's collection entry point, callable from any thread.
                unsafe { mi_collect(true) };
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("allocator collector not started: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    /// An option's current value.
    fn get(option: mi_option_t) -> std::ffi::c_long {
        // SAFETY: a plain getter of mimalloc's option table.
        unsafe { mi_option_get(option) }
    }

    /// Without the environment saying otherwise, the process runs with the tuned values (this
    /// test binary links this module, so its `.init_array` entry ran too).
    #[test]
    fn the_process_runs_tuned() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(PURGE_DELAY), 10);
        }
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(get(ARENA_EAGER_COMMIT), 0);
        }
    }

    /// The option numbers name the options they claim to: a child process given
    /// `MIMALLOC_PURGE_DELAY` and `MIMALLOC_ARENA_EAGER_COMMIT` reads those values under them
    /// (and the environment wins over the tuning).
    #[test]
    fn option_numbers_name_the_options() {
        if std::env::var_os("SNAPSTACK_ALLOCATOR_CHILD").is_some() {
            assert_eq!(get(PURGE_DELAY), 123);
            assert_eq!(get(ARENA_EAGER_COMMIT), 1);
            return;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "allocator::tests::option_numbers_name_the_options",
                "--exact",
                "--test-threads=1",
            ])
            .env("SNAPSTACK_ALLOCATOR_CHILD", "1")
            .env("MIMALLOC_PURGE_DELAY", "123")
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the child's options: {status}");
    }
}

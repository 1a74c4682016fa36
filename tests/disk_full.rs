//! A real full disk under the real server: the volume is a 2 MiB tmpfs, filled until `ENOSPC`.
//!
//! - A save that fails is reported on `POST /_localstack/state/save` (`"status": "error"` with the
//!   cause) and in `GET /_localstack/state` (`last_error`); requests keep being served; the
//!   previous snapshot stays intact and loads after a SIGKILL; once space is freed the next save
//!   succeeds and everything written meanwhile is kept.
//! - Under `ON_REQUEST`, a write that cannot be made durable is answered with a 500 (never a false
//!   acknowledgement), and the next write after the fault clears is durable with it.
//!
//! Mounting needs privileges (root or `CAP_SYS_ADMIN`): without them the test prints a note and
//! passes, so CI never goes red for lack of privileges. The engine-level tests
//! (`tests/engine.rs::disk_faults_at_every_step_are_reported_and_retried`) inject ENOSPC, EIO and
//! fsync failures at every write step without privileges.

#[path = "rel_common/mod.rs"]
mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, files, get, start};

/// A tmpfs mounted at a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem of `dir` with a file until `ENOSPC`; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = fs::File::create(&path).unwrap();
    let block = vec![0xAAu8; 4096];
    loop {
        match f.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // The page cache may hold a partial block: make sure the space is really gone.
    let _ = f.sync_all();
    path
}

fn snapshot_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn value(i: usize) -> String {
    format!("{i}-{}", "v".repeat(3000))
}

fn put_many(s: &Server, prefix: &str, n: usize) {
    for i in 0..n {
        let (status, body) = s.put(&format!("/{prefix}/{i}"), &value(i)).unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

fn assert_present(s: &Server, prefix: &str, n: usize, present: bool) {
    for i in 0..n {
        let got = get(s.addr, &format!("/{prefix}/{i}"));
        if present {
            assert_eq!(got.as_deref(), Some(value(i).as_str()), "/{prefix}/{i}");
        } else {
            assert_eq!(got, None, "/{prefix}/{i} should not have loaded");
        }
    }
}

#[test]
fn a_full_disk_fails_the_save_loudly_and_the_next_save_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    fs::create_dir_all(&volume).unwrap();
    let log = dir.path().join("server.log");
    let _mount = match Tmpfs::mount(&volume, "2m") {
        Ok(m) => m,
        Err(e) => {
            println!(
                "NOTE: skipping the tmpfs ENOSPC test: mounting a tmpfs is not permitted here ({e})"
            );
            return;
        }
    };
    let manual = [("SNAPSHOT_SAVE_STRATEGY", "MANUAL")];

    // A first snapshot.
    let mut s = start(&volume, &log, &manual);
    put_many(&s, "before", 20);
    let (status, lines) = s.state_op("save");
    assert_eq!(status, 200);
    assert!(
        lines
            .iter()
            .any(|l| l["service"] == "ssm" && l["status"] == "ok"),
        "{lines:?}"
    );
    let saved = snapshot_of(&volume.join("state"));

    // Fill the disk: the next save fails, loudly, and nothing else does.
    let filler = fill(&volume);
    put_many(&s, "during", 20);
    let (status, lines) = s.state_op("save");
    // Non-2xx when any service failed, so that `curl -f` fails; every line is still there.
    assert_eq!(status, 500, "{lines:?}");
    let ssm = lines.iter().find(|l| l["service"] == "ssm").unwrap();
    assert_eq!(ssm["status"], "error", "{lines:?}");
    let msg = ssm["message"].as_str().unwrap();
    assert!(
        msg.contains("No space left on device") && msg.contains("state/"),
        "the message names the cause and the file: {msg}"
    );
    let st = s.state();
    let last_error = st["services"]["ssm"]["last_error"].as_str().unwrap();
    assert!(last_error.contains("No space left"), "{st}");
    assert_eq!(st["services"]["ssm"]["dirty"], true);
    // Health says persistence is failing, and why.
    let health = s.health();
    assert_eq!(health["features"]["persistence"], "error", "{health}");
    assert!(
        health["persistence"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ssm") && r.contains("No space left")),
        "{health}"
    );
    println!("save on a full disk: {msg}");
    // Requests keep being served, reads and writes.
    assert_present(&s, "before", 20, true);
    assert_present(&s, "during", 20, true);
    assert_eq!(s.put("/after-fault/x", "1").unwrap().0, 200);
    // A second attempt fails the same way (nothing was half-committed in between).
    let (_, lines) = s.state_op("ssm/save");
    assert_eq!(lines[0]["status"], "error", "{lines:?}");
    // The previous snapshot is intact: the committed files are byte for byte as they were, and
    // no temporary file was left behind.
    let now = snapshot_of(&volume.join("state"));
    assert_eq!(
        now.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        saved.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "files changed on a failed save"
    );
    assert!(now == saved, "a committed file changed on a failed save");

    // SIGKILL while the disk is full; the restart (on the full disk) loads the previous snapshot.
    s.kill();
    let mut s = start(&volume, &log, &manual);
    assert_present(&s, "before", 20, true);
    assert_present(&s, "during", 20, false);

    // ON_REQUEST on a full disk: a write is refused with a 500, never falsely acknowledged.
    s.kill();
    let on_request = [("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST")];
    let mut s = start(&volume, &log, &on_request);
    let (status, body) = s.put("/unsaved/0", &value(0)).unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("could not be saved durably"),
        "{body}"
    );
    assert_present(&s, "before", 20, true);
    assert!(s.state()["services"]["ssm"]["last_error"].is_string());
    // The refused write was undone before its 500: a reader does not find it.
    assert_present(&s, "unsaved", 1, false);

    // Free the space: the retry and the next write are durable.
    fs::remove_file(&filler).unwrap();
    let (status, body) = s.put("/unsaved/0", &value(0)).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.put("/unsaved/1", &value(1)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(s.state()["services"]["ssm"]["last_error"].is_null());
    s.kill();

    // MANUAL again: the save that failed now succeeds.
    let mut s = start(&volume, &log, &manual);
    assert_present(&s, "unsaved", 2, true);
    put_many(&s, "during", 20);
    let (_, lines) = s.state_op("save");
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "ok" || l["service"] != "ssm"),
        "{lines:?}"
    );
    assert!(s.state()["services"]["ssm"]["last_error"].is_null());
    s.kill();
    let mut s = start(&volume, &log, &manual);
    assert_present(&s, "before", 20, true);
    assert_present(&s, "during", 20, true);
    assert_present(&s, "unsaved", 2, true);
    s.kill();
    let leftovers: Vec<_> = files(&volume.join("state"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

fn s3(s: &Server, method: &str, path: &str, data: &[u8]) -> common::Response {
    common::request(s.addr, method, path, &[("Authorization", S3_AUTH)], data)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The server's resident memory, in MiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_mib(s: &Server) -> f64 {
    let status = fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Free bytes of the filesystem holding `dir`, in MiB.
fn free_mib(dir: &Path) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    (st.f_bavail as f64 * st.f_frsize as f64) / (1 << 20) as f64
}

fn body(i: usize, len: usize) -> Vec<u8> {
    let mut r = common::Rng::new(0xd15c_0000 + i as u64);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Issue 15, item 2: on a 20 MiB volume under `ON_REQUEST`, twenty 5 MiB `PutObject`s fill the
/// disk and get their 500s. Once space is freed, every write of every service and an explicit
/// save must succeed at once (the refused bodies are not owed to the next save), and the memory
/// the outage took must be given back.
#[test]
fn refused_uploads_on_a_full_disk_leave_nothing_owed() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    fs::create_dir_all(&volume).unwrap();
    let log = dir.path().join("server.log");
    let _mount = match Tmpfs::mount(&volume, "20m") {
        Ok(m) => m,
        Err(e) => {
            println!(
                "NOTE: skipping the tmpfs ENOSPC test: mounting a tmpfs is not permitted here ({e})"
            );
            return;
        }
    };
    let s = start(&volume, &log, &[("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST")]);
    assert_eq!(s3(&s, "PUT", "/fill", b"").status, 200);
    assert_eq!(
        s3(&s, "PUT", "/fill/small", &body(999, 100_000)).status,
        200
    );
    assert_eq!(s.put("/p/before", "1").unwrap().0, 200);
    let rss_before = rss_mib(&s);
    // A ballast file beside the state directory takes most of what is free (the write-ahead
    // log's preallocated segment, at most an eighth of the free space, holds a little of the
    // volume), leaving about 9 MiB.
    let ballast = volume.join("ballast");
    let ballast_mib = (free_mib(&volume) - 9.0).max(1.0) as usize;
    fs::write(&ballast, vec![0x55u8; ballast_mib << 20]).unwrap();
    let free_start = free_mib(&volume);

    let mut statuses = Vec::new();
    let mut rss_peak = rss_before;
    for i in 0..20 {
        let r = s3(&s, "PUT", &format!("/fill/big-{i}"), &body(i, 5 << 20));
        statuses.push(r.status);
        if r.status != 200 {
            // 500: the save of this upload failed; 503 SlowDown: the memory for unsaved data
            // is used up, so the upload is refused before it is read.
            assert!(matches!(r.status, 500 | 503), "{} {}", r.status, r.text());
        }
        rss_peak = rss_peak.max(rss_mib(&s));
    }
    let refused: Vec<usize> = (0..20).filter(|i| statuses[*i] != 200).collect();
    assert!(
        refused.len() >= 18,
        "the disk should have filled: {statuses:?}"
    );
    let rss_outage = rss_mib(&s);
    let free_full = free_mib(&volume);

    // The fault clears.
    fs::remove_file(&ballast).unwrap();
    let free_after = free_mib(&volume);
    let r = s3(&s, "PUT", "/fill/after", &body(1000, 1 << 20));
    assert_eq!(
        r.status,
        200,
        "PutObject after the fault cleared ({free_after:.1} MiB free; RSS {rss_before:.1} MiB before, {rss_outage:.1} MiB after the outage): {}",
        r.text()
    );
    let r = s3(&s, "DELETE", "/fill/small", b"");
    assert_eq!(
        r.status,
        204,
        "DeleteObject after the fault cleared: {}",
        r.text()
    );
    let (status, b) = s.put("/p/after", "2").unwrap();
    assert_eq!(status, 200, "PutParameter after the fault cleared: {b}");
    let (status, lines) = s.state_op("save");
    assert_eq!(status, 200);
    assert!(
        lines.iter().all(|l| l["status"] == "ok"),
        "an explicit save after the fault cleared: {lines:?}"
    );
    let st = s.state();
    for svc in ["s3", "ssm"] {
        assert!(st["services"][svc]["last_error"].is_null(), "{st}");
    }
    // A refused upload was rolled back: it is not there (its 500 meant "not stored").
    for i in &refused {
        assert_eq!(s3(&s, "HEAD", &format!("/fill/big-{i}"), b"").status, 404);
    }
    // The allocator keeps part of what it freed (mimalloc, tuned in src/allocator.rs, kept
    // 19-33 MiB of this outage's ~45 MiB in repeated runs; the earlier 24 MiB bound was set when
    // the server used glibc's malloc). What must never stay is the refused bodies: 19 × 5 MiB.
    // Give the allocator up to 3 s of light traffic (its collector runs every second) first.
    let bound = rss_before + 40.0;
    let mut rss_after = rss_mib(&s);
    for _ in 0..30 {
        if rss_after < bound {
            break;
        }
        assert_eq!(s3(&s, "HEAD", "/fill/after", b"").status, 200);
        std::thread::sleep(std::time::Duration::from_millis(100));
        rss_after = rss_mib(&s);
    }
    println!(
        "full disk under ON_REQUEST with S3 uploads: {} of 20 PutObjects refused ({statuses:?}); free {free_start:.1} MiB at the start, {free_full:.1} MiB when full, {free_after:.1} MiB after freeing; RSS {rss_before:.1} MiB before, {rss_outage:.1} MiB after the outage (peak {rss_peak:.1}), {rss_after:.1} MiB after recovery",
        refused.len()
    );
    assert!(
        rss_after < bound,
        "memory taken by the outage was not given back: {rss_before:.1} → {rss_after:.1} MiB"
    );
    let leftovers: Vec<_> = files(&volume.join("state"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

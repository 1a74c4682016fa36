//! Pods end to end: the real binary saves the state of a server to a remote (a second
//! snapstack's S3, moto's S3, a directory), loads it into fresh running servers, and the
//! resources compare equal through boto3 (`tests/e2e/pods.py`). Also: a save killed mid-upload
//! resumed, a damaged remote chunk refused with nothing changed, concurrent saves of one pod by
//! two clients (on both S3 remotes), and remote garbage collection.
#![cfg(feature = "pods")]

mod common;
mod pods_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, TIMEOUT, tempdir};
use pods_support::*;

/// Save, modify, save again (only the change is sent), load into fresh servers (one without
/// persistence, one with, restarted), and compare every resource; then delete version 1 and
/// collect its chunks, and version 2 still loads; against `remote` (whose chunks `bucket`
/// counts).
fn round_trip(remote: &str, label: &str, bucket: &Bucket<'_>) {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let src = source(&vol);
    py(&src.endpoint, &["populate", "2"]);
    let vol_s = vol.to_str().unwrap();
    let common = [
        "--remote",
        remote,
        "--volume-dir",
        vol_s,
        "--endpoint",
        src.endpoint.as_str(),
    ];
    assert_eq!(bucket.chunks(), 0, "{label}: an empty remote");
    // One chunk in flight at a time: the plain progress lines (stderr is no terminal) come at
    // every tenth of the way, the last one at the whole.
    let (code, first, progress) = pod(
        &[
            &["save", "team", "-m", "first", "--parallel", "1"][..],
            &common[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(code, 0, "{first}\n{progress}");
    let (total1, sent1) = counts(&first);
    assert_eq!(
        total1, sent1,
        "{label}: a first save sends everything: {first}"
    );
    assert!(total1 > 30, "{label}: {first}");
    assert_eq!(
        bucket.chunks(),
        sent1,
        "{label}: every chunk sent is on the remote"
    );
    let lines: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("sending pod team: "))
        .collect();
    assert_eq!(lines.len(), 10, "{progress}");
    assert!(
        lines[9].starts_with(&format!("sending pod team: {sent1}/{sent1} chunks (")),
        "{progress}"
    );
    py(&src.endpoint, &["modify"]);
    let second = pod_ok(&[&["save", "team", "-m", "second"][..], &common[..]].concat());
    let (total2, sent2) = counts(&second);
    assert!(
        sent2 > 0 && sent2 <= 30 && sent2 * 4 < total2,
        "{label}: the second save sends only the changed chunks: {sent2} of {total2}: {second}"
    );
    // Counted on the remote: exactly the chunks sent were added.
    assert_eq!(
        bucket.chunks(),
        sent1 + sent2,
        "{label}: the second save added {sent2} chunks: {second}"
    );
    assert!(second.contains("version 2"), "{second}");
    let want = py(&src.endpoint, &["dump"]);
    let versions = pod_ok(&["versions", "team", "--remote", remote]);
    assert!(
        versions.contains("first") && versions.contains("second"),
        "{versions}"
    );
    let list = pod_ok(&["list", "--remote", remote]);
    assert!(
        list.contains("team") && list.contains("version 2"),
        "{list}"
    );
    let inspect = pod_ok(&["inspect", "team", "--remote", remote]);
    assert!(
        inspect.contains("[111111111111 us-east-1]")
            && inspect.contains("[222222222222 eu-west-1]")
            && inspect.contains("sqs:")
            && inspect.contains("dynamodb:"),
        "{inspect}"
    );

    // A fresh server without persistence.
    let fresh = serve(&dir.path().join("fresh"), &[]);
    let dry = pod_ok(&[
        "load",
        "team",
        "--remote",
        remote,
        "--endpoint",
        fresh.endpoint.as_str(),
        "--dry-run",
    ]);
    assert!(dry.contains("dry run"), "{dry}");
    // Into an empty server, every record of the pod is added, per service as `inspect` counts.
    let rows = load_rows(&dry);
    for service in ["dynamodb", "s3", "sqs", "ssm"] {
        assert!(rows.iter().any(|r| r.0 == service), "{service}: {dry}");
    }
    for (service, added, changed, removed) in &rows {
        let records = num_after(&inspect, &format!("\n{service}: "));
        assert_eq!(
            (*added, *changed, *removed),
            (records, 0, 0),
            "{label}: {service}: {dry}\n{inspect}"
        );
    }
    assert_ne!(
        py(&fresh.endpoint, &["dump"]),
        want,
        "a dry run loads nothing"
    );
    let (code, loaded, progress) = pod(
        &[
            "load",
            "team",
            "--remote",
            remote,
            "--endpoint",
            fresh.endpoint.as_str(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{loaded}\n{progress}");
    assert!(loaded.contains("loaded pod team version 2"), "{loaded}");
    // The server's progress, shown by the CLI as plain lines at every tenth.
    let fetched = num_after(&loaded, "fetched ");
    assert!(fetched >= 10, "{loaded}");
    let lines: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("fetching pod team: "))
        .collect();
    assert_eq!(lines.len(), 10, "{progress}");
    assert!(
        lines[9].starts_with(&format!("fetching pod team: {fetched}/{fetched} chunks (")),
        "{progress}"
    );
    // And in the server's metrics, per service: one load, its records.
    let m = metrics(&fresh);
    for (service, added, _, _) in &rows {
        assert_eq!(
            metric(
                &m,
                &format!("snapstack_pod_loads_total{{service=\"{service}\"}}")
            ),
            1,
            "{service}"
        );
        assert_eq!(
            metric(
                &m,
                &format!("snapstack_pod_load_records_total{{service=\"{service}\"}}")
            ),
            *added,
            "{service}"
        );
        assert!(
            metric(
                &m,
                &format!("snapstack_pod_load_chunks_total{{service=\"{service}\"}}")
            ) >= 1
        );
    }
    // Fetched from the remote: by the dry run (into a staging store it drops) and the load.
    assert_eq!(
        metric(&m, "snapstack_pod_fetched_chunks_total"),
        num_after(&dry, "fetched ") + fetched
    );
    assert_eq!(
        metric(&m, "snapstack_pod_fetched_bytes_total"),
        num_after(&dry, "chunks (") + num_after(&loaded, "chunks (")
    );
    assert_eq!(
        py(&fresh.endpoint, &["dump"]),
        want,
        "{label}: every resource"
    );
    // Again: nothing to add, change or remove.
    let again = pod_ok(&[
        "load",
        "team",
        "--remote",
        remote,
        "--endpoint",
        fresh.endpoint.as_str(),
        "--dry-run",
    ]);
    for line in again.lines().skip(2) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[1..4], ["0", "0", "0"], "{again}");
    }

    // A fresh persistent server: loaded, restarted, still there.
    let pvol = dir.path().join("persistent");
    let p = serve(&pvol, &[("PERSISTENCE", "1")]);
    pod_ok(&[
        "load",
        "team:2",
        "--remote",
        remote,
        "--endpoint",
        p.endpoint.as_str(),
    ]);
    assert_eq!(py(&p.endpoint, &["dump"]), want);
    p.term();
    let p = serve(&pvol, &[("PERSISTENCE", "1")]);
    assert_eq!(py(&p.endpoint, &["dump"]), want, "{label}: after a restart");
    // Version 1 is still there and differs.
    let old = serve(&dir.path().join("old"), &[]);
    pod_ok(&[
        "load",
        "team:1",
        "--remote",
        remote,
        "--endpoint",
        old.endpoint.as_str(),
    ]);
    assert_ne!(py(&old.endpoint, &["dump"]), want);

    // Garbage collection: version 1 deleted, the chunks only it named go; version 2 still loads.
    let before = bucket.chunks();
    pod_ok(&["delete", "team:1", "--remote", remote]);
    let dry = pod_ok(&["gc", "--remote", remote, "--dry-run", "--grace", "0"]);
    let orphans = num_after(&dry, "would delete: ");
    assert!(orphans > 0 && orphans < before, "{label}: {dry}");
    assert_eq!(
        bucket.chunks(),
        before,
        "{label}: a dry run deletes nothing"
    );
    // The default grace period keeps chunks written in the last hour.
    let young = pod_ok(&["gc", "--remote", remote]);
    assert_eq!(num_after(&young, "deleted: "), 0, "{young}");
    assert_eq!(num_after(&young, "minutes): "), orphans, "{young}");
    let done = pod_ok(&["gc", "--remote", remote, "--grace", "0"]);
    assert_eq!(num_after(&done, "deleted: "), orphans, "{label}: {done}");
    assert_eq!(
        bucket.chunks(),
        before - orphans,
        "{label}: the orphans are gone"
    );
    let again = pod_ok(&["gc", "--remote", remote, "--grace", "0"]);
    assert_eq!(num_after(&again, "unreferenced: "), 0, "{again}");
    pod_ok(&[
        "load",
        "team",
        "--remote",
        remote,
        "--endpoint",
        old.endpoint.as_str(),
    ]);
    assert_eq!(
        py(&old.endpoint, &["dump"]),
        want,
        "{label}: version 2 after the gc"
    );
    let (code, _, err) = pod(
        &[
            "load",
            "team:1",
            "--remote",
            remote,
            "--endpoint",
            old.endpoint.as_str(),
        ],
        &[],
    );
    assert_ne!(code, 0, "version 1 is gone: {err}");
}

#[test]
fn a_pod_travels_through_a_second_snapstacks_s3() {
    let dir = tempdir();
    let remote_server = serve(&dir.path().join("remote"), &[]);
    py(&remote_server.endpoint, &["bucket", "pods"]);
    let url = format!("s3://pods/team-pods?endpoint={}", remote_server.endpoint);
    let bucket = Bucket {
        endpoint: &remote_server.endpoint,
        name: "pods",
        chunks: "team-pods/chunks/",
    };
    round_trip(&url, "snapstack S3", &bucket);
}

#[test]
fn a_pod_travels_through_motos_s3() {
    let moto = Moto::start();
    py(&moto.endpoint, &["bucket", "pods"]);
    let url = format!("s3://pods?endpoint={}", moto.endpoint);
    let bucket = Bucket {
        endpoint: &moto.endpoint,
        name: "pods",
        chunks: "chunks/",
    };
    round_trip(&url, "moto S3", &bucket);
}

/// Two clients (two servers with different state) save versions of one pod at the same time,
/// twice, on a second snapstack's S3 and on moto's: four versions kept, each loads equal to
/// what its client saved. Both stores answer a create-only put on an existing key with 412.
#[test]
fn two_clients_save_one_pod_at_once_on_s3_remotes() {
    let dir = tempdir();
    let remote_server = serve(&dir.path().join("remote"), &[]);
    py(
        &remote_server.endpoint,
        &["bucket", "pods", "create-only", "pods"],
    );
    let moto = Moto::start();
    py(&moto.endpoint, &["bucket", "pods", "create-only", "pods"]);
    let (vol_a, vol_b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (source(&vol_a), source(&vol_b));
    py(&a.endpoint, &["populate", "0.5"]);
    py(&b.endpoint, &["populate", "0.5", "modify"]);
    let want_a = py(&a.endpoint, &["dump"]);
    let want_b = py(&b.endpoint, &["dump"]);
    assert_ne!(want_a, want_b);
    let target = serve(&dir.path().join("target"), &[]);
    let snapstack_url = format!("s3://pods/shared?endpoint={}", remote_server.endpoint);
    let moto_url = format!("s3://pods?endpoint={}", moto.endpoint);
    for (url, label) in [(snapstack_url, "snapstack S3"), (moto_url, "moto S3")] {
        for round in 0..2 {
            let spawn = |vol: &Path, server: &Server, message: &str| {
                Command::new(BIN)
                    .args([
                        "pod",
                        "save",
                        "shared",
                        "-m",
                        message,
                        "--remote",
                        url.as_str(),
                    ])
                    .arg("--volume-dir")
                    .arg(vol)
                    .args(["--endpoint", server.endpoint.as_str()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            };
            let ca = spawn(&vol_a, &a, "client a");
            let cb = spawn(&vol_b, &b, "client b");
            for c in [ca, cb] {
                let o = c.wait_with_output().unwrap();
                assert!(
                    o.status.success(),
                    "{label} round {round}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        let listed = pod_ok(&["versions", "shared", "--remote", &url]);
        let rows = version_rows(&listed);
        assert_eq!(rows.len(), 4, "{label}: {listed}");
        let mut numbers: Vec<u64> = rows.iter().map(|r| r.0).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), 4, "{label}: {listed}");
        for (n, message) in rows {
            let want = match message.as_str() {
                "client a" => &want_a,
                "client b" => &want_b,
                other => panic!("{label}: message {other:?} in {listed}"),
            };
            pod_ok(&[
                "load",
                &format!("shared:{n}"),
                "--strategy",
                "overwrite",
                "--remote",
                &url,
                "--endpoint",
                target.endpoint.as_str(),
            ]);
            assert_eq!(
                &py(&target.endpoint, &["dump"]),
                want,
                "{label}: version {n} ({message})"
            );
        }
    }
}

#[test]
fn owner_only_remote_damaged_chunk_refused_and_concurrent_saves() {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let src = source(&vol);
    py(&src.endpoint, &["populate", "2"]);
    let remote_dir = dir.path().join("remote");
    let remote = format!("file://{}", remote_dir.display());
    let vol_s = vol.to_str().unwrap();
    // Named remotes, kept in the volume directory.
    pod_ok(&[
        "remote",
        "add",
        "default",
        remote.as_str(),
        "--volume-dir",
        vol_s,
    ]);
    let listed = pod_ok(&["remote", "list", "--volume-dir", vol_s]);
    assert!(
        listed.contains("default") && listed.contains(&remote),
        "{listed}"
    );
    let common = ["--volume-dir", vol_s, "--endpoint", src.endpoint.as_str()];

    // (A save killed mid-way: `a_save_killed_mid_upload_resumes_without_sending_again`.)
    let saved = pod_ok(&[&["save", "p"][..], &common[..]].concat());
    assert!(saved.contains("saved pod p version 1"), "{saved}");
    // The directory remote is its owner's only: the state travels in it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![remote_dir.clone()];
        let mut files = 0;
        while let Some(d) = dirs.pop() {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                    assert_eq!(mode, 0o600, "{}", p.display());
                    files += 1;
                }
            }
        }
        assert!(files > 30, "{files}");
    }

    // Two saves at once: both versions kept, both load.
    let spawn = || {
        Command::new(BIN)
            .args([
                "pod",
                "save",
                "q",
                "--volume-dir",
                vol_s,
                "--endpoint",
                src.endpoint.as_str(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let versions = pod_ok(&["versions", "q", "--volume-dir", vol_s]);
    let rows = version_rows(&versions);
    assert_eq!(rows.len(), 2, "{versions}");
    let want = py(&src.endpoint, &["dump"]);
    for (n, _) in &rows {
        let v = format!("q:{n}");
        let s = serve(&dir.path().join(format!("q-{n}")), &[]);
        pod_ok(&[
            "load",
            &v,
            "--remote",
            remote.as_str(),
            "--endpoint",
            s.endpoint.as_str(),
        ]);
        assert_eq!(py(&s.endpoint, &["dump"]), want, "{v}");
    }

    // A damaged chunk on the remote: the load names it, refuses the version, changes nothing.
    let mut chunk = None;
    for d in std::fs::read_dir(remote_dir.join("chunks")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if std::fs::metadata(&f).unwrap().len() > 1000 {
                chunk = Some(f);
            }
        }
    }
    let chunk = chunk.unwrap();
    let mut bytes = std::fs::read(&chunk).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&chunk, &bytes).unwrap();
    let name = chunk.file_name().unwrap().to_str().unwrap().to_string();
    // A persistent target: its state directory stays as it was, byte for byte.
    let tvol = dir.path().join("target");
    let target = serve(
        &tvol,
        &[
            ("PERSISTENCE", "1"),
            ("SNAPSHOT_SAVE_STRATEGY", "ON_REQUEST"),
        ],
    );
    py(&target.endpoint, &["populate", "0.25"]);
    let (status, body) = target.http("POST", "/_localstack/state/save");
    assert_eq!(status, 200, "{body}");
    let before = py(&target.endpoint, &["dump"]);
    let state_before = state_files(&tvol.join("state"));
    let (code, out, err) = pod(
        &[
            "load",
            "p",
            "--remote",
            remote.as_str(),
            "--endpoint",
            target.endpoint.as_str(),
        ],
        &[],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains(&name) && err.contains("damaged"), "{err}");
    assert_eq!(
        state_files(&tvol.join("state")),
        state_before,
        "the target's state directory is untouched"
    );
    assert_eq!(py(&target.endpoint, &["dump"]), before, "nothing changed");
    // Counted as a failed load of each service the pod holds; none as a load.
    let m = metrics(&target);
    for service in ["dynamodb", "s3", "sqs", "ssm"] {
        let series = |name: &str| metric(&m, &format!("{name}{{service=\"{service}\"}}"));
        assert_eq!(series("snapstack_pod_load_errors_total"), 1, "{service}");
        assert_eq!(series("snapstack_pod_loads_total"), 0, "{service}");
    }

    // Delete a version, then the pod.
    pod_ok(&["delete", &format!("q:{}", rows[0].0), "--volume-dir", vol_s]);
    let versions = pod_ok(&["versions", "q", "--volume-dir", vol_s]);
    assert_eq!(versions.lines().count(), 2, "{versions}");
    pod_ok(&["delete", "q", "--volume-dir", vol_s]);
    let (code, _, _) = pod(&["versions", "q", "--volume-dir", vol_s], &[]);
    assert_ne!(code, 0);
}

#[test]
fn auto_load_pod_at_startup() {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let src = source(&vol);
    py(&src.endpoint, &["populate", "0.5"]);
    let remote = format!("file://{}", dir.path().join("remote").display());
    let vol_s = vol.to_str().unwrap();
    pod_ok(&[
        "save",
        "boot",
        "--remote",
        remote.as_str(),
        "--volume-dir",
        vol_s,
        "--endpoint",
        src.endpoint.as_str(),
    ]);
    let want = py(&src.endpoint, &["dump"]);
    let s = serve(
        &dir.path().join("auto"),
        &[
            ("AUTO_LOAD_POD", "boot"),
            ("AUTO_LOAD_POD_REMOTE", remote.as_str()),
        ],
    );
    assert_eq!(py(&s.endpoint, &["dump"]), want);
}

/// `pod save` really killed (SIGKILL) mid-upload, then resumed. The remote (a second
/// snapstack's S3) is reached through a [`Gate`] that lets 10 chunk uploads through and holds
/// the rest, so the CLI is certainly mid-way when the remote's chunk count reaches 10: it is
/// killed then. No version exists; the resumed save (straight to the remote) finds the 10 and
/// sends exactly the others; the pod loads equal to the source.
#[test]
fn a_save_killed_mid_upload_resumes_without_sending_again() {
    const ARRIVED: u64 = 10;
    let dir = tempdir();
    let remote_server = serve(&dir.path().join("remote"), &[]);
    py(&remote_server.endpoint, &["bucket", "pods"]);
    let gate = Gate::start(&remote_server.endpoint, ARRIVED);
    let gated = format!("s3://pods/kill?endpoint={}", gate.endpoint);
    let direct = format!("s3://pods/kill?endpoint={}", remote_server.endpoint);
    let bucket = Bucket {
        endpoint: &remote_server.endpoint,
        name: "pods",
        chunks: "kill/chunks/",
    };
    let vol = dir.path().join("source");
    let src = source(&vol);
    py(&src.endpoint, &["populate", "2"]);
    let mut child = Command::new(BIN)
        .args(["pod", "save", "k", "--parallel", "4", "--remote", &gated])
        .arg("--volume-dir")
        .arg(&vol)
        .args(["--endpoint", src.endpoint.as_str()])
        .env_remove("LOCALSTACK_VOLUME_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the save ended before it was killed"
        );
        if bucket.chunks() >= ARRIVED && gate.held() > 0 {
            break;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "the upload did not get under way"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(bucket.chunks(), ARRIVED, "only what the gate let through");
    // "pod k: T chunks (B bytes), 0 already on …; sending T (…)"
    let total = num_after(&err, "pod k: ");
    assert_eq!(num_after(&err, "bytes), "), 0, "{err}");
    let (code, _, verr) = pod(&["versions", "k", "--remote", &direct], &[]);
    assert_ne!(code, 0, "no version after a killed save: {verr}");

    let vol_s = vol.to_str().unwrap();
    let (code, resumed, rerr) = pod(
        &[
            "save",
            "k",
            "--remote",
            &direct,
            "--volume-dir",
            vol_s,
            "--endpoint",
            src.endpoint.as_str(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{resumed}\n{rerr}");
    let (total2, sent) = counts(&resumed);
    assert_eq!(total2, total, "{resumed}");
    assert_eq!(
        sent,
        total - ARRIVED,
        "the resumed save sends what had not arrived, only: {resumed}"
    );
    assert_eq!(num_after(&rerr, "bytes), "), ARRIVED, "{rerr}");
    assert_eq!(bucket.chunks(), total);
    let want = py(&src.endpoint, &["dump"]);
    let fresh = serve(&dir.path().join("fresh"), &[]);
    pod_ok(&[
        "load",
        "k",
        "--remote",
        &direct,
        "--endpoint",
        fresh.endpoint.as_str(),
    ]);
    assert_eq!(py(&fresh.endpoint, &["dump"]), want);
}

//! Pods end to end: the real binary saves the state of a server to a remote (a second
//! snapstack's S3, moto's S3, a directory), loads it into fresh running servers, and the
//! resources compare equal through boto3 (`tests/e2e/pods.py`). Also: an interrupted save
//! resumed, a damaged remote chunk refused with nothing changed, concurrent saves of one pod by
//! two clients (on both S3 remotes), and remote garbage collection.
#![cfg(feature = "pods")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Server, TIMEOUT, tempdir};

/// Run `snapstack pod ARGS…`; exit code, stdout, stderr.
fn pod(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("pod")
        .args(args)
        .env_remove("LOCALSTACK_VOLUME_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run snapstack pod");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pod_ok(args: &[&str]) -> String {
    let (code, out, err) = pod(args, &[]);
    assert_eq!(code, 0, "pod {args:?}:\n{out}\n{err}");
    out
}

/// `pods.py ENDPOINT ARGS…`, its stdout.
fn py(endpoint: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(format!("{}/tests/e2e/pods.py", env!("CARGO_MANIFEST_DIR")))
        .arg(endpoint)
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pods.py {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (chunks in the version, chunks sent) from a save's last line.
fn counts(save_output: &str) -> (u64, u64) {
    let num_before = |marker: &str| -> u64 {
        let at = save_output
            .find(marker)
            .unwrap_or_else(|| panic!("{save_output}"));
        save_output[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let total = num_before(" chunks (");
    let sent_at = save_output.rfind("sent ").unwrap();
    let sent: u64 = save_output[sent_at + 5..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (total, sent)
}

/// `Server::start` in `volume`, created first.
fn serve(volume: &Path, env: &[(&str, &str)]) -> Server {
    std::fs::create_dir_all(volume).unwrap();
    Server::start(volume, env)
}

fn source(volume: &Path) -> Server {
    serve(volume, &[("PERSISTENCE", "1")])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server on a free port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < TIMEOUT, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `marker` in `out` (e.g. "deleted: " → chunks deleted by a gc).
fn num_after(out: &str, marker: &str) -> u64 {
    let at = out
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {out}"))
        + marker.len();
    out[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{marker:?} in {out}"))
}

/// The (version, message) rows of `pod versions`.
fn version_rows(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .skip(1)
        .map(|l| {
            let n = l.split_whitespace().next().unwrap().parse().unwrap();
            let message = l.rsplit(" / ").next().unwrap().trim().to_string();
            (n, message)
        })
        .collect()
}

/// Where a remote's chunks can be counted through S3: the endpoint, the bucket, the prefix.
struct Bucket<'a> {
    endpoint: &'a str,
    name: &'a str,
    chunks: &'a str,
}

impl Bucket<'_> {
    fn chunks(&self) -> u64 {
        py(self.endpoint, &["count", self.name, self.chunks])
            .trim()
            .parse()
            .unwrap()
    }
}

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
    let first = pod_ok(&[&["save", "team", "-m", "first"][..], &common[..]].concat());
    let (total1, sent1) = counts(&first);
    assert_eq!(
        total1, sent1,
        "{label}: a first save sends everything: {first}"
    );
    assert!(total1 > 30, "{label}: {first}");
    py(&src.endpoint, &["modify"]);
    let second = pod_ok(&[&["save", "team", "-m", "second"][..], &common[..]].concat());
    let (total2, sent2) = counts(&second);
    assert!(
        sent2 > 0 && sent2 <= 30 && sent2 * 4 < total2,
        "{label}: the second save sends only the changed chunks: {sent2} of {total2}: {second}"
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
    assert_ne!(
        py(&fresh.endpoint, &["dump"]),
        want,
        "a dry run loads nothing"
    );
    let loaded = pod_ok(&[
        "load",
        "team",
        "--remote",
        remote,
        "--endpoint",
        fresh.endpoint.as_str(),
    ]);
    assert!(loaded.contains("loaded pod team version 2"), "{loaded}");
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
fn interrupted_resumed_damaged_refused_and_concurrent_saves() {
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

    // Killed after 5 chunks: no version, 5 or fewer chunks on the remote.
    let (code, out, err) = pod(
        &[&["save", "p"][..], &common[..]].concat(),
        &[("SNAPSTACK_POD_STOP_AFTER", "5")],
    );
    assert_eq!(code, 75, "{out}\n{err}");
    let (code, _, err) = pod(&["versions", "p", "--remote", remote.as_str()], &[]);
    assert_ne!(code, 0, "no version after an interrupted save: {err}");
    // Resumed: what arrived is not sent again.
    let resumed = pod_ok(&[&["save", "p"][..], &common[..]].concat());
    let (total, sent) = counts(&resumed);
    assert!(
        sent + 5 <= total,
        "the resumed save sends the rest only: {sent} of {total}: {resumed}"
    );

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
    let target = serve(&dir.path().join("target"), &[]);
    py(&target.endpoint, &["populate", "0.25"]);
    let before = py(&target.endpoint, &["dump"]);
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
    assert_eq!(py(&target.endpoint, &["dump"]), before, "nothing changed");

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

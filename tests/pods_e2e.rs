//! Pods end to end: the real binary saves the state of a server to a remote (a second
//! snapstack's S3, moto's S3, a directory), loads it into fresh running servers, and the
//! resources compare equal through boto3 (`tests/e2e/pods.py`). Also: a save killed mid-upload
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

/// The (service, added, changed, removed) rows of a `pod load`'s table.
fn load_rows(out: &str) -> Vec<(String, u64, u64, u64)> {
    out.lines()
        .skip(2)
        .filter(|l| !l.contains("skipped"))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| c[i].parse().unwrap_or_else(|_| panic!("{l:?} in {out}"));
            (c[0].to_string(), n(1), n(2), n(3))
        })
        .collect()
}

/// Every file under `dir` with its bytes, sorted by path.
fn state_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = common::files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds files", dir.display());
    files
}

/// `GET /_localstack/metrics` of a server.
fn metrics(server: &Server) -> String {
    let (status, body) = server.http("GET", "/_localstack/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the series named exactly `series` (name and labels), a whole number.
fn metric(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {series}:\n{body}"))
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

/// A pass-through HTTP proxy to an S3 endpoint that forwards the first `allow` chunk uploads
/// (`PUT …/chunks/…`) and holds every later one unanswered: a save through it stops mid-way,
/// deterministically, until its process is killed. One request per connection.
struct Gate {
    endpoint: String,
    /// Chunk uploads that arrived after the first `allow` (held, never forwarded).
    held: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Gate {
    fn start(upstream: &str, allow: u64) -> Gate {
        use std::io::{Read, Write};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(AtomicU64::new(0));
        let chunk_puts = Arc::new(AtomicU64::new(0));
        let held2 = held.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (upstream, held, chunk_puts) =
                    (upstream.clone(), held2.clone(), chunk_puts.clone());
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") {
                        match conn.read(&mut byte) {
                            Ok(1) => req.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&req).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if conn.read_exact(&mut body).is_err() {
                        return;
                    }
                    let first = head.lines().next().unwrap_or("");
                    if first.starts_with("PUT ")
                        && first.contains("/chunks/")
                        && chunk_puts.fetch_add(1, Ordering::SeqCst) >= allow
                    {
                        held.fetch_add(1, Ordering::SeqCst);
                        // Unanswered until the client goes away.
                        let mut sink = [0u8; 1024];
                        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                        return;
                    }
                    let mut out: Vec<u8> = Vec::new();
                    for l in head.split("\r\n").filter(|l| !l.is_empty()) {
                        if !l.to_ascii_lowercase().starts_with("connection:") {
                            out.extend_from_slice(l.as_bytes());
                            out.extend_from_slice(b"\r\n");
                        }
                    }
                    out.extend_from_slice(b"Connection: close\r\n\r\n");
                    out.extend_from_slice(&body);
                    let Ok(mut up) = std::net::TcpStream::connect(&upstream) else {
                        return;
                    };
                    let mut resp = Vec::new();
                    if up.write_all(&out).is_ok() && up.read_to_end(&mut resp).is_ok() {
                        let _ = conn.write_all(&resp);
                    }
                });
            }
        });
        Gate { endpoint, held }
    }

    fn held(&self) -> u64 {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
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

/// `{"other_param", "other_queue", "extra", "p3"}` of a server (`pods.py extras`).
fn extras(server: &Server) -> serde_json::Value {
    serde_json::from_str(&py(&server.endpoint, &["extras"])).unwrap()
}

/// The row of `service` in a `pod load` table: (added, changed, removed).
fn row(out: &str, service: &str) -> (u64, u64, u64) {
    let r = load_rows(out);
    let r = r
        .iter()
        .find(|r| r.0 == service)
        .unwrap_or_else(|| panic!("no {service} in {out}"));
    (r.1, r.2, r.3)
}

/// The two merge strategies, told apart. Two servers hold the same state the pod does not:
/// an account and region of their own (a parameter, a queue), and inside the pod's account
/// and region a parameter the pod lacks and one it holds with another value.
/// `account-region-merge` replaces the pod's accounts and regions only (the extra account
/// stays, the extra parameter there goes); `overwrite` replaces everything (the extra account
/// goes too). The dry runs count exactly that, and change nothing.
#[test]
fn merge_strategies_keep_or_replace_what_the_pod_does_not_hold() {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let src = source(&vol);
    py(&src.endpoint, &["populate", "0.25"]);
    let remote = format!("file://{}", dir.path().join("remote").display());
    pod_ok(&[
        "save",
        "m",
        "--remote",
        &remote,
        "--volume-dir",
        vol.to_str().unwrap(),
        "--endpoint",
        src.endpoint.as_str(),
    ]);
    let want = py(&src.endpoint, &["dump"]);
    let targets: Vec<Server> = ["merge", "overwrite"]
        .iter()
        .map(|n| {
            let s = serve(&dir.path().join(n), &[]);
            py(&s.endpoint, &["local"]);
            s
        })
        .collect();
    let local =
        serde_json::json!({"extra": true, "other_param": true, "other_queue": true, "p3": "local"});
    let load = |server: &Server, strategy: &str, dry: bool| {
        let mut args = vec![
            "load",
            "m",
            "--remote",
            &remote,
            "--endpoint",
            server.endpoint.as_str(),
            "--strategy",
            strategy,
        ];
        if dry {
            args.push("--dry-run");
        }
        pod_ok(&args)
    };
    let dry_merge = load(&targets[0], "account-region-merge", true);
    let dry_over = load(&targets[1], "overwrite", true);
    for t in &targets {
        assert_eq!(extras(t), local, "a dry run changes nothing");
    }
    // SSM: /app/p3 changed, /extra removed (both strategies); /other removed by overwrite only.
    let (m_added, m_changed, m_removed) = row(&dry_merge, "ssm");
    let (o_added, o_changed, o_removed) = row(&dry_over, "ssm");
    assert!(m_changed >= 1 && m_removed >= 1, "{dry_merge}");
    assert_eq!((o_added, o_changed), (m_added, m_changed), "{dry_over}");
    assert!(o_removed > m_removed, "{dry_merge}\n{dry_over}");
    // SQS: the queue of the other account goes with overwrite only.
    assert_eq!(row(&dry_merge, "sqs").2, 0, "{dry_merge}");
    assert!(row(&dry_over, "sqs").2 >= 1, "{dry_over}");

    let merged = load(&targets[0], "account-region-merge", false);
    assert_eq!(row(&merged, "ssm"), row(&dry_merge, "ssm"), "{merged}");
    assert_eq!(py(&targets[0].endpoint, &["dump"]), want);
    assert_eq!(
        extras(&targets[0]),
        serde_json::json!({"extra": false, "other_param": true, "other_queue": true, "p3": "value 3"}),
        "account-region-merge keeps the account the pod does not hold"
    );
    let over = load(&targets[1], "overwrite", false);
    assert_eq!(row(&over, "ssm"), row(&dry_over, "ssm"), "{over}");
    assert_eq!(py(&targets[1].endpoint, &["dump"]), want);
    assert_eq!(
        extras(&targets[1]),
        serde_json::json!({"extra": false, "other_param": false, "other_queue": false, "p3": "value 3"}),
        "overwrite leaves the pod's state only"
    );
}

/// `pod save --services` keeps only those services (`versions` and `inspect` name only them);
/// `pod load --services` loads only those; `pod remote add|list|remove`.
#[test]
fn chosen_services_and_named_remotes() {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let vol_s = vol.to_str().unwrap();
    let src = source(&vol);
    py(&src.endpoint, &["populate", "0.25"]);
    let remote = format!("file://{}", dir.path().join("remote").display());
    let save = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "save",
            name,
            "--remote",
            &remote,
            "--volume-dir",
            vol_s,
            "--endpoint",
            src.endpoint.as_str(),
        ];
        args.extend_from_slice(extra);
        pod_ok(&args)
    };
    let out = save("some", &["--services", "s3,sqs"]);
    assert!(out.contains("2 services"), "{out}");
    let versions = pod_ok(&["versions", "some", "--remote", &remote]);
    let services = versions.lines().nth(1).unwrap();
    let services = services.rsplit_once(" / ").unwrap().0;
    let services = services.rsplit(' ').next().unwrap();
    assert_eq!(services, "s3,sqs", "{versions}");
    let inspect = pod_ok(&["inspect", "some", "--remote", &remote]);
    assert!(
        inspect.contains("\ns3: ") && inspect.contains("\nsqs: "),
        "{inspect}"
    );
    assert!(
        !inspect.contains("\nssm: ") && !inspect.contains("\ndynamodb: "),
        "{inspect}"
    );
    let (code, _, err) = pod(
        &[
            "save",
            "bad",
            "--services",
            "s3,nosuch",
            "--remote",
            &remote,
            "--volume-dir",
            vol_s,
            "--endpoint",
            src.endpoint.as_str(),
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("\"nosuch\""), "{err}");

    // A whole pod, SQS of it loaded only.
    save("all", &[]);
    let want: serde_json::Value = serde_json::from_str(&py(&src.endpoint, &["dump"])).unwrap();
    let fresh = serve(&dir.path().join("fresh"), &[]);
    let out = pod_ok(&[
        "load",
        "all",
        "--services",
        "sqs",
        "--remote",
        &remote,
        "--endpoint",
        fresh.endpoint.as_str(),
    ]);
    assert_eq!(load_rows(&out).len(), 1, "{out}");
    let got: serde_json::Value = serde_json::from_str(&py(&fresh.endpoint, &["dump"])).unwrap();
    for (account, resources) in want.as_object().unwrap() {
        let only_sqs: serde_json::Map<_, _> = resources
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("sqs:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut expected = only_sqs.clone();
        expected.insert("ssm".into(), serde_json::json!({}));
        assert!(!only_sqs.is_empty());
        assert_eq!(
            got[account],
            serde_json::Value::Object(expected),
            "{account}"
        );
    }

    // Named remotes.
    pod_ok(&["remote", "add", "spare", &remote, "--volume-dir", vol_s]);
    pod_ok(&[
        "remote",
        "add",
        "other",
        "file:///nowhere",
        "--volume-dir",
        vol_s,
    ]);
    let listed = pod_ok(&["remote", "list", "--volume-dir", vol_s]);
    assert!(
        listed.contains("spare") && listed.contains("other"),
        "{listed}"
    );
    let list = pod_ok(&["list", "--remote", "spare", "--volume-dir", vol_s]);
    assert!(list.contains("all") && list.contains("some"), "{list}");
    pod_ok(&["remote", "remove", "spare", "--volume-dir", vol_s]);
    let listed = pod_ok(&["remote", "list", "--volume-dir", vol_s]);
    assert!(
        !listed.contains("spare") && listed.contains("other"),
        "{listed}"
    );
    let (code, _, err) = pod(&["remote", "remove", "spare", "--volume-dir", vol_s], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no remote named \"spare\""), "{err}");
    let (code, _, err) = pod(&["list", "--remote", "spare", "--volume-dir", vol_s], &[]);
    assert_ne!(code, 0, "a removed remote is not found: {err}");
}

/// `AUTO_LOAD_POD=a,b`: both loaded, in that order. Pod `b` holds SSM only, changed after `a`
/// was saved: loaded after `a` its parameters win; loaded before, `a`'s do.
#[test]
fn auto_load_pod_loads_several_in_order() {
    let dir = tempdir();
    let vol = dir.path().join("source");
    let vol_s = vol.to_str().unwrap();
    let src = source(&vol);
    py(&src.endpoint, &["populate", "0.25"]);
    let remote = format!("file://{}", dir.path().join("remote").display());
    let save = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "save",
            name,
            "--remote",
            &remote,
            "--volume-dir",
            vol_s,
            "--endpoint",
            src.endpoint.as_str(),
        ];
        args.extend_from_slice(extra);
        pod_ok(&args);
    };
    save("a", &[]);
    let want_a: serde_json::Value = serde_json::from_str(&py(&src.endpoint, &["dump"])).unwrap();
    py(&src.endpoint, &["modify"]);
    save("b", &["--services", "ssm"]);
    let after: serde_json::Value = serde_json::from_str(&py(&src.endpoint, &["dump"])).unwrap();
    let mut a_then_b = want_a.clone();
    for (account, resources) in after.as_object().unwrap() {
        a_then_b[account]["ssm"] = resources["ssm"].clone();
    }
    assert_ne!(a_then_b, want_a, "b changes a parameter");
    for (order, want) in [("a,b", &a_then_b), ("b, a", &want_a)] {
        let s = serve(
            &dir.path().join(order.replace([',', ' '], "")),
            &[
                ("AUTO_LOAD_POD", order),
                ("AUTO_LOAD_POD_REMOTE", remote.as_str()),
            ],
        );
        let got: serde_json::Value = serde_json::from_str(&py(&s.endpoint, &["dump"])).unwrap();
        assert_eq!(&got, want, "AUTO_LOAD_POD={order}");
    }
}

/// The engine's backend over an object store, on two S3-compatible stores (moto's and a second
/// snapstack's): an engine saves there, a second engine opened on the same bucket loads it.
#[test]
fn an_engine_keeps_its_files_on_s3_through_the_object_store_backend() {
    use snapstack::{Engine, EngineOptions, Key, Record, Store};
    use snapstack_pods::backend::ObjectStoreBackend;
    use snapstack_pods::remote::Remote;
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Note(String);
    impl Record for Note {}
    let dir = tempdir();
    let moto = Moto::start();
    let snap = serve(&dir.path().join("remote"), &[]);
    for endpoint in [&moto.endpoint, &snap.endpoint] {
        py(endpoint, &["bucket", "engine"]);
        let url = format!("s3://engine/state?endpoint={endpoint}");
        let options = EngineOptions {
            background_saves: false,
            direct_writes: false,
            ..EngineOptions::default()
        };
        {
            let backend = ObjectStoreBackend::new(Remote::open(&url).unwrap()).unwrap();
            let engine = Engine::with_backend(backend, options.clone()).unwrap();
            let store = Store::<Note>::new("notes");
            engine.register(store.clone()).unwrap();
            store.write(|t| {
                for i in 0..500u64 {
                    t.insert(Key::builder().u64(i).build(), Note(format!("note {i}")));
                }
            });
            let r = engine.save(&["notes"]);
            assert!(r[0].1.is_ok(), "{endpoint}: {r:?}");
        }
        let objects: u64 = py(endpoint, &["count", "engine", "state/"])
            .trim()
            .parse()
            .unwrap();
        assert!(
            objects >= 2,
            "{endpoint}: the engine's files are objects: {objects}"
        );
        let backend = ObjectStoreBackend::new(Remote::open(&url).unwrap()).unwrap();
        let engine = Engine::with_backend(backend, options).unwrap();
        let store = Store::<Note>::new("notes");
        engine.register(store.clone()).unwrap();
        let rep = engine.load("notes").unwrap();
        assert_eq!(rep.generation, Some(1), "{endpoint}");
        let snapshot = store.snapshot();
        assert_eq!(snapshot.len(), 500, "{endpoint}");
        assert!(engine.verify().unwrap().is_clean(), "{endpoint}");
    }
}

/// `pod save` of a server that does not persist: a clear error, nothing on the remote.
#[test]
fn saving_a_server_without_persistence_is_a_clear_error() {
    let dir = tempdir();
    let vol = dir.path().join("memory");
    let s = serve(&vol, &[]);
    py(&s.endpoint, &["populate", "0.25"]);
    let remote_dir = dir.path().join("remote");
    let (code, out, err) = pod(
        &[
            "save",
            "x",
            "--remote",
            &format!("file://{}", remote_dir.display()),
            "--volume-dir",
            vol.to_str().unwrap(),
            "--endpoint",
            s.endpoint.as_str(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("PERSISTENCE=1"), "{err}");
    assert!(
        common::files_under(&remote_dir).is_empty(),
        "nothing written to the remote"
    );
}

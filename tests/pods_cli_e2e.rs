//! Pods end to end, the CLI's choices: the merge strategies told apart, `--services` on save
//! and load, named remotes, `AUTO_LOAD_POD` with several pods, a save of a server without
//! persistence, and the engine's object-store backend on two S3-compatible stores.
#![cfg(feature = "pods")]

mod common;
mod pods_support;

use common::{Server, tempdir};
use pods_support::*;

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

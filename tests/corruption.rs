//! Damaged state directories under the real server: for every manifest and pack of a saved state
//! (three generations of SSM), flip bytes at seeded offsets in each region of the file, truncate
//! it, or delete it; then restart with `SNAPSHOT_LOAD_STRATEGY=ON_STARTUP` (every third case
//! `ON_REQUEST`: lazily, on the first SSM request) and check that
//!
//! - the server comes up and serves (SSM and STS);
//! - what loads is exactly one saved generation (or, if none verifies, nothing), never a mix;
//! - it is the newest generation the damage left whole (exactly predicted where the damage
//!   decides it: a manifest, or the newest pack that only the newest generation uses);
//! - a fallback is reported, naming the service and the damaged file (`GET /_localstack/state`
//!   `last_error` when nothing loads, the log when an older generation loads);
//! - nothing in the state directory is deleted or changed by the load;
//! - the server goes on: a write and a save after the damage succeed and load after a restart.
//!
//! Also: a manifest from a newer format version (the version field patched to 2 and the
//! checksum fixed, so only the version is "wrong") is refused with a message that says so.

#[path = "rel_common/mod.rs"]
mod common;

#[path = "fsutil/mod.rs"]
mod fsutil;

use fsutil::copy_dir;
use std::fs;
use std::path::{Path, PathBuf};

use common::{Rng, Server, by_path, files, request, start};

const GENERATIONS: usize = 3;
const PER_GEN: usize = 30;

/// The params written before save `g` (1-based): `/g<g>/<i>`.
fn write_generation(s: &Server, g: usize) {
    for i in 0..PER_GEN {
        let (status, body) = s
            .put(&format!("/g{g}/{i}"), &format!("value-{g}-{i}"))
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

/// Which generation the server's state is: the number of `/g<k>` prefixes present, checking that
/// each is complete and later ones absent (a mix panics).
fn loaded_generation(s: &Server) -> usize {
    let mut gen_ = 0;
    for g in 1..=GENERATIONS {
        let got = by_path(s.addr, &format!("/g{g}"));
        if got.is_empty() {
            break;
        }
        assert_eq!(
            got.len(),
            PER_GEN,
            "a partial generation loaded: /g{g} {got:?}"
        );
        for (k, v) in &got {
            let i = k.rsplit('/').next().unwrap();
            assert_eq!(v, &format!("value-{g}-{i}"));
        }
        gen_ = g;
    }
    for g in gen_ + 1..=GENERATIONS {
        assert!(
            by_path(s.addr, &format!("/g{g}")).is_empty(),
            "a mix of generations loaded"
        );
    }
    gen_
}

fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

/// A saved volume with three generations of SSM: `(tempdir, volume)`.
fn saved_volume() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("template");
    let log = dir.path().join("template.log");
    let mut s = start(&volume, &log, &[("SNAPSHOT_SAVE_STRATEGY", "MANUAL")]);
    for g in 1..=GENERATIONS {
        write_generation(&s, g);
        let (_, lines) = s.state_op("ssm/save");
        assert_eq!(lines[0]["status"], "ok", "{lines:?}");
    }
    s.kill();
    (dir, volume)
}

/// Where a pack's chunks lie (from its index, `docs/FORMAT.md` section 4).
struct PackLayout {
    index_offset: usize,
    /// (offset, len) of each chunk's bytes.
    chunks: Vec<(usize, usize)>,
}

fn pack_layout(b: &[u8]) -> PackLayout {
    let t = b.len() - 56;
    let count = u64::from_le_bytes(b[t..t + 8].try_into().unwrap()) as usize;
    let index_offset = u64::from_le_bytes(b[t + 8..t + 16].try_into().unwrap()) as usize;
    let chunks = (0..count)
        .map(|i| {
            let e = &b[index_offset + 44 * i..index_offset + 44 * (i + 1)];
            (
                u64::from_le_bytes(e[32..40].try_into().unwrap()) as usize,
                u32::from_le_bytes(e[40..44].try_into().unwrap()) as usize,
            )
        })
        .collect();
    PackLayout {
        index_offset,
        chunks,
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip(usize),
    Truncate(usize),
    Delete,
}

fn serves_sts(s: &Server) -> bool {
    let r = request(
        s.addr,
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"Action=GetCallerIdentity&Version=2011-06-15",
    )
    .unwrap();
    r.status == 200 && r.text().contains("GetCallerIdentityResponse")
}

#[test]
fn damaged_files_are_detected_named_and_survived() {
    let (dir, template) = saved_volume();
    let state = template.join("state");
    let manifests: Vec<PathBuf> = files(&state.join("manifests/ssm"));
    let packs: Vec<PathBuf> = files(&state.join("packs"));
    assert_eq!(manifests.len(), GENERATIONS);
    assert!(packs.len() >= GENERATIONS, "{packs:?}");
    let newest_manifest = manifests.last().unwrap().clone();
    let newest_pack = packs.last().unwrap().clone();

    let mut rng = Rng::new(0xc044_0b7e);
    let mut cases = Vec::new();
    for f in manifests.iter().chain(&packs) {
        let len = fs::metadata(f).unwrap().len() as usize;
        let is_pack = f.extension().is_some_and(|e| e == "pack");
        // Flips in each region: header, body or data, index and trailer (or checksum).
        let regions: &[(usize, usize)] = if is_pack {
            &[
                (0, 16),
                (16, len - 56 - 44),
                (len - 56 - 44, len - 56),
                (len - 56, len),
            ]
        } else {
            &[(0, 16), (16, len - 32), (len - 32, len)]
        };
        for &(lo, hi) in regions {
            cases.push((
                f.clone(),
                Damage::Flip(rng.range(lo as u64, hi as u64 - 1) as usize),
            ));
        }
        cases.push((
            f.clone(),
            Damage::Truncate(rng.range(0, len as u64 - 1) as usize),
        ));
        cases.push((f.clone(), Damage::Delete));
    }

    // cases, fallbacks, nothing loaded, reported, harmless flips of redundant entry headers
    let mut figures = (0usize, 0usize, 0usize, 0usize, 0usize);
    for (n, (file, damage)) in cases.iter().enumerate() {
        let rel = file.strip_prefix(&template).unwrap();
        let volume = dir.path().join(format!("case-{n}"));
        copy_dir(&template, &volume);
        let target = volume.join(rel);
        match *damage {
            Damage::Flip(at) => {
                let mut b = fs::read(&target).unwrap();
                b[at] ^= 1 << (rng.range(0, 7));
                fs::write(&target, b).unwrap();
            }
            Damage::Truncate(to) => {
                fs::OpenOptions::new()
                    .write(true)
                    .open(&target)
                    .unwrap()
                    .set_len(to as u64)
                    .unwrap();
            }
            Damage::Delete => fs::remove_file(&target).unwrap(),
        }
        let before = contents(&volume.join("state"));
        let log = dir.path().join(format!("case-{n}.log"));
        // Mostly ON_STARTUP (all loads before the port opens); every third case lazily, on the
        // first request that touches SSM.
        let load = if n % 3 == 2 {
            "ON_REQUEST"
        } else {
            "ON_STARTUP"
        };
        let what = format!("case {n}: {damage:?} of {}, load {load}", rel.display());
        let s = start(
            &volume,
            &log,
            &[
                ("SNAPSHOT_SAVE_STRATEGY", "MANUAL"),
                ("SNAPSHOT_LOAD_STRATEGY", load),
            ],
        );
        // The server is up and serves every service.
        assert!(serves_sts(&s), "{what}: STS does not serve");
        let g = loaded_generation(&s);
        let st = s.state();
        let last_error = st["services"]["ssm"]["last_error"].as_str().unwrap_or("");
        let log_text = s.log_text();
        let name = file.file_name().unwrap().to_string_lossy().to_string();

        // The exact generation, where the damage decides it; and whether the load must report
        // the damaged file even when the newest generation still loads (a salvaged pack).
        let is_pack = file.extension().is_some_and(|e| e == "pack");
        let (expected, must_report) = if *file == newest_manifest {
            (Some(GENERATIONS - 1), !matches!(damage, Damage::Delete))
        } else if !is_pack {
            (Some(GENERATIONS), false) // an older manifest is not read when the newest loads
        } else {
            let layout = pack_layout(&fs::read(file).unwrap());
            // Damage to the header, index or trailer: the pack is salvaged by walking its
            // entries, and reported. Damage to a chunk's bytes: that chunk is lost.
            let (hits_chunk, hits_frame) = match *damage {
                Damage::Delete => (true, false),
                Damage::Truncate(t) => (t < layout.index_offset, true),
                Damage::Flip(at) => {
                    let in_chunk = layout.chunks.iter().any(|&(o, l)| at >= o && at < o + l);
                    if !in_chunk && at >= 16 && at < layout.index_offset {
                        // An entry's header (length and id) repeats what the index says; a
                        // load reads the index, so this damage is harmless and unseen.
                        figures.4 += 1;
                    }
                    (in_chunk, at < 16 || at >= layout.index_offset)
                }
            };
            if *file == newest_pack {
                // Every chunk of the newest pack is used by the newest generation only.
                let g = if hits_chunk {
                    GENERATIONS - 1
                } else {
                    GENERATIONS
                };
                (Some(g), hits_frame)
            } else {
                (None, hits_frame)
            }
        };
        if let Some(e) = expected {
            assert_eq!(g, e, "{what}: loaded generation {g}\n{log_text}");
        }
        if must_report {
            assert!(
                log_text.contains(&name) || last_error.contains(&name),
                "{what}: the damage is not reported\n{log_text}"
            );
            figures.3 += 1;
        }
        if g == 0 {
            figures.2 += 1;
            // Nothing loaded: the error says why, naming the service and every attempt.
            assert!(
                last_error.contains("service ssm") && last_error.contains(".manifest"),
                "{what}: last_error {last_error:?}"
            );
        }
        if g < GENERATIONS {
            figures.1 += 1;
            // A fallback: the service and the damaged file are named, unless the damage was the
            // deletion of the newest manifest (indistinguishable from a save that never
            // committed: the previous generation loads silently).
            let silent = matches!(damage, Damage::Delete) && *file == newest_manifest;
            if !silent {
                let reported = format!("{last_error}\n{log_text}");
                assert!(
                    reported.contains("ssm"),
                    "{what}: the service is not named\n{reported}"
                );
                // A deleted pack cannot be named by what is missing from it: the load names
                // the manifest whose tree is incomplete and the missing chunk.
                let named = reported.contains(&name)
                    || (matches!(damage, Damage::Delete) && reported.contains("is missing"));
                assert!(named, "{what}: the damaged file is not named\n{reported}");
            }
        }
        // Nothing was deleted or changed by the load.
        assert!(
            contents(&volume.join("state")) == before,
            "{what}: the load changed the state directory"
        );
        // And the server goes on: a write, a save, a restart.
        assert_eq!(s.put("/after/x", "1").unwrap().0, 200, "{what}");
        let (_, lines) = s.state_op("ssm/save");
        assert_eq!(lines[0]["status"], "ok", "{what}: {lines:?}");
        drop(s);
        let s = start(&volume, &log, &[("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP")]);
        assert_eq!(
            common::get(s.addr, "/after/x").as_deref(),
            Some("1"),
            "{what}"
        );
        drop(s);
        figures.0 += 1;
    }
    println!(
        "server corruption: {} damaged state directories (flips in every region, truncations, deletions of {} manifests and {} packs): {} fell back to an older generation ({} to none), {} damaged files named in the log, {} harmless flips of redundant entry headers, nothing deleted",
        figures.0,
        manifests.len(),
        packs.len(),
        figures.1,
        figures.2,
        figures.3,
        figures.4
    );
}

/// A manifest of a newer format version is refused, and the message says so and names the
/// file; the previous generation loads.
#[test]
fn a_newer_format_version_is_refused_by_name() {
    let (dir, template) = saved_volume();
    let manifests = files(&template.join("state/manifests/ssm"));
    let newest = manifests.last().unwrap();
    let mut b = fs::read(newest).unwrap();
    assert_eq!(&b[..8], b"SNAPMANI");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let n = b.len();
    let sum = *blake3::hash(&b[..n - 32]).as_bytes();
    b[n - 32..].copy_from_slice(&sum);
    fs::write(newest, &b).unwrap();

    // Newest generation from a newer version: refused, the older one loads.
    let log = dir.path().join("newer.log");
    let s = start(&template, &log, &[("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP")]);
    assert_eq!(loaded_generation(&s), GENERATIONS - 1);
    let text = s.log_text();
    let name = newest.file_name().unwrap().to_string_lossy();
    assert!(
        text.contains("format version 2")
            && text.contains("upgrade snapstack")
            && text.contains(&*name),
        "{text}"
    );
    drop(s);

    // Every generation from a newer version: nothing loads, and `last_error` says why.
    for m in &manifests[..manifests.len() - 1] {
        let mut b = fs::read(m).unwrap();
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        let n = b.len();
        let sum = *blake3::hash(&b[..n - 32]).as_bytes();
        b[n - 32..].copy_from_slice(&sum);
        fs::write(m, &b).unwrap();
    }
    let s = start(&template, &log, &[("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP")]);
    assert_eq!(loaded_generation(&s), 0);
    let st = s.state();
    let e = st["services"]["ssm"]["last_error"].as_str().unwrap();
    assert!(
        e.contains("format version 2") && e.contains("reads versions up to 1"),
        "{e}"
    );
    // An explicit load says the same on the endpoint.
    let (_, lines) = s.state_op("ssm/load");
    assert_eq!(lines[0]["status"], "error");
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("upgrade snapstack"),
        "{lines:?}"
    );
}

const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

fn s3(s: &Server, method: &str, path: &str, data: &[u8]) -> Result<common::Response, String> {
    request(s.addr, method, path, &[("Authorization", S3_AUTH)], data)
}

/// The chunks of a pack, in file order: (offset of the data, its bytes' length, first byte).
fn pack_entries(b: &[u8]) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    let index_offset = u64::from_le_bytes(b[b.len() - 48..b.len() - 40].try_into().unwrap());
    let mut pos = 16;
    while pos + 36 <= index_offset as usize {
        let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        let start = pos + 36;
        out.push((start, len, b[start]));
        pos = start + len;
    }
    out
}

/// Issue 15, item 5: a damaged S3 body is never served as a shorter object with a 200. A piece
/// that fails verification while streaming ends the response short of its Content-Length (the
/// client sees a failed read), is logged naming the service, the file and the chunk, and is
/// counted in `GET /_localstack/state` (`damaged_reads`); a damaged blob index makes HEAD and GET
/// answer 500 `InternalError` before any body byte.
#[test]
fn a_damaged_s3_body_is_an_error_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    let log = dir.path().join("server.log");
    let env = [
        ("SNAPSHOT_SAVE_STRATEGY", "MANUAL"),
        ("SNAPSHOT_LOAD_STRATEGY", "ON_STARTUP"),
    ];
    let mut rng = Rng::new(0xdead_b0d1);
    let body: Vec<u8> = (0..(3 << 20) / 8)
        .flat_map(|_| rng.next_u64().to_le_bytes())
        .collect();
    let mut s = start(&volume, &log, &env);
    assert_eq!(s3(&s, "PUT", "/dmg", b"").unwrap().status, 200);
    assert_eq!(s3(&s, "PUT", "/dmg/obj", &body).unwrap().status, 200);
    let (status, lines) = s.state_op("save");
    assert!(
        status == 200 && lines.iter().all(|l| l["status"] == "ok"),
        "{lines:?}"
    );
    s.kill();
    let pristine = dir.path().join("pristine");
    copy_dir(&volume, &pristine);
    let packs = files(&volume.join("state/packs"));
    assert_eq!(packs.len(), 1, "{packs:?}");
    let pack = &packs[0];
    let bytes = fs::read(pack).unwrap();
    let entries = pack_entries(&bytes);
    let pieces: Vec<_> = entries.iter().filter(|e| e.1 >= 16 << 10).collect();
    let index = entries
        .iter()
        .find(|e| e.2 == 0x03 && e.1 < 16 << 10)
        .expect("a blob index chunk");
    assert!(pieces.len() >= 10, "{entries:?}");
    let pack_name = pack.file_name().unwrap().to_string_lossy().to_string();

    // A flipped byte in the fourth piece: the GET starts with a 200 and its headers, then the
    // connection ends short of the Content-Length.
    let mut damaged = bytes.clone();
    let (at, len, _) = *pieces[3];
    damaged[at + len / 2] ^= 0x20;
    fs::write(pack, &damaged).unwrap();
    let chunk_id: String = damaged[at - 32..at]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut s = start(&volume, &log, &env);
    assert_eq!(s.state()["services"]["s3"]["damaged_reads"], 0);
    let got = s3(&s, "GET", "/dmg/obj", b"");
    let err = got
        .err()
        .expect("a damaged body must not read back as a whole response");
    // How the cut shows depends on timing (a body cut short, a reset while receiving): any
    // failed read will do, a whole response would not.
    eprintln!("damaged body read: {err}");
    println!("GET of an object with a damaged piece: {err}");
    let r = s3(&s, "HEAD", "/dmg/obj", b"").unwrap();
    assert_eq!(r.status, 200, "the index is intact");
    let st = s.state();
    assert_eq!(st["services"]["s3"]["damaged_reads"], 1, "{st}");
    let logged = s.log_text();
    let line = logged
        .lines()
        .find(|l| l.contains("failed verification"))
        .unwrap_or_else(|| panic!("nothing logged:\n{logged}"));
    assert!(
        line.contains("s3") && line.contains(&pack_name) && line.contains(&chunk_id),
        "the log names the service, the file and the chunk: {line}"
    );
    println!("logged: {line}");
    s.kill();

    // A flipped byte in the blob index: HEAD and GET answer 500 InternalError, no body byte.
    fs::remove_dir_all(&volume).unwrap();
    copy_dir(&pristine, &volume);
    let mut damaged = bytes.clone();
    damaged[index.0 + index.1 / 2] ^= 0x01;
    fs::write(pack, &damaged).unwrap();
    let mut s = start(&volume, &log, &env);
    let r = s3(&s, "HEAD", "/dmg/obj", b"").unwrap();
    assert_eq!(r.status, 500);
    let r = s3(&s, "GET", "/dmg/obj", b"").unwrap();
    assert_eq!(r.status, 500);
    let text = r.text();
    assert!(
        text.contains("<Code>InternalError</Code>") && text.contains("damaged"),
        "{text}"
    );
    println!("GET of an object with a damaged index: {text}");
    assert_eq!(s.state()["services"]["s3"]["damaged_reads"], 2);
    // Other objects and services go on.
    assert_eq!(s3(&s, "PUT", "/dmg/other", b"fine").unwrap().status, 200);
    assert_eq!(s3(&s, "GET", "/dmg/other", b"").unwrap().body, b"fine");
    s.kill();
}

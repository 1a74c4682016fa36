//! Service manifests: one small file per saved generation of a service, naming the root of its
//! tree. A manifest is written atomically, and only after every chunk it references is durable,
//! so the newest manifest that verifies always describes a complete snapshot.

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::chunk_id::ChunkId;
use crate::codec::{Reader, err};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SNAPMANI";
/// The snapshot format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const MAX_BODY: usize = 64 << 10;
const MANIFEST_DIR: &str = "manifests";

/// The contents of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub service: String,
    pub generation: u64,
    /// The store version the snapshot was captured at.
    pub store_version: u64,
    pub root: Option<ChunkId>,
    pub height: u8,
    pub records: u64,
    /// Encoded bytes and chunks of the tree (blobs not included).
    pub tree_bytes: u64,
    pub tree_chunks: u64,
    pub created_unix_ms: u64,
}

/// Whether `name` is a valid service name: 1 to 64 bytes of `[a-z0-9_-]`.
pub fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(crate) fn manifest_path(service: &str, generation: u64) -> String {
    format!("{MANIFEST_DIR}/{service}/{generation:016x}.manifest")
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing plain integers, strings and arrays into a Vec cannot fail.
        let body = postcard::to_allocvec(self).unwrap_or_default();
        let mut buf = Vec::with_capacity(body.len() + 48);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
        buf.extend_from_slice(&body);
        let sum = blake3::hash(&buf);
        buf.extend_from_slice(sum.as_bytes());
        buf
    }

    /// Decode a manifest read from `file`.
    pub(crate) fn decode(bytes: &[u8], file: &str) -> Result<Manifest> {
        let corrupt = |reason: String| Error::corrupt(file, reason);
        let mut r = Reader::new(bytes);
        let magic = r.take(8).map_err(|e| corrupt(e.0))?;
        if magic != MAGIC {
            return Err(corrupt("not a snapstack manifest (bad magic)".into()));
        }
        let version = r.u32_le().map_err(|e| corrupt(e.0))?;
        if version > FORMAT_VERSION {
            return Err(Error::NewerFormat {
                file: file.to_string(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(corrupt("format version 0 does not exist".into()));
        }
        let body_len = r.u32_le().map_err(|e| corrupt(e.0))? as usize;
        let parsed = (|| {
            if body_len > MAX_BODY {
                return err(format!("body of {body_len} bytes exceeds the limit"));
            }
            let body = r.take(body_len)?;
            let sum: [u8; 32] = r.array()?;
            if !r.is_empty() {
                return err(format!("{} trailing bytes", r.remaining()));
            }
            if blake3::hash(&bytes[..bytes.len() - 32]).as_bytes() != &sum {
                return err("checksum mismatch (the file was changed or torn)");
            }
            let m = postcard::from_bytes::<Manifest>(body)
                .or_else(|e| err(format!("body does not decode: {e}")))?;
            // postcard ignores trailing bytes and may accept non-minimal varints: insist on the
            // one encoding, so that no byte of a manifest goes unchecked.
            if postcard::to_allocvec(&m).ok().as_deref() != Some(body) {
                return err("body is not in canonical form (trailing or padded bytes)");
            }
            Ok(m)
        })();
        let m = parsed.map_err(|e| corrupt(e.0))?;
        if !valid_service_name(&m.service) {
            return Err(corrupt(format!("invalid service name {:?}", m.service)));
        }
        Ok(m)
    }
}

/// Reads and writes the manifests of every service on a backend.
pub(crate) struct Manifests<'a> {
    pub backend: &'a dyn Backend,
}

impl Manifests<'_> {
    /// Services that have a manifest directory.
    pub(crate) fn services(&self) -> Result<Vec<String>> {
        let dirs = self
            .backend
            .list_dirs(MANIFEST_DIR)
            .map_err(|e| Error::io(self.backend.location(MANIFEST_DIR), e))?;
        Ok(dirs.into_iter().filter(|d| valid_service_name(d)).collect())
    }

    /// Generations of a service on disk, oldest first.
    pub(crate) fn generations(&self, service: &str) -> Result<Vec<u64>> {
        let dir = format!("{MANIFEST_DIR}/{service}");
        let names = self
            .backend
            .list(&dir)
            .map_err(|e| Error::io(self.backend.location(&dir), e))?;
        let mut gens: Vec<u64> = names
            .iter()
            .filter_map(|n| {
                let stem = n.strip_suffix(".manifest")?;
                (stem.len() == 16).then(|| u64::from_str_radix(stem, 16).ok())?
            })
            .collect();
        gens.sort_unstable();
        Ok(gens)
    }

    pub(crate) fn read(&self, service: &str, generation: u64) -> Result<Manifest> {
        let path = manifest_path(service, generation);
        let file = self.backend.location(&path);
        // A manifest is at most header + body + checksum: never read more than that into memory
        // (a huge or sparse file in the state directory must not exhaust it).
        let size = self
            .backend
            .size(&path)
            .map_err(|e| Error::io(file.clone(), e))?;
        let max = (16 + MAX_BODY + 32) as u64;
        if size > max {
            return Err(Error::corrupt(
                file,
                format!("the file is {size} bytes; a manifest is at most {max}"),
            ));
        }
        let bytes = self
            .backend
            .read(&path)
            .map_err(|e| Error::io(file.clone(), e))?;
        let m = Manifest::decode(&bytes, &file)?;
        if m.service != service || m.generation != generation {
            return Err(Error::corrupt(
                file,
                format!(
                    "names service {:?} generation {}, not its own path",
                    m.service, m.generation
                ),
            ));
        }
        Ok(m)
    }

    pub(crate) fn write(&self, m: &Manifest) -> Result<()> {
        let path = manifest_path(&m.service, m.generation);
        self.backend
            .write(&path, &m.encode())
            .map_err(|e| Error::io(self.backend.location(&path), e))
    }

    pub(crate) fn remove(&self, service: &str, generation: u64) -> Result<()> {
        let path = manifest_path(service, generation);
        self.backend
            .remove(&path)
            .map_err(|e| Error::io(self.backend.location(&path), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Manifest {
        Manifest {
            service: "ssm".into(),
            generation: 3,
            store_version: 42,
            root: Some(ChunkId::of(b"root")),
            height: 2,
            records: 1000,
            tree_bytes: 5000,
            tree_chunks: 17,
            created_unix_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn roundtrip_and_damage() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, "f").unwrap(), m);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 1;
            assert!(Manifest::decode(&b, "f").is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(Manifest::decode(&bytes[..n], "f").is_err());
        }
    }

    #[test]
    fn newer_format_is_named() {
        let mut b = sample().encode();
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        let e = Manifest::decode(&b, "x.manifest").unwrap_err();
        assert!(matches!(e, Error::NewerFormat { found: 2, .. }), "{e}");
        assert!(e.to_string().contains("x.manifest"));
    }

    /// Found by `cargo fuzz run manifest`: a body with a byte postcard does not consume, under a
    /// valid checksum (libFuzzer copies the expected hash from the comparison), was accepted.
    #[test]
    fn fuzz_regression_trailing_body_byte_is_refused() {
        let hex = "534e41504d414e490100000038000000076669787475726501010180dd906353398465ef46d98bd9c5a237e98b8049e6b81a8befad8800166b21cc028504e1ba0229e7abe8ab4aca43b15c35120432808a0a2019edd0628cf85269744e3ecde1c8246fed63006954";
        let b: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let e = Manifest::decode(&b, "f").unwrap_err();
        assert!(e.to_string().contains("canonical"), "{e}");
        // The same manifest without the stray byte is fine.
        let mut m = sample();
        m.service = "fixture".into();
        assert_eq!(Manifest::decode(&m.encode(), "f").unwrap(), m);
    }

    /// A huge (here sparse) file named like a manifest is refused by its size, before a byte of
    /// it is read into memory.
    #[test]
    fn a_huge_manifest_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let backend = crate::backend::LocalBackend::open(dir.path()).unwrap();
        let m = Manifests { backend: &backend };
        let path = dir.path().join(manifest_path("ssm", 1));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(&path)
            .unwrap()
            .set_len(64 << 30)
            .unwrap();
        let e = m.read("ssm", 1).unwrap_err().to_string();
        assert!(
            e.contains("0000000000000001.manifest") && e.contains("at most"),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Manifest::decode(&bytes, "f");
        }

        #[test]
        fn roundtrip_any(gen_ in any::<u64>(), ver in any::<u64>(), recs in any::<u64>(), h in 0u8..12) {
            let m = Manifest { generation: gen_, store_version: ver, records: recs, height: h, ..sample() };
            prop_assert_eq!(Manifest::decode(&m.encode(), "f").unwrap(), m);
        }
    }
}

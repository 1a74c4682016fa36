//! The objects of a pod on a remote (`docs/FORMAT.md`, "Pods"):
//!
//! ```text
//! chunks/<2 hex>/<64 hex>            one chunk; its name is the blake3 of its bytes
//! chunk-lists/<64 hex>               the chunks of one pod version; named by its own blake3
//! pods/<pod>/versions/<20 digits>    the version object (JSON): metadata and manifests
//!
//! pods/<pod>/claims/<20 digits>-<nonce>  a save's claim on a version number (`commit`)
//! locks/<save|gc>-<nonce>             a lease: a save or a gc in progress (`lease`)
//! ```
//!
//! Chunks and chunk lists are content-addressed, so writing one twice (a resumed or concurrent
//! save) writes the same bytes. A version object is written last, once its number is claimed:
//! it exists only once everything it names is on the remote.

use serde::{Deserialize, Serialize};
use snapstack_engine::ChunkId;

use crate::{Result, err};

/// The pod layout version this build writes and the newest it reads.
pub const POD_FORMAT: u32 = 1;
const LIST_MAGIC: &[u8; 8] = b"SNAPPODL";
/// Chunk lists longer than this are refused (about 2^24 chunks: 1 TiB of 64 KiB pieces).
pub const MAX_LIST_CHUNKS: u64 = 1 << 24;
/// Version objects larger than this are refused before they are parsed.
pub const MAX_VERSION_OBJECT: usize = 4 << 20;

pub fn chunk_path(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("chunks/{}/{hex}", &hex[..2])
}

pub fn chunk_list_path(id: &ChunkId) -> String {
    format!("chunk-lists/{}", id.to_hex())
}

pub fn versions_dir(pod: &str) -> String {
    format!("pods/{pod}/versions")
}

pub fn version_path(pod: &str, version: u64) -> String {
    format!("pods/{pod}/versions/{version:020}")
}

pub fn claims_dir(pod: &str) -> String {
    format!("pods/{pod}/claims")
}

pub fn claim_path(pod: &str, version: u64, nonce: &str) -> String {
    format!("pods/{pod}/claims/{version:020}-{nonce}")
}

/// The version number and the nonce in a claim's file name.
pub fn parse_claim_name(name: &str) -> Option<(u64, &str)> {
    let (v, nonce) = name.split_once('-')?;
    let v = parse_version_name(v)?;
    (!nonce.is_empty() && nonce.bytes().all(|b| b.is_ascii_alphanumeric())).then_some((v, nonce))
}

pub const LOCKS_DIR: &str = "locks";

pub fn lease_path(kind: &str, nonce: &str) -> String {
    format!("{LOCKS_DIR}/{kind}-{nonce}")
}

/// The chunk id in a chunk object's path (`chunks/<h2>/<h64>`), none for any other object.
pub fn parse_chunk_path(path: &str) -> Option<ChunkId> {
    let rest = path.strip_prefix("chunks/")?;
    let (dir, name) = rest.split_once('/')?;
    let id = ChunkId::from_hex(name)?;
    (dir.len() == 2 && name.starts_with(dir) && id.to_hex() == name).then_some(id)
}

/// The version number in a version object's file name.
pub fn parse_version_name(name: &str) -> Option<u64> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// One service in a pod version: its manifest (the root of its tree) and counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodService {
    pub service: String,
    /// The local generation it was saved from.
    pub generation: u64,
    pub store_version: u64,
    /// The root chunk of its tree (hex), none for an empty store.
    pub root: Option<String>,
    pub height: u8,
    pub records: u64,
    pub tree_chunks: u64,
    pub tree_bytes: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl PodService {
    pub fn root_id(&self) -> Result<Option<ChunkId>> {
        match &self.root {
            None => Ok(None),
            Some(h) => match ChunkId::from_hex(h) {
                Some(id) => Ok(Some(id)),
                None => err(format!(
                    "service {} names a root {h:?} that is not a chunk id",
                    self.service
                )),
            },
        }
    }
}

/// A pod version: what was saved, when, by what, and where its chunks are listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodVersion {
    pub format: u32,
    pub pod: String,
    pub version: u64,
    pub created_unix_ms: u64,
    pub snapstack_version: String,
    /// The engine's snapshot format version (`docs/FORMAT.md`) of the chunks.
    pub engine_format: u32,
    pub message: String,
    pub services: Vec<PodService>,
    pub records: u64,
    /// Distinct chunks and their bytes.
    pub chunks: u64,
    pub bytes: u64,
    /// The first `tree_chunks` entries of the chunk list are tree nodes; blob chunks follow.
    pub tree_chunks: u64,
    /// The blake3 (hex) of the chunk list object.
    pub chunk_list: String,
    /// What this save sent: the chunks the remote lacked.
    pub sent_chunks: u64,
    pub sent_bytes: u64,
}

impl PodVersion {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parse a version object read from `what` (named in errors).
    pub fn decode(bytes: &[u8], what: &str) -> Result<PodVersion> {
        if bytes.len() > MAX_VERSION_OBJECT {
            return err(format!(
                "{what}: {} bytes, more than a version object may hold",
                bytes.len()
            ));
        }
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| crate::PodError(format!("{what}: not a pod version object: {e}")))?;
        if head.format > POD_FORMAT || head.format == 0 {
            return err(format!(
                "{what}: pod format {} (this build reads format 1 to {POD_FORMAT}; upgrade snapstack)",
                head.format
            ));
        }
        let v: PodVersion = serde_json::from_slice(bytes)
            .map_err(|e| crate::PodError(format!("{what}: not a pod version object: {e}")))?;
        if v.tree_chunks > v.chunks || ChunkId::from_hex(&v.chunk_list).is_none() {
            return err(format!("{what}: inconsistent counts or chunk list name"));
        }
        for s in &v.services {
            s.root_id()
                .map_err(|e| crate::PodError(format!("{what}: {e}")))?;
        }
        Ok(v)
    }

    pub fn chunk_list_id(&self) -> Option<ChunkId> {
        ChunkId::from_hex(&self.chunk_list)
    }
}

/// The chunks of a pod version with their lengths, tree nodes first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkList {
    pub chunks: Vec<(ChunkId, u32)>,
}

impl ChunkList {
    /// `SNAPPODL`, u32 LE format, u64 LE count, then per chunk its 32-byte id and u32 LE length.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.chunks.len() * 36);
        out.extend_from_slice(LIST_MAGIC);
        out.extend_from_slice(&POD_FORMAT.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u64).to_le_bytes());
        for (id, len) in &self.chunks {
            out.extend_from_slice(&id.0);
            out.extend_from_slice(&len.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8], what: &str) -> Result<ChunkList> {
        let bad = |why: &str| err(format!("{what}: not a chunk list: {why}"));
        if bytes.len() < 20 || &bytes[..8] != LIST_MAGIC {
            return bad("bad magic or too short");
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if format == 0 || format > POD_FORMAT {
            return bad(&format!("format {format}"));
        }
        let count = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
        if count > MAX_LIST_CHUNKS || bytes.len() as u64 != 20 + count * 36 {
            return bad("its length does not match its count");
        }
        let chunks = bytes[20..]
            .chunks_exact(36)
            .map(|c| {
                let mut id = [0u8; 32];
                id.copy_from_slice(&c[..32]);
                let len = u32::from_le_bytes(c[32..36].try_into().unwrap_or_default());
                (ChunkId(id), len)
            })
            .collect();
        Ok(ChunkList { chunks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_list_roundtrip_and_damage() {
        let l = ChunkList {
            chunks: (0..5u8)
                .map(|i| (ChunkId::of(&[i]), u32::from(i) * 7))
                .collect(),
        };
        let b = l.encode();
        assert_eq!(ChunkList::decode(&b, "x").unwrap(), l);
        for n in 0..b.len() {
            assert!(ChunkList::decode(&b[..n], "x").is_err());
        }
        let mut big = b.clone();
        big[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(ChunkList::decode(&big, "x").is_err());
    }

    #[test]
    fn version_object_roundtrip_and_newer_format() {
        let v = PodVersion {
            format: POD_FORMAT,
            pod: "p".into(),
            version: 3,
            created_unix_ms: 1,
            snapstack_version: "0.1.0".into(),
            engine_format: 1,
            message: "m".into(),
            services: vec![PodService {
                service: "sqs".into(),
                generation: 2,
                store_version: 9,
                root: Some(ChunkId::of(b"r").to_hex()),
                height: 1,
                records: 4,
                tree_chunks: 1,
                tree_bytes: 100,
                blobs: 0,
                blob_bytes: 0,
            }],
            records: 4,
            chunks: 1,
            bytes: 100,
            tree_chunks: 1,
            chunk_list: ChunkId::of(b"l").to_hex(),
            sent_chunks: 1,
            sent_bytes: 100,
        };
        assert_eq!(PodVersion::decode(&v.encode(), "v").unwrap(), v);
        let newer = String::from_utf8(v.encode())
            .unwrap()
            .replace("\"format\": 1", "\"format\": 2");
        let e = PodVersion::decode(newer.as_bytes(), "v").unwrap_err().0;
        assert!(e.contains("format 2"), "{e}");
        assert!(PodVersion::decode(b"{}", "v").is_err());
        assert!(PodVersion::decode(b"garbage", "v").is_err());
    }

    #[test]
    fn paths() {
        let id = ChunkId::of(b"x");
        assert!(chunk_path(&id).starts_with(&format!("chunks/{}/", &id.to_hex()[..2])));
        assert_eq!(version_path("p", 7), "pods/p/versions/00000000000000000007");
        assert_eq!(parse_version_name("00000000000000000007"), Some(7));
        assert_eq!(parse_version_name("7"), None);
        assert_eq!(parse_version_name("0000000000000000000x"), None);
        assert_eq!(parse_chunk_path(&chunk_path(&id)), Some(id));
        assert_eq!(parse_chunk_path(&chunk_path(&id).to_uppercase()), None);
        assert_eq!(
            parse_chunk_path(&format!("chunks/00/{}", id.to_hex())),
            None
        );
        assert_eq!(parse_chunk_path("chunks/ab/x"), None);
        assert_eq!(parse_chunk_path(&chunk_list_path(&id)), None);
        let c = claim_path("p", 3, "ab12");
        assert_eq!(c, "pods/p/claims/00000000000000000003-ab12");
        assert_eq!(
            parse_claim_name(c.rsplit('/').next().unwrap()),
            Some((3, "ab12"))
        );
        assert_eq!(parse_claim_name("00000000000000000003-"), None);
        assert_eq!(parse_claim_name("3-ab"), None);
        assert_eq!(lease_path("gc", "n1"), "locks/gc-n1");
    }
}

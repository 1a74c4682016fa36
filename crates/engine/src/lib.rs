//! snapstack-engine: a persistence engine for in-memory emulator state that knows nothing of
//! HTTP or AWS.
//!
//! - [`Store`]: one service's state, an ordered persistent map behind an `ArcSwap`. Reads take no
//!   lock, writes publish a new root, and [`Store::snapshot`] is O(1).
//! - [`Engine`]: saves stores incrementally as content-addressed chunk trees
//!   ([`tree`](crate::tree)), commits per-service manifests atomically, loads and verifies them,
//!   and collects garbage.
//! - [`wal`]: the write-ahead log that makes a single write durable without a full save.
//! - [`backend`]: where the files live (local disk, or a fault-injecting wrapper in tests).
//!
//! The on-disk format is specified in `docs/FORMAT.md`; how a write, a snapshot, a flush and a
//! load travel through the code is in `docs/ARCHITECTURE.md`. The crate's README has a short
//! example.
#![doc = include_str!("../README.md")]

pub mod archive;
pub mod backend;
pub mod blob;
pub mod chunk_id;
pub mod chunk_store;
mod codec;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod import;
pub mod inspect;
pub mod key;
pub mod lock;
pub mod manifest;
pub mod store;
pub mod tree;
pub mod wal;
pub mod writer;

pub use blob::{Blob, BlobId};
pub use chunk_id::ChunkId;
pub use engine::{Engine, EngineBlobWriter, EngineOptions, GcReport};
pub use error::{Error, Result};
pub use import::{GenerationChunks, ImportReport, Merge};
pub use inspect::{DiffReport, GenerationCheck, GenerationInfo, RecordChange, VerifyReport};
pub use key::{Key, KeyBuilder, Part, Partition};
pub use store::{Record, Snapshot, Store, Txn};
pub use writer::{LoadReport, SaveReport, ServiceStatus};

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

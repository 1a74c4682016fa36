//! The library's error type.

use std::io;

use crate::chunk_id::ChunkId;

/// Everything that can go wrong in the engine. Errors about files name the file; errors about a
/// service's snapshot name the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file} is damaged: {reason}")]
    Corrupt { file: String, reason: String },
    #[error("chunk {id} is missing from the chunk store{hint}")]
    MissingChunk { id: ChunkId, hint: String },
    #[error(
        "{file} was written by snapshot format version {found}; this build reads versions up to {supported}: upgrade snapstack to load it"
    )]
    NewerFormat {
        file: String,
        found: u32,
        supported: u32,
    },
    #[error("service {service}: {source}")]
    Service {
        service: String,
        #[source]
        source: Box<Error>,
    },
    #[error("service {service}: no saved generation could be loaded ({})", summary(.attempts))]
    NoGoodGeneration {
        service: String,
        attempts: Vec<Error>,
    },
    #[error("{file}: {source}")]
    InGeneration {
        file: String,
        #[source]
        source: Box<Error>,
    },
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("invalid service name {0:?}: use 1 to 64 characters of a-z, 0-9, '-' and '_'")]
    InvalidServiceName(String),
    #[error("a record of service {service} could not be encoded: {reason}")]
    Encode { service: String, reason: String },
    #[error("a blob is too large: {0}")]
    TooLarge(String),
    /// Refused for now, to bound memory while the disk refuses writes; retry later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

fn summary(attempts: &[Error]) -> String {
    attempts
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub(crate) fn io(file: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            file: file.into(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            file: file.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn in_service(self, service: &str) -> Self {
        match self {
            e @ (Error::Service { .. } | Error::NoGoodGeneration { .. }) => e,
            e => Error::Service {
                service: service.to_string(),
                source: Box::new(e),
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! S3's operations, by resource. Each module adds its handlers to `impl S3`; the dispatch is in
//! [`crate::routing`].

pub(crate) mod bucket;
pub(crate) mod delete;
pub(crate) mod listing;
pub(crate) mod multipart;
pub(crate) mod object;
pub(crate) mod object_lambda;
pub(crate) mod rename;
pub(crate) mod session;
pub(crate) mod tagging;
pub(crate) mod torrent;

//! What S3 does when a change cannot be made durable, and when the engine refuses a body.
//!
//! Under `ON_REQUEST`, a `PutObject` is applied in memory, then saved, then answered. When the
//! save fails (a full disk), the put is **rolled back** before the 500 is sent: the object is
//! again what it was before the request. So the refused body is reachable from no state, its
//! chunks are dropped at the next save (`Engine::prune_unsaved`), and a disk that had room for
//! the live data but not for every refused upload accepts writes again as soon as space frees up.
//!
//! The gateway runs each S3 request inside [`with_undo`]; `put_object` leaves how to undo its
//! write there ([`offer`]); when the durable wait fails, the gateway calls [`S3::roll_back`].

use std::cell::RefCell;
use std::future::Future;

use snapstack_protocol::http::StatusCode;

use super::model::{Object, S3Record};
use super::{S3, S3Error};
use snapstack_engine::Key;

tokio::task_local! {
    static UNDO: RefCell<Option<PutUndo>>;
}

/// How to undo one object write: the record it replaced, and the version key the replaced
/// current version moved to (versioned buckets).
pub struct PutUndo {
    pub(super) key: Key,
    pub(super) written: Object,
    pub(super) previous: Option<S3Record>,
    pub(super) moved_to: Option<Key>,
    /// The noncurrent `null` version a new `null` version replaced (Suspended buckets).
    pub(super) dropped_null: Option<(Key, S3Record)>,
}

/// Run an S3 request, collecting how to undo its object write, if it made one.
pub async fn with_undo<F: Future>(f: F) -> (F::Output, Option<PutUndo>) {
    UNDO.scope(RefCell::new(None), async move {
        let out = f.await;
        (out, UNDO.with(|u| u.borrow_mut().take()))
    })
    .await
}

/// Leave how to undo this request's write (ignored outside [`with_undo`]).
pub(super) fn offer(undo: PutUndo) {
    let _ = UNDO.try_with(|u| *u.borrow_mut() = Some(undo));
}

impl S3 {
    /// Undo a write whose durable save failed, unless a later write replaced the object meanwhile
    /// (then the written object is no longer current and nothing is undone). Returns whether the
    /// write was undone.
    pub fn roll_back(&self, u: PutUndo) -> bool {
        let (undone, _) = self.store.write(|t| {
            let current = matches!(t.get(&u.key), Some(S3Record::Object(o)) if *o == u.written);
            if !current {
                return false;
            }
            match u.previous {
                Some(prev) => t.insert(u.key.clone(), prev),
                None => t.remove(&u.key),
            };
            if let Some(k) = &u.moved_to {
                t.remove(k);
            }
            if let Some((k, rec)) = u.dropped_null {
                t.insert(k, rec);
            }
            true
        });
        undone
    }
}

/// The S3 error for a failure to store a body: `503 SlowDown` when the engine refuses new data for
/// now (the disk is full and the memory for unsaved data is used up; SDKs retry it with backoff),
/// else `500 InternalError`.
pub(super) fn blob_error(e: snapstack_engine::Error) -> S3Error {
    match e {
        snapstack_engine::Error::Unavailable(m) => S3Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            format!("Please reduce your request rate: {m}"),
        ),
        e => S3Error::internal(e.to_string()),
    }
}

//! A family of stored documents ([`ResourceRec`], `resources.rs`) and the operations every family
//! of the catalog repeats, written once: read one document or answer the family's not-found
//! error, create one unless it exists, store one, remove one or answer not-found, and page
//! through the family. A family is a [`Family`] constant: its kind and its not-found message.
//! The records are those of `resources.rs`, unchanged.

use serde_json::Value;
use snapstack_engine::{Partition, Txn};
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

/// One family of the catalog.
pub(crate) struct Family {
    /// The `kind` of its records.
    pub kind: &'static str,
    /// The message of its `ResourceNotFoundException`.
    pub missing: &'static str,
}

impl Family {
    pub const fn new(kind: &'static str, missing: &'static str) -> Family {
        Family { kind, missing }
    }

    /// The family's `ResourceNotFoundException`.
    pub fn missing(&self) -> AwsError {
        not_found(self.missing)
    }

    /// The document `id`, or the not-found error.
    pub fn get(&self, logs: &Logs, p: &Partition, id: &str) -> Result<Value, AwsError> {
        res::load(&logs.store.snapshot(), p, self.kind, id).ok_or_else(|| self.missing())
    }

    /// The document `id` in a write, or the not-found error.
    pub fn get_txn(
        &self,
        txn: &Txn<'_, LogsRecord>,
        p: &Partition,
        id: &str,
    ) -> Result<Value, AwsError> {
        load_txn(txn, p, self.kind, id).ok_or_else(|| self.missing())
    }

    /// Whether the document `id` exists, in a write.
    pub fn exists_txn(&self, txn: &Txn<'_, LogsRecord>, p: &Partition, id: &str) -> bool {
        load_txn(txn, p, self.kind, id).is_some()
    }

    /// Store `doc` as `id` (created or replaced) in one write; the store version.
    pub fn put(&self, logs: &Logs, p: &Partition, id: &str, doc: &Value, now: u64) -> u64 {
        let ((), version) = logs
            .store
            .write(|txn| res::store(txn, p, self.kind, id, doc, now));
        version
    }

    /// Store `doc` as `id` in one write unless `id` exists (then `exists()`, and nothing is
    /// written); the store version.
    pub fn create(
        &self,
        logs: &Logs,
        p: &Partition,
        id: &str,
        doc: &Value,
        now: u64,
        exists: impl FnOnce() -> AwsError,
    ) -> Result<u64, AwsError> {
        let (r, version) = logs.store.write(|txn| {
            if self.exists_txn(txn, p, id) {
                return Err(exists());
            }
            res::store(txn, p, self.kind, id, doc, now);
            Ok(())
        });
        r.map(|()| version)
    }

    /// Remove `id` in one write; the store version, or the not-found error.
    pub fn delete(&self, logs: &Logs, p: &Partition, id: &str) -> Result<u64, AwsError> {
        self.delete_with(logs, p, id, |_| {})
    }

    /// [`Family::delete`], running `also` first in the same write (what goes with the
    /// document; it runs whether or not the document exists).
    pub fn delete_with(
        &self,
        logs: &Logs,
        p: &Partition,
        id: &str,
        also: impl FnOnce(&mut Txn<'_, LogsRecord>),
    ) -> Result<u64, AwsError> {
        let (found, version) = logs.store.write(|txn| {
            also(txn);
            res::remove(txn, p, self.kind, id)
        });
        if found {
            Ok(version)
        } else {
            Err(self.missing())
        }
    }

    /// One page of the family, in id order from the input's `nextToken`: the documents `keep`
    /// maps (at most `limit`), answered as `member` with the next page's `nextToken`.
    pub fn list(
        &self,
        logs: &Logs,
        p: &Partition,
        v: &Value,
        limit: usize,
        member: &str,
        keep: impl FnMut(&str, &Value) -> Option<Value>,
    ) -> Result<Out, AwsError> {
        let snap = logs.store.snapshot();
        let (items, next) = page_of(&snap, p, self.kind, str_of(v, "nextToken"), limit, keep)?;
        out(page(items, member, next), None)
    }
}

/// The input's `maxResults` within 1..=`max`, else `default`.
pub(crate) fn max_results(v: &Value, max: i64, default: usize) -> usize {
    int_of(v, "maxResults")
        .map(|n| n.clamp(1, max) as usize)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const THINGS: Family = Family::new("thing", "The specified thing does not exist.");

    #[test]
    fn a_family_reads_writes_and_pages_its_documents() {
        let logs = Logs::new();
        let p = Partition::new("000000000000", "us-east-1");
        let e = THINGS.get(&logs, &p, "a").unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "ResourceNotFoundException",
                "The specified thing does not exist."
            )
        );
        let v1 = THINGS
            .create(&logs, &p, "a", &json!({"n": 1}), 10, || {
                AwsError::new("ConflictException", "exists")
            })
            .unwrap();
        let e = THINGS
            .create(&logs, &p, "a", &json!({"n": 2}), 11, || {
                AwsError::new("ConflictException", "exists")
            })
            .unwrap_err();
        assert_eq!(e.code, "ConflictException");
        assert_eq!(logs.store.version(), v1, "a refused create writes nothing");
        THINGS.put(&logs, &p, "b", &json!({"n": 2}), 12);
        THINGS.put(&logs, &p, "c", &json!({"n": 3}), 13);
        assert_eq!(THINGS.get(&logs, &p, "a").unwrap(), json!({"n": 1}));
        // Pages of one, keeping the odd ones.
        let keep = |_: &str, d: &Value| (d["n"].as_u64().unwrap() % 2 == 1).then(|| d.clone());
        let first = THINGS
            .list(&logs, &p, &json!({}), 1, "things", keep)
            .unwrap()
            .value;
        assert_eq!(first["things"], json!([{"n": 1}]));
        let token = first["nextToken"].as_str().unwrap();
        let second = THINGS
            .list(&logs, &p, &json!({ "nextToken": token }), 1, "things", keep)
            .unwrap()
            .value;
        assert_eq!(second, json!({"things": [{"n": 3}]}));
        let v = THINGS.delete(&logs, &p, "a").unwrap();
        assert_eq!(logs.store.version(), v);
        assert_eq!(
            THINGS.delete(&logs, &p, "a").unwrap_err().message,
            THINGS.missing
        );
        assert_eq!(max_results(&json!({"maxResults": 5000}), 1000, 100), 1000);
        assert_eq!(max_results(&json!({"maxResults": 0}), 1000, 100), 1);
        assert_eq!(max_results(&json!({}), 1000, 100), 100);
    }
}

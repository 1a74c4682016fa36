//! Lifecycle configurations: S3's checks of a configuration, and the sweeper that expires what
//! the rules say is due (current objects by `Days`/`Date`, expired delete markers, noncurrent
//! versions by `NoncurrentDays`, incomplete multipart uploads by `DaysAfterInitiation`).
//!
//! Everything is judged from the records: an object's `last_modified_ms`, the time a version
//! became noncurrent (its successor's `last_modified_ms`), an upload's `initiated_ms`. So what
//! fell due while the server was down is deleted by the first sweep after a restart. Buckets
//! with a configuration are listed under [`keys::lifecycle_indexes`] so a sweep visits only them.
//!
//! As S3 does, a `Days` rule is due at the first UTC midnight at or after `last_modified + Days`.
//! Tests make a day shorter with `SNAPSTACK_S3_LIFECYCLE_DAY_SECONDS` (test-only; then no rounding
//! to midnight) or with [`S3::with_clock`].

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use snapstack_engine::Key;

use crate::model::{BucketConfig, Object, ObjectHeaders, S3Record, Upload, keys};
use crate::ops::object::retire_current;
use crate::subres::{Sub, malformed, stored};
use crate::{S3, S3Error, S3Result};

/// A real day.
pub(crate) const DAY_MS: u64 = 86_400_000;
/// At most this many rules in a configuration.
const MAX_RULES: usize = 1000;
/// At most this many deletions per store write.
const SWEEP_BATCH: usize = 1000;

/// The length of a lifecycle day: a real one, unless the test-only
/// `SNAPSTACK_S3_LIFECYCLE_DAY_SECONDS` says otherwise.
pub(crate) fn day_ms_from_env() -> u64 {
    std::env::var("SNAPSTACK_S3_LIFECYCLE_DAY_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DAY_MS, |s| ((s * 1000.0) as u64).max(1))
}

/// The `x-amz-transition-default-minimum-object-size` a Put answers.
pub(crate) fn min_size(input: &Value) -> String {
    input
        .get("TransitionDefaultMinimumObjectSize")
        .and_then(Value::as_str)
        .unwrap_or("all_storage_classes_128K")
        .to_string()
}

fn invalid(message: &str, name: &str, value: &str) -> S3Error {
    S3Error::invalid_argument(message)
        .with("ArgumentName", name)
        .with("ArgumentValue", value)
}

fn positive(v: Option<&Value>) -> Option<bool> {
    v.map(|d| d.as_i64().is_some_and(|n| n > 0))
}

/// S3's checks of a lifecycle configuration (its schema was checked by the codec's caller).
pub(crate) fn validate(config: &Value) -> S3Result<()> {
    let rules = config
        .get("Rules")
        .and_then(Value::as_array)
        .ok_or_else(malformed)?;
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(malformed());
    }
    let mut ids = HashSet::new();
    for rule in rules {
        if let Some(id) = rule.get("ID").and_then(Value::as_str) {
            if id.len() > 255 {
                return Err(invalid(
                    "ID length should not exceed allowed limit of 255",
                    "ID",
                    id,
                ));
            }
            if !ids.insert(id) {
                return Err(invalid(
                    "Rule ID must be unique. Found same ID for more than one rule",
                    "ID",
                    id,
                ));
            }
        }
        let filter = rule.get("Filter");
        match (filter, rule.get("Prefix")) {
            (Some(_), Some(_)) | (None, None) => return Err(malformed()),
            _ => {}
        }
        let mut has_tags = false;
        if let Some(f) = filter.and_then(Value::as_object) {
            if f.len() > 1 {
                return Err(malformed());
            }
            has_tags = f.contains_key("Tag")
                || f.get("And")
                    .and_then(|a| a.get("Tags"))
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty());
        }
        let actions = [
            "Expiration",
            "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload",
            "Transitions",
            "NoncurrentVersionTransitions",
        ];
        if !actions.iter().any(|a| rule.get(*a).is_some()) {
            return Err(S3Error::bad(
                "InvalidRequest",
                "At least one action needs to be specified in a rule",
            ));
        }
        if let Some(e) = rule.get("Expiration") {
            let set = ["Days", "Date", "ExpiredObjectDeleteMarker"]
                .iter()
                .filter(|m| e.get(**m).is_some())
                .count();
            if set != 1 {
                return Err(malformed());
            }
            if positive(e.get("Days")) == Some(false) {
                return Err(invalid(
                    "'Days' for Expiration action must be a positive integer",
                    "Days",
                    &e["Days"].to_string(),
                ));
            }
            if let Some(d) = e.get("Date").and_then(Value::as_f64)
                && d.rem_euclid(86_400.0) != 0.0
            {
                return Err(invalid(
                    "'Date' must be at midnight GMT",
                    "Date",
                    &d.to_string(),
                ));
            }
            if e.get("ExpiredObjectDeleteMarker").is_some() && has_tags {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "ExpiredObjectDeleteMarker cannot be specified with tags.",
                ));
            }
        }
        if let Some(n) = rule.get("NoncurrentVersionExpiration")
            && positive(n.get("NoncurrentDays")) != Some(true)
        {
            return Err(invalid(
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
                "NoncurrentDays",
                &n.get("NoncurrentDays")
                    .map(Value::to_string)
                    .unwrap_or_default(),
            ));
        }
        if let Some(a) = rule.get("AbortIncompleteMultipartUpload") {
            if has_tags {
                return Err(S3Error::bad(
                    "InvalidRequest",
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                ));
            }
            if positive(a.get("DaysAfterInitiation")) != Some(true) {
                return Err(invalid(
                    "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
                    "DaysAfterInitiation",
                    &a.get("DaysAfterInitiation")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                ));
            }
        }
        for t in rule
            .get("Transitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let class = t.get("StorageClass").and_then(Value::as_str).unwrap_or("");
            if let Some(days) = t.get("Days").and_then(Value::as_i64)
                && matches!(class, "STANDARD_IA" | "ONEZONE_IA")
                && days < 30
            {
                return Err(invalid(
                    &format!(
                        "'Days' in Transition action must be greater than or equal to 30 for storageClass '{class}'"
                    ),
                    "Days",
                    &days.to_string(),
                ));
            }
        }
    }
    Ok(())
}

/// One enabled rule, as the sweeper applies it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Rule {
    prefix: String,
    tags: Vec<(String, String)>,
    size_gt: Option<u64>,
    size_lt: Option<u64>,
    expire_days: Option<u64>,
    expire_date_ms: Option<u64>,
    expired_marker: bool,
    noncurrent_days: Option<u64>,
    newer_noncurrent: u64,
    abort_days: Option<u64>,
}

fn tag_of(t: &Value) -> Option<(String, String)> {
    Some((
        t.get("Key")?.as_str()?.to_string(),
        t.get("Value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    ))
}

/// The enabled rules of a configuration.
pub(crate) fn rules(config: &Value) -> Vec<Rule> {
    let u = |v: Option<&Value>| v.and_then(Value::as_u64);
    let mut out = Vec::new();
    for r in config
        .get("Rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if r.get("Status").and_then(Value::as_str) != Some("Enabled") {
            continue;
        }
        let mut rule = Rule::default();
        let filter = r.get("Filter");
        let and = filter.and_then(|f| f.get("And"));
        let scope = and.or(filter);
        rule.prefix = scope
            .and_then(|f| f.get("Prefix"))
            .or(r.get("Prefix"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(t) = filter.and_then(|f| f.get("Tag")).and_then(tag_of) {
            rule.tags.push(t);
        }
        for t in and
            .and_then(|a| a.get("Tags"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rule.tags.extend(tag_of(t));
        }
        rule.size_gt = u(scope.and_then(|f| f.get("ObjectSizeGreaterThan")));
        rule.size_lt = u(scope.and_then(|f| f.get("ObjectSizeLessThan")));
        if let Some(e) = r.get("Expiration") {
            rule.expire_days = u(e.get("Days"));
            rule.expire_date_ms = e
                .get("Date")
                .and_then(Value::as_f64)
                .map(|s| (s.max(0.0) * 1000.0) as u64);
            rule.expired_marker = e.get("ExpiredObjectDeleteMarker") == Some(&Value::Bool(true));
        }
        if let Some(n) = r.get("NoncurrentVersionExpiration") {
            rule.noncurrent_days = u(n.get("NoncurrentDays"));
            rule.newer_noncurrent = u(n.get("NewerNoncurrentVersions")).unwrap_or(0);
        }
        rule.abort_days = r
            .get("AbortIncompleteMultipartUpload")
            .and_then(|a| u(a.get("DaysAfterInitiation")));
        out.push(rule);
    }
    out
}

impl Rule {
    fn matches(&self, o: &Object) -> bool {
        o.key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| o.tags.contains(t))
            && self.size_gt.is_none_or(|g| o.size > g)
            && self.size_lt.is_none_or(|l| o.size < l)
    }
}

/// What a sweep found due in one bucket.
#[derive(Debug, Default)]
struct Due {
    /// Current objects to expire (key, version id, last modified when seen).
    expire: Vec<(String, Option<String>, u64)>,
    /// Current delete markers with no older version left (key, version id).
    markers: Vec<(String, Option<String>)>,
    /// Noncurrent versions to delete (record key).
    noncurrent: Vec<Key>,
    /// Incomplete uploads to abort.
    uploads: Vec<String>,
}

impl S3 {
    /// When something `days` lifecycle days after `start_ms` falls due.
    fn due_at(&self, start_ms: u64, days: u64) -> u64 {
        let t = start_ms.saturating_add(days.saturating_mul(self.day_ms));
        if self.day_ms == DAY_MS {
            t.div_ceil(DAY_MS).saturating_mul(DAY_MS)
        } else {
            t
        }
    }

    /// How often the sweeper looks: a twentieth of a lifecycle day, between 250 ms and a minute.
    pub(crate) fn lifecycle_interval(&self) -> Duration {
        Duration::from_millis((self.day_ms / 20).clamp(250, 60_000))
    }

    /// Apply every bucket's lifecycle rules as of `now_ms`. Returns how many objects, versions,
    /// delete markers and uploads were removed (or, for current objects in a versioned bucket,
    /// turned into delete markers).
    pub fn sweep_lifecycle(&self, now_ms: u64) -> usize {
        let snap = self.store.snapshot();
        let buckets: Vec<(Key, String, String)> = snap
            .scan_prefix(&keys::lifecycle_indexes())
            .filter_map(|(k, rec)| match rec {
                S3Record::Config(BucketConfig { kind, document }) => {
                    Some((k.clone(), kind.clone(), document.clone()))
                }
                _ => None,
            })
            .collect();
        let mut n = 0;
        for (index, acct, bucket) in buckets {
            let rules = stored(snap.get(&keys::config(&acct, &bucket, Sub::Lifecycle.kind())))
                .map(|c| rules(&c));
            let (Some(rules), Some(S3Record::Bucket(_))) =
                (rules, snap.get(&keys::bucket(&acct, &bucket)))
            else {
                self.store.write(|t| t.remove(&index));
                continue;
            };
            let due = self.find_due(&acct, &bucket, &rules, now_ms);
            n += self.apply_due(&acct, &bucket, due, now_ms);
        }
        n
    }

    fn find_due(&self, acct: &str, bucket: &str, rules: &[Rule], now: u64) -> Due {
        let snap = self.store.snapshot();
        let mut due = Due::default();
        let has_versions = |key: &str| {
            snap.scan_prefix(&keys::versions_of(acct, bucket, key))
                .next()
                .is_some()
        };
        for (_, rec) in snap.scan_prefix(&keys::objects(acct, bucket)) {
            let S3Record::Object(o) = rec else { continue };
            let matching = rules.iter().filter(|r| r.matches(o));
            if o.delete_marker {
                let expire_marker = matching
                    .clone()
                    .any(|r| r.expired_marker || r.expire_days.is_some());
                if expire_marker && !has_versions(&o.key) {
                    due.markers.push((o.key.clone(), o.version_id.clone()));
                }
                continue;
            }
            let expired = matching.clone().any(|r| {
                r.expire_days
                    .is_some_and(|d| now >= self.due_at(o.last_modified_ms, d))
                    || r.expire_date_ms.is_some_and(|d| now >= d)
            });
            if expired {
                due.expire
                    .push((o.key.clone(), o.version_id.clone(), o.last_modified_ms));
            }
        }
        if rules.iter().any(|r| r.noncurrent_days.is_some()) {
            // Newest first within a key: a version became noncurrent when the one before it
            // (or the current one) was written.
            let mut prev: Option<(String, u64, u64)> = None; // (key, successor's time, index)
            for (k, rec) in snap.scan_prefix(&keys::versions(acct, bucket)) {
                let S3Record::Object(o) = rec else { continue };
                let (since, index) = match &prev {
                    Some((key, t, i)) if *key == o.key => (*t, i + 1),
                    _ => match snap.get(&keys::object(acct, bucket, &o.key)) {
                        Some(S3Record::Object(cur)) => (cur.last_modified_ms, 0),
                        _ => (o.last_modified_ms, 0),
                    },
                };
                prev = Some((o.key.clone(), o.last_modified_ms, index));
                let expired = rules.iter().filter(|r| r.matches(o)).any(|r| {
                    r.noncurrent_days.is_some_and(|d| {
                        now >= self.due_at(since, d) && index >= r.newer_noncurrent
                    })
                });
                if expired && !self.locked(acct, bucket, o, now) {
                    due.noncurrent.push(k.clone());
                }
            }
        }
        if rules.iter().any(|r| r.abort_days.is_some()) {
            for (_, rec) in snap.scan_prefix(&keys::uploads(acct, bucket)) {
                let S3Record::Upload(u) = rec else { continue };
                let Upload {
                    key, initiated_ms, ..
                } = u;
                let expired = rules.iter().any(|r| {
                    key.starts_with(&r.prefix)
                        && r.abort_days
                            .is_some_and(|d| now >= self.due_at(*initiated_ms, d))
                });
                if expired {
                    due.uploads.push(u.upload_id.clone());
                }
            }
        }
        due
    }

    fn apply_due(&self, acct: &str, bucket: &str, due: Due, now: u64) -> usize {
        let mut n = 0;
        for chunk in due.expire.chunks(SWEEP_BATCH) {
            let ids: Vec<(String, u64)> = chunk
                .iter()
                .map(|_| {
                    (
                        self.new_id(),
                        self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    )
                })
                .collect();
            let (done, _) = self.store.write(|t| {
                let Some(S3Record::Bucket(b)) = t.get(&keys::bucket(acct, bucket)).cloned() else {
                    return 0;
                };
                let mut done = 0;
                for ((key, version, modified), (new_id, seq)) in chunk.iter().zip(ids) {
                    let cur_key = keys::object(acct, bucket, key);
                    // Only what was judged: not a newer write that replaced it since.
                    let same = matches!(t.get(&cur_key), Some(S3Record::Object(o))
                        if !o.delete_marker && o.version_id == *version && o.last_modified_ms == *modified);
                    if !same {
                        continue;
                    }
                    match b.versioning.as_deref() {
                        None => {
                            t.remove(&cur_key);
                        }
                        Some(state) => {
                            let enabled = state == "Enabled";
                            retire_current(t, acct, bucket, key, !enabled, seq);
                            t.insert(
                                cur_key,
                                S3Record::Object(delete_marker(key, enabled.then_some(new_id), now)),
                            );
                        }
                    }
                    done += 1;
                }
                done
            });
            n += done;
        }
        if !(due.markers.is_empty() && due.noncurrent.is_empty() && due.uploads.is_empty()) {
            let (done, _) = self.store.write(|t| {
                let mut done = 0;
                for (key, version) in &due.markers {
                    let cur_key = keys::object(acct, bucket, key);
                    let still = matches!(t.get(&cur_key), Some(S3Record::Object(o))
                        if o.delete_marker && o.version_id == *version);
                    if still
                        && t.scan_prefix(&keys::versions_of(acct, bucket, key))
                            .next()
                            .is_none()
                    {
                        t.remove(&cur_key);
                        done += 1;
                    }
                }
                for k in &due.noncurrent {
                    if t.remove(k).is_some() {
                        done += 1;
                    }
                }
                for id in &due.uploads {
                    if t.remove(&keys::upload(acct, bucket, id)).is_some() {
                        t.remove_prefix(&keys::parts(acct, id));
                        t.remove(&keys::config_item(
                            acct,
                            bucket,
                            crate::ops::multipart::UPLOAD_ENCRYPTION,
                            id,
                        ));
                        done += 1;
                    }
                }
                done
            });
            n += done;
        }
        n
    }
}

fn delete_marker(key: &str, version_id: Option<String>, now: u64) -> Object {
    Object {
        key: key.to_string(),
        version_id,
        delete_marker: true,
        blob: None,
        size: 0,
        etag: String::new(),
        last_modified_ms: now,
        headers: ObjectHeaders::default(),
        metadata: Vec::new(),
        tags: Vec::new(),
        checksums: Vec::new(),
        parts_count: None,
        sealed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), &'static str> {
        validate(&v).map_err(|e| e.code)
    }

    #[test]
    fn configurations_are_checked_as_s3_checks_them() {
        let rule = |extra: Value| {
            let mut r = json!({"ID": "a", "Status": "Enabled", "Filter": {"Prefix": "p/"}});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            json!({ "Rules": [r] })
        };
        assert_eq!(check(rule(json!({"Expiration": {"Days": 1}}))), Ok(()));
        assert_eq!(check(rule(json!({}))), Err("InvalidRequest"));
        assert_eq!(
            check(rule(json!({"Expiration": {"Days": 0}}))),
            Err("InvalidArgument")
        );
        assert_eq!(
            check(rule(json!({"Expiration": {"Days": 1, "Date": 0}}))),
            Err("MalformedXML")
        );
        assert_eq!(
            check(rule(json!({"Expiration": {"Date": 86_400.5}}))),
            Err("InvalidArgument")
        );
        assert_eq!(
            check(rule(json!({"Prefix": "x", "Expiration": {"Days": 1}}))),
            Err("MalformedXML")
        );
        assert_eq!(
            check(rule(json!({"Filter": {"Tag": {"Key": "k", "Value": "v"}},
                "Expiration": {"ExpiredObjectDeleteMarker": true}}))),
            Err("InvalidRequest")
        );
        assert_eq!(
            check(rule(
                json!({"Transitions": [{"Days": 5, "StorageClass": "STANDARD_IA"}]})
            )),
            Err("InvalidArgument")
        );
        let dup = json!({"Rules": [
            {"ID": "a", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}},
            {"ID": "a", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 2}},
        ]});
        assert_eq!(check(dup), Err("InvalidArgument"));
        let many: Vec<Value> = (0..1001)
            .map(|i| json!({"ID": i.to_string(), "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}))
            .collect();
        assert_eq!(check(json!({ "Rules": many })), Err("MalformedXML"));
    }

    #[test]
    fn rules_read_filters() {
        let r = rules(&json!({"Rules": [
            {"Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
            {"Status": "Enabled", "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 5}},
             "Expiration": {"Days": 3}, "NoncurrentVersionExpiration": {"NoncurrentDays": 2, "NewerNoncurrentVersions": 1}},
        ]}));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].prefix, "a/");
        assert_eq!(r[0].tags, vec![("k".into(), "v".into())]);
        assert_eq!(r[0].size_gt, Some(5));
        assert_eq!(r[0].expire_days, Some(3));
        assert_eq!((r[0].noncurrent_days, r[0].newer_noncurrent), (Some(2), 1));
        let mut o = delete_marker("a/x", None, 0);
        o.delete_marker = false;
        o.size = 10;
        assert!(!r[0].matches(&o));
        o.tags.push(("k".into(), "v".into()));
        assert!(r[0].matches(&o));
    }

    fn object(key: &str, version: Option<&str>, modified: u64) -> Object {
        let mut o = delete_marker(key, version.map(str::to_string), modified);
        o.delete_marker = false;
        o.size = 1;
        o
    }

    /// A service whose clock is a counter the test sets, with lifecycle days of 1 s, holding
    /// a bucket with `config` and the given versioning.
    fn service(
        config: Value,
        versioning: Option<&str>,
    ) -> (S3, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};
        let now = Arc::new(AtomicU64::new(0));
        let clock = now.clone();
        let engine = Arc::new(snapstack_engine::Engine::in_memory().unwrap());
        let s3 = S3::new(engine).with_clock(Arc::new(move || clock.load(Ordering::SeqCst)), 1000);
        s3.store.write(|t| {
            t.insert(
                keys::bucket("a", "b"),
                S3Record::Bucket(crate::model::Bucket {
                    name: "b".into(),
                    region: "us-east-1".into(),
                    created_ms: 0,
                    versioning: versioning.map(str::to_string),
                    tags: Vec::new(),
                    cors: None,
                    policy: None,
                }),
            );
            t.insert(
                keys::config("a", "b", "lifecycle"),
                crate::subres::record(Sub::Lifecycle, &config),
            );
            t.insert(
                keys::lifecycle_index("a", "b"),
                S3Record::Config(BucketConfig {
                    kind: "a".into(),
                    document: "b".into(),
                }),
            );
        });
        (s3, now)
    }

    fn current(s3: &S3, key: &str) -> Option<Object> {
        match s3.store.snapshot().get(&keys::object("a", "b", key)) {
            Some(S3Record::Object(o)) => Some(o.clone()),
            _ => None,
        }
    }

    #[test]
    fn the_sweeper_expires_what_is_due_by_the_records() {
        let config = json!({"Rules": [
            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 2}},
            {"ID": "mpu", "Status": "Enabled", "Filter": {}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        ]});
        let (s3, now) = service(config, None);
        s3.store.write(|t| {
            t.insert(
                keys::object("a", "b", "tmp/x"),
                S3Record::Object(object("tmp/x", None, 500)),
            );
            t.insert(
                keys::object("a", "b", "keep"),
                S3Record::Object(object("keep", None, 0)),
            );
            t.insert(
                keys::upload("a", "b", "u1"),
                S3Record::Upload(Upload {
                    bucket: "b".into(),
                    key: "k".into(),
                    upload_id: "u1".into(),
                    initiated_ms: 0,
                    headers: ObjectHeaders::default(),
                    metadata: Vec::new(),
                    tags: Vec::new(),
                    checksum_algorithm: None,
                }),
            );
        });
        assert_eq!(s3.sweep_lifecycle(999), 0);
        assert_eq!(
            s3.sweep_lifecycle(1000),
            1,
            "the upload is aborted after a day"
        );
        assert_eq!(s3.sweep_lifecycle(2499), 0);
        // Judged by the record's time, whenever the sweep runs (after a restart too).
        now.store(50_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(s3.sweep_lifecycle(s3.now()), 1);
        assert!(current(&s3, "tmp/x").is_none());
        assert!(current(&s3, "keep").is_some());
    }

    #[test]
    fn versioned_buckets_get_delete_markers_and_lose_noncurrent_versions() {
        let config = json!({"Rules": [{"ID": "v", "Status": "Enabled", "Filter": {},
            "Expiration": {"Days": 1}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]});
        let (s3, _) = service(config, Some("Enabled"));
        s3.store.write(|t| {
            t.insert(
                keys::object("a", "b", "k"),
                S3Record::Object(object("k", Some("v2"), 5000)),
            );
            t.insert(
                keys::version("a", "b", "k", 1),
                S3Record::Object(object("k", Some("v1"), 0)),
            );
        });
        // v1 became noncurrent at 5000 (when v2 was written): not due before 6000.
        assert_eq!(s3.sweep_lifecycle(5999), 0);
        assert_eq!(s3.sweep_lifecycle(6000), 2);
        let cur = current(&s3, "k").unwrap();
        assert!(cur.delete_marker);
        // v2 is noncurrent since the marker (6000); then the lone marker goes too.
        assert_eq!(s3.sweep_lifecycle(7000), 1);
        assert_eq!(s3.sweep_lifecycle(7000), 1);
        assert!(current(&s3, "k").is_none());
    }

    #[test]
    fn real_days_end_at_midnight() {
        let engine = std::sync::Arc::new(snapstack_engine::Engine::in_memory().unwrap());
        let s3 = S3::new(engine).with_clock(std::sync::Arc::new(|| 0), DAY_MS);
        assert_eq!(s3.due_at(1, 1), 2 * DAY_MS);
        assert_eq!(s3.due_at(0, 1), DAY_MS);
    }
}

//! Queues: create, find, list, delete, attributes, tags, purge, dead-letter sources and message
//! move tasks.
//!
//! This module keeps queue URLs, ARNs and names and the queue lifecycle (create, find, list,
//! delete, purge); `attributes`, `tags`, `permissions` and `dead_letter` hold the rest.

mod attributes;
mod dead_letter;
mod move_task;
mod permissions;
mod tags;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{self, QueueRec, Rec};
use super::{Out, Req, Sqs, SqsError};
use crate::endpoint::SqsEndpointStrategy;
use snapstack_engine::{Partition, Txn};

pub use attributes::{
    Counts, GetAttributesInput, Redrive, SetAttributesInput, attr_u64, attribute_or_default,
    content_dedup, counts, is_fifo, redrive_of, retention_ms,
};
pub use dead_letter::ListSourcesInput;
pub(crate) use move_task::RunId;
pub use move_task::{CancelMoveInput, DEFAULT_RATE, ListMovesInput, StartMoveInput};
pub use permissions::{AddPermissionInput, RemovePermissionInput};
pub use tags::{TagInput, UntagInput};

use attributes::{
    DEFAULTS, FIFO_DEFAULTS, SETTABLE, apply_sse, boolean, check_sse, clears, validate_attribute,
};
use tags::{too_many_tags, validate_tags};

pub const MAX_TAGS: usize = 50;
const MAX_NAME: usize = 80;
/// How long a FIFO deduplication id is remembered.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;
const PURGE_INTERVAL_MS: u64 = 60 * 1000;

pub fn arn(p: &Partition, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", p.region, p.account)
}

/// The partition and queue name an SQS ARN names.
pub fn parse_arn(arn: &str) -> Option<(Partition, String)> {
    let mut it = arn.split(':');
    let (Some("arn"), Some(_), Some("sqs"), Some(region), Some(account), Some(name), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    if region.is_empty() || account.is_empty() || !valid_name(name) {
        return None;
    }
    Some((Partition::new(account, region), name.to_string()))
}

/// How queue URLs are spelled: `SQS_ENDPOINT_STRATEGY` and the `host:port` from
/// `LOCALSTACK_HOST` (or its default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUrls {
    pub strategy: SqsEndpointStrategy,
    /// `host:port` for every strategy but `dynamic`.
    pub host: String,
}

/// Queue URLs on the request's `Host` (tests, and anything built without a configuration).
pub static DYNAMIC_URLS: QueueUrls = QueueUrls {
    strategy: SqsEndpointStrategy::Dynamic,
    host: String::new(),
};

impl QueueUrls {
    pub fn new(strategy: SqsEndpointStrategy, host: impl Into<String>) -> Self {
        QueueUrls {
            strategy,
            host: host.into(),
        }
    }

    /// The URL of queue `name` in `p`; `request_host` is the request's `Host` (for `dynamic`).
    pub fn url(&self, request_host: &str, p: &Partition, name: &str) -> String {
        let (host, region, account) = (&self.host, &p.region, &p.account);
        match self.strategy {
            SqsEndpointStrategy::Standard => {
                format!("http://sqs.{region}.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Domain if region == "us-east-1" => {
                format!("http://queue.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Domain => {
                format!("http://{region}.queue.{host}/{account}/{name}")
            }
            SqsEndpointStrategy::Path => {
                format!("http://{host}/queue/{region}/{account}/{name}")
            }
            SqsEndpointStrategy::Dynamic => format!("http://{request_host}/{account}/{name}"),
        }
    }
}

/// The URL of queue `name` in `p` for this request, as the configured strategy spells it.
pub fn url(req: &Req<'_>, p: &Partition, name: &str) -> String {
    req.urls.url(req.host, p, name)
}

/// The region a queue URL's host names: `sqs.<region>.…` (standard, and AWS's own),
/// `<region>.queue.…` (domain) or `queue.…` (domain in us-east-1). `None` for any other host.
fn region_of_host(authority: &str) -> Option<&str> {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let labels: Vec<&str> = host.split('.').collect();
    let is_region = |r: &str| {
        !r.is_empty()
            && r.len() <= 32
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match labels.as_slice() {
        ["sqs", region, _, ..] if is_region(region) => Some(region),
        [region, "queue", _, ..] if is_region(region) => Some(region),
        ["queue", _, ..] => Some("us-east-1"),
        _ => None,
    }
}

/// The partition and queue name a queue URL points at: any URL whose path ends in
/// `/<account>/<name>`. The region is the one the URL names, in whichever strategy's shape
/// (`/queue/<region>/` in the path first, then `sqs.<region>.`, `<region>.queue.` or `queue.`
/// in the host); a URL that names none (dynamic, or a bare path) is in the request's region.
/// A URL handed out under one strategy thus keeps working after a switch to another.
pub fn parse_url(req: &Req<'_>, url: &str) -> Result<(Partition, String), SqsError> {
    let (authority, path) = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
        None => ("", url),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (region, account, name) = match parts.as_slice() {
        [.., "queue", region, account, name] => (*region, *account, *name),
        [.., account, name] => (
            region_of_host(authority).unwrap_or(req.ctx.region()),
            *account,
            *name,
        ),
        // A bare queue name is the caller's queue of that name in the request's region.
        [name] if authority.is_empty() && valid_name(name) => {
            (req.ctx.region(), req.ctx.account(), *name)
        }
        _ => return Err(SqsError::invalid_address(url)),
    };
    if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && valid_name(name)) {
        return Err(SqsError::no_queue());
    }
    Ok((Partition::new(account, region), name.to_string()))
}

/// A queue name: 1 to 80 letters, digits, `-` and `_`, with `.fifo` at the end of a FIFO queue's.
pub fn valid_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    queue_name: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags", alias = "Tags")]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    queue_name: Option<String>,
    queue_owner_a_w_s_account_id: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "super::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    queue_url: Option<String>,
}

/// A page token: the last name returned, hex-encoded.
fn token_of(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn name_of_token(t: &str) -> Result<String, SqsError> {
    let bad = || SqsError::invalid_parameter("Invalid NextToken value.");
    if !t.len().is_multiple_of(2) || t.len() > 2 * MAX_NAME {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())
}

fn max_results(n: Option<i64>) -> Result<Option<usize>, SqsError> {
    match n {
        None => Ok(None),
        Some(n @ 1..=1000) => Ok(Some(n as usize)),
        Some(n) => Err(SqsError::invalid_parameter(format!(
            "Value {n} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
        ))),
    }
}

impl Sqs {
    /// The queue a URL names, or `QueueDoesNotExist`.
    pub(super) fn queue_at(
        &self,
        req: &Req<'_>,
        url: Option<&str>,
    ) -> Result<(Partition, QueueRec), SqsError> {
        let url = url.ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, url)?;
        match self.store.snapshot().get(&model::queue_key(&p, &name)) {
            Some(Rec::Queue(q)) => Ok((p, q.clone())),
            _ => Err(SqsError::no_queue()),
        }
    }

    pub(super) fn create_queue(
        &self,
        req: &Req<'_>,
        input: CreateQueueInput,
    ) -> Result<Out, SqsError> {
        let name = input
            .queue_name
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        if !valid_name(&name) {
            return Err(SqsError::invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let fifo_attr = match input.attributes.get("FifoQueue") {
            Some(v) => boolean("FifoQueue", v)? == "true",
            None => false,
        };
        let fifo_name = name.ends_with(".fifo");
        if fifo_attr != fifo_name {
            return Err(SqsError::invalid_parameter(if fifo_attr {
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
            } else {
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            }));
        }
        if input.tags.len() > MAX_TAGS {
            return Err(too_many_tags());
        }
        validate_tags(&input.tags)?;
        let p = req.ctx.partition.clone();
        let now = self.now();
        let key = model::queue_key(&p, &name);
        let (result, version) = self.store.write(|t| -> Result<bool, SqsError> {
            let mut attrs = BTreeMap::new();
            check_sse(&input.attributes)?;
            for (k, v) in &input.attributes {
                if !SETTABLE.contains(&k.as_str()) {
                    return Err(SqsError::invalid_attribute_name(k));
                }
                let v = validate_attribute(t, k, v, fifo_attr, &p)?;
                if !clears(k, &v) {
                    attrs.insert(k.clone(), v);
                }
            }
            apply_sse(&input.attributes, &mut attrs);
            if fifo_attr {
                for (k, v) in FIFO_DEFAULTS {
                    attrs.entry(k.to_string()).or_insert_with(|| v.to_string());
                }
            }
            if let Some(Rec::Queue(existing)) = t.get(&key) {
                // Re-creating a queue is fine as long as every attribute given matches.
                for (k, v) in &attrs {
                    let current = existing.attributes.get(k).cloned().or_else(|| {
                        DEFAULTS
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, d)| d.to_string())
                    });
                    if current.as_deref() != Some(v.as_str()) {
                        return Err(SqsError::queue_exists(k));
                    }
                }
                return Ok(false);
            }
            t.insert(
                key.clone(),
                Rec::Queue(QueueRec {
                    name: name.clone(),
                    attributes: attrs,
                    tags: input.tags.clone(),
                    created_ms: now,
                    modified_ms: now,
                    next_seq: 0,
                    last_purge_ms: None,
                    move_tasks: Vec::new(),
                }),
            );
            Ok(true)
        });
        let created = result?;
        Ok(Out::write(
            json!({ "QueueUrl": url(req, &p, &name) }),
            created.then_some(version),
        ))
    }

    pub(super) fn get_queue_url(
        &self,
        req: &Req<'_>,
        input: GetQueueUrlInput,
    ) -> Result<Out, SqsError> {
        let name = input
            .queue_name
            .ok_or_else(|| SqsError::missing("QueueName"))?;
        let account = input
            .queue_owner_a_w_s_account_id
            .unwrap_or_else(|| req.ctx.account().to_string());
        let p = Partition::new(account, req.ctx.region());
        if !valid_name(&name) {
            return Err(SqsError::no_queue());
        }
        match self.store.snapshot().get(&model::queue_key(&p, &name)) {
            Some(Rec::Queue(_)) => Ok(Out::read(json!({ "QueueUrl": url(req, &p, &name) }))),
            _ => Err(SqsError::no_queue()),
        }
    }

    pub(super) fn list_queues(
        &self,
        req: &Req<'_>,
        input: ListQueuesInput,
    ) -> Result<Out, SqsError> {
        let p = &req.ctx.partition;
        let limit = max_results(input.max_results)?;
        let after = input.next_token.as_deref().map(name_of_token).transpose()?;
        let prefix = input.queue_name_prefix.unwrap_or_default();
        // Without MaxResults, SQS lists at most 1,000 queues and no token.
        let (urls, next) = self.queue_page(req, p, after.as_deref(), limit, Some(1000), |q| {
            q.name.starts_with(&prefix)
        });
        let mut out = Map::new();
        if !urls.is_empty() {
            out.insert("QueueUrls".into(), Value::from(urls));
        }
        if let Some(t) = next {
            out.insert("NextToken".into(), Value::String(t));
        }
        Ok(Out::read(Value::Object(out)))
    }

    /// One page of the partition's queues that `keep` accepts, in name order after `after`: at
    /// most `limit` of them, with a NextToken when more follow; without a limit, at most `cap`
    /// (and no token).
    fn queue_page(
        &self,
        req: &Req<'_>,
        p: &Partition,
        after: Option<&str>,
        limit: Option<usize>,
        cap: Option<usize>,
        keep: impl Fn(&QueueRec) -> bool,
    ) -> (Vec<String>, Option<String>) {
        let snap = self.store.snapshot();
        let mut urls = Vec::new();
        let mut last: Option<&str> = None;
        let mut next = None;
        let stop = limit.or(cap);
        for (_, rec) in snap.scan_prefix(&model::queues_prefix(p)) {
            let Rec::Queue(q) = rec else { continue };
            if !keep(q) || after.is_some_and(|a| q.name.as_str() <= a) {
                continue;
            }
            if stop == Some(urls.len()) {
                if limit.is_some() {
                    next = Some(token_of(last.unwrap_or("")));
                }
                break;
            }
            urls.push(url(req, p, &q.name));
            last = Some(&q.name);
        }
        (urls, next)
    }

    pub(super) fn delete_queue(
        &self,
        req: &Req<'_>,
        input: QueueUrlInput,
    ) -> Result<Out, SqsError> {
        let url = input
            .queue_url
            .ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let (found, version) = self.store.write(|t| {
            if t.remove(&model::queue_key(&p, &name)).is_none() {
                return false;
            }
            t.remove_prefix(&model::messages_prefix(&p, &name));
            t.remove_prefix(&model::dedups_prefix(&p, &name));
            t.remove_prefix(&model::attempts_prefix(&p, &name));
            t.remove_prefix(&model::move_runs_prefix(&p, &name));
            true
        });
        if !found {
            return Err(SqsError::no_queue());
        }
        self.forget_waiters(&p, &name);
        Ok(Out::write(json!({}), Some(version)))
    }

    fn edit_queue(
        &self,
        req: &Req<'_>,
        url: Option<String>,
        f: impl FnOnce(&mut QueueRec) -> Result<(), SqsError>,
    ) -> Result<Out, SqsError> {
        let url = url.ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let key = model::queue_key(&p, &name);
        let (r, version) = self.store.write(|t| -> Result<(), SqsError> {
            let Some(Rec::Queue(q)) = t.get(&key) else {
                return Err(SqsError::no_queue());
            };
            let mut q = q.clone();
            f(&mut q)?;
            t.insert(key.clone(), Rec::Queue(q));
            Ok(())
        });
        r?;
        Ok(Out::write(json!({}), Some(version)))
    }

    pub(super) fn purge_queue(&self, req: &Req<'_>, input: QueueUrlInput) -> Result<Out, SqsError> {
        let url = input
            .queue_url
            .ok_or_else(|| SqsError::missing("QueueUrl"))?;
        let (p, name) = parse_url(req, &url)?;
        let now = self.now();
        let key = model::queue_key(&p, &name);
        let (r, version) = self.store.write(|t| -> Result<(), SqsError> {
            let Some(Rec::Queue(q)) = t.get(&key) else {
                return Err(SqsError::no_queue());
            };
            if q.last_purge_ms
                .is_some_and(|last| now < last.saturating_add(PURGE_INTERVAL_MS))
            {
                return Err(SqsError::purge_in_progress(&arn(&p, &name)));
            }
            let mut q = q.clone();
            q.last_purge_ms = Some(now);
            t.insert(key.clone(), Rec::Queue(q));
            t.remove_prefix(&model::messages_prefix(&p, &name));
            // A purge forgets deduplication ids too: a message sent again after it is new.
            t.remove_prefix(&model::dedups_prefix(&p, &name));
            Ok(())
        });
        r?;
        Ok(Out::write(json!({}), Some(version)))
    }
}

/// A message's `SenderId`: the principal's id, never its access key. Requests are signed with
/// the account's keys here (the root principal), whose id is the account id, as AWS gives it.
pub fn sender_of(req: &Req<'_>) -> String {
    req.ctx.account().to_string()
}

/// Append a message to a queue with the queue's next sequence number. `None` if the queue does
/// not exist.
/// Append a message record (`Rec::Message` or `Rec::SealedMessage`) to a queue: its sequence
/// number.
pub fn enqueue(t: &mut Txn<'_, Rec>, p: &Partition, name: &str, m: Rec) -> Option<u64> {
    let key = model::queue_key(p, name);
    let Some(Rec::Queue(q)) = t.get(&key) else {
        return None;
    };
    let mut q = q.clone();
    let seq = q.next_seq;
    q.next_seq += 1;
    t.insert(key, Rec::Queue(q));
    t.insert(model::message_key(p, name, seq), m);
    Some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_service::RequestContext;

    fn req(ctx: &RequestContext) -> Req<'_> {
        Req {
            ctx,
            host: "localhost:4566",
            urls: &DYNAMIC_URLS,
            rt: None,
        }
    }

    #[test]
    fn urls_in_every_shape() {
        let ctx = RequestContext::from_scope(None);
        let r = req(&ctx);
        let (p, n) = parse_url(&r, "http://localhost:4566/000000000000/q1").unwrap();
        assert_eq!(
            (p.account.as_str(), p.region.as_str(), n.as_str()),
            ("000000000000", "us-east-1", "q1")
        );
        let (p, n) = parse_url(
            &r,
            "http://sqs.eu-west-1.localhost/queue/eu-west-1/111122223333/q.fifo",
        )
        .unwrap();
        assert_eq!(
            (p.account.as_str(), p.region.as_str(), n.as_str()),
            ("111122223333", "eu-west-1", "q.fifo")
        );
        assert_eq!(parse_url(&r, "/000000000000/q").unwrap().1, "q");
        // A bare name is the caller's queue; what is neither a name nor a URL is refused.
        assert_eq!(parse_url(&r, "nonsense").unwrap().1, "nonsense");
        assert_eq!(
            parse_url(&r, "not a name").unwrap_err().code,
            "InvalidAddress"
        );
        assert_eq!(
            parse_url(&r, "http://h/abc/q").unwrap_err().code,
            "AWS.SimpleQueueService.NonExistentQueue"
        );
    }

    fn region_and_name(r: &Req<'_>, u: &str) -> (String, String, String) {
        let (p, n) = parse_url(r, u).unwrap_or_else(|e| panic!("{u}: {e}"));
        (p.account, p.region, n)
    }

    #[test]
    fn every_strategy_spells_its_urls_and_parses_every_other() {
        use SqsEndpointStrategy::*;
        let host = "localhost.localstack.cloud:4566";
        let eu = Partition::new("111122223333", "eu-west-1");
        let us = Partition::new("000000000000", "us-east-1");
        let cases = [
            (
                Standard,
                "http://sqs.eu-west-1.localhost.localstack.cloud:4566/111122223333/q",
                "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q",
            ),
            (
                Domain,
                "http://eu-west-1.queue.localhost.localstack.cloud:4566/111122223333/q",
                "http://queue.localhost.localstack.cloud:4566/000000000000/q",
            ),
            (
                Path,
                "http://localhost.localstack.cloud:4566/queue/eu-west-1/111122223333/q",
                "http://localhost.localstack.cloud:4566/queue/us-east-1/000000000000/q",
            ),
            (
                Dynamic,
                "http://127.0.0.1:9999/111122223333/q",
                "http://127.0.0.1:9999/000000000000/q",
            ),
        ];
        for (strategy, want_eu, want_us) in cases {
            let urls = QueueUrls::new(strategy, host);
            assert_eq!(urls.url("127.0.0.1:9999", &eu, "q"), want_eu, "{strategy}");
            assert_eq!(urls.url("127.0.0.1:9999", &us, "q"), want_us, "{strategy}");
            // The same name in two regions: two URLs (but for dynamic, which names no region).
            let other = Partition::new("111122223333", "us-east-1");
            assert_eq!(
                urls.url("h", &eu, "q") != urls.url("h", &other, "q"),
                strategy != Dynamic,
                "{strategy}"
            );
        }
        // Whatever the strategy now, a URL names its region, over the request's (ap-south-1).
        let ctx = RequestContext::from_scope(Some(snapstack_protocol::request::CredentialScope {
            access_key: "test".into(),
            date: "20260101".into(),
            region: "ap-south-1".into(),
            service: "sqs".into(),
        }));
        for strategy in [Standard, Domain, Path, Dynamic] {
            let urls = QueueUrls::new(strategy, host);
            let r = Req {
                ctx: &ctx,
                host: "127.0.0.1:9999",
                urls: &urls,
                rt: None,
            };
            for (_, want_eu, want_us) in &cases[..3] {
                let got = region_and_name(&r, want_eu);
                assert_eq!(got, ("111122223333".into(), "eu-west-1".into(), "q".into()));
                assert_eq!(region_and_name(&r, want_us).1, "us-east-1", "{want_us}");
            }
            // No region in the URL: the request's.
            assert_eq!(region_and_name(&r, cases[3].1).1, "ap-south-1");
            assert_eq!(region_and_name(&r, "/000000000000/q").1, "ap-south-1");
            assert_eq!(
                region_and_name(&r, "http://localhost:4566/000000000000/q").1,
                "ap-south-1"
            );
            // AWS's own URLs name their region the standard way.
            assert_eq!(
                region_and_name(&r, "https://sqs.eu-central-1.amazonaws.com/000000000000/q").1,
                "eu-central-1"
            );
            // A host that only starts like a strategy's is not one.
            assert_eq!(
                region_and_name(&r, "http://queue-host:4566/000000000000/q").1,
                "ap-south-1"
            );
            assert_eq!(
                region_and_name(&r, "http://sqs.localhost:4566/000000000000/q").1,
                "ap-south-1"
            );
        }
    }

    #[test]
    fn names_and_arns() {
        assert!(valid_name("a-b_c"));
        assert!(valid_name("x.fifo"));
        assert!(!valid_name(".fifo"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(&"a".repeat(81)));
        let p = Partition::new("000000000000", "us-east-1");
        assert_eq!(parse_arn(&arn(&p, "dlq")), Some((p, "dlq".into())));
        assert_eq!(parse_arn("arn:aws:sqs:r:a"), None);
    }

    #[test]
    fn page_tokens_roundtrip_and_reject_garbage() {
        assert_eq!(name_of_token(&token_of("q-1")).unwrap(), "q-1");
        assert!(name_of_token("zz").is_err());
        assert!(name_of_token("abc").is_err());
    }
}

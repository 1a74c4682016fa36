//! Messages: send (with attributes, delays and FIFO deduplication), receive (with visibility
//! timeouts, FIFO group blocking, redrive to a dead-letter queue and long polling), delete and
//! change visibility, each also in batches.
//!
//! The operations are in `send`, `receive` and `receipts`; this module keeps what they
//! share: receipt handles, message attributes, batch checks and a message's JSON shape.

#[cfg(test)]
mod fifo_tests;
mod receipts;
mod receive;
mod send;

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SqsError;
use super::md5;
use super::model::{AttrValue, MessageRec};
use super::queue;

pub use receipts::{ChangeInput, DeleteInput, HandleBatchInput, HandleEntry};
pub use receive::ReceiveInput;
pub use send::{SendBatchInput, SendEntry, SendInput};

const MAX_BATCH: usize = 10;
const MAX_ATTRIBUTES: usize = 10;
const MAX_VISIBILITY_SECONDS: i64 = 43_200;

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct AttrInput {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
    #[serde(default)]
    string_list_values: Vec<String>,
    #[serde(default)]
    binary_list_values: Vec<String>,
}

/// A receipt handle: which message, and the nonce of the receive that issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub queue: String,
    pub seq: u64,
    pub nonce: u64,
}

impl Receipt {
    pub fn encode(&self) -> String {
        B64.encode(format!(
            "sq1 {} {} {:016x}",
            self.queue, self.seq, self.nonce
        ))
    }

    pub fn decode(handle: &str) -> Option<Receipt> {
        if handle.len() > 1024 {
            return None;
        }
        let raw = B64.decode(handle).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let mut it = text.split(' ');
        let (Some("sq1"), Some(queue), Some(seq), Some(nonce), None) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return None;
        };
        if !queue::valid_name(queue) {
            return None;
        }
        Some(Receipt {
            queue: queue.to_string(),
            seq: seq.parse().ok()?,
            nonce: u64::from_str_radix(nonce, 16).ok()?,
        })
    }
}

/// Characters a message may hold: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
fn valid_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
    })
}

fn invalid_chars() -> SqsError {
    SqsError::invalid_contents(
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
    )
}

/// A message attribute name: up to 256 of `[A-Za-z0-9_.-]`, not starting with `AWS.`/`Amazon.`,
/// no leading, trailing or doubled period.
fn valid_attr_name(n: &str) -> bool {
    let lower = n.to_ascii_lowercase();
    !n.is_empty()
        && n.len() <= 256
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !n.starts_with('.')
        && !n.ends_with('.')
        && !n.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// Check and convert message attributes (sorted by name). Returns them and their size in bytes.
fn convert_attributes(
    attrs: &BTreeMap<String, AttrInput>,
    system: bool,
) -> Result<(Vec<(String, AttrValue)>, usize), SqsError> {
    let kind = if system { "system" } else { "user" };
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(SqsError::invalid_parameter(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    let mut out = Vec::with_capacity(attrs.len());
    let mut size = 0;
    for (name, a) in attrs {
        if system && name != "AWSTraceHeader" {
            return Err(SqsError::invalid_parameter(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        if !system && !valid_attr_name(name) {
            return Err(SqsError::invalid_parameter(format!(
                "Message (user) attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
            )));
        }
        let Some(dt) = a.data_type.as_deref().filter(|d| !d.is_empty()) else {
            return Err(SqsError::invalid_parameter(format!(
                "The message ({kind}) attribute '{name}' must contain a non-empty attribute type."
            )));
        };
        if dt.len() > 256 || !valid_chars(dt) {
            return Err(SqsError::invalid_parameter(format!(
                "The message ({kind}) attribute '{name}' has an invalid attribute type."
            )));
        }
        if !a.string_list_values.is_empty() || !a.binary_list_values.is_empty() {
            return Err(SqsError::invalid_parameter(format!(
                "Message ({kind}) attribute '{name}': list values are not supported."
            )));
        }
        let base = dt.split('.').next().unwrap_or("");
        let v = match base {
            "String" | "Number" => {
                let s = a.string_value.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                    SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
                    ))
                })?;
                if !valid_chars(&s) {
                    return Err(invalid_chars());
                }
                if base == "Number" && s.trim().parse::<f64>().is_err() {
                    return Err(SqsError::invalid_parameter(format!(
                        "Can't cast the value of message ({kind}) attribute '{name}' to a number."
                    )));
                }
                if system && dt != "String" {
                    return Err(SqsError::invalid_parameter(
                        "The message system attribute AWSTraceHeader must be of type String.",
                    ));
                }
                size += s.len();
                AttrValue {
                    data_type: dt.to_string(),
                    string: Some(s),
                    binary: None,
                }
            }
            "Binary" => {
                let raw = a.binary_value.as_deref().unwrap_or("");
                let b = B64.decode(raw).map_err(|_| {
                    SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' has an invalid binary value."
                    ))
                })?;
                if b.is_empty() {
                    return Err(SqsError::invalid_parameter(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type 'Binary'."
                    )));
                }
                size += b.len();
                AttrValue {
                    data_type: dt.to_string(),
                    string: None,
                    binary: Some(b),
                }
            }
            _ => {
                return Err(SqsError::invalid_parameter(format!(
                    "The type of message ({kind}) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                )));
            }
        };
        size += name.len() + dt.len();
        out.push((name.clone(), v));
    }
    Ok((out, size))
}

fn attr_json(v: &AttrValue) -> Value {
    let mut m = Map::new();
    if let Some(s) = &v.string {
        m.insert("StringValue".into(), json!(s));
    }
    if let Some(b) = &v.binary {
        m.insert("BinaryValue".into(), json!(B64.encode(b)));
    }
    m.insert("DataType".into(), json!(v.data_type));
    Value::Object(m)
}

/// A message id shaped like a UUID.
fn message_id() -> String {
    snapstack_protocol::request::new_request_id()
}

fn sequence_number(seq: u64) -> String {
    format!("{:020}", seq.saturating_add(1))
}

fn check_dedup_or_group(v: &str, what: &str) -> Result<(), SqsError> {
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SqsError::invalid_parameter(format!(
            "Value {v} for parameter {what} is invalid. Reason: {what} can only include alphanumeric and punctuation characters. 1 to 128 in length."
        )));
    }
    Ok(())
}

/// Batch-wide checks: 1 to 10 entries with distinct, well-formed ids.
fn check_batch<'a>(ids: impl ExactSizeIterator<Item = Option<&'a str>>) -> Result<(), SqsError> {
    let n = ids.len();
    if n == 0 {
        return Err(SqsError::empty_batch());
    }
    if n > MAX_BATCH {
        return Err(SqsError::too_many_entries(n));
    }
    let mut seen = HashSet::new();
    for id in ids {
        let id = id.unwrap_or("");
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(SqsError::invalid_batch_id(id));
        }
        if !seen.insert(id) {
            return Err(SqsError::ids_not_distinct(id));
        }
    }
    Ok(())
}

fn batch_error(id: &str, e: &SqsError) -> Value {
    json!({
        "Id": id,
        "SenderFault": e.sender_fault(),
        "Code": e.code,
        "Message": e.message,
    })
}

/// Whether a received message's attribute `name` was asked for.
fn wants_attribute(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == "All"
            || n == ".*"
            || n == name
            || n.strip_suffix(".*").is_some_and(|prefix| {
                name.starts_with(prefix) && name[prefix.len()..].starts_with('.')
            })
    })
}

/// A received message in the JSON shape, with the system and message attributes asked for.
fn message_json(
    m: &MessageRec,
    receipt: &Receipt,
    system_names: &[String],
    attr_names: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(m.id));
    out.insert("ReceiptHandle".into(), json!(receipt.encode()));
    out.insert("MD5OfBody".into(), json!(m.md5_body));
    out.insert("Body".into(), json!(m.body));
    let all = system_names.iter().any(|n| n == "All");
    let want = |n: &str| all || system_names.iter().any(|x| x == n);
    let mut sys = Map::new();
    if want("SenderId") {
        sys.insert("SenderId".into(), json!(m.sender_id));
    }
    if want("SentTimestamp") {
        sys.insert("SentTimestamp".into(), json!(m.sent_ms.to_string()));
    }
    if want("ApproximateReceiveCount") {
        sys.insert(
            "ApproximateReceiveCount".into(),
            json!(m.receive_count.to_string()),
        );
    }
    if want("ApproximateFirstReceiveTimestamp")
        && let Some(f) = m.first_receive_ms
    {
        sys.insert(
            "ApproximateFirstReceiveTimestamp".into(),
            json!(f.to_string()),
        );
    }
    if want("SequenceNumber") && m.group_id.is_some() && m.dedup_id.is_some() {
        sys.insert("SequenceNumber".into(), json!(sequence_number(receipt.seq)));
    }
    if want("MessageDeduplicationId")
        && let Some(d) = &m.dedup_id
    {
        sys.insert("MessageDeduplicationId".into(), json!(d));
    }
    if want("MessageGroupId")
        && let Some(g) = &m.group_id
    {
        sys.insert("MessageGroupId".into(), json!(g));
    }
    if want("AWSTraceHeader")
        && let Some((_, v)) = m
            .system_attributes
            .iter()
            .find(|(n, _)| n == "AWSTraceHeader")
    {
        sys.insert("AWSTraceHeader".into(), json!(v.string));
    }
    if want("DeadLetterQueueSourceArn")
        && let Some(s) = &m.dead_letter_source
    {
        sys.insert("DeadLetterQueueSourceArn".into(), json!(s));
    }
    if !sys.is_empty() {
        out.insert("Attributes".into(), Value::Object(sys));
    }
    let selected: Vec<(String, AttrValue)> = m
        .attributes
        .iter()
        .filter(|(n, _)| wants_attribute(attr_names, n))
        .cloned()
        .collect();
    if !selected.is_empty() {
        if let Some(d) = md5::of_attributes(&selected) {
            out.insert("MD5OfMessageAttributes".into(), json!(d));
        }
        let attrs: Map<String, Value> = selected
            .iter()
            .map(|(n, v)| (n.clone(), attr_json(v)))
            .collect();
        out.insert("MessageAttributes".into(), Value::Object(attrs));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn receipts_roundtrip(name in "[A-Za-z0-9_-]{1,75}", fifo: bool, seq: u64, nonce: u64) {
            let queue = if fifo { format!("{name}.fifo") } else { name };
            let r = Receipt { queue, seq, nonce };
            prop_assert_eq!(Receipt::decode(&r.encode()), Some(r));
        }

        #[test]
        fn receipt_decoding_never_panics(s in ".{0,200}") {
            let _ = Receipt::decode(&s);
            let _ = Receipt::decode(&B64.encode(&s));
        }
    }

    #[test]
    fn receipts_roundtrip_and_garbage_is_rejected() {
        let r = Receipt {
            queue: "q.fifo".into(),
            seq: 42,
            nonce: 0xdead_beef,
        };
        assert_eq!(Receipt::decode(&r.encode()), Some(r));
        assert_eq!(Receipt::decode("not base64!"), None);
        assert_eq!(Receipt::decode(&B64.encode("sq1 a b c")), None);
        assert_eq!(Receipt::decode(&B64.encode("sq1 bad/name 1 2")), None);
    }

    #[test]
    fn batch_checks() {
        assert_eq!(
            check_batch(Vec::<Option<&str>>::new().into_iter())
                .unwrap_err()
                .shape,
            "EmptyBatchRequest"
        );
        let many: Vec<Option<&str>> = (0..11).map(|_| Some("a")).collect();
        assert_eq!(
            check_batch(many.into_iter()).unwrap_err().shape,
            "TooManyEntriesInBatchRequest"
        );
        assert_eq!(
            check_batch(vec![Some("a"), Some("a")].into_iter())
                .unwrap_err()
                .shape,
            "BatchEntryIdsNotDistinct"
        );
        assert_eq!(
            check_batch(vec![Some("a b")].into_iter())
                .unwrap_err()
                .shape,
            "InvalidBatchEntryId"
        );
        assert!(check_batch(vec![Some("a"), Some("b-1_")].into_iter()).is_ok());
    }

    #[test]
    fn attribute_name_filters() {
        let names = vec!["foo.*".to_string(), "exact".to_string()];
        assert!(wants_attribute(&names, "foo.bar"));
        assert!(!wants_attribute(&names, "foobar"));
        assert!(wants_attribute(&names, "exact"));
        assert!(!wants_attribute(&names, "other"));
        assert!(wants_attribute(&["All".to_string()], "x"));
    }

    #[test]
    fn message_characters() {
        assert!(valid_chars("hello\t\n\r é 😀"));
        assert!(!valid_chars("a\u{1}b"));
        assert!(!valid_chars("\u{fffe}"));
    }
}

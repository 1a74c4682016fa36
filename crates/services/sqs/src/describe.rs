//! SQS's store keys as resources (`snapstack snapshot diff`); the layout is in [`crate::model`].

use snapstack_engine::{Key, Part, Snapshot};
use snapstack_service::describe::scope;

use crate::model::Rec;

/// `state`: the generation compared, to name a message by its id.
pub(crate) fn describe(key: &Key, state: &Snapshot<Rec>) -> Option<String> {
    use Part::{Str, U64};
    let parts = key.parts()?;
    let [Str(acct), Str(region), Str(tag), rest @ ..] = parts.as_slice() else {
        return None;
    };
    let what = match (tag.as_str(), rest) {
        ("q", [Str(q)]) => format!("queue {q}"),
        ("m", [Str(q), U64(seq)]) => match state.get(key) {
            Some(r) if let Some(m) = r.message() => {
                format!("message {} (#{seq}) in queue {q}", m.id)
            }
            _ => format!("message #{seq} in queue {q}"),
        },
        ("k", []) => "SSE-SQS key".to_string(),
        ("g", [U64(id)]) => format!("KMS data key {id:016x}"),
        ("d", [Str(q), Str(scope), Str(id)]) => {
            format!("deduplication id {id} ({scope}) of queue {q}")
        }
        ("a", [Str(q), Str(id)]) => format!("receive request attempt {id} of queue {q}"),
        ("t", [Str(q), Str(handle)]) => format!("message move task {handle} from queue {q}"),
        _ => return None,
    };
    Some(format!("{what} {}", scope(acct, Some(region))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{message_key, queue_key};
    use snapstack_engine::{Partition, Store};

    #[test]
    fn keys_read_as_resources() {
        let p = Partition::new("000000000000", "us-east-1");
        let store = Store::<Rec>::new("sqs");
        let s = store.snapshot();
        assert_eq!(
            describe(&queue_key(&p, "orders"), &s).unwrap(),
            "queue orders [000000000000 us-east-1]"
        );
        assert_eq!(
            describe(&message_key(&p, "orders", 7), &s).unwrap(),
            "message #7 in queue orders [000000000000 us-east-1]"
        );
        assert!(describe(&Key::builder().str("x").build(), &s).is_none());
    }
}

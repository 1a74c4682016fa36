//! DynamoDB's store keys as resources (`snapstack snapshot diff`): tables by name, items by
//! their table's name and key attributes ([`crate::keys`]). Items are keyed by table id; the
//! table's record in the compared generation gives its name and key schema.

use snapstack_engine::{Key, Part, Partition, Snapshot};
use snapstack_service::describe::{hex, scope, text_or_hex};

use crate::Rec;
use crate::table::{KeyAttr, KeyType, TableMeta};
use crate::value::AttributeValue;

pub(crate) fn describe(key: &Key, state: &Snapshot<Rec>) -> Option<String> {
    use Part::{Bytes, Str, U64};
    let parts = key.parts()?;
    let [Str(acct), Str(region), Str(tag), rest @ ..] = parts.as_slice() else {
        return None;
    };
    let p = Partition::new(acct.clone(), region.clone());
    let table = |id: &u64| -> (String, Option<TableMeta>) {
        let meta = state
            .scan_prefix(&crate::keys::tables(&p))
            .find_map(|(_, r)| match r {
                Rec::Table(t) if t.id == *id => Some((**t).clone()),
                _ => None,
            });
        match meta {
            Some(t) => (format!("table {}", t.name), Some(t)),
            None => (format!("table #{id} (not in this generation)"), None),
        }
    };
    let what = match (tag.as_str(), rest) {
        ("t", [Str(name)]) => format!("table {name}"),
        ("s", []) => "table id sequence".to_string(),
        ("i", [U64(id), Bytes(h), range @ ..]) => {
            let (name, meta) = table(id);
            let r = match range {
                [Bytes(r)] => Some(r.as_slice()),
                _ => None,
            };
            format!(
                "item {} in {name}",
                item_key(key, state, meta.as_ref(), h, r)
            )
        }
        ("x", [U64(id), Str(index), ..]) => format!("index {index} entry of {}", table(id).0),
        ("e", [U64(id), U64(secs), ..]) => {
            format!("TTL entry (expires at {secs}) of {}", table(id).0)
        }
        ("c", [U64(id)]) => format!("settings of {}", table(id).0),
        ("k", [Str(token)]) => format!("ClientRequestToken {token}"),
        ("B", [Str(id)]) => format!("backup {id}"),
        ("b", [Str(id), ..]) => format!("item of backup {id}"),
        ("g", [Str(name)]) => format!("global table {name}"),
        _ => return None,
    };
    Some(format!("{what} {}", scope(acct, Some(region))))
}

/// `pk=abc, sk=5`: from the item itself when the generation holds it (numbers are stored in an
/// order-preserving form that is not printed), else from the key's bytes.
fn item_key(
    key: &Key,
    state: &Snapshot<Rec>,
    meta: Option<&TableMeta>,
    hash: &[u8],
    range: Option<&[u8]>,
) -> String {
    let Some(meta) = meta else {
        let mut s = text_or_hex(hash);
        if let Some(r) = range {
            s.push_str(", ");
            s.push_str(&text_or_hex(r));
        }
        return s;
    };
    let item = match state.get(key) {
        Some(Rec::Item(i)) => Some(i),
        _ => None,
    };
    let one = |a: &KeyAttr, bytes: &[u8]| -> String {
        let shown = match (item.and_then(|i| i.get(&a.name)), a.kind) {
            (Some(AttributeValue::S(s)), _) => format!("{s:?}"),
            (Some(AttributeValue::N(n)), _) => n.to_string(),
            (_, KeyType::S) => format!("{:?}", String::from_utf8_lossy(bytes)),
            (_, _) => hex(bytes),
        };
        format!("{}={shown}", a.name)
    };
    let mut s = one(&meta.hash, hash);
    if let (Some(a), Some(r)) = (&meta.range, range) {
        s.push_str(", ");
        s.push_str(&one(a, r));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DynamoDb, RequestContext};
    use serde_json::json;

    #[test]
    fn items_read_as_table_and_key() {
        let d = DynamoDb::new();
        let ctx = RequestContext::from_scope(None);
        let call = |op: &str, body: serde_json::Value| {
            d.handle(&ctx, op, body.to_string().as_bytes()).unwrap();
        };
        call(
            "CreateTable",
            json!({"TableName": "orders",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}],
                "BillingMode": "PAY_PER_REQUEST"}),
        );
        call(
            "PutItem",
            json!({"TableName": "orders", "Item": {"pk": {"S": "a"}, "n": {"N": "42"}}}),
        );
        let s = d.store.snapshot();
        let mut lines: Vec<String> = s.iter().filter_map(|(k, _)| describe(k, &s)).collect();
        lines.sort();
        assert!(
            lines.contains(
                &"item pk=\"a\", n=42 in table orders [000000000000 us-east-1]".to_string()
            ),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"table orders [000000000000 us-east-1]".to_string()),
            "{lines:?}"
        );
    }
}

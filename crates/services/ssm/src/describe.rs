//! SSM's store keys as resources (`snapstack snapshot diff`): a parameter's key is its name's
//! bytes after the partition; every other record is `0xFF` then its kind ([`crate::model`]).

use snapstack_engine::{Key, Part};
use snapstack_service::describe::{part, scope, text_or_hex};

use crate::model::EXT_BYTE;

pub(crate) fn describe(key: &Key) -> Option<String> {
    // Read by hand: the byte after the region's terminator may be `0xFF`, which a generic
    // decoder would take for an escaped NUL inside the region. Accounts and regions hold none.
    let (acct, rest) = plain_str(key.as_bytes())?;
    let (region, rest) = plain_str(rest)?;
    let what = match rest.split_first() {
        None => return None,
        Some((&EXT_BYTE, ext)) => {
            let k = Key::from_bytes(ext);
            let ext = k.parts()?;
            let [Part::Str(kind), ids @ ..] = ext.as_slice() else {
                return None;
            };
            let ids: Vec<String> = ids.iter().map(part).collect();
            let label = match kind.as_str() {
                "cmd" => "command",
                "doc" => "document",
                "docv" => "document version",
                "mw" => "maintenance window",
                "mwtarget" => "maintenance window target",
                "mwtask" => "maintenance window task",
                other => other,
            };
            format!("{label} {}", ids.join(" "))
        }
        Some(_) => format!("parameter {}", text_or_hex(rest)),
    };
    Some(format!("{what} {}", scope(acct, Some(region))))
}

/// A string part without NUL bytes (tag `0x02`, bytes, `0x00`) and the bytes after it.
fn plain_str(b: &[u8]) -> Option<(&str, &[u8])> {
    let b = b.strip_prefix(&[0x02])?;
    let end = b.iter().position(|&c| c == 0)?;
    Some((std::str::from_utf8(&b[..end]).ok()?, &b[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_engine::Partition;

    #[test]
    fn keys_read_as_resources() {
        let p = Partition::new("000000000000", "eu-west-1");
        assert_eq!(
            describe(&crate::model::key(&p, "/app/db/url")).unwrap(),
            "parameter /app/db/url [000000000000 eu-west-1]"
        );
        let doc = crate::model::ext_key(&p, "docv")
            .str("MyDoc")
            .u64(3)
            .build();
        assert_eq!(
            describe(&doc).unwrap(),
            "document version MyDoc 3 [000000000000 eu-west-1]"
        );
        assert!(describe(&p.prefix()).is_none());
    }
}

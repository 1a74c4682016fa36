//! S3's store keys as resources (`snapstack snapshot diff`); the layout is [`crate::model::keys`].

use snapstack_engine::{Key, Part};
use snapstack_service::describe::scope;

pub(crate) fn describe(key: &Key) -> Option<String> {
    use Part::{Str, U64};
    let parts = key.parts()?;
    let (Str(acct), Str(s3)) = (parts.first()?, parts.get(1)?) else {
        return None;
    };
    if s3 != "s3" {
        return None;
    }
    let Str(tag) = parts.get(2)? else {
        return None;
    };
    let rest = &parts[3..];
    if acct.is_empty() {
        return match (tag.as_str(), rest) {
            ("owner", [Str(b)]) => Some(format!("owner of the bucket name {b}")),
            ("lifecycle", [Str(a), Str(b)]) => Some(format!(
                "bucket {b} in the lifecycle sweep index {}",
                scope(a, None)
            )),
            _ => None,
        };
    }
    let what = match (tag.as_str(), rest) {
        ("b", [Str(b)]) => format!("bucket {b}"),
        ("o", [Str(b), Str(k)]) => format!("object {b}/{k}"),
        ("v", [Str(b), Str(k), U64(s)]) => {
            format!("object {b}/{k}, noncurrent version #{}", u64::MAX - s)
        }
        ("c", [Str(b), Str(kind)]) => format!("bucket {b}, {kind} configuration"),
        ("c", [Str(b), Str(kind), Str(id)]) => format!("bucket {b}, {kind} configuration {id}"),
        ("x", [Str(b), Str(k), Str(v), Str(kind)]) => {
            format!("object {b}/{k}, version {v}, {kind}")
        }
        ("u", [Str(b), Str(u)]) => format!("multipart upload {u} of {b}"),
        ("p", [Str(u), U64(n)]) => format!("part {n} of multipart upload {u}"),
        _ => return None,
    };
    Some(format!("{what} {}", scope(acct, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keys;

    #[test]
    fn keys_read_as_resources() {
        let a = "000000000000";
        assert_eq!(
            describe(&keys::object(a, "b", "photos/a.jpg")).unwrap(),
            "object b/photos/a.jpg [000000000000]"
        );
        assert_eq!(
            describe(&keys::version(a, "b", "k", 3)).unwrap(),
            "object b/k, noncurrent version #3 [000000000000]"
        );
        assert_eq!(
            describe(&keys::bucket(a, "b")).unwrap(),
            "bucket b [000000000000]"
        );
        assert_eq!(
            describe(&keys::part(a, "u1", 2)).unwrap(),
            "part 2 of multipart upload u1 [000000000000]"
        );
        assert_eq!(
            describe(&keys::config(a, "b", "cors")).unwrap(),
            "bucket b, cors configuration [000000000000]"
        );
        assert_eq!(
            describe(&keys::owner("b")).unwrap(),
            "owner of the bucket name b"
        );
        assert!(describe(&Key::builder().str("x").build()).is_none());
    }
}

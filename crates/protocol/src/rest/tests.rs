use proptest::prelude::*;

use super::*;
use crate::model;

fn router() -> RestRouter {
    RestRouter::from_model(model::s3())
}

fn route_of(
    r: &RestRouter,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[&str],
) -> Result<String, RouteError> {
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let has = |h: &str| headers.iter().any(|x| x.eq_ignore_ascii_case(h));
    r.route(&RestRequest {
        method,
        path,
        query: &query,
        has_header: &has,
    })
    .map(|m| m.operation.to_string())
}

/// Every operation of the S3 model, sent as its template says, reaches itself, except the
/// wire-identical twins, which reach the operation they duplicate.
#[test]
fn every_s3_operation_is_reachable_from_its_own_template() {
    let m = model::s3();
    let r = router();
    assert_eq!(r.len(), m.operations.len());
    let twins = [
        ("GetBucketLifecycle", "GetBucketLifecycleConfiguration"),
        ("PutBucketLifecycle", "PutBucketLifecycleConfiguration"),
        (
            "GetBucketNotification",
            "GetBucketNotificationConfiguration",
        ),
        (
            "PutBucketNotification",
            "PutBucketNotificationConfiguration",
        ),
        ("ListDirectoryBuckets", "ListBuckets"),
    ];
    for op in m.operations.values() {
        let http = op.http.as_ref().unwrap();
        let (template, literal) = http
            .request_uri
            .split_once('?')
            .unwrap_or((&http.request_uri, ""));
        let path = template
            .replace("{Bucket}", "bkt")
            .replace("{Key+}", "dir/k%20ey");
        let mut query: Vec<(String, String)> = literal
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect();
        let mut headers = Vec::new();
        if let Some(input) = m.input_of(op) {
            for name in &input.required {
                let member = &input.members[name];
                let loc = member.location_name.clone().unwrap_or(name.clone());
                match member.location.as_deref() {
                    Some("querystring") => query.push((loc, "1".into())),
                    Some("header") => headers.push(loc),
                    _ => {}
                }
            }
        }
        let has = |h: &str| headers.iter().any(|x| x.eq_ignore_ascii_case(h));
        let got = r
            .route(&RestRequest {
                method: &http.method,
                path: &path,
                query: &query,
                has_header: &has,
            })
            .unwrap_or_else(|e| panic!("{}: {e:?}", op.name));
        let want = twins
            .iter()
            .find(|(a, _)| *a == op.name)
            .map_or(op.name.as_str(), |(_, b)| b);
        assert_eq!(got.operation, want, "{} {}", http.method, http.request_uri);
    }
}

#[test]
fn sub_resources_never_fall_through_to_the_plain_operation() {
    let r = router();
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("PUT", "/b/k", &[("acl", "")], "PutObjectAcl"),
        ("PUT", "/b/k", &[("retention", "")], "PutObjectRetention"),
        ("PUT", "/b/k", &[("legal-hold", "")], "PutObjectLegalHold"),
        (
            "DELETE",
            "/b",
            &[("lifecycle", "")],
            "DeleteBucketLifecycle",
        ),
        (
            "DELETE",
            "/b",
            &[("encryption", "")],
            "DeleteBucketEncryption",
        ),
        (
            "DELETE",
            "/b",
            &[("ownershipControls", "")],
            "DeleteBucketOwnershipControls",
        ),
        ("DELETE", "/b", &[("website", "")], "DeleteBucketWebsite"),
        (
            "DELETE",
            "/b",
            &[("replication", "")],
            "DeleteBucketReplication",
        ),
        (
            "DELETE",
            "/b",
            &[("publicAccessBlock", "")],
            "DeletePublicAccessBlock",
        ),
        (
            "DELETE",
            "/b",
            &[("inventory", ""), ("id", "x")],
            "DeleteBucketInventoryConfiguration",
        ),
        ("GET", "/b", &[("acl", "")], "GetBucketAcl"),
        (
            "GET",
            "/b",
            &[("lifecycle", "")],
            "GetBucketLifecycleConfiguration",
        ),
        ("GET", "/b", &[("encryption", "")], "GetBucketEncryption"),
        ("GET", "/b/k", &[("acl", "")], "GetObjectAcl"),
        ("PUT", "/b", &[("acl", "")], "PutBucketAcl"),
        (
            "PUT",
            "/b",
            &[("lifecycle", "")],
            "PutBucketLifecycleConfiguration",
        ),
        ("GET", "/b", &[("list-type", "2")], "ListObjectsV2"),
        (
            "GET",
            "/b",
            &[("analytics", "")],
            "ListBucketAnalyticsConfigurations",
        ),
        (
            "GET",
            "/b",
            &[("analytics", ""), ("id", "a")],
            "GetBucketAnalyticsConfiguration",
        ),
        ("GET", "/b/k", &[("partNumber", "1")], "GetObject"),
        (
            "GET",
            "/b/k",
            &[("versionId", "v"), ("x-id", "GetObject")],
            "GetObject",
        ),
        ("GET", "/", &[], "ListBuckets"),
        ("GET", "/b/", &[], "ListObjects"),
        ("PUT", "/b/dir/", &[], "PutObject"),
        (
            "DELETE",
            "/b/k",
            &[("uploadId", "u")],
            "AbortMultipartUpload",
        ),
        (
            "POST",
            "/b/k",
            &[("uploadId", "u")],
            "CompleteMultipartUpload",
        ),
        ("POST", "/b/k", &[("uploads", "")], "CreateMultipartUpload"),
    ];
    for (method, path, query, want) in cases {
        assert_eq!(
            route_of(&r, method, path, query, &[]).as_deref(),
            Ok(*want),
            "{method} {path} {query:?}"
        );
    }
    // Header-selected operations.
    let copy = ["x-amz-copy-source"];
    assert_eq!(
        route_of(&r, "PUT", "/b/k", &[], &copy).unwrap(),
        "CopyObject"
    );
    assert_eq!(
        route_of(
            &r,
            "PUT",
            "/b/k",
            &[("uploadId", "u"), ("partNumber", "1")],
            &copy
        )
        .unwrap(),
        "UploadPartCopy"
    );
    assert_eq!(
        route_of(
            &r,
            "PUT",
            "/b/k",
            &[("uploadId", "u"), ("partNumber", "1")],
            &[]
        )
        .unwrap(),
        "UploadPart"
    );
}

#[test]
fn requests_that_match_nothing_exactly_are_refused() {
    let r = router();
    // An upload id without its part number is not a PutObject.
    assert_eq!(
        route_of(&r, "PUT", "/b/k", &[("uploadId", "u")], &[]),
        Err(RouteError::MissingMember {
            operation: "UploadPart".into(),
            member: "partNumber".into()
        })
    );
    // A sub-resource the method does not have is not the plain operation.
    assert_eq!(
        route_of(&r, "DELETE", "/b", &[("location", "")], &[]),
        Err(RouteError::UnexpectedSubresource {
            operation: "DeleteBucket".into(),
            key: "location".into()
        })
    );
    assert!(matches!(
        route_of(&r, "DELETE", "/b/k", &[("uploads", "")], &[]),
        Err(RouteError::UnexpectedSubresource { .. })
    ));
    assert!(matches!(
        route_of(&r, "HEAD", "/b", &[("policy", "")], &[]),
        Err(RouteError::NoOperation { .. }) | Err(RouteError::UnexpectedSubresource { .. })
    ));
    match route_of(&r, "POST", "/b", &[], &[]) {
        Err(RouteError::NoOperation { other_methods }) => {
            assert_eq!(other_methods, ["DELETE", "GET", "HEAD", "PUT"])
        }
        other => panic!("{other:?}"),
    }
    // `list-type` selects ListObjectsV2 only with the value 2.
    assert!(matches!(
        route_of(&r, "GET", "/b", &[("list-type", "1")], &[]),
        Err(RouteError::UnexpectedSubresource { .. })
    ));
    assert!(route_of(&r, "GET", "//k", &[], &[]).is_err());
    assert!(route_of(&r, "GET", "", &[], &[]).is_err());
    assert!(route_of(&r, "PATCH", "/b/k", &[], &[]).is_err());
}

#[test]
fn labels_keep_their_raw_text() {
    let r = router();
    let q = Vec::new();
    let none = |_: &str| false;
    let m = r
        .route(&RestRequest {
            method: "GET",
            path: "/bkt/a%2Fb/c d/",
            query: &q,
            has_header: &none,
        })
        .unwrap();
    assert_eq!(m.operation, "GetObject");
    assert_eq!(m.label("Bucket"), Some("bkt"));
    assert_eq!(m.label("Key"), Some("a%2Fb/c d/"));
}

proptest! {
    /// Any request either matches one operation of its own method or is refused; never a panic.
    #[test]
    fn routing_is_total(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
        path in "(/[a-z%0-9.]{0,6}){0,5}/?",
        keys in prop::collection::vec(
            prop::sample::select(vec!["acl", "uploads", "uploadId", "partNumber", "tagging",
                "versionId", "list-type", "delete", "id", "analytics", "x", "versions", "select",
                "select-type", "location", "restore", "attributes"]),
            0..4),
    ) {
        let r = router();
        let query: Vec<(String, String)> = keys.iter().map(|k| (k.to_string(), "2".into())).collect();
        let none = |_: &str| false;
        if let Ok(m) = r.route(&RestRequest { method, path: &path, query: &query, has_header: &none }) {
            let op = &model::s3().operations[m.operation];
            prop_assert_eq!(op.http.as_ref().unwrap().method.as_str(), method);
        }
    }
}

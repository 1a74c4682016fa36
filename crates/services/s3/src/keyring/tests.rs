//! Bodies sealed at rest, through the service: what the chunk store holds, what reads return,
//! and the record encoding that keeps older (plaintext) state readable.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::json;
use snapstack_protocol::http::HeaderMap;
use snapstack_service::RequestContext;

use crate::S3;
use crate::model::{Object, ObjectHeaders, Part, S3Record, SealKey, Sealed, WrappedKey, keys};
use crate::seal::Run;

const MARKER: &[u8] = b"PLAINTEXT-MARKER-42";

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn service() -> (S3, RequestContext) {
    let engine = Arc::new(snapstack_engine::Engine::in_memory().unwrap());
    (
        S3::new(engine),
        RequestContext::from_request(&HeaderMap::new(), None),
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn body(n: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(n).collect()
}

async fn call(
    s3: &S3,
    ctx: &RequestContext,
    op: &str,
    input: serde_json::Value,
) -> serde_json::Value {
    s3.invoke_operation(ctx, op, input).await.unwrap().0
}

/// CopyObject (not an operation other services invoke): an HTTP request.
async fn copy(s3: &S3, ctx: &RequestContext, dst: &str, src: &str) {
    let (parts, ()) = snapstack_protocol::http::Request::builder()
        .method("PUT")
        .uri(format!("/bkt/{dst}"))
        .header("host", "localhost:4566")
        .header("x-amz-copy-source", format!("/bkt/{src}"))
        .body(())
        .unwrap()
        .into_parts();
    let out = s3
        .handle(ctx, &parts, snapstack_protocol::body::Body::empty())
        .await;
    assert_eq!(out.response.status(), 200);
}

fn object(s3: &S3, acct: &str, key: &str) -> Object {
    match s3.store.snapshot().get(&keys::object(acct, "bkt", key)) {
        Some(S3Record::Object(o)) => o.clone(),
        other => panic!("{other:?}"),
    }
}

fn stored_bytes(s3: &S3, o: &Object) -> Vec<u8> {
    let blob = s3.engine.open_blob(&o.blob.unwrap()).unwrap();
    blob.read_all().flat_map(Result::unwrap).collect()
}

#[test]
fn puts_are_sealed_and_read_back() {
    let (s3, ctx) = service();
    let acct = ctx.partition.account.clone();
    run(async {
        call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"})).await;
        let data = body(200_000);
        call(
            &s3,
            &ctx,
            "PutObject",
            json!({"Bucket": "bkt", "Key": "k", "Body": b64(&data)}),
        )
        .await;
        let o = object(&s3, &acct, "k");
        assert_eq!(o.size, 200_000);
        let sealed = o.sealed.as_deref().unwrap();
        assert!(matches!(sealed.key, WrappedKey::Master { .. }));
        assert_eq!(sealed.runs.len(), 1);
        let stored = stored_bytes(&s3, &o);
        assert_eq!(
            stored.len() as u64,
            crate::seal::sealed_len(200_000, sealed.segment)
        );
        assert!(
            !stored.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext stored"
        );
        let got = call(&s3, &ctx, "GetObject", json!({"Bucket": "bkt", "Key": "k"})).await;
        assert_eq!(got["Body"], json!(b64(&data)));
        let got = call(
            &s3,
            &ctx,
            "GetObject",
            json!({"Bucket": "bkt", "Key": "k", "Range": "bytes=65530-131080"}),
        )
        .await;
        assert_eq!(got["Body"], json!(b64(&data[65530..131081])));
        // A second object: its own data key, the same master key record.
        call(
            &s3,
            &ctx,
            "PutObject",
            json!({"Bucket": "bkt", "Key": "k2", "Body": b64(&data)}),
        )
        .await;
        let o2 = object(&s3, &acct, "k2");
        assert_ne!(o2.blob, o.blob, "each body has its own key");
        let (WrappedKey::Master { region: r1, .. }, Some(WrappedKey::Master { region: r2, .. })) =
            (&sealed.key, o2.sealed.as_deref().map(|s| &s.key))
        else {
            panic!("SSE-S3 keys")
        };
        assert_eq!(r1, r2);
        assert!(matches!(
            s3.store.snapshot().get(&keys::master_key(&acct, r1)),
            Some(S3Record::Key(SealKey::Master { .. }))
        ));
        // A copy shares the stored body.
        copy(&s3, &ctx, "k3", "k").await;
        assert_eq!(object(&s3, &acct, "k3").blob, o.blob);
        let got = call(
            &s3,
            &ctx,
            "GetObject",
            json!({"Bucket": "bkt", "Key": "k3"}),
        )
        .await;
        assert_eq!(got["Body"], json!(b64(&data)));
    });
}

#[test]
fn bodies_stored_as_sent_still_read() {
    let (s3, ctx) = service();
    let acct = ctx.partition.account.clone();
    run(async {
        call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"})).await;
        // An object as the previous format left it: its body as sent, no `Sealed`.
        let mut w = s3.engine.blob_writer();
        w.write(b"old plaintext body").unwrap();
        let (blob, _) = w.finish().unwrap();
        let old = Object {
            key: "old".into(),
            version_id: None,
            delete_marker: false,
            blob: Some(blob),
            size: blob.size,
            etag: "\"x\"".into(),
            last_modified_ms: 1,
            headers: ObjectHeaders::default(),
            metadata: Vec::new(),
            tags: Vec::new(),
            checksums: Vec::new(),
            parts_count: None,
            sealed: None,
        };
        s3.store
            .write(|t| t.insert(keys::object(&acct, "bkt", "old"), S3Record::Object(old)));
        let got = call(
            &s3,
            &ctx,
            "GetObject",
            json!({"Bucket": "bkt", "Key": "old", "Range": "bytes=4-12"}),
        )
        .await;
        assert_eq!(got["Body"], json!(b64(b"plaintext")));
        // Copied, it is sealed.
        copy(&s3, &ctx, "new", "old").await;
        let o = object(&s3, &acct, "new");
        assert!(o.sealed.is_some() && o.size == 18);
        assert!(!stored_bytes(&s3, &o).windows(9).any(|w| w == b"plaintext"));
        let got = call(
            &s3,
            &ctx,
            "GetObject",
            json!({"Bucket": "bkt", "Key": "new"}),
        )
        .await;
        assert_eq!(got["Body"], json!(b64(b"old plaintext body")));
    });
}

#[test]
fn a_tampered_body_is_an_error_not_wrong_bytes() {
    let (s3, ctx) = service();
    let acct = ctx.partition.account.clone();
    run(async {
        call(&s3, &ctx, "CreateBucket", json!({"Bucket": "bkt"})).await;
        call(
            &s3,
            &ctx,
            "PutObject",
            json!({"Bucket": "bkt", "Key": "k", "Body": b64(&body(1000))}),
        )
        .await;
        // Point the record at another body of the same length: it does not authenticate.
        let mut o = object(&s3, &acct, "k");
        let mut w = s3.engine.blob_writer();
        w.write(&vec![0u8; stored_bytes(&s3, &o).len()]).unwrap();
        o.blob = Some(w.finish().unwrap().0);
        s3.store
            .write(|t| t.insert(keys::object(&acct, "bkt", "k"), S3Record::Object(o)));
        let e = s3
            .invoke_operation(&ctx, "GetObject", json!({"Bucket": "bkt", "Key": "k"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, "InternalError");
    });
}

#[test]
fn records_keep_their_bytes_and_sealed_ones_are_new_variants() {
    let o = Object {
        key: "k".into(),
        version_id: None,
        delete_marker: false,
        blob: None,
        size: 0,
        etag: String::new(),
        last_modified_ms: 0,
        headers: ObjectHeaders::default(),
        metadata: Vec::new(),
        tags: Vec::new(),
        checksums: Vec::new(),
        parts_count: None,
        sealed: None,
    };
    let o_plain = o.clone();
    let plain = postcard::to_allocvec(&S3Record::Object(o.clone())).unwrap();
    assert_eq!(plain[0], 1, "an unsealed object keeps variant 1");
    let sealed = Sealed {
        scheme: 1,
        segment: 65536,
        key: WrappedKey::Customer {
            nonce: [1; 12],
            wrapped: vec![2; 48],
        },
        runs: vec![Run {
            plain: 0,
            prefix: [3; 7],
        }],
    };
    let with = S3Record::Object(Object {
        sealed: Some(Box::new(sealed.clone())),
        ..o
    });
    let bytes = postcard::to_allocvec(&with).unwrap();
    assert_eq!(bytes[0], 7);
    assert_eq!(
        &bytes[1..plain.len()],
        &plain[1..],
        "the object's own bytes come first"
    );
    assert_eq!(postcard::from_bytes::<S3Record>(&bytes).unwrap(), with);
    assert_eq!(
        postcard::from_bytes::<S3Record>(&plain).unwrap(),
        S3Record::Object(o_plain)
    );
    let part = Part {
        number: 1,
        blob: {
            let engine = snapstack_engine::Engine::in_memory().unwrap();
            let mut w = engine.blob_writer();
            w.write(&[0; 16]).unwrap();
            w.finish().unwrap().0
        },
        size: 0,
        etag: String::new(),
        md5: Vec::new(),
        last_modified_ms: 0,
        checksums: Vec::new(),
        sealed: Some(Box::new(sealed)),
    };
    let bytes = postcard::to_allocvec(&S3Record::Part(part.clone())).unwrap();
    assert_eq!(bytes[0], 8);
    assert_eq!(
        postcard::from_bytes::<S3Record>(&bytes).unwrap(),
        S3Record::Part(part)
    );
    let key = S3Record::Key(SealKey::Master {
        key: [9; 32],
        created_ms: 5,
    });
    let bytes = postcard::to_allocvec(&key).unwrap();
    assert_eq!(bytes[0], 6);
    assert_eq!(postcard::from_bytes::<S3Record>(&bytes).unwrap(), key);
}

#[test]
fn kms_errors_are_answered_as_s3_does() {
    let e = super::kms_error(snapstack_protocol::errors::AwsError::new(
        "DisabledException",
        "arn:aws:kms:us-east-1:000000000000:key/k is disabled.",
    ));
    assert_eq!((e.code, e.status.as_u16()), ("KMS.DisabledException", 400));
    let e = super::kms_error(snapstack_protocol::errors::AwsError::new(
        "KMSInvalidStateException",
        "x is pending deletion.",
    ));
    assert_eq!(e.code, "KMS.KMSInvalidStateException");
}

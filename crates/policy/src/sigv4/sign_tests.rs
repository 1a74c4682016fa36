use super::*;

#[test]
fn what_authorization_signs_verifies() {
    let headers = [
        ("Host", "localhost:4566"),
        ("X-Amz-Date", "20240101T000000Z"),
    ];
    let mut req = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: (&headers).into(),
        payload_hash: &sha256_hex(b"Action=GetCallerIdentity"),
    };
    let signed = vec!["host".to_string(), "x-amz-date".to_string()];
    let auth = authorization(
        &req,
        "AKID",
        "secret",
        "20240101T000000Z",
        "us-east-1",
        "sts",
        &signed,
    );
    let with = [headers[0], headers[1], ("Authorization", auth.as_str())];
    req.headers = (&with).into();
    let now = parse_amz_date("20240101T000000Z").unwrap();
    assert!(verify(&req, now, |_| Some("secret".into())).is_ok());
    assert!(verify(&req, now, |_| Some("other".into())).is_err());
}

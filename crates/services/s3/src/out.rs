//! Every S3 answer is written by the model-driven rest-xml codec
//! (`snapstack_protocol::codec::rest::serialize_response`): an operation builds its output in
//! the model's neutral shape (member names of the output shape, timestamps as epoch seconds)
//! and the codec puts each member where the model says (status, headers, `x-amz-meta-*`,
//! the XML document with its namespace and flattened lists, or a raw payload). Object bodies
//! are never given to the codec: they are attached to the response as the stream they are.

use serde_json::{Map, Value, json};
use snapstack_protocol::body::Body;
use snapstack_protocol::codec::rest::{RestResponse, default_namespace, serialize_response, xml};
use snapstack_protocol::http::{HeaderName, HeaderValue, StatusCode, header};
use snapstack_protocol::model::{self, Shape};
use snapstack_protocol::response::{IntoResponse, Response};

use crate::subres::codec_error;
use crate::{S3Error, S3Result};

/// The status S3 answers where the model gives none (botocore's model has no `responseCode`
/// on PutBucketPolicy; S3 answers it 204 No Content).
fn status_override(operation: &str) -> Option<StatusCode> {
    match operation {
        "PutBucketPolicy" => Some(StatusCode::NO_CONTENT),
        _ => None,
    }
}

/// An operation's output, written by the codec.
pub(crate) fn reply(operation: &str, output: &Value) -> S3Result<Response> {
    let rr = serialize_response(model::s3(), operation, output).map_err(codec_error)?;
    Ok(response(operation, rr, None))
}

/// An operation's output whose streaming payload (an object's body) is `body`.
pub(crate) fn reply_streaming(operation: &str, output: &Value, body: Body) -> S3Result<Response> {
    let rr = serialize_response(model::s3(), operation, output).map_err(codec_error)?;
    Ok(response(operation, rr, Some(body)))
}

fn response(operation: &str, rr: RestResponse, stream: Option<Body>) -> Response {
    let status = status_override(operation)
        .or_else(|| StatusCode::from_u16(rr.status).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = match stream {
        Some(body) => Response::new(body),
        None => Response::new(Body::from(rr.body)),
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (name, value) in &rr.headers {
        // `HeaderName::from_bytes` lower-cases the model's spelling (`ETag`, `Content-Type`).
        // A value no header can carry (a metadata value with a control character) is left
        // out, as S3 cannot send it either.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if let Some(ct) = rr.content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

/// A timestamp of a record (epoch milliseconds) as the neutral value (epoch seconds).
pub(crate) fn ts(ms: u64) -> Value {
    snapstack_protocol::codec::time::ms_to_value(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The owner every listing names.
pub(crate) fn owner(account: &str) -> Value {
    json!({"ID": account, "DisplayName": "snapstack"})
}

/// A tag set as the model's `TagSet`.
pub(crate) fn tag_set(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

/// The checksums of an object or part as the model's `Checksum<ALGORITHM>` members.
pub(crate) fn put_checksums(out: &mut Map<String, Value>, checksums: &[(String, String)]) {
    for (alg, v) in checksums {
        out.insert(format!("Checksum{alg}"), Value::String(v.clone()));
    }
}

/// The shape of an operation's input payload member (the document a Put carries).
pub(crate) fn payload_shape(operation: &str) -> Option<(&'static str, &'static Shape)> {
    let m = model::s3();
    let input = m.input_of(m.operations.get(operation)?)?;
    let name = input.payload.as_deref()?;
    let member = input.members.get(name)?;
    Some((name, m.shape(&member.shape)?))
}

/// A stored XML document (as a Put of `put_operation` carried it) read back by the codec as
/// the neutral value of that Put's payload; `None` when it does not read.
pub(crate) fn read_document(put_operation: &str, doc: &str) -> Option<Value> {
    let (_, shape) = payload_shape(put_operation)?;
    xml::parse_document(model::s3(), shape, None, doc.as_bytes()).ok()
}

/// The neutral value of `put_operation`'s payload written as the XML document that Put
/// carries (what S3 keeps as a bucket's configuration document).
pub(crate) fn write_document(put_operation: &str, value: &Value) -> S3Result<String> {
    let m = model::s3();
    let (name, shape) = payload_shape(put_operation)
        .ok_or_else(|| S3Error::internal(format!("{put_operation} has no payload")))?;
    let root = shape.location_name.as_deref().unwrap_or(name);
    let bytes = xml::write_document(m, shape, value, root, Some(&default_namespace(m)))
        .map_err(codec_error)?;
    String::from_utf8(bytes).map_err(|e| S3Error::internal(e.to_string()))
}

/// A document kept verbatim that the codec could not read back (written before the codec
/// read them, by a more lenient parser): answered as it was kept, as before.
pub(crate) fn verbatim_xml(doc: String) -> Response {
    let mut r = (StatusCode::OK, doc).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_carry_their_status_and_headers_from_the_model() {
        let r = reply(
            "DeleteObject",
            &json!({"DeleteMarker": true, "VersionId": "v"}),
        )
        .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["x-amz-delete-marker"], "true");
        assert_eq!(r.headers()["x-amz-version-id"], "v");
        let r = reply("PutBucketPolicy", &json!({})).unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = reply("CreateBucket", &json!({"Location": "/b"})).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["location"], "/b");
    }

    #[test]
    fn documents_round_trip_through_the_codec() {
        let acl = json!({"Owner": owner("1"), "Grants": [{"Grantee": {"Type": "Group", "URI": "u"}, "Permission": "READ"}]});
        let doc = write_document("PutBucketAcl", &acl).unwrap();
        assert!(
            doc.contains("<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"),
            "{doc}"
        );
        assert!(doc.contains("xsi:type=\"Group\""), "{doc}");
        assert_eq!(read_document("PutBucketAcl", &doc), Some(acl));
        assert_eq!(read_document("PutBucketAcl", "<nope"), None);
    }

    #[test]
    fn timestamps_are_epoch_seconds() {
        assert_eq!(ts(1_000), json!(1));
        assert_eq!(ts(1_500), json!(1.5));
    }
}

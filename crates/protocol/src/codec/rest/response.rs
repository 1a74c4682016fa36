//! An operation's output value as a REST response: status, headers and body.

use base64::Engine;
use serde_json::{Map, Value};

use super::{
    BodyFormat, bad_output, json_body, scalar_to_text, shape_of, ts_format, wire_name, xml,
};
use crate::codec::CodecError;
use crate::codec::time::Format;
use crate::model::{Member, ServiceModel, Shape, XmlNamespace};

/// A serialized REST response. Header names are as the model spells them (HTTP header names
/// are case-insensitive; lower-case them if your map wants that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `application/xml` or `application/json` for a document body; `None` for no body or a
    /// raw payload (whose type, if any, is a `Content-Type` header member).
    pub content_type: Option<&'static str>,
    /// The streaming payload member (a streaming blob, or an event stream) whose bytes the
    /// caller sends as the body (the body here is then empty).
    pub streaming_payload: Option<String>,
}

/// The S3 namespace, on every S3 response document.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The root element of an S3 output document, where the model does not name it (botocore's
/// S3 model has no `locationName` on output shapes; S3 uses these names).
fn s3_root(output_shape: &str) -> Option<&'static str> {
    Some(match output_shape {
        "ListObjectsOutput" | "ListObjectsV2Output" => "ListBucketResult",
        "ListObjectVersionsOutput" => "ListVersionsResult",
        "ListBucketsOutput" => "ListAllMyBucketsResult",
        "ListDirectoryBucketsOutput" => "ListAllMyDirectoryBucketsResult",
        "ListMultipartUploadsOutput" => "ListMultipartUploadsResult",
        "ListPartsOutput" => "ListPartsResult",
        "GetBucketTaggingOutput" | "GetObjectTaggingOutput" => "Tagging",
        "GetBucketAclOutput" | "GetObjectAclOutput" => "AccessControlPolicy",
        "GetBucketLocationOutput" => "LocationConstraint",
        "GetBucketVersioningOutput" => "VersioningConfiguration",
        "GetBucketCorsOutput" => "CORSConfiguration",
        "GetBucketLifecycleConfigurationOutput" => "LifecycleConfiguration",
        "GetBucketAccelerateConfigurationOutput" => "AccelerateConfiguration",
        "GetBucketRequestPaymentOutput" => "RequestPaymentConfiguration",
        "GetBucketLoggingOutput" => "BucketLoggingStatus",
        "GetBucketWebsiteOutput" => "WebsiteConfiguration",
        "NotificationConfiguration" => "NotificationConfiguration",
        "CreateMultipartUploadOutput" => "InitiateMultipartUploadResult",
        "CompleteMultipartUploadOutput" => "CompleteMultipartUploadResult",
        "DeleteObjectsOutput" => "DeleteResult",
        "GetObjectAttributesOutput" => "GetObjectAttributesResponse",
        _ => return None,
    })
}

/// An S3 output written as one element holding its single body member's text, not a
/// structure: `<LocationConstraint xmlns="..">eu-west-1</LocationConstraint>` (empty,
/// `<LocationConstraint xmlns=".."/>`, for us-east-1). botocore reads it with a
/// customization (`parse_get_bucket_location`) rather than by the shape. The root element and
/// the member.
fn bare_value(model: &ServiceModel, output_shape: &str) -> Option<(&'static str, &'static str)> {
    if model.metadata.endpoint_prefix != "s3" {
        return None;
    }
    match output_shape {
        "GetBucketLocationOutput" => Some(("LocationConstraint", "LocationConstraint")),
        _ => None,
    }
}

/// The namespace of a rest-xml service's documents where the model names none: S3's, else
/// `https://<endpoint prefix>.amazonaws.com/doc/<api version>/` (Route 53's form).
pub fn default_namespace(model: &ServiceModel) -> XmlNamespace {
    if let Some(ns) = &model.metadata.xml_namespace {
        return XmlNamespace::Uri(ns.clone());
    }
    if model.metadata.endpoint_prefix == "s3" {
        return XmlNamespace::Uri(S3_NAMESPACE.to_string());
    }
    XmlNamespace::Uri(format!(
        "https://{}.amazonaws.com/doc/{}/",
        model.metadata.endpoint_prefix, model.metadata.api_version
    ))
}

/// Serialize an operation's output value.
pub fn serialize_response(
    model: &ServiceModel,
    operation: &str,
    output: &Value,
) -> Result<RestResponse, CodecError> {
    let format = BodyFormat::of(model)?;
    let op = model.operations.get(operation).ok_or_else(|| {
        CodecError::new(
            500,
            "InternalError",
            format!("the model has no operation {operation}"),
        )
    })?;
    let mut resp = RestResponse {
        status: op
            .http
            .as_ref()
            .and_then(|h| h.response_code)
            .unwrap_or(200),
        headers: Vec::new(),
        body: Vec::new(),
        content_type: None,
        streaming_payload: None,
    };
    let Some(output_ref) = &op.output else {
        return Ok(resp);
    };
    let shape = shape_of(model, &output_ref.shape)?;
    let empty = Map::new();
    let fields = match output {
        Value::Object(f) => f,
        Value::Null => &empty,
        _ => return Err(bad_output(&output_ref.shape, "structure")),
    };

    // The output's fields (a handful) drive the pass, not the shape's members (GetObject has
    // some fifty): fields the shape does not have are ignored, as before.
    for (name, v) in fields {
        let Some(m) = shape.members.get(name) else {
            continue;
        };
        let (Some(location), false) = (m.location.as_deref(), v.is_null()) else {
            continue;
        };
        let mshape = shape_of(model, &m.shape)?;
        match location {
            "statusCode" => {
                resp.status = v
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| (100..600).contains(s))
                    .ok_or_else(|| bad_output(name, "status code"))?;
            }
            "header" => {
                if let Some(text) = header_text(model, name, m, mshape, v)? {
                    resp.headers.push((wire_name(name, m).to_string(), text));
                }
            }
            "headers" => {
                let Value::Object(entries) = v else {
                    return Err(bad_output(name, "map"));
                };
                let prefix = wire_name(name, m);
                for (k, v) in entries {
                    let text = v
                        .as_str()
                        .ok_or_else(|| bad_output(name, "map of strings"))?;
                    resp.headers
                        .push((format!("{prefix}{k}"), text.to_string()));
                }
            }
            _ => {}
        }
    }

    if shape.payload.is_none()
        && let Some((root, member)) = bare_value(model, &output_ref.shape)
    {
        let text = match (
            fields.get(member).filter(|v| !v.is_null()),
            shape.members.get(member),
        ) {
            (Some(v), Some(m)) => {
                let mshape = shape_of(model, &m.shape)?;
                let ts = ts_format(m.timestamp_format.as_deref(), mshape, Format::Iso8601);
                Some(
                    scalar_to_text(mshape, v, ts)
                        .ok_or_else(|| bad_output(member, &mshape.kind))?,
                )
            }
            _ => None,
        };
        resp.body = xml::write_bare_document(root, &default_namespace(model), text.as_deref());
        resp.content_type = Some("application/xml");
        return Ok(resp);
    }

    match shape.payload.as_deref() {
        Some(payload) => {
            let Some(m) = shape.members.get(payload) else {
                return Ok(resp);
            };
            let mshape = shape_of(model, &m.shape)?;
            // A streaming blob, or an event stream (S3 SelectObjectContent, Lambda
            // InvokeWithResponseStream): the caller writes the body.
            if (mshape.kind == "blob" && (mshape.streaming || m.streaming)) || mshape.eventstream {
                resp.streaming_payload = Some(payload.to_string());
                return Ok(resp);
            }
            let Some(v) = fields.get(payload).filter(|v| !v.is_null()) else {
                return Ok(resp);
            };
            match (mshape.kind.as_str(), v) {
                ("blob", Value::String(b64)) => {
                    resp.body = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| bad_output(payload, "blob (base64)"))?;
                }
                ("string", Value::String(s)) => resp.body = s.clone().into_bytes(),
                ("blob" | "string", _) => return Err(bad_output(payload, &mshape.kind)),
                _ => match format {
                    BodyFormat::Json => {
                        let w = json_body::to_wire(model, mshape, v, None, payload, 0)?;
                        resp.body =
                            serde_json::to_vec(&w).map_err(|_| bad_output(payload, "JSON"))?;
                        resp.content_type = Some("application/json");
                    }
                    BodyFormat::Xml => {
                        let root = m
                            .location_name
                            .as_deref()
                            .or(mshape.location_name.as_deref())
                            .unwrap_or(&m.shape);
                        let fallback = default_namespace(model);
                        let ns = m
                            .xml_namespace
                            .as_ref()
                            .or(mshape.xml_namespace.as_ref())
                            .unwrap_or(&fallback);
                        resp.body = xml::write_document(model, mshape, v, root, Some(ns))?;
                        resp.content_type = Some("application/xml");
                    }
                },
            }
        }
        None if has_body_members(shape) => match format {
            BodyFormat::Json => {
                let w = json_body::to_wire(model, shape, output, None, &output_ref.shape, 0)?;
                resp.body = serde_json::to_vec(&w).map_err(|_| bad_output(operation, "JSON"))?;
                resp.content_type = Some("application/json");
            }
            BodyFormat::Xml => {
                let root = output_ref
                    .location_name
                    .as_deref()
                    .or(shape.location_name.as_deref())
                    .or_else(|| {
                        (model.metadata.endpoint_prefix == "s3")
                            .then(|| s3_root(&output_ref.shape))
                            .flatten()
                    })
                    .unwrap_or(&output_ref.shape);
                let fallback = default_namespace(model);
                let ns = output_ref
                    .xml_namespace
                    .as_ref()
                    .or(shape.xml_namespace.as_ref())
                    .unwrap_or(&fallback);
                let empty_doc = Value::Object(Map::new());
                let doc = if output.is_null() { &empty_doc } else { output };
                resp.body = xml::write_document(model, shape, doc, root, Some(ns))?;
                resp.content_type = Some("application/xml");
            }
        },
        None => {}
    }
    Ok(resp)
}

fn has_body_members(shape: &Shape) -> bool {
    shape.members.values().any(|m| m.location.is_none())
}

/// A header member's text (`None` for an empty list, which botocore does not send either).
fn header_text(
    model: &ServiceModel,
    name: &str,
    m: &Member,
    shape: &Shape,
    v: &Value,
) -> Result<Option<String>, CodecError> {
    if m.json_value {
        let json = serde_json::to_string(v).map_err(|_| bad_output(name, "JSON value"))?;
        return Ok(Some(
            base64::engine::general_purpose::STANDARD.encode(json.as_bytes()),
        ));
    }
    if shape.kind == "list" {
        let Value::Array(items) = v else {
            return Err(bad_output(name, "list"));
        };
        if items.is_empty() {
            return Ok(None);
        }
        let item = shape
            .member
            .as_ref()
            .map(|r| shape_of(model, &r.shape))
            .transpose()?
            .ok_or_else(|| bad_output(name, "list"))?;
        let ts = ts_format(None, item, Format::Rfc822);
        let mut out = String::new();
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let text = scalar_to_text(item, x, ts).ok_or_else(|| bad_output(name, &item.kind))?;
            if item.kind == "string" && (text.contains(',') || text.contains('"')) {
                out.push('"');
                out.push_str(&text.replace('"', "\\\""));
                out.push('"');
            } else {
                out.push_str(&text);
            }
        }
        return Ok(Some(out));
    }
    let ts = ts_format(m.timestamp_format.as_deref(), shape, Format::Rfc822);
    scalar_to_text(shape, v, ts)
        .map(Some)
        .ok_or_else(|| bad_output(name, &shape.kind))
}

//! The `query` protocol (STS, IAM, SNS, CloudWatch, RDS, ElastiCache, and SQS's legacy wire):
//! form parameters in, XML out, driven by the service model.
//!
//! * [`parse_input`] reads form parameters (`Name.member.N`, `Name.entry.N.key`, `A.B.C`, ...)
//!   into the neutral value ([`super`]) of the operation's input, the reverse of botocore's
//!   `QuerySerializer`.
//! * [`serialize_output`] writes `<{Op}Response><{resultWrapper}>...</..><ResponseMetadata>..`
//!   as AWS's query services answer, which botocore's `QueryParser` reads back.
//! * [`serialize_error`], [`error_status`] and [`query_compatible_header`] give errors.
//! * [`sqs_query_model`] is SQS's model with the query names of its legacy wire put back (the
//!   current botocore SQS model is JSON-only and dropped them).
//!
//! Names follow botocore: a member's form or element name is its `locationName`, else its
//! target shape's `locationName`, else the member name; a flattened list whose member has a
//! `locationName` uses that name instead of the member's (`AttributeName.1`, `<QueueUrl>`).

mod errors;
mod parse;
mod sqs_legacy;
mod xml_out;

#[cfg(test)]
mod tests;

pub use errors::{error_status, query_compatible_header, serialize_error};
pub use parse::{MAX_INDEX, MAX_PARAMS, parse_input};
pub use sqs_legacy::sqs_query_model;
pub use xml_out::serialize_output;

use crate::model::{Member, ServiceModel, Shape, ShapeRef};

/// The XML namespace of a service's query answers: the model's `xmlNamespace`, else
/// `https://{endpointPrefix}.amazonaws.com/doc/{apiVersion}/`.
pub fn namespace(model: &ServiceModel) -> String {
    match &model.metadata.xml_namespace {
        Some(ns) => ns.clone(),
        None => format!(
            "https://{}.amazonaws.com/doc/{}/",
            model.metadata.endpoint_prefix, model.metadata.api_version
        ),
    }
}

/// A structure member's form parameter or element name (botocore merges the member's
/// `locationName` over its target shape's).
fn member_name<'m>(key: &'m str, member: &'m Member, target: &'m Shape) -> &'m str {
    member
        .location_name
        .as_deref()
        .or(target.location_name.as_deref())
        .unwrap_or(key)
}

/// The name a reference (a list's member, a map's key or value) carries, if any.
fn ref_name<'m>(model: &'m ServiceModel, r: &'m ShapeRef) -> Option<&'m str> {
    r.location_name
        .as_deref()
        .or_else(|| model.shape(&r.shape)?.location_name.as_deref())
}

/// Whether a member's list or map is written without a wrapper.
fn flattened(member: Option<&Member>, target: &Shape) -> bool {
    target.flattened || member.is_some_and(|m| m.flattened)
}

/// The form or element name of the items of a flattened list reached through `member`: the
/// list member's `locationName` when it has one, else the member's own name.
fn flat_item_name<'m>(model: &'m ServiceModel, list: &'m Shape, own: &'m str) -> &'m str {
    list.member
        .as_ref()
        .and_then(|r| ref_name(model, r))
        .unwrap_or(own)
}

/// Escape text for an XML element into `out` (as `crate::errors::xml_escape`, kept here
/// so the codec stands alone): markup characters as entities, CR and LF as character references
/// so that end-of-line normalization cannot change them, other control characters (but tab) as
/// character references, and NUL, which XML cannot carry, as U+FFFD.
fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\r' => "&#13;",
            '\n' => "&#10;",
            '\0' => "\u{FFFD}",
            c if c.is_control() && c != '\t' => {
                out.push_str(&s[last..i]);
                out.push_str(&format!("&#x{:X};", u32::from(c)));
                last = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
}

//! rest-xml bodies <-> the neutral value, by shape, in one pass each way.
//!
//! Reading walks quick-xml's events along the shape (no tree is built): element names are
//! matched by local name (prefixes and namespaces are ignored on input), unknown elements are
//! skipped, lists are wrapped (`<Tags><member>..`, the item element named by the list member's
//! `locationName`) or flattened (the member's element repeated), maps are `entry`/`key`/`value`
//! (flattened: the member's element repeated), `xmlAttribute` members are attributes. Depth is
//! bounded by [`MAX_DEPTH`] and the number of events by [`MAX_EVENTS`]; any malformation is S3's
//! `MalformedXML`.
//!
//! Writing follows botocore's `RestXMLSerializer` (which is what its `RestXMLParser` reads):
//! members in the model's order as this crate stores it (by name), `xmlNamespace` as `xmlns` /
//! `xmlns:prefix` on the element whose shape or member carries it, timestamps ISO 8601 with
//! milliseconds unless `timestampFormat` says otherwise, blobs base64, text escaped with
//! control characters as character references.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{bad_output, scalar_from_text, scalar_to_text, shape_of, ts_format, wire_name};
use crate::codec::time::Format;
use crate::codec::{CodecError, MAX_DEPTH};
use crate::model::{Member, ServiceModel, Shape, XmlNamespace};

/// S3's message for a body that is not the XML it expects.
pub const MALFORMED_XML_MESSAGE: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

/// At most this many XML events are read from one body.
pub const MAX_EVENTS: usize = 2_000_000;

/// The 400 `MalformedXML`.
pub fn malformed() -> CodecError {
    CodecError::new(400, "MalformedXML", MALFORMED_XML_MESSAGE)
}

// ---------------------------------------------------------------------------------------------
// Reading

struct In<'a> {
    reader: Reader<&'a [u8]>,
    events: usize,
}

impl<'a> In<'a> {
    fn next(&mut self) -> Result<Event<'a>, CodecError> {
        loop {
            self.events += 1;
            if self.events > MAX_EVENTS {
                return Err(malformed());
            }
            match self.reader.read_event().map_err(|_| malformed())? {
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => continue,
                // No DTDs (and so no entity expansion).
                Event::DocType(_) => return Err(malformed()),
                e => return Ok(e),
            }
        }
    }

    /// Skip the rest of an element whose start was just read.
    fn skip(&mut self, empty: bool) -> Result<(), CodecError> {
        if empty {
            return Ok(());
        }
        let mut depth = 1usize;
        loop {
            match self.next()? {
                Event::Start(_) => depth += 1,
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Event::Eof => return Err(malformed()),
                _ => {}
            }
        }
    }

    /// The text of a scalar element whose start was just read, unescaped.
    fn text(&mut self, empty: bool) -> Result<String, CodecError> {
        let mut out = String::new();
        if empty {
            return Ok(out);
        }
        loop {
            match self.next()? {
                Event::Text(t) => out.push_str(&t.xml10_content()),
                Event::CData(c) => out.push_str(&c.into_inner()),
                Event::GeneralRef(r) => {
                    if let Some(c) = r.resolve_char_ref().map_err(|_| malformed())? {
                        out.push(c);
                    } else {
                        out.push(match &*r.into_inner() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => return Err(malformed()),
                        });
                    }
                }
                // An element inside a scalar: not what the schema allows.
                Event::Start(_) | Event::Empty(_) | Event::Eof => return Err(malformed()),
                Event::End(_) => return Ok(out),
                _ => {}
            }
        }
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn local_of<'b>(e: &'b BytesStart<'_>) -> &'b [u8] {
    local(e.name().into_inner()).as_bytes()
}

/// Parse a whole document whose root element is `shape`. With `root`, the root element must
/// have that (local) name.
pub fn parse_document(
    model: &ServiceModel,
    shape: &Shape,
    root: Option<&str>,
    body: &[u8],
) -> Result<Value, CodecError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if std::str::from_utf8(body).is_err() {
        return Err(malformed());
    }
    let mut input = In {
        reader: Reader::from_reader(body),
        events: 0,
    };
    let (start, empty) = loop {
        match input.next()? {
            Event::Start(e) => break (e, false),
            Event::Empty(e) => break (e, true),
            Event::Text(t) if t.trim_ascii().is_empty() => {}
            _ => return Err(malformed()),
        }
    };
    if let Some(root) = root
        && local_of(&start) != local(root).as_bytes()
    {
        return Err(malformed());
    }
    let value = parse_value(&mut input, model, shape, &start, empty, 1)?;
    loop {
        match input.next()? {
            Event::Eof => return Ok(value),
            Event::Text(t) if t.trim_ascii().is_empty() => {}
            _ => return Err(malformed()),
        }
    }
}

/// The element name of a list's items.
fn item_name<'m>(model: &'m ServiceModel, list: &'m Shape) -> &'m str {
    list.member
        .as_ref()
        .and_then(|r| {
            r.location_name.as_deref().or_else(|| {
                model
                    .shape(&r.shape)
                    .and_then(|s| s.location_name.as_deref())
            })
        })
        .unwrap_or("member")
}

fn list_item<'m>(model: &'m ServiceModel, list: &Shape) -> Result<&'m Shape, CodecError> {
    let r = list
        .member
        .as_ref()
        .ok_or_else(|| super::missing_shape("(list member)"))?;
    shape_of(model, &r.shape)
}

fn map_names(map: &Shape) -> (&str, &str) {
    (
        map.key
            .as_ref()
            .and_then(|r| r.location_name.as_deref())
            .unwrap_or("key"),
        map.value
            .as_ref()
            .and_then(|r| r.location_name.as_deref())
            .unwrap_or("value"),
    )
}

fn parse_value<'a>(
    input: &mut In<'a>,
    model: &ServiceModel,
    shape: &Shape,
    start: &BytesStart<'a>,
    empty: bool,
    depth: usize,
) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    match shape.kind.as_str() {
        "structure" => parse_struct(input, model, shape, start, empty, depth),
        "list" => {
            let item = list_item(model, shape)?;
            let name = item_name(model, shape);
            let mut out = Vec::new();
            if empty {
                return Ok(Value::Array(out));
            }
            loop {
                let (e, empty) = match input.next()? {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    Event::End(_) => return Ok(Value::Array(out)),
                    Event::Eof => return Err(malformed()),
                    _ => continue,
                };
                if local_of(&e) == local(name).as_bytes() {
                    out.push(parse_value(input, model, item, &e, empty, depth + 1)?);
                } else {
                    input.skip(empty)?;
                }
            }
        }
        "map" => {
            let mut out = Map::new();
            if empty {
                return Ok(Value::Object(out));
            }
            loop {
                let (e, empty) = match input.next()? {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    Event::End(_) => return Ok(Value::Object(out)),
                    Event::Eof => return Err(malformed()),
                    _ => continue,
                };
                if local_of(&e) == b"entry" {
                    if let Some((k, v)) = parse_entry(input, model, shape, empty, depth + 1)? {
                        out.insert(k, v);
                    }
                } else {
                    input.skip(empty)?;
                }
            }
        }
        _ => {
            let text = input.text(empty)?;
            scalar_from_text(shape, &text, Format::Iso8601).map_err(|_| malformed())
        }
    }
}

/// One map entry (its element's start was just read): `<key>k</key><value>..</value>`.
fn parse_entry(
    input: &mut In<'_>,
    model: &ServiceModel,
    map: &Shape,
    empty: bool,
    depth: usize,
) -> Result<Option<(String, Value)>, CodecError> {
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    let value_shape = shape_of(
        model,
        &map.value
            .as_ref()
            .ok_or_else(|| super::missing_shape("(map value)"))?
            .shape,
    )?;
    let (key_name, value_name) = map_names(map);
    let (mut key, mut value) = (None, None);
    if !empty {
        loop {
            let (e, empty) = match input.next()? {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => break,
                Event::Eof => return Err(malformed()),
                _ => continue,
            };
            let name = local_of(&e);
            if name == key_name.as_bytes() {
                key = Some(input.text(empty)?);
            } else if name == value_name.as_bytes() {
                value = Some(parse_value(
                    input,
                    model,
                    value_shape,
                    &e,
                    empty,
                    depth + 1,
                )?);
            } else {
                input.skip(empty)?;
            }
        }
    }
    match (key, value) {
        (Some(k), Some(v)) => Ok(Some((k, v))),
        (None, _) => Err(malformed()),
        (Some(_), None) => Ok(None),
    }
}

fn parse_struct<'a>(
    input: &mut In<'a>,
    model: &ServiceModel,
    shape: &Shape,
    start: &BytesStart<'a>,
    empty: bool,
    depth: usize,
) -> Result<Value, CodecError> {
    let mut out = Map::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|_| malformed())?;
        let key = local(attr.key.into_inner()).as_bytes();
        let Some((name, m)) = shape
            .members
            .iter()
            .find(|(n, m)| m.xml_attribute && local(wire_name(n, m)).as_bytes() == key)
        else {
            continue;
        };
        let text = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| malformed())?;
        let mshape = shape_of(model, &m.shape)?;
        let v = scalar_from_text(mshape, &text, Format::Iso8601).map_err(|_| malformed())?;
        out.insert(name.clone(), v);
    }
    if empty {
        return Ok(Value::Object(out));
    }
    loop {
        let (e, empty) = match input.next()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => return Ok(Value::Object(out)),
            Event::Eof => return Err(malformed()),
            _ => continue,
        };
        let lname = local_of(&e);
        let Some((name, m)) = shape.members.iter().find(|(n, m)| {
            m.location.is_none() && !m.xml_attribute && local(wire_name(n, m)).as_bytes() == lname
        }) else {
            input.skip(empty)?;
            continue;
        };
        let mshape = shape_of(model, &m.shape)?;
        let flattened = m.flattened || mshape.flattened;
        match mshape.kind.as_str() {
            "list" if flattened => {
                let item = list_item(model, mshape)?;
                let v = parse_value(input, model, item, &e, empty, depth + 1)?;
                let slot = out
                    .entry(name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                match slot {
                    Value::Array(items) => items.push(v),
                    other => *other = Value::Array(vec![v]),
                }
            }
            "map" if flattened => {
                if let Some((k, v)) = parse_entry(input, model, mshape, empty, depth + 1)? {
                    let slot = out
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(entries) = slot {
                        entries.insert(k, v);
                    }
                }
            }
            _ => {
                let v = parse_value(input, model, mshape, &e, empty, depth + 1)?;
                out.insert(name.clone(), v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Escape text (or, with `attr`, an attribute value) as AWS writes it: markup characters as
/// entities, CR and LF and other control characters as character references (so XML's
/// end-of-line and attribute normalization cannot change them); NUL, which XML cannot carry,
/// as U+FFFD.
pub fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            '\0' => out.push('\u{FFFD}'),
            c if c.is_control() && c != '\t' => {
                use std::fmt::Write;
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

fn push_ns(out: &mut String, ns: Option<&XmlNamespace>) {
    let Some(ns) = ns else { return };
    match ns {
        XmlNamespace::Full {
            uri,
            prefix: Some(p),
        } if !p.is_empty() => {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
            escape_into(out, uri, true);
        }
        _ => {
            out.push_str(" xmlns=\"");
            escape_into(out, ns.uri(), true);
        }
    }
    out.push('"');
}

/// The XML prolog every document starts with.
pub const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A whole document: the prolog and `value` as the element `root` (with namespace `ns`).
pub fn write_document(
    model: &ServiceModel,
    shape: &Shape,
    value: &Value,
    root: &str,
    ns: Option<&XmlNamespace>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    write_value(&mut out, model, shape, value, root, ns, None, 0)?;
    Ok(out.into_bytes())
}

/// A document that is one element holding text (S3's `LocationConstraint`), in namespace `ns`;
/// with no text, the empty element `<root xmlns=".."/>`.
pub fn write_bare_document(root: &str, ns: &XmlNamespace, text: Option<&str>) -> Vec<u8> {
    let mut out = String::with_capacity(128);
    out.push_str(PROLOG);
    out.push('<');
    out.push_str(root);
    push_ns(&mut out, Some(ns));
    match text.filter(|t| !t.is_empty()) {
        Some(t) => {
            out.push('>');
            escape_into(&mut out, t, false);
            close(&mut out, root);
        }
        None => out.push_str("/>"),
    }
    out.into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn write_value(
    out: &mut String,
    model: &ServiceModel,
    shape: &Shape,
    value: &Value,
    name: &str,
    ns: Option<&XmlNamespace>,
    member_ts: Option<&str>,
    depth: usize,
) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return Err(bad_output(name, "value (nested too deeply)"));
    }
    match shape.kind.as_str() {
        "structure" => {
            let Value::Object(fields) = value else {
                return Err(bad_output(name, "structure"));
            };
            out.push('<');
            out.push_str(name);
            push_ns(out, ns);
            for (mname, m) in shape.members.iter().filter(|(_, m)| m.xml_attribute) {
                let Some(v) = fields.get(mname).filter(|v| !v.is_null()) else {
                    continue;
                };
                let mshape = shape_of(model, &m.shape)?;
                let ts = ts_format(m.timestamp_format.as_deref(), mshape, Format::Iso8601);
                let text =
                    scalar_to_text(mshape, v, ts).ok_or_else(|| bad_output(mname, "scalar"))?;
                out.push(' ');
                out.push_str(wire_name(mname, m));
                out.push_str("=\"");
                escape_into(out, &text, true);
                out.push('"');
            }
            out.push('>');
            for (mname, m) in &shape.members {
                if m.location.is_some() || m.xml_attribute {
                    continue;
                }
                if let Some(v) = fields.get(mname).filter(|v| !v.is_null()) {
                    write_member(out, model, mname, m, v, depth + 1)?;
                }
            }
            close(out, name);
        }
        "list" => {
            let Value::Array(items) = value else {
                return Err(bad_output(name, "list"));
            };
            let item = list_item(model, shape)?;
            let item_name = item_name(model, shape);
            let item_ns = shape.member.as_ref().and_then(|r| r.xml_namespace.as_ref());
            out.push('<');
            out.push_str(name);
            push_ns(out, ns);
            out.push('>');
            for v in items {
                let ns = item_ns.or(item.xml_namespace.as_ref());
                write_value(out, model, item, v, item_name, ns, None, depth + 1)?;
            }
            close(out, name);
        }
        "map" => {
            let Value::Object(entries) = value else {
                return Err(bad_output(name, "map"));
            };
            out.push('<');
            out.push_str(name);
            push_ns(out, ns);
            out.push('>');
            for (k, v) in entries {
                write_entry(out, model, shape, "entry", k, v, depth + 1)?;
            }
            close(out, name);
        }
        _ => {
            let ts = ts_format(member_ts, shape, Format::Iso8601);
            let text =
                scalar_to_text(shape, value, ts).ok_or_else(|| bad_output(name, &shape.kind))?;
            out.push('<');
            out.push_str(name);
            push_ns(out, ns);
            out.push('>');
            escape_into(out, &text, false);
            close(out, name);
        }
    }
    Ok(())
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn write_entry(
    out: &mut String,
    model: &ServiceModel,
    map: &Shape,
    element: &str,
    key: &str,
    value: &Value,
    depth: usize,
) -> Result<(), CodecError> {
    let (key_name, value_name) = map_names(map);
    let value_shape = shape_of(
        model,
        &map.value
            .as_ref()
            .ok_or_else(|| super::missing_shape("(map value)"))?
            .shape,
    )?;
    out.push('<');
    out.push_str(element);
    out.push_str("><");
    out.push_str(key_name);
    out.push('>');
    escape_into(out, key, false);
    close(out, key_name);
    let ns = value_shape.xml_namespace.as_ref();
    write_value(
        out,
        model,
        value_shape,
        value,
        value_name,
        ns,
        None,
        depth + 1,
    )?;
    close(out, element);
    Ok(())
}

/// One structure member (flattened lists and maps repeat the member's own element).
pub(crate) fn write_member(
    out: &mut String,
    model: &ServiceModel,
    name: &str,
    m: &Member,
    value: &Value,
    depth: usize,
) -> Result<(), CodecError> {
    let mshape = shape_of(model, &m.shape)?;
    let wire = wire_name(name, m);
    let flattened = m.flattened || mshape.flattened;
    match (mshape.kind.as_str(), value) {
        ("list", Value::Array(items)) if flattened => {
            let item = list_item(model, mshape)?;
            for v in items {
                let ns = m.xml_namespace.as_ref().or(item.xml_namespace.as_ref());
                write_value(out, model, item, v, wire, ns, None, depth + 1)?;
            }
            Ok(())
        }
        ("map", Value::Object(entries)) if flattened => {
            for (k, v) in entries {
                write_entry(out, model, mshape, wire, k, v, depth + 1)?;
            }
            Ok(())
        }
        _ => {
            let ns = m.xml_namespace.as_ref().or(mshape.xml_namespace.as_ref());
            write_value(
                out,
                model,
                mshape,
                value,
                wire,
                ns,
                m.timestamp_format.as_deref(),
                depth,
            )
        }
    }
}

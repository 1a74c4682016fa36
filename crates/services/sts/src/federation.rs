//! Reading what federated sign-ins present: a SAML 2.0 response (`AssumeRoleWithSAML`) and an
//! OpenID Connect token (`AssumeRoleWithWebIdentity`). Signatures are not verified (there is no
//! identity provider to trust here, as in LocalStack); the claims are read so that the answer
//! names the subject, issuer and audience the way AWS's does.

use base64::Engine as _;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;

const ROLE_SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
const SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";
const NAMEID_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";

/// Bounds on the XML walked (the assertion itself is at most 100,000 characters).
const MAX_DEPTH: usize = 64;
const MAX_EVENTS: usize = 100_000;

/// What a SAML response says.
#[derive(Debug, Default, PartialEq)]
pub struct Saml {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub subject_format: Option<String>,
    pub recipient: Option<String>,
    pub role_session_name: Option<String>,
    pub session_duration: Option<i64>,
    pub source_identity: Option<String>,
}

impl Saml {
    /// `SubjectType`: the NameID format without SAML 2.0's prefix (`persistent`, `transient`),
    /// other formats whole.
    pub fn subject_type(&self) -> Option<String> {
        self.subject_format.as_ref().map(|f| {
            f.strip_prefix(NAMEID_PREFIX)
                .map(str::to_string)
                .unwrap_or_else(|| f.clone())
        })
    }
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (local(a.key.as_ref().as_bytes()) == name.as_bytes()).then(|| unescape(&a.value))
    })
}

/// Decode a base64 SAML response and read it. `None` when it is not base64 of XML.
pub fn parse_saml(encoded: &str) -> Option<Saml> {
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    let xml = String::from_utf8(bytes).ok()?;
    let mut reader = Reader::from_str(&xml);
    let mut out = Saml::default();
    // Open elements (local names), the attribute being read, and the text of the element open.
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut attribute: Option<String> = None;
    let mut text = String::new();
    let mut saw_element = false;
    for _ in 0..MAX_EVENTS {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                saw_element = true;
                if stack.len() >= MAX_DEPTH {
                    return None;
                }
                let name = local(e.name().as_ref().as_bytes()).to_vec();
                start(&e, &name, &mut out, &mut attribute);
                stack.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                saw_element = true;
                let name = local(e.name().as_ref().as_bytes()).to_vec();
                start(&e, &name, &mut out, &mut attribute);
                if name == b"Attribute" {
                    attribute = None;
                }
            }
            Event::Text(t) => text.push_str(&unescape(&t)),
            Event::GeneralRef(r) => text.push_str(&unescape(&format!("&{};", &*r))),
            Event::CData(t) => text.push_str(&t),
            Event::End(_) => {
                let name = stack.pop()?;
                let parent = stack.last().map(Vec::as_slice);
                let value = text.trim().to_string();
                match name.as_slice() {
                    // The response's own Issuer and the assertion's name the same provider.
                    b"Issuer" if out.issuer.is_none() => out.issuer = Some(value),
                    b"NameID" if parent == Some(b"Subject") => out.subject = Some(value),
                    b"AttributeValue" => match attribute.as_deref() {
                        Some(ROLE_SESSION_NAME) if out.role_session_name.is_none() => {
                            out.role_session_name = Some(value)
                        }
                        Some(SESSION_DURATION) => out.session_duration = value.parse().ok(),
                        Some(SOURCE_IDENTITY) => out.source_identity = Some(value),
                        _ => {}
                    },
                    b"Attribute" => attribute = None,
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (saw_element && stack.is_empty()).then_some(out)
}

fn start(e: &BytesStart<'_>, name: &[u8], out: &mut Saml, attribute: &mut Option<String>) {
    match name {
        b"NameID" if out.subject_format.is_none() => out.subject_format = attr(e, "Format"),
        b"SubjectConfirmationData" if out.recipient.is_none() => {
            out.recipient = attr(e, "Recipient")
        }
        b"Attribute" => *attribute = attr(e, "Name"),
        _ => {}
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else {
            break;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..=end]),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The claims of a JSON Web Token (its middle part), if it is one.
pub fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A claim as text: a string, or the first string of an array (`aud` may be either).
pub fn claim(claims: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}

#[cfg(test)]
pub fn saml_fixture(session: &str, duration: Option<u32>) -> String {
    let duration = duration
        .map(|d| {
            format!(
                r#"<saml:Attribute Name="{SESSION_DURATION}"><saml:AttributeValue>{d}</saml:AttributeValue></saml:Attribute>"#
            )
        })
        .unwrap_or_default();
    let xml = format!(
        r#"<?xml version="1.0"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Issuer>https://idp.example.com/saml</saml:Issuer><saml:Assertion><saml:Issuer>https://idp.example.com/saml</saml:Issuer><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">user&amp;1</saml:NameID><saml:SubjectConfirmation><saml:SubjectConfirmationData Recipient="https://signin.aws.amazon.com/saml"/></saml:SubjectConfirmation></saml:Subject><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>arn:aws:iam::111122223333:role/r,arn:aws:iam::111122223333:saml-provider/idp</saml:AttributeValue></saml:Attribute><saml:Attribute Name="{ROLE_SESSION_NAME}"><saml:AttributeValue>{session}</saml:AttributeValue></saml:Attribute>{duration}</saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    );
    base64::engine::general_purpose::STANDARD.encode(xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_saml_response() {
        let s = parse_saml(&saml_fixture("alice", Some(1800))).unwrap();
        assert_eq!(s.issuer.as_deref(), Some("https://idp.example.com/saml"));
        assert_eq!(s.subject.as_deref(), Some("user&1"));
        assert_eq!(s.subject_type().as_deref(), Some("persistent"));
        assert_eq!(
            s.recipient.as_deref(),
            Some("https://signin.aws.amazon.com/saml")
        );
        assert_eq!(s.role_session_name.as_deref(), Some("alice"));
        assert_eq!(s.session_duration, Some(1800));
        assert_eq!(parse_saml("not base64!"), None);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(parse_saml(&b64("plain text")), None);
        assert_eq!(parse_saml(&b64("<a><b></a>")), None);
        let deep = "<a>".repeat(1000);
        assert_eq!(parse_saml(&b64(&deep)), None);
    }

    #[test]
    fn reads_jwt_claims() {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            e(r#"{"alg":"RS256"}"#),
            e(r#"{"sub":"user-123","iss":"https://issuer.example.com","aud":["client-1","x"]}"#)
        );
        let c = jwt_claims(&token).unwrap();
        assert_eq!(claim(&c, "sub").as_deref(), Some("user-123"));
        assert_eq!(claim(&c, "aud").as_deref(), Some("client-1"));
        assert_eq!(jwt_claims("opaque-token"), None);
        assert_eq!(jwt_claims("a.b"), None);
    }
}

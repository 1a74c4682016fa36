//! Identity providers (OpenID Connect, SAML) and server certificates.

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_protocol::codec::time::parse_iso8601;
use snapstack_protocol::errors::AwsError;

use crate::creds::is_pem_certificate;
use crate::model::*;
use crate::tagging::{oidc_url, saml_name};
use crate::util::*;
use crate::{Op, done};

const MAX_THUMBPRINTS: usize = 5;
const MAX_CLIENT_IDS: usize = 100;

fn oidc_arn(account: &str, url: &str) -> String {
    format!("arn:aws:iam::{account}:oidc-provider/{url}")
}

fn put_oidc(op: &mut Op<'_, '_>, p: OidcProvider) {
    op.txn.insert(
        id_key(&op.account, OIDC, &p.url),
        IamRecord::Oidc(Box::new(p)),
    );
}

fn oidc(op: &Op<'_, '_>) -> Result<OidcProvider, AwsError> {
    let arn = op.s("OpenIDConnectProviderArn");
    let found = oidc_url(op, arn).and_then(|u| match op.txn.get(&id_key(&op.account, OIDC, u)) {
        Some(IamRecord::Oidc(p)) => Some((**p).clone()),
        _ => None,
    });
    found.ok_or_else(|| no_such(format!("OpenIDConnect Provider not found for arn {arn}")))
}

pub fn create_oidc(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let raw = op.s("Url");
    let Some(url) = raw.strip_prefix("https://").filter(|u| !u.is_empty()) else {
        return Err(validation("Invalid Open ID Connect Provider URL"));
    };
    let url = url.trim_end_matches('/').to_string();
    if op.txn.contains(&id_key(&op.account, OIDC, &url)) {
        return Err(exists(format!("Provider with url {raw} already exists.")));
    }
    let thumbprints = strings(op.input, "ThumbprintList");
    let client_ids = strings(op.input, "ClientIDList");
    if thumbprints.len() > MAX_THUMBPRINTS {
        return Err(limit(format!(
            "Thumbprint list must contain fewer than {} entries",
            MAX_THUMBPRINTS + 1
        )));
    }
    if client_ids.len() > MAX_CLIENT_IDS {
        return Err(limit(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
        ));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let arn = oidc_arn(&op.account, &url);
    let out_tags = tags_out(&tags);
    let mut dedup = Vec::new();
    for c in client_ids {
        if !dedup.contains(&c) {
            dedup.push(c);
        }
    }
    put_oidc(
        op,
        OidcProvider {
            url,
            client_ids: dedup,
            thumbprints,
            created: op.now,
            tags,
        },
    );
    Ok(json!({"OpenIDConnectProviderArn": arn, "Tags": out_tags}))
}

pub fn get_oidc(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = oidc(op)?;
    Ok(json!({
        "Url": p.url, "ClientIDList": p.client_ids, "ThumbprintList": p.thumbprints,
        "CreateDate": date(p.created), "Tags": tags_out(&p.tags),
    }))
}

pub fn list_oidc(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let list: Vec<Value> = op
        .by_id(OIDC, |r| match r {
            IamRecord::Oidc(p) => Some(&**p),
            _ => None,
        })
        .iter()
        .map(|p| json!({"Arn": oidc_arn(&op.account, &p.url)}))
        .collect();
    Ok(json!({ "OpenIDConnectProviderList": list }))
}

pub fn add_client_id(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = oidc(op)?;
    let id = op.s("ClientID").to_string();
    if !p.client_ids.contains(&id) {
        if p.client_ids.len() >= MAX_CLIENT_IDS {
            return Err(limit(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100",
            ));
        }
        p.client_ids.push(id);
        put_oidc(op, p);
    }
    done()
}

pub fn remove_client_id(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = oidc(op)?;
    let id = op.s("ClientID").to_string();
    if p.client_ids.contains(&id) {
        p.client_ids.retain(|c| *c != id);
        put_oidc(op, p);
    }
    done()
}

pub fn update_thumbprints(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = oidc(op)?;
    let list = strings(op.input, "ThumbprintList");
    if list.len() > MAX_THUMBPRINTS {
        return Err(limit(format!(
            "Thumbprint list must contain fewer than {} entries",
            MAX_THUMBPRINTS + 1
        )));
    }
    p.thumbprints = list;
    put_oidc(op, p);
    done()
}

pub fn delete_oidc(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    // Deleting a provider that does not exist succeeds (as IAM's does).
    if let Ok(p) = oidc(op) {
        op.txn.remove(&id_key(&op.account, OIDC, &p.url));
    }
    done()
}

fn saml_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:saml-provider/{name}")
}

/// The metadata's `validUntil`, else 100 years after `now`.
fn valid_until(metadata: &str, now: u64) -> u64 {
    metadata
        .find("validUntil=\"")
        .and_then(|i| {
            let rest = &metadata[i + 12..];
            let end = rest.find('"')?;
            parse_iso8601(&rest[..end])
        })
        .map(|ms| ms.max(0) as u64)
        .unwrap_or(now + 100 * 365 * 86_400_000)
}

fn saml(op: &Op<'_, '_>) -> Result<SamlProvider, AwsError> {
    let arn = op.s("SAMLProviderArn");
    let name = saml_name(op, arn).unwrap_or("");
    op.saml(name)
        .map_err(|_| no_such(format!("SAMLProvider {name} cannot be found.")))
}

fn check_metadata(doc: &str) -> Result<(), AwsError> {
    if !doc.contains("EntityDescriptor") {
        return Err(invalid_input("Could not parse metadata"));
    }
    Ok(())
}

pub fn create_saml(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("Name").to_string();
    let metadata = op.s("SAMLMetadataDocument").to_string();
    check_metadata(&metadata)?;
    if op.has(SAML, &name) {
        return Err(exists(format!("SAMLProvider {name} already exists")));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let out_tags = tags_out(&tags);
    let p = SamlProvider {
        name: name.clone(),
        valid_until: valid_until(&metadata, op.now),
        metadata,
        uuid: format!("{:016x}{:016x}", random_u64(), random_u64()),
        created: op.now,
        tags,
    };
    op.put_saml(p);
    Ok(json!({"SAMLProviderArn": saml_arn(&op.account, &name), "Tags": out_tags}))
}

pub fn get_saml(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = saml(op)?;
    Ok(json!({
        "SAMLMetadataDocument": p.metadata, "CreateDate": date(p.created),
        "ValidUntil": date(p.valid_until), "Tags": tags_out(&p.tags),
        "SAMLProviderUUID": p.uuid,
    }))
}

pub fn list_saml(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let list: Vec<Value> = op
        .samls()
        .iter()
        .map(|p| {
            json!({"Arn": saml_arn(&op.account, &p.name), "ValidUntil": date(p.valid_until), "CreateDate": date(p.created)})
        })
        .collect();
    Ok(json!({ "SAMLProviderList": list }))
}

pub fn update_saml(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = saml(op)?;
    if let Some(doc) = op.opt("SAMLMetadataDocument") {
        check_metadata(doc)?;
        p.valid_until = valid_until(doc, op.now);
        p.metadata = doc.to_string();
    }
    let arn = saml_arn(&op.account, &p.name);
    op.put_saml(p);
    Ok(json!({ "SAMLProviderArn": arn }))
}

pub fn delete_saml(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = saml(op)?;
    op.remove(SAML, &p.name);
    done()
}

/// The `notAfter` of a PEM certificate (epoch ms), read from its DER: Certificate ->
/// TBSCertificate -> [version] serial signature issuer validity.
fn not_after(pem: &str) -> Option<u64> {
    let inner = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let b64: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()?;
    // (tag, content, rest) of the DER element at the start of `b`.
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, head) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let end = head.checked_add(len)?;
        Some((tag, b.get(head..end)?, b.get(end..)?))
    }
    let (_, cert, _) = element(&der)?;
    let (_, tbs, _) = element(cert)?;
    let (tag, _, mut rest) = element(tbs)?;
    if tag != 0xa0 {
        rest = tbs;
    }
    for _ in 0..3 {
        rest = element(rest)?.2; // serial, signature, issuer
    }
    let (_, validity, _) = element(rest)?;
    let (_, _, after) = element(validity)?;
    let (tag, time, _) = element(after)?;
    let text = std::str::from_utf8(time).ok()?;
    let full = match tag {
        0x17 if text.len() >= 12 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{text}")
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        full.get(..4)?,
        full.get(4..6)?,
        full.get(6..8)?,
        full.get(8..10)?,
        full.get(10..12)?,
        full.get(12..14)?
    );
    parse_iso8601(&iso).map(|ms| ms.max(0) as u64)
}

fn cert_meta(op: &Op<'_, '_>, c: &ServerCert) -> Value {
    json!({
        "Path": c.path, "ServerCertificateName": c.name, "ServerCertificateId": c.id,
        "Arn": arn(&op.account, "server-certificate", &c.path, &c.name),
        "UploadDate": date(c.uploaded), "Expiration": date(c.expiration),
    })
}

pub fn upload_server_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("ServerCertificateName").to_string();
    let body = op.s("CertificateBody").to_string();
    if !is_pem_certificate(&body) {
        return Err(AwsError::new(
            "MalformedCertificate",
            "Certificate body is invalid.",
        ));
    }
    if !op.s("PrivateKey").contains("PRIVATE KEY-----") {
        return Err(AwsError::new(
            "MalformedCertificate",
            "Private key is invalid.",
        ));
    }
    if op.has(SERVER_CERT, &name) {
        return Err(exists(format!(
            "The Server Certificate with name {name} already exists."
        )));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let c = ServerCert {
        name,
        id: new_id("ASCA"),
        path: path(op.input),
        expiration: not_after(&body).unwrap_or(op.now + 365 * 86_400_000),
        body,
        chain: op.opt("CertificateChain").map(str::to_string),
        uploaded: op.now,
        tags,
    };
    let out = json!({"ServerCertificateMetadata": cert_meta(op, &c), "Tags": tags_out(&c.tags)});
    op.put_server_cert(c);
    Ok(out)
}

pub fn get_server_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let c = op.server_cert(op.s("ServerCertificateName"))?;
    let mut out = json!({
        "ServerCertificateMetadata": cert_meta(op, &c), "CertificateBody": c.body,
        "Tags": tags_out(&c.tags),
    });
    if let Some(chain) = &c.chain {
        out["CertificateChain"] = json!(chain);
    }
    Ok(json!({ "ServerCertificate": out }))
}

pub fn list_server_certs(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op
        .server_certs()
        .iter()
        .filter(|c| under(op.input, &c.path))
        .map(|c| cert_meta(op, c))
        .collect();
    Ok(page(op.input, "ServerCertificateMetadataList", items))
}

pub fn update_server_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut c = op.server_cert(op.s("ServerCertificateName"))?;
    if let Some(p) = op.opt("NewPath") {
        c.path = p.to_string();
    }
    if let Some(new) = op.opt("NewServerCertificateName").map(str::to_string)
        && new != c.name
    {
        if !new.eq_ignore_ascii_case(&c.name) && op.has(SERVER_CERT, &new) {
            return Err(exists(format!(
                "The Server Certificate with name {new} already exists."
            )));
        }
        op.remove(SERVER_CERT, &c.name.clone());
        c.name = new;
    }
    op.put_server_cert(c);
    done()
}

pub fn delete_server_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let c = op.server_cert(op.s("ServerCertificateName"))?;
    op.remove(SERVER_CERT, &c.name);
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (`openssl req -x509 -days 3000`), valid until
    /// 2035-02-22T17:56:58Z.
    pub const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB+jCCAWOgAwIBAgIUdhWNMmyMQ7VFh2bdPpGx+DwREBYwDQYJKoZIhvcNAQEL\nBQAwDzENMAsGA1UEAwwEdGVzdDAeFw0yNjEyMDYxNzU2NThaFw0zNTAyMjIxNzU2\nNThaMA8xDTALBgNVBAMMBHRlc3QwgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGB\nAMRN/rnrSkHbNq8/eMYVlhe3sJ+K/ZJoZDcbieGyjY3YiheZK2QThQHFfJJCKKFt\nMfqRki00BYNz10HHehqd7176Xvsh+3Hcsi5qeIBo9ezXYxxcI67WquAKnsxBJ3cD\n+6mxZoMdkue2MWjp62tu1MOOMFIAo08lFRHwkeQSI3KBAgMBAAGjUzBRMB0GA1Ud\nDgQWBBT8DyIBBWwssf3SUw8l+iemunKEhjAfBgNVHSMEGDAWgBT8DyIBBWwssf3S\nUw8l+iemunKEhjAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBAJsT\n3xqKJr1YblHDoqOXb1RtI7pOT5UwGGRyOXRGeydgNqi0X9794fHgB+5LDIJ9IxYi\numpZ2jQ3Ky7JAPWPAf1/T4Dpiwn7018ct5XU+AVWj64n2t2HmDXRpBxPFQ9h95Fv\nHVRFRrQALguowV9sam2vsLQGh5Ic/5L6MJu2lMvs\n-----END CERTIFICATE-----";

    #[test]
    fn not_after_is_read_from_the_certificate() {
        assert_eq!(
            not_after(CERT),
            parse_iso8601("2035-02-22T17:56:58Z").map(|m| m as u64)
        );
        assert!(is_pem_certificate(CERT));
        assert_eq!(not_after("not a cert"), None);
        assert_eq!(
            not_after("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            None
        );
        assert_eq!(
            valid_until(r#"<EntityDescriptor validUntil="2030-01-02T03:04:05Z">"#, 0),
            1_893_553_445_000
        );
    }
}

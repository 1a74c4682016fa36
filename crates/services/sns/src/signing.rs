//! Message signatures as AWS makes them: one RSA-2048 signing key per region, generated once
//! and kept as a record of the store ([`SnsRecord::SigningKey`], so it survives restarts), and
//! a self-signed X.509 certificate for it, served at the `SigningCertURL`
//! (`/_aws/sns/SimpleNotificationService-<region>.pem`).
//!
//! The string to sign is AWS's (<https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>):
//! for a `Notification`, `Message`, `MessageId`, `Subject` (if any), `Timestamp`, `TopicArn`,
//! `Type`; for a `SubscriptionConfirmation` or `UnsubscribeConfirmation`, `Message`,
//! `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`; each as its name, a
//! newline, its value, a newline. `SignatureVersion` 1 signs it with SHA1withRSA, 2 with
//! SHA256withRSA (the topic attribute `SignatureVersion` chooses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use pkcs8::EncodePrivateKey;
use serde_json::{Map, Value, json};
use snapstack_engine::Key;
use snapstack_protocol::errors::AwsError;

use crate::Sns;
use crate::model::SnsRecord;

/// The size of the signing keys.
const KEY_BITS: usize = 2048;

/// The key of a region's signing key record.
pub fn signing_key(region: &str) -> Key {
    Key::builder().str("signing").str(region).build()
}

/// A region's signing key, parsed (OpenSSL's, for its speed: a signature is made for every
/// published message), and its certificate.
pub struct Signer {
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    pub cert_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    fn from_record(private_pkcs8: &[u8], cert_pem: &str) -> Result<Self, String> {
        let key = openssl::pkey::PKey::private_key_from_pkcs8(private_pkcs8)
            .map_err(|e| e.to_string())?;
        if key.rsa().map_err(|e| e.to_string())?.size() * 8 != KEY_BITS as u32 {
            return Err("the stored signing key is not RSA-2048".into());
        }
        Ok(Signer {
            key,
            cert_pem: cert_pem.to_string(),
        })
    }

    /// A new key and its certificate: (PKCS#8 DER, certificate PEM).
    fn generate(region: &str) -> Result<(Vec<u8>, String), String> {
        let key =
            rsa::PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(|e| e.to_string())?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec();
        let pair = rcgen::KeyPair::try_from(der.as_slice()).map_err(|e| e.to_string())?;
        let name = format!("sns.{region}.amazonaws.com");
        let mut params =
            rcgen::CertificateParams::new(vec![name.clone()]).map_err(|e| e.to_string())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "snapstack");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        let cert = params.self_signed(&pair).map_err(|e| e.to_string())?;
        Ok((der, cert.pem()))
    }

    /// The base64 signature of `text` for a `SignatureVersion` ("2": SHA256withRSA, else
    /// SHA1withRSA).
    pub fn sign(&self, version: &str, text: &str) -> String {
        let digest = if version == "2" {
            openssl::hash::MessageDigest::sha256()
        } else {
            openssl::hash::MessageDigest::sha1()
        };
        // Signing with a valid RSA key (checked when parsed) cannot fail.
        let sig = openssl::sign::Signer::new(digest, &self.key)
            .and_then(|mut s| s.sign_oneshot_to_vec(text.as_bytes()))
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(sig)
    }
}

/// The string to sign of an envelope, as AWS documents it.
pub fn string_to_sign(env: &Map<String, Value>) -> String {
    let keys: &[&str] = match env.get("Type").and_then(Value::as_str) {
        Some("Notification") => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    };
    let mut text = String::new();
    for k in keys {
        if let Some(Value::String(v)) = env.get(*k) {
            text.push_str(k);
            text.push('\n');
            text.push_str(v);
            text.push('\n');
        }
    }
    text
}

/// Signatures computed ahead of a write (signing is slow; the store's write lock is not held
/// for it), by string to sign; what is missing is signed when asked.
pub(crate) struct Signatures<'a> {
    pub signer: &'a Signer,
    pub version: &'a str,
    done: Mutex<HashMap<String, String>>,
}

impl<'a> Signatures<'a> {
    pub fn new(signer: &'a Signer, version: &'a str) -> Self {
        Signatures {
            signer,
            version,
            done: Mutex::new(HashMap::new()),
        }
    }

    /// Sign `text` now, for a later [`Signatures::get`].
    pub fn prepare(&self, text: String) {
        if self.done.lock().is_ok_and(|d| d.contains_key(&text)) {
            return;
        }
        let sig = self.signer.sign(self.version, &text);
        if let Ok(mut d) = self.done.lock() {
            d.insert(text, sig);
        }
    }

    pub fn get(&self, text: &str) -> String {
        if let Some(s) = self.done.lock().ok().and_then(|d| d.get(text).cloned()) {
            return s;
        }
        self.signer.sign(self.version, text)
    }

    /// Sign an envelope: `SignatureVersion`, `Signature`, `SigningCertURL`.
    pub fn apply(&self, env: &mut Map<String, Value>, host: &str, region: &str) {
        let sig = self.get(&string_to_sign(env));
        let version = if self.version == "2" { "2" } else { "1" };
        env.insert("SignatureVersion".into(), json!(version));
        env.insert("Signature".into(), json!(sig));
        env.insert("SigningCertURL".into(), json!(cert_url(host, region)));
    }
}

/// Where a region's certificate is served.
pub fn cert_url(host: &str, region: &str) -> String {
    format!("http://{host}/_aws/sns/SimpleNotificationService-{region}.pem")
}

/// The region of a certificate path (`/_aws/sns/SimpleNotificationService-<region>.pem`).
pub fn region_of_cert_path(path: &str) -> Option<&str> {
    let region = path
        .strip_prefix("/_aws/sns/SimpleNotificationService-")?
        .strip_suffix(".pem")?;
    (!region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(region)
}

/// Parsed signers, by region, with the certificate of the record they were parsed from.
#[derive(Default)]
pub(crate) struct SignerCache {
    by_region: Mutex<HashMap<String, Arc<Signer>>>,
}

impl Sns {
    /// A region's signer: the stored key, or a new one (generated outside the store's write
    /// lock, then stored unless another request stored one first).
    pub(crate) fn signer(&self, region: &str) -> Result<Arc<Signer>, AwsError> {
        let key = signing_key(region);
        let internal = |e: String| {
            AwsError::new("InternalError", e)
                .with_status(snapstack_protocol::http::StatusCode::INTERNAL_SERVER_ERROR)
        };
        let stored = |snap: &SnsRecord| match snap {
            SnsRecord::SigningKey {
                private_pkcs8,
                cert_pem,
            } => Some((private_pkcs8.clone(), cert_pem.clone())),
            _ => None,
        };
        let found = self.store.snapshot().get(&key).and_then(stored);
        if let Some((der, pem)) = &found {
            if let Some(s) = self
                .signers
                .by_region
                .lock()
                .ok()
                .and_then(|m| m.get(region).cloned())
                .filter(|s| &s.cert_pem == pem)
            {
                return Ok(s);
            }
            let s = Arc::new(Signer::from_record(der, pem).map_err(internal)?);
            if let Ok(mut m) = self.signers.by_region.lock() {
                m.insert(region.to_string(), s.clone());
            }
            return Ok(s);
        }
        let (der, pem) = Signer::generate(region).map_err(internal)?;
        let (kept, _) = self.store.write(|txn| {
            if let Some(r) = txn.get(&key).and_then(stored) {
                return r;
            }
            txn.insert(
                key.clone(),
                SnsRecord::SigningKey {
                    private_pkcs8: der.clone(),
                    cert_pem: pem.clone(),
                },
            );
            (der.clone(), pem.clone())
        });
        let s = Arc::new(Signer::from_record(&kept.0, &kept.1).map_err(internal)?);
        if let Ok(mut m) = self.signers.by_region.lock() {
            m.insert(region.to_string(), s.clone());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::DecodePrivateKey;
    use sha2::Digest;

    #[test]
    fn strings_to_sign_are_aws_s() {
        let env = json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi",
            "Timestamp": "2020-01-01T00:00:00.000Z", "UnsubscribeURL": "u",
        });
        assert_eq!(
            string_to_sign(env.as_object().unwrap()),
            "Message\nhi\nMessageId\nm\nTimestamp\n2020-01-01T00:00:00.000Z\nTopicArn\nt\nType\nNotification\n"
        );
        let env = json!({
            "Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t", "Message": "hi",
            "Timestamp": "ts", "Token": "tok", "SubscribeURL": "s",
        });
        assert_eq!(
            string_to_sign(env.as_object().unwrap()),
            "Message\nhi\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        );
    }

    #[test]
    fn cert_paths_name_a_region() {
        assert_eq!(
            region_of_cert_path("/_aws/sns/SimpleNotificationService-eu-west-1.pem"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_cert_path("/_aws/sns/SimpleNotificationService-.pem"),
            None
        );
        assert_eq!(
            region_of_cert_path("/_aws/sns/SimpleNotificationService-a/b.pem"),
            None
        );
    }

    #[test]
    fn signatures_verify_with_the_certificate_key_and_the_key_is_kept() {
        let sns = Sns::new();
        let a = sns.signer("us-east-1").unwrap();
        let b = sns.signer("us-east-1").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let snap = sns.store.snapshot();
        let Some(SnsRecord::SigningKey { private_pkcs8, .. }) = snap.get(&signing_key("us-east-1"))
        else {
            panic!("no signing key record");
        };
        // Checked by another implementation (RustCrypto's) than the one that signed.
        let public = rsa::PrivateKey::from_pkcs8_der(private_pkcs8)
            .unwrap()
            .to_public_key();
        let text = "Message\nhi\n";
        for version in ["1", "2"] {
            let sig = base64::engine::general_purpose::STANDARD
                .decode(a.sign(version, text))
                .unwrap();
            let ok = if version == "2" {
                public.pkcs1v15_verify_prehash::<sha2::Sha256>(
                    &sha2::Sha256::digest(text.as_bytes()),
                    &sig,
                )
            } else {
                public.pkcs1v15_verify_prehash::<sha1::Sha1>(
                    &sha1::Sha1::digest(text.as_bytes()),
                    &sig,
                )
            };
            assert!(ok.is_ok(), "version {version}");
        }
        // The record is what a restart finds: a fresh cache parses the same key.
        let fresh = Sns::new();
        let snap = sns.store.snapshot();
        let rec = snap.get(&signing_key("us-east-1")).unwrap().clone();
        fresh
            .store
            .write(|txn| txn.insert(signing_key("us-east-1"), rec));
        assert_eq!(fresh.signer("us-east-1").unwrap().cert_pem, a.cert_pem);
    }
}

//! Tags of every taggable resource: users, roles, customer managed policies, instance profiles,
//! MFA devices, OpenID Connect and SAML providers, server certificates
//! (`Tag<Kind>`, `Untag<Kind>`, `List<Kind>Tags`).

use serde_json::{Value, json};
use snapstack_engine::Key;
use snapstack_protocol::errors::AwsError;

use crate::model::*;
use crate::util::*;
use crate::{Op, done};

/// What a tagging operation addresses (the `<Kind>` of its name).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Taggable {
    User,
    Role,
    Policy,
    InstanceProfile,
    MfaDevice,
    Oidc,
    Saml,
    ServerCertificate,
}

impl Taggable {
    /// The kind an operation's name ends with, and the operation's verb.
    pub fn of_operation(op: &str) -> Option<(Taggable, &'static str)> {
        let (verb, rest) = if let Some(r) = op.strip_prefix("Untag") {
            ("untag", r)
        } else if let Some(r) = op.strip_prefix("Tag") {
            ("tag", r)
        } else if let Some(r) = op.strip_prefix("List").and_then(|r| r.strip_suffix("Tags")) {
            ("list", r)
        } else {
            return None;
        };
        let kind = match rest {
            "User" => Taggable::User,
            "Role" => Taggable::Role,
            "Policy" => Taggable::Policy,
            "InstanceProfile" => Taggable::InstanceProfile,
            "MFADevice" => Taggable::MfaDevice,
            "OpenIDConnectProvider" => Taggable::Oidc,
            "SAMLProvider" => Taggable::Saml,
            "ServerCertificate" => Taggable::ServerCertificate,
            _ => return None,
        };
        Some((kind, verb))
    }
}

/// The OIDC provider URL an ARN names (`arn:aws:iam::<account>:oidc-provider/<url>`).
pub fn oidc_url<'a>(op: &Op<'_, '_>, arn: &'a str) -> Option<&'a str> {
    arn.strip_prefix(&format!("arn:aws:iam::{}:oidc-provider/", op.account))
}

/// The SAML provider name an ARN names.
pub fn saml_name<'a>(op: &Op<'_, '_>, arn: &'a str) -> Option<&'a str> {
    arn.strip_prefix(&format!("arn:aws:iam::{}:saml-provider/", op.account))
}

fn target(op: &Op<'_, '_>, kind: Taggable) -> Result<(Key, IamRecord), AwsError> {
    let a = &op.account;
    let (key, missing) = match kind {
        Taggable::User => {
            let n = op.s("UserName");
            (
                named_key(a, USER, n),
                format!("The user with name {n} cannot be found."),
            )
        }
        Taggable::Role => {
            let n = op.s("RoleName");
            (
                named_key(a, ROLE, n),
                format!("The role with name {n} cannot be found."),
            )
        }
        Taggable::InstanceProfile => {
            let n = op.s("InstanceProfileName");
            (
                named_key(a, PROFILE, n),
                format!("Instance Profile {n} cannot be found."),
            )
        }
        Taggable::ServerCertificate => {
            let n = op.s("ServerCertificateName");
            (
                named_key(a, SERVER_CERT, n),
                format!("The Server Certificate with name {n} cannot be found."),
            )
        }
        Taggable::MfaDevice => {
            let n = op.s("SerialNumber");
            (
                id_key(a, MFA, n),
                format!("MFA device with serial number {n} cannot be found."),
            )
        }
        Taggable::Policy => {
            let arn = op.s("PolicyArn");
            let name = arn
                .strip_prefix(&format!("arn:aws:iam::{a}:policy/"))
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or("");
            (
                named_key(a, POLICY, name),
                format!("Policy {arn} was not found."),
            )
        }
        Taggable::Oidc => {
            let arn = op.s("OpenIDConnectProviderArn");
            let url = oidc_url(op, arn).unwrap_or("");
            (
                id_key(a, OIDC, url),
                format!("OpenIDConnect Provider not found for arn {arn}"),
            )
        }
        Taggable::Saml => {
            let arn = op.s("SAMLProviderArn");
            let name = saml_name(op, arn).unwrap_or("");
            (
                named_key(a, SAML, name),
                format!("SAMLProvider {name} cannot be found."),
            )
        }
    };
    match op.txn.get(&key) {
        Some(r) if tags_of(r).is_some() => Ok((key, r.clone())),
        _ => Err(no_such(missing)),
    }
}

fn tags_of(r: &IamRecord) -> Option<&Tags> {
    Some(match r {
        IamRecord::User(u) => &u.tags,
        IamRecord::Role(r) => &r.tags,
        IamRecord::Policy(p) => &p.tags,
        IamRecord::InstanceProfile(p) => &p.tags,
        IamRecord::Mfa(m) => &m.tags,
        IamRecord::Oidc(o) => &o.tags,
        IamRecord::Saml(s) => &s.tags,
        IamRecord::ServerCert(c) => &c.tags,
        _ => return None,
    })
}

fn tags_mut(r: &mut IamRecord) -> Option<&mut Tags> {
    Some(match r {
        IamRecord::User(u) => &mut u.tags,
        IamRecord::Role(r) => &mut r.tags,
        IamRecord::Policy(p) => &mut p.tags,
        IamRecord::InstanceProfile(p) => &mut p.tags,
        IamRecord::Mfa(m) => &mut m.tags,
        IamRecord::Oidc(o) => &mut o.tags,
        IamRecord::Saml(s) => &mut s.tags,
        IamRecord::ServerCert(c) => &mut c.tags,
        _ => return None,
    })
}

pub fn run(op: &mut Op<'_, '_>, kind: Taggable, verb: &str) -> Result<Value, AwsError> {
    let (key, mut record) = target(op, kind)?;
    match verb {
        "list" => {
            let tags = tags_of(&record).cloned().unwrap_or_default();
            let items = match tags_out(&tags) {
                Value::Array(a) => a,
                _ => vec![],
            };
            Ok(page(op.input, "Tags", items))
        }
        "tag" => {
            let new = tags_in(op.input, "Tags");
            if let Some(tags) = tags_mut(&mut record) {
                merge_tags(tags, new)?;
            }
            op.txn.insert(key, record);
            done()
        }
        _ => {
            let keys = strings(op.input, "TagKeys");
            if let Some(tags) = tags_mut(&mut record) {
                remove_tags(tags, &keys);
            }
            op.txn.insert(key, record);
            Ok(json!({}))
        }
    }
}

//! Bucket configurations that S3 keeps and returns as documents: the ACL (from a body or a canned
//! `x-amz-acl`), ownership controls, the public access block, default encryption, request
//! payment and transfer acceleration. Each is validated as S3 validates it (root element, enum
//! values), stored as one record, returned by its Get (or S3's default when none was set), and
//! removed by its Delete or with the bucket. Access is not evaluated (as with bucket policies,
//! until IAM enforcement exists), so these settings change what is reported, not who may act.

use serde_json::{Value, json};
use snapstack_protocol::body::Bytes;
use snapstack_protocol::http::StatusCode;
use snapstack_protocol::response::Response;

use super::model::{BucketConfig, S3Record, keys};
use super::out::{self, reply};
use super::subres::{self, malformed};
use super::{Req, S3, S3Error, S3Result};

/// A bucket configuration kept as a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Acl,
    OwnershipControls,
    PublicAccessBlock,
    Encryption,
    RequestPayment,
    Accelerate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Acl => "acl",
            Kind::OwnershipControls => "ownershipControls",
            Kind::PublicAccessBlock => "publicAccessBlock",
            Kind::Encryption => "encryption",
            Kind::RequestPayment => "requestPayment",
            Kind::Accelerate => "accelerate",
        }
    }

    /// The root element of the document (the codec checks it by the model).
    #[cfg(test)]
    fn root(self) -> &'static str {
        match self {
            Kind::Acl => "AccessControlPolicy",
            Kind::OwnershipControls => "OwnershipControls",
            Kind::PublicAccessBlock => "PublicAccessBlockConfiguration",
            Kind::Encryption => "ServerSideEncryptionConfiguration",
            Kind::RequestPayment => "RequestPaymentConfiguration",
            Kind::Accelerate => "AccelerateConfiguration",
        }
    }

    /// The Put operation whose payload this document is.
    fn put_operation(self) -> &'static str {
        match self {
            Kind::Acl => "PutBucketAcl",
            Kind::OwnershipControls => "PutBucketOwnershipControls",
            Kind::PublicAccessBlock => "PutPublicAccessBlock",
            Kind::Encryption => "PutBucketEncryption",
            Kind::RequestPayment => "PutBucketRequestPayment",
            Kind::Accelerate => "PutBucketAccelerateConfiguration",
        }
    }

    /// What a Get answers when nothing was set: S3's default (the neutral value of the Put's
    /// payload), or its error.
    fn default_value(self, r: &Req<'_>) -> S3Result<Value> {
        let not_found = |code: &'static str, message: &str| {
            S3Error::new(StatusCode::NOT_FOUND, code, message).with("BucketName", r.bucket())
        };
        match self {
            Kind::Acl => Ok(canned_acl(r.account(), "private").unwrap_or_default()),
            // Since April 2023 a new bucket enforces bucket ownership, and S3 encrypts new objects
            // with SSE-S3 by default.
            Kind::OwnershipControls => Ok(json!({
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
            })),
            Kind::Encryption => Ok(json!({
                "Rules": [{
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                    "BucketKeyEnabled": false,
                }]
            })),
            Kind::PublicAccessBlock => Err(not_found(
                "NoSuchPublicAccessBlockConfiguration",
                "The public access block configuration was not found",
            )),
            Kind::RequestPayment => Ok(json!({"Payer": "BucketOwner"})),
            Kind::Accelerate => Ok(json!({})),
        }
    }

    /// S3's checks of a document of this kind (the neutral value of the Put's payload, read
    /// by the codec, which also checked the root element and the booleans).
    fn check(self, v: &Value) -> S3Result<()> {
        let one_of = |value: Option<&Value>, allowed: &[&str]| match value.and_then(Value::as_str) {
            Some(v) if allowed.contains(&v) => Ok(()),
            _ => Err(malformed()),
        };
        let rules = || {
            v.get("Rules")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        match self {
            Kind::Acl => {
                if v.get("Owner").is_none() && v.get("Grants").is_none() {
                    return Err(malformed());
                }
                let grants = v.get("Grants").and_then(Value::as_array);
                for grant in grants.into_iter().flatten() {
                    one_of(
                        grant.get("Permission"),
                        &["FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP"],
                    )?;
                }
                Ok(())
            }
            Kind::OwnershipControls => match rules() {
                [rule] => one_of(
                    rule.get("ObjectOwnership"),
                    &[
                        "BucketOwnerPreferred",
                        "ObjectWriter",
                        "BucketOwnerEnforced",
                    ],
                ),
                _ => Err(malformed()),
            },
            Kind::PublicAccessBlock => Ok(()),
            Kind::Encryption => {
                if rules().is_empty() {
                    return Err(malformed());
                }
                for rule in rules() {
                    if let Some(d) = rule.get("ApplyServerSideEncryptionByDefault") {
                        one_of(
                            d.get("SSEAlgorithm"),
                            &["AES256", "aws:kms", "aws:kms:dsse"],
                        )?;
                    }
                }
                Ok(())
            }
            Kind::RequestPayment => one_of(v.get("Payer"), &["Requester", "BucketOwner"]),
            Kind::Accelerate => one_of(v.get("Status"), &["Enabled", "Suspended"]),
        }
    }
}

/// A canned ACL as the neutral value of an `AccessControlPolicy`; `None` for an unknown name.
fn canned_acl(owner: &str, canned: &str) -> Option<Value> {
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
    let group = |uri: &str, permission: &str| json!({"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission});
    let mut grants = vec![json!({
        "Grantee": {"Type": "CanonicalUser", "ID": owner, "DisplayName": "snapstack"},
        "Permission": "FULL_CONTROL",
    })];
    match canned {
        "private" | "bucket-owner-read" | "bucket-owner-full-control" => {}
        "public-read" => grants.push(group(ALL_USERS, "READ")),
        "public-read-write" => {
            grants.push(group(ALL_USERS, "READ"));
            grants.push(group(ALL_USERS, "WRITE"));
        }
        "authenticated-read" => grants.push(group(AUTHENTICATED, "READ")),
        "log-delivery-write" => {
            grants.push(group(LOG_DELIVERY, "WRITE"));
            grants.push(group(LOG_DELIVERY, "READ_ACP"));
        }
        _ => return None,
    }
    Some(json!({"Owner": out::owner(owner), "Grants": grants}))
}

/// The grants of `x-amz-grant-*` headers (`id="…"`, `uri="…"`, `emailAddress="…"`, comma
/// separated), as the model's `Grant` values.
fn grants_from_headers(r: &Req<'_>) -> S3Result<Vec<Value>> {
    let mut out = Vec::new();
    for (header, permission) in [
        ("x-amz-grant-full-control", "FULL_CONTROL"),
        ("x-amz-grant-read", "READ"),
        ("x-amz-grant-read-acp", "READ_ACP"),
        ("x-amz-grant-write", "WRITE"),
        ("x-amz-grant-write-acp", "WRITE_ACP"),
    ] {
        let Some(value) = r.h(header) else { continue };
        for grantee in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let bad = || {
                S3Error::invalid_argument("Invalid grantee in a grant header")
                    .with("ArgumentName", header)
                    .with("ArgumentValue", grantee)
            };
            let (kind, v) = grantee.split_once('=').ok_or_else(bad)?;
            let v = v.trim().trim_matches('"');
            let who = match kind.trim() {
                "id" => json!({"Type": "CanonicalUser", "ID": v}),
                "uri" => json!({"Type": "Group", "URI": v}),
                "emailAddress" => json!({"Type": "AmazonCustomerByEmail", "EmailAddress": v}),
                _ => return Err(bad()),
            };
            out.push(json!({"Grantee": who, "Permission": permission}));
        }
    }
    Ok(out)
}

impl S3 {
    /// Change the record of a bucket's `kind` configuration in one store write, if the bucket
    /// exists; returns the store version.
    fn in_bucket(
        &self,
        r: &Req<'_>,
        kind: Kind,
        f: impl FnOnce(&mut snapstack_engine::Txn<'_, S3Record>, snapstack_engine::Key),
    ) -> S3Result<u64> {
        let (bucket, acct) = (r.bucket(), r.account());
        let (res, v) = self.store.write(|t| {
            if !matches!(
                t.get(&keys::bucket(acct, bucket)),
                Some(S3Record::Bucket(_))
            ) {
                return Err(S3Error::no_such_bucket(bucket));
            }
            f(t, keys::config(acct, bucket, kind.name()));
            Ok(())
        });
        res.map(|()| v)
    }

    /// Put a configuration document (for ACLs, a canned `x-amz-acl` works as well).
    pub(super) fn put_config(
        &self,
        r: &Req<'_>,
        kind: Kind,
        doc: Bytes,
    ) -> S3Result<(Response, Option<u64>)> {
        let grant_headers = grants_from_headers(r)?;
        let document = match (kind, r.h("x-amz-acl")) {
            (Kind::Acl, None) if !grant_headers.is_empty() => out::write_document(
                kind.put_operation(),
                &json!({"Owner": out::owner(r.account()), "Grants": grant_headers}),
            )?,
            (Kind::Acl, Some(canned)) => {
                if !doc.is_empty() {
                    return Err(S3Error::bad(
                        "UnexpectedContent",
                        "This request does not support content",
                    ));
                }
                let acl = canned_acl(r.account(), canned).ok_or_else(|| {
                    S3Error::invalid_argument(format!("Invalid canned ACL: {canned}"))
                        .with("ArgumentName", "x-amz-acl")
                        .with("ArgumentValue", canned)
                })?;
                out::write_document(kind.put_operation(), &acl)?
            }
            // The client's document, read by the codec and checked, is kept as sent.
            _ => {
                let input = subres::read_input(r, &doc)?;
                let (member, _) = out::payload_shape(kind.put_operation())
                    .ok_or_else(|| S3Error::internal("a configuration without a payload"))?;
                kind.check(input.get(member).ok_or_else(malformed)?)?;
                String::from_utf8_lossy(&doc).into_owned()
            }
        };
        let v = self.in_bucket(r, kind, |t, key| {
            t.insert(
                key,
                S3Record::Config(BucketConfig {
                    kind: kind.name().to_string(),
                    document,
                }),
            );
        })?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }

    /// The configuration document, or S3's default (or error) when none was set.
    pub(super) fn get_config(&self, r: &Req<'_>, kind: Kind) -> S3Result<Response> {
        let snap = self.store.snapshot();
        if !matches!(
            snap.get(&keys::bucket(r.account(), r.bucket())),
            Some(S3Record::Bucket(_))
        ) {
            return Err(S3Error::no_such_bucket(r.bucket()));
        }
        match snap.get(&keys::config(r.account(), r.bucket(), kind.name())) {
            Some(S3Record::Config(c))
                if c.document.is_empty() && kind == Kind::OwnershipControls =>
            {
                Err(S3Error::new(
                    StatusCode::NOT_FOUND,
                    "OwnershipControlsNotFoundError",
                    "The bucket ownership controls were not found",
                )
                .with("BucketName", r.bucket()))
            }
            // Kept as the client sent it (or as the codec wrote a canned ACL): read back by
            // the model and answered by the codec.
            Some(S3Record::Config(c)) => {
                match out::read_document(kind.put_operation(), &c.document) {
                    Some(v) => reply(r.operation, &subres::wrap(r.operation, v)),
                    None => Ok(out::verbatim_xml(c.document.clone())),
                }
            }
            _ => reply(
                r.operation,
                &subres::wrap(r.operation, kind.default_value(r)?),
            ),
        }
    }

    /// Remove a configuration document (204 whether or not one was set, as S3 answers). Most
    /// kinds fall back to S3's default. Ownership controls are a setting every new bucket gets
    /// (BucketOwnerEnforced), and deleting them leaves none: kept as an empty document, so that
    /// the next Get answers 404 `OwnershipControlsNotFoundError` as S3 does (Terraform's
    /// `aws_s3_bucket_ownership_controls` waits for that 404 when it is destroyed).
    pub(super) fn delete_config(
        &self,
        r: &Req<'_>,
        kind: Kind,
    ) -> S3Result<(Response, Option<u64>)> {
        let v = self.in_bucket(r, kind, |t, key| {
            if kind == Kind::OwnershipControls {
                t.insert(
                    key,
                    S3Record::Config(BucketConfig {
                        kind: kind.name().to_string(),
                        document: String::new(),
                    }),
                );
            } else {
                t.remove(&key);
            }
        })?;
        Ok((reply(r.operation, &json!({}))?, Some(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls() {
        let public = canned_acl("000000000000", "public-read").unwrap();
        assert_eq!(
            public["Grants"][1]["Grantee"]["URI"],
            json!("http://acs.amazonaws.com/groups/global/AllUsers")
        );
        assert_eq!(public["Grants"][1]["Permission"], json!("READ"));
        assert!(canned_acl("1", "nope").is_none());
        let doc =
            out::write_document("PutBucketAcl", &canned_acl("1", "private").unwrap()).unwrap();
        let read = out::read_document("PutBucketAcl", &doc).unwrap();
        assert!(Kind::Acl.check(&read).is_ok());
        assert_eq!(
            out::read_document("PutBucketAcl", &doc),
            canned_acl("1", "private")
        );
    }

    /// The defaults are the documents S3 answers (as they were written by hand before).
    #[test]
    fn defaults_read_as_the_documents_s3_answers() {
        let ns = "http://s3.amazonaws.com/doc/2006-03-01/";
        for (kind, body, expected) in [
            (
                Kind::OwnershipControls,
                "<Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule>",
                json!({"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}),
            ),
            (
                Kind::Encryption,
                "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>",
                json!({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": false}]}),
            ),
            (
                Kind::RequestPayment,
                "<Payer>BucketOwner</Payer>",
                json!({"Payer": "BucketOwner"}),
            ),
            (Kind::Accelerate, "", json!({})),
        ] {
            let doc = format!("<{r} xmlns=\"{ns}\">{body}</{r}>", r = kind.root());
            assert_eq!(
                out::read_document(kind.put_operation(), &doc),
                Some(expected.clone()),
                "{kind:?}"
            );
            let written = out::write_document(kind.put_operation(), &expected).unwrap();
            assert!(
                written.contains(&format!("<{} xmlns=\"{ns}\">", kind.root())),
                "{written}"
            );
        }
    }

    #[test]
    fn documents_are_checked_as_s3_checks_them() {
        let check = |kind: Kind, doc: &str| {
            let v = out::read_document(kind.put_operation(), doc).ok_or_else(malformed)?;
            kind.check(&v)
        };
        assert!(check(Kind::OwnershipControls, "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>").is_ok());
        assert!(check(Kind::OwnershipControls, "<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>").is_err());
        assert!(
            check(
                Kind::Accelerate,
                "<AccelerateConfiguration><Status>Enabled</Status></AccelerateConfiguration>"
            )
            .is_ok()
        );
        assert!(
            check(
                Kind::Accelerate,
                "<AccelerateConfiguration></AccelerateConfiguration>"
            )
            .is_err()
        );
        assert!(check(Kind::PublicAccessBlock, "<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>").is_err());
        assert!(check(Kind::PublicAccessBlock, "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>").is_ok());
        assert!(check(Kind::Encryption, "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>").is_ok());
        assert!(check(Kind::Encryption, "<ServerSideEncryptionConfiguration/>").is_err());
        assert!(check(Kind::Acl, "<AccessControlPolicy><AccessControlList><Grant><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>").is_err());
    }
}

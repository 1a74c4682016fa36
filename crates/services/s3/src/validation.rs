//! The request headers and query parameters S3 checks before it acts: enum-valued headers
//! (canned ACLs, server-side encryption, storage class, Object Lock mode and legal hold,
//! checksum algorithm and type, object ownership, bucket namespace, request payer) and the bounds of
//! ListBuckets' and ListDirectoryBuckets' parameters, each refused with S3's error.

use snapstack_protocol::model;

use crate::{Req, S3Error, S3Result};

/// The values the S3 model allows for an enum shape.
fn allowed(shape: &str) -> &'static [String] {
    model::s3()
        .shape(shape)
        .and_then(|s| s.enum_values.as_deref())
        .unwrap_or(&[])
}

fn is_one_of(shape: &str, v: &str) -> bool {
    allowed(shape).iter().any(|a| a == v)
}

fn invalid(header: &str, value: &str, message: &str) -> S3Error {
    S3Error::invalid_argument(message)
        .with("ArgumentName", header)
        .with("ArgumentValue", value)
}

/// A canned ACL header (`x-amz-acl`) of a bucket or object request.
fn check_acl(r: &Req<'_>, shape: &str) -> S3Result<()> {
    match r.h("x-amz-acl") {
        Some(v) if !is_one_of(shape, v) => Err(invalid("x-amz-acl", v, "")),
        _ => Ok(()),
    }
}

/// `x-amz-server-side-encryption` on a write.
pub(crate) fn check_sse(r: &Req<'_>) -> S3Result<()> {
    match r.h("x-amz-server-side-encryption") {
        Some(v) if !is_one_of("ServerSideEncryption", v) || v == "aws:fsx" => Err(invalid(
            "x-amz-server-side-encryption",
            v,
            "The encryption method specified is not supported",
        )),
        _ => Ok(()),
    }
}

/// The headers of a request that creates an object (PutObject, CopyObject,
/// CreateMultipartUpload).
pub(crate) fn check_object_write(r: &Req<'_>) -> S3Result<()> {
    check_acl(r, "ObjectCannedACL")?;
    check_sse(r)?;
    if let Some(v) = r.h("x-amz-storage-class")
        && !is_one_of("StorageClass", v)
    {
        return Err(S3Error::bad(
            "InvalidStorageClass",
            "The storage class you specified is not valid",
        )
        .with("StorageClassRequested", v));
    }
    if let Some(v) = r.h("x-amz-object-lock-mode")
        && !is_one_of("ObjectLockMode", v)
    {
        return Err(invalid(
            "x-amz-object-lock-mode",
            v,
            "Unknown wormMode directive.",
        ));
    }
    if let Some(v) = r.h("x-amz-object-lock-legal-hold")
        && !is_one_of("ObjectLockLegalHoldStatus", v)
    {
        return Err(invalid(
            "x-amz-object-lock-legal-hold",
            v,
            "Legal Hold must be either of 'ON' or 'OFF'",
        ));
    }
    if let Some(v) = r.h("x-amz-checksum-algorithm")
        && !is_one_of("ChecksumAlgorithm", &v.to_ascii_uppercase())
    {
        return Err(S3Error::invalid_request(
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        ));
    }
    if let Some(v) = r.h("x-amz-checksum-type")
        && !is_one_of("ChecksumType", &v.to_ascii_uppercase())
    {
        return Err(S3Error::invalid_request(
            "Value for x-amz-checksum-type header is invalid.",
        ));
    }
    Ok(())
}

/// Whether the S3 model's input of `operation` has a member named `member`.
fn takes(operation: &str, member: &str) -> bool {
    let m = model::s3();
    m.operations
        .get(operation)
        .and_then(|o| o.input.as_ref())
        .and_then(|i| m.shape(&i.shape))
        .is_some_and(|s| s.members.contains_key(member))
}

/// `x-amz-request-payer` on an operation that takes it (`RequestPayer`): only `requester`, the
/// model's one value, is accepted; anything else is refused as S3 refuses other enum-valued
/// headers, before the request acts.
pub(crate) fn check_request_payer(r: &Req<'_>) -> S3Result<()> {
    match r.h("x-amz-request-payer") {
        Some(v) if takes(r.operation, "RequestPayer") && !is_one_of("RequestPayer", v) => {
            Err(invalid(
                "x-amz-request-payer",
                v,
                &format!("Invalid x-amz-request-payer header: {v}"),
            ))
        }
        _ => Ok(()),
    }
}

/// The headers of CreateBucket.
pub(crate) fn check_create_bucket(r: &Req<'_>) -> S3Result<()> {
    check_acl(r, "BucketCannedACL")?;
    if let Some(v) = r.h("x-amz-object-ownership")
        && !is_one_of("ObjectOwnership", v)
    {
        return Err(invalid(
            "x-amz-object-ownership",
            v,
            &format!("Invalid x-amz-object-ownership header: {v}"),
        ));
    }
    if let Some(v) = r.h("x-amz-bucket-namespace")
        && !is_one_of("BucketNamespace", v)
    {
        return Err(invalid(
            "x-amz-bucket-namespace",
            v,
            &format!("Invalid x-amz-bucket-namespace header: {v}"),
        ));
    }
    Ok(())
}

/// An integer query parameter within `lo..=hi` (S3's `InvalidArgument` otherwise).
pub(crate) fn int_param(r: &Req<'_>, name: &str, lo: i64, hi: i64) -> S3Result<Option<i64>> {
    let Some(v) = r.q(name) else {
        return Ok(None);
    };
    match v.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(
            name,
            v,
            &format!("Argument {name} must be an integer between {lo} and {hi}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_come_from_the_model() {
        assert!(is_one_of("StorageClass", "GLACIER_IR"));
        assert!(!is_one_of("StorageClass", "NotOneOfTheEnumValues"));
        assert!(is_one_of("BucketCannedACL", "public-read"));
        assert!(!is_one_of("BucketCannedACL", "aws-exec-read"));
        assert!(is_one_of("ObjectLockMode", "COMPLIANCE"));
        assert!(is_one_of("ChecksumType", "FULL_OBJECT"));
        assert!(is_one_of("RequestPayer", "requester"));
        assert!(!is_one_of("RequestPayer", "NotOneOfTheEnumValues"));
    }

    #[test]
    fn request_payer_belongs_to_the_operations_that_take_it() {
        for op in [
            "CreateMultipartUpload",
            "GetObject",
            "PutObject",
            "UploadPart",
            "CompleteMultipartUpload",
            "ListObjectsV2",
            "DeleteObjects",
        ] {
            assert!(takes(op, "RequestPayer"), "{op}");
        }
        assert!(!takes("CreateBucket", "RequestPayer"));
        assert!(!takes("PutBucketVersioning", "RequestPayer"));
    }
}

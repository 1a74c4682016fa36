//! Which IAM action a request is: `<prefix>:<Operation>` by default, the prefix being the
//! service's IAM prefix (its signing name but for CloudWatch's `monitoring`), with the renames
//! AWS's Service Authorization Reference lists where an operation is authorized under another
//! action (S3's many, Lambda's `Invoke`).

use std::borrow::Cow;

/// The IAM prefix of a service, by its registry name.
pub fn prefix(service: &str) -> &str {
    match service {
        "cloudwatch" => "cloudwatch",
        other => other,
    }
}

/// S3 operations authorized under another action's name.
const S3: &[(&str, &str)] = &[
    ("ListObjects", "ListBucket"),
    ("ListObjectsV2", "ListBucket"),
    ("HeadBucket", "ListBucket"),
    ("ListObjectVersions", "ListBucketVersions"),
    ("ListBuckets", "ListAllMyBuckets"),
    ("ListDirectoryBuckets", "ListAllMyBuckets"),
    ("HeadObject", "GetObject"),
    ("GetObjectAttributes", "GetObjectAttributes"),
    ("SelectObjectContent", "GetObject"),
    ("CreateMultipartUpload", "PutObject"),
    ("UploadPart", "PutObject"),
    ("UploadPartCopy", "PutObject"),
    ("CompleteMultipartUpload", "PutObject"),
    ("CopyObject", "PutObject"),
    ("ListMultipartUploads", "ListBucketMultipartUploads"),
    ("ListParts", "ListMultipartUploadParts"),
    ("DeleteObjects", "DeleteObject"),
    (
        "PutBucketLifecycleConfiguration",
        "PutLifecycleConfiguration",
    ),
    ("PutBucketLifecycle", "PutLifecycleConfiguration"),
    (
        "GetBucketLifecycleConfiguration",
        "GetLifecycleConfiguration",
    ),
    ("GetBucketLifecycle", "GetLifecycleConfiguration"),
    ("DeleteBucketLifecycle", "PutLifecycleConfiguration"),
    (
        "PutBucketNotificationConfiguration",
        "PutBucketNotification",
    ),
    (
        "GetBucketNotificationConfiguration",
        "GetBucketNotification",
    ),
    ("PutBucketCors", "PutBucketCORS"),
    ("GetBucketCors", "GetBucketCORS"),
    ("DeleteBucketCors", "PutBucketCORS"),
    ("PutBucketEncryption", "PutEncryptionConfiguration"),
    ("GetBucketEncryption", "GetEncryptionConfiguration"),
    ("DeleteBucketEncryption", "PutEncryptionConfiguration"),
    ("DeleteBucketTagging", "PutBucketTagging"),
    ("DeleteBucketWebsite", "DeleteBucketWebsite"),
    (
        "PutObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
    ),
    (
        "GetObjectLockConfiguration",
        "GetBucketObjectLockConfiguration",
    ),
    ("PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
    ("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
    ("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
    (
        "DeleteBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    ("PutBucketReplication", "PutReplicationConfiguration"),
    ("GetBucketReplication", "GetReplicationConfiguration"),
    ("DeleteBucketReplication", "PutReplicationConfiguration"),
    (
        "PutBucketAccelerateConfiguration",
        "PutAccelerateConfiguration",
    ),
    (
        "GetBucketAccelerateConfiguration",
        "GetAccelerateConfiguration",
    ),
    (
        "PutBucketInventoryConfiguration",
        "PutInventoryConfiguration",
    ),
    (
        "GetBucketInventoryConfiguration",
        "GetInventoryConfiguration",
    ),
    (
        "DeleteBucketInventoryConfiguration",
        "PutInventoryConfiguration",
    ),
    (
        "ListBucketInventoryConfigurations",
        "GetInventoryConfiguration",
    ),
    ("PutBucketMetricsConfiguration", "PutMetricsConfiguration"),
    ("GetBucketMetricsConfiguration", "GetMetricsConfiguration"),
    (
        "DeleteBucketMetricsConfiguration",
        "PutMetricsConfiguration",
    ),
    ("ListBucketMetricsConfigurations", "GetMetricsConfiguration"),
    (
        "PutBucketAnalyticsConfiguration",
        "PutAnalyticsConfiguration",
    ),
    (
        "GetBucketAnalyticsConfiguration",
        "GetAnalyticsConfiguration",
    ),
    (
        "DeleteBucketAnalyticsConfiguration",
        "PutAnalyticsConfiguration",
    ),
    (
        "ListBucketAnalyticsConfigurations",
        "GetAnalyticsConfiguration",
    ),
    (
        "PutBucketIntelligentTieringConfiguration",
        "PutIntelligentTieringConfiguration",
    ),
    (
        "GetBucketIntelligentTieringConfiguration",
        "GetIntelligentTieringConfiguration",
    ),
    (
        "DeleteBucketIntelligentTieringConfiguration",
        "PutIntelligentTieringConfiguration",
    ),
    (
        "ListBucketIntelligentTieringConfigurations",
        "GetIntelligentTieringConfiguration",
    ),
    ("GetObjectLegalHold", "GetObjectLegalHold"),
    ("PutObjectLegalHold", "PutObjectLegalHold"),
    ("GetObjectRetention", "GetObjectRetention"),
    ("PutObjectRetention", "PutObjectRetention"),
    ("DeleteBucketPolicy", "DeleteBucketPolicy"),
];

/// S3 operations that, naming a `versionId`, act on a version (`s3:GetObjectVersion`, ...).
const S3_VERSIONED: &[(&str, &str)] = &[
    ("GetObject", "GetObjectVersion"),
    ("HeadObject", "GetObjectVersion"),
    ("DeleteObject", "DeleteObjectVersion"),
    ("GetObjectAcl", "GetObjectVersionAcl"),
    ("PutObjectAcl", "PutObjectVersionAcl"),
    ("GetObjectTagging", "GetObjectVersionTagging"),
    ("PutObjectTagging", "PutObjectVersionTagging"),
    ("DeleteObjectTagging", "DeleteObjectVersionTagging"),
    ("GetObjectAttributes", "GetObjectVersionAttributes"),
];

/// Lambda operations authorized under another action's name.
const LAMBDA: &[(&str, &str)] = &[
    ("Invoke", "InvokeFunction"),
    ("InvokeWithResponseStream", "InvokeFunction"),
    ("GetFunctionUrlConfig", "GetFunctionUrlConfig"),
    ("ListVersionsByFunction", "ListVersionsByFunction"),
];

/// A table indexed for the request path (asked on every request: one hash, not a scan).
type Index = std::sync::LazyLock<rustc_hash::FxHashMap<&'static str, &'static str>>;
static S3_INDEX: Index = std::sync::LazyLock::new(|| S3.iter().copied().collect());
static S3_VERSIONED_INDEX: Index =
    std::sync::LazyLock::new(|| S3_VERSIONED.iter().copied().collect());
static LAMBDA_INDEX: Index = std::sync::LazyLock::new(|| LAMBDA.iter().copied().collect());

fn lookup(index: &Index, operation: &str) -> Option<&'static str> {
    index.get(operation).copied()
}

/// The IAM action of `operation` of `service`; `versioned` when an S3 request names a
/// `versionId`.
pub fn action(service: &str, operation: &str, versioned: bool) -> String {
    let name: Cow<'_, str> = match service {
        "s3" => {
            let versioned_name = versioned
                .then(|| lookup(&S3_VERSIONED_INDEX, operation))
                .flatten();
            Cow::Borrowed(
                versioned_name
                    .or_else(|| lookup(&S3_INDEX, operation))
                    .unwrap_or(operation),
            )
        }
        "lambda" => Cow::Borrowed(lookup(&LAMBDA_INDEX, operation).unwrap_or(operation)),
        _ => Cow::Borrowed(operation),
    };
    let prefix = prefix(service);
    let mut action = String::with_capacity(prefix.len() + 1 + name.len());
    action.push_str(prefix);
    action.push(':');
    action.push_str(&name);
    action
}

/// Operations every authenticated caller may call, whatever its policies say (AWS authorizes
/// none of them: `sts:GetCallerIdentity` works even under an explicit deny).
pub fn always_allowed(service: &str, operation: &str) -> bool {
    matches!((service, operation), ("sts", "GetCallerIdentity"))
        || unsigned_allowed(service, operation)
}

/// Operations called without AWS credentials: the token or assertion they carry is what is
/// checked.
pub fn unsigned_allowed(service: &str, operation: &str) -> bool {
    matches!(
        (service, operation),
        ("sts", "AssumeRoleWithWebIdentity") | ("sts", "AssumeRoleWithSAML")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_renames() {
        assert_eq!(action("sqs", "SendMessage", false), "sqs:SendMessage");
        assert_eq!(action("dynamodb", "GetItem", false), "dynamodb:GetItem");
        assert_eq!(
            action("cloudwatch", "PutMetricData", false),
            "cloudwatch:PutMetricData"
        );
        assert_eq!(action("s3", "ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(action("s3", "HeadObject", false), "s3:GetObject");
        assert_eq!(action("s3", "HeadObject", true), "s3:GetObjectVersion");
        assert_eq!(action("s3", "HeadBucket", false), "s3:ListBucket");
        assert_eq!(action("s3", "GetObjectAcl", false), "s3:GetObjectAcl");
        assert_eq!(action("s3", "UploadPart", false), "s3:PutObject");
        assert_eq!(
            action("s3", "ListObjectVersions", false),
            "s3:ListBucketVersions"
        );
        assert_eq!(action("s3", "DeleteObjects", false), "s3:DeleteObject");
        assert_eq!(action("s3", "ListBuckets", false), "s3:ListAllMyBuckets");
        assert_eq!(action("lambda", "Invoke", false), "lambda:InvokeFunction");
        assert_eq!(
            action("lambda", "CreateFunction", false),
            "lambda:CreateFunction"
        );
        assert!(always_allowed("sts", "GetCallerIdentity"));
        assert!(!always_allowed("sts", "AssumeRole"));
        assert!(!unsigned_allowed("sts", "GetCallerIdentity"));
        assert!(unsigned_allowed("sts", "AssumeRoleWithWebIdentity"));
    }
}

//! S3 state: buckets, objects (current and noncurrent versions), multipart uploads and their
//! parts, as records of one engine store. Object bodies are blobs in the chunk store, sealed at
//! rest ([`Sealed`]); records hold only their ids and how they are sealed.

use serde::{Deserialize, Serialize};

use snapstack_engine::{BlobId, Key, Record};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created_ms: u64,
    /// `Enabled` or `Suspended` once set.
    pub versioning: Option<String>,
    pub tags: Vec<(String, String)>,
    pub cors: Option<String>,
    pub policy: Option<String>,
}

/// The standard headers stored with an object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub key: String,
    /// `None` for objects written while versioning was never enabled ("null" version).
    pub version_id: Option<String>,
    pub delete_marker: bool,
    pub blob: Option<BlobId>,
    pub size: u64,
    /// Quoted, as S3 returns it.
    pub etag: String,
    pub last_modified_ms: u64,
    pub headers: ObjectHeaders,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksums: Vec<(String, String)>,
    pub parts_count: Option<u32>,
    /// How the body is encrypted at rest; `None`: stored as sent (written before bodies were
    /// sealed). Not part of this struct's bytes: a sealed object is the record variant
    /// `SealedObject` (see [`S3Record`]'s encoding).
    #[serde(skip)]
    pub sealed: Option<Box<Sealed>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiated_ms: u64,
    pub headers: ObjectHeaders,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub number: u32,
    pub blob: BlobId,
    pub size: u64,
    pub etag: String,
    /// The raw MD5, for the multipart ETag.
    pub md5: Vec<u8>,
    pub last_modified_ms: u64,
    pub checksums: Vec<(String, String)>,
    /// As [`Object::sealed`]: a sealed part is the record variant `SealedPart`.
    #[serde(skip)]
    pub sealed: Option<Box<Sealed>>,
}

/// How a body is encrypted at rest (`seal.rs`): the scheme, the segment size, the data key as
/// stored (wrapped) and the runs (one per part of a multipart object).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    /// 1: AES-256-GCM STREAM segments (`seal.rs`).
    pub scheme: u8,
    /// Plaintext bytes per segment.
    pub segment: u32,
    pub key: WrappedKey,
    pub runs: Vec<crate::seal::Run>,
}

/// A body's data key as stored: wrapped by a key that is not stored beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WrappedKey {
    /// SSE-S3: wrapped (AES-256-GCM) by S3's master key of the account and `region`.
    Master {
        region: String,
        nonce: [u8; 12],
        wrapped: Vec<u8>,
    },
    /// SSE-KMS: KMS's `CiphertextBlob` of the data key, with the encryption context it was
    /// made under.
    Kms {
        key_id: String,
        blob: Vec<u8>,
        context: Vec<(String, String)>,
    },
    /// SSE-KMS with an S3 Bucket Key: the bucket key's `CiphertextBlob` (and context), and the
    /// data key wrapped by the bucket key.
    BucketKey {
        key_id: String,
        blob: Vec<u8>,
        context: Vec<(String, String)>,
        nonce: [u8; 12],
        wrapped: Vec<u8>,
    },
    /// SSE-C: wrapped by the customer's key, which is never stored.
    Customer { nonce: [u8; 12], wrapped: Vec<u8> },
}

/// Keys S3 keeps to seal bodies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SealKey {
    /// S3's master key of an account and region (SSE-S3), from the OS generator on first use.
    Master { key: [u8; 32], created_ms: u64 },
    /// A bucket's S3 Bucket Key for a KMS key: KMS's `CiphertextBlob` of it (the plaintext is
    /// only ever in memory).
    Bucket {
        key_id: String,
        blob: Vec<u8>,
        context: Vec<(String, String)>,
        created_ms: u64,
    },
    /// A multipart upload's data key, wrapped as its object's will be.
    Upload(WrappedKey),
}

/// Every S3 record. Its bytes are those of [`Wire`]: the variants below in this order, then a
/// sealed object and a sealed part as variants of their own, so that records written before
/// bodies were sealed decode unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum S3Record {
    Bucket(Bucket),
    Object(Object),
    Upload(Upload),
    Part(Part),
    /// Bucket names are global: which account owns a name.
    Owner(String),
    /// A bucket configuration kept as the document the client sent (ACL, ownership controls,
    /// public access block, default encryption, request payment, transfer acceleration). Added
    /// after format v1's first records: a new variant at the end, so older state still decodes.
    Config(BucketConfig),
    /// A key S3 seals bodies with (`keyring.rs`).
    Key(SealKey),
}

/// The encoding of [`S3Record`] (postcard, docs/FORMAT.md): variants 0–6 as `S3Record`'s, an
/// `Object` or `Part` whose body is sealed as variant 7 or 8 with its [`Sealed`] after it.
#[derive(Serialize)]
#[serde(rename = "S3Record")]
enum WireRef<'a> {
    Bucket(&'a Bucket),
    Object(&'a Object),
    Upload(&'a Upload),
    Part(&'a Part),
    Owner(&'a String),
    Config(&'a BucketConfig),
    Key(&'a SealKey),
    SealedObject(&'a Object, &'a Sealed),
    SealedPart(&'a Part, &'a Sealed),
}

#[derive(Deserialize)]
#[serde(rename = "S3Record")]
enum Wire {
    Bucket(Bucket),
    Object(Object),
    Upload(Upload),
    Part(Part),
    Owner(String),
    Config(BucketConfig),
    Key(SealKey),
    SealedObject(Object, Sealed),
    SealedPart(Part, Sealed),
}

impl Serialize for S3Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            S3Record::Bucket(b) => WireRef::Bucket(b),
            S3Record::Object(o) => match &o.sealed {
                Some(x) => WireRef::SealedObject(o, x),
                None => WireRef::Object(o),
            },
            S3Record::Upload(u) => WireRef::Upload(u),
            S3Record::Part(p) => match &p.sealed {
                Some(x) => WireRef::SealedPart(p, x),
                None => WireRef::Part(p),
            },
            S3Record::Owner(o) => WireRef::Owner(o),
            S3Record::Config(c) => WireRef::Config(c),
            S3Record::Key(k) => WireRef::Key(k),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for S3Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Wire::deserialize(d)? {
            Wire::Bucket(b) => S3Record::Bucket(b),
            Wire::Object(o) => S3Record::Object(o),
            Wire::Upload(u) => S3Record::Upload(u),
            Wire::Part(p) => S3Record::Part(p),
            Wire::Owner(o) => S3Record::Owner(o),
            Wire::Config(c) => S3Record::Config(c),
            Wire::Key(k) => S3Record::Key(k),
            Wire::SealedObject(mut o, x) => {
                o.sealed = Some(Box::new(x));
                S3Record::Object(o)
            }
            Wire::SealedPart(mut p, x) => {
                p.sealed = Some(Box::new(x));
                S3Record::Part(p)
            }
        })
    }
}

/// One configuration document of a bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketConfig {
    /// The sub-resource (`acl`, `ownershipControls`, ...).
    pub kind: String,
    /// For `acl`, `ownershipControls`, `publicAccessBlock`, `encryption`, `requestPayment`
    /// and `accelerate`: the XML document, as received (or built from a canned ACL header).
    /// For every other kind (`lifecycle`, `website`, `logging`, `notification`,
    /// `replication`, `objectLock`, `abac`, `analytics`, `metrics`, `inventory`,
    /// `intelligentTiering`, and the object settings `retention`, `legalHold`, `acl` under
    /// `keys::object_config`): the neutral JSON of the model's shape (docs/FORMAT.md).
    /// Empty for `ownershipControls`: deleted (a bucket without any, where a new bucket has
    /// S3's default).
    pub document: String,
}

impl Record for S3Record {
    fn blobs(&self) -> Vec<BlobId> {
        match self {
            S3Record::Object(o) => o.blob.into_iter().collect(),
            S3Record::Part(p) => vec![p.blob],
            S3Record::Bucket(_)
            | S3Record::Upload(_)
            | S3Record::Owner(_)
            | S3Record::Config(_)
            | S3Record::Key(_) => Vec::new(),
        }
    }
}

/// Keys. Buckets belong to an account (their region is a field); everything in a bucket sorts
/// under the bucket.
pub mod keys {
    use super::*;

    fn account(account: &str) -> snapstack_engine::KeyBuilder {
        Key::builder().str(account).str("s3")
    }

    /// The owner of a bucket name, across accounts.
    pub fn owner(bucket: &str) -> Key {
        Key::builder()
            .str("")
            .str("s3")
            .str("owner")
            .str(bucket)
            .build()
    }

    pub fn buckets(acct: &str) -> Key {
        account(acct).str("b").build()
    }

    pub fn bucket(acct: &str, bucket: &str) -> Key {
        account(acct).str("b").str(bucket).build()
    }

    /// The prefix of every current object of a bucket.
    pub fn objects(acct: &str, bucket: &str) -> Key {
        account(acct).str("o").str(bucket).build()
    }

    pub fn object(acct: &str, bucket: &str, key: &str) -> Key {
        account(acct).str("o").str(bucket).str(key).build()
    }

    /// The prefix of the noncurrent versions of a bucket.
    pub fn versions(acct: &str, bucket: &str) -> Key {
        account(acct).str("v").str(bucket).build()
    }

    pub fn versions_of(acct: &str, bucket: &str, key: &str) -> Key {
        account(acct).str("v").str(bucket).str(key).build()
    }

    /// A noncurrent version; `seq` decreases with age so newer versions sort first.
    pub fn version(acct: &str, bucket: &str, key: &str, seq: u64) -> Key {
        account(acct)
            .str("v")
            .str(bucket)
            .str(key)
            .u64(u64::MAX - seq)
            .build()
    }

    /// The prefix of a bucket's configuration documents.
    pub fn configs(acct: &str, bucket: &str) -> Key {
        account(acct).str("c").str(bucket).build()
    }

    pub fn config(acct: &str, bucket: &str, kind: &str) -> Key {
        account(acct).str("c").str(bucket).str(kind).build()
    }

    /// One of several configurations of a kind (analytics, metrics, inventory,
    /// intelligent-tiering), by id: under [`config`] of the kind.
    pub fn config_item(acct: &str, bucket: &str, kind: &str, id: &str) -> Key {
        account(acct).str("c").str(bucket).str(kind).str(id).build()
    }

    /// The buckets that have a lifecycle configuration, across accounts: `Config` records
    /// whose `kind` is the account and `document` the bucket name.
    pub fn lifecycle_indexes() -> Key {
        Key::builder().str("").str("s3").str("lifecycle").build()
    }

    pub fn lifecycle_index(acct: &str, bucket: &str) -> Key {
        Key::builder()
            .str("")
            .str("s3")
            .str("lifecycle")
            .str(acct)
            .str(bucket)
            .build()
    }

    /// The prefix of the settings of a bucket's object versions (retention, legal hold, ACL).
    pub fn object_configs(acct: &str, bucket: &str) -> Key {
        account(acct).str("x").str(bucket).build()
    }

    /// The prefix of the settings of one object version.
    pub fn object_configs_of(acct: &str, bucket: &str, key: &str, version: &str) -> Key {
        account(acct)
            .str("x")
            .str(bucket)
            .str(key)
            .str(version)
            .build()
    }

    /// A setting of one object version (`version` is `null` for the null version).
    pub fn object_config(acct: &str, bucket: &str, key: &str, version: &str, kind: &str) -> Key {
        account(acct)
            .str("x")
            .str(bucket)
            .str(key)
            .str(version)
            .str(kind)
            .build()
    }

    pub fn uploads(acct: &str, bucket: &str) -> Key {
        account(acct).str("u").str(bucket).build()
    }

    pub fn upload(acct: &str, bucket: &str, upload_id: &str) -> Key {
        account(acct).str("u").str(bucket).str(upload_id).build()
    }

    pub fn parts(acct: &str, upload_id: &str) -> Key {
        account(acct).str("p").str(upload_id).build()
    }

    /// S3's master key of an account and region (SSE-S3).
    pub fn master_key(acct: &str, region: &str) -> Key {
        account(acct).str("k").str("master").str(region).build()
    }

    /// A bucket's S3 Bucket Key for a KMS key.
    pub fn bucket_key(acct: &str, bucket: &str, kms_key: &str) -> Key {
        account(acct)
            .str("k")
            .str("bucket")
            .str(bucket)
            .str(kms_key)
            .build()
    }

    /// A multipart upload's data key: under [`parts`], so it goes with the parts.
    pub fn upload_key(acct: &str, upload_id: &str) -> Key {
        account(acct).str("p").str(upload_id).str("key").build()
    }

    pub fn part(acct: &str, upload_id: &str, n: u32) -> Key {
        account(acct)
            .str("p")
            .str(upload_id)
            .u64(u64::from(n))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's postcard bytes are part of the on-disk format (docs/FORMAT.md): the variant
    /// indexes of `S3Record` and the shape of `BucketConfig` must not move. Older state (format
    /// v1's fixture) holds no `Config` record; one written now must decode the same way forever.
    #[test]
    fn record_variants_keep_their_bytes() {
        let config = S3Record::Config(BucketConfig {
            kind: "acl".into(),
            document: "<x/>".into(),
        });
        let bytes = postcard::to_allocvec(&config).unwrap();
        assert_eq!(bytes, b"\x05\x03acl\x04<x/>");
        assert_eq!(postcard::from_bytes::<S3Record>(&bytes).unwrap(), config);
        let owner = postcard::to_allocvec(&S3Record::Owner("1".into())).unwrap();
        assert_eq!(owner, b"\x04\x011");
    }
}

//! The emulated AWS services. They keep their state in engine [`Store`](crate::Store)s and know
//! nothing of files; the gateway hands them parsed requests.

pub mod dynamodb;
pub mod s3;
pub mod sqs;
pub mod ssm;
pub mod sts;

/// What a service answered: the body, its content type, and the store version a mutation
/// produced (`None` when the request changed nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Handled {
    pub body: String,
    pub content_type: &'static str,
    pub write_version: Option<u64>,
}

//! DynamoDB (JSON 1.0, `X-Amz-Target: DynamoDB_20120810.<Op>`).
//!
//! - `value`: attribute values (every DynamoDB type), numbers with 38 significant digits, the
//!   wire JSON form, sizes, and the order used by keys.
//! - `expr`: the expression language (condition, filter, key condition, projection, update).

pub mod expr;
pub mod value;

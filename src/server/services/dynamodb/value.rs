//! DynamoDB attribute values.

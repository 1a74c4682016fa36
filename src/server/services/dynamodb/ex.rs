//! The expression language as the service uses it (agent X's `expr`).

pub use super::expr::{
    Condition, ExprError, KeyCondition, Path, Placeholders, RangeCond, Update, parse_condition,
    parse_filter, parse_key_condition, parse_projection, parse_update, project,
};

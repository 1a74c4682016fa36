//! The expression language as the service uses it (agent X's `expr`).

pub use super::expr::{
    Condition, ExprError, KeyCondition, Path, Placeholders, RangeCond, Update,
    condition_from_expected, condition_from_filter, key_condition_from_legacy, parse_condition,
    parse_filter, parse_key_condition, parse_projection, parse_update,
    paths_from_attributes_to_get, project, update_from_attribute_updates, validate_key_condition,
};

//! The request context: condition keys and their values. Key names are case-insensitive.

use std::collections::BTreeMap;

/// A context key's value(s). Single-valued keys hold one value; multivalued keys
/// (`aws:TagKeys`, ...) any number, and are what `ForAllValues:`/`ForAnyValue:` look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextValue {
    pub values: Vec<String>,
    pub multi: bool,
}

/// Condition keys to values, keys compared case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    entries: BTreeMap<String, ContextValue>,
}

impl Context {
    /// Set a single-valued key.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.entries.insert(
            key.to_ascii_lowercase(),
            ContextValue {
                values: vec![value.into()],
                multi: false,
            },
        );
    }

    /// Set a multivalued key.
    pub fn insert_multi(&mut self, key: &str, values: Vec<String>) {
        self.entries.insert(
            key.to_ascii_lowercase(),
            ContextValue {
                values,
                multi: true,
            },
        );
    }

    /// Remove a key.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(&key.to_ascii_lowercase());
    }

    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.entries.get(&key.to_ascii_lowercase())
        } else {
            self.entries.get(key)
        }
    }

    /// The value of a single-valued key (what a policy variable can stand for).
    pub fn single(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(ContextValue {
                values,
                multi: false,
            }) if values.len() == 1 => Some(values[0].as_str()),
            _ => None,
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

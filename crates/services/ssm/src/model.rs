//! SSM records: a parameter with its tags and versions (one record a parameter).

use super::*;

/// The type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamType {
    String,
    StringList,
    SecureString,
}

impl ParamType {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "String" => ParamType::String,
            "StringList" => ParamType::StringList,
            "SecureString" => ParamType::SecureString,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "String",
            ParamType::StringList => "StringList",
            ParamType::SecureString => "SecureString",
        }
    }
}

/// One version of a parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamVersion {
    pub version: u64,
    pub value: String,
    pub kind: ParamType,
    pub key_id: Option<String>,
    pub description: Option<String>,
    pub allowed_pattern: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub labels: Vec<String>,
    pub modified_ms: u64,
    pub modified_user: String,
}

/// A parameter: its name, tags, and versions oldest first (never empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub versions: Vec<ParamVersion>,
}

impl Record for Parameter {}

impl Parameter {
    /// The newest version. Every parameter this service stores has one; a record without (only
    /// a hand-made snapshot could hold one) reads as missing.
    pub(super) fn latest(&self) -> Option<&ParamVersion> {
        self.versions.last()
    }
}

pub(super) fn key(p: &Partition, name: &str) -> Key {
    p.key().raw(name.as_bytes()).build()
}

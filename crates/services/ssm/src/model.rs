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

/// One record of the SSM store.
///
/// The store held bare [`Parameter`]s before it held anything else, so a parameter is still
/// encoded exactly as that struct was: `(name, tags, versions)`. Every other kind is encoded as
/// `("", Ext)`: a parameter's name is never empty, so the empty string (postcard: the single
/// byte 0) marks a record of another kind, and [`Ext`] is an ordinary enum whose new variants
/// go at its end (docs/FORMAT.md, "Record types").
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // records live behind an Arc in the store
pub enum SsmRecord {
    Parameter(Parameter),
    Ext(Ext),
}

impl Record for SsmRecord {}

/// The records that are not parameters. Append new variants at the end; never reorder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Ext {
    Document(DocumentRec),
    DocVersion(DocVersionRec),
    Command(CommandRec),
    Window(WindowRec),
    WindowTarget(WindowTargetRec),
    WindowTask(WindowTaskRec),
    Object(ObjectRec),
}

impl Serialize for SsmRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        match self {
            SsmRecord::Parameter(p) => {
                let mut t = s.serialize_tuple(3)?;
                t.serialize_element(&p.name)?;
                t.serialize_element(&p.tags)?;
                t.serialize_element(&p.versions)?;
                t.end()
            }
            SsmRecord::Ext(e) => {
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element("")?;
                t.serialize_element(e)?;
                t.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for SsmRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SsmRecord;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an SSM record")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SsmRecord, A::Error> {
                use serde::de::Error;
                let name: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(0, &self))?;
                if name.is_empty() {
                    let ext: Ext = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                    return Ok(SsmRecord::Ext(ext));
                }
                let tags = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(1, &self))?;
                let versions = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(2, &self))?;
                Ok(SsmRecord::Parameter(Parameter {
                    name,
                    tags,
                    versions,
                }))
            }
        }
        d.deserialize_tuple(3, V)
    }
}

impl SsmRecord {
    pub fn parameter(&self) -> Option<&Parameter> {
        match self {
            SsmRecord::Parameter(p) => Some(p),
            SsmRecord::Ext(_) => None,
        }
    }
}

/// A document: what all its versions share (one record), beside one [`DocVersionRec`] a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocumentRec {
    pub name: String,
    pub document_type: String,
    pub created_ms: u64,
    pub default_version: u64,
    pub latest_version: u64,
    /// The highest version number ever given (a deleted latest version's number is not reused).
    pub last_number: u64,
    pub tags: Vec<(String, String)>,
    /// Accounts (`all` or account ids) the document is shared with, and the version shared.
    pub shares: Vec<(String, String)>,
    /// `DocumentRequires` as JSON (name, version, type, version name), as given.
    pub requires: Option<String>,
}

/// One version of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocVersionRec {
    pub name: String,
    pub version: u64,
    pub version_name: Option<String>,
    pub content: String,
    pub format: String,
    pub target_type: Option<String>,
    pub display_name: Option<String>,
    pub created_ms: u64,
}

/// A command (SendCommand) with its invocations, one an instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandRec {
    pub id: String,
    pub document_name: String,
    pub document_version: String,
    pub comment: Option<String>,
    pub requested_ms: u64,
    pub timeout_seconds: u64,
    pub instance_ids: Vec<String>,
    /// `Targets`, `Parameters`, and the other structured inputs kept as JSON text.
    pub targets: String,
    pub parameters: String,
    pub extra: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub service_role: Option<String>,
    pub status: String,
    /// Per instance: (instance id, status).
    pub invocations: Vec<(String, String)>,
    /// The plugin names of the document's steps.
    pub plugins: Vec<String>,
}

/// A maintenance window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowRec {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub schedule: String,
    pub schedule_timezone: Option<String>,
    pub schedule_offset: Option<i64>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub duration: i64,
    pub cutoff: i64,
    pub allow_unassociated_targets: bool,
    pub enabled: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub tags: Vec<(String, String)>,
    pub client_token: Option<String>,
}

/// A target registered with a maintenance window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowTargetRec {
    pub window_id: String,
    pub id: String,
    pub resource_type: String,
    pub targets: String,
    pub owner_information: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub registered_ms: u64,
}

/// A task registered with a maintenance window; the structured members kept as JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowTaskRec {
    pub window_id: String,
    pub id: String,
    pub task_type: String,
    pub task_arn: String,
    pub priority: i64,
    pub registered_ms: u64,
    /// The other members of the task (Targets, ServiceRoleArn, TaskParameters, ...) as a JSON
    /// object in the shape `MaintenanceWindowTask` answers with.
    pub body: String,
}

/// A resource of the operations added together (associations, OpsItems, patch baselines,
/// inventory, compliance, activations, ...): its kind (`assoc`, `opsitem`, ...), its id, its
/// tags, and its body, the JSON object AWS answers with for it (the model's output shape;
/// members a listing's shape lacks are left out by the codec). One variant for all of them so
/// that adding a kind needs no new record type; the body's members are AWS's, a public shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectRec {
    pub kind: String,
    pub id: String,
    pub tags: Vec<(String, String)>,
    pub body: String,
}

/// The first byte after the partition of every record that is not a parameter. Parameter names
/// are `[a-zA-Z0-9_.-/]`, so these keys sort after every parameter and never meet one.
pub(super) const EXT_BYTE: u8 = 0xFF;

pub(super) fn ext_key(p: &Partition, kind: &str) -> snapstack_engine::KeyBuilder {
    p.key().raw(&[EXT_BYTE]).str(kind)
}

//! The request shapes of the operations, as they arrive.

use super::*;

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagInput {
    pub(super) key: Option<String>,
    pub(super) value: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PutParameterInput {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) value: Option<String>,
    #[serde(rename = "Type")]
    pub(super) kind: Option<String>,
    pub(super) key_id: Option<String>,
    pub(super) overwrite: Option<bool>,
    pub(super) allowed_pattern: Option<String>,
    pub(super) tags: Option<Vec<TagInput>>,
    pub(super) tier: Option<String>,
    pub(super) data_type: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NameInput {
    pub(super) name: Option<String>,
    pub(super) with_decryption: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NamesInput {
    pub(super) names: Option<Vec<String>>,
    pub(super) with_decryption: Option<bool>,
}

#[derive(Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StringFilter {
    pub(super) key: Option<String>,
    pub(super) option: Option<String>,
    pub(super) values: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ByPathInput {
    pub(super) path: Option<String>,
    pub(super) recursive: Option<bool>,
    pub(super) parameter_filters: Option<Vec<StringFilter>>,
    pub(super) with_decryption: Option<bool>,
    pub(super) max_results: Option<i64>,
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeInput {
    pub(super) filters: Option<Vec<StringFilter>>,
    pub(super) parameter_filters: Option<Vec<StringFilter>>,
    pub(super) max_results: Option<i64>,
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HistoryInput {
    pub(super) name: Option<String>,
    pub(super) with_decryption: Option<bool>,
    pub(super) max_results: Option<i64>,
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct LabelInput {
    pub(super) name: Option<String>,
    pub(super) parameter_version: Option<i64>,
    pub(super) labels: Option<Vec<String>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagsInput {
    pub(super) resource_type: Option<String>,
    pub(super) resource_id: Option<String>,
    pub(super) tags: Option<Vec<TagInput>>,
    pub(super) tag_keys: Option<Vec<String>>,
}

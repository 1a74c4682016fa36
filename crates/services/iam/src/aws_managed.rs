//! The AWS managed policies (`arn:aws:iam::aws:policy/...`), as data: every policy of AWS's
//! published list (generated from moto's copy of it by `scripts/iam_managed_policies.py` into
//! `data/aws_managed_policies.json.gz`), decompressed and parsed once, on first use.
//!
//! They are read-only: gettable (`GetPolicy`, `GetPolicyVersion` of the default version,
//! `ListPolicies` with `Scope=AWS`) and attachable; their attachment counts are the account's.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::OnceLock;

use snapstack_protocol::codec::time::parse_iso8601;

static DATA: &[u8] = include_bytes!("../data/aws_managed_policies.json.gz");

/// One AWS managed policy.
#[derive(Debug, PartialEq)]
pub struct AwsPolicy {
    pub name: String,
    pub path: String,
    /// `v3`.
    pub default_version: String,
    pub created: u64,
    pub updated: u64,
    pub document: String,
}

impl AwsPolicy {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }

    /// A stable id of IAM's form (`ANPA` and 17 characters) derived from the name.
    pub fn id(&self) -> String {
        snapstack_sts::model::stable_id("ANPA", &self.name)
    }
}

/// Every AWS managed policy by name (empty if the embedded data cannot be read).
pub fn all() -> &'static BTreeMap<String, AwsPolicy> {
    static ALL: OnceLock<BTreeMap<String, AwsPolicy>> = OnceLock::new();
    ALL.get_or_init(|| load().unwrap_or_default())
}

fn load() -> Option<BTreeMap<String, AwsPolicy>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DATA)
        .read_to_string(&mut text)
        .ok()?;
    let table: BTreeMap<String, (String, String, String, String, String)> =
        serde_json::from_str(&text).ok()?;
    let date = |s: &str| parse_iso8601(s).unwrap_or(0).max(0) as u64;
    Some(
        table
            .into_iter()
            .map(|(name, (path, version, created, updated, document))| {
                let p = AwsPolicy {
                    name: name.clone(),
                    path,
                    default_version: version,
                    created: date(&created),
                    updated: date(&updated),
                    document,
                };
                (name, p)
            })
            .collect(),
    )
}

/// The AWS managed policy an ARN names (its path must match).
pub fn by_arn(arn: &str) -> Option<&'static AwsPolicy> {
    let rest = arn.strip_prefix("arn:aws:iam::aws:policy")?;
    let name = rest.rsplit('/').next()?;
    all()
        .get(name)
        .filter(|p| rest.len() == p.path.len() + p.name.len() && rest.starts_with(&p.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_loads_and_finds_policies_by_arn() {
        assert!(all().len() > 1000, "{}", all().len());
        let p = by_arn("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        assert_eq!(p.path, "/");
        assert!(p.document.contains("Statement"));
        assert!(p.created > 0 && p.updated >= p.created);
        let lambda =
            by_arn("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole").unwrap();
        assert_eq!(lambda.path, "/service-role/");
        assert!(by_arn("arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole").is_none());
        assert!(by_arn("arn:aws:iam::aws:policy/NoSuchPolicy").is_none());
        assert_eq!(p.id().len(), 21);
    }
}

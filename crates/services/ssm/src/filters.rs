//! `ParameterFilters` (DescribeParameters, GetParametersByPath): validation and matching.

use super::*;

/// Which filter keys an operation accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FilterScope {
    Describe,
    ByPath,
}

/// A checked filter.
#[derive(Clone, Debug)]
pub(super) struct Filter {
    pub(super) key: String,
    pub(super) option: String,
    pub(super) values: Vec<String>,
}

pub(super) fn check_filters(
    raw: &[StringFilter],
    scope: FilterScope,
) -> Result<Vec<Filter>, AwsError> {
    let mut out = Vec::new();
    for f in raw {
        let key = f.key.clone().ok_or_else(|| AwsError::missing("key"))?;
        let allowed_keys: &[&str] = match scope {
            FilterScope::Describe => &["Name", "Type", "KeyId", "Path", "Tier", "DataType"],
            FilterScope::ByPath => &["Type", "KeyId", "Label", "Tier", "DataType"],
        };
        let is_tag = key.starts_with("tag:") && key.len() > 4;
        if !is_tag && !allowed_keys.contains(&key.as_str()) {
            return Err(AwsError::new(
                "InvalidFilterKey",
                format!(
                    "The following filter key is not valid: {key}. Valid filter keys include: [{}].",
                    allowed_keys.join(", ")
                ),
            ));
        }
        let options: &[&str] = match key.as_str() {
            "Path" => &["Recursive", "OneLevel"],
            "Name" => &["Equals", "BeginsWith", "Contains"],
            "Label" => &["Equals"],
            _ => &["Equals", "BeginsWith"],
        };
        let option = f.option.clone().unwrap_or_else(|| options[0].to_string());
        let option = if key == "Path" && f.option.is_none() {
            "OneLevel".to_string()
        } else {
            option
        };
        if !options.contains(&option.as_str()) {
            return Err(AwsError::new(
                "InvalidFilterOption",
                format!(
                    "The filter option '{option}' is not valid for key {key}. Valid options include: [{}].",
                    options.join(", ")
                ),
            ));
        }
        let values = f.values.clone().unwrap_or_default();
        if values.is_empty() && !is_tag {
            return Err(AwsError::new(
                "InvalidFilterValue",
                format!("The following filter values are missing : null for filter key {key}."),
            ));
        }
        if values.len() > 50 {
            return Err(AwsError::new(
                "InvalidFilterValue",
                format!(
                    "A filter can have at most 50 values; {key} has {}.",
                    values.len()
                ),
            ));
        }
        if key == "Type" {
            for v in &values {
                if ParamType::parse(v).is_none() {
                    return Err(AwsError::new(
                        "InvalidFilterValue",
                        format!(
                            "The following filter value is not valid: {v}. Valid values include: [String, StringList, SecureString]."
                        ),
                    ));
                }
            }
        }
        if key == "Path" {
            for v in &values {
                if !v.starts_with('/') {
                    return Err(AwsError::new(
                        "InvalidFilterValue",
                        format!(
                            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\": {v}"
                        ),
                    ));
                }
            }
        }
        out.push(Filter {
            key,
            option,
            values,
        });
    }
    Ok(out)
}

pub(super) fn compare(option: &str, actual: &str, wanted: &str) -> bool {
    match option {
        "BeginsWith" => actual.starts_with(wanted),
        "Contains" => actual.contains(wanted),
        _ => actual == wanted,
    }
}

pub(super) fn parent_path(name: &str) -> &str {
    match name.rfind('/') {
        Some(0) => "/",
        Some(i) => &name[..i],
        None => "/",
    }
}

/// Whether `p` passes every filter; returns the version to report (a `Label` filter picks the
/// labelled version).
pub(super) fn matches<'p>(p: &'p Parameter, filters: &[Filter]) -> Option<&'p ParamVersion> {
    let v = p.latest()?;
    let mut chosen = v;
    for f in filters {
        let ok = match f.key.as_str() {
            "Name" => {
                let actual = p.name.trim_start_matches('/');
                f.values
                    .iter()
                    .any(|w| compare(&f.option, actual, w.trim_start_matches('/')))
            }
            "Type" => f
                .values
                .iter()
                .any(|w| compare(&f.option, v.kind.as_str(), w)),
            "KeyId" => v
                .key_id
                .as_deref()
                .is_some_and(|k| f.values.iter().any(|w| compare(&f.option, k, w))),
            "Tier" => f.values.iter().any(|w| compare(&f.option, &v.tier, w)),
            "DataType" => f.values.iter().any(|w| compare(&f.option, &v.data_type, w)),
            "Path" => f.values.iter().any(|w| {
                let base = if w.len() > 1 {
                    w.trim_end_matches('/')
                } else {
                    w.as_str()
                };
                if f.option == "Recursive" {
                    let prefix = if base == "/" {
                        "/".to_string()
                    } else {
                        format!("{base}/")
                    };
                    p.name.starts_with(&prefix)
                } else {
                    p.name.starts_with('/') && parent_path(&p.name) == base
                }
            }),
            "Label" => match p
                .versions
                .iter()
                .rev()
                .find(|pv| pv.labels.iter().any(|l| f.values.contains(l)))
            {
                Some(pv) => {
                    chosen = pv;
                    true
                }
                None => false,
            },
            k => match k.strip_prefix("tag:") {
                Some(tag) => p.tags.iter().any(|(tk, tv)| {
                    tk == tag
                        && (f.values.is_empty()
                            || f.values.iter().any(|w| compare(&f.option, tv, w)))
                }),
                None => false,
            },
        };
        if !ok {
            return None;
        }
    }
    Some(chosen)
}

pub(super) fn find_version<'p>(p: &'p Parameter, sel: &Selector) -> Option<&'p ParamVersion> {
    match sel {
        Selector::Latest => p.latest(),
        Selector::Version(n) => p.versions.iter().find(|v| v.version == *n),
        Selector::Label(l) => p.versions.iter().find(|v| v.labels.contains(l)),
    }
}

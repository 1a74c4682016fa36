//! Documents: create, read (get, describe, list, versions), update (new versions, the default
//! version), delete, and sharing permissions. A document is a head record (type, default and
//! latest version, tags, shares) and one record a version (content as given).

use super::doc_content::*;
use super::*;

/// Versions a document may have, as AWS allows.
const MAX_DOC_VERSIONS: usize = 1000;
/// The largest content AWS takes (64 KB).
const MAX_CONTENT: usize = 64 * 1024;
const MAX_SHARES: usize = 20;

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateDocumentInput {
    content: Option<String>,
    requires: Option<Value>,
    name: Option<String>,
    display_name: Option<String>,
    version_name: Option<String>,
    document_type: Option<String>,
    document_format: Option<String>,
    target_type: Option<String>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateDocumentInput {
    content: Option<String>,
    name: Option<String>,
    display_name: Option<String>,
    version_name: Option<String>,
    document_version: Option<String>,
    document_format: Option<String>,
    target_type: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DocSelectInput {
    name: Option<String>,
    document_version: Option<String>,
    version_name: Option<String>,
    document_format: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListDocumentsInput {
    document_filter_list: Option<Vec<OldDocFilter>>,
    filters: Option<Vec<StringFilter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
pub(super) struct OldDocFilter {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PermissionInput {
    name: Option<String>,
    permission_type: Option<String>,
    account_ids_to_add: Option<Vec<String>>,
    account_ids_to_remove: Option<Vec<String>>,
    shared_document_version: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub(super) fn doc_key(p: &Partition, name: &str) -> Key {
    ext_key(p, "doc").str(name).build()
}

pub(super) fn doc_version_key(p: &Partition, name: &str, version: u64) -> Key {
    ext_key(p, "docv").str(name).u64(version).build()
}

fn doc_versions_prefix(p: &Partition, name: &str) -> Key {
    ext_key(p, "docv").str(name).build()
}

pub(super) fn doc_missing() -> AwsError {
    AwsError::new("InvalidDocument", "The specified document does not exist.")
}

fn bad_version() -> AwsError {
    AwsError::new(
        "InvalidDocumentVersion",
        "The document version is not valid or does not exist.",
    )
}

fn not_owned() -> AwsError {
    AwsError::new(
        "InvalidDocumentOperation",
        "You can't modify or delete a document owned by Amazon.",
    )
}

/// A document name as requested: a name, or the ARN of one of the caller's documents.
pub(super) fn doc_name(ctx: &RequestContext, requested: &str) -> String {
    if let Some(rest) = requested.strip_prefix("arn:")
        && let Some(idx) = rest.find(":document/")
    {
        let head: Vec<&str> = rest[..idx].split(':').collect();
        if head.len() == 4 && head[2] == ctx.region() && head[3] == ctx.account() {
            return rest[idx + ":document/".len()..].to_string();
        }
        // Another account's or region's document is not the caller's.
        return String::new();
    }
    requested.to_string()
}

/// A document as a read sees it: its head, the owner, and how to reach its versions.
pub(super) struct DocRef {
    pub(super) head: DocumentRec,
    pub(super) owner: String,
    built_in: Option<&'static BuiltIn>,
}

fn built_in_head(b: &BuiltIn) -> DocumentRec {
    DocumentRec {
        name: b.name.to_string(),
        document_type: "Command".into(),
        created_ms: BUILT_IN_CREATED_MS,
        default_version: 1,
        latest_version: 1,
        last_number: 1,
        tags: Vec::new(),
        shares: Vec::new(),
        requires: None,
    }
}

fn built_in_version(b: &BuiltIn) -> DocVersionRec {
    DocVersionRec {
        name: b.name.to_string(),
        version: 1,
        version_name: None,
        content: b.content.to_string(),
        format: "JSON".into(),
        target_type: None,
        display_name: None,
        created_ms: BUILT_IN_CREATED_MS,
    }
}

pub(super) fn find_doc(
    snap: &Snapshot<SsmRecord>,
    ctx: &RequestContext,
    name: &str,
) -> Option<DocRef> {
    if let Some(b) = built_in(name) {
        return Some(DocRef {
            head: built_in_head(b),
            owner: "Amazon".into(),
            built_in: Some(b),
        });
    }
    match snap.get(&doc_key(&ctx.partition, name)) {
        Some(SsmRecord::Ext(Ext::Document(d))) => Some(DocRef {
            head: d.clone(),
            owner: ctx.account().to_string(),
            built_in: None,
        }),
        _ => None,
    }
}

fn get_version(
    snap: &Snapshot<SsmRecord>,
    ctx: &RequestContext,
    d: &DocRef,
    v: u64,
) -> Option<DocVersionRec> {
    if let Some(b) = d.built_in {
        return (v == 1).then(|| built_in_version(b));
    }
    match snap.get(&doc_version_key(&ctx.partition, &d.head.name, v)) {
        Some(SsmRecord::Ext(Ext::DocVersion(dv))) => Some(dv.clone()),
        _ => None,
    }
}

fn all_versions(
    snap: &Snapshot<SsmRecord>,
    ctx: &RequestContext,
    d: &DocRef,
) -> Vec<DocVersionRec> {
    if let Some(b) = d.built_in {
        return vec![built_in_version(b)];
    }
    snap.scan_prefix(&doc_versions_prefix(&ctx.partition, &d.head.name))
        .filter_map(|(_, r)| match r {
            SsmRecord::Ext(Ext::DocVersion(v)) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// The version a request selects: `$LATEST`, `$DEFAULT` (or nothing), a number, and/or a
/// version name (both must name the same version).
pub(super) fn select_version(
    snap: &Snapshot<SsmRecord>,
    ctx: &RequestContext,
    d: &DocRef,
    version: Option<&str>,
    version_name: Option<&str>,
) -> Result<DocVersionRec, AwsError> {
    let by_number = match version {
        Some("$LATEST") => Some(d.head.latest_version),
        Some("$DEFAULT") => Some(d.head.default_version),
        Some(n) => Some(n.parse::<u64>().map_err(|_| bad_version())?),
        None if version_name.is_none() => Some(d.head.default_version),
        None => None,
    };
    let found = match by_number {
        Some(n) => get_version(snap, ctx, d, n),
        None => all_versions(snap, ctx, d)
            .into_iter()
            .find(|v| v.version_name.as_deref() == version_name),
    };
    match found {
        Some(v) if version_name.is_none() || v.version_name.as_deref() == version_name => Ok(v),
        _ => Err(bad_version()),
    }
}

fn tags_json(tags: &[(String, String)]) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect()
}

pub(super) fn description_json(d: &DocRef, v: &DocVersionRec) -> Value {
    let info = doc_info(&v.content, &v.format);
    let mut m = Map::new();
    m.insert("Sha1".into(), json!(""));
    m.insert("Hash".into(), json!(sha256_hex(&v.content)));
    m.insert("HashType".into(), json!("Sha256"));
    m.insert("Name".into(), json!(d.head.name));
    if let Some(n) = &v.display_name {
        m.insert("DisplayName".into(), json!(n));
    }
    if let Some(n) = &v.version_name {
        m.insert("VersionName".into(), json!(n));
    }
    m.insert("Owner".into(), json!(d.owner));
    m.insert("CreatedDate".into(), json!(secs(v.created_ms)));
    m.insert("Status".into(), json!("Active"));
    m.insert("DocumentVersion".into(), json!(v.version.to_string()));
    if let Some(desc) = &info.description {
        m.insert("Description".into(), json!(desc));
    }
    m.insert("Parameters".into(), json!(info.parameters_json()));
    m.insert("PlatformTypes".into(), json!(info.platform_types()));
    m.insert("DocumentType".into(), json!(d.head.document_type));
    if let Some(s) = &info.schema_version {
        m.insert("SchemaVersion".into(), json!(s));
    }
    m.insert(
        "LatestVersion".into(),
        json!(d.head.latest_version.to_string()),
    );
    m.insert(
        "DefaultVersion".into(),
        json!(d.head.default_version.to_string()),
    );
    m.insert("DocumentFormat".into(), json!(v.format));
    if let Some(t) = &v.target_type {
        m.insert("TargetType".into(), json!(t));
    }
    m.insert("Tags".into(), json!(tags_json(&d.head.tags)));
    if let Some(r) = d
        .head
        .requires
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
    {
        m.insert("Requires".into(), r);
    }
    Value::Object(m)
}

fn identifier_json(d: &DocRef, v: &DocVersionRec) -> Value {
    let info = doc_info(&v.content, &v.format);
    let mut m = Map::new();
    m.insert("Name".into(), json!(d.head.name));
    m.insert("CreatedDate".into(), json!(secs(d.head.created_ms)));
    if let Some(n) = &v.display_name {
        m.insert("DisplayName".into(), json!(n));
    }
    m.insert("Owner".into(), json!(d.owner));
    if let Some(n) = &v.version_name {
        m.insert("VersionName".into(), json!(n));
    }
    m.insert("PlatformTypes".into(), json!(info.platform_types()));
    m.insert("DocumentVersion".into(), json!(v.version.to_string()));
    m.insert("DocumentType".into(), json!(d.head.document_type));
    if let Some(s) = &info.schema_version {
        m.insert("SchemaVersion".into(), json!(s));
    }
    m.insert("DocumentFormat".into(), json!(v.format));
    if let Some(t) = &v.target_type {
        m.insert("TargetType".into(), json!(t));
    }
    m.insert("Tags".into(), json!(tags_json(&d.head.tags)));
    if let Some(r) = d
        .head
        .requires
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
    {
        m.insert("Requires".into(), r);
    }
    Value::Object(m)
}

fn check_new_name(name: &str) -> Result<(), AwsError> {
    let lower = name.to_ascii_lowercase();
    if ["aws", "amazon", "amzn"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(AwsError::validation(format!(
            "Invalid document name {name}"
        )));
    }
    Ok(())
}

fn check_size(content: &str) -> Result<(), AwsError> {
    if content.len() > MAX_CONTENT {
        return Err(AwsError::new(
            "MaxDocumentSizeExceeded",
            "The size limit of a document is 64 KB.",
        ));
    }
    Ok(())
}

fn tag_list(tags: Option<Vec<TagInput>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags.unwrap_or_default() {
        let (k, v) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
        match out.iter_mut().find(|(k2, _)| *k2 == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

impl Ssm {
    pub(super) fn create_document(
        &self,
        ctx: &RequestContext,
        input: CreateDocumentInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let content = input.content.ok_or_else(|| AwsError::missing("content"))?;
        check_new_name(&name)?;
        let format = input.document_format.unwrap_or_else(|| "JSON".into());
        check_size(&content)?;
        check_content(&content, &format)?;
        let tags = tag_list(input.tags);
        if tags.len() > MAX_TAGS {
            return Err(AwsError::new(
                "TooManyTagsError",
                "The Tags parameter contains more than 50 tags.",
            ));
        }
        let now = now_ms();
        let head = DocumentRec {
            name: name.clone(),
            document_type: input.document_type.unwrap_or_else(|| "Command".into()),
            created_ms: now,
            default_version: 1,
            latest_version: 1,
            last_number: 1,
            tags,
            shares: Vec::new(),
            requires: input.requires.map(|r| r.to_string()),
        };
        let version = DocVersionRec {
            name: name.clone(),
            version: 1,
            version_name: input.version_name,
            content,
            format,
            target_type: input.target_type,
            display_name: input.display_name,
            created_ms: now,
        };
        let hk = doc_key(&ctx.partition, &name);
        let (result, wv) = self.store.write(|txn| {
            if txn.contains(&hk) || built_in(&name).is_some() {
                return Err(AwsError::new(
                    "DocumentAlreadyExists",
                    format!("Document with same name {name} already exists"),
                ));
            }
            txn.insert(hk.clone(), SsmRecord::Ext(Ext::Document(head.clone())));
            txn.insert(
                doc_version_key(&ctx.partition, &name, 1),
                SsmRecord::Ext(Ext::DocVersion(version.clone())),
            );
            Ok(())
        });
        result?;
        let d = DocRef {
            head,
            owner: ctx.account().to_string(),
            built_in: None,
        };
        ok(
            json!({"DocumentDescription": description_json(&d, &version)}),
            Some(wv),
        )
    }

    pub(super) fn get_document(
        &self,
        ctx: &RequestContext,
        input: DocSelectInput,
    ) -> Result<Output, AwsError> {
        let name = doc_name(ctx, &input.name.ok_or_else(|| AwsError::missing("name"))?);
        let snap = self.store.snapshot();
        let d = find_doc(&snap, ctx, &name).ok_or_else(doc_missing)?;
        let v = select_version(
            &snap,
            ctx,
            &d,
            input.document_version.as_deref(),
            input.version_name.as_deref(),
        )?;
        let format = input.document_format.unwrap_or_else(|| v.format.clone());
        let content = convert(&v.content, &v.format, &format)?;
        let mut m = Map::new();
        m.insert("Name".into(), json!(d.head.name));
        m.insert("CreatedDate".into(), json!(secs(v.created_ms)));
        if let Some(n) = &v.display_name {
            m.insert("DisplayName".into(), json!(n));
        }
        if let Some(n) = &v.version_name {
            m.insert("VersionName".into(), json!(n));
        }
        m.insert("DocumentVersion".into(), json!(v.version.to_string()));
        m.insert("Status".into(), json!("Active"));
        m.insert("Content".into(), json!(content));
        m.insert("DocumentType".into(), json!(d.head.document_type));
        m.insert("DocumentFormat".into(), json!(format));
        if let Some(r) = d
            .head
            .requires
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
        {
            m.insert("Requires".into(), r);
        }
        ok(Value::Object(m), None)
    }

    pub(super) fn describe_document(
        &self,
        ctx: &RequestContext,
        input: DocSelectInput,
    ) -> Result<Output, AwsError> {
        let name = doc_name(ctx, &input.name.ok_or_else(|| AwsError::missing("name"))?);
        let snap = self.store.snapshot();
        let d = find_doc(&snap, ctx, &name).ok_or_else(doc_missing)?;
        let v = select_version(
            &snap,
            ctx,
            &d,
            input.document_version.as_deref(),
            input.version_name.as_deref(),
        )?;
        ok(json!({"Document": description_json(&d, &v)}), None)
    }

    pub(super) fn update_document(
        &self,
        ctx: &RequestContext,
        input: UpdateDocumentInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let content = input.content.ok_or_else(|| AwsError::missing("content"))?;
        if built_in(&name).is_some() {
            return Err(not_owned());
        }
        let format = input.document_format.unwrap_or_else(|| "JSON".into());
        check_size(&content)?;
        check_content(&content, &format)?;
        let p = &ctx.partition;
        let hk = doc_key(p, &name);
        let now = now_ms();
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Document(mut head))) = txn.get(&hk).cloned() else {
                return Err(doc_missing());
            };
            match input.document_version.as_deref() {
                None | Some("$LATEST") => {}
                Some(v) if v.parse::<u64>().ok() == Some(head.latest_version) => {}
                Some(_) => return Err(bad_version()),
            }
            let versions: Vec<DocVersionRec> = txn
                .scan_prefix(&doc_versions_prefix(p, &name))
                .filter_map(|(_, r)| match r {
                    SsmRecord::Ext(Ext::DocVersion(v)) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            if versions.len() >= MAX_DOC_VERSIONS {
                return Err(AwsError::new(
                    "DocumentVersionLimitExceeded",
                    "The document has too many versions. Delete one or more document versions and try again.",
                ));
            }
            if let Some(vn) = &input.version_name
                && versions.iter().any(|v| v.version_name.as_ref() == Some(vn))
            {
                return Err(AwsError::new(
                    "DuplicateDocumentVersionName",
                    "The specified version name is a duplicate.",
                ));
            }
            if versions.iter().any(|v| {
                v.content == content
                    && (input.target_type.is_none() || input.target_type == v.target_type)
            }) {
                return Err(AwsError::new(
                    "DuplicateDocumentContent",
                    "The content of the association document matches another document. Change the content of the document and try again.",
                ));
            }
            let previous = versions.iter().find(|v| v.version == head.latest_version);
            let number = head.last_number.max(head.latest_version) + 1;
            let version = DocVersionRec {
                name: name.clone(),
                version: number,
                version_name: input.version_name.clone(),
                content: content.clone(),
                format: format.clone(),
                target_type: input
                    .target_type
                    .clone()
                    .or_else(|| previous.and_then(|v| v.target_type.clone())),
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| previous.and_then(|v| v.display_name.clone())),
                created_ms: now,
            };
            head.latest_version = number;
            head.last_number = number;
            txn.insert(hk.clone(), SsmRecord::Ext(Ext::Document(head.clone())));
            txn.insert(
                doc_version_key(p, &name, number),
                SsmRecord::Ext(Ext::DocVersion(version.clone())),
            );
            Ok((head, version))
        });
        let (head, version) = result?;
        let d = DocRef {
            head,
            owner: ctx.account().to_string(),
            built_in: None,
        };
        ok(
            json!({"DocumentDescription": description_json(&d, &version)}),
            Some(wv),
        )
    }

    pub(super) fn update_document_default_version(
        &self,
        ctx: &RequestContext,
        input: DocSelectInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        let requested = input
            .document_version
            .ok_or_else(|| AwsError::missing("documentVersion"))?;
        if built_in(&name).is_some() {
            return Err(not_owned());
        }
        let number: u64 = requested.parse().map_err(|_| bad_version())?;
        let p = &ctx.partition;
        let hk = doc_key(p, &name);
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Document(mut head))) = txn.get(&hk).cloned() else {
                return Err(doc_missing());
            };
            let Some(SsmRecord::Ext(Ext::DocVersion(v))) =
                txn.get(&doc_version_key(p, &name, number)).cloned()
            else {
                return Err(bad_version());
            };
            head.default_version = number;
            txn.insert(hk.clone(), SsmRecord::Ext(Ext::Document(head)));
            Ok(v)
        });
        let v = result?;
        let mut desc = json!({"Name": name, "DefaultVersion": number.to_string()});
        if let Some(n) = v.version_name {
            desc["DefaultVersionName"] = json!(n);
        }
        ok(json!({ "Description": desc }), Some(wv))
    }

    pub(super) fn delete_document(
        &self,
        ctx: &RequestContext,
        input: DocSelectInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        if built_in(&name).is_some() {
            return Err(not_owned());
        }
        let p = &ctx.partition;
        let hk = doc_key(p, &name);
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Document(mut head))) = txn.get(&hk).cloned() else {
                return Err(doc_missing());
            };
            if !head.shares.is_empty() {
                return Err(AwsError::new(
                    "InvalidDocumentOperation",
                    "You attempted to delete a document while it is still shared. You must stop sharing the document before you can delete it.",
                ));
            }
            let versions: Vec<DocVersionRec> = txn
                .scan_prefix(&doc_versions_prefix(p, &name))
                .filter_map(|(_, r)| match r {
                    SsmRecord::Ext(Ext::DocVersion(v)) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            if input.document_version.is_none() && input.version_name.is_none() {
                txn.remove(&hk);
                txn.remove_prefix(&doc_versions_prefix(p, &name));
                return Ok(());
            }
            let number = match input.document_version.as_deref() {
                Some("$LATEST") => Some(head.latest_version),
                Some("$DEFAULT") => Some(head.default_version),
                Some(n) => Some(n.parse::<u64>().map_err(|_| bad_version())?),
                None => None,
            };
            let target = versions
                .iter()
                .find(|v| {
                    number.is_none_or(|n| v.version == n)
                        && (input.version_name.is_none() || v.version_name == input.version_name)
                })
                .ok_or_else(doc_missing)?;
            if target.version == head.default_version {
                return Err(AwsError::new(
                    "InvalidDocumentOperation",
                    "Default version of the document can't be deleted.",
                ));
            }
            txn.remove(&doc_version_key(p, &name, target.version));
            if target.version == head.latest_version {
                head.latest_version = versions
                    .iter()
                    .map(|v| v.version)
                    .filter(|n| *n != target.version)
                    .max()
                    .unwrap_or(head.default_version);
                txn.insert(hk.clone(), SsmRecord::Ext(Ext::Document(head)));
            }
            Ok(())
        });
        result?;
        ok(json!({}), Some(wv))
    }

    pub(super) fn list_documents(
        &self,
        ctx: &RequestContext,
        input: ListDocumentsInput,
    ) -> Result<Output, AwsError> {
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let mut filters: Vec<(String, Vec<String>)> = Vec::new();
        for f in input.document_filter_list.unwrap_or_default() {
            let key = f.key.unwrap_or_default();
            if !matches!(
                key.as_str(),
                "Name" | "Owner" | "PlatformTypes" | "DocumentType"
            ) {
                return Err(AwsError::new(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
            filters.push((key, vec![f.value.unwrap_or_default()]));
        }
        for f in input.filters.unwrap_or_default() {
            let key = f.key.unwrap_or_default();
            if !matches!(
                key.as_str(),
                "Name"
                    | "Owner"
                    | "PlatformTypes"
                    | "DocumentType"
                    | "TargetType"
                    | "SearchKeyword"
            ) && !key.starts_with("tag:")
            {
                return Err(AwsError::new(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
            filters.push((key, f.values.unwrap_or_default()));
        }
        let after = match input.next_token.as_deref() {
            None => None,
            Some(t) => Some(unhex(t).ok_or_else(invalid_token)?),
        };
        let snap = self.store.snapshot();
        let base = ext_key(&ctx.partition, "doc").build();
        let (lo, hi) = base.prefix_range();
        let lo = match &after {
            Some(n) => Bound::Excluded(doc_key(&ctx.partition, n)),
            None => lo,
        };
        let matches = |d: &DocRef, v: &DocVersionRec| -> bool {
            filters.iter().all(|(k, values)| {
                let any = |x: &str| values.iter().any(|want| want == x);
                match k.as_str() {
                    "Name" => any(&d.head.name),
                    "Owner" => values.iter().any(|want| match want.as_str() {
                        "Self" | "Private" => d.owner != "Amazon",
                        "Amazon" | "Public" => d.owner == "Amazon",
                        "All" => true,
                        other => d.owner == other,
                    }),
                    "DocumentType" => any(&d.head.document_type),
                    "TargetType" => v.target_type.as_deref().is_some_and(any),
                    "PlatformTypes" => doc_info(&v.content, &v.format)
                        .platform_types()
                        .iter()
                        .any(|p| any(p)),
                    "SearchKeyword" => values.iter().any(|w| d.head.name.contains(w.as_str())),
                    tag => {
                        let tk = &tag[4..];
                        d.head
                            .tags
                            .iter()
                            .any(|(k2, v2)| k2 == tk && (values.is_empty() || any(v2)))
                    }
                }
            })
        };
        // The caller's documents in name order, merged with the AWS-owned ones.
        let mut found: Vec<(String, Value)> = Vec::new();
        for (_, rec) in snap.range((lo, hi)) {
            let SsmRecord::Ext(Ext::Document(head)) = rec else {
                continue;
            };
            let d = DocRef {
                head: head.clone(),
                owner: ctx.account().to_string(),
                built_in: None,
            };
            let Some(v) = get_version(&snap, ctx, &d, d.head.default_version) else {
                continue;
            };
            if matches(&d, &v) {
                found.push((d.head.name.clone(), identifier_json(&d, &v)));
                if found.len() > max {
                    break;
                }
            }
        }
        for b in BUILT_INS {
            if after.as_deref().is_some_and(|a| b.name <= a) {
                continue;
            }
            let d = DocRef {
                head: built_in_head(b),
                owner: "Amazon".into(),
                built_in: Some(b),
            };
            let v = built_in_version(b);
            if matches(&d, &v) {
                found.push((b.name.to_string(), identifier_json(&d, &v)));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let next = (found.len() > max).then(|| hex(&found[max - 1].0));
        found.truncate(max);
        let mut resp =
            json!({"DocumentIdentifiers": found.into_iter().map(|(_, v)| v).collect::<Vec<_>>()});
        if let Some(t) = next {
            resp["NextToken"] = json!(t);
        }
        ok(resp, None)
    }

    pub(super) fn list_document_versions(
        &self,
        ctx: &RequestContext,
        input: DocSelectInput,
    ) -> Result<Output, AwsError> {
        let name = doc_name(ctx, &input.name.ok_or_else(|| AwsError::missing("name"))?);
        let max = range_check(input.max_results, "maxResults", 50, 50)?;
        let snap = self.store.snapshot();
        let d = find_doc(&snap, ctx, &name).ok_or_else(doc_missing)?;
        let after: u64 = match input.next_token.as_deref() {
            None => 0,
            Some(t) => t.parse().map_err(|_| invalid_token())?,
        };
        let versions = all_versions(&snap, ctx, &d);
        let rest: Vec<&DocVersionRec> = versions.iter().filter(|v| v.version > after).collect();
        let page: Vec<Value> = rest
            .iter()
            .take(max)
            .map(|v| {
                let mut m = Map::new();
                m.insert("Name".into(), json!(d.head.name));
                if let Some(n) = &v.display_name {
                    m.insert("DisplayName".into(), json!(n));
                }
                m.insert("DocumentVersion".into(), json!(v.version.to_string()));
                if let Some(n) = &v.version_name {
                    m.insert("VersionName".into(), json!(n));
                }
                m.insert("CreatedDate".into(), json!(secs(v.created_ms)));
                m.insert(
                    "IsDefaultVersion".into(),
                    json!(v.version == d.head.default_version),
                );
                m.insert("DocumentFormat".into(), json!(v.format));
                m.insert("Status".into(), json!("Active"));
                Value::Object(m)
            })
            .collect();
        let mut resp = json!({ "DocumentVersions": page });
        if rest.len() > max {
            resp["NextToken"] = json!(rest[max - 1].version.to_string());
        }
        ok(resp, None)
    }

    pub(super) fn describe_document_permission(
        &self,
        ctx: &RequestContext,
        input: PermissionInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        check_permission_type(input.permission_type.as_deref())?;
        let max = range_check(input.max_results, "maxResults", 200, 200)?;
        let snap = self.store.snapshot();
        let d = find_doc(&snap, ctx, &name).ok_or_else(doc_missing)?;
        let start: usize = match input.next_token.as_deref() {
            None => 0,
            Some(t) => t
                .parse()
                .ok()
                .filter(|n| *n < d.head.shares.len())
                .ok_or_else(invalid_token)?,
        };
        let page: Vec<&(String, String)> = d.head.shares.iter().skip(start).take(max).collect();
        let mut resp = json!({
            "AccountIds": page.iter().map(|(a, _)| a).collect::<Vec<_>>(),
            "AccountSharingInfoList": page
                .iter()
                .map(|(a, v)| json!({"AccountId": a, "SharedDocumentVersion": v}))
                .collect::<Vec<_>>(),
        });
        if start + page.len() < d.head.shares.len() {
            resp["NextToken"] = json!((start + page.len()).to_string());
        }
        ok(resp, None)
    }

    pub(super) fn modify_document_permission(
        &self,
        ctx: &RequestContext,
        input: PermissionInput,
    ) -> Result<Output, AwsError> {
        let name = input.name.ok_or_else(|| AwsError::missing("name"))?;
        check_permission_type(input.permission_type.as_deref())?;
        if built_in(&name).is_some() {
            return Err(not_owned());
        }
        let add = input.account_ids_to_add.unwrap_or_default();
        let remove = input.account_ids_to_remove.unwrap_or_default();
        for list in [&add, &remove] {
            let all = list.iter().any(|a| a.eq_ignore_ascii_case("all"));
            if all && list.len() > 1 {
                return Err(AwsError::new(
                    "DocumentPermissionLimit",
                    "Accounts can either be all or a group of AWS accounts",
                ));
            }
        }
        let version = input
            .shared_document_version
            .unwrap_or_else(|| "$DEFAULT".into());
        let hk = doc_key(&ctx.partition, &name);
        let (result, wv) = self.store.write(|txn| {
            let Some(SsmRecord::Ext(Ext::Document(mut head))) = txn.get(&hk).cloned() else {
                return Err(doc_missing());
            };
            for a in &add {
                let a = if a.eq_ignore_ascii_case("all") { "all".to_string() } else { a.clone() };
                if a == "all" {
                    head.shares.clear();
                } else {
                    head.shares.retain(|(x, _)| x != "all");
                }
                match head.shares.iter_mut().find(|(x, _)| *x == a) {
                    Some(e) => e.1 = version.clone(),
                    None => head.shares.push((a, version.clone())),
                }
            }
            for a in &remove {
                if a.eq_ignore_ascii_case("all") {
                    head.shares.clear();
                } else {
                    head.shares.retain(|(x, _)| x != a);
                }
            }
            if head.shares.len() > MAX_SHARES {
                return Err(AwsError::new(
                    "DocumentPermissionLimit",
                    "The document cannot be shared with more AWS user accounts. You can share a document with a maximum of 20 accounts.",
                ));
            }
            txn.insert(hk.clone(), SsmRecord::Ext(Ext::Document(head)));
            Ok(())
        });
        result?;
        ok(json!({}), Some(wv))
    }
}

fn check_permission_type(t: Option<&str>) -> Result<(), AwsError> {
    match t {
        Some("Share") => Ok(()),
        None => Err(AwsError::missing("permissionType")),
        Some(other) => Err(AwsError::new(
            "InvalidPermissionType",
            format!(
                "Value '{other}' at 'permissionType' failed to satisfy constraint: Member must satisfy enum value set: [Share]."
            ),
        )),
    }
}

/// Content in the format asked for: as stored when the formats agree; JSON content is given as
/// YAML only through its JSON text (valid YAML), and YAML as JSON only through the outline.
fn convert(content: &str, from: &str, to: &str) -> Result<String, AwsError> {
    if from == to || to == "TEXT" {
        return Ok(content.to_string());
    }
    match (from, to) {
        ("JSON", "YAML") => Ok(content.to_string()),
        _ => Err(AwsError::new(
            "InvalidDocumentOperation",
            format!("The document can't be converted from {from} to {to}."),
        )),
    }
}

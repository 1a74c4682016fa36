//! Managed policies (the account's, with up to five versions, and AWS's as data), inline
//! policies of users, groups and roles, and attachments.

use snapstack_policy::PolicyKind;
use std::collections::HashMap;

use serde_json::{Map, Value, json};
use snapstack_protocol::errors::AwsError;

use crate::aws_managed::{self, AwsPolicy};
use crate::model::*;
use crate::util::*;
use crate::{Op, done};

/// Quotas on policy sizes (characters, whitespace not counted).
const MANAGED_SIZE: usize = 6144;
const USER_INLINE_SIZE: usize = 2048;
const GROUP_INLINE_SIZE: usize = 5120;
const ROLE_INLINE_SIZE: usize = 10240;
/// Versions a managed policy keeps at most.
const MAX_VERSIONS: usize = 5;
/// Managed policies attached to one user, group or role.
const MAX_ATTACHED: usize = 10;

/// IAM's check of a policy document of `kind` (the document is kept as given): its grammar,
/// effects, actions, resources, principals and conditions, by the policy crate, in IAM's
/// `MalformedPolicyDocument` wording. Sizes are the caller's to check: IAM's quotas count
/// every inline policy of an entity together and name the entity.
pub fn validate_document(doc: &str, kind: PolicyKind) -> Result<(), AwsError> {
    match snapstack_policy::Policy::parse(doc, kind) {
        Ok(_) | Err(snapstack_policy::PolicyError::TooLarge { .. }) => Ok(()),
        Err(e) => Err(malformed(e.message())),
    }
}

/// A managed policy: the account's or AWS's.
pub enum PolicyRef {
    Local(ManagedPolicy),
    Aws(&'static AwsPolicy),
}

/// The account's policy name an ARN names (`arn:aws:iam::<account>:policy<path><name>`).
fn local_name<'a>(op: &Op<'_, '_>, arn: &'a str) -> Option<&'a str> {
    let prefix = format!("arn:aws:iam::{}:policy", op.account);
    let rest = arn.strip_prefix(&prefix)?;
    rest.starts_with('/').then(|| rest.rsplit('/').next())?
}

fn local_policy(op: &Op<'_, '_>, arn: &str) -> Option<ManagedPolicy> {
    let name = local_name(op, arn)?;
    match op.txn.get(&named_key(&op.account, POLICY, name)) {
        Some(IamRecord::Policy(p)) if arn == local_arn(op, p) => Some((**p).clone()),
        _ => None,
    }
}

pub fn local_arn(op: &Op<'_, '_>, p: &ManagedPolicy) -> String {
    arn(&op.account, "policy", &p.path, &p.name)
}

pub fn find(op: &Op<'_, '_>, arn: &str) -> Option<PolicyRef> {
    if let Some(p) = aws_managed::by_arn(arn) {
        return Some(PolicyRef::Aws(p));
    }
    local_policy(op, arn).map(PolicyRef::Local)
}

fn not_found(arn: &str) -> AwsError {
    no_such(format!("Policy {arn} was not found."))
}

fn local_or_missing(op: &Op<'_, '_>, arn: &str) -> Result<ManagedPolicy, AwsError> {
    local_policy(op, arn).ok_or_else(|| not_found(arn))
}

/// A policy that can be attached (or set as a permissions boundary).
pub fn require_attachable(op: &Op<'_, '_>, arn: &str, boundary: bool) -> Result<(), AwsError> {
    if find(op, arn).is_some() {
        return Ok(());
    }
    Err(no_such(if boundary {
        format!("Scope ARN: {arn} does not exist or is not attachable.")
    } else {
        format!("Policy {arn} does not exist or is not attachable.")
    }))
}

/// For every policy ARN in use: (attachments, uses as a permissions boundary).
pub fn usage(op: &Op<'_, '_>) -> HashMap<String, (u64, u64)> {
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    let mut count = |arns: &[String], boundary: &Option<String>| {
        for a in arns {
            out.entry(a.clone()).or_default().0 += 1;
        }
        if let Some(b) = boundary {
            out.entry(b.clone()).or_default().1 += 1;
        }
    };
    for u in op.users() {
        count(&u.attached, &u.boundary);
    }
    for g in op.groups() {
        count(&g.attached, &None);
    }
    for r in op.roles() {
        count(&r.attached, &r.boundary);
    }
    out
}

impl PolicyRef {
    pub fn arn(&self, op: &Op<'_, '_>) -> String {
        match self {
            PolicyRef::Local(p) => local_arn(op, p),
            PolicyRef::Aws(p) => p.arn(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PolicyRef::Local(p) => &p.name,
            PolicyRef::Aws(p) => &p.name,
        }
    }

    /// The `Policy` shape (`ManagedPolicyDetail` with `versions`).
    pub fn out(
        &self,
        op: &Op<'_, '_>,
        usage: &HashMap<String, (u64, u64)>,
        tags: bool,
        versions: bool,
    ) -> Value {
        let arn = self.arn(op);
        let (attached, boundary) = usage.get(&arn).copied().unwrap_or_default();
        let mut out = Map::new();
        let (id, path, default, created, updated) = match self {
            PolicyRef::Local(p) => (
                p.id.clone(),
                p.path.clone(),
                format!("v{}", p.default_version),
                p.created,
                p.updated,
            ),
            PolicyRef::Aws(p) => (
                p.id(),
                p.path.clone(),
                p.default_version.clone(),
                p.created,
                p.updated,
            ),
        };
        out.insert("PolicyName".into(), json!(self.name()));
        out.insert("PolicyId".into(), json!(id));
        out.insert("Arn".into(), json!(arn));
        out.insert("Path".into(), json!(path));
        out.insert("DefaultVersionId".into(), json!(default));
        out.insert("AttachmentCount".into(), json!(attached));
        out.insert("PermissionsBoundaryUsageCount".into(), json!(boundary));
        out.insert("IsAttachable".into(), json!(true));
        out.insert("CreateDate".into(), date(created));
        out.insert("UpdateDate".into(), date(updated));
        if let PolicyRef::Local(p) = self {
            if let Some(d) = &p.description {
                out.insert("Description".into(), json!(d));
            }
            if tags && !p.tags.is_empty() {
                out.insert("Tags".into(), tags_out(&p.tags));
            }
        }
        if versions {
            out.insert("PolicyVersionList".into(), Value::Array(self.versions()));
        }
        Value::Object(out)
    }

    /// Every version, newest first, with documents.
    pub fn versions(&self) -> Vec<Value> {
        match self {
            PolicyRef::Local(p) => p
                .versions
                .iter()
                .rev()
                .map(|v| version_out(v, v.number == p.default_version, true))
                .collect(),
            PolicyRef::Aws(p) => vec![json!({
                "Document": encode_doc(&p.document), "VersionId": p.default_version,
                "IsDefaultVersion": true, "CreateDate": date(p.updated),
            })],
        }
    }
}

fn version_out(v: &PolicyVersion, default: bool, document: bool) -> Value {
    let mut out = json!({
        "VersionId": format!("v{}", v.number), "IsDefaultVersion": default,
        "CreateDate": date(v.created),
    });
    if document {
        out["Document"] = json!(encode_doc(&v.document));
    }
    out
}

fn managed_document(doc: &str) -> Result<String, AwsError> {
    validate_document(doc, PolicyKind::Managed)?;
    if policy_size(doc) > MANAGED_SIZE {
        return Err(limit(format!(
            "Cannot exceed quota for PolicySize: {MANAGED_SIZE}"
        )));
    }
    Ok(doc.to_string())
}

pub fn create_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("PolicyName").to_string();
    let document = managed_document(op.s("PolicyDocument"))?;
    if op.has(POLICY, &name) {
        return Err(exists(format!(
            "A policy called {name} already exists. Duplicate names are not allowed."
        )));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let p = ManagedPolicy {
        name: name.clone(),
        id: new_id("ANPA"),
        path: path(op.input),
        created: op.now,
        updated: op.now,
        description: op.opt("Description").map(str::to_string),
        default_version: 1,
        next_version: 2,
        versions: vec![PolicyVersion {
            number: 1,
            document,
            created: op.now,
        }],
        tags,
    };
    op.txn.insert(
        named_key(&op.account, POLICY, &name),
        IamRecord::Policy(Box::new(p.clone())),
    );
    let out = PolicyRef::Local(p).out(op, &HashMap::new(), true, false);
    Ok(json!({ "Policy": out }))
}

pub fn put_policy(op: &mut Op<'_, '_>, p: ManagedPolicy) {
    op.txn.insert(
        named_key(&op.account, POLICY, &p.name),
        IamRecord::Policy(Box::new(p)),
    );
}

pub fn get_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn");
    let p = find(op, arn).ok_or_else(|| not_found(arn))?;
    let usage = usage(op);
    Ok(json!({ "Policy": p.out(op, &usage, true, false) }))
}

pub fn delete_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn").to_string();
    let p = local_or_missing(op, &arn)?;
    if usage(op).contains_key(&arn) {
        return Err(conflict("Cannot delete a policy attached to entities."));
    }
    if p.versions.len() > 1 {
        return Err(conflict(
            "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
        ));
    }
    op.remove(POLICY, &p.name);
    done()
}

pub fn list_policies(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let scope = op.opt("Scope").unwrap_or("All");
    let only_attached = boolean(op.input, "OnlyAttached").unwrap_or(false);
    let usage_filter = op.opt("PolicyUsageFilter");
    let usage = usage(op);
    let mut refs: Vec<PolicyRef> = Vec::new();
    if scope != "AWS" {
        let prefix = kind_prefix(&op.account, POLICY);
        refs.extend(op.txn.scan_prefix(&prefix).filter_map(|(_, r)| match r {
            IamRecord::Policy(p) => Some(PolicyRef::Local((**p).clone())),
            _ => None,
        }));
    }
    if scope != "Local" {
        refs.extend(aws_managed::all().values().map(PolicyRef::Aws));
    }
    let items = refs
        .into_iter()
        .filter(|p| {
            let path = match p {
                PolicyRef::Local(p) => &p.path,
                PolicyRef::Aws(p) => &p.path,
            };
            if !under(op.input, path) {
                return false;
            }
            let (a, b) = usage.get(&p.arn(op)).copied().unwrap_or_default();
            let used = match usage_filter {
                Some("PermissionsPolicy") => a > 0,
                Some("PermissionsBoundary") => b > 0,
                _ => a + b > 0,
            };
            !only_attached || used
        })
        .map(|p| p.out(op, &usage, false, false))
        .collect();
    Ok(page(op.input, "Policies", items))
}

fn version_number(id: &str) -> Option<u32> {
    id.strip_prefix('v')?.parse().ok()
}

fn no_version(arn: &str, id: &str) -> AwsError {
    no_such(format!(
        "Policy {arn} version {id} does not exist or is not attachable."
    ))
}

pub fn create_policy_version(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn").to_string();
    let mut p = local_or_missing(op, &arn)?;
    let document = managed_document(op.s("PolicyDocument"))?;
    if p.versions.len() >= MAX_VERSIONS {
        return Err(limit(
            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
        ));
    }
    let v = PolicyVersion {
        number: p.next_version,
        document,
        created: op.now,
    };
    p.next_version += 1;
    let default = boolean(op.input, "SetAsDefault").unwrap_or(false);
    if default {
        p.default_version = v.number;
    }
    p.updated = op.now;
    let out = version_out(&v, default, false);
    p.versions.push(v);
    put_policy(op, p);
    Ok(json!({ "PolicyVersion": out }))
}

pub fn get_policy_version(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn");
    let id = op.s("VersionId");
    let p = find(op, arn).ok_or_else(|| not_found(arn))?;
    let out = match &p {
        PolicyRef::Aws(a) if a.default_version == id => p.versions().remove(0),
        PolicyRef::Local(l) => {
            let v = version_number(id)
                .and_then(|n| l.versions.iter().find(|v| v.number == n))
                .ok_or_else(|| no_version(arn, id))?;
            version_out(v, v.number == l.default_version, true)
        }
        _ => return Err(no_version(arn, id)),
    };
    Ok(json!({ "PolicyVersion": out }))
}

pub fn list_policy_versions(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn");
    let p = find(op, arn).ok_or_else(|| not_found(arn))?;
    let items = p
        .versions()
        .into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("Document");
            }
            v
        })
        .collect();
    Ok(page(op.input, "Versions", items))
}

pub fn delete_policy_version(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn").to_string();
    let id = op.s("VersionId").to_string();
    let mut p = local_or_missing(op, &arn)?;
    let n = version_number(&id)
        .filter(|n| p.versions.iter().any(|v| v.number == *n))
        .ok_or_else(|| no_version(&arn, &id))?;
    if n == p.default_version {
        return Err(conflict("Cannot delete the default version of a policy."));
    }
    p.versions.retain(|v| v.number != n);
    put_policy(op, p);
    done()
}

pub fn set_default_policy_version(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn").to_string();
    let id = op.s("VersionId").to_string();
    let mut p = local_or_missing(op, &arn)?;
    let n = version_number(&id)
        .filter(|n| p.versions.iter().any(|v| v.number == *n))
        .ok_or_else(|| no_version(&arn, &id))?;
    p.default_version = n;
    p.updated = op.now;
    put_policy(op, p);
    done()
}

pub fn list_entities_for_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("PolicyArn").to_string();
    if find(op, &arn).is_none() {
        return Err(not_found(&arn));
    }
    let filter = op.opt("EntityFilter");
    let usage = op.opt("PolicyUsageFilter");
    let wants = |kind: &str| filter.is_none_or(|f| f == kind);
    let uses = |attached: &[String], boundary: &Option<String>| match usage {
        Some("PermissionsPolicy") => attached.contains(&arn),
        Some("PermissionsBoundary") => boundary.as_deref() == Some(&arn),
        _ => attached.contains(&arn) || boundary.as_deref() == Some(&arn),
    };
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut roles = Vec::new();
    if wants("User") {
        for u in op.users() {
            if under(op.input, &u.path) && uses(&u.attached, &u.boundary) {
                users.push(json!({"UserName": u.name, "UserId": u.id}));
            }
        }
    }
    if wants("Group") {
        for g in op.groups() {
            if under(op.input, &g.path) && uses(&g.attached, &None) {
                groups.push(json!({"GroupName": g.name, "GroupId": g.id}));
            }
        }
    }
    if wants("Role") {
        for r in op.roles() {
            if under(op.input, &r.path) && uses(&r.attached, &r.boundary) {
                roles.push(json!({"RoleName": r.name, "RoleId": r.id}));
            }
        }
    }
    Ok(json!({
        "PolicyUsers": users, "PolicyGroups": groups, "PolicyRoles": roles, "IsTruncated": false,
    }))
}

/// Which kind of principal an inline-policy or attachment operation addresses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holder {
    User,
    Group,
    Role,
}

/// A user, group or role being edited.
enum Entity {
    User(User),
    Group(Group),
    Role(Role),
}

impl Entity {
    fn load(op: &Op<'_, '_>, h: Holder) -> Result<Entity, AwsError> {
        Ok(match h {
            Holder::User => Entity::User(op.user(op.s("UserName"))?),
            Holder::Group => Entity::Group(op.group(op.s("GroupName"))?),
            Holder::Role => Entity::Role(op.role(op.s("RoleName"))?),
        })
    }

    fn parts(&mut self) -> (&str, &mut Inline, &mut Vec<String>) {
        match self {
            Entity::User(u) => (&u.name, &mut u.inline, &mut u.attached),
            Entity::Group(g) => (&g.name, &mut g.inline, &mut g.attached),
            Entity::Role(r) => (&r.name, &mut r.inline, &mut r.attached),
        }
    }

    fn save(self, op: &mut Op<'_, '_>) {
        match self {
            Entity::User(u) => op.put_user(u),
            Entity::Group(g) => op.put_group(g),
            Entity::Role(r) => op.put_role(r),
        }
    }
}

fn kind_word(h: Holder) -> &'static str {
    match h {
        Holder::User => "user",
        Holder::Group => "group",
        Holder::Role => "role",
    }
}

pub fn put_inline(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let name = op.s("PolicyName").to_string();
    let doc = op.s("PolicyDocument").to_string();
    validate_document(
        &doc,
        match h {
            Holder::User => PolicyKind::InlineUser,
            Holder::Group => PolicyKind::InlineGroup,
            Holder::Role => PolicyKind::InlineRole,
        },
    )?;
    let quota = match h {
        Holder::User => USER_INLINE_SIZE,
        Holder::Group => GROUP_INLINE_SIZE,
        Holder::Role => ROLE_INLINE_SIZE,
    };
    let (owner, inline, _) = e.parts();
    let others: usize = inline
        .iter()
        .filter(|(n, _)| *n != name)
        .map(|(_, d)| policy_size(d))
        .sum();
    if others + policy_size(&doc) > quota {
        return Err(limit(format!(
            "Maximum policy size of {quota} bytes exceeded for {} {owner}",
            kind_word(h)
        )));
    }
    match inline.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = doc,
        None => inline.push((name, doc)),
    }
    e.save(op);
    done()
}

pub fn get_inline(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let name = op.s("PolicyName");
    let (owner, inline, _) = e.parts();
    let doc = inline
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d.clone())
        .ok_or_else(|| {
            no_such(format!(
                "The {} policy with name {name} cannot be found.",
                kind_word(h)
            ))
        })?;
    let mut out = json!({"PolicyName": name, "PolicyDocument": encode_doc(&doc)});
    let member = match h {
        Holder::User => "UserName",
        Holder::Group => "GroupName",
        Holder::Role => "RoleName",
    };
    out[member] = json!(owner);
    Ok(out)
}

pub fn delete_inline(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let name = op.s("PolicyName").to_string();
    let (_, inline, _) = e.parts();
    let before = inline.len();
    inline.retain(|(n, _)| *n != name);
    if inline.len() == before {
        return Err(no_such(format!(
            "The {} policy with name {name} cannot be found.",
            kind_word(h)
        )));
    }
    e.save(op);
    done()
}

pub fn list_inline(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let (_, inline, _) = e.parts();
    let mut names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    Ok(page(
        op.input,
        "PolicyNames",
        names.into_iter().map(Value::from).collect(),
    ))
}

pub fn attach(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let arn = op.s("PolicyArn").to_string();
    require_attachable(op, &arn, false)?;
    let (_, _, attached) = e.parts();
    if attached.contains(&arn) {
        return done();
    }
    if attached.len() >= MAX_ATTACHED {
        let quota = match h {
            Holder::User => "PoliciesPerUser",
            Holder::Group => "PoliciesPerGroup",
            Holder::Role => "PoliciesPerRole",
        };
        return Err(limit(format!(
            "Cannot exceed quota for {quota}: {MAX_ATTACHED}"
        )));
    }
    attached.push(arn);
    e.save(op);
    done()
}

pub fn detach(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let arn = op.s("PolicyArn").to_string();
    let (_, _, attached) = e.parts();
    if !attached.contains(&arn) {
        return Err(not_found(&arn));
    }
    attached.retain(|a| *a != arn);
    e.save(op);
    done()
}

/// `AttachedPolicy` shapes of the ARNs attached (names from the ARNs).
pub fn attached_out(attached: &[String]) -> Vec<Value> {
    attached
        .iter()
        .map(|a| {
            let name = a.rsplit('/').next().unwrap_or(a);
            json!({"PolicyName": name, "PolicyArn": a})
        })
        .collect()
}

pub fn list_attached(op: &mut Op<'_, '_>, h: Holder) -> Result<Value, AwsError> {
    let mut e = Entity::load(op, h)?;
    let (_, _, attached) = e.parts();
    let prefix = op.opt("PathPrefix").map(str::to_string);
    let items = attached
        .clone()
        .into_iter()
        .filter(|a| {
            prefix.as_deref().is_none_or(|p| {
                find(op, a).is_some_and(|r| match r {
                    PolicyRef::Local(l) => l.path.starts_with(p),
                    PolicyRef::Aws(w) => w.path.starts_with(p),
                })
            })
        })
        .collect::<Vec<_>>();
    Ok(page(op.input, "AttachedPolicies", attached_out(&items)))
}

/// `PolicyDetail` shapes of inline policies.
pub fn inline_out(inline: &Inline) -> Vec<Value> {
    inline
        .iter()
        .map(|(n, d)| json!({"PolicyName": n, "PolicyDocument": encode_doc(d)}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_checked_as_iam_does() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(validate_document(ok, PolicyKind::Managed).is_ok());
        // Inline policies may leave the version out; managed ones may not.
        let old = r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
        assert!(validate_document(old, PolicyKind::InlineUser).is_ok());
        assert!(validate_document(old, PolicyKind::Managed).is_err());
        // The grammar beyond the outline: a statement without actions, a trust policy
        // without a principal.
        let e = validate_document(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            PolicyKind::Managed,
        )
        .unwrap_err();
        assert_eq!(e.message, "Policy statement must contain actions.");
        let e = validate_document(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
            PolicyKind::Trust,
        )
        .unwrap_err();
        assert_eq!(e.code, "MalformedPolicyDocument");
        for bad in [
            "not json",
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Version":"2020-01-01","Statement":[{"Effect":"Allow"}]}"#,
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe"}]}"#,
            r#"{"Statement":["x"]}"#,
        ] {
            let e = validate_document(bad, PolicyKind::Managed).unwrap_err();
            assert_eq!(e.code, "MalformedPolicyDocument", "{bad}");
        }
    }
}

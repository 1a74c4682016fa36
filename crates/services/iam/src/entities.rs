//! Users, groups (and membership) and roles, service-linked roles included.

use serde_json::{Map, Value, json};
use snapstack_protocol::errors::AwsError;

use crate::model::*;
use crate::util::*;
use crate::{Op, done, policies};

/// The quota of a role's trust policy (`ACLSizePerRole`).
const TRUST_POLICY_SIZE: usize = 2048;

fn boundary_out(boundary: &Option<String>) -> Option<Value> {
    boundary.as_ref().map(|arn| {
        json!({"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn})
    })
}

fn insert_opt(out: &mut Map<String, Value>, name: &str, v: Option<Value>) {
    if let Some(v) = v {
        out.insert(name.to_string(), v);
    }
}

/// A `User` shape; `full` adds what GetUser/CreateUser show (boundary, tags).
pub fn user_out(account: &str, u: &User, full: bool) -> Value {
    let mut out = Map::new();
    out.insert("Path".into(), json!(u.path));
    out.insert("UserName".into(), json!(u.name));
    out.insert("UserId".into(), json!(u.id));
    out.insert("Arn".into(), json!(arn(account, "user", &u.path, &u.name)));
    out.insert("CreateDate".into(), date(u.created));
    insert_opt(&mut out, "PasswordLastUsed", u.password_last_used.map(date));
    if full {
        insert_opt(&mut out, "PermissionsBoundary", boundary_out(&u.boundary));
        if !u.tags.is_empty() {
            out.insert("Tags".into(), tags_out(&u.tags));
        }
    }
    Value::Object(out)
}

pub fn group_out(account: &str, g: &Group) -> Value {
    json!({
        "Path": g.path, "GroupName": g.name, "GroupId": g.id,
        "Arn": arn(account, "group", &g.path, &g.name), "CreateDate": date(g.created),
    })
}

/// A `Role` shape; `full` adds what GetRole shows (boundary, tags, last use).
pub fn role_out(account: &str, r: &Role, full: bool) -> Value {
    let mut out = Map::new();
    out.insert("Path".into(), json!(r.path));
    out.insert("RoleName".into(), json!(r.name));
    out.insert("RoleId".into(), json!(r.id));
    out.insert("Arn".into(), json!(arn(account, "role", &r.path, &r.name)));
    out.insert("CreateDate".into(), date(r.created));
    out.insert(
        "AssumeRolePolicyDocument".into(),
        json!(encode_doc(&r.trust_policy)),
    );
    insert_opt(
        &mut out,
        "Description",
        r.description.clone().map(Value::from),
    );
    out.insert("MaxSessionDuration".into(), json!(r.max_session_duration));
    if full {
        insert_opt(&mut out, "PermissionsBoundary", boundary_out(&r.boundary));
        if !r.tags.is_empty() {
            out.insert("Tags".into(), tags_out(&r.tags));
        }
        out.insert("RoleLastUsed".into(), last_used_out(r));
    }
    Value::Object(out)
}

pub fn last_used_out(r: &Role) -> Value {
    match &r.last_used {
        Some((when, region)) => json!({"LastUsedDate": date(*when), "Region": region}),
        None => json!({}),
    }
}

fn tags_checked(op: &Op<'_, '_>) -> Result<Tags, AwsError> {
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    Ok(tags)
}

fn boundary_checked(op: &Op<'_, '_>) -> Result<Option<String>, AwsError> {
    match op.opt("PermissionsBoundary") {
        Some(arn) => {
            policies::require_attachable(op, arn, true)?;
            Ok(Some(arn.to_string()))
        }
        None => Ok(None),
    }
}

pub fn create_user(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("UserName").to_string();
    if op.has(USER, &name) {
        return Err(exists(format!("User with name {name} already exists.")));
    }
    let user = User {
        name,
        id: new_id("AIDA"),
        path: path(op.input),
        created: op.now,
        boundary: boundary_checked(op)?,
        tags: tags_checked(op)?,
        inline: vec![],
        attached: vec![],
        login: None,
        password_last_used: None,
    };
    let out = user_out(&op.account, &user, true);
    op.put_user(user);
    Ok(json!({ "User": out }))
}

pub fn get_user(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = match op.opt("UserName") {
        Some(n) => n.to_string(),
        None => match op.caller_user() {
            Some(n) => n,
            None => {
                // The account's root user.
                let a = &op.account;
                return Ok(json!({"User": {
                    "Path": "/", "UserName": "", "UserId": a,
                    "Arn": format!("arn:aws:iam::{a}:root"), "CreateDate": date(0),
                }}));
            }
        },
    };
    let u = op.user(&name)?;
    Ok(json!({ "User": user_out(&op.account, &u, true) }))
}

pub fn list_users(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op
        .users()
        .iter()
        .filter(|u| under(op.input, &u.path))
        .map(|u| user_out(&op.account, u, false))
        .collect();
    Ok(page(op.input, "Users", items))
}

pub fn update_user(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = op.user(op.s("UserName"))?;
    let old = u.name.clone();
    if let Some(p) = op.opt("NewPath") {
        u.path = p.to_string();
    }
    if let Some(new) = op.opt("NewUserName").map(str::to_string)
        && new != old
    {
        if !new.eq_ignore_ascii_case(&old) && op.has(USER, &new) {
            return Err(exists(format!("User with name {new} already exists.")));
        }
        op.remove(USER, &old);
        u.name = new.clone();
        for mut g in op.groups() {
            if let Some(m) = g.members.iter_mut().find(|m| m.eq_ignore_ascii_case(&old)) {
                *m = new.clone();
                op.put_group(g);
            }
        }
        for mut k in op.keys_of(&old) {
            k.user = new.clone();
            op.txn
                .insert(access_key_key(&k.id), IamRecord::AccessKey(Box::new(k)));
        }
        crate::creds::rename_user(op, &old, &new);
    }
    op.put_user(u);
    done()
}

pub fn delete_user(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let u = op.user(op.s("UserName"))?;
    if u.login.is_some() {
        return Err(conflict(
            "Cannot delete entity, must delete login profile first.",
        ));
    }
    if !op.keys_of(&u.name).is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete access keys first.",
        ));
    }
    if !u.inline.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !u.attached.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    if op
        .groups()
        .iter()
        .any(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
    {
        return Err(conflict(
            "Cannot delete entity, must remove user from all groups first.",
        ));
    }
    crate::creds::user_has_credentials(op, &u.name)?;
    op.remove(USER, &u.name);
    done()
}

pub fn put_user_boundary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = op.user(op.s("UserName"))?;
    let arn = op.s("PermissionsBoundary").to_string();
    policies::require_attachable(op, &arn, true)?;
    u.boundary = Some(arn);
    op.put_user(u);
    done()
}

pub fn delete_user_boundary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = op.user(op.s("UserName"))?;
    u.boundary = None;
    op.put_user(u);
    done()
}

pub fn create_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("GroupName").to_string();
    if op.has(GROUP, &name) {
        return Err(exists(format!("Group with name {name} already exists.")));
    }
    let g = Group {
        name,
        id: new_id("AGPA"),
        path: path(op.input),
        created: op.now,
        inline: vec![],
        attached: vec![],
        members: vec![],
    };
    let out = group_out(&op.account, &g);
    op.put_group(g);
    Ok(json!({ "Group": out }))
}

pub fn get_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let g = op.group(op.s("GroupName"))?;
    let users: Vec<Value> = g
        .members
        .iter()
        .filter_map(|m| op.user(m).ok())
        .map(|u| user_out(&op.account, &u, false))
        .collect();
    let mut out = page(op.input, "Users", users);
    out["Group"] = group_out(&op.account, &g);
    Ok(out)
}

pub fn list_groups(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op
        .groups()
        .iter()
        .filter(|g| under(op.input, &g.path))
        .map(|g| group_out(&op.account, g))
        .collect();
    Ok(page(op.input, "Groups", items))
}

pub fn list_groups_for_user(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let u = op.user(op.s("UserName"))?;
    let items = op
        .groups()
        .iter()
        .filter(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
        .map(|g| group_out(&op.account, g))
        .collect();
    Ok(page(op.input, "Groups", items))
}

pub fn update_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut g = op.group(op.s("GroupName"))?;
    if let Some(p) = op.opt("NewPath") {
        g.path = p.to_string();
    }
    if let Some(new) = op.opt("NewGroupName").map(str::to_string)
        && new != g.name
    {
        if !new.eq_ignore_ascii_case(&g.name) && op.has(GROUP, &new) {
            return Err(exists(format!("Group with name {new} already exists.")));
        }
        op.remove(GROUP, &g.name.clone());
        g.name = new;
    }
    op.put_group(g);
    done()
}

pub fn delete_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let g = op.group(op.s("GroupName"))?;
    if !g.members.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must remove users from group first.",
        ));
    }
    if !g.inline.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !g.attached.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    op.remove(GROUP, &g.name);
    done()
}

pub fn add_user_to_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut g = op.group(op.s("GroupName"))?;
    let u = op.user(op.s("UserName"))?;
    if !g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)) {
        g.members.push(u.name);
        op.put_group(g);
    }
    done()
}

pub fn remove_user_from_group(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut g = op.group(op.s("GroupName"))?;
    let u = op.user(op.s("UserName"))?;
    let before = g.members.len();
    g.members.retain(|m| !m.eq_ignore_ascii_case(&u.name));
    if g.members.len() == before {
        return Err(no_such(format!(
            "The user with name {} cannot be found.",
            u.name
        )));
    }
    op.put_group(g);
    done()
}

/// A trust policy, checked: a policy document within `ACLSizePerRole`.
fn trust_policy(doc: &str) -> Result<String, AwsError> {
    policies::validate_document(doc, snapstack_policy::PolicyKind::Trust)?;
    if policy_size(doc) > TRUST_POLICY_SIZE {
        return Err(limit(format!(
            "Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}"
        )));
    }
    Ok(doc.to_string())
}

pub fn create_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("RoleName").to_string();
    let trust = trust_policy(op.s("AssumeRolePolicyDocument"))?;
    if op.has(ROLE, &name) {
        return Err(exists(format!("Role with name {name} already exists.")));
    }
    let role = Role {
        name,
        id: new_id("AROA"),
        path: path(op.input),
        created: op.now,
        trust_policy: trust,
        description: op.opt("Description").map(str::to_string),
        max_session_duration: number(op.input, "MaxSessionDuration").unwrap_or(3600) as u32,
        boundary: boundary_checked(op)?,
        tags: tags_checked(op)?,
        inline: vec![],
        attached: vec![],
        last_used: None,
    };
    let mut out = role_out(&op.account, &role, true);
    if let Some(o) = out.as_object_mut() {
        o.remove("RoleLastUsed");
    }
    op.put_role(role);
    Ok(json!({ "Role": out }))
}

pub fn get_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let r = op.role(op.s("RoleName"))?;
    Ok(json!({ "Role": role_out(&op.account, &r, true) }))
}

pub fn list_roles(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op
        .roles()
        .iter()
        .filter(|r| under(op.input, &r.path))
        .map(|r| role_out(&op.account, r, false))
        .collect();
    Ok(page(op.input, "Roles", items))
}

pub fn update_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut r = op.role(op.s("RoleName"))?;
    protect_service_linked(&r)?;
    if let Some(d) = op.opt("Description") {
        r.description = Some(d.to_string());
    }
    if let Some(m) = number(op.input, "MaxSessionDuration") {
        r.max_session_duration = m as u32;
    }
    op.put_role(r);
    done()
}

pub fn update_role_description(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut r = op.role(op.s("RoleName"))?;
    r.description = Some(op.s("Description").to_string());
    let out = role_out(&op.account, &r, true);
    op.put_role(r);
    Ok(json!({ "Role": out }))
}

pub fn update_assume_role_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut r = op.role(op.s("RoleName"))?;
    protect_service_linked(&r)?;
    r.trust_policy = trust_policy(op.s("PolicyDocument"))?;
    op.put_role(r);
    done()
}

fn is_service_linked(r: &Role) -> bool {
    r.path.starts_with("/aws-service-role/")
}

fn protect_service_linked(r: &Role) -> Result<(), AwsError> {
    if is_service_linked(r) {
        return Err(AwsError::new(
            "UnmodifiableEntity",
            format!(
                "Cannot perform the operation on the protected role '{}' - this role is only modifiable by AWS",
                r.name
            ),
        ));
    }
    Ok(())
}

fn role_conflicts(op: &Op<'_, '_>, r: &Role) -> Result<(), AwsError> {
    if op
        .profiles()
        .iter()
        .any(|p| p.roles.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
    {
        return Err(conflict(
            "Cannot delete entity, must remove roles from instance profile first.",
        ));
    }
    if !r.inline.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !r.attached.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    Ok(())
}

pub fn delete_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let r = op.role(op.s("RoleName"))?;
    protect_service_linked(&r)?;
    role_conflicts(op, &r)?;
    op.remove(ROLE, &r.name);
    done()
}

pub fn put_role_boundary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut r = op.role(op.s("RoleName"))?;
    protect_service_linked(&r)?;
    let arn = op.s("PermissionsBoundary").to_string();
    policies::require_attachable(op, &arn, true)?;
    r.boundary = Some(arn);
    op.put_role(r);
    done()
}

pub fn delete_role_boundary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut r = op.role(op.s("RoleName"))?;
    protect_service_linked(&r)?;
    r.boundary = None;
    op.put_role(r);
    done()
}

/// The role name AWS gives a service's service-linked role: `AWSServiceRoleFor` and the
/// service's name in AWS's capitalisation for well-known services, else each dotted or dashed
/// part of the service principal capitalised.
fn service_linked_name(service: &str) -> String {
    let prefix = service.strip_suffix(".amazonaws.com").unwrap_or(service);
    let known = [
        ("autoscaling", "AutoScaling"),
        ("elasticloadbalancing", "ElasticLoadBalancing"),
        ("ecs", "ECS"),
        ("eks", "AmazonEKS"),
        ("rds", "RDS"),
        ("elasticbeanstalk", "ElasticBeanstalk"),
        ("es", "AmazonElasticsearchService"),
        ("opensearchservice", "AmazonOpenSearchService"),
        ("spot", "EC2Spot"),
        ("spotfleet", "EC2SpotFleet"),
        ("organizations", "Organizations"),
        ("sso", "SSO"),
        ("lambda", "Lambda"),
        ("dynamodb", "DynamoDB"),
        ("elasticache", "ElastiCache"),
        ("support", "Support"),
        ("trustedadvisor", "TrustedAdvisor"),
        ("config", "Config"),
        ("cloudtrail", "CloudTrail"),
        ("guardduty", "AmazonGuardDuty"),
        ("securityhub", "SecurityHub"),
        ("apigateway", "APIGateway"),
        (
            "application-autoscaling",
            "ApplicationAutoScaling_DynamoDBTable",
        ),
    ];
    let body = known
        .iter()
        .find(|(k, _)| *k == prefix)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| {
            prefix
                .split(['.', '-'])
                .map(|part| {
                    let mut c = part.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect()
        });
    format!("AWSServiceRoleFor{body}")
}

pub fn create_service_linked_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let service = op.s("AWSServiceName").to_string();
    if !service.ends_with(".amazonaws.com") {
        return Err(invalid_input("Invalid service name."));
    }
    let mut name = service_linked_name(&service);
    if let Some(suffix) = op.opt("CustomSuffix") {
        name = format!("{name}_{suffix}");
    }
    if op.has(ROLE, &name) {
        return Err(invalid_input(format!(
            "Service role name {name} has been taken in this account, please try a different suffix."
        )));
    }
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
    })
    .to_string();
    let role = Role {
        name,
        id: new_id("AROA"),
        path: format!("/aws-service-role/{service}/"),
        created: op.now,
        trust_policy: trust,
        description: op.opt("Description").map(str::to_string),
        max_session_duration: 3600,
        boundary: None,
        tags: vec![],
        inline: vec![],
        attached: vec![],
        last_used: None,
    };
    let mut out = role_out(&op.account, &role, true);
    if let Some(o) = out.as_object_mut() {
        o.remove("RoleLastUsed");
    }
    op.put_role(role);
    Ok(json!({ "Role": out }))
}

pub fn delete_service_linked_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let r = op.role(op.s("RoleName"))?;
    if !is_service_linked(&r) {
        return Err(validation(format!(
            "Role {} is not a service-linked role.",
            r.name
        )));
    }
    role_conflicts(op, &r).or_else(|e| {
        if e.code == "DeleteConflict" && !r.attached.is_empty() && r.inline.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let service = r
        .path
        .trim_start_matches("/aws-service-role/")
        .trim_end_matches('/')
        .to_string();
    op.remove(ROLE, &r.name);
    let task = format!(
        "task/aws-service-role/{service}/{}/{}",
        r.name,
        random_chars(12).to_ascii_lowercase()
    );
    Ok(json!({ "DeletionTaskId": task }))
}

/// Deletion is immediate: a task id of the form `DeleteServiceLinkedRole` hands out, for a role
/// that no longer exists, has succeeded.
pub fn service_linked_role_deletion_status(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let task = op.s("DeletionTaskId");
    let parts: Vec<&str> = task.split('/').collect();
    let role = match parts.as_slice() {
        ["task", "aws-service-role", _, role, _] => *role,
        _ => {
            return Err(invalid_input(format!("Invalid deletion task id: {task}")));
        }
    };
    let status = if op.has(ROLE, role) {
        "IN_PROGRESS"
    } else {
        "SUCCEEDED"
    };
    Ok(json!({ "Status": status }))
}

//! Instance profiles and the account's own settings and views: aliases, the password policy,
//! STS preferences, the summary, the credential report and `GetAccountAuthorizationDetails`.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use snapstack_protocol::codec::time::iso8601;
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::entities::{group_out, role_out, user_out};
use crate::model::*;
use crate::policies::{self, PolicyRef, attached_out, inline_out};
use crate::util::*;
use crate::{Op, done};

/// A credential report is valid for four hours.
const REPORT_TTL_MS: u64 = 4 * 3600 * 1000;

pub fn profile_out(op: &Op<'_, '_>, p: &InstanceProfile, tags: bool) -> Value {
    let roles: Vec<Value> = p
        .roles
        .iter()
        .filter_map(|n| op.role(n).ok())
        .map(|r| {
            let mut v = role_out(&op.account, &r, false);
            if let Some(o) = v.as_object_mut() {
                o.remove("MaxSessionDuration");
            }
            v
        })
        .collect();
    let mut out = json!({
        "Path": p.path, "InstanceProfileName": p.name, "InstanceProfileId": p.id,
        "Arn": arn(&op.account, "instance-profile", &p.path, &p.name),
        "CreateDate": date(p.created), "Roles": roles,
    });
    if tags && !p.tags.is_empty() {
        out["Tags"] = tags_out(&p.tags);
    }
    out
}

pub fn create_instance_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let name = op.s("InstanceProfileName").to_string();
    if op.has(PROFILE, &name) {
        return Err(exists(format!("Instance Profile {name} already exists.")));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let p = InstanceProfile {
        name,
        id: new_id("AIPA"),
        path: path(op.input),
        created: op.now,
        roles: vec![],
        tags,
    };
    let out = profile_out(op, &p, true);
    op.put_profile(p);
    Ok(json!({ "InstanceProfile": out }))
}

pub fn get_instance_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = op.profile(op.s("InstanceProfileName"))?;
    Ok(json!({ "InstanceProfile": profile_out(op, &p, true) }))
}

pub fn list_instance_profiles(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op
        .profiles()
        .iter()
        .filter(|p| under(op.input, &p.path))
        .map(|p| profile_out(op, p, false))
        .collect();
    Ok(page(op.input, "InstanceProfiles", items))
}

pub fn list_instance_profiles_for_role(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let r = op.role(op.s("RoleName"))?;
    let items = op
        .profiles()
        .iter()
        .filter(|p| p.roles.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
        .map(|p| profile_out(op, p, false))
        .collect();
    Ok(page(op.input, "InstanceProfiles", items))
}

pub fn add_role_to_instance_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = op.profile(op.s("InstanceProfileName"))?;
    let r = op.role(op.s("RoleName"))?;
    if !p.roles.is_empty() {
        return Err(limit(
            "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
        ));
    }
    p.roles.push(r.name);
    op.put_profile(p);
    done()
}

pub fn remove_role_from_instance_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut p = op.profile(op.s("InstanceProfileName"))?;
    let r = op.role(op.s("RoleName"))?;
    let before = p.roles.len();
    p.roles.retain(|n| !n.eq_ignore_ascii_case(&r.name));
    if p.roles.len() == before {
        return Err(no_such(format!(
            "The role with name {} cannot be found.",
            r.name
        )));
    }
    op.put_profile(p);
    done()
}

pub fn delete_instance_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = op.profile(op.s("InstanceProfileName"))?;
    if !p.roles.is_empty() {
        return Err(conflict(
            "Cannot delete entity, must remove roles from instance profile first.",
        ));
    }
    op.remove(PROFILE, &p.name);
    done()
}

pub fn create_account_alias(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let alias = op.s("AccountAlias").to_string();
    let mut a = op.settings();
    if a.aliases != [alias.clone()] {
        a.aliases = vec![alias];
        op.put_settings(a);
    }
    done()
}

pub fn delete_account_alias(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let alias = op.s("AccountAlias").to_string();
    let mut a = op.settings();
    if !a.aliases.contains(&alias) {
        return Err(no_such(format!(
            "The account alias {alias} cannot be found."
        )));
    }
    a.aliases.retain(|x| *x != alias);
    op.put_settings(a);
    done()
}

pub fn list_account_aliases(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let items = op.settings().aliases.into_iter().map(Value::from).collect();
    Ok(page(op.input, "AccountAliases", items))
}

fn no_password_policy(op: &Op<'_, '_>) -> AwsError {
    no_such(format!(
        "The Password Policy with domain name {} cannot be found.",
        op.account
    ))
}

pub fn update_password_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let i = op.input;
    let b = |n: &str| boolean(i, n).unwrap_or(false);
    let max_age = number(i, "MaxPasswordAge")
        .map(|n| n as u32)
        .filter(|n| *n > 0);
    let p = PasswordPolicy {
        minimum_length: number(i, "MinimumPasswordLength").unwrap_or(6) as u32,
        require_symbols: b("RequireSymbols"),
        require_numbers: b("RequireNumbers"),
        require_uppercase: b("RequireUppercaseCharacters"),
        require_lowercase: b("RequireLowercaseCharacters"),
        allow_users_to_change: b("AllowUsersToChangePassword"),
        max_age,
        reuse_prevention: number(i, "PasswordReusePrevention").map(|n| n as u32),
        hard_expiry: boolean(i, "HardExpiry"),
    };
    let mut a = op.settings();
    a.password_policy = Some(p);
    op.put_settings(a);
    done()
}

pub fn get_password_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let p = op
        .settings()
        .password_policy
        .ok_or_else(|| no_password_policy(op))?;
    let mut out = json!({
        "MinimumPasswordLength": p.minimum_length, "RequireSymbols": p.require_symbols,
        "RequireNumbers": p.require_numbers, "RequireUppercaseCharacters": p.require_uppercase,
        "RequireLowercaseCharacters": p.require_lowercase,
        "AllowUsersToChangePassword": p.allow_users_to_change,
        "ExpirePasswords": p.max_age.is_some(),
    });
    if let Some(m) = p.max_age {
        out["MaxPasswordAge"] = json!(m);
    }
    if let Some(r) = p.reuse_prevention {
        out["PasswordReusePrevention"] = json!(r);
    }
    if let Some(h) = p.hard_expiry {
        out["HardExpiry"] = json!(h);
    }
    Ok(json!({ "PasswordPolicy": out }))
}

pub fn delete_password_policy(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut a = op.settings();
    if a.password_policy.take().is_none() {
        return Err(no_password_policy(op));
    }
    op.put_settings(a);
    done()
}

pub fn set_sts_preferences(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut a = op.settings();
    a.sts_global_token_version = Some(op.s("GlobalEndpointTokenVersion").to_string());
    op.put_settings(a);
    done()
}

pub fn account_summary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let users = op.users();
    let groups = op.groups();
    let roles = op.roles();
    let local_policies: Vec<ManagedPolicy> = op
        .txn
        .scan_prefix(&kind_prefix(&op.account, POLICY))
        .filter_map(|(_, r)| match r {
            IamRecord::Policy(p) => Some((**p).clone()),
            _ => None,
        })
        .collect();
    let versions: usize = local_policies.iter().map(|p| p.versions.len()).sum();
    let (mfa, mfa_in_use) = crate::creds::mfa_counts(op);
    let providers = op.txn.scan_prefix(&kind_prefix(&op.account, OIDC)).count()
        + op.txn.scan_prefix(&kind_prefix(&op.account, SAML)).count();
    let token_version = match op.settings().sts_global_token_version.as_deref() {
        Some("v2Token") => 2,
        _ => 1,
    };
    let summary = json!({
        "Users": users.len(), "UsersQuota": 5000,
        "Groups": groups.len(), "GroupsQuota": 300,
        "Roles": roles.len(), "RolesQuota": 1000,
        "Policies": local_policies.len(), "PoliciesQuota": 1500,
        "PolicyVersionsInUse": versions, "PolicyVersionsInUseQuota": 10000,
        "VersionsPerPolicyQuota": 5, "PolicySizeQuota": 6144,
        "InstanceProfiles": op.profiles().len(), "InstanceProfilesQuota": 1000,
        "ServerCertificates": op.server_certs().len(), "ServerCertificatesQuota": 20,
        "MFADevices": mfa, "MFADevicesInUse": mfa_in_use, "AccountMFAEnabled": 0,
        "AccountAccessKeysPresent": 0, "AccountSigningCertificatesPresent": 0,
        "AccessKeysPerUserQuota": 2, "SigningCertificatesPerUserQuota": 2,
        "AssumeRolePolicySizeQuota": 2048, "UserPolicySizeQuota": 2048,
        "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240,
        "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10,
        "AttachedPoliciesPerRoleQuota": 10, "GroupsPerUserQuota": 10,
        "Providers": providers, "GlobalEndpointTokenVersion": token_version,
    });
    Ok(json!({ "SummaryMap": summary }))
}

pub fn generate_credential_report(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut a = op.settings();
    let fresh = a
        .report_generated
        .is_some_and(|t| op.now.saturating_sub(t) < REPORT_TTL_MS);
    if fresh {
        return Ok(json!({"State": "COMPLETE"}));
    }
    a.report_generated = Some(op.now);
    op.put_settings(a);
    Ok(json!({
        "State": "STARTED",
        "Description": "No report exists. Starting a new report generation task",
    }))
}

fn when(ms: Option<u64>) -> String {
    ms.map(|m| iso8601(m as i64, false).replace('Z', "+00:00"))
        .unwrap_or_else(|| "N/A".to_string())
}

pub fn get_credential_report(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let Some(generated) = op.settings().report_generated else {
        return Err(
            AwsError::new("ReportNotPresent", "Credential report not present.")
                .with_status(StatusCode::GONE),
        );
    };
    if op.now.saturating_sub(generated) >= REPORT_TTL_MS {
        return Err(AwsError::new(
            "ReportExpired",
            "The credential report is expired. Generate a new report.",
        )
        .with_status(StatusCode::GONE));
    }
    let mut csv = String::from(
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n",
    );
    csv.push_str(&format!(
        "<root_account>,arn:aws:iam::{}:root,N/A,not_supported,N/A,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
        op.account
    ));
    let (_, _) = crate::creds::mfa_counts(op);
    for u in op.users() {
        let keys = op.keys_of(&u.name);
        let key = |i: usize| -> String {
            match keys.get(i) {
                Some(k) => {
                    let (d, region, service) = match &k.last_used {
                        Some((t, s, r)) => (when(Some(*t)), r.clone(), s.clone()),
                        None => ("N/A".into(), "N/A".into(), "N/A".into()),
                    };
                    format!(
                        "{},{},{d},{region},{service}",
                        k.active,
                        when(Some(k.created))
                    )
                }
                None => "false,N/A,N/A,N/A,N/A".into(),
            }
        };
        let login = u.login.as_ref();
        csv.push_str(&format!(
            "{},{},{},{},{},{},N/A,false,{},{},false,N/A,false,N/A\n",
            u.name,
            arn(&op.account, "user", &u.path, &u.name),
            when(Some(u.created)),
            login.is_some(),
            if login.is_some() {
                when(u.password_last_used)
            } else {
                "N/A".into()
            },
            login
                .map(|l| when(Some(l.created)))
                .unwrap_or_else(|| "N/A".into()),
            key(0),
            key(1),
        ));
    }
    Ok(json!({
        "Content": base64::engine::general_purpose::STANDARD.encode(csv),
        "ReportFormat": "text/csv",
        "GeneratedTime": date(generated),
    }))
}

pub fn authorization_details(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let filter = strings(op.input, "Filter");
    let wants = |k: &str| filter.is_empty() || filter.iter().any(|f| f == k);
    let account = op.account.clone();
    let mut out = Map::new();
    let groups = op.groups();
    if wants("User") {
        let list: Vec<Value> = op
            .users()
            .iter()
            .map(|u| {
                let mut v = user_out(&account, u, true);
                let member_of: Vec<&str> = groups
                    .iter()
                    .filter(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
                    .map(|g| g.name.as_str())
                    .collect();
                v["GroupList"] = json!(member_of);
                v["UserPolicyList"] = json!(inline_out(&u.inline));
                v["AttachedManagedPolicies"] = json!(attached_out(&u.attached));
                v
            })
            .collect();
        out.insert("UserDetailList".into(), Value::Array(list));
    }
    if wants("Group") {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                let mut v = group_out(&account, g);
                v["GroupPolicyList"] = json!(inline_out(&g.inline));
                v["AttachedManagedPolicies"] = json!(attached_out(&g.attached));
                v
            })
            .collect();
        out.insert("GroupDetailList".into(), Value::Array(list));
    }
    if wants("Role") {
        let profiles = op.profiles();
        let list: Vec<Value> = op
            .roles()
            .iter()
            .map(|r| {
                let mut v = role_out(&account, r, true);
                let ps: Vec<Value> = profiles
                    .iter()
                    .filter(|p| p.roles.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
                    .map(|p| crate::account::profile_out(op, p, false))
                    .collect();
                v["InstanceProfileList"] = json!(ps);
                v["RolePolicyList"] = json!(inline_out(&r.inline));
                v["AttachedManagedPolicies"] = json!(attached_out(&r.attached));
                v
            })
            .collect();
        out.insert("RoleDetailList".into(), Value::Array(list));
    }
    let usage = policies::usage(op);
    let mut list = Vec::new();
    if wants("LocalManagedPolicy") {
        let locals: Vec<ManagedPolicy> = op
            .txn
            .scan_prefix(&kind_prefix(&account, POLICY))
            .filter_map(|(_, r)| match r {
                IamRecord::Policy(p) => Some((**p).clone()),
                _ => None,
            })
            .collect();
        for p in locals {
            list.push(PolicyRef::Local(p).out(op, &usage, false, true));
        }
    }
    if wants("AWSManagedPolicy") {
        let mut arns: Vec<&String> = usage.keys().collect();
        arns.sort();
        for a in arns {
            if let Some(p) = crate::aws_managed::by_arn(a) {
                list.push(PolicyRef::Aws(p).out(op, &usage, false, true));
            }
        }
    }
    if wants("LocalManagedPolicy") || wants("AWSManagedPolicy") {
        out.insert("Policies".into(), Value::Array(list));
    }
    Ok(page_details(op.input, out))
}

/// A page of the details: `MaxItems` entries (100 by default) counted across the four lists in
/// their order, from the `Marker`'s position.
fn page_details(input: &Map<String, Value>, lists: Map<String, Value>) -> Value {
    const ORDER: [&str; 4] = [
        "UserDetailList",
        "GroupDetailList",
        "RoleDetailList",
        "Policies",
    ];
    let all: Vec<(&str, Value)> = ORDER
        .iter()
        .filter_map(|name| Some((*name, lists.get(*name)?.as_array()?.clone())))
        .flat_map(|(name, items)| items.into_iter().map(move |v| (name, v)))
        .collect();
    let paged = page(input, "Items", (0..all.len()).map(Value::from).collect());
    let mut out = Map::new();
    for name in ORDER {
        if lists.contains_key(name) {
            out.insert(name.to_string(), Value::Array(vec![]));
        }
    }
    for i in paged["Items"].as_array().into_iter().flatten() {
        if let Some((name, v)) = i.as_u64().and_then(|i| all.get(i as usize))
            && let Some(Value::Array(list)) = out.get_mut(*name)
        {
            list.push(v.clone());
        }
    }
    out.insert("IsTruncated".into(), paged["IsTruncated"].clone());
    if let Some(m) = paged.get("Marker") {
        out.insert("Marker".into(), m.clone());
    }
    Value::Object(out)
}

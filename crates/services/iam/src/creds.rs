//! A user's credentials: access keys (and their last use), login profiles and passwords, MFA
//! devices, SSH public keys, signing certificates and service-specific credentials.

use base64::Engine as _;
use md5::Digest as _;
use serde_json::{Value, json};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::model::*;
use crate::util::*;
use crate::{Op, done};

const KEYS_PER_USER: usize = 2;
const SSH_KEYS_PER_USER: usize = 5;
const SIGNING_CERTS_PER_USER: usize = 2;
const SERVICE_CREDENTIALS_PER_SERVICE: usize = 2;

/// The user an operation with an optional `UserName` addresses: the one named (which must
/// exist), else the IAM user whose key signed the request.
pub fn target_user(op: &Op<'_, '_>) -> Result<String, AwsError> {
    match op.opt("UserName") {
        Some(n) => Ok(op.user(n)?.name),
        None => op.caller_user().ok_or_else(|| {
            validation("Must specify userName when calling with non-User credentials")
        }),
    }
}

fn status_of(active: bool) -> &'static str {
    if active { "Active" } else { "Inactive" }
}

fn status_in(op: &Op<'_, '_>) -> bool {
    op.s("Status") == "Active"
}

fn key_out(k: &AccessKey, secret: bool) -> Value {
    let mut out = json!({
        "UserName": k.user, "AccessKeyId": k.id, "Status": status_of(k.active),
        "CreateDate": date(k.created),
    });
    if secret {
        out["SecretAccessKey"] = json!(k.secret);
    }
    out
}

fn put_key(op: &mut Op<'_, '_>, k: AccessKey) {
    op.txn
        .insert(access_key_key(&k.id), IamRecord::AccessKey(Box::new(k)));
}

fn user_key(op: &Op<'_, '_>, user: &str) -> Result<AccessKey, AwsError> {
    let id = op.s("AccessKeyId");
    op.keys_of(user)
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| no_such(format!("The Access Key with id {id} cannot be found.")))
}

pub fn create_access_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    if op.keys_of(&user).len() >= KEYS_PER_USER {
        return Err(limit(format!(
            "Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}"
        )));
    }
    let k = AccessKey {
        id: new_access_key_id(&op.account),
        secret: snapstack_sts::model::new_secret(),
        account: op.account.clone(),
        user,
        active: true,
        created: op.now,
        last_used: None,
    };
    let out = key_out(&k, true);
    put_key(op, k);
    Ok(json!({ "AccessKey": out }))
}

pub fn list_access_keys(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let items = op
        .keys_of(&user)
        .iter()
        .map(|k| key_out(k, false))
        .collect();
    Ok(page(op.input, "AccessKeyMetadata", items))
}

pub fn update_access_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let mut k = user_key(op, &user)?;
    k.active = status_in(op);
    put_key(op, k);
    done()
}

pub fn delete_access_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let k = user_key(op, &user)?;
    op.txn.remove(&access_key_key(&k.id));
    done()
}

pub fn access_key_last_used(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let id = op.s("AccessKeyId");
    // A key that is not the account's is not the caller's to ask about (the model lists no
    // NoSuchEntity here: IAM refuses such a key as it refuses any unauthorized request).
    let Some(IamRecord::AccessKey(k)) = op
        .txn
        .get(&access_key_key(id))
        .filter(|r| matches!(r, IamRecord::AccessKey(k) if k.account == op.account))
    else {
        return Err(AwsError::new(
            "AccessDenied",
            format!(
                "User: arn:aws:iam::{}:root is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {id}",
                op.account
            ),
        )
        .with_status(StatusCode::FORBIDDEN));
    };
    let used = match &k.last_used {
        Some((when, service, region)) => {
            json!({"LastUsedDate": date(*when), "ServiceName": service, "Region": region})
        }
        None => json!({"ServiceName": "N/A", "Region": "N/A"}),
    };
    Ok(json!({"UserName": k.user, "AccessKeyLastUsed": used}))
}

/// Record that a request signed with the key reached `service` in `region`.
pub fn mark_key_used(op: &mut Op<'_, '_>, id: &str, service: &str) {
    if let Some(IamRecord::AccessKey(k)) = op.txn.get(&access_key_key(id)) {
        let mut k = (**k).clone();
        k.last_used = Some((op.now, service.to_string(), op.region.clone()));
        put_key(op, k);
    }
}

/// The account's password policy's verdict on a new password.
fn check_password(op: &Op<'_, '_>, password: &str) -> Result<(), AwsError> {
    let Some(p) = op.settings().password_policy else {
        return Ok(());
    };
    let violation = |m: String| AwsError::new("PasswordPolicyViolation", m);
    if password.chars().count() < p.minimum_length as usize {
        return Err(violation(format!(
            "Password should have at least {} characters",
            p.minimum_length
        )));
    }
    let checks = [
        (
            p.require_numbers,
            password.chars().any(|c| c.is_ascii_digit()),
            "one number",
        ),
        (
            p.require_uppercase,
            password.chars().any(|c| c.is_ascii_uppercase()),
            "one uppercase letter",
        ),
        (
            p.require_lowercase,
            password.chars().any(|c| c.is_ascii_lowercase()),
            "one lowercase letter",
        ),
        (
            p.require_symbols,
            password.chars().any(|c| c.is_ascii_punctuation()),
            "one symbol",
        ),
    ];
    for (required, present, what) in checks {
        if required && !present {
            return Err(violation(format!("Password should have at least {what}")));
        }
    }
    Ok(())
}

fn login_user(op: &Op<'_, '_>) -> Result<User, AwsError> {
    let name = target_user(op)?;
    op.user(&name)
}

fn no_login(name: &str) -> AwsError {
    no_such(format!("Login Profile for User {name} cannot be found."))
}

fn login_out(u: &User, l: &LoginProfile) -> Value {
    json!({"UserName": u.name, "CreateDate": date(l.created), "PasswordResetRequired": l.reset_required})
}

pub fn create_login_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = login_user(op)?;
    if u.login.is_some() {
        return Err(exists(format!(
            "Login Profile for user {} already exists.",
            u.name
        )));
    }
    let password = op.s("Password").to_string();
    check_password(op, &password)?;
    let l = LoginProfile {
        created: op.now,
        reset_required: boolean(op.input, "PasswordResetRequired").unwrap_or(false),
        password,
    };
    let out = login_out(&u, &l);
    u.login = Some(l);
    op.put_user(u);
    Ok(json!({ "LoginProfile": out }))
}

pub fn get_login_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let u = login_user(op)?;
    let l = u.login.as_ref().ok_or_else(|| no_login(&u.name))?;
    Ok(json!({ "LoginProfile": login_out(&u, l) }))
}

pub fn update_login_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = login_user(op)?;
    let mut l = u.login.clone().ok_or_else(|| no_login(&u.name))?;
    if let Some(p) = op.opt("Password") {
        check_password(op, p)?;
        l.password = p.to_string();
    }
    if let Some(r) = boolean(op.input, "PasswordResetRequired") {
        l.reset_required = r;
    }
    u.login = Some(l);
    op.put_user(u);
    done()
}

pub fn delete_login_profile(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut u = login_user(op)?;
    if u.login.take().is_none() {
        return Err(no_login(&u.name));
    }
    op.put_user(u);
    done()
}

/// An IAM user changes its own password (the request is signed with its access key).
pub fn change_password(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let Some(name) = op.caller_user() else {
        return Err(AwsError::new(
            "InvalidUserType",
            "Only IAM users can change their own password.",
        ));
    };
    let mut u = op.user(&name)?;
    let mut l = u.login.clone().ok_or_else(|| no_login(&u.name))?;
    if l.password != op.s("OldPassword") {
        return Err(
            AwsError::new("AccessDenied", "The old password was incorrect.")
                .with_status(StatusCode::FORBIDDEN),
        );
    }
    let new = op.s("NewPassword").to_string();
    check_password(op, &new)?;
    l.password = new;
    l.reset_required = false;
    u.login = Some(l);
    op.put_user(u);
    done()
}

fn mfa_devices(op: &Op<'_, '_>) -> Vec<MfaDevice> {
    op.by_id(MFA, |r| match r {
        IamRecord::Mfa(m) => Some(&**m),
        _ => None,
    })
}

fn put_mfa(op: &mut Op<'_, '_>, m: MfaDevice) {
    op.txn.insert(
        id_key(&op.account, MFA, &m.serial),
        IamRecord::Mfa(Box::new(m)),
    );
}

/// A 1x1 PNG: this emulator draws no QR codes (the seed is in `Base32StringSeed`).
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

pub fn create_virtual_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let serial = arn(
        &op.account,
        "mfa",
        &path(op.input),
        op.s("VirtualMFADeviceName"),
    );
    if op.txn.contains(&id_key(&op.account, MFA, &serial)) {
        return Err(exists(
            "MFADevice entity at the same path and name already exists.",
        ));
    }
    let mut tags = Vec::new();
    merge_tags(&mut tags, tags_in(op.input, "Tags"))?;
    let m = MfaDevice {
        serial: serial.clone(),
        virtual_device: true,
        seed: random_chars(64),
        user: None,
        enabled: None,
        created: op.now,
        tags,
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let out = json!({
        "SerialNumber": serial, "Base32StringSeed": b64(m.seed.as_bytes()),
        "QRCodePNG": b64(PNG_1X1),
    });
    put_mfa(op, m);
    Ok(json!({ "VirtualMFADevice": out }))
}

fn mfa(op: &Op<'_, '_>, serial: &str) -> Option<MfaDevice> {
    match op.txn.get(&id_key(&op.account, MFA, serial)) {
        Some(IamRecord::Mfa(m)) => Some((**m).clone()),
        _ => None,
    }
}

fn no_mfa(serial: &str) -> AwsError {
    no_such(format!(
        "MFA device with serial number {serial} cannot be found."
    ))
}

pub fn enable_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = op.user(op.s("UserName"))?;
    let serial = op.s("SerialNumber").to_string();
    let mut m = match mfa(op, &serial) {
        Some(m) => m,
        None if serial.starts_with("arn:") => return Err(no_mfa(&serial)),
        // A hardware device, known by its serial number.
        None => MfaDevice {
            serial: serial.clone(),
            virtual_device: false,
            seed: String::new(),
            user: None,
            enabled: None,
            created: op.now,
            tags: vec![],
        },
    };
    if m.user.is_some() {
        return Err(exists("MFA Device is already in use."));
    }
    if op.s("AuthenticationCode1") == op.s("AuthenticationCode2") {
        return Err(AwsError::new(
            "InvalidAuthenticationCode",
            "Authentication code for device is not valid.",
        )
        .with_status(StatusCode::FORBIDDEN));
    }
    m.user = Some(user.name);
    m.enabled = Some(op.now);
    put_mfa(op, m);
    done()
}

fn user_mfa(op: &Op<'_, '_>, user: &str) -> Result<MfaDevice, AwsError> {
    let serial = op.s("SerialNumber");
    mfa(op, serial)
        .filter(|m| {
            m.user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(user))
        })
        .ok_or_else(|| no_mfa(serial))
}

pub fn deactivate_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let mut m = user_mfa(op, &user)?;
    if m.virtual_device {
        m.user = None;
        m.enabled = None;
        put_mfa(op, m);
    } else {
        op.txn.remove(&id_key(&op.account, MFA, &m.serial));
    }
    done()
}

pub fn resync_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = op.user(op.s("UserName"))?;
    user_mfa(op, &user.name)?;
    done()
}

pub fn delete_virtual_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let serial = op.s("SerialNumber").to_string();
    let m = mfa(op, &serial)
        .filter(|m| m.virtual_device)
        .ok_or_else(|| no_mfa(&serial))?;
    if m.user.is_some() {
        return Err(conflict("MFA Device is already in use."));
    }
    op.txn.remove(&id_key(&op.account, MFA, &serial));
    done()
}

pub fn get_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let serial = op.s("SerialNumber");
    let m = mfa(op, serial)
        .filter(|m| m.user.is_some())
        .ok_or_else(|| no_mfa(serial))?;
    let mut out = json!({"SerialNumber": m.serial, "UserName": m.user});
    if let Some(e) = m.enabled {
        out["EnableDate"] = date(e);
    }
    Ok(out)
}

pub fn list_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let items = mfa_devices(op)
        .into_iter()
        .filter(|m| m.user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&user)))
        .map(|m| {
            json!({"UserName": m.user, "SerialNumber": m.serial, "EnableDate": date(m.enabled.unwrap_or(m.created))})
        })
        .collect();
    Ok(page(op.input, "MFADevices", items))
}

pub fn list_virtual_mfa(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let status = op.opt("AssignmentStatus").unwrap_or("Any");
    let account = op.account.clone();
    let mut items = Vec::new();
    for m in mfa_devices(op).into_iter().filter(|m| m.virtual_device) {
        let assigned = m.user.is_some();
        if (status == "Assigned" && !assigned) || (status == "Unassigned" && assigned) {
            continue;
        }
        let mut out = json!({"SerialNumber": m.serial});
        if let Some(u) = m.user.as_deref().and_then(|u| op.user(u).ok()) {
            out["User"] = crate::entities::user_out(&account, &u, false);
        }
        if let Some(e) = m.enabled {
            out["EnableDate"] = date(e);
        }
        if !m.tags.is_empty() {
            out["Tags"] = tags_out(&m.tags);
        }
        items.push(out);
    }
    Ok(page(op.input, "VirtualMFADevices", items))
}

fn ssh_keys(op: &Op<'_, '_>, user: &str) -> Vec<SshKey> {
    op.by_id(SSH, |r| match r {
        IamRecord::SshKey(k) if k.user.eq_ignore_ascii_case(user) => Some(&**k),
        _ => None,
    })
}

fn put_ssh(op: &mut Op<'_, '_>, k: SshKey) {
    op.txn.insert(
        id_key(&op.account, SSH, &k.id),
        IamRecord::SshKey(Box::new(k)),
    );
}

/// The MD5 fingerprint of an OpenSSH public key (`ssh-rsa AAAA... comment`), colon-separated.
fn ssh_fingerprint(body: &str) -> Option<String> {
    let mut parts = body.split_whitespace();
    let kind = parts.next()?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    if !kind.starts_with("ssh-") && !kind.starts_with("ecdsa-") {
        return None;
    }
    // MD5 of the key blob, hex pairs, as `ssh-keygen -E md5` prints them.
    let digest = md5::Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn ssh_out(k: &SshKey, body: bool) -> Value {
    let mut out = json!({
        "UserName": k.user, "SSHPublicKeyId": k.id, "Status": status_of(k.active),
        "UploadDate": date(k.uploaded),
    });
    if body {
        out["SSHPublicKeyBody"] = json!(k.body);
        out["Fingerprint"] = json!(k.fingerprint);
    }
    out
}

pub fn upload_ssh_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = op.user(op.s("UserName"))?;
    let body = op.s("SSHPublicKeyBody").trim().to_string();
    let fingerprint = ssh_fingerprint(&body).ok_or_else(|| {
        AwsError::new(
            "UnrecognizedPublicKeyEncoding",
            "Unrecognized public key encoding.",
        )
    })?;
    let existing = ssh_keys(op, &user.name);
    if existing.iter().any(|k| k.fingerprint == fingerprint) {
        return Err(AwsError::new(
            "DuplicateSSHPublicKey",
            "The public key is already associated with the specified IAM user.",
        ));
    }
    if existing.len() >= SSH_KEYS_PER_USER {
        return Err(limit(format!(
            "Cannot exceed quota for PublicKeysPerUser: {SSH_KEYS_PER_USER}"
        )));
    }
    let k = SshKey {
        id: new_id("APKA"),
        user: user.name,
        body,
        fingerprint,
        active: true,
        uploaded: op.now,
    };
    let out = ssh_out(&k, true);
    put_ssh(op, k);
    Ok(json!({ "SSHPublicKey": out }))
}

fn user_ssh(op: &Op<'_, '_>) -> Result<SshKey, AwsError> {
    let user = op.user(op.s("UserName"))?;
    let id = op.s("SSHPublicKeyId");
    ssh_keys(op, &user.name)
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| no_such(format!("The Public Key with id {id} cannot be found.")))
}

pub fn get_ssh_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let k = user_ssh(op)?;
    Ok(json!({ "SSHPublicKey": ssh_out(&k, true) }))
}

pub fn list_ssh_keys(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let items = ssh_keys(op, &user)
        .iter()
        .map(|k| ssh_out(k, false))
        .collect();
    Ok(page(op.input, "SSHPublicKeys", items))
}

pub fn update_ssh_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut k = user_ssh(op)?;
    k.active = status_in(op);
    put_ssh(op, k);
    done()
}

pub fn delete_ssh_key(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let k = user_ssh(op)?;
    op.txn.remove(&id_key(&op.account, SSH, &k.id));
    done()
}

fn signing_certs(op: &Op<'_, '_>, user: &str) -> Vec<SigningCert> {
    op.by_id(SIGNING, |r| match r {
        IamRecord::SigningCert(c) if c.user.eq_ignore_ascii_case(user) => Some(&**c),
        _ => None,
    })
}

fn put_signing(op: &mut Op<'_, '_>, c: SigningCert) {
    op.txn.insert(
        id_key(&op.account, SIGNING, &c.id),
        IamRecord::SigningCert(Box::new(c)),
    );
}

fn signing_out(c: &SigningCert) -> Value {
    json!({
        "UserName": c.user, "CertificateId": c.id, "CertificateBody": c.body,
        "Status": status_of(c.active), "UploadDate": date(c.uploaded),
    })
}

/// A PEM certificate body (one or more `CERTIFICATE` blocks of base64).
pub fn is_pem_certificate(body: &str) -> bool {
    let t = body.trim();
    let Some(inner) = t
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|r| r.split("-----END CERTIFICATE-----").next())
    else {
        return false;
    };
    let b64: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    !b64.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .is_ok()
}

pub fn upload_signing_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let body = op.s("CertificateBody").to_string();
    if !is_pem_certificate(&body) {
        return Err(AwsError::new(
            "MalformedCertificate",
            "Certificate body is invalid.",
        ));
    }
    let existing = signing_certs(op, &user);
    if existing.iter().any(|c| c.body.trim() == body.trim()) {
        return Err(AwsError::new(
            "DuplicateCertificate",
            "The certificate is already associated with the specified IAM user.",
        )
        .with_status(StatusCode::CONFLICT));
    }
    if existing.len() >= SIGNING_CERTS_PER_USER {
        return Err(limit(format!(
            "Cannot exceed quota for SigningCertificatesPerUser: {SIGNING_CERTS_PER_USER}"
        )));
    }
    let c = SigningCert {
        id: random_chars(24),
        user,
        body,
        active: true,
        uploaded: op.now,
    };
    let out = signing_out(&c);
    put_signing(op, c);
    Ok(json!({ "Certificate": out }))
}

fn user_signing(op: &Op<'_, '_>) -> Result<SigningCert, AwsError> {
    let user = target_user(op)?;
    let id = op.s("CertificateId");
    signing_certs(op, &user)
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| no_such(format!("The Certificate with id {id} cannot be found.")))
}

pub fn list_signing_certs(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = target_user(op)?;
    let items = signing_certs(op, &user).iter().map(signing_out).collect();
    Ok(page(op.input, "Certificates", items))
}

pub fn update_signing_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut c = user_signing(op)?;
    c.active = status_in(op);
    put_signing(op, c);
    done()
}

pub fn delete_signing_cert(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let c = user_signing(op)?;
    op.txn.remove(&id_key(&op.account, SIGNING, &c.id));
    done()
}

fn service_creds(op: &Op<'_, '_>, user: Option<&str>) -> Vec<ServiceCredential> {
    op.by_id(SERVICE_CRED, |r| match r {
        IamRecord::ServiceCredential(c) if user.is_none_or(|u| c.user.eq_ignore_ascii_case(u)) => {
            Some(&**c)
        }
        _ => None,
    })
}

fn put_service_cred(op: &mut Op<'_, '_>, c: ServiceCredential) {
    op.txn.insert(
        id_key(&op.account, SERVICE_CRED, &c.id),
        IamRecord::ServiceCredential(Box::new(c)),
    );
}

fn service_cred_out(c: &ServiceCredential, password: bool) -> Value {
    let mut out = json!({
        "UserName": c.user, "ServiceName": c.service, "ServiceUserName": c.user_name,
        "ServiceSpecificCredentialId": c.id, "Status": status_of(c.active),
        "CreateDate": date(c.created),
    });
    if password {
        out["ServicePassword"] = json!(c.password);
    }
    out
}

fn new_service_password() -> String {
    let raw: Vec<u8> = (0..4).flat_map(|_| random_u64().to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(&raw[..30])
}

pub fn create_service_cred(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let user = op.user(op.s("UserName"))?;
    let service = op.s("ServiceName").to_string();
    if ![
        "codecommit.amazonaws.com",
        "cassandra.amazonaws.com",
        "bedrock.amazonaws.com",
    ]
    .contains(&service.as_str())
    {
        return Err(AwsError::new(
            "NotSupportedService",
            format!("No such service {service} is supported for Service Specific Credentials"),
        )
        .with_status(StatusCode::NOT_FOUND));
    }
    let count = service_creds(op, Some(&user.name))
        .iter()
        .filter(|c| c.service == service)
        .count();
    if count >= SERVICE_CREDENTIALS_PER_SERVICE {
        return Err(limit(format!(
            "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {SERVICE_CREDENTIALS_PER_SERVICE}"
        )));
    }
    let c = ServiceCredential {
        id: new_id("ACCA"),
        user_name: format!("{}-at-{}", user.name, op.account),
        user: user.name,
        service,
        password: new_service_password(),
        active: true,
        created: op.now,
    };
    let out = service_cred_out(&c, true);
    put_service_cred(op, c);
    Ok(json!({ "ServiceSpecificCredential": out }))
}

fn user_service_cred(op: &Op<'_, '_>) -> Result<ServiceCredential, AwsError> {
    let user = target_user(op)?;
    let id = op.s("ServiceSpecificCredentialId");
    service_creds(op, Some(&user))
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| no_such(format!("No such credential {id} exists for user {user}")))
}

pub fn list_service_creds(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let all = boolean(op.input, "AllUsers").unwrap_or(false);
    let user = if all { None } else { Some(target_user(op)?) };
    let service = op.opt("ServiceName");
    let items = service_creds(op, user.as_deref())
        .iter()
        .filter(|c| service.is_none_or(|s| s == c.service))
        .map(|c| service_cred_out(c, false))
        .collect();
    Ok(page(op.input, "ServiceSpecificCredentials", items))
}

pub fn reset_service_cred(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut c = user_service_cred(op)?;
    c.password = new_service_password();
    let out = service_cred_out(&c, true);
    put_service_cred(op, c);
    Ok(json!({ "ServiceSpecificCredential": out }))
}

pub fn update_service_cred(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let mut c = user_service_cred(op)?;
    c.active = status_in(op);
    put_service_cred(op, c);
    done()
}

pub fn delete_service_cred(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let c = user_service_cred(op)?;
    op.txn.remove(&id_key(&op.account, SERVICE_CRED, &c.id));
    done()
}

/// A user was renamed: its credentials follow.
pub fn rename_user(op: &mut Op<'_, '_>, old: &str, new: &str) {
    for mut m in mfa_devices(op) {
        if m.user
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(old))
        {
            m.user = Some(new.to_string());
            put_mfa(op, m);
        }
    }
    for mut k in ssh_keys(op, old) {
        k.user = new.to_string();
        put_ssh(op, k);
    }
    for mut c in signing_certs(op, old) {
        c.user = new.to_string();
        put_signing(op, c);
    }
    for mut c in service_creds(op, Some(old)) {
        c.user = new.to_string();
        put_service_cred(op, c);
    }
}

/// `DeleteConflict` while the user still has MFA devices, SSH keys, signing certificates or
/// service-specific credentials.
pub fn user_has_credentials(op: &Op<'_, '_>, user: &str) -> Result<(), AwsError> {
    if mfa_devices(op).iter().any(|m| {
        m.user
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(user))
    }) {
        return Err(conflict(
            "Cannot delete entity, must delete MFA device first.",
        ));
    }
    if !ssh_keys(op, user).is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete SSH public keys first.",
        ));
    }
    if !signing_certs(op, user).is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete signing certificates first.",
        ));
    }
    if !service_creds(op, Some(user)).is_empty() {
        return Err(conflict(
            "Cannot delete entity, must delete service specific credentials first.",
        ));
    }
    Ok(())
}

/// Counts for the account summary: (MFA devices, MFA devices in use).
pub fn mfa_counts(op: &Op<'_, '_>) -> (usize, usize) {
    let all = mfa_devices(op);
    let used = all.iter().filter(|m| m.user.is_some()).count();
    (all.len(), used)
}

//! IAM's records and their keys.
//!
//! IAM is global: every record of an account lives under `[account, kind, ...]`, whatever region
//! a request names. Names are unique case-insensitively (as IAM's are), so entities are keyed by
//! their lower-cased name and keep the name as given. Access keys are keyed by their id alone
//! (`["akid", id]`), so a request signed with one finds its user without knowing the account.
//!
//! Timestamps are epoch milliseconds (whole seconds, as IAM's dates are).

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Record};

/// (key, value) as given.
pub type Tags = Vec<(String, String)>;
/// Inline policies: (name as given, document as given).
pub type Inline = Vec<(String, String)>;

/// A record of the IAM store. New variants go at the end (the on-disk format is postcard).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IamRecord {
    User(Box<User>),
    Group(Box<Group>),
    Role(Box<Role>),
    Policy(Box<ManagedPolicy>),
    InstanceProfile(Box<InstanceProfile>),
    AccessKey(Box<AccessKey>),
    Mfa(Box<MfaDevice>),
    SshKey(Box<SshKey>),
    SigningCert(Box<SigningCert>),
    ServerCert(Box<ServerCert>),
    Oidc(Box<OidcProvider>),
    Saml(Box<SamlProvider>),
    Account(Box<AccountSettings>),
    ServiceCredential(Box<ServiceCredential>),
    /// When an entity last used a service (or one of its tracked actions).
    Accessed(Box<Accessed>),
    /// A service-last-accessed report job.
    AccessJob(Box<AccessJob>),
    /// A temporary delegation request (`["delegation", id]`: global, as it moves from the
    /// partner's account to the customer's).
    Delegation(Box<crate::delegation::DelegationRequest>),
}
impl Record for IamRecord {}

/// An entity's last use of a service (`action` empty) or of one tracked action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accessed {
    /// The user's or role's ARN.
    pub entity: String,
    /// The service namespace (`s3`).
    pub service: String,
    /// `s3:GetObject`, or empty for the service as a whole.
    pub action: String,
    pub region: String,
    /// Epoch ms.
    pub at: u64,
}

/// A `GenerateServiceLastAccessedDetails` job: `IN_PROGRESS` until `ready_at` (an absolute
/// deadline the background task watches), then its report as computed at completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessJob {
    pub id: String,
    pub account: String,
    /// The user, group, role or policy ARN reported on.
    pub target: String,
    /// `SERVICE_LEVEL` or `ACTION_LEVEL`.
    pub granularity: String,
    pub created: u64,
    pub ready_at: u64,
    pub completed: Option<u64>,
    pub services: Vec<ServiceAccess>,
}

/// One service of a completed report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccess {
    pub namespace: String,
    pub name: String,
    /// The entities that used it, with their last use.
    pub entities: Vec<EntityAccess>,
    pub actions: Vec<ActionAccess>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityAccess {
    pub arn: String,
    pub name: String,
    /// `USER` or `ROLE`.
    pub kind: String,
    pub id: String,
    pub path: String,
    pub at: u64,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionAccess {
    pub action: String,
    pub entity: String,
    pub region: String,
    pub at: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginProfile {
    pub created: u64,
    pub reset_required: bool,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: u64,
    pub boundary: Option<String>,
    pub tags: Tags,
    pub inline: Inline,
    pub attached: Vec<String>,
    pub login: Option<LoginProfile>,
    pub password_last_used: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: u64,
    pub inline: Inline,
    pub attached: Vec<String>,
    /// Member user names, as given.
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: u64,
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: u32,
    pub boundary: Option<String>,
    pub tags: Tags,
    pub inline: Inline,
    pub attached: Vec<String>,
    /// (when, region).
    pub last_used: Option<(u64, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub number: u32,
    pub document: String,
    pub created: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: u64,
    pub updated: u64,
    pub description: Option<String>,
    pub default_version: u32,
    pub next_version: u32,
    pub versions: Vec<PolicyVersion>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceProfile {
    pub name: String,
    pub id: String,
    pub path: String,
    pub created: u64,
    /// Role names, as given.
    pub roles: Vec<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub account: String,
    pub user: String,
    pub active: bool,
    pub created: u64,
    /// (when, service, region).
    pub last_used: Option<(u64, String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaDevice {
    pub serial: String,
    pub virtual_device: bool,
    pub seed: String,
    pub user: Option<String>,
    pub enabled: Option<u64>,
    pub created: u64,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SshKey {
    pub id: String,
    pub user: String,
    pub body: String,
    pub fingerprint: String,
    pub active: bool,
    pub uploaded: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SigningCert {
    pub id: String,
    pub user: String,
    pub body: String,
    pub active: bool,
    pub uploaded: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerCert {
    pub name: String,
    pub id: String,
    pub path: String,
    pub body: String,
    pub chain: Option<String>,
    pub uploaded: u64,
    pub expiration: u64,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The URL without its scheme (what the ARN names).
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub created: u64,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamlProvider {
    pub name: String,
    pub metadata: String,
    pub uuid: String,
    pub created: u64,
    pub valid_until: u64,
    pub tags: Tags,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub allow_users_to_change: bool,
    pub max_age: Option<u32>,
    pub reuse_prevention: Option<u32>,
    pub hard_expiry: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountSettings {
    pub aliases: Vec<String>,
    pub password_policy: Option<PasswordPolicy>,
    /// When the credential report was last generated.
    pub report_generated: Option<u64>,
    pub sts_global_token_version: Option<String>,
    /// The issuer of outbound web identity federation, while it is enabled.
    pub outbound_issuer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceCredential {
    pub id: String,
    pub user: String,
    pub service: String,
    pub user_name: String,
    pub password: String,
    pub active: bool,
    pub created: u64,
}

/// `[account, kind]`: the prefix of every record of one kind of one account.
pub fn kind_prefix(account: &str, kind: &str) -> Key {
    Key::builder().str(account).str(kind).build()
}

/// `[account, kind, lower-cased name]`.
pub fn named_key(account: &str, kind: &str, name: &str) -> Key {
    Key::builder()
        .str(account)
        .str(kind)
        .str(&name.to_ascii_lowercase())
        .build()
}

/// `[account, kind, id]` for records named by an id (exact case).
pub fn id_key(account: &str, kind: &str, id: &str) -> Key {
    Key::builder().str(account).str(kind).str(id).build()
}

/// An access key's record, by its id alone.
pub fn access_key_key(id: &str) -> Key {
    Key::builder().str("akid").str(id).build()
}

/// The prefix of every access key.
pub fn access_keys_prefix() -> Key {
    Key::builder().str("akid").build()
}

/// A delegation request's record, by its id alone.
pub fn delegation_key(id: &str) -> Key {
    Key::builder().str("delegation").str(id).build()
}

/// The prefix of every delegation request.
pub fn delegations_prefix() -> Key {
    Key::builder().str("delegation").build()
}

pub fn account_key(account: &str) -> Key {
    Key::builder().str(account).str("account").build()
}

pub const USER: &str = "user";
pub const GROUP: &str = "group";
pub const ROLE: &str = "role";
pub const POLICY: &str = "policy";
pub const PROFILE: &str = "instance-profile";
pub const MFA: &str = "mfa";
pub const SSH: &str = "ssh";
pub const SIGNING: &str = "signing-cert";
pub const SERVER_CERT: &str = "server-cert";
pub const OIDC: &str = "oidc";
pub const SAML: &str = "saml";
pub const SERVICE_CRED: &str = "service-credential";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_postcard() {
        let r = IamRecord::Role(Box::new(Role {
            name: "R".into(),
            id: "AROAEXAMPLE".into(),
            path: "/".into(),
            created: 1,
            trust_policy: "{}".into(),
            description: None,
            max_session_duration: 3600,
            boundary: Some("arn".into()),
            tags: vec![("k".into(), "v".into())],
            inline: vec![],
            attached: vec!["a".into()],
            last_used: Some((5, "us-east-1".into())),
        }));
        let bytes = postcard_bytes(&r);
        let back: IamRecord = postcard_from(&bytes);
        assert_eq!(back, r);
        assert_eq!(named_key("1", USER, "Bob"), named_key("1", USER, "bob"));
    }

    fn postcard_bytes(r: &IamRecord) -> Vec<u8> {
        postcard::to_allocvec(r).unwrap()
    }

    fn postcard_from(b: &[u8]) -> IamRecord {
        postcard::from_bytes(b).unwrap()
    }
}

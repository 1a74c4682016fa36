//! IAM (the query protocol, XML answers): users, groups, roles, managed policies with versions,
//! inline policies, attachments, instance profiles, access keys, login profiles, MFA devices,
//! SSH keys, certificates, identity providers, account settings, tags, the credential report and
//! `GetAccountAuthorizationDetails`; the AWS managed policies as data (`aws_managed.rs`).
//!
//! IAM is global: its records live per account, not per region (`model.rs`). Every operation
//! runs in one write transaction of the store (`Op`), which publishes a new version only when it
//! changed something; checks come before changes, so a refused request changes nothing.
//! Operations the model has and this crate does not implement answer 501.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use snapstack_engine::{Store, Txn};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;
use snapstack_service::RequestContext;

mod account;
pub mod aws_managed;
mod creds;
pub mod delegation;
mod entities;
mod extras;
pub mod lastaccess;
pub mod model;
mod ops;
mod policies;
mod providers;
pub mod resolve;
mod service;
mod simulate;
mod tagging;
pub mod util;

#[cfg(test)]
mod tests;

use model::*;
use util::no_such;

pub const NAME: &str = "iam";

/// What an operation answered: its output (the neutral value) and the store version a write
/// produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub output: Value,
    pub write_version: Option<u64>,
    /// What the change asks of other services (STS, SNS), in order.
    pub followups: Vec<delegation::Followup>,
}

pub struct Iam {
    pub store: Arc<Store<IamRecord>>,
}

impl Default for Iam {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Who an IAM access key belongs to (for STS's `GetCallerIdentity`).
#[derive(Clone, Debug, PartialEq)]
pub struct KeyOwner {
    pub account: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
}

impl Iam {
    pub fn new() -> Self {
        Iam {
            store: Store::new(NAME),
        }
    }

    pub(crate) fn model() -> &'static snapstack_protocol::model::ServiceModel {
        snapstack_protocol::model::named(NAME).expect("the IAM model is embedded")
    }

    /// Run an operation on its (parsed) input.
    pub fn handle(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
    ) -> Result<Answer, AwsError> {
        self.handle_at(ctx, operation, input, now_ms())
    }

    /// [`Iam::handle`] at a given time (epoch ms).
    pub fn handle_at(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
        now: u64,
    ) -> Result<Answer, AwsError> {
        self.handle_as(ctx, operation, input, now, None)
    }

    /// [`Iam::handle_at`] for a caller the service resolved (a session's identity, which only
    /// STS knows); `None`: the IAM user whose key signed, else the account's root.
    pub fn handle_as(
        &self,
        ctx: &RequestContext,
        operation: &str,
        input: &Value,
        now: u64,
        caller: Option<delegation::Caller>,
    ) -> Result<Answer, AwsError> {
        let model = Self::model();
        if !model.operations.contains_key(operation) {
            return Err(AwsError::new(
                "InvalidAction",
                format!("Could not find operation {operation} for version 2010-05-08"),
            ));
        }
        if !ops::implemented(operation) {
            return Err(not_implemented(operation));
        }
        snapstack_sts::validation::check(model, operation, input)?;
        let empty = Map::new();
        let input = input.as_object().unwrap_or(&empty);
        // A request signed with an access key IAM issued acts in that key's account.
        let account = match self.store.snapshot().get(&access_key_key(&ctx.access_key)) {
            Some(IamRecord::AccessKey(k)) => k.account.clone(),
            _ => match &caller {
                Some(c) => c.account.clone(),
                None => ctx.account().to_string(),
            },
        };
        let before = self.store.version();
        let (result, version) = self.store.write(|txn| {
            let mut op = Op {
                txn,
                account,
                region: ctx.region().to_string(),
                access_key: ctx.access_key.clone(),
                now: now / 1000 * 1000,
                input,
                caller,
                followups: Vec::new(),
            };
            ops::run(&mut op, operation).map(|out| (out, op.followups))
        });
        let (output, followups) = result?;
        Ok(Answer {
            output,
            write_version: (version != before).then_some(version),
            followups,
        })
    }

    /// Record an entity's use of a service ([`lastaccess::RECORD_ACCESS`]); the store version
    /// the change produced, if any.
    pub fn record_access(&self, input: &Value) -> Option<u64> {
        let empty = Map::new();
        let input = input.as_object().unwrap_or(&empty);
        let account = util::s(input, "Account").to_string();
        if account.is_empty() {
            return None;
        }
        let before = self.store.version();
        let (_, version) = self.store.write(|txn| {
            let mut op = Op {
                txn,
                account,
                region: util::s(input, "Region").to_string(),
                access_key: String::new(),
                now: now_ms() / 1000 * 1000,
                input,
                caller: None,
                followups: Vec::new(),
            };
            lastaccess::record(&mut op, input);
        });
        (version != before).then_some(version)
    }

    /// Complete the report jobs whose deadline has passed (the background task); how many.
    pub fn complete_jobs(&self, now: u64) -> usize {
        if !lastaccess::any_due(&self.store.snapshot(), now) {
            return 0;
        }
        let empty = Map::new();
        let (n, _) = self.store.write(|txn| {
            let mut op = Op {
                txn,
                account: String::new(),
                region: String::new(),
                access_key: String::new(),
                now: now / 1000 * 1000,
                input: &empty,
                caller: None,
                followups: Vec::new(),
            };
            lastaccess::complete_due(&mut op, now)
        });
        n
    }

    /// Record the delegation requests whose deadline passed as expired and remove those past
    /// retention (the background task): the notifications to publish.
    pub fn sweep_delegations(&self, now: u64) -> Vec<delegation::Followup> {
        if !delegation::any_due(&self.store.snapshot(), now) {
            return Vec::new();
        }
        let empty = Map::new();
        let (followups, _) = self.store.write(|txn| {
            let mut op = Op {
                txn,
                account: String::new(),
                region: String::new(),
                access_key: String::new(),
                now,
                input: &empty,
                caller: None,
                followups: Vec::new(),
            };
            delegation::sweep(&mut op);
            op.followups
        });
        followups
    }

    /// The user an IAM access key id belongs to, if this emulator issued it and it is active.
    pub fn key_owner(&self, access_key_id: &str) -> Option<KeyOwner> {
        let snap = self.store.snapshot();
        let Some(IamRecord::AccessKey(k)) = snap.get(&access_key_key(access_key_id)) else {
            return None;
        };
        if !k.active {
            return None;
        }
        let Some(IamRecord::User(u)) = snap.get(&named_key(&k.account, USER, &k.user)) else {
            return None;
        };
        Some(KeyOwner {
            account: k.account.clone(),
            user_name: u.name.clone(),
            user_id: u.id.clone(),
            arn: util::arn(&k.account, "user", &u.path, &u.name),
        })
    }
}

pub(crate) fn not_implemented(operation: &str) -> AwsError {
    AwsError::new(
        "NotImplemented",
        snapstack_protocol::model::not_implemented_message("IAM", operation),
    )
    .with_status(StatusCode::NOT_IMPLEMENTED)
}

/// One operation's view of the store: the transaction, the account, the time and the input.
pub(crate) struct Op<'a, 't> {
    pub txn: &'a mut Txn<'t, IamRecord>,
    pub account: String,
    pub region: String,
    /// The access key the request was signed with.
    pub access_key: String,
    pub now: u64,
    pub input: &'a Map<String, Value>,
    /// The caller as the service resolved it (see [`Op::who`]).
    pub caller: Option<delegation::Caller>,
    /// What the operation asks of other services once its change is made.
    pub followups: Vec<delegation::Followup>,
}

macro_rules! entity {
    ($get:ident, $put:ident, $all:ident, $ty:ident, $kind:expr, $variant:ident, $missing:expr) => {
        pub fn $get(&self, name: &str) -> Result<$ty, AwsError> {
            match self.txn.get(&named_key(&self.account, $kind, name)) {
                Some(IamRecord::$variant(r)) => Ok((**r).clone()),
                _ => Err(no_such(format!($missing, name))),
            }
        }

        pub fn $put(&mut self, r: $ty) {
            self.txn.insert(
                named_key(&self.account, $kind, &r.name),
                IamRecord::$variant(Box::new(r)),
            );
        }

        /// Every record of the kind in the account, by lower-cased name.
        pub fn $all(&self) -> Vec<$ty> {
            self.txn
                .scan_prefix(&kind_prefix(&self.account, $kind))
                .filter_map(|(_, r)| match r {
                    IamRecord::$variant(r) => Some((**r).clone()),
                    _ => None,
                })
                .collect()
        }
    };
}

impl Op<'_, '_> {
    entity!(
        user,
        put_user,
        users,
        User,
        USER,
        User,
        "The user with name {} cannot be found."
    );
    entity!(
        group,
        put_group,
        groups,
        Group,
        GROUP,
        Group,
        "The group with name {} cannot be found."
    );
    entity!(
        role,
        put_role,
        roles,
        Role,
        ROLE,
        Role,
        "The role with name {} cannot be found."
    );
    entity!(
        profile,
        put_profile,
        profiles,
        InstanceProfile,
        PROFILE,
        InstanceProfile,
        "Instance Profile {} cannot be found."
    );
    entity!(
        server_cert,
        put_server_cert,
        server_certs,
        ServerCert,
        SERVER_CERT,
        ServerCert,
        "The Server Certificate with name {} cannot be found."
    );
    entity!(
        saml,
        put_saml,
        samls,
        SamlProvider,
        SAML,
        Saml,
        "SAMLProvider {} cannot be found."
    );

    pub fn has(&self, kind: &str, name: &str) -> bool {
        self.txn.contains(&named_key(&self.account, kind, name))
    }

    pub fn remove(&mut self, kind: &str, name: &str) {
        self.txn.remove(&named_key(&self.account, kind, name));
    }

    pub fn settings(&self) -> AccountSettings {
        match self.txn.get(&account_key(&self.account)) {
            Some(IamRecord::Account(a)) => (**a).clone(),
            _ => AccountSettings::default(),
        }
    }

    pub fn put_settings(&mut self, a: AccountSettings) {
        self.txn
            .insert(account_key(&self.account), IamRecord::Account(Box::new(a)));
    }

    /// Every access key of the account's user `user` (case-insensitive), by creation.
    pub fn keys_of(&self, user: &str) -> Vec<AccessKey> {
        let mut keys: Vec<AccessKey> = self
            .txn
            .scan_prefix(&access_keys_prefix())
            .filter_map(|(_, r)| match r {
                IamRecord::AccessKey(k)
                    if k.account == self.account && k.user.eq_ignore_ascii_case(user) =>
                {
                    Some((**k).clone())
                }
                _ => None,
            })
            .collect();
        keys.sort_by_key(|k| k.created);
        keys
    }

    /// Records of one kind keyed by id, filtered.
    pub fn by_id<T: Clone>(&self, kind: &str, pick: impl Fn(&IamRecord) -> Option<&T>) -> Vec<T> {
        self.txn
            .scan_prefix(&kind_prefix(&self.account, kind))
            .filter_map(|(_, r)| pick(r).cloned())
            .collect()
    }

    /// The name of the account's user whose access key signed the request, if one did.
    pub fn caller_user(&self) -> Option<String> {
        match self.txn.get(&access_key_key(&self.access_key)) {
            Some(IamRecord::AccessKey(k)) if k.account == self.account => Some(k.user.clone()),
            _ => None,
        }
    }

    pub fn s(&self, name: &str) -> &str {
        util::s(self.input, name)
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        util::opt(self.input, name)
    }
}

/// The answer of an operation that has no output members.
pub(crate) fn done() -> Result<Value, AwsError> {
    Ok(json!({}))
}

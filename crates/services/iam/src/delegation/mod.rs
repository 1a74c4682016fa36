//! Temporary delegation requests (IAM temporary delegation): a partner asks for temporary,
//! scoped access to a customer's account; the customer reviews, approves and releases an
//! exchange token; the partner trades the token at STS (`GetDelegatedAccessToken`) for
//! credentials that act as the approving identity, limited to the requested permissions.
//!
//! A request is one record (`["delegation", id]`, global: it moves from the partner's account
//! to the customer's) with AWS's state machine:
//!
//! ```text
//! UNASSIGNED --Associate--> ASSIGNED --Update--> PENDING_APPROVAL --Accept--> ACCEPTED --Send--> FINALIZED
//!                              |  \____________________Accept_____________________/  |
//!                              +--Reject--> REJECTED <--Reject-- PENDING_APPROVAL, ACCEPTED
//! ```
//!
//! Every state but EXPIRED has an absolute deadline (`expires_at`): 1 day unassigned, 7 days in
//! each later state (AWS's request lifecycle); past it the request reads as EXPIRED (evaluated
//! when read, so a deadline holds across restarts) and the background sweep records the change
//! and, after 7 more days of retention, removes the record.
//!
//! Who may do what (AWS's default permissions for delegation requests, without enforcement):
//! the partner's account and, while no owner account is set, any account may read a request;
//! once it has an owner account only that account (and the partner) may. `Associate` needs the
//! target account when one was named; `Update`, `Accept`, `Reject` and `Send` need the owner
//! account; `Send` needs the owner itself when the partner set `OnlySendByOwner`.
//!
//! Permissions are a policy template and parameters (`template.rs`): the template ARN names a
//! managed policy of the partner's account (or an AWS managed policy) whose default version is
//! the template, since AWS's registered partner templates have no API. `Accept` records the
//! caller as the identity the credentials stand for; `Send` registers the exchange token with
//! STS (`IssueTradeInToken`, through `Runtime::invoke`) and publishes it to the partner's SNS
//! topic (`NotificationChannel`), as every state change is published there. The notification is
//! a JSON message: `{"DelegationRequestId", "RequestorWorkflowId", "State", "EventTime",
//! "ExpirationTime", "ExchangeToken" (FINALIZED only)}`.

pub mod summary;
pub mod template;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use snapstack_policy::{Policy, PolicyKind};
use snapstack_protocol::errors::AwsError;
use snapstack_protocol::http::StatusCode;

use crate::model::*;
use crate::policies::{self, PolicyRef};
use crate::util::{self, date, exists, invalid_input, limit, no_such};
use crate::{Op, simulate};
use template::Parameter;

pub const DAY_MS: u64 = 86_400_000;
/// How long a request waits to be associated.
pub const UNASSIGNED_TTL_MS: u64 = DAY_MS;
/// How long a request stays in each later state.
pub const STATE_TTL_MS: u64 = 7 * DAY_MS;
/// How long an expired request is kept before it is removed.
pub const RETENTION_MS: u64 = 7 * DAY_MS;
/// The most requests one partner account may have.
pub const MAX_PER_ACCOUNT: usize = 1_000;

/// The operations of this module.
pub const OPERATIONS: &[&str] = &[
    "CreateDelegationRequest",
    "GetDelegationRequest",
    "ListDelegationRequests",
    "AssociateDelegationRequest",
    "UpdateDelegationRequest",
    "AcceptDelegationRequest",
    "RejectDelegationRequest",
    "SendDelegationToken",
    "GetHumanReadableSummary",
];

/// A request's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Unassigned,
    Assigned,
    PendingApproval,
    Accepted,
    Finalized,
    Rejected,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Assigned => "ASSIGNED",
            State::PendingApproval => "PENDING_APPROVAL",
            State::Accepted => "ACCEPTED",
            State::Finalized => "FINALIZED",
            State::Rejected => "REJECTED",
            State::Expired => "EXPIRED",
        }
    }
}

/// The identity delegated credentials stand for, recorded at acceptance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The approving identity: an IAM user, an assumed-role session, or the account's root.
    pub principal_arn: String,
    /// The IAM user or role whose policies apply (`None`: the account's root).
    pub source_arn: Option<String>,
}

/// A delegation request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DelegationRequest {
    pub id: String,
    /// The partner's account (`RequestorId`).
    pub requestor_account: String,
    pub requestor_name: String,
    pub workflow_id: String,
    pub owner_account: Option<String>,
    /// The ARN of the identity that associated the request.
    pub owner_id: Option<String>,
    pub approver_id: Option<String>,
    pub description: String,
    pub request_message: Option<String>,
    pub redirect_url: Option<String>,
    /// The partner's SNS topic ARN.
    pub notification_channel: String,
    pub session_duration: u32,
    pub only_send_by_owner: bool,
    pub template_arn: String,
    pub parameters: Vec<Parameter>,
    /// The rendered permission policy (compact JSON).
    pub permission_policy: String,
    pub boundary_arns: Vec<String>,
    /// The state as last changed (see [`DelegationRequest::state_at`]).
    pub state: State,
    pub notes: Option<String>,
    pub rejection_reason: Option<String>,
    pub grant: Option<Grant>,
    pub created: u64,
    pub updated: u64,
    /// The absolute deadline of the current state (epoch ms).
    pub expires_at: u64,
}

impl DelegationRequest {
    /// The state at `now`: EXPIRED once the current state's deadline has passed.
    pub fn state_at(&self, now: u64) -> State {
        if now >= self.expires_at {
            State::Expired
        } else {
            self.state
        }
    }

    /// Whether the record is past its retention at `now` (as if removed).
    pub fn gone_at(&self, now: u64) -> bool {
        now >= self.expires_at.saturating_add(RETENTION_MS)
    }

    fn out(&self, now: u64) -> Value {
        let mut o = Map::new();
        o.insert("DelegationRequestId".into(), json!(self.id));
        if let Some(a) = &self.owner_account {
            o.insert("OwnerAccountId".into(), json!(a));
        }
        o.insert("Description".into(), json!(self.description));
        if let Some(m) = &self.request_message {
            o.insert("RequestMessage".into(), json!(m));
        }
        let params: Vec<Value> = self
            .parameters
            .iter()
            .map(|p| json!({"Name": p.name, "Values": p.values, "Type": p.kind.as_str()}))
            .collect();
        let mut perms = json!({"PolicyTemplateArn": self.template_arn});
        if !params.is_empty() {
            perms["Parameters"] = Value::Array(params);
        }
        o.insert("Permissions".into(), perms);
        o.insert("PermissionPolicy".into(), json!(self.permission_policy));
        if !self.boundary_arns.is_empty() {
            o.insert(
                "RolePermissionRestrictionArns".into(),
                json!(self.boundary_arns),
            );
        }
        if let Some(v) = &self.owner_id {
            o.insert("OwnerId".into(), json!(v));
        }
        if let Some(v) = &self.approver_id {
            o.insert("ApproverId".into(), json!(v));
        }
        o.insert("State".into(), json!(self.state_at(now).as_str()));
        o.insert("ExpirationTime".into(), date(self.expires_at));
        o.insert("RequestorId".into(), json!(self.requestor_account));
        o.insert("RequestorName".into(), json!(self.requestor_name));
        o.insert("CreateDate".into(), date(self.created));
        o.insert("SessionDuration".into(), json!(self.session_duration));
        if let Some(v) = &self.redirect_url {
            o.insert("RedirectUrl".into(), json!(v));
        }
        if let Some(v) = &self.notes {
            o.insert("Notes".into(), json!(v));
        }
        if let Some(v) = &self.rejection_reason {
            o.insert("RejectionReason".into(), json!(v));
        }
        o.insert("OnlySendByOwner".into(), json!(self.only_send_by_owner));
        o.insert("UpdatedTime".into(), date(self.updated));
        Value::Object(o)
    }
}

/// Who calls: the identity's ARN and account, and the user or role whose policies are its.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub arn: String,
    pub account: String,
    /// `None` for the account's root.
    pub source_arn: Option<String>,
}

impl Caller {
    pub fn root(account: &str) -> Caller {
        Caller {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            source_arn: None,
        }
    }
}

/// What a change of a request asks of other services once it is made, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Followup {
    /// Register an exchange token with STS (`IssueTradeInToken`), in the customer's account.
    IssueToken { account: String, input: Value },
    /// Publish `message` to the partner's SNS topic.
    Notify { topic: String, message: String },
}

impl Op<'_, '_> {
    /// The caller: as the service resolved it, else the IAM user whose key signed, else the
    /// account's root.
    pub fn who(&self) -> Caller {
        if let Some(c) = &self.caller {
            return c.clone();
        }
        if let Some(name) = self.caller_user()
            && let Ok(u) = self.user(&name)
        {
            let arn = util::arn(&self.account, "user", &u.path, &u.name);
            return Caller {
                arn: arn.clone(),
                account: self.account.clone(),
                source_arn: Some(arn),
            };
        }
        Caller::root(&self.account)
    }
}

fn not_found(id: &str) -> AwsError {
    no_such(format!(
        "The delegation request with id {id} cannot be found."
    ))
}

fn access_denied(message: String) -> AwsError {
    AwsError::new("AccessDenied", message).with_status(StatusCode::FORBIDDEN)
}

fn wrong_state(id: &str, state: State, what: &str) -> AwsError {
    invalid_input(format!(
        "The delegation request {id} is in state {} and cannot be {what}.",
        state.as_str()
    ))
}

fn load(op: &Op<'_, '_>, id: &str) -> Result<DelegationRequest, AwsError> {
    match op.txn.get(&delegation_key(id)) {
        Some(IamRecord::Delegation(r)) if !r.gone_at(op.now) => Ok((**r).clone()),
        _ => Err(not_found(id)),
    }
}

/// Whether `who` may read `r`: the partner, anyone while no owner account is set, else the
/// owner account.
fn readable(r: &DelegationRequest, who: &Caller) -> bool {
    who.account == r.requestor_account
        || r.owner_account.as_deref().is_none_or(|a| a == who.account)
}

/// The request `DelegationRequestId` names, if `who` may read it.
fn readable_request(op: &Op<'_, '_>, who: &Caller) -> Result<DelegationRequest, AwsError> {
    let id = op.s("DelegationRequestId").to_string();
    let r = load(op, &id)?;
    if !readable(&r, who) {
        return Err(not_found(&id));
    }
    Ok(r)
}

/// The request `DelegationRequestId` names, if `who` is of its owner account.
fn owned_request(op: &Op<'_, '_>, who: &Caller) -> Result<DelegationRequest, AwsError> {
    let id = op.s("DelegationRequestId").to_string();
    let r = load(op, &id)?;
    match r.owner_account.as_deref() {
        Some(a) if a != who.account => Err(not_found(&id)),
        None if who.account != r.requestor_account => Err(not_found(&id)),
        _ => Ok(r),
    }
}

fn put(op: &mut Op<'_, '_>, r: DelegationRequest) {
    op.txn
        .insert(delegation_key(&r.id), IamRecord::Delegation(Box::new(r)));
}

/// The state-change notification for the partner's topic.
fn notify(r: &DelegationRequest, now: u64, token: Option<&str>) -> Followup {
    let mut m = json!({
        "DelegationRequestId": r.id,
        "RequestorWorkflowId": r.workflow_id,
        "State": r.state.as_str(),
        "EventTime": date(now),
        "ExpirationTime": date(r.expires_at),
    });
    if let Some(t) = token {
        m["ExchangeToken"] = json!(t);
    }
    Followup::Notify {
        topic: r.notification_channel.clone(),
        message: m.to_string(),
    }
}

/// 128 random bits as a UUID-shaped id (`[\w-]+`, 36 characters).
fn new_request_id() -> String {
    let (a, b) = (util::random_u64(), util::random_u64());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// An exchange token: 256 random bits.
fn new_token() -> String {
    (0..4)
        .map(|_| format!("{:016x}", util::random_u64()))
        .collect()
}

/// Whether `arn` is an SNS topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`).
pub fn topic_parts(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", region, account, name]
            if !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty() =>
        {
            Some((region, account))
        }
        _ => None,
    }
}

/// The default version's document of the template a managed policy ARN names.
fn template_document(op: &Op<'_, '_>, arn: &str) -> Option<String> {
    match policies::find(op, arn)? {
        PolicyRef::Local(p) => p
            .versions
            .iter()
            .find(|v| v.number == p.default_version)
            .map(|v| v.document.clone()),
        PolicyRef::Aws(p) => Some(p.document.clone()),
    }
}

pub(crate) fn create(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let empty = Map::new();
    let permissions = op
        .input
        .get("Permissions")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let template_arn = permissions
        .get("PolicyTemplateArn")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if template_arn.is_empty() {
        return Err(invalid_input("Permissions.PolicyTemplateArn is required."));
    }
    let template = template_document(op, &template_arn).ok_or_else(|| {
        invalid_input(format!(
            "The policy template {template_arn} does not exist."
        ))
    })?;
    let parameters = template::parameters(permissions)?;
    let (permission_policy, policy) = template::render(&template, &parameters)?;
    let channel = op.s("NotificationChannel").to_string();
    if topic_parts(&channel).is_none() {
        return Err(invalid_input(format!(
            "The notification channel {channel} is not an Amazon SNS topic ARN."
        )));
    }
    let workflow_id = op.s("RequestorWorkflowId").to_string();
    let requestor = op.account.clone();
    let mut open = 0usize;
    for (_, r) in op.txn.scan_prefix(&delegations_prefix()) {
        if let IamRecord::Delegation(d) = r
            && d.requestor_account == requestor
            && !d.gone_at(op.now)
        {
            if d.workflow_id == workflow_id {
                return Err(exists(format!(
                    "A delegation request with RequestorWorkflowId {workflow_id} already exists."
                )));
            }
            open += 1;
        }
    }
    if open >= MAX_PER_ACCOUNT {
        return Err(limit(format!(
            "Cannot exceed quota for DelegationRequestsPerAccount: {MAX_PER_ACCOUNT}."
        )));
    }
    let requestor_name: String = op
        .settings()
        .aliases
        .first()
        .cloned()
        .unwrap_or_else(|| requestor.clone())
        .chars()
        .take(30)
        .collect();
    let id = new_request_id();
    let r = DelegationRequest {
        id: id.clone(),
        requestor_account: requestor,
        requestor_name,
        workflow_id,
        owner_account: op.opt("OwnerAccountId").map(str::to_string),
        owner_id: None,
        approver_id: None,
        description: op.s("Description").to_string(),
        request_message: op.opt("RequestMessage").map(str::to_string),
        redirect_url: op.opt("RedirectUrl").map(str::to_string),
        notification_channel: channel,
        session_duration: util::number(op.input, "SessionDuration").unwrap_or(3600) as u32,
        only_send_by_owner: util::boolean(op.input, "OnlySendByOwner").unwrap_or(false),
        template_arn,
        parameters,
        boundary_arns: template::role_boundaries(&policy),
        permission_policy,
        state: State::Unassigned,
        notes: None,
        rejection_reason: None,
        grant: None,
        created: op.now,
        updated: op.now,
        expires_at: op.now.saturating_add(UNASSIGNED_TTL_MS),
    };
    put(op, r);
    Ok(json!({
        "DelegationRequestId": id,
        "ConsoleDeepLink": format!("https://console.aws.amazon.com/iam/home#/temporary-delegation/requests/{id}"),
    }))
}

pub(crate) fn get(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let r = readable_request(op, &who)?;
    let mut out = json!({"DelegationRequest": r.out(op.now)});
    if util::boolean(op.input, "DelegationPermissionCheck") == Some(true) {
        match permission_check(op, &who, &r) {
            Some(result) => {
                out["PermissionCheckStatus"] = json!("COMPLETE");
                out["PermissionCheckResult"] = json!(result);
            }
            None => out["PermissionCheckStatus"] = json!("FAILED"),
        }
    }
    Ok(out)
}

/// Whether the caller's own permissions cover what the request asks: `ALLOWED`, `DENIED`, or
/// `UNSURE` (conditions, wildcards or negations the check cannot settle); `None` when the
/// caller's policies cannot be found.
fn permission_check(op: &Op<'_, '_>, who: &Caller, r: &DelegationRequest) -> Option<&'static str> {
    let Some(source) = &who.source_arn else {
        // The account's root may do everything.
        return Some("ALLOWED");
    };
    if who.account != op.account {
        return None;
    }
    let policy = Policy::parse_stored(&r.permission_policy, PolicyKind::Session).ok()?;
    simulate::covers(op, source, &who.arn, &policy).ok()
}

pub(crate) fn list(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let owner = op.opt("OwnerId").map(str::to_string);
    let mut found: Vec<DelegationRequest> = op
        .txn
        .scan_prefix(&delegations_prefix())
        .filter_map(|(_, r)| match r {
            IamRecord::Delegation(d)
                if d.owner_account.as_deref() == Some(who.account.as_str())
                    && d.owner_id.is_some()
                    && !d.gone_at(op.now)
                    && owner
                        .as_ref()
                        .is_none_or(|o| d.owner_id.as_ref() == Some(o)) =>
            {
                Some((**d).clone())
            }
            _ => None,
        })
        .collect();
    found.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    let items = found.iter().map(|d| d.out(op.now)).collect();
    let mut page = util::page(op.input, "DelegationRequests", items);
    if let Some(o) = page.as_object_mut()
        && let Some(t) = o.remove("IsTruncated")
    {
        o.insert("isTruncated".into(), t);
    }
    Ok(page)
}

pub(crate) fn associate(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let id = op.s("DelegationRequestId").to_string();
    let mut r = load(op, &id)?;
    if r.owner_account.as_deref().is_some_and(|a| a != who.account) {
        return Err(not_found(&id));
    }
    let state = r.state_at(op.now);
    if state != State::Unassigned {
        return Err(wrong_state(&id, state, "associated"));
    }
    r.owner_account = Some(who.account.clone());
    r.owner_id = Some(who.arn.clone());
    transition(op, r, State::Assigned, None);
    crate::done()
}

/// Move `r` to `state` with a fresh deadline, and tell the partner.
fn transition(op: &mut Op<'_, '_>, mut r: DelegationRequest, state: State, token: Option<&str>) {
    r.state = state;
    r.updated = op.now;
    r.expires_at = op.now.saturating_add(STATE_TTL_MS);
    op.followups.push(notify(&r, op.now, token));
    put(op, r);
}

pub(crate) fn update(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let mut r = owned_request(op, &who)?;
    let state = r.state_at(op.now);
    if !matches!(state, State::Assigned | State::PendingApproval) {
        return Err(wrong_state(&r.id, state, "updated"));
    }
    if let Some(n) = op.opt("Notes") {
        r.notes = Some(n.to_string());
    }
    transition(op, r, State::PendingApproval, None);
    crate::done()
}

pub(crate) fn accept(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let mut r = owned_request(op, &who)?;
    let state = r.state_at(op.now);
    if !matches!(state, State::Assigned | State::PendingApproval) {
        // AcceptDelegationRequest's model has no InvalidInput.
        return Err(AwsError::new(
            "ConcurrentModification",
            format!(
                "The delegation request {} is in state {} and cannot be accepted.",
                r.id,
                state.as_str()
            ),
        )
        .with_status(StatusCode::CONFLICT));
    }
    r.approver_id = Some(who.arn.clone());
    r.grant = Some(Grant {
        principal_arn: who.arn.clone(),
        source_arn: who.source_arn.clone(),
    });
    transition(op, r, State::Accepted, None);
    crate::done()
}

pub(crate) fn reject(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let mut r = owned_request(op, &who)?;
    let state = r.state_at(op.now);
    if !matches!(
        state,
        State::Assigned | State::PendingApproval | State::Accepted
    ) {
        return Err(wrong_state(&r.id, state, "rejected"));
    }
    r.rejection_reason = op.opt("Notes").map(str::to_string);
    r.grant = None;
    transition(op, r, State::Rejected, None);
    crate::done()
}

pub(crate) fn send_token(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let who = op.who();
    let r = owned_request(op, &who)?;
    let state = r.state_at(op.now);
    if state != State::Accepted {
        return Err(invalid_input(format!(
            "The delegation request {} must be in state ACCEPTED to send its token; it is {}.",
            r.id,
            state.as_str()
        )));
    }
    if r.only_send_by_owner && r.owner_id.as_deref() != Some(who.arn.as_str()) {
        return Err(access_denied(format!(
            "Only the owner of delegation request {} can send its delegation token.",
            r.id
        )));
    }
    let Some(grant) = r.grant.clone() else {
        return Err(wrong_state(&r.id, state, "sent"));
    };
    let account = r
        .owner_account
        .clone()
        .unwrap_or_else(|| who.account.clone());
    let token = new_token();
    // The delegation window starts now and lasts the session duration.
    let window_ms = u64::from(r.session_duration).saturating_mul(1000);
    let mut input = json!({
        "TradeInToken": token,
        "Account": account,
        "PrincipalArn": grant.principal_arn,
        "Kind": if grant.source_arn.is_some() { "assumed-role" } else { "session" },
        "Policy": r.permission_policy,
        "ExpiresAtMs": op.now.saturating_add(window_ms),
        "DurationSeconds": r.session_duration,
        "RedeemerAccount": r.requestor_account,
    });
    if let Some(s) = &grant.source_arn {
        input["SourceArn"] = json!(s);
    }
    op.followups.push(Followup::IssueToken {
        account: account.clone(),
        input,
    });
    transition(op, r, State::Finalized, Some(&token));
    crate::done()
}

pub(crate) fn human_readable_summary(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let arn = op.s("EntityArn").to_string();
    let locale = op.opt("Locale").unwrap_or("en-US").to_string();
    if !summary::LOCALES.contains(&locale.as_str()) {
        return Err(invalid_input(format!(
            "The locale {locale} is not supported."
        )));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _, "iam", "", _, resource] = parts.as_slice() else {
        return Err(invalid_input(format!("Invalid EntityArn: {arn}")));
    };
    let Some(id) = resource.strip_prefix("delegation-request/") else {
        return Ok(
            json!({"SummaryState": "NOT_SUPPORTED", "Locale": locale, "SummaryContent": ""}),
        );
    };
    let who = op.who();
    let r = load(op, id)?;
    if !readable(&r, &who) {
        return Err(not_found(id));
    }
    if locale != "en-US" {
        return Ok(
            json!({"SummaryState": "NOT_AVAILABLE", "Locale": locale, "SummaryContent": ""}),
        );
    }
    Ok(
        match Policy::parse_stored(&r.permission_policy, PolicyKind::Session) {
            Ok(policy) => json!({
                "SummaryState": "AVAILABLE",
                "Locale": locale,
                "SummaryContent": summary::render(&r, &policy),
            }),
            Err(_) => json!({"SummaryState": "FAILED", "Locale": locale, "SummaryContent": ""}),
        },
    )
}

/// The background sweep: record requests whose deadline passed as EXPIRED (with the partner's
/// notification) and remove those past retention.
pub(crate) fn sweep(op: &mut Op<'_, '_>) -> usize {
    let now = op.now;
    let due: Vec<DelegationRequest> = op
        .txn
        .scan_prefix(&delegations_prefix())
        .filter_map(|(_, r)| match r {
            IamRecord::Delegation(d)
                if (d.state != State::Expired && now >= d.expires_at) || d.gone_at(now) =>
            {
                Some((**d).clone())
            }
            _ => None,
        })
        .collect();
    for mut d in due.iter().cloned() {
        if d.gone_at(now) {
            op.txn.remove(&delegation_key(&d.id));
            continue;
        }
        d.state = State::Expired;
        d.updated = d.expires_at;
        op.followups.push(notify(&d, now, None));
        put(op, d);
    }
    due.len()
}

/// Whether any request needs the sweep at `now`.
pub fn any_due(snap: &snapstack_engine::Snapshot<IamRecord>, now: u64) -> bool {
    snap.scan_prefix(&delegations_prefix()).any(|(_, r)| {
        matches!(r, IamRecord::Delegation(d)
            if (d.state != State::Expired && now >= d.expires_at) || d.gone_at(now))
    })
}

#[cfg(test)]
mod tests;

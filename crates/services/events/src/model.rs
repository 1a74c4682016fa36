//! EventBridge's records and keys.
//!
//! Per account and region (the partition `p`):
//! `[p, "bus", name]` → [`Bus`] (the `default` bus exists without a record until something is
//! stored on it: a policy, tags); `[p, "rule", bus, name]` → [`Rule`] with its targets;
//! `[p, "archive", name]` → [`Archive`]; `[p, "archived", archive, time ms, id]` → an archived
//! event; `[p, "replay", name]` → [`Replay`]; `[p, "connection", name]` → [`Connection`];
//! `[p, "apidest", name]` → [`ApiDestination`]; `[p, "endpoint", name]` → [`Endpoint`].
//!
//! Global, ordered by absolute deadline so the background task reads the due ones as one range:
//! `["delivery", due ms, id]` → [`Delivery`] (the outbox: an event owed to one target);
//! `["fire", due ms, account, region, rule]` → [`Fire`] (a scheduled rule's next fire time);
//! `["replaying", account, region, name]` → a replay waiting to be run;
//! `["partner", region, name]` → [`PartnerSource`].

use serde::{Deserialize, Serialize};
use snapstack_engine::{Key, Partition, Record};

/// A record of the EventBridge store. New variants go at the end (postcard on disk).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventsRecord {
    Bus(Box<Bus>),
    Rule(Box<Rule>),
    Delivery(Box<Delivery>),
    Fire(Box<Fire>),
    Archive(Box<Archive>),
    /// An archived event: its JSON text.
    Archived(String),
    Replay(Box<Replay>),
    /// A replay to run (the background task runs it and removes this).
    Replaying,
    Connection(Box<Connection>),
    ApiDestination(Box<ApiDestination>),
    Endpoint(Box<Endpoint>),
    PartnerSource(Box<PartnerSource>),
}
impl Record for EventsRecord {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bus {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub kms_key: Option<String>,
    /// The bus's DeadLetterConfig ARN.
    pub dead_letter_arn: Option<String>,
    /// The resource policy (JSON text).
    pub policy: Option<String>,
    pub event_source_name: Option<String>,
    pub tags: Vec<(String, String)>,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub bus: String,
    pub event_pattern: Option<String>,
    pub schedule: Option<String>,
    /// ENABLED, DISABLED or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS.
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub managed_by: Option<String>,
    pub created_by: String,
    pub tags: Vec<(String, String)>,
    pub targets: Vec<Target>,
    /// A scheduled rule's next fire time (epoch ms), also a [`Fire`] record's key.
    pub next_fire_ms: Option<u64>,
}

/// A rule's target: its id and ARN, and the whole Target structure as given (JSON text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub json: String,
}

/// One event owed to one target: removed only once the target has it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub account: String,
    pub region: String,
    pub rule_arn: String,
    pub event_id: String,
    /// The target as it was when the event was accepted (JSON text of the Target structure).
    pub target: String,
    /// What the target receives: the event, or the target's Input / InputPath /
    /// InputTransformer result.
    pub body: String,
    /// The event itself (JSON text), for the dead-letter queue and for parameters taken from it.
    pub event: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The absolute deadline of the next attempt (epoch ms); also in the key.
    pub due_ms: u64,
    /// When the event was accepted (epoch ms): MaximumEventAgeInSeconds counts from here.
    pub created_ms: u64,
}

/// A scheduled rule's next fire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fire {
    pub account: String,
    pub region: String,
    pub rule: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub name: String,
    pub arn: String,
    pub source_arn: String,
    pub description: Option<String>,
    pub event_pattern: Option<String>,
    pub retention_days: u32,
    pub kms_key: Option<String>,
    pub state: String,
    pub created_ms: u64,
    pub event_count: u64,
    pub size_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub source_arn: String,
    pub destination_arn: String,
    pub filter_arns: Vec<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub state: String,
    pub state_reason: Option<String>,
    pub replay_start_ms: u64,
    pub replay_end_ms: Option<u64>,
    pub last_replayed_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub authorization_type: String,
    /// AuthParameters as given (JSON text); secrets are never answered.
    pub auth_parameters: String,
    pub state: String,
    pub secret_arn: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    pub last_authorized_ms: u64,
    /// InvocationConnectivityParameters (JSON text), if given.
    pub connectivity: Option<String>,
    pub kms_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiDestination {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate_limit: Option<u64>,
    pub state: String,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub description: Option<String>,
    /// RoutingConfig, ReplicationConfig, EventBuses as given (JSON text).
    pub routing: String,
    pub replication: Option<String>,
    pub event_buses: String,
    pub role_arn: Option<String>,
    pub state: String,
    pub created_ms: u64,
    pub modified_ms: u64,
}

/// A partner event source a SaaS partner (`partner_account`) offers to a customer account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartnerSource {
    pub name: String,
    pub arn: String,
    pub partner_account: String,
    pub customer_account: String,
    /// PENDING until the customer creates its partner bus (or activates it), then ACTIVE.
    pub state: String,
    pub created_ms: u64,
}

pub fn bus_key(p: &Partition, name: &str) -> Key {
    p.key().str("bus").str(name).build()
}
pub fn buses_prefix(p: &Partition) -> Key {
    p.key().str("bus").build()
}
pub fn rule_key(p: &Partition, bus: &str, name: &str) -> Key {
    p.key().str("rule").str(bus).str(name).build()
}
pub fn rules_of_bus(p: &Partition, bus: &str) -> Key {
    p.key().str("rule").str(bus).build()
}
pub fn rules_prefix(p: &Partition) -> Key {
    p.key().str("rule").build()
}
pub fn archive_key(p: &Partition, name: &str) -> Key {
    p.key().str("archive").str(name).build()
}
pub fn archives_prefix(p: &Partition) -> Key {
    p.key().str("archive").build()
}
pub fn archived_key(p: &Partition, archive: &str, time_ms: u64, id: &str) -> Key {
    p.key()
        .str("archived")
        .str(archive)
        .u64(time_ms)
        .str(id)
        .build()
}
pub fn archived_of(p: &Partition, archive: &str) -> Key {
    p.key().str("archived").str(archive).build()
}
pub fn archived_at(p: &Partition, archive: &str, time_ms: u64) -> Key {
    p.key().str("archived").str(archive).u64(time_ms).build()
}
pub fn replay_key(p: &Partition, name: &str) -> Key {
    p.key().str("replay").str(name).build()
}
pub fn replays_prefix(p: &Partition) -> Key {
    p.key().str("replay").build()
}
pub fn connection_key(p: &Partition, name: &str) -> Key {
    p.key().str("connection").str(name).build()
}
pub fn connections_prefix(p: &Partition) -> Key {
    p.key().str("connection").build()
}
pub fn apidest_key(p: &Partition, name: &str) -> Key {
    p.key().str("apidest").str(name).build()
}
pub fn apidests_prefix(p: &Partition) -> Key {
    p.key().str("apidest").build()
}
pub fn endpoint_key(p: &Partition, name: &str) -> Key {
    p.key().str("endpoint").str(name).build()
}
pub fn endpoints_prefix(p: &Partition) -> Key {
    p.key().str("endpoint").build()
}

pub fn delivery_key(due_ms: u64, id: &str) -> Key {
    Key::builder().str("delivery").u64(due_ms).str(id).build()
}
pub fn deliveries_prefix() -> Key {
    Key::builder().str("delivery").build()
}
pub fn fire_key(due_ms: u64, account: &str, region: &str, rule_arn: &str) -> Key {
    Key::builder()
        .str("fire")
        .u64(due_ms)
        .str(account)
        .str(region)
        .str(rule_arn)
        .build()
}
pub fn fires_prefix() -> Key {
    Key::builder().str("fire").build()
}
pub fn replaying_key(account: &str, region: &str, name: &str) -> Key {
    Key::builder()
        .str("replaying")
        .str(account)
        .str(region)
        .str(name)
        .build()
}
pub fn replaying_prefix() -> Key {
    Key::builder().str("replaying").build()
}
/// Partner event sources, per region, by name (partners and customers see them in different
/// accounts): `["partner", region, name]`.
pub fn partner_key(region: &str, name: &str) -> Key {
    Key::builder().str("partner").str(region).str(name).build()
}
pub fn partners_prefix(region: &str) -> Key {
    Key::builder().str("partner").str(region).build()
}
/// The end of the range of a deadline-ordered prefix due at or before `now_ms`.
pub fn due_bound(prefix: &str, now_ms: u64) -> Key {
    Key::builder()
        .str(prefix)
        .u64(now_ms.saturating_add(1))
        .build()
}

//! Last-accessed information: when each IAM entity (a user, or a role through its sessions)
//! last used each service, as the gateway's policy enforcement (`ENFORCE_IAM=1`) reports it
//! through [`RECORD_ACCESS`] (at most once per entity, service and minute), and the reports
//! built from it: `GenerateServiceLastAccessedDetails` starts a job (a record, `IN_PROGRESS`),
//! the background task (or the first read after its deadline) completes it from the records of
//! that moment (`COMPLETED`), and `GetServiceLastAccessedDetails[WithEntities]` read it.
//!
//! The services a report lists are those the entity's policies allow (every known service for
//! `*`), as AWS's Access Advisor lists them, with the last access of each when there was one.
//! Organizations access reports need an organization, which this emulator's accounts are not in.

use serde_json::{Map, Value, json};
use snapstack_engine::Key;
use snapstack_protocol::errors::AwsError;

use crate::model::*;
use crate::util::*;
use crate::{Op, extras, policies};

/// The internal operation the gateway's enforcement calls: `{"Account", "Entity" (an IAM
/// user or role ARN), "Service" (its namespace), "Action" (for services tracked per action),
/// "Region", "AccessKeyId" (when a long-term key signed), "Time" (epoch ms)}`.
pub const RECORD_ACCESS: &str = "RecordAccess";

/// How long a report job stays `IN_PROGRESS` before the background task completes it.
pub const JOB_DELAY_MS: u64 = 1_000;

/// The most report jobs an account keeps (the oldest completed ones go first).
const MAX_JOBS: usize = 100;

const ACCESSED: &str = "accessed";
const JOB: &str = "access-job";

/// The services a report can name: namespace and name, by namespace.
const SERVICES: &[(&str, &str)] = &[
    ("acm", "AWS Certificate Manager"),
    ("apigateway", "Amazon API Gateway"),
    ("appsync", "AWS AppSync"),
    ("cloudformation", "AWS CloudFormation"),
    ("cloudwatch", "Amazon CloudWatch"),
    ("cognito-identity", "Amazon Cognito Identity"),
    ("cognito-idp", "Amazon Cognito User Pools"),
    ("dynamodb", "Amazon DynamoDB"),
    ("ec2", "Amazon EC2"),
    ("ecr", "Amazon Elastic Container Registry"),
    ("ecs", "Amazon Elastic Container Service"),
    ("elasticache", "Amazon ElastiCache"),
    ("events", "Amazon EventBridge"),
    ("firehose", "Amazon Kinesis Firehose"),
    ("iam", "AWS Identity and Access Management"),
    ("kinesis", "Amazon Kinesis"),
    ("kms", "AWS Key Management Service"),
    ("lambda", "AWS Lambda"),
    ("logs", "Amazon CloudWatch Logs"),
    ("rds", "Amazon RDS"),
    ("route53", "Amazon Route 53"),
    ("s3", "Amazon S3"),
    ("secretsmanager", "AWS Secrets Manager"),
    ("sns", "Amazon SNS"),
    ("sqs", "Amazon SQS"),
    ("ssm", "AWS Systems Manager"),
    ("states", "AWS Step Functions"),
    ("sts", "AWS Security Token Service"),
];

/// The name of a service namespace (the namespace itself when unknown).
pub fn service_name(namespace: &str) -> String {
    SERVICES
        .iter()
        .find(|(ns, _)| *ns == namespace)
        .map_or_else(|| namespace.to_string(), |(_, n)| n.to_string())
}

/// `[account, "accessed", entity ARN, namespace, action ("" for the service)]`.
fn accessed_key(account: &str, entity: &str, service: &str, action: &str) -> Key {
    Key::builder()
        .str(account)
        .str(ACCESSED)
        .str(entity)
        .str(service)
        .str(action)
        .build()
}

fn accessed_prefix(account: &str, entity: &str) -> Key {
    Key::builder()
        .str(account)
        .str(ACCESSED)
        .str(entity)
        .build()
}

/// `["access-job", id]`: jobs of every account under one prefix, for the background task.
fn job_key(id: &str) -> Key {
    Key::builder().str(JOB).str(id).build()
}

fn jobs_prefix() -> Key {
    Key::builder().str(JOB).build()
}

/// Record one access (the body of [`RECORD_ACCESS`]): the entity's use of the service (and
/// action), the access key's last use, a role's last use. Older news than what is recorded
/// changes nothing.
pub(crate) fn record(op: &mut Op<'_, '_>, input: &Map<String, Value>) {
    let entity = s(input, "Entity");
    let service = s(input, "Service");
    if entity.is_empty() || service.is_empty() {
        return;
    }
    let at = number(input, "Time").unwrap_or(op.now);
    let region = s(input, "Region").to_string();
    let account = op.account.clone();
    let mut seen = Accessed {
        entity: entity.to_string(),
        service: service.to_string(),
        action: String::new(),
        region: region.clone(),
        at,
    };
    put_newer(op, &account, seen.clone());
    if let Some(action) = opt(input, "Action").filter(|a| !a.is_empty()) {
        seen.action = action.to_string();
        put_newer(op, &account, seen);
    }
    if let Some(key) = opt(input, "AccessKeyId") {
        let used = match op.txn.get(&access_key_key(key)) {
            Some(IamRecord::AccessKey(k)) => k.last_used.as_ref().is_none_or(|u| u.0 < at),
            _ => false,
        };
        if used {
            let now = op.now;
            op.now = at;
            crate::creds::mark_key_used(op, key, service);
            op.now = now;
        }
    }
    if let Some(name) = entity
        .strip_prefix(&format!("arn:aws:iam::{account}:role/"))
        .map(|r| r.rsplit('/').next().unwrap_or(r))
        && let Ok(mut r) = op.role(name)
        && r.last_used.as_ref().is_none_or(|u| u.0 < at)
    {
        r.last_used = Some((at, region));
        op.put_role(r);
    }
}

/// Write `a` unless a newer access of the same entity, service and action is recorded.
fn put_newer(op: &mut Op<'_, '_>, account: &str, a: Accessed) {
    let key = accessed_key(account, &a.entity, &a.service, &a.action);
    if let Some(IamRecord::Accessed(old)) = op.txn.get(&key)
        && old.at >= a.at
    {
        return;
    }
    op.txn.insert(key, IamRecord::Accessed(Box::new(a)));
}

/// A user, role or group a report covers.
struct Entity {
    arn: String,
    name: String,
    kind: &'static str,
    id: String,
    path: String,
}

impl Entity {
    fn user(account: &str, u: &User) -> Entity {
        Entity {
            arn: arn(account, "user", &u.path, &u.name),
            name: u.name.clone(),
            kind: "USER",
            id: u.id.clone(),
            path: u.path.clone(),
        }
    }

    fn role(account: &str, r: &Role) -> Entity {
        Entity {
            arn: arn(account, "role", &r.path, &r.name),
            name: r.name.clone(),
            kind: "ROLE",
            id: r.id.clone(),
            path: r.path.clone(),
        }
    }
}

/// What an ARN names, for a report: the entities whose access counts, and the policy
/// documents whose grants say which services are listed.
fn subject(op: &Op<'_, '_>, target: &str) -> Result<(Vec<Entity>, Vec<String>), AwsError> {
    let invalid = || invalid_input(format!("ARN {target} is not valid."));
    let prefix = format!("arn:aws:iam::{}:", op.account);
    let Some(rest) = target.strip_prefix(&prefix) else {
        // An AWS managed policy: the account's entities it is attached to.
        if let Some(p) = crate::aws_managed::by_arn(target) {
            return Ok((attached_to(op, target), vec![p.document.clone()]));
        }
        return Err(invalid());
    };
    let (kind, path_name) = rest.split_once('/').ok_or_else(invalid)?;
    let name = path_name.rsplit('/').next().unwrap_or(path_name);
    let documents = |inline: &Inline, attached: &[String]| -> Vec<String> {
        let mut out: Vec<String> = inline.iter().map(|(_, d)| d.clone()).collect();
        for a in attached {
            match policies::find(op, a) {
                Some(policies::PolicyRef::Local(l)) => out.extend(
                    l.versions
                        .iter()
                        .find(|v| v.number == l.default_version)
                        .map(|v| v.document.clone()),
                ),
                Some(policies::PolicyRef::Aws(w)) => out.push(w.document.clone()),
                None => {}
            }
        }
        out
    };
    match kind {
        "user" => {
            let u = op.user(name)?;
            let mut docs = documents(&u.inline, &u.attached);
            for g in op.groups() {
                if g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)) {
                    docs.extend(documents(&g.inline, &g.attached));
                }
            }
            Ok((vec![Entity::user(&op.account, &u)], docs))
        }
        "role" => {
            let r = op.role(name)?;
            let docs = documents(&r.inline, &r.attached);
            Ok((vec![Entity::role(&op.account, &r)], docs))
        }
        "group" => {
            let g = op.group(name)?;
            let members = op
                .users()
                .iter()
                .filter(|u| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
                .map(|u| Entity::user(&op.account, u))
                .collect();
            Ok((members, documents(&g.inline, &g.attached)))
        }
        "policy" => match policies::find(op, target) {
            Some(policies::PolicyRef::Local(l)) => {
                let doc = l
                    .versions
                    .iter()
                    .find(|v| v.number == l.default_version)
                    .map(|v| v.document.clone())
                    .unwrap_or_default();
                Ok((attached_to(op, target), vec![doc]))
            }
            _ => Err(no_such(format!("Policy {target} was not found."))),
        },
        _ => Err(invalid()),
    }
}

/// The users and roles a managed policy applies to: attached to them, or to a group of theirs.
fn attached_to(op: &Op<'_, '_>, policy_arn: &str) -> Vec<Entity> {
    let groups: Vec<Group> = op
        .groups()
        .into_iter()
        .filter(|g| g.attached.iter().any(|a| a == policy_arn))
        .collect();
    let mut out: Vec<Entity> = op
        .users()
        .iter()
        .filter(|u| {
            u.attached.iter().any(|a| a == policy_arn)
                || groups
                    .iter()
                    .any(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(&u.name)))
        })
        .map(|u| Entity::user(&op.account, u))
        .collect();
    out.extend(
        op.roles()
            .iter()
            .filter(|r| r.attached.iter().any(|a| a == policy_arn))
            .map(|r| Entity::role(&op.account, r)),
    );
    out
}

/// The namespaces the documents allow some action of, sorted.
fn allowed_services(documents: &[String]) -> Vec<String> {
    let parsed: Vec<Value> = documents
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let mut out: Vec<String> = SERVICES
        .iter()
        .map(|(ns, _)| ns.to_string())
        .filter(|ns| parsed.iter().any(|d| extras::grants(d, ns)))
        .collect();
    // Namespaces named outright that the table does not know.
    for d in &parsed {
        for ns in extras::named_namespaces(d) {
            if !out.contains(&ns) {
                out.push(ns);
            }
        }
    }
    out.sort();
    out
}

/// The report of `target`, computed from the records as they are now.
fn build_report(op: &Op<'_, '_>, target: &str) -> Result<Vec<ServiceAccess>, AwsError> {
    let (entities, documents) = subject(op, target)?;
    let mut services: Vec<ServiceAccess> = allowed_services(&documents)
        .into_iter()
        .map(|ns| ServiceAccess {
            name: service_name(&ns),
            namespace: ns,
            entities: Vec::new(),
            actions: Vec::new(),
        })
        .collect();
    for e in &entities {
        for (_, r) in op.txn.scan_prefix(&accessed_prefix(&op.account, &e.arn)) {
            let IamRecord::Accessed(a) = r else { continue };
            let Some(s) = services.iter_mut().find(|s| s.namespace == a.service) else {
                continue;
            };
            if a.action.is_empty() {
                s.entities.push(EntityAccess {
                    arn: e.arn.clone(),
                    name: e.name.clone(),
                    kind: e.kind.to_string(),
                    id: e.id.clone(),
                    path: e.path.clone(),
                    at: a.at,
                    region: a.region.clone(),
                });
            } else {
                match s.actions.iter_mut().find(|x| x.action == a.action) {
                    Some(x) if x.at >= a.at => {}
                    Some(x) => {
                        x.at = a.at;
                        x.entity = e.arn.clone();
                        x.region = a.region.clone();
                    }
                    None => s.actions.push(ActionAccess {
                        action: a.action.clone(),
                        entity: e.arn.clone(),
                        region: a.region.clone(),
                        at: a.at,
                    }),
                }
            }
        }
    }
    for s in &mut services {
        s.actions.sort_by(|a, b| a.action.cmp(&b.action));
    }
    Ok(services)
}

fn new_job_id() -> String {
    let a = random_u64();
    let b = random_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn jobs(op: &Op<'_, '_>) -> Vec<AccessJob> {
    op.txn
        .scan_prefix(&jobs_prefix())
        .filter_map(|(_, r)| match r {
            IamRecord::AccessJob(j) if j.account == op.account => Some((**j).clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn generate_service_last_accessed(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let target = op.s("Arn").to_string();
    // Refused now if the ARN names nothing.
    subject(op, &target)?;
    let mut existing = jobs(op);
    if existing.len() >= MAX_JOBS {
        existing.sort_by_key(|j| j.created);
        if let Some(old) = existing.iter().find(|j| j.completed.is_some()) {
            op.txn.remove(&job_key(&old.id));
        }
    }
    let id = new_job_id();
    let job = AccessJob {
        id: id.clone(),
        account: op.account.clone(),
        target,
        granularity: op.opt("Granularity").unwrap_or("SERVICE_LEVEL").to_string(),
        created: op.now,
        ready_at: op.now + JOB_DELAY_MS,
        completed: None,
        services: Vec::new(),
    };
    op.txn
        .insert(job_key(&id), IamRecord::AccessJob(Box::new(job)));
    Ok(json!({ "JobId": id }))
}

/// Complete `job` now if its time has come (also what the background task does).
fn complete(op: &mut Op<'_, '_>, mut job: AccessJob, now: u64) -> AccessJob {
    if job.completed.is_some() || job.ready_at > now {
        return job;
    }
    // An entity deleted since the job started leaves a report of nothing.
    job.services = build_report(op, &job.target).unwrap_or_default();
    job.completed = Some(now.max(job.ready_at));
    op.txn.insert(
        job_key(&job.id),
        IamRecord::AccessJob(Box::new(job.clone())),
    );
    job
}

/// The jobs of every account whose deadline has passed and that are not complete yet.
pub fn due<'s>(
    records: impl Iterator<Item = (&'s Key, &'s IamRecord)>,
    now: u64,
) -> Vec<AccessJob> {
    records
        .filter_map(|(_, r)| match r {
            IamRecord::AccessJob(j) if j.completed.is_none() && j.ready_at <= now => {
                Some((**j).clone())
            }
            _ => None,
        })
        .collect()
}

/// Complete every job of every account whose deadline has passed; how many were.
pub(crate) fn complete_due(op: &mut Op<'_, '_>, now: u64) -> usize {
    let due = due(op.txn.scan_prefix(&jobs_prefix()), now);
    let n = due.len();
    for job in due {
        op.account = job.account.clone();
        complete(op, job, now);
    }
    n
}

/// Whether a snapshot holds a job that is due (the background task writes only then).
pub fn any_due(snap: &snapstack_engine::Snapshot<IamRecord>, now: u64) -> bool {
    !due(snap.scan_prefix(&jobs_prefix()), now).is_empty()
}

fn job(op: &mut Op<'_, '_>) -> Result<AccessJob, AwsError> {
    let id = op.s("JobId").to_string();
    let job = match op.txn.get(&job_key(&id)) {
        Some(IamRecord::AccessJob(j)) if j.account == op.account => (**j).clone(),
        _ => return Err(no_such(format!("No such job: {id}"))),
    };
    let now = op.now;
    Ok(complete(op, job, now))
}

fn status_fields(job: &AccessJob, out: &mut Map<String, Value>) {
    out.insert(
        "JobStatus".into(),
        json!(if job.completed.is_some() {
            "COMPLETED"
        } else {
            "IN_PROGRESS"
        }),
    );
    out.insert("JobCreationDate".into(), date(job.created));
    if let Some(c) = job.completed {
        out.insert("JobCompletionDate".into(), date(c));
    }
}

pub(crate) fn get_service_last_accessed(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    let job = job(op)?;
    let action_level = job.granularity == "ACTION_LEVEL";
    let items: Vec<Value> = job
        .services
        .iter()
        .map(|s| {
            let mut v = json!({
                "ServiceName": s.name,
                "ServiceNamespace": s.namespace,
                "TotalAuthenticatedEntities": s.entities.len(),
            });
            if let Some(last) = s.entities.iter().max_by_key(|e| e.at) {
                v["LastAuthenticated"] = date(last.at);
                v["LastAuthenticatedEntity"] = json!(last.arn);
                v["LastAuthenticatedRegion"] = json!(last.region);
            }
            if action_level && crate::lastaccess::tracks_actions(&s.namespace) {
                v["TrackedActionsLastAccessed"] = Value::Array(
                    s.actions
                        .iter()
                        .map(|a| {
                            json!({
                                "ActionName": a.action.split_once(':').map_or(a.action.as_str(), |(_, n)| n),
                                "LastAccessedEntity": a.entity,
                                "LastAccessedTime": date(a.at),
                                "LastAccessedRegion": a.region,
                            })
                        })
                        .collect(),
                );
            }
            v
        })
        .collect();
    let mut out = match page(op.input, "ServicesLastAccessed", items) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    status_fields(&job, &mut out);
    out.insert("JobType".into(), json!(job.granularity));
    Ok(Value::Object(out))
}

pub(crate) fn get_service_last_accessed_with_entities(
    op: &mut Op<'_, '_>,
) -> Result<Value, AwsError> {
    let job = job(op)?;
    let ns = op.s("ServiceNamespace").to_string();
    let mut entities: Vec<&EntityAccess> = job
        .services
        .iter()
        .filter(|s| s.namespace == ns)
        .flat_map(|s| s.entities.iter())
        .collect();
    entities.sort_by(|a, b| b.at.cmp(&a.at).then(a.arn.cmp(&b.arn)));
    let items: Vec<Value> = entities
        .iter()
        .map(|e| {
            json!({
                "EntityInfo": {
                    "Arn": e.arn, "Name": e.name, "Type": e.kind, "Id": e.id, "Path": e.path,
                },
                "LastAuthenticated": date(e.at),
            })
        })
        .collect();
    let mut out = match page(op.input, "EntityDetailsList", items) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    status_fields(&job, &mut out);
    Ok(Value::Object(out))
}

/// Organizations access reports cover an organization's entities; this account is in none.
pub(crate) fn generate_organizations_access_report(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    extras::no_organization(op)
}

/// No organizations report was ever generated, so no job id names one.
pub(crate) fn get_organizations_access_report(op: &mut Op<'_, '_>) -> Result<Value, AwsError> {
    Err(no_such(format!("No such job: {}", op.s("JobId"))))
}

/// Whether a namespace's actions are tracked one by one (what `ACTION_LEVEL` reports list).
pub fn tracks_actions(namespace: &str) -> bool {
    matches!(namespace, "s3" | "iam" | "lambda" | "ec2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Iam;
    use snapstack_service::RequestContext;

    fn call(iam: &Iam, op: &str, input: Value, now: u64) -> Result<Value, AwsError> {
        let ctx = RequestContext::from_scope(None);
        iam.handle_at(&ctx, op, &input, now).map(|a| a.output)
    }

    #[test]
    fn reports_complete_after_their_delay_with_recorded_accesses() {
        let iam = Iam::new();
        let t0 = 1_700_000_000_000;
        call(&iam, "CreateUser", json!({"UserName": "alice"}), t0).unwrap();
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","sqs:*"],"Resource":"*"}]}"#;
        call(
            &iam,
            "PutUserPolicy",
            json!({"UserName": "alice", "PolicyName": "p", "PolicyDocument": doc}),
            t0,
        )
        .unwrap();
        let alice = "arn:aws:iam::000000000000:user/alice";
        iam.record_access(&json!({
            "Account": "000000000000", "Entity": alice, "Service": "s3",
            "Action": "s3:GetObject", "Region": "eu-west-1", "Time": t0 + 5_000,
        }));
        let job = call(
            &iam,
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": alice, "Granularity": "ACTION_LEVEL"}),
            t0 + 10_000,
        )
        .unwrap();
        let id = job["JobId"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 36);
        let early = call(
            &iam,
            "GetServiceLastAccessedDetails",
            json!({"JobId": id}),
            t0 + 10_100,
        )
        .unwrap();
        assert_eq!(early["JobStatus"], "IN_PROGRESS");
        assert_eq!(early["ServicesLastAccessed"], json!([]));
        // The background task's pass.
        assert_eq!(iam.complete_jobs(t0 + 11_000), 1);
        assert_eq!(iam.complete_jobs(t0 + 12_000), 0);
        let done = call(
            &iam,
            "GetServiceLastAccessedDetails",
            json!({"JobId": id}),
            t0 + 12_000,
        )
        .unwrap();
        assert_eq!(done["JobStatus"], "COMPLETED");
        assert_eq!(done["JobType"], "ACTION_LEVEL");
        let services = done["ServicesLastAccessed"].as_array().unwrap();
        let names: Vec<&str> = services
            .iter()
            .map(|s| s["ServiceNamespace"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["s3", "sqs"]);
        assert_eq!(services[0]["LastAuthenticatedEntity"], alice);
        assert_eq!(services[0]["LastAuthenticatedRegion"], "eu-west-1");
        assert_eq!(services[0]["TotalAuthenticatedEntities"], 1);
        assert_eq!(
            services[0]["TrackedActionsLastAccessed"][0]["ActionName"],
            "GetObject"
        );
        assert!(services[1].get("LastAuthenticated").is_none());
        let with = call(
            &iam,
            "GetServiceLastAccessedDetailsWithEntities",
            json!({"JobId": id, "ServiceNamespace": "s3"}),
            t0 + 12_000,
        )
        .unwrap();
        assert_eq!(with["EntityDetailsList"][0]["EntityInfo"]["Name"], "alice");
        assert_eq!(with["EntityDetailsList"][0]["EntityInfo"]["Type"], "USER");
        let e = call(
            &iam,
            "GetServiceLastAccessedDetails",
            json!({"JobId": "00000000-0000-4000-8000-000000000000"}),
            t0,
        )
        .unwrap_err();
        assert_eq!(e.code, "NoSuchEntity");
        let e = call(
            &iam,
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": "arn:aws:iam::000000000000:user/nobody"}),
            t0,
        )
        .unwrap_err();
        assert_eq!(e.code, "NoSuchEntity");
        let e = call(
            &iam,
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": "arn:aws:s3:::bucket-name-here"}),
            t0,
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidInput");
    }

    #[test]
    fn older_accesses_do_not_replace_newer_ones() {
        let iam = Iam::new();
        let t0 = 1_700_000_000_000;
        call(&iam, "CreateUser", json!({"UserName": "bob"}), t0).unwrap();
        let bob = "arn:aws:iam::000000000000:user/bob";
        let rec = |at: u64, region: &str| {
            iam.record_access(&json!({
                "Account": "000000000000", "Entity": bob, "Service": "dynamodb",
                "Region": region, "Time": at,
            }))
        };
        rec(t0 + 2, "us-west-2");
        rec(t0 + 1, "us-east-1");
        let snap = iam.store.snapshot();
        match snap.get(&accessed_key("000000000000", bob, "dynamodb", "")) {
            Some(IamRecord::Accessed(a)) => {
                assert_eq!((a.at, a.region.as_str()), (t0 + 2, "us-west-2"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn job_ids_look_like_uuids() {
        let id = new_job_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}

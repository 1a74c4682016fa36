//! The resource(s) a request acts on, as the ARNs IAM policies name, the service-specific
//! condition keys a request supplies cheaply (`s3:prefix`, ...), and where the resource's own
//! policy lives (bucket, queue, topic, key, secret, function, a role's trust policy).

use serde_json::{Map, Value};

/// Where a resource-based policy is read from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyLookup {
    S3Bucket(String),
    SqsQueue(String),
    SnsTopic(String),
    KmsKey(String),
    Secret(String),
    LambdaFunction(String),
    /// An IAM role's trust policy (for `sts:AssumeRole`).
    RoleTrust(String),
}

impl PolicyLookup {
    /// Whether the resource policy must grant (directly, or by naming the account) for the
    /// request to be allowed: KMS key policies and role trust policies, as AWS has it.
    pub fn required(&self) -> bool {
        matches!(self, PolicyLookup::KmsKey(_) | PolicyLookup::RoleTrust(_))
    }

    /// The store the policy lives in (its version says when a cached read is stale).
    pub fn store(&self) -> &'static str {
        match self {
            PolicyLookup::S3Bucket(_) => "s3",
            PolicyLookup::SqsQueue(_) => "sqs",
            PolicyLookup::SnsTopic(_) => "sns",
            PolicyLookup::KmsKey(_) => "kms",
            PolicyLookup::Secret(_) => "secretsmanager",
            PolicyLookup::LambdaFunction(_) => "lambda",
            PolicyLookup::RoleTrust(_) => "iam",
        }
    }
}

/// What a request acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Every resource the request touches (`*` when the action names none).
    pub resources: Vec<String>,
    pub policy: Option<PolicyLookup>,
    /// Service-specific condition keys.
    pub context: Vec<(String, String)>,
}

/// The request's input fields by name (JSON body members, query parameters, path labels).
pub struct Input<'a> {
    pub fields: &'a Map<String, Value>,
    pub region: &'a str,
    pub account: &'a str,
}

/// Every input member [`target`] reads from a JSON body or query parameters, sorted (to be
/// read by people; checked): a JSON
/// body's other members are not even parsed (`fields.rs`), so a member read here must be listed
/// (debug builds assert it).
pub const MEMBERS: &[&str] = &[
    "AlarmName",
    "AlarmNames",
    "AliasName",
    "DeliveryStreamName",
    "Entries",
    "EventBusName",
    "FunctionName",
    "GroupName",
    "IndexName",
    "InstanceProfileName",
    "KeyId",
    "Name",
    "Names",
    "Path",
    "PolicyArn",
    "Qualifier",
    "QueueName",
    "QueueUrl",
    "RequestItems",
    "ResourceArn",
    "Role",
    "RoleArn",
    "RoleName",
    "Rule",
    "SecretId",
    "SourceKeyId",
    "StreamARN",
    "StreamArn",
    "StreamName",
    "SubscriptionArn",
    "TableArn",
    "TableName",
    "TagKeys",
    "Tags",
    "TargetArn",
    "TargetKeyId",
    "Targets",
    "TopicArn",
    "UserName",
    "WebIdentityToken",
    "logGroupIdentifier",
    "logGroupName",
    "logStreamName",
    "roleArn",
    "tagKeys",
    "tags",
];

/// S3's members, read from its path labels and query (S3 has no JSON bodies).
const S3_MEMBERS: &[&str] = &[
    "Bucket",
    "Key",
    "delimiter",
    "max-keys",
    "prefix",
    "versionId",
];

/// Whether [`target`] (or the enforcer) reads the JSON or query member `name`.
pub fn reads(name: &str) -> bool {
    // Asked of every member of every JSON body: one hash and one comparison.
    static SET: std::sync::LazyLock<rustc_hash::FxHashSet<&'static str>> =
        std::sync::LazyLock::new(|| MEMBERS.iter().copied().collect());
    SET.contains(name)
}

impl Input<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        debug_assert!(
            reads(name) || S3_MEMBERS.contains(&name),
            "{name} is read but not listed in MEMBERS"
        );
        self.fields.get(name)
    }

    fn s(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn list(&self, name: &str) -> Vec<&str> {
        match self.get(name) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        self.arn_of(service, &[resource])
    }

    /// [`Input::arn`] of a resource given in parts, written into one buffer.
    fn arn_of(&self, service: &str, resource: &[&str]) -> String {
        let mut arn = String::with_capacity(
            16 + service.len()
                + self.region.len()
                + self.account.len()
                + resource.iter().map(|r| r.len()).sum::<usize>(),
        );
        for part in [
            "arn:aws:",
            service,
            ":",
            self.region,
            ":",
            self.account,
            ":",
        ]
        .into_iter()
        .chain(resource.iter().copied())
        {
            arn.push_str(part);
        }
        arn
    }
}

fn one(resource: String) -> Target {
    Target {
        resources: vec![resource],
        ..Target::default()
    }
}

fn any() -> Target {
    one("*".to_string())
}

fn with(mut t: Target, policy: PolicyLookup) -> Target {
    t.policy = Some(policy);
    t
}

/// The target of `operation` of `service`.
pub fn target(service: &str, operation: &str, input: &Input<'_>) -> Target {
    match service {
        "s3" => s3(operation, input),
        "sqs" => sqs(operation, input),
        "sns" => sns(operation, input),
        "kms" => kms(operation, input),
        "secretsmanager" => secrets(operation, input),
        "lambda" => lambda(input),
        "dynamodb" => dynamodb(input),
        "ssm" => ssm(input),
        "logs" => logs(input),
        "events" => events(input),
        "kinesis" => kinesis(input),
        "firehose" => match input.s("DeliveryStreamName") {
            Some(n) => one(input.arn("firehose", &format!("deliverystream/{n}"))),
            None => any(),
        },
        "cloudwatch" => {
            let names = input.list("AlarmNames");
            let names = if names.is_empty() {
                input.list("AlarmName")
            } else {
                names
            };
            if names.is_empty() {
                any()
            } else {
                Target {
                    resources: names
                        .iter()
                        .map(|n| input.arn("cloudwatch", &format!("alarm:{n}")))
                        .collect(),
                    ..Target::default()
                }
            }
        }
        "iam" => iam(input),
        "sts" => sts(operation, input),
        _ => any(),
    }
}

fn s3(operation: &str, input: &Input<'_>) -> Target {
    let Some(bucket) = input.s("Bucket") else {
        return any();
    };
    let key = input.s("Key");
    let mut resource = String::with_capacity(14 + bucket.len() + key.map_or(0, |k| 1 + k.len()));
    resource.push_str("arn:aws:s3:::");
    resource.push_str(bucket);
    if let Some(key) = key {
        resource.push('/');
        resource.push_str(key);
    }
    let mut t = one(resource);
    for (member, key) in [
        ("prefix", "s3:prefix"),
        ("delimiter", "s3:delimiter"),
        ("max-keys", "s3:max-keys"),
    ] {
        if let Some(v) = input.get(member).and_then(Value::as_str) {
            t.context.push((key.to_string(), v.to_string()));
        }
    }
    if operation.starts_with("ListObjects") && !t.context.iter().any(|(k, _)| k == "s3:prefix") {
        t.context.push(("s3:prefix".into(), String::new()));
    }
    if operation == "CreateBucket" {
        return t;
    }
    with(t, PolicyLookup::S3Bucket(bucket.to_string()))
}

/// A queue URL's account and name (`http://host/<account>/<name>`).
fn queue_of(url: &str) -> Option<(&str, &str)> {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut parts = path.rsplit('/');
    let name = parts.next()?;
    let account = parts.next()?;
    (!name.is_empty() && !account.is_empty()).then_some((account, name))
}

fn sqs(operation: &str, input: &Input<'_>) -> Target {
    if let Some(url) = input.s("QueueUrl")
        && let Some((account, name)) = queue_of(url)
    {
        let t = one(format!("arn:aws:sqs:{}:{account}:{name}", input.region));
        return with(t, PolicyLookup::SqsQueue(url.to_string()));
    }
    match (operation, input.s("QueueName")) {
        ("CreateQueue" | "GetQueueUrl", Some(n)) => one(input.arn("sqs", n)),
        _ => any(),
    }
}

fn sns(operation: &str, input: &Input<'_>) -> Target {
    let topic = input
        .s("TopicArn")
        .or_else(|| input.s("TargetArn"))
        .or_else(|| input.s("ResourceArn"));
    if let Some(arn) = topic {
        let t = one(arn.to_string());
        return if arn.split(':').count() == 6 {
            with(t, PolicyLookup::SnsTopic(arn.to_string()))
        } else {
            t
        };
    }
    if let Some(sub) = input.s("SubscriptionArn") {
        return one(sub.to_string());
    }
    match (operation, input.s("Name")) {
        ("CreateTopic", Some(n)) => one(input.arn("sns", n)),
        _ => any(),
    }
}

fn kms(operation: &str, input: &Input<'_>) -> Target {
    let key = input
        .s("KeyId")
        .or_else(|| input.s("SourceKeyId"))
        .or_else(|| input.s("TargetKeyId"));
    match key {
        Some(k) => with(
            one(if k.starts_with("arn:") {
                k.to_string()
            } else {
                input.arn("kms", &format!("key/{k}"))
            }),
            PolicyLookup::KmsKey(k.to_string()),
        ),
        None if operation == "CreateAlias" || operation == "DeleteAlias" => {
            match input.s("AliasName") {
                Some(a) => one(input.arn("kms", a)),
                None => any(),
            }
        }
        None => any(),
    }
}

fn secrets(operation: &str, input: &Input<'_>) -> Target {
    if let Some(id) = input.s("SecretId") {
        let arn = if id.starts_with("arn:") {
            id.to_string()
        } else {
            input.arn("secretsmanager", &format!("secret:{id}"))
        };
        return with(one(arn), PolicyLookup::Secret(id.to_string()));
    }
    match (operation, input.s("Name")) {
        ("CreateSecret", Some(n)) => one(input.arn("secretsmanager", &format!("secret:{n}"))),
        _ => any(),
    }
}

fn lambda(input: &Input<'_>) -> Target {
    let Some(name) = input.s("FunctionName") else {
        return any();
    };
    let arn = if name.starts_with("arn:") {
        name.to_string()
    } else {
        // `name`, `name:qualifier` or `account:function:name`.
        let base = name.rsplit(":function:").next().unwrap_or(name);
        input.arn("lambda", &format!("function:{base}"))
    };
    let arn = match input.s("Qualifier") {
        Some(q) if arn.split(':').count() == 7 => format!("{arn}:{q}"),
        _ => arn,
    };
    with(one(arn), PolicyLookup::LambdaFunction(name.to_string()))
}

fn table_arn(input: &Input<'_>, name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        input.arn_of("dynamodb", &["table/", name])
    }
}

fn dynamodb(input: &Input<'_>) -> Target {
    if let Some(t) = input.s("TableName").or_else(|| input.s("TableArn")) {
        let mut arn = table_arn(input, t);
        if let Some(index) = input.s("IndexName") {
            arn = format!("{arn}/index/{index}");
        }
        return one(arn);
    }
    if let Some(arn) = input.s("ResourceArn").or_else(|| input.s("StreamArn")) {
        return one(arn.to_string());
    }
    if let Some(Value::Object(items)) = input.get("RequestItems") {
        return Target {
            resources: items.keys().map(|t| table_arn(input, t)).collect(),
            ..Target::default()
        };
    }
    any()
}

fn ssm(input: &Input<'_>) -> Target {
    let param = |n: &str| {
        let n = n.strip_prefix('/').unwrap_or(n);
        input.arn("ssm", &format!("parameter/{n}"))
    };
    let names = input.list("Names");
    if !names.is_empty() {
        return Target {
            resources: names.into_iter().map(param).collect(),
            ..Target::default()
        };
    }
    match input.s("Name").or_else(|| input.s("Path")) {
        Some(n) if !n.starts_with("arn:") => one(param(n)),
        Some(n) => one(n.to_string()),
        None => any(),
    }
}

fn logs(input: &Input<'_>) -> Target {
    let Some(group) = input
        .s("logGroupName")
        .or_else(|| input.s("logGroupIdentifier"))
    else {
        return any();
    };
    if group.starts_with("arn:") {
        return one(group.to_string());
    }
    match input.s("logStreamName") {
        Some(stream) => one(input.arn("logs", &format!("log-group:{group}:log-stream:{stream}"))),
        None => one(input.arn("logs", &format!("log-group:{group}:*"))),
    }
}

fn events(input: &Input<'_>) -> Target {
    let bus = input.s("EventBusName").unwrap_or("default");
    let bus_name = bus.rsplit('/').next().unwrap_or(bus);
    if let Some(rule) = input.s("Rule").or_else(|| input.s("Name")) {
        let rule = if bus_name == "default" {
            format!("rule/{rule}")
        } else {
            format!("rule/{bus_name}/{rule}")
        };
        return one(input.arn("events", &rule));
    }
    if let Some(Value::Array(entries)) = input.get("Entries") {
        let mut buses: Vec<String> = entries
            .iter()
            .map(|e| {
                let b = e
                    .get("EventBusName")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if b.starts_with("arn:") {
                    b.to_string()
                } else {
                    input.arn("events", &format!("event-bus/{b}"))
                }
            })
            .collect();
        buses.sort();
        buses.dedup();
        if !buses.is_empty() {
            return Target {
                resources: buses,
                ..Target::default()
            };
        }
    }
    if bus.starts_with("arn:") {
        return one(bus.to_string());
    }
    one(input.arn("events", &format!("event-bus/{bus}")))
}

fn kinesis(input: &Input<'_>) -> Target {
    if let Some(arn) = input.s("StreamARN") {
        return one(arn.to_string());
    }
    match input.s("StreamName") {
        Some(n) => one(input.arn("kinesis", &format!("stream/{n}"))),
        None => any(),
    }
}

fn iam(input: &Input<'_>) -> Target {
    let global = |kind: &str, name: &str| format!("arn:aws:iam::{}:{kind}/{name}", input.account);
    for (member, kind) in [
        ("UserName", "user"),
        ("RoleName", "role"),
        ("GroupName", "group"),
        ("InstanceProfileName", "instance-profile"),
    ] {
        if let Some(n) = input.s(member) {
            return one(global(kind, n));
        }
    }
    match input.s("PolicyArn") {
        Some(arn) => one(arn.to_string()),
        None => any(),
    }
}

fn sts(operation: &str, input: &Input<'_>) -> Target {
    match operation {
        "AssumeRole" => match input.s("RoleArn") {
            Some(arn) => with(
                one(arn.to_string()),
                PolicyLookup::RoleTrust(arn.to_string()),
            ),
            None => any(),
        },
        "GetFederationToken" => match input.s("Name") {
            Some(n) => one(format!("arn:aws:sts::{}:federated-user/{n}", input.account)),
            None => any(),
        },
        _ => any(),
    }
}

/// The account an ARN names, if it names one.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty() && arn.starts_with("arn:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_for_the_binary_search() {
        assert!(MEMBERS.windows(2).all(|w| w[0] < w[1]));
        assert!(MEMBERS.iter().all(|m| reads(m)));
        assert!(!reads("Item") && !reads("Key") && !reads(""));
    }

    fn t(service: &str, op: &str, fields: Value) -> Target {
        let fields = fields.as_object().unwrap().clone();
        target(
            service,
            op,
            &Input {
                fields: &fields,
                region: "us-east-1",
                account: "000000000000",
            },
        )
    }

    #[test]
    fn arns_of_common_resources() {
        let s = t("s3", "GetObject", json!({"Bucket": "b", "Key": "a/b.txt"}));
        assert_eq!(s.resources, ["arn:aws:s3:::b/a/b.txt"]);
        assert_eq!(s.policy, Some(PolicyLookup::S3Bucket("b".into())));
        let s = t(
            "s3",
            "ListObjectsV2",
            json!({"Bucket": "b", "prefix": "x/"}),
        );
        assert_eq!(s.context, [("s3:prefix".to_string(), "x/".to_string())]);
        let q = t(
            "sqs",
            "SendMessage",
            json!({"QueueUrl": "http://sqs.us-east-1.localhost.localstack.cloud:4566/111122223333/q1"}),
        );
        assert_eq!(q.resources, ["arn:aws:sqs:us-east-1:111122223333:q1"]);
        assert_eq!(
            t("dynamodb", "GetItem", json!({"TableName": "t"})).resources,
            ["arn:aws:dynamodb:us-east-1:000000000000:table/t"]
        );
        assert_eq!(
            t("ssm", "GetParameter", json!({"Name": "/app/x"})).resources,
            ["arn:aws:ssm:us-east-1:000000000000:parameter/app/x"]
        );
        assert_eq!(
            t("lambda", "Invoke", json!({"FunctionName": "f"})).resources,
            ["arn:aws:lambda:us-east-1:000000000000:function:f"]
        );
        assert_eq!(
            t(
                "logs",
                "PutLogEvents",
                json!({"logGroupName": "g", "logStreamName": "s"})
            )
            .resources,
            ["arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s"]
        );
        assert_eq!(
            t("iam", "GetUser", json!({"UserName": "bob"})).resources,
            ["arn:aws:iam::000000000000:user/bob"]
        );
        let a = t(
            "sts",
            "AssumeRole",
            json!({"RoleArn": "arn:aws:iam::000000000000:role/r"}),
        );
        assert!(a.policy.as_ref().unwrap().required());
        assert_eq!(t("sqs", "ListQueues", json!({})).resources, ["*"]);
        assert_eq!(account_of("arn:aws:s3:::b"), None);
        assert_eq!(account_of("arn:aws:sqs:r:1:q"), Some("1"));
    }
}

//! The services this emulator serves, and how a request finds its service from the models'
//! metadata: `targetPrefix` (JSON protocols), the SigV4 signing name (`signingName`, else
//! `endpointPrefix`), the operations of query-protocol models (and of JSON models marked
//! `awsQueryCompatible`), their `apiVersion`, and the REST protocols. Adding a service is a crate
//! implementing [`Service`] and one line in [`build`].

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use snapstack_engine::Engine;
use snapstack_service::Service;

use crate::config::Config;

/// What constructing a service may need.
pub struct Env<'a> {
    pub config: &'a Config,
    /// The engine whose chunk store holds blobs (the persistent one, or one in memory).
    pub blob_engine: Arc<Engine>,
}

/// Every service, in the order the registry lists them (the first REST service takes REST
/// requests that no signature or host assigns).
pub fn build(env: &Env<'_>) -> Registry {
    let mut r = Registry::only(env.config.services.clone());
    r.add(snapstack_s3::S3::new(env.blob_engine.clone()));
    r.add(snapstack_sqs::Sqs::with_strategy(
        env.config.sqs_endpoint_strategy,
    ));
    r.add(snapstack_ssm::Ssm::new());
    r.add(snapstack_sts::Sts::new());
    let dynamodb = snapstack_dynamodb::DynamoDb::new();
    // DynamoDB Streams reads the DynamoDB store (stream records are written with the items).
    let dynamodb_streams = dynamodb.streams_service();
    r.add(dynamodb);
    r.add(dynamodb_streams);
    r.add(snapstack_secretsmanager::SecretsManager::new());
    r.add(snapstack_kms::Kms::new());
    r.add(snapstack_sns::Sns::new());
    r.add(snapstack_logs::Logs::new());
    r.add(snapstack_cloudwatch::CloudWatch::new());
    r.add(snapstack_iam::Iam::new());
    r.add(snapstack_events::Events::new());
    r.add(snapstack_kinesis::Kinesis::new(env.blob_engine.clone()));
    r.add(snapstack_lambda::Lambda::new(
        env.blob_engine.clone(),
        env.config.lambda_dir(),
    ));
    r.add(snapstack_firehose::Firehose::new(env.blob_engine.clone()));
    r
}

/// The registered services and the indexes that route to them.
#[derive(Default)]
pub struct Registry {
    /// `SERVICES`: the names allowed to start (`None`: all).
    only: Option<Vec<String>>,
    /// Services this build has that `SERVICES` left out.
    disabled: Vec<&'static str>,
    services: Vec<Arc<dyn Service>>,
    typed: Vec<Arc<dyn Any + Send + Sync>>,
    by_target: HashMap<String, usize>,
    by_signing_name: HashMap<String, usize>,
    by_query_action: HashMap<String, usize>,
    by_api_version: HashMap<String, usize>,
    first_rest: Option<usize>,
    /// The services with addresses of their own (`Service::has_own_addresses`).
    addressed: Vec<Arc<dyn Service>>,
}

impl Registry {
    /// A registry that starts only the services named (`SERVICES`), or all of them.
    pub fn only(names: Option<Vec<String>>) -> Registry {
        Registry {
            only: names,
            ..Registry::default()
        }
    }

    /// Register a service under what its model says identifies it on the wire (unless
    /// `SERVICES` leaves it out: then it is only listed as disabled).
    pub fn add<S: Service>(&mut self, service: S) {
        if let Some(only) = &self.only
            && !only.iter().any(|n| n == service.name())
        {
            self.disabled.push(service.name());
            return;
        }
        let service = Arc::new(service);
        let i = self.services.len();
        let m = service.model();
        let meta = &m.metadata;
        assert!(
            !self.services.iter().any(|s| s.name() == service.name()),
            "service {} registered twice",
            service.name()
        );
        if service.has_own_addresses() {
            self.addressed.push(service.clone());
        }
        if let Some(prefix) = &meta.target_prefix {
            self.by_target.entry(prefix.clone()).or_insert(i);
        }
        let signing = meta
            .signing_name
            .as_deref()
            .unwrap_or(&meta.endpoint_prefix);
        for name in std::iter::once(signing).chain(service.extra_signing_names().iter().copied()) {
            self.by_signing_name.entry(name.to_string()).or_insert(i);
        }
        if speaks_query(m) {
            for op in m.operations.keys() {
                self.by_query_action.entry(op.clone()).or_insert(i);
            }
            self.by_api_version
                .entry(meta.api_version.clone())
                .or_insert(i);
        }
        if is_rest(m) && self.first_rest.is_none() {
            self.first_rest = Some(i);
        }
        self.typed.push(service.clone());
        self.services.push(service);
    }

    /// Services this build has that `SERVICES` left out.
    pub fn disabled(&self) -> &[&'static str] {
        &self.disabled
    }

    /// Every service, in registration order.
    pub fn all(&self) -> &[Arc<dyn Service>] {
        &self.services
    }

    /// The services that may claim a request by its address alone.
    pub fn addressed(&self) -> &[Arc<dyn Service>] {
        &self.addressed
    }

    /// The names of every service.
    pub fn names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name()).collect()
    }

    /// A service by its concrete type (tests, benchmarks, fuzzing).
    pub fn get<T: Service>(&self) -> Option<Arc<T>> {
        self.typed
            .iter()
            .find_map(|s| s.clone().downcast::<T>().ok())
    }

    /// A service by its name (`sqs`).
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services.iter().find(|s| s.name() == name)
    }

    /// The service of a JSON protocol's `X-Amz-Target` prefix.
    pub fn by_target(&self, prefix: &str) -> Option<&Arc<dyn Service>> {
        self.by_target.get(prefix).map(|&i| &self.services[i])
    }

    /// The service a SigV4 scope's service name addresses.
    pub fn by_signing_name(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.by_signing_name.get(name).map(|&i| &self.services[i])
    }

    /// The query-speaking service with this action.
    pub fn by_query_action(&self, action: &str) -> Option<&Arc<dyn Service>> {
        self.by_query_action.get(action).map(|&i| &self.services[i])
    }

    /// The query-speaking service of this API version (`Version=2011-06-15`).
    pub fn by_api_version(&self, version: &str) -> Option<&Arc<dyn Service>> {
        self.by_api_version.get(version).map(|&i| &self.services[i])
    }

    /// The REST service that takes requests no signature or target assigns.
    pub fn default_rest(&self) -> Option<&Arc<dyn Service>> {
        self.first_rest.map(|i| &self.services[i])
    }

    /// The service that claims a path of a request naming no service (SQS queue URLs).
    pub fn claiming_path(&self, path: &str) -> Option<&Arc<dyn Service>> {
        self.services.iter().find(|s| s.claims_path(path))
    }

    /// The REST service that claims a path of an unsigned request (Lambda's `Code.Location`).
    pub fn rest_claiming_path(&self, path: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|s| service_is_rest(s.as_ref()) && s.claims_path(path))
    }
}

/// Whether a model is spoken in the query protocol (query services, and JSON services that
/// query clients still call: `awsQueryCompatible`).
pub fn speaks_query(m: &snapstack_protocol::model::ServiceModel) -> bool {
    m.metadata.protocol == "query"
        || m.metadata.protocols.iter().any(|p| p == "query")
        || m.metadata.aws_query_compatible.is_some()
}

/// Whether a model is spoken in a REST protocol.
pub fn is_rest(m: &snapstack_protocol::model::ServiceModel) -> bool {
    matches!(m.metadata.protocol.as_str(), "rest-xml" | "rest-json")
}

/// Whether a service speaks a REST protocol.
pub fn service_is_rest(s: &dyn Service) -> bool {
    is_rest(s.model())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_from_model_metadata() {
        let engine = Arc::new(Engine::in_memory().unwrap());
        let config = Config::resolve(&crate::config::Overrides::default(), |_| None).unwrap();
        let r = build(&Env {
            config: &config,
            blob_engine: engine,
        });
        assert_eq!(
            r.names(),
            [
                "s3",
                "sqs",
                "ssm",
                "sts",
                "dynamodb",
                "dynamodbstreams",
                "secretsmanager",
                "kms",
                "sns",
                "logs",
                "cloudwatch",
                "iam",
                "events",
                "kinesis",
                "lambda",
                "firehose"
            ]
        );
        assert_eq!(r.by_signing_name("lambda").unwrap().name(), "lambda");
        assert_eq!(
            r.rest_claiming_path("/awslambda-us-east-1-tasks/snapshots/000000000000/f-1-2-3-4-5")
                .unwrap()
                .name(),
            "lambda"
        );
        assert_eq!(r.by_target("AmazonSSM").unwrap().name(), "ssm");
        assert_eq!(r.by_target("DynamoDB_20120810").unwrap().name(), "dynamodb");
        assert_eq!(
            r.by_target("DynamoDBStreams_20120810").unwrap().name(),
            "dynamodbstreams"
        );
        assert_eq!(r.by_target("AmazonSQS").unwrap().name(), "sqs");
        assert_eq!(r.by_target("TrentService").unwrap().name(), "kms");
        assert_eq!(r.by_signing_name("s3express").unwrap().name(), "s3");
        assert_eq!(r.by_signing_name("sts").unwrap().name(), "sts");
        assert_eq!(r.by_query_action("SendMessage").unwrap().name(), "sqs");
        assert_eq!(r.by_query_action("AssumeRole").unwrap().name(), "sts");
        assert!(r.by_query_action("PutParameter").is_none());
        assert_eq!(r.by_api_version("2011-06-15").unwrap().name(), "sts");
        assert_eq!(r.by_signing_name("iam").unwrap().name(), "iam");
        assert_eq!(r.by_query_action("CreateRole").unwrap().name(), "iam");
        assert_eq!(r.default_rest().unwrap().name(), "s3");
        assert!(r.get::<snapstack_ssm::Ssm>().is_some());
        assert!(r.disabled().is_empty());
        // Only Lambda (function URLs) is asked whether it claims a request by its address.
        let addressed: Vec<_> = r.addressed().iter().map(|s| s.name()).collect();
        assert_eq!(addressed, ["lambda"]);
        for s in r.all() {
            if s.name() != "lambda" {
                assert!(!s.claims_address(Some("x.lambda-url.us-east-1.localhost"), "/"));
            }
        }
    }

    #[test]
    fn services_limits_what_starts() {
        let engine = Arc::new(Engine::in_memory().unwrap());
        let config = Config::resolve(&crate::config::Overrides::default(), |k| {
            (k == "SERVICES").then(|| "sqs,s3".to_string())
        })
        .unwrap();
        let r = build(&Env {
            config: &config,
            blob_engine: engine,
        });
        assert_eq!(r.names(), ["s3", "sqs"]);
        assert!(r.disabled().contains(&"ssm") && r.disabled().contains(&"dynamodb"));
        assert!(r.by_target("AmazonSSM").is_none());
    }
}

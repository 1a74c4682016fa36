//! Connections (authorization stored; secrets never answered), API destinations and global
//! endpoints, as records.

use serde_json::{Map, Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::model::{self, ApiDestination, Connection, Endpoint, EventsRecord};
use crate::{Answer, Events, Input, exists, new_id, not_found, str_of, ts, validation};

fn connection_missing(name: &str) -> AwsError {
    not_found(format!("Connection '{name}' does not exist."))
}

fn api_destination_missing(name: &str) -> AwsError {
    not_found(format!("An api-destination '{name}' does not exist."))
}

fn endpoint_missing(name: &str) -> AwsError {
    not_found(format!("Endpoint '{name}' does not exist."))
}

/// The member of AuthParameters an authorization type needs.
fn auth_member(kind: &str) -> Option<&'static str> {
    match kind {
        "BASIC" => Some("BasicAuthParameters"),
        "API_KEY" => Some("ApiKeyAuthParameters"),
        "OAUTH_CLIENT_CREDENTIALS" => Some("OAuthParameters"),
        _ => None,
    }
}

fn check_auth(kind: &str, params: &Value) -> Result<(), AwsError> {
    let member = auth_member(kind)
        .ok_or_else(|| validation(format!("Invalid AuthorizationType {kind}.")))?;
    if params.get(member).is_none() {
        return Err(validation(format!(
            "{member} must be specified for AuthorizationType {kind}."
        )));
    }
    Ok(())
}

/// AuthParameters as answered: secrets (passwords, key values, client secrets) left out.
fn public_auth(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    if let Some(b) = v
        .get_mut("BasicAuthParameters")
        .and_then(Value::as_object_mut)
    {
        b.remove("Password");
    }
    if let Some(k) = v
        .get_mut("ApiKeyAuthParameters")
        .and_then(Value::as_object_mut)
    {
        k.remove("ApiKeyValue");
    }
    if let Some(c) = v
        .get_mut("OAuthParameters")
        .and_then(|o| o.get_mut("ClientParameters"))
        .and_then(Value::as_object_mut)
    {
        c.remove("ClientSecret");
    }
    // Header, query and body parameters marked secret keep their keys only.
    for path in ["InvocationHttpParameters", "OAuthParameters"] {
        let hp = if path == "OAuthParameters" {
            v.get_mut(path)
                .and_then(|o| o.get_mut("OAuthHttpParameters"))
        } else {
            v.get_mut(path)
        };
        if let Some(hp) = hp.and_then(Value::as_object_mut) {
            for list in [
                "HeaderParameters",
                "QueryStringParameters",
                "BodyParameters",
            ] {
                if let Some(items) = hp.get_mut(list).and_then(Value::as_array_mut) {
                    for it in items {
                        if it.get("IsValueSecret").and_then(Value::as_bool) == Some(true)
                            && let Some(o) = it.as_object_mut()
                        {
                            o.remove("Value");
                        }
                    }
                }
            }
        }
    }
    v
}

/// Merge `new` into `old` object-wise (UpdateConnection's AuthParameters).
fn merge(old: &mut Value, new: &Value) {
    match (old.as_object_mut(), new.as_object()) {
        (Some(o), Some(n)) => {
            for (k, v) in n {
                match o.get_mut(k) {
                    Some(ov) if ov.is_object() && v.is_object() => merge(ov, v),
                    _ => {
                        o.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *old = new.clone(),
    }
}

fn connection_json(c: &Connection, full: bool) -> Value {
    let mut v = json!({
        "ConnectionArn": c.arn, "Name": c.name, "ConnectionState": c.state,
        "AuthorizationType": c.authorization_type, "CreationTime": ts(c.created_ms),
        "LastModifiedTime": ts(c.modified_ms), "LastAuthorizedTime": ts(c.last_authorized_ms),
    });
    if full {
        v["SecretArn"] = json!(c.secret_arn);
        v["AuthParameters"] = public_auth(&c.auth_parameters);
        if let Some(d) = &c.description {
            v["Description"] = json!(d);
        }
        if let Some(k) = &c.kms_key {
            v["KmsKeyIdentifier"] = json!(k);
        }
        if let Some(ic) = c
            .connectivity
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
        {
            v["InvocationConnectivityParameters"] = ic;
        }
    }
    v
}

fn api_destination_json(d: &ApiDestination, full: bool) -> Value {
    let mut v = json!({
        "ApiDestinationArn": d.arn, "Name": d.name, "ApiDestinationState": d.state,
        "ConnectionArn": d.connection_arn, "InvocationEndpoint": d.endpoint, "HttpMethod": d.method,
        "CreationTime": ts(d.created_ms), "LastModifiedTime": ts(d.modified_ms),
    });
    if let Some(r) = d.rate_limit {
        v["InvocationRateLimitPerSecond"] = json!(r);
    }
    if full && let Some(x) = &d.description {
        v["Description"] = json!(x);
    }
    v
}

fn endpoint_json(e: &Endpoint) -> Value {
    let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
    let mut v = json!({
        "Name": e.name, "Arn": e.arn, "EndpointId": e.id,
        "EndpointUrl": format!("https://{}.endpoint.events.amazonaws.com", e.id),
        "RoutingConfig": parse(&e.routing), "EventBuses": parse(&e.event_buses),
        "State": e.state, "CreationTime": ts(e.created_ms), "LastModifiedTime": ts(e.modified_ms),
    });
    if let Some(d) = &e.description {
        v["Description"] = json!(d);
    }
    if let Some(r) = &e.replication {
        v["ReplicationConfig"] = parse(r);
    }
    if let Some(r) = &e.role_arn {
        v["RoleArn"] = json!(r);
    }
    v
}

fn short_id() -> String {
    new_id().replace('-', "")[..10].to_string()
}

impl Events {
    pub(crate) fn create_connection(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let kind = str_of(input, "AuthorizationType")
            .unwrap_or_default()
            .to_string();
        let params = input
            .get("AuthParameters")
            .cloned()
            .unwrap_or_else(|| json!({}));
        check_auth(&kind, &params)?;
        let uuid = new_id();
        let c = Connection {
            name: name.clone(),
            arn: format!(
                "arn:aws:events:{}:{}:connection/{name}/{uuid}",
                p.region, p.account
            ),
            description: str_of(input, "Description").map(str::to_string),
            authorization_type: kind,
            auth_parameters: params.to_string(),
            state: "AUTHORIZED".into(),
            secret_arn: format!(
                "arn:aws:secretsmanager:{}:{}:secret:events!connection/{name}/{uuid}-{}",
                p.region,
                p.account,
                &short_id()[..6]
            ),
            created_ms: now,
            modified_ms: now,
            last_authorized_ms: now,
            connectivity: input
                .get("InvocationConnectivityParameters")
                .map(Value::to_string),
            kms_key: str_of(input, "KmsKeyIdentifier").map(str::to_string),
        };
        let key = model::connection_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(exists(format!("Connection {name} already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::Connection(Box::new(c.clone())));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(
            json!({"ConnectionArn": c.arn, "ConnectionState": c.state, "CreationTime": ts(now), "LastModifiedTime": ts(now)}),
            v,
        ))
    }

    fn edit_connection(
        &self,
        p: &Partition,
        name: &str,
        edit: impl FnOnce(&mut Connection) -> Result<(), AwsError>,
    ) -> Result<(Connection, u64), AwsError> {
        let key = model::connection_key(p, name);
        let (r, v) = self.store.write(|txn| {
            let mut c = match txn.get(&key) {
                Some(EventsRecord::Connection(c)) => (**c).clone(),
                _ => return Err(connection_missing(name)),
            };
            edit(&mut c)?;
            txn.insert(key.clone(), EventsRecord::Connection(Box::new(c.clone())));
            Ok(c)
        });
        r.map(|c| (c, v))
    }

    pub(crate) fn update_connection(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let (c, v) = self.edit_connection(p, &name, |c| {
            if let Some(d) = str_of(input, "Description") {
                c.description = Some(d.to_string());
            }
            let mut params: Value =
                serde_json::from_str(&c.auth_parameters).unwrap_or_else(|_| json!({}));
            if let Some(k) = str_of(input, "AuthorizationType")
                && k != c.authorization_type
            {
                c.authorization_type = k.to_string();
                params = json!({});
            }
            if let Some(n) = input.get("AuthParameters") {
                merge(&mut params, n);
            }
            check_auth(&c.authorization_type, &params)?;
            c.auth_parameters = params.to_string();
            if let Some(ic) = input.get("InvocationConnectivityParameters") {
                c.connectivity = Some(ic.to_string());
            }
            if let Some(k) = str_of(input, "KmsKeyIdentifier") {
                c.kms_key = (!k.is_empty()).then(|| k.to_string());
            }
            c.state = "AUTHORIZED".into();
            c.modified_ms = now;
            c.last_authorized_ms = now;
            Ok(())
        })?;
        Ok(Answer::wrote(
            json!({"ConnectionArn": c.arn, "ConnectionState": c.state, "CreationTime": ts(c.created_ms),
                   "LastModifiedTime": ts(c.modified_ms), "LastAuthorizedTime": ts(c.last_authorized_ms)}),
            v,
        ))
    }

    pub(crate) fn deauthorize_connection(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let (c, v) = self.edit_connection(p, &name, |c| {
            c.state = "DEAUTHORIZED".into();
            c.modified_ms = now;
            Ok(())
        })?;
        Ok(Answer::wrote(
            json!({"ConnectionArn": c.arn, "ConnectionState": "DEAUTHORIZING", "CreationTime": ts(c.created_ms),
                   "LastModifiedTime": ts(c.modified_ms), "LastAuthorizedTime": ts(c.last_authorized_ms)}),
            v,
        ))
    }

    pub(crate) fn describe_connection(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default();
        match self.store.snapshot().get(&model::connection_key(p, name)) {
            Some(EventsRecord::Connection(c)) => Ok(connection_json(c, true)),
            _ => Err(connection_missing(name)),
        }
    }

    pub(crate) fn list_connections(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let state = str_of(input, "ConnectionState");
        let items = self
            .store
            .snapshot()
            .scan_prefix(&model::connections_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::Connection(c)
                    if c.name.starts_with(prefix) && state.is_none_or(|s| s == c.state) =>
                {
                    Some(connection_json(c, false))
                }
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "Connections")
    }

    pub(crate) fn delete_connection(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let key = model::connection_key(p, &name);
        let (r, v) = self.store.write(|txn| match txn.remove(&key) {
            Some(rec) => match &*rec {
                EventsRecord::Connection(c) => Ok((**c).clone()),
                _ => Err(connection_missing(&name)),
            },
            None => Err(connection_missing(&name)),
        });
        let c = r?;
        Ok(Answer::wrote(
            json!({"ConnectionArn": c.arn, "ConnectionState": "DELETING", "CreationTime": ts(c.created_ms),
                   "LastModifiedTime": ts(now), "LastAuthorizedTime": ts(c.last_authorized_ms)}),
            v,
        ))
    }

    pub(crate) fn create_api_destination(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let conn = str_of(input, "ConnectionArn")
            .unwrap_or_default()
            .to_string();
        let endpoint = str_of(input, "InvocationEndpoint")
            .unwrap_or_default()
            .to_string();
        if !endpoint.starts_with("https://") {
            return Err(validation(format!(
                "Parameter InvocationEndpoint is not valid. Reason: {endpoint} is not a valid HTTPS endpoint."
            )));
        }
        let d = ApiDestination {
            name: name.clone(),
            arn: format!(
                "arn:aws:events:{}:{}:api-destination/{name}/{}",
                p.region,
                p.account,
                new_id()
            ),
            description: str_of(input, "Description").map(str::to_string),
            connection_arn: conn.clone(),
            endpoint,
            method: str_of(input, "HttpMethod").unwrap_or("POST").to_string(),
            rate_limit: input
                .get("InvocationRateLimitPerSecond")
                .and_then(Value::as_u64),
            state: "ACTIVE".into(),
            created_ms: now,
            modified_ms: now,
        };
        let key = model::apidest_key(p, &name);
        let conn_name = connection_name(&conn);
        let (r, v) = self.store.write(|txn| {
            if !matches!(txn.get(&model::connection_key(p, &conn_name)), Some(EventsRecord::Connection(c)) if c.arn == conn) {
                return Err(connection_missing(&conn_name));
            }
            if txn.contains(&key) {
                return Err(exists(format!("An api-destination '{name}' already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::ApiDestination(Box::new(d.clone())));
            Ok(())
        });
        r?;
        Ok(Answer::wrote(
            json!({"ApiDestinationArn": d.arn, "ApiDestinationState": d.state, "CreationTime": ts(now), "LastModifiedTime": ts(now)}),
            v,
        ))
    }

    pub(crate) fn update_api_destination(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let key = model::apidest_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut d = match txn.get(&key) {
                Some(EventsRecord::ApiDestination(d)) => (**d).clone(),
                _ => return Err(api_destination_missing(&name)),
            };
            if let Some(c) = str_of(input, "ConnectionArn") {
                let cn = connection_name(c);
                if !matches!(txn.get(&model::connection_key(p, &cn)), Some(EventsRecord::Connection(x)) if x.arn == c) {
                    return Err(connection_missing(&cn));
                }
                d.connection_arn = c.to_string();
            }
            if let Some(x) = str_of(input, "Description") {
                d.description = Some(x.to_string());
            }
            if let Some(x) = str_of(input, "InvocationEndpoint") {
                d.endpoint = x.to_string();
            }
            if let Some(x) = str_of(input, "HttpMethod") {
                d.method = x.to_string();
            }
            if let Some(x) = input.get("InvocationRateLimitPerSecond").and_then(Value::as_u64) {
                d.rate_limit = Some(x);
            }
            d.modified_ms = now;
            txn.insert(key.clone(), EventsRecord::ApiDestination(Box::new(d.clone())));
            Ok(d)
        });
        let d = r?;
        Ok(Answer::wrote(
            json!({"ApiDestinationArn": d.arn, "ApiDestinationState": d.state, "CreationTime": ts(d.created_ms), "LastModifiedTime": ts(now)}),
            v,
        ))
    }

    pub(crate) fn describe_api_destination(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default();
        match self.store.snapshot().get(&model::apidest_key(p, name)) {
            Some(EventsRecord::ApiDestination(d)) => Ok(api_destination_json(d, true)),
            _ => Err(api_destination_missing(name)),
        }
    }

    pub(crate) fn list_api_destinations(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let conn = str_of(input, "ConnectionArn");
        let items = self
            .store
            .snapshot()
            .scan_prefix(&model::apidests_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::ApiDestination(d)
                    if d.name.starts_with(prefix) && conn.is_none_or(|c| c == d.connection_arn) =>
                {
                    Some(api_destination_json(d, false))
                }
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "Limit", "ApiDestinations")
    }

    pub(crate) fn delete_api_destination(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let (r, v) = self.store.write(|txn| {
            txn.remove(&model::apidest_key(p, &name))
                .map(|_| ())
                .ok_or_else(|| api_destination_missing(&name))
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }

    pub(crate) fn create_endpoint(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let buses = input
            .get("EventBuses")
            .cloned()
            .unwrap_or_else(|| json!([]));
        if buses.as_array().is_none_or(|a| a.len() != 2) {
            return Err(validation(
                "EventBuses must contain exactly two event buses.",
            ));
        }
        let e = Endpoint {
            name: name.clone(),
            arn: format!("arn:aws:events:{}:{}:endpoint/{name}", p.region, p.account),
            id: format!("{}.{}", &short_id()[..5], &short_id()[..3]),
            description: str_of(input, "Description").map(str::to_string),
            routing: input
                .get("RoutingConfig")
                .cloned()
                .unwrap_or_else(|| json!({}))
                .to_string(),
            replication: input.get("ReplicationConfig").map(Value::to_string),
            event_buses: buses.to_string(),
            role_arn: str_of(input, "RoleArn").map(str::to_string),
            state: "ACTIVE".into(),
            created_ms: now,
            modified_ms: now,
        };
        let key = model::endpoint_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            if txn.contains(&key) {
                return Err(exists(format!("Endpoint {name} already exists.")));
            }
            txn.insert(key.clone(), EventsRecord::Endpoint(Box::new(e.clone())));
            Ok(())
        });
        r?;
        let mut out = endpoint_json(&e);
        keep(
            &mut out,
            &[
                "Name",
                "Arn",
                "RoutingConfig",
                "ReplicationConfig",
                "EventBuses",
                "RoleArn",
                "State",
            ],
        );
        Ok(Answer::wrote(out, v))
    }

    pub(crate) fn update_endpoint(
        &self,
        p: &Partition,
        input: &Input,
        now: u64,
    ) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let key = model::endpoint_key(p, &name);
        let (r, v) = self.store.write(|txn| {
            let mut e = match txn.get(&key) {
                Some(EventsRecord::Endpoint(e)) => (**e).clone(),
                _ => return Err(endpoint_missing(&name)),
            };
            if let Some(x) = str_of(input, "Description") {
                e.description = Some(x.to_string());
            }
            if let Some(x) = input.get("RoutingConfig") {
                e.routing = x.to_string();
            }
            if let Some(x) = input.get("ReplicationConfig") {
                e.replication = Some(x.to_string());
            }
            if let Some(x) = input.get("EventBuses") {
                if x.as_array().is_none_or(|a| a.len() != 2) {
                    return Err(validation(
                        "EventBuses must contain exactly two event buses.",
                    ));
                }
                e.event_buses = x.to_string();
            }
            if let Some(x) = str_of(input, "RoleArn") {
                e.role_arn = Some(x.to_string());
            }
            e.modified_ms = now;
            txn.insert(key.clone(), EventsRecord::Endpoint(Box::new(e.clone())));
            Ok(e)
        });
        let e = r?;
        let mut out = endpoint_json(&e);
        keep(
            &mut out,
            &[
                "Name",
                "Arn",
                "RoutingConfig",
                "ReplicationConfig",
                "EventBuses",
                "RoleArn",
                "EndpointId",
                "EndpointUrl",
                "State",
            ],
        );
        Ok(Answer::wrote(out, v))
    }

    pub(crate) fn describe_endpoint(
        &self,
        p: &Partition,
        input: &Input,
    ) -> Result<Value, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default();
        match self.store.snapshot().get(&model::endpoint_key(p, name)) {
            Some(EventsRecord::Endpoint(e)) => Ok(endpoint_json(e)),
            _ => Err(endpoint_missing(name)),
        }
    }

    pub(crate) fn list_endpoints(&self, p: &Partition, input: &Input) -> Result<Value, AwsError> {
        let prefix = str_of(input, "NamePrefix").unwrap_or("");
        let items = self
            .store
            .snapshot()
            .scan_prefix(&model::endpoints_prefix(p))
            .filter_map(|(_, r)| match r {
                EventsRecord::Endpoint(e) if e.name.starts_with(prefix) => Some(endpoint_json(e)),
                _ => None,
            })
            .collect();
        crate::paginate(items, input, "MaxResults", "Endpoints")
    }

    pub(crate) fn delete_endpoint(&self, p: &Partition, input: &Input) -> Result<Answer, AwsError> {
        let name = str_of(input, "Name").unwrap_or_default().to_string();
        let (r, v) = self.store.write(|txn| {
            txn.remove(&model::endpoint_key(p, &name))
                .map(|_| ())
                .ok_or_else(|| endpoint_missing(&name))
        });
        r?;
        Ok(Answer::wrote(json!({}), v))
    }
}

/// A connection's name from its ARN (`...:connection/<name>/<uuid>`), or the text itself.
fn connection_name(arn: &str) -> String {
    crate::parse_arn(arn)
        .and_then(|a| a.resource.strip_prefix("connection/"))
        .map(|r| r.split('/').next().unwrap_or(r).to_string())
        .unwrap_or_else(|| arn.to_string())
}

fn keep(v: &mut Value, members: &[&str]) {
    if let Some(o) = v.as_object_mut() {
        let kept: Map<String, Value> = o
            .iter()
            .filter(|(k, _)| members.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        *o = kept;
    }
}

//! Custom key stores: Create/Describe/Update/Delete/Connect/DisconnectCustomKeyStore.
//!
//! A store is a record with AWS's connection states; connecting takes a short while (an
//! absolute deadline in the record, after which the store is `CONNECTED`, recorded by the
//! sweeper). No CloudHSM cluster or external key store proxy is contacted: the keys of a store
//! are ordinary keys of this emulator whose use requires the store to be connected.

use serde_json::{Value, json};

use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::Output;

use crate::input::*;
use crate::names::*;
use crate::{KeyStoreRec, Kms, KmsRecord, Secret, XksConfig, err, ok, rk, ts};

/// How long `ConnectCustomKeyStore` takes to connect.
pub(crate) const CONNECT_MS: u64 = 2_000;
/// Custom key stores an account may have in a Region.
const MAX_STORES: usize = 10;

fn store_missing(id: &str) -> AwsError {
    err(
        "CustomKeyStoreNotFoundException",
        format!("Custom key store {id} does not exist."),
    )
}

fn invalid_state(s: &KeyStoreRec, now: u64, what: &str) -> AwsError {
    err(
        "CustomKeyStoreInvalidStateException",
        format!("Custom key store {} is {}: {what}", s.id, s.state_at(now)),
    )
}

fn entry(s: &KeyStoreRec, now: u64) -> Value {
    let mut o = json!({
        "CustomKeyStoreId": s.id,
        "CustomKeyStoreName": s.name,
        "CustomKeyStoreType": s.kind,
        "ConnectionState": s.state_at(now),
        "CreationDate": ts(s.created_ms),
    });
    if let Some(c) = &s.cluster_id {
        o["CloudHsmClusterId"] = json!(c);
    }
    if let Some(t) = &s.trust_anchor {
        o["TrustAnchorCertificate"] = json!(t);
    }
    if let Some(x) = &s.xks {
        let mut c = json!({
            "AccessKeyId": x.access_key_id,
            "Connectivity": x.connectivity,
            "UriEndpoint": x.uri_endpoint,
            "UriPath": x.uri_path,
        });
        if let Some(n) = &x.vpc_service_name {
            c["VpcEndpointServiceName"] = json!(n);
        }
        if let Some(n) = &x.vpc_service_owner {
            c["VpcEndpointServiceOwner"] = json!(n);
        }
        o["XksProxyConfiguration"] = c;
    }
    o
}

/// The XKS credential member: `(access key id, secret)`.
fn credential(m: &Input) -> Option<(String, String)> {
    let c = m.get("XksProxyAuthenticationCredential")?;
    Some((
        c.get("AccessKeyId")?.as_str()?.to_string(),
        c.get("RawSecretAccessKey")?.as_str()?.to_string(),
    ))
}

fn check_xks(x: &XksConfig) -> Result<(), AwsError> {
    let invalid = |msg: String| err("XksProxyInvalidConfigurationException", msg);
    if !x.uri_endpoint.starts_with("https://") {
        return Err(invalid(format!(
            "XksProxyUriEndpoint {} must begin with https://",
            x.uri_endpoint
        )));
    }
    if !x.uri_path.ends_with("/kms/xks/v1") {
        return Err(invalid(format!(
            "XksProxyUriPath {} must end with /kms/xks/v1",
            x.uri_path
        )));
    }
    match x.connectivity.as_str() {
        "PUBLIC_ENDPOINT" => {}
        "VPC_ENDPOINT_SERVICE" if x.vpc_service_name.is_some() => {}
        "VPC_ENDPOINT_SERVICE" => {
            return Err(invalid(
                "XksProxyVpcEndpointServiceName is required for VPC_ENDPOINT_SERVICE connectivity."
                    .into(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "XksProxyConnectivity {other} is not valid."
            )));
        }
    }
    Ok(())
}

impl Kms {
    pub(crate) fn create_custom_key_store(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let name = req(m, "CustomKeyStoreName")?.to_string();
        let kind = str_of(m, "CustomKeyStoreType").unwrap_or("AWS_CLOUDHSM");
        let now = self.now_ms();
        let mut s = KeyStoreRec {
            id: format!("cks-{}", &hex_id(9)[..17]),
            name,
            kind: kind.to_string(),
            cluster_id: None,
            trust_anchor: None,
            password: None,
            xks: None,
            state: "DISCONNECTED".into(),
            connected_at_ms: None,
            created_ms: now,
        };
        match kind {
            "AWS_CLOUDHSM" => {
                let (Some(c), Some(t), Some(pw)) = (
                    str_of(m, "CloudHsmClusterId"),
                    str_of(m, "TrustAnchorCertificate"),
                    str_of(m, "KeyStorePassword"),
                ) else {
                    return Err(validation_missing(
                        "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required for an AWS_CLOUDHSM key store.",
                    ));
                };
                s.cluster_id = Some(c.to_string());
                s.trust_anchor = Some(t.to_string());
                s.password = Some(Secret(pw.as_bytes().to_vec()));
            }
            _ => {
                let (Some(uri), Some(path), Some((akid, secret)), Some(conn)) = (
                    str_of(m, "XksProxyUriEndpoint"),
                    str_of(m, "XksProxyUriPath"),
                    credential(m),
                    str_of(m, "XksProxyConnectivity"),
                ) else {
                    return Err(validation_missing(
                        "XksProxyUriEndpoint, XksProxyUriPath, XksProxyAuthenticationCredential and XksProxyConnectivity are required for an EXTERNAL_KEY_STORE key store.",
                    ));
                };
                let x = XksConfig {
                    uri_endpoint: uri.to_string(),
                    uri_path: path.to_string(),
                    connectivity: conn.to_string(),
                    vpc_service_name: str_of(m, "XksProxyVpcEndpointServiceName")
                        .map(str::to_string),
                    vpc_service_owner: str_of(m, "XksProxyVpcEndpointServiceOwner")
                        .map(str::to_string),
                    access_key_id: akid,
                    secret_access_key: Secret(secret.into_bytes()),
                };
                check_xks(&x)?;
                s.xks = Some(x);
            }
        }
        let (r, v) = self.store.write(|txn| {
            let stores: Vec<KeyStoreRec> = txn
                .scan_prefix(&rk::stores(p))
                .filter_map(|(_, r)| match r {
                    KmsRecord::KeyStore(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            check_unique(&stores, &s)?;
            if stores.len() >= MAX_STORES {
                return Err(err(
                    "LimitExceededException",
                    format!(
                        "An account can have at most {MAX_STORES} custom key stores in a Region."
                    ),
                ));
            }
            let id = s.id.clone();
            txn.insert(rk::store(p, &id), KmsRecord::KeyStore(s));
            Ok(id)
        });
        let id = r?;
        ok(json!({ "CustomKeyStoreId": id }), Some(v))
    }

    pub(crate) fn describe_custom_key_stores(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let snap = self.store.snapshot();
        let now = self.now_ms();
        let by_id = str_of(m, "CustomKeyStoreId");
        let by_name = str_of(m, "CustomKeyStoreName");
        if by_id.is_some() && by_name.is_some() {
            return Err(crate::validation(
                "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.",
            ));
        }
        let items: Vec<(String, Value)> = snap
            .scan_prefix(&rk::stores(p))
            .filter_map(|(_, r)| match r {
                KmsRecord::KeyStore(s)
                    if by_id.is_none_or(|i| i == s.id) && by_name.is_none_or(|n| n == s.name) =>
                {
                    Some((s.id.clone(), entry(s, now)))
                }
                _ => None,
            })
            .collect();
        if items.is_empty()
            && let Some(what) = by_id.or(by_name)
        {
            return Err(store_missing(what));
        }
        let (page, next) = page(items, str_of(m, "Marker"), int_of(m, "Limit"), 100);
        let mut out = json!({ "CustomKeyStores": page, "Truncated": next.is_some() });
        if let Some(n) = next {
            out["NextMarker"] = json!(n);
        }
        ok(out, None)
    }

    /// Change one store inside a write.
    fn update_store<T>(
        &self,
        p: &Partition,
        id: &str,
        f: impl FnOnce(&mut KeyStoreRec, &[KeyStoreRec], bool) -> Result<T, AwsError>,
    ) -> Result<(T, u64), AwsError> {
        let (r, v) = self.store.write(|txn| {
            let mut s = get_store(txn, p, id).ok_or_else(|| store_missing(id))?;
            let others: Vec<KeyStoreRec> = txn
                .scan_prefix(&rk::stores(p))
                .filter_map(|(_, r)| match r {
                    KmsRecord::KeyStore(o) if o.id != id => Some(o.clone()),
                    _ => None,
                })
                .collect();
            let has_keys = txn.scan_prefix(&rk::exts(p)).any(|(_, r)| {
                matches!(r, KmsRecord::KeyExt(x) if x.custom_key_store_id.as_deref() == Some(id)
                    && get_key(txn, p, &x.id).is_some())
            });
            let out = f(&mut s, &others, has_keys)?;
            txn.insert(rk::store(p, id), KmsRecord::KeyStore(s));
            Ok::<_, AwsError>(out)
        });
        Ok((r?, v))
    }

    pub(crate) fn update_custom_key_store(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let id = req(m, "CustomKeyStoreId")?;
        let now = self.now_ms();
        let (_, v) = self.update_store(p, id, |s, others, _| {
            let connected = s.state_at(now) != "DISCONNECTED";
            let mut changed_connection = false;
            if let Some(n) = str_of(m, "NewCustomKeyStoreName") {
                s.name = n.to_string();
            }
            if s.kind == "AWS_CLOUDHSM" {
                for f in [
                    "XksProxyUriEndpoint",
                    "XksProxyUriPath",
                    "XksProxyConnectivity",
                    "XksProxyAuthenticationCredential",
                    "XksProxyVpcEndpointServiceName",
                    "XksProxyVpcEndpointServiceOwner",
                ] {
                    if m.contains_key(f) {
                        return Err(crate::validation(format!(
                            "{f} is not valid for an AWS_CLOUDHSM key store."
                        )));
                    }
                }
                if let Some(c) = str_of(m, "CloudHsmClusterId") {
                    s.cluster_id = Some(c.to_string());
                }
                if let Some(pw) = str_of(m, "KeyStorePassword") {
                    s.password = Some(Secret(pw.as_bytes().to_vec()));
                }
                if connected {
                    // A CloudHSM key store must be disconnected for any change.
                    return Err(invalid_state(s, now, "disconnect it before you update it."));
                }
            } else {
                for f in ["CloudHsmClusterId", "KeyStorePassword"] {
                    if m.contains_key(f) {
                        return Err(crate::validation(format!(
                            "{f} is not valid for an EXTERNAL_KEY_STORE key store."
                        )));
                    }
                }
                let x = s.xks.as_mut().ok_or_else(|| {
                    AwsError::internal("KMSInternalException", "external key store without proxy")
                })?;
                if let Some((akid, secret)) = credential(m) {
                    x.access_key_id = akid;
                    x.secret_access_key = Secret(secret.into_bytes());
                }
                for (f, slot) in [
                    ("XksProxyUriEndpoint", &mut x.uri_endpoint),
                    ("XksProxyUriPath", &mut x.uri_path),
                    ("XksProxyConnectivity", &mut x.connectivity),
                ] {
                    if let Some(val) = str_of(m, f) {
                        *slot = val.to_string();
                        changed_connection = true;
                    }
                }
                for (f, slot) in [
                    ("XksProxyVpcEndpointServiceName", &mut x.vpc_service_name),
                    ("XksProxyVpcEndpointServiceOwner", &mut x.vpc_service_owner),
                ] {
                    if let Some(val) = str_of(m, f) {
                        *slot = Some(val.to_string());
                        changed_connection = true;
                    }
                }
                check_xks(x)?;
                if connected && changed_connection {
                    return Err(invalid_state(
                        s,
                        now,
                        "disconnect it before you change its proxy's endpoint, path or connectivity.",
                    ));
                }
            }
            check_unique(others, s)?;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn delete_custom_key_store(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let id = req(m, "CustomKeyStoreId")?;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let s = get_store(txn, p, id).ok_or_else(|| store_missing(id))?;
            if s.state_at(now) != "DISCONNECTED" {
                return Err(invalid_state(&s, now, "disconnect it before you delete it."));
            }
            let has_keys = txn.scan_prefix(&rk::exts(p)).any(|(_, r)| {
                matches!(r, KmsRecord::KeyExt(x) if x.custom_key_store_id.as_deref() == Some(id)
                    && get_key(txn, p, &x.id).is_some())
            });
            if has_keys {
                return Err(err(
                    "CustomKeyStoreHasCMKsException",
                    format!("Custom key store {id} contains KMS keys: delete them before you delete the key store."),
                ));
            }
            txn.remove(&rk::store(p, id));
            Ok(())
        });
        r?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn connect_custom_key_store(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let id = req(m, "CustomKeyStoreId")?;
        let now = self.now_ms();
        let (_, v) = self.update_store(p, id, |s, _, _| {
            match s.state_at(now) {
                "DISCONNECTED" | "FAILED" => {
                    s.state = "CONNECTING".into();
                    s.connected_at_ms = Some(now + CONNECT_MS);
                    Ok(())
                }
                // Connecting a connected (or connecting) store succeeds and changes nothing.
                "CONNECTED" | "CONNECTING" => Ok(()),
                _ => Err(invalid_state(s, now, "it cannot be connected now.")),
            }
        })?;
        ok(json!({}), Some(v))
    }

    pub(crate) fn disconnect_custom_key_store(
        &self,
        p: &Partition,
        m: &Input,
    ) -> Result<Output, AwsError> {
        let id = req(m, "CustomKeyStoreId")?;
        let (_, v) = self.update_store(p, id, |s, _, _| {
            s.state = "DISCONNECTED".into();
            s.connected_at_ms = None;
            Ok(())
        })?;
        ok(json!({}), Some(v))
    }

    /// The sweeper's part: record the stores whose connection deadline passed as connected.
    pub(crate) fn connect_due(&self, p: &Partition, now: u64) -> usize {
        let due = self
            .store
            .snapshot()
            .scan_prefix(&rk::stores(p))
            .any(|(_, r)| matches!(r, KmsRecord::KeyStore(s) if s.state != s.state_at(now)));
        if !due {
            return 0;
        }
        let (n, _) = self.store.write(|txn| {
            let due: Vec<KeyStoreRec> = txn
                .scan_prefix(&rk::stores(p))
                .filter_map(|(_, r)| match r {
                    KmsRecord::KeyStore(s) if s.state != s.state_at(now) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            for mut s in due.clone() {
                s.state = "CONNECTED".into();
                s.connected_at_ms = None;
                txn.insert(rk::store(p, &s.id.clone()), KmsRecord::KeyStore(s));
            }
            due.len()
        });
        n
    }
}

fn validation_missing(message: &str) -> AwsError {
    crate::validation(message.to_string())
}

/// Names, clusters and proxy endpoints are unique among an account's stores in a Region.
fn check_unique(others: &[KeyStoreRec], s: &KeyStoreRec) -> Result<(), AwsError> {
    for o in others.iter().filter(|o| o.id != s.id) {
        if o.name == s.name {
            return Err(err(
                "CustomKeyStoreNameInUseException",
                format!("The custom key store name {} is already in use.", s.name),
            ));
        }
        if s.cluster_id.is_some() && o.cluster_id == s.cluster_id {
            return Err(err(
                "CloudHsmClusterInUseException",
                "The CloudHSM cluster is already associated with a custom key store.",
            ));
        }
        if let (Some(a), Some(b)) = (&o.xks, &s.xks) {
            if a.uri_endpoint == b.uri_endpoint && a.uri_path == b.uri_path {
                return Err(err(
                    "XksProxyUriInUseException",
                    "The proxy URI endpoint and path are already associated with an external key store.",
                ));
            }
            if a.connectivity == "PUBLIC_ENDPOINT"
                && b.connectivity == "PUBLIC_ENDPOINT"
                && a.uri_endpoint == b.uri_endpoint
            {
                return Err(err(
                    "XksProxyUriEndpointInUseException",
                    "The proxy URI endpoint is already associated with an external key store.",
                ));
            }
        }
    }
    Ok(())
}

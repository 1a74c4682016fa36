//! Server-side encryption settings (`SSESpecification` of CreateTable and UpdateTable) and the
//! `SSEDescription` DescribeTable answers with. A table encrypted with an AWS owned key (the
//! default, `Enabled: false` or no specification) has no description, as in DynamoDB; one with
//! a KMS key (`Enabled: true`) is described with the key's ARN (the AWS managed key
//! `alias/aws/dynamodb` when none is named). The setting is a record per table
//! ([`Rec::Sse`], JSON text of the description).

use serde_json::{Value, json};
use snapstack_service::{Output, RequestContext};

use crate::{DdbError, DdbResult, DynamoDb, Rec, keys};

/// The description an `SSESpecification` gives: `Some(None)` for the AWS owned key, `None`
/// when the request has no specification.
pub(crate) fn parse(
    ctx: &RequestContext,
    spec: Option<&Value>,
) -> DdbResult<Option<Option<Value>>> {
    let Some(spec) = spec.filter(|s| !s.is_null()) else {
        return Ok(None);
    };
    let enabled = spec
        .get("Enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind = spec.get("SSEType").and_then(Value::as_str);
    let key = spec.get("KMSMasterKeyId").and_then(Value::as_str);
    if !enabled {
        if kind.is_some() || key.is_some() {
            return Err(DdbError::validation(
                "SSEType and KMSMasterKeyId can only be specified when SSE is enabled",
            ));
        }
        return Ok(Some(None));
    }
    if let Some(k) = kind
        && k != "KMS"
    {
        return Err(DdbError::validation(format!(
            "SSEType {k} is not supported: only KMS can be specified"
        )));
    }
    let (region, account) = (ctx.region(), ctx.account());
    let arn = match key {
        Some(k) if k.starts_with("arn:") => k.to_string(),
        Some(k) if k.starts_with("alias/") => format!("arn:aws:kms:{region}:{account}:{k}"),
        Some(k) => format!("arn:aws:kms:{region}:{account}:key/{k}"),
        None => {
            // The account's AWS managed key for DynamoDB: a stable id per account and region.
            let h = blake3::hash(format!("aws/dynamodb:{account}:{region}").as_bytes());
            let b = h.as_bytes();
            let hex: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "arn:aws:kms:{region}:{account}:key/{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        }
    };
    Ok(Some(Some(
        json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": arn}),
    )))
}

impl DynamoDb {
    /// Store a table's encryption setting (`None`: the AWS owned key); the store version.
    pub(crate) fn put_sse(
        &self,
        ctx: &RequestContext,
        table: &str,
        desc: Option<Value>,
    ) -> DdbResult<u64> {
        let p = ctx.partition.clone();
        let (r, v) = self.store.write(|txn| {
            let id = match txn.get(&keys::table(&p, table)) {
                Some(Rec::Table(t)) => t.id,
                _ => return Err(DdbError::table_not_found(table)),
            };
            match &desc {
                Some(d) => {
                    txn.insert(keys::sse(&p, id), Rec::Sse(d.to_string()));
                }
                None => {
                    txn.remove(&keys::sse(&p, id));
                }
            }
            Ok(())
        });
        r.map(|()| v)
    }

    /// Add the table's `SSEDescription` to a `TableDescription`.
    pub(crate) fn add_sse(&self, ctx: &RequestContext, table: &mut Value) {
        let Some(name) = table.get("TableName").and_then(Value::as_str) else {
            return;
        };
        let snap = self.store.snapshot();
        let Some(Rec::Table(t)) = snap.get(&keys::table(&ctx.partition, name)) else {
            return;
        };
        if let Some(Rec::Sse(text)) = snap.get(&keys::sse(&ctx.partition, t.id))
            && let Ok(d) = serde_json::from_str::<Value>(text)
        {
            table["SSEDescription"] = d;
        }
    }

    /// CreateTable and UpdateTable with their `SSESpecification`: the operation, then the
    /// setting stored and described. An UpdateTable that changes only encryption is that alone.
    pub(crate) fn with_sse(
        &self,
        ctx: &RequestContext,
        body: &Value,
        op: impl FnOnce() -> DdbResult<Output>,
    ) -> DdbResult<Output> {
        let sse = parse(ctx, body.get("SSESpecification"))?;
        let only_sse = sse.is_some()
            && body.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| matches!(k.as_str(), "TableName" | "SSESpecification"))
            });
        let mut out = if only_sse {
            let name = crate::table::table_name(
                body.get("TableName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .as_ref(),
            )?;
            let t = self.table(&ctx.partition, &name)?;
            Output::write(json!({"TableDescription": t.describe(ctx, "ACTIVE")}), None)
        } else {
            op()?
        };
        let desc_key = if out.value.get("TableDescription").is_some() {
            "TableDescription"
        } else {
            "Table"
        };
        if let Some(desc) = sse {
            let name = out.value[desc_key]["TableName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let v = self.put_sse(ctx, &name, desc)?;
            out.write_version = Some(v);
        }
        if let Some(t) = out.value.get_mut(desc_key) {
            self.add_sse(ctx, t);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifications_give_descriptions() {
        let ctx = RequestContext::from_scope(None);
        assert_eq!(parse(&ctx, None).unwrap(), None);
        assert_eq!(
            parse(&ctx, Some(&json!({"Enabled": false}))).unwrap(),
            Some(None)
        );
        let d = parse(&ctx, Some(&json!({"Enabled": true})))
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(d["SSEType"], "KMS");
        assert!(d["KMSMasterKeyArn"].as_str().unwrap().contains(":key/"));
        let d = parse(
            &ctx,
            Some(&json!({"Enabled": true, "KMSMasterKeyId": "alias/mine"})),
        )
        .unwrap()
        .unwrap()
        .unwrap();
        assert!(
            d["KMSMasterKeyArn"]
                .as_str()
                .unwrap()
                .ends_with(":alias/mine")
        );
        assert!(parse(&ctx, Some(&json!({"Enabled": true, "SSEType": "AES256"}))).is_err());
        assert!(parse(&ctx, Some(&json!({"Enabled": false, "SSEType": "KMS"}))).is_err());
    }
}

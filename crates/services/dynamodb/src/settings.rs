//! Account and table settings that are records and nothing more here: DescribeLimits,
//! DescribeEndpoints, contributor insights, Kinesis streaming destinations, resource policies,
//! replica auto scaling, and global tables version 2017.11.29 (the replication group is a record;
//! nothing is replicated).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_service::{Output, RequestContext};

use crate::items::str_field;
use crate::table::{self, TableMeta};
use crate::{DdbError, DdbResult, DynamoDb, Rec, keys, ok};

/// A table's settings beside its definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableExtras {
    /// When point-in-time recovery was enabled (epoch ms); `None`: disabled.
    pub pitr_enabled_ms: Option<u64>,
    pub pitr_days: u64,
    /// Contributor insights: (index name or none for the table, enabled, last update ms).
    pub insights: Vec<(Option<String>, bool, u64)>,
    pub kinesis: Vec<KinesisDest>,
    /// The resource policy and its revision id.
    pub policy: Option<(String, String)>,
}

/// A Kinesis streaming destination of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KinesisDest {
    pub stream_arn: String,
    pub status: String,
    pub precision: String,
}

/// A global table (2017.11.29): its name and the regions of its replication group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalTableMeta {
    pub name: String,
    pub regions: Vec<String>,
    pub created_ms: u64,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn table_name_of(body: &Value) -> DdbResult<String> {
    table::table_name(str_field(body, "TableName")?.map(str::to_string).as_ref())
}

fn global_not_found() -> DdbError {
    DdbError::new("GlobalTableNotFoundException", "Global table not found")
}

impl DynamoDb {
    /// Read-modify-write a table's extras in one store write (the table must exist).
    pub(crate) fn modify_extras(
        &self,
        p: &Partition,
        name: &str,
        f: impl FnOnce(&mut TableExtras) -> DdbResult<()>,
    ) -> DdbResult<(TableExtras, u64)> {
        let (r, v) = self.store.write(|txn| {
            let t: TableMeta = match txn.get(&keys::table(p, name)) {
                Some(Rec::Table(t)) => (**t).clone(),
                _ => return Err(DdbError::table_not_found(name)),
            };
            let key = keys::extras(p, t.id);
            let mut e = match txn.get(&key) {
                Some(Rec::Extras(e)) => (**e).clone(),
                _ => TableExtras::default(),
            };
            let before = e.clone();
            f(&mut e)?;
            if e != before {
                txn.insert(key, Rec::Extras(Box::new(e.clone())));
            }
            Ok(e)
        });
        r.map(|e| (e, v))
    }

    fn extras(&self, p: &Partition, name: &str) -> DdbResult<(TableMeta, TableExtras)> {
        let t = self.table(p, name)?;
        let e = match self.store.snapshot().get(&keys::extras(p, t.id)) {
            Some(Rec::Extras(e)) => (**e).clone(),
            _ => TableExtras::default(),
        };
        Ok((t, e))
    }

    pub(crate) fn describe_limits(&self) -> DdbResult<Output> {
        ok(
            json!({
                "AccountMaxReadCapacityUnits": 80000,
                "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000,
                "TableMaxWriteCapacityUnits": 40000,
            }),
            None,
        )
    }

    pub(crate) fn describe_endpoints(&self, ctx: &RequestContext) -> DdbResult<Output> {
        ok(
            json!({"Endpoints": [{
                "Address": format!("dynamodb.{}.amazonaws.com", ctx.region()),
                "CachePeriodInMinutes": 1440,
            }]}),
            None,
        )
    }

    // ---- Contributor insights ---------------------------------------------------------------

    fn insights_status(e: &TableExtras, index: Option<&str>) -> (&'static str, Option<u64>) {
        match e.insights.iter().find(|(i, _, _)| i.as_deref() == index) {
            Some((_, true, at)) => ("ENABLED", Some(*at)),
            Some((_, false, at)) => ("DISABLED", Some(*at)),
            None => ("DISABLED", None),
        }
    }

    fn check_index(t: &TableMeta, index: Option<&str>) -> DdbResult<()> {
        if let Some(i) = index
            && t.index(i).is_none()
        {
            return Err(DdbError::not_found().with_message(format!(
                "Requested resource not found: Index: {i} not found"
            )));
        }
        Ok(())
    }

    pub(crate) fn describe_contributor_insights(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table_name_of(body)?;
        let index = str_field(body, "IndexName")?;
        let (t, e) = self.extras(&ctx.partition, &name)?;
        Self::check_index(&t, index)?;
        let (status, at) = Self::insights_status(&e, index);
        let mut out = json!({"TableName": name, "ContributorInsightsStatus": status});
        if let Some(i) = index {
            out["IndexName"] = json!(i);
        }
        if status == "ENABLED" {
            let rules: Vec<String> = match index {
                Some(i) => vec![
                    format!("DynamoDBContributorInsights-PKC-{name}-{i}"),
                    format!("DynamoDBContributorInsights-PKT-{name}-{i}"),
                ],
                None => vec![
                    format!("DynamoDBContributorInsights-PKC-{name}"),
                    format!("DynamoDBContributorInsights-PKT-{name}"),
                ],
            };
            out["ContributorInsightsRuleList"] = json!(rules);
        }
        if let Some(at) = at {
            out["LastUpdateDateTime"] = json!(secs(at));
        }
        ok(out, None)
    }

    pub(crate) fn update_contributor_insights(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = table_name_of(body)?;
        let index = str_field(body, "IndexName")?.map(str::to_string);
        let action = str_field(body, "ContributorInsightsAction")?
            .ok_or_else(|| DdbError::missing("contributorInsightsAction"))?;
        let enable = match action {
            "ENABLE" => true,
            "DISABLE" => false,
            other => {
                return Err(DdbError::constraint(
                    other,
                    "contributorInsightsAction",
                    "Member must satisfy enum value set: [ENABLE, DISABLE]",
                ));
            }
        };
        let t = self.table(&ctx.partition, &name)?;
        Self::check_index(&t, index.as_deref())?;
        let now = self.now_ms();
        let (_, v) = self.modify_extras(&ctx.partition, &name, |e| {
            e.insights.retain(|(i, _, _)| *i != index);
            e.insights.push((index.clone(), enable, now));
            Ok(())
        })?;
        let mut out = json!({"TableName": name, "ContributorInsightsStatus": if enable { "ENABLED" } else { "DISABLED" }});
        if let Some(i) = &index {
            out["IndexName"] = json!(i);
        }
        ok(out, Some(v))
    }

    pub(crate) fn list_contributor_insights(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let only = str_field(body, "TableName")?;
        let max = match body.get("MaxResults").and_then(Value::as_i64) {
            None => 100,
            Some(n) if (0..=100).contains(&n) => n.max(1) as usize,
            Some(n) => {
                return Err(DdbError::constraint(
                    n,
                    "maxResults",
                    "Member must have value less than or equal to 100",
                ));
            }
        };
        let start: usize = match str_field(body, "NextToken")? {
            Some(t) => t
                .parse()
                .map_err(|_| DdbError::validation("Invalid NextToken"))?,
            None => 0,
        };
        let p = &ctx.partition;
        if let Some(n) = only {
            self.table(p, n)?;
        }
        let snap = self.store.snapshot();
        let mut all = Vec::new();
        for (_, r) in snap.scan_prefix(&keys::tables(p)) {
            let Rec::Table(t) = r else { continue };
            if only.is_some_and(|n| n != t.name) {
                continue;
            }
            let e = match snap.get(&keys::extras(p, t.id)) {
                Some(Rec::Extras(e)) => (**e).clone(),
                _ => TableExtras::default(),
            };
            let names = std::iter::once(None).chain(t.gsis.iter().map(|i| Some(i.name.as_str())));
            for index in names {
                let (status, _) = Self::insights_status(&e, index);
                let mut s = json!({"TableName": t.name, "ContributorInsightsStatus": status});
                if let Some(i) = index {
                    s["IndexName"] = json!(i);
                }
                all.push(s);
            }
        }
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({"ContributorInsightsSummaries": page});
        if start + max < all.len() {
            out["NextToken"] = json!((start + max).to_string());
        }
        ok(out, None)
    }

    // ---- Kinesis streaming destinations ----------------------------------------------------

    fn kinesis_input(body: &Value) -> DdbResult<(String, String)> {
        let name = table_name_of(body)?;
        let arn = str_field(body, "StreamArn")?
            .ok_or_else(|| DdbError::missing("streamArn"))?
            .to_string();
        if !arn.starts_with("arn:") || !arn.contains(":kinesis:") {
            return Err(DdbError::validation(format!(
                "Invalid StreamArn provided: {arn}"
            )));
        }
        Ok((name, arn))
    }

    fn precision_of(body: &Value, member: &str) -> DdbResult<Option<String>> {
        let Some(cfg) = body.get(member).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        match str_field(cfg, "ApproximateCreationDateTimePrecision")? {
            None => Ok(None),
            Some(p @ ("MILLISECOND" | "MICROSECOND")) => Ok(Some(p.to_string())),
            Some(other) => Err(DdbError::constraint(
                other,
                "approximateCreationDateTimePrecision",
                "Member must satisfy enum value set: [MILLISECOND, MICROSECOND]",
            )),
        }
    }

    pub(crate) fn enable_kinesis(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let (name, arn) = Self::kinesis_input(body)?;
        let precision = Self::precision_of(body, "EnableKinesisStreamingConfiguration")?
            .unwrap_or_else(|| "MICROSECOND".into());
        let (_, v) = self.modify_extras(&ctx.partition, &name, |e| {
            if e.kinesis
                .iter()
                .any(|d| d.status == "ACTIVE" && d.stream_arn == arn)
            {
                return Err(DdbError::validation(
                    "Table is already enabled for Kinesis streaming destination with this stream",
                ));
            }
            if e.kinesis.iter().filter(|d| d.status == "ACTIVE").count() >= 2 {
                return Err(DdbError::new(
                    "LimitExceededException",
                    "Exceeded the limit of Kinesis streaming destinations for the table",
                ));
            }
            e.kinesis.retain(|d| d.stream_arn != arn);
            e.kinesis.push(KinesisDest {
                stream_arn: arn.clone(),
                status: "ACTIVE".into(),
                precision: precision.clone(),
            });
            Ok(())
        })?;
        ok(
            json!({"TableName": name, "StreamArn": arn, "DestinationStatus": "ACTIVE",
                "EnableKinesisStreamingConfiguration": {"ApproximateCreationDateTimePrecision": precision}}),
            Some(v),
        )
    }

    pub(crate) fn disable_kinesis(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let (name, arn) = Self::kinesis_input(body)?;
        let (_, v) = self.modify_extras(&ctx.partition, &name, |e| {
            match e
                .kinesis
                .iter_mut()
                .find(|d| d.stream_arn == arn && d.status == "ACTIVE")
            {
                Some(d) => {
                    d.status = "DISABLED".into();
                    Ok(())
                }
                None => Err(DdbError::validation(
                    "Table is not enabled for Kinesis streaming destination with this stream",
                )),
            }
        })?;
        ok(
            json!({"TableName": name, "StreamArn": arn, "DestinationStatus": "DISABLED"}),
            Some(v),
        )
    }

    pub(crate) fn update_kinesis(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let (name, arn) = Self::kinesis_input(body)?;
        let precision = Self::precision_of(body, "UpdateKinesisStreamingConfiguration")?
            .ok_or_else(|| {
                DdbError::validation("UpdateKinesisStreamingConfiguration must be specified")
            })?;
        let (_, v) = self.modify_extras(&ctx.partition, &name, |e| {
            match e
                .kinesis
                .iter_mut()
                .find(|d| d.stream_arn == arn && d.status == "ACTIVE")
            {
                Some(d) if d.precision == precision => Err(DdbError::validation(format!(
                    "Invalid Request: Precision is already set to the desired value of {precision} for this Kinesis streaming destination."
                ))),
                Some(d) => {
                    d.precision = precision.clone();
                    Ok(())
                }
                None => Err(DdbError::validation(
                    "Table is not enabled for Kinesis streaming destination with this stream",
                )),
            }
        })?;
        ok(
            json!({"TableName": name, "StreamArn": arn, "DestinationStatus": "ACTIVE",
                "UpdateKinesisStreamingConfiguration": {"ApproximateCreationDateTimePrecision": precision}}),
            Some(v),
        )
    }

    pub(crate) fn describe_kinesis(&self, ctx: &RequestContext, body: &Value) -> DdbResult<Output> {
        let name = table_name_of(body)?;
        let (_, e) = self.extras(&ctx.partition, &name)?;
        let dests: Vec<Value> = e
            .kinesis
            .iter()
            .map(|d| {
                json!({"StreamArn": d.stream_arn, "DestinationStatus": d.status,
                "ApproximateCreationDateTimePrecision": d.precision})
            })
            .collect();
        ok(
            json!({"TableName": name, "KinesisDataStreamDestinations": dests}),
            None,
        )
    }

    // ---- Resource policies ------------------------------------------------------------------

    /// The table a policy's ResourceArn names (a table, or one of its streams).
    fn policy_table(ctx: &RequestContext, body: &Value) -> DdbResult<(String, String)> {
        let arn = str_field(body, "ResourceArn")?
            .ok_or_else(|| DdbError::missing("resourceArn"))?
            .to_string();
        let base = arn.split("/stream/").next().unwrap_or("");
        let name = table::table_from_arn(ctx, base).map_err(|e| {
            if e.code == "ResourceNotFoundException" {
                DdbError::not_found().with_message(format!(
                    "Requested resource not found: ResourceArn: {arn} not found"
                ))
            } else {
                e
            }
        })?;
        Ok((name, arn))
    }

    fn not_found_arn(arn: &str) -> impl Fn(DdbError) -> DdbError + '_ {
        move |e| {
            if e.code == "ResourceNotFoundException" {
                DdbError::not_found().with_message(format!(
                    "Requested resource not found: ResourceArn: {arn} not found"
                ))
            } else {
                e
            }
        }
    }

    pub(crate) fn put_resource_policy(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let (name, arn) = Self::policy_table(ctx, body)?;
        let doc = str_field(body, "Policy")?
            .ok_or_else(|| DdbError::missing("policy"))?
            .to_string();
        if serde_json::from_str::<Value>(&doc).map_or(true, |v| !v.is_object()) {
            return Err(DdbError::validation(
                "Invalid policy document: the policy is not valid JSON",
            ));
        }
        let expected = str_field(body, "ExpectedRevisionId")?.map(str::to_string);
        let rev = self.now_ms().to_string();
        let (e, v) = self
            .modify_extras(&ctx.partition, &name, |e| {
                match (&e.policy, &expected) {
                    (Some((_, cur)), Some(x)) if cur != x => {
                        return Err(DdbError::new(
                            "PolicyNotFoundException",
                            format!("Resource-based policy not found for the provided ResourceArn and revision ID: {arn}"),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(DdbError::new(
                            "PolicyNotFoundException",
                            format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
                        ));
                    }
                    _ => {}
                }
                // A new revision id even within the same millisecond.
                let rev = match &e.policy {
                    Some((_, cur)) if *cur >= rev => {
                        (cur.parse::<u64>().unwrap_or(0) + 1).to_string()
                    }
                    _ => rev.clone(),
                };
                e.policy = Some((doc.clone(), rev));
                Ok(())
            })
            .map_err(Self::not_found_arn(&arn))?;
        let rev = e.policy.map(|(_, r)| r).unwrap_or_default();
        ok(json!({"RevisionId": rev}), Some(v))
    }

    pub(crate) fn get_resource_policy(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let (name, arn) = Self::policy_table(ctx, body)?;
        let (_, e) = self
            .extras(&ctx.partition, &name)
            .map_err(Self::not_found_arn(&arn))?;
        match e.policy {
            Some((doc, rev)) => ok(json!({"Policy": doc, "RevisionId": rev}), None),
            None => Err(DdbError::new(
                "PolicyNotFoundException",
                format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
            )),
        }
    }

    pub(crate) fn delete_resource_policy(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let (name, arn) = Self::policy_table(ctx, body)?;
        let expected = str_field(body, "ExpectedRevisionId")?.map(str::to_string);
        let not_found = || {
            DdbError::new(
                "PolicyNotFoundException",
                format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
            )
        };
        let mut rev = String::new();
        let (_, v) = self
            .modify_extras(&ctx.partition, &name, |e| {
                match &e.policy {
                    None => return Err(not_found()),
                    Some((_, cur)) if expected.as_ref().is_some_and(|x| x != cur) => {
                        return Err(not_found());
                    }
                    Some((_, cur)) => rev = cur.clone(),
                }
                e.policy = None;
                Ok(())
            })
            .map_err(Self::not_found_arn(&arn))?;
        ok(json!({"RevisionId": rev}), Some(v))
    }

    // ---- Global tables (2017.11.29) ---------------------------------------------------------

    fn global_json(&self, ctx: &RequestContext, g: &GlobalTableMeta) -> Value {
        json!({
            "GlobalTableName": g.name,
            "GlobalTableArn": format!("arn:aws:dynamodb::{}:global-table/{}", ctx.account(), g.name),
            "GlobalTableStatus": "ACTIVE",
            "CreationDateTime": secs(g.created_ms),
            "ReplicationGroup": g.regions.iter().map(|r| json!({"RegionName": r, "ReplicaStatus": "ACTIVE"})).collect::<Vec<_>>(),
        })
    }

    /// The table exists in `region` of the caller's account.
    fn table_in_region(&self, ctx: &RequestContext, region: &str, name: &str) -> bool {
        let p = Partition::new(ctx.account().to_string(), region.to_string());
        matches!(
            self.store.snapshot().get(&keys::table(&p, name)),
            Some(Rec::Table(_))
        )
    }

    fn regions_of(list: Option<&Value>, field: &str) -> DdbResult<Vec<String>> {
        let Some(Value::Array(a)) = list else {
            return Err(DdbError::missing(field));
        };
        let mut out = Vec::new();
        for r in a {
            let name = r
                .get("RegionName")
                .and_then(Value::as_str)
                .ok_or_else(|| DdbError::missing(&format!("{field}.member.regionName")))?;
            if !out.iter().any(|x| x == name) {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    pub(crate) fn create_global_table(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = str_field(body, "GlobalTableName")?
            .ok_or_else(|| DdbError::missing("globalTableName"))?
            .to_string();
        table::validate_name(&name, "globalTableName")?;
        let regions = Self::regions_of(body.get("ReplicationGroup"), "replicationGroup")?;
        for r in &regions {
            if !self.table_in_region(ctx, r, &name) {
                return Err(DdbError::new(
                    "TableNotFoundException",
                    format!("Table not found: {name} in region {r}"),
                ));
            }
        }
        let p = &ctx.partition;
        let now = self.now_ms();
        let (r, v) = self.store.write(|txn| {
            let key = keys::global_table(p, &name);
            if txn.contains(&key) {
                return Err(DdbError::new(
                    "GlobalTableAlreadyExistsException",
                    "Global table with this name already exists",
                ));
            }
            let g = GlobalTableMeta {
                name: name.clone(),
                regions: regions.clone(),
                created_ms: now,
            };
            txn.insert(key, Rec::GlobalTable(Box::new(g.clone())));
            Ok(g)
        });
        let g = r?;
        ok(
            json!({"GlobalTableDescription": self.global_json(ctx, &g)}),
            Some(v),
        )
    }

    fn global(&self, p: &Partition, body: &Value) -> DdbResult<GlobalTableMeta> {
        let name = str_field(body, "GlobalTableName")?
            .ok_or_else(|| DdbError::missing("globalTableName"))?;
        match self.store.snapshot().get(&keys::global_table(p, name)) {
            Some(Rec::GlobalTable(g)) => Ok((**g).clone()),
            _ => Err(global_not_found()),
        }
    }

    pub(crate) fn describe_global_table(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let g = self.global(&ctx.partition, body)?;
        ok(
            json!({"GlobalTableDescription": self.global_json(ctx, &g)}),
            None,
        )
    }

    pub(crate) fn list_global_tables(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let start = str_field(body, "ExclusiveStartGlobalTableName")?;
        let region = str_field(body, "RegionName")?;
        let limit = match body.get("Limit").and_then(Value::as_i64) {
            None => 100,
            Some(n) if n >= 1 => (n as usize).min(100),
            Some(n) => {
                return Err(DdbError::constraint(
                    n,
                    "limit",
                    "Member must have value greater than or equal to 1",
                ));
            }
        };
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        let mut last = None;
        for (_, r) in snap.scan_prefix(&keys::global_tables(&ctx.partition)) {
            let Rec::GlobalTable(g) = r else { continue };
            if start.is_some_and(|s| g.name.as_str() <= s)
                || region.is_some_and(|r| !g.regions.iter().any(|x| x == r))
            {
                continue;
            }
            if out.len() == limit {
                last = out
                    .last()
                    .and_then(|v: &Value| v["GlobalTableName"].as_str().map(str::to_string));
                break;
            }
            out.push(json!({"GlobalTableName": g.name,
                "ReplicationGroup": g.regions.iter().map(|r| json!({"RegionName": r})).collect::<Vec<_>>()}));
        }
        let mut resp = json!({"GlobalTables": out});
        if let Some(l) = last {
            resp["LastEvaluatedGlobalTableName"] = json!(l);
        }
        ok(resp, None)
    }

    pub(crate) fn update_global_table(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let name = str_field(body, "GlobalTableName")?
            .ok_or_else(|| DdbError::missing("globalTableName"))?
            .to_string();
        let Some(Value::Array(updates)) = body.get("ReplicaUpdates") else {
            return Err(DdbError::missing("replicaUpdates"));
        };
        let mut plan = Vec::new();
        for u in updates {
            let (create, r) = match (u.get("Create"), u.get("Delete")) {
                (Some(c), None) => (true, c),
                (None, Some(d)) => (false, d),
                _ => {
                    return Err(DdbError::validation(
                        "One of ReplicaUpdate.Create or ReplicaUpdate.Delete must be specified",
                    ));
                }
            };
            let region = r
                .get("RegionName")
                .and_then(Value::as_str)
                .ok_or_else(|| DdbError::missing("replicaUpdates.member.regionName"))?
                .to_string();
            if create && !self.table_in_region(ctx, &region, &name) {
                return Err(DdbError::new(
                    "TableNotFoundException",
                    format!("Table not found: {name} in region {region}"),
                ));
            }
            plan.push((create, region));
        }
        let p = &ctx.partition;
        let (r, v) = self.store.write(|txn| {
            let key = keys::global_table(p, &name);
            let mut g = match txn.get(&key) {
                Some(Rec::GlobalTable(g)) => (**g).clone(),
                _ => return Err(global_not_found()),
            };
            for (create, region) in &plan {
                let has = g.regions.contains(region);
                match (create, has) {
                    (true, true) => {
                        return Err(DdbError::new(
                            "ReplicaAlreadyExistsException",
                            format!("Replica already exists in region {region}"),
                        ));
                    }
                    (false, false) => {
                        return Err(DdbError::new(
                            "ReplicaNotFoundException",
                            format!("Replica not found in region {region}"),
                        ));
                    }
                    (true, false) => g.regions.push(region.clone()),
                    (false, true) => g.regions.retain(|r| r != region),
                }
            }
            txn.insert(key, Rec::GlobalTable(Box::new(g.clone())));
            Ok(g)
        });
        let g = r?;
        ok(
            json!({"GlobalTableDescription": self.global_json(ctx, &g)}),
            Some(v),
        )
    }

    fn global_settings_json(&self, ctx: &RequestContext, g: &GlobalTableMeta) -> Value {
        let replicas: Vec<Value> = g
            .regions
            .iter()
            .map(|r| {
                let p = Partition::new(ctx.account().to_string(), r.clone());
                let t = match self.store.snapshot().get(&keys::table(&p, &g.name)) {
                    Some(Rec::Table(t)) => Some((**t).clone()),
                    _ => None,
                };
                let mut s = json!({"RegionName": r, "ReplicaStatus": "ACTIVE"});
                if let Some(t) = t {
                    let mode = if t.pay_per_request {
                        "PAY_PER_REQUEST"
                    } else {
                        "PROVISIONED"
                    };
                    s["ReplicaBillingModeSummary"] = json!({"BillingMode": mode});
                    s["ReplicaProvisionedReadCapacityUnits"] = json!(t.throughput.0);
                    s["ReplicaProvisionedWriteCapacityUnits"] = json!(t.throughput.1);
                    s["ReplicaGlobalSecondaryIndexSettings"] = Value::Array(
                        t.gsis
                            .iter()
                            .map(|i| {
                                json!({"IndexName": i.name, "IndexStatus": "ACTIVE",
                                "ProvisionedReadCapacityUnits": i.throughput.map_or(0, |x| x.0),
                                "ProvisionedWriteCapacityUnits": i.throughput.map_or(0, |x| x.1)})
                            })
                            .collect(),
                    );
                }
                s
            })
            .collect();
        json!({"GlobalTableName": g.name, "ReplicaSettings": replicas})
    }

    pub(crate) fn describe_global_table_settings(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let g = self.global(&ctx.partition, body)?;
        ok(self.global_settings_json(ctx, &g), None)
    }

    /// UpdateGlobalTableSettings: the billing mode and write capacity apply to every replica's
    /// table, read capacity per replica (`ReplicaSettingsUpdate`), in one store write.
    pub(crate) fn update_global_table_settings(
        &self,
        ctx: &RequestContext,
        body: &Value,
    ) -> DdbResult<Output> {
        let g = self.global(&ctx.partition, body)?;
        let mode = str_field(body, "GlobalTableBillingMode")?;
        if let Some(m) = mode
            && !matches!(m, "PROVISIONED" | "PAY_PER_REQUEST")
        {
            return Err(DdbError::constraint(
                m,
                "globalTableBillingMode",
                "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
            ));
        }
        let wcu = body
            .get("GlobalTableProvisionedWriteCapacityUnits")
            .and_then(Value::as_u64);
        let mut reads: Vec<(String, u64)> = Vec::new();
        if let Some(Value::Array(list)) = body.get("ReplicaSettingsUpdate") {
            for r in list {
                let region = r.get("RegionName").and_then(Value::as_str).unwrap_or("");
                if !g.regions.iter().any(|x| x == region) {
                    return Err(DdbError::new(
                        "ReplicaNotFoundException",
                        format!("Replica not found in region {region}"),
                    ));
                }
                if let Some(rcu) = r
                    .get("ReplicaProvisionedReadCapacityUnits")
                    .and_then(Value::as_u64)
                {
                    reads.push((region.to_string(), rcu));
                }
            }
        }
        let (r, v) = self.store.write(|txn| {
            for region in &g.regions {
                let p = Partition::new(ctx.account().to_string(), region.clone());
                let key = keys::table(&p, &g.name);
                let Some(Rec::Table(t)) = txn.get(&key) else {
                    continue;
                };
                let mut t = (**t).clone();
                let before = t.clone();
                match mode {
                    Some("PAY_PER_REQUEST") => {
                        t.pay_per_request = true;
                        t.throughput = (0, 0);
                    }
                    Some(_) => t.pay_per_request = false,
                    None => {}
                }
                if let Some(w) = wcu {
                    if t.pay_per_request {
                        return Err(DdbError::validation(
                            "Provisioned throughput cannot be specified for a PAY_PER_REQUEST global table",
                        ));
                    }
                    t.throughput.1 = w;
                }
                if let Some((_, rcu)) = reads.iter().find(|(r, _)| r == region) {
                    if t.pay_per_request {
                        return Err(DdbError::validation(
                            "Provisioned throughput cannot be specified for a PAY_PER_REQUEST global table",
                        ));
                    }
                    t.throughput.0 = *rcu;
                }
                if !t.pay_per_request && (t.throughput.0 == 0 || t.throughput.1 == 0) {
                    return Err(DdbError::validation(
                        "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                    ));
                }
                if t != before {
                    txn.insert(key, Rec::Table(Box::new(t)));
                }
            }
            Ok(())
        });
        r?;
        ok(self.global_settings_json(ctx, &g), Some(v))
    }
}

//! Stored definitions: saved query definitions, anomaly detectors (and their anomalies, found
//! by `anomalies.rs`), lookup tables, scheduled queries (run by `scheduled.rs`), OpenSearch
//! integrations, S3 Tables integration sources and CloudTrail Lake import tasks.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

#[path = "catalog_family.rs"]
mod family;
use family::{Family, max_results};

/// Saved query definitions per account and region (AWS's quota).
const MAX_QUERY_DEFINITIONS: usize = 1000;

/// The catalog's families: their records' kind and their not-found message.
const QUERY_DEFINITIONS: Family = Family::new(
    QUERY_DEFINITION,
    "The specified query definition does not exist.",
);
const DETECTORS: Family = Family::new(
    ANOMALY_DETECTOR,
    "The specified anomaly detector does not exist.",
);
const LOOKUP_TABLES: Family =
    Family::new(LOOKUP_TABLE, "The specified lookup table does not exist.");
const SCHEDULED_QUERIES: Family = Family::new(
    SCHEDULED_QUERY,
    "The specified scheduled query does not exist.",
);
const INTEGRATIONS: Family = Family::new(INTEGRATION, "The specified integration does not exist.");
const TABLE_SOURCES: Family = Family::new(S3_TABLE_SOURCE, "The specified source does not exist.");
const IMPORT_TASKS: Family = Family::new(IMPORT_TASK, "The specified import task does not exist.");

/// A lookup table's CSV body: its header fields and its record count.
fn table_shape(body: &str) -> (Vec<String>, usize) {
    let mut lines = body.lines().filter(|l| !l.trim().is_empty());
    let fields = lines
        .next()
        .map(|h| {
            h.split(',')
                .map(|f| f.trim().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default();
    (fields, lines.count())
}

/// Whether a schedule expression is `cron(...)` or `rate(N unit)` as AWS accepts.
pub(crate) fn valid_schedule(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let n = inner.split_whitespace().count();
        return n == 5 || n == 6;
    }
    if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let mut it = inner.split_whitespace();
        let ok_n = it
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        let ok_u = matches!(
            it.next(),
            Some("minute" | "minutes" | "hour" | "hours" | "day" | "days")
        );
        return ok_n && ok_u && it.next().is_none();
    }
    false
}

impl Logs {
    // ---- query definitions ----

    pub(crate) fn put_query_definition(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let given = str_of(v, "queryDefinitionId").map(str::to_string);
        let id = given.clone().unwrap_or_else(|| uuid(self.next_id()));
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if given.is_some() && !QUERY_DEFINITIONS.exists_txn(txn, p, &id) {
                return Err(QUERY_DEFINITIONS.missing());
            }
            if given.is_none()
                && txn
                    .scan_prefix(&resources_prefix(p, QUERY_DEFINITIONS.kind))
                    .count()
                    >= MAX_QUERY_DEFINITIONS
            {
                return Err(AwsError::new(
                    "LimitExceededException",
                    "Resource limit exceeded.",
                ));
            }
            let mut d = json!({
                "queryDefinitionId": id,
                "name": str_of(v, "name"),
                "queryString": str_of(v, "queryString"),
                "queryLanguage": str_of(v, "queryLanguage").unwrap_or("CWLI"),
                "lastModified": now,
            });
            copy_members(&mut d, v, &["logGroupNames", "parameters"]);
            res::store(txn, p, QUERY_DEFINITIONS.kind, &id, &d, now);
            Ok(())
        });
        r?;
        out(json!({ "queryDefinitionId": id }), Some(ver))
    }

    pub(crate) fn describe_query_definitions(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let prefix = str_of(v, "queryDefinitionNamePrefix");
        let lang = str_of(v, "queryLanguage");
        let max = max_results(v, 1000, 1000);
        QUERY_DEFINITIONS.list(self, p, v, max, "queryDefinitions", |_, d| {
            let ok = prefix.is_none_or(|x| d["name"].as_str().is_some_and(|n| n.starts_with(x)))
                && lang.is_none_or(|l| d["queryLanguage"] == l);
            ok.then(|| d.clone())
        })
    }

    pub(crate) fn delete_query_definition(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "queryDefinitionId").unwrap_or_default();
        let ver = QUERY_DEFINITIONS.delete(self, p, id)?;
        out(json!({ "success": true }), Some(ver))
    }

    // ---- anomaly detectors ----

    pub(crate) fn create_anomaly_detector(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let groups = crate::groups::string_list(v, "logGroupArnList");
        let snap = self.store.snapshot();
        for g in &groups {
            existing_group(&snap, p, g)?;
        }
        if let Some(f) = str_of(v, "filterPattern").filter(|f| !f.is_empty()) {
            crate::pattern::parse(f).map_err(|e| invalid(e.0))?;
        }
        drop(snap);
        let id = uuid(self.next_id());
        let arn = res::arn(p, &format!("anomaly-detector:{id}"));
        let now = self.now_ms();
        let mut d = json!({
            "anomalyDetectorArn": arn,
            "detectorName": str_of(v, "detectorName").unwrap_or(&id),
            "logGroupArnList": groups,
            "evaluationFrequency": str_of(v, "evaluationFrequency").unwrap_or("FIVE_MIN"),
            "anomalyDetectorStatus": "INITIALIZING",
            "anomalyVisibilityTime": int_of(v, "anomalyVisibilityTime").unwrap_or(21),
            "creationTimeStamp": now,
            "lastModifiedTimeStamp": now,
            "_tags": tags_of(v),
        });
        // The absolute time of the first evaluation (crate::anomalies).
        d["_next"] = json!(
            now + crate::anomalies::frequency_ms(str_of(v, "evaluationFrequency").unwrap_or(""))
        );
        copy_members(&mut d, v, &["filterPattern", "kmsKeyId"]);
        let ver = DETECTORS.put(self, p, &id, &d, now);
        out(json!({ "anomalyDetectorArn": arn }), Some(ver))
    }

    fn detector_id(v: &Value) -> String {
        id_from_arn(
            str_of(v, "anomalyDetectorArn").unwrap_or_default(),
            "anomaly-detector",
        )
    }

    pub(crate) fn get_anomaly_detector(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let d = DETECTORS.get(self, p, &Self::detector_id(v))?;
        let mut o = public(&d);
        if let Some(m) = o.as_object_mut() {
            m.remove("anomalyDetectorArn");
        }
        out(o, None)
    }

    pub(crate) fn update_anomaly_detector(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = Self::detector_id(v);
        if let Some(f) = str_of(v, "filterPattern").filter(|f| !f.is_empty()) {
            crate::pattern::parse(f).map_err(|e| invalid(e.0))?;
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = DETECTORS.get_txn(txn, p, &id)?;
            copy_members(
                &mut d,
                v,
                &[
                    "evaluationFrequency",
                    "filterPattern",
                    "anomalyVisibilityTime",
                ],
            );
            let enabled = bool_of(v, "enabled").unwrap_or(true);
            let trained = d["_periods"].as_u64().unwrap_or(0) >= crate::anomalies::TRAINING_PERIODS;
            d["anomalyDetectorStatus"] = json!(match (enabled, trained) {
                (false, _) => "PAUSED",
                (true, true) => "ANALYZING",
                (true, false) => "TRAINING",
            });
            let freq = crate::anomalies::frequency_ms(
                d["evaluationFrequency"].as_str().unwrap_or_default(),
            );
            if d["_next"].as_u64().is_none_or(|n| n > now + freq) || !enabled {
                d["_next"] = json!(now + freq);
            }
            d["lastModifiedTimeStamp"] = json!(now);
            res::store(txn, p, DETECTORS.kind, &id, &d, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn delete_anomaly_detector(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = Self::detector_id(v);
        // The detector's anomalies go with it.
        let ver = DETECTORS.delete_with(self, p, &id, |txn| {
            let prefix = format!("{id}\0");
            for (k, _) in res::all_txn(txn, p, crate::anomalies::LOG_ANOMALY) {
                if k.starts_with(&prefix) {
                    res::remove(txn, p, crate::anomalies::LOG_ANOMALY, &k);
                }
            }
        })?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_anomaly_detectors(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let filter = str_of(v, "filterLogGroupArn");
        let limit = limit_of(v, 50, 50);
        DETECTORS.list(self, p, v, limit, "anomalyDetectors", |_, d| {
            let ok = filter.is_none_or(|f| {
                d["logGroupArnList"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == f))
            });
            ok.then(|| public(d))
        })
    }

    /// Anomalies the detectors found (crate::anomalies).
    pub(crate) fn list_anomalies(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        self.anomalies(p, v)
    }

    pub(crate) fn update_anomaly(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        DETECTORS.get(self, p, &Self::detector_id(v))?;
        if str_of(v, "anomalyId").is_none() && str_of(v, "patternId").is_none() {
            return Err(invalid("Either anomalyId or patternId must be specified."));
        }
        if str_of(v, "suppressionType") == Some("LIMITED") && v.get("suppressionPeriod").is_none() {
            return Err(invalid(
                "suppressionPeriod is required when suppressionType is LIMITED.",
            ));
        }
        self.change_anomaly(p, v)
    }

    // ---- lookup tables ----

    fn table_doc(p: &Partition, name: &str, v: &Value, now: u64) -> Value {
        let body = str_of(v, "tableBody").unwrap_or_default();
        let (fields, records) = table_shape(body);
        let mut d = json!({
            "lookupTableArn": res::arn(p, &format!("lookup-table:{name}")),
            "lookupTableName": name,
            "tableBody": body,
            "tableFields": fields,
            "recordsCount": records,
            "sizeBytes": body.len(),
            "lastUpdatedTime": now,
        });
        copy_members(&mut d, v, &["description", "kmsKeyId"]);
        d
    }

    pub(crate) fn create_lookup_table(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "lookupTableName").unwrap_or_default().to_string();
        if table_shape(str_of(v, "tableBody").unwrap_or_default())
            .0
            .is_empty()
        {
            return Err(validation("The table body must be CSV with a header line."));
        }
        let now = self.now_ms();
        let mut d = Self::table_doc(p, &name, v, now);
        d["_tags"] = tags_of(v);
        let ver = LOOKUP_TABLES.create(self, p, &name, &d, now, || {
            AwsError::new(
                "ResourceAlreadyExistsException",
                "The specified lookup table already exists.",
            )
        })?;
        out(
            json!({"lookupTableArn": d["lookupTableArn"], "createdAt": now}),
            Some(ver),
        )
    }

    fn table_name(v: &Value) -> String {
        id_from_arn(
            str_of(v, "lookupTableArn").unwrap_or_default(),
            "lookup-table",
        )
    }

    pub(crate) fn get_lookup_table(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let d = LOOKUP_TABLES.get(self, p, &Self::table_name(v))?;
        let mut o = public(&d);
        if let Some(m) = o.as_object_mut() {
            m.remove("tableFields");
            m.remove("recordsCount");
        }
        out(o, None)
    }

    pub(crate) fn update_lookup_table(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = Self::table_name(v);
        if table_shape(str_of(v, "tableBody").unwrap_or_default())
            .0
            .is_empty()
        {
            return Err(validation("The table body must be CSV with a header line."));
        }
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let cur = LOOKUP_TABLES.get_txn(txn, p, &name)?;
            let mut d = Self::table_doc(p, &name, v, now);
            for k in ["_tags", "description", "kmsKeyId"] {
                if d.get(k).is_none()
                    && let Some(x) = cur.get(k)
                {
                    d[k] = x.clone();
                }
            }
            res::store(txn, p, LOOKUP_TABLES.kind, &name, &d, now);
            Ok(d["lookupTableArn"].clone())
        });
        let arn = r?;
        out(
            json!({"lookupTableArn": arn, "lastUpdatedTime": now}),
            Some(ver),
        )
    }

    pub(crate) fn delete_lookup_table(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let ver = LOOKUP_TABLES.delete(self, p, &Self::table_name(v))?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_lookup_tables(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "lookupTableNamePrefix");
        let max = max_results(v, 100, 100);
        LOOKUP_TABLES.list(self, p, v, max, "lookupTables", |id, d| {
            prefix.is_none_or(|x| id.starts_with(x)).then(|| {
                let mut o = public(d);
                if let Some(m) = o.as_object_mut() {
                    m.remove("tableBody");
                }
                o
            })
        })
    }

    // ---- scheduled queries ----

    fn sq_doc(
        &self,
        p: &Partition,
        name: &str,
        v: &Value,
        cur: Option<&Value>,
        now: u64,
    ) -> Result<Value, AwsError> {
        let expr = str_of(v, "scheduleExpression").unwrap_or_default();
        if !valid_schedule(expr) {
            return Err(validation(format!("Invalid schedule expression: {expr}")));
        }
        if let (Some(s), Some(e)) = (int_of(v, "scheduleStartTime"), int_of(v, "scheduleEndTime"))
            && e <= s
        {
            return Err(validation(
                "scheduleEndTime must be after scheduleStartTime.",
            ));
        }
        let mut d = json!({
            "name": name,
            "scheduledQueryArn": res::arn(p, &format!("scheduled-query:{name}")),
            "queryLanguage": str_of(v, "queryLanguage"),
            "queryString": str_of(v, "queryString"),
            "scheduleExpression": expr,
            "executionRoleArn": str_of(v, "executionRoleArn"),
            "state": str_of(v, "state").unwrap_or("ENABLED"),
            "timezone": str_of(v, "timezone").unwrap_or("UTC"),
            "creationTime": cur.and_then(|c| c["creationTime"].as_u64()).unwrap_or(now),
            "lastUpdatedTime": now,
        });
        copy_members(
            &mut d,
            v,
            &[
                "description",
                "logGroupIdentifiers",
                "startTimeOffset",
                "destinationConfiguration",
                "scheduleStartTime",
                "scheduleEndTime",
            ],
        );
        if let Some(t) = cur.and_then(|c| c.get("_tags")) {
            d["_tags"] = t.clone();
        } else {
            d["_tags"] = tags_of(v);
        }
        for k in ["lastExecutionStatus", "lastTriggeredTime"] {
            if let Some(x) = cur.and_then(|c| c.get(k)) {
                d[k] = x.clone();
            }
        }
        // The absolute time of the next run (crate::scheduled).
        d["_next"] = if d["state"] == "ENABLED" {
            json!(crate::scheduled::next_run(&d, now))
        } else {
            Value::Null
        };
        Ok(d)
    }

    pub(crate) fn create_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "name").unwrap_or_default().to_string();
        let now = self.now_ms();
        let d = self.sq_doc(p, &name, v, None, now)?;
        let ver = SCHEDULED_QUERIES.create(self, p, &name, &d, now, || {
            conflict("A scheduled query with this name already exists.")
        })?;
        out(
            json!({"scheduledQueryArn": d["scheduledQueryArn"], "state": d["state"]}),
            Some(ver),
        )
    }

    fn sq_name(v: &Value) -> String {
        id_from_arn(
            str_of(v, "identifier").unwrap_or_default(),
            "scheduled-query",
        )
    }

    pub(crate) fn get_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let d = SCHEDULED_QUERIES.get(self, p, &Self::sq_name(v))?;
        out(public(&d), None)
    }

    pub(crate) fn update_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = Self::sq_name(v);
        let now = self.now_ms();
        let cur = SCHEDULED_QUERIES.get(self, p, &name)?;
        let d = self.sq_doc(p, &name, v, Some(&cur), now)?;
        let ver = SCHEDULED_QUERIES.put(self, p, &name, &d, now);
        out(public(&d), Some(ver))
    }

    pub(crate) fn delete_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let ver = SCHEDULED_QUERIES.delete(self, p, &Self::sq_name(v))?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_scheduled_queries(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let state = str_of(v, "state");
        let max = max_results(v, 1000, 1000);
        SCHEDULED_QUERIES.list(self, p, v, max, "scheduledQueries", |_, d| {
            state.is_none_or(|s| d["state"] == s).then(|| {
                let mut o = json!({});
                copy_members(
                    &mut o,
                    d,
                    &[
                        "name",
                        "scheduledQueryArn",
                        "state",
                        "scheduleExpression",
                        "timezone",
                        "creationTime",
                        "lastUpdatedTime",
                        "destinationConfiguration",
                        "lastExecutionStatus",
                        "lastTriggeredTime",
                    ],
                );
                o
            })
        })
    }

    /// Runs of a scheduled query (crate::scheduled), oldest first.
    pub(crate) fn get_scheduled_query_history(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let d = SCHEDULED_QUERIES.get(self, p, &Self::sq_name(v))?;
        if int_of(v, "endTime") < int_of(v, "startTime") {
            return Err(validation("endTime must not be before startTime."));
        }
        let runs = self.scheduled_runs(p, &Self::sq_name(v), v);
        let max = max_results(v, 1000, 100);
        let from: usize = match str_of(v, "nextToken") {
            Some(t) => untoken(t)?
                .parse()
                .map_err(|_| invalid("The specified nextToken is invalid."))?,
            None => 0,
        };
        let next = (from + max < runs.len()).then(|| token(&(from + max).to_string()));
        let runs: Vec<Value> = runs.into_iter().skip(from).take(max).collect();
        let mut o = json!({"name": d["name"], "scheduledQueryArn": d["scheduledQueryArn"], "triggerHistory": runs});
        if let Some(n) = next {
            o["nextToken"] = json!(n);
        }
        out(o, None)
    }

    // ---- integrations ----

    pub(crate) fn put_integration(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "integrationName").unwrap_or_default().to_string();
        let Some(cfg) = v.pointer("/resourceConfig/openSearchResourceConfig") else {
            return Err(validation(
                "resourceConfig must contain openSearchResourceConfig.",
            ));
        };
        let now = self.now_ms();
        let d = json!({
            "integrationName": name,
            "integrationType": str_of(v, "integrationType").unwrap_or("OPENSEARCH"),
            "integrationStatus": "ACTIVE",
            "_config": cfg,
        });
        let ver = INTEGRATIONS.put(self, p, &name, &d, now);
        out(
            json!({"integrationName": name, "integrationStatus": "ACTIVE"}),
            Some(ver),
        )
    }

    pub(crate) fn get_integration(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "integrationName").unwrap_or_default();
        let d = INTEGRATIONS.get(self, p, name)?;
        let mut o = public(&d);
        o["integrationDetails"] = json!({"openSearchIntegrationDetails": {
            "dataSource": {"dataSourceName": name, "status": {"status": "ACTIVE"}},
            "application": {"applicationArn": d["_config"]["applicationArn"], "status": {"status": "ACTIVE"}},
        }});
        out(o, None)
    }

    pub(crate) fn delete_integration(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "integrationName").unwrap_or_default();
        let ver = INTEGRATIONS.delete(self, p, name)?;
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_integrations(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "integrationNamePrefix");
        let status = str_of(v, "integrationStatus");
        let kind = str_of(v, "integrationType");
        let items: Vec<Value> = all(&self.store.snapshot(), p, INTEGRATIONS.kind)
            .into_iter()
            .filter(|(id, d)| {
                prefix.is_none_or(|x| id.starts_with(x))
                    && status.is_none_or(|s| d["integrationStatus"] == s)
                    && kind.is_none_or(|k| d["integrationType"] == k)
            })
            .map(|(_, d)| public(&d))
            .collect();
        out(json!({ "integrationSummaries": items }), None)
    }

    // ---- S3 Tables integration sources ----

    pub(crate) fn associate_s3_table_source(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let integration = str_of(v, "integrationArn").unwrap_or_default();
        if !integration.starts_with("arn:") {
            return Err(validation(format!("Invalid integrationArn: {integration}")));
        }
        let id = uuid(self.next_id());
        let now = self.now_ms();
        let d = json!({
            "identifier": id,
            "dataSource": v["dataSource"],
            "status": "ACTIVE",
            "createdTimeStamp": now,
            "_integration": integration,
        });
        let ver = TABLE_SOURCES.put(self, p, &id, &d, now);
        out(json!({ "identifier": id }), Some(ver))
    }

    pub(crate) fn disassociate_s3_table_source(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "identifier").unwrap_or_default();
        let ver = TABLE_SOURCES.delete(self, p, id)?;
        out(json!({ "identifier": id }), Some(ver))
    }

    pub(crate) fn list_s3_table_sources(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let integration = str_of(v, "integrationArn").unwrap_or_default();
        let max = max_results(v, 100, 100);
        TABLE_SOURCES.list(self, p, v, max, "sources", |_, d| {
            (d["_integration"] == integration).then(|| public(d))
        })
    }

    // ---- import tasks (CloudTrail Lake event data stores) ----

    /// An import from a CloudTrail Lake event data store. CloudTrail is not served here, so the
    /// task imports nothing: it completes at once with 0 bytes, into the log group AWS names.
    pub(crate) fn create_import_task(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let source = str_of(v, "importSourceArn").unwrap_or_default();
        let store_id = source
            .strip_prefix("arn:aws:cloudtrail:")
            .and_then(|r| r.split_once(":eventdatastore/"))
            .map(|(_, id)| id.to_string())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid(format!("Invalid importSourceArn: {source}")))?;
        if let (Some(s), Some(e)) = (
            v.pointer("/importFilter/startEventTime")
                .and_then(Value::as_i64),
            v.pointer("/importFilter/endEventTime")
                .and_then(Value::as_i64),
        ) && e < s
        {
            return Err(invalid("endEventTime must not be before startEventTime."));
        }
        let id = uuid(self.next_id());
        let now = self.now_ms();
        let group = format!("aws/cloudtrail/{store_id}");
        let (r, ver) = self.store.write(|txn| {
            let busy = txn.scan_prefix(&resources_prefix(p, IMPORT_TASKS.kind)).any(|(_, r)| {
                matches!(r, LogsRecord::Resource(r) if serde_json::from_str::<Value>(&r.body).is_ok_and(|d| d["importSourceArn"] == source && d["importStatus"] == "IN_PROGRESS"))
            });
            if busy {
                return Err(conflict("An import from this source is already in progress."));
            }
            let gk = group_key(p, &group);
            if !txn.contains(&gk) {
                txn.insert(
                    gk,
                    LogsRecord::Group(GroupRec {
                        name: group.clone(),
                        created_ms: now,
                        retention_days: None,
                        kms_key_id: None,
                        class: "STANDARD".into(),
                        deletion_protection: false,
                        tags: Vec::new(),
                    }),
                );
            }
            let mut d = json!({
                "importId": id,
                "importSourceArn": source,
                "importDestinationArn": group_arn(p, &group),
                "importStatus": "COMPLETED",
                "importStatistics": {"bytesImported": 0},
                "creationTime": now,
                "lastUpdatedTime": now,
            });
            copy_members(&mut d, v, &["importFilter"]);
            res::store(txn, p, IMPORT_TASKS.kind, &id, &d, now);
            Ok(d)
        });
        let d = r?;
        out(
            json!({"importId": id, "importDestinationArn": d["importDestinationArn"], "creationTime": now}),
            Some(ver),
        )
    }

    pub(crate) fn cancel_import_task(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "importId").unwrap_or_default();
        let d = IMPORT_TASKS.get(self, p, id)?;
        if d["importStatus"] != "IN_PROGRESS" {
            return Err(AwsError::new(
                "InvalidOperationException",
                format!(
                    "The import task is {} and cannot be cancelled.",
                    d["importStatus"].as_str().unwrap_or("")
                ),
            ));
        }
        let now = self.now_ms();
        let mut d = d;
        d["importStatus"] = json!("CANCELLED");
        d["lastUpdatedTime"] = json!(now);
        let ver = IMPORT_TASKS.put(self, p, id, &d, now);
        let mut o = json!({});
        copy_members(
            &mut o,
            &d,
            &[
                "importId",
                "importStatus",
                "importStatistics",
                "creationTime",
                "lastUpdatedTime",
            ],
        );
        out(o, Some(ver))
    }

    pub(crate) fn describe_import_tasks(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (id, source, status) = (
            str_of(v, "importId"),
            str_of(v, "importSourceArn"),
            str_of(v, "importStatus"),
        );
        let limit = limit_of(v, 50, 50);
        IMPORT_TASKS.list(self, p, v, limit, "imports", |tid, d| {
            let ok = id.is_none_or(|x| x == tid)
                && source.is_none_or(|s| d["importSourceArn"] == s)
                && status.is_none_or(|s| d["importStatus"] == s);
            ok.then(|| d.clone())
        })
    }

    pub(crate) fn describe_import_task_batches(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "importId").unwrap_or_default();
        let d = IMPORT_TASKS.get(self, p, id)?;
        // The import read nothing, so it has no batches.
        out(
            json!({"importId": id, "importSourceArn": d["importSourceArn"], "importBatches": []}),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert!(valid_schedule("rate(5 minutes)"));
        assert!(valid_schedule("cron(0 12 * * ? *)"));
        assert!(!valid_schedule("rate(0 minutes)"));
        assert!(!valid_schedule("every day"));
        assert!(!valid_schedule("rate(5 fortnights)"));
    }

    #[test]
    fn lookup_table_shapes() {
        assert_eq!(
            table_shape("a,b\n1,2\n3,4\n"),
            (vec!["a".into(), "b".into()], 2)
        );
        assert_eq!(table_shape("").0.len(), 0);
    }
}

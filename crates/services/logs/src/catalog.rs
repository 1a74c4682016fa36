//! Stored definitions: saved query definitions, anomaly detectors (and their anomalies, found
//! by `anomalies.rs`), lookup tables, scheduled queries (run by `scheduled.rs`), OpenSearch
//! integrations, S3 Tables integration sources and CloudTrail Lake import tasks.

use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;

use crate::resources::{self as res, *};
use crate::*;

/// Saved query definitions per account and region (AWS's quota).
const MAX_QUERY_DEFINITIONS: usize = 1000;

fn sq_missing() -> AwsError {
    not_found("The specified scheduled query does not exist.")
}

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
            if given.is_some() && load_txn(txn, p, QUERY_DEFINITION, &id).is_none() {
                return Err(not_found("The specified query definition does not exist."));
            }
            if given.is_none()
                && txn
                    .scan_prefix(&resources_prefix(p, QUERY_DEFINITION))
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
            res::store(txn, p, QUERY_DEFINITION, &id, &d, now);
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
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(1, 1000) as usize)
            .unwrap_or(1000);
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            QUERY_DEFINITION,
            str_of(v, "nextToken"),
            max,
            |_, d| {
                let ok = prefix
                    .is_none_or(|x| d["name"].as_str().is_some_and(|n| n.starts_with(x)))
                    && lang.is_none_or(|l| d["queryLanguage"] == l);
                ok.then(|| d.clone())
            },
        )?;
        out(page(items, "queryDefinitions", next), None)
    }

    pub(crate) fn delete_query_definition(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "queryDefinitionId").unwrap_or_default();
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, QUERY_DEFINITION, id));
        if !found {
            return Err(not_found("The specified query definition does not exist."));
        }
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
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, ANOMALY_DETECTOR, &id, &d, now));
        out(json!({ "anomalyDetectorArn": arn }), Some(ver))
    }

    fn detector_id(v: &Value) -> String {
        id_from_arn(
            str_of(v, "anomalyDetectorArn").unwrap_or_default(),
            "anomaly-detector",
        )
    }

    pub(crate) fn get_anomaly_detector(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let d = res::load(
            &self.store.snapshot(),
            p,
            ANOMALY_DETECTOR,
            &Self::detector_id(v),
        )
        .ok_or_else(|| not_found("The specified anomaly detector does not exist."))?;
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
            let mut d = load_txn(txn, p, ANOMALY_DETECTOR, &id)
                .ok_or_else(|| not_found("The specified anomaly detector does not exist."))?;
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
            res::store(txn, p, ANOMALY_DETECTOR, &id, &d, now);
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
        let (found, ver) = self.store.write(|txn| {
            let prefix = format!("{id}\0");
            for (k, _) in res::all_txn(txn, p, crate::anomalies::LOG_ANOMALY) {
                if k.starts_with(&prefix) {
                    res::remove(txn, p, crate::anomalies::LOG_ANOMALY, &k);
                }
            }
            res::remove(txn, p, ANOMALY_DETECTOR, &id)
        });
        if !found {
            return Err(not_found("The specified anomaly detector does not exist."));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_anomaly_detectors(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let filter = str_of(v, "filterLogGroupArn");
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            ANOMALY_DETECTOR,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |_, d| {
                let ok = filter.is_none_or(|f| {
                    d["logGroupArnList"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == f))
                });
                ok.then(|| public(d))
            },
        )?;
        out(page(items, "anomalyDetectors", next), None)
    }

    /// Anomalies the detectors found (crate::anomalies).
    pub(crate) fn list_anomalies(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        self.anomalies(p, v)
    }

    pub(crate) fn update_anomaly(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        if res::load(
            &self.store.snapshot(),
            p,
            ANOMALY_DETECTOR,
            &Self::detector_id(v),
        )
        .is_none()
        {
            return Err(not_found("The specified anomaly detector does not exist."));
        }
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
        let (r, ver) = self.store.write(|txn| {
            if load_txn(txn, p, LOOKUP_TABLE, &name).is_some() {
                return Err(AwsError::new(
                    "ResourceAlreadyExistsException",
                    "The specified lookup table already exists.",
                ));
            }
            res::store(txn, p, LOOKUP_TABLE, &name, &d, now);
            Ok(())
        });
        r?;
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
        let d = res::load(
            &self.store.snapshot(),
            p,
            LOOKUP_TABLE,
            &Self::table_name(v),
        )
        .ok_or_else(|| not_found("The specified lookup table does not exist."))?;
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
            let cur = load_txn(txn, p, LOOKUP_TABLE, &name)
                .ok_or_else(|| not_found("The specified lookup table does not exist."))?;
            let mut d = Self::table_doc(p, &name, v, now);
            for k in ["_tags", "description", "kmsKeyId"] {
                if d.get(k).is_none()
                    && let Some(x) = cur.get(k)
                {
                    d[k] = x.clone();
                }
            }
            res::store(txn, p, LOOKUP_TABLE, &name, &d, now);
            Ok(d["lookupTableArn"].clone())
        });
        let arn = r?;
        out(
            json!({"lookupTableArn": arn, "lastUpdatedTime": now}),
            Some(ver),
        )
    }

    pub(crate) fn delete_lookup_table(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = Self::table_name(v);
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, LOOKUP_TABLE, &name));
        if !found {
            return Err(not_found("The specified lookup table does not exist."));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn describe_lookup_tables(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "lookupTableNamePrefix");
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(1, 100) as usize)
            .unwrap_or(100);
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            LOOKUP_TABLE,
            str_of(v, "nextToken"),
            max,
            |id, d| {
                prefix.is_none_or(|x| id.starts_with(x)).then(|| {
                    let mut o = public(d);
                    if let Some(m) = o.as_object_mut() {
                        m.remove("tableBody");
                    }
                    o
                })
            },
        )?;
        out(page(items, "lookupTables", next), None)
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
        let (r, ver) = self.store.write(|txn| {
            if load_txn(txn, p, SCHEDULED_QUERY, &name).is_some() {
                return Err(conflict("A scheduled query with this name already exists."));
            }
            res::store(txn, p, SCHEDULED_QUERY, &name, &d, now);
            Ok(())
        });
        r?;
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
        let d = res::load(
            &self.store.snapshot(),
            p,
            SCHEDULED_QUERY,
            &Self::sq_name(v),
        )
        .ok_or_else(sq_missing)?;
        out(public(&d), None)
    }

    pub(crate) fn update_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = Self::sq_name(v);
        let now = self.now_ms();
        let cur =
            res::load(&self.store.snapshot(), p, SCHEDULED_QUERY, &name).ok_or_else(sq_missing)?;
        let d = self.sq_doc(p, &name, v, Some(&cur), now)?;
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, SCHEDULED_QUERY, &name, &d, now));
        out(public(&d), Some(ver))
    }

    pub(crate) fn delete_scheduled_query(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = Self::sq_name(v);
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, SCHEDULED_QUERY, &name));
        if !found {
            return Err(sq_missing());
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_scheduled_queries(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let state = str_of(v, "state");
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(1, 1000) as usize)
            .unwrap_or(1000);
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            SCHEDULED_QUERY,
            str_of(v, "nextToken"),
            max,
            |_, d| {
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
            },
        )?;
        out(page(items, "scheduledQueries", next), None)
    }

    /// Runs of a scheduled query (crate::scheduled), oldest first.
    pub(crate) fn get_scheduled_query_history(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let d = res::load(
            &self.store.snapshot(),
            p,
            SCHEDULED_QUERY,
            &Self::sq_name(v),
        )
        .ok_or_else(sq_missing)?;
        if int_of(v, "endTime") < int_of(v, "startTime") {
            return Err(validation("endTime must not be before startTime."));
        }
        let runs = self.scheduled_runs(p, &Self::sq_name(v), v);
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(1, 1000) as usize)
            .unwrap_or(100);
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
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, INTEGRATION, &name, &d, now));
        out(
            json!({"integrationName": name, "integrationStatus": "ACTIVE"}),
            Some(ver),
        )
    }

    pub(crate) fn get_integration(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "integrationName").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, INTEGRATION, name)
            .ok_or_else(|| not_found("The specified integration does not exist."))?;
        let mut o = public(&d);
        o["integrationDetails"] = json!({"openSearchIntegrationDetails": {
            "dataSource": {"dataSourceName": name, "status": {"status": "ACTIVE"}},
            "application": {"applicationArn": d["_config"]["applicationArn"], "status": {"status": "ACTIVE"}},
        }});
        out(o, None)
    }

    pub(crate) fn delete_integration(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let name = str_of(v, "integrationName").unwrap_or_default();
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, INTEGRATION, name));
        if !found {
            return Err(not_found("The specified integration does not exist."));
        }
        out(json!({}), Some(ver))
    }

    pub(crate) fn list_integrations(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let prefix = str_of(v, "integrationNamePrefix");
        let status = str_of(v, "integrationStatus");
        let kind = str_of(v, "integrationType");
        let items: Vec<Value> = all(&self.store.snapshot(), p, INTEGRATION)
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
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, S3_TABLE_SOURCE, &id, &d, now));
        out(json!({ "identifier": id }), Some(ver))
    }

    pub(crate) fn disassociate_s3_table_source(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "identifier").unwrap_or_default();
        let (found, ver) = self
            .store
            .write(|txn| res::remove(txn, p, S3_TABLE_SOURCE, id));
        if !found {
            return Err(not_found("The specified source does not exist."));
        }
        out(json!({ "identifier": id }), Some(ver))
    }

    pub(crate) fn list_s3_table_sources(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let integration = str_of(v, "integrationArn").unwrap_or_default();
        let max = int_of(v, "maxResults")
            .map(|n| n.clamp(1, 100) as usize)
            .unwrap_or(100);
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            S3_TABLE_SOURCE,
            str_of(v, "nextToken"),
            max,
            |_, d| (d["_integration"] == integration).then(|| public(d)),
        )?;
        out(page(items, "sources", next), None)
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
            let busy = txn.scan_prefix(&resources_prefix(p, IMPORT_TASK)).any(|(_, r)| {
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
            res::store(txn, p, IMPORT_TASK, &id, &d, now);
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
        let d = res::load(&self.store.snapshot(), p, IMPORT_TASK, id)
            .ok_or_else(|| not_found("The specified import task does not exist."))?;
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
        let ((), ver) = self
            .store
            .write(|txn| res::store(txn, p, IMPORT_TASK, id, &d, now));
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
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            IMPORT_TASK,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |tid, d| {
                let ok = id.is_none_or(|x| x == tid)
                    && source.is_none_or(|s| d["importSourceArn"] == s)
                    && status.is_none_or(|s| d["importStatus"] == s);
                ok.then(|| d.clone())
            },
        )?;
        out(page(items, "imports", next), None)
    }

    pub(crate) fn describe_import_task_batches(
        &self,
        p: &Partition,
        v: &Value,
    ) -> Result<Out, AwsError> {
        let id = str_of(v, "importId").unwrap_or_default();
        let d = res::load(&self.store.snapshot(), p, IMPORT_TASK, id)
            .ok_or_else(|| not_found("The specified import task does not exist."))?;
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

//! The metrics AWS publishes for DynamoDB (`AWS/DynamoDB`), reported to CloudWatch once per
//! interval from counters kept in memory on the request path:
//! - `ConsumedReadCapacityUnits` / `ConsumedWriteCapacityUnits` (dimension `TableName`; a
//!   statistic set per interval: its Sum is the units consumed) of GetItem, Query, Scan and
//!   PutItem, UpdateItem, DeleteItem;
//! - `SuccessfulRequestLatency` (dimensions `TableName`, `Operation`; a statistic set, in
//!   milliseconds) of the item operations, BatchGetItem and BatchWriteItem (per table named);
//! - `ReturnedItemCount` (dimensions `TableName`, `Operation`) of Query and Scan.
//!
//! Only tables with requests in the interval report. `DYNAMODB_DISABLE_CLOUDWATCH_METRICS=1`
//! turns reporting off and `DYNAMODB_CLOUDWATCH_METRICS_REPORT_INTERVAL` (seconds, default 60)
//! sets the interval: these two names are this emulator's, after LocalStack's SQS switches. The
//! counters are never saved: a stop or a crash loses the last partial interval.

use std::cell::Cell;
use std::time::Duration;

use serde_json::Value;
use snapstack_engine::Partition;
use snapstack_service::metrics::{Datum, Report, Settings, StatSet, Tally};

pub const NAMESPACE: &str = "AWS/DynamoDB";
pub const DISABLE_VARIABLE: &str = "DYNAMODB_DISABLE_CLOUDWATCH_METRICS";
pub const INTERVAL_VARIABLE: &str = "DYNAMODB_CLOUDWATCH_METRICS_REPORT_INTERVAL";

/// The operations that report, and whether each reads (R), writes (W), or consumes no units
/// this module counts (-).
const OPS: [(&str, u8); 8] = [
    ("GetItem", b'R'),
    ("Query", b'R'),
    ("Scan", b'R'),
    ("PutItem", b'W'),
    ("UpdateItem", b'W'),
    ("DeleteItem", b'W'),
    ("BatchGetItem", b'-'),
    ("BatchWriteItem", b'-'),
];

/// The index of an operation that reports.
pub fn op_index(op: &str) -> Option<usize> {
    OPS.iter().position(|(o, _)| *o == op)
}

thread_local! {
    /// Capacity units the operation running on this thread consumed ([`note_units`]).
    static UNITS: Cell<f64> = const { Cell::new(0.0) };
}

/// Add to the units of the operation running on this thread (operations are synchronous: the
/// request that started it reads them back with [`take_units`] on the same thread).
pub fn note_units(units: f64) {
    UNITS.with(|c| c.set(c.get() + units));
}

/// The units noted since the last call, and reset.
pub fn take_units() -> f64 {
    UNITS.with(|c| c.replace(0.0))
}

/// One table's counters of an interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableCounts {
    pub read: StatSet,
    pub write: StatSet,
    pub latency: [StatSet; OPS.len()],
    pub returned: [StatSet; 2],
}

/// The counters of the DynamoDB service, and whether it reports at all.
pub struct DdbMetrics {
    pub settings: Settings,
    tally: Tally<TableCounts>,
}

impl DdbMetrics {
    pub fn from_env() -> Self {
        Self::new(Settings::from_env(DISABLE_VARIABLE, INTERVAL_VARIABLE))
    }

    pub fn new(settings: Settings) -> Self {
        DdbMetrics {
            settings,
            tally: Tally::default(),
        }
    }

    /// Counting nothing (the DynamoDB Streams view of the store).
    pub fn off() -> Self {
        Self::new(Settings {
            enabled: false,
            interval: snapstack_service::metrics::DEFAULT_INTERVAL,
        })
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// A successful request of operation `i` ([`op_index`]): its input and output, the units
    /// it consumed and how long it took.
    pub fn record(
        &self,
        p: &Partition,
        i: usize,
        input: &Value,
        output: &Value,
        units: f64,
        took: Duration,
    ) {
        let Some((_, kind)) = OPS.get(i) else { return };
        let ms = took.as_secs_f64() * 1000.0;
        if *kind == b'-' {
            // Batches: the latency of each table named.
            if let Some(tables) = input.get("RequestItems").and_then(Value::as_object) {
                for t in tables.keys() {
                    self.tally.with(p, table_name(t), |c| c.latency[i].add(ms));
                }
            }
            return;
        }
        let Some(table) = input.get("TableName").and_then(Value::as_str) else {
            return;
        };
        self.tally.with(p, table_name(table), |c| {
            c.latency[i].add(ms);
            match *kind {
                b'R' => c.read.add(units),
                _ => c.write.add(units),
            }
            if i == 1 || i == 2 {
                let n = output.get("Count").and_then(Value::as_f64).unwrap_or(0.0);
                c.returned[i - 1].add(n);
            }
        });
    }

    /// The report of the interval now ending.
    pub fn report(&self) -> Report {
        let mut report: Report = self
            .tally
            .drain()
            .into_iter()
            .map(|(p, tables)| {
                let mut names: Vec<_> = tables.into_iter().collect();
                names.sort_by(|a, b| a.0.cmp(&b.0));
                let data = names.iter().flat_map(|(t, c)| datums(t, c)).collect();
                (p, data)
            })
            .collect();
        report.sort_by(|a, b| a.0.cmp(&b.0));
        report
    }
}

/// A table's name from `TableName`, which may be its ARN.
fn table_name(t: &str) -> &str {
    match t.strip_prefix("arn:") {
        Some(rest) => rest.rsplit_once("table/").map_or(t, |(_, n)| n),
        None => t,
    }
}

/// One table's datums.
pub fn datums(table: &str, c: &TableCounts) -> Vec<Datum> {
    let dims = [("TableName", table)];
    let mut d = Vec::new();
    if !c.read.is_empty() {
        d.push(Datum::stats(
            "ConsumedReadCapacityUnits",
            &dims,
            "Count",
            c.read,
        ));
    }
    if !c.write.is_empty() {
        d.push(Datum::stats(
            "ConsumedWriteCapacityUnits",
            &dims,
            "Count",
            c.write,
        ));
    }
    for (i, s) in c.latency.iter().enumerate() {
        if !s.is_empty() {
            let dims = [("Operation", OPS[i].0), ("TableName", table)];
            d.push(Datum::stats(
                "SuccessfulRequestLatency",
                &dims,
                "Milliseconds",
                *s,
            ));
        }
    }
    for (i, s) in c.returned.iter().enumerate() {
        if !s.is_empty() {
            let dims = [("Operation", OPS[i + 1].0), ("TableName", table)];
            d.push(Datum::stats("ReturnedItemCount", &dims, "Count", *s));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use snapstack_service::metrics::Sample;

    fn sum(data: &[Datum], name: &str, op: Option<&str>) -> Option<f64> {
        data.iter()
            .find(|d| d.name == name && op.is_none_or(|o| d.dims.iter().any(|(_, v)| v == o)))
            .map(|d| match d.sample {
                Sample::Value(x) => x,
                Sample::Stats(s) => s.sum,
            })
    }

    #[test]
    fn units_latency_and_counts_per_table() {
        let m = DdbMetrics::new(Settings {
            enabled: true,
            interval: Duration::from_secs(1),
        });
        let p = Partition::new("000000000000", "us-east-1");
        let get = op_index("GetItem").unwrap();
        let put = op_index("PutItem").unwrap();
        let query = op_index("Query").unwrap();
        let batch = op_index("BatchGetItem").unwrap();
        let ms = Duration::from_millis(2);
        for _ in 0..3 {
            m.record(&p, get, &json!({"TableName": "t"}), &json!({}), 0.5, ms);
        }
        m.record(
            &p,
            put,
            &json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/t"}),
            &json!({}),
            2.0,
            ms,
        );
        m.record(
            &p,
            query,
            &json!({"TableName": "t"}),
            &json!({"Count": 7}),
            1.0,
            ms,
        );
        m.record(
            &p,
            batch,
            &json!({"RequestItems": {"t": {}, "u": {}}}),
            &json!({}),
            0.0,
            ms,
        );
        assert_eq!(op_index("ListTables"), None);
        let r = m.report();
        assert_eq!(r.len(), 1);
        let data = &r[0].1;
        assert_eq!(sum(data, "ConsumedReadCapacityUnits", None), Some(2.5));
        assert_eq!(sum(data, "ConsumedWriteCapacityUnits", None), Some(2.0));
        assert_eq!(sum(data, "ReturnedItemCount", Some("Query")), Some(7.0));
        assert_eq!(sum(data, "ReturnedItemCount", Some("Scan")), None);
        let lat = data
            .iter()
            .find(|d| d.name == "SuccessfulRequestLatency" && d.dims[0].1 == "GetItem")
            .unwrap();
        assert_eq!(
            lat.dims,
            vec![
                ("Operation", "GetItem".to_string()),
                ("TableName", "t".to_string())
            ]
        );
        let Sample::Stats(s) = lat.sample else {
            panic!()
        };
        assert_eq!(s.count, 3.0);
        assert_eq!(lat.unit, "Milliseconds");
        // The batch reported a latency for each table it named.
        assert!(
            data.iter()
                .any(|d| d.name == "SuccessfulRequestLatency" && d.dims[0].1 == "BatchGetItem")
        );
        assert!(m.report().is_empty());
    }

    #[test]
    fn units_are_per_thread_and_reset() {
        take_units();
        note_units(1.5);
        note_units(0.5);
        assert_eq!(take_units(), 2.0);
        assert_eq!(take_units(), 0.0);
    }
}

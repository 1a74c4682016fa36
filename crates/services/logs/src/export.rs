//! Export tasks to S3: CreateExportTask stores a PENDING task record; the task runs right after
//! (and, if the server stopped first, from the background task after a restart), writing the
//! events of the range as gzip objects `<prefix>/<taskId>/<stream>/000000.gz` into the bucket
//! through `Runtime::invoke(ctx, "s3", "PutObject", ...)`, one line per event
//! (`<ISO-8601 timestamp> <message>`), then COMPLETED (or FAILED with S3's error).

use std::io::Write;
use std::ops::Bound;

use base64::Engine as _;
use serde_json::{Value, json};
use snapstack_engine::Partition;
use snapstack_protocol::errors::AwsError;
use snapstack_service::{RequestContext, Runtime};

use crate::resources::{self as res, *};
use crate::*;

/// Uncompressed bytes of events in one exported object before the next one starts.
const OBJECT_BYTES: usize = 64 << 20;

pub(crate) fn ctx_for(p: &Partition) -> RequestContext {
    RequestContext {
        access_key: String::new(),
        partition: p.clone(),
        scope_service: Some(NAME.to_string()),
        request_id: uuid(sys_now_ms()),
    }
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

impl Logs {
    pub(crate) fn create_export_task(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let group = str_of(v, "logGroupName").unwrap_or_default().to_string();
        let (from, to) = (int_of(v, "from").unwrap_or(0), int_of(v, "to").unwrap_or(0));
        if to <= from {
            return Err(invalid(
                "Specified time range of 'from' and 'to' is invalid: 'to' must be after 'from'.",
            ));
        }
        let id = uuid(self.next_id());
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            if !matches!(txn.get(&group_key(p, &group)), Some(LogsRecord::Group(_))) {
                return Err(group_missing());
            }
            let active = txn.scan_prefix(&resources_prefix(p, EXPORT_TASK)).any(|(_, r)| {
                matches!(r, LogsRecord::Resource(r) if serde_json::from_str::<Value>(&r.body).is_ok_and(|d| matches!(d["status"]["code"].as_str(), Some("PENDING" | "RUNNING"))))
            });
            if active {
                return Err(AwsError::new(
                    "LimitExceededException",
                    "Resource limit exceeded.",
                ));
            }
            let mut d = json!({
                "taskId": id,
                "logGroupName": group,
                "from": from,
                "to": to,
                "destination": str_of(v, "destination"),
                "destinationPrefix": str_of(v, "destinationPrefix").unwrap_or("exportedlogs"),
                "status": {"code": "PENDING", "message": "Pending"},
                "executionInfo": {"creationTime": now},
            });
            copy_members(&mut d, v, &["taskName", "logStreamNamePrefix"]);
            res::store(txn, p, EXPORT_TASK, &id, &d, now);
            Ok(())
        });
        r?;
        out(json!({ "taskId": id }), Some(ver))
    }

    pub(crate) fn describe_export_tasks(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let (id, code) = (str_of(v, "taskId"), str_of(v, "statusCode"));
        let snap = self.store.snapshot();
        let (items, next) = page_of(
            &snap,
            p,
            EXPORT_TASK,
            str_of(v, "nextToken"),
            limit_of(v, 50, 50),
            |tid, d| {
                let ok =
                    id.is_none_or(|x| x == tid) && code.is_none_or(|c| d["status"]["code"] == c);
                ok.then(|| public(d))
            },
        )?;
        out(page(items, "exportTasks", next), None)
    }

    pub(crate) fn cancel_export_task(&self, p: &Partition, v: &Value) -> Result<Out, AwsError> {
        let id = str_of(v, "taskId").unwrap_or_default();
        let now = self.now_ms();
        let (r, ver) = self.store.write(|txn| {
            let mut d = load_txn(txn, p, EXPORT_TASK, id)
                .ok_or_else(|| not_found("The specified export task does not exist."))?;
            let code = d["status"]["code"].as_str().unwrap_or_default().to_string();
            if code != "PENDING" && code != "RUNNING" {
                return Err(AwsError::new(
                    "InvalidOperationException",
                    format!("The specified export task has already finished ({code})."),
                ));
            }
            d["status"] = json!({"code": "CANCELLED", "message": "Cancelled by user"});
            d["executionInfo"]["completionTime"] = json!(now);
            res::store(txn, p, EXPORT_TASK, id, &d, now);
            Ok(())
        });
        r?;
        out(json!({}), Some(ver))
    }

    /// Every export task still PENDING, with its partition.
    fn pending_exports(&self) -> Vec<(Partition, String)> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        for p in self.partitions() {
            for (id, d) in all(&snap, &p, EXPORT_TASK) {
                if d["status"]["code"] == "PENDING" {
                    out.push((p.clone(), id));
                }
            }
        }
        out
    }

    fn set_export_status(&self, p: &Partition, id: &str, code: &str, message: &str) -> Option<u64> {
        let now = self.now_ms();
        let (done, ver) = self.store.write(|txn| {
            let Some(mut d) = load_txn(txn, p, EXPORT_TASK, id) else {
                return false;
            };
            if d["status"]["code"] == "CANCELLED" {
                return false;
            }
            d["status"] = json!({"code": code, "message": message});
            if code != "RUNNING" {
                d["executionInfo"]["completionTime"] = json!(now);
            }
            res::store(txn, p, EXPORT_TASK, id, &d, now);
            true
        });
        done.then_some(ver)
    }

    /// The objects an export task writes: (key, gzip bytes).
    pub(crate) fn export_objects(&self, p: &Partition, d: &Value) -> Vec<(String, Vec<u8>)> {
        let id = d["taskId"].as_str().unwrap_or_default();
        let group = d["logGroupName"].as_str().unwrap_or_default();
        let prefix = d["destinationPrefix"]
            .as_str()
            .unwrap_or("exportedlogs")
            .trim_end_matches('/');
        let stream_prefix = d["logStreamNamePrefix"].as_str().unwrap_or("");
        let (from, to) = (
            d["from"].as_u64().unwrap_or(0),
            d["to"].as_u64().unwrap_or(0),
        );
        let snap = self.store.snapshot();
        let streams: Vec<String> = snap
            .scan_prefix(&streams_prefix(p, group))
            .filter_map(|(_, r)| match r {
                LogsRecord::Stream(s) if s.name.starts_with(stream_prefix) => Some(s.name.clone()),
                _ => None,
            })
            .collect();
        let mut objects = Vec::new();
        for stream in streams {
            let lo = event_key(p, group, &stream, from, 0);
            let hi = event_key(p, group, &stream, to, 0);
            let mut buf = Vec::new();
            let mut n = 0;
            let mut flush = |buf: &mut Vec<u8>, n: &mut usize| {
                if !buf.is_empty() {
                    let base = if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    };
                    objects.push((format!("{base}{id}/{stream}/{n:06}.gz"), gzip(buf)));
                    buf.clear();
                    *n += 1;
                }
            };
            for (_, r) in snap.range((Bound::Included(lo), Bound::Excluded(hi))) {
                if let LogsRecord::Event(e) = r {
                    buf.extend_from_slice(
                        snapstack_protocol::codec::time::iso8601_ms(e.timestamp).as_bytes(),
                    );
                    buf.push(b' ');
                    buf.extend_from_slice(e.message.as_bytes());
                    buf.push(b'\n');
                    if buf.len() >= OBJECT_BYTES {
                        flush(&mut buf, &mut n);
                    }
                }
            }
            flush(&mut buf, &mut n);
        }
        objects
    }

    /// Run one export task: write its objects, then mark it COMPLETED or FAILED.
    pub(crate) async fn run_export(
        &self,
        rt: &dyn Runtime,
        p: &Partition,
        id: &str,
    ) -> Option<u64> {
        let d = res::load(&self.store.snapshot(), p, EXPORT_TASK, id)?;
        if d["status"]["code"] != "PENDING" {
            return None;
        }
        self.set_export_status(p, id, "RUNNING", "Started successfully");
        let bucket = d["destination"].as_str().unwrap_or_default().to_string();
        let ctx = ctx_for(p);
        let mut failure = None;
        for (key, body) in self.export_objects(p, &d) {
            let input = json!({
                "Bucket": bucket,
                "Key": key,
                "Body": base64::engine::general_purpose::STANDARD.encode(&body),
                "ContentEncoding": "gzip",
                "ContentType": "application/octet-stream",
            });
            if let Err(e) = rt.invoke(&ctx, "s3", "PutObject", input).await {
                failure = Some(format!("{}: {}", e.code, e.message));
                break;
            }
        }
        match failure {
            None => self.set_export_status(p, id, "COMPLETED", "Completed successfully"),
            Some(m) => self.set_export_status(p, id, "FAILED", &m),
        }
    }

    /// Run every PENDING export task (after a CreateExportTask, and after a restart).
    pub(crate) async fn run_pending_exports(&self, rt: &dyn Runtime) -> Option<u64> {
        let mut last = None;
        for (p, id) in self.pending_exports() {
            if let Some(v) = self.run_export(rt, &p, &id).await {
                last = Some(v);
            }
        }
        last
    }

    /// CreateExportTask checks the bucket before it accepts the task, as AWS does.
    pub(crate) async fn check_export_bucket(
        &self,
        rt: &dyn Runtime,
        ctx: &RequestContext,
        v: &Value,
    ) -> Result<(), AwsError> {
        let bucket = str_of(v, "destination").unwrap_or_default();
        match rt
            .invoke(ctx, "s3", "HeadBucket", json!({"Bucket": bucket}))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status.as_u16() >= 500 && e.code != "NotImplemented" => {
                Err(AwsError::internal(
                    "ServiceUnavailableException",
                    format!("The bucket could not be checked: {}", e.message),
                ))
            }
            Err(_) => Err(invalid(
                "The given bucket does not exist or CloudWatch Logs does not have permission to write to it. Please make sure the bucket is valid and its policy grants logs.amazonaws.com s3:GetBucketAcl and s3:PutObject.",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trip() {
        let z = gzip(b"hello\n");
        let mut s = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello\n");
    }
}

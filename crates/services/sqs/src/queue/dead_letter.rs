//! Dead-letter queues: ListDeadLetterSourceQueues, and the message move tasks that send a
//! dead-letter queue's messages back (StartMessageMoveTask, ListMessageMoveTasks,
//! CancelMessageMoveTask).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use snapstack_engine::Partition;

use super::{enqueue, max_results, name_of_token, parse_arn, redrive_of, retention_ms};
use crate::model::{self, MessageRec, MoveTask, Rec};
use crate::{Out, Req, Sqs, SqsError};

const MOVE_TASKS_KEPT: usize = 10;

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListSourcesInput {
    queue_url: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct StartMoveInput {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    max_number_of_messages_per_second: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ListMovesInput {
    source_arn: Option<String>,
    #[serde(default, deserialize_with = "crate::json::lenient_int")]
    max_results: Option<i64>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMoveInput {
    task_handle: Option<String>,
}

impl Sqs {
    pub(crate) fn list_dead_letter_sources(
        &self,
        req: &Req<'_>,
        input: ListSourcesInput,
    ) -> Result<Out, SqsError> {
        let (p, q) = self.queue_at(req, input.queue_url.as_deref())?;
        let limit = max_results(input.max_results)?;
        let after = input.next_token.as_deref().map(name_of_token).transpose()?;
        let me = (p.clone(), q.name.clone());
        let (urls, next) = self.queue_page(req, &p, after.as_deref(), limit, None, |src| {
            redrive_of(src).is_some_and(|r| r.target == me)
        });
        let mut out = Map::new();
        out.insert("queueUrls".into(), Value::from(urls));
        if let Some(t) = next {
            out.insert("NextToken".into(), Value::String(t));
        }
        Ok(Out::read(Value::Object(out)))
    }

    /// StartMessageMoveTask: moves every message of a dead-letter queue back to its source queues
    /// (or to `DestinationArn`) at once, and records the task as completed.
    pub(crate) fn start_move_task(
        &self,
        req: &Req<'_>,
        input: StartMoveInput,
    ) -> Result<Out, SqsError> {
        let source_arn = input
            .source_arn
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let (sp, sname) = parse_arn(&source_arn)
            .ok_or_else(|| SqsError::invalid_parameter("Invalid value for SourceArn."))?;
        let dest =
            match &input.destination_arn {
                Some(d) => Some(parse_arn(d).ok_or_else(|| {
                    SqsError::invalid_parameter("Invalid value for DestinationArn.")
                })?),
                None => None,
            };
        if let Some(n) = input.max_number_of_messages_per_second
            && !(1..=500).contains(&n)
        {
            return Err(SqsError::invalid_parameter(
                "Value for MaxNumberOfMessagesPerSecond must be an integer from 1 to 500.",
            ));
        }
        let now = self.now();
        let handle = format!("{}-{:016x}", req.ctx.request_id, self.next_nonce());
        let (r, version) = self.store.write(|t| -> Result<Vec<(Partition, String)>, SqsError> {
            let skey = model::queue_key(&sp, &sname);
            let Some(Rec::Queue(src)) = t.get(&skey) else {
                return Err(SqsError::not_found("The resource that you specified for the SourceArn parameter doesn't exist."));
            };
            let mut src = src.clone();
            let is_dlq = t.scan_prefix(&model::queues_prefix(&sp)).any(|(_, r)| {
                matches!(r, Rec::Queue(q) if redrive_of(q).is_some_and(|r| r.target == (sp.clone(), sname.clone())))
            });
            if !is_dlq {
                return Err(SqsError::invalid_parameter(
                    "Source queue must be configured as a Dead Letter Queue.",
                ));
            }
            if let Some((dp, dn)) = &dest
                && !matches!(t.get(&model::queue_key(dp, dn)), Some(Rec::Queue(_)))
            {
                return Err(SqsError::not_found("The resource that you specified for the DestinationArn parameter doesn't exist."));
            }
            let msgs: Vec<(snapstack_engine::Key, MessageRec)> = t
                .scan_prefix(&model::messages_prefix(&sp, &sname))
                .filter_map(|(k, r)| match r {
                    Rec::Message(m) if m.sent_ms.saturating_add(retention_ms(&src)) > now => {
                        Some((k.clone(), m.clone()))
                    }
                    _ => None,
                })
                .collect();
            let to_move = msgs.len() as u64;
            let mut moved = 0;
            let mut woken = Vec::new();
            for (k, m) in msgs {
                let target = match &dest {
                    Some(d) => Some(d.clone()),
                    None => m.dead_letter_source.as_deref().and_then(parse_arn),
                };
                let Some((tp, tn)) = target else { continue };
                let mut m = m;
                m.dead_letter_source = None;
                m.in_flight = false;
                m.visible_at = now;
                m.receipt_nonce = None;
                // A moved message starts over in its new queue.
                m.receive_count = 0;
                m.first_receive_ms = None;
                if enqueue(t, &tp, &tn, m).is_some() {
                    t.remove(&k);
                    moved += 1;
                    woken.push((tp, tn));
                }
            }
            src.move_tasks.push(MoveTask {
                handle: handle.clone(),
                status: "COMPLETED".into(),
                source_arn: source_arn.clone(),
                destination_arn: input.destination_arn.clone(),
                max_per_second: input.max_number_of_messages_per_second,
                moved,
                to_move,
                started_ms: now,
            });
            if src.move_tasks.len() > MOVE_TASKS_KEPT {
                let extra = src.move_tasks.len() - MOVE_TASKS_KEPT;
                src.move_tasks.drain(..extra);
            }
            t.insert(skey, Rec::Queue(src));
            Ok(woken)
        });
        for (p, n) in r? {
            self.wake(&p, &n);
        }
        Ok(Out::write(json!({ "TaskHandle": handle }), Some(version)))
    }

    pub(crate) fn list_move_tasks(
        &self,
        _req: &Req<'_>,
        input: ListMovesInput,
    ) -> Result<Out, SqsError> {
        let source_arn = input
            .source_arn
            .ok_or_else(|| SqsError::missing("SourceArn"))?;
        let (sp, sname) = parse_arn(&source_arn)
            .ok_or_else(|| SqsError::invalid_parameter("Invalid value for SourceArn."))?;
        let limit = match input.max_results {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(n) => {
                return Err(SqsError::invalid_parameter(format!(
                    "Value {n} for parameter MaxResults is invalid. Reason: must be between 1 and 10."
                )));
            }
        };
        let Some(Rec::Queue(q)) = self
            .store
            .snapshot()
            .get(&model::queue_key(&sp, &sname))
            .cloned()
        else {
            return Err(SqsError::not_found(
                "The resource that you specified for the SourceArn parameter doesn't exist.",
            ));
        };
        let results: Vec<Value> = q
            .move_tasks
            .iter()
            .rev()
            .take(limit)
            .map(|m| {
                let mut e = Map::new();
                e.insert("Status".into(), json!(m.status));
                e.insert("SourceArn".into(), json!(m.source_arn));
                if let Some(d) = &m.destination_arn {
                    e.insert("DestinationArn".into(), json!(d));
                }
                if let Some(n) = m.max_per_second {
                    e.insert("MaxNumberOfMessagesPerSecond".into(), json!(n));
                }
                e.insert("ApproximateNumberOfMessagesMoved".into(), json!(m.moved));
                e.insert("ApproximateNumberOfMessagesToMove".into(), json!(m.to_move));
                e.insert("StartedTimestamp".into(), json!(m.started_ms));
                Value::Object(e)
            })
            .collect();
        Ok(Out::read(json!({ "Results": results })))
    }

    pub(crate) fn cancel_move_task(
        &self,
        _req: &Req<'_>,
        input: CancelMoveInput,
    ) -> Result<Out, SqsError> {
        let handle = input
            .task_handle
            .ok_or_else(|| SqsError::missing("TaskHandle"))?;
        // Moves complete within the request that starts them: there is never a running task.
        Err(SqsError::not_found(format!(
            "Task does not exist or is not running: {handle}"
        )))
    }
}

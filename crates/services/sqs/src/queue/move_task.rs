//! Message move tasks: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.
//!
//! A task moves the messages of a dead-letter queue back to their source queues (or to
//! `DestinationArn`) over time, at `MaxNumberOfMessagesPerSecond` (when unset, AWS picks the
//! rate itself from the backlog; here the highest rate it allows, [`DEFAULT_RATE`]). The task is
//! records: its progress (`MoveTask` in the queue's record: status, messages moved and to move)
//! and its schedule ([`MoveRunRec`]: when the next messages are due, an absolute deadline).
//! [`Sqs::step_move_tasks`], run by the service's background task, moves what is due; nothing
//! lives only in memory but an index of the running tasks, rebuilt from the records by a full
//! scan ([`Sqs::rescan_move_tasks`]) after a load and now and then. A restart therefore resumes
//! every running task where it was, at its rate.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use snapstack_engine::{Partition, Txn};

use super::{enqueue, parse_arn, redrive_of, retention_ms};
use crate::model::{self, MoveRunRec, MoveTask, Rec};
use crate::{Out, Req, Sqs, SqsError};

/// How many finished tasks a queue keeps listing (ListMessageMoveTasks shows the latest 10).
const MOVE_TASKS_KEPT: usize = 10;
/// The rate of a task started without `MaxNumberOfMessagesPerSecond`.
pub const DEFAULT_RATE: u64 = 500;
const RUNNING: &str = "RUNNING";

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

/// One running task, as the in-memory index names it.
pub(crate) type RunId = (Partition, String, String);

/// The milliseconds `n` messages take at `rate` per second.
fn span_ms(n: u64, rate: u64) -> u64 {
    (n.saturating_mul(1000)).div_ceil(rate.max(1))
}

fn rate_of(t: &MoveTask) -> u64 {
    t.max_per_second
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_RATE)
}

/// What one step of a task did.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Stepped {
    /// Queues that got messages (their long polls are woken).
    pub woken: Vec<(Partition, String)>,
    /// Whether the task still runs.
    pub running: bool,
}

impl Sqs {
    /// StartMessageMoveTask: records a RUNNING task on the dead-letter queue; its messages move
    /// over time ([`Sqs::step_move_tasks`]).
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
        let (r, version) = self.store.write(|t| -> Result<(), SqsError> {
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
            if src.move_tasks.iter().any(|m| m.status == RUNNING) {
                return Err(SqsError::invalid_parameter(
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
                ));
            }
            let retention = retention_ms(&src);
            let to_move = t
                .scan_prefix(&model::messages_prefix(&sp, &sname))
                .filter(|(_, r)| {
                    r.message().is_some_and(|m| m.sent_ms.saturating_add(retention) > now)
                })
                .count() as u64;
            let task = MoveTask {
                handle: handle.clone(),
                status: RUNNING.into(),
                source_arn: source_arn.clone(),
                destination_arn: input.destination_arn.clone(),
                max_per_second: input.max_number_of_messages_per_second,
                moved: 0,
                to_move,
                started_ms: now,
            };
            let first_due = now.saturating_add(span_ms(1, rate_of(&task)));
            src.move_tasks.push(task);
            trim_tasks(t, &sp, &mut src);
            t.insert(skey, Rec::Queue(src));
            t.insert(
                model::move_run_key(&sp, &sname, &handle),
                Rec::MoveRun(MoveRunRec {
                    handle: handle.clone(),
                    next_at: first_due,
                    failure_reason: None,
                }),
            );
            Ok(())
        });
        r?;
        self.note_move_run((sp, sname, handle.clone()));
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
        let snap = self.store.snapshot();
        let Some(Rec::Queue(q)) = snap.get(&model::queue_key(&sp, &sname)) else {
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
                // Only a running task is named by its handle (it is what CancelMessageMoveTask
                // takes).
                if m.status == RUNNING {
                    e.insert("TaskHandle".into(), json!(m.handle));
                }
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
                if m.status == "FAILED"
                    && let Some(Rec::MoveRun(run)) =
                        snap.get(&model::move_run_key(&sp, &sname, &m.handle))
                    && let Some(reason) = &run.failure_reason
                {
                    e.insert("FailureReason".into(), json!(reason));
                }
                e.insert("StartedTimestamp".into(), json!(m.started_ms));
                Value::Object(e)
            })
            .collect();
        Ok(Out::read(json!({ "Results": results })))
    }

    /// CancelMessageMoveTask: a running task stops where it is (the messages it moved stay
    /// moved) and is listed as CANCELLED.
    pub(crate) fn cancel_move_task(
        &self,
        req: &Req<'_>,
        input: CancelMoveInput,
    ) -> Result<Out, SqsError> {
        let handle = input
            .task_handle
            .ok_or_else(|| SqsError::missing("TaskHandle"))?;
        let p = req.ctx.partition.clone();
        let (r, version) = self.store.write(|t| -> Result<(String, u64), SqsError> {
            let found = t
                .scan_prefix(&model::queues_prefix(&p))
                .find_map(|(k, r)| match r {
                    Rec::Queue(q) if q.move_tasks.iter().any(|m| m.handle == handle) => {
                        Some((k.clone(), q.clone()))
                    }
                    _ => None,
                });
            let Some((qkey, mut q)) = found else {
                return Err(not_running(&handle));
            };
            let Some(task) = q
                .move_tasks
                .iter_mut()
                .find(|m| m.handle == handle && m.status == RUNNING)
            else {
                return Err(not_running(&handle));
            };
            task.status = "CANCELLED".into();
            let moved = task.moved;
            let name = q.name.clone();
            t.insert(qkey, Rec::Queue(q));
            t.remove(&model::move_run_key(&p, &name, &handle));
            Ok((name, moved))
        });
        let (name, moved) = r?;
        self.forget_move_run(&(p, name, handle));
        Ok(Out::write(
            json!({ "ApproximateNumberOfMessagesMoved": moved }),
            Some(version),
        ))
    }

    /// Move the messages that are due of one running task (`running: false` once it is not
    /// running any more, or its queue is gone).
    pub(crate) fn step_move_task(&self, id: &RunId, now: u64) -> Stepped {
        let (p, queue, handle) = id;
        let (stepped, _) = self.store.write(|t| step(t, p, queue, handle, now));
        for (tp, tn) in &stepped.woken {
            self.wake(tp, tn);
        }
        stepped
    }

    /// One step of every running task the index knows (what the background task runs).
    pub fn step_move_tasks(&self) -> usize {
        let now = self.now();
        let ids: Vec<RunId> = self
            .move_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut running = 0;
        for id in ids {
            if self.step_move_task(&id, now).running {
                running += 1;
            } else {
                self.forget_move_run(&id);
            }
        }
        running
    }

    /// Rebuild the index of running tasks from the records (after a load, and now and then:
    /// a state import or a pod load replaces the records under the index).
    pub fn rescan_move_tasks(&self) {
        let snap = self.store.snapshot();
        let mut found = std::collections::BTreeSet::new();
        for (k, r) in snap.iter() {
            let Rec::MoveRun(run) = r else { continue };
            if run.failure_reason.is_some() {
                continue;
            }
            let (Some(p), Some(parts)) = (model::partition_of(k), k.parts()) else {
                continue;
            };
            if let [_, _, _, snapstack_engine::key::Part::Str(queue), ..] = parts.as_slice() {
                found.insert((p, queue.clone(), run.handle.clone()));
            }
        }
        *self.move_runs.lock().unwrap_or_else(|e| e.into_inner()) = found;
    }

    fn note_move_run(&self, id: RunId) {
        self.move_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
    }

    fn forget_move_run(&self, id: &RunId) {
        self.move_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

fn not_running(handle: &str) -> SqsError {
    SqsError::not_found(format!("Task does not exist or is not running: {handle}"))
}

/// Keep the latest [`MOVE_TASKS_KEPT`] tasks of a queue (and drop the records of the others).
fn trim_tasks(t: &mut Txn<'_, Rec>, p: &Partition, q: &mut model::QueueRec) {
    if q.move_tasks.len() > MOVE_TASKS_KEPT {
        let extra = q.move_tasks.len() - MOVE_TASKS_KEPT;
        for old in q.move_tasks.drain(..extra) {
            t.remove(&model::move_run_key(p, &q.name, &old.handle));
        }
    }
}

/// Why a task failed, in AWS's words.
const NO_SOURCE: &str = "CouldNotDetermineMessageSource";
const NO_DESTINATION: &str = "AWS.SimpleQueueService.NonExistentQueue";

/// One step of a task, inside a write.
fn step(t: &mut Txn<'_, Rec>, p: &Partition, queue: &str, handle: &str, now: u64) -> Stepped {
    let rkey = model::move_run_key(p, queue, handle);
    let Some(Rec::MoveRun(run)) = t.get(&rkey) else {
        return Stepped::default();
    };
    let mut run = run.clone();
    let qkey = model::queue_key(p, queue);
    let Some(Rec::Queue(q)) = t.get(&qkey) else {
        // The queue was deleted, and its tasks with it.
        t.remove(&rkey);
        return Stepped::default();
    };
    let mut q = q.clone();
    let Some(ti) = q
        .move_tasks
        .iter()
        .position(|m| m.handle == handle && m.status == RUNNING)
    else {
        if run.failure_reason.is_none() {
            t.remove(&rkey);
        }
        return Stepped::default();
    };
    if run.next_at > now {
        return Stepped {
            woken: Vec::new(),
            running: true,
        };
    }
    let task = q.move_tasks[ti].clone();
    let rate = rate_of(&task);
    let due = ((now - run.next_at).saturating_mul(rate) / 1000)
        .saturating_add(1)
        // At most a second's worth per step: a task that fell behind (the server was down)
        // goes on at its rate, not in one burst of all it missed.
        .min(rate)
        .min(task.to_move.saturating_sub(task.moved));
    let dest = task.destination_arn.as_deref().and_then(parse_arn);
    let retention = retention_ms(&q);
    // The messages available now (not in flight, not expired), oldest first.
    // Sealed bodies move as they are: the key that sealed them is named in the record.
    let batch: Vec<(snapstack_engine::Key, Rec)> = t
        .scan_prefix(&model::messages_prefix(p, queue))
        .filter(|(_, r)| {
            r.message().is_some_and(|m| {
                m.sent_ms.saturating_add(retention) > now && !(m.in_flight && m.visible_at > now)
            })
        })
        .map(|(k, r)| (k.clone(), r.clone()))
        .take(due as usize)
        .collect();
    let mut woken = Vec::new();
    let mut moved = 0;
    let mut failure = None;
    for (k, mut rec) in batch {
        let Some(m) = rec.message_mut() else { continue };
        let target = match &dest {
            Some(d) => Some(d.clone()),
            None => m.dead_letter_source.as_deref().and_then(parse_arn),
        };
        let Some((tp, tn)) = target else {
            failure = Some(NO_SOURCE);
            break;
        };
        m.dead_letter_source = None;
        m.in_flight = false;
        m.visible_at = now;
        m.receipt_nonce = None;
        // A moved message starts over in its new queue.
        m.receive_count = 0;
        m.first_receive_ms = None;
        // The source queue's record may be the one enqueue updates (a task whose destination
        // is its own source): write ours back first, re-read it after.
        if enqueue(t, &tp, &tn, rec).is_none() {
            failure = Some(NO_DESTINATION);
            break;
        }
        t.remove(&k);
        moved += 1;
        if !woken.contains(&(tp.clone(), tn.clone())) {
            woken.push((tp, tn));
        }
    }
    // `enqueue` may have rewritten this queue's record (its sequence counter): start from it.
    if let Some(Rec::Queue(fresh)) = t.get(&qkey) {
        let tasks = std::mem::take(&mut q.move_tasks);
        q = fresh.clone();
        q.move_tasks = tasks;
    }
    let task = &mut q.move_tasks[ti];
    task.moved += moved;
    let left = t
        .scan_prefix(&model::messages_prefix(p, queue))
        .any(|(_, r)| {
            r.message()
                .is_some_and(|m| m.sent_ms.saturating_add(retention) > now)
        });
    let running = if let Some(reason) = failure {
        task.status = "FAILED".into();
        run.failure_reason = Some(reason.to_string());
        run.next_at = u64::MAX;
        t.insert(rkey, Rec::MoveRun(run));
        false
    } else if task.moved >= task.to_move || !left {
        task.status = "COMPLETED".into();
        t.remove(&rkey);
        false
    } else {
        let next = run.next_at.saturating_add(span_ms(moved.max(1), rate));
        // A task that fell far behind (the server was down) does not owe the time it missed.
        run.next_at = next.max(now.saturating_sub(1000));
        t.insert(rkey, Rec::MoveRun(run));
        true
    };
    t.insert(qkey, Rec::Queue(q));
    Stepped { woken, running }
}

#[cfg(test)]
#[path = "move_task_tests.rs"]
mod tests;

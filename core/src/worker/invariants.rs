//! The worker's invariants, checked after every step in debug builds.

use super::task::{ChannelState, Role, Task};
use super::{Record, TaskPhase, Worker};
use crate::property::{Property, Violation};
use crate::types::Epoch;
use std::collections::{BTreeMap, BTreeSet};

impl Worker {
    /// Checks the worker's invariants, at a cost that does not grow with the records its
    /// tasks hold (debug builds run it after every step); the error names the [`Property`]
    /// that broke and what was seen. [`Worker::check_invariants_full`] adds the checks that
    /// look at every record held.
    ///
    /// - sources: only a source can have its input ended;
    /// - alignment: a blocked channel's barrier is newer than the task's last aligned one and
    ///   not newer than the channel's last barrier; an ended channel holds nothing; a task
    ///   past a final barrier has every input ended and its outputs closed;
    /// - snapshots: none is awaited for an aborted epoch or an epoch not yet aligned; a task
    ///   that has ended awaits none and holds nothing;
    /// - sinks: every record a sink took is exactly once held, committed, written or
    ///   dropped (so none is committed twice), by the counters of its ledger, which move
    ///   with the records; pre-commits are in epoch order, newer than the last commit, and
    ///   not newer than the last aligned barrier;
    /// - epochs: nothing committed, checkpointed or aborted is newer than the newest epoch
    ///   heard of, no aborted epoch is committed.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        if self.committed_through > self.last_epoch {
            return Err(Violation::new(
                Property::WorkerAccounting,
                format!(
                    "committed through {:?} beyond the last epoch {:?}",
                    self.committed_through, self.last_epoch
                ),
            ));
        }
        if self.last_checkpoint > self.last_epoch {
            return Err(Violation::new(
                Property::WorkerAccounting,
                "a checkpoint newer than the last epoch",
            ));
        }
        if let Some(&a) = self.aborted.first() {
            if self.committed_through.is_some_and(|c| a <= c) {
                return Err(Violation::new(
                    Property::ExactlyOnce,
                    format!("aborted epoch {a} is not newer than the last commit"),
                ));
            }
        }
        if !self.tasks.windows(2).all(|w| w[0].id < w[1].id) {
            return Err(Violation::new(
                Property::WorkerAccounting,
                "tasks out of order",
            ));
        }
        for task in &self.tasks {
            self.check_task(task).map_err(|v| {
                Violation::new(v.property, format!("task {}: {}", task.id, v.detail))
            })?;
        }
        Ok(())
    }

    fn check_task(&self, task: &Task) -> Result<(), Violation> {
        if task.is_source() != task.inputs.is_empty() {
            return Err(Violation::new(
                Property::WorkerAccounting,
                "a source has inputs, or another task has none",
            ));
        }
        if task.input_ended && !task.is_source() {
            return Err(Violation::new(
                Property::WorkerAccounting,
                "a task other than a source has its input ended",
            ));
        }
        if task.last_aligned > self.last_epoch {
            return Err(Violation::new(
                Property::BarrierAlignment,
                "aligned an epoch newer than the last heard of",
            ));
        }
        for &epoch in task.pending.keys() {
            if Some(epoch) > task.last_aligned {
                return Err(Violation::new(
                    Property::BarrierAlignment,
                    format!("awaits a snapshot of {epoch}, not yet aligned"),
                ));
            }
            if self.aborted.contains(&epoch) {
                return Err(Violation::new(
                    Property::WorkerAccounting,
                    format!("awaits a snapshot of aborted {epoch}"),
                ));
            }
        }
        for ch in &task.inputs {
            if ch.local && ch.next_seq != 0 {
                return Err(Violation::new(
                    Property::WorkerAccounting,
                    format!("local channel from {} numbered like a remote one", ch.from),
                ));
            }
            match ch.state {
                ChannelState::Ended if !ch.queue.is_empty() => {
                    return Err(Violation::new(
                        Property::WorkerAccounting,
                        format!("ended channel from {} holds items", ch.from),
                    ));
                }
                ChannelState::Blocked { epoch, .. } => {
                    if Some(epoch) <= task.last_aligned {
                        return Err(Violation::new(
                            Property::BarrierAlignment,
                            format!("blocked on {epoch}, already aligned"),
                        ));
                    }
                    if Some(epoch) > ch.last_barrier {
                        return Err(Violation::new(
                            Property::BarrierAlignment,
                            format!("blocked on {epoch}, never received"),
                        ));
                    }
                }
                _ => {}
            }
        }
        match task.phase {
            TaskPhase::Finished | TaskPhase::Failed => {
                if !task.pending.is_empty() || task.queued() != 0 || !task.outputs_closed {
                    return Err(Violation::new(
                        Property::WorkerAccounting,
                        "ended, yet still holds work",
                    ));
                }
            }
            TaskPhase::FinalCheckpoint { epoch, .. } | TaskPhase::Halted { epoch } => {
                if !task.outputs_closed || !task.all_inputs_ended() {
                    return Err(Violation::new(
                        Property::BarrierAlignment,
                        "past a final barrier, yet a channel is open",
                    ));
                }
                if task.last_aligned != Some(epoch) {
                    return Err(Violation::new(
                        Property::BarrierAlignment,
                        "final barrier is not the last aligned",
                    ));
                }
                let halted = matches!(task.phase, TaskPhase::Halted { .. });
                if !halted && self.aborted.contains(&epoch) {
                    return Err(Violation::new(
                        Property::WorkerAccounting,
                        "still in a final checkpoint that was aborted",
                    ));
                }
                // A commit forgets the aborted epochs up to it, and the oldest are forgotten
                // when too many pile up; otherwise a halted task's epoch is remembered.
                let forgotten = self.committed_through.is_some_and(|c| epoch <= c)
                    || self.aborted.len() >= super::MAX_ABORTED;
                if halted && !self.aborted.contains(&epoch) && !forgotten {
                    return Err(Violation::new(
                        Property::WorkerAccounting,
                        "halted without an abort",
                    ));
                }
            }
            TaskPhase::Running => {}
        }
        if let Role::Sink(sink) = &task.role {
            sink.balance()
                .map_err(|e| Violation::new(Property::ExactlyOnce, e))?;
            let mut last: Option<Epoch> = None;
            for txn in sink.sealed() {
                if last.is_some_and(|l| txn.epoch <= l) {
                    return Err(Violation::new(
                        Property::ExactlyOnce,
                        "pre-commits out of epoch order",
                    ));
                }
                last = Some(txn.epoch);
                if self.committed_through.is_some_and(|c| txn.epoch <= c) {
                    return Err(Violation::new(
                        Property::ExactlyOnce,
                        format!("pre-commit {} not committed by its commit", txn.epoch),
                    ));
                }
                if Some(txn.epoch) > task.last_aligned {
                    return Err(Violation::new(
                        Property::BarrierAlignment,
                        format!("pre-commit {} before its barrier", txn.epoch),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Worker::check_invariants`], and the checks that look at every record and key held:
    /// a sink's records are distinct and in offset order per partition within each
    /// transaction, and its ledger's count of them is right; a keyed task's counts add up to
    /// what it restored and took. Its cost grows with what the tasks hold: for tests, at
    /// checkpoints or after a run, not after every step.
    pub fn check_invariants_full(&self) -> Result<(), Violation> {
        self.check_invariants()?;
        for task in &self.tasks {
            check_held(task).map_err(|v| {
                Violation::new(v.property, format!("task {}: {}", task.id, v.detail))
            })?;
        }
        Ok(())
    }
}

/// The records and keys task `task` holds.
fn check_held(task: &Task) -> Result<(), Violation> {
    match &task.role {
        Role::Sink(sink) => {
            sink.recount()
                .map_err(|e| Violation::new(Property::ExactlyOnce, e))?;
            let mut seen = BTreeSet::new();
            let open = [sink.open()];
            for records in sink.sealed().iter().map(|t| &t.records[..]).chain(open) {
                check_offset_order(records)?;
                for r in records {
                    if !seen.insert(*r) {
                        return Err(Violation::new(
                            Property::ExactlyOnce,
                            format!("holds record {r} twice"),
                        ));
                    }
                }
            }
            Ok(())
        }
        Role::Keyed(state) => state
            .recount()
            .map_err(|e| Violation::new(Property::ExactlyOnce, e)),
        Role::Source { .. } | Role::Transform => Ok(()),
    }
}

fn check_offset_order(records: &[Record]) -> Result<(), Violation> {
    let mut high: BTreeMap<_, u64> = BTreeMap::new();
    for r in records {
        if high.get(&r.partition).is_some_and(|&h| r.offset <= h) {
            return Err(Violation::new(
                Property::ExactlyOnce,
                format!("record {r} out of offset order in a transaction"),
            ));
        }
        high.insert(r.partition, r.offset);
    }
    Ok(())
}

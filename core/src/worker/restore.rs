//! A worker of a new generation starts from a checkpoint: its tasks' snapshots, checked.

use super::keyed::check_restored_counts;
#[cfg(feature = "mutants")]
use super::mutants::WorkerMutant;
use super::task::Role;
use super::{Restore, TaskSnapshot, Transaction, Worker, WorkerError};
use crate::types::{Epoch, TaskId};
use std::collections::{BTreeMap, BTreeSet};

impl Worker {
    pub(super) fn restore(&mut self, restore: Restore) -> Result<(), WorkerError> {
        let bad = |task: TaskId, reason: &str| WorkerError::BadRestore {
            task,
            reason: reason.to_string(),
        };
        let keyed_restores = !bug!(self, WorkerMutant::KeyedStateNotRestored);
        let mut seen = BTreeSet::new();
        for (id, snapshot) in restore.tasks {
            let Some(t) = self.task_position(id) else {
                return Err(bad(id, "the task is not on this worker"));
            };
            if !seen.insert(id) {
                return Err(bad(id, "two snapshots for one task"));
            }
            match (&mut self.tasks[t].role, snapshot) {
                (Role::Source { next_offset }, TaskSnapshot::Source { next_offset: at }) => {
                    *next_offset = at;
                }
                (Role::Transform, TaskSnapshot::Stateless) => {}
                (Role::Sink(sink), TaskSnapshot::Stateless) if !sink.two_phase_commit => {}
                (Role::Sink(sink), TaskSnapshot::Sink { pending }) if sink.two_phase_commit => {
                    check_restored_pending(&pending, restore.epoch).map_err(|r| bad(id, r))?;
                    sink.restore(pending);
                }
                (Role::Keyed(state), TaskSnapshot::Keyed { counts }) => {
                    check_restored_counts(&self.job, id, &counts).map_err(|r| bad(id, r))?;
                    if keyed_restores {
                        state.restore(counts);
                    }
                }
                _ => return Err(bad(id, "the snapshot is of another kind of task")),
            }
        }
        for task in &self.tasks {
            let needed = task.is_source()
                || task.two_phase_sink().is_some()
                || matches!(task.role, Role::Keyed(_));
            if needed && !seen.contains(&task.id) {
                return Err(bad(task.id, "no snapshot for a stateful task"));
            }
        }
        Ok(())
    }
}

/// Checks a restored sink's pre-commits: oldest first, none newer than the restored
/// checkpoint, each partition in offset order within a transaction, no record twice.
fn check_restored_pending(pending: &[Transaction], restored: Epoch) -> Result<(), &'static str> {
    let mut seen = BTreeSet::new();
    let mut last: Option<Epoch> = None;
    for txn in pending {
        if txn.epoch > restored {
            return Err("a pre-commit newer than the restored checkpoint");
        }
        if last.is_some_and(|l| txn.epoch <= l) {
            return Err("pre-commits out of epoch order");
        }
        last = Some(txn.epoch);
        let mut high: BTreeMap<_, u64> = BTreeMap::new();
        for r in &txn.records {
            if high.get(&r.partition).is_some_and(|&h| r.offset <= h) {
                return Err("a pre-commit's records are out of offset order");
            }
            high.insert(r.partition, r.offset);
            if !seen.insert(*r) {
                return Err("a record in two pre-commits");
            }
        }
    }
    Ok(())
}

//! Where a worker and its tasks stand, for callers, tests and the model checker.

use super::ledger::SinkState;
use super::task::Role;
use super::{Key, Record, Transaction, Worker, WorkerConfig};
use crate::protocol::StopJobMode;
use crate::types::{Epoch, Generation, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskPhase {
    /// Processing records (a source: reading its partition).
    Running,
    /// Past the barrier of a `then_stop` checkpoint: waiting for its snapshot to be acked
    /// (and, for a two-phase-commit sink, for the commit) before it finishes.
    FinalCheckpoint {
        /// The final checkpoint.
        epoch: Epoch,
        /// Whether its snapshot is stored (a two-phase-commit sink then awaits the commit).
        acked: bool,
    },
    /// The final checkpoint was aborted: nothing more flows; waiting for a stop.
    Halted {
        /// The aborted final checkpoint.
        epoch: Epoch,
    },
    /// Ended normally; reported with `TaskFinished`.
    Finished,
    /// Failed; reported with `TaskFailed`.
    Failed,
}

impl TaskPhase {
    /// Whether the task has ended, one way or the other.
    #[must_use]
    pub fn is_over(self) -> bool {
        matches!(self, TaskPhase::Finished | TaskPhase::Failed)
    }
}

/// A snapshot of one task, for callers, tests and invariant checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task: TaskId,
    /// Where it stands.
    pub phase: TaskPhase,
    /// The last barrier this task aligned (a source: injected).
    pub last_aligned: Option<Epoch>,
    /// The barrier it is aligning, if some input channel is blocked.
    pub aligning: Option<Epoch>,
    /// Items waiting in its input channels.
    pub queued: u64,
    /// Snapshots asked for and not yet reported done or failed.
    pub pending_snapshots: Vec<Epoch>,
    /// A source: the offset of its next record.
    pub next_offset: Option<u64>,
    /// A source whose partition has ended: it reads no more, and still answers barriers.
    #[serde(default)]
    pub input_ended: bool,
    /// A two-phase-commit sink: records in the open (not yet pre-committed) transaction.
    pub open_records: u64,
    /// A two-phase-commit sink: the epochs of its pre-committed, uncommitted transactions.
    pub pre_commits: Vec<Epoch>,
}

/// A snapshot of a worker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker slot.
    pub worker: WorkerId,
    /// The generation it belongs to.
    pub generation: Generation,
    /// The checkpoint it was restored from, if any.
    pub restored: Option<Epoch>,
    /// The newest epoch heard of (checkpoint, barrier or restore).
    pub last_epoch: Option<Epoch>,
    /// The newest epoch committed by the controller's command.
    pub committed_through: Option<Epoch>,
    /// The stop the controller asked for, if any.
    pub stop: Option<StopJobMode>,
    /// Every task it hosts, in [`crate::Job::tasks`] order.
    pub tasks: Vec<TaskStatus>,
    /// The time of its last step.
    pub now: Time,
}

impl WorkerStatus {
    /// Whether every task has finished or failed.
    #[must_use]
    pub fn all_tasks_over(&self) -> bool {
        self.tasks.iter().all(|t| t.phase.is_over())
    }
}

/// What a worker can be asked about itself.
impl Worker {
    /// The worker slot it fills.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }

    /// The generation it belongs to: it refuses commands and data of any other.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Its settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The tasks this worker hosts, in [`Job::tasks`](crate::Job::tasks) order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskId> + '_ {
        self.tasks.iter().map(|t| t.id)
    }

    /// The phase of a hosted task.
    pub fn task_phase(&self, task: TaskId) -> Option<TaskPhase> {
        self.task_position(task).map(|t| self.tasks[t].phase)
    }

    /// A two-phase-commit sink's pre-committed, uncommitted transactions, oldest first.
    pub fn pre_commits(&self, task: TaskId) -> Option<&[Transaction]> {
        let t = self.task_position(task)?;
        self.tasks[t].two_phase_sink().map(SinkState::sealed)
    }

    /// A two-phase-commit sink's open transaction: records since its last pre-commit.
    pub fn open_transaction(&self, task: TaskId) -> Option<&[Record]> {
        let t = self.task_position(task)?;
        self.tasks[t].two_phase_sink().map(SinkState::open)
    }

    /// A keyed task's running count per key: restored, then one per record it took.
    pub fn keyed_counts(&self, task: TaskId) -> Option<&BTreeMap<Key, u64>> {
        match &self.tasks[self.task_position(task)?].role {
            Role::Keyed(state) => Some(state.counts()),
            _ => None,
        }
    }

    /// Everything about the worker, for callers, tests and the model checker.
    pub fn status(&self) -> WorkerStatus {
        let tasks = self
            .tasks
            .iter()
            .map(|t| {
                let sink = t.two_phase_sink();
                TaskStatus {
                    task: t.id,
                    phase: t.phase,
                    last_aligned: t.last_aligned,
                    aligning: t.aligning(),
                    queued: t.queued(),
                    pending_snapshots: t.pending.keys().copied().collect(),
                    next_offset: match t.role {
                        Role::Source { next_offset } => Some(next_offset),
                        _ => None,
                    },
                    input_ended: t.input_ended,
                    open_records: sink.map_or(0, |s| s.open().len() as u64),
                    pre_commits: sink
                        .map_or(Vec::new(), |s| s.sealed().iter().map(|t| t.epoch).collect()),
                }
            })
            .collect();
        WorkerStatus {
            worker: self.worker,
            generation: self.generation,
            restored: self.restored,
            last_epoch: self.last_epoch,
            committed_through: self.committed_through,
            stop: self.stop,
            tasks,
            now: self.now,
        }
    }
}

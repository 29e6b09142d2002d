//! Where a worker and its tasks stand, for callers, tests and the model checker.

use crate::protocol::StopJobMode;
use crate::types::{Epoch, Generation, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};

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

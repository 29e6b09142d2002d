//! The messages between the controller and the workers.

use crate::types::{Epoch, Generation, TaskId, WorkerId};
use serde::{Deserialize, Serialize};

/// How a user (or the TTL) asks a job to stop, weakest first.
///
/// The order is the escalation order: a later request of a stronger mode takes over at once;
/// a weaker or equal one is refused with [`crate::Rejected::StopNotStronger`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StopMode {
    /// Take a final checkpoint (after any in-flight one), then every task finishes.
    Checkpoint,
    /// Sources stop; in-flight data drains to the sinks in topological order.
    Graceful,
    /// Every task stops now; in-flight records are dropped.
    Immediate,
    /// The scheduler kills the worker processes.
    Force,
}

/// The stop a worker is asked to perform itself (the two middle [`StopMode`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StopJobMode {
    /// Sources stop; in-flight data drains to the sinks ([`StopMode::Graceful`]).
    Graceful,
    /// Every task stops now ([`StopMode::Immediate`]).
    Immediate,
}

impl From<StopJobMode> for StopMode {
    fn from(mode: StopJobMode) -> StopMode {
        match mode {
            StopJobMode::Graceful => StopMode::Graceful,
            StopJobMode::Immediate => StopMode::Immediate,
        }
    }
}

/// A message from the controller to one worker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ToWorker {
    /// The generation the controller addresses; a worker of another one refuses the message.
    pub generation: Generation,
    /// What the worker is to do.
    pub command: Command,
}

/// What the controller asks a worker to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Inject a barrier for `epoch` at the worker's sources. With `then_stop`, every task
    /// finishes right after its part of this checkpoint (sinks after committing it).
    Checkpoint {
        /// The checkpoint.
        epoch: Epoch,
        /// Whether this is the final checkpoint of a checkpoint stop or of the end of input.
        then_stop: bool,
    },
    /// The metadata of `epoch` is persisted: two-phase-commit sinks make its data visible.
    /// Idempotent: a repeated commit of the same epoch is a no-op.
    Commit {
        /// The completed checkpoint to commit.
        epoch: Epoch,
    },
    /// `epoch` will never complete: drop its barrier state and pre-commits.
    Abort {
        /// The checkpoint given up.
        epoch: Epoch,
    },
    /// Stop every task in the given way.
    Stop {
        /// How the tasks stop.
        mode: StopJobMode,
    },
}

/// A message from one worker to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FromWorker {
    /// The worker slot that sent it.
    pub worker: WorkerId,
    /// The generation of the sending worker.
    pub generation: Generation,
    /// What it reports.
    pub event: WorkerEvent,
}

/// What a worker reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// Every task the worker hosts has started (restored from the given checkpoint, if any).
    Ready,
    /// The worker is alive.
    Heartbeat,
    /// `task` has snapshotted its part of `epoch`.
    CheckpointAcked {
        /// The task that acks.
        task: TaskId,
        /// The checkpoint it acks.
        epoch: Epoch,
    },
    /// `task` could not snapshot its part of `epoch`.
    CheckpointFailed {
        /// The task that failed its snapshot.
        task: TaskId,
        /// The checkpoint concerned.
        epoch: Epoch,
        /// What went wrong, for logs.
        reason: String,
    },
    /// Two-phase-commit sink `task` has committed `epoch`.
    Committed {
        /// The sink task.
        task: TaskId,
        /// The checkpoint whose data it made visible.
        epoch: Epoch,
    },
    /// Source `task` read the end of its input. It stays alive: it keeps answering barriers
    /// (with its end position) and finishes with the job's final checkpoint. Once every source
    /// ended, the controller takes that final checkpoint, so that two-phase-commit sinks
    /// commit the tail of the data through a persisted checkpoint and a restore never replays
    /// what they committed.
    InputEnded {
        /// The source task.
        task: TaskId,
    },
    /// `task` ended: after its part of a `then_stop` checkpoint (sinks: after committing it),
    /// or on a stop.
    TaskFinished {
        /// The task that ended.
        task: TaskId,
    },
    /// `task` failed.
    TaskFailed {
        /// The task that failed.
        task: TaskId,
        /// What went wrong, for logs.
        reason: String,
    },
}

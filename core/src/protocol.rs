//! The messages between the controller and the workers.

use crate::types::{Epoch, Generation, TaskId, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

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

impl fmt::Display for StopMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopMode::Checkpoint => "checkpoint",
            StopMode::Graceful => "graceful",
            StopMode::Immediate => "immediate",
            StopMode::Force => "force",
        })
    }
}

/// The stop a worker is asked to perform itself (the two middle [`StopMode`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StopJobMode {
    Graceful,
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
    pub generation: Generation,
    pub command: Command,
}

/// What the controller asks a worker to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Inject a barrier for `epoch` at the worker's sources. With `then_stop`, every task
    /// finishes right after its part of this checkpoint (sinks after committing it).
    Checkpoint { epoch: Epoch, then_stop: bool },
    /// The metadata of `epoch` is persisted: two-phase-commit sinks make its data visible.
    /// Idempotent: a repeated commit of the same epoch is a no-op.
    Commit { epoch: Epoch },
    /// `epoch` will never complete: drop its barrier state and pre-commits.
    Abort { epoch: Epoch },
    /// Stop every task in the given way.
    Stop { mode: StopJobMode },
}

/// A message from one worker to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FromWorker {
    pub worker: WorkerId,
    pub generation: Generation,
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
    CheckpointAcked { task: TaskId, epoch: Epoch },
    /// `task` could not snapshot its part of `epoch`.
    CheckpointFailed {
        task: TaskId,
        epoch: Epoch,
        reason: String,
    },
    /// Two-phase-commit sink `task` has committed `epoch`.
    Committed { task: TaskId, epoch: Epoch },
    /// Source `task` read the end of its input. It stays alive: it keeps answering barriers
    /// (with its end position) and finishes with the job's final checkpoint. Once every source
    /// ended, the controller takes that final checkpoint, so that two-phase-commit sinks
    /// commit the tail of the data through a persisted checkpoint and a restore never replays
    /// what they committed.
    InputEnded { task: TaskId },
    /// `task` ended: after its part of a `then_stop` checkpoint (sinks: after committing it),
    /// or on a stop.
    TaskFinished { task: TaskId },
    /// `task` failed.
    TaskFailed { task: TaskId, reason: String },
}

//! What the controller reports of itself: [`Status`], a snapshot for callers, the model
//! checker and the invariant checks.

use super::io::{RequestId, State};
use crate::protocol::StopMode;
use crate::types::{Epoch, Generation, Time};
use serde::{Deserialize, Serialize};

/// Counters over the controller's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    /// Checkpoints started.
    pub checkpoints_started: u64,
    /// Checkpoints whose metadata was persisted.
    pub checkpoints_completed: u64,
    /// Checkpoints given up.
    pub checkpoints_aborted: u64,
    /// New generations started after a failure.
    pub restarts: u64,
}

/// Where a checkpoint in flight stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CheckpointStage {
    /// Waiting for task acks.
    Barriers {
        /// Tasks that acked.
        acked: u32,
        /// Tasks that must ack.
        tasks: u32,
    },
    /// Every task acked; waiting for the metadata to be stored.
    Persisting,
    /// Metadata stored (the checkpoint is complete); waiting for sink commits.
    Committing {
        /// Sinks that committed.
        committed: u32,
        /// Sinks that must commit.
        tasks: u32,
    },
}

/// A checkpoint in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InFlight {
    /// The checkpoint.
    pub epoch: Epoch,
    /// Whether it is a final checkpoint.
    pub then_stop: bool,
    /// Where it stands.
    pub stage: CheckpointStage,
    /// The request it serves, if it was asked for on demand.
    pub request: Option<RequestId>,
}

/// A snapshot of the controller for callers, the model checker and invariant checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Status {
    /// The controller's state.
    pub state: State,
    /// The current generation.
    pub generation: Generation,
    /// The last epoch started (by any generation).
    pub last_epoch: Option<Epoch>,
    /// The last checkpoint whose metadata is persisted: the restore point.
    pub last_completed: Option<Epoch>,
    /// Whether every sink has committed `last_completed`.
    pub last_completed_committed: bool,
    /// The checkpoint in flight, if any.
    pub in_flight: Option<InFlight>,
    /// The stop level the controller escalated to, once a stop is under way: at least the
    /// mode asked for, higher when a failure, a timeout or the state escalated it (a stop
    /// while scheduling or recovering is a kill).
    pub stop: Option<StopMode>,
    /// The strongest stop asked for, by a user or the time to live, as asked.
    pub stop_requested: Option<StopMode>,
    /// A checkpoint asked for on demand that waits for the one in flight.
    pub queued_request: Option<RequestId>,
    /// The epoch of the final checkpoint of a checkpoint stop, once started.
    pub final_checkpoint: Option<Epoch>,
    /// Restarts since the last healthy period.
    pub restarts: u32,
    /// The newest generation whose workers are confirmed gone, if any.
    pub stopped_generation: Option<Generation>,
    /// Counters over the controller's life.
    pub counters: Counters,
    /// The time of the last call.
    pub now: Time,
}

//! What goes into and comes out of the controller.

use crate::protocol::{FromWorker, StopJobMode, StopMode, ToWorker};
use crate::types::{Epoch, Generation, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The controller's state, as in the design: legal transitions only, each reported as an
/// [`Event::Transition`] with its [`Reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum State {
    /// Workers of the current generation are starting.
    Scheduling,
    /// Every worker is ready; periodic checkpoints run.
    Running,
    /// A checkpoint stop: the final checkpoint (after any in-flight one), then every task
    /// finishes.
    CheckpointStopping,
    /// A stop past the checkpoint stage.
    Stopping(Stopping),
    /// After a failure: old workers are killed, then a new generation is scheduled.
    Recovering,
    /// Every source read the end of its input: a final checkpoint commits the tail of the
    /// data, then every task finishes.
    Finishing,
    /// Terminal: stopped on request.
    Stopped,
    /// Terminal: every task ended on its own.
    Finished,
    /// Terminal: the job could not be kept running.
    Failed,
}

/// The two steps of a stop past the checkpoint stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Stopping {
    /// The workers are asked to stop their tasks, within `stop_timeout_ms`.
    StopJob(StopJobMode),
    /// The scheduler kills the workers and must confirm it.
    StopWorkers,
}

impl State {
    /// Whether the state absorbs every later input.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Stopped | State::Finished | State::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Stopping(Stopping::StopJob(StopJobMode::Graceful)) => {
                f.write_str("Stopping(StopJob(graceful))")
            }
            State::Stopping(Stopping::StopJob(StopJobMode::Immediate)) => {
                f.write_str("Stopping(StopJob(immediate))")
            }
            State::Stopping(Stopping::StopWorkers) => f.write_str("Stopping(StopWorkers)"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Everything the environment tells the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Input {
    /// A user (or operator tooling) asks the job to stop.
    Stop(StopMode),
    /// A message from a worker.
    Worker(FromWorker),
    /// The scheduler could not start the workers of `generation`.
    SchedulerFailed {
        generation: Generation,
        reason: String,
    },
    /// The scheduler saw a worker process of `generation` exit.
    WorkerExited {
        worker: WorkerId,
        generation: Generation,
    },
    /// The scheduler confirms that every worker of `generation` is gone.
    WorkersStopped { generation: Generation },
    /// The metadata of `epoch` is durably stored.
    MetadataPersisted { epoch: Epoch },
    /// Storing the metadata of `epoch` failed.
    MetadataPersistFailed { epoch: Epoch, reason: String },
    /// The checkpoints before `before` are deleted.
    CleanupDone { before: Epoch },
}

/// The kind of an [`Input`], for rejections and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InputKind {
    Stop,
    Ready,
    Heartbeat,
    CheckpointAcked,
    CheckpointFailed,
    Committed,
    InputEnded,
    TaskFinished,
    TaskFailed,
    SchedulerFailed,
    WorkerExited,
    WorkersStopped,
    MetadataPersisted,
    MetadataPersistFailed,
    CleanupDone,
}

/// Every effect the controller asks of its environment, and what it wants observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Output {
    /// Start every worker of `generation`, restoring from `restore` if set. Answered by each
    /// worker's [`crate::WorkerEvent::Ready`] or by [`Input::SchedulerFailed`].
    StartWorkers {
        generation: Generation,
        restore: Option<Epoch>,
    },
    /// Kill every worker of `generation`. Answered by [`Input::WorkersStopped`].
    StopWorkers { generation: Generation },
    /// The job is over and every task of `generation` has finished: the scheduler may reap
    /// the idle processes. Needs no answer.
    ReleaseWorkers { generation: Generation },
    /// Send a message to a worker.
    Send { worker: WorkerId, message: ToWorker },
    /// Durably store the metadata of checkpoint `epoch`. Answered by
    /// [`Input::MetadataPersisted`] or [`Input::MetadataPersistFailed`].
    PersistMetadata {
        epoch: Epoch,
        generation: Generation,
    },
    /// Delete the checkpoints older than `before`. Answered by [`Input::CleanupDone`].
    Cleanup { before: Epoch },
    /// Something worth observing happened.
    Event(Event),
}

/// Observability: what the controller decided and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    Transition {
        from: Option<State>,
        to: State,
        reason: Reason,
    },
    StopRequested {
        mode: StopMode,
    },
    CheckpointStarted {
        epoch: Epoch,
        then_stop: bool,
    },
    CheckpointAcked {
        epoch: Epoch,
    },
    CheckpointCompleted {
        epoch: Epoch,
    },
    CommitStarted {
        epoch: Epoch,
        tasks: u32,
    },
    CheckpointCommitted {
        epoch: Epoch,
    },
    CheckpointAborted {
        epoch: Epoch,
        reason: AbortReason,
    },
    CleanupStarted {
        before: Epoch,
    },
    CleanupAbandoned {
        before: Epoch,
    },
    WorkerLost {
        worker: WorkerId,
    },
    KillRetried {
        generation: Generation,
        attempt: u32,
    },
    RestartScheduled {
        delay_ms: u64,
        restarts: u32,
    },
    RestartBudgetReset,
}

/// Why a checkpoint was aborted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AbortReason {
    TimedOut,
    TaskFailed {
        task: TaskId,
        reason: String,
    },
    PersistFailed {
        reason: String,
    },
    /// The job stopped or failed before it completed.
    Superseded,
}

/// Why a transition happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reason {
    Created,
    WorkersReady,
    StopRequested(StopMode),
    TtlExpired,
    SchedulingTimedOut,
    SchedulerFailed(String),
    TaskFailed {
        task: TaskId,
        reason: String,
    },
    TaskFinishedEarly {
        task: TaskId,
    },
    WorkerLost {
        worker: WorkerId,
    },
    TooManyCheckpointFailures {
        consecutive: u32,
    },
    CheckpointCommitTimedOut {
        epoch: Epoch,
    },
    FinalCheckpointTimedOut,
    FinalCheckpointFailed {
        epoch: Epoch,
    },
    StopTimedOut,
    /// Every source read the end of its input.
    SourcesFinished,
    AllTasksFinished,
    FinalCheckpointCommitted {
        epoch: Epoch,
    },
    WorkersStopped,
    KillUnconfirmed {
        attempts: u32,
    },
    RestartBudgetExhausted,
    RestartBackoffElapsed,
}

/// Why an input was refused. A refused input changes nothing and emits nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejected {
    TimeWentBackwards {
        now: Time,
        last: Time,
    },
    Terminal {
        state: State,
    },
    WrongGeneration {
        got: Generation,
        current: Generation,
    },
    UnknownWorker {
        worker: WorkerId,
    },
    UnknownTask {
        task: TaskId,
    },
    TaskNotOnWorker {
        task: TaskId,
        worker: WorkerId,
    },
    TaskNotRunning {
        task: TaskId,
    },
    /// The epoch is not the one in flight in the phase this message belongs to.
    WrongEpoch {
        got: Epoch,
        expected: Option<Epoch>,
    },
    DuplicateAck {
        task: TaskId,
        epoch: Epoch,
    },
    DuplicateCommit {
        task: TaskId,
        epoch: Epoch,
    },
    DuplicateInputEnded {
        task: TaskId,
    },
    /// Only a source can read the end of its input.
    NotASource {
        task: TaskId,
    },
    DuplicateReady {
        worker: WorkerId,
    },
    /// The task takes no part in that phase (e.g. a commit from a task that is not a
    /// two-phase-commit sink).
    NotParticipating {
        task: TaskId,
        epoch: Epoch,
    },
    /// Nothing of the kind was asked for or expected now.
    Unexpected {
        input: InputKind,
        state: State,
    },
    StopNotStronger {
        current: StopMode,
        requested: StopMode,
    },
    /// Not a cleanup the controller asked for.
    WrongCleanup {
        got: Epoch,
        expected: Option<Epoch>,
    },
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rejected: {self:?}")
    }
}

impl std::error::Error for Rejected {}

/// Counters over the controller's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    pub checkpoints_started: u64,
    pub checkpoints_completed: u64,
    pub checkpoints_aborted: u64,
    pub restarts: u64,
}

/// Where a checkpoint in flight stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CheckpointStage {
    /// Waiting for task acks.
    Barriers { acked: u32, tasks: u32 },
    /// Every task acked; waiting for the metadata to be stored.
    Persisting,
    /// Metadata stored (the checkpoint is complete); waiting for sink commits.
    Committing { committed: u32, tasks: u32 },
}

/// A checkpoint in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InFlight {
    pub epoch: Epoch,
    pub then_stop: bool,
    pub stage: CheckpointStage,
}

/// A snapshot of the controller for callers, the model checker and invariant checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    pub generation: Generation,
    /// The last epoch started (by any generation).
    pub last_epoch: Option<Epoch>,
    /// The last checkpoint whose metadata is persisted: the restore point.
    pub last_completed: Option<Epoch>,
    /// Whether every sink has committed `last_completed`.
    pub last_completed_committed: bool,
    pub in_flight: Option<InFlight>,
    /// The effective stop level, once a stop is under way.
    pub stop: Option<StopMode>,
    /// The epoch of the final checkpoint of a checkpoint stop, once started.
    pub final_checkpoint: Option<Epoch>,
    /// Restarts since the last healthy period.
    pub restarts: u32,
    /// The newest generation whose workers are confirmed gone, if any.
    pub stopped_generation: Option<Generation>,
    pub counters: Counters,
    pub now: Time,
}

//! What goes into and comes out of the controller.

use crate::protocol::{FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
use crate::types::{Epoch, Generation, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};

pub use super::status::{CheckpointStage, Counters, InFlight, Status};

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
    /// The workers are asked to stop their tasks in the given way, within `stop_timeout_ms`.
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

/// Everything the environment tells the controller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Input {
    /// A user (or operator tooling) asks the job to stop in the given way.
    Stop(StopMode),
    /// A message from a worker ([`Input::from_worker`] builds one).
    Worker(FromWorker),
    /// The scheduler could not start the workers of `generation`.
    SchedulerFailed {
        /// The generation that could not start.
        generation: Generation,
        /// What went wrong, for logs.
        reason: String,
    },
    /// The scheduler saw a worker process of `generation` exit.
    WorkerExited {
        /// The worker slot whose process exited.
        worker: WorkerId,
        /// The generation of that process.
        generation: Generation,
    },
    /// The scheduler confirms that every worker of `generation` is gone.
    WorkersStopped {
        /// The generation whose workers are gone.
        generation: Generation,
    },
    /// The metadata of `epoch` is durably stored.
    MetadataPersisted {
        /// The checkpoint whose metadata is stored.
        epoch: Epoch,
    },
    /// Storing the metadata of `epoch` failed.
    MetadataPersistFailed {
        /// The checkpoint whose metadata could not be stored.
        epoch: Epoch,
        /// What went wrong, for logs.
        reason: String,
    },
    /// Take a checkpoint now (Flink's triggerCheckpoint), while Running. It starts at once,
    /// whatever the interval and the min pause say; if a checkpoint (or a cleanup) is in
    /// flight, it starts right after it. One request may wait at a time: another is refused
    /// ([`Rejected::CheckpointRequestPending`]), and so is one whose `request` is waiting or in
    /// flight already ([`Rejected::DuplicateCheckpointRequest`]). The periodic schedule counts
    /// from its start. Its end is reported as [`Event::CheckpointRequestCompleted`] or
    /// [`Event::CheckpointRequestAborted`].
    TriggerCheckpoint {
        /// The caller's name for the request, carried by the events about it.
        request: RequestId,
    },
    /// The checkpoints before `before` are deleted.
    CleanupDone {
        /// The cleanup's bound, as in [`Output::Cleanup`].
        before: Epoch,
    },
}

impl Input {
    /// The message `event` from `worker` of `generation`: the common
    /// `Input::Worker(FromWorker { .. })`.
    #[must_use]
    pub fn from_worker(worker: WorkerId, generation: Generation, event: WorkerEvent) -> Input {
        Input::Worker(FromWorker {
            worker,
            generation,
            event,
        })
    }
}

/// A caller's name for a checkpoint asked for on demand ([`Input::TriggerCheckpoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// The kind of an [`Input`], for rejections and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InputKind {
    /// [`Input::Stop`].
    Stop,
    /// [`WorkerEvent::Ready`].
    Ready,
    /// [`WorkerEvent::Heartbeat`].
    Heartbeat,
    /// [`WorkerEvent::CheckpointAcked`].
    CheckpointAcked,
    /// [`WorkerEvent::CheckpointFailed`].
    CheckpointFailed,
    /// [`WorkerEvent::Committed`].
    Committed,
    /// [`WorkerEvent::InputEnded`].
    InputEnded,
    /// [`WorkerEvent::TaskFinished`].
    TaskFinished,
    /// [`WorkerEvent::TaskFailed`].
    TaskFailed,
    /// [`Input::SchedulerFailed`].
    SchedulerFailed,
    /// [`Input::WorkerExited`].
    WorkerExited,
    /// [`Input::WorkersStopped`].
    WorkersStopped,
    /// [`Input::MetadataPersisted`].
    MetadataPersisted,
    /// [`Input::MetadataPersistFailed`].
    MetadataPersistFailed,
    /// [`Input::CleanupDone`].
    CleanupDone,
    /// [`Input::TriggerCheckpoint`].
    TriggerCheckpoint,
}

/// Every effect the controller asks of its environment, and what it wants observed.
///
/// Exhaustive on purpose: an effect added in a later version must break an embedder's `match`
/// at compile time, not fall into a catch-all arm and leave the controller waiting for an
/// answer that never comes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Output {
    /// Start every worker of `generation`, restoring from `restore` if set. Answered by each
    /// worker's [`WorkerEvent::Ready`] or by [`Input::SchedulerFailed`].
    StartWorkers {
        /// The generation to start; its workers stamp every message with it.
        generation: Generation,
        /// The completed checkpoint to restore the tasks from, if any.
        restore: Option<Epoch>,
    },
    /// Kill every worker of `generation`. Answered by [`Input::WorkersStopped`].
    StopWorkers {
        /// The generation to kill.
        generation: Generation,
    },
    /// The job is over and every task of `generation` has finished: the scheduler may reap
    /// the idle processes. Needs no answer.
    ReleaseWorkers {
        /// The generation whose processes are idle.
        generation: Generation,
    },
    /// Send a message to a worker. Its answers come back as [`Input::Worker`].
    Send {
        /// The worker slot to send to.
        worker: WorkerId,
        /// The message.
        message: ToWorker,
    },
    /// Durably store the metadata of checkpoint `epoch`. Answered by
    /// [`Input::MetadataPersisted`] or [`Input::MetadataPersistFailed`].
    PersistMetadata {
        /// The checkpoint whose every task snapshot is stored.
        epoch: Epoch,
        /// The generation that took it.
        generation: Generation,
    },
    /// Delete the checkpoints older than `before`. Answered by [`Input::CleanupDone`].
    Cleanup {
        /// The oldest checkpoint to keep.
        before: Epoch,
    },
    /// Something worth observing happened. Needs no answer.
    Event(Event),
}

/// Observability: what the controller decided and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// The controller changed state (`from` is `None` for the first state of a controller).
    Transition {
        /// The state left, if any.
        from: Option<State>,
        /// The state entered.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A stop was requested and accepted, at this level.
    StopRequested {
        /// The requested level.
        mode: StopMode,
    },
    /// A checkpoint started: its barriers are being sent.
    CheckpointStarted {
        /// The new checkpoint.
        epoch: Epoch,
        /// Whether it is the final checkpoint of a stop or of the end of input.
        then_stop: bool,
    },
    /// Every task acked `epoch`; its metadata is to be persisted.
    CheckpointAcked {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// The metadata of `epoch` is persisted: it is the new restore point.
    CheckpointCompleted {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// Two-phase-commit sinks were told to commit `epoch`.
    CommitStarted {
        /// The checkpoint.
        epoch: Epoch,
        /// How many sink tasks must commit it.
        tasks: u32,
    },
    /// Every two-phase-commit sink committed `epoch`.
    CheckpointCommitted {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// `epoch` will never complete.
    CheckpointAborted {
        /// The checkpoint.
        epoch: Epoch,
        /// Why it was given up.
        reason: AbortReason,
    },
    /// The checkpoints before `before` are being deleted.
    CleanupStarted {
        /// The oldest checkpoint kept.
        before: Epoch,
    },
    /// The cleanup was not confirmed in time; it will be asked again later.
    CleanupAbandoned {
        /// The bound of the abandoned cleanup.
        before: Epoch,
    },
    /// A worker missed its heartbeat deadline or exited.
    WorkerLost {
        /// The worker slot.
        worker: WorkerId,
    },
    /// A kill was not confirmed in time and is asked again.
    KillRetried {
        /// The generation being killed.
        generation: Generation,
        /// The attempt now made (2 for the first re-ask).
        attempt: u32,
    },
    /// A new generation will start after `delay_ms`.
    RestartScheduled {
        /// The pause before the restart.
        delay_ms: u64,
        /// Restarts counted since the last healthy period, this one included.
        restarts: u32,
    },
    /// The job ran healthy long enough: the restart budget is full again.
    RestartBudgetReset,
    /// A checkpoint asked for on demand waits for the checkpoint or cleanup in flight.
    CheckpointRequestQueued {
        /// The request.
        request: RequestId,
    },
    /// The checkpoint asked for by `request` started.
    CheckpointRequestStarted {
        /// The request.
        request: RequestId,
        /// The checkpoint that serves it.
        epoch: Epoch,
    },
    /// The checkpoint asked for by `request` is complete: its metadata is stored, and it is a
    /// restore point. Its commits follow, as for every checkpoint.
    CheckpointRequestCompleted {
        /// The request.
        request: RequestId,
        /// The checkpoint that served it.
        epoch: Epoch,
    },
    /// The checkpoint asked for by `request` will not complete: it was aborted, or, waiting
    /// still, dropped when the job left Running.
    CheckpointRequestAborted {
        /// The request.
        request: RequestId,
        /// The checkpoint started for it, if it started.
        epoch: Option<Epoch>,
        /// Why.
        reason: AbortReason,
    },
}

/// Why a checkpoint was aborted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AbortReason {
    /// Not complete and committed within `checkpoint_timeout_ms`.
    TimedOut,
    /// A task could not snapshot its part.
    TaskFailed {
        /// The task.
        task: TaskId,
        /// What went wrong, for logs.
        reason: String,
    },
    /// Its metadata could not be stored.
    PersistFailed {
        /// What went wrong, for logs.
        reason: String,
    },
    /// The job stopped or failed before it completed.
    Superseded,
}

/// Why a transition happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Reason {
    /// The controller was created (or restored).
    Created,
    /// Every worker of the generation reported ready.
    WorkersReady,
    /// A user asked for a stop of this level (or the stop escalated to it).
    StopRequested(StopMode),
    /// The job's time to live is over.
    TtlExpired,
    /// Not every worker was ready within `scheduling_timeout_ms`.
    SchedulingTimedOut,
    /// The scheduler could not start the workers; the reason is for logs.
    SchedulerFailed(String),
    /// A task failed.
    TaskFailed {
        /// The task.
        task: TaskId,
        /// What went wrong, for logs.
        reason: String,
    },
    /// A task finished while the job was not ending.
    TaskFinishedEarly {
        /// The task.
        task: TaskId,
    },
    /// A worker missed its heartbeat deadline or exited.
    WorkerLost {
        /// The worker slot.
        worker: WorkerId,
    },
    /// More checkpoints failed in a row than `tolerable_checkpoint_failures`.
    TooManyCheckpointFailures {
        /// How many failed in a row.
        consecutive: u32,
    },
    /// A completed checkpoint's commits did not all arrive within `checkpoint_timeout_ms`.
    CheckpointCommitTimedOut {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// The final checkpoint did not complete, commit and finish every task in time.
    FinalCheckpointTimedOut,
    /// The final checkpoint was aborted.
    FinalCheckpointFailed {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// Not every task finished within `stop_timeout_ms`.
    StopTimedOut,
    /// Every source read the end of its input.
    SourcesFinished,
    /// Every task finished.
    AllTasksFinished,
    /// The final checkpoint is committed.
    FinalCheckpointCommitted {
        /// The checkpoint.
        epoch: Epoch,
    },
    /// The scheduler confirmed that the workers are gone.
    WorkersStopped,
    /// No kill confirmation came after every attempt.
    KillUnconfirmed {
        /// The kill attempts made.
        attempts: u32,
    },
    /// The restart strategy allows no more restarts.
    RestartBudgetExhausted,
    /// The pause before a restart is over.
    RestartBackoffElapsed,
}

/// Why an input was refused. A refused input changes nothing and emits nothing beyond what
/// the timers due by its time did (they fire before any input is looked at).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejected {
    /// `now` is before the time of the previous call.
    TimeWentBackwards {
        /// The time given.
        now: Time,
        /// The time of the previous call.
        last: Time,
    },
    /// The controller is in a terminal state and takes no more input.
    Terminal {
        /// That state.
        state: State,
    },
    /// The message belongs to another generation than the current one.
    WrongGeneration {
        /// The message's generation.
        got: Generation,
        /// The current generation.
        current: Generation,
    },
    /// The job has no such worker slot.
    UnknownWorker {
        /// The worker named.
        worker: WorkerId,
    },
    /// The job has no such task.
    UnknownTask {
        /// The task named.
        task: TaskId,
    },
    /// The task runs on another worker than the one that reported it.
    TaskNotOnWorker {
        /// The task named.
        task: TaskId,
        /// The worker that reported it.
        worker: WorkerId,
    },
    /// The task has already finished or failed.
    TaskNotRunning {
        /// The task named.
        task: TaskId,
    },
    /// The epoch is not the one in flight in the phase this message belongs to.
    WrongEpoch {
        /// The epoch given.
        got: Epoch,
        /// The epoch in that phase, if any.
        expected: Option<Epoch>,
    },
    /// A metadata store result for the checkpoint in flight, whose metadata is not being
    /// stored: it still collects acks, or it is stored already and its sinks commit.
    NotPersisting {
        /// The checkpoint.
        epoch: Epoch,
        /// Where it stands.
        stage: CheckpointStage,
    },
    /// The task already acked this checkpoint.
    DuplicateAck {
        /// The task.
        task: TaskId,
        /// The checkpoint.
        epoch: Epoch,
    },
    /// The sink already committed this checkpoint.
    DuplicateCommit {
        /// The sink task.
        task: TaskId,
        /// The checkpoint.
        epoch: Epoch,
    },
    /// The source already reported the end of its input.
    DuplicateInputEnded {
        /// The source task.
        task: TaskId,
    },
    /// Only a source can read the end of its input.
    NotASource {
        /// The task named.
        task: TaskId,
    },
    /// The worker already reported ready in this generation.
    DuplicateReady {
        /// The worker.
        worker: WorkerId,
    },
    /// The task takes no part in that phase (e.g. a commit from a task that is not a
    /// two-phase-commit sink).
    NotParticipating {
        /// The task.
        task: TaskId,
        /// The checkpoint.
        epoch: Epoch,
    },
    /// Nothing of the kind was asked for or expected now.
    Unexpected {
        /// The kind of input.
        input: InputKind,
        /// The controller's state.
        state: State,
    },
    /// A stop may only escalate: the requested level is not above the current one.
    StopNotStronger {
        /// The stop level under way.
        current: StopMode,
        /// The level asked for.
        requested: StopMode,
    },
    /// A checkpoint asked for on demand waits already: one may wait at a time.
    CheckpointRequestPending {
        /// The request that waits.
        pending: RequestId,
    },
    /// A checkpoint request of this name waits or is in flight already.
    DuplicateCheckpointRequest {
        /// The request.
        request: RequestId,
    },
    /// Not a cleanup the controller asked for.
    WrongCleanup {
        /// The cleanup bound given.
        got: Epoch,
        /// The bound of the cleanup in progress, if any.
        expected: Option<Epoch>,
    },
}

impl std::error::Error for Rejected {}

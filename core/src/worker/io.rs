//! What goes into and comes out of a worker: the data path, snapshots, commits.

use crate::config::ConfigError;
use crate::protocol::{FromWorker, StopJobMode, ToWorker};
use crate::types::{Epoch, Generation, JobError, OperatorId, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A partition of a source operator. Source subtask `index` of operator `source` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Partition {
    pub source: OperatorId,
    pub index: u32,
}

impl Partition {
    /// The partition that source task `task` reads.
    #[must_use]
    pub const fn of_source(task: TaskId) -> Partition {
        Partition {
            source: task.operator,
            index: task.subtask,
        }
    }

    /// The subtask, among `parallelism` subtasks of a downstream operator, that receives every
    /// record of this partition: `(source + index) % parallelism`.
    ///
    /// Records are keyed by partition, so one partition's records follow one path through the
    /// graph and stay in offset order end to end. That is what lets a task refuse an offset it
    /// has already received.
    #[must_use]
    pub fn route(self, parallelism: u32) -> u32 {
        let key = u64::from(self.source.0) + u64::from(self.index);
        // The remainder is below `parallelism`, so it fits in a u32.
        (key % u64::from(parallelism.max(1))) as u32
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#p{}", self.source, self.index)
    }
}

/// One source record: its position in its partition. The payload is not modelled; the
/// position is what exactly-once is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Record {
    pub partition: Partition,
    pub offset: u64,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

/// A data channel: from one subtask to one subtask of a downstream operator. Items on a
/// channel are delivered in the order they were sent (FIFO); between workers the sender
/// numbers them (`seq`) and the receiver refuses gaps, repeats and reordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Channel {
    pub from: TaskId,
    pub to: TaskId,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from, self.to)
    }
}

/// What flows on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Item {
    Record(Record),
    /// Everything before it belongs to checkpoint `epoch`. With `then_stop` it is the last
    /// item on the channel.
    Barrier {
        epoch: Epoch,
        then_stop: bool,
    },
    /// The sender has finished: the last item on the channel.
    EndOfStream,
}

/// A two-phase-commit sink's pre-committed data for one epoch: the records it received
/// between the previous barrier and the barrier of `epoch` (plus any carried over from an
/// aborted epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub epoch: Epoch,
    pub records: Vec<Record>,
}

/// The identity of a transaction in the external system a two-phase-commit sink writes to,
/// scoped to the sink task.
///
/// The external system must treat a repeated commit of the same identity as a no-op, as
/// transactional stores do: after a restore, a sink commits the transactions of its restored
/// state again, some of which the previous generation may already have committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TransactionId {
    /// The pre-commit sealed at the barrier of this epoch.
    Epoch(Epoch),
    /// The data after the last barrier, committed directly when a graceful stop drained the
    /// sink in this generation.
    Drain(Generation),
}

/// A task's part of a checkpoint, to be stored by the environment and given back in a
/// [`Restore`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskSnapshot {
    /// A source: the offset of the first record after the barrier.
    Source { next_offset: u64 },
    /// A transform or a sink without two-phase commit: no state.
    Stateless,
    /// A two-phase-commit sink: its pre-committed, not yet committed transactions, oldest
    /// first, the last one being the epoch's own (if it received any record).
    Sink { pending: Vec<Transaction> },
}

/// Where a worker of a new generation starts from: a completed checkpoint (its metadata is
/// persisted) and the snapshots of this worker's tasks in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub epoch: Epoch,
    /// A snapshot for every source and two-phase-commit sink the worker hosts; others may be
    /// left out.
    pub tasks: Vec<(TaskId, TaskSnapshot)>,
}

/// Everything the environment tells a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerInput {
    /// A message from the controller.
    Command(ToWorker),
    /// An item from a task on another worker of `generation`. `seq` counts the items on
    /// `channel` from 0 in each generation, so an item of another generation is refused.
    Data {
        generation: Generation,
        channel: Channel,
        seq: u64,
        item: Item,
    },
    /// `count` more records are available in the partition of source `task`; it reads them
    /// now, at its next offsets.
    SourceRecords { task: TaskId, count: u32 },
    /// The partition of source `task` has no more records. The source reports
    /// [`WorkerEvent::InputEnded`](crate::WorkerEvent::InputEnded) and stays alive: it answers
    /// later barriers with its end position and finishes with the final checkpoint.
    SourceExhausted { task: TaskId },
    /// The snapshot that [`WorkerOutput::Snapshot`] asked for is durably stored.
    SnapshotDone { task: TaskId, epoch: Epoch },
    /// The snapshot could not be stored.
    SnapshotFailed {
        task: TaskId,
        epoch: Epoch,
        reason: String,
    },
    /// The task's own code failed.
    TaskError { task: TaskId, reason: String },
}

/// Every effect a worker asks of its environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerOutput {
    /// Send a message to the controller.
    ToController(FromWorker),
    /// Send an item to the worker hosting `channel.to`, to be delivered as
    /// [`WorkerInput::Data`] in `seq` order.
    SendData {
        to_worker: WorkerId,
        generation: Generation,
        channel: Channel,
        seq: u64,
        item: Item,
    },
    /// Durably store `task`'s part of checkpoint `epoch`. Answered by
    /// [`WorkerInput::SnapshotDone`] or [`WorkerInput::SnapshotFailed`].
    Snapshot {
        task: TaskId,
        epoch: Epoch,
        state: TaskSnapshot,
    },
    /// A sink without two-phase commit writes a record out now (at least once).
    Write { task: TaskId, record: Record },
    /// A two-phase-commit sink makes a transaction visible. Needs no answer; see
    /// [`TransactionId`] for why a repeat must be a no-op.
    Commit {
        task: TaskId,
        transaction: TransactionId,
        records: Vec<Record>,
    },
}

/// Why an input was refused. A refused input changes nothing and emits nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerRejected {
    TimeWentBackwards {
        now: Time,
        last: Time,
    },
    WrongGeneration {
        got: Generation,
        current: Generation,
    },
    UnknownTask {
        task: TaskId,
    },
    TaskNotOnWorker {
        task: TaskId,
        worker: WorkerId,
    },
    /// The task has finished or failed (or, for a source, no longer reads).
    TaskNotRunning {
        task: TaskId,
    },
    NotASource {
        task: TaskId,
    },
    /// No edge of the job joins the two tasks' operators.
    NotAChannel {
        channel: Channel,
    },
    /// Both ends are on this worker: such items never leave the worker.
    LocalChannel {
        channel: Channel,
    },
    /// Items on a channel must arrive in sequence.
    OutOfOrder {
        channel: Channel,
        expected: u64,
        got: u64,
    },
    /// The channel's end of stream (or final barrier) has already arrived.
    ChannelClosed {
        channel: Channel,
    },
    /// A record that cannot travel on this channel: routing sends its partition elsewhere.
    Misrouted {
        channel: Channel,
        record: Record,
    },
    /// A record at or below an offset this task already received from its partition.
    OffsetNotIncreasing {
        channel: Channel,
        record: Record,
        last: u64,
    },
    /// A barrier not newer than the channel's last barrier or the restored checkpoint.
    BarrierNotIncreasing {
        channel: Channel,
        epoch: Epoch,
        last: Option<Epoch>,
    },
    /// A checkpoint not newer than the last one, the last commit or the restored checkpoint.
    EpochNotIncreasing {
        epoch: Epoch,
        last: Option<Epoch>,
    },
    /// A commit of an epoch this worker has never heard of.
    UnknownEpoch {
        epoch: Epoch,
    },
    /// A commit of an epoch that a running task here has not aligned (acked) yet.
    NotAligned {
        task: TaskId,
        epoch: Epoch,
    },
    /// A commit of an aborted epoch.
    EpochAborted {
        epoch: Epoch,
    },
    /// An abort of an epoch that is committed, or is the restored checkpoint.
    EpochCompleted {
        epoch: Epoch,
    },
    /// No snapshot of that task and epoch is awaited.
    NoSnapshotPending {
        task: TaskId,
        epoch: Epoch,
    },
    /// The source's partition has ended ([`WorkerInput::SourceExhausted`]): it reads no more
    /// and reports the end once.
    InputEnded {
        task: TaskId,
    },
    /// More records in one [`WorkerInput::SourceRecords`] than the configured limit.
    TooManyRecords {
        count: u32,
        max: u32,
    },
    /// A checkpoint after a stop was requested.
    Stopping {
        mode: StopJobMode,
    },
}

impl fmt::Display for WorkerRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker rejected: {self:?}")
    }
}

impl std::error::Error for WorkerRejected {}

/// Why a worker could not be created. (Serialize only: [`ConfigError`] names its field with a
/// `&'static str`.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum WorkerError {
    Job(JobError),
    Config(ConfigError),
    UnknownWorker {
        worker: WorkerId,
        workers: u32,
    },
    /// The restore state does not fit the tasks this worker hosts.
    BadRestore {
        task: TaskId,
        reason: String,
    },
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Job(e) => write!(f, "worker: {e}"),
            WorkerError::Config(e) => write!(f, "worker: {e}"),
            WorkerError::UnknownWorker { worker, workers } => {
                write!(
                    f,
                    "worker {worker} is not one of the job's {workers} workers"
                )
            }
            WorkerError::BadRestore { task, reason } => {
                write!(f, "restore state of task {task}: {reason}")
            }
        }
    }
}

impl std::error::Error for WorkerError {}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskPhase {
    /// Processing records (a source: reading its partition).
    Running,
    /// Past the barrier of a `then_stop` checkpoint: waiting for its snapshot to be acked
    /// (and, for a two-phase-commit sink, for the commit) before it finishes.
    FinalCheckpoint { epoch: Epoch, acked: bool },
    /// The final checkpoint was aborted: nothing more flows; waiting for a stop.
    Halted { epoch: Epoch },
    /// Ended normally; reported with `TaskFinished`.
    Finished,
    /// Failed; reported with `TaskFailed`.
    Failed,
}

impl TaskPhase {
    /// Whether the task has ended, one way or the other.
    pub fn is_over(self) -> bool {
        matches!(self, TaskPhase::Finished | TaskPhase::Failed)
    }
}

/// A snapshot of one task, for callers, tests and invariant checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task: TaskId,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub worker: WorkerId,
    pub generation: Generation,
    pub restored: Option<Epoch>,
    /// The newest epoch heard of (checkpoint, barrier or restore).
    pub last_epoch: Option<Epoch>,
    /// The newest epoch committed by the controller's command.
    pub committed_through: Option<Epoch>,
    pub stop: Option<StopJobMode>,
    pub tasks: Vec<TaskStatus>,
    pub now: Time,
}

impl WorkerStatus {
    /// Whether every task has finished or failed.
    pub fn all_tasks_over(&self) -> bool {
        self.tasks.iter().all(|t| t.phase.is_over())
    }
}

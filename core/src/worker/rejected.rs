//! Why a worker refuses an input, or cannot be built.

use super::io::{Channel, Record};
use crate::config::ConfigError;
use crate::protocol::StopJobMode;
use crate::types::{Epoch, Generation, JobError, TaskId, Time, WorkerId};
use serde::{Deserialize, Serialize};

/// Why an input was refused. A refused input changes nothing and emits nothing (beyond the
/// timers that were due by its time, which fire first whatever the input).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerRejected {
    /// The input's time is before the worker's last step.
    TimeWentBackwards {
        /// The input's time.
        now: Time,
        /// The time of the worker's last step.
        last: Time,
    },
    /// A command or data item of another generation: a zombie's, or one from the future.
    WrongGeneration {
        /// The generation it carried.
        got: Generation,
        /// This worker's generation.
        current: Generation,
    },
    /// The job has no such task.
    UnknownTask {
        /// The task named.
        task: TaskId,
    },
    /// The task is the job's, but another worker hosts it.
    TaskNotOnWorker {
        /// The task named.
        task: TaskId,
        /// The worker that hosts it.
        worker: WorkerId,
    },
    /// The task has finished or failed (or, for a source, no longer reads).
    TaskNotRunning {
        /// The task named.
        task: TaskId,
    },
    /// Records or an end of input for a task that is not a source.
    NotASource {
        /// The task named.
        task: TaskId,
    },
    /// No edge of the job joins the two tasks' operators.
    NotAChannel {
        /// The channel named.
        channel: Channel,
    },
    /// Both ends are on this worker: such items never leave the worker.
    LocalChannel {
        /// The channel named.
        channel: Channel,
    },
    /// Items on a channel must arrive in sequence.
    OutOfOrder {
        /// The channel.
        channel: Channel,
        /// The number the next item must carry.
        expected: u64,
        /// The number it carried.
        got: u64,
    },
    /// The channel's end of stream (or final barrier) has already arrived.
    ChannelClosed {
        /// The channel.
        channel: Channel,
    },
    /// A record that cannot travel on this channel: routing sends its partition elsewhere.
    Misrouted {
        /// The channel.
        channel: Channel,
        /// The record.
        record: Record,
    },
    /// A record at or below an offset this task already received from its partition.
    OffsetNotIncreasing {
        /// The channel.
        channel: Channel,
        /// The record.
        record: Record,
        /// The highest offset of its partition received so far.
        last: u64,
    },
    /// A barrier not newer than the channel's last barrier or the restored checkpoint.
    BarrierNotIncreasing {
        /// The channel.
        channel: Channel,
        /// The barrier's epoch.
        epoch: Epoch,
        /// The channel's last barrier, or the restored checkpoint.
        last: Option<Epoch>,
    },
    /// A checkpoint not newer than the last one, the last commit or the restored checkpoint.
    EpochNotIncreasing {
        /// The checkpoint asked for.
        epoch: Epoch,
        /// The newest of the three.
        last: Option<Epoch>,
    },
    /// A commit of an epoch this worker has never heard of.
    UnknownEpoch {
        /// The epoch named.
        epoch: Epoch,
    },
    /// A commit of an epoch that a running task here has not aligned (acked) yet.
    NotAligned {
        /// The first such task.
        task: TaskId,
        /// The epoch named.
        epoch: Epoch,
    },
    /// A commit of an aborted epoch.
    EpochAborted {
        /// The epoch named.
        epoch: Epoch,
    },
    /// An abort of an epoch that is committed, or is the restored checkpoint.
    EpochCompleted {
        /// The epoch named.
        epoch: Epoch,
    },
    /// No snapshot of that task and epoch is awaited.
    NoSnapshotPending {
        /// The task named.
        task: TaskId,
        /// The epoch named.
        epoch: Epoch,
    },
    /// The source's partition has ended ([`WorkerInput::SourceExhausted`]): it reads no more
    /// and reports the end once.
    ///
    /// [`WorkerInput::SourceExhausted`]: super::WorkerInput::SourceExhausted
    InputEnded {
        /// The source.
        task: TaskId,
    },
    /// More records in one [`WorkerInput::SourceRecords`] than the configured limit (or more
    /// than the partition's offsets can number).
    ///
    /// [`WorkerInput::SourceRecords`]: super::WorkerInput::SourceRecords
    TooManyRecords {
        /// The records announced.
        count: u32,
        /// [`WorkerConfig::max_poll_records`](super::WorkerConfig::max_poll_records).
        max: u32,
    },
    /// A checkpoint after a stop was requested.
    Stopping {
        /// The stop under way.
        mode: StopJobMode,
    },
}

impl std::error::Error for WorkerRejected {}

/// Why a worker could not be created. (Serialize only: [`ConfigError`] names its field with a
/// `&'static str`.)
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum WorkerError {
    /// The job description is invalid.
    Job(JobError),
    /// The worker's configuration is invalid.
    Config(ConfigError),
    /// The job has no such worker slot.
    UnknownWorker {
        /// The worker asked for.
        worker: WorkerId,
        /// The job's worker count.
        workers: u32,
    },
    /// The restore state does not fit the tasks this worker hosts.
    BadRestore {
        /// The task whose snapshot does not fit.
        task: TaskId,
        /// How it does not fit.
        reason: String,
    },
}

impl std::error::Error for WorkerError {}

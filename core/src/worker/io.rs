//! What goes into and comes out of a worker: the data path, snapshots, commits.

use super::keyed::Key;
use crate::protocol::{FromWorker, ToWorker};
use crate::types::{Epoch, Generation, OperatorId, TaskId, WorkerId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A partition of a source operator. Source subtask `index` of operator `source` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Partition {
    /// The source operator whose input this is a part of.
    pub source: OperatorId,
    /// Which of the operator's partitions: the subtask that reads it.
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
    /// The partition it was read from.
    pub partition: Partition,
    /// Its position in the partition, from 0.
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
    /// The sending subtask.
    pub from: TaskId,
    /// The receiving subtask, of an operator `from`'s operator feeds.
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
    /// A source record on its way to the sinks.
    Record(Record),
    /// Everything before it belongs to checkpoint `epoch`. With `then_stop` it is the last
    /// item on the channel.
    Barrier {
        /// The checkpoint it marks.
        epoch: Epoch,
        /// The checkpoint is the job's final one: nothing follows the barrier.
        then_stop: bool,
    },
    /// The sender has finished: the last item on the channel.
    EndOfStream,
}

/// A two-phase-commit sink's pre-committed data for one epoch: the records it received
/// between the previous barrier and the barrier of `epoch` (plus any carried over from an
/// aborted epoch).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transaction {
    /// The checkpoint whose barrier sealed it; it commits with that checkpoint's commit.
    pub epoch: Epoch,
    /// Its records, each partition's in offset order.
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskSnapshot {
    /// A source: where it reads on from.
    Source {
        /// The offset of the first record after the barrier.
        next_offset: u64,
    },
    /// A transform or a sink without two-phase commit: no state.
    Stateless,
    /// A two-phase-commit sink: what it has pre-committed and not yet committed.
    Sink {
        /// Its transactions, oldest first, the last one being the epoch's own (if it
        /// received any record).
        pending: Vec<Transaction>,
    },
    /// A keyed task ([`OperatorKind::KeyedCount`](crate::OperatorKind::KeyedCount)): its
    /// running counts.
    Keyed {
        /// How many records of each key it took before the barrier, in key order; keys it
        /// never saw are left out.
        counts: Vec<(Key, u64)>,
    },
}

/// Where a worker of a new generation starts from: a completed checkpoint (its metadata is
/// persisted) and the snapshots of this worker's tasks in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Restore {
    /// The checkpoint.
    pub epoch: Epoch,
    /// A snapshot for every source and two-phase-commit sink the worker hosts; others may be
    /// left out.
    pub tasks: Vec<(TaskId, TaskSnapshot)>,
}

/// Everything the environment tells a worker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerInput {
    /// A message from the controller.
    Command(ToWorker),
    /// An item from a task on another worker of `generation`. `seq` counts the items on
    /// `channel` from 0 in each generation, so an item of another generation is refused.
    Data {
        /// The sender's generation.
        generation: Generation,
        /// The channel it travels on.
        channel: Channel,
        /// Its number on the channel.
        seq: u64,
        /// What it carries.
        item: Item,
    },
    /// `count` more records are available in the partition of source `task`; it reads them
    /// now, at its next offsets.
    SourceRecords {
        /// The source.
        task: TaskId,
        /// How many records, at most [`WorkerConfig::max_poll_records`](super::WorkerConfig).
        count: u32,
    },
    /// The partition of source `task` has no more records. The source reports
    /// [`WorkerEvent::InputEnded`](crate::WorkerEvent::InputEnded) and stays alive: it answers
    /// later barriers with its end position and finishes with the final checkpoint.
    SourceExhausted {
        /// The source.
        task: TaskId,
    },
    /// The snapshot that [`WorkerOutput::Snapshot`] asked for is durably stored.
    SnapshotDone {
        /// The task whose snapshot it is.
        task: TaskId,
        /// The checkpoint it belongs to.
        epoch: Epoch,
    },
    /// The snapshot could not be stored.
    SnapshotFailed {
        /// The task whose snapshot it is.
        task: TaskId,
        /// The checkpoint it belongs to.
        epoch: Epoch,
        /// What went wrong, for people.
        reason: String,
    },
    /// The task's own code failed.
    TaskError {
        /// The task.
        task: TaskId,
        /// What went wrong, for people.
        reason: String,
    },
}

/// Every effect a worker asks of its environment.
///
/// Exhaustive on purpose: an effect added later must break an embedder's `match` at compile
/// time, not fall into a catch-all arm and leave the job waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkerOutput {
    /// Send a message to the controller.
    ToController(FromWorker),
    /// Send an item to the worker hosting `channel.to`, to be delivered as
    /// [`WorkerInput::Data`] in `seq` order.
    SendData {
        /// The worker hosting `channel.to`.
        to_worker: WorkerId,
        /// This worker's generation; the receiver refuses other generations.
        generation: Generation,
        /// The channel it travels on.
        channel: Channel,
        /// Its number on the channel, from 0 in each generation.
        seq: u64,
        /// What it carries.
        item: Item,
    },
    /// Durably store `task`'s part of checkpoint `epoch`. Answered by
    /// [`WorkerInput::SnapshotDone`] or [`WorkerInput::SnapshotFailed`].
    Snapshot {
        /// The task whose snapshot it is.
        task: TaskId,
        /// The checkpoint it belongs to.
        epoch: Epoch,
        /// What to store, to be given back in a [`Restore`].
        state: TaskSnapshot,
    },
    /// A sink without two-phase commit writes a record out now (at least once).
    Write {
        /// The sink.
        task: TaskId,
        /// The record.
        record: Record,
    },
    /// A two-phase-commit sink makes a transaction visible. Needs no answer; see
    /// [`TransactionId`] for why a repeat must be a no-op.
    Commit {
        /// The sink.
        task: TaskId,
        /// The transaction's identity in the external system.
        transaction: TransactionId,
        /// Its records.
        records: Vec<Record>,
    },
}

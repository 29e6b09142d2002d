//! One line in domain words for each worker input, output and rejection, for logs, traces
//! and counterexamples: `commit epoch 4 at sink 2/0 (5 records)`, not a `Debug` dump. The
//! words are the controller's (`epoch 4`, `gen 3`, `worker 1`, `task 2/0`); free text is
//! quoted, so that a line stays one line.

use super::io::{Item, TaskSnapshot, Transaction, TransactionId, WorkerInput, WorkerOutput};
use super::{Key, TaskPhase, WorkerError, WorkerRejected};
use crate::types::Epoch;
use std::fmt::{self, Display, Formatter};

impl Display for Item {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Item::Record(record) => write!(f, "record {record}"),
            Item::Barrier {
                epoch,
                then_stop: false,
            } => write!(f, "barrier epoch {}", epoch.0),
            Item::Barrier {
                epoch,
                then_stop: true,
            } => write!(f, "final barrier epoch {}", epoch.0),
            Item::EndOfStream => f.write_str("end of stream"),
        }
    }
}

impl Display for TransactionId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TransactionId::Epoch(epoch) => write!(f, "epoch {}", epoch.0),
            TransactionId::Drain(generation) => write!(f, "the drain of gen {}", generation.0),
        }
    }
}

impl Display for Transaction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epoch {} ({})",
            self.epoch.0,
            records(self.records.len())
        )
    }
}

impl Display for TaskSnapshot {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TaskSnapshot::Source { next_offset } => write!(f, "source at offset {next_offset}"),
            TaskSnapshot::Stateless => f.write_str("no state"),
            TaskSnapshot::Sink { pending } => {
                let held: usize = pending.iter().map(|t| t.records.len()).sum();
                write!(
                    f,
                    "{}, {}",
                    count(pending.len(), "pre-commit"),
                    records(held)
                )
            }
            TaskSnapshot::Keyed { counts } => {
                let total: u64 = counts.iter().map(|&(_, n)| n).sum();
                write!(f, "{}, {total} records counted", count(counts.len(), "key"))
            }
        }
    }
}

impl Display for Key {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}/k{}", self.partition, self.bucket)
    }
}

impl Display for TaskPhase {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TaskPhase::Running => f.write_str("running"),
            TaskPhase::FinalCheckpoint { epoch, acked } => {
                let acked = if *acked { ", acked" } else { "" };
                write!(f, "in final checkpoint epoch {}{acked}", epoch.0)
            }
            TaskPhase::Halted { epoch } => {
                write!(f, "halted: final checkpoint epoch {} aborted", epoch.0)
            }
            TaskPhase::Finished => f.write_str("finished"),
            TaskPhase::Failed => f.write_str("failed"),
        }
    }
}

impl Display for WorkerInput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkerInput::Command(message) => write!(f, "from the controller, {message}"),
            WorkerInput::Data {
                generation,
                channel,
                seq,
                item,
            } => write!(f, "{item} on {channel} #{seq} (gen {})", generation.0),
            WorkerInput::SourceRecords { task, count } => {
                write!(f, "{} available to source {task}", records(*count as usize))
            }
            WorkerInput::SourceExhausted { task } => {
                write!(f, "source {task} reaches the end of its input")
            }
            WorkerInput::SnapshotDone { task, epoch } => {
                write!(f, "snapshot of task {task} for epoch {} stored", epoch.0)
            }
            WorkerInput::SnapshotFailed {
                task,
                epoch,
                reason,
            } => write!(
                f,
                "snapshot of task {task} for epoch {} failed: {reason:?}",
                epoch.0
            ),
            WorkerInput::TaskError { task, reason } => {
                write!(f, "task {task} fails: {reason:?}")
            }
        }
    }
}

impl Display for WorkerOutput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkerOutput::ToController(message) => write!(f, "to the controller, {message}"),
            WorkerOutput::SendData {
                to_worker,
                generation,
                channel,
                seq,
                item,
            } => write!(
                f,
                "send {item} on {channel} #{seq} to worker {} (gen {})",
                to_worker.0, generation.0
            ),
            WorkerOutput::Snapshot { task, epoch, state } => write!(
                f,
                "store snapshot of task {task} for epoch {}: {state}",
                epoch.0
            ),
            WorkerOutput::Write { task, record } => write!(f, "write {record} at sink {task}"),
            WorkerOutput::Commit {
                task,
                transaction,
                records: committed,
            } => write!(
                f,
                "commit {transaction} at sink {task} ({})",
                records(committed.len())
            ),
        }
    }
}

impl Display for WorkerRejected {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        use WorkerRejected as R;
        match self {
            R::TimeWentBackwards { now, last } => {
                write!(f, "time went backwards: {now} is before {last}")
            }
            R::WrongGeneration { got, current } => write!(
                f,
                "a message of gen {}; this worker runs gen {}",
                got.0, current.0
            ),
            R::UnknownTask { task } => write!(f, "the job has no task {task}"),
            R::TaskNotOnWorker { task, worker } => {
                write!(f, "task {task} runs on worker {}", worker.0)
            }
            R::TaskNotRunning { task } => write!(f, "task {task} no longer runs"),
            R::NotASource { task } => write!(f, "task {task} is not a source"),
            R::NotAChannel { channel } => write!(f, "no edge of the job carries {channel}"),
            R::LocalChannel { channel } => write!(f, "{channel} never leaves this worker"),
            R::OutOfOrder {
                channel,
                expected,
                got,
            } => write!(f, "item #{got} on {channel}, expected #{expected}"),
            R::ChannelClosed { channel } => write!(f, "{channel} has already ended"),
            R::Misrouted { channel, record } => {
                write!(f, "record {record} does not travel on {channel}")
            }
            R::OffsetNotIncreasing {
                channel,
                record,
                last,
            } => write!(
                f,
                "record {record} on {channel}: offset {last} already received"
            ),
            R::BarrierNotIncreasing {
                channel,
                epoch,
                last,
            } => write!(
                f,
                "barrier epoch {} on {channel} is not newer than {}",
                epoch.0,
                EpochOrNothing(*last)
            ),
            R::EpochNotIncreasing { epoch, last } => write!(
                f,
                "checkpoint epoch {} is not newer than {}",
                epoch.0,
                EpochOrNothing(*last)
            ),
            R::UnknownEpoch { epoch } => {
                write!(f, "commit of epoch {}, never heard of here", epoch.0)
            }
            R::NotAligned { task, epoch } => {
                write!(
                    f,
                    "commit of epoch {} before task {task} aligned it",
                    epoch.0
                )
            }
            R::EpochAborted { epoch } => {
                write!(f, "commit of epoch {}, which was aborted", epoch.0)
            }
            R::EpochCompleted { epoch } => {
                write!(f, "abort of epoch {}, committed or restored", epoch.0)
            }
            R::NoSnapshotPending { task, epoch } => write!(
                f,
                "no snapshot of task {task} for epoch {} is awaited",
                epoch.0
            ),
            R::InputEnded { task } => write!(f, "the input of source {task} has ended"),
            R::TooManyRecords { count, max } => {
                write!(f, "{} at once, more than {max}", records(*count as usize))
            }
            R::Stopping { mode } => write!(f, "checkpoint refused: {mode} stop under way"),
        }
    }
}

impl Display for WorkerError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Job(e) => write!(f, "worker: {e}"),
            WorkerError::Config(e) => write!(f, "worker: {e}"),
            WorkerError::UnknownWorker { worker, workers } => write!(
                f,
                "worker {} is not one of the job's {workers} workers",
                worker.0
            ),
            WorkerError::BadRestore { task, reason } => {
                write!(f, "restore state of task {task}: {reason}")
            }
        }
    }
}

fn records(n: usize) -> String {
    count(n, "record")
}

fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

struct EpochOrNothing(Option<Epoch>);

impl Display for EpochOrNothing {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(epoch) => write!(f, "epoch {}", epoch.0),
            None => f.write_str("nothing"),
        }
    }
}

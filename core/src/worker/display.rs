//! One line in domain words for each worker input, output and rejection, for logs, traces
//! and counterexamples: `commit e4 at sink 2/0 (5 records)`, not a `Debug` dump.

use super::io::{Item, TaskSnapshot, Transaction, TransactionId, WorkerInput, WorkerOutput};
use super::{TaskPhase, WorkerError, WorkerRejected};
use crate::protocol::{Command, StopMode, WorkerEvent};
use std::fmt::{self, Display, Formatter};

impl Display for Item {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Item::Record(record) => write!(f, "record {record}"),
            Item::Barrier {
                epoch,
                then_stop: false,
            } => write!(f, "barrier {epoch}"),
            Item::Barrier {
                epoch,
                then_stop: true,
            } => write!(f, "final barrier {epoch}"),
            Item::EndOfStream => f.write_str("end of stream"),
        }
    }
}

impl Display for TransactionId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TransactionId::Epoch(epoch) => write!(f, "{epoch}"),
            TransactionId::Drain(generation) => write!(f, "the drain of {generation}"),
        }
    }
}

impl Display for Transaction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.epoch, records(self.records.len()))
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
        }
    }
}

impl Display for TaskPhase {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TaskPhase::Running => f.write_str("running"),
            TaskPhase::FinalCheckpoint { epoch, acked } => {
                let acked = if *acked { ", acked" } else { "" };
                write!(f, "in final checkpoint {epoch}{acked}")
            }
            TaskPhase::Halted { epoch } => write!(f, "halted: final checkpoint {epoch} aborted"),
            TaskPhase::Finished => f.write_str("finished"),
            TaskPhase::Failed => f.write_str("failed"),
        }
    }
}

impl Display for WorkerInput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkerInput::Command(message) => {
                write!(f, "controller ({}): ", message.generation)?;
                command(f, &message.command)
            }
            WorkerInput::Data {
                generation,
                channel,
                seq,
                item,
            } => write!(f, "{item} on {channel} #{seq} ({generation})"),
            WorkerInput::SourceRecords { task, count } => {
                write!(f, "{} available to source {task}", records(*count as usize))
            }
            WorkerInput::SourceExhausted { task } => {
                write!(f, "source {task} reaches the end of its input")
            }
            WorkerInput::SnapshotDone { task, epoch } => {
                write!(f, "snapshot of {task} for {epoch} stored")
            }
            WorkerInput::SnapshotFailed {
                task,
                epoch,
                reason,
            } => write!(f, "snapshot of {task} for {epoch} failed: {reason}"),
            WorkerInput::TaskError { task, reason } => write!(f, "task {task} fails: {reason}"),
        }
    }
}

impl Display for WorkerOutput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            WorkerOutput::ToController(message) => {
                write!(
                    f,
                    "{}/{} to controller: ",
                    message.worker, message.generation
                )?;
                event(f, &message.event)
            }
            WorkerOutput::SendData {
                to_worker,
                generation,
                channel,
                seq,
                item,
            } => write!(
                f,
                "send {item} on {channel} #{seq} to {to_worker} ({generation})"
            ),
            WorkerOutput::Snapshot { task, epoch, state } => {
                write!(f, "store snapshot of {task} for {epoch}: {state}")
            }
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
            R::WrongGeneration { got, current } => {
                write!(f, "a message of {got}; this worker runs {current}")
            }
            R::UnknownTask { task } => write!(f, "the job has no task {task}"),
            R::TaskNotOnWorker { task, worker } => write!(f, "task {task} runs on {worker}"),
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
            } => {
                write!(f, "barrier {epoch} on {channel} is not newer than ")?;
                epoch_or_nothing(f, *last)
            }
            R::EpochNotIncreasing { epoch, last } => {
                write!(f, "checkpoint {epoch} is not newer than ")?;
                epoch_or_nothing(f, *last)
            }
            R::UnknownEpoch { epoch } => write!(f, "commit of {epoch}, never heard of here"),
            R::NotAligned { task, epoch } => {
                write!(f, "commit of {epoch} before {task} aligned it")
            }
            R::EpochAborted { epoch } => write!(f, "commit of {epoch}, which was aborted"),
            R::EpochCompleted { epoch } => {
                write!(f, "abort of {epoch}, which is committed or restored")
            }
            R::NoSnapshotPending { task, epoch } => {
                write!(f, "no snapshot of {task} for {epoch} is awaited")
            }
            R::InputEnded { task } => write!(f, "the input of source {task} has ended"),
            R::TooManyRecords { count, max } => {
                write!(f, "{} at once, more than {max}", records(*count as usize))
            }
            R::Stopping { mode } => {
                write!(
                    f,
                    "checkpoint refused: {} stop under way",
                    StopMode::from(*mode)
                )
            }
        }
    }
}

impl Display for WorkerError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
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

fn epoch_or_nothing(f: &mut Formatter<'_>, epoch: Option<crate::Epoch>) -> fmt::Result {
    match epoch {
        Some(epoch) => write!(f, "{epoch}"),
        None => f.write_str("nothing"),
    }
}

fn command(f: &mut Formatter<'_>, command: &Command) -> fmt::Result {
    match command {
        Command::Checkpoint {
            epoch,
            then_stop: false,
        } => write!(f, "checkpoint {epoch}"),
        Command::Checkpoint {
            epoch,
            then_stop: true,
        } => write!(f, "final checkpoint {epoch}"),
        Command::Commit { epoch } => write!(f, "commit {epoch}"),
        Command::Abort { epoch } => write!(f, "abort {epoch}"),
        Command::Stop { mode } => write!(f, "{} stop", StopMode::from(*mode)),
    }
}

fn event(f: &mut Formatter<'_>, event: &WorkerEvent) -> fmt::Result {
    match event {
        WorkerEvent::Ready => f.write_str("ready"),
        WorkerEvent::Heartbeat => f.write_str("heartbeat"),
        WorkerEvent::CheckpointAcked { task, epoch } => write!(f, "{task} acks {epoch}"),
        WorkerEvent::CheckpointFailed {
            task,
            epoch,
            reason,
        } => write!(f, "{task} fails {epoch}: {reason}"),
        WorkerEvent::Committed { task, epoch } => write!(f, "{task} commits {epoch}"),
        WorkerEvent::InputEnded { task } => write!(f, "{task} reads the end of its input"),
        WorkerEvent::TaskFinished { task } => write!(f, "{task} finishes"),
        WorkerEvent::TaskFailed { task, reason } => write!(f, "{task} fails: {reason}"),
    }
}

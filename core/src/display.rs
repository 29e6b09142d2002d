//! Every message and decision of the controller in domain words, one line each: what the
//! walkthrough, the explorer's counterexamples and an embedder's logs print.

use crate::controller::io::{
    AbortReason, CheckpointStage, Event, Input, InputKind, Output, Reason, Rejected, State,
    Stopping,
};
use crate::protocol::{Command, FromWorker, StopJobMode, StopMode, ToWorker, WorkerEvent};
use std::fmt;

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

impl fmt::Display for StopJobMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        StopMode::from(*self).fmt(f)
    }
}

impl fmt::Display for ToWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gen {}: {}", self.generation.0, self.command)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Checkpoint {
                epoch,
                then_stop: false,
            } => write!(f, "checkpoint epoch {}", epoch.0),
            Command::Checkpoint {
                epoch,
                then_stop: true,
            } => write!(f, "checkpoint epoch {} (then stop)", epoch.0),
            Command::Commit { epoch } => write!(f, "commit epoch {}", epoch.0),
            Command::Abort { epoch } => write!(f, "abort epoch {}", epoch.0),
            Command::Stop { mode } => write!(f, "stop ({mode})"),
        }
    }
}

impl fmt::Display for FromWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worker {} (gen {}): {}",
            self.worker.0, self.generation.0, self.event
        )
    }
}

impl fmt::Display for WorkerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerEvent::Ready => f.write_str("ready"),
            WorkerEvent::Heartbeat => f.write_str("heartbeat"),
            WorkerEvent::CheckpointAcked { task, epoch } => {
                write!(f, "ack epoch {} from task {task}", epoch.0)
            }
            WorkerEvent::CheckpointFailed {
                task,
                epoch,
                reason,
            } => write!(f, "task {task} failed epoch {}: {reason:?}", epoch.0),
            WorkerEvent::Committed { task, epoch } => {
                write!(f, "task {task} committed epoch {}", epoch.0)
            }
            WorkerEvent::InputEnded { task } => write!(f, "task {task} read the end of its input"),
            WorkerEvent::TaskFinished { task } => write!(f, "task {task} finished"),
            WorkerEvent::TaskFailed { task, reason } => write!(f, "task {task} failed: {reason:?}"),
        }
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

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stop(mode) => write!(f, "stop requested ({mode})"),
            Input::Worker(message) => message.fmt(f),
            Input::SchedulerFailed { generation, reason } => {
                write!(
                    f,
                    "scheduler failed to start gen {}: {reason:?}",
                    generation.0
                )
            }
            Input::WorkerExited { worker, generation } => {
                write!(f, "worker {} (gen {}) exited", worker.0, generation.0)
            }
            Input::WorkersStopped { generation } => {
                write!(f, "workers of gen {} stopped", generation.0)
            }
            Input::MetadataPersisted { epoch } => {
                write!(f, "metadata of epoch {} persisted", epoch.0)
            }
            Input::MetadataPersistFailed { epoch, reason } => {
                write!(
                    f,
                    "persisting metadata of epoch {} failed: {reason:?}",
                    epoch.0
                )
            }
            Input::CleanupDone { before } => {
                write!(f, "checkpoints before epoch {} deleted", before.0)
            }
            Input::TriggerCheckpoint { request } => {
                write!(f, "checkpoint asked for now (request {})", request.0)
            }
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputKind::Stop => "a stop request",
            InputKind::Ready => "a ready report",
            InputKind::Heartbeat => "a heartbeat",
            InputKind::CheckpointAcked => "a checkpoint ack",
            InputKind::CheckpointFailed => "a checkpoint failure",
            InputKind::Committed => "a commit report",
            InputKind::InputEnded => "an end of input",
            InputKind::TaskFinished => "a finished task",
            InputKind::TaskFailed => "a failed task",
            InputKind::SchedulerFailed => "a scheduler failure",
            InputKind::WorkerExited => "a worker exit",
            InputKind::WorkersStopped => "a kill confirmation",
            InputKind::MetadataPersisted => "a metadata persist",
            InputKind::MetadataPersistFailed => "a metadata persist failure",
            InputKind::CleanupDone => "a cleanup confirmation",
            InputKind::TriggerCheckpoint => "a checkpoint request",
        })
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::StartWorkers {
                generation,
                restore: None,
            } => write!(f, "start workers of gen {}", generation.0),
            Output::StartWorkers {
                generation,
                restore: Some(epoch),
            } => write!(
                f,
                "start workers of gen {} from epoch {}",
                generation.0, epoch.0
            ),
            Output::StopWorkers { generation } => {
                write!(f, "kill workers of gen {}", generation.0)
            }
            Output::ReleaseWorkers { generation } => {
                write!(f, "release workers of gen {}", generation.0)
            }
            Output::Send { worker, message } => write!(
                f,
                "send to worker {} (gen {}): {}",
                worker.0, message.generation.0, message.command
            ),
            Output::PersistMetadata { epoch, generation } => write!(
                f,
                "persist metadata of epoch {} (gen {})",
                epoch.0, generation.0
            ),
            Output::Cleanup { before } => {
                write!(f, "delete checkpoints before epoch {}", before.0)
            }
            Output::Event(event) => event.fmt(f),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Transition {
                from: Some(from),
                to,
                reason,
            } => write!(f, "{from} -> {to}: {reason}"),
            Event::Transition {
                from: None,
                to,
                reason,
            } => write!(f, "-> {to}: {reason}"),
            Event::StopRequested { mode } => write!(f, "stop accepted ({mode})"),
            Event::CheckpointStarted {
                epoch,
                then_stop: false,
            } => write!(f, "checkpoint epoch {} started", epoch.0),
            Event::CheckpointStarted {
                epoch,
                then_stop: true,
            } => write!(f, "final checkpoint epoch {} started", epoch.0),
            Event::CheckpointAcked { epoch } => {
                write!(f, "every task acked epoch {}", epoch.0)
            }
            Event::CheckpointCompleted { epoch } => {
                write!(f, "checkpoint epoch {} completed", epoch.0)
            }
            Event::CommitStarted { epoch, tasks } => {
                write!(f, "commit of epoch {} asked of {tasks} sinks", epoch.0)
            }
            Event::CheckpointCommitted { epoch } => {
                write!(f, "checkpoint epoch {} committed", epoch.0)
            }
            Event::CheckpointAborted { epoch, reason } => {
                write!(f, "checkpoint epoch {} aborted: {reason}", epoch.0)
            }
            Event::CleanupStarted { before } => {
                write!(f, "cleanup before epoch {} started", before.0)
            }
            Event::CleanupAbandoned { before } => {
                write!(f, "cleanup before epoch {} abandoned", before.0)
            }
            Event::WorkerLost { worker } => write!(f, "worker {} lost", worker.0),
            Event::KillRetried {
                generation,
                attempt,
            } => write!(
                f,
                "kill of gen {} asked again (attempt {attempt})",
                generation.0
            ),
            Event::RestartScheduled { delay_ms, restarts } => {
                write!(f, "restart {restarts} in {delay_ms} ms")
            }
            Event::RestartBudgetReset => f.write_str("healthy: restart budget full again"),
            Event::CheckpointRequestQueued { request } => {
                write!(
                    f,
                    "request {} waits for the checkpoint in flight",
                    request.0
                )
            }
            Event::CheckpointRequestStarted { request, epoch } => {
                write!(f, "request {} served by epoch {}", request.0, epoch.0)
            }
            Event::CheckpointRequestCompleted { request, epoch } => {
                write!(f, "request {} completed by epoch {}", request.0, epoch.0)
            }
            Event::CheckpointRequestAborted {
                request,
                epoch: Some(epoch),
                reason,
            } => write!(
                f,
                "request {} aborted with epoch {}: {reason}",
                request.0, epoch.0
            ),
            Event::CheckpointRequestAborted {
                request,
                epoch: None,
                reason,
            } => write!(
                f,
                "request {} dropped before it started: {reason}",
                request.0
            ),
        }
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbortReason::TimedOut => f.write_str("timed out"),
            AbortReason::TaskFailed { task, reason } => {
                write!(f, "task {task} failed its snapshot: {reason:?}")
            }
            AbortReason::PersistFailed { reason } => {
                write!(f, "persisting its metadata failed: {reason:?}")
            }
            AbortReason::Superseded => f.write_str("overtaken by a stop or a recovery"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Created => f.write_str("job created"),
            Reason::WorkersReady => f.write_str("every worker ready"),
            Reason::StopRequested(mode) => write!(f, "stop requested ({mode})"),
            Reason::TtlExpired => f.write_str("time to live over"),
            Reason::SchedulingTimedOut => f.write_str("workers not ready in time"),
            Reason::SchedulerFailed(reason) => write!(f, "scheduler failed: {reason:?}"),
            Reason::TaskFailed { task, reason } => write!(f, "task {task} failed: {reason:?}"),
            Reason::TaskFinishedEarly { task } => write!(f, "task {task} finished early"),
            Reason::WorkerLost { worker } => write!(f, "worker {} lost", worker.0),
            Reason::TooManyCheckpointFailures { consecutive } => {
                write!(f, "{consecutive} checkpoint failures in a row")
            }
            Reason::CheckpointCommitTimedOut { epoch } => {
                write!(f, "commit of epoch {} timed out", epoch.0)
            }
            Reason::FinalCheckpointTimedOut => f.write_str("final checkpoint timed out"),
            Reason::FinalCheckpointFailed { epoch } => {
                write!(f, "final checkpoint epoch {} failed", epoch.0)
            }
            Reason::StopTimedOut => f.write_str("tasks not finished in time"),
            Reason::SourcesFinished => f.write_str("every source read the end of its input"),
            Reason::AllTasksFinished => f.write_str("every task finished"),
            Reason::FinalCheckpointCommitted { epoch } => {
                write!(f, "final checkpoint epoch {} committed", epoch.0)
            }
            Reason::WorkersStopped => f.write_str("workers gone"),
            Reason::KillUnconfirmed { attempts } => {
                write!(f, "kill unconfirmed after {attempts} attempts")
            }
            Reason::RestartBudgetExhausted => f.write_str("restart budget exhausted"),
            Reason::RestartBackoffElapsed => f.write_str("restart delay over"),
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rejected: ")?;
        match self {
            Rejected::TimeWentBackwards { now, last } => {
                write!(f, "time went backwards ({now} is before {last})")
            }
            Rejected::Terminal { state } => write!(f, "the job is over ({state})"),
            Rejected::WrongGeneration { got, current } if got < current => {
                write!(f, "stale generation {} (current {})", got.0, current.0)
            }
            Rejected::WrongGeneration { got, current } => {
                write!(f, "unknown generation {} (current {})", got.0, current.0)
            }
            Rejected::UnknownWorker { worker } => write!(f, "no worker {} in the job", worker.0),
            Rejected::UnknownTask { task } => write!(f, "no task {task} in the job"),
            Rejected::TaskNotOnWorker { task, worker } => {
                write!(f, "task {task} does not run on worker {}", worker.0)
            }
            Rejected::TaskNotRunning { task } => write!(f, "task {task} is no longer running"),
            Rejected::WrongEpoch {
                got,
                expected: Some(expected),
            } => write!(
                f,
                "epoch {} is not in flight (epoch {} is)",
                got.0, expected.0
            ),
            Rejected::WrongEpoch {
                got,
                expected: None,
            } => write!(f, "epoch {} is not in flight (none is)", got.0),
            Rejected::NotPersisting { epoch, stage } => {
                write!(f, "epoch {} is not being persisted: ", epoch.0)?;
                match stage {
                    CheckpointStage::Barriers { acked, tasks } => {
                        write!(f, "it still collects acks ({acked}/{tasks})")
                    }
                    CheckpointStage::Committing { committed, tasks } => {
                        write!(f, "it is persisted, {committed}/{tasks} sinks committed")
                    }
                    CheckpointStage::Persisting => f.write_str("it is"),
                }
            }
            Rejected::DuplicateAck { task, epoch } => {
                write!(f, "task {task} already acked epoch {}", epoch.0)
            }
            Rejected::DuplicateCommit { task, epoch } => {
                write!(f, "task {task} already committed epoch {}", epoch.0)
            }
            Rejected::DuplicateInputEnded { task } => {
                write!(f, "task {task} already read the end of its input")
            }
            Rejected::NotASource { task } => write!(f, "task {task} is not a source"),
            Rejected::DuplicateReady { worker } => {
                write!(f, "worker {} is already ready", worker.0)
            }
            Rejected::NotParticipating { task, epoch } => {
                write!(f, "task {task} takes no part in epoch {}", epoch.0)
            }
            Rejected::Unexpected { input, state } => write!(f, "{input} is unexpected in {state}"),
            Rejected::StopNotStronger { current, requested } => write!(
                f,
                "a {requested} stop is not stronger than the {current} stop under way"
            ),
            Rejected::CheckpointRequestPending { pending } => write!(
                f,
                "request {} waits already: one checkpoint request waits at a time",
                pending.0
            ),
            Rejected::DuplicateCheckpointRequest { request } => {
                write!(f, "request {} is waiting or in flight already", request.0)
            }
            Rejected::WrongCleanup {
                got,
                expected: Some(expected),
            } => write!(
                f,
                "no cleanup before epoch {} was asked (one before epoch {} was)",
                got.0, expected.0
            ),
            Rejected::WrongCleanup {
                got,
                expected: None,
            } => write!(
                f,
                "no cleanup before epoch {} was asked (none is running)",
                got.0
            ),
        }
    }
}

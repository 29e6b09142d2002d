//! The controller's states with the data only each has, and the legal transitions.

use super::*;

/// How a task of the current generation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) enum TaskRun {
    Running,
    /// A source that read the end of its input; it still answers barriers.
    InputEnded,
    Finished,
    Failed,
}

impl TaskRun {
    /// Whether the task still runs (and so takes part in checkpoints).
    pub(super) fn alive(self) -> bool {
        matches!(self, TaskRun::Running | TaskRun::InputEnded)
    }
}

/// What the controller knows of a worker of the current generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) enum Seen {
    /// Last heard from at this time.
    At(Time),
    /// Declared lost: nothing it says revives it in this generation.
    Lost,
}

impl Seen {
    /// When the worker is overdue, if it is not lost already.
    pub(super) fn deadline(self, timeout_ms: u64) -> Option<Time> {
        match self {
            Seen::At(at) => Some(at.plus_ms(timeout_ms)),
            Seen::Lost => None,
        }
    }
}

/// The kill of a generation's workers: asked, then re-asked after pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct Kill {
    /// 1 for the first ask.
    pub(super) attempt: u32,
    /// Whether the Kill timer counts a pause before re-asking (else: the wait for confirmation).
    pub(super) pausing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) enum RecoveryStage {
    /// The failed generation's workers are being killed. The restart budget counts the
    /// failure at `failed_at`, when it happened, not when the kill is confirmed.
    Killing { kill: Kill, failed_at: Time },
    /// Workers confirmed gone; waiting out the restart delay.
    Backoff,
}

/// The controller's state with the data only that state has.
///
/// A plain one-byte tag (`repr(u8)`) rather than one folded into the fields of `Scheduling`:
/// every input asks which phase the controller is in, and a tag is one compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub(super) enum Phase {
    Scheduling { ready: Vec<bool>, waiting: u32 },
    Running,
    CheckpointStopping,
    StopJob(StopJobMode),
    StopWorkers { kill: Kill },
    Recovering(RecoveryStage),
    Finishing,
    Stopped,
    Finished,
    Failed,
}

impl Phase {
    /// Whether the job is over: the same as `self.state().is_terminal()`, without building
    /// the state on every input.
    #[inline]
    pub(super) fn is_terminal(&self) -> bool {
        matches!(self, Phase::Stopped | Phase::Finished | Phase::Failed)
    }

    /// Whether workers' messages are taken: not once the generation is being killed
    /// (StopWorkers, Recovering), when workers have nothing left to say.
    #[inline]
    pub(super) fn listens_to_workers(&self) -> bool {
        !matches!(self, Phase::StopWorkers { .. } | Phase::Recovering(_))
    }

    pub(super) fn state(&self) -> State {
        match self {
            Phase::Scheduling { .. } => State::Scheduling,
            Phase::Running => State::Running,
            Phase::CheckpointStopping => State::CheckpointStopping,
            Phase::StopJob(mode) => State::Stopping(Stopping::StopJob(*mode)),
            Phase::StopWorkers { .. } => State::Stopping(Stopping::StopWorkers),
            Phase::Recovering(_) => State::Recovering,
            Phase::Finishing => State::Finishing,
            Phase::Stopped => State::Stopped,
            Phase::Finished => State::Finished,
            Phase::Failed => State::Failed,
        }
    }
}

/// Whether `from -> to` is a transition of the design. Checked in one place, on every
/// transition (debug builds assert it).
pub fn is_legal_transition(from: State, to: State) -> bool {
    use io::Stopping::{StopJob, StopWorkers};
    use State::*;
    let graceful = Stopping(StopJob(StopJobMode::Graceful));
    let immediate = Stopping(StopJob(StopJobMode::Immediate));
    let kill = Stopping(StopWorkers);
    match from {
        Scheduling => [Running, Recovering, kill].contains(&to),
        Running => [
            CheckpointStopping,
            graceful,
            immediate,
            kill,
            Recovering,
            Finishing,
        ]
        .contains(&to),
        CheckpointStopping => [graceful, immediate, kill, Stopped].contains(&to),
        _ if from == graceful => [immediate, kill, Stopped].contains(&to),
        _ if from == immediate => [kill, Stopped].contains(&to),
        _ if from == kill => [Stopped, Failed].contains(&to),
        Recovering => [Scheduling, Failed, kill, Stopped].contains(&to),
        Finishing => [
            Finished,
            Recovering,
            CheckpointStopping,
            graceful,
            immediate,
            kill,
        ]
        .contains(&to),
        _ => false,
    }
}

/// The checkpoint in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) epoch: Epoch,
    pub(super) then_stop: bool,
    pub(super) stage: Stage,
    /// The request it serves, until it completes or aborts.
    pub(super) request: Option<RequestId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) enum Stage {
    /// `Controller::marks` flags the tasks that acked.
    Barriers {
        remaining: u32,
    },
    Persisting,
    /// `Controller::marks` flags the sinks that committed.
    Committing {
        remaining: u32,
    },
}

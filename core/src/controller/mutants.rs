//! Known controller bugs, re-introduced on request (cargo feature `mutants`, never on by
//! default) so that the model checker, the simulator and the tests can prove that the property
//! named for each bug catches it.

use crate::property::Property;
use serde::{Deserialize, Serialize};

/// A re-introduced bug, with the property that must catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Mutant {
    /// No timeout on the final checkpoint of a checkpoint stop (one stuck task hangs the stop).
    NoFinalCheckpointTimeout,
    /// A force stop requested during the final checkpoint is accepted but does nothing.
    ForceIgnoredInFinalCheckpoint,
    /// A checkpoint stop starts the final checkpoint while a periodic one is still in flight.
    SecondCheckpointInFlight,
    /// Sinks are told to commit as soon as every task acked, before the metadata is persisted.
    CommitBeforePersist,
    /// Messages of the previous generation are accepted as if they were current.
    AcceptOldGenerationAck,
    /// A task failure or lost worker during a stop does not escalate: the stop waits it out.
    WaitOnDeadTask,
    /// An input is applied without first firing the timers due by its time: a late last ack
    /// completes a checkpoint whose timeout has passed.
    InputOutrunsTimers,
    /// A finish that overtakes its task's ack (or a sink's commit) of the final checkpoint is
    /// taken as an early finish and not counted: the stop it escalates to waits out its
    /// timeout for a finish that already came.
    UncountedEarlyFinish,
    /// A checkpoint asked for on demand while one is in flight starts at once, beside it,
    /// instead of waiting for it to end.
    RequestBesideInflight,
}

impl Mutant {
    /// Every known bug.
    pub const ALL: [Mutant; 9] = [
        Mutant::NoFinalCheckpointTimeout,
        Mutant::ForceIgnoredInFinalCheckpoint,
        Mutant::SecondCheckpointInFlight,
        Mutant::CommitBeforePersist,
        Mutant::AcceptOldGenerationAck,
        Mutant::WaitOnDeadTask,
        Mutant::InputOutrunsTimers,
        Mutant::UncountedEarlyFinish,
        Mutant::RequestBesideInflight,
    ];

    /// The property (see `specs/PROPERTIES.md`) that must catch this bug.
    pub fn property(self) -> Property {
        match self {
            Mutant::NoFinalCheckpointTimeout => Property::StopTerminates,
            Mutant::ForceIgnoredInFinalCheckpoint => Property::EscalationImmediate,
            Mutant::SecondCheckpointInFlight => Property::SingleCheckpointInFlight,
            Mutant::CommitBeforePersist => Property::CommitAfterPersist,
            Mutant::AcceptOldGenerationAck => Property::StaleGenerationInert,
            Mutant::WaitOnDeadTask => Property::DeadTaskEscalates,
            Mutant::InputOutrunsTimers => Property::TimersBeforeInputs,
            Mutant::UncountedEarlyFinish => Property::NoNeedlessWait,
            Mutant::RequestBesideInflight => Property::SingleCheckpointInFlight,
        }
    }

    /// The name used by switches and reports, e.g. `no-final-checkpoint-timeout`.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::NoFinalCheckpointTimeout => "no-final-checkpoint-timeout",
            Mutant::ForceIgnoredInFinalCheckpoint => "force-ignored-in-final-checkpoint",
            Mutant::SecondCheckpointInFlight => "second-checkpoint-in-flight",
            Mutant::CommitBeforePersist => "commit-before-persist",
            Mutant::AcceptOldGenerationAck => "accept-old-generation-ack",
            Mutant::WaitOnDeadTask => "wait-on-dead-task",
            Mutant::InputOutrunsTimers => "input-outruns-timers",
            Mutant::UncountedEarlyFinish => "uncounted-early-finish",
            Mutant::RequestBesideInflight => "request-beside-inflight",
        }
    }
}

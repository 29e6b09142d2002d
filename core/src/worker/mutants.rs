//! Known worker bugs, re-introduced on request (cargo feature `mutants`, never on by default)
//! so that the simulator and the tests can prove that the check named for each bug catches it.

use crate::property::Property;
use serde::{Deserialize, Serialize};

/// A re-introduced bug, with the property that must catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkerMutant {
    /// An abort drops its pre-commit's records instead of carrying them into the next one:
    /// the sources do not rewind, so the records are lost.
    AbortDropsRecords,
    /// A commit makes the pre-commits visible but keeps them: the next commit repeats them.
    CommitKeepsPreCommits,
    /// A channel is not blocked at its barrier: records behind it are taken before the
    /// alignment completes and land in the epoch's pre-commit, though the sources' snapshot
    /// says they come after it; a restore reads them again.
    NoAlignment,
    /// Commands and data items of another generation are taken as current.
    AcceptOtherGeneration,
    /// An input handled at or past the heartbeat's deadline applies before the heartbeat
    /// fires: the late input outruns the timer.
    InputOutrunsTimers,
    /// A keyed task restored from a checkpoint starts its counts from zero: the records the
    /// checkpoint covers are read on from after it, so they are never counted again.
    KeyedStateNotRestored,
}

impl WorkerMutant {
    /// Every known bug.
    pub const ALL: [WorkerMutant; 6] = [
        WorkerMutant::AbortDropsRecords,
        WorkerMutant::CommitKeepsPreCommits,
        WorkerMutant::NoAlignment,
        WorkerMutant::AcceptOtherGeneration,
        WorkerMutant::InputOutrunsTimers,
        WorkerMutant::KeyedStateNotRestored,
    ];

    /// The property that must catch this bug.
    pub fn property(self) -> Property {
        match self {
            WorkerMutant::AbortDropsRecords => Property::ExactlyOnce,
            WorkerMutant::CommitKeepsPreCommits => Property::ExactlyOnce,
            WorkerMutant::NoAlignment => Property::ExactlyOnce,
            WorkerMutant::AcceptOtherGeneration => Property::StaleGenerationInert,
            WorkerMutant::InputOutrunsTimers => Property::TimersBeforeInputs,
            WorkerMutant::KeyedStateNotRestored => Property::ExactlyOnce,
        }
    }

    /// The name used by switches and reports, e.g. `abort-drops-records`.
    pub fn name(self) -> &'static str {
        match self {
            WorkerMutant::AbortDropsRecords => "abort-drops-records",
            WorkerMutant::CommitKeepsPreCommits => "commit-keeps-pre-commits",
            WorkerMutant::NoAlignment => "no-alignment",
            WorkerMutant::AcceptOtherGeneration => "accept-other-generation",
            WorkerMutant::InputOutrunsTimers => "input-outruns-timers",
            WorkerMutant::KeyedStateNotRestored => "keyed-state-not-restored",
        }
    }
}
